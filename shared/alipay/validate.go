package alipay

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Rule names carried in FieldError.Rule: short machine words, stable for clients.
const (
	RuleRequired       = "required"        // missing, empty or whitespace-only
	RuleBlank          = "blank"           // optional value given as whitespace only
	RuleMaxLength      = "max_length"      // too many characters (runes)
	RuleWidth          = "width"           // too wide (order_title: non-ASCII counts 2)
	RulePattern        = "pattern"         // wrong characters or shape
	RuleRange          = "range"           // number, amount or duration out of range
	RuleEnum           = "enum"            // not one of the allowed constants
	RuleFuture         = "future"          // time or date not in the future
	RuleFormat         = "format"          // bad amount, date, URL or embedded JSON
	RuleForbiddenChars = "forbidden_chars" // e.g. `/`, `=`, `&` in subject
	RuleControlChar    = "control_char"    // control characters or invalid UTF-8
	RuleConflict       = "conflict"        // two fields that must not be sent together
	RuleType           = "type"            // wrong JSON type
	RuleUnknownField   = "unknown_field"   // field not in the contract
	RuleDuplicateField = "duplicate_field" // the same key twice in one object
	RuleJSON           = "json"            // the body is not one JSON object
)

// FieldError is a validation failure of one field. Field is the dotted path of Alipay's
// snake_case names (e.g. `agreement_sign_params.period_rule_params.execute_time`); it is
// empty when the body as a whole is at fault (not JSON, not an object).
type FieldError struct {
	Field   string
	Rule    string
	Message string
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return e.Message
	}
	return e.Field + ": " + e.Message
}

// AsFieldError finds the *FieldError in err's chain.
func AsFieldError(err error) (*FieldError, bool) {
	var fe *FieldError
	if errors.As(err, &fe) {
		return fe, true
	}
	return nil, false
}

func valErr(field, rule, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Rule: rule, Message: fmt.Sprintf(format, args...)}
}

// valChecker keeps the first failure so Validate reports fields in struct order.
type valChecker struct{ err *FieldError }

func (c *valChecker) check(fe *FieldError) {
	if c.err == nil && fe != nil {
		c.err = fe
	}
}

// result returns a nil error interface (not a typed nil) when every check passed.
func (c *valChecker) result() error {
	if c.err == nil {
		return nil
	}
	return c.err
}

var (
	valReOrderNo     = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	valReOutTradeNo  = regexp.MustCompile(`^[A-Za-z0-9_]{1,64}$`)
	valReUserID      = regexp.MustCompile(`^2088[0-9]{12}$`)
	valReRelTimeout  = regexp.MustCompile(`^[1-9][0-9]*[mhd]$`)
	valReAgreementNo = regexp.MustCompile(`^[A-Za-z0-9]{1,32}$`)
	valReSeconds     = regexp.MustCompile(`^[1-9][0-9]*$`)
	valReCode        = regexp.MustCompile(`^[A-Z0-9_|]+$`)
)

// valRequired fails for an empty or whitespace-only value: Alipay drops blank
// parameters, so a blank required value is a missing one.
func valRequired(field, v string) *FieldError {
	if v == "" {
		return valErr(field, RuleRequired, "is required")
	}
	if isBlank(v) {
		return valErr(field, RuleRequired, "is required (whitespace only counts as missing)")
	}
	return nil
}

// valMaxChars counts characters (runes), not bytes.
func valMaxChars(field, v string, max int) *FieldError {
	if n := utf8.RuneCountInString(v); n > max {
		return valErr(field, RuleMaxLength, "must be at most %d characters (got %d)", max, n)
	}
	return nil
}

// valIsControl reports runes that have no place in a business text: C0/C1 controls
// (tab and newline included), line/paragraph separators and bidi overrides, which can
// make a title read differently on the payer's screen than in our records.
func valIsControl(r rune) bool {
	switch {
	case unicode.Is(unicode.Cc, r):
		return true
	case r == '\u2028' || r == '\u2029':
		return true
	case r >= '\u202A' && r <= '\u202E', r >= '\u2066' && r <= '\u2069':
		return true
	}
	return false
}

// valControl rejects invalid UTF-8 and control characters.
func valControl(field, v string) *FieldError {
	if !utf8.ValidString(v) {
		return valErr(field, RuleControlChar, "must be valid UTF-8")
	}
	for _, r := range v {
		if valIsControl(r) {
			return valErr(field, RuleControlChar, "must not contain control characters (found U+%04X)", r)
		}
	}
	return nil
}

// valText is the base rule of every text field: presence (blank counts as missing;
// an optional blank value is rejected rather than silently dropped), no control
// characters, at most maxChars characters (0: no limit).
func valText(field, v string, required bool, maxChars int) *FieldError {
	if v == "" && !required {
		return nil
	}
	if isBlank(v) {
		if required {
			return valRequired(field, v)
		}
		return valErr(field, RuleBlank, "must not be blank; omit it instead")
	}
	if fe := valControl(field, v); fe != nil {
		return fe
	}
	if maxChars > 0 {
		return valMaxChars(field, v, maxChars)
	}
	return nil
}

