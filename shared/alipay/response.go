package alipay

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Reply verification errors. Messages carry at most the node name and Alipay codes,
// never the reply body.
var (
	// ErrReplyMalformed: not a JSON object, no response node, or fields of the wrong type.
	ErrReplyMalformed = errors.New("alipay: malformed gateway reply")
	// ErrReplyDuplicateNode: the response node occurs more than once (§5 step 4).
	ErrReplyDuplicateNode = errors.New("alipay: gateway reply repeats the response node")
	// ErrReplyUnsigned: a reply that must be signed (a success, or AES content) has no sign.
	ErrReplyUnsigned = errors.New("alipay: gateway reply is not signed")
)

// ErrorResponseNode is the node the gateway answers with when it fails a request before
// dispatching it to the API.
const ErrorResponseNode = "error_response"

// ResponseNodeName is the reply node of method: dots become underscores, plus "_response".
func ResponseNodeName(method string) string {
	return strings.ReplaceAll(method, ".", "_") + "_response"
}

// SignedReply is what ExtractSignedNode finds in a raw reply.
type SignedReply struct {
	NodeName string
	// Source is the exact signed slice of the raw reply: the node's object from `{` to
	// its matching `}`, or for AES content its JSON string including both quotes.
	Source    []byte
	Sign      string
	CertSN    string
	Encrypted bool
}

