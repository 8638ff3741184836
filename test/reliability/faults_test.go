package reliability

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
	"github.com/alipay-serverless/alipay-serverless/shared/credentials"
	"github.com/alipay-serverless/alipay-serverless/shared/httpapi"
	"github.com/alipay-serverless/alipay-serverless/shared/orders"
	"github.com/alipay-serverless/alipay-serverless/test/harness/smtest"
)

// TestFaultStoreOutageDuringNotificationStream: orders are paid one after another and
// the simulator delivers each notice to the running server with Alipay-like resends;
// dynalite is stopped in the middle of the stream and restarted later (several times
// under soak). Every delivery that hits the outage is answered 503 "fail", the
// resends bring every order to its final state, and no effect is lost or applied twice.
func TestFaultStoreOutageDuringNotificationStream(t *testing.T) {
	s := newStack(t, stackOptions{dynalite: true, retrySchedule: []time.Duration{
		100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond,
		1600 * time.Millisecond, 3200 * time.Millisecond, 6400 * time.Millisecond,
	}})
	ctx := t.Context()
	n := scale(100, 1000)
	outages := [][2]int{{n * 35 / 100, n * 70 / 100}}
	if soak() {
		outages = [][2]int{{n / 10, n / 5}, {n * 45 / 100, n * 55 / 100}, {n * 8 / 10, n * 9 / 10}}
	}
	type order struct {
		id, orderStr, tradeNo string
		finished              bool
	}
	ords := make([]*order, n)
	for i := range ords {
		o := &order{id: fmt.Sprintf("OUT_%04d", i), finished: i%3 == 0}
		o.orderStr = s.createAppPay(t, map[string]any{"out_trade_no": o.id, "total_amount": alipay.Amount(500 + i).String(),
			"subject": "停机测试 " + strconv.Itoa(i), "product_code": alipay.ProductCodeQuickMSecurityPay})
		ords[i] = o
	}

	var probes []string // what the API answered while the store was down
	down := false
	start := time.Now()
	for i, o := range ords {
		for _, out := range outages {
			switch i {
			case out[0]:
				s.Dyn.Stop()
				down = true
				r := s.get(t, "/v1/app-pay/orders/"+ords[0].id)
				probes = append(probes, fmt.Sprintf("GET %d %s retry-after=%s", r.Status, r.ErrorCode(), r.Header.Get("Retry-After")))
				if r.Status != http.StatusServiceUnavailable || r.ErrorCode() != httpapi.CodeDependencyUnavailable || r.Header.Get("Retry-After") == "" {
					t.Errorf("GET during the outage: %d %s", r.Status, r.Body)
				}
				r = s.post(t, "/v1/app-pay/orders", map[string]any{"out_trade_no": fmt.Sprintf("OUT_DOWN_%d", i), "total_amount": "1.00",
					"subject": "停机", "product_code": alipay.ProductCodeQuickMSecurityPay})
				probes = append(probes, fmt.Sprintf("POST %d %s", r.Status, r.ErrorCode()))
				if r.Status != http.StatusServiceUnavailable || r.ErrorCode() != httpapi.CodeDependencyUnavailable {
					t.Errorf("create during the outage: %d %s", r.Status, r.Body)
				}
			case out[1]:
				s.Dyn.Restart()
				down = false
			}
		}
		var paid payResult
		s.control(t, "/sandbox/orders/pay", map[string]string{"order_str": o.orderStr}, &paid)
		o.tradeNo = paid.TradeNo
		if o.finished { // the refund window closes at once: a second notice races the first
			s.control(t, "/sandbox/orders/finish", map[string]string{"out_trade_no": o.id}, nil)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if down {
		s.Dyn.Restart()
	}
	streamed := time.Since(start)
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := s.Sim.WaitIdle(wctx); err != nil {
		t.Fatal(err)
	}

	// Every notice acknowledged in the end; every refused attempt was a 503 "fail".
	type tally struct {
		attempts int
		acked    bool
	}
	per := map[string]*tally{}
	failedAttempts, notices := 0, 0
	for _, d := range s.Sim.Deliveries() {
		tl := per[d.NotifyID]
		if tl == nil {
			tl = &tally{}
			per[d.NotifyID] = tl
			notices++
		}
		tl.attempts++
		if d.Acked {
			tl.acked = true
			continue
		}
		failedAttempts++
		if d.StatusCode != http.StatusServiceUnavailable || d.Reply != alipay.NotifyFailReply {
			t.Errorf("notice %s attempt %d: %d %q %s, want 503 fail", d.NotifyID, d.Attempt, d.StatusCode, d.Reply, d.Error)
		}
	}
	affected, maxAttempts := 0, 0
	for id, tl := range per {
		if !tl.acked {
			t.Errorf("notice %s never acknowledged after %d attempts", id, tl.attempts)
		}
		if tl.attempts > 1 {
			affected++
		}
		maxAttempts = max(maxAttempts, tl.attempts)
	}
	wantNotices := n
	for _, o := range ords {
		if o.finished {
			wantNotices++
		}
	}
	if notices != wantNotices {
		t.Errorf("%d notices delivered, want %d", notices, wantNotices)
	}
	if affected == 0 {
		t.Error("no delivery was refused during the outage")
	}

	// Lost effects: an order not in its final state. Double-applied: a notice applied
	// more than once (log results, store receipts).
	lost := 0
	for _, o := range ords {
		want := orders.TradeSuccess
		if o.finished {
			want = orders.TradeFinished
		}
		v, err := s.Store.GetAppPayOrder(ctx, o.id)
		if err != nil {
			t.Fatalf("read %s: %v", o.id, err)
		}
		if v.Status != want || v.TradeNo != o.tradeNo {
			lost++
			t.Errorf("%s: %s %s, want %s %s", o.id, v.Status, v.TradeNo, want, o.tradeNo)
		}
		if dup := duplicates(v.NotifyIDs); len(dup) > 0 {
			t.Errorf("%s: receipts recorded twice: %v", o.id, dup)
		}
	}
	doubled := 0
	results := notifyResults(t, s.Log.String())
	applied, duplicate, stale := 0, 0, 0
	for id := range per {
		r := results[id]
		if r["APPLIED"] > 1 {
			doubled++
			t.Errorf("notice %s applied %d times", id, r["APPLIED"])
		}
		applied += r["APPLIED"]
		duplicate += r["DUPLICATE"]
		stale += r["STALE"]
	}
	t.Logf("%d orders, %d notices, %d outage(s) over a %s stream; API during outage: %v", n, notices, len(outages), streamed.Round(time.Millisecond), probes)
	t.Logf("%d notices hit the outage (%d refused attempts, all 503 fail; max %d attempts for one notice); all acknowledged; results: applied %d, duplicate %d, stale %d; lost effects %d, double-applied %d",
		affected, failedAttempts, maxAttempts, applied, duplicate, stale, lost, doubled)
}

// TestFaultSecretsManagerUnreachableAtColdStart: with Secrets Manager refusing
// connections at cold start, every route that needs credentials answers 503
// DEPENDENCY_UNAVAILABLE (notify: 503 "fail") and nothing is created; once the service
// answers on the same address, the same requests succeed without a restart.
func TestFaultSecretsManagerUnreachableAtColdStart(t *testing.T) {
	k := loadKeys(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now: connections are refused

	sm := secretsmanager.New(secretsmanager.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String("http://" + addr),
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "test", SecretAccessKey: "test", Source: "reliability"}, nil
		}),
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = 2
			o.MaxBackoff = 20 * time.Millisecond
			o.RateLimiter = ratelimit.None
		}),
		HTTPClient: &http.Client{Timeout: 2 * time.Second},
	})
	log, logs := newLogger()
	const secretID = "alipay/reliability"
	cache := credentials.NewCache(credentials.NewSecretsManagerSource(sm, secretID),
		credentials.WithRetryBackoff(50*time.Millisecond, 200*time.Millisecond),
		credentials.WithLoadTimeout(3*time.Second), credentials.WithLogger(log))
	cache.Start(context.Background())
	sink := sinkServer(t)
	s := newStack(t, stackOptions{creds: cache, notifyURL: sink.URL + httpapi.NotifyPath})

	appBody := map[string]any{"out_trade_no": "SM_COLD_1", "total_amount": "8.88", "subject": "冷启动", "product_code": alipay.ProductCodeQuickMSecurityPay}
	voucherBody := map[string]any{"out_order_no": "SM-COLD-1", "out_request_no": "SM-COLD-1-R1", "order_title": "冷启动押金",
		"amount": "50.00", "product_code": alipay.ProductCodePreAuth}
	notice := signNotice(t, k.alipay, map[string]string{
		"notify_type": "trade_status_sync", "notify_id": "smcold0001", "notify_time": alipay.FormatTimestamp(time.Now()),
		"app_id": testAppID, "version": "1.0", "out_trade_no": "SM_COLD_NONE", "trade_no": "2025000000000001",
		"trade_status": "TRADE_SUCCESS", "total_amount": "8.88",
	}, "utf-8")

	down := map[string]string{}
	for range 3 {
		for name, r := range map[string]reply{
			"app-pay create": s.post(t, "/v1/app-pay/orders", appBody),
			"voucher create": s.post(t, "/v1/preauth/vouchers", voucherBody),
		} {
			down[name] = fmt.Sprintf("%d %s", r.Status, r.ErrorCode())
			if r.Status != http.StatusServiceUnavailable || r.ErrorCode() != httpapi.CodeDependencyUnavailable || r.Header.Get("Retry-After") == "" {
				t.Errorf("%s while Secrets Manager is down: %d %s", name, r.Status, r.Body)
			}
		}
		r := s.notify(t, formCT, notice)
		down["notify"] = fmt.Sprintf("%d %s", r.Status, r.Body)
		if r.Status != http.StatusServiceUnavailable || string(r.Body) != alipay.NotifyFailReply {
			t.Errorf("notify while Secrets Manager is down: %d %s", r.Status, r.Body)
		}
		time.Sleep(60 * time.Millisecond)
	}
	if r := s.get(t, "/v1/app-pay/orders/SM_COLD_1"); r.Status != http.StatusNotFound {
		t.Errorf("an order was created during the outage: %d %s", r.Status, r.Body)
	}
	if r := s.get(t, "/v1/preauth/orders/SM-COLD-1"); r.Status != http.StatusNotFound {
		t.Errorf("a voucher order was created during the outage: %d %s", r.Status, r.Body)
	}

	// Secrets Manager comes up on the same address.
	secret, err := json.Marshal(map[string]string{"app_id": testAppID, "private_key": k.appPEM, "alipay_public_key": pemOf(t, "alipay_public.pem")})
	if err != nil {
		t.Fatal(err)
	}
	stand := smtest.Start(t)
	stand.Put(secretID, string(secret))
	up := time.Now()
	serveProxy(t, addr, stand.URL())

	attempts := 0
	var r reply
	if !eventually(10*time.Second, func() bool {
		attempts++
		r = s.post(t, "/v1/app-pay/orders", appBody)
		return r.Status == http.StatusOK
	}) {
		t.Fatalf("app-pay create never recovered: %d %s", r.Status, r.Body)
	}
	recovered := time.Since(up)
	if r := s.post(t, "/v1/preauth/vouchers", voucherBody); r.Status != http.StatusOK {
		t.Errorf("voucher create after recovery: %d %s", r.Status, r.Body)
	}
	// Verifiable now: the notice names no order of ours, a checks-failed 409 instead of 503.
	if r := s.notify(t, formCT, notice); r.Status != http.StatusConflict || string(r.Body) != alipay.NotifyFailReply {
		t.Errorf("notify after recovery: %d %s, want 409 fail", r.Status, r.Body)
	}
	var paid payResult
	s.control(t, "/sandbox/orders/pay", map[string]string{"order_str": orderStrOf(t, r)}, &paid)
	if r := s.notify(t, formCT, []byte(paid.Notifications[0].Body)); r.Status != http.StatusOK || string(r.Body) != alipay.NotifySuccessReply {
		t.Errorf("genuine notice after recovery: %d %s", r.Status, r.Body)
	}
	if stand.Calls() < 1 {
		t.Error("the stand-in was never called")
	}
	if !strings.Contains(logs.String(), "unreachable") {
		t.Errorf("the outage was not logged:\n%s", logs.String())
	}
	t.Logf("during the outage: %v; recovered %s after Secrets Manager came up (%d polls), %d GetSecretValue calls answered",
		down, recovered.Round(time.Millisecond), attempts, stand.Calls())
}

