package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
)

// sharedTestdata returns the reference testdata folder committed in the repository
// (<module root>/testdata). Missing reference data fails the test.
func sharedTestdata(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for range 10 {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			td := filepath.Join(dir, "testdata")
			if _, err := os.Stat(td); err != nil {
				t.Fatalf("reference testdata not found at %s: %v", td, err)
			}
			return td
		}
		dir = filepath.Dir(dir)
	}
	t.Fatal("module root (go.mod) not found")
	return ""
}

// td returns the path of a reference testdata file.
func td(t testing.TB, rel string) string {
	t.Helper()
	return filepath.Join(sharedTestdata(t), rel)
}

func readTD(t testing.TB, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(td(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func loadVectors(t testing.TB, rel string, v any) {
	t.Helper()
	if err := json.Unmarshal(readTD(t, rel), v); err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
}

func parsePrivate(t testing.TB, rel string) *alipay.PrivateKey {
	t.Helper()
	k, err := alipay.ParsePrivateKey(readTD(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// result is one in-process run of the command.
type result struct {
	code           int
	stdout, stderr string
}

// cli runs alipayctl in process with env (nil: empty environment) and stdin, and checks
// that no private key material of the reference keys leaks into its output.
func cli(t *testing.T, env map[string]string, stdin string, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	getenv := func(k string) string { return env[k] }
	code := run(args, strings.NewReader(stdin), &out, &errOut, getenv)
	r := result{code: code, stdout: out.String(), stderr: errOut.String()}
	for _, rel := range []string{"keys/app_private_pkcs1.txt", "keys/app_private_pkcs8.txt", "keys/alipay_private_pkcs1.pem", "keys/alipay_private_pkcs8.pem"} {
		assertNoKeyMaterial(t, r, readTD(t, rel))
	}
	return r
}

var armour = regexp.MustCompile(`-----[A-Z ]+-----|\s`)

// assertNoKeyMaterial fails when a 40-character window of the key's base64 appears in the
// output, line breaks removed. Windows are sampled after the first 480 characters: before
// that, PKCS#1 and PKCS#8 encodings hold the modulus, which the public key shares.
func assertNoKeyMaterial(t *testing.T, r result, keyText []byte) {
	t.Helper()
	b64 := armour.ReplaceAllString(string(keyText), "")
	joined := strings.ReplaceAll(r.stdout+r.stderr, "\n", "")
	if strings.Contains(r.stdout+r.stderr, "PRIVATE KEY-----") {
		t.Fatalf("output mentions a PRIVATE KEY block:\n%s%s", r.stdout, r.stderr)
	}
	for i := 480; i+40 <= len(b64); i += 37 {
		if strings.Contains(joined, b64[i:i+40]) {
			t.Fatalf("output contains private key material (offset %d)", i)
		}
	}
}

func mustContain(t *testing.T, what, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			t.Errorf("%s does not contain %q:\n%s", what, sub, s)
		}
	}
}

func mustNotContain(t *testing.T, what, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			t.Errorf("%s contains %q:\n%s", what, sub, s)
		}
	}
}

func TestUsageErrorsExitTwo(t *testing.T) {
	alipayPub := td(t, "keys/alipay_public.pem")
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"no_arguments", nil, nil, "Usage: alipayctl"},
		{"unknown_command", []string{"frobnicate"}, nil, `unknown command "frobnicate"`},
		{"group_without_command", []string{"keys"}, nil, "keys gen"},
		{"unknown_group_command", []string{"verify", "webhook"}, nil, `unknown command "verify webhook"`},
		{"unknown_flag", []string{"keys", "gen", "--colour"}, nil, "flag provided but not defined"},
		{"extra_argument", []string{"keys", "gen", "extra"}, nil, `unexpected argument "extra"`},
		{"bits_too_small", []string{"keys", "gen", "-bits", "1024"}, nil, "-bits"},
		{"keys_check_missing_public", []string{"keys", "check", "-private", "x"}, nil, "-public FILE are required"},
		{"sign_without_key", []string{"sign"}, nil, "ALIPAY_PRIVATE_KEY"},
		{"orderstr_without_biz", []string{"orderstr"}, nil, "-biz"},
		{"orderstr_without_credentials", []string{"orderstr", "-biz", "-"}, nil, "no credentials"},
		{"orderstr_bad_notify_url", []string{"orderstr", "-biz", "-", "-notify-url", "ftp://x"}, nil, "absolute http or https"},
		{"verify_notify_without_key", []string{"verify", "notify"}, nil, "--alipay-public-key"},
		{"verify_notify_two_keys", []string{"verify", "notify", "--alipay-public-key", alipayPub, "--alipay-cert", alipayPub}, nil, "not both"},
		{"verify_notify_bad_charset", []string{"verify", "notify", "--alipay-public-key", alipayPub, "--charset", "latin1"}, nil, "--charset"},
		{"verify_response_without_method", []string{"verify", "response", "--alipay-public-key", alipayPub}, nil, "-method"},
		{"cert_sn_without_file", []string{"cert", "sn"}, nil, "expected 1 argument"},
		{"help_unknown_topic", []string{"help", "nothing"}, nil, `no command "nothing"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := cli(t, tt.env, "", tt.args...)
			if r.code != exitUsage {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, exitUsage, r.stdout, r.stderr)
			}
			mustContain(t, "stderr", r.stderr, tt.want)
		})
	}
}

func TestHelpListsCommandsWithExamples(t *testing.T) {
	r := cli(t, nil, "", "help")
	if r.code != exitOK {
		t.Fatalf("help: exit %d", r.code)
	}
	for _, c := range commands {
		mustContain(t, "help", r.stdout, c.path)
	}
	for _, c := range commands {
		t.Run(strings.ReplaceAll(c.path, " ", "_")+"_dash_h", func(t *testing.T) {
			args := append(strings.Fields(c.path), "-h")
			r := cli(t, nil, "", args...)
			if r.code != exitOK {
				t.Fatalf("exit %d, stderr %s", r.code, r.stderr)
			}
			mustContain(t, "help", r.stdout, "Usage: alipayctl "+c.path, "Examples:")
			r2 := cli(t, nil, "", append([]string{"help"}, strings.Fields(c.path)...)...)
			if r2.code != exitOK || r2.stdout != r.stdout {
				t.Fatalf("help %s differs from %s -h (exit %d)", c.path, c.path, r2.code)
			}
		})
	}
	r = cli(t, nil, "", "verify", "--help")
	if r.code != exitOK {
		t.Fatalf("verify --help: exit %d", r.code)
	}
	mustContain(t, "verify --help", r.stdout, "verify notify", "verify response")
}
