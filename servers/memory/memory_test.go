package memory

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"
	"go.uber.org/goleak"

	"github.com/mcphub/mcphub/configs"
	"github.com/mcphub/mcphub/servers/registry"
	"github.com/mcphub/mcphub/servers/registry/registrytest"
)

var factory = registry.Factory{Name: "memory", Title: "Memory", DefaultEnabled: true, New: New}

func TestConformance(t *testing.T)   { registrytest.Conformance(t, factory) }
func TestToolSnapshots(t *testing.T) { registrytest.ToolSnapshots(t, factory) }

// newServer returns a provisioned memory server over a fresh SQLite file, or a fresh PostgreSQL
// database while TestIntegrationPostgres reruns the tests.
func newServer(t testing.TB, mutate func(*Config)) *Server {
	t.Helper()
	s := New().(*Server)
	if mutate != nil {
		mutate(&s.cfg)
	}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	if pgBaseDSN != "" {
		s.cfg.PostgresDSN = freshPostgresDatabase(t)
	}
	cfg := &configs.Config{}
	cfg.Limits.OutputBudgetBytes = 256 << 10
	env := registry.Env{Config: cfg, DataDir: t.TempDir() + "/memory", Logger: slog.New(slog.DiscardHandler)}
	if err := s.Provision(context.Background(), env); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// call runs the named tool as identity id and returns the result.
func call(t testing.TB, s *Server, id, name string, args map[string]any) *mcp.CallToolResult {
	t.Helper()
	ctx := registry.WithIdentity(context.Background(), id)
	for _, tool := range s.Tools() {
		if tool.Def.Name != name {
			continue
		}
		var req mcp.CallToolRequest
		req.Params.Name = name
		req.Params.Arguments = args
		res, err := tool.Handler(ctx, req)
		if err != nil {
			t.Fatalf("%s: Go error %v", name, err)
		}
		return res
	}
	t.Fatalf("no tool %s", name)
	return nil
}

// callOK runs the tool, fails on an error result, and decodes the structured content into out.
func callOK(t testing.TB, s *Server, id, name string, args map[string]any, out any) {
	t.Helper()
	res := call(t, s, id, name, args)
	if res.IsError {
		t.Fatalf("%s(%v): error result %q", name, args, text(res))
	}
	if out == nil {
		return
	}
	b, err := json.Marshal(res.StructuredContent)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatal(err)
	}
	// The text copy carries the same JSON for clients that read text only.
	if !json.Valid([]byte(text(res))) {
		t.Errorf("%s: text is not JSON: %q", name, text(res))
	}
}

func text(res *mcp.CallToolResult) string {
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String()
}

func entitiesArg(es ...Entity) map[string]any {
	list := make([]any, len(es))
	for i, e := range es {
		obs := make([]any, len(e.Observations))
		for j, o := range e.Observations {
			obs[j] = o
		}
		list[i] = map[string]any{"name": e.Name, "entityType": e.EntityType, "observations": obs}
	}
	return map[string]any{"entities": list}
}

func relationsArg(rs ...Relation) map[string]any {
	list := make([]any, len(rs))
	for i, r := range rs {
		list[i] = map[string]any{"from": r.From, "to": r.To, "relationType": r.RelationType}
	}
	return map[string]any{"relations": list}
}

func readAll(t testing.TB, s *Server, id string) Graph {
	t.Helper()
	var res readGraphResult
	callOK(t, s, id, "memory_read_graph", map[string]any{"limit": maxPageItems}, &res)
	if res.NextOffset != nil {
		t.Fatalf("graph larger than one page: %d items", res.Total)
	}
	return Graph{Entities: res.Entities, Relations: res.Relations}
}

