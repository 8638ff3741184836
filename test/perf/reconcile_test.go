package perf

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
	"github.com/alipay-serverless/alipay-serverless/shared/config"
	"github.com/alipay-serverless/alipay-serverless/shared/credentials"
	"github.com/alipay-serverless/alipay-serverless/shared/orders"
	"github.com/alipay-serverless/alipay-serverless/shared/reconcile"
	"github.com/alipay-serverless/alipay-serverless/shared/sandbox"
	"github.com/alipay-serverless/alipay-serverless/shared/wiring"
)

// BenchmarkReconcile is items reconciled per second at the default concurrency
// (RECONCILE_CONCURRENCY 8) against the simulator: b.N app-pay orders were paid while
// their notifications were lost; passes as of 10 minutes later ask alipay.trade.query
// about each (the simulator verifies the request and signs the reply on the same CPU)
// and apply the answer to the memory store. One op is one order settled.
func BenchmarkReconcile(b *testing.B) {
	sim, err := sandbox.New(sandbox.Options{
		AppID: testAppID, AppPublicKey: privateKey(b, "app_private_pkcs1.pem").Public(),
		AlipayKey: privateKey(b, "alipay_private_pkcs1.pem"), MaxOrders: 1 << 22,
	})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(sim.Handler())
	b.Cleanup(func() { srv.Close(); _ = sim.Close() })
	creds := &alipay.Credentials{AppID: testAppID, PrivateKey: privateKey(b, "app_private_pkcs1.pem"),
		AlipayPublicKey: privateKey(b, "alipay_private_pkcs1.pem").Public()}
	store := orders.NewMemoryStore()
	created := time.Now()
	for i := range b.N {
		p := &alipay.AppPayParams{OutTradeNo: fmt.Sprintf("BR%08d", i), TotalAmount: 990, Subject: "Bench", ProductCode: "QUICK_MSECURITY_PAY"}
		biz, err := p.BizContent()
		if err != nil {
			b.Fatal(err)
		}
		// No notify_url: the notification is lost, as on a day the notify route is down.
		str, err := alipay.OrderString(creds, biz, alipay.OrderStringOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := store.CreateAppPayOrder(b.Context(), &orders.AppPayOrder{OutTradeNo: p.OutTradeNo, Owner: "o", ParamsHash: "h",
			TotalAmount: 990, Subject: p.Subject, ProductCode: p.ProductCode, OrderStr: str, CreatedAt: created}); err != nil {
			b.Fatal(err)
		}
		body, _ := json.Marshal(map[string]string{"order_str": str})
		resp, err := http.Post(srv.URL+"/sandbox/orders/pay", "application/json", bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("pay: %d", resp.StatusCode)
		}
	}
	r, err := wiring.NewReconcile(wiring.Deps{
		Config: config.Config{GatewayTimeout: 10 * time.Second, ReconcileBatch: config.DefaultReconcileBatch,
			ReconcileConcurrency: config.DefaultReconcileConcurrency, ReconcileMaxAttempts: config.DefaultReconcileMaxAttempts},
		Store: store, Credentials: credentials.Static{Creds: creds}, Gateway: alipay.NewClient(srv.URL + sandbox.GatewayPath),
	})
	if err != nil {
		b.Fatal(err)
	}
	now := created.Add(10 * time.Minute)
	b.ResetTimer()
	start := time.Now()
	var total reconcile.Summary
	for range b.N/config.DefaultReconcileBatch + 2 {
		sum, err := r.Pass(b.Context(), now)
		if err != nil {
			b.Fatal(err)
		}
		total.Resolved += sum.Resolved
		total.Errors += sum.Errors
		if sum.Examined == 0 {
			break
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	if total.Resolved != b.N || total.Errors != 0 {
		b.Fatalf("resolved %d of %d, %d errors", total.Resolved, b.N, total.Errors)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "items/s")
}
