package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcphub/mcphub/internal/testenv"
)

// The memory server driven through the real binary with the official SDK client: every tool
// over HTTP at both protocol versions and over stdio, identities kept apart, and two hub
// processes on one data directory under hundreds of concurrent writers.

// callMemory calls a tool, fails the test on a protocol error or an error result, and decodes
// the structured content into out (when not nil).
func callMemory(ctx context.Context, t *testing.T, cs *sdk.ClientSession, name string, args map[string]any, out any) {
	t.Helper()
	res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if res.IsError {
		t.Fatalf("%s: error result %q", name, resultText(res))
	}
	if out != nil {
		b, err := json.Marshal(res.StructuredContent)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s: structured content %s: %v", name, b, err)
		}
	}
}

type itEntity struct {
	Name         string   `json:"name"`
	EntityType   string   `json:"entityType"`
	Observations []string `json:"observations"`
}

type itRelation struct {
	From         string `json:"from"`
	To           string `json:"to"`
	RelationType string `json:"relationType"`
}

type itGraph struct {
	Entities   []itEntity   `json:"entities"`
	Relations  []itRelation `json:"relations"`
	Total      int          `json:"total"`
	NextOffset *int         `json:"nextOffset"`
}

func (g itGraph) names() []string {
	var out []string
	for _, e := range g.Entities {
		out = append(out, e.Name)
	}
	return out
}

// exerciseMemory runs every memory tool once through the session, on an empty namespace.
func exerciseMemory(ctx context.Context, t *testing.T, cs *sdk.ClientSession) {
	t.Helper()
	tools, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*sdk.Tool{}
	for _, tool := range tools.Tools {
		byName[tool.Name] = tool
	}
	for _, name := range []string{"memory_create_entities", "memory_create_relations", "memory_add_observations",
		"memory_delete_entities", "memory_delete_observations", "memory_delete_relations",
		"memory_search_nodes", "memory_open_nodes", "memory_read_graph"} {
		tool, ok := byName[name]
		if !ok {
			t.Fatalf("tools/list lacks %s", name)
		}
		if tool.OutputSchema == nil {
			t.Errorf("%s has no output schema", name)
		}
		a := tool.Annotations
		destructive := strings.HasPrefix(name, "memory_delete_")
		readOnly := slices.Contains([]string{"memory_search_nodes", "memory_open_nodes", "memory_read_graph"}, name)
		if a == nil || a.DestructiveHint == nil || *a.DestructiveHint != destructive || a.ReadOnlyHint != readOnly {
			t.Errorf("%s: annotations %+v, want destructive=%v readOnly=%v", name, a, destructive, readOnly)
		}
	}

	var created struct {
		Entities []itEntity `json:"entities"`
	}
	callMemory(ctx, t, cs, "memory_create_entities", map[string]any{"entities": []any{
		map[string]any{"name": "Alice", "entityType": "person", "observations": []any{"likes tea"}},
		map[string]any{"name": "Acme", "entityType": "company", "observations": []any{"makes anvils"}},
	}}, &created)
	if len(created.Entities) != 2 {
		t.Fatalf("created %+v", created)
	}
	callMemory(ctx, t, cs, "memory_create_entities", map[string]any{"entities": []any{
		map[string]any{"name": "Alice", "entityType": "person", "observations": []any{}},
	}}, &created)
	if len(created.Entities) != 0 {
		t.Errorf("an existing entity was created again: %+v", created)
	}
	callMemory(ctx, t, cs, "memory_create_relations", map[string]any{"relations": []any{
		map[string]any{"from": "Alice", "to": "Acme", "relationType": "works_at"},
	}}, nil)
	var added struct {
		Results []struct {
			EntityName        string   `json:"entityName"`
			AddedObservations []string `json:"addedObservations"`
		} `json:"results"`
	}
	callMemory(ctx, t, cs, "memory_add_observations", map[string]any{"observations": []any{
		map[string]any{"entityName": "Alice", "contents": []any{"likes tea", "plays chess"}},
	}}, &added)
	if len(added.Results) != 1 || !slices.Equal(added.Results[0].AddedObservations, []string{"plays chess"}) {
		t.Errorf("added %+v", added)
	}
	res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "memory_add_observations", Arguments: map[string]any{"observations": []any{
		map[string]any{"entityName": "Nobody", "contents": []any{"x"}},
	}}})
	if err != nil || !res.IsError || !strings.Contains(resultText(res), "memory_create_entities") {
		t.Errorf("unknown entity: want an error result naming the fix, got %v %+v", err, res)
	}

	var g itGraph
	callMemory(ctx, t, cs, "memory_search_nodes", map[string]any{"query": "chess"}, &g)
	if !slices.Equal(g.names(), []string{"Alice"}) || len(g.Relations) != 1 {
		t.Errorf("search chess: %+v", g)
	}
	callMemory(ctx, t, cs, "memory_open_nodes", map[string]any{"names": []any{"Acme"}}, &g)
	if !slices.Equal(g.names(), []string{"Acme"}) || len(g.Relations) != 1 {
		t.Errorf("open Acme: %+v", g)
	}
	callMemory(ctx, t, cs, "memory_delete_observations", map[string]any{"deletions": []any{
		map[string]any{"entityName": "Alice", "observations": []any{"likes tea"}},
	}}, nil)
	callMemory(ctx, t, cs, "memory_delete_relations", map[string]any{"relations": []any{
		map[string]any{"from": "Alice", "to": "Acme", "relationType": "works_at"},
	}}, nil)
	callMemory(ctx, t, cs, "memory_delete_entities", map[string]any{"entityNames": []any{"Acme"}}, nil)
	callMemory(ctx, t, cs, "memory_read_graph", map[string]any{}, &g)
	want := []itEntity{{Name: "Alice", EntityType: "person", Observations: []string{"plays chess"}}}
	if len(g.Entities) != 1 || g.Entities[0].Name != "Alice" || !slices.Equal(g.Entities[0].Observations, want[0].Observations) ||
		len(g.Relations) != 0 || g.Total != 1 {
		t.Errorf("graph after deletes: %+v", g)
	}
	// Tidy up so that the next protocol version starts from an empty namespace.
	callMemory(ctx, t, cs, "memory_delete_entities", map[string]any{"entityNames": []any{"Alice"}}, nil)
}

