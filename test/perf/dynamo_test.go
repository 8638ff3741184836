//go:build linux

package perf

import (
	"context"
	"fmt"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/alipay-serverless/alipay-serverless/shared/orders"
	"github.com/alipay-serverless/alipay-serverless/test/harness/dynalitetest"
)

// processCPU is the user and system CPU time this process has used.
func processCPU(tb testing.TB) (user, sys time.Duration) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())
}

// BenchmarkDynamoPaths runs the three hot paths over the DynamoDB store, on dynalite
// (a separate process), and reports cpu-us/op: this process's CPU time per op, which
// adds the SDK's request signing, marshalling and HTTP to the memory-store figures.
// Wall time (ns/op) is mostly dynalite's and says nothing about production. The
// createvoucher figure includes the simulator's verify and sign, as in
// BenchmarkVoucherPath. Run it with -benchtime=1000x or so.
func BenchmarkDynamoPaths(b *testing.B) {
	db := dynalitetest.Start(b)
	client := dynalitetest.NewClient(b, db.Endpoint())
	var tables atomic.Int64
	// Each run gets its own table: ops reuse ids from 0, as the memory-store runs do.
	newStore := func(b *testing.B) *orders.DynamoStore {
		name := fmt.Sprintf("perf-%d", tables.Add(1))
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := orders.CreateTable(ctx, client, name); err != nil {
			b.Fatal(err)
		}
		return orders.NewDynamoStore(client, name)
	}
	measure := func(b *testing.B, fn lambdaFunc, ev events.APIGatewayV2HTTPRequest, bodies []string, check func(events.APIGatewayV2HTTPResponse) error) {
		user0, sys0 := processCPU(b)
		serveOps(b, fn, ev, bodies, check)
		user1, sys1 := processCPU(b)
		b.StopTimer()
		b.ReportMetric(float64((user1-user0).Microseconds())/float64(b.N), "user-us/op")
		b.ReportMetric(float64((sys1-sys0).Microseconds())/float64(b.N), "sys-us/op")
	}
	b.Run("apppaysign", func(b *testing.B) {
		measure(b, appPayFunctionWith(b, newStore(b)), appPayEvent(""), appPayBodies(b.N), isOK)
	})
	b.Run("notify", func(b *testing.B) {
		bodies := notices(b, b.N)
		measure(b, notifyFunctionWith(b, newStore(b), b.N), notifyEvent(""), bodies, isSuccess)
	})
	b.Run("createvoucher", func(b *testing.B) {
		measure(b, voucherFunctionWith(b, newStore(b)), voucherEvent(""), voucherBodies(b.N), isOK)
	})
}
