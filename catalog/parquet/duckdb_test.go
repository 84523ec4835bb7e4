package parquet_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stowken/stowken/catalog"
	"github.com/stowken/stowken/conversation"
	"github.com/stowken/stowken/internal/corpus"
	"github.com/stowken/stowken/internal/testenv"
	"github.com/stowken/stowken/location/local"
	"github.com/stowken/stowken/tokenizer"
	"github.com/stowken/stowken/vault"
)

// duckDBVersion is the @duckdb/node-api scripts/tools.sh installs.
const duckDBVersion = "1.5.6-r.1"

// duckRow is a row of the catalog's files as DuckDB reads them (scripts/duckdb-query.mjs:
// BIGINTs as strings, maps as DuckDB's JSON).
type duckRow struct {
	ID          string `json:"id"`
	Nonce       string `json:"nonce"`
	Application string `json:"application"`
	Model       string `json:"model"`
	Tokenizer   string `json:"tokenizer"`
	CreatedMs   string `json:"created_ms"`
	StoredMs    string `json:"stored_ms"`
	Messages    int    `json:"messages"`
	Tokens      string `json:"tokens"`
	TotalTokens string `json:"total_tokens"`
	StoredBytes string `json:"stored_bytes"`
	Metadata    string `json:"metadata"`
	MinHash     string `json:"minhash"`
	Vector      string `json:"vector"`
	Day         string `json:"day"`
}

