// Package nodeoracle runs the official Alipay Node SDK (npm alipay-sdk, pinned in the
// module's package.json) as an independent oracle for interop tests: one long-lived
// `node oracle.js` per test, spoken to with newline-delimited JSON over stdin/stdout.
//
// It is for tests only. The SDK has known gaps (docs/protocol.md §5, §8.2, §12); the
// oracle reports what the SDK does, and the tests decide which differences are deliberate.
package nodeoracle

import (
	"bufio"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alipay-serverless/alipay-serverless/test/harness/testkeys"
)

//go:embed oracle.js
var script []byte

// PinnedSDKVersion is the alipay-sdk version package.json pins; the oracle refuses to
// run against anything else, since recorded SDK verdicts depend on it.
const PinnedSDKVersion = "4.14.0"

// AppID is the app id the oracle's SDK instances are configured with (as in the vectors).
const AppID = "2021000000000001"

// DefaultTimeout bounds every call.
const DefaultTimeout = 10 * time.Second

// startTimeout bounds node's start-up (loading the SDK and its dependencies).
const startTimeout = 20 * time.Second

// KeyType selects how the app private key is handed to the SDK (its keyType option).
type KeyType string

// Key types: PKCS#1 as a PEM file (keys/app_private_pkcs1.pem) and PKCS#8 as the bare
// one-line base64 Alipay's key tool writes (keys/app_private_pkcs8.txt).
const (
	PKCS1 KeyType = "PKCS1"
	PKCS8 KeyType = "PKCS8"
)

// Oracle is a running `node oracle.js`. Calls are serialised; each is bounded by
// Timeout, after which the process is killed and every later call fails.
type Oracle struct {
	// SDKVersion and NodeVersion are reported by the script at start-up.
	SDKVersion  string
	NodeVersion string
	// TZOffsetMinutes is the child's zone offset (480: TZ=Asia/Shanghai took effect).
	TZOffsetMinutes int
	// Timeout bounds each call; DefaultTimeout unless changed.
	Timeout time.Duration

	cmd     *exec.Cmd
	stdin   io.WriteCloser
	lines   chan []byte
	quit    chan struct{} // closed when the process is killed
	exited  chan struct{}
	stderr  *tailBuffer
	mu      sync.Mutex
	nextID  int64
	dead    error
	killOne sync.Once
}

// Start launches the oracle and configures it with the reference test keys from
// <module root>/testdata/keys. It fails the test (never skips) when node, the
// npm packages or the test keys are missing, and kills the process at cleanup.
func Start(t testing.TB) *Oracle {
	t.Helper()
	root, err := testkeys.FindRoot()
	if err != nil {
		t.Fatalf("nodeoracle: %v", err)
	}
	nodeBin, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("nodeoracle: node is not on PATH (install Node.js >= 18, then run npm ci in %s): %v", root, err)
	}
	if _, err := os.Stat(filepath.Join(root, "node_modules", "alipay-sdk", "package.json")); err != nil {
		t.Fatalf("nodeoracle: alipay-sdk is not installed in %s/node_modules: run npm ci in %s", root, root)
	}
	keys, err := loadKeys(root)
	if err != nil {
		t.Fatalf("nodeoracle: %v", err)
	}
	dir := t.TempDir()
	scriptPath := filepath.Join(dir, "oracle.js")
	if err := os.WriteFile(scriptPath, script, 0o600); err != nil {
		t.Fatalf("nodeoracle: %v", err)
	}

	o := &Oracle{
		Timeout: DefaultTimeout,
		lines:   make(chan []byte, 1),
		quit:    make(chan struct{}),
		exited:  make(chan struct{}),
		stderr:  &tailBuffer{max: 8 << 10},
	}
	cmd := exec.Command(nodeBin, scriptPath, root)
	cmd.Dir = dir
	cmd.Env = childEnv()
	cmd.Stderr = o.stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatalf("nodeoracle: %v", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("nodeoracle: %v", err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("nodeoracle: start node: %v", err)
	}
	o.cmd, o.stdin = cmd, stdin
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		defer close(o.lines)
		r := bufio.NewReader(stdout)
		for {
			line, err := r.ReadBytes('\n')
			if len(line) > 0 && err == nil {
				select {
				case o.lines <- line:
				case <-o.quit:
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()
	go func() {
		// Wait only after stdout is drained (os/exec requirement).
		<-readerDone
		_ = cmd.Wait()
		close(o.exited)
	}()
	t.Cleanup(o.stop)

	var hello struct {
		SDKVersion      string `json:"sdk_version"`
		NodeVersion     string `json:"node_version"`
		TZOffsetMinutes int    `json:"tz_offset_minutes"`
	}
	if err := o.receive(0, startTimeout, &hello); err != nil {
		t.Fatalf("nodeoracle: start-up: %v (run npm ci in %s)", err, root)
	}
	o.SDKVersion, o.NodeVersion, o.TZOffsetMinutes = hello.SDKVersion, hello.NodeVersion, hello.TZOffsetMinutes
	if o.SDKVersion != PinnedSDKVersion {
		t.Fatalf("nodeoracle: alipay-sdk %s installed, %s pinned: run npm ci in %s", o.SDKVersion, PinnedSDKVersion, root)
	}
	if err := o.call("init", map[string]any{"keys": keys}, nil); err != nil {
		t.Fatalf("nodeoracle: init: %v", err)
	}
	return o
}

// childEnv is the test's environment with TZ=Asia/Shanghai: the SDK formats timestamps
// in the process zone, and Alipay's wall clock is China time.
func childEnv() []string {
	env := make([]string, 0, len(os.Environ())+1)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TZ=") {
			env = append(env, kv)
		}
	}
	return append(env, "TZ=Asia/Shanghai")
}

// loadKeys reads the reference test keys, in the forms merchants hand to the SDK.
func loadKeys(root string) (map[string]string, error) {
	dir := filepath.Join(root, "testdata", "keys")
	files := map[string]string{
		"app_private_key_pkcs1": "app_private_pkcs1.pem",
		"app_private_key_pkcs8": "app_private_pkcs8.txt",
		"alipay_public_key":     "alipay_public.txt",
		"app_public_key":        "app_public.pem",
		"alipay_private_key":    "alipay_private_pkcs8.pem",
	}
	keys := map[string]string{"app_id": AppID}
	for field, name := range files {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("reference test key %s: %w", name, err)
		}
		keys[field] = strings.TrimSpace(string(b))
	}
	return keys, nil
}

