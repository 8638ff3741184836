//go:build linux

package perf

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
	"github.com/alipay-serverless/alipay-serverless/shared/httpapi"
	"github.com/alipay-serverless/alipay-serverless/shared/orders"
	"github.com/alipay-serverless/alipay-serverless/shared/sandbox"
	"github.com/alipay-serverless/alipay-serverless/test/harness/dynalitetest"
	"github.com/alipay-serverless/alipay-serverless/test/harness/smtest"
)

// functions are the directories under functions/, in the order reports list them.
var functions = []string{httpapi.FnCreateVoucher, httpapi.FnAppPaySign, httpapi.FnNotify}

// buildBootstrap builds functions/<fn> for the host with the flags `make build` uses
// for arm64 (static, lambda.norpc, trimmed, stripped) into dir/<fn>/bootstrap.
func buildBootstrap(tb testing.TB, dir, fn string) string {
	tb.Helper()
	out := filepath.Join(dir, fn, "bootstrap")
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-trimpath", "-buildvcs=false", "-ldflags=-s -w", "-o", out, "./functions/"+fn)
	cmd.Dir = moduleRoot(tb)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	if b, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("build %s: %v\n%s", fn, err, b)
	}
	return out
}

// coldStack is what a deployed function finds around it, on loopback: the Secrets
// Manager stand-in holding the credentials secret, dynalite with the orders table, and
// the gateway simulator.
type coldStack struct {
	sm        *smtest.Server
	db        *dynalitetest.Server
	store     *orders.DynamoStore
	table     string
	gateway   string
	alipayKey *alipay.PrivateKey
	bins      map[string]string
	seq       atomic.Int64
}

func newColdStack(tb testing.TB) *coldStack {
	tb.Helper()
	s := &coldStack{sm: smtest.Start(tb), db: dynalitetest.Start(tb), table: "orders-perf", bins: map[string]string{},
		alipayKey: privateKey(tb, "alipay_private_pkcs1.pem")}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client := dynalitetest.NewClient(tb, s.db.Endpoint())
	if err := orders.CreateTable(ctx, client, s.table); err != nil {
		tb.Fatal(err)
	}
	s.store = orders.NewDynamoStore(client, s.table)
	secret, err := json.Marshal(map[string]string{
		"app_id":            testAppID,
		"private_key":       string(readKey(tb, "app_private_pkcs8.txt")),
		"alipay_public_key": string(readKey(tb, "alipay_public.txt")),
	})
	if err != nil {
		tb.Fatal(err)
	}
	s.sm.Put("alipay/perf", string(secret))
	sim, err := sandbox.New(sandbox.Options{AppID: testAppID, AppPublicKey: privateKey(tb, "app_private_pkcs1.pem").Public(),
		AlipayKey: s.alipayKey, MaxOrders: 1 << 20})
	if err != nil {
		tb.Fatal(err)
	}
	gw := httptest.NewServer(sim.Handler())
	tb.Cleanup(func() { gw.Close(); _ = sim.Close() })
	s.gateway = gw.URL + sandbox.GatewayPath

	dir := tb.TempDir()
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, fn := range functions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := buildBootstrap(tb, dir, fn)
			mu.Lock()
			s.bins[fn] = p
			mu.Unlock()
		}()
	}
	wg.Wait()
	return s
}

// firstEvent prepares (untimed) the first request a fresh instance of fn serves: a
// voucher through the simulator, an app-pay order, or a genuine notification for an
// order already in the table.
func (s *coldStack) firstEvent(tb testing.TB, fn string) (events.APIGatewayV2HTTPRequest, func(events.APIGatewayV2HTTPResponse) error) {
	tb.Helper()
	i := int(s.seq.Add(1))
	switch fn {
	case httpapi.FnCreateVoucher:
		return voucherEvent(voucherBody(i)),
			func(r events.APIGatewayV2HTTPResponse) error {
				if r.StatusCode != http.StatusOK || !strings.Contains(r.Body, `"status":"CODE_ISSUED"`) {
					return fmt.Errorf("voucher: %d %s", r.StatusCode, r.Body)
				}
				return nil
			}
	case httpapi.FnAppPaySign:
		return appPayEvent(appPayBody(i)),
			func(r events.APIGatewayV2HTTPResponse) error {
				if _, err := orderStrOf(r, nil); err != nil {
					return err
				}
				return nil
			}
	default:
		now := time.Now()
		o := &orders.AppPayOrder{OutTradeNo: noticeOrderID(i), Owner: "app-user-1", ParamsHash: "h",
			TotalAmount: alipay.MustAmount(noticeAmount), Subject: "大乐透 2.1", Status: orders.TradeCreated,
			OrderStr: "app_id=" + testAppID, CreatedAt: now, UpdatedAt: now, ExpiresAt: now.Add(48 * time.Hour)}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if res, _, err := s.store.CreateAppPayOrder(ctx, o); err != nil || res != orders.Created {
			tb.Fatalf("seed order: %v %v", res, err)
		}
		return notifyEvent(noticeBody(tb, s.alipayKey, i)), func(r events.APIGatewayV2HTTPResponse) error {
			if r.StatusCode != http.StatusOK || r.Body != alipay.NotifySuccessReply {
				return fmt.Errorf("notify: %d %q", r.StatusCode, r.Body)
			}
			return nil
		}
	}
}

