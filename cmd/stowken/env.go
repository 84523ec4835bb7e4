package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/stowken/stowken/location"
	"github.com/stowken/stowken/location/aws"
	"github.com/stowken/stowken/location/local"
	"github.com/stowken/stowken/vault"
)

// Environment variables that give the global flags their defaults.
const (
	envStore = "STOWKEN_STORE"
	envRefs  = "STOWKEN_REFS"
	// envSketches is --sketches' default (vault.Options.Sketches).
	envSketches = "STOWKEN_SKETCHES"
)

// defaultStore is the store used when neither --store nor STOWKEN_STORE is given.
const defaultStore = "./stowken-data"

// env is what every command works with: the standard streams and the global settings.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	// progress is true when stderr is a terminal, where long operations draw a progress line.
	progress bool
	// tables is true when stdout is a terminal, where bench prints a table instead of JSON.
	tables bool

	store, refs         string
	sketches            bool
	sketchesErr         error // a STOWKEN_SKETCHES that is not a boolean
	logLevel, logFormat string
	log                 *slog.Logger
}

func newEnv(stdin io.Reader, stdout, stderr io.Writer) *env {
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr, store: defaultStore,
		logLevel: "warn", logFormat: "text", log: slog.New(slog.DiscardHandler)}
	if s := os.Getenv(envStore); s != "" {
		e.store = s
	}
	e.refs = os.Getenv(envRefs)
	if s := strings.TrimSpace(os.Getenv(envSketches)); s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			e.sketchesErr = usageErrorf("%s=%q: want true or false", envSketches, s)
		}
		e.sketches = b
	}
	return e
}

// command is one stowken subcommand.
type command struct {
	name    string
	args    string // usage of the positional arguments
	summary string // one line for the command list
	doc     string // the description shown by --help
	run     func(ctx context.Context, e *env, c *command, args []string) error
}

// commands lists the subcommands in the order "stowken help" shows them.
var commands = []*command{
	initCommand, putCommand, importCommand, getCommand, rmCommand, lsCommand,
	statsCommand, segmentsCommand, dupsCommand, clusterCommand, outliersCommand, searchCommand, sketchCommand, exportCommand, gcCommand,
	verifyCommand, migrateCommand, demoCommand, benchCommand,
}

func findCommand(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

// usageError is a mistake in the command line: exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usageErrorf(format string, args ...any) error {
	return &usageError{fmt.Sprintf(format, args...)}
}

// exitError ends the command with code, printing err first when it is not nil. Commands use
// it when they have already reported the details themselves.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

// errHelpShown ends a command whose --help was printed: exit status 0.
var errHelpShown = errors.New("help shown")

var globalFlags = map[string]bool{"store": true, "refs": true, "sketches": true, "log-level": true, "log-format": true}

// flagSet returns the flag set of a command with the global flags already defined, so that
// they can be given before or after the command name.
func (e *env) flagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(strings.TrimSpace("stowken "+name), flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&e.store, "store", e.store, "the store `URL`: a directory, file://DIR, or s3://BUCKET/PREFIX[?path_style=true] (env "+envStore+")")
	fs.StringVar(&e.refs, "refs", e.refs, "reference table `URL` of an s3 store: dynamodb://TABLE (env "+envRefs+")")
	fs.BoolVar(&e.sketches, "sketches", e.sketches, "write each stored conversation's sketches into its catalog row, for dups, cluster and outliers (env "+envSketches+")")
	fs.StringVar(&e.logLevel, "log-level", e.logLevel, "`LEVEL` of the logs on stderr: debug, info, warn or error")
	fs.StringVar(&e.logFormat, "log-format", e.logFormat, "`FORMAT` of the logs: text or json")
	return fs
}

// parseCommand reads a command's arguments, flags and positional arguments in any order ("--"
// ends the flags), and sets up logging. --help prints the command's usage on stdout and returns
// errHelpShown; a bad flag is a usageError.
func (e *env) parseCommand(c *command, fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				e.printCommandUsage(e.stdout, c, fs)
				return nil, errHelpShown
			}
			return nil, &usageError{err.Error()}
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			positional = append(positional, rest...)
			break
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
	return positional, e.setupLogging()
}

// parse reads the global flags, which come before the command name.
func (e *env) parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			e.printMainUsage(e.stdout)
			return errHelpShown
		}
		return &usageError{err.Error()}
	}
	return e.setupLogging()
}

