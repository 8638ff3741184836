package orders

import (
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
)

// An operation is one request to Alipay that may move money (docs/design.md, "One
// mechanism for every money-moving call"): keyed by the merchant's request number, leased
// while the gateway is called, completed with the verified outcome. Operations live in
// their parent order's item, so the amount reservation and the operation's creation are
// one conditional write (DynamoDB: the item's version; no transactions needed).

// OpKind is what an operation does at Alipay.
type OpKind string

const (
	OpVoucher  OpKind = "VOUCHER"  // alipay.fund.auth.order.voucher.create (see beginVoucher)
	OpCapture  OpKind = "CAPTURE"  // alipay.trade.pay with auth_no (L1)
	OpUnfreeze OpKind = "UNFREEZE" // alipay.fund.auth.order.unfreeze (L2)
	OpCancel   OpKind = "CANCEL"   // alipay.fund.auth.operation.cancel (L3)
	OpRefund   OpKind = "REFUND"   // alipay.trade.refund (L4)
	OpClose    OpKind = "CLOSE"    // alipay.trade.close (L7)
	OpCharge   OpKind = "CHARGE"   // alipay.trade.pay with agreement_params (L9.1)
)

// OpKinds are the kinds an order's OpSet holds (a voucher request is kept apart, in
// PreAuthOrder.Requests): each can be due work, so each needs a reconcile resolver.
var OpKinds = []OpKind{OpCapture, OpUnfreeze, OpCancel, OpRefund, OpClose, OpCharge}

// SubCodeNotCreated is the sub_code of an operation whose outcome was unknown and whose
// query found nothing at Alipay: FAILED (its amount released), and unlike every other
// refusal it is not replayed: an identical retry takes it up again, reserving anew and
// asking Alipay before it sends (the voucher request's NOT_CREATED, for operations).
const SubCodeNotCreated = "NOT_CREATED"

// NotCreated is the outcome that records Alipay does not have an operation.
func NotCreated(now time.Time) OpOutcome {
	return OpOutcome{State: OpFailed, SubCode: SubCodeNotCreated,
		SubMsg: "alipay has no such request; an identical retry sends it", Now: now}
}

// notCreated reports whether op is FAILED only because Alipay never had it.
func (op Operation) notCreated() bool { return op.State == OpFailed && op.SubCode == SubCodeNotCreated }

// OpState is an operation's state.
type OpState string

const (
	OpPending   OpState = "PENDING"   // a caller holds the lease and is calling the gateway
	OpSucceeded OpState = "SUCCEEDED" // verified success; Result is replayed
	OpFailed    OpState = "FAILED"    // verified refusal; the error is replayed, the reservation released
	OpUnknown   OpState = "UNKNOWN"   // outcome unknown; an identical retry may take the lease again
)

// ParentKind names the order type an operation belongs to.
type ParentKind string

const (
	ParentPreAuth ParentKind = "PRE_AUTH" // keyed by out_order_no
	ParentAppPay  ParentKind = "APP_PAY"  // keyed by out_trade_no
)

// Bounds of one operation's stored outcome, so MaxOperations of them fit in one item.
const (
	MaxResultFields = 16
	MaxResultValue  = 1024
)

var (
	// ErrInProgress: another caller holds the operation's lease (ResolveOperation).
	ErrInProgress = errors.New("orders: operation in progress")
	// ErrSettled: the operation already has another definite outcome; a query answer
	// that contradicts it is not applied.
	ErrSettled = errors.New("orders: operation already settled")
)

