package preauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
	"github.com/alipay-serverless/alipay-serverless/shared/credentials"
	"github.com/alipay-serverless/alipay-serverless/shared/httpapi"
	"github.com/alipay-serverless/alipay-serverless/shared/orders"
	"github.com/alipay-serverless/alipay-serverless/test/harness/testclock"
)

func TestMountServesExactlyTheFunctionsRoutes(t *testing.T) {
	h := newHarness(t)
	got := h.router.Mounted()
	want := httpapi.RoutesOf(httpapi.FnCreateVoucher)
	if len(got) != len(want) {
		t.Fatalf("mounted %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("route %d: %v, want %v", i, got[i], want[i])
		}
	}
}

func TestCreateVoucherIssuesCode(t *testing.T) {
	t.Run("reply_store_and_gateway_request", func(t *testing.T) {
		h := newHarness(t, withFakeClock)
		body := voucherBody("O-1", "R-1")
		rep := h.create("cashier-1", body)
		if rep.status != http.StatusOK {
			t.Fatalf("status %d: %s", rep.status, rep.body)
		}
		value, curl := codeFor("O-1", "R-1")
		want := map[string]string{"out_order_no": "O-1", "out_request_no": "R-1", "code_type": "qrCode",
			"code_value": value, "code_url": curl, "status": "CODE_ISSUED"}
		for k, v := range want {
			if rep.str(k) != v {
				t.Errorf("%s = %q, want %q", k, rep.str(k), v)
			}
		}
		if len(rep.json) != len(want) {
			t.Errorf("reply has fields %v, want exactly %v", rep.json, want)
		}
		if rep.header.Get(httpapi.ReplayedHeader) != "" {
			t.Error("first reply marked as replayed")
		}
		if n := h.gw.creates(); n != 1 {
			t.Errorf("gateway calls %d, want 1", n)
		}
		// The gateway got the canonical biz_content and the notify route on our domain.
		if biz, want := h.gw.lastBiz(), mustBiz(t, body); biz != want {
			t.Errorf("biz_content %s, want %s", biz, want)
		}
		if u := h.gw.lastNotifyURL(); u != "http://example.com"+httpapi.NotifyPath {
			t.Errorf("notify_url %q", u)
		}
		o := h.order("O-1")
		if o.Status != orders.PreAuthCodeIssued || o.Owner != "cashier-1" || o.Amount != alipay.MustAmount("100.00") {
			t.Errorf("order status %s owner %s amount %s", o.Status, o.Owner, o.Amount)
		}
		r := o.Requests["R-1"]
		if r.State != orders.RequestIssued || r.CodeValue != value || r.CodeURL != curl || r.CodeType != "qrCode" {
			t.Errorf("request %+v", r)
		}
	})
	t.Run("configured_notify_url_is_sent", func(t *testing.T) {
		h := newHarness(t, withOptions(WithNotifyURL("https://pay.example.cn/v1/notify/alipay")))
		if rep := h.create("cashier-1", voucherBody("O-1", "R-1")); rep.status != http.StatusOK {
			t.Fatalf("status %d: %s", rep.status, rep.body)
		}
		if u := h.gw.lastNotifyURL(); u != "https://pay.example.cn/v1/notify/alipay" {
			t.Errorf("notify_url %q", u)
		}
	})
}

func mustBiz(t testing.TB, body string) string {
	t.Helper()
	biz, err := decodeParams(t, body).BizContent()
	if err != nil {
		t.Fatal(err)
	}
	return biz
}

