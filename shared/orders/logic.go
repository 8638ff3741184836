package orders

import (
	"cmp"
	"crypto/rand"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
)

// The functions in this file decide every state change. Both stores call them on a copy
// of the current item and then write the result (memory: under a mutex; DynamoDB: with a
// condition on the item's version), so their semantics cannot drift apart.

func invalid(field, why string) error { return fmt.Errorf("%w: %s %s", ErrInvalid, field, why) }

// normTime drops the monotonic reading and the zone so a time compares equal after a
// round trip through either store.
func normTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Round(0)
}

// normExpiry truncates to whole seconds: the TTL attribute is epoch seconds.
func normExpiry(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return time.Unix(t.Unix(), 0).UTC()
}

func newToken() string { return rand.Text() }

func addReceipt(ids []string, id string) []string {
	ids = append(slices.Clone(ids), id)
	if len(ids) > MaxReceipts {
		ids = slices.Clone(ids[len(ids)-MaxReceipts:])
	}
	return ids
}

func (o *AppPayOrder) clone() *AppPayOrder {
	c := *o
	c.NotifyIDs = slices.Clone(o.NotifyIDs)
	c.Ops = maps.Clone(o.Ops)
	c.ExternalRefunds = slices.Clone(o.ExternalRefunds)
	return &c
}

func (a *Agreement) clone() *Agreement {
	c := *a
	c.NotifyIDs = slices.Clone(a.NotifyIDs)
	c.Ops = maps.Clone(a.Ops)
	c.Rule = cloneRule(a.Rule)
	return &c
}

func (o *PreAuthOrder) clone() *PreAuthOrder {
	c := *o
	c.Requests = maps.Clone(o.Requests)
	c.Operations = maps.Clone(o.Operations)
	c.Ops = maps.Clone(o.Ops)
	c.NotifyIDs = slices.Clone(o.NotifyIDs)
	return &c
}

// withAgreement fills the order's agreement view from its agreement record.
func (o *AppPayOrder) withAgreement(a *Agreement) *AppPayOrder {
	if o.ExternalAgreementNo == "" {
		return o
	}
	o.AgreementStatus = AgreementPending
	if a != nil && a.OutTradeNo == o.OutTradeNo {
		o.AgreementNo = a.AgreementNo
		o.AgreementStatus = a.Status
	}
	return o
}

// newAppPayOrder validates a create request and builds the records to store.
func newAppPayOrder(in *AppPayOrder) (*AppPayOrder, *Agreement, error) {
	if in == nil {
		return nil, nil, invalid("order", "is nil")
	}
	switch {
	case in.OutTradeNo == "":
		return nil, nil, invalid("out_trade_no", "is empty")
	case in.Owner == "":
		return nil, nil, invalid("owner", "is empty")
	case in.ParamsHash == "":
		return nil, nil, invalid("params_hash", "is empty")
	case in.TotalAmount <= 0:
		return nil, nil, invalid("total_amount", "must be positive")
	case in.CreatedAt.IsZero():
		return nil, nil, invalid("created_at", "is zero")
	}
	o := &AppPayOrder{
		OutTradeNo:          in.OutTradeNo,
		Owner:               in.Owner,
		ParamsHash:          in.ParamsHash,
		TotalAmount:         in.TotalAmount,
		Subject:             in.Subject,
		ProductCode:         in.ProductCode,
		Status:              TradeCreated,
		OrderStr:            in.OrderStr,
		CreatedAt:           normTime(in.CreatedAt),
		PayBy:               normTime(in.PayBy),
		UpdatedAt:           normTime(in.CreatedAt),
		ExpiresAt:           normExpiry(in.ExpiresAt),
		ExternalAgreementNo: in.ExternalAgreementNo,
		PersonalProductCode: in.PersonalProductCode,
		SignScene:           in.SignScene,
		version:             1,
	}
	if o.ExternalAgreementNo == "" {
		return o, nil, nil
	}
	o.AgreementStatus = AgreementPending
	a := &Agreement{
		ExternalAgreementNo: o.ExternalAgreementNo,
		OutTradeNo:          o.OutTradeNo,
		Owner:               o.Owner,
		PersonalProductCode: o.PersonalProductCode,
		SignScene:           o.SignScene,
		Status:              AgreementPending,
		CreatedAt:           o.CreatedAt,
		UpdatedAt:           o.CreatedAt,
		ExpiresAt:           o.ExpiresAt,
		Rule:                cloneRule(in.AgreementRule),
		version:             1,
	}
	return o, a, nil
}

