package alipay

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const (
	gwTestMethod = "alipay.fund.auth.order.voucher.create"
	gwTestBiz    = `{"out_order_no":"PA1","out_request_no":"PA1R1","order_title":"押金","amount":"0.01","product_code":"PRE_AUTH"}`
	// gwMarker is put in reply bodies: no error message may repeat it.
	gwMarker = "BODY-MARKER-5e1f"
)

// gwSeen is what the fake gateway received.
type gwSeen struct {
	method, contentType string
	query, body         url.Values
	params              map[string]string // union of query and body
	signErr             error             // verification with the app public key
	parseErr            error
}

// gwFake is a loopback Alipay gateway; reply decides the answer to each request.
type gwFake struct {
	srv  *httptest.Server
	mu   sync.Mutex
	seen []gwSeen
}

func gwServe(t *testing.T, reply func(w http.ResponseWriter, r *http.Request, s gwSeen)) *gwFake {
	t.Helper()
	appPub := testAppKey(t).Public()
	f := &gwFake{}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := gwSeen{method: r.Method, contentType: r.Header.Get("Content-Type"), params: map[string]string{}}
		raw, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err == nil {
			s.query, err = url.ParseQuery(r.URL.RawQuery)
		}
		if err == nil {
			s.body, err = url.ParseQuery(string(raw))
		}
		s.parseErr = err
		for _, v := range []url.Values{s.query, s.body} {
			for k, vs := range v {
				if _, dup := s.params[k]; dup || len(vs) != 1 {
					s.parseErr = errors.New("parameter sent twice: " + k)
				}
				s.params[k] = vs[0]
			}
		}
		s.signErr = appPub.Verify([]byte(SignContent(s.params)), s.params["sign"])
		f.mu.Lock()
		f.seen = append(f.seen, s)
		f.mu.Unlock()
		reply(w, r, s)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *gwFake) requests() []gwSeen {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]gwSeen(nil), f.seen...)
}

// gwFixedNow is 2025-06-01 04:00:00 UTC, i.e. 12:00:00 in China.
var gwFixedNow = time.Date(2025, 6, 1, 4, 0, 0, 0, time.UTC)

func gwClient(f *gwFake, opts ...ClientOption) *Client {
	opts = append([]ClientOption{WithClock(func() time.Time { return gwFixedNow }), WithTimeout(5 * time.Second)}, opts...)
	return NewClient(f.srv.URL+"/gateway.do", opts...)
}

func gwWrite(body []byte) func(http.ResponseWriter, *http.Request, gwSeen) {
	return func(w http.ResponseWriter, _ *http.Request, _ gwSeen) {
		w.Header().Set("Content-Type", "text/html;charset=utf-8") // Alipay's reply type is not relied on
		_, _ = w.Write(body)
	}
}

// gwKeyMaterial returns fragments of every test key's base64: none may appear in errors.
func gwKeyMaterial(t *testing.T) []string {
	var out []string
	for _, f := range []string{"keys/app_private_pkcs1.txt", "keys/app_private_pkcs8.txt", "keys/alipay_public.txt", "keys/app_public.txt"} {
		s := strings.TrimSpace(string(readTestdata(t, f)))
		out = append(out, s[:24], s[len(s)/2:len(s)/2+24])
	}
	out = append(out, base64.StdEncoding.EncodeToString(gwAESKey(t)))
	return out
}

func gwCheckMessage(t *testing.T, err error, body []byte) {
	t.Helper()
	if err == nil {
		return
	}
	msg := err.Error()
	if strings.Contains(msg, gwMarker) || (len(body) > 0 && strings.Contains(msg, string(body))) {
		t.Fatalf("error message repeats the reply body: %s", msg)
	}
	for _, k := range gwKeyMaterial(t) {
		if strings.Contains(msg, k) {
			t.Fatalf("error message contains key material: %s", msg)
		}
	}
}

