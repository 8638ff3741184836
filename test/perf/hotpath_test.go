package perf

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
	"github.com/alipay-serverless/alipay-serverless/shared/apppay"
	"github.com/alipay-serverless/alipay-serverless/shared/httpapi"
	"github.com/alipay-serverless/alipay-serverless/shared/notify"
	"github.com/alipay-serverless/alipay-serverless/shared/orders"
	"github.com/alipay-serverless/alipay-serverless/shared/platform"
	"github.com/alipay-serverless/alipay-serverless/shared/preauth"
	"github.com/alipay-serverless/alipay-serverless/shared/sandbox"
)

// Every hot path runs as Lambda runs it: an API Gateway v2 event through the
// production adapter (platform.LambdaHandler) into the function's router, with the
// functions' JSON logger (output discarded) and the warm credentials cache. Each op is
// new work: a new out_trade_no, a new notification, a new out_order_no.

type lambdaFunc func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error)

// ---- orderStr: decode → validate → store → sign → reply -----------------------------

var appUser = map[string]string{"sub": "app-user-1"}

func appPayBody(i int) string {
	return fmt.Sprintf(`{"out_trade_no":"PERF%010d","total_amount":"88.80","subject":"大乐透 2.1 月卡",`+
		`"product_code":"QUICK_MSECURITY_PAY","timeout_express":"90m"}`, i)
}

// appPayFunction is the apppaysign function over a memory store.
func appPayFunction(tb testing.TB) lambdaFunc { return appPayFunctionWith(tb, orders.NewMemoryStore()) }

func appPayFunctionWith(tb testing.TB, store orders.Store) lambdaFunc {
	tb.Helper()
	svc := apppay.NewService(store, credentialsCache(tb))
	router := httpapi.NewRouter(httpapi.JWTCaller, lambdaLogger())
	if err := apppay.NewHandler(svc, "").Mount(router); err != nil {
		tb.Fatal(err)
	}
	return platform.LambdaHandler(router)
}

func appPayEvent(body string) events.APIGatewayV2HTTPRequest {
	return apiEvent(http.MethodPost, "/v1/app-pay/orders", "application/json", body, appUser)
}

func appPayBodies(n int) []string {
	bodies := make([]string, n)
	for i := range bodies {
		bodies[i] = appPayBody(i)
	}
	return bodies
}

// serveOps hands fn one event per op, as Lambda would: the same request with each op's
// body. Only the bodies are prepared per op, so the fixture's live heap stays small and
// the garbage collector sees about what a function's heap holds.
func serveOps(b *testing.B, fn lambdaFunc, ev events.APIGatewayV2HTTPRequest, bodies []string, check func(events.APIGatewayV2HTTPResponse) error) {
	ctx := lambdaCtx()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		ev.Body = bodies[i]
		resp, err := fn(ctx, ev)
		if err == nil {
			err = check(resp)
		}
		if err != nil {
			b.Fatalf("op %d: %v", i, err)
		}
	}
}

func isOK(r events.APIGatewayV2HTTPResponse) error {
	if r.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d: %s", r.StatusCode, r.Body)
	}
	return nil
}

func isSuccess(r events.APIGatewayV2HTTPResponse) error {
	if r.StatusCode != http.StatusOK || r.Body != alipay.NotifySuccessReply {
		return fmt.Errorf("status %d: %q", r.StatusCode, r.Body)
	}
	return nil
}

// orderStrOf checks a create reply and returns its order_str.
func orderStrOf(resp events.APIGatewayV2HTTPResponse, err error) (string, error) {
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("create answered %d: %s", resp.StatusCode, resp.Body)
	}
	var r struct {
		OrderStr string `json:"order_str"`
	}
	if err := json.Unmarshal([]byte(resp.Body), &r); err != nil || r.OrderStr == "" {
		return "", fmt.Errorf("create reply without order_str: %s", resp.Body)
	}
	return r.OrderStr, nil
}

// signFloorContent is what the orderStr path signs for one order: the sign content
// recovered from a real reply.
func signFloorContent(tb testing.TB) []byte {
	tb.Helper()
	fn := appPayFunction(tb)
	s, err := orderStrOf(fn(context.Background(), appPayEvent(appPayBody(0))))
	if err != nil {
		tb.Fatal(err)
	}
	p, err := alipay.ParseOrderString(s)
	if err != nil {
		tb.Fatal(err)
	}
	return []byte(alipay.SignContent(p))
}

