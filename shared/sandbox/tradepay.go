package sandbox

import (
	"time"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
)

// alipay.trade.pay. Its biz_content decides the scenario: auth_no is a pre-auth capture
// (L1); agreement_params is a deduction on a signed agreement (L9.1, agreement.go).

// payFields are the trade.pay biz_content members the simulator reads.
var payFields = []string{
	"out_trade_no", "total_amount", "subject", "body", "product_code", "auth_no", "auth_confirm_mode",
	"buyer_id", "buyer_open_id", "seller_id", "scene", "auth_code",
}

// tradePay simulates alipay.trade.pay.
func (s *Simulator) tradePay(p map[string]string) *reply {
	name := methodNode(alipay.MethodTradePay)
	f, ok := bizStrings(p["biz_content"], payFields...)
	if !ok {
		return bizFail(name, "ACQ.INVALID_PARAMETER")
	}
	agreementNo, ok := agreementNoOf(p["biz_content"])
	if !ok {
		return bizFail(name, "ACQ.INVALID_PARAMETER")
	}
	switch {
	case !blank(f["auth_no"]) && agreementNo != "":
		return bizFail(name, "ACQ.INVALID_PARAMETER")
	case !blank(f["auth_no"]):
		return s.capture(name, f, p["notify_url"])
	case agreementNo != "":
		return s.deduct(name, f, agreementNo, p["notify_url"])
	case !blank(f["auth_code"]):
		return bizFail(name, "ACQ.PAYMENT_AUTH_CODE_INVALID")
	}
	// Neither: barcode pay, not simulated.
	return bizFail(name, "ACQ.AUTH_TOKEN_IS_NOT_EXIST")
}

// capture is trade.pay with auth_no: pay part or all of a freeze (L1). The payer and
// payee must be the freeze's, the amount at most what is still frozen; COMPLETE releases
// the rest with it. The same out_trade_no with the same request is answered again as it
// was; with another, ACQ.CONTEXT_INCONSISTENT.
func (s *Simulator) capture(name string, f map[string]string, notifyURL string) *reply {
	amount, err := alipay.ParseAmount(f["total_amount"])
	switch {
	case err != nil || amount.CheckRange() != nil:
		return bizFail(name, "ACQ.INVALID_PARAMETER")
	case blank(f["out_trade_no"]) || blank(f["subject"]):
		return bizFail(name, "ACQ.INVALID_PARAMETER")
	case f["product_code"] != alipay.ProductCodePreAuth:
		// The freeze's product is PRE_AUTH (voucher create); anything else, or none, is
		// not the auth order's product (L1.1).
		return bizFail(name, "ACQ.PRE_AUTH_PROD_CODE_INCONSISTENT")
	case f["auth_confirm_mode"] != "" && f["auth_confirm_mode"] != alipay.AuthConfirmComplete && f["auth_confirm_mode"] != alipay.AuthConfirmNotComplete:
		return bizFail(name, "ACQ.INVALID_PARAMETER")
	}
	return s.pay(name, f, amount, notifyURL, s.recordCapture)
}

// pay runs one alipay.trade.pay that record applies (a capture, a deduction; under s.mu)
// and answers as Alipay does: the refusal record names, a replay of the same request,
// or the paid trade. Its trade_status_sync goes to the request's notify_url, and a forced
// unknown outcome is answered after the money moved (as at Alipay).
func (s *Simulator) pay(name string, f map[string]string, amount alipay.Amount, notifyURL string,
	record func(f map[string]string, amount alipay.Amount, hash, notifyURL string, now time.Time) (*trade, bool, string, map[string]string)) *reply {
	m := parseMagic(f["subject"])
	if m.bizSubCode != "" {
		return bizFail(name, m.bizSubCode)
	}
	hash := fieldsHash(f)
	now := s.now()
	s.mu.Lock()
	t, replay, subCode, params := record(f, amount, hash, notifyURL, now)
	s.mu.Unlock()
	if subCode != "" {
		return bizFail(name, subCode)
	}
	total := t.params.TotalAmount.String()
	ok := successNode().
		add("trade_no", t.tradeNo).
		add("out_trade_no", t.outTradeNo).
		add("buyer_logon_id", t.buyerLogonID).
		add("total_amount", total).
		add("receipt_amount", total).
		add("buyer_pay_amount", total).
		add("point_amount", alipay.Amount(0).String()).
		add("invoice_amount", total).
		add("gmt_payment", alipay.FormatTimestamp(t.gmtPayment)).
		add("buyer_user_id", t.buyerID)
	if replay {
		return &reply{name: name, node: ok}
	}
	if params != nil {
		s.send(t.notifyURL, params)
	}
	switch {
	case m.unavailable:
		return &reply{name: name, node: failNode(code20000, msg20000, "isp.unknow-error", "系统繁忙")}
	case m.systemError:
		return bizFail(name, "ACQ.SYSTEM_ERROR")
	}
	return &reply{name: name, node: ok, force: m.force}
}

