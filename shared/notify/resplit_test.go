package notify

import (
	"net/http"
	"strings"
	"testing"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
	"github.com/alipay-serverless/alipay-serverless/shared/orders"
	"github.com/alipay-serverless/alipay-serverless/shared/sandbox"
)

// resplitBody is the buyer-chosen `body` of the re-split forgery (finding 1): echoed
// unescaped in the signed content, it holds a second notify_id, notify_time, notify_type
// and out_trade_no, and "p=" which swallows the genuine fields up to the next key.
const resplitBody = "x&notify_id=1&notify_time=2025-06-01 12:00:11&notify_type=trade_status_sync&out_trade_no=RESPLITB&p="

// resplit re-parses the signed content of a genuine notice into another parameter set
// with the same content, hence the same valid signature: the keys the attacker put in
// body, a "p" holding everything up to receipt_amount, then the genuine fields after p.
func resplit(t *testing.T, genuine []byte) []byte {
	t.Helper()
	n, err := alipay.ParseNotification(genuine)
	if err != nil {
		t.Fatal(err)
	}
	content := n.SignContent()
	const head = "&out_trade_no=RESPLITB&p="
	i := strings.Index(content, head)
	j := strings.Index(content, "&receipt_amount=")
	if i < 0 || j < i {
		t.Fatalf("content does not hold the planted fields: %s", content)
	}
	forged := map[string]string{"p": content[i+len(head) : j]}
	for _, kv := range strings.Split(content[:i+len(head)-len("&p=")], "&") {
		k, v, _ := strings.Cut(kv, "=")
		forged[k] = v
	}
	for k, v := range n.Params {
		if k > "p" || k == "sign" || k == "sign_type" {
			forged[k] = v
		}
	}
	if got := alipay.NotifySignContent(forged); got != content {
		t.Fatalf("re-split content differs:\n%s\n%s", got, content)
	}
	body, err := sandbox.EncodeNotification(forged, "utf-8")
	if err != nil {
		t.Fatal(err)
	}
	return body
}

func TestResplitForgeryRefused(t *testing.T) {
	t.Run("body_that_plants_fields_is_refused_at_create", func(t *testing.T) {
		p := &alipay.AppPayParams{OutTradeNo: "RESPLITA", TotalAmount: alipay.MustAmount("9.00"), Subject: "Demo", Body: resplitBody}
		err := p.Validate(testNow)
		fe, ok := alipay.AsFieldError(err)
		if !ok || fe.Field != "body" {
			t.Fatalf("Validate = %v, want a field error on body", err)
		}
	})
	t.Run("genuine_notice_re_split_for_another_order_is_refused", func(t *testing.T) {
		e := newEnv(t, WithSellerID(testSeller))
		seedAppPay(t, e.store, "RESPLITA", "9.00")
		seedAppPay(t, e.store, "RESPLITB", "9.00")
		genuine := e.sign(with(tradeParams("RESPLITA", "genuine-1", alipay.TradeStatusSuccess, "9.00"), "body", resplitBody))
		e.mustSucceed(genuine)
		if a := appPayOrder(t, e.store, "RESPLITA"); a.Status != orders.TradeSuccess {
			t.Fatalf("A = %+v", a)
		}
		before := appPayOrder(t, e.store, "RESPLITB")
		forged := resplit(t, genuine)
		code, reply := e.post(formCT, forged)
		if code != http.StatusConflict || reply != alipay.NotifyFailReply {
			t.Fatalf("forged notice: %d %q, want 409 fail; log %v", code, reply, e.lastLine())
		}
		if line := e.lastLine(); line["field"] != "trade_no" || line["forgery"] != true || line["level"] != "ERROR" {
			t.Fatalf("forgery not logged as such: %v", line)
		}
		after := appPayOrder(t, e.store, "RESPLITB")
		if after.Status != before.Status || after.TradeNo != "" || len(after.NotifyIDs) != 0 {
			t.Fatalf("B changed: %+v", after)
		}
		// The genuine notice for A is still idempotent.
		e.mustSucceed(genuine)
		if line := e.lastLine(); line["result"] != string(orders.Duplicate) {
			t.Fatalf("redelivery result %v, want DUPLICATE", line["result"])
		}
	})
}
