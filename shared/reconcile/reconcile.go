// Package reconcile is the reconciler (docs/design.md, "The reconciler"): a bounded pass
// over the due index that asks Alipay about whatever is unsettled and applies the
// answers through the same transition functions notifications use. It recovers every
// notification Alipay gave up on (it retries for about 25 h, §8.4) and every unknown
// gateway outcome nobody retried.
//
// A pass lists at most Batch due items, claims each with a conditional write that
// expires (two overlapping passes never work on one item), hands each due task to the
// Resolver registered for its kind, and records the result: the item's next due time
// backs off (1m, 5m, 15m, 1h, 6h), and after MaxAttempts failures it is STUCK (logged,
// counted, alarmed). It stops starting items well before its deadline; an item it did
// not reach stays due, an item whose claim it could not finish is due again when the
// claim expires: nothing is applied twice (the store's receipts and conditions), nothing
// is skipped for good.
package reconcile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/alipay-serverless/alipay-serverless/shared/domain"
	"github.com/alipay-serverless/alipay-serverless/shared/metrics"
	"github.com/alipay-serverless/alipay-serverless/shared/orders"
)

// Defaults (RECONCILE_BATCH, RECONCILE_CONCURRENCY, RECONCILE_MAX_ATTEMPTS).
const (
	DefaultBatch       = 200
	DefaultConcurrency = 8
	DefaultMaxAttempts = 12
	// DefaultStopBefore: no item is started later than this before the deadline, so the
	// items in flight (one gateway call or a voucher resend each, bounded by the gateway
	// timeout) finish and record their result inside the invocation.
	DefaultStopBefore = 30 * time.Second
	// DefaultClaimFor is how long a claim holds when the pass has no deadline.
	DefaultClaimFor = 2 * time.Minute
)

// Store is what a pass needs of the order store.
type Store interface {
	ListDue(ctx context.Context, now time.Time, limit int) ([]orders.DueRef, error)
	ClaimDue(ctx context.Context, ref orders.DueRef, now, until time.Time) (orders.DueClaim, error)
	FinishDue(ctx context.Context, ref orders.DueRef, f orders.DueFinish) (orders.ReconState, error)
}

// DueItem is one due task of a claimed item.
type DueItem struct {
	Ref      orders.DueRef
	Task     orders.DueTask
	Attempts int // the item's claims for its current work, this one included
}

// Outcome is what a resolver made of one due task.
type Outcome struct {
	Result orders.DueResult // DueResolved, DueWaiting or DueUnchanged (errors are returned)
	NextAt time.Time        // optional: ask again no later than this
	Note   string           // why, for the log (fixed words, no input)
}

// Resolver settles one kind of due task: it asks Alipay and applies the answer through
// the store's transition functions. An error is an attempt that failed (gateway, store);
// the item backs off and counts towards STUCK.
type Resolver interface {
	Resolve(ctx context.Context, item DueItem, now time.Time) (Outcome, error)
}

// ResolverFunc adapts a function to Resolver.
type ResolverFunc func(ctx context.Context, item DueItem, now time.Time) (Outcome, error)

func (f ResolverFunc) Resolve(ctx context.Context, item DueItem, now time.Time) (Outcome, error) {
	return f(ctx, item, now)
}

// Key names what a resolver is registered for: a due kind and, for operations, the
// operation's kind.
type Key struct {
	Kind orders.DueKind
	Op   orders.OpKind
}

// Registry maps due tasks to their resolvers.
type Registry map[Key]Resolver

// Register sets the resolver of kind (op only for orders.DueOperation).
func (r Registry) Register(kind orders.DueKind, op orders.OpKind, res Resolver) {
	r[Key{kind, op}] = res
}

func (r Registry) resolver(t orders.DueTask) (Resolver, bool) {
	res, ok := r[Key{t.Kind, t.Op}]
	return res, ok
}

// Config bounds a pass.
type Config struct {
	Batch       int
	Concurrency int
	MaxAttempts int
	StopBefore  time.Duration
	ClaimFor    time.Duration
}

func (c Config) withDefaults() Config {
	if c.Batch <= 0 {
		c.Batch = DefaultBatch
	}
	if c.Concurrency <= 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.StopBefore <= 0 {
		c.StopBefore = DefaultStopBefore
	}
	if c.ClaimFor <= 0 {
		c.ClaimFor = DefaultClaimFor
	}
	return c
}

