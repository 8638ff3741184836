// Package notify is the notification slice: Alipay POSTs asynchronous notifications
// (trade_status_sync, fund_auth_freeze, fund_auth_unfreeze, fund_auth_operation_cancel,
// dut_user_sign/dut_user_unsign) to
// POST /v1/notify/alipay; each is parsed once, verified with Alipay's key, checked
// against the order we created and applied to the order state with one conditional
// store update. The reply is exactly "success" only once the effect is durably stored
// (or was stored before); anything else replies "fail" so that Alipay resends.
package notify

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
	"github.com/alipay-serverless/alipay-serverless/shared/domain"
	"github.com/alipay-serverless/alipay-serverless/shared/metrics"
	"github.com/alipay-serverless/alipay-serverless/shared/orders"
)

// Store is the part of the order store this slice uses (implemented by orders.Store).
type Store interface {
	GetAppPayOrder(ctx context.Context, outTradeNo string) (*orders.AppPayOrder, error)
	GetPreAuthOrder(ctx context.Context, outOrderNo string) (*orders.PreAuthOrder, error)
	GetAgreement(ctx context.Context, externalAgreementNo string) (*orders.Agreement, error)
	ApplyTrade(ctx context.Context, e orders.TradeEffect) (orders.ApplyResult, error)
	ApplyFundAuth(ctx context.Context, e orders.FundAuthEffect) (orders.ApplyResult, error)
	ApplyAgreement(ctx context.Context, e orders.AgreementEffect) (orders.ApplyResult, error)
	LookupOutTradeNo(ctx context.Context, outTradeNo string) (orders.OpRef, error)
	ApplyOpNotice(ctx context.Context, n orders.OpNotice) (orders.ApplyResult, error)
}

// Credentials gives the current Alipay credentials and re-fetches them when Alipay's
// signature does not verify (a key or certificate rotation). Implemented by
// *credentials.Cache, which rate-limits Refresh.
type Credentials interface {
	Get(ctx context.Context) (*alipay.Credentials, error)
	Refresh(ctx context.Context) (*alipay.Credentials, error)
}

// CertResolver supplies an Alipay certificate the credentials do not hold (Alipay
// rotated it, §7.4): it returns credentials that also hold certSN, or an error.
// Implemented by *alipay.Client, which downloads and validates the certificate.
type CertResolver interface {
	ResolveAlipayCert(ctx context.Context, c *alipay.Credentials, certSN string) (*alipay.Credentials, error)
}

// Service verifies and applies notifications.
type Service struct {
	store    Store
	creds    Credentials
	resolver CertResolver
	now      func() time.Time
	sellerID string
}

// Option configures a Service.
type Option func(*Service)

// WithClock replaces time.Now (tests).
func WithClock(now func() time.Time) Option {
	return func(s *Service) {
		if now != nil {
			s.now = now
		}
	}
}

// WithSellerID sets the merchant PID (ALIPAY_SELLER_ID, 2088…). When set, a trade
// notice's seller_id and a fund-auth notice's payee_user_id must equal it; when empty
// they are not checked.
func WithSellerID(id string) Option { return func(s *Service) { s.sellerID = id } }

// WithCertResolver sets how a certificate-mode notification naming an alipay_cert_sn
// that the (refreshed) credentials do not hold is resolved. Without it such a
// notification is rejected until the secret holds the new certificate.
func WithCertResolver(r CertResolver) Option { return func(s *Service) { s.resolver = r } }

// NewService returns a service over store and creds.
func NewService(store Store, creds Credentials, opts ...Option) *Service {
	s := &Service{store: store, creds: creds, now: time.Now}
	for _, o := range opts {
		o(s)
	}
	return s
}

// outcome is what handling one notification came to; it becomes the reply and the one
// log line of the notification.
type outcome struct {
	refusal  error // one of the Err* kinds; nil once acked
	acked    bool  // the effect is stored (Applied, Duplicate or Stale)
	kind     alipay.NotifyKind
	notifyID string
	orderKey string // the order's key name: out_trade_no, out_order_no or external_agreement_no
	orderID  string
	verified bool
	result   orders.ApplyResult
	reason   string // fixed text for the log, never input
	field    string // the field that failed a check
	forgery  bool   // a verified signature put to another use: logged at error level
	err      error  // our own error, logged; never key material
}

func (o *outcome) fail(kind error, reason string, err error) *outcome {
	o.refusal, o.reason, o.err = kind, reason, err
	return o
}

