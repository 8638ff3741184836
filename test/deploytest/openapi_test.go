// The tests here keep openapi.yaml true to the code: its routes and security against the
// route table, its request examples against the handlers' own validation, its reply
// schemas against the structs the handlers write and against real replies of the
// handlers (driven end to end with the sandbox gateway), and its error codes against
// the httpapi constants.
package deploytest

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"log/slog"
	"maps"
	"math/big"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/alipay-serverless/alipay-serverless/shared/agreements"
	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
	"github.com/alipay-serverless/alipay-serverless/shared/apppay"
	"github.com/alipay-serverless/alipay-serverless/shared/credentials"
	"github.com/alipay-serverless/alipay-serverless/shared/httpapi"
	"github.com/alipay-serverless/alipay-serverless/shared/notify"
	"github.com/alipay-serverless/alipay-serverless/shared/orders"
	"github.com/alipay-serverless/alipay-serverless/shared/preauth"
	"github.com/alipay-serverless/alipay-serverless/shared/sandbox"
)

const (
	oaAppID           = "2021000000000001"
	oaPathVouchers    = "/v1/preauth/vouchers"
	oaPathPreAuth     = "/v1/preauth/orders/{out_order_no}"
	oaPathAppPay      = "/v1/app-pay/orders"
	oaPathAppOrder    = "/v1/app-pay/orders/{out_trade_no}"
	oaPathAppPaySync  = "/v1/app-pay/orders/{out_trade_no}/sync"
	oaPathClose       = "/v1/app-pay/orders/{out_trade_no}/close"
	oaPathRefunds     = "/v1/app-pay/orders/{out_trade_no}/refunds"
	oaPathPreAuthSync = "/v1/preauth/orders/{out_order_no}/sync"
	oaPathCapture     = "/v1/preauth/orders/{out_order_no}/captures"
	oaPathUnfreeze    = "/v1/preauth/orders/{out_order_no}/unfreezes"
	oaPathCancel      = "/v1/preauth/orders/{out_order_no}/cancel"
	oaPathAgreement   = "/v1/agreements/{external_agreement_no}"
	oaPathAgreeSync   = "/v1/agreements/{external_agreement_no}/sync"
	oaPathUnsign      = "/v1/agreements/{external_agreement_no}/unsign"
	oaPathCharges     = "/v1/agreements/{external_agreement_no}/charges"
	oaSecurity        = "bearerAuth"
)

var oaMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// oaValidate is the handlers' own decoding and validation of each POST body.
var oaValidate = map[string]func(body []byte) error{
	oaPathVouchers: func(body []byte) error {
		p, err := alipay.DecodeVoucherCreate(body)
		if err != nil {
			return err
		}
		return p.Validate()
	},
	oaPathAppPay: func(body []byte) error {
		p, err := alipay.DecodeAppPay(body)
		if err != nil {
			return err
		}
		if err := p.Validate(time.Now()); err != nil {
			return err
		}
		return p.CheckRequestFields(false) // the default pricing mode, client

	},
	oaPathAppPaySync: alipay.DecodeEmpty,
	oaPathClose:      alipay.DecodeEmpty,
	oaPathRefunds: func(body []byte) error {
		p, err := alipay.DecodeRefund(body)
		if err != nil {
			return err
		}
		return p.Validate()
	},
	oaPathPreAuthSync: alipay.DecodeEmpty,
	oaPathAgreeSync:   alipay.DecodeEmpty,
	oaPathUnsign:      alipay.DecodeEmpty,
	oaPathCharges: func(body []byte) error {
		p, err := alipay.DecodeCharge(body)
		if err != nil {
			return err
		}
		return p.Validate()
	},
	oaPathCapture: func(body []byte) error {
		p, err := alipay.DecodeCapture(body)
		if err != nil {
			return err
		}
		return p.Validate()
	},
	oaPathUnfreeze: func(body []byte) error {
		p, err := alipay.DecodeUnfreeze(body)
		if err != nil {
			return err
		}
		return p.Validate()
	},
	oaPathCancel: func(body []byte) error {
		p, err := alipay.DecodeCancel(body)
		if err != nil {
			return err
		}
		return p.Validate()
	},
}

// ---- reading the document -------------------------------------------------------

