package alipay

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// ErrBadKey is wrapped by every key-parsing error. Messages name the formats that were
// tried and never include key bytes.
var ErrBadKey = errors.New("alipay: bad key")

// KeyFormat says which encoding a key was found in.
type KeyFormat string

// Key formats recognised by the parsers.
const (
	FormatPKCS1 KeyFormat = "PKCS#1"
	FormatPKCS8 KeyFormat = "PKCS#8"
	FormatSPKI  KeyFormat = "SPKI"
	FormatCert  KeyFormat = "X.509 certificate"
)

// Container says whether a key came as a PEM block or one bare base64 line.
type Container string

// Containers recognised by the parsers.
const (
	ContainerPEM    Container = "PEM"
	ContainerBase64 Container = "base64"
)

// keyDER strips PEM armour lines and all whitespace and base64-decodes what is left
// (standard alphabet, padding optional). Merchants paste keys with CRLF, stray spaces
// and with or without headers; all of those are the same key.
func keyDER(text []byte) ([]byte, Container, error) {
	s := string(text)
	container := ContainerBase64
	var b strings.Builder
	b.Grow(len(s))
	for _, line := range strings.Split(s, "\n") {
		t := strings.TrimSpace(line)
		if (strings.HasPrefix(t, "-----") || strings.Contains(t, ":")) && strings.Contains(t, "ENCRYPTED") {
			return nil, ContainerPEM, fmt.Errorf("%w: encrypted PEM keys are not supported; export it unencrypted (PKCS#1 or PKCS#8)", ErrBadKey)
		}
		if strings.HasPrefix(t, "-----") {
			container = ContainerPEM
			continue
		}
		if strings.Contains(t, ":") { // PEM headers such as Proc-Type
			continue
		}
		for _, r := range t {
			if r != ' ' && r != '\t' && r != '\r' {
				b.WriteRune(r)
			}
		}
	}
	raw := strings.TrimRight(b.String(), "=")
	if raw == "" {
		return nil, container, fmt.Errorf("%w: empty key", ErrBadKey)
	}
	der, err := base64.RawStdEncoding.DecodeString(raw)
	if err != nil {
		return nil, container, fmt.Errorf("%w: not base64 (standard alphabet) after removing PEM armour and whitespace", ErrBadKey)
	}
	return der, container, nil
}

// PrivateKey is a parsed app private key, precomputed and safe for concurrent use.
type PrivateKey struct {
	key       *rsa.PrivateKey
	Format    KeyFormat
	Container Container
}

// ParsePrivateKey accepts an RSA private key as PKCS#1 or PKCS#8, in a PEM block or as
// one bare base64 line, and precomputes its CRT values once.
func ParsePrivateKey(text []byte) (*PrivateKey, error) {
	der, container, err := keyDER(text)
	if err != nil {
		return nil, err
	}
	if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return newPrivateKey(k, FormatPKCS1, container)
	}
	if k, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("%w: PKCS#8 key is %T, RSA2 needs an RSA key", ErrBadKey, k)
		}
		return newPrivateKey(rk, FormatPKCS8, container)
	}
	return nil, fmt.Errorf("%w: not an RSA private key (tried PKCS#1 and PKCS#8, %s container)", ErrBadKey, container)
}

func newPrivateKey(k *rsa.PrivateKey, f KeyFormat, c Container) (*PrivateKey, error) {
	if err := k.Validate(); err != nil {
		return nil, fmt.Errorf("%w: RSA private key is inconsistent", ErrBadKey)
	}
	if k.N.BitLen() < 2048 {
		return nil, fmt.Errorf("%w: RSA2 needs a key of at least 2048 bits, got %d", ErrBadKey, k.N.BitLen())
	}
	k.Precompute()
	return &PrivateKey{key: k, Format: f, Container: c}, nil
}

// RSA returns the underlying key (for tests and tools that must do bare crypto).
func (k *PrivateKey) RSA() *rsa.PrivateKey { return k.key }

// Public returns the public half.
func (k *PrivateKey) Public() *PublicKey {
	return &PublicKey{key: &k.key.PublicKey, Format: FormatSPKI}
}

