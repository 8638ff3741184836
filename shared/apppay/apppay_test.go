package apppay

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
	"github.com/alipay-serverless/alipay-serverless/shared/credentials"
	"github.com/alipay-serverless/alipay-serverless/shared/httpapi"
	"github.com/alipay-serverless/alipay-serverless/shared/orders"
	"github.com/alipay-serverless/alipay-serverless/test/harness/testkeys"
)

var _ Store = (*orders.MemoryStore)(nil)
var _ Store = (*orders.DynamoStore)(nil)

func testdataFile(t testing.TB, rel string) []byte {
	t.Helper()
	return testkeys.Read(t, rel)
}

// failingStore reports the store as unreachable.
type failingStore struct{}

func (failingStore) CreateAppPayOrder(context.Context, *orders.AppPayOrder) (orders.CreateOutcome, *orders.AppPayOrder, error) {
	return "", nil, fmt.Errorf("dial tcp 127.0.0.1:1: %w", orders.ErrUnavailable)
}
func (failingStore) GetAppPayOrder(context.Context, string) (*orders.AppPayOrder, error) {
	return nil, fmt.Errorf("timeout: %w", orders.ErrUnavailable)
}
func (failingStore) BeginOperation(context.Context, orders.OpBegin) (orders.OpBeginResult, error) {
	return orders.OpBeginResult{}, fmt.Errorf("timeout: %w", orders.ErrUnavailable)
}
func (failingStore) CompleteOperation(context.Context, orders.OpRef, string, orders.OpOutcome) (orders.Operation, error) {
	return orders.Operation{}, fmt.Errorf("timeout: %w", orders.ErrUnavailable)
}
func (failingStore) ApplyTrade(context.Context, orders.TradeEffect) (orders.ApplyResult, error) {
	return "", fmt.Errorf("timeout: %w", orders.ErrUnavailable)
}
func (failingStore) ResolveOperation(context.Context, orders.OpRef, orders.OpOutcome) error {
	return fmt.Errorf("timeout: %w", orders.ErrUnavailable)
}

type env struct {
	router *httpapi.Router
	store  *orders.MemoryStore
	creds  *credentials.Static
	logs   *bytes.Buffer
	appPub *alipay.PublicKey
}

var fixedNow = time.Date(2026, 11, 22, 4, 0, 0, 0, time.UTC) // 12:00 China time

func newEnv(t *testing.T, store Store, auth httpapi.Authenticator, opts ...Option) *env {
	t.Helper()
	privPEM := testdataFile(t, "keys/app_private_pkcs1.pem")
	priv, err := alipay.ParsePrivateKey(privPEM)
	if err != nil {
		t.Fatal(err)
	}
	alipayPub, err := alipay.ParsePublicKey(testdataFile(t, "keys/alipay_public.pem"))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{creds: &credentials.Static{Creds: &alipay.Credentials{AppID: "2021000000000001", PrivateKey: priv, AlipayPublicKey: alipayPub}},
		logs: &bytes.Buffer{}, appPub: priv.Public()}
	if ms, ok := store.(*orders.MemoryStore); ok {
		e.store = ms
	}
	svc := NewService(store, e.creds, append([]Option{WithClock(func() time.Time { return fixedNow })}, opts...)...)
	e.router = httpapi.NewRouter(auth, slog.New(slog.NewJSONHandler(e.logs, nil)))
	if err := NewHandler(svc, "").Mount(e.router); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) do(method, path, caller, ct, body string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, "http://127.0.0.1:3000"+path, strings.NewReader(body))
	if ct != "" {
		r.Header.Set("Content-Type", ct)
	}
	if caller != "" {
		r.Header.Set(httpapi.LocalCallerHeader, caller)
	}
	w := httptest.NewRecorder()
	e.router.ServeHTTP(w, r)
	return w
}

const basicOrder = `{"out_trade_no":"T20261122001","total_amount":"9.00","subject":"大乐透 2.1","product_code":"QUICK_MSECURITY_PAY","timeout_express":"90m"}`

const payAndSign = `{"out_trade_no":"T20261122SIGN","total_amount":"0.01","subject":"Membership","product_code":"CYCLE_PAY_AUTH",
 "agreement_sign_params":{"product_code":"GENERAL_WITHHOLDING","personal_product_code":"CYCLE_PAY_AUTH_P","sign_scene":"INDUSTRY|DIGITAL_MEDIA",
  "access_params":{"channel":"ALIPAYAPP"},"period_rule_params":{"period_type":"MONTH","period":1,"execute_time":"2026-12-01","single_amount":"30.00"}}}`

