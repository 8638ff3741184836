package alipay

import (
	"crypto/md5"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"maps"
	"math/big"
	"strings"
	"time"
)

// ErrBadCert is wrapped by every certificate-mode error. Messages name the file
// (app_cert, alipay_public_cert, alipay_root_cert) and never quote its content.
var ErrBadCert = errors.New("alipay: bad certificate")

// certError names the file at fault; the underlying error stays reachable through
// errors.Is/As but is not printed, because x509 messages quote certificate names.
type certError struct {
	field string
	msg   string
	err   error
}

func (e *certError) Error() string { return "alipay: " + e.field + ": " + e.msg }

func (e *certError) Unwrap() []error {
	if e.err == nil {
		return []error{ErrBadCert}
	}
	return []error{ErrBadCert, e.err}
}

func certErr(field, msg string, err error) error {
	return &certError{field: field, msg: msg, err: err}
}

// certRSAOID is the PKCS#1 arc: signature algorithms 1.2.840.113549.1.1.* (sha1WithRSA,
// sha256WithRSA, …) are the ones whose roots count for alipay_root_cert_sn (§7.2).
var certRSAOID = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1}

// certSNFields is just enough of an X.509 certificate to compute its SN. It is parsed
// with encoding/asn1 instead of x509.ParseCertificate because Alipay's production root
// bundle holds an SM2 root that crypto/x509 refuses ("unsupported elliptic curve",
// golang/go#70136); its SN is skipped but the bundle must still load.
type certSNFields struct {
	TBS struct {
		Version      int `asn1:"optional,explicit,default:0,tag:0"`
		SerialNumber *big.Int
		Signature    pkix.AlgorithmIdentifier
		Issuer       asn1.RawValue
		// The remaining TBS fields are not needed; encoding/asn1 allows them to trail.
	}
	SignatureAlgorithm pkix.AlgorithmIdentifier
	SignatureValue     asn1.BitString
}

// certBlocks returns the DER of every CERTIFICATE block in pemData, in file order. Any
// other PEM block (a private key pasted into the wrong field) is an error.
func certBlocks(field string, pemData []byte) ([][]byte, error) {
	var ders [][]byte
	rest := pemData
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, certErr(field, fmt.Sprintf("contains a %q PEM block; only CERTIFICATE blocks are expected", block.Type), nil)
		}
		ders = append(ders, block.Bytes)
	}
	if len(ders) == 0 {
		return nil, certErr(field, "no PEM CERTIFICATE block found", nil)
	}
	return ders, nil
}

// certIssuerSerial returns the two halves of the SN input (§7.1): the issuer DN in RFC
// 2253 form and the serial number in decimal, plus the certificate's signature
// algorithm. The DN comes from the RDNSequence as encoded in the certificate, whose
// String() prints RDNs in reverse encoding order like Java's X500Principal.getName();
// pkix.Name.String() would re-sort attributes and break issuers encoded CN first.
func certIssuerSerial(field string, der []byte) (dn, serial string, sigAlg asn1.ObjectIdentifier, err error) {
	var c certSNFields
	rest, err := asn1.Unmarshal(der, &c)
	if err != nil || len(rest) != 0 {
		return "", "", nil, certErr(field, "malformed X.509 certificate", err)
	}
	if c.TBS.SerialNumber == nil || c.TBS.SerialNumber.Sign() < 0 {
		return "", "", nil, certErr(field, "certificate serial number is negative", nil)
	}
	var rdns pkix.RDNSequence
	rest, err = asn1.Unmarshal(c.TBS.Issuer.FullBytes, &rdns)
	if err != nil || len(rest) != 0 {
		return "", "", nil, certErr(field, "malformed issuer name", err)
	}
	return rdns.String(), c.TBS.SerialNumber.String(), c.SignatureAlgorithm.Algorithm, nil
}

