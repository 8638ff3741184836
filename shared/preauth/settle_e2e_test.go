package preauth_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
	"github.com/alipay-serverless/alipay-serverless/shared/config"
	"github.com/alipay-serverless/alipay-serverless/shared/credentials"
	"github.com/alipay-serverless/alipay-serverless/shared/httpapi"
	"github.com/alipay-serverless/alipay-serverless/shared/orders"
	"github.com/alipay-serverless/alipay-serverless/shared/sandbox"
	"github.com/alipay-serverless/alipay-serverless/shared/wiring"
)

// The settle routes end to end: every slice wired as in cmd/local, on one loopback
// server with the gateway simulator, so notify_url reaches the notify route.

const e2eApp = "2021000000000001"

var (
	keyOnce sync.Once
	appKey  *alipay.PrivateKey
)

type stack struct {
	t     *testing.T
	url   string
	sim   *sandbox.Simulator
	store *orders.MemoryStore

	blockNotify atomic.Bool // answer fail without applying; the body is kept
	mu          sync.Mutex
	held        [][]byte // first delivery of each held notice, in arrival order
	heldIDs     map[string]bool
}

func newStack(t *testing.T) *stack {
	t.Helper()
	keyOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		if appKey, err = alipay.NewPrivateKey(k); err != nil {
			panic(err)
		}
	})
	sim, err := sandbox.New(sandbox.Options{AppID: e2eApp, AppPublicKey: appKey.Public(), MaxHold: 5 * time.Second,
		RetrySchedule: []time.Duration{10 * time.Millisecond, 30 * time.Millisecond, 60 * time.Millisecond,
			120 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond, time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	s := &stack{t: t, sim: sim, store: orders.NewMemoryStore(), heldIDs: map[string]bool{}}
	var api http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasPrefix(r.URL.Path, sandbox.Prefix):
			sim.Handler().ServeHTTP(w, r)
		case r.URL.Path == httpapi.NotifyPath && s.blockNotify.Load() && r.Header.Get(manualDelivery) == "":
			body, _ := io.ReadAll(r.Body)
			vals, _ := parseForm(body)
			s.mu.Lock()
			if id := vals["notify_id"]; !s.heldIDs[id] {
				s.heldIDs[id] = true
				s.held = append(s.held, body)
			}
			s.mu.Unlock()
			http.Error(w, "fail", http.StatusServiceUnavailable)
		default:
			api.ServeHTTP(w, r)
		}
	}))
	s.url = srv.URL
	creds := credentials.Static{Creds: &alipay.Credentials{AppID: e2eApp, PrivateKey: appKey, AlipayPublicKey: sim.AlipayPublicKey(), Version: "test"}}
	cfg := config.Config{GatewayURL: srv.URL + sandbox.GatewayPath, GatewayTimeout: 800 * time.Millisecond, AppPayPricing: config.PricingClient}
	log := slog.New(slog.DiscardHandler)
	router := httpapi.NewRouter(httpapi.LocalCaller, log)
	deps := wiring.Deps{Config: cfg, Log: log, Store: s.store, Credentials: creds,
		Gateway: alipay.NewClient(cfg.GatewayURL, alipay.WithTimeout(cfg.GatewayTimeout))}
	if err := wiring.Mount(router, deps, wiring.All...); err != nil {
		t.Fatal(err)
	}
	api = router
	t.Cleanup(func() {
		s.blockNotify.Store(false)
		_ = sim.Close()
		srv.Close()
	})
	return s
}

// manualDelivery marks the test's own deliveries of held notices.
const manualDelivery = "X-Test-Manual-Delivery"

func parseForm(body []byte) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range strings.Split(string(body), "&") {
		k, v, _ := strings.Cut(kv, "=")
		out[k] = v
	}
	return out, nil
}

