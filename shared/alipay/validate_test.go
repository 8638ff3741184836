package alipay

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"golang.org/x/text/encoding/simplifiedchinese"
)

// valCase is one rule application: wantRule "" means accepted.
type valCase struct {
	name     string
	got      *FieldError
	wantRule string
}

// valRun checks each case's outcome; every rejection must name field f.
func valRun(t *testing.T, f string, cases []valCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.wantRule == "" {
				if tc.got != nil {
					t.Fatalf("rejected: %v (rule %s)", tc.got, tc.got.Rule)
				}
				return
			}
			if tc.got == nil {
				t.Fatalf("accepted, want rule %s", tc.wantRule)
			}
			if tc.got.Field != f || tc.got.Rule != tc.wantRule {
				t.Fatalf("got field %q rule %q (%v), want field %q rule %q", tc.got.Field, tc.got.Rule, tc.got, f, tc.wantRule)
			}
			if tc.got.Message == "" {
				t.Fatal("empty message")
			}
		})
	}
}

func TestFieldError(t *testing.T) {
	t.Run("error_is_field_colon_message", func(t *testing.T) {
		fe := &FieldError{Field: "agreement_sign_params.period_rule_params.execute_time", Rule: RuleFormat, Message: "must be a real date yyyy-MM-dd"}
		if got := fe.Error(); got != "agreement_sign_params.period_rule_params.execute_time: must be a real date yyyy-MM-dd" {
			t.Fatalf("got %q", got)
		}
	})
	t.Run("error_without_field_is_message", func(t *testing.T) {
		if got := (&FieldError{Rule: RuleJSON, Message: "body is not valid UTF-8"}).Error(); got != "body is not valid UTF-8" {
			t.Fatalf("got %q", got)
		}
	})
	t.Run("as_field_error_finds_wrapped", func(t *testing.T) {
		err := fmt.Errorf("create voucher: %w", &FieldError{Field: "amount", Rule: RuleRange, Message: "x"})
		fe, ok := AsFieldError(err)
		if !ok || fe.Field != "amount" || fe.Rule != RuleRange {
			t.Fatalf("got %v, %v", fe, ok)
		}
	})
	t.Run("as_field_error_rejects_other_errors", func(t *testing.T) {
		if fe, ok := AsFieldError(errors.New("boom")); ok || fe != nil {
			t.Fatalf("got %v, %v", fe, ok)
		}
		if _, ok := AsFieldError(nil); ok {
			t.Fatal("nil error matched")
		}
	})
	t.Run("checker_result_is_untyped_nil_when_ok", func(t *testing.T) {
		var c valChecker
		c.check(nil)
		if err := c.result(); err != nil {
			t.Fatalf("got %#v", err)
		}
	})
	t.Run("checker_keeps_first_failure", func(t *testing.T) {
		var c valChecker
		c.check(nil)
		c.check(valErr("a", RuleRequired, "x"))
		c.check(valErr("b", RuleRange, "y"))
		if fe, _ := AsFieldError(c.result()); fe == nil || fe.Field != "a" {
			t.Fatalf("got %v", fe)
		}
	})
}

func TestValRequired(t *testing.T) {
	valRun(t, "f", []valCase{
		{"accepts_text", valRequired("f", "a"), ""},
		{"rejects_empty", valRequired("f", ""), RuleRequired},
		{"rejects_spaces_as_missing", valRequired("f", "   "), RuleRequired},
		{"rejects_ideographic_space_as_missing", valRequired("f", "\u3000"), RuleRequired},
		{"rejects_tab_as_missing", valRequired("f", "\t"), RuleRequired},
	})
}

