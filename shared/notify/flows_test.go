package notify

import (
	"net/http"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
	"github.com/alipay-serverless/alipay-serverless/shared/orders"
)

func (e *env) sign(p map[string]string) []byte { return signNotice(e.t, e.keys.alipayPriv, p) }

// step is one delivery of a flow and what it must come to.
type step struct {
	name   string
	body   func(e *env) []byte
	status int
	result orders.ApplyResult // for 200 replies
	field  string             // for 409 replies: the failed check
	// changes: a refused step that records something (a paid-amount mismatch); the
	// test's check says what.
	changes bool
}

// runSteps delivers each step and checks reply and logged result. A rejected step must
// leave the seeded records unchanged.
func runSteps(t *testing.T, e *env, steps []step, snap func() any) {
	t.Helper()
	for i, s := range steps {
		before := snap()
		code, _ := e.post(formCT, s.body(e))
		line := e.lastLine()
		if code != s.status {
			t.Fatalf("step %d %s: status %d, want %d; log %v", i+1, s.name, code, s.status, line)
		}
		if s.status == http.StatusOK && line["result"] != string(s.result) {
			t.Fatalf("step %d %s: result %v, want %s", i+1, s.name, line["result"], s.result)
		}
		if s.field != "" && line["field"] != s.field {
			t.Fatalf("step %d %s: failed check %v, want %s", i+1, s.name, line["field"], s.field)
		}
		if (s.status != http.StatusOK || s.result != orders.Applied) && !s.changes && !reflect.DeepEqual(before, snap()) {
			t.Fatalf("step %d %s: state changed by a %d/%s notice", i+1, s.name, s.status, s.result)
		}
	}
}

func with(p map[string]string, kv ...string) map[string]string {
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			delete(p, kv[i])
		} else {
			p[kv[i]] = kv[i+1]
		}
	}
	return p
}

const tradeID = "AP-20250601-0001"

func trade(notifyID string, status alipay.TradeStatus, kv ...string) func(*env) []byte {
	return func(e *env) []byte { return e.sign(with(tradeParams(tradeID, notifyID, status, "9.00"), kv...)) }
}

