package alipay

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Constants of the business parameters (upper case; seed 003 shows them lower-cased).
const (
	ProductCodePreAuth            = "PRE_AUTH"
	ProductCodeQuickMSecurityPay  = "QUICK_MSECURITY_PAY"
	ProductCodeCyclePayAuth       = "CYCLE_PAY_AUTH"
	ProductCodeGeneralWithholding = "GENERAL_WITHHOLDING"
	ChannelAlipayApp              = "ALIPAYAPP"
	ChannelQRCode                 = "QRCODE"
	ChannelQRCodeOrSMS            = "QRCODEORSMS"
	PeriodTypeDay                 = "DAY"
	PeriodTypeMonth               = "MONTH"
)

// VoucherCreateParams are the business parameters of
// alipay.fund.auth.order.voucher.create (§10.1). Field order is the biz_content order.
type VoucherCreateParams struct {
	OutOrderNo   string `json:"out_order_no,omitempty"`
	OutRequestNo string `json:"out_request_no,omitempty"`
	OrderTitle   string `json:"order_title,omitempty"`
	Amount       Amount `json:"amount,omitempty"`
	PayeeUserID  string `json:"payee_user_id,omitempty"`
	PayeeLogonID string `json:"payee_logon_id,omitempty"`
	PayTimeout   string `json:"pay_timeout,omitempty"`
	// ExtraParam is a JSON object in compact text form, sent as a string value.
	ExtraParam  string `json:"extra_param,omitempty"`
	ProductCode string `json:"product_code,omitempty"`
}

// AppPayParams are the business parameters of alipay.trade.app.pay (§10.2). Field
// order is the biz_content order of the reference vectors (body and passback_params
// before the timeouts).
type AppPayParams struct {
	OutTradeNo          string               `json:"out_trade_no,omitempty"`
	TotalAmount         Amount               `json:"total_amount,omitempty"`
	Subject             string               `json:"subject,omitempty"`
	ProductCode         string               `json:"product_code,omitempty"`
	Body                string               `json:"body,omitempty"`
	PassbackParams      string               `json:"passback_params,omitempty"`
	TimeoutExpress      string               `json:"timeout_express,omitempty"`
	TimeExpire          string               `json:"time_expire,omitempty"`
	AgreementSignParams *AgreementSignParams `json:"agreement_sign_params,omitempty"`
	// Owner is not Alipay's: the app user (JWT sub) a server-priced order is created for.
	// Never sent to Alipay, not part of CanonicalHash (the store compares owners).
	Owner string `json:"-"`
}

// bizMaxOwner bounds owner (a JWT sub; Cognito's are 36 characters).
const bizMaxOwner = 128

// CheckRequestFields checks what a create request may carry beyond Alipay's rules:
// never agreement_sign_params.sign_notify_url (where agreement notices go is the
// server's configuration: a client-chosen address would receive the merchant's
// notices); owner required when the merchant's backend sets prices (server), refused
// when the app does (client), where the caller is the owner.
func (p *AppPayParams) CheckRequestFields(serverPricing bool) error {
	if a := p.AgreementSignParams; a != nil && a.SignNotifyURL != "" {
		return valErr("agreement_sign_params.sign_notify_url", RuleUnknownField,
			"is not accepted: agreement notices go to the server's notify address")
	}
	if !serverPricing {
		if p.Owner != "" {
			return valErr("owner", RuleUnknownField, "is accepted only when prices are set by the merchant's server (APP_PAY_PRICING=server)")
		}
		return nil
	}
	if fe := valText("owner", p.Owner, true, bizMaxOwner); fe != nil {
		return fe
	}
	return nil
}

