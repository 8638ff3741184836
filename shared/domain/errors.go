// Package domain holds what a slice's service and every adapter driving it (the HTTP
// handlers, a CLI, a scheduled job) share: the domain errors a service returns and the
// request-scoped logger. No AWS, no HTTP: httpapi.ErrorFor maps these errors to the HTTP
// contract (docs/design.md), in one place.
//
// Besides the types here, services return the errors of the packages they use, as is:
// orders.ErrNotFound / ErrUnavailable / ErrLimit / ErrInvalid / ErrLeaseLost /
// ErrTradeNoBound, credentials.ErrUnavailable, *alipay.FieldError, *alipay.BusinessError
// and alipay.ErrUnknownOutcome. Wrap them with %w to add context: the mapper looks through
// wrapping, and the wrapped text is only ever logged.
package domain

import (
	"errors"
	"fmt"
	"time"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
)

// Codes of the refusals a service decides itself (each a 409 of the contract).
const (
	CodeIdempotencyConflict    = "IDEMPOTENCY_CONFLICT"
	CodeOrderAlreadyAuthorized = "ORDER_ALREADY_AUTHORIZED"
	CodeOrderNotAuthorized     = "ORDER_NOT_AUTHORIZED"
	CodeOrderNotPaid           = "ORDER_NOT_PAID"
	CodeOrderNotRefundable     = "ORDER_NOT_REFUNDABLE"
	CodeOrderAlreadyPaid       = "ORDER_ALREADY_PAID"
	CodeAgreementNotActive     = "AGREEMENT_NOT_ACTIVE"
	CodeOutsideChargeWindow    = "OUTSIDE_CHARGE_WINDOW"
	CodeChargeLimitExceeded    = "CHARGE_LIMIT_EXCEEDED"
	CodeAmountExceedsAvailable = "AMOUNT_EXCEEDS_AVAILABLE"
)

// Conflict is a refusal because of the order's state or an earlier request: a 409 with
// Code. Message is written for the API's caller; Field, when set, names the parameter.
type Conflict struct {
	Code    string
	Field   string
	Message string
}

func (e *Conflict) Error() string { return e.Code + ": " + e.Message }

// Is makes errors.Is(err, ErrOrderNotPaid) hold for any Conflict of the same code, so a
// service may return its own message with a sentinel's code.
func (e *Conflict) Is(target error) bool {
	t, ok := target.(*Conflict)
	return ok && t.Code == e.Code
}

// Sentinels of the common refusals; a service may return them or a *Conflict of the
// same code with a more precise message.
var (
	ErrIdempotencyConflict = &Conflict{Code: CodeIdempotencyConflict, Message: "the request number was already used with other parameters"}
	ErrAlreadyAuthorized   = &Conflict{Code: CodeOrderAlreadyAuthorized, Message: "the order is already authorized; use a new out_order_no"}
	ErrOrderNotAuthorized  = &Conflict{Code: CodeOrderNotAuthorized, Message: "the order is not authorized or has nothing left frozen"}
	ErrOrderNotPaid        = &Conflict{Code: CodeOrderNotPaid, Message: "the order is not paid"}
	ErrOrderNotRefundable  = &Conflict{Code: CodeOrderNotRefundable, Message: "the order can no longer be refunded"}
	ErrOrderAlreadyPaid    = &Conflict{Code: CodeOrderAlreadyPaid, Message: "the order is already paid"}
	ErrAgreementNotActive  = &Conflict{Code: CodeAgreementNotActive, Message: "the agreement is not active"}
)

// InProgress: an identical request holds the lease; retry after RetryAfter (409
// REQUEST_IN_PROGRESS with Retry-After).
type InProgress struct {
	RetryAfter time.Duration
}

func (e *InProgress) Error() string {
	return fmt.Sprintf("an identical request is in progress; retry after %s", e.RetryAfter)
}

// AmountExceeded: the amount named by Field is more than what is available (409
// AMOUNT_EXCEEDS_AVAILABLE; the message gives Available).
type AmountExceeded struct {
	Field     string
	Available alipay.Amount
}

func (e *AmountExceeded) Error() string {
	return fmt.Sprintf("%s exceeds the available amount %s", e.Field, e.Available)
}

// ChargeRefused: a charge breaks the agreement's rules (409 OUTSIDE_CHARGE_WINDOW or
// CHARGE_LIMIT_EXCEEDED). Field names the rule (total_payments, total_amount,
// single_amount, period) for a limit; Message is for the caller (the window's dates).
type ChargeRefused struct {
	Code    string // CodeOutsideChargeWindow or CodeChargeLimitExceeded
	Field   string
	Message string
}

func (e *ChargeRefused) Error() string { return e.Code + ": " + e.Message }

// ErrNotSent: nothing was sent to Alipay (for instance too little time was left to make
// the call) and nothing was recorded as sent; the request may be retried as is (503
// ALIPAY_UNAVAILABLE).
var ErrNotSent = errors.New("alipay call not sent")

// RetryLater raises the Retry-After of the reply to Err to at least After: an outage
// that also left the request leased until then, for instance.
type RetryLater struct {
	Err   error
	After time.Duration
}

func (e *RetryLater) Error() string { return e.Err.Error() }
func (e *RetryLater) Unwrap() error { return e.Err }

// WithRetryAfter wraps err so that its reply says retry after at least d.
func WithRetryAfter(err error, d time.Duration) error {
	if err == nil {
		return nil
	}
	return &RetryLater{Err: err, After: d}
}
