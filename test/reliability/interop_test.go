package reliability

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
	"github.com/alipay-serverless/alipay-serverless/shared/httpapi"
	"github.com/alipay-serverless/alipay-serverless/shared/sandbox"
	"github.com/alipay-serverless/alipay-serverless/test/harness/nodeoracle"
)

// orderGen makes app-pay orders whose text fields carry what breaks naive encoders:
// CJK, astral emoji and ZWJ sequences, and the form metacharacters + % and escapes of
// & = (no field Alipay echoes may hold a raw & or =; passback_params is URL-encoded).
type orderGen struct {
	r   *rand.Rand
	seq int
}

func newOrderGen(seed uint64) *orderGen {
	return &orderGen{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

var (
	genWords   = []string{"测试商品", "押金", "会员月卡", "咖啡", "北京", "上海", "支付宝", "Deluxe", "café", "naïve", "№7", "Ω"}
	genEmoji   = []string{"☕", "🧧", "🎉", "👨‍👩‍👧", "🇨🇳", "😀", "🍜"}
	genSubject = []string{"+", "%", "%2B", "%E4%B8%AD", " + ", "100%", "a+b", "~", "!", "(1)", "#"}
	genBody    = []string{"%26sign%3Dforged", "%26", "%3D", "+", "%", "k:%E4%B8%AD+1", "?x-1;y-2", "100%"}
	// genPassback is URL-encoded, as Alipay requires of passback_params.
	genPassback = []string{"a%3Db%26c%3Dd", "%26sign%3Dforged", "%26", "%3D", "+", "%25", "k%3D%E4%B8%AD%2B1", "%3Fx%3D1%26y%3D2"}
)

func (g *orderGen) pick(from []string) string { return from[g.r.IntN(len(from))] }

// text joins n pieces from the word list and the extra lists.
func (g *orderGen) text(n int, extra ...[]string) string {
	var b strings.Builder
	for i := range n {
		if i > 0 && g.r.IntN(3) == 0 {
			b.WriteByte(' ')
		}
		switch g.r.IntN(3) {
		case 0:
			b.WriteString(g.pick(genWords))
		case 1:
			b.WriteString(g.pick(genEmoji))
		default:
			b.WriteString(g.pick(extra[g.r.IntN(len(extra))]))
		}
	}
	return strings.TrimSpace(b.String())
}

// appPay returns the JSON body of one app-pay create.
func (g *orderGen) appPay(prefix string, now time.Time) map[string]any {
	g.seq++
	biz := map[string]any{
		"out_trade_no": fmt.Sprintf("%s%04d_%06d", prefix, g.seq, g.r.IntN(1_000_000)),
		"total_amount": alipay.Amount(100 + g.r.Int64N(5_000_000)).String(),
		"subject":      g.text(1+g.r.IntN(6), genSubject),
		"product_code": alipay.ProductCodeQuickMSecurityPay,
	}
	if g.r.IntN(4) != 0 {
		biz["body"] = g.text(1+g.r.IntN(4), genBody, genSubject)
	}
	if g.r.IntN(4) != 0 {
		biz["passback_params"] = g.text(1+g.r.IntN(8), genPassback)
	}
	switch g.r.IntN(4) {
	case 0:
		biz["timeout_express"] = "30m"
	case 1:
		biz["time_expire"] = alipay.FormatTimestamp(now.Add(2 * time.Hour))
	}
	if g.r.IntN(6) == 0 {
		biz["product_code"] = alipay.ProductCodeCyclePayAuth
		biz["agreement_sign_params"] = map[string]any{
			"product_code":          alipay.ProductCodeGeneralWithholding,
			"personal_product_code": "CYCLE_PAY_AUTH_P",
			"sign_scene":            "INDUSTRY|DIGITAL_MEDIA",
			"access_params":         map[string]any{"channel": alipay.ChannelAlipayApp},
			"period_rule_params": map[string]any{
				"period_type":   alipay.PeriodTypeDay,
				"period":        7,
				"execute_time":  now.In(alipay.ChinaTime).AddDate(0, 0, 1).Format("2006-01-02"),
				"single_amount": "9.90",
			},
		}
	}
	return biz
}

// TestInteropRunningAppPayOrderStrsVerifyWithNodeSDK: every orderStr the running apppay
// handler returns verifies with the official SDK's check under the app public key, and
// the SDK decodes exactly the subject, body, passback_params, notify_url and app_id we
// were given; an identical retry returns the same bytes; one changed character is
// rejected by the SDK (the check can fail).
func TestInteropRunningAppPayOrderStrsVerifyWithNodeSDK(t *testing.T) {
	o := nodeoracle.Start(t)
	s := newStack(t, stackOptions{})
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	g := newOrderGen(seed)
	n := scale(60, 600)
	var verified, replays, tampered, agreements int
	for i := range n {
		biz := g.appPay("IOP", time.Now())
		if _, ok := biz["agreement_sign_params"]; ok {
			agreements++
		}
		orderStr := s.createAppPay(t, biz)
		chk, err := o.CheckOrderStr(orderStr)
		if err != nil {
			t.Fatalf("order %d: %v", i, err)
		}
		if !chk.Verified {
			t.Errorf("order %d: the SDK rejects the orderStr of %v:\n%s", i, biz["out_trade_no"], orderStr)
			continue
		}
		verified++
		checkDecoded(t, i, s, biz, chk.Params)

		if i%5 == 0 { // an identical retry replays the stored orderStr byte for byte
			r := s.post(t, "/v1/app-pay/orders", biz)
			var v struct {
				OrderStr string `json:"order_str"`
			}
			_ = json.Unmarshal(r.Body, &v)
			if r.Status != http.StatusOK || r.Header.Get("Idempotent-Replayed") != "true" || v.OrderStr != orderStr {
				t.Errorf("order %d: retry got %d replayed=%q, same orderStr %v", i, r.Status, r.Header.Get("Idempotent-Replayed"), v.OrderStr == orderStr)
			}
			replays++
		}
		if i%4 == 0 { // one character of the signed subject changed
			vals := url.Values{}
			for k, v := range chk.Params {
				vals.Set(k, v)
			}
			vals.Set("biz_content", strings.Replace(vals.Get("biz_content"), `"subject":"`, `"subject":"x`, 1))
			bad, err := o.CheckOrderStr(vals.Encode())
			if err != nil {
				t.Fatal(err)
			}
			if bad.Verified {
				t.Errorf("order %d: the SDK verifies a tampered orderStr", i)
			}
			tampered++
		}
	}
	if verified != n {
		t.Errorf("%d of %d orderStrs verified by the SDK", verified, n)
	}
	t.Logf("%d orderStrs from the running handler verified by alipay-sdk %s (%d pay-and-sign); %d identical retries replayed the same bytes; %d tampered copies rejected",
		verified, o.SDKVersion, agreements, replays, tampered)
}

// checkDecoded compares what the SDK decoded from an orderStr with the request.
func checkDecoded(t *testing.T, i int, s *stack, biz map[string]any, p map[string]string) {
	t.Helper()
	var got map[string]any
	if err := json.Unmarshal([]byte(p["biz_content"]), &got); err != nil {
		t.Errorf("order %d: biz_content the SDK decoded is not JSON: %v", i, err)
		return
	}
	for _, k := range []string{"out_trade_no", "total_amount", "subject", "body", "passback_params", "product_code", "timeout_express", "time_expire"} {
		if want, ok := biz[k]; ok && got[k] != want {
			t.Errorf("order %d: SDK decodes %s %q, sent %q", i, k, got[k], want)
		}
	}
	if _, ok := biz["agreement_sign_params"]; ok && got["agreement_sign_params"] == nil {
		t.Errorf("order %d: agreement_sign_params lost", i)
	}
	want := map[string]string{
		"app_id": testAppID, "method": "alipay.trade.app.pay", "charset": "utf-8",
		"sign_type": "RSA2", "version": "1.0", "notify_url": s.URL + httpapi.NotifyPath,
	}
	for k, v := range want {
		if p[k] != v {
			t.Errorf("order %d: SDK decodes %s %q, want %q", i, k, p[k], v)
		}
	}
}

// recorder keeps every raw gateway reply with the method it answered.
type recorder struct {
	mu      sync.Mutex
	replies []recorded
	inner   http.RoundTripper
}

type recorded struct {
	method string
	raw    []byte
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.inner.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(b))
	r.mu.Lock()
	r.replies = append(r.replies, recorded{method: req.URL.Query().Get("method"), raw: b})
	r.mu.Unlock()
	return resp, nil
}

// TestInteropSimulatorRepliesVerifyWithNodeSDK: the simulator's signed gateway replies
// (voucher.create issued, replayed, refused, 20000, SYSTEM_ERROR; detail.query INIT,
// SUCCESS, not found; trade.query not found, paid, refunded, finished; error_response for
// a bad request signature) pass the official SDK's reply check, so the simulator is
// faithful to Alipay's signing, not only consistent with our client; its SIM_BAD_SIGN
// replies are rejected by both.
func TestInteropSimulatorRepliesVerifyWithNodeSDK(t *testing.T) {
	o := nodeoracle.Start(t)
	sink := sinkServer(t)
	s := newStack(t, stackOptions{notifyURL: sink.URL + httpapi.NotifyPath})
	rec := &recorder{inner: http.DefaultTransport}
	gw := alipay.NewClient(s.SimURL+sandbox.GatewayPath, alipay.WithHTTPClient(&http.Client{Transport: rec, Timeout: 10 * time.Second}))
	creds := testCredentials(t)
	ctx := t.Context()
	call := func(method string, biz any, opts alipay.CallOptions) error {
		b, err := json.Marshal(biz)
		if err != nil {
			t.Fatal(err)
		}
		_, err = gw.Execute(ctx, creds, method, string(b), opts)
		return err
	}
	const (
		voucherCreate = "alipay.fund.auth.order.voucher.create"
		detailQuery   = "alipay.fund.auth.operation.detail.query"
		tradeQuery    = "alipay.trade.query"
	)
	notifyURL := sink.URL + "/v1/notify/alipay?src=a/b"
	badSign := map[int]bool{} // indexes of replies that must not verify
	wrong := *creds
	wrong.PrivateKey = newRandomKey(t, "interop wrong app key")
	g := newOrderGen(7)
	n := scale(8, 60)
	for i := range n {
		ord := fmt.Sprintf("IOP-V%03d", i)
		title := []string{"押金 ☕ " + ord, "Deposit/押金 " + ord, "SIM_20000 " + ord, "SIM_SYSTEM_ERROR " + ord}[i%4]
		v := map[string]any{"out_order_no": ord, "out_request_no": ord + "-R1", "order_title": title,
			"amount": alipay.Amount(100 + i).String(), "product_code": alipay.ProductCodePreAuth}
		_ = call(voucherCreate, v, alipay.CallOptions{NotifyURL: notifyURL})
		if err := call(voucherCreate, v, alipay.CallOptions{NotifyURL: notifyURL}); err != nil {
			t.Fatalf("voucher %s retry: %v", ord, err)
		}
		_ = call(detailQuery, map[string]string{"out_order_no": ord, "out_request_no": ord + "-R1"}, alipay.CallOptions{})
		s.control(t, "/sandbox/vouchers/scan", map[string]string{"out_order_no": ord}, nil)
		_ = call(detailQuery, map[string]string{"out_order_no": ord, "out_request_no": ord + "-R1"}, alipay.CallOptions{})
		_ = call(detailQuery, map[string]string{"out_order_no": ord + "X", "out_request_no": ord + "-R1"}, alipay.CallOptions{})
		_ = call(voucherCreate, map[string]any{"out_order_no": ord + "B", "out_request_no": ord + "B1", "order_title": "SIM_BIZ_PAYEE_NOT_EXIST",
			"amount": "1.00", "product_code": alipay.ProductCodePreAuth}, alipay.CallOptions{})

		biz := g.appPay("IOPT", time.Now())
		if i%4 == 3 {
			biz["subject"] = "SIM_20000 " + fmt.Sprint(biz["subject"])
		}
		orderStr := s.createAppPay(t, biz)
		_ = call(tradeQuery, map[string]any{"out_trade_no": biz["out_trade_no"]}, alipay.CallOptions{})
		var paid payResult
		s.control(t, "/sandbox/orders/pay", map[string]string{"order_str": orderStr}, &paid)
		_ = call(tradeQuery, map[string]any{"trade_no": paid.TradeNo}, alipay.CallOptions{})
		s.control(t, "/sandbox/orders/refund", map[string]string{"out_trade_no": paid.OutTradeNo, "refund_fee": "0.01"}, nil)
		_ = call(tradeQuery, map[string]any{"out_trade_no": paid.OutTradeNo}, alipay.CallOptions{})
		s.control(t, "/sandbox/orders/finish", map[string]string{"out_trade_no": paid.OutTradeNo}, nil)
		_ = call(tradeQuery, map[string]any{"out_trade_no": paid.OutTradeNo}, alipay.CallOptions{})

		if i%2 == 0 { // a request signed with a key the simulator does not know: error_response
			b, _ := json.Marshal(map[string]any{"out_trade_no": paid.OutTradeNo})
			if _, err := gw.Execute(ctx, &wrong, tradeQuery, string(b), alipay.CallOptions{}); err == nil {
				t.Fatal("a request signed with an unknown key succeeded")
			}
		}
		rec.mu.Lock()
		start := len(rec.replies)
		rec.mu.Unlock()
		err := call(voucherCreate, map[string]any{"out_order_no": ord + "S", "out_request_no": ord + "S1", "order_title": "SIM_BAD_SIGN",
			"amount": "2.00", "product_code": alipay.ProductCodePreAuth}, alipay.CallOptions{})
		if !errors.Is(err, alipay.ErrUnknownOutcome) {
			t.Fatalf("SIM_BAD_SIGN reply: %v", err)
		}
		badSign[start] = true
	}

	rec.mu.Lock()
	replies := append([]recorded(nil), rec.replies...)
	rec.mu.Unlock()
	byNode := map[string]int{}
	var ok, rejected int
	for i, r := range replies {
		node := alipay.ResponseNodeName(r.method)
		if bytes.Contains(r.raw, []byte(`"error_response"`)) {
			node = "error_response"
		}
		verdict, err := o.CheckResponse(string(r.raw), node)
		if err != nil {
			t.Fatal(err)
		}
		_, ourErr := alipay.VerifyReply(r.raw, r.method, creds)
		ourOK := !errors.Is(ourErr, alipay.ErrBadSignature)
		switch {
		case badSign[i]:
			if verdict == "ok" || ourOK {
				t.Errorf("reply %d (SIM_BAD_SIGN): SDK %q, ours verified %v; both must reject", i, verdict, ourOK)
			}
			rejected++
		case verdict != "ok":
			t.Errorf("reply %d (%s): the SDK rejects the simulator's reply: %s\n%s", i, node, verdict, r.raw)
		case !ourOK:
			t.Errorf("reply %d (%s): we reject a reply the SDK verifies: %v", i, node, ourErr)
		default:
			ok++
			code := replyCode(r.raw, node)
			byNode[node+" "+code]++
		}
	}
	for _, want := range []string{
		"alipay_fund_auth_order_voucher_create_response 10000", "alipay_fund_auth_order_voucher_create_response 40004",
		"alipay_fund_auth_order_voucher_create_response 20000", "alipay_fund_auth_operation_detail_query_response 10000",
		"alipay_fund_auth_operation_detail_query_response 40004", "alipay_trade_query_response 10000",
		"alipay_trade_query_response 40004", "alipay_trade_query_response 20000", "error_response 40002",
	} {
		if byNode[want] == 0 {
			t.Errorf("no verified reply of kind %q", want)
		}
	}
	t.Logf("%d simulator replies verified by alipay-sdk %s (%v); %d SIM_BAD_SIGN replies rejected by both", ok, o.SDKVersion, byNode, rejected)
}

// replyCode reads node.code from a raw reply.
func replyCode(raw []byte, node string) string {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return "?"
	}
	var n struct {
		Code string `json:"code"`
	}
	_ = json.Unmarshal(m[node], &n)
	return n.Code
}
