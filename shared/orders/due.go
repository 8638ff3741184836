package orders

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Due work (docs/design.md, "The reconciler"). An order item that holds unsettled work
// carries the due index's key attributes with the time it is next due; a settled item
// carries none, so the index holds only what a pass must look at. The schedule is decided
// here, from the item's own state, by pure functions both stores call on every write of
// an order (refreshDue), so the key is set and cleared by the same conditional write that
// changes the order.

// DueKind is one kind of unsettled work; the reconciler dispatches on it.
type DueKind string

const (
	// DueVoucherRequest: a voucher request UNKNOWN, or IN_PROGRESS past its lease, on an
	// order nobody has paid yet.
	DueVoucherRequest DueKind = "VOUCHER_REQUEST"
	// DueCodeIssued: a pre-auth order CODE_ISSUED after its vouchers' pay_timeout + grace.
	DueCodeIssued DueKind = "CODE_ISSUED"
	// DueAppPayOpen: an app-pay order CREATED or WAIT_BUYER_PAY, a few minutes after
	// create and until its expiry (+ grace).
	DueAppPayOpen DueKind = "APP_PAY_OPEN"
	// DueOperation: any money-moving operation UNKNOWN, or PENDING past its lease
	// (captures, unfreezes, cancels, refunds, closes, charges: DueTask.Op says which).
	DueOperation DueKind = "OPERATION"
)

// Timing of due work.
const (
	// DueGrace is waited after a deadline Alipay enforces (a voucher's pay_timeout, an
	// order's expiry) before asking, so Alipay has closed what it will close.
	DueGrace = 5 * time.Minute
	// AppPayFirstCheck: an unpaid app-pay order is first asked about this long after
	// its creation (a payment's notice normally arrives within seconds).
	AppPayFirstCheck = 5 * time.Minute
	// DefaultVoucherPayTimeout is Alipay's pay_timeout of a voucher that sets none.
	DefaultVoucherPayTimeout = 15 * time.Minute
	// RefundQueryDelay: a refund is queried no earlier than this after the call (L5).
	RefundQueryDelay = 10 * time.Second
)

// Backoff is the wait after the n-th attempt (n ≥ 1) on the same work: 1m, 5m, 15m, 1h,
// then 6h.
func Backoff(n int) time.Duration {
	steps := []time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute, time.Hour, 6 * time.Hour}
	return steps[min(max(n, 1), len(steps))-1]
}

// DueTask is one piece of due work of an item.
type DueTask struct {
	Kind      DueKind
	Op        OpKind // DueOperation: the operation's kind
	RequestNo string // DueVoucherRequest: out_request_no; DueOperation: the request number
	At        time.Time
}

func (t DueTask) key() string { return string(t.Kind) + ":" + string(t.Op) + ":" + t.RequestNo }

// ReconState is an item's reconciliation schedule. Its counters belong to one set of due
// tasks (Work): when the work changes (a task settles or a new one appears) they start
// over.
type ReconState struct {
	Work       string    // the due tasks' keys, sorted, joined
	Attempts   int       // passes that claimed the item for this work (drives Backoff)
	Failures   int       // of those, the ones that made no expected progress (STUCK after the maximum)
	NotBefore  time.Time // backoff, or the claim's expiry
	ClaimToken string    // the claiming pass; "" when unclaimed
	ClaimUntil time.Time
	Stuck      bool
	LastError  string
	// DueAt is when the item is next due; zero when it is not in the due index (nothing
	// to do, or STUCK).
	DueAt time.Time
}

// DueRef names an item in the due index.
type DueRef struct {
	Parent  ParentKind
	OrderNo string
	DueAt   time.Time
}

// DueClaim is a pass's claim on one item.
type DueClaim struct {
	Ref      DueRef
	Token    string
	Until    time.Time
	Attempts int // this claim included
	Tasks    []DueTask
}

// DueResult is what a pass made of a claimed item.
type DueResult string

const (
	DueResolved  DueResult = "RESOLVED"  // Alipay's answer was applied
	DueWaiting   DueResult = "WAITING"   // nothing to do yet, as expected (not counted towards STUCK)
	DueUnchanged DueResult = "UNCHANGED" // Alipay's answer settled nothing although it should have
	DueError     DueResult = "ERROR"     // the attempt failed (gateway, store)
)

// DueFinish ends a claim.
type DueFinish struct {
	Token       string
	Result      DueResult
	NextAt      time.Time // optional: ask again no later than this (e.g. an expiry + grace)
	Error       string    // logged reason, kept on the item (bounded)
	MaxAttempts int       // failures before STUCK
	Now         time.Time
}