func TestIntegrationMemory(t *testing.T) {
	p := startHub(t, "servers:\n  memory: {enabled: true}\n")
	for _, version := range protocolVersions {
		t.Run("http/"+version, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cs := connectHTTP(ctx, t, p.base+"/mcp/memory", version, newProgressCounter())
			exerciseMemory(ctx, t, cs)
		})
	}
	bin := testBinary(t)
	for _, version := range protocolVersions {
		t.Run("stdio/"+version, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			stderr := &syncBuffer{}
			cmd := exec.CommandContext(ctx, bin, "serve", "--stdio", "--config", writeConfig(t, "127.0.0.1:0", "servers:\n  memory: {enabled: true}\n"))
			cmd.Stderr = stderr
			cs, err := newClient(newProgressCounter()).Connect(ctx, &sdk.CommandTransport{Command: cmd},
				&sdk.ClientSessionOptions{ProtocolVersion: version})
			if err != nil {
				t.Fatalf("connect over stdio: %v", err)
			}
			exerciseMemory(ctx, t, cs)
			if err := cs.Close(); err != nil {
				t.Errorf("closing the stdio session: %v", err)
			}
			checkNoRace(t, stderr.String())
			if t.Failed() {
				t.Logf("stderr:\n%s", stderr.String())
			}
		})
	}
}

