package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
	"github.com/alipay-serverless/alipay-serverless/shared/credentials"
)

var cmdKeysGen = &command{
	path:    "keys gen",
	summary: "generate an RSA-2048 app key pair in every format merchants meet",
	run:     (*app).keysGen,
	help: `Usage: alipayctl keys gen [-out DIR] [-bits 2048] [-force]

Generates the app (merchant) RSA key pair and writes it in every format:
  app_private_pkcs1.pem  PKCS#1 PEM ("RSA PRIVATE KEY"; openssl genrsa, most non-Java SDKs)
  app_private_pkcs8.pem  PKCS#8 PEM ("PRIVATE KEY"; openssl pkcs8 -topk8 -nocrypt)
  app_private_pkcs1.txt  PKCS#1 as one base64 line (Alipay key tool "PKCS1 (non-Java)")
  app_private_pkcs8.txt  PKCS#8 as one base64 line (Alipay key tool "PKCS8 (Java)", Java SDK)
  app_public.pem         public key, SPKI PEM
  app_public.txt         public key as the one base64 line the Alipay console takes
Private files are created with mode 0600 whatever the umask. Existing files are never
overwritten unless -force is given. The private key is never printed; the public one-liner
to upload is.

Flags:
  -out DIR    directory to write to, created 0700 if missing (default ".")
  -bits N     key size (default 2048; Alipay's RSA2 expects 2048)
  -force      replace existing key files

Examples:
  alipayctl keys gen -out ./keys
  alipayctl keys check -private ./keys/app_private_pkcs8.txt -public ./keys/app_public.txt
`,
}

var cmdKeysCheck = &command{
	path:    "keys check",
	summary: "say each key's format and whether a private and a public key are a pair",
	run:     (*app).keysCheck,
	help: `Usage: alipayctl keys check -private FILE -public FILE [-alipay-public-key FILE]

Parses both keys in any supported format (PKCS#1 or PKCS#8, PEM or one base64 line; SPKI,
PKCS#1 or a certificate for the public key), says which format and container each is in,
and signs a probe with the private key to check that the public key verifies it.

It also recognises the usual mix-ups: a private key given as the public one (or the other
way round), and Alipay's public key given where the app's own public key belongs (Alipay's
key is taken from -alipay-public-key, else ALIPAY_PUBLIC_KEY(_FILE) or
ALIPAY_ALIPAY_CERT(_FILE)). Exit status 1 when the keys are not a pair.

Flags:
  -private FILE             the app private key
  -public FILE              the public key that should belong to it
  -alipay-public-key FILE   Alipay's public key, to recognise it if given as -public

Examples:
  alipayctl keys check -private app_private_pkcs1.pem -public app_public.txt
  ALIPAY_PUBLIC_KEY_FILE=alipay_public.txt alipayctl keys check -private app_private.pem -public key.txt
`,
}

// keyFile is one file written by keys gen.
type keyFile struct {
	name    string
	private bool
	data    []byte
	what    string
}

func (a *app) keysGen(c *command, args []string) int {
	fset := newFlagSet(c)
	out := fset.String("out", ".", "")
	bits := fset.Int("bits", 2048, "")
	force := fset.Bool("force", false, "")
	if code, done := a.parse(c, fset, args, 0); done {
		return code
	}
	if *bits < 2048 || *bits > 8192 || *bits%8 != 0 {
		return a.usage(c, "-bits must be a multiple of 8 from 2048 to 8192 (RSA2 needs at least 2048; Alipay expects 2048)")
	}
	if *bits != 2048 {
		a.note("Alipay's console expects 2048-bit keys for RSA2; a %d-bit key may be refused", *bits)
	}
	names := []string{
		"app_private_pkcs1.pem", "app_private_pkcs8.pem", "app_private_pkcs1.txt",
		"app_private_pkcs8.txt", "app_public.pem", "app_public.txt",
	}
	// Refuse before generating anything, so an existing key set is never half replaced.
	if !*force {
		var existing []string
		for _, n := range names {
			if _, err := os.Lstat(filepath.Join(*out, n)); err == nil {
				existing = append(existing, filepath.Join(*out, n))
			}
		}
		if len(existing) > 0 {
			return a.fail(c, "refusing to overwrite %s (use -force to replace them)", strings.Join(existing, ", "))
		}
	}
	if err := os.MkdirAll(*out, 0o700); err != nil {
		return a.fail(c, "%v", err)
	}

	rk, err := rsa.GenerateKey(rand.Reader, *bits)
	if err != nil {
		return a.fail(c, "generating the key: %v", err)
	}
	priv, err := alipay.NewPrivateKey(rk)
	if err != nil {
		return a.fail(c, "%v", err)
	}
	files, err := encodeKeyFiles(rk)
	if err != nil {
		return a.fail(c, "%v", err)
	}
	for _, f := range files {
		mode := fs.FileMode(0o644)
		if f.private {
			mode = 0o600
		}
		if err := writeKeyFile(filepath.Join(*out, f.name), f.data, mode, *force); err != nil {
			return a.fail(c, "%v", err)
		}
	}
	// Read every file back through the parsers the services use: what was written is what
	// will be configured.
	if err := checkWritten(*out, files, priv); err != nil {
		return a.fail(c, "self-check of the written files failed: %v", err)
	}

	w := a.stdout
	fmt.Fprintf(w, "generated an RSA-%d app key pair in %s\n\nprivate (mode 0600; keep secret, never upload):\n", *bits, *out)
	for _, f := range files {
		if f.private {
			fmt.Fprintf(w, "  %-40s %s\n", filepath.Join(*out, f.name), f.what)
		}
	}
	fmt.Fprintf(w, "public:\n")
	for _, f := range files {
		if !f.private {
			fmt.Fprintf(w, "  %-40s %s\n", filepath.Join(*out, f.name), f.what)
		}
	}
	pubLine := strings.TrimSpace(string(files[len(files)-1].data))
	fmt.Fprintf(w, "\napp public key (upload this one line in the Alipay open platform console, 接口加签方式 → 公钥):\n%s\n", pubLine)
	fmt.Fprintf(w, "fingerprint: %s\n", priv.Public().Fingerprint())
	fmt.Fprintf(w, "\nnext: the console then shows Alipay's public key; configure it as %s(_FILE).\n", credentials.EnvAlipayPublicKey)
	fmt.Fprintf(w, "  Configure any one private file as %s_FILE.\n", credentials.EnvPrivateKey)
	return exitOK
}

