//go:build linux

package perf

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
)

// runtimeAPI is a minimal stand-in for the Lambda Runtime API (/2018-06-01/runtime/...)
// that BenchmarkColdStart execs each bootstrap against. The entry-point tests use AWS's
// emulator (test/deploytest); the cold-start figures keep this stand-in because they
// are about the bootstrap process alone: exec → first poll of /next (init), exec → first
// reply, and the process's own CPU time and peak RSS, which under the emulator would be
// measured through (and mixed with) the emulator's process and its start-up.
type runtimeAPI struct {
	ln      net.Listener
	srv     *http.Server
	queue   chan *invocation
	mu      sync.Mutex
	pending map[string]*invocation
	seq     int
	polled  chan struct{} // closed at the first /next: the runtime finished init
	once    sync.Once
}

// runtimeError is what a runtime posts to /error.
type runtimeError struct {
	ErrorMessage string `json:"errorMessage"`
	ErrorType    string `json:"errorType"`
}

// invocationResult is the outcome of one invocation.
type invocationResult struct {
	Payload []byte        // body posted to /response
	Error   *runtimeError // body posted to /error
}

type invocation struct {
	id       string
	payload  []byte
	deadline time.Time
	done     chan invocationResult
}

// startRuntimeAPI listens on a free loopback port.
func startRuntimeAPI() (*runtimeAPI, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &runtimeAPI{ln: ln, queue: make(chan *invocation, 16), pending: map[string]*invocation{}, polled: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /2018-06-01/runtime/invocation/next", s.next)
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/response", s.response)
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/error", s.invocationError)
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// Addr is the value for AWS_LAMBDA_RUNTIME_API (host:port, no scheme).
func (s *runtimeAPI) Addr() string { return s.ln.Addr().String() }

// Close stops the server; runtimes blocked in /next see their connection end.
func (s *runtimeAPI) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = s.srv.Shutdown(ctx)
	return s.srv.Close()
}

// Ready is closed when the runtime first polls /next, i.e. its init is done.
func (s *runtimeAPI) Ready() <-chan struct{} { return s.polled }

// Invoke queues one event and waits (bounded by ctx) for the runtime's reply.
func (s *runtimeAPI) Invoke(ctx context.Context, event any, timeout time.Duration) (invocationResult, error) {
	payload, err := json.Marshal(event)
	if err != nil {
		return invocationResult{}, err
	}
	s.mu.Lock()
	s.seq++
	inv := &invocation{id: "req-" + strconv.Itoa(s.seq), payload: payload,
		deadline: time.Now().Add(timeout), done: make(chan invocationResult, 1)}
	s.pending[inv.id] = inv
	s.mu.Unlock()
	select {
	case s.queue <- inv:
	case <-ctx.Done():
		return invocationResult{}, ctx.Err()
	}
	select {
	case r := <-inv.done:
		return r, nil
	case <-ctx.Done():
		return invocationResult{}, fmt.Errorf("runtime API: no reply to %s: %w", inv.id, ctx.Err())
	}
}

func (s *runtimeAPI) next(w http.ResponseWriter, r *http.Request) {
	s.once.Do(func() { close(s.polled) })
	select {
	case inv := <-s.queue:
		h := w.Header()
		h.Set("Lambda-Runtime-Aws-Request-Id", inv.id)
		h.Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(inv.deadline.UnixMilli(), 10))
		h.Set("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:000000000000:function:test")
		h.Set("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000;Sampled=0")
		h.Set("Content-Type", "application/json")
		_, _ = w.Write(inv.payload)
	case <-r.Context().Done():
	}
}

func (s *runtimeAPI) take(id string) *invocation {
	s.mu.Lock()
	defer s.mu.Unlock()
	inv := s.pending[id]
	delete(s.pending, id)
	return inv
}

func (s *runtimeAPI) response(w http.ResponseWriter, r *http.Request) {
	inv := s.take(r.PathValue("id"))
	if inv == nil {
		http.Error(w, "unknown request id", http.StatusBadRequest)
		return
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 6<<20))
	inv.done <- invocationResult{Payload: body}
	w.WriteHeader(http.StatusAccepted)
}

func (s *runtimeAPI) invocationError(w http.ResponseWriter, r *http.Request) {
	inv := s.take(r.PathValue("id"))
	if inv == nil {
		http.Error(w, "unknown request id", http.StatusBadRequest)
		return
	}
	var p runtimeError
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err := json.Unmarshal(body, &p); err != nil || p.ErrorMessage == "" {
		p.ErrorMessage = strings.TrimSpace(string(body))
	}
	if p.ErrorType == "" {
		p.ErrorType = r.Header.Get("Lambda-Runtime-Function-Error-Type")
	}
	inv.done <- invocationResult{Error: &p}
	w.WriteHeader(http.StatusAccepted)
}

// TestRuntimeAPIStandInDrivesAwsLambdaGo drives aws-lambda-go's own runtime loop (in
// process, as the bootstraps run it) through the cold-start stand-in: a reply and a
// handler error come back as Lambda would see them.
func TestRuntimeAPIStandInDrivesAwsLambdaGo(t *testing.T) {
	s, err := startRuntimeAPI()
	if err != nil {
		t.Fatal(err)
	}
	// Not closed: aws-lambda-go's loop runs until the process exits and exits the process
	// (log.Fatal) when the Runtime API goes away, which would fail the test binary.
	t.Setenv("AWS_LAMBDA_RUNTIME_API", s.Addr())
	os.Unsetenv("_LAMBDA_SERVER_PORT")
	go lambda.Start(func(ctx context.Context, in map[string]string) (map[string]string, error) {
		if in["fail"] != "" {
			return nil, errors.New("handler failed")
		}
		return map[string]string{"echo": in["msg"]}, nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	select {
	case <-s.Ready():
	case <-ctx.Done():
		t.Fatal("the runtime never polled /next")
	}
	r, err := s.Invoke(ctx, map[string]string{"msg": "hi"}, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]string
	if err := json.Unmarshal(r.Payload, &out); err != nil || out["echo"] != "hi" {
		t.Fatalf("reply %s err %v", r.Payload, err)
	}
	r, err = s.Invoke(ctx, map[string]string{"fail": "1"}, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if r.Error == nil || r.Error.ErrorMessage != "handler failed" {
		t.Fatalf("want invocation error, got %+v", r)
	}
}
