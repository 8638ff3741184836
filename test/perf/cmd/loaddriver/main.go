// Command loaddriver puts a bounded, mixed app-pay load on a running local server
// (cmd/local) from its own process and reports throughput and latency per kind of
// request. Each order goes through what a client and Alipay do with it: create
// (POST /v1/app-pay/orders), read, the TRADE_SUCCESS notification (POST
// /v1/notify/alipay, signed with the simulated Alipay key), for some orders the same
// notification again (a redelivery), and a read that must show the payment.
//
// The notifications are signed before the clock starts, so the driver's own CPU goes to
// sending requests, not to RSA. The run ends after -duration or when the pre-signed
// orders are used up, whichever comes first. The summary is one JSON object on stdout;
// -manifest writes every notified order (out_trade_no, notify_id, deliveries) so the
// caller can check in the store that each effect is there exactly once.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
)

// Kinds of request.
const (
	kindCreate = "create"
	kindRead   = "read"
	kindNotify = "notify"
)

type options struct {
	base        string
	concurrency int
	duration    time.Duration
	orders      int
	redeliver   int // every redeliver-th order's notification is delivered twice
	keyFile     string
	appID       string
	sellerID    string
	amount      string
	runID       string
	manifest    string
	timeout     time.Duration
}

func parseFlags(args []string) (options, error) {
	fs := flag.NewFlagSet("loaddriver", flag.ContinueOnError)
	var o options
	fs.StringVar(&o.base, "base", "http://127.0.0.1:3000", "base URL of the local server")
	fs.IntVar(&o.concurrency, "concurrency", 16, "concurrent clients")
	fs.DurationVar(&o.duration, "duration", 20*time.Second, "run at most this long")
	fs.IntVar(&o.orders, "orders", 4000, "orders to pre-sign notifications for (the run's upper bound)")
	fs.IntVar(&o.redeliver, "redeliver", 10, "deliver every n-th order's notification twice (0: never)")
	fs.StringVar(&o.keyFile, "alipay-key", "", "PEM file of the (simulated) Alipay private key that signs notifications")
	fs.StringVar(&o.appID, "app-id", "2021000000000001", "app_id the server is configured with")
	fs.StringVar(&o.sellerID, "seller-id", "2088000000000001", "seller_id put in notifications")
	fs.StringVar(&o.amount, "amount", "9.00", "total_amount of every order")
	fs.StringVar(&o.runID, "run-id", "", "prefix of out_trade_no values (default: from the clock)")
	fs.StringVar(&o.manifest, "manifest", "", "write the notified orders to this JSON file")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Second, "bound on one request")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch {
	case o.keyFile == "":
		return o, errors.New("-alipay-key is required")
	case o.concurrency < 1 || o.orders < 1 || o.duration <= 0:
		return o, errors.New("-concurrency, -orders and -duration must be positive")
	}
	if o.runID == "" {
		o.runID = fmt.Sprintf("L%d", time.Now().Unix()%1_000_000)
	}
	return o, nil
}

// order is one order's script: its body, and its notification signed in advance.
type order struct {
	outTradeNo string
	notifyID   string
	createBody []byte
	notice     []byte
	caller     string
}

// Notified is one manifest entry.
type Notified struct {
	OutTradeNo string `json:"out_trade_no"`
	NotifyID   string `json:"notify_id"`
	Deliveries int    `json:"deliveries"`
}

// Latency is a kind's distribution, in milliseconds.
type Latency struct {
	Count int     `json:"count"`
	P50   float64 `json:"p50_ms"`
	P99   float64 `json:"p99_ms"`
	Max   float64 `json:"max_ms"`
}

// Summary is the driver's report.
type Summary struct {
	Concurrency int                `json:"concurrency"`
	Prepare     float64            `json:"prepare_seconds"` // signing the notifications, before the clock
	Seconds     float64            `json:"seconds"`
	Bound       string             `json:"bound"` // "duration" or "orders"
	Requests    int                `json:"requests"`
	PerSecond   float64            `json:"requests_per_second"`
	Orders      int                `json:"orders"`
	Errors      int                `json:"errors"`
	ErrorKinds  map[string]int     `json:"error_kinds,omitempty"`
	FirstError  string             `json:"first_error,omitempty"`
	Latency     map[string]Latency `json:"latency"`
}