// BenchmarkFloorSign is the floor of the orderStr path: SHA-256 and rsa.SignPKCS1v15
// with the app key over the content that path signs.
func BenchmarkFloorSign(b *testing.B) {
	content := signFloorContent(b)
	key := privateKey(b, "app_private_pkcs1.pem").RSA()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		sum := sha256.Sum256(content)
		if _, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, sum[:]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOrderStrPath is POST /v1/app-pay/orders with a new out_trade_no per op.
func BenchmarkOrderStrPath(b *testing.B) {
	serveOps(b, appPayFunction(b), appPayEvent(""), appPayBodies(b.N), isOK)
}

// ---- notify: parse → verify → checks → apply → reply --------------------------------

// noticePool holds signed trade notifications for orders perfOrder(i); signing is
// the slow part of the fixture, so notifications are made once per process and reused
// by every benchmark run (each run has a fresh store, so each is new to it).
var noticePool struct {
	mu     sync.Mutex
	bodies []string // base64 form bodies, as API Gateway delivers them
}

const noticeAmount = "9.00"

func noticeOrderID(i int) string { return fmt.Sprintf("PN%010d", i) }

func noticeBody(tb testing.TB, key *alipay.PrivateKey, i int) string {
	p := tradeNotice(noticeOrderID(i), fmt.Sprintf("2025060100222120010012%012d", i),
		fmt.Sprintf("20250601220014225205%08d", i), noticeAmount)
	return base64.StdEncoding.EncodeToString([]byte(signNotice(tb, key, p)))
}

// notices returns n signed notifications, signing the missing ones on every CPU.
func notices(tb testing.TB, n int) []string {
	tb.Helper()
	noticePool.mu.Lock()
	defer noticePool.mu.Unlock()
	have := len(noticePool.bodies)
	if have >= n {
		return noticePool.bodies[:n]
	}
	key := privateKey(tb, "alipay_private_pkcs1.pem")
	more := make([]string, n-have)
	workers := runtime.NumCPU()
	prev := runtime.GOMAXPROCS(workers) // setup only; the timed loop runs at -cpu
	defer runtime.GOMAXPROCS(prev)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := w; j < len(more); j += workers {
				more[j] = noticeBody(tb, key, have+j)
			}
		}()
	}
	wg.Wait()
	noticePool.bodies = append(noticePool.bodies, more...)
	return noticePool.bodies[:n]
}

// notifyFunction is the notify function over a memory store holding orders 0..n-1.
func notifyFunction(tb testing.TB, n int) (lambdaFunc, *orders.MemoryStore) {
	store := orders.NewMemoryStore()
	return notifyFunctionWith(tb, store, n), store
}

func notifyFunctionWith(tb testing.TB, store orders.Store, n int) lambdaFunc {
	tb.Helper()
	ctx := context.Background()
	now := time.Now()
	for i := range n {
		o := &orders.AppPayOrder{
			OutTradeNo: noticeOrderID(i), Owner: "app-user-1", ParamsHash: "h", TotalAmount: alipay.MustAmount(noticeAmount),
			Subject: "大乐透 2.1", ProductCode: "QUICK_MSECURITY_PAY", Status: orders.TradeCreated, OrderStr: "app_id=" + testAppID,
			CreatedAt: now, UpdatedAt: now, ExpiresAt: now.Add(48 * time.Hour),
		}
		if res, _, err := store.CreateAppPayOrder(ctx, o); err != nil || res != orders.Created {
			tb.Fatalf("seed order %d: %v %v", i, res, err)
		}
	}
	svc := notify.NewService(store, credentialsCache(tb), notify.WithSellerID(testSellerID))
	router := httpapi.NewRouter(httpapi.JWTCaller, lambdaLogger())
	if err := notify.NewHandler(svc).Mount(router); err != nil {
		tb.Fatal(err)
	}
	return platform.LambdaHandler(router)
}

func notifyEvent(body string) events.APIGatewayV2HTTPRequest {
	ev := apiEvent(http.MethodPost, httpapi.NotifyPath, formCT, body, nil)
	ev.IsBase64Encoded = true
	return ev
}

// verifyFloorInput is one notification's sign content and signature.
func verifyFloorInput(tb testing.TB) (content, sig []byte) {
	tb.Helper()
	raw, err := base64.StdEncoding.DecodeString(notices(tb, 1)[0])
	if err != nil {
		tb.Fatal(err)
	}
	n, err := alipay.ParseNotification(raw)
	if err != nil {
		tb.Fatal(err)
	}
	sig, err = base64.StdEncoding.DecodeString(n.Params["sign"])
	if err != nil {
		tb.Fatal(err)
	}
	return []byte(n.SignContent()), sig
}

