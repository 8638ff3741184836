package preauth

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
	"github.com/alipay-serverless/alipay-serverless/shared/credentials"
	"github.com/alipay-serverless/alipay-serverless/shared/httpapi"
	"github.com/alipay-serverless/alipay-serverless/shared/orders"
	"github.com/alipay-serverless/alipay-serverless/test/harness/testclock"
	"github.com/alipay-serverless/alipay-serverless/test/harness/testkeys"
)

// The real types satisfy the slice's consumer-side interfaces.
var (
	_ Store       = (*orders.MemoryStore)(nil)
	_ Store       = (*orders.DynamoStore)(nil)
	_ Credentials = (*credentials.Cache)(nil)
	_ Gateway     = (*alipay.Client)(nil)
)

const (
	testAppID   = "2021000000000001"
	testPayee   = "2088102146225135"
	testTimeout = 500 * time.Millisecond // bound on one gateway call in tests: room for a loaded machine (-race, 2 cores)
)

// ---- reference keys -------------------------------------------------------------

func readKeyFile(t testing.TB, name string) []byte {
	t.Helper()
	return testkeys.Read(t, "keys/"+name)
}

type testKeys struct {
	app       *alipay.PrivateKey // signs our requests
	appPub    *alipay.PublicKey  // the fake gateway verifies them with it
	alipay    *alipay.PrivateKey // the fake gateway signs replies with it
	alipayPub *alipay.PublicKey
}

var (
	keysOnce sync.Once
	keysVal  testKeys
	keysErr  error
)

func loadKeys(t testing.TB) testKeys {
	t.Helper()
	keysOnce.Do(func() {
		read := func(n string) []byte { return readKeyFile(t, n) }
		var errs [4]error
		keysVal.app, errs[0] = alipay.ParsePrivateKey(read("app_private_pkcs1.pem"))
		keysVal.appPub, errs[1] = alipay.ParsePublicKey(read("app_public.pem"))
		keysVal.alipay, errs[2] = alipay.ParsePrivateKey(read("alipay_private_pkcs1.pem"))
		keysVal.alipayPub, errs[3] = alipay.ParsePublicKey(read("alipay_public.pem"))
		for _, e := range errs {
			if e != nil && keysErr == nil {
				keysErr = e
			}
		}
	})
	if keysErr != nil {
		t.Fatal(keysErr)
	}
	return keysVal
}

func containsKeyMaterial(t testing.TB, text string) bool {
	t.Helper()
	return len(testkeys.Leaks(t, text)) > 0
}

func assertNoKeyMaterial(t testing.TB, what, text string) {
	t.Helper()
	if containsKeyMaterial(t, text) {
		t.Errorf("%s contains key material", what)
	}
}

// ---- fake Alipay gateway --------------------------------------------------------

// Gateway behaviours for voucher.create.
const (
	gwOK          = "ok"
	gwBusiness    = "business"     // 40004 PAYEE_NOT_EXIST
	gwConfig      = "config"       // 40006 isv.insufficient-isv-permissions
	gw20000       = "20000"        // service unavailable
	gwSystemError = "system_error" // 40004 SYSTEM_ERROR
	gwTimeout     = "timeout"      // hold the reply until the client gives up
	gwHTTP500     = "http500"
	gwBadSign     = "bad_sign"  // reply signed, signature corrupted
	gwNonJSON     = "non_json"  // an HTML error page with status 200
	gwWrongIDs    = "wrong_ids" // a valid reply for another out_request_no
	gwNoCode      = "no_code"   // a valid success reply without code_value
)

// fakeGateway is an Alipay gateway on 127.0.0.1: it verifies each request's signature
// with the app public key and answers in Alipay's signed format (node with `\/`,
// signed with the test Alipay key). Voucher codes are a function of
// (out_order_no, out_request_no), as Alipay gives the same code to the same request.
type fakeGateway struct {
	t    testing.TB
	keys testKeys
	srv  *httptest.Server

	mu         sync.Mutex
	mode       string
	queryMode  string // detail.query: "" answers from ops, gw20000 fails
	delay      time.Duration
	calls      map[string]int    // by method
	ops        map[string]string // "order|request" → INIT/SUCCESS (what Alipay knows)
	notifyURLs []string
	bizSent    []string
	hook       func(order, request string) // runs inside the handler, before the reply
	badReqs    atomic.Int32                // requests whose signature did not verify
}

