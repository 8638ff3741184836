package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	awscreds "github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/mdp/qrterminal/v3"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
	"github.com/alipay-serverless/alipay-serverless/shared/config"
	"github.com/alipay-serverless/alipay-serverless/shared/credentials"
	"github.com/alipay-serverless/alipay-serverless/shared/httpapi"
	"github.com/alipay-serverless/alipay-serverless/shared/orders"
	"github.com/alipay-serverless/alipay-serverless/shared/platform"
	"github.com/alipay-serverless/alipay-serverless/shared/sandbox"
	"github.com/alipay-serverless/alipay-serverless/shared/wiring"
)

// devAppID is the app id of the generated dev credentials and of the simulator.
const devAppID = "2021000000000001"

// app is everything the local server runs.
type app struct {
	handler   http.Handler
	sim       *sandbox.Simulator // nil when a real gateway is configured
	base      string
	store     string
	creds     string
	gateway   string
	reconcile string
	closers   []func()
}

func newApp(ctx context.Context, o options, base string, getenv func(string) string, out io.Writer) (*app, error) {
	var logHandler slog.Handler = slog.NewTextHandler(out, nil)
	if o.logJSON {
		logHandler = slog.NewJSONHandler(out, nil)
	}
	log := slog.New(logHandler)
	cfg, err := config.Load(getenv)
	if err != nil {
		return nil, err
	}
	a := &app{base: base}

	var awsCfg *aws.Config
	loadAWS := func() (aws.Config, error) {
		if awsCfg != nil {
			return *awsCfg, nil
		}
		var opts []func(*awsconfig.LoadOptions) error
		if getenv("AWS_REGION") == "" && getenv("AWS_DEFAULT_REGION") == "" {
			opts = append(opts, awsconfig.WithRegion("us-east-1"))
		}
		if o.dynamoDBEndpoint != "" && getenv("AWS_ACCESS_KEY_ID") == "" {
			// dynalite accepts any signature; do not go looking for real credentials.
			opts = append(opts, awsconfig.WithCredentialsProvider(awscreds.NewStaticCredentialsProvider("local", "local", "")))
		}
		c, err := awsconfig.LoadDefaultConfig(ctx, opts...)
		if err != nil {
			return c, fmt.Errorf("aws config: %w", err)
		}
		awsCfg = &c
		return c, nil
	}

	// Credentials: configured ones, else generated dev keys and the simulator.
	var creds wiring.Credentials
	var sm credentials.GetSecretValueAPI
	if cfg.SecretID != "" {
		c, err := loadAWS()
		if err != nil {
			return nil, err
		}
		sm = secretsmanager.NewFromConfig(c)
	}
	src, err := credentials.FromEnv(getenv, sm, nil)
	switch {
	case errors.Is(err, credentials.ErrNotConfigured):
		dev, sim, err := newDevSandbox(log)
		if err != nil {
			return nil, err
		}
		creds, a.sim = credentials.Static{Creds: dev}, sim // generated dev keys: nothing to refresh
		cfg.GatewayURL = base + "/sandbox/gateway.do"
		a.creds = "generated dev keys (app " + devAppID + ")"
		a.gateway = "built-in simulator at " + cfg.GatewayURL
		a.closers = append(a.closers, func() { _ = sim.Close() })
	case err != nil:
		return nil, err
	default:
		cache := credentials.NewCache(src, credentials.WithTTL(cfg.CredentialsTTL), credentials.WithLogger(log))
		cache.Start(context.WithoutCancel(ctx))
		if _, err := cache.Get(ctx); err != nil {
			return nil, fmt.Errorf("credentials: %w", err)
		}
		creds = cache
		a.creds = "configured credentials"
		if cfg.SecretID != "" {
			a.creds = "Secrets Manager secret " + cfg.SecretID
		}
		a.gateway = cfg.GatewayURL
	}

	// Store: memory, or DynamoDB / dynalite.
	var store orders.Store
	if o.dynamoDBEndpoint != "" || o.dynamo {
		c, err := loadAWS()
		if err != nil {
			return nil, err
		}
		db := dynamodb.NewFromConfig(c, func(opt *dynamodb.Options) {
			if o.dynamoDBEndpoint != "" {
				opt.BaseEndpoint = aws.String(o.dynamoDBEndpoint)
			}
		})
		if o.dynamoDBEndpoint != "" {
			if err := orders.CreateTable(ctx, db, o.table); err != nil {
				return nil, fmt.Errorf("create table %s: %w", o.table, err)
			}
		}
		store = orders.NewDynamoStore(db, o.table)
		a.store = "DynamoDB table " + o.table
		if o.dynamoDBEndpoint != "" {
			a.store += " at " + o.dynamoDBEndpoint
		}
	} else {
		store = orders.NewMemoryStore()
		a.store = "in-memory (lost on exit)"
	}

	gw := alipay.NewClient(cfg.GatewayURL, alipay.WithTimeout(cfg.GatewayTimeout), alipay.WithCallHook(platform.GatewayMetrics))
	router := httpapi.NewRouter(httpapi.LocalCaller, log)
	clock := &localClock{}
	deps := wiring.Deps{Config: cfg, Log: log, Store: store, Credentials: creds, Gateway: gw, Now: clock.Now}
	if err := wiring.Mount(router, deps, wiring.All...); err != nil {
		return nil, err
	}
	rec, err := wiring.NewReconcile(deps)
	if err != nil {
		return nil, err
	}
	a.reconcile = "POST /local/reconcile"
	if o.reconcileInterval > 0 {
		stop, done := make(chan struct{}), make(chan struct{})
		go reconcileEvery(rec, clock, o.reconcileInterval, log, stop, done)
		a.closers = append(a.closers, func() { close(stop); <-done })
		a.reconcile = "every " + o.reconcileInterval.String() + ", and " + a.reconcile
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		httpapi.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("POST /local/reconcile", serveReconcile(rec, clock))
	if a.sim != nil {
		mux.Handle("/sandbox/", a.sim.Handler())
	}
	var api http.Handler = router
	if o.qr {
		api = showVoucherQR(api, out)
	}
	mux.Handle("/", api)
	a.handler = mux
	return a, nil
}

// newDevSandbox generates an app key pair and starts the simulator that knows it.
func newDevSandbox(log *slog.Logger) (*alipay.Credentials, *sandbox.Simulator, error) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, nil, err
	}
	appKey, err := alipay.NewPrivateKey(k)
	if err != nil {
		return nil, nil, err
	}
	sim, err := sandbox.New(sandbox.Options{AppID: devAppID, AppPublicKey: appKey.Public(), Logger: log})
	if err != nil {
		return nil, nil, err
	}
	return &alipay.Credentials{AppID: devAppID, PrivateKey: appKey, AlipayPublicKey: sim.AlipayPublicKey(), Version: "dev"}, sim, nil
}

