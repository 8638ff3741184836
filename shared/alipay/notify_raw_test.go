package alipay

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// rawNotice signs pairs (values as raw bytes in the body's charset) over the content
// Alipay's Java signer hashes: sorted k=v of every non-sign pair, blank values dropped
// unless keepBlank (as Node's SDK does), then form-encodes every byte like URLEncoder.
func rawNotice(t *testing.T, key *PrivateKey, pairs [][2]string, keepBlank bool) []byte {
	t.Helper()
	sorted := slices.Clone(pairs)
	slices.SortFunc(sorted, func(a, b [2]string) int { return strings.Compare(a[0], b[0]) })
	var content []string
	for _, p := range sorted {
		if keepBlank || !isBlank(p[1]) {
			content = append(content, p[0]+"="+p[1])
		}
	}
	sig, err := key.Sign([]byte(strings.Join(content, "&")))
	if err != nil {
		t.Fatal(err)
	}
	return formEncodeRaw(append(slices.Clone(pairs), [2]string{"sign_type", "RSA2"}, [2]string{"sign", sig}))
}

// formEncodeRaw form-encodes pairs whose values are already bytes in the body's charset:
// letters and digits as they are, every other byte %XX.
func formEncodeRaw(pairs [][2]string) []byte {
	const hex = "0123456789ABCDEF"
	var b []byte
	for i, p := range pairs {
		if i > 0 {
			b = append(b, '&')
		}
		b = append(b, p[0]...)
		b = append(b, '=')
		for _, c := range []byte(p[1]) {
			if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' {
				b = append(b, c)
			} else {
				b = append(b, '%', hex[c>>4], hex[c&15])
			}
		}
	}
	return b
}

// countingVerifier counts verifications.
type countingVerifier struct {
	v     Verifier
	calls int
}

func (c *countingVerifier) Verify(content []byte, sign string) error {
	c.calls++
	return c.v.Verify(content, sign)
}

// Finding 11: Java's GBK maps 0x80 to '€' and the user-defined area (0xAAA1…) to
// private-use characters, which Go's tables do not map back to the same bytes: the
// signature is checked over the raw bytes, not over text re-encoded by Go.
func TestNotificationVerifiesRawCharsetBytes(t *testing.T) {
	alipay, creds := testAlipayKey(t), notifyKeyModeCredentials(t)
	ascii := notifySetPair(notifyTradePairs(), "subject", "iPhone6 16G")
	gbk := append(notifySetPair(ascii, "charset", "\x00"), [2]string{"charset", "gbk"})
	// 大 (B4 F3), € in Java's GBK (80), U+E000 in Java's GBK (AA A1), 中 (D6 D0).
	subject := "\xB4\xF3\x80\xAA\xA1\xD6\xD0"
	tests := []struct {
		name    string
		body    []byte
		want    error // nil: verified
		subject string
	}{
		{"gbk_euro_and_private_use_verify", rawNotice(t, alipay, notifySetPair(gbk, "subject", subject), false), nil, "大€\uFFFD中"},
		{"gbk_private_use_tampered_rejected", []byte(strings.Replace(string(rawNotice(t, alipay, notifySetPair(gbk, "subject", subject), false)), "%AA%A1", "%AA%A2", 1)), ErrBadSignature, ""},
		{"gbk_user_defined_area_f8_verifies", rawNotice(t, alipay, notifySetPair(gbk, "body", "\xF8\xA1\xA1\x40"), false), nil, "iPhone6 16G"},
		{"gb18030_four_byte_verifies", rawNotice(t, alipay, append(notifySetPair(ascii, "charset", "GB18030"), [2]string{"body", "\x81\x30\x81\x30"}), false), nil, "iPhone6 16G"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, err := ParseNotification(tc.body)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if err := n.Verify(creds); !errors.Is(err, tc.want) || (err == nil) != (tc.want == nil) {
				t.Fatalf("Verify = %v, want %v", err, tc.want)
			}
			if tc.want != nil {
				return
			}
			tn, err := n.Trade()
			if err != nil {
				t.Fatal(err)
			}
			if tn.Subject != tc.subject {
				t.Errorf("Subject = %q, want %q", tn.Subject, tc.subject)
			}
		})
	}
	t.Run("ill_formed_bytes_still_rejected", func(t *testing.T) {
		for _, body := range []string{"charset=gbk&subject=%FF%FF", "charset=gbk&subject=%B4", "charset=gbk&subject=%81%20", "charset=gb18030&subject=%80", "charset=gb18030&subject=%81%30%81"} {
			if _, err := ParseNotification([]byte(body)); !errors.Is(err, ErrNotifyMalformed) {
				t.Errorf("%s: %v, want ErrNotifyMalformed", body, err)
			}
		}
	})
}

// Finding 12: Node's SDK (and Alipay, for some bodies) keeps blank values in the content.
// When the Java content does not verify and the body has blank values, the content
// with them is tried once: one extra verification, and only for such bodies.
func TestNotificationBlankValues(t *testing.T) {
	alipay, creds := testAlipayKey(t), notifyKeyModeCredentials(t)
	blanks := append(notifyTradePairs(), [2]string{"coupon_fee", ""}, [2]string{"memo", "  "})
	tampered := func(b []byte) []byte {
		return []byte(strings.Replace(string(b), "total_amount=9%2E00", "total_amount=0%2E01", 1))
	}
	tests := []struct {
		name  string
		body  []byte
		want  error
		calls int
	}{
		{"blank_values_signed_java_style_one_verify", rawNotice(t, alipay, blanks, false), nil, 1},
		{"blank_values_signed_node_style_second_verify", rawNotice(t, alipay, blanks, true), nil, 2},
		{"no_blank_values_bad_signature_one_verify", tampered(rawNotice(t, alipay, notifyTradePairs(), false)), ErrBadSignature, 1},
		{"blank_values_tampered_rejected_after_two", tampered(rawNotice(t, alipay, blanks, true)), ErrBadSignature, 2},
		{"blank_added_to_node_style_rejected", append(rawNotice(t, alipay, blanks, true), "&extra="...), ErrBadSignature, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, err := ParseNotification(tc.body)
			if err != nil {
				t.Fatal(err)
			}
			v := &countingVerifier{v: creds.AlipayPublicKey}
			err = n.VerifyWith(v)
			if !errors.Is(err, tc.want) || (err == nil) != (tc.want == nil) {
				t.Fatalf("VerifyWith = %v, want %v", err, tc.want)
			}
			if v.calls != tc.calls {
				t.Errorf("%d verifications, want %d", v.calls, tc.calls)
			}
		})
	}
}
