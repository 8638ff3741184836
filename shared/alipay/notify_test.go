package alipay

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
)

// notifyVector is one case of testdata/vectors/notify.json.
type notifyVector struct {
	Name           string          `json:"name"`
	Kind           string          `json:"kind"`
	Charset        string          `json:"charset"`
	Body           string          `json:"body"`
	Params         json.RawMessage `json:"params"`
	SignContent    *string         `json:"sign_content"`
	SignatureValid bool            `json:"signature_valid"`
	Expected       bool            `json:"expected"`
	MerchantOrder  *struct {
		AppID       string `json:"app_id"`
		SellerID    string `json:"seller_id"`
		OutTradeNo  string `json:"out_trade_no"`
		TotalAmount string `json:"total_amount"`
	} `json:"merchant_order"`
	BusinessChecksPass *bool          `json:"business_checks_pass"`
	FailedCheck        string         `json:"failed_check"`
	SDK                map[string]any `json:"sdk"`
}

func notifyLoadVectors(t testing.TB) []notifyVector {
	t.Helper()
	var file struct {
		Cases []notifyVector `json:"cases"`
	}
	loadVectors(t, "vectors/notify.json", &file)
	if len(file.Cases) == 0 {
		t.Fatal("notify.json has no cases")
	}
	return file.Cases
}

