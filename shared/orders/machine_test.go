package orders

import (
	"slices"
	"testing"
)

// checkForwardOnly asserts every allowed move goes later in the state list (so nothing
// regresses and no cycle exists), and that exactly the given states are terminal.
func checkForwardOnly[S ~string](t *testing.T, m Machine[S], terminal ...S) {
	t.Helper()
	states := m.States()
	for i, from := range states {
		for j, to := range states {
			if m.Allowed(from, to) && j <= i {
				t.Errorf("%s → %s moves backwards", from, to)
			}
		}
		if m.Terminal(from) != slices.Contains(terminal, from) {
			t.Errorf("%s terminal = %v", from, m.Terminal(from))
		}
	}
	for from, tos := range m.next {
		for _, to := range append([]S{from}, tos...) {
			if !m.Known(to) {
				t.Errorf("transition names unknown state %s", to)
			}
		}
	}
}

func TestMachinesOnlyMoveForward(t *testing.T) {
	t.Run("trade", func(t *testing.T) { checkForwardOnly(t, TradeMachine, TradeFinished, TradeClosed) })
	t.Run("pre_auth", func(t *testing.T) { checkForwardOnly(t, PreAuthMachine, PreAuthFinished, PreAuthClosed) })
	t.Run("agreement", func(t *testing.T) { checkForwardOnly(t, AgreementMachine, AgreementUnsign) })
	t.Run("operation", func(t *testing.T) { checkForwardOnly(t, OperationMachine, OperationSuccess, OperationClosed) })
}

func TestMachinesMatchProtocol(t *testing.T) {
	cases := []struct {
		name    string
		allowed bool
		got     bool
	}{
		// §8.5: FINISHED may be the first status seen; CLOSED follows SUCCESS on a full refund.
		{"trade_created_to_finished", true, TradeMachine.Allowed(TradeCreated, TradeFinished)},
		{"trade_wait_to_finished", true, TradeMachine.Allowed(TradeWaitBuyerPay, TradeFinished)},
		{"trade_success_to_closed", true, TradeMachine.Allowed(TradeSuccess, TradeClosed)},
		{"trade_finished_to_closed", false, TradeMachine.Allowed(TradeFinished, TradeClosed)},
		{"trade_success_to_wait", false, TradeMachine.Allowed(TradeSuccess, TradeWaitBuyerPay)},
		// §8.6: a freeze may be reported before the voucher reply was recorded.
		{"pre_auth_created_to_authorized", true, PreAuthMachine.Allowed(PreAuthCreated, PreAuthAuthorized)},
		{"pre_auth_code_issued_to_closed", true, PreAuthMachine.Allowed(PreAuthCodeIssued, PreAuthClosed)},
		// L2.2: fully unfrozen without a capture is CLOSED, with one FINISHED.
		{"pre_auth_authorized_to_closed", true, PreAuthMachine.Allowed(PreAuthAuthorized, PreAuthClosed)},
		{"pre_auth_authorized_to_finished", true, PreAuthMachine.Allowed(PreAuthAuthorized, PreAuthFinished)},
		{"pre_auth_finished_to_authorized", false, PreAuthMachine.Allowed(PreAuthFinished, PreAuthAuthorized)},
		// §8.7: TEMP precedes NORMAL; UNSIGN is final.
		{"agreement_temp_to_normal", true, AgreementMachine.Allowed(AgreementTemp, AgreementNormal)},
		{"agreement_normal_to_temp", false, AgreementMachine.Allowed(AgreementNormal, AgreementTemp)},
		{"agreement_unsign_to_normal", false, AgreementMachine.Allowed(AgreementUnsign, AgreementNormal)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.got != c.allowed {
				t.Fatalf("allowed = %v, want %v", c.got, c.allowed)
			}
		})
	}
}
