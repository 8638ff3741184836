package sandbox

import (
	"sync"
	"testing"
	"time"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
)

// frozen issues and scans a voucher of 100.00 and returns its auth_no.
func frozen(t *testing.T, e *env, order string) string {
	t.Helper()
	if _, err := e.execute(t, alipay.MethodVoucherCreate, voucherBiz(order, order+"R1", "押金", "100.00"), alipay.CallOptions{}); err != nil {
		t.Fatal(err)
	}
	out := e.mustControl(t, "/sandbox/vouchers/scan", map[string]string{"out_order_no": order})
	return out["auth_no"].(string)
}

func payBiz(outTradeNo, authNo, amount, subject, mode string) string {
	return `{"out_trade_no":"` + outTradeNo + `","total_amount":"` + amount + `","subject":"` + subject +
		`","product_code":"PRE_AUTH","auth_no":"` + authNo + `","auth_confirm_mode":"` + mode +
		`","buyer_id":"` + DefaultBuyerID + `","seller_id":"` + DefaultSellerID + `"}`
}

func unfreezeBiz(authNo, req, amount, remark string) string {
	return `{"auth_no":"` + authNo + `","out_request_no":"` + req + `","amount":"` + amount + `","remark":"` + remark + `"}`
}

func TestCaptureAndUnfreezeFollowAlipaysRules(t *testing.T) {
	e := newEnv(t, nil)
	auth := frozen(t, e, "PS01")
	steps := []struct {
		name, method, biz, subCode string
		want                       map[string]string
	}{
		{"capture_within_the_rest", alipay.MethodTradePay, payBiz("PS01C1", auth, "30.00", "Rental", "NOT_COMPLETE"), "", map[string]string{"total_amount": "30.00"}},
		{"identical_capture_replays", alipay.MethodTradePay, payBiz("PS01C1", auth, "30.00", "Rental", "NOT_COMPLETE"), "", map[string]string{"total_amount": "30.00"}},
		{"same_trade_no_other_amount", alipay.MethodTradePay, payBiz("PS01C1", auth, "31.00", "Rental", "NOT_COMPLETE"), "ACQ.CONTEXT_INCONSISTENT", nil},
		{"capture_over_the_rest", alipay.MethodTradePay, payBiz("PS01C2", auth, "70.01", "Rental", "NOT_COMPLETE"), "ACQ.AUTH_AMOUNT_NOT_ENOUGH", nil},
		{"other_payer", alipay.MethodTradePay, `{"out_trade_no":"PS01C3","total_amount":"1.00","subject":"x","product_code":"PRE_AUTH","auth_no":"` + auth + `","buyer_id":"2088000000000009","seller_id":"` + DefaultSellerID + `"}`, "ACQ.PAYER_UNMATCHED", nil},
		{"other_product", alipay.MethodTradePay, `{"out_trade_no":"PS01C4","total_amount":"1.00","subject":"x","product_code":"PREAUTH_PAY","auth_no":"` + auth + `"}`, "ACQ.PRE_AUTH_PROD_CODE_INCONSISTENT", nil},
		{"unfreeze_over_the_rest", alipay.MethodFundAuthUnfreeze, unfreezeBiz(auth, "PS01U1", "70.01", "r"), "REQUEST_AMOUNT_EXCEED", nil},
		{"unfreeze_the_rest", alipay.MethodFundAuthUnfreeze, unfreezeBiz(auth, "PS01U1", "70.00", "r"), "", map[string]string{"status": "SUCCESS", "amount": "70.00"}},
		{"same_request_no_other_amount", alipay.MethodFundAuthUnfreeze, unfreezeBiz(auth, "PS01U1", "1.00", "r"), "UNIQUE_VIOLATION", nil},
		{"capture_after_finish", alipay.MethodTradePay, payBiz("PS01C5", auth, "1.00", "Rental", "NOT_COMPLETE"), "ACQ.AUTH_ORDER_HAS_FINISHED", nil},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			r, err := e.execute(t, s.method, s.biz, alipay.CallOptions{})
			if s.subCode != "" {
				if be := asBusiness(t, err); be.SubCode != s.subCode {
					t.Fatalf("sub_code %s, want %s", be.SubCode, s.subCode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			n := nodeOf(t, r)
			for k, v := range s.want {
				if n[k] != v {
					t.Fatalf("%s = %q, want %q (%v)", k, n[k], v, n)
				}
			}
		})
	}
	d, err := e.execute(t, alipay.MethodFundAuthDetailQuery, detailBiz("PS01", "PS01U1"), alipay.CallOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n := nodeOf(t, d); n["order_status"] != "FINISH" || n["total_pay_amount"] != "30.00" || n["total_unfreeze_amount"] != "70.00" ||
		n["rest_amount"] != "0.00" || n["operation_type"] != "UNFREEZE" {
		t.Fatalf("detail %v", n)
	}
	moves := e.sim.Ledger()
	if len(moves) != 2 || moves[0].Kind != MovePay || moves[1].Kind != MoveUnfreeze {
		t.Fatalf("ledger %+v", moves)
	}
}

func TestCompleteCaptureReleasesTheRestAndUnfreezingAllCloses(t *testing.T) {
	e := newEnv(t, nil)
	auth := frozen(t, e, "PS02")
	if _, err := e.execute(t, alipay.MethodTradePay, payBiz("PS02C1", auth, "30.00", "Rental", "COMPLETE"), alipay.CallOptions{}); err != nil {
		t.Fatal(err)
	}
	d, _ := e.execute(t, alipay.MethodFundAuthDetailQuery, detailBiz("PS02", "PS02R1"), alipay.CallOptions{})
	if n := nodeOf(t, d); n["order_status"] != "FINISH" || n["total_unfreeze_amount"] != "70.00" || n["rest_amount"] != "0.00" {
		t.Fatalf("after COMPLETE %v", n)
	}
	auth = frozen(t, e, "PS03")
	if _, err := e.execute(t, alipay.MethodFundAuthUnfreeze, unfreezeBiz(auth, "PS03U1", "100.00", "all"), alipay.CallOptions{}); err != nil {
		t.Fatal(err)
	}
	d, _ = e.execute(t, alipay.MethodFundAuthDetailQuery, detailBiz("PS03", "PS03R1"), alipay.CallOptions{})
	if n := nodeOf(t, d); n["order_status"] != "CLOSED" {
		t.Fatalf("after unfreezing all %v", n)
	}
}

func TestCancelClosesOrReleasesWithin24Hours(t *testing.T) {
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	e := newEnv(t, func(o *Options) { o.Clock = clock })
	// Both sides read the same clock, so only the voucher ages.
	e.client = alipay.NewClient(e.gatewayURL(), alipay.WithTimeout(5*time.Second), alipay.WithClock(clock))
	cancel := func(order, req string) (map[string]string, error) {
		r, err := e.execute(t, alipay.MethodFundAuthCancel, `{"out_order_no":"`+order+`","out_request_no":"`+req+`","remark":"gave up"}`, alipay.CallOptions{})
		if err != nil {
			return nil, err
		}
		return nodeOf(t, r), nil
	}
	if _, err := e.execute(t, alipay.MethodVoucherCreate, voucherBiz("PS04", "PS04R1", "押金", "10.00"), alipay.CallOptions{}); err != nil {
		t.Fatal(err)
	}
	if n, err := cancel("PS04", "PS04R1"); err != nil || n["action"] != "close" {
		t.Fatalf("unpaid voucher: %v %v", n, err)
	}
	if n, err := cancel("PS04", "PS04R1"); err != nil || n["action"] != "close" {
		t.Fatalf("repeat: %v %v", n, err)
	}
	frozen(t, e, "PS05")
	if n, err := cancel("PS05", "PS05R1"); err != nil || n["action"] != "unfreeze" {
		t.Fatalf("frozen voucher: %v %v", n, err)
	}
	auth := frozen(t, e, "PS06")
	if _, err := e.execute(t, alipay.MethodFundAuthUnfreeze, unfreezeBiz(auth, "PS06U1", "1.00", "r"), alipay.CallOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cancel("PS06", "PS06R1"); asBusiness(t, err).SubCode != "REQUEST_AMOUNT_EXCEED" {
		t.Fatalf("cancel after an unfreeze: %v", err)
	}
	if _, err := e.execute(t, alipay.MethodVoucherCreate, voucherBiz("PS07", "PS07R1", "押金", "10.00"), alipay.CallOptions{}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	now = now.Add(24*time.Hour + time.Second)
	mu.Unlock()
	if _, err := cancel("PS07", "PS07R1"); asBusiness(t, err).SubCode != "CANCEL_OPERATION_TIME_OUT" {
		t.Fatalf("cancel after 24 h: %v", err)
	}
}
