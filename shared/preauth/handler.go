package preauth

import (
	"errors"
	"net/http"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
	"github.com/alipay-serverless/alipay-serverless/shared/httpapi"
)

// Routes of this slice, as written in httpapi.Routes.
const (
	PathVouchers  = "/v1/preauth/vouchers"
	PathOrder     = "/v1/preauth/orders/{out_order_no}"
	PathSync      = PathOrder + "/sync"
	PathCaptures  = PathOrder + "/captures"
	PathUnfreezes = PathOrder + "/unfreezes"
	PathCancel    = PathOrder + "/cancel"
)

// Handler serves the createvoucher function's routes over a Service (and a Settler
// for sync).
type Handler struct {
	svc  *Service
	sync *Settler
}

// NewHandler returns the HTTP handler of svc.
func NewHandler(svc *Service) *Handler { return &Handler{svc: svc} }

// WithSync serves POST .../sync with s.
func (h *Handler) WithSync(s *Settler) *Handler {
	h.sync = s
	return h
}

// Mount registers the createvoucher function's routes on r.
func (h *Handler) Mount(r *httpapi.Router) error {
	return r.MountFunction(httpapi.FnCreateVoucher, map[string]http.Handler{
		http.MethodPost + " " + PathVouchers: http.HandlerFunc(h.CreateVoucher),
		http.MethodGet + " " + PathOrder:     http.HandlerFunc(h.GetOrder),
		http.MethodPost + " " + PathSync:     http.HandlerFunc(h.Sync),
	})
}

// errNoSync: the sync route was mounted without a Settler (a wiring bug).
var errNoSync = errors.New("preauth: sync mounted without a settler")

// Sync serves POST /v1/preauth/orders/{out_order_no}/sync; the body is empty or {}.
func (h *Handler) Sync(w http.ResponseWriter, r *http.Request) {
	caller, err := httpapi.RequireCaller(r)
	if err == nil && h.sync == nil {
		err = errNoSync
	}
	if err != nil {
		httpapi.WriteErr(w, r, err)
		return
	}
	if herr := httpapi.ReadEmpty(r); herr != nil {
		httpapi.WriteErr(w, r, herr)
		return
	}
	o, err := h.sync.Sync(r.Context(), caller.ID, r.PathValue("out_order_no"))
	if err != nil {
		httpapi.WriteErr(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, o)
}

// CreateVoucher serves POST /v1/preauth/vouchers.
func (h *Handler) CreateVoucher(w http.ResponseWriter, r *http.Request) {
	caller, p, ok := httpapi.DecodeRequest(w, r, alipay.DecodeVoucherCreate)
	if !ok {
		return
	}
	res, err := h.svc.CreateVoucher(r.Context(), caller.ID, p, httpapi.NotifyURL(r, h.svc.notifyURL))
	if res.Replayed {
		httpapi.MarkReplayed(w)
	}
	if err != nil {
		httpapi.WriteErr(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, res.Voucher)
}

// GetOrder serves GET /v1/preauth/orders/{out_order_no}.
func (h *Handler) GetOrder(w http.ResponseWriter, r *http.Request) {
	caller, err := httpapi.RequireCaller(r)
	if err != nil {
		httpapi.WriteErr(w, r, err)
		return
	}
	o, err := h.svc.GetOrder(r.Context(), caller.ID, r.PathValue("out_order_no"))
	if err != nil {
		httpapi.WriteErr(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, o)
}
