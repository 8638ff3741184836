package reliability

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
	"github.com/alipay-serverless/alipay-serverless/shared/httpapi"
	"github.com/alipay-serverless/alipay-serverless/shared/orders"
)

// TestSecurityRequestBodiesAreBounded: a JSON body over 64 KiB is a 413 on both create
// routes and a notification over 64 KiB is a 413 "fail", whether the length is declared
// or the body is streamed (chunked); a body of exactly 64 KiB is read and judged on
// its content; nothing is stored.
func TestSecurityRequestBodiesAreBounded(t *testing.T) {
	s := newStack(t, stackOptions{})
	jsonOf := func(size int) []byte {
		head := `{"out_trade_no":"BIG1","out_order_no":"BIG-1","subject":"`
		tail := `"}`
		return []byte(head + strings.Repeat("a", size-len(head)-len(tail)) + tail)
	}
	form := func(size int) []byte {
		head := "notify_type=trade_status_sync&out_trade_no=BIG1&zz_pad="
		return []byte(head + strings.Repeat("a", size-len(head)))
	}
	const over, limit = 65 << 10, httpapi.MaxBodyBytes
	type tc struct {
		name, path, ct string
		body           []byte
		chunked        bool
		status         int
		reply          string // exact body for notify, error code for JSON routes
	}
	cases := []tc{
		{"app_pay_65_kib_json_is_413", "/v1/app-pay/orders", jsonCT, jsonOf(over), false, 413, httpapi.CodeBodyTooLarge},
		{"app_pay_65_kib_chunked_json_is_413", "/v1/app-pay/orders", jsonCT, jsonOf(over), true, 413, httpapi.CodeBodyTooLarge},
		{"voucher_65_kib_json_is_413", "/v1/preauth/vouchers", jsonCT, jsonOf(over), false, 413, httpapi.CodeBodyTooLarge},
		{"voucher_65_kib_chunked_json_is_413", "/v1/preauth/vouchers", jsonCT, jsonOf(over), true, 413, httpapi.CodeBodyTooLarge},
		{"app_pay_exactly_64_kib_is_read_and_refused_as_invalid", "/v1/app-pay/orders", jsonCT, jsonOf(limit), false, 400, httpapi.CodeIllegalArgument},
		{"notify_65_kib_is_413_fail", httpapi.NotifyPath, formCT, form(over), false, 413, alipay.NotifyFailReply},
		{"notify_65_kib_chunked_is_413_fail", httpapi.NotifyPath, formCT, form(over), true, 413, alipay.NotifyFailReply},
		{"notify_exactly_64_kib_is_read_and_refused_as_unsigned", httpapi.NotifyPath, formCT, form(limit), false, 400, alipay.NotifyFailReply},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var body io.Reader = bytes.NewReader(c.body)
			if c.chunked {
				body = io.MultiReader(bytes.NewReader(c.body[:100]), bytes.NewReader(c.body[100:])) // unknown length
			}
			req, err := http.NewRequest(http.MethodPost, s.URL+c.path, body)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", c.ct)
			resp, err := s.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			r := reply{Status: resp.StatusCode, Body: b}
			got := r.ErrorCode()
			if c.path == httpapi.NotifyPath {
				got = string(b)
			}
			if r.Status != c.status || got != c.reply {
				t.Errorf("got %d %s, want %d %s", r.Status, b, c.status, c.reply)
			}
		})
	}
	ctx := t.Context()
	if _, err := s.Store.GetAppPayOrder(ctx, "BIG1"); !errors.Is(err, orders.ErrNotFound) {
		t.Errorf("an oversized request stored an order: %v", err)
	}
	if _, err := s.Store.GetPreAuthOrder(ctx, "BIG-1"); !errors.Is(err, orders.ErrNotFound) {
		t.Errorf("an oversized request stored a voucher order: %v", err)
	}
}

