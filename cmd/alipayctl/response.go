package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
	"github.com/alipay-serverless/alipay-serverless/shared/credentials"
)

var cmdVerifyResponse = &command{
	path:    "verify response",
	summary: "verify a raw gateway reply and explain why it does not verify",
	run:     (*app).verifyResponse,
	help: `Usage: alipayctl verify response -method NAME [--alipay-public-key FILE | --alipay-cert FILE]
                                [--app-public-key FILE] [--encrypt-key FILE] [--body FILE|-]

Reads a raw gateway reply (stdin by default) and verifies it the way the Java SDK does: the
signed bytes are exactly the response node's JSON value as received, from its '{' to the
matching '}' (escapes, key order and whitespace included); a failed check is retried once
with '\/' replaced by '/'. It prints the signed substring and "valid" (exit 0) or "invalid"
(exit 1). An unsigned failure reply is reported as such (exit 1): it only means "the call
failed", never data.

When it does not verify, it looks for the known causes (DIAGNOSIS):
  reformatted_json        pretty-printed or compacted after Alipay signed it
  slash_unescaped         '\/' turned into '/' by a JSON parser or re-serialiser
  unicode_unescaped       '\uXXXX' escapes turned into characters
  html_escaped            re-encoded by Go's encoding/json ('<' '>' '&' as \u003c ...)
  reformatted_suspected   re-serialised in a way that cannot be undone
  reply_charset           the reply's bytes were transcoded (GBK vs UTF-8)
  duplicate_node          the response node occurs twice (forged copy): reject
  wrong_method            the reply is for another method than -method
  alipay_key_is_app_key   your app's public key was given as Alipay's
  signed_with_app_key     it verifies with your app key, not Alipay's
  cert_sn_mismatch        alipay_cert_sn names another certificate (rotation)
  no_known_mistake        the key is probably not the one that signed
Always verify the raw HTTP body bytes, before any JSON parsing.

Flags:
  -method NAME               the API called, e.g. alipay.fund.auth.order.voucher.create (required)
  --alipay-public-key FILE   Alipay's public key, any format (default: ALIPAY_PUBLIC_KEY(_FILE))
  --alipay-cert FILE         Alipay's public-key certificate (default: ALIPAY_ALIPAY_CERT(_FILE))
  --app-public-key FILE      your app's public key, to recognise key mix-ups
  --encrypt-key FILE         AES key (base64) to decrypt an encrypted reply (default: ALIPAY_ENCRYPT_KEY)
  --body FILE                read the reply from FILE instead of stdin

Examples:
  curl -s ... | alipayctl verify response -method alipay.trade.query --alipay-public-key alipay_public.txt
  alipayctl verify response -method alipay.fund.auth.order.voucher.create --alipay-cert alipayCertPublicKey_RSA2.crt --body reply.json
`,
}

func (a *app) verifyResponse(c *command, args []string) int {
	fset := newFlagSet(c)
	method := fset.String("method", "", "")
	pubFile := fset.String("alipay-public-key", "", "")
	certFile := fset.String("alipay-cert", "", "")
	appFile := fset.String("app-public-key", "", "")
	aesFile := fset.String("encrypt-key", "", "")
	bodyFile := fset.String("body", "-", "")
	if code, done := a.parse(c, fset, args, 0); done {
		return code
	}
	if strings.TrimSpace(*method) == "" {
		return a.usage(c, "-method NAME is required (the API the reply answers, e.g. alipay.trade.query)")
	}
	key, err := a.alipayKey(*pubFile, *certFile)
	if err != nil {
		if errors.Is(err, errNoKey) {
			return a.usage(c, "%v", err)
		}
		return a.fail(c, "%v", err)
	}
	appKey, err := a.appKey(*appFile)
	if err != nil {
		return a.fail(c, "%v", err)
	}
	aesKey, err := a.encryptKey(*aesFile)
	if err != nil {
		return a.fail(c, "%v", err)
	}
	raw, err := a.readInput(*bodyFile)
	if err != nil {
		return a.fail(c, "%v", err)
	}
	rc := &responseCheck{app: a, key: key, appKey: appKey, aesKey: aesKey, method: *method, raw: raw}
	return rc.run()
}

