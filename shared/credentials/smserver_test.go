package credentials

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// Failures the fake Secrets Manager can be told to answer with.
const (
	failThrottle = "throttle"
	failInternal = "internal"
	failDenied   = "denied"
)

// smSecret is one stored secret version.
type smSecret struct {
	str     string
	binary  []byte // used instead of str when set
	version string
}

// smServer speaks the Secrets Manager JSON 1.1 protocol for GetSecretValue on a
// loopback port.
type smServer struct {
	t     testing.TB
	srv   *httptest.Server
	calls atomic.Int64

	mu      sync.Mutex
	secrets map[string]smSecret
	script  []string // failures to answer with, one per call, before normal answers
	always  string   // failure for every call when set
	gate    chan struct{}
}

const testRegion = "us-east-1"

func secretARN(name string) string {
	return "arn:aws:secretsmanager:" + testRegion + ":123456789012:secret:" + name + "-AbCdEf"
}

// newSMServer starts the fake on 127.0.0.1 (addr "" picks a free port).
func newSMServer(t testing.TB, addr string) *smServer {
	t.Helper()
	s := &smServer{t: t, secrets: map[string]smSecret{}}
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var l net.Listener
	var err error
	// A port given back by an earlier listener may take a moment to be free again.
	for i := 0; i < 100; i++ {
		if l, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("listen %s: %v", addr, err)
	}
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	s.srv.Listener.Close()
	s.srv.Listener = l
	s.srv.Start()
	t.Cleanup(s.srv.Close)
	return s
}

func (s *smServer) URL() string { return s.srv.URL }

func (s *smServer) put(name string, sec smSecret) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.secrets[name] = sec
}

func (s *smServer) fail(script ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.script = append(s.script, script...)
}

func (s *smServer) failAlways(kind string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.always = kind
}

// block makes calls wait until the returned func is called (bounded).
func (s *smServer) block() (release func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := make(chan struct{})
	s.gate = g
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			s.gate = nil
			s.mu.Unlock()
			close(g)
		})
	}
}

func (s *smServer) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/" {
		s.t.Errorf("fake secrets manager: unexpected %s %s", r.Method, r.URL.Path)
		http.Error(w, "bad request line", http.StatusNotFound)
		return
	}
	if got := r.Header.Get("X-Amz-Target"); got != "secretsmanager.GetSecretValue" {
		s.t.Errorf("X-Amz-Target = %q", got)
		writeSMError(w, http.StatusBadRequest, "UnknownOperationException", "unexpected target")
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-amz-json-1.1" {
		s.t.Errorf("Content-Type = %q", ct)
	}
	if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
		s.t.Errorf("request is not SigV4-signed")
	}
	var in struct{ SecretId string }
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		writeSMError(w, http.StatusBadRequest, "SerializationException", "bad body")
		return
	}
	s.calls.Add(1)

	s.mu.Lock()
	gate := s.gate
	failure := s.always
	if failure == "" && len(s.script) > 0 {
		failure, s.script = s.script[0], s.script[1:]
	}
	sec, ok := s.secrets[in.SecretId]
	name := in.SecretId
	if !ok {
		for n, v := range s.secrets {
			if secretARN(n) == in.SecretId {
				sec, ok, name = v, true, n
			}
		}
	}
	s.mu.Unlock()

	if gate != nil {
		select {
		case <-gate:
		case <-time.After(10 * time.Second):
			s.t.Errorf("fake secrets manager: call blocked for more than 10s")
		}
	}
	switch failure {
	case failThrottle:
		writeSMError(w, http.StatusBadRequest, "ThrottlingException", "Rate exceeded")
		return
	case failInternal:
		writeSMError(w, http.StatusInternalServerError, "InternalServiceError", "internal error")
		return
	case failDenied:
		writeSMError(w, http.StatusBadRequest, "AccessDeniedException", "User is not authorized to perform secretsmanager:GetSecretValue")
		return
	}
	if !ok {
		writeSMError(w, http.StatusBadRequest, "ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
		return
	}
	out := map[string]any{
		"ARN":           secretARN(name),
		"Name":          name,
		"VersionId":     sec.version,
		"VersionStages": []string{"AWSCURRENT"},
		"CreatedDate":   1.7487648e9,
	}
	if sec.binary != nil {
		out["SecretBinary"] = sec.binary // encoding/json writes []byte as base64, as the service does
	} else {
		out["SecretString"] = sec.str
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	if err := json.NewEncoder(w).Encode(out); err != nil {
		s.t.Errorf("encode reply: %v", err)
	}
}

func writeSMError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-Requestid", "00000000-0000-0000-0000-000000000000")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"__type":%q,"message":%q}`, code, msg)
}

// countingHTTP counts requests the SDK sends, including those that never reach a server.
type countingHTTP struct {
	inner aws.HTTPClient
	n     atomic.Int64
}

func (c *countingHTTP) Do(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.inner.Do(r)
}

const testMaxAttempts = 4

// newSMClient is the real SDK client pointed at url: static dummy credentials, and a
// standard retryer with tiny backoff and no retry quota so failures stay fast.
func newSMClient(t testing.TB, url string) (*secretsmanager.Client, *countingHTTP) {
	t.Helper()
	hc := &countingHTTP{inner: awshttp.NewBuildableClient()}
	cfg := aws.Config{
		Region: testRegion,
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "dummy-secret", Source: "test"}, nil
		}),
	}
	return secretsmanager.NewFromConfig(cfg, func(o *secretsmanager.Options) {
		o.BaseEndpoint = aws.String(url)
		o.HTTPClient = hc
		o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
			so.MaxAttempts = testMaxAttempts
			so.MaxBackoff = 5 * time.Millisecond
			so.RateLimiter = ratelimit.None
		})
	}), hc
}