func newFakeGateway(t testing.TB) *fakeGateway {
	g := &fakeGateway{t: t, keys: loadKeys(t), mode: gwOK, calls: map[string]int{}, ops: map[string]string{}}
	g.srv = httptest.NewServer(http.HandlerFunc(g.serve))
	t.Cleanup(func() {
		g.srv.Close()
		if n := g.badReqs.Load(); n > 0 {
			t.Errorf("fake gateway: %d requests failed signature or parameter checks", n)
		}
	})
	return g
}

func (g *fakeGateway) url() string { return g.srv.URL + "/gateway.do" }

func (g *fakeGateway) setMode(m string) { g.mu.Lock(); g.mode = m; g.mu.Unlock() }

func (g *fakeGateway) setQueryMode(m string) { g.mu.Lock(); g.queryMode = m; g.mu.Unlock() }

func (g *fakeGateway) setDelay(d time.Duration) { g.mu.Lock(); g.delay = d; g.mu.Unlock() }

func (g *fakeGateway) setHook(f func(order, request string)) { g.mu.Lock(); g.hook = f; g.mu.Unlock() }

func (g *fakeGateway) count(method string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.calls[method]
}

func (g *fakeGateway) creates() int { return g.count(alipay.MethodVoucherCreate) }

// freeze makes Alipay know the operation as paid (the buyer scanned and paid).
func (g *fakeGateway) freeze(order, request string) {
	g.mu.Lock()
	g.ops[order+"|"+request] = "SUCCESS"
	g.mu.Unlock()
}

func (g *fakeGateway) lastNotifyURL() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.notifyURLs) == 0 {
		return ""
	}
	return g.notifyURLs[len(g.notifyURLs)-1]
}

func (g *fakeGateway) lastBiz() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.bizSent) == 0 {
		return ""
	}
	return g.bizSent[len(g.bizSent)-1]
}

// codeFor is the voucher Alipay gives to one request (with `/` that the reply escapes).
func codeFor(order, request string) (value, url string) {
	h := sha256.Sum256([]byte(order + "|" + request))
	id := hex.EncodeToString(h[:8])
	return "https://qr.alipay.com/bax" + id, "https://mdn.alipay.com/wsdk/img?fileid=" + id + "&bz=am_afts_openhome"
}