func decode[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	return v
}

func TestCreateOrderSignsAnOrderStrAlipayAccepts(t *testing.T) {
	e := newEnv(t, orders.NewMemoryStore(), httpapi.LocalCaller)
	w := e.do("POST", "/v1/app-pay/orders", "app-user-1", "application/json", basicOrder)
	if w.Code != 200 {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	got := decode[createReply](t, w.Body.Bytes())
	if got.OutTradeNo != "T20261122001" || got.Status != "CREATED" || w.Header().Get("Idempotent-Replayed") != "" {
		t.Fatalf("reply %+v", got)
	}
	params, err := alipay.VerifyOrderString(got.OrderStr, e.appPub)
	if err != nil {
		t.Fatalf("orderStr does not verify with the app public key: %v", err)
	}
	want := map[string]string{
		"app_id": "2021000000000001", "method": "alipay.trade.app.pay", "charset": "utf-8", "version": "1.0",
		"sign_type": "RSA2", "timestamp": "2026-11-22 12:00:00", "notify_url": "http://127.0.0.1:3000/v1/notify/alipay",
	}
	for k, v := range want {
		if params[k] != v {
			t.Errorf("%s = %q want %q", k, params[k], v)
		}
	}
	var biz map[string]any
	if err := json.Unmarshal([]byte(params["biz_content"]), &biz); err != nil || biz["total_amount"] != "9.00" || biz["subject"] != "大乐透 2.1" {
		t.Errorf("biz_content %s", params["biz_content"])
	}
	o, err := e.store.GetAppPayOrder(context.Background(), "T20261122001")
	if err != nil || o.Status != orders.TradeCreated || o.TotalAmount != 900 || o.Owner != "app-user-1" || o.OrderStr != got.OrderStr {
		t.Fatalf("stored %+v err %v", o, err)
	}
	if want := fixedNow.Add(90*time.Minute + keepAfterExpiry); !o.ExpiresAt.Equal(want) {
		t.Errorf("expires_at %v want %v", o.ExpiresAt, want)
	}
}

func TestIdempotentCreate(t *testing.T) {
	e := newEnv(t, orders.NewMemoryStore(), httpapi.LocalCaller)
	first := e.do("POST", "/v1/app-pay/orders", "u1", "application/json", basicOrder)
	tests := []struct {
		name, caller, body string
		status             int
		replayed           bool
		code               string
	}{
		{name: "same_request_replays_the_same_order_str", caller: "u1", body: basicOrder, status: 200, replayed: true},
		{name: "same_params_reformatted_replays", caller: "u1", body: strings.ReplaceAll(basicOrder, `"9.00"`, `9`), status: 200, replayed: true},
		{name: "other_amount_is_idempotency_conflict", caller: "u1", body: strings.ReplaceAll(basicOrder, `"9.00"`, `"9.01"`), status: 409, code: httpapi.CodeIdempotencyConflict},
		{name: "another_caller_cannot_take_the_order", caller: "u2", body: basicOrder, status: 409, code: httpapi.CodeIdempotencyConflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := e.do("POST", "/v1/app-pay/orders", tt.caller, "application/json", tt.body)
			if w.Code != tt.status {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			if tt.replayed {
				if w.Header().Get("Idempotent-Replayed") != "true" || w.Body.String() != first.Body.String() {
					t.Fatalf("not a replay of the first reply: %s", w.Body)
				}
			}
			if tt.code != "" && !strings.Contains(w.Body.String(), tt.code) {
				t.Fatalf("body %s, want %s", w.Body, tt.code)
			}
		})
	}
}

func TestConcurrentIdenticalCreatesGiveOneOrder(t *testing.T) {
	e := newEnv(t, orders.NewMemoryStore(), httpapi.LocalCaller)
	var wg sync.WaitGroup
	bodies := make([]string, 20)
	for i := range bodies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := e.do("POST", "/v1/app-pay/orders", "u1", "application/json", basicOrder)
			if w.Code == 200 {
				bodies[i] = decode[createReply](t, w.Body.Bytes()).OrderStr
			}
		}()
	}
	wg.Wait()
	for i, b := range bodies {
		if b == "" || b != bodies[0] {
			t.Fatalf("reply %d differs or failed", i)
		}
	}
}

