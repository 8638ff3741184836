package reconcile

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alipay-serverless/alipay-serverless/shared/metrics"
	"github.com/alipay-serverless/alipay-serverless/shared/orders"
)

var t0 = time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC)

// newOrders creates n unpaid app-pay orders, due at t0 + AppPayFirstCheck.
func newOrders(t *testing.T, s orders.Store, n int) []string {
	t.Helper()
	var keys []string
	for i := range n {
		key := fmt.Sprintf("R%05d", i)
		_, _, err := s.CreateAppPayOrder(t.Context(), &orders.AppPayOrder{
			OutTradeNo: key, Owner: "o", ParamsHash: "h" + key, TotalAmount: 100, Subject: "s",
			ProductCode: "QUICK_MSECURITY_PAY", OrderStr: "x", CreatedAt: t0, PayBy: t0.Add(time.Hour),
		})
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, key)
	}
	return keys
}

// payingResolver settles an order the way a query answer would: one ApplyTrade with a
// receipt naming the fact. It counts calls and Applied results per order.
type payingResolver struct {
	store   orders.Store
	mu      sync.Mutex
	calls   map[string]int
	applied map[string]int
	block   chan struct{} // optional: each call waits for it to close
}

func newPaying(s orders.Store) *payingResolver {
	return &payingResolver{store: s, calls: map[string]int{}, applied: map[string]int{}}
}

func (p *payingResolver) Resolve(ctx context.Context, item DueItem, now time.Time) (Outcome, error) {
	p.mu.Lock()
	p.calls[item.Ref.OrderNo]++
	p.mu.Unlock()
	if p.block != nil {
		<-p.block
	}
	res, err := p.store.ApplyTrade(ctx, orders.TradeEffect{
		NotifyID: "query:T" + item.Ref.OrderNo + ":TRADE_SUCCESS", OutTradeNo: item.Ref.OrderNo,
		TradeStatus: orders.TradeSuccess, TradeNo: "T" + item.Ref.OrderNo, TotalAmount: 100, Now: now,
	})
	if err != nil {
		return Outcome{}, err
	}
	if res == orders.Applied {
		p.mu.Lock()
		p.applied[item.Ref.OrderNo]++
		p.mu.Unlock()
	}
	return Outcome{Result: orders.DueResolved}, nil
}

func registry(r Resolver) Registry {
	reg := Registry{}
	reg.Register(orders.DueAppPayOpen, "", r)
	return reg
}

func allPaidOnce(t *testing.T, s orders.Store, p *payingResolver, keys []string) {
	t.Helper()
	for _, k := range keys {
		o, err := s.GetAppPayOrder(t.Context(), k)
		if err != nil {
			t.Fatal(err)
		}
		if o.Status != orders.TradeSuccess || p.applied[k] != 1 {
			t.Errorf("%s: status %s, applied %d times", k, o.Status, p.applied[k])
		}
	}
}

func TestPassResolvesEveryDueItemOnceAndThenFindsNothing(t *testing.T) {
	s := orders.NewMemoryStore()
	keys := newOrders(t, s, 30)
	p := newPaying(s)
	r := New(s, registry(p), Config{Concurrency: 4}, nil)
	if sum, err := r.Pass(t.Context(), t0.Add(time.Minute)); err != nil || sum != (Summary{}) {
		t.Fatalf("before due: %+v %v", sum, err)
	}
	now := t0.Add(orders.AppPayFirstCheck)
	sum, err := r.Pass(t.Context(), now)
	if err != nil || sum != (Summary{Examined: 30, Resolved: 30}) {
		t.Fatalf("pass: %+v %v", sum, err)
	}
	allPaidOnce(t, s, p, keys)
	if sum, _ := r.Pass(t.Context(), now.Add(24*time.Hour)); sum != (Summary{}) {
		t.Fatalf("second pass: %+v", sum)
	}
}

func TestBatchBoundsAPass(t *testing.T) {
	s := orders.NewMemoryStore()
	keys := newOrders(t, s, 25)
	p := newPaying(s)
	r := New(s, registry(p), Config{Batch: 10}, nil)
	now := t0.Add(orders.AppPayFirstCheck)
	for i, want := range []int{10, 10, 5, 0} {
		sum, err := r.Pass(t.Context(), now)
		if err != nil || sum.Examined != want || sum.Resolved != want {
			t.Fatalf("pass %d: %+v %v", i, sum, err)
		}
	}
	allPaidOnce(t, s, p, keys)
}

