package preauth

import (
	"cmp"
	"slices"
	"time"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
	"github.com/alipay-serverless/alipay-serverless/shared/orders"
)

// Order is the GET reply: the order as stored, under Alipay's field names. It never
// carries the owner, lease tokens or keys.
type Order struct {
	OutOrderNo          string        `json:"out_order_no"`
	Status              string        `json:"status"`
	Amount              alipay.Amount `json:"amount"`
	OrderTitle          string        `json:"order_title"`
	PayeeUserID         string        `json:"payee_user_id,omitempty"`
	AuthNo              string        `json:"auth_no"`
	TotalFreezeAmount   alipay.Amount `json:"total_freeze_amount"`
	TotalUnfreezeAmount alipay.Amount `json:"total_unfreeze_amount"`
	TotalPayAmount      alipay.Amount `json:"total_pay_amount"`
	RestAmount          alipay.Amount `json:"rest_amount"`
	Requests            []Request     `json:"requests"`
	Operations          []Operation   `json:"operations"`
	Captures            []Capture     `json:"captures"`
	Unfreezes           []Unfreeze    `json:"unfreezes"`
	Cancels             []Cancel      `json:"cancels"`
	CreatedAt           string        `json:"created_at,omitempty"`
	UpdatedAt           string        `json:"updated_at,omitempty"`
}

// Request is one voucher request (out_request_no). Code fields are set when ISSUED,
// sub_code/sub_msg when Alipay refused it (BUSINESS_ERROR).
type Request struct {
	OutRequestNo string `json:"out_request_no"`
	State        string `json:"state"`
	CodeType     string `json:"code_type,omitempty"`
	CodeValue    string `json:"code_value,omitempty"`
	CodeURL      string `json:"code_url,omitempty"`
	SubCode      string `json:"sub_code,omitempty"`
	SubMsg       string `json:"sub_msg,omitempty"`
	CreatedAt    string `json:"created_at,omitempty"`
	UpdatedAt    string `json:"updated_at,omitempty"`
}

// Operation is one fund operation Alipay notified (operation_id).
type Operation struct {
	OperationID   string        `json:"operation_id"`
	OutRequestNo  string        `json:"out_request_no,omitempty"`
	OperationType string        `json:"operation_type"`
	Status        string        `json:"status"`
	Amount        alipay.Amount `json:"amount"`
	GmtTrans      string        `json:"gmt_trans,omitempty"`
	UpdatedAt     string        `json:"updated_at,omitempty"`
}

// Capture is one of our captures (out_trade_no). status is PENDING, SUCCEEDED, FAILED
// or UNKNOWN; trade_no once it succeeded, sub_code/sub_msg when Alipay refused it.
type Capture struct {
	OutTradeNo      string        `json:"out_trade_no"`
	Amount          alipay.Amount `json:"amount"`
	Status          string        `json:"status"`
	AuthConfirmMode string        `json:"auth_confirm_mode,omitempty"`
	TradeNo         string        `json:"trade_no,omitempty"`
	GmtPayment      string        `json:"gmt_payment,omitempty"`
	SubCode         string        `json:"sub_code,omitempty"`
	SubMsg          string        `json:"sub_msg,omitempty"`
	CreatedAt       string        `json:"created_at,omitempty"`
	UpdatedAt       string        `json:"updated_at,omitempty"`
}

// Unfreeze is one of our unfreezes (out_request_no).
type Unfreeze struct {
	OutRequestNo string        `json:"out_request_no"`
	Amount       alipay.Amount `json:"amount"`
	Status       string        `json:"status"`
	OperationID  string        `json:"operation_id,omitempty"`
	SubCode      string        `json:"sub_code,omitempty"`
	SubMsg       string        `json:"sub_msg,omitempty"`
	CreatedAt    string        `json:"created_at,omitempty"`
	UpdatedAt    string        `json:"updated_at,omitempty"`
}

// Cancel is one of our cancels, named by the voucher request it cancels.
type Cancel struct {
	OutRequestNo string `json:"out_request_no"`
	Status       string `json:"status"`
	Action       string `json:"action,omitempty"`
	SubCode      string `json:"sub_code,omitempty"`
	SubMsg       string `json:"sub_msg,omitempty"`
	CreatedAt    string `json:"created_at,omitempty"`
	UpdatedAt    string `json:"updated_at,omitempty"`
}

// chinaTime formats t as RFC 3339 in China time; zero is "".
func chinaTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(alipay.ChinaTime).Format(time.RFC3339)
}