// AgreementSignParams sign a withholding agreement together with the payment.
type AgreementSignParams struct {
	ProductCode         string            `json:"product_code,omitempty"`
	PersonalProductCode string            `json:"personal_product_code,omitempty"`
	SignScene           string            `json:"sign_scene,omitempty"`
	ExternalAgreementNo string            `json:"external_agreement_no,omitempty"`
	ExternalLogonID     string            `json:"external_logon_id,omitempty"`
	SignNotifyURL       string            `json:"sign_notify_url,omitempty"` // the server's (apppay refuses a client's)
	AccessParams        AccessParams      `json:"access_params,omitzero"`
	PeriodRuleParams    *PeriodRuleParams `json:"period_rule_params,omitempty"`
	EffectTime          string            `json:"effect_time,omitempty"`
}

// AccessParams say how the payer reaches the signing page.
type AccessParams struct {
	Channel string `json:"channel,omitempty"`
}

// MinDayPeriod is the shortest DAY period Alipay accepts (L9.1).
const MinDayPeriod = 7

// PeriodRuleParams bound periodic deductions (when, how much, how often).
type PeriodRuleParams struct {
	PeriodType    string  `json:"period_type,omitempty"`
	Period        int64   `json:"period,omitempty"`
	ExecuteTime   string  `json:"execute_time,omitempty"`
	SingleAmount  Amount  `json:"single_amount,omitempty"`
	TotalAmount   *Amount `json:"total_amount,omitempty"`
	TotalPayments int64   `json:"total_payments,omitempty"`
}

// Field limits not fixed by seed 003: body and passback_params follow Alipay's
// classic app-pay page (128 and 512); timeout_express is at most 6 characters there.
const (
	bizMaxBody           = 128
	bizMaxPassback       = 512
	bizMaxExtraParam     = 300
	bizMaxNotifyURL      = 256
	bizMaxTimeoutExpress = 6
	bizMaxPayTimeout     = 5
	bizMaxEffectTime     = 10
	bizMaxFieldInMessage = 64
)

// ---- decoding -------------------------------------------------------------------

// bizField binds one JSON key to a decoder that stores into the params being built.
type bizField struct {
	name   string
	decode func(raw json.RawMessage, path string) error
}

func bizJoin(path, key string) string {
	if len(key) > bizMaxFieldInMessage {
		// An attacker-sized key must not be echoed back whole.
		cut := bizMaxFieldInMessage
		for cut > 0 && !utf8.RuneStart(key[cut]) {
			cut--
		}
		key = key[:cut] + "..."
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

// bizDecodeBody decodes one JSON object (the whole request body) strictly: valid
// UTF-8, exactly one value, an object, only known keys (case-sensitive), no key twice.
// null stands for an absent field.
func bizDecodeBody(body []byte, fields []bizField) error {
	if !utf8.Valid(body) {
		return &FieldError{Rule: RuleJSON, Message: "body is not valid UTF-8"}
	}
	if !json.Valid(body) {
		return &FieldError{Rule: RuleJSON, Message: "body is not a single valid JSON value"}
	}
	return bizDecodeObject(bytes.TrimSpace(body), "", fields)
}

func bizDecodeObject(raw json.RawMessage, path string, fields []bizField) error {
	if len(raw) == 0 || raw[0] != '{' {
		if path == "" {
			return &FieldError{Rule: RuleJSON, Message: "body must be a JSON object"}
		}
		return valErr(path, RuleType, "must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil { // '{'; raw was validated
		return valErr(path, RuleJSON, "is not valid JSON")
	}
	seen := make(map[string]bool, len(fields))
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return valErr(path, RuleJSON, "is not valid JSON")
		}
		key, _ := tok.(string)
		fp := bizJoin(path, key)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return valErr(fp, RuleJSON, "is not valid JSON")
		}
		if seen[key] {
			return valErr(fp, RuleDuplicateField, "appears more than once")
		}
		seen[key] = true
		var f *bizField
		for i := range fields {
			if fields[i].name == key {
				f = &fields[i]
				break
			}
		}
		if f == nil {
			return valErr(fp, RuleUnknownField, "is not a known field")
		}
		if string(v) == "null" {
			continue
		}
		if err := f.decode(v, fp); err != nil {
			return err
		}
	}
	return nil
}

