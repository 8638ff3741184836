package notify

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
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

// gbkTrade is a GBK notification for tradeID with Chinese text in signed fields.
func gbkTrade(notifyID string) func(*env) []byte {
	return trade(notifyID, alipay.TradeStatusSuccess, "charset", "GBK", "subject", "押金 大乐透 中文", "body", "保护壳 + 贴膜")
}

func TestRejectsBadInput(t *testing.T) {
	big := bytes.Repeat([]byte("a"), httpapi.MaxBodyBytes+1)
	tests := []struct {
		name      string
		ct        string
		body      func(e *env) []byte
		status    int
		refreshes int32
	}{
		{name: "replay_onto_another_order_without_resigning", ct: formCT, body: func(e *env) []byte {
			return replaceParam(t, trade("N1", alipay.TradeStatusSuccess)(e), "out_trade_no", "AP-OTHER")
		}, status: 400, refreshes: 1},
		{name: "signed_by_app_key", ct: formCT, body: func(e *env) []byte {
			return signNotice(t, e.keys.appPriv, tradeParams(tradeID, "N1", alipay.TradeStatusSuccess, "9.00"))
		}, status: 400, refreshes: 1},
		{name: "sign_missing_is_400_without_refresh", ct: formCT, body: func(e *env) []byte {
			b := trade("N1", alipay.TradeStatusSuccess)(e)
			return []byte(strings.Join(slices.DeleteFunc(strings.Split(string(b), "&"), func(s string) bool { return strings.HasPrefix(s, "sign=") }), "&"))
		}, status: 400},
		{name: "sign_type_rsa_is_400_without_refresh", ct: formCT, body: func(e *env) []byte {
			return replaceParam(t, trade("N1", alipay.TradeStatusSuccess)(e), "sign_type", "RSA")
		}, status: 400},
		{name: "unknown_notification_type_is_400", ct: formCT, body: func(e *env) []byte {
			return e.sign(with(tradeParams(tradeID, "N1", alipay.TradeStatusSuccess, "9.00"), "notify_type", "trade_refund_sync"))
		}, status: 400},
		{name: "unknown_trade_status_is_400", ct: formCT, body: trade("N1", "TRADE_PENDING"), status: 400},
		{name: "verified_but_missing_out_trade_no_is_400", ct: formCT, body: trade("N1", alipay.TradeStatusSuccess, "out_trade_no", ""), status: 400},
		{name: "malformed_percent_escape_is_400", ct: formCT, body: func(e *env) []byte {
			return append(trade("N1", alipay.TradeStatusSuccess)(e), "&x=%zz"...)
		}, status: 400},
		{name: "empty_body_is_400", ct: formCT, body: func(*env) []byte { return nil }, status: 400},
		{name: "json_content_type_is_415", ct: "application/json", body: trade("N1", alipay.TradeStatusSuccess), status: 415},
		{name: "missing_content_type_is_415", ct: "", body: trade("N1", alipay.TradeStatusSuccess), status: 415},
		{name: "body_over_64_kib_is_413", ct: formCT, body: func(*env) []byte { return big }, status: 413},
		{name: "odd_form_content_type_is_accepted", ct: "Application/X-WWW-Form-URLEncoded;charset=GBK; foo", body: trade("N1", alipay.TradeStatusSuccess), status: 200},
		{name: "gbk_body_with_utf8_header_is_decoded_by_body_charset", ct: formCT, body: gbkTrade("N1"), status: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			seedAppPay(t, e.store, tradeID, "9.00")
			seedAppPay(t, e.store, "AP-OTHER", "9.00")
			before := []*orders.AppPayOrder{appPayOrder(t, e.store, tradeID), appPayOrder(t, e.store, "AP-OTHER")}
			code, _ := e.post(tt.ct, tt.body(e))
			if code != tt.status {
				t.Fatalf("status %d, want %d; log %v", code, tt.status, e.lastLine())
			}
			if got := e.creds.refreshes.Load(); got != tt.refreshes {
				t.Errorf("%d credential refreshes, want %d", got, tt.refreshes)
			}
			after := []*orders.AppPayOrder{appPayOrder(t, e.store, tradeID), appPayOrder(t, e.store, "AP-OTHER")}
			if changed := !reflect.DeepEqual(before, after); changed != (tt.status == 200) {
				t.Errorf("state changed: %v, want %v", changed, tt.status == 200)
			}
			if n := len(notifyLines(t, e.logs)); n != 1 {
				t.Errorf("%d notification log lines, want 1", n)
			}
		})
	}
}

