package orders

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"
)

// The memory store's due index is a scan under the lock: fine for tests and local mode;
// DynamoStore reads a sparse index instead (dynamo_due.go).

func (s *MemoryStore) MarkVoucherNotCreated(ctx context.Context, outOrderNo, outRequestNo string, now time.Time) error {
	if outOrderNo == "" || outRequestNo == "" || now.IsZero() {
		return invalid("out_request_no", "order, request and now are required")
	}
	if err := ctxErr(ctx); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.preAuth[outOrderNo]
	if !ok {
		return fmt.Errorf("%w: out_order_no %s", ErrNotFound, outOrderNo)
	}
	next := o.clone()
	changed, err := markNotCreated(next, outRequestNo, now)
	if err != nil || !changed {
		return err
	}
	refreshDue(next)
	s.preAuth[outOrderNo] = next
	return nil
}

func (s *MemoryStore) ExpireAppPayOrder(ctx context.Context, outTradeNo string, now time.Time) (ApplyResult, error) {
	if outTradeNo == "" || now.IsZero() {
		return "", invalid("out_trade_no", "and now are required")
	}
	if err := ctxErr(ctx); err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.appPay[outTradeNo]
	if !ok {
		return NotFound, nil
	}
	next := o.clone()
	res := expireAppPay(next, now)
	if res == Applied {
		refreshDue(next)
		s.appPay[outTradeNo] = next
	}
	return res, nil
}

func (s *MemoryStore) ListDue(ctx context.Context, now time.Time, limit int) ([]DueRef, error) {
	if limit <= 0 {
		return nil, invalid("limit", "must be positive")
	}
	if err := ctxErr(ctx); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var refs []DueRef
	add := func(p ParentKind, id string, r ReconState) {
		if !r.DueAt.IsZero() && !r.DueAt.After(now) {
			refs = append(refs, DueRef{Parent: p, OrderNo: id, DueAt: r.DueAt})
		}
	}
	for id, o := range s.preAuth {
		add(ParentPreAuth, id, o.Recon)
	}
	for id, o := range s.appPay {
		add(ParentAppPay, id, o.Recon)
	}
	for id, a := range s.agreements {
		add(ParentAgreement, id, a.Recon)
	}
	slices.SortFunc(refs, func(a, b DueRef) int {
		if c := a.DueAt.Compare(b.DueAt); c != 0 {
			return c
		}
		return cmp.Compare(a.OrderNo, b.OrderNo)
	})
	if len(refs) > limit {
		refs = refs[:limit]
	}
	return refs, nil
}

// memDue runs decide on a copy of the item under the lock and stores it when decide
// says so.
func (s *MemoryStore) memDue(ctx context.Context, ref DueRef, decide func(h dueHolder) (bool, error)) error {
	if err := validateDueRef(ref); err != nil {
		return err
	}
	if err := ctxErr(ctx); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch ref.Parent {
	case ParentPreAuth:
		if o, ok := s.preAuth[ref.OrderNo]; ok {
			c := o.clone()
			write, err := decide(c)
			if write {
				s.preAuth[ref.OrderNo] = c
			}
			return err
		}
	case ParentAppPay:
		if o, ok := s.appPay[ref.OrderNo]; ok {
			c := o.clone()
			write, err := decide(c)
			if write {
				s.appPay[ref.OrderNo] = c
			}
			return err
		}
	case ParentAgreement:
		if a, ok := s.agreements[ref.OrderNo]; ok {
			c := a.clone()
			write, err := decide(c)
			if write {
				s.agreements[ref.OrderNo] = c
			}
			return err
		}
	}
	return fmt.Errorf("%w: %s order %s", ErrNotFound, ref.Parent, ref.OrderNo)
}

func (s *MemoryStore) ClaimDue(ctx context.Context, ref DueRef, now, until time.Time) (DueClaim, error) {
	var claim DueClaim
	err := s.memDue(ctx, ref, func(h dueHolder) (bool, error) {
		c, err := claimDue(h, now, until, newToken())
		claim = c
		return err == nil, err
	})
	claim.Ref = ref
	return claim, err
}

func (s *MemoryStore) FinishDue(ctx context.Context, ref DueRef, f DueFinish) (ReconState, error) {
	if err := validateFinish(f); err != nil {
		return ReconState{}, err
	}
	var st ReconState
	err := s.memDue(ctx, ref, func(h dueHolder) (bool, error) {
		_, err := finishDue(h, f)
		st = *h.recon()
		return err == nil, err
	})
	return st, err
}
