package sandbox

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"time"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
)

// node is a response node: string fields in insertion order, as Alipay writes them.
type node struct {
	keys, vals []string
}

// add appends a field; empty values are left out, as Alipay omits absent fields.
func (n *node) add(k, v string) *node {
	if v != "" {
		n.keys = append(n.keys, k)
		n.vals = append(n.vals, v)
	}
	return n
}

func newNode(code, msg string) *node {
	return (&node{}).add("code", code).add("msg", msg)
}

func successNode() *node { return newNode("10000", "Success") }

func failNode(code, msg, subCode, subMsg string) *node {
	return newNode(code, msg).add("sub_code", subCode).add("sub_msg", subMsg)
}

// Gateway codes and their messages (§9.1).
const (
	code20000 = "20000"
	code20001 = "20001"
	code40001 = "40001"
	code40002 = "40002"
	code40004 = "40004"
	msg20000  = "Service Currently Unavailable"
	msg20001  = "Insufficient Token Permissions"
	msg40001  = "Missing Required Arguments"
	msg40002  = "Invalid Arguments"
	msg40004  = "Business Failed"
)

// bytes writes the node's JSON with every `/` escaped as `\/`, as Alipay's Java side
// writes it; the signature covers exactly these bytes. All values are strings, so the
// only slashes in the output are inside strings.
func (n *node) bytes() []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	b.WriteByte('{')
	for i, k := range n.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		_ = enc.Encode(k) // strings always encode
		b.Truncate(b.Len() - 1)
		b.WriteByte(':')
		_ = enc.Encode(n.vals[i])
		b.Truncate(b.Len() - 1)
	}
	b.WriteByte('}')
	return bytes.ReplaceAll(b.Bytes(), []byte("/"), []byte(`\/`))
}

// get returns the value of a field ("" when absent).
func (n *node) get(k string) string {
	for i, key := range n.keys {
		if key == k {
			return n.vals[i]
		}
	}
	return ""
}

// force is a transport-level outcome forced by a magic string.
type force int

const (
	forceNone    force = iota
	forceBadSign       // reply with a corrupted signature
	forceHTTP500       // reply 500 instead of the node
	forceTimeout       // hold the reply until the client gives up
)

// reply is what the gateway answers: a node under a name, possibly sabotaged.
type reply struct {
	name  string
	node  *node
	force force
}

// signedBody returns `{"<name>":<node>,"sign":"<sign>"}`, the signature over the
// node's bytes with the Alipay key.
func (s *Simulator) signedBody(name string, n *node, corrupt bool) ([]byte, error) {
	src := n.bytes()
	sign, err := s.alipayKey.Sign(src)
	if err != nil {
		return nil, err
	}
	if corrupt {
		sign = corruptSign(sign)
	}
	var b bytes.Buffer
	b.Grow(len(src) + len(name) + len(sign) + 20)
	b.WriteString(`{"`)
	b.WriteString(name)
	b.WriteString(`":`)
	b.Write(src)
	b.WriteString(`,"sign":"`)
	b.WriteString(sign)
	b.WriteString(`"}`)
	return b.Bytes(), nil
}

// corruptSign flips one bit of the signature: still well-formed base64 of the right
// length, so only the RSA check can reject it.
func corruptSign(sign string) string {
	raw, err := base64.StdEncoding.DecodeString(sign)
	if err != nil || len(raw) == 0 {
		return sign + "A"
	}
	raw[len(raw)/2] ^= 0x01
	return base64.StdEncoding.EncodeToString(raw)
}

// writeReply sends a gateway reply, applying a forced outcome.
func (s *Simulator) writeReply(w http.ResponseWriter, r *http.Request, rep reply) {
	switch rep.force {
	case forceHTTP500:
		http.Error(w, "Internal Server Error", http.StatusInternalServerError)
		return
	case forceTimeout:
		if !s.hold(r.Context()) {
			return // the client gave up (or the simulator closed): nothing to answer
		}
	}
	body, err := s.signedBody(rep.name, rep.node, rep.force == forceBadSign)
	if err != nil {
		s.log.Error("sandbox: sign reply", "node", rep.name, "err", err)
		http.Error(w, "Internal Server Error", http.StatusInternalServerError)
		return
	}
	// Alipay's gateway labels its JSON replies text/html; clients must not rely on it.
	w.Header().Set("Content-Type", "text/html;charset=utf-8")
	_, _ = w.Write(body)
}

// hold waits for the client to give up, the simulator to close or MaxHold to pass.
// It reports whether the request is still there to be answered.
func (s *Simulator) hold(ctx context.Context) bool {
	t := time.NewTimer(s.maxHold)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-s.ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// methodNode is the reply node name of a method.
func methodNode(method string) string { return alipay.ResponseNodeName(method) }