// Operation is one money-moving request of an order.
type Operation struct {
	Kind       OpKind
	RequestNo  string // the merchant's request number (out_request_no / out_trade_no)
	ParamsHash string // canonical params; decides replay vs conflict
	// Amount is reserved against the parent while PENDING, SUCCEEDED or UNKNOWN (see
	// opRule); FAILED releases it.
	Amount alipay.Amount
	// Params are request fields an outcome learned from a notice or query needs (a
	// capture's auth_confirm_mode); at most MaxResultFields, as given to BeginOperation.
	Params     map[string]string
	State      OpState
	LeaseUntil time.Time // PENDING only

	// SUCCEEDED: the reply fields kept (Alipay ids, amounts, times as Alipay sent them).
	Result map[string]string
	// FAILED: the verified business error.
	Code    string
	SubCode string
	SubMsg  string

	CreatedAt time.Time
	UpdatedAt time.Time

	token string // lease holder; kept after completion so a repeated completion is a no-op
}

// OpSet holds an order's operations by opKey(kind, request number).
type OpSet map[string]Operation

func opKey(kind OpKind, requestNo string) string { return string(kind) + ":" + requestNo }

// OpRef names one operation.
type OpRef struct {
	Parent    ParentKind
	OrderNo   string // out_order_no or out_trade_no of the parent
	Kind      OpKind
	RequestNo string
}

// OpBegin asks to start (or retry) an operation on an existing order.
type OpBegin struct {
	OpRef
	Owner      string // must own the parent; another owner's order is ErrNotFound
	ParamsHash string
	Amount     alipay.Amount
	Params     map[string]string // kept on a new operation (Operation.Params)
	Now        time.Time
	// LeaseUntil bounds the gateway call; must be after Now.
	LeaseUntil time.Time
	// ChargeWindowDays: a charge's window opens this many days before its plan date
	// (CHARGE_WINDOW_DAYS; agreement.go).
	ChargeWindowDays int
}

// OpBeginOutcome classifies BeginOperation.
type OpBeginOutcome string

const (
	OpAcquired       OpBeginOutcome = "ACQUIRED"        // call the gateway; Token holds the lease
	OpReplay         OpBeginOutcome = "REPLAY"          // Op holds the stored SUCCEEDED or FAILED outcome
	OpInProgress     OpBeginOutcome = "IN_PROGRESS"     // another caller holds the lease until LeaseUntil
	OpConflict       OpBeginOutcome = "CONFLICT"        // other params for this request number, or it names another kind's operation
	OpAmountExceeded OpBeginOutcome = "AMOUNT_EXCEEDED" // Available is what may still be reserved
	OpNotAllowed     OpBeginOutcome = "NOT_ALLOWED"     // the order's status admits no operation of this kind
)

// OpBeginResult is BeginOperation's answer.
type OpBeginResult struct {
	Outcome    OpBeginOutcome
	Token      string        // OpAcquired
	LeaseUntil time.Time     // OpAcquired, OpInProgress
	Op         Operation     // the operation as stored after the begin (OpAcquired, OpReplay, OpInProgress)
	Available  alipay.Amount // OpAmountExceeded
	Status     string        // the parent's status (NOT_ALLOWED explains itself with it)
	// Retried is true when OpAcquired took over an UNKNOWN operation or an expired lease:
	// the request may already have reached Alipay, so the caller queries before resending.
	Retried bool
	// Refusal is the rule an OpRefused operation breaks.
	Refusal *ChargeRefusal
}

// OpOutcome is a verified gateway outcome (CompleteOperation) or query answer
// (ResolveOperation).
type OpOutcome struct {
	State   OpState // SUCCEEDED, FAILED, or (CompleteOperation only) UNKNOWN
	Result  map[string]string
	Code    string
	SubCode string
	SubMsg  string
	Now     time.Time
}

// opRule is what a parent's status allows for one kind: whether it may start, and the
// amount pool it reserves from ("" none).
type opRule struct {
	allowed bool
	pool    string
}

// opPool is one reservable amount of a parent: limit minus what Alipay reports consumed
// (external), with our own operations counted on top.
type opPool struct {
	limit    alipay.Amount
	external alipay.Amount // consumed per the latest notice snapshot, ours included
}

// opParent is implemented by every order type that carries operations.
type opParent interface {
	opRule(kind OpKind) opRule
	opPool(name string) opPool
	opStatus() string
}

