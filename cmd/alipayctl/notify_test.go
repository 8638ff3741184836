package main

import (
	"encoding/json"
	"maps"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
	"github.com/alipay-serverless/alipay-serverless/shared/sandbox"
)

type notifyCase struct {
	Name        string          `json:"name"`
	Charset     string          `json:"charset"`
	Body        string          `json:"body"`
	Params      json.RawMessage `json:"params"`
	SignContent *string         `json:"sign_content"`
	Expected    bool            `json:"expected"`
}

func notifyCases(t *testing.T) map[string]notifyCase {
	t.Helper()
	var v struct {
		Cases []notifyCase `json:"cases"`
	}
	loadVectors(t, "vectors/notify.json", &v)
	if len(v.Cases) == 0 {
		t.Fatal("no notify cases")
	}
	m := make(map[string]notifyCase, len(v.Cases))
	for _, c := range v.Cases {
		m[c.Name] = c
	}
	return m
}

// params returns a vector's decoded parameters (map form).
func (c notifyCase) params(t *testing.T) map[string]string {
	t.Helper()
	var p map[string]string
	if err := json.Unmarshal(c.Params, &p); err != nil {
		t.Fatalf("%s: params: %v", c.Name, err)
	}
	return p
}

func TestVerifyNotifyVectors(t *testing.T) {
	keys := map[string][]string{
		"alipay_public_key_pem":  {"--alipay-public-key", td(t, "keys/alipay_public.pem")},
		"alipay_public_key_line": {"--alipay-public-key=" + td(t, "keys/alipay_public.txt")},
		"alipay_certificate":     {"--alipay-cert", td(t, "certs/alipay_public_cert.crt")},
	}
	for _, c := range notifyCases(t) {
		for keyName, keyArgs := range keys {
			t.Run(c.Name+"_with_"+keyName, func(t *testing.T) {
				r := cli(t, nil, c.Body, append([]string{"verify", "notify"}, keyArgs...)...)
				want, verdict := exitFail, "invalid:"
				if c.Expected {
					want, verdict = exitOK, "valid:"
				}
				if r.code != want {
					t.Fatalf("exit %d, want %d\n%s%s", r.code, want, r.stdout, r.stderr)
				}
				if !strings.HasPrefix(r.stdout, verdict) {
					t.Fatalf("output does not start with %q:\n%s", verdict, r.stdout)
				}
				if c.Expected {
					mustContain(t, "output", r.stdout, "\n"+*c.SignContent+"\n")
				}
			})
		}
	}
}

func TestVerifyNotifyTakesTheKeyFromEnv(t *testing.T) {
	c := notifyCases(t)["trade_success"]
	for name, env := range map[string]map[string]string{
		"public_key_value": {"ALIPAY_PUBLIC_KEY": string(readTD(t, "keys/alipay_public.txt"))},
		"public_key_file":  {"ALIPAY_PUBLIC_KEY_FILE": td(t, "keys/alipay_public.pem")},
		"certificate_file": {"ALIPAY_ALIPAY_CERT_FILE": td(t, "certs/alipay_public_cert.crt")},
	} {
		t.Run(name, func(t *testing.T) {
			r := cli(t, env, c.Body, "verify", "notify")
			if r.code != exitOK {
				t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}
		})
	}
}

func TestVerifyNotifyExplainsPolicyFailures(t *testing.T) {
	cases := notifyCases(t)
	tests := []struct {
		name string
		want []string
	}{
		{"tampered_sign_type_removed", []string{"sign_type missing", "The signature itself verifies"}},
		{"tampered_sign_type_rsa", []string{"not RSA2", "The signature itself verifies"}},
		{"sign_missing", []string{"sign missing", "without sign there is nothing to verify"}},
		{"duplicate_key", []string{"duplicate key", "never sends a parameter twice"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := cli(t, nil, cases[tt.name].Body, "verify", "notify", "--alipay-public-key", td(t, "keys/alipay_public.pem"))
			if r.code != exitFail {
				t.Fatalf("exit %d, want %d\n%s", r.code, exitFail, r.stdout)
			}
			mustContain(t, "output", r.stdout, tt.want...)
		})
	}
}

