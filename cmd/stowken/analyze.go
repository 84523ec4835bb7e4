package main

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"sync"
	"text/tabwriter"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"

	"github.com/stowken/stowken/analyze"
	"github.com/stowken/stowken/catalog"
	"github.com/stowken/stowken/cluster"
	"github.com/stowken/stowken/embed"
	"github.com/stowken/stowken/embed/bedrock"
	"github.com/stowken/stowken/internal/progress"
	"github.com/stowken/stowken/neardup"
	"github.com/stowken/stowken/search"
	"github.com/stowken/stowken/sketch"
	"github.com/stowken/stowken/vault"
)

// What the analyses read (package analyze): their shared descriptions.
const (
	analyzeCost = `It reads every conversation the filters select (the same as "stowken ls": --app, --model,
--tokenizer, --since, --until, --meta), as get would, up to --max (default 100,000; more
selected is an error, not a partial answer); a progress line is drawn on stderr on a terminal.`
	sketchCost = `It reads the catalog rows the filters select (the same as "stowken ls": --app, --model,
--tokenizer, --since, --until, --meta), up to --max (default 100,000; more selected is an error,
not a partial answer). Rows written with --sketches (STOWKEN_SKETCHES=true, or
vault.Options.Sketches, when storing; "stowken sketch" afterwards) carry what it compares,
for the default parameters; every other conversation is read, as get would, with a progress
line on stderr on a terminal.`
)

var dupsCommand = &command{
	name:    "dups",
	summary: "groups of near-duplicate conversations",
	doc: `Lists groups of near-duplicate conversations: MinHash signatures over shingles of --shingle
tokens (5), 128 hashes in 16 LSH bands, and pairs kept when their estimated Jaccard similarity
is at least --threshold (0.8). Every member of a group is a near-duplicate of its first (the
oldest; --newest: the newest). System messages are left out unless --with-system (a long
system prompt makes every request of an application alike). Largest groups first: the size,
the lowest similarity to the first, and the ids. export --dedup near keeps the first of each.

` + sketchCost,
	run: runDups,
}

var clusterCommand = &command{
	name:    "cluster",
	summary: "clusters of similar conversations",
	doc: `Embeds every selected conversation's text and clusters the vectors with k-means (--k 8, at
most 100 iterations, seed 0xC0FFEE: the same input gives the same clusters). Prints each
cluster's size and its --typical most typical conversations (closest to the centroid), with
the start of their first user message. --roles limits the text to messages of those roles.

` + embedderDoc + `

` + sketchCost,
	run: func(ctx context.Context, e *env, c *command, args []string) error {
		return runCluster(ctx, e, c, args, false)
	},
}

var outliersCommand = &command{
	name:    "outliers",
	summary: "the conversations least like the others",
	doc: `Clusters the selected conversations as "stowken cluster" does and lists the --top N farthest
from their cluster's centroid (cosine distance), farthest first: the prompts that behave oddly.

` + sketchCost,
	run: func(ctx context.Context, e *env, c *command, args []string) error {
		return runCluster(ctx, e, c, args, true)
	},
}

var searchCommand = &command{
	name:    "search",
	summary: "conversations ranked by a query (BM25)",
	doc: `Ranks the selected conversations by BM25 (k1 1.2, b 0.75) against the words of QUERY, and
prints the best --limit (10): score, id, and the best-matching message's index, role and
start. Words are matched whatever their case and position, in conversations of every
tokenizer. With --embedder, ranks them instead by the cosine similarity of their embedding
(every message's text) to QUERY's, the best-matching message being the one whose own
embedding is closest.

` + embedderDoc + `

` + analyzeCost,
	run: runSearch,
}

var sketchCommand = &command{
	name:    "sketch",
	summary: "write sketches into the catalog rows that have none",
	doc: `Writes each conversation's sketches (MinHash signature and built-in embedding, as --sketches
writes them when storing) into the catalog rows that have none, so that dups, cluster and
outliers read them instead of the conversations. It reads those conversations and rewrites
the catalog's files that hold them, as gc compacts the catalog, under the gc lease (while a
gc runs, it does nothing). It stops writing half the claim TTL (15 minutes) after it starts;
run it again to go on. Cost: a GET per catalog file, the reads of the conversations without
sketches, a PUT per file written again.`,
	run: runSketch,
}