// coldRun is one cold start.
type coldRun struct {
	init, reply time.Duration // exec → first poll of /next; exec → first reply
	cpu         time.Duration // user+system time of the process
	peakRSS     int64         // bytes
}

// start execs fn's bootstrap under a fresh Runtime API stand-in (runtimeapi_test.go)
// with the first event already queued, and measures until its reply.
func (s *coldStack) start(b *testing.B, fn string) coldRun {
	b.StopTimer()
	ev, check := s.firstEvent(b, fn)
	rt, err := startRuntimeAPI()
	if err != nil {
		b.Fatal(err)
	}
	defer rt.Close()
	env := []string{
		"AWS_LAMBDA_RUNTIME_API=" + rt.Addr(), "AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=test",
		"AWS_SECRET_ACCESS_KEY=test", "AWS_EC2_METADATA_DISABLED=true", "AWS_ENDPOINT_URL_SECRETS_MANAGER=" + s.sm.URL(),
		"AWS_LAMBDA_FUNCTION_NAME=" + fn, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=512", "ALIPAY_SECRET_ID=alipay/perf",
		"ORDERS_TABLE=" + s.table, "DYNAMODB_ENDPOINT=" + s.db.Endpoint(), "ALIPAY_GATEWAY_URL=" + s.gateway,
		"ALIPAY_SELLER_ID=" + testSellerID, "HOME=" + b.TempDir(),
	}
	cmd := exec.Command(s.bins[fn])
	cmd.Env = env
	logs := &boundedBuf{max: 16 << 10}
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	type reply struct {
		res invocationResult
		err error
	}
	replied := make(chan reply, 1)

	b.StartTimer()
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	go func() {
		res, err := rt.Invoke(ctx, ev, 10*time.Second)
		replied <- reply{res, err}
	}()
	var run coldRun
	select {
	case <-rt.Ready():
		run.init = time.Since(t0)
	case <-ctx.Done():
	}
	r := <-replied
	run.reply = time.Since(t0)
	b.StopTimer()

	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if r.err != nil || r.res.Error != nil {
		b.Fatalf("%s: no reply (%v %+v)\n%s", fn, r.err, r.res.Error, logs.String())
	}
	var resp events.APIGatewayV2HTTPResponse
	if err := json.Unmarshal(r.res.Payload, &resp); err != nil {
		b.Fatalf("%s: reply is not an API Gateway response: %s", fn, r.res.Payload)
	}
	if err := check(resp); err != nil {
		b.Fatalf("%s: %v\n%s", fn, err, logs.String())
	}
	run.cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		run.peakRSS = ru.Maxrss << 10 // KiB on Linux
	}
	b.StartTimer()
	return run
}

func medianDuration(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// BenchmarkColdStart execs each function's bootstrap, one op per cold start, from exec
// to the first reply (a real request with its store write and, for createvoucher, its
// gateway call); run it with -benchtime=8x. Reported per function: p50-ms and max-ms of
// exec → first reply, init-p50-ms (exec → first poll for an event), cpu-p50-ms (the
// process's user+system time) and peak-rss-MB (the largest peak RSS of the runs).
func BenchmarkColdStart(b *testing.B) {
	s := newColdStack(b)
	for _, fn := range functions {
		b.Run(fn, func(b *testing.B) {
			var reply, init, cpu []time.Duration
			var rss int64
			for range b.N {
				r := s.start(b, fn)
				reply, init, cpu = append(reply, r.reply), append(init, r.init), append(cpu, r.cpu)
				rss = max(rss, r.peakRSS)
			}
			b.ReportMetric(ms(medianDuration(reply)), "p50-ms")
			b.ReportMetric(ms(slices.Max(reply)), "max-ms")
			b.ReportMetric(ms(medianDuration(init)), "init-p50-ms")
			b.ReportMetric(ms(medianDuration(cpu)), "cpu-p50-ms")
			b.ReportMetric(float64(rss)/(1<<20), "peak-rss-MB")
		})
	}
}

// boundedBuf keeps the first max bytes of a process's output for failure messages.
type boundedBuf struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (w *boundedBuf) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if room := w.max - len(w.b); room > 0 {
		w.b = append(w.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (w *boundedBuf) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return string(w.b)
}
