package apppay_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
	"github.com/alipay-serverless/alipay-serverless/shared/apppay"
	"github.com/alipay-serverless/alipay-serverless/shared/credentials"
	"github.com/alipay-serverless/alipay-serverless/shared/httpapi"
	"github.com/alipay-serverless/alipay-serverless/shared/notify"
	"github.com/alipay-serverless/alipay-serverless/shared/orders"
	"github.com/alipay-serverless/alipay-serverless/shared/sandbox"
	"github.com/alipay-serverless/alipay-serverless/test/harness/testclock"
	"github.com/alipay-serverless/alipay-serverless/test/harness/testkeys"
)

// gatewayLog counts the gateway requests by method and can drop the first request of
// a method before it reaches the simulator (a request lost on the way: not sent).
type gatewayLog struct {
	next  http.RoundTripper
	mu    sync.Mutex
	calls map[string]int
	drop  map[string]int
}

func (g *gatewayLog) RoundTrip(r *http.Request) (*http.Response, error) {
	body, _ := io.ReadAll(r.Body)
	r.Body.Close()
	form, _ := url.ParseQuery(string(body))
	method := form.Get("method")
	if method == "" {
		method = r.URL.Query().Get("method")
	}
	g.mu.Lock()
	g.calls[method]++
	dropped := g.drop[method] > 0
	if dropped {
		g.drop[method]--
	}
	g.mu.Unlock()
	if dropped {
		return nil, io.ErrUnexpectedEOF
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	return g.next.RoundTrip(r)
}

func (g *gatewayLog) count(method string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.calls[method]
}

func (g *gatewayLog) dropNext(method string) {
	g.mu.Lock()
	g.drop[method]++
	g.mu.Unlock()
}

// stack is our API (apppaysign, settle and notify routes) on a loopback server, the
// gateway simulator on another, one memory store, one clock.
type stack struct {
	clk    *testclock.Clock
	sim    *sandbox.Simulator
	simURL string
	store  *orders.MemoryStore
	svc    *apppay.Service
	gw     *gatewayLog
	api    *httptest.Server
	logs   *testkeys.Buffer
}

// newStack; notifyURL "" sends notifications to our notify route, else where it says.
func newStack(t *testing.T, notifyURL string) *stack {
	t.Helper()
	appKey, err := alipay.ParsePrivateKey(testkeys.Read(t, "keys/app_private_pkcs1.pem"))
	if err != nil {
		t.Fatal(err)
	}
	alipayKey, err := alipay.ParsePrivateKey(testkeys.Read(t, "keys/alipay_private_pkcs1.pem"))
	if err != nil {
		t.Fatal(err)
	}
	s := &stack{clk: testclock.New(time.Now()), store: orders.NewMemoryStore()}
	s.sim, err = sandbox.New(sandbox.Options{AppID: "2021000000000001", AppPublicKey: appKey.Public(), AlipayKey: alipayKey,
		Clock: s.clk.Now, RetrySchedule: []time.Duration{5 * time.Millisecond, 5 * time.Millisecond, 5 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	simSrv := httptest.NewServer(s.sim.Handler())
	s.simURL = simSrv.URL
	c := credentials.Static{Creds: &alipay.Credentials{AppID: "2021000000000001", PrivateKey: appKey, AlipayPublicKey: alipayKey.Public()}}
	s.gw = &gatewayLog{next: http.DefaultTransport, calls: map[string]int{}, drop: map[string]int{}}
	client := alipay.NewClient(simSrv.URL+sandbox.GatewayPath, alipay.WithClock(s.clk.Now),
		alipay.WithHTTPClient(&http.Client{Transport: s.gw}), alipay.WithTimeout(2*time.Second))
	var log *slog.Logger
	log, s.logs = testkeys.Logger(t)
	router := httpapi.NewRouter(httpapi.LocalCaller, log)
	s.api = httptest.NewServer(router)
	if notifyURL == "" {
		notifyURL = s.api.URL + httpapi.NotifyPath
	}
	s.svc = apppay.NewService(s.store, c, apppay.WithClock(s.clk.Now), apppay.WithGateway(client),
		apppay.WithGatewayTimeout(2*time.Second), apppay.WithDefaultTimeoutExpress("30m"))
	h := apppay.NewHandler(s.svc, notifyURL)
	if err := h.Mount(router); err != nil {
		t.Fatal(err)
	}
	settle := h.SettleHandlers()
	for _, rt := range httpapi.RoutesOf(httpapi.FnSettle) {
		if key := rt.Method + " " + rt.Path; settle[key] == nil {
			settle[key] = http.NotFoundHandler() // another slice's settle route, not under test here
		}
	}
	if err := router.MountFunction(httpapi.FnSettle, settle); err != nil {
		t.Fatal(err)
	}
	if err := notify.NewHandler(notify.NewService(s.store, c, notify.WithClock(s.clk.Now))).Mount(router); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.api.Close()
		simSrv.Close()
		_ = s.sim.Close()
	})
	return s
}

type reply struct {
	code   int
	header http.Header
	body   []byte
}

func (r reply) String() string { return string(r.body) }

func (r reply) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("%v: %s", err, r.body)
	}
	return m
}

