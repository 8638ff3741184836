package sandbox

import (
	"encoding/json"
	"time"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
)

// Deductions on a signed agreement (商家扣款, L9.1), alipay.user.agreement.query (L9.2)
// and alipay.user.agreement.unsign (L9.3). The simulator keeps each agreement's plan as
// Alipay does: the plan date of the next period moves forward only on a succeeded
// deduction; a deduction is checked against single_amount, the cumulative total_amount
// and total_payments, and the date window.

// MoveCharge: a deduction took the buyer's money (Movement.OutOrderNo is the
// agreement_no).
const MoveCharge = "CHARGE"

// DeductWindowDays is the simulator's window before a plan date: the newer of Alipay's
// two pages (5 days, L9.1; the older says 3, L13).
const DeductWindowDays = 5

// agreementNo reads agreement_params.agreement_no from a biz_content ("" when absent).
func agreementNoOf(biz string) (string, bool) {
	var obj struct {
		AgreementParams *struct {
			AgreementNo string `json:"agreement_no"`
		} `json:"agreement_params"`
	}
	if err := json.Unmarshal([]byte(biz), &obj); err != nil {
		return "", false
	}
	if obj.AgreementParams == nil {
		return "", true
	}
	return obj.AgreementParams.AgreementNo, true
}

// planDate is the plan date of period k (k ≥ 1) of g's rule, China date at 00:00.
func (g *agreement) planDate(k int) (time.Time, bool) {
	r := g.rule
	if r == nil {
		return time.Time{}, false
	}
	d, err := time.ParseInLocation("2006-01-02", r.ExecuteTime, alipay.ChinaTime)
	if err != nil {
		return time.Time{}, false
	}
	n := (k - 1) * int(r.Period)
	if r.PeriodType == alipay.PeriodTypeMonth {
		return d.AddDate(0, n, 0), true
	}
	return d.AddDate(0, 0, n), true
}

// deduct is trade.pay with agreement_params: charge the agreement's user (L9.1).
func (s *Simulator) deduct(name string, f map[string]string, agreementNo, notifyURL string) *reply {
	amount, err := alipay.ParseAmount(f["total_amount"])
	switch {
	case err != nil || amount.CheckRange() != nil:
		return bizFail(name, "ACQ.INVALID_PARAMETER")
	case blank(f["out_trade_no"]) || blank(f["subject"]):
		return bizFail(name, "ACQ.INVALID_PARAMETER")
	case f["product_code"] != alipay.ProductCodeGeneralWithholding && f["product_code"] != alipay.ProductCodeCyclePayAuth:
		return bizFail(name, "ACQ.INVALID_PARAMETER")
	}
	f["agreement_no"] = agreementNo
	// The deduction's result goes only to its notify_url (L9.1).
	return s.pay(name, f, amount, notifyURL, s.recordDeduction)
}

// recordDeduction applies a deduction; s.mu must be held. params is the
// trade_status_sync to send (nil on a replay, a refusal, or without notify_url).
func (s *Simulator) recordDeduction(f map[string]string, amount alipay.Amount, hash, notifyURL string, now time.Time) (*trade, bool, string, map[string]string) {
	if t := s.trades[f["out_trade_no"]]; t != nil {
		if t.hash != hash {
			return nil, false, "ACQ.CONTEXT_INCONSISTENT", nil
		}
		return t, true, "", nil
	}
	g := s.agreements[f["agreement_no"]]
	switch {
	case g == nil || g.status == alipay.AgreementStatusUnsign:
		// Wrong agreement_no, or the user unsigned (L9.1).
		return nil, false, "ACQ.AGREEMENT_NOT_EXIST", nil
	case g.status != alipay.AgreementStatusNormal:
		return nil, false, "ACQ.AGREEMENT_STATUS_NOT_NORMAL", nil
	case len(s.trades) >= s.maxOrders:
		return nil, false, "SIM_CAPACITY_EXCEEDED", nil
	}
	if r := g.rule; r != nil {
		k := g.charges + 1
		plan, _ := g.planDate(k)
		today := now.In(alipay.ChinaTime)
		today = time.Date(today.Year(), today.Month(), today.Day(), 0, 0, 0, 0, alipay.ChinaTime)
		switch {
		case r.TotalPayments > 0 && int64(g.charges) >= r.TotalPayments:
			return nil, false, "ACQ.CYCLE_PAY_TOTAL_TIMES_EXCEED", nil
		case amount > r.SingleAmount:
			return nil, false, "ACQ.CYCLE_PAY_SINGLE_FEE_EXCEED", nil
		case r.TotalAmount != nil && g.charged+amount > *r.TotalAmount:
			return nil, false, "ACQ.CYCLE_PAY_TOTAL_FEE_EXCEED", nil
		case today.Before(plan.AddDate(0, 0, -DeductWindowDays)) || today.After(plan):
			return nil, false, "ACQ.CYCLE_PAY_DATE_NOT_MATCH", nil
		}
	}
	t := &trade{
		tradeNo:    alipayNo(now, "22", s.nextSeq(), 18),
		outTradeNo: f["out_trade_no"],
		params: &alipay.AppPayParams{OutTradeNo: f["out_trade_no"], TotalAmount: amount, Subject: f["subject"],
			ProductCode: f["product_code"]},
		hash:         hash,
		status:       alipay.TradeStatusSuccess,
		notifyURL:    notifyURL,
		buyerID:      g.userID,
		buyerLogonID: g.logonID,
		gmtCreate:    now,
		gmtPayment:   now,
	}
	s.trades[t.outTradeNo] = t
	s.tradesByNo[t.tradeNo] = t
	g.charges++
	g.charged += amount
	s.moved(Movement{Kind: MoveCharge, OutOrderNo: g.agreementNo, RequestNo: t.outTradeNo, Amount: amount, Time: now})
	if blank(notifyURL) {
		return t, false, "", nil
	}
	return t, false, "", s.tradeNotice(t, now)
}

