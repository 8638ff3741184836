// Package samvalidate checks AWS SAM / CloudFormation templates offline: the SAM JSON
// schema, the CloudFormation resource provider schemas and a set of
// cross-reference checks (Ref, Fn::GetAtt, Fn::Sub, conditions, mappings,
// SAM policy templates, HTTP API authorizers, DynamoDB keys, parameters,
// outputs). The schema data is embedded (schemas/, trimmed to the resource types
// this project's template uses); cmd/samvalidate is the command line, and
// test/deploytest runs it in-process on template.yaml.
package samvalidate

import (
	"embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"regexp"
	"sort"
	"strings"
	"time"

	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

var printer = message.NewPrinter(language.English)

type regexps []*regexp.Regexp

func (r *regexps) String() string { return fmt.Sprint(*r) }
func (r *regexps) Set(s string) error {
	re, err := regexp.Compile(s)
	if err != nil {
		return err
	}
	*r = append(*r, re)
	return nil
}

type severity int

const (
	sevError severity = iota
	sevWarning
)

type Finding struct {
	Sev severity
	Ptr string // JSON pointer into the template
	Pos Pos
	Msg string
}

func (t *Template) pos(ptr string) Pos {
	for p := ptr; ; {
		if pos, ok := t.ValPos[p]; ok {
			return pos
		}
		i := strings.LastIndex(p, "/")
		if i < 0 {
			return Pos{}
		}
		p = p[:i]
	}
}

func humanPtr(ptr string) string {
	parts := strings.Split(strings.TrimPrefix(ptr, "/"), "/")
	for i, p := range parts {
		parts[i] = strings.ReplaceAll(strings.ReplaceAll(p, "~1", "/"), "~0", "~")
	}
	return strings.Join(parts, ".")
}

//go:embed schemas/*.json
var embedded embed.FS

// Embedded loads the schema data built into the package.
func Embedded() (*Schemas, error) {
	sub, err := fs.Sub(embedded, "schemas")
	if err != nil {
		return nil, err
	}
	return LoadSchemas(sub)
}

// Options select how findings are reported.
type Options struct {
	Strict bool             // warnings count as failures
	Quiet  bool             // print errors only, no warnings and no summary for clean files
	Ignore []*regexp.Regexp // findings whose "path: message" matches one are not reported
}

// Failed reports whether a file with errs errors and warns warnings fails under o.
func (o Options) Failed(errs, warns int) bool { return errs > 0 || (o.Strict && warns > 0) }

// Main is the command line: it returns the exit status, 0 no errors, 1 errors found
// (or warnings with -strict), 2 cannot run (bad usage, unreadable schema files).
func Main(args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("samvalidate", flag.ContinueOnError)
	fl.SetOutput(stderr)
	var ignores regexps
	schemaDir := fl.String("schemas", "", "folder holding sam.schema.json, sam-policy-templates.json and cloudformation-resource-schemas.json (default: the data built in)")
	strict := fl.Bool("strict", false, "treat warnings as errors")
	quiet := fl.Bool("q", false, "print errors only, no warnings and no summary for clean files")
	timing := fl.Bool("time", false, "print how long each step took")
	fl.Var(&ignores, "ignore", "regular expression; findings whose \"path: message\" matches it are not reported (repeatable)")
	fl.Usage = func() {
		fmt.Fprintf(stderr, "usage: samvalidate [-strict] [-q] [-ignore REGEX]... template.yaml [more.yaml ...]\n")
		fl.PrintDefaults()
	}
	if err := fl.Parse(args); err != nil {
		return 2
	}
	if fl.NArg() == 0 {
		fl.Usage()
		return 2
	}
	t0 := time.Now()
	var s *Schemas
	var err error
	if *schemaDir != "" {
		s, err = LoadSchemas(os.DirFS(*schemaDir))
	} else {
		s, err = Embedded()
	}
	if err != nil {
		fmt.Fprintf(stderr, "samvalidate: cannot load schemas: %v\n", err)
		return 2
	}
	if *timing {
		fmt.Fprintf(stderr, "schemas loaded in %v\n", time.Since(t0).Round(time.Millisecond))
	}
	opt := Options{Strict: *strict, Quiet: *quiet, Ignore: ignores}
	exit := 0
	for _, path := range fl.Args() {
		t1 := time.Now()
		errs, warns, err := s.CheckFile(path, opt, stdout)
		if err != nil {
			fmt.Fprintf(stdout, "%s: error: %v\n", path, err)
			var pe *fs.PathError
			if errors.As(err, &pe) {
				exit = max(exit, 2)
			} else {
				exit = max(exit, 1)
			}
			continue
		}
		if *timing {
			fmt.Fprintf(stderr, "%s checked in %v\n", path, time.Since(t1).Round(time.Millisecond))
		}
		if opt.Failed(errs, warns) {
			exit = max(exit, 1)
		}
		if errs > 0 || warns > 0 || !*quiet {
			fmt.Fprintf(stdout, "%s: %d error(s), %d warning(s)\n", path, errs, warns)
		}
	}
	return exit
}

// CheckFile checks one template, writes one line per finding to w
// ("file:line:col: error|warning: Path: message") and returns the counts.
func (s *Schemas) CheckFile(path string, opt Options, w io.Writer) (int, int, error) {
	t, err := loadTemplate(path)
	if err != nil {
		return 0, 0, err
	}
	c := newChecker(s, t)
	c.run()
	findings := append(t.Errs, c.out...)
	sort.SliceStable(findings, func(i, j int) bool {
		a, b := findings[i].Pos, findings[j].Pos
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
	seen := map[string]bool{}
	errs, warns := 0, 0
	for _, f := range findings {
		key := fmt.Sprintf("%d|%s|%s", f.Sev, f.Ptr, f.Msg)
		if seen[key] {
			continue
		}
		seen[key] = true
		where := humanPtr(f.Ptr)
		if where != "" {
			where += ": "
		}
		if ignored(opt.Ignore, where+f.Msg) {
			continue
		}
		sev := "error"
		if f.Sev == sevWarning {
			warns++
			if opt.Quiet {
				continue
			}
			sev = "warning"
		} else {
			errs++
		}
		fmt.Fprintf(w, "%s:%d:%d: %s: %s%s\n", path, f.Pos.Line, f.Pos.Col, sev, where, f.Msg)
	}
	return errs, warns, nil
}

func ignored(ignores []*regexp.Regexp, s string) bool {
	for _, re := range ignores {
		if re.MatchString(s) {
			return true
		}
	}
	return false
}

// suggest returns the candidate closest to s when it is close enough to be a typo.
func suggest(s string, candidates []string) string {
	best, bestD := "", 1<<30
	ls := strings.ToLower(s)
	for _, c := range candidates {
		if c == s {
			continue
		}
		d := levenshtein(ls, strings.ToLower(c))
		if d < bestD {
			best, bestD = c, d
		}
	}
	limit := 2
	if len(s) > 8 {
		limit = 3
	}
	if len(s) > 16 {
		limit = 4
	}
	if best != "" && bestD <= limit {
		return best
	}
	return ""
}

func levenshtein(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