func (r reply) errorCode(t *testing.T) string {
	t.Helper()
	e, _ := r.json(t)["error"].(map[string]any)
	code, _ := e["code"].(string)
	return code
}

// do calls our API as caller with scopes ("*" = the local default, every scope).
func (s *stack) do(t *testing.T, method, path, caller, scopes, body string) reply {
	t.Helper()
	req, err := http.NewRequest(method, s.api.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set(httpapi.LocalCallerHeader, caller)
	if scopes != "*" {
		req.Header.Set(httpapi.LocalScopesHeader, scopes)
	}
	resp, err := (&http.Client{Timeout: 20 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, resp.Header, b}
}

const (
	appUser = "app-user-1"
	backend = "merchant-backend"
)

func (s *stack) refund(t *testing.T, outTradeNo, body string) reply {
	t.Helper()
	return s.do(t, "POST", "/v1/app-pay/orders/"+outTradeNo+"/refunds", backend, "settle", body)
}

func (s *stack) order(t *testing.T, outTradeNo string) map[string]any {
	t.Helper()
	r := s.do(t, "GET", "/v1/app-pay/orders/"+outTradeNo, appUser, "", "")
	if r.code != 200 {
		t.Fatalf("GET %s: %d %s", outTradeNo, r.code, r)
	}
	return r.json(t)
}

// create makes an order as the app user and returns its orderStr.
func (s *stack) create(t *testing.T, outTradeNo, amount string) string {
	t.Helper()
	r := s.do(t, "POST", "/v1/app-pay/orders", appUser, "",
		`{"out_trade_no":"`+outTradeNo+`","total_amount":"`+amount+`","subject":"Demo","product_code":"QUICK_MSECURITY_PAY"}`)
	if r.code != 200 {
		t.Fatalf("create: %d %s", r.code, r)
	}
	return r.json(t)["order_str"].(string)
}

// pay has the simulated buyer pay orderStr; it returns the notification bodies sent.
func (s *stack) pay(t *testing.T, orderStr, openID string) []string {
	t.Helper()
	b, _ := json.Marshal(map[string]string{"order_str": orderStr, "buyer_open_id": openID})
	out := s.control(t, "/sandbox/orders/pay", string(b))
	s.idle(t)
	var bodies []string
	for _, n := range out["notifications"].([]any) {
		bodies = append(bodies, n.(map[string]any)["body"].(string))
	}
	return bodies
}

func (s *stack) control(t *testing.T, path, body string) map[string]any {
	t.Helper()
	resp, err := http.Post(s.simURL+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode != 200 {
		t.Fatalf("%s: %d %v", path, resp.StatusCode, out)
	}
	return out
}

func (s *stack) idle(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.sim.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
}

// deliver posts a notification body to our notify route as Alipay would.
func (s *stack) deliver(t *testing.T, body string) string {
	t.Helper()
	resp, err := http.Post(s.api.URL+httpapi.NotifyPath, "application/x-www-form-urlencoded; charset=utf-8", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func (s *stack) paidOrder(t *testing.T, outTradeNo, amount string) {
	t.Helper()
	s.pay(t, s.create(t, outTradeNo, amount), "")
	if st := s.order(t, outTradeNo)["status"]; st != "TRADE_SUCCESS" {
		t.Fatalf("%s not paid: %v", outTradeNo, st)
	}
}

// deadNotify is a notify_url that never acknowledges: Alipay's notices then settle
// nothing, and only our calls to Alipay can.
func deadNotify(t *testing.T) string {
	dead := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) }))
	t.Cleanup(dead.Close)
	return dead.URL
}

// syncedPaidOrder is a paid order whose notices never arrive, learned through sync.
func (s *stack) syncedPaidOrder(t *testing.T, outTradeNo, amount string) {
	t.Helper()
	s.pay(t, s.create(t, outTradeNo, amount), "")
	if r := s.do(t, "POST", "/v1/app-pay/orders/"+outTradeNo+"/sync", appUser, "", ""); r.code != 200 || r.json(t)["status"] != "TRADE_SUCCESS" {
		t.Fatalf("sync: %d %s", r.code, r)
	}
}

func refundedAtSim(s *stack, outTradeNo string) (alipay.Amount, int) {
	var sum alipay.Amount
	rs := s.sim.Refunds(outTradeNo)
	for _, r := range rs {
		sum += r.Amount
	}
	return sum, len(rs)
}

// The README walk-through: pay → refund 2.00 → refund the rest → TRADE_CLOSED.
func TestRefundsPayRefundTwoThenTheRestClosesTheTrade(t *testing.T) {
	s := newStack(t, "")
	s.paidOrder(t, "DEMO001", "9.90")

	r := s.refund(t, "DEMO001", `{"out_request_no":"DEMO001R1","refund_amount":"2.00","refund_reason":"damaged"}`)
	if r.code != 200 || r.header.Get(httpapi.ReplayedHeader) != "" {
		t.Fatalf("refund 2.00: %d %s", r.code, r)
	}
	got := r.json(t)
	if got["status"] != "SUCCEEDED" || got["refund_amount"] != "2.00" || got["refunded_total"] != "2.00" ||
		got["out_request_no"] != "DEMO001R1" || got["out_trade_no"] != "DEMO001" || got["buyer_id"] != sandbox.DefaultBuyerID {
		t.Fatalf("refund reply %v", got)
	}
	again := s.refund(t, "DEMO001", `{"out_request_no":"DEMO001R1","refund_amount":"2.00","refund_reason":"damaged"}`)
	if again.code != 200 || again.header.Get(httpapi.ReplayedHeader) != "true" || again.json(t)["refunded_total"] != "2.00" {
		t.Fatalf("identical retry: %d %v %s", again.code, again.header, again)
	}
	s.idle(t)
	if o := s.order(t, "DEMO001"); o["status"] != "TRADE_SUCCESS" || o["refunded_total"] != "2.00" || o["refund_fee"] != "2.00" {
		t.Fatalf("after a partial refund: %v", o)
	}

	r = s.refund(t, "DEMO001", `{"out_request_no":"DEMO001R2","refund_amount":"7.90"}`)
	if r.code != 200 || r.json(t)["refunded_total"] != "9.90" {
		t.Fatalf("refund the rest: %d %s", r.code, r)
	}
	s.idle(t)
	o := s.order(t, "DEMO001")
	refunds := o["refunds"].([]any)
	if o["status"] != "TRADE_CLOSED" || o["closed_reason"] != "REFUNDED" || o["refunded_total"] != "9.90" || len(refunds) != 2 ||
		refunds[0].(map[string]any)["status"] != "SUCCEEDED" || refunds[1].(map[string]any)["status"] != "SUCCEEDED" {
		t.Fatalf("after the full refund: %v", o)
	}
	if sum, n := refundedAtSim(s, "DEMO001"); sum != 990 || n != 2 {
		t.Fatalf("simulator refunded %s in %d refunds", sum, n)
	}
	// A further refund finds nothing left to refund.
	if r := s.refund(t, "DEMO001", `{"out_request_no":"DEMO001R3","refund_amount":"0.01"}`); r.code != 409 || r.errorCode(t) != "ORDER_NOT_PAID" {
		t.Fatalf("refund of a refunded order: %d %s", r.code, r)
	}
}

func TestRefundErrorRows(t *testing.T) {
	s := newStack(t, "")
	s.paidOrder(t, "ER001", "10.00")
	s.create(t, "ER002", "5.00") // unpaid
	s.paidOrder(t, "ER003", "5.00")
	s.control(t, "/sandbox/orders/finish", `{"out_trade_no":"ER003"}`)
	s.idle(t)
	// A refund someone else holds the lease of.
	o, err := s.store.GetAppPayOrder(context.Background(), "ER001")
	if err != nil {
		t.Fatal(err)
	}
	held := alipay.RefundParams{OutRequestNo: "HELD1", RefundAmount: 100}
	if _, err := s.store.BeginOperation(context.Background(), orders.OpBegin{
		OpRef: orders.OpRef{Parent: orders.ParentAppPay, OrderNo: "ER001", Kind: orders.OpRefund, RequestNo: "HELD1"},
		Owner: o.Owner, ParamsHash: held.CanonicalHash(), Amount: 100,
		Now: s.clk.Now(), LeaseUntil: s.clk.Now().Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name, path, caller, scopes, body string
		status                           int
		code, field                      string
	}{
		{"no_settle_scope_is_forbidden", "ER001", appUser, "", `{"out_request_no":"R1","refund_amount":"1.00"}`, 403, "FORBIDDEN", ""},
		{"missing_out_request_no", "ER001", backend, "settle", `{"refund_amount":"1.00"}`, 400, "ILLEGAL_ARGUMENT", "out_request_no"},
		{"bad_out_request_no", "ER001", backend, "settle", `{"out_request_no":"R-1","refund_amount":"1.00"}`, 400, "ILLEGAL_ARGUMENT", "out_request_no"},
		{"missing_amount", "ER001", backend, "settle", `{"out_request_no":"R1"}`, 400, "ILLEGAL_ARGUMENT", "refund_amount"},
		{"float_amount", "ER001", backend, "settle", `{"out_request_no":"R1","refund_amount":1.005}`, 400, "ILLEGAL_ARGUMENT", "refund_amount"},
		{"unknown_field", "ER001", backend, "settle", `{"out_request_no":"R1","refund_amount":"1.00","notify_url":"x"}`, 400, "ILLEGAL_ARGUMENT", "notify_url"},
		{"bad_out_trade_no", "ER-1", backend, "settle", `{"out_request_no":"R1","refund_amount":"1.00"}`, 400, "ILLEGAL_ARGUMENT", "out_trade_no"},
		{"unknown_order", "NOPE", backend, "settle", `{"out_request_no":"R1","refund_amount":"1.00"}`, 404, "NOT_FOUND", ""},
		{"unpaid_order", "ER002", backend, "settle", `{"out_request_no":"R1","refund_amount":"1.00"}`, 409, "ORDER_NOT_PAID", ""},
		{"finished_order", "ER003", backend, "settle", `{"out_request_no":"R1","refund_amount":"1.00"}`, 409, "ORDER_NOT_REFUNDABLE", ""},
		{"more_than_paid", "ER001", backend, "settle", `{"out_request_no":"R1","refund_amount":"10.01"}`, 409, "AMOUNT_EXCEEDS_AVAILABLE", "refund_amount"},
		{"lease_held", "ER001", backend, "settle", `{"out_request_no":"HELD1","refund_amount":"1.00"}`, 409, "REQUEST_IN_PROGRESS", ""},
		{"refused_by_alipay", "ER001", backend, "settle", `{"out_request_no":"R2","refund_amount":"1.00","refund_reason":"SIM_BIZ_ACQ.SELLER_BALANCE_NOT_ENOUGH"}`, 502, "ALIPAY_BUSINESS_ERROR", ""},
		{"refusal_replayed", "ER001", backend, "settle", `{"out_request_no":"R2","refund_amount":"1.00","refund_reason":"SIM_BIZ_ACQ.SELLER_BALANCE_NOT_ENOUGH"}`, 502, "ALIPAY_BUSINESS_ERROR", ""},
		{"same_number_other_amount", "ER001", backend, "settle", `{"out_request_no":"R2","refund_amount":"2.00"}`, 409, "IDEMPOTENCY_CONFLICT", "out_request_no"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := s.do(t, "POST", "/v1/app-pay/orders/"+c.path+"/refunds", c.caller, c.scopes, c.body)
			if r.code != c.status || r.errorCode(t) != c.code {
				t.Fatalf("%d %s, want %d %s", r.code, r, c.status, c.code)
			}
			e := r.json(t)["error"].(map[string]any)
			if c.field != "" && e["field"] != c.field {
				t.Fatalf("field %v, want %s", e["field"], c.field)
			}
			if c.code == "ALIPAY_BUSINESS_ERROR" && e["sub_code"] != "ACQ.SELLER_BALANCE_NOT_ENOUGH" {
				t.Fatalf("sub_code %v", e["sub_code"])
			}
			if c.status == 503 || c.code == "REQUEST_IN_PROGRESS" {
				if r.header.Get("Retry-After") == "" {
					t.Fatal("no Retry-After")
				}
			}
		})
	}
	if r := s.do(t, "POST", "/v1/app-pay/orders/ER001/refunds", backend, "settle", ""); r.code != 415 {
		t.Fatalf("no JSON body: %d %s", r.code, r)
	}
	// The refusals moved no money.
	if sum, n := refundedAtSim(s, "ER001"); sum != 0 || n != 0 {
		t.Fatalf("simulator refunded %s in %d refunds", sum, n)
	}

	// The reply lost after the money moved is 503 with Retry-After. Its refund notice goes
	// to an address that never acknowledges: arriving first, it would (rightly) settle the
	// refund before the reply path records the loss, so this row would depend on timing.
	lost := newStack(t, deadNotify(t))
	lost.pay(t, lost.create(t, "ER004", "10.00"), "")
	if _, err := lost.svc.Sync(context.Background(), "", "ER004"); err != nil {
		t.Fatal(err)
	}
	r := lost.do(t, "POST", "/v1/app-pay/orders/ER004/refunds", backend, "settle", `{"out_request_no":"R3","refund_amount":"1.00","refund_reason":"SIM_HTTP500"}`)
	if r.code != 503 || r.errorCode(t) != "ALIPAY_UNAVAILABLE" || r.header.Get("Retry-After") == "" {
		t.Fatalf("reply lost: %d %s (Retry-After %q), want 503 ALIPAY_UNAVAILABLE", r.code, r, r.header.Get("Retry-After"))
	}
	if sum, n := refundedAtSim(lost, "ER004"); sum != 100 || n != 1 {
		t.Fatalf("simulator refunded %s in %d refunds, want the one lost reply's", sum, n)
	}
}

func TestLostRefundReplyRetriedRefundsExactlyOnce(t *testing.T) {
	for _, c := range []struct {
		name   string
		reason string
		drop   bool // the request never reached Alipay
	}{
		{"refunded_reply_lost_http500", "SIM_HTTP500", false},
		{"refunded_reply_unverifiable", "SIM_BAD_SIGN", false},
		{"refunded_system_error", "SIM_SYSTEM_ERROR", false},
		{"request_lost_before_alipay", "", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := newStack(t, deadNotify(t))
			s.syncedPaidOrder(t, "LR001", "9.00")
			body := `{"out_request_no":"LR001R1","refund_amount":"3.00","refund_reason":"` + c.reason + `"}`
			if c.drop {
				s.gw.dropNext(alipay.MethodTradeRefund)
			}
			if r := s.refund(t, "LR001", body); r.code != 503 || r.errorCode(t) != "ALIPAY_UNAVAILABLE" {
				t.Fatalf("first attempt: %d %s", r.code, r)
			}
			// Too early to ask: 202 PENDING, nothing sent.
			s.clk.Advance(4 * time.Second)
			r := s.refund(t, "LR001", body)
			if r.code != 202 || r.json(t)["status"] != "PENDING" || r.header.Get("Retry-After") != "6" {
				t.Fatalf("early retry: %d %v %s", r.code, r.header, r)
			}
			if q := s.gw.count(alipay.MethodTradeRefundQuery); q != 0 {
				t.Fatalf("%d refund queries before 10 s", q)
			}
			s.clk.Advance(6 * time.Second)
			r = s.refund(t, "LR001", body)
			if r.code != 200 || r.json(t)["status"] != "SUCCEEDED" || r.json(t)["refunded_total"] != "3.00" {
				t.Fatalf("retry after 10 s: %d %s", r.code, r)
			}
			if q := s.gw.count(alipay.MethodTradeRefundQuery); q != 1 {
				t.Fatalf("%d refund queries", q)
			}
			wantSends := 1
			if c.drop {
				wantSends = 2 // the query found nothing: sent again, same number and amount
			}
			if n := s.gw.count(alipay.MethodTradeRefund); n != wantSends {
				t.Fatalf("%d refund requests, want %d", n, wantSends)
			}
			if sum, n := refundedAtSim(s, "LR001"); sum != 300 || n != 1 {
				t.Fatalf("simulator refunded %s in %d refunds", sum, n)
			}
			if rs := s.sim.Refunds("LR001"); rs[0].OutRequestNo != "LR001R1" {
				t.Fatalf("refund %+v", rs[0])
			}
		})
	}
}

