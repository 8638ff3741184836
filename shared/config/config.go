// Package config reads the functions' configuration from the environment
// (docs/design.md#configuration-today). Errors name the variable, never echo secret values.
package config

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Environment variable names.
const (
	EnvSecretID         = "ALIPAY_SECRET_ID"
	EnvGatewayURL       = "ALIPAY_GATEWAY_URL"
	EnvGatewayTimeout   = "ALIPAY_GATEWAY_TIMEOUT"
	EnvSellerID         = "ALIPAY_SELLER_ID"
	EnvNotifyURL        = "ALIPAY_NOTIFY_URL"
	EnvSignNotifyURL    = "ALIPAY_SIGN_NOTIFY_URL"
	EnvOrdersTable      = "ORDERS_TABLE"
	EnvDynamoDBEndpoint = "DYNAMODB_ENDPOINT"
	EnvCredentialsTTL   = "CREDENTIALS_TTL"
	EnvAppPayPricing    = "APP_PAY_PRICING"
	EnvAppPayTimeout    = "APP_PAY_TIMEOUT_EXPRESS"
	// Agreement charges (functions settle and apppaysign).
	EnvChargeWindowDays  = "CHARGE_WINDOW_DAYS"
	EnvChargeProductCode = "CHARGE_PRODUCT_CODE"
	// The reconciler's bounds (functions/reconcile, cmd/local).
	EnvReconcileBatch       = "RECONCILE_BATCH"
	EnvReconcileConcurrency = "RECONCILE_CONCURRENCY"
	EnvReconcileMaxAttempts = "RECONCILE_MAX_ATTEMPTS"
)

// App-pay pricing modes (APP_PAY_PRICING): who sets an order's total_amount.
const (
	// PricingClient: the mobile app creates its orders and names the amount. A modified
	// app can pay 0.01 for anything; the order view shows what was actually paid.
	PricingClient = "client"
	// PricingServer: only the merchant's backend (scope orders) creates orders, for an
	// owner (the app user's sub), who reads them, order_str included.
	PricingServer = "server"
)

// Defaults.
const (
	DefaultGatewayURL     = "https://openapi.alipay.com/gateway.do"
	DefaultGatewayTimeout = 10 * time.Second
	DefaultCredentialsTTL = 5 * time.Minute
	// DefaultAppPayTimeoutExpress is the timeout_express of an app-pay order that sets
	// no expiry (docs/design.md, configuration added).
	DefaultAppPayTimeoutExpress = "30m"

	// DefaultChargeWindowDays: a charge may be made from this many days before its
	// period's plan date (Alipay's own window is 3 or 5 days; the sources disagree, L9.1).
	DefaultChargeWindowDays = 3
	// MaxChargeWindowDays is the wider of the windows Alipay's pages give (L9.1, L13):
	// beyond it Alipay itself refuses (ACQ.CYCLE_PAY_DATE_NOT_MATCH), and windows of a
	// 7-day DAY period would overlap.
	MaxChargeWindowDays = 5
	// DefaultChargeProductCode is the deduction's product_code (L9.1).
	DefaultChargeProductCode = "GENERAL_WITHHOLDING"

	DefaultReconcileBatch       = 200
	DefaultReconcileConcurrency = 8
	DefaultReconcileMaxAttempts = 12
)

// Config is everything a function reads from its environment.
type Config struct {
	SecretID         string
	GatewayURL       string
	GatewayTimeout   time.Duration
	SellerID         string
	NotifyURL        string
	SignNotifyURL    string // agreement (dut_user_*) notices; empty = NotifyURL or our route
	OrdersTable      string
	DynamoDBEndpoint string
	CredentialsTTL   time.Duration
	AppPayPricing    string // PricingClient or PricingServer
	// AppPayTimeoutExpress is added to app-pay orders that set neither time_expire nor
	// timeout_express (Alipay's format, 1m-15d).
	AppPayTimeoutExpress string

	// ChargeWindowDays: an agreement charge may be made from this many days before its
	// plan date up to the plan date (China dates); ChargeProductCode is its product_code.
	ChargeWindowDays  int
	ChargeProductCode string

	ReconcileBatch       int // most items one pass examines
	ReconcileConcurrency int // gateway calls in flight in one pass
	ReconcileMaxAttempts int // failed attempts before an item is STUCK
}

var timeoutExpressPattern = regexp.MustCompile(`^[1-9][0-9]{0,4}[mhd]$`)

// checkTimeoutExpress accepts Alipay's relative expiry from 1m to 15d (no "1c": an
// order created late in the day would expire at once).
func checkTimeoutExpress(v string) error {
	bad := fmt.Errorf("config: %s must be a whole number of minutes, hours or days from 1m to 15d, like 30m", EnvAppPayTimeout)
	if !timeoutExpressPattern.MatchString(v) {
		return bad
	}
	unit := map[byte]time.Duration{'m': time.Minute, 'h': time.Hour, 'd': 24 * time.Hour}[v[len(v)-1]]
	var n time.Duration
	for _, c := range v[:len(v)-1] {
		n = n*10 + time.Duration(c-'0')
	}
	if n*unit > 15*24*time.Hour {
		return bad
	}
	return nil
}

var sellerIDPattern = regexp.MustCompile(`^2088[0-9]{12}$`)

var productCodePattern = regexp.MustCompile(`^[A-Z][A-Z0-9_]{0,63}$`)

