package config

import (
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLoad(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string
		check   func(t *testing.T, c Config)
	}{
		{name: "defaults_when_unset", env: map[string]string{}, check: func(t *testing.T, c Config) {
			if c.GatewayURL != DefaultGatewayURL || c.GatewayTimeout != 10*time.Second || c.CredentialsTTL != 5*time.Minute ||
				c.AppPayPricing != PricingClient || c.SignNotifyURL != "" || c.AppPayTimeoutExpress != "30m" ||
				c.ReconcileBatch != 200 || c.ReconcileConcurrency != 8 || c.ReconcileMaxAttempts != 12 ||
				c.ChargeWindowDays != 3 || c.ChargeProductCode != "GENERAL_WITHHOLDING" {
				t.Errorf("defaults not applied: %+v", c)
			}
		}},
		{name: "reads_every_variable", env: map[string]string{
			EnvSecretID: "alipay/prod", EnvGatewayURL: "http://127.0.0.1:9/gateway.do", EnvGatewayTimeout: "3s",
			EnvSellerID: "2088102000275795", EnvNotifyURL: "https://m.example.com/v1/notify/alipay",
			EnvOrdersTable: "orders", EnvDynamoDBEndpoint: "http://127.0.0.1:8000", EnvCredentialsTTL: "1m",
			EnvSignNotifyURL: "https://m.example.com/v1/notify/agreements", EnvAppPayPricing: "server",
			EnvAppPayTimeout:  "15d",
			EnvReconcileBatch: "50", EnvReconcileConcurrency: "4", EnvReconcileMaxAttempts: "6",
			EnvChargeWindowDays: "0", EnvChargeProductCode: "CYCLE_PAY_AUTH",
		}, check: func(t *testing.T, c Config) {
			want := Config{SecretID: "alipay/prod", GatewayURL: "http://127.0.0.1:9/gateway.do", GatewayTimeout: 3 * time.Second,
				SellerID: "2088102000275795", NotifyURL: "https://m.example.com/v1/notify/alipay", OrdersTable: "orders",
				DynamoDBEndpoint: "http://127.0.0.1:8000", CredentialsTTL: time.Minute,
				SignNotifyURL: "https://m.example.com/v1/notify/agreements", AppPayPricing: PricingServer,
				AppPayTimeoutExpress: "15d", ReconcileBatch: 50, ReconcileConcurrency: 4, ReconcileMaxAttempts: 6,
				ChargeWindowDays: 0, ChargeProductCode: "CYCLE_PAY_AUTH"}
			if c != want {
				t.Errorf("got %+v want %+v", c, want)
			}
		}},
		{name: "rejects_relative_gateway_url", env: map[string]string{EnvGatewayURL: "/gateway.do"}, wantErr: EnvGatewayURL},
		// Replies and downloaded certificates are trusted partly because they come over
		// TLS from Alipay; plain http is for the simulator on this machine only.
		{name: "rejects_http_gateway_url_outside_loopback", env: map[string]string{EnvGatewayURL: "http://openapi.alipay.com/gateway.do"}, wantErr: EnvGatewayURL},
		{name: "rejects_http_gateway_url_on_a_private_address", env: map[string]string{EnvGatewayURL: "http://10.0.0.5:8080/gateway.do"}, wantErr: EnvGatewayURL},
		{name: "rejects_http_gateway_url_on_a_loopback_lookalike", env: map[string]string{EnvGatewayURL: "http://127.0.0.1.example.com/gateway.do"}, wantErr: EnvGatewayURL},
		{name: "accepts_http_gateway_url_on_loopback", env: map[string]string{EnvGatewayURL: "http://localhost:3000/sandbox/gateway.do"}, check: func(t *testing.T, c Config) {
			if c.GatewayURL != "http://localhost:3000/sandbox/gateway.do" {
				t.Errorf("GatewayURL %q", c.GatewayURL)
			}
		}},
		{name: "accepts_http_gateway_url_on_ipv6_loopback", env: map[string]string{EnvGatewayURL: "http://[::1]:3000/gateway.do"}, check: func(t *testing.T, c Config) {
			if c.GatewayURL != "http://[::1]:3000/gateway.do" {
				t.Errorf("GatewayURL %q", c.GatewayURL)
			}
		}},
		{name: "rejects_bad_timeout", env: map[string]string{EnvGatewayTimeout: "ten"}, wantErr: EnvGatewayTimeout},
		{name: "rejects_negative_ttl", env: map[string]string{EnvCredentialsTTL: "-1s"}, wantErr: EnvCredentialsTTL},
		{name: "rejects_bad_seller_id", env: map[string]string{EnvSellerID: "1234"}, wantErr: EnvSellerID},
		{name: "rejects_ftp_notify_url", env: map[string]string{EnvNotifyURL: "ftp://x/y"}, wantErr: EnvNotifyURL},
		{name: "rejects_relative_sign_notify_url", env: map[string]string{EnvSignNotifyURL: "/v1/notify/alipay"}, wantErr: EnvSignNotifyURL},
		{name: "rejects_unknown_pricing_mode", env: map[string]string{EnvAppPayPricing: "app"}, wantErr: EnvAppPayPricing},
		{name: "rejects_timeout_express_over_15d", env: map[string]string{EnvAppPayTimeout: "16d"}, wantErr: EnvAppPayTimeout},
		{name: "rejects_timeout_express_in_seconds", env: map[string]string{EnvAppPayTimeout: "90s"}, wantErr: EnvAppPayTimeout},
		{name: "rejects_timeout_express_1c", env: map[string]string{EnvAppPayTimeout: "1c"}, wantErr: EnvAppPayTimeout},
		{name: "rejects_timeout_express_zero", env: map[string]string{EnvAppPayTimeout: "0m"}, wantErr: EnvAppPayTimeout},
		{name: "accepts_timeout_express_in_hours", env: map[string]string{EnvAppPayTimeout: "2h"}, check: func(t *testing.T, c Config) {
			if c.AppPayTimeoutExpress != "2h" {
				t.Errorf("AppPayTimeoutExpress %q", c.AppPayTimeoutExpress)
			}
		}},
		{name: "rejects_zero_reconcile_batch", env: map[string]string{EnvReconcileBatch: "0"}, wantErr: EnvReconcileBatch},
		{name: "rejects_huge_reconcile_concurrency", env: map[string]string{EnvReconcileConcurrency: "1000"}, wantErr: EnvReconcileConcurrency},
		{name: "rejects_non_numeric_max_attempts", env: map[string]string{EnvReconcileMaxAttempts: "many"}, wantErr: EnvReconcileMaxAttempts},
		{name: "rejects_charge_window_over_alipays_widest", env: map[string]string{EnvChargeWindowDays: "6"}, wantErr: EnvChargeWindowDays},
		{name: "rejects_negative_charge_window", env: map[string]string{EnvChargeWindowDays: "-1"}, wantErr: EnvChargeWindowDays},
		{name: "rejects_lower_case_charge_product_code", env: map[string]string{EnvChargeProductCode: "general_withholding"}, wantErr: EnvChargeProductCode},
		{name: "rejects_bad_dynamodb_endpoint", env: map[string]string{EnvDynamoDBEndpoint: "localhost"}, wantErr: EnvDynamoDBEndpoint},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(env(tt.env))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}