func TestCreateVoucherIdempotency(t *testing.T) {
	type step struct {
		caller, body string
		status       int
		code         string // error code, or "" for success
		replayed     bool
		calls        int // gateway create calls after the step
	}
	first := voucherBody("O-1", "R-1")
	tests := []struct {
		name  string
		setup func(t *testing.T, h *harness)
		steps []step
	}{
		{name: "identical_retry_replays_without_gateway_call", steps: []step{
			{"c1", first, 200, "", false, 1},
			{"c1", first, 200, "", true, 1},
			{"c1", first, 200, "", true, 1},
		}},
		{name: "new_out_request_no_with_same_order_params_issues_fresh_voucher", steps: []step{
			{"c1", first, 200, "", false, 1},
			{"c1", voucherBody("O-1", "R-2"), 200, "", false, 2},
			{"c1", first, 200, "", true, 2},
		}},
		{name: "same_out_request_no_with_other_params_conflicts", steps: []step{
			{"c1", first, 200, "", false, 1},
			{"c1", voucherBody("O-1", "R-1", map[string]any{"pay_timeout": "30m"}), 409, httpapi.CodeIdempotencyConflict, false, 1},
		}},
		{name: "extra_param_with_keys_reordered_or_spaced_replays", steps: []step{
			{"c1", voucherBody("O-1", "R-1", map[string]any{"extra_param": `{"category":"RENT","meta":{"a":1.50,"b":"x"}}`}), 200, "", false, 1},
			{"c1", voucherBody("O-1", "R-1", map[string]any{"extra_param": ` { "meta" : { "b" : "x", "a" : 1.50 }, "category" : "RENT" } `}), 200, "", true, 1},
			{"c1", voucherBody("O-1", "R-1", map[string]any{"extra_param": map[string]any{"meta": json.RawMessage(`{"b":"x","a":1.50}`), "category": "RENT"}}), 200, "", true, 1},
		}},
		{name: "extra_param_with_another_value_conflicts", steps: []step{
			{"c1", voucherBody("O-1", "R-1", map[string]any{"extra_param": `{"category":"RENT","meta":{"a":1.50}}`}), 200, "", false, 1},
			{"c1", voucherBody("O-1", "R-1", map[string]any{"extra_param": `{"meta":{"a":1.5},"category":"RENT"}`}), 409, httpapi.CodeIdempotencyConflict, false, 1},
			{"c1", voucherBody("O-1", "R-1", map[string]any{"extra_param": `{"category":"CAR","meta":{"a":1.50}}`}), 409, httpapi.CodeIdempotencyConflict, false, 1},
		}},
		{name: "new_out_request_no_with_other_order_params_conflicts", steps: []step{
			{"c1", first, 200, "", false, 1},
			{"c1", voucherBody("O-1", "R-2", map[string]any{"amount": "200.00"}), 409, httpapi.CodeIdempotencyConflict, false, 1},
		}},
		{name: "other_owner_of_existing_out_order_no_conflicts", steps: []step{
			{"c1", first, 200, "", false, 1},
			{"c2", first, 409, httpapi.CodeIdempotencyConflict, false, 1},
			{"c2", voucherBody("O-1", "R-2"), 409, httpapi.CodeIdempotencyConflict, false, 1},
		}},
		{name: "authorized_order_refuses_new_voucher_but_replays_old",
			setup: func(t *testing.T, h *harness) {
				if rep := h.create("c1", first); rep.status != 200 {
					t.Fatalf("setup: %d %s", rep.status, rep.body)
				}
				h.authorize("O-1", "R-1")
			},
			steps: []step{
				{"c1", voucherBody("O-1", "R-2"), 409, httpapi.CodeOrderAlreadyAuthorized, false, 1},
				{"c1", first, 200, "", true, 1},
			}},
		{name: "closed_order_refuses_new_voucher",
			setup: func(t *testing.T, h *harness) {
				if rep := h.create("c1", first); rep.status != 200 {
					t.Fatalf("setup: %d %s", rep.status, rep.body)
				}
				now := h.now()
				if _, err := h.store.ApplyFundAuth(context.Background(), orders.FundAuthEffect{
					NotifyID: "n-closed", OutOrderNo: "O-1", AuthNo: "2025060110002001000000001", OperationID: "op-1",
					OutRequestNo: "R-1", OperationType: orders.OperationFreeze, OperationStatus: orders.OperationClosed,
					Amount: alipay.MustAmount("100.00"), Now: now,
				}); err != nil {
					t.Fatal(err)
				}
			},
			steps: []step{
				{"c1", voucherBody("O-1", "R-2"), 409, httpapi.CodeIdempotencyConflict, false, 1},
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			if tt.setup != nil {
				tt.setup(t, h)
			}
			var firstCode string
			for i, s := range tt.steps {
				rep := h.create(s.caller, s.body)
				if rep.status != s.status || rep.errCode() != s.code {
					t.Fatalf("step %d: status %d code %q, want %d %q: %s", i, rep.status, rep.errCode(), s.status, s.code, rep.body)
				}
				if got := rep.header.Get(httpapi.ReplayedHeader) == "true"; got != s.replayed {
					t.Errorf("step %d: replayed %v, want %v", i, got, s.replayed)
				}
				if n := h.gw.creates(); n != s.calls {
					t.Errorf("step %d: gateway calls %d, want %d", i, n, s.calls)
				}
				if s.status == 200 {
					p := decodeParams(t, s.body)
					value, _ := codeFor(p.OutOrderNo, p.OutRequestNo)
					if rep.str("code_value") != value || rep.str("status") != StatusCodeIssued {
						t.Errorf("step %d: reply %s", i, rep.body)
					}
				} else if firstCode != "" && strings.Contains(rep.body, firstCode) {
					t.Errorf("step %d: a refusal carries the stored code: %s", i, rep.body)
				}
				if i == 0 && s.status == 200 {
					firstCode = rep.str("code_value")
				}
			}
		})
	}
}

