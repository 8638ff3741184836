package preauth

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
	"github.com/alipay-serverless/alipay-serverless/shared/credentials"
	"github.com/alipay-serverless/alipay-serverless/shared/domain"
	"github.com/alipay-serverless/alipay-serverless/shared/opcall"
	"github.com/alipay-serverless/alipay-serverless/shared/orders"
)

// What follows a freeze (docs/design.md, "Lifecycle contract"): captures (L1),
// unfreezes (L2), cancels (L3) and sync. Each money-moving call is an operation of the
// order: begun in the store (idempotency on its request number, lease, amount reserved
// in the same conditional write), sent only while leased, completed with the verified
// outcome. An identical retry of an UNKNOWN operation asks Alipay first and resends only
// when Alipay does not know the request; a STATE refusal is settled by the same query.

// SettleStore is what the settle operations need of the store.
type SettleStore interface {
	Store
	BeginOperation(ctx context.Context, b orders.OpBegin) (orders.OpBeginResult, error)
	CompleteOperation(ctx context.Context, r orders.OpRef, token string, out orders.OpOutcome) (orders.Operation, error)
	ResolveOperation(ctx context.Context, r orders.OpRef, out orders.OpOutcome) error
	ApplyFundAuth(ctx context.Context, e orders.FundAuthEffect) (orders.ApplyResult, error)
}

// Settler runs captures, unfreezes, cancels and syncs of pre-auth orders.
type Settler struct {
	*Service
	ops SettleStore
}

// NewSettler returns the settle service; opts are the pre-auth Service's.
func NewSettler(store SettleStore, creds Credentials, gw Gateway, opts ...Option) *Settler {
	return &Settler{Service: NewService(store, creds, gw, opts...), ops: store}
}

// CaptureReply is the 200 reply of a capture.
type CaptureReply struct {
	OutOrderNo string        `json:"out_order_no"`
	OutTradeNo string        `json:"out_trade_no"`
	TradeNo    string        `json:"trade_no"`
	Amount     alipay.Amount `json:"amount"`
	Status     string        `json:"status"`
	RestAmount alipay.Amount `json:"rest_amount"`
}

// UnfreezeReply is the 200 reply of an unfreeze.
type UnfreezeReply struct {
	OutOrderNo   string        `json:"out_order_no"`
	OutRequestNo string        `json:"out_request_no"`
	OperationID  string        `json:"operation_id"`
	Amount       alipay.Amount `json:"amount"`
	Status       string        `json:"status"`
	RestAmount   alipay.Amount `json:"rest_amount"`
}

// CancelReply is the 200 reply of a cancel; Status is the cancel operation's own.
type CancelReply struct {
	OutOrderNo   string `json:"out_order_no"`
	OutRequestNo string `json:"out_request_no"`
	Action       string `json:"action"`
	Status       string `json:"status"`
}

// Settled is the outcome of one settle call; Replayed is also set with a replayed
// business error.
type Settled[R any] struct {
	Reply    *R
	Replayed bool
}

// opCall is one kind of operation: how to ask Alipay about it and how to send it.
// query answers nil, nil when Alipay does not know the request (safe to send); send
// returns the SUCCEEDED outcome or the gateway's error.
type opCall struct {
	ref    orders.OpRef
	hash   string
	amount alipay.Amount
	params map[string]string
	method string
	query  func(ctx context.Context, creds *alipay.Credentials) (*orders.OpOutcome, error)
	send   func(ctx context.Context, creds *alipay.Credentials) (*orders.OpOutcome, error)
}

