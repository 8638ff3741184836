package orders

import (
	"fmt"
	"strconv"
	"time"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
)

// A pay-and-sign agreement after signing (docs/design.md, the lifecycle contract): its
// charges (商家扣款, L9.1) are operations on the agreement item, so the period and the
// amounts a charge reserves are decided in the same conditional write that creates it.
// The rules below are Alipay's own (L9.1), enforced before any gateway call; every
// decision is a pure function both stores call.

// ParentAgreement: operations of a pay-and-sign agreement, keyed by external_agreement_no.
const ParentAgreement ParentKind = "AGREEMENT"

// DueAgreementSign: a pay-and-sign order was paid but its agreement is not NORMAL yet
// (no dut_user_sign arrived): asked about with alipay.user.agreement.query (L9.2).
const DueAgreementSign DueKind = "AGREEMENT_SIGN"

// Period types of period_rule_params (§10.2).
const (
	PeriodDay   = "DAY"
	PeriodMonth = "MONTH"
)

// Operation.Params / Result keys of a charge.
const (
	// ParamPeriod is the period number k a charge was begun for (decimal).
	ParamPeriod = "period"
)

// PeriodRule is the agreement's period_rule_params as the buyer signed them (§10.2).
// Zero TotalAmount / TotalPayments: no such limit.
type PeriodRule struct {
	PeriodType    string // DAY or MONTH
	Period        int
	ExecuteTime   string // yyyy-MM-dd, a China date: the first plan date
	SingleAmount  alipay.Amount
	TotalAmount   alipay.Amount
	TotalPayments int
}

// ChargeRefusal is a charge that breaks a rule (OpRefused): Code is
// CodeChargeLimitExceeded (Field the limit) or CodeOutsideChargeWindow (From/To the
// window of the current period).
type ChargeRefusal struct {
	Code     string
	Field    string
	Period   int
	From, To time.Time // the window, China dates at 00:00
}

// Refusal codes of a charge (the API's codes).
const (
	CodeChargeLimitExceeded = "CHARGE_LIMIT_EXCEEDED"
	CodeOutsideChargeWindow = "OUTSIDE_CHARGE_WINDOW"
)

// OpRefused: the parent's own rules refuse the operation (OpBeginResult.Refusal says which).
const OpRefused OpBeginOutcome = "REFUSED"

// date parses a China date.
func chinaDate(s string) (time.Time, error) {
	return time.ParseInLocation("2006-01-02", s, alipay.ChinaTime)
}

// PlanDate is the plan date of period k (k ≥ 1): execute_time plus k−1 periods; MONTH
// periods keep the day of month (execute_time's day is at most 28, §10.2), DAY periods
// add days. Alipay moves the plan forward only on a succeeded charge (L9.1).
func (r PeriodRule) PlanDate(k int) (time.Time, error) {
	d, err := chinaDate(r.ExecuteTime)
	if err != nil {
		return time.Time{}, fmt.Errorf("execute_time %q: %w", r.ExecuteTime, err)
	}
	if k < 1 || r.Period < 1 {
		return time.Time{}, fmt.Errorf("period %d of a %d-%s rule", k, r.Period, r.PeriodType)
	}
	n := (k - 1) * r.Period
	switch r.PeriodType {
	case PeriodDay:
		return d.AddDate(0, 0, n), nil
	case PeriodMonth:
		// Month arithmetic on the month count, then the same day: never normalised into
		// the next month because the day is at most 28.
		y, m := d.Year(), int(d.Month())-1+n
		return time.Date(y+m/12, time.Month(m%12+1), d.Day(), 0, 0, 0, 0, alipay.ChinaTime), nil
	}
	return time.Time{}, fmt.Errorf("period_type %q", r.PeriodType)
}

// Window is the charge window of period k: [plan date − days, plan date], China dates.
func (r PeriodRule) Window(k, days int) (from, to time.Time, err error) {
	to, err = r.PlanDate(k)
	if err != nil {
		return time.Time{}, time.Time{}, err
	}
	return to.AddDate(0, 0, -days), to, nil
}

// chinaToday is now's China date at 00:00.
func chinaToday(now time.Time) time.Time {
	y, m, d := now.In(alipay.ChinaTime).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, alipay.ChinaTime)
}

// ChargeTally is what an agreement's charges add up to.
type ChargeTally struct {
	Succeeded       int
	SucceededAmount alipay.Amount
	InFlight        int // PENDING or UNKNOWN: they may still succeed
	InFlightAmount  alipay.Amount
}

// Tally adds up the agreement's charges; FAILED ones count for nothing (L9.1).
func (a *Agreement) Tally() ChargeTally {
	var t ChargeTally
	for _, op := range a.Ops {
		if op.Kind != OpCharge {
			continue
		}
		switch op.State {
		case OpSucceeded:
			t.Succeeded++
			t.SucceededAmount += op.Amount
		case OpPending, OpUnknown:
			t.InFlight++
			t.InFlightAmount += op.Amount
		}
	}
	return t
}

// CurrentPeriod is k = succeeded charges + 1.
func (a *Agreement) CurrentPeriod() int { return a.Tally().Succeeded + 1 }

// Chargeable reports whether the agreement admits charges at all: NORMAL, and not found
// invalid by a charge Alipay refused (ACQ.AGREEMENT_NOT_EXIST / ACQ.AGREEMENT_INVALID).
func (a *Agreement) Chargeable() bool {
	return a.Status == AgreementNormal && a.Invalid == "" && a.AgreementNo != ""
}