func TestAppPayNotificationFlows(t *testing.T) {
	paidAt := time.Date(2025, 6, 1, 12, 0, 10, 0, alipay.ChinaTime)
	tests := []struct {
		name  string
		opts  []Option
		steps []step
		check func(t *testing.T, o *orders.AppPayOrder)
	}{
		{
			name: "created_success_finished_moves_forward",
			steps: []step{
				{name: "success", body: trade("N1", alipay.TradeStatusSuccess), status: 200, result: orders.Applied},
				{name: "finished", body: trade("N2", alipay.TradeStatusFinished), status: 200, result: orders.Applied},
			},
			check: func(t *testing.T, o *orders.AppPayOrder) {
				if o.Status != orders.TradeFinished || !o.PaidAt.Equal(paidAt) || !slices.Equal(o.NotifyIDs, []string{"N1", "N2"}) {
					t.Errorf("order %s paid %v receipts %v", o.Status, o.PaidAt, o.NotifyIDs)
				}
			},
		},
		{
			name: "wait_buyer_pay_then_success",
			steps: []step{
				{name: "wait", body: trade("N0", alipay.TradeStatusWaitBuyerPay), status: 200, result: orders.Applied},
				{name: "success", body: trade("N1", alipay.TradeStatusSuccess), status: 200, result: orders.Applied},
			},
			check: func(t *testing.T, o *orders.AppPayOrder) {
				if o.Status != orders.TradeSuccess || !o.PaidAt.Equal(paidAt) {
					t.Errorf("order %s paid %v", o.Status, o.PaidAt)
				}
			},
		},
		{
			name: "duplicate_delivery_is_acknowledged_and_applied_once",
			steps: []step{
				{name: "first", body: trade("N1", alipay.TradeStatusSuccess), status: 200, result: orders.Applied},
				{name: "resend", body: trade("N1", alipay.TradeStatusSuccess), status: 200, result: orders.Duplicate},
				{name: "resend_again", body: trade("N1", alipay.TradeStatusSuccess), status: 200, result: orders.Duplicate},
			},
			check: func(t *testing.T, o *orders.AppPayOrder) {
				if o.Status != orders.TradeSuccess || !slices.Equal(o.NotifyIDs, []string{"N1"}) {
					t.Errorf("order %s receipts %v", o.Status, o.NotifyIDs)
				}
			},
		},
		{
			name: "finished_before_success_keeps_finished_and_records_payment",
			steps: []step{
				{name: "finished", body: trade("N2", alipay.TradeStatusFinished), status: 200, result: orders.Applied},
				{name: "late_success", body: trade("N1", alipay.TradeStatusSuccess), status: 200, result: orders.Stale},
			},
			check: func(t *testing.T, o *orders.AppPayOrder) {
				if o.Status != orders.TradeFinished || !o.PaidAt.Equal(paidAt) || o.TradeNo == "" {
					t.Errorf("order %s paid %v trade_no %q", o.Status, o.PaidAt, o.TradeNo)
				}
			},
		},
		{
			name: "closed_after_finished_is_stale",
			steps: []step{
				{name: "finished", body: trade("N2", alipay.TradeStatusFinished), status: 200, result: orders.Applied},
				{name: "closed", body: trade("N3", alipay.TradeStatusClosed), status: 200, result: orders.Stale},
			},
			check: func(t *testing.T, o *orders.AppPayOrder) {
				if o.Status != orders.TradeFinished || !slices.Equal(o.NotifyIDs, []string{"N2"}) {
					t.Errorf("order %s receipts %v", o.Status, o.NotifyIDs)
				}
			},
		},
		{
			name: "partial_refund_is_not_a_second_payment_then_full_refund_closes",
			steps: []step{
				{name: "success", body: trade("N1", alipay.TradeStatusSuccess), status: 200, result: orders.Applied},
				{name: "partial_refund", body: trade("N4", alipay.TradeStatusSuccess,
					"refund_fee", "3.00", "out_biz_no", "RF1", "gmt_refund", "2025-06-02 09:00:00.123", "gmt_payment", "2025-06-02 09:00:00"),
					status: 200, result: orders.Applied},
				{name: "full_refund", body: trade("N5", alipay.TradeStatusClosed, "refund_fee", "9.00", "out_biz_no", "RF2"), status: 200, result: orders.Applied},
			},
			check: func(t *testing.T, o *orders.AppPayOrder) {
				if o.Status != orders.TradeClosed || o.RefundFee != 900 || !o.PaidAt.Equal(paidAt) {
					t.Errorf("order %s refund %s paid %v", o.Status, o.RefundFee, o.PaidAt)
				}
			},
		},
		{
			name: "amount_compares_as_decimal_not_string",
			steps: []step{
				{name: "nine_without_decimals", body: trade("N1", alipay.TradeStatusSuccess, "total_amount", "9"), status: 200, result: orders.Applied},
			},
			check: func(t *testing.T, o *orders.AppPayOrder) {
				if o.Status != orders.TradeSuccess {
					t.Errorf("order %s", o.Status)
				}
			},
		},
		{
			name: "failed_checks_are_409_and_change_nothing",
			opts: []Option{WithSellerID(testSeller)},
			steps: []step{
				{name: "app_id", body: trade("N1", alipay.TradeStatusSuccess, "app_id", "2021000000009999"), status: 409, field: "app_id"},
				{name: "seller", body: trade("N1", alipay.TradeStatusSuccess, "seller_id", "2088000000009999"), status: 409, field: "seller_id"},
				{name: "seller_absent", body: trade("N1", alipay.TradeStatusSuccess, "seller_id", ""), status: 409, field: "seller_id"},
				{name: "refund_over_total", body: trade("N1", alipay.TradeStatusSuccess, "refund_fee", "9.01"), status: 409, field: "refund_fee"},
				{name: "unknown_order", body: func(e *env) []byte {
					return e.sign(tradeParams("AP-NOT-OURS", "N1", alipay.TradeStatusSuccess, "9.00"))
				}, status: 409},
				{name: "genuine", body: trade("N1", alipay.TradeStatusSuccess), status: 200, result: orders.Applied},
				{name: "other_trade_no", body: trade("N2", alipay.TradeStatusFinished, "trade_no", "2025060122001422520500000099"), status: 409, field: "trade_no"},
			},
			check: func(t *testing.T, o *orders.AppPayOrder) {
				if o.Status != orders.TradeSuccess || !slices.Equal(o.NotifyIDs, []string{"N1"}) {
					t.Errorf("order %s receipts %v", o.Status, o.NotifyIDs)
				}
			},
		},
		{
			// A genuinely signed notice of another amount (a tampered app's price, or a
			// notice of another order re-split onto this one) is refused and writes nothing.
			name: "paid_amount_mismatch_is_409_and_changes_nothing",
			steps: []step{
				{name: "amount_one_fen", body: trade("N1", alipay.TradeStatusSuccess, "total_amount", "0.01", "buyer_pay_amount", "0.01"), status: 409, field: "total_amount"},
			},
			check: func(t *testing.T, o *orders.AppPayOrder) {
				if o.Status != orders.TradeCreated || o.PaidAmount != 0 || o.BuyerPayAmount != 0 || len(o.NotifyIDs) != 0 || !o.PaidAt.IsZero() {
					t.Errorf("order %+v", o)
				}
			},
		},
		{
			name: "paid_notice_records_what_was_paid",
			steps: []step{
				{name: "paid", body: trade("N1", alipay.TradeStatusSuccess, "receipt_amount", "8.50", "buyer_pay_amount", "8.00"), status: 200, result: orders.Applied},
			},
			check: func(t *testing.T, o *orders.AppPayOrder) {
				if o.Status != orders.TradeSuccess || o.PaidAmount != alipay.MustAmount("9.00") ||
					o.ReceiptAmount != alipay.MustAmount("8.50") || o.BuyerPayAmount != alipay.MustAmount("8.00") {
					t.Errorf("order %+v", o)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, tt.opts...)
			seedAppPay(t, e.store, tradeID, "9.00")
			runSteps(t, e, tt.steps, func() any { return appPayOrder(t, e.store, tradeID) })
			tt.check(t, appPayOrder(t, e.store, tradeID))
		})
	}
}

