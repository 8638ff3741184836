package sandbox

import (
	"cmp"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
)

// invalidTime is the far-future invalid_time Alipay gives open-ended agreements.
const invalidTime = "2115-02-01 00:00:00"

// trade is an app-pay trade, created when the buyer pays an order string.
type trade struct {
	tradeNo      string
	outTradeNo   string
	params       *alipay.AppPayParams
	hash         string
	status       alipay.TradeStatus
	notifyURL    string
	buyerID      string
	buyerOpenID  string // open_id apps: sent instead of buyerID (L11)
	buyerLogonID string
	gmtCreate    time.Time
	gmtPayment   time.Time
	gmtClose     time.Time
	refunded     alipay.Amount         // cumulative
	magic        magic                 // forced outcome of alipay.trade.query
	refunds      map[string]*simRefund // by out_request_no (refund.go)
	refundOrder  []string              // out_request_no in the order they were made
	sellerID     string                // a capture's seller (the freeze's payee); "" is the simulator's PID
	authNo       string                // a capture's auth order
}

// agreement is a withholding agreement signed together with a payment.
type agreement struct {
	agreementNo         string
	externalNo          string
	externalLogonID     string
	personalProductCode string
	signScene           string
	status              alipay.AgreementStatus
	userID              string
	logonID             string
	signTime            time.Time
	unsignTime          time.Time
	notifyURL           string
	// The signed plan (agreement.go): period rules, succeeded deductions and their sum.
	rule    *alipay.PeriodRuleParams
	charges int
	charged alipay.Amount
}

// tradeQuery simulates alipay.trade.query; trade_no wins over out_trade_no.
func (s *Simulator) tradeQuery(p map[string]string) *reply {
	name := methodNode(alipay.MethodTradeQuery)
	f, ok := bizStrings(p["biz_content"], "out_trade_no", "trade_no")
	if !ok || (blank(f["out_trade_no"]) && blank(f["trade_no"])) {
		return bizFail(name, "ACQ.INVALID_PARAMETER")
	}
	s.mu.Lock()
	var t *trade
	if !blank(f["trade_no"]) {
		t = s.tradesByNo[f["trade_no"]]
	} else {
		t = s.trades[f["out_trade_no"]]
	}
	if t == nil {
		s.mu.Unlock()
		zero := alipay.Amount(0).String()
		// Alipay answers this even for an order string that was built but never paid.
		return &reply{name: name, node: failNode(code40004, msg40004, "ACQ.TRADE_NOT_EXIST", bizSubMsg("ACQ.TRADE_NOT_EXIST")).
			add("buyer_pay_amount", zero).add("invoice_amount", zero).
			add("out_trade_no", f["out_trade_no"]).add("point_amount", zero).add("receipt_amount", zero)}
	}
	total := t.params.TotalAmount.String()
	n := successNode().
		add("trade_no", t.tradeNo).
		add("out_trade_no", t.outTradeNo).
		add("buyer_logon_id", t.buyerLogonID).
		add("trade_status", string(t.status)).
		add("total_amount", total).
		add("buyer_pay_amount", total).
		add("point_amount", alipay.Amount(0).String()).
		add("invoice_amount", total).
		add("send_pay_date", alipay.FormatTimestamp(t.gmtPayment)).
		add("receipt_amount", total).
		add("buyer_user_id", t.buyerID).
		add("buyer_open_id", t.buyerOpenID).
		add("subject", t.params.Subject)
	m := t.magic
	s.mu.Unlock()
	switch {
	case m.unavailable:
		return &reply{name: name, node: failNode(code20000, msg20000, "isp.unknow-error", "系统繁忙")}
	case m.systemError:
		return bizFail(name, "ACQ.SYSTEM_ERROR")
	}
	return &reply{name: name, node: n, force: m.force}
}

// payRequest is the body of POST /sandbox/orders/pay.
type payRequest struct {
	OrderStr string `json:"order_str"`
	Buyer    string `json:"buyer"` // buyer user id, 2088 + 12 digits
	// BuyerOpenID makes the buyer an open_id app's user: notices and replies carry
	// buyer_open_id instead of the user id (L11).
	BuyerOpenID string `json:"buyer_open_id"`
}

