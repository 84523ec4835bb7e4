package main

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/stowken/stowken/bench"
	"github.com/stowken/stowken/catalog"
	"github.com/stowken/stowken/conversation"
	"github.com/stowken/stowken/cost"
	"github.com/stowken/stowken/vault"
)

var lsCommand = &command{
	name:    "ls",
	summary: "list stored conversations from the catalog, with filters and paging",
	doc: `Lists stored conversations from the catalog, newest first (--oldest: oldest first), one page
at a time: id, application, model, created time, messages, tokens and stored bytes (the
manifest plus every segment it uses, a pack by its share). It reads the catalog only, so it
costs what the page costs, however large the store. When more match than --limit, the cursor
of the next page is printed on stderr; pass it to --cursor with the same filters.

Times (--since, --until) are RFC 3339 (2025-11-03T08:00:00Z) or a date (2025-11-03, meaning
its midnight UTC). The created time is the conversation's created_at, or the time it was
stored when it had none. --since is inclusive, --until exclusive. --meta KEY=VALUE (repeatable)
keeps conversations whose top-level metadata KEY has exactly that value (numbers and booleans
as written in JSON).`,
	run: runLs,
}

// filterFlags are the catalog filters that ls, stats and export share.
type filterFlags struct {
	q            catalog.Query
	since, until timeFlag
	meta         metaFlag
}

func (f *filterFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.q.Application, "app", "", "only conversations of application `APP`")
	fs.StringVar(&f.q.Model, "model", "", "only conversations of model `MODEL`")
	fs.StringVar(&f.q.Tokenizer, "tokenizer", "", "only conversations of tokenizer `NAME`")
	fs.Var(&f.since, "since", "only conversations created at or after `TIME`")
	fs.Var(&f.until, "until", "only conversations created before `TIME`")
	fs.Var(&f.meta, "meta", "only conversations whose metadata has `KEY=VALUE` (repeatable)")
}

// query returns the catalog query the flags describe.
func (f *filterFlags) query() catalog.Query {
	q := f.q
	q.Since, q.Until = f.since.t, f.until.t
	if len(f.meta) > 0 {
		q.Metadata = f.meta
	}
	return q
}

// metaFlag collects --meta KEY=VALUE filters.
type metaFlag map[string]string

func (m *metaFlag) String() string { return fmt.Sprint(map[string]string(*m)) }

func (m *metaFlag) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("want KEY=VALUE")
	}
	if *m == nil {
		*m = metaFlag{}
	}
	(*m)[k] = v
	return nil
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

// entryJSON is the --json form of a listed conversation.
type entryJSON struct {
	ID           string            `json:"id"`
	Application  string            `json:"application"`
	Model        string            `json:"model"`
	Tokenizer    string            `json:"tokenizer"`
	Created      string            `json:"created"`
	Stored       string            `json:"stored"`
	Messages     int               `json:"messages"`
	Tokens       int64             `json:"tokens"`
	TokensByRole map[string]int64  `json:"tokens_by_role"`
	StoredBytes  int64             `json:"stored_bytes"`
	Metadata     map[string]string `json:"metadata,omitempty"`
}

