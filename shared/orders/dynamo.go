package orders

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
)

// DynamoAPI is the part of the DynamoDB client the store uses; all of it is implemented
// by dynalite as well.
type DynamoAPI interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
}

// DynamoStore keeps orders in one DynamoDB table (see schema.go). Every change is one
// conditional write: creates are puts conditional on the key being absent; updates are
// conditional on the version read just before, so a concurrent change makes the write fail
// and the decision is taken again on the fresh item (bounded attempts).
type DynamoStore struct {
	client DynamoAPI
	table  string
}

var _ Store = (*DynamoStore)(nil)

// maxWriteAttempts bounds how often one operation re-reads and retries after losing a
// race; beyond it the operation fails with ErrUnavailable.
const maxWriteAttempts = 25

// NewDynamoStore returns a store on table.
func NewDynamoStore(client DynamoAPI, table string) *DynamoStore {
	return &DynamoStore{client: client, table: table}
}

// TableAPI is what CreateTable needs.
type TableAPI interface {
	CreateTable(ctx context.Context, in *dynamodb.CreateTableInput, optFns ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error)
	DescribeTable(ctx context.Context, in *dynamodb.DescribeTableInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
}

// CreateTable creates the orders table (on-demand, pk/sk strings) unless it exists, and
// waits until it is ACTIVE. TTL on TTLAttribute is declared by the deployment template
// (dynalite has no TTL); it is not enabled here.
func CreateTable(ctx context.Context, client TableAPI, name string) error {
	_, err := client.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName: aws.String(name),
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String(PartitionKey), AttributeType: types.ScalarAttributeType(KeyType)},
			{AttributeName: aws.String(SortKey), AttributeType: types.ScalarAttributeType(KeyType)},
			{AttributeName: aws.String(DuePartitionAttr), AttributeType: types.ScalarAttributeType(KeyType)},
			{AttributeName: aws.String(DueSortAttr), AttributeType: types.ScalarAttributeType(DueSortType)},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String(PartitionKey), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String(SortKey), KeyType: types.KeyTypeRange},
		},
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{{
			IndexName: aws.String(DueIndexName),
			KeySchema: []types.KeySchemaElement{
				{AttributeName: aws.String(DuePartitionAttr), KeyType: types.KeyTypeHash},
				{AttributeName: aws.String(DueSortAttr), KeyType: types.KeyTypeRange},
			},
			Projection: &types.Projection{ProjectionType: types.ProjectionType(DueProjection)},
		}},
		BillingMode: types.BillingMode(BillingMode),
	})
	var inUse *types.ResourceInUseException
	if err != nil && !errors.As(err, &inUse) {
		return fmt.Errorf("orders: create table %s: %w", name, err)
	}
	const polls = 600 // × 50 ms: 30 s
	for range polls {
		out, err := client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)})
		if err != nil {
			return fmt.Errorf("orders: describe table %s: %w", name, err)
		}
		t := out.Table
		if !hasKeys(t.KeySchema) {
			return fmt.Errorf("orders: table %s exists with another key schema (want %s/%s)", name, PartitionKey, SortKey)
		}
		if !hasDueIndex(t.GlobalSecondaryIndexes) {
			return fmt.Errorf("orders: table %s exists without the %s index", name, DueIndexName)
		}
		if t.TableStatus == types.TableStatusActive {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("orders: table %s not active: %w", name, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("orders: table %s not active after 30s", name)
}

func hasDueIndex(gsis []types.GlobalSecondaryIndexDescription) bool {
	for _, g := range gsis {
		if aws.ToString(g.IndexName) == DueIndexName {
			return true
		}
	}
	return false
}

func hasKeys(ks []types.KeySchemaElement) bool {
	var hash, rng bool
	for _, k := range ks {
		hash = hash || (aws.ToString(k.AttributeName) == PartitionKey && k.KeyType == types.KeyTypeHash)
		rng = rng || (aws.ToString(k.AttributeName) == SortKey && k.KeyType == types.KeyTypeRange)
	}
	return hash && rng && len(ks) == 2
}

// Items as stored. Times are RFC 3339 UTC strings, except the TTL attribute (epoch
// seconds); money is integer fen.

type appPayItem struct {
	PK                  string               `dynamodbav:"pk"`
	SK                  string               `dynamodbav:"sk"`
	Version             int64                `dynamodbav:"version"`
	OutTradeNo          string               `dynamodbav:"out_trade_no"`
	Owner               string               `dynamodbav:"owner"`
	ParamsHash          string               `dynamodbav:"params_hash"`
	TotalAmount         int64                `dynamodbav:"total_amount"`
	Subject             string               `dynamodbav:"subject,omitempty"`
	ProductCode         string               `dynamodbav:"product_code,omitempty"`
	Status              string               `dynamodbav:"status"`
	OrderStr            string               `dynamodbav:"order_str,omitempty"`
	TradeNo             string               `dynamodbav:"trade_no,omitempty"`
	BuyerID             string               `dynamodbav:"buyer_id,omitempty"`
	BuyerOpenID         string               `dynamodbav:"buyer_open_id,omitempty"`
	ClosedReason        string               `dynamodbav:"closed_reason,omitempty"`
	CloseUnconfirmed    bool                 `dynamodbav:"close_unconfirmed,omitempty"`
	PaidAfterClose      bool                 `dynamodbav:"paid_after_close,omitempty"`
	ExternalRefunds     []externalRefundItem `dynamodbav:"external_refunds,omitempty"`
	RefundFee           int64                `dynamodbav:"refund_fee"`
	PaidAt              string               `dynamodbav:"paid_at,omitempty"`
	PaidAmount          int64                `dynamodbav:"paid_amount,omitempty"`
	ReceiptAmount       int64                `dynamodbav:"receipt_amount,omitempty"`
	BuyerPayAmount      int64                `dynamodbav:"buyer_pay_amount,omitempty"`
	CreatedAt           string               `dynamodbav:"created_at"`
	UpdatedAt           string               `dynamodbav:"updated_at"`
	ExpiresAt           int64                `dynamodbav:"expires_at,omitempty"`
	ExternalAgreementNo string               `dynamodbav:"external_agreement_no,omitempty"`
	PersonalProductCode string               `dynamodbav:"personal_product_code,omitempty"`
	SignScene           string               `dynamodbav:"sign_scene,omitempty"`
	NotifyIDs           []string             `dynamodbav:"notify_ids,omitempty"`
	Ops                 map[string]opRecItem `dynamodbav:"ops,omitempty"`
	PayBy               string               `dynamodbav:"pay_by,omitempty"`
	dueAttrs
}

type externalRefundItem struct {
	OutRequestNo string `dynamodbav:"out_request_no"`
	RefundFee    int64  `dynamodbav:"refund_fee"`
	GmtRefund    string `dynamodbav:"gmt_refund,omitempty"`
}

type agreementItem struct {
	PK                  string   `dynamodbav:"pk"`
	SK                  string   `dynamodbav:"sk"`
	Version             int64    `dynamodbav:"version"`
	ExternalAgreementNo string   `dynamodbav:"external_agreement_no"`
	OutTradeNo          string   `dynamodbav:"out_trade_no"`
	Owner               string   `dynamodbav:"owner"`
	PersonalProductCode string   `dynamodbav:"personal_product_code,omitempty"`
	SignScene           string   `dynamodbav:"sign_scene,omitempty"`
	AgreementNo         string   `dynamodbav:"agreement_no,omitempty"`
	Status              string   `dynamodbav:"status"`
	AlipayUserID        string   `dynamodbav:"alipay_user_id,omitempty"`
	CreatedAt           string   `dynamodbav:"created_at"`
	UpdatedAt           string   `dynamodbav:"updated_at"`
	ExpiresAt           int64    `dynamodbav:"expires_at,omitempty"`
	NotifyIDs           []string `dynamodbav:"notify_ids,omitempty"`

	Rule        *ruleItem            `dynamodbav:"period_rule,omitempty"`
	Ops         map[string]opRecItem `dynamodbav:"ops,omitempty"`
	Invalid     string               `dynamodbav:"invalid,omitempty"`
	OrderPaidAt string               `dynamodbav:"order_paid_at,omitempty"`
	dueAttrs
}

// ruleItem is an agreement's period_rule_params.
type ruleItem struct {
	PeriodType    string `dynamodbav:"period_type"`
	Period        int    `dynamodbav:"period"`
	ExecuteTime   string `dynamodbav:"execute_time"`
	SingleAmount  int64  `dynamodbav:"single_amount"`
	TotalAmount   int64  `dynamodbav:"total_amount,omitempty"`
	TotalPayments int    `dynamodbav:"total_payments,omitempty"`
}

func encodeRule(r *PeriodRule) *ruleItem {
	if r == nil {
		return nil
	}
	return &ruleItem{PeriodType: r.PeriodType, Period: r.Period, ExecuteTime: r.ExecuteTime,
		SingleAmount: int64(r.SingleAmount), TotalAmount: int64(r.TotalAmount), TotalPayments: r.TotalPayments}
}

func decodeRule(it *ruleItem) *PeriodRule {
	if it == nil {
		return nil
	}
	return &PeriodRule{PeriodType: it.PeriodType, Period: it.Period, ExecuteTime: it.ExecuteTime,
		SingleAmount: alipay.Amount(it.SingleAmount), TotalAmount: alipay.Amount(it.TotalAmount), TotalPayments: it.TotalPayments}
}

// tradeNoItem binds an Alipay trade_no to its order. It has no TTL: a binding must
// outlive every notice that could name the trade.
type tradeNoItem struct {
	PK         string `dynamodbav:"pk"`
	SK         string `dynamodbav:"sk"`
	TradeNo    string `dynamodbav:"trade_no"`
	OutTradeNo string `dynamodbav:"out_trade_no"`
	CreatedAt  string `dynamodbav:"created_at"`
}

type preAuthItem struct {
	PK            string                 `dynamodbav:"pk"`
	SK            string                 `dynamodbav:"sk"`
	Version       int64                  `dynamodbav:"version"`
	OutOrderNo    string                 `dynamodbav:"out_order_no"`
	Owner         string                 `dynamodbav:"owner"`
	OrderHash     string                 `dynamodbav:"order_hash"`
	Amount        int64                  `dynamodbav:"amount"`
	OrderTitle    string                 `dynamodbav:"order_title,omitempty"`
	PayeeUserID   string                 `dynamodbav:"payee_user_id,omitempty"`
	Status        string                 `dynamodbav:"status"`
	AuthNo        string                 `dynamodbav:"auth_no,omitempty"`
	PayerUserID   string                 `dynamodbav:"payer_user_id,omitempty"`
	PayerOpenID   string                 `dynamodbav:"payer_open_id,omitempty"`
	TotalFreeze   int64                  `dynamodbav:"total_freeze_amount"`
	TotalUnfreeze int64                  `dynamodbav:"total_unfreeze_amount"`
	TotalPay      int64                  `dynamodbav:"total_pay_amount"`
	Rest          int64                  `dynamodbav:"rest_amount"`
	Requests      map[string]requestItem `dynamodbav:"requests,omitempty"`
	LatestRequest string                 `dynamodbav:"latest_request,omitempty"`
	Operations    map[string]opItem      `dynamodbav:"operations,omitempty"`
	CreatedAt     string                 `dynamodbav:"created_at"`
	UpdatedAt     string                 `dynamodbav:"updated_at"`
	ExpiresAt     int64                  `dynamodbav:"expires_at,omitempty"`
	NotifyIDs     []string               `dynamodbav:"notify_ids,omitempty"`
	Ops           map[string]opRecItem   `dynamodbav:"ops,omitempty"`
	dueAttrs
}

type requestItem struct {
	RequestHash string `dynamodbav:"request_hash"`
	State       string `dynamodbav:"state"`
	Token       string `dynamodbav:"token,omitempty"`
	LeaseUntil  string `dynamodbav:"lease_until,omitempty"`
	CodeType    string `dynamodbav:"code_type,omitempty"`
	CodeValue   string `dynamodbav:"code_value,omitempty"`
	CodeURL     string `dynamodbav:"code_url,omitempty"`
	Code        string `dynamodbav:"code,omitempty"`
	SubCode     string `dynamodbav:"sub_code,omitempty"`
	SubMsg      string `dynamodbav:"sub_msg,omitempty"`
	CreatedAt   string `dynamodbav:"created_at"`
	UpdatedAt   string `dynamodbav:"updated_at"`
	BizContent  string `dynamodbav:"biz_content,omitempty"`
	NotifyURL   string `dynamodbav:"notify_url,omitempty"`
	PayBy       string `dynamodbav:"pay_by,omitempty"`
}

type opItem struct {
	OutRequestNo string `dynamodbav:"out_request_no,omitempty"`
	Type         string `dynamodbav:"operation_type"`
	Status       string `dynamodbav:"status"`
	Amount       int64  `dynamodbav:"amount"`
	GmtTrans     string `dynamodbav:"gmt_trans,omitempty"`
	UpdatedAt    string `dynamodbav:"updated_at"`
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func fmtExpiry(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

// itemDecoder collects the first bad field so decoders stay linear.
type itemDecoder struct{ err error }

func (d *itemDecoder) time(field, s string) time.Time {
	if s == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil && d.err == nil {
		d.err = fmt.Errorf("%s: %w", field, err)
	}
	return t.UTC()
}

func expiry(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(n, 0).UTC()
}

func corrupt(key string, err error) error {
	return fmt.Errorf("%w: corrupt item %s: %w", ErrUnavailable, key, err)
}

func encodeAppPay(o *AppPayOrder) (map[string]types.AttributeValue, error) {
	pk, sk := itemKey(kindAppPay, o.OutTradeNo)
	return attributevalue.MarshalMap(appPayItem{
		PK: pk, SK: sk, Version: o.version,
		OutTradeNo: o.OutTradeNo, Owner: o.Owner, ParamsHash: o.ParamsHash,
		TotalAmount: int64(o.TotalAmount), Subject: o.Subject, ProductCode: o.ProductCode,
		Status: string(o.Status), OrderStr: o.OrderStr, TradeNo: o.TradeNo, BuyerID: o.BuyerID,
		BuyerOpenID: o.BuyerOpenID, ClosedReason: string(o.ClosedReason), CloseUnconfirmed: o.CloseUnconfirmed,
		PaidAfterClose: o.PaidAfterClose, ExternalRefunds: encodeExternalRefunds(o.ExternalRefunds),
		RefundFee: int64(o.RefundFee), PaidAt: fmtTime(o.PaidAt),
		PaidAmount: int64(o.PaidAmount), ReceiptAmount: int64(o.ReceiptAmount), BuyerPayAmount: int64(o.BuyerPayAmount),
		CreatedAt: fmtTime(o.CreatedAt), UpdatedAt: fmtTime(o.UpdatedAt), ExpiresAt: fmtExpiry(o.ExpiresAt),
		ExternalAgreementNo: o.ExternalAgreementNo, PersonalProductCode: o.PersonalProductCode, SignScene: o.SignScene,
		NotifyIDs: o.NotifyIDs, Ops: encodeOps(o.Ops),
		PayBy:    fmtTime(o.PayBy),
		dueAttrs: encodeRecon(o.Recon),
	})
}

func decodeAppPay(m map[string]types.AttributeValue) (*AppPayOrder, error) {
	var it appPayItem
	if err := attributevalue.UnmarshalMap(m, &it); err != nil {
		return nil, corrupt("app-pay order", err)
	}
	var d itemDecoder
	o := &AppPayOrder{
		OutTradeNo: it.OutTradeNo, Owner: it.Owner, ParamsHash: it.ParamsHash,
		TotalAmount: alipay.Amount(it.TotalAmount), Subject: it.Subject, ProductCode: it.ProductCode,
		Status: TradeStatus(it.Status), OrderStr: it.OrderStr, TradeNo: it.TradeNo, BuyerID: it.BuyerID,
		BuyerOpenID: it.BuyerOpenID, ClosedReason: ClosedReason(it.ClosedReason), CloseUnconfirmed: it.CloseUnconfirmed,
		PaidAfterClose: it.PaidAfterClose, ExternalRefunds: decodeExternalRefunds(&d, it.ExternalRefunds),
		RefundFee: alipay.Amount(it.RefundFee), PaidAt: d.time("paid_at", it.PaidAt),
		PaidAmount: alipay.Amount(it.PaidAmount), ReceiptAmount: alipay.Amount(it.ReceiptAmount),
		BuyerPayAmount: alipay.Amount(it.BuyerPayAmount),
		CreatedAt:      d.time("created_at", it.CreatedAt), UpdatedAt: d.time("updated_at", it.UpdatedAt),
		ExpiresAt:           expiry(it.ExpiresAt),
		ExternalAgreementNo: it.ExternalAgreementNo, PersonalProductCode: it.PersonalProductCode, SignScene: it.SignScene,
		NotifyIDs: it.NotifyIDs, Ops: decodeOps(&d, it.Ops), version: it.Version,
		PayBy: d.time("pay_by", it.PayBy),
		Recon: decodeRecon(&d, it.dueAttrs),
	}
	if d.err != nil {
		return nil, corrupt("out_trade_no "+it.OutTradeNo, d.err)
	}
	return o, nil
}

func encodeExternalRefunds(rs []ExternalRefund) []externalRefundItem {
	var out []externalRefundItem
	for _, r := range rs {
		out = append(out, externalRefundItem{OutRequestNo: r.OutRequestNo, RefundFee: int64(r.RefundFee), GmtRefund: fmtTime(r.GmtRefund)})
	}
	return out
}

func decodeExternalRefunds(d *itemDecoder, items []externalRefundItem) []ExternalRefund {
	var out []ExternalRefund
	for _, it := range items {
		out = append(out, ExternalRefund{OutRequestNo: it.OutRequestNo, RefundFee: alipay.Amount(it.RefundFee),
			GmtRefund: d.time("gmt_refund", it.GmtRefund)})
	}
	return out
}

func encodeAgreement(a *Agreement) (map[string]types.AttributeValue, error) {
	pk, sk := itemKey(kindAgreement, a.ExternalAgreementNo)
	return attributevalue.MarshalMap(agreementItem{
		PK: pk, SK: sk, Version: a.version,
		ExternalAgreementNo: a.ExternalAgreementNo, OutTradeNo: a.OutTradeNo, Owner: a.Owner,
		PersonalProductCode: a.PersonalProductCode, SignScene: a.SignScene, AgreementNo: a.AgreementNo,
		Status: string(a.Status), AlipayUserID: a.AlipayUserID,
		CreatedAt: fmtTime(a.CreatedAt), UpdatedAt: fmtTime(a.UpdatedAt), ExpiresAt: fmtExpiry(a.ExpiresAt),
		NotifyIDs: a.NotifyIDs,
		Rule:      encodeRule(a.Rule), Ops: encodeOps(a.Ops), Invalid: a.Invalid, OrderPaidAt: fmtTime(a.OrderPaidAt),
		dueAttrs: encodeRecon(a.Recon),
	})
}

func decodeAgreement(m map[string]types.AttributeValue) (*Agreement, error) {
	var it agreementItem
	if err := attributevalue.UnmarshalMap(m, &it); err != nil {
		return nil, corrupt("agreement", err)
	}
	var d itemDecoder
	a := &Agreement{
		ExternalAgreementNo: it.ExternalAgreementNo, OutTradeNo: it.OutTradeNo, Owner: it.Owner,
		PersonalProductCode: it.PersonalProductCode, SignScene: it.SignScene, AgreementNo: it.AgreementNo,
		Status: AgreementStatus(it.Status), AlipayUserID: it.AlipayUserID,
		CreatedAt: d.time("created_at", it.CreatedAt), UpdatedAt: d.time("updated_at", it.UpdatedAt),
		ExpiresAt: expiry(it.ExpiresAt), NotifyIDs: it.NotifyIDs, version: it.Version,
		Rule: decodeRule(it.Rule), Ops: decodeOps(&d, it.Ops), Invalid: it.Invalid,
		OrderPaidAt: d.time("order_paid_at", it.OrderPaidAt), Recon: decodeRecon(&d, it.dueAttrs),
	}
	if d.err != nil {
		return nil, corrupt("external_agreement_no "+it.ExternalAgreementNo, d.err)
	}
	return a, nil
}

func encodePreAuth(o *PreAuthOrder) (map[string]types.AttributeValue, error) {
	pk, sk := itemKey(kindPreAuth, o.OutOrderNo)
	it := preAuthItem{
		PK: pk, SK: sk, Version: o.version,
		OutOrderNo: o.OutOrderNo, Owner: o.Owner, OrderHash: o.OrderHash, Amount: int64(o.Amount),
		OrderTitle: o.OrderTitle, PayeeUserID: o.PayeeUserID, Status: string(o.Status), AuthNo: o.AuthNo,
		PayerUserID: o.PayerUserID, PayerOpenID: o.PayerOpenID,
		TotalFreeze: int64(o.TotalFreeze), TotalUnfreeze: int64(o.TotalUnfreeze), TotalPay: int64(o.TotalPay), Rest: int64(o.Rest),
		LatestRequest: o.LatestRequest,
		CreatedAt:     fmtTime(o.CreatedAt), UpdatedAt: fmtTime(o.UpdatedAt), ExpiresAt: fmtExpiry(o.ExpiresAt),
		NotifyIDs: o.NotifyIDs, Ops: encodeOps(o.Ops),
		dueAttrs: encodeRecon(o.Recon),
	}
	if len(o.Requests) > 0 {
		it.Requests = make(map[string]requestItem, len(o.Requests))
		for k, r := range o.Requests {
			it.Requests[k] = requestItem{
				RequestHash: r.RequestHash, State: string(r.State), Token: r.token, LeaseUntil: fmtTime(r.LeaseUntil),
				CodeType: r.CodeType, CodeValue: r.CodeValue, CodeURL: r.CodeURL,
				Code: r.Code, SubCode: r.SubCode, SubMsg: r.SubMsg,
				CreatedAt: fmtTime(r.CreatedAt), UpdatedAt: fmtTime(r.UpdatedAt),
				BizContent: r.BizContent, NotifyURL: r.NotifyURL, PayBy: fmtTime(r.PayBy),
			}
		}
	}
	if len(o.Operations) > 0 {
		it.Operations = make(map[string]opItem, len(o.Operations))
		for k, op := range o.Operations {
			it.Operations[k] = opItem{
				OutRequestNo: op.OutRequestNo, Type: string(op.Type), Status: string(op.Status),
				Amount: int64(op.Amount), GmtTrans: fmtTime(op.GmtTrans), UpdatedAt: fmtTime(op.UpdatedAt),
			}
		}
	}
	return attributevalue.MarshalMap(it)
}

func decodePreAuth(m map[string]types.AttributeValue) (*PreAuthOrder, error) {
	var it preAuthItem
	if err := attributevalue.UnmarshalMap(m, &it); err != nil {
		return nil, corrupt("pre-auth order", err)
	}
	var d itemDecoder
	o := &PreAuthOrder{
		OutOrderNo: it.OutOrderNo, Owner: it.Owner, OrderHash: it.OrderHash, Amount: alipay.Amount(it.Amount),
		OrderTitle: it.OrderTitle, PayeeUserID: it.PayeeUserID, Status: PreAuthStatus(it.Status), AuthNo: it.AuthNo,
		PayerUserID: it.PayerUserID, PayerOpenID: it.PayerOpenID,
		TotalFreeze: alipay.Amount(it.TotalFreeze), TotalUnfreeze: alipay.Amount(it.TotalUnfreeze), TotalPay: alipay.Amount(it.TotalPay), Rest: alipay.Amount(it.Rest),
		LatestRequest: it.LatestRequest,
		CreatedAt:     d.time("created_at", it.CreatedAt), UpdatedAt: d.time("updated_at", it.UpdatedAt),
		ExpiresAt: expiry(it.ExpiresAt), NotifyIDs: it.NotifyIDs, Ops: decodeOps(&d, it.Ops), version: it.Version,
		Recon: decodeRecon(&d, it.dueAttrs),
	}
	if len(it.Requests) > 0 {
		o.Requests = make(map[string]VoucherRequest, len(it.Requests))
		for k, r := range it.Requests {
			o.Requests[k] = VoucherRequest{
				OutRequestNo: k, RequestHash: r.RequestHash, State: RequestState(r.State), token: r.Token,
				LeaseUntil: d.time("lease_until", r.LeaseUntil),
				CodeType:   r.CodeType, CodeValue: r.CodeValue, CodeURL: r.CodeURL,
				Code: r.Code, SubCode: r.SubCode, SubMsg: r.SubMsg,
				CreatedAt: d.time("created_at", r.CreatedAt), UpdatedAt: d.time("updated_at", r.UpdatedAt),
				BizContent: r.BizContent, NotifyURL: r.NotifyURL, PayBy: d.time("pay_by", r.PayBy),
			}
		}
	}
	if len(it.Operations) > 0 {
		o.Operations = make(map[string]FundOperation, len(it.Operations))
		for k, op := range it.Operations {
			o.Operations[k] = FundOperation{
				OperationID: k, OutRequestNo: op.OutRequestNo, Type: OperationType(op.Type), Status: OperationStatus(op.Status),
				Amount: alipay.Amount(op.Amount), GmtTrans: d.time("gmt_trans", op.GmtTrans), UpdatedAt: d.time("updated_at", op.UpdatedAt),
			}
		}
	}
	if d.err != nil {
		return nil, corrupt("out_order_no "+it.OutOrderNo, d.err)
	}
	return o, nil
}

func unavailable(op string, err error) error {
	return fmt.Errorf("%w: dynamodb %s: %w", ErrUnavailable, op, err)
}

func isConditionFailed(err error) bool {
	var ccf *types.ConditionalCheckFailedException
	return errors.As(err, &ccf)
}

func keyOf(pk, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		PartitionKey: &types.AttributeValueMemberS{Value: pk},
		SortKey:      &types.AttributeValueMemberS{Value: sk},
	}
}

// get reads an item with a strongly consistent read; nil when absent.
func (s *DynamoStore) get(ctx context.Context, kind, id string) (map[string]types.AttributeValue, error) {
	out, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.table),
		Key:            keyOf(itemKey(kind, id)),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, unavailable("GetItem", err)
	}
	if len(out.Item) == 0 {
		return nil, nil
	}
	return out.Item, nil
}

