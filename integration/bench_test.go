package integration

import (
	"context"
	"testing"

	"github.com/stowken/stowken/bench"
	catparquet "github.com/stowken/stowken/catalog/parquet"
	"github.com/stowken/stowken/cost"
	"github.com/stowken/stowken/internal/corpus"
)

// TestBenchOnServers: a benchmark against S3 and DynamoDB reports the cost from what the
// server reported (not modelled), priced by the table's class.
func TestBenchOnServers(t *testing.T) {
	st := newStore(t)
	ctx := context.Background()
	cat := catparquet.New(st.Bucket, catparquet.Options{})
	rep, err := bench.Run(ctx, bench.Options{Corpus: []string{corpus.Path(t, "sample.jsonl")}, Workload: "chat", Limit: 40, Batch: 10,
		Target: &bench.Target{Bucket: st.Bucket, Refs: st.Refs, Catalog: cat, Location: st.StoreURL}})
	if err != nil {
		t.Fatal(err)
	}
	c := rep.Cost
	if c.TableClass != cost.TableClassStandard { // dynalite reports no class: Standard
		t.Errorf("the bench priced the table as %q", c.TableClass)
	}
	if c.Modelled || rep.RoundtripOK != 40 || c.PerConversation.DDBWRU < 1 || c.PerConversation.S3PutClass < 0.1 || c.USDPerMillion.Total <= 0 {
		t.Errorf("cost against the servers: modelled %v, %d round trips, %+v, $%v per million", c.Modelled, rep.RoundtripOK, c.PerConversation, c.USDPerMillion.Total)
	}
	t.Logf("40 sample conversations in batches of 10: %+v; $%.2f per million (naive $%.2f, delivery stream $%.2f)", c.PerConversation,
		c.USDPerMillion.Total, c.Baselines["naive"].USDPerMillion.Total, c.Baselines["delivery_stream"].USDPerMillion.Total)
}
