package alipay

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
)

type keyFormatVectorFile struct {
	SignContent  string `json:"sign_content"`
	ExpectedSign string `json:"expected_sign"`
	Variants     []struct {
		File      string `json:"file"`
		Format    string `json:"format"`
		Container string `json:"container"`
		SDKResult struct {
			Sign  string `json:"sign"`
			Error string `json:"error"`
		} `json:"sdk_result"`
	} `json:"variants"`
}

// keyVariantName turns a key_formats.json variant into a subtest name.
func keyVariantName(format, container string, sdkFailed bool) string {
	name := strings.ToLower(strings.NewReplacer("#", "", " ", "_").Replace(format + " " + container))
	if sdkFailed {
		name += "_node_needs_key_type_we_detect_it"
	}
	return name
}

func TestKeyFormatVectors(t *testing.T) {
	var file keyFormatVectorFile
	loadVectors(t, "vectors/key_formats.json", &file)
	if len(file.Variants) == 0 {
		t.Fatal("key_formats.json has no variants")
	}
	for _, v := range file.Variants {
		t.Run(keyVariantName(v.Format, v.Container, v.SDKResult.Error != ""), func(t *testing.T) {
			text := readTestdata(t, v.File)
			if strings.Contains(v.Container, "CRLF") {
				text = []byte(strings.ReplaceAll(strings.ReplaceAll(string(text), "\r\n", "\n"), "\n", "\r\n"))
				if !strings.Contains(string(text), "\r\n") {
					t.Fatal("CRLF variant not constructed")
				}
			}
			for _, form := range []struct {
				name string
				text []byte
			}{
				{"as_given", text},
				{"surrounded_by_whitespace", []byte("\n \t\r\n" + string(text) + "\r\n\n  \t")},
			} {
				k, err := ParsePrivateKey(form.text)
				if err != nil {
					t.Fatalf("%s: %v", form.name, err)
				}
				if string(k.Format) != v.Format {
					t.Errorf("%s: format %s, want %s", form.name, k.Format, v.Format)
				}
				wantContainer := ContainerPEM
				if strings.Contains(v.Container, "one base64 line") {
					wantContainer = ContainerBase64
				}
				if k.Container != wantContainer {
					t.Errorf("%s: container %s, want %s", form.name, k.Container, wantContainer)
				}
				sign, err := k.Sign([]byte(file.SignContent))
				if err != nil {
					t.Fatal(err)
				}
				if sign != file.ExpectedSign {
					t.Fatalf("%s: sign\n got %s\nwant %s", form.name, sign, file.ExpectedSign)
				}
				if v.SDKResult.Sign != "" && v.SDKResult.Sign != sign {
					t.Fatalf("%s: differs from the SDK's sign", form.name)
				}
			}
		})
	}
}

// keyBody returns the base64 body of a PEM or one-line key (armour and whitespace removed).
func keyBody(text []byte) string {
	var b strings.Builder
	for _, line := range strings.Split(string(text), "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "-----") || strings.Contains(line, ":") {
			continue
		}
		b.WriteString(line)
	}
	return b.String()
}

// keyAssertNoLeak fails when err's message contains any 12-character run of the key's
// base64 (or of its URL-safe form), or PEM armour.
func keyAssertNoLeak(t *testing.T, err error, material []byte) {
	t.Helper()
	msg := err.Error()
	if strings.Contains(msg, "-----") {
		t.Fatalf("error quotes PEM armour: %q", msg)
	}
	body := keyBody(material)
	const window = 12
	for i := 0; i+window <= len(body); i++ {
		if strings.Contains(msg, body[i:i+window]) {
			t.Fatalf("error contains key material %q: %q", body[i:i+window], msg)
		}
	}
}

