package sandbox

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
)

const testAppID = "2021000000000001"

// testKeys are generated once per test binary: the app key, an unrelated key (a
// merchant who configured the wrong one) and the simulated Alipay key.
var testKeys = sync.OnceValue(func() (k struct{ app, other, alipay *alipay.PrivateKey }) {
	gen := func() *alipay.PrivateKey {
		rk, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		pk, err := alipay.NewPrivateKey(rk)
		if err != nil {
			panic(err)
		}
		return pk
	}
	k.app, k.other, k.alipay = gen(), gen(), gen()
	return k
})

// fastSchedule keeps the 8-delivery shape of Alipay's schedule but takes ~70ms.
var fastSchedule = []time.Duration{
	10 * time.Millisecond, 10 * time.Millisecond, 10 * time.Millisecond, 10 * time.Millisecond,
	10 * time.Millisecond, 10 * time.Millisecond, 10 * time.Millisecond,
}

// capture keeps the raw bytes of every gateway reply the client received.
type capture struct {
	next http.RoundTripper
	mu   sync.Mutex
	last []byte
}

func (c *capture) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := c.next.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.last = body
	c.mu.Unlock()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}

func (c *capture) lastBody() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last
}

// env is a simulator on a loopback server with a real gateway client pointed at it.
type env struct {
	sim     *Simulator
	srv     *httptest.Server
	creds   *alipay.Credentials
	client  *alipay.Client
	capture *capture
}

func newEnv(t *testing.T, mutate func(*Options)) *env {
	t.Helper()
	k := testKeys()
	opts := Options{
		AppID:         testAppID,
		AppPublicKey:  k.app.Public(),
		AlipayKey:     k.alipay,
		RetrySchedule: fastSchedule,
		MaxHold:       5 * time.Second,
	}
	if mutate != nil {
		mutate(&opts)
	}
	sim, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(func() {
		srv.Close()
		_ = sim.Close()
	})
	e := &env{sim: sim, srv: srv, capture: &capture{next: http.DefaultTransport}}
	e.creds = &alipay.Credentials{AppID: testAppID, PrivateKey: k.app, AlipayPublicKey: sim.AlipayPublicKey()}
	e.client = alipay.NewClient(srv.URL+"/sandbox/gateway.do",
		alipay.WithHTTPClient(&http.Client{Transport: e.capture}),
		alipay.WithTimeout(5*time.Second))
	return e
}

func (e *env) gatewayURL() string { return e.srv.URL + "/sandbox/gateway.do" }

// execute calls method through the real client.
func (e *env) execute(t *testing.T, method, biz string, opts alipay.CallOptions) (*alipay.Reply, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return e.client.Execute(ctx, e.creds, method, biz, opts)
}

// node decodes a successful reply's node into a string map.
func nodeOf(t *testing.T, r *alipay.Reply) map[string]string {
	t.Helper()
	var m map[string]string
	if err := json.Unmarshal(r.Node, &m); err != nil {
		t.Fatalf("reply node: %v", err)
	}
	return m
}

// control POSTs a JSON body to a control endpoint and decodes the reply.
func (e *env) control(t *testing.T, path string, body any) (int, map[string]any) {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(e.srv.URL+path, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("%s: reply is not JSON: %v", path, err)
	}
	return resp.StatusCode, out
}

// mustControl is control expecting 200.
func (e *env) mustControl(t *testing.T, path string, body any) map[string]any {
	t.Helper()
	status, out := e.control(t, path, body)
	if status != http.StatusOK {
		t.Fatalf("%s: status %d: %v", path, status, out)
	}
	return out
}

// errorOf returns the "error" object of a control reply.
func errorOf(t *testing.T, out map[string]any) map[string]any {
	t.Helper()
	e, ok := out["error"].(map[string]any)
	if !ok {
		t.Fatalf("reply has no error object: %v", out)
	}
	return e
}

func (e *env) waitIdle(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.sim.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
}

// received is one POST a notify endpoint got.
type received struct {
	contentType string
	body        []byte
}

// sink is a loopback notify endpoint answering from a script; the last reply repeats.
type sink struct {
	srv     *httptest.Server
	mu      sync.Mutex
	got     []received
	replies []sinkReply
}

type sinkReply struct {
	status int
	body   string
}

var ackSuccess = sinkReply{http.StatusOK, "success"}

func newSink(t *testing.T, replies ...sinkReply) *sink {
	t.Helper()
	if len(replies) == 0 {
		replies = []sinkReply{ackSuccess}
	}
	s := &sink{replies: replies}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		s.mu.Lock()
		i := len(s.got)
		s.got = append(s.got, received{r.Header.Get("Content-Type"), body})
		s.mu.Unlock()
		rep := s.replies[min(i, len(s.replies)-1)]
		w.WriteHeader(rep.status)
		_, _ = io.WriteString(w, rep.body)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *sink) url() string { return s.srv.URL + "/notify" }

func (s *sink) all() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]received(nil), s.got...)
}

// verified parses and verifies a received notification with the simulator's key.
func verified(t *testing.T, e *env, r received) *alipay.Notification {
	t.Helper()
	if !strings.HasPrefix(r.contentType, "application/x-www-form-urlencoded") {
		t.Fatalf("Content-Type %q", r.contentType)
	}
	n, err := alipay.ParseNotification(r.body)
	if err != nil {
		t.Fatalf("parse notification: %v", err)
	}
	if err := n.Verify(e.creds); err != nil {
		t.Fatalf("verify notification: %v", err)
	}
	return n
}

// notifications returns the "notifications" of a control reply as param maps.
func notifications(t *testing.T, out map[string]any) []map[string]string {
	t.Helper()
	list, ok := out["notifications"].([]any)
	if !ok {
		t.Fatalf("reply has no notifications: %v", out)
	}
	var res []map[string]string
	for _, item := range list {
		obj := item.(map[string]any)
		params := map[string]string{}
		for k, v := range obj["params"].(map[string]any) {
			params[k] = v.(string)
		}
		res = append(res, params)
	}
	return res
}

func asBusiness(t *testing.T, err error) *alipay.BusinessError {
	t.Helper()
	var be *alipay.BusinessError
	if !errors.As(err, &be) {
		t.Fatalf("want *BusinessError, got %T: %v", err, err)
	}
	return be
}

func asUnknown(t *testing.T, err error) *alipay.UnknownOutcomeError {
	t.Helper()
	var ue *alipay.UnknownOutcomeError
	if !errors.As(err, &ue) {
		t.Fatalf("want *UnknownOutcomeError, got %T: %v", err, err)
	}
	return ue
}

// voucherBiz is a voucher create biz_content.
func voucherBiz(outOrderNo, outRequestNo, title, amount string) string {
	b, _ := json.Marshal(map[string]string{
		"out_order_no": outOrderNo, "out_request_no": outRequestNo,
		"order_title": title, "amount": amount, "product_code": "PRE_AUTH",
	})
	return string(b)
}

func (r received) String() string { return string(r.body) }
