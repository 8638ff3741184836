package main

import (
	"encoding/json"
	"maps"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
)

type requestSignVectors struct {
	Cases []struct {
		Name        string            `json:"name"`
		Params      map[string]string `json:"params"`
		InputParams map[string]string `json:"input_params"`
		SignContent string            `json:"sign_content"`
		Sign        string            `json:"sign"`
	} `json:"cases"`
}

func TestSignReproducesRequestVectors(t *testing.T) {
	var v requestSignVectors
	loadVectors(t, "vectors/request_sign.json", &v)
	if len(v.Cases) == 0 {
		t.Fatal("no request_sign cases")
	}
	keyFlag := []string{"-private", td(t, "keys/app_private_pkcs1.pem")}
	for _, c := range v.Cases {
		inputs := map[string]map[string]string{"params": c.Params}
		if c.InputParams != nil {
			// The caller's params (blanks included) on top of the common ones.
			merged := maps.Clone(c.Params)
			maps.Copy(merged, c.InputParams)
			inputs["input_params"] = merged
		}
		for which, params := range inputs {
			asJSON, err := json.Marshal(params)
			if err != nil {
				t.Fatal(err)
			}
			form := url.Values{}
			for k, v := range params {
				form.Set(k, v)
			}
			for _, in := range []struct{ kind, text string }{{"json", string(asJSON)}, {"form", form.Encode()}} {
				t.Run(c.Name+"_"+which+"_as_"+in.kind, func(t *testing.T) {
					r := cli(t, nil, in.text, append([]string{"sign"}, keyFlag...)...)
					if r.code != exitOK {
						t.Fatalf("exit %d: %s", r.code, r.stderr)
					}
					mustContain(t, "sign output", r.stdout, "\n"+c.SignContent+"\n", "\n"+c.Sign+"\n")
					if which == "input_params" {
						mustContain(t, "sign output", r.stdout, "blank parameters dropped (neither signed nor to be sent): app_auth_token, notify_url")
					}
				})
			}
		}
	}
}

func TestSignTakesAnOrderStringAndTheKeyFromEnv(t *testing.T) {
	var v struct {
		Cases []struct {
			Name        string `json:"name"`
			OrderStr    string `json:"order_str"`
			Sorted      string `json:"order_str_sorted_form_encoded"`
			SignContent string `json:"sign_content"`
			Sign        string `json:"sign"`
		} `json:"cases"`
	}
	loadVectors(t, "vectors/app_pay_orderstr.json", &v)
	env := map[string]string{"ALIPAY_PRIVATE_KEY_FILE": td(t, "keys/app_private_pkcs8.txt")}
	for _, c := range v.Cases {
		for shape, s := range map[string]string{"node_order": c.OrderStr, "sorted_form": c.Sorted} {
			t.Run(c.Name+"_"+shape, func(t *testing.T) {
				r := cli(t, env, s, "sign", "-params", "-")
				if r.code != exitOK {
					t.Fatalf("exit %d: %s", r.code, r.stderr)
				}
				mustContain(t, "sign output", r.stdout, "\n"+c.SignContent+"\n", "\n"+c.Sign+"\n",
					"ALIPAY_PRIVATE_KEY_FILE", "the sign given in the params is ignored")
			})
		}
	}
}

func TestSignRejectsUnusableParams(t *testing.T) {
	key := td(t, "keys/app_private_pkcs1.pem")
	tests := []struct {
		name, params, want string
	}{
		{"empty_input", "  \n", "empty input"},
		{"object_value", `{"app_id":"1","biz_content":{"a":1}}`, "biz_content: must be a string"},
		{"duplicate_json_key", `{"app_id":"1","app_id":"2"}`, "app_id: duplicate key"},
		{"duplicate_form_key", "app_id=1&app_id=2", "app_id: duplicate key"},
		{"malformed_escape", "app_id=1&subject=100%", "subject: malformed percent-escape"},
		{"trailing_json", `{"app_id":"1"} {"x":"y"}`, "trailing data"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := cli(t, nil, tt.params, "sign", "-private", key)
			if r.code != exitFail {
				t.Fatalf("exit %d, want %d\n%s", r.code, exitFail, r.stdout)
			}
			mustContain(t, "stderr", r.stderr, tt.want)
		})
	}
}

