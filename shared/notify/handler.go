package notify

import (
	"errors"
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

// Mount registers the notify function's route on r.
func (h *Handler) Mount(r *httpapi.Router) error {
	return r.MountFunction(httpapi.FnNotify, map[string]http.Handler{
		http.MethodPost + " " + httpapi.NotifyPath: h,
	})
}

// ServeHTTP reads the raw body bytes (never as text: the body's own charset decides how
// they decode) and replies in plain text: every non-success is "fail" so Alipay resends.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	ct := r.Header.Get("Content-Type")
	var err error
	if !httpapi.IsForm(ct) {
		// Rejected before reading a body we would not parse.
		err = h.svc.Process(ctx, ct, nil)
	} else if body, herr := httpapi.ReadBody(r); herr != nil {
		kind := ErrRejected
		if herr.Status == http.StatusRequestEntityTooLarge {
			kind = ErrTooLarge
		}
		err = h.svc.refuse(ctx, kind, herr.Message)
	} else {
		err = h.svc.Process(ctx, ct, body)
	}
	status, reply := Reply(err)
	hd := w.Header()
	hd.Set("Content-Type", "text/plain")
	hd.Set("Cache-Control", "no-store")
	hd.Set("Content-Length", strconv.Itoa(len(reply)))
	w.WriteHeader(status)
	_, _ = w.Write([]byte(reply))
}

// Status maps Process's outcome to the notify route's HTTP status. It is not
// httpapi.ErrorFor on purpose: this route answers Alipay's plain-text protocol, not the
// JSON contract, and its errors mean other things there (an order the store refuses to
// change is the notice's mismatch, 409, not our bug). Only Alipay reads the status;
// what it acts on is the body.
func Status(err error) int {
	switch {
	case err == nil:
		return http.StatusOK
	case errors.Is(err, ErrNotForm):
		return http.StatusUnsupportedMediaType
	case errors.Is(err, ErrTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, ErrRejected):
		return http.StatusBadRequest
	case errors.Is(err, ErrMismatch):
		return http.StatusConflict
	case errors.Is(err, ErrUnavailable):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// Reply is the status and plain-text body for Process's outcome: exactly "success" only
// when the effect is stored, "fail" otherwise.
func Reply(err error) (int, string) {
	if err == nil {
		return http.StatusOK, alipay.NotifySuccessReply
	}
	return Status(err), alipay.NotifyFailReply
}