// putNew writes item unless its key exists; false when it exists.
func (s *DynamoStore) putNew(ctx context.Context, item map[string]types.AttributeValue) (bool, error) {
	_, err := s.client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                aws.String(s.table),
		Item:                     item,
		ConditionExpression:      aws.String("attribute_not_exists(#pk)"),
		ExpressionAttributeNames: map[string]string{"#pk": PartitionKey},
	})
	if err == nil {
		return true, nil
	}
	if isConditionFailed(err) {
		return false, nil
	}
	return false, unavailable("PutItem", err)
}

// update writes the difference between old and next (both full encodings) in one
// UpdateItem conditional on the item still carrying old's version and, for a
// notification, not yet holding its notify_id. False when the condition failed.
func (s *DynamoStore) update(ctx context.Context, old, next map[string]types.AttributeValue, notifyID string) (bool, error) {
	names := map[string]string{"#ver": "version"}
	values := map[string]types.AttributeValue{":ver": old["version"]}
	cond := "#ver = :ver"
	if notifyID != "" {
		names["#nids"] = "notify_ids"
		values[":nid"] = &types.AttributeValueMemberS{Value: notifyID}
		cond += " AND NOT contains(#nids, :nid)"
	}
	var sets, removes []string
	keys := slices.Sorted(maps.Keys(next))
	for i, k := range keys {
		if k == PartitionKey || k == SortKey || reflect.DeepEqual(old[k], next[k]) {
			continue
		}
		n, v := "#s"+strconv.Itoa(i), ":s"+strconv.Itoa(i)
		names[n], values[v] = k, next[k]
		sets = append(sets, n+" = "+v)
	}
	i := 0
	for k := range old {
		if _, ok := next[k]; !ok {
			n := "#r" + strconv.Itoa(i)
			names[n] = k
			removes = append(removes, n)
			i++
		}
	}
	expr := "SET " + strings.Join(sets, ", ")
	if len(removes) > 0 {
		expr += " REMOVE " + strings.Join(removes, ", ")
	}
	_, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.table),
		Key:                       map[string]types.AttributeValue{PartitionKey: next[PartitionKey], SortKey: next[SortKey]},
		UpdateExpression:          aws.String(expr),
		ConditionExpression:       aws.String(cond),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
	})
	if err == nil {
		return true, nil
	}
	if isConditionFailed(err) {
		return false, nil
	}
	return false, unavailable("UpdateItem", err)
}