// stop closes stdin (the script exits when it ends) and kills the process if it has not
// exited shortly after.
func (o *Oracle) stop() {
	_ = o.stdin.Close()
	select {
	case <-o.exited:
	case <-time.After(3 * time.Second):
		o.kill()
		<-o.exited
	}
}

func (o *Oracle) kill() {
	o.killOne.Do(func() {
		close(o.quit)
		_ = o.cmd.Process.Kill()
	})
}

type reply struct {
	ID     int64           `json:"id"`
	OK     bool            `json:"ok"`
	Result json.RawMessage `json:"result"`
	Error  string          `json:"error"`
}

// call sends {id, op, ...req} and decodes the result into out (when not nil).
// An {ok:false} reply is returned as an error carrying the script's message.
func (o *Oracle) call(op string, req map[string]any, out any) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.dead != nil {
		return o.dead
	}
	o.nextID++
	id := o.nextID
	msg := make(map[string]any, len(req)+2)
	for k, v := range req {
		msg[k] = v
	}
	msg["id"], msg["op"] = id, op
	b, err := json.Marshal(msg)
	if err != nil {
		return fmt.Errorf("nodeoracle: %s: encode request: %w", op, err)
	}
	if _, err := o.stdin.Write(append(b, '\n')); err != nil {
		o.fail(fmt.Errorf("nodeoracle: %s: write request: %w", op, err))
		return o.dead
	}
	if err := o.receive(id, o.Timeout, out); err != nil {
		return fmt.Errorf("nodeoracle: %s: %w", op, err)
	}
	return nil
}

