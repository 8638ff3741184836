package perf

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
	"github.com/alipay-serverless/alipay-serverless/shared/httpapi"
)

// The official Node SDK (alipay-sdk, pinned in package.json) on the same work as our
// hot paths: sdkExecute builds the orderStr of the order BenchmarkOrderStrPath creates
// (same biz_content, same notify_url), checkNotifySignV2 / checkNotifySign check a
// notification of BenchmarkNotifyPath. Node times its own loop (nodebench.js); the
// benchmark reports that time as ns/op, so b.N is the number of ops node runs.

type nodeResult struct {
	Op          string          `json:"op"`
	Ops         int             `json:"ops"`
	NsPerOp     float64         `json:"ns_per_op"`
	SDKVersion  string          `json:"sdk_version"`
	NodeVersion string          `json:"node_version"`
	Sample      json.RawMessage `json:"sample"`
}

// nodeFixture is the input nodebench.js reads on stdin.
func nodeFixture(tb testing.TB) []byte {
	tb.Helper()
	p, err := alipay.DecodeAppPay([]byte(appPayBody(0)))
	if err != nil {
		tb.Fatal(err)
	}
	if err := p.Validate(time.Now()); err != nil {
		tb.Fatal(err)
	}
	biz, err := p.BizContent()
	if err != nil {
		tb.Fatal(err)
	}
	notice, err := base64.StdEncoding.DecodeString(notices(tb, 1)[0])
	if err != nil {
		tb.Fatal(err)
	}
	b, err := json.Marshal(map[string]string{
		"app_id":                 testAppID,
		"app_private_key_file":   keyPath(tb, "app_private_pkcs1.pem"),
		"alipay_public_key_file": keyPath(tb, "alipay_public.pem"),
		"notify_url":             "https://" + apiHost + httpapi.NotifyPath,
		"biz_content":            biz,
		"notification":           string(notice),
	})
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// runNode runs nodebench.js for ops operations and checks that the op did its work.
func runNode(tb testing.TB, fixture []byte, op string, ops int) nodeResult {
	tb.Helper()
	root := moduleRoot(tb)
	nodeBin, err := exec.LookPath("node")
	if err != nil {
		tb.Fatalf("node is not on PATH (the Node SDK comparison needs it): %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "node_modules", "alipay-sdk", "package.json")); err != nil {
		tb.Fatalf("alipay-sdk is not installed: run npm ci in %s", root)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, nodeBin, filepath.Join(root, "test", "perf", "nodebench.js"), root, op, strconv.Itoa(ops))
	cmd.Stdin = bytes.NewReader(fixture)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		tb.Fatalf("nodebench %s: %v\n%s", op, err, stderr.String())
	}
	var r nodeResult
	if err := json.Unmarshal(out, &r); err != nil || r.Op != op || r.Ops != ops || r.NsPerOp <= 0 {
		tb.Fatalf("nodebench %s: unexpected reply %q (%v)", op, out, err)
	}
	if err := checkNodeSample(tb, r); err != nil {
		tb.Fatalf("nodebench %s: %v", op, err)
	}
	return r
}

// checkNodeSample proves the timed op did the real work: an orderStr that verifies
// with the app public key, or a notification the SDK accepted.
func checkNodeSample(tb testing.TB, r nodeResult) error {
	switch r.Op {
	case "sdkExecute":
		var s string
		if err := json.Unmarshal(r.Sample, &s); err != nil {
			return err
		}
		p, err := alipay.VerifyOrderString(s, privateKey(tb, "app_private_pkcs1.pem").Public())
		if err != nil {
			return fmt.Errorf("orderStr does not verify: %w", err)
		}
		if p["method"] != "alipay.trade.app.pay" || p["biz_content"] == "" {
			return fmt.Errorf("orderStr params %v", p)
		}
	default:
		if string(r.Sample) != "true" {
			return fmt.Errorf("the SDK rejected the notification: %s", r.Sample)
		}
	}
	return nil
}

var nodeOps = []string{"sdkExecute", "checkNotifySignV2", "checkNotifySign"}

// BenchmarkNodeSDK times the Node SDK; run it with -benchtime=Nx (N ≥ 2000).
func BenchmarkNodeSDK(b *testing.B) {
	fixture := nodeFixture(b)
	for _, op := range nodeOps {
		b.Run(op, func(b *testing.B) {
			r := runNode(b, fixture, op, b.N)
			b.ReportMetric(r.NsPerOp, "ns/op")
		})
	}
}

func TestNodeSDKDoesTheSameWorkAsOurPaths(t *testing.T) {
	fixture := nodeFixture(t)
	for _, op := range nodeOps {
		t.Run(op, func(t *testing.T) {
			r := runNode(t, fixture, op, 1)
			if r.SDKVersion != "4.14.0" {
				t.Errorf("alipay-sdk %s, want the pinned 4.14.0", r.SDKVersion)
			}
		})
	}
}