// retry runs attempt until it reports done, at most maxWriteAttempts times, with a short
// random pause between attempts so racing writers spread out.
func (s *DynamoStore) retry(ctx context.Context, what string, attempt func() (bool, error)) error {
	for n := range maxWriteAttempts {
		done, err := attempt()
		if err != nil || done {
			return err
		}
		pause := time.Duration(rand.Int64N(int64(n+1)*int64(2*time.Millisecond) + 1))
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: %s: %w", ErrUnavailable, what, ctx.Err())
		case <-time.After(pause):
		}
	}
	return fmt.Errorf("%w: %s: still contended after %d attempts", ErrUnavailable, what, maxWriteAttempts)
}

func (s *DynamoStore) CreateAppPayOrder(ctx context.Context, in *AppPayOrder) (CreateOutcome, *AppPayOrder, error) {
	o, a, err := newAppPayOrder(in)
	if err != nil {
		return "", nil, err
	}
	if a != nil {
		// Refuse early if the agreement number already belongs to another order, so no
		// order is written whose agreement can never be ours.
		cur, err := s.getAgreement(ctx, a.ExternalAgreementNo)
		if err != nil {
			return "", nil, err
		}
		if cur != nil && cur.OutTradeNo != o.OutTradeNo {
			return Conflict, nil, nil
		}
	}
	if ok, err := s.claimAppPayOutTrade(ctx, o); err != nil {
		return "", nil, err
	} else if !ok {
		return Conflict, nil, nil // a capture's or charge's out_trade_no
	}
	refreshDue(o)
	outcome := Created
	err = s.retry(ctx, "create app-pay order", func() (bool, error) {
		item, err := encodeAppPay(o)
		if err != nil {
			return false, corrupt("new item", err)
		}
		ok, err := s.putNew(ctx, item)
		if err != nil || ok {
			return true, err
		}
		raw, err := s.get(ctx, kindAppPay, o.OutTradeNo)
		if err != nil || raw == nil {
			return false, err // expired between the put and the read: put again
		}
		cur, err := decodeAppPay(raw)
		if err != nil {
			return false, err
		}
		if !sameAppPayRequest(cur, o) {
			outcome = Conflict
			return true, nil
		}
		outcome, o = Replayed, cur
		return true, nil
	})
	if err != nil {
		return "", nil, err
	}
	if outcome == Conflict {
		return Conflict, nil, nil
	}
	if o.ExternalAgreementNo == "" {
		return outcome, o, nil
	}
	// The agreement record is written after the order; a replay repairs a crash between.
	// The rule is the request's: the same params hash, the same rule.
	o.AgreementRule = in.AgreementRule
	if _, a, err = newAppPayOrder(o); err != nil {
		return "", nil, err
	}
	var stored *Agreement
	err = s.retry(ctx, "create agreement", func() (bool, error) {
		item, err := encodeAgreement(a)
		if err != nil {
			return false, corrupt("new item", err)
		}
		ok, err := s.putNew(ctx, item)
		if err != nil || ok {
			stored = a
			return true, err
		}
		stored, err = s.getAgreement(ctx, a.ExternalAgreementNo)
		return stored != nil, err
	})
	if err != nil {
		return "", nil, err
	}
	if stored.OutTradeNo != o.OutTradeNo {
		return Conflict, nil, nil
	}
	return outcome, o.withAgreement(stored), nil
}

