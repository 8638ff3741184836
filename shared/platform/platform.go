// Package platform wires what every function needs from its environment: configuration,
// JSON logging, AWS clients, the credentials cache and the order store, and adapts an
// http.Handler to the Lambda runtime. functions/*/main.go call it and nothing else.
package platform

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	awscreds "github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
	"github.com/alipay-serverless/alipay-serverless/shared/config"
	"github.com/alipay-serverless/alipay-serverless/shared/credentials"
	"github.com/alipay-serverless/alipay-serverless/shared/metrics"
	"github.com/alipay-serverless/alipay-serverless/shared/orders"
)

// Deps are the dependencies shared by the three functions.
type Deps struct {
	Config      config.Config
	Log         *slog.Logger
	Credentials *credentials.Cache
	Store       orders.Store
	Gateway     *alipay.Client
}

// NewLogger returns the JSON logger every function uses.
func NewLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// Load builds Deps from the environment. The credentials load starts in the background
// at once, so the secret fetch overlaps with the rest of init; a failing secret is not an
// init error (requests answer 503 until it loads), a missing or invalid setting is.
func Load(ctx context.Context, getenv func(string) string, log *slog.Logger) (*Deps, error) {
	cfg, err := config.Load(getenv)
	if err != nil {
		return nil, err
	}
	if cfg.OrdersTable == "" {
		return nil, fmt.Errorf("config: %s is required", config.EnvOrdersTable)
	}
	awsCfg, err := lambdaAWSConfig()
	if err != nil {
		return nil, err
	}
	var sm credentials.GetSecretValueAPI
	if cfg.SecretID != "" {
		sm = secretsmanager.NewFromConfig(awsCfg)
	}
	src, err := credentials.FromEnv(getenv, sm, nil)
	if err != nil {
		return nil, err
	}
	cache := credentials.NewCache(src, credentials.WithTTL(cfg.CredentialsTTL), credentials.WithLogger(log))
	cache.Start(context.WithoutCancel(ctx))

	db := dynamodb.NewFromConfig(awsCfg, func(o *dynamodb.Options) {
		if cfg.DynamoDBEndpoint != "" {
			o.BaseEndpoint = aws.String(cfg.DynamoDBEndpoint)
		}
	})
	return &Deps{
		Config:      cfg,
		Log:         log,
		Credentials: cache,
		Store:       orders.NewDynamoStore(db, cfg.OrdersTable),
		Gateway: alipay.NewClient(cfg.GatewayURL, alipay.WithTimeout(cfg.GatewayTimeout),
			alipay.WithCallHook(GatewayMetrics)),
	}, nil
}

// GatewayMetrics counts every gateway call by method and outcome class (metrics
// GatewayCalls); it is the gateway client's call hook in every function and locally.
func GatewayMetrics(method string, err error) {
	metrics.Count(metrics.GatewayCalls, 1, map[string]string{"Method": method, "Class": alipay.OutcomeClass(err)})
}

// lambdaAWSConfig is the AWS SDK configuration from the variables Lambda sets: the
// region, the execution role's keys and session token, and AWS_ENDPOINT_URL(_<SERVICE>)
// overrides. It reads only the environment: awsconfig.LoadDefaultConfig would also link
// the shared-config-file, SSO, assume-role and IMDS providers, which never apply in
// Lambda and were 1.4 MB of each bootstrap (see BENCHMARKS.md).
func lambdaAWSConfig() (aws.Config, error) {
	env, err := awsconfig.NewEnvConfig()
	if err != nil {
		return aws.Config{}, fmt.Errorf("aws config: %w", err)
	}
	cfg := aws.Config{
		Region:           env.Region,
		RetryMaxAttempts: env.RetryMaxAttempts,
		RetryMode:        env.RetryMode,
		// Services look up AWS_ENDPOINT_URL_<SERVICE> (and its opt-out) here.
		ConfigSources: []any{env},
	}
	if env.Credentials.HasKeys() {
		cfg.Credentials = aws.NewCredentialsCache(awscreds.StaticCredentialsProvider{Value: env.Credentials})
	}
	if env.BaseEndpoint != "" && (env.IgnoreConfiguredEndpoints == nil || !*env.IgnoreConfiguredEndpoints) {
		cfg.BaseEndpoint = aws.String(env.BaseEndpoint)
	}
	return cfg, nil
}

// LambdaHandler adapts h to API Gateway HTTP API (payload 2.0) events.
func LambdaHandler(h http.Handler) func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	return httpadapter.NewV2(h).ProxyWithContext
}

// Main runs a function: build deps, let build assemble the handler, start the Lambda
// runtime. An init failure is logged, posted to the Runtime API's /init/error (so Lambda
// reports Runtime.InitError with our message) and ends the process, as Lambda expects.
func Main(build func(*Deps) (http.Handler, error)) {
	h := initOrExit(build)
	lambda.Start(LambdaHandler(h))
}

// MainEvent runs a function that no route reaches (the scheduled reconciler): build
// returns the handler Lambda invokes with each event (any signature lambda.Start takes).
func MainEvent(build func(*Deps) (any, error)) {
	h := initOrExit(build)
	lambda.Start(h)
}

// initOrExit builds the deps and the handler; on failure it reports the init error and
// ends the process, as Lambda expects. Metrics go to standard output (EMF lines).
func initOrExit[H any](build func(*Deps) (H, error)) H {
	log := NewLogger(os.Stdout)
	slog.SetDefault(log)
	metrics.SetDefault(metrics.New(os.Stdout))
	deps, err := Load(context.Background(), os.Getenv, log)
	var h H
	if err == nil {
		h, err = build(deps)
	}
	if err != nil {
		log.Error("init failed", "error", err.Error())
		if rerr := ReportInitError(os.Getenv("AWS_LAMBDA_RUNTIME_API"), err); rerr != nil {
			log.Error("could not report the init error", "error", rerr.Error())
		}
		os.Exit(1)
	}
	return h
}

// ReportInitError posts err to the Runtime API's init error endpoint at addr (host:port).
// The message is the error text, which for configuration errors names the variable and
// never carries secret values.
func ReportInitError(addr string, cause error) error {
	if addr == "" {
		return errors.New("AWS_LAMBDA_RUNTIME_API is not set")
	}
	body, _ := json.Marshal(map[string]string{"errorMessage": cause.Error(), "errorType": "Runtime.InitError"})
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/2018-06-01/runtime/init/error", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Lambda-Runtime-Function-Error-Type", "Runtime.InitError")
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("runtime API answered %d", resp.StatusCode)
	}
	return nil
}
