package reliability

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
	"github.com/alipay-serverless/alipay-serverless/shared/config"
	"github.com/alipay-serverless/alipay-serverless/shared/credentials"
	"github.com/alipay-serverless/alipay-serverless/shared/httpapi"
	"github.com/alipay-serverless/alipay-serverless/shared/orders"
	"github.com/alipay-serverless/alipay-serverless/shared/reconcile"
	"github.com/alipay-serverless/alipay-serverless/shared/sandbox"
	"github.com/alipay-serverless/alipay-serverless/shared/wiring"
)

// reconcilerFor is the reconciler as functions/reconcile wires it, over the stack's
// store and the simulator's gateway.
func reconcilerFor(t *testing.T, s *stack, notifyURL string) *reconcile.Reconciler {
	t.Helper()
	log, _ := newLogger()
	d := wiring.Deps{
		Config: config.Config{GatewayTimeout: 5 * time.Second, NotifyURL: notifyURL, ReconcileBatch: 200,
			ReconcileConcurrency: 8, ReconcileMaxAttempts: 12},
		Log:         log,
		Store:       s.Store,
		Credentials: credentials.Static{Creds: testCredentials(t)},
		Gateway:     alipay.NewClient(s.SimURL+sandbox.GatewayPath, alipay.WithTimeout(5*time.Second)),
	}
	r, err := wiring.NewReconcile(d)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// downServer answers every notification 500 "fail": a notify route that is down (a bad
// deploy, a rotated key, a wrong gateway address). It counts the deliveries.
func downServer(t *testing.T) (*httptest.Server, *atomic.Int64) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 1<<20))
		n.Add(1)
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = io.WriteString(w, alipay.NotifyFailReply)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// alipaySchedule is Alipay's whole resend schedule (§8.4: 4m, 10m, 10m, 1h, 2h, 6h, 15h
// — 8 deliveries over about 25 h), compressed 100 000 times.
func alipaySchedule() []time.Duration {
	out := make([]time.Duration, len(sandbox.DefaultRetrySchedule))
	for i, d := range sandbox.DefaultRetrySchedule {
		out[i] = d / 100
	}
	return out
}

