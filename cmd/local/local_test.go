package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startLocal runs the local server in process on a free port with env and returns its
// base URL; it is shut down (and must exit cleanly) when the test ends.
func startLocal(t *testing.T, env map[string]string, args ...string) (string, *syncBuf) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuf{}
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"-addr", "127.0.0.1:0"}, args...), out, func(k string) string { return env[k] }, ready)
	}()
	select {
	case addr := <-ready:
		t.Cleanup(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("run: %v", err)
				}
			case <-time.After(15 * time.Second):
				t.Error("local server did not shut down")
			}
			if t.Failed() {
				t.Logf("server output:\n%s", out.String())
			}
		})
		return "http://" + addr, out
	case err := <-done:
		cancel()
		t.Fatalf("run: %v\n%s", err, out.String())
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("local server did not start")
	}
	return "", nil
}

func call(t *testing.T, method, u, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	client := &http.Client{Timeout: 20 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var v map[string]any
	_ = json.Unmarshal(b, &v)
	if v == nil {
		v = map[string]any{"_raw": string(b)}
	}
	return resp.StatusCode, v
}

// waitStatus polls GET path until the order's status is want (bounded).
func waitStatus(t *testing.T, u, want string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	var last map[string]any
	for time.Now().Before(deadline) {
		code, v := call(t, "GET", u, "")
		if code == 200 && v["status"] == want {
			return v
		}
		last = v
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s never reached %s; last %v", u, want, last)
	return nil
}

func TestVoucherScanFreezesFunds(t *testing.T) {
	base, out := startLocal(t, nil)
	code, v := call(t, "POST", base+"/v1/preauth/vouchers",
		`{"out_order_no":"PA100","out_request_no":"PA100R1","order_title":"押金 deposit","amount":"100.00","product_code":"PRE_AUTH"}`)
	if code != 200 || v["status"] != "CODE_ISSUED" || v["code_value"] == "" {
		t.Fatalf("voucher: %d %v", code, v)
	}
	if !strings.Contains(out.String(), "voucher for PA100") {
		t.Error("the voucher's QR code was not shown in the terminal")
	}
	if code, v := call(t, "POST", base+"/sandbox/vouchers/scan", `{"out_order_no":"PA100"}`); code != 200 {
		t.Fatalf("scan: %d %v", code, v)
	}
	o := waitStatus(t, base+"/v1/preauth/orders/PA100", "AUTHORIZED")
	if o["total_freeze_amount"] != "100.00" || o["rest_amount"] != "100.00" || o["auth_no"] == "" {
		t.Errorf("order after freeze: %v", o)
	}
}

func TestOrderStrPaidByTheSimulator(t *testing.T) {
	base, _ := startLocal(t, nil)
	code, v := call(t, "POST", base+"/v1/app-pay/orders",
		`{"out_trade_no":"AP100","total_amount":"9.90","subject":"Demo order","product_code":"QUICK_MSECURITY_PAY"}`)
	if code != 200 || v["status"] != "CREATED" {
		t.Fatalf("create: %d %v", code, v)
	}
	body, _ := json.Marshal(map[string]any{"order_str": v["order_str"]})
	if code, v := call(t, "POST", base+"/sandbox/orders/pay", string(body)); code != 200 {
		t.Fatalf("pay: %d %v", code, v)
	}
	o := waitStatus(t, base+"/v1/app-pay/orders/AP100", "TRADE_SUCCESS")
	if o["trade_no"] == "" || o["total_amount"] != "9.90" {
		t.Errorf("order after payment: %v", o)
	}
}

// A notify endpoint that fails the first deliveries still ends in the right state,
// through the simulator's retries.
func TestFailingNotifyEndpointRecoversThroughRetries(t *testing.T) {
	var target atomic.Value
	var seen atomic.Int32
	flaky := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if seen.Add(1) <= 2 {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("fail"))
			return
		}
		u, _ := url.Parse(target.Load().(string))
		httputil.NewSingleHostReverseProxy(u).ServeHTTP(w, r)
	}))
	defer flaky.Close()
	base, _ := startLocal(t, map[string]string{"ALIPAY_NOTIFY_URL": flaky.URL + "/v1/notify/alipay"})
	target.Store(base)
	code, v := call(t, "POST", base+"/v1/app-pay/orders",
		`{"out_trade_no":"AP200","total_amount":"1.00","subject":"Retry demo"}`)
	if code != 200 {
		t.Fatalf("create: %d %v", code, v)
	}
	body, _ := json.Marshal(map[string]any{"order_str": v["order_str"]})
	if code, v := call(t, "POST", base+"/sandbox/orders/pay", string(body)); code != 200 {
		t.Fatalf("pay: %d %v", code, v)
	}
	waitStatus(t, base+"/v1/app-pay/orders/AP200", "TRADE_SUCCESS")
	if n := seen.Load(); n < 3 {
		t.Errorf("only %d deliveries reached the notify endpoint", n)
	}
}