// Kinds of refusal: why a notification is not acknowledged (Alipay then resends it).
// Process's errors match exactly one of them (errors.Is); the notify handler's Status
// gives each its HTTP status.
var (
	// ErrNotForm: the content type is not application/x-www-form-urlencoded.
	ErrNotForm = errors.New("notify: not a form body")
	// ErrTooLarge: the body is larger than domain.MaxBodyBytes.
	ErrTooLarge = errors.New("notify: body too large")
	// ErrRejected: malformed, unsigned, not RSA2, forged, or of a type we do not handle.
	ErrRejected = errors.New("notify: notification rejected")
	// ErrMismatch: a verified notice that does not match our order (unknown order, a
	// field that differs, a trade_no bound to another order, a notice the order model
	// refuses).
	ErrMismatch = errors.New("notify: notice does not match the order")
	// ErrUnavailable: the store or the credentials are unavailable; a resend may succeed.
	ErrUnavailable = errors.New("notify: dependency unavailable")
	// errNoOutcome: handling ended without a decision (a bug); never acknowledged.
	errNoOutcome = errors.New("notify: no outcome")
)

// Refusal is Process's error: its Kind (one of the Err* kinds, what errors.Is matches),
// the fixed reason logged, the field that failed a check, and our own cause (logged,
// never key material).
type Refusal struct {
	Kind   error
	Reason string
	Field  string
	Err    error
}

func (r *Refusal) Error() string {
	msg := r.Kind.Error() + ": " + r.Reason
	if r.Field != "" {
		msg += " (" + r.Field + ")"
	}
	if r.Err != nil {
		msg += ": " + r.Err.Error()
	}
	return msg
}

// Unwrap is the kind only: the cause is context, not classification (an
// orders.ErrInvalid here is a mismatch, not our bug).
func (r *Refusal) Unwrap() error { return r.Kind }

// Process handles one notification body: nil once its effect is stored (Applied,
// Duplicate or Stale; Alipay is then told "success"), else a *Refusal. It logs the
// notification's one line.
func (s *Service) Process(ctx context.Context, contentType string, body []byte) error {
	return s.finish(ctx, s.handle(ctx, contentType, body))
}

// refuse logs and returns the refusal of a notification that never reached Process (a
// body the transport could not read).
func (s *Service) refuse(ctx context.Context, kind error, reason string) error {
	o := &outcome{kind: alipay.KindUnknown}
	return s.finish(ctx, o.fail(kind, reason, nil))
}

func (s *Service) handle(ctx context.Context, contentType string, body []byte) *outcome {
	o := &outcome{kind: alipay.KindUnknown}
	if !alipay.IsFormContentType(contentType) {
		return o.fail(ErrNotForm, "content type is not application/x-www-form-urlencoded", nil)
	}
	if len(body) > domain.MaxBodyBytes {
		return o.fail(ErrTooLarge, "body larger than 64 KiB", nil)
	}
	n, err := alipay.ParseNotification(body)
	if err != nil {
		return o.fail(ErrRejected, "malformed notification", err)
	}
	// Until the signature verifies these are only what the body claims; they are logged
	// (bounded) to trace forgeries, never trusted.
	o.kind = n.Kind()
	o.notifyID = n.Params["notify_id"]
	o.orderKey, o.orderID = orderRef(o.kind, n.Params)

	creds, vo := s.verify(ctx, n)
	if vo != nil {
		return o.fail(vo.kind, vo.reason, vo.err)
	}
	o.verified = true

	switch o.kind {
	case alipay.KindTradeStatus:
		s.trade(ctx, creds, n, o)
	case alipay.KindFundAuth, alipay.KindFundAuthUnfreeze:
		s.fundAuth(ctx, creds, n, o)
	case alipay.KindFundAuthCancel:
		s.fundAuthCancel(ctx, creds, n, o)
	case alipay.KindAgreementSign, alipay.KindAgreementUnsign:
		s.agreement(ctx, creds, n, o)
	default:
		// A verified notice of a type we do not handle is not acknowledged: "success"
		// would tell Alipay it was applied and silence every resend, while "fail" keeps
		// it visible (logged and alerted on for ~25 h) until someone handles or
		// unsubscribes the type. Nothing is lost by answering fail.
		o.fail(ErrRejected, "unknown notification type", nil)
	}
	return o
}

type verifyFailure struct {
	kind   error
	reason string
	err    error
}

