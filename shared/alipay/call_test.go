package alipay

import (
	"context"
	"errors"
	"testing"
)

// stubExecutor answers every call with a fixed reply or error and records the call.
type stubExecutor struct {
	reply       *Reply
	err         error
	method, biz string
	calls       int
}

func (s *stubExecutor) Execute(_ context.Context, _ *Credentials, method, biz string, _ CallOptions) (*Reply, error) {
	s.calls++
	s.method, s.biz = method, biz
	return s.reply, s.err
}

func okReply(node string) *Reply { return &Reply{Code: "10000", Msg: "Success", Node: []byte(node)} }

func TestCallDecodesVerifiedNodeAndChecksEchoes(t *testing.T) {
	refund := &TradeRefund{OutTradeNo: "T1", RefundAmount: MustAmount("1.00"), OutRequestNo: "RF1"}
	tests := []struct {
		name    string
		reply   *Reply
		err     error
		wantErr func(error) bool
	}{
		{name: "ours_decodes", reply: okReply(`{"code":"10000","msg":"Success","out_trade_no":"T1","trade_no":"2025","fund_change":"Y","refund_fee":"1.00"}`)},
		{name: "other_trade_is_unknown_outcome", reply: okReply(`{"code":"10000","out_trade_no":"T2","fund_change":"Y"}`),
			wantErr: func(err error) bool { return errors.Is(err, ErrUnknownOutcome) }},
		{name: "missing_echo_is_unknown_outcome", reply: okReply(`{"code":"10000","fund_change":"Y"}`),
			wantErr: func(err error) bool { return errors.Is(err, ErrUnknownOutcome) }},
		{name: "non_string_echo_is_unknown_outcome", reply: okReply(`{"code":"10000","out_trade_no":1}`),
			wantErr: func(err error) bool { return errors.Is(err, ErrUnknownOutcome) }},
		{name: "undecodable_field_is_unknown_outcome", reply: okReply(`{"code":"10000","out_trade_no":"T1","refund_fee":"1.001"}`),
			wantErr: func(err error) bool { return errors.Is(err, ErrUnknownOutcome) }},
		{name: "business_error_passes_through", err: &BusinessError{Code: "40004", SubCode: "ACQ.TRADE_HAS_FINISHED"},
			wantErr: func(err error) bool {
				var be *BusinessError
				return errors.As(err, &be) && be.SubCode == "ACQ.TRADE_HAS_FINISHED"
			}},
		{name: "unknown_outcome_passes_through", err: &UnknownOutcomeError{Reason: gwReasonTimeout},
			wantErr: func(err error) bool { return errors.Is(err, ErrUnknownOutcome) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ex := &stubExecutor{reply: tt.reply, err: tt.err}
			got, err := Call[TradeRefundResult](t.Context(), ex, nil, refund, CallOptions{})
			if ex.method != MethodTradeRefund || ex.biz != `{"out_trade_no":"T1","refund_amount":"1.00","out_request_no":"RF1"}` {
				t.Fatalf("sent %s %s", ex.method, ex.biz)
			}
			if tt.wantErr != nil {
				if got != nil || !tt.wantErr(err) {
					t.Fatalf("Call = %+v, %v", got, err)
				}
				return
			}
			if err != nil || !got.Refunded() || got.RefundFee != MustAmount("1.00") || got.TradeNo != "2025" {
				t.Fatalf("Call = %+v, %v", got, err)
			}
		})
	}
}

func TestCallEchoesOfEachRequest(t *testing.T) {
	tests := []struct {
		req  Request
		node string // a reply about another request
	}{
		{&VoucherCreateParams{OutOrderNo: "O1", OutRequestNo: "R1"}, `{"out_order_no":"O1","out_request_no":"R2","code_value":"x"}`},
		{&VoucherCreateParams{OutOrderNo: "O1", OutRequestNo: "R1"}, `{"out_order_no":"O2","out_request_no":"R1","code_value":"x"}`},
		{&FundAuthDetailQuery{OutOrderNo: "O1", OutRequestNo: "R1"}, `{"out_order_no":"O1","out_request_no":"R9"}`},
		{&TradeQuery{OutTradeNo: "T1"}, `{"out_trade_no":"T9","trade_status":"TRADE_SUCCESS"}`},
	}
	for _, tt := range tests {
		t.Run(tt.req.Method(), func(t *testing.T) {
			_, err := DecodeReply[map[string]any](okReply(tt.node), tt.req)
			var ue *UnknownOutcomeError
			if !errors.As(err, &ue) || ue.Reason != gwReasonOtherRequest {
				t.Fatalf("err = %v, want unknown outcome (%s)", err, gwReasonOtherRequest)
			}
		})
	}
}

