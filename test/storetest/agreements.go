package storetest

import (
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
	"github.com/alipay-serverless/alipay-serverless/shared/orders"
)

// Charges of a signed pay-and-sign agreement (docs/design.md, the lifecycle contract):
// operations on the agreement item whose period and amounts are decided in the begin's
// conditional write.

// chargeDay is inside period 1's window: the plan date is 2025-06-05 (China), the
// window with 3 days 06-02..06-05; 12:00 China time.
var chargeDay = time.Date(2025, 6, 4, 4, 0, 0, 0, time.UTC)

func chargeRule() *orders.PeriodRule {
	return &orders.PeriodRule{PeriodType: orders.PeriodMonth, Period: 1, ExecuteTime: "2025-06-05",
		SingleAmount: 1000, TotalAmount: 2500, TotalPayments: 3}
}

// signed returns a store holding a NORMAL agreement with chargeRule.
func signed(t *testing.T, newStore func(t *testing.T) orders.Store) orders.Store {
	s := newStore(t)
	o := signOrder(tradeKey, "h")
	o.AgreementRule = chargeRule()
	mustCreate(t, s, o)
	mustApply(t, applyAgreement(t, s), agreementNotice("sign", orders.AgreementNormal), orders.Applied)
	return s
}

func chargeBegin(req string, amt alipay.Amount, now time.Time) orders.OpBegin {
	return orders.OpBegin{
		OpRef: orders.OpRef{Parent: orders.ParentAgreement, OrderNo: agreementNo, Kind: orders.OpCharge, RequestNo: req},
		Owner: owner, ParamsHash: "charge-" + req + "-" + amt.String(), Amount: amt,
		Now: now, LeaseUntil: now.Add(10 * time.Second), ChargeWindowDays: 3,
		Params: map[string]string{"subject": "monthly"},
	}
}

func refusedFor(t *testing.T, r orders.OpBeginResult, code, field string) {
	t.Helper()
	if r.Outcome != orders.OpRefused || r.Refusal == nil || r.Refusal.Code != code || r.Refusal.Field != field {
		t.Fatalf("begin = %+v (refusal %+v), want %s %q", r, r.Refusal, code, field)
	}
}

