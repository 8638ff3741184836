// Package opcall runs one money-moving Alipay call as an operation (docs/design.md, "One
// mechanism for every money-moving call"): on a retry Alipay is asked first and the call
// is sent only when Alipay does not have it; a STATE refusal is settled by the same
// question; the outcome is recorded inside the lease. The slices (captures, unfreezes,
// cancels, charges) give it their two questions; it knows nothing of HTTP or AWS.
package opcall

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
	"github.com/alipay-serverless/alipay-serverless/shared/orders"
)

// Call is what one operation asks Alipay.
type Call struct {
	// Method is the call's method, for its sub_code classes (alipay.BusinessError.Class).
	Method string
	// Query asks Alipay about the operation with its own query API: nil, nil when Alipay
	// does not have it.
	Query func(ctx context.Context, c *alipay.Credentials) (*orders.OpOutcome, error)
	// Send makes the call: its verified outcome, or the gateway's error (the three-way
	// model: *alipay.BusinessError, alipay.ErrUnknownOutcome, or not sent).
	Send func(ctx context.Context, c *alipay.Credentials) (*orders.OpOutcome, error)
}

// Decide is the verified outcome of call; UNKNOWN whenever Alipay's word is missing.
func Decide(ctx context.Context, log *slog.Logger, creds *alipay.Credentials, call Call, retried bool) orders.OpOutcome {
	unknown := orders.OpOutcome{State: orders.OpUnknown}
	if retried {
		found, err := call.Query(ctx, creds)
		switch {
		case err != nil:
			log.Warn("query before resending failed: outcome still unknown", "error", err.Error())
			return unknown
		case found != nil:
			log.Info("query settled the earlier attempt", "state", string(found.State))
			return *found
		}
		log.Info("alipay does not know the earlier attempt: sending it again")
	}
	got, err := call.Send(ctx, creds)
	var be *alipay.BusinessError
	switch {
	case err == nil:
		return *got
	case errors.As(err, &be) && be.Configuration():
		// Our or the merchant's configuration, not a refusal of this operation: unknown,
		// so that a retry after the fix goes through.
		log.Error("alipay rejected the call for a configuration reason", "code", be.Code, "sub_code", be.SubCode, "sub_msg", be.SubMsg)
		return unknown
	case errors.As(err, &be):
		refused := orders.OpOutcome{State: orders.OpFailed, Code: be.Code, SubCode: be.SubCode, SubMsg: be.SubMsg}
		switch be.Class(call.Method) {
		case alipay.Fail:
			log.Info("alipay refused the operation", "code", be.Code, "sub_code", be.SubCode)
			return refused
		case alipay.State:
			// The refusal depends on a state an earlier attempt of ours may have caused.
			found, qerr := call.Query(ctx, creds)
			switch {
			case qerr != nil:
				log.Warn("query after a STATE refusal failed: outcome unknown", "sub_code", be.SubCode, "error", qerr.Error())
				return unknown
			case found != nil:
				log.Info("query settled a STATE refusal", "sub_code", be.SubCode, "state", string(found.State))
				return *found
			}
			log.Info("alipay refused the operation (STATE, confirmed by query)", "sub_code", be.SubCode)
			return refused
		}
		log.Warn("alipay outcome unknown", "sub_code", be.SubCode)
		return unknown
	case errors.Is(err, alipay.ErrUnknownOutcome):
		log.Warn("alipay outcome unknown", "error", err.Error())
	default:
		log.Error("alipay call not sent", "error", err.Error())
	}
	return unknown
}

// Completer records an operation's outcome (orders.Store.CompleteOperation).
type Completer interface {
	CompleteOperation(ctx context.Context, r orders.OpRef, token string, out orders.OpOutcome) error
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
// sent, UNKNOWN); the record is written even when ctx is gone, bounded by the margin.
// It returns the outcome as recorded, or the store's error (orders.ErrLeaseLost when
// another caller took the lease over).
func Run(ctx context.Context, log *slog.Logger, store Completer, creds *alipay.Credentials, call Call, l Lease, retried bool,
	now func() time.Time) (orders.OpOutcome, error) {
	out := orders.OpOutcome{State: orders.OpUnknown}
	if budget := l.Until.Add(-l.Margin).Sub(now()); budget > 0 {
		callCtx, cancel := context.WithTimeout(ctx, budget)
		out = Decide(callCtx, log, creds, call, retried)
		cancel()
	} else {
		log.Error("alipay call not sent: the lease has too little left")
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), l.Margin)
	defer cancel()
	out.Now = now()
	return out, store.CompleteOperation(cctx, l.Ref, l.Token, out)
}
