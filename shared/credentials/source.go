package credentials

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
)

// Loaded is one successful load: the parsed credentials and the version they came from.
type Loaded struct {
	Credentials *alipay.Credentials
	// Version identifies what was loaded (the secret's VersionId; for env, a digest of
	// the inputs) so a rotation can be noticed and logged. It reveals nothing of the keys.
	Version string
}

// Source loads credentials. Errors are *Error values wrapping ErrUnavailable.
type Source interface {
	Load(ctx context.Context) (Loaded, error)
}

// GetSecretValueAPI is the one Secrets Manager call needed; *secretsmanager.Client
// implements it.
type GetSecretValueAPI interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// SecretsManagerSource loads the credentials secret JSON (see ParseSecret) from AWS
// Secrets Manager, current version (AWSCURRENT).
type SecretsManagerSource struct {
	client   GetSecretValueAPI
	secretID string
}

// NewSecretsManagerSource reads secretID (a name or an ARN) through client.
func NewSecretsManagerSource(client GetSecretValueAPI, secretID string) *SecretsManagerSource {
	return &SecretsManagerSource{client: client, secretID: secretID}
}

// Load fetches and parses the secret. The SDK has already retried throttling, 5xx and
// transport errors by the time an error comes back here.
func (s *SecretsManagerSource) Load(ctx context.Context) (Loaded, error) {
	src := fmt.Sprintf("secret %q", s.secretID)
	out, err := s.client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(s.secretID)})
	if err != nil {
		return Loaded{}, &Error{Kind: classifyAWS(err), Source: src, Err: err}
	}
	var data []byte
	switch {
	case out.SecretString != nil:
		data = []byte(*out.SecretString)
	case len(out.SecretBinary) > 0:
		data = out.SecretBinary
	default:
		return Loaded{}, &Error{Kind: ErrMalformed, Source: src, Err: errors.New("secret has neither SecretString nor SecretBinary")}
	}
	creds, err := ParseSecret(data)
	if err != nil {
		return Loaded{}, withSource(err, src)
	}
	version := aws.ToString(out.VersionId)
	creds.Version = version
	return Loaded{Credentials: creds, Version: version}, nil
}

// classifyAWS maps an SDK error to a kind by its API error code; anything without one
// (dial, TLS, timeout) is unreachable.
func classifyAWS(err error) error {
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		return ErrUnreachable
	}
	switch apiErr.ErrorCode() {
	case "ResourceNotFoundException",
		// Scheduled for deletion, or an id that cannot name a secret.
		"InvalidRequestException", "InvalidParameterException", "ValidationException":
		return ErrNotFound
	case "AccessDeniedException", "AccessDenied",
		// KMS refused to decrypt: the role lacks kms:Decrypt on the secret's key.
		"DecryptionFailure",
		"UnrecognizedClientException", "InvalidSignatureException", "ExpiredTokenException", "InvalidClientTokenId":
		return ErrAccessDenied
	case "ThrottlingException", "LimitExceededException", "TooManyRequestsException", "RequestLimitExceeded", "Throttling":
		return ErrThrottled
	}
	return ErrUnreachable
}

// Environment variables read by EnvSource and FromEnv. Each *_KEY / *_CERT variable
// may instead be given as a file path in the same name with a _FILE suffix.
const (
	EnvSecretID        = "ALIPAY_SECRET_ID"
	EnvAppID           = "ALIPAY_APP_ID"
	EnvPrivateKey      = "ALIPAY_PRIVATE_KEY"
	EnvAlipayPublicKey = "ALIPAY_PUBLIC_KEY"
	EnvAppCert         = "ALIPAY_APP_CERT"
	EnvAlipayCert      = "ALIPAY_ALIPAY_CERT"
	EnvRootCert        = "ALIPAY_ROOT_CERT"
	EnvEncryptKey      = "ALIPAY_ENCRYPT_KEY"
	fileSuffix         = "_FILE"
)

// EnvSource loads credentials from environment variables and files (local runs, tests).
// It reads them again on every Load, so replacing a key file is picked up at the next
// refresh.
type EnvSource struct {
	getenv   func(string) string
	readFile func(string) ([]byte, error)
}

