package alipay

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"testing"
)

// benchOrderStrFixture is a typical pay-and-sign order: biz_content with
// agreement_sign_params, a notify_url, key-mode credentials.
type benchOrderStrFixture struct {
	creds   *Credentials
	biz     string
	opts    OrderStringOptions
	content []byte // the sign content OrderString signs for these inputs
}

func benchLoadFixture(b *testing.B) benchOrderStrFixture {
	b.Helper()
	var file orderStrVectorFile
	loadVectors(b, "vectors/app_pay_orderstr.json", &file)
	for _, c := range file.Cases {
		if c.Name != "pay_and_sign_cycle_pay" {
			continue
		}
		now, err := ParseTimestamp(c.Params["timestamp"])
		if err != nil {
			b.Fatal(err)
		}
		return benchOrderStrFixture{
			creds:   testCredentials(b),
			biz:     c.BizContent,
			opts:    OrderStringOptions{NotifyURL: c.Params["notify_url"], Now: now},
			content: []byte(c.WantContent),
		}
	}
	b.Fatal("app_pay_orderstr.json#pay_and_sign_cycle_pay not found")
	return benchOrderStrFixture{}
}

// BenchmarkBareSign is the floor: SHA-256 and rsa.SignPKCS1v15 over the same sign
// content with the same precomputed key, nothing else.
func BenchmarkBareSign(b *testing.B) {
	f := benchLoadFixture(b)
	key := f.creds.PrivateKey.RSA()
	b.ReportAllocs()
	for b.Loop() {
		sum := sha256.Sum256(f.content)
		if _, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, sum[:]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOrderString builds, signs and encodes the whole order string.
func BenchmarkOrderString(b *testing.B) {
	f := benchLoadFixture(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := OrderString(f.creds, f.biz, f.opts); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBareVerify is what checking one Alipay signature costs.
func BenchmarkBareVerify(b *testing.B) {
	f := benchLoadFixture(b)
	key := f.creds.PrivateKey.RSA()
	sum := sha256.Sum256(f.content)
	sig, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, sum[:])
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		sum := sha256.Sum256(f.content)
		if err := rsa.VerifyPKCS1v15(&key.PublicKey, crypto.SHA256, sum[:], sig); err != nil {
			b.Fatal(err)
		}
	}
}

// TestBenchFixtureIsWhatOrderStringSigns keeps BareSign honest: its content must be the
// exact sign content of the OrderString benchmark.
func TestBenchFixtureIsWhatOrderStringSigns(t *testing.T) {
	var file orderStrVectorFile
	loadVectors(t, "vectors/app_pay_orderstr.json", &file)
	for _, c := range file.Cases {
		if c.Name != "pay_and_sign_cycle_pay" {
			continue
		}
		now, err := ParseTimestamp(c.Params["timestamp"])
		if err != nil {
			t.Fatal(err)
		}
		s, err := OrderString(testCredentials(t), c.BizContent, OrderStringOptions{NotifyURL: c.Params["notify_url"], Now: now})
		if err != nil {
			t.Fatal(err)
		}
		p, err := ParseOrderString(s)
		if err != nil {
			t.Fatal(err)
		}
		if SignContent(p) != c.WantContent {
			t.Fatal("fixture content differs from what OrderString signs")
		}
		return
	}
	t.Fatal("app_pay_orderstr.json#pay_and_sign_cycle_pay not found")
}

// benchFixedSigner returns a constant, typical-looking sign (with `+`, `/` and `=`), so
// the benchmark below measures everything OrderString does except the RSA operation.
type benchFixedSigner string

func (s benchFixedSigner) Sign([]byte) (string, error) { return string(s), nil }

// BenchmarkOrderStringWithoutRSA is OrderString's own overhead: common params, sort,
// sign content, encoding. OrderString ≈ BareSign + this.
func BenchmarkOrderStringWithoutRSA(b *testing.B) {
	f := benchLoadFixture(b)
	sign, err := f.creds.PrivateKey.Sign(f.content)
	if err != nil {
		b.Fatal(err)
	}
	signer := benchFixedSigner(sign)
	b.ReportAllocs()
	for b.Loop() {
		p := CommonParams(f.creds, MethodTradeAppPay, f.opts.Now)
		p["notify_url"] = f.opts.NotifyURL
		p["biz_content"] = f.biz
		if !orderStrIsJSONObject(f.biz) {
			b.Fatal("fixture biz_content is not a JSON object")
		}
		if _, err := orderStrSignEncode(signer, p); err != nil {
			b.Fatal(err)
		}
	}
}
