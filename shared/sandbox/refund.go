package sandbox

import (
	"strings"
	"time"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
)

// asyncRefundNoticeDelay: how long after its reply a SIM_FUND_CHANGE_N refund's notice
// is first delivered.
const asyncRefundNoticeDelay = 500 * time.Millisecond

// simRefund is one refund of a trade, keyed by its out_request_no (L4.1).
type simRefund struct {
	outRequestNo string
	amount       alipay.Amount
	reason       string
	gmt          time.Time
}

// Refund is a refund the simulator made: what a test counts to prove money moved once.
type Refund struct {
	OutTradeNo   string
	OutRequestNo string
	Amount       alipay.Amount
	Reason       string
	Time         time.Time
}

// Refunds returns the refunds of a trade in the order they were made (API and console).
func (s *Simulator) Refunds(outTradeNo string) []Refund {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.trades[outTradeNo]
	if t == nil {
		return nil
	}
	out := make([]Refund, 0, len(t.refundOrder))
	for _, no := range t.refundOrder {
		r := t.refunds[no]
		out = append(out, Refund{OutTradeNo: outTradeNo, OutRequestNo: no, Amount: r.amount, Reason: r.reason, Time: r.gmt})
	}
	return out
}

// makeRefund records a refund of t and returns its notice (trade_status_sync with
// out_biz_no, the cumulative refund_fee and gmt_refund with milliseconds, TRADE_CLOSED
// once everything is refunded, L6); s.mu must be held.
func (s *Simulator) makeRefund(t *trade, outRequestNo string, amount alipay.Amount, reason string, now time.Time) map[string]string {
	if t.refunds == nil {
		t.refunds = map[string]*simRefund{}
	}
	t.refunds[outRequestNo] = &simRefund{outRequestNo: outRequestNo, amount: amount, reason: reason, gmt: now}
	t.refundOrder = append(t.refundOrder, outRequestNo)
	t.refunded += amount
	if t.refunded == t.params.TotalAmount {
		t.status = alipay.TradeStatusClosed
		t.gmtClose = now
	}
	params := s.tradeNotice(t, now)
	set(params, "out_biz_no", outRequestNo)
	set(params, "refund_fee", t.refunded.String())
	set(params, "gmt_refund", now.Format(alipay.TimestampLayout+".000"))
	return params
}

// findTrade looks a trade up by trade_no (preferred) or out_trade_no; s.mu must be held.
func (s *Simulator) findTrade(f map[string]string) *trade {
	if !blank(f["trade_no"]) {
		return s.tradesByNo[f["trade_no"]]
	}
	return s.trades[f["out_trade_no"]]
}

