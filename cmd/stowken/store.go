package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/stowken/stowken/conversation"
	"github.com/stowken/stowken/vault"
)

var initCommand = &command{
	name:    "init",
	summary: "create the store: a local store's directory and files, or the S3 bucket and the DynamoDB table",
	doc: `Creates what the store needs, leaving what exists as it is (running it again is harmless):
an empty local store (its directory and files), or the S3 bucket and the DynamoDB table of an
s3:// store (waiting until the table is active).

Then it checks that the bucket honours conditional writes, on which stowken's safety rests:
create-if-absent ("If-None-Match: *") and compare-and-swap ("If-Match"), with real writes to a
scratch object under checks/conditional-writes/. Some S3-compatible servers accept these
headers and ignore them; there, storing a different conversation under an existing id would
replace the first one. Such a server is refused (exit 1, naming the condition it ignores). A
passed check is remembered in the store (checks/conditional-writes.json); every store checks
once by itself before its first write, but only init checks again once that marker exists.`,
	run: runInit,
}

func runInit(ctx context.Context, e *env, c *command, args []string) error {
	fs := e.flagSet(c.name)
	pos, err := e.parseCommand(c, fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usageErrorf("init takes no arguments")
	}
	loc, err := e.location()
	if err != nil {
		return err
	}
	if err := loc.Init(ctx); err != nil {
		return err
	}
	return e.withVault(ctx, readWrite, func(v *vault.Vault) error {
		if err := v.CheckConditionalWrites(ctx); err != nil {
			return fmt.Errorf("store %s cannot be used safely: %w", e.store, err)
		}
		fmt.Fprintf(e.stdout, "conditional writes checked: the server honours create-if-absent (If-None-Match: *) and compare-and-swap (If-Match)\n")
		fmt.Fprintf(e.stdout, "store %s is ready\n", e.store)
		return nil
	})
}

var putCommand = &command{
	name:    "put",
	args:    "FILE|-",
	summary: "store one conversation (a JSON object) and print its id",
	doc: `Stores one conversation, read from FILE or from standard input ("-"): a JSON object in the
normalized format (OpenAI chat messages plus id, application, model, tokenizer, created_at and
metadata; a message may carry "tokens" instead of "content"). Without an id, the store assigns
one (a UUIDv7). Prints the id. Storing the identical conversation again is harmless; a different
conversation under an existing id is an error.`,
	run: runPut,
}

// maxInputBytes bounds one conversation's JSON (one line of an import, or the file of put).
const maxInputBytes = 256 << 20

func runPut(ctx context.Context, e *env, c *command, args []string) error {
	fs := e.flagSet(c.name)
	pos, err := e.parseCommand(c, fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageErrorf("put wants exactly one FILE (or - for standard input)")
	}
	name := pos[0]
	var r io.Reader = e.stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		defer f.Close()
		r = f
	} else {
		name = "<stdin>"
	}
	data, err := io.ReadAll(io.LimitReader(r, maxInputBytes+1))
	if err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	if len(data) > maxInputBytes {
		return fmt.Errorf("%s: more than %d MiB; not a single conversation", name, maxInputBytes>>20)
	}
	conv, err := conversation.Parse(data)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return e.withVault(ctx, create, func(v *vault.Vault) error {
		res, err := v.Store(ctx, conv)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if res.Existed {
			e.log.Info("conversation was already stored", "id", res.ID)
		}
		fmt.Fprintln(e.stdout, res.ID)
		return nil
	})
}

var getCommand = &command{
	name:    "get",
	args:    "ID...",
	summary: "print stored conversations (JSON, readable text or token ids)",
	doc: `Prints the stored conversations with the given ids, in order.

Formats:
  json    the normalized JSON, exactly as stowken writes it, one conversation per line
  text    a readable rendering: header, then every message with its role, content and tool calls
  tokens  one line per message: the role, a tab, and the message's token ids separated by spaces
          (text is tokenized with the conversation's tokenizer); a blank line between conversations`,
	run: runGet,
}

func runGet(ctx context.Context, e *env, c *command, args []string) error {
	fs := e.flagSet(c.name)
	format := fs.String("format", "json", "output `FORMAT`: json, text or tokens")
	ids, err := e.parseCommand(c, fs, args)
	if err != nil {
		return err
	}
	render, ok := renderers[*format]
	if !ok {
		return usageErrorf("--format %q: want json, text or tokens", *format)
	}
	if len(ids) == 0 {
		return usageErrorf("get wants at least one ID")
	}
	return e.withVault(ctx, readOnly, func(v *vault.Vault) error {
		failed, printed := 0, 0
		for _, id := range ids {
			conv, err := v.Retrieve(ctx, id)
			if err == nil {
				if printed > 0 && *format != "json" {
					fmt.Fprintln(e.stdout)
				}
				if err = render(e.stdout, conv); err == nil {
					printed++
				}
			}
			if err != nil {
				failed++
				fmt.Fprintf(e.stderr, "stowken get: %v\n", err)
				if ctx.Err() != nil {
					break
				}
			}
		}
		if failed > 0 {
			return &exitError{code: exitFailed}
		}
		return nil
	})
}

var rmCommand = &command{
	name:    "rm",
	args:    "ID...",
	summary: "delete stored conversations",
	doc: `Deletes the conversations with the given ids. A conversation is gone as soon as its pointer
is. Once every conversation of its batch is deleted (a conversation stored with "put" is a batch
of its own), "stowken gc" frees what only the batch used: no sooner than 25 minutes after it
was stored, and after the grace period.
An id that is not stored is an error (the others are still deleted).`,
	run: runRm,
}

func runRm(ctx context.Context, e *env, c *command, args []string) error {
	fs := e.flagSet(c.name)
	ids, err := e.parseCommand(c, fs, args)
	if err != nil {
		return err
	}
	if len(ids) == 0 {
		return usageErrorf("rm wants at least one ID")
	}
	return e.withVault(ctx, readWrite, func(v *vault.Vault) error {
		failed := 0
		for _, id := range ids {
			if err := v.Delete(ctx, id); err != nil {
				failed++
				if errors.Is(err, vault.ErrNotFound) {
					err = fmt.Errorf("%q: no such conversation", id)
				}
				fmt.Fprintf(e.stderr, "stowken rm: %v\n", err)
				continue
			}
			fmt.Fprintf(e.stdout, "deleted %s\n", id)
		}
		if failed > 0 {
			return &exitError{code: exitFailed}
		}
		return nil
	})
}