// verify checks the signature with the cached credentials and, when it fails as a
// rotation would (bad signature, unknown alipay_cert_sn), once more with re-fetched
// ones; an alipay_cert_sn they still do not hold goes to the certificate resolver,
// then the signature is checked once more. The algorithm is always RSA2: sign_type is
// not signed, so it only decides whether to reject.
func (s *Service) verify(ctx context.Context, n *alipay.Notification) (*alipay.Credentials, *verifyFailure) {
	creds, err := s.creds.Get(ctx)
	if err != nil {
		return nil, &verifyFailure{ErrUnavailable, "credentials unavailable", err}
	}
	err = n.Verify(creds)
	if rotationLike(err) {
		fresh, rerr := s.creds.Refresh(ctx)
		if rerr != nil {
			// We cannot tell a forgery from a rotation we failed to load: let Alipay retry.
			return nil, &verifyFailure{ErrUnavailable, "credentials refresh failed", rerr}
		}
		if fresh != nil && fresh != creds {
			creds = fresh
			err = n.Verify(creds)
		}
	}
	if sn := n.Params["alipay_cert_sn"]; s.resolver != nil && sn != "" && errors.Is(err, alipay.ErrUnknownCertSN) && creds.CertMode() {
		resolved, rerr := s.resolver.ResolveAlipayCert(ctx, creds, sn)
		if rerr == nil && resolved == nil {
			rerr = errors.New("certificate resolver returned no credentials")
		}
		var refused *alipay.BusinessError
		switch {
		case rerr != nil && (errors.As(rerr, &refused) || errors.Is(rerr, alipay.ErrBadCert)):
			// Alipay has no such certificate, or what it gave does not chain to our
			// roots: not a notification Alipay signed.
			return nil, &verifyFailure{ErrRejected, "alipay_cert_sn is not an Alipay certificate", rerr}
		case rerr != nil:
			// A rotation we could not complete yet (download failed or rate-limited):
			// let Alipay retry.
			return nil, &verifyFailure{ErrUnavailable, "alipay certificate not resolved", rerr}
		}
		creds = resolved
		err = n.Verify(creds)
	}
	switch {
	case err == nil:
		return creds, nil
	case rotationLike(err):
		return nil, &verifyFailure{ErrRejected, "signature does not verify", err}
	case errors.Is(err, alipay.ErrNotifyUnsigned), errors.Is(err, alipay.ErrNotifySignType), errors.Is(err, alipay.ErrNotifyMalformed):
		return nil, &verifyFailure{ErrRejected, "unsigned or not RSA2", err}
	default:
		// The credentials hold no usable Alipay key: a configuration problem, not input.
		return nil, &verifyFailure{ErrUnavailable, "credentials cannot verify", err}
	}
}

func rotationLike(err error) bool {
	return errors.Is(err, alipay.ErrBadSignature) || errors.Is(err, alipay.ErrUnknownCertSN)
}

// apply turns a store answer into the outcome: every handled result is "success";
// NotFound (the order vanished between read and write) and a notice the order model
// rejects (orders.ErrInvalid: it contradicts the order, retrying cannot help) are
// checks failed; every other store error is an outage.
func (o *outcome) apply(res orders.ApplyResult, err error) {
	switch {
	case err == nil && res == orders.NotFound:
		o.result = res
		o.fail(ErrMismatch, "unknown order", nil)
	case err == nil:
		o.result = res
		o.acked = true
	case errors.Is(err, orders.ErrTradeNoBound):
		// A genuine signature naming another order's trade: a re-split notification
		// (docs/design.md, "Echoed fields and the re-split forgery"). Nothing changed.
		o.field, o.forgery = "trade_no", true
		o.fail(ErrMismatch, "forgery attempt: trade_no is bound to another order", err)
	case errors.Is(err, orders.ErrInvalid):
		o.fail(ErrMismatch, "notice rejected by the order model", err)
	case errors.Is(err, orders.ErrSettled):
		// Alipay says an operation we recorded as refused moved money: never
		// acknowledged, so the redeliveries stay visible until someone looks.
		o.fail(ErrMismatch, "notice contradicts the operation's recorded outcome", err)
	default:
		o.fail(ErrUnavailable, "order store unavailable", err)
	}
}

// load classifies a store read error; true means the caller should stop.
func (o *outcome) load(err error) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, orders.ErrNotFound):
		o.fail(ErrMismatch, "unknown order", nil)
	default:
		o.fail(ErrUnavailable, "order store unavailable", err)
	}
	return true
}