type resp struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (r resp) code() string {
	e, _ := r.body["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}

func (r resp) errField(k string) string {
	e, _ := r.body["error"].(map[string]any)
	s, _ := e[k].(string)
	return s
}

func (r resp) str(k string) string { s, _ := r.body[k].(string); return s }

// do sends one request as caller (scopes "" = every scope).
func (s *stack) do(method, path, caller, scopes, ct, body string) resp {
	s.t.Helper()
	req, err := http.NewRequest(method, s.url+path, strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	if caller != "" {
		req.Header.Set(httpapi.LocalCallerHeader, caller)
	}
	if scopes != "" {
		req.Header.Set(httpapi.LocalScopesHeader, scopes)
	}
	req.Header.Set(manualDelivery, "1")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	r := resp{status: res.StatusCode, header: res.Header, raw: string(raw)}
	_ = json.Unmarshal(raw, &r.body)
	return r
}

func (s *stack) post(path, body string) resp {
	s.t.Helper()
	return s.do(http.MethodPost, path, "", "", "application/json", body)
}

func (s *stack) control(path string, body any) {
	s.t.Helper()
	b, _ := json.Marshal(body)
	res, err := http.Post(s.url+path, "application/json", bytes.NewReader(b))
	if err != nil {
		s.t.Fatal(err)
	}
	raw, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		s.t.Fatalf("%s: %d %s", path, res.StatusCode, raw)
	}
}

func (s *stack) idle() {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.sim.WaitIdle(ctx); err != nil {
		s.t.Fatal(err)
	}
}

// authorized creates a voucher for order and has the buyer scan it.
func (s *stack) authorized(order string) {
	s.t.Helper()
	s.voucher(order)
	s.control("/sandbox/vouchers/scan", map[string]string{"out_order_no": order})
	s.idle()
	if o := s.get(order); o.str("status") != "AUTHORIZED" {
		s.t.Fatalf("order after scan: %s", o.raw)
	}
}

func (s *stack) voucher(order string) {
	s.t.Helper()
	r := s.post("/v1/preauth/vouchers", fmt.Sprintf(`{"out_order_no":%q,"out_request_no":%q,"order_title":"Deposit","amount":"100.00","product_code":"PRE_AUTH"}`, order, order+"R1"))
	if r.status != http.StatusOK {
		s.t.Fatalf("voucher: %d %s", r.status, r.raw)
	}
}

func (s *stack) get(order string) resp {
	s.t.Helper()
	return s.do(http.MethodGet, "/v1/preauth/orders/"+order, "", "", "", "")
}

func capturePath(order string) string  { return "/v1/preauth/orders/" + order + "/captures" }
func unfreezePath(order string) string { return "/v1/preauth/orders/" + order + "/unfreezes" }
func cancelPath(order string) string   { return "/v1/preauth/orders/" + order + "/cancel" }

func captureBody(no, amount, subject string) string {
	return fmt.Sprintf(`{"out_trade_no":%q,"amount":%q,"subject":%q}`, no, amount, subject)
}

func unfreezeBody(no, amount, remark string) string {
	return fmt.Sprintf(`{"out_request_no":%q,"amount":%q,"remark":%q}`, no, amount, remark)
}

// moved sums the simulator's ledger for one request.
func (s *stack) moved(requestNo string) (n int, sum alipay.Amount) {
	for _, m := range s.sim.Ledger() {
		if m.RequestNo == requestNo {
			n++
			sum += m.Amount
		}
	}
	return n, sum
}

func TestSettleFlowVoucherScanCaptureUnfreeze(t *testing.T) {
	s := newStack(t)
	s.authorized("PA001")
	if o := s.store; o == nil {
		t.Fatal("no store")
	}
	ord, err := s.store.GetPreAuthOrder(t.Context(), "PA001")
	if err != nil || ord.PayerUserID != sandbox.DefaultBuyerID || ord.PayeeUserID != sandbox.DefaultSellerID {
		t.Fatalf("the freeze's parties were not kept: %+v, %v", ord, err)
	}
	c := s.post(capturePath("PA001"), captureBody("PA001C1", "30.00", "Rental"))
	if c.status != http.StatusOK || c.str("status") != "SUCCEEDED" || c.str("rest_amount") != "70.00" || c.str("trade_no") == "" {
		t.Fatalf("capture: %d %s", c.status, c.raw)
	}
	u := s.post(unfreezePath("PA001"), unfreezeBody("PA001U1", "70.00", "return the rest"))
	if u.status != http.StatusOK || u.str("status") != "SUCCEEDED" || u.str("rest_amount") != "0.00" || u.str("operation_id") == "" {
		t.Fatalf("unfreeze: %d %s", u.status, u.raw)
	}
	s.idle()
	g := s.get("PA001")
	if g.str("status") != "FINISHED" || g.str("total_pay_amount") != "30.00" || g.str("total_unfreeze_amount") != "70.00" || g.str("rest_amount") != "0.00" {
		t.Fatalf("order: %s", g.raw)
	}
	caps, _ := g.body["captures"].([]any)
	unf, _ := g.body["unfreezes"].([]any)
	if len(caps) != 1 || len(unf) != 1 || caps[0].(map[string]any)["trade_no"] != c.str("trade_no") {
		t.Fatalf("operations in the view: %s", g.raw)
	}
	for _, d := range s.sim.Deliveries() {
		if d.Attempt == 1 && !d.Acked && d.NotifyType != string(alipay.KindTradeStatus) {
			t.Errorf("notice %s %s not acknowledged: %+v", d.NotifyType, d.NotifyID, d)
		}
	}
	// An identical retry replays; nothing moves again.
	again := s.post(capturePath("PA001"), captureBody("PA001C1", "30.00", "Rental"))
	if again.status != http.StatusOK || again.header.Get(httpapi.ReplayedHeader) != "true" || again.str("trade_no") != c.str("trade_no") {
		t.Fatalf("replay: %d %s", again.status, again.raw)
	}
	if n, _ := s.moved("PA001C1"); n != 1 {
		t.Fatalf("capture moved money %d times", n)
	}
	if n, _ := s.moved("PA001U1"); n != 1 {
		t.Fatalf("unfreeze moved money %d times", n)
	}
}

func TestCompleteCaptureReleasesTheRest(t *testing.T) {
	s := newStack(t)
	s.authorized("PA002")
	c := s.post(capturePath("PA002"), `{"out_trade_no":"PA002C1","amount":"30.00","subject":"Rental","auth_confirm_mode":"COMPLETE"}`)
	if c.status != http.StatusOK || c.str("rest_amount") != "0.00" {
		t.Fatalf("capture: %d %s", c.status, c.raw)
	}
	s.idle()
	if g := s.get("PA002"); g.str("status") != "FINISHED" || g.str("total_unfreeze_amount") != "70.00" {
		t.Fatalf("order: %s", g.raw)
	}
	if r := s.post(unfreezePath("PA002"), unfreezeBody("PA002U1", "1.00", "more")); r.status != http.StatusConflict || r.code() != "ORDER_NOT_AUTHORIZED" {
		t.Fatalf("unfreeze after COMPLETE: %d %s", r.status, r.raw)
	}
}

// Every forced "the money moved but the reply was lost": the first call answers 503,
// the identical retry asks Alipay first and answers 200 without moving money again.
// The notices are held, so that only the question can settle the operations.
func TestLostRepliesMoveMoneyExactlyOnce(t *testing.T) {
	for _, marker := range []string{"SIM_TIMEOUT", "SIM_20000", "SIM_SYSTEM_ERROR", "SIM_BAD_SIGN", "SIM_HTTP500"} {
		t.Run(marker, func(t *testing.T) {
			s := newStack(t)
			s.authorized("PA1")
			s.blockNotify.Store(true)
			ops := []struct {
				name, path, body, requestNo string
			}{
				{"capture", capturePath("PA1"), captureBody("PA1C1", "30.00", "Rental "+marker), "PA1C1"},
				{"unfreeze", unfreezePath("PA1"), unfreezeBody("PA1U1", "20.00", "partial "+marker), "PA1U1"},
			}
			for _, op := range ops {
				first := s.post(op.path, op.body)
				if first.status != http.StatusServiceUnavailable || first.code() != "ALIPAY_UNAVAILABLE" || first.header.Get("Retry-After") == "" {
					t.Fatalf("%s first: %d %s", op.name, first.status, first.raw)
				}
				retry := s.post(op.path, op.body)
				if retry.status != http.StatusOK || retry.str("status") != "SUCCEEDED" {
					t.Fatalf("%s retry: %d %s", op.name, retry.status, retry.raw)
				}
				if n, _ := s.moved(op.requestNo); n != 1 {
					t.Fatalf("%s moved money %d times", op.name, n)
				}
			}
			s.blockNotify.Store(false) // the held notices' redeliveries now find them settled
			s.idle()
			if g := s.get("PA1"); g.str("rest_amount") != "50.00" || g.str("total_pay_amount") != "30.00" || g.str("total_unfreeze_amount") != "20.00" {
				t.Fatalf("order: %s", g.raw)
			}
			// Cancel of an unpaid voucher of another order, reply lost the same way.
			s.voucher("PA2")
			s.blockNotify.Store(true)
			body := `{"out_request_no":"PA2R1","remark":"cashier gave up ` + marker + `"}`
			if first := s.post(cancelPath("PA2"), body); first.status != http.StatusServiceUnavailable {
				t.Fatalf("cancel first: %d %s", first.status, first.raw)
			}
			retry := s.post(cancelPath("PA2"), body)
			if retry.status != http.StatusOK || retry.str("action") != "close" || retry.str("status") != "SUCCEEDED" {
				t.Fatalf("cancel retry: %d %s", retry.status, retry.raw)
			}
			if n, _ := s.moved("PA2R1"); n != 1 {
				t.Fatalf("cancel applied %d times", n)
			}
			s.blockNotify.Store(false)
			s.idle()
			if g := s.get("PA2"); g.str("status") != "CLOSED" {
				t.Fatalf("cancelled order: %s", g.raw)
			}
		})
	}
}

func TestConcurrentCapturesNeverExceedTheFrozenAmount(t *testing.T) {
	s := newStack(t)
	s.authorized("PA3")
	const n = 10 // 10 × 20.00 asked of 100.00
	res := make([]resp, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			res[i] = s.post(capturePath("PA3"), captureBody(fmt.Sprintf("PA3C%d", i), "20.00", "Rental"))
		})
	}
	close(start)
	wg.Wait()
	ok := 0
	for _, r := range res {
		switch {
		case r.status == http.StatusOK:
			ok++
		case r.status == http.StatusConflict && (r.code() == "AMOUNT_EXCEEDS_AVAILABLE" || r.code() == "ORDER_NOT_AUTHORIZED"):
		default:
			t.Fatalf("capture: %d %s", r.status, r.raw)
		}
	}
	var total alipay.Amount
	for _, m := range s.sim.Ledger() {
		if m.Kind == sandbox.MovePay {
			total += m.Amount
		}
	}
	if ok > 5 || total != alipay.Amount(ok)*2000 || total > 10000 {
		t.Fatalf("%d captures succeeded, %s moved at the simulator", ok, total)
	}
}