func runSketch(ctx context.Context, e *env, c *command, args []string) error {
	fs := e.flagSet(c.name)
	asJSON := fs.Bool("json", false, "print the report as one JSON object")
	pos, err := e.parseCommand(c, fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usageErrorf("sketch takes no arguments")
	}
	return e.withVault(ctx, readWrite, func(v *vault.Vault) error {
		rep, err := v.Sketch(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			return writeJSON(e.stdout, rep)
		}
		switch {
		case rep.LeaseHeld:
			fmt.Fprintln(e.stdout, "a gc is running (it holds the gc lease): nothing done; run it again later")
			return nil
		case rep.Partial:
			fmt.Fprintln(e.stdout, "stopped at its deadline: run it again to go on")
		}
		fmt.Fprintf(e.stdout, "rows sketched             %d\n", rep.Sketched)
		fmt.Fprintf(e.stdout, "conversations unreadable  %d\n", rep.Unreadable)
		fmt.Fprintf(e.stdout, "catalog files written     %d (of %d read)\n", rep.Catalog.FilesWritten, rep.Catalog.FilesRead)
		return nil
	})
}

// embedderDoc describes --embedder.
const embedderDoc = `--embedder hashed (the default for cluster and outliers) is built in: words and word pairs
hashed into 256 dimensions, no network, no model; texts that share rare words are close,
paraphrases are not. --embedder bedrock[:MODEL] calls Amazon Bedrock (Titan Text Embeddings V2,
amazon.titan-embed-text-v2:0, by default; 256 dimensions), with the AWS SDK's credentials and
region (AWS_PROFILE, AWS_REGION, ...): one InvokeModel call per text, billed per input token.`

// newEmbedder returns the embedder --embedder names: hashed, or bedrock[:MODEL].
func newEmbedder(ctx context.Context, spec string) (embed.Embedder, error) {
	switch model, isBedrock := strings.CutPrefix(spec, "bedrock"); {
	case spec == "hashed":
		return embed.NewHashed(embed.HashedOptions{})
	case isBedrock && (model == "" || strings.HasPrefix(model, ":")):
		cfg, err := config.LoadDefaultConfig(ctx)
		if err != nil {
			return nil, fmt.Errorf("--embedder %s: load the AWS configuration: %w", spec, err)
		}
		return bedrock.New(bedrockruntime.NewFromConfig(cfg), bedrock.Options{Model: strings.TrimPrefix(model, ":")})
	}
	return nil, usageErrorf("--embedder %q: want hashed or bedrock[:MODEL]", spec)
}

// analysisOptions returns the options of an analysis of what the filters select, with a
// progress line of the conversations read, and the function that ends the line.
func analysisOptions(e *env, f *filterFlags, newest bool, limit int) (analyze.Options, func()) {
	q := f.query()
	q.Oldest = !newest
	var bar *progress.Reporter
	var once sync.Once
	opts := analyze.Options{Query: q, Limit: limit, Progress: func(done, total int) {
		once.Do(func() { bar = progress.New(e.stderr, int64(total), "read") })
		bar.Add(1)
	}}
	return opts, func() {
		if bar != nil {
			bar.Done()
		}
	}
}

// readDocs reads the conversations the filters select, with a progress line.
func readDocs(ctx context.Context, e *env, v *vault.Vault, f *filterFlags, newest bool, limit int) ([]analyze.Doc, error) {
	opts, done := analysisOptions(e, f, newest, limit)
	defer done()
	return analyze.Read(ctx, v, opts)
}

// analysisFlags registers the filters and --max, shared by the analyses.
func analysisFlags(fs *flag.FlagSet, f *filterFlags) *int {
	f.register(fs)
	return fs.Int("max", analyze.DefaultLimit, "read at most `N` conversations (more selected is an error)")
}

