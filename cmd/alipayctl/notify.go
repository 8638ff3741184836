package main

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
	"github.com/alipay-serverless/alipay-serverless/shared/credentials"
)

var cmdVerifyNotify = &command{
	path:    "verify notify",
	summary: "verify an async notification body and explain why it does not verify",
	run:     (*app).verifyNotify,
	help: `Usage: alipayctl verify notify [--alipay-public-key FILE | --alipay-cert FILE]
                              [--app-public-key FILE] [--charset NAME] [--body FILE|-]

Reads a notification body exactly as Alipay POSTed it (stdin by default; a line break at the
end is ignored) and verifies it by Alipay's rule: form-decode once, read the bytes in the
body's own charset, take every parameter except sign and sign_type, drop blank values, sort
by key, join k=v with &, RSA-SHA256 with Alipay's public key. It prints "valid" (exit 0) or
"invalid" (exit 1) and the exact content it verified.

When it does not verify, it tries the known mistakes and reports the one that makes it
verify (DIAGNOSIS):
  alipay_key_is_app_key   your app's public key was given as Alipay's
  signed_with_app_key     it verifies with your app key: signed by your key, not Alipay's
  charset_mismatch        GBK read as UTF-8 or the other way round, or a transcoded body
  body_encoded_twice      the body was URL-encoded twice (verifies after one more decoding)
  body_already_decoded    the body was already decoded (not percent-encoded at all)
  signed_encoded_values   the signer signed the percent-encoded text
  sign_type_included      the signer included sign_type in the content
  empty_values_included   the signer included empty values
  values_trimmed          the signer trimmed spaces off values
  amount_format           an amount formatted as a float ("9.0", "9") instead of "9.00"
  sign_mangled            '+' in sign turned into spaces, or the URL-safe alphabet
  cert_sn_mismatch        the notification names another Alipay certificate
  cert_sn_excluded        the signer left alipay_cert_sn out of the content
  malformed_body          damaged or hand-built (bad keys or escapes) and nothing explains it
  no_known_mistake        the key is probably not the one that signed
Your app's public key (for the first two) comes from --app-public-key, else the public half
of ALIPAY_PRIVATE_KEY(_FILE), else ALIPAY_APP_CERT(_FILE).

Flags:
  --alipay-public-key FILE   Alipay's public key, any format (default: ALIPAY_PUBLIC_KEY(_FILE))
  --alipay-cert FILE         Alipay's public-key certificate (default: ALIPAY_ALIPAY_CERT(_FILE))
  --app-public-key FILE      your app's public key, to recognise key mix-ups
  --charset NAME             verify in this charset instead of the body's charset parameter
  --body FILE                read the body from FILE instead of stdin

Examples:
  alipayctl verify notify --alipay-public-key alipay_public.txt < body.txt
  pbpaste | alipayctl verify notify --alipay-cert alipayCertPublicKey_RSA2.crt
`,
}

// notifyCheck is one verify notify run.
type notifyCheck struct {
	w        io.Writer
	key      *namedKey
	appKey   *namedKey // nil when unknown
	override string    // --charset, canonical; "" to follow the body
	appID    string    // ALIPAY_APP_ID, for a note
	body     []byte
}

func (a *app) verifyNotify(c *command, args []string) int {
	fset := newFlagSet(c)
	pubFile := fset.String("alipay-public-key", "", "")
	certFile := fset.String("alipay-cert", "", "")
	appFile := fset.String("app-public-key", "", "")
	charset := fset.String("charset", "", "")
	bodyFile := fset.String("body", "-", "")
	if code, done := a.parse(c, fset, args, 0); done {
		return code
	}
	nc := &notifyCheck{w: a.stdout, appID: strings.TrimSpace(a.env(credentials.EnvAppID))}
	if *charset != "" {
		canon, err := alipay.CanonicalCharset(*charset)
		if err != nil {
			return a.usage(c, "--charset: %v", err)
		}
		nc.override = canon
	}
	key, err := a.alipayKey(*pubFile, *certFile)
	if err != nil {
		if errors.Is(err, errNoKey) {
			return a.usage(c, "%v", err)
		}
		return a.fail(c, "%v", err)
	}
	nc.key = key
	if nc.appKey, err = a.appKey(*appFile); err != nil {
		return a.fail(c, "%v", err)
	}
	body, err := a.readInput(*bodyFile)
	if err != nil {
		return a.fail(c, "%v", err)
	}
	// A form body never ends with a raw line break (it would be %0A); one there comes from
	// echo, a heredoc or an editor.
	if trimmed := strings.TrimRight(string(body), "\r\n"); len(trimmed) != len(body) {
		a.note("ignored the line break at the end of the input")
		body = []byte(trimmed)
	}
	if len(body) == 0 {
		return a.fail(c, "empty body")
	}
	nc.body = body
	return nc.run()
}