func notifyVectorByName(t testing.TB, name string) notifyVector {
	t.Helper()
	for _, c := range notifyLoadVectors(t) {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("notify.json has no case %q", name)
	return notifyVector{}
}

// notifyKeyModeCredentials are key-mode credentials whose Alipay key is
// keys/alipay_public.pem.
func notifyKeyModeCredentials(t testing.TB) *Credentials {
	t.Helper()
	pub, err := ParsePublicKey(readTestdata(t, "keys/alipay_public.pem"))
	if err != nil {
		t.Fatal(err)
	}
	return &Credentials{AppID: "2021000000000001", AlipayPublicKey: pub}
}

// notifyDiffersFromNode reports whether our verdict on a vector differs from either Node
// SDK check (or the SDK could not check it at all, as for GBK).
func notifyDiffersFromNode(c notifyVector) bool {
	for _, k := range []string{"checkNotifySign", "checkNotifySignV2"} {
		if v, ok := c.SDK[k].(bool); !ok || v != c.Expected {
			return true
		}
	}
	return false
}

// notifyBusinessCheck is the merchant-side check of §8.3, written independently of
// TradeNotice.Matches: the name of the first failing field, "" when all match.
func notifyBusinessCheck(t *testing.T, p map[string]string, appID, outTradeNo, total, sellerID string) string {
	t.Helper()
	want, err := ParseAmount(total)
	if err != nil {
		t.Fatalf("merchant_order.total_amount: %v", err)
	}
	got, err := ParseAmount(p["total_amount"])
	switch {
	case p["app_id"] != appID:
		return "app_id"
	case p["out_trade_no"] != outTradeNo:
		return "out_trade_no"
	case err != nil || got != want:
		return "total_amount"
	case p["seller_id"] != sellerID:
		return "seller_id"
	}
	return ""
}

func TestNotifyVectors(t *testing.T) {
	creds := notifyKeyModeCredentials(t)
	pub := creds.AlipayPublicKey
	flagged := map[string]bool{}
	for _, c := range notifyLoadVectors(t) {
		name := c.Name
		if notifyDiffersFromNode(c) {
			name += "_unlike_node_sdk"
			flagged[c.Name] = true
		}
		t.Run(name, func(t *testing.T) {
			n, err := ParseNotification([]byte(c.Body))
			if c.SignContent == nil {
				// Only the duplicate-key case has no content: parsing must refuse it.
				if c.Expected {
					t.Fatal("vector expects acceptance but has no sign_content")
				}
				if !errors.Is(err, ErrNotifyMalformed) || !strings.Contains(err.Error(), "duplicate") {
					t.Fatalf("ParseNotification error = %v, want duplicate-key ErrNotifyMalformed", err)
				}
				var pairs [][2]string
				if err := json.Unmarshal(c.Params, &pairs); err != nil {
					t.Fatalf("params: %v", err)
				}
				seen := map[string]bool{}
				dup := false
				for _, p := range pairs {
					dup = dup || seen[p[0]]
					seen[p[0]] = true
				}
				if !dup {
					t.Fatal("vector params have no duplicate key")
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseNotification: %v", err)
			}
			var want map[string]string
			if err := json.Unmarshal(c.Params, &want); err != nil {
				t.Fatalf("params: %v", err)
			}
			if !maps.Equal(n.Params, want) {
				t.Errorf("Params = %v\nwant %v", n.Params, want)
			}
			if got := n.SignContent(); got != *c.SignContent {
				t.Errorf("SignContent =\n%s\nwant\n%s", got, *c.SignContent)
			}
			if wantCS, _ := CanonicalCharset(c.Charset); n.Charset != wantCS {
				t.Errorf("Charset = %q, want %q", n.Charset, wantCS)
			}
			if got := n.Kind(); got != NotifyKind(c.Kind) {
				t.Errorf("Kind = %q, want %q", got, c.Kind)
			}
			// signature_valid is a fact about the vector's sign and content alone.
			if sign := want["sign"]; sign != "" {
				content, err := EncodeCharset(c.Charset, *c.SignContent)
				if err != nil {
					t.Fatal(err)
				}
				if valid := pub.Verify(content, sign) == nil; valid != c.SignatureValid {
					t.Errorf("raw signature valid = %v, vector says %v", valid, c.SignatureValid)
				}
			}

			err = n.Verify(creds)
			if (err == nil) != c.Expected {
				t.Fatalf("Verify = %v, want accepted=%v", err, c.Expected)
			}
			if !c.Expected {
				if n.verified {
					t.Error("Verified() after a failed Verify")
				}
				if c.SignatureValid {
					// Authentic content, refused by policy: must not look like a forgery.
					if errors.Is(err, ErrBadSignature) || !(errors.Is(err, ErrNotifyUnsigned) || errors.Is(err, ErrNotifySignType)) {
						t.Errorf("Verify error = %v, want a sign/sign_type policy error", err)
					}
				} else if !errors.Is(err, ErrBadSignature) && !errors.Is(err, ErrNotifyUnsigned) {
					t.Errorf("Verify error = %v, want ErrBadSignature or ErrNotifyUnsigned", err)
				}
				return
			}
			notifyCheckView(t, n, want)

			if c.MerchantOrder != nil {
				if c.BusinessChecksPass == nil {
					t.Fatal("merchant_order without business_checks_pass")
				}
				mo := c.MerchantOrder
				failed := notifyBusinessCheck(t, n.Params, mo.AppID, mo.OutTradeNo, mo.TotalAmount, mo.SellerID)
				if (failed == "") != *c.BusinessChecksPass || failed != c.FailedCheck {
					t.Errorf("business check failed on %q, vector: pass=%v failed_check=%q", failed, *c.BusinessChecksPass, c.FailedCheck)
				}
			}
		})
	}
	for _, name := range []string{"tampered_empty_param_added", "tampered_sign_type_removed", "trade_success_bare_percent", "trade_success_gbk"} {
		if !flagged[name] {
			t.Errorf("vector %s no longer differs from the Node SDK; review its subtest name", name)
		}
	}
}

// notifyCheckView checks the typed view of a verified vector against its params.
func notifyCheckView(t *testing.T, n *Notification, p map[string]string) {
	t.Helper()
	amt := func(k string) Amount {
		a, err := ParseAmount(p[k])
		if err != nil {
			t.Fatalf("vector %s: %v", k, err)
		}
		return a
	}
	switch n.Kind() {
	case KindTradeStatus:
		tn, err := n.Trade()
		if err != nil {
			t.Fatalf("Trade: %v", err)
		}
		if tn.OutTradeNo != p["out_trade_no"] || tn.TradeNo != p["trade_no"] || string(tn.TradeStatus) != p["trade_status"] ||
			tn.NotifyID != p["notify_id"] || tn.AppID != p["app_id"] || tn.SellerID != p["seller_id"] {
			t.Errorf("Trade ids = %+v", tn)
		}
		if tn.TotalAmount != amt("total_amount") {
			t.Errorf("TotalAmount = %s, want %s", tn.TotalAmount, p["total_amount"])
		}
		if FormatTimestamp(tn.NotifyTime) != p["notify_time"] {
			t.Errorf("NotifyTime = %v, want %s China time", tn.NotifyTime, p["notify_time"])
		}
		_, refund := p["refund_fee"]
		if tn.HasRefundFee != refund || (refund && tn.RefundFee != amt("refund_fee")) {
			t.Errorf("refund = %v %s, want %v %s", tn.HasRefundFee, tn.RefundFee, refund, p["refund_fee"])
		}
		if g := p["gmt_refund"]; g != "" {
			if !strings.HasPrefix(g, FormatTimestamp(tn.GmtRefund)) || (tn.GmtRefund.Nanosecond() != 0) != strings.Contains(g, ".") {
				t.Errorf("GmtRefund = %v, want %s", tn.GmtRefund, g)
			}
		}
		if tn.PassbackParams != p["passback_params"] {
			t.Errorf("PassbackParams = %q, want %q (decoded once)", tn.PassbackParams, p["passback_params"])
		}
	case KindFundAuth, KindFundAuthUnfreeze:
		fa, err := n.FundAuth()
		if err != nil {
			t.Fatalf("FundAuth: %v", err)
		}
		if fa.AuthNo != p["auth_no"] || fa.OutOrderNo != p["out_order_no"] || fa.OperationID != p["operation_id"] ||
			fa.OutRequestNo != p["out_request_no"] || string(fa.OperationType) != p["operation_type"] ||
			string(fa.Status) != p["status"] || fa.AppID != p["app_id"] || fa.PayeeUserID != p["payee_user_id"] {
			t.Errorf("FundAuth ids = %+v", fa)
		}
		if fa.Amount != amt("amount") || !fa.HasTotals || fa.RestAmount != amt("rest_amount") {
			t.Errorf("FundAuth amounts = %+v", fa)
		}
		if err := fa.CheckRest(); err != nil {
			t.Errorf("CheckRest: %v", err)
		}
	case KindAgreementSign, KindAgreementUnsign:
		ag, err := n.Agreement()
		if err != nil {
			t.Fatalf("Agreement: %v", err)
		}
		if ag.Kind != n.Kind() || ag.AgreementNo != p["agreement_no"] || ag.ExternalAgreementNo != p["external_agreement_no"] ||
			string(ag.Status) != p["status"] || ag.SignScene != p["sign_scene"] || ag.AlipayUserID != p["alipay_user_id"] {
			t.Errorf("Agreement = %+v", ag)
		}
		if FormatTimestamp(ag.InvalidTime) != p["invalid_time"] {
			t.Errorf("InvalidTime = %v, want %s", ag.InvalidTime, p["invalid_time"])
		}
		if _, ok := p["unsign_time"]; ok == ag.UnsignTime.IsZero() {
			t.Errorf("UnsignTime = %v, param present %v", ag.UnsignTime, ok)
		}
	default:
		t.Fatalf("vector of unknown kind %q", n.Kind())
	}
}

// notifyFormEncode form-encodes pairs in order, values in the charset named by the
// "charset" pair (utf-8 when absent), like java.net.URLEncoder: unreserved bytes
// [A-Za-z0-9.*_-] as is, space as '+', everything else %XX.
func notifyFormEncode(t testing.TB, pairs [][2]string) []byte {
	t.Helper()
	cs := "utf-8"
	for _, p := range pairs {
		if p[0] == "charset" && p[1] != "" {
			cs = p[1]
		}
	}
	var b []byte
	for i, p := range pairs {
		if i > 0 {
			b = append(b, '&')
		}
		b = append(b, p[0]...)
		b = append(b, '=')
		v, err := EncodeCharset(cs, p[1])
		if err != nil {
			t.Fatalf("%s: %v", p[0], err)
		}
		for _, c := range v {
			switch {
			case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '*', c == '_', c == '-':
				b = append(b, c)
			case c == ' ':
				b = append(b, '+')
			default:
				b = append(b, fmt.Sprintf("%%%02X", c)...)
			}
		}
	}
	return b
}

// notifySign returns pairs plus sign and sign_type=RSA2: Alipay's rule, content hashed
// in the charset of the "charset" pair.
func notifySign(t testing.TB, key *PrivateKey, pairs [][2]string) [][2]string {
	t.Helper()
	m := map[string]string{}
	cs := "utf-8"
	for _, p := range pairs {
		m[p[0]] = p[1]
		if p[0] == "charset" && p[1] != "" {
			cs = p[1]
		}
	}
	content, err := EncodeCharset(cs, NotifySignContent(m))
	if err != nil {
		t.Fatal(err)
	}
	sig, err := key.Sign(content)
	if err != nil {
		t.Fatal(err)
	}
	out := append([][2]string{}, pairs...)
	return append(out, [2]string{"sign_type", "RSA2"}, [2]string{"sign", sig})
}

// notifyTradePairs is a minimal valid trade_status_sync notification (unsigned).
func notifyTradePairs() [][2]string {
	return [][2]string{
		{"notify_time", "2025-06-01 12:00:11"}, {"notify_type", "trade_status_sync"},
		{"notify_id", "2025060100222120010012345678900001"}, {"app_id", "2021000000000001"},
		{"charset", "utf-8"}, {"version", "1.0"}, {"trade_no", "2025060122001422520500000001"},
		{"out_trade_no", "70501111111S001111119"}, {"trade_status", "TRADE_SUCCESS"},
		{"total_amount", "9.00"}, {"seller_id", "2088000000000001"}, {"subject", "大乐透 2.1"},
	}
}

// notifySetPair replaces (or appends) key; value "\x00" removes it.
func notifySetPair(pairs [][2]string, key, value string) [][2]string {
	out := make([][2]string, 0, len(pairs)+1)
	found := false
	for _, p := range pairs {
		if p[0] == key {
			found = true
			if value == "\x00" {
				continue
			}
			p[1] = value
		}
		out = append(out, p)
	}
	if !found && value != "\x00" {
		out = append(out, [2]string{key, value})
	}
	return out
}

func TestParseNotificationRejectsMalformed(t *testing.T) {
	long := strings.Repeat("a", NotifyMaxBody-len("k=")+1)
	many := strings.Repeat("k=v&", NotifyMaxParams)
	var manyDistinct []string
	for i := 0; i <= NotifyMaxParams; i++ {
		manyDistinct = append(manyDistinct, fmt.Sprintf("k%d=v", i))
	}
	tests := []struct {
		name, body, mention string
	}{
		{"empty_body", "", "empty"},
		{"body_over_64_kib", "k=" + long, "body"},
		{"over_200_params", strings.Join(manyDistinct, "&"), "parameters"},
		{"over_200_params_counted_before_duplicates", many + "k=v", "parameters"},
		{"escape_truncated_at_end", "a=1%", "a: malformed percent-escape"},
		{"escape_one_digit", "a=%4&b=1", "a: malformed"},
		{"escape_non_hex", "subject=%zz", "subject: malformed"},
		{"escape_second_digit_non_hex", "a=%4g", "a: malformed"},
		{"bare_percent_in_raw_body", "body=100%+off", "body: malformed"},
		{"key_upper_case", "App_id=1", "parameter 1: key"},
		{"key_with_dash", "a=1&out-trade-no=1", "parameter 2: key"},
		{"key_empty", "=1", "key"},
		{"key_65_chars", strings.Repeat("k", 65) + "=1", "key"},
		{"key_percent_encoded", "%61pp_id=1", "key"},
		{"key_with_plus", "a+b=1", "key"},
		{"key_non_ascii", "键=1", "key"},
		{"duplicate_key_same_value", "a=1&b=2&a=1", "a: duplicate"},
		{"duplicate_charset", "charset=utf-8&charset=gbk", "duplicate"},
		{"charset_unknown", "charset=latin1&a=1", "charset"},
		{"charset_utf16", "charset=utf-16", "charset"},
		{"charset_not_ascii", "charset=%E4%B8%AD", "charset"},
		{"charset_with_space", "charset=utf-8+", "charset"},
		{"utf8_invalid_bytes", "subject=%C3%28", "subject: invalid utf-8"},
		{"utf8_overlong_slash", "subject=%C0%AF", "subject: invalid utf-8"},
		{"utf8_surrogate", "subject=%ED%A0%80", "subject: invalid utf-8"},
		{"utf8_truncated_sequence_split_across_values", "a=%E4%B8&b=%AD", "a: invalid utf-8"},
		{"gbk_invalid_bytes", "charset=gbk&subject=%FF%FF", "subject: invalid gbk"},
		{"gbk_truncated_lead_byte", "subject=%B4%F3%C0&charset=GBK", "subject: invalid gbk"},
		{"gb18030_lone_0x80", "charset=gb18030&subject=%80", "subject: invalid gb18030"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, err := ParseNotification([]byte(tc.body))
			if !errors.Is(err, ErrNotifyMalformed) {
				t.Fatalf("ParseNotification = %v, %v; want ErrNotifyMalformed", n, err)
			}
			if !strings.Contains(err.Error(), tc.mention) {
				t.Errorf("error %q does not mention %q", err, tc.mention)
			}
			if len(err.Error()) > 120 {
				t.Errorf("error is %d bytes long; keep it short", len(err.Error()))
			}
		})
	}
}

func TestParseNotificationAccepts(t *testing.T) {
	atLimit := "k=" + strings.Repeat("a", NotifyMaxBody-len("k="))
	var maxParams []string
	want200 := map[string]string{}
	for i := 0; i < NotifyMaxParams; i++ {
		k := fmt.Sprintf("k%d", i)
		maxParams = append(maxParams, k+"=v")
		want200[k] = "v"
	}
	tests := []struct {
		name, body, charset string
		want                map[string]string
	}{
		{"body_of_exactly_64_kib", atLimit, "utf-8", map[string]string{"k": atLimit[2:]}},
		{"exactly_200_params", strings.Join(maxParams, "&"), "utf-8", want200},
		{"plus_is_space_and_escaped_plus_is_plus", "body=iPhone+6+%2B+x", "utf-8", map[string]string{"body": "iPhone 6 + x"}},
		{"decoded_exactly_once", "passback_params=a%253db%2526c&p=100%25", "utf-8", map[string]string{"passback_params": "a%3db%26c", "p": "100%"}},
		{"lower_and_upper_hex_escapes", "a=%e5%A4%a7", "utf-8", map[string]string{"a": "大"}},
		{"value_may_contain_equals", "a=b=c", "utf-8", map[string]string{"a": "b=c"}},
		{"empty_segments_ignored", "&a=1&&b=2&", "utf-8", map[string]string{"a": "1", "b": "2"}},
		{"key_without_equals_is_empty_value", "a&b=2", "utf-8", map[string]string{"a": "", "b": "2"}},
		{"charset_absent_defaults_to_utf8", "a=%E5%A4%A7", "utf-8", map[string]string{"a": "大"}},
		{"charset_blank_defaults_to_utf8", "charset=&a=%E5%A4%A7", "utf-8", map[string]string{"charset": "", "a": "大"}},
		{"charset_mixed_case_gbk", "charset=GbK&a=%B4%F3", "gbk", map[string]string{"charset": "GbK", "a": "大"}},
		{"charset_named_last_applies_to_earlier_values", "a=%B4%F3&charset=gbk", "gbk", map[string]string{"charset": "gbk", "a": "大"}},
		{"charset_mixed_case_utf8", "charset=UTF-8&a=%E5%A4%A7", "utf-8", map[string]string{"charset": "UTF-8", "a": "大"}},
		{"charset_gb2312_decoded_as_gbk", "charset=gb2312&a=%D6%D0%CE%C4", "gbk", map[string]string{"charset": "gb2312", "a": "中文"}},
		{"charset_gb18030_four_byte_emoji", "charset=GB18030&a=%94%39%FC%36", "gb18030", map[string]string{"charset": "GB18030", "a": "😀"}},
		{"gbk_euro_sign_0x80", "charset=gbk&a=%80", "gbk", map[string]string{"charset": "gbk", "a": "€"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, err := ParseNotification([]byte(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(n.Params, tc.want) {
				t.Errorf("Params = %q, want %q", n.Params, tc.want)
			}
			if n.Charset != tc.charset {
				t.Errorf("Charset = %q, want %q", n.Charset, tc.charset)
			}
		})
	}
}

// notifyStaticVerifier is a Verifier returning a fixed error.
type notifyStaticVerifier struct{ err error }

func (v notifyStaticVerifier) Verify([]byte, string) error { return v.err }

func TestNotificationVerifyPolicy(t *testing.T) {
	alipay := testAlipayKey(t)
	creds := notifyKeyModeCredentials(t)
	signed := notifySign(t, alipay, notifyTradePairs())
	sign := ""
	for _, p := range signed {
		if p[0] == "sign" {
			sign = p[1]
		}
	}
	urlSafe := strings.NewReplacer("+", "-", "/", "_").Replace(sign)
	if urlSafe == sign {
		t.Fatal("test signature has no + or /; cannot build the URL-safe case")
	}
	gbk := append(notifySetPair(notifyTradePairs(), "charset", "\x00"), [2]string{"charset", "gbk"})
	// The GBK notification's content signed over its UTF-8 bytes: what a UTF-8-only
	// signer or verifier (the Node SDK) would produce.
	gbkMap := map[string]string{}
	for _, p := range gbk {
		gbkMap[p[0]] = p[1]
	}
	utf8Sig, err := alipay.Sign([]byte(NotifySignContent(gbkMap)))
	if err != nil {
		t.Fatal(err)
	}
	gbkHashedAsUTF8 := append(append([][2]string{}, gbk...), [2]string{"sign_type", "RSA2"}, [2]string{"sign", utf8Sig})
	certCreds := &Credentials{
		AppID: "2021000000000001", AppCertSN: "app-sn", AlipayRootCertSN: "root-sn",
		AlipayCerts: map[string]*PublicKey{"4498aaa8ab0c8986c5e6b4fbd0b7ea8a": creds.AlipayPublicKey, "other": testAppKey(t).Public()},
	}
	withCertSN := func(sn string) [][2]string {
		return notifySign(t, alipay, append(notifyTradePairs(), [2]string{"alipay_cert_sn", sn}))
	}
	tests := []struct {
		name  string
		pairs [][2]string
		creds *Credentials
		want  error // nil: accepted
	}{
		{"rsa2_signed_accepted", signed, creds, nil},
		{"sign_type_lower_case_rsa2_accepted", notifySetPair(signed, "sign_type", "rsa2"), creds, nil},
		{"sign_type_rsa_rejected_never_switch_algorithm", notifySetPair(signed, "sign_type", "RSA"), creds, ErrNotifySignType},
		{"sign_type_sm2_rejected", notifySetPair(signed, "sign_type", "SM2"), creds, ErrNotifySignType},
		{"sign_type_missing_rejected_unlike_node_sdk", notifySetPair(signed, "sign_type", "\x00"), creds, ErrNotifyUnsigned},
		{"sign_type_blank_rejected", notifySetPair(signed, "sign_type", " "), creds, ErrNotifyUnsigned},
		{"sign_missing_rejected", notifySetPair(signed, "sign", "\x00"), creds, ErrNotifyUnsigned},
		{"sign_blank_rejected", notifySetPair(signed, "sign", ""), creds, ErrNotifyUnsigned},
		{"sign_url_safe_base64_rejected", notifySetPair(signed, "sign", urlSafe), creds, ErrBadSignature},
		{"sign_unpadded_base64_rejected", notifySetPair(signed, "sign", strings.TrimRight(sign, "=")), creds, ErrBadSignature},
		{"value_changed_after_signing_rejected", notifySetPair(signed, "total_amount", "0.01"), creds, ErrBadSignature},
		{"blank_param_added_after_signing_accepted_unlike_node_sdk", append(signed, [2]string{"coupon_fee", ""}), creds, nil},
		{"whitespace_param_added_after_signing_accepted", append(signed, [2]string{"coupon_fee", "  "}), creds, nil},
		{"signed_by_app_key_rejected", notifySign(t, testAppKey(t), notifyTradePairs()), creds, ErrBadSignature},
		{"gbk_content_hashed_as_gbk_accepted_unlike_node_sdk", notifySign(t, alipay, gbk), creds, nil},
		{"gbk_content_hashed_as_utf8_rejected", gbkHashedAsUTF8, creds, ErrBadSignature},
		{"charset_mixed_case_accepted", notifySign(t, alipay, notifySetPair(gbk, "charset", "GbK")), creds, nil},
		{"charset_gb18030_accepted", notifySign(t, alipay, append(notifySetPair(notifyTradePairs(), "charset", "GB18030"), [2]string{"body", "😀 中文"})), creds, nil},
		{"cert_mode_known_cert_sn_accepted", withCertSN("4498aaa8ab0c8986c5e6b4fbd0b7ea8a"), certCreds, nil},
		{"cert_mode_cert_sn_of_another_key_rejected", withCertSN("other"), certCreds, ErrBadSignature},
		{"cert_mode_unknown_cert_sn_rejected", withCertSN("unknown"), certCreds, ErrUnknownCertSN},
		{"cert_mode_missing_cert_sn_with_two_certs_rejected", signed, certCreds, ErrUnknownCertSN},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, err := ParseNotification(notifyFormEncode(t, tc.pairs))
			if err != nil {
				t.Fatal(err)
			}
			err = n.Verify(tc.creds)
			if tc.want == nil {
				if err != nil || !n.verified {
					t.Fatalf("Verify = %v, want accepted", err)
				}
				if _, err := n.Trade(); err != nil {
					t.Errorf("Trade after Verify: %v", err)
				}
				return
			}
			if !errors.Is(err, tc.want) || n.verified {
				t.Fatalf("Verify = %v (verified %v), want %v", err, n.verified, tc.want)
			}
			if msg := err.Error(); len(msg) > 120 || strings.Contains(msg, "MII") || strings.Contains(msg, sign[:16]) {
				t.Errorf("error text too long or carries key/sign material: %q", msg)
			}
			if _, err := n.Trade(); !errors.Is(err, ErrNotifyUnverified) {
				t.Errorf("Trade after failed Verify = %v, want ErrNotifyUnverified", err)
			}
		})
	}

	t.Run("verify_with_plain_verifier_error_wraps_bad_signature", func(t *testing.T) {
		n, err := ParseNotification(notifyFormEncode(t, signed))
		if err != nil {
			t.Fatal(err)
		}
		if err := n.VerifyWith(notifyStaticVerifier{errors.New("hsm unavailable")}); !errors.Is(err, ErrBadSignature) {
			t.Errorf("VerifyWith = %v, want ErrBadSignature", err)
		}
		if err := n.VerifyWith(nil); err == nil || n.verified {
			t.Errorf("VerifyWith(nil) = %v, want an error", err)
		}
		if err := n.VerifyWith(creds.AlipayPublicKey); err != nil {
			t.Fatalf("VerifyWith(public key) = %v", err)
		}
		if err := n.Verify(nil); err == nil || n.verified {
			t.Errorf("Verify(nil) = %v, want an error and Verified() false", err)
		}
	})
	t.Run("failed_verify_revokes_earlier_success", func(t *testing.T) {
		n, err := ParseNotification(notifyFormEncode(t, signed))
		if err != nil {
			t.Fatal(err)
		}
		if err := n.Verify(creds); err != nil {
			t.Fatal(err)
		}
		if err := n.VerifyWith(testAppKey(t).Public()); err == nil || n.verified {
			t.Fatalf("VerifyWith(wrong key) = %v, Verified %v", err, n.verified)
		}
	})
}

func TestNotificationKind(t *testing.T) {
	tests := []struct {
		name   string
		params map[string]string
		want   NotifyKind
	}{
		{"trade_status_sync", map[string]string{"notify_type": "trade_status_sync", "trade_status": "TRADE_SUCCESS"}, KindTradeStatus},
		{"fund_auth_freeze", map[string]string{"notify_type": "fund_auth_freeze"}, KindFundAuth},
		{"fund_auth_fields_win_over_trade_status_sync_label", map[string]string{"notify_type": "trade_status_sync", "auth_no": "A", "operation_type": "FREEZE"}, KindFundAuth},
		{"fund_auth_fields_without_notify_type", map[string]string{"auth_no": "A", "operation_type": "FREEZE"}, KindFundAuth},
		{"trade_status_present_keeps_trade_label", map[string]string{"notify_type": "trade_status_sync", "auth_no": "A", "operation_type": "FREEZE", "trade_status": "TRADE_SUCCESS"}, KindTradeStatus},
		{"blank_trade_status_is_absent", map[string]string{"notify_type": "trade_status_sync", "auth_no": "A", "operation_type": "PAY", "trade_status": ""}, KindFundAuth},
		{"auth_no_without_operation_type_uses_label", map[string]string{"notify_type": "trade_status_sync", "auth_no": "A"}, KindTradeStatus},
		// L12: the unfreeze and cancel notices are what their notify_type says, first.
		{"fund_auth_unfreeze", map[string]string{"notify_type": "fund_auth_unfreeze", "auth_no": "A", "operation_type": "UNFREEZE"}, KindFundAuthUnfreeze},
		{"fund_auth_operation_cancel", map[string]string{"notify_type": "fund_auth_operation_cancel", "auth_no": "A", "action": "close"}, KindFundAuthCancel},
		{"dut_user_sign", map[string]string{"notify_type": "dut_user_sign"}, KindAgreementSign},
		{"dut_user_unsign", map[string]string{"notify_type": "dut_user_unsign"}, KindAgreementUnsign},
		{"notify_type_upper_case_unknown", map[string]string{"notify_type": "TRADE_STATUS_SYNC"}, KindUnknown},
		{"notify_type_missing_unknown", map[string]string{"trade_status": "TRADE_SUCCESS"}, KindUnknown},
		{"notify_type_other_unknown", map[string]string{"notify_type": "open_app_auth_notify"}, KindUnknown},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := (&Notification{Params: tc.params}).Kind(); got != tc.want {
				t.Errorf("Kind = %q, want %q", got, tc.want)
			}
		})
	}
}

