package credentials

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
)

// Defaults of a Cache.
const (
	DefaultTTL              = 5 * time.Minute
	DefaultRotationInterval = 30 * time.Second
	DefaultLoadTimeout      = 10 * time.Second
	DefaultRetryMin         = time.Second
	DefaultRetryMax         = 30 * time.Second
)

// Cache keeps the parsed credentials of one Source. Once loaded, Get is one atomic load
// and a clock read; loads happen in the background (after the TTL) or at most once per
// rotation interval on demand (Refresh), never more than one at a time.
type Cache struct {
	src         Source
	ttl         time.Duration
	rotation    time.Duration
	loadTimeout time.Duration
	retryMin    time.Duration
	retryMax    time.Duration
	now         func() time.Time
	log         *slog.Logger

	cur        atomic.Pointer[entry]
	sf         singleflight.Group
	refreshing atomic.Bool // a background (after-TTL) refresh is running

	// fetchMu serialises source loads so results are published in the order fetched.
	fetchMu  sync.Mutex
	failures int // consecutive failed loads; under fetchMu

	mu             sync.Mutex // guards the forced-refresh bookkeeping below
	lastForced     time.Time
	forcedInFlight bool
}

// entry is one immutable published state. creds is nil until a load succeeded; after a
// failure err says why and retryAt when the next load may be attempted.
type entry struct {
	creds   *alipay.Credentials
	version string
	expires time.Time
	err     error
	retryAt time.Time
}

// Option configures a Cache.
type Option func(*Cache)

// WithTTL sets how long loaded credentials are used before a background refresh
// (CREDENTIALS_TTL; default 5m). Non-positive values keep the default.
func WithTTL(d time.Duration) Option {
	return func(c *Cache) {
		if d > 0 {
			c.ttl = d
		}
	}
}

// WithRotationInterval sets the minimum spacing of forced re-fetches by Refresh
// (default 30s). Non-positive values keep the default.
func WithRotationInterval(d time.Duration) Option {
	return func(c *Cache) {
		if d > 0 {
			c.rotation = d
		}
	}
}

// WithLoadTimeout bounds one load from the source (default 10s), so a hung endpoint
// cannot hold every waiting request.
func WithLoadTimeout(d time.Duration) Option {
	return func(c *Cache) {
		if d > 0 {
			c.loadTimeout = d
		}
	}
}

// WithRetryBackoff sets the spacing of loads after failures: min after the first,
// doubling per consecutive failure up to max (defaults 1s and 30s).
func WithRetryBackoff(minDelay, maxDelay time.Duration) Option {
	return func(c *Cache) {
		if minDelay > 0 {
			c.retryMin = minDelay
		}
		if maxDelay > 0 {
			c.retryMax = maxDelay
		}
		c.retryMax = max(c.retryMax, c.retryMin)
	}
}

// WithClock replaces time.Now (tests).
func WithClock(now func() time.Time) Option {
	return func(c *Cache) {
		if now != nil {
			c.now = now
		}
	}
}

// WithLogger sets where loads, rotations and failures are logged (default
// slog.Default()). Key material is never logged.
func WithLogger(l *slog.Logger) Option {
	return func(c *Cache) {
		if l != nil {
			c.log = l
		}
	}
}