// opChecker is a parent with rules of its own for a new operation (an agreement's
// charges): params to keep on the operation, or the rule it breaks.
type opChecker interface {
	checkOp(b OpBegin) (map[string]string, *ChargeRefusal)
}

// Pre-auth orders: captures and unfreezes share the frozen amount (L1.2, L2.1); a cancel
// reserves nothing (what it releases is decided by Alipay, L3).
func (o *PreAuthOrder) opRule(kind OpKind) opRule {
	authorized := o.Status == PreAuthAuthorized
	switch kind {
	case OpCapture, OpUnfreeze:
		return opRule{allowed: authorized, pool: "freeze"}
	case OpCancel:
		// A voucher nobody paid, or whose outcome is unknown (the order may still be
		// CREATED), or a freeze within Alipay's 24 h (L3).
		return opRule{allowed: authorized || o.Status == PreAuthCodeIssued || o.Status == PreAuthCreated}
	}
	return opRule{}
}

func (o *PreAuthOrder) opPool(string) opPool {
	return opPool{limit: o.TotalFreeze, external: o.TotalUnfreeze + o.TotalPay}
}

func (o *PreAuthOrder) opStatus() string { return string(o.Status) }

// App-pay orders: refunds never exceed what was paid (L4.1); a close applies to an unpaid
// trade only (L7).
func (o *AppPayOrder) opRule(kind OpKind) opRule {
	switch kind {
	case OpRefund:
		return opRule{allowed: o.Status == TradeSuccess, pool: "paid"}
	case OpClose:
		return opRule{allowed: o.Status == TradeCreated || o.Status == TradeWaitBuyerPay}
	}
	return opRule{}
}

func (o *AppPayOrder) opPool(string) opPool {
	return opPool{limit: o.TotalAmount, external: o.RefundFee}
}

func (o *AppPayOrder) opStatus() string { return string(o.Status) }

// reserves reports whether an operation in state s holds its amount.
func reserves(s OpState) bool { return s != OpFailed }

// available is what a new operation may still reserve from pool. Alipay's snapshot and
// our succeeded operations describe the same money, so the larger of the two counts (a
// snapshot may lag our replies, or include operations made elsewhere); pending and unknown
// operations count in full on top. The result errs on refusing, never on over-reserving.
func available(p opParent, ops OpSet, pool string) alipay.Amount {
	var succeeded, inflight alipay.Amount
	for _, op := range ops {
		if p.opRule(op.Kind).pool != pool || !reserves(op.State) {
			continue
		}
		if op.State == OpSucceeded {
			succeeded += op.Amount
		} else {
			inflight += op.Amount
		}
	}
	pl := p.opPool(pool)
	return max(pl.limit-max(pl.external, succeeded)-inflight, 0)
}

func validateOpRef(r OpRef) error {
	switch {
	case r.Parent != ParentPreAuth && r.Parent != ParentAppPay && r.Parent != ParentAgreement:
		return invalid("parent", fmt.Sprintf("%q is unknown", r.Parent))
	case r.OrderNo == "":
		return invalid("order_no", "is empty")
	case r.Kind == "":
		return invalid("kind", "is empty")
	case r.RequestNo == "":
		return invalid("request_no", "is empty")
	}
	return nil
}

func validateOpBegin(b OpBegin) error {
	if err := validateOpRef(b.OpRef); err != nil {
		return err
	}
	switch {
	case b.Owner == "":
		return invalid("owner", "is empty")
	case b.ParamsHash == "":
		return invalid("params_hash", "is empty")
	case b.Amount < 0:
		return invalid("amount", "is negative")
	case b.ChargeWindowDays < 0:
		return invalid("charge_window_days", "is negative")
	case len(b.Params) > MaxResultFields:
		return invalid("params", fmt.Sprintf("has %d fields, at most %d", len(b.Params), MaxResultFields))
	case b.Now.IsZero():
		return invalid("now", "is zero")
	case !b.LeaseUntil.After(b.Now):
		return invalid("lease_until", "must be after now")
	}
	return nil
}

