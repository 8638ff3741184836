// Package opcall runs one money-moving Alipay call as an operation (docs/design.md, "One
// mechanism for every money-moving call"): on a retry Alipay is asked first and the call
// is sent only when Alipay does not have it; a STATE refusal is settled by the same
// question; the outcome is recorded inside the lease. The slices (captures, unfreezes,
// cancels, charges, refunds, closes) give it their two questions; it knows nothing of
// HTTP or AWS.
package opcall

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
	"github.com/alipay-serverless/alipay-serverless/shared/orders"
)

// Call is what one operation asks Alipay, and how its answers are settled. The zero
// value of each field after Send is the rule captures, unfreezes, cancels and charges
// follow.
type Call struct {
	// Method is the call's method, for its sub_code classes (alipay.BusinessError.Class).
	Method string
	// Query asks Alipay about the operation with its own query API: nil, nil when Alipay
	// does not have it. What it finds may be UNKNOWN (Alipay has it, not done yet).
	Query func(ctx context.Context, c *alipay.Credentials) (*orders.OpOutcome, error)
	// Send makes the call: its verified outcome (UNKNOWN, with result fields, when Alipay
	// accepted it without proof), or the gateway's error (the three-way model:
	// *alipay.BusinessError, alipay.ErrUnknownOutcome, or not sent).
	Send func(ctx context.Context, c *alipay.Credentials) (*orders.OpOutcome, error)

	// Timeout bounds each gateway call (a query or the send) inside the lease's budget;
	// zero: the budget alone.
	Timeout time.Duration
	// NotBefore: an earlier attempt is not asked about before this time, as Alipay's
	// query may not show it yet; until then the outcome stays UNKNOWN, nothing sent.
	NotBefore time.Time
	// SettleOnly asks and never sends: an earlier attempt settled without a caller's
	// request, and money moves only on one.
	SettleOnly bool
	// Absent is the outcome of a SettleOnly call Alipay does not have; nil: FAILED
	// NOT_CREATED (orders.NotCreated), which an identical retry takes up and sends.
	Absent func() orders.OpOutcome
	// Unknown is the outcome recorded when Alipay's word is missing, given why (nil when
	// Alipay was not asked yet: NotBefore); nil: a bare UNKNOWN. A call keeps here what
	// its later settlement needs (when it was sent, what it carried).
	Unknown func(cause error) orders.OpOutcome
	// StateRefusal is when a STATE refusal of the send is settled by asking.
	StateRefusal StateRule
}

// StateRule is when a STATE refusal of the send is settled by asking Alipay.
type StateRule int

const (
	// StateAsk: every STATE refusal is asked about; the answer decides, no answer is
	// UNKNOWN.
	StateAsk StateRule = iota
	// StateAskOnResend: a first send's STATE refusal is final. A resend's (a query just
	// found nothing) is asked about once more, and only a success found overturns it:
	// our own earlier attempt may have landed in between.
	StateAskOnResend
)

// ErrNoTimeLeft: the lease left too little time to call Alipay; the call was not made.
var ErrNoTimeLeft = errors.New("opcall: too little of the lease left to call alipay")

func (call Call) unknown(cause error) orders.OpOutcome {
	if call.Unknown != nil {
		return call.Unknown(cause)
	}
	return orders.OpOutcome{State: orders.OpUnknown}
}

func (call Call) query(ctx context.Context, creds *alipay.Credentials) (*orders.OpOutcome, error) {
	return within(ctx, call.Timeout, func(ctx context.Context) (*orders.OpOutcome, error) { return call.Query(ctx, creds) })
}

func (call Call) send(ctx context.Context, creds *alipay.Credentials) (*orders.OpOutcome, error) {
	return within(ctx, call.Timeout, func(ctx context.Context) (*orders.OpOutcome, error) { return call.Send(ctx, creds) })
}

// within makes one gateway call, bounded by d; none is made once ctx (the lease's
// budget) is over.
func within(ctx context.Context, d time.Duration, f func(context.Context) (*orders.OpOutcome, error)) (*orders.OpOutcome, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoTimeLeft, err)
	}
	if d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	return f(ctx)
}