// seed is the graph most semantic tests start from.
func seed(t testing.TB, s *Server, id string) {
	t.Helper()
	callOK(t, s, id, "memory_create_entities", entitiesArg(
		Entity{Name: "Alice", EntityType: "person", Observations: []string{"works on the compiler", "likes tea"}},
		Entity{Name: "Bob", EntityType: "person", Observations: []string{"likes coffee"}},
		Entity{Name: "Acme", EntityType: "company", Observations: []string{"makes anvils"}},
	), nil)
	callOK(t, s, id, "memory_create_relations", relationsArg(
		Relation{"Alice", "Acme", "works_at"},
		Relation{"Bob", "Acme", "works_at"},
		Relation{"Alice", "Bob", "knows"},
	), nil)
}

func TestCreateEntitiesSkipsExisting(t *testing.T) {
	s := newServer(t, nil)
	seed(t, s, "local")
	var res createEntitiesResult
	callOK(t, s, "local", "memory_create_entities", entitiesArg(
		Entity{Name: "Alice", EntityType: "robot", Observations: []string{"new fact"}},
		Entity{Name: "Carol", EntityType: "person", Observations: []string{"x", "x"}},
		Entity{Name: "Carol", EntityType: "person", Observations: []string{"y"}},
	), &res)
	want := []Entity{{Name: "Carol", EntityType: "person", Observations: []string{"x"}}}
	if !reflect.DeepEqual(res.Entities, want) {
		t.Errorf("created %+v, want %+v", res.Entities, want)
	}
	var open Graph
	callOK(t, s, "local", "memory_open_nodes", map[string]any{"names": []any{"Alice"}}, &open)
	if got := open.Entities[0]; got.EntityType != "person" || len(got.Observations) != 2 {
		t.Errorf("an existing entity was changed: %+v", got)
	}
}

func TestCreateRelationsSkipsDuplicates(t *testing.T) {
	s := newServer(t, nil)
	seed(t, s, "local")
	var res createRelationsResult
	callOK(t, s, "local", "memory_create_relations", relationsArg(
		Relation{"Alice", "Acme", "works_at"},
		Relation{"Acme", "Alice", "employs"},
		Relation{"Acme", "Alice", "employs"},
		Relation{"Alice", "Nobody", "knows"}, // the reference server allows dangling relations
	), &res)
	want := []Relation{{"Acme", "Alice", "employs"}, {"Alice", "Nobody", "knows"}}
	if !reflect.DeepEqual(res.Relations, want) {
		t.Errorf("created %+v, want %+v", res.Relations, want)
	}
	if n := len(readAll(t, s, "local").Relations); n != 5 {
		t.Errorf("%d relations, want 5", n)
	}
}

func TestAddObservations(t *testing.T) {
	s := newServer(t, nil)
	seed(t, s, "local")
	var res addObservationsResult
	callOK(t, s, "local", "memory_add_observations", map[string]any{"observations": []any{
		map[string]any{"entityName": "Alice", "contents": []any{"likes tea", "plays chess"}},
		map[string]any{"entityName": "Bob", "contents": []any{"likes coffee"}},
	}}, &res)
	want := []ObservationsAdded{{"Alice", []string{"plays chess"}}, {"Bob", []string{}}}
	if !reflect.DeepEqual(res.Results, want) {
		t.Errorf("added %+v, want %+v", res.Results, want)
	}

	// An unknown entity is an error and nothing of the call is kept.
	r := call(t, s, "local", "memory_add_observations", map[string]any{"observations": []any{
		map[string]any{"entityName": "Alice", "contents": []any{"should not stay"}},
		map[string]any{"entityName": "Nobody", "contents": []any{"x"}},
	}})
	if !r.IsError || !strings.Contains(text(r), `"Nobody" is not an entity`) || !strings.Contains(text(r), "memory_create_entities") {
		t.Errorf("unknown entity: %v %q", r.IsError, text(r))
	}
	var open Graph
	callOK(t, s, "local", "memory_open_nodes", map[string]any{"names": []any{"Alice"}}, &open)
	if got := open.Entities[0].Observations; !reflect.DeepEqual(got, []string{"works on the compiler", "likes tea", "plays chess"}) {
		t.Errorf("observations after a failed call: %q", got)
	}
}

