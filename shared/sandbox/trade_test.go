package sandbox

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
)

func appPay(outTradeNo, amount, subject string) *alipay.AppPayParams {
	return &alipay.AppPayParams{
		OutTradeNo:  outTradeNo,
		TotalAmount: alipay.MustAmount(amount),
		Subject:     subject,
		ProductCode: alipay.ProductCodeQuickMSecurityPay,
	}
}

// orderStr signs ap as the app server would.
func orderStr(t *testing.T, c *alipay.Credentials, ap *alipay.AppPayParams, opts alipay.OrderStringOptions) string {
	t.Helper()
	biz, err := ap.BizContent()
	if err != nil {
		t.Fatal(err)
	}
	s, err := alipay.OrderString(c, biz, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func tradeQueryBiz(outTradeNo string) string { return `{"out_trade_no":"` + outTradeNo + `"}` }

func TestTradeQueryBeforeAndAfterPay(t *testing.T) {
	e := newEnv(t, nil)
	notify := newSink(t)
	ap := appPay("AP0001", "9.00", "大乐透 2.1")
	ap.Body = "iPhone 6 16G + 保护壳 😀"
	ap.PassbackParams = "a%3Db%26c%3Dd"
	ostr := orderStr(t, e.creds, ap, alipay.OrderStringOptions{NotifyURL: notify.url()})

	t.Run("before_pay_the_trade_does_not_exist", func(t *testing.T) {
		_, err := e.execute(t, alipay.MethodTradeQuery, tradeQueryBiz("AP0001"), alipay.CallOptions{})
		if be := asBusiness(t, err); be.Code != "40004" || be.SubCode != "ACQ.TRADE_NOT_EXIST" {
			t.Fatalf("got %+v", be)
		}
	})

	out := e.mustControl(t, "/sandbox/orders/pay", map[string]string{"order_str": ostr})
	e.waitIdle(t)
	tradeNo, _ := out["trade_no"].(string)

	t.Run("after_pay_the_query_shows_trade_success", func(t *testing.T) {
		for _, biz := range []string{tradeQueryBiz("AP0001"), `{"trade_no":"` + tradeNo + `","out_trade_no":"other"}`} {
			r, err := e.execute(t, alipay.MethodTradeQuery, biz, alipay.CallOptions{})
			if err != nil {
				t.Fatal(err)
			}
			n := nodeOf(t, r)
			if n["trade_status"] != "TRADE_SUCCESS" || n["trade_no"] != tradeNo || n["out_trade_no"] != "AP0001" ||
				n["total_amount"] != "9.00" || n["buyer_user_id"] != DefaultBuyerID || n["send_pay_date"] == "" {
				t.Fatalf("node %v", n)
			}
		}
	})
	t.Run("trade_status_sync_verifies_and_matches_the_order", func(t *testing.T) {
		got := notify.all()
		if len(got) != 1 {
			t.Fatalf("%d notifications", len(got))
		}
		n := verified(t, e, got[0])
		if n.Kind() != alipay.KindTradeStatus {
			t.Fatalf("kind %s", n.Kind())
		}
		tn, err := n.Trade()
		if err != nil {
			t.Fatal(err)
		}
		if tn.AppID != testAppID || tn.TotalAmount != alipay.MustAmount("9.00") || tn.SellerID != DefaultSellerID {
			t.Fatalf("notice for app %s, %s, seller %s", tn.AppID, tn.TotalAmount, tn.SellerID)
		}
		if tn.TradeStatus != alipay.TradeStatusSuccess || tn.TradeNo != tradeNo || tn.OutTradeNo != "AP0001" ||
			tn.ReceiptAmount != alipay.MustAmount("9.00") || tn.BuyerID != DefaultBuyerID || tn.Subject != "大乐透 2.1" ||
			tn.PassbackParams != "a%3Db%26c%3Dd" || tn.GmtPayment.IsZero() || tn.GmtCreate.IsZero() || tn.HasRefundFee {
			t.Fatalf("notice %+v", tn)
		}
		for _, k := range []string{"auth_app_id", "charset", "version", "notify_id", "body", "fund_bill_list"} {
			if n.Params[k] == "" {
				t.Fatalf("%s missing: %v", k, n.Params)
			}
		}
	})
	t.Run("paying_twice_is_refused", func(t *testing.T) {
		status, out := e.control(t, "/sandbox/orders/pay", map[string]string{"order_str": ostr})
		if er := errorOf(t, out); status != http.StatusConflict || er["sub_code"] != "ACQ.TRADE_HAS_SUCCESS" {
			t.Fatalf("status %d: %v", status, out)
		}
	})
	t.Run("same_out_trade_no_other_params_is_context_inconsistent", func(t *testing.T) {
		other := orderStr(t, e.creds, appPay("AP0001", "10.00", "大乐透 2.1"), alipay.OrderStringOptions{})
		status, out := e.control(t, "/sandbox/orders/pay", map[string]string{"order_str": other})
		if er := errorOf(t, out); status != http.StatusConflict || er["sub_code"] != "ACQ.CONTEXT_INCONSISTENT" {
			t.Fatalf("status %d: %v", status, out)
		}
	})
}

func TestPayRefusesBadOrderStrings(t *testing.T) {
	e := newEnv(t, nil)
	k := testKeys()
	good := orderStr(t, e.creds, appPay("AP0200", "9.00", "t"), alipay.OrderStringOptions{})
	reencode := func(t *testing.T, s string, edit func(url.Values)) string {
		t.Helper()
		p, err := alipay.ParseOrderString(s)
		if err != nil {
			t.Fatal(err)
		}
		v := url.Values{}
		for k, val := range p {
			v.Set(k, val)
		}
		edit(v)
		return v.Encode()
	}
	// A raw `+` in the sign decodes to a space. Most signatures contain a `+`; try a few
	// subjects until one does, so the case never degenerates into a valid string.
	var withPlus string
	for i := 0; i < 64 && withPlus == ""; i++ {
		s := orderStr(t, e.creds, appPay("AP0208", "9.00", "t"+strings.Repeat("x", i)), alipay.OrderStringOptions{})
		if strings.Contains(s, "%2B") {
			withPlus = strings.ReplaceAll(s, "%2B", "+")
		}
	}
	if withPlus == "" {
		t.Fatal("no signature with a '+' in 64 tries")
	}
	wrongApp := &alipay.Credentials{AppID: "2021000000000999", PrivateKey: k.app}
	wrongKey := &alipay.Credentials{AppID: testAppID, PrivateKey: k.other}

	cases := []struct {
		name, orderStr string
		status         int
		field          string // expected error field
		signContent    bool   // the reply shows the content that was verified
	}{
		{name: "amount_changed_after_signing", orderStr: reencode(t, good, func(v url.Values) {
			v.Set("biz_content", strings.Replace(v.Get("biz_content"), "9.00", "0.01", 1))
		}), status: 400, field: "order_str", signContent: true},
		{name: "signed_with_another_key", orderStr: orderStr(t, wrongKey, appPay("AP0201", "9.00", "t"), alipay.OrderStringOptions{}),
			status: 400, field: "order_str", signContent: true},
		{name: "raw_plus_in_sign_decodes_to_space", orderStr: withPlus, status: 400, field: "order_str", signContent: true},
		{name: "sign_type_rsa", orderStr: reencode(t, good, func(v url.Values) { v.Set("sign_type", "RSA") }), status: 400, field: "order_str", signContent: true},
		{name: "not_an_order_string", orderStr: "app_id=%zz", status: 400, field: "order_str"},
		{name: "empty", orderStr: "", status: 400, field: "order_str"},
		{name: "other_app_id", orderStr: orderStr(t, wrongApp, appPay("AP0202", "9.00", "t"), alipay.OrderStringOptions{}),
			status: 400, field: "app_id"},
		{name: "timestamp_an_hour_ahead", orderStr: orderStr(t, e.creds, appPay("AP0203", "9.00", "t"), alipay.OrderStringOptions{Now: time.Now().Add(time.Hour)}),
			status: 400, field: "timestamp"},
		{name: "subject_with_slash_is_invalid_biz_content", orderStr: orderStr(t, e.creds, appPay("AP0204", "9.00", "a/b"), alipay.OrderStringOptions{}),
			status: 400, field: "biz_content.subject"},
		{name: "relative_notify_url", orderStr: orderStr(t, e.creds, appPay("AP0205", "9.00", "t"), alipay.OrderStringOptions{NotifyURL: "notify"}),
			status: 400, field: "notify_url"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, out := e.control(t, "/sandbox/orders/pay", map[string]string{"order_str": c.orderStr})
			er := errorOf(t, out)
			if status != c.status || er["code"] != "INVALID_ORDER_STRING" || er["field"] != c.field || er["message"] == "" {
				t.Fatalf("status %d: %v", status, out)
			}
			if sc, _ := er["sign_content"].(string); c.signContent != strings.HasPrefix(sc, "app_id=") {
				t.Fatalf("sign_content %q", sc)
			}
		})
	}
	t.Run("timeout_express_passed_is_trade_has_close", func(t *testing.T) {
		ap := appPay("AP0206", "9.00", "t")
		ap.TimeoutExpress = "90m"
		s := orderStr(t, e.creds, ap, alipay.OrderStringOptions{Now: time.Now().Add(-2 * time.Hour)})
		status, out := e.control(t, "/sandbox/orders/pay", map[string]string{"order_str": s})
		if status != http.StatusConflict || errorOf(t, out)["sub_code"] != "ACQ.TRADE_HAS_CLOSE" {
			t.Fatalf("status %d: %v", status, out)
		}
	})
	t.Run("sim_biz_subject_refuses_the_payment", func(t *testing.T) {
		s := orderStr(t, e.creds, appPay("AP0207", "9.00", "t SIM_BIZ_ACQ.BUYER_ENABLE_STATUS_FORBID"), alipay.OrderStringOptions{})
		status, out := e.control(t, "/sandbox/orders/pay", map[string]string{"order_str": s})
		if status != http.StatusUnprocessableEntity || errorOf(t, out)["sub_code"] != "ACQ.BUYER_ENABLE_STATUS_FORBID" {
			t.Fatalf("status %d: %v", status, out)
		}
		_, err := e.execute(t, alipay.MethodTradeQuery, tradeQueryBiz("AP0207"), alipay.CallOptions{})
		if be := asBusiness(t, err); be.SubCode != "ACQ.TRADE_NOT_EXIST" {
			t.Fatalf("refused payment created a trade: %+v", be)
		}
	})
	t.Run("nothing_was_paid", func(t *testing.T) {
		if len(e.sim.Deliveries()) != 0 {
			t.Fatalf("deliveries %v", e.sim.Deliveries())
		}
	})
}

func TestTradeQueryForcedOutcomes(t *testing.T) {
	e := newEnv(t, nil)
	cases := []struct {
		name, subject, code, subCode string
	}{
		{"sim_20000_subject_makes_the_query_unknown", "t SIM_20000", "20000", "isp.unknow-error"},
		{"sim_system_error_subject_makes_the_query_acq_system_error", "t SIM_SYSTEM_ERROR", "40004", "ACQ.SYSTEM_ERROR"},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			no := "AP030" + string(rune('0'+i))
			e.mustControl(t, "/sandbox/orders/pay", map[string]string{"order_str": orderStr(t, e.creds, appPay(no, "1.00", c.subject), alipay.OrderStringOptions{})})
			_, err := e.execute(t, alipay.MethodTradeQuery, tradeQueryBiz(no), alipay.CallOptions{})
			if ue := asUnknown(t, err); ue.Code != c.code || ue.SubCode != c.subCode {
				t.Fatalf("got %+v", ue)
			}
		})
	}
}

