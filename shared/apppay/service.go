// Package apppay is the app-pay slice: a mobile app asks for a signed orderStr for
// alipay.trade.app.pay (optionally pay-and-sign) and later reads its order's status.
// No gateway call is made: the orderStr is signed here and Alipay's app submits it.
package apppay

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
	"github.com/alipay-serverless/alipay-serverless/shared/credentials"
	"github.com/alipay-serverless/alipay-serverless/shared/domain"
	"github.com/alipay-serverless/alipay-serverless/shared/orders"
)

// Store is the part of the order store this slice uses.
type Store interface {
	CreateAppPayOrder(ctx context.Context, o *orders.AppPayOrder) (orders.CreateOutcome, *orders.AppPayOrder, error)
	GetAppPayOrder(ctx context.Context, outTradeNo string) (*orders.AppPayOrder, error)
	BeginOperation(ctx context.Context, b orders.OpBegin) (orders.OpBeginResult, error)
	CompleteOperation(ctx context.Context, r orders.OpRef, token string, out orders.OpOutcome) (orders.Operation, error)
	ResolveOperation(ctx context.Context, r orders.OpRef, out orders.OpOutcome) error
	ApplyTrade(ctx context.Context, e orders.TradeEffect) (orders.ApplyResult, error)
}

// Credentials gives the current Alipay credentials.
type Credentials interface {
	Get(ctx context.Context) (*alipay.Credentials, error)
}

// Service creates, reads, refunds, closes and syncs app-pay orders.
type Service struct {
	store Store
	creds Credentials
	gw    Gateway
	now   func() time.Time
	// gatewayTimeout bounds one gateway call; leaseMargin is kept after the calls to
	// record their outcome.
	gatewayTimeout time.Duration
	leaseMargin    time.Duration
	// timeoutExpress is added to orders without an expiry (APP_PAY_TIMEOUT_EXPRESS).
	timeoutExpress string
	// serverPricing: orders are created by the merchant's backend for an owner
	// (APP_PAY_PRICING=server); otherwise the app creates its own and names the price.
	serverPricing bool
	// signNotifyURL: where agreement notices go (ALIPAY_SIGN_NOTIFY_URL); empty = the
	// order's notify_url, our own notify route.
	signNotifyURL string
}

// Option configures a Service.
type Option func(*Service)

// WithClock sets the clock (tests).
func WithClock(now func() time.Time) Option { return func(s *Service) { s.now = now } }

// WithServerPricing makes the merchant's backend the only creator of orders, each for
// an owner (APP_PAY_PRICING=server).
func WithServerPricing(on bool) Option { return func(s *Service) { s.serverPricing = on } }

// WithSignNotifyURL sets where agreement notices go (ALIPAY_SIGN_NOTIFY_URL).
func WithSignNotifyURL(u string) Option { return func(s *Service) { s.signNotifyURL = u } }

// ServerPricing reports whether orders are server-priced.
func (s *Service) ServerPricing() bool { return s.serverPricing }

// NewService returns the app-pay service.
func NewService(store Store, creds Credentials, opts ...Option) *Service {
	s := &Service{store: store, creds: creds, now: time.Now, gatewayTimeout: alipay.DefaultTimeout, leaseMargin: DefaultLeaseMargin}
	for _, o := range opts {
		o(s)
	}
	return s
}

// errConflict: the out_trade_no is in use with other params (or by another caller).
var errConflict = &domain.Conflict{Code: domain.CodeIdempotencyConflict,
	Message: "out_trade_no is already used with other parameters; use a new out_trade_no"}

// Created is the result of CreateOrder.
type Created struct {
	Order    *orders.AppPayOrder
	Replayed bool
}

// Alipay's default payment window for app pay when neither time_expire nor
// timeout_express is given, and how long an unpaid order is kept after its payment
// deadline: beyond Alipay's ~25 h notification redelivery, so a late notice still
// finds its order.
const (
	defaultPayWindow = 15 * 24 * time.Hour
	keepAfterExpiry  = 48 * time.Hour
)