// encryptKey reads the AES content-encryption key (base64) from a file or ALIPAY_ENCRYPT_KEY.
func (a *app) encryptKey(file string) ([]byte, error) {
	var text, from string
	if file != "" {
		b, err := a.readInput(file)
		if err != nil {
			return nil, err
		}
		text, from = string(b), file
	} else {
		t, f, err := a.envText(credentials.EnvEncryptKey)
		if err != nil {
			return nil, err
		}
		text, from = t, f
	}
	if strings.TrimSpace(text) == "" {
		return nil, nil
	}
	k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(text))
	if err != nil {
		return nil, fmt.Errorf("%s: the AES key is not standard base64", from)
	}
	switch len(k) {
	case 16, 24, 32:
		return k, nil
	}
	return nil, fmt.Errorf("%s: an AES key is 16, 24 or 32 bytes, got %d", from, len(k))
}

type responseCheck struct {
	app    *app
	key    *namedKey
	appKey *namedKey
	aesKey []byte
	method string
	raw    []byte
}

func (rc *responseCheck) run() int {
	w := rc.app.stdout
	sr, err := alipay.ExtractSignedNode(rc.raw, rc.method)
	if err != nil {
		fmt.Fprintf(w, "invalid: %v\n", err)
		switch {
		case errors.Is(err, alipay.ErrReplyDuplicateNode):
			writeFinding(w, finding{
				id:      "duplicate_node",
				summary: "the response node occurs more than once: reject the reply",
				detail: []string{
					"The signature covers the first copy, while a JSON parser keeps the last one, so a forged second",
					"copy would be taken for signed data. Alipay never sends this; treat it as an attack or a corrupted",
					"capture, never as a result.",
				},
			})
		default:
			if nodes := responseNodes(rc.raw); len(nodes) > 0 && !slices.Contains(nodes, alipay.ResponseNodeName(rc.method)) {
				writeFinding(w, finding{
					id:      "wrong_method",
					summary: fmt.Sprintf("the reply holds %s, not %s", strings.Join(nodes, ", "), alipay.ResponseNodeName(rc.method)),
					detail:  []string{"Give -method the API this reply answers (its node is the method with '.' as '_' plus _response)."},
				})
			}
		}
		return exitFail
	}
	fmt.Fprintf(w, "signed substring (node %s, %d bytes):\n%s\n", sr.NodeName, len(sr.Source), sr.Source)

	if rc.key.certSN != "" {
		switch {
		case sr.CertSN != "" && sr.CertSN != rc.key.certSN:
			fmt.Fprintf(w, "invalid: the reply names alipay_cert_sn %s, not the SN of the certificate given\n", sr.CertSN)
			f := finding{
				id:      "cert_sn_mismatch",
				summary: fmt.Sprintf("alipay_cert_sn %s is not %s (%s)", sr.CertSN, rc.key.certSN, rc.key.desc),
				detail: []string{
					"Alipay signed with another certificate (it rotates them). Fetch the one this SN names",
					"(alipay.open.app.alipaycert.download), check it chains to alipayRootCert.crt and is valid, then",
					"verify with it. Never fall back to the old key and accept.",
				},
			}
			if sr.Sign != "" && rc.key.key.Verify(sr.Source, sr.Sign) == nil {
				f.detail = append(f.detail, "(The signature does verify with the key of the certificate given: a renewed certificate may keep",
					"the key, but accept it only once the certificate this SN names is fetched and validated.)")
			}
			writeFinding(w, f)
			return exitFail
		case sr.CertSN == "" && sr.Sign != "":
			fmt.Fprintf(w, "note: the reply carries no alipay_cert_sn although you verify with a certificate: in certificate\n")
			fmt.Fprintf(w, "  mode a successful reply must name it (is the app in key mode on Alipay's side?)\n")
		}
	}

	if sr.Encrypted && len(rc.aesKey) == 0 {
		// Without the AES key the reply cannot be decrypted, but its signature (over the
		// ciphertext string, quotes included) can still be checked.
		switch {
		case sr.Sign == "":
			fmt.Fprintf(w, "invalid: an AES-encrypted reply must be signed; this one carries no sign\n")
			return exitFail
		case rc.key.key.Verify(sr.Source, sr.Sign) == nil:
			fmt.Fprintf(w, "valid: the signature verifies with %s\n", rc.key.desc)
			fmt.Fprintf(w, "note: the content is AES-encrypted; give --encrypt-key FILE (or ALIPAY_ENCRYPT_KEY) to decrypt it\n")
			return exitOK
		}
		fmt.Fprintf(w, "invalid: the signature does not verify with %s\n", rc.key.desc)
		rc.diagnose(sr)
		return exitFail
	}

	creds := &alipay.Credentials{AlipayPublicKey: rc.key.key, EncryptKey: rc.aesKey}
	reply, err := alipay.VerifyReply(rc.raw, rc.method, creds)
	var unsigned *alipay.UnsignedFailureError
	switch {
	case err == nil:
		fmt.Fprintf(w, "valid: the signature verifies with %s\n", rc.key.desc)
		if rc.key.key.Verify(sr.Source, sr.Sign) != nil {
			fmt.Fprintf(w, "note: it verifies only with '\\/' read as '/' (the Java SDK's retry); verifiers without that retry\n")
			fmt.Fprintf(w, "  (the Node SDK) reject it\n")
		}
		fmt.Fprintf(w, "code: %s %s", reply.Code, reply.Msg)
		if reply.SubCode != "" {
			fmt.Fprintf(w, " (sub_code %s: %s)", reply.SubCode, reply.SubMsg)
		}
		fmt.Fprintln(w)
		if sr.Encrypted {
			fmt.Fprintf(w, "decrypted node:\n%s\n", reply.Node)
		}
		if rc.appKey != nil && rc.appKey.key.Equal(rc.key.key) {
			fmt.Fprintf(w, "WARNING: the key given as Alipay's is your app's own public key (%s):\n", rc.appKey.desc)
			fmt.Fprintf(w, "  this reply was signed with your app private key, not by Alipay. Configure Alipay's public key.\n")
		}
		return exitOK
	case errors.As(err, &unsigned):
		fmt.Fprintf(w, "unsigned: a failure reply without sign (code %s %s, sub_code %s %s)\n", unsigned.Code, unsigned.Msg, unsigned.SubCode, unsigned.SubMsg)
		fmt.Fprintf(w, "  Accept it only as \"this call failed\"; nothing in it is authenticated, so never act on its data.\n")
		return exitFail
	case errors.Is(err, alipay.ErrReplyUnsigned):
		fmt.Fprintf(w, "invalid: %v\n  A successful reply must be signed; an unsigned one is never accepted.\n", err)
		return exitFail
	case errors.Is(err, alipay.ErrBadSignature):
		fmt.Fprintf(w, "invalid: the signature does not verify with %s\n", rc.key.desc)
		rc.diagnose(sr)
		return exitFail
	}
	fmt.Fprintf(w, "invalid: %v\n", err)
	return exitFail
}

