package notify

import (
	"context"
	"errors"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
	"github.com/alipay-serverless/alipay-serverless/shared/apppay"
	"github.com/alipay-serverless/alipay-serverless/shared/domain"
	"github.com/alipay-serverless/alipay-serverless/shared/orders"
)

// The merchant's checks (protocol §8.3) run on verified notices only. Each handler
// reads the order, checks the notice against it and our configuration, then applies the
// effect with one conditional store update keyed by notify_id (the store's receipts make
// a redelivery a Duplicate and a late notice Stale).

// checkAppID compares the notice's app_id with the credentials' app (the app whose key
// Alipay answers). We call Alipay as the merchant, never as an ISV (no app_auth_token,
// §1), so auth_app_id names that same app and adds nothing to check.
func (s *Service) checkAppID(o *outcome, creds *alipay.Credentials, appID string) bool {
	if appID != creds.AppID {
		o.mismatch("app_id")
		return false
	}
	return true
}

func (s *Service) trade(ctx context.Context, creds *alipay.Credentials, n *alipay.Notification, o *outcome) {
	t, err := n.Trade()
	if err != nil {
		o.fail(ErrRejected, "malformed trade notice", err)
		return
	}
	o.notifyID, o.orderID = t.NotifyID, t.OutTradeNo
	if !s.checkAppID(o, creds, t.AppID) {
		return
	}
	ord, err := s.store.GetAppPayOrder(ctx, t.OutTradeNo)
	if errors.Is(err, orders.ErrNotFound) {
		// Not an app-pay order: a capture's (or charge's) out_trade_no, one namespace.
		ref, lerr := s.store.LookupOutTradeNo(ctx, t.OutTradeNo)
		if lerr == nil {
			s.operationTrade(ctx, t, ref, o)
			return
		}
		if !errors.Is(lerr, orders.ErrNotFound) {
			err = lerr
		}
	}
	if o.load(err) {
		return
	}
	switch {
	case s.sellerID != "" && t.SellerID != s.sellerID:
		// Absent seller_id fails too: with a PID configured we only accept what names it.
		o.mismatch("seller_id")
		return
	case t.HasRefundFee && t.RefundFee > ord.TotalAmount:
		o.mismatch("refund_fee")
		return
	case ord.TradeNo != "" && t.TradeNo != ord.TradeNo:
		// One out_trade_no is one Alipay trade.
		o.mismatch("trade_no")
		return
	}
	if t.TotalAmount != ord.TotalAmount {
		// Another amount than the order's: a tampered app's price, or a genuine notice of
		// another order re-split onto this one. Logged with both amounts and refused;
		// nothing is written, since which order it is about cannot be trusted.
		domain.Logger(ctx).Error("paid amount differs from the order's: refused", "out_trade_no", bounded(t.OutTradeNo),
			"trade_no", bounded(t.TradeNo), "order_total_amount", ord.TotalAmount.String(),
			"notified_total_amount", t.TotalAmount.String(), "buyer_pay_amount", t.BuyerPayAmount.String())
		o.mismatch("total_amount")
		return
	}
	e := orders.TradeEffect{
		NotifyID:    t.NotifyID,
		OutTradeNo:  t.OutTradeNo,
		TradeStatus: orders.TradeStatus(t.TradeStatus),
		TradeNo:     t.TradeNo,
		BuyerID:     t.BuyerID,
		BuyerOpenID: t.BuyerOpenID,
		GmtPayment:  t.GmtPayment,
		OutBizNo:    t.OutBizNo,
		GmtRefund:   t.GmtRefund,
		Now:         s.now(),
		// What Alipay says was paid, kept on the order (and compared with it there).
		TotalAmount:    t.TotalAmount,
		ReceiptAmount:  t.ReceiptAmount,
		BuyerPayAmount: t.BuyerPayAmount,
	}
	if t.HasRefundFee {
		e.RefundFee = t.RefundFee
	}
	res, err := s.store.ApplyTrade(ctx, e)
	if err == nil {
		apppay.NotePaidAfterClose(ctx, ord, e.TradeStatus, e.TradeNo, res)
	}
	o.apply(res, err)
}

