package alipay

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"
)

// bizVectorNow is the fixed timestamp of the reference vectors (China time).
var bizVectorNow = time.Date(2025, 6, 1, 12, 0, 0, 0, ChinaTime)

type bizVectors struct {
	Cases []struct {
		Name       string `json:"name"`
		BizContent string `json:"biz_content"`
	} `json:"cases"`
}

// bizVectorBiz returns the biz_content of the named cases of a vector file; a missing
// case fails the test.
func bizVectorBiz(t *testing.T, file string, names ...string) map[string]string {
	t.Helper()
	var v bizVectors
	loadVectors(t, file, &v)
	out := make(map[string]string, len(names))
	for _, n := range names {
		for _, c := range v.Cases {
			if c.Name == n {
				out[n] = c.BizContent
			}
		}
		if out[n] == "" {
			t.Fatalf("%s: case %s missing", file, n)
		}
	}
	return out
}

// The reference biz_content doubles as a client body: decoding it, validating it and
// serialising it again must give the same bytes.
func TestBizVoucherVectorsRoundTrip(t *testing.T) {
	vectors := bizVectorBiz(t, "vectors/request_sign.json", "voucher_create_seed_example",
		"voucher_create_special_characters", "voucher_create_app_auth_token",
		"empty_values_are_dropped", "voucher_create_cert_mode")
	for name, biz := range vectors {
		t.Run(name, func(t *testing.T) {
			p, err := DecodeVoucherCreate([]byte(biz))
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if err := p.Validate(); err != nil {
				t.Fatalf("validate: %v", err)
			}
			got, err := p.BizContent()
			if err != nil {
				t.Fatal(err)
			}
			if got != biz {
				t.Fatalf("biz_content\n got %s\nwant %s", got, biz)
			}
		})
	}
}

// pay_and_sign_cycle_pay writes period_rule_params.total_amount as "600"; we always
// send two decimals (§1, docs/design.md#http-contract-today), so that one value differs. Everything else,
// including field order, is byte-identical.
func TestBizAppPayVectorsRoundTrip(t *testing.T) {
	vectors := bizVectorBiz(t, "vectors/app_pay_orderstr.json", "basic_quick_msecurity_pay",
		"pay_and_sign_cycle_pay", "encoding_edge_cases", "cert_mode_with_app_auth_token")
	for k, v := range bizVectorBiz(t, "vectors/request_sign.json", "app_pay_with_agreement_sign_params") {
		vectors[k] = v
	}
	twoDecimals := map[string]bool{"pay_and_sign_cycle_pay": true, "app_pay_with_agreement_sign_params": true}
	for name, biz := range vectors {
		t.Run(name, func(t *testing.T) {
			p, err := DecodeAppPay([]byte(biz))
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if err := p.Validate(bizVectorNow); err != nil {
				t.Fatalf("validate: %v", err)
			}
			got, err := p.BizContent()
			if err != nil {
				t.Fatal(err)
			}
			want := biz
			if twoDecimals[name] {
				want = strings.Replace(biz, `"total_amount":"600",`, `"total_amount":"600.00",`, 1)
				if want == biz {
					t.Fatal(`vector no longer holds "total_amount":"600": revisit this test`)
				}
			}
			if got != want {
				t.Fatalf("biz_content\n got %s\nwant %s", got, want)
			}
		})
	}
}

// Seed 000's Java sample writes amount as a JSON number and extra_param as a string;
// a client may also send extra_param as an object. All give the vector's bytes.
func TestBizVoucherSeedInputForms(t *testing.T) {
	want := bizVectorBiz(t, "vectors/request_sign.json", "voucher_create_seed_example")["voucher_create_seed_example"]
	bodies := map[string]string{
		"amount_as_number_extra_param_as_string": `{"out_order_no":"8077735255938023","out_request_no":"8077735255938032","order_title":"预授权发码","amount":100.00,"payee_user_id":"2088102000275795","payee_logon_id":"159****5620","pay_timeout":"2d","extra_param":"{\"merchantExt\":\"value\"}","product_code":"PRE_AUTH"}`,
		"extra_param_as_object_pretty_printed": `{
			"product_code": "PRE_AUTH",
			"extra_param": { "merchantExt" : "value" },
			"out_order_no": "8077735255938023", "out_request_no": "8077735255938032",
			"order_title": "预授权发码", "amount": "100", "payee_user_id": "2088102000275795",
			"payee_logon_id": "159****5620", "pay_timeout": "2d"
		}`,
		"extra_param_string_with_spaces": `{"out_order_no":"8077735255938023","out_request_no":"8077735255938032","order_title":"预授权发码","amount":"100.00","payee_user_id":"2088102000275795","payee_logon_id":"159****5620","pay_timeout":"2d","extra_param":" { \"merchantExt\" : \"value\" } ","product_code":"PRE_AUTH"}`,
	}
	for name, body := range bodies {
		t.Run(name, func(t *testing.T) {
			p, err := DecodeVoucherCreate([]byte(body))
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if err := p.Validate(); err != nil {
				t.Fatalf("validate: %v", err)
			}
			got, _ := p.BizContent()
			if got != want {
				t.Fatalf("biz_content\n got %s\nwant %s", got, want)
			}
		})
	}
}

// bizSeedVoucher is seed 000's example (request_sign.json voucher_create_seed_example).
func bizSeedVoucher() *VoucherCreateParams {
	return &VoucherCreateParams{
		OutOrderNo:   "8077735255938023",
		OutRequestNo: "8077735255938032",
		OrderTitle:   "预授权发码",
		Amount:       MustAmount("100.00"),
		PayeeUserID:  "2088102000275795",
		PayeeLogonID: "159****5620",
		PayTimeout:   "2d",
		ExtraParam:   `{"merchantExt":"value"}`,
		ProductCode:  "PRE_AUTH",
	}
}