func (a *app) close() {
	for _, c := range a.closers {
		c()
	}
}

// showVoucherQR prints the QR code of every voucher issued, as a cashier would show it.
func showVoucherQR(next http.Handler, out io.Writer) http.Handler {
	var mu sync.Mutex
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/preauth/vouchers" {
			next.ServeHTTP(w, r)
			return
		}
		rec := &teeWriter{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		var v struct{ OutOrderNo, CodeValue string }
		var raw map[string]string
		if rec.status == http.StatusOK && json.Unmarshal(rec.buf.Bytes(), &raw) == nil && raw["code_value"] != "" {
			v.OutOrderNo, v.CodeValue = raw["out_order_no"], raw["code_value"]
			mu.Lock()
			defer mu.Unlock()
			fmt.Fprintf(out, "\nvoucher for %s: %s\n", v.OutOrderNo, v.CodeValue)
			qrterminal.GenerateHalfBlock(v.CodeValue, qrterminal.L, out)
		}
	})
}

type teeWriter struct {
	http.ResponseWriter
	status int
	buf    bytes.Buffer
}

func (t *teeWriter) WriteHeader(code int) {
	if t.status == 0 {
		t.status = code
	}
	t.ResponseWriter.WriteHeader(code)
}

func (t *teeWriter) Write(b []byte) (int, error) {
	if t.status == 0 {
		t.status = http.StatusOK
	}
	if t.buf.Len() < 64<<10 {
		t.buf.Write(b)
	}
	return t.ResponseWriter.Write(b)
}