func oaLoad(t testing.TB) node {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(moduleRoot(t), "openapi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var spec node
	if err := yaml.Unmarshal(b, &spec); err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	return spec
}

// oaPointer resolves a local reference; only components are referenced.
func oaPointer(spec node, ref string) (any, error) {
	segs := strings.Split(strings.TrimPrefix(ref, "#/"), "/")
	if !strings.HasPrefix(ref, "#/components/") || len(segs) != 3 {
		return nil, fmt.Errorf("$ref %q: want #/components/<kind>/<name>", ref)
	}
	var cur any = spec
	for _, s := range segs {
		m, ok := cur.(node)
		if !ok {
			return nil, fmt.Errorf("$ref %q does not resolve", ref)
		}
		if cur, ok = m[strings.NewReplacer("~1", "/", "~0", "~").Replace(s)]; !ok {
			return nil, fmt.Errorf("$ref %q does not resolve", ref)
		}
	}
	return cur, nil
}

// oaDeref follows the $ref of a parameter, response or header object.
func oaDeref(spec node, n any) (any, error) {
	for range 8 {
		ref, ok := get(n, "$ref").(string)
		if !ok {
			return n, nil
		}
		var err error
		if n, err = oaPointer(spec, ref); err != nil {
			return nil, err
		}
	}
	return nil, errors.New("$ref chain too long")
}

// oaWalk calls fn on every object of the document. Example values are data, not
// document: only an example's own $ref is visited.
func oaWalk(n any, at string, fn func(at string, m node)) {
	switch x := n.(type) {
	case node:
		fn(at, x)
		for k, v := range x {
			if k == "example" || k == "examples" {
				if exs, ok := v.(node); ok {
					for name, ex := range exs {
						if m, ok := ex.(node); ok && m["$ref"] != nil {
							fn(at+"/"+k+"/"+name, m)
						}
					}
				}
				continue
			}
			oaWalk(v, at+"/"+k, fn)
		}
	case []any:
		for i, v := range x {
			oaWalk(v, at+"/"+strconv.Itoa(i), fn)
		}
	}
}

// oaOperations lists "METHOD path" → operation.
func oaOperations(spec node) map[string]node {
	out := map[string]node{}
	paths, _ := spec["paths"].(node)
	for p, item := range paths {
		for _, m := range oaMethods {
			if op, ok := get(item, m).(node); ok {
				out[strings.ToUpper(m)+" "+p] = op
			}
		}
	}
	return out
}

// oaExamples returns the named JSON request examples of an operation, as JSON bodies.
func oaExamples(t *testing.T, op node) map[string][]byte {
	t.Helper()
	exs, _ := get(op, "requestBody", "content", "application/json", "examples").(node)
	out := map[string][]byte{}
	for name, ex := range exs {
		b, err := json.Marshal(get(ex, "value"))
		if err != nil || get(ex, "value") == nil {
			t.Fatalf("example %s has no JSON value: %v", name, err)
		}
		out[name] = b
	}
	return out
}

func oaSorted[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func oaDecodeJSON(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data after the JSON value")
	}
	return v, nil
}

// ---- a small JSON Schema checker ------------------------------------------------

// oaKeywords are the schema keywords the checker understands; a schema using any other
// keyword fails the test rather than being half-checked.
var oaKeywords = map[string]bool{
	"$ref": true, "type": true, "enum": true, "const": true, "pattern": true, "minLength": true,
	"maxLength": true, "minimum": true, "properties": true, "required": true,
	"additionalProperties": true, "items": true, "oneOf": true, "anyOf": true, "allOf": true,
	"not": true, "if": true, "then": true, "else": true, "format": true, "description": true,
	"title": true, "examples": true, "default": true, "deprecated": true,
}

type oaChecker struct {
	spec node
	// closed: an object schema without additionalProperties lists every key a value may
	// have (replies must be exactly what the document says).
	closed bool
	errs   []string
}

// oaCheck returns what is wrong with value x against schema s.
func oaCheck(spec node, s, x any, at string, closed bool) []string {
	c := &oaChecker{spec: spec, closed: closed}
	c.check(s, x, at, 0)
	return c.errs
}

func (c *oaChecker) fail(at, format string, args ...any) {
	c.errs = append(c.errs, at+": "+fmt.Sprintf(format, args...))
}

func (c *oaChecker) valid(s, x any, depth int) bool {
	sub := &oaChecker{spec: c.spec, closed: c.closed}
	sub.check(s, x, "", depth)
	return len(sub.errs) == 0
}

func (c *oaChecker) check(s, x any, at string, depth int) {
	if depth > 40 {
		c.fail(at, "schema nesting too deep")
		return
	}
	m, ok := s.(node)
	if !ok {
		c.fail(at, "schema is not an object")
		return
	}
	for k := range m {
		if !oaKeywords[k] {
			c.fail(at, "schema keyword %q is not understood by this test", k)
		}
	}
	if ref, ok := m["$ref"].(string); ok {
		target, err := oaPointer(c.spec, ref)
		if err != nil {
			c.fail(at, "%v", err)
			return
		}
		c.check(target, x, at, depth+1)
	}
	if t, ok := m["type"]; ok && !slices.ContainsFunc(strs(t), func(t string) bool { return oaIsType(t, x) }) {
		c.fail(at, "is %T, want type %v", x, t)
		return
	}
	if e, ok := m["enum"].([]any); ok && !slices.ContainsFunc(e, func(v any) bool { return oaEqual(v, x) }) {
		c.fail(at, "%v is not one of %v", x, e)
	}
	if v, ok := m["const"]; ok && !oaEqual(v, x) {
		c.fail(at, "%v is not %v", x, v)
	}
	switch x := x.(type) {
	case string:
		n := utf8.RuneCountInString(x)
		if v, ok := m["maxLength"].(int); ok && n > v {
			c.fail(at, "%d characters, at most %d", n, v)
		}
		if v, ok := m["minLength"].(int); ok && n < v {
			c.fail(at, "%d characters, at least %d", n, v)
		}
		if p, ok := m["pattern"].(string); ok {
			re, err := regexp.Compile(p)
			switch {
			case err != nil:
				c.fail(at, "pattern %q: %v", p, err)
			case !re.MatchString(x):
				c.fail(at, "%q does not match %s", x, p)
			}
		}
		if f, ok := m["format"].(string); ok {
			if err := oaFormat(f, x); err != nil {
				c.fail(at, "%q is not a %s: %v", x, f, err)
			}
		}
	case json.Number:
		if v, ok := m["minimum"].(int); ok {
			r, _ := new(big.Rat).SetString(string(x))
			if r == nil || r.Cmp(big.NewRat(int64(v), 1)) < 0 {
				c.fail(at, "%s is below the minimum %d", x, v)
			}
		}
	case node:
		props, _ := m["properties"].(node)
		for _, r := range strs(m["required"]) {
			if _, ok := x[r]; !ok {
				c.fail(at, "required %s is missing", r)
			}
		}
		for _, k := range oaSorted(x) {
			if ps, ok := props[k]; ok {
				c.check(ps, x[k], at+"."+k, depth+1)
				continue
			}
			switch ap := m["additionalProperties"].(type) {
			case bool:
				if !ap {
					c.fail(at, "%s is not a declared property", k)
				}
			case node:
				c.check(ap, x[k], at+"."+k, depth+1)
			case nil:
				if c.closed && m["type"] == "object" {
					c.fail(at, "%s is not a declared property", k)
				}
			}
		}
	case []any:
		if it, ok := m["items"]; ok {
			for i, e := range x {
				c.check(it, e, fmt.Sprintf("%s[%d]", at, i), depth+1)
			}
		}
	}
	for _, sub := range asList(m["allOf"]) {
		c.check(sub, x, at, depth+1)
	}
	if one, ok := m["oneOf"].([]any); ok {
		n := 0
		for _, sub := range one {
			if c.valid(sub, x, depth+1) {
				n++
			}
		}
		if n != 1 {
			c.fail(at, "matches %d of the oneOf schemas, want exactly 1", n)
		}
	}
	if anyOf, ok := m["anyOf"].([]any); ok && !slices.ContainsFunc(anyOf, func(sub any) bool { return c.valid(sub, x, depth+1) }) {
		c.fail(at, "matches none of the anyOf schemas")
	}
	if not, ok := m["not"]; ok && c.valid(not, x, depth+1) {
		c.fail(at, "matches the schema under not")
	}
	if cond, ok := m["if"]; ok {
		branch := "else"
		if c.valid(cond, x, depth+1) {
			branch = "then"
		}
		if sub, ok := m[branch]; ok {
			c.check(sub, x, at, depth+1)
		}
	}
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

func oaIsType(t string, x any) bool {
	switch t {
	case "string":
		_, ok := x.(string)
		return ok
	case "object":
		_, ok := x.(node)
		return ok
	case "array":
		_, ok := x.([]any)
		return ok
	case "boolean":
		_, ok := x.(bool)
		return ok
	case "null":
		return x == nil
	case "number", "integer":
		n, ok := x.(json.Number)
		if !ok {
			return false
		}
		r, ok := new(big.Rat).SetString(string(n))
		return ok && (t == "number" || r.IsInt())
	}
	return false
}

// oaEqual compares a YAML constant with a decoded JSON value by their JSON text.
func oaEqual(a, b any) bool {
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(x, y)
}

func oaFormat(format, v string) error {
	switch format {
	case "date-time":
		_, err := time.Parse(time.RFC3339, v)
		return err
	case "date":
		_, err := time.Parse(time.DateOnly, v)
		return err
	case "uri":
		u, err := url.Parse(v)
		if err == nil && !u.IsAbs() {
			err = errors.New("not absolute")
		}
		return err
	}
	return fmt.Errorf("format %q is not understood by this test", format)
}

// ---- replies against the document ----------------------------------------------

// oaReply is one HTTP reply.
type oaReply struct {
	status int
	header http.Header
	body   []byte
}

func (r oaReply) String() string { return fmt.Sprintf("%d %s", r.status, r.body) }

// errorCode is the reply's error.code, "" if none.
func (r oaReply) errorCode() string {
	var e struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	_ = json.Unmarshal(r.body, &e)
	return e.Error.Code
}

// oaConform checks a reply of the operation method+path against the document: its
// status is declared, its body matches the schema of its media type (objects closed),
// and every contract header it carries is declared and matches. It returns the body
// decoded.
func oaConform(t *testing.T, spec node, method, path string, r oaReply) any {
	t.Helper()
	op := get(spec, "paths", path, strings.ToLower(method))
	if op == nil {
		t.Errorf("%s %s is not in the document", method, path)
		return nil
	}
	resp, err := oaDeref(spec, get(op, "responses", strconv.Itoa(r.status)))
	if err != nil || resp == nil {
		t.Errorf("%s %s: reply status %d is not declared (%v): %s", method, path, r.status, err, r)
		return nil
	}
	for _, name := range []string{"Retry-After", "Idempotent-Replayed", "Allow"} {
		v := r.header.Get(name)
		if v == "" {
			continue
		}
		hd, err := oaDeref(spec, get(resp, "headers", name))
		if err != nil || hd == nil {
			t.Errorf("%s %s %d: header %s is sent but not declared", method, path, r.status, name)
			continue
		}
		var x any = v
		if get(hd, "schema", "type") == "integer" {
			x = json.Number(v)
		}
		for _, e := range oaCheck(spec, get(hd, "schema"), x, name, true) {
			t.Errorf("%s %s %d: header %s", method, path, r.status, e)
		}
	}
	content, _ := get(resp, "content").(node)
	if len(r.body) == 0 && content == nil {
		return nil
	}
	mt, _, err := mime.ParseMediaType(r.header.Get("Content-Type"))
	if err != nil || content[mt] == nil {
		t.Errorf("%s %s %d: Content-Type %q is not declared (%v)", method, path, r.status, r.header.Get("Content-Type"), oaSorted(content))
		return nil
	}
	var x any = string(r.body)
	if mt == "application/json" {
		if x, err = oaDecodeJSON(r.body); err != nil {
			t.Errorf("%s %s %d: body is not JSON: %v", method, path, r.status, err)
			return nil
		}
	}
	for _, e := range oaCheck(spec, get(content[mt], "schema"), x, "body", true) {
		t.Errorf("%s %s %d: %s\n  reply: %s", method, path, r.status, e, r.body)
	}
	return x
}

// ---- the handlers, wired as in the functions ------------------------------------

func oaKey(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(moduleRoot(t), "testdata", "keys", name))
	if err != nil {
		t.Fatalf("reference testdata (<module root>/testdata): %v", err)
	}
	return b
}

// oaRouter mounts the four slices on one router over store, as cmd/local does.
func oaRouter(t *testing.T, auth httpapi.Authenticator, store *orders.MemoryStore, creds credentials.Static, gw preauth.Gateway) *httpapi.Router {
	t.Helper()
	r := httpapi.NewRouter(auth, slog.New(slog.DiscardHandler))
	app := apppay.NewHandler(apppay.NewService(store, creds, apppay.WithGateway(gw), apppay.WithGatewayTimeout(5*time.Second),
		apppay.WithDefaultTimeoutExpress("30m")), "")
	settler := preauth.NewSettler(store, creds, gw, preauth.WithGatewayTimeout(5*time.Second))
	ag := agreements.NewHandler(agreements.NewService(store, creds, gw, agreements.WithGatewayTimeout(5*time.Second)), "")
	app.WithRoutes(ag.Handlers())
	settle := map[string]http.Handler{}
	maps.Copy(settle, app.SettleHandlers())
	maps.Copy(settle, preauth.NewSettleHandler(settler).Handlers())
	maps.Copy(settle, ag.SettleHandlers())
	err := errors.Join(
		preauth.NewHandler(settler.Service).WithSync(settler).Mount(r),
		app.Mount(r),
		r.MountFunction(httpapi.FnSettle, settle),
		notify.NewHandler(notify.NewService(store, creds)).Mount(r),
	)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// oaStack serves the router and the sandbox gateway on one loopback server, so the
// notify_url the handlers derive from the request reaches the notify route, and
// records every reply of the notify route with the body it answered.
type oaStack struct {
	url    string
	client *http.Client
	sim    *sandbox.Simulator
	creds  *alipay.Credentials
	store  *orders.MemoryStore

	mu       sync.Mutex
	notified []oaNotified
	// holdNotices answers every notification fail without applying it, while set.
	holdNotices atomic.Bool
}

type oaNotified struct {
	body  []byte
	ct    string
	reply oaReply
}

func oaStart(t *testing.T) *oaStack {
	t.Helper()
	appKey, err := alipay.ParsePrivateKey(oaKey(t, "app_private_pkcs1.pem"))
	if err != nil {
		t.Fatal(err)
	}
	appPub, err := alipay.ParsePublicKey(oaKey(t, "app_public.pem"))
	if err != nil {
		t.Fatal(err)
	}
	alipayKey, err := alipay.ParsePrivateKey(oaKey(t, "alipay_private_pkcs1.pem"))
	if err != nil {
		t.Fatal(err)
	}
	sim, err := sandbox.New(sandbox.Options{
		AppID: oaAppID, AppPublicKey: appPub, AlipayKey: alipayKey,
		HTTPClient:    &http.Client{Timeout: 5 * time.Second},
		RetrySchedule: []time.Duration{20 * time.Millisecond, 50 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Close() })

	s := &oaStack{sim: sim, store: orders.NewMemoryStore(), client: &http.Client{Timeout: 10 * time.Second}}
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux) // 127.0.0.1
	t.Cleanup(srv.Close)
	s.url = srv.URL
	s.creds = &alipay.Credentials{AppID: oaAppID, PrivateKey: appKey, AlipayPublicKey: sim.AlipayPublicKey()}
	gw := alipay.NewClient(srv.URL+sandbox.GatewayPath, alipay.WithTimeout(5*time.Second))
	router := oaRouter(t, httpapi.LocalCaller, s.store, credentials.Static{Creds: s.creds}, gw)
	mux.Handle(sandbox.Prefix, sim.Handler())
	mux.Handle("/", router)
	mux.HandleFunc(httpapi.NotifyPath, func(w http.ResponseWriter, r *http.Request) {
		if s.holdNotices.Load() {
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = w.Write([]byte(alipay.NotifyFailReply))
			return
		}
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		r.Body = io.NopCloser(bytes.NewReader(body))
		rec := httptest.NewRecorder()
		router.ServeHTTP(rec, r)
		s.mu.Lock()
		s.notified = append(s.notified, oaNotified{body: body, ct: r.Header.Get("Content-Type"),
			reply: oaReply{rec.Code, rec.Header().Clone(), rec.Body.Bytes()}})
		s.mu.Unlock()
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	})
	return s
}

func (s *oaStack) do(t *testing.T, method, path, ct string, body []byte) oaReply {
	t.Helper()
	req, err := http.NewRequest(method, s.url+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	res, err := s.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return oaReply{res.StatusCode, res.Header, b}
}

func oaServe(h http.Handler, method, path, ct string, body []byte) oaReply {
	req := httptest.NewRequest(method, "http://127.0.0.1"+path, bytes.NewReader(body))
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return oaReply{rec.Code, rec.Header(), rec.Body.Bytes()}
}

// ---- tests ----------------------------------------------------------------------

func TestOpenAPIDocumentIsStructurallyValid(t *testing.T) {
	spec := oaLoad(t)
	if v, _ := spec["openapi"].(string); !regexp.MustCompile(`^3\.[01]\.[0-9]+$`).MatchString(v) {
		t.Errorf("openapi version %q, want 3.0.x or 3.1.x", v)
	}
	if get(spec, "info", "title") == nil || get(spec, "info", "version") == nil {
		t.Error("info.title and info.version are required")
	}
	servers, _ := spec["servers"].([]any)
	var urls []string
	for _, s := range servers {
		if u, ok := get(s, "url").(string); ok {
			urls = append(urls, u)
		}
	}
	if !slices.Contains(urls, "http://127.0.0.1:3000") || !slices.ContainsFunc(urls, func(u string) bool { return strings.Contains(u, "execute-api") }) {
		t.Errorf("servers %v: want the API Gateway URL and the local server", urls)
	}

	used := map[string]bool{}
	oaWalk(spec, "#", func(at string, m node) {
		ref, ok := m["$ref"].(string)
		if !ok {
			return
		}
		if _, err := oaPointer(spec, ref); err != nil {
			t.Errorf("%s: %v", at, err)
		}
		used[ref] = true
	})
	if len(used) == 0 {
		t.Error("no $ref found: the walk is broken")
	}
	schemes, _ := get(spec, "components", "securitySchemes").(node)
	usedSchemes := map[string]bool{}
	ops := oaOperations(spec)
	requirements := asList(spec["security"])
	for _, op := range ops {
		requirements = append(requirements, asList(op["security"])...)
	}
	for _, req := range requirements {
		m, _ := req.(node)
		if len(m) == 0 {
			t.Errorf("security requirement %v: want one scheme (use security: [] for none)", req)
		}
		for name := range m {
			if schemes[name] == nil {
				t.Errorf("security requirement names unknown scheme %q", name)
			}
			usedSchemes[name] = true
		}
	}
	components, _ := spec["components"].(node)
	for kind, all := range components {
		all, _ := all.(node)
		for name := range all {
			if kind == "securitySchemes" {
				if !usedSchemes[name] {
					t.Errorf("security scheme %s is never required", name)
				}
			} else if !used["#/components/"+kind+"/"+name] {
				t.Errorf("components.%s.%s is never referenced", kind, name)
			}
		}
	}

	ids := map[string]string{}
	paramRe := regexp.MustCompile(`\{([^}]+)\}`)
	for key, op := range ops {
		id, _ := op["operationId"].(string)
		if id == "" {
			t.Errorf("%s has no operationId", key)
		} else if prev, dup := ids[id]; dup {
			t.Errorf("operationId %s used by %s and %s", id, prev, key)
		}
		ids[id] = key
		responses, _ := op["responses"].(node)
		if len(responses) == 0 {
			t.Errorf("%s declares no responses", key)
		}
		for status, r := range responses {
			r, err := oaDeref(spec, r)
			if err != nil || get(r, "description") == nil {
				t.Errorf("%s %s: response needs a description (%v)", key, status, err)
			}
			if _, err := strconv.Atoi(status); err != nil || len(status) != 3 {
				t.Errorf("%s: response key %q is not a status code", key, status)
			}
		}
		path := strings.SplitN(key, " ", 2)[1]
		var want, got []string
		for _, m := range paramRe.FindAllStringSubmatch(path, -1) {
			want = append(want, m[1])
		}
		for _, p := range append(asList(get(spec, "paths", path, "parameters")), asList(op["parameters"])...) {
			p, err := oaDeref(spec, p)
			if err != nil {
				t.Errorf("%s: %v", key, err)
				continue
			}
			if get(p, "in") != "path" {
				continue
			}
			got = append(got, fmt.Sprint(get(p, "name")))
			if get(p, "required") != true || get(p, "schema") == nil {
				t.Errorf("%s: path parameter %v must be required and have a schema", key, get(p, "name"))
			}
		}
		sort.Strings(got)
		sort.Strings(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s: path parameters %v, the path has %v", key, got, want)
		}
	}
}

func TestOpenAPIRoutesAndSecurityEqualTheRouteTable(t *testing.T) {
	spec := oaLoad(t)
	if get(spec, "components", "securitySchemes", oaSecurity, "scheme") != "bearer" ||
		get(spec, "components", "securitySchemes", oaSecurity, "bearerFormat") != "JWT" {
		t.Errorf("security scheme %s must be http bearer JWT", oaSecurity)
	}
	ops := oaOperations(spec)
	var got, want []string
	for key, op := range ops {
		sec, explicit := op["security"]
		if !explicit {
			sec = spec["security"]
		}
		access := "invalid"
		switch reqs := asList(sec); {
		case sec != nil && len(reqs) == 0:
			access = boolStr(false)
		case len(reqs) == 1 && len(reqs[0].(node)) == 1 && get(reqs[0], oaSecurity) != nil:
			access = boolStr(true) + " " + strings.Join(strs(get(reqs[0], oaSecurity)), ",")
		}
		got = append(got, key+" "+access)
	}
	for _, r := range httpapi.Routes {
		want = append(want, r.Method+" "+r.Path+" "+boolStr(r.Auth)+strings.TrimRight(" "+r.Scope, " "))
	}
	for i := range got {
		got[i] = strings.TrimRight(got[i], " ")
	}
	// The scope server pricing adds is the operation's x-server-pricing-scope.
	for _, r := range httpapi.Routes {
		if got, _ := get(ops[r.Method+" "+r.Path], "x-server-pricing-scope").(string); got != r.ServerPricingScope {
			t.Errorf("%s %s: x-server-pricing-scope %q, want %q", r.Method, r.Path, got, r.ServerPricingScope)
		}
	}
	sort.Strings(got)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Fatalf("document routes differ from the route table\n got: %q\nwant: %q", got, want)
	}

	for _, r := range httpapi.Routes {
		t.Run(strings.ToLower(r.Function+"_"+r.Method)+"_declares_the_statuses_it_can_reply", func(t *testing.T) {
			responses, _ := get(ops[r.Method+" "+r.Path], "responses").(node)
			declared := func(s string) bool { return responses[s] != nil }
			must := map[string]bool{"200": true, "400": true, "405": true, "500": true, "503": true,
				"401": r.Auth, "403": r.Scope != "" || r.ServerPricingScope != "",
				"404": strings.Contains(r.Path, "{"),
				// An agreement's sync refuses nothing of its own.
				"409": r.Method == http.MethodPost && r.Path != oaPathAgreeSync, "413": r.Method == http.MethodPost, "415": r.Method == http.MethodPost,
				// Alipay's refusals reach the caller from the routes that call Alipay with a
				// refusal of their own (a sync's query refusal is an unknown outcome).
				"502": r.Method == http.MethodPost && (r.Function == httpapi.FnCreateVoucher || r.Function == httpapi.FnSettle ||
					r.Path == oaPathClose || r.Path == oaPathUnsign),
				"202": r.Path == oaPathRefunds,
			}
			for status, need := range must {
				if need != declared(status) {
					t.Errorf("%s %s: status %s declared %v, want %v", r.Method, r.Path, status, declared(status), need)
				}
			}
			for status := range responses {
				if _, known := must[status]; !known {
					t.Errorf("%s %s: status %s is not one the code replies", r.Method, r.Path, status)
				}
			}
			if r.Method == http.MethodPost && r.Auth {
				if len(oaExamples(t, ops[r.Method+" "+r.Path])) == 0 {
					t.Errorf("%s %s has no request examples", r.Method, r.Path)
				}
				// 503 always carries Retry-After; 409 only as REQUEST_IN_PROGRESS, which only
				// a gateway lease produces (voucher, refund, close).
				wantRetry := map[string]bool{"503": true, "409": r.Function == httpapi.FnCreateVoucher || r.Function == httpapi.FnSettle || r.Path == oaPathClose}
				for status, want := range wantRetry {
					if got := get(oaMust(t, spec, responses[status]), "headers", "Retry-After") != nil; got != want {
						t.Errorf("%s %s %s declares Retry-After %v, want %v", r.Method, r.Path, status, got, want)
					}
				}
			}
		})
	}
}

func oaMust(t *testing.T, spec node, n any) any {
	t.Helper()
	v, err := oaDeref(spec, n)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestOpenAPIErrorCodesAreTheCodesTheCodeEmits(t *testing.T) {
	spec := oaLoad(t)
	enum := strs(get(spec, "components", "schemas", "Error", "properties", "error", "properties", "code", "enum"))
	// httpapi's own codes and the domain's refusals it maps (httpapi.ErrorFor).
	var codes []string
	fset := token.NewFileSet()
	dir := filepath.Join(moduleRoot(t), "shared", "httpapi")
	for _, dir := range []string{filepath.Join(moduleRoot(t), "shared", "domain"), dir} {
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
				continue
			}
			f, err := parser.ParseFile(fset, filepath.Join(dir, e.Name()), nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			ast.Inspect(f, func(n ast.Node) bool {
				vs, ok := n.(*ast.ValueSpec)
				if !ok {
					return true
				}
				for i, name := range vs.Names {
					if !strings.HasPrefix(name.Name, "Code") || i >= len(vs.Values) {
						continue
					}
					if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
						v, _ := strconv.Unquote(lit.Value)
						if !slices.Contains(codes, v) {
							codes = append(codes, v)
						}
					}
				}
				return true
			})
		}
	}
	if !slices.Contains(codes, httpapi.CodeIllegalArgument) || !slices.Contains(codes, httpapi.CodeInternal) {
		t.Fatalf("found codes %v in %s: the scan is broken", codes, dir)
	}
	sort.Strings(codes)
	sort.Strings(enum)
	if !slices.Equal(codes, enum) {
		t.Errorf("Error.code enum %v\n   httpapi codes %v", enum, codes)
	}
}

// oaJSONFields lists the JSON keys a struct marshals and those it always writes.
func oaJSONFields(typ reflect.Type) (all, always []string) {
	for f := range typ.Fields() {
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		all = append(all, name)
		if !slices.Contains(strings.Split(opts, ","), "omitempty") && !slices.Contains(strings.Split(opts, ","), "omitzero") {
			always = append(always, name)
		}
	}
	sort.Strings(all)
	sort.Strings(always)
	return all, always
}

func TestOpenAPISchemasMatchTheStructsTheCodeUses(t *testing.T) {
	spec := oaLoad(t)
	tests := []struct {
		schema string
		typ    reflect.Type
		reply  bool // required must equal the fields always written
		// docOnly: request fields the handler reads but does not send to Alipay;
		// serverOnly: fields the server sets, never a client.
		docOnly, serverOnly []string
	}{
		{"VoucherReply", reflect.TypeFor[preauth.Voucher](), true, nil, nil},
		{"PreAuthOrder", reflect.TypeFor[preauth.Order](), true, nil, nil},
		{"VoucherRequest", reflect.TypeFor[preauth.Request](), true, nil, nil},
		{"FundOperation", reflect.TypeFor[preauth.Operation](), true, nil, nil},
		{"Capture", reflect.TypeFor[preauth.Capture](), true, nil, nil},
		{"Unfreeze", reflect.TypeFor[preauth.Unfreeze](), true, nil, nil},
		{"Cancel", reflect.TypeFor[preauth.Cancel](), true, nil, nil},
		{"CaptureReply", reflect.TypeFor[preauth.CaptureReply](), true, nil, nil},
		{"UnfreezeReply", reflect.TypeFor[preauth.UnfreezeReply](), true, nil, nil},
		{"CancelReply", reflect.TypeFor[preauth.CancelReply](), true, nil, nil},
		{"CaptureRequest", reflect.TypeFor[alipay.CaptureParams](), false, nil, nil},
		{"UnfreezeRequest", reflect.TypeFor[alipay.UnfreezeParams](), false, nil, nil},
		{"CancelRequest", reflect.TypeFor[alipay.CancelParams](), false, nil, nil},
		{"AppPayOrder", reflect.TypeFor[apppay.OrderView](), true, nil, nil},
		{"Agreement", reflect.TypeFor[apppay.AgreementView](), true, nil, nil},
		{"RefundReply", reflect.TypeFor[apppay.RefundReply](), true, nil, nil},
		{"RefundEntry", reflect.TypeFor[apppay.RefundEntry](), true, nil, nil},
		{"ExternalRefund", reflect.TypeFor[apppay.ExternalRefundView](), true, nil, nil},
		{"RefundRequest", reflect.TypeFor[alipay.RefundParams](), false, nil, nil},
		{"VoucherCreateRequest", reflect.TypeFor[alipay.VoucherCreateParams](), false, nil, nil},
		{"AppPayRequest", reflect.TypeFor[alipay.AppPayParams](), false, []string{"owner"}, nil},
		{"AgreementSignParams", reflect.TypeFor[alipay.AgreementSignParams](), false, nil, []string{"sign_notify_url"}},
		{"AccessParams", reflect.TypeFor[alipay.AccessParams](), false, nil, nil},
		{"PeriodRuleParams", reflect.TypeFor[alipay.PeriodRuleParams](), false, nil, nil},
		{"AgreementView", reflect.TypeFor[agreements.View](), true, nil, nil},
		{"AgreementRule", reflect.TypeFor[agreements.RuleView](), true, nil, nil},
		{"ChargeWindow", reflect.TypeFor[agreements.WindowView](), true, nil, nil},
		{"ChargeEntry", reflect.TypeFor[agreements.ChargeEntry](), true, nil, nil},
		{"ChargeReply", reflect.TypeFor[agreements.ChargeReply](), true, nil, nil},
		{"ChargeRequest", reflect.TypeFor[alipay.ChargeParams](), false, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.schema+"_has_the_fields_of_"+tc.typ.Name(), func(t *testing.T) {
			s := get(spec, "components", "schemas", tc.schema)
			props, _ := get(s, "properties").(node)
			got := oaSorted(props)
			all, always := oaJSONFields(tc.typ)
			all = slices.DeleteFunc(append(all, tc.docOnly...), func(f string) bool { return slices.Contains(tc.serverOnly, f) })
			sort.Strings(all)
			if !slices.Equal(got, all) {
				t.Errorf("properties %v, %s marshals %v", got, tc.typ, all)
			}
			if tc.reply {
				req := strs(get(s, "required"))
				sort.Strings(req)
				if !slices.Equal(req, always) {
					t.Errorf("required %v, %s always writes %v", req, tc.typ, always)
				}
			}
		})
	}
	t.Run("error_body_has_the_fields_of_httpapi_Error", func(t *testing.T) {
		s := get(spec, "components", "schemas", "Error", "properties", "error")
		props, _ := get(s, "properties").(node)
		all, always := oaJSONFields(reflect.TypeFor[httpapi.Error]())
		req := strs(get(s, "required"))
		sort.Strings(req)
		if got := oaSorted(props); !slices.Equal(got, all) || !slices.Equal(req, always) {
			t.Errorf("properties %v required %v; httpapi.Error marshals %v, always %v", got, req, all, always)
		}
	})
}

func oaStrings[S ~string](xs ...S) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = string(x)
	}
	return out
}

