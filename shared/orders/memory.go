package orders

import (
	"cmp"
	"context"
	"fmt"
	"sync"
)

// MemoryStore keeps orders in process memory (tests, local mode). It has the semantics
// of DynamoStore except that nothing expires. Orders are copied in and out.
type MemoryStore struct {
	mu         sync.Mutex
	appPay     map[string]*AppPayOrder
	agreements map[string]*Agreement
	preAuth    map[string]*PreAuthOrder
	tradeNos   map[string]string // trade_no → out_trade_no
	outTrades  map[string]OpRef  // out_trade_no of an operation → the operation
}

var _ Store = (*MemoryStore)(nil)

// NewMemoryStore returns an empty store.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{
		appPay:     map[string]*AppPayOrder{},
		agreements: map[string]*Agreement{},
		preAuth:    map[string]*PreAuthOrder{},
		tradeNos:   map[string]string{},
		outTrades:  map[string]OpRef{},
	}
}

func ctxErr(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return nil
}

func (s *MemoryStore) CreateAppPayOrder(ctx context.Context, in *AppPayOrder) (CreateOutcome, *AppPayOrder, error) {
	o, a, err := newAppPayOrder(in)
	if err != nil {
		return "", nil, err
	}
	if err := ctxErr(ctx); err != nil {
		return "", nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.outTrades[o.OutTradeNo]; ok {
		return Conflict, nil, nil // a capture's or charge's out_trade_no
	}
	if cur, ok := s.appPay[o.OutTradeNo]; ok {
		if !sameAppPayRequest(cur, o) {
			return Conflict, nil, nil
		}
		return Replayed, cur.clone().withAgreement(s.agreements[cur.ExternalAgreementNo]), nil
	}
	if a != nil {
		if cur, ok := s.agreements[a.ExternalAgreementNo]; ok && cur.OutTradeNo != o.OutTradeNo {
			return Conflict, nil, nil
		}
		s.agreements[a.ExternalAgreementNo] = a
	}
	refreshDue(o)
	s.appPay[o.OutTradeNo] = o
	return Created, o.clone().withAgreement(a), nil
}

func (s *MemoryStore) GetAppPayOrder(ctx context.Context, outTradeNo string) (*AppPayOrder, error) {
	if err := ctxErr(ctx); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.appPay[outTradeNo]
	if !ok {
		return nil, fmt.Errorf("%w: out_trade_no %s", ErrNotFound, outTradeNo)
	}
	return o.clone().withAgreement(s.agreements[o.ExternalAgreementNo]), nil
}

func (s *MemoryStore) GetAgreement(ctx context.Context, externalAgreementNo string) (*Agreement, error) {
	if err := ctxErr(ctx); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.agreements[externalAgreementNo]
	if !ok {
		return nil, fmt.Errorf("%w: external_agreement_no %s", ErrNotFound, externalAgreementNo)
	}
	return publicAgreement(a), nil
}

func (s *MemoryStore) BeginVoucher(ctx context.Context, b VoucherBegin) (VoucherBeginResult, error) {
	if err := validateBegin(b); err != nil {
		return VoucherBeginResult{}, err
	}
	if err := ctxErr(ctx); err != nil {
		return VoucherBeginResult{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var cur *PreAuthOrder
	if o, ok := s.preAuth[b.OutOrderNo]; ok {
		cur = o.clone()
	}
	next, res, err := beginVoucher(cur, b, newToken())
	if err != nil {
		return VoucherBeginResult{}, err
	}
	if next != nil {
		refreshDue(next)
		s.preAuth[b.OutOrderNo] = next
	}
	return res, nil
}

func (s *MemoryStore) CompleteVoucher(ctx context.Context, outOrderNo, outRequestNo, token string, out VoucherOutcome) error {
	if err := validateOutcome(token, out); err != nil {
		return err
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
	changed, err := completeVoucher(next, outRequestNo, token, out)
	if err != nil {
		return err
	}
	if changed {
		refreshDue(next)
		s.preAuth[outOrderNo] = next
	}
	return nil
}

func (s *MemoryStore) GetPreAuthOrder(ctx context.Context, outOrderNo string) (*PreAuthOrder, error) {
	if err := ctxErr(ctx); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.preAuth[outOrderNo]
	if !ok {
		return nil, fmt.Errorf("%w: out_order_no %s", ErrNotFound, outOrderNo)
	}
	return publicPreAuth(o), nil
}

func (s *MemoryStore) ApplyTrade(ctx context.Context, e TradeEffect) (ApplyResult, error) {
	if err := validateTrade(e); err != nil {
		return "", err
	}
	if err := ctxErr(ctx); err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.appPay[e.OutTradeNo]
	if !ok {
		return NotFound, nil
	}
	next := o.clone()
	res, err := applyTrade(next, e)
	if err != nil {
		return "", err
	}
	claim, err := bindTradeNo(s.tradeNos[e.TradeNo], e)
	if err != nil {
		return "", err
	}
	if claim {
		s.tradeNos[e.TradeNo] = e.OutTradeNo
	}
	if res == Applied {
		if a := s.agreements[next.ExternalAgreementNo]; a != nil && paidNow(o, next) {
			c := a.clone()
			if agreementOrderPaid(c, next.OutTradeNo, cmp.Or(next.PaidAt, normTime(e.Now))) {
				refreshDue(c)
				s.agreements[c.ExternalAgreementNo] = c
			}
		}
		refreshDue(next)
		s.appPay[e.OutTradeNo] = next
	}
	return res, nil
}

func (s *MemoryStore) ApplyFundAuth(ctx context.Context, e FundAuthEffect) (ApplyResult, error) {
	if err := validateFundAuth(e); err != nil {
		return "", err
	}
	if err := ctxErr(ctx); err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.preAuth[e.OutOrderNo]
	if !ok {
		return NotFound, nil
	}
	next := o.clone()
	res, err := applyFundAuth(next, e)
	if err != nil {
		return "", err
	}
	if res == Applied {
		refreshDue(next)
		s.preAuth[e.OutOrderNo] = next
	}
	return res, nil
}

func (s *MemoryStore) ApplyAgreement(ctx context.Context, e AgreementEffect) (ApplyResult, error) {
	if err := validateAgreement(e); err != nil {
		return "", err
	}
	if err := ctxErr(ctx); err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.agreements[e.ExternalAgreementNo]
	if !ok {
		return NotFound, nil
	}
	next := a.clone()
	res := applyAgreement(next, e)
	if res == Applied {
		refreshDue(next)
		s.agreements[e.ExternalAgreementNo] = next
	}
	return res, nil
}
