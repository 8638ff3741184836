package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
	"github.com/alipay-serverless/alipay-serverless/shared/credentials"
	"github.com/alipay-serverless/alipay-serverless/shared/httpapi"
	"github.com/alipay-serverless/alipay-serverless/shared/orders"
	"github.com/alipay-serverless/alipay-serverless/shared/sandbox"
	"github.com/alipay-serverless/alipay-serverless/test/harness/testkeys"
)

// The real types satisfy the slice's interfaces.
var (
	_ Store       = (orders.Store)(nil)
	_ Store       = (*orders.MemoryStore)(nil)
	_ Store       = (*orders.DynamoStore)(nil)
	_ Credentials = (*credentials.Cache)(nil)
)

const (
	testAppID  = "2021000000000001"
	testSeller = "2088000000000001"
	formCT     = "application/x-www-form-urlencoded; charset=utf-8"
)

// testNow is the fixed clock of every test service.
var testNow = time.Date(2025, 6, 1, 12, 0, 30, 0, alipay.ChinaTime)

type testKeys struct {
	alipayPriv *alipay.PrivateKey // the simulated Alipay key that signs notifications
	alipayPub  *alipay.PublicKey
	appPriv    *alipay.PrivateKey
	appPub     *alipay.PublicKey
}

var (
	keysOnce sync.Once
	keysVal  *testKeys
	keysErr  error
)

func loadKeys(t testing.TB) *testKeys {
	t.Helper()
	dir := filepath.Join(testkeys.Dir(t), "keys")
	keysOnce.Do(func() { keysVal, keysErr = readKeys(dir) })
	if keysErr != nil {
		t.Fatal(keysErr)
	}
	return keysVal
}

func readKeys(dir string) (*testKeys, error) {
	read := func(name string) ([]byte, error) { return os.ReadFile(filepath.Join(dir, name)) }
	k := &testKeys{}
	var err error
	parsePriv := func(name string) *alipay.PrivateKey {
		b, rerr := read(name)
		if rerr != nil {
			err = errors.Join(err, rerr)
			return nil
		}
		p, perr := alipay.ParsePrivateKey(b)
		err = errors.Join(err, perr)
		return p
	}
	k.alipayPriv = parsePriv("alipay_private_pkcs1.pem")
	k.appPriv = parsePriv("app_private_pkcs1.pem")
	if b, rerr := read("alipay_public.pem"); rerr != nil {
		err = errors.Join(err, rerr)
	} else if k.alipayPub, rerr = alipay.ParsePublicKey(b); rerr != nil {
		err = errors.Join(err, rerr)
	}
	if err != nil {
		return nil, err
	}
	k.appPub = k.appPriv.Public()
	return k, nil
}

// assertNoKeyMaterial fails when text holds any fragment of a test key or PEM framing.
func assertNoKeyMaterial(t testing.TB, k *testKeys, what, text string) {
	t.Helper()
	if leaksKey(t, text) {
		t.Errorf("%s contains key material", what)
	}
}

func leaksKey(t testing.TB, text string) bool {
	t.Helper()
	return strings.Contains(text, "PRIVATE KEY") || strings.Contains(text, "BEGIN ") || len(testkeys.Leaks(t, text)) > 0
}

func newCreds(k *testKeys, alipayKey *alipay.PublicKey) *alipay.Credentials {
	return &alipay.Credentials{AppID: testAppID, PrivateKey: k.appPriv, AlipayPublicKey: alipayKey, Version: "v-test"}
}

// fakeCreds is a Credentials whose answers a test switches mid-run (a key rotation, a
// refresh that fails) and that counts Get and Refresh calls; credentials.Static is the
// fixed source.
type fakeCreds struct {
	get       func() (*alipay.Credentials, error)
	refresh   func() (*alipay.Credentials, error)
	gets      atomic.Int32
	refreshes atomic.Int32
}

func (f *fakeCreds) Get(context.Context) (*alipay.Credentials, error) {
	f.gets.Add(1)
	return f.get()
}

func (f *fakeCreds) Refresh(context.Context) (*alipay.Credentials, error) {
	f.refreshes.Add(1)
	if f.refresh == nil {
		return f.get()
	}
	return f.refresh()
}

