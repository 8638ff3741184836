package credentials

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
	"github.com/alipay-serverless/alipay-serverless/test/harness/testclock"
	"github.com/alipay-serverless/alipay-serverless/test/harness/testkeys"
)

const testSecretName = "alipay-serverless/prod/alipay"

// smFixture is the fake Secrets Manager, the real SDK client aimed at it, and a cache
// over it with a fake clock and a captured log.
type smFixture struct {
	srv   *smServer
	http  *countingHTTP
	clock *testclock.Clock
	logs  *testkeys.Buffer
	cache *Cache
}

func newSMFixture(t testing.TB, opts ...Option) *smFixture {
	t.Helper()
	f := &smFixture{srv: newSMServer(t, ""), clock: newFakeClock()}
	f.srv.put(testSecretName, smSecret{str: secretJSON(t, keyModeFields(t, "keys/alipay_public.pem")), version: "v1"})
	client, hc := newSMClient(t, f.srv.URL())
	f.http = hc
	logger, logs := captureLogs(t)
	f.logs = logs
	all := append([]Option{WithClock(f.clock.Now), WithLogger(logger), WithRetryBackoff(time.Second, 8*time.Second)}, opts...)
	f.cache = NewCache(NewSecretsManagerSource(client, testSecretName), all...)
	return f
}