// Capture takes p.Amount of the frozen funds (alipay.trade.pay with auth_no, L1) on
// behalf of caller (scope settle: any order).
func (s *Settler) Capture(ctx context.Context, caller, outOrderNo string, p *alipay.CaptureParams, notifyURL string) (Settled[CaptureReply], error) {
	if err := alipay.CheckOutOrderNo("out_order_no", outOrderNo); err != nil {
		return Settled[CaptureReply]{}, err
	}
	if err := p.Validate(); err != nil {
		return Settled[CaptureReply]{}, err
	}
	o, err := s.anyOrder(ctx, caller, outOrderNo)
	if err != nil {
		return Settled[CaptureReply]{}, err
	}
	ref := orders.OpRef{Parent: orders.ParentPreAuth, OrderNo: outOrderNo, Kind: orders.OpCapture, RequestNo: p.OutTradeNo}
	if _, known := o.Ops[string(ref.Kind)+":"+ref.RequestNo]; !known && o.Status == orders.PreAuthAuthorized &&
		(o.AuthNo == "" || (o.PayerUserID == "" && o.PayerOpenID == "")) {
		// Alipay requires the freeze's payer (L1.2); sync learns it from the detail query.
		return Settled[CaptureReply]{}, &domain.Conflict{Code: domain.CodeOrderNotAuthorized,
			Message: "the freeze's auth_no or payer is not known yet; sync the order first"}
	}
	req := &alipay.TradePay{
		OutTradeNo: p.OutTradeNo, TotalAmount: p.Amount, Subject: p.Subject, Body: p.Body,
		ProductCode: alipay.ProductCodePreAuth, AuthNo: o.AuthNo, AuthConfirmMode: p.AuthConfirmMode,
		SellerID: cmp.Or(o.PayeeUserID, s.sellerID),
	}
	// open_id apps name the payer by open_id (L11); the user id wins when both are known.
	if o.PayerUserID != "" {
		req.BuyerID = o.PayerUserID
	} else {
		req.BuyerOpenID = o.PayerOpenID
	}
	mode := p.AuthConfirmMode
	call := opCall{
		ref: ref, hash: p.CanonicalHash(), amount: p.Amount, method: alipay.MethodTradePay,
		params: map[string]string{orders.ResultAuthConfirmMode: mode},
		query: s.queryFor(outOrderNo, orders.Operation{Kind: orders.OpCapture, RequestNo: p.OutTradeNo, Amount: p.Amount,
			Params: map[string]string{orders.ResultAuthConfirmMode: mode}}),
		send: func(ctx context.Context, creds *alipay.Credentials) (*orders.OpOutcome, error) {
			n, err := alipay.Call[alipay.TradePayResult](ctx, s.gw, creds, req, alipay.CallOptions{NotifyURL: notifyURL, Refresh: s.creds.Refresh})
			if err != nil {
				return nil, err
			}
			if n.TradeNo == "" {
				return nil, &alipay.UnknownOutcomeError{Reason: "trade.pay reply without trade_no"}
			}
			return succeededOutcome(map[string]string{
				orders.ResultTradeNo: n.TradeNo, "gmt_payment": n.GmtPayment, orders.ResultAuthConfirmMode: mode,
			}), nil
		},
	}
	op, replayed, err := s.run(ctx, caller, o.Owner, call, "a capture")
	if err != nil {
		return Settled[CaptureReply]{Replayed: replayed}, err
	}
	rest, err := s.rest(ctx, outOrderNo)
	if err != nil {
		return Settled[CaptureReply]{}, err
	}
	return Settled[CaptureReply]{Replayed: replayed, Reply: &CaptureReply{
		OutOrderNo: outOrderNo, OutTradeNo: p.OutTradeNo, TradeNo: op.Result[orders.ResultTradeNo],
		Amount: op.Amount, Status: string(op.State), RestAmount: rest,
	}}, nil
}

