package alipay

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/md5"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"
)

type certSNVector struct {
	Value         string `json:"value"`
	IssuerDN      string `json:"issuer_dn_rfc2253"`
	SerialDecimal string `json:"serial_decimal"`
	MD5Input      string `json:"md5_input"`
}

type certSNVectorFile struct {
	Files            map[string]string `json:"files"`
	AppCertSN        certSNVector      `json:"app_cert_sn"`
	AlipayCertSN     certSNVector      `json:"alipay_cert_sn"`
	OddRDNOrder      certSNVector      `json:"odd_rdn_order_issuer"`
	AlipayRootCertSN struct {
		Value        string `json:"value"`
		Certificates []struct {
			SubjectCN      string `json:"subject_cn"`
			SignatureOID   string `json:"signature_algorithm_oid"`
			CountsForSN    bool   `json:"counts_for_root_sn"`
			MD5Input       string `json:"md5_input"`
			MD5            string `json:"md5"`
			SignatureLabel string `json:"signature_algorithm"`
		} `json:"certificates_in_file_order"`
	} `json:"alipay_root_cert_sn"`
}

func certLoadVectors(t testing.TB) certSNVectorFile {
	t.Helper()
	var v certSNVectorFile
	loadVectors(t, "vectors/cert_sn.json", &v)
	if v.AppCertSN.Value == "" || v.AlipayRootCertSN.Value == "" || len(v.Files) == 0 {
		t.Fatal("cert_sn.json is incomplete")
	}
	return v
}

// certFirstDER returns the DER of the first certificate of a PEM file.
func certFirstDER(t testing.TB, pemData []byte) []byte {
	t.Helper()
	b, _ := pem.Decode(pemData)
	if b == nil {
		t.Fatal("no PEM block")
	}
	return b.Bytes
}

func TestCertSNVectors(t *testing.T) {
	v := certLoadVectors(t)
	cases := []struct {
		name string
		file string
		want certSNVector
	}{
		{"app_cert_sn", v.Files["app_cert"], v.AppCertSN},
		{"alipay_cert_sn_from_first_certificate_only", v.Files["alipay_public_cert"], v.AlipayCertSN},
		{"odd_rdn_order_issuer", v.Files["odd_order_issuer_cert"], v.OddRDNOrder},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pemData := readTestdata(t, c.file)
			sn, err := CertSN(pemData)
			if err != nil {
				t.Fatal(err)
			}
			if sn != c.want.Value {
				t.Fatalf("SN %s, want %s", sn, c.want.Value)
			}
			dn, serial, _, err := certIssuerSerial("test", certFirstDER(t, pemData))
			if err != nil {
				t.Fatal(err)
			}
			if dn != c.want.IssuerDN || serial != c.want.SerialDecimal || dn+serial != c.want.MD5Input {
				t.Fatalf("md5 input %q, want %q", dn+serial, c.want.MD5Input)
			}
		})
	}

	// Why the RDNSequence from RawIssuer: pkix.Name.String() re-sorts the attributes of an
	// issuer encoded CN first, and the SN computed from it would not match Alipay's.
	t.Run("odd_rdn_order_issuer_pkix_name_string_would_not_match", func(t *testing.T) {
		cert, err := x509.ParseCertificate(certFirstDER(t, readTestdata(t, v.Files["odd_order_issuer_cert"])))
		if err != nil {
			t.Fatal(err)
		}
		naive := cert.Issuer.String()
		if naive == v.OddRDNOrder.IssuerDN {
			t.Fatalf("pkix.Name.String() unexpectedly matches: %s", naive)
		}
		sum := md5.Sum([]byte(naive + cert.SerialNumber.String()))
		if hex.EncodeToString(sum[:]) == v.OddRDNOrder.Value {
			t.Fatal("naive SN unexpectedly matches")
		}
	})

	t.Run("alipay_root_cert_sn_rsa_roots_in_file_order", func(t *testing.T) {
		bundle := readTestdata(t, v.Files["alipay_root_cert"])
		sn, err := RootCertSN(bundle)
		if err != nil {
			t.Fatal(err)
		}
		if sn != v.AlipayRootCertSN.Value {
			t.Fatalf("root SN %s, want %s", sn, v.AlipayRootCertSN.Value)
		}
		ders, err := certBlocks("test", bundle)
		if err != nil {
			t.Fatal(err)
		}
		if len(ders) != len(v.AlipayRootCertSN.Certificates) {
			t.Fatalf("%d certificates, vector lists %d", len(ders), len(v.AlipayRootCertSN.Certificates))
		}
		for i, want := range v.AlipayRootCertSN.Certificates {
			dn, serial, alg, err := certIssuerSerial("test", ders[i])
			if err != nil {
				t.Fatal(err)
			}
			if alg.String() != want.SignatureOID || certIsRSASigned(alg) != want.CountsForSN {
				t.Fatalf("%s: alg %s rsa=%v, want %s %v", want.SubjectCN, alg, certIsRSASigned(alg), want.SignatureOID, want.CountsForSN)
			}
			if want.CountsForSN && dn+serial != want.MD5Input {
				t.Fatalf("%s: md5 input %q, want %q", want.SubjectCN, dn+serial, want.MD5Input)
			}
		}
	})
}