func (nc *notifyCheck) run() int {
	w := nc.w
	pairs, splitErr := splitForm(string(nc.body))
	declared, declaredFrom := declaredCharset(pairs)
	if nc.override != "" && nc.override != declared {
		return nc.runOverride(pairs, splitErr, declaredFrom)
	}

	n, err := alipay.ParseNotification(nc.body)
	if err != nil {
		fmt.Fprintf(w, "invalid: %v\n", err)
		if splitErr != nil {
			fmt.Fprintf(w, "  Alipay never sends a parameter twice: this body was altered or assembled by hand.\n")
			return exitFail
		}
		nc.diagnose(pairs, declared, err)
		return exitFail
	}
	content := n.SignContent()
	verr := n.VerifyWith(nc.key.key)
	switch {
	case verr == nil:
		fmt.Fprintf(w, "valid: the signature verifies with %s\n", nc.key.desc)
		if n.BlankValuesSigned() {
			content = contentKeeping(n.Params, func(string) bool { return true })
		}
		nc.printContent(content, n.Charset)
		nc.validNotes(n.Params, n.Charset, string(n.Kind()), n.BlankValuesSigned())
		return exitOK
	case errors.Is(verr, alipay.ErrNotifyUnsigned), errors.Is(verr, alipay.ErrNotifySignType):
		fmt.Fprintf(w, "invalid: %v\n", verr)
		nc.printContent(content, n.Charset)
		nc.explainPolicy(n.Params, content, n.Charset)
		return exitFail
	}
	if errors.Is(verr, alipay.ErrBadSignature) {
		fmt.Fprintf(w, "invalid: the signature does not verify with %s\n", nc.key.desc)
	} else {
		fmt.Fprintf(w, "invalid: %v\n", verr)
	}
	nc.printContent(content, n.Charset)
	nc.diagnose(pairs, n.Charset, nil)
	return exitFail
}

// runOverride verifies in the --charset charset, which differs from the body's own.
func (nc *notifyCheck) runOverride(pairs []rawPair, splitErr error, declaredFrom string) int {
	w := nc.w
	if splitErr != nil {
		fmt.Fprintf(w, "invalid: %v\n", splitErr)
		return exitFail
	}
	params, err := decodeParams(pairs, decodeOnce, nc.override)
	if err != nil {
		fmt.Fprintf(w, "invalid: cannot read the body as %s (--charset): %v\n", nc.override, err)
		nc.diagnose(pairs, nc.override, err)
		return exitFail
	}
	content := alipay.NotifySignContent(params)
	if p := signPolicy(params); p != "" {
		fmt.Fprintf(w, "invalid: %s\n", p)
		nc.printContent(content, nc.override)
		nc.explainPolicy(params, content, nc.override)
		return exitFail
	}
	if verifyText(nc.key.key, content, nc.override, params["sign"]) {
		fmt.Fprintf(w, "valid: the signature verifies with %s, reading the body as %s (--charset)\n", nc.key.desc, nc.override)
		fmt.Fprintf(w, "  but %s: a receiver that follows the body decodes it differently and fails\n", declaredFrom)
		nc.printContent(content, nc.override)
		nc.validNotes(params, nc.override, "", false)
		return exitOK
	}
	fmt.Fprintf(w, "invalid: the signature does not verify with %s, reading the body as %s (--charset)\n", nc.key.desc, nc.override)
	nc.printContent(content, nc.override)
	nc.diagnose(pairs, nc.override, nil)
	return exitFail
}

// signPolicy mirrors the alipay package's checks for the --charset path, which cannot use
// ParseNotification: sign and sign_type present, sign_type RSA2.
func signPolicy(params map[string]string) string {
	switch {
	case strings.TrimSpace(params["sign"]) == "":
		return "the notification has no sign"
	case strings.TrimSpace(params["sign_type"]) == "":
		return "the notification has no sign_type"
	case !strings.EqualFold(params["sign_type"], alipay.SignType):
		return fmt.Sprintf("sign_type is %q; only RSA2 is accepted", params["sign_type"])
	}
	return ""
}

func (nc *notifyCheck) printContent(content, charset string) {
	n := len(content)
	if b, err := alipay.EncodeCharset(charset, content); err == nil {
		n = len(b)
	}
	fmt.Fprintf(nc.w, "content verified (%s, %d bytes):\n%s\n", charset, n, content)
}

