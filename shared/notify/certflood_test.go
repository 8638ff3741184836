package notify

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
	"github.com/alipay-serverless/alipay-serverless/shared/httpapi"
	"github.com/alipay-serverless/alipay-serverless/shared/orders"
	"github.com/alipay-serverless/alipay-serverless/test/harness/testkeys"
)

// floodGateway is a loopback Alipay after a rotation: the download method serves the
// rotated certificate for its SN and refuses every other SN (as Alipay does for an SN it
// never issued); any other method answers a success signed with the rotated key under
// the rotated SN. It counts downloads per SN.
type floodGateway struct {
	srv       *httptest.Server
	mu        sync.Mutex
	downloads map[string]int
}

func newFloodGateway(t *testing.T, rotatedKey *alipay.PrivateKey, sn string, certPEM []byte) *floodGateway {
	t.Helper()
	g := &floodGateway{downloads: map[string]int{}}
	const voucherMethod = "alipay.fund.auth.order.voucher.create"
	node := `{"code":"10000","msg":"Success","out_order_no":"PA1","code_value":"https:\/\/qr.alipay.com\/x"}`
	sign, err := rotatedKey.Sign([]byte(node))
	if err != nil {
		t.Fatal(err)
	}
	voucherReply := `{"` + alipay.ResponseNodeName(voucherMethod) + `":` + node + `,"alipay_cert_sn":"` + sn + `","sign":"` + sign + `"}`
	g.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, "bad form", http.StatusBadRequest)
			return
		}
		if r.Form.Get("method") != alipay.MethodCertDownload {
			_, _ = w.Write([]byte(voucherReply))
			return
		}
		var biz struct {
			SN string `json:"alipay_cert_sn"`
		}
		_ = json.Unmarshal([]byte(r.Form.Get("biz_content")), &biz)
		g.mu.Lock()
		g.downloads[biz.SN]++
		g.mu.Unlock()
		if biz.SN != sn {
			_, _ = w.Write([]byte(`{"alipay_open_app_alipaycert_download_response":{"code":"40004","msg":"Business Failed","sub_code":"CERT_NOT_EXIST","sub_msg":"no such certificate"},"sign":"bm90IGNoZWNrZWQ="}`))
			return
		}
		_, _ = w.Write([]byte(`{"alipay_open_app_alipaycert_download_response":{"code":"10000","msg":"Success","alipay_cert_content":"` +
			base64.StdEncoding.EncodeToString(certPEM) + `"},"alipay_cert_sn":"` + sn + `","sign":"bm90IGNoZWNrZWQ="}`))
	}))
	t.Cleanup(g.srv.Close)
	return g
}

// counts returns the downloads in all, those of sn, and how many SNs were asked for.
func (g *floodGateway) counts(sn string) (total, ofSN, distinct int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for s, n := range g.downloads {
		total += n
		if s == sn {
			ofSN = n
		}
	}
	return total, ofSN, len(g.downloads)
}