func TestPayAndSignGetsAnExternalAgreementNo(t *testing.T) {
	e := newEnv(t, orders.NewMemoryStore(), httpapi.LocalCaller)
	w := e.do("POST", "/v1/app-pay/orders", "u1", "application/json", payAndSign)
	if w.Code != 200 {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	params, err := alipay.VerifyOrderString(decode[createReply](t, w.Body.Bytes()).OrderStr, e.appPub)
	if err != nil {
		t.Fatal(err)
	}
	var biz struct {
		AgreementSignParams struct {
			ExternalAgreementNo string         `json:"external_agreement_no"`
			PeriodRuleParams    map[string]any `json:"period_rule_params"`
		} `json:"agreement_sign_params"`
	}
	if err := json.Unmarshal([]byte(params["biz_content"]), &biz); err != nil {
		t.Fatal(err)
	}
	ext := biz.AgreementSignParams.ExternalAgreementNo
	if len(ext) != 32 || biz.AgreementSignParams.PeriodRuleParams["single_amount"] != "30.00" {
		t.Fatalf("biz %s", params["biz_content"])
	}
	a, err := e.store.GetAgreement(context.Background(), ext)
	if err != nil || a.OutTradeNo != "T20261122SIGN" || a.Status != orders.AgreementPending {
		t.Fatalf("agreement %+v err %v", a, err)
	}
	// The retry derives the same agreement number, so it replays instead of conflicting.
	if w := e.do("POST", "/v1/app-pay/orders", "u1", "application/json", payAndSign); w.Header().Get("Idempotent-Replayed") != "true" {
		t.Fatalf("retry of pay-and-sign did not replay: %d %s", w.Code, w.Body)
	}
	g := e.do("GET", "/v1/app-pay/orders/T20261122SIGN", "u1", "", "")
	if !strings.Contains(g.Body.String(), `"external_agreement_no":"`+ext+`"`) || !strings.Contains(g.Body.String(), `"status":"PENDING"`) {
		t.Fatalf("GET %s", g.Body)
	}
}

func TestCreateRejectsBadInput(t *testing.T) {
	e := newEnv(t, orders.NewMemoryStore(), httpapi.LocalCaller)
	tests := []struct {
		name, ct, body string
		status         int
		field          string
	}{
		{name: "float_like_amount_with_three_decimals", ct: "application/json", body: strings.ReplaceAll(basicOrder, `"9.00"`, `"9.001"`), status: 400, field: "total_amount"},
		{name: "negative_amount", ct: "application/json", body: strings.ReplaceAll(basicOrder, `"9.00"`, `"-1"`), status: 400, field: "total_amount"},
		{name: "out_trade_no_with_dash", ct: "application/json", body: strings.ReplaceAll(basicOrder, "T20261122001", "T-1"), status: 400, field: "out_trade_no"},
		{name: "subject_with_ampersand", ct: "application/json", body: strings.ReplaceAll(basicOrder, "大乐透 2.1", "a&b"), status: 400, field: "subject"},
		{name: "lower_case_product_code", ct: "application/json", body: strings.ReplaceAll(basicOrder, "QUICK_MSECURITY_PAY", "quick_msecurity_pay"), status: 400, field: "product_code"},
		{name: "unknown_field", ct: "application/json", body: strings.ReplaceAll(basicOrder, `"subject"`, `"subjct":"x","subject"`), status: 400, field: "subjct"},
		{name: "cycle_pay_without_agreement", ct: "application/json", body: strings.ReplaceAll(basicOrder, "QUICK_MSECURITY_PAY", "CYCLE_PAY_AUTH"), status: 400, field: "agreement_sign_params"},
		{name: "month_period_on_day_29", ct: "application/json", body: strings.ReplaceAll(payAndSign, "2026-12-01", "2026-12-29"), status: 400, field: "agreement_sign_params.period_rule_params.execute_time"},
		{name: "not_json", ct: "application/json", body: `{`, status: 400},
		{name: "form_body_is_415", ct: "application/x-www-form-urlencoded", body: "a=b", status: 415},
		{name: "over_64k_is_413", ct: "application/json", body: `{"subject":"` + strings.Repeat("x", 70000) + `"}`, status: 413},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := e.do("POST", "/v1/app-pay/orders", "u1", tt.ct, tt.body)
			if w.Code != tt.status {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			var er struct{ Error httpapi.Error }
			_ = json.Unmarshal(w.Body.Bytes(), &er)
			if tt.field != "" && er.Error.Field != tt.field {
				t.Errorf("field %q want %q (%s)", er.Error.Field, tt.field, w.Body)
			}
		})
	}
}

