package deploytest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/alipay-serverless/alipay-serverless/test/harness/testkeys"
)

// The entry-point tests run each bootstrap under AWS's Lambda Runtime Interface Emulator
// (the Runtime API that `sam local` and the Lambda base images use), pinned here and
// installed by `make deps` and .ci/run with the same version.
const (
	emulatorModule  = "github.com/aws/aws-lambda-runtime-interface-emulator"
	emulatorVersion = "v0.0.0-20261030222936-bef5c4ba774d"
	emulatorCmd     = "aws-lambda-rie"
	emulatorInstall = "go install " + emulatorModule + "/cmd/" + emulatorCmd + "@" + emulatorVersion
	// invokePath is the emulator's one endpoint: the body is the event, the reply the
	// function's response (or its error document).
	invokePath = "/2015-03-31/functions/function/invocations"
)

// emulatorProcAttr is set where the platform can tie the emulator's life to ours.
var emulatorProcAttr *syscall.SysProcAttr

var emulatorPath = sync.OnceValues(func() (string, error) {
	return findEmulator(exec.LookPath, goBinDirs())
})

// goBinDirs is where `go install` puts binaries: GOBIN if set, else GOPATH's first
// entry + /bin.
func goBinDirs() []string {
	out, err := exec.Command("go", "env", "GOBIN", "GOPATH").Output()
	if err != nil {
		return nil
	}
	// One line each, GOBIN's empty when unset.
	lines := strings.Split(string(out), "\n")
	var dirs []string
	if gobin := strings.TrimSpace(lines[0]); gobin != "" {
		dirs = append(dirs, gobin)
	}
	if len(lines) > 1 {
		if gopath := filepath.SplitList(strings.TrimSpace(lines[1])); len(gopath) > 0 && gopath[0] != "" {
			dirs = append(dirs, filepath.Join(gopath[0], "bin"))
		}
	}
	return dirs
}

// findEmulator looks for the emulator on PATH, then in dirs, and checks it was built
// from the pinned version. A missing or different emulator is an error naming the
// install command: the entry-point tests fail without it, they never skip.
func findEmulator(lookPath func(string) (string, error), dirs []string) (string, error) {
	path, err := lookPath(emulatorCmd)
	if err != nil {
		for _, d := range dirs {
			if st, serr := os.Stat(filepath.Join(d, emulatorCmd)); serr == nil && !st.IsDir() {
				path, err = filepath.Join(d, emulatorCmd), nil
				break
			}
		}
	}
	if err != nil {
		return "", fmt.Errorf("%s not found on PATH or in %s: install it with `%s` (or `make deps`)",
			emulatorCmd, strings.Join(dirs, ", "), emulatorInstall)
	}
	info, err := exec.Command("go", "version", "-m", path).Output()
	if err != nil {
		return "", fmt.Errorf("%s at %s is not a Go binary go can read (%v): reinstall it with `%s`", emulatorCmd, path, err, emulatorInstall)
	}
	if !bytes.Contains(info, []byte(emulatorModule+"\t"+emulatorVersion)) {
		return "", fmt.Errorf("%s at %s is not version %s: install it with `%s`", emulatorCmd, path, emulatorVersion, emulatorInstall)
	}
	return path, nil
}

// freeLoopbackAddr reserves a free 127.0.0.1 port for a process to bind next. Another
// process may take it in between; startEmulator retries when that happens.
func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// emulator is one aws-lambda-rie process running one function's bootstrap.
type emulator struct {
	fn     string
	invoke string // URL of the invoke endpoint
	logs   *testkeys.Buffer
}

// startEmulator runs bootstrap under the emulator with exactly env as its environment
// (the emulator hands its own environment to the function, as Lambda hands the
// function's configuration). Both of its listeners are on loopback ports of our own:
// the invoke endpoint, and the Runtime API it gives the bootstrap as
// AWS_LAMBDA_RUNTIME_API (by default 127.0.0.1:9001, which would collide between the
// several emulators a test runs). The bootstrap starts at the first invocation, as a
// cold start does.
func startEmulator(t *testing.T, fn, bootstrap string, env []string) *emulator {
	return startEmulatorOn(t, fn, bootstrap, env, freeLoopbackAddr)
}

// startEmulatorOn is startEmulator with the ports from pick (the invoke endpoint's, then
// the Runtime API's, for each attempt).
func startEmulatorOn(t *testing.T, fn, bootstrap string, env []string, pick func(t *testing.T) string) *emulator {
	t.Helper()
	rie, err := emulatorPath()
	if err != nil {
		t.Fatal(err)
	}
	const attempts = 3
	for attempt := 1; ; attempt++ {
		invokeAddr, runtimeAddr := pick(t), pick(t)
		e := &emulator{fn: fn, invoke: "http://" + invokeAddr + invokePath, logs: &testkeys.Buffer{}}
		cmd := exec.Command(rie, "--log-level", "warn",
			"--runtime-interface-emulator-address", invokeAddr, "--runtime-api-address", runtimeAddr, bootstrap)
		cmd.Env = env
		cmd.Dir = filepath.Dir(bootstrap)
		cmd.SysProcAttr = emulatorProcAttr
		cmd.Stdout, cmd.Stderr = e.logs, e.logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		t.Cleanup(func() { stopEmulator(t, cmd, exited, e) })
		if err := waitStarted(invokeAddr, runtimeAddr, exited); err == nil {
			return e
		} else if attempt == attempts {
			t.Fatalf("%s: the emulator did not start: %v\n%s", fn, err, e.logs.String())
		}
	}
}

