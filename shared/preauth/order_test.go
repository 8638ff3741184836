package preauth

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
	"github.com/alipay-serverless/alipay-serverless/shared/httpapi"
	"github.com/alipay-serverless/alipay-serverless/shared/orders"
)

func TestGetOrder(t *testing.T) {
	h := newHarness(t, withFakeClock)
	if rep := h.create("c1", voucherBody("O-1", "R-1")); rep.status != 200 {
		t.Fatal(rep.body)
	}
	h.gw.setMode(gwBusiness)
	h.clock.Advance(time.Minute)
	if rep := h.create("c1", voucherBody("O-1", "R-2")); rep.status != http.StatusBadGateway {
		t.Fatal(rep.body)
	}
	h.clock.Advance(time.Minute)
	h.authorize("O-1", "R-1")

	t.Run("own_order_as_stored", func(t *testing.T) {
		rep := h.get("c1", "O-1")
		if rep.status != http.StatusOK {
			t.Fatalf("status %d: %s", rep.status, rep.body)
		}
		want := map[string]string{
			"out_order_no": "O-1", "status": "AUTHORIZED", "amount": "100.00", "order_title": "押金 deposit",
			"auth_no": "2025060110002001000000001", "total_freeze_amount": "100.00", "total_unfreeze_amount": "0.00",
			"total_pay_amount": "0.00", "rest_amount": "100.00", "payee_user_id": testPayee,
			"created_at": "2025-06-01T12:00:00+08:00", "updated_at": "2025-06-01T12:02:00+08:00",
		}
		for k, v := range want {
			if rep.str(k) != v {
				t.Errorf("%s = %q, want %q", k, rep.str(k), v)
			}
		}
		reqs, _ := rep.json["requests"].([]any)
		if len(reqs) != 2 {
			t.Fatalf("requests %v", rep.json["requests"])
		}
		r1, _ := reqs[0].(map[string]any)
		r2, _ := reqs[1].(map[string]any)
		value, curl := codeFor("O-1", "R-1")
		if r1["out_request_no"] != "R-1" || r1["state"] != "ISSUED" || r1["code_value"] != value || r1["code_url"] != curl ||
			r1["code_type"] != "qrCode" || r1["created_at"] != "2025-06-01T12:00:00+08:00" {
			t.Errorf("request R-1: %v", r1)
		}
		if r2["out_request_no"] != "R-2" || r2["state"] != "BUSINESS_ERROR" || r2["sub_code"] != "PAYEE_NOT_EXIST" || r2["code_value"] != nil {
			t.Errorf("request R-2: %v", r2)
		}
		ops, _ := rep.json["operations"].([]any)
		if len(ops) != 1 {
			t.Fatalf("operations %v", rep.json["operations"])
		}
		op, _ := ops[0].(map[string]any)
		if op["operation_type"] != "FREEZE" || op["status"] != "SUCCESS" || op["amount"] != "100.00" || op["out_request_no"] != "R-1" ||
			op["gmt_trans"] != "2025-06-01T12:02:00+08:00" {
			t.Errorf("operation %v", op)
		}
		for _, secret := range []string{"owner", "c1", "token", "hash", "lease"} {
			if strings.Contains(strings.ToLower(rep.body), secret) {
				t.Errorf("reply mentions %q: %s", secret, rep.body)
			}
		}
	})
	tests := []struct {
		name, caller, id string
		status           int
		code, field      string
	}{
		{"other_owner_is_404", "c2", "O-1", http.StatusNotFound, httpapi.CodeNotFound, ""},
		{"unknown_order_is_404", "c1", "O-404", http.StatusNotFound, httpapi.CodeNotFound, ""},
		{"bad_id_is_400", "c1", "O%201!", http.StatusBadRequest, httpapi.CodeIllegalArgument, "out_order_no"},
		{"too_long_id_is_400", "c1", strings.Repeat("A", 65), http.StatusBadRequest, httpapi.CodeIllegalArgument, "out_order_no"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := h.get(tt.caller, tt.id)
			if rep.status != tt.status || rep.errCode() != tt.code || rep.errField("field") != tt.field {
				t.Fatalf("status %d: %s", rep.status, rep.body)
			}
			if strings.Contains(rep.body, "qr.alipay.com") || strings.Contains(rep.body, "AUTHORIZED") {
				t.Errorf("leaks the order: %s", rep.body)
			}
		})
	}
	t.Run("other_owner_and_unknown_look_the_same", func(t *testing.T) {
		a, b := h.get("c2", "O-1"), h.get("c2", "O-404")
		if a.body != b.body {
			t.Errorf("%s vs %s", a.body, b.body)
		}
	})
}