func TestCertSNRejects(t *testing.T) {
	appCert := readTestdata(t, "certs/app_cert.crt")
	cases := []struct {
		name string
		pem  []byte
		want string
	}{
		{"empty", nil, "no PEM CERTIFICATE block"},
		{"der_without_pem", certFirstDER(t, appCert), "no PEM CERTIFICATE block"},
		{"private_key_block", readTestdata(t, "keys/app_private_pkcs1.pem"), `"RSA PRIVATE KEY" PEM block`},
		{"corrupt_certificate", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{0x30, 0x03, 0x02, 0x01, 0x01}}), "malformed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sn, err := CertSN(c.pem)
			if err == nil {
				t.Fatalf("accepted, SN %s", sn)
			}
			if !errors.Is(err, ErrBadCert) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q should wrap ErrBadCert and mention %q", err, c.want)
			}
			certAssertNoContent(t, err, c.pem)
		})
	}
	t.Run("root_bundle_without_rsa_root", func(t *testing.T) {
		bundle := readTestdata(t, "certs/alipay_root_cert.crt")
		ecOnly := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certFirstDER(t, bundle)})
		if _, err := RootCertSN(ecOnly); err == nil || !strings.Contains(err.Error(), "alipay_root_cert") {
			t.Fatalf("got %v, want an alipay_root_cert error", err)
		}
	})
}

// certAssertNoContent fails when an error quotes PEM armour or base64 of the input.
func certAssertNoContent(t *testing.T, err error, pemData []byte) {
	t.Helper()
	msg := err.Error()
	if strings.Contains(msg, "-----") {
		t.Fatalf("error quotes PEM armour: %q", msg)
	}
	body := keyBody(pemData)
	for i := 0; i+12 <= len(body); i++ {
		if strings.Contains(msg, body[i:i+12]) {
			t.Fatalf("error quotes file content: %q", msg)
		}
	}
}

// certFiles are the reference certificate-mode files.
type certFiles struct {
	app, alipay, root, intermediate []byte
}

func certLoadFiles(t testing.TB) certFiles {
	t.Helper()
	return certFiles{
		app:          readTestdata(t, "certs/app_cert.crt"),
		alipay:       readTestdata(t, "certs/alipay_public_cert.crt"),
		root:         readTestdata(t, "certs/alipay_root_cert.crt"),
		intermediate: readTestdata(t, "certs/intermediate_class2.crt"),
	}
}