func TestDeleteEntitiesCascades(t *testing.T) {
	s := newServer(t, nil)
	seed(t, s, "local")
	var res deleteResult
	callOK(t, s, "local", "memory_delete_entities", map[string]any{"entityNames": []any{"Acme", "Nobody"}}, &res)
	if !res.Success || res.Deleted != 1 {
		t.Errorf("delete result %+v", res)
	}
	g := readAll(t, s, "local")
	if len(g.Entities) != 2 || !reflect.DeepEqual(g.Relations, []Relation{{"Alice", "Bob", "knows"}}) {
		t.Errorf("graph after delete: %+v", g)
	}
	// The search index forgot the entity too.
	var found Graph
	callOK(t, s, "local", "memory_search_nodes", map[string]any{"query": "anvils"}, &found)
	if len(found.Entities) != 0 {
		t.Errorf("a deleted entity is still found: %+v", found)
	}
	// A re-created entity starts empty.
	callOK(t, s, "local", "memory_create_entities", entitiesArg(Entity{Name: "Acme", EntityType: "company"}), nil)
	callOK(t, s, "local", "memory_open_nodes", map[string]any{"names": []any{"Acme"}}, &found)
	if len(found.Entities) != 1 || len(found.Entities[0].Observations) != 0 {
		t.Errorf("re-created entity: %+v", found)
	}
}

func TestDeleteObservationsAndRelations(t *testing.T) {
	s := newServer(t, nil)
	seed(t, s, "local")
	var res deleteResult
	callOK(t, s, "local", "memory_delete_observations", map[string]any{"deletions": []any{
		map[string]any{"entityName": "Alice", "observations": []any{"likes tea", "never said"}},
		map[string]any{"entityName": "Nobody", "observations": []any{"x"}},
	}}, &res)
	if res.Deleted != 1 {
		t.Errorf("deleted %d observations, want 1", res.Deleted)
	}
	callOK(t, s, "local", "memory_delete_relations", relationsArg(Relation{"Alice", "Bob", "knows"}, Relation{"Alice", "Bob", "hates"}), &res)
	if res.Deleted != 1 {
		t.Errorf("deleted %d relations, want 1", res.Deleted)
	}
	var g Graph
	callOK(t, s, "local", "memory_open_nodes", map[string]any{"names": []any{"Alice"}}, &g)
	if !reflect.DeepEqual(g.Entities[0].Observations, []string{"works on the compiler"}) {
		t.Errorf("observations %q", g.Entities[0].Observations)
	}
	if !reflect.DeepEqual(g.Relations, []Relation{{"Alice", "Acme", "works_at"}}) {
		t.Errorf("relations %+v", g.Relations)
	}
	var found Graph
	callOK(t, s, "local", "memory_search_nodes", map[string]any{"query": "tea"}, &found)
	if len(found.Entities) != 0 {
		t.Errorf("a deleted observation is still found: %+v", found)
	}
}

func TestOpenNodes(t *testing.T) {
	s := newServer(t, nil)
	seed(t, s, "local")
	var g Graph
	callOK(t, s, "local", "memory_open_nodes", map[string]any{"names": []any{"Bob", "Nobody"}}, &g)
	// Relations with at least one end among the opened nodes, as the reference server does.
	want := Graph{
		Entities:  []Entity{{Name: "Bob", EntityType: "person", Observations: []string{"likes coffee"}}},
		Relations: []Relation{{"Bob", "Acme", "works_at"}, {"Alice", "Bob", "knows"}},
	}
	if !reflect.DeepEqual(g, want) {
		t.Errorf("open = %+v, want %+v", g, want)
	}
}