// valGBKWidth is the display width seed 000 describes for order_title ("100
// letters or 50 Chinese characters"): an ASCII character counts 1, any other
// character 2. That equals the GBK byte length of every GBK-encodable character
// except U+20AC (one byte 0x80 in GBK), and charges 2 to characters GBK cannot
// encode (emoji, rare CJK): never below the GBK length, so never accepted by us and
// refused by Alipay.
func valGBKWidth(s string) int {
	n := 0
	for _, r := range s {
		if r < utf8.RuneSelf {
			n++
		} else {
			n += 2
		}
	}
	return n
}

// valWidth applies valText and the GBK width limit.
func valWidth(field, v string, required bool, maxWidth int) *FieldError {
	if fe := valText(field, v, required, 0); fe != nil || v == "" {
		return fe
	}
	if w := valGBKWidth(v); w > maxWidth {
		return valErr(field, RuleWidth, "must be at most %d wide, a non-ASCII character counting 2 (got %d)", maxWidth, w)
	}
	return nil
}

// valPattern applies valText (with maxChars, so an over-long value reports
// max_length) and then re.
func valPattern(field, v string, required bool, maxChars int, re *regexp.Regexp, what string) *FieldError {
	if fe := valText(field, v, required, maxChars); fe != nil || v == "" {
		return fe
	}
	if !re.MatchString(v) {
		return valErr(field, RulePattern, "%s", what)
	}
	return nil
}

// valOrderNo: out_order_no / out_request_no.
func valOrderNo(field, v string) *FieldError {
	return valPattern(field, v, true, 64, valReOrderNo, "may contain only letters, digits, '_' and '-'")
}

// valOutTradeNo: app-pay out_trade_no (no '-').
func valOutTradeNo(field, v string) *FieldError {
	return valPattern(field, v, true, 64, valReOutTradeNo, "may contain only letters, digits and '_'")
}

// valUserID: an Alipay user id (2088 + 12 digits).
func valUserID(field, v string, required bool) *FieldError {
	return valPattern(field, v, required, 16, valReUserID, "must be an Alipay user id: 2088 followed by 12 digits")
}

// CheckOutOrderNo validates an out_order_no or out_request_no (1-64 of [A-Za-z0-9_-]),
// e.g. taken from a URL path. The result is nil or a *FieldError.
func CheckOutOrderNo(field, v string) error {
	if fe := valOrderNo(field, v); fe != nil {
		return fe
	}
	return nil
}

// CheckOutTradeNo validates an app-pay out_trade_no (1-64 of [A-Za-z0-9_]).
func CheckOutTradeNo(field, v string) error {
	if fe := valOutTradeNo(field, v); fe != nil {
		return fe
	}
	return nil
}

// valSubject: required, at most maxChars, none of `/`, `=`, `&` (seed 003 forbids
// these "special characters"; they also break naive form handling downstream).
func valSubject(field, v string, maxChars int) *FieldError {
	if fe := valText(field, v, true, maxChars); fe != nil {
		return fe
	}
	if i := strings.IndexAny(v, "/=&"); i >= 0 {
		return valErr(field, RuleForbiddenChars, "must not contain %q (nor '/', '=', '&')", v[i])
	}
	return nil
}

// valEchoed applies valText to a free text that Alipay echoes back in a notification
// (body, external_logon_id, payee_logon_id) and rejects raw '&' and '=': the signed
// content joins k=v pairs with '&' unescaped, so either character would let one signed
// notification be re-split into another parameter set (docs/design.md, "Echoed fields
// and the re-split forgery").
func valEchoed(field, v string, required bool, maxChars int) *FieldError {
	if fe := valText(field, v, required, maxChars); fe != nil || v == "" {
		return fe
	}
	if i := strings.IndexAny(v, "&="); i >= 0 {
		return valErr(field, RuleForbiddenChars, "must not contain %q (nor '&', '='): Alipay echoes it unescaped in notifications", v[i])
	}
	return nil
}