func TestNewCertCredentials(t *testing.T) {
	v := certLoadVectors(t)
	f := certLoadFiles(t)
	c, err := NewCertCredentials("2021000000000001", testAppKey(t), f.app, f.alipay, f.root)
	if err != nil {
		t.Fatal(err)
	}
	if c.AppCertSN != v.AppCertSN.Value || c.AlipayRootCertSN != v.AlipayRootCertSN.Value {
		t.Fatalf("SNs %s / %s, want %s / %s", c.AppCertSN, c.AlipayRootCertSN, v.AppCertSN.Value, v.AlipayRootCertSN.Value)
	}
	if len(c.AlipayCerts) != 1 {
		t.Fatalf("%d Alipay certificates, want 1", len(c.AlipayCerts))
	}
	alipayPub, err := ParsePublicKey(readTestdata(t, "keys/alipay_public.pem"))
	if err != nil {
		t.Fatal(err)
	}
	k, err := c.AlipayKey(v.AlipayCertSN.Value)
	if err != nil {
		t.Fatal(err)
	}
	if !k.Equal(alipayPub) {
		t.Fatal("alipay_cert_sn maps to the wrong key")
	}
	if len(c.RootCerts) != len(v.AlipayRootCertSN.Certificates) {
		t.Fatalf("%d root certificates, want %d", len(c.RootCerts), len(v.AlipayRootCertSN.Certificates))
	}
	if err := c.Validate(); err != nil || !c.CertMode() {
		t.Fatalf("Validate: %v, CertMode %v", err, c.CertMode())
	}
	p := CommonParams(c, "alipay.trade.query", time.Date(2025, 6, 1, 4, 0, 0, 0, time.UTC))
	if p["app_cert_sn"] != v.AppCertSN.Value || p["alipay_root_cert_sn"] != v.AlipayRootCertSN.Value {
		t.Fatalf("common params lack the SNs: %v", p)
	}
}

func TestNewCertCredentialsRejects(t *testing.T) {
	f := certLoadFiles(t)
	app := testAppKey(t)
	bundle := readTestdata(t, "certs/alipay_root_cert.crt")
	ecRootOnly := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certFirstDER(t, bundle)})
	cases := []struct {
		name                       string
		appID                      string
		priv                       *PrivateKey
		appCert, alipayCert, roots []byte
		field                      string
	}{
		{"missing_app_id", "", app, f.app, f.alipay, f.root, "app_id"},
		{"missing_private_key", "2021000000000001", nil, f.app, f.alipay, f.root, "private_key"},
		{"app_cert_of_another_key", "2021000000000001", app, f.alipay, f.alipay, f.root, "app_cert"},
		{"app_cert_not_pem", "2021000000000001", app, []byte("garbage"), f.alipay, f.root, "app_cert"},
		{"private_key_pasted_as_app_cert", "2021000000000001", app, readTestdata(t, "keys/app_private_pkcs8.pem"), f.alipay, f.root, "app_cert"},
		{"alipay_cert_not_pem", "2021000000000001", app, f.app, []byte("garbage"), f.root, "alipay_public_cert"},
		{"alipay_cert_is_the_app_cert", "2021000000000001", app, f.app, f.app, f.root, "alipay_public_cert"},
		{"alipay_cert_is_a_ca", "2021000000000001", app, f.app, f.intermediate, f.root, "alipay_public_cert"},
		{"root_bundle_without_rsa_root", "2021000000000001", app, f.app, f.alipay, ecRootOnly, "alipay_root_cert"},
		{"root_bundle_not_pem", "2021000000000001", app, f.app, f.alipay, []byte("garbage"), "alipay_root_cert"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := NewCertCredentials(c.appID, c.priv, c.appCert, c.alipayCert, c.roots)
			if err == nil {
				t.Fatalf("accepted: %+v", got)
			}
			if !strings.Contains(err.Error(), c.field) {
				t.Fatalf("error %q does not name %s", err, c.field)
			}
			for _, in := range [][]byte{c.appCert, c.alipayCert, c.roots} {
				certAssertNoContent(t, err, in)
			}
		})
	}
}

