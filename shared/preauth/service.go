// Package preauth is the pre-auth vertical slice: POST /v1/preauth/vouchers issues an
// Alipay fund-auth QR voucher (alipay.fund.auth.order.voucher.create) at most once per
// out_request_no, and GET /v1/preauth/orders/{out_order_no} shows the caller's order.
//
// A create first takes a lease on the voucher request in the store, calls the gateway
// only while holding it, and records the outcome before replying: ISSUED (replayed to
// identical retries), BUSINESS_ERROR (a verified refusal, replayed too) or UNKNOWN
// (timeouts, 20000, SYSTEM_ERROR, unverifiable replies; the next identical retry calls
// Alipay again with the same out_request_no, which Alipay treats as the same request).
// A voucher is never reported issued before Alipay said so and the store recorded it.
package preauth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
	"github.com/alipay-serverless/alipay-serverless/shared/credentials"
	"github.com/alipay-serverless/alipay-serverless/shared/domain"
	"github.com/alipay-serverless/alipay-serverless/shared/orders"
)

// StatusCodeIssued is the status of a successful create reply.
const StatusCodeIssued = string(orders.PreAuthCodeIssued)

// DefaultLeaseMargin is the time kept after the gateway call to record its outcome.
const DefaultLeaseMargin = 2 * time.Second

// maxMinCall caps the least time worth giving a gateway call (see leaseDuration).
const maxMinCall = time.Second

// Store is the part of orders.Store this slice uses.
type Store interface {
	BeginVoucher(ctx context.Context, b orders.VoucherBegin) (orders.VoucherBeginResult, error)
	CompleteVoucher(ctx context.Context, outOrderNo, outRequestNo, token string, out orders.VoucherOutcome) error
	GetPreAuthOrder(ctx context.Context, outOrderNo string) (*orders.PreAuthOrder, error)
	ApplyFundAuth(ctx context.Context, e orders.FundAuthEffect) (orders.ApplyResult, error)
	MarkVoucherNotCreated(ctx context.Context, outOrderNo, outRequestNo string, now time.Time) error
}

// Credentials supplies Alipay credentials (implemented by *credentials.Cache).
type Credentials interface {
	Get(context.Context) (*alipay.Credentials, error)
	Refresh(context.Context) (*alipay.Credentials, error)
}

// Gateway calls the Alipay gateway (implemented by *alipay.Client).
type Gateway interface {
	Execute(ctx context.Context, c *alipay.Credentials, method, bizContent string, opts alipay.CallOptions) (*alipay.Reply, error)
}

// Service is the pre-auth logic. It is safe for concurrent use.
type Service struct {
	store          Store
	creds          Credentials
	gw             Gateway
	now            func() time.Time
	notifyURL      string
	gatewayTimeout time.Duration
	leaseMargin    time.Duration
	sellerID       string
}

// Option configures a Service.
type Option func(*Service)

// WithClock sets the clock used for store timestamps and leases.
func WithClock(now func() time.Time) Option {
	return func(s *Service) {
		if now != nil {
			s.now = now
		}
	}
}

// WithNotifyURL sets the configured notify_url (ALIPAY_NOTIFY_URL); empty derives it
// from the request's domain.
func WithNotifyURL(u string) Option { return func(s *Service) { s.notifyURL = u } }

// WithSellerID is the merchant PID (ALIPAY_SELLER_ID): a capture's seller_id when the
// order knows no payee (the voucher named none and the freeze was learned by query,
// which does not report the payee).
func WithSellerID(id string) Option { return func(s *Service) { s.sellerID = id } }

// WithGatewayTimeout is the bound on one gateway call (ALIPAY_GATEWAY_TIMEOUT, the same
// value the alipay.Client uses); non-positive keeps alipay.DefaultTimeout.
func WithGatewayTimeout(d time.Duration) Option {
	return func(s *Service) {
		if d > 0 {
			s.gatewayTimeout = d
		}
	}
}

// WithLeaseMargin is the time reserved after the gateway call to record its outcome;
// non-positive keeps DefaultLeaseMargin.
func WithLeaseMargin(d time.Duration) Option {
	return func(s *Service) {
		if d > 0 {
			s.leaseMargin = d
		}
	}
}

