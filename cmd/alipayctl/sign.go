package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
	"github.com/alipay-serverless/alipay-serverless/shared/credentials"
)

var cmdSign = &command{
	path:    "sign",
	summary: "print the exact sign content and signature of request parameters",
	run:     (*app).sign,
	help: `Usage: alipayctl sign [-private FILE] [-params FILE|-]

Signs request parameters by Alipay's request rule and prints the exact sign content and the
sign, so you can compare them byte for byte with what your code produces. The rule: every
parameter except sign (sign_type IS included), blank values dropped (and not sent), keys
sorted bytewise, k=v joined with &, values raw (no URL encoding), RSA-SHA256 over the
content's bytes in the request charset.

Params (from -params FILE, or stdin by default) are either a JSON object of strings (numbers
are taken as their literal text; biz_content must be a JSON string holding the exact text you
send) or a form string such as a request body or an orderStr (decoded once, '+' is a space).
A sign already present is ignored.

Flags:
  -private FILE   app private key in any format (default: ALIPAY_PRIVATE_KEY(_FILE))
  -params FILE    the parameters, "-" for stdin (default "-")

Examples:
  alipayctl sign -private app_private_pkcs1.pem -params params.json
  echo 'app_id=2021000000000001&method=alipay.trade.query&charset=utf-8&sign_type=RSA2&timestamp=2025-06-01+12%3A00%3A00&version=1.0&biz_content=%7B%22out_trade_no%22%3A%221%22%7D' \
    | alipayctl sign -private app_private_pkcs1.pem
`,
}

var cmdOrderStr = &command{
	path:    "orderstr",
	summary: "validate app-pay biz params and print the signed orderStr",
	run:     (*app).orderStr,
	help: `Usage: alipayctl orderstr -biz FILE|- [-notify-url URL]

Reads the app-pay business parameters (the body of POST /v1/app-pay/orders: out_trade_no,
total_amount, subject, product_code, time_expire or timeout_express, body, passback_params,
agreement_sign_params), validates them (errors name the field; exit status 1), and prints the
signed alipay.trade.app.pay order string for the mobile app, signed with the credentials from
the environment (ALIPAY_APP_ID, ALIPAY_PRIVATE_KEY(_FILE) and ALIPAY_PUBLIC_KEY(_FILE), or the
certificate-mode variables, which add app_cert_sn and alipay_root_cert_sn).

Flags:
  -biz FILE          the biz params JSON, "-" for stdin (required)
  -notify-url URL    notify_url to send (default: ALIPAY_NOTIFY_URL, else none)

Examples:
  echo '{"out_trade_no":"AP20250601001","total_amount":"9.00","subject":"Monthly card"}' \
    | alipayctl orderstr -biz - -notify-url https://example.com/v1/notify/alipay
`,
}

func (a *app) sign(c *command, args []string) int {
	fset := newFlagSet(c)
	privFile := fset.String("private", "", "")
	paramsFile := fset.String("params", "-", "")
	if code, done := a.parse(c, fset, args, 0); done {
		return code
	}
	priv, from, err := a.privateKey(*privFile)
	if err != nil {
		if errors.Is(err, errNoKey) {
			return a.usage(c, "%v", err)
		}
		return a.fail(c, "%v", err)
	}
	text, err := a.readInput(*paramsFile)
	if err != nil {
		return a.fail(c, "%v", err)
	}
	params, err := parseParams(text)
	if err != nil {
		return a.fail(c, "params: %v", err)
	}
	w := a.stdout
	var notes []string
	if _, ok := params["sign"]; ok {
		notes = append(notes, "the sign given in the params is ignored (it is never part of the content)")
	}
	var dropped []string
	for k, v := range params {
		if k != "sign" && strings.TrimSpace(v) == "" {
			dropped = append(dropped, k)
		}
	}
	if len(dropped) > 0 {
		sort.Strings(dropped)
		notes = append(notes, fmt.Sprintf("blank parameters dropped (neither signed nor to be sent): %s", strings.Join(dropped, ", ")))
	}
	switch st := params["sign_type"]; {
	case strings.TrimSpace(st) == "":
		notes = append(notes, "sign_type is missing: requests must carry sign_type=RSA2, and it is part of the content")
	case st != alipay.SignType:
		notes = append(notes, fmt.Sprintf("sign_type is %q: this signature is RSA2 (SHA256withRSA); send sign_type=RSA2", st))
	}
	charset := alipay.Charset
	if cs := strings.TrimSpace(params["charset"]); cs != "" {
		canon, err := alipay.CanonicalCharset(cs)
		if err != nil {
			return a.fail(c, "params: charset: %v", err)
		}
		charset = canon
	}
	content := alipay.SignContent(params)
	b, err := alipay.EncodeCharset(charset, content)
	if err != nil {
		return a.fail(c, "sign content in %s: %v", charset, err)
	}
	sig, err := priv.Sign(b)
	if err != nil {
		return a.fail(c, "%v", err)
	}
	fmt.Fprintf(w, "sign content (%s, %d bytes):\n%s\n", charset, len(b), content)
	fmt.Fprintf(w, "sign (RSA2, key %s, public half fingerprint %s):\n%s\n", from, priv.Public().Fingerprint(), sig)
	for _, n := range notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	return exitOK
}

