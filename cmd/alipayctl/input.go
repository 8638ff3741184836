package main

import (
	"bytes"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
	"github.com/alipay-serverless/alipay-serverless/shared/credentials"
)

// maxInput bounds every file or stdin read: keys, certificates, params and gateway replies
// are far smaller; notifications are capped lower by the alipay package itself.
const maxInput = 1 << 20

// readInput reads a file, or stdin for "-".
func (a *app) readInput(name string) ([]byte, error) {
	var r io.Reader = a.stdin
	label := "stdin"
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r, label = f, name
	}
	b, err := io.ReadAll(io.LimitReader(r, maxInput+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", label, err)
	}
	if len(b) > maxInput {
		return nil, fmt.Errorf("%s: larger than %d bytes", label, maxInput)
	}
	return b, nil
}

// envText returns the value of the environment variable name, or the content of the file
// named by name_FILE, and a label saying where it came from ("" and no error when neither
// is set). It follows the convention of the credentials package (and the local server).
func (a *app) envText(name string) (text, from string, err error) {
	v := a.env(name)
	fileVar := name + "_FILE"
	path := strings.TrimSpace(a.env(fileVar))
	switch {
	case path == "" && strings.TrimSpace(v) == "":
		return "", "", nil
	case path == "":
		return v, name, nil
	case strings.TrimSpace(v) != "":
		return "", "", fmt.Errorf("set %s or %s, not both", name, fileVar)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", "", fmt.Errorf("%s: %w", fileVar, err)
	}
	return string(b), fileVar + "=" + path, nil
}

// namedKey is a public key with a description of where it came from, for messages.
type namedKey struct {
	key    *alipay.PublicKey
	desc   string
	certSN string // SN of the certificate the key came from, if it came from one
}

// errNoKey means no key was given by flag or environment: a usage error.
var errNoKey = errors.New("no key given")

// keyFromText parses a public key in any supported form. A PEM certificate file (possibly
// a chain, leaf first) yields the first certificate's key and its SN.
func keyFromText(text []byte, from string) (*namedKey, error) {
	if bytes.Contains(text, []byte("-----BEGIN CERTIFICATE")) {
		certs, err := alipay.ParseCertificates(text)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", from, err)
		}
		rk, ok := certs[0].PublicKey.(*rsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("%s: the certificate's key is not RSA; RSA2 needs an RSA key", from)
		}
		sn, err := alipay.CertSN(text)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", from, err)
		}
		k := alipay.NewPublicKey(rk)
		return &namedKey{
			key:    k,
			desc:   fmt.Sprintf("%s (X.509 certificate, SN %s, key fingerprint %s)", from, sn, k.Fingerprint()),
			certSN: sn,
		}, nil
	}
	k, err := alipay.ParsePublicKey(text)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", from, err)
	}
	return &namedKey{key: k, desc: fmt.Sprintf("%s (%s, %s, fingerprint %s)", from, k.Format, k.Container, k.Fingerprint())}, nil
}

// alipayKey loads the key that verifies Alipay's signatures: --alipay-public-key or
// --alipay-cert, else ALIPAY_PUBLIC_KEY(_FILE) or ALIPAY_ALIPAY_CERT(_FILE).
func (a *app) alipayKey(pubFile, certFile string) (*namedKey, error) {
	switch {
	case pubFile != "" && certFile != "":
		return nil, fmt.Errorf("%w: give --alipay-public-key or --alipay-cert, not both", errNoKey)
	case pubFile != "":
		return a.keyFile(pubFile, "--alipay-public-key "+pubFile)
	case certFile != "":
		return a.keyFile(certFile, "--alipay-cert "+certFile)
	}
	for _, name := range []string{credentials.EnvAlipayPublicKey, credentials.EnvAlipayCert} {
		text, from, err := a.envText(name)
		if err != nil {
			return nil, err
		}
		if from != "" {
			return keyFromText([]byte(text), from)
		}
	}
	return nil, fmt.Errorf("%w: give --alipay-public-key FILE or --alipay-cert FILE, or set %s(_FILE) or %s(_FILE)",
		errNoKey, credentials.EnvAlipayPublicKey, credentials.EnvAlipayCert)
}

func (a *app) keyFile(path, from string) (*namedKey, error) {
	text, err := a.readInput(path)
	if err != nil {
		return nil, err
	}
	return keyFromText(text, from)
}

// appKey loads the app's own public key, used only to diagnose a key mix-up:
// --app-public-key, else the public half of ALIPAY_PRIVATE_KEY(_FILE), else the key of
// ALIPAY_APP_CERT(_FILE). Unusable environment values are reported as a note and skipped;
// nil means the app key is unknown.
func (a *app) appKey(file string) (*namedKey, error) {
	if file != "" {
		return a.keyFile(file, "--app-public-key "+file)
	}
	text, from, err := a.envText(credentials.EnvPrivateKey)
	if err != nil {
		a.note("app key not loaded: %v", err)
		return nil, nil
	}
	if from != "" {
		priv, err := alipay.ParsePrivateKey([]byte(text))
		if err != nil {
			a.note("app key not loaded from %s: %v", from, err)
			return nil, nil
		}
		k := priv.Public()
		return &namedKey{key: k, desc: fmt.Sprintf("public half of %s (fingerprint %s)", from, k.Fingerprint())}, nil
	}
	text, from, err = a.envText(credentials.EnvAppCert)
	if err != nil || from == "" {
		if err != nil {
			a.note("app key not loaded: %v", err)
		}
		return nil, nil
	}
	k, err := keyFromText([]byte(text), from)
	if err != nil {
		a.note("app key not loaded: %v", err)
		return nil, nil
	}
	return k, nil
}

// privateKey loads the app private key from a file, or from ALIPAY_PRIVATE_KEY(_FILE).
func (a *app) privateKey(file string) (*alipay.PrivateKey, string, error) {
	var text []byte
	from := file
	if file != "" {
		b, err := a.readInput(file)
		if err != nil {
			return nil, "", err
		}
		text = b
	} else {
		t, f, err := a.envText(credentials.EnvPrivateKey)
		if err != nil {
			return nil, "", err
		}
		if f == "" {
			return nil, "", fmt.Errorf("%w: give -private FILE or set %s(_FILE)", errNoKey, credentials.EnvPrivateKey)
		}
		text, from = []byte(t), f
	}
	k, err := alipay.ParsePrivateKey(text)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", from, err)
	}
	return k, from, nil
}