func alipayKeyOf(t *testing.T, c *alipay.Credentials) *alipay.PublicKey {
	t.Helper()
	k, err := c.AlipayKey("")
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustKey(t *testing.T, rel string) *alipay.PublicKey {
	t.Helper()
	k, err := alipay.ParsePublicKey([]byte(readTestdata(t, rel)))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// getAll calls Get from n goroutines m times each and returns the distinct results.
func getAll(t *testing.T, c *Cache, n, m int) map[*alipay.Credentials]int {
	t.Helper()
	var mu sync.Mutex
	seen := map[*alipay.Credentials]int{}
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Go(func() {
			for j := 0; j < m; j++ {
				got, err := c.Get(testCtx(t))
				if err != nil {
					t.Errorf("Get: %v", err)
					return
				}
				mu.Lock()
				seen[got]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return seen
}

func TestCacheFetchesOncePerTTL(t *testing.T) {
	f := newSMFixture(t, WithTTL(5*time.Minute))
	f.cache.Start(context.Background())
	seen := getAll(t, f.cache, 32, 20)
	if len(seen) != 1 {
		t.Fatalf("concurrent cold Gets saw %d different credentials", len(seen))
	}
	if n := f.srv.calls.Load(); n != 1 {
		t.Fatalf("Start + 640 concurrent Gets made %d GetSecretValue calls, want 1", n)
	}
	var first *alipay.Credentials
	for c := range seen {
		first = c
	}
	if first.Version != "v1" || !alipayKeyOf(t, first).Equal(mustKey(t, "keys/alipay_public.pem")) {
		t.Fatalf("loaded version %q with the wrong key", first.Version)
	}

	f.clock.Advance(4 * time.Minute)
	getAll(t, f.cache, 8, 10)
	if n := f.srv.calls.Load(); n != 1 {
		t.Fatalf("Gets within the TTL made %d calls, want 1", n)
	}

	// Past the TTL: Get answers from the cache at once while one refresh runs; the
	// server holds that refresh until released, so a Get that waited would time out.
	release := f.srv.block()
	defer release()
	f.clock.Advance(2 * time.Minute)
	done := make(chan map[*alipay.Credentials]int)
	go func() { done <- getAll(t, f.cache, 16, 10) }()
	select {
	case seen = <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Get waited for the background refresh")
	}
	if len(seen) != 1 || seen[first] == 0 {
		t.Fatalf("stale Gets did not return the cached credentials")
	}
	eventually(t, "the background refresh to reach the server", func() bool { return f.srv.calls.Load() == 2 })
	release()
	eventually(t, "the background refresh to finish", func() bool { return !f.cache.refreshing.Load() })
	getAll(t, f.cache, 8, 10)
	f.clock.Advance(4 * time.Minute)
	getAll(t, f.cache, 8, 10)
	if n := f.srv.calls.Load(); n != 2 {
		t.Fatalf("after the TTL: %d calls, want exactly 2", n)
	}
	if got, _ := f.cache.Get(testCtx(t)); got != first {
		t.Errorf("an unchanged version replaced the credentials pointer")
	}
	if !strings.Contains(f.logs.String(), `"version":"v1"`) {
		t.Errorf("version v1 not logged:\n%s", f.logs)
	}
}

func TestCacheRefreshPicksUpRotation(t *testing.T) {
	f := newSMFixture(t, WithRotationInterval(30*time.Second))
	ctx := testCtx(t)
	old, err := f.cache.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Alipay rotates its key: the secret gets a new version with another public key.
	f.srv.put(testSecretName, smSecret{str: secretJSON(t, keyModeFields(t, "keys/app_public.pem")), version: "v2"})
	if got, _ := f.cache.Get(ctx); got != old {
		t.Fatal("Get within the TTL fetched")
	}

	fresh, err := f.cache.Refresh(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if fresh.Version != "v2" || !alipayKeyOf(t, fresh).Equal(mustKey(t, "keys/app_public.pem")) {
		t.Fatalf("Refresh returned version %q without the rotated key", fresh.Version)
	}
	if got, _ := f.cache.Get(ctx); got != fresh {
		t.Error("Get after Refresh does not return the rotated credentials")
	}
	if n := f.srv.calls.Load(); n != 2 {
		t.Fatalf("calls = %d, want 2", n)
	}

	// A second signature failure inside the interval must not fetch again.
	f.clock.Advance(10 * time.Second)
	again, err := f.cache.Refresh(ctx)
	if err != nil || again != fresh {
		t.Fatalf("second Refresh = %v, %v; want the cached credentials", again, err)
	}
	if n := f.srv.calls.Load(); n != 2 {
		t.Fatalf("Refresh twice within the interval: %d calls, want 2", n)
	}

	// After the interval, many concurrent Refresh calls share one fetch.
	f.clock.Advance(30 * time.Second)
	release := f.srv.block()
	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Go(func() {
			if _, err := f.cache.Refresh(ctx); err != nil {
				t.Errorf("Refresh: %v", err)
			}
		})
	}
	eventually(t, "the forced fetch to reach the server", func() bool { return f.srv.calls.Load() == 3 })
	release()
	wg.Wait()
	if n := f.srv.calls.Load(); n != 3 {
		t.Fatalf("16 concurrent Refresh after the interval: %d calls, want 3", n)
	}
	logs := f.logs.String()
	if !strings.Contains(logs, `"version":"v2"`) || !strings.Contains(logs, `"previous_version":"v1"`) {
		t.Errorf("rotation v1 -> v2 not logged:\n%s", logs)
	}
}

func TestCacheRefreshFitsGatewayHook(t *testing.T) {
	f := newSMFixture(t)
	var hook func(context.Context) (*alipay.Credentials, error) = f.cache.Refresh
	c, err := hook(testCtx(t))
	if err != nil || c == nil || c.Version != "v1" {
		t.Fatalf("Refresh with nothing cached = %v, %v; want a first load", c, err)
	}
}

func TestCacheSDKRetriesTransientErrors(t *testing.T) {
	tests := []struct {
		name   string
		script []string
		calls  int64
	}{
		{"throttling_is_retried_then_succeeds", []string{failThrottle, failThrottle}, 3},
		{"server_error_is_retried_then_succeeds", []string{failInternal}, 2},
		{"mixed_transient_errors_are_retried", []string{failInternal, failThrottle, failInternal}, 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newSMFixture(t)
			f.srv.fail(tc.script...)
			c, err := f.cache.Get(testCtx(t))
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			if c.Version != "v1" {
				t.Errorf("version %q", c.Version)
			}
			if n := f.srv.calls.Load(); n != tc.calls {
				t.Errorf("calls = %d, want %d", n, tc.calls)
			}
		})
	}
}

func TestCacheMapsSecretsManagerErrors(t *testing.T) {
	tests := []struct {
		name     string
		secretID string
		always   string
		kind     error
		calls    int64
	}{
		{"unknown_secret_is_not_found", "alipay-serverless/missing", "", ErrNotFound, 1},
		{"access_denied_is_access_denied", testSecretName, failDenied, ErrAccessDenied, 1},
		{"persistent_throttling_is_throttled", testSecretName, failThrottle, ErrThrottled, testMaxAttempts},
		{"persistent_5xx_is_unreachable", testSecretName, failInternal, ErrUnreachable, testMaxAttempts},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newSMServer(t, "")
			srv.put(testSecretName, smSecret{str: secretJSON(t, keyModeFields(t, "keys/alipay_public.pem")), version: "v1"})
			srv.failAlways(tc.always)
			client, _ := newSMClient(t, srv.URL())
			logger, logs := captureLogs(t)
			clock := newFakeClock()
			c := NewCache(NewSecretsManagerSource(client, tc.secretID), WithClock(clock.Now), WithLogger(logger))
			_, err := c.Get(testCtx(t))
			var e *Error
			if !errors.Is(err, tc.kind) || !errors.Is(err, ErrUnavailable) || !errors.As(err, &e) {
				t.Fatalf("Get error %v: want *Error of kind %v", err, tc.kind)
			}
			if !strings.Contains(err.Error(), tc.secretID) {
				t.Errorf("error %q does not name the secret id", err)
			}
			if n := srv.calls.Load(); n != tc.calls {
				t.Errorf("calls = %d, want %d", n, tc.calls)
			}
			// Within the retry backoff the error is answered without another call.
			if _, err2 := c.Get(testCtx(t)); !errors.Is(err2, tc.kind) {
				t.Errorf("second Get: %v", err2)
			}
			if n := srv.calls.Load(); n != tc.calls {
				t.Errorf("second Get within the backoff called the service (%d calls)", n)
			}
			if !strings.Contains(logs.String(), kindName(tc.kind)) {
				t.Errorf("failure not logged with its kind:\n%s", logs)
			}
			assertNoKeyMaterial(t, "error", err.Error())
		})
	}
}

func TestCacheMapsBadSecretContent(t *testing.T) {
	tests := []struct {
		name   string
		secret smSecret
		kind   error
		field  string
	}{
		{"missing_field_is_malformed", smSecret{str: secretJSON(t, with(keyModeFields(t, "keys/alipay_public.pem"), FieldAppID, nil)), version: "v1"}, ErrMalformed, FieldAppID},
		{"bad_key_is_bad_key", smSecret{str: secretJSON(t, with(keyModeFields(t, "keys/alipay_public.pem"), FieldPrivateKey, readTestdata(t, "keys/alipay_public.pem"))), version: "v1"}, ErrBadKey, FieldPrivateKey},
		{"not_json_is_malformed", smSecret{str: "app_id=2021000000000001", version: "v1"}, ErrMalformed, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newSMFixture(t)
			f.srv.put(testSecretName, tc.secret)
			_, err := f.cache.Get(testCtx(t))
			var e *Error
			if !errors.Is(err, tc.kind) || !errors.As(err, &e) || e.Field != tc.field {
				t.Fatalf("Get error %v: want kind %v field %q", err, tc.kind, tc.field)
			}
			if !strings.Contains(err.Error(), testSecretName) {
				t.Errorf("error %q does not name the secret", err)
			}
			if n := f.srv.calls.Load(); n != 1 {
				t.Errorf("a bad secret was fetched %d times, want 1 (no SDK retry)", n)
			}
			assertNoKeyMaterial(t, "error", err.Error())
		})
	}
}

func TestSecretsManagerSourceReadsSecretBinaryAndARN(t *testing.T) {
	srv := newSMServer(t, "")
	srv.put(testSecretName, smSecret{binary: []byte(secretJSON(t, keyModeFields(t, "keys/alipay_public.txt"))), version: "b1"})
	client, _ := newSMClient(t, srv.URL())
	l, err := NewSecretsManagerSource(client, secretARN(testSecretName)).Load(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if l.Version != "b1" || l.Credentials.Version != "b1" {
		t.Errorf("version %q / %q, want b1", l.Version, l.Credentials.Version)
	}
	if !alipayKeyOf(t, l.Credentials).Equal(mustKey(t, "keys/alipay_public.pem")) {
		t.Error("wrong Alipay key")
	}
}

func TestCacheColdStartOutageRecovers(t *testing.T) {
	// Reserve a loopback port, then leave nothing listening on it: connections are refused.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()

	client, hc := newSMClient(t, "http://"+addr)
	logger, logs := captureLogs(t)
	clock := newFakeClock()
	c := NewCache(NewSecretsManagerSource(client, testSecretName),
		WithClock(clock.Now), WithLogger(logger), WithRetryBackoff(time.Second, 4*time.Second))
	c.Start(context.Background())
	_, err = c.Get(testCtx(t))
	if !errors.Is(err, ErrUnreachable) || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Get during the outage: %v, want ErrUnreachable", err)
	}
	assertNoKeyMaterial(t, "error", err.Error())
	sent := hc.n.Load()
	if sent < 2 {
		t.Errorf("the SDK tried %d times, want its retries", sent)
	}
	// A burst of Gets inside the backoff does not touch the dead endpoint.
	for i := 0; i < 50; i++ {
		if _, err := c.Get(testCtx(t)); !errors.Is(err, ErrUnreachable) {
			t.Fatalf("Get %d: %v", i, err)
		}
	}
	if n := hc.n.Load(); n != sent {
		t.Fatalf("Gets within the backoff sent %d more requests", n-sent)
	}
	// Still down after the backoff: one more attempt, and the next backoff is longer.
	clock.Advance(time.Second)
	if _, err := c.Get(testCtx(t)); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("Get after backoff: %v", err)
	}
	if n := hc.n.Load(); n != 2*sent {
		t.Fatalf("retry after backoff sent %d requests, want %d", n-sent, sent)
	}
	clock.Advance(time.Second)
	if _, err := c.Get(testCtx(t)); !errors.Is(err, ErrUnreachable) || hc.n.Load() != 2*sent {
		t.Fatalf("second backoff did not double: err %v, requests %d", err, hc.n.Load())
	}

	// The service comes back on the same address.
	srv := newSMServer(t, addr)
	srv.put(testSecretName, smSecret{str: secretJSON(t, keyModeFields(t, "keys/alipay_public.pem")), version: "v1"})
	clock.Advance(time.Second)
	got, err := c.Get(testCtx(t))
	if err != nil {
		t.Fatalf("Get after recovery: %v", err)
	}
	if got.Version != "v1" || srv.calls.Load() != 1 {
		t.Errorf("recovered version %q after %d calls", got.Version, srv.calls.Load())
	}
	if !strings.Contains(logs.String(), "unreachable") || !strings.Contains(logs.String(), `"version":"v1"`) {
		t.Errorf("outage and recovery not logged:\n%s", logs)
	}
}