func TestValText(t *testing.T) {
	valRun(t, "f", []valCase{
		{"accepts_absent_optional", valText("f", "", false, 5), ""},
		{"accepts_inner_spaces", valText("f", "a b c", true, 5), ""},
		{"counts_characters_not_bytes", valText("f", "预授权发码", true, 5), ""},
		{"rejects_one_character_too_many", valText("f", "预授权发码a", true, 5), RuleMaxLength},
		{"rejects_blank_optional", valText("f", "  ", false, 5), RuleBlank},
		{"rejects_blank_required_as_missing", valText("f", "  ", true, 5), RuleRequired},
		{"rejects_newline", valText("f", "a\nb", false, 0), RuleControlChar},
		{"rejects_tab", valText("f", "a\tb", false, 0), RuleControlChar},
		{"rejects_nul", valText("f", "a\x00", false, 0), RuleControlChar},
		{"rejects_del", valText("f", "a\x7f", false, 0), RuleControlChar},
		{"rejects_c1_control", valText("f", "a\u0085", false, 0), RuleControlChar},
		{"rejects_line_separator", valText("f", "a\u2028b", false, 0), RuleControlChar},
		{"rejects_bidi_override", valText("f", "abc\u202Efed", false, 0), RuleControlChar},
		{"rejects_invalid_utf8", valText("f", "a\xffb", false, 0), RuleControlChar},
		{"accepts_emoji_with_joiner", valText("f", "👩\u200d💻", false, 0), ""},
	})
}

func TestValGBKWidth(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want int
	}{
		{"ascii_counts_one", "abc", 3},
		{"chinese_counts_two", "预授权发码", 10},
		{"mixed", "押金 A+B", 8},
		{"emoji_not_in_gbk_counts_two", "😀", 2},
		{"euro_counts_two_although_gbk_has_one_byte", "€", 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := valGBKWidth(tc.in); got != tc.want {
				t.Fatalf("valGBKWidth(%q) = %d, want %d", tc.in, got, tc.want)
			}
		})
	}
	// The rule is GBK byte length: check it against the GBK encoder over the whole BMP.
	t.Run("equals_gbk_byte_length_except_euro", func(t *testing.T) {
		enc := simplifiedchinese.GBK.NewEncoder()
		encodable := 0
		for r := rune(0); r < 0x10000; r++ {
			if r >= 0xD800 && r <= 0xDFFF {
				continue
			}
			b, err := enc.Bytes([]byte(string(r)))
			if err != nil {
				if valGBKWidth(string(r)) != 2 {
					t.Fatalf("%U not in GBK counts %d, want 2", r, valGBKWidth(string(r)))
				}
				continue
			}
			encodable++
			if r == '€' {
				continue
			}
			if got := valGBKWidth(string(r)); got != len(b) {
				t.Fatalf("%U: width %d, GBK bytes %d", r, got, len(b))
			}
		}
		if encodable < 20000 {
			t.Fatalf("only %d encodable runes: the oracle is not GBK", encodable)
		}
	})
}

func TestValWidth(t *testing.T) {
	valRun(t, "order_title", []valCase{
		{"accepts_100_ascii", valWidth("order_title", strings.Repeat("a", 100), true, 100), ""},
		{"rejects_101_ascii", valWidth("order_title", strings.Repeat("a", 101), true, 100), RuleWidth},
		{"accepts_50_chinese", valWidth("order_title", strings.Repeat("预", 50), true, 100), ""},
		{"rejects_51_chinese", valWidth("order_title", strings.Repeat("预", 51), true, 100), RuleWidth},
		{"accepts_49_chinese_and_2_ascii", valWidth("order_title", strings.Repeat("预", 49)+"ab", true, 100), ""},
		{"rejects_49_chinese_and_3_ascii", valWidth("order_title", strings.Repeat("预", 49)+"abc", true, 100), RuleWidth},
		{"rejects_missing", valWidth("order_title", "", true, 100), RuleRequired},
		{"rejects_control", valWidth("order_title", "a\rb", true, 100), RuleControlChar},
	})
}