// A flood of notices forged with made-up alipay_cert_sn values must not keep a genuine
// rotation from resolving: the genuine notice under the rotated SN is applied and a
// gateway reply naming it verifies, while each forged SN costs at most one download and
// a forged SN sent again is answered from the refusal cache. The client's clock never
// moves, so nothing here waits for a download interval to pass.
func TestForgedCertSNFloodDoesNotBlockRotation(t *testing.T) {
	k := loadKeys(t)
	base, err := alipay.NewCertCredentials(testAppID, k.appPriv, testkeys.Read(t, "certs/app_cert.crt"),
		testkeys.Read(t, "certs/alipay_public_cert.crt"), testkeys.Read(t, "certs/alipay_root_cert.crt"))
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rotatedKey, err := alipay.NewPrivateKey(rsaKey)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2028, 3, 1, 0, 0, 0, 0, time.UTC) // inside the test PKI's validity
	certPEM := issueAlipayCert(t, rsaKey, now)
	sn, err := alipay.CertSN(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	g := newFloodGateway(t, rotatedKey, sn, certPEM)
	gw := alipay.NewClient(g.srv.URL+"/gateway.do", alipay.WithClock(func() time.Time { return now }), alipay.WithTimeout(5*time.Second))

	e := newEnv(t, WithCertResolver(gw))
	e.creds.get = func() (*alipay.Credentials, error) { return base, nil }
	seedAppPay(t, e.store, tradeID, "9.00")

	// The forged notices: `distinct` made-up SNs, then one SN sent `repeats` times. The
	// forger signs with a key of its own (the app key stands for it).
	const distinct, repeats, workers = 200, 100, 4
	repeated := fmt.Sprintf("%032x", 0xf00d)
	var forged [][]byte
	for i := range distinct + repeats {
		madeUp := repeated
		if i < distinct {
			madeUp = fmt.Sprintf("%032x", i+1)
		}
		forged = append(forged, signNotice(t, k.appPriv, with(tradeParams(tradeID, fmt.Sprintf("F%d", i), alipay.TradeStatusSuccess, "9.00"), "alipay_cert_sn", madeUp)))
	}
	genuine := signNotice(t, rotatedKey, with(tradeParams(tradeID, "N1", alipay.TradeStatusSuccess, "9.00"), "alipay_cert_sn", sn))

	// The 300 refusals are logged at WARN: keep them out of the test output.
	quiet := httpapi.WithLogger(context.Background(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithTimeout(quiet, 30*time.Second)
	defer cancel()
	jobs := make(chan []byte)
	statuses := make(chan int, len(forged))
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for body := range jobs {
				code, _ := Reply(e.svc.Process(ctx, formCT, body))
				statuses <- code
			}
		}()
	}
	// The genuine traffic starts once the flood is under way and runs beside it.
	half := len(forged) / 2
	for _, b := range forged[:half] {
		jobs <- b
	}
	genuineDone := make(chan struct{})
	var replyErr error
	var noticeCode int
	var replyTook, noticeTook time.Duration // logged for RELIABILITY.md, never asserted
	go func() {
		defer close(genuineDone)
		start := time.Now()
		_, replyErr = gw.Execute(ctx, base, "alipay.fund.auth.order.voucher.create", `{"out_order_no":"PA1"}`, alipay.CallOptions{})
		replyTook = time.Since(start)
		start = time.Now()
		noticeCode, _ = Reply(e.svc.Process(ctx, formCT, genuine))
		noticeTook = time.Since(start)
	}()
	for _, b := range forged[half:] {
		jobs <- b
	}
	close(jobs)
	wg.Wait()
	<-genuineDone
	close(statuses)

	if replyErr != nil {
		t.Errorf("gateway reply naming the rotated SN: %v", replyErr)
	}
	if noticeCode != http.StatusOK {
		t.Errorf("genuine notice under the rotated SN: status %d, want 200", noticeCode)
	}
	if o := appPayOrder(t, e.store, tradeID); o.Status != orders.TradeSuccess {
		t.Errorf("order %s after the genuine notice, want TRADE_SUCCESS", o.Status)
	}
	byStatus := map[int]int{}
	for c := range statuses {
		byStatus[c]++
	}
	if byStatus[http.StatusBadRequest] != len(forged) {
		t.Errorf("forged notices by status %v, want all %d answered 400", byStatus, len(forged))
	}
	total, ofSN, snCount := g.counts(sn)
	g.mu.Lock()
	ofRepeated := g.downloads[repeated]
	g.mu.Unlock()
	if ofRepeated != 1 {
		t.Errorf("the repeated forged SN was downloaded %d times, want once (refusal cached)", ofRepeated)
	}
	// One download per distinct forged SN at most, one for the repeated one, and the
	// rotated SN once per trigger (gateway reply, notification) at most.
	if total > distinct+1+2 || ofSN < 1 || ofSN > 2 || snCount > distinct+2 {
		t.Errorf("downloads: %d in all, %d of the rotated SN, %d SNs", total, ofSN, snCount)
	}
	t.Logf("forged notices %d (%d distinct SNs + 1 SN x %d, %d workers): %v; downloads %d (rotated SN %d); gateway reply err %v in %v; genuine notice %d in %v",
		len(forged), distinct, repeats, workers, byStatus, total, ofSN, replyErr, replyTook.Round(time.Millisecond), noticeCode, noticeTook.Round(time.Millisecond))
}