// Notices about operations whose replies were lost arrive late, reversed and
// duplicated: each is applied once and the order ends as the money moved.
func TestNoticesReorderedAndDuplicatedSettleLostReplies(t *testing.T) {
	s := newStack(t)
	s.authorized("PA4")
	s.blockNotify.Store(true)
	if r := s.post(capturePath("PA4"), captureBody("PA4C1", "30.00", "Rental SIM_20000")); r.status != http.StatusServiceUnavailable {
		t.Fatalf("capture: %d %s", r.status, r.raw)
	}
	if r := s.post(unfreezePath("PA4"), unfreezeBody("PA4U1", "70.00", "rest SIM_20000")); r.status != http.StatusServiceUnavailable {
		t.Fatalf("unfreeze: %d %s", r.status, r.raw)
	}
	var held [][]byte
	for range 200 { // bounded: the simulator posts each notice within milliseconds
		s.mu.Lock()
		held = append([][]byte(nil), s.held...)
		s.mu.Unlock()
		if len(held) == 2 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(held) != 2 {
		t.Fatalf("%d notices held, want 2", len(held))
	}
	// Reversed (the unfreeze's before the capture's), then each again.
	for _, body := range [][]byte{held[1], held[0], held[1], held[0]} {
		r := s.do(http.MethodPost, httpapi.NotifyPath, "", "", "application/x-www-form-urlencoded; charset=utf-8", string(body))
		if r.status != http.StatusOK || r.raw != "success" {
			t.Fatalf("notice: %d %s", r.status, r.raw)
		}
	}
	s.blockNotify.Store(false)
	s.idle()
	g := s.get("PA4")
	if g.str("status") != "FINISHED" || g.str("total_pay_amount") != "30.00" || g.str("rest_amount") != "0.00" {
		t.Fatalf("order: %s", g.raw)
	}
	again := s.post(capturePath("PA4"), captureBody("PA4C1", "30.00", "Rental SIM_20000"))
	if again.status != http.StatusOK || again.header.Get(httpapi.ReplayedHeader) != "true" {
		t.Fatalf("retry after the notice: %d %s", again.status, again.raw)
	}
	if n, _ := s.moved("PA4C1"); n != 1 {
		t.Fatalf("capture moved money %d times", n)
	}
}

// TestIdenticalCaptureWhileTheFirstIsCallingIsInProgress (notices held: the capture's
// own notice would settle it during the call, TestNoticeDuringTheLeaseSettlesALostReply).
func TestIdenticalCaptureWhileTheFirstIsCallingIsInProgress(t *testing.T) {
	s := newStack(t)
	s.authorized("PA5")
	s.blockNotify.Store(true)
	body := captureBody("PA5C1", "30.00", "Rental SIM_TIMEOUT")
	first := make(chan resp, 1)
	go func() { first <- s.post(capturePath("PA5"), body) }()
	for i := 0; ; i++ { // bounded: the simulator records the capture before it holds the reply
		if n, _ := s.moved("PA5C1"); n == 1 {
			break
		}
		if i == 500 {
			t.Fatal("the capture never reached the simulator")
		}
		time.Sleep(10 * time.Millisecond)
	}
	dup := s.post(capturePath("PA5"), body)
	if dup.status != http.StatusConflict || dup.code() != "REQUEST_IN_PROGRESS" || dup.header.Get("Retry-After") == "" {
		t.Fatalf("duplicate during the call: %d %s", dup.status, dup.raw)
	}
	if r := <-first; r.status != http.StatusServiceUnavailable {
		t.Fatalf("first: %d %s", r.status, r.raw)
	}
	if r := s.post(capturePath("PA5"), body); r.status != http.StatusOK {
		t.Fatalf("retry: %d %s", r.status, r.raw)
	}
	if n, _ := s.moved("PA5C1"); n != 1 {
		t.Fatalf("capture moved money %d times", n)
	}
}

// TestNoticeDuringTheLeaseSettlesALostReply: the capture's reply is lost while its
// notice arrives before the call gives up. Alipay notifies only what happened, so the
// notice settles the leased capture, and the caller's own answer is that proof (200),
// not "unknown"; the retry replays it; money moved once.
func TestNoticeDuringTheLeaseSettlesALostReply(t *testing.T) {
	s := newStack(t)
	s.authorized("PA6")
	first := s.post(capturePath("PA6"), captureBody("PA6C1", "30.00", "Rental SIM_TIMEOUT"))
	if first.status != http.StatusOK || first.str("status") != "SUCCEEDED" || first.str("trade_no") == "" {
		t.Fatalf("capture whose reply was lost, notice delivered: %d %s", first.status, first.raw)
	}
	again := s.post(capturePath("PA6"), captureBody("PA6C1", "30.00", "Rental SIM_TIMEOUT"))
	if again.status != http.StatusOK || again.header.Get(httpapi.ReplayedHeader) != "true" || again.str("trade_no") != first.str("trade_no") {
		t.Fatalf("retry: %d %s", again.status, again.raw)
	}
	if n, _ := s.moved("PA6C1"); n != 1 {
		t.Fatalf("capture moved money %d times", n)
	}
	s.idle()
	if g := s.get("PA6"); g.str("total_pay_amount") != "30.00" || g.str("rest_amount") != "70.00" {
		t.Fatalf("order: %s", g.raw)
	}
}

// A refusal whose meaning depends on state we may have caused (STATE, L1.4, L2.3) is
// settled by a query: Alipay knows no such capture or unfreeze, so the refusal stands,
// is recorded and replayed, and the amount is released.
func TestStateRefusalsAreSettledByAQuery(t *testing.T) {
	s := newStack(t)
	s.authorized("PA6")
	cases := []struct{ path, body, subCode string }{
		{capturePath("PA6"), captureBody("PA6C1", "30.00", "SIM_BIZ_ACQ.AUTH_ORDER_HAS_FINISHED"), "ACQ.AUTH_ORDER_HAS_FINISHED"},
		{capturePath("PA6"), captureBody("PA6C2", "30.00", "SIM_BIZ_ACQ.TRADE_HAS_SUCCESS"), "ACQ.TRADE_HAS_SUCCESS"},
		{unfreezePath("PA6"), unfreezeBody("PA6U1", "30.00", "SIM_BIZ_REQUEST_AMOUNT_EXCEED"), "REQUEST_AMOUNT_EXCEED"},
	}
	for _, c := range cases {
		first := s.post(c.path, c.body)
		if first.status != http.StatusBadGateway || first.errField("sub_code") != c.subCode {
			t.Fatalf("%s: %d %s", c.subCode, first.status, first.raw)
		}
		again := s.post(c.path, c.body)
		if again.status != http.StatusBadGateway || again.header.Get(httpapi.ReplayedHeader) != "true" {
			t.Fatalf("%s replay: %d %s", c.subCode, again.status, again.raw)
		}
	}
	if g := s.get("PA6"); g.str("rest_amount") != "100.00" {
		t.Fatalf("refused operations still hold amounts: %s", g.raw)
	}
	// The refused amounts are free again.
	if r := s.post(capturePath("PA6"), captureBody("PA6C3", "100.00", "Rental")); r.status != http.StatusOK {
		t.Fatalf("capture of everything: %d %s", r.status, r.raw)
	}
}