func sameAppPayRequest(stored, in *AppPayOrder) bool {
	return stored.Owner == in.Owner && stored.ParamsHash == in.ParamsHash
}

func validateTrade(e TradeEffect) error {
	switch {
	case e.NotifyID == "":
		return invalid("notify_id", "is empty")
	case e.OutTradeNo == "":
		return invalid("out_trade_no", "is empty")
	case e.TradeNo == "":
		return invalid("trade_no", "is empty")
	case e.TradeStatus == TradeCreated || !TradeMachine.Known(e.TradeStatus):
		return invalid("trade_status", fmt.Sprintf("%q is not a notified status", e.TradeStatus))
	case e.RefundFee < 0:
		return invalid("refund_fee", "is negative")
	case e.TotalAmount < 0 || e.ReceiptAmount < 0 || e.BuyerPayAmount < 0:
		return invalid("total_amount", "an amount is negative")
	case e.Now.IsZero():
		return invalid("now", "is zero")
	}
	return nil
}

func tradePaid(s TradeStatus) bool { return s == TradeSuccess || s == TradeFinished }

// applyTrade applies a trade notice (or a query answer, Sync) to o in place.
//
// Status moves only forward along TradeMachine. The refund fee is cumulative, so a larger
// one is recorded even when the notice's status is not forward (a refund notice keeps
// trade_status=TRADE_SUCCESS and may arrive after TRADE_FINISHED): the final state then
// does not depend on the order notices arrive in.
//
// One exception to "terminal states never regress": an order we closed without Alipay's
// word (CloseUnconfirmed) that Alipay reports paid is recorded as paid, with
// PaidAfterClose, for the merchant to refund or fulfil (docs/design.md).
//
// A refund notice (out_biz_no, L6) also settles the refund operation it names when that
// is UNKNOWN or abandoned (a notice is sent only for a refund that happened), and one
// naming none of our refunds is kept in ExternalRefunds; each once.
func applyTrade(o *AppPayOrder, e TradeEffect) (ApplyResult, error) {
	if e.RefundFee > o.TotalAmount {
		return "", invalid("refund_fee", fmt.Sprintf("%s exceeds total_amount %s", e.RefundFee, o.TotalAmount))
	}
	if o.TradeNo != "" && o.TradeNo != e.TradeNo {
		return "", invalid("trade_no", "differs from the order's: one out_trade_no is one Alipay trade")
	}
	if slices.Contains(o.NotifyIDs, e.NotifyID) {
		return Duplicate, nil
	}
	if e.TotalAmount != 0 && e.TotalAmount != o.TotalAmount {
		// Another amount than the order's: a tampered app's price, or a genuine notice
		// about another order re-split onto this one. Either way it must not write to
		// this order (a forged fact here would be as bad as a forged payment); the notify
		// service logs it and answers fail, so Alipay's redeliveries stay visible.
		return "", invalid("total_amount", fmt.Sprintf("%s differs from the order's %s", e.TotalAmount, o.TotalAmount))
	}
	now := normTime(e.Now)
	afterClose := PaidAfterClose(o, e.TradeStatus)
	forward := TradeMachine.Allowed(o.Status, e.TradeStatus) || afterClose
	refund := e.RefundFee > o.RefundFee && (forward || o.Status == TradeSuccess || o.Status == TradeFinished || o.Status == TradeClosed)
	opKeyName, settled, settles := refundNoticeOp(o, e, now)
	external := !settles && isExternalRefund(o, e)
	// Alipay's own TRADE_CLOSED for an order we closed unconfirmed: now it is final.
	confirmsClose := o.Status == TradeClosed && o.CloseUnconfirmed && e.TradeStatus == TradeClosed
	if !forward && !refund && !settles && !external && !confirmsClose {
		return Stale, nil
	}
	if confirmsClose {
		o.CloseUnconfirmed = false
	}
	if forward {
		o.Status = e.TradeStatus
		if afterClose {
			o.PaidAfterClose, o.CloseUnconfirmed, o.ClosedReason = true, false, ""
		}
	}
	if refund {
		o.RefundFee = e.RefundFee
	}
	if forward && e.TradeStatus == TradeClosed && o.ClosedReason == "" {
		// A close we did not make: a full refund (refund_fee, L6) or the unpaid timeout.
		o.ClosedReason = ClosedExpired
		if e.RefundFee > 0 || o.RefundFee == o.TotalAmount && o.RefundFee > 0 {
			o.ClosedReason = ClosedRefunded
		}
	}
	if forward && (tradePaid(e.TradeStatus) || e.RefundFee > 0) {
		// Paid (a refund implies a payment): record it and never let the order expire.
		if o.PaidAt.IsZero() {
			o.PaidAt = normTime(e.GmtPayment)
			if o.PaidAt.IsZero() {
				o.PaidAt = now
			}
		}
		if o.PaidAmount == 0 {
			o.PaidAmount, o.ReceiptAmount, o.BuyerPayAmount = e.TotalAmount, e.ReceiptAmount, e.BuyerPayAmount
		}
		o.ExpiresAt = time.Time{}
	}
	if settles {
		o.Ops = maps.Clone(o.Ops)
		o.Ops[opKeyName] = settled
	}
	if external {
		o.ExternalRefunds = append(slices.Clone(o.ExternalRefunds),
			ExternalRefund{OutRequestNo: e.OutBizNo, RefundFee: e.RefundFee, GmtRefund: normTime(e.GmtRefund)})
	}
	if o.TradeNo == "" {
		o.TradeNo = e.TradeNo
	}
	if o.BuyerID == "" {
		o.BuyerID = e.BuyerID
	}
	if o.BuyerOpenID == "" {
		o.BuyerOpenID = e.BuyerOpenID
	}
	o.UpdatedAt = now
	o.NotifyIDs = addReceipt(o.NotifyIDs, e.NotifyID)
	return Applied, nil
}

