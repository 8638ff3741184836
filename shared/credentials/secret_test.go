package credentials

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
)

type certSNVectors struct {
	AppCertSN        struct{ Value string } `json:"app_cert_sn"`
	AlipayCertSN     struct{ Value string } `json:"alipay_cert_sn"`
	AlipayRootCertSN struct{ Value string } `json:"alipay_root_cert_sn"`
}

func loadCertSNs(t *testing.T) certSNVectors {
	t.Helper()
	var v certSNVectors
	if err := json.Unmarshal([]byte(readTestdata(t, "vectors/cert_sn.json")), &v); err != nil {
		t.Fatal(err)
	}
	if v.AppCertSN.Value == "" || v.AlipayCertSN.Value == "" || v.AlipayRootCertSN.Value == "" {
		t.Fatal("cert_sn.json: SN values missing")
	}
	return v
}

func certModeFields(t testing.TB) map[string]any {
	t.Helper()
	return map[string]any{
		FieldAppID:       "2021000000000001",
		FieldPrivateKey:  readTestdata(t, "keys/app_private_pkcs8.txt"),
		FieldAppCert:     readTestdata(t, "certs/app_cert.crt"),
		FieldAlipayCert:  readTestdata(t, "certs/alipay_public_cert.crt"),
		FieldRootCert:    readTestdata(t, "certs/alipay_root_cert.crt"),
		FieldEncryptKey:  strings.TrimSpace(readTestdata(t, "keys/aes_key.txt")),
		"alipay_comment": "unknown fields are ignored",
	}
}

func with(fields map[string]any, kv ...any) map[string]any {
	out := make(map[string]any, len(fields))
	for k, v := range fields {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
		} else {
			out[kv[i].(string)] = kv[i+1]
		}
	}
	return out
}

// checkKeys proves the keys landed in the right places: the app key signs what the app
// public key verifies, and the Alipay key verifies what the simulated Alipay key signs.
func checkKeys(t *testing.T, c *alipay.Credentials, alipayKey *alipay.PublicKey) {
	t.Helper()
	appPub, err := alipay.ParsePublicKey([]byte(readTestdata(t, "keys/app_public.pem")))
	if err != nil {
		t.Fatal(err)
	}
	sig, err := c.PrivateKey.Sign([]byte("app_id=2021000000000001"))
	if err != nil {
		t.Fatal(err)
	}
	if err := appPub.Verify([]byte("app_id=2021000000000001"), sig); err != nil {
		t.Errorf("private_key is not the reference app key: %v", err)
	}
	alipayPriv, err := alipay.ParsePrivateKey([]byte(readTestdata(t, "keys/alipay_private_pkcs1.pem")))
	if err != nil {
		t.Fatal(err)
	}
	sig, err = alipayPriv.Sign([]byte("reply"))
	if err != nil {
		t.Fatal(err)
	}
	if err := alipayKey.Verify([]byte("reply"), sig); err != nil {
		t.Errorf("Alipay key is not the simulated Alipay key: %v", err)
	}
}