func keyPEM(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func TestParsePrivateKeyAccepts(t *testing.T) {
	want := testAppKey(t).Public()
	pkcs8 := readTestdata(t, "keys/app_private_pkcs8.pem")
	cases := []struct {
		name      string
		text      []byte
		format    KeyFormat
		container Container
	}{
		{"pkcs1_pem", readTestdata(t, "keys/app_private_pkcs1.pem"), FormatPKCS1, ContainerPEM},
		{"pkcs1_one_line", readTestdata(t, "keys/app_private_pkcs1.txt"), FormatPKCS1, ContainerBase64},
		{"pkcs8_pem", pkcs8, FormatPKCS8, ContainerPEM},
		{"pkcs8_one_line", readTestdata(t, "keys/app_private_pkcs8.txt"), FormatPKCS8, ContainerBase64},
		{"pkcs8_pem_crlf", []byte(strings.ReplaceAll(string(pkcs8), "\n", "\r\n")), FormatPKCS8, ContainerPEM},
		{"pkcs8_one_line_without_padding", []byte(strings.TrimRight(strings.TrimSpace(string(readTestdata(t, "keys/app_private_pkcs8.txt"))), "=")), FormatPKCS8, ContainerBase64},
		{"pkcs8_body_rewrapped_at_76_columns", []byte(keyWrap(keyBody(pkcs8), 76)), FormatPKCS8, ContainerBase64},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			k, err := ParsePrivateKey(c.text)
			if err != nil {
				t.Fatal(err)
			}
			if k.Format != c.format || k.Container != c.container {
				t.Errorf("got %s/%s, want %s/%s", k.Format, k.Container, c.format, c.container)
			}
			if !k.Public().Equal(want) {
				t.Fatal("parsed a different key")
			}
		})
	}
}

func keyWrap(s string, n int) string {
	var b strings.Builder
	for len(s) > n {
		b.WriteString(s[:n] + "\n")
		s = s[n:]
	}
	b.WriteString(s)
	return b.String()
}

// keyTestMaterial builds the keys the rejection tables need (generated, never stored).
type keyTestMaterial struct {
	ecPKCS8, ecSPKI, rsa1024 []byte
}

func keyMakeMaterial(t *testing.T) keyTestMaterial {
	t.Helper()
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecPKCS8, err := x509.MarshalPKCS8PrivateKey(ec)
	if err != nil {
		t.Fatal(err)
	}
	ecSPKI, err := x509.MarshalPKIXPublicKey(&ec.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	return keyTestMaterial{
		ecPKCS8: keyPEM("PRIVATE KEY", ecPKCS8),
		ecSPKI:  keyPEM("PUBLIC KEY", ecSPKI),
		rsa1024: keyPEM("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(small)),
	}
}

// keyURLSafe rewrites a key's base64 in the URL-safe alphabet; the body must contain
// `+` or `/` for the test to mean anything.
func keyURLSafe(t *testing.T, text []byte) []byte {
	t.Helper()
	body := keyBody(text)
	if !strings.ContainsAny(body, "+/") {
		t.Fatal("test key body has no + or /")
	}
	return []byte(strings.NewReplacer("+", "-", "/", "_").Replace(body))
}

// keyEncryptedPEMs are encrypted private keys in both shapes: PKCS#8 "ENCRYPTED PRIVATE
// KEY" and the legacy OpenSSL Proc-Type header. Only the armour matters to the parser.
func keyEncryptedPEMs(t *testing.T) (pkcs8, legacy []byte) {
	t.Helper()
	body := make([]byte, 1218)
	if _, err := rand.Read(body); err != nil {
		t.Fatal(err)
	}
	pkcs8 = keyPEM("ENCRYPTED PRIVATE KEY", body)
	legacy = pem.EncodeToMemory(&pem.Block{
		Type:    "RSA PRIVATE KEY",
		Headers: map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-256-CBC,00112233445566778899AABBCCDDEEFF"},
		Bytes:   body,
	})
	return pkcs8, legacy
}

func TestParsePrivateKeyRejects(t *testing.T) {
	m := keyMakeMaterial(t)
	encPKCS8, encLegacy := keyEncryptedPEMs(t)
	cases := []struct {
		name    string
		text    []byte
		mention string // part of the message that tells the merchant what is wrong
	}{
		{"empty", nil, "empty"},
		{"whitespace_only", []byte(" \r\n\t"), "empty"},
		{"garbage", []byte("this is not a key at all!"), "base64"},
		{"base64_of_garbage", []byte(base64.StdEncoding.EncodeToString([]byte("definitely not DER"))), "RSA private key"},
		{"url_safe_base64", keyURLSafe(t, readTestdata(t, "keys/app_private_pkcs8.txt")), "base64"},
		{"truncated_key", []byte(keyBody(readTestdata(t, "keys/app_private_pkcs1.pem"))[:400]), "RSA private key"},
		{"ec_key", m.ecPKCS8, "RSA"},
		{"rsa_1024_bit_key", m.rsa1024, "2048"},
		{"public_key_given", readTestdata(t, "keys/app_public.pem"), "RSA private key"},
		{"certificate_given", readTestdata(t, "certs/app_cert.crt"), "RSA private key"},
		{"encrypted_pkcs8_pem", encPKCS8, "encrypted"},
		{"encrypted_legacy_openssl_pem", encLegacy, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			k, err := ParsePrivateKey(c.text)
			if err == nil {
				t.Fatalf("accepted as %s/%s", k.Format, k.Container)
			}
			if !errors.Is(err, ErrBadKey) {
				t.Fatalf("error %v does not wrap ErrBadKey", err)
			}
			if !strings.Contains(err.Error(), c.mention) {
				t.Errorf("error %q should mention %q", err, c.mention)
			}
			keyAssertNoLeak(t, err, c.text)
		})
	}
}

func TestParsePublicKeyAccepts(t *testing.T) {
	app := testAppKey(t)
	pkcs1 := keyPEM("RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(&app.RSA().PublicKey))
	cases := []struct {
		name      string
		text      []byte
		want      *PublicKey
		format    KeyFormat
		container Container
	}{
		{"spki_pem", readTestdata(t, "keys/app_public.pem"), app.Public(), FormatSPKI, ContainerPEM},
		{"spki_one_line_as_console_shows", readTestdata(t, "keys/app_public.txt"), app.Public(), FormatSPKI, ContainerBase64},
		{"alipay_spki_one_line", readTestdata(t, "keys/alipay_public.txt"), testAlipayKey(t).Public(), FormatSPKI, ContainerBase64},
		{"spki_pem_crlf_and_whitespace", []byte("  \r\n" + strings.ReplaceAll(string(readTestdata(t, "keys/alipay_public.pem")), "\n", "\r\n") + " \n"), testAlipayKey(t).Public(), FormatSPKI, ContainerPEM},
		{"pkcs1_public_pem", pkcs1, app.Public(), FormatPKCS1, ContainerPEM},
		{"x509_certificate_uses_its_key", readTestdata(t, "certs/app_cert.crt"), app.Public(), FormatCert, ContainerPEM},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			k, err := ParsePublicKey(c.text)
			if err != nil {
				t.Fatal(err)
			}
			if k.Format != c.format || k.Container != c.container {
				t.Errorf("got %s/%s, want %s/%s", k.Format, k.Container, c.format, c.container)
			}
			if !k.Equal(c.want) {
				t.Fatal("parsed a different key")
			}
		})
	}
}