// CreateOrder validates p, signs its orderStr and stores the order idempotently: the
// same out_trade_no with the same params (and owner) returns the stored order. The
// owner is the caller (client pricing) or p.Owner (server pricing).
func (s *Service) CreateOrder(ctx context.Context, caller string, p *alipay.AppPayParams, notifyURL string) (*Created, error) {
	now := s.now()
	if err := p.Validate(now); err != nil {
		return nil, err
	}
	if err := p.CheckRequestFields(s.serverPricing); err != nil {
		return nil, err
	}
	owner := caller
	if s.serverPricing {
		owner = p.Owner
	}
	if p.AgreementSignParams != nil && p.AgreementSignParams.ExternalAgreementNo == "" {
		// The agreement notice carries external_agreement_no, not out_trade_no: give every
		// pay-and-sign order one, derived from out_trade_no so retries stay identical.
		sum := sha256.Sum256([]byte("agreement:" + p.OutTradeNo))
		p.AgreementSignParams.ExternalAgreementNo = hex.EncodeToString(sum[:16])
	}
	hash := p.CanonicalHash() // the client's params, before the server adds its own
	if p.TimeExpire == "" && p.TimeoutExpress == "" && s.timeoutExpress != "" {
		// Every order has a known expiry (docs/design.md, configuration added).
		p.TimeoutExpress = s.timeoutExpress
	}
	if a := p.AgreementSignParams; a != nil {
		// Agreement notices come to us (or where the merchant configured), never where a
		// client says.
		a.SignNotifyURL = s.signNotifyURL
		if a.SignNotifyURL == "" {
			a.SignNotifyURL = notifyURL
		}
	}
	biz, err := p.BizContent()
	if err != nil {
		return nil, err
	}
	creds, err := s.creds.Get(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", credentials.ErrUnavailable, err)
	}
	// Sign first, then one conditional put: a new order costs one store round trip. A
	// replay wastes this signature but answers with the stored orderStr, byte for byte.
	orderStr, err := alipay.OrderString(creds, biz, alipay.OrderStringOptions{NotifyURL: notifyURL, Now: now})
	if err != nil {
		// The key does not sign: unusable credentials, as when they do not load.
		return nil, fmt.Errorf("%w: order string: %w", credentials.ErrUnavailable, err)
	}
	o := &orders.AppPayOrder{
		OutTradeNo:  p.OutTradeNo,
		Owner:       owner,
		ParamsHash:  hash,
		TotalAmount: p.TotalAmount,
		Subject:     p.Subject,
		ProductCode: p.ProductCode,
		Status:      orders.TradeCreated,
		OrderStr:    orderStr,
		CreatedAt:   now,
		UpdatedAt:   now,
		PayBy:       payDeadline(p, now),
		ExpiresAt:   payDeadline(p, now).Add(keepAfterExpiry),
	}
	if a := p.AgreementSignParams; a != nil {
		o.ExternalAgreementNo = a.ExternalAgreementNo
		o.PersonalProductCode = a.PersonalProductCode
		o.SignScene = a.SignScene
		if r := a.PeriodRuleParams; r != nil {
			// Kept on the agreement: its charges are checked against them (L9.1).
			o.AgreementRule = &orders.PeriodRule{PeriodType: r.PeriodType, Period: int(r.Period), ExecuteTime: r.ExecuteTime,
				SingleAmount: r.SingleAmount, TotalPayments: int(r.TotalPayments)}
			if r.TotalAmount != nil {
				o.AgreementRule.TotalAmount = *r.TotalAmount
			}
		}
	}
	outcome, stored, err := s.store.CreateAppPayOrder(ctx, o)
	if err != nil {
		return nil, fmt.Errorf("apppay: create order: %w", err)
	}
	switch outcome {
	case orders.Created:
		return &Created{Order: o}, nil
	case orders.Replayed:
		return &Created{Order: stored, Replayed: true}, nil
	default:
		return nil, errConflict
	}
}

// payDeadline is when Alipay stops accepting payment for the order.
func payDeadline(p *alipay.AppPayParams, now time.Time) time.Time {
	if p.TimeExpire != "" {
		if t, err := alipay.ParseTimestamp(p.TimeExpire); err == nil {
			return t
		}
	}
	if te := p.TimeoutExpress; te != "" {
		if te == "1c" { // closes at midnight China time of the creation day
			y, m, d := now.In(alipay.ChinaTime).Date()
			return time.Date(y, m, d+1, 0, 0, 0, 0, alipay.ChinaTime)
		}
		n, err := strconv.Atoi(te[:len(te)-1])
		if err == nil {
			unit := map[byte]time.Duration{'m': time.Minute, 'h': time.Hour, 'd': 24 * time.Hour}[te[len(te)-1]]
			if unit > 0 {
				return now.Add(time.Duration(n) * unit)
			}
		}
	}
	return now.Add(defaultPayWindow)
}

// GetOrder returns the caller's own order; another caller's order is not found.
func (s *Service) GetOrder(ctx context.Context, owner, outTradeNo string) (*orders.AppPayOrder, error) {
	if err := alipay.CheckOutTradeNo("out_trade_no", outTradeNo); err != nil {
		return nil, err
	}
	o, err := s.store.GetAppPayOrder(ctx, outTradeNo)
	if err != nil {
		return nil, fmt.Errorf("apppay: get order: %w", err)
	}
	if o.Owner != owner {
		return nil, orders.ErrNotFound
	}
	return o, nil
}
