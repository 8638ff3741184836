package deploytest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
	"github.com/alipay-serverless/alipay-serverless/shared/httpapi"
	"github.com/alipay-serverless/alipay-serverless/shared/orders"
	"github.com/alipay-serverless/alipay-serverless/shared/sandbox"
	"github.com/alipay-serverless/alipay-serverless/test/harness/dynalitetest"
)

// simulator starts the gateway simulator signing with the reference "Alipay" key, the
// one whose public half is in the stack's secret, and trusting the reference app key.
func simulator(t *testing.T) (*sandbox.Simulator, *httptest.Server) {
	t.Helper()
	appKey, err := alipay.ParsePrivateKey([]byte(testKey(t, "keys/app_private_pkcs1.pem")))
	if err != nil {
		t.Fatal(err)
	}
	alipayKey, err := alipay.ParsePrivateKey([]byte(testKey(t, "keys/alipay_private_pkcs1.pem")))
	if err != nil {
		t.Fatal(err)
	}
	sim, err := sandbox.New(sandbox.Options{AppID: "2021000000000001", AppPublicKey: appKey.Public(), AlipayKey: alipayKey})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(func() { srv.Close(); _ = sim.Close() })
	return sim, srv
}

// TestBootstrapsEndToEnd runs all four bootstraps as Lambda would, against one table:
// a voucher through the simulator, an app-pay order, and the notifications that move
// both, delivered as API Gateway events with base64 form bodies.
func TestBootstrapsEndToEnd(t *testing.T) {
	s := newStack(t)
	_, gw := simulator(t)
	// Notifications are captured, not delivered: the test hands them to the notify
	// function as API Gateway events.
	captured := make(chan string, 16)
	catcher := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		select {
		case captured <- string(b):
		default:
		}
		_, _ = w.Write([]byte("success"))
	}))
	defer catcher.Close()
	common := map[string]string{"ALIPAY_GATEWAY_URL": gw.URL + sandbox.GatewayPath, "ALIPAY_NOTIFY_URL": catcher.URL + "/v1/notify/alipay"}
	voucherFn := s.start(t, "createvoucher", common)
	appFn := s.start(t, "apppaysign", common)
	notifyFn := s.start(t, "notify", nil)
	settleFn := s.start(t, "settle", common)
	preauthClaims := map[string]string{"sub": "cashier-1", "scope": "preauth"}

	// Pre-auth: voucher → scan → freeze notification → AUTHORIZED.
	resp := invoke(t, voucherFn, apiEvent("POST", "/v1/preauth/vouchers",
		`{"out_order_no":"LPA001","out_request_no":"LPA001R1","order_title":"押金","amount":"200.00","product_code":"PRE_AUTH"}`,
		preauthClaims, false, "application/json"))
	if resp.StatusCode != 200 || !strings.Contains(resp.Body, `"status":"CODE_ISSUED"`) {
		t.Fatalf("voucher: %d %s", resp.StatusCode, resp.Body)
	}
	if r := invoke(t, voucherFn, apiEvent("POST", "/v1/preauth/vouchers", `{}`, map[string]string{"sub": "app-user"}, false, "application/json")); r.StatusCode != 403 {
		t.Fatalf("pre-auth without scope: %d", r.StatusCode)
	}
	postJSON(t, gw.URL+"/sandbox/vouchers/scan", `{"out_order_no":"LPA001"}`)
	deliver(t, notifyFn, receive(t, captured))
	got := invoke(t, voucherFn, apiEvent("GET", "/v1/preauth/orders/LPA001", "", preauthClaims, false, ""))
	if got.StatusCode != 200 || !strings.Contains(got.Body, `"status":"AUTHORIZED"`) || !strings.Contains(got.Body, `"total_freeze_amount":"200.00"`) {
		t.Fatalf("pre-auth order: %d %s", got.StatusCode, got.Body)
	}

	// Settle (scope settle, its own function): capture 30.00, unfreeze the rest; the
	// capture's trade_status_sync and the fund_auth_unfreeze notice land once each.
	settleClaims := map[string]string{"sub": "backoffice-1", "scope": "settle"}
	if r := invoke(t, settleFn, apiEvent("POST", "/v1/preauth/orders/LPA001/captures", `{}`, preauthClaims, false, "application/json")); r.StatusCode != 403 {
		t.Fatalf("capture without scope settle: %d", r.StatusCode)
	}
	resp = invoke(t, settleFn, apiEvent("POST", "/v1/preauth/orders/LPA001/captures",
		`{"out_trade_no":"LPA001C1","amount":"30.00","subject":"Rental"}`, settleClaims, false, "application/json"))
	if resp.StatusCode != 200 || !strings.Contains(resp.Body, `"status":"SUCCEEDED"`) || !strings.Contains(resp.Body, `"rest_amount":"170.00"`) {
		t.Fatalf("capture: %d %s", resp.StatusCode, resp.Body)
	}
	captureNotice := receive(t, captured)
	deliver(t, notifyFn, captureNotice)
	deliver(t, notifyFn, captureNotice)
	resp = invoke(t, settleFn, apiEvent("POST", "/v1/preauth/orders/LPA001/unfreezes",
		`{"out_request_no":"LPA001U1","amount":"170.00","remark":"return the rest"}`, settleClaims, false, "application/json"))
	if resp.StatusCode != 200 || !strings.Contains(resp.Body, `"rest_amount":"0.00"`) {
		t.Fatalf("unfreeze: %d %s", resp.StatusCode, resp.Body)
	}
	deliver(t, notifyFn, receive(t, captured))
	got = invoke(t, voucherFn, apiEvent("GET", "/v1/preauth/orders/LPA001", "", preauthClaims, false, ""))
	if !strings.Contains(got.Body, `"status":"FINISHED"`) || !strings.Contains(got.Body, `"total_pay_amount":"30.00"`) ||
		!strings.Contains(got.Body, `"total_unfreeze_amount":"170.00"`) {
		t.Fatalf("settled order: %d %s", got.StatusCode, got.Body)
	}

	// App pay: orderStr → pay → trade notification → TRADE_SUCCESS; redelivery applied once.
	resp = invoke(t, appFn, apiEvent("POST", "/v1/app-pay/orders",
		`{"out_trade_no":"LAP001","total_amount":"12.34","subject":"Lambda 订单","product_code":"QUICK_MSECURITY_PAY"}`,
		map[string]string{"sub": "app-user"}, false, "application/json"))
	var created struct {
		OrderStr string `json:"order_str"`
	}
	if err := json.Unmarshal([]byte(resp.Body), &created); err != nil || resp.StatusCode != 200 {
		t.Fatalf("app pay: %d %s", resp.StatusCode, resp.Body)
	}
	pay, _ := json.Marshal(map[string]string{"order_str": created.OrderStr})
	postJSON(t, gw.URL+"/sandbox/orders/pay", string(pay))
	body := receive(t, captured)
	deliver(t, notifyFn, body)
	deliver(t, notifyFn, body)
	got = invoke(t, appFn, apiEvent("GET", "/v1/app-pay/orders/LAP001", "", map[string]string{"sub": "app-user"}, false, ""))
	if got.StatusCode != 200 || !strings.Contains(got.Body, `"status":"TRADE_SUCCESS"`) {
		t.Fatalf("app-pay order: %d %s", got.StatusCode, got.Body)
	}

	// Refunds (settle): 2.00, then the rest; each refund notice lands; the trade closes.
	backOffice := map[string]string{"sub": "back-office", "scope": "settle"}
	if r := invoke(t, settleFn, apiEvent("POST", "/v1/app-pay/orders/LAP001/refunds", `{"out_request_no":"LAP001R1","refund_amount":"2.00"}`,
		map[string]string{"sub": "app-user"}, false, "application/json")); r.StatusCode != 403 {
		t.Fatalf("refund without scope settle: %d %s", r.StatusCode, r.Body)
	}
	for _, rf := range []struct{ body, total string }{
		{`{"out_request_no":"LAP001R1","refund_amount":"2.00"}`, `"refunded_total":"2.00"`},
		{`{"out_request_no":"LAP001R2","refund_amount":"10.34"}`, `"refunded_total":"12.34"`},
	} {
		r := invoke(t, settleFn, apiEvent("POST", "/v1/app-pay/orders/LAP001/refunds", rf.body, backOffice, false, "application/json"))
		if r.StatusCode != 200 || !strings.Contains(r.Body, `"status":"SUCCEEDED"`) || !strings.Contains(r.Body, rf.total) {
			t.Fatalf("refund: %d %s", r.StatusCode, r.Body)
		}
		deliver(t, notifyFn, receive(t, captured))
	}
	got = invoke(t, appFn, apiEvent("GET", "/v1/app-pay/orders/LAP001", "", map[string]string{"sub": "app-user"}, false, ""))
	if !strings.Contains(got.Body, `"status":"TRADE_CLOSED"`) || !strings.Contains(got.Body, `"closed_reason":"REFUNDED"`) {
		t.Fatalf("refunded order: %d %s", got.StatusCode, got.Body)
	}
	// Sync of the owner's order; close of an order Alipay does not know yet.
	if r := invoke(t, appFn, apiEvent("POST", "/v1/app-pay/orders/LAP001/sync", "", map[string]string{"sub": "app-user"}, false, "")); r.StatusCode != 200 ||
		!strings.Contains(r.Body, `"status":"TRADE_CLOSED"`) {
		t.Fatalf("sync: %d %s", r.StatusCode, r.Body)
	}
	resp = invoke(t, appFn, apiEvent("POST", "/v1/app-pay/orders",
		`{"out_trade_no":"LAP003","total_amount":"1.00","subject":"Unpaid","product_code":"QUICK_MSECURITY_PAY"}`,
		map[string]string{"sub": "app-user"}, false, "application/json"))
	if resp.StatusCode != 200 {
		t.Fatalf("create: %d %s", resp.StatusCode, resp.Body)
	}
	if r := invoke(t, appFn, apiEvent("POST", "/v1/app-pay/orders/LAP003/close", "{}", map[string]string{"sub": "app-user"}, false, "application/json")); r.StatusCode != 200 ||
		!strings.Contains(r.Body, `"closed_reason":"CLOSED_BY_MERCHANT"`) {
		t.Fatalf("close: %d %s", r.StatusCode, r.Body)
	}

	// Pay-and-sign: the payment and the agreement notifications both land.
	resp = invoke(t, appFn, apiEvent("POST", "/v1/app-pay/orders", `{"out_trade_no":"LAP002","total_amount":"0.01","subject":"Membership",
		"product_code":"CYCLE_PAY_AUTH","agreement_sign_params":{"product_code":"GENERAL_WITHHOLDING","personal_product_code":"CYCLE_PAY_AUTH_P",
		"sign_scene":"INDUSTRY|DIGITAL_MEDIA","access_params":{"channel":"ALIPAYAPP"},
		"period_rule_params":{"period_type":"DAY","period":30,"execute_time":"`+time.Now().AddDate(0, 0, 3).Format("2006-01-02")+`","single_amount":"30.00"}}}`,
		map[string]string{"sub": "app-user"}, false, "application/json"))
	if err := json.Unmarshal([]byte(resp.Body), &created); err != nil || resp.StatusCode != 200 {
		t.Fatalf("pay-and-sign: %d %s", resp.StatusCode, resp.Body)
	}
	pay, _ = json.Marshal(map[string]string{"order_str": created.OrderStr})
	postJSON(t, gw.URL+"/sandbox/orders/pay", string(pay))
	deliver(t, notifyFn, receive(t, captured))
	deliver(t, notifyFn, receive(t, captured))
	got = invoke(t, appFn, apiEvent("GET", "/v1/app-pay/orders/LAP002", "", map[string]string{"sub": "app-user"}, false, ""))
	if !strings.Contains(got.Body, `"status":"TRADE_SUCCESS"`) || !strings.Contains(got.Body, `"status":"NORMAL"`) {
		t.Fatalf("pay-and-sign order: %d %s", got.StatusCode, got.Body)
	}

	// The agreement (apppaysign: read, unsign; settle: charges). Its first plan date is
	// in 3 days, so period 1's window (CHARGE_WINDOW_DAYS 3) is open today.
	var signedOrder struct {
		Agreement struct {
			ExternalAgreementNo string `json:"external_agreement_no"`
		} `json:"agreement"`
	}
	_ = json.Unmarshal([]byte(got.Body), &signedOrder)
	ag := "/v1/agreements/" + signedOrder.Agreement.ExternalAgreementNo
	if r := invoke(t, appFn, apiEvent("GET", ag, "", map[string]string{"sub": "app-user"}, false, "")); r.StatusCode != 200 ||
		!strings.Contains(r.Body, `"status":"NORMAL"`) || !strings.Contains(r.Body, `"current_period":1`) {
		t.Fatalf("agreement: %d %s", r.StatusCode, r.Body)
	}
	if r := invoke(t, settleFn, apiEvent("POST", ag+"/charges", `{}`, map[string]string{"sub": "app-user"}, false, "application/json")); r.StatusCode != 403 {
		t.Fatalf("charge without scope settle: %d %s", r.StatusCode, r.Body)
	}
	resp = invoke(t, settleFn, apiEvent("POST", ag+"/charges", `{"out_trade_no":"LAP002C1","amount":"30.00","subject":"Period 1"}`,
		backOffice, false, "application/json"))
	if resp.StatusCode != 200 || !strings.Contains(resp.Body, `"status":"SUCCEEDED"`) || !strings.Contains(resp.Body, `"period":1`) {
		t.Fatalf("charge: %d %s", resp.StatusCode, resp.Body)
	}
	chargeNotice := receive(t, captured)
	deliver(t, notifyFn, chargeNotice)
	deliver(t, notifyFn, chargeNotice)
	if r := invoke(t, settleFn, apiEvent("POST", ag+"/charges", `{"out_trade_no":"LAP002C2","amount":"30.00","subject":"Period 1 again"}`,
		backOffice, false, "application/json")); r.StatusCode != 409 || !strings.Contains(r.Body, `"OUTSIDE_CHARGE_WINDOW"`) {
		t.Fatalf("second charge in the period: %d %s", r.StatusCode, r.Body)
	}
	if r := invoke(t, appFn, apiEvent("POST", ag+"/unsign", "", map[string]string{"sub": "app-user"}, false, "")); r.StatusCode != 200 ||
		!strings.Contains(r.Body, `"status":"UNSIGN"`) || !strings.Contains(r.Body, `"charged_total":"30.00"`) {
		t.Fatalf("unsign: %d %s", r.StatusCode, r.Body)
	}
	deliver(t, notifyFn, receive(t, captured)) // dut_user_unsign to the unsign's notify_url: stale, acknowledged
	if r := invoke(t, settleFn, apiEvent("POST", ag+"/charges", `{"out_trade_no":"LAP002C3","amount":"1.00","subject":"After"}`,
		backOffice, false, "application/json")); r.StatusCode != 409 || !strings.Contains(r.Body, `"AGREEMENT_NOT_ACTIVE"`) {
		t.Fatalf("charge after unsign: %d %s", r.StatusCode, r.Body)
	}

	// A tampered notification is refused with fail.
	tampered := strings.Replace(body, "total_amount=12.34", "total_amount=0.01", 1)
	if r := invoke(t, notifyFn, apiEvent("POST", "/v1/notify/alipay", tampered, nil, true, "application/x-www-form-urlencoded; charset=utf-8")); r.StatusCode != 400 || r.Body != "fail" {
		t.Fatalf("tampered notification: %d %q", r.StatusCode, r.Body)
	}

	// The reconciler, invoked as the schedule invokes it, settles what the notify route
	// never heard of: a voucher whose gateway reply was lost (UNKNOWN, due at once) and a
	// paid app-pay order whose notification never came (due 5 minutes after create; its
	// record is written 10 minutes old).
	if r := invoke(t, voucherFn, apiEvent("POST", "/v1/preauth/vouchers",
		`{"out_order_no":"LPA002","out_request_no":"LPA002R1","order_title":"押金 SIM_HTTP500","amount":"50.00","product_code":"PRE_AUTH"}`,
		preauthClaims, false, "application/json")); r.StatusCode != 503 {
		t.Fatalf("voucher with a lost reply: %d %s", r.StatusCode, r.Body)
	}
	seedPaidAppPayOrder(t, s, gw.URL, "LAP009")
	reconcileFn := s.start(t, httpapi.FnReconcile, map[string]string{"ALIPAY_GATEWAY_URL": gw.URL + sandbox.GatewayPath})
	raw, err := os.ReadFile(filepath.Join(moduleRoot(t), "events", "reconcile-scheduled.json"))
	if err != nil {
		t.Fatal(err)
	}
	status, out := reconcileFn.call(t, raw)
	var sum struct{ Examined, Resolved, Unchanged, Stuck, Errors int }
	if err := json.Unmarshal(out, &sum); status != 200 || err != nil || sum.Examined != 2 || sum.Resolved != 2 {
		t.Fatalf("reconcile: %d %s", status, out)
	}
	got = invoke(t, voucherFn, apiEvent("GET", "/v1/preauth/orders/LPA002", "", preauthClaims, false, ""))
	if !strings.Contains(got.Body, `"status":"CODE_ISSUED"`) {
		t.Fatalf("voucher after the pass: %s", got.Body)
	}
	got = invoke(t, appFn, apiEvent("GET", "/v1/app-pay/orders/LAP009", "", map[string]string{"sub": "app-user"}, false, ""))
	if !strings.Contains(got.Body, `"status":"TRADE_SUCCESS"`) {
		t.Fatalf("app-pay order after the pass: %s", got.Body)
	}

	// What each binary did to the table is what the template grants, no more, no less.
	for fn, want := range tableActions {
		if got := s.used(fn); !slices.Equal(got, want) {
			t.Errorf("%s called %v on the table; template grants %v", fn, got, want)
		}
	}
}