// flakyStore wraps a MemoryStore with injectable failures.
type flakyStore struct {
	*orders.MemoryStore
	down      atomic.Bool // every call fails with ErrUnavailable before touching state
	loseReply atomic.Bool // apply writes, then the answer is lost (ErrUnavailable)
	applyErr  error       // when set, apply calls fail with it without writing
	applies   atomic.Int32
}

var errTestOutage = errors.New("dial tcp 127.0.0.1:1: connection refused")

func (f *flakyStore) unavailable() error {
	return errors.Join(orders.ErrUnavailable, errTestOutage)
}

func (f *flakyStore) GetAppPayOrder(ctx context.Context, id string) (*orders.AppPayOrder, error) {
	if f.down.Load() {
		return nil, f.unavailable()
	}
	return f.MemoryStore.GetAppPayOrder(ctx, id)
}

func (f *flakyStore) GetPreAuthOrder(ctx context.Context, id string) (*orders.PreAuthOrder, error) {
	if f.down.Load() {
		return nil, f.unavailable()
	}
	return f.MemoryStore.GetPreAuthOrder(ctx, id)
}

func (f *flakyStore) GetAgreement(ctx context.Context, id string) (*orders.Agreement, error) {
	if f.down.Load() {
		return nil, f.unavailable()
	}
	return f.MemoryStore.GetAgreement(ctx, id)
}

func flakyApply[E any](f *flakyStore, ctx context.Context, e E, apply func(context.Context, E) (orders.ApplyResult, error)) (orders.ApplyResult, error) {
	f.applies.Add(1)
	if f.down.Load() {
		return "", f.unavailable()
	}
	if f.applyErr != nil {
		return "", f.applyErr
	}
	res, err := apply(ctx, e)
	if err == nil && f.loseReply.Load() {
		return "", f.unavailable()
	}
	return res, err
}

func (f *flakyStore) ApplyTrade(ctx context.Context, e orders.TradeEffect) (orders.ApplyResult, error) {
	return flakyApply(f, ctx, e, f.MemoryStore.ApplyTrade)
}

func (f *flakyStore) ApplyFundAuth(ctx context.Context, e orders.FundAuthEffect) (orders.ApplyResult, error) {
	return flakyApply(f, ctx, e, f.MemoryStore.ApplyFundAuth)
}

func (f *flakyStore) ApplyAgreement(ctx context.Context, e orders.AgreementEffect) (orders.ApplyResult, error) {
	return flakyApply(f, ctx, e, f.MemoryStore.ApplyAgreement)
}

// notifyLines returns the "notification" log lines, decoded.
func notifyLines(t testing.TB, b *testkeys.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		if m["msg"] == "notification" {
			out = append(out, m)
		}
	}
	return out
}

// env is one service under test with its store, credentials and log capture.
type env struct {
	t      *testing.T
	keys   *testKeys
	store  *flakyStore
	creds  *fakeCreds
	svc    *Service
	router *httpapi.Router
	logs   *testkeys.Buffer
}

func newEnv(t *testing.T, opts ...Option) *env {
	t.Helper()
	k := loadKeys(t)
	e := &env{t: t, keys: k, store: &flakyStore{MemoryStore: orders.NewMemoryStore()}, logs: &testkeys.Buffer{}}
	c := newCreds(k, k.alipayPub)
	e.creds = &fakeCreds{get: func() (*alipay.Credentials, error) { return c, nil }}
	e.svc = NewService(e.store, e.creds, append([]Option{WithClock(func() time.Time { return testNow })}, opts...)...)
	e.router = httpapi.NewRouter(httpapi.LocalCaller, slog.New(slog.NewJSONHandler(e.logs, nil)))
	if err := NewHandler(e.svc).Mount(e.router); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		assertNoKeyMaterial(t, k, "logs", e.logs.String())
	})
	return e
}

// post sends body to the notify route through the router and checks the reply's shape:
// exactly "success" (7 bytes) with 200, or "fail", always text/plain.
func (e *env) post(ct string, body []byte) (int, string) {
	e.t.Helper()
	req := httptest.NewRequest(http.MethodPost, httpapi.NotifyPath, bytes.NewReader(body))
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	w := httptest.NewRecorder()
	e.router.ServeHTTP(w, req)
	got := w.Body.String()
	checkReply(e.t, w.Code, w.Header().Get("Content-Type"), got)
	assertNoKeyMaterial(e.t, e.keys, "reply", got)
	return w.Code, got
}

