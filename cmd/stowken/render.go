package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/stowken/stowken/bench"
	"github.com/stowken/stowken/conversation"
	"github.com/stowken/stowken/cost"
	"github.com/stowken/stowken/tokenizer"
)

// renderers print a retrieved conversation in the formats of "stowken get --format".
var renderers = map[string]func(w io.Writer, c *conversation.Conversation) error{
	"json":   renderJSON,
	"text":   renderText,
	"tokens": renderTokens,
}

// renderJSON prints exactly conversation.Marshal's output and a newline.
func renderJSON(w io.Writer, c *conversation.Conversation) error {
	b, err := conversation.Marshal(c)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	_, err = w.Write(b)
	return err
}

// renderText prints a readable rendering: a header with the conversation's fields, then each
// message under a "### N role" line, with its tool calls.
func renderText(w io.Writer, c *conversation.Conversation) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "conversation  %s\n", c.ID)
	fmt.Fprintf(bw, "application   %s\n", orDash(c.Application))
	fmt.Fprintf(bw, "model         %s\n", orDash(c.Model))
	fmt.Fprintf(bw, "tokenizer     %s\n", c.Tokenizer)
	if !c.CreatedAt.IsZero() {
		fmt.Fprintf(bw, "created       %s\n", c.CreatedAt.Format(time.RFC3339Nano))
	}
	if c.Metadata != nil {
		fmt.Fprintf(bw, "metadata      %s\n", c.Metadata)
	}
	fmt.Fprintf(bw, "messages      %d\n", len(c.Messages))
	tok, _ := tokenizer.Get(c.Tokenizer) // Retrieve succeeded, so the tokenizer exists
	for i, m := range c.Messages {
		header := fmt.Sprintf("\n### %d %s", i+1, m.Role)
		if m.Name != "" {
			header += " · " + m.Name
		}
		if m.ToolCallID != "" {
			header += " · reply to " + m.ToolCallID
		}
		fmt.Fprintln(bw, header)
		switch {
		case m.HasTokens():
			text := ""
			if tok != nil {
				text, _ = tok.Decode(m.Tokens)
			}
			fmt.Fprintf(bw, "[%d tokens given as ids]\n", len(m.Tokens))
			if text != "" {
				fmt.Fprintln(bw, text)
			}
		case m.ContentNull && len(m.ToolCalls) == 0:
			fmt.Fprintln(bw, "(no content)")
		case m.Content != "":
			fmt.Fprintln(bw, strings.TrimRight(m.Content, "\n"))
		case len(m.ToolCalls) == 0:
			fmt.Fprintln(bw, "(empty)")
		}
		for _, tc := range m.ToolCalls {
			fmt.Fprintf(bw, "→ %s(%s)  [%s]\n", tc.Name, tc.Arguments, tc.ID)
		}
	}
	return bw.Flush()
}

// renderTokens prints one line per message: role, a tab, the token ids separated by spaces.
func renderTokens(w io.Writer, c *conversation.Conversation) error {
	tok, err := tokenizer.Get(c.Tokenizer)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	var buf []byte
	for _, m := range c.Messages {
		ids := m.Tokens
		if !m.HasTokens() {
			ids = tok.Encode(m.Content)
		}
		buf = append(buf[:0], m.Role...)
		buf = append(buf, '\t')
		for i, id := range ids {
			if i > 0 {
				buf = append(buf, ' ')
			}
			buf = strconv.AppendInt(buf, int64(id), 10)
		}
		buf = append(buf, '\n')
		bw.Write(buf)
	}
	return bw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// formatBytes renders a byte count for people: "812 B", "1.4 KiB", "3.2 MiB".
func formatBytes(n int64) string {
	const unit = 1024
	if n < unit && n > -unit {
		return fmt.Sprintf("%d B", n)
	}
	f := float64(n)
	for _, u := range []string{"KiB", "MiB", "GiB", "TiB"} {
		f /= unit
		if f < unit && f > -unit || u == "TiB" {
			return fmt.Sprintf("%.1f %s", f, u)
		}
	}
	return ""
}

// formatCount renders a count with thousands separators: 1234567 → "1,234,567".
func formatCount(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// formatSI renders a large count compactly: 950, 12.3k, 4.5M.
func formatSI(n float64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.1fG", n/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1fM", n/1e6)
	case n >= 1e4:
		return fmt.Sprintf("%.1fk", n/1e3)
	default:
		return fmt.Sprintf("%.0f", n)
	}
}