func bizString(dst *string) func(json.RawMessage, string) error {
	return func(raw json.RawMessage, path string) error {
		if raw[0] != '"' {
			return valErr(path, RuleType, "must be a string")
		}
		if err := json.Unmarshal(raw, dst); err != nil {
			return valErr(path, RuleType, "must be a string")
		}
		return nil
	}
}

// bizParseAmount accepts "100.00" or a JSON number that converts exactly; an explicit
// zero is out of range (a zero Amount means "absent" to Validate).
func bizParseAmount(raw json.RawMessage, path string) (Amount, error) {
	if c := raw[0]; c != '"' && c != '-' && (c < '0' || c > '9') {
		return 0, valErr(path, RuleType, `must be an amount string like "100.00"`)
	}
	var a Amount
	if err := a.UnmarshalJSON(raw); err != nil {
		return 0, valErr(path, RuleFormat, `must be an amount in yuan like "100.00": digits, at most two decimals, no sign or exponent`)
	}
	if a == 0 {
		return 0, valErr(path, RuleRange, "must be between 0.01 and 100000000.00")
	}
	return a, nil
}

func bizAmount(dst *Amount) func(json.RawMessage, string) error {
	return func(raw json.RawMessage, path string) error {
		a, err := bizParseAmount(raw, path)
		if err != nil {
			return err
		}
		*dst = a
		return nil
	}
}

func bizAmountPtr(dst **Amount) func(json.RawMessage, string) error {
	return func(raw json.RawMessage, path string) error {
		a, err := bizParseAmount(raw, path)
		if err != nil {
			return err
		}
		*dst = &a
		return nil
	}
}

var bizReInteger = regexp.MustCompile(`^-?(0|[1-9][0-9]*)$`)

// bizPositiveInt accepts only a JSON integer literal (no "3", 3.0 or 3e0) above zero.
func bizPositiveInt(dst *int64) func(json.RawMessage, string) error {
	return func(raw json.RawMessage, path string) error {
		if !bizReInteger.Match(raw) {
			return valErr(path, RuleType, "must be a JSON integer")
		}
		n, err := strconv.ParseInt(string(raw), 10, 64)
		if err != nil || n <= 0 {
			return valErr(path, RuleRange, "must be a positive integer")
		}
		*dst = n
		return nil
	}
}

// bizExtraParam accepts an object or a string holding one and keeps it in canonical
// form (bizCanonicalObject), so a retry that orders keys or spaces differently is the
// same request for idempotency and sends the same biz_content.
func bizExtraParam(dst *string) func(json.RawMessage, string) error {
	return func(raw json.RawMessage, path string) error {
		obj := []byte(raw)
		switch raw[0] {
		case '{':
		case '"':
			var s string
			if err := json.Unmarshal(raw, &s); err != nil {
				return valErr(path, RuleType, "must be a JSON object or a string holding one")
			}
			if s == "" {
				return nil
			}
			obj = []byte(s)
		default:
			return valErr(path, RuleType, "must be a JSON object or a string holding one")
		}
		c, err := bizCanonicalObject(obj)
		if err != nil {
			return valErr(path, RuleFormat, "must be a JSON object or a string holding one")
		}
		*dst = c
		return nil
	}
}

// bizCanonicalObject is the canonical text of a JSON object: keys sorted at every
// level, no insignificant whitespace, numbers exactly as written, strings re-escaped
// the one way encoding/json writes them (no HTML escapes). Anything but one object is
// an error.
func bizCanonicalObject(b []byte) (string, error) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' || !json.Valid(b) {
		return "", errBizNotObject
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber() // keeps 1.10 as 1.10, and big integers exact
	var v map[string]any
	if err := dec.Decode(&v); err != nil {
		return "", err
	}
	return bizMarshal(v) // maps marshal with sorted keys
}