func TestExecuteReplies(t *testing.T) {
	ali := testAlipayKey(t)
	node := ResponseNodeName(gwTestMethod)
	signed := func(nodeName, n string) []byte { return respSigned(t, ali, nodeName, n, "") }
	success := `{"code":"10000","msg":"Success","out_order_no":"PA1","code_value":"https://qr.alipay.com/x","marker":"` + gwMarker + `"}`
	tampered := []byte(strings.Replace(string(signed(node, success)), "qr.alipay.com", "qr.attacker.com", 1))
	duplicate := []byte(strings.TrimSuffix(string(signed(node, `{"code":"40004","msg":"Business Failed","sub_code":"ORDER_ALREADY_CLOSED"}`)), "}") +
		`,"` + node + `":` + strings.ReplaceAll(success, "/", `\/`) + `}`)
	big := signed(node, `{"code":"10000","msg":"Success","pad":"`+strings.Repeat("x", 2048)+`"}`)

	type want struct {
		success  bool
		business string // sub_code of a *BusinessError
		config   bool
		reason   string // Reason of an *UnknownOutcomeError
		code     string
	}
	for _, tc := range []struct {
		name  string
		reply func(http.ResponseWriter, *http.Request, gwSeen)
		opts  []ClientOption
		want  want
	}{
		{"signed_success_returns_the_reply", gwWrite(signed(node, success)), nil, want{success: true, code: "10000"}},
		{"business_failure_40004_is_a_business_error",
			gwWrite(signed(node, `{"code":"40004","msg":"Business Failed","sub_code":"UNIQUE_VIOLATION","sub_msg":"`+gwMarker+`"}`)), nil,
			want{business: "UNIQUE_VIOLATION", code: "40004"}},
		{"invalid_arguments_40002_is_a_configuration_error",
			gwWrite(signed(ErrorResponseNode, `{"code":"40002","msg":"Invalid Arguments","sub_code":"isv.invalid-signature","sub_msg":"`+gwMarker+`"}`)), nil,
			want{business: "isv.invalid-signature", config: true, code: "40002"}},
		{"insufficient_permissions_40006_is_a_configuration_error",
			gwWrite(signed(node, `{"code":"40006","msg":"Insufficient Permissions","sub_code":"isv.insufficient-isv-permissions"}`)), nil,
			want{business: "isv.insufficient-isv-permissions", config: true, code: "40006"}},
		{"service_unavailable_20000_is_unknown",
			gwWrite(signed(node, `{"code":"20000","msg":"Service Currently Unavailable","sub_code":"isp.unknow-error"}`)), nil,
			want{reason: gwReasonSystemError, code: "20000"}},
		{"code_20000_without_sub_code_is_unknown",
			gwWrite(signed(node, `{"code":"20000","msg":"Service Currently Unavailable"}`)), nil,
			want{reason: gwReasonUnavailable, code: "20000"}},
		{"system_error_sub_code_is_unknown",
			gwWrite(signed(node, `{"code":"40004","msg":"Business Failed","sub_code":"SYSTEM_ERROR"}`)), nil,
			want{reason: gwReasonSystemError, code: "40004"}},
		{"acq_system_error_sub_code_is_unknown",
			gwWrite(signed(node, `{"code":"40004","msg":"Business Failed","sub_code":"ACQ.SYSTEM_ERROR"}`)), nil,
			want{reason: gwReasonSystemError, code: "40004"}},
		{"unrecognised_code_is_unknown",
			gwWrite(signed(node, `{"code":"50000","msg":"?","sub_code":"x"}`)), nil,
			want{reason: gwReasonUnrecognised, code: "50000"}},
		{"success_in_error_response_node_is_unknown",
			gwWrite(signed(ErrorResponseNode, `{"code":"10000","msg":"Success"}`)), nil,
			want{reason: gwReasonMisplacedReply, code: "10000"}},
		{"http_500_is_unknown", func(w http.ResponseWriter, _ *http.Request, _ gwSeen) {
			http.Error(w, gwMarker, http.StatusInternalServerError)
		}, nil, want{reason: gwReasonStatus + " 500"}},
		{"redirect_is_not_followed_and_is_unknown", func(w http.ResponseWriter, r *http.Request, _ gwSeen) {
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
		}, nil, want{reason: gwReasonStatus + " 302"}},
		{"non_json_reply_is_unknown", gwWrite([]byte("<html>" + gwMarker + "</html>")), nil, want{reason: gwReasonMalformed}},
		{"empty_reply_is_unknown", gwWrite(nil), nil, want{reason: gwReasonMalformed}},
		{"oversized_reply_is_unknown", gwWrite(big), []ClientOption{WithMaxReplyBytes(1024)}, want{reason: gwReasonTooLarge + " (over 1024 bytes)"}},
		{"reply_of_exactly_max_bytes_is_read", gwWrite(big), []ClientOption{WithMaxReplyBytes(int64(len(big)))}, want{success: true, code: "10000"}},
		{"tampered_signature_is_unknown", gwWrite(tampered), nil, want{reason: gwReasonBadSignature}},
		{"duplicated_node_is_unknown", gwWrite(duplicate), nil, want{reason: gwReasonDuplicate}},
		{"unsigned_success_is_unknown", gwWrite([]byte(`{"` + node + `":` + success + `}`)), nil, want{reason: gwReasonUnsigned}},
		{"unsigned_failure_is_unknown_with_its_codes",
			gwWrite([]byte(`{"error_response":{"code":"40001","msg":"Missing Required Arguments","sub_code":"isv.missing-signature","sub_msg":"` + gwMarker + `"}}`)), nil,
			want{reason: gwReasonUnsignedFail, code: "40001"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := gwServe(t, tc.reply)
			var refreshed atomic.Int32
			r, err := gwClient(f, tc.opts...).Execute(context.Background(), testCredentials(t), gwTestMethod, gwTestBiz, CallOptions{
				Refresh: func(context.Context) (*Credentials, error) { refreshed.Add(1); return testCredentials(t), nil },
			})
			if n := len(f.requests()); n != 1 {
				t.Fatalf("gateway saw %d requests, want 1", n)
			}
			gwCheckMessage(t, err, nil)
			var be *BusinessError
			var ue *UnknownOutcomeError
			switch {
			case tc.want.success:
				if err != nil || r == nil || r.Code != tc.want.code {
					t.Fatalf("r %+v err %v", r, err)
				}
			case tc.want.business != "":
				if !errors.As(err, &be) || errors.Is(err, ErrUnknownOutcome) || r != nil {
					t.Fatalf("r %+v err %v, want *BusinessError", r, err)
				}
				if be.SubCode != tc.want.business || be.Code != tc.want.code || be.Configuration() != tc.want.config {
					t.Fatalf("%+v configuration=%v", be, be.Configuration())
				}
			default:
				if !errors.Is(err, ErrUnknownOutcome) || !errors.As(err, &ue) || errors.As(err, &be) || r != nil {
					t.Fatalf("r %+v err %v, want unknown outcome", r, err)
				}
				if ue.Reason != tc.want.reason || ue.Code != tc.want.code {
					t.Fatalf("reason %q code %q, want %q %q (%v)", ue.Reason, ue.Code, tc.want.reason, tc.want.code, err)
				}
			}
			// Refresh is for signatures only, and these replies are all signed with
			// the key the credentials already hold (or not signed at all).
			if n := refreshed.Load(); n != 0 && tc.want.reason != gwReasonBadSignature {
				t.Fatalf("Refresh called %d times", n)
			}
		})
	}
}

