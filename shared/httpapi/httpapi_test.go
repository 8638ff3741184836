package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"
)

// echoCaller replies with the caller and path parameters it saw.
func echoCaller(param string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := CallerFrom(r.Context())
		WriteJSON(w, http.StatusOK, map[string]any{"caller": c.ID, "param": r.PathValue(param)})
	})
}

func newTestRouter(t *testing.T, auth Authenticator, logs *bytes.Buffer) *Router {
	t.Helper()
	rt := NewRouter(auth, slog.New(slog.NewJSONHandler(logs, nil)))
	for _, r := range Routes {
		param := ""
		if i := strings.Index(r.Path, "{"); i >= 0 {
			param = strings.Trim(r.Path[i:], "{}")
		}
		if err := rt.Handle(r.Method, r.Path, echoCaller(param)); err != nil {
			t.Fatal(err)
		}
	}
	return rt
}

func decodeError(t *testing.T, body []byte) Error {
	t.Helper()
	var e struct{ Error Error }
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("not an error reply: %s", body)
	}
	return e.Error
}

func TestRouterLocal(t *testing.T) {
	var logs bytes.Buffer
	rt := newTestRouter(t, LocalCaller, &logs)
	tests := []struct {
		name, method, path, caller string
		status                     int
		code, allow, param         string
	}{
		{name: "known_route_dispatches_with_path_param", method: "GET", path: "/v1/app-pay/orders/T1", status: 200, param: "T1"},
		{name: "x_caller_names_the_local_caller", method: "GET", path: "/v1/preauth/orders/O1", caller: "cashier-1", status: 200, param: "O1"},
		{name: "unknown_path_is_json_404", method: "GET", path: "/v1/nope", status: 404, code: CodeNotFound},
		{name: "extra_segment_is_404", method: "GET", path: "/v1/app-pay/orders/T1/x", status: 404, code: CodeNotFound},
		{name: "wrong_method_is_405_with_allow", method: "DELETE", path: "/v1/notify/alipay", status: 405, code: CodeMethodNotAllowed, allow: "POST"},
		{name: "wrong_method_on_collection_is_405", method: "GET", path: "/v1/app-pay/orders", status: 405, code: CodeMethodNotAllowed, allow: "POST"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, tt.path, nil)
			if tt.caller != "" {
				req.Header.Set(LocalCallerHeader, tt.caller)
			}
			w := httptest.NewRecorder()
			rt.ServeHTTP(w, req)
			if w.Code != tt.status {
				t.Fatalf("status %d want %d: %s", w.Code, tt.status, w.Body)
			}
			if tt.code != "" {
				if e := decodeError(t, w.Body.Bytes()); e.Code != tt.code {
					t.Errorf("code %q want %q", e.Code, tt.code)
				}
			}
			if got := w.Header().Get("Allow"); got != tt.allow {
				t.Errorf("Allow %q want %q", got, tt.allow)
			}
			if tt.param != "" {
				var got map[string]string
				_ = json.Unmarshal(w.Body.Bytes(), &got)
				want := tt.caller
				if want == "" {
					want = "local-dev"
				}
				if got["param"] != tt.param || got["caller"] != want {
					t.Errorf("got %v", got)
				}
			}
		})
	}
	if !strings.Contains(logs.String(), `"request_id"`) {
		t.Errorf("request log lines carry no request_id: %s", logs.String())
	}
}

func TestHandleRejectsRoutesOutsideTheTable(t *testing.T) {
	rt := NewRouter(LocalCaller, nil)
	if err := rt.Handle("POST", "/v1/other", echoCaller("")); err == nil {
		t.Fatal("a route outside the table was accepted")
	}
}

func TestPanicBecomesOpaque500(t *testing.T) {
	var logs bytes.Buffer
	rt := NewRouter(LocalCaller, slog.New(slog.NewJSONHandler(&logs, nil)))
	_ = rt.Handle("POST", NotifyPath, http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("secret internals") }))
	w := httptest.NewRecorder()
	rt.ServeHTTP(w, httptest.NewRequest("POST", NotifyPath, nil))
	if w.Code != 500 || strings.Contains(w.Body.String(), "secret internals") {
		t.Fatalf("status %d body %s", w.Code, w.Body)
	}
	if !strings.Contains(logs.String(), "panic in handler") {
		t.Error("panic not logged")
	}
}

