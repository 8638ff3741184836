package alipay

import "strings"

// RefundParams is the body of POST /v1/app-pay/orders/{out_trade_no}/refunds
// (docs/design.md, the lifecycle contract): one refund, identified by out_request_no.
type RefundParams struct {
	OutRequestNo string `json:"out_request_no"`
	RefundAmount Amount `json:"refund_amount"`
	RefundReason string `json:"refund_reason,omitempty"`
}

func (p *RefundParams) bizFields() []bizField {
	return []bizField{
		{"out_request_no", bizString(&p.OutRequestNo)},
		{"refund_amount", bizAmount(&p.RefundAmount)},
		{"refund_reason", bizString(&p.RefundReason)},
	}
}

// DecodeRefund decodes a refund body; unknown fields are refused naming them.
func DecodeRefund(body []byte) (*RefundParams, error) {
	p := &RefundParams{}
	if err := bizDecodeBody(body, p.bizFields()); err != nil {
		return nil, err
	}
	return p, nil
}

// Validate applies L4.1: out_request_no 1-64 of [A-Za-z0-9_] (an out_trade_no-like
// number, unique within the trade), refund_amount 0.01-100000000.00, refund_reason at
// most 256 characters.
func (p *RefundParams) Validate() error {
	var c valChecker
	c.check(valOutTradeNo("out_request_no", p.OutRequestNo))
	c.check(valAmount("refund_amount", p.RefundAmount))
	c.check(valText("refund_reason", p.RefundReason, false, 256))
	return c.result()
}

// CanonicalHash is the hash of what decides "the same refund": amount and reason.
func (p *RefundParams) CanonicalHash() string {
	return bizHash(bizMarshal(struct {
		A Amount `json:"refund_amount"`
		R string `json:"refund_reason,omitempty"`
	}{p.RefundAmount, p.RefundReason}))
}

// DecodeEmpty accepts an empty body or an empty JSON object (close, sync, unsign): any field is
// refused naming it.
func DecodeEmpty(body []byte) error {
	if len(strings.TrimSpace(string(body))) == 0 {
		return nil
	}
	return bizDecodeBody(body, nil)
}

// TradeRefund is alipay.trade.refund for one refund of a trade (L4.1): out_request_no
// is always sent, so every refund (partial or full) has its own idempotency key.
type TradeRefund struct {
	OutTradeNo   string `json:"out_trade_no"`
	RefundAmount Amount `json:"refund_amount"`
	OutRequestNo string `json:"out_request_no"`
	RefundReason string `json:"refund_reason,omitempty"`
}

func (r *TradeRefund) Method() string              { return MethodTradeRefund }
func (r *TradeRefund) BizContent() (string, error) { return bizMarshal(r) }

// Echoes: the refund reply names the trade only (L4.2); out_request_no is not echoed.
func (r *TradeRefund) Echoes() []Echo { return []Echo{{"out_trade_no", r.OutTradeNo}} }

// TradeRefundResult is the alipay_trade_refund_response node (L4.2).
type TradeRefundResult struct {
	TradeNo    string `json:"trade_no"`
	OutTradeNo string `json:"out_trade_no"`
	// FundChange "Y" is the only proof this request refunded; anything else → query (L4.2).
	FundChange   string `json:"fund_change"`
	RefundFee    Amount `json:"refund_fee"` // cumulative on the trade, not this request
	GmtRefundPay string `json:"gmt_refund_pay"`
	// The payer (L11): one or the other, depending on the app's open_id setting.
	BuyerUserID string `json:"buyer_user_id"`
	BuyerOpenID string `json:"buyer_open_id"`
}

// Refunded reports whether the reply proves the refund happened (L4.2).
func (r *TradeRefundResult) Refunded() bool { return r.FundChange == "Y" }

// RefundQuery is alipay.trade.fastpay.refund.query for one refund (L5).
type RefundQuery struct {
	OutTradeNo   string   `json:"out_trade_no"`
	OutRequestNo string   `json:"out_request_no"`
	QueryOptions []string `json:"query_options,omitempty"`
}

func (q *RefundQuery) Method() string              { return MethodTradeRefundQuery }
func (q *RefundQuery) BizContent() (string, error) { return bizMarshal(q) }

// Echoes: a reply about a refund names its trade; out_request_no is checked by the
// caller, since a reply without refund data may leave it out.
func (q *RefundQuery) Echoes() []Echo { return []Echo{{"out_trade_no", q.OutTradeNo}} }

// RefundStatusSuccess is refund_status of a refund that happened (L5).
const RefundStatusSuccess = "REFUND_SUCCESS"

// RefundQueryResult is the refund query's reply node (L5).
type RefundQueryResult struct {
	TradeNo      string `json:"trade_no"`
	OutTradeNo   string `json:"out_trade_no"`
	OutRequestNo string `json:"out_request_no"`
	TotalAmount  string `json:"total_amount"`
	RefundAmount string `json:"refund_amount"`
	RefundStatus string `json:"refund_status"`
	GmtRefundPay string `json:"gmt_refund_pay"`
}

// Refunded: only refund_status REFUND_SUCCESS proves the refund (L5, the current rule).
func (r *RefundQueryResult) Refunded() bool { return r.RefundStatus == RefundStatusSuccess }

// Absent: no refund data at all, so the refund was not received and may be sent again
// with the same out_request_no and amount (L5). A reply with refund_amount but no
// refund_status is neither: re-query later.
func (r *RefundQueryResult) Absent() bool { return r.RefundStatus == "" && r.RefundAmount == "" }

// TradeClose is alipay.trade.close (L7).
type TradeClose struct {
	OutTradeNo string `json:"out_trade_no"`
}

func (c *TradeClose) Method() string              { return MethodTradeClose }
func (c *TradeClose) BizContent() (string, error) { return bizMarshal(c) }

// Echoes: none required; both ids are "special optional" in the reply (L7). A present
// out_trade_no must still be ours (DecodeReply checks only listed echoes, so the
// caller compares it).
func (c *TradeClose) Echoes() []Echo { return nil }

// TradeCloseResult is the close reply node (L7).
type TradeCloseResult struct {
	TradeNo    string `json:"trade_no"`
	OutTradeNo string `json:"out_trade_no"`
}