func runLs(ctx context.Context, e *env, c *command, args []string) error {
	fs := e.flagSet(c.name)
	var f filterFlags
	f.register(fs)
	limit := fs.Int("limit", catalog.DefaultLimit, fmt.Sprintf("page size: at most `N` conversations (up to %d)", catalog.MaxLimit))
	cursor := fs.String("cursor", "", "continue after the page that printed `CURSOR`")
	oldest := fs.Bool("oldest", false, "oldest first")
	asJSON := fs.Bool("json", false, "print one JSON object per conversation")
	pos, err := e.parseCommand(c, fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usageErrorf("ls takes no arguments (filters are flags)")
	}
	if *limit < 1 || *limit > catalog.MaxLimit {
		return usageErrorf("--limit must be between 1 and %d", catalog.MaxLimit)
	}
	q := f.query()
	q.Limit, q.Cursor, q.Oldest = *limit, *cursor, *oldest
	return e.withVault(ctx, readOnly, func(v *vault.Vault) error {
		page, err := v.List(ctx, q)
		if err != nil {
			return err
		}
		if *asJSON {
			for _, s := range page.Entries {
				if err := writeJSON(e.stdout, entryJSON{s.ID, s.Application, s.Model, s.Tokenizer,
					s.CreatedAt.Format(time.RFC3339Nano), s.StoredAt.Format(time.RFC3339Nano), s.Messages,
					s.TotalTokens(), s.Tokens, s.StoredBytes, s.Metadata}); err != nil {
					return err
				}
			}
		} else {
			tw := tabwriter.NewWriter(e.stdout, 0, 8, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tAPPLICATION\tMODEL\tCREATED\tMESSAGES\tTOKENS\tBYTES")
			for _, s := range page.Entries {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\n", s.ID, orDash(s.Application), orDash(s.Model),
					s.CreatedAt.UTC().Format("2006-01-02T15:04:05Z"), s.Messages, s.TotalTokens(), s.StoredBytes)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
		}
		if page.Next != "" {
			fmt.Fprintf(e.stderr, "next cursor: %s\n", page.Next)
		}
		if len(page.Entries) == 0 && q.Cursor == "" {
			if behind, err := v.CatalogBehind(ctx); err == nil && behind {
				fmt.Fprintln(e.stderr, "the catalog lists nothing, but the store holds conversations: a store written before the catalog "+
					"was kept in the bucket? \"stowken verify --repair --min-age 10m\" writes the catalog from them")
			}
		}
		return nil
	})
}

var statsCommand = &command{
	name:    "stats",
	summary: "totals and analytics: conversations, tokens, bytes, deduplication, by group",
	doc: `Prints totals of the stored conversations from the catalog: conversations, messages, tokens
(input: every role but assistant; output: assistant), and bytes. Without filters it also lists
the bucket for what the store holds (segments, manifests, compression models, and the
catalog's entries), bytes per token, and what deduplication saves.

--by groups the sums by application, model, day (of the created time, UTC) or tokenizer,
comma-separated to combine (--by model,application). Filters (--app, --model, --tokenizer,
--since, --until, --meta) select conversations as for "stowken ls"; with a filter, bytes are
the conversations' own (manifest plus the segments they use, a shared segment counted for
each, a pack by share), and bytes per token is taken from them.`,
	run: runStats,
}

// statsJSON is the --json form of vault.Stats.
type statsJSON struct {
	Conversations   int64        `json:"conversations"`
	Messages        int64        `json:"messages"`
	Tokens          int64        `json:"tokens"`
	InputTokens     int64        `json:"input_tokens"`
	OutputTokens    int64        `json:"output_tokens"`
	AttributedBytes int64        `json:"attributed_bytes"`
	Filtered        bool         `json:"filtered"`
	StoredBytes     int64        `json:"stored_bytes,omitempty"`
	SegmentBytes    int64        `json:"segment_bytes,omitempty"`
	ManifestBytes   int64        `json:"manifest_bytes,omitempty"`
	ModelBytes      int64        `json:"model_bytes,omitempty"`
	CatalogBytes    int64        `json:"catalog_bytes,omitempty"`
	Segments        int64        `json:"segments,omitempty"`
	Models          int64        `json:"models,omitempty"`
	BytesPerToken   float64      `json:"bytes_per_token"`
	UndedupedBytes  int64        `json:"undeduped_bytes,omitempty"`
	DedupSaving     float64      `json:"dedup_saving,omitempty"`
	RefBytes        int64        `json:"reference_bytes,omitempty"`
	Groups          []groupJSON  `json:"groups,omitempty"`
	Requests        cost.Usage   `json:"requests"`
	Cost            *cost.Report `json:"cost,omitempty"`
}

// groupJSON is one --by group.
type groupJSON struct {
	Key           map[string]string `json:"key"`
	Conversations int64             `json:"conversations"`
	Messages      int64             `json:"messages"`
	InputTokens   int64             `json:"input_tokens"`
	OutputTokens  int64             `json:"output_tokens"`
	TokensByRole  map[string]int64  `json:"tokens_by_role"`
	StoredBytes   int64             `json:"attributed_bytes"`
	BytesPerToken float64           `json:"bytes_per_token"`
}

func runStats(ctx context.Context, e *env, c *command, args []string) error {
	fs := e.flagSet(c.name)
	var f filterFlags
	f.register(fs)
	by := fs.String("by", "", "group by `DIMS`: application, model, day, tokenizer, comma-separated")
	asJSON := fs.Bool("json", false, "print one JSON object")
	baselines := fs.Bool("baselines", false, "compute the cost baselines: reads every conversation back (unfiltered stats only)")
	references := fs.Bool("references", false, "count the reference store's items too (on DynamoDB: scans the table)")
	var cf costFlags
	cf.register(fs)
	pos, err := e.parseCommand(c, fs, args)
	if err != nil {
		return err
	}
	prices, months, err := cf.load()
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usageErrorf("stats takes no arguments (filters are flags)")
	}
	opts := vault.StatsOptions{Filter: f.query(), References: *references}
	if *by != "" {
		opts.By = strings.Split(*by, ",")
		if _, err := catalog.NewAggregator(opts.By...); err != nil {
			return usageErrorf("--by %q: want application, model, day or tokenizer, comma-separated, each once", *by)
		}
	}
	return e.withVault(ctx, readOnly, func(v *vault.Vault) error {
		st, err := v.Stats(ctx, opts)
		if err != nil {
			return err
		}
		var rep *cost.Report
		if !st.Filtered {
			if prices, err = v.PricesFor(ctx, prices); err != nil {
				e.log.Warn("pricing DynamoDB as STANDARD: the table's class is unknown (set --table-class)", "err", err)
			}
			var naive, delivery cost.Usage
			if *baselines {
				if naive, delivery, err = storeBaselines(ctx, v); err != nil {
					return err
				}
			}
			r := cost.NewReport(prices, months, st.Conversations, storeParts(st), naive, delivery, true)
			if !*baselines {
				r.Baselines = nil
			}
			rep = &r
		}
		if *asJSON {
			out := statsJSON{st.Conversations, st.Messages, st.Tokens, st.InputTokens, st.OutputTokens, st.AttributedBytes,
				st.Filtered, st.StoredBytes, st.SegmentBytes, st.ManifestBytes, st.ModelBytes, st.CatalogBytes, st.Segments,
				st.Models, st.BytesPerToken, st.UndedupedBytes, st.DedupSaving, st.RefBytes, nil, v.Usage(), rep}
			for _, g := range st.Groups {
				out.Groups = append(out.Groups, groupJSON{g.Key, g.Conversations, g.Messages, g.InputTokens, g.OutputTokens,
					g.Tokens, g.StoredBytes, perToken(g.StoredBytes, g.InputTokens+g.OutputTokens)})
			}
			return writeJSON(e.stdout, out)
		}
		printStats(e, st, v.Usage())
		if rep != nil {
			fmt.Fprintln(e.stdout)
			printCost(e.stdout, *rep)
			if !*references {
				fmt.Fprintln(e.stdout, "references are not counted: stats --references reads them (on DynamoDB, Scans of the table)")
			}
		}
		if len(st.Groups) > 0 {
			fmt.Fprintln(e.stdout)
			printGroups(e, opts.By, st.Groups)
		}
		return nil
	})
}

