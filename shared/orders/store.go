package orders

import (
	"context"
	"errors"
	"time"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
)

// Store keeps order state. Every method is safe for concurrent use by many processes.
// Store failures (connection refused, timeouts, throttling, 5xx, contention that outlasted
// the retries) are reported as errors matching ErrUnavailable, never as success.
type Store interface {
	// CreateAppPayOrder stores a new app-pay order (status CREATED) and, for pay-and-sign,
	// its agreement (PENDING). The same out_trade_no with the same owner and ParamsHash
	// is Replayed with the stored order (its OrderStr is the reply to give again); any
	// other params, or an external_agreement_no already used by another order, is
	// Conflict (no order returned).
	CreateAppPayOrder(ctx context.Context, o *AppPayOrder) (CreateOutcome, *AppPayOrder, error)
	// GetAppPayOrder returns the order with its agreement state, or ErrNotFound.
	GetAppPayOrder(ctx context.Context, outTradeNo string) (*AppPayOrder, error)
	// GetAgreement returns a pay-and-sign agreement by external_agreement_no, or ErrNotFound.
	GetAgreement(ctx context.Context, externalAgreementNo string) (*Agreement, error)

	// BeginVoucher creates the pre-auth order and/or the voucher request, or classifies a
	// retry (see the BeginOutcome values). Acquired means the caller holds the lease until
	// b.LeaseUntil and must call the gateway, then CompleteVoucher with the token.
	BeginVoucher(ctx context.Context, b VoucherBegin) (VoucherBeginResult, error)
	// CompleteVoucher records the gateway outcome if token still holds the request's lease
	// (ErrLeaseLost otherwise). ISSUED also moves the order CREATED → CODE_ISSUED.
	// Repeating the same completion with the same token is a no-op.
	CompleteVoucher(ctx context.Context, outOrderNo, outRequestNo, token string, out VoucherOutcome) error
	// GetPreAuthOrder returns the order with its requests and operations, or ErrNotFound.
	GetPreAuthOrder(ctx context.Context, outOrderNo string) (*PreAuthOrder, error)

	// BeginOperation starts (or classifies a retry of) a money-moving operation on an
	// existing order, reserving its amount in the same conditional write (see
	// OpBeginOutcome). An absent order, or one of another owner, is ErrNotFound.
	BeginOperation(ctx context.Context, b OpBegin) (OpBeginResult, error)
	// CompleteOperation records the gateway outcome if token still holds the lease
	// (ErrLeaseLost otherwise) and returns the operation as recorded: a notice that
	// proved the operation during the lease stands against the holder's UNKNOWN or
	// second success. Repeating the same completion is a no-op.
	CompleteOperation(ctx context.Context, r OpRef, token string, out OpOutcome) (Operation, error)
	// ResolveOperation settles an UNKNOWN (or abandoned PENDING) operation from a query
	// answer without a lease; ErrInProgress while a lease is live, ErrSettled if it
	// already has another definite outcome, a no-op if the same.
	ResolveOperation(ctx context.Context, r OpRef, out OpOutcome) error

	// LookupOutTradeNo finds the operation an out_trade_no names when it is not an
	// app-pay order's: a capture (or charge) claims its out_trade_no when it begins, so
	// the number is one namespace across records (docs/design.md, "One mechanism for
	// every money-moving call"). ErrNotFound when no operation claimed it.
	LookupOutTradeNo(ctx context.Context, outTradeNo string) (OpRef, error)
	// ApplyOpNotice applies a verified notice about one of our operations (a capture's
	// trade_status_sync, a fund_auth_operation_cancel): it settles a PENDING or UNKNOWN
	// operation (even one whose lease is live: Alipay notifies only what happened, and
	// the holder's completion keeps the proof), is Stale for one already settled the same
	// way, ErrSettled for one settled otherwise, NotFound when the operation does not
	// exist. A notice with a TradeNo binds it as ApplyTrade does.
	ApplyOpNotice(ctx context.Context, n OpNotice) (ApplyResult, error)

	// ApplyTrade applies a verified trade_status_sync notice. Its trade_no is bound to the
	// order on first sight, before the order changes; a notice whose trade_no is bound to
	// another order is refused with ErrTradeNoBound and changes nothing.
	ApplyTrade(ctx context.Context, e TradeEffect) (ApplyResult, error)
	// ApplyFundAuth applies a verified fund_auth_freeze or fund_auth_unfreeze notice (or
	// the same facts learned by a detail query); a successful UNFREEZE settles our
	// unsettled unfreeze of that out_request_no.
	ApplyFundAuth(ctx context.Context, e FundAuthEffect) (ApplyResult, error)
	// ApplyAgreement applies a verified dut_user_sign / dut_user_unsign notice.
	ApplyAgreement(ctx context.Context, e AgreementEffect) (ApplyResult, error)

	// MarkVoucherNotCreated records that Alipay does not know a voucher request whose
	// outcome was unknown (detail query: not found): NOT_CREATED, sent again by an
	// identical retry. A no-op when the request is settled otherwise or leased.
	MarkVoucherNotCreated(ctx context.Context, outOrderNo, outRequestNo string, now time.Time) error
	// ExpireAppPayOrder closes a CREATED order Alipay never heard of, past its expiry:
	// TRADE_CLOSED, closed_reason EXPIRED (Stale when the order is in any other state).
	ExpireAppPayOrder(ctx context.Context, outTradeNo string, now time.Time) (ApplyResult, error)

	// ListDue returns up to limit items of the due index due at now, earliest first.
	// It reads in proportion to the due items, never to the table.
	ListDue(ctx context.Context, now time.Time, limit int) ([]DueRef, error)
	// ClaimDue claims an item for one pass until until, if it is due at now (ErrNotDue
	// otherwise: settled, backed off, STUCK or claimed by another pass). The claim counts
	// an attempt and moves the item's due time to until, so a pass that dies releases it
	// by expiry.
	ClaimDue(ctx context.Context, ref DueRef, now, until time.Time) (DueClaim, error)
	// FinishDue ends a claim with the pass's result and returns the item's schedule;
	// ErrLeaseLost when the item's work changed since the claim (the new work's schedule
	// stands), ErrNotFound when the item is gone.
	FinishDue(ctx context.Context, ref DueRef, f DueFinish) (ReconState, error)
}