func TestPayAndSignAgreement(t *testing.T) {
	e := newEnv(t, nil)
	payNotify, signNotify := newSink(t), newSink(t)
	tomorrow := time.Now().In(alipay.ChinaTime).AddDate(0, 0, 1).Format("2006-01-02")
	ap := appPay("AP0400", "0.01", "连续包月")
	ap.ProductCode = alipay.ProductCodeCyclePayAuth
	ap.AgreementSignParams = &alipay.AgreementSignParams{
		ProductCode:         alipay.ProductCodeGeneralWithholding,
		PersonalProductCode: "CYCLE_PAY_AUTH_P",
		SignScene:           "INDUSTRY|DIGITAL_MEDIA",
		ExternalAgreementNo: "AG0400",
		ExternalLogonID:     "13888888888",
		SignNotifyURL:       signNotify.url(),
		AccessParams:        alipay.AccessParams{Channel: alipay.ChannelAlipayApp},
		PeriodRuleParams: &alipay.PeriodRuleParams{
			PeriodType: alipay.PeriodTypeDay, Period: 30, ExecuteTime: tomorrow, SingleAmount: alipay.MustAmount("19.90"),
		},
	}
	out := e.mustControl(t, "/sandbox/orders/pay", map[string]string{
		"order_str": orderStr(t, e.creds, ap, alipay.OrderStringOptions{NotifyURL: payNotify.url()}),
		"buyer":     "2088102122524333",
	})
	e.waitIdle(t)
	agreementNo, _ := out["agreement_no"].(string)

	t.Run("sign_notice_goes_to_sign_notify_url", func(t *testing.T) {
		got := signNotify.all()
		if len(got) != 1 {
			t.Fatalf("%d sign notifications", len(got))
		}
		n := verified(t, e, got[0])
		g, err := n.Agreement()
		if err != nil {
			t.Fatal(err)
		}
		if g.Kind != alipay.KindAgreementSign || g.Status != alipay.AgreementStatusNormal || g.AgreementNo != agreementNo ||
			g.ExternalAgreementNo != "AG0400" || g.PersonalProductCode != "CYCLE_PAY_AUTH_P" || g.SignScene != "INDUSTRY|DIGITAL_MEDIA" ||
			g.AlipayUserID != "2088102122524333" || g.ExternalLogonID != "13888888888" || g.AppID != testAppID ||
			g.SignTime.IsZero() || g.ValidTime.IsZero() || g.InvalidTime.Year() != 2115 {
			t.Fatalf("notice %+v", g)
		}
	})
	t.Run("payment_notice_goes_to_notify_url", func(t *testing.T) {
		got := payNotify.all()
		if len(got) != 1 || verified(t, e, got[0]).Kind() != alipay.KindTradeStatus {
			t.Fatalf("%d payment notifications", len(got))
		}
	})
	t.Run("unsign_sends_dut_user_unsign", func(t *testing.T) {
		e.mustControl(t, "/sandbox/agreements/unsign", map[string]string{"external_agreement_no": "AG0400"})
		e.waitIdle(t)
		got := signNotify.all()
		if len(got) != 2 {
			t.Fatalf("%d sign notifications", len(got))
		}
		g, err := verified(t, e, got[1]).Agreement()
		if err != nil {
			t.Fatal(err)
		}
		if g.Kind != alipay.KindAgreementUnsign || g.Status != alipay.AgreementStatusUnsign || g.AgreementNo != agreementNo || g.UnsignTime.IsZero() {
			t.Fatalf("notice %+v", g)
		}
		status, _ := e.control(t, "/sandbox/agreements/unsign", map[string]string{"agreement_no": agreementNo})
		if status != http.StatusConflict {
			t.Fatalf("second unsign: status %d", status)
		}
	})
	t.Run("without_sign_notify_url_the_sign_notice_goes_to_notify_url", func(t *testing.T) {
		other := newSink(t)
		ap.OutTradeNo = "AP0401"
		ap.AgreementSignParams.ExternalAgreementNo = "AG0401"
		ap.AgreementSignParams.SignNotifyURL = ""
		e.mustControl(t, "/sandbox/orders/pay", map[string]string{"order_str": orderStr(t, e.creds, ap, alipay.OrderStringOptions{NotifyURL: other.url()})})
		e.waitIdle(t)
		kinds := map[alipay.NotifyKind]int{}
		for _, r := range other.all() {
			kinds[verified(t, e, r).Kind()]++
		}
		if kinds[alipay.KindTradeStatus] != 1 || kinds[alipay.KindAgreementSign] != 1 {
			t.Fatalf("kinds %v", kinds)
		}
	})
}

