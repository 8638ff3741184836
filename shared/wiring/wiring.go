// Package wiring builds the slices from their dependencies, once for both the Lambda
// functions (functions/*/main.go) and the local server (cmd/local): a new slice or
// route is wired here and nowhere else. A slice is a Mount-able handler; its
// constructor takes the configuration, store, credentials, gateway client and logger.
package wiring

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"net/http"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
	"github.com/alipay-serverless/alipay-serverless/shared/apppay"
	"github.com/alipay-serverless/alipay-serverless/shared/config"
	"github.com/alipay-serverless/alipay-serverless/shared/httpapi"
	"github.com/alipay-serverless/alipay-serverless/shared/notify"
	"github.com/alipay-serverless/alipay-serverless/shared/orders"
	"github.com/alipay-serverless/alipay-serverless/shared/platform"
	"github.com/alipay-serverless/alipay-serverless/shared/preauth"
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
		preauth.WithGatewayTimeout(d.Config.GatewayTimeout), preauth.WithSellerID(d.Config.SellerID))
}

// NewSettle builds the settle slice (function settle): every slice's money-moving
// back-office routes, mounted together.
func NewSettle(d Deps) (Slice, error) {
	return settleSlice{preauth.NewSettleHandler(newSettler(d)).Handlers()}, nil
}

// settleSlice mounts the settle routes several slices contribute.
type settleSlice []map[string]http.Handler

func (s settleSlice) Mount(r *httpapi.Router) error {
	all := map[string]http.Handler{}
	for _, hs := range s {
		maps.Copy(all, hs)
	}
	return r.MountFunction(httpapi.FnSettle, all)
}

// NewAppPay builds the app-pay slice (function apppaysign).
func NewAppPay(d Deps) (Slice, error) {
	svc := apppay.NewService(d.Store, d.Credentials,
		apppay.WithServerPricing(d.Config.AppPayPricing == config.PricingServer),
		apppay.WithSignNotifyURL(d.Config.SignNotifyURL))
	return apppay.NewHandler(svc, d.Config.NotifyURL), nil
}

// NewNotify builds the notification slice (function notify).
func NewNotify(d Deps) (Slice, error) {
	svc := notify.NewService(d.Store, d.Credentials, notify.WithSellerID(d.Config.SellerID),
		notify.WithCertResolver(d.Gateway))
	return notify.NewHandler(svc), nil
}

// All is every slice, in the order the local server mounts them.
var All = []Constructor{NewPreAuth, NewAppPay, NewNotify, NewSettle}

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