// printCost prints a cost report: per million conversations, stowken next to its baselines,
// then the breakdown by service and part.
func printCost(w io.Writer, c cost.Report) {
	kind := "on AWS"
	if c.Modelled {
		kind = "modelled: what the same requests and items cost on S3 and DynamoDB"
	}
	fmt.Fprintf(w, "cost per million conversations, USD (%s; writes + %d months of storage)\n", kind, c.Months)
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%-18s\twrites\tstorage/month\ttotal\t\n", "")
	row := func(name string, d cost.Dollars) {
		fmt.Fprintf(tw, "%-18s\t%.4f\t%.4f\t%.4f\t\n", name, d.Writes, d.StoragePerMonth, d.Total)
	}
	row("stowken", c.USDPerMillion)
	row("naive gzip JSON", c.Baselines[cost.BaselineNaive].USDPerMillion)
	row("delivery stream", c.Baselines[cost.BaselineDelivery].USDPerMillion)
	fmt.Fprintf(tw, "%-18s\t\t\t\t\n", "stowken by service")
	for _, s := range slices.Sorted(maps.Keys(c.ByService)) {
		row("· "+s, c.ByService[s])
	}
	fmt.Fprintf(tw, "%-18s\t\t\t\t\n", "stowken by part")
	for _, p := range slices.Sorted(maps.Keys(c.ByPart)) {
		row("· "+string(p), c.ByPart[p])
	}
	tw.Flush()
	u := c.PerConversation
	fmt.Fprintf(w, "per conversation: %.3f S3 PUT-class, %.3f GET-class, %.3f DynamoDB write units, %.3f read units; %.0f bytes in S3, %.0f in DynamoDB\n",
		u.S3PutClass, u.S3GetClass, u.DDBWRU, u.DDBRRU, u.S3Bytes, u.DDBBytes)
	fmt.Fprintf(w, "prices: %s; DynamoDB table class %s\n", c.Prices, c.TableClass)
}

// costFlags are the flags that price a cost report.
type costFlags struct {
	months     *int
	prices     *string
	tableClass *string
}

func (f *costFlags) register(fs *flag.FlagSet) {
	f.months = fs.Int("months", bench.DefaultMonths, "count `N` months of storage in the cost's total")
	f.prices = fs.String("prices", "", "read prices from `FILE` (JSON; fields of cost.Prices, the rest AWS us-east-1 list prices)")
	f.tableClass = fs.String("table-class", "", "price DynamoDB in table `CLASS` STANDARD or STANDARD_INFREQUENT_ACCESS (default: the store's table's; for a store without one, STANDARD_INFREQUENT_ACCESS, the class stowken creates tables in)")
}

// load returns the prices and months the flags give.
func (f *costFlags) load() (cost.Prices, int, error) {
	if *f.months < 1 {
		return cost.Prices{}, 0, usageErrorf("--months %d: want 1 or more", *f.months)
	}
	p := cost.DefaultPrices()
	if *f.prices != "" {
		var err error
		if p, err = cost.LoadPrices(*f.prices); err != nil {
			return p, 0, err
		}
	}
	if *f.tableClass != "" {
		var err error
		if p, err = p.ForTableClass(*f.tableClass); err != nil {
			return p, 0, usageErrorf("--table-class: %v", err)
		}
	}
	return p, *f.months, nil
}
