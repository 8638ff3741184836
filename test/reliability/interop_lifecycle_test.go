package reliability

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
	"github.com/alipay-serverless/alipay-serverless/test/harness/nodeoracle"
)

// gatewayTap records every gateway request's parameters and raw reply on its way to
// the simulator.
type gatewayTap struct {
	mu        sync.Mutex
	exchanges []tapped
}

type tapped struct {
	params map[string]string
	reply  []byte
}

func (g *gatewayTap) wrap(sim http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		params := map[string]string{}
		for _, raw := range []string{r.URL.RawQuery, string(body)} {
			v, _ := url.ParseQuery(raw)
			for k := range v {
				params[k] = v.Get(k)
			}
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		rec := httptest.NewRecorder()
		sim.ServeHTTP(rec, r)
		g.mu.Lock()
		g.exchanges = append(g.exchanges, tapped{params: params, reply: rec.Body.Bytes()})
		g.mu.Unlock()
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	})
}

// TestInteropLifecycleRequestsAndRepliesMatchNodeSDK: the requests the refund, close and
// sync routes sign (alipay.trade.refund, alipay.trade.close, alipay.trade.query, and
// the refund query the confirmation sends) are signed exactly as the official SDK signs
// the same parameters, and the simulator's replies to them (refunded, fund_change N,
// refused, refund found / not found, close refused) pass the SDK's reply check.
func TestInteropLifecycleRequestsAndRepliesMatchNodeSDK(t *testing.T) {
	o := nodeoracle.Start(t)
	tap := &gatewayTap{}
	s := newStack(t, stackOptions{gateway: tap.wrap})
	backOffice := map[string]string{"X-Caller-Scopes": "settle"}
	g := newOrderGen(17)
	n := scale(3, 20)
	for range n {
		biz := g.appPay("IOPL", time.Now())
		no := fmt.Sprint(biz["out_trade_no"])
		orderStr := s.createAppPay(t, biz)
		// An unpaid order: sync (ACQ.TRADE_NOT_EXIST), then pay, sync, refund, close.
		if r := s.post(t, "/v1/app-pay/orders/"+no+"/sync", map[string]any{}); r.Status != http.StatusOK {
			t.Fatalf("sync: %d %s", r.Status, r.Body)
		}
		s.control(t, "/sandbox/orders/pay", map[string]string{"order_str": orderStr}, nil)
		if r := s.post(t, "/v1/app-pay/orders/"+no+"/sync", map[string]any{}); r.Status != http.StatusOK {
			t.Fatalf("sync: %d %s", r.Status, r.Body)
		}
		for j, reason := range []string{"退货 ☕ & 100%", "SIM_FUND_CHANGE_N", "SIM_BIZ_ACQ.SELLER_BALANCE_NOT_ENOUGH"} {
			body := map[string]string{"out_request_no": fmt.Sprintf("%sR%d", no, j), "refund_amount": "0.01", "refund_reason": reason}
			r := do(t, s.client, http.MethodPost, s.URL+"/v1/app-pay/orders/"+no+"/refunds", jsonCT, mustJSON(t, body), backOffice)
			if r.Status != http.StatusOK && r.Status != http.StatusAccepted && r.Status != http.StatusBadGateway {
				t.Fatalf("refund %d: %d %s", j, r.Status, r.Body)
			}
		}
		if r := s.post(t, "/v1/app-pay/orders/"+no+"/close", map[string]any{}); r.Status != http.StatusConflict {
			t.Fatalf("close of a paid order: %d %s", r.Status, r.Body)
		}
		unpaid := g.appPay("IOPC", time.Now())
		s.createAppPay(t, unpaid)
		if r := s.post(t, fmt.Sprintf("/v1/app-pay/orders/%v/close", unpaid["out_trade_no"]), map[string]any{}); r.Status != http.StatusOK {
			t.Fatalf("close of an unpaid order: %d %s", r.Status, r.Body)
		}
		// The refund query the confirmation sends, for a refund Alipay has and one it has not.
		gw := alipay.NewClient(s.GatewayURL)
		creds := testCredentials(t)
		for _, req := range []string{no + "R0", no + "R9"} {
			if _, err := alipay.Call[alipay.RefundQueryResult](t.Context(), gw, creds,
				&alipay.RefundQuery{OutTradeNo: no, OutRequestNo: req, QueryOptions: []string{"gmt_refund_pay"}}, alipay.CallOptions{}); err != nil {
				t.Fatalf("refund query: %v", err)
			}
		}
	}
	creds := testCredentials(t)
	tap.mu.Lock()
	exchanges := append([]tapped(nil), tap.exchanges...)
	tap.mu.Unlock()
	seen := map[string]int{}
	for i, x := range exchanges {
		method := x.params["method"]
		sign := x.params["sign"]
		params := map[string]string{}
		for k, v := range x.params {
			if k != "sign" {
				params[k] = v
			}
		}
		sdk, err := o.Sign(nodeoracle.PKCS1, params)
		if err != nil {
			t.Fatalf("request %d (%s): %v", i, method, err)
		}
		if sdk.Content != alipay.SignContent(params) || sdk.Sign != sign {
			t.Errorf("request %d (%s): signed differently from the SDK\n ours %q\n  sdk %q", i, method, alipay.SignContent(params), sdk.Content)
		}
		verdict, err := o.CheckResponse(string(x.reply), alipay.ResponseNodeName(method))
		if err != nil {
			t.Fatal(err)
		}
		if verdict != "ok" {
			t.Errorf("reply %d (%s): the SDK rejects it: %s\n%s", i, method, verdict, x.reply)
		}
		if _, err := alipay.VerifyReply(x.reply, method, creds); err != nil {
			t.Errorf("reply %d (%s): we reject it: %v", i, method, err)
		}
		seen[method+" "+replyCode(x.reply, alipay.ResponseNodeName(method))]++
	}
	for _, want := range []string{
		alipay.MethodTradeRefund + " 10000", alipay.MethodTradeRefund + " 40004",
		alipay.MethodTradeRefundQuery + " 10000", alipay.MethodTradeClose + " 40004",
		alipay.MethodTradeQuery + " 10000", alipay.MethodTradeQuery + " 40004",
	} {
		if seen[want] == 0 {
			t.Errorf("no exchange of kind %q (%v)", want, seen)
		}
	}
	t.Logf("%d lifecycle requests signed as alipay-sdk %s signs them, replies verified: %v", len(exchanges), o.SDKVersion, seen)
}
