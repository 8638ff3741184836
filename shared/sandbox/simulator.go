package sandbox

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
)

// Paths: mount Handler at Prefix; point the gateway client at <base URL> + GatewayPath.
const (
	Prefix      = "/sandbox/"
	GatewayPath = "/sandbox/gateway.do"
)

// Defaults of Options.
const (
	DefaultSellerID  = "2088000000000001"
	DefaultMaxOrders = 10000
	DefaultMaxHold   = 30 * time.Second

	// defaultDeliveryTimeout bounds one notification POST when Options.HTTPClient is nil.
	defaultDeliveryTimeout = 10 * time.Second
	// maxPendingNotifications bounds notifications still being delivered or retried.
	maxPendingNotifications = 1000
	// maxDeliveryLog bounds the delivery log; the oldest entries are dropped first.
	maxDeliveryLog = 10000
	// maxOpsPerOrder bounds voucher requests (out_request_no) on one out_order_no.
	maxOpsPerOrder = 32
)

// DefaultRetrySchedule is Alipay's resend schedule (4m, 10m, 10m, 1h, 2h, 6h, 15h, §8.4)
// compressed by 1/1000: the waits between the 8 deliveries of one notification.
var DefaultRetrySchedule = []time.Duration{
	240 * time.Millisecond,
	600 * time.Millisecond,
	600 * time.Millisecond,
	3600 * time.Millisecond,
	7200 * time.Millisecond,
	21600 * time.Millisecond,
	54000 * time.Millisecond,
}

// Options configure a Simulator. AppID and AppPublicKey are required.
type Options struct {
	// AppID is the only app the simulated gateway knows.
	AppID string
	// AppPublicKey verifies request signatures and order strings.
	AppPublicKey *alipay.PublicKey
	// AlipayKey signs replies and notifications; nil generates an RSA-2048 key (see
	// AlipayPublicKey).
	AlipayKey *alipay.PrivateKey
	// SellerID is the merchant PID (2088 + 12 digits) put in notifications;
	// DefaultSellerID when empty.
	SellerID string
	// HTTPClient delivers notifications; nil means a client with a 10s timeout.
	HTTPClient *http.Client
	// Clock is the simulated current time; nil means time.Now. It drives timestamps
	// and checks, not the retry timers.
	Clock func() time.Time
	// RetrySchedule is the wait before each resend of a notification not acknowledged
	// with "success"; len+1 deliveries at most. nil means DefaultRetrySchedule.
	RetrySchedule []time.Duration
	// Logger receives one line per delivery attempt and refused call; nil discards.
	Logger *slog.Logger
	// MaxOrders bounds each kind of record (auth orders, trades, agreements); beyond it
	// new ones are refused. Zero means DefaultMaxOrders.
	MaxOrders int
	// MaxHold bounds how long a SIM_TIMEOUT request is held when the client does not
	// give up first. Zero means DefaultMaxHold.
	MaxHold time.Duration
}

// Simulator is an in-memory Alipay gateway plus notification sender. It is safe for
// concurrent use; Close stops its deliveries.
type Simulator struct {
	appID      string
	appKey     *alipay.PublicKey
	alipayKey  *alipay.PrivateKey
	sellerID   string
	httpClient *http.Client
	clock      func() time.Time
	schedule   []time.Duration
	log        *slog.Logger
	maxOrders  int
	maxHold    time.Duration

	ctx    context.Context // canceled by Close: stops deliveries and held requests
	cancel context.CancelFunc

	mu         sync.Mutex // guards the records below
	seq        int64      // source of Alipay-side numbers
	authOrders map[string]*authOrder
	authByNo   map[string]*authOrder
	trades     map[string]*trade // by out_trade_no
	tradesByNo map[string]*trade // by trade_no
	agreements map[string]*agreement
	agreeByExt map[string]*agreement
	ledger     []Movement // money moved, oldest first (Ledger)

	dmu       sync.Mutex // guards the delivery bookkeeping below
	closed    bool
	pending   int
	idle      chan struct{} // closed when pending drops to zero
	deliveryQ []Delivery
	wg        sync.WaitGroup
}

var reUserID = regexp.MustCompile(`^2088[0-9]{12}$`)

