package alipay

import (
	"errors"
	"fmt"
	"time"
)

// NotifyKind classifies a notification (§8.5–8.7).
type NotifyKind string

// Notification kinds; the values are Alipay's notify_type values.
const (
	KindTradeStatus      NotifyKind = "trade_status_sync"
	KindFundAuth         NotifyKind = "fund_auth_freeze"
	KindFundAuthUnfreeze NotifyKind = "fund_auth_unfreeze"         // L2.4
	KindFundAuthCancel   NotifyKind = "fund_auth_operation_cancel" // L3
	KindAgreementSign    NotifyKind = "dut_user_sign"
	KindAgreementUnsign  NotifyKind = "dut_user_unsign"
	KindUnknown          NotifyKind = "unknown"
)

// TradeStatus is trade_status of a trade_status_sync notification (§8.5).
type TradeStatus string

// Trade statuses. TRADE_CLOSED also follows a full refund; a TRADE_SUCCESS notice with
// refund_fee is a partial refund, not a second payment.
const (
	TradeStatusWaitBuyerPay TradeStatus = "WAIT_BUYER_PAY"
	TradeStatusSuccess      TradeStatus = "TRADE_SUCCESS"
	TradeStatusFinished     TradeStatus = "TRADE_FINISHED"
	TradeStatusClosed       TradeStatus = "TRADE_CLOSED"
)

// FundAuthOperationType is operation_type of a fund_auth_freeze notification (§8.6).
type FundAuthOperationType string

// Fund-auth operation types.
const (
	FundAuthOpFreeze   FundAuthOperationType = "FREEZE"
	FundAuthOpUnfreeze FundAuthOperationType = "UNFREEZE"
	FundAuthOpPay      FundAuthOperationType = "PAY"
)

// FundAuthStatus is the status of one fund-auth operation: INIT → SUCCESS | CLOSED.
type FundAuthStatus string

// Fund-auth operation statuses.
const (
	FundAuthStatusInit    FundAuthStatus = "INIT"
	FundAuthStatusSuccess FundAuthStatus = "SUCCESS"
	FundAuthStatusClosed  FundAuthStatus = "CLOSED"
)

// AgreementStatus is status of a dut_user_sign/dut_user_unsign notification (§8.7).
type AgreementStatus string

// Agreement statuses: NORMAL active, UNSIGN terminated, TEMP not yet effective.
const (
	AgreementStatusNormal AgreementStatus = "NORMAL"
	AgreementStatusUnsign AgreementStatus = "UNSIGN"
	AgreementStatusTemp   AgreementStatus = "TEMP"
)

// ErrNotifyMismatch is wrapped by NotifyMismatchError.
var ErrNotifyMismatch = errors.New("alipay: notification does not match the order")

// NotifyMismatchError says which field of an authentic notification disagrees with our
// records (§8.3). Such a notice is not applied; reply fail and alert.
type NotifyMismatchError struct{ Field string }

func (e *NotifyMismatchError) Error() string {
	return "alipay: notification " + e.Field + " does not match the order"
}

// Unwrap makes errors.Is(err, ErrNotifyMismatch) hold.
func (e *NotifyMismatchError) Unwrap() error { return ErrNotifyMismatch }

// Kind classifies the notification by notify_type first (L12): fund_auth_unfreeze and
// fund_auth_operation_cancel are what they say. Otherwise a body with auth_no and
// operation_type but no trade_status is a fund-auth notice whatever notify_type says
// (Alipay's own fund-auth example is labelled trade_status_sync, §8.6). Blank values
// count as absent: they are not signed.
func (n *Notification) Kind() NotifyKind {
	p := n.Params
	switch k := NotifyKind(p["notify_type"]); k {
	case KindFundAuthUnfreeze, KindFundAuthCancel:
		return k
	}
	if !isBlank(p["auth_no"]) && !isBlank(p["operation_type"]) && isBlank(p["trade_status"]) {
		return KindFundAuth
	}
	switch k := NotifyKind(p["notify_type"]); k {
	case KindTradeStatus, KindFundAuth, KindAgreementSign, KindAgreementUnsign:
		return k
	}
	return KindUnknown
}

// notifyFields reads typed fields from verified params, keeping the first error.
// Blank values are treated as absent everywhere: they are not covered by the signature.
type notifyFields struct {
	p   map[string]string
	err error
}

func (f *notifyFields) fail(key, why string) {
	if f.err == nil {
		f.err = fmt.Errorf("%w: %s %s", ErrNotifyMalformed, key, why)
	}
}

