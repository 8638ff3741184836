package agreements

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
	"github.com/alipay-serverless/alipay-serverless/shared/domain"
	"github.com/alipay-serverless/alipay-serverless/shared/metrics"
	"github.com/alipay-serverless/alipay-serverless/shared/opcall"
	"github.com/alipay-serverless/alipay-serverless/shared/orders"
)

// A charge (商家扣款, L9.1) is an operation of the agreement: begun in the store with the
// agreement's rules decided in the same conditional write (orders.checkCharge: period k,
// limits, window), sent only while leased, completed with the verified outcome. An
// identical retry of an UNKNOWN charge asks alipay.trade.query first and resends only
// when Alipay has no such trade (Alipay deduplicates on out_trade_no).

// Params kept on a charge operation so that a resend without the request (the
// reconciler) is the identical request.
const (
	paramSubject   = "subject"
	paramNotifyURL = "notify_url"
)

// Charge is the outcome of Charge.
type Charge struct {
	Agreement *orders.Agreement // as stored after the charge
	Op        orders.Operation
	Period    int
	Replayed  bool
}

func chargeRef(externalAgreementNo, outTradeNo string) orders.OpRef {
	return orders.OpRef{Parent: orders.ParentAgreement, OrderNo: externalAgreementNo, Kind: orders.OpCharge, RequestNo: outTradeNo}
}

