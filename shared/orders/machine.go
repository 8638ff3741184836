package orders

import "slices"

// Machine is one state machine: its states and the transitions allowed between them.
// The tables below are the single source of truth for both stores and for the tests.
type Machine[S ~string] struct {
	states []S
	next   map[S][]S
}

func newMachine[S ~string](states []S, next map[S][]S) Machine[S] {
	return Machine[S]{states: states, next: next}
}

// States lists every state in forward order.
func (m Machine[S]) States() []S { return slices.Clone(m.states) }

// Allowed reports whether the machine may move from one state to another. Staying in the
// same state is not a transition.
func (m Machine[S]) Allowed(from, to S) bool { return slices.Contains(m.next[from], to) }

// Terminal reports whether no transition leaves s.
func (m Machine[S]) Terminal(s S) bool { return m.Known(s) && len(m.next[s]) == 0 }

// Known reports whether s is a state of the machine.
func (m Machine[S]) Known(s S) bool { return slices.Contains(m.states, s) }

// TradeStatus is an app-pay order's status; the notified values are Alipay's trade_status.
type TradeStatus string

const (
	TradeCreated      TradeStatus = "CREATED" // orderStr handed out, nothing heard from Alipay
	TradeWaitBuyerPay TradeStatus = "WAIT_BUYER_PAY"
	TradeSuccess      TradeStatus = "TRADE_SUCCESS"
	TradeFinished     TradeStatus = "TRADE_FINISHED"
	TradeClosed       TradeStatus = "TRADE_CLOSED"
)

// TradeMachine: only forward moves. TRADE_SUCCESS and TRADE_FINISHED may be the first
// notice we see (WAIT_BUYER_PAY is not notified by default; a product without refunds
// goes straight to FINISHED); TRADE_CLOSED is an unpaid close or a full refund.
var TradeMachine = newMachine(
	[]TradeStatus{TradeCreated, TradeWaitBuyerPay, TradeSuccess, TradeFinished, TradeClosed},
	map[TradeStatus][]TradeStatus{
		TradeCreated:      {TradeWaitBuyerPay, TradeSuccess, TradeFinished, TradeClosed},
		TradeWaitBuyerPay: {TradeSuccess, TradeFinished, TradeClosed},
		TradeSuccess:      {TradeFinished, TradeClosed},
	})

// PreAuthStatus is a pre-auth order's status.
type PreAuthStatus string

const (
	PreAuthCreated    PreAuthStatus = "CREATED"     // first voucher request is calling the gateway
	PreAuthCodeIssued PreAuthStatus = "CODE_ISSUED" // a QR voucher was issued
	PreAuthAuthorized PreAuthStatus = "AUTHORIZED"  // funds frozen
	PreAuthFinished   PreAuthStatus = "FINISHED"    // nothing frozen, something captured
	PreAuthClosed     PreAuthStatus = "CLOSED"      // nothing frozen, nothing ever captured
)

// PreAuthMachine. FINISHED and AUTHORIZED are reachable from every open state because an
// UNFREEZE/PAY notice may arrive before the FREEZE one (notices are reordered). An
// authorized order ends FINISHED when nothing is frozen and something was captured, and
// CLOSED when nothing is frozen and nothing was ever captured (everything unfrozen, or
// the freeze cancelled, L2.2, L3). A CLOSED notice for a voucher is honoured only while
// nothing was ever frozen, so a late "closed" for an expired earlier voucher cannot close
// an order another voucher authorized (fundAuthTarget).
var PreAuthMachine = newMachine(
	[]PreAuthStatus{PreAuthCreated, PreAuthCodeIssued, PreAuthAuthorized, PreAuthFinished, PreAuthClosed},
	map[PreAuthStatus][]PreAuthStatus{
		PreAuthCreated:    {PreAuthCodeIssued, PreAuthAuthorized, PreAuthFinished, PreAuthClosed},
		PreAuthCodeIssued: {PreAuthAuthorized, PreAuthFinished, PreAuthClosed},
		PreAuthAuthorized: {PreAuthFinished, PreAuthClosed},
	})

// AgreementStatus is a pay-and-sign agreement's status; the notified values are Alipay's.
type AgreementStatus string

const (
	AgreementPending AgreementStatus = "PENDING" // requested with the order, nothing heard yet
	AgreementTemp    AgreementStatus = "TEMP"    // signed, not yet effective
	AgreementNormal  AgreementStatus = "NORMAL"
	AgreementUnsign  AgreementStatus = "UNSIGN"
)

// AgreementMachine: UNSIGN may overtake the sign notice, and is final.
var AgreementMachine = newMachine(
	[]AgreementStatus{AgreementPending, AgreementTemp, AgreementNormal, AgreementUnsign},
	map[AgreementStatus][]AgreementStatus{
		AgreementPending: {AgreementTemp, AgreementNormal, AgreementUnsign},
		AgreementTemp:    {AgreementNormal, AgreementUnsign},
		AgreementNormal:  {AgreementUnsign},
	})

// OperationStatus is a fund operation's status (fund_auth_freeze `status`).
type OperationStatus string

const (
	OperationInit    OperationStatus = "INIT"
	OperationSuccess OperationStatus = "SUCCESS"
	OperationClosed  OperationStatus = "CLOSED"
)

// OperationMachine: INIT → SUCCESS | CLOSED, never back.
var OperationMachine = newMachine(
	[]OperationStatus{OperationInit, OperationSuccess, OperationClosed},
	map[OperationStatus][]OperationStatus{
		OperationInit: {OperationSuccess, OperationClosed},
	})

// OperationType is a fund operation's type (fund_auth_freeze `operation_type`).
type OperationType string

const (
	OperationFreeze   OperationType = "FREEZE"
	OperationUnfreeze OperationType = "UNFREEZE"
	OperationPay      OperationType = "PAY"
)

func (t OperationType) valid() bool {
	return t == OperationFreeze || t == OperationUnfreeze || t == OperationPay
}

// RequestState is the state of one voucher request (out_request_no).
type RequestState string

const (
	RequestInProgress    RequestState = "IN_PROGRESS"    // a caller holds the lease and is calling the gateway
	RequestIssued        RequestState = "ISSUED"         // the voucher reply is stored for replays
	RequestBusinessError RequestState = "BUSINESS_ERROR" // a verified business error, replayed as such
	RequestUnknown       RequestState = "UNKNOWN"        // gateway outcome unknown; a retry may take the lease again
	// RequestNotCreated: the outcome was unknown and Alipay's detail query says the
	// voucher does not exist; an identical retry sends it again.
	RequestNotCreated RequestState = "NOT_CREATED"
)

// opState is the voucher request's state in the operation model (operation.go): the
// voucher keeps its own names and item layout, and shares the lease rules.
func (s RequestState) opState() OpState {
	switch s {
	case RequestInProgress:
		return OpPending
	case RequestIssued:
		return OpSucceeded
	case RequestBusinessError:
		return OpFailed
	}
	return OpUnknown
}