func TestValOrderNo(t *testing.T) {
	valRun(t, "out_order_no", []valCase{
		{"accepts_digits", valOrderNo("out_order_no", "8077735255938023"), ""},
		{"accepts_letters_underscore_dash", valOrderNo("out_order_no", "PA_2025-06-01"), ""},
		{"accepts_64_chars", valOrderNo("out_order_no", strings.Repeat("a", 64)), ""},
		{"rejects_65_chars", valOrderNo("out_order_no", strings.Repeat("a", 65)), RuleMaxLength},
		{"rejects_missing", valOrderNo("out_order_no", ""), RuleRequired},
		{"rejects_space", valOrderNo("out_order_no", "a b"), RulePattern},
		{"rejects_dot", valOrderNo("out_order_no", "a.b"), RulePattern},
		{"rejects_chinese", valOrderNo("out_order_no", "订单1"), RulePattern},
	})
	t.Run("exported_check_returns_untyped_nil", func(t *testing.T) {
		if err := CheckOutOrderNo("out_order_no", "PA1"); err != nil {
			t.Fatalf("got %#v", err)
		}
		fe, ok := AsFieldError(CheckOutOrderNo("out_order_no", "a/b"))
		if !ok || fe.Rule != RulePattern {
			t.Fatalf("got %v", fe)
		}
	})
}

func TestValOutTradeNo(t *testing.T) {
	valRun(t, "out_trade_no", []valCase{
		{"accepts_seed_example", valOutTradeNo("out_trade_no", "70501111111S001111119"), ""},
		{"accepts_underscore", valOutTradeNo("out_trade_no", "AP_20250601_000003"), ""},
		{"rejects_dash", valOutTradeNo("out_trade_no", "AP-1"), RulePattern},
		{"rejects_65_chars", valOutTradeNo("out_trade_no", strings.Repeat("1", 65)), RuleMaxLength},
		{"rejects_blank", valOutTradeNo("out_trade_no", " "), RuleRequired},
	})
	t.Run("exported_check_returns_untyped_nil", func(t *testing.T) {
		if err := CheckOutTradeNo("out_trade_no", "AP_1"); err != nil {
			t.Fatalf("got %#v", err)
		}
		if _, ok := AsFieldError(CheckOutTradeNo("out_trade_no", "AP-1")); !ok {
			t.Fatal("AP-1 accepted")
		}
	})
}

func TestValUserID(t *testing.T) {
	valRun(t, "payee_user_id", []valCase{
		{"accepts_2088_and_12_digits", valUserID("payee_user_id", "2088102000275795", false), ""},
		{"accepts_absent_optional", valUserID("payee_user_id", "", false), ""},
		{"rejects_wrong_prefix", valUserID("payee_user_id", "1088102000275795", false), RulePattern},
		{"rejects_15_digits", valUserID("payee_user_id", "208810200027579", false), RulePattern},
		{"rejects_17_digits", valUserID("payee_user_id", "20881020002757951", false), RuleMaxLength},
		{"rejects_letter", valUserID("payee_user_id", "208810200027579a", false), RulePattern},
		{"rejects_full_width_digits", valUserID("payee_user_id", "２０８８102000275795", false), RulePattern},
	})
}

func TestValRelTimeout(t *testing.T) {
	pay := func(v string) *FieldError { return valRelTimeout("pay_timeout", v, 5, false) }
	valRun(t, "pay_timeout", []valCase{
		{"accepts_one_minute", pay("1m"), ""},
		{"accepts_90m", pay("90m"), ""},
		{"accepts_2d", pay("2d"), ""},
		{"accepts_15d", pay("15d"), ""},
		{"accepts_360h", pay("360h"), ""},
		{"accepts_9999m", pay("9999m"), ""},
		{"accepts_absent", pay(""), ""},
		{"rejects_16d", pay("16d"), RuleRange},
		{"rejects_361h", pay("361h"), RuleRange},
		{"rejects_six_chars", pay("21600m"), RuleMaxLength},
		{"rejects_zero", pay("0m"), RulePattern},
		{"rejects_leading_zero", pay("01m"), RulePattern},
		{"rejects_decimal", pay("1.5h"), RulePattern},
		{"rejects_upper_case_unit", pay("90M"), RulePattern},
		{"rejects_seconds", pay("30s"), RulePattern},
		{"rejects_missing_number", pay("m"), RulePattern},
		{"rejects_today_form", pay("1c"), RulePattern},
		{"rejects_blank", pay(" "), RuleBlank},
	})
	te := func(v string) *FieldError { return valRelTimeout("timeout_express", v, 6, true) }
	valRun(t, "timeout_express", []valCase{
		{"accepts_today_form", te("1c"), ""},
		{"accepts_21600m", te("21600m"), ""},
		{"rejects_21601m", te("21601m"), RuleRange},
		{"rejects_2c", te("2c"), RulePattern},
		{"rejects_seven_chars", te("1000000m"), RuleMaxLength},
	})
}

