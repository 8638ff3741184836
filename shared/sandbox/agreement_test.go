package sandbox

import (
	"testing"
	"time"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
)

// signedAgreement pays a pay-and-sign order (DAY 7 from execute, single 10.00, total
// 25.00, 3 payments) at the clock's time and returns the agreement_no.
func signedAgreement(t *testing.T, e *env, ext, execute string) string {
	t.Helper()
	total := alipay.MustAmount("25.00")
	ap := appPay("P"+ext, "0.01", "连续包月")
	ap.ProductCode = alipay.ProductCodeCyclePayAuth
	ap.AgreementSignParams = &alipay.AgreementSignParams{
		ProductCode: alipay.ProductCodeGeneralWithholding, PersonalProductCode: "CYCLE_PAY_AUTH_P", SignScene: "INDUSTRY|DIGITAL_MEDIA",
		ExternalAgreementNo: ext, AccessParams: alipay.AccessParams{Channel: alipay.ChannelAlipayApp},
		PeriodRuleParams: &alipay.PeriodRuleParams{PeriodType: alipay.PeriodTypeDay, Period: 7, ExecuteTime: execute,
			SingleAmount: alipay.MustAmount("10.00"), TotalAmount: &total, TotalPayments: 3},
	}
	out := e.mustControl(t, "/sandbox/orders/pay", map[string]string{"order_str": orderStr(t, e.creds, ap, alipay.OrderStringOptions{Now: e.sim.now()})})
	e.waitIdle(t)
	return out["agreement_no"].(string)
}

func deductBiz(outTradeNo, agreementNo, amount string) string {
	return `{"out_trade_no":"` + outTradeNo + `","total_amount":"` + amount + `","subject":"周期扣款","product_code":"GENERAL_WITHHOLDING",` +
		`"agreement_params":{"agreement_no":"` + agreementNo + `"}}`
}

// TestDeductionsFollowThePlan: each deduction is checked against single_amount, the
// cumulative total_amount and total_payments, and the date window of the next plan date
// (5 days, China dates); the plan moves forward on success only.
func TestDeductionsFollowThePlan(t *testing.T) {
	now := time.Date(2030, 6, 1, 4, 0, 0, 0, time.UTC) // 12:00 China time
	clock := func() time.Time { return now }
	e := newEnv(t, func(o *Options) { o.Clock = clock })
	e.client = alipay.NewClient(e.gatewayURL(), alipay.WithClock(clock), alipay.WithTimeout(5*time.Second))
	ag := signedAgreement(t, e, "AGD1", "2030-06-03")
	at := func(y int, m time.Month, d int) { now = time.Date(y, m, d, 4, 0, 0, 0, time.UTC) }
	steps := []struct {
		name     string
		day      func()
		biz      string
		subCode  string
		movesNow bool
	}{
		{"within_the_first_window", func() {}, deductBiz("D1", ag, "10.00"), "", true},
		{"identical_retry_replays", func() {}, deductBiz("D1", ag, "10.00"), "", false},
		{"same_number_other_amount", func() {}, deductBiz("D1", ag, "9.00"), "ACQ.CONTEXT_INCONSISTENT", false},
		{"second_period_not_open_yet", func() {}, deductBiz("D2", ag, "5.00"), "ACQ.CYCLE_PAY_DATE_NOT_MATCH", false},
		{"over_single_amount", func() { at(2030, 6, 8) }, deductBiz("D3", ag, "10.01"), "ACQ.CYCLE_PAY_SINGLE_FEE_EXCEED", false},
		{"second_period", func() {}, deductBiz("D4", ag, "10.00"), "", true},
		{"over_total_amount", func() { at(2030, 6, 15) }, deductBiz("D5", ag, "5.01"), "ACQ.CYCLE_PAY_TOTAL_FEE_EXCEED", false},
		{"third_period", func() {}, deductBiz("D6", ag, "5.00"), "", true},
		{"over_total_payments", func() { at(2030, 6, 22) }, deductBiz("D7", ag, "0.01"), "ACQ.CYCLE_PAY_TOTAL_TIMES_EXCEED", false},
		{"unknown_agreement", func() {}, deductBiz("D8", "20300601000000009999", "1.00"), "ACQ.AGREEMENT_NOT_EXIST", false},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			s.day()
			before := len(e.sim.Ledger())
			r, err := e.execute(t, alipay.MethodTradePay, s.biz, alipay.CallOptions{})
			if s.subCode != "" {
				if be := asBusiness(t, err); be.SubCode != s.subCode {
					t.Fatalf("sub_code %s, want %s", be.SubCode, s.subCode)
				}
			} else if err != nil {
				t.Fatal(err)
			} else if nodeOf(t, r)["trade_no"] == "" {
				t.Fatalf("reply %s", r.Node)
			}
			if moved := len(e.sim.Ledger()) - before; moved != map[bool]int{true: 1}[s.movesNow] {
				t.Fatalf("%d movements", moved)
			}
		})
	}
}

