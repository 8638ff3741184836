package alipay

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
)

// Request is one typed OpenAPI call: it knows its method (hence its reply node,
// ResponseNodeName) and the identifiers the reply must echo.
type Request interface {
	Method() string
	BizContent() (string, error)
	// Echoes lists reply fields that must equal what was sent (out_trade_no,
	// out_order_no, out_request_no…). A verified reply about another request is not an
	// answer about ours.
	Echoes() []Echo
}

// Echo is a reply field and the value the request sent for it.
type Echo struct{ Field, Want string }

// Executor is what Call needs of a gateway client (*Client implements it).
type Executor interface {
	Execute(ctx context.Context, c *Credentials, method, bizContent string, opts CallOptions) (*Reply, error)
}

// gwReasonOtherRequest: a verified reply names another request.
const gwReasonOtherRequest = "reply names another request"

// Call sends req and decodes the verified reply node into a *R. Errors keep Execute's
// three kinds (*BusinessError, *UnknownOutcomeError, not sent); a reply whose node cannot
// be decoded or whose echoed identifiers differ from the request's is an
// *UnknownOutcomeError: it proves nothing about our request.
func Call[R any](ctx context.Context, ex Executor, c *Credentials, req Request, opts CallOptions) (*R, error) {
	biz, err := req.BizContent()
	if err != nil {
		return nil, fmt.Errorf("alipay: %s: biz_content: %w", req.Method(), err)
	}
	reply, err := ex.Execute(ctx, c, req.Method(), biz, opts)
	if err != nil {
		return nil, err
	}
	return DecodeReply[R](reply, req)
}

// DecodeReply decodes a verified reply's node for req and checks its echoes.
func DecodeReply[R any](reply *Reply, req Request) (*R, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(reply.Node, &fields); err != nil {
		return nil, &UnknownOutcomeError{Reason: gwReasonMalformed, Code: reply.Code, Err: err}
	}
	for _, e := range req.Echoes() {
		var got string
		if raw, ok := fields[e.Field]; ok {
			if err := json.Unmarshal(raw, &got); err != nil {
				return nil, &UnknownOutcomeError{Reason: gwReasonMalformed, Code: reply.Code, Err: fmt.Errorf("%s: %w", e.Field, err)}
			}
		}
		if got != e.Want {
			return nil, &UnknownOutcomeError{Reason: gwReasonOtherRequest, Code: reply.Code,
				Err: fmt.Errorf("%s is %q, sent %q", e.Field, got, e.Want)}
		}
	}
	r := new(R)
	if err := json.Unmarshal(reply.Node, r); err != nil {
		return nil, &UnknownOutcomeError{Reason: gwReasonMalformed, Code: reply.Code, Err: err}
	}
	return r, nil
}

// SubCodeClass says what a verified business refusal means (L0).
type SubCodeClass string

const (
	// Fail: processed and refused, nothing happened; replay the refusal.
	Fail SubCodeClass = "FAIL"
	// Unknown: the outcome is unknown; retry with the same identifiers or query.
	Unknown SubCodeClass = "UNKNOWN"
	// State: a refusal caused by the current state, which an earlier request of ours
	// may have produced; query before deciding.
	State SubCodeClass = "STATE"
)

// subCodeTables classifies business sub_codes per method. Only UNKNOWN and STATE are
// listed: every other sub_code is a definite failure (Fail), except the gateway-level
// system-error family (gwSystemError), which is Unknown for every method.
var subCodeTables = map[string]map[string]SubCodeClass{
	// §9.2: a repeat of our own freeze request may be answered with these.
	MethodVoucherCreate: {
		"SYSTEM_ERROR":           Unknown,
		"UNIQUE_VIOLATION":       State,
		"FREEZE_ALREADY_SUCCESS": State,
		"ORDER_ALREADY_FINISH":   State,
		"ORDER_ALREADY_CLOSED":   State,
	},
	// L1.4 (capture) and L9.1 (deduction) share alipay.trade.pay. AUTH_AMOUNT_NOT_ENOUGH
	// is STATE: an earlier capture of ours may have consumed the amount (L1.4).
	MethodTradePay: {
		"ACQ.SYSTEM_ERROR":            Unknown,
		"ACQ.TRADE_HAS_SUCCESS":       State,
		"ACQ.AUTH_ORDER_HAS_FINISHED": State,
		"ACQ.AUTH_AMOUNT_NOT_ENOUGH":  State,
	},
	// L2.3.
	MethodFundAuthUnfreeze: {
		"SYSTEM_ERROR":          Unknown,
		"REQUEST_AMOUNT_EXCEED": State,
		"ILLEGAL_STATUS":        State,
		"ORDER_ALREADY_FINISH":  State,
		"ORDER_ALREADY_CLOSED":  State,
		"UNIQUE_VIOLATION":      State, // "if it was our own retry, query first"
	},
	// L3.
	MethodFundAuthCancel: {
		"SYSTEM_ERROR":          Unknown,
		"REQUEST_AMOUNT_EXCEED": State,
		"ORDER_ALREADY_FINISH":  State,
	},
	// L4.3.
	MethodTradeRefund: {
		"ACQ.SYSTEM_ERROR":                Unknown,
		"ACQ.TRADE_HAS_CLOSE":             State,
		"ACQ.DISCORDANT_REPEAT_REQUEST":   State,
		"ACQ.REASON_TRADE_REFUND_FEE_ERR": State,
	},
	// L5.
	MethodTradeRefundQuery: {"ACQ.SYSTEM_ERROR": Unknown},
	// L7.
	MethodTradeClose: {
		"ACQ.SYSTEM_ERROR":                Unknown,
		"ACQ.TRADE_STATUS_ERROR":          State,
		"ACQ.REASON_TRADE_STATUS_INVALID": State,
		"ACQ.REASON_ILLEGAL_STATUS":       State,
	},
	// L8.
	MethodTradeQuery: {"ACQ.SYSTEM_ERROR": Unknown},
	// §9.4.
	MethodFundAuthDetailQuery: {"SYSTEM_ERROR": Unknown},
	// L9.2, L9.3: an agreement that is already not normal may be our own earlier unsign.
	MethodAgreementQuery: {"SYSTEM_ERROR": Unknown},
	MethodAgreementUnsign: {
		"SYSTEM_ERROR":                        Unknown,
		"USER_AGREEMENT_STATUS_NOT_NORMAL":    State,
		"USER_AGREEMENT_STATUS_IS_NOT_NORMAL": State,
	},
}

// ClassifySubCode classifies a verified business sub_code of method. Sub_codes are
// compared as Alipay sends them, ignoring case.
func ClassifySubCode(method, subCode string) SubCodeClass {
	if gwSystemError(subCode) {
		return Unknown
	}
	if c, ok := subCodeTables[method][strings.ToUpper(subCode)]; ok {
		return c
	}
	return Fail
}

// Class classifies e for method (ClassifySubCode); configuration refusals are Fail.
func (e *BusinessError) Class(method string) SubCodeClass {
	if e.Configuration() {
		return Fail
	}
	return ClassifySubCode(method, e.SubCode)
}
