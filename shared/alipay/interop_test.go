package alipay

import (
	"bytes"
	"encoding/json"
	"errors"
	"maps"
	"math/rand/v2"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alipay-serverless/alipay-serverless/test/harness/nodeoracle"
)

// Interop tests against the official Alipay Node SDK (npm alipay-sdk, pinned), run as an
// independent oracle by package nodeoracle. Inputs are generated from a fixed seed, so a
// failure names a case that reproduces. Where the SDK deliberately differs from our rule
// (protocol §5, §8.2, §12) the subtest or assertion says so.

const (
	interopSeed        = 20250601
	interopSignMaps    = 320
	interopOrderStrs   = 80
	interopNotices     = 120
	interopMaxFailures = 5 // per subtest, to keep a broken build's output readable
)

// interopGen generates parameter values and names that stress the sign content: raw
// `&=+%`, `%3d`-style text, CJK, emoji, quotes, backslashes, newlines, nested JSON.
type interopGen struct{ r *rand.Rand }

func newInteropGen(stream uint64) *interopGen {
	return &interopGen{r: rand.New(rand.NewPCG(interopSeed, stream))}
}

var interopPieces = []string{
	"中文", "支付宝", "预授权发码", "大乐透 2.1", "测试商品", "保护壳", "　", // U+3000 inside a value
	"😀", "🧧", "👨‍👩‍👧", "🇨🇳", "é", "ß", "Ω",
	"&", "=", "+", "%", "%3d", "%3D", "%2B", "%E4%B8%AD", "%%", "a=b&c=d", "1+1=2", "100%",
	" ", "  ", "\"", "'", "\\", "\\\"", "\\/", "/", "\n", "\r\n", "\t", "\x01", "\x1f", "\x7f",
	"?", "#", "{", "}", "[", "]", "<", ">", ",", ":", ";", "~", "`", "^", "|", "@", "!", "*", "(", ")",
	`{"a":"b&c=d"}`, `[1,"x",{"y":null}]`, `{"k":"v\"q"}`, "null", "true", "0.10",
	"https://example.com/p?a=1&b=%20c#f",
}

const interopAlnum = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

func (g *interopGen) word(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = interopAlnum[g.r.IntN(len(interopAlnum))]
	}
	return string(b)
}

func (g *interopGen) digits(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('0' + g.r.IntN(10))
	}
	return string(b)
}

func (g *interopGen) pick(from []string) string { return from[g.r.IntN(len(from))] }

// value returns a non-blank value of up to pieces parts; long allows a rare value of
// several kilobytes.
func (g *interopGen) value(pieces int, long bool) string {
	var b strings.Builder
	for range 1 + g.r.IntN(pieces) {
		switch k := g.r.IntN(20); {
		case k < 7:
			b.WriteString(g.word(1 + g.r.IntN(12)))
		case k == 7 && long && g.r.IntN(8) == 0:
			b.WriteString(strings.Repeat(g.pick(interopPieces)+g.word(3), 200+g.r.IntN(400)))
		default:
			b.WriteString(g.pick(interopPieces))
		}
	}
	if isBlank(b.String()) {
		b.WriteString("x")
	}
	if g.r.IntN(10) == 0 {
		return " " + b.String() + " " // surrounding spaces are kept, never trimmed
	}
	return b.String()
}

// interopBlanks are values the request rule drops (§2) and the Node SDK signs as `k=...`.
var interopBlanks = []string{"", " ", "   ", "\t", "\n", " \r\n\t ", "　"}

// key returns a random lower_snake key, stable under the SDK's snakecase-keys pass.
func (g *interopGen) key() string {
	const letters = "abcdefghijklmnopqrstuvwxyz"
	const alnum = letters + "0123456789"
	var b strings.Builder
	b.WriteByte(letters[g.r.IntN(len(letters))])
	for range g.r.IntN(7) {
		b.WriteByte(alnum[g.r.IntN(len(alnum))])
	}
	for range g.r.IntN(3) {
		b.WriteByte('_')
		for range 1 + g.r.IntN(6) {
			b.WriteByte(alnum[g.r.IntN(len(alnum))])
		}
	}
	return b.String()
}

func (g *interopGen) timestamp() string {
	base := time.Date(2020, 1, 1, 0, 0, 0, 0, ChinaTime)
	return FormatTimestamp(base.Add(time.Duration(g.r.Int64N(10*365*24*3600)) * time.Second))
}

