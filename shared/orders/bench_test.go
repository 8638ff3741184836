package orders_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
	"github.com/alipay-serverless/alipay-serverless/shared/orders"
	"github.com/alipay-serverless/alipay-serverless/test/harness/dynalitetest"
)

var benchNow = time.Date(2025, 6, 1, 4, 0, 0, 0, time.UTC)

func benchOrder(key string) *orders.AppPayOrder {
	return &orders.AppPayOrder{OutTradeNo: key, Owner: "c", ParamsHash: "h", TotalAmount: alipay.MaxAmount,
		Subject: "bench", OrderStr: "app_id=2021000000000001&biz_content=...", CreatedAt: benchNow}
}

// benchApply applies b.N trade notices that each carry news (a growing cumulative refund),
// so every iteration is a real conditional write, never a Duplicate or Stale shortcut.
func benchApply(b *testing.B, s orders.Store) {
	ctx := context.Background()
	if _, _, err := s.CreateAppPayOrder(ctx, benchOrder("T1")); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := range b.N {
		e := orders.TradeEffect{NotifyID: fmt.Sprintf("n%d", i), OutTradeNo: "T1", TradeNo: "2025060122001422520500000001", TradeStatus: orders.TradeSuccess,
			RefundFee: alipay.Amount(i), Now: benchNow}
		if res, err := s.ApplyTrade(ctx, e); err != nil || res != orders.Applied {
			b.Fatalf("apply %d: %v %v", i, res, err)
		}
	}
}

func BenchmarkMemoryCreateGet(b *testing.B) {
	s := orders.NewMemoryStore()
	ctx := context.Background()
	for i := range b.N {
		key := fmt.Sprintf("T%d", i)
		if _, _, err := s.CreateAppPayOrder(ctx, benchOrder(key)); err != nil {
			b.Fatal(err)
		}
		if _, err := s.GetAppPayOrder(ctx, key); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMemoryApplyTrade(b *testing.B) { benchApply(b, orders.NewMemoryStore()) }

func benchDynamo(b *testing.B) *orders.DynamoStore {
	srv := dynalitetest.Start(b)
	client := dynalitetest.NewClient(b, srv.Endpoint())
	return orders.NewDynamoStore(client, newTable(b, client))
}

// BenchmarkDynamoGetItem: one GetItem round trip to dynalite on loopback.
func BenchmarkDynamoGetItem(b *testing.B) {
	s := benchDynamo(b)
	ctx := context.Background()
	if _, _, err := s.CreateAppPayOrder(ctx, benchOrder("T1")); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		if _, err := s.GetAppPayOrder(ctx, "T1"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDynamoApplyTrade: GetItem + conditional UpdateItem per notice.
func BenchmarkDynamoApplyTrade(b *testing.B) { benchApply(b, benchDynamo(b)) }
