package perf

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
	"github.com/alipay-serverless/alipay-serverless/shared/credentials"
	"github.com/alipay-serverless/alipay-serverless/shared/platform"
	"github.com/alipay-serverless/alipay-serverless/shared/sandbox"
	"github.com/alipay-serverless/alipay-serverless/test/harness/testkeys"
)

const (
	testAppID    = "2021000000000001"
	testSellerID = "2088000000000001"
	formCT       = "application/x-www-form-urlencoded; charset=utf-8"
	apiHost      = "abc123.execute-api.us-east-1.amazonaws.com"
)

// moduleRoot is the directory holding go.mod.
func moduleRoot(tb testing.TB) string {
	tb.Helper()
	return testkeys.Root(tb)
}

// keyPath is a file of the reference test keys (<module root>/testdata/keys); missing is a failure.
func keyPath(tb testing.TB, name string) string {
	tb.Helper()
	p := filepath.Join(moduleRoot(tb), "testdata", "keys", name)
	if _, err := os.Stat(p); err != nil {
		tb.Fatalf("reference testdata: %v", err)
	}
	return p
}

func readKey(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(keyPath(tb, name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func privateKey(tb testing.TB, name string) *alipay.PrivateKey {
	tb.Helper()
	k, err := alipay.ParsePrivateKey(readKey(tb, name))
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// credentialsCache is the credentials path a function takes in production: the cache
// over a source, warm. The source is the env one with the reference key files (the
// deployed functions read Secrets Manager instead; after the first load both hand out
// the same cached *alipay.Credentials).
func credentialsCache(tb testing.TB) *credentials.Cache {
	tb.Helper()
	env := map[string]string{
		credentials.EnvAppID:                     testAppID,
		credentials.EnvPrivateKey + "_FILE":      keyPath(tb, "app_private_pkcs1.pem"),
		credentials.EnvAlipayPublicKey + "_FILE": keyPath(tb, "alipay_public.pem"),
	}
	c := credentials.NewCache(credentials.NewEnvSource(func(k string) string { return env[k] }, nil),
		credentials.WithLogger(lambdaLogger()))
	if _, err := c.Get(context.Background()); err != nil {
		tb.Fatal(err)
	}
	return c
}

// lambdaLogger is the functions' JSON logger with its output discarded: formatting is
// measured, the write to stdout (CloudWatch) is not.
func lambdaLogger() *slog.Logger { return platform.NewLogger(io.Discard) }

// apiEvent is an API Gateway HTTP API (payload 2.0) event as Lambda hands it to the
// function; claims, when set, are the JWT authorizer's.
func apiEvent(method, path, contentType, body string, claims map[string]string) events.APIGatewayV2HTTPRequest {
	ev := events.APIGatewayV2HTTPRequest{
		Version: "2.0", RouteKey: method + " " + path, RawPath: path, Body: body,
		Headers: map[string]string{"host": apiHost, "user-agent": "perf"},
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RequestID: "perf-req", DomainName: apiHost, Stage: "$default",
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: method, Path: path, Protocol: "HTTP/1.1", SourceIP: "127.0.0.1"},
		},
	}
	if contentType != "" {
		ev.Headers["content-type"] = contentType
	}
	if claims != nil {
		ev.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
			JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: claims},
		}
	}
	return ev
}

// signNotice is the body of a UTF-8 notification signed with key as Alipay signs it
// (sandbox.SignNotification).
func signNotice(tb testing.TB, key *alipay.PrivateKey, params map[string]string) string {
	tb.Helper()
	n, err := sandbox.SignNotification(key, params, "utf-8")
	if err != nil {
		tb.Fatal(err)
	}
	return n.Body
}

// tradeNotice is a TRADE_SUCCESS notification for an app-pay order, shaped like
// Alipay's.
func tradeNotice(outTradeNo, notifyID, tradeNo, amount string) map[string]string {
	return map[string]string{
		"notify_type": "trade_status_sync", "notify_id": notifyID, "notify_time": "2025-06-01 12:00:11",
		"app_id": testAppID, "auth_app_id": testAppID, "charset": "utf-8", "version": "1.0",
		"trade_no": tradeNo, "out_trade_no": outTradeNo, "trade_status": "TRADE_SUCCESS",
		"total_amount": amount, "receipt_amount": amount, "invoice_amount": amount, "buyer_pay_amount": amount,
		"point_amount": "0.00", "buyer_id": "2088102122524333", "buyer_logon_id": "159****5620",
		"seller_id": testSellerID, "seller_email": "mer***@example.com", "subject": "大乐透 2.1",
		"gmt_create": "2025-06-01 12:00:05", "gmt_payment": "2025-06-01 12:00:10",
		"fund_bill_list": `[{"amount":"` + amount + `","fundChannel":"ALIPAYACCOUNT"}]`,
	}
}

// lambdaCtx is the context aws-lambda-go hands a handler: it carries the invocation's
// request id, which the router logs instead of making one up.
func lambdaCtx() context.Context {
	return lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{
		AwsRequestID: "8f5e6d2c-1b3a-4c7d-9e0f-123456789abc", InvokedFunctionArn: "arn:aws:lambda:us-east-1:000000000000:function:perf",
	})
}
