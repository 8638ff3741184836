package orders

import (
	"testing"
	"time"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
)

// utc is a wall-clock instant in UTC, as Lambda's process clock gives it.
func utc(y int, m time.Month, d, h, min int) time.Time {
	return time.Date(y, m, d, h, min, 0, 0, time.UTC)
}

func agreementWith(rule *PeriodRule, ops ...Operation) *Agreement {
	a := &Agreement{ExternalAgreementNo: "A1", AgreementNo: "20250601000000000001", Status: AgreementNormal, Rule: rule, Ops: OpSet{}}
	for _, op := range ops {
		op.Kind = OpCharge
		a.Ops[opKey(OpCharge, op.RequestNo)] = op
	}
	return a
}

func charged(no string, amt alipay.Amount, st OpState) Operation {
	return Operation{RequestNo: no, Amount: amt, State: st, Params: map[string]string{ParamPeriod: "1"}}
}

func TestPlanDateKeepsTheDayOfMonthAndCountsDays(t *testing.T) {
	tests := []struct {
		name string
		rule PeriodRule
		k    int
		want string
	}{
		{"month_first_period_is_execute_time", PeriodRule{PeriodType: PeriodMonth, Period: 1, ExecuteTime: "2025-01-28"}, 1, "2025-01-28"},
		{"month_28th_through_february", PeriodRule{PeriodType: PeriodMonth, Period: 1, ExecuteTime: "2025-01-28"}, 2, "2025-02-28"},
		{"month_28th_in_march_after_february", PeriodRule{PeriodType: PeriodMonth, Period: 1, ExecuteTime: "2025-01-28"}, 3, "2025-03-28"},
		{"month_over_the_year_end", PeriodRule{PeriodType: PeriodMonth, Period: 1, ExecuteTime: "2025-11-15"}, 3, "2026-01-15"},
		{"quarterly_months", PeriodRule{PeriodType: PeriodMonth, Period: 3, ExecuteTime: "2025-12-01"}, 5, "2026-12-01"},
		{"seven_days_over_a_short_february", PeriodRule{PeriodType: PeriodDay, Period: 7, ExecuteTime: "2025-02-25"}, 2, "2025-03-04"},
		{"seven_days_over_a_leap_february", PeriodRule{PeriodType: PeriodDay, Period: 7, ExecuteTime: "2024-02-25"}, 2, "2024-03-03"},
		{"thirty_days_over_a_month_end", PeriodRule{PeriodType: PeriodDay, Period: 30, ExecuteTime: "2025-01-31"}, 3, "2025-04-01"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.rule.PlanDate(tt.k)
			if err != nil || got.Format("2006-01-02") != tt.want {
				t.Fatalf("PlanDate(%d) = %s, %v; want %s", tt.k, got.Format("2006-01-02"), err, tt.want)
			}
		})
	}
}

