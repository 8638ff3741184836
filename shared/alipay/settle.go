package alipay

// The calls after a freeze (L1–L3): the bodies our settle routes accept, and the typed
// gateway requests they become.

// Capture confirm modes of alipay.trade.pay with auth_no (L1.2).
const (
	AuthConfirmNotComplete = "NOT_COMPLETE" // keep the rest frozen (Alipay's default)
	AuthConfirmComplete    = "COMPLETE"     // release whatever is still frozen with this capture
)

// Cancel actions (L3): what Alipay did when it cancelled a freeze request.
const (
	CancelActionClose    = "close"    // nothing was frozen: the request is closed
	CancelActionUnfreeze = "unfreeze" // the freeze had happened and was released
)

// Field limits of the settle bodies (L1.2, L2.1, L3).
const (
	maxCaptureSubject = 256
	maxRemarkWidth    = 100 // "100 letters / 50 Chinese characters"
)

// CaptureParams is the body of POST /v1/preauth/orders/{out_order_no}/captures.
type CaptureParams struct {
	OutTradeNo      string `json:"out_trade_no,omitempty"`
	Amount          Amount `json:"amount,omitempty"`
	Subject         string `json:"subject,omitempty"`
	Body            string `json:"body,omitempty"`
	AuthConfirmMode string `json:"auth_confirm_mode,omitempty"`
}