func (g *fakeGateway) serve(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		g.badReqs.Add(1)
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	params := map[string]string{}
	for k, vs := range r.Form {
		if len(vs) != 1 {
			g.badReqs.Add(1)
			http.Error(w, "duplicate "+k, http.StatusBadRequest)
			return
		}
		params[k] = vs[0]
	}
	method := params["method"]
	node := strings.ReplaceAll(method, ".", "_") + "_response"
	if err := g.keys.appPub.Verify([]byte(alipay.SignContent(params)), params["sign"]); err != nil ||
		params["app_id"] != testAppID || params["sign_type"] != "RSA2" || params["charset"] != "utf-8" {
		g.badReqs.Add(1)
		g.reply(w, "error_response", false, "code", "40002", "msg", "Invalid Arguments",
			"sub_code", "isv.invalid-signature", "sub_msg", "invalid signature")
		return
	}
	if ts, err := alipay.ParseTimestamp(params["timestamp"]); err != nil || time.Since(ts).Abs() > time.Hour {
		g.badReqs.Add(1) // not China time, or not a timestamp
	}
	var biz struct {
		OutOrderNo   string `json:"out_order_no"`
		OutRequestNo string `json:"out_request_no"`
	}
	if err := json.Unmarshal([]byte(params["biz_content"]), &biz); err != nil || biz.OutOrderNo == "" || biz.OutRequestNo == "" {
		g.badReqs.Add(1)
		g.reply(w, node, false, "code", "40004", "msg", "Business Failed", "sub_code", "ILLEGAL_ARGUMENT", "sub_msg", "bad biz_content")
		return
	}
	key := biz.OutOrderNo + "|" + biz.OutRequestNo

	g.mu.Lock()
	g.calls[method]++
	mode, qmode, delay, hook := g.mode, g.queryMode, g.delay, g.hook
	if method == alipay.MethodVoucherCreate {
		g.notifyURLs = append(g.notifyURLs, params["notify_url"])
		g.bizSent = append(g.bizSent, params["biz_content"])
		switch mode {
		case gwBusiness, gwConfig, gwHTTP500:
		default:
			// Every other outcome happens after Alipay created the voucher.
			if g.ops[key] == "" {
				g.ops[key] = "INIT"
			}
		}
	}
	status := g.ops[key]
	g.mu.Unlock()

	if hook != nil {
		hook(biz.OutOrderNo, biz.OutRequestNo)
	}
	if delay > 0 {
		time.Sleep(delay)
	}

	switch method {
	case alipay.MethodFundAuthDetailQuery:
		switch {
		case qmode == gw20000:
			g.reply(w, node, false, "code", "20000", "msg", "Service Currently Unavailable", "sub_code", "isp.unknow-error", "sub_msg", "系统繁忙")
		case status == "":
			g.reply(w, node, false, "code", "40004", "msg", "Business Failed", "sub_code", "AUTH_ORDER_NOT_EXIST", "sub_msg", "授权订单不存在")
		default:
			g.reply(w, node, false, "code", "10000", "msg", "Success", "auth_no", "2025060110002001000000001",
				"out_order_no", biz.OutOrderNo, "operation_id", "20250601100020000000001", "out_request_no", biz.OutRequestNo,
				"amount", "100.00", "operation_type", "FREEZE", "status", status)
		}
		return
	case alipay.MethodVoucherCreate:
	default:
		g.badReqs.Add(1)
		g.reply(w, "error_response", false, "code", "40002", "msg", "Invalid Arguments", "sub_code", "isv.invalid-method", "sub_msg", "unknown method")
		return
	}

	value, curl := codeFor(biz.OutOrderNo, biz.OutRequestNo)
	success := []string{"code", "10000", "msg", "Success", "out_order_no", biz.OutOrderNo, "out_request_no", biz.OutRequestNo,
		"code_type", "qrCode", "code_value", value, "code_url", curl}
	switch mode {
	case gwOK:
		g.reply(w, node, false, success...)
	case gwBusiness:
		g.reply(w, node, false, "code", "40004", "msg", "Business Failed", "sub_code", "PAYEE_NOT_EXIST", "sub_msg", "收款方账号不存在")
	case gwConfig:
		g.reply(w, node, false, "code", "40006", "msg", "Insufficient Permissions", "sub_code", "isv.insufficient-isv-permissions", "sub_msg", "ISV权限不足")
	case gw20000:
		g.reply(w, node, false, "code", "20000", "msg", "Service Currently Unavailable", "sub_code", "isp.unknow-error", "sub_msg", "系统繁忙")
	case gwSystemError:
		g.reply(w, node, false, "code", "40004", "msg", "Business Failed", "sub_code", "SYSTEM_ERROR", "sub_msg", "系统异常")
	case gwTimeout:
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
		g.reply(w, node, false, success...)
	case gwHTTP500:
		http.Error(w, "Internal Server Error", http.StatusInternalServerError)
	case gwBadSign:
		g.reply(w, node, true, success...)
	case gwNonJSON:
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte("<html><body>系统繁忙</body></html>"))
	case gwWrongIDs:
		other, otherURL := codeFor(biz.OutOrderNo, "R-other")
		g.reply(w, node, false, "code", "10000", "msg", "Success", "out_order_no", biz.OutOrderNo, "out_request_no", "R-other",
			"code_type", "qrCode", "code_value", other, "code_url", otherURL)
	case gwNoCode:
		g.reply(w, node, false, "code", "10000", "msg", "Success", "out_order_no", biz.OutOrderNo, "out_request_no", biz.OutRequestNo)
	default:
		g.t.Errorf("fake gateway: unknown mode %q", mode)
	}
}

