package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/alipay-serverless/alipay-serverless/shared/orders"
)

// listDue returns the due refs at now (a generous limit).
func listDue(t *testing.T, s orders.Store, now time.Time) []orders.DueRef {
	t.Helper()
	refs, err := s.ListDue(t.Context(), now, 100)
	if err != nil {
		t.Fatalf("ListDue(%s): %v", now, err)
	}
	return refs
}

func wantDue(t *testing.T, s orders.Store, now time.Time, want ...string) []orders.DueRef {
	t.Helper()
	refs := listDue(t, s, now)
	var got []string
	for _, r := range refs {
		got = append(got, r.OrderNo)
	}
	if !sameSet(got, want) {
		t.Fatalf("due at %s: %v, want %v", now, got, want)
	}
	return refs
}

func claim(t *testing.T, s orders.Store, ref orders.DueRef, now time.Time) orders.DueClaim {
	t.Helper()
	c, err := s.ClaimDue(t.Context(), ref, now, now.Add(time.Minute))
	if err != nil {
		t.Fatalf("ClaimDue(%s at %s): %v", ref.OrderNo, now, err)
	}
	return c
}

// testDue: only unsettled items are in the due index, at the time the contract says;
// the writes that settle them take them out; claims exclude each other and expire;
// backoff and STUCK follow FinishDue (docs/design.md, "The reconciler").
func testDue(t *testing.T, newStore func(t *testing.T) orders.Store) {
	t.Run("app_pay_order_due_a_few_minutes_after_create_until_paid", func(t *testing.T) {
		s := newStore(t)
		mustCreate(t, s, appOrder(tradeKey, "h"))
		wantDue(t, s, t0.Add(orders.AppPayFirstCheck-time.Second))
		refs := wantDue(t, s, t0.Add(orders.AppPayFirstCheck), tradeKey)
		if refs[0].Parent != orders.ParentAppPay || !refs[0].DueAt.Equal(t0.Add(orders.AppPayFirstCheck)) {
			t.Fatalf("ref %+v", refs[0])
		}
		mustApply(t, applyTrade(t, s), trade("paid", orders.TradeSuccess), orders.Applied)
		wantDue(t, s, t0.Add(48*time.Hour))
		if o := getTrade(t, s); o.Recon != (orders.ReconState{}) {
			t.Fatalf("a paid order keeps a schedule: %+v", o.Recon)
		}
	})
	t.Run("voucher_request_unknown_due_at_once_until_not_created", func(t *testing.T) {
		s := newStore(t)
		r := mustBegin(t, s, begin("r1"), orders.VoucherAcquired)
		// IN_PROGRESS is due once its lease has passed (the caller vanished).
		wantDue(t, s, t0.Add(9*time.Second))
		wantDue(t, s, t0.Add(10*time.Second), preAuthKey)
		mustComplete(t, s, "r1", r.Token, orders.VoucherOutcome{State: orders.RequestUnknown, Now: t0.Add(time.Second)})
		wantDue(t, s, t0.Add(time.Second), preAuthKey)
		if err := s.MarkVoucherNotCreated(t.Context(), preAuthKey, "r1", t0.Add(2*time.Second)); err != nil {
			t.Fatal(err)
		}
		wantDue(t, s, t0.Add(72*time.Hour))
		if st := getPreAuth(t, s).Requests["r1"].State; st != orders.RequestNotCreated {
			t.Fatalf("state %s", st)
		}
		// An identical retry sends it again.
		b := begin("r1")
		b.Now, b.LeaseUntil = t0.Add(time.Minute), t0.Add(time.Minute+10*time.Second)
		mustBegin(t, s, b, orders.VoucherAcquired)
	})
	t.Run("code_issued_due_after_pay_timeout_and_grace_until_authorized", func(t *testing.T) {
		s := newStore(t)
		b := begin("r1")
		b.PayBy = t0.Add(time.Hour)
		r := mustBegin(t, s, b, orders.VoucherAcquired)
		mustComplete(t, s, "r1", r.Token, issued(t0.Add(time.Second)))
		wantDue(t, s, t0.Add(time.Hour+orders.DueGrace-time.Second))
		wantDue(t, s, t0.Add(time.Hour+orders.DueGrace), preAuthKey)
		mustApply(t, applyFund(t, s), freezeSuccess("f1"), orders.Applied)
		wantDue(t, s, t0.Add(72*time.Hour))
	})
	t.Run("unknown_operation_due_until_resolved", func(t *testing.T) {
		s := authorized(t, newStore)
		wantDue(t, s, t0.Add(72*time.Hour))
		b := opBegin(orders.OpCapture, "c1", 100)
		r := mustBeginOp(t, s, b, orders.OpAcquired)
		mustCompleteOp(t, s, b, r.Token, unknown(b.Now.Add(time.Second)))
		refs := wantDue(t, s, b.Now.Add(time.Second), preAuthKey)
		c := claim(t, s, refs[0], b.Now.Add(time.Second))
		if len(c.Tasks) != 1 || c.Tasks[0].Kind != orders.DueOperation || c.Tasks[0].Op != orders.OpCapture || c.Tasks[0].RequestNo != "c1" {
			t.Fatalf("tasks %+v", c.Tasks)
		}
		if err := s.ResolveOperation(t.Context(), b.OpRef, succeeded(b.Now.Add(2*time.Second))); err != nil {
			t.Fatal(err)
		}
		wantDue(t, s, t0.Add(72*time.Hour))
		// The claim went with the work: finishing it is a lost lease, and changes nothing.
		if _, err := s.FinishDue(t.Context(), refs[0], orders.DueFinish{Token: c.Token, Result: orders.DueResolved, Now: b.Now.Add(3 * time.Second)}); !errors.Is(err, orders.ErrLeaseLost) {
			t.Fatalf("finish after the work settled: %v", err)
		}
	})
	t.Run("a_claim_excludes_other_passes_until_it_expires", func(t *testing.T) {
		s := newStore(t)
		mustCreate(t, s, appOrder(tradeKey, "h"))
		now := t0.Add(time.Hour)
		ref := wantDue(t, s, now, tradeKey)[0]
		claim(t, s, ref, now)
		if _, err := s.ClaimDue(t.Context(), ref, now, now.Add(time.Minute)); !errors.Is(err, orders.ErrNotDue) {
			t.Fatalf("second claim: %v", err)
		}
		wantDue(t, s, now.Add(59*time.Second))
		// The first pass died: its claim expires and the item is due again.
		ref = wantDue(t, s, now.Add(time.Minute), tradeKey)[0]
		if c := claim(t, s, ref, now.Add(time.Minute)); c.Attempts != 2 {
			t.Fatalf("attempts %d", c.Attempts)
		}
	})
	t.Run("finish_backs_off_then_marks_stuck", func(t *testing.T) {
		s := newStore(t)
		mustCreate(t, s, appOrder(tradeKey, "h"))
		now := t0.Add(time.Hour)
		const maxAttempts = 3
		for i := 1; i <= maxAttempts; i++ {
			ref := wantDue(t, s, now, tradeKey)[0]
			c := claim(t, s, ref, now)
			st, err := s.FinishDue(t.Context(), ref, orders.DueFinish{Token: c.Token, Result: orders.DueError, Error: "gateway timeout",
				MaxAttempts: maxAttempts, Now: now})
			if err != nil {
				t.Fatal(err)
			}
			if i < maxAttempts {
				if st.Stuck || !st.DueAt.Equal(now.Add(orders.Backoff(i))) || st.Failures != i {
					t.Fatalf("attempt %d: %+v", i, st)
				}
				wantDue(t, s, now.Add(orders.Backoff(i)-time.Second))
				now = now.Add(orders.Backoff(i))
				continue
			}
			if !st.Stuck || !st.DueAt.IsZero() || st.LastError != "gateway timeout" {
				t.Fatalf("after %d failures: %+v", i, st)
			}
		}
		wantDue(t, s, now.Add(30*24*time.Hour))
		// A change of the work (the payment arrives) brings it back to a fresh schedule:
		// here it settles, so the schedule is simply gone.
		mustApply(t, applyTrade(t, s), trade("paid", orders.TradeSuccess), orders.Applied)
		if o := getTrade(t, s); o.Recon != (orders.ReconState{}) {
			t.Fatalf("recon %+v", o.Recon)
		}
	})
	t.Run("waiting_is_not_a_failure_and_next_at_caps_the_backoff", func(t *testing.T) {
		s := newStore(t)
		mustCreate(t, s, appOrder(tradeKey, "h"))
		now := t0.Add(time.Hour)
		for range 5 {
			ref := wantDue(t, s, now, tradeKey)[0]
			c := claim(t, s, ref, now)
			st, err := s.FinishDue(t.Context(), ref, orders.DueFinish{Token: c.Token, Result: orders.DueWaiting,
				NextAt: now.Add(2 * time.Minute), MaxAttempts: 1, Now: now})
			if err != nil {
				t.Fatal(err)
			}
			if st.Stuck || st.Failures != 0 || st.DueAt.After(now.Add(2*time.Minute)) {
				t.Fatalf("%+v", st)
			}
			now = st.DueAt
		}
	})
	t.Run("expired_order_closes_and_a_later_payment_is_recorded", func(t *testing.T) {
		s := newStore(t)
		mustCreate(t, s, appOrder(tradeKey, "h"))
		res, err := s.ExpireAppPayOrder(t.Context(), tradeKey, t0.Add(time.Hour))
		if err != nil || res != orders.Applied {
			t.Fatalf("expire: %s %v", res, err)
		}
		o := getTrade(t, s)
		if o.Status != orders.TradeClosed || o.ClosedReason != orders.ClosedExpired {
			t.Fatalf("order %+v", o)
		}
		wantDue(t, s, t0.Add(72*time.Hour))
		mustApply(t, applyTrade(t, s), trade("late-paid", orders.TradeSuccess), orders.Applied)
		if o = getTrade(t, s); o.Status != orders.TradeSuccess || !o.PaidAfterClose || o.ClosedReason != "" {
			t.Fatalf("late payment: %+v", o)
		}
		// Anything but a never-submitted CREATED order is not expired.
		if res, err = s.ExpireAppPayOrder(t.Context(), tradeKey, t0.Add(2*time.Hour)); err != nil || res != orders.Stale {
			t.Fatalf("expire a paid order: %s %v", res, err)
		}
	})
	t.Run("a_close_alipay_made_stays_terminal", func(t *testing.T) {
		s := newStore(t)
		mustCreate(t, s, appOrder(tradeKey, "h"))
		mustApply(t, applyTrade(t, s), trade("closed", orders.TradeClosed), orders.Applied)
		mustApply(t, applyTrade(t, s), trade("paid", orders.TradeSuccess), orders.Stale)
	})
}
