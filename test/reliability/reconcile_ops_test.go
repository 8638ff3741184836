package reliability

import (
	"bytes"
	"io"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
	"github.com/alipay-serverless/alipay-serverless/shared/config"
	"github.com/alipay-serverless/alipay-serverless/shared/credentials"
	"github.com/alipay-serverless/alipay-serverless/shared/httpapi"
	"github.com/alipay-serverless/alipay-serverless/shared/metrics"
	"github.com/alipay-serverless/alipay-serverless/shared/orders"
	"github.com/alipay-serverless/alipay-serverless/shared/reconcile"
	"github.com/alipay-serverless/alipay-serverless/shared/sandbox"
	"github.com/alipay-serverless/alipay-serverless/shared/wiring"
)

// saboteur stands between the service and the simulator: it counts calls per method and,
// once per plan entry, loses a call whose biz_content names the entry's number — either
// its reply (the simulator acts, the caller gets 502) or the request itself (the
// simulator never sees it).
type saboteur struct {
	mu    sync.Mutex
	plan  []sabotage
	calls map[string]int
}

type sabotage struct {
	method, names string
	request       bool // lose the request (before Alipay), not the reply
}

func (g *saboteur) lose(method, names string, request bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.plan = append(g.plan, sabotage{method, names, request})
}

func (g *saboteur) count(method string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.calls[method]
}

func (g *saboteur) handler(sim http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		form, _ := url.ParseQuery(string(body))
		method := form.Get("method")
		if method == "" {
			method = r.URL.Query().Get("method")
		}
		biz := form.Get("biz_content")
		if biz == "" {
			biz = r.URL.Query().Get("biz_content")
		}
		g.mu.Lock()
		g.calls[method]++
		var hit *sabotage
		for i, p := range g.plan {
			if p.method == method && strings.Contains(biz, `"`+p.names+`"`) {
				hit = &p
				g.plan = append(g.plan[:i:i], g.plan[i+1:]...)
				break
			}
		}
		g.mu.Unlock()
		if hit != nil && hit.request {
			http.Error(w, "bad gateway", http.StatusBadGateway)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		if hit == nil {
			sim.ServeHTTP(w, r)
			return
		}
		sim.ServeHTTP(discard{}, r) // Alipay acts; the reply never arrives
		http.Error(w, "bad gateway", http.StatusBadGateway)
	})
}

type discard struct{}

func (discard) Header() http.Header         { return http.Header{} }
func (discard) Write(b []byte) (int, error) { return len(b), nil }
func (discard) WriteHeader(int)             {}

// movements counts the simulator's money movements of one order by kind, and their sum.
func movements(s *stack, outOrderNo string) (map[string]int, alipay.Amount) {
	n := map[string]int{}
	var sum alipay.Amount
	for _, m := range s.Sim.Ledger() {
		if m.OutOrderNo == outOrderNo {
			n[m.Kind]++
			sum += m.Amount
		}
	}
	return n, sum
}

func opOf(ops orders.OpSet, kind orders.OpKind, requestNo string) orders.Operation {
	for _, op := range ops {
		if op.Kind == kind && op.RequestNo == requestNo {
			return op
		}
	}
	return orders.Operation{}
}

