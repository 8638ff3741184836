package alipay

// The calls on a signed agreement (L9): a deduction is alipay.trade.pay with
// agreement_params (L9.1); the agreement is read with alipay.user.agreement.query (L9.2)
// and ended with alipay.user.agreement.unsign (L9.3).

// Field limits of the charge body (L9.1, as a capture's, L1.2).
const maxChargeSubject = 256

// ChargeParams is the body of POST /v1/agreements/{external_agreement_no}/charges.
type ChargeParams struct {
	OutTradeNo string `json:"out_trade_no,omitempty"`
	Amount     Amount `json:"amount,omitempty"`
	Subject    string `json:"subject,omitempty"`
}

// DecodeCharge decodes a charge body strictly; every error is a *FieldError.
func DecodeCharge(body []byte) (*ChargeParams, error) {
	p := &ChargeParams{}
	err := bizDecodeBody(body, []bizField{
		{"out_trade_no", bizString(&p.OutTradeNo)},
		{"amount", bizAmount(&p.Amount)},
		{"subject", bizString(&p.Subject)},
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// Validate checks the charge body (L9.1: out_trade_no, total_amount and subject as
// trade.pay's).
func (p *ChargeParams) Validate() error {
	var c valChecker
	c.check(valOutTradeNo("out_trade_no", p.OutTradeNo))
	c.check(valAmount("amount", p.Amount))
	c.check(valSubject("subject", p.Subject, maxChargeSubject))
	return c.result()
}

// CanonicalHash identifies the charge's parameters.
func (p *ChargeParams) CanonicalHash() string { return bizHash(bizMarshal(p)) }

// AgreementParams names the agreement a deduction charges (L9.1).
type AgreementParams struct {
	AgreementNo string `json:"agreement_no"`
}

// AgreementQuery is alipay.user.agreement.query (L9.2): by agreement_no (every other
// field is then ignored), or before the sign notice by the signing's
// personal_product_code, sign_scene, external_agreement_no and the user.
type AgreementQuery struct {
	AgreementNo         string `json:"agreement_no,omitempty"`
	PersonalProductCode string `json:"personal_product_code,omitempty"`
	AlipayUserID        string `json:"alipay_user_id,omitempty"`
	AlipayOpenID        string `json:"alipay_open_id,omitempty"`
	SignScene           string `json:"sign_scene,omitempty"`
	ExternalAgreementNo string `json:"external_agreement_no,omitempty"`
}

func (r *AgreementQuery) Method() string              { return MethodAgreementQuery }
func (r *AgreementQuery) BizContent() (string, error) { return bizMarshal(r) }

// Echoes: the query reply names the agreement (L9.2) by the number it was asked with.
func (r *AgreementQuery) Echoes() []Echo {
	if r.AgreementNo != "" {
		return []Echo{{"agreement_no", r.AgreementNo}}
	}
	return []Echo{{"external_agreement_no", r.ExternalAgreementNo}}
}

// AgreementQueryResult is the alipay_user_agreement_query_response node (L9.2).
type AgreementQueryResult struct {
	AgreementNo         string `json:"agreement_no"`
	Status              string `json:"status"`
	ExternalAgreementNo string `json:"external_agreement_no"`
	PersonalProductCode string `json:"personal_product_code"`
	SignScene           string `json:"sign_scene"`
	SignTime            string `json:"sign_time"`
	ValidTime           string `json:"valid_time"`
	InvalidTime         string `json:"invalid_time"`
	PrincipalID         string `json:"principal_id"`
	PrincipalOpenID     string `json:"principal_open_id"`
	NextDeductTime      string `json:"next_deduct_time"`
	LastDeductTime      string `json:"last_deduct_time"`
}

// AgreementUnsign is alipay.user.agreement.unsign by agreement_no (L9.3).
type AgreementUnsign struct {
	AgreementNo string `json:"agreement_no"`
}

func (r *AgreementUnsign) Method() string              { return MethodAgreementUnsign }
func (r *AgreementUnsign) BizContent() (string, error) { return bizMarshal(r) }

// Echoes: the unsign reply has no business fields (L9.3).
func (r *AgreementUnsign) Echoes() []Echo { return nil }

// AgreementUnsignResult is the alipay_user_agreement_unsign_response node: code/msg only.
type AgreementUnsignResult struct{}

// CheckExternalAgreementNo checks an external_agreement_no path parameter as the sign
// request's (§10.2: letters and digits, at most 32).
func CheckExternalAgreementNo(field, v string) error {
	if fe := valPattern(field, v, true, 32, valReAgreementNo, "may contain only letters and digits"); fe != nil {
		return fe
	}
	return nil
}