// certSM2Like turns a freshly made ECDSA P-256 certificate into one that claims the SM2
// curve and SM2-with-SM3 signature (same OID lengths, so the DER stays well formed), as
// Alipay's production root bundle contains. crypto/x509 cannot parse such a certificate.
func certSM2Like(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(77),
		Subject:               pkix.Name{CommonName: "Test SM2 Root", Organization: []string{"Test Alipay CA"}, Country: []string{"CN"}},
		NotBefore:             time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:              time.Date(2046, 1, 1, 0, 0, 0, 0, time.UTC),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
		SignatureAlgorithm:    x509.ECDSAWithSHA256,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	p256 := []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07}     // 1.2.840.10045.3.1.7
	sm2 := []byte{0x06, 0x08, 0x2a, 0x81, 0x1c, 0xcf, 0x55, 0x01, 0x82, 0x2d}      // 1.2.156.10197.1.301
	ecdsa256 := []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02} // 1.2.840.10045.4.3.2
	sm2sm3 := []byte{0x06, 0x08, 0x2a, 0x81, 0x1c, 0xcf, 0x55, 0x01, 0x83, 0x75}   // 1.2.156.10197.1.501
	if bytes.Count(der, p256) != 1 || bytes.Count(der, ecdsa256) != 2 {
		t.Fatal("unexpected certificate layout")
	}
	der = bytes.ReplaceAll(bytes.ReplaceAll(der, p256, sm2), ecdsa256, sm2sm3)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func TestRootBundleWithSM2RootGoCannotParse(t *testing.T) {
	v := certLoadVectors(t)
	f := certLoadFiles(t)
	sm2 := certSM2Like(t)
	if _, err := x509.ParseCertificate(certFirstDER(t, sm2)); err == nil {
		t.Fatal("crypto/x509 parsed the SM2-like root; the test no longer shows the problem")
	}
	bundle := append(append([]byte{}, sm2...), f.root...)

	sn, err := RootCertSN(bundle)
	if err != nil {
		t.Fatal(err)
	}
	if sn != v.AlipayRootCertSN.Value {
		t.Fatalf("root SN %s, want %s (SM2 root skipped)", sn, v.AlipayRootCertSN.Value)
	}
	c, err := NewCertCredentials("2021000000000001", testAppKey(t), f.app, f.alipay, bundle)
	if err != nil {
		t.Fatalf("bundle with an SM2 root must load: %v", err)
	}
	if len(c.RootCerts) != len(v.AlipayRootCertSN.Certificates) {
		t.Fatalf("%d roots kept, want %d", len(c.RootCerts), len(v.AlipayRootCertSN.Certificates))
	}
	if _, err := ParseCertificates(bundle); err == nil {
		t.Fatal("ParseCertificates is documented as strict")
	}
	certs, err := ParseCertificates(f.alipay)
	if err != nil || len(certs) != 2 || certs[0].IsCA || !certs[1].IsCA {
		t.Fatalf("alipay_public_cert: %d certificates, err %v; want leaf then intermediate", len(certs), err)
	}
}

// certIssuer issues certificates from the test "Class 2" intermediate, as Alipay's
// rotation would.
type certIssuer struct {
	cert *x509.Certificate
	key  any
	pem  []byte
}

func certLoadIssuer(t *testing.T) certIssuer {
	t.Helper()
	interPEM := readTestdata(t, "certs/intermediate_class2.crt")
	cert, err := x509.ParseCertificate(certFirstDER(t, interPEM))
	if err != nil {
		t.Fatal(err)
	}
	key, err := x509.ParsePKCS8PrivateKey(certFirstDER(t, readTestdata(t, "certs/ca_keys/intermediate_class2.key")))
	if err != nil {
		t.Fatal(err)
	}
	return certIssuer{cert: cert, key: key, pem: interPEM}
}