// Unfreeze releases p.Amount of the frozen funds (alipay.fund.auth.order.unfreeze, L2).
func (s *Settler) Unfreeze(ctx context.Context, caller, outOrderNo string, p *alipay.UnfreezeParams, notifyURL string) (Settled[UnfreezeReply], error) {
	if err := alipay.CheckOutOrderNo("out_order_no", outOrderNo); err != nil {
		return Settled[UnfreezeReply]{}, err
	}
	if err := p.Validate(); err != nil {
		return Settled[UnfreezeReply]{}, err
	}
	o, err := s.anyOrder(ctx, caller, outOrderNo)
	if err != nil {
		return Settled[UnfreezeReply]{}, err
	}
	ref := orders.OpRef{Parent: orders.ParentPreAuth, OrderNo: outOrderNo, Kind: orders.OpUnfreeze, RequestNo: p.OutRequestNo}
	if _, known := o.Ops[string(ref.Kind)+":"+ref.RequestNo]; !known && o.Status == orders.PreAuthAuthorized && o.AuthNo == "" {
		return Settled[UnfreezeReply]{}, &domain.Conflict{Code: domain.CodeOrderNotAuthorized,
			Message: "the freeze's auth_no is not known yet; sync the order first"}
	}
	req := &alipay.FundAuthUnfreeze{AuthNo: o.AuthNo, OutRequestNo: p.OutRequestNo, Amount: p.Amount, Remark: p.Remark}
	call := opCall{
		ref: ref, hash: p.CanonicalHash(), amount: p.Amount, method: alipay.MethodFundAuthUnfreeze,
		query: s.queryFor(outOrderNo, orders.Operation{Kind: orders.OpUnfreeze, RequestNo: p.OutRequestNo, Amount: p.Amount}),
		send: func(ctx context.Context, creds *alipay.Credentials) (*orders.OpOutcome, error) {
			n, err := alipay.Call[alipay.FundAuthUnfreezeResult](ctx, s.gw, creds, req, alipay.CallOptions{NotifyURL: notifyURL, Refresh: s.creds.Refresh})
			if err != nil {
				return nil, err
			}
			if n.Status != "" && n.Status != string(alipay.FundAuthStatusSuccess) {
				return nil, &alipay.UnknownOutcomeError{Reason: "unfreeze reply status " + n.Status}
			}
			return succeededOutcome(map[string]string{orders.ResultOperationID: n.OperationID, "gmt_trans": n.GmtTrans}), nil
		},
	}
	op, replayed, err := s.run(ctx, caller, o.Owner, call, "an unfreeze")
	if err != nil {
		return Settled[UnfreezeReply]{Replayed: replayed}, err
	}
	rest, err := s.rest(ctx, outOrderNo)
	if err != nil {
		return Settled[UnfreezeReply]{}, err
	}
	return Settled[UnfreezeReply]{Replayed: replayed, Reply: &UnfreezeReply{
		OutOrderNo: outOrderNo, OutRequestNo: p.OutRequestNo, OperationID: op.Result[orders.ResultOperationID],
		Amount: op.Amount, Status: string(op.State), RestAmount: rest,
	}}, nil
}

// Cancel cancels a voucher request (alipay.fund.auth.operation.cancel, L3).
func (s *Settler) Cancel(ctx context.Context, caller, outOrderNo string, p *alipay.CancelParams, notifyURL string) (Settled[CancelReply], error) {
	if err := alipay.CheckOutOrderNo("out_order_no", outOrderNo); err != nil {
		return Settled[CancelReply]{}, err
	}
	if err := p.Validate(); err != nil {
		return Settled[CancelReply]{}, err
	}
	o, err := s.anyOrder(ctx, caller, outOrderNo)
	if err != nil {
		return Settled[CancelReply]{}, err
	}
	if _, ok := o.Requests[p.OutRequestNo]; !ok {
		return Settled[CancelReply]{}, &alipay.FieldError{Field: "out_request_no", Rule: alipay.RulePattern,
			Message: "names no voucher request of this order"}
	}
	req := &alipay.FundAuthCancel{OutOrderNo: outOrderNo, OutRequestNo: p.OutRequestNo, Remark: p.Remark}
	call := opCall{
		ref:    orders.OpRef{Parent: orders.ParentPreAuth, OrderNo: outOrderNo, Kind: orders.OpCancel, RequestNo: p.OutRequestNo},
		hash:   p.CanonicalHash(),
		method: alipay.MethodFundAuthCancel,
		query:  s.queryFor(outOrderNo, orders.Operation{Kind: orders.OpCancel, RequestNo: p.OutRequestNo}),
		send: func(ctx context.Context, creds *alipay.Credentials) (*orders.OpOutcome, error) {
			n, err := alipay.Call[alipay.FundAuthCancelResult](ctx, s.gw, creds, req, alipay.CallOptions{NotifyURL: notifyURL, Refresh: s.creds.Refresh})
			if err != nil {
				return nil, err
			}
			if n.Action != alipay.CancelActionClose && n.Action != alipay.CancelActionUnfreeze {
				return nil, &alipay.UnknownOutcomeError{Reason: "cancel reply action " + n.Action}
			}
			return succeededOutcome(map[string]string{orders.ResultAction: n.Action, orders.ResultOperationID: n.OperationID}), nil
		},
	}
	op, replayed, err := s.run(ctx, caller, o.Owner, call, "a cancel")
	if err != nil {
		return Settled[CancelReply]{Replayed: replayed}, err
	}
	return Settled[CancelReply]{Replayed: replayed, Reply: &CancelReply{
		OutOrderNo: outOrderNo, OutRequestNo: p.OutRequestNo, Action: op.Result[orders.ResultAction], Status: string(op.State),
	}}, nil
}