// A refund refused for the trade's state is Alipay's word on a first send; on a resend
// (the query just found nothing) Alipay is asked once more, since our own refund could
// have caused the state.
func TestRefundRefusedForTheTradesStateAsksOnlyAfterAResend(t *testing.T) {
	s := newStack(t, deadNotify(t))
	s.syncedPaidOrder(t, "RS001", "9.00")
	body := `{"out_request_no":"RS001R1","refund_amount":"3.00"}`
	s.gw.dropNext(alipay.MethodTradeRefund)
	if r := s.refund(t, "RS001", body); r.code != 503 {
		t.Fatalf("lost request: %d %s", r.code, r)
	}
	// Refunded in full from the console meanwhile: Alipay closes the trade, and its
	// notice never arrives.
	s.control(t, "/sandbox/orders/refund", `{"out_trade_no":"RS001","refund_fee":"9.00","out_biz_no":"CONSOLE1"}`)
	s.idle(t)
	s.clk.Advance(apppay.RefundConfirmDelay)
	r := s.refund(t, "RS001", body)
	if e, _ := r.json(t)["error"].(map[string]any); r.code != 502 || e["sub_code"] != "ACQ.TRADE_HAS_CLOSE" {
		t.Fatalf("resend refused: %d %s", r.code, r)
	}
	if q, n := s.gw.count(alipay.MethodTradeRefundQuery), s.gw.count(alipay.MethodTradeRefund); q != 2 || n != 2 {
		t.Fatalf("%d queries, %d refund requests; want 2 (before the resend and after its refusal), 2", q, n)
	}
	r = s.refund(t, "RS001", `{"out_request_no":"RS001R2","refund_amount":"1.00"}`)
	if e, _ := r.json(t)["error"].(map[string]any); r.code != 502 || e["sub_code"] != "ACQ.TRADE_HAS_CLOSE" {
		t.Fatalf("first send refused: %d %s", r.code, r)
	}
	if q := s.gw.count(alipay.MethodTradeRefundQuery); q != 2 {
		t.Fatalf("%d queries: a first send's refusal was asked about", q)
	}
	if sum, n := refundedAtSim(s, "RS001"); sum != 900 || n != 1 {
		t.Fatalf("simulator refunded %s in %d refunds, want the console's", sum, n)
	}
}