// responseNodes lists the top-level keys of a reply that look like response nodes.
func responseNodes(raw []byte) []string {
	var top map[string]json.RawMessage
	if json.Unmarshal(raw, &top) != nil {
		return nil
	}
	var nodes []string
	for k := range top {
		if strings.HasSuffix(k, "_response") {
			nodes = append(nodes, k)
		}
	}
	slices.Sort(nodes)
	return nodes
}

// verifySource applies the reply rule to one candidate source: as is, then with '\/' read
// as '/' (the Java SDK retry, which VerifyReply also does).
func verifySource(k *alipay.PublicKey, src []byte, sign string) bool {
	if k.Verify(src, sign) == nil {
		return true
	}
	return bytes.Contains(src, []byte(`\/`)) && k.Verify(bytes.ReplaceAll(src, []byte(`\/`), []byte("/")), sign) == nil
}

func (rc *responseCheck) diagnose(sr alipay.SignedReply) {
	w := rc.app.stdout
	var out []finding
	if rc.appKey != nil {
		if rc.appKey.key.Equal(rc.key.key) {
			out = append(out, finding{
				id:      "alipay_key_is_app_key",
				summary: "the key given as Alipay's public key is your app's own public key",
				detail: []string{
					"The app public key (" + rc.appKey.desc + ") is the one you upload;",
					"replies are signed by Alipay and verify with the Alipay public key (支付宝公钥) the console shows.",
				},
			})
		} else if verifySource(rc.appKey.key, sr.Source, sr.Sign) {
			out = append(out, finding{
				id:      "signed_with_app_key",
				summary: "it verifies with YOUR app public key: it was signed with your app private key, not by Alipay",
				detail: []string{
					"App key: " + rc.appKey.desc + ".",
					"A test gateway or simulator signed it with the app key; Alipay signs replies with its own key.",
				},
			})
		}
	}
	if f, ok := rc.variantTrial(sr); ok {
		out = append(out, f)
	} else if strong, weak := reformatSigns(sr.Source); len(strong) > 0 {
		out = append(out, finding{
			id:      "reformatted_suspected",
			summary: "the reply looks re-serialised after Alipay signed it: " + strings.Join(append(strong, weak...), "; "),
			detail: []string{
				"The signature covers the bytes Alipay sent, which cannot be rebuilt from parsed JSON (key order,",
				"escapes and spacing are lost). Verify the raw HTTP body, before any JSON parsing or logging.",
			},
		})
	}
	if len(out) == 0 {
		f := finding{
			id:      "no_known_mistake",
			summary: "no known mistake explains it: the key is probably not the one that signed (wrong app / environment, sandbox vs production)",
			detail: []string{
				fmt.Sprintf("Check that the key (%s) is the Alipay public key of this app in the environment", rc.key.desc),
				"that answered (the sandbox and production have different Alipay keys). Otherwise the node was",
				"changed after signing.",
			},
		}
		if _, weak := reformatSigns(sr.Source); len(weak) > 0 {
			f.detail = append(f.detail, "Possibly re-serialised on the way: "+strings.Join(weak, "; ")+". If the raw reply differs from",
				"this copy, verify the raw HTTP body bytes.")
		}
		if rc.appKey == nil {
			f.detail = append(f.detail, "(Give --app-public-key FILE, or set ALIPAY_PRIVATE_KEY(_FILE), to also test for your app key.)")
		}
		out = append(out, f)
	}
	for _, f := range out {
		writeFinding(w, f)
	}
}

