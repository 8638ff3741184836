package main

import (
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
)

// ---- form handling for the variants --------------------------------------------------
//
// The verdict comes from alipay.ParseNotification. The diagnoses need the body's raw
// pairs to rebuild it the wrong ways on purpose (decoded twice, not decoded, in another
// charset), so they split it here.

// rawPair is one parameter as it appears in the body, still encoded.
type rawPair struct{ key, val string }

func splitForm(body string) ([]rawPair, error) {
	seen := make(map[string]bool)
	var pairs []rawPair
	for seg := range strings.SplitSeq(body, "&") {
		if seg == "" {
			continue
		}
		if len(pairs) == alipay.NotifyMaxParams {
			return nil, fmt.Errorf("more than %d parameters", alipay.NotifyMaxParams)
		}
		k, v, _ := strings.Cut(seg, "=")
		if seen[k] {
			return nil, fmt.Errorf("%s: duplicate key", k)
		}
		seen[k] = true
		pairs = append(pairs, rawPair{k, v})
	}
	return pairs, nil
}

// declaredCharset is the canonical charset the body names, "utf-8" when it names none (or
// one that is not supported), and a phrase saying which.
func declaredCharset(pairs []rawPair) (string, string) {
	for _, p := range pairs {
		if p.key != "charset" {
			continue
		}
		v, err := url.QueryUnescape(p.val)
		if err != nil || strings.TrimSpace(v) == "" {
			break
		}
		if cs, err := alipay.CanonicalCharset(v); err == nil {
			return cs, "the body says charset=" + v
		}
		return alipay.Charset, "the body's charset=" + v + " is not supported"
	}
	return alipay.Charset, "the body names no charset (UTF-8 by default)"
}

type decodeMode int

const (
	decodeOnce  decodeMode = iota // the rule
	decodeTwice                   // a body encoded twice
	decodeNone                    // a body already decoded
)

// decodeParams decodes the pairs' values (keys are plain ASCII) and reads the bytes in cs.
func decodeParams(pairs []rawPair, mode decodeMode, cs string) (map[string]string, error) {
	params := make(map[string]string, len(pairs))
	for _, p := range pairs {
		v := p.val
		if mode != decodeNone {
			d, err := url.QueryUnescape(v)
			if err != nil {
				return nil, fmt.Errorf("%s: malformed percent-escape", p.key)
			}
			v = d
			if mode == decodeTwice {
				// Values that do not decode again (a bare %) are kept, as a lenient
				// receiver would.
				if d2, err := url.QueryUnescape(v); err == nil {
					v = d2
				}
			}
		}
		s, err := alipay.DecodeCharset(cs, []byte(v))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p.key, err)
		}
		params[p.key] = s
	}
	return params, nil
}

// verifyText reports whether sign verifies over content encoded in charset.
func verifyText(k *alipay.PublicKey, content, charset, sign string) bool {
	b, err := alipay.EncodeCharset(charset, content)
	if err != nil {
		return false
	}
	return k.Verify(b, sign) == nil
}

var percentEscape = regexp.MustCompile(`%[0-9A-Fa-f]{2}`)

// ---- diagnosis ------------------------------------------------------------------------

// diagnose prints the findings for a body that does not verify. A body the alipay package
// rejected as malformed (and that no trial explains) is reported as such rather than
// blamed on the key.
func (nc *notifyCheck) diagnose(pairs []rawPair, cs string, malformed error) {
	fs := nc.trials(pairs, cs)
	switch {
	case len(fs) > 0:
	case malformed != nil:
		fs = append(fs, finding{
			id:      "malformed_body",
			summary: "the body is malformed: " + malformed.Error(),
			detail: []string{
				"Alipay sends lower-case keys, well-formed percent-escapes and bytes valid in the body's charset.",
				"This body was damaged on the way or built by hand; give the raw HTTP body as received.",
			},
		})
	default:
		fs = append(fs, nc.noKnownMistake(pairs, cs))
	}
	for _, f := range fs {
		writeFinding(nc.w, f)
	}
}