func TestVerifyNotifyNotesWhatBreaksOtherVerifiers(t *testing.T) {
	cases := notifyCases(t)
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"trade_success_passback_params_percent", nil, "note: passback_params contains '%' after decoding"},
		{"trade_success_gbk", nil, "note: charset=gbk"},
		{"tampered_empty_param_added", nil, "note: coupon_fee is empty and not part of the content"},
		{"trade_success_wrong_app_id", map[string]string{"ALIPAY_APP_ID": "2021000000000001"}, "note: app_id 2021000000009999 is not ALIPAY_APP_ID 2021000000000001"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := cli(t, tt.env, cases[tt.name].Body, "verify", "notify", "--alipay-public-key", td(t, "keys/alipay_public.pem"))
			if r.code != exitOK {
				t.Fatalf("exit %d\n%s", r.code, r.stdout)
			}
			mustContain(t, "output", r.stdout, tt.want)
		})
	}
	r := cli(t, nil, cases["trade_success"].Body+"\r\n", "verify", "notify", "--alipay-public-key", td(t, "keys/alipay_public.pem"))
	if r.code != exitOK {
		t.Fatalf("a trailing line break must be ignored: exit %d\n%s", r.code, r.stdout)
	}
	mustContain(t, "stderr", r.stderr, "ignored the line break")
}

// ---- broken bodies ---------------------------------------------------------------------

// mistakenSigner signs whatever content a test gives it, the usual mistakes included
// (sign_type or blanks in the content, trimmed values, the wrong charset or key), so
// the diagnoses have something to find. sandbox.SignNotification is Alipay's way.
type mistakenSigner struct {
	t    *testing.T
	priv *alipay.PrivateKey
}

// content joins params the way the mistakes need: every key except those in exclude,
// sorted, values as given, blanks kept only if keepBlank.
func joinContent(p map[string]string, keepBlank bool, exclude ...string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(p)) {
		if slices.Contains(exclude, k) || (!keepBlank && strings.TrimSpace(p[k]) == "") {
			continue
		}
		parts = append(parts, k+"="+p[k])
	}
	return strings.Join(parts, "&")
}

// sign signs content in charset cs and stores the result in p["sign"].
func (s mistakenSigner) sign(p map[string]string, content, cs string) map[string]string {
	s.t.Helper()
	b, err := alipay.EncodeCharset(cs, content)
	if err != nil {
		s.t.Fatal(err)
	}
	sig, err := s.priv.Sign(b)
	if err != nil {
		s.t.Fatal(err)
	}
	p["sign"] = sig
	return p
}

