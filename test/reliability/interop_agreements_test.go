package reliability

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
	"github.com/alipay-serverless/alipay-serverless/test/harness/nodeoracle"
)

// TestInteropAgreementRequestsVerifyWithNodeSDK: the signed alipay.trade.pay with
// agreement_params (a charge), alipay.user.agreement.query (a sync) and
// alipay.user.agreement.unsign requests our agreement routes send pass the official
// SDK's signature check, and the SDK's own signer produces the same signature over the
// same parameters; a request altered after signing fails both.
func TestInteropAgreementRequestsVerifyWithNodeSDK(t *testing.T) {
	o := nodeoracle.Start(t)
	rec := &gatewayRecorder{}
	s := newStack(t, stackOptions{gateway: rec.wrap})
	n := scale(3, 20)
	today := time.Now().In(alipay.ChinaTime).Format("2006-01-02")
	for i := range n {
		no := fmt.Sprintf("IOPAG%03d", i)
		ext := "EXT" + no
		orderStr := s.createAppPay(t, map[string]any{"out_trade_no": no, "total_amount": "0.01", "subject": "会员 Membership",
			"product_code": alipay.ProductCodeCyclePayAuth, "agreement_sign_params": map[string]any{
				"product_code": alipay.ProductCodeGeneralWithholding, "personal_product_code": "CYCLE_PAY_AUTH_P",
				"sign_scene": "INDUSTRY|DIGITAL_MEDIA", "external_agreement_no": ext, "access_params": map[string]any{"channel": "ALIPAYAPP"},
				"period_rule_params": map[string]any{"period_type": "DAY", "period": 7, "execute_time": today, "single_amount": "20.00"}}})
		s.control(t, "/sandbox/orders/pay", map[string]string{"order_str": orderStr}, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := s.Sim.WaitIdle(ctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if r := s.post(t, "/v1/agreements/"+ext+"/sync", map[string]any{}); r.Status != http.StatusOK || r.JSON()["status"] != "NORMAL" {
			t.Fatalf("sync %s: %d %s", ext, r.Status, r.Body)
		}
		if r := s.post(t, "/v1/agreements/"+ext+"/charges", map[string]any{"out_trade_no": no + "C1", "amount": "19.99",
			"subject": "周期扣款 period 1 +%"}); r.Status != http.StatusOK {
			t.Fatalf("charge %s: %d %s", ext, r.Status, r.Body)
		}
		if r := s.post(t, "/v1/agreements/"+ext+"/unsign", map[string]any{}); r.Status != http.StatusOK || r.JSON()["status"] != "UNSIGN" {
			t.Fatalf("unsign %s: %d %s", ext, r.Status, r.Body)
		}
	}
	seen := rec.checkWithSDK(t, o, func(form string) string { return strings.Replace(form, "agreement_no", "agreement_nx", 1) },
		alipay.MethodTradePay, alipay.MethodAgreementQuery, alipay.MethodAgreementUnsign)
	rec.mu.Lock()
	for _, form := range rec.reqs {
		if v, err := url.ParseQuery(form); err == nil && v.Get("method") == alipay.MethodTradePay && !strings.Contains(v.Get("biz_content"), `"agreement_params"`) {
			t.Errorf("a trade.pay of the agreement routes without agreement_params: %s", v.Get("biz_content"))
		}
	}
	rec.mu.Unlock()
	for _, m := range []string{alipay.MethodTradePay, alipay.MethodAgreementQuery, alipay.MethodAgreementUnsign} {
		if seen[m] < n {
			t.Errorf("%d %s requests checked, want at least %d", seen[m], m, n)
		}
	}
	t.Logf("agreement requests verified by alipay-sdk %s: %v", o.SDKVersion, seen)
}
