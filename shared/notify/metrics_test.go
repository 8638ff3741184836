package notify

import (
	"bytes"
	"testing"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
	"github.com/alipay-serverless/alipay-serverless/shared/metrics"
)

// TestNotificationsEmitOutcomeAndForgeryMetrics: each notification emits one outcome
// metric; a refusal also its reason, and a signature that does not verify the forgery
// metric the alarm watches (docs/design.md, "Metrics and alarms").
func TestNotificationsEmitOutcomeAndForgeryMetrics(t *testing.T) {
	var out bytes.Buffer
	metrics.SetDefault(metrics.New(&out))
	t.Cleanup(func() { metrics.SetDefault(nil) })
	e := newEnv(t)
	seedAppPay(t, e.store, tradeID, "9.00")
	genuine := trade("N1", alipay.TradeStatusSuccess)(e)
	e.mustSucceed(genuine)
	e.mustSucceed(genuine)
	forged := signNotice(t, e.keys.appPriv, tradeParams(tradeID, "N9", alipay.TradeStatusSuccess, "9.00"))
	if code, _ := e.post(formCT, forged); code != 400 {
		t.Fatalf("forged: status %d", code)
	}
	got := map[string]float64{}
	for _, l := range metrics.Parse(out.Bytes()) {
		if l.Space != metrics.Namespace {
			t.Fatalf("namespace %q", l.Space)
		}
		key := l.Name
		for _, d := range []string{"Outcome", "Reason"} {
			if v := l.Dims[d]; v != "" {
				key += "/" + v
			}
		}
		got[key] += l.Value
	}
	want := map[string]float64{
		"Notifications/applied": 1, "Notifications/duplicate": 1, "Notifications/rejected": 1,
		"NotificationsRejected/signature": 1, "ForgedNotifications": 1,
	}
	if len(got) != len(want) {
		t.Fatalf("emitted %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v (all: %v)", k, got[k], v, got)
		}
	}
}
