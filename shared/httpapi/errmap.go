package httpapi

import (
	"errors"
	"net/http"
	"time"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
	"github.com/alipay-serverless/alipay-serverless/shared/credentials"
	"github.com/alipay-serverless/alipay-serverless/shared/domain"
	"github.com/alipay-serverless/alipay-serverless/shared/orders"
)

// Codes of the lifecycle's refusals (docs/design.md, the lifecycle contract), spelled
// out so the contract's list of codes reads them here; the domain package's constants
// are the same strings (TestLifecycleCodesAreTheDomainCodes).
const (
	CodeOrderNotAuthorized     = "ORDER_NOT_AUTHORIZED"
	CodeOrderNotPaid           = "ORDER_NOT_PAID"
	CodeOrderNotRefundable     = "ORDER_NOT_REFUNDABLE"
	CodeOrderAlreadyPaid       = "ORDER_ALREADY_PAID"
	CodeAgreementNotActive     = "AGREEMENT_NOT_ACTIVE"
	CodeOutsideChargeWindow    = "OUTSIDE_CHARGE_WINDOW"
	CodeChargeLimitExceeded    = "CHARGE_LIMIT_EXCEEDED"
	CodeAmountExceedsAvailable = "AMOUNT_EXCEEDS_AVAILABLE"
)

// Retry-After of the 503s, in seconds.
const (
	retryAlipay     = 5
	retryDependency = 2
)

// ErrorFor maps an error returned by a service (or by this package) to its reply in
// the contract. It is the only place where domain errors become statuses and codes.
// Every message is fixed text or a domain error's caller-facing message, never
// err.Error(). An error it does not know is an opaque 500 INTERNAL_ERROR; WriteErr logs
// it.
func ErrorFor(err error) *Error {
	var (
		he *Error
		rl *domain.RetryLater
		fe *alipay.FieldError
		ip *domain.InProgress
		ae *domain.AmountExceeded
		cr *domain.ChargeRefused
		cf *domain.Conflict
		be *alipay.BusinessError
	)
	switch {
	case err == nil:
		return nil
	case errors.As(err, &he):
		return he
	case errors.As(err, &rl):
		e := *ErrorFor(rl.Err)
		e.RetryAfter = max(e.RetryAfter, seconds(rl.After))
		return &e
	case errors.As(err, &fe):
		return BadRequest(fe.Field, fe.Message)
	case errors.As(err, &ip):
		return InProgress(seconds(ip.RetryAfter))
	case errors.As(err, &ae):
		return &Error{Status: http.StatusConflict, Code: CodeAmountExceedsAvailable, Field: ae.Field,
			Message: ae.Field + " exceeds the available amount " + ae.Available.String()}
	case errors.As(err, &cr):
		return &Error{Status: http.StatusConflict, Code: cr.Code, Field: cr.Field, Message: cr.Message}
	case errors.As(err, &cf):
		return &Error{Status: http.StatusConflict, Code: cf.Code, Field: cf.Field, Message: cf.Message}
	case errors.As(err, &be) && be.Configuration():
		// Our or the merchant's configuration, not a refusal of this request: logged
		// (5xx), retried once fixed.
		return AlipayUnavailable("Alipay did not accept the call; retry later")
	case errors.As(err, &be):
		return &Error{Status: http.StatusBadGateway, Code: CodeAlipayBusinessError,
			Message: "Alipay refused the request", SubCode: be.SubCode, SubMsg: be.SubMsg}
	case errors.Is(err, orders.ErrLeaseLost):
		return AlipayUnavailable("the outcome is not settled yet; retry")
	case errors.Is(err, alipay.ErrUnknownOutcome):
		return AlipayUnavailable("Alipay did not confirm the outcome; retry with the same request number")
	case errors.Is(err, domain.ErrNotSent):
		return AlipayUnavailable("Alipay was not called; retry")
	case errors.Is(err, orders.ErrNotFound):
		return NotFound("no such order")
	case errors.Is(err, orders.ErrLimit):
		return Conflict(CodeIdempotencyConflict, "the order has too many requests; use a new order number")
	case errors.Is(err, orders.ErrTradeNoBound):
		return Conflict(CodeIdempotencyConflict, "trade_no is bound to another order")
	case errors.Is(err, orders.ErrUnavailable):
		return DependencyUnavailable("the order store is unavailable; retry later")
	case errors.Is(err, credentials.ErrUnavailable):
		return DependencyUnavailable("credentials are unavailable; retry later")
	}
	// orders.ErrInvalid (we built a record the store refuses) and anything unknown.
	return Internal()
}

// WriteErr writes the reply for err (ErrorFor) and logs it with the request's logger
// (its request id): every 5xx at error level with the cause, which the reply never
// carries.
func WriteErr(w http.ResponseWriter, r *http.Request, err error) {
	e := ErrorFor(err)
	if e == nil {
		e = Internal()
	}
	if e.Status >= http.StatusInternalServerError {
		Logger(r.Context()).Error("request failed", "status", e.Status, "code", e.Code, "error", errText(err))
	}
	WriteError(w, e)
}

// errText is the logged text of err; a nil error (a caller bug) is named as such.
func errText(err error) string {
	if err == nil {
		return "nil error"
	}
	return err.Error()
}

// Seconds is d in whole seconds, rounded up, at least 1: a Retry-After value.
func Seconds(d time.Duration) int { return seconds(d) }

// seconds is d in whole seconds, rounded up, at least 1.
func seconds(d time.Duration) int {
	return max(int((d+time.Second-1)/time.Second), 1)
}

// ErrNoCaller: a route that needs a caller was mounted without authentication (a
// wiring bug): an opaque 500, logged.
var ErrNoCaller = errors.New("httpapi: route mounted without authentication: no caller")

// RequireCaller returns the caller the router authenticated, or ErrNoCaller.
func RequireCaller(r *http.Request) (Caller, error) {
	c, ok := CallerFrom(r.Context())
	if !ok || c.ID == "" {
		return Caller{}, ErrNoCaller
	}
	return c, nil
}

// ReplayedHeader marks a reply given again from the store
// (docs/design.md#order-state-and-idempotency-today).
const ReplayedHeader = "Idempotent-Replayed"

// MarkReplayed sets ReplayedHeader on a reply given again from the store.
func MarkReplayed(w http.ResponseWriter) { w.Header().Set(ReplayedHeader, "true") }

// AsBadRequest is for errors decoding a request body: a field error stays one, anything
// else (the decoder's own) becomes a 400 without a field, its text logged only by the
// caller if it wishes.
func AsBadRequest(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := alipay.AsFieldError(err); ok {
		return err
	}
	return BadRequest("", "request body is not valid")
}

// OwnerOrAny is whose records the caller may act on: its own id, or "" (anyone's) when it
// holds scope (e.g. settle: a back office acting for every app user).
func OwnerOrAny(r *http.Request, scope string) (string, error) {
	c, err := RequireCaller(r)
	if err != nil {
		return "", err
	}
	if c.HasScope(scope) {
		return "", nil
	}
	return c.ID, nil
}