// tradeRefund simulates alipay.trade.refund with Alipay's rules (L4): out_request_no
// defaults to out_trade_no; the same number and amount is the same refund (answered
// with fund_change N, no money moves again); the same number with another amount is
// ACQ.DISCORDANT_REPEAT_REQUEST; refunds never exceed the trade's total; a finished
// trade refuses, a closed one too. refund_reason markers force outcomes: SIM_BIZ_<CODE>
// refuses, SIM_FUND_CHANGE_N refunds but answers fund_change N, and SIM_TIMEOUT,
// SIM_HTTP500, SIM_BAD_SIGN, SIM_20000, SIM_SYSTEM_ERROR refund and lose the reply (the
// first time only: an identical retry gets the normal answer).
func (s *Simulator) tradeRefund(p map[string]string) *reply {
	name := methodNode(alipay.MethodTradeRefund)
	f, ok := bizStrings(p["biz_content"], "out_trade_no", "trade_no", "refund_amount", "out_request_no", "refund_reason")
	if !ok || (blank(f["out_trade_no"]) && blank(f["trade_no"])) {
		return bizFail(name, "ACQ.INVALID_PARAMETER")
	}
	amount, err := alipay.ParseAmount(f["refund_amount"])
	if err == nil {
		err = amount.CheckRange()
	}
	if err != nil {
		return bizFail(name, "ACQ.REFUND_FEE_ERROR")
	}
	m := parseMagic(f["refund_reason"])
	fundChangeN := strings.Contains(f["refund_reason"], "SIM_FUND_CHANGE_N")
	if m.bizSubCode != "" {
		return bizFail(name, m.bizSubCode)
	}
	if cerr := s.reserveDeliveries(1); cerr != nil {
		return bizFail(name, "ACQ.SYSTEM_ERROR")
	}
	now := s.now()
	s.mu.Lock()
	t := s.findTrade(f)
	if t == nil {
		s.mu.Unlock()
		return bizFail(name, "ACQ.TRADE_NOT_EXIST")
	}
	no := f["out_request_no"]
	if blank(no) {
		no = t.outTradeNo // L4.1: Alipay uses the trade's number
	}
	var params map[string]string
	fundChange := "Y"
	if prev := t.refunds[no]; prev != nil {
		if prev.amount != amount {
			s.mu.Unlock()
			return bizFail(name, "ACQ.DISCORDANT_REPEAT_REQUEST")
		}
		// The same refund again: accepted, no money moves (fund_change N, L4.2).
		fundChange, m, fundChangeN = "N", magic{}, false
	} else {
		var sub string
		switch {
		case t.status == alipay.TradeStatusFinished:
			sub = "ACQ.TRADE_HAS_FINISHED"
		case t.status == alipay.TradeStatusClosed:
			sub = "ACQ.TRADE_HAS_CLOSE"
		case t.status != alipay.TradeStatusSuccess:
			sub = "ACQ.TRADE_STATUS_ERROR"
		case t.refunded+amount > t.params.TotalAmount:
			sub = "ACQ.REASON_TRADE_REFUND_FEE_ERR"
		}
		if sub != "" {
			s.mu.Unlock()
			return bizFail(name, sub)
		}
		params = s.makeRefund(t, no, amount, f["refund_reason"], now)
		if fundChangeN {
			fundChange = "N"
		}
	}
	n := successNode().
		add("trade_no", t.tradeNo).
		add("out_trade_no", t.outTradeNo).
		add("buyer_logon_id", t.buyerLogonID).
		add("fund_change", fundChange).
		add("refund_fee", t.refunded.String()).
		add("gmt_refund_pay", alipay.FormatTimestamp(t.refunds[no].gmt)).
		add("buyer_user_id", t.buyerID).
		add("buyer_open_id", t.buyerOpenID)
	url := t.notifyURL
	s.mu.Unlock()
	switch {
	case params != nil && fundChangeN:
		// Settled asynchronously: its notice comes after the reply.
		s.sendAfter(url, params, asyncRefundNoticeDelay)
	case params != nil:
		s.send(url, params)
	}
	switch {
	case m.unavailable:
		return &reply{name: name, node: failNode(code20000, msg20000, "isp.unknow-error", "系统繁忙")}
	case m.systemError:
		return bizFail(name, "ACQ.SYSTEM_ERROR")
	}
	return &reply{name: name, node: n, force: m.force}
}

// tradeRefundQuery simulates alipay.trade.fastpay.refund.query (L5): a refund that
// happened has refund_status REFUND_SUCCESS; one Alipay does not have is a 10000 reply
// without refund data.
func (s *Simulator) tradeRefundQuery(p map[string]string) *reply {
	name := methodNode(alipay.MethodTradeRefundQuery)
	f, ok := bizStrings(p["biz_content"], "out_trade_no", "trade_no", "out_request_no")
	if !ok || (blank(f["out_trade_no"]) && blank(f["trade_no"])) || blank(f["out_request_no"]) {
		return bizFail(name, "ACQ.INVALID_PARAMETER")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.findTrade(f)
	if t == nil {
		return bizFail(name, "ACQ.TRADE_NOT_EXIST")
	}
	n := successNode().add("trade_no", t.tradeNo).add("out_trade_no", t.outTradeNo).add("out_request_no", f["out_request_no"])
	if r := t.refunds[f["out_request_no"]]; r != nil {
		n.add("total_amount", t.params.TotalAmount.String()).
			add("refund_amount", r.amount.String()).
			add("refund_reason", r.reason).
			add("refund_status", alipay.RefundStatusSuccess).
			add("gmt_refund_pay", alipay.FormatTimestamp(r.gmt))
	}
	return &reply{name: name, node: n}
}

// tradeClose simulates alipay.trade.close (L7): a trade nobody paid yet does not exist
// (ACQ.TRADE_NOT_EXIST, nothing recorded: the order string stays payable); a paid or
// closed trade is not closable (ACQ.TRADE_STATUS_ERROR).
func (s *Simulator) tradeClose(p map[string]string) *reply {
	name := methodNode(alipay.MethodTradeClose)
	f, ok := bizStrings(p["biz_content"], "out_trade_no", "trade_no")
	if !ok || (blank(f["out_trade_no"]) && blank(f["trade_no"])) {
		return bizFail(name, "ACQ.INVALID_PARAMETER")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.findTrade(f)
	if t == nil {
		return bizFail(name, "ACQ.TRADE_NOT_EXIST")
	}
	if t.status != alipay.TradeStatusWaitBuyerPay {
		return bizFail(name, "ACQ.TRADE_STATUS_ERROR")
	}
	t.status, t.gmtClose = alipay.TradeStatusClosed, s.now()
	return &reply{name: name, node: successNode().add("trade_no", t.tradeNo).add("out_trade_no", t.outTradeNo)}
}
