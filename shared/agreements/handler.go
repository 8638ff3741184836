package agreements

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
	"github.com/alipay-serverless/alipay-serverless/shared/httpapi"
	"github.com/alipay-serverless/alipay-serverless/shared/orders"
)

// Handler serves the agreement routes: GET, sync and unsign on the apppaysign function
// (owner or scope settle), charges on the settle function (scope settle).
type Handler struct {
	svc       *Service
	notifyURL string // ALIPAY_NOTIFY_URL; empty = derived from the request
}

// NewHandler returns the HTTP handler of svc; notifyURL is the configured notify_url.
func NewHandler(svc *Service, notifyURL string) *Handler {
	return &Handler{svc: svc, notifyURL: notifyURL}
}

// Handlers are this slice's routes of the apppaysign function, keyed "METHOD path".
func (h *Handler) Handlers() map[string]http.Handler {
	return map[string]http.Handler{
		http.MethodGet + " /v1/agreements/{external_agreement_no}":         http.HandlerFunc(h.get),
		http.MethodPost + " /v1/agreements/{external_agreement_no}/sync":   http.HandlerFunc(h.sync),
		http.MethodPost + " /v1/agreements/{external_agreement_no}/unsign": http.HandlerFunc(h.unsign),
	}
}

// SettleHandlers are this slice's routes of the settle function (scope settle).
func (h *Handler) SettleHandlers() map[string]http.Handler {
	return map[string]http.Handler{
		http.MethodPost + " /v1/agreements/{external_agreement_no}/charges": http.HandlerFunc(h.charge),
	}
}

// RuleView is the signed period_rule_params.
type RuleView struct {
	PeriodType    string         `json:"period_type"`
	Period        int            `json:"period"`
	ExecuteTime   string         `json:"execute_time"`
	SingleAmount  alipay.Amount  `json:"single_amount"`
	TotalAmount   *alipay.Amount `json:"total_amount,omitempty"`
	TotalPayments int            `json:"total_payments,omitempty"`
}

// WindowView is the next charge window: the period a charge would be for and its dates
// (China dates, inclusive).
type WindowView struct {
	Period   int    `json:"period"`
	PlanDate string `json:"plan_date"`
	From     string `json:"from"`
	To       string `json:"to"`
}

// ChargeEntry is one charge in the agreement view.
type ChargeEntry struct {
	OutTradeNo string        `json:"out_trade_no"`
	Amount     alipay.Amount `json:"amount"`
	Period     int           `json:"period"`
	Status     string        `json:"status"`
	TradeNo    string        `json:"trade_no,omitempty"`
	GmtPayment string        `json:"gmt_payment,omitempty"`
	SubCode    string        `json:"sub_code,omitempty"`
	SubMsg     string        `json:"sub_msg,omitempty"`
	CreatedAt  string        `json:"created_at"`
	UpdatedAt  string        `json:"updated_at"`
}

// View is the agreement view (GET, sync, unsign).
type View struct {
	ExternalAgreementNo string `json:"external_agreement_no"`
	AgreementNo         string `json:"agreement_no,omitempty"`
	Status              string `json:"status"`
	// InvalidReason: Alipay refused a charge because the agreement is gone
	// (ACQ.AGREEMENT_NOT_EXIST / ACQ.AGREEMENT_INVALID); no charge is sent any more.
	InvalidReason       string        `json:"invalid_reason,omitempty"`
	OutTradeNo          string        `json:"out_trade_no"`
	PersonalProductCode string        `json:"personal_product_code,omitempty"`
	SignScene           string        `json:"sign_scene,omitempty"`
	PeriodRule          *RuleView     `json:"period_rule_params,omitempty"`
	ChargedCount        int           `json:"charged_count"`
	ChargedTotal        alipay.Amount `json:"charged_total"`
	CurrentPeriod       int           `json:"current_period"`
	NextChargeWindow    *WindowView   `json:"next_charge_window,omitempty"`
	Charges             []ChargeEntry `json:"charges"`
	CreatedAt           string        `json:"created_at"`
	UpdatedAt           string        `json:"updated_at"`
}

func chinaTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(alipay.ChinaTime).Format(time.RFC3339)
}

