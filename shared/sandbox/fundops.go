package sandbox

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
)

// Unfreeze (L2) and cancel (L3) of an auth order, and the ledger of money the
// simulator moved, which tests count to prove a retried call moved money once.

// Kinds of Movement.
const (
	MovePay      = "PAY"      // a capture took frozen money
	MoveUnfreeze = "UNFREEZE" // frozen money released (an unfreeze, or COMPLETE's rest is in the order only)
	MoveCancel   = "CANCEL"   // a freeze cancelled: closed (nothing moved) or released
)

// Movement is one money-moving effect the simulator applied.
type Movement struct {
	Kind       string        `json:"kind"`
	OutOrderNo string        `json:"out_order_no"`
	RequestNo  string        `json:"request_no"` // out_trade_no of a capture, out_request_no otherwise
	Amount     alipay.Amount `json:"amount"`
	Action     string        `json:"action,omitempty"` // a cancel's
	Time       time.Time     `json:"time"`
}

// maxLedger bounds the ledger; the oldest entries are dropped first.
const maxLedger = 10000

// moved records m; s.mu must be held.
func (s *Simulator) moved(m Movement) {
	s.ledger = append(s.ledger, m)
	if len(s.ledger) > maxLedger {
		s.ledger = slices.Clone(s.ledger[len(s.ledger)-maxLedger:])
	}
}

// Ledger returns every money movement, oldest first (at most the last 10000).
func (s *Simulator) Ledger() []Movement {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.ledger)
}

// serveLedger is GET /sandbox/ledger.
func (s *Simulator) serveLedger(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"movements": s.Ledger()})
}

// fieldsHash identifies a request by the biz_content members read: the same request
// retried hashes the same.
func fieldsHash(f map[string]string) string {
	keys := make([]string, 0, len(f))
	for k := range f {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k + "=" + f[k] + "\n")
	}
	h := sha256.Sum256([]byte(b.String()))
	return hex.EncodeToString(h[:])
}

// fundAuthUnfreeze simulates alipay.fund.auth.order.unfreeze (L2): at most the amount
// still frozen; the same out_request_no with the same request is answered again, with
// another UNIQUE_VIOLATION; a fund_auth_unfreeze notice goes to the request's notify_url.
func (s *Simulator) fundAuthUnfreeze(p map[string]string) *reply {
	name := methodNode(alipay.MethodFundAuthUnfreeze)
	f, ok := bizStrings(p["biz_content"], "auth_no", "out_request_no", "amount", "remark", "extra_param")
	if !ok || blank(f["auth_no"]) || blank(f["out_request_no"]) || blank(f["remark"]) {
		return bizFail(name, "ILLEGAL_ARGUMENT")
	}
	amount, err := alipay.ParseAmount(f["amount"])
	if err != nil || amount.CheckRange() != nil {
		return bizFail(name, "ILLEGAL_ARGUMENT")
	}
	m := parseMagic(f["remark"])
	if m.bizSubCode != "" {
		return bizFail(name, m.bizSubCode)
	}
	now := s.now()
	s.mu.Lock()
	order, op, replay, subCode := s.recordUnfreeze(f, amount, p["notify_url"], now)
	var notice map[string]string
	if subCode == "" && !replay {
		notice = s.fundAuthNotice(order, op, now)
	}
	s.mu.Unlock()
	if subCode != "" {
		return bizFail(name, subCode)
	}
	ok2 := successNode().
		add("auth_no", order.authNo).
		add("out_order_no", order.outOrderNo).
		add("operation_id", op.operationID).
		add("out_request_no", op.outRequestNo).
		add("amount", op.amount.String()).
		add("status", string(op.status)).
		add("gmt_trans", alipay.FormatTimestamp(op.gmtTrans)).
		add("credit_amount", alipay.Amount(0).String()).
		add("fund_amount", op.amount.String())
	if replay {
		return &reply{name: name, node: ok2}
	}
	s.send(op.notifyURL, notice)
	switch {
	case m.unavailable:
		return &reply{name: name, node: failNode(code20000, msg20000, "isp.unknow-error", "系统繁忙")}
	case m.systemError:
		return bizFail(name, "SYSTEM_ERROR")
	}
	return &reply{name: name, node: ok2, force: m.force}
}

// recordUnfreeze applies an unfreeze; s.mu must be held.
func (s *Simulator) recordUnfreeze(f map[string]string, amount alipay.Amount, notifyURL string, now time.Time) (*authOrder, *authOp, bool, string) {
	order := s.authByNo[f["auth_no"]]
	if order == nil {
		return nil, nil, false, "AUTH_ORDER_NOT_EXIST"
	}
	hash := fieldsHash(f)
	if op := order.op(f["out_request_no"]); op != nil {
		if op.kind() != alipay.FundAuthOpUnfreeze || op.hash != hash {
			return nil, nil, false, "UNIQUE_VIOLATION"
		}
		return order, op, true, ""
	}
	switch {
	case order.status == orderStatusInit:
		return nil, nil, false, "ILLEGAL_STATUS"
	case order.status == orderStatusFinish:
		return nil, nil, false, "ORDER_ALREADY_FINISH"
	case order.status == orderStatusClosed:
		return nil, nil, false, "ORDER_ALREADY_CLOSED"
	case amount > order.rest():
		return nil, nil, false, "REQUEST_AMOUNT_EXCEED"
	case len(order.ops) >= maxOpsPerOrder:
		return nil, nil, false, "SIM_CAPACITY_EXCEEDED"
	}
	op := &authOp{
		opType: alipay.FundAuthOpUnfreeze, outRequestNo: f["out_request_no"], operationID: alipayNo(now, "", s.nextSeq(), 12),
		hash: hash, amount: amount, status: alipay.FundAuthStatusSuccess, notifyURL: notifyURL, gmtCreate: now, gmtTrans: now,
	}
	order.ops = append(order.ops, op)
	order.totalUnfreeze += amount
	order.settleIfEmpty()
	s.moved(Movement{Kind: MoveUnfreeze, OutOrderNo: order.outOrderNo, RequestNo: op.outRequestNo, Amount: amount, Time: now})
	return order, op, false, ""
}