// BenchmarkFloorVerify is the floor of the notify path: SHA-256 and
// rsa.VerifyPKCS1v15 with the Alipay key over one notification's content.
func BenchmarkFloorVerify(b *testing.B) {
	content, sig := verifyFloorInput(b)
	pub := &privateKey(b, "alipay_private_pkcs1.pem").RSA().PublicKey
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		sum := sha256.Sum256(content)
		if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNotifyPath is POST /v1/notify/alipay with a new, genuine TRADE_SUCCESS
// notification per op, each applied to its own order.
func BenchmarkNotifyPath(b *testing.B) {
	bodies := notices(b, b.N)
	fn, _ := notifyFunction(b, b.N)
	serveOps(b, fn, notifyEvent(""), bodies, isSuccess)
}

// ---- voucher: validate → lease → gateway (simulator on loopback) → record → reply ---

var cashier = map[string]string{"sub": "cashier-1", "scope": httpapi.ScopePreAuth}

func voucherEvent(body string) events.APIGatewayV2HTTPRequest {
	return apiEvent(http.MethodPost, preauth.PathVouchers, "application/json", body, cashier)
}

func voucherBodies(n int) []string {
	bodies := make([]string, n)
	for i := range bodies {
		bodies[i] = voucherBody(i)
	}
	return bodies
}

func voucherBody(i int) string {
	return fmt.Sprintf(`{"out_order_no":"PV%010d","out_request_no":"PV%010dR1","order_title":"押金",`+
		`"amount":"200.00","product_code":"PRE_AUTH"}`, i, i)
}

// voucherFunction is the createvoucher function over a memory store, calling the
// gateway simulator on loopback with the real alipay.Client. The simulator verifies
// each request and signs each reply on the same CPU, so one op holds two signs and two
// verifies, of which one sign and one verify are ours.
func voucherFunction(tb testing.TB) lambdaFunc {
	return voucherFunctionWith(tb, orders.NewMemoryStore())
}

func voucherFunctionWith(tb testing.TB, store orders.Store) lambdaFunc {
	tb.Helper()
	sim, err := sandbox.New(sandbox.Options{
		AppID: testAppID, AppPublicKey: privateKey(tb, "app_private_pkcs1.pem").Public(),
		AlipayKey: privateKey(tb, "alipay_private_pkcs1.pem"), MaxOrders: 1 << 22,
	})
	if err != nil {
		tb.Fatal(err)
	}
	srv := httptest.NewServer(sim.Handler())
	tb.Cleanup(func() { srv.Close(); _ = sim.Close() })
	gw := alipay.NewClient(srv.URL + sandbox.GatewayPath)
	svc := preauth.NewService(store, credentialsCache(tb), gw,
		preauth.WithNotifyURL("https://"+apiHost+httpapi.NotifyPath))
	router := httpapi.NewRouter(httpapi.JWTCaller, lambdaLogger())
	if err := preauth.NewHandler(svc).Mount(router); err != nil {
		tb.Fatal(err)
	}
	return platform.LambdaHandler(router)
}

// BenchmarkFloorSignVerify is the floor of the voucher path: one bare sign (request)
// and one bare verify (reply).
func BenchmarkFloorSignVerify(b *testing.B) {
	signContent := signFloorContent(b)
	verifyContent, sig := verifyFloorInput(b)
	key := privateKey(b, "app_private_pkcs1.pem").RSA()
	pub := &privateKey(b, "alipay_private_pkcs1.pem").RSA().PublicKey
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		sum := sha256.Sum256(signContent)
		if _, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, sum[:]); err != nil {
			b.Fatal(err)
		}
		sum = sha256.Sum256(verifyContent)
		if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVoucherPath is POST /v1/preauth/vouchers with a new out_order_no per op,
// through the simulator.
func BenchmarkVoucherPath(b *testing.B) {
	serveOps(b, voucherFunction(b), voucherEvent(""), voucherBodies(b.N), isOK)
}

// ---- refund: lease + reserve → gateway (simulator on loopback) → record → reply -----

var backOffice = map[string]string{"sub": "back-office", "scope": httpapi.ScopeSettle}

// refundsPerOrder: each paid order takes this many 0.01 refunds (an order holds at most
// orders.MaxOperations operations).
const refundsPerOrder = 100

func refundOrderID(i int) string { return fmt.Sprintf("PR%010d", i/refundsPerOrder) }

func refundBody(i int) string {
	return fmt.Sprintf(`{"out_request_no":"PR%010dR%03d","refund_amount":"0.01"}`, i/refundsPerOrder, i%refundsPerOrder)
}

// refundFunction is the settle function over a memory store holding the paid orders
// that n refunds need, calling the gateway simulator (where the same orders are paid)
// on loopback with the real alipay.Client. Per op the simulator verifies the request
// and signs the reply and the refund notice on the same CPU; one sign and one verify
// are ours.
func refundFunction(tb testing.TB, n int) (lambdaFunc, []events.APIGatewayV2HTTPRequest) {
	tb.Helper()
	sim, err := sandbox.New(sandbox.Options{
		AppID: testAppID, AppPublicKey: privateKey(tb, "app_private_pkcs1.pem").Public(),
		AlipayKey: privateKey(tb, "alipay_private_pkcs1.pem"), MaxOrders: 1 << 22,
	})
	if err != nil {
		tb.Fatal(err)
	}
	srv := httptest.NewServer(sim.Handler())
	tb.Cleanup(func() { srv.Close(); _ = sim.Close() })
	store := orders.NewMemoryStore()
	creds := credentialsCache(tb)
	gw := alipay.NewClient(srv.URL + sandbox.GatewayPath)
	svc := apppay.NewService(store, creds, apppay.WithGateway(gw))
	ctx := context.Background()
	for k := range (n + refundsPerOrder - 1) / refundsPerOrder {
		no := refundOrderID(k * refundsPerOrder)
		p := &alipay.AppPayParams{OutTradeNo: no, TotalAmount: alipay.MustAmount("100.00"), Subject: "退款测试",
			ProductCode: alipay.ProductCodeQuickMSecurityPay, TimeoutExpress: "90m"}
		created, err := svc.CreateOrder(ctx, "app-user-1", p, "")
		if err != nil {
			tb.Fatal(err)
		}
		body, _ := json.Marshal(map[string]string{"order_str": created.Order.OrderStr})
		resp, err := http.Post(srv.URL+"/sandbox/orders/pay", "application/json", bytes.NewReader(body))
		if err != nil {
			tb.Fatal(err)
		}
		var paid struct {
			TradeNo string `json:"trade_no"`
		}
		err = json.NewDecoder(resp.Body).Decode(&paid)
		resp.Body.Close()
		if err != nil || paid.TradeNo == "" {
			tb.Fatalf("pay %s: %v", no, err)
		}
		if _, err := store.ApplyTrade(ctx, orders.TradeEffect{NotifyID: "paid-" + no, OutTradeNo: no, TradeStatus: orders.TradeSuccess,
			TradeNo: paid.TradeNo, TotalAmount: p.TotalAmount, Now: time.Now()}); err != nil {
			tb.Fatal(err)
		}
	}
	router := httpapi.NewRouter(httpapi.JWTCaller, lambdaLogger())
	if err := router.MountFunction(httpapi.FnSettle, onlySettle(apppay.NewHandler(svc, "").SettleHandlers())); err != nil {
		tb.Fatal(err)
	}
	evs := make([]events.APIGatewayV2HTTPRequest, n)
	for i := range evs {
		evs[i] = apiEvent(http.MethodPost, "/v1/app-pay/orders/"+refundOrderID(i)+"/refunds", "application/json", refundBody(i), backOffice)
		evs[i].PathParameters = map[string]string{"out_trade_no": refundOrderID(i)}
	}
	return platform.LambdaHandler(router), evs
}

// BenchmarkRefundPath is POST /v1/app-pay/orders/{out_trade_no}/refunds with a new
// out_request_no per op (0.01 each, 100 per paid order), through the simulator.
func BenchmarkRefundPath(b *testing.B) {
	fn, evs := refundFunction(b, b.N)
	ctx := lambdaCtx()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		resp, err := fn(ctx, evs[i])
		if err == nil && (resp.StatusCode != http.StatusOK || !bytes.Contains([]byte(resp.Body), []byte(`"status":"SUCCEEDED"`))) {
			err = fmt.Errorf("status %d: %s", resp.StatusCode, resp.Body)
		}
		if err != nil {
			b.Fatalf("op %d: %v", i, err)
		}
	}
}