func TestValURL(t *testing.T) {
	u := func(v string) *FieldError { return valURL("f", v, false, 256) }
	valRun(t, "f", []valCase{
		{"accepts_https", u("https://merchant.example.com/v1/notify/alipay"), ""},
		{"accepts_http_with_port_and_query", u("http://127.0.0.1:3000/notify?x=1"), ""},
		{"accepts_256_chars", u("https://a.example/" + strings.Repeat("p", 256-len("https://a.example/"))), ""},
		{"rejects_257_chars", u("https://a.example/" + strings.Repeat("p", 257-len("https://a.example/"))), RuleMaxLength},
		{"rejects_ftp", u("ftp://merchant.example.com/x"), RuleFormat},
		{"rejects_relative", u("/v1/notify/alipay"), RuleFormat},
		{"rejects_without_scheme", u("merchant.example.com/x"), RuleFormat},
		{"rejects_without_host", u("https:///x"), RuleFormat},
		{"rejects_javascript", u("javascript:alert(1)"), RuleFormat},
		{"rejects_space", u("https://merchant.example.com/a b"), RuleFormat},
		{"rejects_user_info", u("https://user:pw@merchant.example.com/"), RuleFormat},
		{"rejects_newline", u("https://merchant.example.com/\n"), RuleControlChar},
	})
}

func TestValAmount(t *testing.T) {
	valRun(t, "amount", []valCase{
		{"accepts_one_fen", valAmount("amount", 1), ""},
		{"accepts_maximum", valAmount("amount", MaxAmount), ""},
		{"rejects_zero_as_missing", valAmount("amount", 0), RuleRequired},
		{"rejects_above_maximum", valAmount("amount", MaxAmount+1), RuleRange},
		{"rejects_negative", valAmount("amount", -1), RuleRange},
	})
}

func TestValEnum(t *testing.T) {
	e := func(v string) *FieldError {
		return valEnum("product_code", v, false, ProductCodeQuickMSecurityPay, ProductCodeCyclePayAuth)
	}
	valRun(t, "product_code", []valCase{
		{"accepts_upper_case", e("QUICK_MSECURITY_PAY"), ""},
		{"accepts_absent_optional", e(""), ""},
		{"rejects_lowercase_seed_form", e("quick_msecurity_pay"), RuleEnum},
		{"rejects_unknown", e("FAST_INSTANT_TRADE_PAY"), RuleEnum},
		{"rejects_missing_required", valEnum("product_code", "", true, "A"), RuleRequired},
	})
	t.Run("lowercase_message_names_upper_case_form", func(t *testing.T) {
		if fe := e("quick_msecurity_pay"); fe == nil || fe.Message != "must be QUICK_MSECURITY_PAY (upper case)" {
			t.Fatalf("got %v", fe)
		}
	})
	t.Run("unknown_message_lists_allowed", func(t *testing.T) {
		if fe := e("X"); fe == nil || fe.Message != "must be one of QUICK_MSECURITY_PAY, CYCLE_PAY_AUTH" {
			t.Fatalf("got %v", fe)
		}
	})
}