// The reply is lost but Alipay's refund notice arrives: the notice settles the refund.
func TestLostRefundReplySettledByTheRefundNotice(t *testing.T) {
	s := newStack(t, "")
	s.paidOrder(t, "LN001", "9.00")
	body := `{"out_request_no":"LN001R1","refund_amount":"3.00","refund_reason":"SIM_HTTP500"}`
	// 503, or 200 when the notice landed before the outcome was recorded.
	if r := s.refund(t, "LN001", body); r.code != 503 && r.code != 200 {
		t.Fatalf("first attempt: %d %s", r.code, r)
	}
	s.idle(t)
	r := s.refund(t, "LN001", body)
	if r.code != 200 || r.json(t)["status"] != "SUCCEEDED" || r.header.Get(httpapi.ReplayedHeader) != "true" {
		t.Fatalf("retry: %d %s", r.code, r)
	}
	if q, n := s.gw.count(alipay.MethodTradeRefundQuery), s.gw.count(alipay.MethodTradeRefund); q != 0 || n != 1 {
		t.Fatalf("%d queries, %d refund requests", q, n)
	}
	if sum, n := refundedAtSim(s, "LN001"); sum != 300 || n != 1 {
		t.Fatalf("simulator refunded %s in %d refunds", sum, n)
	}
}