// cancelLimit: a freeze may be cancelled within 24 h (L3).
const cancelLimit = 24 * time.Hour

// fundAuthCancel simulates alipay.fund.auth.operation.cancel (L3) of a voucher request:
// unpaid, it is closed (action close); frozen with nothing captured or unfrozen, the
// freeze is released (action unfreeze); later than 24 h, CANCEL_OPERATION_TIME_OUT. A
// repeat is answered with the same action. A fund_auth_operation_cancel notice (ids and
// action only) goes to the cancel request's notify_url.
func (s *Simulator) fundAuthCancel(p map[string]string) *reply {
	name := methodNode(alipay.MethodFundAuthCancel)
	f, ok := bizStrings(p["biz_content"], "auth_no", "operation_id", "out_order_no", "out_request_no", "remark")
	if !ok || blank(f["remark"]) {
		return bizFail(name, "ILLEGAL_ARGUMENT")
	}
	m := parseMagic(f["remark"])
	if m.bizSubCode != "" {
		return bizFail(name, m.bizSubCode)
	}
	now := s.now()
	s.mu.Lock()
	var order *authOrder
	var op *authOp
	switch {
	case !blank(f["auth_no"]) && !blank(f["operation_id"]):
		if order = s.authByNo[f["auth_no"]]; order != nil {
			op = order.opByID(f["operation_id"])
		}
	case !blank(f["out_order_no"]) && !blank(f["out_request_no"]):
		if order = s.authOrders[f["out_order_no"]]; order != nil {
			op = order.op(f["out_request_no"])
		}
	default:
		s.mu.Unlock()
		return bizFail(name, "ILLEGAL_ARGUMENT")
	}
	replay, subCode := false, ""
	switch {
	case op == nil || op.kind() != alipay.FundAuthOpFreeze:
		subCode = "AUTH_ORDER_NOT_EXIST"
	case op.cancelAction != "":
		replay = true
	case now.Sub(op.gmtCreate) > cancelLimit:
		subCode = "CANCEL_OPERATION_TIME_OUT"
	case op.status == alipay.FundAuthStatusSuccess && (order.totalPay > 0 || order.totalUnfreeze > 0):
		subCode = "REQUEST_AMOUNT_EXCEED"
	case op.status == alipay.FundAuthStatusSuccess:
		op.cancelAction = alipay.CancelActionUnfreeze
		order.totalUnfreeze = order.totalFreeze
		order.settleIfEmpty()
		s.moved(Movement{Kind: MoveCancel, OutOrderNo: order.outOrderNo, RequestNo: op.outRequestNo, Amount: op.amount, Action: op.cancelAction, Time: now})
	default:
		op.cancelAction = alipay.CancelActionClose
		if op.status == alipay.FundAuthStatusInit {
			op.status, op.gmtTrans = alipay.FundAuthStatusClosed, now
		}
		if order.status == orderStatusInit && !slices.ContainsFunc(order.ops, func(o *authOp) bool { return o.status == alipay.FundAuthStatusInit }) {
			order.status = orderStatusClosed
		}
		s.moved(Movement{Kind: MoveCancel, OutOrderNo: order.outOrderNo, RequestNo: op.outRequestNo, Action: op.cancelAction, Time: now})
	}
	var notice map[string]string
	if subCode == "" && !replay {
		notice = s.noticeHeader(alipay.KindFundAuthCancel, now)
		set(notice, "auth_no", order.authNo)
		set(notice, "out_order_no", order.outOrderNo)
		set(notice, "operation_id", op.operationID)
		set(notice, "out_request_no", op.outRequestNo)
		set(notice, "action", op.cancelAction)
	}
	s.mu.Unlock()
	if subCode != "" {
		return bizFail(name, subCode)
	}
	ok2 := successNode().
		add("auth_no", order.authNo).
		add("out_order_no", order.outOrderNo).
		add("operation_id", op.operationID).
		add("out_request_no", op.outRequestNo).
		add("action", op.cancelAction)
	if replay {
		return &reply{name: name, node: ok2}
	}
	s.send(p["notify_url"], notice)
	switch {
	case m.unavailable:
		return &reply{name: name, node: failNode(code20000, msg20000, "isp.unknow-error", "系统繁忙")}
	case m.systemError:
		return bizFail(name, "SYSTEM_ERROR")
	}
	return &reply{name: name, node: ok2, force: m.force}
}