// mismatch records a failed business check on a verified notice.
func (o *outcome) mismatch(field string) {
	o.field = field
	o.fail(ErrMismatch, "notice does not match the order", &alipay.NotifyMismatchError{Field: field})
}

// logMax bounds values from the body in log lines.
const logMax = 64

func bounded(v string) string {
	if len(v) <= logMax {
		return v
	}
	return v[:logMax] + "…"
}

// finish logs the notification's one line and returns nil or its *Refusal.
func (s *Service) finish(ctx context.Context, o *outcome) error {
	var refusal error
	switch {
	case o.refusal != nil:
		refusal = &Refusal{Kind: o.refusal, Reason: o.reason, Field: o.field, Err: o.err}
	case !o.acked:
		refusal = &Refusal{Kind: errNoOutcome, Reason: "no outcome"}
	}
	status := Status(refusal)
	attrs := []slog.Attr{
		slog.String("kind", string(o.kind)),
		slog.String("notify_id", bounded(o.notifyID)),
		slog.Bool("verified", o.verified),
		slog.Int("status", status),
	}
	if o.orderKey != "" {
		attrs = append(attrs, slog.String("order_key", o.orderKey), slog.String("order_id", bounded(o.orderID)))
	}
	if o.result != "" {
		attrs = append(attrs, slog.String("result", string(o.result)))
	}
	if o.reason != "" {
		attrs = append(attrs, slog.String("reason", o.reason))
	}
	if o.field != "" {
		attrs = append(attrs, slog.String("field", o.field))
	}
	if o.err != nil {
		attrs = append(attrs, slog.String("error", o.err.Error()))
	}
	if o.forgery {
		attrs = append(attrs, slog.Bool("forgery", true))
	}
	level := slog.LevelInfo
	switch {
	case status >= 500, o.forgery:
		level = slog.LevelError
	case refusal != nil:
		level = slog.LevelWarn
	}
	domain.Logger(ctx).LogAttrs(ctx, level, "notification", attrs...)
	o.count()
	return refusal
}

// Rejection reasons of the NotificationsRejected metric.
const (
	reasonSignature   = "signature"
	reasonForgery     = "forgery"
	reasonUnsigned    = "unsigned"
	reasonMalformed   = "malformed"
	reasonUnknownType = "unknown_type"
	reasonMismatch    = "mismatch"
	reasonUnavailable = "unavailable"
	reasonNotForm     = "not_form"
	reasonTooLarge    = "too_large"
)

// count emits the notification's metrics: its outcome, and for a refusal its reason;
// a signature that does not verify and a verified signature put to another use are
// forgeries (alarmed).
func (o *outcome) count() {
	if o.refusal == nil && o.acked {
		metrics.Count(metrics.Notifications, 1, map[string]string{"Outcome": strings.ToLower(string(o.result))})
		return
	}
	metrics.Count(metrics.Notifications, 1, map[string]string{"Outcome": "rejected"})
	reason := o.rejectReason()
	metrics.Count(metrics.NotificationsRejected, 1, map[string]string{"Reason": reason})
	if reason == reasonSignature || reason == reasonForgery {
		metrics.Count(metrics.ForgedNotifications, 1, nil)
	}
}

func (o *outcome) rejectReason() string {
	switch {
	case o.forgery:
		return reasonForgery
	case errors.Is(o.refusal, ErrNotForm):
		return reasonNotForm
	case errors.Is(o.refusal, ErrTooLarge):
		return reasonTooLarge
	case errors.Is(o.refusal, ErrUnavailable):
		return reasonUnavailable
	case errors.Is(o.refusal, ErrMismatch):
		return reasonMismatch
	case errors.Is(o.refusal, ErrRejected):
		switch o.reason {
		case "signature does not verify", "alipay_cert_sn is not an Alipay certificate":
			return reasonSignature
		case "unsigned or not RSA2":
			return reasonUnsigned
		case "unknown notification type":
			return reasonUnknownType
		}
		return reasonMalformed
	}
	return reasonMalformed
}

// orderRef names the order a notice is about, by kind.
func orderRef(k alipay.NotifyKind, p map[string]string) (key, id string) {
	switch k {
	case alipay.KindFundAuth, alipay.KindFundAuthUnfreeze, alipay.KindFundAuthCancel:
		key = "out_order_no"
	case alipay.KindAgreementSign, alipay.KindAgreementUnsign:
		key = "external_agreement_no"
	default:
		key = "out_trade_no"
	}
	return key, p[key]
}
