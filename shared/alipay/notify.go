package alipay

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Defensive limits for notification bodies (§10.3), far above what Alipay sends.
const (
	NotifyMaxBody   = 64 << 10
	NotifyMaxParams = 200
	notifyMaxKey    = 64
)

// Replies to a notification (§8.4): exactly these bytes, text/plain. Anything but
// "success" makes Alipay resend.
const (
	NotifySuccessReply = "success"
	NotifyFailReply    = "fail"
)

// Notification errors. Signature failures wrap ErrBadSignature.
var (
	// ErrNotifyMalformed: over the limits, bad percent-escape, bad key name, duplicate
	// key, unsupported charset, bytes invalid in the charset, or a typed-view field that
	// is missing or malformed.
	ErrNotifyMalformed = errors.New("alipay: malformed notification")
	// ErrNotifyUnsigned: sign or sign_type is missing or blank.
	ErrNotifyUnsigned = errors.New("alipay: notification is unsigned")
	// ErrNotifySignType: sign_type is not RSA2. sign_type is not covered by the
	// signature, so another value is a reason to reject, never to switch algorithms.
	ErrNotifySignType = errors.New("alipay: notification sign_type is not RSA2")
	// ErrNotifyUnverified: a typed view was asked for before a successful Verify.
	ErrNotifyUnverified = errors.New("alipay: notification not verified")
)

// Notification is a parsed asynchronous notification. Params holds every parameter
// decoded exactly once (form decoding, then the body charset); Charset is the canonical
// name of that charset ("utf-8", "gbk" or "gb18030"). Params must not be modified: the
// typed views read it after Verify.
type Notification struct {
	Params  map[string]string
	Charset string

	// raw holds each value percent-decoded but not charset-decoded: the bytes Alipay
	// signed. Nil for a Notification built by hand (its Params are then encoded).
	raw      map[string]string
	cs       csCharset
	verified bool
	// blankSigned: the last successful verification needed the blank values in the
	// content (Node SDK style), see VerifyWith.
	blankSigned bool
}

// notifyPair is one parameter during parsing: key and form-decoded value, both as
// spans of the parse buffer.
type notifyPair struct {
	k0, k1, v0, v1 int
}

// ParseNotification parses a raw application/x-www-form-urlencoded notification body
// (§8.2 steps 1–2): split on '&' and the first '=', '+' as space, percent-decode to
// bytes once, then decode every value in the charset named by the body's own charset
// parameter (default utf-8). Keys must match ^[a-z0-9_]{1,64}$ as sent (no escapes);
// duplicate keys are rejected. Empty segments (a stray "&&") are ignored, and a segment
// without '=' is a key with an empty value, as form parsers treat it.
func ParseNotification(body []byte) (*Notification, error) {
	if len(body) == 0 {
		return nil, fmt.Errorf("%w: empty body", ErrNotifyMalformed)
	}
	if len(body) > NotifyMaxBody {
		return nil, fmt.Errorf("%w: body exceeds %d bytes", ErrNotifyMalformed, NotifyMaxBody)
	}
	// Keys and decoded values all go into one buffer (never longer than the body), and
	// map entries are substrings of it: allocations do not grow with the parameter count.
	var sb strings.Builder
	sb.Grow(len(body))
	pairs := make([]notifyPair, 0, 64)
	charsetAt := -1
	for rest := body; len(rest) > 0; {
		var seg []byte
		if i := bytes.IndexByte(rest, '&'); i >= 0 {
			seg, rest = rest[:i], rest[i+1:]
		} else {
			seg, rest = rest, nil
		}
		if len(seg) == 0 {
			continue
		}
		if len(pairs) == NotifyMaxParams {
			return nil, fmt.Errorf("%w: more than %d parameters", ErrNotifyMalformed, NotifyMaxParams)
		}
		key, val := seg, []byte(nil)
		if i := bytes.IndexByte(seg, '='); i >= 0 {
			key, val = seg[:i], seg[i+1:]
		}
		if !notifyValidKey(key) {
			return nil, fmt.Errorf("%w: parameter %d: key is not [a-z0-9_]{1,%d}", ErrNotifyMalformed, len(pairs)+1, notifyMaxKey)
		}
		p := notifyPair{k0: sb.Len()}
		sb.Write(key)
		p.k1, p.v0 = sb.Len(), sb.Len()
		if !writeFormUnescaped(&sb, val) {
			return nil, fmt.Errorf("%w: %s: malformed percent-escape", ErrNotifyMalformed, key)
		}
		p.v1 = sb.Len()
		if string(key) == "charset" {
			charsetAt = len(pairs)
		}
		pairs = append(pairs, p)
	}
	text := sb.String()

	// The charset value is ASCII in every supported charset, so it can be read before
	// the other values are decoded.
	cs := csUTF8
	if charsetAt >= 0 {
		p := pairs[charsetAt]
		if name := text[p.v0:p.v1]; name != "" {
			if !csASCII(name) {
				return nil, fmt.Errorf("%w: charset: not ASCII", ErrNotifyMalformed)
			}
			c, err := csLookup(name)
			if err != nil {
				return nil, fmt.Errorf("%w: charset: %w", ErrNotifyMalformed, err)
			}
			cs = c
		}
	}

	params := make(map[string]string, len(pairs))
	raw := make(map[string]string, len(pairs))
	for _, p := range pairs {
		key := text[p.k0:p.k1]
		v, err := cs.decodeLenient(text[p.v0:p.v1])
		if err != nil {
			return nil, fmt.Errorf("%w: %s: invalid %s", ErrNotifyMalformed, key, cs)
		}
		before := len(params)
		if params[key] = v; len(params) == before {
			return nil, fmt.Errorf("%w: %s: duplicate key", ErrNotifyMalformed, key)
		}
		raw[key] = text[p.v0:p.v1]
	}
	return &Notification{Params: params, Charset: cs.String(), raw: raw, cs: cs}, nil
}

