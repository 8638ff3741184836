package credentials

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// sharedTestdata returns the reference testdata folder beside the checkout
// (<module root>/../shared/testdata). Missing reference data fails the test.
func sharedTestdata(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			td := filepath.Join(dir, "..", "shared", "testdata")
			if _, err := os.Stat(td); err != nil {
				t.Fatalf("reference testdata not found at %s: %v", td, err)
			}
			return td
		}
		dir = filepath.Dir(dir)
	}
	t.Fatal("module root (go.mod) not found")
	return ""
}

func readTestdata(t testing.TB, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(sharedTestdata(t), rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// secretJSON renders a credentials secret from field values.
func secretJSON(t testing.TB, fields map[string]any) string {
	t.Helper()
	b, err := json.Marshal(fields)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// keyModeFields is a valid key-mode secret: the reference app key and the simulated
// Alipay public key. alipayPub picks the file holding the Alipay public key, so a test
// can "rotate" it to another valid key.
func keyModeFields(t testing.TB, alipayPub string) map[string]any {
	t.Helper()
	return map[string]any{
		FieldAppID:           "2021000000000001",
		FieldPrivateKey:      readTestdata(t, "keys/app_private_pkcs1.pem"),
		FieldAlipayPublicKey: readTestdata(t, alipayPub),
	}
}

var (
	keyMaterialOnce sync.Once
	keyMaterialList []string
	keyMaterialErr  error
)

// keyMaterial returns strings that must never appear in logs or errors: for every test
// key file, its whole text, its base64 body as one line, and 40-character windows of
// that body every 4 characters, so any leaked run of 44 or more characters is caught
// whether or not PEM line breaks survived.
func keyMaterial(t testing.TB) []string {
	t.Helper()
	dir := filepath.Join(sharedTestdata(t), "keys")
	keyMaterialOnce.Do(func() { keyMaterialList, keyMaterialErr = readKeyMaterial(dir) })
	if keyMaterialErr != nil {
		t.Fatal(keyMaterialErr)
	}
	return keyMaterialList
}

func readKeyMaterial(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	files := 0
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".pem") && !strings.HasSuffix(name, ".txt") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		var body strings.Builder
		for _, line := range strings.Split(string(b), "\n") {
			line = strings.TrimSpace(line)
			if line != "" && !strings.HasPrefix(line, "-----") {
				body.WriteString(line)
			}
		}
		full := body.String()
		if len(full) < 16 {
			return nil, fmt.Errorf("%s: no key material found", name)
		}
		files++
		out = append(out, strings.TrimSpace(string(b)), full)
		for start := 0; start+40 <= len(full); start += 4 {
			out = append(out, full[start:start+40])
		}
	}
	if files < 8 {
		return nil, fmt.Errorf("expected the test keys in %s, found %d files", dir, files)
	}
	return out, nil
}

// keyMaterialIn returns the key material strings found in text.
func keyMaterialIn(t testing.TB, text string) []string {
	t.Helper()
	var hits []string
	for _, m := range keyMaterial(t) {
		if strings.Contains(text, m) {
			hits = append(hits, m)
		}
	}
	return hits
}

// assertNoKeyMaterial fails if text holds any test key material.
func assertNoKeyMaterial(t testing.TB, what, text string) {
	t.Helper()
	for _, m := range keyMaterialIn(t, text) {
		t.Errorf("%s contains key material (%d chars beginning %.6q...)", what, len(m), m)
	}
}

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a slog handler.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// captureLogs returns a JSON logger at debug level whose output is checked for key
// material when the test ends.
func captureLogs(t testing.TB) (*slog.Logger, *syncBuffer) {
	t.Helper()
	buf := &syncBuffer{}
	t.Cleanup(func() { assertNoKeyMaterial(t, "log output", buf.String()) })
	return slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

// fakeClock is a settable clock for TTL and rate-limit tests.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2025, 6, 1, 9, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// eventually polls cond until it holds or the bound passes.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func testCtx(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}