// banner says what the server uses and how to try it.
func (a *app) banner(out io.Writer) {
	var b strings.Builder
	fmt.Fprintf(&b, "alipay-serverless local server on %s\n", a.base)
	fmt.Fprintf(&b, "  store:       %s\n", a.store)
	fmt.Fprintf(&b, "  credentials: %s\n", a.creds)
	fmt.Fprintf(&b, "  gateway:     %s\n", a.gateway)
	fmt.Fprintf(&b, "  reconciler:  %s\n", a.reconcile)
	fmt.Fprintf(&b, "  caller:      header X-Caller (default local-dev), scopes X-Caller-Scopes (default all); no JWT locally\n\n")
	fmt.Fprintf(&b, "Try it:\n")
	fmt.Fprintf(&b, "  curl -s %s/healthz\n", a.base)
	fmt.Fprintf(&b, "  curl -s -X POST %s/v1/app-pay/orders -H 'Content-Type: application/json' \\\n", a.base)
	fmt.Fprintf(&b, "    -d '{\"out_trade_no\":\"DEMO001\",\"total_amount\":\"9.90\",\"subject\":\"Demo\",\"product_code\":\"QUICK_MSECURITY_PAY\"}'\n")
	fmt.Fprintf(&b, "  curl -s %s/v1/app-pay/orders/DEMO001\n", a.base)
	fmt.Fprintf(&b, "  curl -s -X POST %s/v1/preauth/vouchers -H 'Content-Type: application/json' \\\n", a.base)
	fmt.Fprintf(&b, "    -d '{\"out_order_no\":\"PA001\",\"out_request_no\":\"PA001R1\",\"order_title\":\"Deposit\",\"amount\":\"100.00\",\"product_code\":\"PRE_AUTH\"}'\n")
	fmt.Fprintf(&b, "  curl -s %s/v1/preauth/orders/PA001\n", a.base)
	fmt.Fprintf(&b, "  curl -s -X POST %s/local/reconcile -d '{\"as_of\":\"2030-01-01T00:00:00Z\"}'   # one reconciler pass, the local clock moved to that time\n", a.base)
	if a.sim != nil {
		fmt.Fprintf(&b, "Simulate the buyer:\n")
		fmt.Fprintf(&b, "  curl -s -X POST %s/sandbox/vouchers/scan -H 'Content-Type: application/json' -d '{\"out_order_no\":\"PA001\"}'\n", a.base)
		fmt.Fprintf(&b, "  curl -s -X POST %s/sandbox/orders/pay -H 'Content-Type: application/json' -d \"{\\\"order_str\\\":\\\"$ORDER_STR\\\"}\"\n", a.base)
	}
	fmt.Fprintf(&b, "Settle the deposit (scope settle, which the local caller holds): capture 30.00, then unfreeze the rest:\n")
	fmt.Fprintf(&b, "  curl -s -X POST %s/v1/preauth/orders/PA001/captures -H 'Content-Type: application/json' \\\n", a.base)
	fmt.Fprintf(&b, "    -d '{\"out_trade_no\":\"PA001C1\",\"amount\":\"30.00\",\"subject\":\"Rental\"}'\n")
	fmt.Fprintf(&b, "  curl -s -X POST %s/v1/preauth/orders/PA001/unfreezes -H 'Content-Type: application/json' \\\n", a.base)
	fmt.Fprintf(&b, "    -d '{\"out_request_no\":\"PA001U1\",\"amount\":\"70.00\",\"remark\":\"return the rest\"}'\n")
	fmt.Fprintf(&b, "  curl -s %s/v1/preauth/orders/PA001\n", a.base)
	fmt.Fprintf(&b, "After the payment (refunds need scope settle too):\n")
	fmt.Fprintf(&b, "  curl -s -X POST %s/v1/app-pay/orders/DEMO001/refunds -H 'Content-Type: application/json' \\\n", a.base)
	fmt.Fprintf(&b, "    -d '{\"out_request_no\":\"DEMO001R1\",\"refund_amount\":\"2.00\"}'\n")
	fmt.Fprintf(&b, "  curl -s -X POST %s/v1/app-pay/orders/DEMO001/refunds -H 'Content-Type: application/json' \\\n", a.base)
	fmt.Fprintf(&b, "    -d '{\"out_request_no\":\"DEMO001R2\",\"refund_amount\":\"7.90\"}'\n")
	fmt.Fprintf(&b, "  curl -s -X POST %s/v1/app-pay/orders/DEMO001/sync     # ask Alipay now (alipay.trade.query)\n", a.base)
	fmt.Fprintf(&b, "  curl -s -X POST %s/v1/app-pay/orders/DEMO002/close    # close an unpaid order\n", a.base)
	fmt.Fprint(out, b.String())
}