func TestCreateVoucherBusinessError(t *testing.T) {
	h := newHarness(t)
	h.gw.setMode(gwBusiness)
	body := voucherBody("O-1", "R-1")
	check := func(rep reply, replayed bool) {
		t.Helper()
		if rep.status != http.StatusBadGateway || rep.errCode() != httpapi.CodeAlipayBusinessError {
			t.Fatalf("status %d: %s", rep.status, rep.body)
		}
		if rep.errField("sub_code") != "PAYEE_NOT_EXIST" || rep.errField("sub_msg") != "收款方账号不存在" {
			t.Errorf("sub_code/sub_msg: %s", rep.body)
		}
		if rep.errField("message") != "Alipay refused the request" {
			t.Errorf("message %q", rep.errField("message"))
		}
		if got := rep.header.Get(httpapi.ReplayedHeader) == "true"; got != replayed {
			t.Errorf("replayed %v, want %v", got, replayed)
		}
	}
	check(h.create("c1", body), false)
	r := h.order("O-1").Requests["R-1"]
	if r.State != orders.RequestBusinessError || r.SubCode != "PAYEE_NOT_EXIST" || r.Code != "40004" {
		t.Errorf("stored request %+v", r)
	}
	h.gw.setMode(gwOK) // even if Alipay would now accept it, the refusal is replayed
	check(h.create("c1", body), true)
	if n := h.gw.creates(); n != 1 {
		t.Errorf("gateway calls %d, want 1", n)
	}
	// The order itself stays open: a new out_request_no is tried again.
	if rep := h.create("c1", voucherBody("O-1", "R-2")); rep.status != http.StatusOK {
		t.Errorf("new out_request_no after a refusal: %d %s", rep.status, rep.body)
	}
}

func TestCreateVoucherUnknownOutcomeIsRetried(t *testing.T) {
	tests := []struct {
		name, mode string
		logged     string // a log line must say this
	}{
		{"service_unavailable_20000", gw20000, "isp.unknow-error"},
		{"system_error", gwSystemError, "SYSTEM_ERROR"},
		{"gateway_timeout", gwTimeout, "timeout"},
		{"http_500", gwHTTP500, "http status 500"},
		{"bad_reply_signature", gwBadSign, "bad signature"},
		{"non_json_reply", gwNonJSON, "malformed"},
		{"reply_for_another_request", gwWrongIDs, "another request"},
		{"success_without_code_value", gwNoCode, "without code_value"},
		{"configuration_error_40006", gwConfig, "isv.insufficient-isv-permissions"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.gw.setMode(tt.mode)
			body := voucherBody("O-1", "R-1")
			start := time.Now()
			rep := h.create("c1", body)
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("took %v; the gateway call is bounded by %v", d, testTimeout)
			}
			if rep.status != http.StatusServiceUnavailable || rep.errCode() != httpapi.CodeAlipayUnavailable {
				t.Fatalf("status %d: %s", rep.status, rep.body)
			}
			if ra, err := strconv.Atoi(rep.header.Get("Retry-After")); err != nil || ra < 1 {
				t.Errorf("Retry-After %q", rep.header.Get("Retry-After"))
			}
			if strings.Contains(rep.body, "code_value") || strings.Contains(rep.body, "qr.alipay.com") {
				t.Errorf("an unknown outcome leaks a code: %s", rep.body)
			}
			o := h.order("O-1")
			if r := o.Requests["R-1"]; r.State != orders.RequestUnknown || r.CodeValue != "" {
				t.Errorf("stored request %+v, want UNKNOWN without code", r)
			}
			if o.Status != orders.PreAuthCreated {
				t.Errorf("order status %s, want CREATED", o.Status)
			}
			if !strings.Contains(h.logs.String(), tt.logged) {
				t.Errorf("logs do not mention %q:\n%s", tt.logged, h.logs.String())
			}
			if tt.mode == gwConfig && !strings.Contains(h.logs.String(), `"level":"ERROR"`) {
				t.Error("a configuration error is not logged at error level")
			}

			// Alipay recovers: the same out_request_no is sent again and gets its code.
			h.gw.setMode(gwOK)
			rep = h.create("c1", body)
			value, _ := codeFor("O-1", "R-1")
			if rep.status != http.StatusOK || rep.str("code_value") != value {
				t.Fatalf("retry: status %d: %s", rep.status, rep.body)
			}
			if rep.header.Get(httpapi.ReplayedHeader) != "" {
				t.Error("retry after an unknown outcome marked as replayed")
			}
			if n := h.gw.creates(); n != 2 {
				t.Errorf("gateway calls %d, want 2", n)
			}
			if o := h.order("O-1"); o.Status != orders.PreAuthCodeIssued || o.Requests["R-1"].State != orders.RequestIssued {
				t.Errorf("after retry: order %s request %s", o.Status, o.Requests["R-1"].State)
			}
		})
	}
}