func TestCacheServesStaleWhenRefreshFails(t *testing.T) {
	f := newSMFixture(t, WithTTL(time.Minute))
	ctx := testCtx(t)
	first, err := f.cache.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	f.srv.failAlways(failInternal)
	f.clock.Advance(2 * time.Minute)
	for i := 0; i < 20; i++ {
		got, err := f.cache.Get(ctx)
		if err != nil || got != first {
			t.Fatalf("Get with a failing refresh = %v, %v; want the cached credentials", got, err)
		}
	}
	eventually(t, "the failed refresh to be recorded", func() bool {
		e := f.cache.cur.Load()
		return e.err != nil && !f.cache.refreshing.Load()
	})
	calls := f.srv.calls.Load()
	if calls != 1+testMaxAttempts {
		t.Fatalf("calls = %d, want 1 + %d attempts of one refresh", calls, testMaxAttempts)
	}
	for i := 0; i < 20; i++ {
		if got, _ := f.cache.Get(ctx); got != first {
			t.Fatal("stale credentials not served")
		}
	}
	if n := f.srv.calls.Load(); n != calls {
		t.Errorf("Gets within the retry backoff refreshed again (%d calls)", n)
	}
	f.srv.failAlways("")
	f.srv.put(testSecretName, smSecret{str: secretJSON(t, keyModeFields(t, "keys/app_public.pem")), version: "v2"})
	f.clock.Advance(time.Second)
	f.cache.Get(ctx)
	eventually(t, "the retried refresh to publish v2", func() bool {
		got, _ := f.cache.Get(ctx)
		return got.Version == "v2"
	})
}

func TestCacheGetGivesUpWaitingWithTheContext(t *testing.T) {
	f := newSMFixture(t)
	release := f.srv.block()
	defer release()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := f.cache.Get(ctx)
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Get with an expiring context: %v", err)
	}
	release()
	// The load itself was not cancelled with the caller: it completes for the next Get.
	c, err := f.cache.Get(testCtx(t))
	if err != nil || c.Version != "v1" {
		t.Fatalf("Get after release = %v, %v", c, err)
	}
	if n := f.srv.calls.Load(); n != 1 {
		t.Errorf("calls = %d, want 1", n)
	}
}

func TestCacheWarmGetDoesNotAllocate(t *testing.T) {
	f := newSMFixture(t)
	ctx := testCtx(t)
	if _, err := f.cache.Get(ctx); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(1000, func() {
		if _, err := f.cache.Get(ctx); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("warm Get allocates %.1f times per call", allocs)
	}
}