func TestOpenAPIEnumsEqualTheCodeConstants(t *testing.T) {
	spec := oaLoad(t)
	schema := func(path ...string) []string {
		return strs(get(spec, append([]string{"components", "schemas"}, path...)...))
	}
	tests := []struct {
		name string
		got  []string
		want []string
	}{
		{"app_pay_order_status", schema("AppPayOrder", "properties", "status", "enum"), oaStrings(orders.TradeMachine.States()...)},
		{"pre_auth_order_status", schema("PreAuthOrder", "properties", "status", "enum"), oaStrings(orders.PreAuthMachine.States()...)},
		{"agreement_status", schema("Agreement", "properties", "status", "enum"), oaStrings(orders.AgreementMachine.States()...)},
		{"fund_operation_status", schema("FundOperation", "properties", "status", "enum"), oaStrings(orders.OperationMachine.States()...)},
		{"fund_operation_type", schema("FundOperation", "properties", "operation_type", "enum"),
			oaStrings(orders.OperationFreeze, orders.OperationUnfreeze, orders.OperationPay)},
		{"voucher_request_state", schema("VoucherRequest", "properties", "state", "enum"),
			oaStrings(orders.RequestInProgress, orders.RequestIssued, orders.RequestBusinessError, orders.RequestUnknown, orders.RequestNotCreated)},
		{"voucher_reply_status", schema("VoucherReply", "properties", "status", "enum"), []string{preauth.StatusCodeIssued}},
		{"app_pay_reply_status", schema("AppPayReply", "properties", "status", "enum"), oaStrings(orders.TradeCreated)},
		{"refund_reply_status", schema("RefundReply", "properties", "status", "enum"), oaStrings(apppay.RefundSucceeded, apppay.RefundPending)},
		{"refund_entry_status", schema("RefundEntry", "properties", "status", "enum"),
			oaStrings(orders.OpPending, orders.OpSucceeded, orders.OpFailed, orders.OpUnknown)},
		{"closed_reason", schema("AppPayOrder", "properties", "closed_reason", "enum"),
			oaStrings(orders.ClosedByMerchant, orders.ClosedExpired, orders.ClosedRefunded)},
		{"voucher_product_code", schema("VoucherCreateRequest", "properties", "product_code", "enum"), []string{alipay.ProductCodePreAuth}},
		{"app_pay_product_code", schema("AppPayRequest", "properties", "product_code", "enum"),
			[]string{alipay.ProductCodeQuickMSecurityPay, alipay.ProductCodeCyclePayAuth}},
		{"agreement_product_code", schema("AgreementSignParams", "properties", "product_code", "enum"), []string{alipay.ProductCodeGeneralWithholding}},
		{"access_channel", schema("AccessParams", "properties", "channel", "enum"),
			[]string{alipay.ChannelAlipayApp, alipay.ChannelQRCode, alipay.ChannelQRCodeOrSMS}},
		{"period_type", schema("PeriodRuleParams", "properties", "period_type", "enum"), []string{alipay.PeriodTypeDay, alipay.PeriodTypeMonth}},
		{"capture_status", schema("Capture", "properties", "status", "enum"),
			oaStrings(orders.OpPending, orders.OpSucceeded, orders.OpFailed, orders.OpUnknown)},
		{"capture_reply_status", schema("CaptureReply", "properties", "status", "enum"),
			oaStrings(orders.OpPending, orders.OpSucceeded, orders.OpFailed, orders.OpUnknown)},
		{"auth_confirm_mode", schema("CaptureRequest", "properties", "auth_confirm_mode", "enum"),
			[]string{alipay.AuthConfirmNotComplete, alipay.AuthConfirmComplete}},
		{"cancel_action", schema("CancelReply", "properties", "action", "enum"),
			[]string{alipay.CancelActionClose, alipay.CancelActionUnfreeze}},
		{"agreement_view_status", schema("AgreementView", "properties", "status", "enum"), oaStrings(orders.AgreementMachine.States()...)},
		{"agreement_rule_period_type", schema("AgreementRule", "properties", "period_type", "enum"), []string{orders.PeriodDay, orders.PeriodMonth}},
		{"charge_status", schema("ChargeEntry", "properties", "status", "enum"),
			oaStrings(orders.OpPending, orders.OpSucceeded, orders.OpFailed, orders.OpUnknown)},
		{"charge_reply_status", schema("ChargeReply", "properties", "status", "enum"),
			oaStrings(orders.OpPending, orders.OpSucceeded, orders.OpFailed, orders.OpUnknown)},
	}
	for _, tc := range tests {
		t.Run(tc.name+"_enum_is_the_code_constants", func(t *testing.T) {
			if !slices.Equal(tc.got, tc.want) {
				t.Errorf("enum %v, code %v", tc.got, tc.want)
			}
		})
	}
}