var errBizNotObject = errors.New("not a JSON object")

func bizObject(fields func() []bizField) func(json.RawMessage, string) error {
	return func(raw json.RawMessage, path string) error {
		return bizDecodeObject(raw, path, fields())
	}
}

func (p *VoucherCreateParams) bizFields() []bizField {
	return []bizField{
		{"out_order_no", bizString(&p.OutOrderNo)},
		{"out_request_no", bizString(&p.OutRequestNo)},
		{"order_title", bizString(&p.OrderTitle)},
		{"amount", bizAmount(&p.Amount)},
		{"payee_user_id", bizString(&p.PayeeUserID)},
		{"payee_logon_id", bizString(&p.PayeeLogonID)},
		{"pay_timeout", bizString(&p.PayTimeout)},
		{"extra_param", bizExtraParam(&p.ExtraParam)},
		{"product_code", bizString(&p.ProductCode)},
	}
}

func (p *AppPayParams) bizFields() []bizField {
	return []bizField{
		{"out_trade_no", bizString(&p.OutTradeNo)},
		{"total_amount", bizAmount(&p.TotalAmount)},
		{"subject", bizString(&p.Subject)},
		{"product_code", bizString(&p.ProductCode)},
		{"body", bizString(&p.Body)},
		{"passback_params", bizString(&p.PassbackParams)},
		{"timeout_express", bizString(&p.TimeoutExpress)},
		{"time_expire", bizString(&p.TimeExpire)},
		{"agreement_sign_params", func(raw json.RawMessage, path string) error {
			a := &AgreementSignParams{}
			if err := bizDecodeObject(raw, path, a.bizFields()); err != nil {
				return err
			}
			p.AgreementSignParams = a
			return nil
		}},
		{"owner", bizString(&p.Owner)},
	}
}

func (a *AgreementSignParams) bizFields() []bizField {
	return []bizField{
		{"product_code", bizString(&a.ProductCode)},
		{"personal_product_code", bizString(&a.PersonalProductCode)},
		{"sign_scene", bizString(&a.SignScene)},
		{"external_agreement_no", bizString(&a.ExternalAgreementNo)},
		{"external_logon_id", bizString(&a.ExternalLogonID)},
		{"sign_notify_url", bizString(&a.SignNotifyURL)},
		{"access_params", bizObject(func() []bizField {
			return []bizField{{"channel", bizString(&a.AccessParams.Channel)}}
		})},
		{"period_rule_params", func(raw json.RawMessage, path string) error {
			r := &PeriodRuleParams{}
			if err := bizDecodeObject(raw, path, r.bizFields()); err != nil {
				return err
			}
			a.PeriodRuleParams = r
			return nil
		}},
		{"effect_time", bizString(&a.EffectTime)},
	}
}

func (r *PeriodRuleParams) bizFields() []bizField {
	return []bizField{
		{"period_type", bizString(&r.PeriodType)},
		{"period", bizPositiveInt(&r.Period)},
		{"execute_time", bizString(&r.ExecuteTime)},
		{"single_amount", bizAmount(&r.SingleAmount)},
		{"total_amount", bizAmountPtr(&r.TotalAmount)},
		{"total_payments", bizPositiveInt(&r.TotalPayments)},
	}
}

// DecodeVoucherCreate decodes a POST /v1/preauth/vouchers body strictly. Every error
// is a *FieldError naming the field. It does not validate values: call Validate.
func DecodeVoucherCreate(body []byte) (*VoucherCreateParams, error) {
	p := &VoucherCreateParams{}
	if err := bizDecodeBody(body, p.bizFields()); err != nil {
		return nil, err
	}
	return p, nil
}

// DecodeAppPay decodes a POST /v1/app-pay/orders body strictly. Every error is a
// *FieldError naming the field. It does not validate values: call Validate.
func DecodeAppPay(body []byte) (*AppPayParams, error) {
	p := &AppPayParams{}
	if err := bizDecodeBody(body, p.bizFields()); err != nil {
		return nil, err
	}
	return p, nil
}