func TestParseSecretAccepts(t *testing.T) {
	sns := loadCertSNs(t)
	aes, err := base64.StdEncoding.DecodeString(strings.TrimSpace(readTestdata(t, "keys/aes_key.txt")))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		fields   map[string]any
		certMode bool
		format   alipay.KeyFormat
		encrypt  bool
	}{
		{name: "key_mode_pkcs1_pem_keys", fields: keyModeFields(t, "keys/alipay_public.pem"), format: alipay.FormatPKCS1},
		{name: "key_mode_pkcs8_one_line_keys", fields: with(keyModeFields(t, "keys/alipay_public.txt"),
			FieldPrivateKey, readTestdata(t, "keys/app_private_pkcs8.txt")), format: alipay.FormatPKCS8},
		{name: "key_mode_pkcs8_pem_private_key", fields: with(keyModeFields(t, "keys/alipay_public.txt"),
			FieldPrivateKey, readTestdata(t, "keys/app_private_pkcs8.pem")), format: alipay.FormatPKCS8},
		{name: "key_mode_pkcs1_one_line_private_key", fields: with(keyModeFields(t, "keys/alipay_public.pem"),
			FieldPrivateKey, readTestdata(t, "keys/app_private_pkcs1.txt")), format: alipay.FormatPKCS1},
		{name: "key_mode_crlf_pem_and_padded_app_id", fields: with(keyModeFields(t, "keys/alipay_public.pem"),
			FieldPrivateKey, strings.ReplaceAll(readTestdata(t, "keys/app_private_pkcs1.pem"), "\n", "\r\n"),
			FieldAppID, " 2021000000000001\n"), format: alipay.FormatPKCS1},
		{name: "unknown_fields_and_null_optionals_are_ignored", fields: with(keyModeFields(t, "keys/alipay_public.pem"),
			"sign_type", "RSA2", "nested", map[string]any{"x": 1}, FieldEncryptKey, json.RawMessage("null")), format: alipay.FormatPKCS1},
		{name: "key_mode_with_encrypt_key", fields: with(keyModeFields(t, "keys/alipay_public.pem"),
			FieldEncryptKey, strings.TrimSpace(readTestdata(t, "keys/aes_key.txt"))), format: alipay.FormatPKCS1, encrypt: true},
		{name: "cert_mode_with_reference_certificates", fields: certModeFields(t), certMode: true, format: alipay.FormatPKCS8, encrypt: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseSecret([]byte(secretJSON(t, tc.fields)))
			if err != nil {
				t.Fatalf("ParseSecret: %v", err)
			}
			if err := c.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if c.AppID != "2021000000000001" {
				t.Errorf("AppID = %q", c.AppID)
			}
			if c.PrivateKey.Format != tc.format {
				t.Errorf("private key format = %s, want %s", c.PrivateKey.Format, tc.format)
			}
			if c.CertMode() != tc.certMode {
				t.Fatalf("CertMode = %v, want %v", c.CertMode(), tc.certMode)
			}
			if tc.encrypt != (len(c.EncryptKey) > 0) {
				t.Errorf("EncryptKey set = %v, want %v", len(c.EncryptKey) > 0, tc.encrypt)
			}
			if tc.encrypt && string(c.EncryptKey) != string(aes) {
				t.Errorf("EncryptKey is not aes_key.txt decoded")
			}
			var alipayKey *alipay.PublicKey
			if tc.certMode {
				if c.AppCertSN != sns.AppCertSN.Value {
					t.Errorf("AppCertSN = %s, want %s", c.AppCertSN, sns.AppCertSN.Value)
				}
				if c.AlipayRootCertSN != sns.AlipayRootCertSN.Value {
					t.Errorf("AlipayRootCertSN = %s, want %s", c.AlipayRootCertSN, sns.AlipayRootCertSN.Value)
				}
				if alipayKey, err = c.AlipayKey(sns.AlipayCertSN.Value); err != nil {
					t.Fatalf("AlipayKey(%s): %v", sns.AlipayCertSN.Value, err)
				}
				if c.AlipayPublicKey != nil {
					t.Errorf("cert mode must not set AlipayPublicKey")
				}
			} else {
				if alipayKey, err = c.AlipayKey(""); err != nil {
					t.Fatal(err)
				}
			}
			checkKeys(t, c, alipayKey)
		})
	}
}

