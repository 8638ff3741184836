package alipay

import (
	"encoding/base64"
	"maps"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

type gwRequestCase struct {
	Name        string            `json:"name"`
	Method      string            `json:"method"`
	Params      map[string]string `json:"params"`
	BizContent  string            `json:"biz_content"`
	BizPlain    string            `json:"biz_content_plaintext"`
	AESKeyFile  string            `json:"aes_key_file"`
	SignContent string            `json:"sign_content"`
	Sign        string            `json:"sign"`
	InputParams map[string]string `json:"input_params"`
	Wire        *struct {
		PathAndQuery  string   `json:"path_and_query"`
		Body          string   `json:"body"`
		ParamsInQuery []string `json:"params_in_query"`
		ParamsInBody  []string `json:"params_in_body"`
	} `json:"wire"`
}

// gwAESKey is the reference AES content key (base64 in keys/aes_key.txt).
func gwAESKey(t testing.TB) []byte {
	t.Helper()
	k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(readTestdata(t, "keys/aes_key.txt"))))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// gwParseUnion parses form-encoded parts and merges them; a key present twice (within a
// part or across parts) fails the test, since the gateway would see it twice.
func gwParseUnion(t *testing.T, parts ...string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, p := range parts {
		v, err := url.ParseQuery(p)
		if err != nil {
			t.Fatalf("parse %q: %v", p, err)
		}
		for k, vs := range v {
			if _, dup := out[k]; dup || len(vs) != 1 {
				t.Fatalf("parameter %s sent more than once", k)
			}
			out[k] = vs[0]
		}
	}
	return out
}

func gwKeys(q string, t *testing.T) []string {
	t.Helper()
	v, err := url.ParseQuery(q)
	if err != nil {
		t.Fatal(err)
	}
	return slices.Sorted(maps.Keys(v))
}

func TestBuildRequestVectors(t *testing.T) {
	var file struct {
		Cases []gwRequestCase `json:"cases"`
	}
	loadVectors(t, "vectors/request_sign.json", &file)
	if len(file.Cases) < 10 {
		t.Fatalf("only %d request vectors", len(file.Cases))
	}
	for _, tc := range file.Cases {
		t.Run(tc.Name, func(t *testing.T) {
			c := testCredentials(t)
			c.AppID = tc.Params["app_id"]
			c.AppCertSN = tc.Params["app_cert_sn"]
			c.AlipayRootCertSN = tc.Params["alipay_root_cert_sn"]

			// Inputs: the case's input_params when it records what a caller passed,
			// else the parameters that were sent.
			in := tc.Params
			if tc.InputParams != nil {
				in = tc.InputParams
			}
			now, err := ParseTimestamp(in["timestamp"])
			if err != nil {
				t.Fatal(err)
			}
			opts := RequestOptions{NotifyURL: in["notify_url"], AppAuthToken: in["app_auth_token"], Now: now}
			biz := tc.BizContent
			if tc.InputParams != nil {
				biz = tc.InputParams["biz_content"]
			}
			if tc.AESKeyFile != "" {
				c.EncryptKey = gwAESKey(t)
				opts.Encrypt = true
				biz = tc.BizPlain
			}

			got, err := BuildRequest(c, tc.Method, biz, opts)
			if err != nil {
				t.Fatal(err)
			}
			want := maps.Clone(tc.Params)
			want["sign"] = tc.Sign
			if !maps.Equal(got, want) {
				t.Fatalf("params\n got %q\nwant %q", got, want)
			}
			unsigned := maps.Clone(got)
			delete(unsigned, "sign")
			if sc := SignContent(unsigned); sc != tc.SignContent {
				t.Fatalf("sign content\n got %q\nwant %q", sc, tc.SignContent)
			}
			if err := testAppKey(t).Public().Verify([]byte(tc.SignContent), got["sign"]); err != nil {
				t.Fatalf("our sign does not verify with the app public key: %v", err)
			}

			if tc.Wire == nil {
				return // sdkExecute case: signed locally, never sent to the gateway
			}
			_, sdkQuery, ok := strings.Cut(tc.Wire.PathAndQuery, "?")
			if !ok {
				t.Fatalf("wire path has no query: %q", tc.Wire.PathAndQuery)
			}
			sdkUnion := gwParseUnion(t, sdkQuery, tc.Wire.Body)
			if !maps.Equal(sdkUnion, want) {
				t.Fatalf("vector wire does not carry params+sign:\n%q", sdkUnion)
			}
			query, body := EncodeRequest(got)
			if ours := gwParseUnion(t, query, body); !maps.Equal(ours, sdkUnion) {
				t.Fatalf("wire union\n got %q\nwant %q", ours, sdkUnion)
			}
			// Same split as the Node SDK: which parameter travels where.
			if q, w := gwKeys(query, t), slices.Sorted(slices.Values(tc.Wire.ParamsInQuery)); !slices.Equal(q, w) {
				t.Fatalf("query params %v, Node SDK %v", q, w)
			}
			if b, w := gwKeys(body, t), slices.Sorted(slices.Values(tc.Wire.ParamsInBody)); !slices.Equal(b, w) {
				t.Fatalf("body params %v, Node SDK %v", b, w)
			}
		})
	}
}