const preAuthID = "PA-ORDER-1"

func fund(notifyID, opID, reqNo string, op alipay.FundAuthOperationType, status alipay.FundAuthStatus, amount string, freeze, unfreeze, pay alipay.Amount, kv ...string) func(*env) []byte {
	return func(e *env) []byte {
		return e.sign(with(fundParams(notifyID, opID, reqNo, op, status, amount, freeze, unfreeze, pay), kv...))
	}
}

func TestPreAuthNotificationFlows(t *testing.T) {
	const (
		freeze   = alipay.FundAuthOpFreeze
		pay      = alipay.FundAuthOpPay
		unfreeze = alipay.FundAuthOpUnfreeze
		ok       = alipay.FundAuthStatusSuccess
	)
	type totals struct{ freeze, unfreeze, pay, rest alipay.Amount }
	tests := []struct {
		name   string
		steps  []step
		status orders.PreAuthStatus
		totals totals
		ops    int
	}{
		{
			name: "freeze_pay_unfreeze_finishes_when_rest_is_zero",
			steps: []step{
				{name: "freeze", body: fund("F1", "OP1", "VR-1", freeze, ok, "100.00", 10000, 0, 0), status: 200, result: orders.Applied},
				{name: "freeze_resend", body: fund("F1", "OP1", "VR-1", freeze, ok, "100.00", 10000, 0, 0), status: 200, result: orders.Duplicate},
				{name: "pay", body: fund("F2", "OP2", "PAY-1", pay, ok, "10.00", 10000, 0, 1000), status: 200, result: orders.Applied},
				{name: "unfreeze_rest", body: fund("F3", "OP3", "UF-1", unfreeze, ok, "90.00", 10000, 9000, 1000), status: 200, result: orders.Applied},
			},
			status: orders.PreAuthFinished, totals: totals{10000, 9000, 1000, 0}, ops: 3,
		},
		{
			name: "older_snapshot_after_newer_is_ignored",
			steps: []step{
				{name: "freeze", body: fund("F1", "OP1", "VR-1", freeze, ok, "100.00", 10000, 0, 0), status: 200, result: orders.Applied},
				// The unfreeze notice's snapshot already includes the pay that is notified later.
				{name: "unfreeze_first", body: fund("F3", "OP3", "UF-1", unfreeze, ok, "20.00", 10000, 2000, 1000), status: 200, result: orders.Applied},
				{name: "late_pay_records_operation_only", body: fund("F2", "OP2", "PAY-1", pay, ok, "10.00", 10000, 0, 1000), status: 200, result: orders.Applied},
				{name: "late_freeze_snapshot", body: fund("F1b", "OP1", "VR-1", freeze, ok, "100.00", 10000, 0, 0), status: 200, result: orders.Stale},
			},
			status: orders.PreAuthAuthorized, totals: totals{10000, 2000, 1000, 7000}, ops: 3,
		},
		{
			name: "finished_is_terminal",
			steps: []step{
				{name: "pay_all_first", body: fund("F2", "OP2", "PAY-1", pay, ok, "100.00", 10000, 0, 10000), status: 200, result: orders.Applied},
				{name: "late_freeze", body: fund("F1", "OP1", "VR-1", freeze, ok, "100.00", 10000, 0, 0), status: 200, result: orders.Applied},
				{name: "late_freeze_resend_other_id", body: fund("F1c", "OP1", "VR-1", freeze, ok, "100.00", 10000, 0, 0), status: 200, result: orders.Stale},
			},
			status: orders.PreAuthFinished, totals: totals{10000, 0, 10000, 0}, ops: 2,
		},
		{
			name: "voucher_closed_unpaid_closes_order",
			steps: []step{
				{name: "closed", body: fund("F9", "OP9", "VR-1", freeze, alipay.FundAuthStatusClosed, "100.00", 0, 0, 0), status: 200, result: orders.Applied},
			},
			status: orders.PreAuthClosed, ops: 1,
		},
		{
			name: "failed_checks_are_409_and_change_nothing",
			steps: []step{
				{name: "freeze_amount_not_voucher", body: fund("F1", "OP1", "VR-1", freeze, ok, "99.00", 9900, 0, 0), status: 409, field: "amount"},
				{name: "freeze_unknown_request", body: fund("F1", "OP1", "VR-X", freeze, ok, "100.00", 10000, 0, 0), status: 409, field: "out_request_no"},
				{name: "payee_not_ours", body: fund("F1", "OP1", "VR-1", freeze, ok, "100.00", 10000, 0, 0, "payee_user_id", "2088000000009999"), status: 409, field: "payee_user_id"},
				{name: "rest_inconsistent", body: fund("F1", "OP1", "VR-1", freeze, ok, "100.00", 10000, 0, 0, "rest_amount", "90.00"), status: 409, field: "rest_amount"},
				{name: "freeze_total_over_voucher", body: fund("F1", "OP1", "VR-1", freeze, ok, "100.00", 10000, 0, 0, "total_freeze_amount", "200.00", "rest_amount", "200.00"), status: 409, field: "total_freeze_amount"},
				{name: "app_id", body: fund("F1", "OP1", "VR-1", freeze, ok, "100.00", 10000, 0, 0, "app_id", "2021000000009999"), status: 409, field: "app_id"},
				{name: "unknown_order", body: fund("F1", "OP1", "VR-1", freeze, ok, "100.00", 10000, 0, 0, "out_order_no", "PA-NOT-OURS"), status: 409},
				{name: "without_app_id_or_auth_app_id", body: fund("F1", "OP1", "VR-1", freeze, ok, "100.00", 10000, 0, 0, "app_id", "", "auth_app_id", ""), status: 409, field: "app_id"},
				{name: "auth_app_id_not_ours_without_app_id", body: fund("F1", "OP1", "VR-1", freeze, ok, "100.00", 10000, 0, 0, "app_id", "", "auth_app_id", "2021000000009999"), status: 409, field: "auth_app_id"},
				{name: "auth_app_id_ours_without_app_id", body: fund("F1", "OP1", "VR-1", freeze, ok, "100.00", 10000, 0, 0, "app_id", ""), status: 200, result: orders.Applied},
				{name: "other_auth_no", body: fund("F2", "OP2", "PAY-1", pay, ok, "10.00", 10000, 0, 1000, "auth_no", "2025060110002001550500000099"), status: 409, field: "auth_no"},
			},
			status: orders.PreAuthAuthorized, totals: totals{10000, 0, 0, 10000}, ops: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, WithSellerID(testSeller))
			seedPreAuth(t, e.store, preAuthID, "VR-1", "100.00", testSeller)
			runSteps(t, e, tt.steps, func() any { return preAuthOrder(t, e.store, preAuthID) })
			o := preAuthOrder(t, e.store, preAuthID)
			got := totals{o.TotalFreeze, o.TotalUnfreeze, o.TotalPay, o.Rest}
			if o.Status != tt.status || got != tt.totals || len(o.Operations) != tt.ops {
				t.Errorf("order %s totals %+v ops %d, want %s %+v %d", o.Status, got, len(o.Operations), tt.status, tt.totals, tt.ops)
			}
		})
	}
}

