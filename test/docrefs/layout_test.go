package docrefs

import (
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// layoutPaths returns the folders the README's "Layout" table names: every `code` span
// of a row's first cell, brace alternatives expanded (`functions/{a,b}`), trailing
// slashes dropped. A path ending in "/*" covers every folder below it.
func layoutPaths(readme string) (exact map[string]bool, prefixes []string) {
	exact = map[string]bool{}
	start := strings.Index(readme, "\n## Layout\n")
	if start < 0 {
		return exact, nil
	}
	sec := readme[start+1:]
	if end := strings.Index(sec, "\n## "); end >= 0 {
		sec = sec[:end]
	}
	reCode := regexp.MustCompile("`([^`]+)`")
	for _, line := range strings.Split(sec, "\n") {
		cells := strings.Split(line, "|")
		if !strings.HasPrefix(line, "| `") || len(cells) < 3 {
			continue
		}
		for _, m := range reCode.FindAllStringSubmatch(cells[1], -1) {
			for _, p := range expandBraces(m[1]) {
				if strings.HasSuffix(p, "/*") {
					prefixes = append(prefixes, strings.TrimSuffix(p, "*"))
					continue
				}
				exact[strings.TrimSuffix(p, "/")] = true
			}
		}
	}
	return exact, prefixes
}

// expandBraces expands the first {a,b,…} group of p, recursively.
func expandBraces(p string) []string {
	i := strings.Index(p, "{")
	j := strings.Index(p, "}")
	if i < 0 || j < i {
		return []string{p}
	}
	var out []string
	for _, alt := range strings.Split(p[i+1:j], ",") {
		out = append(out, expandBraces(p[:i]+alt+p[j+1:])...)
	}
	return out
}

func TestReadmeLayoutListsEveryFolder(t *testing.T) {
	root := repoRoot(t)
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	exact, prefixes := layoutPaths(string(readme))
	if len(exact) < 20 {
		t.Fatalf("only %d paths read from the README's layout table; is the table still there?", len(exact))
	}
	dirs := map[string]bool{}
	for _, f := range repoFiles(t, root) {
		if d := path.Dir(f); d != "." && !strings.HasPrefix(d, "node_modules") {
			dirs[d] = true
		}
	}
next:
	for d := range dirs {
		if exact[d] {
			continue
		}
		for _, p := range prefixes {
			if strings.HasPrefix(d+"/", p) {
				continue next
			}
		}
		t.Errorf("README.md's layout table does not list the folder %s", d)
	}
}

func TestLayoutPathsExpandsRows(t *testing.T) {
	readme := "# x\n\n## Layout\n\n| path | what |\n|---|---|\n" +
		"| `functions/{a,b}`, `.ci/` | x |\n| `t/fuzz/*` | y |\n| not a row |\n\n## Next\n\n| `other` | z |\n"
	exact, prefixes := layoutPaths(readme)
	for _, want := range []string{"functions/a", "functions/b", ".ci"} {
		if !exact[want] {
			t.Errorf("%s not read: %v", want, exact)
		}
	}
	if exact["other"] || len(exact) != 3 {
		t.Errorf("read %v", exact)
	}
	if len(prefixes) != 1 || prefixes[0] != "t/fuzz/" {
		t.Errorf("prefixes %v", prefixes)
	}
}
