package alipay

import "strings"

// writeFormUnescaped writes the form-decoded bytes of s to dst: '+' is a space, %XX a
// byte, everything else as is. A '%' without two hex digits is malformed, never passed
// through literally. The one decoder for notification bodies and order strings, applied
// exactly once: decoding twice is the classic cause of 验签失败 (§8.2). dst is a
// *strings.Builder, so the decoded text becomes a string without another copy.
func writeFormUnescaped(dst *strings.Builder, s []byte) bool {
	for len(s) > 0 {
		i := 0
		for i < len(s) && s[i] != '%' && s[i] != '+' {
			i++
		}
		dst.Write(s[:i]) // a run of literal bytes in one copy
		if i == len(s) {
			break
		}
		if s[i] == '+' {
			dst.WriteByte(' ')
			s = s[i+1:]
			continue
		}
		if i+2 >= len(s) {
			return false
		}
		hi, ok1 := unhex(s[i+1])
		lo, ok2 := unhex(s[i+2])
		if !ok1 || !ok2 {
			return false
		}
		dst.WriteByte(hi<<4 | lo)
		s = s[i+3:]
	}
	return true
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