// DecodeCapture decodes a capture body strictly; every error is a *FieldError.
func DecodeCapture(body []byte) (*CaptureParams, error) {
	p := &CaptureParams{}
	err := bizDecodeBody(body, []bizField{
		{"out_trade_no", bizString(&p.OutTradeNo)},
		{"amount", bizAmount(&p.Amount)},
		{"subject", bizString(&p.Subject)},
		{"body", bizString(&p.Body)},
		{"auth_confirm_mode", bizString(&p.AuthConfirmMode)},
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// Validate checks the capture body (L1.2); auth_confirm_mode defaults to NOT_COMPLETE.
func (p *CaptureParams) Validate() error {
	var c valChecker
	c.check(valOutTradeNo("out_trade_no", p.OutTradeNo))
	c.check(valAmount("amount", p.Amount))
	c.check(valSubject("subject", p.Subject, maxCaptureSubject))
	c.check(valEchoed("body", p.Body, false, bizMaxBody))
	c.check(valEnum("auth_confirm_mode", p.AuthConfirmMode, false, AuthConfirmNotComplete, AuthConfirmComplete))
	if err := c.result(); err != nil {
		return err
	}
	if p.AuthConfirmMode == "" {
		p.AuthConfirmMode = AuthConfirmNotComplete
	}
	return nil
}

// CanonicalHash identifies the capture's parameters (after Validate).
func (p *CaptureParams) CanonicalHash() string { return bizHash(bizMarshal(p)) }

// UnfreezeParams is the body of POST /v1/preauth/orders/{out_order_no}/unfreezes.
type UnfreezeParams struct {
	OutRequestNo string `json:"out_request_no,omitempty"`
	Amount       Amount `json:"amount,omitempty"`
	Remark       string `json:"remark,omitempty"`
}

// DecodeUnfreeze decodes an unfreeze body strictly; every error is a *FieldError.
func DecodeUnfreeze(body []byte) (*UnfreezeParams, error) {
	p := &UnfreezeParams{}
	err := bizDecodeBody(body, []bizField{
		{"out_request_no", bizString(&p.OutRequestNo)},
		{"amount", bizAmount(&p.Amount)},
		{"remark", bizString(&p.Remark)},
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// Validate checks the unfreeze body (L2.1): remark is required by Alipay.
func (p *UnfreezeParams) Validate() error {
	var c valChecker
	c.check(valOrderNo("out_request_no", p.OutRequestNo))
	c.check(valAmount("amount", p.Amount))
	c.check(valWidth("remark", p.Remark, true, maxRemarkWidth))
	return c.result()
}

// CanonicalHash identifies the unfreeze's parameters.
func (p *UnfreezeParams) CanonicalHash() string { return bizHash(bizMarshal(p)) }

// CancelParams is the body of POST /v1/preauth/orders/{out_order_no}/cancel: the
// voucher request to cancel (L3).
type CancelParams struct {
	OutRequestNo string `json:"out_request_no,omitempty"`
	Remark       string `json:"remark,omitempty"`
}

// DecodeCancel decodes a cancel body strictly; every error is a *FieldError.
func DecodeCancel(body []byte) (*CancelParams, error) {
	p := &CancelParams{}
	err := bizDecodeBody(body, []bizField{
		{"out_request_no", bizString(&p.OutRequestNo)},
		{"remark", bizString(&p.Remark)},
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// Validate checks the cancel body (L3).
func (p *CancelParams) Validate() error {
	var c valChecker
	c.check(valOrderNo("out_request_no", p.OutRequestNo))
	c.check(valWidth("remark", p.Remark, true, maxRemarkWidth))
	return c.result()
}

// CanonicalHash identifies the cancel's parameters.
func (p *CancelParams) CanonicalHash() string { return bizHash(bizMarshal(p)) }

// TradePay is alipay.trade.pay. A pre-auth capture (L1.2) sets AuthNo, BuyerID (or
// BuyerOpenID), SellerID and AuthConfirmMode; a deduction (L9.1) adds its own fields.
type TradePay struct {
	OutTradeNo      string `json:"out_trade_no"`
	TotalAmount     Amount `json:"total_amount"`
	Subject         string `json:"subject"`
	Body            string `json:"body,omitempty"`
	ProductCode     string `json:"product_code"`
	AuthNo          string `json:"auth_no,omitempty"`
	AuthConfirmMode string `json:"auth_confirm_mode,omitempty"`
	BuyerID         string `json:"buyer_id,omitempty"`
	BuyerOpenID     string `json:"buyer_open_id,omitempty"`
	SellerID        string `json:"seller_id,omitempty"`
	// A deduction (L9.1): the signed agreement it charges.
	AgreementParams *AgreementParams `json:"agreement_params,omitempty"`
}

func (r *TradePay) Method() string              { return MethodTradePay }
func (r *TradePay) BizContent() (string, error) { return bizMarshal(r) }

// Echoes: the pay reply names the trade (L1.3).
func (r *TradePay) Echoes() []Echo { return []Echo{{"out_trade_no", r.OutTradeNo}} }

// TradePayResult is the alipay_trade_pay_response node (L1.3). Amounts are strings: a
// 40004 reply carries zeros, and the caller parses what it uses.
type TradePayResult struct {
	TradeNo        string `json:"trade_no"`
	OutTradeNo     string `json:"out_trade_no"`
	TotalAmount    string `json:"total_amount"`
	ReceiptAmount  string `json:"receipt_amount"`
	BuyerPayAmount string `json:"buyer_pay_amount"`
	GmtPayment     string `json:"gmt_payment"`
	BuyerUserID    string `json:"buyer_user_id"`
	BuyerOpenID    string `json:"buyer_open_id"`
}

// FundAuthUnfreeze is alipay.fund.auth.order.unfreeze (L2.1).
type FundAuthUnfreeze struct {
	AuthNo       string `json:"auth_no"`
	OutRequestNo string `json:"out_request_no"`
	Amount       Amount `json:"amount"`
	Remark       string `json:"remark"`
}

func (r *FundAuthUnfreeze) Method() string              { return MethodFundAuthUnfreeze }
func (r *FundAuthUnfreeze) BizContent() (string, error) { return bizMarshal(r) }

// Echoes: the unfreeze reply names the auth order and the request (L2.2).
func (r *FundAuthUnfreeze) Echoes() []Echo {
	return []Echo{{"auth_no", r.AuthNo}, {"out_request_no", r.OutRequestNo}}
}

// FundAuthUnfreezeResult is the alipay_fund_auth_order_unfreeze_response node (L2.2).
type FundAuthUnfreezeResult struct {
	AuthNo       string `json:"auth_no"`
	OutOrderNo   string `json:"out_order_no"`
	OperationID  string `json:"operation_id"`
	OutRequestNo string `json:"out_request_no"`
	Amount       string `json:"amount"`
	Status       string `json:"status"`
	GmtTrans     string `json:"gmt_trans"`
}

// FundAuthCancel is alipay.fund.auth.operation.cancel by the freeze's own pair (L3).
type FundAuthCancel struct {
	OutOrderNo   string `json:"out_order_no"`
	OutRequestNo string `json:"out_request_no"`
	Remark       string `json:"remark"`
}

func (r *FundAuthCancel) Method() string              { return MethodFundAuthCancel }
func (r *FundAuthCancel) BizContent() (string, error) { return bizMarshal(r) }

// Echoes: the cancel reply names the freeze request it cancelled (L3).
func (r *FundAuthCancel) Echoes() []Echo {
	return []Echo{{"out_order_no", r.OutOrderNo}, {"out_request_no", r.OutRequestNo}}
}

// FundAuthCancelResult is the alipay_fund_auth_operation_cancel_response node (L3).
type FundAuthCancelResult struct {
	AuthNo       string `json:"auth_no"`
	OutOrderNo   string `json:"out_order_no"`
	OperationID  string `json:"operation_id"`
	OutRequestNo string `json:"out_request_no"`
	Action       string `json:"action"`
}