// ErrNotDue: the item is not due now (settled, backed off, STUCK, or claimed by another
// pass whose claim has not expired).
var ErrNotDue = errors.New("orders: item not due")

// maxLastError bounds the error text kept on an item.
const maxLastError = 256

// dueHolder is an order that can carry due work.
type dueHolder interface {
	dueTasks() []DueTask
	recon() *ReconState
}

func (o *PreAuthOrder) recon() *ReconState { return &o.Recon }
func (o *AppPayOrder) recon() *ReconState  { return &o.Recon }

// RequestSettled reports whether Alipay reported a final status for a voucher request.
func (o *PreAuthOrder) RequestSettled(outRequestNo string) bool {
	for _, op := range o.Operations {
		if op.OutRequestNo == outRequestNo && op.Type == OperationFreeze && OperationMachine.Terminal(op.Status) {
			return true
		}
	}
	return false
}

// payBy is when Alipay stops accepting payment for a voucher request.
func (r VoucherRequest) payBy() time.Time {
	if !r.PayBy.IsZero() {
		return r.PayBy
	}
	return r.CreatedAt.Add(DefaultVoucherPayTimeout)
}

func (o *PreAuthOrder) dueTasks() []DueTask {
	var ts []DueTask
	if o.Status == PreAuthCreated || o.Status == PreAuthCodeIssued {
		var payBy time.Time
		for _, r := range o.Requests {
			if o.RequestSettled(r.OutRequestNo) {
				continue
			}
			switch r.State {
			case RequestUnknown:
				ts = append(ts, DueTask{Kind: DueVoucherRequest, RequestNo: r.OutRequestNo, At: r.UpdatedAt})
			case RequestInProgress:
				ts = append(ts, DueTask{Kind: DueVoucherRequest, RequestNo: r.OutRequestNo, At: r.LeaseUntil})
			case RequestIssued:
				if p := r.payBy(); p.After(payBy) {
					payBy = p
				}
			}
		}
		if o.Status == PreAuthCodeIssued && !payBy.IsZero() {
			ts = append(ts, DueTask{Kind: DueCodeIssued, At: payBy.Add(DueGrace)})
		}
	}
	return append(ts, opTasks(o.Ops)...)
}

func (o *AppPayOrder) dueTasks() []DueTask {
	var ts []DueTask
	if o.Status == TradeCreated || o.Status == TradeWaitBuyerPay {
		ts = append(ts, DueTask{Kind: DueAppPayOpen, At: o.CreatedAt.Add(AppPayFirstCheck)})
	}
	return append(ts, opTasks(o.Ops)...)
}

