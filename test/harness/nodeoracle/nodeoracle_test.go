package nodeoracle

import (
	"encoding/json"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alipay-serverless/alipay-serverless/test/harness/testkeys"
)

// These tests prove the oracle's wiring against bytes the SDK itself recorded in the
// reference vectors: if an op reproduces the recorded output, what it says about our
// implementation is the SDK speaking, not this package.

func loadVector(t *testing.T, name string, v any) {
	t.Helper()
	root, err := testkeys.FindRoot()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "testdata", "vectors", name))
	if err != nil {
		t.Fatalf("reference vectors missing: %v", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

func TestStartRunsPinnedSDKInChinaZone(t *testing.T) {
	o := Start(t)
	if o.SDKVersion != PinnedSDKVersion {
		t.Errorf("sdk version %q, want %q", o.SDKVersion, PinnedSDKVersion)
	}
	if o.TZOffsetMinutes != 8*60 {
		t.Errorf("child zone offset %d minutes, want 480 (TZ=Asia/Shanghai)", o.TZOffsetMinutes)
	}
}

func TestSignReproducesRecordedRequestSignatures(t *testing.T) {
	var file struct {
		Cases []struct {
			Name        string            `json:"name"`
			Params      map[string]string `json:"params"`
			SignContent string            `json:"sign_content"`
			Sign        string            `json:"sign"`
			AESKeyFile  string            `json:"aes_key_file"`
			InputParams map[string]string `json:"input_params"`
			Passthrough *struct {
				SignContent string `json:"sign_content"`
				Sign        string `json:"sign"`
			} `json:"node_sdk_if_passed_through"`
		} `json:"cases"`
	}
	loadVector(t, "request_sign.json", &file)
	o := Start(t)
	checked := 0
	for _, c := range file.Cases {
		if c.AESKeyFile != "" {
			// Its biz_content is ciphertext, not JSON: the SDK would produce it from the
			// plaintext only through its own AES step, so there is nothing to hand it.
			continue
		}
		for _, kt := range []KeyType{PKCS1, PKCS8} {
			t.Run(c.Name+"_"+string(kt), func(t *testing.T) {
				got, err := o.Sign(kt, c.Params)
				if err != nil {
					t.Fatal(err)
				}
				if got.Content != c.SignContent {
					t.Errorf("content\n got %q\nwant %q", got.Content, c.SignContent)
				}
				if got.Sign != c.Sign {
					t.Errorf("sign differs from the recorded one")
				}
				if got.Algorithm != "RSA-SHA256" {
					t.Errorf("algorithm %q", got.Algorithm)
				}
				want := maps.Clone(c.Params)
				want["sign"] = c.Sign
				if !maps.Equal(got.Params, want) {
					t.Errorf("params\n got %v\nwant %v", got.Params, want)
				}
			})
		}
		checked++
		if c.Passthrough != nil {
			t.Run(c.Name+"_node_signs_blank_values_when_passed_through", func(t *testing.T) {
				in := maps.Clone(c.Params)
				maps.Copy(in, c.InputParams)
				got, err := o.Sign(PKCS1, in)
				if err != nil {
					t.Fatal(err)
				}
				if got.Content != c.Passthrough.SignContent || got.Sign != c.Passthrough.Sign {
					t.Errorf("content\n got %q\nwant %q", got.Content, c.Passthrough.SignContent)
				}
			})
		}
	}
	if checked < 8 {
		t.Fatalf("only %d request vectors checked", checked)
	}
}

type orderStrFile struct {
	Cases []struct {
		Name         string            `json:"name"`
		SDKParams    map[string]any    `json:"sdk_params"`
		BizContent   string            `json:"biz_content"`
		OrderStr     string            `json:"order_str"`
		Params       map[string]string `json:"params"`
		SortedFormed string            `json:"order_str_sorted_form_encoded"`
	} `json:"cases"`
}

func TestSDKExecuteReproducesRecordedOrderStrings(t *testing.T) {
	var file orderStrFile
	loadVector(t, "app_pay_orderstr.json", &file)
	o := Start(t)
	checked := 0
	for _, c := range file.Cases {
		if _, cert := c.Params["app_cert_sn"]; cert {
			continue // certificate mode: the oracle's SDK instances are in key mode
		}
		t.Run(c.Name, func(t *testing.T) {
			str := func(k string) string { s, _ := c.SDKParams[k].(string); return s }
			for _, kt := range []KeyType{PKCS1, PKCS8} {
				got, err := o.SDKExecute(kt, ExecRequest{
					BizContent: c.BizContent, Timestamp: str("timestamp"),
					NotifyURL: str("notify_url"), AppAuthToken: str("app_auth_token"),
				})
				if err != nil {
					t.Fatal(err)
				}
				if got != c.OrderStr {
					t.Errorf("%s: orderStr\n got %s\nwant %s", kt, got, c.OrderStr)
				}
			}
		})
		checked++
	}
	if checked < 3 {
		t.Fatalf("only %d orderStr vectors checked", checked)
	}
}

func TestSDKExecuteStampsChinaTime(t *testing.T) {
	o := Start(t)
	china := time.FixedZone("CST", 8*3600)
	before := time.Now().In(china).Format("2006-01-02 15:04:05")
	s, err := o.SDKExecute(PKCS1, ExecRequest{BizContent: `{"a":"b"}`})
	if err != nil {
		t.Fatal(err)
	}
	after := time.Now().In(china).Format("2006-01-02 15:04:05")
	r, err := o.CheckOrderStr(s)
	if err != nil {
		t.Fatal(err)
	}
	if ts := r.Params["timestamp"]; ts < before || ts > after {
		t.Errorf("SDK timestamp %q outside [%s, %s] China time", ts, before, after)
	}
}

func TestCheckOrderStrVerifiesRecordedAndRejectsTampered(t *testing.T) {
	var file orderStrFile
	loadVector(t, "app_pay_orderstr.json", &file)
	o := Start(t)
	for _, c := range file.Cases {
		t.Run(c.Name, func(t *testing.T) {
			for _, s := range []string{c.OrderStr, c.SortedFormed} {
				r, err := o.CheckOrderStr(s)
				if err != nil {
					t.Fatal(err)
				}
				if !r.Verified || !maps.Equal(r.Params, c.Params) {
					t.Errorf("verified %v, params equal %v: %.80s", r.Verified, maps.Equal(r.Params, c.Params), s)
				}
			}
			tampered := strings.Replace(c.OrderStr, "app_id=2021000000000001", "app_id=2021000000000002", 1)
			if tampered == c.OrderStr {
				t.Fatal("vector has no app_id to tamper with")
			}
			r, err := o.CheckOrderStr(tampered)
			if err != nil {
				t.Fatal(err)
			}
			if r.Verified {
				t.Error("tampered orderStr verified")
			}
			if _, err := o.CheckOrderStr(c.OrderStr + "&app_id=x"); !errors.Is(err, ErrOp) {
				t.Errorf("duplicate key: err %v, want ErrOp", err)
			}
		})
	}
}

func TestNotifyOpsReproduceRecordedVerdicts(t *testing.T) {
	var file struct {
		Cases []struct {
			Name           string          `json:"name"`
			Charset        string          `json:"charset"`
			Body           string          `json:"body"`
			RawParams      json.RawMessage `json:"params"` // pairs for duplicate_key
			SignContent    *string         `json:"sign_content"`
			SignatureValid bool            `json:"signature_valid"`
			SDK            map[string]any  `json:"sdk"`
		} `json:"cases"`
	}
	loadVector(t, "notify.json", &file)
	o := Start(t)
	checked := 0
	for _, c := range file.Cases {
		if !strings.EqualFold(c.Charset, "utf-8") {
			continue // the SDK hashes UTF-8 only; the vector records no SDK verdict
		}
		t.Run(c.Name, func(t *testing.T) {
			want, ok := c.SDK["checkNotifySignV2"].(bool)
			if !ok {
				t.Fatalf("no recorded checkNotifySignV2 verdict: %v", c.SDK)
			}
			r, err := o.CheckNotifyBody(c.Body)
			if c.SignContent == nil {
				// Duplicate keys: the body is ambiguous; the SDK (fed querystring's
				// array) rejected it, the oracle refuses to pick one value.
				if !errors.Is(err, ErrOp) || want {
					t.Errorf("err %v, recorded %v", err, want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var params map[string]string
			if err := json.Unmarshal(c.RawParams, &params); err != nil {
				t.Fatalf("params: %v", err)
			}
			if r.Verified != want {
				t.Errorf("checkNotifySignV2 %v, recorded %v", r.Verified, want)
			}
			if !maps.Equal(r.Params, params) {
				t.Errorf("WHATWG parse differs from the recorded params")
			}
			if c.SignatureValid {
				s, err := o.SignNotify(params)
				if err != nil {
					t.Fatal(err)
				}
				if s.Content != *c.SignContent || s.Sign != params["sign"] {
					t.Errorf("signNotify\n got %q\nwant %q", s.Content, *c.SignContent)
				}
			}
		})
		checked++
	}
	if checked < 20 {
		t.Fatalf("only %d notification vectors checked", checked)
	}
}

func TestCheckResponseReproducesRecordedVerdicts(t *testing.T) {
	var file struct {
		Cases []struct {
			Name     string `json:"name"`
			NodeName string `json:"node_name"`
			RawBody  string `json:"raw_body"`
			SDK      struct {
				CheckResponseSign string `json:"checkResponseSign"`
			} `json:"sdk"`
		} `json:"cases"`
	}
	loadVector(t, "response_verify.json", &file)
	o := Start(t)
	for _, c := range file.Cases {
		t.Run(c.Name, func(t *testing.T) {
			got, err := o.CheckResponse(c.RawBody, c.NodeName)
			if err != nil {
				t.Fatal(err)
			}
			if !MatchesRecordedVerdict(got, c.SDK.CheckResponseSign) {
				t.Errorf("verdict\n got %.200s\nwant %s", got, c.SDK.CheckResponseSign)
			}
		})
	}
	if len(file.Cases) < 14 {
		t.Fatalf("only %d reply vectors", len(file.Cases))
	}
}

func TestMatchesRecordedVerdict(t *testing.T) {
	for _, c := range []struct {
		name, got, recorded string
		want                bool
	}{
		{"exact_ok", "ok", "ok", true},
		{"ok_vs_throws", "ok", "throws TypeError: x", false},
		{"truncated_prefix", "throws E: abcdef", "throws E: abc...", true},
		{"truncated_prefix_differs", "throws E: abXdef", "throws E: abc...", false},
		{"untruncated_must_be_exact", "throws E: abcdef", "throws E: abc", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := MatchesRecordedVerdict(c.got, c.recorded); got != c.want {
				t.Errorf("MatchesRecordedVerdict(%q, %q) = %v", c.got, c.recorded, got)
			}
		})
	}
}

func TestOpErrorsLeaveOracleUsable(t *testing.T) {
	o := Start(t)
	if err := o.call("no_such_op", nil, nil); !errors.Is(err, ErrOp) {
		t.Errorf("unknown op: %v, want ErrOp", err)
	}
	if _, err := o.Sign(PKCS1, map[string]string{"method": "m", "biz_content": "not json"}); !errors.Is(err, ErrOp) {
		t.Errorf("non-JSON biz_content: %v, want ErrOp", err)
	}
	if _, err := o.Sign(PKCS1, map[string]string{"method": "m"}); err != nil {
		t.Errorf("valid call after errors: %v", err)
	}
}

func TestCallTimeoutKillsNode(t *testing.T) {
	o := Start(t)
	o.Timeout = 300 * time.Millisecond
	start := time.Now()
	err := o.call("sleep", map[string]any{"ms": 5000}, nil)
	if err == nil || !strings.Contains(err.Error(), "no reply within") {
		t.Fatalf("err %v, want a timeout", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("timeout took %s", d)
	}
	select {
	case <-o.exited:
	case <-time.After(5 * time.Second):
		t.Fatal("node still running after the timeout")
	}
	if _, err := o.Sign(PKCS1, map[string]string{"method": "m"}); err == nil {
		t.Error("call on a killed oracle succeeded")
	}
}
