package storetest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
	"github.com/alipay-serverless/alipay-serverless/shared/orders"
)

// authorized returns a store holding an authorized pre-auth order (freezeAmt frozen).
func authorized(t *testing.T, newStore func(t *testing.T) orders.Store) orders.Store {
	s := newStore(t)
	reachPreAuth(t, s, orders.PreAuthAuthorized)
	return s
}

// paid returns a store holding an app-pay order paid in full (orderAmount).
func paid(t *testing.T, newStore func(t *testing.T) orders.Store) orders.Store {
	s := newStore(t)
	mustCreate(t, s, appOrder(tradeKey, "h"))
	mustApply(t, applyTrade(t, s), trade("setup-paid", orders.TradeSuccess), orders.Applied)
	return s
}

func opBegin(kind orders.OpKind, req string, amt alipay.Amount) orders.OpBegin {
	parent, order := orders.ParentPreAuth, preAuthKey
	if kind == orders.OpRefund || kind == orders.OpClose {
		parent, order = orders.ParentAppPay, tradeKey
	}
	return orders.OpBegin{
		OpRef:      orders.OpRef{Parent: parent, OrderNo: order, Kind: kind, RequestNo: req},
		Owner:      owner,
		ParamsHash: "params-" + req + "-" + amt.String(),
		Amount:     amt,
		Now:        t0.Add(time.Hour),
		LeaseUntil: t0.Add(time.Hour + 10*time.Second),
	}
}

func mustBeginOp(t *testing.T, s orders.Store, b orders.OpBegin, want orders.OpBeginOutcome) orders.OpBeginResult {
	t.Helper()
	r, err := s.BeginOperation(t.Context(), b)
	if err != nil {
		t.Fatalf("BeginOperation(%s %s, now %s): %v", b.Kind, b.RequestNo, b.Now, err)
	}
	if r.Outcome != want {
		t.Fatalf("BeginOperation(%s %s, now %s) = %+v, want %s", b.Kind, b.RequestNo, b.Now, r, want)
	}
	return r
}

func succeeded(now time.Time) orders.OpOutcome {
	return orders.OpOutcome{State: orders.OpSucceeded, Result: map[string]string{"trade_no": "2025060122001400000000000001"}, Now: now}
}

func failed(now time.Time) orders.OpOutcome {
	return orders.OpOutcome{State: orders.OpFailed, Code: "40004", SubCode: "ACQ.TRADE_HAS_FINISHED", SubMsg: "交易已完结", Now: now}
}

func unknown(now time.Time) orders.OpOutcome {
	return orders.OpOutcome{State: orders.OpUnknown, Now: now}
}

func mustCompleteOp(t *testing.T, s orders.Store, b orders.OpBegin, token string, out orders.OpOutcome) {
	t.Helper()
	if _, err := s.CompleteOperation(t.Context(), b.OpRef, token, out); err != nil {
		t.Fatalf("CompleteOperation(%s %s, %s): %v", b.Kind, b.RequestNo, out.State, err)
	}
}

func storedOp(t *testing.T, s orders.Store, b orders.OpBegin) orders.Operation {
	t.Helper()
	var ops orders.OpSet
	if b.Parent == orders.ParentAppPay {
		ops = getTrade(t, s).Ops
	} else {
		ops = getPreAuth(t, s).Ops
	}
	for _, op := range ops {
		if op.Kind == b.Kind && op.RequestNo == b.RequestNo {
			return op
		}
	}
	t.Fatalf("no %s operation %s stored", b.Kind, b.RequestNo)
	return orders.Operation{}
}