// str returns the value of key, "" when absent or blank.
func (f *notifyFields) str(key string, required bool) string {
	v := f.p[key]
	if isBlank(v) {
		if required {
			f.fail(key, "missing")
		}
		return ""
	}
	return v
}

// amount parses key as an Amount; ok is false when the field is absent.
func (f *notifyFields) amount(key string, required bool) (a Amount, ok bool) {
	v := f.str(key, required)
	if v == "" {
		return 0, false
	}
	a, err := ParseAmount(v)
	if err != nil {
		if f.err == nil {
			f.err = fmt.Errorf("%w: %s: %w", ErrNotifyMalformed, key, err)
		}
		return 0, false
	}
	return a, true
}

// time parses key as an Alipay timestamp (China time, milliseconds allowed); the zero
// time when absent.
func (f *notifyFields) time(key string, required bool) time.Time {
	v := f.str(key, required)
	if v == "" {
		return time.Time{}
	}
	t, err := ParseTimestamp(v)
	if err != nil {
		f.fail(key, "is not yyyy-MM-dd HH:mm:ss")
		return time.Time{}
	}
	return t
}

// notifyOneOf returns the value of key if it is one of allowed. Unknown values are errors:
// a status we do not understand must not be applied as if it were one we do.
func notifyOneOf[T ~string](f *notifyFields, key string, allowed ...T) T {
	v := f.str(key, true)
	if v == "" {
		return ""
	}
	for _, a := range allowed {
		if T(v) == a {
			return a
		}
	}
	f.fail(key, "has an unknown value")
	return ""
}

// notifyView starts a typed view: only verified notifications of the right kind.
func (n *Notification) notifyView(want ...NotifyKind) (notifyFields, NotifyKind, error) {
	if !n.verified {
		return notifyFields{}, "", ErrNotifyUnverified
	}
	k := n.Kind()
	for _, w := range want {
		if k == w {
			return notifyFields{p: n.Params}, k, nil
		}
	}
	return notifyFields{}, k, fmt.Errorf("%w: notify_type: is %s, want %s", ErrNotifyMalformed, k, want[0])
}

// TradeNotice is a trade_status_sync notification (§8.5). Optional times are the zero
// time when absent; optional amounts are 0 with their Has flag false.
type TradeNotice struct {
	NotifyID   string
	NotifyTime time.Time
	AppID      string
	AuthAppID  string // the merchant's app id in ISV calls

	TradeNo     string // Alipay's trade id
	OutTradeNo  string // ours
	TradeStatus TradeStatus
	TotalAmount Amount

	ReceiptAmount    Amount
	HasReceiptAmount bool
	BuyerPayAmount   Amount // what the buyer paid (after discounts); 0 when absent
	RefundFee        Amount // cumulative refunded amount
	HasRefundFee     bool
	OutBizNo         string // refund request no (refund notices)

	SellerID     string
	SellerEmail  string
	BuyerID      string
	BuyerOpenID  string // open_id apps: instead of buyer_id (L11)
	BuyerLogonID string // masked
	Subject      string

	GmtCreate  time.Time
	GmtPayment time.Time
	GmtClose   time.Time
	GmtRefund  time.Time

	PassbackParams string // echoed verbatim; never URL-decoded again
}

// Trade returns the trade_status_sync view. Required: notify_id, notify_time, app_id,
// trade_no, out_trade_no, trade_status (a known value), total_amount.
func (n *Notification) Trade() (*TradeNotice, error) {
	f, _, err := n.notifyView(KindTradeStatus)
	if err != nil {
		return nil, err
	}
	t := &TradeNotice{
		NotifyID:       f.str("notify_id", true),
		NotifyTime:     f.time("notify_time", true),
		AppID:          f.str("app_id", true),
		AuthAppID:      f.str("auth_app_id", false),
		TradeNo:        f.str("trade_no", true),
		OutTradeNo:     f.str("out_trade_no", true),
		TradeStatus:    notifyOneOf(&f, "trade_status", TradeStatusWaitBuyerPay, TradeStatusSuccess, TradeStatusFinished, TradeStatusClosed),
		OutBizNo:       f.str("out_biz_no", false),
		SellerID:       f.str("seller_id", false),
		SellerEmail:    f.str("seller_email", false),
		BuyerID:        f.str("buyer_id", false),
		BuyerOpenID:    f.str("buyer_open_id", false),
		BuyerLogonID:   f.str("buyer_logon_id", false),
		Subject:        f.str("subject", false),
		GmtCreate:      f.time("gmt_create", false),
		GmtPayment:     f.time("gmt_payment", false),
		GmtClose:       f.time("gmt_close", false),
		GmtRefund:      f.time("gmt_refund", false),
		PassbackParams: f.str("passback_params", false),
	}
	t.TotalAmount, _ = f.amount("total_amount", true)
	t.ReceiptAmount, t.HasReceiptAmount = f.amount("receipt_amount", false)
	t.BuyerPayAmount, _ = f.amount("buyer_pay_amount", false)
	t.RefundFee, t.HasRefundFee = f.amount("refund_fee", false)
	if f.err != nil {
		return nil, f.err
	}
	return t, nil
}

