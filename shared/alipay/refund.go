package alipay

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
}

// Refunded reports whether the reply proves the refund happened (L4.2).
func (r *TradeRefundResult) Refunded() bool { return r.FundChange == "Y" }