func TestGetOrder(t *testing.T) {
	e := newEnv(t, orders.NewMemoryStore(), httpapi.LocalCaller)
	e.do("POST", "/v1/app-pay/orders", "owner", "application/json", basicOrder)
	tests := []struct {
		name, path, caller string
		status             int
	}{
		{name: "owner_reads_the_order", path: "/v1/app-pay/orders/T20261122001", caller: "owner", status: 200},
		{name: "another_caller_gets_404", path: "/v1/app-pay/orders/T20261122001", caller: "intruder", status: 404},
		{name: "unknown_order_is_404", path: "/v1/app-pay/orders/NOPE", caller: "owner", status: 404},
		{name: "bad_id_is_400", path: "/v1/app-pay/orders/bad-id", caller: "owner", status: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := e.do("GET", tt.path, tt.caller, "", "")
			if w.Code != tt.status {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			if tt.status == 200 {
				v := decode[OrderView](t, w.Body.Bytes())
				if v.Status != "CREATED" || v.TotalAmount != 900 || v.CreatedAt != "2026-11-22T12:00:00+08:00" {
					t.Errorf("view %+v", v)
				}
				if strings.Contains(w.Body.String(), "owner") {
					t.Errorf("GET leaks the owner id: %s", w.Body)
				}
			}
		})
	}
}

func TestDependencyFailuresAre503(t *testing.T) {
	t.Run("store_unavailable", func(t *testing.T) {
		e := newEnv(t, failingStore{}, httpapi.LocalCaller)
		for _, w := range []*httptest.ResponseRecorder{
			e.do("POST", "/v1/app-pay/orders", "u1", "application/json", basicOrder),
			e.do("GET", "/v1/app-pay/orders/T1", "u1", "", ""),
		} {
			if w.Code != 503 || w.Header().Get("Retry-After") == "" || !strings.Contains(w.Body.String(), httpapi.CodeDependencyUnavailable) {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			if strings.Contains(w.Body.String(), "dial tcp") || strings.Contains(w.Body.String(), "timeout") {
				t.Errorf("internals leaked: %s", w.Body)
			}
		}
	})
	t.Run("credentials_unavailable", func(t *testing.T) {
		e := newEnv(t, orders.NewMemoryStore(), httpapi.LocalCaller)
		e.creds.Err = errors.New("secret not found")
		w := e.do("POST", "/v1/app-pay/orders", "u1", "application/json", basicOrder)
		if w.Code != 503 || strings.Contains(w.Body.String(), "secret not found") {
			t.Fatalf("status %d: %s", w.Code, w.Body)
		}
		if _, err := e.store.GetAppPayOrder(context.Background(), "T20261122001"); !errors.Is(err, orders.ErrNotFound) {
			t.Errorf("an order was stored without an orderStr: %v", err)
		}
	})
}

func TestThroughTheLambdaAdapterWithJWT(t *testing.T) {
	e := newEnv(t, orders.NewMemoryStore(), httpapi.JWTCaller)
	adapter := httpadapter.NewV2(e.router)
	ev := func(method, path, body string, sub string, headers map[string]string) events.APIGatewayV2HTTPRequest {
		if headers == nil {
			headers = map[string]string{}
		}
		headers["content-type"] = "application/json"
		return events.APIGatewayV2HTTPRequest{
			Version: "2.0", RouteKey: method + " " + path, RawPath: path, Body: body, Headers: headers,
			RequestContext: events.APIGatewayV2HTTPRequestContext{
				DomainName: "api.example.com",
				HTTP:       events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: method, Path: path},
				Authorizer: &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
					JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: map[string]string{"sub": sub}},
				},
			},
		}
	}
	resp, err := adapter.ProxyWithContext(context.Background(), ev("POST", "/v1/app-pay/orders", basicOrder, "jwt-user", nil))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("create: %d %s %v", resp.StatusCode, resp.Body, err)
	}
	params, err := alipay.VerifyOrderString(decode[createReply](t, []byte(resp.Body)).OrderStr, e.appPub)
	if err != nil || params["notify_url"] != "https://api.example.com/v1/notify/alipay" {
		t.Fatalf("notify_url %q err %v", params["notify_url"], err)
	}
	// X-Caller has no effect in Lambda: the JWT subject owns the order.
	resp, _ = adapter.ProxyWithContext(context.Background(), ev("GET", "/v1/app-pay/orders/T20261122001", "", "other-user", map[string]string{"x-caller": "jwt-user"}))
	if resp.StatusCode != 404 {
		t.Fatalf("another JWT subject read the order with X-Caller: %d %s", resp.StatusCode, resp.Body)
	}
	resp, _ = adapter.ProxyWithContext(context.Background(), ev("GET", "/v1/app-pay/orders/T20261122001", "", "jwt-user", nil))
	if resp.StatusCode != 200 {
		t.Fatalf("owner GET: %d %s", resp.StatusCode, resp.Body)
	}
	assertNoKeyMaterial(t, e.logs.String()+resp.Body)
}