// NewView renders a; windowDays is the configured charge window.
func NewView(a *orders.Agreement, windowDays int) View {
	t := a.Tally()
	v := View{
		ExternalAgreementNo: a.ExternalAgreementNo, AgreementNo: a.AgreementNo, Status: string(a.Status),
		InvalidReason: a.Invalid, OutTradeNo: a.OutTradeNo, PersonalProductCode: a.PersonalProductCode, SignScene: a.SignScene,
		ChargedCount: t.Succeeded, ChargedTotal: t.SucceededAmount, CurrentPeriod: t.Succeeded + 1,
		Charges: []ChargeEntry{}, CreatedAt: chinaTime(a.CreatedAt), UpdatedAt: chinaTime(a.UpdatedAt),
	}
	if r := a.Rule; r != nil {
		v.PeriodRule = &RuleView{PeriodType: r.PeriodType, Period: r.Period, ExecuteTime: r.ExecuteTime,
			SingleAmount: r.SingleAmount, TotalPayments: r.TotalPayments}
		if r.TotalAmount > 0 {
			total := r.TotalAmount
			v.PeriodRule.TotalAmount = &total
		}
		more := r.TotalPayments == 0 || t.Succeeded < r.TotalPayments
		if from, to, err := r.Window(v.CurrentPeriod, windowDays); err == nil && a.Chargeable() && more {
			v.NextChargeWindow = &WindowView{Period: v.CurrentPeriod, PlanDate: to.Format(dateLayout),
				From: from.Format(dateLayout), To: to.Format(dateLayout)}
		}
	}
	for _, op := range a.Ops {
		if op.Kind != orders.OpCharge {
			continue
		}
		k, _ := strconv.Atoi(op.Params[orders.ParamPeriod])
		e := ChargeEntry{OutTradeNo: op.RequestNo, Amount: op.Amount, Period: k, Status: string(op.State),
			CreatedAt: chinaTime(op.CreatedAt), UpdatedAt: chinaTime(op.UpdatedAt)}
		switch op.State {
		case orders.OpSucceeded:
			e.TradeNo, e.GmtPayment = op.Result[orders.ResultTradeNo], op.Result["gmt_payment"]
		case orders.OpFailed:
			e.SubCode, e.SubMsg = op.SubCode, op.SubMsg
		}
		v.Charges = append(v.Charges, e)
	}
	slices.SortFunc(v.Charges, func(a, b ChargeEntry) int {
		return strings.Compare(a.CreatedAt+a.OutTradeNo, b.CreatedAt+b.OutTradeNo)
	})
	return v
}

// ChargeReply is the charge route's 200 reply.
type ChargeReply struct {
	ExternalAgreementNo string        `json:"external_agreement_no"`
	OutTradeNo          string        `json:"out_trade_no"`
	TradeNo             string        `json:"trade_no"`
	Amount              alipay.Amount `json:"amount"`
	Status              string        `json:"status"`
	Period              int           `json:"period"`
}

func (h *Handler) get(w http.ResponseWriter, r *http.Request) {
	owner, err := httpapi.OwnerOrAny(r, httpapi.ScopeSettle)
	if err != nil {
		httpapi.WriteErr(w, r, err)
		return
	}
	a, err := h.svc.Get(r.Context(), owner, r.PathValue("external_agreement_no"))
	if err != nil {
		httpapi.WriteErr(w, r, notFoundAgreement(err))
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, NewView(a, h.svc.WindowDays()))
}

func (h *Handler) sync(w http.ResponseWriter, r *http.Request) {
	h.action(w, r, h.svc.Sync)
}

func (h *Handler) unsign(w http.ResponseWriter, r *http.Request) {
	notifyURL := httpapi.NotifyURL(r, h.notifyURL)
	h.action(w, r, func(ctx context.Context, owner, ext string) (*orders.Agreement, error) {
		return h.svc.Unsign(ctx, owner, ext, notifyURL)
	})
}

// action serves sync and unsign: no body ({} accepted), the agreement view in reply.
func (h *Handler) action(w http.ResponseWriter, r *http.Request, act func(ctx context.Context, owner, ext string) (*orders.Agreement, error)) {
	owner, err := httpapi.OwnerOrAny(r, httpapi.ScopeSettle)
	if err != nil {
		httpapi.WriteErr(w, r, err)
		return
	}
	if err := httpapi.ReadEmpty(r); err != nil {
		httpapi.WriteErr(w, r, err)
		return
	}
	a, err := act(r.Context(), owner, r.PathValue("external_agreement_no"))
	if err != nil {
		httpapi.WriteErr(w, r, notFoundAgreement(err))
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, NewView(a, h.svc.WindowDays()))
}

// notFoundAgreement names what was not found.
func notFoundAgreement(err error) error {
	if httpapi.ErrorFor(err).Status == http.StatusNotFound {
		return httpapi.NotFound("no such agreement")
	}
	return err
}

func (h *Handler) charge(w http.ResponseWriter, r *http.Request) {
	_, p, ok := httpapi.DecodeRequest(w, r, alipay.DecodeCharge)
	if !ok {
		return
	}
	ext := r.PathValue("external_agreement_no")
	res, err := h.svc.Charge(r.Context(), ext, p, httpapi.NotifyURL(r, h.notifyURL))
	if res != nil && res.Replayed {
		httpapi.MarkReplayed(w)
	}
	if err != nil {
		httpapi.WriteErr(w, r, notFoundAgreement(err))
		return
	}
	reply := ChargeReply{ExternalAgreementNo: ext, OutTradeNo: res.Op.RequestNo, TradeNo: res.Op.Result[orders.ResultTradeNo],
		Amount: res.Op.Amount, Status: string(res.Op.State), Period: res.Period}
	httpapi.Logger(r.Context()).Info("charge", "external_agreement_no", ext, "out_trade_no", reply.OutTradeNo,
		"status", reply.Status, "period", reply.Period, "replayed", res.Replayed)
	httpapi.WriteJSON(w, http.StatusOK, reply)
}
