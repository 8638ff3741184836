// Package smtest is a Secrets Manager stand-in for tests of whole processes: it answers
// GetSecretValue in the service's JSON 1.1 protocol on a loopback port, so a bootstrap
// reaches it through AWS_ENDPOINT_URL_SECRETS_MANAGER with the real SDK client.
package smtest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
)

// Server holds secrets by name and counts calls.
type Server struct {
	srv     *httptest.Server
	mu      sync.Mutex
	secrets map[string]string
	calls   atomic.Int64
}

// Start serves on 127.0.0.1 until the test ends.
func Start(tb testing.TB) *Server {
	tb.Helper()
	s := &Server{secrets: map[string]string{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	tb.Cleanup(s.srv.Close)
	return s
}

// URL is the endpoint to configure.
func (s *Server) URL() string { return s.srv.URL }

// Calls is how many GetSecretValue calls were answered.
func (s *Server) Calls() int64 { return s.calls.Load() }

// Put stores a secret string under name.
func (s *Server) Put(name, value string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.secrets[name] = value
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	if r.Header.Get("X-Amz-Target") != "secretsmanager.GetSecretValue" {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"__type":"UnknownOperationException","message":"unsupported"}`))
		return
	}
	var in struct{ SecretId string }
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"__type":"SerializationException","message":"bad body"}`))
		return
	}
	s.calls.Add(1)
	s.mu.Lock()
	v, ok := s.secrets[in.SecretId]
	s.mu.Unlock()
	if !ok {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"__type":"ResourceNotFoundException","message":"Secrets Manager can't find the specified secret."}`))
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]any{
		"ARN": "arn:aws:secretsmanager:us-east-1:000000000000:secret:" + in.SecretId + "-AbCdEf", "Name": in.SecretId,
		"SecretString": v, "VersionId": "v1", "VersionStages": []string{"AWSCURRENT"},
	})
}