// NewEnvSource reads variables with getenv and files with readFile; nil means os.Getenv
// and os.ReadFile.
func NewEnvSource(getenv func(string) string, readFile func(string) ([]byte, error)) *EnvSource {
	if getenv == nil {
		getenv = os.Getenv
	}
	if readFile == nil {
		readFile = os.ReadFile
	}
	return &EnvSource{getenv: getenv, readFile: readFile}
}

// Load reads and parses the variables. Errors name the variable, never its value.
func (s *EnvSource) Load(context.Context) (Loaded, error) {
	var m material
	var n fieldNames
	for _, f := range []struct {
		env       string
		dst, name *string
	}{
		{EnvAppID, &m.appID, &n.appID},
		{EnvPrivateKey, &m.privateKey, &n.privateKey},
		{EnvAlipayPublicKey, &m.alipayPublicKey, &n.alipayPublicKey},
		{EnvAppCert, &m.appCert, &n.appCert},
		{EnvAlipayCert, &m.alipayCert, &n.alipayCert},
		{EnvRootCert, &m.rootCert, &n.rootCert},
		{EnvEncryptKey, &m.encryptKey, &n.encryptKey},
	} {
		v, name, err := s.lookup(f.env, f.env != EnvAppID)
		if err != nil {
			return Loaded{}, err
		}
		*f.dst, *f.name = v, name
	}
	creds, err := build(m, n)
	if err != nil {
		return Loaded{}, withSource(err, "env")
	}
	// A digest of the inputs stands in for a version id, so a changed key file shows
	// up as a new version in the logs.
	h := sha256.New()
	for _, v := range []string{m.appID, m.privateKey, m.alipayPublicKey, m.appCert, m.alipayCert, m.rootCert, m.encryptKey} {
		fmt.Fprintf(h, "%d:%s;", len(v), v)
	}
	version := "env-" + hex.EncodeToString(h.Sum(nil)[:8])
	creds.Version = version
	return Loaded{Credentials: creds, Version: version}, nil
}

// lookup returns the value of env or of the file env_FILE names, and which of the two
// variables it came from.
func (s *EnvSource) lookup(env string, fileAllowed bool) (value, name string, err error) {
	v := s.getenv(env)
	if !fileAllowed {
		return v, env, nil
	}
	fileEnv := env + fileSuffix
	path := strings.TrimSpace(s.getenv(fileEnv))
	switch {
	case path == "":
		return v, env, nil
	case v != "":
		return "", "", &Error{Kind: ErrMalformed, Source: "env", Field: env, Err: fmt.Errorf("set %s or %s, not both", env, fileEnv)}
	}
	b, err := s.readFile(path)
	if err != nil {
		// The os error holds the path, which is configuration, not key material.
		return "", "", &Error{Kind: ErrNotFound, Source: "env", Field: fileEnv, Err: err}
	}
	return string(b), fileEnv, nil
}

// FromEnv picks the credentials source from configuration: Secrets Manager when
// ALIPAY_SECRET_ID is set (client must be given), else EnvSource when any ALIPAY_APP_ID
// or ALIPAY_PRIVATE_KEY(_FILE) variable is set, else ErrNotConfigured. nil getenv and
// readFile mean os.Getenv and os.ReadFile.
func FromEnv(getenv func(string) string, client GetSecretValueAPI, readFile func(string) ([]byte, error)) (Source, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	if id := strings.TrimSpace(getenv(EnvSecretID)); id != "" {
		if client == nil {
			return nil, fmt.Errorf("credentials: %s is set but no Secrets Manager client was given", EnvSecretID)
		}
		return NewSecretsManagerSource(client, id), nil
	}
	for _, env := range []string{EnvAppID, EnvPrivateKey, EnvPrivateKey + fileSuffix} {
		if strings.TrimSpace(getenv(env)) != "" {
			return NewEnvSource(getenv, readFile), nil
		}
	}
	return nil, ErrNotConfigured
}