// Summary counts a pass: items examined (claimed), resolved, unchanged (waiting or not
// settled), newly STUCK, and errors (failed attempts and store failures).
type Summary struct {
	Examined  int `json:"examined"`
	Resolved  int `json:"resolved"`
	Unchanged int `json:"unchanged"`
	Stuck     int `json:"stuck"`
	Errors    int `json:"errors"`
}

func (s *Summary) add(o Summary) {
	s.Examined += o.Examined
	s.Resolved += o.Resolved
	s.Unchanged += o.Unchanged
	s.Stuck += o.Stuck
	s.Errors += o.Errors
}

// Reconciler runs passes. It is safe for concurrent use (passes exclude each other per
// item through the store's claims).
type Reconciler struct {
	store Store
	reg   Registry
	cfg   Config
	log   *slog.Logger
	clock func() time.Time // wall clock: deadlines are real time even when a pass reads another clock
}

// New returns a reconciler over store with the resolvers of reg.
func New(store Store, reg Registry, cfg Config, log *slog.Logger) *Reconciler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Reconciler{store: store, reg: reg, cfg: cfg.withDefaults(), log: log, clock: time.Now}
}

// Pass runs one pass as of now (due times, expiries and backoff read this clock). It
// returns the summary and, when the due index could not be read, that error.
func (r *Reconciler) Pass(ctx context.Context, now time.Time) (Summary, error) {
	ctx = domain.WithLogger(ctx, r.log)
	var sum Summary
	refs, err := r.store.ListDue(ctx, now, r.cfg.Batch)
	if err != nil {
		sum.Errors++
		metrics.Count(metrics.ReconcileErrors, 1, map[string]string{"Kind": "list"})
		r.log.Error("reconcile: due index unreadable", "error", err.Error())
		return sum, fmt.Errorf("reconcile: list due: %w", err)
	}
	stopAt, hasDeadline := ctx.Deadline()
	if hasDeadline {
		stopAt = stopAt.Add(-r.cfg.StopBefore)
	}
	claimFor := r.cfg.ClaimFor
	if hasDeadline {
		// The claim outlives the invocation, so no other pass takes an item this one may
		// still be writing; it never lasts much longer, so a crash delays the item little.
		claimFor = max(time.Until(stopAt)+r.cfg.StopBefore, time.Second)
	}
	var (
		mu      sync.Mutex
		wg      sync.WaitGroup
		sem     = make(chan struct{}, r.cfg.Concurrency)
		skipped int
	)
	for _, ref := range refs {
		if hasDeadline && !r.clock().Before(stopAt) {
			skipped++
			continue
		}
		if ctx.Err() != nil {
			skipped++
			continue
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			one := r.item(ctx, ref, now, claimFor)
			mu.Lock()
			sum.add(one)
			mu.Unlock()
		}()
	}
	wg.Wait()
	r.log.Info("reconcile pass", "due", len(refs), "examined", sum.Examined, "resolved", sum.Resolved,
		"unchanged", sum.Unchanged, "stuck", sum.Stuck, "errors", sum.Errors, "not_started", skipped)
	return sum, nil
}