func TestHandleWithoutHTTP(t *testing.T) {
	e := newEnv(t)
	seedAppPay(t, e.store, tradeID, "9.00")
	ctx := httpapi.WithLogger(context.Background(), slog.New(slog.NewJSONHandler(e.logs, nil)))
	tests := []struct {
		name   string
		ct     string
		body   []byte
		status int
		reply  string
	}{
		{name: "not_form_is_415", ct: "text/plain", body: []byte("a=b"), status: 415, reply: "fail"},
		{name: "oversized_is_413", ct: formCT, body: bytes.Repeat([]byte("a"), httpapi.MaxBodyBytes+1), status: 413, reply: "fail"},
		{name: "genuine_is_success", ct: formCT, body: trade("N1", alipay.TradeStatusSuccess)(e), status: 200, reply: "success"},
		{name: "redelivery_is_success", ct: formCT, body: trade("N1", alipay.TradeStatusSuccess)(e), status: 200, reply: "success"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, reply := Reply(e.svc.Process(ctx, tt.ct, tt.body))
			if status != tt.status || reply != tt.reply {
				t.Fatalf("got %d %q, want %d %q", status, reply, tt.status, tt.reply)
			}
		})
	}
	if o := appPayOrder(t, e.store, tradeID); !slices.Equal(o.NotifyIDs, []string{"N1"}) {
		t.Errorf("receipts %v", o.NotifyIDs)
	}
}