func (e *env) setupLogging() error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(e.logLevel)); err != nil {
		return usageErrorf("--log-level %q: want debug, info, warn or error", e.logLevel)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch e.logFormat {
	case "text":
		e.log = slog.New(slog.NewTextHandler(e.stderr, opts))
	case "json":
		e.log = slog.New(slog.NewJSONHandler(e.stderr, opts))
	default:
		return usageErrorf("--log-format %q: want text or json", e.logFormat)
	}
	return nil
}

// access is how a command opens the store.
type access int

const (
	// readOnly is for commands that only read: the vault refuses writes (vault.ErrReadOnly),
	// and a local store is opened read-only, so that the command writes nothing to it and
	// several such commands can share it.
	readOnly access = iota
	// readWrite is for commands that write to an existing store.
	readWrite
	// create is for commands that write and create a local store that does not exist yet.
	create
	// migrating is for the migrate command: it writes, and opens a store in the layout
	// before batches (vault.Options.Migrate).
	migrating
)

// backends are the store backends the CLI opens: the embedded local store and S3 + DynamoDB.
var backends = location.NewRegistry(local.Backend{}, aws.Backend{})

// location parses the global store and refs settings; a malformed one is a usage error.
func (e *env) location() (location.Opener, error) {
	loc, err := backends.Parse(e.store, e.refs)
	if err != nil {
		return nil, &usageError{err.Error()}
	}
	return loc, nil
}

// open opens the vault of the global settings for mode (see access). A malformed store or refs
// setting is a usage error. Unless mode is create, a local store that does not exist is an
// error rather than a new empty store where a path was mistyped.
func (e *env) open(ctx context.Context, mode access) (*vault.Vault, error) {
	loc, err := e.location()
	if err != nil {
		return nil, err
	}
	if e.sketchesErr != nil {
		return nil, e.sketchesErr
	}
	e.log.Debug("opening store", "store", e.store, "refs", e.refs, "read_only", mode == readOnly)
	v, err := location.OpenVault(ctx, loc, vault.Options{Logger: e.log, ReadOnly: mode == readOnly, Migrate: mode == migrating, Sketches: e.sketches}, mode == create)
	if errors.Is(err, location.ErrNoStore) {
		return nil, fmt.Errorf("no store at %s (create one with 'stowken init', put or import; or give --store)", loc)
	}
	return v, err
}

// withVault opens the vault for mode (see open), runs fn and closes the vault.
func (e *env) withVault(ctx context.Context, mode access, fn func(v *vault.Vault) error) error {
	v, err := e.open(ctx, mode)
	if err != nil {
		return err
	}
	err = fn(v)
	if cerr := v.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("close store: %w", cerr)
	}
	return err
}

func (e *env) printMainUsage(w io.Writer) {
	fmt.Fprint(w, `stowken stores LLM conversations as deduplicated, compressed token segments and
returns them exactly as they were given.

Usage: stowken [global flags] COMMAND [flags] [args]

Commands:
`)
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	for _, c := range commands {
		fmt.Fprintf(tw, "  %s\t%s\n", c.name, c.summary)
	}
	fmt.Fprintf(tw, "  help\tshow this list, or the usage of one command (stowken help COMMAND)\n")
	tw.Flush()
	fmt.Fprintln(w, "\nGlobal flags (accepted before or after the command name):")
	printFlags(w, e.flagSet(""), true)
	fmt.Fprint(w, `
Exit status: 0 on success, 1 when an operation failed, 2 on a usage error.
Run 'stowken COMMAND --help' for the flags of a command.
`)
}

func (e *env) printCommandUsage(w io.Writer, c *command, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: stowken %s [flags]", c.name)
	if c.args != "" {
		fmt.Fprintf(w, " %s", c.args)
	}
	fmt.Fprintf(w, "\n\n%s\n", strings.TrimSpace(c.doc))
	var own strings.Builder
	printFlags(&own, fs, false)
	if own.Len() > 0 {
		fmt.Fprintf(w, "\nFlags:\n%s", own.String())
	}
	fmt.Fprintln(w, "\nGlobal flags:")
	printFlags(w, fs, true)
}

// printFlags lists the command's own flags, or the global ones, as "--name TYPE  usage".
func printFlags(w io.Writer, fs *flag.FlagSet, global bool) {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fs.VisitAll(func(f *flag.Flag) {
		if globalFlags[f.Name] != global {
			return
		}
		typ, usage := flag.UnquoteUsage(f)
		name := "--" + f.Name
		if typ != "" {
			name += " " + typ
		}
		switch f.DefValue {
		case "", "0", "false", "0s":
		default:
			usage += fmt.Sprintf(" (default %s)", f.DefValue)
		}
		fmt.Fprintf(tw, "  %s\t%s\n", name, usage)
	})
	tw.Flush()
}