// orderStrOf reads order_str from a create reply.
func orderStrOf(t *testing.T, r reply) string {
	t.Helper()
	var v struct {
		OrderStr string `json:"order_str"`
	}
	if err := json.Unmarshal(r.Body, &v); err != nil || v.OrderStr == "" {
		t.Fatalf("no order_str in %s", r.Body)
	}
	return v.OrderStr
}

// pemOf reads a reference key file.
func pemOf(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(keysDir(t), name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// serveProxy listens on addr (retrying while the port is briefly unavailable) and
// forwards every request to target, until the test ends.
func serveProxy(t *testing.T, addr, target string) {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	var l net.Listener
	for range 50 {
		if l, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("listen on %s again: %v", addr, err)
	}
	srv := &http.Server{Handler: httputil.NewSingleHostReverseProxy(u), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
}

// faultGateway answers the gateway call in one of many broken ways, or forwards it to
// the simulator in mode "sim".
type faultGateway struct {
	mode   atomic.Value // string
	alipay *alipay.PrivateKey
	forger *alipay.PrivateKey
}

const voucherNode = "alipay_fund_auth_order_voucher_create_response"

func (f *faultGateway) handler(sim http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mode, _ := f.mode.Load().(string)
		if mode == "sim" {
			sim.ServeHTTP(w, r)
			return
		}
		_ = r.ParseForm()
		var biz struct {
			OutOrderNo   string `json:"out_order_no"`
			OutRequestNo string `json:"out_request_no"`
		}
		_ = json.Unmarshal([]byte(r.Form.Get("biz_content")), &biz)
		node := fmt.Sprintf(`{"code":"10000","msg":"Success","out_order_no":%q,"out_request_no":%q,"code_type":"qrCode","code_value":"https:\/\/qr.alipay.com\/fault","code_url":"https:\/\/qr.alipay.com\/fault.png"}`,
			biz.OutOrderNo, biz.OutRequestNo)
		sign := func(k *alipay.PrivateKey) string {
			s, err := k.Sign([]byte(node))
			if err != nil {
				panic(err)
			}
			return s
		}
		switch mode {
		case "timeout":
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
		case "http500_text":
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = io.WriteString(w, "Internal Server Error")
		case "http502_json":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadGateway)
			_, _ = io.WriteString(w, `{"`+voucherNode+`":`+node+`,"sign":"`+sign(f.alipay)+`"}`)
		case "http503_empty":
			w.WriteHeader(http.StatusServiceUnavailable)
		case "html_200":
			_, _ = io.WriteString(w, "<html><body>busy</body></html>")
		case "empty_200":
		case "truncated_json_200":
			_, _ = io.WriteString(w, `{"`+voucherNode+`":{"code":"10000","msg":"Success","out_order_no":"`)
		case "unsigned_success":
			_, _ = io.WriteString(w, `{"`+voucherNode+`":`+node+`}`)
		case "signed_by_other_key":
			_, _ = io.WriteString(w, `{"`+voucherNode+`":`+node+`,"sign":"`+sign(f.forger)+`"}`)
		case "duplicate_node":
			_, _ = io.WriteString(w, `{"`+voucherNode+`":`+node+`,"`+voucherNode+`":`+node+`,"sign":"`+sign(f.alipay)+`"}`)
		case "redirect":
			http.Redirect(w, r, "https://openapi.alipay.com/gateway.do", http.StatusFound)
		case "connection_reset":
			hj, ok := w.(http.Hijacker)
			if !ok {
				panic("no hijacker")
			}
			c, _, err := hj.Hijack()
			if err == nil {
				if tc, ok := c.(*net.TCPConn); ok {
					_ = tc.SetLinger(0)
				}
				_ = c.Close()
			}
		default:
			panic("unknown mode " + mode)
		}
	})
}