// reply writes {"<name>":<node>,"sign":"..."} with the node's `/` escaped as `\/` and the
// signature over exactly the node's bytes; corrupt flips one signature bit.
func (g *fakeGateway) reply(w http.ResponseWriter, name string, corrupt bool, kv ...string) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i := 0; i+1 < len(kv); i += 2 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(jsonString(kv[i]))
		b.WriteByte(':')
		b.Write(jsonString(kv[i+1]))
	}
	b.WriteByte('}')
	src := bytes.ReplaceAll(b.Bytes(), []byte("/"), []byte(`\/`))
	sign, err := g.keys.alipay.Sign(src)
	if err != nil {
		g.t.Errorf("fake gateway: sign: %v", err)
		http.Error(w, "sign", http.StatusInternalServerError)
		return
	}
	if corrupt {
		raw, _ := base64.StdEncoding.DecodeString(sign)
		raw[len(raw)/2] ^= 1
		sign = base64.StdEncoding.EncodeToString(raw)
	}
	w.Header().Set("Content-Type", "text/html;charset=utf-8") // Alipay's header is not JSON
	fmt.Fprintf(w, `{"%s":%s,"sign":"%s"}`, name, src, sign)
}

func jsonString(s string) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// ---- other fakes ----------------------------------------------------------------

func testCredentials(t testing.TB) *alipay.Credentials {
	k := loadKeys(t)
	return &alipay.Credentials{AppID: testAppID, PrivateKey: k.app, AlipayPublicKey: k.alipayPub}
}

// flakyStore is a MemoryStore whose methods can be made to fail as unavailable.
type flakyStore struct {
	*orders.MemoryStore
	failBegin, failComplete, failGet atomic.Bool
}

var errInjected = fmt.Errorf("%w: injected outage", orders.ErrUnavailable)

func (s *flakyStore) BeginVoucher(ctx context.Context, b orders.VoucherBegin) (orders.VoucherBeginResult, error) {
	if s.failBegin.Load() {
		return orders.VoucherBeginResult{}, errInjected
	}
	return s.MemoryStore.BeginVoucher(ctx, b)
}

func (s *flakyStore) CompleteVoucher(ctx context.Context, o, r, token string, out orders.VoucherOutcome) error {
	if s.failComplete.Load() {
		return errInjected
	}
	return s.MemoryStore.CompleteVoucher(ctx, o, r, token, out)
}

func (s *flakyStore) GetPreAuthOrder(ctx context.Context, o string) (*orders.PreAuthOrder, error) {
	if s.failGet.Load() {
		return nil, errInjected
	}
	return s.MemoryStore.GetPreAuthOrder(ctx, o)
}

// ---- harness --------------------------------------------------------------------

type harness struct {
	t      *testing.T
	store  *flakyStore
	gw     *fakeGateway
	creds  *credentials.Static
	clock  *testclock.Clock // nil: real time
	svc    *Service
	router *httpapi.Router
	logs   *testkeys.Buffer
	logger *slog.Logger
}

type harnessConfig struct {
	fakeClock bool
	timeout   time.Duration // bound on one gateway call; testTimeout when zero
	opts      []Option
}

func newHarness(t *testing.T, cfgs ...func(*harnessConfig)) *harness {
	t.Helper()
	var cfg harnessConfig
	for _, f := range cfgs {
		f(&cfg)
	}
	h := &harness{
		t:     t,
		store: &flakyStore{MemoryStore: orders.NewMemoryStore()},
		gw:    newFakeGateway(t),
		creds: &credentials.Static{Creds: testCredentials(t)},
		logs:  &testkeys.Buffer{},
	}
	h.logger = slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if cfg.timeout == 0 {
		cfg.timeout = testTimeout
	}
	opts := []Option{WithGatewayTimeout(cfg.timeout)}
	if cfg.fakeClock {
		h.clock = testclock.New(time.Date(2025, 6, 1, 4, 0, 0, 0, time.UTC))
		opts = append(opts, WithClock(h.clock.Now))
	}
	opts = append(opts, cfg.opts...)
	client := alipay.NewClient(h.gw.url(), alipay.WithTimeout(cfg.timeout))
	h.svc = NewService(h.store, h.creds, client, opts...)
	h.router = httpapi.NewRouter(httpapi.LocalCaller, h.logger)
	if err := NewHandler(h.svc).Mount(h.router); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { assertNoKeyMaterial(t, "logs", h.logs.String()) })
	return h
}

func withFakeClock(c *harnessConfig) { c.fakeClock = true }

