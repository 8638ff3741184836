package orders

import (
	"errors"
	"testing"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
)

// What a trade.query answer says of a payment we asked for (a capture, a charge): only a
// paid trade of our amount is a success, only a closed one a failure; the rest is unknown.
func TestPaymentOutcomeFromTradeQuery(t *testing.T) {
	q := func(status alipay.TradeStatus, total string) *alipay.TradeQueryResult {
		return &alipay.TradeQueryResult{TradeNo: "2026T1", OutTradeNo: "C1", TradeStatus: string(status), TotalAmount: total, SendPayDate: "2026-12-07 20:00:00"}
	}
	tests := []struct {
		name    string
		q       *alipay.TradeQueryResult
		want    OpState
		unknown bool
	}{
		{"paid_our_amount_succeeded", q(alipay.TradeStatusSuccess, "30.00"), OpSucceeded, false},
		{"finished_our_amount_succeeded", q(alipay.TradeStatusFinished, "30.00"), OpSucceeded, false},
		{"paid_another_amount_is_not_ours", q(alipay.TradeStatusSuccess, "0.01"), "", true},
		{"paid_unreadable_amount_is_unknown", q(alipay.TradeStatusSuccess, "thirty"), "", true},
		{"closed_failed", q(alipay.TradeStatusClosed, "30.00"), OpFailed, false},
		{"waiting_is_unknown_never_absent", q(alipay.TradeStatusWaitBuyerPay, "30.00"), "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := PaymentOutcome(tt.q, 3000, map[string]string{ResultAuthConfirmMode: "COMPLETE", "empty": ""})
			if tt.unknown {
				if out != nil || !errors.Is(err, alipay.ErrUnknownOutcome) {
					t.Fatalf("PaymentOutcome = %+v, %v; want an unknown outcome", out, err)
				}
				return
			}
			if err != nil || out == nil || out.State != tt.want {
				t.Fatalf("PaymentOutcome = %+v, %v; want %s", out, err, tt.want)
			}
			if tt.want == OpSucceeded {
				r := out.Result
				if r[ResultTradeNo] != "2026T1" || r["gmt_payment"] == "" || r[ResultAuthConfirmMode] != "COMPLETE" {
					t.Errorf("result %v", r)
				}
				if _, ok := r["empty"]; ok {
					t.Errorf("empty field kept: %v", r)
				}
			}
		})
	}
}