// explainPolicy says whether a notification rejected for its sign or sign_type field has
// an otherwise valid signature: then the field was changed after signing.
func (nc *notifyCheck) explainPolicy(params map[string]string, content, charset string) {
	w := nc.w
	sign := params["sign"]
	if strings.TrimSpace(sign) == "" {
		fmt.Fprintf(w, "  Alipay signs every notification; without sign there is nothing to verify.\n")
		return
	}
	if verifyText(nc.key.key, content, charset, sign) {
		fmt.Fprintf(w, "  The signature itself verifies (sign_type is not covered by it), but Alipay always sends\n")
		fmt.Fprintf(w, "  sign_type=RSA2: this body was changed after signing. Reject it; never let sign_type pick\n")
		fmt.Fprintf(w, "  the algorithm.\n")
		return
	}
	fmt.Fprintf(w, "  The signature does not verify either.\n")
}

// validNotes point out what makes this (valid) body fail in receivers that get the rule
// slightly wrong, and the checks that still follow.
func (nc *notifyCheck) validNotes(params map[string]string, charset, kind string, blankSigned bool) {
	w := nc.w
	if kind != "" {
		fmt.Fprintf(w, "kind: %s\n", kind)
	}
	if nc.appKey != nil && nc.appKey.key.Equal(nc.key.key) {
		fmt.Fprintf(w, "WARNING: the key given as Alipay's is your app's own public key (%s):\n", nc.appKey.desc)
		fmt.Fprintf(w, "  this body was signed with your app private key, not by Alipay. Configure Alipay's public key.\n")
	}
	if charset != alipay.Charset {
		fmt.Fprintf(w, "note: charset=%s: the values are %s bytes and the content is hashed as %s; code that reads\n", charset, charset, charset)
		fmt.Fprintf(w, "  the body as UTF-8 (and the Node SDK) fails on this body.\n")
	}
	var pct, blank, spaced []string
	for _, k := range slices.Sorted(maps.Keys(params)) {
		v := params[k]
		switch {
		case k == "sign" || k == "sign_type":
		case strings.TrimSpace(v) == "":
			blank = append(blank, k)
		default:
			if strings.Contains(v, "%") {
				pct = append(pct, k)
			}
			if strings.TrimSpace(v) != v {
				spaced = append(spaced, k)
			}
		}
	}
	if len(pct) > 0 {
		fmt.Fprintf(w, "note: %s contain%s '%%' after decoding: decode exactly once; decoding again (as the Node SDK's\n", strings.Join(pct, ", "), plural(len(pct)))
		fmt.Fprintf(w, "  checkNotifySign does) breaks them.\n")
	}
	switch {
	case len(blank) > 0 && blankSigned:
		fmt.Fprintf(w, "note: the signature covers the empty %s (as the Node SDK signs); the §8.2 content leaves them out.\n", strings.Join(blank, ", "))
		fmt.Fprintf(w, "  Accepted: both contents are Alipay's. A verifier that only drops blank values fails on this body.\n")
	case len(blank) > 0:
		fmt.Fprintf(w, "note: %s %s empty and not part of the content; a verifier that keeps them fails.\n", strings.Join(blank, ", "), isAre(len(blank)))
	}
	if len(spaced) > 0 {
		fmt.Fprintf(w, "note: %s %s leading or trailing spaces, which are signed: do not trim values.\n", strings.Join(spaced, ", "), hasHave(len(spaced)))
	}
	if id := params["app_id"]; nc.appID != "" && id != "" && id != nc.appID {
		fmt.Fprintf(w, "note: app_id %s is not ALIPAY_APP_ID %s: authentic, but not for this app; do not apply it.\n", id, nc.appID)
	}
	if sn := params["alipay_cert_sn"]; sn != "" && nc.key.certSN != "" && sn != nc.key.certSN {
		fmt.Fprintf(w, "note: it names alipay_cert_sn %s, but the certificate given has SN %s.\n", sn, nc.key.certSN)
	}
	fmt.Fprintf(w, "next: before acting, check app_id, out_trade_no, total_amount (exactly, in fen) and seller_id\n")
	fmt.Fprintf(w, "  against your order, then reply exactly \"success\".\n")
}

func plural(n int) string {
	if n == 1 {
		return "s"
	}
	return ""
}

func isAre(n int) string {
	if n == 1 {
		return "is"
	}
	return "are"
}

func hasHave(n int) string {
	if n == 1 {
		return "has"
	}
	return "have"
}
