package notify

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
	"github.com/alipay-serverless/alipay-serverless/shared/orders"
	"github.com/alipay-serverless/alipay-serverless/test/harness/testkeys"
)

// The gateway client resolves certificates for the notify slice.
var _ CertResolver = (*alipay.Client)(nil)

// SNs of the certificate the secret holds and of Alipay's rotated one.
const (
	oldCertSN = "0123456789abcdef0123456789abcdef"
	newCertSN = "fedcba9876543210fedcba9876543210"
)

// fakeResolver answers ResolveAlipayCert as the test says and records the calls.
type fakeResolver struct {
	resolve func(c *alipay.Credentials, sn string) (*alipay.Credentials, error)
	mu      sync.Mutex
	calls   []string // the SNs asked for
}

func (f *fakeResolver) ResolveAlipayCert(_ context.Context, c *alipay.Credentials, sn string) (*alipay.Credentials, error) {
	f.mu.Lock()
	f.calls = append(f.calls, sn)
	f.mu.Unlock()
	return f.resolve(c, sn)
}

func (f *fakeResolver) asked() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

// certModeCreds are certificate-mode credentials holding key under oldCertSN only.
func certModeCreds(k *testKeys, key *alipay.PublicKey) *alipay.Credentials {
	return &alipay.Credentials{AppID: testAppID, PrivateKey: k.appPriv, AppCertSN: "app-sn",
		AlipayRootCertSN: "root-sn", AlipayCerts: map[string]*alipay.PublicKey{oldCertSN: key}}
}

// withCert returns a copy of c that also holds key under sn, as a resolver would.
func withCert(c *alipay.Credentials, sn string, key *alipay.PublicKey) *alipay.Credentials {
	cp := *c
	cp.AlipayCerts = map[string]*alipay.PublicKey{sn: key}
	for k, v := range c.AlipayCerts {
		cp.AlipayCerts[k] = v
	}
	return &cp
}