// PaidAfterClose reports whether a trade status Alipay reports for o is a payment
// arriving after we closed o without Alipay's word (docs/design.md, the lifecycle
// contract): recorded, never dropped.
func PaidAfterClose(o *AppPayOrder, s TradeStatus) bool {
	return o.Status == TradeClosed && o.CloseUnconfirmed && tradePaid(s)
}

// refundNoticeOp returns the refund operation a refund notice settles: ours, named by
// out_biz_no, PENDING or UNKNOWN. A notice is sent only for a refund that happened (L6),
// so it settles even a leased one: the holder's later completion keeps this proof
// (completeOperation).
func refundNoticeOp(o *AppPayOrder, e TradeEffect, now time.Time) (string, Operation, bool) {
	if e.OutBizNo == "" || e.RefundFee <= 0 {
		return "", Operation{}, false
	}
	key := opKey(OpRefund, e.OutBizNo)
	op, ok := o.Ops[key]
	if !ok || (op.State != OpUnknown && op.State != OpPending) {
		return "", Operation{}, false
	}
	result := map[string]string{ResultRefundFee: e.RefundFee.String(), ResultSource: "notice", ResultTradeNo: e.TradeNo}
	if !e.GmtRefund.IsZero() {
		result[ResultGmtRefundPay] = alipay.FormatTimestamp(e.GmtRefund)
	}
	if v := op.Result[ResultSentAt]; v != "" {
		result[ResultSentAt] = v
	}
	return key, settle(op, OpOutcome{State: OpSucceeded, Result: result, Now: now}), true
}