// ---- validation -----------------------------------------------------------------

// Validate applies §10.1 and returns the first failing field as a *FieldError.
func (p *VoucherCreateParams) Validate() error {
	var c valChecker
	c.check(valOrderNo("out_order_no", p.OutOrderNo))
	c.check(valOrderNo("out_request_no", p.OutRequestNo))
	c.check(valWidth("order_title", p.OrderTitle, true, 100))
	c.check(valAmount("amount", p.Amount))
	c.check(valUserID("payee_user_id", p.PayeeUserID, false))
	c.check(valEchoed("payee_logon_id", p.PayeeLogonID, false, 100))
	c.check(valRelTimeout("pay_timeout", p.PayTimeout, bizMaxPayTimeout, false))
	c.check(bizValidateExtraParam("extra_param", p.ExtraParam))
	c.check(valEnum("product_code", p.ProductCode, false, ProductCodePreAuth))
	return c.result()
}

func bizValidateExtraParam(field, v string) *FieldError {
	if fe := valText(field, v, false, bizMaxExtraParam); fe != nil || v == "" {
		return fe
	}
	if c, err := bizCanonicalObject([]byte(v)); err != nil || c != v {
		return valErr(field, RuleFormat, "must be a compact JSON object with sorted keys")
	}
	return nil
}

// Validate applies §10.2 with now as the current time (time_expire in the future,
// execute_time not before today's China date). It returns the first failing field as
// a *FieldError.
func (p *AppPayParams) Validate(now time.Time) error {
	var c valChecker
	c.check(valOutTradeNo("out_trade_no", p.OutTradeNo))
	c.check(valAmount("total_amount", p.TotalAmount))
	c.check(valSubject("subject", p.Subject, 256))
	c.check(valEnum("product_code", p.ProductCode, false, ProductCodeQuickMSecurityPay, ProductCodeCyclePayAuth))
	c.check(valEchoed("body", p.Body, false, bizMaxBody))
	c.check(valURLEncoded("passback_params", p.PassbackParams, bizMaxPassback))
	c.check(valRelTimeout("timeout_express", p.TimeoutExpress, bizMaxTimeoutExpress, true))
	c.check(valFutureTimestamp("time_expire", p.TimeExpire, now))
	if p.TimeExpire != "" && p.TimeoutExpress != "" {
		c.check(valErr("time_expire", RuleConflict, "send either time_expire or timeout_express, not both"))
	}
	cycle := p.ProductCode == ProductCodeCyclePayAuth
	if p.AgreementSignParams == nil {
		if cycle {
			c.check(valErr("agreement_sign_params", RuleRequired, "is required when product_code is CYCLE_PAY_AUTH"))
		}
	} else {
		c.check(p.AgreementSignParams.validate("agreement_sign_params", cycle, now))
	}
	return c.result()
}

func (a *AgreementSignParams) validate(path string, cycle bool, now time.Time) *FieldError {
	f := func(name string) string { return path + "." + name }
	var c valChecker
	c.check(valEnum(f("product_code"), a.ProductCode, true, ProductCodeGeneralWithholding))
	c.check(valCode(f("personal_product_code"), a.PersonalProductCode, true, 64, "CYCLE_PAY_AUTH_P"))
	c.check(valCode(f("sign_scene"), a.SignScene, true, 64, "INDUSTRY|DIGITAL_MEDIA"))
	c.check(valPattern(f("external_agreement_no"), a.ExternalAgreementNo, false, 32, valReAgreementNo, "may contain only letters and digits"))
	c.check(valEchoed(f("external_logon_id"), a.ExternalLogonID, false, 100))
	c.check(valURL(f("sign_notify_url"), a.SignNotifyURL, false, bizMaxNotifyURL))
	c.check(valEnum(f("access_params.channel"), a.AccessParams.Channel, true, ChannelAlipayApp, ChannelQRCode, ChannelQRCodeOrSMS))
	if a.PeriodRuleParams == nil {
		if cycle {
			c.check(valErr(f("period_rule_params"), RuleRequired, "is required when product_code is CYCLE_PAY_AUTH"))
		}
	} else {
		c.check(a.PeriodRuleParams.validate(f("period_rule_params"), now))
	}
	c.check(valPattern(f("effect_time"), a.EffectTime, false, bizMaxEffectTime, valReSeconds, "must be a whole number of seconds, like 600"))
	return c.err
}

