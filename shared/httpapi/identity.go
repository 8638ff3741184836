package httpapi

import (
	"context"
	"net/http"
	"strings"

	"github.com/awslabs/aws-lambda-go-api-proxy/core"
)

// Caller is the authenticated client of a request.
type Caller struct {
	ID     string
	Scopes []string
}

// HasScope reports whether the caller was granted scope.
func (c Caller) HasScope(scope string) bool {
	for _, s := range c.Scopes {
		if s == scope {
			return true
		}
	}
	return false
}

// Authenticator finds the caller of a request; false means unauthenticated.
type Authenticator func(r *http.Request) (Caller, bool)

// JWTCaller reads the caller from the claims API Gateway's JWT authorizer validated
// (payload 2.0 request context). Headers are never consulted: in Lambda only the
// authorizer's verdict counts, so an X-Caller header has no effect.
func JWTCaller(r *http.Request) (Caller, bool) {
	rc, ok := core.GetAPIGatewayV2ContextFromContext(r.Context())
	if !ok || rc.Authorizer == nil || rc.Authorizer.JWT == nil {
		return Caller{}, false
	}
	jwt := rc.Authorizer.JWT
	sub := strings.TrimSpace(jwt.Claims["sub"])
	if sub == "" {
		return Caller{}, false
	}
	scopes := append([]string(nil), jwt.Scopes...)
	// API Gateway passes the scope claim as one space-separated string; some issuers use scp.
	for _, claim := range []string{"scope", "scp"} {
		scopes = append(scopes, strings.Fields(strings.Trim(jwt.Claims[claim], "[]"))...)
	}
	return Caller{ID: sub, Scopes: scopes}, true
}

// LocalCallerHeader names the caller in local mode only.
const LocalCallerHeader = "X-Caller"

// LocalScopesHeader lists the local caller's scopes, space-separated (local mode only).
const LocalScopesHeader = "X-Caller-Scopes"

// LocalCaller is the local server's authenticator: no JWT, the caller is the X-Caller
// header (default "local-dev") with the scopes of X-Caller-Scopes, every scope when
// that header is absent.
func LocalCaller(r *http.Request) (Caller, bool) {
	id := strings.TrimSpace(r.Header.Get(LocalCallerHeader))
	if id == "" {
		id = "local-dev"
	}
	scopes := append([]string(nil), AllScopes...)
	if v, ok := r.Header[http.CanonicalHeaderKey(LocalScopesHeader)]; ok {
		scopes = strings.Fields(strings.Join(v, " "))
	}
	return Caller{ID: id, Scopes: scopes}, true
}

type callerKey struct{}

// WithCaller returns ctx carrying c.
func WithCaller(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// CallerFrom returns the caller the router authenticated.
func CallerFrom(ctx context.Context) (Caller, bool) {
	c, ok := ctx.Value(callerKey{}).(Caller)
	return c, ok
}