func TestRotatedAlipayCertIsResolved(t *testing.T) {
	// The secret holds oldCertSN (the app key stands for Alipay's retired key); Alipay
	// now signs with the simulated Alipay key under newCertSN.
	rotatedNotice := trade("N1", alipay.TradeStatusSuccess, "alipay_cert_sn", newCertSN)
	errDownload := errors.New("alipay.open.app.alipaycert.download: outcome unknown")

	t.Run("unknown_sn_is_resolved_and_the_notice_applied", func(t *testing.T) {
		r := &fakeResolver{}
		e := newEnv(t, WithCertResolver(r))
		seedAppPay(t, e.store, tradeID, "9.00")
		old := certModeCreds(e.keys, e.keys.appPub)
		e.creds.get = func() (*alipay.Credentials, error) { return old, nil }
		var seen *alipay.Credentials
		r.resolve = func(c *alipay.Credentials, sn string) (*alipay.Credentials, error) {
			seen = c
			return withCert(c, sn, e.keys.alipayPub), nil
		}
		e.mustSucceed(rotatedNotice(e))
		if got := r.asked(); len(got) != 1 || got[0] != newCertSN || seen != old {
			t.Fatalf("resolver asked %v with %p, want [%s] with %p", got, seen, newCertSN, old)
		}
		if n := e.creds.refreshes.Load(); n != 1 {
			t.Errorf("%d refreshes, want 1 (the secret is tried first)", n)
		}
		if o := appPayOrder(t, e.store, tradeID); o.Status != orders.TradeSuccess {
			t.Errorf("order %s, want TRADE_SUCCESS", o.Status)
		}
	})
	t.Run("sn_brought_by_the_refresh_needs_no_resolver", func(t *testing.T) {
		r := &fakeResolver{resolve: func(*alipay.Credentials, string) (*alipay.Credentials, error) { return nil, errDownload }}
		e := newEnv(t, WithCertResolver(r))
		seedAppPay(t, e.store, tradeID, "9.00")
		old := certModeCreds(e.keys, e.keys.appPub)
		e.creds.get = func() (*alipay.Credentials, error) { return old, nil }
		e.creds.refresh = func() (*alipay.Credentials, error) { return withCert(old, newCertSN, e.keys.alipayPub), nil }
		e.mustSucceed(rotatedNotice(e))
		if got := r.asked(); len(got) != 0 {
			t.Fatalf("resolver asked %v", got)
		}
	})
	t.Run("resolver_failure_is_503_fail_and_a_retry_succeeds", func(t *testing.T) {
		var broken atomic.Bool
		broken.Store(true)
		r := &fakeResolver{}
		e := newEnv(t, WithCertResolver(r))
		seedAppPay(t, e.store, tradeID, "9.00")
		e.creds.get = func() (*alipay.Credentials, error) { return certModeCreds(e.keys, e.keys.appPub), nil }
		r.resolve = func(c *alipay.Credentials, sn string) (*alipay.Credentials, error) {
			if broken.Load() {
				return nil, errDownload
			}
			return withCert(c, sn, e.keys.alipayPub), nil
		}
		body := rotatedNotice(e)
		if code, reply := e.post(formCT, body); code != http.StatusServiceUnavailable || reply != "fail" {
			t.Fatalf("status %d %q, want 503 fail", code, reply)
		}
		line := e.lastLine()
		if line["level"] != "ERROR" || line["reason"] != "alipay certificate not resolved" || line["error"] != errDownload.Error() || line["verified"] != false {
			t.Fatalf("log line %v", line)
		}
		if n := e.store.applies.Load(); n != 0 {
			t.Fatalf("%d applies of an unverified notice", n)
		}
		broken.Store(false)
		e.mustSucceed(body)
	})
	t.Run("sn_alipay_does_not_know_or_that_does_not_chain_is_400", func(t *testing.T) {
		for name, cause := range map[string]error{
			"refused_by_alipay": fmt.Errorf("%w: %w", alipay.ErrUnknownCertSN, &alipay.BusinessError{Code: "40004", SubCode: "CERT_NOT_EXIST"}),
			"not_chaining":      fmt.Errorf("%w: %w", alipay.ErrUnknownCertSN, alipay.ErrBadCert),
		} {
			t.Run(name, func(t *testing.T) {
				r := &fakeResolver{resolve: func(*alipay.Credentials, string) (*alipay.Credentials, error) { return nil, cause }}
				e := newEnv(t, WithCertResolver(r))
				seedAppPay(t, e.store, tradeID, "9.00")
				e.creds.get = func() (*alipay.Credentials, error) { return certModeCreds(e.keys, e.keys.appPub), nil }
				if code, reply := e.post(formCT, rotatedNotice(e)); code != http.StatusBadRequest || reply != "fail" {
					t.Fatalf("status %d %q, want 400 fail", code, reply)
				}
			})
		}
	})
	t.Run("resolver_returning_nothing_is_503", func(t *testing.T) {
		r := &fakeResolver{resolve: func(*alipay.Credentials, string) (*alipay.Credentials, error) { return nil, nil }}
		e := newEnv(t, WithCertResolver(r))
		seedAppPay(t, e.store, tradeID, "9.00")
		e.creds.get = func() (*alipay.Credentials, error) { return certModeCreds(e.keys, e.keys.appPub), nil }
		if code, _ := e.post(formCT, rotatedNotice(e)); code != http.StatusServiceUnavailable {
			t.Fatalf("status %d, want 503", code)
		}
	})
	t.Run("resolved_certificate_that_does_not_verify_is_400", func(t *testing.T) {
		r := &fakeResolver{}
		e := newEnv(t, WithCertResolver(r))
		seedAppPay(t, e.store, tradeID, "9.00")
		e.creds.get = func() (*alipay.Credentials, error) { return certModeCreds(e.keys, e.keys.appPub), nil }
		// The certificate under newCertSN holds another key than the one that signed.
		r.resolve = func(c *alipay.Credentials, sn string) (*alipay.Credentials, error) {
			return withCert(c, sn, e.keys.appPub), nil
		}
		if code, reply := e.post(formCT, rotatedNotice(e)); code != http.StatusBadRequest || reply != "fail" {
			t.Fatalf("status %d %q, want 400 fail", code, reply)
		}
		if line := e.lastLine(); line["reason"] != "signature does not verify" || len(r.asked()) != 1 {
			t.Fatalf("log line %v, resolver asked %v", line, r.asked())
		}
		if o := appPayOrder(t, e.store, tradeID); o.Status != orders.TradeCreated {
			t.Errorf("order %s, want unchanged", o.Status)
		}
	})
	t.Run("without_resolver_an_unknown_sn_stays_400", func(t *testing.T) {
		e := newEnv(t)
		seedAppPay(t, e.store, tradeID, "9.00")
		e.creds.get = func() (*alipay.Credentials, error) { return certModeCreds(e.keys, e.keys.appPub), nil }
		if code, _ := e.post(formCT, rotatedNotice(e)); code != http.StatusBadRequest {
			t.Fatalf("status %d, want 400", code)
		}
	})
	t.Run("resolver_is_not_asked_outside_an_unknown_sn", func(t *testing.T) {
		r := &fakeResolver{resolve: func(*alipay.Credentials, string) (*alipay.Credentials, error) { return nil, errDownload }}
		twoCerts := func(e *env) *alipay.Credentials {
			return withCert(certModeCreds(e.keys, e.keys.appPub), newCertSN, e.keys.appPub)
		}
		for _, tc := range []struct {
			name   string
			creds  func(e *env) *alipay.Credentials
			body   func(e *env) []byte
			status int
		}{
			{"key_mode_notice_with_an_sn", func(e *env) *alipay.Credentials { return newCreds(e.keys, e.keys.alipayPub) },
				trade("N1", alipay.TradeStatusSuccess, "alipay_cert_sn", newCertSN), http.StatusOK},
			{"key_mode_forged_notice", func(e *env) *alipay.Credentials { return newCreds(e.keys, e.keys.alipayPub) },
				func(e *env) []byte {
					return signNotice(t, e.keys.appPriv, with(tradeParams(tradeID, "N1", alipay.TradeStatusSuccess, "9.00"), "alipay_cert_sn", newCertSN))
				}, http.StatusBadRequest},
			{"cert_mode_notice_without_an_sn", twoCerts, trade("N1", alipay.TradeStatusSuccess), http.StatusBadRequest},
			{"cert_mode_known_sn_with_a_bad_signature", twoCerts,
				trade("N1", alipay.TradeStatusSuccess, "alipay_cert_sn", oldCertSN), http.StatusBadRequest},
		} {
			t.Run(tc.name, func(t *testing.T) {
				e := newEnv(t, WithCertResolver(r))
				seedAppPay(t, e.store, tradeID, "9.00")
				c := tc.creds(e)
				e.creds.get = func() (*alipay.Credentials, error) { return c, nil }
				if code, _ := e.post(formCT, tc.body(e)); code != tc.status {
					t.Fatalf("status %d, want %d; log %v", code, tc.status, e.lastLine())
				}
				if got := r.asked(); len(got) != 0 {
					t.Fatalf("resolver asked %v", got)
				}
			})
		}
	})
}