// formBody form-encodes p as Alipay does (sandbox.EncodeNotification) with values as
// bytes of charset cs.
func formBody(t *testing.T, p map[string]string, cs string) string {
	t.Helper()
	b, err := sandbox.EncodeNotification(p, cs)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// mapBody rewrites each raw value of a body.
func mapBody(body string, f func(k, v string) string) string {
	segs := strings.Split(body, "&")
	for i, seg := range segs {
		k, v, _ := strings.Cut(seg, "=")
		segs[i] = k + "=" + f(k, v)
	}
	return strings.Join(segs, "&")
}

// A body whose signature covers its blank values (the Node SDK's content) is Alipay's
// too: valid, with the content that verified and a note on the difference.
func TestVerifyNotifyAcceptsBlankValuesSigned(t *testing.T) {
	base := notifyCases(t)["trade_success"].params(t)
	s := mistakenSigner{t, parsePrivate(t, "keys/alipay_private_pkcs1.pem")}
	p := maps.Clone(base)
	delete(p, "sign")
	p["coupon_fee"] = ""
	body := formBody(t, s.sign(p, joinContent(p, true, "sign", "sign_type"), "utf-8"), "utf-8")
	r := cli(t, nil, body, "verify", "notify", "--alipay-public-key", td(t, "keys/alipay_public.pem"))
	if r.code != exitOK {
		t.Fatalf("exit %d, want 0\n%s", r.code, r.stdout)
	}
	mustContain(t, "output", r.stdout, "&coupon_fee=&")
	mustContain(t, "output", r.stdout, "the signature covers the empty coupon_fee")
}

func TestVerifyNotifyDiagnosesEachMistake(t *testing.T) {
	cases := notifyCases(t)
	ok := cases["trade_success"]
	base := ok.params(t)
	s := mistakenSigner{t, parsePrivate(t, "keys/alipay_private_pkcs1.pem")}
	clone := func() map[string]string { p := maps.Clone(base); delete(p, "sign"); return p }
	alipayPub := []string{"--alipay-public-key", td(t, "keys/alipay_public.pem")}
	alipayCert := []string{"--alipay-cert", td(t, "certs/alipay_public_cert.crt")}
	appPrivEnv := map[string]string{"ALIPAY_PRIVATE_KEY_FILE": td(t, "keys/app_private_pkcs8.pem")}

	type broken struct {
		name string
		body string
		args []string
		env  map[string]string
		id   string
		want []string
	}
	var tests []broken

	// Signer-side mistakes: re-signed with the test Alipay key over a wrong content.
	{
		p := clone()
		tests = append(tests, broken{name: "signed_with_sign_type_in_the_content",
			body: formBody(t, s.sign(p, joinContent(p, false, "sign"), "utf-8"), "utf-8"),
			id:   "sign_type_included", want: []string{"&sign_type=RSA2&"}})
	}
	{
		// Every blank value kept is the Node SDK's content, accepted (see
		// TestVerifyNotifyAcceptsBlankValuesSigned); keeping only the whitespace-only one
		// is no content Alipay signs.
		p := clone()
		p["coupon_fee"], p["discount"] = "", " "
		keepSpaces := joinContent(p, true, "sign", "sign_type", "coupon_fee")
		tests = append(tests, broken{name: "signed_with_a_whitespace_only_value",
			body: formBody(t, s.sign(p, keepSpaces, "utf-8"), "utf-8"),
			id:   "empty_values_included", want: []string{"(coupon_fee, discount)", "&discount= &"}})
	}
	{
		p := clone()
		p["subject"] = " 大乐透 2.1 "
		t2 := maps.Clone(p)
		t2["subject"] = "大乐透 2.1"
		tests = append(tests, broken{name: "signed_with_values_trimmed",
			body: formBody(t, s.sign(p, joinContent(t2, false, "sign", "sign_type"), "utf-8"), "utf-8"),
			id:   "values_trimmed", want: []string{"covers subject with the surrounding spaces trimmed"}})
	}
	{
		p := clone()
		signed := maps.Clone(p)
		for k, v := range map[string]string{"total_amount": "9.0", "receipt_amount": "9.0", "invoice_amount": "9.0", "buyer_pay_amount": "9.0", "point_amount": "0.0"} {
			signed[k] = v
		}
		tests = append(tests, broken{name: "signed_with_amounts_formatted_as_doubles",
			body: formBody(t, s.sign(p, joinContent(signed, false, "sign", "sign_type"), "utf-8"), "utf-8"),
			id:   "amount_format", want: []string{"total_amount=9.0 (the body says 9.00)", "point_amount=0.0 (the body says 0.00)"}})
	}
	{
		p := clone()
		signed := maps.Clone(p)
		p["total_amount"] = "9"
		tests = append(tests, broken{name: "body_amount_without_decimals_signed_with_two",
			body: formBody(t, s.sign(p, joinContent(signed, false, "sign", "sign_type"), "utf-8"), "utf-8"),
			id:   "amount_format", want: []string{"total_amount=9.00 (the body says 9)"}})
	}
	{
		// GBK bytes in a body that says charset=utf-8, signed over those GBK bytes.
		p := cases["trade_success_gbk"].params(t)
		delete(p, "sign")
		p["charset"] = "utf-8"
		tests = append(tests, broken{name: "gbk_body_labelled_utf8",
			body: formBody(t, s.sign(p, joinContent(p, false, "sign", "sign_type"), "gbk"), "gbk"),
			id:   "charset_mismatch", want: []string{"the body is gbk, but it is read as utf-8"}})
	}
	{
		p := clone()
		p["coupon_fee"] = "1.00"
		p["alipay_cert_sn"] = "4dabc3753af02b40b1418e752c61bc10"
		tests = append(tests, broken{name: "signed_without_alipay_cert_sn", args: alipayCert,
			body: formBody(t, s.sign(p, joinContent(p, false, "sign", "sign_type", "alipay_cert_sn"), "utf-8"), "utf-8"),
			id:   "cert_sn_excluded"})
	}
	{
		// The signer signed the values as they appear in the body, still encoded.
		var raw []string
		for seg := range strings.SplitSeq(ok.Body, "&") {
			if !strings.HasPrefix(seg, "sign=") && !strings.HasPrefix(seg, "sign_type=") {
				raw = append(raw, seg)
			}
		}
		slices.Sort(raw)
		sig := s.sign(map[string]string{}, strings.Join(raw, "&"), "utf-8")["sign"]
		body := mapBody(ok.Body, func(k, v string) string {
			if k == "sign" {
				return url.QueryEscape(sig)
			}
			return v
		})
		tests = append(tests, broken{name: "signed_over_the_encoded_values", body: body, id: "signed_encoded_values"})
	}
	{
		p := clone()
		p["alipay_cert_sn"] = "0123456789abcdef0123456789abcdef"
		app := mistakenSigner{t, parsePrivate(t, "keys/app_private_pkcs1.pem")}
		tests = append(tests, broken{name: "names_another_alipay_certificate", args: alipayCert,
			body: formBody(t, app.sign(p, joinContent(p, false, "sign", "sign_type"), "utf-8"), "utf-8"),
			id:   "cert_sn_mismatch", want: []string{"alipay_cert_sn 0123456789abcdef0123456789abcdef"}})
	}

	// Receiver-side mistakes: the genuine body altered the way a receiver or a capture does.
	tests = append(tests,
		broken{name: "values_encoded_twice", body: mapBody(ok.Body, func(_, v string) string { return url.QueryEscape(v) }),
			id: "body_encoded_twice", want: []string{"decoding the values once more"}},
		broken{name: "whole_body_encoded_again", body: url.QueryEscape(ok.Body),
			id: "body_encoded_twice", want: []string{"whole body"}},
		broken{name: "body_already_decoded", body: mapBody(ok.Body, func(_, v string) string {
			d, err := url.QueryUnescape(v)
			if err != nil {
				t.Fatal(err)
			}
			return d
		}), id: "body_already_decoded"},
		broken{name: "plus_in_sign_not_encoded", body: mapBody(ok.Body, func(k, v string) string {
			if k == "sign" {
				return strings.ReplaceAll(v, "%2B", "+")
			}
			return v
		}), id: "sign_mangled"},
		broken{name: "signed_by_the_app_key_flag", body: cases["tampered_signed_by_app_key"].Body,
			args: []string{"--app-public-key", td(t, "keys/app_public.pem")}, id: "signed_with_app_key"},
		broken{name: "signed_by_the_app_key_env", body: cases["tampered_signed_by_app_key"].Body,
			env: appPrivEnv, id: "signed_with_app_key", want: []string{"public half of ALIPAY_PRIVATE_KEY_FILE"}},
		broken{name: "app_key_given_as_alipay_key", body: ok.Body, env: appPrivEnv,
			args: []string{"--alipay-public-key", td(t, "keys/app_public.txt")}, id: "alipay_key_is_app_key"},
		broken{name: "malformed_key_added", body: ok.Body + "&Extra=1", id: "malformed_body",
			want: []string{"key is not [a-z0-9_]"}},
		broken{name: "changed_after_signing", body: cases["tampered_amount"].Body, id: "no_known_mistake",
			want: []string{"wrong app / environment, sandbox vs production", "app_id 2021000000000001"}},
	)
	{
		// A GBK notification transcoded to UTF-8 before it was captured.
		g := cases["trade_success_gbk"]
		n, err := alipay.ParseNotification([]byte(g.Body))
		if err != nil {
			t.Fatal(err)
		}
		tests = append(tests, broken{name: "gbk_body_transcoded_to_utf8", body: formBody(t, n.Params, "utf-8"),
			id: "charset_mismatch", want: []string{"transcoded: its bytes are utf-8, but Alipay signed the gbk bytes"}})
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			if !slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, "--alipay-") }) {
				args = append(slices.Clone(alipayPub), args...)
			}
			r := cli(t, tt.env, tt.body, append([]string{"verify", "notify"}, args...)...)
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

