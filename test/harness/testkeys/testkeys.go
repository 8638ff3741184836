// Package testkeys gives tests the reference test material committed in the repository
// (<module root>/testdata: keys, certificates, vectors; see testdata/README.md) and a
// scan for key material in logs and replies. Missing reference data fails the test: it
// is the point of the tests that use it.
package testkeys

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// Root returns the module root (the folder holding go.mod).
func Root(tb testing.TB) string {
	tb.Helper()
	root, err := FindRoot()
	if err != nil {
		tb.Fatal(err)
	}
	return root
}

// FindRoot walks up from the working directory to the folder holding go.mod.
func FindRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for i := 0; i < 16; i++ {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	return "", errors.New("module root (go.mod) not found above the working directory")
}

// Dir returns the reference testdata folder, <module root>/testdata.
func Dir(tb testing.TB) string {
	tb.Helper()
	td := filepath.Join(Root(tb), "testdata")
	if _, err := os.Stat(td); err != nil {
		tb.Fatalf("reference testdata not found at %s: %v", td, err)
	}
	return td
}

// Read returns a file of the reference testdata, by path relative to it.
func Read(tb testing.TB, rel string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(Dir(tb), rel))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

var (
	once     sync.Once
	material []string
	loadErr  error
)

// Material returns strings that must never appear in logs, errors or replies: for every
// key file in testdata/keys, its whole text, its base64 body as one line, and
// 40-character windows of that body every 4 characters, so any leaked run of 44 or more
// characters is caught whether or not PEM line breaks survived.
func Material(tb testing.TB) []string {
	tb.Helper()
	dir := filepath.Join(Dir(tb), "keys")
	once.Do(func() {
		entries, err := os.ReadDir(dir)
		if err != nil {
			loadErr = err
			return
		}
		for _, e := range entries {
			if !strings.HasSuffix(e.Name(), ".pem") && !strings.HasSuffix(e.Name(), ".txt") {
				continue
			}
			b, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				loadErr = err
				return
			}
			m := Windows(b)
			if m == nil {
				loadErr = fmt.Errorf("%s: no key material found", e.Name())
				return
			}
			material = append(material, m...)
		}
		if len(material) == 0 {
			loadErr = fmt.Errorf("no test keys in %s", dir)
		}
	})
	if loadErr != nil {
		tb.Fatal(loadErr)
	}
	return material
}

// Windows returns the scan strings of one key text (PEM or one base64 line): the text,
// its body as one line and its 40-character windows; nil when there is no body.
func Windows(keyText []byte) []string {
	var body strings.Builder
	for _, line := range strings.Split(string(keyText), "\n") {
		line = strings.TrimSpace(line)
		if line != "" && !strings.HasPrefix(line, "-----") {
			body.WriteString(line)
		}
	}
	full := body.String()
	if len(full) < 16 {
		return nil
	}
	out := []string{strings.TrimSpace(string(keyText)), full}
	for start := 0; start+40 <= len(full); start += 4 {
		out = append(out, full[start:start+40])
	}
	return out
}

// Leaks returns the scan strings found in text, checking the reference keys and any
// extra key texts (e.g. keys a test generated).
func Leaks(tb testing.TB, text string, extra ...[]byte) []string {
	tb.Helper()
	scan := Material(tb)
	for _, k := range extra {
		scan = append(append([]string(nil), scan...), Windows(k)...)
	}
	var hits []string
	for _, m := range scan {
		if strings.Contains(text, m) {
			hits = append(hits, m)
		}
	}
	return hits
}

// AssertNoKeyMaterial fails the test if text (named what) holds key material.
func AssertNoKeyMaterial(tb testing.TB, what, text string, extra ...[]byte) {
	tb.Helper()
	for _, m := range Leaks(tb, text, extra...) {
		tb.Errorf("%s contains key material (%d chars beginning %.6q...)", what, len(m), m)
	}
}

// Buffer is a bytes.Buffer safe for concurrent writers (slog handlers, child processes'
// output), for tests that read what was written.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Logger returns a JSON logger at debug level writing to a Buffer that is scanned for
// key material when the test ends.
func Logger(tb testing.TB) (*slog.Logger, *Buffer) {
	tb.Helper()
	buf := &Buffer{}
	tb.Cleanup(func() { AssertNoKeyMaterial(tb, "log output", buf.String()) })
	return slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}