func TestExecuteRequest(t *testing.T) {
	ali := testAlipayKey(t)
	node := ResponseNodeName(gwTestMethod)
	f := gwServe(t, gwWrite(respSigned(t, ali, node, `{"code":"10000","msg":"Success","out_order_no":"PA1"}`, "")))
	_, err := gwClient(f).Execute(context.Background(), testCredentials(t), gwTestMethod, gwTestBiz, CallOptions{
		NotifyURL: "https://merchant.example.com/v1/notify/alipay", AppAuthToken: " ",
	})
	if err != nil {
		t.Fatal(err)
	}
	reqs := f.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests", len(reqs))
	}
	s := reqs[0]
	t.Run("request_is_a_form_post", func(t *testing.T) {
		if s.method != http.MethodPost || s.contentType != "application/x-www-form-urlencoded;charset=utf-8" || s.parseErr != nil {
			t.Fatalf("%s %q %v", s.method, s.contentType, s.parseErr)
		}
	})
	t.Run("signature_verifies_with_the_app_public_key", func(t *testing.T) {
		if s.signErr != nil {
			t.Fatal(s.signErr)
		}
	})
	t.Run("timestamp_is_china_time", func(t *testing.T) {
		if s.params["timestamp"] != "2025-06-01 12:00:00" {
			t.Fatalf("timestamp %q for %v", s.params["timestamp"], gwFixedNow)
		}
	})
	t.Run("params_are_the_signed_set_with_blanks_dropped", func(t *testing.T) {
		want := map[string]string{
			"app_id": "2021000000000001", "method": gwTestMethod, "charset": "utf-8", "sign_type": "RSA2",
			"version": "1.0", "timestamp": "2025-06-01 12:00:00", "biz_content": gwTestBiz,
			"notify_url": "https://merchant.example.com/v1/notify/alipay", "sign": s.params["sign"],
		}
		if !maps.Equal(s.params, want) {
			t.Fatalf("params %q", s.params)
		}
		if len(s.body) != 1 || s.body.Get("biz_content") != gwTestBiz || s.query.Get("sign") == "" {
			t.Fatalf("query %v body %v", s.query, s.body)
		}
	})
}

