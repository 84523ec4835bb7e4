package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/stowken/stowken/vault"
)

var segmentsCommand = &command{
	name:    "segments",
	summary: "the most shared segments: the system-prompt audit",
	doc: `Lists the --top N segments that the most stored conversations reference: system prompts, tool
schemas, shared documents. For each: how many conversations reference it, the role of the
message it is part of, its tokens and stored bytes, the bytes that storing it once saves, and
the start of its text. Packs are not listed: import (StoreBatch) packs everything of a batch
but the pieces of 2,048 tokens or more that recur, so a shorter shared prompt is in every pack
that uses it rather than a segment of its own; put (Store) keeps every piece of 2,048 tokens
or more a segment, and shorter ones inline. It reads every reference, so it costs what the reference store holds.`,
	run: runSegments,
}

// segmentJSON is the --json form of a listed segment.
type segmentJSON struct {
	ID            string `json:"id"`
	Conversations int    `json:"conversations"`
	Role          string `json:"role"`
	Tokens        int    `json:"tokens"`
	Bytes         int64  `json:"bytes"`
	SavedBytes    int64  `json:"saved_bytes"`
	Text          string `json:"text"`
}

func runSegments(ctx context.Context, e *env, c *command, args []string) error {
	fs := e.flagSet(c.name)
	top := fs.Int("top", 10, "list the `N` most shared segments")
	width := fs.Int("preview", 60, "show the first `N` characters of each segment's text")
	asJSON := fs.Bool("json", false, "print one JSON object per segment")
	pos, err := e.parseCommand(c, fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usageErrorf("segments takes no arguments")
	}
	if *top < 1 || *width < 0 {
		return usageErrorf("--top must be at least 1 and --preview not negative")
	}
	return e.withVault(ctx, readOnly, func(v *vault.Vault) error {
		segs, err := v.TopSegments(ctx, *top, *width)
		if err != nil {
			return err
		}
		if *asJSON {
			for _, s := range segs {
				if err := writeJSON(e.stdout, segmentJSON{s.ID, s.Conversations, s.Role, s.Tokens, s.Bytes, s.SavedBytes, s.Text}); err != nil {
					return err
				}
			}
			return nil
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "SEGMENT\tCONVERSATIONS\tROLE\tTOKENS\tBYTES\tSAVED\tTEXT")
		for _, s := range segs {
			text := strings.Join(strings.Fields(s.Text), " ") // one line
			fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%s\t%s\t%q\n", s.ID[:12], s.Conversations, orDash(s.Role), s.Tokens,
				formatBytes(s.Bytes), formatBytes(s.SavedBytes), text)
		}
		return tw.Flush()
	})
}