// Load reads the configuration through getenv (os.Getenv in production).
func Load(getenv func(string) string) (Config, error) {
	c := Config{
		SecretID:             strings.TrimSpace(getenv(EnvSecretID)),
		GatewayURL:           strings.TrimSpace(getenv(EnvGatewayURL)),
		SellerID:             strings.TrimSpace(getenv(EnvSellerID)),
		NotifyURL:            strings.TrimSpace(getenv(EnvNotifyURL)),
		SignNotifyURL:        strings.TrimSpace(getenv(EnvSignNotifyURL)),
		OrdersTable:          strings.TrimSpace(getenv(EnvOrdersTable)),
		DynamoDBEndpoint:     strings.TrimSpace(getenv(EnvDynamoDBEndpoint)),
		GatewayTimeout:       DefaultGatewayTimeout,
		CredentialsTTL:       DefaultCredentialsTTL,
		AppPayPricing:        strings.TrimSpace(getenv(EnvAppPayPricing)),
		AppPayTimeoutExpress: strings.TrimSpace(getenv(EnvAppPayTimeout)),
		ChargeProductCode:    strings.TrimSpace(getenv(EnvChargeProductCode)),
	}
	if c.ChargeProductCode == "" {
		c.ChargeProductCode = DefaultChargeProductCode
	}
	if !productCodePattern.MatchString(c.ChargeProductCode) {
		return c, fmt.Errorf("config: %s must be an upper-case product code such as %s or CYCLE_PAY_AUTH", EnvChargeProductCode, DefaultChargeProductCode)
	}
	c.ChargeWindowDays = DefaultChargeWindowDays
	if v := strings.TrimSpace(getenv(EnvChargeWindowDays)); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > MaxChargeWindowDays {
			return c, fmt.Errorf("config: %s must be a whole number of days from 0 to %d", EnvChargeWindowDays, MaxChargeWindowDays)
		}
		c.ChargeWindowDays = n
	}
	if c.AppPayTimeoutExpress == "" {
		c.AppPayTimeoutExpress = DefaultAppPayTimeoutExpress
	}
	if err := checkTimeoutExpress(c.AppPayTimeoutExpress); err != nil {
		return c, err
	}
	switch c.AppPayPricing {
	case "":
		c.AppPayPricing = PricingClient
	case PricingClient, PricingServer:
	default:
		return c, fmt.Errorf("config: %s must be %s or %s", EnvAppPayPricing, PricingClient, PricingServer)
	}
	if c.GatewayURL == "" {
		c.GatewayURL = DefaultGatewayURL
	}
	if err := checkURL(EnvGatewayURL, c.GatewayURL); err != nil {
		return c, err
	}
	if err := checkGatewayScheme(c.GatewayURL); err != nil {
		return c, err
	}
	for _, u := range []struct{ name, v string }{{EnvNotifyURL, c.NotifyURL}, {EnvSignNotifyURL, c.SignNotifyURL}} {
		if u.v == "" {
			continue
		}
		if err := checkURL(u.name, u.v); err != nil {
			return c, err
		}
		if len(u.v) > 256 {
			return c, fmt.Errorf("config: %s is longer than 256 characters", u.name)
		}
	}
	if c.DynamoDBEndpoint != "" {
		if err := checkURL(EnvDynamoDBEndpoint, c.DynamoDBEndpoint); err != nil {
			return c, err
		}
	}
	if c.SellerID != "" && !sellerIDPattern.MatchString(c.SellerID) {
		return c, fmt.Errorf("config: %s must be a merchant PID (2088 followed by 12 digits)", EnvSellerID)
	}
	var err error
	if c.GatewayTimeout, err = duration(getenv, EnvGatewayTimeout, DefaultGatewayTimeout); err != nil {
		return c, err
	}
	if c.CredentialsTTL, err = duration(getenv, EnvCredentialsTTL, DefaultCredentialsTTL); err != nil {
		return c, err
	}
	bounds := []struct {
		name     string
		dst      *int
		def, max int
	}{
		{EnvReconcileBatch, &c.ReconcileBatch, DefaultReconcileBatch, 10000},
		{EnvReconcileConcurrency, &c.ReconcileConcurrency, DefaultReconcileConcurrency, 64},
		{EnvReconcileMaxAttempts, &c.ReconcileMaxAttempts, DefaultReconcileMaxAttempts, 100},
	}
	for _, b := range bounds {
		if *b.dst, err = positiveInt(getenv, b.name, b.def, b.max); err != nil {
			return c, err
		}
	}
	return c, nil
}

func positiveInt(getenv func(string) string, name string, def, limit int) (int, error) {
	v := strings.TrimSpace(getenv(name))
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 || n > limit {
		return 0, fmt.Errorf("config: %s must be a whole number from 1 to %d", name, limit)
	}
	return n, nil
}

func duration(getenv func(string) string, name string, def time.Duration) (time.Duration, error) {
	v := strings.TrimSpace(getenv(name))
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("config: %s must be a positive duration such as 10s", name)
	}
	return d, nil
}

func checkURL(name, v string) error {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("config: %s must be an absolute http(s) URL", name)
	}
	return nil
}

// checkGatewayScheme requires https for the gateway unless it is on this machine: the
// unsigned alipay_cert_sn of a reply and downloaded certificates' bytes are only as
// trustworthy as the connection (§7.4). Local mode (cmd/local's simulator, tests' fake
// gateways) is exactly a loopback host over http.
func checkGatewayScheme(v string) error {
	u, err := url.Parse(v)
	if err != nil {
		return fmt.Errorf("config: %s must be an absolute http(s) URL", EnvGatewayURL)
	}
	if u.Scheme == "https" || isLoopback(u.Hostname()) {
		return nil
	}
	return fmt.Errorf("config: %s must use https (plain http only for a gateway on localhost / 127.0.0.1 / ::1)", EnvGatewayURL)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