func TestExecuteTransport(t *testing.T) {
	t.Run("timeout_is_unknown_and_bounded", func(t *testing.T) {
		f := gwServe(t, func(w http.ResponseWriter, r *http.Request, _ gwSeen) {
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
		})
		start := time.Now()
		_, err := gwClient(f, WithTimeout(200*time.Millisecond)).Execute(context.Background(), testCredentials(t), gwTestMethod, gwTestBiz, CallOptions{})
		var ue *UnknownOutcomeError
		if !errors.As(err, &ue) || ue.Reason != gwReasonTimeout || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v", err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Fatalf("took %v", d)
		}
		gwCheckMessage(t, err, nil)
		if strings.Contains(err.Error(), "sign=") {
			t.Fatalf("error repeats the signed request URL: %v", err)
		}
	})
	t.Run("shorter_context_deadline_wins", func(t *testing.T) {
		f := gwServe(t, func(w http.ResponseWriter, r *http.Request, _ gwSeen) {
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
		})
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := gwClient(f, WithTimeout(30*time.Second)).Execute(ctx, testCredentials(t), gwTestMethod, gwTestBiz, CallOptions{})
		var ue *UnknownOutcomeError
		if !errors.As(err, &ue) || ue.Reason != gwReasonTimeout {
			t.Fatalf("err = %v", err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Fatalf("took %v", d)
		}
	})
	t.Run("canceled_context_is_unknown", func(t *testing.T) {
		f := gwServe(t, func(w http.ResponseWriter, r *http.Request, _ gwSeen) {
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
		})
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(100*time.Millisecond, cancel)
		_, err := gwClient(f).Execute(ctx, testCredentials(t), gwTestMethod, gwTestBiz, CallOptions{})
		var ue *UnknownOutcomeError
		if !errors.As(err, &ue) || ue.Reason != gwReasonCanceled {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("connection_refused_is_unknown", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		cl := NewClient("http://"+addr+"/gateway.do", WithTimeout(2*time.Second))
		_, err = cl.Execute(context.Background(), testCredentials(t), gwTestMethod, gwTestBiz, CallOptions{})
		var ue *UnknownOutcomeError
		if !errors.As(err, &ue) || ue.Reason != gwReasonTransport {
			t.Fatalf("err = %v", err)
		}
		gwCheckMessage(t, err, nil)
		if strings.Contains(err.Error(), "sign=") {
			t.Fatalf("error repeats the signed request URL: %v", err)
		}
	})
	t.Run("reply_cut_short_is_unknown", func(t *testing.T) {
		f := gwServe(t, func(w http.ResponseWriter, _ *http.Request, _ gwSeen) {
			w.Header().Set("Content-Length", "1000")
			_, _ = w.Write([]byte(`{"alipay_fund_auth_order_voucher_create_response":{`))
		})
		_, err := gwClient(f).Execute(context.Background(), testCredentials(t), gwTestMethod, gwTestBiz, CallOptions{})
		var ue *UnknownOutcomeError
		if !errors.As(err, &ue) || ue.Reason != gwReasonTransport {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("nothing_is_sent_for_bad_inputs", func(t *testing.T) {
		f := gwServe(t, gwWrite(nil))
		noKey := testCredentials(t)
		noKey.AlipayPublicKey = nil
		noEnc := testCredentials(t)
		for _, tc := range []struct {
			name string
			cl   *Client
			c    *Credentials
			opts CallOptions
		}{
			{"credentials_without_alipay_key", gwClient(f), noKey, CallOptions{}},
			{"nil_credentials", gwClient(f), nil, CallOptions{}},
			{"encrypt_without_key", gwClient(f), noEnc, CallOptions{Encrypt: true}},
			{"relative_gateway_url", NewClient("/gateway.do"), testCredentials(t), CallOptions{}},
			{"unsupported_scheme", NewClient("ftp://127.0.0.1/gateway.do"), testCredentials(t), CallOptions{}},
		} {
			_, err := tc.cl.Execute(context.Background(), tc.c, gwTestMethod, gwTestBiz, tc.opts)
			var be *BusinessError
			if err == nil || errors.Is(err, ErrUnknownOutcome) || errors.As(err, &be) {
				t.Fatalf("%s: err = %v, want a plain error", tc.name, err)
			}
		}
		if n := len(f.requests()); n != 0 {
			t.Fatalf("%d requests sent", n)
		}
	})
}

func TestExecuteRotation(t *testing.T) {
	ali := testAlipayKey(t)
	node := ResponseNodeName(gwTestMethod)
	success := `{"code":"10000","msg":"Success","out_order_no":"PA1"}`
	stale := func(t *testing.T) *Credentials {
		c := testCredentials(t)
		c.AlipayPublicKey = testAppKey(t).Public() // not the key that signs the replies
		return c
	}

	t.Run("new_alipay_key_from_refresh_verifies_the_same_reply", func(t *testing.T) {
		f := gwServe(t, gwWrite(respSigned(t, ali, node, success, "")))
		var calls atomic.Int32
		r, err := gwClient(f).Execute(context.Background(), stale(t), gwTestMethod, gwTestBiz, CallOptions{
			Refresh: func(context.Context) (*Credentials, error) { calls.Add(1); return testCredentials(t), nil },
		})
		if err != nil || r.Code != "10000" {
			t.Fatalf("r %+v err %v", r, err)
		}
		if calls.Load() != 1 || len(f.requests()) != 1 {
			t.Fatalf("refresh calls %d, requests %d", calls.Load(), len(f.requests()))
		}
	})
	t.Run("refresh_is_called_once_even_if_the_fresh_key_fails", func(t *testing.T) {
		f := gwServe(t, gwWrite(respSigned(t, ali, node, success, "")))
		var calls atomic.Int32
		_, err := gwClient(f).Execute(context.Background(), stale(t), gwTestMethod, gwTestBiz, CallOptions{
			Refresh: func(context.Context) (*Credentials, error) { calls.Add(1); return stale(t), nil },
		})
		var ue *UnknownOutcomeError
		if !errors.As(err, &ue) || ue.Reason != gwReasonBadSignature || calls.Load() != 1 {
			t.Fatalf("err %v, calls %d", err, calls.Load())
		}
	})
	t.Run("without_refresh_a_stale_key_is_unknown", func(t *testing.T) {
		f := gwServe(t, gwWrite(respSigned(t, ali, node, success, "")))
		_, err := gwClient(f).Execute(context.Background(), stale(t), gwTestMethod, gwTestBiz, CallOptions{})
		if !errors.Is(err, ErrUnknownOutcome) || !errors.Is(err, ErrBadSignature) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("refresh_failure_is_unknown", func(t *testing.T) {
		f := gwServe(t, gwWrite(respSigned(t, ali, node, success, "")))
		boom := errors.New("secrets manager down")
		_, err := gwClient(f).Execute(context.Background(), stale(t), gwTestMethod, gwTestBiz, CallOptions{
			Refresh: func(context.Context) (*Credentials, error) { return nil, boom },
		})
		var ue *UnknownOutcomeError
		if !errors.As(err, &ue) || ue.Reason != gwReasonRefresh || !errors.Is(err, boom) || !errors.Is(err, ErrBadSignature) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("refresh_returning_nothing_is_unknown", func(t *testing.T) {
		f := gwServe(t, gwWrite(respSigned(t, ali, node, success, "")))
		_, err := gwClient(f).Execute(context.Background(), stale(t), gwTestMethod, gwTestBiz, CallOptions{
			Refresh: func(context.Context) (*Credentials, error) { return nil, nil },
		})
		var ue *UnknownOutcomeError
		if !errors.As(err, &ue) || ue.Reason != gwReasonRefresh {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("unknown_cert_sn_is_resolved_by_refresh", func(t *testing.T) {
		const newSN = "0123456789abcdef0123456789abcdef"
		f := gwServe(t, gwWrite(respSigned(t, ali, node, success, newSN)))
		old := respCertCredentials(t)
		var calls atomic.Int32
		r, err := gwClient(f).Execute(context.Background(), old, gwTestMethod, gwTestBiz, CallOptions{
			Refresh: func(context.Context) (*Credentials, error) {
				calls.Add(1)
				fresh := *old
				fresh.AlipayCerts = map[string]*PublicKey{newSN: ali.Public()}
				return &fresh, nil
			},
		})
		if err != nil || r.Code != "10000" || calls.Load() != 1 {
			t.Fatalf("r %+v err %v calls %d", r, err, calls.Load())
		}
		// The request itself carried the certificate-mode SNs.
		s := f.requests()[0]
		if s.params["app_cert_sn"] != old.AppCertSN || s.params["alipay_root_cert_sn"] != old.AlipayRootCertSN || s.signErr != nil {
			t.Fatalf("cert-mode request params %q, sign %v", s.params, s.signErr)
		}
	})
	t.Run("unknown_cert_sn_without_refresh_is_unknown", func(t *testing.T) {
		f := gwServe(t, gwWrite(respSigned(t, ali, node, success, "0123456789abcdef0123456789abcdef")))
		_, err := gwClient(f).Execute(context.Background(), respCertCredentials(t), gwTestMethod, gwTestBiz, CallOptions{})
		var ue *UnknownOutcomeError
		if !errors.As(err, &ue) || ue.Reason != gwReasonUnknownCertSN || !errors.Is(err, ErrUnknownCertSN) {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestExecuteEncrypted(t *testing.T) {
	ali := testAlipayKey(t)
	node := ResponseNodeName(gwTestMethod)
	c := testCredentials(t)
	c.EncryptKey = gwAESKey(t)
	plainReply := `{"code":"10000","msg":"Success","out_order_no":"PA1","code_value":"https://qr.alipay.com/x"}`
	f := gwServe(t, func(w http.ResponseWriter, _ *http.Request, s gwSeen) {
		// The fake gateway answers like Alipay: decrypts the request, encrypts the reply.
		biz, err := DecryptContent(c.EncryptKey, s.body.Get("biz_content"))
		if err != nil || biz != gwTestBiz || s.body.Get("encrypt_type") != "AES" || s.signErr != nil {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		enc, _ := EncryptContent(c.EncryptKey, plainReply)
		_, _ = w.Write(respSigned(t, ali, node, `"`+enc+`"`, ""))
	})
	r, err := gwClient(f).Execute(context.Background(), c, gwTestMethod, gwTestBiz, CallOptions{Encrypt: true})
	if err != nil {
		t.Fatal(err)
	}
	if r.Code != "10000" || string(r.Node) != plainReply {
		t.Fatalf("%+v", r)
	}
}

func TestUnknownOutcomeError(t *testing.T) {
	inner := errors.New("inner")
	e := &UnknownOutcomeError{Reason: "system error", Code: "40004", SubCode: "ACQ.SYSTEM_ERROR", Err: inner}
	if !errors.Is(e, ErrUnknownOutcome) || !errors.Is(e, inner) || errors.Is(&BusinessError{}, ErrUnknownOutcome) {
		t.Fatal("errors.Is does not match")
	}
	if got := e.Error(); got != "alipay: outcome unknown: system error (code 40004, sub_code ACQ.SYSTEM_ERROR): inner" {
		t.Fatalf("Error() = %q", got)
	}
	if got := (&UnknownOutcomeError{Reason: "timeout"}).Error(); got != "alipay: outcome unknown: timeout" {
		t.Fatalf("Error() = %q", got)
	}
	be := &BusinessError{Code: "40004", Msg: "Business Failed", SubCode: "UNIQUE_VIOLATION", SubMsg: "dup " + gwMarker}
	if got := be.Error(); got != "alipay: business error: code 40004, sub_code UNIQUE_VIOLATION" {
		t.Fatalf("Error() = %q", got)
	}
	for code, want := range map[string]bool{"20001": true, "40001": true, "40002": true, "40006": true, "40004": false, "20000": false} {
		if got := (&BusinessError{Code: code}).Configuration(); got != want {
			t.Fatalf("Configuration(%s) = %v", code, got)
		}
	}
}

func TestNewClientOptions(t *testing.T) {
	hc := &http.Client{}
	now := func() time.Time { return gwFixedNow }
	cl := NewClient("https://openapi.alipay.com/gateway.do", WithHTTPClient(hc), WithTimeout(3*time.Second), WithMaxReplyBytes(10), WithClock(now))
	if cl.http != hc || cl.timeout != 3*time.Second || cl.maxReply != 10 || !cl.clock().Equal(gwFixedNow) {
		t.Fatalf("%+v", cl)
	}
	def := NewClient("https://openapi.alipay.com/gateway.do", WithHTTPClient(nil), WithTimeout(0), WithMaxReplyBytes(-1), WithClock(nil))
	if def.http == nil || def.timeout != DefaultTimeout || def.maxReply != DefaultMaxReplyBytes || def.clock == nil {
		t.Fatalf("defaults %+v", def)
	}
	if ep, err := gwEndpoint("https://h.example.com/gateway.do?x=1", "a=b"); err != nil || ep != "https://h.example.com/gateway.do?x=1&a=b" {
		t.Fatalf("endpoint %q %v", ep, err)
	}
}

func TestCallHookSeesEveryCallWithItsClass(t *testing.T) {
	type seen struct{ method, class string }
	var got []seen
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	}))
	defer srv.Close()
	cl := NewClient(srv.URL, WithCallHook(func(method string, err error) { got = append(got, seen{method, OutcomeClass(err)}) }))
	c := testCredentials(t)
	_, err := cl.Execute(t.Context(), c, MethodTradeQuery, `{"out_trade_no":"A1"}`, CallOptions{})
	if !errors.Is(err, ErrUnknownOutcome) {
		t.Fatalf("err %v", err)
	}
	_, err = NewClient("ftp://x", WithCallHook(func(method string, err error) { got = append(got, seen{method, OutcomeClass(err)}) })).
		Execute(t.Context(), c, MethodVoucherCreate, `{}`, CallOptions{})
	if err == nil {
		t.Fatal("a bad gateway URL was sent")
	}
	want := []seen{{MethodTradeQuery, ClassUnknown}, {MethodVoucherCreate, ClassNotSent}}
	if !slices.Equal(got, want) {
		t.Fatalf("hook saw %v, want %v", got, want)
	}
	if OutcomeClass(nil) != ClassSuccess || OutcomeClass(&BusinessError{Code: "40004"}) != ClassBusinessError {
		t.Fatal("classes")
	}
}