// trials tries each known mistake in turn and returns those that explain the failure.
// Within a group only the first variant that verifies is reported.
func (nc *notifyCheck) trials(pairs []rawPair, cs string) []finding {
	var out []finding
	key := nc.key.key
	base, baseErr := decodeParams(pairs, decodeOnce, cs)

	if baseErr == nil && nc.key.certSN != "" {
		if sn := base["alipay_cert_sn"]; sn != "" && sn != nc.key.certSN {
			out = append(out, finding{
				id:      "cert_sn_mismatch",
				summary: fmt.Sprintf("the notification names alipay_cert_sn %s, but the certificate given has SN %s", sn, nc.key.certSN),
				detail: []string{
					"Alipay signed with another certificate (it rotates them). Download the one this SN names",
					"(alipay.open.app.alipaycert.download), check it chains to alipayRootCert.crt, and verify with it.",
				},
			})
		}
	}

	// (a) key mix-ups.
	if nc.appKey != nil {
		if nc.appKey.key.Equal(key) {
			out = append(out, finding{
				id:      "alipay_key_is_app_key",
				summary: "the key given as Alipay's public key is your app's own public key",
				detail: []string{
					"The app public key (" + nc.appKey.desc + ") is the one you upload;",
					"notifications are signed by Alipay and verify with the Alipay public key (支付宝公钥) the console shows.",
				},
			})
		} else if baseErr == nil && verifyText(nc.appKey.key, alipay.NotifySignContent(base), cs, base["sign"]) {
			out = append(out, finding{
				id:      "signed_with_app_key",
				summary: "it verifies with YOUR app public key: it was signed with your app private key, not by Alipay",
				detail: []string{
					"App key: " + nc.appKey.desc + ".",
					"A test tool or simulator signed it with the app key. Real notifications are signed with Alipay's",
					"private key; a simulator must sign with a stand-in Alipay key whose public half you configure.",
				},
			})
		}
	}

	if f, ok := nc.charsetTrial(pairs, cs); ok {
		out = append(out, f)
	}
	out = append(out, nc.encodingTrials(pairs, cs, base, baseErr)...)
	if baseErr != nil {
		return out
	}
	sign := base["sign"]
	try := func(content string) bool { return verifyText(key, content, cs, sign) }

	// (d) sign_type included.
	if st := base["sign_type"]; strings.TrimSpace(st) != "" {
		if content := alipay.SignContent(base); try(content) {
			out = append(out, finding{
				id:      "sign_type_included",
				summary: "the signature covers sign_type too: it was signed with the request rule, not the notification rule",
				detail: []string{
					"Notification content leaves out sign AND sign_type (Java rsaCheckV1, Alipay's docs); requests",
					"(and Java's rsaCheckV2) keep sign_type. Alipay's notifications never include it, so a test signer",
					"or simulator made this one: drop sign_type from its content. (A verifier that keeps sign_type",
					"fails on every real notification.)",
				},
				content: content, charset: cs,
			})
		}
	}

	// (e) blank values included, values trimmed, alipay_cert_sn left out.
	if f, ok := blankTrial(base, try, cs); ok {
		out = append(out, f)
	}
	if f, ok := trimTrial(base, try, cs); ok {
		out = append(out, f)
	}
	if _, has := base["alipay_cert_sn"]; has {
		p := maps.Clone(base)
		delete(p, "alipay_cert_sn")
		if content := alipay.NotifySignContent(p); try(content) {
			out = append(out, finding{
				id:      "cert_sn_excluded",
				summary: "the signature leaves out alipay_cert_sn",
				detail: []string{
					"Java keeps alipay_cert_sn in the notification content (smartwalle/alipay drops it). This body was",
					"signed without it; verify it that way only if your signer is known to do so.",
				},
				content: content, charset: cs,
			})
		}
	}

	// (f) amounts formatted through a float.
	if f, ok := amountTrial(base, try, cs); ok {
		out = append(out, f)
	}

	// A damaged sign: '+' turned into spaces, the URL-safe alphabet, line breaks, lost padding.
	fixed := strings.NewReplacer(" ", "+", "-", "+", "_", "/", "\r", "", "\n", "").Replace(sign)
	for len(fixed)%4 != 0 && len(fixed) > 0 {
		fixed += "="
	}
	if fixed != sign && verifyText(key, alipay.NotifySignContent(base), cs, fixed) {
		out = append(out, finding{
			id:      "sign_mangled",
			summary: "the sign was damaged on the way: it verifies once repaired",
			detail: []string{
				"A '+' in the base64 sign became a space (the body was decoded twice, or sent without encoding '+'",
				"as %2B), or the sign uses the URL-safe alphabet, line breaks or lost its '=' padding. The sign is",
				"standard base64: decode the body once and take sign as it comes out.",
			},
		})
	}
	return out
}

