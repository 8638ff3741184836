package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
	"github.com/alipay-serverless/alipay-serverless/shared/orders"
)

// testSettle: what captures, unfreezes and cancels do to their pre-auth order, the
// out_trade_no namespace, and notices about our operations.
func testSettle(t *testing.T, newStore func(t *testing.T) orders.Store) {
	capture := func(req string, amt alipay.Amount) orders.OpBegin { return opBegin(orders.OpCapture, req, amt) }
	t.Run("freeze_notice_keeps_the_parties", func(t *testing.T) {
		s := newStore(t)
		reachPreAuth(t, s, orders.PreAuthCodeIssued)
		e := freezeSuccess("freeze")
		e.PayerUserID, e.PayerOpenID, e.PayeeUserID = "2088102000275885", "074a1CcTG1LelxKe4xQC0zgNdId0nxi95b5lsNpazWYoCo5", "2088102000275795"
		mustApply(t, applyFund(t, s), e, orders.Applied)
		o := getPreAuth(t, s)
		if o.PayerUserID != e.PayerUserID || o.PayerOpenID != e.PayerOpenID || o.PayeeUserID != e.PayeeUserID {
			t.Fatalf("parties = %q %q %q", o.PayerUserID, o.PayerOpenID, o.PayeeUserID)
		}
	})
	t.Run("succeeded_capture_and_unfreeze_move_the_totals_then_finish", func(t *testing.T) {
		s := authorized(t, newStore)
		c := capture("C1", 3000)
		r := mustBeginOp(t, s, c, orders.OpAcquired)
		mustCompleteOp(t, s, c, r.Token, succeeded(c.Now))
		o := getPreAuth(t, s)
		if o.TotalPay != 3000 || o.Rest != freezeAmt-3000 || o.Status != orders.PreAuthAuthorized {
			t.Fatalf("after capture: pay %s rest %s status %s", o.TotalPay, o.Rest, o.Status)
		}
		u := opBegin(orders.OpUnfreeze, "U1", freezeAmt-3000)
		r = mustBeginOp(t, s, u, orders.OpAcquired)
		mustCompleteOp(t, s, u, r.Token, orders.OpOutcome{State: orders.OpSucceeded, Now: u.Now})
		o = getPreAuth(t, s)
		if o.TotalUnfreeze != freezeAmt-3000 || o.Rest != 0 || o.Status != orders.PreAuthFinished {
			t.Fatalf("after unfreeze: unfreeze %s rest %s status %s", o.TotalUnfreeze, o.Rest, o.Status)
		}
		// A later snapshot of the same money changes nothing but is not refused.
		mustApply(t, applyFund(t, s), unfreezeRest("late"), orders.Applied)
		if o := getPreAuth(t, s); o.Status != orders.PreAuthFinished || o.TotalPay != 3000 || o.Rest != 0 {
			t.Fatalf("after the notice: %+v", o)
		}
	})
	t.Run("complete_capture_releases_the_rest", func(t *testing.T) {
		s := authorized(t, newStore)
		c := capture("C1", 3000)
		r := mustBeginOp(t, s, c, orders.OpAcquired)
		out := succeeded(c.Now)
		out.Result[orders.ResultAuthConfirmMode] = alipay.AuthConfirmComplete
		mustCompleteOp(t, s, c, r.Token, out)
		o := getPreAuth(t, s)
		if o.TotalUnfreeze != freezeAmt-3000 || o.Rest != 0 || o.Status != orders.PreAuthFinished {
			t.Fatalf("unfreeze %s rest %s status %s", o.TotalUnfreeze, o.Rest, o.Status)
		}
		mustBeginOp(t, s, opBegin(orders.OpUnfreeze, "U1", 100), orders.OpNotAllowed)
	})
	t.Run("unfreezing_everything_closes", func(t *testing.T) {
		s := authorized(t, newStore)
		u := opBegin(orders.OpUnfreeze, "U1", freezeAmt)
		r := mustBeginOp(t, s, u, orders.OpAcquired)
		mustCompleteOp(t, s, u, r.Token, orders.OpOutcome{State: orders.OpSucceeded, Now: u.Now})
		if o := getPreAuth(t, s); o.Status != orders.PreAuthClosed || o.Rest != 0 {
			t.Fatalf("status %s rest %s", o.Status, o.Rest)
		}
	})
	t.Run("unfreeze_notice_settles_our_unknown_unfreeze", func(t *testing.T) {
		s := authorized(t, newStore)
		u := opBegin(orders.OpUnfreeze, "u1", freezeAmt)
		r := mustBeginOp(t, s, u, orders.OpAcquired)
		mustCompleteOp(t, s, u, r.Token, unknown(u.Now))
		e := unfreezeAll("unfreeze")
		e.Now = u.LeaseUntil.Add(time.Minute)
		mustApply(t, applyFund(t, s), e, orders.Applied)
		if op := storedOp(t, s, u); op.State != orders.OpSucceeded || op.Result[orders.ResultOperationID] != "U1" {
			t.Fatalf("op = %+v", op)
		}
		if o := getPreAuth(t, s); o.Status != orders.PreAuthClosed {
			t.Fatalf("status %s", o.Status)
		}
	})
	t.Run("cancel_names_a_voucher_request", func(t *testing.T) {
		s := newStore(t)
		reachPreAuth(t, s, orders.PreAuthCodeIssued)
		if _, err := s.BeginOperation(t.Context(), opBegin(orders.OpCancel, "nope", 0)); !errors.Is(err, orders.ErrInvalid) {
			t.Fatalf("cancel of no request err = %v", err)
		}
		c := opBegin(orders.OpCancel, "r1", 0)
		r := mustBeginOp(t, s, c, orders.OpAcquired)
		mustCompleteOp(t, s, c, r.Token, orders.OpOutcome{State: orders.OpSucceeded, Now: c.Now,
			Result: map[string]string{orders.ResultAction: alipay.CancelActionClose}})
		if o := getPreAuth(t, s); o.Status != orders.PreAuthClosed {
			t.Fatalf("status %s", o.Status)
		}
	})
	t.Run("cancel_unfreeze_closes_an_authorized_order", func(t *testing.T) {
		s := authorized(t, newStore)
		c := opBegin(orders.OpCancel, "r1", 0)
		r := mustBeginOp(t, s, c, orders.OpAcquired)
		mustCompleteOp(t, s, c, r.Token, unknown(c.Now))
		n := orders.OpNotice{NotifyID: "cancel", OpRef: c.OpRef, Now: c.LeaseUntil.Add(time.Minute),
			Result: map[string]string{orders.ResultAction: alipay.CancelActionUnfreeze}}
		mustApply(t, applyOp(t, s), n, orders.Applied)
		mustApply(t, applyOp(t, s), n, orders.Duplicate)
		n.NotifyID = "cancel-again"
		mustApply(t, applyOp(t, s), n, orders.Stale)
		if o := getPreAuth(t, s); o.Status != orders.PreAuthClosed || o.TotalUnfreeze != freezeAmt || o.Rest != 0 {
			t.Fatalf("status %s unfreeze %s rest %s", o.Status, o.TotalUnfreeze, o.Rest)
		}
	})
	t.Run("out_trade_no_is_one_namespace", func(t *testing.T) {
		s := authorized(t, newStore)
		mustCreate(t, s, appOrder(tradeKey, "h"))
		mustBeginOp(t, s, capture(tradeKey, 100), orders.OpConflict) // an app-pay order's number
		c := capture("C1", 100)
		mustBeginOp(t, s, c, orders.OpAcquired)
		ref, err := s.LookupOutTradeNo(t.Context(), "C1")
		if err != nil || ref != c.OpRef {
			t.Fatalf("lookup = %+v, %v", ref, err)
		}
		if _, err := s.LookupOutTradeNo(t.Context(), "C2"); !errors.Is(err, orders.ErrNotFound) {
			t.Fatalf("lookup of an unclaimed number err = %v", err)
		}
		if out, _, err := s.CreateAppPayOrder(t.Context(), appOrder("C1", "h")); err != nil || out != orders.Conflict {
			t.Fatalf("app-pay create with a capture's number = %s, %v", out, err)
		}
	})
	t.Run("a_refused_begin_claims_no_out_trade_no", func(t *testing.T) {
		// Only a begin that records its operation takes the number: one refused for the
		// order's status, its amount, a missing order or another owner leaves it free.
		s := newStore(t)
		reachPreAuth(t, s, orders.PreAuthCodeIssued)
		mustBeginOp(t, s, capture("C1", 100), orders.OpNotAllowed)
		s2 := authorized(t, newStore)
		mustBeginOp(t, s2, capture("C1", freezeAmt+1), orders.OpAmountExceeded)
		missing := capture("C1", 100)
		missing.OrderNo = "absent-order"
		if _, err := s2.BeginOperation(t.Context(), missing); !errors.Is(err, orders.ErrNotFound) {
			t.Fatalf("absent order err = %v", err)
		}
		stranger := capture("C1", 100)
		stranger.Owner = "caller-2"
		if _, err := s2.BeginOperation(t.Context(), stranger); !errors.Is(err, orders.ErrNotFound) {
			t.Fatalf("other owner err = %v", err)
		}
		for i, st := range []orders.Store{s, s2} {
			if ref, err := st.LookupOutTradeNo(t.Context(), "C1"); !errors.Is(err, orders.ErrNotFound) {
				t.Fatalf("store %d: refused begins claimed C1: %+v, %v", i, ref, err)
			}
		}
		if out, _, err := s2.CreateAppPayOrder(t.Context(), appOrder("C1", "h")); err != nil || out != orders.Created {
			t.Fatalf("app-pay create with the unclaimed number = %s, %v", out, err)
		}
	})
	t.Run("capture_notice_settles_unknown_and_binds_trade_no", func(t *testing.T) {
		s := authorized(t, newStore)
		c := capture("C1", 3000)
		r := mustBeginOp(t, s, c, orders.OpAcquired)
		mustCompleteOp(t, s, c, r.Token, unknown(c.Now))
		n := orders.OpNotice{NotifyID: "pay", OpRef: c.OpRef, TradeNo: "2025060122001400000000000009", Now: c.LeaseUntil.Add(time.Minute),
			Result: map[string]string{orders.ResultTradeNo: "2025060122001400000000000009"}}
		mustApply(t, applyOp(t, s), n, orders.Applied)
		if o := getPreAuth(t, s); o.TotalPay != 3000 || storedOp(t, s, c).State != orders.OpSucceeded {
			t.Fatalf("order %+v", o)
		}
		// The trade_no now belongs to the capture: an app-pay notice naming it is refused.
		mustCreate(t, s, appOrder(tradeKey, "h"))
		e := trade("resplit", orders.TradeSuccess)
		e.TradeNo = n.TradeNo
		if _, err := s.ApplyTrade(t.Context(), e); !errors.Is(err, orders.ErrTradeNoBound) {
			t.Fatalf("app-pay notice with the capture's trade_no err = %v", err)
		}
		missing := n
		missing.RequestNo, missing.NotifyID = "C9", "other"
		mustApply(t, applyOp(t, s), missing, orders.NotFound)
	})
	t.Run("a_notice_settles_a_leased_operation_and_the_holder_gets_the_proof", func(t *testing.T) {
		// Alipay notifies only what happened: a notice settles the operation even while
		// its lease is live, and the holder's later UNKNOWN (or second success) leaves the
		// proof as recorded and returns it.
		s := authorized(t, newStore)
		c := capture("C1", 3000)
		r := mustBeginOp(t, s, c, orders.OpAcquired)
		n := orders.OpNotice{NotifyID: "pay", OpRef: c.OpRef, TradeNo: "2025060122001400000000000009", Now: c.Now,
			Result: map[string]string{orders.ResultTradeNo: "2025060122001400000000000009"}}
		mustApply(t, applyOp(t, s), n, orders.Applied)
		for _, out := range []orders.OpOutcome{unknown(c.Now), succeeded(c.Now)} {
			rec, err := s.CompleteOperation(t.Context(), c.OpRef, r.Token, out)
			if err != nil || rec.State != orders.OpSucceeded || rec.Result[orders.ResultTradeNo] != n.TradeNo {
				t.Fatalf("holder's %s completion after the notice = %+v, %v; want the notice's proof", out.State, rec, err)
			}
		}
		if o := getPreAuth(t, s); o.TotalPay != 3000 || o.Rest != freezeAmt-3000 {
			t.Fatalf("order %+v", o)
		}
		// An unfreeze's fund_auth notice settles its leased unfreeze the same way.
		u := opBegin(orders.OpUnfreeze, "U1", 1000)
		ru := mustBeginOp(t, s, u, orders.OpAcquired)
		e := fund("n-unfreeze", "U1OP", "U1", orders.OperationUnfreeze, orders.OperationSuccess, 1000, freezeAmt, 1000, 3000)
		e.Now = u.Now
		mustApply(t, applyFund(t, s), e, orders.Applied)
		rec, err := s.CompleteOperation(t.Context(), u.OpRef, ru.Token, unknown(u.Now))
		if err != nil || rec.State != orders.OpSucceeded || rec.Result[orders.ResultOperationID] != "U1OP" {
			t.Fatalf("holder's completion after the unfreeze notice = %+v, %v", rec, err)
		}
		// The holder's own success is returned as recorded too.
		u2 := opBegin(orders.OpUnfreeze, "U2", 500)
		ru2 := mustBeginOp(t, s, u2, orders.OpAcquired)
		rec, err = s.CompleteOperation(t.Context(), u2.OpRef, ru2.Token, succeeded(u2.Now))
		if err != nil || rec.State != orders.OpSucceeded || rec.Amount != 500 || rec.RequestNo != "U2" {
			t.Fatalf("holder's completion = %+v, %v", rec, err)
		}
	})
	t.Run("notice_contradicting_a_failure_is_refused", func(t *testing.T) {
		s := authorized(t, newStore)
		c := capture("C1", 3000)
		r := mustBeginOp(t, s, c, orders.OpAcquired)
		mustCompleteOp(t, s, c, r.Token, failed(c.Now))
		n := orders.OpNotice{NotifyID: "pay", OpRef: c.OpRef, Now: c.Now}
		if _, err := s.ApplyOpNotice(t.Context(), n); !errors.Is(err, orders.ErrSettled) {
			t.Fatalf("err = %v, want ErrSettled", err)
		}
	})
}

func applyOp(t *testing.T, s orders.Store) func(orders.OpNotice) (orders.ApplyResult, error) {
	return func(n orders.OpNotice) (orders.ApplyResult, error) { return s.ApplyOpNotice(t.Context(), n) }
}
