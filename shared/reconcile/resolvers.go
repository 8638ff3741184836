package reconcile

import (
	"context"
	"fmt"
	"time"

	"github.com/alipay-serverless/alipay-serverless/shared/orders"
	"github.com/alipay-serverless/alipay-serverless/shared/preauth"
)

// The resolvers of the work that exists today: voucher requests, CODE_ISSUED pre-auth
// orders and unpaid app-pay orders. Operations (captures, unfreezes, cancels, refunds,
// closes, charges) register theirs for orders.DueOperation and their OpKind.

// VoucherSyncer asks Alipay about one voucher request and applies the answer
// (*preauth.Service).
type VoucherSyncer interface {
	SyncRequest(ctx context.Context, outOrderNo, outRequestNo string) (preauth.SyncResult, error)
}

// VoucherRequests resolves orders.DueVoucherRequest: a voucher request whose outcome is
// unknown (detail query: not found → NOT_CREATED, INIT → the identical create again,
// SUCCESS → the freeze, CLOSED → the close).
func VoucherRequests(s VoucherSyncer) Resolver {
	return ResolverFunc(func(ctx context.Context, item DueItem, _ time.Time) (Outcome, error) {
		res, err := s.SyncRequest(ctx, item.Ref.OrderNo, item.Task.RequestNo)
		if err != nil {
			return Outcome{}, err
		}
		switch res {
		case preauth.SyncApplied:
			return Outcome{Result: orders.DueResolved}, nil
		case preauth.SyncOpen:
			return Outcome{Result: orders.DueWaiting, Note: "voucher open"}, nil
		}
		return Outcome{Result: orders.DueUnchanged, Note: "not settled"}, nil
	})
}

// PreAuthReader reads a pre-auth order.
type PreAuthReader interface {
	GetPreAuthOrder(ctx context.Context, outOrderNo string) (*orders.PreAuthOrder, error)
}

// CodeIssued resolves orders.DueCodeIssued: an order still CODE_ISSUED after its
// vouchers' pay_timeout (+ grace). Each issued, unsettled voucher is asked about: a
// freeze or a close is applied; a voucher Alipay still shows open this late settles
// nothing (unchanged: it counts towards STUCK).
func CodeIssued(store PreAuthReader, s VoucherSyncer) Resolver {
	return ResolverFunc(func(ctx context.Context, item DueItem, _ time.Time) (Outcome, error) {
		o, err := store.GetPreAuthOrder(ctx, item.Ref.OrderNo)
		if err != nil {
			return Outcome{}, err
		}
		if o.Status != orders.PreAuthCodeIssued {
			return Outcome{Result: orders.DueResolved}, nil
		}
		open := 0
		for no, r := range o.Requests {
			if r.State != orders.RequestIssued || o.RequestSettled(no) {
				continue
			}
			res, err := s.SyncRequest(ctx, o.OutOrderNo, no)
			if err != nil {
				return Outcome{}, err
			}
			if res != preauth.SyncApplied {
				open++
			}
		}
		if open > 0 {
			return Outcome{Result: orders.DueUnchanged, Note: "voucher still open after pay_timeout"}, nil
		}
		return Outcome{Result: orders.DueResolved}, nil
	})
}

// AppPayStore is what the app-pay resolver needs of the store.
type AppPayStore interface {
	GetAppPayOrder(ctx context.Context, outTradeNo string) (*orders.AppPayOrder, error)
	ExpireAppPayOrder(ctx context.Context, outTradeNo string, now time.Time) (orders.ApplyResult, error)
}

// AppPaySyncer asks Alipay about an app-pay order and applies the answer through the
// notification transitions (*apppay.Service); known is false when Alipay has no trade.
type AppPaySyncer interface {
	SyncOrder(ctx context.Context, o *orders.AppPayOrder) (after *orders.AppPayOrder, known bool, err error)
}

// DefaultPayWindow is Alipay's app-pay window when an order names none.
const DefaultPayWindow = 15 * 24 * time.Hour