func (ci certIssuer) issue(t *testing.T, serial int64, pub any, notBefore, notAfter time.Time) []byte {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber:          new(big.Int).Lsh(big.NewInt(serial), 100),
		Subject:               pkix.Name{CommonName: "Alipay Test Public Key Cert", OrganizationalUnit: []string{"Alipay"}, Organization: []string{"Test Merchant Co"}, Country: []string{"CN"}},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ci.cert, pub, ci.key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func TestWithAlipayCert(t *testing.T) {
	base := orderStrCertCredentials(t)
	issuer := certLoadIssuer(t)
	rotated := testAlipayKey(t) // reuse a 2048-bit key: generating one is slow
	now := time.Date(2028, 3, 1, 0, 0, 0, 0, time.UTC)
	valid := issuer.issue(t, 1, &rotated.RSA().PublicKey, now.AddDate(0, -1, 0), now.AddDate(2, 0, 0))
	chain := append(append([]byte{}, valid...), issuer.pem...)

	t.Run("accepts_certificate_issued_by_the_intermediate", func(t *testing.T) {
		before := len(base.AlipayCerts)
		got, sn, err := base.WithAlipayCert(chain, now)
		if err != nil {
			t.Fatal(err)
		}
		wantSN, err := CertSN(chain)
		if err != nil {
			t.Fatal(err)
		}
		if sn != wantSN {
			t.Fatalf("SN %s, want %s", sn, wantSN)
		}
		k, err := got.AlipayKey(sn)
		if err != nil {
			t.Fatal(err)
		}
		sign, err := rotated.Sign([]byte("a=1"))
		if err != nil {
			t.Fatal(err)
		}
		if err := k.Verify([]byte("a=1"), sign); err != nil {
			t.Fatalf("new certificate key does not verify: %v", err)
		}
		if len(got.AlipayCerts) != before+1 || len(base.AlipayCerts) != before {
			t.Fatalf("copy has %d certs, original %d (was %d)", len(got.AlipayCerts), len(base.AlipayCerts), before)
		}
		if _, err := base.AlipayKey(sn); !errors.Is(err, ErrUnknownCertSN) {
			t.Fatalf("original credentials changed: %v", err)
		}
		if got.AppCertSN != base.AppCertSN || got.AlipayRootCertSN != base.AlipayRootCertSN || got.PrivateKey != base.PrivateKey {
			t.Fatal("copy lost fields")
		}
		again, sn2, err := got.WithAlipayCert(chain, now)
		if err != nil || sn2 != sn || len(again.AlipayCerts) != len(got.AlipayCerts) {
			t.Fatalf("adding the same certificate again: %v", err)
		}
	})

	selfKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	selfTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(5),
		Subject:      pkix.Name{CommonName: "Test Alipay Certification Authority Class 2 R1", OrganizationalUnit: []string{"Certification Authority"}, Organization: []string{"Test Alipay CA"}, Country: []string{"CN"}},
		NotBefore:    now.AddDate(0, -1, 0),
		NotAfter:     now.AddDate(1, 0, 0),
	}
	// A self-signed RSA certificate claiming the intermediate's name, with the rotated key.
	selfDER, err := x509.CreateCertificate(rand.Reader, selfTmpl, selfTmpl, &rotated.RSA().PublicKey, rotated.RSA())
	if err != nil {
		t.Fatal(err)
	}
	selfSigned := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: selfDER})

	expired := issuer.issue(t, 2, &rotated.RSA().PublicKey, now.AddDate(-2, 0, 0), now.AddDate(0, 0, -1))
	notYet := issuer.issue(t, 3, &rotated.RSA().PublicKey, now.AddDate(0, 0, 1), now.AddDate(2, 0, 0))
	ecLeaf := issuer.issue(t, 4, &selfKey.PublicKey, now.AddDate(0, -1, 0), now.AddDate(1, 0, 0))
	join := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

	keyMode := testCredentials(t)
	cases := []struct {
		name    string
		creds   *Credentials
		pem     []byte
		mention string
	}{
		{"rejects_self_signed", base, selfSigned, "does not chain"},
		{"rejects_self_signed_even_with_intermediate", base, join(selfSigned, issuer.pem), "does not chain"},
		{"rejects_expired", base, join(expired, issuer.pem), "expired"},
		{"rejects_not_yet_valid", base, join(notYet, issuer.pem), "not yet valid"},
		{"rejects_leaf_without_intermediate", base, valid, "does not chain"},
		{"rejects_ec_key", base, join(ecLeaf, issuer.pem), "not RSA"},
		{"rejects_intermediate_as_leaf", base, issuer.pem, "CA certificate"},
		{"rejects_garbage", base, []byte("garbage"), "no PEM CERTIFICATE block"},
		{"rejects_key_mode_credentials", keyMode, chain, "not in certificate mode"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, sn, err := c.creds.WithAlipayCert(c.pem, now)
			if err == nil {
				t.Fatalf("accepted SN %s: %v", sn, got.AlipayCerts)
			}
			if !errors.Is(err, ErrBadCert) || !strings.Contains(err.Error(), c.mention) {
				t.Fatalf("error %q should wrap ErrBadCert and mention %q", err, c.mention)
			}
			if c.creds == base && !strings.Contains(err.Error(), "alipay_public_cert") {
				t.Fatalf("error %q does not name alipay_public_cert", err)
			}
			certAssertNoContent(t, err, c.pem)
		})
	}
}
