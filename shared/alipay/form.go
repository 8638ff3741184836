package alipay

// appendFormUnescaped appends the form-decoded bytes of s to dst: '+' is a space, %XX a
// byte, everything else as is. A '%' without two hex digits is malformed, never passed
// through literally. The one decoder for notification bodies and order strings, applied
// exactly once: decoding twice is the classic cause of 验签失败 (§8.2).
func appendFormUnescaped(dst, s []byte) ([]byte, bool) {
	for len(s) > 0 {
		i := 0
		for i < len(s) && s[i] != '%' && s[i] != '+' {
			i++
		}
		dst = append(dst, s[:i]...) // a run of literal bytes in one copy
		if i == len(s) {
			break
		}
		if s[i] == '+' {
			dst = append(dst, ' ')
			s = s[i+1:]
			continue
		}
		if i+2 >= len(s) {
			return dst, false
		}
		hi, ok1 := unhex(s[i+1])
		lo, ok2 := unhex(s[i+2])
		if !ok1 || !ok2 {
			return dst, false
		}
		dst = append(dst, hi<<4|lo)
		s = s[i+3:]
	}
	return dst, true
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