func main() {
	o, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "loaddriver:", err)
		os.Exit(2)
	}
	sum, notified, err := run(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "loaddriver:", err)
		os.Exit(1)
	}
	if o.manifest != "" {
		b, _ := json.Marshal(notified)
		if err := os.WriteFile(o.manifest, b, 0o600); err != nil {
			fmt.Fprintln(os.Stderr, "loaddriver:", err)
			os.Exit(1)
		}
	}
	_ = json.NewEncoder(os.Stdout).Encode(sum)
}

// prepare builds every order's create body and signed notification, on every CPU.
func prepare(o options) ([]order, error) {
	pem, err := os.ReadFile(o.keyFile)
	if err != nil {
		return nil, err
	}
	key, err := alipay.ParsePrivateKey(pem)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.keyFile, err)
	}
	out := make([]order, o.orders)
	workers := runtime.NumCPU()
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(out); i += workers {
				if errs[w] == nil {
					out[i], errs[w] = newOrder(o, key, i)
				}
			}
		}()
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

func newOrder(o options, key *alipay.PrivateKey, i int) (order, error) {
	id := fmt.Sprintf("%s%08d", o.runID, i)
	create, err := json.Marshal(map[string]string{
		"out_trade_no": id, "total_amount": o.amount, "subject": "负载测试 " + id, "product_code": "QUICK_MSECURITY_PAY",
		"timeout_express": "90m",
	})
	if err != nil {
		return order{}, err
	}
	now := time.Now().In(alipay.ChinaTime)
	notifyID := fmt.Sprintf("%s%020d", now.Format("20060102"), i)
	p := map[string]string{
		"notify_type": "trade_status_sync", "notify_id": notifyID, "notify_time": alipay.FormatTimestamp(now),
		"app_id": o.appID, "auth_app_id": o.appID, "charset": "utf-8", "version": "1.0", "sign_type": "RSA2",
		"trade_no": fmt.Sprintf("%s2200142252%010d", now.Format("20060102"), i), "out_trade_no": id,
		"trade_status": "TRADE_SUCCESS", "total_amount": o.amount, "receipt_amount": o.amount,
		"buyer_id": "2088102122524333", "buyer_logon_id": "159****5620", "seller_id": o.sellerID,
		"subject": "负载测试 " + id, "gmt_create": alipay.FormatTimestamp(now.Add(-5 * time.Second)),
		"gmt_payment": alipay.FormatTimestamp(now.Add(-time.Second)),
	}
	sign, err := key.Sign([]byte(alipay.NotifySignContent(p)))
	if err != nil {
		return order{}, err
	}
	form := url.Values{}
	for k, v := range p {
		form.Set(k, v)
	}
	form.Set("sign", sign)
	return order{outTradeNo: id, notifyID: notifyID, createBody: create, notice: []byte(form.Encode()),
		caller: fmt.Sprintf("load-user-%d", i%97)}, nil
}

// recorder collects latencies and errors from every client.
type recorder struct {
	mu         sync.Mutex
	lat        map[string][]time.Duration
	errKinds   map[string]int
	errors     int
	firstError string
}

func (r *recorder) ok(kind string, d time.Duration) {
	r.mu.Lock()
	r.lat[kind] = append(r.lat[kind], d)
	r.mu.Unlock()
}

func (r *recorder) fail(kind string, d time.Duration, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lat[kind] = append(r.lat[kind], d)
	r.errors++
	r.errKinds[kind]++
	if r.firstError == "" {
		r.firstError = kind + ": " + err.Error()
	}
}

type client struct {
	o    options
	http *http.Client
	rec  *recorder
}

