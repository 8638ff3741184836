package alipay

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"testing"
)

// BenchmarkNotifyBareVerify is the floor: one RSA-SHA256 verification of the
// trade_success content hash, with nothing else.
func BenchmarkNotifyBareVerify(b *testing.B) {
	c := notifyVectorByName(b, "trade_success")
	pub := notifyKeyModeCredentials(b).AlipayPublicKey.RSA()
	var params map[string]string
	n, err := ParseNotification([]byte(c.Body))
	if err != nil {
		b.Fatal(err)
	}
	params = n.Params
	sig, err := base64.StdEncoding.DecodeString(params["sign"])
	if err != nil {
		b.Fatal(err)
	}
	sum := sha256.Sum256([]byte(*c.SignContent))
	b.ReportAllocs()
	for b.Loop() {
		if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNotifyParseVerify is the whole path a handler takes on the trade_success
// body: parse, verify, typed view.
func BenchmarkNotifyParseVerify(b *testing.B) {
	body := []byte(notifyVectorByName(b, "trade_success").Body)
	creds := notifyKeyModeCredentials(b)
	b.ReportAllocs()
	for b.Loop() {
		n, err := ParseNotification(body)
		if err != nil {
			b.Fatal(err)
		}
		if err := n.Verify(creds); err != nil {
			b.Fatal(err)
		}
		if _, err := n.Trade(); err != nil {
			b.Fatal(err)
		}
	}
}