func TestConcurrentIdenticalRequestsCallGatewayOnce(t *testing.T) {
	// The gateway holds the lease for 150 ms while the other 19 arrive; the bound on the
	// call is far above that so a loaded machine (-race, 2 cores) cannot turn it UNKNOWN.
	h := newHarness(t, withTimeout(5*time.Second))
	h.gw.setDelay(150 * time.Millisecond)
	body := voucherBody("O-1", "R-1")
	const n = 20
	reps := make([]reply, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			reps[i] = h.create("c1", body)
		}()
	}
	close(start)
	wg.Wait()
	if c := h.gw.creates(); c != 1 {
		t.Fatalf("gateway calls %d, want exactly 1", c)
	}
	value, _ := codeFor("O-1", "R-1")
	fresh := 0
	for i, rep := range reps {
		switch {
		case rep.status == http.StatusOK:
			if rep.str("code_value") != value {
				t.Errorf("%d: code %q", i, rep.str("code_value"))
			}
			if rep.header.Get(httpapi.ReplayedHeader) != "true" {
				fresh++
			}
		case rep.status == http.StatusConflict && rep.errCode() == httpapi.CodeRequestInProgress:
			if ra, err := strconv.Atoi(rep.header.Get("Retry-After")); err != nil || ra < 1 {
				t.Errorf("%d: Retry-After %q", i, rep.header.Get("Retry-After"))
			}
		default:
			t.Errorf("%d: status %d: %s", i, rep.status, rep.body)
		}
	}
	if fresh != 1 {
		t.Errorf("%d fresh (non-replayed) successes, want 1", fresh)
	}
}