// withTimeout gives the gateway calls more room than testTimeout, for tests whose gateway
// is slow on purpose and must still answer within the bound on a loaded machine.
func withTimeout(d time.Duration) func(*harnessConfig) {
	return func(c *harnessConfig) { c.timeout = d }
}

func withOptions(opts ...Option) func(*harnessConfig) {
	return func(c *harnessConfig) { c.opts = append(c.opts, opts...) }
}

// reply is a decoded response.
type reply struct {
	status int
	header http.Header
	body   string
	json   map[string]any
}

func (r reply) errCode() string { return r.errField("code") }
func (r reply) errField(k string) string {
	e, _ := r.json["error"].(map[string]any)
	s, _ := e[k].(string)
	return s
}
func (r reply) str(k string) string { s, _ := r.json[k].(string); return s }

func decodeReply(t testing.TB, status int, header http.Header, body string) reply {
	t.Helper()
	assertNoKeyMaterial(t, "reply", body)
	rep := reply{status: status, header: header, body: body}
	if err := json.Unmarshal([]byte(body), &rep.json); err != nil {
		t.Fatalf("reply is not JSON (status %d): %q", status, body)
	}
	if ct := header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q", ct)
	}
	return rep
}

// send serves one request through the router as caller (local mode X-Caller).
func (h *harness) send(ctx context.Context, method, path, caller, contentType, body string) reply {
	h.t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body)).WithContext(ctx)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set(httpapi.LocalCallerHeader, caller)
	w := httptest.NewRecorder()
	h.router.ServeHTTP(w, req)
	return decodeReply(h.t, w.Code, w.Header(), w.Body.String())
}

func (h *harness) create(caller, body string) reply {
	h.t.Helper()
	return h.send(context.Background(), http.MethodPost, PathVouchers, caller, "application/json", body)
}

func (h *harness) get(caller, outOrderNo string) reply {
	h.t.Helper()
	return h.send(context.Background(), http.MethodGet, "/v1/preauth/orders/"+outOrderNo, caller, "", "")
}

func (h *harness) order(outOrderNo string) *orders.PreAuthOrder {
	h.t.Helper()
	o, err := h.store.MemoryStore.GetPreAuthOrder(context.Background(), outOrderNo)
	if err != nil {
		h.t.Fatalf("order %s: %v", outOrderNo, err)
	}
	return o
}

func (h *harness) now() time.Time {
	if h.clock != nil {
		return h.clock.Now()
	}
	return time.Now()
}

// authorize applies a successful FREEZE notice for the request, as the notify slice would.
func (h *harness) authorize(outOrderNo, outRequestNo string) {
	h.t.Helper()
	now := h.now()
	res, err := h.store.ApplyFundAuth(context.Background(), orders.FundAuthEffect{
		NotifyID: "notify-" + outRequestNo, OutOrderNo: outOrderNo, AuthNo: "2025060110002001000000001",
		OperationID: "20250601100020000000001", OutRequestNo: outRequestNo,
		OperationType: orders.OperationFreeze, OperationStatus: orders.OperationSuccess,
		Amount: alipay.MustAmount("100.00"), TotalFreeze: alipay.MustAmount("100.00"), Rest: alipay.MustAmount("100.00"),
		GmtTrans: now, Now: now,
	})
	if err != nil || res != orders.Applied {
		h.t.Fatalf("apply fund auth: %v %v", res, err)
	}
}

// voucherBody is a valid create body; mods change fields (nil deletes one).
func voucherBody(order, request string, mods ...map[string]any) string {
	m := map[string]any{
		"out_order_no":   order,
		"out_request_no": request,
		"order_title":    "押金 deposit",
		"amount":         "100.00",
		"payee_user_id":  testPayee,
		"pay_timeout":    "15m",
		"product_code":   "PRE_AUTH",
	}
	for _, mod := range mods {
		for k, v := range mod {
			if v == nil {
				delete(m, k)
			} else {
				m[k] = v
			}
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// decodeParams is what the service computes hashes from.
func decodeParams(t testing.TB, body string) *alipay.VoucherCreateParams {
	t.Helper()
	p, err := alipay.DecodeVoucherCreate([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	return p
}
