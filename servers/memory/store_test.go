package memory

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"
)

// workload is what one concurrent writer does: it creates the same entities as every other
// writer, observations and relations that overlap with some of the others, and returns nothing;
// expectedGraph says what all writers together must leave.
func workload(ctx context.Context, st Store, ns string, w int) error {
	const n = 20
	var es []Entity
	for i := range n {
		es = append(es, Entity{Name: fmt.Sprintf("E%02d", i), EntityType: "node", Observations: []string{"created"}})
	}
	if _, err := st.CreateEntities(ctx, ns, es); err != nil {
		return err
	}
	if _, err := st.AddObservations(ctx, ns, []ObservationAdd{
		{EntityName: fmt.Sprintf("E%02d", w%n), Contents: []string{fmt.Sprintf("seen by %d", w%10), "common"}},
	}); err != nil {
		return err
	}
	_, err := st.CreateRelations(ctx, ns, []Relation{
		{fmt.Sprintf("E%02d", w%n), fmt.Sprintf("E%02d", (w+1)%n), "next"},
		{fmt.Sprintf("E%02d", w%n), fmt.Sprintf("E%02d", (w+7)%n), fmt.Sprintf("link%d", w%3)},
	})
	return err
}

// expectedGraph is the union of what writers 0..writers-1 wrote, as sorted strings.
func expectedGraph(writers int) (entities, relations []string) {
	const n = 20
	obs := map[string]map[string]bool{}
	rels := map[string]bool{}
	for i := range n {
		obs[fmt.Sprintf("E%02d", i)] = map[string]bool{"created": true}
	}
	for w := range writers {
		e := fmt.Sprintf("E%02d", w%n)
		obs[e][fmt.Sprintf("seen by %d", w%10)] = true
		obs[e]["common"] = true
		rels[fmt.Sprintf("%s>E%02d:next", e, (w+1)%n)] = true
		rels[fmt.Sprintf("%s>E%02d:link%d", e, (w+7)%n, w%3)] = true
	}
	for name, set := range obs {
		for o := range set {
			entities = append(entities, name+"/node/"+o)
		}
	}
	for r := range rels {
		relations = append(relations, r)
	}
	sort.Strings(entities)
	sort.Strings(relations)
	return entities, relations
}

// flatten turns a graph into the same sorted strings, keeping duplicates so that they show.
func flatten(g Graph) (entities, relations []string) {
	for _, e := range g.Entities {
		for _, o := range e.Observations {
			entities = append(entities, e.Name+"/"+e.EntityType+"/"+o)
		}
	}
	for _, r := range g.Relations {
		relations = append(relations, r.From+">"+r.To+":"+r.RelationType)
	}
	sort.Strings(entities)
	sort.Strings(relations)
	return entities, relations
}

func readWhole(ctx context.Context, t testing.TB, st Store, ns string) Graph {
	t.Helper()
	p, err := st.ReadPage(ctx, ns, 0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Entities)+len(p.Relations) != p.Total {
		t.Fatalf("read %d of %d items", len(p.Entities)+len(p.Relations), p.Total)
	}
	return p.Graph
}

// checkConcurrentWriters runs writers goroutines spread over the stores, all on namespace ns,
// and checks that the graph holds exactly the union of their writes.
func checkConcurrentWriters(t *testing.T, stores []Store, writers int) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			if err := workload(ctx, stores[w%len(stores)], "shared:load", w); err != nil {
				errs <- fmt.Errorf("writer %d: %w", w, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	g := readWhole(ctx, t, stores[0], "shared:load")
	gotE, gotR := flatten(g)
	wantE, wantR := expectedGraph(writers)
	if len(g.Entities) != 20 {
		t.Errorf("%d entities, want 20", len(g.Entities))
	}
	if fmt.Sprint(gotE) != fmt.Sprint(wantE) {
		t.Errorf("observations: got %d, want %d\n got %q\nwant %q", len(gotE), len(wantE), gotE, wantE)
	}
	if fmt.Sprint(gotR) != fmt.Sprint(wantR) {
		t.Errorf("relations: got %d, want %d\n got %q\nwant %q", len(gotR), len(wantR), gotR, wantR)
	}
}

// TestSQLiteTwoStoresConcurrentWriters opens the same file twice, as two processes would (each
// store has its own connections and SQLite's file locks arbitrate), and writes from 300
// goroutines at once. The two-process version over MCP is in cmd/mcphub.
func TestSQLiteTwoStoresConcurrentWriters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "memory.db")
	var stores []Store
	for range 2 {
		st, err := openSQLite(context.Background(), path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		stores = append(stores, st)
	}
	checkConcurrentWriters(t, stores, 300)
}
