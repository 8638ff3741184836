package nodeoracle

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/alipay-serverless/alipay-serverless/test/harness/testkeys"
)

// The committed vectors are what the pinned official SDK produces from their inputs:
// scripts/vectors/gen.js (make vectors) regenerates them into a temp dir and every file
// must come back byte for byte. A hand edit of a signature, sign content, SN or SDK
// verdict fails here.
func TestCommittedVectorsMatchTheSDK(t *testing.T) {
	root := testkeys.Root(t)
	nodeBin, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is not on PATH (install Node.js >= 18, then npm ci in %s): %v", root, err)
	}
	out := t.TempDir()
	cmd := exec.Command(nodeBin, filepath.Join(root, "scripts", "vectors", "gen.js"), root, out)
	cmd.Env = childEnv()
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("gen.js: %v\n%s", err, b)
	}
	committed, err := filepath.Glob(filepath.Join(root, "testdata", "vectors", "*.json"))
	if err != nil || len(committed) == 0 {
		t.Fatalf("no committed vectors (%v)", err)
	}
	generated, _ := filepath.Glob(filepath.Join(out, "*.json"))
	if len(generated) != len(committed) {
		t.Errorf("gen.js wrote %d files, %d are committed", len(generated), len(committed))
	}
	for _, path := range committed {
		name := filepath.Base(path)
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(out, name))
		if err != nil {
			t.Errorf("%s: not generated: %v", name, err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("testdata/vectors/%s differs from a fresh generation (make vectors rewrites it); %s", name, firstDiff(want, got))
		}
	}
}

// firstDiff names the first line where committed and generated text differ.
func firstDiff(committed, generated []byte) string {
	a, b := strings.Split(string(committed), "\n"), strings.Split(string(generated), "\n")
	for i := 0; i < len(a) || i < len(b); i++ {
		var x, y string
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if x != y {
			return fmt.Sprintf("line %d:\n  committed: %s\n  generated: %s", i+1, clip(x), clip(y))
		}
	}
	return "same lines, different bytes"
}

func clip(s string) string {
	if len(s) > 160 {
		return s[:160] + "..."
	}
	return s
}