// parseParams reads a JSON object or a form string into parameters.
func parseParams(text []byte) (map[string]string, error) {
	t := bytes.TrimSpace(bytes.TrimPrefix(text, []byte("\xef\xbb\xbf")))
	if len(t) == 0 {
		return nil, errors.New("empty input")
	}
	// A key file given as params would otherwise be echoed back as "content".
	if bytes.Contains(t, []byte("-----BEGIN")) || keyParses(t) {
		return nil, errors.New("the input is a key or certificate, not parameters (give the key with -private)")
	}
	if t[0] == '{' {
		return parseJSONParams(t)
	}
	return parseFormParams(string(t))
}

func keyParses(t []byte) bool {
	if _, err := alipay.ParsePrivateKey(t); err == nil {
		return true
	}
	_, err := alipay.ParsePublicKey(t)
	return err == nil
}

func parseJSONParams(t []byte) (map[string]string, error) {
	dec := json.NewDecoder(bytes.NewReader(t))
	dec.UseNumber()
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("not a JSON object: %w", err)
	}
	params := make(map[string]string)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("not a JSON object: %w", err)
		}
		key, _ := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, fmt.Errorf("%s: %w", key, err)
		}
		if _, dup := params[key]; dup {
			return nil, fmt.Errorf("%s: duplicate key", key)
		}
		switch raw[0] {
		case '"':
			var s string
			if err := json.Unmarshal(raw, &s); err != nil {
				return nil, fmt.Errorf("%s: %w", key, err)
			}
			params[key] = s
		case '{', '[':
			return nil, fmt.Errorf("%s: must be a string; give biz_content as the exact JSON text you send, inside a JSON string", key)
		case 'n': // null: an absent parameter, as the SDKs treat it
		default: // numbers and booleans: their literal text
			params[key] = string(raw)
		}
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("not a JSON object: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data after the JSON object")
	}
	return params, nil
}

// parseFormParams decodes a form string once: '+' is a space, %XX a byte; the bytes are
// then read in the charset the params name (UTF-8 by default).
func parseFormParams(t string) (map[string]string, error) {
	raw := make(map[string]string)
	var order []string
	for seg := range strings.SplitSeq(t, "&") {
		if seg == "" {
			continue
		}
		k, v, _ := strings.Cut(seg, "=")
		key, err := url.QueryUnescape(k)
		if err != nil || key == "" {
			return nil, fmt.Errorf("parameter %d: bad key", len(order)+1)
		}
		val, err := url.QueryUnescape(v)
		if err != nil {
			return nil, fmt.Errorf("%s: malformed percent-escape", key)
		}
		if _, dup := raw[key]; dup {
			return nil, fmt.Errorf("%s: duplicate key", key)
		}
		raw[key] = val
		order = append(order, key)
	}
	charset := alipay.Charset
	if cs := strings.TrimSpace(raw["charset"]); cs != "" {
		charset = cs
	}
	params := make(map[string]string, len(raw))
	for k, v := range raw {
		s, err := alipay.DecodeCharset(charset, []byte(v))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		if !utf8.ValidString(k) {
			return nil, fmt.Errorf("parameter key is not valid UTF-8")
		}
		params[k] = s
	}
	return params, nil
}

