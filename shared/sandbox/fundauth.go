package sandbox

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
)

// Auth order statuses (order_status of the detail query).
const (
	orderStatusInit       = "INIT"
	orderStatusAuthorized = "AUTHORIZED"
	orderStatusFinish     = "FINISH" // nothing frozen, something captured (L2.2)
	orderStatusClosed     = "CLOSED"
)

// authOrder is a pre-auth order (out_order_no) and its voucher requests.
type authOrder struct {
	outOrderNo    string
	authNo        string
	orderHash     string // the order's parameters without out_request_no
	title         string
	extraParam    string
	payeeUserID   string
	payeeLogonID  string
	status        string
	ops           []*authOp
	totalFreeze   alipay.Amount
	totalUnfreeze alipay.Amount
	totalPay      alipay.Amount
	payerUserID   string
	payerLogonID  string
}

// authOp is one fund operation (out_request_no): a voucher request's FREEZE, or an
// UNFREEZE.
type authOp struct {
	opType       alipay.FundAuthOperationType // "" is FREEZE
	outRequestNo string
	operationID  string
	hash         string // canonical hash of the whole request
	amount       alipay.Amount
	status       alipay.FundAuthStatus
	codeValue    string
	codeURL      string
	notifyURL    string
	gmtCreate    time.Time
	gmtTrans     time.Time
	expires      time.Time
	cancelAction string // set once cancelled (L3)
}

func (op *authOp) kind() alipay.FundAuthOperationType {
	if op.opType == "" {
		return alipay.FundAuthOpFreeze
	}
	return op.opType
}

// rest is what is still frozen.
func (o *authOrder) rest() alipay.Amount { return o.totalFreeze - o.totalUnfreeze - o.totalPay }

// settleIfEmpty ends an authorized order with nothing left frozen: FINISH when
// something was captured, else CLOSED (L2.2).
func (o *authOrder) settleIfEmpty() {
	if o.status != orderStatusAuthorized || o.rest() > 0 {
		return
	}
	if o.totalPay > 0 {
		o.status = orderStatusFinish
	} else {
		o.status = orderStatusClosed
	}
}

func (o *authOrder) op(outRequestNo string) *authOp {
	for _, op := range o.ops {
		if op.outRequestNo == outRequestNo {
			return op
		}
	}
	return nil
}

func (o *authOrder) opByID(operationID string) *authOp {
	for _, op := range o.ops {
		if op.operationID == operationID {
			return op
		}
	}
	return nil
}

// bizFail is a signed 40004 in the method node.
func bizFail(name, subCode string) *reply {
	return &reply{name: name, node: failNode(code40004, msg40004, subCode, bizSubMsg(subCode))}
}

// capacityFail refuses a new record when the simulator is full. It is a definite
// refusal: nothing was recorded.
func capacityFail(name string) *reply {
	return &reply{name: name, node: failNode(code40004, msg40004, "SIM_CAPACITY_EXCEEDED", "sandbox record limit reached; restart the simulator")}
}

// voucherCreate simulates alipay.fund.auth.order.voucher.create.
func (s *Simulator) voucherCreate(p map[string]string) *reply {
	name := methodNode(alipay.MethodVoucherCreate)
	biz := p["biz_content"]
	if blank(biz) {
		biz = "{}"
	}
	vp, err := alipay.DecodeVoucherCreate([]byte(biz))
	if err == nil {
		err = vp.Validate()
	}
	if err != nil {
		return &reply{name: name, node: failNode(code40004, msg40004, "ILLEGAL_ARGUMENT", "参数有误 "+err.Error())}
	}
	m := parseMagic(vp.OrderTitle)
	if m.bizSubCode != "" {
		return bizFail(name, m.bizSubCode)
	}
	now := s.now()
	s.mu.Lock()
	order, op, replay, subCode := s.recordVoucher(vp, p["notify_url"], now)
	s.mu.Unlock()
	switch {
	case subCode == "SIM_CAPACITY_EXCEEDED":
		return capacityFail(name)
	case subCode != "":
		return bizFail(name, subCode)
	}
	ok := successNode().
		add("out_order_no", order.outOrderNo).
		add("out_request_no", op.outRequestNo).
		add("code_type", "qrCode").
		add("code_value", op.codeValue).
		add("code_url", op.codeURL)
	// A replay is Alipay answering a request it already processed: no magic again, so
	// a retry after an unknown outcome sees the voucher that was created.
	if replay {
		return &reply{name: name, node: ok}
	}
	switch {
	case m.unavailable:
		return &reply{name: name, node: failNode(code20000, msg20000, "isp.unknow-error", "系统繁忙")}
	case m.systemError:
		return &reply{name: name, node: failNode(code40004, msg40004, "SYSTEM_ERROR", bizSubMsg("SYSTEM_ERROR"))}
	}
	return &reply{name: name, node: ok, force: m.force}
}