// deliver hands a form body to the notify function as API Gateway sends it (base64).
func deliver(t *testing.T, fn *emulator, body string) {
	t.Helper()
	resp := invoke(t, fn, apiEvent("POST", "/v1/notify/alipay", body, nil, true, "application/x-www-form-urlencoded; charset=utf-8"))
	if resp.StatusCode != 200 || resp.Body != "success" || !strings.HasPrefix(resp.Headers["Content-Type"], "text/plain") {
		t.Fatalf("notify: %d %q %v", resp.StatusCode, resp.Body, resp.Headers)
	}
}

func postJSON(t *testing.T, u, body string) {
	t.Helper()
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Post(u, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("POST %s: %d", u, resp.StatusCode)
	}
}

func receive(t *testing.T, c <-chan string) string {
	t.Helper()
	select {
	case b := <-c:
		return b
	case <-time.After(10 * time.Second):
		t.Fatal("the simulator sent no notification")
		return ""
	}
}

// TestSampleEventsRunThroughTheBootstraps replays events/ (the files offered for
// `sam local invoke`) against the bootstraps: every route has an event, and each one is
// answered as a real request would be, the notify event included (the app-pay event's
// order is the one the sample notification pays).
func TestSampleEventsRunThroughTheBootstraps(t *testing.T) {
	s := newStack(t)
	_, gw := simulator(t)
	env := map[string]string{"ALIPAY_GATEWAY_URL": gw.URL + sandbox.GatewayPath}
	fns := map[string]*emulator{
		httpapi.FnCreateVoucher: s.start(t, httpapi.FnCreateVoucher, env),
		httpapi.FnAppPaySign:    s.start(t, httpapi.FnAppPaySign, env),
		httpapi.FnNotify:        s.start(t, httpapi.FnNotify, nil),
		httpapi.FnSettle:        s.start(t, httpapi.FnSettle, env),
	}
	order := []struct {
		file, fn string
		want     int
		contains string
		scan     bool // the buyer scans the voucher first (its notice cannot reach the sample's domain: sync learns it)
	}{
		{"apppay-order-create.json", httpapi.FnAppPaySign, 200, `"status":"CREATED"`, false},
		{"apppay-order-get.json", httpapi.FnAppPaySign, 200, `"status":"CREATED"`, false},
		// The simulator never saw this order's orderStr paid: ACQ.TRADE_NOT_EXIST, unchanged.
		{"apppay-order-sync.json", httpapi.FnAppPaySign, 200, `"status":"CREATED"`, false},
		{"notify-alipay.json", httpapi.FnNotify, 200, "success", false},
		{"apppay-order-get.json", httpapi.FnAppPaySign, 200, `"status":"TRADE_SUCCESS"`, false},
		{"apppay-order-close.json", httpapi.FnAppPaySign, 409, `"code":"ORDER_ALREADY_PAID"`, false},
		// Paid by the sample notice, unknown to the simulator: Alipay's refusal, as is.
		{"apppay-order-refund.json", httpapi.FnSettle, 502, `"sub_code":"ACQ.TRADE_NOT_EXIST"`, false},
		{"preauth-voucher-create.json", httpapi.FnCreateVoucher, 200, `"status":"CODE_ISSUED"`, false},
		{"preauth-order-get.json", httpapi.FnCreateVoucher, 200, `"status":"CODE_ISSUED"`, false},
		{"preauth-order-sync.json", httpapi.FnCreateVoucher, 200, `"status":"AUTHORIZED"`, true},
		{"preauth-order-capture.json", httpapi.FnSettle, 200, `"rest_amount":"70.00"`, false},
		{"preauth-order-unfreeze.json", httpapi.FnSettle, 200, `"rest_amount":"0.00"`, false},
		{"preauth-order-cancel.json", httpapi.FnSettle, 409, `"ORDER_NOT_AUTHORIZED"`, false},
		// The sample agreement was never signed here: each route answers as for any
		// unknown agreement.
		{"agreement-get.json", httpapi.FnAppPaySign, 404, `"code":"NOT_FOUND"`, false},
		{"agreement-sync.json", httpapi.FnAppPaySign, 404, `"code":"NOT_FOUND"`, false},
		{"agreement-unsign.json", httpapi.FnAppPaySign, 404, `"code":"NOT_FOUND"`, false},
		{"agreement-charge.json", httpapi.FnSettle, 404, `"code":"NOT_FOUND"`, false},
	}
	covered := map[string]bool{}
	for _, step := range order {
		raw, err := os.ReadFile(filepath.Join(moduleRoot(t), "events", step.file))
		if err != nil {
			t.Fatal(err)
		}
		var ev events.APIGatewayV2HTTPRequest
		if err := json.Unmarshal(raw, &ev); err != nil {
			t.Fatalf("%s: %v", step.file, err)
		}
		covered[ev.RouteKey] = true
		if step.scan {
			postJSON(t, gw.URL+"/sandbox/vouchers/scan", `{"out_order_no":"`+ev.PathParameters["out_order_no"]+`"}`)
		}
		resp := invoke(t, fns[step.fn], raw) // the file's bytes, as `sam local invoke -e` sends them
		if resp.StatusCode != step.want || !strings.Contains(resp.Body, step.contains) {
			t.Fatalf("%s: %d %s", step.file, resp.StatusCode, resp.Body)
		}
	}
	for _, r := range httpapi.Routes {
		if !covered[r.Method+" "+r.Path] {
			t.Errorf("no sample event for %s %s", r.Method, r.Path)
		}
	}
}

