// Package dynalitetest runs dynalite (a DynamoDB implementation on Node.js, pinned in the
// module's package.json) for tests: one server per call on a free loopback port, its data
// in a temporary directory so it survives a restart, stopped when the test ends.
package dynalitetest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/alipay-serverless/alipay-serverless/test/harness/testkeys"
)

const (
	startTimeout = 15 * time.Second
	stopTimeout  = 5 * time.Second
	// ClientTimeout bounds one HTTP attempt of a NewClient client, so outage tests end fast.
	ClientTimeout = 2 * time.Second
)

// Server is one running dynalite.
type Server struct {
	tb   testing.TB
	bin  string
	dir  string
	port int
	log  *testkeys.Buffer

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// Start runs dynalite on a free 127.0.0.1 port and waits until it answers. It fails the
// test (never skips) when the binary is missing.
func Start(tb testing.TB) *Server {
	tb.Helper()
	root, err := testkeys.FindRoot()
	if err != nil {
		tb.Fatalf("dynalitetest: %v", err)
	}
	bin := filepath.Join(root, "node_modules", ".bin", "dynalite")
	if _, err := os.Stat(bin); err != nil {
		tb.Fatalf("dynalitetest: dynalite not found at %s (%v): run npm ci in %s", bin, err, root)
	}
	s := &Server{tb: tb, bin: bin, dir: filepath.Join(tb.TempDir(), "db"), log: &testkeys.Buffer{}}
	tb.Cleanup(s.Stop)
	var lastErr error
	for range 3 { // a port picked as free may be taken before dynalite binds it
		port, err := freePort()
		if err != nil {
			tb.Fatalf("dynalitetest: %v", err)
		}
		if lastErr = s.start(port); lastErr == nil {
			return s
		}
	}
	tb.Fatalf("dynalitetest: start: %v\n%s", lastErr, s.log.String())
	return nil
}

// Endpoint is the server's base URL.
func (s *Server) Endpoint() string { return "http://127.0.0.1:" + strconv.Itoa(s.port) }

// Stop ends the server (idempotent). Data stays in its directory for Restart.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(stopTimeout):
		_ = s.cmd.Process.Kill()
		select {
		case <-s.done:
		case <-time.After(stopTimeout):
			s.tb.Errorf("dynalitetest: pid %d did not exit", s.cmd.Process.Pid)
		}
	}
	s.cmd, s.done = nil, nil
}

// Restart stops the server and starts it again on the same port with the same data.
func (s *Server) Restart() {
	s.tb.Helper()
	s.Stop()
	var err error
	for range 20 { // the port may linger briefly after the old process exits
		if err = s.start(s.port); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.tb.Fatalf("dynalitetest: restart on port %d: %v\n%s", s.port, err, s.log.String())
}

func (s *Server) start(port int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cmd := exec.Command(s.bin,
		"--host", "127.0.0.1", "--port", strconv.Itoa(port), "--path", s.dir,
		"--createTableMs", "0", "--deleteTableMs", "0", "--updateTableMs", "0")
	cmd.Stdout, cmd.Stderr = s.log, s.log
	cmd.SysProcAttr = procAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("run %s: %w (is node on PATH? run npm ci)", s.bin, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	endpoint := "http://127.0.0.1:" + strconv.Itoa(port)
	deadline := time.Now().Add(startTimeout)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			return fmt.Errorf("dynalite exited during start on port %d", port)
		default:
		}
		if answers(endpoint) {
			// Another process's server on a port taken from us also answers, while
			// dynalite exits on EADDRINUSE: it must still be there a moment later.
			select {
			case <-done:
				return fmt.Errorf("dynalite exited during start on port %d (taken?)", port)
			case <-time.After(100 * time.Millisecond):
			}
			s.cmd, s.done, s.port = cmd, done, port
			return nil
		}
		time.Sleep(25 * time.Millisecond)
	}
	_ = cmd.Process.Kill()
	<-done
	return fmt.Errorf("dynalite did not answer on port %d within %s", port, startTimeout)
}

// answers reports whether anything speaks HTTP at endpoint; any reply (dynalite rejects
// the unsigned request) means it is serving.
func answers(endpoint string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader("{}"))
	if err != nil {
		return false
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	req.Header.Set("X-Amz-Target", "DynamoDB_20120810.ListTables")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return true
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// NewClient returns a DynamoDB client for endpoint: static dummy credentials, region
// us-east-1, at most 2 attempts per call with short backoff, ClientTimeout per attempt.
func NewClient(tb testing.TB, endpoint string) *dynamodb.Client {
	transport := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: time.Second}).DialContext,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     30 * time.Second,
	}
	tb.Cleanup(transport.CloseIdleConnections)
	return dynamodb.New(dynamodb.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint),
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "dynalite", SecretAccessKey: "dynalite", Source: "dynalitetest"}, nil
		}),
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = 2
			o.MaxBackoff = 50 * time.Millisecond
			o.RateLimiter = ratelimit.None
		}),
		HTTPClient: &http.Client{Transport: transport, Timeout: ClientTimeout},
	})
}