func testAgreementCharges(t *testing.T, newStore func(t *testing.T) orders.Store) {
	t.Run("the_begin_reserves_the_period_and_a_success_moves_it", func(t *testing.T) {
		s := signed(t, newStore)
		r := mustBeginOp(t, s, chargeBegin("C1", 1000, chargeDay), orders.OpAcquired)
		if r.Op.Params[orders.ParamPeriod] != "1" || r.Op.Params["subject"] != "monthly" {
			t.Fatalf("params %v", r.Op.Params)
		}
		refusedFor(t, mustBeginOp(t, s, chargeBegin("C2", 1000, chargeDay), orders.OpRefused), orders.CodeChargeLimitExceeded, "period")
		ref := chargeBegin("C1", 1000, chargeDay).OpRef
		if _, err := s.CompleteOperation(t.Context(), ref, r.Token, succeeded(chargeDay.Add(time.Second))); err != nil {
			t.Fatal(err)
		}
		a := getAgreement(t, s)
		if a.CurrentPeriod() != 2 || a.Tally().SucceededAmount != 1000 {
			t.Fatalf("agreement after a success: period %d, tally %+v", a.CurrentPeriod(), a.Tally())
		}
		// Period 2's plan date is 2025-07-05: the same day is outside its window.
		refused := mustBeginOp(t, s, chargeBegin("C2", 1000, chargeDay), orders.OpRefused)
		refusedFor(t, refused, orders.CodeOutsideChargeWindow, "")
		if got := refused.Refusal.From.Format("2006-01-02") + "/" + refused.Refusal.To.Format("2006-01-02"); got != "2025-07-02/2025-07-05" {
			t.Fatalf("window %s", got)
		}
		// The identical retry of the succeeded charge replays it.
		mustBeginOp(t, s, chargeBegin("C1", 1000, chargeDay), orders.OpReplay)
	})
	t.Run("concurrent_charges_in_one_period_acquire_once", func(t *testing.T) {
		s := signed(t, newStore)
		const n = 8
		var wg sync.WaitGroup
		outcomes := make([]orders.OpBeginOutcome, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, err := s.BeginOperation(t.Context(), chargeBegin("R"+strconv.Itoa(i), 500, chargeDay))
				if err != nil {
					t.Errorf("begin %d: %v", i, err)
				}
				outcomes[i] = r.Outcome
			}()
		}
		wg.Wait()
		acquired := 0
		for _, o := range outcomes {
			switch o {
			case orders.OpAcquired:
				acquired++
			case orders.OpRefused:
			default:
				t.Errorf("outcome %s", o)
			}
		}
		if acquired != 1 {
			t.Fatalf("%d charges acquired in one period, want 1 (%v)", acquired, outcomes)
		}
	})
	t.Run("a_failed_charge_releases_its_period_and_amount", func(t *testing.T) {
		s := signed(t, newStore)
		r := mustBeginOp(t, s, chargeBegin("C1", 1000, chargeDay), orders.OpAcquired)
		out := orders.OpOutcome{State: orders.OpFailed, Code: "40004", SubCode: "ACQ.BUYER_BALANCE_NOT_ENOUGH", Now: chargeDay}
		if _, err := s.CompleteOperation(t.Context(), chargeBegin("C1", 1000, chargeDay).OpRef, r.Token, out); err != nil {
			t.Fatal(err)
		}
		r2 := mustBeginOp(t, s, chargeBegin("C2", 1000, chargeDay), orders.OpAcquired)
		if r2.Op.Params[orders.ParamPeriod] != "1" {
			t.Fatalf("period after a failure %q, want 1", r2.Op.Params[orders.ParamPeriod])
		}
	})
	t.Run("an_agreement_alipay_says_is_gone_admits_no_charge", func(t *testing.T) {
		s := signed(t, newStore)
		r := mustBeginOp(t, s, chargeBegin("C1", 1000, chargeDay), orders.OpAcquired)
		out := orders.OpOutcome{State: orders.OpFailed, Code: "40004", SubCode: "ACQ.AGREEMENT_NOT_EXIST", Now: chargeDay}
		if _, err := s.CompleteOperation(t.Context(), chargeBegin("C1", 1000, chargeDay).OpRef, r.Token, out); err != nil {
			t.Fatal(err)
		}
		if a := getAgreement(t, s); a.Invalid != "ACQ.AGREEMENT_NOT_EXIST" || a.Chargeable() {
			t.Fatalf("agreement %+v", a)
		}
		if r := mustBeginOp(t, s, chargeBegin("C2", 1000, chargeDay), orders.OpNotAllowed); r.Status != "INVALID" {
			t.Fatalf("status %q", r.Status)
		}
	})
	t.Run("an_unsigned_agreement_admits_no_charge", func(t *testing.T) {
		s := signed(t, newStore)
		mustApply(t, applyAgreement(t, s), agreementNotice("unsign", orders.AgreementUnsign), orders.Applied)
		mustBeginOp(t, s, chargeBegin("C1", 1000, chargeDay), orders.OpNotAllowed)
	})
	t.Run("a_charge_claims_its_out_trade_no_and_its_notice_settles_it", func(t *testing.T) {
		s := signed(t, newStore)
		mustBeginOp(t, s, chargeBegin("C1", 1000, chargeDay), orders.OpAcquired)
		ref := chargeBegin("C1", 1000, chargeDay).OpRef
		got, err := s.LookupOutTradeNo(t.Context(), "C1")
		if err != nil || got != ref {
			t.Fatalf("LookupOutTradeNo = %+v, %v", got, err)
		}
		// The app-pay order's own number is not a charge's.
		mustBeginOp(t, s, chargeBegin(tradeKey, 1000, chargeDay), orders.OpConflict)
		n := orders.OpNotice{NotifyID: "n1", OpRef: ref, Result: map[string]string{orders.ResultTradeNo: "2025060422001400000000000009"},
			TradeNo: "2025060422001400000000000009", Now: chargeDay.Add(time.Minute)}
		if res, err := s.ApplyOpNotice(t.Context(), n); err != nil || res != orders.Applied {
			t.Fatalf("ApplyOpNotice = %s, %v", res, err)
		}
		if a := getAgreement(t, s); a.Tally().Succeeded != 1 {
			t.Fatalf("tally %+v", a.Tally())
		}
	})
	t.Run("an_unknown_charge_is_due_on_the_agreement", func(t *testing.T) {
		s := signed(t, newStore)
		r := mustBeginOp(t, s, chargeBegin("C1", 1000, chargeDay), orders.OpAcquired)
		ref := chargeBegin("C1", 1000, chargeDay).OpRef
		if _, err := s.CompleteOperation(t.Context(), ref, r.Token, orders.OpOutcome{State: orders.OpUnknown, Now: chargeDay}); err != nil {
			t.Fatal(err)
		}
		due, err := s.ListDue(t.Context(), chargeDay.Add(time.Minute), 10)
		var ref2 *orders.DueRef
		for _, d := range due {
			if d.Parent == orders.ParentAgreement && d.OrderNo == agreementNo {
				ref2 = &d
			}
		}
		if err != nil || ref2 == nil {
			t.Fatalf("ListDue = %+v, %v", due, err)
		}
		claim, err := s.ClaimDue(t.Context(), *ref2, chargeDay.Add(time.Minute), chargeDay.Add(2*time.Minute))
		if err != nil || len(claim.Tasks) != 1 || claim.Tasks[0].Op != orders.OpCharge || claim.Tasks[0].RequestNo != "C1" {
			t.Fatalf("ClaimDue = %+v, %v", claim, err)
		}
	})
	t.Run("a_paid_order_whose_agreement_is_not_normal_is_due", func(t *testing.T) {
		s := newStore(t)
		o := signOrder(tradeKey, "h")
		o.AgreementRule = chargeRule()
		mustCreate(t, s, o)
		if due, _ := s.ListDue(t.Context(), t0.Add(time.Hour), 10); len(due) != 1 || due[0].Parent != orders.ParentAppPay {
			t.Fatalf("before payment: due %+v", due)
		}
		mustApply(t, applyTrade(t, s), trade("paid", orders.TradeSuccess), orders.Applied)
		a := getAgreement(t, s)
		if a.OrderPaidAt.IsZero() || a.Rule == nil || *a.Rule != *chargeRule() {
			t.Fatalf("agreement after payment %+v", a)
		}
		at := a.OrderPaidAt.Add(orders.AppPayFirstCheck)
		if due, _ := s.ListDue(t.Context(), at.Add(-time.Second), 10); len(due) != 0 {
			t.Fatalf("due before its time: %+v", due)
		}
		due, err := s.ListDue(t.Context(), at, 10)
		if err != nil || len(due) != 1 || due[0].Parent != orders.ParentAgreement {
			t.Fatalf("ListDue = %+v, %v", due, err)
		}
		claim, err := s.ClaimDue(t.Context(), due[0], at, at.Add(time.Minute))
		if err != nil || len(claim.Tasks) != 1 || claim.Tasks[0].Kind != orders.DueAgreementSign {
			t.Fatalf("ClaimDue = %+v, %v", claim, err)
		}
		mustApply(t, applyAgreement(t, s), agreementNotice("sign", orders.AgreementNormal), orders.Applied)
		if due, _ := s.ListDue(t.Context(), at.Add(time.Hour), 10); len(due) != 0 {
			t.Fatalf("still due once NORMAL: %+v", due)
		}
	})
}
