package alipay

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
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alipay-serverless/alipay-serverless/test/harness/testkeys"
)

// rotNow is inside the validity of the test PKI (2026-11-22 .. 2046).
var rotNow = time.Date(2028, 3, 1, 0, 0, 0, 0, time.UTC)

var (
	rotKeyOnce sync.Once
	rotKeyVal  *PrivateKey
	rotKeyErr  error
)

// rotNewKey is a freshly generated RSA-2048 key standing for Alipay's rotated key; it is
// generated once per test binary because generation is slow.
func rotNewKey(t *testing.T) *PrivateKey {
	t.Helper()
	rotKeyOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			rotKeyErr = err
			return
		}
		rotKeyVal, rotKeyErr = NewPrivateKey(k)
	})
	if rotKeyErr != nil {
		t.Fatal(rotKeyErr)
	}
	return rotKeyVal
}

// rotCert is a candidate Alipay certificate file: PEM (leaf first) and its SN.
type rotCert struct {
	pem []byte
	sn  string
}

func rotMakeCert(t *testing.T, pemData []byte) rotCert {
	t.Helper()
	sn, err := CertSN(pemData)
	if err != nil {
		t.Fatal(err)
	}
	return rotCert{pem: pemData, sn: sn}
}

// rotIssued is a certificate for key issued by the test Class 2 intermediate, followed
// by the intermediate, as Alipay ships it.
func rotIssued(t *testing.T, serial int64, key *PrivateKey, notBefore, notAfter time.Time) rotCert {
	t.Helper()
	is := certLoadIssuer(t)
	leaf := is.issue(t, serial, &key.RSA().PublicKey, notBefore, notAfter)
	return rotMakeCert(t, append(append([]byte{}, leaf...), is.pem...))
}