func succeededOutcome(result map[string]string) *orders.OpOutcome {
	for k, v := range result {
		if v == "" {
			delete(result, k)
		}
	}
	return &orders.OpOutcome{State: orders.OpSucceeded, Result: result}
}

// ownOrder reads the caller's order; another owner's is not found.
func (s *Settler) ownOrder(ctx context.Context, owner, outOrderNo string) (*orders.PreAuthOrder, error) {
	o, err := s.anyOrder(ctx, owner, outOrderNo)
	if err == nil && o.Owner != owner {
		return nil, orders.ErrNotFound
	}
	return o, err
}

// anyOrder reads an order for a settle call: the scope settle (checked by the router)
// acts on every order, whoever created it (docs/design.md, "Routes and scopes"); the
// operation is begun on behalf of the order's owner.
func (s *Settler) anyOrder(ctx context.Context, caller, outOrderNo string) (*orders.PreAuthOrder, error) {
	if caller == "" {
		return nil, errNoOwner
	}
	o, err := s.ops.GetPreAuthOrder(ctx, outOrderNo)
	if err != nil {
		return nil, storeError("get order", err)
	}
	return o, nil
}

// rest reads the order's rest_amount after an operation.
func (s *Settler) rest(ctx context.Context, outOrderNo string) (alipay.Amount, error) {
	o, err := s.ops.GetPreAuthOrder(ctx, outOrderNo)
	if err != nil {
		return 0, storeError("get order", err)
	}
	return o.Rest, nil
}

// run begins the operation, calls Alipay under the lease when it is ours, records the
// outcome and returns the operation as recorded (or replayed).
func (s *Settler) run(ctx context.Context, caller, owner string, c opCall, what string) (orders.Operation, bool, error) {
	log := domain.Logger(ctx).With("out_order_no", c.ref.OrderNo, "kind", string(c.ref.Kind), "request_no", c.ref.RequestNo, "caller", caller)
	creds, err := s.creds.Get(ctx)
	if err == nil {
		err = creds.Validate()
	}
	if err != nil {
		return orders.Operation{}, false, fmt.Errorf("%w: %w", credentials.ErrUnavailable, err)
	}
	now := s.now()
	lease, ok := s.leaseDuration(ctx)
	if !ok {
		log.Warn("too little time left to call alipay")
		return orders.Operation{}, false, fmt.Errorf("preauth: too little time left: %w", domain.ErrNotSent)
	}
	res, err := s.ops.BeginOperation(ctx, orders.OpBegin{
		OpRef: c.ref, Owner: owner, ParamsHash: c.hash, Amount: c.amount, Params: c.params, Now: now, LeaseUntil: now.Add(lease),
	})
	if err != nil {
		if errors.Is(err, orders.ErrLimit) {
			return orders.Operation{}, false, &domain.Conflict{Code: domain.CodeIdempotencyConflict,
				Message: "the order has too many operations"}
		}
		return orders.Operation{}, false, fmt.Errorf("preauth: begin %s: %w", what, err)
	}
	switch res.Outcome {
	case orders.OpAcquired:
		return s.call(ctx, log, creds, c, res, now.Add(lease))
	case orders.OpReplay:
		log.Info("operation replayed", "state", string(res.Op.State))
		if res.Op.State == orders.OpFailed {
			return res.Op, true, businessError(res.Op.Code, res.Op.SubCode, res.Op.SubMsg)
		}
		return res.Op, true, nil
	case orders.OpInProgress:
		return orders.Operation{}, false, &domain.InProgress{RetryAfter: res.LeaseUntil.Sub(now)}
	case orders.OpConflict:
		return orders.Operation{}, false, &domain.Conflict{Code: domain.CodeIdempotencyConflict, Field: requestField(c.ref.Kind),
			Message: "the request number was already used with other parameters, by another operation or by another record"}
	case orders.OpAmountExceeded:
		if res.Available == 0 {
			return orders.Operation{}, false, domain.ErrOrderNotAuthorized
		}
		return orders.Operation{}, false, &domain.AmountExceeded{Field: "amount", Available: res.Available}
	case orders.OpNotAllowed:
		if c.ref.Kind == orders.OpCancel {
			return orders.Operation{}, false, &domain.Conflict{Code: domain.CodeOrderNotAuthorized,
				Message: "the order is " + res.Status + ": nothing is left to cancel"}
		}
		return orders.Operation{}, false, &domain.Conflict{Code: domain.CodeOrderNotAuthorized,
			Message: "the order is " + res.Status + ", not AUTHORIZED with funds frozen"}
	}
	return orders.Operation{}, false, fmt.Errorf("preauth: unexpected begin outcome %q", res.Outcome)
}

