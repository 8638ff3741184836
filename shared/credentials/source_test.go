package credentials

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go"

	"github.com/alipay-serverless/alipay-serverless/test/harness/testkeys"
)

// fakeEnv is an injectable environment plus file system.
type fakeEnv struct {
	vars  map[string]string
	files map[string]string
}

func (e fakeEnv) getenv(k string) string { return e.vars[k] }

func (e fakeEnv) readFile(p string) ([]byte, error) {
	v, ok := e.files[p]
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: p, Err: fs.ErrNotExist}
	}
	return []byte(v), nil
}

func TestEnvSource(t *testing.T) {
	priv := readTestdata(t, "keys/app_private_pkcs8.txt")
	pub := readTestdata(t, "keys/alipay_public.txt")
	files := map[string]string{
		"/keys/app.key":     readTestdata(t, "keys/app_private_pkcs1.pem"),
		"/keys/alipay.pub":  readTestdata(t, "keys/alipay_public.pem"),
		"/certs/app.crt":    readTestdata(t, "certs/app_cert.crt"),
		"/certs/alipay.crt": readTestdata(t, "certs/alipay_public_cert.crt"),
		"/certs/root.crt":   readTestdata(t, "certs/alipay_root_cert.crt"),
		"/keys/aes.txt":     readTestdata(t, "keys/aes_key.txt"),
	}
	tests := []struct {
		name     string
		vars     map[string]string
		kind     error // nil: must load
		field    string
		certMode bool
	}{
		{name: "key_mode_from_values", vars: map[string]string{EnvAppID: "2021000000000001", EnvPrivateKey: priv, EnvAlipayPublicKey: pub}},
		{name: "key_mode_from_files", vars: map[string]string{EnvAppID: "2021000000000001", EnvPrivateKey + "_FILE": "/keys/app.key", EnvAlipayPublicKey + "_FILE": "/keys/alipay.pub", EnvEncryptKey + "_FILE": "/keys/aes.txt"}},
		{name: "cert_mode_from_files", certMode: true, vars: map[string]string{EnvAppID: "2021000000000001", EnvPrivateKey: priv,
			EnvAppCert + "_FILE": "/certs/app.crt", EnvAlipayCert + "_FILE": "/certs/alipay.crt", EnvRootCert + "_FILE": "/certs/root.crt"}},
		{name: "value_and_file_together_names_the_variable", kind: ErrMalformed, field: EnvPrivateKey,
			vars: map[string]string{EnvAppID: "2021000000000001", EnvPrivateKey: priv, EnvPrivateKey + "_FILE": "/keys/app.key", EnvAlipayPublicKey: pub}},
		{name: "missing_file_names_the_file_variable", kind: ErrNotFound, field: EnvAlipayPublicKey + "_FILE",
			vars: map[string]string{EnvAppID: "2021000000000001", EnvPrivateKey: priv, EnvAlipayPublicKey + "_FILE": "/keys/nope.pub"}},
		{name: "missing_app_id_names_the_variable", kind: ErrMalformed, field: EnvAppID,
			vars: map[string]string{EnvPrivateKey: priv, EnvAlipayPublicKey: pub}},
		{name: "bad_key_file_names_the_file_variable", kind: ErrBadKey, field: EnvPrivateKey + "_FILE",
			vars: map[string]string{EnvAppID: "2021000000000001", EnvPrivateKey + "_FILE": "/certs/app.crt", EnvAlipayPublicKey: pub}},
		{name: "missing_alipay_key_names_the_variable", kind: ErrMalformed, field: EnvAlipayPublicKey,
			vars: map[string]string{EnvAppID: "2021000000000001", EnvPrivateKey: priv}},
		{name: "cert_mode_missing_root_names_the_variable", kind: ErrMalformed, field: EnvRootCert,
			vars: map[string]string{EnvAppID: "2021000000000001", EnvPrivateKey: priv, EnvAppCert + "_FILE": "/certs/app.crt", EnvAlipayCert + "_FILE": "/certs/alipay.crt"}},
		{name: "bad_encrypt_key_names_the_variable", kind: ErrBadKey, field: EnvEncryptKey,
			vars: map[string]string{EnvAppID: "2021000000000001", EnvPrivateKey: priv, EnvAlipayPublicKey: pub, EnvEncryptKey: "%%%"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := fakeEnv{vars: tc.vars, files: files}
			l, err := NewEnvSource(env.getenv, env.readFile).Load(context.Background())
			if tc.kind == nil {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				if err := l.Credentials.Validate(); err != nil {
					t.Fatal(err)
				}
				if l.Credentials.CertMode() != tc.certMode {
					t.Errorf("CertMode = %v, want %v", l.Credentials.CertMode(), tc.certMode)
				}
				if !strings.HasPrefix(l.Version, "env-") || l.Credentials.Version != l.Version {
					t.Errorf("Version = %q, credentials version %q", l.Version, l.Credentials.Version)
				}
				assertNoKeyMaterial(t, "version", l.Version)
				return
			}
			if err == nil {
				t.Fatal("Load succeeded")
			}
			var e *Error
			if !errors.Is(err, tc.kind) || !errors.Is(err, ErrUnavailable) || !errors.As(err, &e) {
				t.Fatalf("error %q is not an *Error of kind %v", err, tc.kind)
			}
			if e.Field != tc.field || e.Source != "env" || !strings.Contains(err.Error(), tc.field) {
				t.Errorf("error %q: field %q source %q, want field %q source env", err, e.Field, e.Source, tc.field)
			}
			assertNoKeyMaterial(t, "error", err.Error())
		})
	}
}

