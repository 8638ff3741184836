package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
	"github.com/alipay-serverless/alipay-serverless/shared/orders"
)

// refundNotice is a refund's trade_status_sync (L6): out_biz_no, cumulative refund_fee,
// gmt_refund with milliseconds; TRADE_CLOSED once everything is refunded.
func refundNotice(id, outBizNo string, cumulative alipay.Amount) orders.TradeEffect {
	st := orders.TradeSuccess
	if cumulative == orderAmount {
		st = orders.TradeClosed
	}
	e := trade(id, st)
	e.GmtPayment = t0.Add(10 * time.Second)
	e.OutBizNo, e.RefundFee = outBizNo, cumulative
	e.GmtRefund = t0.Add(30*time.Minute + 320*time.Millisecond)
	e.Now = t0.Add(2 * time.Hour)
	return e
}

// testAppPayLifecycle: refunds, refund notices, closes and payments after a close, the
// rules docs/design.md's lifecycle contract adds to the app-pay order.
func testAppPayLifecycle(t *testing.T, newStore func(t *testing.T) orders.Store) {
	t.Run("refund_notice_settles_the_unknown_refund_it_names_once", func(t *testing.T) {
		s := paid(t, newStore)
		b := opBegin(orders.OpRefund, "RF1", 200)
		r := mustBeginOp(t, s, b, orders.OpAcquired)
		mustCompleteOp(t, s, b, r.Token, unknown(b.Now.Add(time.Second)))
		n := refundNotice("rn1", "RF1", 200)
		mustApply(t, applyTrade(t, s), n, orders.Applied)
		mustApply(t, applyTrade(t, s), n, orders.Duplicate)
		op := storedOp(t, s, b)
		if op.State != orders.OpSucceeded || op.Result[orders.ResultRefundFee] != "2.00" || op.Result[orders.ResultSource] != "notice" {
			t.Fatalf("refund %+v", op)
		}
		if o := getTrade(t, s); o.RefundFee != 200 || o.RefundedTotal() != 200 || o.Status != orders.TradeSuccess || len(o.ExternalRefunds) != 0 {
			t.Fatalf("order %+v", o)
		}
	})
	t.Run("refund_notices_reordered_end_in_the_same_state", func(t *testing.T) {
		s := paid(t, newStore)
		var bs []orders.OpBegin
		for _, req := range []string{"RF1", "RF2"} {
			amt := alipay.Amount(200)
			if req == "RF2" {
				amt = orderAmount - 200
			}
			b := opBegin(orders.OpRefund, req, amt)
			r := mustBeginOp(t, s, b, orders.OpAcquired)
			mustCompleteOp(t, s, b, r.Token, unknown(b.Now.Add(time.Second)))
			bs = append(bs, b)
		}
		// The full refund's notice (TRADE_CLOSED) first, the partial one after it.
		mustApply(t, applyTrade(t, s), refundNotice("rn2", "RF2", orderAmount), orders.Applied)
		mustApply(t, applyTrade(t, s), refundNotice("rn1", "RF1", 200), orders.Applied)
		mustApply(t, applyTrade(t, s), refundNotice("rn1", "RF1", 200), orders.Duplicate)
		mustApply(t, applyTrade(t, s), refundNotice("rn2", "RF2", orderAmount), orders.Duplicate)
		for _, b := range bs {
			if op := storedOp(t, s, b); op.State != orders.OpSucceeded {
				t.Fatalf("%s: %+v", b.RequestNo, op)
			}
		}
		o := getTrade(t, s)
		if o.Status != orders.TradeClosed || o.ClosedReason != orders.ClosedRefunded || o.RefundFee != orderAmount || o.RefundedTotal() != orderAmount {
			t.Fatalf("order %+v", o)
		}
	})
	t.Run("refund_notice_for_a_refund_we_did_not_make_is_recorded_once", func(t *testing.T) {
		s := paid(t, newStore)
		n := refundNotice("console", "CONSOLE_RF1", 300)
		mustApply(t, applyTrade(t, s), n, orders.Applied)
		n.NotifyID = "console-again" // another notice of the same refund
		mustApply(t, applyTrade(t, s), n, orders.Stale)
		o := getTrade(t, s)
		if o.RefundFee != 300 || len(o.ExternalRefunds) != 1 || o.ExternalRefunds[0].OutRequestNo != "CONSOLE_RF1" ||
			o.ExternalRefunds[0].RefundFee != 300 || !o.ExternalRefunds[0].GmtRefund.Equal(n.GmtRefund) {
			t.Fatalf("order %+v", o)
		}
		// What the console refunded is no longer available to our refunds.
		r := mustBeginOp(t, s, opBegin(orders.OpRefund, "RF9", orderAmount), orders.OpAmountExceeded)
		if r.Available != orderAmount-300 {
			t.Fatalf("available %s", r.Available)
		}
	})
	t.Run("refund_notice_during_the_lease_settles_and_the_holders_unknown_keeps_it", func(t *testing.T) {
		for _, holder := range []orders.OpOutcome{
			{State: orders.OpUnknown, Result: map[string]string{orders.ResultSentAt: "x"}},
			{State: orders.OpSucceeded, Result: map[string]string{orders.ResultRefundFee: "2.00", orders.ResultSource: "reply"}},
		} {
			s := paid(t, newStore)
			b := opBegin(orders.OpRefund, "RF1", 200)
			b.Now, b.LeaseUntil = t0.Add(2*time.Hour-time.Second), t0.Add(2*time.Hour+time.Minute)
			r := mustBeginOp(t, s, b, orders.OpAcquired)
			mustApply(t, applyTrade(t, s), refundNotice("rn1", "RF1", 200), orders.Applied)
			holder.Now = b.Now.Add(2 * time.Second)
			mustCompleteOp(t, s, b, r.Token, holder)
			if op := storedOp(t, s, b); op.State != orders.OpSucceeded || op.Result[orders.ResultSource] != "notice" {
				t.Fatalf("after the holder's %s: %+v", holder.State, op)
			}
			if o := getTrade(t, s); o.RefundedTotal() != 200 {
				t.Fatalf("order %+v", o)
			}
			// A contradicting refusal is still refused.
			if _, err := s.CompleteOperation(t.Context(), b.OpRef, r.Token, failed(b.Now.Add(3*time.Second))); !errors.Is(err, orders.ErrLeaseLost) {
				t.Fatalf("failed after succeeded: %v", err)
			}
		}
	})
	t.Run("succeeded_full_refund_closes_the_order_and_keeps_the_open_id", func(t *testing.T) {
		s := paid(t, newStore)
		b := opBegin(orders.OpRefund, "RF1", orderAmount)
		r := mustBeginOp(t, s, b, orders.OpAcquired)
		mustCompleteOp(t, s, b, r.Token, orders.OpOutcome{State: orders.OpSucceeded, Now: b.Now.Add(time.Second),
			Result: map[string]string{orders.ResultRefundFee: orderAmount.String(), orders.ResultBuyerOpenID: "074a1CcTG1LelxKe4xQC0zgNdId0nxi95b5lsNpazWYoCo5"}})
		o := getTrade(t, s)
		if o.Status != orders.TradeClosed || o.ClosedReason != orders.ClosedRefunded || o.RefundFee != orderAmount {
			t.Fatalf("order %+v", o)
		}
		// The buyer_id came first (the payment notice); the open_id is kept beside it.
		if o.BuyerOpenID != "074a1CcTG1LelxKe4xQC0zgNdId0nxi95b5lsNpazWYoCo5" {
			t.Fatalf("buyer_open_id %q", o.BuyerOpenID)
		}
		// Alipay's TRADE_CLOSED notice afterwards applies nothing new.
		mustApply(t, applyTrade(t, s), refundNotice("rn1", "RF1", orderAmount), orders.Stale)
	})
	t.Run("unconfirmed_close_then_payment_is_recorded_paid_after_close", func(t *testing.T) {
		s := newStore(t)
		mustCreate(t, s, appOrder(tradeKey, "h"))
		b := opBegin(orders.OpClose, "close", 0)
		r := mustBeginOp(t, s, b, orders.OpAcquired)
		mustCompleteOp(t, s, b, r.Token, orders.OpOutcome{State: orders.OpSucceeded, Now: b.Now.Add(time.Second),
			Result: map[string]string{orders.ResultCloseUnconfirmed: "Y"}})
		o := getTrade(t, s)
		if o.Status != orders.TradeClosed || o.ClosedReason != orders.ClosedByMerchant || !o.CloseUnconfirmed {
			t.Fatalf("closed order %+v", o)
		}
		pay := trade("late-pay", orders.TradeSuccess)
		pay.Now = t0.Add(3 * time.Hour)
		pay.BuyerID, pay.BuyerOpenID = "", "074a1CcTG1LelxKe4xQC0zgNdId0nxi95b5lsNpazWYoCo5"
		mustApply(t, applyTrade(t, s), pay, orders.Applied)
		o = getTrade(t, s)
		if o.Status != orders.TradeSuccess || !o.PaidAfterClose || o.CloseUnconfirmed || o.ClosedReason != "" || o.PaidAt.IsZero() ||
			o.BuyerOpenID != pay.BuyerOpenID || o.BuyerID != "" {
			t.Fatalf("paid after close %+v", o)
		}
	})
	t.Run("confirmed_close_stays_terminal", func(t *testing.T) {
		s := newStore(t)
		mustCreate(t, s, appOrder(tradeKey, "h"))
		b := opBegin(orders.OpClose, "close", 0)
		r := mustBeginOp(t, s, b, orders.OpAcquired)
		mustCompleteOp(t, s, b, r.Token, orders.OpOutcome{State: orders.OpSucceeded, Now: b.Now.Add(time.Second),
			Result: map[string]string{orders.ResultTradeNo: "2025060122001422520500000001"}})
		mustApply(t, applyTrade(t, s), trade("late-pay", orders.TradeSuccess), orders.Stale)
		if o := getTrade(t, s); o.Status != orders.TradeClosed || o.PaidAfterClose || o.CloseUnconfirmed {
			t.Fatalf("order %+v", o)
		}
	})
	t.Run("alipay_close_confirms_an_unconfirmed_close", func(t *testing.T) {
		s := newStore(t)
		mustCreate(t, s, appOrder(tradeKey, "h"))
		b := opBegin(orders.OpClose, "close", 0)
		r := mustBeginOp(t, s, b, orders.OpAcquired)
		mustCompleteOp(t, s, b, r.Token, orders.OpOutcome{State: orders.OpSucceeded, Now: b.Now.Add(time.Second),
			Result: map[string]string{orders.ResultCloseUnconfirmed: "Y"}})
		mustApply(t, applyTrade(t, s), trade("alipay-closed", orders.TradeClosed), orders.Applied)
		mustApply(t, applyTrade(t, s), trade("late-pay", orders.TradeSuccess), orders.Stale)
		if o := getTrade(t, s); o.Status != orders.TradeClosed || o.CloseUnconfirmed || o.PaidAfterClose {
			t.Fatalf("order %+v", o)
		}
	})
}
