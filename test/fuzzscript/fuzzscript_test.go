// Package fuzzscript tests scripts/fuzz.sh, the fuzzing step of `make test`: a failing
// input fails it, a fuzzing engine that stops without one is given another attempt.
package fuzzscript

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const fuzzTest = `package p

import "testing"

func FuzzTarget(f *testing.F) {
	f.Add([]byte("a"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if FAILS && string(b) != "a" { // the first input the engine makes fails
			t.Fatal("found")
		}
	})
}
`

// engineStops is a stand-in for the go command whose first `failures` test runs stop as
// Go's fuzzing engine does when starved: non-zero, no failing input written.
const engineStops = `#!/usr/bin/env bash
n=$(cat "$STATE" 2>/dev/null || echo 0)
if [[ " $* " == *" -fuzz="* ]] && [ "$n" -lt "$FAILURES" ]; then
  echo $((n + 1)) > "$STATE"
  echo "context deadline exceeded"
  exit 1
fi
exec go "$@"
`

func TestFuzzScript(t *testing.T) {
	script, err := filepath.Abs("../../scripts/fuzz.sh")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name          string
		findsInput    bool
		engineStops   int // attempts the engine fails without writing an input
		wantOK        bool
		wantOutput    string
		wantCorpusNew bool
	}{
		{name: "a clean target passes", wantOK: true, wantOutput: "fuzz: 1 targets passed"},
		{name: "a failing input fails at once and is kept", findsInput: true, wantOutput: "found a failing input", wantCorpusNew: true},
		{name: "an engine stop is retried", engineStops: 2, wantOK: true, wantOutput: "attempt 2 of 3"},
		{name: "an engine that never completes fails", engineStops: 3, wantOutput: "did not complete in 3 attempts"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			write(t, filepath.Join(dir, "go.mod"), "module example.com/fz\n\ngo 1.22\n")
			src := strings.Replace(fuzzTest, "FAILS", map[bool]string{true: "true", false: "false"}[tc.findsInput], 1)
			write(t, filepath.Join(dir, "p", "p_test.go"), src)
			goCmd := "go"
			env := os.Environ()
			if tc.engineStops > 0 {
				goCmd = filepath.Join(dir, "fakego")
				write(t, goCmd, engineStops)
				if err := os.Chmod(goCmd, 0o755); err != nil {
					t.Fatal(err)
				}
				env = append(env, "STATE="+filepath.Join(dir, "state"), "FAILURES="+string(rune('0'+tc.engineStops)))
			}
			cmd := exec.Command(script)
			cmd.Dir = dir
			cmd.Env = append(env, "GO="+goCmd, "FUZZTIME=200x", "GOFLAGS=-mod=mod")
			out, err := cmd.CombinedOutput()
			if ok := err == nil; ok != tc.wantOK {
				t.Fatalf("ok = %v, want %v; output:\n%s", ok, tc.wantOK, out)
			}
			if !strings.Contains(string(out), tc.wantOutput) {
				t.Errorf("output lacks %q:\n%s", tc.wantOutput, out)
			}
			kept, _ := os.ReadDir(filepath.Join(dir, "p", "testdata", "fuzz", "FuzzTarget"))
			if got := len(kept) > 0; got != tc.wantCorpusNew {
				t.Errorf("failing input kept = %v, want %v", got, tc.wantCorpusNew)
			}
		})
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