func TestValCode(t *testing.T) {
	c := func(v string) *FieldError { return valCode("sign_scene", v, true, 64, "INDUSTRY|DIGITAL_MEDIA") }
	valRun(t, "sign_scene", []valCase{
		{"accepts_scene_with_bar", c("INDUSTRY|DIGITAL_MEDIA"), ""},
		{"accepts_default_scene", c("DEFAULT|DEFAULT"), ""},
		{"rejects_lowercase_seed_form", c("industry|digital_media"), RulePattern},
		{"rejects_space", c("INDUSTRY DIGITAL"), RulePattern},
		{"rejects_65_chars", c(strings.Repeat("A", 65)), RuleMaxLength},
		{"rejects_missing", c(""), RuleRequired},
	})
	t.Run("lowercase_message_says_upper_case", func(t *testing.T) {
		if fe := c("industry|digital_media"); fe == nil || !strings.Contains(fe.Message, "upper case") {
			t.Fatalf("got %v", fe)
		}
	})
}

func TestValSubject(t *testing.T) {
	s := func(v string) *FieldError { return valSubject("subject", v, 256) }
	valRun(t, "subject", []valCase{
		{"accepts_chinese_with_space", s("大乐透 月卡"), ""},
		{"accepts_parentheses", s("Coffee (large) x2"), ""},
		{"accepts_256_chars", s(strings.Repeat("票", 256)), ""},
		{"rejects_257_chars", s(strings.Repeat("票", 257)), RuleMaxLength},
		{"rejects_slash", s("a/b"), RuleForbiddenChars},
		{"rejects_equals", s("a=b"), RuleForbiddenChars},
		{"rejects_ampersand", s("a&b"), RuleForbiddenChars},
		{"rejects_whitespace_only_as_missing", s(" \t "), RuleRequired},
		{"rejects_missing", s(""), RuleRequired},
		{"rejects_control", s("a\x1bb"), RuleControlChar},
	})
}

func TestValDate(t *testing.T) {
	d := func(v string) *FieldError { _, fe := valDate("execute_time", v, true); return fe }
	valRun(t, "execute_time", []valCase{
		{"accepts_date", d("2025-07-28"), ""},
		{"accepts_leap_day", d("2024-02-29"), ""},
		{"rejects_non_leap_day", d("2025-02-29"), RuleFormat},
		{"rejects_february_30", d("2025-02-30"), RuleFormat},
		{"rejects_unpadded", d("2025-7-28"), RuleFormat},
		{"rejects_compact", d("20250728"), RuleFormat},
		{"rejects_slashes", d("2025/07/28"), RuleFormat},
		{"rejects_date_time", d("2025-07-28 00:00:00"), RuleFormat},
		{"rejects_missing", d(""), RuleRequired},
	})
}

func TestValFutureTimestamp(t *testing.T) {
	now := time.Date(2025, 6, 1, 2, 0, 0, 0, time.UTC) // 10:00:00 China time
	f := func(v string) *FieldError { return valFutureTimestamp("time_expire", v, now) }
	valRun(t, "time_expire", []valCase{
		{"accepts_later_today", f("2025-06-01 12:30:00"), ""},
		{"accepts_one_second_later", f("2025-06-01 10:00:01"), ""},
		{"accepts_absent", f(""), ""},
		{"rejects_now", f("2025-06-01 10:00:00"), RuleFuture},
		{"uses_china_time_not_utc", f("2025-06-01 09:00:00"), RuleFuture},
		{"rejects_t_separator", f("2025-06-01T12:30:00"), RuleFormat},
		{"rejects_without_seconds", f("2025-06-01 12:30"), RuleFormat},
		{"rejects_unpadded_hour", f("2025-06-01 9:30:000"), RuleFormat},
		{"rejects_hour_24", f("2025-06-01 24:00:00"), RuleFormat},
		{"rejects_zone_suffix", f("2025-06-01 12:30:00Z"), RuleFormat},
	})
}

func TestValControlCoversAllC0(t *testing.T) {
	for r := rune(0); r < 0x20; r++ {
		if fe := valControl("f", "a"+string(r)); fe == nil || fe.Rule != RuleControlChar {
			t.Fatalf("%U accepted", r)
		}
	}
	if !utf8.ValidString("é") || valControl("f", "é") != nil {
		t.Fatal("é rejected")
	}
}