// lambdaCaller is who an API Gateway event claims to be: nil is no JWT at all.
type lambdaCaller struct {
	sub, scope string
}

// TestSecurityJWTScopingThroughTheLambdaAdapter drives the router as Lambda does
// (httpadapter.NewV2, payload 2.0, JWT claims from the authorizer, httpapi.JWTCaller):
// one subject cannot read nor replay another's app-pay or pre-auth order (404 / 409),
// pre-auth without the scope is 403, no JWT is 401, and an X-Caller header changes
// nothing. Notifications need no JWT.
func TestSecurityJWTScopingThroughTheLambdaAdapter(t *testing.T) {
	s := newStack(t, stackOptions{jwt: true, notifyURL: sinkServer(t).URL + httpapi.NotifyPath})
	adapter := httpadapter.NewV2(s.Handler)
	call := func(method, path string, body any, who *lambdaCaller, headers map[string]string) reply {
		t.Helper()
		h := map[string]string{"content-type": jsonCT}
		for k, v := range headers {
			h[k] = v
		}
		var raw string
		switch b := body.(type) {
		case nil:
		case string:
			raw = b
			h["content-type"] = formCT
		default:
			raw = string(mustJSON(t, b))
		}
		ev := events.APIGatewayV2HTTPRequest{
			Version: "2.0", RouteKey: "$default", RawPath: path, Body: raw, Headers: h,
			RequestContext: events.APIGatewayV2HTTPRequestContext{
				DomainName: "api.example.com", Stage: "$default", RequestID: "req-" + path,
				HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: method, Path: path, SourceIP: "127.0.0.1"},
			},
		}
		if who != nil {
			ev.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
				JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: map[string]string{"sub": who.sub, "scope": who.scope}},
			}
		}
		resp, err := adapter.ProxyWithContext(context.Background(), ev)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		suite.reply([]byte(resp.Body))
		hdr := http.Header{}
		for k, v := range resp.Headers {
			hdr.Set(k, v)
		}
		return reply{Status: resp.StatusCode, Header: hdr, Body: []byte(resp.Body)}
	}
	alice := &lambdaCaller{"alice-sub", "openid preauth"}
	bob := &lambdaCaller{"bob-sub", "preauth"}
	carol := &lambdaCaller{"carol-sub", "openid profile"}
	appBody := map[string]any{"out_trade_no": "JWT_A1", "total_amount": "5.00", "subject": "作用域", "product_code": alipay.ProductCodeQuickMSecurityPay}
	voucherBody := map[string]any{"out_order_no": "JWT-P1", "out_request_no": "JWT-P1-R1", "order_title": "作用域押金", "amount": "30.00", "product_code": alipay.ProductCodePreAuth}

	created := call(http.MethodPost, "/v1/app-pay/orders", appBody, alice, nil)
	issued := call(http.MethodPost, "/v1/preauth/vouchers", voucherBody, alice, nil)
	if created.Status != 200 || issued.Status != 200 {
		t.Fatalf("alice's creates: %d %s / %d %s", created.Status, created.Body, issued.Status, issued.Body)
	}
	params, err := alipay.VerifyOrderString(orderStrOf(t, created), loadKeys(t).appPub)
	if err != nil || params["notify_url"] == "" {
		t.Fatalf("orderStr through the adapter: %v %v", params, err)
	}

	asAlice := map[string]string{"x-caller": "alice-sub"}
	for _, c := range []struct {
		name, method, path string
		body               any
		who                *lambdaCaller
		headers            map[string]string
		status             int
		code               string
	}{
		{"owner_reads_own_app_pay_order", "GET", "/v1/app-pay/orders/JWT_A1", nil, alice, nil, 200, ""},
		{"owner_reads_own_pre_auth_order", "GET", "/v1/preauth/orders/JWT-P1", nil, alice, nil, 200, ""},
		{"other_subject_cannot_read_app_pay_order", "GET", "/v1/app-pay/orders/JWT_A1", nil, bob, nil, 404, httpapi.CodeNotFound},
		{"other_subject_cannot_read_pre_auth_order", "GET", "/v1/preauth/orders/JWT-P1", nil, bob, nil, 404, httpapi.CodeNotFound},
		{"x_caller_header_does_not_impersonate_on_app_pay", "GET", "/v1/app-pay/orders/JWT_A1", nil, bob, asAlice, 404, httpapi.CodeNotFound},
		{"x_caller_header_does_not_impersonate_on_pre_auth", "GET", "/v1/preauth/orders/JWT-P1", nil, bob, asAlice, 404, httpapi.CodeNotFound},
		{"other_subject_cannot_replay_app_pay_create", "POST", "/v1/app-pay/orders", appBody, bob, asAlice, 409, httpapi.CodeIdempotencyConflict},
		{"other_subject_cannot_replay_voucher_create", "POST", "/v1/preauth/vouchers", voucherBody, bob, asAlice, 409, httpapi.CodeIdempotencyConflict},
		{"pre_auth_create_without_scope_is_403", "POST", "/v1/preauth/vouchers", voucherBody, carol, nil, 403, httpapi.CodeForbidden},
		{"pre_auth_read_without_scope_is_403", "GET", "/v1/preauth/orders/JWT-P1", nil, carol, asAlice, 403, httpapi.CodeForbidden},
		{"app_pay_needs_no_scope", "POST", "/v1/app-pay/orders", map[string]any{"out_trade_no": "JWT_C1", "total_amount": "1.00", "subject": "c", "product_code": alipay.ProductCodeQuickMSecurityPay}, carol, nil, 200, ""},
		{"no_jwt_is_401_on_app_pay", "GET", "/v1/app-pay/orders/JWT_A1", nil, nil, asAlice, 401, httpapi.CodeUnauthorized},
		{"no_jwt_is_401_on_pre_auth", "POST", "/v1/preauth/vouchers", voucherBody, nil, asAlice, 401, httpapi.CodeUnauthorized},
		{"blank_subject_is_401", "GET", "/v1/app-pay/orders/JWT_A1", nil, &lambdaCaller{" ", "preauth"}, asAlice, 401, httpapi.CodeUnauthorized},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := call(c.method, c.path, c.body, c.who, c.headers)
			if r.Status != c.status || r.ErrorCode() != c.code {
				t.Errorf("got %d %s, want %d %s", r.Status, r.Body, c.status, c.code)
			}
			for _, who := range []string{"alice-sub", "bob-sub", "carol-sub"} {
				if strings.Contains(string(r.Body), who) {
					t.Errorf("reply names a caller: %s", r.Body)
				}
			}
		})
	}
	t.Run("replies_carry_nothing_of_the_other_subjects_order", func(t *testing.T) {
		r := call(http.MethodPost, "/v1/app-pay/orders", appBody, bob, nil)
		if strings.Contains(string(r.Body), "order_str") || strings.Contains(string(r.Body), "sign=") {
			t.Errorf("bob's conflicting create leaks alice's orderStr: %s", r.Body)
		}
	})
	t.Run("notify_needs_no_jwt", func(t *testing.T) {
		var paid payResult
		s.control(t, "/sandbox/orders/pay", map[string]string{"order_str": orderStrOf(t, created)}, &paid)
		r := call(http.MethodPost, httpapi.NotifyPath, paid.Notifications[0].Body, nil, nil)
		if r.Status != 200 || string(r.Body) != alipay.NotifySuccessReply {
			t.Errorf("notify through the adapter: %d %s", r.Status, r.Body)
		}
		g := call(http.MethodGet, "/v1/app-pay/orders/JWT_A1", nil, alice, nil)
		if !strings.Contains(string(g.Body), fmt.Sprintf(`"status":%q`, orders.TradeSuccess)) {
			t.Errorf("alice's order after the notice: %s", g.Body)
		}
	})
}