// item claims one due item, resolves its tasks and records the result.
func (r *Reconciler) item(ctx context.Context, ref orders.DueRef, now time.Time, claimFor time.Duration) Summary {
	log := r.log.With("parent", string(ref.Parent), "order_no", ref.OrderNo)
	claim, err := r.store.ClaimDue(ctx, ref, now, now.Add(claimFor))
	switch {
	case errors.Is(err, orders.ErrNotDue), errors.Is(err, orders.ErrNotFound):
		// Another pass has it, or it settled since the index was read.
		return Summary{}
	case err != nil:
		log.Error("reconcile: claim failed", "error", err.Error())
		metrics.Count(metrics.ReconcileErrors, 1, map[string]string{"Kind": "claim"})
		return Summary{Errors: 1}
	}
	kind := kindOf(claim.Tasks)
	result, nextAt, notes, taskErr := r.resolveAll(ctx, claim, now)
	fin := orders.DueFinish{Token: claim.Token, Result: result, NextAt: nextAt, MaxAttempts: r.cfg.MaxAttempts, Now: now}
	if taskErr != nil {
		fin.Error = taskErr.Error()
	}
	// The result is recorded even if the pass's context ends now: the claim must not
	// outlive what it learned.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	st, err := r.store.FinishDue(fctx, ref, fin)
	cancel()
	sum := Summary{Examined: 1}
	attrs := []any{"kind", kind, "attempt", claim.Attempts, "result", string(result)}
	if notes != "" {
		attrs = append(attrs, "note", notes)
	}
	if taskErr != nil {
		attrs = append(attrs, "error", taskErr.Error())
	}
	switch {
	case errors.Is(err, orders.ErrLeaseLost), errors.Is(err, orders.ErrNotFound):
		// The work changed under the claim (typically: our own apply settled it).
	case err != nil:
		// Not recorded: the claim expires and the item comes back; nothing is lost.
		log.Error("reconcile: recording the result failed", append(attrs, "finish_error", err.Error())...)
		metrics.Count(metrics.ReconcileErrors, 1, map[string]string{"Kind": kind})
		sum.Errors++
		return sum
	}
	switch result {
	case orders.DueResolved:
		sum.Resolved++
		metrics.Count(metrics.ReconcileResolved, 1, map[string]string{"Kind": kind})
	case orders.DueError:
		sum.Errors++
		metrics.Count(metrics.ReconcileErrors, 1, map[string]string{"Kind": kind})
	default:
		sum.Unchanged++
	}
	if st.Stuck && err == nil {
		sum.Stuck++
		metrics.Count(metrics.ReconcileStuck, 1, map[string]string{"Kind": kind})
		log.Error("reconcile: item STUCK", append(attrs, "failures", st.Failures, "last_error", st.LastError)...)
		return sum
	}
	level := slog.LevelInfo
	if result == orders.DueError || result == orders.DueUnchanged {
		level = slog.LevelWarn
	}
	log.Log(ctx, level, "reconcile item", attrs...)
	return sum
}

// resolveAll runs the resolver of each task and combines the outcomes: any error makes
// the item's attempt an error, any task not settled makes it unchanged, every task
// resolved makes it resolved; otherwise it waits, until the earliest NextAt.
func (r *Reconciler) resolveAll(ctx context.Context, claim orders.DueClaim, now time.Time) (orders.DueResult, time.Time, string, error) {
	var (
		errs              []error
		resolved, waiting int
		unchanged         int
		nextAt            time.Time
		notes             []string
	)
	for _, t := range claim.Tasks {
		res, ok := r.reg.resolver(t)
		if !ok {
			// Nothing here can settle it (a kind whose resolver is not wired): it backs
			// off and ends STUCK, where someone sees it.
			errs = append(errs, fmt.Errorf("no resolver for %s %s", t.Kind, t.Op))
			continue
		}
		out, err := res.Resolve(ctx, DueItem{Ref: claim.Ref, Task: t, Attempts: claim.Attempts}, now)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s %s %s: %w", t.Kind, t.Op, t.RequestNo, err))
			continue
		}
		if out.Note != "" {
			notes = append(notes, out.Note)
		}
		if !out.NextAt.IsZero() && (nextAt.IsZero() || out.NextAt.Before(nextAt)) {
			nextAt = out.NextAt
		}
		switch out.Result {
		case orders.DueResolved:
			resolved++
		case orders.DueWaiting:
			waiting++
		default:
			unchanged++
		}
	}
	note := strings.Join(notes, "; ")
	switch {
	case len(errs) > 0:
		return orders.DueError, nextAt, note, errors.Join(errs...)
	case unchanged > 0:
		return orders.DueUnchanged, nextAt, note, nil
	case waiting > 0:
		return orders.DueWaiting, nextAt, note, nil
	}
	return orders.DueResolved, nextAt, note, nil
}

// kindOf names an item's work for logs and metrics: its first task's kind.
func kindOf(ts []orders.DueTask) string {
	if len(ts) == 0 {
		return "none"
	}
	if ts[0].Op != "" {
		return string(ts[0].Kind) + ":" + string(ts[0].Op)
	}
	return string(ts[0].Kind)
}