func (r *PeriodRuleParams) validate(path string, now time.Time) *FieldError {
	f := func(name string) string { return path + "." + name }
	var c valChecker
	c.check(valEnum(f("period_type"), r.PeriodType, true, PeriodTypeDay, PeriodTypeMonth))
	switch {
	case r.Period == 0:
		c.check(valErr(f("period"), RuleRequired, "is required (a positive integer)"))
	case r.Period < 0:
		c.check(valErr(f("period"), RuleRange, "must be a positive integer"))
	case r.PeriodType == PeriodTypeDay && r.Period < MinDayPeriod:
		// Alipay refuses shorter DAY periods when it charges, long after the signing (L9.1).
		c.check(valErr(f("period"), RuleRange, "must be at least %d when period_type is DAY", MinDayPeriod))
	}
	d, fe := valDate(f("execute_time"), r.ExecuteTime, true)
	c.check(fe)
	if fe == nil {
		today := now.In(ChinaTime).Format(valDateLayout)
		if r.ExecuteTime < today { // same layout, so string order is date order
			c.check(valErr(f("execute_time"), RuleFuture, "must not be before today (%s China date)", today))
		}
		if r.PeriodType == PeriodTypeMonth && d.Day() > 28 {
			c.check(valErr(f("execute_time"), RuleRange, "day of month must be at most 28 when period_type is MONTH"))
		}
	}
	c.check(valAmount(f("single_amount"), r.SingleAmount))
	if r.TotalAmount != nil {
		c.check(valAmount(f("total_amount"), *r.TotalAmount))
		if r.SingleAmount > *r.TotalAmount {
			c.check(valErr(f("single_amount"), RuleRange, "must not exceed total_amount"))
		}
	}
	if r.TotalPayments < 0 {
		c.check(valErr(f("total_payments"), RuleRange, "must be a positive integer"))
	}
	return c.err
}

// ---- canonical serialisation ----------------------------------------------------

// bizMarshal is the canonical biz_content: compact, struct field order, empty fields
// omitted, no HTML escaping, no trailing newline.
func bizMarshal(v any) (string, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}

func bizHash(s string, err error) string {
	if err != nil {
		return "" // unreachable: these types always marshal
	}
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// BizContent is the canonical biz_content of the voucher request. Validate first.
func (p *VoucherCreateParams) BizContent() (string, error) { return bizMarshal(p) }

// CanonicalHash is the SHA-256 (hex) of BizContent: same params, same hash.
func (p *VoucherCreateParams) CanonicalHash() string { return bizHash(p.BizContent()) }

// OrderHash is CanonicalHash without out_request_no: the order's own parameters, to
// recognise a new voucher request for the same order (docs/design.md#order-state-and-idempotency-today).
func (p *VoucherCreateParams) OrderHash() string {
	q := *p
	q.OutRequestNo = ""
	return bizHash(q.BizContent())
}

// BizContent is the canonical biz_content of the app-pay order. Validate first.
func (p *AppPayParams) BizContent() (string, error) { return bizMarshal(p) }

// CanonicalHash is the SHA-256 (hex) of BizContent: same params, same hash.
func (p *AppPayParams) CanonicalHash() string { return bizHash(p.BizContent()) }
