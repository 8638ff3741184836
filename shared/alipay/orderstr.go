package alipay

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Bounds of an order string. Alipay caps the orderStr response field at 16384 characters
// (§4); the parser allows more so a simulator can report an oversized string as such
// rather than as garbage, but stays bounded for untrusted input.
const (
	MaxOrderStringLen     = 16384
	orderStrMaxParseLen   = 4 * MaxOrderStringLen
	orderStrMaxParams     = 64
	orderStrMaxKeyLen     = 64
	orderStrKeyBufEntries = 16
)

// ErrBadOrderString is wrapped by every order-string building and parsing error.
var ErrBadOrderString = errors.New("alipay: bad order string")

// OrderStringOptions are the optional parameters of an app-pay order string.
type OrderStringOptions struct {
	// NotifyURL is the per-order notification target; blank means none is sent.
	NotifyURL string
	// AppAuthToken is set by ISVs acting for a merchant; blank means none is sent.
	AppAuthToken string
	// Now is the request time; zero means time.Now(). It is sent in China time.
	Now time.Time
}

// OrderString builds the signed alipay.trade.app.pay order string the mobile app hands to
// the Alipay client SDK (§4, what SDKs call sdkExecute): the common parameters (with the
// certificate SNs in certificate mode), notify_url and app_auth_token when not blank, and
// bizContent, signed by the request rule (§2) and form-encoded with keys sorted, like
// url.Values.Encode (so the `+` of the sign travels as %2B).
func OrderString(c *Credentials, bizContent string, opts OrderStringOptions) (string, error) {
	switch {
	case c == nil || c.PrivateKey == nil:
		return "", fmt.Errorf("%w: credentials have no private_key", ErrBadOrderString)
	case c.AppID == "":
		return "", fmt.Errorf("%w: credentials have no app_id", ErrBadOrderString)
	case isBlank(bizContent):
		return "", fmt.Errorf("%w: biz_content is empty", ErrBadOrderString)
	case !orderStrIsJSONObject(bizContent):
		return "", fmt.Errorf("%w: biz_content is not one JSON object", ErrBadOrderString)
	case !utf8.ValidString(opts.NotifyURL):
		return "", fmt.Errorf("%w: notify_url is not valid UTF-8", ErrBadOrderString)
	case !utf8.ValidString(opts.AppAuthToken):
		return "", fmt.Errorf("%w: app_auth_token is not valid UTF-8", ErrBadOrderString)
	}
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	params := CommonParams(c, MethodTradeAppPay, now)
	if !isBlank(opts.NotifyURL) {
		params["notify_url"] = opts.NotifyURL
	}
	if !isBlank(opts.AppAuthToken) {
		params["app_auth_token"] = opts.AppAuthToken
	}
	params["biz_content"] = bizContent
	s, err := orderStrSignEncode(c.PrivateKey, params)
	if err != nil {
		return "", err
	}
	if len(s) > MaxOrderStringLen {
		return "", fmt.Errorf("%w: %d characters, Alipay accepts at most %d (shorten biz_content)", ErrBadOrderString, len(s), MaxOrderStringLen)
	}
	return s, nil
}

// orderStrIsJSONObject reports whether s is a single JSON object: biz_content is parsed by
// Alipay as one, and a typo here would otherwise only surface on the customer's phone.
func orderStrIsJSONObject(s string) bool {
	t := strings.TrimLeft(s, " \t\r\n")
	return t != "" && t[0] == '{' && json.Valid([]byte(s))
}

// orderStrSignEncode signs params by the request rule (§2: blank values dropped, `sign`
// excluded, keys sorted bytewise, raw `k=v` joined by `&`) and writes the sorted,
// form-encoded parameters plus `sign`. It produces the same sign content as SignContent
// and the same encoding as url.Values.Encode, but sorts the keys once and sizes the
// content and the output exactly: this runs on every order and must cost little more
// than the RSA operation itself (see BenchmarkOrderString).
func orderStrSignEncode(s Signer, params map[string]string) (string, error) {
	var buf [contentKeyBuf]string
	keys, n := contentKeys(buf[:0], params, true)
	content := appendContent(make([]byte, 0, n), params, keys)
	sign, err := s.Sign(content)
	if err != nil {
		return "", err
	}

	// `sign` goes where it sorts among the other keys. The output is appended to a local
	// slice sized exactly up front (a strings.Builder behind a pointer costs a GC write
	// barrier per write).
	at, _ := slices.BinarySearch(keys, "sign")
	size := len("sign=") + orderStrEscapedLen(sign) + len(keys)
	for _, k := range keys {
		size += orderStrEscapedLen(k) + 1 + orderStrEscapedLen(params[k])
	}
	out := make([]byte, 0, size)
	for i := 0; i <= len(keys); i++ {
		if i == at {
			if i > 0 {
				out = append(out, '&')
			}
			out = append(out, "sign="...)
			out = orderStrAppendEscaped(out, sign)
		}
		if i == len(keys) {
			break
		}
		if i > 0 || at == 0 {
			out = append(out, '&')
		}
		out = orderStrAppendEscaped(out, keys[i])
		out = append(out, '=')
		out = orderStrAppendEscaped(out, params[keys[i]])
	}
	return string(out), nil
}