func TestSignWarnsAboutMissingSignType(t *testing.T) {
	r := cli(t, nil, `{"app_id":"2021000000000001","method":"alipay.trade.query","total":9.5}`, "sign", "-private", td(t, "keys/app_private_pkcs1.pem"))
	if r.code != exitOK {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	mustContain(t, "sign output", r.stdout, "app_id=2021000000000001&method=alipay.trade.query&total=9.5\n", "sign_type is missing")
}

func keyModeEnv(t *testing.T) map[string]string {
	return map[string]string{
		"ALIPAY_APP_ID":           "2021000000000001",
		"ALIPAY_PRIVATE_KEY_FILE": td(t, "keys/app_private_pkcs1.pem"),
		"ALIPAY_PUBLIC_KEY_FILE":  td(t, "keys/alipay_public.txt"),
	}
}

func TestOrderStrSignsValidatedBizParams(t *testing.T) {
	appPub, err := alipay.ParsePublicKey(readTD(t, "keys/app_public.pem"))
	if err != nil {
		t.Fatal(err)
	}
	var sn struct {
		AppCertSN struct {
			Value string `json:"value"`
		} `json:"app_cert_sn"`
		RootSN struct {
			Value string `json:"value"`
		} `json:"alipay_root_cert_sn"`
	}
	loadVectors(t, "vectors/cert_sn.json", &sn)
	certEnv := map[string]string{
		"ALIPAY_APP_ID":           "2021000000000001",
		"ALIPAY_PRIVATE_KEY":      string(readTD(t, "keys/app_private_pkcs8.pem")),
		"ALIPAY_APP_CERT_FILE":    td(t, "certs/app_cert.crt"),
		"ALIPAY_ALIPAY_CERT_FILE": td(t, "certs/alipay_public_cert.crt"),
		"ALIPAY_ROOT_CERT_FILE":   td(t, "certs/alipay_root_cert.crt"),
	}
	biz := `{"out_trade_no":"70501111111S001111119","total_amount":"9.00","subject":"大乐透","product_code":"QUICK_MSECURITY_PAY"}`
	tests := []struct {
		name      string
		env       map[string]string
		args      []string
		notifyURL string
		certSNs   bool
	}{
		{"key_mode_with_notify_url", keyModeEnv(t), []string{"-notify-url", "https://merchant.example.com/v1/notify/alipay"}, "https://merchant.example.com/v1/notify/alipay", false},
		{"key_mode_notify_url_from_env", func() map[string]string {
			e := keyModeEnv(t)
			e["ALIPAY_NOTIFY_URL"] = "https://env.example.com/n"
			return e
		}(), nil, "https://env.example.com/n", false},
		{"certificate_mode", certEnv, nil, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := time.Now()
			r := cli(t, tt.env, biz, append([]string{"orderstr", "-biz", "-"}, tt.args...)...)
			if r.code != exitOK {
				t.Fatalf("exit %d: %s%s", r.code, r.stdout, r.stderr)
			}
			s := strings.TrimSpace(r.stdout)
			params, err := alipay.VerifyOrderString(s, appPub)
			if err != nil {
				t.Fatalf("order string does not verify with the app public key: %v\n%s", err, s)
			}
			if params["biz_content"] != biz {
				t.Errorf("biz_content = %s, want %s", params["biz_content"], biz)
			}
			if params["method"] != "alipay.trade.app.pay" || params["app_id"] != "2021000000000001" || params["notify_url"] != tt.notifyURL {
				t.Errorf("params = %v", params)
			}
			ts, err := alipay.ParseTimestamp(params["timestamp"])
			if err != nil || ts.Before(before.Truncate(time.Second)) || ts.After(time.Now().Add(time.Second)) {
				t.Errorf("timestamp %q not the current China time (%v)", params["timestamp"], err)
			}
			gotSNs := params["app_cert_sn"] == sn.AppCertSN.Value && params["alipay_root_cert_sn"] == sn.RootSN.Value
			if gotSNs != tt.certSNs {
				t.Errorf("cert SNs app=%q root=%q, want present=%v", params["app_cert_sn"], params["alipay_root_cert_sn"], tt.certSNs)
			}
		})
	}
}