// TestGatewayClientResolvesRotatedCert runs the real *alipay.Client as the resolver
// against a loopback gateway that serves the rotated certificate.
func TestGatewayClientResolvesRotatedCert(t *testing.T) {
	k := loadKeys(t)
	base, err := alipay.NewCertCredentials(testAppID, k.appPriv, testkeys.Read(t, "certs/app_cert.crt"),
		testkeys.Read(t, "certs/alipay_public_cert.crt"), testkeys.Read(t, "certs/alipay_root_cert.crt"))
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rotatedKey, err := alipay.NewPrivateKey(rsaKey)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2028, 3, 1, 0, 0, 0, 0, time.UTC) // inside the test PKI's validity
	certPEM := issueAlipayCert(t, rsaKey, now)
	sn, err := alipay.CertSN(certPEM)
	if err != nil {
		t.Fatal(err)
	}

	var downloads atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("method") != alipay.MethodCertDownload {
			http.Error(w, "unexpected method", http.StatusBadRequest)
			return
		}
		downloads.Add(1)
		// The reply's signature is not what makes the certificate trusted.
		_, _ = w.Write([]byte(`{"alipay_open_app_alipaycert_download_response":{"code":"10000","msg":"Success","alipay_cert_content":"` +
			base64.StdEncoding.EncodeToString(certPEM) + `"},"alipay_cert_sn":"` + sn + `","sign":"bm90IGNoZWNrZWQ="}`))
	}))
	t.Cleanup(srv.Close)
	gw := alipay.NewClient(srv.URL+"/gateway.do", alipay.WithClock(func() time.Time { return now }), alipay.WithTimeout(5*time.Second))

	e := newEnv(t, WithCertResolver(gw))
	e.creds.get = func() (*alipay.Credentials, error) { return base, nil }
	seedAppPay(t, e.store, tradeID, "9.00")
	for i, id := range []string{"N1", "N2"} {
		body := signNotice(t, rotatedKey, with(tradeParams(tradeID, id, alipay.TradeStatusSuccess, "9.00"), "alipay_cert_sn", sn))
		e.mustSucceed(body)
		if n := downloads.Load(); n != 1 {
			t.Fatalf("after notice %d: %d downloads, want 1", i+1, n)
		}
	}
	forged := signNotice(t, k.appPriv, with(tradeParams(tradeID, "N3", alipay.TradeStatusSuccess, "9.00"), "alipay_cert_sn", sn))
	if code, _ := e.post(formCT, forged); code != http.StatusBadRequest {
		t.Fatalf("notice under the rotated SN signed by another key: status %d, want 400", code)
	}
}

// issueAlipayCert issues a certificate for key from the test Class 2 intermediate and
// returns it followed by the intermediate, as Alipay ships it.
func issueAlipayCert(t *testing.T, key *rsa.PrivateKey, now time.Time) []byte {
	t.Helper()
	interPEM := testkeys.Read(t, "certs/intermediate_class2.crt")
	block, _ := pem.Decode(interPEM)
	keyBlock, _ := pem.Decode(testkeys.Read(t, "certs/ca_keys/intermediate_class2.key"))
	if block == nil || keyBlock == nil {
		t.Fatal("intermediate certificate or key: no PEM block")
	}
	inter, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	interKey, err := x509.ParsePKCS8PrivateKey(keyBlock.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(20280301),
		Subject:               pkix.Name{CommonName: "Alipay Test Public Key Cert", OrganizationalUnit: []string{"Alipay"}, Organization: []string{"Test Merchant Co"}, Country: []string{"CN"}},
		NotBefore:             now.AddDate(0, -1, 0),
		NotAfter:              now.AddDate(2, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, inter, &key.PublicKey, interKey)
	if err != nil {
		t.Fatal(err)
	}
	return append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), interPEM...)
}