func TestParsePublicKeyRejects(t *testing.T) {
	m := keyMakeMaterial(t)
	encPKCS8, _ := keyEncryptedPEMs(t)
	cases := []struct {
		name    string
		text    []byte
		mention string
	}{
		{"empty", nil, "empty"},
		{"garbage", []byte("not-a-key?"), "base64"},
		{"url_safe_base64", keyURLSafe(t, readTestdata(t, "keys/alipay_public.txt")), "base64"},
		{"ec_key", m.ecSPKI, "RSA"},
		{"pkcs1_private_key_given", readTestdata(t, "keys/app_private_pkcs1.pem"), "private key"},
		{"pkcs8_private_key_one_line_given", readTestdata(t, "keys/app_private_pkcs8.txt"), "private key"},
		{"encrypted_pem", encPKCS8, "encrypted"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			k, err := ParsePublicKey(c.text)
			if err == nil {
				t.Fatalf("accepted as %s/%s", k.Format, k.Container)
			}
			if !errors.Is(err, ErrBadKey) {
				t.Fatalf("error %v does not wrap ErrBadKey", err)
			}
			if !strings.Contains(err.Error(), c.mention) {
				t.Errorf("error %q should mention %q", err, c.mention)
			}
			keyAssertNoLeak(t, err, c.text)
		})
	}
}

func TestPublicKeyVerify(t *testing.T) {
	k := testAppKey(t)
	sign, err := k.Sign([]byte("a=1"))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		content string
		sign    string
		ok      bool
	}{
		{"valid", "a=1", sign, true},
		{"other_content", "a=2", sign, false},
		{"url_safe_sign", "a=1", strings.NewReplacer("+", "-", "/", "_").Replace(sign), !strings.ContainsAny(sign, "+/")},
		{"not_base64", "a=1", "***", false},
		{"empty_sign", "a=1", "", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := k.Public().Verify([]byte(c.content), c.sign)
			if c.ok != (err == nil) {
				t.Fatalf("ok=%v, err=%v", c.ok, err)
			}
			if err != nil && !errors.Is(err, ErrBadSignature) {
				t.Fatalf("error %v does not wrap ErrBadSignature", err)
			}
		})
	}
}

func TestParsePublicKeyRejectsShortRSAKey(t *testing.T) {
	k, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParsePublicKey([]byte(base64.StdEncoding.EncodeToString(der))); !errors.Is(err, ErrBadKey) {
		t.Fatalf("1024-bit public key accepted: %v", err)
	}
}