func orderView(o *orders.PreAuthOrder) *Order {
	v := &Order{
		OutOrderNo:          o.OutOrderNo,
		Status:              string(o.Status),
		Amount:              o.Amount,
		OrderTitle:          o.OrderTitle,
		PayeeUserID:         o.PayeeUserID,
		AuthNo:              o.AuthNo,
		TotalFreezeAmount:   o.TotalFreeze,
		TotalUnfreezeAmount: o.TotalUnfreeze,
		TotalPayAmount:      o.TotalPay,
		RestAmount:          o.Rest,
		Requests:            make([]Request, 0, len(o.Requests)),
		Operations:          make([]Operation, 0, len(o.Operations)),
		Captures:            []Capture{},
		Unfreezes:           []Unfreeze{},
		Cancels:             []Cancel{},
		CreatedAt:           chinaTime(o.CreatedAt),
		UpdatedAt:           chinaTime(o.UpdatedAt),
	}
	reqs := make([]orders.VoucherRequest, 0, len(o.Requests))
	for _, r := range o.Requests {
		reqs = append(reqs, r)
	}
	slices.SortFunc(reqs, func(a, b orders.VoucherRequest) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.OutRequestNo, b.OutRequestNo))
	})
	for _, r := range reqs {
		q := Request{
			OutRequestNo: r.OutRequestNo,
			State:        string(r.State),
			CreatedAt:    chinaTime(r.CreatedAt),
			UpdatedAt:    chinaTime(r.UpdatedAt),
		}
		switch r.State {
		case orders.RequestIssued:
			q.CodeType, q.CodeValue, q.CodeURL = r.CodeType, r.CodeValue, r.CodeURL
		case orders.RequestBusinessError:
			q.SubCode, q.SubMsg = r.SubCode, r.SubMsg
		}
		v.Requests = append(v.Requests, q)
	}
	ops := make([]orders.FundOperation, 0, len(o.Operations))
	for _, op := range o.Operations {
		ops = append(ops, op)
	}
	slices.SortFunc(ops, func(a, b orders.FundOperation) int {
		return cmp.Or(a.GmtTrans.Compare(b.GmtTrans), a.UpdatedAt.Compare(b.UpdatedAt), cmp.Compare(a.OperationID, b.OperationID))
	})
	for _, op := range ops {
		v.Operations = append(v.Operations, Operation{
			OperationID:   op.OperationID,
			OutRequestNo:  op.OutRequestNo,
			OperationType: string(op.Type),
			Status:        string(op.Status),
			Amount:        op.Amount,
			GmtTrans:      chinaTime(op.GmtTrans),
			UpdatedAt:     chinaTime(op.UpdatedAt),
		})
	}
	mine := make([]orders.Operation, 0, len(o.Ops))
	for _, op := range o.Ops {
		mine = append(mine, op)
	}
	slices.SortFunc(mine, func(a, b orders.Operation) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.RequestNo, b.RequestNo))
	})
	for _, op := range mine {
		created, updated := chinaTime(op.CreatedAt), chinaTime(op.UpdatedAt)
		switch op.Kind {
		case orders.OpCapture:
			v.Captures = append(v.Captures, Capture{OutTradeNo: op.RequestNo, Amount: op.Amount, Status: string(op.State),
				AuthConfirmMode: cmp.Or(op.Params[orders.ResultAuthConfirmMode], op.Result[orders.ResultAuthConfirmMode]), TradeNo: op.Result[orders.ResultTradeNo],
				GmtPayment: op.Result["gmt_payment"], SubCode: op.SubCode, SubMsg: op.SubMsg, CreatedAt: created, UpdatedAt: updated})
		case orders.OpUnfreeze:
			v.Unfreezes = append(v.Unfreezes, Unfreeze{OutRequestNo: op.RequestNo, Amount: op.Amount, Status: string(op.State),
				OperationID: op.Result[orders.ResultOperationID], SubCode: op.SubCode, SubMsg: op.SubMsg, CreatedAt: created, UpdatedAt: updated})
		case orders.OpCancel:
			v.Cancels = append(v.Cancels, Cancel{OutRequestNo: op.RequestNo, Status: string(op.State),
				Action: op.Result[orders.ResultAction], SubCode: op.SubCode, SubMsg: op.SubMsg, CreatedAt: created, UpdatedAt: updated})
		}
	}
	return v
}
