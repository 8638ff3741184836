package perf

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
	"github.com/alipay-serverless/alipay-serverless/shared/orders"
	"github.com/alipay-serverless/alipay-serverless/shared/preauth"
)

// These tests keep the benchmarks honest: each fixture does the work its benchmark
// claims to time, and the floors use the inputs of their paths.

func TestOrderStrPathRepliesWithASignedOrderStrPerOrder(t *testing.T) {
	fn := appPayFunction(t)
	appPub := privateKey(t, "app_private_pkcs1.pem").Public()
	seen := map[string]bool{}
	for i, body := range appPayBodies(3) {
		s, err := orderStrOf(fn(context.Background(), appPayEvent(body)))
		if err != nil {
			t.Fatalf("op %d: %v", i, err)
		}
		p, err := alipay.VerifyOrderString(s, appPub)
		if err != nil {
			t.Fatalf("op %d: order_str does not verify: %v", i, err)
		}
		var biz struct {
			OutTradeNo string `json:"out_trade_no"`
		}
		if err := json.Unmarshal([]byte(p["biz_content"]), &biz); err != nil || seen[biz.OutTradeNo] {
			t.Fatalf("op %d: out_trade_no %q reused or unreadable (%v)", i, biz.OutTradeNo, err)
		}
		seen[biz.OutTradeNo] = true
	}
}

func TestSignFloorContentIsAnOrderStrSignContent(t *testing.T) {
	c := string(signFloorContent(t))
	for _, want := range []string{"app_id=" + testAppID + "&", "method=alipay.trade.app.pay", `"out_trade_no":"PERF0000000000"`, "sign_type=RSA2"} {
		if !strings.Contains(c, want) {
			t.Errorf("floor content lacks %s: %s", want, c)
		}
	}
}

func TestNotifyPathAppliesEveryNoticeExactlyOnce(t *testing.T) {
	const n = 3
	fn, store := notifyFunction(t, n)
	bodies := notices(t, n)
	// Every notice once, then the first again: a redelivery is acknowledged, not reapplied.
	for i, b := range append(bodies, bodies[0]) {
		resp, err := fn(context.Background(), notifyEvent(b))
		if err != nil || resp.StatusCode != http.StatusOK || resp.Body != alipay.NotifySuccessReply {
			t.Fatalf("delivery %d: %d %v %q", i, resp.StatusCode, err, resp.Body)
		}
	}
	for i := range n {
		o, err := store.GetAppPayOrder(context.Background(), noticeOrderID(i))
		if err != nil {
			t.Fatal(err)
		}
		if o.Status != orders.TradeSuccess || len(o.NotifyIDs) != 1 {
			t.Errorf("order %d: status %s, %d receipts; want TRADE_SUCCESS once", i, o.Status, len(o.NotifyIDs))
		}
	}
}

func TestVerifyFloorInputIsAGenuineNotificationSignature(t *testing.T) {
	content, sig := verifyFloorInput(t)
	pub := privateKey(t, "alipay_private_pkcs1.pem").Public()
	if err := pub.Verify(content, base64.StdEncoding.EncodeToString(sig)); err != nil {
		t.Fatalf("floor input does not verify: %v", err)
	}
	if !strings.Contains(string(content), "notify_type=trade_status_sync") {
		t.Fatalf("floor content is not a trade notice: %s", content)
	}
}

func TestVoucherPathIssuesOneVoucherPerOrder(t *testing.T) {
	fn := voucherFunction(t)
	codes := map[string]bool{}
	for i := range 2 {
		resp, err := fn(context.Background(), voucherEvent(voucherBody(i)))
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("op %d: %d %v %s", i, resp.StatusCode, err, resp.Body)
		}
		var v preauth.Voucher
		if err := json.Unmarshal([]byte(resp.Body), &v); err != nil || v.Status != preauth.StatusCodeIssued || v.CodeValue == "" || codes[v.CodeValue] {
			t.Fatalf("op %d: reply %s (%v)", i, resp.Body, err)
		}
		codes[v.CodeValue] = true
	}
}