// lambdaEvent builds the payload 2.0 event API Gateway sends for a JWT-authorized route.
func lambdaEvent(method, path string, claims map[string]string, headers map[string]string) events.APIGatewayV2HTTPRequest {
	ev := events.APIGatewayV2HTTPRequest{
		Version: "2.0", RawPath: path, Headers: headers,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			DomainName: "abc.execute-api.us-east-1.amazonaws.com",
			HTTP:       events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: method, Path: path},
		},
	}
	if claims != nil {
		ev.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
			JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: claims},
		}
	}
	return ev
}

func TestJWTCallerInLambda(t *testing.T) {
	var logs bytes.Buffer
	adapter := httpadapter.NewV2(newTestRouter(t, JWTCaller, &logs))
	tests := []struct {
		name    string
		path    string
		claims  map[string]string
		headers map[string]string
		status  int
		caller  string
	}{
		{name: "sub_claim_is_the_caller", path: "/v1/app-pay/orders/T1", claims: map[string]string{"sub": "user-1"}, status: 200, caller: "user-1"},
		{name: "x_caller_header_has_no_effect", path: "/v1/app-pay/orders/T1", claims: map[string]string{"sub": "user-1"},
			headers: map[string]string{"x-caller": "someone-else"}, status: 200, caller: "user-1"},
		{name: "x_caller_without_jwt_is_401", path: "/v1/app-pay/orders/T1", headers: map[string]string{"x-caller": "user-1"}, status: 401},
		{name: "preauth_without_scope_is_403", path: "/v1/preauth/orders/O1", claims: map[string]string{"sub": "c1", "scope": "orders"}, status: 403},
		{name: "preauth_with_scope_passes", path: "/v1/preauth/orders/O1", claims: map[string]string{"sub": "c1", "scope": "orders preauth"}, status: 200, caller: "c1"},
		{name: "empty_sub_is_401", path: "/v1/app-pay/orders/T1", claims: map[string]string{"sub": " "}, status: 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := adapter.ProxyWithContext(context.Background(), lambdaEvent("GET", tt.path, tt.claims, tt.headers))
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d want %d: %s", resp.StatusCode, tt.status, resp.Body)
			}
			if tt.caller != "" && !strings.Contains(resp.Body, `"caller":"`+tt.caller+`"`) {
				t.Errorf("body %s, want caller %s", resp.Body, tt.caller)
			}
		})
	}
}

func TestBodyLimits(t *testing.T) {
	tests := []struct {
		name   string
		ct     string
		body   string
		status int
	}{
		{name: "json_accepted", ct: "application/json", body: `{}`, status: 0},
		{name: "json_with_utf8_charset_accepted", ct: "application/json; charset=UTF-8", body: `{}`, status: 0},
		{name: "form_is_415", ct: "application/x-www-form-urlencoded", body: `a=b`, status: 415},
		{name: "missing_content_type_is_415", ct: "", body: `{}`, status: 415},
		{name: "over_64k_is_413", ct: "application/json", body: strings.Repeat("x", MaxBodyBytes+1), status: 413},
		{name: "exactly_64k_accepted", ct: "application/json", body: strings.Repeat("x", MaxBodyBytes), status: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/", strings.NewReader(tt.body))
			if tt.ct != "" {
				r.Header.Set("Content-Type", tt.ct)
			}
			b, e := ReadJSON(r)
			switch {
			case tt.status == 0 && e != nil:
				t.Fatalf("unexpected error %v", e)
			case tt.status == 0 && len(b) != len(tt.body):
				t.Fatalf("read %d bytes want %d", len(b), len(tt.body))
			case tt.status != 0 && (e == nil || e.Status != tt.status):
				t.Fatalf("got %v want status %d", e, tt.status)
			}
		})
	}
}

func TestIsForm(t *testing.T) {
	for ct, want := range map[string]bool{
		"application/x-www-form-urlencoded":                 true,
		"application/x-www-form-urlencoded; charset=utf-8":  true,
		"application/x-www-form-urlencoded;charset=GBK;;x":  true,
		"APPLICATION/X-WWW-FORM-URLENCODED":                 true,
		"application/json":                                  false,
		"":                                                  false,
		"multipart/form-data; boundary=application/x-www-f": false,
	} {
		if IsForm(ct) != want {
			t.Errorf("IsForm(%q) = %v", ct, !want)
		}
	}
}

func TestErrorShapeAndRetryAfter(t *testing.T) {
	w := httptest.NewRecorder()
	WriteError(w, AlipayUnavailable("Alipay did not answer in time"))
	if w.Code != 503 || w.Header().Get("Retry-After") == "" {
		t.Fatalf("status %d Retry-After %q", w.Code, w.Header().Get("Retry-After"))
	}
	var got map[string]map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got["error"]["code"] != CodeAlipayUnavailable || got["error"]["message"] == "" {
		t.Errorf("body %s", w.Body)
	}
	if _, ok := got["error"]["field"]; ok {
		t.Errorf("empty field must be omitted: %s", w.Body)
	}
}

