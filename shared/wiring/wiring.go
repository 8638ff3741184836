// Package wiring builds the slices from their dependencies, once for both the Lambda
// functions (functions/*/main.go) and the local server (cmd/local): a new slice or
// route is wired here and nowhere else. A slice is a Mount-able handler; its
// constructor takes the configuration, store, credentials, gateway client and logger.
package wiring

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"net/http"
	"time"

	"github.com/alipay-serverless/alipay-serverless/shared/agreements"
	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
	"github.com/alipay-serverless/alipay-serverless/shared/apppay"
	"github.com/alipay-serverless/alipay-serverless/shared/config"
	"github.com/alipay-serverless/alipay-serverless/shared/httpapi"
	"github.com/alipay-serverless/alipay-serverless/shared/notify"
	"github.com/alipay-serverless/alipay-serverless/shared/orders"
	"github.com/alipay-serverless/alipay-serverless/shared/platform"
	"github.com/alipay-serverless/alipay-serverless/shared/preauth"
	"github.com/alipay-serverless/alipay-serverless/shared/reconcile"
)

// Credentials is what the slices need of credentials (*credentials.Cache, or the local
// server's generated dev keys).
type Credentials interface {
	Get(context.Context) (*alipay.Credentials, error)
	Refresh(context.Context) (*alipay.Credentials, error)
}

// Deps are the dependencies every slice is built from.
type Deps struct {
	Config      config.Config
	Log         *slog.Logger
	Store       orders.Store
	Credentials Credentials
	Gateway     *alipay.Client
	// Now is the services' clock (store timestamps, leases, the refund query's delay);
	// nil is the real clock. A test that runs the reconciler as of a later time sets it.
	Now func() time.Time
}

// clock is d.Now, or the real clock.
func (d Deps) clock() func() time.Time {
	if d.Now == nil {
		return time.Now
	}
	return d.Now
}

// Slice is a vertical slice's HTTP handler: it registers its routes of the route table.
type Slice interface {
	Mount(r *httpapi.Router) error
}

// Constructor builds one slice from Deps.
type Constructor func(Deps) (Slice, error)

// NewPreAuth builds the pre-auth slice (function createvoucher): vouchers, reads, sync.
func NewPreAuth(d Deps) (Slice, error) {
	s := newSettler(d)
	return preauth.NewHandler(s.Service).WithSync(s), nil
}

func newSettler(d Deps) *preauth.Settler {
	return preauth.NewSettler(d.Store, d.Credentials, d.Gateway, preauth.WithNotifyURL(d.Config.NotifyURL),
		preauth.WithGatewayTimeout(d.Config.GatewayTimeout), preauth.WithSellerID(d.Config.SellerID), preauth.WithClock(d.Now))
}

// NewAppPay builds the app-pay slice (function apppaysign), with the agreements' read,
// sync and unsign routes.
func NewAppPay(d Deps) (Slice, error) {
	return apppay.NewHandler(appPayService(d), d.Config.NotifyURL).WithRoutes(agreementsHandler(d).Handlers()), nil
}

func agreementsService(d Deps) *agreements.Service {
	return agreements.NewService(d.Store, d.Credentials, d.Gateway, agreements.WithClock(d.clock()),
		agreements.WithGatewayTimeout(d.Config.GatewayTimeout),
		agreements.WithChargeWindowDays(d.Config.ChargeWindowDays),
		agreements.WithProductCode(d.Config.ChargeProductCode))
}

func agreementsHandler(d Deps) *agreements.Handler {
	return agreements.NewHandler(agreementsService(d), d.Config.NotifyURL)
}

func appPayService(d Deps) *apppay.Service {
	clock := d.clock()
	return apppay.NewService(d.Store, d.Credentials, apppay.WithClock(clock),
		apppay.WithServerPricing(d.Config.AppPayPricing == config.PricingServer),
		apppay.WithSignNotifyURL(d.Config.SignNotifyURL),
		apppay.WithDefaultTimeoutExpress(d.Config.AppPayTimeoutExpress),
		apppay.WithGateway(d.Gateway), apppay.WithGatewayTimeout(d.Config.GatewayTimeout))
}

// settleSlice mounts the settle function's routes, each served by its own slice's
// handler.
type settleSlice struct{ handlers map[string]http.Handler }

func (s settleSlice) Mount(r *httpapi.Router) error {
	return r.MountFunction(httpapi.FnSettle, s.handlers)
}

