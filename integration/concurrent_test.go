package integration

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stowken/stowken/conversation"
	"github.com/stowken/stowken/vault"
)

// storeJob is one Store of TestConcurrentOverlappingStores.
type storeJob struct {
	id     string
	line   []byte
	delete bool // store, then delete at once
}

func jobIDs(jobs []storeJob) []string {
	out := make([]string, len(jobs))
	for i, j := range jobs {
		out[i] = j.id
	}
	return out
}

// TestConcurrentOverlappingStores runs 16 goroutines, over 4 vaults (4 processes), that store
// overlapping conversations at once: every conversation twice (same id, same content), most
// of them sharing one of 4 long system prompts; meanwhile short-lived conversations with the
// same prompts are stored and deleted, and two collectors run GC with no grace period in a loop.
// Afterwards exactly one Store of each id created it, every conversation retrieves exactly,
// the deleted ones are gone, Verify reports OK, and a last GC leaves exactly the segments the
// stored conversations use.
func TestConcurrentOverlappingStores(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	ctx := context.Background()
	const workers, writers = 16, 4

	var prompts [4]string
	for i := range prompts {
		prompts[i] = words(10+i, 2000)
	}
	var kept []storeJob
	for i := range 96 {
		user := fmt.Sprintf("Question %d: what changed?", i)
		if i%3 == 0 {
			user += "\n" + words(1000+i, 400) // long enough to be segments of its own
		}
		c := chat(fmt.Sprintf("conc-%02d", i), fmt.Sprintf("conc-%d", i%4), prompts[i%4], user, fmt.Sprintf("Answer %d.", i))
		kept = append(kept, storeJob{id: c.ID, line: mustMarshal(t, c)})
	}
	sample, sampleLines := readCorpus(t, "sample.jsonl", 80)
	for i, c := range sample {
		kept = append(kept, storeJob{id: c.ID, line: sampleLines[i]})
	}
	jobs := append(append([]storeJob{}, kept...), kept...) // every one twice
	var ephemeral []string
	for i := range 32 {
		c := chat(fmt.Sprintf("eph-%02d", i), fmt.Sprintf("conc-%d", i%4), prompts[i%4], words(2000+i, 400), "Gone soon.")
		jobs = append(jobs, storeJob{id: c.ID, line: mustMarshal(t, c), delete: true})
		ephemeral = append(ephemeral, c.ID)
	}
	rand.New(rand.NewPCG(20261125, 1)).Shuffle(len(jobs), func(i, j int) { jobs[i], jobs[j] = jobs[j], jobs[i] })

	vaults := make([]*vault.Vault, writers)
	for i := range vaults {
		vaults[i] = st.open(t, vault.Options{})
	}
	// Two collectors: GC with no grace period, over and over, until the writers are done.
	done := make(chan struct{})
	var gcRuns, gcDeleted, gcLost atomic.Int64
	var gcWG sync.WaitGroup
	for range 2 {
		collector := st.open(t, vault.Options{})
		gcWG.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				rep, err := collector.GC(ctx, vault.GCOptions{Grace: 0})
				if err != nil {
					t.Errorf("GC while storing: %v", err)
					return
				}
				gcRuns.Add(1)
				gcDeleted.Add(int64(rep.Deleted))
				gcLost.Add(int64(rep.LostClaims))
				time.Sleep(5 * time.Millisecond)
			}
		})
	}

	var mu sync.Mutex
	created := map[string]int{} // id → Stores that reported it new
	existed := map[string]int{} // id → Stores that reported it already stored
	ch := make(chan storeJob)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range workers {
		v := vaults[w%writers]
		wg.Go(func() {
			for j := range ch {
				c, err := conversation.Parse(j.line)
				if err != nil {
					t.Errorf("parse %s: %v", j.id, err)
					continue
				}
				res, err := v.Store(ctx, c)
				if err != nil {
					t.Errorf("store %q: %v", j.id, err)
					continue
				}
				mu.Lock()
				if res.Existed {
					existed[j.id]++
				} else {
					created[j.id]++
				}
				mu.Unlock()
				if j.delete {
					if err := v.Delete(ctx, j.id); err != nil {
						t.Errorf("delete %q: %v", j.id, err)
					}
				}
			}
		})
	}
	for _, j := range jobs {
		ch <- j
	}
	close(ch)
	wg.Wait()
	close(done)
	gcWG.Wait()
	t.Logf("%d stores (%d conversations twice, %d stored and deleted) by %d goroutines over %d vaults in %s; meanwhile %d GC runs deleted %d segments, lost %d claims",
		len(jobs), len(kept), len(ephemeral), workers, writers, time.Since(start).Round(time.Millisecond), gcRuns.Load(), gcDeleted.Load(), gcLost.Load())
	if t.Failed() {
		t.FailNow()
	}
	for _, j := range kept {
		if created[j.id] != 1 || existed[j.id] != 1 {
			t.Errorf("%q stored twice: %d Stores created it, %d found it stored; want 1 and 1", j.id, created[j.id], existed[j.id])
		}
	}

	// Verify sees leaks older than auditTimeout: give the last writes that age.
	time.Sleep(2 * auditTimeout)
	reader := st.open(t, vault.Options{StoreTimeout: auditTimeout})
	check := func(when string, collected bool) {
		t.Helper()
		got, errs := reader.RetrieveBatch(ctx, jobIDs(kept))
		for i, j := range kept {
			if errs[i] != nil {
				t.Fatalf("%s: retrieve %q: %v", when, j.id, errs[i])
			}
			checkRetrieved(t, j.id, got[i], j.line)
		}
		for _, id := range ephemeral {
			if _, err := reader.Retrieve(ctx, id); !errors.Is(err, vault.ErrNotFound) {
				t.Errorf("%s: retrieve deleted %q: %v, want ErrNotFound", when, id, err)
			}
		}
		rep, err := reader.Verify(ctx, vault.VerifyOptions{MinAge: time.Millisecond})
		if err != nil {
			t.Fatalf("%s: verify: %v", when, err)
		}
		if !rep.OK() || rep.Manifests != len(kept) {
			t.Errorf("%s: verify: OK %v, %d manifests (want %d): %+v", when, rep.OK(), rep.Manifests, len(kept), rep)
		}
		// Every Store that lost the race for an id dropped its references; nothing leaked.
		if rep.LeakedRefs != 0 || rep.LeakedObjects != 0 || rep.DanglingHeads != 0 {
			t.Errorf("%s: verify found leaks: %d references, %d objects, %d heads without object", when, rep.LeakedRefs, rep.LeakedObjects, rep.DanglingHeads)
		}
		if collected && rep.Unreferenced != 0 {
			t.Errorf("%s: verify found %d unreferenced segments", when, rep.Unreferenced)
		}
		for _, p := range rep.Problems {
			t.Logf("%s: verify: %s", when, p)
		}
	}
	check("after the concurrent stores", false)

	// Nothing a stored conversation uses may go; everything else that was marked does, once
	// the batches of the deleted conversations are past their writer deadline: collect as a
	// run an hour later would (the first run retires them, the second collects).
	later := st.open(t, vault.Options{Now: func() time.Time { return time.Now().Add(time.Hour) }})
	var rep vault.GCReport
	for range 2 {
		var err error
		if rep, err = later.GC(ctx, vault.GCOptions{Grace: 0}); err != nil {
			t.Fatal(err)
		}
	}
	used := map[string]bool{}
	for _, j := range kept {
		m, err := reader.Manifest(ctx, j.id)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range m.Segments() {
			used[s] = true
		}
	}
	objects := st.segmentObjects(t)
	for s := range used {
		if !objects[s] {
			t.Errorf("segment %s, used by a stored conversation, is gone", s)
		}
	}
	for s := range objects {
		if !used[s] {
			t.Errorf("segment %s is used by no stored conversation but survived GC", s)
		}
	}
	t.Logf("final GC: %d candidates, %d deleted, %d still referenced; %d segment objects, all used", rep.Candidates, rep.Deleted, rep.Referenced, len(objects))
	check("after the final GC", true)
}
