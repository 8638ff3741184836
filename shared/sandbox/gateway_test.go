package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
)

func TestVoucherCreate(t *testing.T) {
	e := newEnv(t, nil)
	biz := voucherBiz("PA0001", "PA0001R1", "押金 deposit", "100.00")

	r, err := e.execute(t, alipay.MethodVoucherCreate, biz, alipay.CallOptions{NotifyURL: "http://127.0.0.1:1/notify"})
	if err != nil {
		t.Fatalf("voucher create: %v", err)
	}
	n := nodeOf(t, r)

	t.Run("reply_carries_the_voucher", func(t *testing.T) {
		if n["out_order_no"] != "PA0001" || n["out_request_no"] != "PA0001R1" || n["code_type"] != "qrCode" {
			t.Fatalf("node %v", n)
		}
		if !strings.HasPrefix(n["code_value"], "https://qr.alipay.com/sim") || !strings.Contains(n["code_url"], "sim") {
			t.Fatalf("code_value %q code_url %q", n["code_value"], n["code_url"])
		}
	})
	t.Run("raw_reply_escapes_slashes_and_verifies_with_the_simulator_key", func(t *testing.T) {
		raw := e.capture.lastBody()
		if !bytes.Contains(raw, []byte(`"code_value":"https:\/\/qr.alipay.com\/sim`)) {
			t.Fatalf("raw reply lacks \\/ escaping: %s", raw)
		}
		if bytes.Contains(raw, []byte(`https://`)) {
			t.Fatalf("raw reply has an unescaped slash: %s", raw)
		}
		sr, err := alipay.ExtractSignedNode(raw, alipay.MethodVoucherCreate)
		if err != nil {
			t.Fatal(err)
		}
		// The signature covers the escaped bytes themselves, not an unescaped variant.
		if err := e.sim.AlipayPublicKey().Verify(sr.Source, sr.Sign); err != nil {
			t.Fatalf("node bytes do not verify: %v", err)
		}
		if !bytes.HasPrefix(raw, []byte(`{"alipay_fund_auth_order_voucher_create_response":{"code":"10000","msg":"Success",`)) {
			t.Fatalf("reply shape: %s", raw)
		}
	})
	t.Run("reply_does_not_verify_with_another_key", func(t *testing.T) {
		other := &alipay.Credentials{AppID: testAppID, PrivateKey: testKeys().app, AlipayPublicKey: testKeys().other.Public()}
		if _, err := alipay.VerifyReply(e.capture.lastBody(), alipay.MethodVoucherCreate, other); !errors.Is(err, alipay.ErrBadSignature) {
			t.Fatalf("want ErrBadSignature, got %v", err)
		}
	})
	t.Run("identical_retry_replays_the_same_code", func(t *testing.T) {
		r2, err := e.execute(t, alipay.MethodVoucherCreate, biz, alipay.CallOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := nodeOf(t, r2)["code_value"]; got != n["code_value"] {
			t.Fatalf("code_value %q, first %q", got, n["code_value"])
		}
	})
}

func TestVoucherCreateIdempotencyRules(t *testing.T) {
	e := newEnv(t, nil)
	first, err := e.execute(t, alipay.MethodVoucherCreate, voucherBiz("PA0002", "R1", "押金", "10.00"), alipay.CallOptions{})
	if err != nil {
		t.Fatal(err)
	}
	firstCode := nodeOf(t, first)["code_value"]

	t.Run("same_request_no_other_params_is_unique_violation", func(t *testing.T) {
		_, err := e.execute(t, alipay.MethodVoucherCreate, voucherBiz("PA0002", "R1", "押金", "11.00"), alipay.CallOptions{})
		if be := asBusiness(t, err); be.Code != "40004" || be.SubCode != "UNIQUE_VIOLATION" {
			t.Fatalf("got %+v", be)
		}
	})
	t.Run("new_request_no_other_order_params_is_unique_violation", func(t *testing.T) {
		_, err := e.execute(t, alipay.MethodVoucherCreate, voucherBiz("PA0002", "R2", "other title", "10.00"), alipay.CallOptions{})
		if be := asBusiness(t, err); be.SubCode != "UNIQUE_VIOLATION" {
			t.Fatalf("got %+v", be)
		}
	})
	t.Run("new_request_no_same_order_issues_a_fresh_voucher", func(t *testing.T) {
		r, err := e.execute(t, alipay.MethodVoucherCreate, voucherBiz("PA0002", "R3", "押金", "10.00"), alipay.CallOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if c := nodeOf(t, r)["code_value"]; c == firstCode || c == "" {
			t.Fatalf("code_value %q, first %q", c, firstCode)
		}
	})
	t.Run("new_request_no_after_freeze_is_freeze_already_success", func(t *testing.T) {
		e.mustControl(t, "/sandbox/vouchers/scan", map[string]string{"out_order_no": "PA0002"})
		_, err := e.execute(t, alipay.MethodVoucherCreate, voucherBiz("PA0002", "R4", "押金", "10.00"), alipay.CallOptions{})
		if be := asBusiness(t, err); be.SubCode != "FREEZE_ALREADY_SUCCESS" {
			t.Fatalf("got %+v", be)
		}
	})
	t.Run("invalid_biz_content_is_illegal_argument_naming_the_field", func(t *testing.T) {
		_, err := e.execute(t, alipay.MethodVoucherCreate, voucherBiz("PA0003", "R1", "押金", "0.001"), alipay.CallOptions{})
		be := asBusiness(t, err)
		if be.SubCode != "ILLEGAL_ARGUMENT" || !strings.Contains(be.SubMsg, "amount") {
			t.Fatalf("got %+v", be)
		}
	})
	t.Run("unknown_biz_field_is_illegal_argument", func(t *testing.T) {
		_, err := e.execute(t, alipay.MethodVoucherCreate, `{"out_order_no":"PA0004","out_request_no":"R1","order_title":"t","amount":"1.00","bogus":"x"}`, alipay.CallOptions{})
		if be := asBusiness(t, err); be.SubCode != "ILLEGAL_ARGUMENT" || !strings.Contains(be.SubMsg, "bogus") {
			t.Fatalf("got %+v", be)
		}
	})
}

func TestVoucherCreateConcurrentIdenticalRequestsGetOneVoucher(t *testing.T) {
	e := newEnv(t, nil)
	biz := voucherBiz("PA0100", "R1", "并发", "1.00")
	const n = 12
	codes := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			r, err := e.client.Execute(ctx, e.creds, alipay.MethodVoucherCreate, biz, alipay.CallOptions{})
			if err == nil {
				var m map[string]string
				err = json.Unmarshal(r.Node, &m)
				codes[i] = m["code_value"]
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("call %d: %v", i, errs[i])
		}
		if codes[i] != codes[0] {
			t.Fatalf("call %d got %q, call 0 got %q", i, codes[i], codes[0])
		}
	}
}

func TestGatewayRejectsBadCommonParams(t *testing.T) {
	e := newEnv(t, nil)
	k := testKeys()
	biz := voucherBiz("PA0200", "R1", "t", "1.00")

	// build returns signed params; edit changes them before (or after) signing.
	build := func(t *testing.T, before, after func(p map[string]string)) map[string]string {
		t.Helper()
		p, err := alipay.BuildRequest(e.creds, alipay.MethodVoucherCreate, biz, alipay.RequestOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if before != nil {
			before(p)
			if err := alipay.SignParams(k.app, p); err != nil {
				t.Fatal(err)
			}
		}
		if after != nil {
			after(p)
		}
		return p
	}
	cases := []struct {
		name          string
		before, after func(p map[string]string)
		code, subCode string
	}{
		{name: "missing_sign_is_isv_missing_signature", after: func(p map[string]string) { delete(p, "sign") },
			code: "40001", subCode: "isv.missing-signature"},
		{name: "missing_app_id_is_isv_missing_app_id", after: func(p map[string]string) { delete(p, "app_id") },
			code: "40001", subCode: "isv.missing-app-id"},
		{name: "missing_method_is_isv_missing_method", before: func(p map[string]string) { delete(p, "method") },
			code: "40001", subCode: "isv.missing-method"},
		{name: "missing_timestamp_is_isv_missing_timestamp", before: func(p map[string]string) { delete(p, "timestamp") },
			code: "40001", subCode: "isv.missing-timestamp"},
		{name: "missing_version_is_isv_missing_version", before: func(p map[string]string) { delete(p, "version") },
			code: "40001", subCode: "isv.missing-version"},
		{name: "missing_sign_type_is_isv_missing_signature_type", before: func(p map[string]string) { delete(p, "sign_type") },
			code: "40001", subCode: "isv.missing-signature-type"},
		{name: "other_app_id_is_isv_invalid_app_id", before: func(p map[string]string) { p["app_id"] = "2021000000000999" },
			code: "40002", subCode: "isv.invalid-app-id"},
		{name: "unknown_method_is_isv_invalid_method", before: func(p map[string]string) { p["method"] = "alipay.trade.cancel" },
			code: "40002", subCode: "isv.invalid-method"},
		{name: "app_pay_through_the_gateway_is_isv_invalid_method", before: func(p map[string]string) { p["method"] = alipay.MethodTradeAppPay },
			code: "40002", subCode: "isv.invalid-method"},
		{name: "rsa1_is_isv_invalid_signature_type", before: func(p map[string]string) { p["sign_type"] = "RSA" },
			code: "40002", subCode: "isv.invalid-signature-type"},
		{name: "gbk_is_isv_invalid_charset", before: func(p map[string]string) { p["charset"] = "GBK" },
			code: "40002", subCode: "isv.invalid-charset"},
		{name: "xml_format_is_isv_invalid_format", before: func(p map[string]string) { p["format"] = "XML" },
			code: "40002", subCode: "isv.invalid-format"},
		{name: "json_format_is_accepted_in_any_case", before: func(p map[string]string) { p["format"] = "json" },
			code: "10000"},
		{name: "utc_wall_clock_timestamp_is_isv_invalid_timestamp", before: func(p map[string]string) {
			p["timestamp"] = time.Now().UTC().Format(alipay.TimestampLayout)
		}, code: "40002", subCode: "isv.invalid-timestamp"},
		{name: "timestamp_with_milliseconds_is_isv_invalid_timestamp", before: func(p map[string]string) {
			p["timestamp"] = alipay.FormatTimestamp(time.Now()) + ".000"
		}, code: "40002", subCode: "isv.invalid-timestamp"},
		{name: "relative_notify_url_is_isv_invalid_parameter", before: func(p map[string]string) { p["notify_url"] = "/notify" },
			code: "40002", subCode: "isv.invalid-parameter"},
		{name: "app_auth_token_is_not_simulated", before: func(p map[string]string) { p["app_auth_token"] = "tok" },
			code: "20001", subCode: "aop.invalid-app-auth-token"},
		{name: "aes_is_not_simulated", before: func(p map[string]string) { p["encrypt_type"] = "AES" },
			code: "40002", subCode: "isv.invalid-encrypt"},
		{name: "value_changed_after_signing_is_isv_invalid_signature", after: func(p map[string]string) {
			p["biz_content"] = strings.Replace(p["biz_content"], "1.00", "9.00", 1)
		}, code: "40002", subCode: "isv.invalid-signature"},
		{name: "blank_value_added_after_signing_still_verifies", after: func(p map[string]string) { p["notify_url"] = " " },
			code: "10000"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := build(t, c.before, c.after)
			query, body := alipay.EncodeRequest(p)
			raw := post(t, e.gatewayURL()+"?"+query, body)
			method := p["method"]
			if method == "" {
				method = alipay.MethodVoucherCreate
			}
			r, err := alipay.VerifyReply(raw, method, e.creds)
			if err != nil {
				t.Fatalf("reply does not verify: %v\n%s", err, raw)
			}
			if r.Code != c.code || r.SubCode != c.subCode {
				t.Fatalf("code %s sub_code %s, want %s %s (%s)", r.Code, r.SubCode, c.code, c.subCode, r.SubMsg)
			}
			if c.code != "10000" && !bytes.HasPrefix(raw, []byte(`{"error_response":{`)) {
				t.Fatalf("gateway error not in error_response: %s", raw)
			}
		})
	}

	t.Run("parameter_in_query_and_body_is_refused", func(t *testing.T) {
		p := build(t, nil, nil)
		query, body := alipay.EncodeRequest(p)
		raw := post(t, e.gatewayURL()+"?"+query+"&biz_content=x", body)
		r, err := alipay.VerifyReply(raw, alipay.MethodVoucherCreate, e.creds)
		if err != nil || r.SubCode != "isv.invalid-parameter" {
			t.Fatalf("got %+v, %v", r, err)
		}
	})
	t.Run("all_params_in_the_body_are_accepted", func(t *testing.T) {
		p := build(t, nil, nil)
		q, b := alipay.EncodeRequest(p)
		raw := post(t, e.gatewayURL(), q+"&"+b)
		if r, err := alipay.VerifyReply(raw, alipay.MethodVoucherCreate, e.creds); err != nil || r.Code != "10000" {
			t.Fatalf("got %+v, %v: %s", r, err, raw)
		}
	})
}

func TestGatewayWrongKeyIsInvalidSignatureWithSignContent(t *testing.T) {
	e := newEnv(t, nil)
	wrong := &alipay.Credentials{AppID: testAppID, PrivateKey: testKeys().other, AlipayPublicKey: e.sim.AlipayPublicKey()}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	biz := voucherBiz("PA0300", "R1", "t", "1.00")
	_, err := e.client.Execute(ctx, wrong, alipay.MethodVoucherCreate, biz, alipay.CallOptions{})
	be := asBusiness(t, err)
	if be.Code != "40002" || be.SubCode != "isv.invalid-signature" || !be.Configuration() {
		t.Fatalf("got %+v", be)
	}
	// The sub_msg shows the content the gateway verified, as Alipay's does.
	if !strings.HasPrefix(be.SubMsg, invalidSignaturePrefix+"app_id="+testAppID+"&biz_content="+biz+"&charset=utf-8&method=") {
		t.Fatalf("sub_msg %q", be.SubMsg)
	}
	if !strings.Contains(be.SubMsg, "&sign_type=RSA2&timestamp=") {
		t.Fatalf("sign content must include sign_type: %q", be.SubMsg)
	}
}

func TestGatewayClientClockOffIsInvalidTimestamp(t *testing.T) {
	e := newEnv(t, nil)
	late := alipay.NewClient(e.gatewayURL(), alipay.WithClock(func() time.Time { return time.Now().Add(-20 * time.Minute) }))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := late.Execute(ctx, e.creds, alipay.MethodVoucherCreate, voucherBiz("PA0400", "R1", "t", "1.00"), alipay.CallOptions{})
	if be := asBusiness(t, err); be.SubCode != "isv.invalid-timestamp" {
		t.Fatalf("got %+v", be)
	}
	within := alipay.NewClient(e.gatewayURL(), alipay.WithClock(func() time.Time { return time.Now().Add(14 * time.Minute) }))
	if _, err := within.Execute(ctx, e.creds, alipay.MethodVoucherCreate, voucherBiz("PA0400", "R1", "t", "1.00"), alipay.CallOptions{}); err != nil {
		t.Fatalf("14 minutes ahead must be accepted: %v", err)
	}
}

func TestGatewayHTTPLevel(t *testing.T) {
	e := newEnv(t, nil)
	t.Run("get_is_method_not_allowed", func(t *testing.T) {
		resp, err := http.Get(e.gatewayURL())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
	t.Run("oversized_body_is_413", func(t *testing.T) {
		resp, err := http.Post(e.gatewayURL(), "application/x-www-form-urlencoded", strings.NewReader("biz_content="+strings.Repeat("x", maxGatewayBody)))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
	t.Run("json_body_is_invalid_parameter", func(t *testing.T) {
		resp, err := http.Post(e.gatewayURL(), "application/json", strings.NewReader(`{"a":1}`))
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		r, err := alipay.VerifyReply(raw, alipay.MethodVoucherCreate, e.creds)
		if err != nil || r.SubCode != "isv.invalid-parameter" {
			t.Fatalf("got %+v, %v", r, err)
		}
	})
	t.Run("unknown_sandbox_path_is_404_json", func(t *testing.T) {
		resp, err := http.Get(e.srv.URL + "/sandbox/nope")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound || resp.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("status %d type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	})
	t.Run("index_lists_the_endpoints", func(t *testing.T) {
		resp, err := http.Get(e.srv.URL + "/sandbox/")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !bytes.Contains(b, []byte("/sandbox/orders/pay")) || !bytes.Contains(b, []byte(testAppID)) {
			t.Fatalf("status %d: %s", resp.StatusCode, b)
		}
	})
}

// post sends a form body to url and returns the raw reply.
func post(t *testing.T, url, body string) []byte {
	t.Helper()
	resp, err := http.Post(url, "application/x-www-form-urlencoded;charset=utf-8", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, raw)
	}
	return raw
}