func TestVoucherLease(t *testing.T) {
	t.Run("crashed_attempt_blocks_only_until_its_lease_expires", func(t *testing.T) {
		h := newHarness(t, withFakeClock)
		body := voucherBody("O-1", "R-1")
		p := decodeParams(t, body)
		now := h.clock.Now()
		// An attempt that took the lease and died before recording anything.
		res, err := h.store.BeginVoucher(context.Background(), orders.VoucherBegin{
			OutOrderNo: p.OutOrderNo, OutRequestNo: p.OutRequestNo, Owner: "c1",
			OrderHash: p.OrderHash(), RequestHash: p.CanonicalHash(), Amount: p.Amount,
			Now: now, LeaseUntil: now.Add(10 * time.Second),
		})
		if err != nil || res.Outcome != orders.VoucherAcquired {
			t.Fatalf("crashed attempt: %v %v", res.Outcome, err)
		}
		h.clock.Advance(time.Second)
		rep := h.create("c1", body)
		if rep.status != http.StatusConflict || rep.errCode() != httpapi.CodeRequestInProgress || rep.header.Get("Retry-After") != "9" {
			t.Fatalf("during the lease: %d Retry-After %q: %s", rep.status, rep.header.Get("Retry-After"), rep.body)
		}
		if c := h.gw.creates(); c != 0 {
			t.Fatalf("gateway called %d times during another's lease", c)
		}
		h.clock.Advance(10 * time.Second)
		rep = h.create("c1", body)
		if rep.status != http.StatusOK {
			t.Fatalf("after the lease: %d %s", rep.status, rep.body)
		}
		if c := h.gw.creates(); c != 1 {
			t.Errorf("gateway calls %d, want 1", c)
		}
		// The crashed attempt's token can no longer record anything.
		err = h.store.CompleteVoucher(context.Background(), "O-1", "R-1", res.Token,
			orders.VoucherOutcome{State: orders.RequestUnknown, Now: h.clock.Now()})
		if !errors.Is(err, orders.ErrLeaseLost) {
			t.Errorf("stale token completion: %v", err)
		}
	})

	// leaseDuring records the stored lease while the gateway is being called.
	leaseDuring := func(h *harness) *time.Time {
		var lease time.Time
		h.gw.setHook(func(order, request string) {
			o, err := h.store.MemoryStore.GetPreAuthOrder(context.Background(), order)
			if err != nil {
				t.Errorf("hook: %v", err)
				return
			}
			if r := o.Requests[request]; r.State == orders.RequestInProgress {
				lease = r.LeaseUntil
			}
		})
		return &lease
	}
	t.Run("lease_ends_at_the_request_deadline", func(t *testing.T) {
		// The service allows 2s per call (the client still stops at 200ms), so a
		// deadline 1.5s away is the binding bound: 1.2s is left after the margin.
		h := newHarness(t, withOptions(WithLeaseMargin(300*time.Millisecond), WithGatewayTimeout(2*time.Second)))
		lease := leaseDuring(h)
		deadline := time.Now().Add(1500 * time.Millisecond)
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		defer cancel()
		start := time.Now()
		rep := h.send(ctx, http.MethodPost, PathVouchers, "c1", "application/json", voucherBody("O-1", "R-1"))
		if rep.status != http.StatusOK {
			t.Fatalf("status %d: %s", rep.status, rep.body)
		}
		if lease.IsZero() || !lease.After(start) || lease.After(deadline) {
			t.Errorf("lease %v not within (%v, %v]", *lease, start, deadline)
		}
	})
	t.Run("lease_is_capped_by_gateway_timeout_and_margin", func(t *testing.T) {
		h := newHarness(t, withOptions(WithLeaseMargin(300*time.Millisecond)))
		lease := leaseDuring(h)
		ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
		defer cancel()
		start := time.Now()
		rep := h.send(ctx, http.MethodPost, PathVouchers, "c1", "application/json", voucherBody("O-1", "R-1"))
		end := time.Now()
		if rep.status != http.StatusOK {
			t.Fatalf("status %d: %s", rep.status, rep.body)
		}
		d := testTimeout + 300*time.Millisecond
		if lease.Before(start.Add(d)) || lease.After(end.Add(d)) {
			t.Errorf("lease %v, want start+%v", *lease, d)
		}
	})
	t.Run("caller_gone_mid_call_still_records_unknown", func(t *testing.T) {
		h := newHarness(t)
		h.gw.setMode(gwTimeout)
		ctx, cancel := context.WithCancel(context.Background())
		h.gw.setHook(func(string, string) { cancel() }) // the client disconnects mid-call
		rep := h.send(ctx, http.MethodPost, PathVouchers, "c1", "application/json", voucherBody("O-1", "R-1"))
		if rep.status != http.StatusServiceUnavailable || rep.errCode() != httpapi.CodeAlipayUnavailable {
			t.Fatalf("status %d: %s", rep.status, rep.body)
		}
		// Recorded, not left leased: an immediate retry calls Alipay again.
		if r := h.order("O-1").Requests["R-1"]; r.State != orders.RequestUnknown {
			t.Fatalf("request state %s, want UNKNOWN", r.State)
		}
		h.gw.setHook(nil)
		h.gw.setMode(gwOK)
		if rep := h.create("c1", voucherBody("O-1", "R-1")); rep.status != http.StatusOK || h.gw.creates() != 2 {
			t.Errorf("retry: %d calls %d: %s", rep.status, h.gw.creates(), rep.body)
		}
	})
	t.Run("too_little_time_left_takes_no_lease", func(t *testing.T) {
		h := newHarness(t)
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		rep := h.send(ctx, http.MethodPost, PathVouchers, "c1", "application/json", voucherBody("O-1", "R-1"))
		if rep.status != http.StatusServiceUnavailable || rep.errCode() != httpapi.CodeAlipayUnavailable || rep.header.Get("Retry-After") == "" {
			t.Fatalf("status %d: %s", rep.status, rep.body)
		}
		if _, err := h.store.MemoryStore.GetPreAuthOrder(context.Background(), "O-1"); !errors.Is(err, orders.ErrNotFound) {
			t.Errorf("an order was stored: %v", err)
		}
		if c := h.gw.creates(); c != 0 {
			t.Errorf("gateway calls %d", c)
		}
		// With time, the same request goes through.
		if rep := h.create("c1", voucherBody("O-1", "R-1")); rep.status != http.StatusOK {
			t.Errorf("retry: %d %s", rep.status, rep.body)
		}
	})
}