func TestAgreementQueryAndUnsign(t *testing.T) {
	e := newEnv(t, nil)
	today := time.Now().In(alipay.ChinaTime).Format("2006-01-02")
	ag := signedAgreement(t, e, "AGQ1", today)
	r, err := e.execute(t, alipay.MethodAgreementQuery, `{"agreement_no":"`+ag+`"}`, alipay.CallOptions{})
	if err != nil || nodeOf(t, r)["status"] != "NORMAL" || nodeOf(t, r)["external_agreement_no"] != "AGQ1" || nodeOf(t, r)["next_deduct_time"] != today {
		t.Fatalf("query: %v %s", err, r.Node)
	}
	byExt := `{"external_agreement_no":"AGQ1","personal_product_code":"CYCLE_PAY_AUTH_P","sign_scene":"INDUSTRY|DIGITAL_MEDIA","alipay_user_id":"` + DefaultBuyerID + `"}`
	if r, err := e.execute(t, alipay.MethodAgreementQuery, byExt, alipay.CallOptions{}); err != nil || nodeOf(t, r)["agreement_no"] != ag {
		t.Fatalf("query by the signing's numbers: %v", err)
	}
	if _, err := e.execute(t, alipay.MethodAgreementQuery, `{"external_agreement_no":"AGQ1","personal_product_code":"X","sign_scene":"Y"}`, alipay.CallOptions{}); asBusiness(t, err).SubCode != "USER_AGREEMENT_NOT_EXIST" {
		t.Fatalf("query with other signing numbers: %v", err)
	}
	notify := newSink(t)
	if _, err := e.execute(t, alipay.MethodAgreementUnsign, `{"agreement_no":"`+ag+`"}`, alipay.CallOptions{NotifyURL: notify.url()}); err != nil {
		t.Fatal(err)
	}
	e.waitIdle(t)
	if got := notify.all(); len(got) != 1 {
		t.Fatalf("%d unsign notices", len(got))
	} else if g, err := verified(t, e, got[0]).Agreement(); err != nil || g.Status != alipay.AgreementStatusUnsign {
		t.Fatalf("unsign notice %+v %v", g, err)
	}
	if _, err := e.execute(t, alipay.MethodAgreementUnsign, `{"agreement_no":"`+ag+`"}`, alipay.CallOptions{}); asBusiness(t, err).SubCode != "USER_AGREEMENT_STATUS_NOT_NORMAL" {
		t.Fatalf("second unsign: %v", err)
	}
	if _, err := e.execute(t, alipay.MethodAgreementQuery, `{"agreement_no":"`+ag+`"}`, alipay.CallOptions{}); asBusiness(t, err).SubCode != "AGREEMENT_HAS_UNSIGNED" {
		t.Fatalf("query after unsign: %v", err)
	}
	if _, err := e.execute(t, alipay.MethodTradePay, deductBiz("DQ1", ag, "1.00"), alipay.CallOptions{}); asBusiness(t, err).SubCode != "ACQ.AGREEMENT_NOT_EXIST" {
		t.Fatalf("deduction after unsign: %v", err)
	}
}