// recordVoucher applies the idempotency rules of voucher create; s.mu must be held.
// subCode is a business refusal; replay means the same request was seen before.
func (s *Simulator) recordVoucher(vp *alipay.VoucherCreateParams, notifyURL string, now time.Time) (order *authOrder, op *authOp, replay bool, subCode string) {
	hash, orderHash := vp.CanonicalHash(), vp.OrderHash()
	order = s.authOrders[vp.OutOrderNo]
	if order != nil {
		if op = order.op(vp.OutRequestNo); op != nil {
			if op.hash != hash {
				return nil, nil, false, "UNIQUE_VIOLATION"
			}
			return order, op, true, ""
		}
		switch {
		case order.orderHash != orderHash:
			return nil, nil, false, "UNIQUE_VIOLATION"
		case order.status == orderStatusAuthorized:
			return nil, nil, false, "FREEZE_ALREADY_SUCCESS"
		case order.status == orderStatusFinish:
			return nil, nil, false, "ORDER_ALREADY_FINISH"
		case order.status == orderStatusClosed:
			return nil, nil, false, "ORDER_ALREADY_CLOSED"
		case len(order.ops) >= maxOpsPerOrder:
			return nil, nil, false, "SIM_CAPACITY_EXCEEDED"
		}
	} else {
		if len(s.authOrders) >= s.maxOrders {
			return nil, nil, false, "SIM_CAPACITY_EXCEEDED"
		}
		order = &authOrder{
			outOrderNo:   vp.OutOrderNo,
			authNo:       alipayNo(now, "10002001", s.nextSeq(), 12),
			orderHash:    orderHash,
			title:        vp.OrderTitle,
			extraParam:   vp.ExtraParam,
			payeeUserID:  vp.PayeeUserID,
			payeeLogonID: vp.PayeeLogonID,
			status:       orderStatusInit,
		}
		s.authOrders[order.outOrderNo] = order
		s.authByNo[order.authNo] = order
	}
	token := "sim" + randomToken(20)
	op = &authOp{
		outRequestNo: vp.OutRequestNo,
		operationID:  alipayNo(now, "", s.nextSeq(), 12),
		hash:         hash,
		amount:       vp.Amount,
		status:       alipay.FundAuthStatusInit,
		codeValue:    "https://qr.alipay.com/" + token,
		codeURL:      "http://mobilecodec.alipay.com/show.htm?code=" + token,
		notifyURL:    notifyURL,
		gmtCreate:    now,
		expires:      now.Add(payTimeout(vp.PayTimeout)),
	}
	order.ops = append(order.ops, op)
	return order, op, false, ""
}

// payTimeout converts a validated pay_timeout (`15m`, `2h`, `3d`) to a duration; the
// default is 15 minutes.
func payTimeout(v string) time.Duration {
	if len(v) < 2 {
		return 15 * time.Minute
	}
	n, err := strconv.Atoi(v[:len(v)-1])
	if err != nil {
		return 15 * time.Minute
	}
	switch v[len(v)-1] {
	case 'h':
		return time.Duration(n) * time.Hour
	case 'd':
		return time.Duration(n) * 24 * time.Hour
	}
	return time.Duration(n) * time.Minute
}

// bizStrings reads the string members of a biz_content object; other members are
// ignored, except that a listed key with a non-string value is an error.
func bizStrings(biz string, keys ...string) (map[string]string, bool) {
	if blank(biz) {
		biz = "{}"
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal([]byte(biz), &obj); err != nil || obj == nil {
		return nil, false
	}
	out := make(map[string]string, len(keys))
	for _, k := range keys {
		raw, ok := obj[k]
		if !ok || string(raw) == "null" {
			continue
		}
		var v string
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, false
		}
		out[k] = v
	}
	return out, true
}

