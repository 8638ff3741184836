package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
)

// Error codes of the contract.
const (
	CodeIllegalArgument        = "ILLEGAL_ARGUMENT"
	CodeUnauthorized           = "UNAUTHORIZED"
	CodeForbidden              = "FORBIDDEN"
	CodeNotFound               = "NOT_FOUND"
	CodeMethodNotAllowed       = "METHOD_NOT_ALLOWED"
	CodeIdempotencyConflict    = "IDEMPOTENCY_CONFLICT"
	CodeRequestInProgress      = "REQUEST_IN_PROGRESS"
	CodeOrderAlreadyAuthorized = "ORDER_ALREADY_AUTHORIZED"
	CodeBodyTooLarge           = "BODY_TOO_LARGE"
	CodeUnsupportedMediaType   = "UNSUPPORTED_MEDIA_TYPE"
	CodeAlipayBusinessError    = "ALIPAY_BUSINESS_ERROR"
	CodeAlipayUnavailable      = "ALIPAY_UNAVAILABLE"
	CodeDependencyUnavailable  = "DEPENDENCY_UNAVAILABLE"
	CodeInternal               = "INTERNAL_ERROR"
)

// Error is a reply of the contract's error shape. Message is written for the API's
// caller: it never carries internals (wrapped Go errors are logged, not sent).
type Error struct {
	Status     int    `json:"-"`
	Code       string `json:"code"`
	Message    string `json:"message"`
	Field      string `json:"field,omitempty"`
	SubCode    string `json:"sub_code,omitempty"`
	SubMsg     string `json:"sub_msg,omitempty"`
	RetryAfter int    `json:"-"` // seconds; sets Retry-After when > 0
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Constructors for the rows of the contract.

// BadRequest is a 400 ILLEGAL_ARGUMENT naming the field.
func BadRequest(field, message string) *Error {
	return &Error{Status: http.StatusBadRequest, Code: CodeIllegalArgument, Message: message, Field: field}
}

// NotFound is a 404 for an unknown order (or one that is not the caller's).
func NotFound(message string) *Error {
	return &Error{Status: http.StatusNotFound, Code: CodeNotFound, Message: message}
}

// Conflict is a 409 with the given code.
func Conflict(code, message string) *Error {
	return &Error{Status: http.StatusConflict, Code: code, Message: message}
}

// InProgress is a 409 REQUEST_IN_PROGRESS with Retry-After.
func InProgress(retryAfter int) *Error {
	if retryAfter < 1 {
		retryAfter = 1
	}
	return &Error{Status: http.StatusConflict, Code: CodeRequestInProgress,
		Message: "an identical request is being processed; retry later", RetryAfter: retryAfter}
}

// AlipayUnavailable is a 503 for every unknown gateway outcome.
func AlipayUnavailable(message string) *Error {
	return &Error{Status: http.StatusServiceUnavailable, Code: CodeAlipayUnavailable, Message: message, RetryAfter: 5}
}

// DependencyUnavailable is a 503 for the store or credentials.
func DependencyUnavailable(message string) *Error {
	return &Error{Status: http.StatusServiceUnavailable, Code: CodeDependencyUnavailable, Message: message, RetryAfter: 2}
}

// Internal is a 500 without details.
func Internal() *Error {
	return &Error{Status: http.StatusInternalServerError, Code: CodeInternal, Message: "internal error"}
}

// WriteError writes e in the contract's shape.
func WriteError(w http.ResponseWriter, e *Error) {
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(e.RetryAfter))
	}
	WriteJSON(w, e.Status, struct {
		Error *Error `json:"error"`
	}{e})
}

// WriteJSON writes v as a JSON reply with status. HTML escaping is off so an orderStr
// reads with its literal `&` separators, as apps expect to hand it on.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	err := enc.Encode(v)
	b := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"code":"INTERNAL_ERROR","message":"internal error"}}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
