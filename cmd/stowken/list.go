package main

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/stowken/stowken/vault"
)

var lsCommand = &command{
	name:    "ls",
	summary: "list stored conversations, with filters and paging",
	doc: `Lists stored conversations in id order, one page at a time: id, application, model, created
time, messages, tokens and stored bytes (the manifest plus every segment it uses). When more
match than --limit, the cursor of the next page is printed on stderr; pass it to --cursor.

Times (--since, --until) are RFC 3339 (2025-11-03T08:00:00Z) or a date (2025-11-03, meaning
its midnight UTC). The created time is the conversation's created_at, or the time it was
stored when it had none. --since is inclusive, --until exclusive.`,
	run: runLs,
}

// timeFlag is a flag.Value for a time given as RFC 3339 or as a date.
type timeFlag struct{ t time.Time }

func (f *timeFlag) String() string {
	if f == nil || f.t.IsZero() {
		return ""
	}
	return f.t.Format(time.RFC3339Nano)
}

func (f *timeFlag) Set(s string) error {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		f.t = t
		return nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		f.t = t
		return nil
	}
	return fmt.Errorf("want an RFC 3339 time (2025-11-03T08:00:00Z) or a date (2025-11-03)")
}

// summaryJSON is the --json form of a listed conversation.
type summaryJSON struct {
	ID          string `json:"id"`
	Application string `json:"application"`
	Model       string `json:"model"`
	Tokenizer   string `json:"tokenizer"`
	Created     string `json:"created"`
	Messages    int    `json:"messages"`
	Tokens      int    `json:"tokens"`
	StoredBytes int64  `json:"stored_bytes"`
}

func runLs(ctx context.Context, e *env, c *command, args []string) error {
	fs := e.flagSet(c.name)
	var opts vault.ListOptions
	var since, until timeFlag
	fs.StringVar(&opts.Application, "app", "", "only conversations of application `APP`")
	fs.StringVar(&opts.Model, "model", "", "only conversations of model `MODEL`")
	fs.Var(&since, "since", "only conversations created at or after `TIME`")
	fs.Var(&until, "until", "only conversations created before `TIME`")
	fs.IntVar(&opts.Limit, "limit", vault.DefaultListLimit, "page size: at most `N` conversations")
	fs.StringVar(&opts.Cursor, "cursor", "", "continue after the page that printed `CURSOR`")
	asJSON := fs.Bool("json", false, "print one JSON object per conversation")
	pos, err := e.parseCommand(c, fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usageErrorf("ls takes no arguments (filters are flags)")
	}
	if opts.Limit < 1 {
		return usageErrorf("--limit must be at least 1")
	}
	opts.CreatedFrom, opts.CreatedTo = since.t, until.t
	return e.withVault(ctx, false, func(v *vault.Vault) error {
		page, err := v.List(ctx, opts)
		if err != nil {
			return err
		}
		if *asJSON {
			for _, s := range page.Conversations {
				if err := writeJSON(e.stdout, summaryJSON{s.ID, s.Application, s.Model, s.Tokenizer,
					s.Created.Format(time.RFC3339Nano), s.Messages, s.Tokens, s.StoredBytes}); err != nil {
					return err
				}
			}
		} else {
			tw := tabwriter.NewWriter(e.stdout, 0, 8, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tAPPLICATION\tMODEL\tCREATED\tMESSAGES\tTOKENS\tBYTES")
			for _, s := range page.Conversations {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\n", s.ID, orDash(s.Application), orDash(s.Model),
					s.Created.UTC().Format("2006-01-02T15:04:05Z"), s.Messages, s.Tokens, s.StoredBytes)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
		}
		if page.Next != "" {
			fmt.Fprintf(e.stderr, "next cursor: %s\n", page.Next)
		}
		return nil
	})
}

var statsCommand = &command{
	name:    "stats",
	summary: "totals of the store: conversations, tokens, bytes, deduplication",
	doc: `Prints totals over the whole store (it reads every manifest and lists every segment):
conversations, messages, tokens, stored bytes (segments, manifests and compression models),
bytes per token, what the data would take without deduplication, and the requests this
command made to the store.`,
	run: runStats,
}

// statsJSON is the --json form of vault.Stats.
type statsJSON struct {
	Conversations  int64        `json:"conversations"`
	Messages       int64        `json:"messages"`
	Tokens         int64        `json:"tokens"`
	StoredBytes    int64        `json:"stored_bytes"`
	SegmentBytes   int64        `json:"segment_bytes"`
	ManifestBytes  int64        `json:"manifest_bytes"`
	ModelBytes     int64        `json:"model_bytes"`
	Segments       int64        `json:"segments"`
	Models         int64        `json:"models"`
	BytesPerToken  float64      `json:"bytes_per_token"`
	UndedupedBytes int64        `json:"undeduped_bytes"`
	DedupSaving    float64      `json:"dedup_saving"`
	Requests       requestsJSON `json:"requests"`
}

func runStats(ctx context.Context, e *env, c *command, args []string) error {
	fs := e.flagSet(c.name)
	asJSON := fs.Bool("json", false, "print one JSON object")
	pos, err := e.parseCommand(c, fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usageErrorf("stats takes no arguments")
	}
	return e.withVault(ctx, false, func(v *vault.Vault) error {
		st, err := v.Stats(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			return writeJSON(e.stdout, statsJSON{st.Conversations, st.Messages, st.Tokens, st.StoredBytes,
				st.SegmentBytes, st.ManifestBytes, st.ModelBytes, st.Segments, st.Models, st.BytesPerToken,
				st.UndedupedBytes, st.DedupSaving, requestsForm(v.Requests())})
		}
		printStats(e, st, v.Requests())
		return nil
	})
}

func printStats(e *env, st vault.Stats, rq vault.Requests) {
	w := e.stdout
	fmt.Fprintf(w, "store                  %s\n", e.store)
	fmt.Fprintf(w, "conversations          %s\n", formatCount(st.Conversations))
	fmt.Fprintf(w, "messages               %s\n", formatCount(st.Messages))
	fmt.Fprintf(w, "tokens                 %s\n", formatCount(st.Tokens))
	fmt.Fprintf(w, "stored bytes           %s (%s)\n", formatCount(st.StoredBytes), formatBytes(st.StoredBytes))
	fmt.Fprintf(w, "  segments             %s in %s objects\n", formatBytes(st.SegmentBytes), formatCount(st.Segments))
	fmt.Fprintf(w, "  manifests            %s\n", formatBytes(st.ManifestBytes))
	fmt.Fprintf(w, "  compression models   %s in %s objects\n", formatBytes(st.ModelBytes), formatCount(st.Models))
	fmt.Fprintf(w, "bytes/token            %.3f\n", st.BytesPerToken)
	fmt.Fprintf(w, "without deduplication  %s (%s)\n", formatCount(st.UndedupedBytes), formatBytes(st.UndedupedBytes))
	fmt.Fprintf(w, "deduplication saves    %.1f%%\n", 100*st.DedupSaving)
	fmt.Fprintf(w, "requests               S3: %d PUT, %d GET, %d HEAD, %d LIST, %d DELETE; refs: %d reads, %d writes\n",
		rq.S3Puts, rq.S3Gets, rq.S3Heads, rq.S3Lists, rq.S3Deletes, rq.RefsReads, rq.RefsWrites)
}