// NewPrivateKey wraps an already parsed RSA key (generated dev keys, tests).
func NewPrivateKey(k *rsa.PrivateKey) (*PrivateKey, error) {
	return newPrivateKey(k, FormatPKCS1, ContainerPEM)
}

// Sign returns the standard base64 RSA-SHA256 PKCS#1 v1.5 signature of content.
func (k *PrivateKey) Sign(content []byte) (string, error) {
	sum := sha256.Sum256(content)
	sig, err := rsa.SignPKCS1v15(nil, k.key, crypto.SHA256, sum[:])
	if err != nil {
		return "", fmt.Errorf("alipay: sign: %w", err)
	}
	return base64.StdEncoding.EncodeToString(sig), nil
}

// PublicKey is a parsed RSA public key (Alipay's, or the app's in tests).
type PublicKey struct {
	key       *rsa.PublicKey
	Format    KeyFormat
	Container Container
}

// ParsePublicKey accepts an RSA public key as SPKI (what Alipay's console shows) or
// PKCS#1, PEM or bare base64, or an X.509 certificate (its key is used).
func ParsePublicKey(text []byte) (*PublicKey, error) {
	der, container, err := keyDER(text)
	if err != nil {
		return nil, err
	}
	if k, err := x509.ParsePKIXPublicKey(der); err == nil {
		rk, ok := k.(*rsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("%w: SPKI key is %T, RSA2 needs an RSA key", ErrBadKey, k)
		}
		return checkPublicSize(&PublicKey{key: rk, Format: FormatSPKI, Container: container})
	}
	if k, err := x509.ParsePKCS1PublicKey(der); err == nil {
		return checkPublicSize(&PublicKey{key: k, Format: FormatPKCS1, Container: container})
	}
	if c, err := x509.ParseCertificate(der); err == nil {
		rk, ok := c.PublicKey.(*rsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("%w: certificate key is not RSA", ErrBadKey)
		}
		return checkPublicSize(&PublicKey{key: rk, Format: FormatCert, Container: container})
	}
	if _, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return nil, fmt.Errorf("%w: this is a private key; a public key (SPKI) is expected here", ErrBadKey)
	}
	if _, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		return nil, fmt.Errorf("%w: this is a private key; a public key (SPKI) is expected here", ErrBadKey)
	}
	return nil, fmt.Errorf("%w: not an RSA public key (tried SPKI, PKCS#1 and X.509 certificate, %s container)", ErrBadKey, container)
}

// checkPublicSize rejects keys too short for RSA2 (SHA256withRSA needs 2048 bits).
func checkPublicSize(k *PublicKey) (*PublicKey, error) {
	if n := k.key.N.BitLen(); n < 2048 {
		return nil, fmt.Errorf("%w: RSA2 needs a key of at least 2048 bits, got %d", ErrBadKey, n)
	}
	return k, nil
}

// NewPublicKey wraps an already parsed RSA public key.
func NewPublicKey(k *rsa.PublicKey) *PublicKey { return &PublicKey{key: k, Format: FormatSPKI} }

// RSA returns the underlying key.
func (k *PublicKey) RSA() *rsa.PublicKey { return k.key }

// Equal reports whether two public keys are the same key.
func (k *PublicKey) Equal(o *PublicKey) bool {
	return k != nil && o != nil && k.key.Equal(o.key)
}

// Fingerprint identifies a key in logs without revealing it: the first 8 bytes of the
// SHA-256 of its SPKI DER, in hex.
func (k *PublicKey) Fingerprint() string {
	der, err := x509.MarshalPKIXPublicKey(k.key)
	if err != nil {
		return "unknown"
	}
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:8])
}

// ErrBadSignature is wrapped by every verification failure.
var ErrBadSignature = errors.New("alipay: signature does not verify")

// Verify checks a standard base64 RSA-SHA256 PKCS#1 v1.5 signature over content.
func (k *PublicKey) Verify(content []byte, sign string) error {
	sig, err := base64.StdEncoding.DecodeString(sign)
	if err != nil {
		return fmt.Errorf("%w: sign is not standard base64", ErrBadSignature)
	}
	sum := sha256.Sum256(content)
	if err := rsa.VerifyPKCS1v15(k.key, crypto.SHA256, sum[:], sig); err != nil {
		return ErrBadSignature
	}
	return nil
}
