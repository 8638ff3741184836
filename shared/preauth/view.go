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
	return v
}
