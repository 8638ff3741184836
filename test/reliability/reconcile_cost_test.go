package reliability

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/alipay-serverless/alipay-serverless/shared/orders"
	"github.com/alipay-serverless/alipay-serverless/shared/reconcile"
	"github.com/alipay-serverless/alipay-serverless/test/harness/dynalitetest"
)

// readCounter is the DynamoDB client counting the items each read returns.
type readCounter struct {
	*dynamodb.Client
	queried, got atomic.Int64
}

func (c *readCounter) Query(ctx context.Context, in *dynamodb.QueryInput, opt ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	out, err := c.Client.Query(ctx, in, opt...)
	if err == nil {
		c.queried.Add(int64(len(out.Items)))
	}
	return out, err
}

func (c *readCounter) GetItem(ctx context.Context, in *dynamodb.GetItemInput, opt ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	out, err := c.Client.GetItem(ctx, in, opt...)
	if err == nil && len(out.Item) > 0 {
		c.got.Add(1)
	}
	return out, err
}

// fillSettled writes n settled (paid) app-pay orders: one is made through the store, the
// rest are copies of its item under other keys, written with BatchWriteItem in parallel.
func fillSettled(t *testing.T, db *dynamodb.Client, table string, n int) {
	t.Helper()
	s := orders.NewDynamoStore(db, table)
	created := time.Now().Add(-time.Hour)
	if _, _, err := s.CreateAppPayOrder(t.Context(), &orders.AppPayOrder{OutTradeNo: "SETTLED_TEMPLATE", Owner: "o", ParamsHash: "h",
		TotalAmount: 990, Subject: "s", ProductCode: "QUICK_MSECURITY_PAY", OrderStr: "x", CreatedAt: created}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ApplyTrade(t.Context(), orders.TradeEffect{NotifyID: "n", OutTradeNo: "SETTLED_TEMPLATE", TradeStatus: orders.TradeSuccess,
		TradeNo: "T0", TotalAmount: 990, Now: created}); err != nil {
		t.Fatal(err)
	}
	out, err := db.GetItem(t.Context(), &dynamodb.GetItemInput{TableName: aws.String(table), Key: map[string]types.AttributeValue{
		orders.PartitionKey: &types.AttributeValueMemberS{Value: "APPPAY#SETTLED_TEMPLATE"}, orders.SortKey: &types.AttributeValueMemberS{Value: "APPPAY"}}})
	if err != nil || out.Item[orders.DuePartitionAttr] != nil {
		t.Fatalf("template item %v (err %v)", out.Item, err)
	}
	const perBatch, workers = 25, 8
	batches := make(chan int)
	var wg sync.WaitGroup
	var failed atomic.Value
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range batches {
				var reqs []types.WriteRequest
				for i := b * perBatch; i < min((b+1)*perBatch, n); i++ {
					item := make(map[string]types.AttributeValue, len(out.Item))
					for k, v := range out.Item {
						item[k] = v
					}
					id := fmt.Sprintf("SETTLED_%07d", i)
					item[orders.PartitionKey] = &types.AttributeValueMemberS{Value: "APPPAY#" + id}
					item["out_trade_no"] = &types.AttributeValueMemberS{Value: id}
					reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: item}})
				}
				for range 20 { // unprocessed items are written again
					res, err := db.BatchWriteItem(context.Background(), &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{table: reqs}})
					if err != nil {
						failed.Store(err)
						break
					}
					if reqs = res.UnprocessedItems[table]; len(reqs) == 0 {
						break
					}
				}
			}
		}()
	}
	for b := range (n + perBatch - 1) / perBatch {
		batches <- b
	}
	close(batches)
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		t.Fatal(err)
	}
}

type costRun struct {
	settled       int
	queried, read int64
	examined      int
	elapsed       time.Duration
}

// costOfPass fills a fresh table with settled orders and dueN due ones, then runs one
// pass (resolvers that wait: the store's cost alone) and counts what it read.
func costOfPass(t *testing.T, dyn *dynalitetest.Server, table string, settled, dueN int) costRun {
	t.Helper()
	db := dynalitetest.NewClient(t, dyn.Endpoint())
	if err := orders.CreateTable(t.Context(), db, table); err != nil {
		t.Fatal(err)
	}
	fillSettled(t, db, table, settled)
	counter := &readCounter{Client: db}
	s := orders.NewDynamoStore(counter, table)
	created := time.Now().Add(-time.Hour)
	for i := range dueN {
		if _, _, err := s.CreateAppPayOrder(t.Context(), &orders.AppPayOrder{OutTradeNo: fmt.Sprintf("DUE_%05d", i), Owner: "o",
			ParamsHash: "h", TotalAmount: 100, Subject: "s", ProductCode: "QUICK_MSECURITY_PAY", OrderStr: "x", CreatedAt: created}); err != nil {
			t.Fatal(err)
		}
	}
	reg := reconcile.Registry{}
	reg.Register(orders.DueAppPayOpen, "", reconcile.ResolverFunc(func(context.Context, reconcile.DueItem, time.Time) (reconcile.Outcome, error) {
		return reconcile.Outcome{Result: orders.DueWaiting}, nil
	}))
	r := reconcile.New(s, reg, reconcile.Config{Batch: dueN, Concurrency: reconcile.DefaultConcurrency}, nil)
	counter.queried.Store(0)
	counter.got.Store(0)
	start := time.Now()
	sum, err := r.Pass(t.Context(), time.Now())
	elapsed := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	return costRun{settled: settled, queried: counter.queried.Load(), read: counter.got.Load(), examined: sum.Examined, elapsed: elapsed}
}

// TestReconcileCostDoesNotGrowWithTheTable: a pass over the same 200 due items reads the
// same items with 1,000 and with 10,000 settled orders in the table (100,000 under
// RELIABILITY_SOAK=1): the due index holds only what is due.
func TestReconcileCostDoesNotGrowWithTheTable(t *testing.T) {
	const dueN = 200
	dyn := dynalitetest.Start(t)
	small := costOfPass(t, dyn, "cost_small", 1000, dueN)
	large := costOfPass(t, dyn, "cost_large", scale(10000, 100000), dueN)
	for _, c := range []costRun{small, large} {
		t.Logf("settled %d, due %d: index entries read %d, items read %d, examined %d, pass %s",
			c.settled, dueN, c.queried, c.read, c.examined, c.elapsed.Round(time.Millisecond))
		if c.examined != dueN || c.queried != dueN {
			t.Errorf("settled %d: examined %d, %d index entries read; want %d each", c.settled, c.examined, c.queried, dueN)
		}
	}
	if small.queried != large.queried || small.read != large.read {
		t.Fatalf("reads grew with the table: %d+%d with %d settled, %d+%d with %d", small.queried, small.read, small.settled,
			large.queried, large.read, large.settled)
	}
}