// TestLostDayRecoveredByTheReconciler: the notify route is down for a whole day —
// beyond Alipay's 25 h of resends — while N app-pay orders are paid, M vouchers frozen
// and K orders never paid. Passes of the reconciler, as of 26 h later, bring every one
// to its correct state: lost = 0, double-applied = 0.
func TestLostDayRecoveredByTheReconciler(t *testing.T) {
	nPaid, mFrozen, kUnpaid := scale(20, 200), scale(10, 100), scale(5, 50)
	down, deliveries := downServer(t)
	s := newStack(t, stackOptions{dynalite: true, notifyURL: down.URL + httpapi.NotifyPath, retrySchedule: alipaySchedule()})
	r := reconcilerFor(t, s, down.URL+httpapi.NotifyPath)

	var paid, unpaid, frozen []string
	for i := range nPaid {
		id := fmt.Sprintf("LD_PAY_%03d", i)
		str := s.createAppPay(t, map[string]any{"out_trade_no": id, "total_amount": "9.90", "subject": "Day", "product_code": "QUICK_MSECURITY_PAY"})
		s.control(t, "/sandbox/orders/pay", map[string]any{"order_str": str}, nil)
		paid = append(paid, id)
	}
	for i := range kUnpaid {
		id := fmt.Sprintf("LD_OPEN_%03d", i)
		s.createAppPay(t, map[string]any{"out_trade_no": id, "total_amount": "5.00", "subject": "Day", "product_code": "QUICK_MSECURITY_PAY",
			"timeout_express": "30m"})
		unpaid = append(unpaid, id)
	}
	for i := range mFrozen {
		id := fmt.Sprintf("LD_PA_%03d", i)
		s.createVoucher(t, map[string]any{"out_order_no": id, "out_request_no": id + "_R1", "order_title": "押金",
			"amount": "100.00", "product_code": alipay.ProductCodePreAuth})
		s.control(t, "/sandbox/vouchers/scan", map[string]any{"out_order_no": id}, nil)
		frozen = append(frozen, id)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if err := s.Sim.WaitIdle(ctx); err != nil {
		t.Fatalf("the simulator did not give up: %v", err)
	}
	notices := nPaid + mFrozen
	if got, want := deliveries.Load(), int64(notices*(len(sandbox.DefaultRetrySchedule)+1)); got != want {
		t.Fatalf("%d deliveries to the down route, want %d (%d notices × Alipay's 8 attempts)", got, want, notices)
	}
	for _, id := range paid {
		if o := s.appPay(t, id); o.Status != orders.TradeCreated {
			t.Fatalf("%s is %s before any pass: the notice was not lost", id, o.Status)
		}
	}

	later := time.Now().Add(26 * time.Hour)
	var total reconcile.Summary
	passes := 0
	for passes < 5 {
		sum, err := r.Pass(t.Context(), later)
		if err != nil {
			t.Fatal(err)
		}
		passes++
		if sum.Examined == 0 {
			break
		}
		total.Examined += sum.Examined
		total.Resolved += sum.Resolved
		total.Unchanged += sum.Unchanged
		total.Stuck += sum.Stuck
		total.Errors += sum.Errors
	}

	lost, doubled := 0, 0
	for _, id := range paid {
		o := s.appPay(t, id)
		if o.Status != orders.TradeSuccess || o.PaidAmount != 990 || o.TradeNo == "" {
			lost++
			t.Errorf("%s: %s paid %s", id, o.Status, o.PaidAmount)
		}
		if len(o.NotifyIDs) != 1 || s.Sim.Holdings(id).Payments != 1 {
			doubled++
			t.Errorf("%s: receipts %v, payments at Alipay %d", id, o.NotifyIDs, s.Sim.Holdings(id).Payments)
		}
	}
	for _, id := range unpaid {
		if o := s.appPay(t, id); o.Status != orders.TradeClosed || o.ClosedReason != orders.ClosedExpired {
			lost++
			t.Errorf("%s: %s %q, want TRADE_CLOSED EXPIRED", id, o.Status, o.ClosedReason)
		}
	}
	for _, id := range frozen {
		o := s.preAuth(t, id)
		led := s.Sim.Holdings(id)
		if o.Status != orders.PreAuthAuthorized || o.TotalFreeze != 10000 || o.Rest != 10000 {
			lost++
			t.Errorf("%s: %s frozen %s", id, o.Status, o.TotalFreeze)
		}
		if len(o.Operations) != 1 || led.Freezes != 1 || led.VoucherRequests != 1 {
			doubled++
			t.Errorf("%s: %d operations here, %d requests and %d freezes at Alipay", id, len(o.Operations), led.VoucherRequests, led.Freezes)
		}
	}
	want := reconcile.Summary{Examined: nPaid + kUnpaid + mFrozen, Resolved: nPaid + kUnpaid + mFrozen}
	if total != want {
		t.Errorf("passes summed %+v, want %+v", total, want)
	}
	t.Logf("lost day: %d paid + %d frozen notices undelivered (%d attempts), %d unpaid; %d passes: %+v; lost = %d, double-applied = %d",
		nPaid, mFrozen, deliveries.Load(), kUnpaid, passes, total, lost, doubled)
}

// gatewayCounter forwards to the simulator and counts calls per method; dropFirst makes
// the first voucher create of an out_order_no vanish before Alipay sees it.
type gatewayCounter struct {
	calls     map[string]*atomic.Int64
	dropFirst atomic.Bool
	dropped   atomic.Int64
}

func (g *gatewayCounter) handler(sim http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		r.Body = io.NopCloser(bytes.NewReader(body))
		method := r.URL.Query().Get("method")
		if form, err := url.ParseQuery(string(body)); err == nil && form.Get("method") != "" {
			method = form.Get("method")
		}
		if c := g.calls[method]; c != nil {
			c.Add(1)
		}
		if method == alipay.MethodVoucherCreate && g.dropFirst.Load() && g.dropped.Add(1) == 1 {
			http.Error(w, "bad gateway", http.StatusBadGateway)
			return
		}
		sim.ServeHTTP(w, r)
	})
}

