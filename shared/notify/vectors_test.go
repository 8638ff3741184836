package notify

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
	"github.com/alipay-serverless/alipay-serverless/shared/orders"
	"github.com/alipay-serverless/alipay-serverless/test/harness/testkeys"
)

type notifyVector struct {
	Name          string          `json:"name"`
	Kind          string          `json:"kind"`
	ContentType   string          `json:"content_type"`
	Body          string          `json:"body"`
	Params        json.RawMessage `json:"params"` // an array for the duplicate-key case
	Expected      bool            `json:"expected"`
	MerchantOrder *struct {
		AppID       string `json:"app_id"`
		SellerID    string `json:"seller_id"`
		OutTradeNo  string `json:"out_trade_no"`
		TotalAmount string `json:"total_amount"`
	} `json:"merchant_order"`
	BusinessChecksPass *bool  `json:"business_checks_pass"`
	FailedCheck        string `json:"failed_check"`
}

func loadNotifyVectors(t *testing.T) []notifyVector {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testkeys.Dir(t), "vectors", "notify.json"))
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		SuccessReply string         `json:"success_reply"`
		Cases        []notifyVector `json:"cases"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	if f.SuccessReply != alipay.NotifySuccessReply {
		t.Fatalf("vectors' success reply %q, ours %q", f.SuccessReply, alipay.NotifySuccessReply)
	}
	if len(f.Cases) < 20 {
		t.Fatalf("only %d notification vectors", len(f.Cases))
	}
	return f.Cases
}

// snapshot is every record a notification could touch, for "unchanged" checks.
type snapshot struct {
	appPay    *orders.AppPayOrder
	preAuth   *orders.PreAuthOrder
	agreement *orders.Agreement
}

func takeSnapshot(t *testing.T, s orders.Store, tradeNo, orderNo, agreementNo string) snapshot {
	t.Helper()
	var sn snapshot
	if tradeNo != "" {
		sn.appPay = appPayOrder(t, s, tradeNo)
	}
	if orderNo != "" {
		sn.preAuth = preAuthOrder(t, s, orderNo)
	}
	if agreementNo != "" {
		sn.agreement = agreementOf(t, s, agreementNo)
	}
	return sn
}

// TestNotifyVectors posts every vector body with its content type against a memory store
// seeded with the order it is about, and checks reply, status and the stored effect.
func TestNotifyVectors(t *testing.T) {
	for _, vc := range loadNotifyVectors(t) {
		t.Run(vc.Name, func(t *testing.T) {
			var params map[string]string
			if len(vc.Params) > 0 && vc.Params[0] == '{' {
				if err := json.Unmarshal(vc.Params, &params); err != nil {
					t.Fatal(err)
				}
			}
			var opts []Option
			if mo := vc.MerchantOrder; mo != nil {
				if mo.AppID != testAppID {
					t.Fatalf("merchant app_id %s, test credentials use %s", mo.AppID, testAppID)
				}
				opts = append(opts, WithSellerID(mo.SellerID))
			}
			e := newEnv(t, opts...)
			var tradeNo, orderNo, agreementNo string
			switch vc.Kind {
			case string(alipay.KindTradeStatus):
				// Tampered cases have no merchant_order: seed the order they were forged
				// from, so that accepting them would show as a change.
				amount := "9.00"
				tradeNo = "70501111111S001111119"
				if mo := vc.MerchantOrder; mo != nil {
					tradeNo, amount = mo.OutTradeNo, mo.TotalAmount
				}
				seedAppPay(t, e.store, tradeNo, amount)
				if params != nil && params["out_trade_no"] != tradeNo {
					seedAppPay(t, e.store, params["out_trade_no"], amount)
				}
			case string(alipay.KindFundAuth), string(alipay.KindFundAuthUnfreeze):
				// The voucher these notices are about: the FREEZE carries the voucher's
				// out_request_no and amount; PAY/UNFREEZE report the order's total freeze.
				orderNo = params["out_order_no"]
				reqNo, amount := "VR-"+orderNo, params["total_freeze_amount"]
				if params["operation_type"] == "FREEZE" {
					reqNo, amount = params["out_request_no"], params["amount"]
				}
				seedPreAuth(t, e.store, orderNo, reqNo, amount, params["payee_user_id"])
			case string(alipay.KindAgreementSign), string(alipay.KindAgreementUnsign):
				agreementNo = params["external_agreement_no"]
				tradeNo = "PAS-" + agreementNo
				seedAppPay(t, e.store, tradeNo, "0.01", agreementNo, params["personal_product_code"], params["sign_scene"])
			default:
				t.Fatalf("unknown vector kind %q", vc.Kind)
			}
			before := takeSnapshot(t, e.store, tradeNo, orderNo, agreementNo)

			code, _ := e.post(vc.ContentType, []byte(vc.Body))

			want := http.StatusOK
			switch {
			case !vc.Expected:
				want = http.StatusBadRequest
			case vc.BusinessChecksPass != nil && !*vc.BusinessChecksPass:
				want = http.StatusConflict
			case params != nil && (vc.Kind == string(alipay.KindFundAuth) || vc.Kind == string(alipay.KindFundAuthUnfreeze)) && params["app_id"] == "" && params["auth_app_id"] == "":
				// Genuinely signed, but naming no app (the §8.6 seed example): since issue
				// 15 a fund-auth notice must carry app_id or auth_app_id equal to ours.
				want, vc.FailedCheck = http.StatusConflict, "app_id"
			}
			if code != want {
				t.Fatalf("status %d, want %d; log: %v", code, want, e.lastLine())
			}
			line := e.lastLine()
			if vc.FailedCheck != "" && line["field"] != vc.FailedCheck {
				t.Errorf("failed check logged as %v, want %s", line["field"], vc.FailedCheck)
			}
			after := takeSnapshot(t, e.store, tradeNo, orderNo, agreementNo)
			if want != http.StatusOK {
				if !reflect.DeepEqual(before, after) {
					t.Fatalf("state changed by a rejected notice:\nbefore %+v\nafter  %+v", before, after)
				}
				return
			}
			if line["result"] != string(orders.Applied) {
				t.Errorf("result %v, want APPLIED", line["result"])
			}
			checkVectorEffect(t, vc.Kind, params, after)
		})
	}
}

// checkVectorEffect checks the stored state says what the vector's effect says.
func checkVectorEffect(t *testing.T, kind string, p map[string]string, s snapshot) {
	t.Helper()
	switch kind {
	case string(alipay.KindTradeStatus):
		o := s.appPay
		if string(o.Status) != p["trade_status"] || o.TradeNo != p["trade_no"] || o.BuyerID != p["buyer_id"] {
			t.Errorf("order %s trade_no %s buyer %s, want %s %s %s", o.Status, o.TradeNo, o.BuyerID, p["trade_status"], p["trade_no"], p["buyer_id"])
		}
		if !slices.Equal(o.NotifyIDs, []string{p["notify_id"]}) {
			t.Errorf("receipts %v, want [%s]", o.NotifyIDs, p["notify_id"])
		}
		paid := o.Status == orders.TradeSuccess || o.Status == orders.TradeFinished
		if paid {
			gmt, err := alipay.ParseTimestamp(p["gmt_payment"])
			if err != nil || !o.PaidAt.Equal(gmt) {
				t.Errorf("paid at %v, want gmt_payment %v", o.PaidAt, gmt)
			}
		} else if !o.PaidAt.IsZero() {
			t.Errorf("unpaid order records a payment at %v", o.PaidAt)
		}
		var refund alipay.Amount
		if v := p["refund_fee"]; v != "" {
			refund = alipay.MustAmount(v)
		}
		if o.RefundFee != refund {
			t.Errorf("refund fee %s, want %s", o.RefundFee, refund)
		}
	case string(alipay.KindFundAuth), string(alipay.KindFundAuthUnfreeze):
		o := s.preAuth
		freeze, unfreeze := alipay.MustAmount(p["total_freeze_amount"]), alipay.MustAmount(p["total_unfreeze_amount"])
		pay, rest := alipay.MustAmount(p["total_pay_amount"]), alipay.MustAmount(p["rest_amount"])
		if o.TotalFreeze != freeze || o.TotalUnfreeze != unfreeze || o.TotalPay != pay || o.Rest != rest {
			t.Errorf("totals %s/%s/%s/%s, want %s/%s/%s/%s", o.TotalFreeze, o.TotalUnfreeze, o.TotalPay, o.Rest, freeze, unfreeze, pay, rest)
		}
		op, ok := o.Operations[p["operation_id"]]
		if !ok || string(op.Status) != p["status"] || string(op.Type) != p["operation_type"] || op.Amount != alipay.MustAmount(p["amount"]) {
			t.Errorf("operation %+v, want %s %s %s", op, p["operation_type"], p["status"], p["amount"])
		}
		want := orders.PreAuthAuthorized
		switch {
		case p["status"] == "CLOSED":
			want = orders.PreAuthClosed
		case freeze > 0 && rest == 0 && pay > 0:
			want = orders.PreAuthFinished
		case freeze > 0 && rest == 0:
			want = orders.PreAuthClosed // everything unfrozen, nothing captured (L2.2)
		}
		if o.Status != want || o.AuthNo != p["auth_no"] {
			t.Errorf("order %s auth_no %s, want %s %s", o.Status, o.AuthNo, want, p["auth_no"])
		}
	default:
		a := s.agreement
		if string(a.Status) != p["status"] || a.AgreementNo != p["agreement_no"] || a.AlipayUserID != p["alipay_user_id"] {
			t.Errorf("agreement %s %s %s, want %s %s %s", a.Status, a.AgreementNo, a.AlipayUserID, p["status"], p["agreement_no"], p["alipay_user_id"])
		}
		if o := s.appPay; string(o.AgreementStatus) != p["status"] || o.AgreementNo != p["agreement_no"] {
			t.Errorf("order's agreement view %s %s", o.AgreementStatus, o.AgreementNo)
		}
	}
}