func TestClassifySubCode(t *testing.T) {
	tests := []struct {
		method, subCode string
		want            SubCodeClass
	}{
		// Gateway-level system errors are unknown for every method, listed or not.
		{MethodTradeRefund, "ACQ.SYSTEM_ERROR", Unknown},
		{MethodAgreementQuery, "isp.unknow-error", Unknown},
		{"alipay.some.future.method", "SYSTEM_ERROR", Unknown},
		// §9.2 voucher create.
		{MethodVoucherCreate, "SYSTEM_ERROR", Unknown},
		{MethodVoucherCreate, "UNIQUE_VIOLATION", State},
		{MethodVoucherCreate, "FREEZE_ALREADY_SUCCESS", State},
		{MethodVoucherCreate, "EXIST_FORBIDDEN_WORD", Fail},
		{MethodVoucherCreate, "PAYEE_NOT_EXIST", Fail},
		// L1.4 capture.
		{MethodTradePay, "ACQ.TRADE_HAS_SUCCESS", State},
		{MethodTradePay, "ACQ.AUTH_ORDER_HAS_FINISHED", State},
		{MethodTradePay, "ACQ.AUTH_AMOUNT_NOT_ENOUGH", State},
		{MethodTradePay, "ACQ.AUTH_ORDER_HAS_CLOSED", Fail},
		{MethodTradePay, "ACQ.CONTEXT_INCONSISTENT", Fail},
		{MethodTradePay, "ACQ.CYCLE_PAY_DATE_NOT_MATCH", Fail}, // L9.1
		// L2.3 unfreeze.
		{MethodFundAuthUnfreeze, "REQUEST_AMOUNT_EXCEED", State},
		{MethodFundAuthUnfreeze, "ORDER_ALREADY_FINISH", State},
		{MethodFundAuthUnfreeze, "ORDER_ALREADY_CLOSED", State},
		{MethodFundAuthUnfreeze, "ILLEGAL_STATUS", State},
		{MethodFundAuthUnfreeze, "AUTH_ORDER_NOT_EXIST", Fail},
		{MethodFundAuthUnfreeze, "ILLEGAL_ARGUMENT", Fail},
		// L3 cancel.
		{MethodFundAuthCancel, "REQUEST_AMOUNT_EXCEED", State},
		{MethodFundAuthCancel, "ORDER_ALREADY_FINISH", State},
		{MethodFundAuthCancel, "CANCEL_OPERATION_TIME_OUT", Fail},
		// L4.3 refund.
		{MethodTradeRefund, "ACQ.TRADE_HAS_CLOSE", State},
		{MethodTradeRefund, "ACQ.DISCORDANT_REPEAT_REQUEST", State},
		{MethodTradeRefund, "ACQ.REASON_TRADE_REFUND_FEE_ERR", State},
		{MethodTradeRefund, "ACQ.TRADE_HAS_FINISHED", Fail},
		{MethodTradeRefund, "ACQ.TRADE_STATUS_ERROR", Fail},
		{MethodTradeRefund, "ACQ.SELLER_BALANCE_NOT_ENOUGH", Fail},
		// L5, L8 queries.
		{MethodTradeRefundQuery, "ACQ.TRADE_NOT_EXIST", Fail},
		{MethodTradeQuery, "ACQ.TRADE_NOT_EXIST", Fail},
		{MethodFundAuthDetailQuery, "AUTH_ORDER_NOT_EXIST", Fail},
		// L7 close.
		{MethodTradeClose, "ACQ.TRADE_STATUS_ERROR", State},
		{MethodTradeClose, "ACQ.REASON_ILLEGAL_STATUS", State},
		{MethodTradeClose, "ACQ.TRADE_NOT_EXIST", Fail},
		// L9.3 unsign.
		{MethodAgreementUnsign, "USER_AGREEMENT_STATUS_NOT_NORMAL", State},
		{MethodAgreementUnsign, "AGREEMENT_NOT_EXIST", Fail},
		// Case is not significant.
		{MethodTradeRefund, "acq.trade_has_close", State},
	}
	for _, tt := range tests {
		t.Run(tt.method+"/"+tt.subCode, func(t *testing.T) {
			if got := ClassifySubCode(tt.method, tt.subCode); got != tt.want {
				t.Fatalf("ClassifySubCode = %s, want %s", got, tt.want)
			}
		})
	}
	t.Run("configuration_refusal_is_fail", func(t *testing.T) {
		be := &BusinessError{Code: "40002", SubCode: "isv.invalid-signature"}
		if got := be.Class(MethodTradeRefund); got != Fail {
			t.Fatalf("Class = %s", got)
		}
		be = &BusinessError{Code: "40004", SubCode: "ACQ.TRADE_HAS_CLOSE"}
		if got := be.Class(MethodTradeRefund); got != State {
			t.Fatalf("Class = %s", got)
		}
	})
}