// TestLostVoucherRepliesResolvedWithMoneyMovedOnce: a voucher create whose reply was
// lost is left UNKNOWN (503 to the cashier); the reconciler settles it with the detail
// query, and the money moves exactly once at the simulated Alipay.
func TestLostVoucherRepliesResolvedWithMoneyMovedOnce(t *testing.T) {
	g := &gatewayCounter{calls: map[string]*atomic.Int64{alipay.MethodVoucherCreate: {}, alipay.MethodFundAuthDetailQuery: {}}}
	s := newStack(t, stackOptions{gateway: g.handler, gatewayTimeout: 500 * time.Millisecond})
	r := reconcilerFor(t, s, "")
	voucher := func(id, title string) map[string]any {
		return map[string]any{"out_order_no": id, "out_request_no": id + "_R1", "order_title": title,
			"amount": "100.00", "product_code": alipay.ProductCodePreAuth}
	}
	lose := func(t *testing.T, body map[string]any) {
		t.Helper()
		if rep := s.post(t, "/v1/preauth/vouchers", body); rep.Status != http.StatusServiceUnavailable {
			t.Fatalf("create: %d %s, want 503", rep.Status, rep.Body)
		}
		if st := s.preAuth(t, body["out_order_no"].(string)).Requests[body["out_request_no"].(string)].State; st != orders.RequestUnknown {
			t.Fatalf("request %s, want UNKNOWN", st)
		}
	}
	pass := func(t *testing.T) reconcile.Summary {
		t.Helper()
		sum, err := r.Pass(t.Context(), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return sum
	}

	t.Run("reply_lost_voucher_unpaid_code_recovered_by_resending", func(t *testing.T) {
		id := "LR_INIT"
		lose(t, voucher(id, "押金 SIM_TIMEOUT"))
		if sum := pass(t); sum.Resolved != 1 {
			t.Fatalf("pass %+v", sum)
		}
		o := s.preAuth(t, id)
		req := o.Requests[id+"_R1"]
		if o.Status != orders.PreAuthCodeIssued || req.State != orders.RequestIssued || req.CodeValue == "" {
			t.Fatalf("order %s, request %s %q", o.Status, req.State, req.CodeValue)
		}
		// The cashier's retry now replays the recovered code; the buyer pays once.
		rep := s.post(t, "/v1/preauth/vouchers", voucher(id, "押金 SIM_TIMEOUT"))
		if rep.Status != http.StatusOK || rep.JSON()["code_value"] != req.CodeValue || rep.Header.Get(httpapi.ReplayedHeader) != "true" {
			t.Fatalf("retry: %d %s", rep.Status, rep.Body)
		}
		s.control(t, "/sandbox/vouchers/scan", map[string]any{"out_order_no": id}, nil)
		waitPreAuth(t, s, id, orders.PreAuthAuthorized)
		if led := s.Sim.Holdings(id); led.VoucherRequests != 1 || led.Freezes != 1 || led.Frozen != 10000 {
			t.Fatalf("at Alipay: %+v", led)
		}
	})
	t.Run("reply_lost_voucher_paid_freeze_applied", func(t *testing.T) {
		id := "LR_PAID"
		lose(t, voucher(id, "押金 SIM_HTTP500"))
		s.control(t, "/sandbox/vouchers/scan", map[string]any{"out_order_no": id}, nil)
		// The freeze notice is refused (the order has no code yet? no: it is applied by
		// whichever comes first); either way one pass leaves it AUTHORIZED once.
		pass(t)
		waitPreAuth(t, s, id, orders.PreAuthAuthorized)
		o := s.preAuth(t, id)
		if led := s.Sim.Holdings(id); led.VoucherRequests != 1 || led.Freezes != 1 || o.TotalFreeze != 10000 || len(o.Operations) != 1 {
			t.Fatalf("at Alipay %+v, here %s frozen %s in %d operations", led, o.Status, o.TotalFreeze, len(o.Operations))
		}
		if sum := pass(t); sum.Examined != 0 {
			t.Fatalf("settled order examined again: %+v", sum)
		}
	})
	t.Run("request_never_reached_alipay_not_created_then_retry_sends_it", func(t *testing.T) {
		id := "LR_NONE"
		g.dropFirst.Store(true)
		lose(t, voucher(id, "押金"))
		g.dropFirst.Store(false)
		before := g.calls[alipay.MethodVoucherCreate].Load()
		if sum := pass(t); sum.Resolved != 1 {
			t.Fatalf("pass %+v", sum)
		}
		if got := g.calls[alipay.MethodVoucherCreate].Load(); got != before {
			t.Fatalf("the reconciler sent a create Alipay had never seen (%d calls)", got-before)
		}
		if st := s.preAuth(t, id).Requests[id+"_R1"].State; st != orders.RequestNotCreated {
			t.Fatalf("request %s, want NOT_CREATED", st)
		}
		if led := s.Sim.Holdings(id); led.VoucherRequests != 0 {
			t.Fatalf("at Alipay: %+v", led)
		}
		rep := s.post(t, "/v1/preauth/vouchers", voucher(id, "押金"))
		if rep.Status != http.StatusOK {
			t.Fatalf("identical retry: %d %s", rep.Status, rep.Body)
		}
		if led := s.Sim.Holdings(id); led.VoucherRequests != 1 {
			t.Fatalf("at Alipay: %+v", led)
		}
	})
}

func waitPreAuth(t *testing.T, s *stack, id string, want orders.PreAuthStatus) {
	t.Helper()
	if !eventually(10*time.Second, func() bool { return s.preAuth(t, id).Status == want }) {
		t.Fatalf("%s is %s, want %s", id, s.preAuth(t, id).Status, want)
	}
}

func (s *stack) appPay(t testing.TB, id string) *orders.AppPayOrder {
	t.Helper()
	o, err := s.Store.GetAppPayOrder(context.Background(), id)
	if err != nil {
		t.Fatalf("%s: %v", id, err)
	}
	return o
}

func (s *stack) preAuth(t testing.TB, id string) *orders.PreAuthOrder {
	t.Helper()
	o, err := s.Store.GetPreAuthOrder(context.Background(), id)
	if err != nil {
		t.Fatalf("%s: %v", id, err)
	}
	return o
}
