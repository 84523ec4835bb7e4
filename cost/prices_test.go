package cost

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func near(a, b float64) bool { return math.Abs(a-b) < 0.005 }

// TestCost reproduces the figures of the wire meter quoted in issue 13 (per conversation: 1.12
// S3 PUTs, 5.06 DynamoDB WRU, 0.48 RRU, 421 bytes in S3, 2,692 in DynamoDB): $16.45 per million
// conversations for the writes and 12 months of storage.
func TestCost(t *testing.T) {
	per := Usage{S3PutClass: 1.12, DDBWRU: 5.06, DDBRRU: 0.48, S3Bytes: 421, DDBBytes: 2692}
	d := DefaultPrices().Cost(per.Scale(1e6), 12)
	if !near(d.Writes, 8.8225) || !near(d.StoragePerMonth, 0.6358) || !near(d.Total, 16.45) {
		t.Fatalf("cost per million = %+v, want writes 8.82, storage 0.636/month, total 16.45", d)
	}
}

func TestBaselines(t *testing.T) {
	p := DefaultPrices()
	// One gzip JSON object of 1.5 KB per conversation: $5 per million in PUTs.
	if d := p.Cost(NaiveGzipJSON(1e6, 1500e6), 12); !near(d.Writes, 5) || d.Total <= d.Writes {
		t.Errorf("naive: %+v", d)
	}
	// A million records of 6 KB: each billed as 10 KB; 5.7 GiB in 46 batches of 128 MiB.
	recs := make([]int, 1e6)
	for i := range recs {
		recs[i] = 6 << 10
	}
	u := DeliveryStream(recs, 1e9)
	if u.FirehoseBytes != 1e6*10240 || u.S3PutClass != 46 {
		t.Errorf("delivery stream: %+v, want 10,240,000,000 billed bytes and 46 PUTs", u)
	}
	if d := p.Cost(u, 12); !near(d.Writes, 1e6*10240/float64(gb)*0.029+46*0.005/1000) {
		t.Errorf("delivery stream writes $%.4f", d.Writes)
	}
}

func TestLoadPrices(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(body), 0o644)
		return p
	}
	p, err := LoadPrices(write("ok.json", `{"s3_put_per_1000": 0.0054, "source": "eu-west-1, 2026-12-01"}`))
	if err != nil || p.S3PutPer1000 != 0.0054 || p.DDBWRUPerMillion != 0.625 || p.Source != "eu-west-1, 2026-12-01" {
		t.Fatalf("LoadPrices = %+v, %v", p, err)
	}
	for name, body := range map[string]string{"unknown.json": `{"s3_puts_per_1000": 1}`, "negative.json": `{"ddb_gb_month": -1}`, "bad.json": `{`} {
		if _, err := LoadPrices(write(name, body)); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: %v, want an error naming the file", name, err)
		}
	}
}

// TestTableClass: Standard-IA prices apply when asked for, from a --prices file too, and an
// unknown class is an error.
func TestTableClass(t *testing.T) {
	per := Usage{DDBWRU: 1, DDBBytes: 170}.Scale(1e6)
	ia, err := DefaultPrices().ForTableClass(TableClassStandardIA)
	if err != nil {
		t.Fatal(err)
	}
	std, ias := DefaultPrices().Cost(per, 12), ia.Cost(per, 12)
	// One item of 170 billed bytes per conversation: $0.625 to write and $0.475 a year in
	// Standard; $0.78 and $0.19 in Standard-IA.
	if !near(std.Writes, 0.625) || !near(std.Total, 0.625+0.475) || !near(ias.Writes, 0.78125) || !near(ias.Total, 0.78125+0.19) {
		t.Errorf("Standard %+v, Standard-IA %+v", std, ias)
	}
	if _, err := DefaultPrices().ForTableClass("GLACIER"); err == nil {
		t.Error("an unknown table class was accepted")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "ia.json")
	os.WriteFile(path, []byte(`{"ddb_table_class": "STANDARD_INFREQUENT_ACCESS"}`), 0o644)
	if p, err := LoadPrices(path); err != nil || p.Cost(per, 12) != ias {
		t.Errorf("LoadPrices of a Standard-IA file: %+v, %v", p, err)
	}
	os.WriteFile(path, []byte(`{"ddb_table_class": "IA"}`), 0o644)
	if _, err := LoadPrices(path); err == nil {
		t.Error("LoadPrices accepted an unknown table class")
	}
	if r := NewReport(ia, 12, 1, nil, Usage{}, Usage{}, true); r.TableClass != TableClassStandardIA {
		t.Errorf("report of Standard-IA prices says %q", r.TableClass)
	}
}
