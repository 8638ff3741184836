package reliability

import (
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
	"github.com/alipay-serverless/alipay-serverless/test/harness/nodeoracle"
)

// gatewayRecorder keeps every gateway request (query string and form body) on its way to
// the simulator.
type gatewayRecorder struct {
	mu   sync.Mutex
	reqs []string // query + "&" + body, as one form
}

func (g *gatewayRecorder) wrap(sim http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		g.mu.Lock()
		g.reqs = append(g.reqs, r.URL.RawQuery+"&"+string(body))
		g.mu.Unlock()
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		sim.ServeHTTP(w, r)
	})
}

// checkWithSDK checks every recorded request of the given methods with the official SDK:
// it verifies our signature, its own signer produces the same signature over the same
// parameters, and the request altered by tamper no longer verifies. It returns how many
// requests of each method it checked.
func (g *gatewayRecorder) checkWithSDK(t *testing.T, o *nodeoracle.Oracle, tamper func(form string) string, methods ...string) map[string]int {
	t.Helper()
	g.mu.Lock()
	reqs := append([]string(nil), g.reqs...)
	g.mu.Unlock()
	seen := map[string]int{}
	for _, form := range reqs {
		res, err := o.CheckOrderStr(form)
		if err != nil {
			t.Fatal(err)
		}
		method := res.Params["method"]
		if !slices.Contains(methods, method) {
			continue
		}
		seen[method]++
		if !res.Verified {
			t.Errorf("the SDK rejects our signed %s request: %s", method, form)
			continue
		}
		unsigned := maps.Clone(res.Params)
		delete(unsigned, "sign")
		sdk, err := o.Sign(nodeoracle.PKCS1, unsigned)
		if err != nil {
			t.Fatal(err)
		}
		if sdk.Sign != res.Params["sign"] {
			t.Errorf("%s: the SDK signs %q as %s, we sent %s", method, sdk.Content, sdk.Sign, res.Params["sign"])
		}
		if tampered := tamper(form); tampered == form {
			t.Errorf("%s: the tamper left the request unchanged: %s", method, form)
		} else if bad, err := o.CheckOrderStr(tampered); err != nil || bad.Verified {
			t.Errorf("%s: a request altered after signing still verifies (%v)", method, err)
		}
	}
	return seen
}

// TestInteropSettleRequestsVerifyWithNodeSDK: the signed alipay.trade.pay (capture),
// alipay.fund.auth.order.unfreeze and alipay.fund.auth.operation.cancel requests our
// settle routes send pass the official SDK's signature check with the app public key,
// and the SDK's own signer produces the same signature over the same parameters; a
// request altered after signing fails both.
func TestInteropSettleRequestsVerifyWithNodeSDK(t *testing.T) {
	o := nodeoracle.Start(t)
	rec := &gatewayRecorder{}
	s := newStack(t, stackOptions{gateway: rec.wrap})
	n := scale(4, 30)
	for i := range n {
		ord := fmt.Sprintf("IOPS%03d", i)
		s.createVoucher(t, map[string]any{"out_order_no": ord, "out_request_no": ord + "R1", "order_title": "押金 ☕ " + ord,
			"amount": "100.00", "product_code": alipay.ProductCodePreAuth})
		s.control(t, "/sandbox/vouchers/scan", map[string]string{"out_order_no": ord}, nil)
		if r := s.get(t, "/v1/preauth/orders/"+ord); r.JSON()["status"] != "AUTHORIZED" {
			if sr := s.post(t, "/v1/preauth/orders/"+ord+"/sync", map[string]any{}); sr.Status != http.StatusOK {
				t.Fatalf("sync %s: %d %s", ord, sr.Status, sr.Body)
			}
		}
		c := s.post(t, "/v1/preauth/orders/"+ord+"/captures", map[string]any{"out_trade_no": ord + "C1", "amount": "30.00",
			"subject": "租车 Rental 🚗 +%", "body": "里程 mileage 120km"})
		if c.Status != http.StatusOK {
			t.Fatalf("capture %s: %d %s", ord, c.Status, c.Body)
		}
		u := s.post(t, "/v1/preauth/orders/"+ord+"/unfreezes", map[string]any{"out_request_no": ord + "U1", "amount": "70.00",
			"remark": "退还押金 refund +%"})
		if u.Status != http.StatusOK {
			t.Fatalf("unfreeze %s: %d %s", ord, u.Status, u.Body)
		}
		s.createVoucher(t, map[string]any{"out_order_no": ord + "X", "out_request_no": ord + "XR1", "order_title": "Deposit",
			"amount": "1.00", "product_code": alipay.ProductCodePreAuth})
		if r := s.post(t, "/v1/preauth/orders/"+ord+"X/cancel", map[string]any{"out_request_no": ord + "XR1", "remark": "收银员放弃 gave up"}); r.Status != http.StatusOK {
			t.Fatalf("cancel %s: %d %s", ord, r.Status, r.Body)
		}
	}
	seen := rec.checkWithSDK(t, o, func(form string) string {
		tampered := strings.Replace(form, "30.00", "31.00", 1)
		tampered = strings.Replace(tampered, "70.00", "71.00", 1)
		return strings.Replace(tampered, "gave", "gove", 1)
	}, alipay.MethodTradePay, alipay.MethodFundAuthUnfreeze, alipay.MethodFundAuthCancel)
	for _, m := range []string{alipay.MethodTradePay, alipay.MethodFundAuthUnfreeze, alipay.MethodFundAuthCancel} {
		if seen[m] < n {
			t.Errorf("%d %s requests checked, want at least %d", seen[m], m, n)
		}
	}
	t.Logf("settle requests verified by alipay-sdk %s: %v", o.SDKVersion, seen)
}