// waitStarted waits for both of the emulator's listeners. It binds them concurrently
// (the Runtime API in a goroutine of its own, which panics when its port was taken), so
// the invoke endpoint answering says nothing of the other: once both accept, the
// process must still be there a moment later. A port taken by another process's
// listener also accepts, hence that last check.
func waitStarted(invokeAddr, runtimeAddr string, exited <-chan struct{}) error {
	for _, addr := range []string{invokeAddr, runtimeAddr} {
		if err := waitListening(addr, exited); err != nil {
			return err
		}
	}
	select {
	case <-exited:
		return errors.New("exited after listening (a port was taken)")
	case <-time.After(200 * time.Millisecond):
		return nil
	}
}

// waitListening waits, at most 10 s, for addr to accept connections, or for the process
// to end first (its port was taken).
func waitListening(addr string, exited <-chan struct{}) error {
	for range 500 {
		select {
		case <-exited:
			return errors.New("exited before listening")
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return errors.New("not listening on " + addr + " after 10 s")
}

// stopEmulator ends the emulator with SIGTERM, on which it stops the bootstrap, and
// kills it if it is still there after 5 s.
func stopEmulator(t *testing.T, cmd *exec.Cmd, exited <-chan struct{}, e *emulator) {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
	}
	if t.Failed() {
		t.Logf("%s (emulator and bootstrap) output:\n%s", e.fn, e.logs.String())
	}
}

// call posts one event (JSON bytes as they are, anything else marshalled) to the invoke
// endpoint and returns the emulator's status and body: 200 with the function's response
// or error document, 502 with the error document when init failed.
func (e *emulator) call(t *testing.T, event any) (int, []byte) {
	t.Helper()
	payload, ok := event.([]byte)
	if !ok {
		var err error
		if payload, err = json.Marshal(event); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.invoke, bytes.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s: invoke: %v", e.fn, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 6<<20))
	if err != nil {
		t.Fatalf("%s: invoke reply: %v", e.fn, err)
	}
	return resp.StatusCode, body
}

// functionError is the error document Lambda returns for a failed init or invocation.
type functionError struct {
	ErrorMessage string `json:"errorMessage"`
	ErrorType    string `json:"errorType"`
}

// lambdaEnv is what Lambda sets from a function's configuration in template.yaml:
// timeout (Globals or the function's own) and memory size.
func lambdaEnv(t *testing.T, fn string) []string {
	t.Helper()
	tpl := loadTemplate(t)
	props := get(tpl, "Resources", logicalIDs[fn], "Properties")
	var env []string
	for key, name := range map[string]string{"Timeout": "AWS_LAMBDA_FUNCTION_TIMEOUT", "MemorySize": "AWS_LAMBDA_FUNCTION_MEMORY_SIZE"} {
		v := get(props, key)
		if v == nil {
			v = get(tpl, "Globals", "Function", key)
		}
		n, ok := v.(int)
		if !ok {
			t.Fatalf("template.yaml: %s has no integer %s (own or Globals.Function)", logicalIDs[fn], key)
		}
		env = append(env, name+"="+strconv.Itoa(n))
	}
	return env
}

// TestEmulatorStartsAgainWhenItsRuntimePortIsTaken: another process took the Runtime
// API's port between our pick and the emulator's bind (the emulator panics); the
// emulator is started again on other ports. Whether its invoke endpoint answered before
// the panic is up to the scheduler (it did once, under a parallel `go test ./...`,
// which waitStarted's last check is for); either way a second attempt must follow.
func TestEmulatorStartsAgainWhenItsRuntimePortIsTaken(t *testing.T) {
	thief, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer thief.Close()
	picks := 0
	pick := func(t *testing.T) string {
		picks++
		if picks == 2 { // the first attempt's Runtime API port
			return thief.Addr().String()
		}
		return freeLoopbackAddr(t)
	}
	// The bootstrap starts only at the first invocation, so any file will do here.
	e := startEmulatorOn(t, "portclash", "/bin/true", []string{"AWS_LAMBDA_FUNCTION_TIMEOUT=3"}, pick)
	if picks != 4 {
		t.Fatalf("%d ports picked, want 4 (a second attempt)", picks)
	}
	if c, err := net.DialTimeout("tcp", strings.TrimPrefix(strings.TrimSuffix(e.invoke, invokePath), "http://"), time.Second); err != nil {
		t.Fatalf("the second emulator does not answer: %v", err)
	} else {
		c.Close()
	}
}

func TestEmulatorMissingOrUnpinnedFailsNamingTheInstallCommand(t *testing.T) {
	// This test binary is a Go binary built from another module: an emulator of the
	// wrong version as far as `go version -m` can tell.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		lookPath func(string) (string, error)
		want     string
	}{
		{"missing", func(string) (string, error) { return "", exec.ErrNotFound }, "not found on PATH or in"},
		{"other_version", func(string) (string, error) { return self, nil }, "is not version " + emulatorVersion},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := findEmulator(tt.lookPath, []string{t.TempDir()})
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), emulatorInstall) {
				t.Fatalf("err = %v, want one saying %q and naming `%s`", err, tt.want, emulatorInstall)
			}
		})
	}
}

func TestEmulatorVersionIsPinnedInMakefileAndCI(t *testing.T) {
	want := map[string][]string{
		"Makefile": {"RIE_VERSION := " + emulatorVersion + "\n", "go install " + emulatorModule + "/cmd/" + emulatorCmd + "@$(RIE_VERSION)"},
		".ci/run":  {emulatorInstall + "\n"},
	}
	for f, lines := range want {
		b, err := os.ReadFile(filepath.Join(moduleRoot(t), f))
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range lines {
			if !strings.Contains(strings.ReplaceAll(string(b), "$(GO) install", "go install"), l) {
				t.Errorf("%s lacks %q: the tests expect %s %s", f, strings.TrimSpace(l), emulatorCmd, emulatorVersion)
			}
		}
	}
}