func TestOpenAPIRequestExamplesPassTheHandlersValidation(t *testing.T) {
	spec := oaLoad(t)
	required := map[string][]string{
		oaPathVouchers: {"plain_voucher", "voucher_with_extra_param"},
		oaPathAppPay:   {"basic_app_pay", "pay_and_sign"},
	}
	seen := map[string]bool{}
	for key, op := range oaOperations(spec) {
		schema := get(op, "requestBody", "content", "application/json", "schema")
		if schema == nil {
			continue
		}
		path := strings.SplitN(key, " ", 2)[1]
		validate, ok := oaValidate[path]
		if !ok {
			t.Errorf("%s takes JSON but the test knows no validation for it", key)
			continue
		}
		seen[path] = true
		exs := oaExamples(t, op)
		for _, name := range required[path] {
			if exs[name] == nil {
				t.Errorf("%s: example %s is missing", key, name)
			}
		}
		for _, name := range oaSorted(exs) {
			t.Run(name+"_is_accepted_by_schema_and_handler_validation", func(t *testing.T) {
				x, err := oaDecodeJSON(exs[name])
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range oaCheck(spec, schema, x, name, false) {
					t.Errorf("schema: %s", e)
				}
				if err := validate(exs[name]); err != nil {
					t.Errorf("handler validation (dates must be in the future; move them forward): %v\n  %s", err, exs[name])
				}
			})
		}
	}
	for path := range oaValidate {
		if !seen[path] {
			t.Errorf("%s: no JSON request body in the document", path)
		}
	}
}

func TestOpenAPIPathParametersMatchTheHandlersChecks(t *testing.T) {
	spec := oaLoad(t)
	checks := []struct {
		path, param string
		check       func(field, v string) error
	}{
		{oaPathPreAuth, "out_order_no", alipay.CheckOutOrderNo},
		{oaPathAppOrder, "out_trade_no", alipay.CheckOutTradeNo},
		{oaPathAgreement, "external_agreement_no", alipay.CheckExternalAgreementNo},
	}
	values := []struct{ name, v string }{
		{"letters_and_digits", "PA20261122000001"}, {"one_character", "a"}, {"underscore", "a_b"},
		{"dash", "a-b"}, {"dot", "a.b"}, {"space", "a b"}, {"empty", ""}, {"non_ascii", "订单1"},
		{"escaped_slash", "A%2FB"}, {"64_characters", strings.Repeat("x", 64)}, {"65_characters", strings.Repeat("x", 65)},
	}
	for _, c := range checks {
		params := asList(get(spec, "paths", c.path, "get", "parameters"))
		if len(params) != 1 {
			t.Fatalf("GET %s: %d parameters, want 1", c.path, len(params))
		}
		p := oaMust(t, spec, params[0])
		if get(p, "name") != c.param {
			t.Fatalf("GET %s: parameter %v, want %s", c.path, get(p, "name"), c.param)
		}
		for _, v := range values {
			t.Run(c.param+"_"+v.name+"_gets_the_same_verdict", func(t *testing.T) {
				inSchema := len(oaCheck(spec, get(p, "schema"), v.v, c.param, false)) == 0
				inCode := c.check(c.param, v.v) == nil
				if inSchema != inCode {
					t.Errorf("%q: the schema accepts it %v, the handler %v", v.v, inSchema, inCode)
				}
			})
		}
	}
}