func requestField(k orders.OpKind) string {
	if k == orders.OpCapture {
		return "out_trade_no"
	}
	return "out_request_no"
}

// call asks (on a retry) and sends under the lease, then records the outcome (opcall).
func (s *Settler) call(ctx context.Context, log *slog.Logger, creds *alipay.Credentials, c opCall,
	res orders.OpBeginResult, leaseUntil time.Time) (orders.Operation, bool, error) {
	out, err := opcall.Run(ctx, log, s.ops, creds, opcall.Call{Method: c.method, Query: c.query, Send: c.send},
		opcall.Lease{Ref: c.ref, Token: res.Token, Until: leaseUntil, Margin: s.leaseMargin}, res.Retried, s.now)
	if err != nil {
		if errors.Is(err, orders.ErrLeaseLost) {
			log.Warn("operation lease lost before the outcome was recorded", "state", string(out.State), "error", err.Error())
			return orders.Operation{}, false, err
		}
		log.Error("recording the operation outcome failed", "state", string(out.State), "error", err.Error())
		return orders.Operation{}, false, domain.WithRetryAfter(fmt.Errorf("preauth: complete operation: %w", err), leaseUntil.Sub(s.now()))
	}
	op := res.Op
	op.State, op.Result, op.Code, op.SubCode, op.SubMsg = out.State, out.Result, out.Code, out.SubCode, out.SubMsg
	switch out.State {
	case orders.OpSucceeded:
		log.Info("operation succeeded")
		return op, false, nil
	case orders.OpFailed:
		return op, false, businessError(out.Code, out.SubCode, out.SubMsg)
	}
	recordUnknown(c.ref.Kind)
	return op, false, fmt.Errorf("preauth: operation not confirmed: %w", alipay.ErrUnknownOutcome)
}

// query asks Alipay about one operation of order outOrderNo with the operation's own
// query (capture: alipay.trade.query; unfreeze, cancel: the detail query): the question
// an identical retry asks before resending, a STATE refusal is settled by, and the sync
// route and the reconciler ask. nil, nil: Alipay does not have the request. The detail
// answer is returned too (unfreeze, cancel), for the order snapshot it carries.
func (s *Settler) query(ctx context.Context, creds *alipay.Credentials, outOrderNo string, op orders.Operation) (*orders.OpOutcome, *alipay.FundAuthDetailResult, error) {
	switch op.Kind {
	case orders.OpCapture:
		found, err := s.queryCapture(ctx, creds, op.RequestNo, op.Amount, op.Params[orders.ResultAuthConfirmMode])
		return found, nil, err
	case orders.OpUnfreeze, orders.OpCancel:
		d, err := s.detail(ctx, creds, outOrderNo, op.RequestNo)
		if err != nil || d == nil {
			return nil, nil, err
		}
		if op.Kind == orders.OpCancel {
			return cancelFound(d), d, nil
		}
		found, err := unfreezeFound(d, op.Amount)
		return found, d, err
	}
	return nil, nil, fmt.Errorf("preauth: no query for %s operations", op.Kind)
}