// detailQuery simulates alipay.fund.auth.operation.detail.query. Alipay's ids win
// over ours when both pairs are given.
func (s *Simulator) detailQuery(p map[string]string) *reply {
	name := methodNode(alipay.MethodFundAuthDetailQuery)
	f, ok := bizStrings(p["biz_content"], "auth_no", "operation_id", "out_order_no", "out_request_no")
	if !ok {
		return &reply{name: name, node: failNode(code40004, msg40004, "ILLEGAL_ARGUMENT", "biz_content 不是合法的 JSON 对象")}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
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
		return &reply{name: name, node: failNode(code40004, msg40004, "ILLEGAL_ARGUMENT",
			"参数有误 auth_no+operation_id 或 out_order_no+out_request_no 必须填写一组")}
	}
	if op == nil {
		return bizFail(name, "AUTH_ORDER_NOT_EXIST")
	}
	n := successNode().
		add("auth_no", order.authNo).
		add("out_order_no", order.outOrderNo).
		add("order_status", order.status).
		add("total_freeze_amount", order.totalFreeze.String()).
		add("rest_amount", order.rest().String()).
		add("total_pay_amount", order.totalPay.String()).
		add("total_unfreeze_amount", order.totalUnfreeze.String()).
		add("order_title", order.title).
		add("payer_logon_id", order.payerLogonID).
		add("payer_user_id", order.payerUserID).
		add("extra_param", order.extraParam).
		add("operation_id", op.operationID).
		add("out_request_no", op.outRequestNo).
		add("amount", op.amount.String()).
		add("operation_type", string(op.kind())).
		add("status", string(op.status)).
		add("gmt_create", alipay.FormatTimestamp(op.gmtCreate))
	if !op.gmtTrans.IsZero() {
		n.add("gmt_trans", alipay.FormatTimestamp(op.gmtTrans))
	}
	n.add("credit_amount", alipay.Amount(0).String()).
		add("fund_amount", op.amount.String())
	return &reply{name: name, node: n}
}

// scanRequest is the body of POST /sandbox/vouchers/scan.
type scanRequest struct {
	OutOrderNo   string `json:"out_order_no"`
	OutRequestNo string `json:"out_request_no"` // default: the latest open voucher
	CodeValue    string `json:"code_value"`     // alternative to out_order_no
	Buyer        string `json:"buyer"`          // payer user id, 2088 + 12 digits
}

// scanVoucher is a buyer scanning the voucher and Alipay freezing the amount.
func (s *Simulator) scanVoucher(body []byte) (any, *controlError) {
	var req scanRequest
	if cerr := decodeJSON(body, &req); cerr != nil {
		return nil, cerr
	}
	buyer, cerr := buyerID(req.Buyer)
	if cerr != nil {
		return nil, cerr
	}
	if cerr := s.reserveDeliveries(1); cerr != nil {
		return nil, cerr
	}
	now := s.now()
	s.mu.Lock()
	order, op, cerr := s.findVoucher(req.OutOrderNo, req.OutRequestNo, req.CodeValue)
	if cerr == nil {
		switch {
		case order.status == orderStatusAuthorized:
			cerr = conflict("FREEZE_ALREADY_SUCCESS", "the order is already frozen")
		case order.status == orderStatusClosed || op.status == alipay.FundAuthStatusClosed:
			cerr = conflict("ORDER_ALREADY_CLOSED", "the voucher is closed")
		case now.After(op.expires):
			cerr = conflict("VOUCHER_EXPIRED", "the voucher's pay_timeout has passed; POST /sandbox/vouchers/close sends the CLOSED notice")
		}
	}
	if cerr != nil {
		s.mu.Unlock()
		return nil, cerr
	}
	op.status = alipay.FundAuthStatusSuccess
	op.gmtTrans = now
	// Once frozen, the order's other open vouchers can no longer be paid.
	for _, other := range order.ops {
		if other != op && other.status == alipay.FundAuthStatusInit {
			other.status = alipay.FundAuthStatusClosed
			other.gmtTrans = now
		}
	}
	order.status = orderStatusAuthorized
	order.totalFreeze += op.amount
	order.payerUserID = buyer
	order.payerLogonID = maskedLogon(buyer)
	params := s.fundAuthNotice(order, op, now)
	url := op.notifyURL
	s.mu.Unlock()

	n := s.send(url, params)
	return map[string]any{
		"out_order_no":   order.outOrderNo,
		"out_request_no": op.outRequestNo,
		"auth_no":        order.authNo,
		"operation_id":   op.operationID,
		"status":         string(alipay.FundAuthStatusSuccess),
		"notifications":  []Notification{n},
	}, nil
}

// findVoucher locates an order and one of its vouchers; s.mu must be held.
func (s *Simulator) findVoucher(outOrderNo, outRequestNo, codeValue string) (*authOrder, *authOp, *controlError) {
	if outOrderNo == "" && codeValue != "" {
		for _, o := range s.authOrders {
			for _, op := range o.ops {
				if op.codeValue == codeValue {
					return o, op, nil
				}
			}
		}
		return nil, nil, notFound("no voucher has this code_value")
	}
	if outOrderNo == "" {
		return nil, nil, badRequest("out_order_no", "is required (or give code_value)")
	}
	order := s.authOrders[outOrderNo]
	if order == nil {
		return nil, nil, notFound("no voucher was created for this out_order_no")
	}
	if outRequestNo != "" {
		op := order.op(outRequestNo)
		if op == nil {
			return nil, nil, notFound("no voucher with this out_request_no on the order")
		}
		return order, op, nil
	}
	for i := len(order.ops) - 1; i >= 0; i-- {
		if order.ops[i].kind() == alipay.FundAuthOpFreeze {
			return order, order.ops[i], nil
		}
	}
	return nil, nil, notFound("the order has no voucher")
}