// isExternalRefund: a refund notice naming none of our operations and not recorded yet.
func isExternalRefund(o *AppPayOrder, e TradeEffect) bool {
	if e.OutBizNo == "" || e.RefundFee <= 0 || len(o.ExternalRefunds) >= MaxOperations {
		return false
	}
	if _, ours := o.Ops[opKey(OpRefund, e.OutBizNo)]; ours {
		return false
	}
	return !slices.ContainsFunc(o.ExternalRefunds, func(r ExternalRefund) bool { return r.OutRequestNo == e.OutBizNo })
}

// RefundedTotal is the order's cumulative refunded amount: what Alipay last reported,
// or the sum of our succeeded refunds when that is more (a reply or notice may lag).
func (o *AppPayOrder) RefundedTotal() alipay.Amount {
	var ours alipay.Amount
	for _, op := range o.Ops {
		if op.Kind == OpRefund && op.State == OpSucceeded {
			ours += op.Amount
		}
	}
	return max(o.RefundFee, ours)
}

// bindTradeNo decides a trade notice's claim on its trade_no, given the order the
// trade_no is bound to (owner, "" when unbound): claim it when unbound, go on when it is
// already this order's, refuse (ErrTradeNoBound) when it is another's. The stores bind
// before they apply, so an applied notice always has its binding.
func bindTradeNo(owner string, e TradeEffect) (claim bool, err error) {
	switch owner {
	case "":
		return true, nil
	case e.OutTradeNo:
		return false, nil
	}
	return false, fmt.Errorf("%w: trade_no %s belongs to out_trade_no %s, not %s", ErrTradeNoBound, e.TradeNo, owner, e.OutTradeNo)
}

func validateFundAuth(e FundAuthEffect) error {
	switch {
	case e.NotifyID == "":
		return invalid("notify_id", "is empty")
	case e.OutOrderNo == "":
		return invalid("out_order_no", "is empty")
	case e.OperationID == "":
		return invalid("operation_id", "is empty")
	case !e.OperationType.valid():
		return invalid("operation_type", fmt.Sprintf("%q is unknown", e.OperationType))
	case !OperationMachine.Known(e.OperationStatus):
		return invalid("status", fmt.Sprintf("%q is unknown", e.OperationStatus))
	case e.Amount < 0 || e.TotalFreeze < 0 || e.TotalUnfreeze < 0 || e.TotalPay < 0 || e.Rest < 0:
		return invalid("amount", "is negative")
	case e.Rest != e.TotalFreeze-e.TotalUnfreeze-e.TotalPay:
		return invalid("rest_amount", fmt.Sprintf("%s is not total_freeze_amount - total_unfreeze_amount - total_pay_amount (%s - %s - %s)",
			e.Rest, e.TotalFreeze, e.TotalUnfreeze, e.TotalPay))
	case e.Now.IsZero():
		return invalid("now", "is zero")
	}
	return nil
}

// fundAuthTarget is the order status a fund-auth notice implies, or "" for none.
func fundAuthTarget(o *PreAuthOrder, e FundAuthEffect) PreAuthStatus {
	switch {
	case e.OperationStatus == OperationSuccess:
		// Any successful operation proves the order was authorized; a snapshot with
		// something frozen and nothing left means everything was unfrozen or paid.
		if e.TotalFreeze > 0 && e.Rest == 0 {
			return settledStatus(e.TotalPay)
		}
		return PreAuthAuthorized
	case e.OperationType == OperationFreeze && e.OperationStatus == OperationClosed && e.TotalFreeze == 0 && o.Status != PreAuthAuthorized:
		// A voucher closed unpaid closes the order only when it is the latest one: an
		// earlier voucher may expire while a newer one is being paid.
		if e.OutRequestNo == "" || e.OutRequestNo == o.LatestRequest {
			return PreAuthClosed
		}
	}
	return ""
}