func testOperations(t *testing.T, newStore func(t *testing.T) orders.Store) {
	t.Run("begin_complete_replay", func(t *testing.T) {
		s := paid(t, newStore)
		b := opBegin(orders.OpRefund, "RF1", 300)
		r := mustBeginOp(t, s, b, orders.OpAcquired)
		if r.Token == "" || !r.LeaseUntil.Equal(b.LeaseUntil) || r.Retried {
			t.Fatalf("acquired = %+v", r)
		}
		out := succeeded(b.Now.Add(time.Second))
		mustCompleteOp(t, s, b, r.Token, out)
		rp := mustBeginOp(t, s, b, orders.OpReplay)
		if rp.Op.State != orders.OpSucceeded || rp.Op.Result["trade_no"] != out.Result["trade_no"] || rp.Op.Amount != 300 {
			t.Fatalf("replay = %+v", rp.Op)
		}
		if got := storedOp(t, s, b); got.State != orders.OpSucceeded || !got.UpdatedAt.Equal(out.Now) || !got.CreatedAt.Equal(b.Now) {
			t.Fatalf("stored = %+v", got)
		}
	})
	t.Run("failure_is_replayed", func(t *testing.T) {
		s := paid(t, newStore)
		b := opBegin(orders.OpRefund, "RF1", 300)
		r := mustBeginOp(t, s, b, orders.OpAcquired)
		mustCompleteOp(t, s, b, r.Token, failed(b.Now))
		rp := mustBeginOp(t, s, b, orders.OpReplay)
		if rp.Op.State != orders.OpFailed || rp.Op.SubCode != "ACQ.TRADE_HAS_FINISHED" {
			t.Fatalf("replay = %+v", rp.Op)
		}
	})
	t.Run("other_params_or_kind_conflict", func(t *testing.T) {
		s := authorized(t, newStore)
		b := opBegin(orders.OpCapture, "C1", 100)
		mustBeginOp(t, s, b, orders.OpAcquired)
		other := b
		other.ParamsHash = "other"
		mustBeginOp(t, s, other, orders.OpConflict)
		sameNoOtherKind := opBegin(orders.OpUnfreeze, "C1", 100)
		mustBeginOp(t, s, sameNoOtherKind, orders.OpConflict)
		voucherNo := opBegin(orders.OpUnfreeze, "r1", 100) // r1 is the voucher request's number
		mustBeginOp(t, s, voucherNo, orders.OpConflict)
	})
	t.Run("lease_held_is_in_progress_then_taken_over", func(t *testing.T) {
		s := paid(t, newStore)
		b := opBegin(orders.OpRefund, "RF1", 300)
		first := mustBeginOp(t, s, b, orders.OpAcquired)
		b.Now = b.LeaseUntil.Add(-time.Millisecond)
		ip := mustBeginOp(t, s, b, orders.OpInProgress)
		if !ip.LeaseUntil.Equal(first.LeaseUntil) {
			t.Fatalf("in progress until %s, want %s", ip.LeaseUntil, first.LeaseUntil)
		}
		b.Now, b.LeaseUntil = first.LeaseUntil, first.LeaseUntil.Add(10*time.Second)
		second := mustBeginOp(t, s, b, orders.OpAcquired)
		if second.Token == first.Token || !second.Retried {
			t.Fatalf("takeover = %+v", second)
		}
		// The first holder lost its lease; the second completes.
		if _, err := s.CompleteOperation(t.Context(), b.OpRef, first.Token, succeeded(b.Now)); !errors.Is(err, orders.ErrLeaseLost) {
			t.Fatalf("stale complete err = %v, want ErrLeaseLost", err)
		}
		mustCompleteOp(t, s, b, second.Token, succeeded(b.Now))
	})
	t.Run("repeated_complete_is_noop_other_outcome_lost", func(t *testing.T) {
		s := paid(t, newStore)
		b := opBegin(orders.OpRefund, "RF1", 300)
		r := mustBeginOp(t, s, b, orders.OpAcquired)
		out := succeeded(b.Now)
		mustCompleteOp(t, s, b, r.Token, out)
		mustCompleteOp(t, s, b, r.Token, out)
		if _, err := s.CompleteOperation(t.Context(), b.OpRef, r.Token, failed(b.Now)); !errors.Is(err, orders.ErrLeaseLost) {
			t.Fatalf("contradicting complete err = %v, want ErrLeaseLost", err)
		}
	})
	t.Run("unknown_then_identical_retry_acquires", func(t *testing.T) {
		s := paid(t, newStore)
		b := opBegin(orders.OpRefund, "RF1", 300)
		r := mustBeginOp(t, s, b, orders.OpAcquired)
		mustCompleteOp(t, s, b, r.Token, unknown(b.Now))
		b.Now = b.Now.Add(time.Second) // lease not yet expired: UNKNOWN is not a held lease
		again := mustBeginOp(t, s, b, orders.OpAcquired)
		if !again.Retried || again.Token == r.Token {
			t.Fatalf("retry = %+v", again)
		}
		changed := b
		changed.ParamsHash = "other"
		mustBeginOp(t, s, changed, orders.OpConflict)
	})
	t.Run("resolve_unknown", func(t *testing.T) {
		for _, out := range []orders.OpOutcome{succeeded(t0.Add(2 * time.Hour)), failed(t0.Add(2 * time.Hour))} {
			t.Run(string(out.State), func(t *testing.T) {
				s := paid(t, newStore)
				b := opBegin(orders.OpRefund, "RF1", 300)
				r := mustBeginOp(t, s, b, orders.OpAcquired)
				mustCompleteOp(t, s, b, r.Token, unknown(b.Now))
				if err := s.ResolveOperation(t.Context(), b.OpRef, out); err != nil {
					t.Fatalf("resolve: %v", err)
				}
				if err := s.ResolveOperation(t.Context(), b.OpRef, out); err != nil {
					t.Fatalf("repeated resolve: %v", err)
				}
				if got := storedOp(t, s, b); got.State != out.State {
					t.Fatalf("state = %s, want %s", got.State, out.State)
				}
				other := succeeded(out.Now)
				if out.State == orders.OpSucceeded {
					other = failed(out.Now)
				}
				if err := s.ResolveOperation(t.Context(), b.OpRef, other); !errors.Is(err, orders.ErrSettled) {
					t.Fatalf("contradicting resolve err = %v, want ErrSettled", err)
				}
				mustBeginOp(t, s, b, orders.OpReplay)
			})
		}
	})
	t.Run("not_created_releases_its_share_and_an_identical_retry_takes_it_up", func(t *testing.T) {
		s := authorized(t, newStore)
		c := opBegin(orders.OpCapture, "C1", 6000)
		rc := mustBeginOp(t, s, c, orders.OpAcquired)
		mustCompleteOp(t, s, c, rc.Token, unknown(c.Now))
		if err := s.ResolveOperation(t.Context(), c.OpRef, orders.NotCreated(c.Now)); err != nil {
			t.Fatalf("resolve NOT_CREATED: %v", err)
		}
		if got := storedOp(t, s, c); got.State != orders.OpFailed || got.SubCode != orders.SubCodeNotCreated {
			t.Fatalf("stored = %+v", got)
		}
		// Its share is free: an unfreeze may take it; then the retry finds too little left.
		u := opBegin(orders.OpUnfreeze, "U1", freezeAmt-1000)
		mustBeginOp(t, s, u, orders.OpAcquired)
		c.Now = c.Now.Add(time.Minute)
		c.LeaseUntil = c.Now.Add(10 * time.Second)
		if r := mustBeginOp(t, s, c, orders.OpAmountExceeded); r.Available != 1000 {
			t.Fatalf("available = %s", r.Available)
		}
		if err := s.ResolveOperation(t.Context(), u.OpRef, failed(u.LeaseUntil)); err != nil {
			t.Fatal(err)
		}
		again := mustBeginOp(t, s, c, orders.OpAcquired)
		if !again.Retried || !again.Op.CreatedAt.Equal(t0.Add(time.Hour)) || again.Op.State != orders.OpPending {
			t.Fatalf("retry = %+v", again)
		}
		other := c
		other.ParamsHash = "other"
		mustBeginOp(t, s, other, orders.OpConflict)
	})
	t.Run("resolve_respects_live_lease", func(t *testing.T) {
		s := paid(t, newStore)
		b := opBegin(orders.OpRefund, "RF1", 300)
		r := mustBeginOp(t, s, b, orders.OpAcquired)
		if err := s.ResolveOperation(t.Context(), b.OpRef, succeeded(b.Now)); !errors.Is(err, orders.ErrInProgress) {
			t.Fatalf("resolve under lease err = %v, want ErrInProgress", err)
		}
		// Abandoned: the lease expired; a query answer settles it and the late holder loses.
		if err := s.ResolveOperation(t.Context(), b.OpRef, failed(b.LeaseUntil)); err != nil {
			t.Fatalf("resolve abandoned: %v", err)
		}
		if _, err := s.CompleteOperation(t.Context(), b.OpRef, r.Token, succeeded(b.LeaseUntil)); !errors.Is(err, orders.ErrLeaseLost) {
			t.Fatalf("late complete err = %v, want ErrLeaseLost", err)
		}
	})
	t.Run("refunds_never_exceed_paid_failed_releases", func(t *testing.T) {
		s := paid(t, newStore)
		a := opBegin(orders.OpRefund, "RF1", 600)
		ra := mustBeginOp(t, s, a, orders.OpAcquired)
		over := mustBeginOp(t, s, opBegin(orders.OpRefund, "RF2", 301), orders.OpAmountExceeded)
		if over.Available != orderAmount-600 {
			t.Fatalf("available = %s, want %s", over.Available, orderAmount-600)
		}
		mustCompleteOp(t, s, a, ra.Token, unknown(a.Now)) // unknown still holds its share
		mustBeginOp(t, s, opBegin(orders.OpRefund, "RF2", 301), orders.OpAmountExceeded)
		if err := s.ResolveOperation(t.Context(), a.OpRef, failed(a.Now)); err != nil {
			t.Fatal(err)
		}
		mustBeginOp(t, s, opBegin(orders.OpRefund, "RF2", orderAmount), orders.OpAcquired)
	})
	t.Run("notified_refunds_count_against_paid", func(t *testing.T) {
		s := paid(t, newStore)
		e := trade("refund-notice", orders.TradeSuccess)
		e.RefundFee = 500
		mustApply(t, applyTrade(t, s), e, orders.Applied)
		r := mustBeginOp(t, s, opBegin(orders.OpRefund, "RF1", 401), orders.OpAmountExceeded)
		if r.Available != orderAmount-500 {
			t.Fatalf("available = %s", r.Available)
		}
	})
	t.Run("captures_and_unfreezes_share_the_freeze", func(t *testing.T) {
		s := authorized(t, newStore)
		c := opBegin(orders.OpCapture, "C1", 6000)
		rc := mustBeginOp(t, s, c, orders.OpAcquired)
		mustCompleteOp(t, s, c, rc.Token, succeeded(c.Now))
		r := mustBeginOp(t, s, opBegin(orders.OpUnfreeze, "U1", 4001), orders.OpAmountExceeded)
		if r.Available != freezeAmt-6000 {
			t.Fatalf("available = %s", r.Available)
		}
		mustBeginOp(t, s, opBegin(orders.OpUnfreeze, "U1", 4000), orders.OpAcquired)
	})
	t.Run("status_must_admit_the_kind", func(t *testing.T) {
		s := newStore(t)
		reachPreAuth(t, s, orders.PreAuthCodeIssued)
		r := mustBeginOp(t, s, opBegin(orders.OpCapture, "C1", 100), orders.OpNotAllowed)
		if r.Status != string(orders.PreAuthCodeIssued) {
			t.Fatalf("status = %q", r.Status)
		}
		s = newStore(t)
		mustCreate(t, s, appOrder(tradeKey, "h"))
		mustBeginOp(t, s, opBegin(orders.OpRefund, "RF1", 100), orders.OpNotAllowed)
		mustBeginOp(t, s, opBegin(orders.OpClose, "CL1", 0), orders.OpAcquired)
	})
	t.Run("unknown_order_or_owner_or_operation_not_found", func(t *testing.T) {
		s := paid(t, newStore)
		missing := opBegin(orders.OpCapture, "C1", 100)
		if _, err := s.BeginOperation(t.Context(), missing); !errors.Is(err, orders.ErrNotFound) {
			t.Fatalf("absent order err = %v", err)
		}
		stranger := opBegin(orders.OpRefund, "RF1", 100)
		stranger.Owner = "caller-2"
		if _, err := s.BeginOperation(t.Context(), stranger); !errors.Is(err, orders.ErrNotFound) {
			t.Fatalf("other owner err = %v", err)
		}
		if _, err := s.CompleteOperation(t.Context(), stranger.OpRef, "tok", succeeded(t0)); !errors.Is(err, orders.ErrNotFound) {
			t.Fatalf("complete of absent operation err = %v", err)
		}
	})
	t.Run("rejects_invalid_input", func(t *testing.T) {
		s := paid(t, newStore)
		bad := map[string]func(*orders.OpBegin){
			"no_request_no":  func(b *orders.OpBegin) { b.RequestNo = "" },
			"no_hash":        func(b *orders.OpBegin) { b.ParamsHash = "" },
			"past_lease":     func(b *orders.OpBegin) { b.LeaseUntil = b.Now },
			"zero_refund":    func(b *orders.OpBegin) { b.Amount = 0 },
			"unknown_parent": func(b *orders.OpBegin) { b.Parent = "X" },
		}
		for name, mut := range bad {
			b := opBegin(orders.OpRefund, "RF1", 100)
			mut(&b)
			if _, err := s.BeginOperation(t.Context(), b); !errors.Is(err, orders.ErrInvalid) {
				t.Errorf("%s: err = %v, want ErrInvalid", name, err)
			}
		}
		b := opBegin(orders.OpRefund, "RF1", 100)
		r := mustBeginOp(t, s, b, orders.OpAcquired)
		if err := s.ResolveOperation(t.Context(), b.OpRef, unknown(b.Now)); !errors.Is(err, orders.ErrInvalid) {
			t.Errorf("resolve to UNKNOWN err = %v, want ErrInvalid", err)
		}
		if _, err := s.CompleteOperation(t.Context(), b.OpRef, r.Token, orders.OpOutcome{State: orders.OpFailed, Now: b.Now}); !errors.Is(err, orders.ErrInvalid) {
			t.Errorf("failure without code err = %v, want ErrInvalid", err)
		}
	})
	t.Run("operation_count_is_bounded", func(t *testing.T) {
		s := paid(t, newStore)
		for i := range orders.MaxOperations {
			mustBeginOp(t, s, opBegin(orders.OpRefund, "RF"+alipay.Amount(i).String(), 1), orders.OpAcquired)
		}
		if _, err := s.BeginOperation(t.Context(), opBegin(orders.OpRefund, "one-too-many", 1)); !errors.Is(err, orders.ErrLimit) {
			t.Fatalf("err = %v, want ErrLimit", err)
		}
	})
	t.Run("concurrent_begins_of_one_request_one_acquires", func(t *testing.T) {
		s := paid(t, newStore)
		b := opBegin(orders.OpRefund, "RF1", 300)
		res := concurrently(t, 20, func(int) (orders.OpBeginResult, error) { return s.BeginOperation(t.Context(), b) })
		acquired := 0
		for _, r := range res {
			switch r.Outcome {
			case orders.OpAcquired:
				acquired++
			case orders.OpInProgress:
			default:
				t.Fatalf("outcome %s", r.Outcome)
			}
		}
		if acquired != 1 {
			t.Fatalf("%d callers acquired the lease, want 1", acquired)
		}
	})
	t.Run("concurrent_captures_never_exceed_the_freeze", func(t *testing.T) {
		s := authorized(t, newStore)
		const n, each = 12, freezeAmt / 5 // 12 × 20.00 asked of 100.00
		res := concurrently(t, n, func(i int) (orders.OpBeginResult, error) {
			kind := orders.OpCapture
			if i%2 == 1 {
				kind = orders.OpUnfreeze
			}
			return s.BeginOperation(t.Context(), opBegin(kind, "X"+alipay.Amount(i).String(), each))
		})
		var sum alipay.Amount
		for _, r := range res {
			switch r.Outcome {
			case orders.OpAcquired:
				sum += each
			case orders.OpAmountExceeded:
			default:
				t.Fatalf("outcome %s", r.Outcome)
			}
		}
		if sum != freezeAmt {
			t.Fatalf("reserved %s of %s frozen", sum, freezeAmt)
		}
	})
}

// concurrently runs n calls released at once and fails the test on any error.
func concurrently(t *testing.T, n int, call func(i int) (orders.OpBeginResult, error)) []orders.OpBeginResult {
	t.Helper()
	res := make([]orders.OpBeginResult, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			res[i], errs[i] = call(i)
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	return res
}