func TestFundChangeNIsConfirmedByTheRefundQueryNoEarlierThan10s(t *testing.T) {
	s := newStack(t, deadNotify(t))
	s.syncedPaidOrder(t, "FC001", "9.00")
	body := `{"out_request_no":"FC001R1","refund_amount":"1.00","refund_reason":"SIM_FUND_CHANGE_N"}`
	r := s.refund(t, "FC001", body)
	if r.code != 202 || r.header.Get("Retry-After") != "10" {
		t.Fatalf("fund_change N: %d %v %s", r.code, r.header, r)
	}
	if got := r.json(t); got["status"] != "PENDING" || got["refunded_total"] != "0.00" {
		t.Fatalf("reply %v", got)
	}
	o := s.order(t, "FC001")
	if rf := o["refunds"].([]any)[0].(map[string]any); rf["status"] != "PENDING" || o["refunded_total"] != "0.00" {
		t.Fatalf("order %v", o)
	}
	s.clk.Advance(9 * time.Second)
	if r := s.refund(t, "FC001", body); r.code != 202 || r.header.Get("Retry-After") != "1" {
		t.Fatalf("at 9 s: %d %v %s", r.code, r.header, r)
	}
	if q := s.gw.count(alipay.MethodTradeRefundQuery); q != 0 {
		t.Fatalf("%d refund queries before 10 s", q)
	}
	s.clk.Advance(time.Second)
	if r := s.refund(t, "FC001", body); r.code != 200 || r.json(t)["status"] != "SUCCEEDED" {
		t.Fatalf("at 10 s: %d %s", r.code, r)
	}
	if _, n := refundedAtSim(s, "FC001"); n != 1 {
		t.Fatalf("%d refunds at the simulator", n)
	}
}