// New checks opts and returns a ready simulator.
func New(opts Options) (*Simulator, error) {
	if opts.AppID == "" {
		return nil, errors.New("sandbox: app_id is required")
	}
	if opts.AppPublicKey == nil {
		return nil, errors.New("sandbox: the app public key is required (it verifies requests)")
	}
	s := &Simulator{
		appID:      opts.AppID,
		appKey:     opts.AppPublicKey,
		alipayKey:  opts.AlipayKey,
		sellerID:   opts.SellerID,
		httpClient: opts.HTTPClient,
		clock:      opts.Clock,
		schedule:   opts.RetrySchedule,
		log:        opts.Logger,
		maxOrders:  opts.MaxOrders,
		maxHold:    opts.MaxHold,
		authOrders: map[string]*authOrder{},
		authByNo:   map[string]*authOrder{},
		trades:     map[string]*trade{},
		tradesByNo: map[string]*trade{},
		agreements: map[string]*agreement{},
		agreeByExt: map[string]*agreement{},
	}
	if s.sellerID == "" {
		s.sellerID = DefaultSellerID
	}
	if !reUserID.MatchString(s.sellerID) {
		return nil, errors.New("sandbox: seller_id must be 2088 followed by 12 digits")
	}
	if s.alipayKey == nil {
		rk, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, fmt.Errorf("sandbox: generate alipay key: %w", err)
		}
		if s.alipayKey, err = alipay.NewPrivateKey(rk); err != nil {
			return nil, fmt.Errorf("sandbox: alipay key: %w", err)
		}
	}
	if s.httpClient == nil {
		s.httpClient = &http.Client{Timeout: defaultDeliveryTimeout}
	}
	if s.clock == nil {
		s.clock = time.Now
	}
	if s.schedule == nil {
		s.schedule = DefaultRetrySchedule
	}
	for i, d := range s.schedule {
		if d < 0 {
			return nil, fmt.Errorf("sandbox: retry schedule entry %d is negative", i)
		}
	}
	s.schedule = append([]time.Duration(nil), s.schedule...)
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.maxOrders <= 0 {
		s.maxOrders = DefaultMaxOrders
	}
	if s.maxHold <= 0 {
		s.maxHold = DefaultMaxHold
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// AlipayPublicKey is the key that verifies the simulator's replies and notifications:
// configure it as the Alipay public key of the app under test.
func (s *Simulator) AlipayPublicKey() *alipay.PublicKey { return s.alipayKey.Public() }

// Handler serves the gateway and the control endpoints under /sandbox/.
func (s *Simulator) Handler() http.Handler {
	routes := []struct {
		method, path string
		h            http.HandlerFunc
	}{
		{http.MethodPost, GatewayPath, s.serveGateway},
		{http.MethodPost, "/sandbox/vouchers/scan", s.control(s.scanVoucher)},
		{http.MethodPost, "/sandbox/vouchers/close", s.control(s.closeVoucher)},
		{http.MethodPost, "/sandbox/orders/pay", s.control(s.payOrder)},
		{http.MethodPost, "/sandbox/orders/finish", s.control(s.finishOrder)},
		{http.MethodPost, "/sandbox/orders/refund", s.control(s.refundOrder)},
		{http.MethodPost, "/sandbox/agreements/unsign", s.control(s.unsignAgreement)},
		{http.MethodGet, "/sandbox/deliveries", s.serveDeliveries},
		{http.MethodGet, "/sandbox/ledger", s.serveLedger},
		{http.MethodGet, "/sandbox/{$}", s.serveIndex},
	}
	mux := http.NewServeMux()
	allowed := map[string]string{}
	for _, rt := range routes {
		mux.HandleFunc(rt.method+" "+rt.path, rt.h)
		allowed[strings.TrimSuffix(rt.path, "{$}")] = rt.method
	}
	// The catch-all would otherwise shadow the mux's own 405 for a known path.
	mux.HandleFunc(Prefix, func(w http.ResponseWriter, r *http.Request) {
		if m, ok := allowed[r.URL.Path]; ok {
			w.Header().Set("Allow", m)
			writeJSONError(w, &controlError{Status: http.StatusMethodNotAllowed, Code: "METHOD_NOT_ALLOWED", Message: "use " + m})
			return
		}
		writeJSONError(w, &controlError{Status: http.StatusNotFound, Code: "NOT_FOUND", Message: "no such sandbox endpoint; GET /sandbox/ lists them"})
	})
	return mux
}

// Close stops all deliveries (pending retries are dropped), releases held requests and
// waits for the delivery goroutines to end. Control calls fail afterwards; the gateway
// keeps answering. Close is idempotent.
func (s *Simulator) Close() error {
	s.dmu.Lock()
	s.closed = true
	s.dmu.Unlock()
	s.cancel()
	s.wg.Wait()
	return nil
}

// WaitIdle waits until no notification is being delivered or waiting for a resend, or
// until ctx is done.
func (s *Simulator) WaitIdle(ctx context.Context) error {
	for {
		s.dmu.Lock()
		if s.pending == 0 {
			s.dmu.Unlock()
			return nil
		}
		ch := s.idle
		s.dmu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("sandbox: deliveries still pending: %w", ctx.Err())
		}
	}
}

func (s *Simulator) now() time.Time { return s.clock().In(alipay.ChinaTime) }

// nextSeq returns the next Alipay-side sequence number; s.mu must be held.
func (s *Simulator) nextSeq() int64 {
	s.seq++
	return s.seq
}

// alipayNo formats an Alipay-style numeric id: the China date, a fixed infix naming
// the kind of record, then the sequence zero-padded to width.
func alipayNo(now time.Time, infix string, seq int64, width int) string {
	return now.In(alipay.ChinaTime).Format("20060102") + infix + fmt.Sprintf("%0*d", width, seq)
}

// randomToken returns n random characters from [a-z0-9] (QR tokens, notify ids).
func randomToken(n int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// Holdings is what the simulated Alipay holds for one merchant number: voucher requests
// created and frozen for an out_order_no, payments for an out_trade_no. Tests count
// with it (and with Ledger, every movement) that money moved exactly once.
type Holdings struct {
	VoucherRequests int           // voucher.create requests recorded (out_request_no)
	Freezes         int           // of those, frozen (SUCCESS)
	Frozen          alipay.Amount // total frozen on the order
	Payments        int           // trades paid for the out_trade_no (0 or 1)
}

// Holdings returns the simulator's records for outNo (an out_order_no or out_trade_no).
func (s *Simulator) Holdings(outNo string) Holdings {
	s.mu.Lock()
	defer s.mu.Unlock()
	var l Holdings
	if o := s.authOrders[outNo]; o != nil {
		l.VoucherRequests = len(o.ops)
		for _, op := range o.ops {
			if op.status == alipay.FundAuthStatusSuccess {
				l.Freezes++
			}
		}
		l.Frozen = o.totalFreeze
	}
	if t := s.trades[outNo]; t != nil && (t.status == alipay.TradeStatusSuccess || t.status == alipay.TradeStatusFinished) {
		l.Payments = 1
	}
	return l
}
