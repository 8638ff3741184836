package reconcile

import (
	"context"
	"errors"
	"time"

	"github.com/alipay-serverless/alipay-serverless/shared/agreements"
	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
	"github.com/alipay-serverless/alipay-serverless/shared/orders"
)

// The resolvers of pay-and-sign agreements: charges left UNKNOWN, and an agreement still
// not NORMAL after its order was paid.

// ChargeConfirmer settles a charge left UNKNOWN (*agreements.Service): alipay.trade.query
// first, resent only when Alipay has no such trade (an identical retry's path).
type ChargeConfirmer interface {
	ConfirmCharge(ctx context.Context, externalAgreementNo, outTradeNo string) (*agreements.Charge, error)
}

// Charges resolves orders.DueOperation for orders.OpCharge.
func Charges(c ChargeConfirmer) Resolver {
	return ResolverFunc(func(ctx context.Context, item DueItem, _ time.Time) (Outcome, error) {
		res, err := c.ConfirmCharge(ctx, item.Ref.OrderNo, item.Task.RequestNo)
		var be *alipay.BusinessError
		switch {
		case errors.As(err, &be) && !be.Configuration():
			// A verified refusal settles the charge (FAILED, recorded).
			return Outcome{Result: orders.DueResolved, Note: "charge refused"}, nil
		case err != nil:
			return Outcome{}, err
		case res.Op.State == orders.OpSucceeded || res.Op.State == orders.OpFailed:
			return Outcome{Result: orders.DueResolved}, nil
		}
		return Outcome{Result: orders.DueUnchanged, Note: "charge not settled"}, nil
	})
}

// AgreementSyncer asks Alipay about an agreement not NORMAL after its order was paid
// (*agreements.Service, alipay.user.agreement.query).
type AgreementSyncer interface {
	SyncSign(ctx context.Context, externalAgreementNo string) (settled bool, err error)
}

// AgreementSign resolves orders.DueAgreementSign: an agreement Alipay reports NORMAL (or
// unsigned) is applied; one it still does not show signed is unchanged (the buyer paid a
// pay-and-sign order whose agreement never came counts towards STUCK).
func AgreementSign(s AgreementSyncer) Resolver {
	return ResolverFunc(func(ctx context.Context, item DueItem, _ time.Time) (Outcome, error) {
		settled, err := s.SyncSign(ctx, item.Ref.OrderNo)
		if err != nil {
			return Outcome{}, err
		}
		if settled {
			return Outcome{Result: orders.DueResolved}, nil
		}
		return Outcome{Result: orders.DueUnchanged, Note: "agreement not signed at alipay"}, nil
	})
}