// recordCapture applies a capture; s.mu must be held. params is the trade_status_sync to
// send (nil on a replay or refusal).
func (s *Simulator) recordCapture(f map[string]string, amount alipay.Amount, hash, notifyURL string, now time.Time) (*trade, bool, string, map[string]string) {
	if t := s.trades[f["out_trade_no"]]; t != nil {
		if t.hash != hash {
			return nil, false, "ACQ.CONTEXT_INCONSISTENT", nil
		}
		return t, true, "", nil
	}
	order := s.authByNo[f["auth_no"]]
	switch {
	case order == nil:
		return nil, false, "ACQ.AUTH_NO_ERROR", nil
	case order.status == orderStatusInit:
		return nil, false, "ACQ.AUTH_ORDER_NOT_PAID", nil
	case order.status == orderStatusFinish:
		return nil, false, "ACQ.AUTH_ORDER_HAS_FINISHED", nil
	case order.status == orderStatusClosed:
		return nil, false, "ACQ.AUTH_ORDER_HAS_CLOSED", nil
	case f["buyer_id"] != order.payerUserID || !blank(f["buyer_open_id"]):
		// The simulator's payers have user ids only (L11).
		return nil, false, "ACQ.PAYER_UNMATCHED", nil
	case f["seller_id"] != s.payee(order) && (f["seller_id"] != "" || s.payee(order) != s.sellerID):
		// Parties differ from the freeze's. An absent seller_id is taken as the
		// merchant itself (the simulator's assumption; Alipay's page requires it).
		return nil, false, "ACQ.AUTH_NO_ERROR", nil
	case amount > order.rest():
		return nil, false, "ACQ.AUTH_AMOUNT_NOT_ENOUGH", nil
	case len(s.trades) >= s.maxOrders:
		return nil, false, "SIM_CAPACITY_EXCEEDED", nil
	}
	t := &trade{
		tradeNo:    alipayNo(now, "22", s.nextSeq(), 18),
		outTradeNo: f["out_trade_no"],
		params: &alipay.AppPayParams{OutTradeNo: f["out_trade_no"], TotalAmount: amount, Subject: f["subject"],
			Body: f["body"], ProductCode: alipay.ProductCodePreAuth},
		hash:         hash,
		status:       alipay.TradeStatusSuccess,
		notifyURL:    notifyURL,
		buyerID:      order.payerUserID,
		buyerLogonID: order.payerLogonID,
		gmtCreate:    now,
		gmtPayment:   now,
		sellerID:     s.payee(order),
		authNo:       order.authNo,
	}
	s.trades[t.outTradeNo] = t
	s.tradesByNo[t.tradeNo] = t
	order.totalPay += amount
	if f["auth_confirm_mode"] == alipay.AuthConfirmComplete {
		order.totalUnfreeze += order.rest()
	}
	order.settleIfEmpty()
	s.moved(Movement{Kind: MovePay, OutOrderNo: order.outOrderNo, RequestNo: t.outTradeNo, Amount: amount, Time: now})
	return t, false, "", s.tradeNotice(t, now)
}