// charsetTrial reads the body in every other supported charset and hashes the content in
// every supported charset: GBK read as UTF-8, UTF-8 read as GBK, or a body transcoded on the
// way (its bytes in one charset while the signature covers another).
func (nc *notifyCheck) charsetTrial(pairs []rawPair, cs string) (finding, bool) {
	all := []string{"utf-8", "gbk", "gb18030"}
	type combo struct{ read, hash string }
	var combos []combo
	for _, c := range all {
		if c != cs {
			combos = append(combos, combo{c, c})
		}
	}
	for _, r := range all {
		for _, h := range all {
			if r != h {
				combos = append(combos, combo{r, h})
			}
		}
	}
	for _, cb := range combos {
		params, err := decodeParams(pairs, decodeOnce, cb.read)
		if err != nil {
			continue
		}
		content := alipay.NotifySignContent(params)
		if !verifyText(nc.key.key, content, cb.hash, params["sign"]) {
			continue
		}
		f := finding{id: "charset_mismatch", content: content, charset: cb.hash}
		switch {
		case cb.read == cb.hash:
			f.summary = fmt.Sprintf("the body is %s, but it is read as %s", cb.read, cs)
			f.detail = []string{
				fmt.Sprintf("It verifies when its percent-decoded bytes are read as %s and the content is hashed as %s.", cb.read, cb.hash),
				"Alipay signs the bytes of the charset the body names; this body's bytes and its charset",
				"parameter disagree (or --charset is wrong). Read the charset from the body's own charset",
				"parameter, not from the Content-Type, and decode the bytes with it.",
			}
		case cb.hash == cs:
			f.summary = fmt.Sprintf("the body was transcoded: its bytes are %s, but Alipay signed the %s bytes", cb.read, cb.hash)
			f.detail = []string{
				fmt.Sprintf("Something decoded the %s body as %s and re-encoded it (a framework, proxy or log) before", cb.hash, cb.read),
				fmt.Sprintf("this copy was taken. Verify the raw HTTP body bytes: percent-decode to bytes, read them as %s,", cb.hash),
				fmt.Sprintf("hash the content as %s.", cb.hash),
			}
		default:
			f.summary = fmt.Sprintf("it verifies only when read as %s and hashed as %s (the body says %s)", cb.read, cb.hash, cs)
			f.detail = []string{"The body's bytes, its charset parameter and the signed bytes disagree; check every re-encoding step."}
		}
		return f, true
	}
	return finding{}, false
}