func TestCreateVoucherDependencyFailures(t *testing.T) {
	t.Run("credentials_unavailable", func(t *testing.T) {
		h := newHarness(t)
		h.creds.Err = errors.New("credentials: unreachable: secret \"prod/alipay\": field private_key")
		rep := h.create("c1", voucherBody("O-1", "R-1"))
		if rep.status != http.StatusServiceUnavailable || rep.errCode() != httpapi.CodeDependencyUnavailable || rep.header.Get("Retry-After") == "" {
			t.Fatalf("status %d: %s", rep.status, rep.body)
		}
		if strings.Contains(rep.body, "prod/alipay") || strings.Contains(rep.body, "private_key") {
			t.Errorf("reply leaks the cause: %s", rep.body)
		}
		if !strings.Contains(h.logs.String(), "prod/alipay") {
			t.Error("the cause is not logged")
		}
		if c := h.gw.creates(); c != 0 {
			t.Errorf("gateway calls %d", c)
		}
		if _, err := h.store.MemoryStore.GetPreAuthOrder(context.Background(), "O-1"); !errors.Is(err, orders.ErrNotFound) {
			t.Errorf("an order was stored: %v", err)
		}
	})
	t.Run("incomplete_credentials", func(t *testing.T) {
		h := newHarness(t)
		h.creds.Creds = &alipay.Credentials{AppID: testAppID, PrivateKey: loadKeys(t).app}
		rep := h.create("c1", voucherBody("O-1", "R-1"))
		if rep.status != http.StatusServiceUnavailable || rep.errCode() != httpapi.CodeDependencyUnavailable {
			t.Fatalf("status %d: %s", rep.status, rep.body)
		}
	})
	t.Run("store_unavailable_at_begin", func(t *testing.T) {
		h := newHarness(t)
		h.store.failBegin.Store(true)
		rep := h.create("c1", voucherBody("O-1", "R-1"))
		if rep.status != http.StatusServiceUnavailable || rep.errCode() != httpapi.CodeDependencyUnavailable || rep.header.Get("Retry-After") == "" {
			t.Fatalf("status %d: %s", rep.status, rep.body)
		}
		if strings.Contains(rep.body, "injected") {
			t.Errorf("reply leaks the cause: %s", rep.body)
		}
		if c := h.gw.creates(); c != 0 {
			t.Errorf("gateway calls %d", c)
		}
	})
	t.Run("store_unavailable_when_recording_an_issued_voucher", func(t *testing.T) {
		h := newHarness(t, withFakeClock)
		h.store.failComplete.Store(true)
		body := voucherBody("O-1", "R-1")
		rep := h.create("c1", body)
		if rep.status != http.StatusServiceUnavailable || rep.errCode() != httpapi.CodeDependencyUnavailable {
			t.Fatalf("status %d: %s", rep.status, rep.body)
		}
		// Not reported as issued; Retry-After reaches the end of the still-held lease.
		if strings.Contains(rep.body, "qr.alipay.com") {
			t.Errorf("reply carries a code that was not recorded: %s", rep.body)
		}
		if ra := rep.header.Get("Retry-After"); ra != "3" {
			t.Errorf("Retry-After %q, want 3 (lease of %v + %v)", ra, testTimeout, DefaultLeaseMargin)
		}
		h.store.failComplete.Store(false)
		if rep := h.create("c1", body); rep.status != http.StatusConflict || rep.errCode() != httpapi.CodeRequestInProgress {
			t.Fatalf("during the lease: %d %s", rep.status, rep.body)
		}
		h.clock.Advance(3 * time.Second)
		rep = h.create("c1", body)
		value, _ := codeFor("O-1", "R-1")
		if rep.status != http.StatusOK || rep.str("code_value") != value {
			t.Fatalf("after the lease: %d %s", rep.status, rep.body)
		}
		if c := h.gw.creates(); c != 2 {
			t.Errorf("gateway calls %d, want 2", c)
		}
	})
	t.Run("store_unavailable_on_get", func(t *testing.T) {
		h := newHarness(t)
		if rep := h.create("c1", voucherBody("O-1", "R-1")); rep.status != 200 {
			t.Fatal(rep.body)
		}
		h.store.failGet.Store(true)
		rep := h.get("c1", "O-1")
		if rep.status != http.StatusServiceUnavailable || rep.errCode() != httpapi.CodeDependencyUnavailable {
			t.Fatalf("status %d: %s", rep.status, rep.body)
		}
	})
}