func (s *DynamoStore) getAgreement(ctx context.Context, externalAgreementNo string) (*Agreement, error) {
	raw, err := s.get(ctx, kindAgreement, externalAgreementNo)
	if err != nil || raw == nil {
		return nil, err
	}
	return decodeAgreement(raw)
}

func (s *DynamoStore) GetAppPayOrder(ctx context.Context, outTradeNo string) (*AppPayOrder, error) {
	raw, err := s.get(ctx, kindAppPay, outTradeNo)
	if err != nil {
		return nil, err
	}
	if raw == nil {
		return nil, fmt.Errorf("%w: out_trade_no %s", ErrNotFound, outTradeNo)
	}
	o, err := decodeAppPay(raw)
	if err != nil {
		return nil, err
	}
	if o.ExternalAgreementNo == "" {
		return o, nil
	}
	a, err := s.getAgreement(ctx, o.ExternalAgreementNo)
	if err != nil {
		return nil, err
	}
	return o.withAgreement(a), nil
}

func (s *DynamoStore) GetAgreement(ctx context.Context, externalAgreementNo string) (*Agreement, error) {
	a, err := s.getAgreement(ctx, externalAgreementNo)
	if err != nil {
		return nil, err
	}
	if a == nil {
		return nil, fmt.Errorf("%w: external_agreement_no %s", ErrNotFound, externalAgreementNo)
	}
	return publicAgreement(a), nil
}