// variantTrial rebuilds the bytes Alipay may have signed from a reformatted copy: the
// node compacted, '/' escaped again, non-ASCII escaped again, Go's HTML escapes undone, and
// the text in GBK. Only reformatting that loses nothing can be undone.
func (rc *responseCheck) variantTrial(sr alipay.SignedReply) (finding, bool) {
	src := sr.Source
	var compact bytes.Buffer
	compacted := json.Compact(&compact, src) == nil && !bytes.Equal(compact.Bytes(), src)
	bases := [][]byte{src}
	if compacted {
		bases = append(bases, compact.Bytes())
	}
	type variant struct {
		id, summary string
		detail      []string
		bytes       func([]byte) []byte
	}
	variants := []variant{
		{"slash_unescaped", "'\\/' in the reply was turned into '/' before verifying",
			[]string{"Alipay's JSON escapes '/' as '\\/' and signs those bytes. A JSON parser or re-serialiser",
				"unescaped them. Verify the raw HTTP body bytes, before any JSON parsing."},
			escapeSlashes},
		{"unicode_unescaped", "'\\uXXXX' escapes in the reply were turned into characters before verifying",
			[]string{"Alipay signed the escaped text. A JSON parser or re-serialiser decoded the escapes. Verify the",
				"raw HTTP body bytes, before any JSON parsing."},
			escapeNonASCII},
		{"unicode_unescaped", "'\\/' and '\\uXXXX' escapes in the reply were decoded before verifying",
			[]string{"Alipay signed the escaped text. A JSON parser or re-serialiser decoded the escapes. Verify the",
				"raw HTTP body bytes, before any JSON parsing."},
			func(b []byte) []byte { return escapeSlashes(escapeNonASCII(b)) }},
		{"html_escaped", "the reply was re-encoded by Go's encoding/json ('<', '>', '&' written as \\u003c, \\u003e, \\u0026)",
			[]string{"json.Marshal (or an Encoder without SetEscapeHTML(false)) changed the signed bytes. Verify the",
				"raw HTTP body bytes, before any JSON parsing."},
			unescapeHTML},
		{"reply_charset", "the reply's bytes were transcoded: Alipay signed the GBK bytes",
			[]string{"The reply was in GBK (a request sent with charset=GBK) and was re-encoded as UTF-8 before",
				"verifying. Verify the raw bytes; send requests with charset=utf-8."},
			func(b []byte) []byte {
				g, err := alipay.EncodeCharset("gbk", string(b))
				if err != nil {
					return nil
				}
				return g
			}},
	}
	for i, base := range bases {
		if i > 0 && rc.key.key.Verify(base, sr.Sign) == nil {
			return finding{
				id:      "reformatted_json",
				summary: "the reply was pretty-printed (or re-indented) after Alipay signed it",
				detail: []string{
					"The signature covers the node exactly as Alipay sent it, without the whitespace it has now.",
					"Verify the raw HTTP body bytes, before any JSON parsing, formatting or logging.",
				},
				content: string(base), charset: "utf-8",
			}, true
		}
		for _, v := range variants {
			cand := v.bytes(base)
			if cand == nil || bytes.Equal(cand, src) || rc.key.key.Verify(cand, sr.Sign) != nil {
				continue
			}
			f := finding{id: v.id, summary: v.summary, detail: v.detail, content: string(cand), charset: "utf-8"}
			if v.id == "reply_charset" {
				f.content, f.charset = string(base), "gbk"
			}
			if i > 0 {
				f.summary += ", and it was pretty-printed"
			}
			return f, true
		}
	}
	return finding{}, false
}