// NewService returns the pre-auth service.
func NewService(store Store, creds Credentials, gw Gateway, opts ...Option) *Service {
	s := &Service{
		store:          store,
		creds:          creds,
		gw:             gw,
		now:            time.Now,
		gatewayTimeout: alipay.DefaultTimeout,
		leaseMargin:    DefaultLeaseMargin,
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Voucher is the reply of a successful create.
type Voucher struct {
	OutOrderNo   string `json:"out_order_no"`
	OutRequestNo string `json:"out_request_no"`
	CodeType     string `json:"code_type"`
	CodeValue    string `json:"code_value"`
	CodeURL      string `json:"code_url"`
	Status       string `json:"status"`
}

// Created is the result of CreateVoucher. Replayed is also set when the error is a
// replayed business error.
type Created struct {
	Voucher  *Voucher
	Replayed bool
}

// errNoOwner: a create without a caller (a wiring bug).
var errNoOwner = errors.New("preauth: create voucher without an owner")

// CreateVoucher issues (or replays) the voucher for p on behalf of owner. notifyURL is
// sent to Alipay as is. Failures are domain errors (package domain); a replayed
// business error comes with Replayed set.
func (s *Service) CreateVoucher(ctx context.Context, owner string, p *alipay.VoucherCreateParams, notifyURL string) (Created, error) {
	log := domain.Logger(ctx).With("out_order_no", p.OutOrderNo, "out_request_no", p.OutRequestNo)
	if err := p.Validate(); err != nil {
		return Created{}, err
	}
	if owner == "" {
		return Created{}, errNoOwner
	}
	biz, err := p.BizContent()
	if err != nil {
		return Created{}, fmt.Errorf("preauth: biz_content: %w", err)
	}
	creds, err := s.creds.Get(ctx)
	if err == nil {
		err = creds.Validate()
	}
	if err != nil {
		return Created{}, fmt.Errorf("%w: %w", credentials.ErrUnavailable, err)
	}
	// now is read before the time left is measured, so now+lease never passes the
	// deadline.
	now := s.now()
	lease, ok := s.leaseDuration(ctx)
	if !ok {
		// Taking a lease we cannot use would only block the retry.
		log.Warn("too little time left to call alipay")
		return Created{}, fmt.Errorf("preauth: too little time left: %w", domain.ErrNotSent)
	}
	res, err := s.store.BeginVoucher(ctx, orders.VoucherBegin{
		OutOrderNo:   p.OutOrderNo,
		OutRequestNo: p.OutRequestNo,
		Owner:        owner,
		OrderHash:    p.OrderHash(),
		RequestHash:  p.CanonicalHash(),
		Amount:       p.Amount,
		OrderTitle:   p.OrderTitle,
		PayeeUserID:  p.PayeeUserID,
		Now:          now,
		LeaseUntil:   now.Add(lease),
		BizContent:   biz,
		NotifyURL:    notifyURL,
		PayBy:        now.Add(payTimeout(p.PayTimeout)),
	})
	if err != nil {
		return Created{}, storeError("begin voucher", err)
	}
	switch res.Outcome {
	case orders.VoucherAcquired:
		return s.issue(ctx, log, creds, p, biz, notifyURL, res.Token, now.Add(lease))
	case orders.VoucherReplay:
		log.Info("voucher replayed", "state", string(res.Request.State))
		return replay(p, res.Request)
	case orders.VoucherInProgress:
		return Created{}, &domain.InProgress{RetryAfter: res.LeaseUntil.Sub(now)}
	case orders.VoucherConflict:
		return Created{}, &domain.Conflict{Code: domain.CodeIdempotencyConflict,
			Message: "out_order_no or out_request_no was already used with other parameters"}
	case orders.VoucherAlreadyAuthorized:
		return Created{}, domain.ErrAlreadyAuthorized
	case orders.VoucherOrderClosed:
		return Created{}, &domain.Conflict{Code: domain.CodeIdempotencyConflict,
			Message: "the order is closed; use a new out_order_no"}
	}
	return Created{}, fmt.Errorf("preauth: unexpected begin outcome %q", res.Outcome)
}

// leaseDuration is how long the voucher request is leased: until the request's
// deadline (in Lambda, the function's) but never longer than the gateway timeout plus
// the margin to record the outcome. False when the time left after the margin is less
// than min(gateway timeout, 1s): too little for a gateway call. Durations, not
// instants, so an injected clock and the real deadline do not mix.
func (s *Service) leaseDuration(ctx context.Context) (time.Duration, bool) {
	d := s.gatewayTimeout + s.leaseMargin
	if dl, ok := ctx.Deadline(); ok {
		d = min(d, time.Until(dl))
	}
	if d-s.leaseMargin < min(s.gatewayTimeout, maxMinCall) {
		return 0, false
	}
	return d, true
}

// errNoTimeLeft: the lease had too little left for a gateway call, so none was sent.
var errNoTimeLeft = errors.New("preauth: too little of the lease left to call alipay")

// callBudget is how long the gateway call may take: until the lease expiry minus the
// margin that records its outcome, read on the service's clock (the one the lease was
// written with), never more than the gateway timeout. Not positive: nothing is left.
func (s *Service) callBudget(leaseUntil time.Time) time.Duration {
	return min(leaseUntil.Add(-s.leaseMargin).Sub(s.now()), s.gatewayTimeout)
}

// issue calls the gateway under the lease, records the outcome and builds the reply.
func (s *Service) issue(ctx context.Context, log *slog.Logger, creds *alipay.Credentials, p *alipay.VoucherCreateParams,
	biz, notifyURL, token string, leaseUntil time.Time) (Created, error) {
	// The call's budget is measured from now, not from when the lease was taken: the
	// store write in between (or anything else) already spent part of the lease, and
	// the outcome must still be recorded inside it.
	var reply *alipay.Reply
	err := errNoTimeLeft
	if budget := s.callBudget(leaseUntil); budget > 0 {
		callCtx, cancel := context.WithTimeout(ctx, budget)
		reply, err = s.gw.Execute(callCtx, creds, alipay.MethodVoucherCreate, biz, alipay.CallOptions{
			NotifyURL: notifyURL,
			Refresh:   s.creds.Refresh,
		})
		cancel()
	}
	var n *alipay.VoucherCreateResult
	if err == nil {
		// A node that does not decode, or a validly signed node about another request
		// (replayed by someone), says nothing about ours: an unknown outcome.
		n, err = alipay.DecodeReply[alipay.VoucherCreateResult](reply, p)
	}

	out := orders.VoucherOutcome{State: orders.RequestUnknown}
	var be *alipay.BusinessError
	switch {
	case err == nil:
		if n.CodeValue == "" {
			log.Warn("voucher reply without code_value: outcome unknown")
			break
		}
		out = orders.VoucherOutcome{State: orders.RequestIssued, CodeType: n.CodeType, CodeValue: n.CodeValue, CodeURL: n.CodeURL}
	case errors.As(err, &be) && !be.Configuration():
		out = orders.VoucherOutcome{State: orders.RequestBusinessError, Code: be.Code, SubCode: be.SubCode, SubMsg: be.SubMsg}
		log.Info("alipay refused the voucher", "code", be.Code, "sub_code", be.SubCode)
	case errors.As(err, &be):
		// Our or the merchant's configuration, not a refusal of this voucher: recorded
		// as unknown so that a retry after the fix goes through.
		log.Error("alipay rejected the call for a configuration reason", "code", be.Code, "sub_code", be.SubCode, "sub_msg", be.SubMsg)
	case errors.Is(err, alipay.ErrUnknownOutcome):
		log.Warn("alipay outcome unknown", "error", err.Error())
	default:
		log.Error("alipay call not sent", "error", err.Error())
	}

	if err := s.complete(ctx, p, token, out); err != nil {
		if errors.Is(err, orders.ErrLeaseLost) {
			log.Warn("voucher lease lost before the outcome was recorded", "state", string(out.State), "error", err.Error())
			return Created{}, err
		}
		log.Error("recording the voucher outcome failed", "state", string(out.State), "error", err.Error())
		// The request stays leased until then; an earlier retry would only get 409.
		return Created{}, domain.WithRetryAfter(storeError("complete voucher", err), leaseUntil.Sub(s.now()))
	}
	switch out.State {
	case orders.RequestIssued:
		log.Info("voucher issued")
		return Created{Voucher: voucher(p, out.CodeType, out.CodeValue, out.CodeURL)}, nil
	case orders.RequestBusinessError:
		return Created{}, businessError(out.Code, out.SubCode, out.SubMsg)
	}
	recordUnknown(orders.OpVoucher)
	return Created{}, fmt.Errorf("preauth: voucher not confirmed: %w", alipay.ErrUnknownOutcome)
}

// complete records the outcome. The write must happen even if the caller went away
// meanwhile, so it keeps ctx's values but not its cancellation, bounded by the margin.
func (s *Service) complete(ctx context.Context, p *alipay.VoucherCreateParams, token string, out orders.VoucherOutcome) error {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.leaseMargin)
	defer cancel()
	out.Now = s.now()
	return s.store.CompleteVoucher(cctx, p.OutOrderNo, p.OutRequestNo, token, out)
}

func replay(p *alipay.VoucherCreateParams, r orders.VoucherRequest) (Created, error) {
	switch r.State {
	case orders.RequestIssued:
		return Created{Voucher: voucher(p, r.CodeType, r.CodeValue, r.CodeURL), Replayed: true}, nil
	case orders.RequestBusinessError:
		return Created{Replayed: true}, businessError(r.Code, r.SubCode, r.SubMsg)
	}
	return Created{}, fmt.Errorf("preauth: replay of a request in state %q", r.State)
}

func voucher(p *alipay.VoucherCreateParams, codeType, codeValue, codeURL string) *Voucher {
	return &Voucher{
		OutOrderNo:   p.OutOrderNo,
		OutRequestNo: p.OutRequestNo,
		CodeType:     codeType,
		CodeValue:    codeValue,
		CodeURL:      codeURL,
		Status:       StatusCodeIssued,
	}
}

// businessError is Alipay's recorded refusal, as the gateway reported it.
func businessError(code, subCode, subMsg string) error {
	return &alipay.BusinessError{Code: code, SubCode: subCode, SubMsg: subMsg}
}

// storeError turns a store refusal this slice can explain into its own words; the rest
// is returned as is (wrapped with op, for the log).
func storeError(op string, err error) error {
	if errors.Is(err, orders.ErrLimit) {
		return &domain.Conflict{Code: domain.CodeIdempotencyConflict,
			Message: "the order has too many voucher requests; use a new out_order_no"}
	}
	return fmt.Errorf("preauth: %s: %w", op, err)
}

// GetOrder returns the caller's order. An order of another owner is reported as not
// found, so its existence does not leak.
func (s *Service) GetOrder(ctx context.Context, owner, outOrderNo string) (*Order, error) {
	if err := alipay.CheckOutOrderNo("out_order_no", outOrderNo); err != nil {
		return nil, err
	}
	o, err := s.store.GetPreAuthOrder(ctx, outOrderNo)
	switch {
	case err != nil:
		return nil, storeError("get order", err)
	case owner == "" || o.Owner != owner:
		return nil, orders.ErrNotFound
	}
	return orderView(o), nil
}

// Reconciliation is what Alipay knows about one voucher request.
type Reconciliation struct {
	// State is the request's state in our store.
	State orders.RequestState
	// Exists: Alipay knows the (out_order_no, out_request_no) operation, i.e. the voucher
	// was created. The query does not return its code_value.
	Exists bool
	// Set when Exists.
	Status        alipay.FundAuthStatus // INIT (issued, not paid), SUCCESS (frozen) or CLOSED
	OperationType alipay.FundAuthOperationType
	AuthNo        string
	OperationID   string
	OutRequestNo  string
	Amount        alipay.Amount
	GmtTrans      time.Time
	// The freeze's payer (the capture needs it, L1.2); one of the two.
	PayerUserID, PayerOpenID string
	// The order-level snapshot, when the reply has it (HasTotals).
	HasTotals                                  bool
	TotalFreeze, TotalUnfreeze, TotalPay, Rest alipay.Amount
}

// notExistSubCodes are the detail query's "no such operation" answers.
var notExistSubCodes = map[string]bool{
	"AUTH_ORDER_NOT_EXIST":     true,
	"AUTH_OPERATION_NOT_EXIST": true,
	"ORDER_NOT_EXIST":          true,
}

// Reconcile asks Alipay (alipay.fund.auth.operation.detail.query) about a voucher
// request whose outcome is unknown. It changes nothing: the query does not return the
// code_value, so even when Alipay knows the voucher, the way to settle the request is to
// retry the create with the same out_request_no, which Alipay answers with the same
// code. What Reconcile adds is whether that is still worth doing: SUCCESS means the
// buyer already paid (a fund_auth_freeze notice is due or was missed), CLOSED that the
// voucher expired. A business error other than "not found" and every unknown gateway
// outcome are returned as errors.
func (s *Service) Reconcile(ctx context.Context, outOrderNo, outRequestNo string) (*Reconciliation, error) {
	if err := alipay.CheckOutOrderNo("out_order_no", outOrderNo); err != nil {
		return nil, err
	}
	if err := alipay.CheckOutOrderNo("out_request_no", outRequestNo); err != nil {
		return nil, err
	}
	o, err := s.store.GetPreAuthOrder(ctx, outOrderNo)
	if err != nil {
		return nil, fmt.Errorf("preauth: reconcile out_order_no %s: %w", outOrderNo, err)
	}
	req, ok := o.Requests[outRequestNo]
	if !ok {
		return nil, fmt.Errorf("preauth: reconcile: out_request_no %s on out_order_no %s: %w", outRequestNo, outOrderNo, orders.ErrNotFound)
	}
	creds, err := s.creds.Get(ctx)
	if err != nil {
		return nil, fmt.Errorf("preauth: reconcile: %w", err)
	}
	res := &Reconciliation{State: req.State}
	q := &alipay.FundAuthDetailQuery{OutOrderNo: outOrderNo, OutRequestNo: outRequestNo}
	n, err := alipay.Call[alipay.FundAuthDetailResult](ctx, s.gw, creds, q, alipay.CallOptions{Refresh: s.creds.Refresh})
	var be *alipay.BusinessError
	if errors.As(err, &be) && !be.Configuration() && notExistSubCodes[be.SubCode] {
		return res, nil
	}
	if err != nil {
		return nil, fmt.Errorf("preauth: reconcile out_request_no %s: %w", outRequestNo, err)
	}
	switch st := alipay.FundAuthStatus(n.Status); st {
	case alipay.FundAuthStatusInit, alipay.FundAuthStatusSuccess, alipay.FundAuthStatusClosed:
		res.Status = st
	default:
		return nil, fmt.Errorf("preauth: reconcile: unknown operation status %q", n.Status)
	}
	if n.Amount != "" {
		if res.Amount, err = alipay.ParseAmount(n.Amount); err != nil {
			return nil, fmt.Errorf("preauth: reconcile: amount: %w", err)
		}
	}
	res.Exists = true
	res.OperationType = alipay.FundAuthOperationType(n.OperationType)
	res.AuthNo, res.OperationID, res.OutRequestNo = n.AuthNo, n.OperationID, n.OutRequestNo
	res.PayerUserID, res.PayerOpenID = n.PayerUserID, n.PayerOpenID
	if n.GmtTrans != "" {
		if res.GmtTrans, err = alipay.ParseTimestamp(n.GmtTrans); err != nil {
			return nil, fmt.Errorf("preauth: reconcile: gmt_trans: %w", err)
		}
	}
	if n.TotalFreezeAmount != "" {
		amounts := []struct {
			v   string
			dst *alipay.Amount
		}{{n.TotalFreezeAmount, &res.TotalFreeze}, {n.TotalUnfreezeAmount, &res.TotalUnfreeze}, {n.TotalPayAmount, &res.TotalPay}, {n.RestAmount, &res.Rest}}
		for _, a := range amounts {
			if a.v == "" {
				continue // absent: nothing moved that way
			}
			if *a.dst, err = alipay.ParseAmount(a.v); err != nil {
				return nil, fmt.Errorf("preauth: reconcile: order totals: %w", err)
			}
		}
		res.HasTotals = true
	}
	domain.Logger(ctx).Info("voucher request reconciled", "out_order_no", outOrderNo, "out_request_no", outRequestNo,
		"state", string(req.State), "alipay_status", n.Status)
	return res, nil
}