// notifyVerified parses and verifies pairs signed with the simulated Alipay key.
func notifyVerified(t *testing.T, alipay *PrivateKey, creds *Credentials, pairs [][2]string) *Notification {
	t.Helper()
	n, err := ParseNotification(notifyFormEncode(t, notifySign(t, alipay, pairs)))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Verify(creds); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestTradeNoticeFields(t *testing.T) {
	alipay, creds := testAlipayKey(t), notifyKeyModeCredentials(t)
	for _, field := range []string{"notify_id", "notify_time", "app_id", "trade_no", "out_trade_no", "trade_status", "total_amount"} {
		t.Run("required_"+field+"_missing", func(t *testing.T) {
			_, err := notifyVerified(t, alipay, creds, notifySetPair(notifyTradePairs(), field, "\x00")).Trade()
			if !errors.Is(err, ErrNotifyMalformed) || !strings.Contains(err.Error(), field+" missing") {
				t.Errorf("Trade = %v, want %s missing", err, field)
			}
		})
	}
	malformed := []struct{ name, field, value string }{
		{"blank_required_is_missing", "out_trade_no", " "},
		{"amount_three_decimals", "total_amount", "9.001"},
		{"amount_negative", "total_amount", "-9.00"},
		{"amount_exponent", "total_amount", "9e2"},
		{"optional_amount_malformed", "refund_fee", "3,00"},
		{"time_wrong_layout", "notify_time", "2025/06/01 12:00:11"},
		{"optional_time_malformed", "gmt_payment", "2025-06-01T12:00:10"},
		{"trade_status_unknown", "trade_status", "TRADE_PENDING"},
		{"trade_status_lower_case", "trade_status", "trade_success"},
	}
	for _, tc := range malformed {
		t.Run(tc.name, func(t *testing.T) {
			_, err := notifyVerified(t, alipay, creds, notifySetPair(notifyTradePairs(), tc.field, tc.value)).Trade()
			if !errors.Is(err, ErrNotifyMalformed) || !strings.Contains(err.Error(), tc.field) {
				t.Errorf("Trade = %v, want an error naming %s", err, tc.field)
			}
		})
	}
	t.Run("optional_fields_absent_are_zero_with_flags_false", func(t *testing.T) {
		tn, err := notifyVerified(t, alipay, creds, notifyTradePairs()).Trade()
		if err != nil {
			t.Fatal(err)
		}
		if tn.HasReceiptAmount || tn.HasRefundFee || tn.RefundFee != 0 || !tn.GmtPayment.IsZero() || tn.AuthAppID != "" {
			t.Errorf("optional fields = %+v", tn)
		}
		if tn.TotalAmount != 900 || tn.NotifyTime.Location() != ChinaTime || tn.NotifyTime.UTC().Hour() != 4 {
			t.Errorf("TotalAmount %d, NotifyTime %v", tn.TotalAmount, tn.NotifyTime)
		}
	})
	t.Run("refund_notice_with_millisecond_gmt_refund", func(t *testing.T) {
		pairs := append(notifyTradePairs(), [2]string{"refund_fee", "3.00"}, [2]string{"out_biz_no", "RF1"}, [2]string{"gmt_refund", "2025-06-02 09:00:00.123"})
		tn, err := notifyVerified(t, alipay, creds, pairs).Trade()
		if err != nil {
			t.Fatal(err)
		}
		if !tn.HasRefundFee || tn.RefundFee != 300 || tn.OutBizNo != "RF1" || tn.GmtRefund.Nanosecond() != 123e6 || tn.TradeStatus != TradeStatusSuccess {
			t.Errorf("refund notice = %+v", tn)
		}
	})
	t.Run("wrong_kind_rejected", func(t *testing.T) {
		n := notifyVerified(t, alipay, creds, notifySetPair(notifyTradePairs(), "notify_type", "dut_user_sign"))
		if _, err := n.Trade(); !errors.Is(err, ErrNotifyMalformed) || !strings.Contains(err.Error(), "notify_type") {
			t.Errorf("Trade on an agreement notice = %v", err)
		}
		if _, err := n.FundAuth(); !errors.Is(err, ErrNotifyMalformed) {
			t.Errorf("FundAuth on an agreement notice = %v", err)
		}
	})
	t.Run("unverified_rejected", func(t *testing.T) {
		n, err := ParseNotification(notifyFormEncode(t, notifySign(t, alipay, notifyTradePairs())))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := n.Trade(); !errors.Is(err, ErrNotifyUnverified) {
			t.Errorf("Trade before Verify = %v", err)
		}
	})
}

// notifyFundAuthPairs is a minimal valid fund_auth_freeze notification (unsigned).
func notifyFundAuthPairs() [][2]string {
	return [][2]string{
		{"notify_type", "fund_auth_freeze"}, {"notify_id", "N-FA-1"}, {"notify_time", "2025-06-01 12:00:05"},
		{"auth_no", "2025060110002001550500000001"}, {"out_order_no", "8077735255938023"},
		{"operation_id", "20250601000001"}, {"out_request_no", "FRZ20250601000001"},
		{"operation_type", "FREEZE"}, {"amount", "100.00"}, {"status", "SUCCESS"},
		{"total_freeze_amount", "100.00"}, {"total_unfreeze_amount", "20.00"},
		{"total_pay_amount", "10.00"}, {"rest_amount", "70.00"},
	}
}

func TestFundAuthNoticeFields(t *testing.T) {
	alipay, creds := testAlipayKey(t), notifyKeyModeCredentials(t)
	for _, field := range []string{"notify_id", "notify_time", "auth_no", "out_order_no", "operation_id", "out_request_no", "status", "amount"} {
		t.Run("required_"+field+"_missing", func(t *testing.T) {
			_, err := notifyVerified(t, alipay, creds, notifySetPair(notifyFundAuthPairs(), field, "\x00")).FundAuth()
			if !errors.Is(err, ErrNotifyMalformed) || !strings.Contains(err.Error(), field+" missing") {
				t.Errorf("FundAuth = %v, want %s missing", err, field)
			}
		})
	}
	bad := []struct{ name, field, value string }{
		{"operation_type_unknown", "operation_type", "REFUND"},
		{"status_unknown", "status", "FINISHED"},
		{"amount_malformed", "amount", "100.000"},
		{"partial_totals_rest_missing", "rest_amount", "\x00"},
		{"partial_totals_pay_malformed", "total_pay_amount", "ten"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := notifyVerified(t, alipay, creds, notifySetPair(notifyFundAuthPairs(), tc.field, tc.value)).FundAuth()
			if !errors.Is(err, ErrNotifyMalformed) || !strings.Contains(err.Error(), tc.field) {
				t.Errorf("FundAuth = %v, want an error naming %s", err, tc.field)
			}
		})
	}
	t.Run("operation_type_missing_classifies_by_label_and_is_required", func(t *testing.T) {
		_, err := notifyVerified(t, alipay, creds, notifySetPair(notifyFundAuthPairs(), "operation_type", "\x00")).FundAuth()
		if !errors.Is(err, ErrNotifyMalformed) || !strings.Contains(err.Error(), "operation_type missing") {
			t.Errorf("FundAuth = %v", err)
		}
	})
	t.Run("seed_label_trade_status_sync_still_fund_auth", func(t *testing.T) {
		fa, err := notifyVerified(t, alipay, creds, notifySetPair(notifyFundAuthPairs(), "notify_type", "trade_status_sync")).FundAuth()
		if err != nil || fa.OperationType != FundAuthOpFreeze || fa.Status != FundAuthStatusSuccess || fa.AppID != "" {
			t.Errorf("FundAuth = %+v, %v", fa, err)
		}
	})
	rest := []struct {
		name                      string
		freeze, unfreeze, pay, rr string
		ok                        bool
	}{
		{"rest_consistent", "100.00", "20.00", "10.00", "70.00", true},
		{"rest_consistent_all_spent", "100.00", "0.00", "100.00", "0.00", true},
		{"rest_off_by_one_fen", "100.00", "20.00", "10.00", "70.01", false},
		{"rest_ignores_unfreeze", "100.00", "20.00", "10.00", "90.00", false},
	}
	for _, tc := range rest {
		t.Run(tc.name, func(t *testing.T) {
			p := notifyFundAuthPairs()
			p = notifySetPair(p, "total_freeze_amount", tc.freeze)
			p = notifySetPair(p, "total_unfreeze_amount", tc.unfreeze)
			p = notifySetPair(p, "total_pay_amount", tc.pay)
			p = notifySetPair(p, "rest_amount", tc.rr)
			fa, err := notifyVerified(t, alipay, creds, p).FundAuth()
			if err != nil {
				t.Fatal(err)
			}
			if err := fa.CheckRest(); (err == nil) != tc.ok {
				t.Errorf("CheckRest = %v, want ok=%v", err, tc.ok)
			}
		})
	}
	t.Run("no_totals_has_totals_false_and_check_rest_fails", func(t *testing.T) {
		p := notifyFundAuthPairs()
		for _, k := range []string{"total_freeze_amount", "total_unfreeze_amount", "total_pay_amount", "rest_amount"} {
			p = notifySetPair(p, k, "\x00")
		}
		fa, err := notifyVerified(t, alipay, creds, p).FundAuth()
		if err != nil {
			t.Fatal(err)
		}
		if fa.HasTotals || fa.CheckRest() == nil {
			t.Errorf("HasTotals %v, CheckRest %v", fa.HasTotals, fa.CheckRest())
		}
	})
}