func TestGetOrderOfFreshOrderHasEmptyLists(t *testing.T) {
	h := newHarness(t)
	h.gw.setMode(gw20000)
	if rep := h.create("c1", voucherBody("O-1", "R-1")); rep.status != http.StatusServiceUnavailable {
		t.Fatal(rep.body)
	}
	rep := h.get("c1", "O-1")
	if rep.status != http.StatusOK || rep.str("status") != "CREATED" || rep.str("total_freeze_amount") != "0.00" {
		t.Fatalf("status %d: %s", rep.status, rep.body)
	}
	if !strings.Contains(rep.body, `"operations":[]`) || !strings.Contains(rep.body, `"auth_no":""`) {
		t.Errorf("lists and auth_no must be present: %s", rep.body)
	}
	if !strings.Contains(rep.body, `"state":"UNKNOWN"`) {
		t.Errorf("unknown request not shown: %s", rep.body)
	}
}

// lambdaEvent is the payload 2.0 event API Gateway sends for a JWT-authorized route.
func lambdaEvent(method, path, body string, claims map[string]string) events.APIGatewayV2HTTPRequest {
	ev := events.APIGatewayV2HTTPRequest{
		Version: "2.0", RouteKey: method + " " + path, RawPath: path, Body: body,
		// Client-controlled headers a forger would set: they must not steer notify_url.
		Headers: map[string]string{"content-type": "application/json", "host": "evil.example",
			"x-forwarded-proto": "http", "x-forwarded-host": "evil.example"},
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			DomainName: "abc123.execute-api.ap-east-1.amazonaws.com",
			HTTP:       events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: method, Path: path, SourceIP: "127.0.0.1"},
		},
	}
	if claims != nil {
		ev.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
			JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: claims},
		}
	}
	return ev
}

func TestThroughLambdaAdapter(t *testing.T) {
	h := newHarness(t)
	rt := httpapi.NewRouter(httpapi.JWTCaller, h.logger)
	if err := NewHandler(h.svc).Mount(rt); err != nil {
		t.Fatal(err)
	}
	adapter := httpadapter.NewV2(rt)
	// The function's deadline bounds the request context, as in Lambda.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	call := func(ev events.APIGatewayV2HTTPRequest) reply {
		t.Helper()
		resp, err := adapter.ProxyWithContext(ctx, ev)
		if err != nil {
			t.Fatal(err)
		}
		hdr := http.Header{}
		for k, v := range resp.Headers {
			hdr.Set(k, v)
		}
		for k, vs := range resp.MultiValueHeaders {
			for _, v := range vs {
				hdr.Add(k, v)
			}
		}
		return decodeReply(t, resp.StatusCode, hdr, resp.Body)
	}
	cashier := map[string]string{"sub": "cashier-7", "scope": "openid preauth"}
	body := voucherBody("O-L1", "R-L1")

	rep := call(lambdaEvent(http.MethodPost, PathVouchers, body, cashier))
	value, _ := codeFor("O-L1", "R-L1")
	if rep.status != http.StatusOK || rep.str("code_value") != value || rep.str("status") != StatusCodeIssued {
		t.Fatalf("create: %d %s", rep.status, rep.body)
	}
	if u := h.gw.lastNotifyURL(); u != "https://abc123.execute-api.ap-east-1.amazonaws.com"+httpapi.NotifyPath {
		t.Errorf("notify_url %q", u)
	}
	if o := h.order("O-L1"); o.Owner != "cashier-7" || o.Status != orders.PreAuthCodeIssued {
		t.Errorf("stored owner %q status %s", o.Owner, o.Status)
	}
	rep = call(lambdaEvent(http.MethodPost, PathVouchers, body, cashier))
	if rep.status != http.StatusOK || rep.header.Get(httpapi.ReplayedHeader) != "true" || h.gw.creates() != 1 {
		t.Errorf("replay: %d %v calls %d", rep.status, rep.header, h.gw.creates())
	}
	if rep := call(lambdaEvent(http.MethodGet, "/v1/preauth/orders/O-L1", "", cashier)); rep.status != http.StatusOK || rep.str("status") != "CODE_ISSUED" {
		t.Errorf("get own: %d %s", rep.status, rep.body)
	}
	other := map[string]string{"sub": "cashier-8", "scope": "preauth"}
	if rep := call(lambdaEvent(http.MethodGet, "/v1/preauth/orders/O-L1", "", other)); rep.status != http.StatusNotFound {
		t.Errorf("get other's: %d %s", rep.status, rep.body)
	}
	noScope := map[string]string{"sub": "cashier-7", "scope": "openid"}
	if rep := call(lambdaEvent(http.MethodPost, PathVouchers, voucherBody("O-L2", "R-L2"), noScope)); rep.status != http.StatusForbidden {
		t.Errorf("without scope: %d %s", rep.status, rep.body)
	}
	if rep := call(lambdaEvent(http.MethodPost, PathVouchers, voucherBody("O-L2", "R-L2"), nil)); rep.status != http.StatusUnauthorized {
		t.Errorf("without JWT: %d %s", rep.status, rep.body)
	}
	if h.gw.creates() != 1 {
		t.Errorf("gateway calls %d, want 1", h.gw.creates())
	}
}