// queryFor is query as an opCall's.
func (s *Settler) queryFor(outOrderNo string, op orders.Operation) func(context.Context, *alipay.Credentials) (*orders.OpOutcome, error) {
	return func(ctx context.Context, creds *alipay.Credentials) (*orders.OpOutcome, error) {
		found, _, err := s.query(ctx, creds, outOrderNo, op)
		return found, err
	}
}

// queryCapture asks alipay.trade.query about a capture's out_trade_no (L8): nil, nil
// when Alipay has no such trade.
func (s *Settler) queryCapture(ctx context.Context, creds *alipay.Credentials, outTradeNo string, amount alipay.Amount, mode string) (*orders.OpOutcome, error) {
	q, err := alipay.QueryTrade(ctx, s.gw, creds, outTradeNo, alipay.CallOptions{Refresh: s.creds.Refresh})
	if err != nil || q == nil {
		return nil, err
	}
	return orders.PaymentOutcome(q, amount, map[string]string{orders.ResultAuthConfirmMode: mode})
}

// detail asks alipay.fund.auth.operation.detail.query about (out_order_no,
// out_request_no) (§9.4): nil, nil when Alipay has no such operation.
func (s *Settler) detail(ctx context.Context, creds *alipay.Credentials, outOrderNo, outRequestNo string) (*alipay.FundAuthDetailResult, error) {
	q := &alipay.FundAuthDetailQuery{OutOrderNo: outOrderNo, OutRequestNo: outRequestNo}
	n, err := alipay.Call[alipay.FundAuthDetailResult](ctx, s.gw, creds, q, alipay.CallOptions{Refresh: s.creds.Refresh})
	var be *alipay.BusinessError
	if errors.As(err, &be) && !be.Configuration() && notExistSubCodes[be.SubCode] {
		return nil, nil
	}
	return n, err
}

// unfreezeFound reads a detail answer about our unfreeze.
func unfreezeFound(d *alipay.FundAuthDetailResult, amount alipay.Amount) (*orders.OpOutcome, error) {
	got, _ := alipay.ParseAmount(d.Amount)
	switch {
	case d.OperationType != string(alipay.FundAuthOpUnfreeze) || got != amount:
		return nil, fmt.Errorf("preauth: out_request_no %s is a %s of %q at Alipay, not our unfreeze of %s: %w",
			d.OutRequestNo, d.OperationType, d.Amount, amount, alipay.ErrUnknownOutcome)
	case d.Status == string(alipay.FundAuthStatusSuccess):
		return succeededOutcome(map[string]string{orders.ResultOperationID: d.OperationID, "gmt_trans": d.GmtTrans}), nil
	case d.Status == string(alipay.FundAuthStatusClosed):
		return &orders.OpOutcome{State: orders.OpFailed, Code: "40004", SubCode: "ILLEGAL_STATUS", SubMsg: "the unfreeze is closed"}, nil
	}
	return nil, fmt.Errorf("preauth: unfreeze %s is %s: %w", d.OutRequestNo, d.Status, alipay.ErrUnknownOutcome)
}

// cancelFound reads a detail answer about the freeze request a cancel names: CLOSED is
// a cancelled (or expired) voucher, action close; a freeze that succeeded on an order
// Alipay reports CLOSED with nothing captured was released, action unfreeze. Anything
// else means the cancel did not happen (nil).
func cancelFound(d *alipay.FundAuthDetailResult) *orders.OpOutcome {
	pay, _ := alipay.ParseAmount(d.TotalPayAmount)
	switch {
	case d.Status == string(alipay.FundAuthStatusClosed):
		return succeededOutcome(map[string]string{orders.ResultAction: alipay.CancelActionClose, orders.ResultOperationID: d.OperationID})
	case d.Status == string(alipay.FundAuthStatusSuccess) && d.OrderStatus == "CLOSED" && pay == 0:
		return succeededOutcome(map[string]string{orders.ResultAction: alipay.CancelActionUnfreeze, orders.ResultOperationID: d.OperationID})
	}
	return nil
}