func (s *Service) fundAuth(ctx context.Context, creds *alipay.Credentials, n *alipay.Notification, o *outcome) {
	a, err := n.FundAuth()
	if err != nil {
		o.fail(ErrRejected, "malformed fund-auth notice", err)
		return
	}
	o.notifyID, o.orderID = a.NotifyID, a.OutOrderNo
	if !s.checkFundAuthApp(o, creds, a) {
		return
	}
	ord, err := s.store.GetPreAuthOrder(ctx, a.OutOrderNo)
	if o.load(err) {
		return
	}
	if field := s.fundAuthMismatch(a, ord); field != "" {
		o.mismatch(field)
		return
	}
	e := orders.FundAuthEffect{
		NotifyID:        a.NotifyID,
		OutOrderNo:      a.OutOrderNo,
		AuthNo:          a.AuthNo,
		OperationID:     a.OperationID,
		OutRequestNo:    a.OutRequestNo,
		OperationType:   orders.OperationType(a.OperationType),
		OperationStatus: orders.OperationStatus(a.Status),
		Amount:          a.Amount,
		GmtTrans:        a.GmtTrans,
		Now:             s.now(),
		// The parties a capture is sent with (L1.2).
		PayerUserID: a.PayerUserID,
		PayerOpenID: a.PayerOpenID,
		PayeeUserID: a.PayeeUserID,
	}
	// Without the order-level snapshot the totals stay zero: the store then treats the
	// notice as no newer than what it holds and records only the operation.
	if a.HasTotals {
		e.TotalFreeze, e.TotalUnfreeze, e.TotalPay, e.Rest = a.TotalFreezeAmount, a.TotalUnfreezeAmount, a.TotalPayAmount, a.RestAmount
	}
	o.apply(s.store.ApplyFundAuth(ctx, e))
}

// checkFundAuthApp requires a fund-auth notice to name our app: app_id (checked as for
// trade notices), or, when Alipay leaves app_id out (its own §8.6 example has none),
// auth_app_id equal to our credentials' app (the merchant's own app: we are no ISV).
// A notice naming neither is refused: a signature alone does not say the notice is
// about our app's orders.
func (s *Service) checkFundAuthApp(o *outcome, creds *alipay.Credentials, a *alipay.FundAuthNotice) bool {
	switch {
	case a.AppID != "":
		return s.checkAppID(o, creds, a.AppID)
	case a.AuthAppID == "":
		o.mismatch("app_id")
		return false
	}
	if a.AuthAppID != creds.AppID {
		o.mismatch("auth_app_id")
		return false
	}
	return true
}

// fundAuthMismatch returns the first field of a fund-auth notice that contradicts the
// voucher order, or "".
func (s *Service) fundAuthMismatch(a *alipay.FundAuthNotice, ord *orders.PreAuthOrder) string {
	switch {
	case ord.AuthNo != "" && a.AuthNo != ord.AuthNo:
		// One out_order_no is one Alipay auth order.
		return "auth_no"
	case a.OperationType == alipay.FundAuthOpFreeze && a.Amount != ord.Amount:
		return "amount"
	case a.OperationType == alipay.FundAuthOpFreeze && !hasRequest(ord, a.OutRequestNo):
		// A voucher's freeze carries the out_request_no we sent with it.
		return "out_request_no"
	case a.PayeeUserID != "" && s.sellerID != "" && a.PayeeUserID != s.sellerID:
		return "payee_user_id"
	case a.PayeeUserID != "" && ord.PayeeUserID != "" && a.PayeeUserID != ord.PayeeUserID:
		return "payee_user_id"
	case a.HasTotals && a.CheckRest() != nil:
		return "rest_amount"
	case a.HasTotals && a.TotalFreezeAmount > ord.Amount:
		// A voucher never freezes more than its amount.
		return "total_freeze_amount"
	}
	return ""
}

func hasRequest(ord *orders.PreAuthOrder, outRequestNo string) bool {
	_, ok := ord.Requests[outRequestNo]
	return ok
}

func (s *Service) agreement(ctx context.Context, creds *alipay.Credentials, n *alipay.Notification, o *outcome) {
	g, err := n.Agreement()
	if err != nil {
		o.fail(ErrRejected, "malformed agreement notice", err)
		return
	}
	o.notifyID, o.orderID = g.NotifyID, g.ExternalAgreementNo
	if !s.checkAppID(o, creds, g.AppID) {
		return
	}
	if g.ExternalAgreementNo == "" {
		// Our agreements are all requested with an external_agreement_no (pay-and-sign);
		// a notice without one is not about an agreement we created.
		o.fail(ErrMismatch, "unknown agreement", nil)
		return
	}
	a, err := s.store.GetAgreement(ctx, g.ExternalAgreementNo)
	if o.load(err) {
		return
	}
	switch {
	case a.AgreementNo != "" && g.AgreementNo != a.AgreementNo:
		o.mismatch("agreement_no")
		return
	case a.PersonalProductCode != "" && g.PersonalProductCode != a.PersonalProductCode:
		o.mismatch("personal_product_code")
		return
	case a.SignScene != "" && g.SignScene != a.SignScene:
		o.mismatch("sign_scene")
		return
	}
	userID := g.AlipayUserID
	if userID == "" {
		userID = g.AlipayOpenID
	}
	o.apply(s.store.ApplyAgreement(ctx, orders.AgreementEffect{
		NotifyID:            g.NotifyID,
		ExternalAgreementNo: g.ExternalAgreementNo,
		AgreementNo:         g.AgreementNo,
		Status:              orders.AgreementStatus(g.Status),
		AlipayUserID:        userID,
		Now:                 s.now(),
	}))
}