func TestOrderStrNamesTheInvalidField(t *testing.T) {
	tests := []struct {
		name, biz, want string
	}{
		{"amount_with_three_decimals", `{"out_trade_no":"A1","total_amount":"9.001","subject":"s"}`, "total_amount:"},
		{"amount_zero", `{"out_trade_no":"A1","total_amount":"0.00","subject":"s"}`, "total_amount:"},
		{"subject_with_slash", `{"out_trade_no":"A1","total_amount":"9.00","subject":"a/b"}`, "subject:"},
		{"unknown_field", `{"out_trade_no":"A1","total_amount":"9.00","subject":"s","amount":"1"}`, "amount:"},
		{"time_expire_in_the_past", `{"out_trade_no":"A1","total_amount":"9.00","subject":"s","time_expire":"2025-06-01 12:30:00"}`, "time_expire:"},
		{"missing_out_trade_no", `{"total_amount":"9.00","subject":"s"}`, "out_trade_no:"},
		{"cycle_pay_without_agreement", `{"out_trade_no":"A1","total_amount":"9.00","subject":"s","product_code":"CYCLE_PAY_AUTH"}`, "agreement_sign_params:"},
		{"not_json", `out_trade_no=A1`, "(body):"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := cli(t, keyModeEnv(t), tt.biz, "orderstr", "-biz", "-")
			if r.code != exitFail {
				t.Fatalf("exit %d, want %d\n%s%s", r.code, exitFail, r.stdout, r.stderr)
			}
			mustContain(t, "orderstr output", r.stdout, "invalid biz params:", tt.want)
			mustNotContain(t, "orderstr output", r.stdout, "app_id=")
		})
	}
}

func TestOrderStrReportsBadCredentials(t *testing.T) {
	env := keyModeEnv(t)
	env["ALIPAY_PUBLIC_KEY_FILE"] = td(t, "keys/app_private_pkcs1.pem")
	r := cli(t, env, `{"out_trade_no":"A1","total_amount":"9.00","subject":"s"}`, "orderstr", "-biz", "-")
	if r.code != exitFail {
		t.Fatalf("exit %d, want %d", r.code, exitFail)
	}
	mustContain(t, "stderr", r.stderr, "ALIPAY_PUBLIC_KEY_FILE")
}

func TestSignWithEveryKeyFormatGivesTheSameSignature(t *testing.T) {
	var v struct {
		SignContent  string `json:"sign_content"`
		ExpectedSign string `json:"expected_sign"`
		Variants     []struct {
			File      string `json:"file"`
			Format    string `json:"format"`
			Container string `json:"container"`
		} `json:"variants"`
	}
	loadVectors(t, "vectors/key_formats.json", &v)
	seen := map[string]bool{}
	for _, k := range v.Variants {
		if seen[k.File] {
			continue
		}
		seen[k.File] = true
		t.Run(strings.ReplaceAll(k.File, "/", "_"), func(t *testing.T) {
			// The sign content doubles as a form string: its values need no decoding.
			r := cli(t, nil, v.SignContent, "sign", "-private", td(t, k.File))
			if r.code != exitOK {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			mustContain(t, "sign output", r.stdout, "\n"+v.SignContent+"\n", "\n"+v.ExpectedSign+"\n")
			r = cli(t, nil, "", "keys", "check", "-private", td(t, k.File), "-public", td(t, "keys/app_public.txt"))
			if r.code != exitOK {
				t.Fatalf("keys check: exit %d\n%s", r.code, r.stdout)
			}
			container := k.Container
			if container == "one base64 line" { // the vector's words for alipay.ContainerBase64
				container = string(alipay.ContainerBase64)
			}
			mustContain(t, "keys check", r.stdout, k.Format+", "+container)
		})
	}
}

func TestSignRefusesAKeyGivenAsParams(t *testing.T) {
	for _, rel := range []string{"keys/app_private_pkcs1.pem", "keys/app_private_pkcs8.txt", "keys/alipay_private_pkcs8.pem"} {
		t.Run(strings.ReplaceAll(rel, "/", "_"), func(t *testing.T) {
			r := cli(t, nil, "", "sign", "-private", td(t, "keys/app_private_pkcs1.pem"), "-params", td(t, rel))
			if r.code != exitFail {
				t.Fatalf("exit %d, want %d\n%s", r.code, exitFail, r.stdout)
			}
			mustContain(t, "stderr", r.stderr, "is a key")
		})
	}
}