// opTasks: every operation whose outcome is unknown, or whose caller vanished while
// holding the lease, is due; generic over kinds, so each new kind is covered at once.
func opTasks(ops OpSet) []DueTask {
	var ts []DueTask
	for _, op := range ops {
		var at time.Time
		switch op.State {
		case OpUnknown:
			at = op.UpdatedAt
		case OpPending:
			at = op.LeaseUntil
		default:
			continue
		}
		if op.Kind == OpRefund {
			at = at.Add(RefundQueryDelay)
		}
		ts = append(ts, DueTask{Kind: DueOperation, Op: op.Kind, RequestNo: op.RequestNo, At: at})
	}
	return ts
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// sortTasks orders tasks by due time, then key, so a pass sees them deterministically.
func sortTasks(ts []DueTask) {
	slices.SortFunc(ts, func(a, b DueTask) int {
		if c := a.At.Compare(b.At); c != 0 {
			return c
		}
		return strings.Compare(a.key(), b.key())
	})
}

// refreshDue recomputes h's schedule from its state: no work clears it (the item leaves
// the due index); other work than before restarts the counters; the same work keeps
// them, its backoff and its claim. Both stores call it on every order they write.
func refreshDue(h dueHolder) {
	r := h.recon()
	tasks := h.dueTasks()
	if len(tasks) == 0 {
		*r = ReconState{}
		return
	}
	keys := make([]string, len(tasks))
	first := tasks[0].At
	for i, t := range tasks {
		keys[i] = t.key()
		if t.At.Before(first) {
			first = t.At
		}
	}
	slices.Sort(keys)
	if work := strings.Join(keys, "|"); work != r.Work {
		*r = ReconState{Work: work}
	}
	r.DueAt = time.Time{}
	if !r.Stuck {
		// Milliseconds: the index stores due_at as epoch ms.
		r.DueAt = normTime(later(first, r.NotBefore)).Truncate(time.Millisecond)
	}
}

// claimDue claims h for a pass until until, if it is due at now.
func claimDue(h dueHolder, now, until time.Time, token string) (DueClaim, error) {
	refreshDue(h)
	r := h.recon()
	if r.DueAt.IsZero() || r.DueAt.After(now) {
		return DueClaim{}, ErrNotDue
	}
	if !until.After(now) {
		return DueClaim{}, invalid("until", "must be after now")
	}
	r.Attempts++
	r.ClaimToken, r.ClaimUntil, r.NotBefore = token, normTime(until), normTime(until)
	refreshDue(h)
	tasks := h.dueTasks()
	sortTasks(tasks)
	return DueClaim{Token: token, Until: r.ClaimUntil, Attempts: r.Attempts, Tasks: tasks}, nil
}

// finishDue ends a claim: the next due time backs off, and too many failures make the
// item STUCK (it leaves the due index; a change of its work brings it back). A claim
// whose work changed meanwhile (the pass's own apply settled a task, a notification
// arrived) is gone: ErrLeaseLost, and the new work's schedule stands.
func finishDue(h dueHolder, f DueFinish) (stuck bool, err error) {
	refreshDue(h)
	r := h.recon()
	if f.Token == "" || r.ClaimToken != f.Token {
		return false, fmt.Errorf("%w: due claim", ErrLeaseLost)
	}
	now := normTime(f.Now)
	r.ClaimToken, r.ClaimUntil = "", time.Time{}
	if f.Result == DueUnchanged || f.Result == DueError {
		r.Failures++
		r.LastError = f.Error
		if len(r.LastError) > maxLastError {
			r.LastError = r.LastError[:maxLastError]
		}
	}
	next := now.Add(Backoff(r.Attempts))
	if !f.NextAt.IsZero() && f.NextAt.Before(next) {
		next = later(now, normTime(f.NextAt))
	}
	r.NotBefore = next
	if f.MaxAttempts > 0 && r.Failures >= f.MaxAttempts {
		r.Stuck = true
	}
	refreshDue(h)
	return r.Stuck, nil
}

func validateFinish(f DueFinish) error {
	switch {
	case f.Token == "":
		return invalid("token", "is empty")
	case f.Now.IsZero():
		return invalid("now", "is zero")
	}
	switch f.Result {
	case DueResolved, DueWaiting, DueUnchanged, DueError:
	default:
		return invalid("result", fmt.Sprintf("%q is unknown", f.Result))
	}
	return nil
}

func validateDueRef(r DueRef) error {
	switch {
	case r.Parent != ParentPreAuth && r.Parent != ParentAppPay && r.Parent != ParentAgreement:
		return invalid("parent", fmt.Sprintf("%q is unknown", r.Parent))
	case r.OrderNo == "":
		return invalid("order_no", "is empty")
	}
	return nil
}

// markNotCreated records that Alipay does not know a voucher request whose outcome was
// unknown (its detail query answered "not found"): NOT_CREATED, which an identical retry
// sends again. False when nothing changes (already settled otherwise, or a live lease).
func markNotCreated(o *PreAuthOrder, outRequestNo string, now time.Time) (bool, error) {
	r, ok := o.Requests[outRequestNo]
	if !ok {
		return false, fmt.Errorf("%w: out_request_no %s on out_order_no %s", ErrNotFound, outRequestNo, o.OutOrderNo)
	}
	now = normTime(now)
	switch {
	case r.State == RequestUnknown:
	case r.State == RequestInProgress && !now.Before(r.LeaseUntil):
	default:
		return false, nil
	}
	r.State, r.LeaseUntil, r.UpdatedAt = RequestNotCreated, time.Time{}, now
	o.Requests = cloneRequests(o.Requests)
	o.Requests[outRequestNo] = r
	o.UpdatedAt = now
	return true, nil
}

func cloneRequests(m map[string]VoucherRequest) map[string]VoucherRequest {
	c := make(map[string]VoucherRequest, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// expireAppPay closes an order Alipay never heard of (never submitted) once it is past
// its expiry: TRADE_CLOSED with closed_reason EXPIRED, decided here without Alipay's
// word — the one close a later genuine payment may still override (applyTrade).
func expireAppPay(o *AppPayOrder, now time.Time) ApplyResult {
	if o.Status != TradeCreated || o.TradeNo != "" {
		return Stale
	}
	now = normTime(now)
	// Unconfirmed, as a close Alipay answered ACQ.TRADE_NOT_EXIST to: PaidAfterClose.
	o.Status, o.ClosedReason, o.CloseUnconfirmed, o.UpdatedAt = TradeClosed, ClosedExpired, true, now
	return Applied
}