// ---- capture: validate → lease + reservation → trade.pay (simulator) → record → reply

// capturesPerOrder stays under the store's bound of operations per order.
const capturesPerOrder = 90

func captureOrderID(i int) string { return fmt.Sprintf("PK%010d", i/capturesPerOrder) }

func captureBodies(n int) []string {
	bodies := make([]string, n)
	for i := range bodies {
		bodies[i] = fmt.Sprintf(`{"out_trade_no":"PC%010d","amount":"1.00","subject":"租车 Rental"}`, i)
	}
	return bodies
}

// failingTransport refuses every notification delivery at once, so the simulator's
// deliveries cost no network time during the timed loop.
type failingTransport struct{}

func (failingTransport) RoundTrip(*http.Request) (*http.Response, error) {
	return nil, fmt.Errorf("perf: notifications are not delivered")
}

// captureFunction is the settle function over a memory store holding authorized orders
// for n captures, calling the simulator on loopback. The simulator verifies each
// trade.pay, signs its reply and signs the capture's notification on the same CPU, so
// one op holds three signs and two verifies, of which one sign and one verify are ours.
func captureFunction(tb testing.TB, n int) lambdaFunc {
	tb.Helper()
	sim, err := sandbox.New(sandbox.Options{
		AppID: testAppID, AppPublicKey: privateKey(tb, "app_private_pkcs1.pem").Public(),
		AlipayKey: privateKey(tb, "alipay_private_pkcs1.pem"), MaxOrders: 1 << 22,
		HTTPClient: &http.Client{Transport: failingTransport{}}, RetrySchedule: []time.Duration{},
	})
	if err != nil {
		tb.Fatal(err)
	}
	srv := httptest.NewServer(sim.Handler())
	tb.Cleanup(func() { srv.Close(); _ = sim.Close() })
	gw := alipay.NewClient(srv.URL + sandbox.GatewayPath)
	store := orders.NewMemoryStore()
	settler := preauth.NewSettler(store, credentialsCache(tb), gw, preauth.WithNotifyURL("https://"+apiHost+httpapi.NotifyPath))
	ctx := httpapi.WithLogger(context.Background(), lambdaLogger())
	for k := 0; k*capturesPerOrder < n; k++ {
		seedAuthorized(tb, ctx, settler, store, srv.URL, captureOrderID(k*capturesPerOrder))
	}
	router := httpapi.NewRouter(httpapi.JWTCaller, lambdaLogger())
	if err := router.MountFunction(httpapi.FnSettle, onlySettle(preauth.NewSettleHandler(settler).Handlers())); err != nil {
		tb.Fatal(err)
	}
	return platform.LambdaHandler(router)
}

