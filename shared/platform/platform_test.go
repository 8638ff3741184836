package platform

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/alipay-serverless/alipay-serverless/shared/credentials"
)

func TestLoadRejectsBadConfigurationByName(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{name: "missing_orders_table", env: map[string]string{"ALIPAY_SECRET_ID": "s"}, want: "ORDERS_TABLE"},
		{name: "bad_gateway_timeout", env: map[string]string{"ORDERS_TABLE": "t", "ALIPAY_GATEWAY_TIMEOUT": "soon"}, want: "ALIPAY_GATEWAY_TIMEOUT"},
		{name: "no_credentials_configured", env: map[string]string{"ORDERS_TABLE": "t", "AWS_REGION": "us-east-1"}, want: "no credentials configured"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			_, err := Load(context.Background(), func(k string) string { return tt.env[k] }, NewLogger(&logs))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one naming %s", err, tt.want)
			}
		})
	}
	_, err := Load(context.Background(), func(k string) string { return map[string]string{"ORDERS_TABLE": "t"}[k] }, NewLogger(&bytes.Buffer{}))
	if !errors.Is(err, credentials.ErrNotConfigured) {
		t.Errorf("no credentials: %v", err)
	}
}

func TestLoadWiresEverythingWithoutWaitingForTheSecret(t *testing.T) {
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	// Nothing listens here: the secret load fails in the background, init does not.
	t.Setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", "http://127.0.0.1:1")
	env := map[string]string{"ORDERS_TABLE": "orders", "ALIPAY_SECRET_ID": "alipay/prod", "DYNAMODB_ENDPOINT": "http://127.0.0.1:1"}
	start := time.Now()
	d, err := Load(context.Background(), func(k string) string { return env[k] }, NewLogger(&bytes.Buffer{}))
	if err != nil {
		t.Fatal(err)
	}
	if d.Store == nil || d.Gateway == nil || d.Credentials == nil || d.Config.OrdersTable != "orders" {
		t.Fatalf("deps %+v", d)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("Load waited for the secret")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := d.Credentials.Get(ctx); !errors.Is(err, credentials.ErrUnavailable) {
		t.Errorf("unreachable secret: %v", err)
	}
}

// TestReportInitErrorPostsTheRuntimeAPIInitError checks the request itself; that Lambda's
// own Runtime API takes it is shown in test/deploytest, where the bootstraps run under
// AWS's emulator and a missing ORDERS_TABLE comes back as this Runtime.InitError.
func TestReportInitErrorPostsTheRuntimeAPIInitError(t *testing.T) {
	type posted struct {
		method, path, errorType string
		body                    map[string]string
	}
	got := make(chan posted, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := posted{method: r.Method, path: r.URL.Path, errorType: r.Header.Get("Lambda-Runtime-Function-Error-Type")}
		_ = json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&p.body)
		got <- p
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	if err := ReportInitError(strings.TrimPrefix(srv.URL, "http://"), errors.New("config: ORDERS_TABLE is required")); err != nil {
		t.Fatal(err)
	}
	p := <-got // ReportInitError returned after the server answered
	if p.method != http.MethodPost || p.path != "/2018-06-01/runtime/init/error" || p.errorType != "Runtime.InitError" ||
		p.body["errorType"] != "Runtime.InitError" || p.body["errorMessage"] != "config: ORDERS_TABLE is required" {
		t.Fatalf("%+v", p)
	}
	if err := ReportInitError("", errors.New("x")); err == nil {
		t.Error("reporting without AWS_LAMBDA_RUNTIME_API succeeded")
	}
}

func TestLambdaAWSConfigReadsTheLambdaEnvironment(t *testing.T) {
	t.Setenv("AWS_REGION", "ap-southeast-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_SESSION_TOKEN", "token")
	t.Setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
	cfg, err := lambdaAWSConfig()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Region != "ap-southeast-1" || cfg.BaseEndpoint == nil || *cfg.BaseEndpoint != "http://127.0.0.1:9" {
		t.Fatalf("region %q endpoint %v", cfg.Region, cfg.BaseEndpoint)
	}
	c, err := cfg.Credentials.Retrieve(context.Background())
	if err != nil || c.AccessKeyID != "AKIDEXAMPLE" || c.SessionToken != "token" {
		t.Fatalf("credentials %+v err %v", c, err)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	if cfg, err = lambdaAWSConfig(); err != nil || cfg.Credentials != nil {
		t.Fatalf("without keys: credentials %v err %v", cfg.Credentials, err)
	}
}