// TestChargeRules: the first rule broken, in the contract's order, is the refusal; the
// window is in China dates whatever the process clock's zone.
func TestChargeRules(t *testing.T) {
	monthly := &PeriodRule{PeriodType: PeriodMonth, Period: 1, ExecuteTime: "2025-06-05", SingleAmount: 1000, TotalAmount: 2500, TotalPayments: 3}
	weekly := &PeriodRule{PeriodType: PeriodDay, Period: 7, ExecuteTime: "2025-02-26", SingleAmount: 500}
	inWindow := utc(2025, 6, 4, 4, 0)
	tests := []struct {
		name      string
		a         *Agreement
		amount    alipay.Amount
		now       time.Time
		window    int
		wantCode  string
		wantField string
		wantK     int
	}{
		{name: "inside_the_window", a: agreementWith(monthly), amount: 1000, now: inWindow, window: 3, wantK: 1},
		// 2025-06-01 15:59 UTC is 23:59 on 06-01 in China: the day before the window.
		{name: "23_59_china_the_day_before_the_window_opens", a: agreementWith(monthly), amount: 100, now: utc(2025, 6, 1, 15, 59), window: 3, wantCode: CodeOutsideChargeWindow, wantK: 1},
		// 16:01 UTC is 00:01 on 06-02 in China: the window's first day.
		{name: "00_01_china_on_the_window_s_first_day", a: agreementWith(monthly), amount: 100, now: utc(2025, 6, 1, 16, 1), window: 3, wantK: 1},
		{name: "23_59_china_on_the_plan_date", a: agreementWith(monthly), amount: 100, now: utc(2025, 6, 5, 15, 59), window: 3, wantK: 1},
		{name: "00_01_china_the_day_after_the_plan_date", a: agreementWith(monthly), amount: 100, now: utc(2025, 6, 5, 16, 1), window: 3, wantCode: CodeOutsideChargeWindow, wantK: 1},
		{name: "window_zero_is_the_plan_date_only", a: agreementWith(monthly), amount: 100, now: inWindow, window: 0, wantCode: CodeOutsideChargeWindow, wantK: 1},
		{name: "after_a_success_the_next_month_s_window", a: agreementWith(monthly, charged("C1", 1000, OpSucceeded)), amount: 1000, now: utc(2025, 7, 2, 4, 0), window: 3, wantK: 2},
		{name: "after_a_success_this_month_is_outside", a: agreementWith(monthly, charged("C1", 1000, OpSucceeded)), amount: 1000, now: inWindow, window: 3, wantCode: CodeOutsideChargeWindow, wantK: 2},
		{name: "a_failed_charge_keeps_the_period", a: agreementWith(monthly, charged("C1", 1000, OpFailed)), amount: 1000, now: inWindow, window: 3, wantK: 1},
		{name: "a_pending_charge_holds_the_period", a: agreementWith(monthly, charged("C1", 100, OpPending)), amount: 100, now: inWindow, window: 3, wantCode: CodeChargeLimitExceeded, wantField: "period", wantK: 1},
		{name: "an_unknown_charge_holds_the_period", a: agreementWith(monthly, charged("C1", 100, OpUnknown)), amount: 100, now: inWindow, window: 3, wantCode: CodeChargeLimitExceeded, wantField: "period", wantK: 1},
		{name: "single_amount", a: agreementWith(monthly), amount: 1001, now: inWindow, window: 3, wantCode: CodeChargeLimitExceeded, wantField: "single_amount", wantK: 1},
		{name: "total_amount_before_single_amount", a: agreementWith(monthly, charged("C1", 1000, OpSucceeded), charged("C2", 1000, OpSucceeded)),
			amount: 1001, now: utc(2025, 8, 4, 4, 0), window: 3, wantCode: CodeChargeLimitExceeded, wantField: "total_amount", wantK: 3},
		{name: "total_amount_counts_charges_in_flight", a: agreementWith(monthly, charged("C1", 1000, OpSucceeded), charged("C2", 1000, OpUnknown)),
			amount: 600, now: utc(2025, 7, 4, 4, 0), window: 3, wantCode: CodeChargeLimitExceeded, wantField: "total_amount", wantK: 2},
		{name: "total_payments_first", a: agreementWith(monthly, charged("C1", 100, OpSucceeded), charged("C2", 100, OpSucceeded), charged("C3", 100, OpSucceeded)),
			amount: 5000, now: utc(2025, 1, 1, 0, 0), window: 3, wantCode: CodeChargeLimitExceeded, wantField: "total_payments", wantK: 4},
		{name: "weekly_second_period_over_the_month_end", a: agreementWith(weekly, charged("W1", 500, OpSucceeded)), amount: 500, now: utc(2025, 3, 5, 3, 0), window: 3, wantK: 2},
		{name: "weekly_before_the_second_window", a: agreementWith(weekly, charged("W1", 500, OpSucceeded)), amount: 500, now: utc(2025, 2, 28, 15, 59), window: 3, wantCode: CodeOutsideChargeWindow, wantK: 2},
		{name: "no_rule_one_charge_at_a_time", a: agreementWith(nil, charged("C1", 100, OpPending)), amount: 100, now: inWindow, window: 3, wantCode: CodeChargeLimitExceeded, wantField: "period", wantK: 1},
		{name: "no_rule_no_window", a: agreementWith(nil, charged("C1", 100, OpSucceeded)), amount: 100, now: utc(2030, 1, 1, 0, 0), window: 3, wantK: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, r := checkCharge(tt.a, tt.amount, tt.now, tt.window)
			code, field := "", ""
			if r != nil {
				code, field = r.Code, r.Field
			}
			if code != tt.wantCode || field != tt.wantField || k != tt.wantK {
				t.Fatalf("checkCharge = k %d, %+v; want k %d, %s %q", k, r, tt.wantK, tt.wantCode, tt.wantField)
			}
		})
	}
}
