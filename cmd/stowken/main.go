// Command stowken stores LLM conversations as deduplicated, compressed token segments, in a
// local directory or in S3 with DynamoDB, and reads them back exactly.
//
// Run "stowken help" for the commands and "stowken COMMAND --help" for each one's flags. The
// store is chosen with --store (or STOWKEN_STORE): a directory (default ./stowken-data),
// file://DIR, or s3://BUCKET/PREFIX together with --refs dynamodb://TABLE (or STOWKEN_REFS).
//
// Exit status: 0 on success, 1 when an operation failed, 2 on a usage error.
//
// docs/design.md ("Contracts that scripts rely on") lists what scripts may rely on.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/term"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Exit statuses.
const (
	exitOK     = 0
	exitFailed = 1
	exitUsage  = 2
)

// run executes one stowken invocation and returns its exit status.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	out := &checkedWriter{w: stdout}
	e := newEnv(stdin, out, stderr)
	e.progress, e.tables = isTerminal(stderr), isTerminal(stdout)
	fs := e.flagSet("")
	if err := e.parse(fs, args); err != nil {
		return e.report("", err)
	}
	rest := fs.Args()
	if len(rest) == 0 {
		e.printMainUsage(stderr)
		return exitUsage
	}
	name, rest := rest[0], rest[1:]
	if name == "help" {
		return e.help(rest)
	}
	cmd := findCommand(name)
	if cmd == nil {
		return e.report("", usageErrorf("unknown command %q (run 'stowken help' for the list)", name))
	}
	err := cmd.run(ctx, e, cmd, rest)
	if err == nil && out.err != nil {
		err = fmt.Errorf("writing to standard output: %w", out.err)
	}
	return e.report(name, err)
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// checkedWriter keeps the first error of its writer, so that a command whose output could not
// be written (a full disk, a closed pipe) does not exit 0.
type checkedWriter struct {
	w   io.Writer
	err error
}

func (c *checkedWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	if err != nil && c.err == nil {
		c.err = err
	}
	return n, err
}

// report prints err (if any) the way its kind asks for and returns the exit status.
func (e *env) report(cmd string, err error) int {
	prefix := "stowken"
	if cmd != "" {
		prefix += " " + cmd
	}
	var ue *usageError
	var ee *exitError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errHelpShown):
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(e.stderr, "%s: %s\n", prefix, ue.msg)
		if cmd != "" {
			fmt.Fprintf(e.stderr, "Run 'stowken %s --help' for usage.\n", cmd)
		} else {
			fmt.Fprintln(e.stderr, "Run 'stowken help' for usage.")
		}
		return exitUsage
	case errors.As(err, &ee):
		if ee.err != nil {
			fmt.Fprintf(e.stderr, "%s: %v\n", prefix, ee.err)
		}
		return ee.code
	default:
		fmt.Fprintf(e.stderr, "%s: %v\n", prefix, err)
		return exitFailed
	}
}

// help runs "stowken help [COMMAND]".
func (e *env) help(args []string) int {
	switch len(args) {
	case 0:
		e.printMainUsage(e.stdout)
		return exitOK
	case 1:
		cmd := findCommand(args[0])
		if cmd == nil {
			return e.report("help", usageErrorf("unknown command %q", args[0]))
		}
		return e.report(cmd.name, cmd.run(context.Background(), e, cmd, []string{"--help"}))
	default:
		return e.report("help", usageErrorf("want at most one command name"))
	}
}
