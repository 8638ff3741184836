package credentials

import (
	"bytes"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
)

// Field names of the credentials secret JSON (docs/design.md#credentials-secret).
const (
	FieldAppID           = "app_id"
	FieldPrivateKey      = "private_key"
	FieldAlipayPublicKey = "alipay_public_key"
	FieldAppCert         = "app_cert"
	FieldAlipayCert      = "alipay_public_cert"
	FieldRootCert        = "alipay_root_cert"
	FieldEncryptKey      = "encrypt_key"
)

// material is the raw text of every credential field, whatever it came from.
type material struct {
	appID, privateKey, alipayPublicKey, appCert, alipayCert, rootCert, encryptKey string
}

// fieldNames says what to call each field in errors: JSON names for the secret, variable
// names for the environment.
type fieldNames struct {
	appID, privateKey, alipayPublicKey, appCert, alipayCert, rootCert, encryptKey string
}

var jsonNames = fieldNames{
	appID:           FieldAppID,
	privateKey:      FieldPrivateKey,
	alipayPublicKey: FieldAlipayPublicKey,
	appCert:         FieldAppCert,
	alipayCert:      FieldAlipayCert,
	rootCert:        FieldRootCert,
	encryptKey:      FieldEncryptKey,
}

// ParseSecret parses the credentials secret JSON: app_id, private_key, then either
// alipay_public_key (key mode) or app_cert, alipay_public_cert and alipay_root_cert
// (certificate mode), and optionally encrypt_key. Unknown fields are ignored. Errors
// are *Error (ErrMalformed or ErrBadKey) naming the field, never its value.
func ParseSecret(data []byte) (*alipay.Credentials, error) {
	m, err := decodeSecret(data)
	if err != nil {
		return nil, err
	}
	return build(m, jsonNames)
}

func decodeSecret(data []byte) (material, error) {
	var m material
	if len(bytes.TrimSpace(data)) == 0 {
		return m, &Error{Kind: ErrMalformed, Err: errors.New("secret is empty")}
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		// json's messages may quote a character of the input; report only the position.
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return m, &Error{Kind: ErrMalformed, Err: fmt.Errorf("secret is not valid JSON (syntax error at byte %d)", se.Offset)}
		}
		return m, &Error{Kind: ErrMalformed, Err: errors.New("secret is not a JSON object")}
	}
	if raw == nil {
		return m, &Error{Kind: ErrMalformed, Err: errors.New("secret is not a JSON object")}
	}
	for _, f := range []struct {
		name string
		dst  *string
	}{
		{FieldAppID, &m.appID},
		{FieldPrivateKey, &m.privateKey},
		{FieldAlipayPublicKey, &m.alipayPublicKey},
		{FieldAppCert, &m.appCert},
		{FieldAlipayCert, &m.alipayCert},
		{FieldRootCert, &m.rootCert},
		{FieldEncryptKey, &m.encryptKey},
	} {
		v, ok := raw[f.name]
		if !ok || string(v) == "null" {
			continue
		}
		if err := json.Unmarshal(v, f.dst); err != nil {
			return m, &Error{Kind: ErrMalformed, Field: f.name, Err: errors.New("must be a JSON string")}
		}
	}
	return m, nil
}

func missing(field, hint string) error {
	msg := "is missing"
	if hint != "" {
		msg += " (" + hint + ")"
	}
	return &Error{Kind: ErrMalformed, Field: field, Err: errors.New(msg)}
}

func badKey(field string, err error) error {
	return &Error{Kind: ErrBadKey, Field: field, Err: err}
}

func blank(s string) bool { return strings.TrimSpace(s) == "" }