// ExtractSignedNode locates the signed response node in raw the way the Java SDK does
// (§5): the first `"<method node>"` key, else the first `"error_response"` key; the
// value after it by brace matching that respects strings and escapes (or up to the
// closing quote of an AES string); a body naming the node again after that value is
// rejected. sign and alipay_cert_sn are read from the parsed top-level object.
//
// Two checks go beyond the Java SDK, both only rejecting bodies Alipay never sends: the
// key must be followed by `:` and an object or string, and the parsed top-level value of
// the node must be byte-identical to the extracted slice (which also catches a second
// node whose key is spelt with \u escapes, invisible to a substring search).
func ExtractSignedNode(raw []byte, method string) (SignedReply, error) {
	name := ResponseNodeName(method)
	start, end, err := respLocateNode(raw, name)
	if errors.Is(err, errRespNoNode) {
		name = ErrorResponseNode
		start, end, err = respLocateNode(raw, name)
	}
	if err != nil {
		if errors.Is(err, errRespNoNode) {
			return SignedReply{}, fmt.Errorf("%w: neither %s nor %s found", ErrReplyMalformed, ResponseNodeName(method), ErrorResponseNode)
		}
		return SignedReply{}, err
	}
	if bytes.Contains(raw[end:], []byte(name)) {
		return SignedReply{}, fmt.Errorf("%w: %s occurs again after the signed node", ErrReplyDuplicateNode, name)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil {
		return SignedReply{}, fmt.Errorf("%w: not a JSON object", ErrReplyMalformed)
	}
	src := raw[start:end]
	if !bytes.Equal(top[name], src) {
		return SignedReply{}, fmt.Errorf("%w: %s parses to a value other than the signed one", ErrReplyDuplicateNode, name)
	}
	sr := SignedReply{NodeName: name, Source: src, Encrypted: src[0] == '"'}
	if sr.Sign, err = respTopString(top, "sign"); err != nil {
		return SignedReply{}, err
	}
	if sr.CertSN, err = respTopString(top, "alipay_cert_sn"); err != nil {
		return SignedReply{}, err
	}
	return sr, nil
}

var errRespNoNode = errors.New("response node not found")

// respLocateNode returns the bounds of the value of the first `"name"` key in raw.
func respLocateNode(raw []byte, name string) (start, end int, err error) {
	key := make([]byte, 0, len(name)+2)
	key = append(append(append(key, '"'), name...), '"')
	at := bytes.Index(raw, key)
	if at < 0 {
		return 0, 0, errRespNoNode
	}
	i := respSkipSpace(raw, at+len(key))
	if i >= len(raw) || raw[i] != ':' {
		return 0, 0, fmt.Errorf("%w: %s is not followed by a value", ErrReplyMalformed, name)
	}
	i = respSkipSpace(raw, i+1)
	if i >= len(raw) || (raw[i] != '{' && raw[i] != '"') {
		return 0, 0, fmt.Errorf("%w: %s is neither an object nor an encrypted string", ErrReplyMalformed, name)
	}
	start = i
	if raw[i] == '"' {
		end = respStringEnd(raw, i)
	} else {
		end = respObjectEnd(raw, i)
	}
	if end < 0 {
		return 0, 0, fmt.Errorf("%w: %s is not terminated", ErrReplyMalformed, name)
	}
	return start, end, nil
}

func respSkipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// respStringEnd returns the index just after the string opening at b[i] == '"', or -1.
// A backslash escapes the next byte, so a quote after an odd run of backslashes does
// not close the string.
func respStringEnd(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return -1
}

// respObjectEnd returns the index just after the `}` matching b[i] == '{', or -1.
// Braces inside strings do not count.
func respObjectEnd(b []byte, i int) int {
	depth := 0
	for j := i; j < len(b); j++ {
		switch b[j] {
		case '"':
			e := respStringEnd(b, j)
			if e < 0 {
				return -1
			}
			j = e - 1
		case '{':
			depth++
		case '}':
			depth--
			if depth == 0 {
				return j + 1
			}
		}
	}
	return -1
}

// respTopString reads an optional string member of an object; absent and null are "".
func respTopString(obj map[string]json.RawMessage, key string) (string, error) {
	v, ok := obj[key]
	if !ok || string(v) == "null" {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return "", fmt.Errorf("%w: %s is not a string", ErrReplyMalformed, key)
	}
	return s, nil
}

// Reply is a verified gateway reply.
type Reply struct {
	Code, Msg, SubCode, SubMsg string
	// Node is the response node as a JSON object: the signed bytes as received, or the
	// decrypted plaintext of an AES reply.
	Node json.RawMessage
}

// UnsignedFailureError is a failure reply that carries no sign (§5): accepted as "this
// call failed" and nothing more. Its fields are unauthenticated; use them for logs.
type UnsignedFailureError struct {
	Code, Msg, SubCode, SubMsg string
}

func (e *UnsignedFailureError) Error() string {
	return fmt.Sprintf("alipay: unsigned failure reply (code %s, sub_code %s)", e.Code, e.SubCode)
}

// VerifyReply extracts, verifies and parses a gateway reply for method (§5, §7.4, §11).
//
//   - The key is c.AlipayKey(alipay_cert_sn); in certificate mode a successful reply
//     without alipay_cert_sn is an error and an unknown SN wraps ErrUnknownCertSN.
//   - A failed check is retried once with `\/` replaced by `/` when the node contains
//     `\/` (Java SDK behaviour). Failures wrap ErrBadSignature.
//   - A reply without sub_code (a success in the Java sense) and any AES reply must be
//     signed, else ErrReplyUnsigned. An unsigned reply with a sub_code returns
//     *UnsignedFailureError and no Reply: it is never data.
//   - AES content is decrypted with c.EncryptKey only after verification.
func VerifyReply(raw []byte, method string, c *Credentials) (*Reply, error) {
	r, _, err := respVerify(raw, method, c)
	return r, err
}

// respHeader is the part of every node that says how the call went.
type respHeader struct {
	Code, Msg, SubCode, SubMsg string
}

func respParseNode(node []byte) (respHeader, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(node, &obj); err != nil || obj == nil {
		return respHeader{}, fmt.Errorf("%w: response node is not a JSON object", ErrReplyMalformed)
	}
	var h respHeader
	var err error
	for _, f := range []struct {
		key string
		dst *string
	}{{"code", &h.Code}, {"msg", &h.Msg}, {"sub_code", &h.SubCode}, {"sub_msg", &h.SubMsg}} {
		if *f.dst, err = respTopString(obj, f.key); err != nil {
			return respHeader{}, err
		}
	}
	return h, nil
}

func respVerify(raw []byte, method string, c *Credentials) (*Reply, SignedReply, error) {
	if c == nil {
		return nil, SignedReply{}, errors.New("alipay: reply: no credentials")
	}
	sr, err := ExtractSignedNode(raw, method)
	if err != nil {
		return nil, sr, err
	}
	// Before verification the header only decides whether a sign is required; nothing
	// in it is acted upon. AES content cannot be read yet, so it is treated as a
	// success: it must be signed.
	success := true
	var h respHeader
	if !sr.Encrypted {
		if h, err = respParseNode(sr.Source); err != nil {
			return nil, sr, err
		}
		success = h.SubCode == ""
	}
	if sr.Sign == "" {
		if success {
			return nil, sr, fmt.Errorf("%w: %s (code %s)", ErrReplyUnsigned, sr.NodeName, h.Code)
		}
		return nil, sr, &UnsignedFailureError{Code: h.Code, Msg: h.Msg, SubCode: h.SubCode, SubMsg: h.SubMsg}
	}
	if c.CertMode() && sr.CertSN == "" && success {
		return nil, sr, fmt.Errorf("%w: successful reply carries no alipay_cert_sn", ErrUnknownCertSN)
	}
	key, err := c.AlipayKey(sr.CertSN)
	if err != nil {
		return nil, sr, err
	}
	if err := respCheckSign(key, sr.Source, sr.Sign); err != nil {
		return nil, sr, fmt.Errorf("alipay: reply %s: %w", sr.NodeName, err)
	}
	node := bytes.Clone(sr.Source)
	if sr.Encrypted {
		if len(c.EncryptKey) == 0 {
			return nil, sr, errors.New("alipay: reply: AES-encrypted reply but credentials have no encrypt_key")
		}
		var b64 string
		if err := json.Unmarshal(sr.Source, &b64); err != nil {
			return nil, sr, fmt.Errorf("%w: encrypted node is not a JSON string", ErrReplyMalformed)
		}
		plain, err := DecryptContent(c.EncryptKey, b64)
		if err != nil {
			return nil, sr, fmt.Errorf("alipay: reply %s: %w", sr.NodeName, err)
		}
		node = []byte(plain)
		if h, err = respParseNode(node); err != nil {
			return nil, sr, err
		}
	}
	return &Reply{Code: h.Code, Msg: h.Msg, SubCode: h.SubCode, SubMsg: h.SubMsg, Node: node}, sr, nil
}

var respEscapedSlash = []byte(`\/`)

// respCheckSign verifies src, then once more with `\/` unescaped if src has any: some
// gateway paths sign the text before escaping slashes (Java SDK retry, §5 step 6).
func respCheckSign(key *PublicKey, src []byte, sign string) error {
	err := key.Verify(src, sign)
	if err == nil || !bytes.Contains(src, respEscapedSlash) {
		return err
	}
	return key.Verify(bytes.ReplaceAll(src, respEscapedSlash, []byte("/")), sign)
}