func (g *interopGen) amount() string { return Amount(1 + g.r.Int64N(10_000_000)).String() }

// interopBizJSON serialises a biz object the way JSON.stringify would write its parse: keys
// sorted (Go maps) and, since JSON.parse keeps that order, so does the SDK; no HTML
// escaping; generated strings avoid \b, \f, U+2028 and U+2029, the only characters the
// two encoders write differently.
func interopBizJSON(t testing.TB, v map[string]any) string {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// biz returns a biz_content object: realistic app-pay fields, nested objects, arrays,
// numbers, a JSON-in-a-string field and random extra fields.
func (g *interopGen) biz(long bool) map[string]any {
	m := map[string]any{
		"out_trade_no": "7050" + g.digits(17),
		"total_amount": g.amount(),
		"subject":      g.value(4, false),
		"product_code": "QUICK_MSECURITY_PAY",
	}
	if g.r.IntN(2) == 0 {
		m["body"] = g.value(6, long)
	}
	if g.r.IntN(2) == 0 {
		m["passback_params"] = "order=" + g.word(6) + "%3d" + g.value(3, false) + "&n=%2B1"
	}
	if g.r.IntN(3) == 0 {
		m["time_expire"] = g.timestamp()
	}
	if g.r.IntN(3) == 0 {
		m["business_params"] = `{"outTradeRiskInfo":"` + g.word(8) + `","note":"a\"b"}`
	}
	if g.r.IntN(3) == 0 {
		m["agreement_sign_params"] = map[string]any{
			"personal_product_code": "CYCLE_PAY_AUTH_P",
			"sign_scene":            "INDUSTRY|DIGITAL_MEDIA",
			"external_agreement_no": "AG" + g.digits(12),
			"access_params":         map[string]any{"channel": "ALIPAYAPP"},
			"period_rule_params": map[string]any{
				"period_type": "DAY", "period": 1 + g.r.IntN(31), "execute_time": "2025-06-01",
				"single_amount": g.amount(), "total_payments": g.r.IntN(100), "enabled": g.r.IntN(2) == 0,
			},
		}
	}
	if g.r.IntN(4) == 0 {
		m["goods_detail"] = []any{
			map[string]any{"goods_id": g.word(5), "goods_name": g.value(3, false), "quantity": 1 + g.r.IntN(9), "price": g.amount()},
			map[string]any{"goods_id": g.word(5), "goods_name": g.value(3, false), "quantity": 1, "price": g.amount()},
		}
	}
	for range g.r.IntN(3) {
		m[g.key()] = g.value(5, false)
	}
	return m
}

var interopMethods = []string{
	"alipay.fund.auth.order.voucher.create", "alipay.trade.app.pay", "alipay.trade.query",
	"alipay.fund.auth.operation.detail.query", "alipay.fund.auth.operation.cancel",
}

// interopOptionalCommon are common parameters a request may carry besides the six the
// SDK always sets (its defaults would otherwise fill those in).
var interopOptionalCommon = []string{
	"format", "notify_url", "return_url", "app_auth_token", "app_cert_sn",
	"alipay_root_cert_sn", "encrypt_type", "auth_token", "prod_code", "terminal_type", "terminal_info",
}

var interopReserved = map[string]bool{"sign": true, "biz_content": true, "method": true, "app_id": true,
	"charset": true, "version": true, "sign_type": true, "timestamp": true}

// signMap returns a request parameter map and the keys it holds with blank values.
func (g *interopGen) signMap(t testing.TB) (map[string]string, []string) {
	m := map[string]string{
		"app_id":    "2021" + g.digits(12),
		"method":    g.pick(interopMethods),
		"charset":   "utf-8",
		"version":   "1.0",
		"sign_type": "RSA2",
		"timestamp": g.timestamp(),
	}
	if g.r.IntN(5) != 0 {
		m["biz_content"] = interopBizJSON(t, g.biz(true))
	}
	for range g.r.IntN(4) {
		k := g.pick(interopOptionalCommon)
		if k == "notify_url" {
			m[k] = "https://merchant.example.com/notify/" + g.word(4) + "?q=" + g.value(3, false)
		} else {
			m[k] = g.value(4, false)
		}
	}
	for range g.r.IntN(5) {
		if k := g.key(); !interopReserved[k] {
			m[k] = g.value(6, true)
		}
	}
	var blanks []string
	if g.r.IntN(4) == 0 {
		// Blank values go only on keys the SDK has no default for, so that removing
		// them leaves a map the SDK signs exactly as given.
		for range 1 + g.r.IntN(3) {
			k := g.pick(interopOptionalCommon)
			if g.r.IntN(2) == 0 {
				k = g.key()
			}
			if interopReserved[k] || slices.Contains(blanks, k) {
				continue
			}
			m[k] = g.pick(interopBlanks)
			blanks = append(blanks, k)
		}
	}
	return m, blanks
}

// flipRune returns s with one rune replaced by another (never blank, never equal).
func (g *interopGen) flipRune(s string) string {
	rs := []rune(s)
	i := g.r.IntN(len(rs))
	if rs[i] == 'x' {
		rs[i] = 'y'
	} else {
		rs[i] = 'x'
	}
	return string(rs)
}

// interopContainsPair reports whether content has the segment k=v between `&`s (or at
// an end). Values may contain `&`, so this is a containment check, not a parse.
func interopContainsPair(content, k, v string) bool {
	seg := k + "=" + v
	return content == seg || strings.HasPrefix(content, seg+"&") ||
		strings.HasSuffix(content, "&"+seg) || strings.Contains(content, "&"+seg+"&")
}

func interopAppKey(t testing.TB, kt nodeoracle.KeyType) *PrivateKey {
	t.Helper()
	file := "keys/app_private_pkcs1.pem"
	if kt == nodeoracle.PKCS8 {
		file = "keys/app_private_pkcs8.txt"
	}
	k, err := ParsePrivateKey(readTestdata(t, file))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestInteropSignContentAndSignatureMatchNodeSDK: for generated request parameter maps
// our sign content and signature are byte-identical to the SDK's own signer, with the
// app key given to it as PKCS#1 PEM and as one-line PKCS#8. Maps with blank values are
// the one deliberate difference (§2): the SDK signs `k=`, we neither send nor sign them.
func TestInteropSignContentAndSignatureMatchNodeSDK(t *testing.T) {
	o := nodeoracle.Start(t)
	g := newInteropGen(1)
	keys := map[nodeoracle.KeyType]*PrivateKey{
		nodeoracle.PKCS1: interopAppKey(t, nodeoracle.PKCS1),
		nodeoracle.PKCS8: interopAppKey(t, nodeoracle.PKCS8),
	}
	type signCase struct {
		n      int
		kt     nodeoracle.KeyType
		params map[string]string
		blanks []string
	}
	var plain, blank []signCase
	long, multiline, percent, astral := 0, 0, 0, 0
	for i := range interopSignMaps {
		m, blanks := g.signMap(t)
		for _, v := range m {
			if len(v) >= 1024 {
				long++
				break
			}
		}
		all := strings.Join(slices.Collect(maps.Values(m)), "")
		if strings.Contains(all, "\n") {
			multiline++
		}
		if strings.Contains(all, "%") {
			percent++
		}
		if strings.ContainsFunc(all, func(r rune) bool { return r > 0xFFFF }) {
			astral++
		}
		c := signCase{n: i, kt: nodeoracle.PKCS1, params: m, blanks: blanks}
		if i%2 == 1 {
			c.kt = nodeoracle.PKCS8
		}
		if len(blanks) == 0 {
			plain = append(plain, c)
		} else {
			blank = append(blank, c)
		}
	}
	if len(plain) < 200 || len(blank) < 40 {
		t.Fatalf("generator gave %d maps without and %d with blank values", len(plain), len(blank))
	}

	// ourSign runs SignContent + Sign and, separately, SignParams on a copy of the map
	// (which drops blanks and adds sign).
	ourSign := func(t *testing.T, c signCase) (content, sig string, sent map[string]string) {
		content = SignContent(c.params)
		sig, err := keys[c.kt].Sign([]byte(content))
		if err != nil {
			t.Fatal(err)
		}
		sent = maps.Clone(c.params)
		if err := SignParams(keys[c.kt], sent); err != nil {
			t.Fatal(err)
		}
		return content, sig, sent
	}

	t.Run("maps_without_blank_values_sign_identically", func(t *testing.T) {
		failures := 0
		for _, c := range plain {
			if failures >= interopMaxFailures {
				t.Fatalf("stopping after %d failing maps", failures)
			}
			sdk, err := o.Sign(c.kt, c.params)
			if err != nil {
				t.Fatalf("map %d: %v", c.n, err)
			}
			content, sig, sent := ourSign(t, c)
			want := maps.Clone(c.params)
			want["sign"] = sdk.Sign
			switch {
			case content != sdk.Content:
				t.Errorf("map %d (%s): sign content differs\n ours %q\n  sdk %q", c.n, c.kt, content, sdk.Content)
			case sig != sdk.Sign:
				t.Errorf("map %d (%s): same content, different sign", c.n, c.kt)
			case !maps.Equal(sent, want):
				t.Errorf("map %d (%s): SignParams gave other parameters or sign than the SDK", c.n, c.kt)
			case !maps.Equal(sdk.Params, want):
				t.Errorf("map %d (%s): the SDK signed other parameters than given: %v", c.n, c.kt, sdk.Params)
			default:
				continue
			}
			failures++
		}
	})

	t.Run("blank_values_dropped_deliberately_where_node_sdk_signs_them", func(t *testing.T) {
		failures := 0
		for _, c := range blank {
			if failures >= interopMaxFailures {
				t.Fatalf("stopping after %d failing maps", failures)
			}
			clean := maps.Clone(c.params)
			for _, k := range c.blanks {
				delete(clean, k)
			}
			sdkClean, err := o.Sign(c.kt, clean)
			if err != nil {
				t.Fatalf("map %d: %v", c.n, err)
			}
			sdkRaw, err := o.Sign(c.kt, c.params)
			if err != nil {
				t.Fatalf("map %d: %v", c.n, err)
			}
			content, sig, sent := ourSign(t, c)
			wantSent := maps.Clone(clean)
			wantSent["sign"] = sdkClean.Sign
			switch {
			case content != sdkClean.Content:
				t.Errorf("map %d (%s): our content differs from the SDK's on the map without blanks\n ours %q\n  sdk %q", c.n, c.kt, content, sdkClean.Content)
			case sig != sdkClean.Sign:
				t.Errorf("map %d (%s): same content, different sign", c.n, c.kt)
			case !maps.Equal(sent, wantSent):
				t.Errorf("map %d (%s): SignParams left blank parameters to be sent", c.n, c.kt)
			case content == sdkRaw.Content:
				t.Errorf("map %d (%s): the SDK dropped blank values too; the documented difference is gone", c.n, c.kt)
			default:
				for _, k := range c.blanks {
					if !interopContainsPair(sdkRaw.Content, k, c.params[k]) {
						t.Errorf("map %d (%s): the SDK did not sign blank %s as `k=` (reference §12 says it does)", c.n, c.kt, k)
					}
				}
				continue
			}
			failures++
		}
	})
	t.Logf("%d generated maps: %d signed identically, %d with blank values (dropped by us, signed by the SDK); %d with a value of 1 KiB or more, %d with a newline, %d with '%%', %d with emoji",
		interopSignMaps, len(plain), len(blank), long, multiline, percent, astral)
}

// TestInteropOrderStringAcceptedBothWays: our app-pay orderStr verifies with the SDK's
// check under the app public key, the SDK's sdkExecute output for the same inputs passes
// our VerifyOrderString, and both decode to the same parameters (sign included: RSA
// PKCS#1 v1.5 is deterministic). One changed character makes both sides reject.
func TestInteropOrderStringAcceptedBothWays(t *testing.T) {
	o := nodeoracle.Start(t)
	g := newInteropGen(2)
	appPub := testAppKey(t).Public()
	creds := testCredentials(t)
	if creds.AppID != nodeoracle.AppID {
		t.Fatalf("app id %s in our credentials, %s in the oracle's", creds.AppID, nodeoracle.AppID)
	}
	failures := 0
	for i := range interopOrderStrs {
		if failures >= interopMaxFailures {
			t.Fatalf("stopping after %d failing cases", failures)
		}
		kt := nodeoracle.PKCS1
		if i%2 == 1 {
			kt = nodeoracle.PKCS8
		}
		biz := interopBizJSON(t, g.biz(false))
		ts := g.timestamp()
		now, err := ParseTimestamp(ts)
		if err != nil {
			t.Fatal(err)
		}
		var notifyURL, token string
		if g.r.IntN(3) != 0 {
			notifyURL = "https://merchant.example.com/v1/notify/alipay?o=" + g.value(3, false)
		}
		if g.r.IntN(4) == 0 {
			token = "202506BB" + g.word(24)
		}

		ours, err := OrderString(creds, biz, OrderStringOptions{NotifyURL: notifyURL, AppAuthToken: token, Now: now})
		if err != nil {
			t.Fatalf("case %d: OrderString: %v", i, err)
		}
		ourParams, err := ParseOrderString(ours)
		if err != nil {
			t.Fatalf("case %d: ParseOrderString(ours): %v", i, err)
		}
		sdkCheck, err := o.CheckOrderStr(ours)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		sdkStr, err := o.SDKExecute(kt, nodeoracle.ExecRequest{BizContent: biz, Timestamp: ts, NotifyURL: notifyURL, AppAuthToken: token})
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		sdkParams, ourErr := VerifyOrderString(sdkStr, appPub)

		// One character of a signed value changed, re-encoded as a form.
		keys := slices.Sorted(maps.Keys(ourParams))
		keys = slices.DeleteFunc(keys, func(k string) bool { return k == "sign" || k == "sign_type" || k == "charset" })
		tk := g.pick(keys)
		tv := url.Values{}
		for k, v := range ourParams {
			tv.Set(k, v)
		}
		tv.Set(tk, g.flipRune(ourParams[tk]))
		_, ourTamperErr := VerifyOrderString(tv.Encode(), appPub)
		sdkTamper, err := o.CheckOrderStr(tv.Encode())
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}

		switch {
		case !sdkCheck.Verified:
			t.Errorf("case %d: the SDK rejects our orderStr %.120s", i, ours)
		case !maps.Equal(sdkCheck.Params, ourParams):
			t.Errorf("case %d: the SDK decodes our orderStr differently\n ours %v\n  sdk %v", i, ourParams, sdkCheck.Params)
		case ourErr != nil:
			t.Errorf("case %d (%s): VerifyOrderString rejects the SDK's orderStr: %v", i, kt, ourErr)
		case !maps.Equal(sdkParams, ourParams):
			t.Errorf("case %d (%s): decoded params differ\n ours %v\n  sdk %v", i, kt, ourParams, sdkParams)
		case !errors.Is(ourTamperErr, ErrBadSignature):
			t.Errorf("case %d: %s changed, VerifyOrderString: %v", i, tk, ourTamperErr)
		case sdkTamper.Verified:
			t.Errorf("case %d: %s changed, the SDK still verifies", i, tk)
		default:
			continue
		}
		failures++
	}

	t.Run("sdk_clock_in_china_zone_agrees_with_FormatTimestamp", func(t *testing.T) {
		before := FormatTimestamp(time.Now())
		s, err := o.SDKExecute(nodeoracle.PKCS1, nodeoracle.ExecRequest{BizContent: `{"subject":"时间"}`})
		if err != nil {
			t.Fatal(err)
		}
		after := FormatTimestamp(time.Now())
		p, err := VerifyOrderString(s, appPub)
		if err != nil {
			t.Fatal(err)
		}
		if ts := p["timestamp"]; ts < before || ts > after {
			t.Errorf("SDK timestamp %q outside [%s, %s]", ts, before, after)
		}
	})
	t.Logf("%d generated orderStr cases, each checked both ways and tampered once", interopOrderStrs)
}

var interopTradeStatuses = []string{"WAIT_BUYER_PAY", "TRADE_SUCCESS", "TRADE_FINISHED", "TRADE_CLOSED"}

// notice returns trade_status_sync-like parameters (unsigned, no blank values: Alipay
// omits absent fields).
func (g *interopGen) notice() map[string]string {
	amt := g.amount()
	p := map[string]string{
		"notify_time": g.timestamp(), "notify_type": "trade_status_sync",
		"notify_id": g.digits(34), "app_id": nodeoracle.AppID, "auth_app_id": nodeoracle.AppID,
		"charset": "utf-8", "version": "1.0",
		"trade_no": "2025" + g.digits(24), "out_trade_no": "7050" + g.digits(17),
		"trade_status": g.pick(interopTradeStatuses),
		"total_amount": amt, "receipt_amount": amt, "invoice_amount": amt, "buyer_pay_amount": amt,
		"point_amount": "0.00", "buyer_id": "2088" + g.digits(12), "buyer_logon_id": "159****" + g.digits(4),
		"seller_id": "2088" + g.digits(12), "seller_email": "mer***@example.com",
		"subject": g.value(4, false), "body": g.value(6, true),
		"gmt_create": g.timestamp(), "gmt_payment": g.timestamp(),
		"fund_bill_list": `[{"amount":"` + amt + `","fundChannel":"ALIPAYACCOUNT"}]`,
	}
	if g.r.IntN(2) == 0 {
		p["passback_params"] = "uid=" + g.word(5) + "%3d" + g.value(3, false) + "&x=%2B%"
	}
	if g.r.IntN(4) == 0 {
		p["refund_fee"] = g.amount()
		p["gmt_refund"] = g.timestamp() + "." + g.digits(3)
		p["out_biz_no"] = "R" + g.digits(12)
	}
	if g.r.IntN(3) == 0 {
		p[g.key()+"_new_field"] = g.value(4, false) // fields appear without notice
	}
	return p
}

// TestInteropNotificationsVerifyLikeNodeSDK: notifications signed the way Alipay signs
// (by the oracle, node:crypto over the §8.2 content), form-encoded like
// java.net.URLEncoder, verify with ParseNotification+Verify and with the SDK's
// checkNotifySignV2; the WHATWG form parser decodes the body to our parameters; one
// changed character of a value makes both reject.
func TestInteropNotificationsVerifyLikeNodeSDK(t *testing.T) {
	o := nodeoracle.Start(t)
	g := newInteropGen(3)
	creds := testCredentials(t)
	failures := 0
	for i := range interopNotices {
		if failures >= interopMaxFailures {
			t.Fatalf("stopping after %d failing notifications", failures)
		}
		p := g.notice()
		signed, err := o.SignNotify(p)
		if err != nil {
			t.Fatalf("notice %d: %v", i, err)
		}
		full := maps.Clone(p)
		full["sign_type"] = "RSA2"
		full["sign"] = signed.Sign
		keys := slices.Collect(maps.Keys(full))
		g.r.Shuffle(len(keys), func(a, b int) { keys[a], keys[b] = keys[b], keys[a] })
		encode := func(m map[string]string) []byte {
			pairs := make([][2]string, 0, len(keys))
			for _, k := range keys {
				pairs = append(pairs, [2]string{k, m[k]})
			}
			return notifyFormEncode(t, pairs)
		}
		body := encode(full)

		n, err := ParseNotification(body)
		if err != nil {
			t.Fatalf("notice %d: ParseNotification: %v", i, err)
		}
		ourErr := n.Verify(creds)
		sdkOK, err := o.CheckNotifyV2(n.Params)
		if err != nil {
			t.Fatalf("notice %d: %v", i, err)
		}
		whatwg, err := o.CheckNotifyBody(string(body))
		if err != nil {
			t.Fatalf("notice %d: %v", i, err)
		}

		flipKeys := slices.DeleteFunc(slices.Clone(keys), func(k string) bool {
			return k == "sign" || k == "sign_type" || k == "charset"
		})
		tk := g.pick(flipKeys)
		tampered := maps.Clone(full)
		tampered[tk] = g.flipRune(full[tk])
		tn, err := ParseNotification(encode(tampered))
		if err != nil {
			t.Fatalf("notice %d: ParseNotification(tampered): %v", i, err)
		}
		ourTamperErr := tn.Verify(creds)
		sdkTamperOK, err := o.CheckNotifyV2(tn.Params)
		if err != nil {
			t.Fatalf("notice %d: %v", i, err)
		}

		switch {
		case signed.Content != NotifySignContent(p):
			t.Errorf("notice %d: content the oracle signed differs from NotifySignContent\n ours %q\n  sdk %q", i, NotifySignContent(p), signed.Content)
		case !maps.Equal(n.Params, full):
			t.Errorf("notice %d: parsed params differ from the sent ones", i)
		case ourErr != nil:
			t.Errorf("notice %d: Verify: %v", i, ourErr)
		case !sdkOK:
			t.Errorf("notice %d: checkNotifySignV2 rejects our parse", i)
		case !whatwg.Verified || !maps.Equal(whatwg.Params, n.Params):
			t.Errorf("notice %d: WHATWG parse (verified %v) differs from ours", i, whatwg.Verified)
		case !maps.Equal(tn.Params, tampered):
			t.Errorf("notice %d: tampered body parsed wrongly", i)
		case !errors.Is(ourTamperErr, ErrBadSignature):
			t.Errorf("notice %d: %s changed, Verify: %v", i, tk, ourTamperErr)
		case sdkTamperOK:
			t.Errorf("notice %d: %s changed, checkNotifySignV2 still verifies", i, tk)
		default:
			continue
		}
		failures++
	}
	t.Logf("%d generated notifications verified by both, each tampered once and rejected by both", interopNotices)
}

// interopReplyDifferences are the reply vectors where our verdict deliberately differs
// from the SDK's checkResponseSign (protocol §5); the test checks the list is exact.
var interopReplyDifferences = map[string]string{
	"success_slash_fallback":    "we retry once with \\/ unescaped (Java SDK); the SDK does not",
	"duplicate_response_node":   "we reject a repeated node; the SDK verifies the first copy",
	"sign_before_node":          "we extract by brace matching; the SDK's substring arithmetic fails",
	"cert_mode_unknown_cert_sn": "we honour alipay_cert_sn; the SDK ignores it",
	"aes_encrypted_success":     "we verify the encrypted string; the SDK extracts from the first '{'",
}

// TestInteropReplyVerdictsAgainstNodeSDK: on every response_verify.json case the SDK's
// reply check, run live, reproduces its recorded verdict (proving the oracle's wiring),
// our VerifyReply reaches expected_verified, and the two disagree exactly on the cases
// listed in interopReplyDifferences.
func TestInteropReplyVerdictsAgainstNodeSDK(t *testing.T) {
	var file struct {
		Method string `json:"method"`
		Cases  []struct {
			Name       string          `json:"name"`
			NodeName   string          `json:"node_name"`
			RawBody    string          `json:"raw_body"`
			Expected   json.RawMessage `json:"expected_verified"`
			AESKeyFile string          `json:"aes_key_file"`
			SDK        struct {
				CheckResponseSign string `json:"checkResponseSign"`
			} `json:"sdk"`
		} `json:"cases"`
	}
	loadVectors(t, "vectors/response_verify.json", &file)
	if len(file.Cases) < 14 {
		t.Fatalf("only %d reply vectors", len(file.Cases))
	}
	o := nodeoracle.Start(t)
	seen := map[string]bool{}
	for _, c := range file.Cases {
		name := c.Name
		if _, differs := interopReplyDifferences[c.Name]; differs {
			seen[c.Name] = true
			if string(c.Expected) == "true" {
				name += "_verified_by_us_rejected_by_node_sdk_deliberately"
			} else {
				name += "_rejected_by_us_verified_by_node_sdk_deliberately"
			}
		}
		t.Run(name, func(t *testing.T) {
			sdkVerdict, err := o.CheckResponse(c.RawBody, c.NodeName)
			if err != nil {
				t.Fatal(err)
			}
			if !nodeoracle.MatchesRecordedVerdict(sdkVerdict, c.SDK.CheckResponseSign) {
				t.Errorf("SDK verdict\n live %.200s\n recorded %s", sdkVerdict, c.SDK.CheckResponseSign)
			}

			creds := testCredentials(t)
			if strings.HasPrefix(c.Name, "cert_mode_") {
				creds = respCertCredentials(t)
			}
			if c.AESKeyFile != "" {
				creds.EncryptKey = gwAESKey(t)
			}
			_, ourErr := VerifyReply([]byte(c.RawBody), file.Method, creds)
			if got := respVerdict(ourErr); got != string(c.Expected) {
				t.Errorf("our verdict %s (%v), expected %s", got, ourErr, c.Expected)
			}

			sdkOK, oursOK := sdkVerdict == "ok", ourErr == nil
			reason, listed := interopReplyDifferences[c.Name]
			if (sdkOK != oursOK) != listed {
				t.Errorf("ours verified %v, SDK verified %v, listed as a deliberate difference: %v %s", oursOK, sdkOK, listed, reason)
			}
		})
	}
	for name := range interopReplyDifferences {
		if !seen[name] {
			t.Errorf("deliberate difference %s names no vector", name)
		}
	}
	t.Logf("%d reply vectors; %d deliberate differences from the SDK", len(file.Cases), len(interopReplyDifferences))
}