// mustSucceed posts and requires "success".
func (e *env) mustSucceed(body []byte) {
	e.t.Helper()
	if code, reply := e.post(formCT, body); code != http.StatusOK {
		e.t.Fatalf("status %d %q, want 200 success; log: %s", code, reply, e.lastLine())
	}
}

func (e *env) lastLine() map[string]any {
	lines := notifyLines(e.t, e.logs)
	if len(lines) == 0 {
		return nil
	}
	return lines[len(lines)-1]
}

func checkReply(t testing.TB, code int, ct, body string) {
	t.Helper()
	if ct != "text/plain" {
		t.Errorf("Content-Type %q, want text/plain", ct)
	}
	if code == http.StatusOK {
		if body != "success" || len(body) != 7 {
			t.Errorf("200 reply %q (%d bytes), want exactly success", body, len(body))
		}
		return
	}
	if body != "fail" {
		t.Errorf("status %d reply %q, want fail", code, body)
	}
}

// signNotice is the body of params signed with key as Alipay signs notifications, in
// the charset params["charset"] names (sandbox.SignNotification).
func signNotice(t testing.TB, key *alipay.PrivateKey, params map[string]string) []byte {
	t.Helper()
	n, err := sandbox.SignNotification(key, params, params["charset"])
	if err != nil {
		t.Fatal(err)
	}
	return []byte(n.Body)
}

// replaceParam swaps one raw key=value segment of a form body, leaving the signature.
func replaceParam(t testing.TB, body []byte, key, value string) []byte {
	t.Helper()
	segs := strings.Split(string(body), "&")
	found := false
	for i, s := range segs {
		if strings.HasPrefix(s, key+"=") {
			seg, err := sandbox.EncodeNotification(map[string]string{key: value}, "utf-8")
			if err != nil {
				t.Fatal(err)
			}
			segs[i] = string(seg)
			found = true
		}
	}
	if !found {
		t.Fatalf("no %s in body", key)
	}
	return []byte(strings.Join(segs, "&"))
}

// Fixtures.

func seedAppPay(t testing.TB, s orders.Store, outTradeNo, amount string, agreement ...string) {
	t.Helper()
	o := &orders.AppPayOrder{
		OutTradeNo:  outTradeNo,
		Owner:       "app-user-1",
		ParamsHash:  "hash-" + outTradeNo,
		TotalAmount: alipay.MustAmount(amount),
		Subject:     "大乐透",
		ProductCode: "QUICK_MSECURITY_PAY",
		OrderStr:    "app_id=" + testAppID + "&out_trade_no=" + outTradeNo,
		CreatedAt:   testNow.Add(-time.Hour),
	}
	if len(agreement) == 3 {
		o.ExternalAgreementNo, o.PersonalProductCode, o.SignScene = agreement[0], agreement[1], agreement[2]
	}
	if res, _, err := s.CreateAppPayOrder(context.Background(), o); err != nil || res != orders.Created {
		t.Fatalf("seed app-pay order %s: %v %v", outTradeNo, res, err)
	}
}

// seedPreAuth creates a pre-auth order whose voucher outRequestNo was issued (CODE_ISSUED).
func seedPreAuth(t testing.TB, s orders.Store, outOrderNo, outRequestNo, amount, payee string) {
	t.Helper()
	ctx := context.Background()
	b := orders.VoucherBegin{
		OutOrderNo: outOrderNo, OutRequestNo: outRequestNo, Owner: "cashier-1",
		OrderHash: "oh-" + outOrderNo, RequestHash: "rh-" + outRequestNo,
		Amount: alipay.MustAmount(amount), OrderTitle: "押金", PayeeUserID: payee,
		Now: testNow.Add(-time.Hour), LeaseUntil: testNow.Add(-time.Hour + time.Minute),
	}
	res, err := s.BeginVoucher(ctx, b)
	if err != nil || res.Outcome != orders.VoucherAcquired {
		t.Fatalf("seed voucher %s: %v %v", outOrderNo, res.Outcome, err)
	}
	err = s.CompleteVoucher(ctx, outOrderNo, outRequestNo, res.Token, orders.VoucherOutcome{
		State: orders.RequestIssued, CodeType: "qrCode", CodeValue: "https://qr.alipay.com/test", Now: testNow.Add(-time.Hour),
	})
	if err != nil {
		t.Fatalf("seed voucher outcome %s: %v", outOrderNo, err)
	}
}