func TestParseSecretRejects(t *testing.T) {
	key := keyModeFields(t, "keys/alipay_public.pem")
	cert := certModeFields(t)
	privPEM := readTestdata(t, "keys/app_private_pkcs1.pem")
	// The reference key with its body damaged: still base64, no longer a key.
	damaged := strings.Replace(privPEM, "\nM", "\nAAAA", 1)
	tests := []struct {
		name  string
		data  string
		kind  error
		field string
	}{
		{"empty_secret_is_malformed", "", ErrMalformed, ""},
		{"non_json_is_malformed_without_echoing_it", `{"private_key": "` + strings.ReplaceAll(privPEM, "\n", "") + `" "app_id": 1}`, ErrMalformed, ""},
		{"json_array_is_malformed", `[1,2]`, ErrMalformed, ""},
		{"json_null_is_malformed", `null`, ErrMalformed, ""},
		{"missing_app_id_is_named", secretJSON(t, with(key, FieldAppID, nil)), ErrMalformed, FieldAppID},
		{"blank_app_id_is_named", secretJSON(t, with(key, FieldAppID, "  ")), ErrMalformed, FieldAppID},
		{"app_id_not_a_string_is_named", secretJSON(t, with(key, FieldAppID, 2021000000000001)), ErrMalformed, FieldAppID},
		{"app_id_with_inner_space_is_named", secretJSON(t, with(key, FieldAppID, "2021 0001")), ErrMalformed, FieldAppID},
		{"missing_private_key_is_named", secretJSON(t, with(key, FieldPrivateKey, nil)), ErrMalformed, FieldPrivateKey},
		{"private_key_not_a_string_is_named", secretJSON(t, with(key, FieldPrivateKey, []string{privPEM})), ErrMalformed, FieldPrivateKey},
		{"garbage_private_key_is_named", secretJSON(t, with(key, FieldPrivateKey, "not a key!")), ErrBadKey, FieldPrivateKey},
		{"damaged_private_key_is_named", secretJSON(t, with(key, FieldPrivateKey, damaged)), ErrBadKey, FieldPrivateKey},
		{"public_key_as_private_key_is_named", secretJSON(t, with(key, FieldPrivateKey, readTestdata(t, "keys/app_public.pem"))), ErrBadKey, FieldPrivateKey},
		{"missing_alipay_public_key_is_named", secretJSON(t, with(key, FieldAlipayPublicKey, nil)), ErrMalformed, FieldAlipayPublicKey},
		{"garbage_alipay_public_key_is_named", secretJSON(t, with(key, FieldAlipayPublicKey, "MIIB%%%")), ErrBadKey, FieldAlipayPublicKey},
		{"private_key_as_alipay_public_key_is_named", secretJSON(t, with(key, FieldAlipayPublicKey, readTestdata(t, "keys/alipay_private_pkcs8.pem"))), ErrBadKey, FieldAlipayPublicKey},
		{"key_mode_and_cert_mode_together_is_named", secretJSON(t, with(cert, FieldAlipayPublicKey, readTestdata(t, "keys/alipay_public.txt"))), ErrMalformed, FieldAlipayPublicKey},
		{"cert_mode_missing_app_cert_is_named", secretJSON(t, with(cert, FieldAppCert, nil)), ErrMalformed, FieldAppCert},
		{"cert_mode_missing_alipay_public_cert_is_named", secretJSON(t, with(cert, FieldAlipayCert, nil)), ErrMalformed, FieldAlipayCert},
		{"cert_mode_missing_alipay_root_cert_is_named", secretJSON(t, with(cert, FieldRootCert, nil)), ErrMalformed, FieldRootCert},
		{"garbage_app_cert_is_named", secretJSON(t, with(cert, FieldAppCert, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")), ErrBadKey, FieldAppCert},
		{"key_in_app_cert_is_named", secretJSON(t, with(cert, FieldAppCert, readTestdata(t, "keys/app_public.pem"))), ErrBadKey, FieldAppCert},
		{"app_cert_of_another_key_is_named", secretJSON(t, with(cert, FieldAppCert, readTestdata(t, "certs/alipay_public_cert.crt"))), ErrBadKey, FieldAppCert},
		{"garbage_alipay_public_cert_is_named", secretJSON(t, with(cert, FieldAlipayCert, "no pem here")), ErrBadKey, FieldAlipayCert},
		{"garbage_alipay_root_cert_is_named", secretJSON(t, with(cert, FieldRootCert, "no pem here")), ErrBadKey, FieldRootCert},
		{"app_cert_given_as_alipay_public_cert_is_rejected", secretJSON(t, with(cert, FieldAlipayCert, readTestdata(t, "certs/app_cert.crt"))), ErrBadKey, ""},
		{"encrypt_key_bad_base64_is_named", secretJSON(t, with(key, FieldEncryptKey, "not*base64")), ErrBadKey, FieldEncryptKey},
		{"encrypt_key_wrong_length_is_named", secretJSON(t, with(key, FieldEncryptKey, base64.StdEncoding.EncodeToString([]byte("short")))), ErrBadKey, FieldEncryptKey},
		{"encrypt_key_not_a_string_is_named", secretJSON(t, with(key, FieldEncryptKey, 16)), ErrMalformed, FieldEncryptKey},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseSecret([]byte(tc.data))
			if err == nil {
				t.Fatalf("ParseSecret accepted it: %+v", c)
			}
			if c != nil {
				t.Errorf("credentials returned with an error")
			}
			if !errors.Is(err, tc.kind) || !errors.Is(err, ErrUnavailable) {
				t.Errorf("error %q is not %v wrapping ErrUnavailable", err, tc.kind)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T is not *Error", err)
			}
			if e.Field != tc.field {
				t.Errorf("Field = %q, want %q (error %q)", e.Field, tc.field, err)
			}
			if tc.field != "" && !strings.Contains(err.Error(), tc.field) {
				t.Errorf("error %q does not name %s", err, tc.field)
			}
			assertNoKeyMaterial(t, "error", err.Error())
			t.Log(err)
		})
	}
}