// applyFundAuth applies a fund-auth notice to o in place. Three facts merge
// independently, each only forward, so the result does not depend on arrival order:
// the operation's own status (OperationMachine), the order-level snapshot (kept when all
// three totals are ≥ the stored ones) and the order status (PreAuthMachine, moved only
// by a notice whose snapshot is not older than the stored one).
func applyFundAuth(o *PreAuthOrder, e FundAuthEffect) (ApplyResult, error) {
	if slices.Contains(o.NotifyIDs, e.NotifyID) {
		return Duplicate, nil
	}
	if o.Status == PreAuthClosed {
		// Closed while nothing was frozen: later notices are older than the close.
		return Stale, nil
	}
	op, known := o.Operations[e.OperationID]
	opChange := !known
	if known && op.Status != e.OperationStatus {
		if !OperationMachine.Allowed(op.Status, e.OperationStatus) {
			return Stale, nil // a late notice from before the operation's final status
		}
		opChange = true
	}
	if !known && len(o.Operations) >= MaxOperations {
		return "", fmt.Errorf("%w: %d fund operations on out_order_no %s", ErrLimit, MaxOperations, o.OutOrderNo)
	}
	fresh := e.TotalFreeze >= o.TotalFreeze && e.TotalUnfreeze >= o.TotalUnfreeze && e.TotalPay >= o.TotalPay
	snapChange := fresh && (e.TotalFreeze != o.TotalFreeze || e.TotalUnfreeze != o.TotalUnfreeze || e.TotalPay != o.TotalPay || e.Rest != o.Rest)
	target := fundAuthTarget(o, e)
	statusChange := fresh && target != "" && PreAuthMachine.Allowed(o.Status, target)
	authNoChange := o.AuthNo == "" && e.AuthNo != ""
	partiesChange := (o.PayerUserID == "" && e.PayerUserID != "") || (o.PayerOpenID == "" && e.PayerOpenID != "") ||
		(o.PayeeUserID == "" && e.PayeeUserID != "")
	ours, err := unfreezeNoticed(o.Ops, e)
	if err != nil {
		return "", err
	}
	if !opChange && !snapChange && !statusChange && !authNoChange && !partiesChange && ours == nil {
		return Stale, nil
	}
	now := normTime(e.Now)
	if opChange {
		if !known {
			op = FundOperation{OperationID: e.OperationID, OutRequestNo: e.OutRequestNo, Type: e.OperationType, Amount: e.Amount}
		}
		op.Status = e.OperationStatus
		op.GmtTrans = normTime(e.GmtTrans)
		op.UpdatedAt = now
		if o.Operations == nil {
			o.Operations = map[string]FundOperation{}
		}
		o.Operations[e.OperationID] = op
	}
	if snapChange {
		o.TotalFreeze, o.TotalUnfreeze, o.TotalPay, o.Rest = e.TotalFreeze, e.TotalUnfreeze, e.TotalPay, e.Rest
	}
	if statusChange {
		o.Status = target
		if target == PreAuthAuthorized || target == PreAuthFinished {
			o.ExpiresAt = time.Time{}
		}
	}
	if authNoChange {
		o.AuthNo = e.AuthNo
	}
	if partiesChange {
		o.PayerUserID = cmp.Or(o.PayerUserID, e.PayerUserID)
		o.PayerOpenID = cmp.Or(o.PayerOpenID, e.PayerOpenID)
		o.PayeeUserID = cmp.Or(o.PayeeUserID, e.PayeeUserID)
	}
	if ours != nil {
		o.setOps(ours, now)
	}
	o.UpdatedAt = now
	o.NotifyIDs = addReceipt(o.NotifyIDs, e.NotifyID)
	return Applied, nil
}

func validateAgreement(e AgreementEffect) error {
	switch {
	case e.NotifyID == "":
		return invalid("notify_id", "is empty")
	case e.ExternalAgreementNo == "":
		return invalid("external_agreement_no", "is empty")
	case e.Status == AgreementPending || !AgreementMachine.Known(e.Status):
		return invalid("status", fmt.Sprintf("%q is not a notified agreement status", e.Status))
	case e.Now.IsZero():
		return invalid("now", "is zero")
	}
	return nil
}