// Two passes started together list the same items; the claims give each item to one.
func TestOverlappingPassesNeverWorkOnOneItem(t *testing.T) {
	s := orders.NewMemoryStore()
	keys := newOrders(t, s, 40)
	p := newPaying(s)
	p.block = make(chan struct{})
	now := t0.Add(orders.AppPayFirstCheck)
	a := New(s, registry(p), Config{Concurrency: 8}, nil)
	b := New(s, registry(p), Config{Concurrency: 8}, nil)
	var sums [2]Summary
	var wg sync.WaitGroup
	for i, r := range []*Reconciler{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sums[i], _ = r.Pass(t.Context(), now)
		}()
	}
	// Both passes have claimed what they could once 16 resolvers are blocked (8 each)
	// or every item is held; then let them run.
	deadline := time.Now().Add(10 * time.Second)
	for {
		p.mu.Lock()
		n := len(p.calls)
		p.mu.Unlock()
		if n >= 16 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(p.block)
	wg.Wait()
	for _, k := range keys {
		if p.calls[k] != 1 {
			t.Errorf("%s resolved %d times", k, p.calls[k])
		}
	}
	if got := sums[0].Examined + sums[1].Examined; got != 40 || sums[0].Examined == 0 || sums[1].Examined == 0 {
		t.Fatalf("examined %d + %d, want 40 shared by both", sums[0].Examined, sums[1].Examined)
	}
	allPaidOnce(t, s, p, keys)
}

// A pass starts no item within StopBefore of its deadline; what it did not reach stays
// due and the next pass takes it.
func TestPassCutOffByItsDeadlineLeavesTheRestDue(t *testing.T) {
	s := orders.NewMemoryStore()
	keys := newOrders(t, s, 20)
	p := newPaying(s)
	r := New(s, registry(p), Config{Concurrency: 1, StopBefore: 10 * time.Second}, nil)
	// The wall clock advances one second per reading: the pass may start items for
	// 5 readings before it is within StopBefore of its deadline.
	wall := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var ticks atomic.Int64
	r.clock = func() time.Time { return wall.Add(time.Duration(ticks.Add(1)) * time.Second) }
	ctx, cancel := context.WithDeadline(t.Context(), time.Now().Add(time.Hour))
	defer cancel()
	dl, _ := ctx.Deadline()
	wall = dl.Add(-15 * time.Second)
	now := t0.Add(orders.AppPayFirstCheck)
	first, err := r.Pass(ctx, now)
	if err != nil || first.Examined != 4 || first.Resolved != 4 {
		t.Fatalf("cut-off pass: %+v %v", first, err)
	}
	due, _ := s.ListDue(t.Context(), now, 100)
	if len(due) != 16 {
		t.Fatalf("%d items still due, want 16", len(due))
	}
	r.clock = time.Now
	rest, err := r.Pass(t.Context(), now)
	if err != nil || rest.Resolved != 16 {
		t.Fatalf("next pass: %+v %v", rest, err)
	}
	allPaidOnce(t, s, p, keys)
}

// flakyStore fails chosen calls as the store does when it is unreachable.
type flakyStore struct {
	*orders.MemoryStore
	mu                      sync.Mutex
	claims, finishes, lists int
	failClaim, failFinish   map[int]bool // by call number, from 1
	failList                bool
}

var errDown = fmt.Errorf("%w: connection refused", orders.ErrUnavailable)

func (f *flakyStore) ListDue(ctx context.Context, now time.Time, limit int) ([]orders.DueRef, error) {
	f.mu.Lock()
	f.lists++
	fail := f.failList
	f.mu.Unlock()
	if fail {
		return nil, errDown
	}
	return f.MemoryStore.ListDue(ctx, now, limit)
}

func (f *flakyStore) ClaimDue(ctx context.Context, ref orders.DueRef, now, until time.Time) (orders.DueClaim, error) {
	f.mu.Lock()
	f.claims++
	fail := f.failClaim[f.claims]
	f.mu.Unlock()
	if fail {
		return orders.DueClaim{}, errDown
	}
	return f.MemoryStore.ClaimDue(ctx, ref, now, until)
}

func (f *flakyStore) FinishDue(ctx context.Context, ref orders.DueRef, fin orders.DueFinish) (orders.ReconState, error) {
	f.mu.Lock()
	f.finishes++
	fail := f.failFinish[f.finishes]
	f.mu.Unlock()
	if fail {
		return orders.ReconState{}, errDown
	}
	return f.MemoryStore.FinishDue(ctx, ref, fin)
}

// waitingResolver never settles anything: Alipay says "not yet".
type waitingResolver struct{ calls atomic.Int64 }

func (w *waitingResolver) Resolve(context.Context, DueItem, time.Time) (Outcome, error) {
	w.calls.Add(1)
	return Outcome{Result: orders.DueWaiting}, nil
}