// rotSelfSigned is a self-signed certificate for key claiming the intermediate's name.
func rotSelfSigned(t *testing.T, key *PrivateKey) rotCert {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(4242),
		Subject:      pkix.Name{CommonName: "Test Alipay Certification Authority Class 2 R1", OrganizationalUnit: []string{"Certification Authority"}, Organization: []string{"Test Alipay CA"}, Country: []string{"CN"}},
		NotBefore:    rotNow.AddDate(0, -1, 0),
		NotAfter:     rotNow.AddDate(1, 0, 0),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.RSA().PublicKey, key.RSA())
	if err != nil {
		t.Fatal(err)
	}
	return rotMakeCert(t, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// rotDownloadReply is Alipay's answer to the download method carrying pemData. Like
// Alipay, it is signed with the rotated key and names the rotated SN.
func rotDownloadReply(t *testing.T, signer *PrivateKey, sn string, pemData []byte) []byte {
	t.Helper()
	node := `{"code":"10000","msg":"Success","alipay_cert_content":"` + base64.StdEncoding.EncodeToString(pemData) + `"}`
	return respSigned(t, signer, ResponseNodeName(MethodCertDownload), node, sn)
}

// rotGateway is a loopback gateway in certificate mode after a rotation: it answers
// voucher.create signed with the rotated key under replySN, and the download method
// with whatever download returns. It counts both.
type rotGateway struct {
	fake      *gwFake
	vouchers  atomic.Int32
	downloads atomic.Int32
}

const rotVoucherReply = `{"code":"10000","msg":"Success","out_order_no":"PA1","code_value":"https://qr.alipay.com/x"}`

func rotServe(t *testing.T, signer *PrivateKey, replySN string, download func(s gwSeen) []byte) *rotGateway {
	t.Helper()
	g := &rotGateway{}
	voucher := respSigned(t, signer, ResponseNodeName(gwTestMethod), rotVoucherReply, replySN)
	g.fake = gwServe(t, func(w http.ResponseWriter, _ *http.Request, s gwSeen) {
		switch s.params["method"] {
		case gwTestMethod:
			g.vouchers.Add(1)
			_, _ = w.Write(voucher)
		case MethodCertDownload:
			g.downloads.Add(1)
			_, _ = w.Write(download(s))
		default:
			http.Error(w, "unexpected method", http.StatusBadRequest)
		}
	})
	return g
}

func (g *rotGateway) client() *Client {
	// Downloads back to back: the cases count one per call. TestCertDownloadsAreSpaced
	// covers the spacing.
	return gwClient(g.fake, WithClock(func() time.Time { return rotNow }), WithCertDownloadInterval(0))
}

func (g *rotGateway) downloadRequests() []gwSeen {
	var out []gwSeen
	for _, s := range g.fake.requests() {
		if s.params["method"] == MethodCertDownload {
			out = append(out, s)
		}
	}
	return out
}

func rotExecute(cl *Client, c *Credentials, opts CallOptions) (*Reply, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return cl.Execute(ctx, c, gwTestMethod, gwTestBiz, opts)
}

// rotCheckMessage fails when err quotes key material, PEM armour or the certificate.
func rotCheckMessage(t *testing.T, err error, newKey *PrivateKey, certPEM []byte) {
	t.Helper()
	if err == nil {
		return
	}
	gwCheckMessage(t, err, nil)
	certAssertNoContent(t, err, certPEM)
	der, mErr := x509.MarshalPKCS8PrivateKey(newKey.RSA())
	if mErr != nil {
		t.Fatal(mErr)
	}
	testkeys.AssertNoKeyMaterial(t, "error", err.Error(), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

func TestExecuteDownloadsRotatedAlipayCert(t *testing.T) {
	newKey := rotNewKey(t)
	rotated := rotIssued(t, 11, newKey, rotNow.AddDate(0, -1, 0), rotNow.AddDate(2, 0, 0))

	t.Run("rotation_is_downloaded_validated_and_then_cached", func(t *testing.T) {
		base := orderStrCertCredentials(t)
		g := rotServe(t, newKey, rotated.sn, func(gwSeen) []byte { return rotDownloadReply(t, newKey, rotated.sn, rotated.pem) })
		cl := g.client()
		var refreshes atomic.Int32
		opts := CallOptions{Refresh: func(context.Context) (*Credentials, error) { refreshes.Add(1); return base, nil }}
		for i := range 3 {
			r, err := rotExecute(cl, base, opts)
			if err != nil || r.Code != "10000" || !strings.Contains(string(r.Node), `"out_order_no":"PA1"`) {
				t.Fatalf("call %d: r %+v err %v", i+1, r, err)
			}
		}
		if n := g.downloads.Load(); n != 1 {
			t.Fatalf("%d downloads for 3 calls, want 1 (then cached)", n)
		}
		if n := refreshes.Load(); n != 3 {
			t.Fatalf("%d refreshes, want 3 (the secret is tried first on every call)", n)
		}
		d := g.downloadRequests()[0]
		if d.signErr != nil || d.parseErr != nil || d.params["biz_content"] != `{"alipay_cert_sn":"`+rotated.sn+`"}` ||
			d.params["app_cert_sn"] != base.AppCertSN || d.params["alipay_root_cert_sn"] != base.AlipayRootCertSN {
			t.Fatalf("download request %q sign %v", d.params, d.signErr)
		}
		if _, ok := d.params["app_auth_token"]; ok {
			t.Fatal("download carried app_auth_token")
		}
		if len(base.AlipayCerts) != 1 {
			t.Fatalf("caller's credentials changed: %d certificates", len(base.AlipayCerts))
		}
	})

	t.Run("concurrent_calls_share_one_download", func(t *testing.T) {
		base := orderStrCertCredentials(t)
		const callers = 10
		var g *rotGateway
		g = rotServe(t, newKey, rotated.sn, func(gwSeen) []byte {
			// Hold the download until every caller has its voucher reply in hand, so
			// they all look for the certificate while it is in flight.
			deadline := time.Now().Add(5 * time.Second)
			for g.vouchers.Load() < callers && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			return rotDownloadReply(t, newKey, rotated.sn, rotated.pem)
		})
		cl := g.client()
		errs := make(chan error, callers)
		var wg sync.WaitGroup
		for range callers {
			wg.Go(func() {
				_, err := rotExecute(cl, base, CallOptions{})
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		if v, d := g.vouchers.Load(), g.downloads.Load(); v != callers || d != 1 {
			t.Fatalf("%d voucher calls, %d downloads; want %d and 1", v, d, callers)
		}
	})

	t.Run("key_mode_is_unaffected", func(t *testing.T) {
		c := testCredentials(t)
		g := rotServe(t, testAlipayKey(t), rotated.sn, func(gwSeen) []byte { return rotDownloadReply(t, newKey, rotated.sn, rotated.pem) })
		cl := g.client()
		if r, err := rotExecute(cl, c, CallOptions{}); err != nil || r.Code != "10000" {
			t.Fatalf("r %+v err %v", r, err)
		}
		got, err := cl.ResolveAlipayCert(context.Background(), c, rotated.sn)
		if err != nil || got != c {
			t.Fatalf("key mode: got %p (want %p) err %v", got, c, err)
		}
		if n := g.downloads.Load(); n != 0 {
			t.Fatalf("%d downloads in key mode", n)
		}
	})

	t.Run("key_mode_reply_signed_by_another_key_still_fails", func(t *testing.T) {
		g := rotServe(t, newKey, rotated.sn, func(gwSeen) []byte { return rotDownloadReply(t, newKey, rotated.sn, rotated.pem) })
		_, err := rotExecute(g.client(), testCredentials(t), CallOptions{})
		if !errors.Is(err, ErrUnknownOutcome) || !errors.Is(err, ErrBadSignature) || g.downloads.Load() != 0 {
			t.Fatalf("err %v, %d downloads", err, g.downloads.Load())
		}
	})
}

func TestExecuteRejectsUntrustedDownloadedCert(t *testing.T) {
	newKey := rotNewKey(t)
	rotated := rotIssued(t, 21, newKey, rotNow.AddDate(0, -1, 0), rotNow.AddDate(2, 0, 0))
	other := rotIssued(t, 22, newKey, rotNow.AddDate(0, -1, 0), rotNow.AddDate(2, 0, 0))
	expired := rotIssued(t, 23, newKey, rotNow.AddDate(-2, 0, 0), rotNow.AddDate(0, 0, -1))
	selfSigned := rotSelfSigned(t, newKey)
	appCert := rotMakeCert(t, append(readTestdata(t, "certs/app_cert.crt"), readTestdata(t, "certs/intermediate_class2.crt")...))
	downloadNode := ResponseNodeName(MethodCertDownload)

	cases := []struct {
		name     string
		replySN  string // the SN the voucher reply names
		download func(t *testing.T) []byte
		cause    []error // errors.Is targets of the resolution error, besides ErrUnknownCertSN
		code     string  // Code of an *UnknownOutcomeError from the download
		business string  // SubCode of a *BusinessError from the download
		served   []byte  // certificate the download served, for message checks
	}{
		{name: "self_signed_certificate_is_not_trusted", replySN: selfSigned.sn,
			download: func(t *testing.T) []byte { return rotDownloadReply(t, newKey, selfSigned.sn, selfSigned.pem) },
			cause:    []error{ErrBadCert}, served: selfSigned.pem},
		{name: "app_certificate_is_not_alipays", replySN: appCert.sn,
			download: func(t *testing.T) []byte { return rotDownloadReply(t, newKey, appCert.sn, appCert.pem) },
			cause:    []error{ErrBadCert}, served: appCert.pem},
		{name: "expired_certificate_is_not_trusted", replySN: expired.sn,
			download: func(t *testing.T) []byte { return rotDownloadReply(t, newKey, expired.sn, expired.pem) },
			cause:    []error{ErrBadCert}, served: expired.pem},
		{name: "certificate_with_another_sn_is_not_used", replySN: rotated.sn,
			download: func(t *testing.T) []byte { return rotDownloadReply(t, newKey, rotated.sn, other.pem) },
			cause:    []error{ErrBadCert}, served: other.pem},
		{name: "download_answering_20000_is_an_unknown_outcome", replySN: rotated.sn,
			download: func(t *testing.T) []byte {
				return respSigned(t, newKey, downloadNode, `{"code":"20000","msg":"Service Currently Unavailable"}`, rotated.sn)
			},
			cause: []error{ErrUnknownOutcome}, code: "20000"},
		{name: "download_refused_is_a_business_error", replySN: rotated.sn,
			download: func(t *testing.T) []byte {
				return respSigned(t, newKey, downloadNode, `{"code":"40004","msg":"Business Failed","sub_code":"CERT_NOT_EXIST"}`, "")
			},
			business: "CERT_NOT_EXIST"},
		{name: "download_reply_that_is_not_json_is_an_unknown_outcome", replySN: rotated.sn,
			download: func(t *testing.T) []byte { return []byte("<html>502 Bad Gateway</html>") },
			cause:    []error{ErrUnknownOutcome, ErrReplyMalformed}},
		{name: "content_that_is_not_base64_is_rejected", replySN: rotated.sn,
			download: func(t *testing.T) []byte {
				return respSigned(t, newKey, downloadNode, `{"code":"10000","msg":"Success","alipay_cert_content":"not base64 !"}`, rotated.sn)
			},
			cause: []error{ErrReplyMalformed}},
		{name: "missing_content_is_rejected", replySN: rotated.sn,
			download: func(t *testing.T) []byte {
				return respSigned(t, newKey, downloadNode, `{"code":"10000","msg":"Success"}`, rotated.sn)
			},
			cause: []error{ErrReplyMalformed}},
		{name: "content_that_is_not_a_certificate_is_rejected", replySN: rotated.sn,
			download: func(t *testing.T) []byte { return rotDownloadReply(t, newKey, rotated.sn, []byte("hello")) },
			cause:    []error{ErrBadCert}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			base := orderStrCertCredentials(t)
			g := rotServe(t, newKey, tc.replySN, func(gwSeen) []byte { return tc.download(t) })
			cl := g.client()
			for call := 1; call <= 2; call++ {
				r, err := rotExecute(cl, base, CallOptions{})
				var ue *UnknownOutcomeError
				if r != nil || !errors.As(err, &ue) || ue.Reason != gwReasonUnknownCertSN || !errors.Is(err, ErrUnknownCertSN) {
					t.Fatalf("call %d: r %+v err %v; want an unknown outcome over ErrUnknownCertSN", call, r, err)
				}
				for _, want := range tc.cause {
					if !errors.Is(err, want) {
						t.Fatalf("call %d: err %v does not wrap %v", call, err, want)
					}
				}
				rotCheckMessage(t, err, newKey, tc.served)
				// Nothing was cached: every call asks again.
				if n := g.downloads.Load(); n != int32(call) {
					t.Fatalf("after call %d: %d downloads", call, n)
				}
			}
			if n := cl.certs.size(); n != 0 {
				t.Fatalf("%d certificates cached after failures", n)
			}
			// The cause is typed on the resolution error itself.
			_, err := cl.ResolveAlipayCert(context.Background(), base, tc.replySN)
			if !errors.Is(err, ErrUnknownCertSN) {
				t.Fatalf("resolve: %v", err)
			}
			if tc.code != "" {
				var ue *UnknownOutcomeError
				if !errors.As(err, &ue) || ue.Code != tc.code || ue.Reason != gwReasonUnavailable {
					t.Fatalf("resolve: %v; want an unknown outcome with code %s", err, tc.code)
				}
			}
			if tc.business != "" {
				var be *BusinessError
				if !errors.As(err, &be) || be.SubCode != tc.business {
					t.Fatalf("resolve: %v; want a business error %s", err, tc.business)
				}
			}
		})
	}
}

func TestResolveAlipayCert(t *testing.T) {
	newKey := rotNewKey(t)
	rotated := rotIssued(t, 31, newKey, rotNow.AddDate(0, -1, 0), rotNow.AddDate(2, 0, 0))
	serve := func(t *testing.T) *rotGateway {
		return rotServe(t, newKey, rotated.sn, func(gwSeen) []byte { return rotDownloadReply(t, newKey, rotated.sn, rotated.pem) })
	}
	ctx := context.Background()

	t.Run("returns_the_same_credentials_when_they_hold_the_sn", func(t *testing.T) {
		base := orderStrCertCredentials(t)
		g := serve(t)
		var held string
		for sn := range base.AlipayCerts {
			held = sn
		}
		got, err := g.client().ResolveAlipayCert(ctx, base, held)
		if err != nil || got != base || g.downloads.Load() != 0 {
			t.Fatalf("got %p want %p, err %v, %d downloads", got, base, err, g.downloads.Load())
		}
	})
	t.Run("returns_a_copy_holding_the_new_certificate", func(t *testing.T) {
		base := orderStrCertCredentials(t)
		got, err := serve(t).client().ResolveAlipayCert(ctx, base, rotated.sn)
		if err != nil {
			t.Fatal(err)
		}
		k, err := got.AlipayKey(rotated.sn)
		if err != nil || !k.Equal(newKey.Public()) {
			t.Fatalf("key under %s: %v", rotated.sn, err)
		}
		if _, err := base.AlipayKey(rotated.sn); !errors.Is(err, ErrUnknownCertSN) || len(got.AlipayCerts) != 2 {
			t.Fatalf("original changed (%v) or copy lost the old certificate (%d)", err, len(got.AlipayCerts))
		}
	})
	for _, tc := range []struct {
		name, sn string
		creds    func(t testing.TB) *Credentials
	}{
		{"empty_sn_is_not_downloaded", "", orderStrCertCredentials},
		{"malformed_sn_is_not_downloaded", `x","a":"b`, orderStrCertCredentials},
		{"upper_case_sn_is_not_downloaded", strings.ToUpper(rotated.sn), orderStrCertCredentials},
		{"credentials_without_root_bundle_cannot_validate", rotated.sn, respCertCredentials},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := serve(t)
			got, err := g.client().ResolveAlipayCert(ctx, tc.creds(t), tc.sn)
			if got != nil || !errors.Is(err, ErrUnknownCertSN) || g.downloads.Load() != 0 {
				t.Fatalf("got %v err %v, %d downloads", got, err, g.downloads.Load())
			}
			if strings.Contains(err.Error(), `"a"`) {
				t.Fatalf("error quotes the SN as given: %v", err)
			}
		})
	}
	t.Run("no_credentials_is_an_error", func(t *testing.T) {
		if _, err := serve(t).client().ResolveAlipayCert(ctx, nil, rotated.sn); err == nil {
			t.Fatal("accepted nil credentials")
		}
	})
	t.Run("cached_certificate_is_not_used_with_another_root_bundle", func(t *testing.T) {
		g := serve(t)
		cl := g.client()
		if _, err := cl.ResolveAlipayCert(ctx, orderStrCertCredentials(t), rotated.sn); err != nil {
			t.Fatal(err)
		}
		// Credentials that trust another CA: the certificate cached under the test
		// roots must not be handed to them, and the fresh download does not chain.
		foreign, err := NewCertCredentials("2021000000000001", testAppKey(t), readTestdata(t, "certs/app_cert.crt"),
			readTestdata(t, "certs/odd_order_issuer_cert.crt"), readTestdata(t, "certs/odd_order_ca.crt"))
		if err != nil {
			t.Fatal(err)
		}
		got, err := cl.ResolveAlipayCert(ctx, foreign, rotated.sn)
		if got != nil || !errors.Is(err, ErrBadCert) || !errors.Is(err, ErrUnknownCertSN) {
			t.Fatalf("got %v err %v; want the certificate rejected", got, err)
		}
		if n := g.downloads.Load(); n != 2 {
			t.Fatalf("%d downloads, want 2 (the cache is per root bundle)", n)
		}
	})
	t.Run("caller_giving_up_does_not_abort_the_shared_download", func(t *testing.T) {
		release := make(chan struct{})
		g := rotServe(t, newKey, rotated.sn, func(gwSeen) []byte {
			select {
			case <-release:
			case <-time.After(5 * time.Second):
			}
			return rotDownloadReply(t, newKey, rotated.sn, rotated.pem)
		})
		var once sync.Once
		t.Cleanup(func() { once.Do(func() { close(release) }) }) // before the server closes
		cl := g.client()
		base := orderStrCertCredentials(t)
		short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		got, err := cl.ResolveAlipayCert(short, base, rotated.sn)
		if got != nil || !errors.Is(err, ErrUnknownCertSN) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("got %v err %v", got, err)
		}
		once.Do(func() { close(release) })
		// The download finishes on its own and is cached for the next caller.
		deadline := time.Now().Add(5 * time.Second)
		for cl.certs.size() == 0 && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		if got, err = cl.ResolveAlipayCert(ctx, base, rotated.sn); err != nil || got == nil {
			t.Fatal(err)
		}
		if n := g.downloads.Load(); n != 1 {
			t.Fatalf("%d downloads, want 1", n)
		}
	})
	t.Run("cached_certificate_is_revalidated_at_use", func(t *testing.T) {
		g := serve(t)
		now := rotNow
		var mu sync.Mutex
		cl := gwClient(g.fake, WithClock(func() time.Time { mu.Lock(); defer mu.Unlock(); return now }), WithCertDownloadInterval(0))
		base := orderStrCertCredentials(t)
		if _, err := cl.ResolveAlipayCert(ctx, base, rotated.sn); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		now = rotNow.AddDate(3, 0, 0) // past the certificate's NotAfter
		mu.Unlock()
		if _, err := cl.ResolveAlipayCert(ctx, base, rotated.sn); !errors.Is(err, ErrBadCert) || !strings.Contains(err.Error(), "expired") {
			t.Fatalf("expired cached certificate: %v", err)
		}
		if n := g.downloads.Load(); n != 1 {
			t.Fatalf("%d downloads, want 1", n)
		}
	})
}

func TestCertCacheIsBounded(t *testing.T) {
	var cc certCache
	key := func(i int) certCacheKey {
		return certCacheKey{rootSN: "root", certSN: strings.Repeat(string(rune('a'+i)), 32)}
	}
	for i := range certCacheMax + 2 {
		cc.put(key(i), []byte{byte(i)})
		cc.put(key(i), []byte{0xff}) // a second put of the same SN keeps the first
	}
	if n := cc.size(); n != certCacheMax {
		t.Fatalf("%d entries, want %d", n, certCacheMax)
	}
	for i := range certCacheMax + 2 {
		p, ok := cc.get(key(i))
		if want := i >= 2; ok != want || (ok && p[0] != byte(i)) {
			t.Fatalf("entry %d: present %v (%v), want %v", i, ok, p, want)
		}
	}
	if _, ok := cc.get(certCacheKey{rootSN: "other", certSN: key(5).certSN}); ok {
		t.Fatal("entry found under another root")
	}
}

func TestCertValidSN(t *testing.T) {
	for sn, want := range map[string]bool{
		"0123456789abcdef0123456789abcdef":  true,
		"0123456789ABCDEF0123456789ABCDEF":  false,
		"0123456789abcdef0123456789abcde":   false,
		"0123456789abcdef0123456789abcdef0": false,
		"0123456789abcdef0123456789abcdeg":  false,
		"":                                  false,
	} {
		if got := certValidSN(sn); got != want {
			t.Errorf("certValidSN(%q) = %v, want %v", sn, got, want)
		}
	}
}

// rotSNOf is the SN a download request asks for.
func rotSNOf(s gwSeen) string {
	return strings.TrimSuffix(strings.TrimPrefix(s.params["biz_content"], `{"alipay_cert_sn":"`), `"}`)
}

// Download limits are per SN and per lane, never global: made-up SNs named by
// notifications each cost at most one download and cannot delay another SN, a refused
// SN is answered from memory, and replies to our own calls are never held back by what
// notifications did.
func TestCertDownloadLimitsArePerSNAndLane(t *testing.T) {
	newKey := rotNewKey(t)
	rotated := rotIssued(t, 41, newKey, rotNow.AddDate(0, -1, 0), rotNow.AddDate(2, 0, 0))
	refusal := respSigned(t, newKey, ResponseNodeName(MethodCertDownload), `{"code":"40004","msg":"Business Failed","sub_code":"CERT_NOT_EXIST"}`, "")
	unavailable := respSigned(t, newKey, ResponseNodeName(MethodCertDownload), `{"code":"20000","msg":"Service Currently Unavailable"}`, "")
	var mu sync.Mutex
	now := rotNow
	rotatedDown := true // the download of the rotated SN fails without a verdict
	perSN := map[string]int{}
	g := rotServe(t, newKey, rotated.sn, func(s gwSeen) []byte {
		mu.Lock()
		defer mu.Unlock()
		sn := rotSNOf(s)
		perSN[sn]++
		switch {
		case sn != rotated.sn:
			return refusal
		case rotatedDown:
			return unavailable
		}
		return rotDownloadReply(t, newKey, rotated.sn, rotated.pem)
	})
	cl := gwClient(g.fake, WithClock(func() time.Time { mu.Lock(); defer mu.Unlock(); return now }))
	creds := orderStrCertCredentials(t)
	ctx := context.Background()
	downloads := func(sn string) int { mu.Lock(); defer mu.Unlock(); return perSN[sn] }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }

	// Made-up SNs at the same instant: each is asked of Alipay once, none waits for another.
	forged := []string{strings.Repeat("a", 32), strings.Repeat("b", 32), strings.Repeat("c", 32)}
	var be *BusinessError
	for _, sn := range forged {
		if _, err := cl.ResolveAlipayCert(ctx, creds, sn); !errors.As(err, &be) || !errors.Is(err, ErrUnknownCertSN) {
			t.Fatalf("made-up SN %s: %v, want Alipay's refusal", sn[:4], err)
		}
	}
	// Asked again: the refusal is remembered, no download.
	for range 3 {
		if _, err := cl.ResolveAlipayCert(ctx, creds, forged[0]); !errors.As(err, &be) || be.SubCode != "CERT_NOT_EXIST" {
			t.Fatalf("refused SN again: %v, want the remembered refusal", err)
		}
	}
	for _, sn := range forged {
		if n := downloads(sn); n != 1 {
			t.Fatalf("SN %s downloaded %d times, want 1", sn[:4], n)
		}
	}

	// The rotated SN fails without a verdict for a notification: retried only after the
	// interval in that lane ...
	if _, err := cl.ResolveAlipayCert(ctx, creds, rotated.sn); !errors.Is(err, ErrUnknownOutcome) {
		t.Fatalf("rotated SN while Alipay is unavailable: %v", err)
	}
	if _, err := cl.ResolveAlipayCert(ctx, creds, rotated.sn); !errors.Is(err, ErrCertDownloadLimited) {
		t.Fatalf("rotated SN again within the interval: %v, want rate-limited", err)
	}
	if n := downloads(rotated.sn); n != 1 {
		t.Fatalf("rotated SN downloaded %d times, want 1", n)
	}
	// ... but a reply to our own call naming it is not held back by the notify lane.
	mu.Lock()
	rotatedDown = false
	mu.Unlock()
	if r, err := rotExecute(cl, creds, CallOptions{}); err != nil || r.Code != "10000" {
		t.Fatalf("gateway reply naming the rotated SN: %+v %v", r, err)
	}
	if n := downloads(rotated.sn); n != 2 {
		t.Fatalf("rotated SN downloaded %d times, want 2", n)
	}
	// Now cached for every lane.
	if got, err := cl.ResolveAlipayCert(ctx, creds, rotated.sn); err != nil || got.AlipayCerts[rotated.sn] == nil {
		t.Fatalf("rotated SN for a notification once cached: %v", err)
	}
	if n := downloads(rotated.sn); n != 2 {
		t.Fatalf("rotated SN downloaded %d times, want 2", n)
	}

	// A refusal is forgotten after DefaultCertRefusalTTL.
	advance(DefaultCertRefusalTTL)
	if _, err := cl.ResolveAlipayCert(ctx, creds, forged[0]); !errors.As(err, &be) {
		t.Fatalf("refused SN after the TTL: %v", err)
	}
	if n := downloads(forged[0]); n != 2 {
		t.Fatalf("refused SN downloaded %d times after the TTL, want 2", n)
	}
}

// Replies to our own calls do not cache refusals (each call asks again, spaced per SN
// by the download interval) and notifications' refusals do not apply to them.
func TestReplyLaneIgnoresNotifyRefusals(t *testing.T) {
	newKey := rotNewKey(t)
	rotated := rotIssued(t, 42, newKey, rotNow.AddDate(0, -1, 0), rotNow.AddDate(2, 0, 0))
	var mu sync.Mutex
	known := false // Alipay does not serve the rotated SN yet
	g := rotServe(t, newKey, rotated.sn, func(gwSeen) []byte {
		mu.Lock()
		defer mu.Unlock()
		if !known {
			return respSigned(t, newKey, ResponseNodeName(MethodCertDownload), `{"code":"40004","msg":"Business Failed","sub_code":"CERT_NOT_EXIST"}`, "")
		}
		return rotDownloadReply(t, newKey, rotated.sn, rotated.pem)
	})
	cl := gwClient(g.fake, WithClock(func() time.Time { return rotNow }))
	creds := orderStrCertCredentials(t)
	var be *BusinessError
	if _, err := cl.ResolveAlipayCert(context.Background(), creds, rotated.sn); !errors.As(err, &be) {
		t.Fatalf("notification naming the SN too early: %v, want the refusal", err)
	}
	mu.Lock()
	known = true
	mu.Unlock()
	if r, err := rotExecute(cl, creds, CallOptions{}); err != nil || r.Code != "10000" {
		t.Fatalf("gateway reply after the notify lane cached a refusal: %+v %v", r, err)
	}
	if n := g.downloads.Load(); n != 2 {
		t.Fatalf("%d downloads, want 2", n)
	}
}

// A flood of made-up SNs leaves the per-SN memory bounded and caches no certificate.
func TestCertSNStateIsBounded(t *testing.T) {
	newKey := testAlipayKey(t)
	refusal := respSigned(t, newKey, ResponseNodeName(MethodCertDownload), `{"code":"40004","msg":"Business Failed","sub_code":"CERT_NOT_EXIST"}`, "")
	g := rotServe(t, newKey, "", func(gwSeen) []byte { return refusal })
	cl := gwClient(g.fake, WithClock(func() time.Time { return rotNow }))
	creds := orderStrCertCredentials(t)
	const flood = certSNStateMax + 300
	for i := range flood {
		if _, err := cl.ResolveAlipayCert(context.Background(), creds, fmt.Sprintf("%032x", i)); !errors.Is(err, ErrUnknownCertSN) {
			t.Fatalf("SN %d: %v", i, err)
		}
	}
	if n := cl.certs.stateSize(laneNotify); n != certSNStateMax {
		t.Fatalf("%d SN states after %d made-up SNs, want the bound %d", n, flood, certSNStateMax)
	}
	if n := cl.certs.size(); n != 0 {
		t.Fatalf("%d certificates cached", n)
	}
	// The newest refusals are still remembered; the oldest made room.
	before := g.downloads.Load()
	if _, err := cl.ResolveAlipayCert(context.Background(), creds, fmt.Sprintf("%032x", flood-1)); !errors.Is(err, ErrUnknownCertSN) || g.downloads.Load() != before {
		t.Fatalf("newest refused SN: %v, downloads %d -> %d", err, before, g.downloads.Load())
	}
	if _, err := cl.ResolveAlipayCert(context.Background(), creds, fmt.Sprintf("%032x", 0)); !errors.Is(err, ErrUnknownCertSN) || g.downloads.Load() != before+1 {
		t.Fatalf("evicted SN: %v, downloads %d -> %d", err, before, g.downloads.Load())
	}
}

// stateSize is the number of SNs lane remembers.
func (cc *certCache) stateSize(lane certLane) int {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return len(cc.states[lane].m)
}

// size is the number of certificates kept.
func (cc *certCache) size() int {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return len(cc.pems)
}