// encodingTrials: the body encoded twice (decode once more), the whole body encoded again,
// or not encoded at all (values taken as they are).
func (nc *notifyCheck) encodingTrials(pairs []rawPair, cs string, base map[string]string, baseErr error) []finding {
	var out []finding
	key := nc.key.key
	body := string(nc.body)
	baseContent := ""
	if baseErr == nil {
		baseContent = alipay.NotifySignContent(base)
	}
	twice := finding{
		id:      "body_encoded_twice",
		summary: "the body was URL-encoded twice: it verifies after decoding the values once more",
		detail: []string{
			"Alipay form-encodes the body exactly once. This copy was encoded again on the way (a proxy, a",
			"queue or logging layer, or copied from an encoded log). Verify the raw body as Alipay sent it,",
			"decoded exactly once — decoding twice in code is not the fix: it breaks values that contain '%'",
			"(passback_params).",
		},
	}
	if strings.Contains(strings.ToUpper(body), "%25") {
		if p, err := decodeParams(pairs, decodeTwice, cs); err == nil {
			if content := alipay.NotifySignContent(p); content != baseContent && verifyText(key, content, cs, p["sign"]) {
				twice.content, twice.charset = content, cs
				out = append(out, twice)
			}
		}
	}
	if len(out) == 0 && !strings.Contains(body, "=") && strings.Contains(strings.ToUpper(body), "%3D") {
		if whole, err := url.QueryUnescape(body); err == nil {
			if wp, err := splitForm(whole); err == nil {
				if p, err := decodeParams(wp, decodeOnce, cs); err == nil {
					if content := alipay.NotifySignContent(p); verifyText(key, content, cs, p["sign"]) {
						twice.summary = "the whole body was URL-encoded once more: it verifies after decoding it first"
						twice.content, twice.charset = content, cs
						out = append(out, twice)
					}
				}
			}
		}
	}

	// Not decoded at all: values as they appear. The sign is tried both as it appears and
	// decoded, since a signer of encoded text still sends a proper sign.
	p, err := decodeParams(pairs, decodeNone, cs)
	if err != nil && cs != alipay.Charset {
		p, err = decodeParams(pairs, decodeNone, alipay.Charset)
	}
	if err != nil {
		return out
	}
	content := alipay.NotifySignContent(p)
	if content == baseContent {
		return out
	}
	signs := []string{p["sign"]}
	if s, err := url.QueryUnescape(p["sign"]); err == nil && s != p["sign"] {
		signs = append(signs, s)
	}
	for _, s := range signs {
		if !verifyText(key, content, cs, s) {
			continue
		}
		if percentEscape.MatchString(body) {
			out = append(out, finding{
				id:      "signed_encoded_values",
				summary: "the signature covers the values still URL-encoded",
				detail: []string{
					"Alipay signs the decoded values. Whoever signed this body signed the percent-encoded text (a",
					"hand-written test signer or simulator?). Sign the decoded values, then form-encode the body.",
				},
				content: content, charset: cs,
			})
		} else {
			out = append(out, finding{
				id:      "body_already_decoded",
				summary: "the body is already URL-decoded: it verifies with its values taken as they are",
				detail: []string{
					"This is the decoded parameter list, not the raw body: decoding it again turned '+' (in sign and",
					"in values) into spaces. Give the raw HTTP body exactly as received. In code, if your framework",
					"already decoded the form, use its values as they are and do not decode them again.",
				},
				content: content, charset: cs,
			})
		}
		break
	}
	return out
}

// blankTrial: blank values kept in the content (the Node SDK signs key= for them).
func blankTrial(base map[string]string, try func(string) bool, cs string) (finding, bool) {
	var blanks []string
	for k, v := range base {
		if k != "sign" && k != "sign_type" && strings.TrimSpace(v) == "" {
			blanks = append(blanks, k)
		}
	}
	if len(blanks) == 0 {
		return finding{}, false
	}
	slices.Sort(blanks)
	variants := []func(string) bool{
		func(string) bool { return true },      // every blank value kept
		func(v string) bool { return v != "" }, // only whitespace-only values kept
	}
	for _, keep := range variants {
		content := contentKeeping(base, keep)
		if !try(content) {
			continue
		}
		return finding{
			id:      "empty_values_included",
			summary: fmt.Sprintf("the signature covers empty parameters (%s)", strings.Join(blanks, ", ")),
			detail: []string{
				"Blank (empty or whitespace-only) values are not part of the content: Alipay signs without them",
				"(Java SDK rule). The signer of this body kept them, as the Node SDK does when they are passed",
				"through. If you wrote the signer, drop blank values (and do not send them).",
			},
			content: content, charset: cs,
		}, true
	}
	return finding{}, false
}

