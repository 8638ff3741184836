package reliability

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alipay-serverless/alipay-serverless/shared/agreements"
	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
	"github.com/alipay-serverless/alipay-serverless/shared/apppay"
	"github.com/alipay-serverless/alipay-serverless/shared/credentials"
	"github.com/alipay-serverless/alipay-serverless/shared/httpapi"
	"github.com/alipay-serverless/alipay-serverless/shared/notify"
	"github.com/alipay-serverless/alipay-serverless/shared/orders"
	"github.com/alipay-serverless/alipay-serverless/shared/preauth"
	"github.com/alipay-serverless/alipay-serverless/shared/sandbox"
	"github.com/alipay-serverless/alipay-serverless/test/harness/dynalitetest"
	"github.com/alipay-serverless/alipay-serverless/test/harness/testkeys"
)

// The real types satisfy what the slices ask for.
var (
	_ apppay.Store        = (*orders.DynamoStore)(nil)
	_ preauth.Store       = (*orders.DynamoStore)(nil)
	_ notify.Store        = (*orders.DynamoStore)(nil)
	_ preauth.Credentials = (*credentials.Cache)(nil)
	_ notify.Credentials  = (*credentials.Cache)(nil)
	_ apppay.Credentials  = (*credentials.Cache)(nil)
	_ preauth.Gateway     = (*alipay.Client)(nil)
)

const (
	// testAppID is the app of the reference keys (and of the Node SDK oracle).
	testAppID = "2021000000000001"
	jsonCT    = "application/json"
	formCT    = "application/x-www-form-urlencoded; charset=utf-8"
	// table is the orders table created on each dynalite.
	table = "orders"
)

// soak reports whether the long variants run: RELIABILITY_SOAK=1, set by `make soak`.
func soak() bool { return os.Getenv("RELIABILITY_SOAK") == "1" }

// scale is short normally and long under soak.
func scale(short, long int) int {
	if soak() {
		return long
	}
	return short
}

// ---- paths and keys ----------------------------------------------------------------

func keysDirFromWD() (string, error) {
	root, err := testkeys.FindRoot()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(root, "testdata", "keys")
	if _, err := os.Stat(dir); err != nil {
		return "", err
	}
	return dir, nil
}

// keysDir is <module root>/testdata/keys; missing fails the test.
func keysDir(t testing.TB) string {
	t.Helper()
	dir, err := keysDirFromWD()
	if err != nil {
		t.Fatalf("reference test keys missing: %v", err)
	}
	return dir
}

type testKeys struct {
	app       *alipay.PrivateKey // the merchant's app key
	alipay    *alipay.PrivateKey // the simulated Alipay key: signs replies and notifications
	appPub    *alipay.PublicKey
	alipayPub *alipay.PublicKey
	appPEM    string
}

var (
	keysOnce sync.Once
	keysVal  *testKeys
	keysErr  error
)

func loadKeys(t testing.TB) *testKeys {
	t.Helper()
	dir := keysDir(t)
	keysOnce.Do(func() {
		read := func(name string) []byte {
			b, err := os.ReadFile(filepath.Join(dir, name))
			keysErr = errors.Join(keysErr, err)
			return b
		}
		k := &testKeys{appPEM: string(read("app_private_pkcs1.pem"))}
		alipayPEM := read("alipay_private_pkcs1.pem")
		pubPEM := read("alipay_public.pem")
		if keysErr != nil {
			return
		}
		var e1, e2, e3 error
		k.app, e1 = alipay.ParsePrivateKey([]byte(k.appPEM))
		k.alipay, e2 = alipay.ParsePrivateKey(alipayPEM)
		k.alipayPub, e3 = alipay.ParsePublicKey(pubPEM)
		if keysErr = errors.Join(e1, e2, e3); keysErr != nil {
			return
		}
		k.appPub = k.app.Public()
		if !k.alipay.Public().Equal(k.alipayPub) {
			keysErr = errors.New("alipay_public.pem is not the public half of alipay_private_pkcs1.pem")
			return
		}
		keysVal = k
	})
	if keysErr != nil {
		t.Fatalf("reference test keys: %v", keysErr)
	}
	return keysVal
}

