package knowledge

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mcphub/mcphub/configs"
	"github.com/mcphub/mcphub/internal/testenv"
	"github.com/mcphub/mcphub/servers/knowledge/embed/embedtest"
	"github.com/mcphub/mcphub/servers/registry"
	"github.com/mcphub/mcphub/servers/registry/registrytest"
)

var factory = registry.Factory{Name: "knowledge", Title: "Document search", New: New}

func TestConformance(t *testing.T)   { registrytest.Conformance(t, factory) }
func TestToolSnapshots(t *testing.T) { registrytest.ToolSnapshots(t, factory) }

// webServer serves two pages on loopback for a URL collection; body lets a test change them.
func webServer(t testing.TB, body map[string]string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, ok := body[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		if strings.HasSuffix(r.URL.Path, ".html") {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
		} else {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		}
		_, _ = io.WriteString(w, b)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

type testHub struct {
	t     *testing.T
	hub   *registry.Hub
	tools map[string]server.ToolHandlerFunc
}

func buildHub(t *testing.T, yaml string) *testHub {
	t.Helper()
	cfg, err := configs.Parse([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	h, err := registry.Build(context.Background(), registry.Options{
		Config: cfg, Catalog: []registry.Factory{factory},
		Metrics: registry.NewMetrics(prometheus.NewRegistry()),
		Logger:  slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close(context.Background()) })
	th := &testHub{t: t, hub: h, tools: map[string]server.ToolHandlerFunc{}}
	for _, st := range h.Instance("knowledge").ServerTools() {
		th.tools[st.Tool.Name] = st.Handler
	}
	return th
}

func (th *testHub) call(name string, args map[string]any) (*mcp.CallToolResult, map[string]any) {
	th.t.Helper()
	h, ok := th.tools[name]
	if !ok {
		th.t.Fatalf("tool %s not served", name)
	}
	var req mcp.CallToolRequest
	req.Params.Name = name
	req.Params.Arguments = args
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := h(ctx, req)
	if err != nil {
		th.t.Fatalf("%s: %v", name, err)
	}
	var out map[string]any
	if res.StructuredContent != nil {
		var raw []byte
		if rm, ok := res.StructuredContent.(json.RawMessage); ok {
			raw = rm
		} else {
			raw, _ = json.Marshal(res.StructuredContent)
		}
		_ = json.Unmarshal(raw, &out)
	}
	return res, out
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

func (th *testHub) waitReady() {
	th.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if th.hub.Instance("knowledge").Readiness(context.Background()).Ready {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	th.t.Fatalf("knowledge never turned ready: %+v", th.hub.Instance("knowledge").Readiness(context.Background()))
}

// hitPaths returns "collection/path" of each hit.
func hitPaths(out map[string]any) []string {
	hits, _ := out["hits"].([]any)
	var ps []string
	for _, h := range hits {
		m := h.(map[string]any)
		ps = append(ps, fmt.Sprint(m["collection"], "/", m["path"]))
	}
	return ps
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestServerEndToEnd(t *testing.T) {
	dir := t.TempDir()
	docs := filepath.Join(dir, "docs")
	writeFile(t, filepath.Join(docs, "guide.md"), "# Guide\n\nIntro.\n\n## Install\n\nRun the installer with apt.\n\n## Cars\n\nA car has four wheels and an engine.\n")
	writeFile(t, filepath.Join(docs, "notes.txt"), "Zebra crossings are striped.\n\nPedestrians cross there.\n")
	writeFile(t, filepath.Join(docs, "code", "dur.go"), "package dur\n\n// ParseDuration reads 1h30m.\nfunc ParseDuration(s string) (int, error) {\n\treturn 0, nil\n}\n")
	writeFile(t, filepath.Join(docs, ".hidden", "secret.md"), "# Secret\n\nzebra\n")
	writeFile(t, filepath.Join(docs, "blob.bin"), "\x00\x01\x02zebra")
	pages := map[string]string{
		"/article.html": "<html><head><title>Cats</title></head><body><nav>menu</nav><article><h1>Cats</h1>" +
			"<p>The domestic cat is a small carnivorous mammal. It is the only domesticated species in the family Felidae, " +
			"and people keep it as a pet for company and for hunting mice.</p><h2>Care</h2><p>Feed your cat twice a day.</p></article></body></html>",
		"/plain.txt": "Plain text page about lighthouses.\n",
	}
	web := webServer(t, pages)
	yaml := fmt.Sprintf(`data_dir: %s
egress: {allow: [127.0.0.1/32]}
servers:
  knowledge:
    enabled: true
    scan_interval: 1s
    embedder: {kind: openai, url: %q, model: fake-embed}
    collections:
      - {name: docs, paths: [%q], exclude: [%q]}
      - {name: web, urls: [%q, %q], refresh_interval: 1s}
      - {name: notes, writable: true}
`, filepath.Join(dir, "data"), embedtest.HashServer(t), filepath.Join(docs, "**", "*"), filepath.Join(docs, "**", "*.bin"),
		web+"/article.html", web+"/plain.txt")
	th := buildHub(t, yaml)
	th.waitReady()

	res, out := th.call("knowledge_list_collections", map[string]any{})
	if res.IsError || out["ready"] != true {
		t.Fatalf("list_collections: %s", text(res))
	}
	colls := out["collections"].([]any)
	docsInfo := colls[0].(map[string]any)
	if docsInfo["documents"] != float64(3) || docsInfo["embedded_chunks"] != docsInfo["chunks"] {
		t.Errorf("docs collection: %v", docsInfo)
	}
	if web := colls[1].(map[string]any); web["documents"] != float64(2) || web["error_count"] != float64(0) {
		t.Errorf("web collection: %v", web)
	}
	if emb := out["embedder"].(map[string]any); emb["available"] != true || emb["kind"] != "openai" {
		t.Errorf("embedder: %v", emb)
	}

	// Keyword: exact words, identifiers split, hidden and binary files not indexed.
	res, out = th.call("knowledge_search", map[string]any{"query": "zebra", "mode": "keyword"})
	if got := hitPaths(out); res.IsError || len(got) != 1 || got[0] != "docs/notes.txt" {
		t.Errorf("keyword zebra: %v %s", got, text(res))
	}
	res, out = th.call("knowledge_search", map[string]any{"query": "parse duration", "mode": "keyword"})
	if got := hitPaths(out); res.IsError || len(got) == 0 || got[0] != "docs/code/dur.go" {
		t.Errorf("keyword parse duration: %v %s", got, text(res))
	}
	hit := out["hits"].([]any)[0].(map[string]any)
	if hit["uri"] != "kb://docs/code/dur.go" || hit["start_line"] == nil || !strings.Contains(hit["snippet"].(string), "**ParseDuration") {
		t.Errorf("hit: %v", hit)
	}
	// Semantic: a synonym the text does not contain.
	res, out = th.call("knowledge_search", map[string]any{"query": "automobile", "mode": "semantic", "limit": 1})
	if got := hitPaths(out); res.IsError || len(got) != 1 || got[0] != "docs/guide.md" {
		t.Errorf("semantic automobile: %v %s", got, text(res))
	}
	if hit := out["hits"].([]any)[0].(map[string]any); fmt.Sprint(hit["heading"]) != "[Guide Cars]" {
		t.Errorf("semantic hit heading: %v", hit["heading"])
	}
	_, out = th.call("knowledge_search", map[string]any{"query": "automobile", "mode": "keyword"})
	if got := hitPaths(out); len(got) != 0 {
		t.Errorf("keyword automobile found %v", got)
	}
	// Hybrid (the default with an embedder) over a web page, filtered by collection.
	res, out = th.call("knowledge_search", map[string]any{"query": "feline pet mammal", "collection": "web"})
	if got := hitPaths(out); res.IsError || out["mode"] != "hybrid" || len(got) == 0 || !strings.HasSuffix(got[0], "/article.html") {
		t.Errorf("hybrid cat: %v %s", got, text(res))
	}
	hasLink := false
	for _, c := range res.Content {
		if l, ok := c.(mcp.ResourceLink); ok && strings.HasPrefix(l.URI, "kb://web/127.0.0.1") {
			hasLink = true
		}
	}
	if !hasLink {
		t.Errorf("no kb:// resource link in %v", res.Content)
	}
	// Path filter and errors.
	_, out = th.call("knowledge_search", map[string]any{"query": "zebra parse", "path": "code/", "mode": "keyword"})
	if got := hitPaths(out); len(got) != 1 || got[0] != "docs/code/dur.go" {
		t.Errorf("path filter: %v", got)
	}
	if res, _ := th.call("knowledge_search", map[string]any{"query": "x", "collection": "nope"}); !res.IsError || !strings.Contains(text(res), "docs, web, notes") {
		t.Errorf("unknown collection: %s", text(res))
	}

	// get_document: a line range, then by kb:// URI.
	res, out = th.call("knowledge_get_document", map[string]any{"collection": "docs", "path": "guide.md", "start_line": 9, "end_line": 11})
	if res.IsError || out["text"] != "## Cars\n\nA car has four wheels and an engine." || out["total_lines"] != float64(11) {
		t.Errorf("get_document range: %v %s", out, text(res))
	}
	if res, _ := th.call("knowledge_get_document", map[string]any{"path": "kb://docs/notes.txt"}); res.IsError || !strings.Contains(text(res), "Zebra") {
		t.Errorf("get_document by URI: %s", text(res))
	}
	if res, _ := th.call("knowledge_get_document", map[string]any{"collection": "docs", "path": "missing.md"}); !res.IsError {
		t.Errorf("missing document: %s", text(res))
	}

	// The resource template reads the same document.
	tmpls := th.hub.Instance("knowledge").ServerResourceTemplates()
	if len(tmpls) != 1 {
		t.Fatalf("%d resource templates", len(tmpls))
	}
	var rr mcp.ReadResourceRequest
	rr.Params.URI = "kb://docs/code/dur.go"
	contents, err := tmpls[0].Handler(context.Background(), rr)
	if err != nil || len(contents) != 1 || !strings.Contains(contents[0].(mcp.TextResourceContents).Text, "func ParseDuration") {
		t.Errorf("resource read: %v %v", contents, err)
	}
	rr.Params.URI = "kb://docs/nope.md"
	if _, err := tmpls[0].Handler(context.Background(), rr); err == nil {
		t.Errorf("missing resource: no error")
	}

	// Ingest into the writable collection only.
	res, out = th.call("knowledge_ingest", map[string]any{"collection": "notes", "name": "meet/today.md", "text": "# Standup\n\nThe quokka shipped."})
	if res.IsError || out["chunks"] != float64(1) || out["embedded"] != true {
		t.Errorf("ingest: %s", text(res))
	}
	_, out = th.call("knowledge_search", map[string]any{"query": "quokka"})
	if got := hitPaths(out); len(got) == 0 || got[0] != "notes/meet/today.md" {
		t.Errorf("ingested text not found: %v", got)
	}
	if res, _ := th.call("knowledge_ingest", map[string]any{"collection": "docs", "name": "x.md", "text": "y"}); !res.IsError || !strings.Contains(text(res), "not writable") {
		t.Errorf("ingest into a read-only collection: %s", text(res))
	}
	if res, _ := th.call("knowledge_ingest", map[string]any{"collection": "notes", "name": "../x.md", "text": "y"}); !res.IsError {
		t.Errorf("ingest with ..: %s", text(res))
	}

	// A changed, an added and a deleted file are picked up.
	writeFile(t, filepath.Join(docs, "notes.txt"), "Now about narwhals.\n")
	writeFile(t, filepath.Join(docs, "new", "fresh.md"), "# Fresh\n\nOkapi facts.\n")
	if err := os.Remove(filepath.Join(docs, "guide.md")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the changes to be indexed", func() bool {
		_, a := th.call("knowledge_search", map[string]any{"query": "narwhals", "mode": "keyword"})
		_, b := th.call("knowledge_search", map[string]any{"query": "okapi", "mode": "keyword"})
		_, c := th.call("knowledge_search", map[string]any{"query": "installer", "mode": "keyword"})
		return len(hitPaths(a)) == 1 && len(hitPaths(b)) == 1 && len(hitPaths(c)) == 0
	})
	if err := os.Remove(filepath.Join(docs, "new", "fresh.md")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the deleted file in a new directory to leave the index", func() bool {
		_, b := th.call("knowledge_search", map[string]any{"query": "okapi", "mode": "keyword"})
		return len(hitPaths(b)) == 0
	})
	// A changed web page is picked up on its refresh interval.
	pages["/plain.txt"] = "Now about windmills.\n"
	eventually(t, "the changed page to be indexed", func() bool {
		_, a := th.call("knowledge_search", map[string]any{"query": "windmills", "mode": "keyword"})
		return len(hitPaths(a)) == 1
	})
}

func TestKBURIRoundTrip(t *testing.T) {
	for _, p := range []string{"guide.md", "a/b c/d.md", "127.0.0.1:8080/x.html?q=1&r=2", "é/ü.md", "50%.txt", "a#b", "[x].md"} {
		checkKBURI(t, p)
	}
}

func checkKBURI(t *testing.T, path string) {
	t.Helper()
	tmpl := mcp.NewResourceTemplate(kbTemplate, "t").URITemplate
	uri := kbURI("coll_1", path)
	if m := tmpl.Match(uri); m == nil {
		t.Fatalf("the template does not match %q (from %q)", uri, path)
	}
	c, p, err := parseKBURI(uri)
	if err != nil || c != "coll_1" || p != path {
		t.Fatalf("parseKBURI(%q) = %q %q %v, want %q", uri, c, p, err, path)
	}
}

func FuzzKBURI(f *testing.F) {
	f.Add("a/b.md")
	f.Add("host:1/p?q")
	f.Fuzz(func(t *testing.T, path string) {
		if path == "" || !utf8.ValidString(path) {
			return
		}
		checkKBURI(t, path)
	})
}

func FuzzQueryTerms(f *testing.F) {
	f.Add("parse a duration like 1h30m")
	f.Add(`"quoted" AND title:x NEAR(a b) *`)
	f.Fuzz(func(t *testing.T, q string) {
		terms := queryTerms(q)
		if len(terms) > maxQueryTerms {
			t.Fatalf("%d terms", len(terms))
		}
		for _, term := range terms {
			if term == "" || strings.ContainsFunc(term, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsNumber(r) }) {
				t.Fatalf("term %q has syntax in it", term)
			}
		}
		_ = snippet(q, terms, 100)
	})
}

func TestKeywordOnlyWithoutEmbedder(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a.md"), "# A\n\nalpha bravo\n")
	th := buildHub(t, fmt.Sprintf("data_dir: %s\nservers:\n  knowledge:\n    enabled: true\n    embedder: {kind: none}\n    collections: [{name: c, paths: [%q]}]\n",
		filepath.Join(dir, "data"), filepath.Join(dir, "*.md")))
	th.waitReady()
	res, out := th.call("knowledge_search", map[string]any{"query": "alpha"})
	if res.IsError || out["mode"] != "keyword" || len(hitPaths(out)) != 1 {
		t.Errorf("default mode without embedder: %s", text(res))
	}
	if res, _ := th.call("knowledge_search", map[string]any{"query": "alpha", "mode": "semantic"}); !res.IsError || !strings.Contains(text(res), "embedder") {
		t.Errorf("semantic without embedder: %s", text(res))
	}
	if _, ok := th.tools["knowledge_ingest"]; ok {
		t.Error("knowledge_ingest served without a writable collection")
	}
}

// TestServerOnPostgres runs the server on the PostgreSQL store: indexing, the three modes, a
// document read; the DSN stays out of results.
func TestServerOnPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	dsn := testenv.StartPostgres(t)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "docs", "cars.md"), "# Cars\n\nA car has four wheels.\n")
	writeFile(t, filepath.Join(dir, "docs", "zebra.txt"), "Zebra crossings are striped.\n")
	th := buildHub(t, fmt.Sprintf(`data_dir: %s
egress: {allow: [127.0.0.1/32]}
servers:
  knowledge:
    enabled: true
    postgres_dsn: %q
    embedder: {kind: openai, url: %q, model: fake-embed}
    collections: [{name: docs, paths: [%q]}]
`, filepath.Join(dir, "data"), dsn, embedtest.HashServer(t), filepath.Join(dir, "docs", "*")))
	th.waitReady()
	for _, c := range []struct{ query, mode, want string }{
		{"zebra", "keyword", "docs/zebra.txt"},
		{"automobile", "semantic", "docs/cars.md"},
		{"wheels automobile", "hybrid", "docs/cars.md"},
	} {
		res, out := th.call("knowledge_search", map[string]any{"query": c.query, "mode": c.mode})
		if got := hitPaths(out); res.IsError || len(got) == 0 || got[0] != c.want {
			t.Errorf("%s %q: %v %s", c.mode, c.query, got, text(res))
		}
	}
	res, out := th.call("knowledge_get_document", map[string]any{"path": "kb://docs/cars.md"})
	if res.IsError || out["text"] != "# Cars\n\nA car has four wheels." {
		t.Errorf("get_document: %s", text(res))
	}
	if _, out := th.call("knowledge_list_collections", map[string]any{}); strings.Contains(fmt.Sprint(out), dsn) {
		t.Error("the DSN appears in list_collections")
	}
}

// TestCloseStopsGoroutines: the indexer, the watcher and the store's pools end with the hub.
func TestCloseStopsGoroutines(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a.md"), "# A\n\nalpha\n")
	before := runtime.NumGoroutine()
	cfg, err := configs.Parse([]byte(fmt.Sprintf("data_dir: %s\nservers:\n  knowledge:\n    enabled: true\n    embedder: {kind: none}\n    collections: [{name: c, paths: [%q]}]\n",
		filepath.Join(dir, "data"), filepath.Join(dir, "*.md"))))
	if err != nil {
		t.Fatal(err)
	}
	h, err := registry.Build(context.Background(), registry.Options{Config: cfg, Catalog: []registry.Factory{factory},
		Metrics: registry.NewMetrics(prometheus.NewRegistry()), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "ready", func() bool { return h.Instance("knowledge").Readiness(context.Background()).Ready })
	if err := h.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the goroutines to end", func() bool { return runtime.NumGoroutine() <= before })
}

func TestValidate(t *testing.T) {
	tests := []struct{ yaml, want string }{
		{"collections: [{name: a, paths: [x]}]", ""},
		{"collections: [{name: a, writable: true}]", ""},
		{"chunk_size: 10\ncollections: [{name: a, writable: true}]", "servers.knowledge.chunk_size: must be between 200 and 20000"},
		{"chunk_size: 400\nchunk_overlap: 300\ncollections: [{name: a, writable: true}]", "servers.knowledge.chunk_overlap"},
		{"collections: [{name: 'a b', writable: true}]", "collections[0].name: must be 1 to 64"},
		{"collections: [{name: a, writable: true}, {name: a, writable: true}]", `collections[1].name: "a" is used`},
		{"collections: [{name: a}]", "collections[0]: needs paths, urls, or writable"},
		{"collections: [{name: a, urls: ['file:///etc/passwd']}]", "collections[0].urls[0]: must be an http or https URL"},
		{"collections: [{name: a, urls: ['http://u:p@h/']}]", "must not carry credentials"},
		{"collections: [{name: a, paths: ['x/[']}]", "collections[0].paths[0]: has a malformed segment"},
		{"collections: [{name: a, writable: true, refresh_interval: 10ms}]", "refresh_interval: must be at least 1s"},
		{"scan_interval: 1ms\ncollections: [{name: a, writable: true}]", "scan_interval: must be at least 1s"},
		{"embedder: {kind: magic}\ncollections: [{name: a, writable: true}]", "servers.knowledge.embedder.kind"},
	}
	for _, tc := range tests {
		cfg, err := configs.Parse([]byte("servers:\n  knowledge:\n    enabled: true\n" + indent(tc.yaml, "    ")))
		if err != nil {
			t.Fatalf("%q: %v", tc.yaml, err)
		}
		s := New().(*Server)
		if err := s.DecodeConfig(cfg.Servers["knowledge"]); err != nil {
			t.Fatalf("%q: decode: %v", tc.yaml, err)
		}
		err = s.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%q: unexpected %v", tc.yaml, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%q: got %v, want %q", tc.yaml, err, tc.want)
		}
	}
}