// payBy is when Alipay stops accepting payment for o.
func payBy(o *orders.AppPayOrder) time.Time {
	if !o.PayBy.IsZero() {
		return o.PayBy
	}
	return o.CreatedAt.Add(DefaultPayWindow)
}

// AppPayOrders resolves orders.DueAppPayOpen: an order CREATED or WAIT_BUYER_PAY is
// asked about with alipay.trade.query and the answer applied as its notice would be
// (the sync route's apppay.Service.SyncOrder); an order Alipay never heard of is waited
// for until its expiry (+ grace), then closed with closed_reason EXPIRED.
func AppPayOrders(store AppPayStore, syncer AppPaySyncer) Resolver {
	return ResolverFunc(func(ctx context.Context, item DueItem, now time.Time) (Outcome, error) {
		o, err := store.GetAppPayOrder(ctx, item.Ref.OrderNo)
		if err != nil {
			return Outcome{}, err
		}
		if o.Status != orders.TradeCreated && o.Status != orders.TradeWaitBuyerPay {
			return Outcome{Result: orders.DueResolved}, nil
		}
		deadline := payBy(o).Add(orders.DueGrace)
		after, known, err := syncer.SyncOrder(ctx, o)
		if err != nil {
			return Outcome{}, err
		}
		switch {
		case !known && !now.Before(deadline):
			if _, err := store.ExpireAppPayOrder(ctx, o.OutTradeNo, now); err != nil {
				return Outcome{}, fmt.Errorf("expire: %w", err)
			}
			return Outcome{Result: orders.DueResolved, Note: "expired unsubmitted"}, nil
		case !known:
			return Outcome{Result: orders.DueWaiting, NextAt: deadline, Note: "not submitted yet"}, nil
		}
		if st := after.Status; st == orders.TradeCreated || st == orders.TradeWaitBuyerPay {
			if now.Before(deadline) {
				return Outcome{Result: orders.DueWaiting, NextAt: deadline, Note: "waiting for the buyer"}, nil
			}
			// Alipay closes an unpaid trade at its expiry; still open this late is odd.
			return Outcome{Result: orders.DueUnchanged, Note: "still unpaid after expiry"}, nil
		}
		return Outcome{Result: orders.DueResolved}, nil
	})
}

// OperationSettler settles one money-moving operation that is UNKNOWN or PENDING past
// its lease (*preauth.Settler for captures, unfreezes and cancels; *apppay.Service for
// refunds and closes): it asks Alipay what an identical retry asks first and records the
// answer, never sending the operation itself, and returns the operation as stored.
type OperationSettler interface {
	SettleOperation(ctx context.Context, ref orders.OpRef) (orders.Operation, error)
}

// Operations resolves orders.DueOperation for the kinds s settles (docs/design.md, "The
// reconciler": capture → trade.query, unfreeze and cancel → detail query, refund →
// refund query, close → trade.query). SUCCEEDED or FAILED (FAILED NOT_CREATED when Alipay
// never had it: an identical retry still sends it) is resolved; a lease another caller
// holds is waited for; an answer that settled nothing is unchanged (towards STUCK).
func Operations(s OperationSettler) Resolver {
	return ResolverFunc(func(ctx context.Context, item DueItem, now time.Time) (Outcome, error) {
		ref := orders.OpRef{Parent: item.Ref.Parent, OrderNo: item.Ref.OrderNo, Kind: item.Task.Op, RequestNo: item.Task.RequestNo}
		op, err := s.SettleOperation(ctx, ref)
		if err != nil {
			return Outcome{}, err
		}
		switch {
		case op.State == orders.OpSucceeded || op.State == orders.OpFailed:
			return Outcome{Result: orders.DueResolved}, nil
		case op.State == orders.OpPending && now.Before(op.LeaseUntil):
			return Outcome{Result: orders.DueWaiting, NextAt: op.LeaseUntil, Note: "leased by a caller"}, nil
		}
		return Outcome{Result: orders.DueUnchanged, Note: "operation not settled"}, nil
	})
}