// encodeKeyFiles renders the key in every format; the public one-liner comes last.
func encodeKeyFiles(k *rsa.PrivateKey) ([]keyFile, error) {
	pkcs1 := x509.MarshalPKCS1PrivateKey(k)
	pkcs8, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("encoding PKCS#8: %w", err)
	}
	spki, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("encoding the public key: %w", err)
	}
	line := func(der []byte) []byte { return []byte(base64.StdEncoding.EncodeToString(der) + "\n") }
	return []keyFile{
		{"app_private_pkcs1.pem", true, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: pkcs1}), "PKCS#1 PEM (openssl genrsa; most non-Java SDKs)"},
		{"app_private_pkcs8.pem", true, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}), "PKCS#8 PEM (openssl pkcs8 -topk8 -nocrypt)"},
		{"app_private_pkcs1.txt", true, line(pkcs1), `PKCS#1, one base64 line (key tool "PKCS1 (non-Java)")`},
		{"app_private_pkcs8.txt", true, line(pkcs8), `PKCS#8, one base64 line (key tool "PKCS8 (Java)"; Java SDK)`},
		{"app_public.pem", false, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: spki}), "SPKI PEM"},
		{"app_public.txt", false, line(spki), "SPKI, one base64 line (what the Alipay console takes)"},
	}, nil
}

// writeKeyFile creates path with exactly mode. An existing file is removed first when
// force is set (so a symlink is replaced, not followed, and an old permissive mode is
// not inherited); the mode is set explicitly before any byte is written, so neither the
// umask nor a race exposes private key material.
func writeKeyFile(path string, data []byte, mode fs.FileMode, force bool) error {
	if force {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("refusing to overwrite %s (use -force)", path)
		}
		return err
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if st.Mode().Perm() != mode {
		return fmt.Errorf("%s: mode is %04o, want %04o", path, st.Mode().Perm(), mode)
	}
	return nil
}

// checkWritten parses every written file and checks it is the generated key in the
// announced format.
func checkWritten(dir string, files []keyFile, priv *alipay.PrivateKey) error {
	want := map[string][2]string{
		"app_private_pkcs1.pem": {string(alipay.FormatPKCS1), string(alipay.ContainerPEM)},
		"app_private_pkcs8.pem": {string(alipay.FormatPKCS8), string(alipay.ContainerPEM)},
		"app_private_pkcs1.txt": {string(alipay.FormatPKCS1), string(alipay.ContainerBase64)},
		"app_private_pkcs8.txt": {string(alipay.FormatPKCS8), string(alipay.ContainerBase64)},
		"app_public.pem":        {string(alipay.FormatSPKI), string(alipay.ContainerPEM)},
		"app_public.txt":        {string(alipay.FormatSPKI), string(alipay.ContainerBase64)},
	}
	for _, f := range files {
		text, err := os.ReadFile(filepath.Join(dir, f.name))
		if err != nil {
			return err
		}
		var format, container string
		var pub *alipay.PublicKey
		if f.private {
			k, err := alipay.ParsePrivateKey(text)
			if err != nil {
				return fmt.Errorf("%s: %w", f.name, err)
			}
			format, container, pub = string(k.Format), string(k.Container), k.Public()
		} else {
			k, err := alipay.ParsePublicKey(text)
			if err != nil {
				return fmt.Errorf("%s: %w", f.name, err)
			}
			format, container, pub = string(k.Format), string(k.Container), k
		}
		if w := want[f.name]; w[0] != format || w[1] != container {
			return fmt.Errorf("%s parses as %s/%s, want %s/%s", f.name, format, container, w[0], w[1])
		}
		if !pub.Equal(priv.Public()) {
			return fmt.Errorf("%s holds another key", f.name)
		}
	}
	return nil
}

