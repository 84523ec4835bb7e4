package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/stowken/stowken/bench"
	"github.com/stowken/stowken/conversation"
	"github.com/stowken/stowken/cost"
	"github.com/stowken/stowken/demo"
	"github.com/stowken/stowken/vault"
)

var demoCommand = &command{
	name:    "demo",
	summary: "generate demo conversations, import them, show stats and one conversation",
	doc: `Generates the API-call log of three made-up LLM applications (a support bot and a coding
assistant with tools, and a documentation helper answering from retrieved passages; about 200
requests, each repeating its application's system prompt and the chat so far), writes it as
JSONL, imports it into the store exactly like "stowken import", then prints the store's stats
and one retrieved conversation.

The JSONL file goes to a temporary directory that is removed afterwards, or to DIR/demo.jsonl
with --dir, where it is kept. The same --seed always generates the same data, so running the
demo again finds every conversation already present.`,
	run: runDemo,
}

func runDemo(ctx context.Context, e *env, c *command, args []string) error {
	fs := e.flagSet(c.name)
	dir := fs.String("dir", "", "write the demo JSONL to `DIR`/demo.jsonl and keep it (default: a temporary directory)")
	seed := fs.Int64("seed", demo.DefaultSeed, "`SEED` of the generator")
	chats := fs.Int("chats", demo.DefaultChats, "generate `N` chats (each logs one request per assistant message)")
	pos, err := e.parseCommand(c, fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usageErrorf("demo takes no arguments")
	}
	if *chats < 1 {
		return usageErrorf("--chats must be at least 1")
	}

	convs := demo.Generate(*seed, *chats)
	path, cleanup, err := writeDemo(*dir, convs)
	if err != nil {
		return err
	}
	defer cleanup()
	fmt.Fprintf(e.stdout, "generated %d requests of %d chats (seed %d)", len(convs), *chats, *seed)
	if *dir != "" {
		fmt.Fprintf(e.stdout, " in %s", path)
	}
	fmt.Fprint(e.stdout, "\n\n")

	return e.withVault(ctx, create, func(v *vault.Vault) error {
		fmt.Fprintf(e.stdout, "== import into %s\n", e.store)
		sum := importFiles(ctx, func(context.Context) (*vault.Vault, error) { return v, nil }, []string{path}, importConfig{Concurrency: defaultConcurrency,
			Progress: e.progress, Stdin: e.stdin, Stderr: e.stderr})
		sum.print(e.stdout)
		if err := sum.err(ctx); err != nil {
			return err
		}

		fmt.Fprintf(e.stdout, "\n== stats\n")
		st, err := v.Stats(ctx, vault.StatsOptions{References: true})
		if err != nil {
			return err
		}
		printStats(e, st, v.Usage())

		fmt.Fprintf(e.stdout, "\n== what it would cost on AWS (as stowken stats --baselines prints it)\n")
		var base bench.BaselineMeter
		for _, c := range convs {
			line, err := conversation.Marshal(c)
			if err != nil {
				return err
			}
			base.Add(line)
		}
		naive, delivery := base.Usage()
		prices, err := v.PricesFor(ctx, cost.DefaultPrices()) // the table class stats prices in
		if err != nil {
			return err
		}
		printCost(e.stdout, cost.NewReport(prices, bench.DefaultMonths, st.Conversations, storeParts(st), naive, delivery, true))

		id := showcase(convs)
		fmt.Fprintf(e.stdout, "\n== stowken get --format text '%s'\n", id)
		conv, err := v.Retrieve(ctx, id)
		if err != nil {
			return err
		}
		return renderText(e.stdout, conv)
	})
}

// writeDemo writes the conversations to dir/demo.jsonl, or to a temporary directory that
// cleanup removes when dir is "".
func writeDemo(dir string, convs []*conversation.Conversation) (path string, cleanup func(), err error) {
	cleanup = func() {}
	if dir == "" {
		if dir, err = os.MkdirTemp("", "stowken-demo-"); err != nil {
			return "", cleanup, err
		}
		tmp := dir
		cleanup = func() { os.RemoveAll(tmp) }
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", cleanup, err
	}
	path = filepath.Join(dir, "demo.jsonl")
	f, err := os.Create(path)
	if err != nil {
		cleanup()
		return "", func() {}, err
	}
	err = demo.Write(f, convs)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		cleanup()
		return "", func() {}, fmt.Errorf("write %s: %w", path, err)
	}
	return path, cleanup, nil
}

// showcase picks the conversation the demo prints: the longest request that has a tool call
// and is not longer than about 12 messages, so that the output stays readable.
func showcase(convs []*conversation.Conversation) string {
	best, bestLen := convs[len(convs)-1].ID, 0
	for _, c := range convs {
		tools := false
		for _, m := range c.Messages {
			tools = tools || len(m.ToolCalls) > 0
		}
		if tools && len(c.Messages) <= 12 && len(c.Messages) > bestLen {
			best, bestLen = c.ID, len(c.Messages)
		}
	}
	return best
}