// closeRequest is the body of POST /sandbox/vouchers/close.
type closeRequest struct {
	OutOrderNo string `json:"out_order_no"`
}

// closeVoucher closes an unpaid order (as when pay_timeout passes) and sends one
// CLOSED notice per open voucher.
func (s *Simulator) closeVoucher(body []byte) (any, *controlError) {
	var req closeRequest
	if cerr := decodeJSON(body, &req); cerr != nil {
		return nil, cerr
	}
	if req.OutOrderNo == "" {
		return nil, badRequest("out_order_no", "is required")
	}
	if cerr := s.reserveDeliveries(maxOpsPerOrder); cerr != nil {
		return nil, cerr
	}
	now := s.now()
	s.mu.Lock()
	order := s.authOrders[req.OutOrderNo]
	switch {
	case order == nil:
		s.mu.Unlock()
		return nil, notFound("no voucher was created for this out_order_no")
	case order.status == orderStatusAuthorized:
		s.mu.Unlock()
		return nil, conflict("FREEZE_ALREADY_SUCCESS", "the order is frozen; only unfrozen orders close")
	case order.status == orderStatusClosed:
		s.mu.Unlock()
		return nil, conflict("ORDER_ALREADY_CLOSED", "the order is already closed")
	}
	order.status = orderStatusClosed
	type pending struct {
		url    string
		params map[string]string
	}
	var out []pending
	for _, op := range order.ops {
		if op.status != alipay.FundAuthStatusInit {
			continue
		}
		op.status = alipay.FundAuthStatusClosed
		op.gmtTrans = now
		out = append(out, pending{op.notifyURL, s.fundAuthNotice(order, op, now)})
	}
	s.mu.Unlock()

	sent := make([]Notification, 0, len(out))
	for _, p := range out {
		sent = append(sent, s.send(p.url, p.params))
	}
	return map[string]any{
		"out_order_no":  order.outOrderNo,
		"auth_no":       order.authNo,
		"order_status":  orderStatusClosed,
		"notifications": sent,
	}, nil
}

// fundAuthNotice builds the fund_auth_freeze (or, for an UNFREEZE, fund_auth_unfreeze,
// L2.4) parameters of op with the order's current totals (§8.6); s.mu must be held.
func (s *Simulator) fundAuthNotice(order *authOrder, op *authOp, now time.Time) map[string]string {
	kind := alipay.KindFundAuth
	if op.kind() == alipay.FundAuthOpUnfreeze {
		kind = alipay.KindFundAuthUnfreeze
	}
	p := s.noticeHeader(kind, now)
	set(p, "auth_no", order.authNo)
	set(p, "out_order_no", order.outOrderNo)
	set(p, "operation_id", op.operationID)
	set(p, "out_request_no", op.outRequestNo)
	set(p, "operation_type", string(op.kind()))
	set(p, "amount", op.amount.String())
	set(p, "status", string(op.status))
	set(p, "gmt_create", alipay.FormatTimestamp(op.gmtCreate))
	set(p, "gmt_trans", alipay.FormatTimestamp(op.gmtTrans))
	set(p, "payer_logon_id", order.payerLogonID)
	set(p, "payer_user_id", order.payerUserID)
	set(p, "payee_user_id", s.payee(order))
	set(p, "payee_logon_id", order.payeeLogonID)
	set(p, "total_freeze_amount", order.totalFreeze.String())
	set(p, "total_unfreeze_amount", order.totalUnfreeze.String())
	set(p, "total_pay_amount", order.totalPay.String())
	set(p, "rest_amount", order.rest().String())
	set(p, "credit_amount", alipay.Amount(0).String())
	set(p, "fund_amount", op.amount.String())
	return p
}

// payee is the auth order's payee: the voucher's, else the merchant's PID.
func (s *Simulator) payee(order *authOrder) string {
	if order.payeeUserID == "" && order.payeeLogonID == "" {
		return s.sellerID
	}
	return order.payeeUserID
}

// set stores a notification field unless it is empty: Alipay omits absent fields.
func set(p map[string]string, k, v string) {
	if v != "" {
		p[k] = v
	}
}

// DefaultBuyerID is the payer when a control call names none.
const DefaultBuyerID = "2088000000000002"

func buyerID(v string) (string, *controlError) {
	if v == "" {
		return DefaultBuyerID, nil
	}
	if !reUserID.MatchString(v) {
		return "", badRequest("buyer", "must be an Alipay user id: 2088 followed by 12 digits")
	}
	return v, nil
}

// maskedLogon is the masked logon id Alipay shows for a user (a phone number here).
func maskedLogon(userID string) string {
	return "159****" + userID[len(userID)-4:]
}
