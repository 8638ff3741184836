package preauth

import (
	"fmt"
	"net/http"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
	"github.com/alipay-serverless/alipay-serverless/shared/httpapi"
)

// Routes of this slice, as written in httpapi.Routes.
const (
	PathVouchers = "/v1/preauth/vouchers"
	PathOrder    = "/v1/preauth/orders/{out_order_no}"
)

// Handler serves the pre-auth routes over a Service.
type Handler struct {
	svc *Service
}

// NewHandler returns the HTTP handler of svc.
func NewHandler(svc *Service) *Handler { return &Handler{svc: svc} }

// Mount registers the createvoucher function's routes on r. It fails unless this slice
// serves exactly the routes the table gives the function.
func (h *Handler) Mount(r *httpapi.Router) error {
	own := map[string]http.HandlerFunc{
		http.MethodPost + " " + PathVouchers: h.CreateVoucher,
		http.MethodGet + " " + PathOrder:     h.GetOrder,
	}
	for _, rt := range httpapi.RoutesOf(httpapi.FnCreateVoucher) {
		key := rt.Method + " " + rt.Path
		f, ok := own[key]
		if !ok {
			return fmt.Errorf("preauth: no handler for route %s", key)
		}
		if err := r.Handle(rt.Method, rt.Path, f); err != nil {
			return err
		}
		delete(own, key)
	}
	if len(own) > 0 {
		return fmt.Errorf("preauth: %d of the slice's routes are not in the route table", len(own))
	}
	return nil
}

// CreateVoucher serves POST /v1/preauth/vouchers.
func (h *Handler) CreateVoucher(w http.ResponseWriter, r *http.Request) {
	caller, ok := httpapi.CallerFrom(r.Context())
	if !ok {
		httpapi.Logger(r.Context()).Error("preauth: route mounted without authentication")
		httpapi.WriteError(w, httpapi.Internal())
		return
	}
	body, herr := httpapi.ReadJSON(r)
	if herr != nil {
		httpapi.WriteError(w, herr)
		return
	}
	p, err := alipay.DecodeVoucherCreate(body)
	if err != nil {
		httpapi.WriteError(w, fieldError(err))
		return
	}
	res, herr := h.svc.CreateVoucher(r.Context(), caller.ID, p, httpapi.NotifyURL(r, h.svc.notifyURL))
	if res.Replayed {
		w.Header().Set(ReplayedHeader, "true")
	}
	if herr != nil {
		httpapi.WriteError(w, herr)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, res.Voucher)
}

// GetOrder serves GET /v1/preauth/orders/{out_order_no}.
func (h *Handler) GetOrder(w http.ResponseWriter, r *http.Request) {
	caller, ok := httpapi.CallerFrom(r.Context())
	if !ok {
		httpapi.Logger(r.Context()).Error("preauth: route mounted without authentication")
		httpapi.WriteError(w, httpapi.Internal())
		return
	}
	o, herr := h.svc.GetOrder(r.Context(), caller.ID, r.PathValue("out_order_no"))
	if herr != nil {
		httpapi.WriteError(w, herr)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, o)
}