// escapeSlashes writes every '/' as '\/', as Alipay's JSON does.
func escapeSlashes(b []byte) []byte {
	plain := bytes.ReplaceAll(b, []byte(`\/`), []byte("/"))
	return bytes.ReplaceAll(plain, []byte("/"), []byte(`\/`))
}

// escapeNonASCII writes every non-ASCII character as \uXXXX (UTF-16, lower-case hex).
func escapeNonASCII(b []byte) []byte {
	if !utf8.Valid(b) {
		return nil
	}
	var out bytes.Buffer
	for _, r := range string(b) {
		if r < utf8.RuneSelf {
			out.WriteRune(r)
			continue
		}
		if r > 0xFFFF {
			r1, r2 := utf16.EncodeRune(r)
			fmt.Fprintf(&out, `\u%04x\u%04x`, r1, r2)
			continue
		}
		fmt.Fprintf(&out, `\u%04x`, r)
	}
	return out.Bytes()
}

// unescapeHTML undoes Go's HTML-safe escaping of '<', '>' and '&'.
func unescapeHTML(b []byte) []byte {
	return []byte(strings.NewReplacer(`\u003c`, "<", `\u003e`, ">", `\u0026`, "&").Replace(string(b)))
}

// reformatSigns lists what suggests the node was re-serialised: strong signs Alipay's
// replies do not show, and weak ones that genuine replies can show too.
func reformatSigns(src []byte) (strong, weak []string) {
	if bytes.ContainsAny(src, "\n\t") {
		strong = append(strong, "it is indented")
	}
	if bytes.Contains(src, []byte(`\u003c`)) || bytes.Contains(src, []byte(`\u003e`)) || bytes.Contains(src, []byte(`\u0026`)) {
		strong = append(strong, `it has Go's HTML escapes (\u003c, \u003e, \u0026)`)
	}
	if keys := objectKeys(src); len(keys) > 3 && slices.IsSorted(keys) {
		strong = append(strong, "its keys are in alphabetical order (as json.Marshal writes a map)")
	}
	if bytes.Contains(src, []byte("/")) && !bytes.Contains(src, []byte(`\/`)) {
		weak = append(weak, `'/' is not escaped as '\/'`)
	}
	return strong, weak
}

// objectKeys returns the keys of a JSON object in the order they appear.
func objectKeys(src []byte) []string {
	dec := json.NewDecoder(bytes.NewReader(src))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil
	}
	var keys []string
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil
		}
		k, _ := t.(string)
		keys = append(keys, k)
		var skip json.RawMessage
		if dec.Decode(&skip) != nil {
			return nil
		}
	}
	return keys
}