func TestEnvSourceVersionFollowsFileContent(t *testing.T) {
	env := fakeEnv{
		vars: map[string]string{EnvAppID: "2021000000000001", EnvPrivateKey + "_FILE": "/k", EnvAlipayPublicKey + "_FILE": "/p"},
		files: map[string]string{
			"/k": readTestdata(t, "keys/app_private_pkcs1.pem"),
			"/p": readTestdata(t, "keys/alipay_public.pem"),
		},
	}
	src := NewEnvSource(env.getenv, env.readFile)
	a, err := src.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	b, err := src.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if a.Version != b.Version {
		t.Errorf("same inputs, versions %q and %q", a.Version, b.Version)
	}
	env.files["/p"] = readTestdata(t, "keys/app_public.pem")
	c, err := src.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if c.Version == a.Version {
		t.Errorf("rotated key file kept version %q", c.Version)
	}
	if c.Credentials.AlipayPublicKey.Equal(a.Credentials.AlipayPublicKey) {
		t.Errorf("rotated key file not re-read")
	}
}

// nopSM is a GetSecretValueAPI that must not be called.
type nopSM struct{ t *testing.T }

func (n nopSM) GetSecretValue(context.Context, *secretsmanager.GetSecretValueInput, ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	n.t.Error("GetSecretValue called")
	return nil, errors.New("unexpected")
}