func certSNOf(field string, der []byte) (string, asn1.ObjectIdentifier, error) {
	dn, serial, alg, err := certIssuerSerial(field, der)
	if err != nil {
		return "", nil, err
	}
	sum := md5.Sum([]byte(dn + serial))
	return hex.EncodeToString(sum[:]), alg, nil
}

func certIsRSASigned(alg asn1.ObjectIdentifier) bool {
	return len(alg) > len(certRSAOID) && alg[:len(certRSAOID)].Equal(certRSAOID)
}

// CertSN returns the SN of the first certificate in a PEM file (§7.1): the lower-case
// hex MD5 of its issuer DN (RFC 2253) immediately followed by its serial in decimal.
// This is app_cert_sn for the app certificate and alipay_cert_sn for Alipay's.
func CertSN(pemData []byte) (string, error) {
	return certFirstSN("certificate", pemData)
}

func certFirstSN(field string, pemData []byte) (string, error) {
	ders, err := certBlocks(field, pemData)
	if err != nil {
		return "", err
	}
	sn, _, err := certSNOf(field, ders[0])
	return sn, err
}

// RootCertSN returns alipay_root_cert_sn for a root bundle (§7.2): the SNs of the
// certificates signed with an RSA-family algorithm (OID 1.2.840.113549.1.1.*), in file
// order, joined by `_`. Other roots (ECDSA, SM2) are skipped.
func RootCertSN(bundle []byte) (string, error) {
	return certRootSN("alipay_root_cert", bundle)
}

func certRootSN(field string, bundle []byte) (string, error) {
	ders, err := certBlocks(field, bundle)
	if err != nil {
		return "", err
	}
	var sns []string
	for _, der := range ders {
		sn, alg, err := certSNOf(field, der)
		if err != nil {
			return "", err
		}
		if certIsRSASigned(alg) {
			sns = append(sns, sn)
		}
	}
	if len(sns) == 0 {
		return "", certErr(field, "no RSA root certificate (signature algorithm 1.2.840.113549.1.1.*) in the bundle", nil)
	}
	return strings.Join(sns, "_"), nil
}

// ParseCertificates parses every CERTIFICATE block of a PEM file, in file order. It is
// strict: a certificate crypto/x509 cannot parse is an error. (Root bundles go through
// NewCertCredentials, which tolerates the SM2 root of Alipay's production bundle.)
func ParseCertificates(pemData []byte) ([]*x509.Certificate, error) {
	return certParseAll("certificate", pemData)
}

func certParseAll(field string, pemData []byte) ([]*x509.Certificate, error) {
	ders, err := certBlocks(field, pemData)
	if err != nil {
		return nil, err
	}
	certs := make([]*x509.Certificate, 0, len(ders))
	for i, der := range ders {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, certErr(field, fmt.Sprintf("certificate %d cannot be parsed", i+1), err)
		}
		certs = append(certs, c)
	}
	return certs, nil
}

// certRoots parses a root bundle for chain validation. Roots that crypto/x509 cannot
// parse are skipped when they are not RSA-signed (the SM2 root): they cannot anchor the
// RSA chains of RSA2 certificates anyway. An unparsable RSA root is an error.
func certRoots(field string, bundle []byte) ([]*x509.Certificate, error) {
	ders, err := certBlocks(field, bundle)
	if err != nil {
		return nil, err
	}
	var roots []*x509.Certificate
	for i, der := range ders {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			_, alg, snErr := certSNOf(field, der)
			if snErr == nil && !certIsRSASigned(alg) {
				continue
			}
			return nil, certErr(field, fmt.Sprintf("certificate %d cannot be parsed", i+1), err)
		}
		roots = append(roots, c)
	}
	if len(roots) == 0 {
		return nil, certErr(field, "no usable root certificate in the bundle", nil)
	}
	return roots, nil
}