func appPayOrder(t testing.TB, s orders.Store, id string) *orders.AppPayOrder {
	t.Helper()
	o, err := s.GetAppPayOrder(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func preAuthOrder(t testing.TB, s orders.Store, id string) *orders.PreAuthOrder {
	t.Helper()
	o, err := s.GetPreAuthOrder(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func agreementOf(t testing.TB, s orders.Store, id string) *orders.Agreement {
	t.Helper()
	a, err := s.GetAgreement(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// tradeParams is an app-pay trade notice for order outTradeNo.
func tradeParams(outTradeNo, notifyID string, status alipay.TradeStatus, amount string) map[string]string {
	p := map[string]string{
		"notify_type": "trade_status_sync", "notify_id": notifyID, "notify_time": "2025-06-01 12:00:11",
		"app_id": testAppID, "auth_app_id": testAppID, "charset": "utf-8", "version": "1.0",
		"trade_no": "2025060122001422520500000001", "out_trade_no": outTradeNo,
		"trade_status": string(status), "total_amount": amount, "receipt_amount": amount,
		"buyer_id": "2088102122524333", "buyer_logon_id": "159****5620",
		"seller_id": testSeller, "seller_email": "mer***@example.com",
		"subject": "大乐透 2.1", "gmt_create": "2025-06-01 12:00:05",
	}
	if status == alipay.TradeStatusSuccess || status == alipay.TradeStatusFinished {
		p["gmt_payment"] = "2025-06-01 12:00:10"
	}
	if status == alipay.TradeStatusClosed {
		p["gmt_close"] = "2025-06-01 12:30:00"
	}
	return p
}

// fundParams is a fund-auth notice; totals are freeze/unfreeze/pay, rest derived.
func fundParams(notifyID, opID, outRequestNo string, op alipay.FundAuthOperationType, status alipay.FundAuthStatus, amount string, freeze, unfreeze, pay alipay.Amount) map[string]string {
	return map[string]string{
		"notify_type": "fund_auth_freeze", "notify_id": notifyID, "notify_time": "2025-06-01 12:01:05",
		"app_id": testAppID, "auth_app_id": testAppID, "charset": "utf-8", "version": "1.0",
		"auth_no": "2025060110002001550500000001", "out_order_no": "PA-ORDER-1",
		"operation_id": opID, "out_request_no": outRequestNo,
		"operation_type": string(op), "amount": amount, "status": string(status),
		"gmt_create": "2025-06-01 12:00:00", "gmt_trans": "2025-06-01 12:01:00",
		"payer_user_id": "2088102000275885", "payee_user_id": testSeller,
		"total_freeze_amount": freeze.String(), "total_unfreeze_amount": unfreeze.String(),
		"total_pay_amount": pay.String(), "rest_amount": (freeze - unfreeze - pay).String(),
	}
}

// agreementParams is a dut_user_sign / dut_user_unsign notice for test20190701.
func agreementParams(kind alipay.NotifyKind, notifyID string, status alipay.AgreementStatus) map[string]string {
	p := map[string]string{
		"notify_type": string(kind), "notify_id": notifyID, "notify_time": "2025-06-01 12:00:12",
		"app_id": testAppID, "auth_app_id": testAppID, "charset": "utf-8", "version": "1.0",
		"agreement_no": "20255301000000000001", "external_agreement_no": "test20190701",
		"alipay_user_id": "2088102122524333", "alipay_logon_id": "159****5620",
		"personal_product_code": "CYCLE_PAY_AUTH_P", "sign_scene": "INDUSTRY|DIGITAL_MEDIA",
		"status": string(status), "sign_time": "2025-06-01 12:00:10", "valid_time": "2025-06-01 12:00:10",
		"invalid_time": "2115-02-01 00:00:00",
	}
	if status == alipay.AgreementStatusUnsign {
		p["unsign_time"] = "2025-07-01 08:00:00"
	}
	return p
}