func TestCreateVoucherRejectsInvalidRequests(t *testing.T) {
	tests := []struct {
		name  string
		body  string
		field string
	}{
		{"amount_with_three_decimals", voucherBody("O-1", "R-1", map[string]any{"amount": "1.001"}), "amount"},
		{"amount_zero", voucherBody("O-1", "R-1", map[string]any{"amount": "0.00"}), "amount"},
		{"amount_negative", voucherBody("O-1", "R-1", map[string]any{"amount": "-1.00"}), "amount"},
		{"amount_exponent_number", `{"out_order_no":"O-1","out_request_no":"R-1","order_title":"t","amount":1e2}`, "amount"},
		{"amount_above_maximum", voucherBody("O-1", "R-1", map[string]any{"amount": "100000000.01"}), "amount"},
		{"amount_missing", voucherBody("O-1", "R-1", map[string]any{"amount": nil}), "amount"},
		{"out_order_no_bad_characters", voucherBody("O 1!", "R-1"), "out_order_no"},
		{"out_order_no_too_long", voucherBody(strings.Repeat("A", 65), "R-1"), "out_order_no"},
		{"out_order_no_missing", voucherBody("", "R-1"), "out_order_no"},
		{"out_request_no_bad_characters", voucherBody("O-1", "R/1"), "out_request_no"},
		{"payee_user_id_not_2088", voucherBody("O-1", "R-1", map[string]any{"payee_user_id": "1088102146225135"}), "payee_user_id"},
		{"payee_user_id_short", voucherBody("O-1", "R-1", map[string]any{"payee_user_id": "2088"}), "payee_user_id"},
		{"pay_timeout_over_15_days", voucherBody("O-1", "R-1", map[string]any{"pay_timeout": "16d"}), "pay_timeout"},
		{"pay_timeout_decimal", voucherBody("O-1", "R-1", map[string]any{"pay_timeout": "1.5h"}), "pay_timeout"},
		{"order_title_too_wide", voucherBody("O-1", "R-1", map[string]any{"order_title": strings.Repeat("押", 51)}), "order_title"},
		{"order_title_blank", voucherBody("O-1", "R-1", map[string]any{"order_title": "  "}), "order_title"},
		{"unknown_field", voucherBody("O-1", "R-1", map[string]any{"seller_id": "2088102146225135"}), "seller_id"},
		{"lower_case_product_code", voucherBody("O-1", "R-1", map[string]any{"product_code": "pre_auth"}), "product_code"},
		{"extra_param_not_an_object", voucherBody("O-1", "R-1", map[string]any{"extra_param": "[1]"}), "extra_param"},
		{"not_json", `{"out_order_no":`, ""},
	}
	h := newHarness(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := h.create("c1", tt.body)
			if rep.status != http.StatusBadRequest || rep.errCode() != httpapi.CodeIllegalArgument {
				t.Fatalf("status %d: %s", rep.status, rep.body)
			}
			if rep.errField("field") != tt.field {
				t.Errorf("field %q, want %q: %s", rep.errField("field"), tt.field, rep.body)
			}
			if rep.errField("message") == "" {
				t.Error("no message")
			}
		})
	}
	if c := h.gw.creates(); c != 0 {
		t.Errorf("gateway called %d times for invalid requests", c)
	}
	if _, err := h.store.MemoryStore.GetPreAuthOrder(context.Background(), "O-1"); !errors.Is(err, orders.ErrNotFound) {
		t.Errorf("an invalid request stored an order: %v", err)
	}

	t.Run("wrong_content_type_is_415", func(t *testing.T) {
		rep := h.send(context.Background(), http.MethodPost, PathVouchers, "c1", "text/plain", voucherBody("O-1", "R-1"))
		if rep.status != http.StatusUnsupportedMediaType || rep.errCode() != httpapi.CodeUnsupportedMediaType {
			t.Fatalf("status %d: %s", rep.status, rep.body)
		}
	})
	t.Run("body_over_64_kib_is_413", func(t *testing.T) {
		big := voucherBody("O-1", "R-1", map[string]any{"order_title": strings.Repeat("a", httpapi.MaxBodyBytes)})
		rep := h.send(context.Background(), http.MethodPost, PathVouchers, "c1", "application/json", big)
		if rep.status != http.StatusRequestEntityTooLarge || rep.errCode() != httpapi.CodeBodyTooLarge {
			t.Fatalf("status %d: %s", rep.status, rep.body)
		}
	})
	if c := h.gw.creates(); c != 0 {
		t.Errorf("gateway called %d times", c)
	}
}

