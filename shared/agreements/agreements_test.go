package agreements_test

import (
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
	"testing"
	"time"

	"github.com/alipay-serverless/alipay-serverless/shared/agreements"
	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
	"github.com/alipay-serverless/alipay-serverless/shared/apppay"
	"github.com/alipay-serverless/alipay-serverless/shared/credentials"
	"github.com/alipay-serverless/alipay-serverless/shared/httpapi"
	"github.com/alipay-serverless/alipay-serverless/shared/notify"
	"github.com/alipay-serverless/alipay-serverless/shared/orders"
	"github.com/alipay-serverless/alipay-serverless/shared/reconcile"
	"github.com/alipay-serverless/alipay-serverless/shared/sandbox"
	"github.com/alipay-serverless/alipay-serverless/test/harness/testclock"
)

// Agreements end to end: the apppaysign, settle and notify routes on one loopback server
// with the gateway simulator, one memory store and one clock that every part reads (the
// process clock's zone plays no part: instants are built in UTC).

const app = "2021000000000001"

var (
	keyOnce sync.Once
	appKey  *alipay.PrivateKey
)

type stack struct {
	url   string
	clk   *testclock.Clock
	sim   *sandbox.Simulator
	store *orders.MemoryStore
	svc   *agreements.Service
}

type options struct {
	signNotifyURL string // "" = our notify route
	// chargeNotifyURL is the charges' notify_url; "" = our notify route.
	chargeNotifyURL string
	gatewayTimeout  time.Duration
}

func newStack(t *testing.T, now time.Time, o options) *stack {
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
	s := &stack{clk: testclock.New(now), store: orders.NewMemoryStore()}
	sim, err := sandbox.New(sandbox.Options{AppID: app, AppPublicKey: appKey.Public(), Clock: s.clk.Now, MaxHold: 3 * time.Second,
		RetrySchedule: []time.Duration{5 * time.Millisecond, 20 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	s.sim = sim
	var api http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, sandbox.Prefix) {
			sim.Handler().ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	}))
	s.url = srv.URL
	creds := credentials.Static{Creds: &alipay.Credentials{AppID: app, PrivateKey: appKey, AlipayPublicKey: sim.AlipayPublicKey(), Version: "test"}}
	timeout := o.gatewayTimeout
	if timeout == 0 {
		timeout = 2 * time.Second
	}
	gw := alipay.NewClient(srv.URL+sandbox.GatewayPath, alipay.WithTimeout(timeout), alipay.WithClock(s.clk.Now))
	log := slog.New(slog.DiscardHandler)
	router := httpapi.NewRouter(httpapi.LocalCaller, log)
	s.svc = agreements.NewService(s.store, creds, gw, agreements.WithClock(s.clk.Now), agreements.WithGatewayTimeout(timeout))
	ah := agreements.NewHandler(s.svc, o.chargeNotifyURL)
	pay := apppay.NewService(s.store, creds, apppay.WithClock(s.clk.Now), apppay.WithGateway(gw),
		apppay.WithSignNotifyURL(o.signNotifyURL))
	if err := apppay.NewHandler(pay, "").WithRoutes(ah.Handlers()).Mount(router); err != nil {
		t.Fatal(err)
	}
	settle := ah.SettleHandlers()
	for _, rt := range httpapi.RoutesOf(httpapi.FnSettle) {
		if key := rt.Method + " " + rt.Path; settle[key] == nil {
			settle[key] = http.NotFoundHandler() // another slice's settle route, not under test here
		}
	}
	if err := router.MountFunction(httpapi.FnSettle, settle); err != nil {
		t.Fatal(err)
	}
	if err := notify.NewHandler(notify.NewService(s.store, creds, notify.WithClock(s.clk.Now))).Mount(router); err != nil {
		t.Fatal(err)
	}
	api = router
	t.Cleanup(func() {
		_ = sim.Close()
		srv.Close()
	})
	return s
}

type resp struct {
	status int
	body   map[string]any
	raw    string
}

