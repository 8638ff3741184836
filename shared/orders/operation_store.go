package orders

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
)

// The stores' operation methods: load the parent, decide with the functions of
// operation.go, write the parent back in one conditional write.

// memParent returns a copy of the parent order, or ErrNotFound. Caller holds s.mu.
func (s *MemoryStore) memParent(r OpRef) (opHolder, func(), error) {
	switch r.Parent {
	case ParentPreAuth:
		if o, ok := s.preAuth[r.OrderNo]; ok {
			c := o.clone()
			return c, func() { refreshDue(c); s.preAuth[r.OrderNo] = c }, nil
		}
	case ParentAppPay:
		if o, ok := s.appPay[r.OrderNo]; ok {
			c := o.clone()
			return c, func() { refreshDue(c); s.appPay[r.OrderNo] = c }, nil
		}
	}
	return nil, nil, fmt.Errorf("%w: %s order %s", ErrNotFound, r.Parent, r.OrderNo)
}

// memChange runs decide on a copy of the parent under the lock and stores the result.
func (s *MemoryStore) memChange(ctx context.Context, r OpRef, decide func(h opHolder) (OpSet, error)) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	h, store, err := s.memParent(r)
	if err != nil {
		return err
	}
	next, err := decide(h)
	if err != nil || next == nil {
		return err
	}
	store()
	return nil
}

func (s *MemoryStore) BeginOperation(ctx context.Context, b OpBegin) (OpBeginResult, error) {
	if err := validateOpBegin(b); err != nil {
		return OpBeginResult{}, err
	}
	var res OpBeginResult
	err := s.memChange(ctx, b.OpRef, func(h opHolder) (OpSet, error) {
		next, r, err := beginOn(h, b, newToken())
		if next != nil {
			h.setOps(next, b.Now)
		}
		res = r
		return next, err
	})
	return res, err
}

func (s *MemoryStore) CompleteOperation(ctx context.Context, r OpRef, token string, out OpOutcome) error {
	if err := validateOpComplete(r, token, out); err != nil {
		return err
	}
	return s.memChange(ctx, r, func(h opHolder) (OpSet, error) {
		next, err := completeOperation(h.opSet(), r, token, out)
		if next != nil {
			h.setOps(next, out.Now)
			settledOn(h, next, r)
		}
		return next, err
	})
}

func (s *MemoryStore) ResolveOperation(ctx context.Context, r OpRef, out OpOutcome) error {
	if err := validateOpResolve(r, out); err != nil {
		return err
	}
	return s.memChange(ctx, r, func(h opHolder) (OpSet, error) {
		next, err := resolveOperation(h.opSet(), r, out)
		if next != nil {
			h.setOps(next, out.Now)
			settledOn(h, next, r)
		}
		return next, err
	})
}

func validateOpComplete(r OpRef, token string, out OpOutcome) error {
	if err := validateOpRef(r); err != nil {
		return err
	}
	if token == "" {
		return invalid("token", "is empty")
	}
	return validateOpOutcome(out, true)
}

func validateOpResolve(r OpRef, out OpOutcome) error {
	if err := validateOpRef(r); err != nil {
		return err
	}
	return validateOpOutcome(out, false)
}

// dynChange reads the parent item, runs decide on a copy and writes it conditional on
// the version read, retrying on a lost race like every other update.
func (s *DynamoStore) dynChange(ctx context.Context, what string, r OpRef, decide func(h opHolder) (OpSet, error)) error {
	switch r.Parent {
	case ParentPreAuth:
		return dynChangeOf(ctx, s, what, kindPreAuth, r, decodePreAuth, encodePreAuth, (*PreAuthOrder).clone, decide)
	case ParentAppPay:
		return dynChangeOf(ctx, s, what, kindAppPay, r, decodeAppPay, encodeAppPay, (*AppPayOrder).clone, decide)
	}
	return invalid("parent", fmt.Sprintf("%q is unknown", r.Parent))
}

func dynChangeOf[T interface {
	record
	opHolder
}](ctx context.Context, s *DynamoStore, what, kind string, r OpRef,
	decode func(map[string]types.AttributeValue) (T, error), encode func(T) (map[string]types.AttributeValue, error),
	clone func(T) T, decide func(h opHolder) (OpSet, error)) error {
	return s.retry(ctx, what, func() (bool, error) {
		raw, err := s.get(ctx, kind, r.OrderNo)
		if err != nil {
			return false, err
		}
		if raw == nil {
			return false, fmt.Errorf("%w: %s order %s", ErrNotFound, r.Parent, r.OrderNo)
		}
		cur, err := decode(raw)
		if err != nil {
			return false, err
		}
		next := clone(cur)
		ops, err := decide(next)
		if err != nil || ops == nil {
			return true, err
		}
		return writeRecord(ctx, s, cur, next, false, encode, "")
	})
}