func TestErrorRepliesHaveTheContractShape(t *testing.T) {
	h := newHarness(t)
	h.gw.setMode(gwBusiness)
	rep := h.create("c1", voucherBody("O-1", "R-1"))
	var shape struct {
		Error map[string]json.RawMessage `json:"error"`
	}
	if err := json.Unmarshal([]byte(rep.body), &shape); err != nil || len(shape.Error) == 0 {
		t.Fatalf("not the error shape: %s", rep.body)
	}
	for k := range shape.Error {
		switch k {
		case "code", "message", "field", "sub_code", "sub_msg":
		default:
			t.Errorf("unexpected error member %q", k)
		}
	}
	if len(rep.json) != 1 {
		t.Errorf("extra top-level members: %s", rep.body)
	}
}

// budgetGateway records the time its call was given and spends all of it on the
// service's clock before answering that the outcome is unknown (a gateway that hangs).
type budgetGateway struct {
	clock  *testclock.Clock
	calls  int
	budget time.Duration // the call context's time left when the call started
	start  time.Time     // the service clock then
}

func (g *budgetGateway) Execute(ctx context.Context, _ *alipay.Credentials, _, _ string, _ alipay.CallOptions) (*alipay.Reply, error) {
	g.calls++
	g.start = g.clock.Now()
	dl, ok := ctx.Deadline()
	if !ok {
		return nil, errors.New("gateway call without a deadline")
	}
	g.budget = time.Until(dl)
	g.clock.Advance(g.budget)
	return nil, fmt.Errorf("%w: hung", alipay.ErrUnknownOutcome)
}

// slowBeginStore spends delay of the service's clock taking the lease (a slow store).
type slowBeginStore struct {
	*orders.MemoryStore
	clock *testclock.Clock
	delay time.Duration
	lease time.Time // the lease expiry written
}

func (s *slowBeginStore) BeginVoucher(ctx context.Context, b orders.VoucherBegin) (orders.VoucherBeginResult, error) {
	res, err := s.MemoryStore.BeginVoucher(ctx, b)
	s.lease = b.LeaseUntil
	s.clock.Advance(s.delay)
	return res, err
}

func TestGatewayCallEndsInsideTheLease(t *testing.T) {
	const (
		timeout = 10 * time.Second
		margin  = 2 * time.Second
	)
	for _, tc := range []struct {
		name      string
		delay     time.Duration // spent between taking the lease and calling Alipay
		wantCalls int
	}{
		{"prompt_call_gets_the_whole_timeout", 0, 1},
		{"call_after_a_slow_lease_gets_what_is_left", 3 * time.Second, 1},
		{"no_time_left_sends_nothing", timeout, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := testclock.New(time.Date(2025, 6, 1, 4, 0, 0, 0, time.UTC))
			store := &slowBeginStore{MemoryStore: orders.NewMemoryStore(), clock: clock, delay: tc.delay}
			gw := &budgetGateway{clock: clock}
			svc := NewService(store, credentials.Static{Creds: testCredentials(t)}, gw,
				WithClock(clock.Now), WithGatewayTimeout(timeout), WithLeaseMargin(margin))
			p := decodeParams(t, voucherBody("O-1", "R-1"))
			_, err := svc.CreateVoucher(context.Background(), "c1", p, "https://pay.example.cn"+httpapi.NotifyPath)
			if herr := httpapi.ErrorFor(err); herr == nil || herr.Code != httpapi.CodeAlipayUnavailable {
				t.Fatalf("reply %+v, want %s", herr, httpapi.CodeAlipayUnavailable)
			}
			if gw.calls != tc.wantCalls {
				t.Fatalf("gateway calls %d, want %d", gw.calls, tc.wantCalls)
			}
			o, err := store.MemoryStore.GetPreAuthOrder(context.Background(), "O-1")
			if err != nil {
				t.Fatal(err)
			}
			r := o.Requests["R-1"]
			if gw.calls > 0 {
				if end := gw.start.Add(gw.budget); end.After(store.lease.Add(-margin)) {
					t.Errorf("call may run until %v, past lease expiry %v minus the margin", end, store.lease)
				}
			}
			// The outcome was recorded (not lost with the lease), inside the lease.
			if r.State != orders.RequestUnknown {
				t.Errorf("request state %s, want UNKNOWN", r.State)
			}
			if store.lease.IsZero() || r.UpdatedAt.After(store.lease) {
				t.Errorf("outcome recorded at %v, after the lease expired at %v", r.UpdatedAt, store.lease)
			}
		})
	}
}