func validateOpOutcome(out OpOutcome, allowUnknown bool) error {
	if out.Now.IsZero() {
		return invalid("now", "is zero")
	}
	switch out.State {
	case OpSucceeded:
		if len(out.Result) > MaxResultFields {
			return invalid("result", fmt.Sprintf("has %d fields, at most %d", len(out.Result), MaxResultFields))
		}
		for k, v := range out.Result {
			if k == "" || len(v) > MaxResultValue {
				return invalid("result."+k, fmt.Sprintf("empty key or value over %d bytes", MaxResultValue))
			}
		}
	case OpFailed:
		if out.Code == "" && out.SubCode == "" {
			return invalid("code", "and sub_code are empty")
		}
	case OpUnknown:
		if !allowUnknown {
			return invalid("state", "UNKNOWN does not settle an operation")
		}
	default:
		return invalid("state", fmt.Sprintf("%q is not an outcome", out.State))
	}
	return nil
}

// leaseDecision is what a begin does with an existing leased record (operation or
// voucher request) whose params match: the one rule shared by both.
type leaseDecision int

const (
	leaseTake       leaseDecision = iota // new, UNKNOWN, or an expired lease: take the lease
	leaseReplay                          // a definite outcome: replay it
	leaseInProgress                      // a live lease: tell the caller to come back
)

func decideLease(s OpState, leaseUntil, now time.Time) leaseDecision {
	switch s {
	case OpSucceeded, OpFailed:
		return leaseReplay
	case OpPending:
		if now.Before(leaseUntil) {
			return leaseInProgress
		}
	}
	return leaseTake
}

// decideFinish checks that token may record an outcome on a record in state s (shown as
// named) held by holder; false, nil means the same outcome is already recorded (a no-op).
func decideFinish(what string, s OpState, named, holder, token string, same bool) (bool, error) {
	if holder != token {
		return false, fmt.Errorf("%w: %s", ErrLeaseLost, what)
	}
	if s != OpPending {
		if same {
			return false, nil
		}
		return false, fmt.Errorf("%w: %s already %s", ErrLeaseLost, what, named)
	}
	return true, nil
}

func publicOp(op Operation) Operation {
	op.token = ""
	return op
}

// beginOperation decides BeginOperation on parent p with operations ops. It returns the
// operation set to write, or nil when nothing is written.
func beginOperation(p opParent, ops OpSet, b OpBegin, token string) (OpSet, OpBeginResult, error) {
	now, lease := normTime(b.Now), normTime(b.LeaseUntil)
	res := OpBeginResult{Status: p.opStatus()}
	key := opKey(b.Kind, b.RequestNo)
	cur, known := ops[key]
	for k, op := range ops {
		if k != key && op.RequestNo == b.RequestNo {
			res.Outcome = OpConflict // one request number, one operation
			return nil, res, nil
		}
	}
	op := Operation{
		Kind: b.Kind, RequestNo: b.RequestNo, ParamsHash: b.ParamsHash, Amount: b.Amount, Params: maps.Clone(b.Params),
		State: OpPending, LeaseUntil: lease, CreatedAt: now, UpdatedAt: now, token: token,
	}
	if known && (cur.ParamsHash != b.ParamsHash || cur.Amount != b.Amount) {
		res.Outcome = OpConflict
		return nil, res, nil
	}
	if known && !cur.notCreated() {
		switch decideLease(cur.State, cur.LeaseUntil, now) {
		case leaseReplay:
			res.Outcome, res.Op = OpReplay, publicOp(cur)
			return nil, res, nil
		case leaseInProgress:
			res.Outcome, res.LeaseUntil, res.Op = OpInProgress, cur.LeaseUntil, publicOp(cur)
			return nil, res, nil
		}
		// Its amount is reserved already (PENDING and UNKNOWN hold it); the status rule is
		// not asked again: the first attempt may have changed the status itself.
		op.CreatedAt, op.Params = cur.CreatedAt, cur.Params
		res.Retried = true
	} else {
		rule := p.opRule(b.Kind)
		if !rule.allowed {
			res.Outcome = OpNotAllowed
			return nil, res, nil
		}
		if rule.pool != "" {
			if b.Amount <= 0 {
				return nil, res, invalid("amount", "must be positive")
			}
			if avail := available(p, ops, rule.pool); b.Amount > avail {
				res.Outcome, res.Available = OpAmountExceeded, avail
				return nil, res, nil
			}
		}
		if known {
			// Alipay never had it (NOT_CREATED): taken up again like a new one (status,
			// amount and the parent's rules asked again: its share was released), asking
			// Alipay before resending.
			op.CreatedAt, op.Params = cur.CreatedAt, cur.Params
			res.Retried = true
		}
		if c, ok := p.(opChecker); ok {
			extra, refusal := c.checkOp(b)
			if refusal != nil {
				res.Outcome, res.Refusal = OpRefused, refusal
				return nil, res, nil
			}
			if len(extra) > 0 {
				op.Params = maps.Clone(op.Params)
				if op.Params == nil {
					op.Params = map[string]string{}
				}
				maps.Copy(op.Params, extra)
			}
		}
		if !known && len(ops) >= MaxOperations {
			return nil, res, fmt.Errorf("%w: %d operations on order %s", ErrLimit, MaxOperations, b.OrderNo)
		}
	}
	next := maps.Clone(ops)
	if next == nil {
		next = OpSet{}
	}
	next[key] = op
	res.Outcome, res.Token, res.LeaseUntil, res.Op = OpAcquired, token, lease, publicOp(op)
	return next, res, nil
}

