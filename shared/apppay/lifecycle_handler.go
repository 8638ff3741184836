package apppay

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
	"github.com/alipay-serverless/alipay-serverless/shared/httpapi"
	"github.com/alipay-serverless/alipay-serverless/shared/orders"
)

// SettleHandlers are this slice's routes of the settle function (scope settle), keyed
// "METHOD path" as httpapi.Router.MountFunction takes them: the settle slice mounts them
// with the other slices' settle routes.
func (h *Handler) SettleHandlers() map[string]http.Handler {
	return map[string]http.Handler{
		http.MethodPost + " /v1/app-pay/orders/{out_trade_no}/refunds": http.HandlerFunc(h.refund),
	}
}

// RefundEntry is one of our refunds in the order view. Status is the operation's
// (PENDING while leased or sent without proof, SUCCEEDED, FAILED, UNKNOWN).
type RefundEntry struct {
	OutRequestNo string        `json:"out_request_no"`
	RefundAmount alipay.Amount `json:"refund_amount"`
	Status       string        `json:"status"`
	TradeNo      string        `json:"trade_no,omitempty"`
	GmtRefundPay string        `json:"gmt_refund_pay,omitempty"`
	SubCode      string        `json:"sub_code,omitempty"`
	SubMsg       string        `json:"sub_msg,omitempty"`
	CreatedAt    string        `json:"created_at"`
	UpdatedAt    string        `json:"updated_at"`
}

// ExternalRefundView is a refund Alipay notified that we did not make.
type ExternalRefundView struct {
	OutRequestNo string        `json:"out_request_no"`
	RefundFee    alipay.Amount `json:"refund_fee"` // the cumulative refunded amount that notice reported
	GmtRefund    string        `json:"gmt_refund,omitempty"`
}

// refundStatus: an operation sent and accepted without proof (fund_change N) is
// PENDING, as the 202 said; other states are shown as they are.
func refundStatus(op orders.Operation) string {
	if op.State == orders.OpUnknown && op.Result[orders.ResultFundChange] == "N" {
		return string(RefundPending)
	}
	return string(op.State)
}

func refundEntries(o *orders.AppPayOrder) []RefundEntry {
	out := []RefundEntry{}
	for _, op := range o.Ops {
		if op.Kind != orders.OpRefund {
			continue
		}
		e := RefundEntry{OutRequestNo: op.RequestNo, RefundAmount: op.Amount, Status: refundStatus(op),
			CreatedAt: chinaTime(op.CreatedAt), UpdatedAt: chinaTime(op.UpdatedAt)}
		if op.State == orders.OpSucceeded {
			e.TradeNo, e.GmtRefundPay = op.Result[orders.ResultTradeNo], op.Result[orders.ResultGmtRefundPay]
		}
		if op.State == orders.OpFailed {
			e.SubCode, e.SubMsg = op.SubCode, op.SubMsg
		}
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b RefundEntry) int {
		return strings.Compare(a.CreatedAt+a.OutRequestNo, b.CreatedAt+b.OutRequestNo)
	})
	return out
}

func externalRefunds(o *orders.AppPayOrder) []ExternalRefundView {
	var out []ExternalRefundView
	for _, r := range o.ExternalRefunds {
		out = append(out, ExternalRefundView{OutRequestNo: r.OutRequestNo, RefundFee: r.RefundFee, GmtRefund: chinaTime(r.GmtRefund)})
	}
	return out
}

// RefundReply is the refund route's reply (200 SUCCEEDED, 202 PENDING).
type RefundReply struct {
	OutTradeNo    string        `json:"out_trade_no"`
	OutRequestNo  string        `json:"out_request_no"`
	RefundAmount  alipay.Amount `json:"refund_amount"`
	RefundedTotal alipay.Amount `json:"refunded_total"`
	Status        string        `json:"status"`
	TradeNo       string        `json:"trade_no,omitempty"`
	// The payer as the refund reply named it (L11).
	BuyerID     string `json:"buyer_id,omitempty"`
	BuyerOpenID string `json:"buyer_open_id,omitempty"`
}

func (h *Handler) refund(w http.ResponseWriter, r *http.Request) {
	_, p, ok := httpapi.DecodeRequest(w, r, alipay.DecodeRefund)
	if !ok {
		return
	}
	res, err := h.svc.Refund(r.Context(), r.PathValue("out_trade_no"), p)
	if res != nil && res.Replayed {
		httpapi.MarkReplayed(w)
	}
	if err != nil {
		httpapi.WriteErr(w, r, err)
		return
	}
	reply := RefundReply{
		OutTradeNo: res.Order.OutTradeNo, OutRequestNo: res.Op.RequestNo, RefundAmount: res.Op.Amount,
		RefundedTotal: res.Order.RefundedTotal(), Status: string(res.Status), TradeNo: res.Order.TradeNo,
		BuyerID:     or(res.Op.Result[orders.ResultBuyerUserID], res.Order.BuyerID),
		BuyerOpenID: or(res.Op.Result[orders.ResultBuyerOpenID], res.Order.BuyerOpenID),
	}
	status := http.StatusOK
	if res.Status == RefundPending {
		status = http.StatusAccepted
		w.Header().Set("Retry-After", strconv.Itoa(httpapi.Seconds(res.RetryAfter)))
	}
	httpapi.Logger(r.Context()).Info("refund", "out_trade_no", reply.OutTradeNo, "out_request_no", reply.OutRequestNo,
		"status", reply.Status, "replayed", res.Replayed)
	httpapi.WriteJSON(w, status, reply)
}

// or is a, else b.
func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func (h *Handler) sync(w http.ResponseWriter, r *http.Request) {
	h.orderAction(w, r, h.svc.Sync)
}

func (h *Handler) close(w http.ResponseWriter, r *http.Request) {
	h.orderAction(w, r, h.svc.Close)
}

// orderAction serves close and sync: no body ({} accepted), the order view in reply.
func (h *Handler) orderAction(w http.ResponseWriter, r *http.Request, act func(ctx context.Context, owner, outTradeNo string) (*orders.AppPayOrder, error)) {
	owner, err := httpapi.OwnerOrAny(r, httpapi.ScopeSettle)
	if err != nil {
		httpapi.WriteErr(w, r, err)
		return
	}
	if err := httpapi.ReadEmpty(r); err != nil {
		httpapi.WriteErr(w, r, err)
		return
	}
	o, err := act(r.Context(), owner, r.PathValue("out_trade_no"))
	if err != nil {
		httpapi.WriteErr(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, View(o))
}