// A refund Alipay acknowledged (fund_change N) keeps that mark when the query that was
// to confirm it fails: a later pass whose query does not find it yet must not take it
// for one never made (NOT_CREATED, its amount released).
func TestAcknowledgedRefundKeepsItsMarkWhenTheQueryFails(t *testing.T) {
	s := newStack(t, deadNotify(t))
	s.syncedPaidOrder(t, "FQ001", "9.00")
	body := `{"out_request_no":"FQ001R1","refund_amount":"1.00","refund_reason":"SIM_FUND_CHANGE_N"}`
	if r := s.refund(t, "FQ001", body); r.code != 202 {
		t.Fatalf("fund_change N: %d %s", r.code, r)
	}
	s.clk.Advance(10 * time.Second)
	for _, try := range []struct {
		name string
		run  func() error
	}{
		{"an identical retry", func() error {
			if r := s.refund(t, "FQ001", body); r.code == 200 {
				return fmt.Errorf("settled without a query: %s", r)
			}
			return nil
		}},
		{"the reconciler's confirmation", func() error {
			_, err := s.svc.ConfirmRefund(context.Background(), "FQ001", "FQ001R1")
			return err
		}},
	} {
		s.gw.dropNext(alipay.MethodTradeRefundQuery)
		if err := try.run(); err != nil && !errors.Is(err, alipay.ErrUnknownOutcome) {
			t.Fatalf("%s: %v", try.name, err)
		}
		o, err := s.store.GetAppPayOrder(context.Background(), "FQ001")
		if err != nil {
			t.Fatal(err)
		}
		op := o.Ops["REFUND:FQ001R1"]
		if op.State != orders.OpUnknown || op.Result[orders.ResultFundChange] != "N" {
			t.Fatalf("after %s whose query failed: %s %v, want UNKNOWN keeping fund_change N", try.name, op.State, op.Result)
		}
	}
}

// ConfirmRefund is the reconciler's way in: no request, no caller.
func TestConfirmRefundSettlesWithoutARequest(t *testing.T) {
	// Notifications go nowhere, so only the query can settle the refund.
	s := newStack(t, deadNotify(t))
	s.pay(t, s.create(t, "CR001", "9.00"), "")
	if _, err := s.svc.Sync(context.Background(), "", "CR001"); err != nil {
		t.Fatal(err)
	}
	r := s.refund(t, "CR001", `{"out_request_no":"CR001R1","refund_amount":"1.00","refund_reason":"SIM_FUND_CHANGE_N"}`)
	if r.code != 202 {
		t.Fatalf("refund: %d %s", r.code, r)
	}
	res, err := s.svc.ConfirmRefund(context.Background(), "CR001", "CR001R1")
	if err != nil || res.Status != apppay.RefundPending || res.RetryAfter != 10*time.Second {
		t.Fatalf("before 10 s: %+v %v", res, err)
	}
	s.clk.Advance(10 * time.Second)
	res, err = s.svc.ConfirmRefund(context.Background(), "CR001", "CR001R1")
	if err != nil || res.Status != apppay.RefundSucceeded || res.Order.RefundedTotal() != 100 {
		t.Fatalf("after 10 s: %+v %v", res, err)
	}
	if _, err := s.svc.ConfirmRefund(context.Background(), "CR001", "NOPE"); err == nil {
		t.Fatal("an unknown refund confirmed")
	}
}