// agreementQuery simulates alipay.user.agreement.query: by agreement_no, or by
// external_agreement_no with the signing's personal_product_code, sign_scene and user.
func (s *Simulator) agreementQuery(p map[string]string) *reply {
	name := methodNode(alipay.MethodAgreementQuery)
	f, ok := bizStrings(p["biz_content"], "agreement_no", "external_agreement_no", "personal_product_code", "sign_scene",
		"alipay_user_id", "alipay_open_id")
	if !ok || (blank(f["agreement_no"]) && blank(f["external_agreement_no"])) {
		return bizFail(name, "INVALID_PARAMETER")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.agreements[f["agreement_no"]]
	if blank(f["agreement_no"]) {
		g = s.agreeByExt[f["external_agreement_no"]]
		if g != nil && (f["personal_product_code"] != g.personalProductCode || f["sign_scene"] != g.signScene ||
			(f["alipay_user_id"] != g.userID && f["alipay_open_id"] == "")) {
			g = nil
		}
	}
	switch {
	case g == nil:
		return bizFail(name, "USER_AGREEMENT_NOT_EXIST")
	case g.status == alipay.AgreementStatusUnsign:
		return bizFail(name, "AGREEMENT_HAS_UNSIGNED")
	}
	n := successNode().
		add("agreement_no", g.agreementNo).
		add("external_agreement_no", g.externalNo).
		add("status", string(g.status)).
		add("personal_product_code", g.personalProductCode).
		add("sign_scene", g.signScene).
		add("sign_time", alipay.FormatTimestamp(g.signTime)).
		add("valid_time", alipay.FormatTimestamp(g.signTime)).
		add("invalid_time", invalidTime).
		add("principal_id", g.userID).
		add("alipay_logon_id", g.logonID)
	if plan, ok := g.planDate(g.charges + 1); ok {
		n.add("next_deduct_time", plan.Format("2006-01-02"))
	}
	return &reply{name: name, node: n}
}

// agreementUnsign simulates alipay.user.agreement.unsign by agreement_no: the agreement
// ends and dut_user_unsign goes to the request's notify_url, if any (L9.3).
func (s *Simulator) agreementUnsign(p map[string]string) *reply {
	name := methodNode(alipay.MethodAgreementUnsign)
	f, ok := bizStrings(p["biz_content"], "agreement_no")
	if !ok || blank(f["agreement_no"]) {
		return bizFail(name, "INVALID_PARAMETER")
	}
	now := s.now()
	s.mu.Lock()
	g := s.agreements[f["agreement_no"]]
	switch {
	case g == nil:
		s.mu.Unlock()
		return bizFail(name, "AGREEMENT_NOT_EXIST")
	case g.status != alipay.AgreementStatusNormal:
		s.mu.Unlock()
		return bizFail(name, "USER_AGREEMENT_STATUS_NOT_NORMAL")
	}
	g.status = alipay.AgreementStatusUnsign
	g.unsignTime = now
	params := s.agreementNotice(g, alipay.KindAgreementUnsign, now)
	s.mu.Unlock()
	if !blank(p["notify_url"]) {
		s.send(p["notify_url"], params)
	}
	return &reply{name: name, node: successNode()}
}