// operationTrade applies a trade_status_sync about one of our payments: a capture's
// (docs/design.md, "Routes and scopes") or a charge's (L9.1: a deduction's result is
// notified to its notify_url). The operation is looked up on its parent, then
// paymentNotice decides.
func (s *Service) operationTrade(ctx context.Context, t *alipay.TradeNotice, ref orders.OpRef, o *outcome) {
	var (
		ops   orders.OpSet
		payee string
	)
	switch {
	case ref.Parent == orders.ParentPreAuth && ref.Kind == orders.OpCapture:
		o.orderKey, o.orderID = "out_order_no", ref.OrderNo
		ord, err := s.store.GetPreAuthOrder(ctx, ref.OrderNo)
		if o.load(err) {
			return
		}
		ops, payee = ord.Ops, ord.PayeeUserID
	case ref.Parent == orders.ParentAgreement && ref.Kind == orders.OpCharge:
		o.orderKey, o.orderID = "external_agreement_no", ref.OrderNo
		a, err := s.store.GetAgreement(ctx, ref.OrderNo)
		if o.load(err) {
			return
		}
		ops = a.Ops
	default:
		o.orderKey, o.orderID = "out_order_no", ref.OrderNo
		o.fail(ErrMismatch, "trade notice for an operation this slice does not apply", nil)
		return
	}
	op, ok := ops[string(ref.Kind)+":"+ref.RequestNo]
	switch {
	case !ok:
		o.fail(ErrMismatch, "unknown order", nil)
		return
	case s.sellerID != "" && t.SellerID != s.sellerID:
		o.mismatch("seller_id")
		return
	case t.SellerID != "" && payee != "" && t.SellerID != payee:
		// A capture goes to the freeze's payee.
		o.mismatch("seller_id")
		return
	case t.TotalAmount != op.Amount:
		o.mismatch("total_amount")
		return
	case op.Result[orders.ResultTradeNo] != "" && op.Result[orders.ResultTradeNo] != t.TradeNo:
		o.mismatch("trade_no")
		return
	}
	if t.TradeStatus != alipay.TradeStatusSuccess && t.TradeStatus != alipay.TradeStatusFinished {
		// A paid trade settles the operation; any other status changes nothing and is
		// acknowledged.
		domain.Logger(ctx).Warn("payment trade notice with a status that changes nothing", "kind", string(ref.Kind),
			"out_trade_no", bounded(t.OutTradeNo), "trade_status", string(t.TradeStatus))
		o.result, o.acked = orders.Stale, true
		return
	}
	res := map[string]string{orders.ResultTradeNo: t.TradeNo}
	if !t.GmtPayment.IsZero() {
		res["gmt_payment"] = alipay.FormatTimestamp(t.GmtPayment)
	}
	o.apply(s.store.ApplyOpNotice(ctx, orders.OpNotice{NotifyID: t.NotifyID, OpRef: ref, Result: res, TradeNo: t.TradeNo, Now: s.now()}))
}

// fundAuthCancel applies a fund_auth_operation_cancel notice (ids and action only, L3)
// to our cancel of that voucher request.
func (s *Service) fundAuthCancel(ctx context.Context, creds *alipay.Credentials, n *alipay.Notification, o *outcome) {
	c, err := n.FundAuthCancel()
	if err != nil {
		o.fail(ErrRejected, "malformed fund-auth cancel notice", err)
		return
	}
	o.notifyID, o.orderID = c.NotifyID, c.OutOrderNo
	if !s.checkFundAuthApp(o, creds, &alipay.FundAuthNotice{AppID: c.AppID, AuthAppID: c.AuthAppID}) {
		return
	}
	ord, err := s.store.GetPreAuthOrder(ctx, c.OutOrderNo)
	if o.load(err) {
		return
	}
	if ord.AuthNo != "" && c.AuthNo != "" && c.AuthNo != ord.AuthNo {
		o.mismatch("auth_no")
		return
	}
	res := map[string]string{orders.ResultAction: c.Action}
	if c.OperationID != "" {
		res[orders.ResultOperationID] = c.OperationID
	}
	ref := orders.OpRef{Parent: orders.ParentPreAuth, OrderNo: c.OutOrderNo, Kind: orders.OpCancel, RequestNo: c.OutRequestNo}
	o.apply(s.store.ApplyOpNotice(ctx, orders.OpNotice{NotifyID: c.NotifyID, OpRef: ref, Result: res, Now: s.now()}))
}
