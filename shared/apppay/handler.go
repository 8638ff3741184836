package apppay

import (
	"maps"
	"net/http"
	"time"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
	"github.com/alipay-serverless/alipay-serverless/shared/httpapi"
	"github.com/alipay-serverless/alipay-serverless/shared/orders"
)

// Handler serves the app-pay routes.
type Handler struct {
	svc       *Service
	notifyURL string // ALIPAY_NOTIFY_URL; empty = derived from the request
	// others are the apppaysign function's routes served by other slices (agreements).
	others map[string]http.Handler
}

// WithRoutes adds the apppaysign function's routes another slice serves (the
// agreements'), so Mount registers the whole function. Routes of the function that no
// slice was given for answer 404 (a test mounting this slice alone).
func (h *Handler) WithRoutes(others map[string]http.Handler) *Handler {
	h.others = others
	return h
}

// NewHandler returns the HTTP handler of svc; notifyURL is the configured notify_url.
func NewHandler(svc *Service, notifyURL string) *Handler {
	return &Handler{svc: svc, notifyURL: notifyURL}
}

// Mount registers the apppaysign function's routes on r; with server pricing, creating
// an order then needs the route table's ServerPricingScope.
func (h *Handler) Mount(r *httpapi.Router) error {
	if h.svc.ServerPricing() {
		r.RequireServerPricing()
	}
	hs := map[string]http.Handler{
		http.MethodPost + " /v1/app-pay/orders":                      http.HandlerFunc(h.create),
		http.MethodGet + " /v1/app-pay/orders/{out_trade_no}":        http.HandlerFunc(h.get),
		http.MethodPost + " /v1/app-pay/orders/{out_trade_no}/sync":  http.HandlerFunc(h.sync),
		http.MethodPost + " /v1/app-pay/orders/{out_trade_no}/close": http.HandlerFunc(h.close),
	}
	maps.Copy(hs, h.others)
	for _, rt := range httpapi.RoutesOf(httpapi.FnAppPaySign) {
		if key := rt.Method + " " + rt.Path; hs[key] == nil {
			hs[key] = http.NotFoundHandler()
		}
	}
	return r.MountFunction(httpapi.FnAppPaySign, hs)
}

type createReply struct {
	OutTradeNo string `json:"out_trade_no"`
	OrderStr   string `json:"order_str"`
	Status     string `json:"status"`
}

func (h *Handler) create(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	caller, p, ok := httpapi.DecodeRequest(w, r, alipay.DecodeAppPay)
	if !ok {
		return
	}
	res, err := h.svc.CreateOrder(ctx, caller.ID, p, httpapi.NotifyURL(r, h.notifyURL))
	if err != nil {
		httpapi.WriteErr(w, r, err)
		return
	}
	if res.Replayed {
		httpapi.MarkReplayed(w)
	}
	httpapi.Logger(ctx).Info("app-pay order", "out_trade_no", res.Order.OutTradeNo, "replayed", res.Replayed)
	httpapi.WriteJSON(w, http.StatusOK, createReply{
		OutTradeNo: res.Order.OutTradeNo, OrderStr: res.Order.OrderStr, Status: string(orders.TradeCreated),
	})
}

