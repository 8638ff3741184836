package alipay

import (
	"errors"
	"fmt"
	"maps"
	"net/url"
	"strings"
	"testing"
	"time"
)

type orderStrVectorFile struct {
	Cases []struct {
		Name        string            `json:"name"`
		SDKParams   map[string]any    `json:"sdk_params"`
		BizContent  string            `json:"biz_content"`
		OrderStr    string            `json:"order_str"`
		ParamOrder  []string          `json:"param_order_in_order_str"`
		Params      map[string]string `json:"params"`
		WantContent string            `json:"sign_content"`
		Sign        string            `json:"sign"`
		SortedForm  string            `json:"order_str_sorted_form_encoded"`
	} `json:"cases"`
}

// orderStrCertCredentials are certificate-mode credentials built from testdata/certs.
func orderStrCertCredentials(t testing.TB) *Credentials {
	t.Helper()
	c, err := NewCertCredentials("2021000000000001", testAppKey(t),
		readTestdata(t, "certs/app_cert.crt"),
		readTestdata(t, "certs/alipay_public_cert.crt"),
		readTestdata(t, "certs/alipay_root_cert.crt"))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// orderStrEncode is the reference encoding: url.Values, sorted and form-encoded.
func orderStrEncode(params map[string]string) string {
	v := url.Values{}
	for k, val := range params {
		v.Set(k, val)
	}
	return v.Encode()
}

func orderStrSDKString(t *testing.T, m map[string]any, key string) string {
	t.Helper()
	v, ok := m[key]
	if !ok {
		return ""
	}
	s, ok := v.(string)
	if !ok {
		t.Fatalf("sdk_params.%s is %T", key, v)
	}
	return s
}

func TestOrderStringVectors(t *testing.T) {
	var file orderStrVectorFile
	loadVectors(t, "vectors/app_pay_orderstr.json", &file)
	if len(file.Cases) == 0 {
		t.Fatal("app_pay_orderstr.json has no cases")
	}
	appPub := testAppKey(t).Public()
	for _, c := range file.Cases {
		t.Run(c.Name, func(t *testing.T) {
			creds := testCredentials(t)
			if c.Params["app_cert_sn"] != "" {
				creds = orderStrCertCredentials(t)
			}
			now, err := ParseTimestamp(orderStrSDKString(t, c.SDKParams, "timestamp"))
			if err != nil {
				t.Fatal(err)
			}
			s, err := OrderString(creds, c.BizContent, OrderStringOptions{
				NotifyURL:    orderStrSDKString(t, c.SDKParams, "notify_url"),
				AppAuthToken: orderStrSDKString(t, c.SDKParams, "app_auth_token"),
				Now:          now.In(time.UTC), // the zone of Now must not matter
			})
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseOrderString(s)
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(got, c.Params) {
				t.Fatalf("decoded params\n got %v\nwant %v", got, c.Params)
			}
			if got["sign"] != c.Sign {
				t.Fatalf("sign\n got %s\nwant %s", got["sign"], c.Sign)
			}
			if want := orderStrEncode(c.Params); s != want {
				t.Fatalf("not sorted form encoding\n got %s\nwant %s", s, want)
			}
			if strings.Contains(c.Sign, "+") && !strings.Contains(s, "%2B") {
				t.Fatal("`+` of the sign not percent-encoded")
			}
			if got := SignContent(c.Params); got != c.WantContent {
				t.Fatalf("sign content\n got %s\nwant %s", got, c.WantContent)
			}
			if _, err := VerifyOrderString(s, appPub); err != nil {
				t.Fatalf("own order string does not verify: %v", err)
			}

			for form, raw := range map[string]string{"node_sdk_order_str": c.OrderStr, "sorted_form_encoded": c.SortedForm} {
				parsed, err := VerifyOrderString(raw, appPub)
				if err != nil {
					t.Fatalf("%s: %v", form, err)
				}
				if !maps.Equal(parsed, c.Params) {
					t.Fatalf("%s decoded\n got %v\nwant %v", form, parsed, c.Params)
				}
			}
			var order []string
			for _, pair := range strings.Split(c.OrderStr, "&") {
				k, _, _ := strings.Cut(pair, "=")
				order = append(order, k)
			}
			if strings.Join(order, ",") != strings.Join(c.ParamOrder, ",") {
				t.Fatalf("Node order %v, vector says %v", order, c.ParamOrder)
			}
		})
	}
}

func TestOrderStringOptions(t *testing.T) {
	creds := testCredentials(t)
	now := time.Date(2025, 6, 1, 4, 0, 0, 0, time.UTC)
	biz := `{"out_trade_no":"A1","total_amount":"1.00","subject":"x"}`
	cases := []struct {
		name string
		opts OrderStringOptions
		want map[string]string // expected optional params; absent keys must be absent
	}{
		{"blank_notify_url_and_token_not_sent", OrderStringOptions{NotifyURL: "", AppAuthToken: " \t", Now: now},
			map[string]string{}},
		{"notify_url_and_token_sent_when_given", OrderStringOptions{NotifyURL: "https://m.example.com/n", AppAuthToken: "tok", Now: now},
			map[string]string{"notify_url": "https://m.example.com/n", "app_auth_token": "tok"}},
		{"values_with_spaces_kept_verbatim", OrderStringOptions{NotifyURL: " https://m.example.com/n ", Now: now},
			map[string]string{"notify_url": " https://m.example.com/n "}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := OrderString(creds, biz, c.opts)
			if err != nil {
				t.Fatal(err)
			}
			got, err := VerifyOrderString(s, creds.PrivateKey.Public())
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{"notify_url", "app_auth_token"} {
				if got[k] != c.want[k] {
					t.Errorf("%s = %q, want %q", k, got[k], c.want[k])
				}
				if _, ok := got[k]; ok != (c.want[k] != "") {
					t.Errorf("%s present = %v", k, ok)
				}
			}
			if got["timestamp"] != "2025-06-01 12:00:00" || got["method"] != "alipay.trade.app.pay" || got["biz_content"] != biz {
				t.Errorf("common params wrong: %v", got)
			}
			if _, ok := got["app_cert_sn"]; ok {
				t.Error("key-mode order string carries app_cert_sn")
			}
		})
	}

	t.Run("zero_now_uses_current_time", func(t *testing.T) {
		before := time.Now().Truncate(time.Second)
		s, err := OrderString(creds, biz, OrderStringOptions{})
		if err != nil {
			t.Fatal(err)
		}
		got, err := ParseOrderString(s)
		if err != nil {
			t.Fatal(err)
		}
		ts, err := ParseTimestamp(got["timestamp"])
		if err != nil {
			t.Fatal(err)
		}
		if ts.Before(before) || ts.After(time.Now()) {
			t.Fatalf("timestamp %v not between %v and now", ts, before)
		}
	})
}

