// Package httpapi holds what the three functions' HTTP handlers share: the route table
// (the single source of truth for Lambda, the local server, template.yaml and
// openapi.yaml), JSON error replies, body limits, caller identity and request logging.
package httpapi

import (
	"net/http"
	"strings"
)

// Function names, as the directories under functions/.
const (
	FnCreateVoucher = "createvoucher"
	FnAppPaySign    = "apppaysign"
	FnNotify        = "notify"
	// FnSettle serves every money-moving back-office route (scope settle); the
	// mobile-facing apppaysign holds no refund path.
	FnSettle = "settle"
	// FnReconcile is the scheduled reconciler; no route reaches it.
	FnReconcile = "reconcile"
)

// JWT scopes.
const (
	// ScopePreAuth: the pre-auth routes (cashier, back office).
	ScopePreAuth = "preauth"
	// ScopeOrders: creating app-pay orders when the merchant's backend sets the price
	// (APP_PAY_PRICING=server).
	ScopeOrders = "orders"
	// ScopeSettle: calls that move money after the fact (captures, unfreezes, cancels,
	// refunds, charges), and close/sync/unsign of any caller's order or agreement.
	ScopeSettle = "settle"
)

// AllScopes is every scope; the local caller holds them unless X-Caller-Scopes says
// otherwise.
var AllScopes = []string{ScopePreAuth, ScopeSettle, ScopeOrders}

// Route is one entry of the HTTP contract.
type Route struct {
	Method   string
	Path     string // with {param} segments, as API Gateway writes them
	Function string
	// Auth: the route needs a caller identity (JWT in Lambda); Scope, when set, must be
	// among the caller's scopes.
	Auth  bool
	Scope string
	// ServerPricingScope, when set, is required instead of Scope on a router serving
	// server-priced app pay (APP_PAY_PRICING=server, Router.RequireServerPricing).
	ServerPricingScope string
}

// RequiredScope is the scope the route needs, "" for none.
func (rt Route) RequiredScope(serverPricing bool) string {
	if serverPricing && rt.ServerPricingScope != "" {
		return rt.ServerPricingScope
	}
	return rt.Scope
}

// Routes is the whole HTTP contract of docs/design.md#http-contract-today. /healthz is served only by the local
// server and is not part of it.
var Routes = []Route{
	{http.MethodPost, "/v1/preauth/vouchers", FnCreateVoucher, true, ScopePreAuth, ""},
	{http.MethodGet, "/v1/preauth/orders/{out_order_no}", FnCreateVoucher, true, ScopePreAuth, ""},
	{http.MethodPost, "/v1/preauth/orders/{out_order_no}/sync", FnCreateVoucher, true, ScopePreAuth, ""},
	{http.MethodPost, "/v1/preauth/orders/{out_order_no}/captures", FnSettle, true, ScopeSettle, ""},
	{http.MethodPost, "/v1/preauth/orders/{out_order_no}/unfreezes", FnSettle, true, ScopeSettle, ""},
	{http.MethodPost, "/v1/preauth/orders/{out_order_no}/cancel", FnSettle, true, ScopeSettle, ""},
	// Client pricing: the app creates its own orders. Server pricing: only the merchant's
	// backend does, for an owner; the owner reads them with GET.
	{http.MethodPost, "/v1/app-pay/orders", FnAppPaySign, true, "", ScopeOrders},
	{http.MethodGet, "/v1/app-pay/orders/{out_trade_no}", FnAppPaySign, true, "", ""},
	// Owner or scope settle, decided by the handler (docs/design.md, the lifecycle contract).
	{http.MethodPost, "/v1/app-pay/orders/{out_trade_no}/sync", FnAppPaySign, true, "", ""},
	{http.MethodPost, "/v1/app-pay/orders/{out_trade_no}/close", FnAppPaySign, true, "", ""},
	{http.MethodPost, "/v1/app-pay/orders/{out_trade_no}/refunds", FnSettle, true, ScopeSettle, ""},
	// Pay-and-sign agreements: the owner (who created the order that carried it) or scope
	// settle reads, syncs and unsigns; only scope settle charges.
	{http.MethodGet, "/v1/agreements/{external_agreement_no}", FnAppPaySign, true, "", ""},
	{http.MethodPost, "/v1/agreements/{external_agreement_no}/sync", FnAppPaySign, true, "", ""},
	{http.MethodPost, "/v1/agreements/{external_agreement_no}/unsign", FnAppPaySign, true, "", ""},
	{http.MethodPost, "/v1/agreements/{external_agreement_no}/charges", FnSettle, true, ScopeSettle, ""},
	{http.MethodPost, "/v1/notify/alipay", FnNotify, false, "", ""},
}

// NotifyPath is the route Alipay posts notifications to.
const NotifyPath = "/v1/notify/alipay"

// RoutesOf returns the routes served by one function.
func RoutesOf(function string) []Route {
	var out []Route
	for _, r := range Routes {
		if r.Function == function {
			out = append(out, r)
		}
	}
	return out
}

// match reports whether path matches the route's pattern and returns its parameters.
func (rt Route) match(path string) (map[string]string, bool) {
	ps := strings.Split(strings.Trim(rt.Path, "/"), "/")
	xs := strings.Split(strings.Trim(path, "/"), "/")
	if len(ps) != len(xs) {
		return nil, false
	}
	var params map[string]string
	for i, p := range ps {
		if strings.HasPrefix(p, "{") && strings.HasSuffix(p, "}") {
			if xs[i] == "" {
				return nil, false
			}
			if params == nil {
				params = make(map[string]string, 1)
			}
			params[p[1:len(p)-1]] = xs[i]
			continue
		}
		if p != xs[i] {
			return nil, false
		}
	}
	return params, true
}