func assertNoKeyMaterial(t *testing.T, text string) {
	t.Helper()
	testkeys.AssertNoKeyMaterial(t, "logs and replies", text)
}

// doAs serves a request as caller with exactly the given scopes (local X-Caller-Scopes).
func (e *env) doAs(method, path, caller, scopes, body string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, "http://127.0.0.1:3000"+path, strings.NewReader(body))
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	r.Header.Set(httpapi.LocalCallerHeader, caller)
	r.Header.Set(httpapi.LocalScopesHeader, scopes)
	w := httptest.NewRecorder()
	e.router.ServeHTTP(w, r)
	return w
}

func errorField(t *testing.T, w *httptest.ResponseRecorder) string {
	t.Helper()
	return decode[map[string]map[string]string](t, w.Body.Bytes())["error"]["field"]
}

// signedBiz is the biz_content of the orderStr in a create or GET reply.
func signedBiz(t *testing.T, e *env, body []byte) map[string]any {
	t.Helper()
	params, err := alipay.VerifyOrderString(decode[createReply](t, body).OrderStr, e.appPub)
	if err != nil {
		t.Fatal(err)
	}
	return decode[map[string]any](t, []byte(params["biz_content"]))
}

func TestSignNotifyURLIsServerConfiguration(t *testing.T) {
	withURL := strings.Replace(payAndSign, `"access_params"`, `"sign_notify_url":"https://attacker.example/n","access_params"`, 1)
	t.Run("client_value_is_refused_naming_the_field", func(t *testing.T) {
		e := newEnv(t, orders.NewMemoryStore(), httpapi.LocalCaller)
		w := e.do("POST", "/v1/app-pay/orders", "u1", "application/json", withURL)
		if w.Code != 400 || errorField(t, w) != "agreement_sign_params.sign_notify_url" {
			t.Fatalf("status %d: %s", w.Code, w.Body)
		}
	})
	for _, tc := range []struct {
		name string
		opts []Option
		want string
	}{
		{"default_is_our_notify_route", nil, "http://127.0.0.1:3000" + httpapi.NotifyPath},
		{"configured_address", []Option{WithSignNotifyURL("https://pay.example.cn/agreements")}, "https://pay.example.cn/agreements"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, orders.NewMemoryStore(), httpapi.LocalCaller, tc.opts...)
			w := e.do("POST", "/v1/app-pay/orders", "u1", "application/json", payAndSign)
			if w.Code != 200 {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			asp, _ := signedBiz(t, e, w.Body.Bytes())["agreement_sign_params"].(map[string]any)
			if asp["sign_notify_url"] != tc.want {
				t.Errorf("sign_notify_url %v, want %s", asp["sign_notify_url"], tc.want)
			}
			if w := e.do("POST", "/v1/app-pay/orders", "u1", "application/json", payAndSign); w.Header().Get("Idempotent-Replayed") != "true" {
				t.Errorf("retry did not replay: %d %s", w.Code, w.Body)
			}
		})
	}
}