func TestReconcile(t *testing.T) {
	ctxFor := func(h *harness) context.Context { return httpapi.WithLogger(context.Background(), h.logger) }
	tests := []struct {
		name      string
		mode      string // voucher.create outcome before reconciling
		paid      bool   // the buyer paid meanwhile
		exists    bool
		status    alipay.FundAuthStatus
		wantState orders.RequestState
	}{
		{"created_but_unconfirmed_is_init", gw20000, false, true, alipay.FundAuthStatusInit, orders.RequestUnknown},
		{"timeout_after_creation_is_init", gwTimeout, false, true, alipay.FundAuthStatusInit, orders.RequestUnknown},
		{"paid_meanwhile_is_success", gwSystemError, true, true, alipay.FundAuthStatusSuccess, orders.RequestUnknown},
		{"never_reached_alipay_does_not_exist", gwHTTP500, false, false, "", orders.RequestUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.gw.setMode(tt.mode)
			if rep := h.create("c1", voucherBody("O-1", "R-1")); rep.status != http.StatusServiceUnavailable {
				t.Fatalf("create: %d %s", rep.status, rep.body)
			}
			if tt.paid {
				h.gw.freeze("O-1", "R-1")
			}
			got, err := h.svc.Reconcile(ctxFor(h), "O-1", "R-1")
			if err != nil {
				t.Fatal(err)
			}
			if got.Exists != tt.exists || got.Status != tt.status || got.State != tt.wantState {
				t.Errorf("got %+v", got)
			}
			if tt.exists && (got.Amount != alipay.MustAmount("100.00") || got.AuthNo == "" || got.OperationType != alipay.FundAuthOpFreeze) {
				t.Errorf("details %+v", got)
			}
			if n := h.gw.count(alipay.MethodFundAuthDetailQuery); n != 1 {
				t.Errorf("queries %d", n)
			}
			// Reconciling never marks the request issued: the query has no code.
			if r := h.order("O-1").Requests["R-1"]; r.State != orders.RequestUnknown || r.CodeValue != "" {
				t.Errorf("request changed to %+v", r)
			}
		})
	}
	t.Run("unknown_request_is_not_found_without_query", func(t *testing.T) {
		h := newHarness(t)
		if _, err := h.svc.Reconcile(ctxFor(h), "O-9", "R-9"); !errors.Is(err, orders.ErrNotFound) {
			t.Errorf("err %v", err)
		}
		if rep := h.create("c1", voucherBody("O-1", "R-1")); rep.status != 200 {
			t.Fatal(rep.body)
		}
		if _, err := h.svc.Reconcile(ctxFor(h), "O-1", "R-9"); !errors.Is(err, orders.ErrNotFound) {
			t.Errorf("err %v", err)
		}
		if n := h.gw.count(alipay.MethodFundAuthDetailQuery); n != 0 {
			t.Errorf("queries %d", n)
		}
	})
	t.Run("unavailable_query_is_an_unknown_outcome_error", func(t *testing.T) {
		h := newHarness(t)
		h.gw.setMode(gw20000)
		h.create("c1", voucherBody("O-1", "R-1"))
		h.gw.setQueryMode(gw20000)
		if _, err := h.svc.Reconcile(ctxFor(h), "O-1", "R-1"); !errors.Is(err, alipay.ErrUnknownOutcome) {
			t.Errorf("err %v", err)
		}
	})
	t.Run("bad_ids_are_field_errors", func(t *testing.T) {
		h := newHarness(t)
		_, err := h.svc.Reconcile(ctxFor(h), "O-1", "R 1")
		if fe, ok := alipay.AsFieldError(err); !ok || fe.Field != "out_request_no" {
			t.Errorf("err %v", err)
		}
	})
}

func TestKeyMaterialCheckFindsLeaks(t *testing.T) {
	pem := string(readKeyFile(t, "app_private_pkcs8.pem"))
	line := strings.Split(strings.TrimSpace(pem), "\n")[3]
	escaped, _ := json.Marshal(map[string]string{"error": "parse failed: " + pem})
	for name, text := range map[string]string{
		"pem_in_a_reply":       `{"x":"` + pem + `"}`,
		"json_escaped_in_logs": string(escaped),
		"one_pem_line":         "key line " + line,
		"bare_base64_key":      "k=" + strings.TrimSpace(string(readKeyFile(t, "app_private_pkcs1.txt")))[100:200],
		"aes_key":              "encrypt_key=" + strings.TrimSpace(string(readKeyFile(t, "aes_key.txt"))),
	} {
		t.Run(name, func(t *testing.T) {
			if !containsKeyMaterial(t, text) {
				t.Error("leak not detected")
			}
		})
	}
	if containsKeyMaterial(t, `{"out_order_no":"O-1","code_value":"https://qr.alipay.com/bax0123"}`) {
		t.Error("false positive")
	}
}