// TestFaultGatewayUnknownOutcomesNeverIssue: every gateway outcome that is not a
// verified answer (timeout, 5xx, HTML, empty, truncated, unsigned, signed by another
// key, duplicated node, redirect, reset connection, and the simulator's SIM_TIMEOUT,
// SIM_HTTP500, SIM_BAD_SIGN, SIM_20000, SIM_SYSTEM_ERROR) is a 503 ALIPAY_UNAVAILABLE
// with Retry-After and a fixed message; the request is recorded UNKNOWN and GET shows no
// code; retrying the same out_request_no once the gateway behaves issues the voucher.
func TestFaultGatewayUnknownOutcomesNeverIssue(t *testing.T) {
	k := loadKeys(t)
	fg := &faultGateway{alipay: k.alipay, forger: newRandomKey(t, "fault gateway forger")}
	fg.mode.Store("sim")
	s := newStack(t, stackOptions{gateway: fg.handler, gatewayTimeout: 800 * time.Millisecond, notifyURL: sinkServer(t).URL + httpapi.NotifyPath})
	type tc struct{ mode, title string }
	var cases []tc
	for _, m := range []string{"timeout", "http500_text", "http502_json", "http503_empty", "html_200", "empty_200", "truncated_json_200",
		"unsigned_success", "signed_by_other_key", "duplicate_node", "redirect", "connection_reset"} {
		cases = append(cases, tc{m, "押金 fault"})
	}
	for _, m := range []string{"SIM_TIMEOUT", "SIM_HTTP500", "SIM_BAD_SIGN", "SIM_20000", "SIM_SYSTEM_ERROR"} {
		cases = append(cases, tc{"sim", "押金 " + m})
	}
	rounds := scale(1, 5)
	unknown, recovered := 0, 0
	for round := range rounds {
		for i, c := range cases {
			name := c.mode
			if c.mode == "sim" {
				name = strings.TrimPrefix(c.title, "押金 ")
			}
			t.Run(strings.ToLower(name)+"_is_unavailable_then_issued_on_retry", func(t *testing.T) {
				id := fmt.Sprintf("GWF-%d-%02d", round, i)
				body := map[string]any{"out_order_no": id, "out_request_no": id + "-R1", "order_title": c.title,
					"amount": "10.00", "product_code": alipay.ProductCodePreAuth}
				fg.mode.Store(c.mode)
				r := s.post(t, "/v1/preauth/vouchers", body)
				fg.mode.Store("sim")
				msg := ""
				if e, ok := r.JSON()["error"].(map[string]any); ok {
					msg, _ = e["message"].(string)
				}
				if r.Status != http.StatusServiceUnavailable || r.ErrorCode() != httpapi.CodeAlipayUnavailable || r.Header.Get("Retry-After") == "" {
					t.Fatalf("got %d %s, want 503 ALIPAY_UNAVAILABLE with Retry-After", r.Status, r.Body)
				}
				if strings.Contains(msg, "alipay:") || strings.Contains(string(r.Body), "sub_code") {
					t.Errorf("reply carries internals: %s", r.Body)
				}
				g := s.get(t, "/v1/preauth/orders/"+id)
				if g.Status != http.StatusOK {
					t.Fatalf("GET: %d %s", g.Status, g.Body)
				}
				var o struct {
					Status   string `json:"status"`
					Requests []struct {
						State     string `json:"state"`
						CodeValue string `json:"code_value"`
					} `json:"requests"`
				}
				if err := json.Unmarshal(g.Body, &o); err != nil {
					t.Fatal(err)
				}
				if o.Status == string(orders.PreAuthCodeIssued) || len(o.Requests) != 1 || o.Requests[0].State != string(orders.RequestUnknown) ||
					o.Requests[0].CodeValue != "" || strings.Contains(string(g.Body), "code_value") {
					t.Fatalf("after an unknown outcome GET shows %s", g.Body)
				}
				unknown++
				r = s.post(t, "/v1/preauth/vouchers", body)
				if r.Status != http.StatusOK || r.JSON()["code_value"] == "" {
					t.Fatalf("retry: %d %s", r.Status, r.Body)
				}
				g = s.get(t, "/v1/preauth/orders/"+id)
				if !strings.Contains(string(g.Body), `"state":"ISSUED"`) || !strings.Contains(string(g.Body), `"status":"CODE_ISSUED"`) {
					t.Fatalf("after the retry GET shows %s", g.Body)
				}
				recovered++
			})
		}
	}
	t.Run("verified_business_error_is_502_not_unknown", func(t *testing.T) {
		body := map[string]any{"out_order_no": "GWF-BIZ", "out_request_no": "GWF-BIZ-R1", "order_title": "SIM_BIZ_PAYEE_NOT_EXIST",
			"amount": "10.00", "product_code": alipay.ProductCodePreAuth}
		for i := range 2 {
			r := s.post(t, "/v1/preauth/vouchers", body)
			sub, _ := r.JSON()["error"].(map[string]any)
			if r.Status != http.StatusBadGateway || r.ErrorCode() != httpapi.CodeAlipayBusinessError || sub["sub_code"] != "PAYEE_NOT_EXIST" {
				t.Fatalf("attempt %d: %d %s", i, r.Status, r.Body)
			}
			if i == 1 && r.Header.Get("Idempotent-Replayed") != "true" {
				t.Errorf("the identical retry was not a replay: %v", r.Header)
			}
		}
	})
	t.Logf("%d fault kinds x %d round(s): %d unknown outcomes answered 503 ALIPAY_UNAVAILABLE and recorded UNKNOWN without a code, %d issued on retry",
		len(cases), rounds, unknown, recovered)
}

