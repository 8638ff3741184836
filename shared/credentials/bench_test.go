package credentials

import (
	"context"
	"io"
	"log/slog"
	"testing"
)

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// BenchmarkCacheGetWarm is the request path: credentials already loaded, real clock.
func BenchmarkCacheGetWarm(b *testing.B) {
	srv := newSMServer(b, "")
	srv.put(testSecretName, smSecret{str: secretJSON(b, keyModeFields(b, "keys/alipay_public.pem")), version: "v1"})
	client, _ := newSMClient(b, srv.URL())
	c := NewCache(NewSecretsManagerSource(client, testSecretName), WithLogger(discardLogger()))
	ctx := context.Background()
	if _, err := c.Get(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if cr, err := c.Get(ctx); err != nil || cr == nil {
				b.Error("warm Get failed")
				return
			}
		}
	})
	if n := srv.calls.Load(); n != 1 {
		b.Fatalf("warm Gets fetched: %d calls", n)
	}
}

// BenchmarkColdLoad is a cold start's first Get: GetSecretValue through the real SDK
// client over loopback, JSON decode and key parsing.
func BenchmarkColdLoad(b *testing.B) {
	srv := newSMServer(b, "")
	srv.put(testSecretName, smSecret{str: secretJSON(b, keyModeFields(b, "keys/alipay_public.pem")), version: "v1"})
	client, _ := newSMClient(b, srv.URL())
	src := NewSecretsManagerSource(client, testSecretName)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		c := NewCache(src, WithLogger(discardLogger()))
		if _, err := c.Get(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseSecret is the parse share of a cold load.
func BenchmarkParseSecret(b *testing.B) {
	data := []byte(secretJSON(b, keyModeFields(b, "keys/alipay_public.pem")))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseSecret(data); err != nil {
			b.Fatal(err)
		}
	}
}
