package orders

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// QueryAPI is what ListDue needs on top of DynamoAPI (dynalite implements it).
type QueryAPI interface {
	Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

// dueAttrs are the due index's key attributes and the schedule, embedded in every order
// item. due_pk and due_at are present only while the item is due (sparse index).
type dueAttrs struct {
	DuePK string     `dynamodbav:"due_pk,omitempty"`
	DueAt int64      `dynamodbav:"due_at,omitempty"` // epoch milliseconds
	Recon *reconItem `dynamodbav:"recon,omitempty"`
}

type reconItem struct {
	Work       string `dynamodbav:"work"`
	Attempts   int    `dynamodbav:"attempts"`
	Failures   int    `dynamodbav:"failures"`
	NotBefore  string `dynamodbav:"not_before,omitempty"`
	ClaimToken string `dynamodbav:"claim_token,omitempty"`
	ClaimUntil string `dynamodbav:"claim_until,omitempty"`
	Stuck      bool   `dynamodbav:"stuck,omitempty"`
	LastError  string `dynamodbav:"last_error,omitempty"`
}

func encodeRecon(r ReconState) dueAttrs {
	var a dueAttrs
	if r.Work == "" {
		return a
	}
	a.Recon = &reconItem{
		Work: r.Work, Attempts: r.Attempts, Failures: r.Failures, NotBefore: fmtTime(r.NotBefore),
		ClaimToken: r.ClaimToken, ClaimUntil: fmtTime(r.ClaimUntil), Stuck: r.Stuck, LastError: r.LastError,
	}
	if !r.DueAt.IsZero() {
		a.DuePK, a.DueAt = DuePartition, r.DueAt.UnixMilli()
	}
	return a
}

func decodeRecon(d *itemDecoder, a dueAttrs) ReconState {
	var r ReconState
	if a.Recon != nil {
		it := a.Recon
		r = ReconState{
			Work: it.Work, Attempts: it.Attempts, Failures: it.Failures, NotBefore: d.time("not_before", it.NotBefore),
			ClaimToken: it.ClaimToken, ClaimUntil: d.time("claim_until", it.ClaimUntil), Stuck: it.Stuck, LastError: it.LastError,
		}
	}
	if a.DuePK != "" {
		r.DueAt = time.UnixMilli(a.DueAt).UTC()
	}
	return r
}

func (s *DynamoStore) MarkVoucherNotCreated(ctx context.Context, outOrderNo, outRequestNo string, now time.Time) error {
	if outOrderNo == "" || outRequestNo == "" || now.IsZero() {
		return invalid("out_request_no", "order, request and now are required")
	}
	found, err := update(ctx, s, "mark voucher not created", preAuthCodec, outOrderNo, "", func(next *PreAuthOrder) (bool, error) {
		return markNotCreated(next, outRequestNo, now)
	})
	if err == nil && !found {
		err = fmt.Errorf("%w: out_order_no %s", ErrNotFound, outOrderNo)
	}
	return err
}

func (s *DynamoStore) ExpireAppPayOrder(ctx context.Context, outTradeNo string, now time.Time) (ApplyResult, error) {
	if outTradeNo == "" || now.IsZero() {
		return "", invalid("out_trade_no", "and now are required")
	}
	res := NotFound
	_, err := update(ctx, s, "expire app-pay order", appPayCodec, outTradeNo, "", func(next *AppPayOrder) (bool, error) {
		res = expireAppPay(next, now)
		return res == Applied, nil
	})
	if err != nil {
		return "", err
	}
	return res, nil
}

// ListDue queries the sparse due index: one key condition on (due_pk, due_at ≤ now),
// keys only, at most limit items, so its cost follows the due items, not the table.
func (s *DynamoStore) ListDue(ctx context.Context, now time.Time, limit int) ([]DueRef, error) {
	if limit <= 0 {
		return nil, invalid("limit", "must be positive")
	}
	q, ok := s.client.(QueryAPI)
	if !ok {
		return nil, fmt.Errorf("%w: the DynamoDB client cannot Query", ErrUnavailable)
	}
	var refs []DueRef
	var start map[string]types.AttributeValue
	for len(refs) < limit {
		out, err := q.Query(ctx, &dynamodb.QueryInput{
			TableName:              aws.String(s.table),
			IndexName:              aws.String(DueIndexName),
			KeyConditionExpression: aws.String("#p = :p AND #t <= :now"),
			ExpressionAttributeNames: map[string]string{
				"#p": DuePartitionAttr, "#t": DueSortAttr,
			},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":p":   &types.AttributeValueMemberS{Value: DuePartition},
				":now": &types.AttributeValueMemberN{Value: strconv.FormatInt(now.UnixMilli(), 10)},
			},
			Limit:             aws.Int32(int32(limit - len(refs))),
			ExclusiveStartKey: start,
		})
		if err != nil {
			return nil, unavailable("Query", err)
		}
		for _, it := range out.Items {
			ref, err := dueRefOf(it)
			if err != nil {
				return nil, err
			}
			refs = append(refs, ref)
		}
		if len(out.LastEvaluatedKey) == 0 {
			break
		}
		start = out.LastEvaluatedKey
	}
	return refs, nil
}