// notifyAgreementPairs is a minimal valid dut_user_sign notification (unsigned).
func notifyAgreementPairs() [][2]string {
	return [][2]string{
		{"notify_type", "dut_user_sign"}, {"notify_id", "N-AG-1"}, {"notify_time", "2025-06-01 12:00:11"},
		{"app_id", "2021000000000001"}, {"agreement_no", "20255301000000000001"},
		{"external_agreement_no", "test20190701"}, {"status", "NORMAL"}, {"sign_scene", "INDUSTRY|DIGITAL_MEDIA"},
		{"sign_time", "2025-06-01 12:00:10"}, {"invalid_time", "2115-02-01 00:00:00"},
	}
}

func TestAgreementNoticeFields(t *testing.T) {
	alipay, creds := testAlipayKey(t), notifyKeyModeCredentials(t)
	for _, field := range []string{"notify_id", "notify_time", "app_id", "agreement_no", "status"} {
		t.Run("required_"+field+"_missing", func(t *testing.T) {
			_, err := notifyVerified(t, alipay, creds, notifySetPair(notifyAgreementPairs(), field, "\x00")).Agreement()
			if !errors.Is(err, ErrNotifyMalformed) || !strings.Contains(err.Error(), field+" missing") {
				t.Errorf("Agreement = %v, want %s missing", err, field)
			}
		})
	}
	t.Run("status_unknown_rejected", func(t *testing.T) {
		_, err := notifyVerified(t, alipay, creds, notifySetPair(notifyAgreementPairs(), "status", "STOP")).Agreement()
		if !errors.Is(err, ErrNotifyMalformed) || !strings.Contains(err.Error(), "status") {
			t.Errorf("Agreement = %v", err)
		}
	})
	t.Run("sign_time_malformed_rejected", func(t *testing.T) {
		_, err := notifyVerified(t, alipay, creds, notifySetPair(notifyAgreementPairs(), "sign_time", "yesterday")).Agreement()
		if !errors.Is(err, ErrNotifyMalformed) || !strings.Contains(err.Error(), "sign_time") {
			t.Errorf("Agreement = %v", err)
		}
	})
	t.Run("open_id_instead_of_user_id", func(t *testing.T) {
		ag, err := notifyVerified(t, alipay, creds, append(notifyAgreementPairs(), [2]string{"alipay_open_id", "074a1CcTG1LelxKe4xQC0zgNdId0nxi95b5lsNpazWYoCo5"})).Agreement()
		if err != nil || ag.AlipayOpenID == "" || ag.AlipayUserID != "" || ag.Kind != KindAgreementSign || ag.Status != AgreementStatusNormal || !ag.UnsignTime.IsZero() {
			t.Errorf("Agreement = %+v, %v", ag, err)
		}
	})
}