// certName is a distinguished name in RFC 2253 form, from its DER as encoded in the
// certificate (the form SNs use, §7.1).
func certName(field, what string, raw []byte) (string, error) {
	var rdns pkix.RDNSequence
	rest, err := asn1.Unmarshal(raw, &rdns)
	if err != nil || len(rest) != 0 {
		return "", certErr(field, "malformed "+what+" name", err)
	}
	return rdns.String(), nil
}

// certLeaf is the first certificate of an Alipay public-key certificate file: its SN,
// RSA key, issuer and subject, and the certificates that follow it.
type certLeaf struct {
	sn              string
	key             *PublicKey
	issuer, subject string
	cert            *x509.Certificate
	rest            []*x509.Certificate
}

// certAlipayFirst reads an Alipay public-key certificate file (leaf first, then any
// intermediates) without judging its chain.
func certAlipayFirst(field string, pemData []byte) (*certLeaf, error) {
	certs, err := certParseAll(field, pemData)
	if err != nil {
		return nil, err
	}
	leaf := certs[0]
	rk, ok := leaf.PublicKey.(*rsa.PublicKey)
	if !ok {
		return nil, certErr(field, "certificate key is not RSA; RSA2 needs an RSA key", nil)
	}
	if leaf.IsCA {
		return nil, certErr(field, "first certificate is a CA certificate, not an Alipay public-key certificate", nil)
	}
	sn, _, err := certSNOf(field, leaf.Raw)
	if err != nil {
		return nil, err
	}
	issuer, err := certName(field, "issuer", leaf.RawIssuer)
	if err != nil {
		return nil, err
	}
	subject, err := certName(field, "subject", leaf.RawSubject)
	if err != nil {
		return nil, err
	}
	return &certLeaf{sn: sn, key: &PublicKey{key: rk, Format: FormatCert, Container: ContainerPEM},
		issuer: issuer, subject: subject, cert: leaf, rest: certs[1:]}, nil
}

// certAlipayDownloaded validates a downloaded Alipay public-key certificate file (leaf
// first, then its intermediates) against roots at now: trust in it comes only from this
// chain (§7.4), so a leaf without its intermediates is refused.
func certAlipayDownloaded(field string, pemData []byte, roots []*x509.Certificate, now time.Time) (*certLeaf, error) {
	l, err := certAlipayFirst(field, pemData)
	if err != nil {
		return nil, err
	}
	opts := x509.VerifyOptions{
		Roots:         x509.NewCertPool(),
		Intermediates: x509.NewCertPool(),
		CurrentTime:   now,
		// Alipay certificates carry no TLS usages; the default (server auth) would fail.
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	}
	for _, r := range roots {
		opts.Roots.AddCert(r)
	}
	for _, c := range l.rest {
		opts.Intermediates.AddCert(c)
	}
	if _, err := l.cert.Verify(opts); err != nil {
		var invalid x509.CertificateInvalidError
		if errors.As(err, &invalid) && invalid.Reason == x509.Expired {
			return nil, certErr(field, "certificate (or an issuer in its chain) is expired or not yet valid at "+FormatTimestamp(opts.CurrentTime)+" China time", err)
		}
		return nil, certErr(field, "certificate does not chain to alipay_root_cert (intermediates must follow the leaf in the same file)", err)
	}
	return l, nil
}

