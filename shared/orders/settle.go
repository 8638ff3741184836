package orders

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
)

// What our own pre-auth operations (captures, unfreezes, cancels) do to their order.
// Both stores call these through PreAuthOrder.setOps and applyFundAuth, so an outcome
// learned from a reply, a notice or a query changes the order the same way.

// Result fields the fold reads (set by the service from the verified reply, a notice or
// a query).
const (
	ResultAuthConfirmMode = "auth_confirm_mode" // a capture's; COMPLETE releases the rest (L1.2)
	ResultAction          = "action"            // a cancel's: close or unfreeze (L3)
	ResultOperationID     = "operation_id"
)

// settledStatus is the status of an order with nothing left frozen: FINISHED when
// something was captured, else CLOSED.
func settledStatus(totalPay alipay.Amount) PreAuthStatus {
	if totalPay > 0 {
		return PreAuthFinished
	}
	return PreAuthClosed
}

// moveTo moves o's status forward along PreAuthMachine; anything else is ignored.
func (o *PreAuthOrder) moveTo(s PreAuthStatus) {
	if PreAuthMachine.Allowed(o.Status, s) {
		o.Status = s
		if s != PreAuthClosed {
			o.ExpiresAt = time.Time{} // money moved: the record is kept
		}
	}
}

// foldOps merges our succeeded operations into the order's totals and status. The
// totals stay non-decreasing snapshots: each only grows to what our own operations prove
// (Alipay's later snapshot counts the same money, so it is never older than ours).
func (o *PreAuthOrder) foldOps() {
	var paid, unfrozen alipay.Amount
	complete := false
	for _, key := range slices.Sorted(maps.Keys(o.Ops)) {
		op := o.Ops[key]
		if op.State != OpSucceeded {
			continue
		}
		switch op.Kind {
		case OpCapture:
			paid += op.Amount
			complete = complete || cmp.Or(op.Params[ResultAuthConfirmMode], op.Result[ResultAuthConfirmMode]) == alipay.AuthConfirmComplete
		case OpUnfreeze:
			unfrozen += op.Amount
		case OpCancel:
			o.foldCancel(op)
		}
	}
	o.TotalPay = max(o.TotalPay, paid)
	o.TotalUnfreeze = max(o.TotalUnfreeze, unfrozen)
	if complete {
		// COMPLETE: Alipay released whatever was still frozen with the capture (L1.2).
		o.TotalUnfreeze = max(o.TotalUnfreeze, o.TotalFreeze-o.TotalPay)
	}
	o.Rest = max(o.TotalFreeze-o.TotalUnfreeze-o.TotalPay, 0)
	if o.Status == PreAuthAuthorized && o.TotalFreeze > 0 && o.Rest == 0 {
		o.moveTo(settledStatus(o.TotalPay))
	}
}

// foldCancel applies a succeeded cancel of a voucher request (L3): "close" closed a
// request nothing was frozen by, which closes the order when it is the request that
// could still freeze it (the latest); "unfreeze" released the freeze that had happened.
func (o *PreAuthOrder) foldCancel(op Operation) {
	switch op.Result[ResultAction] {
	case alipay.CancelActionClose:
		if o.Status != PreAuthAuthorized && op.RequestNo == o.LatestRequest {
			o.moveTo(PreAuthClosed)
		}
	case alipay.CancelActionUnfreeze:
		if o.TotalFreeze == 0 {
			// Learned from the cancel alone: every voucher of an order freezes its amount.
			o.TotalFreeze = o.Amount
		}
		o.TotalUnfreeze = max(o.TotalUnfreeze, o.TotalFreeze-o.TotalPay)
		o.Rest = 0
		o.moveTo(settledStatus(o.TotalPay))
	}
}

// unfreezeNoticed returns the operations with our unsettled unfreeze of e's
// out_request_no settled by e (a successful UNFREEZE notice or query answer), or nil
// when e settles none. An amount other than ours is ErrInvalid: that notice is not
// about our request.
func unfreezeNoticed(ops OpSet, e FundAuthEffect) (OpSet, error) {
	if e.OperationType != OperationUnfreeze || e.OperationStatus != OperationSuccess {
		return nil, nil
	}
	key := opKey(OpUnfreeze, e.OutRequestNo)
	op, ok := ops[key]
	if !ok || op.State == OpSucceeded {
		return nil, nil
	}
	if op.Amount != e.Amount {
		return nil, invalid("amount", fmt.Sprintf("%s differs from our unfreeze %s of %s", e.Amount, e.OutRequestNo, op.Amount))
	}
	// A PENDING one is settled even while its lease is live, as noticeOperation does.
	if op.State == OpFailed {
		// Alipay says the money moved; a recorded refusal for the same request was wrong.
		return nil, fmt.Errorf("%w: unfreeze %s was recorded FAILED", ErrSettled, e.OutRequestNo)
	}
	res := map[string]string{ResultOperationID: e.OperationID}
	if !e.GmtTrans.IsZero() {
		res["gmt_trans"] = alipay.FormatTimestamp(e.GmtTrans)
	}
	next := maps.Clone(ops)
	next[key] = settle(op, OpOutcome{State: OpSucceeded, Now: e.Now, Result: res})
	return next, nil
}

func validateOpNotice(n OpNotice) error {
	if err := validateOpRef(n.OpRef); err != nil {
		return err
	}
	if n.NotifyID == "" {
		return invalid("notify_id", "is empty")
	}
	return validateOpOutcome(OpOutcome{State: OpSucceeded, Result: n.Result, Now: n.Now}, false)
}

// noticeOperation decides ApplyOpNotice on holder h: the operation set to write (nil
// when nothing changes) and the result.
func noticeOperation(h opHolder, receipts []string, n OpNotice) (OpSet, ApplyResult, error) {
	if slices.Contains(receipts, n.NotifyID) {
		return nil, Duplicate, nil
	}
	op, ok := h.opSet()[opKey(n.Kind, n.RequestNo)]
	if !ok {
		return nil, NotFound, nil
	}
	switch op.State {
	case OpSucceeded:
		return nil, Stale, nil
	case OpFailed:
		return nil, "", fmt.Errorf("%w: %s operation %s was recorded FAILED", ErrSettled, n.Kind, n.RequestNo)
	}
	// PENDING or UNKNOWN. Alipay notifies only what happened, so the notice settles the
	// operation even while its lease is live; the holder's completion then keeps this
	// proof (completeOperation), as for refunds (refundNoticeOp).
	next := maps.Clone(h.opSet())
	next[opKey(n.Kind, n.RequestNo)] = settle(op, OpOutcome{State: OpSucceeded, Result: n.Result, Now: n.Now})
	return next, Applied, nil
}

// tradeKind reports whether an operation's request number is an out_trade_no (one
// namespace with app-pay orders).
func tradeKind(k OpKind) bool { return k == OpCapture || k == OpCharge }