// NewCache returns a cache over src. Nothing is loaded until Start or the first Get.
func NewCache(src Source, opts ...Option) *Cache {
	c := &Cache{
		src:         src,
		ttl:         DefaultTTL,
		rotation:    DefaultRotationInterval,
		loadTimeout: DefaultLoadTimeout,
		retryMin:    DefaultRetryMin,
		retryMax:    DefaultRetryMax,
		now:         time.Now,
		log:         slog.Default(),
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

const (
	sfLoad   = "load"
	sfForced = "forced"
)

// Start begins the first load in the background and returns at once (Lambda init runs
// it beside other setup; the first Get waits for it). The load keeps ctx's values but
// not its cancellation; it is bounded by the load timeout.
func (c *Cache) Start(ctx context.Context) {
	c.sf.DoChan(sfLoad, func() (any, error) { return c.fetch(ctx, false) })
}

// Get returns the current credentials. Warm, it neither locks nor allocates. After the
// TTL it returns the current value and refreshes in the background. With nothing loaded
// yet it waits for the load in flight (or starts one); if the last load failed it
// returns that *Error until the retry backoff has passed, then tries again.
func (c *Cache) Get(ctx context.Context) (*alipay.Credentials, error) {
	if e := c.cur.Load(); e != nil && c.now().Before(e.expires) {
		return e.creds, nil
	}
	return c.getSlow(ctx)
}

func (c *Cache) getSlow(ctx context.Context) (*alipay.Credentials, error) {
	e := c.cur.Load()
	now := c.now()
	if e != nil && e.creds != nil {
		if now.Before(e.expires) {
			return e.creds, nil
		}
		if !now.Before(e.retryAt) && c.refreshing.CompareAndSwap(false, true) {
			ch := c.sf.DoChan(sfLoad, func() (any, error) { return c.fetch(ctx, false) })
			go func() {
				<-ch
				c.refreshing.Store(false)
			}()
		}
		return e.creds, nil
	}
	if e != nil && e.err != nil && now.Before(e.retryAt) {
		return nil, e.err
	}
	return c.wait(ctx, c.sf.DoChan(sfLoad, func() (any, error) { return c.fetch(ctx, false) }))
}

// Refresh re-fetches the credentials because Alipay's signature did not verify with the
// cached key (a rotation). It fetches at most once per rotation interval; within the
// interval it returns the cached credentials without fetching, and concurrent callers
// share one fetch. It fits alipay's gateway refresh hook.
func (c *Cache) Refresh(ctx context.Context) (*alipay.Credentials, error) {
	if e := c.cur.Load(); e == nil || e.creds == nil {
		return c.Get(ctx)
	}
	c.mu.Lock()
	if !c.forcedInFlight {
		now := c.now()
		if !c.lastForced.IsZero() && now.Sub(c.lastForced) < c.rotation {
			c.mu.Unlock()
			return c.cur.Load().creds, nil
		}
		c.lastForced = now
		c.forcedInFlight = true
	}
	// While forcedInFlight is set the call below is still registered, so later callers join it.
	ch := c.sf.DoChan(sfForced, func() (any, error) {
		defer func() {
			c.mu.Lock()
			c.forcedInFlight = false
			c.mu.Unlock()
		}()
		return c.fetch(ctx, true)
	})
	c.mu.Unlock()
	return c.wait(ctx, ch)
}

func (c *Cache) wait(ctx context.Context, ch <-chan singleflight.Result) (*alipay.Credentials, error) {
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.(*alipay.Credentials), nil
	case <-ctx.Done():
		return nil, &Error{Kind: ErrUnreachable, Err: fmt.Errorf("gave up waiting for the credentials load: %w", ctx.Err())}
	}
}

// fetch loads from the source and publishes the result. Unless forced, it first checks
// whether another load already made one unnecessary.
func (c *Cache) fetch(ctx context.Context, forced bool) (*alipay.Credentials, error) {
	c.fetchMu.Lock()
	defer c.fetchMu.Unlock()
	prev := c.cur.Load()
	if !forced && prev != nil {
		now := c.now()
		if now.Before(prev.expires) || (now.Before(prev.retryAt) && prev.err != nil) {
			if prev.creds != nil {
				return prev.creds, nil
			}
			return nil, prev.err
		}
	}

	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.loadTimeout)
	l, err := c.src.Load(lctx)
	cancel()
	if err == nil {
		if l.Credentials == nil {
			err = &Error{Kind: ErrMalformed, Err: errors.New("source returned no credentials")}
		} else if verr := l.Credentials.Validate(); verr != nil {
			err = &Error{Kind: ErrMalformed, Err: verr}
		}
	}
	now := c.now()
	if err != nil {
		if !errors.Is(err, ErrUnavailable) {
			err = &Error{Kind: ErrUnreachable, Err: err}
		}
		c.failures++
		backoff := c.retryMin
		for i := 1; i < c.failures && backoff < c.retryMax; i++ {
			backoff *= 2
		}
		backoff = min(backoff, c.retryMax)
		next := &entry{err: err, retryAt: now.Add(backoff)}
		if prev != nil {
			next.creds, next.version, next.expires = prev.creds, prev.version, prev.expires
		}
		c.cur.Store(next)
		c.log.LogAttrs(ctx, slog.LevelError, "alipay credentials could not be loaded",
			slog.String("kind", kindName(err)),
			slog.String("error", err.Error()),
			slog.Bool("forced", forced),
			slog.Bool("serving_cached", next.creds != nil),
			slog.Duration("retry_in", backoff))
		return nil, err
	}

	c.failures = 0
	creds := l.Credentials
	changed := prev == nil || prev.creds == nil || prev.version != l.Version || l.Version == ""
	if !changed {
		// Same version: keep the pointer already handed out.
		creds = prev.creds
	}
	c.cur.Store(&entry{creds: creds, version: l.Version, expires: now.Add(c.ttl)})
	level := slog.LevelDebug
	if changed {
		level = slog.LevelInfo
	}
	prevVersion := ""
	if prev != nil {
		prevVersion = prev.version
	}
	mode := "key"
	if creds.CertMode() {
		mode = "certificate"
	}
	c.log.LogAttrs(ctx, level, "alipay credentials loaded",
		slog.String("version", l.Version),
		slog.String("previous_version", prevVersion),
		slog.Bool("changed", changed),
		slog.Bool("forced", forced),
		slog.String("app_id", creds.AppID),
		slog.String("mode", mode))
	return creds, nil
}