// payOrder is the buyer's Alipay app submitting an order string and paying it.
func (s *Simulator) payOrder(body []byte) (any, *controlError) {
	var req payRequest
	if cerr := decodeJSON(body, &req); cerr != nil {
		return nil, cerr
	}
	buyer, cerr := buyerID(req.Buyer)
	if cerr != nil {
		return nil, cerr
	}
	if len(req.BuyerOpenID) > 128 || strings.ContainsAny(req.BuyerOpenID, "&= ") {
		return nil, badRequest("buyer_open_id", "must be an opaque id of at most 128 characters without '&', '=' or spaces")
	}
	now := s.now()
	params, ap, cerr := s.checkOrderString(req.OrderStr, now)
	if cerr != nil {
		return nil, cerr
	}
	m := parseMagic(ap.Subject)
	if m.bizSubCode != "" {
		return nil, &controlError{Status: http.StatusUnprocessableEntity, Code: "PAYMENT_REFUSED",
			SubCode: m.bizSubCode, Message: bizSubMsg(m.bizSubCode)}
	}
	if cerr := s.reserveDeliveries(2); cerr != nil {
		return nil, cerr
	}

	s.mu.Lock()
	t, g, cerr := s.recordTrade(params, ap, buyer, m, now)
	if cerr != nil {
		s.mu.Unlock()
		return nil, cerr
	}
	if req.BuyerOpenID != "" {
		t.buyerID, t.buyerOpenID = "", req.BuyerOpenID
	}
	tradeParams := s.tradeNotice(t, now)
	var agreeParams map[string]string
	if g != nil {
		agreeParams = s.agreementNotice(g, alipay.KindAgreementSign, now)
	}
	s.mu.Unlock()

	res := map[string]any{
		"trade_no":     t.tradeNo,
		"out_trade_no": t.outTradeNo,
		"trade_status": string(t.status),
	}
	sent := []Notification{s.send(t.notifyURL, tradeParams)}
	if g != nil {
		res["agreement_no"] = g.agreementNo
		sent = append(sent, s.send(g.notifyURL, agreeParams))
	}
	res["notifications"] = sent
	return res, nil
}

// checkOrderString verifies an order string as Alipay's client and servers would.
func (s *Simulator) checkOrderString(orderStr string, now time.Time) (map[string]string, *alipay.AppPayParams, *controlError) {
	invalid := func(field, msg string) *controlError {
		return &controlError{Status: http.StatusBadRequest, Code: "INVALID_ORDER_STRING", Field: field, Message: msg}
	}
	if blank(orderStr) {
		return nil, nil, invalid("order_str", "is required")
	}
	params, err := alipay.VerifyOrderString(orderStr, s.appKey)
	if err != nil {
		cerr := invalid("order_str", err.Error())
		if errors.Is(err, alipay.ErrBadSignature) {
			if p, perr := alipay.ParseOrderString(orderStr); perr == nil {
				cerr.SignContent = alipay.SignContent(p)
			}
		}
		return nil, nil, cerr
	}
	switch {
	case params["method"] != alipay.MethodTradeAppPay:
		return nil, nil, invalid("method", "must be "+alipay.MethodTradeAppPay)
	case params["app_id"] != s.appID:
		return nil, nil, invalid("app_id", "is not the simulated app ("+s.appID+")")
	case params["version"] != alipay.Version:
		return nil, nil, invalid("version", "must be 1.0")
	case !blank(params["app_auth_token"]):
		return nil, nil, invalid("app_auth_token", "ISV calls are not simulated")
	case !blank(params["notify_url"]) && !validURL(params["notify_url"], maxNotifyURL):
		return nil, nil, invalid("notify_url", "must be an absolute http or https URL of at most 256 characters")
	}
	ts, err := time.ParseInLocation(alipay.TimestampLayout, params["timestamp"], alipay.ChinaTime)
	if err != nil || len(params["timestamp"]) != len(alipay.TimestampLayout) {
		return nil, nil, invalid("timestamp", "must be yyyy-MM-dd HH:mm:ss (China time)")
	}
	if ts.Sub(now) > timestampTolerance {
		return nil, nil, invalid("timestamp", "is more than 15 minutes ahead of China time now ("+alipay.FormatTimestamp(now)+"); check the signer's clock and zone")
	}
	ap, err := alipay.DecodeAppPay([]byte(params["biz_content"]))
	if err == nil {
		err = ap.Validate(now)
	}
	if err != nil {
		cerr := invalid("biz_content", err.Error())
		if fe, ok := alipay.AsFieldError(err); ok && fe.Field != "" {
			cerr.Field = "biz_content." + fe.Field
		}
		return nil, nil, cerr
	}
	if ap.TimeoutExpress != "" && ap.TimeoutExpress != "1c" && now.After(ts.Add(payTimeout(ap.TimeoutExpress))) {
		return nil, nil, &controlError{Status: http.StatusConflict, Code: "PAYMENT_REFUSED", SubCode: "ACQ.TRADE_HAS_CLOSE",
			Message: "the order's timeout_express has passed since its timestamp"}
	}
	return params, ap, nil
}