// Charge charges the agreement p.Amount (scope settle, checked by the route): at most
// once per out_trade_no, within the agreement's rules.
func (s *Service) Charge(ctx context.Context, externalAgreementNo string, p *alipay.ChargeParams, notifyURL string) (*Charge, error) {
	if err := alipay.CheckExternalAgreementNo("external_agreement_no", externalAgreementNo); err != nil {
		return nil, err
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return s.charge(ctx, externalAgreementNo, p.OutTradeNo, p.Amount, p.Subject, notifyURL, p.CanonicalHash())
}

// ConfirmCharge settles a charge left UNKNOWN (or abandoned PENDING) without a request:
// the reconciler's step, the same as an identical retry (query first, resend only when
// Alipay has no such trade).
func (s *Service) ConfirmCharge(ctx context.Context, externalAgreementNo, outTradeNo string) (*Charge, error) {
	a, err := s.store.GetAgreement(ctx, externalAgreementNo)
	if err != nil {
		return nil, fmt.Errorf("agreements: confirm charge: %w", err)
	}
	op, ok := a.Ops[string(orders.OpCharge)+":"+outTradeNo]
	if !ok {
		return nil, fmt.Errorf("agreements: charge %s of %s: %w", outTradeNo, externalAgreementNo, orders.ErrNotFound)
	}
	return s.charge(ctx, externalAgreementNo, outTradeNo, op.Amount, op.Params[paramSubject], op.Params[paramNotifyURL], op.ParamsHash)
}

func (s *Service) charge(ctx context.Context, ext, outTradeNo string, amount alipay.Amount, subject, notifyURL, hash string) (*Charge, error) {
	log := domain.Logger(ctx).With("external_agreement_no", ext, "out_trade_no", outTradeNo)
	creds, err := s.credentials(ctx)
	if err != nil {
		return nil, err
	}
	a, err := s.store.GetAgreement(ctx, ext)
	if err != nil {
		return nil, fmt.Errorf("agreements: charge: %w", err)
	}
	now := s.now()
	lease, ok := s.leaseDuration(ctx)
	if !ok {
		log.Warn("too little time left to call alipay")
		return nil, fmt.Errorf("agreements: too little time left: %w", domain.ErrNotSent)
	}
	ref := chargeRef(ext, outTradeNo)
	res, err := s.store.BeginOperation(ctx, orders.OpBegin{
		OpRef: ref, Owner: a.Owner, ParamsHash: hash, Amount: amount,
		Params: map[string]string{paramSubject: subject, paramNotifyURL: notifyURL},
		Now:    now, LeaseUntil: now.Add(lease), ChargeWindowDays: s.windowDays,
	})
	if err != nil {
		if errors.Is(err, orders.ErrLimit) {
			return nil, &domain.Conflict{Code: domain.CodeIdempotencyConflict, Message: "the agreement has too many charges"}
		}
		return nil, fmt.Errorf("agreements: begin charge: %w", err)
	}
	switch res.Outcome {
	case orders.OpAcquired:
		c := send{ref: ref, agreementNo: a.AgreementNo, amount: amount, subject: subject, notifyURL: notifyURL}
		op, err := s.call(ctx, log, creds, c, res, now.Add(lease))
		if err != nil {
			return &Charge{Op: op}, err
		}
		return s.result(ctx, ext, op, false)
	case orders.OpReplay:
		log.Info("charge replayed", "state", string(res.Op.State))
		if res.Op.State == orders.OpFailed {
			return &Charge{Op: res.Op, Replayed: true}, businessError(res.Op)
		}
		return s.result(ctx, ext, res.Op, true)
	case orders.OpInProgress:
		return nil, &domain.InProgress{RetryAfter: res.LeaseUntil.Sub(now)}
	case orders.OpConflict:
		return nil, &domain.Conflict{Code: domain.CodeIdempotencyConflict, Field: "out_trade_no",
			Message: "out_trade_no was already used with other parameters, or by another record"}
	case orders.OpNotAllowed:
		return nil, &domain.Conflict{Code: domain.CodeAgreementNotActive, Message: "the agreement is " + res.Status + ", not NORMAL: it cannot be charged"}
	case orders.OpRefused:
		return nil, refusal(res.Refusal, now, s.windowDays)
	}
	return nil, fmt.Errorf("agreements: unexpected begin outcome %q", res.Outcome)
}

// refusal is the API's error for a broken rule, naming the rule (and the window's dates).
func refusal(r *orders.ChargeRefusal, now time.Time, windowDays int) error {
	if r == nil {
		return errors.New("agreements: refused without a rule")
	}
	if r.Code == orders.CodeOutsideChargeWindow {
		msg := fmt.Sprintf("period %d cannot be charged now", r.Period)
		if !r.From.IsZero() {
			msg = fmt.Sprintf("today (%s, China date) is outside the charge window of period %d: %s to %s",
				now.In(alipay.ChinaTime).Format(dateLayout), r.Period, r.From.Format(dateLayout), r.To.Format(dateLayout))
		}
		return &domain.ChargeRefused{Code: domain.CodeOutsideChargeWindow, Message: msg}
	}
	msgs := map[string]string{
		"total_payments": "the agreement's total_payments are all made",
		"total_amount":   "this charge would exceed the agreement's total_amount",
		"single_amount":  "amount exceeds the agreement's single_amount",
		"period":         fmt.Sprintf("a charge for period %d is already in progress or unknown; retry it with its own out_trade_no", r.Period),
	}
	return &domain.ChargeRefused{Code: domain.CodeChargeLimitExceeded, Field: r.Field, Message: msgs[r.Field]}
}

const dateLayout = "2006-01-02"

func businessError(op orders.Operation) error {
	return &alipay.BusinessError{Code: op.Code, SubCode: op.SubCode, SubMsg: op.SubMsg}
}

// result reads the agreement after the charge for the reply.
func (s *Service) result(ctx context.Context, ext string, op orders.Operation, replayed bool) (*Charge, error) {
	a, err := s.store.GetAgreement(ctx, ext)
	if err != nil {
		return nil, fmt.Errorf("agreements: read after charge: %w", err)
	}
	k, _ := strconv.Atoi(op.Params[orders.ParamPeriod])
	if stored, ok := a.Ops[string(op.Kind)+":"+op.RequestNo]; ok {
		op = stored
	}
	return &Charge{Agreement: a, Op: op, Period: k, Replayed: replayed}, nil
}

// leaseDuration: until the request's deadline, at most two gateway calls (query, then
// the resend) plus the margin to record the outcome; false when too little is left.
func (s *Service) leaseDuration(ctx context.Context) (time.Duration, bool) {
	d := 2*s.gatewayTimeout + s.leaseMargin
	if dl, ok := ctx.Deadline(); ok {
		d = min(d, time.Until(dl))
	}
	if d-s.leaseMargin < min(s.gatewayTimeout, maxMinCall) {
		return 0, false
	}
	return d, true
}

// send is one charge's request.
type send struct {
	ref         orders.OpRef
	agreementNo string
	amount      alipay.Amount
	subject     string
	notifyURL   string
}

// call asks (on a retry) and sends under the lease, then records the outcome (opcall). A
// verified refusal is returned as the business error; an unknown outcome as
// alipay.ErrUnknownOutcome (503, retry with the same out_trade_no).
func (s *Service) call(ctx context.Context, log *slog.Logger, creds *alipay.Credentials, c send, res orders.OpBeginResult,
	leaseUntil time.Time) (orders.Operation, error) {
	out, err := opcall.Run(ctx, log, s.store, creds, s.chargeCall(c),
		opcall.Lease{Ref: c.ref, Token: res.Token, Until: leaseUntil, Margin: s.leaseMargin}, res.Retried, s.now)
	if err != nil {
		if errors.Is(err, orders.ErrLeaseLost) {
			log.Warn("charge lease lost before the outcome was recorded", "state", string(out.State), "error", err.Error())
			return orders.Operation{}, err
		}
		log.Error("recording the charge outcome failed", "state", string(out.State), "error", err.Error())
		return orders.Operation{}, domain.WithRetryAfter(fmt.Errorf("agreements: complete charge: %w", err), leaseUntil.Sub(s.now()))
	}
	op := res.Op
	op.State, op.Result, op.Code, op.SubCode, op.SubMsg = out.State, out.Result, out.Code, out.SubCode, out.SubMsg
	switch out.State {
	case orders.OpSucceeded:
		log.Info("charge succeeded", "period", op.Params[orders.ParamPeriod])
		return op, nil
	case orders.OpFailed:
		return op, businessError(op)
	}
	metrics.Count(metrics.OperationsUnknown, 1, map[string]string{"Kind": string(orders.OpCharge)})
	return op, fmt.Errorf("agreements: charge not confirmed: %w", alipay.ErrUnknownOutcome)
}

// chargeCall is what a charge asks Alipay: alipay.trade.query by its out_trade_no, and
// alipay.trade.pay with agreement_params (L9.1); each call bounded by the gateway timeout.
func (s *Service) chargeCall(c send) opcall.Call {
	return opcall.Call{
		Method: alipay.MethodTradePay,
		Query: func(ctx context.Context, creds *alipay.Credentials) (*orders.OpOutcome, error) {
			qctx, cancel := context.WithTimeout(ctx, s.gatewayTimeout)
			defer cancel()
			return s.queryCharge(qctx, creds, c.ref.RequestNo, c.amount)
		},
		Send: func(ctx context.Context, creds *alipay.Credentials) (*orders.OpOutcome, error) {
			req := &alipay.TradePay{OutTradeNo: c.ref.RequestNo, TotalAmount: c.amount, Subject: c.subject, ProductCode: s.productCode,
				AgreementParams: &alipay.AgreementParams{AgreementNo: c.agreementNo}}
			sctx, cancel := context.WithTimeout(ctx, s.gatewayTimeout)
			defer cancel()
			n, err := alipay.Call[alipay.TradePayResult](sctx, s.gw, creds, req, alipay.CallOptions{NotifyURL: c.notifyURL, Refresh: s.creds.Refresh})
			if err != nil {
				// ACQ.CYCLE_PAY_* / ACQ.AGREEMENT_* refusals are recorded as the charge's; an
				// agreement Alipay says is gone is marked unusable by the store (L9.1).
				return nil, err
			}
			if n.TradeNo == "" {
				return nil, &alipay.UnknownOutcomeError{Reason: "trade.pay reply without trade_no"}
			}
			out := succeeded(n.TradeNo, n.GmtPayment)
			return &out, nil
		},
	}
}

func succeeded(tradeNo, gmtPayment string) orders.OpOutcome {
	r := map[string]string{orders.ResultTradeNo: tradeNo}
	if gmtPayment != "" {
		r["gmt_payment"] = gmtPayment
	}
	return orders.OpOutcome{State: orders.OpSucceeded, Result: r}
}

// queryCharge asks alipay.trade.query about a charge's out_trade_no (L8): nil, nil when
// Alipay has no such trade.
func (s *Service) queryCharge(ctx context.Context, creds *alipay.Credentials, outTradeNo string, amount alipay.Amount) (*orders.OpOutcome, error) {
	q, err := alipay.QueryTrade(ctx, s.gw, creds, outTradeNo, alipay.CallOptions{Refresh: s.creds.Refresh})
	if err != nil || q == nil {
		return nil, err
	}
	return orders.PaymentOutcome(q, amount, nil)
}