// notifyValidKey reports whether k matches ^[a-z0-9_]{1,64}$.
func notifyValidKey(k []byte) bool {
	if len(k) == 0 || len(k) > notifyMaxKey {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return true
}

// NotifySignContent builds the notification sign content (§8.2 step 4): every parameter
// except sign and sign_type, blank values dropped, keys sorted bytewise, k=v joined
// with '&', values as decoded. Unlike the request rule (§2), sign_type is left out.
func NotifySignContent(params map[string]string) string {
	return string(notifyContent(params))
}

// notifyContent is NotifySignContent as bytes, ready to hash without another copy.
func notifyContent(params map[string]string) []byte {
	var buf [contentKeyBuf]string
	keys, n := contentKeys(buf[:0], params, false)
	return appendContent(make([]byte, 0, n), params, keys)
}

// SignContent is the content Alipay signed, as text (see NotifySignContent).
func (n *Notification) SignContent() string { return NotifySignContent(n.Params) }

// content is the sign content as the bytes that were signed: parsed notifications join
// their raw values (percent-decoded, never re-encoded from text, so bytes that Go's GBK
// decoder maps differently from Java's, or not at all, hash as sent); hand-built ones
// encode their text in the charset. withBlank keeps blank values (see VerifyWith).
func (n *Notification) content(withBlank bool) ([]byte, error) {
	if n.raw == nil && !withBlank {
		return n.cs.encodeBytes(notifyContent(n.Params))
	}
	var buf [contentKeyBuf]string
	keys, size := buf[:0], 0
	for k, v := range n.Params {
		if k == "sign" || k == "sign_type" || (!withBlank && isBlank(v)) {
			continue
		}
		keys = append(keys, k)
		size += len(k) + len(v) + 2
	}
	slices.Sort(keys)
	vals := n.raw
	if vals == nil {
		vals = n.Params
	}
	b := appendContent(make([]byte, 0, size), vals, keys)
	if n.raw == nil {
		return n.cs.encodeBytes(b)
	}
	return b, nil
}

// hasBlank reports whether a parameter that enters the content has a blank value.
func (n *Notification) hasBlank() bool {
	for k, v := range n.Params {
		if k != "sign" && k != "sign_type" && isBlank(v) {
			return true
		}
	}
	return false
}

// Verify checks the notification's signature with the Alipay key from c: the key named
// by alipay_cert_sn in certificate mode (ErrUnknownCertSN when we do not hold it),
// Alipay's public key in key mode. See VerifyWith for the rules.
func (n *Notification) Verify(c *Credentials) error {
	n.verified = false
	if c == nil {
		return errors.New("alipay: notification: no credentials")
	}
	if err := n.checkSignFields(); err != nil {
		return err
	}
	key, err := c.AlipayKey(n.Params["alipay_cert_sn"])
	if err != nil {
		return err
	}
	return n.VerifyWith(key)
}

// VerifyWith checks the signature with a caller-supplied verifier (§8.2 steps 3–5):
// sign and sign_type are required, sign_type must be RSA2 (any case), and the sign
// content is hashed as the raw bytes of the body's values, in its charset. When that
// fails and the body has blank values, the content with them is tried once. Only after
// it succeeds do the typed views (Trade, FundAuth, Agreement) work.
func (n *Notification) VerifyWith(v Verifier) error {
	n.verified, n.blankSigned = false, false
	if v == nil {
		return errors.New("alipay: notification: no verifier")
	}
	if err := n.checkSignFields(); err != nil {
		return err
	}
	content, err := n.content(false)
	if err != nil {
		return fmt.Errorf("%w: content: %w", ErrNotifyMalformed, err)
	}
	err = v.Verify(content, n.Params["sign"])
	if errors.Is(err, ErrBadSignature) && n.hasBlank() {
		// The Java rule (§8.2) drops blank values; Node's SDK keeps them. Both contents
		// are ones Alipay signed, so trying the other one once accepts no forgery, and
		// costs a second verification only for bodies that have blank values.
		if content, cerr := n.content(true); cerr == nil {
			err = v.Verify(content, n.Params["sign"])
			n.blankSigned = err == nil
		}
	}
	if err != nil {
		if errors.Is(err, ErrBadSignature) {
			return fmt.Errorf("alipay: notification: %w", err)
		}
		return fmt.Errorf("%w: %w", ErrBadSignature, err)
	}
	n.verified = true
	return nil
}

// BlankValuesSigned reports whether the last successful verification covered the blank
// values too (the content the Node SDK signs) rather than the §8.2 content without them.
func (n *Notification) BlankValuesSigned() bool { return n.verified && n.blankSigned }

func (n *Notification) checkSignFields() error {
	if isBlank(n.Params["sign"]) {
		return fmt.Errorf("%w: sign missing", ErrNotifyUnsigned)
	}
	st := n.Params["sign_type"]
	if isBlank(st) {
		return fmt.Errorf("%w: sign_type missing", ErrNotifyUnsigned)
	}
	if !strings.EqualFold(st, SignType) {
		return ErrNotifySignType
	}
	return nil
}

// IsFormContentType reports whether a Content-Type starts with
// application/x-www-form-urlencoded, the type of Alipay's notifications; parameters are
// ignored on purpose (Alipay's header is not always well formed).
func IsFormContentType(ct string) bool {
	return strings.HasPrefix(strings.ToLower(strings.TrimSpace(ct)), "application/x-www-form-urlencoded")
}