func perToken(bytes, tokens int64) float64 {
	if tokens == 0 {
		return 0
	}
	return float64(bytes) / float64(tokens)
}

// printGroups prints one row per --by group.
func printGroups(e *env, by []string, groups []catalog.Group) {
	tw := tabwriter.NewWriter(e.stdout, 0, 8, 2, ' ', tabwriter.AlignRight)
	for _, d := range by {
		fmt.Fprintf(tw, "%s\t", strings.ToUpper(d))
	}
	fmt.Fprintln(tw, "CONVERSATIONS\tMESSAGES\tINPUT TOKENS\tOUTPUT TOKENS\tBYTES W/O DEDUP\tBYTES/TOKEN\t")
	for _, g := range groups {
		for _, d := range by {
			fmt.Fprintf(tw, "%s\t", orDash(g.Key[d]))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%.3f\t\n", formatCount(g.Conversations), formatCount(g.Messages),
			formatCount(g.InputTokens), formatCount(g.OutputTokens), formatBytes(g.StoredBytes), perToken(g.StoredBytes, g.InputTokens+g.OutputTokens))
	}
	tw.Flush()
}

// storeParts is what storing a store's contents costs, by part, modelled from Stats: every
// object PUT once (each batch object and catalog file), every DynamoDB item written once, and
// the bytes kept.
func storeParts(st vault.Stats) map[cost.Part]cost.Usage {
	parts := st.StoredByPart()
	for p, u := range map[cost.Part]cost.Usage{
		cost.Segments: {S3PutClass: float64(st.Segments)}, cost.Manifests: {S3PutClass: float64(st.Batches)},
		cost.Models: {S3PutClass: float64(st.Models)}, cost.Catalog: {S3PutClass: float64(st.CatalogFiles)},
		cost.References: {DDBWRU: st.RefWriteUnits},
	} {
		parts[p] = parts[p].Add(u)
	}
	return parts
}