// recordTrade creates the trade (and agreement) of a paid order string; s.mu must be
// held.
func (s *Simulator) recordTrade(params map[string]string, ap *alipay.AppPayParams, buyer string, m magic, now time.Time) (*trade, *agreement, *controlError) {
	hash := ap.CanonicalHash()
	if t := s.trades[ap.OutTradeNo]; t != nil {
		if t.hash != hash {
			return nil, nil, &controlError{Status: http.StatusConflict, Code: "PAYMENT_REFUSED", SubCode: "ACQ.CONTEXT_INCONSISTENT",
				Message: "out_trade_no was already paid with other parameters"}
		}
		if t.status == alipay.TradeStatusClosed {
			return nil, nil, &controlError{Status: http.StatusConflict, Code: "PAYMENT_REFUSED", SubCode: "ACQ.TRADE_HAS_CLOSE", Message: "the trade is closed"}
		}
		return nil, nil, &controlError{Status: http.StatusConflict, Code: "PAYMENT_REFUSED", SubCode: "ACQ.TRADE_HAS_SUCCESS", Message: "the trade is already paid"}
	}
	if len(s.trades) >= s.maxOrders {
		return nil, nil, unavailable("SIM_CAPACITY_EXCEEDED", "sandbox record limit reached; restart the simulator")
	}
	asp := ap.AgreementSignParams
	if asp != nil {
		if len(s.agreements) >= s.maxOrders {
			return nil, nil, unavailable("SIM_CAPACITY_EXCEEDED", "sandbox record limit reached; restart the simulator")
		}
		if g := s.agreeByExt[asp.ExternalAgreementNo]; asp.ExternalAgreementNo != "" && g != nil && g.status == alipay.AgreementStatusNormal {
			return nil, nil, conflict("AGREEMENT_ALREADY_SIGNED", "external_agreement_no already names an active agreement")
		}
	}
	t := &trade{
		tradeNo:      alipayNo(now, "22", s.nextSeq(), 18),
		outTradeNo:   ap.OutTradeNo,
		params:       ap,
		hash:         hash,
		status:       alipay.TradeStatusSuccess,
		notifyURL:    params["notify_url"],
		buyerID:      buyer,
		buyerLogonID: maskedLogon(buyer),
		gmtCreate:    now,
		gmtPayment:   now,
		magic:        m,
	}
	s.trades[t.outTradeNo] = t
	s.tradesByNo[t.tradeNo] = t
	if asp == nil {
		return t, nil, nil
	}
	g := &agreement{
		agreementNo:         alipayNo(now, "", s.nextSeq(), 12),
		externalNo:          asp.ExternalAgreementNo,
		externalLogonID:     asp.ExternalLogonID,
		personalProductCode: asp.PersonalProductCode,
		signScene:           asp.SignScene,
		status:              alipay.AgreementStatusNormal,
		userID:              buyer,
		logonID:             maskedLogon(buyer),
		signTime:            now,
		notifyURL:           asp.SignNotifyURL,
	}
	if r := asp.PeriodRuleParams; r != nil {
		c := *r
		g.rule = &c
	}
	if g.notifyURL == "" {
		g.notifyURL = params["notify_url"]
	}
	s.agreements[g.agreementNo] = g
	if g.externalNo != "" {
		s.agreeByExt[g.externalNo] = g
	}
	return t, g, nil
}