func TestBuildRequest(t *testing.T) {
	const method = "alipay.trade.query"
	const biz = `{"out_trade_no":"T1"}`
	utc := time.Date(2025, 6, 1, 16, 30, 5, 0, time.UTC)

	t.Run("timestamp_is_china_time_whatever_the_zone_of_now", func(t *testing.T) {
		for _, now := range []time.Time{utc, utc.In(time.FixedZone("PST", -8*3600))} {
			p, err := BuildRequest(testCredentials(t), method, biz, RequestOptions{Now: now})
			if err != nil {
				t.Fatal(err)
			}
			if p["timestamp"] != "2025-06-02 00:30:05" {
				t.Fatalf("timestamp %q", p["timestamp"])
			}
		}
	})
	t.Run("zero_now_uses_the_current_time", func(t *testing.T) {
		p, err := BuildRequest(testCredentials(t), method, biz, RequestOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ts, err := ParseTimestamp(p["timestamp"])
		if err != nil {
			t.Fatal(err)
		}
		if d := time.Since(ts); d < -2*time.Second || d > time.Minute {
			t.Fatalf("timestamp %q is %v from now", p["timestamp"], d)
		}
	})
	t.Run("values_with_spaces_are_kept_verbatim", func(t *testing.T) {
		p, err := BuildRequest(testCredentials(t), method, biz, RequestOptions{Now: utc, NotifyURL: " https://m.example.com/n ", AppAuthToken: "tok"})
		if err != nil {
			t.Fatal(err)
		}
		if p["notify_url"] != " https://m.example.com/n " || p["app_auth_token"] != "tok" || p["biz_content"] != biz {
			t.Fatalf("params %q", p)
		}
	})
	t.Run("signature_covers_every_sent_parameter", func(t *testing.T) {
		p, err := BuildRequest(testCredentials(t), method, biz, RequestOptions{Now: utc, NotifyURL: "https://m.example.com/n"})
		if err != nil {
			t.Fatal(err)
		}
		pub := testAppKey(t).Public()
		if err := pub.Verify([]byte(SignContent(p)), p["sign"]); err != nil {
			t.Fatal(err)
		}
		p["notify_url"] = "https://attacker.example.com/n"
		if err := pub.Verify([]byte(SignContent(p)), p["sign"]); err == nil {
			t.Fatal("changed notify_url still verifies")
		}
	})
	t.Run("encrypt_without_key_is_refused", func(t *testing.T) {
		if _, err := BuildRequest(testCredentials(t), method, biz, RequestOptions{Now: utc, Encrypt: true}); err == nil || !strings.Contains(err.Error(), "encrypt_key") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("encrypt_with_empty_biz_content_is_refused", func(t *testing.T) {
		c := testCredentials(t)
		c.EncryptKey = gwAESKey(t)
		if _, err := BuildRequest(c, method, " ", RequestOptions{Now: utc, Encrypt: true}); err == nil {
			t.Fatal("no error")
		}
	})
	t.Run("encrypted_biz_content_decrypts_to_the_plaintext", func(t *testing.T) {
		c := testCredentials(t)
		c.EncryptKey = gwAESKey(t)
		p, err := BuildRequest(c, method, biz, RequestOptions{Now: utc, Encrypt: true})
		if err != nil {
			t.Fatal(err)
		}
		plain, err := DecryptContent(c.EncryptKey, p["biz_content"])
		if err != nil || plain != biz || p["encrypt_type"] != "AES" {
			t.Fatalf("plain %q err %v params %q", plain, err, p)
		}
	})
	t.Run("missing_inputs_are_named", func(t *testing.T) {
		noKey := testCredentials(t)
		noKey.PrivateKey = nil
		noApp := testCredentials(t)
		noApp.AppID = " "
		for _, tc := range []struct {
			c      *Credentials
			method string
			want   string
		}{
			{nil, method, "no credentials"},
			{noKey, method, "private_key"},
			{noApp, method, "app_id"},
			{testCredentials(t), "", "method"},
		} {
			_, err := BuildRequest(tc.c, tc.method, biz, RequestOptions{Now: utc})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want mention of %s", err, tc.want)
			}
		}
	})
}

func TestEncodeRequest(t *testing.T) {
	params := map[string]string{
		"app_id": "2021000000000001", "method": "m", "sign": "a+b/c==", "notify_url": "https://x/y?a=1&b=2",
		"biz_content": `{"t":"A+B & C=D 100%"}`, "encrypt_type": "AES", "app_auth_token": "tok",
	}
	query, body := EncodeRequest(params)
	t.Run("common_params_in_query_biz_content_and_encrypt_type_in_body", func(t *testing.T) {
		if got := gwKeys(body, t); !slices.Equal(got, []string{"biz_content", "encrypt_type"}) {
			t.Fatalf("body keys %v", got)
		}
		if got := gwKeys(query, t); !slices.Equal(got, []string{"app_auth_token", "app_id", "method", "notify_url", "sign"}) {
			t.Fatalf("query keys %v", got)
		}
	})
	t.Run("plus_and_ampersand_survive_form_encoding", func(t *testing.T) {
		if strings.Contains(query, "a+b") || !strings.Contains(query, "a%2Bb%2Fc%3D%3D") {
			t.Fatalf("sign not percent-encoded: %s", query)
		}
		if got := gwParseUnion(t, query, body); !maps.Equal(got, params) {
			t.Fatalf("round trip %q", got)
		}
	})
}
