package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
)

// scanToSink creates a voucher whose notify_url is s and scans it.
func scanToSink(t *testing.T, e *env, s *sink, outOrderNo string) map[string]string {
	t.Helper()
	if _, err := e.execute(t, alipay.MethodVoucherCreate, voucherBiz(outOrderNo, "R1", "t", "1.00"), alipay.CallOptions{NotifyURL: s.url()}); err != nil {
		t.Fatal(err)
	}
	return notifications(t, e.mustControl(t, "/sandbox/vouchers/scan", map[string]string{"out_order_no": outOrderNo}))[0]
}

func deliveriesOf(e *env, notifyID string) []Delivery {
	var out []Delivery
	for _, d := range e.sim.Deliveries() {
		if d.NotifyID == notifyID {
			out = append(out, d)
		}
	}
	return out
}

func TestDeliveryRetriesUntilSuccess(t *testing.T) {
	e := newEnv(t, nil)
	s := newSink(t, sinkReply{http.StatusOK, "fail"}, sinkReply{http.StatusOK, "fail"}, ackSuccess)
	sent := scanToSink(t, e, s, "PA0800")
	e.waitIdle(t)
	time.Sleep(50 * time.Millisecond) // several schedule steps: nothing more may come

	got := s.all()
	if len(got) != 3 {
		t.Fatalf("%d deliveries, want 3", len(got))
	}
	for i, r := range got {
		if string(r.body) != string(got[0].body) {
			t.Fatalf("delivery %d differs from the first", i+1)
		}
		if id := verified(t, e, r).Params["notify_id"]; id != sent["notify_id"] {
			t.Fatalf("delivery %d notify_id %q, want %q", i+1, id, sent["notify_id"])
		}
	}
	log := deliveriesOf(e, sent["notify_id"])
	if len(log) != 3 {
		t.Fatalf("log %+v", log)
	}
	for i, d := range log {
		wantAck := i == 2
		if d.Attempt != i+1 || d.Acked != wantAck || d.StatusCode != 200 || d.URL != s.url() || d.NotifyType != "fund_auth_freeze" {
			t.Fatalf("log entry %d: %+v", i, d)
		}
	}
	if log[0].Reply != "fail" || log[2].Reply != "success" {
		t.Fatalf("replies not logged: %+v", log)
	}

	t.Run("deliveries_endpoint_shows_the_log", func(t *testing.T) {
		resp, err := http.Get(e.srv.URL + "/sandbox/deliveries?notify_id=" + url.QueryEscape(sent["notify_id"]))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body struct {
			Pending    int        `json:"pending"`
			Deliveries []Delivery `json:"deliveries"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			t.Fatal(err)
		}
		if body.Pending != 0 || len(body.Deliveries) != 3 || body.Deliveries[2].Attempt != 3 || !body.Deliveries[2].Acked {
			t.Fatalf("body %+v", body)
		}
	})
}

func TestDeliveryGivesUpAfterEightDeliveries(t *testing.T) {
	e := newEnv(t, nil)
	s := newSink(t, sinkReply{http.StatusOK, "fail"})
	sent := scanToSink(t, e, s, "PA0900")
	e.waitIdle(t)
	time.Sleep(100 * time.Millisecond)
	if n := len(s.all()); n != 8 {
		t.Fatalf("%d deliveries, want 8", n)
	}
	log := deliveriesOf(e, sent["notify_id"])
	if len(log) != 8 || log[7].Attempt != 8 || log[7].Acked {
		t.Fatalf("log %+v", log)
	}
}

func TestDeliveryAcknowledgedOnlyByExactSuccess(t *testing.T) {
	cases := []struct {
		name  string
		reply sinkReply
		acked bool
	}{
		{"exact_success_is_acknowledged", ackSuccess, true},
		{"trailing_newline_is_not", sinkReply{http.StatusOK, "success\n"}, false},
		{"upper_case_is_not", sinkReply{http.StatusOK, "SUCCESS"}, false},
		{"json_is_not", sinkReply{http.StatusOK, `{"result":"success"}`}, false},
		{"success_with_status_500_is_not", sinkReply{http.StatusInternalServerError, "success"}, false},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, func(o *Options) { o.RetrySchedule = []time.Duration{time.Millisecond} })
			s := newSink(t, c.reply)
			sent := scanToSink(t, e, s, "PA100"+string(rune('0'+i)))
			e.waitIdle(t)
			log := deliveriesOf(e, sent["notify_id"])
			want := 2
			if c.acked {
				want = 1
			}
			if len(log) != want || log[len(log)-1].Acked != c.acked {
				t.Fatalf("log %+v", log)
			}
		})
	}
}

func TestDeliveryToAnUnreachableEndpointIsRetriedAndLogged(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.RetrySchedule = []time.Duration{time.Millisecond, time.Millisecond} })
	dead := newSink(t)
	deadURL := dead.url()
	dead.srv.Close() // nothing listens there any more
	if _, err := e.execute(t, alipay.MethodVoucherCreate, voucherBiz("PA1100", "R1", "t", "1.00"), alipay.CallOptions{NotifyURL: deadURL}); err != nil {
		t.Fatal(err)
	}
	sent := notifications(t, e.mustControl(t, "/sandbox/vouchers/scan", map[string]string{"out_order_no": "PA1100"}))[0]
	e.waitIdle(t)
	log := deliveriesOf(e, sent["notify_id"])
	if len(log) != 3 || log[0].Error == "" || log[0].StatusCode != 0 {
		t.Fatalf("log %+v", log)
	}
}

func TestCloseStopsDeliveries(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.RetrySchedule = []time.Duration{time.Hour} })
	s := newSink(t, sinkReply{http.StatusOK, "fail"})
	scanToSink(t, e, s, "PA1200")
	deadline := time.Now().Add(5 * time.Second)
	for len(e.sim.Deliveries()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("first delivery never happened")
		}
		time.Sleep(5 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := e.sim.WaitIdle(ctx); err == nil {
		t.Fatal("WaitIdle returned while a resend is pending")
	}

	done := make(chan struct{})
	go func() {
		_ = e.sim.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not stop the pending resend")
	}
	if err := e.sim.WaitIdle(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(s.all()); n != 1 {
		t.Fatalf("%d deliveries after Close", n)
	}
	status, out := e.control(t, "/sandbox/vouchers/close", map[string]string{"out_order_no": "PA1200"})
	if status != http.StatusServiceUnavailable || errorOf(t, out)["code"] != "SIMULATOR_CLOSED" {
		t.Fatalf("control after Close: status %d %v", status, out)
	}
}

func TestNotificationBodyEncoding(t *testing.T) {
	t.Run("java_url_encoder_rules", func(t *testing.T) {
		for in, want := range map[string]string{
			"a b":       "a+b",
			"*-._":      "*-._",
			"~!'()":     "%7E%21%27%28%29",
			"中":         "%E4%B8%AD",
			"a@b.c":     "a%40b.c",
			"x+y/z=1&2": "x%2By%2Fz%3D1%262",
			"%3d":       "%253d",
		} {
			var b strings.Builder
			javaURLEncode(&b, in)
			if b.String() != want {
				t.Errorf("%q: got %q, want %q", in, b.String(), want)
			}
		}
	})
	t.Run("body_round_trips_through_the_notification_parser", func(t *testing.T) {
		e := newEnv(t, nil)
		params := map[string]string{
			"notify_type": "trade_status_sync", "notify_id": "1", "subject": "大乐透 2.1 + 😀",
			"passback_params": "a%3Db&c=d", "empty": "",
		}
		n := e.sim.send("", params)
		parsed, err := alipay.ParseNotification([]byte(n.Body))
		if err != nil {
			t.Fatal(err)
		}
		if err := parsed.Verify(e.creds); err != nil {
			t.Fatal(err)
		}
		if parsed.Params["subject"] != "大乐透 2.1 + 😀" || parsed.Params["passback_params"] != "a%3Db&c=d" || parsed.Params["sign_type"] != "RSA2" {
			t.Fatalf("params %v", parsed.Params)
		}
		if strings.Contains(n.Body, " ") || !strings.Contains(n.Body, "subject=%E5%A4%A7%E4%B9%90%E9%80%8F+2.1+%2B+%F0%9F%98%80") {
			t.Fatalf("body %s", n.Body)
		}
	})
}

func TestSignNotificationSignsAsAlipayDoes(t *testing.T) {
	k := testKeys()
	creds := &alipay.Credentials{AppID: testAppID, PrivateKey: k.app, AlipayPublicKey: k.alipay.Public()}
	tests := []struct {
		name, charset, subject, wantSegment string
	}{
		{name: "utf8", charset: "utf-8", subject: "押金 大乐透", wantSegment: "subject=%E6%8A%BC%E9%87%91+%E5%A4%A7%E4%B9%90%E9%80%8F"},
		{name: "gbk_bytes_in_body_and_content", charset: "GBK", subject: "押金 大乐透", wantSegment: "subject=%D1%BA%BD%F0+%B4%F3%C0%D6%CD%B8"},
		{name: "empty_charset_is_utf8", charset: "", subject: "押金", wantSegment: "subject=%E6%8A%BC%E9%87%91"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			params := map[string]string{"notify_type": "trade_status_sync", "notify_id": "1", "app_id": testAppID,
				"subject": tt.subject, "coupon_fee": "", "sign": "stale", "sign_type": "RSA"}
			if tt.charset != "" {
				params["charset"] = tt.charset
			}
			before := maps.Clone(params)
			signed, err := SignNotification(k.alipay, params, tt.charset)
			if err != nil {
				t.Fatal(err)
			}
			body := []byte(signed.Body)
			if signed.NotifyID != "1" || signed.Params["sign"] == "" || signed.Params["sign"] == "stale" {
				t.Errorf("notification %+v", signed)
			}
			if !maps.Equal(params, before) {
				t.Errorf("params modified: %v", params)
			}
			if !strings.Contains(string(body), tt.wantSegment) {
				t.Errorf("body %s lacks %s", body, tt.wantSegment)
			}
			n, err := alipay.ParseNotification(body)
			if err != nil {
				t.Fatal(err)
			}
			if err := n.Verify(creds); err != nil {
				t.Fatalf("verify: %v", err)
			}
			if n.Params["subject"] != tt.subject || n.Params["sign_type"] != alipay.SignType {
				t.Errorf("params %v", n.Params)
			}
		})
	}
	t.Run("text_the_charset_cannot_hold_is_an_error", func(t *testing.T) {
		if _, err := SignNotification(k.alipay, map[string]string{"subject": "😀"}, "gbk"); !errors.Is(err, alipay.ErrCharset) {
			t.Fatalf("err %v", err)
		}
	})
}

func TestNew(t *testing.T) {
	k := testKeys()
	t.Run("generates_an_alipay_key_when_none_is_given", func(t *testing.T) {
		sim, err := New(Options{AppID: testAppID, AppPublicKey: k.app.Public()})
		if err != nil {
			t.Fatal(err)
		}
		defer sim.Close()
		if bits := sim.AlipayPublicKey().RSA().N.BitLen(); bits != 2048 {
			t.Fatalf("%d bits", bits)
		}
		if sim.sellerID != DefaultSellerID || sim.appID != testAppID {
			t.Fatalf("seller %s app %s", sim.sellerID, sim.appID)
		}
	})
	t.Run("uses_the_given_alipay_key", func(t *testing.T) {
		sim, err := New(Options{AppID: testAppID, AppPublicKey: k.app.Public(), AlipayKey: k.alipay, SellerID: "2088102000275795"})
		if err != nil {
			t.Fatal(err)
		}
		defer sim.Close()
		if !sim.AlipayPublicKey().Equal(k.alipay.Public()) || sim.sellerID != "2088102000275795" {
			t.Fatal("options not applied")
		}
	})
	for _, c := range []struct {
		name string
		opts Options
	}{
		{"missing_app_id_is_an_error", Options{AppPublicKey: k.app.Public()}},
		{"missing_app_public_key_is_an_error", Options{AppID: testAppID}},
		{"malformed_seller_id_is_an_error", Options{AppID: testAppID, AppPublicKey: k.app.Public(), AlipayKey: k.alipay, SellerID: "123"}},
		{"negative_retry_wait_is_an_error", Options{AppID: testAppID, AppPublicKey: k.app.Public(), AlipayKey: k.alipay, RetrySchedule: []time.Duration{-1}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if sim, err := New(c.opts); err == nil {
				sim.Close()
				t.Fatal("New accepted bad options")
			}
		})
	}
	t.Run("default_schedule_is_alipays_compressed_1000_times", func(t *testing.T) {
		alipays := []time.Duration{4 * time.Minute, 10 * time.Minute, 10 * time.Minute, time.Hour, 2 * time.Hour, 6 * time.Hour, 15 * time.Hour}
		if len(DefaultRetrySchedule) != len(alipays) {
			t.Fatalf("%d waits", len(DefaultRetrySchedule))
		}
		for i, d := range alipays {
			if DefaultRetrySchedule[i] != d/1000 {
				t.Fatalf("wait %d is %v, want %v", i, DefaultRetrySchedule[i], d/1000)
			}
		}
	})
}
