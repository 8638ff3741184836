package apppay

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
	"github.com/alipay-serverless/alipay-serverless/shared/domain"
	"github.com/alipay-serverless/alipay-serverless/shared/metrics"
	"github.com/alipay-serverless/alipay-serverless/shared/orders"
)

// QueryStore is what applying a trade query needs of the order store.
type QueryStore interface {
	GetAppPayOrder(ctx context.Context, outTradeNo string) (*orders.AppPayOrder, error)
	ApplyTrade(ctx context.Context, e orders.TradeEffect) (orders.ApplyResult, error)
}

// QueryCredentials gives credentials for the query and re-fetches them on a rotation.
type QueryCredentials interface {
	Get(ctx context.Context) (*alipay.Credentials, error)
	Refresh(ctx context.Context) (*alipay.Credentials, error)
}

// Synced is what one alipay.trade.query came to.
type Synced struct {
	// Exists is false when Alipay answered ACQ.TRADE_NOT_EXIST: the buyer has not
	// submitted the orderStr (docs/design.md, "Routes and scopes"); nothing changed.
	Exists bool
	Result orders.ApplyResult // when Exists
	Order  *orders.AppPayOrder
}

// SyncTrade asks Alipay about the order (alipay.trade.query, L8) and applies the answer
// with ApplyQuery. It is the one query→apply step of app-pay orders: the reconciler's
// resolver and a sync route both call it.
func SyncTrade(ctx context.Context, store QueryStore, creds QueryCredentials, gw alipay.Executor, o *orders.AppPayOrder, now time.Time) (Synced, error) {
	c, err := creds.Get(ctx)
	if err != nil {
		return Synced{}, fmt.Errorf("apppay: sync: %w", err)
	}
	q, err := alipay.Call[alipay.TradeQueryResult](ctx, gw, c, &alipay.TradeQuery{OutTradeNo: o.OutTradeNo},
		alipay.CallOptions{Refresh: creds.Refresh})
	var be *alipay.BusinessError
	if errors.As(err, &be) && !be.Configuration() && be.SubCode == "ACQ.TRADE_NOT_EXIST" {
		return Synced{Order: o}, nil
	}
	if err != nil {
		return Synced{}, fmt.Errorf("apppay: sync out_trade_no %s: %w", o.OutTradeNo, err)
	}
	res, err := ApplyQuery(ctx, store, o, q, now)
	if err != nil {
		return Synced{}, err
	}
	after, err := store.GetAppPayOrder(ctx, o.OutTradeNo)
	if err != nil {
		return Synced{}, fmt.Errorf("apppay: sync: read back: %w", err)
	}
	return Synced{Exists: true, Result: res, Order: after}, nil
}

// ApplyQuery applies a verified alipay.trade.query answer about o exactly as a
// trade_status_sync notice of the same fact is applied (orders.Store.ApplyTrade, the
// same transition function): a notice and a query of one event apply it once. Its
// receipt names the queried fact (trade_no and status), so asking again is a
// Duplicate, and a notification of the same fact later is Stale.
func ApplyQuery(ctx context.Context, store QueryStore, o *orders.AppPayOrder, q *alipay.TradeQueryResult, now time.Time) (orders.ApplyResult, error) {
	status := orders.TradeStatus(q.TradeStatus)
	switch status {
	case orders.TradeWaitBuyerPay, orders.TradeSuccess, orders.TradeFinished, orders.TradeClosed:
	default:
		return "", fmt.Errorf("apppay: trade.query of out_trade_no %s: unknown trade_status %q", o.OutTradeNo, q.TradeStatus)
	}
	if q.TradeNo == "" {
		return "", fmt.Errorf("apppay: trade.query of out_trade_no %s: no trade_no", o.OutTradeNo)
	}
	e := orders.TradeEffect{
		NotifyID:    "query:" + q.TradeNo + ":" + q.TradeStatus,
		OutTradeNo:  o.OutTradeNo,
		TradeStatus: status,
		TradeNo:     q.TradeNo,
		BuyerID:     q.BuyerUserID,
		Now:         now,
	}
	if e.BuyerID == "" {
		e.BuyerID = q.BuyerOpenID
	}
	var err error
	amounts := []struct {
		field, v string
		dst      *alipay.Amount
	}{{"total_amount", q.TotalAmount, &e.TotalAmount}, {"receipt_amount", q.ReceiptAmount, &e.ReceiptAmount},
		{"buyer_pay_amount", q.BuyerPayAmount, &e.BuyerPayAmount}}
	for _, a := range amounts {
		if a.v == "" {
			continue
		}
		if *a.dst, err = alipay.ParseAmount(a.v); err != nil {
			return "", fmt.Errorf("apppay: trade.query %s: %w", a.field, err)
		}
	}
	if q.SendPayDate != "" && (status == orders.TradeSuccess || status == orders.TradeFinished) {
		if e.GmtPayment, err = alipay.ParseTimestamp(q.SendPayDate); err != nil {
			return "", fmt.Errorf("apppay: trade.query send_pay_date: %w", err)
		}
	}
	res, err := store.ApplyTrade(ctx, e)
	if err != nil {
		return "", fmt.Errorf("apppay: apply trade.query of out_trade_no %s: %w", o.OutTradeNo, err)
	}
	NotePaidAfterClose(ctx, o, status, res)
	return res, nil
}

// NotePaidAfterClose logs and counts a genuine payment applied to an order we had closed
// without Alipay's word (before is the order as read before the apply): the merchant
// refunds or fulfils it.
func NotePaidAfterClose(ctx context.Context, before *orders.AppPayOrder, status orders.TradeStatus, res orders.ApplyResult) {
	paid := status == orders.TradeSuccess || status == orders.TradeFinished
	if res != orders.Applied || !paid || before.Status != orders.TradeClosed || before.ClosedReason == "" {
		return
	}
	domain.Logger(ctx).Warn("payment after close", "out_trade_no", before.OutTradeNo, "closed_reason", before.ClosedReason,
		"paid_after_close", true)
	metrics.Count(metrics.PaidAfterClose, 1, nil)
}