func TestDependencyFailuresReplyFailAndRecover(t *testing.T) {
	t.Run("store_unavailable_is_503_then_redelivery_applies_once", func(t *testing.T) {
		e := newEnv(t)
		seedAppPay(t, e.store, tradeID, "9.00")
		body := trade("N1", alipay.TradeStatusSuccess)(e)
		e.store.down.Store(true)
		if code, _ := e.post(formCT, body); code != 503 {
			t.Fatalf("status %d with the store down, want 503", code)
		}
		e.store.down.Store(false)
		e.mustSucceed(body)
		e.mustSucceed(body)
		if o := appPayOrder(t, e.store, tradeID); o.Status != orders.TradeSuccess || !slices.Equal(o.NotifyIDs, []string{"N1"}) {
			t.Errorf("order %s receipts %v", o.Status, o.NotifyIDs)
		}
		if line := e.lastLine(); line["result"] != string(orders.Duplicate) {
			t.Errorf("second redelivery result %v", line["result"])
		}
	})
	t.Run("write_landed_but_reply_lost_is_503_then_duplicate", func(t *testing.T) {
		e := newEnv(t)
		seedPreAuth(t, e.store, preAuthID, "VR-1", "100.00", testSeller)
		body := fund("F1", "OP1", "VR-1", alipay.FundAuthOpFreeze, alipay.FundAuthStatusSuccess, "100.00", 10000, 0, 0)(e)
		e.store.loseReply.Store(true)
		if code, _ := e.post(formCT, body); code != 503 {
			t.Fatalf("status %d with the reply lost, want 503", code)
		}
		e.store.loseReply.Store(false)
		e.mustSucceed(body)
		if line := e.lastLine(); line["result"] != string(orders.Duplicate) {
			t.Errorf("redelivery result %v, want DUPLICATE", line["result"])
		}
		if o := preAuthOrder(t, e.store, preAuthID); o.Status != orders.PreAuthAuthorized || !slices.Equal(o.NotifyIDs, []string{"F1"}) {
			t.Errorf("order %s receipts %v", o.Status, o.NotifyIDs)
		}
	})
	t.Run("store_rejecting_the_notice_is_409", func(t *testing.T) {
		e := newEnv(t)
		seedAppPay(t, e.store, tradeID, "9.00")
		e.store.applyErr = fmt.Errorf("%w: refund_fee exceeds total_amount", orders.ErrInvalid)
		if code, _ := e.post(formCT, trade("N1", alipay.TradeStatusSuccess)(e)); code != 409 {
			t.Fatalf("status %d, want 409", code)
		}
	})
	t.Run("other_store_error_is_503", func(t *testing.T) {
		e := newEnv(t)
		seedAppPay(t, e.store, tradeID, "9.00")
		e.store.applyErr = fmt.Errorf("%w: 100 fund operations", orders.ErrLimit)
		if code, _ := e.post(formCT, trade("N1", alipay.TradeStatusSuccess)(e)); code != 503 {
			t.Fatalf("status %d, want 503", code)
		}
	})
	credErr := &credentials.Error{Kind: credentials.ErrUnreachable, Source: `secret "prod/alipay"`, Err: context.DeadlineExceeded}
	t.Run("credentials_unavailable_is_503_then_success", func(t *testing.T) {
		e := newEnv(t)
		seedAppPay(t, e.store, tradeID, "9.00")
		good := newCreds(e.keys, e.keys.alipayPub)
		var broken atomic.Bool
		broken.Store(true)
		e.creds.get = func() (*alipay.Credentials, error) {
			if broken.Load() {
				return nil, credErr
			}
			return good, nil
		}
		body := trade("N1", alipay.TradeStatusSuccess)(e)
		if code, _ := e.post(formCT, body); code != 503 {
			t.Fatalf("status %d, want 503", code)
		}
		if n := e.store.applies.Load(); n != 0 {
			t.Errorf("%d applies without verified credentials", n)
		}
		broken.Store(false)
		e.mustSucceed(body)
	})
	t.Run("refresh_failure_after_bad_signature_is_503", func(t *testing.T) {
		e := newEnv(t)
		seedAppPay(t, e.store, tradeID, "9.00")
		old := newCreds(e.keys, e.keys.appPub)
		e.creds.get = func() (*alipay.Credentials, error) { return old, nil }
		e.creds.refresh = func() (*alipay.Credentials, error) { return nil, credErr }
		if code, _ := e.post(formCT, trade("N1", alipay.TradeStatusSuccess)(e)); code != 503 {
			t.Fatalf("status %d, want 503", code)
		}
	})
	t.Run("credentials_without_alipay_key_are_503", func(t *testing.T) {
		e := newEnv(t)
		seedAppPay(t, e.store, tradeID, "9.00")
		e.creds.get = func() (*alipay.Credentials, error) { return newCreds(e.keys, nil), nil }
		if code, _ := e.post(formCT, trade("N1", alipay.TradeStatusSuccess)(e)); code != 503 {
			t.Fatalf("status %d, want 503", code)
		}
	})
}

