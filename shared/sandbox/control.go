package sandbox

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
)

// maxControlBody bounds a control request body (an order string is at most 16 KiB).
const maxControlBody = 64 << 10

// controlError is the error reply of a control endpoint:
// {"error":{"code","message","field","sub_code"}}.
type controlError struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
	SubCode string `json:"sub_code,omitempty"`
	// SignContent is the content the simulator verified, when a signature failed.
	SignContent string `json:"sign_content,omitempty"`
}

func badRequest(field, message string) *controlError {
	return &controlError{Status: http.StatusBadRequest, Code: "ILLEGAL_ARGUMENT", Field: field, Message: message}
}

func notFound(message string) *controlError {
	return &controlError{Status: http.StatusNotFound, Code: "NOT_FOUND", Message: message}
}

func conflict(code, message string) *controlError {
	return &controlError{Status: http.StatusConflict, Code: code, Message: message}
}

func unavailable(code, message string) *controlError {
	return &controlError{Status: http.StatusServiceUnavailable, Code: code, Message: message}
}

// control adapts a control operation to HTTP: bounded body, JSON in and out.
func (s *Simulator) control(fn func(body []byte) (any, *controlError)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxControlBody))
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				writeJSONError(w, &controlError{Status: http.StatusRequestEntityTooLarge, Code: "BODY_TOO_LARGE", Message: "body exceeds 64 KiB"})
				return
			}
			writeJSONError(w, badRequest("", "body could not be read"))
			return
		}
		res, cerr := fn(body)
		if cerr != nil {
			s.log.Info("sandbox: control call refused", "path", r.URL.Path, "code", cerr.Code, "message", cerr.Message)
			writeJSONError(w, cerr)
			return
		}
		writeJSON(w, http.StatusOK, res)
	}
}

// decodeJSON decodes exactly one JSON object with only known fields.
func decodeJSON(body []byte, v any) *controlError {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badRequest("", "body must be a JSON object with the documented fields: "+err.Error())
	}
	if dec.More() {
		return badRequest("", "body must be a single JSON object")
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		http.Error(w, `{"error":{"code":"INTERNAL_ERROR","message":"reply could not be encoded"}}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

func writeJSONError(w http.ResponseWriter, e *controlError) {
	writeJSON(w, e.Status, map[string]*controlError{"error": e})
}

// indexText is GET /sandbox/: what a person can do here.
const indexText = `Alipay gateway simulator

POST /sandbox/gateway.do          the gateway (alipay.fund.auth.order.voucher.create,
                                  alipay.fund.auth.operation.detail.query, alipay.trade.query)
POST /sandbox/vouchers/scan       {"out_order_no":"..."}            buyer scans: freeze + fund_auth_freeze notice
POST /sandbox/vouchers/close      {"out_order_no":"..."}            unpaid order closes: CLOSED notice
POST /sandbox/orders/pay          {"order_str":"..."}               buyer pays: trade_status_sync (+ dut_user_sign)
POST /sandbox/orders/finish       {"out_trade_no":"..."}            TRADE_FINISHED notice
POST /sandbox/orders/refund       {"out_trade_no":"...","refund_fee":"1.00"}
POST /sandbox/agreements/unsign   {"external_agreement_no":"..."}   dut_user_unsign notice
GET  /sandbox/deliveries          notification delivery log (?notify_id=...)

Markers in order_title (voucher) or subject (app pay) force outcomes:
SIM_BIZ_<SUB_CODE>, SIM_20000, SIM_SYSTEM_ERROR, SIM_TIMEOUT, SIM_BAD_SIGN, SIM_HTTP500.
`

func (s *Simulator) serveIndex(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = io.WriteString(w, indexText+"app_id: "+s.appID+"\nseller_id: "+s.sellerID+
		"\nalipay public key fingerprint: "+s.AlipayPublicKey().Fingerprint()+"\n")
}