// TestCatalogReadByDuckDB: DuckDB, an independent Parquet reader, reads the catalog's files of
// a local store, with their Hive partitions, as exactly one row per stored conversation (none
// for the deleted ones, after GC), each agreeing with the conversation retrieved: application,
// model, tokenizer, created time, messages, tokens per role counted here with the tokenizer,
// the top-level metadata scalars, and the sketches (minhash and vector) the catalog lists. A
// filter on the day partition reads that day only.
func TestCatalogReadByDuckDB(t *testing.T) {
	duckdb := testenv.FindNodeScript(t, "duckdb-query.mjs", "duckdb", "@duckdb/node-api", duckDBVersion, "DUCKDB_NODE_PATH")
	ctx := context.Background()
	dir := t.TempDir()
	var later time.Duration // how far the vault's clock is ahead
	v, err := local.Open(ctx, dir, vault.Options{Now: func() time.Time { return time.Now().Add(later) }, Sketches: true})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()

	// The shared sample, created an hour apart over 13 days, stored in three batches and two
	// single Stores; three are deleted again (one of each batch, one stored alone), and GC,
	// an hour later, gathers the entry of the other one stored alone and compacts.
	var convs []*conversation.Conversation
	base := time.Date(2026, 11, 20, 5, 30, 0, 0, time.UTC)
	err = corpus.Lines(corpus.Path(t, "sample.jsonl"), func(line []byte, n int) error {
		c, err := conversation.Parse(line)
		if err != nil {
			return fmt.Errorf("line %d: %w", n, err)
		}
		c.CreatedAt = base.Add(time.Duration(len(convs)) * time.Hour)
		convs = append(convs, c)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, batch := range [][]*conversation.Conversation{convs[:100], convs[100:200], convs[200:298]} {
		if _, errs := v.StoreBatch(ctx, batch); errors.Join(errs...) != nil {
			t.Fatal(errors.Join(errs...))
		}
	}
	for _, c := range convs[298:] {
		if _, err := v.Store(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	deleted := map[string]bool{}
	for _, i := range []int{3, 150, 299} {
		if err := v.Delete(ctx, convs[i].ID); err != nil {
			t.Fatal(err)
		}
		deleted[convs[i].ID] = true
	}
	later = time.Hour
	if rep, err := v.GC(ctx, vault.GCOptions{}); err != nil || rep.Gathered != 1 || rep.Catalog.RowsErased != 2 {
		t.Fatalf("gc: %+v, %v; want the entry stored alone gathered and the 2 deleted rows of the batches erased", rep, err)
	}
	listed := map[string]catalog.Entry{}
	if err := v.ListAll(ctx, catalog.Query{}, func(e catalog.Entry) error { listed[e.ID] = e; return nil }); err != nil {
		t.Fatal(err)
	}

	files := filepath.Join(dir, "objects", "catalog", "**", "*.parquet")
	query := func(where string) []duckRow {
		t.Helper()
		sql := `SELECT id, nonce, application, model, tokenizer, epoch_ms(created_at) AS created_ms, epoch_ms(stored_at) AS stored_ms,
			messages, to_json(tokens) AS tokens, total_tokens, stored_bytes, to_json(metadata) AS metadata,
			lower(hex(minhash)) AS minhash, lower(hex(vector)) AS vector, day
			FROM read_parquet(` + quote(files) + `, hive_partitioning = true) ` + where + ` ORDER BY id`
		cmd := duckdb.Command(ctx, sql)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("duckdb-query.mjs: %v\n%s", err, stderr.String())
		}
		var rows []duckRow
		sc := bufio.NewScanner(bytes.NewReader(out))
		sc.Buffer(nil, 16<<20)
		for sc.Scan() {
			var r duckRow
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				t.Fatalf("%v: %s", err, sc.Bytes())
			}
			rows = append(rows, r)
		}
		return rows
	}

	rows := query("")
	byID := map[string]duckRow{}
	for _, r := range rows {
		if _, dup := byID[r.ID]; dup {
			t.Errorf("DuckDB reads two rows of %s", r.ID)
		}
		byID[r.ID] = r
	}
	if len(byID) != len(convs)-len(deleted) {
		t.Errorf("DuckDB reads %d conversations, want %d", len(byID), len(convs)-len(deleted))
	}
	days := map[string]int{}
	for _, c := range convs {
		r, ok := byID[c.ID]
		if deleted[c.ID] {
			if ok {
				t.Errorf("DuckDB reads the row of deleted %s", c.ID)
			}
			continue
		}
		if !ok {
			t.Errorf("DuckDB reads no row of %s", c.ID)
			continue
		}
		got, err := v.Retrieve(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		checkRow(t, got, r, listed[c.ID])
		if e := listed[c.ID]; len(e.Signature) == 0 || r.MinHash != hex.EncodeToString(e.Signature) || r.Vector != hex.EncodeToString(e.Vector) {
			t.Errorf("%s: DuckDB reads minhash %.16s… and vector %.16s…; the catalog lists %x and %x", c.ID, r.MinHash, r.Vector, e.Signature, e.Vector)
		}
		days[r.Day]++
	}
	if len(days) < 10 {
		t.Fatalf("the rows span %d days, want the 13 they were created on", len(days))
	}
	t.Logf("DuckDB read %d rows over %d days, each checked against its conversation", len(rows), len(days))

	// A filter on the partition reads that day's rows, all of them.
	day := slices.Sorted(maps.Keys(days))[4]
	got := query("WHERE day = '" + day + "'")
	for _, r := range got {
		if r.Day != day {
			t.Errorf("WHERE day = %s: a row of %s", day, r.Day)
		}
	}
	if len(got) != days[day] {
		t.Errorf("WHERE day = %s: %d rows, want %d", day, len(got), days[day])
	}
}

// checkRow compares a row DuckDB read with the conversation retrieved and with the vault's own
// listing of it (the stored bytes and nonce, which only the store knows).
func checkRow(t *testing.T, c *conversation.Conversation, r duckRow, e catalog.Entry) {
	t.Helper()
	tok, err := tokenizer.Get(c.Tokenizer)
	if err != nil {
		t.Fatal(err)
	}
	tokens := map[string]int64{}
	var total int64
	for _, m := range c.Messages {
		n := int64(len(m.Tokens))
		if !m.HasTokens() {
			n = int64(len(tok.Encode(m.Content)))
		}
		tokens[m.Role] += n
		total += n
	}
	var gotTokens map[string]int64
	if err := json.Unmarshal([]byte(r.Tokens), &gotTokens); err != nil {
		t.Fatalf("%s: tokens %s: %v", c.ID, r.Tokens, err)
	}
	var gotMeta map[string]string
	if r.Metadata != "null" {
		if err := json.Unmarshal([]byte(r.Metadata), &gotMeta); err != nil {
			t.Fatalf("%s: metadata %s: %v", c.ID, r.Metadata, err)
		}
	}
	created := c.CreatedAt.UTC()
	switch {
	case r.Application != c.Application || r.Model != c.Model || r.Tokenizer != c.Tokenizer || r.Messages != len(c.Messages):
		t.Errorf("%s: DuckDB reads %q %q %q, %d messages; the conversation has %q %q %q, %d", c.ID,
			r.Application, r.Model, r.Tokenizer, r.Messages, c.Application, c.Model, c.Tokenizer, len(c.Messages))
	case r.CreatedMs != strconv.FormatInt(created.UnixMilli(), 10) || r.Day != created.Format(time.DateOnly):
		t.Errorf("%s: created %s on day %s, want %v", c.ID, r.CreatedMs, r.Day, created)
	case !maps.Equal(gotTokens, tokens) || r.TotalTokens != strconv.FormatInt(total, 10):
		t.Errorf("%s: tokens %v (total %s), want %v (%d)", c.ID, gotTokens, r.TotalTokens, tokens, total)
	case !maps.Equal(gotMeta, scalars(t, c.Metadata)):
		t.Errorf("%s: metadata %v, want %v", c.ID, gotMeta, scalars(t, c.Metadata))
	case r.Nonce != e.Nonce || r.StoredBytes != strconv.FormatInt(e.StoredBytes, 10) || r.StoredMs != strconv.FormatInt(e.StoredAt.UnixMilli(), 10):
		t.Errorf("%s: nonce %s, %s bytes, stored %s; the vault lists %+v", c.ID, r.Nonce, r.StoredBytes, r.StoredMs, e)
	}
}

// scalars returns the top-level scalars of a JSON object: strings as they are, numbers and
// booleans as their JSON text (null, objects and arrays left out).
func scalars(t *testing.T, raw json.RawMessage) map[string]string {
	t.Helper()
	var m map[string]json.RawMessage
	if len(raw) == 0 {
		return nil
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for k, v := range m {
		switch s := strings.TrimSpace(string(v)); {
		case strings.HasPrefix(s, `"`):
			var str string
			if err := json.Unmarshal(v, &str); err != nil {
				t.Fatal(err)
			}
			out[k] = str
		case s == "null" || strings.HasPrefix(s, "{") || strings.HasPrefix(s, "["):
		default:
			out[k] = s
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// quote quotes s as an SQL string literal.
func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