var (
	// ErrNotFound: no such order or agreement.
	ErrNotFound = errors.New("orders: not found")
	// ErrLeaseLost: the token no longer holds the voucher request's lease (another caller
	// took it over after expiry, or the outcome was already recorded differently).
	ErrLeaseLost = errors.New("orders: lease lost")
	// ErrUnavailable: the store could not be reached or did not answer in time; the
	// outcome of a write is unknown, retry later.
	ErrUnavailable = errors.New("orders: store unavailable")
	// ErrInvalid: the input breaks the model's rules (missing key, zero or past lease,
	// inconsistent amounts); a caller bug or a bad notice, never retried as is.
	ErrInvalid = errors.New("orders: invalid input")
	// ErrLimit: an order reached its bound of voucher requests or fund operations.
	ErrLimit = errors.New("orders: limit reached")
	// ErrTradeNoBound: the trade notice's trade_no already belongs to another order. One
	// Alipay trade pays one order: a notice naming another is a forgery (a genuine
	// notification re-split into other parameters) and changes nothing.
	ErrTradeNoBound = errors.New("orders: trade_no is bound to another order")
)

// Bounds that keep a pre-auth order, its requests, operations and receipts in one item.
const (
	MaxVoucherRequests = 20
	MaxOperations      = 100
	// MaxReceipts notify_ids are kept per item, oldest evicted first. An evicted receipt
	// costs nothing: state only moves forward, so a redelivery of an old notice is Stale.
	MaxReceipts = 200
)

// CreateOutcome is the result of CreateAppPayOrder.
type CreateOutcome string

const (
	Created  CreateOutcome = "CREATED"
	Replayed CreateOutcome = "REPLAYED"
	Conflict CreateOutcome = "CONFLICT"
)

// ApplyResult is the result of applying a notification. Every value but NotFound means
// the notice was handled and Alipay may be told `success`.
type ApplyResult string