// bizCyclePay is the pay_and_sign_cycle_pay example.
func bizCyclePay() *AppPayParams {
	total := MustAmount("600")
	return &AppPayParams{
		OutTradeNo:  "70501111111S001111119",
		TotalAmount: MustAmount("9.00"),
		Subject:     "大乐透 月卡",
		ProductCode: "CYCLE_PAY_AUTH",
		TimeExpire:  "2025-06-01 12:30:00",
		AgreementSignParams: &AgreementSignParams{
			ProductCode:         "GENERAL_WITHHOLDING",
			PersonalProductCode: "CYCLE_PAY_AUTH_P",
			SignScene:           "INDUSTRY|DIGITAL_MEDIA",
			ExternalAgreementNo: "test20190701",
			ExternalLogonID:     "13888888888",
			SignNotifyURL:       "https://merchant.example.com/v1/notify/alipay",
			AccessParams:        AccessParams{Channel: "ALIPAYAPP"},
			PeriodRuleParams: &PeriodRuleParams{
				PeriodType:    "MONTH",
				Period:        1,
				ExecuteTime:   "2025-07-28",
				SingleAmount:  MustAmount("10.99"),
				TotalAmount:   &total,
				TotalPayments: 12,
			},
			EffectTime: "600",
		},
	}
}