func (s *DynamoStore) GetPreAuthOrder(ctx context.Context, outOrderNo string) (*PreAuthOrder, error) {
	raw, err := s.get(ctx, kindPreAuth, outOrderNo)
	if err != nil {
		return nil, err
	}
	if raw == nil {
		return nil, fmt.Errorf("%w: out_order_no %s", ErrNotFound, outOrderNo)
	}
	o, err := decodePreAuth(raw)
	if err != nil {
		return nil, err
	}
	return publicPreAuth(o), nil
}

func (s *DynamoStore) BeginVoucher(ctx context.Context, b VoucherBegin) (VoucherBeginResult, error) {
	if err := validateBegin(b); err != nil {
		return VoucherBeginResult{}, err
	}
	var res VoucherBeginResult
	err := s.retry(ctx, "begin voucher", func() (bool, error) {
		raw, err := s.get(ctx, kindPreAuth, b.OutOrderNo)
		if err != nil {
			return false, err
		}
		var cur *PreAuthOrder
		if raw != nil {
			if cur, err = decodePreAuth(raw); err != nil {
				return false, err
			}
		}
		next, r, err := beginVoucher(cur, b, newToken())
		if err != nil || next == nil {
			res = r
			return true, err
		}
		ok, err := writeRecord(ctx, s, cur, next, cur == nil, encodePreAuth, "")
		if ok {
			res = r
		}
		return ok, err
	})
	return res, err
}