// tradeNotice builds the trade_status_sync parameters of t (§8.5); s.mu must be held.
func (s *Simulator) tradeNotice(t *trade, now time.Time) map[string]string {
	p := s.noticeHeader(alipay.KindTradeStatus, now)
	total := t.params.TotalAmount.String()
	set(p, "trade_no", t.tradeNo)
	set(p, "out_trade_no", t.outTradeNo)
	set(p, "trade_status", string(t.status))
	set(p, "total_amount", total)
	set(p, "receipt_amount", total)
	set(p, "invoice_amount", total)
	set(p, "buyer_pay_amount", total)
	set(p, "point_amount", alipay.Amount(0).String())
	set(p, "buyer_id", t.buyerID)
	set(p, "buyer_open_id", t.buyerOpenID)
	set(p, "buyer_logon_id", t.buyerLogonID)
	set(p, "seller_id", cmp.Or(t.sellerID, s.sellerID))
	set(p, "subject", t.params.Subject)
	set(p, "body", t.params.Body)
	set(p, "gmt_create", alipay.FormatTimestamp(t.gmtCreate))
	set(p, "gmt_payment", alipay.FormatTimestamp(t.gmtPayment))
	if !t.gmtClose.IsZero() {
		set(p, "gmt_close", alipay.FormatTimestamp(t.gmtClose))
	}
	set(p, "fund_bill_list", `[{"amount":"`+total+`","fundChannel":"ALIPAYACCOUNT"}]`)
	set(p, "passback_params", t.params.PassbackParams)
	return p
}

// agreementNotice builds dut_user_sign / dut_user_unsign parameters (§8.7); s.mu must
// be held.
func (s *Simulator) agreementNotice(g *agreement, kind alipay.NotifyKind, now time.Time) map[string]string {
	p := s.noticeHeader(kind, now)
	set(p, "agreement_no", g.agreementNo)
	set(p, "external_agreement_no", g.externalNo)
	set(p, "external_logon_id", g.externalLogonID)
	set(p, "alipay_user_id", g.userID)
	set(p, "alipay_logon_id", g.logonID)
	set(p, "personal_product_code", g.personalProductCode)
	set(p, "sign_scene", g.signScene)
	set(p, "status", string(g.status))
	set(p, "sign_time", alipay.FormatTimestamp(g.signTime))
	set(p, "valid_time", alipay.FormatTimestamp(g.signTime))
	set(p, "invalid_time", invalidTime)
	if !g.unsignTime.IsZero() {
		set(p, "unsign_time", alipay.FormatTimestamp(g.unsignTime))
	}
	return p
}

// tradeRequest is the body of POST /sandbox/orders/finish and /sandbox/orders/refund.
type tradeRequest struct {
	OutTradeNo string `json:"out_trade_no"`
	// RefundFee is the amount of this refund (refund only); the notice carries the
	// cumulative refunded amount.
	RefundFee string `json:"refund_fee"`
	// OutBizNo is the refund request number (refund only); generated when empty.
	OutBizNo string `json:"out_biz_no"`
}

// lookupTrade finds an open (TRADE_SUCCESS) trade; s.mu must be held.
func (s *Simulator) lookupTrade(outTradeNo string) (*trade, *controlError) {
	if outTradeNo == "" {
		return nil, badRequest("out_trade_no", "is required")
	}
	t := s.trades[outTradeNo]
	if t == nil {
		return nil, notFound("no paid trade has this out_trade_no (pay its order string first)")
	}
	if t.status != alipay.TradeStatusSuccess {
		return nil, conflict("TRADE_NOT_OPEN", "the trade is "+string(t.status)+"; only TRADE_SUCCESS trades change")
	}
	return t, nil
}

// finishOrder ends the refund window: TRADE_SUCCESS → TRADE_FINISHED.
func (s *Simulator) finishOrder(body []byte) (any, *controlError) {
	var req tradeRequest
	if cerr := decodeJSON(body, &req); cerr != nil {
		return nil, cerr
	}
	if req.RefundFee != "" || req.OutBizNo != "" {
		return nil, badRequest("refund_fee", "finish takes only out_trade_no")
	}
	if cerr := s.reserveDeliveries(1); cerr != nil {
		return nil, cerr
	}
	now := s.now()
	s.mu.Lock()
	t, cerr := s.lookupTrade(req.OutTradeNo)
	if cerr != nil {
		s.mu.Unlock()
		return nil, cerr
	}
	t.status = alipay.TradeStatusFinished
	params := s.tradeNotice(t, now)
	s.mu.Unlock()
	return map[string]any{
		"trade_no":      t.tradeNo,
		"out_trade_no":  t.outTradeNo,
		"trade_status":  string(alipay.TradeStatusFinished),
		"notifications": []Notification{s.send(t.notifyURL, params)},
	}, nil
}

