// Command alipayctl is the merchant's command line for Alipay OpenAPI v1: it generates app
// keys, signs parameters, builds app-pay order strings, computes certificate SNs and, above
// all, explains why a signature does not verify (验签失败).
//
// Every protocol rule comes from shared/alipay; this package only reads input, tries the
// known mistakes and words the answer.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// Exit codes.
const (
	exitOK    = 0 // done; the signature, key pair or parameters are fine
	exitFail  = 1 // the check failed (invalid signature, not a pair, invalid params) or the input is unusable
	exitUsage = 2 // the command line is wrong: unknown command or flag, missing or conflicting options
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv))
}

// app is one invocation: its streams, environment and clock.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	env            func(string) string
	now            func() time.Time
}

// run executes one command line (without the program name) and returns the exit code.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer, env func(string) string) int {
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	if env == nil {
		env = func(string) string { return "" }
	}
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr, env: env, now: time.Now}
	return a.dispatch(args)
}

// command is one leaf of the command tree.
type command struct {
	path    string // e.g. "keys gen"
	summary string
	help    string // synopsis, flags and examples
	// run gets its own command so it can print its help without naming a package
	// variable (which would be an initialization cycle).
	run func(a *app, c *command, args []string) int
}

// commands lists every command in help order.
var commands = []*command{
	cmdKeysGen, cmdKeysCheck, cmdSign, cmdOrderStr,
	cmdVerifyNotify, cmdVerifyResponse, cmdCertSN, cmdCertRootSN,
}

func findCommand(path string) *command {
	for _, c := range commands {
		if c.path == path {
			return c
		}
	}
	return nil
}

// groups are the first words of two-word commands.
var groups = map[string]bool{"keys": true, "verify": true, "cert": true}

func isHelpArg(s string) bool { return s == "-h" || s == "-help" || s == "--help" }

func (a *app) dispatch(args []string) int {
	if len(args) == 0 {
		fmt.Fprint(a.stderr, mainUsage())
		return exitUsage
	}
	first := args[0]
	switch {
	case first == "help" || isHelpArg(first):
		return a.helpCmd(args[1:])
	case groups[first]:
		if len(args) < 2 || isHelpArg(args[1]) {
			if len(args) < 2 {
				fmt.Fprint(a.stderr, groupUsage(first))
				return exitUsage
			}
			fmt.Fprint(a.stdout, groupUsage(first))
			return exitOK
		}
		c := findCommand(first + " " + args[1])
		if c == nil {
			fmt.Fprintf(a.stderr, "alipayctl: unknown command %q\n\n%s", first+" "+args[1], groupUsage(first))
			return exitUsage
		}
		return c.run(a, c, args[2:])
	}
	c := findCommand(first)
	if c == nil {
		fmt.Fprintf(a.stderr, "alipayctl: unknown command %q\n\n%s", first, mainUsage())
		return exitUsage
	}
	return c.run(a, c, args[1:])
}

func (a *app) helpCmd(topic []string) int {
	if len(topic) == 0 {
		fmt.Fprint(a.stdout, mainUsage())
		return exitOK
	}
	path := strings.Join(topic, " ")
	if c := findCommand(path); c != nil {
		fmt.Fprint(a.stdout, c.help)
		return exitOK
	}
	if len(topic) == 1 && groups[topic[0]] {
		fmt.Fprint(a.stdout, groupUsage(topic[0]))
		return exitOK
	}
	fmt.Fprintf(a.stderr, "alipayctl help: no command %q\n\n%s", path, mainUsage())
	return exitUsage
}

func mainUsage() string {
	var b strings.Builder
	b.WriteString(`alipayctl — Alipay OpenAPI v1 tools for merchants: keys, signing, and why a signature
does not verify (验签失败).

Usage: alipayctl <command> [flags]

Commands:
`)
	for _, c := range commands {
		fmt.Fprintf(&b, "  %-16s %s\n", c.path, c.summary)
	}
	b.WriteString(`  help [command]   this text, or a command's flags and examples

Exit status: 0 ok, 1 check failed (or unusable input), 2 usage error.

Credentials come from the environment like the local server: ALIPAY_APP_ID,
ALIPAY_PRIVATE_KEY(_FILE), ALIPAY_PUBLIC_KEY(_FILE), or in certificate mode
ALIPAY_APP_CERT(_FILE), ALIPAY_ALIPAY_CERT(_FILE), ALIPAY_ROOT_CERT(_FILE). Flags override
them where a command takes a key file. Private keys are never printed.

Run 'alipayctl help <command>' (or 'alipayctl <command> -h') for flags and examples.
`)
	return b.String()
}

func groupUsage(group string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Usage: alipayctl %s <command> [flags]\n\nCommands:\n", group)
	for _, c := range commands {
		if strings.HasPrefix(c.path, group+" ") {
			fmt.Fprintf(&b, "  %-16s %s\n", c.path, c.summary)
		}
	}
	fmt.Fprintf(&b, "\nRun 'alipayctl help %s <command>' for flags and examples.\n", group)
	return b.String()
}

// newFlagSet returns a flag set that reports errors to the caller instead of exiting.
// Go's flag package accepts both -name and --name.
func newFlagSet(c *command) *flag.FlagSet {
	fs := flag.NewFlagSet(c.path, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// parse parses args; when done is true the command must return code at once (help was
// asked for, or the command line is wrong). Positional arguments are refused unless
// positional says how many are expected.
func (a *app) parse(c *command, fs *flag.FlagSet, args []string, positional int) (code int, done bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(a.stdout, c.help)
			return exitOK, true
		}
		return a.usage(c, "%v", err), true
	}
	if fs.NArg() != positional {
		if positional == 0 {
			return a.usage(c, "unexpected argument %q", fs.Arg(0)), true
		}
		return a.usage(c, "expected %d argument(s), got %d", positional, fs.NArg()), true
	}
	return 0, false
}

// usage reports a command-line error and returns exitUsage.
func (a *app) usage(c *command, format string, args ...any) int {
	fmt.Fprintf(a.stderr, "alipayctl %s: %s\nRun 'alipayctl %s -h' for usage.\n", c.path, fmt.Sprintf(format, args...), c.path)
	return exitUsage
}

// fail reports a failed command (bad input, failed check) and returns exitFail.
func (a *app) fail(c *command, format string, args ...any) int {
	fmt.Fprintf(a.stderr, "alipayctl %s: %s\n", c.path, fmt.Sprintf(format, args...))
	return exitFail
}

// note writes an informational line to stderr (kept off stdout so output stays scriptable).
func (a *app) note(format string, args ...any) {
	fmt.Fprintf(a.stderr, "note: %s\n", fmt.Sprintf(format, args...))
}