func TestKeyRotation(t *testing.T) {
	t.Run("refresh_brings_the_new_alipay_key", func(t *testing.T) {
		e := newEnv(t)
		seedAppPay(t, e.store, tradeID, "9.00")
		old, fresh := newCreds(e.keys, e.keys.appPub), newCreds(e.keys, e.keys.alipayPub)
		e.creds.get = func() (*alipay.Credentials, error) { return old, nil }
		e.creds.refresh = func() (*alipay.Credentials, error) { return fresh, nil }
		e.mustSucceed(trade("N1", alipay.TradeStatusSuccess)(e))
		if n := e.creds.refreshes.Load(); n != 1 {
			t.Errorf("%d refreshes, want 1", n)
		}
	})
	t.Run("unknown_alipay_cert_sn_refreshes_in_cert_mode", func(t *testing.T) {
		e := newEnv(t)
		seedAppPay(t, e.store, tradeID, "9.00")
		certCreds := func(sn string, k *alipay.PublicKey) *alipay.Credentials {
			return &alipay.Credentials{AppID: testAppID, PrivateKey: e.keys.appPriv, AppCertSN: "app-sn",
				AlipayRootCertSN: "root-sn", AlipayCerts: map[string]*alipay.PublicKey{sn: k}}
		}
		old, fresh := certCreds("sn-old", e.keys.appPub), certCreds("sn-new", e.keys.alipayPub)
		e.creds.get = func() (*alipay.Credentials, error) { return old, nil }
		e.creds.refresh = func() (*alipay.Credentials, error) { return fresh, nil }
		e.mustSucceed(trade("N1", alipay.TradeStatusSuccess, "alipay_cert_sn", "sn-new")(e))
		if n := e.creds.refreshes.Load(); n != 1 {
			t.Errorf("%d refreshes, want 1", n)
		}
	})
	t.Run("real_cache_reloads_the_source_once", func(t *testing.T) {
		e := newEnv(t)
		seedAppPay(t, e.store, tradeID, "9.00")
		src := &rotatingSource{versions: []*alipay.Credentials{newCreds(e.keys, e.keys.appPub), newCreds(e.keys, e.keys.alipayPub)}}
		cache := credentials.NewCache(src, credentials.WithLogger(slog.New(slog.NewJSONHandler(e.logs, nil))))
		e.svc.creds = cache
		e.mustSucceed(trade("N1", alipay.TradeStatusSuccess)(e))
		// A forged notice right after finds the refresh rate-limited: no further load.
		code, _ := e.post(formCT, signNotice(t, e.keys.appPriv, tradeParams(tradeID, "N2", alipay.TradeStatusFinished, "9.00")))
		if code != 400 {
			t.Errorf("forged notice after rotation: status %d, want 400", code)
		}
		if n := src.loads.Load(); n != 2 {
			t.Errorf("%d source loads, want 2", n)
		}
	})
}

// rotatingSource returns its versions in turn, then the last one forever.
type rotatingSource struct {
	versions []*alipay.Credentials
	loads    atomic.Int32
}

func (s *rotatingSource) Load(context.Context) (credentials.Loaded, error) {
	i := int(s.loads.Add(1)) - 1
	i = min(i, len(s.versions)-1)
	return credentials.Loaded{Credentials: s.versions[i], Version: fmt.Sprintf("v%d", i+1)}, nil
}

func TestLambdaAdapterBase64Body(t *testing.T) {
	tests := []struct {
		name   string
		body   func(e *env) []byte
		status int
	}{
		{name: "gbk_body_base64_encoded_is_success", body: gbkTrade("N1"), status: 200},
		{name: "utf8_body_base64_encoded_is_success", body: trade("N1", alipay.TradeStatusSuccess, "subject", "大乐透 😀"), status: 200},
		{name: "tampered_body_base64_encoded_is_fail", body: func(e *env) []byte {
			return replaceParam(t, gbkTrade("N1")(e), "total_amount", "0.01")
		}, status: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			seedAppPay(t, e.store, tradeID, "9.00")
			ev := events.APIGatewayV2HTTPRequest{
				Version: "2.0", RawPath: httpapi.NotifyPath,
				Headers:         map[string]string{"content-type": "application/x-www-form-urlencoded; charset=utf-8"},
				Body:            base64.StdEncoding.EncodeToString(tt.body(e)),
				IsBase64Encoded: true,
				RequestContext: events.APIGatewayV2HTTPRequestContext{
					DomainName: "abc.execute-api.ap-east-1.amazonaws.com",
					HTTP:       events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: http.MethodPost, Path: httpapi.NotifyPath},
				},
			}
			resp, err := httpadapter.NewV2(e.router).ProxyWithContext(context.Background(), ev)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.status || resp.IsBase64Encoded {
				t.Fatalf("status %d base64 %v, want %d; log %v", resp.StatusCode, resp.IsBase64Encoded, tt.status, e.lastLine())
			}
			checkReply(t, resp.StatusCode, resp.Headers["Content-Type"], resp.Body)
			o := appPayOrder(t, e.store, tradeID)
			if applied := o.Status == orders.TradeSuccess; applied != (tt.status == 200) {
				t.Errorf("order %s after status %d", o.Status, resp.StatusCode)
			}
		})
	}
}