func TestSearchRanksAndSanitizes(t *testing.T) {
	s := newServer(t, nil)
	seed(t, s, "local")
	callOK(t, s, "local", "memory_create_entities", entitiesArg(
		Entity{Name: "Teapot", EntityType: "object", Observations: []string{"holds tea"}},
		Entity{Name: "Zed", EntityType: "person", Observations: []string{"drinks tea", "tea tea tea"}},
	), nil)
	tests := []struct {
		query string
		want  []string // entity names, in rank order
	}{
		{"anvil", []string{"Acme"}},                 // prefix of a word in an observation
		{"ALI", []string{"Alice"}},                  // case-insensitive prefix of the name
		{"company", []string{"Acme"}},               // the type
		{"tea", []string{"Teapot", "Zed", "Alice"}}, // a name match outranks observations
		{"coffee OR anvils", []string{"Acme", "Bob"}},
		{`"tea" NOT`, []string{"Teapot", "Zed", "Alice"}},
		{"name:Alice", []string{"Alice"}}, // no column filters: "name" matches nothing, Alice does
		{"(chess* NEAR(", nil},
		{"nothing matches this", nil},
	}
	for _, tt := range tests {
		var g Graph
		callOK(t, s, "local", "memory_search_nodes", map[string]any{"query": tt.query}, &g)
		var got []string
		for _, e := range g.Entities {
			got = append(got, e.Name)
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("search %q = %q, want %q", tt.query, got, tt.want)
		}
	}
	// Equal scores are ordered by name, whatever the order of creation.
	callOK(t, s, "local", "memory_create_entities", entitiesArg(
		Entity{Name: "Twin B", EntityType: "twin", Observations: []string{"same"}},
		Entity{Name: "Twin C", EntityType: "twin", Observations: []string{"same"}},
		Entity{Name: "Twin A", EntityType: "twin", Observations: []string{"same"}},
	), nil)
	var g Graph
	callOK(t, s, "local", "memory_search_nodes", map[string]any{"query": "twin", "limit": 2}, &g)
	if len(g.Entities) != 2 || g.Entities[0].Name != "Twin A" || g.Entities[1].Name != "Twin B" {
		t.Errorf("limit 2 with equal ranks: want Twin A, Twin B, got %+v", g.Entities)
	}
	// Relations from or to a found entity come with it.
	callOK(t, s, "local", "memory_search_nodes", map[string]any{"query": "anvils"}, &g)
	if len(g.Relations) != 2 {
		t.Errorf("relations of Acme: %+v", g.Relations)
	}
	r := call(t, s, "local", "memory_search_nodes", map[string]any{"query": `"" * ()`})
	if !r.IsError || !strings.Contains(text(r), "no words") {
		t.Errorf("a query without words: %v %q", r.IsError, text(r))
	}
}

func TestNamespacesIsolateIdentities(t *testing.T) {
	s := newServer(t, func(c *Config) { c.Namespaces = map[string]string{"agent-c": "team", "agent-d": "team"} })
	seed(t, s, "agent-a")
	for _, id := range []string{"agent-b", "local", "agent-c"} {
		if g := readAll(t, s, id); len(g.Entities)+len(g.Relations) != 0 {
			t.Errorf("%s sees agent-a's graph: %+v", id, g)
		}
		var found Graph
		callOK(t, s, id, "memory_search_nodes", map[string]any{"query": "alice"}, &found)
		callOK(t, s, id, "memory_open_nodes", map[string]any{"names": []any{"Alice"}}, &found)
		if len(found.Entities) != 0 {
			t.Errorf("%s finds agent-a's entity", id)
		}
		r := call(t, s, id, "memory_add_observations", map[string]any{"observations": []any{
			map[string]any{"entityName": "Alice", "contents": []any{"x"}}}})
		if !r.IsError {
			t.Errorf("%s added to agent-a's entity", id)
		}
		callOK(t, s, id, "memory_delete_entities", map[string]any{"entityNames": []any{"Alice"}}, nil)
	}
	if g := readAll(t, s, "agent-a"); len(g.Entities) != 3 || len(g.Relations) != 3 {
		t.Errorf("agent-a's graph changed: %+v", g)
	}
	// Identities mapped to one namespace share it.
	callOK(t, s, "agent-c", "memory_create_entities", entitiesArg(Entity{Name: "Shared", EntityType: "note"}), nil)
	if g := readAll(t, s, "agent-d"); len(g.Entities) != 1 || g.Entities[0].Name != "Shared" {
		t.Errorf("agent-d does not see the shared namespace: %+v", g)
	}
	if g := readAll(t, s, "team"); len(g.Entities) != 0 {
		t.Errorf("an identity named like the namespace sees it: %+v", g)
	}
}