func applyAgreement(a *Agreement, e AgreementEffect) ApplyResult {
	if slices.Contains(a.NotifyIDs, e.NotifyID) {
		return Duplicate
	}
	if !AgreementMachine.Allowed(a.Status, e.Status) {
		return Stale
	}
	a.Status = e.Status
	if a.AgreementNo == "" {
		a.AgreementNo = e.AgreementNo
	}
	if a.AlipayUserID == "" {
		a.AlipayUserID = e.AlipayUserID
	}
	a.ExpiresAt = time.Time{}
	a.UpdatedAt = normTime(e.Now)
	a.NotifyIDs = addReceipt(a.NotifyIDs, e.NotifyID)
	return Applied
}

func validateBegin(b VoucherBegin) error {
	switch {
	case b.OutOrderNo == "":
		return invalid("out_order_no", "is empty")
	case b.OutRequestNo == "":
		return invalid("out_request_no", "is empty")
	case b.Owner == "":
		return invalid("owner", "is empty")
	case b.OrderHash == "":
		return invalid("order_hash", "is empty")
	case b.RequestHash == "":
		return invalid("request_hash", "is empty")
	case b.Amount <= 0:
		return invalid("amount", "must be positive")
	case b.Now.IsZero():
		return invalid("now", "is zero")
	case !b.LeaseUntil.After(b.Now):
		// A zero or past lease would never hold, or never expire once stored.
		return invalid("lease_until", "must be after now")
	}
	return nil
}

// beginVoucher decides BeginVoucher on the current order (nil when absent). It returns
// the order to write, or nil when nothing is written.
func beginVoucher(o *PreAuthOrder, b VoucherBegin, token string) (*PreAuthOrder, VoucherBeginResult, error) {
	now, lease := normTime(b.Now), normTime(b.LeaseUntil)
	req := VoucherRequest{
		OutRequestNo: b.OutRequestNo,
		RequestHash:  b.RequestHash,
		State:        RequestInProgress,
		LeaseUntil:   lease,
		CreatedAt:    now,
		UpdatedAt:    now,
		BizContent:   b.BizContent,
		NotifyURL:    b.NotifyURL,
		PayBy:        normTime(b.PayBy),
		token:        token,
	}
	if req.PayBy.IsZero() {
		req.PayBy = now.Add(DefaultVoucherPayTimeout)
	}
	acquired := VoucherBeginResult{Outcome: VoucherAcquired, Token: token, LeaseUntil: lease}
	if o == nil {
		o = &PreAuthOrder{
			OutOrderNo:    b.OutOrderNo,
			Owner:         b.Owner,
			OrderHash:     b.OrderHash,
			Amount:        b.Amount,
			OrderTitle:    b.OrderTitle,
			PayeeUserID:   b.PayeeUserID,
			Status:        PreAuthCreated,
			Requests:      map[string]VoucherRequest{b.OutRequestNo: req},
			LatestRequest: b.OutRequestNo,
			CreatedAt:     now,
			UpdatedAt:     now,
			ExpiresAt:     normExpiry(b.ExpiresAt),
			version:       1,
		}
		acquired.Status = o.Status
		return o, acquired, nil
	}
	res := VoucherBeginResult{Status: o.Status}
	if o.Owner != b.Owner || o.OrderHash != b.OrderHash {
		res.Outcome = VoucherConflict
		return nil, res, nil
	}
	cur, known := o.Requests[b.OutRequestNo]
	if known {
		if cur.RequestHash != b.RequestHash {
			res.Outcome = VoucherConflict
			return nil, res, nil
		}
		switch decideLease(cur.State.opState(), cur.LeaseUntil, now) {
		case leaseReplay:
			res.Outcome, res.Request = VoucherReplay, cur
			res.Request.token = ""
			return nil, res, nil
		case leaseInProgress:
			res.Outcome, res.LeaseUntil = VoucherInProgress, cur.LeaseUntil
			return nil, res, nil
		}
		// An expired lease or an unknown outcome: the same out_request_no may be sent again.
		req.CreatedAt = cur.CreatedAt
		// The same request again: Alipay keeps the voucher's original deadline.
		if !cur.PayBy.IsZero() {
			req.PayBy = cur.PayBy
		}
		if req.BizContent == "" {
			req.BizContent, req.NotifyURL = cur.BizContent, cur.NotifyURL
		}
	}
	switch o.Status {
	case PreAuthAuthorized, PreAuthFinished:
		res.Outcome = VoucherAlreadyAuthorized
		return nil, res, nil
	case PreAuthClosed:
		res.Outcome = VoucherOrderClosed
		return nil, res, nil
	}
	if !known && len(o.Requests) >= MaxVoucherRequests {
		return nil, res, fmt.Errorf("%w: %d voucher requests on out_order_no %s", ErrLimit, MaxVoucherRequests, o.OutOrderNo)
	}
	next := o.clone()
	if next.Requests == nil {
		next.Requests = map[string]VoucherRequest{}
	}
	next.Requests[b.OutRequestNo] = req
	if !known {
		next.LatestRequest = b.OutRequestNo
	}
	next.UpdatedAt = now
	acquired.Status = next.Status
	return next, acquired, nil
}