// dueRefOf reads an index entry (keys only: pk, sk, due_pk, due_at).
func dueRefOf(it map[string]types.AttributeValue) (DueRef, error) {
	pk, _ := it[PartitionKey].(*types.AttributeValueMemberS)
	at, _ := it[DueSortAttr].(*types.AttributeValueMemberN)
	if pk == nil || at == nil {
		return DueRef{}, corrupt("due index entry", errors.New("pk or due_at missing"))
	}
	kind, id, _ := strings.Cut(pk.Value, "#")
	ms, err := strconv.ParseInt(at.Value, 10, 64)
	if err != nil {
		return DueRef{}, corrupt(pk.Value, err)
	}
	ref := DueRef{OrderNo: id, DueAt: time.UnixMilli(ms).UTC()}
	switch kind {
	case kindPreAuth:
		ref.Parent = ParentPreAuth
	case kindAppPay:
		ref.Parent = ParentAppPay
	case kindAgreement:
		ref.Parent = ParentAgreement
	default:
		return DueRef{}, corrupt(pk.Value, errors.New("not an order item"))
	}
	return ref, nil
}

// dynDue reads the item, runs decide on a copy and writes it conditional on the version
// read when decide says so, retrying a lost race like every other update.
func (s *DynamoStore) dynDue(ctx context.Context, what string, ref DueRef, decide func(h dueHolder) (bool, error)) error {
	if err := validateDueRef(ref); err != nil {
		return err
	}
	switch ref.Parent {
	case ParentPreAuth:
		return dynDueOf(ctx, s, what, kindPreAuth, ref, decodePreAuth, encodePreAuth, (*PreAuthOrder).clone, decide)
	case ParentAgreement:
		return dynDueOf(ctx, s, what, kindAgreement, ref, decodeAgreement, encodeAgreement, (*Agreement).clone, decide)
	default:
		return dynDueOf(ctx, s, what, kindAppPay, ref, decodeAppPay, encodeAppPay, (*AppPayOrder).clone, decide)
	}
}

func dynDueOf[T interface {
	record
	dueHolder
}](ctx context.Context, s *DynamoStore, what, kind string, ref DueRef,
	decode func(map[string]types.AttributeValue) (T, error), encode func(T) (map[string]types.AttributeValue, error),
	clone func(T) T, decide func(h dueHolder) (bool, error)) error {
	return s.retry(ctx, what, func() (bool, error) {
		raw, err := s.get(ctx, kind, ref.OrderNo)
		if err != nil {
			return false, err
		}
		if raw == nil {
			return false, fmt.Errorf("%w: %s order %s", ErrNotFound, ref.Parent, ref.OrderNo)
		}
		cur, err := decode(raw)
		if err != nil {
			return false, err
		}
		next := clone(cur)
		write, err := decide(next)
		if err != nil || !write {
			return true, err
		}
		return writeRecord(ctx, s, cur, next, false, encode, "")
	})
}

func (s *DynamoStore) ClaimDue(ctx context.Context, ref DueRef, now, until time.Time) (DueClaim, error) {
	var claim DueClaim
	err := s.dynDue(ctx, "claim due item", ref, func(h dueHolder) (bool, error) {
		c, err := claimDue(h, now, until, newToken())
		claim = c
		return err == nil, err
	})
	if err != nil {
		return DueClaim{}, err
	}
	claim.Ref = ref
	return claim, nil
}

func (s *DynamoStore) FinishDue(ctx context.Context, ref DueRef, f DueFinish) (ReconState, error) {
	if err := validateFinish(f); err != nil {
		return ReconState{}, err
	}
	var st ReconState
	err := s.dynDue(ctx, "finish due item", ref, func(h dueHolder) (bool, error) {
		_, err := finishDue(h, f)
		st = *h.recon()
		return err == nil, err
	})
	return st, err
}