const (
	Applied   ApplyResult = "APPLIED"   // the effect is stored with the notify_id
	Duplicate ApplyResult = "DUPLICATE" // this notify_id was applied before
	Stale     ApplyResult = "STALE"     // valid but older or not a forward move: nothing changes
	NotFound  ApplyResult = "NOT_FOUND" // no such order (or agreement)
)

// AppPayOrder is an alipay.trade.app.pay order keyed by out_trade_no.
type AppPayOrder struct {
	OutTradeNo  string
	Owner       string // caller id; only the owner may read it
	ParamsHash  string // canonical business params; decides replay vs conflict
	TotalAmount alipay.Amount
	Subject     string
	ProductCode string
	Status      TradeStatus
	OrderStr    string // the stored reply, given again on replays

	TradeNo     string
	BuyerID     string        // buyer_id / buyer_user_id, as Alipay sent it
	BuyerOpenID string        // buyer_open_id, for open_id apps (L11)
	RefundFee   alipay.Amount // cumulative refunds as last notified (or replied)
	PaidAt      time.Time     // gmt_payment, or when the payment was first learned

	// ClosedReason says why a TRADE_CLOSED order closed (ClosedBy*). CloseUnconfirmed:
	// we closed it because Alipay did not know the trade yet (ACQ.TRADE_NOT_EXIST), so
	// its orderStr may still be paid until it expires; such a payment is recorded and
	// sets PaidAfterClose (docs/design.md, the lifecycle contract).
	ClosedReason     ClosedReason
	CloseUnconfirmed bool
	PaidAfterClose   bool

	// ExternalRefunds are refunds Alipay notified that we did not make (made in
	// Alipay's console), by their out_biz_no: recorded, never dropped.
	ExternalRefunds []ExternalRefund

	// What Alipay reported as paid, from the first paid notice (0 when not reported):
	// total_amount, receipt_amount and buyer_pay_amount. A notice of another total than
	// the order's is refused and changes nothing (ErrInvalid).
	PaidAmount     alipay.Amount
	ReceiptAmount  alipay.Amount
	BuyerPayAmount alipay.Amount

	CreatedAt time.Time
	UpdatedAt time.Time
	// ExpiresAt lets an abandoned unpaid order expire (TTL, whole seconds); zero never.
	// It must lie beyond the payment deadline plus Alipay's ~25 h redelivery window, or a
	// late notice finds no order. The store clears it once the order is paid.
	ExpiresAt time.Time

	// Pay-and-sign agreement (optional). AgreementNo and AgreementStatus are read from the
	// agreement record, where dut_user_sign/unsign notices are applied.
	ExternalAgreementNo string
	PersonalProductCode string
	SignScene           string
	AgreementNo         string
	AgreementStatus     AgreementStatus
	// AgreementRule is the agreement's period_rule_params, given to CreateAppPayOrder
	// and kept on the agreement record (not read back on the order).
	AgreementRule *PeriodRule

	NotifyIDs []string // receipts of applied trade notices, oldest first

	Ops OpSet // refunds and closes (operation.go)

	// PayBy is when Alipay stops accepting payment (time_expire / timeout_express; zero:
	// unknown, then CreatedAt + 15 days, Alipay's default).
	PayBy time.Time
	Recon ReconState // due work (due.go)

	version int64
}

// ClosedReason is why an app-pay order is TRADE_CLOSED.
type ClosedReason string

const (
	ClosedByMerchant ClosedReason = "CLOSED_BY_MERCHANT" // our alipay.trade.close
	ClosedExpired    ClosedReason = "EXPIRED"            // unpaid until its expiry
	ClosedRefunded   ClosedReason = "REFUNDED"           // paid, then fully refunded
)

// ExternalRefund is a refund notice (L6) naming an out_biz_no that is none of our
// refunds. RefundFee is the trade's cumulative refunded amount that notice reported.
type ExternalRefund struct {
	OutRequestNo string
	RefundFee    alipay.Amount
	GmtRefund    time.Time
}

