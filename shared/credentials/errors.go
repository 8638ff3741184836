package credentials

import (
	"errors"
	"strings"
)

// ErrUnavailable is wrapped by every error meaning "no usable credentials right now";
// handlers answer 503 DEPENDENCY_UNAVAILABLE for it.
var ErrUnavailable = errors.New("credentials unavailable")

// The kinds of unavailability. Each wraps ErrUnavailable.
var (
	// ErrNotFound: the secret (or a configured key file) does not exist or cannot be used.
	ErrNotFound error = &kindError{"not found"}
	// ErrAccessDenied: IAM or KMS refused access to the secret.
	ErrAccessDenied error = &kindError{"access denied"}
	// ErrThrottled: Secrets Manager kept throttling after the SDK's retries.
	ErrThrottled error = &kindError{"throttled"}
	// ErrUnreachable: transport errors, timeouts and 5xx after the SDK's retries.
	ErrUnreachable error = &kindError{"unreachable"}
	// ErrMalformed: the secret is not JSON, or a field is missing or has the wrong type.
	ErrMalformed error = &kindError{"malformed"}
	// ErrBadKey: a key or certificate field does not parse or does not fit the others.
	ErrBadKey error = &kindError{"bad key"}
)

// ErrNotConfigured means neither ALIPAY_SECRET_ID nor env credentials are set. It is a
// configuration state, not an outage, so it does not wrap ErrUnavailable: local mode uses
// it to fall back to generated dev keys.
var ErrNotConfigured = errors.New("credentials: no credentials configured: set ALIPAY_SECRET_ID, or ALIPAY_APP_ID with ALIPAY_PRIVATE_KEY(_FILE) and ALIPAY_PUBLIC_KEY(_FILE) (or the ALIPAY_*_CERT(_FILE) certificates)")

type kindError struct{ msg string }

func (e *kindError) Error() string { return "credentials: " + e.msg }
func (e *kindError) Unwrap() error { return ErrUnavailable }

// Error is what loading credentials fails with. Its text names the source and the field
// at fault, never a value.
type Error struct {
	Kind   error  // ErrNotFound, ErrAccessDenied, ErrThrottled, ErrUnreachable, ErrMalformed or ErrBadKey
	Source string // e.g. `secret "prod/alipay"` or "env"; empty from ParseSecret
	Field  string // JSON field or environment variable at fault, if one is
	Err    error  // the cause; never carries key material
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Kind.Error())
	if e.Source != "" {
		b.WriteString(": ")
		b.WriteString(e.Source)
	}
	if e.Field != "" {
		b.WriteString(": field ")
		b.WriteString(e.Field)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap exposes both the kind (and through it ErrUnavailable) and the cause, so
// errors.Is works for ErrBadKey as well as alipay.ErrBadKey or context.DeadlineExceeded.
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}

// withSource returns err with its source set when it is an *Error (a copy: errors may be
// shared between goroutines).
func withSource(err error, source string) error {
	var e *Error
	if errors.As(err, &e) {
		c := *e
		c.Source = source
		return &c
	}
	return &Error{Kind: ErrMalformed, Source: source, Err: err}
}

// kindName is the short name of err's kind for log attributes.
func kindName(err error) string {
	for _, k := range []error{ErrNotFound, ErrAccessDenied, ErrThrottled, ErrUnreachable, ErrMalformed, ErrBadKey} {
		if errors.Is(err, k) {
			return k.(*kindError).msg
		}
	}
	return "unknown"
}
