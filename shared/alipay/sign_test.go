package alipay

import (
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

type signVectorFile struct {
	Cases []struct {
		Name        string            `json:"name"`
		Method      string            `json:"method"`
		Params      map[string]string `json:"params"`
		SignContent string            `json:"sign_content"`
		Sign        string            `json:"sign"`
		InputParams map[string]string `json:"input_params"`
		NodeSDK     *struct {
			SignContent string `json:"sign_content"`
			Sign        string `json:"sign"`
		} `json:"node_sdk_if_passed_through"`
	} `json:"cases"`
}

func TestSignContentRequestVectors(t *testing.T) {
	var file signVectorFile
	loadVectors(t, "vectors/request_sign.json", &file)
	if len(file.Cases) == 0 {
		t.Fatal("request_sign.json has no cases")
	}
	key := testAppKey(t)
	for _, c := range file.Cases {
		name := c.Name
		if c.InputParams != nil {
			name += "_java_rule_blanks_dropped_where_node_sdk_signs_empties"
		}
		t.Run(name, func(t *testing.T) {
			if got := SignContent(c.Params); got != c.SignContent {
				t.Fatalf("sign content\n got %s\nwant %s", got, c.SignContent)
			}
			sign, err := key.Sign([]byte(c.SignContent))
			if err != nil {
				t.Fatal(err)
			}
			if sign != c.Sign {
				t.Fatalf("sign\n got %s\nwant %s", sign, c.Sign)
			}
			if err := key.Public().Verify([]byte(c.SignContent), c.Sign); err != nil {
				t.Fatalf("vector sign does not verify with the app public key: %v", err)
			}

			// SignParams over the same map gives the same sign and adds nothing else.
			signed := maps.Clone(c.Params)
			if err := SignParams(key, signed); err != nil {
				t.Fatal(err)
			}
			want := maps.Clone(c.Params)
			want["sign"] = c.Sign
			if !maps.Equal(signed, want) {
				t.Fatalf("SignParams result %v, want %v", signed, want)
			}

			if c.InputParams == nil {
				return
			}
			// Caller-supplied blank notify_url / app_auth_token are neither sent nor signed.
			ts, err := ParseTimestamp(c.InputParams["timestamp"])
			if err != nil {
				t.Fatal(err)
			}
			built := CommonParams(testCredentials(t), c.Method, ts)
			for k, v := range c.InputParams {
				built[k] = v
			}
			if err := SignParams(key, built); err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(built, want) {
				t.Fatalf("blank inputs not dropped: got %v, want %v", built, want)
			}
			if c.NodeSDK == nil || c.NodeSDK.SignContent == c.SignContent || c.NodeSDK.Sign == c.Sign {
				t.Fatal("vector should record the differing Node SDK content and sign")
			}
			withBlanks := maps.Clone(c.Params)
			maps.Copy(withBlanks, c.InputParams)
			if got := SignContent(withBlanks); got == c.NodeSDK.SignContent || got != c.SignContent {
				t.Fatalf("SignContent must drop blank values (Java rule), got %s", got)
			}
		})
	}
}

func TestSignContentRules(t *testing.T) {
	cases := []struct {
		name   string
		params map[string]string
		want   string
	}{
		{"sorts_keys_bytewise_not_pairs", map[string]string{"a_b": "1", "a": "2", "ab": "3", "B": "4"}, "B=4&a=2&a_b=1&ab=3"},
		{"excludes_sign_keeps_sign_type", map[string]string{"sign": "x", "sign_type": "RSA2", "app_id": "1"}, "app_id=1&sign_type=RSA2"},
		{"drops_empty_and_whitespace_only_values", map[string]string{"a": "", "b": " \t\r\n", "c": "1"}, "c=1"},
		{"keeps_values_with_spaces_verbatim", map[string]string{"a": " x ", "b": "y"}, "a= x &b=y"},
		{"values_raw_not_escaped", map[string]string{"q": "a&b=c+d%20e\"f\n中"}, "q=a&b=c+d%20e\"f\n中"},
		{"empty_map_gives_empty_content", map[string]string{}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := SignContent(c.params); got != c.want {
				t.Fatalf("got %q, want %q", got, c.want)
			}
		})
	}
}

func TestFormatTimestampIsChinaTimeRegardlessOfLocal(t *testing.T) {
	saved := time.Local
	t.Cleanup(func() { time.Local = saved })

	for _, local := range []*time.Location{time.UTC, time.FixedZone("EST", -5*3600), time.FixedZone("CST", 8*3600)} {
		time.Local = local
		t.Run("local_"+strings.ToLower(local.String()), func(t *testing.T) {
			cases := []struct {
				name string
				in   time.Time
				want string
			}{
				{"utc_morning_is_china_noon", time.Date(2025, 6, 1, 4, 0, 0, 0, time.UTC), "2025-06-01 12:00:00"},
				{"utc_evening_rolls_to_next_china_day", time.Date(2025, 5, 31, 16, 0, 0, 0, time.UTC), "2025-06-01 00:00:00"},
				{"local_wall_clock_converted", time.Date(2025, 6, 1, 4, 0, 0, 0, time.UTC).In(time.Local), "2025-06-01 12:00:00"},
				{"year_end_rollover", time.Date(2025, 12, 31, 23, 59, 59, 999, time.UTC), "2026-01-01 07:59:59"},
				{"sub_second_truncated", time.Date(2025, 6, 1, 4, 0, 0, 999_999_999, time.UTC), "2025-06-01 12:00:00"},
			}
			for _, c := range cases {
				if got := FormatTimestamp(c.in); got != c.want {
					t.Errorf("%s: got %s, want %s", c.name, got, c.want)
				}
			}
			now := time.Now()
			back, err := ParseTimestamp(FormatTimestamp(now))
			if err != nil {
				t.Fatal(err)
			}
			if !back.Equal(now.Truncate(time.Second)) {
				t.Fatalf("round trip of now: %v, want %v", back, now.Truncate(time.Second))
			}
			if _, off := back.Zone(); off != 8*3600 {
				t.Fatalf("parsed offset %d, want +8h", off)
			}
		})
	}
}