// do sends one request and checks its status and body.
func (c *client) do(ctx context.Context, kind, method, path, ct, caller string, body []byte, check func(int, []byte) error) bool {
	req, err := http.NewRequestWithContext(ctx, method, c.o.base+path, bytes.NewReader(body))
	if err != nil {
		c.rec.fail(kind, 0, err)
		return false
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	if caller != "" {
		req.Header.Set("X-Caller", caller)
	}
	start := time.Now()
	resp, err := c.http.Do(req)
	if err == nil {
		var b []byte
		b, err = io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if err == nil {
			err = check(resp.StatusCode, b)
		}
	}
	d := time.Since(start)
	if err != nil {
		c.rec.fail(kind, d, err)
		return false
	}
	c.rec.ok(kind, d)
	return true
}

func wantStatus(want int, contains string) func(int, []byte) error {
	return func(code int, body []byte) error {
		if code != want || !bytes.Contains(body, []byte(contains)) {
			return fmt.Errorf("status %d body %.200q, want %d with %q", code, body, want, contains)
		}
		return nil
	}
}

// script runs one order through create, read, notify (twice when redelivered), read.
func (c *client) script(ctx context.Context, i int, ord order) (Notified, bool) {
	path := "/v1/app-pay/orders/" + ord.outTradeNo
	if !c.do(ctx, kindCreate, http.MethodPost, "/v1/app-pay/orders", "application/json", ord.caller, ord.createBody,
		wantStatus(http.StatusOK, `"order_str":"`)) {
		return Notified{}, false
	}
	if !c.do(ctx, kindRead, http.MethodGet, path, "", ord.caller, nil, wantStatus(http.StatusOK, `"status":"CREATED"`)) {
		return Notified{}, false
	}
	n := Notified{OutTradeNo: ord.outTradeNo, NotifyID: ord.notifyID}
	deliveries := 1
	if c.o.redeliver > 0 && i%c.o.redeliver == 0 {
		deliveries = 2
	}
	success := func(code int, body []byte) error {
		if code != http.StatusOK || string(body) != alipay.NotifySuccessReply {
			return fmt.Errorf("status %d body %.200q, want 200 success", code, body)
		}
		return nil
	}
	for range deliveries {
		if !c.do(ctx, kindNotify, http.MethodPost, "/v1/notify/alipay", "application/x-www-form-urlencoded; charset=utf-8", "", ord.notice, success) {
			return n, n.Deliveries > 0
		}
		n.Deliveries++
	}
	// Acknowledged means durably applied: the next read must show the payment.
	c.do(ctx, kindRead, http.MethodGet, path, "", ord.caller, nil, wantStatus(http.StatusOK, `"status":"TRADE_SUCCESS"`))
	return n, true
}

func run(o options) (Summary, []Notified, error) {
	t0 := time.Now()
	all, err := prepare(o)
	if err != nil {
		return Summary{}, nil, err
	}
	prepared := time.Since(t0)
	transport := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
		MaxIdleConns:        o.concurrency * 2,
		MaxIdleConnsPerHost: o.concurrency * 2,
		IdleConnTimeout:     30 * time.Second,
	}
	defer transport.CloseIdleConnections()
	rec := &recorder{lat: map[string][]time.Duration{}, errKinds: map[string]int{}}
	c := &client{o: o, http: &http.Client{Transport: transport, Timeout: o.timeout}, rec: rec}

	ctx, cancel := context.WithTimeout(context.Background(), o.duration)
	defer cancel()
	var next atomic.Int64
	var mu sync.Mutex
	var notified []Notified
	var wg sync.WaitGroup
	start := time.Now()
	for range o.concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= len(all) {
					return
				}
				// A script already begun runs to its end (bounded by -timeout per
				// request), so no notification is left half-delivered by the deadline.
				n, ok := c.script(context.WithoutCancel(ctx), i, all[i])
				if ok {
					mu.Lock()
					notified = append(notified, n)
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)

	sum := Summary{Concurrency: o.concurrency, Prepare: prepared.Seconds(), Seconds: elapsed.Seconds(), Bound: "duration",
		Orders: min(int(next.Load()), len(all)), Errors: rec.errors, FirstError: rec.firstError, Latency: map[string]Latency{}}
	if int(next.Load()) >= len(all) {
		sum.Bound = "orders"
	}
	if len(rec.errKinds) > 0 {
		sum.ErrorKinds = rec.errKinds
	}
	for kind, ds := range rec.lat {
		sum.Requests += len(ds)
		sum.Latency[kind] = distribution(ds)
	}
	sum.PerSecond = float64(sum.Requests) / elapsed.Seconds()
	slices.SortFunc(notified, func(a, b Notified) int { return strings.Compare(a.OutTradeNo, b.OutTradeNo) })
	return sum, notified, nil
}

func distribution(ds []time.Duration) Latency {
	s := slices.Clone(ds)
	slices.Sort(s)
	at := func(q float64) float64 {
		i := int(q*float64(len(s)-1) + 0.5)
		return float64(s[i]) / float64(time.Millisecond)
	}
	return Latency{Count: len(s), P50: at(0.50), P99: at(0.99), Max: at(1)}
}
