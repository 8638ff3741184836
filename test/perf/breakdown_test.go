package perf

import (
	"context"
	"encoding/base64"
	"net/http"
	"testing"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
	"github.com/alipay-serverless/alipay-serverless/shared/httpapi"
	"github.com/alipay-serverless/alipay-serverless/shared/platform"
)

// The parts of the notify path, each timed alone, to show where the path's time goes
// beyond its floor: the Lambda adapter, our router, and the protocol work (parse,
// sign content, verify, typed view). The rest of the path is the service: checks, the
// store and its log line.

// replySuccess reads the body and answers like the notify handler, doing nothing else.
var replySuccess = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	if _, herr := httpapi.ReadBody(r); herr != nil {
		httpapi.WriteError(w, herr)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(alipay.NotifySuccessReply))
})

func benchPartHandler(b *testing.B, h http.Handler) {
	fn := platform.LambdaHandler(h)
	ev := notifyEvent(notices(b, 1)[0])
	ctx := lambdaCtx()
	b.ReportAllocs()
	for b.Loop() {
		if resp, err := fn(ctx, ev); err != nil || resp.Body != alipay.NotifySuccessReply {
			b.Fatalf("%d %v %q", resp.StatusCode, err, resp.Body)
		}
	}
}

// BenchmarkPartAdapter is the Lambda adapter with a handler that only reads the body
// and replies.
func BenchmarkPartAdapter(b *testing.B) { benchPartHandler(b, replySuccess) }

// BenchmarkPartAdapterRouter adds our router (request id logger, route match, access
// log line) in front of that handler.
func BenchmarkPartAdapterRouter(b *testing.B) {
	router := httpapi.NewRouter(httpapi.JWTCaller, lambdaLogger())
	if err := router.Handle(http.MethodPost, httpapi.NotifyPath, replySuccess); err != nil {
		b.Fatal(err)
	}
	benchPartHandler(b, router)
}

// BenchmarkPartParseVerify is the protocol work on one notification body: parse,
// verify (sign content + RSA) and the typed trade view.
func BenchmarkPartParseVerify(b *testing.B) {
	raw, err := base64.StdEncoding.DecodeString(notices(b, 1)[0])
	if err != nil {
		b.Fatal(err)
	}
	creds, err := credentialsCache(b).Get(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		n, err := alipay.ParseNotification(raw)
		if err != nil {
			b.Fatal(err)
		}
		if err := n.Verify(creds); err != nil {
			b.Fatal(err)
		}
		if _, err := n.Trade(); err != nil {
			b.Fatal(err)
		}
	}
}
