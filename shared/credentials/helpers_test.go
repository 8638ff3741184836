package credentials

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/alipay-serverless/alipay-serverless/test/harness/testclock"
	"github.com/alipay-serverless/alipay-serverless/test/harness/testkeys"
)

func readTestdata(t testing.TB, rel string) string {
	t.Helper()
	return string(testkeys.Read(t, rel))
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

// keyMaterialIn returns the key material strings found in text.
func keyMaterialIn(t testing.TB, text string) []string {
	t.Helper()
	return testkeys.Leaks(t, text)
}

// assertNoKeyMaterial fails if text holds any test key material.
func assertNoKeyMaterial(t testing.TB, what, text string) {
	t.Helper()
	testkeys.AssertNoKeyMaterial(t, what, text)
}

// captureLogs returns a JSON logger at debug level whose output is checked for key
// material when the test ends.
func captureLogs(t testing.TB) (*slog.Logger, *testkeys.Buffer) {
	t.Helper()
	buf := &testkeys.Buffer{}
	t.Cleanup(func() { assertNoKeyMaterial(t, "log output", buf.String()) })
	return slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

// newFakeClock is a settable clock for TTL and rate-limit tests.
func newFakeClock() *testclock.Clock {
	return testclock.New(time.Date(2025, 6, 1, 9, 0, 0, 0, time.UTC))
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