func sameOpOutcome(op Operation, out OpOutcome) bool {
	return op.State == out.State && maps.Equal(op.Result, out.Result) &&
		op.Code == out.Code && op.SubCode == out.SubCode && op.SubMsg == out.SubMsg
}

func settle(op Operation, out OpOutcome) Operation {
	op.State = out.State
	op.LeaseUntil = time.Time{}
	op.Result = nil
	if len(out.Result) > 0 {
		op.Result = maps.Clone(out.Result)
	}
	op.Code, op.SubCode, op.SubMsg = out.Code, out.SubCode, out.SubMsg
	op.UpdatedAt = normTime(out.Now)
	return op
}

func findOp(ops OpSet, r OpRef) (Operation, error) {
	op, ok := ops[opKey(r.Kind, r.RequestNo)]
	if !ok {
		return Operation{}, fmt.Errorf("%w: %s operation %s on order %s", ErrNotFound, r.Kind, r.RequestNo, r.OrderNo)
	}
	return op, nil
}

// completeOperation records the caller's gateway outcome if token still holds the lease.
// It returns the operation set to write, or nil when nothing changes.
func completeOperation(ops OpSet, r OpRef, token string, out OpOutcome) (OpSet, error) {
	op, err := findOp(ops, r)
	if err != nil {
		return nil, err
	}
	if op.token == token && op.State == OpSucceeded && (out.State == OpUnknown || out.State == OpSucceeded) {
		// Settled during the lease by Alipay's own word (a refund notice): the holder's
		// unknown or second success adds nothing; the proof stands.
		return nil, nil
	}
	what := fmt.Sprintf("%s operation %s", r.Kind, r.RequestNo)
	if ok, err := decideFinish(what, op.State, string(op.State), op.token, token, sameOpOutcome(op, out)); !ok {
		return nil, err
	}
	next := maps.Clone(ops)
	next[opKey(r.Kind, r.RequestNo)] = settle(op, out)
	return next, nil
}

