package alipay

import (
	"slices"
	"time"
	"unicode"
)

// Signer produces the `sign` of a sign content. *PrivateKey implements it.
type Signer interface {
	Sign(content []byte) (string, error)
}

// Verifier checks a `sign` over content. *PublicKey implements it.
type Verifier interface {
	Verify(content []byte, sign string) error
}

var (
	_ Signer   = (*PrivateKey)(nil)
	_ Verifier = (*PublicKey)(nil)
)

// isBlank reports whether a value is empty or whitespace-only: such parameters are
// neither sent nor signed (Java SDK rule, protocol §2). "Whitespace" is Java's
// Character.isWhitespace, which the Java SDK's StringUtils.isEmpty uses: unlike Go's
// unicode.IsSpace it excludes the no-break spaces and U+0085 and includes U+001C–U+001F,
// so a value of only U+00A0 is signed like the Java SDK signs it.
func isBlank(v string) bool {
	if v != "" && v[0] > ' ' && v[0] < 0x7f {
		return false // fast path: starts with a printable ASCII character
	}
	for _, r := range v {
		if !javaIsWhitespace(r) {
			return false
		}
	}
	return true
}

func javaIsWhitespace(r rune) bool {
	switch r {
	case '\t', '\n', '\v', '\f', '\r', 0x1C, 0x1D, 0x1E, 0x1F:
		return true
	case 0x00A0, 0x2007, 0x202F:
		return false
	}
	return unicode.In(r, unicode.Zs, unicode.Zl, unicode.Zp)
}

// SignContent builds the request sign content (§2): every parameter except `sign`,
// blank values dropped, keys sorted bytewise, `k=v` joined with `&`, values raw.
// `sign_type` is included; notification content excludes it (see NotifySignContent).
func SignContent(params map[string]string) string {
	var buf [contentKeyBuf]string
	keys, n := contentKeys(buf[:0], params, true)
	return string(appendContent(make([]byte, 0, n), params, keys))
}

// contentKeyBuf sizes the stack buffer for keys: requests and notifications have fewer.
const contentKeyBuf = 64

// contentKeys appends to keys the parameters that enter a sign content — all but `sign`
// (and `sign_type` unless withSignType: notifications leave it out) and blank values —
// sorted bytewise, and returns the content's length. The one place that decides what is
// signed, for requests, order strings and notifications alike.
func contentKeys(keys []string, params map[string]string, withSignType bool) ([]string, int) {
	n := 0
	for k, v := range params {
		if k == "sign" || (!withSignType && k == "sign_type") || isBlank(v) {
			continue
		}
		keys = append(keys, k)
		n += len(k) + len(v) + 2
	}
	slices.Sort(keys)
	return keys, n
}

// appendContent appends `k=v` for keys, joined with `&`, values raw.
func appendContent(b []byte, params map[string]string, keys []string) []byte {
	for i, k := range keys {
		if i > 0 {
			b = append(b, '&')
		}
		b = append(b, k...)
		b = append(b, '=')
		b = append(b, params[k]...)
	}
	return b
}

// ChinaTime is UTC+8 without daylight saving: Alipay's wall clock. A fixed zone so that
// Lambda images without zoneinfo format timestamps correctly.
var ChinaTime = time.FixedZone("CST", 8*3600)

// TimestampLayout is Alipay's `yyyy-MM-dd HH:mm:ss`.
const TimestampLayout = "2006-01-02 15:04:05"

// FormatTimestamp formats t as an Alipay timestamp in China time.
func FormatTimestamp(t time.Time) string { return t.In(ChinaTime).Format(TimestampLayout) }

// ParseTimestamp parses an Alipay date-time (China time); milliseconds are accepted.
func ParseTimestamp(s string) (time.Time, error) {
	if len(s) > 19 && s[19] == '.' {
		return time.ParseInLocation(TimestampLayout+".000", s, ChinaTime)
	}
	return time.ParseInLocation(TimestampLayout, s, ChinaTime)
}

// Request parameter names and fixed values used by every request.
const (
	Charset  = "utf-8"
	SignType = "RSA2"
	Version  = "1.0"
)

// CommonParams returns the common parameters of a request for method at now (formatted
// in China time), including the certificate-mode SNs when c is in certificate mode.
// biz_content, notify_url and app_auth_token are added by the caller.
func CommonParams(c *Credentials, method string, now time.Time) map[string]string {
	p := make(map[string]string, 12)
	p["app_id"] = c.AppID
	p["method"] = method
	p["charset"] = Charset
	p["sign_type"] = SignType
	p["timestamp"] = FormatTimestamp(now)
	p["version"] = Version
	if c.CertMode() {
		p["app_cert_sn"] = c.AppCertSN
		p["alipay_root_cert_sn"] = c.AlipayRootCertSN
	}
	return p
}

// SignParams removes blank parameters (they are neither sent nor signed), signs the rest
// (§2) and stores the result under "sign".
func SignParams(s Signer, params map[string]string) error {
	for k, v := range params {
		if isBlank(v) {
			delete(params, k)
		}
	}
	delete(params, "sign")
	sig, err := s.Sign([]byte(SignContent(params)))
	if err != nil {
		return err
	}
	params["sign"] = sig
	return nil
}