// FundAuthNotice is a fund_auth_freeze notification (§8.6). AppID may be empty (Alipay's
// own example has none); the caller then requires AuthAppID to name our app. The order-level totals come as a group:
// HasTotals is false when none is present, and a partial group is an error.
type FundAuthNotice struct {
	NotifyID   string
	NotifyTime time.Time
	AppID      string
	AuthAppID  string

	AuthNo        string // Alipay's auth order
	OutOrderNo    string // ours
	OperationID   string // Alipay's operation
	OutRequestNo  string // ours
	OperationType FundAuthOperationType
	Amount        Amount // this operation
	Status        FundAuthStatus

	HasTotals           bool
	TotalFreezeAmount   Amount
	TotalUnfreezeAmount Amount
	TotalPayAmount      Amount
	RestAmount          Amount

	PayeeUserID string
	PayerUserID string
	PayerOpenID string // instead of (or beside) PayerUserID for open_id apps (L11)
	PreAuthType string // CREDIT_AUTH: credit-based, nothing actually frozen

	GmtCreate time.Time
	GmtTrans  time.Time
}

// FundAuth returns the view of a fund_auth_freeze or fund_auth_unfreeze notice (the
// same fields, L2.4). Required: notify_id, notify_time, auth_no, out_order_no,
// operation_id, out_request_no, operation_type and status (known values), amount. A
// fund_auth_unfreeze notice must be an UNFREEZE operation.
func (n *Notification) FundAuth() (*FundAuthNotice, error) {
	f, k, err := n.notifyView(KindFundAuth, KindFundAuthUnfreeze)
	if err != nil {
		return nil, err
	}
	a := &FundAuthNotice{
		NotifyID:      f.str("notify_id", true),
		NotifyTime:    f.time("notify_time", true),
		AppID:         f.str("app_id", false),
		AuthAppID:     f.str("auth_app_id", false),
		AuthNo:        f.str("auth_no", true),
		OutOrderNo:    f.str("out_order_no", true),
		OperationID:   f.str("operation_id", true),
		OutRequestNo:  f.str("out_request_no", true),
		OperationType: notifyOneOf(&f, "operation_type", FundAuthOpFreeze, FundAuthOpUnfreeze, FundAuthOpPay),
		Status:        notifyOneOf(&f, "status", FundAuthStatusInit, FundAuthStatusSuccess, FundAuthStatusClosed),
		PayeeUserID:   f.str("payee_user_id", false),
		PayerUserID:   f.str("payer_user_id", false),
		PayerOpenID:   f.str("payer_open_id", false),
		PreAuthType:   f.str("pre_auth_type", false),
		GmtCreate:     f.time("gmt_create", false),
		GmtTrans:      f.time("gmt_trans", false),
	}
	a.Amount, _ = f.amount("amount", true)
	totals := [...]struct {
		key string
		dst *Amount
	}{
		{"total_freeze_amount", &a.TotalFreezeAmount},
		{"total_unfreeze_amount", &a.TotalUnfreezeAmount},
		{"total_pay_amount", &a.TotalPayAmount},
		{"rest_amount", &a.RestAmount},
	}
	present := 0
	for _, t := range totals {
		if !isBlank(f.p[t.key]) {
			present++
		}
	}
	if present > 0 {
		a.HasTotals = true
		for _, t := range totals {
			*t.dst, _ = f.amount(t.key, true)
		}
	}
	if k == KindFundAuthUnfreeze && a.OperationType != "" && a.OperationType != FundAuthOpUnfreeze {
		f.fail("operation_type", "is not UNFREEZE in a fund_auth_unfreeze notice")
	}
	if f.err != nil {
		return nil, f.err
	}
	return a, nil
}

