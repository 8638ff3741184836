// Package agreements is the slice of pay-and-sign agreements after signing
// (docs/design.md, the lifecycle contract): the agreement view, sync
// (alipay.user.agreement.query, L9.2), unsign (alipay.user.agreement.unsign, L9.3) on the
// apppaysign function, and rule-checked charges (alipay.trade.pay with agreement_params,
// L9.1) on the settle function.
package agreements

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
	"github.com/alipay-serverless/alipay-serverless/shared/credentials"
	"github.com/alipay-serverless/alipay-serverless/shared/domain"
	"github.com/alipay-serverless/alipay-serverless/shared/orders"
)

// Store is the part of orders.Store this slice uses.
type Store interface {
	GetAgreement(ctx context.Context, externalAgreementNo string) (*orders.Agreement, error)
	GetAppPayOrder(ctx context.Context, outTradeNo string) (*orders.AppPayOrder, error)
	ApplyAgreement(ctx context.Context, e orders.AgreementEffect) (orders.ApplyResult, error)
	BeginOperation(ctx context.Context, b orders.OpBegin) (orders.OpBeginResult, error)
	CompleteOperation(ctx context.Context, r orders.OpRef, token string, out orders.OpOutcome) (orders.Operation, error)
	ResolveOperation(ctx context.Context, r orders.OpRef, out orders.OpOutcome) error
}

// Credentials supplies Alipay credentials (*credentials.Cache).
type Credentials interface {
	Get(context.Context) (*alipay.Credentials, error)
	Refresh(context.Context) (*alipay.Credentials, error)
}

// Defaults of the configuration (docs/design.md, configuration added).
const (
	DefaultChargeWindowDays = 3
	DefaultLeaseMargin      = 2 * time.Second
	// maxMinCall caps the least time worth giving a gateway call.
	maxMinCall = time.Second
)

// Service reads, syncs, unsigns and charges agreements.
type Service struct {
	store          Store
	creds          Credentials
	gw             alipay.Executor
	now            func() time.Time
	gatewayTimeout time.Duration
	leaseMargin    time.Duration
	windowDays     int
	productCode    string
}

// Option configures a Service.
type Option func(*Service)

// WithClock sets the clock (tests: a charge at 23:59 China time with the process in UTC).
func WithClock(now func() time.Time) Option { return func(s *Service) { s.now = now } }

// WithGatewayTimeout bounds one gateway call; non-positive keeps alipay.DefaultTimeout.
func WithGatewayTimeout(d time.Duration) Option {
	return func(s *Service) {
		if d > 0 {
			s.gatewayTimeout = d
		}
	}
}

// WithChargeWindowDays sets how many days before a period's plan date a charge may be
// made (CHARGE_WINDOW_DAYS).
func WithChargeWindowDays(n int) Option { return func(s *Service) { s.windowDays = n } }

// WithProductCode sets the deduction's product_code (CHARGE_PRODUCT_CODE; L9.1, L13).
func WithProductCode(code string) Option {
	return func(s *Service) {
		if code != "" {
			s.productCode = code
		}
	}
}

// NewService returns the agreements service.
func NewService(store Store, creds Credentials, gw alipay.Executor, opts ...Option) *Service {
	s := &Service{store: store, creds: creds, gw: gw, now: time.Now, gatewayTimeout: alipay.DefaultTimeout,
		leaseMargin: DefaultLeaseMargin, windowDays: DefaultChargeWindowDays, productCode: alipay.ProductCodeGeneralWithholding}
	for _, o := range opts {
		o(s)
	}
	return s
}

// WindowDays is the configured charge window.
func (s *Service) WindowDays() int { return s.windowDays }

