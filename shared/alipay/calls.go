package alipay

import (
	"context"
	"errors"
)

// Typed calls of the pre-auth and app-pay flows. Result fields are the parts of the reply
// node we use; amounts that may be absent are strings, parsed by the caller.

// Method of a voucher create (§10.1).
func (p *VoucherCreateParams) Method() string { return MethodVoucherCreate }

// Echoes: the voucher reply names the order and the request (§9.2).
func (p *VoucherCreateParams) Echoes() []Echo {
	return []Echo{{"out_order_no", p.OutOrderNo}, {"out_request_no", p.OutRequestNo}}
}

// VoucherCreateResult is the voucher.create reply node.
type VoucherCreateResult struct {
	OutOrderNo   string `json:"out_order_no"`
	OutRequestNo string `json:"out_request_no"`
	CodeType     string `json:"code_type"`
	CodeValue    string `json:"code_value"`
	CodeURL      string `json:"code_url"`
}

// FundAuthDetailQuery asks for one fund operation by the merchant's pair (§9.4).
type FundAuthDetailQuery struct {
	OutOrderNo   string `json:"out_order_no"`
	OutRequestNo string `json:"out_request_no"`
}

func (q *FundAuthDetailQuery) Method() string              { return MethodFundAuthDetailQuery }
func (q *FundAuthDetailQuery) BizContent() (string, error) { return bizMarshal(q) }
func (q *FundAuthDetailQuery) Echoes() []Echo {
	return []Echo{{"out_order_no", q.OutOrderNo}, {"out_request_no", q.OutRequestNo}}
}

// FundAuthDetailResult is the detail query's reply node.
type FundAuthDetailResult struct {
	OutOrderNo    string `json:"out_order_no"`
	OutRequestNo  string `json:"out_request_no"`
	AuthNo        string `json:"auth_no"`
	OperationID   string `json:"operation_id"`
	OperationType string `json:"operation_type"`
	Status        string `json:"status"`
	Amount        string `json:"amount"`
	GmtTrans      string `json:"gmt_trans"`
	// The auth order as a whole (§9.4): its status (INIT, AUTHORIZED, FINISH, CLOSED),
	// totals and payer.
	OrderStatus         string `json:"order_status"`
	TotalFreezeAmount   string `json:"total_freeze_amount"`
	TotalUnfreezeAmount string `json:"total_unfreeze_amount"`
	TotalPayAmount      string `json:"total_pay_amount"`
	RestAmount          string `json:"rest_amount"`
	PayerUserID         string `json:"payer_user_id"`
	PayerOpenID         string `json:"payer_open_id"`
}

// QueryTrade is alipay.trade.query by out_trade_no (L8): nil, nil when Alipay has no such
// trade (ACQ.TRADE_NOT_EXIST), which for a payment we asked for means it never happened.
func QueryTrade(ctx context.Context, ex Executor, c *Credentials, outTradeNo string, opts CallOptions) (*TradeQueryResult, error) {
	q, err := Call[TradeQueryResult](ctx, ex, c, &TradeQuery{OutTradeNo: outTradeNo}, opts)
	var be *BusinessError
	if errors.As(err, &be) && !be.Configuration() && be.SubCode == "ACQ.TRADE_NOT_EXIST" {
		return nil, nil
	}
	return q, err
}

// TradeQuery asks for a trade by out_trade_no (L8).
type TradeQuery struct {
	OutTradeNo string `json:"out_trade_no"`
}

func (q *TradeQuery) Method() string              { return MethodTradeQuery }
func (q *TradeQuery) BizContent() (string, error) { return bizMarshal(q) }
func (q *TradeQuery) Echoes() []Echo              { return []Echo{{"out_trade_no", q.OutTradeNo}} }

// TradeQueryResult is the trade.query reply node (L8).
type TradeQueryResult struct {
	TradeNo        string `json:"trade_no"`
	OutTradeNo     string `json:"out_trade_no"`
	TradeStatus    string `json:"trade_status"`
	TotalAmount    string `json:"total_amount"`
	BuyerUserID    string `json:"buyer_user_id"`
	BuyerOpenID    string `json:"buyer_open_id"`
	SendPayDate    string `json:"send_pay_date"`
	ReceiptAmount  string `json:"receipt_amount"`
	BuyerPayAmount string `json:"buyer_pay_amount"`
}