// OrderView is the GET reply: the order as stored, amounts as two-decimal strings,
// times in China time.
type OrderView struct {
	OutTradeNo  string         `json:"out_trade_no"`
	Status      string         `json:"status"`
	TotalAmount alipay.Amount  `json:"total_amount"`
	Subject     string         `json:"subject"`
	ProductCode string         `json:"product_code,omitempty"`
	TradeNo     string         `json:"trade_no,omitempty"`
	BuyerID     string         `json:"buyer_id,omitempty"`
	BuyerOpenID string         `json:"buyer_open_id,omitempty"`
	RefundFee   *alipay.Amount `json:"refund_fee,omitempty"`
	PaidAt      string         `json:"paid_at,omitempty"`
	// ClosedReason: CLOSED_BY_MERCHANT, EXPIRED or REFUNDED (TRADE_CLOSED only).
	// CloseUnconfirmed: closed here while Alipay had no trade yet. PaidAfterClose: a
	// payment arrived after such a close; refund or fulfil it.
	ClosedReason     string `json:"closed_reason,omitempty"`
	CloseUnconfirmed bool   `json:"close_unconfirmed,omitempty"`
	PaidAfterClose   bool   `json:"paid_after_close,omitempty"`
	// RefundedTotal is the cumulative refunded amount; Refunds our refunds, and
	// ExternalRefunds those Alipay notified that we did not make (its console).
	RefundedTotal   alipay.Amount        `json:"refunded_total"`
	Refunds         []RefundEntry        `json:"refunds"`
	ExternalRefunds []ExternalRefundView `json:"external_refunds,omitempty"`
	// What Alipay reported as paid (total_amount, receipt_amount, buyer_pay_amount of
	// the notice that paid it).
	PaidAmount     *alipay.Amount `json:"paid_amount,omitempty"`
	ReceiptAmount  *alipay.Amount `json:"receipt_amount,omitempty"`
	BuyerPayAmount *alipay.Amount `json:"buyer_pay_amount,omitempty"`
	// OrderStr is given to the owner until paid, so an app whose order the merchant's
	// backend created can submit it.
	OrderStr  string         `json:"order_str,omitempty"`
	CreatedAt string         `json:"created_at"`
	UpdatedAt string         `json:"updated_at"`
	Agreement *AgreementView `json:"agreement,omitempty"`
}

// AgreementView is the pay-and-sign agreement of an order.
type AgreementView struct {
	ExternalAgreementNo string `json:"external_agreement_no"`
	AgreementNo         string `json:"agreement_no,omitempty"`
	Status              string `json:"status"`
	PersonalProductCode string `json:"personal_product_code,omitempty"`
	SignScene           string `json:"sign_scene,omitempty"`
}

func chinaTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(alipay.ChinaTime).Format(time.RFC3339)
}

// View renders an order for its owner.
func View(o *orders.AppPayOrder) OrderView {
	v := OrderView{
		OutTradeNo: o.OutTradeNo, Status: string(o.Status), TotalAmount: o.TotalAmount,
		Subject: o.Subject, ProductCode: o.ProductCode, TradeNo: o.TradeNo, BuyerID: o.BuyerID, BuyerOpenID: o.BuyerOpenID,
		PaidAt: chinaTime(o.PaidAt), CreatedAt: chinaTime(o.CreatedAt), UpdatedAt: chinaTime(o.UpdatedAt),
		ClosedReason: string(o.ClosedReason), CloseUnconfirmed: o.CloseUnconfirmed, PaidAfterClose: o.PaidAfterClose,
		RefundedTotal: o.RefundedTotal(), Refunds: refundEntries(o), ExternalRefunds: externalRefunds(o),
	}
	if o.RefundFee > 0 {
		rf := o.RefundFee
		v.RefundFee = &rf
	}
	amount := func(a alipay.Amount) *alipay.Amount {
		if a == 0 {
			return nil
		}
		return &a
	}
	v.PaidAmount, v.ReceiptAmount, v.BuyerPayAmount = amount(o.PaidAmount), amount(o.ReceiptAmount), amount(o.BuyerPayAmount)
	if o.Status == orders.TradeCreated || o.Status == orders.TradeWaitBuyerPay {
		v.OrderStr = o.OrderStr
	}
	if o.ExternalAgreementNo != "" {
		v.Agreement = &AgreementView{
			ExternalAgreementNo: o.ExternalAgreementNo, AgreementNo: o.AgreementNo,
			Status: string(o.AgreementStatus), PersonalProductCode: o.PersonalProductCode, SignScene: o.SignScene,
		}
	}
	return v
}

func (h *Handler) get(w http.ResponseWriter, r *http.Request) {
	caller, err := httpapi.RequireCaller(r)
	if err != nil {
		httpapi.WriteErr(w, r, err)
		return
	}
	o, err := h.svc.GetOrder(r.Context(), caller.ID, r.PathValue("out_trade_no"))
	if err != nil {
		httpapi.WriteErr(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, View(o))
}