// TestIntegrationMemoryIdentities: with API keys, each identity has its own graph unless the
// config maps identities to a shared namespace.
func TestIntegrationMemoryIdentities(t *testing.T) {
	keys := map[string]string{"agent-a": "key-a-0123456789abcdef", "agent-b": "key-b-0123456789abcdef",
		"agent-c": "key-c-0123456789abcdef", "agent-d": "key-d-0123456789abcdef"}
	var cfg strings.Builder
	cfg.WriteString("auth:\n  api_keys:\n")
	for _, id := range []string{"agent-a", "agent-b", "agent-c", "agent-d"} {
		fmt.Fprintf(&cfg, "    - {identity: %s, key: %q}\n", id, keys[id])
	}
	cfg.WriteString("servers:\n  memory:\n    namespaces: {agent-c: team, agent-d: team}\n")
	p := startHub(t, cfg.String())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	session := func(id string) *sdk.ClientSession {
		hc := &http.Client{Transport: headerTransport{"Authorization": "Bearer " + keys[id]}}
		cs, err := newClient(newProgressCounter()).Connect(ctx,
			&sdk.StreamableClientTransport{Endpoint: p.base + "/mcp/memory", HTTPClient: hc, MaxRetries: -1}, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cs.Close() })
		return cs
	}
	a, b, c, d := session("agent-a"), session("agent-b"), session("agent-c"), session("agent-d")
	callMemory(ctx, t, a, "memory_create_entities", map[string]any{"entities": []any{
		map[string]any{"name": "Secret", "entityType": "note", "observations": []any{"only for agent-a"}},
	}}, nil)
	var g itGraph
	for name, cs := range map[string]*sdk.ClientSession{"agent-b": b, "agent-c": c} {
		callMemory(ctx, t, cs, "memory_read_graph", map[string]any{}, &g)
		if len(g.Entities) != 0 {
			t.Errorf("%s reads agent-a's graph: %+v", name, g)
		}
		callMemory(ctx, t, cs, "memory_search_nodes", map[string]any{"query": "secret"}, &g)
		if len(g.Entities) != 0 {
			t.Errorf("%s finds agent-a's entity: %+v", name, g)
		}
	}
	callMemory(ctx, t, c, "memory_create_entities", map[string]any{"entities": []any{
		map[string]any{"name": "Plan", "entityType": "note", "observations": []any{"shared by the team"}},
	}}, nil)
	callMemory(ctx, t, d, "memory_open_nodes", map[string]any{"names": []any{"Plan", "Secret"}}, &g)
	if !slices.Equal(g.names(), []string{"Plan"}) {
		t.Errorf("agent-d in the shared namespace opens %v, want [Plan]", g.names())
	}
	callMemory(ctx, t, a, "memory_read_graph", map[string]any{}, &g)
	if !slices.Equal(g.names(), []string{"Secret"}) {
		t.Errorf("agent-a's graph: %v", g.names())
	}
}

// startHubOnData starts a hub on the given data directory (several hubs may share one).
func startHubOnData(t *testing.T, dataDir, extra string, env ...string) *hubProcess {
	t.Helper()
	addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	cfgPath := filepath.Join(t.TempDir(), "mcphub.yaml")
	cfg := fmt.Sprintf("listen: %s\ndata_dir: %s\n%s", addr, dataDir, extra)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return runHub(t, addr, cfgPath, env...)
}

// TestIntegrationMemoryTwoProcesses starts two hubs on ONE data directory (one SQLite file) and
// has 300 concurrent writers, half through each hub, create overlapping entities, observations
// and relations. Afterwards the graph holds exactly the union of the writes: nothing lost,
// nothing twice.
func TestIntegrationMemoryTwoProcesses(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	extra := "limits: {max_concurrent_calls: 256, tool_timeout: 120s}\nservers:\n  memory: {enabled: true}\n"
	checkTwoHubs(t, startHubOnData(t, dataDir, extra), startHubOnData(t, dataDir, extra))
}

// TestIntegrationMemoryTwoProcessesPostgres is the same with the two hubs on one PostgreSQL
// database (each with its own data directory), the DSN given through the environment.
func TestIntegrationMemoryTwoProcessesPostgres(t *testing.T) {
	testBinary(t) // skips under -short before PostgreSQL starts
	env := "IT_MEMORY_PG_DSN=" + testenv.StartPostgres(t)
	extra := "limits: {max_concurrent_calls: 256, tool_timeout: 120s}\nservers:\n  memory: {enabled: true, postgres_dsn: \"${IT_MEMORY_PG_DSN}\"}\n"
	checkTwoHubs(t,
		startHubOnData(t, filepath.Join(t.TempDir(), "data"), extra, env),
		startHubOnData(t, filepath.Join(t.TempDir(), "data"), extra, env))
}