func TestHealthzAndUnknownRoutes(t *testing.T) {
	base, _ := startLocal(t, nil)
	if code, v := call(t, "GET", base+"/healthz", ""); code != 200 || v["status"] != "ok" {
		t.Fatalf("healthz: %d %v", code, v)
	}
	if code, _ := call(t, "GET", base+"/v1/nope", ""); code != 404 {
		t.Fatalf("unknown route: %d", code)
	}
}

func TestBadFlagsAreUsageErrors(t *testing.T) {
	err := run(context.Background(), []string{"-nope"}, io.Discard, func(string) string { return "" }, nil)
	if err == nil || !strings.Contains(err.Error(), "usage") {
		t.Fatalf("err = %v", err)
	}
}

// The built binary starts, answers /healthz and exits 0 on SIGTERM.
func TestBinaryServesAndShutsDownOnSIGTERM(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "local")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-addr", "127.0.0.1:0")
	cmd.Env = []string{"HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH")}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := make(chan string, 64)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	addrRe := regexp.MustCompile(`local server on (http://127\.0\.0\.1:\d+)`)
	var base string
	timeout := time.After(30 * time.Second)
	var output []string
	for base == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("exited before serving:\n%s", strings.Join(output, "\n"))
			}
			output = append(output, l)
			if m := addrRe.FindStringSubmatch(l); m != nil {
				base = m[1]
			}
		case <-timeout:
			t.Fatal("no start-up banner")
		}
	}
	if code, v := call(t, "GET", base+"/healthz", ""); code != 200 {
		t.Fatalf("healthz: %d %v", code, v)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		for l := range lines {
			output = append(output, l)
		}
		done <- cmd.Wait()
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit: %v\n%s", err, strings.Join(output, "\n"))
		}
	case <-time.After(15 * time.Second):
		t.Fatal("did not exit after SIGTERM")
	}
	if !strings.Contains(strings.Join(output, "\n"), "bye") {
		t.Errorf("no clean shutdown message:\n%s", strings.Join(output, "\n"))
	}
}