func runDups(ctx context.Context, e *env, c *command, args []string) error {
	fs := e.flagSet(c.name)
	var f filterFlags
	maxRead := analysisFlags(fs, &f)
	p := neardup.DefaultParams()
	fs.Float64Var(&p.Threshold, "threshold", p.Threshold, "the Jaccard similarity `J` (0 < J <= 1) of near-duplicates")
	fs.IntVar(&p.Shingle, "shingle", p.Shingle, "shingles of `N` tokens")
	newest := fs.Bool("newest", false, "the newest of a group comes first (default: the oldest)")
	withSystem := fs.Bool("with-system", false, "compare system messages too")
	asJSON := fs.Bool("json", false, "print one JSON object per group")
	pos, err := e.parseCommand(c, fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usageErrorf("dups takes no arguments (filters are flags)")
	}
	if err := p.Validate(); err != nil {
		return usageErrorf("%v", err)
	}
	return e.withVault(ctx, readOnly, func(v *vault.Vault) error {
		opts, done := analysisOptions(e, &f, *newest, *maxRead)
		res, err := analyze.Dups(ctx, v, opts, p, skipRoles(*withSystem))
		done()
		if err != nil {
			return err
		}
		groups := res.Groups
		if *asJSON {
			for _, g := range groups {
				if err := writeJSON(e.stdout, g); err != nil {
					return err
				}
			}
			return nil
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "SIZE\tSIMILARITY\tIDS")
		dupCount := 0
		for _, g := range groups {
			fmt.Fprintf(tw, "%d\t%.2f\t%s\n", len(g.IDs), g.Similarity, strings.Join(g.IDs, " "))
			dupCount += len(g.IDs) - 1
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintf(e.stderr, "conversations: %d (signatures from the catalog: %d, read: %d); groups: %d; near-duplicates of a group's first: %d\n",
			res.Conversations, res.Conversations-res.Read, res.Read, len(groups), dupCount)
		return nil
	})
}

// skipRoles is the roles dups leaves out.
func skipRoles(withSystem bool) []string {
	if withSystem {
		return nil
	}
	return sketch.SkipRoles
}

func runCluster(ctx context.Context, e *env, c *command, args []string, outliers bool) error {
	fs := e.flagSet(c.name)
	var f filterFlags
	maxRead := analysisFlags(fs, &f)
	p := cluster.DefaultParams()
	fs.IntVar(&p.K, "k", p.K, "`N` clusters")
	typical := fs.Int("typical", 3, "show the `N` most typical conversations of each cluster")
	top := fs.Int("top", 10, "outliers: show the `N` farthest conversations")
	roles := fs.String("roles", "", "embed only messages of these comma-separated `ROLES` (default: all)")
	embedder := fs.String("embedder", "hashed", "embed with `NAME`: hashed or bedrock[:MODEL]")
	asJSON := fs.Bool("json", false, "print the result as one JSON object")
	pos, err := e.parseCommand(c, fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usageErrorf("%s takes no arguments (filters are flags)", c.name)
	}
	if p.K < 1 || *typical < 0 || *top < 1 {
		return usageErrorf("--k and --top must be at least 1, --typical at least 0")
	}
	var roleList []string
	if *roles != "" {
		roleList = strings.Split(*roles, ",")
	}
	h, err := newEmbedder(ctx, *embedder)
	if err != nil {
		return err
	}
	return e.withVault(ctx, readOnly, func(v *vault.Vault) error {
		opts, done := analysisOptions(e, &f, false, *maxRead)
		res, err := analyze.Clusters(ctx, v, opts, h, p, *typical, *top, roleList...)
		done()
		if err != nil {
			return err
		}
		if outliers {
			res.Clusters = nil
		} else {
			res.Outliers = nil
		}
		if *asJSON {
			return writeJSON(e.stdout, res)
		}
		// The first user message of each conversation shown.
		var shown []catalog.Entry
		for _, m := range res.Outliers {
			shown = append(shown, catalog.Entry{ID: m.ID})
		}
		for _, cl := range res.Clusters {
			for _, m := range cl.Typical {
				shown = append(shown, catalog.Entry{ID: m.ID})
			}
		}
		docs, err := analyze.ReadEntries(ctx, v, shown, nil)
		if err != nil {
			return err
		}
		byID := make(map[string]analyze.Doc, len(docs))
		for _, d := range docs {
			byID[d.Entry.ID] = d
		}
		first := func(id string) string { return firstUserMessage(byID[id]) }
		tw := tabwriter.NewWriter(e.stdout, 0, 8, 2, ' ', 0)
		if outliers {
			fmt.Fprintln(tw, "DISTANCE\tCLUSTER\tID\tFIRST USER MESSAGE")
			for _, m := range res.Outliers {
				fmt.Fprintf(tw, "%.3f\t%d\t%s\t%s\n", m.Distance, m.Cluster, m.ID, first(m.ID))
			}
		} else {
			fmt.Fprintln(tw, "CLUSTER\tSIZE\tDISTANCE\tTYPICAL\tFIRST USER MESSAGE")
			for i, cl := range res.Clusters {
				for j, m := range cl.Typical {
					if j == 0 {
						fmt.Fprintf(tw, "%d\t%d\t%.3f\t%s\t%s\n", i, cl.Size, m.Distance, m.ID, first(m.ID))
					} else {
						fmt.Fprintf(tw, "\t\t%.3f\t%s\t%s\n", m.Distance, m.ID, first(m.ID))
					}
				}
			}
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintf(e.stderr, "conversations: %d (vectors from the catalog: %d, read: %d); without text to embed: %d; iterations: %d\n",
			res.Conversations, res.Conversations-res.Read, res.Read, res.Skipped, res.Iterations)
		return nil
	})
}

// firstUserMessage returns the start of a document's first user message.
func firstUserMessage(d analyze.Doc) string {
	text, err := d.Text("user")
	if err != nil {
		return ""
	}
	text, _, _ = strings.Cut(text, "\n\n")
	return oneLine(text, 60)
}

// oneLine returns the first n characters of s on one line.
func oneLine(s string, n int) string {
	r := []rune(strings.Join(strings.Fields(s), " "))
	if len(r) > n {
		return string(r[:n]) + "…"
	}
	return string(r)
}

func runSearch(ctx context.Context, e *env, c *command, args []string) error {
	fs := e.flagSet(c.name)
	var f filterFlags
	maxRead := analysisFlags(fs, &f)
	limit := fs.Int("limit", 10, "show the best `N` conversations")
	embedder := fs.String("embedder", "", "rank by embedding similarity, embedding with `NAME`: hashed or bedrock[:MODEL] (default: BM25)")
	asJSON := fs.Bool("json", false, "print one JSON object per hit")
	pos, err := e.parseCommand(c, fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || strings.TrimSpace(pos[0]) == "" {
		return usageErrorf("search takes one argument: the QUERY")
	}
	if *limit < 1 {
		return usageErrorf("--limit must be at least 1")
	}
	var em embed.Embedder
	if *embedder != "" {
		if em, err = newEmbedder(ctx, *embedder); err != nil {
			return err
		}
	}
	return e.withVault(ctx, readOnly, func(v *vault.Vault) error {
		docs, err := readDocs(ctx, e, v, &f, false, *maxRead)
		if err != nil {
			return err
		}
		// The conversations were read from their batch objects: a hit shown is one still stored.
		stored := func(d analyze.Doc) (bool, error) { return v.Stored(ctx, d.Entry) }
		var hits []analyze.Hit
		if em != nil {
			hits, err = analyze.SearchEmbedded(ctx, docs, pos[0], em, *limit, stored)
		} else {
			hits, err = analyze.Search(docs, pos[0], search.DefaultParams(), *limit, stored)
		}
		if err != nil {
			return err
		}
		if *asJSON {
			for _, h := range hits {
				if err := writeJSON(e.stdout, h); err != nil {
					return err
				}
			}
			return nil
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "SCORE\tID\tMESSAGE\tROLE\tTEXT")
		for _, h := range hits {
			fmt.Fprintf(tw, "%.3f\t%s\t%d\t%s\t%s\n", h.Score, h.ID, h.Message, h.Role, oneLine(h.Snippet, 80))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintf(e.stderr, "conversations read: %d; shown: %d\n", len(docs), len(hits))
		return nil
	})
}