// probeContent is what keys check signs: any bytes do, this says what it is.
const probeContent = "alipayctl keys check probe: app_id=0&biz_content={}&sign_type=RSA2"

func (a *app) keysCheck(c *command, args []string) int {
	fset := newFlagSet(c)
	privFile := fset.String("private", "", "")
	pubFile := fset.String("public", "", "")
	alipayFile := fset.String("alipay-public-key", "", "")
	if code, done := a.parse(c, fset, args, 0); done {
		return code
	}
	if *privFile == "" || *pubFile == "" {
		return a.usage(c, "both -private FILE and -public FILE are required")
	}
	privText, err := a.readInput(*privFile)
	if err != nil {
		return a.fail(c, "%v", err)
	}
	pubText, err := a.readInput(*pubFile)
	if err != nil {
		return a.fail(c, "%v", err)
	}
	w := a.stdout
	ok := true

	priv, perr := alipay.ParsePrivateKey(privText)
	switch {
	case perr == nil:
		fmt.Fprintf(w, "private: %s: RSA-%d, %s, %s (public half fingerprint %s)\n",
			*privFile, priv.RSA().N.BitLen(), priv.Format, priv.Container, priv.Public().Fingerprint())
	default:
		ok = false
		if k, err := keyFromText(privText, *privFile); err == nil {
			fmt.Fprintf(w, "private: %s holds a PUBLIC key: %s\n  give the app private key here (the file you sign with)\n", *privFile, k.desc)
		} else {
			fmt.Fprintf(w, "private: %s: %v\n", *privFile, perr)
		}
	}

	var pub *namedKey
	pk, err := keyFromText(pubText, *pubFile)
	switch {
	case err == nil:
		pub = pk
		fmt.Fprintf(w, "public:  %s\n", pk.desc)
	default:
		ok = false
		if other, perr := alipay.ParsePrivateKey(pubText); perr == nil {
			same := ""
			if priv != nil && other.Public().Equal(priv.Public()) {
				same = " — the same key as -private"
			}
			fmt.Fprintf(w, "public:  %s holds a PRIVATE key (%s, %s)%s\n", *pubFile, other.Format, other.Container, same)
			fmt.Fprintf(w, "  a private key must never be shared, uploaded or configured as a public key; the public\n")
			fmt.Fprintf(w, "  half of it is app_public.txt from 'alipayctl keys gen' (or the key tool's 应用公钥)\n")
		} else {
			fmt.Fprintf(w, "public:  %s: %v\n", *pubFile, err)
		}
	}

	// Recognise Alipay's key where the app's belongs, and the app's where Alipay's belongs.
	var alipayK *namedKey
	if *alipayFile != "" {
		k, err := a.keyFile(*alipayFile, "-alipay-public-key "+*alipayFile)
		if err != nil {
			return a.fail(c, "%v", err)
		}
		alipayK = k
	} else if k, err := a.alipayKey("", ""); err == nil {
		alipayK = k
	} else if !errors.Is(err, errNoKey) {
		a.note("Alipay public key not loaded from the environment: %v", err)
	}
	if alipayK != nil {
		if pub != nil && pub.key.Equal(alipayK.key) {
			fmt.Fprintf(w, "mix-up:  the -public key is ALIPAY's public key (%s)\n", alipayK.desc)
			fmt.Fprintf(w, "  Alipay's key verifies Alipay's signatures and never pairs with your private key; the app\n")
			fmt.Fprintf(w, "  public key (the one you upload) is the public half of your private key\n")
		}
		if priv != nil && priv.Public().Equal(alipayK.key) {
			fmt.Fprintf(w, "mix-up:  the key configured as Alipay's public key (%s) is the public half of YOUR private key\n", alipayK.desc)
			fmt.Fprintf(w, "  replace it with the Alipay public key (支付宝公钥) the console shows after you upload yours\n")
		}
	}

	if priv == nil || pub == nil {
		fmt.Fprintf(w, "pair:    cannot tell (see above)\n")
		return exitFail
	}
	sig, err := priv.Sign([]byte(probeContent))
	if err != nil {
		return a.fail(c, "%v", err)
	}
	if pub.key.Verify([]byte(probeContent), sig) != nil {
		fmt.Fprintf(w, "pair:    NO — a probe signed with the private key does not verify with the public key\n")
		fmt.Fprintf(w, "  the public key belonging to -private has fingerprint %s; -public has %s\n", priv.Public().Fingerprint(), pub.key.Fingerprint())
		return exitFail
	}
	fmt.Fprintf(w, "pair:    yes — a probe signed with the private key verifies with the public key\n")
	if !ok {
		return exitFail
	}
	return exitOK
}
