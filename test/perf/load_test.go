//go:build linux

package perf

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/alipay-serverless/alipay-serverless/shared/orders"
	"github.com/alipay-serverless/alipay-serverless/test/harness/dynalitetest"
)

var (
	loadDuration    = flag.Duration("load.duration", 20*time.Second, "BenchmarkLoad: how long the driver runs")
	loadConcurrency = flag.Int("load.concurrency", 16, "BenchmarkLoad: concurrent clients")
	loadOrders      = flag.Int("load.orders", 16000, "BenchmarkLoad: most orders the driver runs through")
)

// loadSummary is what cmd/loaddriver prints.
type loadSummary struct {
	Concurrency int                `json:"concurrency"`
	Prepare     float64            `json:"prepare_seconds"`
	Seconds     float64            `json:"seconds"`
	Bound       string             `json:"bound"`
	Requests    int                `json:"requests"`
	PerSecond   float64            `json:"requests_per_second"`
	Orders      int                `json:"orders"`
	Errors      int                `json:"errors"`
	ErrorKinds  map[string]int     `json:"error_kinds"`
	FirstError  string             `json:"first_error"`
	Latency     map[string]latency `json:"latency"`
}

type latency struct {
	Count int     `json:"count"`
	P50   float64 `json:"p50_ms"`
	P99   float64 `json:"p99_ms"`
	Max   float64 `json:"max_ms"`
}

type notified struct {
	OutTradeNo string `json:"out_trade_no"`
	NotifyID   string `json:"notify_id"`
	Deliveries int    `json:"deliveries"`
}

func goBuild(tb testing.TB, out, pkg string) string {
	tb.Helper()
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, pkg)
	cmd.Dir = moduleRoot(tb)
	if b, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("build %s: %v\n%s", pkg, err, b)
	}
	return out
}

