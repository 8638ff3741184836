package deploytest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/alipay-serverless/alipay-serverless/shared/orders"
	"github.com/alipay-serverless/alipay-serverless/test/harness/dynalitetest"
	"github.com/alipay-serverless/alipay-serverless/test/harness/smtest"
	"github.com/alipay-serverless/alipay-serverless/test/harness/testkeys"
)

var (
	buildOnce sync.Map // function -> *builtBinary
	binDir    string
)

type builtBinary struct {
	once sync.Once
	path string
	err  error
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "bootstraps")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// bootstrap builds functions/<fn> for Linux on the host's architecture exactly as
// `make build` does for arm64 (static, lambda.norpc, trimmed, stripped), once per test
// binary.
func bootstrap(t *testing.T, fn string) string {
	t.Helper()
	v, _ := buildOnce.LoadOrStore(fn, &builtBinary{})
	b := v.(*builtBinary)
	b.once.Do(func() {
		b.path = filepath.Join(binDir, fn, "bootstrap")
		cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-trimpath", "-buildvcs=false", "-ldflags=-s -w", "-o", b.path, "./functions/"+fn)
		cmd.Dir = moduleRoot(t)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("build %s: %v\n%s", fn, err, out)
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

func testKey(t *testing.T, rel string) string {
	t.Helper()
	return string(testkeys.Read(t, rel))
}

// stack is what a deployed function finds around it, on loopback.
type stack struct {
	sm    *smtest.Server
	db    *dynalitetest.Server
	table string
	mu    sync.Mutex
	ops   map[string]map[string]bool // function -> DynamoDB actions it called
}

// dynamoProxy forwards a function's DynamoDB calls to dynalite and records each call's
// action (X-Amz-Target), so the IAM grants can be compared with what the binary does.
func (s *stack) dynamoProxy(t *testing.T, fn string) string {
	t.Helper()
	target, _ := url.Parse(s.db.Endpoint())
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), "DynamoDB_20120810."); ok {
			s.mu.Lock()
			if s.ops[fn] == nil {
				s.ops[fn] = map[string]bool{}
			}
			s.ops[fn]["dynamodb:"+op] = true
			s.mu.Unlock()
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// used returns the sorted DynamoDB actions fn called.
func (s *stack) used(fn string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for op := range s.ops[fn] {
		out = append(out, op)
	}
	sort.Strings(out)
	return out
}

func newStack(t *testing.T) *stack {
	t.Helper()
	s := &stack{sm: smtest.Start(t), db: dynalitetest.Start(t), table: "orders-test", ops: map[string]map[string]bool{}}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := orders.CreateTable(ctx, dynalitetest.NewClient(t, s.db.Endpoint()), s.table); err != nil {
		t.Fatal(err)
	}
	secret, _ := json.Marshal(map[string]string{
		"app_id":            "2021000000000001",
		"private_key":       testKey(t, "keys/app_private_pkcs8.txt"),
		"alipay_public_key": testKey(t, "keys/alipay_public.txt"),
	})
	s.sm.Put("alipay/test", string(secret))
	return s
}

// start runs the bootstrap under its own emulator with env on top of the function's
// deployed environment (timeout and memory from template.yaml).
func (s *stack) start(t *testing.T, fn string, extra map[string]string) *emulator {
	t.Helper()
	env := map[string]string{
		"AWS_REGION":                       "us-east-1",
		"AWS_ACCESS_KEY_ID":                "test",
		"AWS_SECRET_ACCESS_KEY":            "test",
		"AWS_EC2_METADATA_DISABLED":        "true",
		"AWS_ENDPOINT_URL_SECRETS_MANAGER": s.sm.URL(),
		"AWS_LAMBDA_FUNCTION_NAME":         fn,
		"ALIPAY_SECRET_ID":                 "alipay/test",
		"ORDERS_TABLE":                     s.table,
		"DYNAMODB_ENDPOINT":                s.dynamoProxy(t, fn),
		"CREDENTIALS_TTL":                  "5m",
		"HOME":                             t.TempDir(),
	}
	for k, v := range extra {
		if v == "" {
			delete(env, k)
		} else {
			env[k] = v
		}
	}
	list := lambdaEnv(t, fn)
	for k, v := range env {
		list = append(list, k+"="+v)
	}
	return startEmulator(t, fn, bootstrap(t, fn), list)
}

// apiEvent is an API Gateway HTTP API payload 2.0 event as Lambda receives it.
func apiEvent(method, path, body string, claims map[string]string, base64Body bool, contentType string) events.APIGatewayV2HTTPRequest {
	ev := events.APIGatewayV2HTTPRequest{
		Version: "2.0", RouteKey: method + " " + path, RawPath: path,
		Headers: map[string]string{"content-type": contentType, "host": "abc123.execute-api.us-east-1.amazonaws.com"},
		Body:    body, IsBase64Encoded: base64Body,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RequestID: "apigw-req-1", DomainName: "abc123.execute-api.us-east-1.amazonaws.com", Stage: "$default",
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: method, Path: path, Protocol: "HTTP/1.1", SourceIP: "127.0.0.1"},
		},
	}
	if base64Body {
		ev.Body = base64.StdEncoding.EncodeToString([]byte(body))
	}
	if claims != nil {
		ev.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
			JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: claims},
		}
	}
	return ev
}