func TestFromEnvChoosesSource(t *testing.T) {
	tests := []struct {
		name     string
		vars     map[string]string
		client   GetSecretValueAPI
		want     string // "sm", "env" or "" for an error
		notConf  bool
		errNames string
	}{
		{name: "secret_id_uses_secrets_manager", vars: map[string]string{EnvSecretID: "prod/alipay", EnvAppID: "2021000000000001"}, client: nopSM{t}, want: "sm"},
		{name: "secret_id_without_client_is_an_error", vars: map[string]string{EnvSecretID: "prod/alipay"}, errNames: EnvSecretID},
		{name: "app_id_uses_env", vars: map[string]string{EnvAppID: "2021000000000001"}, want: "env"},
		{name: "private_key_file_uses_env", vars: map[string]string{EnvPrivateKey + "_FILE": "/k"}, client: nopSM{t}, want: "env"},
		{name: "nothing_configured_is_not_configured", vars: map[string]string{"HOME": "/root"}, client: nopSM{t}, notConf: true, errNames: EnvSecretID},
		{name: "blank_secret_id_is_not_configured", vars: map[string]string{EnvSecretID: "  "}, client: nopSM{t}, notConf: true, errNames: "no credentials configured"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := fakeEnv{vars: tc.vars}
			src, err := FromEnv(env.getenv, tc.client, env.readFile)
			if tc.want == "" {
				if err == nil {
					t.Fatalf("FromEnv chose %T", src)
				}
				if errors.Is(err, ErrNotConfigured) != tc.notConf {
					t.Errorf("errors.Is(%q, ErrNotConfigured) = %v", err, !tc.notConf)
				}
				if !strings.Contains(err.Error(), tc.errNames) {
					t.Errorf("error %q does not mention %s", err, tc.errNames)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			switch s := src.(type) {
			case *SecretsManagerSource:
				if tc.want != "sm" || s.secretID != tc.vars[EnvSecretID] {
					t.Errorf("got Secrets Manager source for %q, want %s", s.secretID, tc.want)
				}
			case *EnvSource:
				if tc.want != "env" {
					t.Errorf("got env source, want %s", tc.want)
				}
			default:
				t.Errorf("unexpected source %T", src)
			}
		})
	}
}

// fakeSM answers GetSecretValue with a fixed error (for classification of codes the
// in-test server does not produce).
type fakeSM struct{ err error }

func (f fakeSM) GetSecretValue(context.Context, *secretsmanager.GetSecretValueInput, ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	return nil, f.err
}

func TestSecretsManagerErrorClassification(t *testing.T) {
	tests := []struct {
		name string
		err  error
		kind error
	}{
		{"resource_not_found_is_not_found", &smithy.GenericAPIError{Code: "ResourceNotFoundException"}, ErrNotFound},
		{"scheduled_for_deletion_is_not_found", &smithy.GenericAPIError{Code: "InvalidRequestException"}, ErrNotFound},
		{"access_denied_is_access_denied", &smithy.GenericAPIError{Code: "AccessDeniedException"}, ErrAccessDenied},
		{"kms_decryption_failure_is_access_denied", &smithy.GenericAPIError{Code: "DecryptionFailure"}, ErrAccessDenied},
		{"expired_token_is_access_denied", &smithy.GenericAPIError{Code: "ExpiredTokenException"}, ErrAccessDenied},
		{"throttling_is_throttled", &smithy.GenericAPIError{Code: "ThrottlingException"}, ErrThrottled},
		{"limit_exceeded_is_throttled", &smithy.GenericAPIError{Code: "LimitExceededException"}, ErrThrottled},
		{"internal_service_error_is_unreachable", &smithy.GenericAPIError{Code: "InternalServiceError", Fault: smithy.FaultServer}, ErrUnreachable},
		{"deadline_is_unreachable", context.DeadlineExceeded, ErrUnreachable},
		{"dial_error_is_unreachable", errors.New("dial tcp 127.0.0.1:1: connect: connection refused"), ErrUnreachable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewSecretsManagerSource(fakeSM{tc.err}, "prod/alipay").Load(context.Background())
			if !errors.Is(err, tc.kind) || !errors.Is(err, ErrUnavailable) || !errors.Is(err, tc.err) {
				t.Fatalf("error %q: want kind %v wrapping the cause", err, tc.kind)
			}
			if !strings.Contains(err.Error(), `"prod/alipay"`) {
				t.Errorf("error %q does not name the secret", err)
			}
		})
	}
}

// The leak checks above are only worth something if they can see a leak.
func TestKeyMaterialCheckDetectsLeaks(t *testing.T) {
	pem := readTestdata(t, "keys/app_private_pkcs8.pem")
	lines := strings.Split(strings.TrimSpace(pem), "\n")
	oneLine := strings.TrimSpace(readTestdata(t, "keys/alipay_public.txt"))
	logger, buf := func() (*slog.Logger, *testkeys.Buffer) {
		b := &testkeys.Buffer{}
		return slog.New(slog.NewJSONHandler(b, nil)), b
	}()
	logger.Info("leak", "pem", pem)
	tests := []struct{ name, text string }{
		{"whole_pem_file", pem},
		{"pem_logged_as_json", buf.String()},
		{"one_pem_line", "key line: " + lines[5]},
		{"middle_of_a_pem_line", lines[2][10:55]},
		{"one_line_public_key", `{"alipay_public_key":"` + oneLine + `"}`},
		{"piece_of_one_line_key", oneLine[80:125]},
		{"aes_key", "encrypt_key=" + strings.TrimSpace(readTestdata(t, "keys/aes_key.txt"))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if len(keyMaterialIn(t, tc.text)) == 0 {
				t.Errorf("leak not detected")
			}
		})
	}
	if hits := keyMaterialIn(t, "credentials: bad key: field private_key: alipay: bad key: not an RSA private key"); len(hits) != 0 {
		t.Errorf("clean text flagged: %q", hits)
	}
}