func TestConcurrentRefundsNeverExceedThePaidAmount(t *testing.T) {
	s := newStack(t, "")
	s.paidOrder(t, "CC001", "10.00")
	const n = 8
	var ok, exceeded atomic.Int32
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := s.refund(t, "CC001", `{"out_request_no":"CC001R`+string(rune('A'+i))+`","refund_amount":"3.00"}`)
			switch {
			case r.code == 200:
				ok.Add(1)
			case r.code == 409 && r.errorCode(t) == "AMOUNT_EXCEEDS_AVAILABLE":
				exceeded.Add(1)
			default:
				t.Errorf("refund %d: %d %s", i, r.code, r)
			}
		}()
	}
	wg.Wait()
	sum, count := refundedAtSim(s, "CC001")
	if ok.Load() != 3 || exceeded.Load() != n-3 || sum != 900 || count != 3 {
		t.Fatalf("%d succeeded, %d refused; simulator refunded %s in %d", ok.Load(), exceeded.Load(), sum, count)
	}
	s.idle(t)
	if o := s.order(t, "CC001"); o["refunded_total"] != "9.00" {
		t.Fatalf("order %v", o)
	}
}

func TestRefundNoticesDuplicatedOrFromTheConsoleApplyOnce(t *testing.T) {
	s := newStack(t, "")
	s.paidOrder(t, "RN001", "9.00")
	out := s.control(t, "/sandbox/orders/refund", `{"out_trade_no":"RN001","refund_fee":"1.50","out_biz_no":"CONSOLE1"}`)
	s.idle(t)
	body := out["notifications"].([]any)[0].(map[string]any)["body"].(string)
	before := s.order(t, "RN001")
	ext := before["external_refunds"].([]any)
	if len(ext) != 1 || ext[0].(map[string]any)["out_request_no"] != "CONSOLE1" || before["refunded_total"] != "1.50" {
		t.Fatalf("console refund not recorded: %v", before)
	}
	if got := s.deliver(t, body); got != "success" {
		t.Fatalf("redelivery: %q", got)
	}
	after := s.order(t, "RN001")
	if after["updated_at"] != before["updated_at"] || len(after["external_refunds"].([]any)) != 1 {
		t.Fatalf("redelivery changed the order: %v", after)
	}
	// What the console refunded is not available to our refunds.
	if r := s.refund(t, "RN001", `{"out_request_no":"RN001R1","refund_amount":"7.51"}`); r.code != 409 || r.errorCode(t) != "AMOUNT_EXCEEDS_AVAILABLE" {
		t.Fatalf("refund over what is left: %d %s", r.code, r)
	}
}

func TestCloseAndAPaymentAfterIt(t *testing.T) {
	s := newStack(t, "")
	orderStr := s.create(t, "CL001", "9.00")
	if r := s.do(t, "POST", "/v1/app-pay/orders/CL001/close", "someone-else", "", ""); r.code != 404 {
		t.Fatalf("another caller's close: %d %s", r.code, r)
	}
	if r := s.do(t, "POST", "/v1/app-pay/orders/CL001/close", appUser, "", `{"reason":"x"}`); r.code != 400 {
		t.Fatalf("close with a body: %d %s", r.code, r)
	}
	r := s.do(t, "POST", "/v1/app-pay/orders/CL001/close", appUser, "", "{}")
	if o := r.json(t); r.code != 200 || o["status"] != "TRADE_CLOSED" || o["closed_reason"] != "CLOSED_BY_MERCHANT" || o["close_unconfirmed"] != true {
		t.Fatalf("close: %d %s", r.code, r)
	}
	if r := s.do(t, "POST", "/v1/app-pay/orders/CL001/close", backend, "settle", ""); r.code != 200 {
		t.Fatalf("close again (settle): %d %s", r.code, r)
	}
	// The buyer pays the orderStr anyway: recorded, never refused.
	s.pay(t, orderStr, "")
	o := s.order(t, "CL001")
	if o["status"] != "TRADE_SUCCESS" || o["paid_after_close"] != true || o["close_unconfirmed"] != nil {
		t.Fatalf("payment after close: %v", o)
	}
	if !strings.Contains(s.logs.String(), `"paid_after_close":true`) {
		t.Fatalf("no paid_after_close warning in the log:\n%s", s.logs.String())
	}
	for _, d := range s.sim.Deliveries() {
		if !d.Acked {
			t.Fatalf("a notification was not acknowledged: %+v", d)
		}
	}
	if r := s.do(t, "POST", "/v1/app-pay/orders/CL001/close", appUser, "", ""); r.code != 409 || r.errorCode(t) != "ORDER_ALREADY_PAID" {
		t.Fatalf("close of a paid order: %d %s", r.code, r)
	}
}