// build turns raw field text into validated credentials; n names the fields in errors.
func build(m material, n fieldNames) (*alipay.Credentials, error) {
	appID := strings.TrimSpace(m.appID)
	if appID == "" {
		return nil, missing(n.appID, "")
	}
	if strings.IndexFunc(appID, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
		return nil, &Error{Kind: ErrMalformed, Field: n.appID, Err: errors.New("contains whitespace or control characters")}
	}
	if blank(m.privateKey) {
		return nil, missing(n.privateKey, "")
	}
	priv, err := alipay.ParsePrivateKey([]byte(m.privateKey))
	if err != nil {
		return nil, badKey(n.privateKey, err)
	}

	keyMode := !blank(m.alipayPublicKey)
	certMode := !blank(m.appCert) || !blank(m.alipayCert) || !blank(m.rootCert)
	var creds *alipay.Credentials
	switch {
	case keyMode && certMode:
		return nil, &Error{Kind: ErrMalformed, Field: n.alipayPublicKey, Err: fmt.Errorf(
			"cannot be combined with %s, %s or %s: choose key mode or certificate mode", n.appCert, n.alipayCert, n.rootCert)}
	case keyMode:
		pub, err := alipay.ParsePublicKey([]byte(m.alipayPublicKey))
		if err != nil {
			return nil, badKey(n.alipayPublicKey, err)
		}
		creds = &alipay.Credentials{AppID: appID, PrivateKey: priv, AlipayPublicKey: pub}
	case certMode:
		creds, err = buildCertMode(appID, priv, m, n)
		if err != nil {
			return nil, err
		}
	default:
		return nil, missing(n.alipayPublicKey, fmt.Sprintf("key mode needs it; certificate mode needs %s, %s and %s instead", n.appCert, n.alipayCert, n.rootCert))
	}

	if !blank(m.encryptKey) {
		k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(m.encryptKey))
		if err != nil {
			return nil, badKey(n.encryptKey, errors.New("not standard base64"))
		}
		switch len(k) {
		case 16, 24, 32:
		default:
			return nil, badKey(n.encryptKey, fmt.Errorf("an AES key is 16, 24 or 32 bytes, got %d", len(k)))
		}
		creds.EncryptKey = k
	}
	if err := creds.Validate(); err != nil {
		return nil, &Error{Kind: ErrMalformed, Err: err}
	}
	return creds, nil
}

func buildCertMode(appID string, priv *alipay.PrivateKey, m material, n fieldNames) (*alipay.Credentials, error) {
	for _, c := range []struct{ name, text string }{
		{n.appCert, m.appCert},
		{n.alipayCert, m.alipayCert},
		{n.rootCert, m.rootCert},
	} {
		if blank(c.text) {
			return nil, missing(c.name, fmt.Sprintf("certificate mode needs %s, %s and %s", n.appCert, n.alipayCert, n.rootCert))
		}
	}
	// Check each file on its own first so the error names the field (in env mode, the
	// variable); NewCertCredentials then does the SNs (it does
	// not chain-check the configured Alipay certificate, as the SDKs do not).
	appCerts, err := alipay.ParseCertificates([]byte(m.appCert))
	if err != nil {
		return nil, badKey(n.appCert, err)
	}
	// The most common cause of Alipay rejecting every request: the app certificate was
	// issued for another key pair than the private key configured beside it.
	if k, ok := appCerts[0].PublicKey.(*rsa.PublicKey); !ok || !priv.Public().Equal(alipay.NewPublicKey(k)) {
		return nil, badKey(n.appCert, fmt.Errorf("does not certify the public half of %s", n.privateKey))
	}
	if _, err := alipay.ParseCertificates([]byte(m.alipayCert)); err != nil {
		return nil, badKey(n.alipayCert, err)
	}
	if _, err := alipay.RootCertSN([]byte(m.rootCert)); err != nil {
		return nil, badKey(n.rootCert, err)
	}
	creds, err := alipay.NewCertCredentials(appID, priv, []byte(m.appCert), []byte(m.alipayCert), []byte(m.rootCert))
	if err != nil {
		// What is left (e.g. the app certificate given as Alipay's) is named by
		// alipay's message.
		return nil, badKey("", err)
	}
	return creds, nil
}