// Sync asks Alipay about everything of the order that is not settled — voucher requests
// while nothing is known frozen (or the freeze's payer is unknown), operations UNKNOWN
// or abandoned — and applies the answers through the same functions the reconciler
// uses (Service.SyncRequest per voucher request, SettleOperation's per operation), so
// the route and the reconciler settle one way. It returns the order view; an answer
// that could not be had is ALIPAY_UNAVAILABLE.
func (s *Settler) Sync(ctx context.Context, owner, outOrderNo string) (*Order, error) {
	if err := alipay.CheckOutOrderNo("out_order_no", outOrderNo); err != nil {
		return nil, err
	}
	o, err := s.ownOrder(ctx, owner, outOrderNo)
	if err != nil {
		return nil, err
	}
	creds, err := s.creds.Get(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", credentials.ErrUnavailable, err)
	}
	log := domain.Logger(ctx).With("out_order_no", outOrderNo)
	now := s.now()
	var errs []error
	open := o.Status == orders.PreAuthCreated || o.Status == orders.PreAuthCodeIssued
	noPayer := o.Status == orders.PreAuthAuthorized && (o.AuthNo == "" || (o.PayerUserID == "" && o.PayerOpenID == ""))
	if open || noPayer {
		for no := range o.Requests {
			if _, err := s.SyncRequest(ctx, outOrderNo, no); err != nil {
				errs = append(errs, err)
			}
		}
	}
	for _, op := range o.Ops {
		if unsettled(op, now) {
			errs = append(errs, s.settleOp(ctx, log, creds, outOrderNo, op, now))
		}
	}
	if err := errors.Join(errs...); err != nil {
		log.Warn("sync incomplete", "error", err.Error())
		return nil, err
	}
	return s.GetOrder(ctx, owner, outOrderNo)
}

// unsettled: an operation whose outcome is unknown, or whose caller left it leased.
func unsettled(op orders.Operation, now time.Time) bool {
	return op.State == orders.OpUnknown || (op.State == orders.OpPending && !now.Before(op.LeaseUntil))
}

// SettleOperation settles one capture, unfreeze or cancel of a pre-auth order that is
// UNKNOWN or PENDING past its lease, without a request (the reconciler; docs/design.md,
// "The reconciler"): it asks Alipay the question an identical retry asks first and
// records the answer. It never sends the operation itself: one Alipay does not have is
// recorded FAILED with sub_code NOT_CREATED (its amount released), which an identical
// retry takes up and sends. It returns the operation as stored afterwards (still
// unsettled when Alipay's answer settles nothing, or another caller holds its lease).
func (s *Settler) SettleOperation(ctx context.Context, ref orders.OpRef) (orders.Operation, error) {
	o, err := s.ops.GetPreAuthOrder(ctx, ref.OrderNo)
	if err != nil {
		return orders.Operation{}, storeError("get order", err)
	}
	op, ok := findOp(o.Ops, ref)
	if !ok {
		return orders.Operation{}, fmt.Errorf("preauth: %s operation %s of %s: %w", ref.Kind, ref.RequestNo, ref.OrderNo, orders.ErrNotFound)
	}
	now := s.now()
	if !unsettled(op, now) {
		return op, nil
	}
	creds, err := s.creds.Get(ctx)
	if err != nil {
		return op, fmt.Errorf("%w: %w", credentials.ErrUnavailable, err)
	}
	log := domain.Logger(ctx).With("out_order_no", ref.OrderNo)
	if err := s.settleOp(ctx, log, creds, ref.OrderNo, op, now); err != nil {
		return op, err
	}
	if o, err = s.ops.GetPreAuthOrder(ctx, ref.OrderNo); err != nil {
		return op, storeError("get order", err)
	}
	op, _ = findOp(o.Ops, ref)
	return op, nil
}

func findOp(ops orders.OpSet, ref orders.OpRef) (orders.Operation, bool) {
	for _, op := range ops {
		if op.Kind == ref.Kind && op.RequestNo == ref.RequestNo {
			return op, true
		}
	}
	return orders.Operation{}, false
}

