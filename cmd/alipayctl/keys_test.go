package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var genFiles = []struct {
	name    string
	private bool
}{
	{"app_private_pkcs1.pem", true}, {"app_private_pkcs8.pem", true},
	{"app_private_pkcs1.txt", true}, {"app_private_pkcs8.txt", true},
	{"app_public.pem", false}, {"app_public.txt", false},
}

func TestKeysGenWritesEveryFormatAsAPair(t *testing.T) {
	withUmask(t, 0) // the most permissive umask: modes must still be exact
	dir := filepath.Join(t.TempDir(), "keys")
	r := cli(t, nil, "", "keys", "gen", "-out", dir)
	if r.code != exitOK {
		t.Fatalf("keys gen: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, f := range genFiles {
		st, err := os.Stat(filepath.Join(dir, f.name))
		if err != nil {
			t.Fatal(err)
		}
		want := os.FileMode(0o644)
		if f.private {
			want = 0o600
		}
		if st.Mode().Perm() != want {
			t.Errorf("%s: mode %04o, want %04o", f.name, st.Mode().Perm(), want)
		}
	}
	pubLine := strings.TrimSpace(readFile(t, filepath.Join(dir, "app_public.txt")))
	mustContain(t, "keys gen output", r.stdout, pubLine, filepath.Join(dir, "app_private_pkcs8.txt"))
	for _, f := range genFiles {
		if f.private {
			assertNoKeyMaterial(t, r, []byte(readFile(t, filepath.Join(dir, f.name))))
		}
	}

	for _, priv := range genFiles[:4] {
		for _, pub := range genFiles[4:] {
			t.Run(priv.name+"_pairs_with_"+pub.name, func(t *testing.T) {
				r := cli(t, nil, "", "keys", "check", "-private", filepath.Join(dir, priv.name), "-public", filepath.Join(dir, pub.name))
				if r.code != exitOK {
					t.Fatalf("keys check: exit %d\n%s", r.code, r.stdout)
				}
				mustContain(t, "keys check", r.stdout, "pair:    yes")
			})
		}
	}
}

func TestKeysGenRefusesToOverwriteWithoutForce(t *testing.T) {
	withUmask(t, 0)
	dir := t.TempDir()
	if r := cli(t, nil, "", "keys", "gen", "-out", dir); r.code != exitOK {
		t.Fatalf("first keys gen: exit %d %s", r.code, r.stderr)
	}
	before := readFile(t, filepath.Join(dir, "app_private_pkcs1.pem"))
	pubBefore := readFile(t, filepath.Join(dir, "app_public.txt"))

	r := cli(t, nil, "", "keys", "gen", "-out", dir)
	if r.code != exitFail {
		t.Fatalf("second keys gen without -force: exit %d, want %d", r.code, exitFail)
	}
	mustContain(t, "stderr", r.stderr, "refusing to overwrite", "-force")
	if readFile(t, filepath.Join(dir, "app_private_pkcs1.pem")) != before {
		t.Fatal("an existing private key was changed without -force")
	}

	// A key file left world-readable by someone else must come back 0600 with -force.
	if err := os.Chmod(filepath.Join(dir, "app_private_pkcs8.txt"), 0o666); err != nil {
		t.Fatal(err)
	}
	r = cli(t, nil, "", "keys", "gen", "-out", dir, "-force")
	if r.code != exitOK {
		t.Fatalf("keys gen -force: exit %d %s", r.code, r.stderr)
	}
	if readFile(t, filepath.Join(dir, "app_public.txt")) == pubBefore {
		t.Fatal("-force did not write a new key")
	}
	st, err := os.Stat(filepath.Join(dir, "app_private_pkcs8.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("replaced private key has mode %04o, want 0600", st.Mode().Perm())
	}
	r = cli(t, nil, "", "keys", "check", "-private", filepath.Join(dir, "app_private_pkcs8.txt"), "-public", filepath.Join(dir, "app_public.txt"))
	if r.code != exitOK {
		t.Fatalf("keys check after -force: exit %d\n%s", r.code, r.stdout)
	}
}

func TestKeysCheckReportsFormatsAndMixUps(t *testing.T) {
	alipayEnv := map[string]string{"ALIPAY_PUBLIC_KEY_FILE": td(t, "keys/alipay_public.txt")}
	tests := []struct {
		name          string
		priv, pub     string
		extra         []string
		env           map[string]string
		code          int
		want, notWant []string
	}{
		{name: "pkcs1_pem_with_spki_line", priv: "keys/app_private_pkcs1.pem", pub: "keys/app_public.txt", code: exitOK,
			want: []string{"RSA-2048, PKCS#1, PEM", "SPKI, base64", "pair:    yes"}},
		{name: "pkcs8_line_with_spki_pem", priv: "keys/app_private_pkcs8.txt", pub: "keys/app_public.pem", code: exitOK,
			want: []string{"PKCS#8, base64", "SPKI, PEM", "pair:    yes"}},
		{name: "pkcs8_pem_with_app_certificate", priv: "keys/app_private_pkcs8.pem", pub: "certs/app_cert.crt", code: exitOK,
			want: []string{"X.509 certificate, SN c7fabe5b134d9c2146412fcf462269bf", "pair:    yes"}},
		{name: "alipay_public_key_is_not_the_app_pair", priv: "keys/app_private_pkcs1.txt", pub: "keys/alipay_public.pem", code: exitFail,
			want: []string{"pair:    NO"}, notWant: []string{"mix-up"}},
		{name: "alipay_public_key_recognised_from_env", priv: "keys/app_private_pkcs1.txt", pub: "keys/alipay_public.pem", env: alipayEnv, code: exitFail,
			want: []string{"the -public key is ALIPAY's public key", "ALIPAY_PUBLIC_KEY_FILE", "pair:    NO"}},
		{name: "alipay_public_key_recognised_from_flag", priv: "keys/app_private_pkcs1.txt", pub: "keys/alipay_public.txt",
			extra: []string{"-alipay-public-key", "keys/alipay_public.pem"}, code: exitFail,
			want: []string{"the -public key is ALIPAY's public key"}},
		{name: "app_key_configured_as_alipay_key", priv: "keys/app_private_pkcs1.pem", pub: "keys/app_public.txt",
			env: map[string]string{"ALIPAY_PUBLIC_KEY_FILE": td(t, "keys/app_public.pem")}, code: exitOK,
			want: []string{"is the public half of YOUR private key", "pair:    yes"}},
		{name: "private_key_given_as_public", priv: "keys/app_private_pkcs1.pem", pub: "keys/app_private_pkcs8.pem", code: exitFail,
			want: []string{"holds a PRIVATE key (PKCS#8, PEM) — the same key as -private"}},
		{name: "public_key_given_as_private", priv: "keys/app_public.pem", pub: "keys/app_public.txt", code: exitFail,
			want: []string{"holds a PUBLIC key"}},
		{name: "garbage_private_key", priv: "vectors/cert_sn.json", pub: "keys/app_public.txt", code: exitFail,
			want: []string{"not base64"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := []string{"keys", "check", "-private", td(t, tt.priv), "-public", td(t, tt.pub)}
			for i, e := range tt.extra {
				if i%2 == 1 {
					e = td(t, e)
				}
				args = append(args, e)
			}
			r := cli(t, tt.env, "", args...)
			if r.code != tt.code {
				t.Fatalf("exit %d, want %d\n%s%s", r.code, tt.code, r.stdout, r.stderr)
			}
			mustContain(t, "keys check", r.stdout, tt.want...)
			mustNotContain(t, "keys check", r.stdout, tt.notWant...)
		})
	}
}

func TestKeysCheckMissingFileFails(t *testing.T) {
	r := cli(t, nil, "", "keys", "check", "-private", filepath.Join(t.TempDir(), "none.pem"), "-public", td(t, "keys/app_public.txt"))
	if r.code != exitFail {
		t.Fatalf("exit %d, want %d", r.code, exitFail)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