// checkTwoHubs runs the 300 writers through the hubs and checks the graph each one reads.
func checkTwoHubs(t *testing.T, hubs ...*hubProcess) {
	t.Helper()
	const writers, entities, sessionsPerHub = 300, 20, 8

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	var sessions [][]*sdk.ClientSession
	for _, h := range hubs {
		var ss []*sdk.ClientSession
		for range sessionsPerHub {
			ss = append(ss, connectHTTP(ctx, t, h.base+"/mcp/memory", protocolVersions[0], newProgressCounter()))
		}
		sessions = append(sessions, ss)
	}
	name := func(i int) string { return fmt.Sprintf("E%02d", i%entities) }

	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	fail := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		failures = append(failures, fmt.Sprintf(format, args...))
	}
	call := func(cs *sdk.ClientSession, w int, tool string, args map[string]any) {
		res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: tool, Arguments: args})
		switch {
		case err != nil:
			fail("writer %d %s: %v", w, tool, err)
		case res.IsError:
			fail("writer %d %s: %s", w, tool, resultText(res))
		}
	}
	for w := range writers {
		cs := sessions[w%len(hubs)][(w/len(hubs))%sessionsPerHub]
		wg.Go(func() {
			var es []any
			for i := range entities {
				es = append(es, map[string]any{"name": name(i), "entityType": "node", "observations": []any{"created"}})
			}
			call(cs, w, "memory_create_entities", map[string]any{"entities": es})
			call(cs, w, "memory_add_observations", map[string]any{"observations": []any{
				map[string]any{"entityName": name(w), "contents": []any{fmt.Sprintf("seen by %d", w%10), "common"}},
			}})
			call(cs, w, "memory_create_relations", map[string]any{"relations": []any{
				map[string]any{"from": name(w), "to": name(w + 1), "relationType": "next"},
				map[string]any{"from": name(w), "to": name(w + 7), "relationType": fmt.Sprintf("link%d", w%3)},
			}})
		})
	}
	wg.Wait()
	for _, f := range failures {
		t.Error(f)
	}

	// What the writers wrote, as a set.
	wantObs := map[string]bool{}
	wantRel := map[string]bool{}
	for i := range entities {
		wantObs[name(i)+"/created"] = true
	}
	for w := range writers {
		wantObs[fmt.Sprintf("%s/seen by %d", name(w), w%10)] = true
		wantObs[name(w)+"/common"] = true
		wantRel[name(w)+">"+name(w+1)+":next"] = true
		wantRel[fmt.Sprintf("%s>%s:link%d", name(w), name(w+7), w%3)] = true
	}
	// Each hub reads the same graph, exactly the expected set, nothing twice.
	for i, ss := range sessions {
		var g itGraph
		callMemory(ctx, t, ss[0], "memory_read_graph", map[string]any{"limit": 5000}, &g)
		if g.NextOffset != nil {
			t.Fatalf("hub %d: graph larger than one page", i)
		}
		var gotObs, gotRel []string
		for _, e := range g.Entities {
			for _, o := range e.Observations {
				gotObs = append(gotObs, e.Name+"/"+o)
			}
		}
		for _, r := range g.Relations {
			gotRel = append(gotRel, r.From+">"+r.To+":"+r.RelationType)
		}
		if len(g.Entities) != entities {
			t.Errorf("hub %d: %d entities, want %d", i, len(g.Entities), entities)
		}
		checkSet(t, fmt.Sprintf("hub %d observations", i), gotObs, wantObs)
		checkSet(t, fmt.Sprintf("hub %d relations", i), gotRel, wantRel)
	}
}

// checkSet fails unless got holds each key of want exactly once and nothing else.
func checkSet(t *testing.T, what string, got []string, want map[string]bool) {
	t.Helper()
	seen := map[string]int{}
	for _, g := range got {
		seen[g]++
	}
	var problems []string
	for k, n := range seen {
		switch {
		case !want[k]:
			problems = append(problems, "unexpected "+k)
		case n > 1:
			problems = append(problems, fmt.Sprintf("%s %d times", k, n))
		}
	}
	for k := range want {
		if seen[k] == 0 {
			problems = append(problems, "lost "+k)
		}
	}
	sort.Strings(problems)
	if len(problems) > 0 {
		t.Errorf("%s: %d items, want %d: %s", what, len(got), len(want), strings.Join(problems, "; "))
	}
}
