package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/alipay-serverless/alipay-serverless/shared/domain"
)

// Router dispatches the contract's routes to handlers. Unknown paths get a JSON 404, a
// known path with another method a JSON 405 with Allow; routes that need a caller are
// authenticated (401) and scope-checked (403) before their handler runs.
type Router struct {
	auth     Authenticator
	log      *slog.Logger
	handlers map[string]http.Handler // "METHOD path-pattern"
	routes   []Route
	// serverPricing: routes' ServerPricingScope applies (APP_PAY_PRICING=server).
	serverPricing bool
}

// RequireServerPricing makes the routes' ServerPricingScope required: app-pay orders
// are then created only by the merchant's backend.
func (rt *Router) RequireServerPricing() { rt.serverPricing = true }

// NewRouter returns a router using auth for routes that need a caller.
func NewRouter(auth Authenticator, log *slog.Logger) *Router {
	if log == nil {
		log = slog.Default()
	}
	return &Router{auth: auth, log: log, handlers: map[string]http.Handler{}}
}

// Handle mounts h on the route method+path, which must be in Routes.
func (rt *Router) Handle(method, path string, h http.Handler) error {
	for _, r := range Routes {
		if r.Method == method && r.Path == path {
			rt.handlers[method+" "+path] = h
			rt.routes = append(rt.routes, r)
			return nil
		}
	}
	return fmt.Errorf("httpapi: %s %s is not in the route table", method, path)
}

// Mounted returns the routes that have handlers.
func (rt *Router) Mounted() []Route { return append([]Route(nil), rt.routes...) }

// ServeHTTP implements http.Handler.
func (rt *Router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	reqID := requestID(r)
	log := rt.log.With("request_id", reqID)
	ctx := WithLogger(r.Context(), log)
	sw := &statusWriter{ResponseWriter: w}
	r = r.WithContext(ctx)
	defer func() {
		if p := recover(); p != nil {
			log.Error("panic in handler", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			if sw.status == 0 {
				WriteError(sw, Internal())
			}
		}
		log.Info("request", "method", r.Method, "path", r.URL.Path, "status", sw.status,
			"duration_ms", time.Since(start).Milliseconds())
	}()

	var allow []string
	for _, route := range rt.routes {
		params, ok := route.match(r.URL.Path)
		if !ok {
			continue
		}
		if route.Method != r.Method {
			allow = append(allow, route.Method)
			continue
		}
		for k, v := range params {
			r.SetPathValue(k, v)
		}
		if route.Auth {
			c, ok := rt.auth(r)
			if !ok {
				WriteError(sw, &Error{Status: http.StatusUnauthorized, Code: CodeUnauthorized, Message: "authentication required"})
				return
			}
			if scope := route.RequiredScope(rt.serverPricing); scope != "" && !c.HasScope(scope) {
				WriteError(sw, &Error{Status: http.StatusForbidden, Code: CodeForbidden, Message: "scope " + scope + " required"})
				return
			}
			r = r.WithContext(WithCaller(r.Context(), c))
		}
		rt.handlers[route.Method+" "+route.Path].ServeHTTP(sw, r)
		return
	}
	if len(allow) > 0 {
		sw.Header().Set("Allow", strings.Join(allow, ", "))
		WriteError(sw, &Error{Status: http.StatusMethodNotAllowed, Code: CodeMethodNotAllowed, Message: "method " + r.Method + " not allowed"})
		return
	}
	WriteError(sw, NotFound("no such route"))
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// requestID is the Lambda request id when running in Lambda, else the caller's
// X-Request-Id (bounded) or a fresh random id.
func requestID(r *http.Request) string {
	if lc, ok := lambdacontext.FromContext(r.Context()); ok && lc.AwsRequestID != "" {
		return lc.AwsRequestID
	}
	if id := r.Header.Get("X-Request-Id"); id != "" && len(id) <= 64 {
		return id
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// WithLogger returns ctx carrying the request's logger (domain.WithLogger: services
// read it without importing this package).
func WithLogger(ctx context.Context, l *slog.Logger) context.Context {
	return domain.WithLogger(ctx, l)
}

// Logger returns the request's logger (with its request id), or the default logger.
func Logger(ctx context.Context) *slog.Logger { return domain.Logger(ctx) }

// MountFunction registers a slice's handlers, keyed "METHOD path", for exactly the
// routes the table gives function: it fails when a route of the function has no
// handler or a handler has no route, so a slice and the table cannot drift apart.
// Every slice's Mount calls it.
func (rt *Router) MountFunction(function string, handlers map[string]http.Handler) error {
	own := maps.Clone(handlers)
	for _, route := range RoutesOf(function) {
		key := route.Method + " " + route.Path
		h, ok := own[key]
		if !ok {
			return fmt.Errorf("httpapi: %s: no handler for route %s", function, key)
		}
		if err := rt.Handle(route.Method, route.Path, h); err != nil {
			return err
		}
		delete(own, key)
	}
	for key := range own {
		return fmt.Errorf("httpapi: %s: route %s is not in the route table", function, key)
	}
	return nil
}