func TestServerPricing(t *testing.T) {
	withOwner := strings.Replace(basicOrder, `{`, `{"owner":"app-user-1",`, 1)
	const path = "/v1/app-pay/orders"
	t.Run("create_without_scope_orders_is_403", func(t *testing.T) {
		e := newEnv(t, orders.NewMemoryStore(), httpapi.LocalCaller, WithServerPricing(true))
		for _, scopes := range []string{"", "preauth"} {
			if w := e.doAs("POST", path, "app-user-1", scopes, withOwner); w.Code != 403 {
				t.Errorf("scopes %q: status %d: %s", scopes, w.Code, w.Body)
			}
		}
		if _, err := e.store.GetAppPayOrder(context.Background(), "T20261122001"); !errors.Is(err, orders.ErrNotFound) {
			t.Errorf("an order was stored: %v", err)
		}
	})
	t.Run("backend_creates_for_owner_who_reads_it_with_order_str", func(t *testing.T) {
		e := newEnv(t, orders.NewMemoryStore(), httpapi.LocalCaller, WithServerPricing(true))
		w := e.doAs("POST", path, "merchant-backend", "orders", withOwner)
		if w.Code != 200 {
			t.Fatalf("create: %d %s", w.Code, w.Body)
		}
		created := decode[createReply](t, w.Body.Bytes())
		if w := e.doAs("POST", path, "merchant-backend", "orders", withOwner); w.Code != 200 || w.Header().Get("Idempotent-Replayed") != "true" {
			t.Errorf("retry: %d %s", w.Code, w.Body)
		}
		if w := e.doAs("POST", path, "merchant-backend", "orders", strings.Replace(withOwner, "app-user-1", "app-user-2", 1)); w.Code != 409 {
			t.Errorf("same out_trade_no for another owner: %d %s", w.Code, w.Body)
		}
		g := e.doAs("GET", path+"/T20261122001", "app-user-1", "", "")
		if g.Code != 200 {
			t.Fatalf("owner's GET: %d %s", g.Code, g.Body)
		}
		v := decode[OrderView](t, g.Body.Bytes())
		if v.OrderStr != created.OrderStr || v.TotalAmount != alipay.MustAmount("9.00") {
			t.Errorf("owner's view %+v, want the created order_str", v)
		}
		for _, other := range []string{"app-user-2", "merchant-backend"} {
			if g := e.doAs("GET", path+"/T20261122001", other, "orders", ""); g.Code != 404 {
				t.Errorf("GET by %s: %d %s", other, g.Code, g.Body)
			}
		}
	})
	t.Run("owner_is_required", func(t *testing.T) {
		e := newEnv(t, orders.NewMemoryStore(), httpapi.LocalCaller, WithServerPricing(true))
		for _, body := range []string{basicOrder, strings.Replace(basicOrder, `{`, `{"owner":"  ",`, 1)} {
			if w := e.doAs("POST", path, "merchant-backend", "orders", body); w.Code != 400 || errorField(t, w) != "owner" {
				t.Errorf("status %d: %s", w.Code, w.Body)
			}
		}
	})
	t.Run("client_pricing_refuses_owner", func(t *testing.T) {
		e := newEnv(t, orders.NewMemoryStore(), httpapi.LocalCaller)
		if w := e.doAs("POST", path, "app-user-1", "", withOwner); w.Code != 400 || errorField(t, w) != "owner" {
			t.Errorf("status %d: %s", w.Code, w.Body)
		}
		// Client pricing needs no scope: the app creates its own order.
		if w := e.doAs("POST", path, "app-user-1", "", basicOrder); w.Code != 200 {
			t.Errorf("app's own create: %d %s", w.Code, w.Body)
		}
	})
}

func TestOrderViewShowsWhatWasPaid(t *testing.T) {
	e := newEnv(t, orders.NewMemoryStore(), httpapi.LocalCaller)
	if w := e.do("POST", "/v1/app-pay/orders", "u1", "application/json", basicOrder); w.Code != 200 {
		t.Fatalf("create: %d %s", w.Code, w.Body)
	}
	res, err := e.store.ApplyTrade(context.Background(), orders.TradeEffect{
		NotifyID: "N1", OutTradeNo: "T20261122001", TradeStatus: orders.TradeSuccess, TradeNo: "2026112222001",
		TotalAmount: alipay.MustAmount("9.00"), ReceiptAmount: alipay.MustAmount("8.50"), BuyerPayAmount: alipay.MustAmount("8.00"), Now: fixedNow,
	})
	if err != nil || res != orders.Applied {
		t.Fatalf("apply: %v %v", res, err)
	}
	g := e.do("GET", "/v1/app-pay/orders/T20261122001", "u1", "", "")
	body := g.Body.String()
	for _, want := range []string{`"total_amount":"9.00"`, `"paid_amount":"9.00"`, `"receipt_amount":"8.50"`, `"buyer_pay_amount":"8.00"`, `"status":"TRADE_SUCCESS"`} {
		if !strings.Contains(body, want) {
			t.Errorf("view lacks %s: %s", want, body)
		}
	}
}
