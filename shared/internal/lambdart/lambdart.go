// Package lambdart is a test stand-in for the AWS Lambda Runtime API
// (/2018-06-01/runtime/...): a bootstrap started with AWS_LAMBDA_RUNTIME_API pointing at
// it polls for invocations, and the test sees its replies, invocation errors and init
// errors exactly as Lambda would receive them.
package lambdart

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ErrorPayload is what a runtime posts to /error and /init/error.
type ErrorPayload struct {
	ErrorMessage string   `json:"errorMessage"`
	ErrorType    string   `json:"errorType"`
	StackTrace   []string `json:"stackTrace,omitempty"`
}

// Result is the outcome of one invocation.
type Result struct {
	Payload []byte        // body posted to /response
	Error   *ErrorPayload // body posted to /error
}

type invocation struct {
	id       string
	payload  []byte
	deadline time.Time
	done     chan Result
}

// Server is a Runtime API stand-in listening on 127.0.0.1.
type Server struct {
	ln      net.Listener
	srv     *http.Server
	queue   chan *invocation
	mu      sync.Mutex
	pending map[string]*invocation
	seq     int
	initErr chan ErrorPayload
	polled  chan struct{} // closed at the first /next: the runtime finished init
	once    sync.Once
}

// Start listens on a free loopback port.
func Start() (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Server{ln: ln, queue: make(chan *invocation, 16), pending: map[string]*invocation{},
		initErr: make(chan ErrorPayload, 1), polled: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /2018-06-01/runtime/invocation/next", s.next)
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/response", s.response)
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/error", s.invocationError)
	mux.HandleFunc("POST /2018-06-01/runtime/init/error", s.initError)
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// Addr is the value for AWS_LAMBDA_RUNTIME_API (host:port, no scheme).
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops the server; runtimes blocked in /next see their connection end.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = s.srv.Shutdown(ctx)
	return s.srv.Close()
}

// Ready is closed when the runtime first polls /next, i.e. its init is done.
func (s *Server) Ready() <-chan struct{} { return s.polled }

// InitError delivers an init error posted by the runtime.
func (s *Server) InitError() <-chan ErrorPayload { return s.initErr }

// Invoke queues one event and waits (bounded by ctx) for the runtime's reply.
func (s *Server) Invoke(ctx context.Context, event any, timeout time.Duration) (Result, error) {
	payload, ok := event.([]byte)
	if !ok {
		var err error
		if payload, err = json.Marshal(event); err != nil {
			return Result{}, err
		}
	}
	s.mu.Lock()
	s.seq++
	inv := &invocation{id: "req-" + strconv.Itoa(s.seq), payload: payload,
		deadline: time.Now().Add(timeout), done: make(chan Result, 1)}
	s.pending[inv.id] = inv
	s.mu.Unlock()
	select {
	case s.queue <- inv:
	case <-ctx.Done():
		return Result{}, ctx.Err()
	}
	select {
	case r := <-inv.done:
		return r, nil
	case <-ctx.Done():
		return Result{}, fmt.Errorf("lambdart: no reply to %s: %w", inv.id, ctx.Err())
	}
}

func (s *Server) next(w http.ResponseWriter, r *http.Request) {
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

func (s *Server) take(id string) *invocation {
	s.mu.Lock()
	defer s.mu.Unlock()
	inv := s.pending[id]
	delete(s.pending, id)
	return inv
}

func (s *Server) response(w http.ResponseWriter, r *http.Request) {
	inv := s.take(r.PathValue("id"))
	if inv == nil {
		http.Error(w, "unknown request id", http.StatusBadRequest)
		return
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 6<<20))
	inv.done <- Result{Payload: body}
	w.WriteHeader(http.StatusAccepted)
}

func (s *Server) invocationError(w http.ResponseWriter, r *http.Request) {
	inv := s.take(r.PathValue("id"))
	if inv == nil {
		http.Error(w, "unknown request id", http.StatusBadRequest)
		return
	}
	inv.done <- Result{Error: readError(r)}
	w.WriteHeader(http.StatusAccepted)
}

func (s *Server) initError(w http.ResponseWriter, r *http.Request) {
	select {
	case s.initErr <- *readError(r):
	default:
	}
	w.WriteHeader(http.StatusAccepted)
}

func readError(r *http.Request) *ErrorPayload {
	var p ErrorPayload
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err := json.Unmarshal(body, &p); err != nil || p.ErrorMessage == "" {
		p.ErrorMessage = strings.TrimSpace(string(body))
	}
	if p.ErrorType == "" {
		p.ErrorType = r.Header.Get("Lambda-Runtime-Function-Error-Type")
	}
	return &p
}
