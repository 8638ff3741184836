package alipay

import (
	"bytes"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"
)

// certTrustNow is inside the validity of the test PKI.
var certTrustNow = time.Date(2028, 3, 1, 0, 0, 0, 0, time.UTC)

// certAlipaySubject is the subject of the test Alipay certificate (certs/README.md).
var certAlipaySubject = pkix.Name{CommonName: "Alipay Test Public Key Cert", OrganizationalUnit: []string{"Alipay"}, Organization: []string{"Test Merchant Co"}, Country: []string{"CN"}}

// certIssueWith issues a leaf for pub with subject from (parent, parentKey).
func certIssueWith(t *testing.T, parent *x509.Certificate, parentKey any, serial int64, subject pkix.Name, pub any) []byte {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial),
		Subject:               subject,
		NotBefore:             certTrustNow.AddDate(0, -1, 0),
		NotAfter:              certTrustNow.AddDate(2, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// certOtherIntermediate is a second CA under the test root R1 (a "Class 1" one, like the
// CA that issues merchants' app certificates in production), with its key.
func certOtherIntermediate(t *testing.T) (*x509.Certificate, any, []byte) {
	t.Helper()
	bundle := readTestdata(t, "certs/alipay_root_cert.crt")
	var r1 *x509.Certificate
	for rest := bundle; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		if c, err := x509.ParseCertificate(b.Bytes); err == nil && c.Subject.CommonName == "Test Alipay Certification Authority R1" {
			r1 = c
		}
	}
	if r1 == nil {
		t.Fatal("root R1 not found in the bundle")
	}
	r1Key, err := x509.ParsePKCS8PrivateKey(certFirstDER(t, readTestdata(t, "certs/ca_keys/root_r1.key")))
	if err != nil {
		t.Fatal(err)
	}
	interKey := testAppKey(t).RSA() // any RSA key; generating one is slow
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(77),
		Subject:               pkix.Name{CommonName: "Test Alipay Certification Authority Class 1 R1", OrganizationalUnit: []string{"Certification Authority"}, Organization: []string{"Test Alipay CA"}, Country: []string{"CN"}},
		NotBefore:             certTrustNow.AddDate(-1, 0, 0),
		NotAfter:              certTrustNow.AddDate(5, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, r1, &interKey.PublicKey, r1Key)
	if err != nil {
		t.Fatal(err)
	}
	inter, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return inter, interKey, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// A downloaded certificate stands for Alipay only if it chains to the root bundle, has
// the configured Alipay certificate's issuer and subject, and is not the app's own
// certificate or key (finding: any certificate under the root was accepted).
func TestWithAlipayCertRefusesCertificatesThatAreNotAlipays(t *testing.T) {
	base := orderStrCertCredentials(t)
	issuer := certLoadIssuer(t)
	fresh := testAlipayKey(t).RSA() // stands for a key other than the app's
	appPub := &testAppKey(t).RSA().PublicKey
	otherInter, otherKey, otherPEM := certOtherIntermediate(t)
	join := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

	// Sanity: a certificate with Alipay's issuer and subject is accepted, so the refusals
	// below are about the property each case changes.
	good := join(certIssueWith(t, issuer.cert, issuer.key, 9001, certAlipaySubject, &fresh.PublicKey), issuer.pem)
	if _, _, err := base.WithAlipayCert(good, certTrustNow); err != nil {
		t.Fatalf("certificate with Alipay's issuer and subject: %v", err)
	}

	merchantSubject := pkix.Name{CommonName: "2021000000000001", OrganizationalUnit: []string{"Alipay"}, Organization: []string{"Test Merchant Co"}, Country: []string{"CN"}}
	cases := []struct {
		name    string
		pem     []byte
		mention string
	}{
		{"app_certificate_offered_as_alipays", join(readTestdata(t, "certs/app_cert.crt"), issuer.pem), "app_cert"},
		{"merchant_subject_from_the_same_issuer", join(certIssueWith(t, issuer.cert, issuer.key, 9002, merchantSubject, &fresh.PublicKey), issuer.pem), "subject"},
		{"alipay_subject_from_another_issuer_under_the_same_root", join(certIssueWith(t, otherInter, otherKey, 9003, certAlipaySubject, &fresh.PublicKey), otherPEM), "issuer"},
		{"alipay_subject_with_the_app_key", join(certIssueWith(t, issuer.cert, issuer.key, 9004, certAlipaySubject, appPub), issuer.pem), "app"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, sn, err := base.WithAlipayCert(c.pem, certTrustNow)
			if err == nil {
				t.Fatalf("accepted SN %s (%d certificates held)", sn, len(got.AlipayCerts))
			}
			if !errors.Is(err, ErrBadCert) || !strings.Contains(err.Error(), c.mention) || !strings.Contains(err.Error(), "alipay_public_cert") {
				t.Fatalf("error %q should wrap ErrBadCert, name alipay_public_cert and mention %q", err, c.mention)
			}
			certAssertNoContent(t, err, c.pem)
		})
	}
}

// The configured Alipay certificate is taken as the SDKs take it: SN and key from the
// first certificate, no chain check (the official Node SDK's own fixture is leaf-only).
// Downloaded certificates keep the chain check.
func TestConfiguredLeafOnlyAlipayCertLoads(t *testing.T) {
	v := certLoadVectors(t)
	f := certLoadFiles(t)
	leafOnly := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certFirstDER(t, f.alipay)})
	c, err := NewCertCredentials("2021000000000001", testAppKey(t), f.app, leafOnly, f.root)
	if err != nil {
		t.Fatalf("leaf-only alipay_public_cert refused: %v", err)
	}
	if _, ok := c.AlipayCerts[v.AlipayCertSN.Value]; !ok || len(c.AlipayCerts) != 1 {
		t.Fatalf("certificates held under %v, want the Node SDK's SN %s", c.AlipayCerts, v.AlipayCertSN.Value)
	}

	node := `{"code":"10000","msg":"Success","out_order_no":"PA1"}`
	r, _, err := respVerify(respSigned(t, testAlipayKey(t), ResponseNodeName(gwTestMethod), node, v.AlipayCertSN.Value), gwTestMethod, c)
	if err != nil || r.Code != "10000" {
		t.Fatalf("reply signed by the certificate's key: %+v, %v", r, err)
	}
	if _, _, err := respVerify(respSigned(t, testAppKey(t), ResponseNodeName(gwTestMethod), node, v.AlipayCertSN.Value), gwTestMethod, c); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("reply signed by another key: %v, want ErrBadSignature", err)
	}

	// A leaf-only download is still refused: trust in a downloaded certificate comes
	// from its chain to the root bundle.
	issuer := certLoadIssuer(t)
	dl := certIssueWith(t, issuer.cert, issuer.key, 9005, certAlipaySubject, &testAlipayKey(t).RSA().PublicKey)
	if _, _, err := c.WithAlipayCert(dl, certTrustNow); !errors.Is(err, ErrBadCert) || !strings.Contains(err.Error(), "does not chain") {
		t.Fatalf("leaf-only download: %v, want a chain refusal", err)
	}
	if _, _, err := c.WithAlipayCert(append(dl, issuer.pem...), certTrustNow); err != nil {
		t.Fatalf("download with its intermediate: %v", err)
	}
}