// resolveOperation settles an operation from a query answer, without a lease: it is for
// the reconciler and for anyone who learned the outcome from Alipay rather than from the
// call. It settles UNKNOWN and abandoned PENDING (lease expired); a live lease is
// ErrInProgress (its holder will complete), a different definite outcome ErrSettled.
// The abandoned holder's later CompleteOperation then fails with ErrLeaseLost unless it
// reports the same outcome.
func resolveOperation(ops OpSet, r OpRef, out OpOutcome) (OpSet, error) {
	op, err := findOp(ops, r)
	if err != nil {
		return nil, err
	}
	switch op.State {
	case OpSucceeded, OpFailed:
		if sameOpOutcome(op, out) {
			return nil, nil
		}
		return nil, fmt.Errorf("%w: %s operation %s is %s", ErrSettled, r.Kind, r.RequestNo, op.State)
	case OpPending:
		if normTime(out.Now).Before(op.LeaseUntil) {
			return nil, fmt.Errorf("%w: %s operation %s leased until %s", ErrInProgress, r.Kind, r.RequestNo, op.LeaseUntil)
		}
	}
	next := maps.Clone(ops)
	next[opKey(r.Kind, r.RequestNo)] = settle(op, out)
	return next, nil
}

func publicOps(ops OpSet) OpSet {
	if ops == nil {
		return nil
	}
	c := make(OpSet, len(ops))
	for k, op := range ops {
		c[k] = publicOp(op)
	}
	return c
}

// opHolder is an order that stores operations: what the stores need around the decisions.
type opHolder interface {
	opParent
	ownerOf() string
	opSet() OpSet
	setOps(ops OpSet, now time.Time)
	// requestTaken reports whether a request number is used outside the OpSet.
	requestTaken(requestNo string) bool
	// opSettled applies what a newly settled operation means for the order itself.
	opSettled(op Operation)
	// receipts are the notify_ids applied to the order; addReceipt records one.
	receipts() []string
	addReceipt(notifyID string)
}

// settledOn runs h.opSettled for the operation r names in ops, once it is settled.
func settledOn(h opHolder, ops OpSet, r OpRef) {
	if op, ok := ops[opKey(r.Kind, r.RequestNo)]; ok && (op.State == OpSucceeded || op.State == OpFailed) {
		h.opSettled(op)
	}
}

func (o *PreAuthOrder) opSettled(Operation) {}

// Result keys of app-pay operations (Operation.Result).
const (
	ResultTradeNo      = "trade_no"
	ResultRefundFee    = "refund_fee" // the trade's cumulative refunded amount Alipay reported
	ResultGmtRefundPay = "gmt_refund_pay"
	ResultBuyerUserID  = "buyer_user_id"
	ResultBuyerOpenID  = "buyer_open_id"
	ResultSentAt       = "sent_at"     // when the refund was last sent (RFC 3339, UTC)
	ResultFundChange   = "fund_change" // the refund reply's fund_change
	ResultSource       = "source"      // what settled it: reply, query or notice
	// ResultCloseUnconfirmed "Y": Alipay did not know the trade (ACQ.TRADE_NOT_EXIST), so
	// the close is ours only.
	ResultCloseUnconfirmed = "close_unconfirmed"
)

// App-pay orders: a succeeded close closes the order; a succeeded refund raises the
// refunded total to Alipay's cumulative refund_fee, keeps the payer id the reply gave,
// and a full refund closes the trade as Alipay does (L6).
func (o *AppPayOrder) opSettled(op Operation) {
	if op.State != OpSucceeded {
		return
	}
	switch op.Kind {
	case OpClose:
		if o.Status == TradeCreated || o.Status == TradeWaitBuyerPay {
			o.Status, o.ClosedReason = TradeClosed, ClosedByMerchant
			o.CloseUnconfirmed = op.Result[ResultCloseUnconfirmed] == "Y"
		}
	case OpRefund:
		if fee, err := alipay.ParseAmount(op.Result[ResultRefundFee]); err == nil && fee > o.RefundFee && fee <= o.TotalAmount {
			o.RefundFee = fee
		}
		if o.BuyerID == "" {
			o.BuyerID = op.Result[ResultBuyerUserID]
		}
		if o.BuyerOpenID == "" {
			o.BuyerOpenID = op.Result[ResultBuyerOpenID]
		}
		if o.RefundedTotal() >= o.TotalAmount && o.Status == TradeSuccess {
			o.Status, o.ClosedReason = TradeClosed, ClosedRefunded
		}
	}
}

