package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
)

type responseCase struct {
	Name                string `json:"name"`
	RawBody             string `json:"raw_body"`
	SignSource          string `json:"sign_source"`
	ReserializedSource  string `json:"reserialized_source"`
	ExpectedVerifiedRaw any    `json:"expected_verified"`
}

const voucherMethod = "alipay.fund.auth.order.voucher.create"

func responseCases(t *testing.T) map[string]responseCase {
	t.Helper()
	var v struct {
		Method string         `json:"method"`
		Cases  []responseCase `json:"cases"`
	}
	loadVectors(t, "vectors/response_verify.json", &v)
	if v.Method != voucherMethod || len(v.Cases) == 0 {
		t.Fatalf("unexpected response vectors: method %q, %d cases", v.Method, len(v.Cases))
	}
	m := make(map[string]responseCase, len(v.Cases))
	for _, c := range v.Cases {
		m[c.Name] = c
	}
	return m
}

func TestVerifyResponseVectors(t *testing.T) {
	for _, c := range responseCases(t) {
		t.Run(c.Name, func(t *testing.T) {
			args := []string{"verify", "response", "-method", voucherMethod}
			if strings.HasPrefix(c.Name, "cert_mode_") {
				args = append(args, "--alipay-cert", td(t, "certs/alipay_public_cert.crt"))
			} else {
				args = append(args, "--alipay-public-key", td(t, "keys/alipay_public.pem"))
			}
			if c.Name == "aes_encrypted_success" {
				args = append(args, "--encrypt-key", td(t, "keys/aes_key.txt"))
			}
			r := cli(t, nil, c.RawBody, args...)
			want, verdict := exitFail, "invalid:"
			switch c.ExpectedVerifiedRaw {
			case true:
				want, verdict = exitOK, "valid:"
			case "unsigned_error":
				verdict = "unsigned:"
			case "unknown_cert_sn":
				verdict = "DIAGNOSIS [cert_sn_mismatch]"
			}
			if r.code != want {
				t.Fatalf("exit %d, want %d\n%s%s", r.code, want, r.stdout, r.stderr)
			}
			mustContain(t, "output", r.stdout, verdict)
			if c.Name != "duplicate_response_node" {
				mustContain(t, "output", r.stdout, "\n"+c.SignSource+"\n")
			}
		})
	}
}

func TestVerifyResponseWithoutTheAESKeyStillChecksTheSignature(t *testing.T) {
	c := responseCases(t)["aes_encrypted_success"]
	r := cli(t, nil, c.RawBody, "verify", "response", "-method", voucherMethod, "--alipay-public-key", td(t, "keys/alipay_public.txt"))
	if r.code != exitOK {
		t.Fatalf("exit %d\n%s", r.code, r.stdout)
	}
	mustContain(t, "output", r.stdout, "valid:", "give --encrypt-key")

	r = cli(t, map[string]string{"ALIPAY_ENCRYPT_KEY": string(readTD(t, "keys/aes_key.txt"))}, c.RawBody,
		"verify", "response", "-method", voucherMethod, "--alipay-public-key", td(t, "keys/alipay_public.txt"))
	if r.code != exitOK {
		t.Fatalf("exit %d\n%s", r.code, r.stdout)
	}
	mustContain(t, "output", r.stdout, "decrypted node:", `"out_order_no":"PA20250601000005"`)
}

// signedReply builds a raw reply for the voucher method whose node text is node, signed
// over signedBytes with priv.
func signedReply(t *testing.T, priv *alipay.PrivateKey, node string, signedBytes []byte) string {
	t.Helper()
	sig, err := priv.Sign(signedBytes)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := json.Marshal(sig)
	return `{"` + alipay.ResponseNodeName(voucherMethod) + `":` + node + `,"sign":` + string(s) + `}`
}