func TestVerifyNotifyCharsetFlagOverridesTheBody(t *testing.T) {
	// A GBK body without a charset parameter: by the rule it is UTF-8, so only --charset
	// gbk reads it as signed.
	s := mistakenSigner{t, parsePrivate(t, "keys/alipay_private_pkcs8.pem")}
	p := notifyCases(t)["trade_success_gbk"].params(t)
	delete(p, "charset")
	delete(p, "sign")
	body := formBody(t, s.sign(p, joinContent(p, false, "sign", "sign_type"), "gbk"), "gbk")
	key := []string{"verify", "notify", "--alipay-public-key", td(t, "keys/alipay_public.pem")}

	r := cli(t, nil, body, key...)
	if r.code != exitFail {
		t.Fatalf("without --charset: exit %d, want %d\n%s", r.code, exitFail, r.stdout)
	}
	mustContain(t, "output", r.stdout, "DIAGNOSIS [charset_mismatch]", "the body is gbk")

	r = cli(t, nil, body, append(key, "--charset", "GBK")...)
	if r.code != exitOK {
		t.Fatalf("with --charset GBK: exit %d\n%s", r.code, r.stdout)
	}
	mustContain(t, "output", r.stdout, "reading the body as gbk (--charset)", "the body names no charset")

	r = cli(t, nil, notifyCases(t)["trade_success"].Body, append(key, "--charset", "gbk")...)
	if r.code != exitFail {
		t.Fatalf("a UTF-8 body forced to gbk: exit %d, want %d\n%s", r.code, exitFail, r.stdout)
	}
	mustContain(t, "output", r.stdout, "DIAGNOSIS [charset_mismatch]")
}