func TestOrderStringRejects(t *testing.T) {
	creds := testCredentials(t)
	noKey := *creds
	noKey.PrivateKey = nil
	noApp := *creds
	noApp.AppID = ""
	biz := `{"out_trade_no":"A1"}`
	cases := []struct {
		name  string
		creds *Credentials
		biz   string
		opts  OrderStringOptions
		want  string
	}{
		{"nil_credentials", nil, biz, OrderStringOptions{}, "private_key"},
		{"no_private_key", &noKey, biz, OrderStringOptions{}, "private_key"},
		{"no_app_id", &noApp, biz, OrderStringOptions{}, "app_id"},
		{"blank_biz_content", creds, "  ", OrderStringOptions{}, "biz_content"},
		{"biz_content_not_json", creds, `out_trade_no=A1`, OrderStringOptions{}, "biz_content"},
		{"biz_content_json_array", creds, `[{"a":1}]`, OrderStringOptions{}, "biz_content"},
		{"biz_content_two_objects", creds, `{"a":1}{"b":2}`, OrderStringOptions{}, "biz_content"},
		{"notify_url_invalid_utf8", creds, biz, OrderStringOptions{NotifyURL: "https://x/\xff"}, "notify_url"},
		{"app_auth_token_invalid_utf8", creds, biz, OrderStringOptions{AppAuthToken: "\xc3"}, "app_auth_token"},
		{"longer_than_alipay_accepts", creds, `{"body":"` + strings.Repeat("中", 2000) + `"}`, OrderStringOptions{}, "at most 16384"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := OrderString(c.creds, c.biz, c.opts)
			if err == nil {
				t.Fatalf("accepted: %s", s)
			}
			if !errors.Is(err, ErrBadOrderString) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q should wrap ErrBadOrderString and mention %q", err, c.want)
			}
		})
	}
}

// orderStrSignEncode is a hand-optimised SignParams + url.Values.Encode; it must agree
// with them for every key layout, including where `sign` lands first or last.
func TestOrderStrSignEncodeMatchesSignParams(t *testing.T) {
	key := testAppKey(t)
	many := map[string]string{}
	for i := range 20 {
		many[fmt.Sprintf("k%02d", i)] = fmt.Sprintf("v %d+&=", i)
	}
	cases := []struct {
		name   string
		params map[string]string
	}{
		{"sign_sorts_last", map[string]string{"a": "1", "b": "x y"}},
		{"sign_sorts_first", map[string]string{"z": "1", "t": "2"}},
		{"sign_sorts_in_middle", map[string]string{"app_id": "1", "sign_type": "RSA2", "method": "m"}},
		{"stale_sign_and_blanks_dropped", map[string]string{"sign": "old", "a": " ", "b": "", "c": "!*'()~ %中"}},
		{"more_keys_than_the_stack_buffer", many},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := orderStrSignEncode(key, maps.Clone(c.params))
			if err != nil {
				t.Fatal(err)
			}
			ref := maps.Clone(c.params)
			if err := SignParams(key, ref); err != nil {
				t.Fatal(err)
			}
			if want := orderStrEncode(ref); got != want {
				t.Fatalf("\n got %s\nwant %s", got, want)
			}
		})
	}
}