func validateOutcome(token string, out VoucherOutcome) error {
	if token == "" {
		return invalid("token", "is empty")
	}
	if out.Now.IsZero() {
		return invalid("now", "is zero")
	}
	switch out.State {
	case RequestIssued:
		if out.CodeValue == "" {
			return invalid("code_value", "is empty")
		}
	case RequestBusinessError:
		if out.Code == "" && out.SubCode == "" {
			return invalid("code", "and sub_code are empty")
		}
	case RequestUnknown:
	default:
		return invalid("state", fmt.Sprintf("%q is not an outcome", out.State))
	}
	return nil
}

func sameOutcome(r VoucherRequest, out VoucherOutcome) bool {
	return r.State == out.State && r.CodeType == out.CodeType && r.CodeValue == out.CodeValue &&
		r.CodeURL == out.CodeURL && r.Code == out.Code && r.SubCode == out.SubCode && r.SubMsg == out.SubMsg
}

// completeVoucher records a gateway outcome on o in place; false means nothing changed
// (the same completion was already recorded).
func completeVoucher(o *PreAuthOrder, outRequestNo, token string, out VoucherOutcome) (bool, error) {
	req, ok := o.Requests[outRequestNo]
	if !ok {
		return false, fmt.Errorf("%w: out_request_no %s on out_order_no %s", ErrNotFound, outRequestNo, o.OutOrderNo)
	}
	if ok, err := decideFinish("out_request_no "+outRequestNo, req.State.opState(), string(req.State), req.token, token, sameOutcome(req, out)); !ok {
		return false, err
	}
	now := normTime(out.Now)
	req.State = out.State
	req.LeaseUntil = time.Time{}
	req.CodeType, req.CodeValue, req.CodeURL = out.CodeType, out.CodeValue, out.CodeURL
	req.Code, req.SubCode, req.SubMsg = out.Code, out.SubCode, out.SubMsg
	req.UpdatedAt = now
	o.Requests = maps.Clone(o.Requests)
	o.Requests[outRequestNo] = req
	if out.State == RequestIssued && o.Status == PreAuthCreated {
		o.Status = PreAuthCodeIssued
	}
	o.UpdatedAt = now
	return true, nil
}

// publicPreAuth hides lease tokens from readers.
func publicPreAuth(o *PreAuthOrder) *PreAuthOrder {
	c := o.clone()
	for k, r := range c.Requests {
		r.token = ""
		c.Requests[k] = r
	}
	c.Ops = publicOps(c.Ops)
	return c
}