// Agreement is a pay-and-sign agreement keyed by external_agreement_no, created with its
// app-pay order; the agreement notices carry no out_trade_no.
type Agreement struct {
	ExternalAgreementNo string
	OutTradeNo          string
	Owner               string
	PersonalProductCode string
	SignScene           string
	AgreementNo         string
	Status              AgreementStatus
	AlipayUserID        string
	CreatedAt           time.Time
	UpdatedAt           time.Time
	ExpiresAt           time.Time // same as its order's; cleared once signed
	NotifyIDs           []string

	// Rule is the signed period_rule_params (nil: signed without them).
	Rule *PeriodRule
	// Ops are the agreement's charges (agreement.go).
	Ops OpSet
	// Invalid is the sub_code of a charge Alipay refused because the agreement is gone
	// (ACQ.AGREEMENT_NOT_EXIST / ACQ.AGREEMENT_INVALID): no further charge is sent.
	Invalid string
	// OrderPaidAt is when its pay-and-sign order was first known paid (due.go: an
	// agreement not NORMAL by then is asked about).
	OrderPaidAt time.Time
	Recon       ReconState // due work (due.go)

	version int64
}

// PreAuthOrder is a fund-auth (pre-authorisation) order keyed by out_order_no.
type PreAuthOrder struct {
	OutOrderNo  string
	Owner       string
	OrderHash   string // order params excluding out_request_no
	Amount      alipay.Amount
	OrderTitle  string
	PayeeUserID string // the voucher's, or else the freeze's payee once known
	Status      PreAuthStatus
	AuthNo      string
	// The freeze's payer (L11: user id, open_id or both), from the freeze notice or the
	// detail query: a capture is sent with them as buyer_id / buyer_open_id (L1.2).
	PayerUserID string
	PayerOpenID string

	// Order-level snapshot from the newest notice (all three totals non-decreasing).
	TotalFreeze   alipay.Amount
	TotalUnfreeze alipay.Amount
	TotalPay      alipay.Amount
	Rest          alipay.Amount

	Requests      map[string]VoucherRequest // by out_request_no
	LatestRequest string                    // the out_request_no begun last
	Operations    map[string]FundOperation  // by operation_id, as Alipay notified them
	Ops           OpSet                     // our captures, unfreezes, cancels (operation.go)

	CreatedAt time.Time
	UpdatedAt time.Time
	ExpiresAt time.Time // zero never; cleared once authorized
	NotifyIDs []string

	Recon ReconState // due work (due.go)

	version int64
}

// VoucherRequest is one alipay.fund.auth.order.voucher.create call (out_request_no).
type VoucherRequest struct {
	OutRequestNo string
	RequestHash  string
	State        RequestState
	LeaseUntil   time.Time // IN_PROGRESS only

	// ISSUED: the reply replayed to retries.
	CodeType  string
	CodeValue string
	CodeURL   string
	// BUSINESS_ERROR: the verified error replayed to retries.
	Code    string
	SubCode string
	SubMsg  string

	CreatedAt time.Time
	UpdatedAt time.Time

	// What an identical create sends again (the reconciler recovers a lost reply with
	// it, §9.2): the canonical biz_content, the notify_url sent, and when the voucher's
	// pay_timeout ends.
	BizContent string
	NotifyURL  string
	PayBy      time.Time

	token string // lease holder; kept after completion so a repeated completion is a no-op
}

// FundOperation is one fund operation Alipay reported (operation_id).
type FundOperation struct {
	OperationID  string
	OutRequestNo string
	Type         OperationType
	Status       OperationStatus
	Amount       alipay.Amount
	GmtTrans     time.Time
	UpdatedAt    time.Time
}

// VoucherBegin asks to start (or retry) a voucher request.
type VoucherBegin struct {
	OutOrderNo   string
	OutRequestNo string
	Owner        string
	OrderHash    string
	RequestHash  string
	Amount       alipay.Amount
	OrderTitle   string
	PayeeUserID  string
	Now          time.Time
	// LeaseUntil bounds the gateway call (e.g. the Lambda deadline); must be after Now.
	LeaseUntil time.Time
	// ExpiresAt, optional, lets an order that is never authorized expire (TTL).
	ExpiresAt time.Time
	// BizContent and NotifyURL, optional, are kept so the request can be sent again
	// identically; PayBy is when its pay_timeout ends (zero: Now + 15m).
	BizContent string
	NotifyURL  string
	PayBy      time.Time
}