// orderStrUnreserved reports the bytes form encoding leaves as they are (url.QueryEscape:
// letters, digits, `-`, `_`, `.`, `~`); space becomes `+`, everything else %XX.
func orderStrUnreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '_' || c == '.' || c == '~'
}

func orderStrEscapedLen(s string) int {
	n := len(s)
	for i := 0; i < len(s); i++ {
		if c := s[i]; c != ' ' && !orderStrUnreserved(c) {
			n += 2
		}
	}
	return n
}

func orderStrAppendEscaped(out []byte, s string) []byte {
	const hex = "0123456789ABCDEF"
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if orderStrUnreserved(c) {
			continue
		}
		out = append(out, s[start:i]...)
		if c == ' ' {
			out = append(out, '+')
		} else {
			out = append(out, '%', hex[c>>4], hex[c&15])
		}
		start = i + 1
	}
	return append(out, s[start:]...)
}

// ParseOrderString decodes an order string in either shape Alipay accepts (§4): the Node
// SDK's (fixed key order, encodeURIComponent, space as %20) or sorted form encoding (space
// as `+`). Each key and value is decoded exactly once: `+` is a space and %XX a byte; the
// result must be UTF-8. Empty segments, keys outside [a-z0-9_], malformed escapes and
// duplicate keys are errors, since Alipay would not see the parameters we signed.
func ParseOrderString(s string) (map[string]string, error) {
	if s == "" {
		return nil, fmt.Errorf("%w: empty", ErrBadOrderString)
	}
	if len(s) > orderStrMaxParseLen {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrBadOrderString, len(s), orderStrMaxParseLen)
	}
	params := make(map[string]string, orderStrKeyBufEntries)
	for i := 0; s != ""; i++ {
		if i == orderStrMaxParams {
			return nil, fmt.Errorf("%w: more than %d parameters", ErrBadOrderString, orderStrMaxParams)
		}
		var pair string
		var more bool
		pair, s, more = strings.Cut(s, "&")
		if pair == "" || (more && s == "") {
			return nil, fmt.Errorf("%w: empty parameter after parameter %d", ErrBadOrderString, i)
		}
		rawKey, rawValue, ok := strings.Cut(pair, "=")
		if !ok {
			return nil, fmt.Errorf("%w: parameter %d has no '='", ErrBadOrderString, i+1)
		}
		key, err := orderStrUnescape(rawKey)
		if err != nil || !orderStrValidKey(key) {
			return nil, fmt.Errorf("%w: parameter %d has a malformed key", ErrBadOrderString, i+1)
		}
		value, err := orderStrUnescape(rawValue)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrBadOrderString, key, err)
		}
		if _, dup := params[key]; dup {
			return nil, fmt.Errorf("%w: duplicate parameter %s", ErrBadOrderString, key)
		}
		params[key] = value
	}
	return params, nil
}

func orderStrValidKey(k string) bool {
	if k == "" || len(k) > orderStrMaxKeyLen {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// orderStrUnescape form-decodes s once. It does not use url.QueryUnescape so that the
// error never echoes input.
func orderStrUnescape(s string) (string, error) {
	if !strings.ContainsAny(s, "+%") {
		if !utf8.ValidString(s) {
			return "", errors.New("not valid UTF-8")
		}
		return s, nil
	}
	var sb strings.Builder
	sb.Grow(len(s))
	if !writeFormUnescaped(&sb, []byte(s)) {
		return "", errors.New("malformed %-escape")
	}
	if !utf8.ValidString(sb.String()) {
		return "", errors.New("not valid UTF-8")
	}
	return sb.String(), nil
}

// VerifyOrderString checks an order string the way Alipay's servers do: decode it, take
// every parameter but `sign` (sign_type included, blanks dropped) as the request sign
// content (§2) and verify `sign` with the app public key. Only RSA2 over UTF-8 is
// accepted. It returns all decoded parameters, `sign` included.
func VerifyOrderString(s string, appPublic Verifier) (map[string]string, error) {
	if appPublic == nil {
		return nil, errors.New("alipay: order string: no app public key to verify with")
	}
	params, err := ParseOrderString(s)
	if err != nil {
		return nil, err
	}
	sign := params["sign"]
	switch {
	case sign == "":
		return nil, fmt.Errorf("%w: order string has no sign", ErrBadSignature)
	case params["sign_type"] != SignType:
		return nil, fmt.Errorf("%w: order string sign_type must be %s", ErrBadSignature, SignType)
	case params["charset"] != "" && !strings.EqualFold(params["charset"], Charset):
		return nil, fmt.Errorf("%w: order string charset must be %s", ErrBadSignature, Charset)
	}
	if err := appPublic.Verify([]byte(SignContent(params)), sign); err != nil {
		return nil, fmt.Errorf("alipay: order string: %w", err)
	}
	return params, nil
}