func TestCharsetDecodeEncode(t *testing.T) {
	tests := []struct {
		name, charset, canonical string
		bytes                    []byte
		text                     string
	}{
		{"utf8_lower", "utf-8", "utf-8", []byte("大乐透 😀"), "大乐透 😀"},
		{"utf8_upper", "UTF-8", "utf-8", []byte("大"), "大"},
		{"utf8_without_dash", "Utf8", "utf-8", []byte("a"), "a"},
		{"gbk_upper", "GBK", "gbk", []byte{0xB4, 0xF3, 0xC0, 0xD6, 0xCD, 0xB8}, "大乐透"},
		{"gbk_mixed_case", "gBk", "gbk", []byte{0xB1, 0xA3, 0xBB, 0xA4, 0xBF, 0xC7}, "保护壳"},
		{"gb2312_as_gbk", "GB2312", "gbk", []byte{0xD6, 0xD0, 0xCE, 0xC4}, "中文"},
		{"gb18030_emoji", "gb18030", "gb18030", []byte{0x94, 0x39, 0xFC, 0x36}, "😀"},
		{"ascii_in_gbk", "gbk", "gbk", []byte("iPhone 6 16G + x"), "iPhone 6 16G + x"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if c, err := CanonicalCharset(tc.charset); err != nil || c != tc.canonical {
				t.Errorf("CanonicalCharset = %q, %v", c, err)
			}
			s, err := DecodeCharset(tc.charset, tc.bytes)
			if err != nil || s != tc.text {
				t.Errorf("DecodeCharset = %q, %v; want %q", s, err, tc.text)
			}
			b, err := EncodeCharset(tc.charset, tc.text)
			if err != nil || string(b) != string(tc.bytes) {
				t.Errorf("EncodeCharset = % x, %v; want % x", b, err, tc.bytes)
			}
		})
	}
	bad := []struct {
		name, charset string
		bytes         []byte
		text          string
	}{
		{"unknown_name", "latin1", []byte("a"), "a"},
		{"empty_name", "", []byte("a"), "a"},
		{"utf16_unsupported", "utf-16", []byte("a"), "a"},
		{"name_with_spaces", " utf-8", []byte("a"), "a"},
		{"invalid_utf8", "utf-8", []byte{0xC3, 0x28}, "\xC3\x28"},
		{"invalid_gbk_and_emoji_not_in_gbk", "gbk", []byte{0xFF, 0xFF}, "😀"},
		{"truncated_gb18030", "gb18030", []byte{0x94, 0x39}, "\xff"},
	}
	for _, tc := range bad {
		t.Run("rejects_"+tc.name, func(t *testing.T) {
			if _, err := DecodeCharset(tc.charset, tc.bytes); !errors.Is(err, ErrCharset) {
				t.Errorf("DecodeCharset error = %v, want ErrCharset", err)
			}
			if _, err := EncodeCharset(tc.charset, tc.text); !errors.Is(err, ErrCharset) {
				t.Errorf("EncodeCharset error = %v, want ErrCharset", err)
			}
		})
	}
}