// Get returns the agreement for owner ("" = scope settle: any agreement); another
// owner's agreement is not found.
func (s *Service) Get(ctx context.Context, owner, externalAgreementNo string) (*orders.Agreement, error) {
	if err := alipay.CheckExternalAgreementNo("external_agreement_no", externalAgreementNo); err != nil {
		return nil, err
	}
	a, err := s.store.GetAgreement(ctx, externalAgreementNo)
	if err != nil {
		return nil, fmt.Errorf("agreements: get: %w", err)
	}
	if owner != "" && a.Owner != owner {
		return nil, orders.ErrNotFound
	}
	return a, nil
}

func (s *Service) credentials(ctx context.Context) (*alipay.Credentials, error) {
	c, err := s.creds.Get(ctx)
	if err == nil {
		err = c.Validate()
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", credentials.ErrUnavailable, err)
	}
	return c, nil
}

// Sync asks Alipay about the agreement (alipay.user.agreement.query, L9.2) and applies
// the answer as a dut_user_* notice would be applied; it returns the view's record.
func (s *Service) Sync(ctx context.Context, owner, externalAgreementNo string) (*orders.Agreement, error) {
	a, err := s.Get(ctx, owner, externalAgreementNo)
	if err != nil {
		return nil, err
	}
	creds, err := s.credentials(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := s.query(ctx, creds, a); err != nil {
		return nil, err
	}
	return s.Get(ctx, owner, externalAgreementNo)
}

// SyncSign is the reconciler's step for orders.DueAgreementSign: ask Alipay about an
// agreement whose order is paid but which is not NORMAL; it reports whether the
// agreement is settled (NORMAL or UNSIGN) afterwards.
func (s *Service) SyncSign(ctx context.Context, externalAgreementNo string) (bool, error) {
	a, err := s.store.GetAgreement(ctx, externalAgreementNo)
	if err != nil {
		return false, err
	}
	if a.Status == orders.AgreementNormal || a.Status == orders.AgreementUnsign {
		return true, nil
	}
	creds, err := s.credentials(ctx)
	if err != nil {
		return false, err
	}
	st, err := s.query(ctx, creds, a)
	if err != nil {
		return false, err
	}
	return st == orders.AgreementNormal || st == orders.AgreementUnsign, nil
}

// query asks Alipay about a and applies what it says; it returns the status Alipay
// reported ("" when it reported none we apply: not found, or STOP).
func (s *Service) query(ctx context.Context, creds *alipay.Credentials, a *orders.Agreement) (orders.AgreementStatus, error) {
	log := domain.Logger(ctx).With("external_agreement_no", a.ExternalAgreementNo)
	q := &alipay.AgreementQuery{AgreementNo: a.AgreementNo}
	if q.AgreementNo == "" {
		// No sign notice yet: ask by what the signing sent and the payer of its order.
		o, err := s.store.GetAppPayOrder(ctx, a.OutTradeNo)
		if err != nil {
			return "", fmt.Errorf("agreements: order of the agreement: %w", err)
		}
		if o.BuyerID == "" && o.BuyerOpenID == "" {
			log.Info("agreement not signed and its order not paid: nothing to ask")
			return "", nil
		}
		q = &alipay.AgreementQuery{PersonalProductCode: a.PersonalProductCode, SignScene: a.SignScene,
			ExternalAgreementNo: a.ExternalAgreementNo, AlipayUserID: o.BuyerID}
		if o.BuyerID == "" {
			q.AlipayOpenID = o.BuyerOpenID
		}
	}
	ctx, cancel := context.WithTimeout(ctx, s.gatewayTimeout)
	defer cancel()
	n, err := alipay.Call[alipay.AgreementQueryResult](ctx, s.gw, creds, q, alipay.CallOptions{Refresh: s.creds.Refresh})
	var be *alipay.BusinessError
	switch {
	case errors.As(err, &be) && !be.Configuration() && be.SubCode == subHasUnsigned:
		// The user unsigned in Alipay (L9.2): the merchant's side ends too.
		return orders.AgreementUnsign, s.apply(ctx, a, a.AgreementNo, orders.AgreementUnsign, "", "query:"+subHasUnsigned)
	case errors.As(err, &be) && !be.Configuration() && be.SubCode == subNotExist:
		log.Info("alipay knows no such agreement", "sub_code", be.SubCode)
		return "", nil
	case err != nil:
		return "", err
	}
	st := orders.AgreementStatus(n.Status)
	switch st {
	case orders.AgreementNormal, orders.AgreementTemp, orders.AgreementUnsign:
	default:
		log.Warn("agreement status not applied", "status", n.Status)
		return "", nil
	}
	if a.AgreementNo != "" && n.AgreementNo != a.AgreementNo {
		return "", fmt.Errorf("agreements: query answered agreement %q: %w", n.AgreementNo, alipay.ErrUnknownOutcome)
	}
	user := n.PrincipalID
	if user == "" {
		user = n.PrincipalOpenID
	}
	return st, s.apply(ctx, a, n.AgreementNo, st, user, "query:"+n.AgreementNo+":"+n.Status)
}

// Sub-codes of the agreement query (L9.2).
const (
	subHasUnsigned = "AGREEMENT_HAS_UNSIGNED"
	subNotExist    = "USER_AGREEMENT_NOT_EXIST"
)

// apply records a status learned from Alipay (query, our own unsign) through the
// notices' transition, with a receipt id of its own facts.
func (s *Service) apply(ctx context.Context, a *orders.Agreement, agreementNo string, st orders.AgreementStatus, user, receipt string) error {
	_, err := s.store.ApplyAgreement(ctx, orders.AgreementEffect{NotifyID: receipt, ExternalAgreementNo: a.ExternalAgreementNo,
		AgreementNo: agreementNo, Status: st, AlipayUserID: user, Now: s.now()})
	if err != nil {
		return fmt.Errorf("agreements: apply %s: %w", st, err)
	}
	return nil
}

// Unsign ends the agreement at Alipay (alipay.user.agreement.unsign, L9.3) and here; a
// charge afterwards is refused locally. Unsigning an ended agreement returns it as is.
func (s *Service) Unsign(ctx context.Context, owner, externalAgreementNo, notifyURL string) (*orders.Agreement, error) {
	a, err := s.Get(ctx, owner, externalAgreementNo)
	if err != nil {
		return nil, err
	}
	switch {
	case a.Status == orders.AgreementUnsign:
		return a, nil
	case a.AgreementNo == "":
		return nil, &domain.Conflict{Code: domain.CodeAgreementNotActive,
			Message: "the agreement is " + string(a.Status) + ": not signed yet, nothing to unsign"}
	}
	creds, err := s.credentials(ctx)
	if err != nil {
		return nil, err
	}
	log := domain.Logger(ctx).With("external_agreement_no", externalAgreementNo)
	callCtx, cancel := context.WithTimeout(ctx, s.gatewayTimeout)
	_, err = alipay.Call[alipay.AgreementUnsignResult](callCtx, s.gw, creds, &alipay.AgreementUnsign{AgreementNo: a.AgreementNo},
		alipay.CallOptions{NotifyURL: notifyURL, Refresh: s.creds.Refresh})
	cancel()
	var be *alipay.BusinessError
	switch {
	case err == nil:
		log.Info("agreement unsigned")
		if err := s.apply(ctx, a, a.AgreementNo, orders.AgreementUnsign, "", "unsign:"+a.AgreementNo); err != nil {
			return nil, err
		}
	case errors.As(err, &be) && !be.Configuration() && be.Class(alipay.MethodAgreementUnsign) != alipay.Unknown:
		// Refused: perhaps because it is already unsigned (ours, or the user's). The query
		// says which; a refusal it does not explain is Alipay's answer.
		st, qerr := s.query(ctx, creds, a)
		if qerr != nil {
			return nil, qerr
		}
		if st != orders.AgreementUnsign {
			return nil, err
		}
	default:
		return nil, err
	}
	return s.Get(ctx, owner, externalAgreementNo)
}
