package preauth

import (
	"net/http"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
	"github.com/alipay-serverless/alipay-serverless/shared/httpapi"
)

// SettleHandler serves the pre-auth routes of the settle function: captures,
// unfreezes, cancel.
type SettleHandler struct {
	s *Settler
}

// NewSettleHandler returns the HTTP handler of s.
func NewSettleHandler(s *Settler) *SettleHandler { return &SettleHandler{s: s} }

// Handlers are the settle function's pre-auth routes, for the settle slice to mount
// with the other slices' settle routes.
func (h *SettleHandler) Handlers() map[string]http.Handler {
	return map[string]http.Handler{
		http.MethodPost + " " + PathCaptures:  http.HandlerFunc(h.Capture),
		http.MethodPost + " " + PathUnfreezes: http.HandlerFunc(h.Unfreeze),
		http.MethodPost + " " + PathCancel:    http.HandlerFunc(h.Cancel),
	}
}

func writeSettled[R any](w http.ResponseWriter, r *http.Request, res Settled[R], err error) {
	if res.Replayed {
		httpapi.MarkReplayed(w)
	}
	if err != nil {
		httpapi.WriteErr(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, res.Reply)
}

// Capture serves POST /v1/preauth/orders/{out_order_no}/captures.
func (h *SettleHandler) Capture(w http.ResponseWriter, r *http.Request) {
	caller, p, ok := httpapi.DecodeRequest(w, r, alipay.DecodeCapture)
	if !ok {
		return
	}
	res, err := h.s.Capture(r.Context(), caller.ID, r.PathValue("out_order_no"), p, httpapi.NotifyURL(r, h.s.notifyURL))
	writeSettled(w, r, res, err)
}

// Unfreeze serves POST /v1/preauth/orders/{out_order_no}/unfreezes.
func (h *SettleHandler) Unfreeze(w http.ResponseWriter, r *http.Request) {
	caller, p, ok := httpapi.DecodeRequest(w, r, alipay.DecodeUnfreeze)
	if !ok {
		return
	}
	res, err := h.s.Unfreeze(r.Context(), caller.ID, r.PathValue("out_order_no"), p, httpapi.NotifyURL(r, h.s.notifyURL))
	writeSettled(w, r, res, err)
}

// Cancel serves POST /v1/preauth/orders/{out_order_no}/cancel.
func (h *SettleHandler) Cancel(w http.ResponseWriter, r *http.Request) {
	caller, p, ok := httpapi.DecodeRequest(w, r, alipay.DecodeCancel)
	if !ok {
		return
	}
	res, err := h.s.Cancel(r.Context(), caller.ID, r.PathValue("out_order_no"), p, httpapi.NotifyURL(r, h.s.notifyURL))
	writeSettled(w, r, res, err)
}