// oaMutate returns the JSON body with the dotted field set to value (or removed).
func oaMutate(t *testing.T, body []byte, field string, value any, remove bool) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	keys := strings.Split(field, ".")
	cur := m
	for _, k := range keys[:len(keys)-1] {
		next, ok := cur[k].(map[string]any)
		if !ok {
			t.Fatalf("%s: %s is not an object in the example", field, k)
		}
		cur = next
	}
	if remove {
		delete(cur, keys[len(keys)-1])
	} else {
		cur[keys[len(keys)-1]] = value
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestOpenAPISchemaRejectsWhatTheHandlersReject(t *testing.T) {
	spec := oaLoad(t)
	ops := oaOperations(spec)
	tests := []struct {
		name, path, example, field string
		value                      any
		remove                     bool
		want                       string // the field the handler names; default field
	}{
		{"amount_with_three_decimals", oaPathVouchers, "plain_voucher", "amount", "1.234", false, ""},
		{"amount_with_a_sign", oaPathVouchers, "plain_voucher", "amount", "+1.00", false, ""},
		{"out_order_no_with_a_space", oaPathVouchers, "plain_voucher", "out_order_no", "PA 1", false, ""},
		{"out_request_no_too_long", oaPathVouchers, "plain_voucher", "out_request_no", strings.Repeat("R", 65), false, ""},
		{"order_title_missing", oaPathVouchers, "plain_voucher", "order_title", nil, true, ""},
		{"order_title_too_long", oaPathVouchers, "plain_voucher", "order_title", strings.Repeat("t", 101), false, ""},
		{"product_code_lower_case", oaPathVouchers, "plain_voucher", "product_code", "pre_auth", false, ""},
		{"pay_timeout_with_decimals", oaPathVouchers, "plain_voucher", "pay_timeout", "1.5h", false, ""},
		{"payee_user_id_not_2088", oaPathVouchers, "voucher_with_extra_param", "payee_user_id", "2089102146225135", false, ""},
		{"extra_param_an_array", oaPathVouchers, "voucher_with_extra_param", "extra_param", []any{"a"}, false, ""},
		{"unknown_field", oaPathVouchers, "plain_voucher", "amount_fen", "100", false, ""},
		{"out_trade_no_with_a_dash", oaPathAppPay, "basic_app_pay", "out_trade_no", "AP-1", false, ""},
		{"total_amount_missing", oaPathAppPay, "basic_app_pay", "total_amount", nil, true, ""},
		{"subject_with_an_ampersand", oaPathAppPay, "basic_app_pay", "subject", "a&b", false, ""},
		{"product_code_unknown", oaPathAppPay, "basic_app_pay", "product_code", "FAST_INSTANT_TRADE_PAY", false, ""},
		{"body_too_long", oaPathAppPay, "basic_app_pay", "body", strings.Repeat("b", 129), false, ""},
		{"timeout_express_with_decimals", oaPathAppPay, "basic_app_pay", "timeout_express", "1.5h", false, ""},
		{"time_expire_and_timeout_express", oaPathAppPay, "basic_app_pay", "time_expire", "2035-01-01 00:00:00", false, ""},
		{"time_expire_not_china_time_layout", oaPathAppPay, "pay_and_sign", "time_expire", "2035-01-01T00:00:00", false, ""},
		{"cycle_pay_auth_without_agreement", oaPathAppPay, "pay_and_sign", "agreement_sign_params", nil, true, ""},
		{"agreement_product_code_lower_case", oaPathAppPay, "pay_and_sign", "agreement_sign_params.product_code", "general_withholding", false, ""},
		{"sign_scene_lower_case", oaPathAppPay, "pay_and_sign", "agreement_sign_params.sign_scene", "industry|digital_media", false, ""},
		{"external_agreement_no_with_underscore", oaPathAppPay, "pay_and_sign", "agreement_sign_params.external_agreement_no", "AG_1", false, ""},
		{"sign_notify_url_sent", oaPathAppPay, "pay_and_sign", "agreement_sign_params.sign_notify_url", "https://example.com/n", false, ""},
		{"effect_time_with_unit", oaPathAppPay, "pay_and_sign", "agreement_sign_params.effect_time", "10m", false, ""},
		{"access_params_missing", oaPathAppPay, "pay_and_sign", "agreement_sign_params.access_params", nil, true, "agreement_sign_params.access_params.channel"},
		{"channel_lower_case", oaPathAppPay, "pay_and_sign", "agreement_sign_params.access_params.channel", "alipayapp", false, ""},
		{"period_type_week", oaPathAppPay, "pay_and_sign", "agreement_sign_params.period_rule_params.period_type", "WEEK", false, ""},
		{"period_zero", oaPathAppPay, "pay_and_sign", "agreement_sign_params.period_rule_params.period", 0, false, ""},
		{"period_a_string", oaPathAppPay, "pay_and_sign", "agreement_sign_params.period_rule_params.period", "1", false, ""},
		{"execute_time_not_zero_padded", oaPathAppPay, "pay_and_sign", "agreement_sign_params.period_rule_params.execute_time", "2035-1-5", false, ""},
		{"single_amount_three_decimals", oaPathAppPay, "pay_and_sign", "agreement_sign_params.period_rule_params.single_amount", "1.001", false, ""},
		{"total_payments_negative", oaPathAppPay, "pay_and_sign", "agreement_sign_params.period_rule_params.total_payments", -1, false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name+"_is_rejected_by_both", func(t *testing.T) {
			op := ops[http.MethodPost+" "+tc.path]
			base := oaExamples(t, op)[tc.example]
			if base == nil {
				t.Fatalf("example %s not found", tc.example)
			}
			body := oaMutate(t, base, tc.field, tc.value, tc.remove)
			x, err := oaDecodeJSON(body)
			if err != nil {
				t.Fatal(err)
			}
			if len(oaCheck(spec, get(op, "requestBody", "content", "application/json", "schema"), x, "body", false)) == 0 {
				t.Errorf("the schema accepts %s", body)
			}
			err = oaValidate[tc.path](body)
			fe, ok := alipay.AsFieldError(err)
			if !ok {
				t.Fatalf("handler validation: %v, want a field error for %s", err, tc.field)
			}
			want := cmp.Or(tc.want, tc.field)
			if fe.Field != want {
				t.Errorf("handler validation names %q (%v), want %q", fe.Field, fe, want)
			}
		})
	}
}

func TestOpenAPIRepliesOfTheHandlersConformToTheDocument(t *testing.T) {
	spec := oaLoad(t)
	ops := oaOperations(spec)
	s := oaStart(t)
	const jsonCT = "application/json"

	created := map[string]oaReply{} // example name → create reply
	for _, path := range []string{oaPathVouchers, oaPathAppPay} {
		exs := oaExamples(t, ops[http.MethodPost+" "+path])
		for _, name := range oaSorted(exs) {
			t.Run(name+"_is_created_and_replayed_as_documented", func(t *testing.T) {
				r := s.do(t, http.MethodPost, path, jsonCT, exs[name])
				if r.status != http.StatusOK {
					t.Fatalf("POST %s example %s: %s", path, name, r)
				}
				if r.header.Get("Idempotent-Replayed") != "" {
					t.Error("a first create is marked replayed")
				}
				oaConform(t, spec, http.MethodPost, path, r)
				created[name] = r
				again := s.do(t, http.MethodPost, path, jsonCT, exs[name])
				if again.status != http.StatusOK || again.header.Get("Idempotent-Replayed") != "true" || !bytes.Equal(again.body, r.body) {
					t.Errorf("identical retry: %s (Idempotent-Replayed %q), want the same 200 replayed", again, again.header.Get("Idempotent-Replayed"))
				}
				oaConform(t, spec, http.MethodPost, path, again)
			})
		}
	}
	if len(created) < 4 {
		t.Fatalf("only %d examples were created", len(created))
	}

	// getOrders reads every created order and returns them by example name.
	getOrders := func(t *testing.T) map[string]map[string]any {
		t.Helper()
		out := map[string]map[string]any{}
		for _, name := range oaSorted(created) {
			var c struct {
				OutOrderNo string `json:"out_order_no"`
				OutTradeNo string `json:"out_trade_no"`
			}
			if err := json.Unmarshal(created[name].body, &c); err != nil {
				t.Fatal(err)
			}
			path, u := oaPathPreAuth, "/v1/preauth/orders/"+c.OutOrderNo
			if c.OutTradeNo != "" {
				path, u = oaPathAppOrder, "/v1/app-pay/orders/"+c.OutTradeNo
			}
			r := s.do(t, http.MethodGet, u, "", nil)
			if r.status != http.StatusOK {
				t.Fatalf("GET %s: %s", u, r)
			}
			v, _ := oaConform(t, spec, http.MethodGet, path, r).(map[string]any)
			out[name] = v
		}
		return out
	}
	t.Run("orders_read_back_as_documented", func(t *testing.T) {
		for name, o := range getOrders(t) {
			if o["status"] != string(orders.PreAuthCodeIssued) && o["status"] != string(orders.TradeCreated) {
				t.Errorf("%s: status %v right after the create", name, o["status"])
			}
		}
	})

	t.Run("buyer_pays_and_notifications_reply_as_documented", func(t *testing.T) {
		for _, name := range oaSorted(created) {
			var c struct {
				OutOrderNo string `json:"out_order_no"`
				OrderStr   string `json:"order_str"`
			}
			if err := json.Unmarshal(created[name].body, &c); err != nil {
				t.Fatal(err)
			}
			path, body := "/sandbox/vouchers/scan", map[string]string{"out_order_no": c.OutOrderNo}
			if c.OrderStr != "" {
				path, body = "/sandbox/orders/pay", map[string]string{"order_str": c.OrderStr}
			}
			b, _ := json.Marshal(body)
			if r := s.do(t, http.MethodPost, path, jsonCT, b); r.status != http.StatusOK {
				t.Fatalf("sandbox %s for %s: %s", path, name, r)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.sim.WaitIdle(ctx); err != nil {
			t.Fatal(err)
		}
		s.mu.Lock()
		notified := slices.Clone(s.notified)
		s.mu.Unlock()
		// One notice per voucher and payment, plus the agreement of pay_and_sign.
		if len(notified) < len(created)+1 {
			t.Fatalf("%d notifications reached the notify route, want at least %d", len(notified), len(created)+1)
		}
		for _, n := range notified {
			if n.reply.status != http.StatusOK || string(n.reply.body) != alipay.NotifySuccessReply {
				t.Errorf("notification answered %s", n.reply)
			}
			oaConform(t, spec, http.MethodPost, httpapi.NotifyPath, n.reply)
		}
		t.Logf("%d notifications answered", len(notified))
		for name, o := range getOrders(t) {
			switch o["status"] {
			case string(orders.PreAuthAuthorized):
				if ops, _ := o["operations"].([]any); len(ops) == 0 || o["auth_no"] == "" {
					t.Errorf("%s: authorized without operations or auth_no: %v", name, o)
				}
			case string(orders.TradeSuccess):
				if o["trade_no"] == nil || o["paid_at"] == nil {
					t.Errorf("%s: paid without trade_no or paid_at: %v", name, o)
				}
			default:
				t.Errorf("%s: status %v after the buyer paid", name, o["status"])
			}
			if name == "pay_and_sign" && get(o, "agreement", "agreement_no") == nil {
				t.Errorf("pay_and_sign: agreement not signed: %v", o["agreement"])
			}
		}
	})

	s.mu.Lock()
	var signed oaNotified
	if len(s.notified) > 0 {
		signed = s.notified[0]
	}
	s.mu.Unlock()
	if signed.body == nil {
		t.Fatal("no notification was recorded")
	}
	vouchers := oaExamples(t, ops[http.MethodPost+" "+oaPathVouchers])
	apps := oaExamples(t, ops[http.MethodPost+" "+oaPathAppPay])
	plain := vouchers["plain_voucher"]
	basic := apps["basic_app_pay"]
	var plainReq struct {
		OutOrderNo string `json:"out_order_no"`
	}
	_ = json.Unmarshal(plain, &plainReq)
	tampered := bytes.Replace(signed.body, []byte("notify_id="), []byte("notify_id=X"), 1)
	refused := oaMutate(t, oaMutate(t, plain, "order_title", "SIM_BIZ_PAYEE_NOT_EXIST", false), "out_order_no", "PAREFUSED1", false)
	huge := []byte(`{"order_title":"` + strings.Repeat("a", httpapi.MaxBodyBytes) + `"}`)

	errorCases := []struct {
		name, method, path, url, ct string
		body                        []byte
		status                      int
		code                        string // error.code, or the text reply
		replayed                    bool
	}{
		{"voucher_invalid_field_is_400", "POST", oaPathVouchers, oaPathVouchers, jsonCT, oaMutate(t, plain, "amount", "1.234", false), 400, httpapi.CodeIllegalArgument, false},
		{"voucher_not_json_is_415", "POST", oaPathVouchers, oaPathVouchers, "text/plain", plain, 415, httpapi.CodeUnsupportedMediaType, false},
		{"voucher_body_over_64_kib_is_413", "POST", oaPathVouchers, oaPathVouchers, jsonCT, huge, 413, httpapi.CodeBodyTooLarge, false},
		{"voucher_key_with_other_params_is_409", "POST", oaPathVouchers, oaPathVouchers, jsonCT, oaMutate(t, plain, "amount", "501.00", false), 409, httpapi.CodeIdempotencyConflict, false},
		{"voucher_on_authorized_order_is_409", "POST", oaPathVouchers, oaPathVouchers, jsonCT, oaMutate(t, plain, "out_request_no", "PAR2", false), 409, httpapi.CodeOrderAlreadyAuthorized, false},
		{"voucher_refused_by_alipay_is_502", "POST", oaPathVouchers, oaPathVouchers, jsonCT, refused, 502, httpapi.CodeAlipayBusinessError, false},
		{"voucher_refusal_retried_is_502_replayed", "POST", oaPathVouchers, oaPathVouchers, jsonCT, refused, 502, httpapi.CodeAlipayBusinessError, true},
		{"voucher_unknown_outcome_is_503", "POST", oaPathVouchers, oaPathVouchers, jsonCT,
			oaMutate(t, oaMutate(t, plain, "order_title", "SIM_20000", false), "out_order_no", "PAUNKNOWN1", false), 503, httpapi.CodeAlipayUnavailable, false},
		{"voucher_put_is_405", "PUT", oaPathVouchers, oaPathVouchers, jsonCT, plain, 405, httpapi.CodeMethodNotAllowed, false},
		{"preauth_order_unknown_is_404", "GET", oaPathPreAuth, "/v1/preauth/orders/PANOSUCH", "", nil, 404, httpapi.CodeNotFound, false},
		{"preauth_order_bad_id_is_400", "GET", oaPathPreAuth, "/v1/preauth/orders/bad.id", "", nil, 400, httpapi.CodeIllegalArgument, false},
		{"preauth_order_delete_is_405", "DELETE", oaPathPreAuth, "/v1/preauth/orders/" + plainReq.OutOrderNo, "", nil, 405, httpapi.CodeMethodNotAllowed, false},
		{"app_pay_invalid_field_is_400", "POST", oaPathAppPay, oaPathAppPay, jsonCT, oaMutate(t, basic, "subject", "a=b", false), 400, httpapi.CodeIllegalArgument, false},
		{"app_pay_not_json_is_415", "POST", oaPathAppPay, oaPathAppPay, "application/x-www-form-urlencoded", basic, 415, httpapi.CodeUnsupportedMediaType, false},
		{"app_pay_body_over_64_kib_is_413", "POST", oaPathAppPay, oaPathAppPay, jsonCT, huge, 413, httpapi.CodeBodyTooLarge, false},
		{"app_pay_key_with_other_params_is_409", "POST", oaPathAppPay, oaPathAppPay, jsonCT, oaMutate(t, basic, "total_amount", "1.00", false), 409, httpapi.CodeIdempotencyConflict, false},
		{"app_pay_order_unknown_is_404", "GET", oaPathAppOrder, "/v1/app-pay/orders/APNOSUCH", "", nil, 404, httpapi.CodeNotFound, false},
		{"app_pay_order_bad_id_is_400", "GET", oaPathAppOrder, "/v1/app-pay/orders/bad-id", "", nil, 400, httpapi.CodeIllegalArgument, false},
		{"notify_redelivery_is_200_success", "POST", httpapi.NotifyPath, httpapi.NotifyPath, signed.ct, signed.body, 200, alipay.NotifySuccessReply, false},
		{"notify_tampered_is_400_fail", "POST", httpapi.NotifyPath, httpapi.NotifyPath, signed.ct, tampered, 400, alipay.NotifyFailReply, false},
		{"notify_malformed_is_400_fail", "POST", httpapi.NotifyPath, httpapi.NotifyPath, "application/x-www-form-urlencoded", []byte("a=%zz"), 400, alipay.NotifyFailReply, false},
		{"notify_not_a_form_is_415_fail", "POST", httpapi.NotifyPath, httpapi.NotifyPath, jsonCT, []byte("{}"), 415, alipay.NotifyFailReply, false},
		{"notify_over_64_kib_is_413_fail", "POST", httpapi.NotifyPath, httpapi.NotifyPath, "application/x-www-form-urlencoded", bytes.Repeat([]byte("a"), httpapi.MaxBodyBytes+1), 413, alipay.NotifyFailReply, false},
		{"notify_get_is_405", "GET", httpapi.NotifyPath, httpapi.NotifyPath, "", nil, 405, httpapi.CodeMethodNotAllowed, false},
	}
	for _, tc := range errorCases {
		t.Run(tc.name, func(t *testing.T) {
			r := s.do(t, tc.method, tc.url, tc.ct, tc.body)
			oaCheckCase(t, spec, ops, tc.method, tc.path, r, tc.status, tc.code, tc.replayed)
		})
	}

	// After the payment: refunds, sync and close, every reply the contract lists.
	var basicReq struct {
		OutTradeNo string `json:"out_trade_no"`
	}
	_ = json.Unmarshal(basic, &basicReq)
	paid := "/v1/app-pay/orders/" + basicReq.OutTradeNo
	refundEx := oaExamples(t, ops[http.MethodPost+" "+oaPathRefunds])["partial_refund"]
	refund := func(no, amount, reason string) []byte {
		b := oaMutate(t, oaMutate(t, refundEx, "out_request_no", no, false), "refund_amount", amount, false)
		return oaMutate(t, b, "refund_reason", reason, reason == "")
	}
	unpaid := oaMutate(t, basic, "out_trade_no", "APUNPAID1", false)
	if r := s.do(t, http.MethodPost, oaPathAppPay, jsonCT, unpaid); r.status != http.StatusOK {
		t.Fatalf("unpaid order: %s", r)
	}
	lifecycleCases := []struct {
		name, method, path, url, ct string
		body                        []byte
		status                      int
		code                        string
		replayed                    bool
	}{
		{"refund_is_200", "POST", oaPathRefunds, paid + "/refunds", jsonCT, refundEx, 200, "", false},
		{"refund_retried_is_200_replayed", "POST", oaPathRefunds, paid + "/refunds", jsonCT, refundEx, 200, "", true},
		{"refund_unconfirmed_is_202", "POST", oaPathRefunds, paid + "/refunds", jsonCT, refund("R2", "1.00", "SIM_FUND_CHANGE_N"), 202, "", false},
		{"refund_invalid_field_is_400", "POST", oaPathRefunds, paid + "/refunds", jsonCT, refund("R3", "1.234", ""), 400, httpapi.CodeIllegalArgument, false},
		{"refund_not_json_is_415", "POST", oaPathRefunds, paid + "/refunds", "text/plain", refundEx, 415, httpapi.CodeUnsupportedMediaType, false},
		{"refund_body_over_64_kib_is_413", "POST", oaPathRefunds, paid + "/refunds", jsonCT, huge, 413, httpapi.CodeBodyTooLarge, false},
		{"refund_key_with_other_params_is_409", "POST", oaPathRefunds, paid + "/refunds", jsonCT,
			oaMutate(t, refundEx, "refund_amount", "3.00", false), 409, httpapi.CodeIdempotencyConflict, false},
		{"refund_over_the_paid_amount_is_409", "POST", oaPathRefunds, paid + "/refunds", jsonCT, refund("R4", "100.00", ""), 409, httpapi.CodeAmountExceedsAvailable, false},
		{"refund_refused_by_alipay_is_502", "POST", oaPathRefunds, paid + "/refunds", jsonCT,
			refund("R5", "1.00", "SIM_BIZ_ACQ.SELLER_BALANCE_NOT_ENOUGH"), 502, httpapi.CodeAlipayBusinessError, false},
		{"refund_refusal_retried_is_502_replayed", "POST", oaPathRefunds, paid + "/refunds", jsonCT,
			refund("R5", "1.00", "SIM_BIZ_ACQ.SELLER_BALANCE_NOT_ENOUGH"), 502, httpapi.CodeAlipayBusinessError, true},
		{"refund_of_unpaid_order_is_409", "POST", oaPathRefunds, "/v1/app-pay/orders/APUNPAID1/refunds", jsonCT, refundEx, 409, httpapi.CodeOrderNotPaid, false},
		{"refund_unknown_order_is_404", "POST", oaPathRefunds, "/v1/app-pay/orders/APNOSUCH/refunds", jsonCT, refundEx, 404, httpapi.CodeNotFound, false},
		{"refund_bad_id_is_400", "POST", oaPathRefunds, "/v1/app-pay/orders/bad-id/refunds", jsonCT, refundEx, 400, httpapi.CodeIllegalArgument, false},
		{"refund_get_is_405", "GET", oaPathRefunds, paid + "/refunds", "", nil, 405, httpapi.CodeMethodNotAllowed, false},
		{"sync_is_200", "POST", oaPathAppPaySync, paid + "/sync", "", nil, 200, "", false},
		{"sync_unpaid_is_200", "POST", oaPathAppPaySync, "/v1/app-pay/orders/APUNPAID1/sync", jsonCT, []byte("{}"), 200, "", false},
		{"sync_with_a_field_is_400", "POST", oaPathAppPaySync, paid + "/sync", jsonCT, []byte(`{"force":true}`), 400, httpapi.CodeIllegalArgument, false},
		{"sync_not_json_is_415", "POST", oaPathAppPaySync, paid + "/sync", "text/plain", []byte("x"), 415, httpapi.CodeUnsupportedMediaType, false},
		{"sync_body_over_64_kib_is_413", "POST", oaPathAppPaySync, paid + "/sync", jsonCT, huge, 413, httpapi.CodeBodyTooLarge, false},
		{"sync_unknown_order_is_404", "POST", oaPathAppPaySync, "/v1/app-pay/orders/APNOSUCH/sync", "", nil, 404, httpapi.CodeNotFound, false},
		{"sync_get_is_405", "GET", oaPathAppPaySync, paid + "/sync", "", nil, 405, httpapi.CodeMethodNotAllowed, false},
		{"close_paid_order_is_409", "POST", oaPathClose, paid + "/close", "", nil, 409, httpapi.CodeOrderAlreadyPaid, false},
		{"close_unpaid_is_200", "POST", oaPathClose, "/v1/app-pay/orders/APUNPAID1/close", jsonCT, []byte("{}"), 200, "", false},
		{"close_with_a_field_is_400", "POST", oaPathClose, paid + "/close", jsonCT, []byte(`{"reason":"x"}`), 400, httpapi.CodeIllegalArgument, false},
		{"close_not_json_is_415", "POST", oaPathClose, paid + "/close", "text/plain", []byte("x"), 415, httpapi.CodeUnsupportedMediaType, false},
		{"close_body_over_64_kib_is_413", "POST", oaPathClose, paid + "/close", jsonCT, huge, 413, httpapi.CodeBodyTooLarge, false},
		{"close_unknown_order_is_404", "POST", oaPathClose, "/v1/app-pay/orders/APNOSUCH/close", "", nil, 404, httpapi.CodeNotFound, false},
		{"close_get_is_405", "GET", oaPathClose, paid + "/close", "", nil, 405, httpapi.CodeMethodNotAllowed, false},
	}
	for _, tc := range lifecycleCases {
		t.Run(tc.name, func(t *testing.T) {
			r := s.do(t, tc.method, tc.url, tc.ct, tc.body)
			oaCheckCase(t, spec, ops, tc.method, tc.path, r, tc.status, tc.code, tc.replayed)
			if tc.status == http.StatusAccepted && r.header.Get("Retry-After") == "" {
				t.Error("202 without Retry-After")
			}
		})
	}
	// A reply lost after the refund moved money is 503. Its refund notice is held (answered
	// fail) meanwhile: arriving first it would rightly settle the refund, and this row would
	// depend on timing.
	t.Run("refund_unknown_outcome_is_503", func(t *testing.T) {
		s.holdNotices.Store(true)
		defer s.holdNotices.Store(false)
		r := s.do(t, http.MethodPost, paid+"/refunds", jsonCT, refund("R6", "1.00", "SIM_HTTP500"))
		oaCheckCase(t, spec, ops, http.MethodPost, oaPathRefunds, r, http.StatusServiceUnavailable, httpapi.CodeAlipayUnavailable, false)
	})

	// Settle: every example on the authorized orders, replayed, then every error row.
	settleExamples := []struct{ path, example, order string }{
		{oaPathCapture, "capture", "PA20261122000001"},
		{oaPathCapture, "capture_complete", "PA20261122000003"},
		{oaPathUnfreeze, "unfreeze", "PA20261122000001"},
		{oaPathCancel, "cancel", "PA20261122000002"},
		{oaPathPreAuthSync, "empty", "PA20261122000001"},
	}
	settleURL := func(path, order string) string { return strings.Replace(path, "{out_order_no}", order, 1) }
	for _, ex := range settleExamples {
		t.Run(ex.example+"_example_replies_as_documented", func(t *testing.T) {
			body := oaExamples(t, ops[http.MethodPost+" "+ex.path])[ex.example]
			r := s.do(t, http.MethodPost, settleURL(ex.path, ex.order), jsonCT, body)
			if r.status != http.StatusOK {
				t.Fatalf("POST %s example %s: %s", ex.path, ex.example, r)
			}
			oaConform(t, spec, http.MethodPost, ex.path, r)
			if ex.path == oaPathPreAuthSync {
				return
			}
			again := s.do(t, http.MethodPost, settleURL(ex.path, ex.order), jsonCT, body)
			if again.status != http.StatusOK || again.header.Get("Idempotent-Replayed") != "true" {
				t.Errorf("identical retry: %s, want 200 replayed", again)
			}
			oaConform(t, spec, http.MethodPost, ex.path, again)
		})
	}
	capture := oaExamples(t, ops[http.MethodPost+" "+oaPathCapture])["capture"]
	unfreeze := oaExamples(t, ops[http.MethodPost+" "+oaPathUnfreeze])["unfreeze"]
	cancel := oaExamples(t, ops[http.MethodPost+" "+oaPathCancel])["cancel"]
	newCapture := func(no string, kv ...any) []byte {
		b := oaMutate(t, capture, "out_trade_no", no, false)
		for i := 0; i+1 < len(kv); i += 2 {
			b = oaMutate(t, b, kv[i].(string), kv[i+1], false)
		}
		return b
	}
	captureRefused := newCapture("PA1REFUSED", "subject", "SIM_BIZ_ACQ.PAYER_UNMATCHED")
	o1, o3 := settleURL(oaPathCapture, "PA20261122000001"), "PA20261122000003"
	settleCases := []struct {
		name, method, path, url, ct string
		body                        []byte
		status                      int
		code                        string
		replayed                    bool
	}{
		{"capture_invalid_field_is_400", "POST", oaPathCapture, o1, jsonCT, newCapture("PA1C9", "amount", "1.234"), 400, httpapi.CodeIllegalArgument, false},
		{"capture_not_json_is_415", "POST", oaPathCapture, o1, "text/plain", capture, 415, httpapi.CodeUnsupportedMediaType, false},
		{"capture_body_over_64_kib_is_413", "POST", oaPathCapture, o1, jsonCT, huge, 413, httpapi.CodeBodyTooLarge, false},
		{"capture_unknown_order_is_404", "POST", oaPathCapture, settleURL(oaPathCapture, "PANOSUCH"), jsonCT, capture, 404, httpapi.CodeNotFound, false},
		{"capture_bad_order_id_is_400", "POST", oaPathCapture, settleURL(oaPathCapture, "bad.id"), jsonCT, capture, 400, httpapi.CodeIllegalArgument, false},
		{"capture_get_is_405", "GET", oaPathCapture, o1, "", nil, 405, httpapi.CodeMethodNotAllowed, false},
		{"capture_key_with_other_params_is_409", "POST", oaPathCapture, o1, jsonCT, newCapture("PA20261122000001C1", "amount", "1.00"), 409, httpapi.CodeIdempotencyConflict, false},
		{"capture_over_the_frozen_rest_is_409", "POST", oaPathCapture, o1, jsonCT, newCapture("PA1C2", "amount", "999.00"), 409, httpapi.CodeAmountExceedsAvailable, false},
		{"capture_of_an_unauthorized_order_is_409", "POST", oaPathCapture, settleURL(oaPathCapture, "PAUNKNOWN1"), jsonCT, newCapture("PA1C3"), 409, httpapi.CodeOrderNotAuthorized, false},
		{"capture_refused_by_alipay_is_502", "POST", oaPathCapture, o1, jsonCT, captureRefused, 502, httpapi.CodeAlipayBusinessError, false},
		{"capture_refusal_retried_is_502_replayed", "POST", oaPathCapture, o1, jsonCT, captureRefused, 502, httpapi.CodeAlipayBusinessError, true},
		{"capture_unknown_outcome_is_503", "POST", oaPathCapture, o1, jsonCT, newCapture("PA1C4", "subject", "SIM_20000"), 503, httpapi.CodeAlipayUnavailable, false},
		{"unfreeze_without_remark_is_400", "POST", oaPathUnfreeze, settleURL(oaPathUnfreeze, "PA20261122000001"), jsonCT, oaMutate(t, unfreeze, "remark", nil, true), 400, httpapi.CodeIllegalArgument, false},
		{"unfreeze_with_a_voucher_request_no_is_409", "POST", oaPathUnfreeze, settleURL(oaPathUnfreeze, "PA20261122000001"), jsonCT,
			oaMutate(t, unfreeze, "out_request_no", "PA20261122000001R1", false), 409, httpapi.CodeIdempotencyConflict, false},
		{"unfreeze_over_the_frozen_rest_is_409", "POST", oaPathUnfreeze, settleURL(oaPathUnfreeze, "PA20261122000001"), jsonCT,
			oaMutate(t, oaMutate(t, unfreeze, "out_request_no", "PA1U9", false), "amount", "999.00", false), 409, httpapi.CodeAmountExceedsAvailable, false},
		{"cancel_of_no_voucher_request_is_400", "POST", oaPathCancel, settleURL(oaPathCancel, "PA20261122000001"), jsonCT,
			oaMutate(t, cancel, "out_request_no", "PANOREQUEST", false), 400, httpapi.CodeIllegalArgument, false},
		{"cancel_of_a_finished_order_is_409", "POST", oaPathCancel, settleURL(oaPathCancel, o3), jsonCT,
			oaMutate(t, cancel, "out_request_no", o3+"R1", false), 409, httpapi.CodeOrderNotAuthorized, false},
		{"sync_unknown_order_is_404", "POST", oaPathPreAuthSync, settleURL(oaPathPreAuthSync, "PANOSUCH"), jsonCT, []byte(`{}`), 404, httpapi.CodeNotFound, false},
		{"sync_with_a_field_is_400", "POST", oaPathPreAuthSync, settleURL(oaPathPreAuthSync, "PA20261122000001"), jsonCT, []byte(`{"x":1}`), 400, httpapi.CodeIllegalArgument, false},
		{"sync_get_is_405", "GET", oaPathPreAuthSync, settleURL(oaPathPreAuthSync, "PA20261122000001"), "", nil, 405, httpapi.CodeMethodNotAllowed, false},
	}
	for _, tc := range settleCases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.status == http.StatusServiceUnavailable {
				// A lost reply after the money moved: its notice, arriving first, would
				// rightly settle the operation (200), so it is held for this row.
				s.holdNotices.Store(true)
				defer s.holdNotices.Store(false)
			}
			r := s.do(t, tc.method, tc.url, tc.ct, tc.body)
			oaCheckCase(t, spec, ops, tc.method, tc.path, r, tc.status, tc.code, tc.replayed)
		})
	}

	// Agreements: the pay_and_sign example's (signed above, plan from its execute_time),
	// two signed with today as the plan date (chargeable now) and one never paid.
	payAndSign := apps["pay_and_sign"]
	today := time.Now().In(alipay.ChinaTime).Format("2006-01-02")
	signToday := func(no string, pay bool) string {
		ext := "AGT" + no
		b := oaMutate(t, payAndSign, "out_trade_no", "APT"+no, false)
		b = oaMutate(t, b, "agreement_sign_params.external_agreement_no", ext, false)
		b = oaMutate(t, b, "agreement_sign_params.period_rule_params.execute_time", today, false)
		r := s.do(t, http.MethodPost, oaPathAppPay, jsonCT, b)
		if r.status != http.StatusOK {
			t.Fatalf("pay-and-sign %s: %s", no, r)
		}
		if pay {
			var c struct {
				OrderStr string `json:"order_str"`
			}
			_ = json.Unmarshal(r.body, &c)
			pb, _ := json.Marshal(map[string]string{"order_str": c.OrderStr})
			if r := s.do(t, http.MethodPost, "/sandbox/orders/pay", jsonCT, pb); r.status != http.StatusOK {
				t.Fatalf("pay %s: %s", no, r)
			}
		}
		return ext
	}
	chargeable, chargeable2, unpaidAg := signToday("1", true), signToday("2", true), signToday("3", false)
	waitCtx, stopWait := context.WithTimeout(context.Background(), 10*time.Second)
	defer stopWait()
	if err := s.sim.WaitIdle(waitCtx); err != nil {
		t.Fatal(err)
	}
	var exampleAg struct {
		AgreementSignParams struct {
			ExternalAgreementNo string `json:"external_agreement_no"`
		} `json:"agreement_sign_params"`
	}
	_ = json.Unmarshal(payAndSign, &exampleAg)
	agURL := func(path, ext string) string { return strings.Replace(path, "{external_agreement_no}", ext, 1) }
	chargeEx := oaExamples(t, ops[http.MethodPost+" "+oaPathCharges])["monthly_charge"]
	newCharge := func(no string, kv ...any) []byte {
		b := oaMutate(t, chargeEx, "out_trade_no", no, false)
		for i := 0; i+1 < len(kv); i += 2 {
			b = oaMutate(t, b, kv[i].(string), kv[i+1], false)
		}
		return b
	}
	exAg := exampleAg.AgreementSignParams.ExternalAgreementNo
	c1 := agURL(oaPathCharges, chargeable)
	agreementCases := []struct {
		name, method, path, url, ct string
		body                        []byte
		status                      int
		code                        string
		replayed                    bool
	}{
		{"agreement_is_200", "GET", oaPathAgreement, agURL(oaPathAgreement, exAg), "", nil, 200, "", false},
		{"agreement_unknown_is_404", "GET", oaPathAgreement, agURL(oaPathAgreement, "AGNOSUCH"), "", nil, 404, httpapi.CodeNotFound, false},
		{"agreement_bad_id_is_400", "GET", oaPathAgreement, agURL(oaPathAgreement, "bad-id"), "", nil, 400, httpapi.CodeIllegalArgument, false},
		{"agreement_delete_is_405", "DELETE", oaPathAgreement, agURL(oaPathAgreement, exAg), "", nil, 405, httpapi.CodeMethodNotAllowed, false},
		{"agreement_sync_is_200", "POST", oaPathAgreeSync, agURL(oaPathAgreeSync, exAg), jsonCT, []byte("{}"), 200, "", false},
		{"agreement_sync_with_a_field_is_400", "POST", oaPathAgreeSync, agURL(oaPathAgreeSync, exAg), jsonCT, []byte(`{"x":1}`), 400, httpapi.CodeIllegalArgument, false},
		{"agreement_sync_not_json_is_415", "POST", oaPathAgreeSync, agURL(oaPathAgreeSync, exAg), "text/plain", []byte("x"), 415, httpapi.CodeUnsupportedMediaType, false},
		{"agreement_sync_body_over_64_kib_is_413", "POST", oaPathAgreeSync, agURL(oaPathAgreeSync, exAg), jsonCT, huge, 413, httpapi.CodeBodyTooLarge, false},
		{"agreement_sync_unknown_is_404", "POST", oaPathAgreeSync, agURL(oaPathAgreeSync, "AGNOSUCH"), "", nil, 404, httpapi.CodeNotFound, false},
		{"agreement_sync_get_is_405", "GET", oaPathAgreeSync, agURL(oaPathAgreeSync, exAg), "", nil, 405, httpapi.CodeMethodNotAllowed, false},
		{"charge_is_200", "POST", oaPathCharges, c1, jsonCT, chargeEx, 200, "", false},
		{"charge_retried_is_200_replayed", "POST", oaPathCharges, c1, jsonCT, chargeEx, 200, "", true},
		{"charge_again_in_the_period_is_409", "POST", oaPathCharges, c1, jsonCT, newCharge("AGC2"), 409, httpapi.CodeOutsideChargeWindow, false},
		{"charge_key_with_other_params_is_409", "POST", oaPathCharges, c1, jsonCT, oaMutate(t, chargeEx, "amount", "1.00", false), 409, httpapi.CodeIdempotencyConflict, false},
		{"charge_outside_the_window_is_409", "POST", oaPathCharges, agURL(oaPathCharges, exAg), jsonCT, newCharge("AGC3"), 409, httpapi.CodeOutsideChargeWindow, false},
		{"charge_over_single_amount_is_409", "POST", oaPathCharges, agURL(oaPathCharges, chargeable2), jsonCT, newCharge("AGC4", "amount", "100000.00"), 409, httpapi.CodeChargeLimitExceeded, false},
		{"charge_refused_by_alipay_is_502", "POST", oaPathCharges, agURL(oaPathCharges, chargeable2), jsonCT,
			newCharge("AGC5", "subject", "SIM_BIZ_ACQ.BUYER_BALANCE_NOT_ENOUGH"), 502, httpapi.CodeAlipayBusinessError, false},
		{"charge_refusal_retried_is_502_replayed", "POST", oaPathCharges, agURL(oaPathCharges, chargeable2), jsonCT,
			newCharge("AGC5", "subject", "SIM_BIZ_ACQ.BUYER_BALANCE_NOT_ENOUGH"), 502, httpapi.CodeAlipayBusinessError, true},
		{"charge_unknown_outcome_is_503", "POST", oaPathCharges, agURL(oaPathCharges, chargeable2), jsonCT, newCharge("AGC6", "subject", "SIM_20000"), 503, httpapi.CodeAlipayUnavailable, false},
		{"charge_invalid_field_is_400", "POST", oaPathCharges, c1, jsonCT, newCharge("AGC7", "amount", "1.234"), 400, httpapi.CodeIllegalArgument, false},
		{"charge_not_json_is_415", "POST", oaPathCharges, c1, "text/plain", chargeEx, 415, httpapi.CodeUnsupportedMediaType, false},
		{"charge_body_over_64_kib_is_413", "POST", oaPathCharges, c1, jsonCT, huge, 413, httpapi.CodeBodyTooLarge, false},
		{"charge_unknown_agreement_is_404", "POST", oaPathCharges, agURL(oaPathCharges, "AGNOSUCH"), jsonCT, newCharge("AGC8"), 404, httpapi.CodeNotFound, false},
		{"charge_bad_id_is_400", "POST", oaPathCharges, agURL(oaPathCharges, "bad-id"), jsonCT, newCharge("AGC8"), 400, httpapi.CodeIllegalArgument, false},
		{"charge_get_is_405", "GET", oaPathCharges, c1, "", nil, 405, httpapi.CodeMethodNotAllowed, false},
		{"unsign_unsigned_is_409", "POST", oaPathUnsign, agURL(oaPathUnsign, unpaidAg), "", nil, 409, httpapi.CodeAgreementNotActive, false},
		{"unsign_is_200", "POST", oaPathUnsign, agURL(oaPathUnsign, exAg), jsonCT, []byte("{}"), 200, "", false},
		{"unsign_again_is_200", "POST", oaPathUnsign, agURL(oaPathUnsign, exAg), "", nil, 200, "", false},
		{"charge_after_unsign_is_409", "POST", oaPathCharges, agURL(oaPathCharges, exAg), jsonCT, newCharge("AGC9"), 409, httpapi.CodeAgreementNotActive, false},
		{"unsign_with_a_field_is_400", "POST", oaPathUnsign, agURL(oaPathUnsign, exAg), jsonCT, []byte(`{"x":1}`), 400, httpapi.CodeIllegalArgument, false},
		{"unsign_not_json_is_415", "POST", oaPathUnsign, agURL(oaPathUnsign, exAg), "text/plain", []byte("x"), 415, httpapi.CodeUnsupportedMediaType, false},
		{"unsign_body_over_64_kib_is_413", "POST", oaPathUnsign, agURL(oaPathUnsign, exAg), jsonCT, huge, 413, httpapi.CodeBodyTooLarge, false},
		{"unsign_unknown_is_404", "POST", oaPathUnsign, agURL(oaPathUnsign, "AGNOSUCH"), "", nil, 404, httpapi.CodeNotFound, false},
		{"unsign_get_is_405", "GET", oaPathUnsign, agURL(oaPathUnsign, exAg), "", nil, 405, httpapi.CodeMethodNotAllowed, false},
	}
	for _, tc := range agreementCases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.status == http.StatusServiceUnavailable {
				// A lost reply after the money moved: its notice, arriving first, would
				// rightly settle the operation (200), so it is held for this row.
				s.holdNotices.Store(true)
				defer s.holdNotices.Store(false)
			}
			r := s.do(t, tc.method, tc.url, tc.ct, tc.body)
			oaCheckCase(t, spec, ops, tc.method, tc.path, r, tc.status, tc.code, tc.replayed)
		})
	}

	// Callers the router refuses, and credentials that cannot be loaded.
	store := orders.NewMemoryStore()
	good := credentials.Static{Creds: s.creds}
	nobody := oaRouter(t, func(*http.Request) (httpapi.Caller, bool) { return httpapi.Caller{}, false }, store, good, nil)
	unscoped := oaRouter(t, func(*http.Request) (httpapi.Caller, bool) { return httpapi.Caller{ID: "app-user"}, true }, store, good, nil)
	noCreds := oaRouter(t, httpapi.LocalCaller, store, credentials.Static{Err: errors.New("secret unavailable")}, nil)
	routerCases := []struct {
		name   string
		h      http.Handler
		method string
		path   string
		url    string
		ct     string
		body   []byte
		status int
		code   string
	}{
		{"voucher_without_caller_is_401", nobody, "POST", oaPathVouchers, oaPathVouchers, jsonCT, plain, 401, httpapi.CodeUnauthorized},
		{"preauth_order_without_caller_is_401", nobody, "GET", oaPathPreAuth, "/v1/preauth/orders/PA1", "", nil, 401, httpapi.CodeUnauthorized},
		{"app_pay_without_caller_is_401", nobody, "POST", oaPathAppPay, oaPathAppPay, jsonCT, basic, 401, httpapi.CodeUnauthorized},
		{"app_pay_order_without_caller_is_401", nobody, "GET", oaPathAppOrder, "/v1/app-pay/orders/AP1", "", nil, 401, httpapi.CodeUnauthorized},
		{"voucher_without_scope_is_403", unscoped, "POST", oaPathVouchers, oaPathVouchers, jsonCT, plain, 403, httpapi.CodeForbidden},
		{"preauth_order_without_scope_is_403", unscoped, "GET", oaPathPreAuth, "/v1/preauth/orders/PA1", "", nil, 403, httpapi.CodeForbidden},
		{"app_pay_without_scope_is_served", unscoped, "POST", oaPathAppPay, oaPathAppPay, jsonCT, basic, 200, ""},
		{"capture_without_caller_is_401", nobody, "POST", oaPathCapture, "/v1/preauth/orders/PA1/captures", jsonCT, capture, 401, httpapi.CodeUnauthorized},
		{"capture_without_scope_is_403", unscoped, "POST", oaPathCapture, "/v1/preauth/orders/PA1/captures", jsonCT, capture, 403, httpapi.CodeForbidden},
		{"unfreeze_without_scope_is_403", unscoped, "POST", oaPathUnfreeze, "/v1/preauth/orders/PA1/unfreezes", jsonCT, unfreeze, 403, httpapi.CodeForbidden},
		{"cancel_without_scope_is_403", unscoped, "POST", oaPathCancel, "/v1/preauth/orders/PA1/cancel", jsonCT, cancel, 403, httpapi.CodeForbidden},
		{"sync_without_scope_is_403", unscoped, "POST", oaPathPreAuthSync, "/v1/preauth/orders/PA1/sync", jsonCT, []byte(`{}`), 403, httpapi.CodeForbidden},
		{"voucher_without_credentials_is_503", noCreds, "POST", oaPathVouchers, oaPathVouchers, jsonCT, plain, 503, httpapi.CodeDependencyUnavailable},
		{"app_pay_without_credentials_is_503", noCreds, "POST", oaPathAppPay, oaPathAppPay, jsonCT, apps["pay_and_sign"], 503, httpapi.CodeDependencyUnavailable},
		{"refund_without_caller_is_401", nobody, "POST", oaPathRefunds, "/v1/app-pay/orders/AP1/refunds", jsonCT, []byte("{}"), 401, httpapi.CodeUnauthorized},
		{"sync_without_caller_is_401", nobody, "POST", oaPathAppPaySync, "/v1/app-pay/orders/AP1/sync", "", nil, 401, httpapi.CodeUnauthorized},
		{"close_without_caller_is_401", nobody, "POST", oaPathClose, "/v1/app-pay/orders/AP1/close", "", nil, 401, httpapi.CodeUnauthorized},
		{"refund_without_scope_is_403", unscoped, "POST", oaPathRefunds, "/v1/app-pay/orders/AP1/refunds", jsonCT, []byte("{}"), 403, httpapi.CodeForbidden},
		{"sync_of_another_callers_order_is_404", unscoped, "POST", oaPathAppPaySync, "/v1/app-pay/orders/AP1/sync", "", nil, 404, httpapi.CodeNotFound},
		{"agreement_without_caller_is_401", nobody, "GET", oaPathAgreement, "/v1/agreements/AG1", "", nil, 401, httpapi.CodeUnauthorized},
		{"agreement_of_another_caller_is_404", unscoped, "GET", oaPathAgreement, "/v1/agreements/AG1", "", nil, 404, httpapi.CodeNotFound},
		{"agreement_sync_without_caller_is_401", nobody, "POST", oaPathAgreeSync, "/v1/agreements/AG1/sync", "", nil, 401, httpapi.CodeUnauthorized},
		{"unsign_without_caller_is_401", nobody, "POST", oaPathUnsign, "/v1/agreements/AG1/unsign", "", nil, 401, httpapi.CodeUnauthorized},
		{"charge_without_caller_is_401", nobody, "POST", oaPathCharges, "/v1/agreements/AG1/charges", jsonCT, []byte("{}"), 401, httpapi.CodeUnauthorized},
		{"charge_without_scope_is_403", unscoped, "POST", oaPathCharges, "/v1/agreements/AG1/charges", jsonCT, []byte("{}"), 403, httpapi.CodeForbidden},
		{"charge_without_credentials_is_503", noCreds, "POST", oaPathCharges, "/v1/agreements/AG1/charges", jsonCT,
			[]byte(`{"out_trade_no":"C1","amount":"1.00","subject":"x"}`), 503, httpapi.CodeDependencyUnavailable},
		{"refund_without_credentials_is_503", noCreds, "POST", oaPathRefunds, "/v1/app-pay/orders/AP1/refunds", jsonCT,
			[]byte(`{"out_request_no":"R1","refund_amount":"1.00"}`), 503, httpapi.CodeDependencyUnavailable},
		{"notify_without_credentials_is_503_fail", noCreds, "POST", httpapi.NotifyPath, httpapi.NotifyPath, signed.ct, signed.body, 503, alipay.NotifyFailReply},
	}
	for _, tc := range routerCases {
		t.Run(tc.name, func(t *testing.T) {
			r := oaServe(tc.h, tc.method, tc.url, tc.ct, tc.body)
			oaCheckCase(t, spec, ops, tc.method, tc.path, r, tc.status, tc.code, false)
		})
	}
}