func TestLimits(t *testing.T) {
	s := newServer(t, func(c *Config) {
		c.MaxItemsPerCall, c.MaxObservationsPerCall, c.MaxObservationBytes = 2, 3, 20
	})
	tests := []struct {
		name, tool string
		args       map[string]any
		want       string
	}{
		{"too many entities", "memory_create_entities", entitiesArg(Entity{Name: "a", EntityType: "t"}, Entity{Name: "b", EntityType: "t"}, Entity{Name: "c", EntityType: "t"}), "limit is 2"},
		{"too many observations", "memory_create_entities", entitiesArg(Entity{Name: "a", EntityType: "t", Observations: []string{"1", "2", "3", "4"}}), "limit is 3"},
		{"long observation", "memory_create_entities", entitiesArg(Entity{Name: "a", EntityType: "t", Observations: []string{strings.Repeat("x", 21)}}), "split it"},
		{"empty name", "memory_create_entities", entitiesArg(Entity{Name: " ", EntityType: "t"}), "entities[0].name is empty"},
		{"empty relation type", "memory_create_relations", relationsArg(Relation{"a", "b", ""}), "relations[0].relationType is empty"},
		{"too many names", "memory_open_nodes", map[string]any{"names": []any{"a", "b", "c"}}, "limit is 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := call(t, s, "local", tt.tool, tt.args)
			if !r.IsError || !strings.Contains(text(r), tt.want) {
				t.Errorf("want an error result with %q, got %v %q", tt.want, r.IsError, text(r))
			}
		})
	}
	if g := readAll(t, s, "local"); len(g.Entities) != 0 {
		t.Errorf("a refused call wrote: %+v", g)
	}
}

func TestReadGraphPages(t *testing.T) {
	s := newServer(t, nil)
	s.budget = 4096 // small, so that the budget rather than the limit cuts pages
	var want []string
	for i := range 60 {
		name := "entity-" + strings.Repeat("x", 40) + "-" + string(rune('A'+i%26)) + string(rune('a'+i/26))
		want = append(want, name)
		callOK(t, s, "local", "memory_create_entities", entitiesArg(Entity{Name: name, EntityType: "thing", Observations: []string{"fact " + name}}), nil)
	}
	callOK(t, s, "local", "memory_create_relations", relationsArg(Relation{want[0], want[1], "next"}), nil)
	var got []string
	rels := 0
	offset, pages := 0, 0
	for {
		var res readGraphResult
		callOK(t, s, "local", "memory_read_graph", map[string]any{"offset": offset}, &res)
		pages++
		for _, e := range res.Entities {
			got = append(got, e.Name)
		}
		rels += len(res.Relations)
		if res.Total != 61 {
			t.Fatalf("total %d, want 61", res.Total)
		}
		if res.NextOffset == nil {
			break
		}
		if !strings.Contains(res.Note, "offset=") {
			t.Errorf("note does not say how to get the rest: %q", res.Note)
		}
		offset = *res.NextOffset
		if pages > 100 {
			t.Fatal("paging does not end")
		}
	}
	if pages < 2 || !reflect.DeepEqual(got, want) || rels != 1 {
		t.Errorf("pages %d, %d entities, %d relations; want several pages and everything once", pages, len(got), rels)
	}
}

