// Command local serves every route of the HTTP contract on one local address, with the
// embedded defaults of docs/design.md#local-mode-today: an in-memory store and, when no credentials are
// configured, freshly generated dev keys and the Alipay gateway simulator under
// /sandbox/. Flags and the usual environment point it at DynamoDB (or dynalite) and at a
// real gateway with real credentials instead.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Getenv, nil); err != nil {
		fmt.Fprintln(os.Stderr, "local:", err)
		if errors.Is(err, errUsage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

var errUsage = errors.New("usage")

// options are the command line, with defaults from the environment.
type options struct {
	addr             string
	dynamoDBEndpoint string
	table            string
	dynamo           bool
	qr               bool
	logJSON          bool
	// reconcileInterval: a reconciler pass this often; 0 off.
	reconcileInterval time.Duration
}

func parseFlags(args []string, getenv func(string) string, out io.Writer) (options, error) {
	fs := flag.NewFlagSet("local", flag.ContinueOnError)
	fs.SetOutput(out)
	var o options
	fs.StringVar(&o.addr, "addr", "127.0.0.1:3000", "listen address")
	fs.StringVar(&o.dynamoDBEndpoint, "dynamodb-endpoint", getenv("DYNAMODB_ENDPOINT"), "DynamoDB endpoint (e.g. dynalite at http://127.0.0.1:4567); empty keeps orders in memory")
	table := getenv("ORDERS_TABLE")
	if table == "" {
		table = "alipay-orders-local"
	}
	fs.StringVar(&o.table, "table", table, "DynamoDB table (created if missing when -dynamodb-endpoint is set)")
	fs.BoolVar(&o.dynamo, "dynamodb", getenv("ORDERS_TABLE") != "", "keep orders in DynamoDB (AWS's endpoint unless -dynamodb-endpoint) instead of memory")
	fs.BoolVar(&o.qr, "qr", true, "print each issued voucher's QR code in the terminal")
	fs.BoolVar(&o.logJSON, "log-json", false, "JSON request logs on stderr (default: text)")
	interval := defaultReconcileInterval
	if v := getenv(EnvReconcileInterval); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return o, fmt.Errorf("%w: %s must be a duration such as 1m, or 0 for off", errUsage, EnvReconcileInterval)
		}
		interval = d
	}
	fs.DurationVar(&o.reconcileInterval, "reconcile-interval", interval, "run a reconciler pass this often (0: off; POST /local/reconcile runs one now)")
	if err := fs.Parse(args); err != nil {
		return o, fmt.Errorf("%w: %v", errUsage, err)
	}
	if o.reconcileInterval < 0 {
		return o, fmt.Errorf("%w: -reconcile-interval must not be negative", errUsage)
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	return o, nil
}

// run serves until ctx ends, then shuts down gracefully. ready, when set, receives the
// bound address once the server accepts connections (tests listen on port 0).
func run(ctx context.Context, args []string, out io.Writer, getenv func(string) string, ready chan<- string) error {
	o, err := parseFlags(args, getenv, out)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return err
	}
	base := "http://" + ln.Addr().String()
	a, err := newApp(ctx, o, base, getenv, out)
	if err != nil {
		ln.Close()
		return err
	}
	defer a.close()
	srv := &http.Server{Handler: a.handler, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	a.banner(out)
	if ready != nil {
		ready <- ln.Addr().String()
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	fmt.Fprintln(out, "shutting down...")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return err
	}
	fmt.Fprintln(out, "bye")
	return nil
}
