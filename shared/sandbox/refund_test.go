package sandbox

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
)

func refundBiz(outTradeNo, outRequestNo, amount, reason string) string {
	b, _ := json.Marshal(map[string]string{"out_trade_no": outTradeNo, "out_request_no": outRequestNo,
		"refund_amount": amount, "refund_reason": reason})
	return string(b)
}

// paidTrade pays a 9.00 order string and waits for its notice; openID makes the buyer
// an open_id app's user.
func paidTrade(t *testing.T, e *env, notify *sink, outTradeNo, openID string) {
	t.Helper()
	ostr := orderStr(t, e.creds, appPay(outTradeNo, "9.00", "Demo"), alipay.OrderStringOptions{NotifyURL: notify.url()})
	e.mustControl(t, "/sandbox/orders/pay", map[string]string{"order_str": ostr, "buyer_open_id": openID})
	e.waitIdle(t)
}

func TestRefundFollowsAlipaysRules(t *testing.T) {
	e := newEnv(t, nil)
	notify := newSink(t)
	paidTrade(t, e, notify, "RF0001", "")

	t.Run("partial_refund_moves_money_and_notifies_the_cumulative_fee", func(t *testing.T) {
		r, err := e.execute(t, alipay.MethodTradeRefund, refundBiz("RF0001", "R1", "2.00", "broken"), alipay.CallOptions{})
		if err != nil {
			t.Fatal(err)
		}
		n := nodeOf(t, r)
		if n["fund_change"] != "Y" || n["refund_fee"] != "2.00" || n["buyer_user_id"] != DefaultBuyerID || n["gmt_refund_pay"] == "" {
			t.Fatalf("node %v", n)
		}
		e.waitIdle(t)
		got := notify.all()
		tn, err := verified(t, e, got[len(got)-1]).Trade()
		if err != nil {
			t.Fatal(err)
		}
		if tn.OutBizNo != "R1" || tn.RefundFee != 200 || tn.TradeStatus != alipay.TradeStatusSuccess || !strings.Contains(got[len(got)-1].String(), "gmt_refund=") {
			t.Fatalf("notice %+v", tn)
		}
		if tn.GmtRefund.IsZero() {
			t.Fatal("gmt_refund missing")
		}
	})
	t.Run("same_number_same_amount_moves_no_money_again", func(t *testing.T) {
		r, err := e.execute(t, alipay.MethodTradeRefund, refundBiz("RF0001", "R1", "2.00", "broken"), alipay.CallOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if n := nodeOf(t, r); n["fund_change"] != "N" || n["refund_fee"] != "2.00" {
			t.Fatalf("node %v", n)
		}
		if rs := e.sim.Refunds("RF0001"); len(rs) != 1 {
			t.Fatalf("refunds %+v", rs)
		}
	})
	for _, c := range []struct{ name, biz, sub string }{
		{"same_number_other_amount_is_discordant", refundBiz("RF0001", "R1", "3.00", ""), "ACQ.DISCORDANT_REPEAT_REQUEST"},
		{"more_than_left_is_refused", refundBiz("RF0001", "R2", "7.01", ""), "ACQ.REASON_TRADE_REFUND_FEE_ERR"},
		{"unknown_trade", refundBiz("NOPE", "R1", "1.00", ""), "ACQ.TRADE_NOT_EXIST"},
		{"bad_amount", refundBiz("RF0001", "R3", "0", ""), "ACQ.REFUND_FEE_ERROR"},
		{"forced_refusal_moves_nothing", refundBiz("RF0001", "R4", "1.00", "SIM_BIZ_ACQ.SELLER_BALANCE_NOT_ENOUGH"), "ACQ.SELLER_BALANCE_NOT_ENOUGH"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := e.execute(t, alipay.MethodTradeRefund, c.biz, alipay.CallOptions{})
			if be := asBusiness(t, err); be.SubCode != c.sub {
				t.Fatalf("sub_code %s, want %s", be.SubCode, c.sub)
			}
		})
	}
	t.Run("refund_query_finds_the_refund_and_not_another", func(t *testing.T) {
		r, err := e.execute(t, alipay.MethodTradeRefundQuery, `{"out_trade_no":"RF0001","out_request_no":"R1"}`, alipay.CallOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if n := nodeOf(t, r); n["refund_status"] != alipay.RefundStatusSuccess || n["refund_amount"] != "2.00" || n["out_request_no"] != "R1" {
			t.Fatalf("node %v", n)
		}
		r, err = e.execute(t, alipay.MethodTradeRefundQuery, `{"out_trade_no":"RF0001","out_request_no":"R9"}`, alipay.CallOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if n := nodeOf(t, r); n["refund_status"] != "" || n["refund_amount"] != "" {
			t.Fatalf("node %v", n)
		}
	})
	t.Run("refunding_the_rest_closes_the_trade", func(t *testing.T) {
		r, err := e.execute(t, alipay.MethodTradeRefund, refundBiz("RF0001", "R2", "7.00", ""), alipay.CallOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if n := nodeOf(t, r); n["refund_fee"] != "9.00" {
			t.Fatalf("node %v", n)
		}
		e.waitIdle(t)
		got := notify.all()
		tn, _ := verified(t, e, got[len(got)-1]).Trade()
		if tn.TradeStatus != alipay.TradeStatusClosed || tn.RefundFee != 900 || tn.OutBizNo != "R2" || tn.GmtClose.IsZero() {
			t.Fatalf("notice %+v", tn)
		}
		_, err = e.execute(t, alipay.MethodTradeRefund, refundBiz("RF0001", "R5", "0.01", ""), alipay.CallOptions{})
		if be := asBusiness(t, err); be.SubCode != "ACQ.TRADE_HAS_CLOSE" {
			t.Fatalf("after a full refund: %+v", be)
		}
	})
}

func TestRefundForcedOutcomesRefundAndLoseTheReply(t *testing.T) {
	e := newEnv(t, nil)
	notify := newSink(t)
	paidTrade(t, e, notify, "RF0002", "074a1CcTG1LelxKe4xQC0zgNdId0nxi95b5lsNpazWYoCo5")
	for i, reason := range []string{"SIM_HTTP500", "SIM_BAD_SIGN", "SIM_20000", "SIM_SYSTEM_ERROR"} {
		t.Run(reason, func(t *testing.T) {
			no := "L" + string(rune('1'+i))
			_, err := e.execute(t, alipay.MethodTradeRefund, refundBiz("RF0002", no, "1.00", reason), alipay.CallOptions{})
			asUnknown(t, err)
			// The money moved: the query finds it, and a retry is answered normally.
			r, err := e.execute(t, alipay.MethodTradeRefundQuery, `{"out_trade_no":"RF0002","out_request_no":"`+no+`"}`, alipay.CallOptions{})
			if err != nil || nodeOf(t, r)["refund_status"] != alipay.RefundStatusSuccess {
				t.Fatalf("query: %v", err)
			}
			r, err = e.execute(t, alipay.MethodTradeRefund, refundBiz("RF0002", no, "1.00", reason), alipay.CallOptions{})
			if err != nil || nodeOf(t, r)["fund_change"] != "N" {
				t.Fatalf("retry: %v", err)
			}
		})
	}
	t.Run("fund_change_N_refunds_without_proof", func(t *testing.T) {
		r, err := e.execute(t, alipay.MethodTradeRefund, refundBiz("RF0002", "N1", "1.00", "SIM_FUND_CHANGE_N"), alipay.CallOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if n := nodeOf(t, r); n["fund_change"] != "N" || n["buyer_open_id"] == "" || n["buyer_user_id"] != "" {
			t.Fatalf("node %v", n)
		}
	})
	if rs := e.sim.Refunds("RF0002"); len(rs) != 5 {
		t.Fatalf("%d refunds, want 5: %+v", len(rs), rs)
	}
	e.waitIdle(t)
	got := notify.all()
	tn, _ := verified(t, e, got[len(got)-1]).Trade()
	if tn.BuyerOpenID == "" || tn.BuyerID != "" {
		t.Fatalf("open_id buyer's notice %+v", tn)
	}
}

func TestCloseAnswersLikeAlipay(t *testing.T) {
	e := newEnv(t, nil)
	notify := newSink(t)
	_, err := e.execute(t, alipay.MethodTradeClose, `{"out_trade_no":"CL0001"}`, alipay.CallOptions{})
	if be := asBusiness(t, err); be.SubCode != "ACQ.TRADE_NOT_EXIST" {
		t.Fatalf("unpaid order string: %+v", be)
	}
	// Nothing was recorded: the order string can still be paid.
	paidTrade(t, e, notify, "CL0001", "")
	_, err = e.execute(t, alipay.MethodTradeClose, `{"out_trade_no":"CL0001"}`, alipay.CallOptions{})
	if be := asBusiness(t, err); be.SubCode != "ACQ.TRADE_STATUS_ERROR" {
		t.Fatalf("paid trade: %+v", be)
	}
}