func (s *DynamoStore) CompleteVoucher(ctx context.Context, outOrderNo, outRequestNo, token string, out VoucherOutcome) error {
	if err := validateOutcome(token, out); err != nil {
		return err
	}
	found, err := update(ctx, s, "complete voucher", preAuthCodec, outOrderNo, "", func(next *PreAuthOrder) (bool, error) {
		return completeVoucher(next, outRequestNo, token, out)
	})
	if err == nil && !found {
		err = fmt.Errorf("%w: out_order_no %s", ErrNotFound, outOrderNo)
	}
	return err
}

// ApplyTrade binds the trade_no to the order, then updates the order: two writes,
// ordered so that a crash between them leaves a binding without the update, never an
// applied notice without its binding; Alipay's resend finds the binding its own and
// completes the update. The binding is claimed only after the notice passed the order's
// own checks, so a notice the order rejects binds nothing.
func (s *DynamoStore) ApplyTrade(ctx context.Context, e TradeEffect) (ApplyResult, error) {
	if err := validateTrade(e); err != nil {
		return "", err
	}
	var res ApplyResult
	bound := false
	err := s.retry(ctx, "apply trade notice", func() (bool, error) {
		raw, err := s.get(ctx, kindAppPay, e.OutTradeNo)
		if err != nil {
			return false, err
		}
		if raw == nil {
			res = NotFound
			return true, nil
		}
		cur, err := decodeAppPay(raw)
		if err != nil {
			return false, err
		}
		next := cur.clone()
		if res, err = applyTrade(next, e); err != nil {
			return true, err
		}
		if !bound {
			ok, err := s.bindTradeNo(ctx, e)
			if err != nil || !ok {
				return false, err // !ok: lost a race for the binding; decide again
			}
			bound = true
		}
		if res != Applied {
			return true, nil
		}
		if paidNow(cur, next) {
			// Before the order's write: a crash between is repaired by the redelivery.
			if err := s.agreementOrderPaid(ctx, next, e.Now); err != nil {
				return false, err
			}
		}
		return writeRecord(ctx, s, cur, next, false, encodeAppPay, e.NotifyID)
	})
	if err != nil {
		res = ""
	}
	return res, err
}