// BeginOutcome classifies BeginVoucher.
type BeginOutcome string

const (
	VoucherAcquired          BeginOutcome = "ACQUIRED"           // call the gateway; Token holds the lease
	VoucherReplay            BeginOutcome = "REPLAY"             // Request holds the stored ISSUED reply or BUSINESS_ERROR
	VoucherInProgress        BeginOutcome = "IN_PROGRESS"        // another caller holds the lease until LeaseUntil
	VoucherConflict          BeginOutcome = "CONFLICT"           // other params for this out_order_no or out_request_no
	VoucherAlreadyAuthorized BeginOutcome = "ALREADY_AUTHORIZED" // the order is authorized or finished
	VoucherOrderClosed       BeginOutcome = "ORDER_CLOSED"       // the order closed unpaid; use a new out_order_no
)

// VoucherBeginResult is BeginVoucher's answer.
type VoucherBeginResult struct {
	Outcome    BeginOutcome
	Token      string         // VoucherAcquired
	LeaseUntil time.Time      // VoucherAcquired, VoucherInProgress
	Request    VoucherRequest // VoucherReplay
	Status     PreAuthStatus  // the order's status
}

// VoucherOutcome is the gateway outcome of a voucher request.
type VoucherOutcome struct {
	State     RequestState // ISSUED, BUSINESS_ERROR or UNKNOWN
	CodeType  string
	CodeValue string
	CodeURL   string
	Code      string
	SubCode   string
	SubMsg    string
	Now       time.Time
}

// TradeEffect is a verified trade_status_sync notice (amounts already checked).
type TradeEffect struct {
	NotifyID    string
	OutTradeNo  string
	TradeStatus TradeStatus
	TradeNo     string
	BuyerID     string
	BuyerOpenID string        // open_id apps (L11)
	RefundFee   alipay.Amount // cumulative; 0 when absent
	GmtPayment  time.Time     // zero when absent
	// Refund notices (L6): out_biz_no names the refund (our out_request_no), gmt_refund
	// its time. Empty / zero on other notices.
	OutBizNo  string
	GmtRefund time.Time
	Now       time.Time
	// The notice's total_amount, receipt_amount and buyer_pay_amount (0 when absent).
	// A TotalAmount other than the order's is ErrInvalid and changes nothing: which
	// order such a notice is about is exactly what cannot be trusted.
	TotalAmount    alipay.Amount
	ReceiptAmount  alipay.Amount
	BuyerPayAmount alipay.Amount
}

// FundAuthEffect is a verified fund_auth_freeze notice.
type FundAuthEffect struct {
	NotifyID        string
	OutOrderNo      string
	AuthNo          string
	OperationID     string
	OutRequestNo    string
	OperationType   OperationType
	OperationStatus OperationStatus
	Amount          alipay.Amount
	TotalFreeze     alipay.Amount
	TotalUnfreeze   alipay.Amount
	TotalPay        alipay.Amount
	Rest            alipay.Amount
	GmtTrans        time.Time
	Now             time.Time
	// Parties of the auth order (kept on the order when first seen).
	PayerUserID string
	PayerOpenID string
	PayeeUserID string
}

// OpNotice is a verified notice (or query answer with a synthetic NotifyID) about one of
// our operations.
type OpNotice struct {
	NotifyID string
	OpRef
	Result  map[string]string // the operation's outcome fields, as for OpOutcome
	TradeNo string            // bound to OpRef.RequestNo (an out_trade_no) when set
	Now     time.Time
}

// AgreementEffect is a verified dut_user_sign / dut_user_unsign notice.
type AgreementEffect struct {
	NotifyID            string
	ExternalAgreementNo string
	AgreementNo         string
	Status              AgreementStatus // TEMP, NORMAL or UNSIGN
	AlipayUserID        string
	Now                 time.Time
}
