package alipay

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/simplifiedchinese"
)

// ErrCharset is wrapped by every charset error: an unsupported charset name, or bytes
// (or text) that are not valid in the named charset.
var ErrCharset = errors.New("alipay: charset")

// csCharset is a supported body charset. The zero value is UTF-8, so a Notification
// built by hand hashes as UTF-8.
type csCharset uint8

const (
	csUTF8 csCharset = iota
	csGBK
	csGB18030
)

// String is the canonical lower-case name.
func (c csCharset) String() string {
	switch c {
	case csGBK:
		return "gbk"
	case csGB18030:
		return "gb18030"
	default:
		return "utf-8"
	}
}

func (c csCharset) encoding() encoding.Encoding {
	switch c {
	case csGBK:
		return simplifiedchinese.GBK
	case csGB18030:
		return simplifiedchinese.GB18030
	default:
		return nil
	}
}

// csLookup maps a charset name, case-insensitively, to a supported charset. GB2312 text
// is a subset of GBK, so it is decoded (and re-encoded) as GBK.
func csLookup(name string) (csCharset, error) {
	switch strings.ToLower(name) {
	case "utf-8", "utf8":
		return csUTF8, nil
	case "gbk", "gb2312", "cp936":
		return csGBK, nil
	case "gb18030":
		return csGB18030, nil
	}
	return 0, fmt.Errorf("%w: unsupported (want utf-8, gbk, gb2312 or gb18030)", ErrCharset)
}

// CanonicalCharset returns the canonical lower-case name of a supported charset
// ("utf-8", "gbk" or "gb18030"); GB2312 is reported as "gbk".
func CanonicalCharset(name string) (string, error) {
	c, err := csLookup(name)
	if err != nil {
		return "", err
	}
	return c.String(), nil
}

// DecodeCharset decodes b from the named charset into a Go (UTF-8) string. Invalid
// bytes are an error rather than U+FFFD: a replaced character could never hash back to
// the bytes that were signed.
func DecodeCharset(name string, b []byte) (string, error) {
	c, err := csLookup(name)
	if err != nil {
		return "", err
	}
	return c.decode(string(b))
}

// EncodeCharset encodes s into the named charset's bytes, as the signer did before
// hashing. Text the charset cannot represent is an error.
func EncodeCharset(name string, s string) ([]byte, error) {
	c, err := csLookup(name)
	if err != nil {
		return nil, err
	}
	return c.encode(s)
}

// csASCII reports whether b is 7-bit ASCII, identical in every supported charset.
func csASCII[T string | []byte](b T) bool {
	for i := 0; i < len(b); i++ {
		if b[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// decode validates b (bytes in the charset, held in a string) and returns it as UTF-8
// text. For the GB charsets the x/text decoders substitute U+FFFD instead of failing,
// so validity is checked by round trip: the bytes must re-encode to exactly themselves,
// which is also what verification needs.
func (c csCharset) decode(b string) (string, error) {
	if c == csUTF8 {
		if !utf8.ValidString(b) {
			return "", fmt.Errorf("%w: invalid utf-8", ErrCharset)
		}
		return b, nil
	}
	if csASCII(b) {
		return b, nil
	}
	enc := c.encoding()
	text, err := enc.NewDecoder().String(b)
	if err != nil {
		return "", fmt.Errorf("%w: invalid %s", ErrCharset, c)
	}
	back, err := enc.NewEncoder().String(text)
	if err != nil || back != b {
		return "", fmt.Errorf("%w: invalid %s", ErrCharset, c)
	}
	return text, nil
}

// decodeLenient is decode for notification values, whose signature covers their raw
// bytes: a GB value that is well formed in its charset but that Go's tables do not map
// back to the same bytes (Java's GBK user-defined area, which Java maps to private-use
// characters; GB18030's second form of '€') decodes with U+FFFD in its place instead of
// failing. Bytes that are not well formed are still an error, as is invalid UTF-8.
func (c csCharset) decodeLenient(b string) (string, error) {
	text, err := c.decode(b)
	if err == nil || c == csUTF8 || !c.wellFormed(b) {
		return text, err
	}
	return c.encoding().NewDecoder().String(b)
}

// wellFormed reports whether b is a sequence of well-formed GBK (one byte 0x00–0x80, or
// a lead 0x81–0xFE with a trail 0x40–0x7E or 0x80–0xFE) or GB18030 (as GBK without the
// single 0x80, plus four-byte 0x81–0xFE 0x30–0x39 0x81–0xFE 0x30–0x39) characters.
func (c csCharset) wellFormed(b string) bool {
	for i := 0; i < len(b); {
		x := b[i]
		switch {
		case x < 0x80 || (x == 0x80 && c == csGBK):
			i++
		case x == 0x80 || x == 0xFF || i+1 >= len(b):
			return false
		case c == csGB18030 && b[i+1] >= 0x30 && b[i+1] <= 0x39:
			if i+3 >= len(b) || b[i+2] < 0x81 || b[i+2] == 0xFF || b[i+3] < 0x30 || b[i+3] > 0x39 {
				return false
			}
			i += 4
		default:
			if t := b[i+1]; t < 0x40 || t == 0x7F || t == 0xFF {
				return false
			}
			i += 2
		}
	}
	return true
}

// encode returns s in the charset's bytes.
func (c csCharset) encode(s string) ([]byte, error) { return c.encodeBytes([]byte(s)) }

// encodeBytes converts UTF-8 text to the charset's bytes; for UTF-8 and ASCII text it
// returns b itself. b must be valid UTF-8: the x/text encoders would silently encode a
// broken sequence as U+FFFD.
func (c csCharset) encodeBytes(b []byte) ([]byte, error) {
	if csASCII(b) {
		return b, nil
	}
	if !utf8.Valid(b) {
		return nil, fmt.Errorf("%w: text is not valid utf-8", ErrCharset)
	}
	if c == csUTF8 {
		return b, nil
	}
	out, err := c.encoding().NewEncoder().Bytes(b)
	if err != nil {
		return nil, fmt.Errorf("%w: text not representable in %s", ErrCharset, c)
	}
	return out, nil
}