// decide is the verified outcome of call; UNKNOWN whenever Alipay's word is missing.
// NotBefore is compared with now.
func decide(ctx context.Context, log *slog.Logger, creds *alipay.Credentials, call Call, retried bool,
	now func() time.Time) orders.OpOutcome {
	if retried || call.SettleOnly {
		if now().Before(call.NotBefore) {
			log.Info("too early to ask about the earlier attempt: outcome still unknown")
			return call.unknown(nil)
		}
		found, err := call.query(ctx, creds)
		switch {
		case err != nil:
			log.Warn("query before resending failed: outcome still unknown", "error", err.Error())
			return call.unknown(err)
		case found != nil:
			log.Info("query settled the earlier attempt", "state", string(found.State))
			return *found
		case call.SettleOnly && call.Absent != nil:
			return call.Absent()
		case call.SettleOnly:
			log.Info("alipay does not have the call: NOT_CREATED, an identical retry sends it")
			return orders.NotCreated(now())
		}
		log.Info("alipay does not know the earlier attempt: sending it again")
	}
	got, err := call.send(ctx, creds)
	var be *alipay.BusinessError
	switch {
	case err == nil:
		return *got
	case errors.As(err, &be) && be.Configuration():
		// Our or the merchant's configuration, not a refusal of this operation: unknown,
		// so that a retry after the fix goes through.
		log.Error("alipay rejected the call for a configuration reason", "code", be.Code, "sub_code", be.SubCode, "sub_msg", be.SubMsg)
		return call.unknown(err)
	case errors.As(err, &be):
		refused := orders.OpOutcome{State: orders.OpFailed, Code: be.Code, SubCode: be.SubCode, SubMsg: be.SubMsg}
		switch be.Class(call.Method) {
		case alipay.Fail:
			log.Info("alipay refused the operation", "code", be.Code, "sub_code", be.SubCode)
			return refused
		case alipay.State:
			return settleState(ctx, log, creds, call, retried, be, refused)
		}
		log.Warn("alipay outcome unknown", "sub_code", be.SubCode)
		return call.unknown(err)
	case errors.Is(err, alipay.ErrUnknownOutcome):
		log.Warn("alipay outcome unknown", "error", err.Error())
	default:
		log.Error("alipay call not sent", "error", err.Error())
	}
	return call.unknown(err)
}

// settleState settles a STATE refusal of the send (refused) by call.StateRefusal;
// resent: a query just found nothing.
func settleState(ctx context.Context, log *slog.Logger, creds *alipay.Credentials, call Call, resent bool,
	be *alipay.BusinessError, refused orders.OpOutcome) orders.OpOutcome {
	if call.StateRefusal == StateAskOnResend {
		if resent {
			if found, qerr := call.query(ctx, creds); qerr == nil && found != nil && found.State == orders.OpSucceeded {
				log.Info("query settled a STATE refusal of the resend", "sub_code", be.SubCode)
				return *found
			}
		}
		log.Info("alipay refused the operation (STATE)", "code", be.Code, "sub_code", be.SubCode)
		return refused
	}
	// The refusal depends on a state an earlier attempt of ours may have caused.
	found, qerr := call.query(ctx, creds)
	switch {
	case qerr != nil:
		log.Warn("query after a STATE refusal failed: outcome unknown", "sub_code", be.SubCode, "error", qerr.Error())
		return call.unknown(qerr)
	case found != nil:
		log.Info("query settled a STATE refusal", "sub_code", be.SubCode, "state", string(found.State))
		return *found
	}
	log.Info("alipay refused the operation (STATE, confirmed by query)", "sub_code", be.SubCode)
	return refused
}

// Completer records an operation's outcome (orders.Store.CompleteOperation).
type Completer interface {
	CompleteOperation(ctx context.Context, r orders.OpRef, token string, out orders.OpOutcome) (orders.Operation, error)
}

// Lease is the lease an operation was begun with.
type Lease struct {
	Ref   orders.OpRef
	Token string
	Until time.Time
	// Margin is kept after the call to record its outcome.
	Margin time.Duration
}

// Run decides call under the lease and records the outcome. The call's budget is the
// lease's end minus the margin, measured when the call starts (none left: nothing is
// sent, UNKNOWN), each gateway call within it at most call.Timeout; the record is
// written even when ctx is gone, bounded by the margin. It returns the outcome as
// recorded (a notice may have proved the operation during the lease: that proof stands
// against an UNKNOWN), or the decided outcome with the store's error
// (orders.ErrLeaseLost when another caller took the lease over).
func Run(ctx context.Context, log *slog.Logger, store Completer, creds *alipay.Credentials, call Call, l Lease, retried bool,
	now func() time.Time) (orders.OpOutcome, error) {
	var out orders.OpOutcome
	if budget := l.Until.Add(-l.Margin).Sub(now()); budget > 0 {
		callCtx, cancel := context.WithTimeout(ctx, budget)
		out = decide(callCtx, log, creds, call, retried, now)
		cancel()
	} else {
		log.Error("alipay call not sent: the lease has too little left")
		out = call.unknown(ErrNoTimeLeft)
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), l.Margin)
	defer cancel()
	out.Now = now()
	rec, err := store.CompleteOperation(cctx, l.Ref, l.Token, out)
	if err != nil {
		return out, err
	}
	if rec.State != out.State {
		log.Info("a notice settled the operation during the lease", "decided", string(out.State), "recorded", string(rec.State))
	}
	return orders.OpOutcome{State: rec.State, Result: rec.Result, Code: rec.Code, SubCode: rec.SubCode, SubMsg: rec.SubMsg, Now: out.Now}, nil
}