func TestCloseOfATradeAlipayHasPaidSyncsAndAnswers409(t *testing.T) {
	s := newStack(t, deadNotify(t)) // the payment notice never arrives
	s.pay(t, s.create(t, "CL002", "9.00"), "")
	if st := s.order(t, "CL002")["status"]; st != "CREATED" {
		t.Fatalf("status %v", st)
	}
	r := s.do(t, "POST", "/v1/app-pay/orders/CL002/close", appUser, "", "")
	if r.code != 409 || r.errorCode(t) != "ORDER_ALREADY_PAID" {
		t.Fatalf("close: %d %s", r.code, r)
	}
	if o := s.order(t, "CL002"); o["status"] != "TRADE_SUCCESS" || o["trade_no"] == nil {
		t.Fatalf("after the close: %v", o)
	}
}

func TestSyncAppliesOnceWithTheNotification(t *testing.T) {
	s := newStack(t, deadNotify(t))
	orderStr := s.create(t, "SY001", "9.00")
	r := s.do(t, "POST", "/v1/app-pay/orders/SY001/sync", appUser, "", "")
	if r.code != 200 || r.json(t)["status"] != "CREATED" {
		t.Fatalf("sync before payment (ACQ.TRADE_NOT_EXIST): %d %s", r.code, r)
	}
	if r := s.do(t, "POST", "/v1/app-pay/orders/SY001/sync", "someone-else", "", ""); r.code != 404 {
		t.Fatalf("another caller's sync: %d %s", r.code, r)
	}
	notices := s.pay(t, orderStr, "074a1CcTG1LelxKe4xQC0zgNdId0nxi95b5lsNpazWYoCo5")
	r = s.do(t, "POST", "/v1/app-pay/orders/SY001/sync", backend, "settle", "")
	synced := r.json(t)
	if r.code != 200 || synced["status"] != "TRADE_SUCCESS" || synced["buyer_open_id"] != "074a1CcTG1LelxKe4xQC0zgNdId0nxi95b5lsNpazWYoCo5" ||
		synced["paid_amount"] != "9.00" || synced["buyer_id"] != nil {
		t.Fatalf("sync: %d %s", r.code, r)
	}
	// Alipay's notification of the same payment arrives later: acknowledged, no change.
	if got := s.deliver(t, notices[0]); got != "success" {
		t.Fatalf("late notice: %q", got)
	}
	if o := s.order(t, "SY001"); o["updated_at"] != synced["updated_at"] || o["status"] != "TRADE_SUCCESS" {
		t.Fatalf("the notice applied again: %v", o)
	}
	// A second sync is a no-op too.
	if r := s.do(t, "POST", "/v1/app-pay/orders/SY001/sync", appUser, "", ""); r.code != 200 || r.json(t)["updated_at"] != synced["updated_at"] {
		t.Fatalf("second sync: %d %s", r.code, r)
	}
}

func TestOpenIDBuyerIsShownInTheRefundReply(t *testing.T) {
	s := newStack(t, "")
	s.pay(t, s.create(t, "OI001", "9.00"), "074a1CcTG1LelxKe4xQC0zgNdId0nxi95b5lsNpazWYoCo5")
	if o := s.order(t, "OI001"); o["buyer_open_id"] != "074a1CcTG1LelxKe4xQC0zgNdId0nxi95b5lsNpazWYoCo5" || o["buyer_id"] != nil {
		t.Fatalf("order %v", o)
	}
	r := s.refund(t, "OI001", `{"out_request_no":"OI001R1","refund_amount":"1.00"}`)
	if got := r.json(t); r.code != 200 || got["buyer_open_id"] != "074a1CcTG1LelxKe4xQC0zgNdId0nxi95b5lsNpazWYoCo5" || got["buyer_id"] != nil {
		t.Fatalf("refund reply %s", r)
	}
}

func TestNewOrdersGetTheDefaultTimeoutExpress(t *testing.T) {
	s := newStack(t, "")
	orderStr := s.create(t, "TE001", "1.00")
	p, err := alipay.ParseOrderString(orderStr)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(p["biz_content"], `"timeout_express":"30m"`) {
		t.Fatalf("biz_content %s", p["biz_content"])
	}
	r := s.do(t, "POST", "/v1/app-pay/orders", appUser, "",
		`{"out_trade_no":"TE002","total_amount":"1.00","subject":"Demo","product_code":"QUICK_MSECURITY_PAY","timeout_express":"2h"}`)
	p, _ = alipay.ParseOrderString(r.json(t)["order_str"].(string))
	if !strings.Contains(p["biz_content"], `"timeout_express":"2h"`) || strings.Contains(p["biz_content"], "30m") {
		t.Fatalf("biz_content %s", p["biz_content"])
	}
}