func indent(s, pre string) string {
	return pre + strings.ReplaceAll(s, "\n", "\n"+pre) + "\n"
}

func TestGlob(t *testing.T) {
	tests := []struct {
		pattern, path string
		want          bool
	}{
		{"/d/**/*.md", "/d/a.md", true},
		{"/d/**/*.md", "/d/x/y/a.md", true},
		{"/d/**/*.md", "/d/.git/a.md", false},
		{"/d/**/*.md", "/d/x/.a.md", false},
		{"/d/.github/*.md", "/d/.github/a.md", true},
		{"/d/*.md", "/d/x/a.md", false},
		{"/d/a?.txt", "/d/ab.txt", true},
		{"/d/[ab].txt", "/d/c.txt", false},
		{"/d/**", "/d/x/y", true},
		{"/d/plain.md", "/d/plain.md", true},
	}
	for _, tc := range tests {
		g, err := compileGlob(tc.pattern)
		if err != nil {
			t.Fatal(err)
		}
		if got := g.match(tc.path); got != tc.want {
			t.Errorf("%s ~ %s = %v, want %v", tc.pattern, tc.path, got, tc.want)
		}
	}
	g, _ := compileGlob("/d/**/sub/*.md")
	if g.base != "/d" || !g.couldContain("/d/x/sub") || !g.couldContain("/d") || g.couldContain("/e") {
		t.Errorf("base %s, couldContain wrong", g.base)
	}
	if g, _ := compileGlob("/d/x/*.md"); g.couldContain("/d/x/y") {
		t.Error("a one-level glob should not descend")
	}
}

func FuzzGlob(f *testing.F) {
	f.Add("/d/**/*.md", "/d/a/b.md")
	f.Add("/a/[x-z]?/**", "/a/y1/q")
	f.Fuzz(func(t *testing.T, pattern, path string) {
		if !strings.HasPrefix(pattern, "/") || !strings.HasPrefix(path, "/") || len(pattern) > 200 || len(path) > 400 {
			return
		}
		g, err := compileGlob(pattern)
		if err != nil {
			return
		}
		m := g.match(path)
		// A file that matches lies under a directory the walk enters.
		if m {
			dir := path[:strings.LastIndexByte(path, '/')]
			if dir == "" {
				dir = "/"
			}
			if !g.couldContain(dir) && strings.HasPrefix(dir, g.base) {
				t.Fatalf("%q matches %q but its directory %q is pruned", pattern, path, dir)
			}
		}
	})
}