// FundAuthCancelNotice is a fund_auth_operation_cancel notification: ids and action
// only, no amount, status or totals (L3, L12).
type FundAuthCancelNotice struct {
	NotifyID   string
	NotifyTime time.Time
	AppID      string
	AuthAppID  string

	AuthNo       string
	OutOrderNo   string
	OperationID  string
	OutRequestNo string // the cancelled freeze request's
	Action       string // CancelActionClose or CancelActionUnfreeze
}

// FundAuthCancel returns the cancel view. Required: notify_id, notify_time,
// out_order_no, out_request_no, action (a known value).
func (n *Notification) FundAuthCancel() (*FundAuthCancelNotice, error) {
	f, _, err := n.notifyView(KindFundAuthCancel)
	if err != nil {
		return nil, err
	}
	c := &FundAuthCancelNotice{
		NotifyID:     f.str("notify_id", true),
		NotifyTime:   f.time("notify_time", true),
		AppID:        f.str("app_id", false),
		AuthAppID:    f.str("auth_app_id", false),
		AuthNo:       f.str("auth_no", false),
		OutOrderNo:   f.str("out_order_no", true),
		OperationID:  f.str("operation_id", false),
		OutRequestNo: f.str("out_request_no", true),
		Action:       notifyOneOf(&f, "action", CancelActionClose, CancelActionUnfreeze),
	}
	if f.err != nil {
		return nil, f.err
	}
	return c, nil
}

// CheckRest checks rest_amount = total_freeze_amount − total_unfreeze_amount −
// total_pay_amount, in fen. A notice without totals cannot be checked and is an error.
func (a *FundAuthNotice) CheckRest() error {
	if !a.HasTotals {
		return fmt.Errorf("%w: rest_amount missing", ErrNotifyMalformed)
	}
	want := a.TotalFreezeAmount - a.TotalUnfreezeAmount - a.TotalPayAmount
	if a.RestAmount != want {
		return fmt.Errorf("%w: rest_amount %s, totals give %s", ErrNotifyMalformed, a.RestAmount, want)
	}
	return nil
}

// AgreementNotice is a dut_user_sign or dut_user_unsign notification (§8.7). Optional
// times are the zero time when absent.
type AgreementNotice struct {
	Kind       NotifyKind // KindAgreementSign or KindAgreementUnsign
	NotifyID   string
	NotifyTime time.Time
	AppID      string
	AuthAppID  string

	AgreementNo         string // Alipay's agreement id: store it
	ExternalAgreementNo string // ours, when we sent one
	ExternalLogonID     string
	AlipayUserID        string
	AlipayOpenID        string // instead of AlipayUserID for OpenID apps
	AlipayLogonID       string // masked
	PersonalProductCode string
	SignScene           string
	Status              AgreementStatus

	SignTime    time.Time
	ValidTime   time.Time
	InvalidTime time.Time
	UnsignTime  time.Time
}

// Agreement returns the agreement view. Required: notify_id, notify_time, app_id,
// agreement_no, status (a known value).
func (n *Notification) Agreement() (*AgreementNotice, error) {
	f, k, err := n.notifyView(KindAgreementSign, KindAgreementUnsign)
	if err != nil {
		return nil, err
	}
	g := &AgreementNotice{
		Kind:                k,
		NotifyID:            f.str("notify_id", true),
		NotifyTime:          f.time("notify_time", true),
		AppID:               f.str("app_id", true),
		AuthAppID:           f.str("auth_app_id", false),
		AgreementNo:         f.str("agreement_no", true),
		ExternalAgreementNo: f.str("external_agreement_no", false),
		ExternalLogonID:     f.str("external_logon_id", false),
		AlipayUserID:        f.str("alipay_user_id", false),
		AlipayOpenID:        f.str("alipay_open_id", false),
		AlipayLogonID:       f.str("alipay_logon_id", false),
		PersonalProductCode: f.str("personal_product_code", false),
		SignScene:           f.str("sign_scene", false),
		Status:              notifyOneOf(&f, "status", AgreementStatusNormal, AgreementStatusUnsign, AgreementStatusTemp),
		SignTime:            f.time("sign_time", false),
		ValidTime:           f.time("valid_time", false),
		InvalidTime:         f.time("invalid_time", false),
		UnsignTime:          f.time("unsign_time", false),
	}
	if f.err != nil {
		return nil, f.err
	}
	return g, nil
}