// seedPaidAppPayOrder stores an app-pay order for app-user created 10 minutes ago (so
// it is due) and pays its order string at the simulator, dropping the notification.
func seedPaidAppPayOrder(t *testing.T, s *stack, simURL, outTradeNo string) {
	t.Helper()
	key, err := alipay.ParsePrivateKey([]byte(testKey(t, "keys/app_private_pkcs1.pem")))
	if err != nil {
		t.Fatal(err)
	}
	creds := &alipay.Credentials{AppID: "2021000000000001", PrivateKey: key}
	p := &alipay.AppPayParams{OutTradeNo: outTradeNo, TotalAmount: 500, Subject: "Reconciled", ProductCode: "QUICK_MSECURITY_PAY"}
	biz, err := p.BizContent()
	if err != nil {
		t.Fatal(err)
	}
	orderStr, err := alipay.OrderString(creds, biz, alipay.OrderStringOptions{NotifyURL: "http://127.0.0.1:1/v1/notify/alipay"})
	if err != nil {
		t.Fatal(err)
	}
	created := time.Now().Add(-10 * time.Minute)
	store := orders.NewDynamoStore(dynalitetest.NewClient(t, s.db.Endpoint()), s.table)
	if res, _, err := store.CreateAppPayOrder(t.Context(), &orders.AppPayOrder{OutTradeNo: outTradeNo, Owner: "app-user",
		ParamsHash: p.CanonicalHash(), TotalAmount: 500, Subject: p.Subject, ProductCode: p.ProductCode, OrderStr: orderStr,
		CreatedAt: created, PayBy: created.Add(time.Hour)}); err != nil || res != orders.Created {
		t.Fatalf("seed %s: %v %v", outTradeNo, res, err)
	}
	pay, _ := json.Marshal(map[string]string{"order_str": orderStr})
	postJSON(t, simURL+"/sandbox/orders/pay", string(pay))
}