func TestNotifyURL(t *testing.T) {
	local := httptest.NewRequest("POST", "http://127.0.0.1:3000/v1/app-pay/orders", nil)
	if got := NotifyURL(local, ""); got != "http://127.0.0.1:3000/v1/notify/alipay" {
		t.Errorf("local: %s", got)
	}
	if got := NotifyURL(local, "https://pay.example.com/v1/notify/alipay"); got != "https://pay.example.com/v1/notify/alipay" {
		t.Errorf("configured: %s", got)
	}
	// In Lambda the notify_url is API Gateway's domain over https, whatever the client's
	// headers say.
	const want = "https://abc.execute-api.us-east-1.amazonaws.com/v1/notify/alipay"
	for _, tc := range []struct {
		name    string
		headers map[string]string
	}{
		{"plain_request", nil},
		{"forged_forwarded_proto_http", map[string]string{"x-forwarded-proto": "http"}},
		{"forged_host", map[string]string{"host": "evil.example", "x-forwarded-host": "evil.example"}},
		{"forged_host_and_proto", map[string]string{"host": "evil.example", "x-forwarded-proto": "http", "forwarded": "proto=http;host=evil.example"}},
	} {
		t.Run("lambda_"+tc.name, func(t *testing.T) {
			var seen string
			rt := NewRouter(JWTCaller, nil)
			_ = rt.Handle("POST", "/v1/app-pay/orders", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				seen = NotifyURL(r, "")
				w.WriteHeader(http.StatusNoContent)
			}))
			ev := lambdaEvent("POST", "/v1/app-pay/orders", map[string]string{"sub": "u"}, tc.headers)
			if _, err := httpadapter.NewV2(rt).ProxyWithContext(context.Background(), ev); err != nil {
				t.Fatal(err)
			}
			if seen != want {
				t.Errorf("lambda notify_url %q, want %q", seen, want)
			}
		})
	}
	// The local server has no gateway context: Host over http, and a forwarded proto
	// does not turn it into https.
	fwd := httptest.NewRequest("POST", "http://127.0.0.1:3000/v1/app-pay/orders", nil)
	fwd.Header.Set("X-Forwarded-Proto", "https")
	if got := NotifyURL(fwd, ""); got != "http://127.0.0.1:3000/v1/notify/alipay" {
		t.Errorf("local with X-Forwarded-Proto: %s", got)
	}
}

func TestWriteJSONKeepsAmpersandsLiteral(t *testing.T) {
	w := httptest.NewRecorder()
	WriteJSON(w, 200, map[string]string{"order_str": "a=1&b=2"})
	if got := w.Body.String(); got != `{"order_str":"a=1&b=2"}` {
		t.Fatalf("body %q", got)
	}
}

func TestLocalCallerScopes(t *testing.T) {
	for _, tc := range []struct {
		name   string
		header []string // nil: absent
		want   []string
	}{
		{"absent_header_is_every_scope", nil, AllScopes},
		{"listed_scopes", []string{"orders  preauth"}, []string{"orders", "preauth"}},
		{"empty_header_is_no_scope", []string{""}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			for _, v := range tc.header {
				r.Header.Add(LocalScopesHeader, v)
			}
			c, ok := LocalCaller(r)
			if !ok || c.ID != "local-dev" || strings.Join(c.Scopes, " ") != strings.Join(tc.want, " ") {
				t.Errorf("caller %+v %v, want scopes %v", c, ok, tc.want)
			}
		})
	}
	// The route table's server-pricing scope applies only once the router requires it.
	for _, serverPricing := range []bool{false, true} {
		rt := NewRouter(LocalCaller, nil)
		_ = rt.Handle("POST", "/v1/app-pay/orders", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }))
		if serverPricing {
			rt.RequireServerPricing()
		}
		r := httptest.NewRequest("POST", "/v1/app-pay/orders", nil)
		r.Header.Set(LocalScopesHeader, "preauth")
		w := httptest.NewRecorder()
		rt.ServeHTTP(w, r)
		if want := map[bool]int{false: 204, true: 403}[serverPricing]; w.Code != want {
			t.Errorf("server pricing %v: status %d, want %d", serverPricing, w.Code, want)
		}
	}
}
