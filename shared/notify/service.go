// Package notify is the notification slice: Alipay POSTs asynchronous notifications
// (trade_status_sync, fund_auth_freeze, dut_user_sign/dut_user_unsign) to
// POST /v1/notify/alipay; each is parsed once, verified with Alipay's key, checked
// against the order we created and applied to the order state with one conditional
// store update. The reply is exactly "success" only once the effect is durably stored
// (or was stored before); anything else replies "fail" so that Alipay resends.
package notify

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
	"github.com/alipay-serverless/alipay-serverless/shared/httpapi"
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
	store     Store
	creds     Credentials
	resolver  CertResolver
	now       func() time.Time
	sellerID  string
	authAppID string
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

// WithAuthAppID sets the merchant's app id for ISV (third-party) mode: the notice's
// app_id is then the ISV app (our credentials' AppID) and auth_app_id must equal id.
// Empty (the default) means we are the merchant and auth_app_id is not checked.
func WithAuthAppID(id string) Option { return func(s *Service) { s.authAppID = id } }

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
	status   int
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

func (o *outcome) fail(status int, reason string, err error) *outcome {
	o.status, o.reason, o.err = status, reason, err
	return o
}

// Handle processes one notification body and returns the HTTP status and the reply
// body: "success" with 200 once the effect is stored (Applied, Duplicate or Stale),
// "fail" otherwise — 400 bad or forged input, 409 a verified notice that does not match
// our order (or whose trade_no is bound to another order), 413/415 transport errors, 503 store or credentials unavailable.
func (s *Service) Handle(ctx context.Context, contentType string, body []byte) (status int, reply string) {
	return s.finish(ctx, s.handle(ctx, contentType, body))
}

func (s *Service) handle(ctx context.Context, contentType string, body []byte) *outcome {
	o := &outcome{kind: alipay.KindUnknown}
	if !httpapi.IsForm(contentType) {
		return o.fail(http.StatusUnsupportedMediaType, "content type is not application/x-www-form-urlencoded", nil)
	}
	if len(body) > httpapi.MaxBodyBytes {
		return o.fail(http.StatusRequestEntityTooLarge, "body larger than 64 KiB", nil)
	}
	n, err := alipay.ParseNotification(body)
	if err != nil {
		return o.fail(http.StatusBadRequest, "malformed notification", err)
	}
	// Until the signature verifies these are only what the body claims; they are logged
	// (bounded) to trace forgeries, never trusted.
	o.kind = n.Kind()
	o.notifyID = n.Params["notify_id"]
	o.orderKey, o.orderID = orderRef(o.kind, n.Params)

	creds, vo := s.verify(ctx, n)
	if vo != nil {
		return o.fail(vo.status, vo.reason, vo.err)
	}
	o.verified = true

	switch o.kind {
	case alipay.KindTradeStatus:
		s.trade(ctx, creds, n, o)
	case alipay.KindFundAuth:
		s.fundAuth(ctx, creds, n, o)
	case alipay.KindAgreementSign, alipay.KindAgreementUnsign:
		s.agreement(ctx, creds, n, o)
	default:
		// A verified notice of a type we do not handle is not acknowledged: "success"
		// would tell Alipay it was applied and silence every resend, while "fail" keeps
		// it visible (logged and alerted on for ~25 h) until someone handles or
		// unsubscribes the type. Nothing is lost by answering fail.
		o.fail(http.StatusBadRequest, "unknown notification type", nil)
	}
	return o
}

type verifyFailure struct {
	status int
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
		return nil, &verifyFailure{http.StatusServiceUnavailable, "credentials unavailable", err}
	}
	err = n.Verify(creds)
	if rotationLike(err) {
		fresh, rerr := s.creds.Refresh(ctx)
		if rerr != nil {
			// We cannot tell a forgery from a rotation we failed to load: let Alipay retry.
			return nil, &verifyFailure{http.StatusServiceUnavailable, "credentials refresh failed", rerr}
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
			return nil, &verifyFailure{http.StatusBadRequest, "alipay_cert_sn is not an Alipay certificate", rerr}
		case rerr != nil:
			// A rotation we could not complete yet (download failed or rate-limited):
			// let Alipay retry.
			return nil, &verifyFailure{http.StatusServiceUnavailable, "alipay certificate not resolved", rerr}
		}
		creds = resolved
		err = n.Verify(creds)
	}
	switch {
	case err == nil:
		return creds, nil
	case rotationLike(err):
		return nil, &verifyFailure{http.StatusBadRequest, "signature does not verify", err}
	case errors.Is(err, alipay.ErrNotifyUnsigned), errors.Is(err, alipay.ErrNotifySignType), errors.Is(err, alipay.ErrNotifyMalformed):
		return nil, &verifyFailure{http.StatusBadRequest, "unsigned or not RSA2", err}
	default:
		// The credentials hold no usable Alipay key: a configuration problem, not input.
		return nil, &verifyFailure{http.StatusServiceUnavailable, "credentials cannot verify", err}
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
		o.fail(http.StatusConflict, "unknown order", nil)
	case err == nil:
		o.result = res
		o.status = http.StatusOK
	case errors.Is(err, orders.ErrTradeNoBound):
		// A genuine signature naming another order's trade: a re-split notification
		// (docs/design.md, "Echoed fields and the re-split forgery"). Nothing changed.
		o.field, o.forgery = "trade_no", true
		o.fail(http.StatusConflict, "forgery attempt: trade_no is bound to another order", err)
	case errors.Is(err, orders.ErrInvalid):
		o.fail(http.StatusConflict, "notice rejected by the order model", err)
	default:
		o.fail(http.StatusServiceUnavailable, "order store unavailable", err)
	}
}

// load classifies a store read error; true means the caller should stop.
func (o *outcome) load(err error) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, orders.ErrNotFound):
		o.fail(http.StatusConflict, "unknown order", nil)
	default:
		o.fail(http.StatusServiceUnavailable, "order store unavailable", err)
	}
	return true
}

// mismatch records a failed business check on a verified notice.
func (o *outcome) mismatch(field string) {
	o.field = field
	o.fail(http.StatusConflict, "notice does not match the order", &alipay.NotifyMismatchError{Field: field})
}

// logMax bounds values from the body in log lines.
const logMax = 64

func bounded(v string) string {
	if len(v) <= logMax {
		return v
	}
	return v[:logMax] + "…"
}

// finish logs the notification's one line and returns the reply.
func (s *Service) finish(ctx context.Context, o *outcome) (int, string) {
	attrs := []slog.Attr{
		slog.String("kind", string(o.kind)),
		slog.String("notify_id", bounded(o.notifyID)),
		slog.Bool("verified", o.verified),
		slog.Int("status", o.status),
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
	case o.status >= 500, o.forgery:
		level = slog.LevelError
	case o.status != http.StatusOK:
		level = slog.LevelWarn
	}
	httpapi.Logger(ctx).LogAttrs(ctx, level, "notification", attrs...)
	if o.status == http.StatusOK {
		return http.StatusOK, alipay.NotifySuccessReply
	}
	return o.status, alipay.NotifyFailReply
}

// orderRef names the order a notice is about, by kind.
func orderRef(k alipay.NotifyKind, p map[string]string) (key, id string) {
	switch k {
	case alipay.KindFundAuth:
		key = "out_order_no"
	case alipay.KindAgreementSign, alipay.KindAgreementUnsign:
		key = "external_agreement_no"
	default:
		key = "out_trade_no"
	}
	return key, p[key]
}