func TestDataDirIsPrivate(t *testing.T) {
	dir := t.TempDir() + "/memory"
	st, err := OpenStore(context.Background(), defaultConfig(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("data dir mode %v, want 0700", fi.Mode().Perm())
	}
	if _, err := os.Stat(dir + "/memory.db"); err != nil {
		t.Errorf("no database file: %v", err)
	}
}

// TestNoGoroutineLeak: Close releases every connection and its goroutines.
func TestNoGoroutineLeak(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	s := newServer(t, nil)
	seed(t, s, "local")
	callOK(t, s, "local", "memory_search_nodes", map[string]any{"query": "alice"}, nil)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestResultsFitTheBudget: a structured result over the output budget would be an error, so
// search, open and read cut what does not fit and say so.
func TestResultsFitTheBudget(t *testing.T) {
	s := newServer(t, nil)
	s.budget = 4096
	var obs []string
	for i := range 50 {
		obs = append(obs, fmt.Sprintf("%02d %s", i, strings.Repeat("fact ", 40)))
	}
	callOK(t, s, "local", "memory_create_entities", entitiesArg(
		Entity{Name: "Huge", EntityType: "thing", Observations: obs},
		Entity{Name: "Small", EntityType: "thing", Observations: []string{"fact"}},
	), nil)
	var rels []Relation
	for i := range 100 {
		rels = append(rels, Relation{"Small", fmt.Sprintf("Target %03d", i), "points_to"})
	}
	callOK(t, s, "local", "memory_create_relations", relationsArg(rels...), nil)

	var res nodesResult
	callOK(t, s, "local", "memory_open_nodes", map[string]any{"names": []any{"Huge"}}, &res)
	if len(res.Entities) != 1 || len(res.Entities[0].Observations) == 0 || len(res.Entities[0].Observations) >= 50 ||
		res.Entities[0].Observations[0] != obs[0] || !strings.Contains(res.Note, `observations of "Huge"`) {
		t.Errorf("open Huge: %d observations, note %q", len(res.Entities[0].Observations), res.Note)
	}
	callOK(t, s, "local", "memory_open_nodes", map[string]any{"names": []any{"Small"}}, &res)
	if len(res.Entities) != 1 || len(res.Relations) == 0 || len(res.Relations) == 100 || !strings.Contains(res.Note, "relations") {
		t.Errorf("open Small: %d relations, note %q", len(res.Relations), res.Note)
	}
	callOK(t, s, "local", "memory_search_nodes", map[string]any{"query": "fact"}, &res)
	if !strings.Contains(res.Note, "lower limit") {
		t.Errorf("search: note %q", res.Note)
	}
	// read_graph still reaches every item, page by page.
	seen, offset := 0, 0
	for range 200 {
		var page readGraphResult
		callOK(t, s, "local", "memory_read_graph", map[string]any{"offset": offset}, &page)
		seen += len(page.Entities) + len(page.Relations)
		if page.NextOffset == nil {
			break
		}
		offset = *page.NextOffset
	}
	if seen != 102 {
		t.Errorf("read %d items page by page, want 102", seen)
	}
}

func TestValidate(t *testing.T) {
	s := New().(*Server)
	s.cfg.MaxItemsPerCall = 0
	s.cfg.Namespaces = map[string]string{"a": "bad namespace!"}
	err := s.Validate()
	if err == nil || !strings.Contains(err.Error(), "servers.memory.max_items_per_call") || !strings.Contains(err.Error(), "servers.memory.namespaces.a") {
		t.Errorf("Validate() = %v", err)
	}
}

func TestReadiness(t *testing.T) {
	s := New().(*Server)
	if r := s.Readiness(context.Background()); r.Ready {
		t.Error("ready before provisioning")
	}
	s = newServer(t, nil)
	if r := s.Readiness(context.Background()); !r.Ready {
		t.Errorf("not ready: %+v", r)
	}
	_ = s.Close()
	r := call(t, s, "local", "memory_read_graph", nil)
	if !r.IsError {
		t.Error("a call after Close succeeded")
	}
}