// seedAuthorized issues a voucher for order through the simulator, has the buyer scan it
// and applies the freeze notice the simulator signed.
func seedAuthorized(tb testing.TB, ctx context.Context, s *preauth.Settler, store orders.Store, simURL, order string) {
	p, err := alipay.DecodeVoucherCreate([]byte(`{"out_order_no":"` + order + `","out_request_no":"` + order + `R1",` +
		`"order_title":"押金","amount":"100000000.00","product_code":"PRE_AUTH"}`))
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := s.CreateVoucher(ctx, "cashier-1", p, ""); err != nil {
		tb.Fatal(err)
	}
	resp, err := http.Post(simURL+"/sandbox/vouchers/scan", "application/json", strings.NewReader(`{"out_order_no":"`+order+`"}`))
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	var scan struct {
		Notifications []sandbox.Notification `json:"notifications"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&scan); err != nil || len(scan.Notifications) != 1 {
		tb.Fatalf("scan %s: %v", order, err)
	}
	n := scan.Notifications[0].Params
	total := alipay.MustAmount(n["total_freeze_amount"])
	if _, err := store.ApplyFundAuth(ctx, orders.FundAuthEffect{
		NotifyID: n["notify_id"], OutOrderNo: order, AuthNo: n["auth_no"], OperationID: n["operation_id"],
		OutRequestNo: n["out_request_no"], OperationType: orders.OperationFreeze, OperationStatus: orders.OperationSuccess,
		Amount: total, TotalFreeze: total, Rest: total, Now: time.Now(),
		PayerUserID: n["payer_user_id"], PayeeUserID: n["payee_user_id"],
	}); err != nil {
		tb.Fatal(err)
	}
}

// BenchmarkCapturePath is POST /v1/preauth/orders/{out_order_no}/captures with a new
// out_trade_no per op (90 captures of 1.00 per authorized order), through the simulator.
func BenchmarkCapturePath(b *testing.B) {
	fn := captureFunction(b, b.N)
	bodies := captureBodies(b.N)
	ctx := lambdaCtx()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		ev := apiEvent(http.MethodPost, "/v1/preauth/orders/"+captureOrderID(i)+"/captures", "application/json", bodies[i], backOffice)
		ev.PathParameters = map[string]string{"out_order_no": captureOrderID(i)}
		resp, err := fn(ctx, ev)
		if err == nil {
			err = isOK(resp)
		}
		if err != nil {
			b.Fatalf("op %d: %v", i, err)
		}
	}
}