func TestBizSeedExamplesValidate(t *testing.T) {
	t.Run("seed_000_voucher_example", func(t *testing.T) {
		if err := bizSeedVoucher().Validate(); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("seed_003_cycle_pay_example_upper_cased", func(t *testing.T) {
		if err := bizCyclePay().Validate(bizVectorNow); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("decoded_vector_equals_struct", func(t *testing.T) {
		biz := bizVectorBiz(t, "vectors/request_sign.json", "voucher_create_seed_example")["voucher_create_seed_example"]
		p, err := DecodeVoucherCreate([]byte(biz))
		if err != nil {
			t.Fatal(err)
		}
		if *p != *bizSeedVoucher() {
			t.Fatalf("decoded %+v", *p)
		}
	})
}

// bizWant is the expected outcome: rule "" means valid.
type bizWant struct{ field, rule string }

func bizCheck(t *testing.T, err error, want bizWant) {
	t.Helper()
	if want.rule == "" {
		if err != nil {
			t.Fatalf("rejected: %v", err)
		}
		return
	}
	fe, ok := AsFieldError(err)
	if !ok {
		t.Fatalf("got %v, want *FieldError %s/%s", err, want.field, want.rule)
	}
	if fe.Field != want.field || fe.Rule != want.rule {
		t.Fatalf("got field %q rule %q (%v), want field %q rule %q", fe.Field, fe.Rule, fe, want.field, want.rule)
	}
}

func TestBizVoucherValidate(t *testing.T) {
	cases := []struct {
		name string
		mut  func(p *VoucherCreateParams)
		want bizWant
	}{
		{"accepts_seed_example", func(*VoucherCreateParams) {}, bizWant{}},
		{"accepts_minimal", func(p *VoucherCreateParams) {
			*p = VoucherCreateParams{OutOrderNo: "A1", OutRequestNo: "R1", OrderTitle: "t", Amount: 1}
		}, bizWant{}},
		{"rejects_missing_out_order_no", func(p *VoucherCreateParams) { p.OutOrderNo = "" }, bizWant{"out_order_no", RuleRequired}},
		{"rejects_out_order_no_with_slash", func(p *VoucherCreateParams) { p.OutOrderNo = "a/b" }, bizWant{"out_order_no", RulePattern}},
		{"rejects_long_out_request_no", func(p *VoucherCreateParams) { p.OutRequestNo = strings.Repeat("1", 65) }, bizWant{"out_request_no", RuleMaxLength}},
		{"rejects_blank_out_request_no", func(p *VoucherCreateParams) { p.OutRequestNo = "  " }, bizWant{"out_request_no", RuleRequired}},
		{"rejects_missing_order_title", func(p *VoucherCreateParams) { p.OrderTitle = "" }, bizWant{"order_title", RuleRequired}},
		{"rejects_whitespace_order_title", func(p *VoucherCreateParams) { p.OrderTitle = "\u3000 " }, bizWant{"order_title", RuleRequired}},
		{"accepts_order_title_of_50_chinese", func(p *VoucherCreateParams) { p.OrderTitle = strings.Repeat("码", 50) }, bizWant{}},
		{"rejects_order_title_of_51_chinese", func(p *VoucherCreateParams) { p.OrderTitle = strings.Repeat("码", 51) }, bizWant{"order_title", RuleWidth}},
		{"rejects_order_title_newline", func(p *VoucherCreateParams) { p.OrderTitle = "a\nb" }, bizWant{"order_title", RuleControlChar}},
		{"rejects_missing_amount", func(p *VoucherCreateParams) { p.Amount = 0 }, bizWant{"amount", RuleRequired}},
		{"rejects_amount_over_maximum", func(p *VoucherCreateParams) { p.Amount = MaxAmount + 1 }, bizWant{"amount", RuleRange}},
		{"accepts_amount_maximum", func(p *VoucherCreateParams) { p.Amount = MaxAmount }, bizWant{}},
		{"rejects_payee_user_id_not_2088", func(p *VoucherCreateParams) { p.PayeeUserID = "1234567890123456" }, bizWant{"payee_user_id", RulePattern}},
		{"accepts_without_payee", func(p *VoucherCreateParams) { p.PayeeUserID, p.PayeeLogonID = "", "" }, bizWant{}},
		{"rejects_long_payee_logon_id", func(p *VoucherCreateParams) { p.PayeeLogonID = strings.Repeat("a", 101) }, bizWant{"payee_logon_id", RuleMaxLength}},
		{"rejects_blank_payee_logon_id", func(p *VoucherCreateParams) { p.PayeeLogonID = " " }, bizWant{"payee_logon_id", RuleBlank}},
		{"rejects_payee_logon_id_with_ampersand", func(p *VoucherCreateParams) { p.PayeeLogonID = "a&b@example.com" }, bizWant{"payee_logon_id", RuleForbiddenChars}},
		{"rejects_payee_logon_id_with_equals", func(p *VoucherCreateParams) { p.PayeeLogonID = "a=b@example.com" }, bizWant{"payee_logon_id", RuleForbiddenChars}},
		{"rejects_pay_timeout_decimal", func(p *VoucherCreateParams) { p.PayTimeout = "1.5h" }, bizWant{"pay_timeout", RulePattern}},
		{"rejects_pay_timeout_over_15d", func(p *VoucherCreateParams) { p.PayTimeout = "16d" }, bizWant{"pay_timeout", RuleRange}},
		{"rejects_pay_timeout_six_chars", func(p *VoucherCreateParams) { p.PayTimeout = "21600m" }, bizWant{"pay_timeout", RuleMaxLength}},
		{"rejects_extra_param_not_object", func(p *VoucherCreateParams) { p.ExtraParam = `["a"]` }, bizWant{"extra_param", RuleFormat}},
		{"rejects_extra_param_not_compact", func(p *VoucherCreateParams) { p.ExtraParam = `{"a": 1}` }, bizWant{"extra_param", RuleFormat}},
		{"accepts_extra_param_of_300_chars", func(p *VoucherCreateParams) {
			p.ExtraParam = `{"k":"` + strings.Repeat("x", 300-len(`{"k":""}`)) + `"}`
		}, bizWant{}},
		{"rejects_extra_param_of_301_chars", func(p *VoucherCreateParams) {
			p.ExtraParam = `{"k":"` + strings.Repeat("x", 301-len(`{"k":""}`)) + `"}`
		}, bizWant{"extra_param", RuleMaxLength}},
		{"rejects_lowercase_product_code", func(p *VoucherCreateParams) { p.ProductCode = "pre_auth" }, bizWant{"product_code", RuleEnum}},
		{"rejects_other_product_code", func(p *VoucherCreateParams) { p.ProductCode = "QUICK_MSECURITY_PAY" }, bizWant{"product_code", RuleEnum}},
		{"reports_first_field_in_struct_order", func(p *VoucherCreateParams) { p.ProductCode = "x"; p.OutOrderNo = "" }, bizWant{"out_order_no", RuleRequired}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := bizSeedVoucher()
			tc.mut(p)
			bizCheck(t, p.Validate(), tc.want)
		})
	}
}

func TestBizAppPayValidate(t *testing.T) {
	now := bizVectorNow // 2025-06-01 12:00:00 China
	cases := []struct {
		name string
		mut  func(p *AppPayParams)
		want bizWant
	}{
		{"accepts_cycle_pay_example", func(*AppPayParams) {}, bizWant{}},
		{"accepts_plain_app_pay", func(p *AppPayParams) {
			p.ProductCode, p.AgreementSignParams = "QUICK_MSECURITY_PAY", nil
		}, bizWant{}},
		{"accepts_without_product_code", func(p *AppPayParams) { p.ProductCode, p.AgreementSignParams = "", nil }, bizWant{}},
		{"rejects_missing_out_trade_no", func(p *AppPayParams) { p.OutTradeNo = "" }, bizWant{"out_trade_no", RuleRequired}},
		{"rejects_out_trade_no_with_dash", func(p *AppPayParams) { p.OutTradeNo = "A-1" }, bizWant{"out_trade_no", RulePattern}},
		{"rejects_missing_total_amount", func(p *AppPayParams) { p.TotalAmount = 0 }, bizWant{"total_amount", RuleRequired}},
		{"rejects_total_amount_over_maximum", func(p *AppPayParams) { p.TotalAmount = MaxAmount + 1 }, bizWant{"total_amount", RuleRange}},
		{"rejects_missing_subject", func(p *AppPayParams) { p.Subject = "" }, bizWant{"subject", RuleRequired}},
		{"rejects_blank_subject", func(p *AppPayParams) { p.Subject = "   " }, bizWant{"subject", RuleRequired}},
		{"rejects_subject_with_ampersand", func(p *AppPayParams) { p.Subject = "A&B" }, bizWant{"subject", RuleForbiddenChars}},
		{"rejects_subject_with_slash", func(p *AppPayParams) { p.Subject = "1/2" }, bizWant{"subject", RuleForbiddenChars}},
		{"rejects_subject_with_equals", func(p *AppPayParams) { p.Subject = "a=b" }, bizWant{"subject", RuleForbiddenChars}},
		{"rejects_lowercase_product_code", func(p *AppPayParams) { p.ProductCode = "quick_msecurity_pay" }, bizWant{"product_code", RuleEnum}},
		{"rejects_unknown_product_code", func(p *AppPayParams) { p.ProductCode = "FAST_INSTANT_TRADE_PAY" }, bizWant{"product_code", RuleEnum}},
		{"rejects_long_body", func(p *AppPayParams) { p.Body = strings.Repeat("b", 129) }, bizWant{"body", RuleMaxLength}},
		{"rejects_body_control_char", func(p *AppPayParams) { p.Body = "a\x00" }, bizWant{"body", RuleControlChar}},
		{"rejects_long_passback_params", func(p *AppPayParams) { p.PassbackParams = strings.Repeat("p", 513) }, bizWant{"passback_params", RuleMaxLength}},
		// Echoed fields (the re-split forgery): no raw '&' or '=', passback_params URL-encoded.
		{"rejects_body_with_ampersand", func(p *AppPayParams) { p.Body = "x&out_trade_no" }, bizWant{"body", RuleForbiddenChars}},
		{"rejects_body_with_equals", func(p *AppPayParams) { p.Body = "a=b" }, bizWant{"body", RuleForbiddenChars}},
		{"rejects_body_planting_notify_fields", func(p *AppPayParams) {
			p.Body = "x&notify_id=1&notify_time=2025-06-01 12:00:11&notify_type=trade_status_sync&out_trade_no=B&p="
		}, bizWant{"body", RuleForbiddenChars}},
		{"accepts_body_with_percent_and_slash", func(p *AppPayParams) { p.Body = "50% off / 2 items" }, bizWant{}},
		{"accepts_url_encoded_passback_params", func(p *AppPayParams) {
			p.PassbackParams = "merchantBizType%3D3C%26merchantBizNo%3D2016010101111"
		}, bizWant{}},
		{"rejects_passback_params_with_raw_ampersand", func(p *AppPayParams) { p.PassbackParams = "a%3D1&b" }, bizWant{"passback_params", RuleForbiddenChars}},
		{"rejects_passback_params_with_raw_equals", func(p *AppPayParams) { p.PassbackParams = "merchantBizType=3C" }, bizWant{"passback_params", RuleForbiddenChars}},
		{"rejects_passback_params_bare_percent", func(p *AppPayParams) { p.PassbackParams = "100%" }, bizWant{"passback_params", RuleFormat}},
		{"rejects_passback_params_bad_escape", func(p *AppPayParams) { p.PassbackParams = "a%zz" }, bizWant{"passback_params", RuleFormat}},
		{"rejects_passback_params_truncated_escape", func(p *AppPayParams) { p.PassbackParams = "a%3" }, bizWant{"passback_params", RuleFormat}},
		{"rejects_external_logon_id_with_ampersand", func(p *AppPayParams) { p.AgreementSignParams.ExternalLogonID = "a&b" },
			bizWant{"agreement_sign_params.external_logon_id", RuleForbiddenChars}},
		{"rejects_external_logon_id_with_equals", func(p *AppPayParams) { p.AgreementSignParams.ExternalLogonID = "a=b" },
			bizWant{"agreement_sign_params.external_logon_id", RuleForbiddenChars}},
		{"accepts_timeout_express_instead_of_time_expire", func(p *AppPayParams) { p.TimeExpire, p.TimeoutExpress = "", "90m" }, bizWant{}},
		{"accepts_timeout_express_today", func(p *AppPayParams) { p.TimeExpire, p.TimeoutExpress = "", "1c" }, bizWant{}},
		{"rejects_timeout_express_decimal", func(p *AppPayParams) { p.TimeExpire, p.TimeoutExpress = "", "1.5h" }, bizWant{"timeout_express", RulePattern}},
		{"rejects_timeout_express_over_15d", func(p *AppPayParams) { p.TimeExpire, p.TimeoutExpress = "", "16d" }, bizWant{"timeout_express", RuleRange}},
		{"rejects_time_expire_and_timeout_express", func(p *AppPayParams) { p.TimeoutExpress = "90m" }, bizWant{"time_expire", RuleConflict}},
		{"rejects_time_expire_in_past", func(p *AppPayParams) { p.TimeExpire = "2025-06-01 11:59:59" }, bizWant{"time_expire", RuleFuture}},
		{"rejects_time_expire_now", func(p *AppPayParams) { p.TimeExpire = "2025-06-01 12:00:00" }, bizWant{"time_expire", RuleFuture}},
		{"rejects_time_expire_bad_format", func(p *AppPayParams) { p.TimeExpire = "2025-06-01T12:30:00+08:00" }, bizWant{"time_expire", RuleFormat}},
		{"rejects_cycle_pay_without_agreement", func(p *AppPayParams) { p.AgreementSignParams = nil }, bizWant{"agreement_sign_params", RuleRequired}},
		{"accepts_agreement_without_period_rules_outside_cycle_pay", func(p *AppPayParams) {
			p.ProductCode = "QUICK_MSECURITY_PAY"
			p.AgreementSignParams.PeriodRuleParams = nil
		}, bizWant{}},
		{"rejects_cycle_pay_without_period_rules", func(p *AppPayParams) { p.AgreementSignParams.PeriodRuleParams = nil },
			bizWant{"agreement_sign_params.period_rule_params", RuleRequired}},
		{"rejects_missing_agreement_product_code", func(p *AppPayParams) { p.AgreementSignParams.ProductCode = "" },
			bizWant{"agreement_sign_params.product_code", RuleRequired}},
		{"rejects_lowercase_agreement_product_code", func(p *AppPayParams) { p.AgreementSignParams.ProductCode = "general_withholding" },
			bizWant{"agreement_sign_params.product_code", RuleEnum}},
		{"rejects_lowercase_personal_product_code", func(p *AppPayParams) { p.AgreementSignParams.PersonalProductCode = "cycle_pay_auth_p" },
			bizWant{"agreement_sign_params.personal_product_code", RulePattern}},
		{"rejects_missing_personal_product_code", func(p *AppPayParams) { p.AgreementSignParams.PersonalProductCode = "" },
			bizWant{"agreement_sign_params.personal_product_code", RuleRequired}},
		{"rejects_lowercase_sign_scene", func(p *AppPayParams) { p.AgreementSignParams.SignScene = "industry|digital_media" },
			bizWant{"agreement_sign_params.sign_scene", RulePattern}},
		{"rejects_long_sign_scene", func(p *AppPayParams) { p.AgreementSignParams.SignScene = strings.Repeat("A", 65) },
			bizWant{"agreement_sign_params.sign_scene", RuleMaxLength}},
		{"rejects_external_agreement_no_with_underscore", func(p *AppPayParams) { p.AgreementSignParams.ExternalAgreementNo = "test_1" },
			bizWant{"agreement_sign_params.external_agreement_no", RulePattern}},
		{"rejects_long_external_agreement_no", func(p *AppPayParams) { p.AgreementSignParams.ExternalAgreementNo = strings.Repeat("a", 33) },
			bizWant{"agreement_sign_params.external_agreement_no", RuleMaxLength}},
		{"rejects_long_external_logon_id", func(p *AppPayParams) { p.AgreementSignParams.ExternalLogonID = strings.Repeat("1", 101) },
			bizWant{"agreement_sign_params.external_logon_id", RuleMaxLength}},
		{"rejects_relative_sign_notify_url", func(p *AppPayParams) { p.AgreementSignParams.SignNotifyURL = "/notify" },
			bizWant{"agreement_sign_params.sign_notify_url", RuleFormat}},
		{"rejects_long_sign_notify_url", func(p *AppPayParams) {
			p.AgreementSignParams.SignNotifyURL = "https://a.example/" + strings.Repeat("x", 240)
		}, bizWant{"agreement_sign_params.sign_notify_url", RuleMaxLength}},
		{"rejects_missing_channel", func(p *AppPayParams) { p.AgreementSignParams.AccessParams.Channel = "" },
			bizWant{"agreement_sign_params.access_params.channel", RuleRequired}},
		{"rejects_lowercase_channel", func(p *AppPayParams) { p.AgreementSignParams.AccessParams.Channel = "alipayapp" },
			bizWant{"agreement_sign_params.access_params.channel", RuleEnum}},
		{"accepts_channel_qrcodeorsms", func(p *AppPayParams) { p.AgreementSignParams.AccessParams.Channel = "QRCODEORSMS" }, bizWant{}},
		{"rejects_effect_time_not_digits", func(p *AppPayParams) { p.AgreementSignParams.EffectTime = "10m" },
			bizWant{"agreement_sign_params.effect_time", RulePattern}},
		{"rejects_effect_time_zero", func(p *AppPayParams) { p.AgreementSignParams.EffectTime = "0" },
			bizWant{"agreement_sign_params.effect_time", RulePattern}},
		{"rejects_effect_time_eleven_digits", func(p *AppPayParams) { p.AgreementSignParams.EffectTime = "12345678901" },
			bizWant{"agreement_sign_params.effect_time", RuleMaxLength}},
		{"rejects_lowercase_period_type", func(p *AppPayParams) { p.AgreementSignParams.PeriodRuleParams.PeriodType = "month" },
			bizWant{"agreement_sign_params.period_rule_params.period_type", RuleEnum}},
		{"rejects_period_type_week", func(p *AppPayParams) { p.AgreementSignParams.PeriodRuleParams.PeriodType = "WEEK" },
			bizWant{"agreement_sign_params.period_rule_params.period_type", RuleEnum}},
		{"rejects_missing_period", func(p *AppPayParams) { p.AgreementSignParams.PeriodRuleParams.Period = 0 },
			bizWant{"agreement_sign_params.period_rule_params.period", RuleRequired}},
		{"rejects_negative_period", func(p *AppPayParams) { p.AgreementSignParams.PeriodRuleParams.Period = -3 },
			bizWant{"agreement_sign_params.period_rule_params.period", RuleRange}},
		{"rejects_execute_time_not_a_date", func(p *AppPayParams) { p.AgreementSignParams.PeriodRuleParams.ExecuteTime = "2025-06-31" },
			bizWant{"agreement_sign_params.period_rule_params.execute_time", RuleFormat}},
		{"rejects_execute_time_yesterday", func(p *AppPayParams) { p.AgreementSignParams.PeriodRuleParams.ExecuteTime = "2025-05-31" },
			bizWant{"agreement_sign_params.period_rule_params.execute_time", RuleFuture}},
		{"accepts_execute_time_today", func(p *AppPayParams) { p.AgreementSignParams.PeriodRuleParams.ExecuteTime = "2025-06-01" }, bizWant{}},
		{"rejects_execute_time_day_29_with_month", func(p *AppPayParams) { p.AgreementSignParams.PeriodRuleParams.ExecuteTime = "2025-07-29" },
			bizWant{"agreement_sign_params.period_rule_params.execute_time", RuleRange}},
		{"accepts_execute_time_day_31_with_day", func(p *AppPayParams) {
			r := p.AgreementSignParams.PeriodRuleParams
			r.PeriodType, r.Period, r.ExecuteTime = "DAY", 30, "2025-07-31"
		}, bizWant{}},
		{"rejects_missing_single_amount", func(p *AppPayParams) { p.AgreementSignParams.PeriodRuleParams.SingleAmount = 0 },
			bizWant{"agreement_sign_params.period_rule_params.single_amount", RuleRequired}},
		{"rejects_single_amount_over_maximum", func(p *AppPayParams) {
			r := p.AgreementSignParams.PeriodRuleParams
			r.SingleAmount, r.TotalAmount = MaxAmount+1, nil
		}, bizWant{"agreement_sign_params.period_rule_params.single_amount", RuleRange}},
		{"rejects_single_amount_above_total_amount", func(p *AppPayParams) {
			p.AgreementSignParams.PeriodRuleParams.SingleAmount = MustAmount("600.01")
		}, bizWant{"agreement_sign_params.period_rule_params.single_amount", RuleRange}},
		{"accepts_single_amount_equal_total_amount", func(p *AppPayParams) {
			p.AgreementSignParams.PeriodRuleParams.SingleAmount = MustAmount("600.00")
		}, bizWant{}},
		{"rejects_total_amount_over_maximum", func(p *AppPayParams) {
			over := MaxAmount + 1
			p.AgreementSignParams.PeriodRuleParams.TotalAmount = &over
		}, bizWant{"agreement_sign_params.period_rule_params.total_amount", RuleRange}},
		{"rejects_negative_total_payments", func(p *AppPayParams) { p.AgreementSignParams.PeriodRuleParams.TotalPayments = -1 },
			bizWant{"agreement_sign_params.period_rule_params.total_payments", RuleRange}},
		{"accepts_without_optional_caps", func(p *AppPayParams) {
			r := p.AgreementSignParams.PeriodRuleParams
			r.TotalAmount, r.TotalPayments = nil, 0
		}, bizWant{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := bizCyclePay()
			tc.mut(p)
			bizCheck(t, p.Validate(now), tc.want)
		})
	}
	t.Run("execute_time_uses_china_date", func(t *testing.T) {
		// 2025-06-01 17:00 UTC is already 2025-06-02 in China: the 1st is in the past.
		p := bizCyclePay()
		p.TimeExpire = ""
		p.AgreementSignParams.PeriodRuleParams.ExecuteTime = "2025-06-01"
		bizCheck(t, p.Validate(time.Date(2025, 6, 1, 17, 0, 0, 0, time.UTC)),
			bizWant{"agreement_sign_params.period_rule_params.execute_time", RuleFuture})
	})
}

func TestBizDecodeErrors(t *testing.T) {
	voucher := []struct {
		name, body string
		want       bizWant
	}{
		{"rejects_empty_body", ``, bizWant{"", RuleJSON}},
		{"rejects_truncated_json", `{"out_order_no":"1"`, bizWant{"", RuleJSON}},
		{"rejects_trailing_data", `{"out_order_no":"1"} {}`, bizWant{"", RuleJSON}},
		{"rejects_trailing_garbage", `{"out_order_no":"1"}x`, bizWant{"", RuleJSON}},
		{"rejects_array_body", `[{"out_order_no":"1"}]`, bizWant{"", RuleJSON}},
		{"rejects_null_body", `null`, bizWant{"", RuleJSON}},
		{"rejects_invalid_utf8", "{\"order_title\":\"\xff\"}", bizWant{"", RuleJSON}},
		{"rejects_unknown_field", `{"out_order_no":"1","foo":1}`, bizWant{"foo", RuleUnknownField}},
		{"rejects_field_in_other_case", `{"Out_Order_No":"1"}`, bizWant{"Out_Order_No", RuleUnknownField}},
		{"rejects_camel_case_field", `{"outOrderNo":"1"}`, bizWant{"outOrderNo", RuleUnknownField}},
		{"rejects_duplicate_field", `{"amount":"1.00","amount":"100000.00"}`, bizWant{"amount", RuleDuplicateField}},
		{"rejects_number_for_string", `{"out_order_no":8077735255938023}`, bizWant{"out_order_no", RuleType}},
		{"rejects_object_for_string", `{"order_title":{}}`, bizWant{"order_title", RuleType}},
		{"rejects_amount_three_decimals", `{"amount":"1.234"}`, bizWant{"amount", RuleFormat}},
		{"rejects_amount_exponent_number", `{"amount":1e2}`, bizWant{"amount", RuleFormat}},
		{"rejects_amount_negative", `{"amount":-1}`, bizWant{"amount", RuleFormat}},
		{"rejects_amount_boolean", `{"amount":true}`, bizWant{"amount", RuleType}},
		{"rejects_amount_explicit_zero", `{"amount":"0.00"}`, bizWant{"amount", RuleRange}},
		{"rejects_amount_with_spaces", `{"amount":" 1.00"}`, bizWant{"amount", RuleFormat}},
		{"rejects_extra_param_number", `{"extra_param":5}`, bizWant{"extra_param", RuleType}},
		{"rejects_extra_param_array", `{"extra_param":["a"]}`, bizWant{"extra_param", RuleType}},
		{"rejects_extra_param_string_not_json", `{"extra_param":"merchantExt=value"}`, bizWant{"extra_param", RuleFormat}},
		{"rejects_extra_param_string_array", `{"extra_param":"[1]"}`, bizWant{"extra_param", RuleFormat}},
		{"rejects_extra_param_string_trailing_data", `{"extra_param":"{} {}"}`, bizWant{"extra_param", RuleFormat}},
	}
	for _, tc := range voucher {
		t.Run("voucher_"+tc.name, func(t *testing.T) {
			p, err := DecodeVoucherCreate([]byte(tc.body))
			if err == nil {
				t.Fatalf("accepted: %+v", p)
			}
			bizCheck(t, err, tc.want)
		})
	}
	app := []struct {
		name, body string
		want       bizWant
	}{
		{"rejects_agreement_not_object", `{"agreement_sign_params":"x"}`, bizWant{"agreement_sign_params", RuleType}},
		{"rejects_agreement_array", `{"agreement_sign_params":[]}`, bizWant{"agreement_sign_params", RuleType}},
		{"rejects_nested_unknown_field", `{"agreement_sign_params":{"period_rule_params":{"foo":1}}}`,
			bizWant{"agreement_sign_params.period_rule_params.foo", RuleUnknownField}},
		{"rejects_unknown_field_in_access_params", `{"agreement_sign_params":{"access_params":{"channel":"ALIPAYAPP","x":1}}}`,
			bizWant{"agreement_sign_params.access_params.x", RuleUnknownField}},
		{"rejects_access_params_string", `{"agreement_sign_params":{"access_params":"ALIPAYAPP"}}`,
			bizWant{"agreement_sign_params.access_params", RuleType}},
		{"rejects_period_as_string", `{"agreement_sign_params":{"period_rule_params":{"period":"3"}}}`,
			bizWant{"agreement_sign_params.period_rule_params.period", RuleType}},
		{"rejects_period_as_float", `{"agreement_sign_params":{"period_rule_params":{"period":3.0}}}`,
			bizWant{"agreement_sign_params.period_rule_params.period", RuleType}},
		{"rejects_period_exponent", `{"agreement_sign_params":{"period_rule_params":{"period":3e0}}}`,
			bizWant{"agreement_sign_params.period_rule_params.period", RuleType}},
		{"rejects_period_zero", `{"agreement_sign_params":{"period_rule_params":{"period":0}}}`,
			bizWant{"agreement_sign_params.period_rule_params.period", RuleRange}},
		{"rejects_period_negative", `{"agreement_sign_params":{"period_rule_params":{"period":-1}}}`,
			bizWant{"agreement_sign_params.period_rule_params.period", RuleRange}},
		{"rejects_period_overflow", `{"agreement_sign_params":{"period_rule_params":{"period":99999999999999999999}}}`,
			bizWant{"agreement_sign_params.period_rule_params.period", RuleRange}},
		{"rejects_total_payments_fraction", `{"agreement_sign_params":{"period_rule_params":{"total_payments":1.5}}}`,
			bizWant{"agreement_sign_params.period_rule_params.total_payments", RuleType}},
		{"rejects_bad_single_amount", `{"agreement_sign_params":{"period_rule_params":{"single_amount":"10.999"}}}`,
			bizWant{"agreement_sign_params.period_rule_params.single_amount", RuleFormat}},
		{"rejects_bad_nested_total_amount", `{"agreement_sign_params":{"period_rule_params":{"total_amount":"NaN"}}}`,
			bizWant{"agreement_sign_params.period_rule_params.total_amount", RuleFormat}},
		{"rejects_duplicate_nested_field", `{"agreement_sign_params":{"sign_scene":"A","sign_scene":"B"}}`,
			bizWant{"agreement_sign_params.sign_scene", RuleDuplicateField}},
		{"rejects_duplicate_object", `{"agreement_sign_params":{},"agreement_sign_params":{}}`,
			bizWant{"agreement_sign_params", RuleDuplicateField}},
		{"rejects_total_amount_number_with_three_decimals", `{"total_amount":9.001}`, bizWant{"total_amount", RuleFormat}},
		{"rejects_voucher_field_on_app_pay", `{"out_order_no":"1"}`, bizWant{"out_order_no", RuleUnknownField}},
	}
	for _, tc := range app {
		t.Run("app_pay_"+tc.name, func(t *testing.T) {
			p, err := DecodeAppPay([]byte(tc.body))
			if err == nil {
				t.Fatalf("accepted: %+v", p)
			}
			bizCheck(t, err, tc.want)
		})
	}
	t.Run("long_unknown_key_is_truncated_in_field", func(t *testing.T) {
		key := strings.Repeat("k", 5000)
		_, err := DecodeVoucherCreate([]byte(`{"` + key + `":1}`))
		fe, ok := AsFieldError(err)
		if !ok || fe.Rule != RuleUnknownField || len(fe.Field) > 70 {
			t.Fatalf("got %v", err)
		}
	})
}

func TestBizDecodeAccepts(t *testing.T) {
	t.Run("null_is_absent", func(t *testing.T) {
		p, err := DecodeVoucherCreate([]byte(`{"out_order_no":"A1","payee_user_id":null,"amount":null,"extra_param":null}`))
		if err != nil {
			t.Fatal(err)
		}
		if p.OutOrderNo != "A1" || p.PayeeUserID != "" || p.Amount != 0 || p.ExtraParam != "" {
			t.Fatalf("got %+v", *p)
		}
	})
	t.Run("null_agreement_is_absent", func(t *testing.T) {
		p, err := DecodeAppPay([]byte(`{"agreement_sign_params":null}`))
		if err != nil || p.AgreementSignParams != nil {
			t.Fatalf("got %+v, %v", p, err)
		}
	})
	t.Run("empty_extra_param_string_is_absent", func(t *testing.T) {
		p, err := DecodeVoucherCreate([]byte(`{"extra_param":""}`))
		if err != nil || p.ExtraParam != "" {
			t.Fatalf("got %+v, %v", p, err)
		}
	})
	t.Run("extra_param_object_is_canonical_keys_sorted_escapes_normalised", func(t *testing.T) {
		p, err := DecodeVoucherCreate([]byte(`{"extra_param":{ "z" : 1, "a" : "<\u0026>", "n": {"x": [1, 2]} }}`))
		if err != nil {
			t.Fatal(err)
		}
		if want := `{"a":"<&>","n":{"x":[1,2]},"z":1}`; p.ExtraParam != want {
			t.Fatalf("got %s, want %s", p.ExtraParam, want)
		}
	})
	t.Run("amounts_as_numbers_and_integers", func(t *testing.T) {
		p, err := DecodeAppPay([]byte(`{"total_amount":9,"agreement_sign_params":{"period_rule_params":{"period":3,"single_amount":10.99,"total_amount":600,"total_payments":12}}}`))
		if err != nil {
			t.Fatal(err)
		}
		r := p.AgreementSignParams.PeriodRuleParams
		if p.TotalAmount != 900 || r.Period != 3 || r.SingleAmount != 1099 || r.TotalAmount == nil || *r.TotalAmount != 60000 || r.TotalPayments != 12 {
			t.Fatalf("got %+v %+v", *p, *r)
		}
	})
	t.Run("escaped_strings_are_decoded", func(t *testing.T) {
		p, err := DecodeAppPay([]byte(`{"subject":"\u5927\u4e50\u900f"}`))
		if err != nil || p.Subject != "大乐透" {
			t.Fatalf("got %+v, %v", p, err)
		}
	})
	t.Run("escaped_control_char_is_caught_by_validate", func(t *testing.T) {
		p, err := DecodeAppPay([]byte(`{"out_trade_no":"A1","total_amount":"1.00","subject":"a\u0000b"}`))
		if err != nil {
			t.Fatal(err)
		}
		bizCheck(t, p.Validate(bizVectorNow), bizWant{"subject", RuleControlChar})
	})
}

func TestBizContent(t *testing.T) {
	t.Run("voucher_seed_example_is_vector_bytes", func(t *testing.T) {
		want := bizVectorBiz(t, "vectors/request_sign.json", "voucher_create_seed_example")["voucher_create_seed_example"]
		got, err := bizSeedVoucher().BizContent()
		if err != nil || got != want {
			t.Fatalf("got %s, %v\nwant %s", got, err, want)
		}
	})
	t.Run("no_html_escaping_no_trailing_newline", func(t *testing.T) {
		p := &AppPayParams{OutTradeNo: "A1", TotalAmount: 1, Subject: "<b> café", Body: "a & b > c"}
		got, err := p.BizContent()
		if err != nil {
			t.Fatal(err)
		}
		want := `{"out_trade_no":"A1","total_amount":"0.01","subject":"<b> café","body":"a & b > c"}`
		if got != want {
			t.Fatalf("got %s\nwant %s", got, want)
		}
	})
	t.Run("integers_are_numbers_amounts_are_strings_empties_omitted", func(t *testing.T) {
		p := &AppPayParams{OutTradeNo: "A1", TotalAmount: 900, Subject: "s", AgreementSignParams: &AgreementSignParams{
			ProductCode:      "GENERAL_WITHHOLDING",
			PeriodRuleParams: &PeriodRuleParams{PeriodType: "DAY", Period: 30, ExecuteTime: "2025-07-01", SingleAmount: 1000},
		}}
		got, _ := p.BizContent()
		want := `{"out_trade_no":"A1","total_amount":"9.00","subject":"s","agreement_sign_params":{"product_code":"GENERAL_WITHHOLDING","period_rule_params":{"period_type":"DAY","period":30,"execute_time":"2025-07-01","single_amount":"10.00"}}}`
		if got != want {
			t.Fatalf("got %s\nwant %s", got, want)
		}
	})
	t.Run("cycle_pay_field_order", func(t *testing.T) {
		got, _ := bizCyclePay().BizContent()
		want := `{"out_trade_no":"70501111111S001111119","total_amount":"9.00","subject":"大乐透 月卡","product_code":"CYCLE_PAY_AUTH","time_expire":"2025-06-01 12:30:00","agreement_sign_params":{"product_code":"GENERAL_WITHHOLDING","personal_product_code":"CYCLE_PAY_AUTH_P","sign_scene":"INDUSTRY|DIGITAL_MEDIA","external_agreement_no":"test20190701","external_logon_id":"13888888888","sign_notify_url":"https://merchant.example.com/v1/notify/alipay","access_params":{"channel":"ALIPAYAPP"},"period_rule_params":{"period_type":"MONTH","period":1,"execute_time":"2025-07-28","single_amount":"10.99","total_amount":"600.00","total_payments":12},"effect_time":"600"}}`
		if got != want {
			t.Fatalf("got %s\nwant %s", got, want)
		}
	})
	t.Run("extra_param_is_a_string_value", func(t *testing.T) {
		p := &VoucherCreateParams{OutOrderNo: "A", ExtraParam: `{"k":"<a&b>"}`}
		got, _ := p.BizContent()
		if want := `{"out_order_no":"A","extra_param":"{\"k\":\"<a&b>\"}"}`; got != want {
			t.Fatalf("got %s\nwant %s", got, want)
		}
	})
}

func TestBizCanonicalHash(t *testing.T) {
	decodeV := func(body string) *VoucherCreateParams {
		t.Helper()
		p, err := DecodeVoucherCreate([]byte(body))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	t.Run("is_sha256_of_biz_content", func(t *testing.T) {
		p := bizSeedVoucher()
		biz, _ := p.BizContent()
		sum := sha256.Sum256([]byte(biz))
		if got := p.CanonicalHash(); got != hex.EncodeToString(sum[:]) {
			t.Fatalf("got %s", got)
		}
	})
	t.Run("same_params_in_other_spelling_same_hash", func(t *testing.T) {
		a := decodeV(`{"out_order_no":"A1","out_request_no":"R1","order_title":"t","amount":"100.00","extra_param":{"k":"v"}}`)
		b := decodeV(`{"extra_param":"{\"k\": \"v\"}","amount":100,"order_title":"t","out_request_no":"R1","out_order_no":"A1"}`)
		if a.CanonicalHash() != b.CanonicalHash() {
			t.Fatal("hashes differ for the same params")
		}
	})
	t.Run("other_params_other_hash", func(t *testing.T) {
		a, b := bizSeedVoucher(), bizSeedVoucher()
		b.Amount++
		if a.CanonicalHash() == b.CanonicalHash() {
			t.Fatal("hash ignores the amount")
		}
		c, d := bizCyclePay(), bizCyclePay()
		d.AgreementSignParams.PeriodRuleParams.TotalPayments = 11
		if c.CanonicalHash() == d.CanonicalHash() {
			t.Fatal("hash ignores nested params")
		}
		if len(c.CanonicalHash()) != 64 {
			t.Fatalf("hash %q is not hex SHA-256", c.CanonicalHash())
		}
	})
	t.Run("order_hash_ignores_out_request_no_only", func(t *testing.T) {
		a, b := bizSeedVoucher(), bizSeedVoucher()
		b.OutRequestNo = "other"
		if a.OrderHash() != b.OrderHash() || a.CanonicalHash() == b.CanonicalHash() {
			t.Fatal("OrderHash must ignore out_request_no, CanonicalHash must not")
		}
		b.OrderTitle = "other"
		if a.OrderHash() == b.OrderHash() {
			t.Fatal("OrderHash ignores order_title")
		}
		if a.OutRequestNo != "8077735255938032" {
			t.Fatal("OrderHash modified its receiver")
		}
	})
}

// FuzzBizDecode: the decoders never panic, every failure is a *FieldError, and what
// they accept survives BizContent and a second decode unchanged.
func FuzzBizDecode(f *testing.F) {
	f.Add(`{"out_order_no":"A1","amount":100.5,"extra_param":{"a":[1,{"b":null}]}}`)
	f.Add(`{"out_trade_no":"A1","total_amount":"9","agreement_sign_params":{"access_params":{},"period_rule_params":{"period":3,"total_amount":"1"}}}`)
	f.Add(`{"subject":"\u5927","body":"<&>","extra_param":"{\"k\":\"v\"}"}`)
	f.Add(`{"agreement_sign_params":{"x":1}}`)
	f.Fuzz(func(t *testing.T, body string) {
		if v, err := DecodeVoucherCreate([]byte(body)); err != nil {
			if _, ok := AsFieldError(err); !ok {
				t.Fatalf("voucher: %v is not a *FieldError", err)
			}
		} else {
			biz, err := v.BizContent()
			if err != nil {
				t.Fatal(err)
			}
			again, err := DecodeVoucherCreate([]byte(biz))
			if err != nil || *again != *v {
				t.Fatalf("voucher %s: re-decoded %+v, %v; want %+v", biz, again, err, *v)
			}
		}
		if a, err := DecodeAppPay([]byte(body)); err != nil {
			if _, ok := AsFieldError(err); !ok {
				t.Fatalf("app pay: %v is not a *FieldError", err)
			}
		} else {
			biz, err := a.BizContent()
			if err != nil {
				t.Fatal(err)
			}
			again, err := DecodeAppPay([]byte(biz))
			if err != nil {
				t.Fatalf("app pay %s: %v", biz, err)
			}
			if biz2, _ := again.BizContent(); biz2 != biz {
				t.Fatalf("app pay not stable: %s then %s", biz, biz2)
			}
		}
	})
}

// Nested JSON objects hashed for idempotency are hashed in canonical form: key order and
// whitespace do not make a retry a different request; any other difference does.
func TestCanonicalHashIgnoresKeyOrderAndWhitespaceOfNestedObjects(t *testing.T) {
	voucher := func(extra string) string {
		return `{"out_order_no":"O1","out_request_no":"R1","order_title":"t","amount":"1.00","product_code":"PRE_AUTH","extra_param":` + extra + `}`
	}
	appPay := func(asp string) string {
		return `{"out_trade_no":"T1","total_amount":"1.00","subject":"s","product_code":"CYCLE_PAY_AUTH","agreement_sign_params":` + asp + `}`
	}
	hash := func(t *testing.T, body string) string {
		t.Helper()
		if strings.Contains(body, `"out_order_no"`) {
			p, err := DecodeVoucherCreate([]byte(body))
			if err != nil {
				t.Fatal(err)
			}
			return p.CanonicalHash()
		}
		p, err := DecodeAppPay([]byte(body))
		if err != nil {
			t.Fatal(err)
		}
		return p.CanonicalHash()
	}
	asp := `{"product_code":"GENERAL_WITHHOLDING","personal_product_code":"CYCLE_PAY_AUTH_P","sign_scene":"INDUSTRY|DIGITAL_MEDIA","access_params":{"channel":"ALIPAYAPP"},"period_rule_params":{"period_type":"DAY","period":7,"execute_time":"2030-01-01","single_amount":"1.00"}}`
	for _, tc := range []struct {
		name string
		a, b string
		same bool
	}{
		{"extra_param_keys_reordered", voucher(`{"a":1,"b":{"x":"1","y":[1,{"q":2,"p":1}]}}`), voucher(`{"b":{"y":[1,{"p":1,"q":2}],"x":"1"},"a":1}`), true},
		{"extra_param_whitespace", voucher(`"{\"a\":\"v\",\"b\":2}"`), voucher(`"  {  \"b\" : 2 ,\n \"a\" : \"v\" } "`), true},
		{"extra_param_object_or_string", voucher(`{"b":2,"a":"v"}`), voucher(`"{\"a\":\"v\",\"b\":2}"`), true},
		{"extra_param_escapes", voucher(`{"a":"\u0041<"}`), voucher(`{"a":"A\u003c"}`), true},
		{"extra_param_number_as_written", voucher(`{"a":1.50}`), voucher(`{"a":1.5}`), false},
		{"extra_param_other_value", voucher(`{"a":"v"}`), voucher(`{"a":"w"}`), false},
		{"extra_param_array_order_matters", voucher(`{"a":[1,2]}`), voucher(`{"a":[2,1]}`), false},
		{"agreement_sign_params_keys_reordered", appPay(asp), appPay(`{"period_rule_params":{"single_amount":"1.00","execute_time":"2030-01-01","period":7,"period_type":"DAY"},"access_params":{"channel":"ALIPAYAPP"},"sign_scene":"INDUSTRY|DIGITAL_MEDIA","personal_product_code":"CYCLE_PAY_AUTH_P","product_code":"GENERAL_WITHHOLDING"}`), true},
		{"agreement_sign_params_other_value", appPay(asp), appPay(strings.Replace(asp, `"period":7`, `"period":8`, 1)), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if same := hash(t, tc.a) == hash(t, tc.b); same != tc.same {
				t.Errorf("same hash %v, want %v", same, tc.same)
			}
		})
	}
}