// valURLEncoded: passback_params, which Alipay requires URL-encoded ("本参数必须进行
// UrlEncode") and echoes verbatim in notifications: no raw '&' or '=', and every '%'
// starts a %XX escape.
func valURLEncoded(field, v string, maxChars int) *FieldError {
	if fe := valText(field, v, false, maxChars); fe != nil || v == "" {
		return fe
	}
	if i := strings.IndexAny(v, "&="); i >= 0 {
		return valErr(field, RuleForbiddenChars, "must be URL-encoded: %q must be sent as %%%02X", v[i], v[i])
	}
	for i := 0; i < len(v); i++ {
		if v[i] == '%' && (i+2 >= len(v) || !isHex(v[i+1]) || !isHex(v[i+2])) {
			return valErr(field, RuleFormat, "must be URL-encoded: '%%' must start a %%XX escape (a literal '%%' is %%25)")
		}
	}
	return nil
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// valEnum accepts exactly one of allowed. A value that is allowed once upper-cased
// gets a pointed message: seed 003 shows every constant lower-cased by mistake.
func valEnum(field, v string, required bool, allowed ...string) *FieldError {
	if fe := valText(field, v, required, 0); fe != nil || v == "" {
		return fe
	}
	for _, a := range allowed {
		if v == a {
			return nil
		}
	}
	up := strings.ToUpper(v)
	for _, a := range allowed {
		if up == a {
			return valErr(field, RuleEnum, "must be %s (upper case)", a)
		}
	}
	if len(allowed) == 1 {
		return valErr(field, RuleEnum, "must be %s", allowed[0])
	}
	return valErr(field, RuleEnum, "must be one of %s", strings.Join(allowed, ", "))
}

// valCode: a contracted constant that cannot be enumerated (personal_product_code,
// sign_scene): upper-case letters, digits, '_' and '|'.
func valCode(field, v string, required bool, maxChars int, example string) *FieldError {
	if fe := valText(field, v, required, maxChars); fe != nil || v == "" {
		return fe
	}
	if valReCode.MatchString(v) {
		return nil
	}
	if valReCode.MatchString(strings.ToUpper(v)) {
		return valErr(field, RulePattern, "must be upper case, as contracted (e.g. %s)", example)
	}
	return valErr(field, RulePattern, "may contain only upper-case letters, digits, '_' and '|' (e.g. %s)", example)
}

// valMaxTimeoutMinutes is 15 days, the upper bound of pay_timeout and timeout_express.
const valMaxTimeoutMinutes = 15 * 24 * 60

// valRelTimeout: a relative timeout `^[1-9][0-9]*[mhd]$` between 1m and 15d, no
// decimals (1.5h must be sent as 90m), at most maxLen characters. allowToday also
// admits `1c` (timeout_express only: close at midnight of the creation day).
func valRelTimeout(field, v string, maxLen int, allowToday bool) *FieldError {
	if fe := valText(field, v, false, 0); fe != nil || v == "" {
		return fe
	}
	if allowToday && v == "1c" {
		return nil
	}
	if len(v) > maxLen {
		return valErr(field, RuleMaxLength, "must be at most %d characters, like 90m", maxLen)
	}
	if !valReRelTimeout.MatchString(v) {
		return valErr(field, RulePattern, "must be a whole number followed by m, h or d, like 90m (no decimals: 1.5h is 90m)")
	}
	n, err := strconv.Atoi(v[:len(v)-1])
	if err != nil { // unreachable with maxLen small; kept so no path accepts an overflow
		return valErr(field, RuleRange, "must be between 1m and 15d")
	}
	switch v[len(v)-1] {
	case 'h':
		n *= 60
	case 'd':
		n *= 24 * 60
	}
	if n > valMaxTimeoutMinutes {
		return valErr(field, RuleRange, "must be between 1m and 15d")
	}
	return nil
}

// valURL: an absolute http/https URL of at most maxChars characters, no spaces, no
// user info.
func valURL(field, v string, required bool, maxChars int) *FieldError {
	if fe := valText(field, v, required, maxChars); fe != nil || v == "" {
		return fe
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" ||
		strings.ContainsAny(v, " \\") {
		return valErr(field, RuleFormat, "must be an absolute http or https URL")
	}
	if u.User != nil {
		return valErr(field, RuleFormat, "must not contain user information")
	}
	return nil
}

// valAmount: required amount within [MinAmount, MaxAmount]. A zero Amount is
// "missing" (the decoder rejects an explicit zero with a range error itself).
func valAmount(field string, a Amount) *FieldError {
	if a == 0 {
		return valErr(field, RuleRequired, "is required (an amount from 0.01 to 100000000.00)")
	}
	if a.CheckRange() != nil {
		return valErr(field, RuleRange, "must be between 0.01 and 100000000.00 (got %s)", a)
	}
	return nil
}

const valDateLayout = "2006-01-02"

// valDate parses a real calendar date `yyyy-MM-dd` (zero-padded; 2025-02-30 fails).
func valDate(field, v string, required bool) (time.Time, *FieldError) {
	if fe := valText(field, v, required, 0); fe != nil || v == "" {
		return time.Time{}, fe
	}
	t, err := time.ParseInLocation(valDateLayout, v, ChinaTime)
	if len(v) != len(valDateLayout) || err != nil || t.Format(valDateLayout) != v {
		return time.Time{}, valErr(field, RuleFormat, "must be a real date yyyy-MM-dd")
	}
	return t, nil
}

// valFutureTimestamp: a China-time `yyyy-MM-dd HH:mm:ss` strictly after now.
func valFutureTimestamp(field, v string, now time.Time) *FieldError {
	if fe := valText(field, v, false, 0); fe != nil || v == "" {
		return fe
	}
	t, err := time.ParseInLocation(TimestampLayout, v, ChinaTime)
	if len(v) != len(TimestampLayout) || err != nil || t.Format(TimestampLayout) != v {
		return valErr(field, RuleFormat, "must be a China time yyyy-MM-dd HH:mm:ss")
	}
	if !t.After(now) {
		return valErr(field, RuleFuture, "must be in the future (now is %s China time)", FormatTimestamp(now))
	}
	return nil
}
