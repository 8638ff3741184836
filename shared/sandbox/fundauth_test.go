package sandbox

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
)

func detailBiz(outOrderNo, outRequestNo string) string {
	return `{"out_order_no":"` + outOrderNo + `","out_request_no":"` + outRequestNo + `"}`
}

func TestVoucherCreateForcedOutcomes(t *testing.T) {
	e := newEnv(t, nil)
	impatient := alipay.NewClient(e.gatewayURL(),
		alipay.WithHTTPClient(&http.Client{Transport: e.capture}), alipay.WithTimeout(300*time.Millisecond))

	cases := []struct {
		name, title string
		client      *alipay.Client
		// business: a definite refusal with this sub_code, nothing recorded.
		business string
		// unknown: checks the *UnknownOutcomeError; the voucher must have been recorded.
		unknown func(t *testing.T, ue *alipay.UnknownOutcomeError, err error)
	}{
		{name: "sim_biz_payee_not_exist_is_a_business_error", title: "押金 SIM_BIZ_PAYEE_NOT_EXIST", business: "PAYEE_NOT_EXIST"},
		{name: "sim_biz_exist_forbidden_word_is_a_business_error", title: "SIM_BIZ_EXIST_FORBIDDEN_WORD x", business: "EXIST_FORBIDDEN_WORD"},
		{name: "sim_20000_is_unknown_with_code_20000", title: "押金 SIM_20000", unknown: func(t *testing.T, ue *alipay.UnknownOutcomeError, _ error) {
			if ue.Code != "20000" || ue.SubCode != "isp.unknow-error" {
				t.Fatalf("got %+v", ue)
			}
		}},
		{name: "sim_system_error_is_unknown_with_system_error", title: "SIM_SYSTEM_ERROR", unknown: func(t *testing.T, ue *alipay.UnknownOutcomeError, _ error) {
			if ue.Code != "40004" || ue.SubCode != "SYSTEM_ERROR" {
				t.Fatalf("got %+v", ue)
			}
		}},
		{name: "sim_timeout_is_unknown_after_the_client_gives_up", title: "SIM_TIMEOUT", client: impatient, unknown: func(t *testing.T, ue *alipay.UnknownOutcomeError, _ error) {
			if ue.Reason != "timeout" {
				t.Fatalf("got %+v", ue)
			}
		}},
		{name: "sim_http500_is_unknown_with_the_status", title: "SIM_HTTP500", unknown: func(t *testing.T, ue *alipay.UnknownOutcomeError, _ error) {
			if !strings.Contains(ue.Reason, "500") {
				t.Fatalf("got %+v", ue)
			}
		}},
		{name: "sim_bad_sign_is_unknown_with_a_bad_signature", title: "SIM_BAD_SIGN", unknown: func(t *testing.T, _ *alipay.UnknownOutcomeError, err error) {
			if !errors.Is(err, alipay.ErrBadSignature) {
				t.Fatalf("got %v", err)
			}
		}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			outOrderNo := "PAMAGIC" + string(rune('A'+i))
			biz := voucherBiz(outOrderNo, "R1", c.title, "5.00")
			cl := c.client
			if cl == nil {
				cl = e.client
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			start := time.Now()
			_, err := cl.Execute(ctx, e.creds, alipay.MethodVoucherCreate, biz, alipay.CallOptions{})
			if time.Since(start) > 4*time.Second {
				t.Fatalf("call took %v; the hold must end when the client gives up", time.Since(start))
			}
			if c.business != "" {
				be := asBusiness(t, err)
				if be.Code != "40004" || be.SubCode != c.business {
					t.Fatalf("got %+v", be)
				}
				// Nothing was recorded: a retry fails the same way and the query knows nothing.
				_, err = e.execute(t, alipay.MethodVoucherCreate, biz, alipay.CallOptions{})
				if be := asBusiness(t, err); be.SubCode != c.business {
					t.Fatalf("retry got %+v", be)
				}
				_, err = e.execute(t, alipay.MethodFundAuthDetailQuery, detailBiz(outOrderNo, "R1"), alipay.CallOptions{})
				if be := asBusiness(t, err); be.SubCode != "AUTH_ORDER_NOT_EXIST" {
					t.Fatalf("detail query got %+v", be)
				}
				return
			}
			if !errors.Is(err, alipay.ErrUnknownOutcome) {
				t.Fatalf("want an unknown outcome, got %T: %v", err, err)
			}
			c.unknown(t, asUnknown(t, err), err)
			lost := e.capture.lastBody()

			// The voucher was created before the reply was lost: the query finds it...
			q, err := e.execute(t, alipay.MethodFundAuthDetailQuery, detailBiz(outOrderNo, "R1"), alipay.CallOptions{})
			if err != nil {
				t.Fatalf("detail query: %v", err)
			}
			if st := nodeOf(t, q)["status"]; st != "INIT" {
				t.Fatalf("status %q", st)
			}
			// ...and the same request gets the normal reply, always with the same code.
			r1, err := e.execute(t, alipay.MethodVoucherCreate, biz, alipay.CallOptions{})
			if err != nil {
				t.Fatalf("retry: %v", err)
			}
			r2, err := e.execute(t, alipay.MethodVoucherCreate, biz, alipay.CallOptions{})
			if err != nil {
				t.Fatalf("second retry: %v", err)
			}
			code := nodeOf(t, r1)["code_value"]
			if code == "" || nodeOf(t, r2)["code_value"] != code {
				t.Fatalf("retries disagree: %q vs %q", code, nodeOf(t, r2)["code_value"])
			}
			if c.title == "SIM_BAD_SIGN" && !bytes.Contains(lost, []byte(strings.ReplaceAll(code, "/", `\/`))) {
				t.Fatalf("the badly signed reply carried another code than the retry %q: %s", code, lost)
			}
		})
	}
}

