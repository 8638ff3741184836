package perf

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/alipay-serverless/alipay-serverless/shared/agreements"
	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
	"github.com/alipay-serverless/alipay-serverless/shared/apppay"
	"github.com/alipay-serverless/alipay-serverless/shared/httpapi"
	"github.com/alipay-serverless/alipay-serverless/shared/orders"
	"github.com/alipay-serverless/alipay-serverless/shared/platform"
	"github.com/alipay-serverless/alipay-serverless/shared/sandbox"
)

// chargesPerAgreement keeps an agreement's charges under orders.MaxOperations. The
// benchmark's agreements are signed without period rules, so each charge is the next
// period at once; the rule checks still run (they are the same code with a rule).
const chargesPerAgreement = 90

func chargeAgreementID(i int) string { return fmt.Sprintf("AGB%010d", i/chargesPerAgreement) }

// chargeFunction is the settle function's charge route over the simulator, with the
// agreements for n charges signed at the simulator and NORMAL in the store.
func chargeFunction(tb testing.TB, n int) lambdaFunc {
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
	creds := credentialsCache(tb)
	app := apppay.NewService(store, creds)
	ctx := httpapi.WithLogger(context.Background(), lambdaLogger())
	for k := 0; k*chargesPerAgreement < n; k++ {
		ext := chargeAgreementID(k * chargesPerAgreement)
		p, err := alipay.DecodeAppPay([]byte(`{"out_trade_no":"APB` + ext + `","total_amount":"0.01","subject":"Membership",` +
			`"product_code":"QUICK_MSECURITY_PAY","agreement_sign_params":{"product_code":"GENERAL_WITHHOLDING",` +
			`"personal_product_code":"CYCLE_PAY_AUTH_P","sign_scene":"INDUSTRY|DIGITAL_MEDIA","external_agreement_no":"` + ext + `",` +
			`"access_params":{"channel":"ALIPAYAPP"}}}`))
		if err != nil {
			tb.Fatal(err)
		}
		created, err := app.CreateOrder(ctx, "app-user", p, "https://"+apiHost+httpapi.NotifyPath)
		if err != nil {
			tb.Fatal(err)
		}
		b, _ := json.Marshal(map[string]string{"order_str": created.Order.OrderStr})
		resp, err := http.Post(srv.URL+"/sandbox/orders/pay", "application/json", strings.NewReader(string(b)))
		if err != nil {
			tb.Fatal(err)
		}
		var paid struct {
			AgreementNo string `json:"agreement_no"`
		}
		err = json.NewDecoder(resp.Body).Decode(&paid)
		resp.Body.Close()
		if err != nil || paid.AgreementNo == "" {
			tb.Fatalf("pay %s: %v", ext, err)
		}
		if _, err := store.ApplyAgreement(ctx, orders.AgreementEffect{NotifyID: "sign-" + ext, ExternalAgreementNo: ext,
			AgreementNo: paid.AgreementNo, Status: orders.AgreementNormal, Now: time.Now()}); err != nil {
			tb.Fatal(err)
		}
	}
	h := agreements.NewHandler(agreements.NewService(store, creds, gw), "https://"+apiHost+httpapi.NotifyPath)
	router := httpapi.NewRouter(httpapi.JWTCaller, lambdaLogger())
	if err := router.MountFunction(httpapi.FnSettle, onlySettle(h.SettleHandlers())); err != nil {
		tb.Fatal(err)
	}
	return platform.LambdaHandler(router)
}

// onlySettle is one slice's settle routes, the settle function's other routes answering
// 404: a benchmark measures one path of the function.
func onlySettle(own map[string]http.Handler) map[string]http.Handler {
	for _, rt := range httpapi.RoutesOf(httpapi.FnSettle) {
		if key := rt.Method + " " + rt.Path; own[key] == nil {
			own[key] = http.NotFoundHandler()
		}
	}
	return own
}

// BenchmarkChargePath is POST /v1/agreements/{external_agreement_no}/charges with a new
// out_trade_no per op (90 charges per agreement), through the simulator: the rule check
// and reservation in the begin's write, the signed trade.pay with agreement_params, the
// verified reply, the outcome recorded.
func BenchmarkChargePath(b *testing.B) {
	fn := chargeFunction(b, b.N)
	bodies := make([]string, b.N)
	for i := range bodies {
		bodies[i] = fmt.Sprintf(`{"out_trade_no":"CB%010d","amount":"1.00","subject":"会员 Membership"}`, i)
	}
	ctx := lambdaCtx()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		ext := chargeAgreementID(i)
		ev := apiEvent(http.MethodPost, "/v1/agreements/"+ext+"/charges", "application/json", bodies[i], backOffice)
		ev.PathParameters = map[string]string{"external_agreement_no": ext}
		resp, err := fn(ctx, ev)
		if err == nil {
			err = isOK(resp)
		}
		if err != nil {
			b.Fatalf("op %d: %v", i, err)
		}
	}
}