func freeAddr(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// waitHealthy polls /healthz until the server answers or the deadline passes.
func waitHealthy(tb testing.TB, base string, exited <-chan struct{}, logs *boundedBuf) {
	tb.Helper()
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			tb.Fatalf("local server exited during start:\n%s", logs.String())
		default:
		}
		if resp, err := client.Get(base + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	tb.Fatalf("local server not healthy at %s:\n%s", base, logs.String())
}

// BenchmarkLoad runs cmd/local against dynalite with credentials from the reference
// key files, and cmd/loaddriver against it from a second process: -load.concurrency
// clients for -load.duration (or -load.orders orders), a mix of app-pay creates, reads
// and notifications. Afterwards every notified order is read back from the table: it
// must be TRADE_SUCCESS with exactly its one notify_id, however often it was delivered.
// One op is the whole run; use -benchtime=1x. Reported: req/s, p50/p99 per kind, errors,
// and the server's CPU time per request.
func BenchmarkLoad(b *testing.B) {
	b.StopTimer()
	dir := b.TempDir()
	local := goBuild(b, filepath.Join(dir, "local"), "./cmd/local")
	driver := goBuild(b, filepath.Join(dir, "loaddriver"), "./test/perf/cmd/loaddriver")
	db := dynalitetest.Start(b)
	const table = "orders-load"
	store := orders.NewDynamoStore(dynalitetest.NewClient(b, db.Endpoint()), table)
	for range b.N {
		addr := freeAddr(b)
		base := "http://" + addr
		srv := exec.Command(local, "-addr", addr, "-dynamodb-endpoint", db.Endpoint(), "-table", table, "-qr=false", "-log-json")
		srv.Env = append(os.Environ(),
			"ALIPAY_APP_ID="+testAppID,
			"ALIPAY_PRIVATE_KEY_FILE="+keyPath(b, "app_private_pkcs1.pem"),
			"ALIPAY_PUBLIC_KEY_FILE="+keyPath(b, "alipay_public.pem"),
			"ALIPAY_SELLER_ID="+testSellerID,
			"AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=local", "AWS_SECRET_ACCESS_KEY=local", "AWS_EC2_METADATA_DISABLED=true",
		)
		logs := &boundedBuf{max: 16 << 10}
		srv.Stdout, srv.Stderr = logs, logs
		srv.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := srv.Start(); err != nil {
			b.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { _ = srv.Wait(); close(exited) }()
		stop := func() {
			_ = srv.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(15 * time.Second):
				_ = srv.Process.Kill()
				<-exited
			}
		}
		waitHealthy(b, base, exited, logs)

		manifest := filepath.Join(dir, "manifest.json")
		ctx, cancel := context.WithTimeout(context.Background(), *loadDuration+2*time.Minute)
		drv := exec.CommandContext(ctx, driver, "-base", base, "-concurrency", strconv.Itoa(*loadConcurrency),
			"-duration", loadDuration.String(), "-orders", strconv.Itoa(*loadOrders),
			"-alipay-key", keyPath(b, "alipay_private_pkcs1.pem"), "-app-id", testAppID, "-seller-id", testSellerID,
			"-manifest", manifest, "-run-id", fmt.Sprintf("R%d", time.Now().UnixNano()%1_000_000))
		var stderr bytes.Buffer
		drv.Stderr = &stderr
		b.StartTimer()
		out, err := drv.Output()
		b.StopTimer()
		cancel()
		stop()
		if err != nil {
			b.Fatalf("loaddriver: %v\n%s\nserver:\n%s", err, stderr.String(), logs.String())
		}
		var sum loadSummary
		if err := json.Unmarshal(out, &sum); err != nil {
			b.Fatalf("loaddriver summary %q: %v", out, err)
		}
		checked, missing := verifyEffects(b, store, manifest)

		cpu := srv.ProcessState.UserTime() + srv.ProcessState.SystemTime()
		var rss int64
		if ru, ok := srv.ProcessState.SysUsage().(*syscall.Rusage); ok {
			rss = ru.Maxrss << 10
		}
		b.ReportMetric(sum.PerSecond, "req/s")
		b.ReportMetric(float64(sum.Requests), "requests")
		b.ReportMetric(float64(sum.Errors), "errors")
		b.ReportMetric(float64(checked), "notified-orders")
		b.ReportMetric(float64(missing), "bad-effects")
		for _, kind := range []string{"create", "read", "notify"} {
			l := sum.Latency[kind]
			b.ReportMetric(l.P50, kind+"-p50-ms")
			b.ReportMetric(l.P99, kind+"-p99-ms")
		}
		if sum.Requests > 0 {
			b.ReportMetric(float64(cpu.Microseconds())/float64(sum.Requests), "server-cpu-us/req")
		}
		b.ReportMetric(float64(rss)/(1<<20), "server-peak-rss-MB")
		b.ReportMetric(sum.Seconds, "seconds")
		if sum.Errors > 0 || missing > 0 {
			b.Errorf("load run: %d errors %v (first: %s), %d notifications without exactly one effect",
				sum.Errors, sum.ErrorKinds, sum.FirstError, missing)
		}
	}
}

// verifyEffects reads every notified order back from the table and counts them, and
// those that are not TRADE_SUCCESS with exactly their one notify_id.
func verifyEffects(tb testing.TB, store *orders.DynamoStore, manifest string) (checked, bad int) {
	tb.Helper()
	raw, err := os.ReadFile(manifest)
	if err != nil {
		tb.Fatal(err)
	}
	var ns []notified
	if err := json.Unmarshal(raw, &ns); err != nil {
		tb.Fatal(err)
	}
	if len(ns) == 0 {
		tb.Fatal("the load run notified no order")
	}
	for _, n := range ns {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		o, err := store.GetAppPayOrder(ctx, n.OutTradeNo)
		cancel()
		switch {
		case err != nil:
			tb.Logf("%s: %v", n.OutTradeNo, err)
			bad++
		case o.Status != orders.TradeSuccess || len(o.NotifyIDs) != 1 || o.NotifyIDs[0] != n.NotifyID:
			tb.Logf("%s: status %s, receipts %v after %d deliveries of %s", n.OutTradeNo, o.Status, o.NotifyIDs, n.Deliveries, n.NotifyID)
			bad++
		}
	}
	return len(ns), bad
}