func TestConcurrentRedeliveriesApplyOnce(t *testing.T) {
	e := newEnv(t)
	seedAppPay(t, e.store, tradeID, "9.00")
	body := trade("N1", alipay.TradeStatusSuccess)(e)
	const n = 8
	var wg sync.WaitGroup
	codes := make([]int, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i], _ = Reply(e.svc.Process(context.Background(), formCT, body))
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("concurrent deliveries did not finish")
	}
	for i, c := range codes {
		if c != 200 {
			t.Errorf("delivery %d: status %d", i, c)
		}
	}
	if o := appPayOrder(t, e.store, tradeID); !slices.Equal(o.NotifyIDs, []string{"N1"}) {
		t.Errorf("receipts %v, want [N1]", o.NotifyIDs)
	}
}

func TestLogsOneLinePerNotification(t *testing.T) {
	e := newEnv(t)
	seedAppPay(t, e.store, tradeID, "9.00")
	genuine := trade("N1", alipay.TradeStatusSuccess)(e)
	forged := signNotice(t, e.keys.appPriv, tradeParams(tradeID, "N9", alipay.TradeStatusSuccess, "9.00"))
	e.mustSucceed(genuine)
	if code, _ := e.post(formCT, forged); code != 400 {
		t.Fatalf("forged: status %d", code)
	}
	lines := notifyLines(t, e.logs)
	if len(lines) != 2 {
		t.Fatalf("%d notification lines, want 2", len(lines))
	}
	want := []map[string]any{
		{"level": "INFO", "kind": "trade_status_sync", "notify_id": "N1", "order_key": "out_trade_no", "order_id": tradeID, "result": "APPLIED", "status": 200.0, "verified": true},
		{"level": "WARN", "kind": "trade_status_sync", "notify_id": "N9", "order_key": "out_trade_no", "order_id": tradeID, "status": 400.0, "verified": false, "reason": "signature does not verify"},
	}
	for i, w := range want {
		for k, v := range w {
			if lines[i][k] != v {
				t.Errorf("line %d: %s = %v, want %v", i+1, k, lines[i][k], v)
			}
		}
	}
	logs := e.logs.String()
	for _, body := range [][]byte{genuine, forged} {
		n, err := alipay.ParseNotification(body)
		if err != nil {
			t.Fatal(err)
		}
		if sig := n.Params["sign"]; strings.Contains(logs, sig[:32]) {
			t.Error("logs contain a notification's sign")
		}
	}
	if strings.Contains(logs, "大乐透") {
		t.Error("logs contain notification body fields")
	}
}

func TestMountRegistersTheNotifyRoute(t *testing.T) {
	rt := httpapi.NewRouter(httpapi.JWTCaller, slog.New(slog.NewJSONHandler(&testkeys.Buffer{}, nil)))
	if err := NewHandler(NewService(orders.NewMemoryStore(), credentials.Static{})).Mount(rt); err != nil {
		t.Fatal(err)
	}
	got := rt.Mounted()
	if len(got) != 1 || got[0].Method != http.MethodPost || got[0].Path != httpapi.NotifyPath || got[0].Auth {
		t.Fatalf("mounted %+v", got)
	}
	w := httptest.NewRecorder()
	rt.ServeHTTP(w, httptest.NewRequest(http.MethodGet, httpapi.NotifyPath, nil))
	if w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != http.MethodPost {
		t.Errorf("GET: status %d Allow %q, want 405 POST", w.Code, w.Header().Get("Allow"))
	}
}

func TestLeakCheckDetectsKeyMaterial(t *testing.T) {
	pem := testkeys.Read(t, "keys/alipay_private_pkcs1.pem")
	lines := strings.Split(strings.TrimSpace(string(pem)), "\n")
	tests := []struct {
		name string
		text string
		leak bool
	}{
		{name: "pem_body_line_is_a_leak", text: `{"error":"` + lines[len(lines)/2] + `"}`, leak: true},
		{name: "one_line_base64_fragment_is_a_leak", text: "x" + strings.Join(lines[3:5], "")[5:60], leak: true},
		{name: "pem_header_is_a_leak", text: lines[0], leak: true},
		{name: "ordinary_log_is_clean", text: `{"msg":"notification","notify_id":"N1","status":200}`, leak: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := leaksKey(t, tt.text); got != tt.leak {
				t.Errorf("leaksKey = %v, want %v", got, tt.leak)
			}
		})
	}
}
