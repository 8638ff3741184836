package docrefs

import (
	"bufio"
	"fmt"
	"go/scanner"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"unicode"
)

// docIndex is what citations can resolve to: per docs file, its numbered sections
// ("8.2", "L9.2", "000") and its GitHub heading anchors.
type docIndex map[string]*docFile

type docFile struct {
	sections map[string]bool
	anchors  map[string]bool
}

var (
	reNumbered = regexp.MustCompile(`^(L?\d+(?:\.\d+)*)\.?(?:\s|$)`) // "8.2 Decoding", "L0. Source keys"
	reSeedHead = regexp.MustCompile(`(?i)^seed (\d{3})\b`)
)

// indexDocs builds the index from docs file contents keyed by base name ("protocol.md").
func indexDocs(files map[string]string) docIndex {
	idx := docIndex{}
	for name, text := range files {
		f := &docFile{sections: map[string]bool{}, anchors: map[string]bool{}}
		seen := map[string]int{}
		fenced := false
		for _, line := range strings.Split(text, "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), "```") {
				fenced = !fenced
				continue
			}
			if fenced || !strings.HasPrefix(line, "#") {
				continue
			}
			title := strings.TrimSpace(strings.TrimLeft(line, "#"))
			if m := reNumbered.FindStringSubmatch(title); m != nil {
				f.sections[m[1]] = true
			}
			if m := reSeedHead.FindStringSubmatch(title); m != nil {
				f.sections[m[1]] = true
			}
			a := anchor(title)
			if n := seen[a]; n > 0 {
				f.anchors[fmt.Sprintf("%s-%d", a, n)] = true
			} else {
				f.anchors[a] = true
			}
			seen[a]++
		}
		idx[name] = f
	}
	return idx
}

// anchor is GitHub's heading slug: lower case, punctuation dropped, spaces to '-'.
func anchor(title string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(title) {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '_':
			b.WriteRune(r)
		case r == ' ':
			b.WriteByte('-')
		}
	}
	return b.String()
}

// ref is one citation found; problem is empty when it resolves.
type ref struct {
	file    string
	line    int
	text    string
	problem string
}

var (
	reSection = regexp.MustCompile(`§ ?(\d+(?:\.\d+)*)`)
	// An L-citation starts a word (start, space, bracket, comma, en dash) and is not
	// followed by a letter, digit or '_', so identifiers such as HL1 or L1Cache never match.
	reLife     = regexp.MustCompile(`(?:^|[\s(\[,;–])(L\d+(?:\.\d+)*)`)
	reDocsPath = regexp.MustCompile(`docs/([A-Za-z0-9_.-]+\.md)(?:#([A-Za-z0-9_-]+)| (§ ?\d+(?:\.\d+)*|L\d+(?:\.\d+)*))?`)
	reLegacy   = regexp.MustCompile(`\b(?:DESIGN(?:-LIFECYCLE)?|ALIPAY_(?:PROTOCOL|LIFECYCLE))(?:\.md)?\b|\bseeds/`)
	reShared   = regexp.MustCompile(`\.\./shared\b`)
	reSeed     = regexp.MustCompile(`(?i)\bseed (\d{3})\b`)
	reMdLink   = regexp.MustCompile(`\]\(([A-Za-z0-9_./-]*\.md)?(?:#([^)\s]+))?\)`)
)

// checker scans texts against an index. sharedAllowed lists files that may still name
// the reference folder beside the checkout.
type checker struct {
	idx           docIndex
	exists        func(path string) bool
	sharedAllowed map[string]bool
}

func (c *checker) section(doc, sec string) string {
	f := c.idx[doc]
	if f == nil {
		return fmt.Sprintf("docs/%s does not exist", doc)
	}
	if !f.sections[sec] {
		return fmt.Sprintf("docs/%s has no section %s", doc, sec)
	}
	return ""
}

// scanText returns every citation in text (a file of the repository at path).
func (c *checker) scanText(path, text string) []ref {
	var out []ref
	lineNo := 1
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		out = append(out, c.scanLine(path, lineNo, sc.Text())...)
		lineNo++
	}
	return out
}

func (c *checker) scanLine(path string, n int, line string) []ref {
	var out []ref
	add := func(text, problem string) { out = append(out, ref{path, n, text, problem}) }
	// Spans already handled as part of an explicit docs/<file>.md citation.
	var covered [][]int
	for _, m := range reDocsPath.FindAllStringSubmatchIndex(line, -1) {
		if m[0] > 0 && strings.ContainsRune("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_./-", rune(line[m[0]-1])) {
			continue // another project's docs/ folder (v3/docs/X.md), not ours
		}
		covered = append(covered, m[:2])
		doc := line[m[2]:m[3]]
		text := line[m[0]:m[1]]
		switch {
		case c.idx[doc] == nil:
			add(text, fmt.Sprintf("docs/%s does not exist", doc))
		case m[4] >= 0:
			if a := line[m[4]:m[5]]; !c.idx[doc].anchors[a] {
				add(text, fmt.Sprintf("docs/%s has no heading #%s", doc, a))
			} else {
				add(text, "")
			}
		case m[6] >= 0:
			add(text, c.section(doc, strings.TrimPrefix(strings.ReplaceAll(line[m[6]:m[7]], " ", ""), "§")))
		default:
			add(text, "")
		}
	}
	inCovered := func(i int) bool {
		for _, s := range covered {
			if i >= s[0] && i < s[1] {
				return true
			}
		}
		return false
	}
	for _, m := range reSection.FindAllStringSubmatchIndex(line, -1) {
		if !inCovered(m[0]) {
			add(line[m[0]:m[1]], c.section("protocol.md", line[m[2]:m[3]]))
		}
	}
	for _, m := range reLife.FindAllStringSubmatchIndex(line, -1) {
		if inCovered(m[2]) {
			continue
		}
		if end := m[3]; end < len(line) {
			if r := rune(line[end]); r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) {
				continue
			}
		}
		add(line[m[2]:m[3]], c.section("lifecycle.md", line[m[2]:m[3]]))
	}
	for _, m := range reSeed.FindAllStringSubmatch(line, -1) {
		add(m[0], c.section("seeds.md", m[1]))
	}
	for _, m := range reLegacy.FindAllString(line, -1) {
		add(m, "names a note that is not in the repository; cite docs/ instead (docs/README.md)")
	}
	if !c.sharedAllowed[path] {
		for _, m := range reShared.FindAllString(line, -1) {
			add(m, "points outside the repository")
		}
	}
	// Relative Markdown links, in Markdown files only.
	if strings.HasSuffix(path, ".md") {
		for _, m := range reMdLink.FindAllStringSubmatchIndex(line, -1) {
			if m[2] >= 0 && inCovered(m[2]) {
				continue // already checked as a docs/ citation
			}
			target := path
			if m[2] >= 0 {
				target = filepath.ToSlash(filepath.Join(filepath.Dir(path), line[m[2]:m[3]]))
			} else if m[4] < 0 {
				continue
			}
			text := line[m[0]:m[1]]
			switch {
			case !c.exists(target):
				add(text, fmt.Sprintf("%s does not exist", target))
			case m[4] >= 0 && strings.HasPrefix(target, "docs/"):
				a := line[m[4]:m[5]]
				if f := c.idx[strings.TrimPrefix(target, "docs/")]; f == nil || !f.anchors[a] {
					add(text, fmt.Sprintf("%s has no heading #%s", target, a))
				} else {
					add(text, "")
				}
			default:
				add(text, "")
			}
		}
	}
	return out
}

// scanFile scans one repository file: Go files by their comments and string literals
// only (so code identifiers never count), everything else as text.
func (c *checker) scanFile(path string, src []byte) []ref {
	if !strings.HasSuffix(path, ".go") {
		return c.scanText(path, string(src))
	}
	var out []ref
	fset := token.NewFileSet()
	tf := fset.AddFile(path, -1, len(src))
	var s scanner.Scanner
	s.Init(tf, src, nil, scanner.ScanComments)
	for {
		pos, tok, lit := s.Scan()
		if tok == token.EOF {
			break
		}
		if tok != token.COMMENT && tok != token.STRING {
			continue
		}
		first := fset.Position(pos).Line
		for i, l := range strings.Split(lit, "\n") {
			out = append(out, c.scanLine(path, first+i, l)...)
		}
	}
	return out
}

// ---- the real repository ------------------------------------------------------------

// sharedAllowed: files that may name paths outside the repository. None may: a clone
// of the repository alone builds and tests.
var sharedAllowed = map[string]bool{}

func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		dir = filepath.Dir(dir)
	}
	t.Fatal("go.mod not found above the test's directory")
	return ""
}

// scanned reports whether a repository file is one whose citations are checked.
func scanned(p string) bool {
	// This package's own fixtures cite dangling sections on purpose.
	if strings.HasPrefix(p, "test/docrefs/") {
		return false
	}
	if strings.HasPrefix(p, "node_modules/") || strings.Contains(p, "/testdata/") || strings.HasPrefix(p, "testdata/") {
		return false
	}
	dir, base := filepath.Dir(p), filepath.Base(p)
	switch {
	case strings.HasSuffix(p, ".go"), strings.HasSuffix(p, ".js"):
		return true
	case dir == "." && (strings.HasSuffix(p, ".md") || base == "Makefile" || base == "openapi.yaml" ||
		base == "template.yaml" || base == "samconfig.toml"):
		return true
	case dir == "docs" && strings.HasSuffix(p, ".md"):
		return true
	case dir == "scripts", dir == ".ci":
		return true
	}
	return false
}

// repoFiles lists the repository's files: git's view (tracked and not ignored) when git
// is there, else a walk that skips .git and node_modules.
func repoFiles(t *testing.T, root string) []string {
	t.Helper()
	var files []string
	cmd := exec.Command("git", "ls-files", "--cached", "--others", "--exclude-standard")
	cmd.Dir = root
	if out, err := cmd.Output(); err == nil {
		for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if l != "" {
				files = append(files, l)
			}
		}
	} else {
		err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && (d.Name() == ".git" || d.Name() == "node_modules") {
				return filepath.SkipDir
			}
			if !d.IsDir() {
				rel, _ := filepath.Rel(root, p)
				files = append(files, filepath.ToSlash(rel))
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	sort.Strings(files)
	return files
}

func realChecker(t *testing.T, root string) *checker {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(root, "docs"))
	if err != nil {
		t.Fatalf("docs/: %v", err)
	}
	docs := map[string]string{}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".md") {
			b, err := os.ReadFile(filepath.Join(root, "docs", e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			docs[e.Name()] = string(b)
		}
	}
	return &checker{
		idx: indexDocs(docs),
		exists: func(p string) bool {
			_, err := os.Stat(filepath.Join(root, filepath.FromSlash(p)))
			return err == nil
		},
		sharedAllowed: sharedAllowed,
	}
}

// TestRepoDocRefsResolve is the check itself: every citation in the repository resolves.
func TestRepoDocRefsResolve(t *testing.T) {
	root := repoRoot(t)
	c := realChecker(t, root)
	var refs []ref
	files := 0
	for _, p := range repoFiles(t, root) {
		if !scanned(p) {
			continue
		}
		src, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(p)))
		if os.IsNotExist(err) {
			continue // deleted in the work tree, still in git's index
		}
		if err != nil {
			t.Fatal(err)
		}
		files++
		refs = append(refs, c.scanFile(p, src)...)
	}
	kinds := map[string]int{}
	for _, r := range refs {
		if r.problem != "" {
			t.Errorf("%s:%d: %q: %s", r.file, r.line, r.text, r.problem)
		}
		switch {
		case strings.HasPrefix(r.text, "§"):
			kinds["§"]++
		case strings.HasPrefix(r.text, "L"):
			kinds["L"]++
		default:
			kinds["other"]++
		}
	}
	t.Logf("%d files scanned, %d references (%d §, %d L, %d docs paths, links and seeds)",
		files, len(refs), kinds["§"], kinds["L"], kinds["other"])
	// A scanner that silently found nothing would pass; the code cites the protocol notes
	// about a hundred times.
	if kinds["§"] < 80 {
		t.Errorf("only %d § citations found; the scan is not seeing the code", kinds["§"])
	}
}

// TestRepoDocsNumbering pins the section numbers code relies on: protocol §0–§14,
// lifecycle L0–L13.
func TestRepoDocsNumbering(t *testing.T) {
	c := realChecker(t, repoRoot(t))
	for i := 0; i <= 14; i++ {
		if p := c.section("protocol.md", fmt.Sprint(i)); p != "" {
			t.Error(p)
		}
	}
	for i := 0; i <= 13; i++ {
		if p := c.section("lifecycle.md", fmt.Sprintf("L%d", i)); p != "" {
			t.Error(p)
		}
	}
	for _, s := range []string{"000", "003"} {
		if p := c.section("seeds.md", s); p != "" {
			t.Error(p)
		}
	}
}
