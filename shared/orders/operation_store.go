package orders

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
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
	case ParentAgreement:
		if a, ok := s.agreements[r.OrderNo]; ok {
			c := a.clone()
			return c, func() { refreshDue(c); s.agreements[r.OrderNo] = c }, nil
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
		// A number another record holds is a conflict before anything else; only a begin
		// that records its operation takes it.
		if claimed, ok := s.outTrades[b.RequestNo]; tradeKind(b.Kind) && ((ok && claimed != outTradeRef(b.OpRef)) || s.appPay[b.RequestNo] != nil) {
			res = OpBeginResult{Outcome: OpConflict, Status: h.opStatus()}
			return nil, nil
		}
		next, r, err := beginOn(h, b, newToken())
		res = r
		if next == nil || err != nil {
			return nil, err
		}
		if tradeKind(b.Kind) {
			s.outTrades[b.RequestNo] = outTradeRef(b.OpRef)
		}
		h.setOps(next, b.Now)
		return next, nil
	})
	return res, err
}

// outTradeRef is what an out_trade_no claim points to.
func outTradeRef(r OpRef) OpRef {
	return OpRef{Parent: r.Parent, OrderNo: r.OrderNo, Kind: r.Kind, RequestNo: r.RequestNo}
}

func (s *MemoryStore) LookupOutTradeNo(ctx context.Context, outTradeNo string) (OpRef, error) {
	if err := ctxErr(ctx); err != nil {
		return OpRef{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.outTrades[outTradeNo]
	if !ok {
		return OpRef{}, fmt.Errorf("%w: out_trade_no %s", ErrNotFound, outTradeNo)
	}
	return r, nil
}

func (s *MemoryStore) ApplyOpNotice(ctx context.Context, n OpNotice) (ApplyResult, error) {
	if err := validateOpNotice(n); err != nil {
		return "", err
	}
	var res ApplyResult
	err := s.memChange(ctx, n.OpRef, func(h opHolder) (OpSet, error) {
		next, r, err := noticeOperation(h, h.receipts(), n)
		if err != nil || r == Duplicate || r == NotFound {
			res = r
			return nil, err
		}
		if n.TradeNo != "" {
			te := TradeEffect{TradeNo: n.TradeNo, OutTradeNo: n.RequestNo}
			claim, err := bindTradeNo(s.tradeNos[n.TradeNo], te)
			if err != nil {
				return nil, err
			}
			if claim {
				s.tradeNos[n.TradeNo] = n.RequestNo
			}
		}
		res = r
		if next != nil {
			h.setOps(next, n.Now)
			h.addReceipt(n.NotifyID)
		}
		return next, nil
	})
	if errors.Is(err, ErrNotFound) {
		return NotFound, nil
	}
	return res, err
}

func (s *MemoryStore) CompleteOperation(ctx context.Context, r OpRef, token string, out OpOutcome) (Operation, error) {
	if err := validateOpComplete(r, token, out); err != nil {
		return Operation{}, err
	}
	var rec Operation
	if err := s.memChange(ctx, r, completeOn(r, token, out, &rec)); err != nil {
		return Operation{}, err
	}
	return rec, nil
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

// completeOn is CompleteOperation's decision on h, for both stores; rec receives the
// operation as recorded (the holder's outcome, or the proof a notice settled it with
// during the lease).
func completeOn(r OpRef, token string, out OpOutcome, rec *Operation) func(h opHolder) (OpSet, error) {
	return func(h opHolder) (OpSet, error) {
		next, err := completeOperation(h.opSet(), r, token, out)
		if err != nil {
			return nil, err
		}
		ops := h.opSet()
		if next != nil {
			h.setOps(next, out.Now)
			settledOn(h, next, r)
			ops = next
		}
		*rec = publicOp(ops[opKey(r.Kind, r.RequestNo)])
		return next, nil
	}
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
	return s.dynChangeN(ctx, what, r, "", decide)
}

// dynChangeN is dynChange for a notice: the write is also conditional on notifyID not
// being among the item's receipts.
func (s *DynamoStore) dynChangeN(ctx context.Context, what string, r OpRef, notifyID string, decide func(h opHolder) (OpSet, error)) error {
	switch r.Parent {
	case ParentPreAuth:
		return dynChangeOf(ctx, s, what, kindPreAuth, r, notifyID, decodePreAuth, encodePreAuth, (*PreAuthOrder).clone, decide)
	case ParentAppPay:
		return dynChangeOf(ctx, s, what, kindAppPay, r, notifyID, decodeAppPay, encodeAppPay, (*AppPayOrder).clone, decide)
	case ParentAgreement:
		return dynChangeOf(ctx, s, what, kindAgreement, r, notifyID, decodeAgreement, encodeAgreement, (*Agreement).clone, decide)
	}
	return invalid("parent", fmt.Sprintf("%q is unknown", r.Parent))
}

// outTradeItem claims an out_trade_no for one operation, or for an app-pay order while
// it is written. An operation's claim has no TTL: the number stays taken as long as a
// notice or query could name it.
type outTradeItem struct {
	PK        string `dynamodbav:"pk"`
	SK        string `dynamodbav:"sk"`
	Parent    string `dynamodbav:"parent"`
	OrderNo   string `dynamodbav:"order_no"`
	Kind      string `dynamodbav:"kind"`
	RequestNo string `dynamodbav:"request_no"`
	CreatedAt string `dynamodbav:"created_at"`
	// ExpiresAt: an app-pay order's claim expires with the order (the order's own item
	// keeps the number once it is paid).
	ExpiresAt int64 `dynamodbav:"expires_at,omitempty"`
}

func (s *DynamoStore) getOutTrade(ctx context.Context, outTradeNo string) (*OpRef, error) {
	raw, err := s.get(ctx, kindOutTrade, outTradeNo)
	if err != nil || raw == nil {
		return nil, err
	}
	var it outTradeItem
	if err := attributevalue.UnmarshalMap(raw, &it); err != nil || it.OrderNo == "" {
		return nil, corrupt(kindOutTrade+"#"+outTradeNo, fmt.Errorf("unreadable claim: %v", err))
	}
	return &OpRef{Parent: ParentKind(it.Parent), OrderNo: it.OrderNo, Kind: OpKind(it.Kind), RequestNo: it.RequestNo}, nil
}

// outTradeTaken reports whether an app-pay order or another operation holds
// r.RequestNo (an out_trade_no); read only.
func (s *DynamoStore) outTradeTaken(ctx context.Context, r OpRef) (bool, error) {
	if raw, err := s.get(ctx, kindAppPay, r.RequestNo); err != nil || raw != nil {
		return true, err
	}
	cur, err := s.getOutTrade(ctx, r.RequestNo)
	if err != nil {
		return false, err
	}
	return cur != nil && *cur != outTradeRef(r), nil
}

// claimOutTrade claims r.RequestNo (an out_trade_no) for r unless an app-pay order or
// another operation holds it.
func (s *DynamoStore) claimOutTrade(ctx context.Context, r OpRef, now time.Time) (bool, error) {
	return s.putClaim(ctx, outTradeItem{Parent: string(r.Parent), OrderNo: r.OrderNo, Kind: string(r.Kind),
		RequestNo: r.RequestNo, CreatedAt: fmtTime(normTime(now))}, true)
}

// claimAppPayOutTrade claims o's out_trade_no for the app-pay order before the order is
// written, unless an operation holds it. An operation's begin claims the same item, so
// of two records taking one number concurrently exactly one gets it: checking the other
// record's item before writing one's own leaves a window in which both see it free.
func (s *DynamoStore) claimAppPayOutTrade(ctx context.Context, o *AppPayOrder) (bool, error) {
	return s.putClaim(ctx, outTradeItem{Parent: string(ParentAppPay), OrderNo: o.OutTradeNo, RequestNo: o.OutTradeNo,
		CreatedAt: fmtTime(normTime(o.CreatedAt)), ExpiresAt: fmtExpiry(o.ExpiresAt)}, false)
}

// putClaim writes the claim it unless another record holds its number; ok reports that
// the claim (new or already there) is it. orderTakes: an existing app-pay order of the
// number holds it too (an operation's claim; an app-pay create has checked its own item).
func (s *DynamoStore) putClaim(ctx context.Context, it outTradeItem, orderTakes bool) (bool, error) {
	want := OpRef{Parent: ParentKind(it.Parent), OrderNo: it.OrderNo, Kind: OpKind(it.Kind), RequestNo: it.RequestNo}
	it.PK, it.SK = itemKey(kindOutTrade, it.RequestNo)
	item, err := attributevalue.MarshalMap(it)
	if err != nil {
		return false, corrupt("new item", err)
	}
	var ok bool
	err = s.retry(ctx, "claim out_trade_no", func() (bool, error) {
		if orderTakes {
			if raw, err := s.get(ctx, kindAppPay, it.RequestNo); err != nil || raw != nil {
				return true, err
			}
		}
		cur, err := s.getOutTrade(ctx, it.RequestNo)
		if err != nil {
			return false, err
		}
		if cur != nil {
			ok = *cur == want
			return true, nil
		}
		put, err := s.putNew(ctx, item)
		ok = put
		return put, err // lost a race: read the winner
	})
	return ok, err
}

func (s *DynamoStore) LookupOutTradeNo(ctx context.Context, outTradeNo string) (OpRef, error) {
	r, err := s.getOutTrade(ctx, outTradeNo)
	if err != nil {
		return OpRef{}, err
	}
	if r == nil || r.Parent == ParentAppPay {
		// An app-pay order's own claim names no operation.
		return OpRef{}, fmt.Errorf("%w: out_trade_no %s", ErrNotFound, outTradeNo)
	}
	return *r, nil
}

// ApplyOpNotice binds the notice's trade_no (when it has one) before it settles the
// operation, as ApplyTrade does, then writes the order conditional on its version and
// on the notice's receipt being absent.
func (s *DynamoStore) ApplyOpNotice(ctx context.Context, n OpNotice) (ApplyResult, error) {
	if err := validateOpNotice(n); err != nil {
		return "", err
	}
	var res ApplyResult
	bound := n.TradeNo == ""
	err := s.dynChangeN(ctx, "apply operation notice", n.OpRef, n.NotifyID, func(h opHolder) (OpSet, error) {
		next, r, err := noticeOperation(h, h.receipts(), n)
		res = r
		if err != nil || next == nil {
			return nil, err
		}
		if !bound {
			ok, err := s.bindTradeNo(ctx, TradeEffect{TradeNo: n.TradeNo, OutTradeNo: n.RequestNo, Now: n.Now})
			if err != nil {
				return nil, err
			}
			if !ok {
				return nil, errRetry
			}
			bound = true
		}
		h.setOps(next, n.Now)
		h.addReceipt(n.NotifyID)
		return next, nil
	})
	if errors.Is(err, ErrNotFound) {
		return NotFound, nil
	}
	if err != nil {
		return "", err
	}
	return res, nil
}

// errRetry asks dynChangeOf to decide again on a fresh read.
var errRetry = errors.New("orders: retry")

func dynChangeOf[T interface {
	record
	opHolder
}](ctx context.Context, s *DynamoStore, what, kind string, r OpRef, notifyID string,
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
		if errors.Is(err, errRetry) {
			return false, nil
		}
		if err != nil || ops == nil {
			return true, err
		}
		return writeRecord(ctx, s, cur, next, false, encode, notifyID)
	})
}

func (s *DynamoStore) BeginOperation(ctx context.Context, b OpBegin) (OpBeginResult, error) {
	if err := validateOpBegin(b); err != nil {
		return OpBeginResult{}, err
	}
	var res OpBeginResult
	err := s.dynChange(ctx, "begin operation", b.OpRef, func(h opHolder) (OpSet, error) {
		// A number another record holds is a conflict before anything else (as in the
		// memory store).
		if tradeKind(b.Kind) {
			taken, err := s.outTradeTaken(ctx, b.OpRef)
			if err != nil {
				return nil, err
			}
			if taken {
				res = OpBeginResult{Outcome: OpConflict, Status: h.opStatus()}
				return nil, nil
			}
		}
		next, r, err := beginOn(h, b, newToken())
		res = r
		if next == nil || err != nil {
			return nil, err
		}
		// Only a begin that records its operation takes the number. The claim is written
		// first, so a crash between the two writes leaves a claim the identical retry
		// takes again, never an operation whose number another record could also use;
		// claiming again on a re-decided attempt is a no-op.
		if tradeKind(b.Kind) {
			ok, err := s.claimOutTrade(ctx, b.OpRef, b.Now)
			if err != nil {
				return nil, err
			}
			if !ok {
				res = OpBeginResult{Outcome: OpConflict, Status: h.opStatus()}
				return nil, nil
			}
		}
		h.setOps(next, b.Now)
		return next, nil
	})
	if err != nil {
		return OpBeginResult{}, err
	}
	return res, nil
}

func (s *DynamoStore) CompleteOperation(ctx context.Context, r OpRef, token string, out OpOutcome) (Operation, error) {
	if err := validateOpComplete(r, token, out); err != nil {
		return Operation{}, err
	}
	var rec Operation
	if err := s.dynChange(ctx, "complete operation", r, completeOn(r, token, out, &rec)); err != nil {
		return Operation{}, err
	}
	return rec, nil
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
	Params     map[string]string `dynamodbav:"params,omitempty"`
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
			Kind: string(op.Kind), RequestNo: op.RequestNo, ParamsHash: op.ParamsHash, Amount: int64(op.Amount), Params: op.Params,
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
			Kind: OpKind(it.Kind), RequestNo: it.RequestNo, ParamsHash: it.ParamsHash, Amount: alipay.Amount(it.Amount), Params: it.Params,
			State: OpState(it.State), token: it.Token, LeaseUntil: d.time("lease_until", it.LeaseUntil), Result: it.Result,
			Code: it.Code, SubCode: it.SubCode, SubMsg: it.SubMsg,
			CreatedAt: d.time("created_at", it.CreatedAt), UpdatedAt: d.time("updated_at", it.UpdatedAt),
		}
	}
	return ops
}