func TestDetailQueryBeforeAndAfterScan(t *testing.T) {
	e := newEnv(t, nil)
	notify := newSink(t)
	_, err := e.execute(t, alipay.MethodVoucherCreate, voucherBiz("PA0500", "PA0500R1", "押金", "88.80"), alipay.CallOptions{NotifyURL: notify.url()})
	if err != nil {
		t.Fatal(err)
	}

	before, err := e.execute(t, alipay.MethodFundAuthDetailQuery, detailBiz("PA0500", "PA0500R1"), alipay.CallOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b := nodeOf(t, before)
	t.Run("before_scan_the_operation_is_init", func(t *testing.T) {
		if b["status"] != "INIT" || b["order_status"] != "INIT" || b["amount"] != "88.80" ||
			b["total_freeze_amount"] != "0.00" || b["operation_type"] != "FREEZE" || b["auth_no"] == "" || b["operation_id"] == "" {
			t.Fatalf("node %v", b)
		}
		if _, ok := b["gmt_trans"]; ok {
			t.Fatalf("gmt_trans before the freeze: %v", b)
		}
	})

	out := e.mustControl(t, "/sandbox/vouchers/scan", map[string]string{"out_order_no": "PA0500", "buyer": "2088102000275885"})
	e.waitIdle(t)

	t.Run("after_scan_the_operation_is_success_by_alipay_ids", func(t *testing.T) {
		q, err := e.execute(t, alipay.MethodFundAuthDetailQuery, `{"auth_no":"`+b["auth_no"]+`","operation_id":"`+b["operation_id"]+`","out_order_no":"nope","out_request_no":"nope"}`, alipay.CallOptions{})
		if err != nil {
			t.Fatal(err)
		}
		a := nodeOf(t, q)
		if a["status"] != "SUCCESS" || a["order_status"] != "AUTHORIZED" || a["total_freeze_amount"] != "88.80" ||
			a["rest_amount"] != "88.80" || a["payer_user_id"] != "2088102000275885" || a["gmt_trans"] == "" {
			t.Fatalf("node %v", a)
		}
	})
	t.Run("freeze_notification_verifies_and_classifies", func(t *testing.T) {
		got := notify.all()
		if len(got) != 1 {
			t.Fatalf("%d notifications", len(got))
		}
		if got[0].contentType != "application/x-www-form-urlencoded; charset=utf-8" {
			t.Fatalf("Content-Type %q", got[0].contentType)
		}
		n := verified(t, e, got[0])
		if n.Kind() != alipay.KindFundAuth {
			t.Fatalf("kind %s", n.Kind())
		}
		fa, err := n.FundAuth()
		if err != nil {
			t.Fatal(err)
		}
		if fa.AuthNo != b["auth_no"] || fa.OperationID != b["operation_id"] || fa.OutOrderNo != "PA0500" ||
			fa.OutRequestNo != "PA0500R1" || fa.OperationType != alipay.FundAuthOpFreeze || fa.Status != alipay.FundAuthStatusSuccess ||
			fa.Amount != alipay.MustAmount("88.80") || fa.TotalFreezeAmount != alipay.MustAmount("88.80") ||
			fa.AppID != testAppID || fa.PayeeUserID != DefaultSellerID || fa.PayerUserID != "2088102000275885" ||
			fa.GmtTrans.IsZero() || fa.NotifyTime.IsZero() {
			t.Fatalf("notice %+v", fa)
		}
		if err := fa.CheckRest(); err != nil {
			t.Fatal(err)
		}
		if n.Params["charset"] != "utf-8" || n.Params["version"] != "1.0" || n.Params["sign_type"] != "RSA2" {
			t.Fatalf("params %v", n.Params)
		}
		sent := notifications(t, out)
		if len(sent) != 1 || sent[0]["notify_id"] != fa.NotifyID || sent[0]["sign"] != n.Params["sign"] {
			t.Fatalf("control reply %v does not match the delivered notice %v", sent, n.Params)
		}
	})
	t.Run("second_scan_is_refused", func(t *testing.T) {
		status, out := e.control(t, "/sandbox/vouchers/scan", map[string]string{"out_order_no": "PA0500"})
		if status != http.StatusConflict || errorOf(t, out)["code"] != "FREEZE_ALREADY_SUCCESS" {
			t.Fatalf("status %d: %v", status, out)
		}
	})
	t.Run("unknown_operation_is_auth_order_not_exist", func(t *testing.T) {
		_, err := e.execute(t, alipay.MethodFundAuthDetailQuery, detailBiz("PA0500", "R9"), alipay.CallOptions{})
		if be := asBusiness(t, err); be.SubCode != "AUTH_ORDER_NOT_EXIST" {
			t.Fatalf("got %+v", be)
		}
	})
	t.Run("query_without_a_complete_pair_is_illegal_argument", func(t *testing.T) {
		_, err := e.execute(t, alipay.MethodFundAuthDetailQuery, `{"out_order_no":"PA0500"}`, alipay.CallOptions{})
		if be := asBusiness(t, err); be.SubCode != "ILLEGAL_ARGUMENT" {
			t.Fatalf("got %+v", be)
		}
	})
}

func TestVoucherScanAndCloseControls(t *testing.T) {
	// Read by the server's goroutines and moved by the test: atomic.
	var clock atomic.Int64
	clock.Store(time.Date(2025, 6, 1, 4, 0, 0, 0, time.UTC).UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()) }
	e := newEnv(t, func(o *Options) { o.Clock = now })
	e.client = alipay.NewClient(e.gatewayURL(), alipay.WithClock(now))
	notify := newSink(t)
	create := func(outOrderNo, payTimeout string) {
		t.Helper()
		biz := `{"out_order_no":"` + outOrderNo + `","out_request_no":"R1","order_title":"t","amount":"1.00","pay_timeout":"` + payTimeout + `"}`
		if _, err := e.execute(t, alipay.MethodVoucherCreate, biz, alipay.CallOptions{NotifyURL: notify.url()}); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("close_sends_a_closed_notice", func(t *testing.T) {
		create("PA0600", "15m")
		out := e.mustControl(t, "/sandbox/vouchers/close", map[string]string{"out_order_no": "PA0600"})
		e.waitIdle(t)
		got := notify.all()
		n := verified(t, e, got[len(got)-1])
		fa, err := n.FundAuth()
		if err != nil {
			t.Fatal(err)
		}
		if fa.Status != alipay.FundAuthStatusClosed || fa.OutOrderNo != "PA0600" || fa.TotalFreezeAmount != 0 || fa.PayerUserID != "" {
			t.Fatalf("notice %+v", fa)
		}
		if len(notifications(t, out)) != 1 {
			t.Fatalf("reply %v", out)
		}
		q, err := e.execute(t, alipay.MethodFundAuthDetailQuery, detailBiz("PA0600", "R1"), alipay.CallOptions{})
		if err != nil || nodeOf(t, q)["status"] != "CLOSED" || nodeOf(t, q)["order_status"] != "CLOSED" {
			t.Fatalf("query %v, %v", q, err)
		}
	})
	t.Run("closed_voucher_cannot_be_scanned", func(t *testing.T) {
		status, out := e.control(t, "/sandbox/vouchers/scan", map[string]string{"out_order_no": "PA0600"})
		if status != http.StatusConflict || errorOf(t, out)["code"] != "ORDER_ALREADY_CLOSED" {
			t.Fatalf("status %d: %v", status, out)
		}
	})
	t.Run("expired_voucher_cannot_be_scanned", func(t *testing.T) {
		create("PA0601", "1m")
		clock.Add(int64(2 * time.Minute))
		status, out := e.control(t, "/sandbox/vouchers/scan", map[string]string{"out_order_no": "PA0601"})
		if status != http.StatusConflict || errorOf(t, out)["code"] != "VOUCHER_EXPIRED" {
			t.Fatalf("status %d: %v", status, out)
		}
	})
	t.Run("scan_by_code_value", func(t *testing.T) {
		r, err := e.execute(t, alipay.MethodVoucherCreate, voucherBiz("PA0602", "R1", "t", "2.00"), alipay.CallOptions{})
		if err != nil {
			t.Fatal(err)
		}
		out := e.mustControl(t, "/sandbox/vouchers/scan", map[string]string{"code_value": nodeOf(t, r)["code_value"]})
		if out["out_order_no"] != "PA0602" || out["status"] != "SUCCESS" {
			t.Fatalf("reply %v", out)
		}
		// No notify_url was given: the notice is returned but goes nowhere.
		if n := notifications(t, out); len(n) != 1 || n[0]["status"] != "SUCCESS" {
			t.Fatalf("reply %v", out)
		}
	})
	t.Run("bad_control_input_is_400", func(t *testing.T) {
		for _, body := range []any{
			map[string]string{},
			map[string]string{"out_order_no": "PA0602", "buyer": "12345"},
			map[string]string{"out_order_no": "PA0602", "unknown": "x"},
		} {
			status, out := e.control(t, "/sandbox/vouchers/scan", body)
			if status != http.StatusBadRequest || errorOf(t, out)["code"] != "ILLEGAL_ARGUMENT" {
				t.Fatalf("%v: status %d: %v", body, status, out)
			}
		}
		status, _ := e.control(t, "/sandbox/vouchers/close", map[string]string{"out_order_no": "missing"})
		if status != http.StatusNotFound {
			t.Fatalf("close of an unknown order: status %d", status)
		}
	})
}

func TestVoucherCreateBeyondCapacityIsRefused(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.MaxOrders = 2 })
	for i, no := range []string{"PA0701", "PA0702"} {
		if _, err := e.execute(t, alipay.MethodVoucherCreate, voucherBiz(no, "R1", "t", "1.00"), alipay.CallOptions{}); err != nil {
			t.Fatalf("order %d: %v", i, err)
		}
	}
	_, err := e.execute(t, alipay.MethodVoucherCreate, voucherBiz("PA0703", "R1", "t", "1.00"), alipay.CallOptions{})
	if be := asBusiness(t, err); be.SubCode != "SIM_CAPACITY_EXCEEDED" {
		t.Fatalf("got %+v", be)
	}
	// Existing orders still answer.
	if _, err := e.execute(t, alipay.MethodVoucherCreate, voucherBiz("PA0701", "R1", "t", "1.00"), alipay.CallOptions{}); err != nil {
		t.Fatalf("replay at capacity: %v", err)
	}
}