// invoke sends one event through the emulator and decodes the function's API Gateway
// response; an init or invocation error fails the test.
func invoke(t *testing.T, fn *emulator, ev any) events.APIGatewayV2HTTPResponse {
	t.Helper()
	status, body := fn.call(t, ev)
	var fe functionError
	if status != http.StatusOK || (json.Unmarshal(body, &fe) == nil && fe.ErrorType != "") {
		t.Fatalf("%s: invocation error: %d %s", fn.fn, status, body)
	}
	var resp events.APIGatewayV2HTTPResponse
	if err := json.Unmarshal(body, &resp); err != nil || resp.StatusCode == 0 {
		t.Fatalf("%s: reply is not an API Gateway v2 response: %s", fn.fn, body)
	}
	return resp
}

func TestAppPaySignBootstrap(t *testing.T) {
	s := newStack(t)
	fn := s.start(t, "apppaysign", nil)
	body := `{"out_trade_no":"LAMBDA001","total_amount":"88.80","subject":"Lambda order","product_code":"QUICK_MSECURITY_PAY"}`
	resp := invoke(t, fn, apiEvent("POST", "/v1/app-pay/orders", body, map[string]string{"sub": "app-user"}, false, "application/json"))
	if resp.StatusCode != 200 || !strings.Contains(resp.Body, `"order_str":"`) {
		t.Fatalf("create: %d %s", resp.StatusCode, resp.Body)
	}
	if !strings.Contains(resp.Body, "notify_url%3Dhttps") && !strings.Contains(resp.Body, "notify_url=https%3A%2F%2Fabc123.execute-api") {
		t.Errorf("notify_url not derived from the API domain: %s", resp.Body)
	}
	again := invoke(t, fn, apiEvent("POST", "/v1/app-pay/orders", body, map[string]string{"sub": "app-user"}, false, "application/json"))
	if again.StatusCode != 200 || again.Body != resp.Body || again.Headers["Idempotent-Replayed"] != "true" {
		t.Fatalf("replay: %d %v %s", again.StatusCode, again.Headers, again.Body)
	}
	get := invoke(t, fn, apiEvent("GET", "/v1/app-pay/orders/LAMBDA001", "", map[string]string{"sub": "app-user"}, false, ""))
	if get.StatusCode != 200 || !strings.Contains(get.Body, `"total_amount":"88.80"`) {
		t.Fatalf("get: %d %s", get.StatusCode, get.Body)
	}
	other := invoke(t, fn, apiEvent("GET", "/v1/app-pay/orders/LAMBDA001", "", map[string]string{"sub": "someone-else"}, false, ""))
	if other.StatusCode != 404 {
		t.Fatalf("another subject read the order: %d %s", other.StatusCode, other.Body)
	}
	if s.sm.Calls() != 1 {
		t.Errorf("secret fetched %d times, want once per cold start", s.sm.Calls())
	}
}

func TestMissingSecretAnswers503AndMissingTableIsAnInitError(t *testing.T) {
	s := newStack(t)
	t.Run("missing_secret_is_503_per_request", func(t *testing.T) {
		fn := s.start(t, "apppaysign", map[string]string{"ALIPAY_SECRET_ID": "alipay/does-not-exist"})
		resp := invoke(t, fn, apiEvent("POST", "/v1/app-pay/orders",
			`{"out_trade_no":"NOSECRET1","total_amount":"1.00","subject":"x"}`, map[string]string{"sub": "u"}, false, "application/json"))
		if resp.StatusCode != 503 || !strings.Contains(resp.Body, "DEPENDENCY_UNAVAILABLE") || resp.Headers["Retry-After"] == "" {
			t.Fatalf("%d %v %s", resp.StatusCode, resp.Headers, resp.Body)
		}
	})
	t.Run("missing_orders_table_is_an_init_error", func(t *testing.T) {
		// The bootstrap posts to /runtime/init/error and exits; the emulator answers the
		// invocation 502 with that document, as Lambda reports Runtime.InitError.
		fn := s.start(t, "apppaysign", map[string]string{"ORDERS_TABLE": ""})
		status, body := fn.call(t, apiEvent("GET", "/v1/app-pay/orders/X", "", map[string]string{"sub": "u"}, false, ""))
		var e functionError
		if err := json.Unmarshal(body, &e); err != nil || status != http.StatusBadGateway ||
			!strings.Contains(e.ErrorMessage, "ORDERS_TABLE") || e.ErrorType != "Runtime.InitError" {
			t.Fatalf("init error: %d %s", status, body)
		}
	})
}
