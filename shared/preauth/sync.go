package preauth

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
	"github.com/alipay-serverless/alipay-serverless/shared/domain"
	"github.com/alipay-serverless/alipay-serverless/shared/metrics"
	"github.com/alipay-serverless/alipay-serverless/shared/orders"
)

// payTimeout converts a validated pay_timeout (`15m`, `2h`, `3d`) to a duration;
// absent, Alipay's default of 15 minutes.
func payTimeout(v string) time.Duration {
	if len(v) < 2 {
		return orders.DefaultVoucherPayTimeout
	}
	n, err := strconv.Atoi(v[:len(v)-1])
	if err != nil || n <= 0 {
		return orders.DefaultVoucherPayTimeout
	}
	unit := map[byte]time.Duration{'m': time.Minute, 'h': time.Hour, 'd': 24 * time.Hour}[v[len(v)-1]]
	if unit == 0 {
		return orders.DefaultVoucherPayTimeout
	}
	return time.Duration(n) * unit
}

// SyncResult is what asking Alipay about one voucher request came to.
type SyncResult string

const (
	SyncApplied    SyncResult = "APPLIED"     // Alipay's answer changed the order (freeze, close, not created, code recovered)
	SyncOpen       SyncResult = "OPEN"        // the voucher is issued and unpaid (INIT): nothing to do
	SyncNotSettled SyncResult = "NOT_SETTLED" // the answer settled nothing (e.g. a resend still in progress)
)

// SyncRequest asks Alipay (alipay.fund.auth.operation.detail.query, through Reconcile)
// about one voucher request and applies the answer through the store's transition
// functions, exactly as a notification would be applied (docs/design.md, "The
// reconciler"):
//   - not found, for a request whose outcome was unknown: NOT_CREATED (an identical
//     retry sends it again);
//   - INIT, for a request whose outcome was unknown: the identical create is sent again
//     (Alipay answers the same out_request_no with the same code), recording ISSUED;
//   - SUCCESS: the freeze is applied (AUTHORIZED); CLOSED: the close is applied.
//
// It is the reconciler's voucher resolver and what a sync route calls per request.
func (s *Service) SyncRequest(ctx context.Context, outOrderNo, outRequestNo string) (SyncResult, error) {
	rec, err := s.Reconcile(ctx, outOrderNo, outRequestNo)
	if err != nil {
		return "", err
	}
	unsettled := rec.State == orders.RequestUnknown || rec.State == orders.RequestInProgress
	switch {
	case !rec.Exists && unsettled:
		if err := s.store.MarkVoucherNotCreated(ctx, outOrderNo, outRequestNo, s.now()); err != nil {
			return "", fmt.Errorf("preauth: sync out_request_no %s: %w", outRequestNo, err)
		}
		return SyncApplied, nil
	case !rec.Exists:
		// Issued or refused here, unknown there: nothing we can settle by ourselves.
		return SyncNotSettled, nil
	case rec.Status == alipay.FundAuthStatusInit && unsettled:
		return s.resend(ctx, outOrderNo, outRequestNo)
	case rec.Status == alipay.FundAuthStatusInit:
		return SyncOpen, nil
	}
	o, err := s.store.GetPreAuthOrder(ctx, outOrderNo)
	if err != nil {
		return "", fmt.Errorf("preauth: sync out_order_no %s: %w", outOrderNo, err)
	}
	e, err := rec.effect(o, s.now())
	if err != nil {
		return SyncNotSettled, err
	}
	if _, err := s.store.ApplyFundAuth(ctx, e); err != nil {
		return "", fmt.Errorf("preauth: sync out_request_no %s: apply %s: %w", outRequestNo, rec.Status, err)
	}
	return SyncApplied, nil
}

// effect is the fund-auth notice the answer amounts to. Its notify_id names the query's
// fact, so asking twice applies it once, and a notification of the same fact later is
// Stale (state only moves forward).
func (r *Reconciliation) effect(o *orders.PreAuthOrder, now time.Time) (orders.FundAuthEffect, error) {
	if r.OperationType != alipay.FundAuthOpFreeze || r.OperationID == "" {
		return orders.FundAuthEffect{}, fmt.Errorf("preauth: detail query answered operation %q %q, not a freeze", r.OperationType, r.OperationID)
	}
	if r.Amount != o.Amount {
		// The same check a freeze notice passes (notify: fundAuthMismatch).
		return orders.FundAuthEffect{}, fmt.Errorf("preauth: detail query amount %s differs from the order's %s", r.Amount, o.Amount)
	}
	if o.AuthNo != "" && r.AuthNo != o.AuthNo {
		return orders.FundAuthEffect{}, fmt.Errorf("preauth: detail query auth_no differs from the order's")
	}
	e := orders.FundAuthEffect{
		NotifyID:        "query:" + r.OperationID + ":" + string(r.Status),
		OutOrderNo:      o.OutOrderNo,
		AuthNo:          r.AuthNo,
		OperationID:     r.OperationID,
		OutRequestNo:    r.OutRequestNo,
		OperationType:   orders.OperationType(r.OperationType),
		OperationStatus: orders.OperationStatus(r.Status),
		Amount:          r.Amount,
		GmtTrans:        r.GmtTrans,
		Now:             now,
		PayerUserID:     r.PayerUserID,
		PayerOpenID:     r.PayerOpenID,
	}
	if r.HasTotals {
		e.TotalFreeze, e.TotalUnfreeze, e.TotalPay, e.Rest = r.TotalFreeze, r.TotalUnfreeze, r.TotalPay, r.Rest
	}
	if r.Status == alipay.FundAuthStatusClosed {
		// A closed voucher froze nothing (§8.6): the order-level snapshot of a close.
		e.TotalFreeze, e.TotalUnfreeze, e.TotalPay, e.Rest = 0, 0, 0, 0
	}
	return e, nil
}

// resend sends the identical create again, through the create path itself (lease,
// gateway, recorded outcome).
func (s *Service) resend(ctx context.Context, outOrderNo, outRequestNo string) (SyncResult, error) {
	o, err := s.store.GetPreAuthOrder(ctx, outOrderNo)
	if err != nil {
		return "", fmt.Errorf("preauth: resend out_order_no %s: %w", outOrderNo, err)
	}
	req := o.Requests[outRequestNo]
	if req.BizContent == "" {
		return SyncNotSettled, fmt.Errorf("preauth: out_request_no %s has no stored request to send again", outRequestNo)
	}
	p, err := alipay.DecodeVoucherCreate([]byte(req.BizContent))
	if err != nil {
		return SyncNotSettled, fmt.Errorf("preauth: stored request of out_request_no %s: %w", outRequestNo, err)
	}
	_, err = s.CreateVoucher(ctx, o.Owner, p, req.NotifyURL)
	var inProgress *domain.InProgress
	switch {
	case err == nil:
		return SyncApplied, nil
	case errors.As(err, &inProgress):
		return SyncNotSettled, nil
	}
	return "", fmt.Errorf("preauth: resend out_request_no %s: %w", outRequestNo, err)
}

// recordUnknown counts a voucher request or an operation a caller's call left with an
// unknown outcome (OperationsUnknown, by kind).
func recordUnknown(kind orders.OpKind) {
	metrics.Count(metrics.OperationsUnknown, 1, map[string]string{"Kind": string(kind)})
}
