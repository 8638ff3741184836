package alipay

import (
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
)

// Credentials are everything needed to sign requests and verify Alipay's signatures for
// one app. Once built they are immutable and safe to share between goroutines; a key
// rotation produces a new value.
type Credentials struct {
	AppID      string
	PrivateKey *PrivateKey

	// Key mode: Alipay's public key.
	AlipayPublicKey *PublicKey

	// Certificate mode (§7): the SNs sent with every request, Alipay's certificate keys
	// by their SN (alipay_cert_sn), and the root bundle used to validate a downloaded
	// Alipay certificate.
	AppCertSN        string
	AlipayRootCertSN string
	AlipayCerts      map[string]*PublicKey
	RootCerts        []*x509.Certificate

	// AlipayCertIssuer and AlipayCertSubject are the issuer and subject (RFC 2253) of
	// the configured Alipay certificate: a downloaded certificate must carry both, so a
	// certificate the root signed for someone else (a merchant's app certificate) is
	// never taken for Alipay's.
	AlipayCertIssuer  string
	AlipayCertSubject string

	// EncryptKey is the optional AES content-encryption key (§11), raw bytes.
	EncryptKey []byte

	// Version identifies where these credentials came from (e.g. the secret's version
	// id); informational, used to notice rotations.
	Version string
}

// ErrUnknownCertSN means a reply or notification names an Alipay certificate we do not
// hold: fetch and validate the new certificate first, never fall back to the old key.
var ErrUnknownCertSN = errors.New("alipay: unknown alipay_cert_sn")

// CertMode reports whether the credentials are in public-key certificate mode.
func (c *Credentials) CertMode() bool { return c.AppCertSN != "" }

// AlipayKey returns the key that verifies Alipay's signatures. In certificate mode certSN
// selects the certificate; an empty certSN picks the only certificate when there is one.
func (c *Credentials) AlipayKey(certSN string) (*PublicKey, error) {
	if !c.CertMode() {
		if c.AlipayPublicKey == nil {
			return nil, errors.New("alipay: credentials have no Alipay public key")
		}
		return c.AlipayPublicKey, nil
	}
	if certSN == "" {
		if len(c.AlipayCerts) == 1 {
			for _, k := range c.AlipayCerts {
				return k, nil
			}
		}
		return nil, fmt.Errorf("%w: reply carries no alipay_cert_sn", ErrUnknownCertSN)
	}
	k, ok := c.AlipayCerts[certSN]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrUnknownCertSN, certSN)
	}
	return k, nil
}

// Validate checks that the credentials are complete enough to sign and verify. Errors
// name the missing field.
func (c *Credentials) Validate() error {
	switch {
	case c == nil:
		return errors.New("alipay: no credentials")
	case c.AppID == "":
		return errors.New("alipay: credentials: app_id is missing")
	case c.PrivateKey == nil:
		return errors.New("alipay: credentials: private_key is missing")
	case !c.CertMode() && c.AlipayPublicKey == nil:
		return errors.New("alipay: credentials: alipay_public_key is missing (or give app_cert, alipay_public_cert and alipay_root_cert)")
	case c.CertMode() && (len(c.AlipayCerts) == 0 || c.AlipayRootCertSN == ""):
		return errors.New("alipay: credentials: certificate mode needs alipay_public_cert and alipay_root_cert")
	}
	return nil
}

// String keeps key material out of %v and %+v: credentials reach test failures and log
// lines by accident more often than on purpose, so only identifiers are printed.
func (c Credentials) String() string {
	mode := "key"
	if c.AppCertSN != "" {
		mode = "cert"
	}
	return fmt.Sprintf("alipay.Credentials{AppID:%q mode:%s AppCertSN:%q AlipayRootCertSN:%q alipayCerts:%d encryptKey:%t Version:%q}",
		c.AppID, mode, c.AppCertSN, c.AlipayRootCertSN, len(c.AlipayCerts), len(c.EncryptKey) > 0, c.Version)
}

// GoString is String for %#v.
func (c Credentials) GoString() string { return c.String() }

// LogValue is String for log/slog.
func (c Credentials) LogValue() slog.Value { return slog.StringValue(c.String()) }