func (s *DynamoStore) BeginOperation(ctx context.Context, b OpBegin) (OpBeginResult, error) {
	if err := validateOpBegin(b); err != nil {
		return OpBeginResult{}, err
	}
	var res OpBeginResult
	err := s.dynChange(ctx, "begin operation", b.OpRef, func(h opHolder) (OpSet, error) {
		next, r, err := beginOn(h, b, newToken())
		if next != nil {
			h.setOps(next, b.Now)
		}
		res = r
		return next, err
	})
	if err != nil {
		return OpBeginResult{}, err
	}
	return res, nil
}

func (s *DynamoStore) CompleteOperation(ctx context.Context, r OpRef, token string, out OpOutcome) error {
	if err := validateOpComplete(r, token, out); err != nil {
		return err
	}
	return s.dynChange(ctx, "complete operation", r, func(h opHolder) (OpSet, error) {
		next, err := completeOperation(h.opSet(), r, token, out)
		if next != nil {
			h.setOps(next, out.Now)
			settledOn(h, next, r)
		}
		return next, err
	})
}

func (s *DynamoStore) ResolveOperation(ctx context.Context, r OpRef, out OpOutcome) error {
	if err := validateOpResolve(r, out); err != nil {
		return err
	}
	return s.dynChange(ctx, "resolve operation", r, func(h opHolder) (OpSet, error) {
		next, err := resolveOperation(h.opSet(), r, out)
		if next != nil {
			h.setOps(next, out.Now)
			settledOn(h, next, r)
		}
		return next, err
	})
}

// opRecItem is one operation as stored in its parent's "ops" map attribute.
type opRecItem struct {
	Kind       string            `dynamodbav:"kind"`
	RequestNo  string            `dynamodbav:"request_no"`
	ParamsHash string            `dynamodbav:"params_hash"`
	Amount     int64             `dynamodbav:"amount"`
	State      string            `dynamodbav:"state"`
	Token      string            `dynamodbav:"token,omitempty"`
	LeaseUntil string            `dynamodbav:"lease_until,omitempty"`
	Result     map[string]string `dynamodbav:"result,omitempty"`
	Code       string            `dynamodbav:"code,omitempty"`
	SubCode    string            `dynamodbav:"sub_code,omitempty"`
	SubMsg     string            `dynamodbav:"sub_msg,omitempty"`
	CreatedAt  string            `dynamodbav:"created_at"`
	UpdatedAt  string            `dynamodbav:"updated_at"`
}

func encodeOps(ops OpSet) map[string]opRecItem {
	if len(ops) == 0 {
		return nil
	}
	m := make(map[string]opRecItem, len(ops))
	for k, op := range ops {
		m[k] = opRecItem{
			Kind: string(op.Kind), RequestNo: op.RequestNo, ParamsHash: op.ParamsHash, Amount: int64(op.Amount),
			State: string(op.State), Token: op.token, LeaseUntil: fmtTime(op.LeaseUntil), Result: op.Result,
			Code: op.Code, SubCode: op.SubCode, SubMsg: op.SubMsg,
			CreatedAt: fmtTime(op.CreatedAt), UpdatedAt: fmtTime(op.UpdatedAt),
		}
	}
	return m
}

func decodeOps(d *itemDecoder, m map[string]opRecItem) OpSet {
	if len(m) == 0 {
		return nil
	}
	ops := make(OpSet, len(m))
	for k, it := range m {
		ops[k] = Operation{
			Kind: OpKind(it.Kind), RequestNo: it.RequestNo, ParamsHash: it.ParamsHash, Amount: alipay.Amount(it.Amount),
			State: OpState(it.State), token: it.Token, LeaseUntil: d.time("lease_until", it.LeaseUntil), Result: it.Result,
			Code: it.Code, SubCode: it.SubCode, SubMsg: it.SubMsg,
			CreatedAt: d.time("created_at", it.CreatedAt), UpdatedAt: d.time("updated_at", it.UpdatedAt),
		}
	}
	return ops
}