// NewSettle builds the settle slice (function settle): every money-moving back-office
// route (scope settle): pre-auth captures, unfreezes and cancels, app-pay refunds,
// agreement charges.
func NewSettle(d Deps) (Slice, error) {
	h := map[string]http.Handler{}
	maps.Copy(h, apppay.NewHandler(appPayService(d), d.Config.NotifyURL).SettleHandlers())
	maps.Copy(h, preauth.NewSettleHandler(newSettler(d)).Handlers())
	maps.Copy(h, agreementsHandler(d).SettleHandlers())
	return settleSlice{handlers: h}, nil
}

// NewNotify builds the notification slice (function notify).
func NewNotify(d Deps) (Slice, error) {
	svc := notify.NewService(d.Store, d.Credentials, notify.WithSellerID(d.Config.SellerID),
		notify.WithCertResolver(d.Gateway), notify.WithClock(d.clock()))
	return notify.NewHandler(svc), nil
}

// Resolvers is the reconciler's registry for d: one resolver per kind of due work.
// Operations register theirs here too, for orders.DueOperation and their OpKind (e.g.
// reg.Register(orders.DueOperation, orders.OpCapture, <the capture's resolver>)).
func Resolvers(d Deps) reconcile.Registry {
	pre := newSettler(d)
	reg := reconcile.Registry{}
	reg.Register(orders.DueVoucherRequest, "", reconcile.VoucherRequests(pre))
	reg.Register(orders.DueCodeIssued, "", reconcile.CodeIssued(d.Store, pre))
	reg.Register(orders.DueAppPayOpen, "", reconcile.AppPayOrders(d.Store, appPayService(d)))
	// Operations left UNKNOWN (or PENDING past their lease): each kind settled by its
	// service's query-first step. A kind without one would end STUCK: the wiring test
	// checks every orders.OpKinds entry (charges: its list of kinds still to come).
	settler := reconcile.Operations(pre)
	for _, k := range []orders.OpKind{orders.OpCapture, orders.OpUnfreeze, orders.OpCancel} {
		reg.Register(orders.DueOperation, k, settler)
	}
	app := reconcile.Operations(appPayService(d))
	reg.Register(orders.DueOperation, orders.OpRefund, app)
	reg.Register(orders.DueOperation, orders.OpClose, app)
	ag := agreementsService(d)
	reg.Register(orders.DueOperation, orders.OpCharge, reconcile.Charges(ag))
	reg.Register(orders.DueAgreementSign, "", reconcile.AgreementSign(ag))
	return reg
}

// NewReconcile builds the reconciler (function reconcile, and cmd/local's timer).
func NewReconcile(d Deps) (*reconcile.Reconciler, error) {
	cfg := reconcile.Config{
		Batch:       d.Config.ReconcileBatch,
		Concurrency: d.Config.ReconcileConcurrency,
		MaxAttempts: d.Config.ReconcileMaxAttempts,
	}
	return reconcile.New(d.Store, Resolvers(d), cfg, d.Log), nil
}

// Scheduled is the reconcile function's handler: one pass per scheduled invocation, on
// the real clock, bounded by the invocation's deadline. An unreadable due index fails
// the invocation (EventBridge Scheduler retries it, then sends it to the dead-letter
// queue); failures of single items are counted and retried by later passes.
func Scheduled(r *reconcile.Reconciler) func(ctx context.Context, event json.RawMessage) (reconcile.Summary, error) {
	return func(ctx context.Context, _ json.RawMessage) (reconcile.Summary, error) {
		return r.Pass(ctx, time.Now())
	}
}

// ReconcileLambda is the build step of functions/reconcile.
func ReconcileLambda(pd *platform.Deps) (any, error) {
	r, err := NewReconcile(FromPlatform(pd))
	if err != nil {
		return nil, err
	}
	return Scheduled(r), nil
}

// All is every slice, in the order the local server mounts them.
var All = []Constructor{NewPreAuth, NewAppPay, NewSettle, NewNotify}

// Mount builds each slice and mounts it on r.
func Mount(r *httpapi.Router, d Deps, slices ...Constructor) error {
	var errs []error
	for _, build := range slices {
		s, err := build(d)
		if err == nil {
			err = s.Mount(r)
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// FromPlatform are the Deps of a Lambda function.
func FromPlatform(d *platform.Deps) Deps {
	return Deps{Config: d.Config, Log: d.Log, Store: d.Store, Credentials: d.Credentials, Gateway: d.Gateway}
}

// Lambda is the build step of one Lambda function serving slice: the platform's
// dependencies, a router authenticating with API Gateway's JWT claims, the slice
// mounted on it. A function links only the constructor it names.
func Lambda(slice Constructor) func(*platform.Deps) (http.Handler, error) {
	return func(pd *platform.Deps) (http.Handler, error) {
		router := httpapi.NewRouter(httpapi.JWTCaller, pd.Log)
		return router, Mount(router, FromPlatform(pd), slice)
	}
}