// agreementOrderPaid notes on o's agreement that o is paid (the agreement's due rule).
func (s *DynamoStore) agreementOrderPaid(ctx context.Context, o *AppPayOrder, now time.Time) error {
	_, err := update(ctx, s, "note agreement order paid", agreementCodec, o.ExternalAgreementNo, "", func(next *Agreement) (bool, error) {
		return agreementOrderPaid(next, o.OutTradeNo, cmp.Or(o.PaidAt, normTime(now))), nil
	})
	return err
}

// bindTradeNo reads the trade_no's binding and, when unbound, claims it for the notice's
// order with a conditional put. False when another writer claimed it first (read again);
// ErrTradeNoBound when it belongs to another order.
func (s *DynamoStore) bindTradeNo(ctx context.Context, e TradeEffect) (bool, error) {
	raw, err := s.get(ctx, kindTradeNo, e.TradeNo)
	if err != nil {
		return false, err
	}
	var cur tradeNoItem
	if raw != nil {
		if err := attributevalue.UnmarshalMap(raw, &cur); err != nil {
			return false, corrupt(kindTradeNo+"#"+e.TradeNo, err)
		}
		if cur.OutTradeNo == "" {
			return false, corrupt(kindTradeNo+"#"+e.TradeNo, errors.New("out_trade_no is empty"))
		}
	}
	claim, err := bindTradeNo(cur.OutTradeNo, e)
	if err != nil || !claim {
		return err == nil, err
	}
	pk, sk := itemKey(kindTradeNo, e.TradeNo)
	item, err := attributevalue.MarshalMap(tradeNoItem{PK: pk, SK: sk, TradeNo: e.TradeNo, OutTradeNo: e.OutTradeNo, CreatedAt: fmtTime(normTime(e.Now))})
	if err != nil {
		return false, corrupt("new item", err)
	}
	return s.putNew(ctx, item)
}