// storeBaselines reads every conversation back and measures the cost baselines on their JSON.
func storeBaselines(ctx context.Context, v *vault.Vault) (naive, delivery cost.Usage, err error) {
	var m bench.BaselineMeter
	err = v.ListAll(ctx, catalog.Query{Oldest: true}, func(en catalog.Entry) error {
		c, err := v.Retrieve(ctx, en.ID)
		if err != nil {
			return err
		}
		line, err := conversation.Marshal(c)
		if err != nil {
			return err
		}
		m.Add(line)
		return nil
	})
	naive, delivery = m.Usage()
	return naive, delivery, err
}

func printStats(e *env, st vault.Stats, rq cost.Usage) {
	w := e.stdout
	fmt.Fprintf(w, "store                  %s\n", e.store)
	fmt.Fprintf(w, "conversations          %s\n", formatCount(st.Conversations))
	fmt.Fprintf(w, "messages               %s\n", formatCount(st.Messages))
	fmt.Fprintf(w, "tokens                 %s (input %s, output %s)\n", formatCount(st.Tokens), formatCount(st.InputTokens), formatCount(st.OutputTokens))
	if st.Filtered {
		fmt.Fprintf(w, "their bytes            %s (%s), without deduplication across conversations\n", formatCount(st.AttributedBytes), formatBytes(st.AttributedBytes))
		fmt.Fprintf(w, "bytes/token            %.3f\n", st.BytesPerToken)
	} else {
		fmt.Fprintf(w, "stored bytes           %s (%s)\n", formatCount(st.StoredBytes), formatBytes(st.StoredBytes))
		fmt.Fprintf(w, "  segments             %s in %s objects\n", formatBytes(st.SegmentBytes), formatCount(st.Segments))
		fmt.Fprintf(w, "  manifests            %s\n", formatBytes(st.ManifestBytes))
		fmt.Fprintf(w, "  compression models   %s in %s objects\n", formatBytes(st.ModelBytes), formatCount(st.Models))
		fmt.Fprintf(w, "  catalog              %s in %s Parquet files\n", formatBytes(st.CatalogBytes), formatCount(st.CatalogFiles))
		if st.RefBytes > 0 {
			fmt.Fprintf(w, "  references           %s (DynamoDB items as billed)\n", formatBytes(st.RefBytes))
		}
		fmt.Fprintf(w, "bytes/token            %.3f\n", st.BytesPerToken)
		fmt.Fprintf(w, "without deduplication  %s (%s)\n", formatCount(st.UndedupedBytes), formatBytes(st.UndedupedBytes))
		fmt.Fprintf(w, "deduplication saves    %.1f%%\n", 100*st.DedupSaving)
	}
	fmt.Fprintf(w, "requests               %s\n", formatUsage(rq))
}