func TestStoreFailingMidPassAppliesNothingTwiceAndSkipsNothingForGood(t *testing.T) {
	mem := orders.NewMemoryStore()
	f := &flakyStore{MemoryStore: mem, failClaim: map[int]bool{3: true, 7: true}, failFinish: map[int]bool{2: true}}
	keys := newOrders(t, f, 10)
	p := newPaying(f)
	r := New(f, registry(p), Config{Concurrency: 1, ClaimFor: time.Minute}, nil)
	now := t0.Add(orders.AppPayFirstCheck)
	f.failList = true
	if sum, err := r.Pass(t.Context(), now); !errors.Is(err, orders.ErrUnavailable) || sum.Errors != 1 {
		t.Fatalf("unreadable index: %+v %v", sum, err)
	}
	f.failList = false
	first, err := r.Pass(t.Context(), now)
	// Two claims failed (those items were not touched), one result was not recorded
	// (counted as an error although its apply went through).
	if err != nil || first.Errors != 3 || first.Resolved != 7 || first.Examined != 8 {
		t.Fatalf("first pass: %+v %v", first, err)
	}
	// The two items whose claim failed are due at once; the item whose result was not
	// recorded settled anyway (its work is gone with the payment).
	second, err := r.Pass(t.Context(), now)
	if err != nil || second.Resolved != 2 || second.Errors != 0 {
		t.Fatalf("second pass: %+v %v", second, err)
	}
	allPaidOnce(t, f, p, keys)

	// An item whose claim ends unrecorded, work unchanged, comes back once the claim
	// expires, and not before.
	w := &waitingResolver{}
	g := &flakyStore{MemoryStore: orders.NewMemoryStore(), failFinish: map[int]bool{1: true}}
	newOrders(t, g, 1)
	rw := New(g, registry(w), Config{ClaimFor: time.Minute}, nil)
	if sum, _ := rw.Pass(t.Context(), now); sum.Errors != 1 {
		t.Fatalf("unrecorded finish: %+v", sum)
	}
	if sum, _ := rw.Pass(t.Context(), now.Add(59*time.Second)); sum.Examined != 0 {
		t.Fatalf("claimed item examined again before the claim expired: %+v", sum)
	}
	if sum, _ := rw.Pass(t.Context(), now.Add(time.Minute)); sum.Examined != 1 || w.calls.Load() != 2 {
		t.Fatalf("after the claim expired: %+v, %d calls", sum, w.calls.Load())
	}
}

type failingResolver struct{}

func (failingResolver) Resolve(context.Context, DueItem, time.Time) (Outcome, error) {
	return Outcome{}, errors.New("alipay: outcome unknown: timeout")
}

func TestFailuresBackOffThenStuckIsCountedAndEmitted(t *testing.T) {
	var emf bytes.Buffer
	metrics.SetDefault(metrics.New(&emf))
	t.Cleanup(func() { metrics.SetDefault(nil) })
	for _, tc := range []struct {
		name string
		reg  Registry
	}{
		{"resolver_fails", registry(failingResolver{})},
		{"no_resolver_registered", Registry{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			emf.Reset()
			s := orders.NewMemoryStore()
			newOrders(t, s, 1)
			r := New(s, tc.reg, Config{MaxAttempts: 3}, nil)
			now := t0.Add(orders.AppPayFirstCheck)
			var total Summary
			for i := 1; i <= 3; i++ {
				sum, err := r.Pass(t.Context(), now)
				if err != nil || sum.Examined != 1 || sum.Errors != 1 {
					t.Fatalf("attempt %d: %+v %v", i, sum, err)
				}
				total.add(sum)
				// Not due again before its backoff.
				if early, _ := r.Pass(t.Context(), now.Add(orders.Backoff(i)-time.Second)); early.Examined != 0 {
					t.Fatalf("attempt %d: examined again before the backoff", i)
				}
				now = now.Add(orders.Backoff(i))
			}
			if total.Stuck != 1 {
				t.Fatalf("summary %+v", total)
			}
			if sum, _ := r.Pass(t.Context(), now.Add(30*24*time.Hour)); sum.Examined != 0 {
				t.Fatalf("a STUCK item was examined again: %+v", sum)
			}
			var stuck, errs float64
			for _, l := range metrics.Parse(emf.Bytes()) {
				switch l.Name {
				case metrics.ReconcileStuck.Name:
					stuck += l.Value
				case metrics.ReconcileErrors.Name:
					errs += l.Value
				}
			}
			if stuck != 1 || errs != 3 {
				t.Fatalf("emitted stuck %v errors %v", stuck, errs)
			}
		})
	}
}