func (s *DynamoStore) ApplyFundAuth(ctx context.Context, e FundAuthEffect) (ApplyResult, error) {
	if err := validateFundAuth(e); err != nil {
		return "", err
	}
	res := NotFound
	_, err := update(ctx, s, "apply fund-auth notice", preAuthCodec, e.OutOrderNo, e.NotifyID, func(next *PreAuthOrder) (bool, error) {
		var err error
		res, err = applyFundAuth(next, e)
		return res == Applied, err
	})
	return res, err
}

func (s *DynamoStore) ApplyAgreement(ctx context.Context, e AgreementEffect) (ApplyResult, error) {
	if err := validateAgreement(e); err != nil {
		return "", err
	}
	res := NotFound
	_, err := update(ctx, s, "apply agreement notice", agreementCodec, e.ExternalAgreementNo, e.NotifyID, func(next *Agreement) (bool, error) {
		res = applyAgreement(next, e)
		return res == Applied, nil
	})
	return res, err
}

// codec is how one record type is stored: its kind in the key, its item encoding, and
// how the decisions get a copy to change.
type codec[T record] struct {
	kind   string
	decode func(map[string]types.AttributeValue) (T, error)
	encode func(T) (map[string]types.AttributeValue, error)
	clone  func(T) T
}

var (
	preAuthCodec   = codec[*PreAuthOrder]{kindPreAuth, decodePreAuth, encodePreAuth, (*PreAuthOrder).clone}
	appPayCodec    = codec[*AppPayOrder]{kindAppPay, decodeAppPay, encodeAppPay, (*AppPayOrder).clone}
	agreementCodec = codec[*Agreement]{kindAgreement, decodeAgreement, encodeAgreement, (*Agreement).clone}
)

// update is the read-decide-write of one existing record, retried on a version conflict:
// decide changes next (a copy of the stored record, fresh on every attempt) and says
// whether to write it. found is false when there is no such record (nothing written).
func update[T record](ctx context.Context, s *DynamoStore, what string, c codec[T], key, notifyID string,
	decide func(next T) (bool, error)) (found bool, err error) {
	err = s.retry(ctx, what, func() (bool, error) {
		raw, err := s.get(ctx, c.kind, key)
		if err != nil {
			return false, err
		}
		if found = raw != nil; !found {
			return true, nil
		}
		cur, err := c.decode(raw)
		if err != nil {
			return false, err
		}
		next := c.clone(cur)
		write, err := decide(next)
		if err != nil || !write {
			return true, err
		}
		return writeRecord(ctx, s, cur, next, false, c.encode, notifyID)
	})
	return found, err
}

// record is an order or agreement, whose version guards every update.
type record interface {
	*AppPayOrder | *PreAuthOrder | *Agreement
	versionRef() *int64
}

func (o *AppPayOrder) versionRef() *int64  { return &o.version }
func (o *PreAuthOrder) versionRef() *int64 { return &o.version }
func (a *Agreement) versionRef() *int64    { return &a.version }

// writeRecord stores next over cur in one conditional write: a put if the item must be
// new (isNew), else an update conditional on cur's version. False when the condition
// failed (someone else wrote first).
func writeRecord[T record](ctx context.Context, s *DynamoStore, cur, next T, isNew bool,
	encode func(T) (map[string]types.AttributeValue, error), notifyID string) (bool, error) {
	if h, ok := any(next).(dueHolder); ok {
		refreshDue(h)
	}
	if isNew {
		*next.versionRef() = 1
		item, err := encode(next)
		if err != nil {
			return false, corrupt("new item", err)
		}
		return s.putNew(ctx, item)
	}
	*next.versionRef() = *cur.versionRef() + 1
	old, err := encode(cur)
	if err != nil {
		return false, corrupt("current item", err)
	}
	item, err := encode(next)
	if err != nil {
		return false, corrupt("next item", err)
	}
	return s.update(ctx, old, item, notifyID)
}