// TestFaultConcurrentIdenticalVoucherRequests: identical voucher requests arriving
// together (the gateway slowed to 300ms) make exactly one gateway call; the others get
// 409 REQUEST_IN_PROGRESS with Retry-After or the same voucher, and a later retry is a
// replay without a call. Identical app-pay creates make exactly one order.
func TestFaultConcurrentIdenticalVoucherRequests(t *testing.T) {
	var calls atomic.Int64
	slow := func(sim http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Query().Get("method") == "alipay.fund.auth.order.voucher.create" {
				calls.Add(1)
				time.Sleep(300 * time.Millisecond)
			}
			sim.ServeHTTP(w, r)
		})
	}
	s := newStack(t, stackOptions{dynalite: true, gateway: slow, notifyURL: sinkServer(t).URL + httpapi.NotifyPath})
	conc, rounds := scale(20, 50), scale(2, 10)
	statuses := map[string]int{}
	for round := range rounds {
		id := fmt.Sprintf("CONC-%03d", round)
		body := map[string]any{"out_order_no": id, "out_request_no": id + "-R1", "order_title": "并发押金",
			"amount": "66.00", "product_code": alipay.ProductCodePreAuth}
		before := calls.Load()
		b := mustJSON(t, body)
		replies := concurrently(t, conc, func() reply { return s.goPost(t, "/v1/preauth/vouchers", b) })
		codes := map[any]bool{}
		ok := 0
		for _, r := range replies {
			switch {
			case r.Status == http.StatusOK:
				ok++
				codes[r.JSON()["code_value"]] = true
				statuses["200"]++
			case r.Status == http.StatusConflict && r.ErrorCode() == httpapi.CodeRequestInProgress && r.Header.Get("Retry-After") != "":
				statuses["409 REQUEST_IN_PROGRESS"]++
			default:
				t.Errorf("round %d: %d %s", round, r.Status, r.Body)
			}
		}
		if got := calls.Load() - before; got != 1 {
			t.Errorf("round %d: %d gateway calls for %d identical requests, want 1", round, got, conc)
		}
		if ok == 0 || len(codes) != 1 {
			t.Errorf("round %d: %d successes with %d distinct codes", round, ok, len(codes))
		}
		r := s.post(t, "/v1/preauth/vouchers", body)
		if r.Status != http.StatusOK || r.Header.Get("Idempotent-Replayed") != "true" || !codes[r.JSON()["code_value"]] {
			t.Errorf("round %d: later retry %d %s", round, r.Status, r.Body)
		}
		if got := calls.Load() - before; got != 1 {
			t.Errorf("round %d: the replay called the gateway (%d calls)", round, got)
		}
	}

	created, replayed := 0, 0
	orderStrs := map[string]bool{}
	for round := range rounds {
		body := map[string]any{"out_trade_no": fmt.Sprintf("CONC_APP_%03d", round), "total_amount": "12.34", "subject": "并发 ☕", "product_code": alipay.ProductCodeQuickMSecurityPay}
		b := mustJSON(t, body)
		for _, r := range concurrently(t, conc, func() reply { return s.goPost(t, "/v1/app-pay/orders", b) }) {
			if r.Status != http.StatusOK {
				t.Errorf("app-pay round %d: %d %s", round, r.Status, r.Body)
				continue
			}
			if r.Header.Get("Idempotent-Replayed") == "true" {
				replayed++
			} else {
				created++
			}
			orderStrs[orderStrOf(t, r)] = true
		}
	}
	if created != rounds || len(orderStrs) != rounds {
		t.Errorf("app-pay: %d created, %d distinct orderStrs over %d rounds, want one each", created, len(orderStrs), rounds)
	}
	t.Logf("vouchers: %d rounds x %d identical concurrent requests: %d gateway calls, replies %v; app-pay: %d created, %d replayed",
		rounds, conc, calls.Load(), statuses, created, replayed)
}

// concurrently runs f n times at once (released together) and returns the replies.
func concurrently(t *testing.T, n int, f func() reply) []reply {
	t.Helper()
	out := make([]reply, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			out[i] = f()
		}()
	}
	close(start)
	wg.Wait()
	return out
}