// settleOp settles one unsettled operation from Alipay's answer (query); one Alipay
// does not have is NOT_CREATED, for an identical retry to send.
func (s *Settler) settleOp(ctx context.Context, log *slog.Logger, creds *alipay.Credentials, outOrderNo string, op orders.Operation, now time.Time) error {
	ref := orders.OpRef{Parent: orders.ParentPreAuth, OrderNo: outOrderNo, Kind: op.Kind, RequestNo: op.RequestNo}
	log = log.With("kind", string(op.Kind), "request_no", op.RequestNo)
	found, d, err := s.query(ctx, creds, outOrderNo, op)
	switch {
	case err != nil:
		return err
	case found == nil:
		log.Info("alipay does not have the operation: NOT_CREATED, an identical retry sends it")
		nc := orders.NotCreated(now)
		found = &nc
	case op.Kind == orders.OpUnfreeze && found.State == orders.OpSucceeded:
		// The detail answer carries the order's snapshot: applied as a notice would be.
		e, err := detailEffect(d, now)
		if err != nil {
			return err
		}
		if e != nil {
			if _, err := s.ops.ApplyFundAuth(ctx, *e); err != nil {
				return storeError("sync", err)
			}
		}
	}
	found.Now = now
	err = s.ops.ResolveOperation(ctx, ref, *found)
	if errors.Is(err, orders.ErrInProgress) || errors.Is(err, orders.ErrSettled) {
		log.Info("operation settled meanwhile", "error", err.Error())
		return nil
	}
	return storeErrorOrNil(err)
}

func storeErrorOrNil(err error) error {
	if err == nil {
		return nil
	}
	return storeError("sync", err)
}

// detailEffect turns a detail answer into the fund-auth effect a notice would have, with
// a notify_id of its own facts (the same answer twice is a Duplicate). nil for an
// operation still INIT (nothing to apply).
func detailEffect(d *alipay.FundAuthDetailResult, now time.Time) (*orders.FundAuthEffect, error) {
	switch {
	case d.Status == string(alipay.FundAuthStatusInit):
		return nil, nil
	case d.Status != string(alipay.FundAuthStatusSuccess) && d.Status != string(alipay.FundAuthStatusClosed),
		d.OperationType != string(alipay.FundAuthOpFreeze) && d.OperationType != string(alipay.FundAuthOpUnfreeze) &&
			d.OperationType != string(alipay.FundAuthOpPay):
		return nil, fmt.Errorf("preauth: detail answer %s %s: %w", d.OperationType, d.Status, alipay.ErrUnknownOutcome)
	}
	amt, err := alipay.ParseAmount(d.Amount)
	if err != nil {
		return nil, fmt.Errorf("preauth: detail amount: %w", alipay.ErrUnknownOutcome)
	}
	var totals [4]alipay.Amount
	for i, v := range []string{d.TotalFreezeAmount, d.TotalUnfreezeAmount, d.TotalPayAmount, d.RestAmount} {
		if v == "" {
			continue
		}
		if totals[i], err = alipay.ParseAmount(v); err != nil {
			return nil, fmt.Errorf("preauth: detail totals: %w", alipay.ErrUnknownOutcome)
		}
	}
	if totals[3] != totals[0]-totals[1]-totals[2] {
		totals = [4]alipay.Amount{} // an inconsistent snapshot is not applied
	}
	var gmt time.Time
	if d.GmtTrans != "" {
		gmt, _ = alipay.ParseTimestamp(d.GmtTrans)
	}
	return &orders.FundAuthEffect{
		NotifyID:        fmt.Sprintf("query:%s:%s:%s:%s:%s", d.OperationID, d.Status, totals[0], totals[1], totals[2]),
		OutOrderNo:      d.OutOrderNo,
		AuthNo:          d.AuthNo,
		OperationID:     d.OperationID,
		OutRequestNo:    d.OutRequestNo,
		OperationType:   orders.OperationType(d.OperationType),
		OperationStatus: orders.OperationStatus(d.Status),
		Amount:          amt,
		TotalFreeze:     totals[0],
		TotalUnfreeze:   totals[1],
		TotalPay:        totals[2],
		Rest:            totals[3],
		GmtTrans:        gmt,
		Now:             now,
		PayerUserID:     d.PayerUserID,
		PayerOpenID:     d.PayerOpenID,
	}, nil
}
