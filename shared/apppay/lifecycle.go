package apppay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
	"github.com/alipay-serverless/alipay-serverless/shared/credentials"
	"github.com/alipay-serverless/alipay-serverless/shared/domain"
	"github.com/alipay-serverless/alipay-serverless/shared/metrics"
	"github.com/alipay-serverless/alipay-serverless/shared/opcall"
	"github.com/alipay-serverless/alipay-serverless/shared/orders"
)

// After the payment (docs/design.md, the lifecycle contract): refunds, close and sync.
// Every call that moves money is an operation of the order (orders.OpSet): a refund is
// keyed by its out_request_no, its amount reserved against what was paid in the same
// conditional write, leased while Alipay is called, completed with the verified outcome.

// Gateway calls the Alipay gateway (implemented by *alipay.Client).
type Gateway interface {
	Execute(ctx context.Context, c *alipay.Credentials, method, bizContent string, opts alipay.CallOptions) (*alipay.Reply, error)
}

// RefundConfirmDelay: a refund not proven by its reply (fund_change other than Y) is
// confirmed with the refund query no earlier than this after it was sent; an earlier
// query can miss a refund that lands later (L5).
const RefundConfirmDelay = 10 * time.Second

// DefaultLeaseMargin is the time kept after the gateway calls to record the outcome.
const DefaultLeaseMargin = 2 * time.Second

// closeRequestNo is the operation key of an order's close: a close has no request
// number of its own, and one order has one close (retried, never repeated).
const closeRequestNo = "close"

// WithGateway sets the gateway client the refund, close and sync calls use.
func WithGateway(gw Gateway) Option { return func(s *Service) { s.gw = gw } }

// WithGatewayTimeout bounds one gateway call (ALIPAY_GATEWAY_TIMEOUT); non-positive
// keeps alipay.DefaultTimeout.
func WithGatewayTimeout(d time.Duration) Option {
	return func(s *Service) {
		if d > 0 {
			s.gatewayTimeout = d
		}
	}
}

// WithDefaultTimeoutExpress is the timeout_express added to an order that sets neither
// time_expire nor timeout_express (APP_PAY_TIMEOUT_EXPRESS), so every order has a known
// expiry; empty adds none.
func WithDefaultTimeoutExpress(te string) Option { return func(s *Service) { s.timeoutExpress = te } }

// RefundStatus is the refund reply's status.
type RefundStatus string

const (
	RefundSucceeded RefundStatus = "SUCCEEDED" // 200: Alipay proved it (fund_change Y or the refund query)
	RefundPending   RefundStatus = "PENDING"   // 202: sent, not confirmed yet; retry after RetryAfter
)

// Refund is the outcome of Refund and ConfirmRefund.
type Refund struct {
	Order      *orders.AppPayOrder // as stored after the refund
	Op         orders.Operation
	Status     RefundStatus
	RetryAfter time.Duration // PENDING
	Replayed   bool
}

// errNoGateway: the slice was wired without a gateway client (a wiring bug).
var errNoGateway = errors.New("apppay: no gateway configured")

func refundRef(outTradeNo, outRequestNo string) orders.OpRef {
	return orders.OpRef{Parent: orders.ParentAppPay, OrderNo: outTradeNo, Kind: orders.OpRefund, RequestNo: outRequestNo}
}

func closeRef(outTradeNo string) orders.OpRef {
	return orders.OpRef{Parent: orders.ParentAppPay, OrderNo: outTradeNo, Kind: orders.OpClose, RequestNo: closeRequestNo}
}

func opOf(o *orders.AppPayOrder, r orders.OpRef) (orders.Operation, bool) {
	for _, op := range o.Ops {
		if op.Kind == r.Kind && op.RequestNo == r.RequestNo {
			return op, true
		}
	}
	return orders.Operation{}, false
}