// checkCharge applies the rules after "agreement NORMAL" in the contract's order:
// total_payments, total_amount, single_amount, one charge in flight per period, then the
// window in China dates. It returns the period k the charge is for, or the refusal.
func checkCharge(a *Agreement, amount alipay.Amount, now time.Time, windowDays int) (int, *ChargeRefusal) {
	t := a.Tally()
	k := t.Succeeded + 1
	limit := func(field string) (int, *ChargeRefusal) {
		return k, &ChargeRefusal{Code: CodeChargeLimitExceeded, Field: field, Period: k}
	}
	r := a.Rule
	if r == nil {
		// Signed without period rules: only one charge in flight at a time.
		if t.InFlight > 0 {
			return limit("period")
		}
		return k, nil
	}
	switch {
	case r.TotalPayments > 0 && t.Succeeded >= r.TotalPayments:
		return limit("total_payments")
	case r.TotalAmount > 0 && t.SucceededAmount+t.InFlightAmount+amount > r.TotalAmount:
		return limit("total_amount")
	case r.SingleAmount > 0 && amount > r.SingleAmount:
		return limit("single_amount")
	case t.InFlight > 0:
		// The plan moves only on success: a charge in flight is one for period k.
		return limit("period")
	}
	from, to, err := r.Window(k, windowDays)
	if err != nil {
		// A rule we stored cannot be read: refuse rather than guess the window.
		return k, &ChargeRefusal{Code: CodeOutsideChargeWindow, Period: k}
	}
	if today := chinaToday(now); today.Before(from) || today.After(to) {
		return k, &ChargeRefusal{Code: CodeOutsideChargeWindow, Period: k, From: from, To: to}
	}
	return k, nil
}

// Agreements: charges only while chargeable; the rules are checkCharge's (opChecker).
func (a *Agreement) opRule(kind OpKind) opRule {
	if kind == OpCharge {
		return opRule{allowed: a.Chargeable()}
	}
	return opRule{}
}

func (a *Agreement) opPool(string) opPool { return opPool{} }

func (a *Agreement) opStatus() string {
	if a.Invalid != "" && a.Status == AgreementNormal {
		return "INVALID"
	}
	return string(a.Status)
}

// checkOp is the agreement's own begin rule (opChecker): the charge's period, or why not.
func (a *Agreement) checkOp(b OpBegin) (map[string]string, *ChargeRefusal) {
	if b.Kind != OpCharge {
		return nil, nil
	}
	k, ref := checkCharge(a, b.Amount, b.Now, b.ChargeWindowDays)
	if ref != nil {
		return nil, ref
	}
	return map[string]string{ParamPeriod: strconv.Itoa(k)}, nil
}

func (a *Agreement) ownerOf() string { return a.Owner }
func (a *Agreement) opSet() OpSet    { return a.Ops }
func (a *Agreement) setOps(ops OpSet, now time.Time) {
	a.Ops, a.UpdatedAt = ops, normTime(now)
}
func (a *Agreement) requestTaken(string) bool { return false }
func (a *Agreement) receipts() []string       { return a.NotifyIDs }
func (a *Agreement) addReceipt(id string)     { a.NotifyIDs = addReceipt(a.NotifyIDs, id) }

// Sub-codes of a charge refusal that say the agreement cannot be charged any more
// (L9.1): the user must sign again.
var agreementGoneSubCodes = map[string]bool{"ACQ.AGREEMENT_NOT_EXIST": true, "ACQ.AGREEMENT_INVALID": true}

// A charge Alipay refused because the agreement is gone marks the agreement unusable.
func (a *Agreement) opSettled(op Operation) {
	if op.Kind == OpCharge && op.State == OpFailed && agreementGoneSubCodes[op.SubCode] && a.Invalid == "" {
		a.Invalid = op.SubCode
	}
}

func (a *Agreement) recon() *ReconState { return &a.Recon }

// dueTasks: charges whose outcome is unknown, and — once its order is paid — an
// agreement still not NORMAL (no sign notice came): asked a few minutes after payment.
func (a *Agreement) dueTasks() []DueTask {
	var ts []DueTask
	if !a.OrderPaidAt.IsZero() && (a.Status == AgreementPending || a.Status == AgreementTemp) {
		ts = append(ts, DueTask{Kind: DueAgreementSign, At: a.OrderPaidAt.Add(AppPayFirstCheck)})
	}
	return append(ts, opTasks(a.Ops)...)
}

// agreementOrderPaid records that the agreement's pay-and-sign order was paid (the due
// rule's start); false when nothing changes.
func agreementOrderPaid(a *Agreement, outTradeNo string, paidAt time.Time) bool {
	if a.OutTradeNo != outTradeNo || !a.OrderPaidAt.IsZero() || paidAt.IsZero() {
		return false
	}
	a.OrderPaidAt = normTime(paidAt)
	a.ExpiresAt = time.Time{} // money moved: the record is kept
	return true
}

// paidNow reports whether applying a trade moved the order from unpaid to paid.
func paidNow(before, after *AppPayOrder) bool {
	paid := func(s TradeStatus) bool { return s == TradeSuccess || s == TradeFinished }
	return after.ExternalAgreementNo != "" && paid(after.Status) && !paid(before.Status)
}

func publicAgreement(a *Agreement) *Agreement {
	c := a.clone()
	c.Ops = publicOps(a.Ops)
	return c
}

// cloneRule copies a rule pointer.
func cloneRule(r *PeriodRule) *PeriodRule {
	if r == nil {
		return nil
	}
	c := *r
	return &c
}
