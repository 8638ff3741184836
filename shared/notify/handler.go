package notify

import (
	"net/http"
	"strconv"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
	"github.com/alipay-serverless/alipay-serverless/shared/httpapi"
)

// Handler serves POST /v1/notify/alipay. The route needs no caller: the notification's
// signature is its authentication.
type Handler struct {
	svc *Service
}

// NewHandler returns the HTTP handler of svc.
func NewHandler(svc *Service) *Handler { return &Handler{svc: svc} }

// Mount registers the notify route(s) of the route table on r.
func (h *Handler) Mount(r *httpapi.Router) error {
	for _, rt := range httpapi.RoutesOf(httpapi.FnNotify) {
		if err := r.Handle(rt.Method, rt.Path, h); err != nil {
			return err
		}
	}
	return nil
}

// ServeHTTP reads the raw body bytes (never as text: the body's own charset decides how
// they decode) and replies in plain text: every non-success is "fail" so Alipay resends.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	ct := r.Header.Get("Content-Type")
	var status int
	var reply string
	if !httpapi.IsForm(ct) {
		// Rejected before reading a body we would not parse.
		status, reply = h.svc.Handle(ctx, ct, nil)
	} else if body, herr := httpapi.ReadBody(r); herr != nil {
		o := &outcome{kind: alipay.KindUnknown}
		status, reply = h.svc.finish(ctx, o.fail(herr.Status, herr.Message, nil))
	} else {
		status, reply = h.svc.Handle(ctx, ct, body)
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/plain")
	hd.Set("Cache-Control", "no-store")
	hd.Set("Content-Length", strconv.Itoa(len(reply)))
	w.WriteHeader(status)
	_, _ = w.Write([]byte(reply))
}