// TestLocalReconcileRunsAPassAsOfTheGivenTime: an app-pay order whose buyer paid while
// its notification was lost (notify_url points nowhere) is settled by POST
// /local/reconcile as of a time it is due; the reply is the pass summary, and the
// services go on from the moved clock.
func TestLocalReconcileRunsAPassAsOfTheGivenTime(t *testing.T) {
	base, _ := startLocal(t, map[string]string{"ALIPAY_NOTIFY_URL": "http://127.0.0.1:1/v1/notify/alipay"}, "-qr=false", "-reconcile-interval=0")
	status, created := call(t, http.MethodPost, base+"/v1/app-pay/orders",
		`{"out_trade_no":"LOCALREC1","total_amount":"9.90","subject":"Demo","product_code":"QUICK_MSECURITY_PAY"}`)
	if status != http.StatusOK {
		t.Fatalf("create: %d %v", status, created)
	}
	pay, _ := json.Marshal(map[string]any{"order_str": created["order_str"]})
	if status, body := call(t, http.MethodPost, base+"/sandbox/orders/pay", string(pay)); status != http.StatusOK {
		t.Fatalf("pay: %d %v", status, body)
	}
	// Not due yet: examined nothing.
	status, sum := call(t, http.MethodPost, base+"/local/reconcile", "")
	if status != http.StatusOK || sum["examined"] != float64(0) {
		t.Fatalf("pass now: %d %v", status, sum)
	}
	asOf := time.Now().Add(10 * time.Minute).UTC().Format(time.RFC3339)
	status, sum = call(t, http.MethodPost, base+"/local/reconcile", `{"as_of":"`+asOf+`"}`)
	want := map[string]any{"examined": float64(1), "resolved": float64(1), "unchanged": float64(0), "stuck": float64(0), "errors": float64(0)}
	if status != http.StatusOK || len(sum) != len(want) {
		t.Fatalf("pass as of %s: %d %v", asOf, status, sum)
	}
	for k, v := range want {
		if sum[k] != v {
			t.Fatalf("pass as of %s: %v, want %v", asOf, sum, want)
		}
	}
	if status, o := call(t, http.MethodGet, base+"/v1/app-pay/orders/LOCALREC1", ""); status != http.StatusOK || o["status"] != "TRADE_SUCCESS" {
		t.Fatalf("order: %d %v", status, o)
	}
	// The services read the moved clock too, and an earlier as_of does not move it back.
	if status, sum = call(t, http.MethodPost, base+"/local/reconcile", `{"as_of":"2001-01-01T00:00:00Z"}`); status != http.StatusOK {
		t.Fatalf("pass as of 2001: %d %v", status, sum)
	}
	status, created = call(t, http.MethodPost, base+"/v1/app-pay/orders",
		`{"out_trade_no":"LOCALREC2","total_amount":"1.00","subject":"Demo","product_code":"QUICK_MSECURITY_PAY"}`)
	if status != http.StatusOK {
		t.Fatalf("create after the pass: %d %v", status, created)
	}
	_, o := call(t, http.MethodGet, base+"/v1/app-pay/orders/LOCALREC2", "")
	createdAt, _ := o["created_at"].(string)
	at, err := time.Parse(time.RFC3339, createdAt)
	if want, _ := time.Parse(time.RFC3339, asOf); err != nil || at.Before(want) {
		t.Fatalf("order created at %v (%v), want on the moved clock, at or after %s", o["created_at"], err, asOf)
	}
	for _, bad := range []string{`{"as_of":"tomorrow"}`, `{"when":"2030-01-01T00:00:00Z"}`, `[`} {
		status, e := call(t, http.MethodPost, base+"/local/reconcile", bad)
		errObj, _ := e["error"].(map[string]any)
		if status != http.StatusBadRequest || errObj["field"] != "as_of" {
			t.Errorf("%s: %d %v, want 400 naming as_of", bad, status, e)
		}
	}
}

func TestReconcileIntervalFlagAndEnvironment(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want time.Duration
		err  bool
	}{
		{want: time.Minute},
		{env: map[string]string{"LOCAL_RECONCILE_INTERVAL": "0"}, want: 0},
		{env: map[string]string{"LOCAL_RECONCILE_INTERVAL": "30s"}, args: []string{"-reconcile-interval=2m"}, want: 2 * time.Minute},
		{env: map[string]string{"LOCAL_RECONCILE_INTERVAL": "soon"}, err: true},
		{args: []string{"-reconcile-interval=-1s"}, err: true},
	} {
		o, err := parseFlags(tc.args, func(k string) string { return tc.env[k] }, io.Discard)
		if (err != nil) != tc.err || (err == nil && o.reconcileInterval != tc.want) {
			t.Errorf("%v %v: interval %s err %v", tc.args, tc.env, o.reconcileInterval, err)
		}
	}
}