// receive waits for the reply with id. Protocol failures (timeout, exit, garbage, a
// reply out of order) kill the oracle; an {ok:false} reply does not.
func (o *Oracle) receive(id int64, timeout time.Duration, out any) error {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	var line []byte
	select {
	case l, ok := <-o.lines:
		if !ok {
			o.fail(fmt.Errorf("node exited; stderr: %s", o.stderr.String()))
			return o.dead
		}
		line = l
	case <-timer.C:
		o.fail(fmt.Errorf("no reply within %s; node killed", timeout))
		return o.dead
	}
	var r reply
	if err := json.Unmarshal(line, &r); err != nil {
		o.fail(fmt.Errorf("reply is not JSON: %w", err))
		return o.dead
	}
	if r.ID != id {
		o.fail(fmt.Errorf("reply id %d, want %d", r.ID, id))
		return o.dead
	}
	if !r.OK {
		return fmt.Errorf("%w: %s", ErrOp, r.Error)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(r.Result, out); err != nil {
		return fmt.Errorf("decode result: %w", err)
	}
	return nil
}

// fail marks the oracle dead and kills the process. Called with o.mu held or before
// the oracle is shared.
func (o *Oracle) fail(err error) {
	if o.dead == nil {
		o.dead = err
	}
	o.kill()
}

// ErrOp is wrapped by errors the script reports for one request (bad input, SDK threw);
// the oracle stays usable after them.
var ErrOp = errors.New("oracle op failed")

// SignResult is a sign content and its signature.
type SignResult struct {
	Content string `json:"content"`
	Sign    string `json:"sign"`
	// Algorithm is the node:crypto algorithm the SDK used (sign op only).
	Algorithm string `json:"algorithm"`
	// Params are the parameters the SDK returned, sign included (sign op only).
	Params map[string]string `json:"params"`
}

// Sign runs the SDK's own request signer (util.sign, as exec and sdkExecute use it) on
// params, which must include method. Common parameters in params override the SDK's
// defaults (app_id, charset, version, sign_type, timestamp); missing ones are added by
// the SDK. biz_content must be JSON object text in JSON.stringify's canonical form,
// since the SDK serialises it itself. Content is the exact string the SDK signed.
func (o *Oracle) Sign(kt KeyType, params map[string]string) (SignResult, error) {
	var r SignResult
	err := o.call("sign", map[string]any{"key_type": kt, "params": params}, &r)
	return r, err
}

// ExecRequest are the inputs of an app-pay orderStr. Blank optional fields are not
// passed to the SDK (it would sign them as `k=`).
type ExecRequest struct {
	Method       string // default alipay.trade.app.pay
	BizContent   string // JSON object text, canonical for JSON.stringify
	Timestamp    string // blank: the SDK's clock in the child's zone (Asia/Shanghai)
	NotifyURL    string
	AppAuthToken string
}

// SDKExecute returns the orderStr exactly as sdkExecute(method, params,
// {bizContentAutoSnakeCase: false}) returns it.
func (o *Oracle) SDKExecute(kt KeyType, req ExecRequest) (string, error) {
	var r struct {
		OrderStr string `json:"order_str"`
	}
	err := o.call("sdkExecute", map[string]any{
		"key_type": kt, "method": req.Method, "biz_content": req.BizContent,
		"timestamp": req.Timestamp, "notify_url": req.NotifyURL, "app_auth_token": req.AppAuthToken,
	}, &r)
	return r.OrderStr, err
}

// CheckResult is a verification verdict and the parameters it was computed over.
type CheckResult struct {
	Verified bool              `json:"verified"`
	Params   map[string]string `json:"params"`
}

// CheckOrderStr decodes orderStr with the WHATWG form parser and verifies its sign with
// the app public key through the SDK's checkNotifySignV2 (all parameters but sign,
// sorted, raw values). Duplicate keys are an ErrOp error.
func (o *Oracle) CheckOrderStr(orderStr string) (CheckResult, error) {
	var r CheckResult
	err := o.call("checkOrderStr", map[string]any{"order_str": orderStr}, &r)
	return r, err
}

// CheckNotifyV2 runs the SDK's checkNotifySignV2 on a decoded parameter map.
func (o *Oracle) CheckNotifyV2(params map[string]string) (bool, error) {
	var r CheckResult
	err := o.call("checkNotifyV2", map[string]any{"params": params}, &r)
	return r.Verified, err
}

// CheckNotifyBody decodes a raw UTF-8 form body with the WHATWG parser and runs
// checkNotifySignV2 on the result. Duplicate keys are an ErrOp error.
func (o *Oracle) CheckNotifyBody(body string) (CheckResult, error) {
	var r CheckResult
	err := o.call("checkNotifyV2", map[string]any{"body": body}, &r)
	return r, err
}

// SignNotify signs params the way Alipay signs a notification (§8.2: without sign and
// sign_type, blanks left out, sorted, raw values, RSA-SHA256 with the Alipay test key),
// using node:crypto directly.
func (o *Oracle) SignNotify(params map[string]string) (SignResult, error) {
	var r SignResult
	err := o.call("signNotify", map[string]any{"params": params}, &r)
	return r, err
}

// CheckResponse runs the SDK's checkResponseSign(raw, node, sign) with sign taken from
// the parsed body, as its exec() does. The verdict is "ok" or "throws <Error>: <message>".
func (o *Oracle) CheckResponse(raw, node string) (string, error) {
	var r struct {
		Verdict string `json:"verdict"`
	}
	err := o.call("checkResponse", map[string]any{"raw": raw, "node": node}, &r)
	return r.Verdict, err
}

// tailBuffer keeps the last max bytes written to it (node's stderr).
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
	max int
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - b.max; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.TrimSpace(string(b.buf))
}

// MatchesRecordedVerdict compares a verdict from CheckResponse with one recorded in the
// vectors' sdk blocks, where long messages are cut and end in "...": those must be a
// prefix, others must be equal.
func MatchesRecordedVerdict(got, recorded string) bool {
	if prefix, cut := strings.CutSuffix(recorded, "..."); cut {
		return strings.HasPrefix(got, prefix)
	}
	return got == recorded
}