func (o *PreAuthOrder) ownerOf() string { return o.Owner }
func (o *PreAuthOrder) opSet() OpSet    { return o.Ops }
func (o *PreAuthOrder) setOps(ops OpSet, now time.Time) {
	o.Ops, o.UpdatedAt = ops, normTime(now)
	o.foldOps()
}

// A voucher's out_request_no is never reused by an unfreeze or cancel (L2.1).
func (o *PreAuthOrder) requestTaken(requestNo string) bool {
	_, ok := o.Requests[requestNo]
	return ok
}

func (o *AppPayOrder) ownerOf() string { return o.Owner }
func (o *AppPayOrder) opSet() OpSet    { return o.Ops }
func (o *AppPayOrder) setOps(ops OpSet, now time.Time) {
	o.Ops, o.UpdatedAt = ops, normTime(now)
}
func (o *AppPayOrder) requestTaken(string) bool { return false }

func (o *PreAuthOrder) receipts() []string   { return o.NotifyIDs }
func (o *PreAuthOrder) addReceipt(id string) { o.NotifyIDs = addReceipt(o.NotifyIDs, id) }
func (o *AppPayOrder) receipts() []string    { return o.NotifyIDs }
func (o *AppPayOrder) addReceipt(id string)  { o.NotifyIDs = addReceipt(o.NotifyIDs, id) }

// beginOn runs beginOperation on holder h; nil means nothing to write.
func beginOn(h opHolder, b OpBegin, token string) (OpSet, OpBeginResult, error) {
	if h.ownerOf() != b.Owner {
		return nil, OpBeginResult{}, fmt.Errorf("%w: %s order %s", ErrNotFound, b.Parent, b.OrderNo)
	}
	// A cancel names the voucher request it cancels (L3); every other operation needs a
	// request number of its own.
	if taken := h.requestTaken(b.RequestNo); taken != (b.Kind == OpCancel) {
		if !taken {
			return nil, OpBeginResult{}, invalid("request_no", "names no voucher request of the order")
		}
		return nil, OpBeginResult{Outcome: OpConflict, Status: h.opStatus()}, nil
	}
	return beginOperation(h, h.opSet(), b, token)
}

// PaymentOutcome is what an alipay.trade.query answer says of a payment we asked Alipay to
// make of amount (a capture, a charge; L8): SUCCEEDED with the trade number, payment time
// and extra result fields once paid, FAILED once closed. Anything else (a trade still
// waiting, or paid for another amount: not ours) is an unknown outcome, never a success
// and never "not there", which would let the call be sent again.
func PaymentOutcome(q *alipay.TradeQueryResult, amount alipay.Amount, extra map[string]string) (*OpOutcome, error) {
	switch alipay.TradeStatus(q.TradeStatus) {
	case alipay.TradeStatusSuccess, alipay.TradeStatusFinished:
		if total, err := alipay.ParseAmount(q.TotalAmount); err != nil || total != amount {
			return nil, fmt.Errorf("orders: trade %s paid %q, our payment is %s: %w", q.OutTradeNo, q.TotalAmount, amount, alipay.ErrUnknownOutcome)
		}
		result := map[string]string{ResultTradeNo: q.TradeNo, "gmt_payment": q.SendPayDate}
		maps.Copy(result, extra)
		maps.DeleteFunc(result, func(_, v string) bool { return v == "" })
		return &OpOutcome{State: OpSucceeded, Result: result}, nil
	case alipay.TradeStatusClosed:
		return &OpOutcome{State: OpFailed, Code: "40004", SubCode: "ACQ.TRADE_HAS_CLOSE", SubMsg: "the trade is closed"}, nil
	}
	return nil, fmt.Errorf("orders: trade %s is %s: %w", q.OutTradeNo, q.TradeStatus, alipay.ErrUnknownOutcome)
}
