package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/alipay-serverless/alipay-serverless/shared/httpapi"
	"github.com/alipay-serverless/alipay-serverless/shared/reconcile"
)

// EnvReconcileInterval is the local default of -reconcile-interval.
const EnvReconcileInterval = "LOCAL_RECONCILE_INTERVAL"

// defaultReconcileInterval: locally a pass every minute (Lambda: ReconcileSchedule).
const defaultReconcileInterval = time.Minute

// reconcileRequest is the optional body of POST /local/reconcile.
type reconcileRequest struct {
	// AsOf moves the local clock forward to that time (never back) before the pass, so a
	// test can make an order due, or a refund old enough to confirm, without waiting.
	AsOf string `json:"as_of"`
}

// localClock is the local server's one clock: the real clock plus an offset that
// POST /local/reconcile's as_of moves forward. Every service (store timestamps, leases,
// the refund query's delay, expiries) and every pass read it, so a pass as of a later
// time sees what the services would see then.
type localClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *localClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

// advanceTo moves the clock to t when t is later; it never goes back, so leases and
// timestamps already written stay in the past. It returns the clock's time after.
func (c *localClock) advanceTo(t time.Time) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	if d := t.Sub(now); d > c.offset {
		c.offset = d
	}
	return now.Add(c.offset)
}

// serveReconcile runs one pass now (local mode only, like /healthz) and replies with its
// summary {"examined","resolved","unchanged","stuck","errors"}.
func serveReconcile(r *reconcile.Reconciler, clock *localClock) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		body, err := io.ReadAll(io.LimitReader(req.Body, 4096))
		if err != nil {
			httpapi.WriteError(w, httpapi.BadRequest("", "unreadable body"))
			return
		}
		var asOf time.Time
		if strings.TrimSpace(string(body)) != "" {
			var in reconcileRequest
			dec := json.NewDecoder(strings.NewReader(string(body)))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&in); err != nil {
				httpapi.WriteError(w, httpapi.BadRequest("as_of", "body must be {} or {\"as_of\":\"<RFC 3339 time>\"}"))
				return
			}
			if in.AsOf != "" {
				if asOf, err = time.Parse(time.RFC3339, in.AsOf); err != nil {
					httpapi.WriteError(w, httpapi.BadRequest("as_of", "must be an RFC 3339 time such as 2026-01-02T15:04:05+08:00"))
					return
				}
			}
		}
		sum, err := r.Pass(req.Context(), clock.advanceTo(asOf))
		if err != nil {
			httpapi.WriteErr(w, req, err)
			return
		}
		httpapi.WriteJSON(w, http.StatusOK, sum)
	}
}

// reconcileEvery runs a pass every interval until stop is closed.
func reconcileEvery(r *reconcile.Reconciler, clock *localClock, interval time.Duration, log *slog.Logger, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			ctx, cancel := context.WithCancel(context.Background())
			go func() {
				select {
				case <-stop:
					cancel()
				case <-ctx.Done():
				}
			}()
			if _, err := r.Pass(ctx, clock.Now()); err != nil && !errors.Is(err, context.Canceled) {
				log.Warn("local reconcile pass failed", "error", err.Error())
			}
			cancel()
		}
	}
}