func TestVerifyResponseDiagnosesEachMistake(t *testing.T) {
	cases := responseCases(t)
	alipayPriv := parsePrivate(t, "keys/alipay_private_pkcs8.pem")
	appPriv := parsePrivate(t, "keys/app_private_pkcs1.pem")
	slashes := cases["success_escaped_slashes"]

	var pretty bytes.Buffer
	if err := json.Indent(&pretty, []byte(slashes.RawBody), "", "  "); err != nil {
		t.Fatal(err)
	}
	escaped := cases["business_failed_40004_signed"]
	var subMsg struct {
		Node struct {
			SubMsg string `json:"sub_msg"`
		} `json:"alipay_fund_auth_order_voucher_create_response"`
	}
	if err := json.Unmarshal([]byte(escaped.RawBody), &subMsg); err != nil {
		t.Fatal(err)
	}
	const escapedSubMsg = `\u6388\u6743\u5931\u8d25\uff0c\u5546\u6237\u8ba2\u5355\u53f7\u91cd\u590d`
	if !strings.Contains(escaped.RawBody, escapedSubMsg) {
		t.Fatal("vector business_failed_40004_signed no longer has the escaped sub_msg")
	}
	htmlNode := `{"code":"10000","msg":"Success","code_url":"https://qr.alipay.com/x?a=1&b=<2>"}`
	gbkNode := `{"code":"40004","msg":"Business Failed","sub_code":"ORDER_ALREADY_CLOSED","sub_msg":"授权订单已关闭"}`
	gbkBytes, err := alipay.EncodeCharset("gbk", gbkNode)
	if err != nil {
		t.Fatal(err)
	}
	unicode := cases["success_unicode_escapes"]

	tests := []struct {
		name   string
		raw    string
		method string
		args   []string
		id     string
		want   []string
	}{
		{name: "pretty_printed", raw: pretty.String(), id: "reformatted_json", want: []string{"pretty-printed"}},
		{name: "slashes_unescaped", raw: strings.ReplaceAll(slashes.RawBody, `\/`, "/"), id: "slash_unescaped"},
		{name: "unicode_escapes_decoded", raw: strings.Replace(escaped.RawBody, escapedSubMsg, subMsg.Node.SubMsg, 1), id: "unicode_unescaped"},
		{name: "reencoded_by_go_json", id: "html_escaped",
			raw: strings.NewReplacer("&", `\u0026`, "<", `\u003c`, ">", `\u003e`).Replace(
				signedReply(t, alipayPriv, htmlNode, []byte(htmlNode)))},
		{name: "reserialised_by_go_json", raw: goReserialised(t, slashes.RawBody),
			id: "reformatted_suspected", want: []string{"alphabetical order", `'/' is not escaped`}},
		{name: "reserialised_keeping_key_order", raw: strings.Replace(unicode.RawBody, unicode.SignSource, unicode.ReserializedSource, 1),
			id: "no_known_mistake", want: []string{`Possibly re-serialised on the way: '/' is not escaped`}},
		{name: "gbk_reply_transcoded", raw: signedReply(t, alipayPriv, gbkNode, gbkBytes), id: "reply_charset"},
		{name: "signed_with_the_app_key", raw: signedReply(t, appPriv, htmlNode, []byte(htmlNode)),
			args: []string{"--app-public-key", td(t, "keys/app_public.pem")}, id: "signed_with_app_key"},
		{name: "app_key_given_as_alipay_key", raw: slashes.RawBody,
			args: []string{"--alipay-public-key", td(t, "keys/app_public.txt"), "--app-public-key", td(t, "keys/app_public.pem")},
			id:   "alipay_key_is_app_key"},
		{name: "duplicate_node", raw: cases["duplicate_response_node"].RawBody, id: "duplicate_node"},
		{name: "wrong_method", raw: slashes.RawBody, method: "alipay.trade.query", id: "wrong_method",
			want: []string{"holds alipay_fund_auth_order_voucher_create_response, not alipay_trade_query_response"}},
		{name: "changed_after_signing", raw: cases["success_tampered"].RawBody, id: "no_known_mistake"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := tt.method
			if method == "" {
				method = voucherMethod
			}
			args := []string{"verify", "response", "-method", method}
			if len(tt.args) == 0 || tt.args[0] != "--alipay-public-key" {
				args = append(args, "--alipay-public-key", td(t, "keys/alipay_public.pem"))
			}
			r := cli(t, nil, tt.raw, append(args, tt.args...)...)
			if r.code != exitFail {
				t.Fatalf("exit %d, want %d\n%s%s", r.code, exitFail, r.stdout, r.stderr)
			}
			mustContain(t, "output", r.stdout, "invalid:", "DIAGNOSIS ["+tt.id+"]")
			mustContain(t, "output", r.stdout, tt.want...)
			if tt.id != "no_known_mistake" {
				mustNotContain(t, "output", r.stdout, "DIAGNOSIS [no_known_mistake]")
			}
		})
	}
}

// goReserialised parses a reply and writes it back with encoding/json, as a Go handler
// that logs or forwards "the JSON" would: keys sorted, '/' unescaped.
func goReserialised(t *testing.T, raw string) string {
	t.Helper()
	var top map[string]json.RawMessage
	if err := json.Unmarshal([]byte(raw), &top); err != nil {
		t.Fatal(err)
	}
	name := alipay.ResponseNodeName(voucherMethod)
	var node map[string]any
	if err := json.Unmarshal(top[name], &node); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(node)
	if err != nil {
		t.Fatal(err)
	}
	return `{"` + name + `":` + string(b) + `,"sign":` + string(top["sign"]) + `}`
}