func (a *app) orderStr(c *command, args []string) int {
	fset := newFlagSet(c)
	bizFile := fset.String("biz", "", "")
	notifyURL := fset.String("notify-url", "", "")
	if code, done := a.parse(c, fset, args, 0); done {
		return code
	}
	if *bizFile == "" {
		return a.usage(c, "-biz FILE (or - for stdin) is required")
	}
	nu, nuFrom := *notifyURL, "-notify-url"
	if nu == "" {
		nu, nuFrom = strings.TrimSpace(a.env("ALIPAY_NOTIFY_URL")), "ALIPAY_NOTIFY_URL"
	}
	if nu != "" {
		if err := checkNotifyURL(nu); err != nil {
			return a.usage(c, "%s: %v", nuFrom, err)
		}
	}
	creds, code := a.envCredentials(c)
	if creds == nil {
		return code
	}
	text, err := a.readInput(*bizFile)
	if err != nil {
		return a.fail(c, "%v", err)
	}
	p, err := alipay.DecodeAppPay(text)
	if err == nil {
		err = p.Validate(a.now())
	}
	if err != nil {
		if fe, ok := alipay.AsFieldError(err); ok {
			field := fe.Field
			if field == "" {
				field = "(body)"
			}
			fmt.Fprintf(a.stdout, "invalid biz params:\n  %s: %s [%s]\n", field, fe.Message, fe.Rule)
			return exitFail
		}
		return a.fail(c, "%v", err)
	}
	biz, err := p.BizContent()
	if err != nil {
		return a.fail(c, "%v", err)
	}
	s, err := alipay.OrderString(creds, biz, alipay.OrderStringOptions{NotifyURL: nu, Now: a.now()})
	if err != nil {
		return a.fail(c, "%v", err)
	}
	fmt.Fprintln(a.stdout, s)
	mode := "key mode"
	if creds.CertMode() {
		mode = "certificate mode, app_cert_sn " + creds.AppCertSN
	}
	a.note("signed alipay.trade.app.pay for out_trade_no %s, total_amount %s, app_id %s (%s, app key fingerprint %s)",
		p.OutTradeNo, p.TotalAmount, creds.AppID, mode, creds.PrivateKey.Public().Fingerprint())
	return exitOK
}

// envCredentials loads the full credentials the way the local server does. A nil result
// comes with the exit code to return.
func (a *app) envCredentials(c *command) (*alipay.Credentials, int) {
	configured := false
	for _, name := range []string{credentials.EnvAppID, credentials.EnvPrivateKey, credentials.EnvPrivateKey + "_FILE"} {
		if strings.TrimSpace(a.env(name)) != "" {
			configured = true
		}
	}
	if !configured {
		hint := ""
		if strings.TrimSpace(a.env(credentials.EnvSecretID)) != "" {
			hint = fmt.Sprintf(" (%s is set, but alipayctl does not read Secrets Manager)", credentials.EnvSecretID)
		}
		return nil, a.usage(c, "no credentials: set %s, %s(_FILE) and %s(_FILE) (or the certificate-mode variables)%s",
			credentials.EnvAppID, credentials.EnvPrivateKey, credentials.EnvAlipayPublicKey, hint)
	}
	loaded, err := credentials.NewEnvSource(a.env, nil).Load(context.Background())
	if err != nil {
		return nil, a.fail(c, "%v", err)
	}
	return loaded.Credentials, exitOK
}

// checkNotifyURL applies the notify_url rule of the common parameters: an absolute
// http(s) URL of at most 256 characters.
func checkNotifyURL(s string) error {
	if utf8.RuneCountInString(s) > 256 {
		return errors.New("longer than 256 characters")
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("must be an absolute http or https URL")
	}
	return nil
}
