package notify

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
	"github.com/alipay-serverless/alipay-serverless/shared/credentials"
	"github.com/alipay-serverless/alipay-serverless/shared/httpapi"
	"github.com/alipay-serverless/alipay-serverless/shared/orders"
)

// benchBody is a signed trade notice for tradeID and its sign content.
func benchBody(b *testing.B, k *testKeys) ([]byte, string) {
	p := tradeParams(tradeID, "N1", alipay.TradeStatusSuccess, "9.00")
	body := signNotice(b, k.alipayPriv, p)
	p["sign_type"] = "RSA2"
	return body, alipay.NotifySignContent(p)
}

// BenchmarkNotifyBareVerify is the floor of the notify path: one RSA-SHA256 PKCS#1 v1.5
// verification over the same content, nothing else.
func BenchmarkNotifyBareVerify(b *testing.B) {
	k := loadKeys(b)
	body, content := benchBody(b, k)
	n, err := alipay.ParseNotification(body)
	if err != nil {
		b.Fatal(err)
	}
	sig, err := base64.StdEncoding.DecodeString(n.Params["sign"])
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		sum := sha256.Sum256([]byte(content))
		if err := rsa.VerifyPKCS1v15(k.alipayPub.RSA(), crypto.SHA256, sum[:], sig); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNotifyHandler is the whole HTTP path of a redelivered notification: router,
// body read, parse, verify, checks, order read and the conditional apply (Duplicate,
// since the first delivery already applied it), reply.
func BenchmarkNotifyHandler(b *testing.B) {
	k := loadKeys(b)
	store := orders.NewMemoryStore()
	seedAppPay(b, store, tradeID, "9.00")
	svc := NewService(store, credentials.Static{Creds: newCreds(k, k.alipayPub)})
	rt := httpapi.NewRouter(httpapi.LocalCaller, slog.New(slog.NewJSONHandler(io.Discard, nil)))
	if err := NewHandler(svc).Mount(rt); err != nil {
		b.Fatal(err)
	}
	body, _ := benchBody(b, k)
	post := func() int {
		req := httptest.NewRequest(http.MethodPost, httpapi.NotifyPath, bytes.NewReader(body))
		req.Header.Set("Content-Type", formCT)
		w := httptest.NewRecorder()
		rt.ServeHTTP(w, req.WithContext(context.Background()))
		return w.Code
	}
	if post() != http.StatusOK {
		b.Fatal("first delivery failed")
	}
	b.ReportAllocs()
	for b.Loop() {
		if post() != http.StatusOK {
			b.Fatal("redelivery failed")
		}
	}
}