// newRandomKey generates an RSA-2048 key and registers it with the leak scan.
func newRandomKey(t testing.TB, name string) *alipay.PrivateKey {
	t.Helper()
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	suite.generatedKey(name, rk)
	k, err := alipay.NewPrivateKey(rk)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// testCredentials are the merchant's credentials in key mode.
func testCredentials(t testing.TB) *alipay.Credentials {
	k := loadKeys(t)
	return &alipay.Credentials{AppID: testAppID, PrivateKey: k.app, AlipayPublicKey: k.alipayPub, Version: "test"}
}

// credSource is what the three slices need of credentials.
type credSource interface {
	Get(context.Context) (*alipay.Credentials, error)
	Refresh(context.Context) (*alipay.Credentials, error)
}

// newLogger is a JSON logger whose output the suite scans for key material.
func newLogger() (*slog.Logger, *testkeys.Buffer) {
	buf := suite.newLog()
	return slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

// ---- the server under test ----------------------------------------------------------

// stackOptions describe one server under test.
type stackOptions struct {
	dynalite bool // DynamoStore on a fresh dynalite; otherwise the memory store
	// notifyURL is the configured notify_url; empty derives it from the request (the
	// server itself).
	notifyURL string
	sellerID  string
	creds     credSource // nil: the reference credentials, never failing
	// gateway replaces the simulator as the gateway the preauth slice calls; it is given
	// the simulator's handler (to forward to) and returns the handler to serve.
	gateway        func(sim http.Handler) http.Handler
	gatewayTimeout time.Duration
	retrySchedule  []time.Duration // the simulator's resend waits; nil: 3 quick resends
	// jwt authenticates callers as in Lambda (httpapi.JWTCaller) instead of locally.
	jwt bool
}

// stack is the four slices behind one loopback server, the simulator as their gateway
// and buyer, and the order store.
type stack struct {
	URL    string
	SimURL string
	// GatewayURL is where the slices call the gateway (the simulator, or what stackOptions.gateway put before it).
	GatewayURL string
	Sim        *sandbox.Simulator
	Store      orders.Store
	Dyn        *dynalitetest.Server
	Log        *testkeys.Buffer
	Handler    http.Handler // the router, as the Lambda adapter or the server gets it
	client     *http.Client
	simHTTP    *http.Client
}

func newStack(t *testing.T, o stackOptions) *stack {
	t.Helper()
	k := loadKeys(t)
	log, logBuf := newLogger()
	simLog, _ := newLogger()
	schedule := o.retrySchedule
	if schedule == nil {
		schedule = []time.Duration{20 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond}
	}
	sim, err := sandbox.New(sandbox.Options{
		AppID:         testAppID,
		AppPublicKey:  k.appPub,
		AlipayKey:     k.alipay,
		HTTPClient:    &http.Client{Timeout: 5 * time.Second},
		RetrySchedule: schedule,
		Logger:        simLog,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Close() })
	simSrv := httptest.NewServer(sim.Handler())
	t.Cleanup(simSrv.Close)
	s := &stack{
		SimURL:  simSrv.URL,
		Sim:     sim,
		Log:     logBuf,
		client:  &http.Client{Timeout: 30 * time.Second},
		simHTTP: &http.Client{Timeout: 30 * time.Second},
	}

	gatewayURL := simSrv.URL + sandbox.GatewayPath
	if o.gateway != nil {
		gw := httptest.NewServer(o.gateway(sim.Handler()))
		t.Cleanup(gw.Close)
		gatewayURL = gw.URL + sandbox.GatewayPath
	}
	s.GatewayURL = gatewayURL
	if o.dynalite {
		s.Dyn = dynalitetest.Start(t)
		db := dynalitetest.NewClient(t, s.Dyn.Endpoint())
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := orders.CreateTable(ctx, db, table); err != nil {
			t.Fatal(err)
		}
		s.Store = orders.NewDynamoStore(db, table)
	} else {
		s.Store = orders.NewMemoryStore()
	}
	var creds credSource = credentials.Static{Creds: testCredentials(t)}
	if o.creds != nil {
		creds = o.creds
	}
	timeout := o.gatewayTimeout
	if timeout == 0 {
		timeout = 5 * time.Second
	}
	gw := alipay.NewClient(gatewayURL, alipay.WithTimeout(timeout))
	auth := httpapi.LocalCaller
	if o.jwt {
		auth = httpapi.JWTCaller
	}
	router := httpapi.NewRouter(auth, log)
	app := apppay.NewHandler(apppay.NewService(s.Store, creds, apppay.WithGateway(gw), apppay.WithGatewayTimeout(timeout)), o.notifyURL)
	settler := preauth.NewSettler(s.Store, creds, gw, preauth.WithNotifyURL(o.notifyURL), preauth.WithGatewayTimeout(timeout))
	ag := agreements.NewHandler(agreements.NewService(s.Store, creds, gw, agreements.WithGatewayTimeout(timeout)), o.notifyURL)
	app.WithRoutes(ag.Handlers())
	settle := map[string]http.Handler{}
	maps.Copy(settle, app.SettleHandlers())
	maps.Copy(settle, preauth.NewSettleHandler(settler).Handlers())
	maps.Copy(settle, ag.SettleHandlers())
	if err := errors.Join(
		preauth.NewHandler(settler.Service).WithSync(settler).Mount(router),
		app.Mount(router),
		router.MountFunction(httpapi.FnSettle, settle),
		notify.NewHandler(notify.NewService(s.Store, creds, notify.WithSellerID(o.sellerID))).Mount(router),
	); err != nil {
		t.Fatal(err)
	}
	s.Handler = captureReplies(router)
	srv := httptest.NewServer(s.Handler)
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// reply is one HTTP exchange's outcome.
type reply struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into a generic map (nil when it is not a JSON object).
func (r reply) JSON() map[string]any {
	var m map[string]any
	_ = json.Unmarshal(r.Body, &m)
	return m
}

// ErrorCode is error.code of a contract error reply.
func (r reply) ErrorCode() string {
	var e struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	_ = json.Unmarshal(r.Body, &e)
	return e.Error.Code
}

// send makes one request; it is safe from any goroutine.
func send(c *http.Client, method, u, contentType string, body []byte, hdr map[string]string) (reply, error) {
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	if err != nil {
		return reply{}, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return reply{}, fmt.Errorf("read reply: %w", err)
	}
	return reply{Status: resp.StatusCode, Header: resp.Header, Body: b}, nil
}

// do is send that fails the test on a transport error; test goroutine only.
func do(t testing.TB, c *http.Client, method, u, contentType string, body []byte, hdr map[string]string) reply {
	t.Helper()
	r, err := send(c, method, u, contentType, body, hdr)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	return r
}

// goDo is send for other goroutines: a transport error is reported and yields status 0.
func goDo(t testing.TB, c *http.Client, method, u, contentType string, body []byte) reply {
	r, err := send(c, method, u, contentType, body, nil)
	if err != nil {
		t.Errorf("%s %s: %v", method, u, err)
	}
	return r
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// post sends a JSON body to the server under test.
func (s *stack) post(t testing.TB, path string, v any) reply {
	t.Helper()
	return do(t, s.client, http.MethodPost, s.URL+path, jsonCT, mustJSON(t, v), nil)
}

func (s *stack) get(t testing.TB, path string) reply {
	t.Helper()
	return do(t, s.client, http.MethodGet, s.URL+path, "", nil, nil)
}

// goPost is post for other goroutines.
func (s *stack) goPost(t testing.TB, path string, body []byte) reply {
	return goDo(t, s.client, http.MethodPost, s.URL+path, jsonCT, body)
}

// goNotify is notify for other goroutines.
func (s *stack) goNotify(t testing.TB, body []byte) reply {
	return goDo(t, s.client, http.MethodPost, s.URL+httpapi.NotifyPath, formCT, body)
}

// notify posts a notification body as Alipay does.
func (s *stack) notify(t testing.TB, contentType string, body []byte) reply {
	t.Helper()
	return do(t, s.client, http.MethodPost, s.URL+httpapi.NotifyPath, contentType, body, nil)
}

// control calls a simulator control endpoint and decodes its JSON reply.
func (s *stack) control(t testing.TB, path string, v any, out any) {
	t.Helper()
	r := do(t, s.simHTTP, http.MethodPost, s.SimURL+path, jsonCT, mustJSON(t, v), nil)
	if r.Status != http.StatusOK {
		t.Fatalf("sandbox %s: %d %s", path, r.Status, r.Body)
	}
	if out != nil {
		if err := json.Unmarshal(r.Body, out); err != nil {
			t.Fatalf("sandbox %s: %v", path, err)
		}
	}
}

// simNotice is a notification the simulator signed and sent.
type simNotice = sandbox.Notification

type payResult struct {
	TradeNo       string      `json:"trade_no"`
	OutTradeNo    string      `json:"out_trade_no"`
	Notifications []simNotice `json:"notifications"`
}

type scanResult struct {
	AuthNo        string      `json:"auth_no"`
	OperationID   string      `json:"operation_id"`
	Notifications []simNotice `json:"notifications"`
}

// createAppPay creates an app-pay order through the running server and returns its
// orderStr.
func (s *stack) createAppPay(t testing.TB, biz map[string]any) string {
	t.Helper()
	r := s.post(t, "/v1/app-pay/orders", biz)
	if r.Status != http.StatusOK {
		t.Fatalf("create app-pay order %v: %d %s", biz["out_trade_no"], r.Status, r.Body)
	}
	var v struct {
		OrderStr string `json:"order_str"`
	}
	if err := json.Unmarshal(r.Body, &v); err != nil || v.OrderStr == "" {
		t.Fatalf("create app-pay order: reply %s", r.Body)
	}
	return v.OrderStr
}

// createVoucher issues a voucher through the running server.
func (s *stack) createVoucher(t testing.TB, biz map[string]any) map[string]any {
	t.Helper()
	r := s.post(t, "/v1/preauth/vouchers", biz)
	if r.Status != http.StatusOK {
		t.Fatalf("create voucher %v: %d %s", biz["out_order_no"], r.Status, r.Body)
	}
	return r.JSON()
}

// ---- notifications ------------------------------------------------------------------

// signNotice is the body of params signed with key as Alipay signs notifications (§8.2),
// params["charset"] set to charset ("utf-8" or "gbk") and every byte in it.
func signNotice(t testing.TB, key *alipay.PrivateKey, params map[string]string, charset string) []byte {
	t.Helper()
	p := cloneParams(params)
	p["charset"] = charset
	n, err := sandbox.SignNotification(key, p, charset)
	if err != nil {
		t.Fatal(err)
	}
	return []byte(n.Body)
}

// encodeNotice is the body of params as they are (a tampered copy of a signed notice).
func encodeNotice(t testing.TB, params map[string]string) []byte {
	t.Helper()
	body, err := sandbox.EncodeNotification(params, "utf-8")
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// cloneParams copies a parameter map.
func cloneParams(p map[string]string) map[string]string {
	c := make(map[string]string, len(p))
	for k, v := range p {
		c[k] = v
	}
	return c
}

// notifyLog is the one log line the notify slice writes per notification.
type notifyLog struct {
	Msg      string `json:"msg"`
	NotifyID string `json:"notify_id"`
	Result   string `json:"result"`
	Status   int    `json:"status"`
	Reason   string `json:"reason"`
}

// notifyResults counts, per notify_id, how often each store result was logged.
func notifyResults(t testing.TB, logs string) map[string]map[string]int {
	t.Helper()
	out := map[string]map[string]int{}
	for _, line := range strings.Split(logs, "\n") {
		if !strings.Contains(line, `"msg":"notification"`) {
			continue
		}
		var l notifyLog
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("log line is not JSON: %v", err)
		}
		if out[l.NotifyID] == nil {
			out[l.NotifyID] = map[string]int{}
		}
		key := l.Result
		if key == "" {
			key = "status_" + strconv.Itoa(l.Status)
		}
		out[l.NotifyID][key]++
	}
	return out
}

// eventually polls cond every 20ms until it holds or d passes.
func eventually(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// sinkServer acknowledges every notification without applying it, so the test decides
// when and in which order the server under test receives them.
func sinkServer(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 1<<20))
		_, _ = io.WriteString(w, alipay.NotifySuccessReply)
	}))
	t.Cleanup(srv.Close)
	return srv
}