// refundOrder is a refund made in Alipay's console (not through the API): part or all
// of a trade, with the same rules and notice as alipay.trade.refund.
func (s *Simulator) refundOrder(body []byte) (any, *controlError) {
	var req tradeRequest
	if cerr := decodeJSON(body, &req); cerr != nil {
		return nil, cerr
	}
	fee, err := alipay.ParseAmount(req.RefundFee)
	if err == nil {
		err = fee.CheckRange()
	}
	if err != nil {
		return nil, badRequest("refund_fee", "must be an amount like \"3.00\" (0.01 or more): "+err.Error())
	}
	if req.OutBizNo != "" {
		if err := alipay.CheckOutTradeNo("out_biz_no", req.OutBizNo); err != nil {
			return nil, badRequest("out_biz_no", err.Error())
		}
	}
	if cerr := s.reserveDeliveries(1); cerr != nil {
		return nil, cerr
	}
	now := s.now()
	s.mu.Lock()
	t, cerr := s.lookupTrade(req.OutTradeNo)
	if cerr == nil && t.refunded+fee > t.params.TotalAmount {
		cerr = conflict("REFUND_AMT_NOT_EQUAL_TOTAL", "refund_fee exceeds what is left to refund ("+(t.params.TotalAmount-t.refunded).String()+")")
	}
	outBizNo := req.OutBizNo
	if outBizNo == "" {
		outBizNo = alipayNo(now, "RF", s.nextSeq(), 8)
	}
	if cerr == nil && t.refunds[outBizNo] != nil {
		cerr = conflict("DUPLICATE_OUT_BIZ_NO", "this trade already has a refund numbered "+outBizNo)
	}
	if cerr != nil {
		s.mu.Unlock()
		return nil, cerr
	}
	params := s.makeRefund(t, outBizNo, fee, "console", now)
	status := t.status
	s.mu.Unlock()
	return map[string]any{
		"trade_no":      t.tradeNo,
		"out_trade_no":  t.outTradeNo,
		"trade_status":  string(status),
		"refund_fee":    params["refund_fee"],
		"out_biz_no":    outBizNo,
		"notifications": []Notification{s.send(t.notifyURL, params)},
	}, nil
}

// unsignRequest is the body of POST /sandbox/agreements/unsign.
type unsignRequest struct {
	ExternalAgreementNo string `json:"external_agreement_no"`
	AgreementNo         string `json:"agreement_no"` // alternative
}

// unsignAgreement terminates an agreement (the user cancelled it in the Alipay app).
func (s *Simulator) unsignAgreement(body []byte) (any, *controlError) {
	var req unsignRequest
	if cerr := decodeJSON(body, &req); cerr != nil {
		return nil, cerr
	}
	if req.ExternalAgreementNo == "" && req.AgreementNo == "" {
		return nil, badRequest("external_agreement_no", "is required (or give agreement_no)")
	}
	if cerr := s.reserveDeliveries(1); cerr != nil {
		return nil, cerr
	}
	now := s.now()
	s.mu.Lock()
	g := s.agreements[req.AgreementNo]
	if req.AgreementNo == "" {
		g = s.agreeByExt[req.ExternalAgreementNo]
	}
	switch {
	case g == nil:
		s.mu.Unlock()
		return nil, notFound("no agreement was signed with this number")
	case g.status != alipay.AgreementStatusNormal:
		s.mu.Unlock()
		return nil, conflict("AGREEMENT_NOT_ACTIVE", "the agreement is "+string(g.status))
	}
	g.status = alipay.AgreementStatusUnsign
	g.unsignTime = now
	params := s.agreementNotice(g, alipay.KindAgreementUnsign, now)
	s.mu.Unlock()
	return map[string]any{
		"agreement_no":          g.agreementNo,
		"external_agreement_no": g.externalNo,
		"status":                string(alipay.AgreementStatusUnsign),
		"notifications":         []Notification{s.send(g.notifyURL, params)},
	}, nil
}