const agreementID = "test20190701"

func agree(kind alipay.NotifyKind, notifyID string, status alipay.AgreementStatus, kv ...string) func(*env) []byte {
	return func(e *env) []byte { return e.sign(with(agreementParams(kind, notifyID, status), kv...)) }
}

func TestAgreementNotificationFlows(t *testing.T) {
	const (
		sign   = alipay.KindAgreementSign
		unsign = alipay.KindAgreementUnsign
	)
	tests := []struct {
		name   string
		steps  []step
		status orders.AgreementStatus
		no     string
	}{
		{
			name: "pay_and_sign_then_unsign",
			steps: []step{
				{name: "sign", body: agree(sign, "D1", alipay.AgreementStatusNormal), status: 200, result: orders.Applied},
				{name: "sign_resend", body: agree(sign, "D1", alipay.AgreementStatusNormal), status: 200, result: orders.Duplicate},
				{name: "unsign", body: agree(unsign, "D2", alipay.AgreementStatusUnsign), status: 200, result: orders.Applied},
				{name: "late_sign_other_id", body: agree(sign, "D1b", alipay.AgreementStatusNormal), status: 200, result: orders.Stale},
			},
			status: orders.AgreementUnsign, no: "20255301000000000001",
		},
		{
			name: "open_id_app_records_open_id",
			steps: []step{
				{name: "sign", body: agree(sign, "D1", alipay.AgreementStatusNormal, "alipay_user_id", "", "alipay_open_id", "074a1CcTG1LelxKe4xQC0zgNdId0nxi95b5lsNpazWYoCo5"), status: 200, result: orders.Applied},
			},
			status: orders.AgreementNormal, no: "20255301000000000001",
		},
		{
			name: "failed_checks_are_409_and_change_nothing",
			steps: []step{
				{name: "sign_scene", body: agree(sign, "D1", alipay.AgreementStatusNormal, "sign_scene", "INDUSTRY|CARRENTAL"), status: 409, field: "sign_scene"},
				{name: "product_code", body: agree(sign, "D1", alipay.AgreementStatusNormal, "personal_product_code", "GENERAL_WITHHOLDING_P"), status: 409, field: "personal_product_code"},
				{name: "product_code_absent", body: agree(sign, "D1", alipay.AgreementStatusNormal, "personal_product_code", ""), status: 409, field: "personal_product_code"},
				{name: "app_id", body: agree(sign, "D1", alipay.AgreementStatusNormal, "app_id", "2021000000009999"), status: 409, field: "app_id"},
				{name: "unknown_agreement", body: agree(sign, "D1", alipay.AgreementStatusNormal, "external_agreement_no", "not-ours"), status: 409},
				{name: "no_external_agreement_no", body: agree(sign, "D1", alipay.AgreementStatusNormal, "external_agreement_no", ""), status: 409},
				{name: "genuine", body: agree(sign, "D1", alipay.AgreementStatusNormal), status: 200, result: orders.Applied},
				{name: "other_agreement_no", body: agree(unsign, "D2", alipay.AgreementStatusUnsign, "agreement_no", "20255301000000000099"), status: 409, field: "agreement_no"},
			},
			status: orders.AgreementNormal, no: "20255301000000000001",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			seedAppPay(t, e.store, tradeID, "0.01", agreementID, "CYCLE_PAY_AUTH_P", "INDUSTRY|DIGITAL_MEDIA")
			runSteps(t, e, tt.steps, func() any { return agreementOf(t, e.store, agreementID) })
			a := agreementOf(t, e.store, agreementID)
			if a.Status != tt.status || a.AgreementNo != tt.no || a.AlipayUserID == "" {
				t.Errorf("agreement %s %q user %q, want %s %s", a.Status, a.AgreementNo, a.AlipayUserID, tt.status, tt.no)
			}
			o := appPayOrder(t, e.store, tradeID)
			if o.AgreementStatus != tt.status || o.AgreementNo != tt.no {
				t.Errorf("order's agreement %s %q", o.AgreementStatus, o.AgreementNo)
			}
			if o.Status != orders.TradeCreated {
				t.Errorf("agreement notices moved the trade to %s", o.Status)
			}
		})
	}
}