func TestRefundAndFinish(t *testing.T) {
	e := newEnv(t, nil)
	notify := newSink(t)
	pay := func(no string) {
		t.Helper()
		e.mustControl(t, "/sandbox/orders/pay", map[string]string{"order_str": orderStr(t, e.creds, appPay(no, "9.00", "t"), alipay.OrderStringOptions{NotifyURL: notify.url()})})
	}
	// notice returns the delivered trade notice a control call reported sending.
	notice := func(t *testing.T, out map[string]any) *alipay.TradeNotice {
		t.Helper()
		e.waitIdle(t)
		id := notifications(t, out)[0]["notify_id"]
		for _, r := range notify.all() {
			if n := verified(t, e, r); n.Params["notify_id"] == id {
				tn, err := n.Trade()
				if err != nil {
					t.Fatal(err)
				}
				return tn
			}
		}
		t.Fatalf("notification %s was not delivered", id)
		return nil
	}
	pay("AP0500")
	pay("AP0501")

	t.Run("partial_refund_keeps_trade_success_with_cumulative_refund_fee", func(t *testing.T) {
		tn := notice(t, e.mustControl(t, "/sandbox/orders/refund", map[string]string{"out_trade_no": "AP0500", "refund_fee": "3.00"}))
		if tn.TradeStatus != alipay.TradeStatusSuccess || !tn.HasRefundFee || tn.RefundFee != alipay.MustAmount("3.00") || tn.OutBizNo == "" || tn.GmtRefund.IsZero() {
			t.Fatalf("notice %+v", tn)
		}
		out := e.mustControl(t, "/sandbox/orders/refund", map[string]string{"out_trade_no": "AP0500", "refund_fee": "2.50", "out_biz_no": "RF2"})
		if tn := notice(t, out); tn.RefundFee != alipay.MustAmount("5.50") || tn.OutBizNo != "RF2" {
			t.Fatalf("notice %+v", tn)
		}
	})
	t.Run("refund_beyond_the_rest_is_refused", func(t *testing.T) {
		status, _ := e.control(t, "/sandbox/orders/refund", map[string]string{"out_trade_no": "AP0500", "refund_fee": "3.51"})
		if status != http.StatusConflict {
			t.Fatalf("status %d", status)
		}
	})
	t.Run("refund_of_the_rest_closes_the_trade", func(t *testing.T) {
		out := e.mustControl(t, "/sandbox/orders/refund", map[string]string{"out_trade_no": "AP0500", "refund_fee": "3.50"})
		tn := notice(t, out)
		if out["trade_status"] != "TRADE_CLOSED" || tn.TradeStatus != alipay.TradeStatusClosed || tn.RefundFee != alipay.MustAmount("9.00") || tn.GmtClose.IsZero() {
			t.Fatalf("notice %+v", tn)
		}
		r, err := e.execute(t, alipay.MethodTradeQuery, tradeQueryBiz("AP0500"), alipay.CallOptions{})
		if err != nil || nodeOf(t, r)["trade_status"] != "TRADE_CLOSED" {
			t.Fatalf("query %v, %v", r, err)
		}
	})
	t.Run("finish_sends_trade_finished", func(t *testing.T) {
		out := e.mustControl(t, "/sandbox/orders/finish", map[string]string{"out_trade_no": "AP0501"})
		if tn := notice(t, out); tn.TradeStatus != alipay.TradeStatusFinished || tn.OutTradeNo != "AP0501" || tn.HasRefundFee {
			t.Fatalf("notice %+v", tn)
		}
	})
	t.Run("terminal_trades_do_not_change", func(t *testing.T) {
		for _, c := range []struct{ path, no string }{
			{"/sandbox/orders/finish", "AP0500"},
			{"/sandbox/orders/refund", "AP0501"},
		} {
			body := map[string]string{"out_trade_no": c.no}
			if strings.HasSuffix(c.path, "refund") {
				body["refund_fee"] = "1.00"
			}
			if status, out := e.control(t, c.path, body); status != http.StatusConflict {
				t.Fatalf("%s %s: status %d %v", c.path, c.no, status, out)
			}
		}
	})
	t.Run("bad_refund_input_is_400", func(t *testing.T) {
		for _, fee := range []string{"", "0", "1.005", "-1.00", "abc"} {
			status, _ := e.control(t, "/sandbox/orders/refund", map[string]string{"out_trade_no": "AP0501", "refund_fee": fee})
			if status != http.StatusBadRequest {
				t.Fatalf("refund_fee %q: status %d", fee, status)
			}
		}
		if status, _ := e.control(t, "/sandbox/orders/finish", map[string]string{"out_trade_no": "missing"}); status != http.StatusNotFound {
			t.Fatalf("finish of an unknown trade: status %d", status)
		}
	})
}