func TestNotifySignContentExcludesSignTypeUnlikeRequests(t *testing.T) {
	p := map[string]string{"b": "2", "a": "1", "sign": "s", "sign_type": "RSA2", "blank": " ", "empty": "", "c": " x "}
	if got, want := NotifySignContent(p), "a=1&b=2&c= x "; got != want {
		t.Errorf("NotifySignContent = %q, want %q", got, want)
	}
	if got := SignContent(p); !strings.Contains(got, "sign_type=RSA2") {
		t.Errorf("request SignContent = %q lost sign_type", got)
	}
}

// notifyHMAC is a fast test Signer/Verifier (HMAC-SHA256, base64) for the fuzz target:
// the round-trip property is about parsing, charsets and content building, which the
// verifier sees identically whatever the primitive; RSA signing would make fuzzing
// a thousand times slower.
type notifyHMAC []byte

func (k notifyHMAC) Sign(content []byte) (string, error) {
	m := hmac.New(sha256.New, k)
	m.Write(content)
	return base64.StdEncoding.EncodeToString(m.Sum(nil)), nil
}

func (k notifyHMAC) Verify(content []byte, sign string) error {
	want, _ := k.Sign(content)
	if !hmac.Equal([]byte(want), []byte(sign)) {
		return ErrBadSignature
	}
	return nil
}