// contentKeeping builds a deliberately wrong content for blankTrial: the notification rule
// except that blank values for which keep reports true stay in. The real rule is
// alipay.NotifySignContent.
func contentKeeping(params map[string]string, keep func(string) bool) string {
	var keys []string
	for k, v := range params {
		if k == "sign" || k == "sign_type" {
			continue
		}
		if strings.TrimSpace(v) == "" && !keep(v) {
			continue
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(k + "=" + params[k])
	}
	return b.String()
}

// trimTrial: the signer trimmed spaces off values (smartwalle/alipay does).
func trimTrial(base map[string]string, try func(string) bool, cs string) (finding, bool) {
	p := maps.Clone(base)
	var trimmed []string
	for k, v := range base {
		if t := strings.TrimSpace(v); t != v && t != "" && k != "sign" && k != "sign_type" {
			p[k] = t
			trimmed = append(trimmed, k)
		}
	}
	if len(trimmed) == 0 {
		return finding{}, false
	}
	slices.Sort(trimmed)
	content := alipay.NotifySignContent(p)
	if !try(content) {
		return finding{}, false
	}
	return finding{
		id:      "values_trimmed",
		summary: fmt.Sprintf("the signature covers %s with the surrounding spaces trimmed", strings.Join(trimmed, ", ")),
		detail: []string{
			"Values are signed exactly as sent, spaces included. The signer of this body trimmed them",
			"(smartwalle/alipay does); if you wrote the signer, keep values verbatim.",
		},
		content: content, charset: cs,
	}, true
}

// isAmountKey reports whether a notification field is money: amount, *_amount, *_fee.
func isAmountKey(k string) bool {
	return k == "amount" || strings.HasSuffix(k, "_amount") || strings.HasSuffix(k, "_fee")
}

// amountForms returns v written with two decimals, without trailing zeros ("9", "9.5") and
// as a double prints it ("9.0", "9.5"). Everything goes through integer fen.
func amountForms(v string) ([3]string, bool) {
	intPart, frac, _ := strings.Cut(v, ".")
	frac = strings.TrimRight(frac, "0")
	if len(frac) > 2 {
		return [3]string{}, false
	}
	s := intPart
	if frac != "" {
		s += "." + frac
	}
	amt, err := alipay.ParseAmount(s)
	if err != nil {
		return [3]string{}, false
	}
	two := amt.String()
	minimal := strings.TrimRight(strings.TrimRight(two, "0"), ".")
	double := minimal
	if !strings.Contains(double, ".") {
		double += ".0"
	}
	return [3]string{two, minimal, double}, true
}

// amountTrial rewrites the amounts in each of the three forms, all at once and one field at
// a time, and reports the first rewrite that verifies.
func amountTrial(base map[string]string, try func(string) bool, cs string) (finding, bool) {
	forms := map[string][3]string{}
	var keys []string
	for k, v := range base {
		if !isAmountKey(k) {
			continue
		}
		if f, ok := amountForms(v); ok {
			forms[k] = f
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for form := range 3 {
		sets := [][]string{keys}
		for _, k := range keys {
			sets = append(sets, []string{k})
		}
		for _, set := range sets {
			p := maps.Clone(base)
			var changed []string
			for _, k := range set {
				if nv := forms[k][form]; nv != base[k] {
					p[k] = nv
					changed = append(changed, fmt.Sprintf("%s=%s (the body says %s)", k, nv, base[k]))
				}
			}
			if len(changed) == 0 {
				continue
			}
			content := alipay.NotifySignContent(p)
			if !try(content) {
				continue
			}
			return finding{
				id:      "amount_format",
				summary: "the signature covers amounts written another way: " + strings.Join(changed, ", "),
				detail: []string{
					"Alipay writes amounts with two decimals and signs them as sent. The signer of this body formatted",
					"money differently — typically through a float or double (9.0, 9). Format amounts from integer fen",
					"with two decimals; compare amounts as fen (alipay.ParseAmount), never as floats, and never rebuild",
					"the content from parsed numbers.",
				},
				content: content, charset: cs,
			}, true
		}
	}
	return finding{}, false
}

func (nc *notifyCheck) noKnownMistake(pairs []rawPair, cs string) finding {
	f := finding{
		id:      "no_known_mistake",
		summary: "no known mistake explains it: the key is probably not the one that signed (wrong app / environment, sandbox vs production)",
	}
	if p, err := decodeParams(pairs, decodeOnce, cs); err == nil && p["app_id"] != "" {
		f.detail = append(f.detail, fmt.Sprintf("Check that the key (%s) is the Alipay public key of app_id %s in the", nc.key.desc, p["app_id"]))
		f.detail = append(f.detail, "environment that sent this (the sandbox and production have different Alipay keys).")
	} else {
		f.detail = append(f.detail, fmt.Sprintf("Check that the key (%s) is the Alipay public key of this app in the environment", nc.key.desc))
		f.detail = append(f.detail, "that sent this (the sandbox and production have different Alipay keys).")
	}
	f.detail = append(f.detail, "Otherwise the body was changed after signing (a value altered or a parameter added).")
	if nc.appKey == nil {
		f.detail = append(f.detail, "(Give --app-public-key FILE, or set ALIPAY_PRIVATE_KEY(_FILE), to also test for your app key.)")
	}
	return f
}