// TestLostOperationRepliesSettledByTheReconciler: a capture, unfreeze, cancel, refund or
// close whose reply is lost (the money moved at Alipay, 503 to the caller) and that
// nobody retries is settled by a reconciler pass to the state Alipay has, with the money
// moved exactly once at the simulator; a second pass changes nothing. A call Alipay
// never received is not invented: the operation ends FAILED NOT_CREATED, its amount
// released, and an identical retry still sends it. Notices go to a route that is down,
// so only the reconciler's queries can settle anything.
func TestLostOperationRepliesSettledByTheReconciler(t *testing.T) {
	emf := &lockedBuffer{}
	metrics.SetDefault(metrics.New(emf))
	t.Cleanup(func() { metrics.SetDefault(nil) })
	down, _ := downServer(t)
	notifyURL := down.URL + httpapi.NotifyPath
	g := &saboteur{calls: map[string]int{}}
	s := newStack(t, stackOptions{notifyURL: notifyURL, gateway: g.handler, gatewayTimeout: 500 * time.Millisecond})
	// The reconciler as functions/reconcile wires it, through the saboteur (so its own
	// calls are counted), on a clock the test moves forward.
	var ahead atomic.Int64
	clock := func() time.Time { return time.Now().Add(time.Duration(ahead.Load())) }
	log, _ := newLogger()
	r, err := wiring.NewReconcile(wiring.Deps{
		Config: config.Config{GatewayTimeout: 5 * time.Second, NotifyURL: notifyURL, ReconcileBatch: 200,
			ReconcileConcurrency: 8, ReconcileMaxAttempts: 12},
		Log: log, Store: s.Store, Credentials: credentials.Static{Creds: testCredentials(t)},
		Gateway: alipay.NewClient(s.GatewayURL, alipay.WithTimeout(5*time.Second)), Now: clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	pass := func(t *testing.T) reconcile.Summary {
		t.Helper()
		ahead.Add(int64(time.Minute)) // past the refund query's 10 s and any lease
		sum, err := r.Pass(t.Context(), clock())
		if err != nil {
			t.Fatal(err)
		}
		return sum
	}
	var ops, resolved, movedOnce atomic.Int64
	settled := func(t *testing.T) {
		t.Helper()
		ops.Add(1)
		sum := pass(t)
		if sum.Resolved != 1 || sum.Errors != 0 {
			t.Fatalf("pass %+v, want 1 resolved", sum)
		}
		resolved.Add(int64(sum.Resolved))
	}
	// Each subtest ends by counting its movements at the simulator (movedOnce: the
	// money moved exactly once, or not at all when Alipay never had the call).
	t.Cleanup(func() {
		t.Logf("operations %d (lost replies %d, requests lost before Alipay %d), resolved by one pass %d, "+
			"second passes examining anything 0 (each asserted), moved exactly once (or never, as Alipay had it) %d",
			ops.Load(), ops.Load()-3, 3, resolved.Load(), movedOnce.Load())
	})
	nothingLeft := func(t *testing.T) {
		t.Helper()
		if sum := pass(t); sum != (reconcile.Summary{}) {
			t.Fatalf("second pass %+v, want nothing examined", sum)
		}
	}
	lost := func(t *testing.T, path string, body map[string]any) {
		t.Helper()
		if rep := s.post(t, path, body); rep.Status != http.StatusServiceUnavailable {
			t.Fatalf("POST %s: %d %s, want 503", path, rep.Status, rep.Body)
		}
	}
	// frozen: a voucher of 100.00 paid; the freeze learned by the sync route (its
	// notice goes nowhere), payer included.
	frozen := func(t *testing.T, id string) {
		t.Helper()
		s.createVoucher(t, map[string]any{"out_order_no": id, "out_request_no": id + "_R1", "order_title": "押金",
			"amount": "100.00", "product_code": alipay.ProductCodePreAuth})
		s.control(t, "/sandbox/vouchers/scan", map[string]any{"out_order_no": id}, nil)
		if rep := s.post(t, "/v1/preauth/orders/"+id+"/sync", map[string]any{}); rep.Status != http.StatusOK || rep.JSON()["status"] != "AUTHORIZED" {
			t.Fatalf("sync: %d %s", rep.Status, rep.Body)
		}
	}
	paid := func(t *testing.T, id string) {
		t.Helper()
		str := s.createAppPay(t, map[string]any{"out_trade_no": id, "total_amount": "10.00", "subject": "Order", "product_code": "QUICK_MSECURITY_PAY"})
		s.control(t, "/sandbox/orders/pay", map[string]any{"order_str": str}, nil)
		if rep := s.post(t, "/v1/app-pay/orders/"+id+"/sync", map[string]any{}); rep.Status != http.StatusOK || rep.JSON()["status"] != "TRADE_SUCCESS" {
			t.Fatalf("sync: %d %s", rep.Status, rep.Body)
		}
	}
	preOp := func(t *testing.T, id string, kind orders.OpKind, no string) (orders.Operation, *orders.PreAuthOrder) {
		t.Helper()
		o := s.preAuth(t, id)
		return opOf(o.Ops, kind, no), o
	}

	t.Run("capture_reply_lost", func(t *testing.T) {
		id := "RO_CAP"
		frozen(t, id)
		lost(t, "/v1/preauth/orders/"+id+"/captures", map[string]any{"out_trade_no": id + "_C1", "amount": "30.00", "subject": "Room SIM_HTTP500"})
		if op, _ := preOp(t, id, orders.OpCapture, id+"_C1"); op.State != orders.OpUnknown {
			t.Fatalf("capture %s, want UNKNOWN", op.State)
		}
		settled(t)
		op, o := preOp(t, id, orders.OpCapture, id+"_C1")
		if op.State != orders.OpSucceeded || op.Result[orders.ResultTradeNo] == "" || o.TotalPay != 3000 || o.Rest != 7000 {
			t.Fatalf("capture %s %v; order paid %s rest %s", op.State, op.Result, o.TotalPay, o.Rest)
		}
		nothingLeft(t)
		if n, sum := movements(s, id); n[sandbox.MovePay] != 1 || sum != 3000 || g.count(alipay.MethodTradePay) != 1 {
			t.Fatalf("at Alipay %v (sum %s), %d trade.pay calls: want one capture of 30.00", n, sum, g.count(alipay.MethodTradePay))
		}
		movedOnce.Add(1)
	})
	t.Run("unfreeze_reply_lost", func(t *testing.T) {
		id := "RO_UNF"
		frozen(t, id)
		lost(t, "/v1/preauth/orders/"+id+"/unfreezes", map[string]any{"out_request_no": id + "_U1", "amount": "20.00", "remark": "release SIM_TIMEOUT"})
		settled(t)
		op, o := preOp(t, id, orders.OpUnfreeze, id+"_U1")
		if op.State != orders.OpSucceeded || o.TotalUnfreeze != 2000 || o.Rest != 8000 || o.Status != orders.PreAuthAuthorized {
			t.Fatalf("unfreeze %s; order %s unfrozen %s rest %s", op.State, o.Status, o.TotalUnfreeze, o.Rest)
		}
		nothingLeft(t)
		if n, sum := movements(s, id); n[sandbox.MoveUnfreeze] != 1 || sum != 2000 {
			t.Fatalf("at Alipay %v (sum %s): want one unfreeze of 20.00", n, sum)
		}
		movedOnce.Add(1)
	})
	t.Run("cancel_reply_lost", func(t *testing.T) {
		id := "RO_CAN"
		frozen(t, id)
		lost(t, "/v1/preauth/orders/"+id+"/cancel", map[string]any{"out_request_no": id + "_R1", "remark": "give up SIM_HTTP500"})
		settled(t)
		op, o := preOp(t, id, orders.OpCancel, id+"_R1")
		if op.State != orders.OpSucceeded || op.Result[orders.ResultAction] != alipay.CancelActionUnfreeze || o.Rest != 0 || o.Status != orders.PreAuthClosed {
			t.Fatalf("cancel %s %v; order %s rest %s", op.State, op.Result, o.Status, o.Rest)
		}
		nothingLeft(t)
		if n, _ := movements(s, id); n[sandbox.MoveCancel] != 1 || len(n) != 1 {
			t.Fatalf("at Alipay %v: want one cancel", n)
		}
		movedOnce.Add(1)
	})
	t.Run("refund_reply_lost", func(t *testing.T) {
		id := "RO_REF"
		paid(t, id)
		lost(t, "/v1/app-pay/orders/"+id+"/refunds", map[string]any{"out_request_no": id + "_F1", "refund_amount": "3.00", "refund_reason": "broken SIM_HTTP500"})
		if op := opOf(s.appPay(t, id).Ops, orders.OpRefund, id+"_F1"); op.State != orders.OpUnknown {
			t.Fatalf("refund %s, want UNKNOWN", op.State)
		}
		settled(t)
		o := s.appPay(t, id)
		if op := opOf(o.Ops, orders.OpRefund, id+"_F1"); op.State != orders.OpSucceeded || o.RefundedTotal() != 300 || o.Status != orders.TradeSuccess {
			t.Fatalf("refund %s; order %s refunded %s", op.State, o.Status, o.RefundedTotal())
		}
		nothingLeft(t)
		if rs := s.Sim.Refunds(id); len(rs) != 1 || rs[0].Amount != 300 || g.count(alipay.MethodTradeRefund) != 1 {
			t.Fatalf("at Alipay %+v, %d refund calls: want one refund of 3.00", rs, g.count(alipay.MethodTradeRefund))
		}
		movedOnce.Add(1)
	})
	t.Run("close_reply_lost_order_never_submitted", func(t *testing.T) {
		id := "RO_CLO"
		s.createAppPay(t, map[string]any{"out_trade_no": id, "total_amount": "10.00", "subject": "Order", "product_code": "QUICK_MSECURITY_PAY"})
		g.lose(alipay.MethodTradeClose, id, false)
		lost(t, "/v1/app-pay/orders/"+id+"/close", map[string]any{})
		settled(t)
		o := s.appPay(t, id)
		if op := opOf(o.Ops, orders.OpClose, "close"); op.State != orders.OpSucceeded || o.Status != orders.TradeClosed || !o.CloseUnconfirmed {
			t.Fatalf("close %s; order %s unconfirmed %v", op.State, o.Status, o.CloseUnconfirmed)
		}
		nothingLeft(t)
		if s.Sim.Holdings(id).Payments != 0 || g.count(alipay.MethodTradeClose) != 1 {
			t.Fatalf("at Alipay %+v, %d close calls", s.Sim.Holdings(id), g.count(alipay.MethodTradeClose))
		}
		movedOnce.Add(1)
	})
	t.Run("close_reply_lost_order_paid_meanwhile", func(t *testing.T) {
		id := "RO_CLP"
		str := s.createAppPay(t, map[string]any{"out_trade_no": id, "total_amount": "10.00", "subject": "Order", "product_code": "QUICK_MSECURITY_PAY"})
		s.control(t, "/sandbox/orders/pay", map[string]any{"order_str": str}, nil) // its notice goes nowhere
		g.lose(alipay.MethodTradeClose, id, false)
		lost(t, "/v1/app-pay/orders/"+id+"/close", map[string]any{})
		settled(t)
		o := s.appPay(t, id)
		if op := opOf(o.Ops, orders.OpClose, "close"); op.State != orders.OpFailed || o.Status != orders.TradeSuccess || o.TradeNo == "" {
			t.Fatalf("close %s %s; order %s", op.State, op.SubCode, o.Status)
		}
		nothingLeft(t)
		if s.Sim.Holdings(id).Payments != 1 {
			t.Fatalf("at Alipay %+v", s.Sim.Holdings(id))
		}
		movedOnce.Add(1)
	})

	// Alipay never received the call: nothing is invented; NOT_CREATED releases the
	// amount and an identical retry sends it (and moves the money once).
	t.Run("capture_never_reached_alipay_not_created_then_retry_sends_it", func(t *testing.T) {
		id := "RO_CAPN"
		frozen(t, id)
		body := map[string]any{"out_trade_no": id + "_C1", "amount": "30.00", "subject": "Room"}
		g.lose(alipay.MethodTradePay, id+"_C1", true)
		lost(t, "/v1/preauth/orders/"+id+"/captures", body)
		settled(t)
		op, o := preOp(t, id, orders.OpCapture, id+"_C1")
		if op.State != orders.OpFailed || op.SubCode != orders.SubCodeNotCreated || o.TotalPay != 0 || o.Rest != 10000 {
			t.Fatalf("capture %s %s; order paid %s rest %s", op.State, op.SubCode, o.TotalPay, o.Rest)
		}
		if n, _ := movements(s, id); n[sandbox.MovePay] != 0 {
			t.Fatalf("at Alipay %v: nothing may have moved", n)
		}
		nothingLeft(t)
		rep := s.post(t, "/v1/preauth/orders/"+id+"/captures", body)
		if rep.Status != http.StatusOK || rep.JSON()["status"] != "SUCCEEDED" || rep.JSON()["rest_amount"] != "70.00" {
			t.Fatalf("identical retry: %d %s", rep.Status, rep.Body)
		}
		if n, sum := movements(s, id); n[sandbox.MovePay] != 1 || sum != 3000 {
			t.Fatalf("at Alipay %v (sum %s): want one capture of 30.00", n, sum)
		}
		movedOnce.Add(1)
	})
	t.Run("refund_never_reached_alipay_not_created_then_retry_sends_it", func(t *testing.T) {
		id := "RO_REFN"
		paid(t, id)
		body := map[string]any{"out_request_no": id + "_F1", "refund_amount": "3.00"}
		g.lose(alipay.MethodTradeRefund, id+"_F1", true)
		lost(t, "/v1/app-pay/orders/"+id+"/refunds", body)
		settled(t)
		o := s.appPay(t, id)
		if op := opOf(o.Ops, orders.OpRefund, id+"_F1"); op.State != orders.OpFailed || op.SubCode != orders.SubCodeNotCreated || o.RefundedTotal() != 0 {
			t.Fatalf("refund %s %s; refunded %s", op.State, op.SubCode, o.RefundedTotal())
		}
		if rs := s.Sim.Refunds(id); len(rs) != 0 {
			t.Fatalf("at Alipay %+v: nothing may have moved", rs)
		}
		nothingLeft(t)
		rep := s.post(t, "/v1/app-pay/orders/"+id+"/refunds", body)
		if rep.Status != http.StatusOK || rep.JSON()["status"] != "SUCCEEDED" {
			t.Fatalf("identical retry: %d %s", rep.Status, rep.Body)
		}
		if rs := s.Sim.Refunds(id); len(rs) != 1 || rs[0].Amount != 300 {
			t.Fatalf("at Alipay %+v: want one refund of 3.00", rs)
		}
		movedOnce.Add(1)
	})
	t.Run("unfreeze_never_reached_alipay_not_created", func(t *testing.T) {
		id := "RO_UNFN"
		frozen(t, id)
		g.lose(alipay.MethodFundAuthUnfreeze, id+"_U1", true)
		lost(t, "/v1/preauth/orders/"+id+"/unfreezes", map[string]any{"out_request_no": id + "_U1", "amount": "20.00", "remark": "release"})
		settled(t)
		op, o := preOp(t, id, orders.OpUnfreeze, id+"_U1")
		if op.State != orders.OpFailed || op.SubCode != orders.SubCodeNotCreated || o.Rest != 10000 {
			t.Fatalf("unfreeze %s %s; rest %s", op.State, op.SubCode, o.Rest)
		}
		if n, _ := movements(s, id); n[sandbox.MoveUnfreeze] != 0 {
			t.Fatalf("at Alipay %v: nothing may have moved", n)
		}
		movedOnce.Add(1)
		nothingLeft(t)
	})
	// Every call above that ended UNKNOWN for its caller was counted once, by its kind
	// (OperationsUnknown); the reconciler's settling counted none.
	t.Run("unknown_outcomes_counted_by_kind", func(t *testing.T) {
		got := map[string]int{}
		for _, l := range metrics.Parse(emf.Bytes()) {
			if l.Name == metrics.OperationsUnknown.Name {
				got[l.Dims["Kind"]] += int(l.Value)
			}
		}
		want := map[string]int{"CAPTURE": 2, "UNFREEZE": 2, "CANCEL": 1, "REFUND": 2, "CLOSE": 2}
		if !maps.Equal(got, want) {
			t.Fatalf("OperationsUnknown by kind %v, want %v", got, want)
		}
	})
}

// lockedBuffer is a bytes.Buffer safe for the emitter and the test's read.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) Bytes() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return bytes.Clone(l.b.Bytes())
}