// FuzzNotification: arbitrary bodies never panic; an authentic body re-encoded from its
// parsed params still verifies; and whatever parses, once signed by Alipay's rule and
// re-encoded in its own charset, parses back to the same params and verifies.
func FuzzNotification(f *testing.F) {
	for _, c := range notifyLoadVectors(f) {
		switch c.Name {
		case "trade_success", "trade_success_gbk", "trade_success_bare_percent", "duplicate_key",
			"tampered_empty_param_added", "fund_auth_freeze_seed_example", "dut_user_unsign":
			f.Add([]byte(c.Body))
		}
	}
	creds := notifyKeyModeCredentials(f)
	mac := notifyHMAC("fuzz-key")
	f.Fuzz(func(t *testing.T, body []byte) {
		n, err := ParseNotification(body)
		if err != nil {
			if n != nil || !errors.Is(err, ErrNotifyMalformed) {
				t.Fatalf("ParseNotification = %v, %v", n, err)
			}
			return
		}
		_ = n.Kind()
		if n.Verify(creds) == nil {
			_, _ = n.Trade()
			_, _ = n.FundAuth()
			_, _ = n.Agreement()
			notifyFuzzRoundTrip(t, n, nil, func(n *Notification) error { return n.Verify(creds) })
		}

		// Re-sign what was parsed (over its raw bytes, as Alipay signs); skip when
		// sign/sign_type would not fit the limits.
		params := maps.Clone(n.Params)
		delete(params, "sign")
		delete(params, "sign_type")
		if len(params)+2 > NotifyMaxParams {
			return
		}
		content, err := n.content(false)
		if err != nil {
			t.Fatalf("content of parsed params: %v", err)
		}
		sig, _ := mac.Sign(content)
		notifyFuzzRoundTrip(t, n, map[string]string{"sign_type": "RSA2", "sign": sig}, func(n *Notification) error { return n.VerifyWith(mac) })
	})
}

// notifyFuzzRoundTrip form-encodes the raw values of parsed (sorted; set overrides
// some), parses the result and requires the same params and a valid signature.
func notifyFuzzRoundTrip(t *testing.T, parsed *Notification, set map[string]string, verify func(*Notification) error) {
	t.Helper()
	raw, params := maps.Clone(parsed.raw), maps.Clone(parsed.Params)
	for k, v := range set {
		raw[k], params[k] = v, v
	}
	keys := slices.Sorted(maps.Keys(raw))
	pairs := make([][2]string, 0, len(keys))
	for _, k := range keys {
		pairs = append(pairs, [2]string{k, raw[k]})
	}
	body := formEncodeRaw(pairs)
	if len(body) > NotifyMaxBody {
		return
	}
	n, err := ParseNotification(body)
	if err != nil {
		t.Fatalf("re-encoded body does not parse: %v", err)
	}
	if !maps.Equal(n.Params, params) {
		t.Fatalf("re-encoded params differ:\n%q\n%q", n.Params, params)
	}
	if err := verify(n); err != nil {
		t.Fatalf("re-encoded body does not verify: %v", err)
	}
}