// oaCheckCase asserts the reply is the expected one and conforms to the document; a
// 405 conforms to every operation of its path.
func oaCheckCase(t *testing.T, spec node, ops map[string]node, method, path string, r oaReply, status int, code string, replayed bool) {
	t.Helper()
	if r.status != status {
		t.Fatalf("got %s, want status %d", r, status)
	}
	if strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") {
		if string(r.body) != code {
			t.Errorf("reply %q, want %q", r.body, code)
		}
	} else if got := r.errorCode(); got != code {
		t.Errorf("error.code %q, want %q: %s", got, code, r)
	}
	if (r.header.Get("Idempotent-Replayed") == "true") != replayed {
		t.Errorf("Idempotent-Replayed %q, want replayed=%v", r.header.Get("Idempotent-Replayed"), replayed)
	}
	if (status == http.StatusServiceUnavailable || code == httpapi.CodeRequestInProgress) &&
		!strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") && r.header.Get("Retry-After") == "" {
		t.Errorf("%d %s without Retry-After", status, code)
	}
	if status != http.StatusMethodNotAllowed {
		oaConform(t, spec, method, path, r)
		return
	}
	for key := range ops {
		if m, p, _ := strings.Cut(key, " "); p == path {
			oaConform(t, spec, m, path, r)
		}
	}
}