// NewCertCredentials builds certificate-mode credentials (§7) from the app private key
// and the three files Alipay hands out: the app public-key certificate, the Alipay
// public-key certificate (leaf first, then its issuer) and the Alipay root bundle. It
// checks that the app certificate belongs to priv and that the Alipay certificate chains
// to the root bundle.
func NewCertCredentials(appID string, priv *PrivateKey, appCert, alipayCert, rootBundle []byte) (*Credentials, error) {
	if appID == "" {
		return nil, errors.New("alipay: credentials: app_id is missing")
	}
	if priv == nil {
		return nil, errors.New("alipay: credentials: private_key is missing")
	}
	appSN, err := certFirstSN("app_cert", appCert)
	if err != nil {
		return nil, err
	}
	appCerts, err := certParseAll("app_cert", appCert)
	if err != nil {
		return nil, err
	}
	if k, ok := appCerts[0].PublicKey.(*rsa.PublicKey); !ok || !k.Equal(&priv.RSA().PublicKey) {
		return nil, certErr("app_cert", "certificate public key does not match the app private key", nil)
	}
	rootSN, err := certRootSN("alipay_root_cert", rootBundle)
	if err != nil {
		return nil, err
	}
	roots, err := certRoots("alipay_root_cert", rootBundle)
	if err != nil {
		return nil, err
	}
	// The configured certificate is the operator's choice, like a key in key mode: the
	// SDKs take its SN and key without a chain check, and so do we; a leaf-only file (the
	// Node SDK's own fixture is one) loads. Downloaded certificates are checked.
	alipay, err := certAlipayFirst("alipay_public_cert", alipayCert)
	if err != nil {
		return nil, err
	}
	if alipay.sn == appSN {
		return nil, certErr("alipay_public_cert", "is the app certificate (same SN as app_cert)", nil)
	}
	return &Credentials{
		AppID:             appID,
		PrivateKey:        priv,
		AppCertSN:         appSN,
		AlipayRootCertSN:  rootSN,
		AlipayCerts:       map[string]*PublicKey{alipay.sn: alipay.key},
		RootCerts:         roots,
		AlipayCertIssuer:  alipay.issuer,
		AlipayCertSubject: alipay.subject,
	}, nil
}

// WithAlipayCert validates a newly downloaded Alipay public-key certificate
// (alipay.open.app.alipaycert.download, §7.4): it must chain to the root bundle through
// intermediates in the same PEM and be valid at now (zero means time.Now()), and it must
// be Alipay's: the root also signs merchants' app certificates, so its issuer and
// subject must equal the configured Alipay certificate's, and neither its SN nor its key
// may be the app's. It returns a copy of c that also holds the certificate under its SN,
// and that SN; c itself is not changed, so concurrent readers are safe.
func (c *Credentials) WithAlipayCert(pemData []byte, now time.Time) (*Credentials, string, error) {
	if c == nil || len(c.RootCerts) == 0 {
		return nil, "", certErr("alipay_root_cert", "credentials are not in certificate mode; no root bundle to validate against", nil)
	}
	if now.IsZero() {
		now = time.Now()
	}
	if c.AlipayCertIssuer == "" || c.AlipayCertSubject == "" {
		return nil, "", certErr("alipay_public_cert", "credentials hold no configured Alipay certificate to compare a downloaded one with", nil)
	}
	l, err := certAlipayDownloaded("alipay_public_cert", pemData, c.RootCerts, now)
	if err != nil {
		return nil, "", err
	}
	const field = "alipay_public_cert"
	switch {
	case l.sn == c.AppCertSN:
		return nil, "", certErr(field, "downloaded certificate is the app certificate (app_cert), not Alipay's", nil)
	case c.PrivateKey != nil && l.key.key.Equal(&c.PrivateKey.RSA().PublicKey):
		return nil, "", certErr(field, "downloaded certificate carries the app's own key, not Alipay's", nil)
	case l.issuer != c.AlipayCertIssuer:
		return nil, "", certErr(field, "downloaded certificate's issuer differs from the configured Alipay certificate's issuer", nil)
	case l.subject != c.AlipayCertSubject:
		return nil, "", certErr(field, "downloaded certificate's subject differs from the configured Alipay certificate's subject", nil)
	}
	sn, key := l.sn, l.key
	if old, ok := c.AlipayCerts[sn]; ok && !old.Equal(key) {
		return nil, "", certErr("alipay_public_cert", "a different key is already held under SN "+sn, nil)
	}
	cp := *c
	cp.AlipayCerts = make(map[string]*PublicKey, len(c.AlipayCerts)+1)
	maps.Copy(cp.AlipayCerts, c.AlipayCerts)
	cp.AlipayCerts[sn] = key
	return &cp, sn, nil
}