func TestParseTimestampAcceptsMillisecondsInChinaTime(t *testing.T) {
	got, err := ParseTimestamp("2025-06-01 12:00:00.123")
	if err != nil {
		t.Fatal(err)
	}
	want := time.Date(2025, 6, 1, 4, 0, 0, 123_000_000, time.UTC)
	if !got.Equal(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for _, bad := range []string{"2025-06-01T12:00:00", "2025-6-1 12:00:00", "2025-06-01 12:00", ""} {
		if _, err := ParseTimestamp(bad); err == nil {
			t.Errorf("ParseTimestamp(%q) accepted", bad)
		}
	}
}

// FuzzSignContent checks the request sign content of arbitrary parameters (keys sorted,
// no blank values, `sign` excluded, deterministic) and that an order string built from
// arbitrary values decodes back to exactly the parameters that were signed.
func FuzzSignContent(f *testing.F) {
	f.Add("out_trade_no", "A1", "subject", "大乐透 月卡", "https://merchant.example.com/n?a=1&b=2", "", int64(1748750400))
	f.Add("sign", "x", "body", "50% off + free 'cup'! ~ * 😀", " ", "202506BB8f5b1c0a0e9d4c0c9d2b4c1f3e2a1X01", int64(0))
	f.Add("a=b", "c&d", "", "  ", "%zz+%2B", "\t", int64(-1))
	key := testAppKey(f)
	creds := testCredentials(f)
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2, notifyURL, token string, sec int64) {
		params := map[string]string{k1: v1, k2: v2, "sign_type": "RSA2"}
		content := SignContent(params)
		if again := SignContent(maps.Clone(params)); again != content {
			t.Fatalf("not deterministic: %q vs %q", content, again)
		}
		// Walk the content: kept keys in byte order, each exactly once, raw values.
		var kept []string
		for k, v := range params {
			if k != "sign" && !isBlank(v) {
				kept = append(kept, k)
			}
		}
		slices.Sort(kept)
		rest := content
		for i, k := range kept {
			if i > 0 {
				if !strings.HasPrefix(rest, "&") {
					t.Fatalf("missing separator before %q in %q", k, content)
				}
				rest = rest[1:]
			}
			pair := k + "=" + params[k]
			if !strings.HasPrefix(rest, pair) {
				t.Fatalf("expected %q next in %q", pair, content)
			}
			rest = rest[len(pair):]
		}
		if rest != "" {
			t.Fatalf("unexpected trailing %q in %q", rest, content)
		}

		// Order string round trip, with biz_content built from the same values.
		biz, err := json.Marshal(map[string]string{k1: v1, k2: v2})
		if err != nil {
			t.Fatal(err)
		}
		now := time.Unix(sec%(1<<35), 0) // stay within four-digit years
		s, err := OrderString(creds, string(biz), OrderStringOptions{NotifyURL: notifyURL, AppAuthToken: token, Now: now})
		if !utf8.ValidString(notifyURL) || !utf8.ValidString(token) {
			if !errors.Is(err, ErrBadOrderString) {
				t.Fatalf("invalid UTF-8 accepted: %v", err)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		want := CommonParams(creds, "alipay.trade.app.pay", now)
		want["biz_content"] = string(biz)
		if !isBlank(notifyURL) {
			want["notify_url"] = notifyURL
		}
		if !isBlank(token) {
			want["app_auth_token"] = token
		}
		got, err := ParseOrderString(s)
		if err != nil {
			t.Fatalf("own order string does not parse: %v", err)
		}
		sign := got["sign"]
		delete(got, "sign")
		if !maps.Equal(got, want) {
			t.Fatalf("round trip: got %v, want %v", got, want)
		}
		if err := key.Public().Verify([]byte(SignContent(want)), sign); err != nil {
			t.Fatalf("sign is not over SignContent of the params: %v", err)
		}
	})
}

func TestBlankFollowsJavaWhitespace(t *testing.T) {
	for v, want := range map[string]bool{
		"": true, " ": true, "\t\r\n": true, "\u3000": true, "\u2028": true, "\x1c": true,
		"\u00a0": false, "\u2007": false, "\u202f": false, "\u0085": false, " a ": false,
	} {
		if got := isBlank(v); got != want {
			t.Errorf("isBlank(%q) = %v, want %v", v, got, want)
		}
	}
}