// Refund makes (or replays, or settles) one refund of a paid order: at most once per
// out_request_no, never beyond what was paid. Scope settle is checked by the route.
func (s *Service) Refund(ctx context.Context, outTradeNo string, p *alipay.RefundParams) (*Refund, error) {
	if err := alipay.CheckOutTradeNo("out_trade_no", outTradeNo); err != nil {
		return nil, err
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return s.refund(ctx, outTradeNo, p.OutRequestNo, p.RefundAmount, p.RefundReason, p.CanonicalHash(), false)
}

// ConfirmRefund settles a refund without an HTTP request (the reconciler): a SUCCEEDED or
// FAILED refund is returned as stored; an unconfirmed one is asked about with the
// refund query — the question an identical retry asks first — once RefundConfirmDelay
// has passed since it was sent, and the answer recorded. It never sends the refund
// itself (money moves only on a caller's request): one Alipay does not have, and never
// acknowledged, is recorded FAILED with sub_code NOT_CREATED (its amount released),
// which an identical retry takes up and sends; one Alipay acknowledged (fund_change N)
// stays unconfirmed. Before the delay it is returned PENDING with the time left,
// nothing asked.
func (s *Service) ConfirmRefund(ctx context.Context, outTradeNo, outRequestNo string) (*Refund, error) {
	o, err := s.store.GetAppPayOrder(ctx, outTradeNo)
	if err != nil {
		return nil, fmt.Errorf("apppay: confirm refund: %w", err)
	}
	op, ok := opOf(o, refundRef(outTradeNo, outRequestNo))
	if !ok {
		return nil, fmt.Errorf("apppay: refund %s of %s: %w", outRequestNo, outTradeNo, orders.ErrNotFound)
	}
	return s.refund(ctx, outTradeNo, outRequestNo, op.Amount, op.Result[resultRefundReason], op.ParamsHash, true)
}

// resultRefundReason keeps the reason of an unconfirmed refund, so that a resend by
// ConfirmRefund (which has no request body) is the identical request.
const resultRefundReason = "refund_reason"

// refund runs one refund attempt; settleOnly (ConfirmRefund) asks and records, never sends.
func (s *Service) refund(ctx context.Context, outTradeNo, outRequestNo string, amount alipay.Amount, reason, hash string, settleOnly bool) (*Refund, error) {
	log := domain.Logger(ctx).With("out_trade_no", outTradeNo, "out_request_no", outRequestNo)
	creds, err := s.creds.Get(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", credentials.ErrUnavailable, err)
	}
	if s.gw == nil {
		return nil, errNoGateway
	}
	o, err := s.store.GetAppPayOrder(ctx, outTradeNo)
	if err != nil {
		return nil, fmt.Errorf("apppay: refund: %w", err)
	}
	ref := refundRef(outTradeNo, outRequestNo)
	now := s.now()
	// An unconfirmed refund is not asked about before its delay: no lease is taken.
	prev, known := opOf(o, ref)
	if known && prev.State == orders.OpUnknown && prev.ParamsHash == hash && prev.Amount == amount {
		if wait := sentAt(prev).Add(RefundConfirmDelay).Sub(now); wait > 0 {
			return s.pending(ctx, o.OutTradeNo, prev, wait)
		}
	}
	// Two gateway calls at most under one lease: the query, then the resend.
	lease, ok := s.leaseDuration(ctx, 2)
	if !ok {
		log.Warn("too little time left to call alipay")
		return nil, fmt.Errorf("apppay: refund: %w", domain.ErrNotSent)
	}
	res, err := s.store.BeginOperation(ctx, orders.OpBegin{OpRef: ref, Owner: o.Owner, ParamsHash: hash, Amount: amount,
		Now: now, LeaseUntil: now.Add(lease)})
	if err != nil {
		return nil, opStoreError("begin refund", err)
	}
	switch res.Outcome {
	case orders.OpAcquired:
		req := alipay.TradeRefund{OutTradeNo: outTradeNo, RefundAmount: amount, OutRequestNo: outRequestNo, RefundReason: reason}
		var earlier *orders.Operation
		if known {
			earlier = &prev
		}
		return s.runRefund(ctx, log, creds, req, res, now, now.Add(lease), earlier, settleOnly)
	case orders.OpReplay:
		r, err := s.replayRefund(ctx, outTradeNo, res.Op)
		if r != nil {
			r.Replayed = true
		}
		return r, err
	case orders.OpInProgress:
		return nil, &domain.InProgress{RetryAfter: res.LeaseUntil.Sub(now)}
	case orders.OpConflict:
		return nil, &domain.Conflict{Code: domain.CodeIdempotencyConflict, Field: "out_request_no",
			Message: "out_request_no was already used with other parameters on this order; use a new out_request_no"}
	case orders.OpAmountExceeded:
		return nil, &domain.AmountExceeded{Field: "refund_amount", Available: res.Available}
	case orders.OpNotAllowed:
		return nil, notRefundable(orders.TradeStatus(res.Status))
	}
	return nil, fmt.Errorf("apppay: unexpected begin outcome %q", res.Outcome)
}

// runRefund makes the leased refund attempt (opcall) and answers it; earlier is the
// refund as stored before the attempt, if it was.
func (s *Service) runRefund(ctx context.Context, log *slog.Logger, creds *alipay.Credentials, req alipay.TradeRefund,
	res orders.OpBeginResult, now, leaseUntil time.Time, earlier *orders.Operation, settleOnly bool) (*Refund, error) {
	ref := refundRef(req.OutTradeNo, req.OutRequestNo)
	// A refund Alipay was found not to have (NOT_CREATED) is sent again at once: the
	// query has been asked, and Alipay deduplicates on out_request_no. Any other retry
	// may have reached Alipay: it asks first, and resends only what Alipay lacks.
	notCreated := earlier != nil && earlier.State == orders.OpFailed && earlier.SubCode == orders.SubCodeNotCreated
	ask := res.Retried && !notCreated
	c := &refundCall{s: s, log: log, req: req, sent: now, acked: earlier != nil && earlier.Result[orders.ResultFundChange] == "N"}
	if (ask || settleOnly) && earlier != nil {
		c.sent = sentAt(*earlier)
	}
	call := opcall.Call{Method: alipay.MethodTradeRefund, Query: c.query, Send: c.send, Timeout: s.gatewayTimeout,
		NotBefore: c.sent.Add(RefundConfirmDelay), SettleOnly: settleOnly, Unknown: c.unknown,
		// A first refund's refusal is Alipay's word on it; after a query found nothing, a
		// resend's may come from our own refund landing in between.
		StateRefusal: opcall.StateAskOnResend}
	if c.acked {
		// Acknowledged earlier: the query not finding it yet does not mean it was never made.
		call.Absent = func() orders.OpOutcome {
			log.Warn("refund acknowledged earlier (fund_change N) but not found by the query: still unconfirmed")
			return *c.acknowledged()
		}
	}
	out, err := opcall.Run(ctx, log, s.store, creds, call,
		opcall.Lease{Ref: ref, Token: res.Token, Until: leaseUntil, Margin: s.leaseMargin}, ask, s.now)
	if err != nil {
		log.Error("recording the refund outcome failed", "state", string(out.State), "error", err.Error())
		return nil, domain.WithRetryAfter(opStoreError("complete refund", err), leaseUntil.Sub(s.now()))
	}
	if out.State == orders.OpUnknown && out.Result[orders.ResultFundChange] != "N" && !settleOnly {
		// Not a refund Alipay acknowledged and is still processing: its outcome is unknown.
		recordUnknown(orders.OpRefund)
	}
	return s.refundReply(ctx, log, ref, c.err)
}

// notRefundable explains why an order in status st takes no refund.
func notRefundable(st orders.TradeStatus) error {
	switch st {
	case orders.TradeFinished:
		return &domain.Conflict{Code: domain.CodeOrderNotRefundable, Message: "the order's refund window is over (TRADE_FINISHED)"}
	case orders.TradeClosed:
		return &domain.Conflict{Code: domain.CodeOrderNotPaid, Message: "the order is closed (unpaid, or refunded in full)"}
	}
	return &domain.Conflict{Code: domain.CodeOrderNotPaid, Message: "the order is not paid (" + string(st) + ")"}
}

// sentAt is when an unconfirmed refund was last sent: its recorded sent_at, else its
// last change (never earlier than the send).
func sentAt(op orders.Operation) time.Time {
	if t, err := time.Parse(time.RFC3339Nano, op.Result[orders.ResultSentAt]); err == nil {
		return t
	}
	return op.UpdatedAt
}

func (s *Service) pending(ctx context.Context, outTradeNo string, op orders.Operation, wait time.Duration) (*Refund, error) {
	o, err := s.store.GetAppPayOrder(ctx, outTradeNo)
	if err != nil {
		return nil, fmt.Errorf("apppay: refund: %w", err)
	}
	return &Refund{Order: o, Op: op, Status: RefundPending, RetryAfter: max(wait, time.Second)}, nil
}

// replayRefund gives a settled refund again: SUCCEEDED as such, FAILED as Alipay's
// recorded refusal.
func (s *Service) replayRefund(ctx context.Context, outTradeNo string, op orders.Operation) (*Refund, error) {
	if op.State == orders.OpFailed {
		return &Refund{Op: op}, &alipay.BusinessError{Code: op.Code, SubCode: op.SubCode, SubMsg: op.SubMsg}
	}
	o, err := s.store.GetAppPayOrder(ctx, outTradeNo)
	if err != nil {
		return nil, fmt.Errorf("apppay: refund: %w", err)
	}
	return &Refund{Order: o, Op: op, Status: RefundSucceeded}, nil
}

// refundCall is what one refund attempt's replies mean (opcall.Call's Query, Send and
// Unknown).
type refundCall struct {
	s   *Service
	log *slog.Logger
	req alipay.TradeRefund
	// sent is when the refund was last sent: by this attempt, else by an earlier one.
	sent time.Time
	// err is why the outcome is unknown, when Alipay's word is missing.
	err error
	// acked: Alipay acknowledged the refund earlier (fund_change N); every unconfirmed
	// outcome keeps the mark, so that no later query that misses it can release it.
	acked bool
}

// send calls alipay.trade.refund: SUCCEEDED when the reply proves the refund; accepted
// without proof (fund_change other than Y), UNKNOWN, confirmed by the refund query at
// least RefundConfirmDelay later (L4.2, L5).
func (c *refundCall) send(ctx context.Context, creds *alipay.Credentials) (*orders.OpOutcome, error) {
	c.sent = c.s.now()
	res, err := alipay.Call[alipay.TradeRefundResult](ctx, c.s.gw, creds, &c.req, alipay.CallOptions{Refresh: c.s.refresh})
	if err != nil {
		return nil, err
	}
	if res.Refunded() {
		return &orders.OpOutcome{State: orders.OpSucceeded, Result: refundResult(res, "reply", c.sent)}, nil
	}
	c.log.Info("refund accepted without fund_change Y: confirming later", "fund_change", res.FundChange)
	return c.acknowledged(), nil
}

// query asks alipay.trade.fastpay.refund.query: refunded, SUCCEEDED; no refund data,
// nil (Alipay does not have it); refund_amount without refund_status, not done yet and
// never declared failed (L5). A reply about another out_request_no says nothing.
func (c *refundCall) query(ctx context.Context, creds *alipay.Credentials) (*orders.OpOutcome, error) {
	q := &alipay.RefundQuery{OutTradeNo: c.req.OutTradeNo, OutRequestNo: c.req.OutRequestNo, QueryOptions: []string{"gmt_refund_pay"}}
	r, err := alipay.Call[alipay.RefundQueryResult](ctx, c.s.gw, creds, q, alipay.CallOptions{Refresh: c.s.refresh})
	if err == nil && r.OutRequestNo != "" && r.OutRequestNo != c.req.OutRequestNo {
		err = &alipay.UnknownOutcomeError{Reason: "reply names another request", Err: fmt.Errorf("out_request_no %q", r.OutRequestNo)}
	}
	switch {
	case err != nil:
		return nil, fmt.Errorf("apppay: refund query: %w", asUnknown(err))
	case r.Refunded():
		return &orders.OpOutcome{State: orders.OpSucceeded, Result: queryResult(r, c.sent)}, nil
	case r.Absent():
		return nil, nil
	}
	return c.acknowledged(), nil
}

// unknown is the refund's UNKNOWN outcome when Alipay's word is missing (opcall.Call.Unknown).
func (c *refundCall) unknown(cause error) orders.OpOutcome {
	c.err = cause
	return c.unconfirmed()
}

// unconfirmed keeps what confirming the refund needs: when it was sent, and its reason
// so that a resend by ConfirmRefund (no request body) is the identical request.
func (c *refundCall) unconfirmed() orders.OpOutcome {
	keep := map[string]string{orders.ResultSentAt: c.sent.UTC().Format(time.RFC3339Nano)}
	if c.req.RefundReason != "" {
		keep[resultRefundReason] = c.req.RefundReason
	}
	if c.acked {
		keep[orders.ResultFundChange] = "N"
	}
	return orders.OpOutcome{State: orders.OpUnknown, Result: keep}
}

// acknowledged: Alipay has the refund and has not proven it yet (fund_change N).
func (c *refundCall) acknowledged() *orders.OpOutcome {
	out := c.unconfirmed()
	out.Result[orders.ResultFundChange] = "N"
	return &out
}

// asUnknown: a query that did not answer leaves the refund's outcome unknown; a
// refusal of the query itself says nothing about the refund either.
func asUnknown(err error) error {
	var be *alipay.BusinessError
	if errors.As(err, &be) {
		return &alipay.UnknownOutcomeError{Reason: "refund query refused", Code: be.Code, SubCode: be.SubCode, Err: err}
	}
	return err
}

// refundReply answers a refund attempt once its outcome is recorded: SUCCEEDED 200,
// FAILED the recorded refusal, UNKNOWN 202 PENDING, or missing (the cause) Alipay's word
// the error. The stored state decides: a refund notice may have settled it meanwhile.
func (s *Service) refundReply(ctx context.Context, log *slog.Logger, ref orders.OpRef, missing error) (*Refund, error) {
	o, err := s.store.GetAppPayOrder(ctx, ref.OrderNo)
	if err != nil {
		return nil, fmt.Errorf("apppay: refund: %w", err)
	}
	op, _ := opOf(o, ref)
	switch op.State {
	case orders.OpSucceeded:
		log.Info("refund succeeded", "source", op.Result[orders.ResultSource])
		return &Refund{Order: o, Op: op, Status: RefundSucceeded}, nil
	case orders.OpFailed:
		return &Refund{Order: o, Op: op}, &alipay.BusinessError{Code: op.Code, SubCode: op.SubCode, SubMsg: op.SubMsg}
	}
	if missing != nil {
		return nil, fmt.Errorf("apppay: refund not confirmed: %w", missing)
	}
	wait := sentAt(op).Add(RefundConfirmDelay).Sub(s.now())
	return &Refund{Order: o, Op: op, Status: RefundPending, RetryAfter: max(wait, time.Second)}, nil
}

func refundResult(r *alipay.TradeRefundResult, source string, sent time.Time) map[string]string {
	m := map[string]string{orders.ResultSource: source, orders.ResultSentAt: sent.UTC().Format(time.RFC3339Nano),
		orders.ResultFundChange: r.FundChange}
	put := func(k, v string) {
		if v != "" {
			m[k] = v
		}
	}
	put(orders.ResultTradeNo, r.TradeNo)
	if r.RefundFee > 0 {
		m[orders.ResultRefundFee] = r.RefundFee.String()
	}
	put(orders.ResultGmtRefundPay, r.GmtRefundPay)
	put(orders.ResultBuyerUserID, r.BuyerUserID)
	put(orders.ResultBuyerOpenID, r.BuyerOpenID)
	return m
}

func queryResult(q *alipay.RefundQueryResult, sent time.Time) map[string]string {
	m := map[string]string{orders.ResultSource: "query", orders.ResultSentAt: sent.UTC().Format(time.RFC3339Nano)}
	if q.TradeNo != "" {
		m[orders.ResultTradeNo] = q.TradeNo
	}
	if q.GmtRefundPay != "" {
		m[orders.ResultGmtRefundPay] = q.GmtRefundPay
	}
	return m
}

// leaseDuration: calls gateway calls plus the margin, never past ctx's deadline; false
// when less than one call's worth is left.
func (s *Service) leaseDuration(ctx context.Context, calls int) (time.Duration, bool) {
	d := time.Duration(calls)*s.gatewayTimeout + s.leaseMargin
	if dl, ok := ctx.Deadline(); ok {
		d = min(d, time.Until(dl))
	}
	if d-s.leaseMargin < min(s.gatewayTimeout, time.Second) {
		return 0, false
	}
	return d, true
}

func (s *Service) refresh(ctx context.Context) (*alipay.Credentials, error) {
	if r, ok := s.creds.(interface {
		Refresh(context.Context) (*alipay.Credentials, error)
	}); ok {
		return r.Refresh(ctx)
	}
	return s.creds.Get(ctx)
}

// opStoreError explains the store refusals a caller can act on.
func opStoreError(op string, err error) error {
	if errors.Is(err, orders.ErrLimit) {
		return &domain.Conflict{Code: domain.CodeIdempotencyConflict,
			Message: "the order has too many operations; no further refund can be recorded"}
	}
	return fmt.Errorf("apppay: %s: %w", op, err)
}

// owned returns the order when owner may act on it: "" is the system or a caller with
// scope settle; anyone else only on their own order (another's is not found).
func (s *Service) owned(ctx context.Context, owner, outTradeNo string) (*orders.AppPayOrder, error) {
	if err := alipay.CheckOutTradeNo("out_trade_no", outTradeNo); err != nil {
		return nil, err
	}
	o, err := s.store.GetAppPayOrder(ctx, outTradeNo)
	if err != nil {
		return nil, fmt.Errorf("apppay: %w", err)
	}
	if owner != "" && o.Owner != owner {
		return nil, orders.ErrNotFound
	}
	return o, nil
}

// Sync asks Alipay about the order (alipay.trade.query, L8) and applies the answer
// through the notification transitions (orders.Store.ApplyTrade), so a sync and a
// notification of one event apply it once. ACQ.TRADE_NOT_EXIST (the buyer has not
// submitted the orderStr) leaves the order as it is. owner "" is the system or a caller
// with scope settle: no owner check.
func (s *Service) Sync(ctx context.Context, owner, outTradeNo string) (*orders.AppPayOrder, error) {
	o, err := s.owned(ctx, owner, outTradeNo)
	if err != nil {
		return nil, err
	}
	if s.gw == nil {
		return nil, errNoGateway
	}
	creds, err := s.creds.Get(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", credentials.ErrUnavailable, err)
	}
	if _, err := s.sync(ctx, creds, o); err != nil {
		return nil, err
	}
	return s.store.GetAppPayOrder(ctx, outTradeNo)
}

// sync queries and applies; the bool says Alipay knows the trade.
func (s *Service) sync(ctx context.Context, creds *alipay.Credentials, o *orders.AppPayOrder) (bool, error) {
	log := domain.Logger(ctx).With("out_trade_no", o.OutTradeNo)
	cctx, cancel := context.WithTimeout(ctx, s.gatewayTimeout)
	defer cancel()
	q, err := alipay.Call[alipay.TradeQueryResult](cctx, s.gw, creds, &alipay.TradeQuery{OutTradeNo: o.OutTradeNo},
		alipay.CallOptions{Refresh: s.refresh})
	var be *alipay.BusinessError
	switch {
	case errors.As(err, &be) && be.SubCode == "ACQ.TRADE_NOT_EXIST":
		log.Info("sync: alipay has no trade yet (orderStr not submitted)")
		return false, nil
	case errors.As(err, &be) && !be.Configuration():
		return false, fmt.Errorf("apppay: trade query: %w", asUnknown(err))
	case err != nil:
		return false, fmt.Errorf("apppay: trade query: %w", err)
	}
	e, err := queryEffect(q, s.now())
	if err != nil {
		return true, err
	}
	res, err := s.store.ApplyTrade(ctx, e)
	if err != nil {
		log.Error("sync: alipay's answer does not apply to the order", "trade_status", q.TradeStatus, "total_amount", q.TotalAmount, "error", err.Error())
		return true, fmt.Errorf("apppay: sync: %w", err)
	}
	NotePaidAfterClose(ctx, o, e.TradeStatus, e.TradeNo, res)
	log.Info("sync applied", "trade_status", q.TradeStatus, "result", string(res))
	return true, nil
}

// NotePaidAfterClose logs and counts a genuine payment applied to an order we had closed
// without Alipay's word (before is the order as read before the apply; orders.
// PaidAfterClose): recorded, never refused; the merchant refunds or fulfils it. The
// notify service, the sync route and the reconciler all apply payments, so all call it.
func NotePaidAfterClose(ctx context.Context, before *orders.AppPayOrder, status orders.TradeStatus, tradeNo string, res orders.ApplyResult) {
	if res != orders.Applied || !orders.PaidAfterClose(before, status) {
		return
	}
	domain.Logger(ctx).Warn("payment after the order was closed: recorded; refund or fulfil it",
		"out_trade_no", before.OutTradeNo, "trade_no", tradeNo, "closed_reason", string(before.ClosedReason),
		"total_amount", before.TotalAmount.String(), "paid_after_close", true)
	metrics.Count(metrics.PaidAfterClose, 1, nil)
}

// SyncOrder is Sync for the system (the reconciler): o as read, no owner check; known
// is false when Alipay has no such trade yet (ACQ.TRADE_NOT_EXIST), after the updated
// order otherwise.
func (s *Service) SyncOrder(ctx context.Context, o *orders.AppPayOrder) (after *orders.AppPayOrder, known bool, err error) {
	if s.gw == nil {
		return nil, false, errNoGateway
	}
	creds, err := s.creds.Get(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("%w: %w", credentials.ErrUnavailable, err)
	}
	if known, err = s.sync(ctx, creds, o); err != nil || !known {
		return o, known, err
	}
	after, err = s.store.GetAppPayOrder(ctx, o.OutTradeNo)
	return after, true, err
}

// queryEffect turns a trade.query answer into the effect a notification would have.
// Its receipt id is derived from what it says, so the same answer twice is a Duplicate.
func queryEffect(q *alipay.TradeQueryResult, now time.Time) (orders.TradeEffect, error) {
	st := orders.TradeStatus(q.TradeStatus)
	if q.TradeNo == "" || !orders.TradeMachine.Known(st) || st == orders.TradeCreated {
		return orders.TradeEffect{}, &alipay.UnknownOutcomeError{Reason: "trade query without trade_no or known trade_status",
			Err: fmt.Errorf("trade_status %q", q.TradeStatus)}
	}
	e := orders.TradeEffect{
		NotifyID: "sync:" + q.TradeNo + ":" + q.TradeStatus, OutTradeNo: q.OutTradeNo, TradeStatus: st, TradeNo: q.TradeNo,
		BuyerID: q.BuyerUserID, BuyerOpenID: q.BuyerOpenID, Now: now,
	}
	amount := func(field, v string) (alipay.Amount, error) {
		if v == "" {
			return 0, nil
		}
		a, err := alipay.ParseAmount(v)
		if err != nil {
			return 0, &alipay.UnknownOutcomeError{Reason: "malformed reply", Err: fmt.Errorf("%s: %w", field, err)}
		}
		return a, nil
	}
	var err error
	if e.TotalAmount, err = amount("total_amount", q.TotalAmount); err != nil {
		return e, err
	}
	if e.ReceiptAmount, err = amount("receipt_amount", q.ReceiptAmount); err != nil {
		return e, err
	}
	if e.BuyerPayAmount, err = amount("buyer_pay_amount", q.BuyerPayAmount); err != nil {
		return e, err
	}
	if q.SendPayDate != "" {
		if t, err := alipay.ParseTimestamp(q.SendPayDate); err == nil {
			e.GmtPayment = t
		}
	}
	return e, nil
}

// Close closes an unpaid order (alipay.trade.close, L7). One Alipay does not know yet
// (ACQ.TRADE_NOT_EXIST) is closed here without Alipay's word: a payment that still
// arrives is recorded as paid_after_close. Refused because the trade is already paid
// (ACQ.TRADE_STATUS_ERROR…): the order is synced and the answer is 409
// ORDER_ALREADY_PAID. owner "" is the system or a caller with scope settle.
func (s *Service) Close(ctx context.Context, owner, outTradeNo string) (*orders.AppPayOrder, error) {
	o, err := s.owned(ctx, owner, outTradeNo)
	if err != nil {
		return nil, err
	}
	if done, err := closeDecided(o); done || err != nil {
		return o, err
	}
	if s.gw == nil {
		return nil, errNoGateway
	}
	creds, err := s.creds.Get(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", credentials.ErrUnavailable, err)
	}
	log := domain.Logger(ctx).With("out_trade_no", outTradeNo)
	now := s.now()
	// The close, then a query if Alipay says the trade is not closable.
	lease, ok := s.leaseDuration(ctx, 2)
	if !ok {
		return nil, fmt.Errorf("apppay: close: %w", domain.ErrNotSent)
	}
	ref := closeRef(outTradeNo)
	res, err := s.store.BeginOperation(ctx, orders.OpBegin{OpRef: ref, Owner: o.Owner, ParamsHash: closeRequestNo,
		Now: now, LeaseUntil: now.Add(lease)})
	if err != nil {
		return nil, opStoreError("begin close", err)
	}
	switch res.Outcome {
	case orders.OpAcquired:
	case orders.OpReplay, orders.OpNotAllowed:
		// Closed meanwhile, or paid meanwhile: the order says which.
		cur, err := s.store.GetAppPayOrder(ctx, outTradeNo)
		if err != nil {
			return nil, fmt.Errorf("apppay: close: %w", err)
		}
		if done, err := closeDecided(cur); done || err != nil {
			return cur, err
		}
		return nil, &domain.InProgress{RetryAfter: time.Second}
	case orders.OpInProgress:
		return nil, &domain.InProgress{RetryAfter: res.LeaseUntil.Sub(now)}
	default:
		return nil, fmt.Errorf("apppay: unexpected close outcome %q", res.Outcome)
	}
	// A close is sent again as it is, without asking first: closing twice is harmless.
	c := &closeCall{s: s, log: log, o: o}
	leaseUntil := now.Add(lease)
	out, err := opcall.Run(ctx, log, s.store, creds,
		opcall.Call{Method: alipay.MethodTradeClose, Query: c.query, Send: c.send, Timeout: s.gatewayTimeout, Unknown: c.unknown},
		opcall.Lease{Ref: ref, Token: res.Token, Until: leaseUntil, Margin: s.leaseMargin}, false, s.now)
	if err != nil {
		log.Error("recording the close outcome failed", "error", err.Error())
		return nil, domain.WithRetryAfter(opStoreError("complete close", err), leaseUntil.Sub(s.now()))
	}
	switch {
	case out.State == orders.OpSucceeded:
		return s.store.GetAppPayOrder(ctx, outTradeNo)
	case out.State == orders.OpFailed:
		return nil, domain.ErrOrderAlreadyPaid // the only close recorded FAILED
	case c.refusal != nil && out.SubCode != "":
		return nil, c.refusal
	}
	log.Warn("close outcome unknown", "error", c.err)
	recordUnknown(orders.OpClose)
	return nil, fmt.Errorf("apppay: close not confirmed: %w", c.err)
}

// closeCall is what one close's replies mean (opcall.Call's Query, Send and Unknown).
type closeCall struct {
	s   *Service
	log *slog.Logger
	o   *orders.AppPayOrder // as read before the close
	// refusal is Alipay's refusal of the close; err why the outcome is unknown.
	refusal *alipay.BusinessError
	err     error
}

// send calls alipay.trade.close. A refusal of a closable trade is recorded as not
// closed (UNKNOWN with the refusal), so that a later close tries again.
func (c *closeCall) send(ctx context.Context, creds *alipay.Credentials) (*orders.OpOutcome, error) {
	no := c.o.OutTradeNo
	r, err := alipay.Call[alipay.TradeCloseResult](ctx, c.s.gw, creds, &alipay.TradeClose{OutTradeNo: no}, alipay.CallOptions{Refresh: c.s.refresh})
	if err == nil && r.OutTradeNo != "" && r.OutTradeNo != no {
		err = &alipay.UnknownOutcomeError{Reason: "reply names another request", Err: fmt.Errorf("out_trade_no %q", r.OutTradeNo)}
	}
	var be *alipay.BusinessError
	switch {
	case err == nil:
		c.log.Info("order closed at alipay")
		return &orders.OpOutcome{State: orders.OpSucceeded, Result: map[string]string{orders.ResultTradeNo: r.TradeNo}}, nil
	case errors.As(err, &be) && be.SubCode == "ACQ.TRADE_NOT_EXIST":
		// The buyer has not submitted the orderStr: nothing to close at Alipay yet. Closed
		// here; the orderStr could still be paid until it expires (docs/design.md).
		c.log.Info("order closed here: alipay has no trade yet")
		return &orders.OpOutcome{State: orders.OpSucceeded, Result: map[string]string{orders.ResultCloseUnconfirmed: "Y"}}, nil
	case errors.As(err, &be) && be.Class(alipay.MethodTradeClose) == alipay.Fail && !be.Configuration():
		c.refusal = be
		c.log.Info("alipay refused the close", "code", be.Code, "sub_code", be.SubCode)
		return c.notClosed(), nil
	case errors.As(err, &be) && be.Class(alipay.MethodTradeClose) == alipay.State:
		c.refusal = be // settled by query
	}
	return nil, err
}

// query settles a STATE refusal (not closable: paid or closed already) by Alipay's
// state of the trade, applied to the order first (L7); the close is never asked about
// before it is sent.
func (c *closeCall) query(ctx context.Context, creds *alipay.Credentials) (*orders.OpOutcome, error) {
	if _, err := c.s.sync(ctx, creds, c.o); err != nil {
		c.log.Warn("sync after a refused close failed", "error", err.Error())
	}
	cur, err := c.s.store.GetAppPayOrder(ctx, c.o.OutTradeNo)
	if err != nil {
		return nil, fmt.Errorf("apppay: close: %w", err)
	}
	switch cur.Status {
	case orders.TradeSuccess, orders.TradeFinished:
		out := c.notClosed()
		out.State = orders.OpFailed
		return out, nil
	case orders.TradeClosed:
		return &orders.OpOutcome{State: orders.OpSucceeded, Result: map[string]string{orders.ResultTradeNo: cur.TradeNo}}, nil
	}
	return c.notClosed(), nil
}

// notClosed is the outcome of a refused close that leaves the order open.
func (c *closeCall) notClosed() *orders.OpOutcome {
	out := &orders.OpOutcome{State: orders.OpUnknown}
	if be := c.refusal; be != nil {
		out.Code, out.SubCode, out.SubMsg = be.Code, be.SubCode, be.SubMsg
	}
	return out
}

// unknown is the close's UNKNOWN outcome when Alipay's word is missing (opcall.Call.Unknown).
func (c *closeCall) unknown(cause error) orders.OpOutcome {
	c.err = cause
	return orders.OpOutcome{State: orders.OpUnknown}
}

// closeDecided: a closed order needs no close (the reply is the order); a paid one
// cannot be closed.
func closeDecided(o *orders.AppPayOrder) (bool, error) {
	switch o.Status {
	case orders.TradeClosed:
		return true, nil
	case orders.TradeSuccess, orders.TradeFinished:
		return true, domain.ErrOrderAlreadyPaid
	}
	return false, nil
}

// recordUnknown counts an operation a caller's call left with an unknown outcome
// (OperationsUnknown, by kind).
func recordUnknown(kind orders.OpKind) {
	metrics.Count(metrics.OperationsUnknown, 1, map[string]string{"Kind": string(kind)})
}

// SettleOperation settles one refund or close of an app-pay order that is UNKNOWN or
// PENDING past its lease, without a request (the reconciler; docs/design.md, "The
// reconciler"), and returns the operation as stored afterwards. A refund is settled by
// ConfirmRefund (the refund query, at least RefundConfirmDelay after it was sent); a
// close by SettleClose. Neither sends the operation again.
func (s *Service) SettleOperation(ctx context.Context, ref orders.OpRef) (orders.Operation, error) {
	switch ref.Kind {
	case orders.OpRefund:
		r, err := s.ConfirmRefund(ctx, ref.OrderNo, ref.RequestNo)
		var be *alipay.BusinessError
		switch {
		case r != nil && (err == nil || errors.As(err, &be)):
			return r.Op, nil // a FAILED refund comes back with its refusal: settled
		case err != nil:
			return orders.Operation{}, err
		}
		return orders.Operation{}, fmt.Errorf("apppay: confirm refund %s: no outcome", ref.RequestNo)
	case orders.OpClose:
		return s.SettleClose(ctx, ref.OrderNo)
	}
	return orders.Operation{}, fmt.Errorf("apppay: no settling of %s operations", ref.Kind)
}

// SettleClose settles an order's close whose outcome is unknown (or whose caller left it
// leased) from alipay.trade.query, applied first to the order as the sync route applies
// it (SyncOrder): TRADE_CLOSED → the close SUCCEEDED; paid → FAILED
// ACQ.TRADE_STATUS_ERROR, as Close records it; no trade at Alipay → SUCCEEDED
// close_unconfirmed, which is what the close itself is answered then (the order string
// could still be paid: paid_after_close); still WAIT_BUYER_PAY → the close did not
// reach Alipay: FAILED NOT_CREATED, which an identical close takes up and sends.
func (s *Service) SettleClose(ctx context.Context, outTradeNo string) (orders.Operation, error) {
	ref := closeRef(outTradeNo)
	o, err := s.store.GetAppPayOrder(ctx, outTradeNo)
	if err != nil {
		return orders.Operation{}, fmt.Errorf("apppay: settle close: %w", err)
	}
	op, ok := opOf(o, ref)
	if !ok {
		return orders.Operation{}, fmt.Errorf("apppay: close of %s: %w", outTradeNo, orders.ErrNotFound)
	}
	if st := op.State; st == orders.OpSucceeded || st == orders.OpFailed || (st == orders.OpPending && s.now().Before(op.LeaseUntil)) {
		return op, nil
	}
	after, known, err := s.SyncOrder(ctx, o)
	if err != nil {
		return op, err
	}
	out := orders.OpOutcome{State: orders.OpSucceeded, Result: map[string]string{orders.ResultCloseUnconfirmed: "Y"}}
	if known {
		switch after.Status {
		case orders.TradeClosed:
			out.Result = map[string]string{orders.ResultTradeNo: after.TradeNo}
		case orders.TradeSuccess, orders.TradeFinished:
			out = orders.OpOutcome{State: orders.OpFailed, Code: "40004", SubCode: "ACQ.TRADE_STATUS_ERROR", SubMsg: "the trade is paid"}
		default:
			out = orders.NotCreated(time.Time{})
		}
	}
	out.Now = s.now()
	err = s.store.ResolveOperation(ctx, ref, out)
	if err != nil && !errors.Is(err, orders.ErrInProgress) && !errors.Is(err, orders.ErrSettled) {
		return op, fmt.Errorf("apppay: settle close: %w", err)
	}
	if o, err = s.store.GetAppPayOrder(ctx, outTradeNo); err != nil {
		return op, fmt.Errorf("apppay: settle close: %w", err)
	}
	op, _ = opOf(o, ref)
	return op, nil
}