func (r resp) code() string {
	e, _ := r.body["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func (r resp) errField(k string) string {
	e, _ := r.body["error"].(map[string]any)
	c, _ := e[k].(string)
	return c
}

const (
	appUser  = "app-user-1"
	backOffc = "back-office"
)

func (s *stack) do(t *testing.T, method, path, caller, scopes, body string) resp {
	t.Helper()
	req, err := http.NewRequest(method, s.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set(httpapi.LocalCallerHeader, caller)
	req.Header.Set(httpapi.LocalScopesHeader, scopes)
	res, err := (&http.Client{Timeout: 20 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	r := resp{status: res.StatusCode, raw: string(b)}
	_ = json.Unmarshal(b, &r.body)
	return r
}

func (s *stack) idle(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.sim.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
}

// signed creates a pay-and-sign order (MONTH, period 1, from executeTime, single
// 10.00, total 25.00, 3 payments) as appUser, has the buyer pay it and returns the
// external_agreement_no.
func (s *stack) signed(t *testing.T, outTradeNo, executeTime string) string {
	t.Helper()
	ext := "AG" + outTradeNo
	body := fmt.Sprintf(`{"out_trade_no":%q,"total_amount":"0.01","subject":"Membership","product_code":"CYCLE_PAY_AUTH",
	"agreement_sign_params":{"product_code":"GENERAL_WITHHOLDING","personal_product_code":"CYCLE_PAY_AUTH_P","sign_scene":"INDUSTRY|DIGITAL_MEDIA",
	"external_agreement_no":%q,"access_params":{"channel":"ALIPAYAPP"},
	"period_rule_params":{"period_type":"MONTH","period":1,"execute_time":%q,"single_amount":"10.00","total_amount":"25.00","total_payments":3}}}`,
		outTradeNo, ext, executeTime)
	r := s.do(t, "POST", "/v1/app-pay/orders", appUser, "", body)
	if r.status != 200 {
		t.Fatalf("create: %d %s", r.status, r.raw)
	}
	b, _ := json.Marshal(map[string]string{"order_str": r.body["order_str"].(string)})
	res, err := http.Post(s.url+"/sandbox/orders/pay", "application/json", strings.NewReader(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("pay: %d", res.StatusCode)
	}
	s.idle(t)
	return ext
}

func (s *stack) charge(t *testing.T, ext, outTradeNo, amount, subject string) resp {
	t.Helper()
	return s.do(t, "POST", "/v1/agreements/"+ext+"/charges", backOffc, "settle",
		fmt.Sprintf(`{"out_trade_no":%q,"amount":%q,"subject":%q}`, outTradeNo, amount, subject))
}

func (s *stack) view(t *testing.T, ext string) map[string]any {
	t.Helper()
	r := s.do(t, "GET", "/v1/agreements/"+ext, appUser, "", "")
	if r.status != 200 {
		t.Fatalf("GET agreement: %d %s", r.status, r.raw)
	}
	return r.body
}

// charges counts the simulator's deductions: money moved.
func (s *stack) charges(outTradeNo string) int {
	n := 0
	for _, m := range s.sim.Ledger() {
		if m.Kind == sandbox.MoveCharge && (outTradeNo == "" || m.RequestNo == outTradeNo) {
			n++
		}
	}
	return n
}

// chinaNoon is 12:00 China time on the given China date, as a UTC instant.
func chinaNoon(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 4, 0, 0, 0, time.UTC) }

func TestPayAndSignThenChargePeriodOneThenTheSamePeriodIsRefused(t *testing.T) {
	s := newStack(t, chinaNoon(2030, 6, 4), options{})
	ext := s.signed(t, "SIGN001", "2030-06-05")
	v := s.view(t, ext)
	if v["status"] != "NORMAL" || v["agreement_no"] == "" || v["current_period"] != float64(1) {
		t.Fatalf("after the sign notice: %v", v)
	}
	if w, _ := v["next_charge_window"].(map[string]any); w["from"] != "2030-06-02" || w["to"] != "2030-06-05" || w["period"] != float64(1) {
		t.Fatalf("next window %v", v["next_charge_window"])
	}
	r := s.charge(t, ext, "CHG001", "9.90", "June")
	if r.status != 200 || r.body["status"] != "SUCCEEDED" || r.body["period"] != float64(1) || r.body["trade_no"] == "" ||
		r.body["external_agreement_no"] != ext || r.body["amount"] != "9.90" {
		t.Fatalf("charge: %d %s", r.status, r.raw)
	}
	r2 := s.charge(t, ext, "CHG002", "9.90", "June again")
	if r2.status != 409 || r2.code() != "OUTSIDE_CHARGE_WINDOW" || !strings.Contains(r2.errField("message"), "2030-07-02 to 2030-07-05") {
		t.Fatalf("second charge in the period: %d %s", r2.status, r2.raw)
	}
	s.idle(t)
	v = s.view(t, ext)
	ch, _ := v["charges"].([]any)
	if len(ch) != 1 || ch[0].(map[string]any)["period"] != float64(1) || ch[0].(map[string]any)["status"] != "SUCCEEDED" ||
		v["current_period"] != float64(2) || v["charged_total"] != "9.90" {
		t.Fatalf("view after the charge: %v", v)
	}
	if n := s.charges(""); n != 1 {
		t.Fatalf("simulator deductions %d, want 1", n)
	}
	// The identical retry replays the charge; the money moved once.
	if r3 := s.charge(t, ext, "CHG001", "9.90", "June"); r3.status != 200 || r3.body["period"] != float64(1) {
		t.Fatalf("replay: %d %s", r3.status, r3.raw)
	}
	if n := s.charges(""); n != 1 {
		t.Fatalf("simulator deductions after a replay %d, want 1", n)
	}
}

// TestChargeWindowIsChinaDates: 15:59 UTC is 23:59 in China, the day before the window
// opens; two minutes later it is 00:01 on its first day.
func TestChargeWindowIsChinaDates(t *testing.T) {
	s := newStack(t, chinaNoon(2030, 5, 30), options{})
	ext := s.signed(t, "SIGN002", "2030-06-05")
	s.clk.Set(time.Date(2030, 6, 1, 15, 59, 0, 0, time.UTC))
	r := s.charge(t, ext, "CHG101", "5.00", "June")
	if r.status != 409 || r.code() != "OUTSIDE_CHARGE_WINDOW" || !strings.Contains(r.errField("message"), "2030-06-01") ||
		!strings.Contains(r.errField("message"), "2030-06-02 to 2030-06-05") {
		t.Fatalf("23:59 China: %d %s", r.status, r.raw)
	}
	s.clk.Set(time.Date(2030, 6, 1, 16, 1, 0, 0, time.UTC))
	if r := s.charge(t, ext, "CHG101", "5.00", "June"); r.status != 200 || r.body["period"] != float64(1) {
		t.Fatalf("00:01 China: %d %s", r.status, r.raw)
	}
	if n := s.charges(""); n != 1 {
		t.Fatalf("deductions %d", n)
	}
}

func TestConcurrentChargesInOnePeriodOneGoesOut(t *testing.T) {
	s := newStack(t, chinaNoon(2030, 6, 4), options{})
	ext := s.signed(t, "SIGN003", "2030-06-05")
	const n = 8
	var wg sync.WaitGroup
	statuses := make([]string, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := s.charge(t, ext, fmt.Sprintf("RACE%d", i), "3.00", "June")
			statuses[i] = fmt.Sprintf("%d %s%s", r.status, r.code(), r.errField("field"))
		}()
	}
	wg.Wait()
	ok := 0
	for _, st := range statuses {
		switch {
		case st == "200 ":
			ok++
		case st == "409 CHARGE_LIMIT_EXCEEDEDperiod", st == "409 OUTSIDE_CHARGE_WINDOW":
		default:
			t.Errorf("unexpected reply %q", st)
		}
	}
	if ok != 1 || s.charges("") != 1 {
		t.Fatalf("%d charges answered 200, %d deductions at the simulator; want 1 and 1 (%v)", ok, s.charges(""), statuses)
	}
}

// TestLostChargeReplyRetriedMovesMoneyOnce: Alipay takes the money and the reply is lost
// (20000, or no reply before our timeout); the identical retry asks trade.query first
// and is answered SUCCEEDED without a second deduction. The charge's notice goes
// nowhere, so that only the question can settle it.
func TestLostChargeReplyRetriedMovesMoneyOnce(t *testing.T) {
	for _, marker := range []string{"SIM_20000", "SIM_SYSTEM_ERROR", "SIM_TIMEOUT"} {
		t.Run(marker, func(t *testing.T) {
			s := newStack(t, chinaNoon(2030, 6, 4), options{gatewayTimeout: 500 * time.Millisecond, chargeNotifyURL: "http://127.0.0.1:1/nowhere"})
			ext := s.signed(t, "SIGN004", "2030-06-05")
			r := s.charge(t, ext, "LOST1", "8.00", "June "+marker)
			if r.status != 503 || r.code() != "ALIPAY_UNAVAILABLE" {
				t.Fatalf("lost reply: %d %s", r.status, r.raw)
			}
			// Another charge in the period is refused: while this one is unknown (period),
			// or once its notice settled it (the next period's window).
			if r := s.charge(t, ext, "LOST2", "8.00", "June"); r.status != 409 || (r.errField("field") != "period" && r.code() != "OUTSIDE_CHARGE_WINDOW") {
				t.Fatalf("second charge while unknown: %d %s", r.status, r.raw)
			}
			r = s.charge(t, ext, "LOST1", "8.00", "June "+marker)
			if r.status != 200 || r.body["status"] != "SUCCEEDED" || r.body["period"] != float64(1) {
				t.Fatalf("retry: %d %s", r.status, r.raw)
			}
			s.idle(t)
			if n := s.charges("LOST1"); n != 1 {
				t.Fatalf("deductions %d, want 1", n)
			}
		})
	}
}

// TestChargeNoticeDuringTheLeaseSettlesALostReply: the deduction's reply is lost but its
// notice arrives while the charge is still being answered; the notice settles the
// leased charge, so the caller is answered SUCCEEDED at once and money moved once.
func TestChargeNoticeDuringTheLeaseSettlesALostReply(t *testing.T) {
	s := newStack(t, chinaNoon(2030, 6, 4), options{gatewayTimeout: 500 * time.Millisecond})
	ext := s.signed(t, "SIGN014", "2030-06-05")
	r := s.charge(t, ext, "LOSTN1", "8.00", "June SIM_TIMEOUT")
	if r.status != 200 || r.body["status"] != "SUCCEEDED" || r.body["trade_no"] == "" {
		t.Fatalf("lost reply, notice delivered: %d %s", r.status, r.raw)
	}
	s.idle(t)
	if n := s.charges("LOSTN1"); n != 1 {
		t.Fatalf("deductions %d, want 1", n)
	}
}

func TestUnsignEndsTheAgreementAndChargesAreRefusedLocally(t *testing.T) {
	t.Run("through_the_api", func(t *testing.T) {
		s := newStack(t, chinaNoon(2030, 6, 4), options{})
		ext := s.signed(t, "SIGN005", "2030-06-05")
		if r := s.do(t, "POST", "/v1/agreements/"+ext+"/unsign", "another-user", "", ""); r.status != 404 {
			t.Fatalf("another user's unsign: %d %s", r.status, r.raw)
		}
		r := s.do(t, "POST", "/v1/agreements/"+ext+"/unsign", appUser, "", "{}")
		if r.status != 200 || r.body["status"] != "UNSIGN" {
			t.Fatalf("unsign: %d %s", r.status, r.raw)
		}
		// Again: already ended, the same view.
		if r := s.do(t, "POST", "/v1/agreements/"+ext+"/unsign", backOffc, "settle", ""); r.status != 200 || r.body["status"] != "UNSIGN" {
			t.Fatalf("second unsign: %d %s", r.status, r.raw)
		}
		if r := s.charge(t, ext, "AFTER1", "1.00", "June"); r.status != 409 || r.code() != "AGREEMENT_NOT_ACTIVE" {
			t.Fatalf("charge after unsign: %d %s", r.status, r.raw)
		}
		if s.charges("") != 0 {
			t.Fatal("money moved")
		}
	})
	t.Run("the_user_in_the_alipay_app", func(t *testing.T) {
		s := newStack(t, chinaNoon(2030, 6, 4), options{})
		ext := s.signed(t, "SIGN006", "2030-06-05")
		res, err := http.Post(s.url+"/sandbox/agreements/unsign", "application/json", strings.NewReader(`{"external_agreement_no":"`+ext+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		s.idle(t)
		if v := s.view(t, ext); v["status"] != "UNSIGN" || v["next_charge_window"] != nil {
			t.Fatalf("after dut_user_unsign: %v", v)
		}
		if r := s.charge(t, ext, "AFTER2", "1.00", "June"); r.status != 409 || r.code() != "AGREEMENT_NOT_ACTIVE" {
			t.Fatalf("charge after unsign: %d %s", r.status, r.raw)
		}
	})
}

func TestChargeRefusalsNameTheirRule(t *testing.T) {
	s := newStack(t, chinaNoon(2030, 6, 4), options{})
	ext := s.signed(t, "SIGN007", "2030-06-05")
	tests := []struct {
		name, body, code, field string
		status                  int
	}{
		{"single_amount", `{"out_trade_no":"R1","amount":"10.01","subject":"x"}`, "CHARGE_LIMIT_EXCEEDED", "single_amount", 409},
		{"bad_amount", `{"out_trade_no":"R2","amount":"1.001","subject":"x"}`, "ILLEGAL_ARGUMENT", "amount", 400},
		{"unknown_field", `{"out_trade_no":"R3","amount":"1.00","subject":"x","period":2}`, "ILLEGAL_ARGUMENT", "period", 400},
		{"missing_subject", `{"out_trade_no":"R4","amount":"1.00"}`, "ILLEGAL_ARGUMENT", "subject", 400},
		{"the_order_s_own_out_trade_no", `{"out_trade_no":"SIGN007","amount":"1.00","subject":"x"}`, "IDEMPOTENCY_CONFLICT", "out_trade_no", 409},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := s.do(t, "POST", "/v1/agreements/"+ext+"/charges", backOffc, "settle", tt.body)
			if r.status != tt.status || r.code() != tt.code || r.errField("field") != tt.field {
				t.Fatalf("%d %s", r.status, r.raw)
			}
		})
	}
	if r := s.do(t, "POST", "/v1/agreements/NOSUCH/charges", backOffc, "settle", `{"out_trade_no":"R5","amount":"1.00","subject":"x"}`); r.status != 404 {
		t.Fatalf("unknown agreement: %d %s", r.status, r.raw)
	}
	if r := s.do(t, "POST", "/v1/agreements/"+ext+"/charges", appUser, "", `{"out_trade_no":"R6","amount":"1.00","subject":"x"}`); r.status != 403 {
		t.Fatalf("charge without scope settle: %d %s", r.status, r.raw)
	}
	if r := s.do(t, "GET", "/v1/agreements/"+ext, "another-user", "", ""); r.status != 404 {
		t.Fatalf("another user's GET: %d %s", r.status, r.raw)
	}
	if r := s.do(t, "GET", "/v1/agreements/"+ext, backOffc, "settle", ""); r.status != 200 {
		t.Fatalf("settle GET: %d %s", r.status, r.raw)
	}
	if s.charges("") != 0 {
		t.Fatal("money moved")
	}
}

// TestAgreementAlipaySaysIsGoneIsMarkedUnusable: ACQ.AGREEMENT_NOT_EXIST is recorded as
// the charge's refusal and no further charge is sent.
func TestAgreementAlipaySaysIsGoneIsMarkedUnusable(t *testing.T) {
	s := newStack(t, chinaNoon(2030, 6, 4), options{})
	ext := s.signed(t, "SIGN008", "2030-06-05")
	r := s.charge(t, ext, "GONE1", "1.00", "SIM_BIZ_ACQ.AGREEMENT_NOT_EXIST")
	if r.status != 502 || r.errField("sub_code") != "ACQ.AGREEMENT_NOT_EXIST" {
		t.Fatalf("refused charge: %d %s", r.status, r.raw)
	}
	if r := s.charge(t, ext, "GONE1", "1.00", "SIM_BIZ_ACQ.AGREEMENT_NOT_EXIST"); r.status != 502 {
		t.Fatalf("replayed refusal: %d %s", r.status, r.raw)
	}
	v := s.view(t, ext)
	if v["invalid_reason"] != "ACQ.AGREEMENT_NOT_EXIST" || v["next_charge_window"] != nil {
		t.Fatalf("view: %v", v)
	}
	if r := s.charge(t, ext, "GONE2", "1.00", "June"); r.status != 409 || r.code() != "AGREEMENT_NOT_ACTIVE" {
		t.Fatalf("charge after the refusal: %d %s", r.status, r.raw)
	}
}

// TestLostSignNoticeIsRecoveredBySyncAndTheReconciler: the dut_user_sign never arrives;
// the paid order makes the agreement due, and the reconciler (or a sync) asks
// alipay.user.agreement.query by the signing's numbers and the payer.
func TestLostSignNoticeIsRecoveredBySyncAndTheReconciler(t *testing.T) {
	for _, via := range []string{"sync", "reconciler"} {
		t.Run(via, func(t *testing.T) {
			s := newStack(t, chinaNoon(2030, 6, 4), options{signNotifyURL: "http://127.0.0.1:1/nowhere"})
			ext := s.signed(t, "SIGN009", "2030-06-05")
			if v := s.view(t, ext); v["status"] != "PENDING" {
				t.Fatalf("before: %v", v)
			}
			switch via {
			case "sync":
				r := s.do(t, "POST", "/v1/agreements/"+ext+"/sync", appUser, "", "")
				if r.status != 200 || r.body["status"] != "NORMAL" || r.body["agreement_no"] == "" {
					t.Fatalf("sync: %d %s", r.status, r.raw)
				}
			case "reconciler":
				reg := reconcile.Registry{}
				reg.Register(orders.DueAgreementSign, "", reconcile.AgreementSign(s.svc))
				reg.Register(orders.DueOperation, orders.OpCharge, reconcile.Charges(s.svc))
				reg.Register(orders.DueAppPayOpen, "", reconcile.ResolverFunc(func(context.Context, reconcile.DueItem, time.Time) (reconcile.Outcome, error) {
					return reconcile.Outcome{Result: orders.DueResolved}, nil
				}))
				rec := reconcile.New(s.store, reg, reconcile.Config{}, slog.New(slog.DiscardHandler))
				sum, err := rec.Pass(context.Background(), s.clk.Now().Add(orders.AppPayFirstCheck+time.Second))
				if err != nil || sum.Resolved < 1 {
					t.Fatalf("pass: %+v, %v", sum, err)
				}
				if v := s.view(t, ext); v["status"] != "NORMAL" {
					t.Fatalf("after the pass: %v", v)
				}
			}
			if r := s.charge(t, ext, "AFTERSYNC", "2.00", "June"); r.status != 200 {
				t.Fatalf("charge: %d %s", r.status, r.raw)
			}
		})
	}
}

// TestReconcilerSettlesAnUnknownCharge: the reply was lost and nobody retried; the
// reconciler queries and records SUCCEEDED, and the money moved once.
func TestReconcilerSettlesAnUnknownCharge(t *testing.T) {
	s := newStack(t, chinaNoon(2030, 6, 4), options{chargeNotifyURL: "http://127.0.0.1:1/nowhere"})
	ext := s.signed(t, "SIGN010", "2030-06-05")
	if r := s.charge(t, ext, "UNK1", "4.00", "SIM_20000"); r.status != 503 {
		t.Fatalf("charge: %d %s", r.status, r.raw)
	}
	reg := reconcile.Registry{}
	reg.Register(orders.DueOperation, orders.OpCharge, reconcile.Charges(s.svc))
	rec := reconcile.New(s.store, reg, reconcile.Config{}, slog.New(slog.DiscardHandler))
	if _, err := rec.Pass(context.Background(), s.clk.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	s.idle(t)
	a, err := s.store.GetAgreement(context.Background(), ext)
	if err != nil {
		t.Fatal(err)
	}
	if op := a.Ops["CHARGE:UNK1"]; op.State != orders.OpSucceeded {
		t.Fatalf("charge %+v", op)
	}
	if n := s.charges("UNK1"); n != 1 {
		t.Fatalf("deductions %d", n)
	}
}