func TestParseOrderStringDecodesOnce(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want map[string]string
	}{
		{"plus_is_space_and_percent_2b_is_plus", "a=x+y%2Bz", map[string]string{"a": "x y+z"}},
		{"percent_20_is_space", "a=x%20y", map[string]string{"a": "x y"}},
		{"escaped_percent_decoded_once", "p=merchantBizType%253d3c", map[string]string{"p": "merchantBizType%3d3c"}},
		{"lower_case_hex_accepted", "a=%e4%b8%ad", map[string]string{"a": "中"}},
		{"raw_utf8_accepted", "a=中", map[string]string{"a": "中"}},
		{"empty_value_kept", "a=&b=1", map[string]string{"a": "", "b": "1"}},
		{"equals_in_value_kept", "a=b=c", map[string]string{"a": "b=c"}},
		{"encoded_key_decoded", "app%5Fid=1", map[string]string{"app_id": "1"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseOrderString(c.in)
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(got, c.want) {
				t.Fatalf("got %v, want %v", got, c.want)
			}
		})
	}
}

func TestParseOrderStringRejects(t *testing.T) {
	var many strings.Builder
	for i := range 65 {
		fmt.Fprintf(&many, "&k%d=v", i)
	}
	cases := []struct {
		name string
		in   string
	}{
		{"empty", ""},
		{"no_equals", "app_id"},
		{"empty_segment", "a=1&&b=2"},
		{"leading_ampersand", "&a=1"},
		{"trailing_ampersand", "a=1&"},
		{"empty_key", "=1"},
		{"upper_case_key", "APP_ID=1"},
		{"key_with_space", "app+id=1"},
		{"malformed_escape", "a=%zz"},
		{"truncated_escape", "a=%2"},
		{"invalid_utf8_value", "a=%FF"},
		{"duplicate_key", "a=1&b=2&a=1"},
		{"duplicate_key_via_escape", "app_id=1&app%5fid=2"},
		{"too_many_parameters", many.String()[1:]},
		{"too_long", "a=" + strings.Repeat("x", 4*MaxOrderStringLen)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseOrderString(c.in)
			if err == nil {
				t.Fatalf("accepted: %v", got)
			}
			if !errors.Is(err, ErrBadOrderString) {
				t.Fatalf("error %v does not wrap ErrBadOrderString", err)
			}
		})
	}
}

func TestVerifyOrderStringRejects(t *testing.T) {
	creds := testCredentials(t)
	appPub := creds.PrivateKey.Public()
	good, err := OrderString(creds, `{"out_trade_no":"A1","total_amount":"9.00","subject":"x"}`,
		OrderStringOptions{NotifyURL: "https://m.example.com/n", Now: time.Date(2025, 6, 1, 4, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyOrderString(good, appPub); err != nil {
		t.Fatalf("baseline does not verify: %v", err)
	}
	edit := func(f func(p map[string]string)) string {
		p, err := ParseOrderString(good)
		if err != nil {
			t.Fatal(err)
		}
		f(p)
		return orderStrEncode(p)
	}
	cases := []struct {
		name string
		in   string
		key  Verifier
	}{
		{"tampered_amount", edit(func(p map[string]string) {
			p["biz_content"] = strings.Replace(p["biz_content"], "9.00", "0.01", 1)
		}), appPub},
		{"added_unsigned_parameter", edit(func(p map[string]string) { p["return_url"] = "https://evil.example/" }), appPub},
		{"removed_signed_parameter", edit(func(p map[string]string) { delete(p, "notify_url") }), appPub},
		{"sign_missing", edit(func(p map[string]string) { delete(p, "sign") }), appPub},
		{"sign_type_rsa", edit(func(p map[string]string) { p["sign_type"] = "RSA" }), appPub},
		{"sign_type_missing", edit(func(p map[string]string) { delete(p, "sign_type") }), appPub},
		{"charset_gbk", edit(func(p map[string]string) { p["charset"] = "GBK" }), appPub},
		{"raw_plus_in_sign_decodes_to_space", strings.ReplaceAll(good, "%2B", "+"), appPub},
		{"wrong_public_key", good, testAlipayKey(t).Public()},
		{"no_public_key", good, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.name == "raw_plus_in_sign_decodes_to_space" && !strings.Contains(good, "%2B") {
				t.Fatal("baseline sign has no `+`; pick another timestamp")
			}
			got, err := VerifyOrderString(c.in, c.key)
			if err == nil {
				t.Fatalf("accepted: %v", got)
			}
			if c.key != nil && !errors.Is(err, ErrBadSignature) {
				t.Fatalf("error %v does not wrap ErrBadSignature", err)
			}
		})
	}
}
