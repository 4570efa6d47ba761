package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcphub/mcphub/servers/knowledge/embed/embedtest"
)

// The knowledge server end to end: the real binary indexes a collection of local files and one
// of web pages served on loopback, embeds them through an OpenAI-compatible /v1/embeddings
// endpoint on loopback (deterministic word hashing with a few synonyms, so that semantic search
// finds what keywords do not), and answers over HTTP (both protocol generations) and stdio:
// searches in the three modes, line ranges, kb:// resources, and refreshes after changes.

// kbFixture is the files, the web pages and the config of the test.
type kbFixture struct {
	docs  string
	mu    sync.Mutex
	pages map[string]string
	web   string
	yaml  string
}

func (f *kbFixture) setPage(path, body string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pages[path] = body
}

func newKBFixture(t *testing.T) *kbFixture {
	t.Helper()
	f := &kbFixture{docs: filepath.Join(t.TempDir(), "docs"), pages: map[string]string{
		"/cats.html": "<html><head><title>Cats</title></head><body><nav>home | about</nav><article><h1>Cats</h1>" +
			"<p>The domestic cat is a small carnivorous mammal, the only domesticated species of the family Felidae; " +
			"people keep it as a pet for company and to hunt mice.</p><h2>Care</h2><p>Feed a cat twice a day.</p></article></body></html>",
		"/lighthouse.txt": "Lighthouses guide ships at night.\n",
	}}
	files := map[string]string{
		"guide.md":     "# Guide\n\nWelcome.\n\n## Install\n\nRun the installer.\n\n## Cars\n\nA car has four wheels and an engine.\n",
		"notes.txt":    "Zebra crossings are striped.\n",
		"changing.txt": "The first version.\n",
		"code/dur.go":  "package dur\n\n// ParseDuration reads strings such as 1h30m.\nfunc ParseDuration(s string) (int, error) {\n\treturn 0, nil\n}\n",
	}
	for name, body := range files {
		f.write(t, name, body)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		body, ok := f.pages[r.URL.Path]
		f.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		if strings.HasSuffix(r.URL.Path, ".html") {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
		} else {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		}
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	f.web = srv.URL
	f.yaml = fmt.Sprintf(`egress: {allow: [127.0.0.1/32]}
servers:
  knowledge:
    enabled: true
    scan_interval: 1s
    embedder: {kind: openai, url: %q, model: it-embed}
    collections:
      - {name: docs, paths: [%q]}
      - {name: web, urls: [%q, %q], refresh_interval: 1s}
      - {name: notes, writable: true}
`, embedtest.HashServer(t), filepath.Join(f.docs, "**", "*"), f.web+"/cats.html", f.web+"/lighthouse.txt")
	return f
}

func (f *kbFixture) write(t *testing.T, name, body string) {
	t.Helper()
	p := filepath.Join(f.docs, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

// kbCall calls a tool and decodes its structured content.
func kbCall(ctx context.Context, t *testing.T, cs *sdk.ClientSession, name string, args map[string]any) (*sdk.CallToolResult, map[string]any) {
	t.Helper()
	res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	var out map[string]any
	if res.StructuredContent != nil {
		raw, _ := json.Marshal(res.StructuredContent)
		_ = json.Unmarshal(raw, &out)
	}
	return res, out
}

func kbHits(out map[string]any) []map[string]any {
	raw, _ := out["hits"].([]any)
	hits := make([]map[string]any, 0, len(raw))
	for _, h := range raw {
		hits = append(hits, h.(map[string]any))
	}
	return hits
}

func kbFirst(out map[string]any) string {
	if hits := kbHits(out); len(hits) > 0 {
		return fmt.Sprint(hits[0]["collection"], "/", hits[0]["path"])
	}
	return ""
}

// waitKnowledgeReady polls knowledge_list_collections until the first pass is done.
func waitKnowledgeReady(ctx context.Context, t *testing.T, cs *sdk.ClientSession) map[string]any {
	t.Helper()
	var out map[string]any
	eventually(t, "the knowledge index to be ready", func() bool {
		_, out = kbCall(ctx, t, cs, "knowledge_list_collections", map[string]any{})
		return out["ready"] == true
	})
	return out
}

// exerciseKnowledge runs the checks both transports share.
func exerciseKnowledge(ctx context.Context, t *testing.T, cs *sdk.ClientSession, f *kbFixture) {
	t.Helper()
	tools, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, tool := range tools.Tools {
		if strings.HasPrefix(tool.Name, "knowledge_") {
			seen[tool.Name] = true
			if tool.OutputSchema == nil || tool.Annotations == nil {
				t.Errorf("%s lacks an output schema or annotations", tool.Name)
			}
		}
	}
	for _, want := range []string{"knowledge_search", "knowledge_get_document", "knowledge_list_collections", "knowledge_ingest"} {
		if !seen[want] {
			t.Errorf("tools/list lacks %s", want)
		}
	}

	out := waitKnowledgeReady(ctx, t, cs)
	colls, _ := out["collections"].([]any)
	if len(colls) != 3 {
		t.Fatalf("collections: %v", out)
	}
	for _, c := range colls[:2] {
		m := c.(map[string]any)
		if m["documents"].(float64) < 2 || m["chunks"] != m["embedded_chunks"] || m["error_count"] != float64(0) {
			t.Errorf("collection %v", m)
		}
	}

	// The three modes: keyword finds the words, semantic a synonym, hybrid both.
	res, out := kbCall(ctx, t, cs, "knowledge_search", map[string]any{"query": "zebra crossing", "mode": "keyword"})
	if res.IsError || kbFirst(out) != "docs/notes.txt" || out["mode"] != "keyword" {
		t.Errorf("keyword: %s", resultText(res))
	}
	res, out = kbCall(ctx, t, cs, "knowledge_search", map[string]any{"query": "automobile wheels", "mode": "semantic", "limit": 2})
	if res.IsError || kbFirst(out) != "docs/guide.md" || len(kbHits(out)) > 2 {
		t.Errorf("semantic: %s", resultText(res))
	}
	res, out = kbCall(ctx, t, cs, "knowledge_search", map[string]any{"query": "feline pet"})
	if res.IsError || out["mode"] != "hybrid" || !strings.HasSuffix(kbFirst(out), "/cats.html") {
		t.Errorf("hybrid: %s", resultText(res))
	}
	// A hit is citable: title, source, heading trail, line range, snippet, resource link.
	res, out = kbCall(ctx, t, cs, "knowledge_search", map[string]any{"query": "ParseDuration", "mode": "keyword", "collection": "docs"})
	hits := kbHits(out)
	if res.IsError || len(hits) == 0 {
		t.Fatalf("ParseDuration: %s", resultText(res))
	}
	h := hits[0]
	if h["path"] != "code/dur.go" || h["uri"] != "kb://docs/code/dur.go" || h["start_line"] != float64(3) ||
		h["title"] != "dur.go" || !strings.HasSuffix(h["source"].(string), "code/dur.go") ||
		!strings.Contains(h["snippet"].(string), "**ParseDuration") {
		t.Errorf("hit = %v", h)
	}
	links := 0
	for _, c := range res.Content {
		if l, ok := c.(*sdk.ResourceLink); ok && l.URI == "kb://docs/code/dur.go" {
			links++
		}
	}
	if links != 1 {
		t.Errorf("resource links: %v", res.Content)
	}

	// A line range, then the whole document as a resource.
	res, out = kbCall(ctx, t, cs, "knowledge_get_document", map[string]any{"collection": "docs", "path": "guide.md", "start_line": 9, "end_line": 11})
	if res.IsError || out["text"] != "## Cars\n\nA car has four wheels and an engine." {
		t.Errorf("get_document: %s", resultText(res))
	}
	rr, err := cs.ReadResource(ctx, &sdk.ReadResourceParams{URI: "kb://docs/guide.md"})
	if err != nil || len(rr.Contents) != 1 || !strings.Contains(rr.Contents[0].Text, "## Install") {
		t.Errorf("resource read: %v %+v", err, rr)
	}
	webURI := "kb://web/" + strings.TrimPrefix(f.web, "http://") + "/cats.html"
	rr, err = cs.ReadResource(ctx, &sdk.ReadResourceParams{URI: webURI})
	if err != nil || len(rr.Contents) != 1 || !strings.Contains(rr.Contents[0].Text, "Felidae") || strings.Contains(rr.Contents[0].Text, "home | about") {
		t.Errorf("web resource read %s: %v %+v", webURI, err, rr)
	}
	if _, err := cs.ReadResource(ctx, &sdk.ReadResourceParams{URI: "kb://docs/absent.md"}); err == nil {
		t.Error("reading a missing document succeeded")
	}
	tmpls, err := cs.ListResourceTemplates(ctx, nil)
	if err != nil || len(tmpls.ResourceTemplates) == 0 || !strings.HasPrefix(tmpls.ResourceTemplates[0].URITemplate, "kb://") {
		t.Errorf("resource templates: %v %+v", err, tmpls)
	}

	// Ingested text is searchable at once; a read-only collection refuses it.
	res, _ = kbCall(ctx, t, cs, "knowledge_ingest", map[string]any{"collection": "notes", "name": "standup.md", "text": "# Standup\n\nThe wombat release shipped."})
	if res.IsError {
		t.Errorf("ingest: %s", resultText(res))
	}
	if _, out = kbCall(ctx, t, cs, "knowledge_search", map[string]any{"query": "wombat"}); kbFirst(out) != "notes/standup.md" {
		t.Errorf("ingested text: %v", out)
	}
	if res, _ = kbCall(ctx, t, cs, "knowledge_ingest", map[string]any{"collection": "docs", "name": "x.md", "text": "y"}); !res.IsError {
		t.Errorf("ingest into docs: %s", resultText(res))
	}
	// Bad arguments are results that say what was wrong.
	if res, _ = kbCall(ctx, t, cs, "knowledge_search", map[string]any{"query": "x", "mode": "fuzzy"}); !res.IsError {
		t.Errorf("bad mode: %s", resultText(res))
	}
}

// checkRefresh changes a file and a page and waits for searches to see the changes.
func checkRefresh(ctx context.Context, t *testing.T, cs *sdk.ClientSession, f *kbFixture, word string) {
	t.Helper()
	f.write(t, "changing.txt", "Now about "+word+" only.\n")
	f.write(t, "added/"+word+".md", "# Added\n\nAn added file mentions "+word+"land.\n")
	f.setPage("/lighthouse.txt", "Lighthouses and "+word+"ships.\n")
	eventually(t, "the changed file, the added file and the changed page to be indexed", func() bool {
		_, a := kbCall(ctx, t, cs, "knowledge_search", map[string]any{"query": word, "mode": "keyword"})
		_, b := kbCall(ctx, t, cs, "knowledge_search", map[string]any{"query": word + "land", "mode": "keyword"})
		_, c := kbCall(ctx, t, cs, "knowledge_search", map[string]any{"query": word + "ships", "mode": "keyword"})
		return kbFirst(a) == "docs/changing.txt" && kbFirst(b) == "docs/added/"+word+".md" && strings.HasSuffix(kbFirst(c), "/lighthouse.txt")
	})
	if err := os.Remove(filepath.Join(f.docs, "added", word+".md")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the deleted file to leave the index", func() bool {
		_, b := kbCall(ctx, t, cs, "knowledge_search", map[string]any{"query": word + "land", "mode": "keyword"})
		for _, h := range kbHits(b) {
			if h["path"] == "added/"+word+".md" {
				return false
			}
		}
		return true
	})
}

func TestIntegrationKnowledge(t *testing.T) {
	f := newKBFixture(t)
	p := startHub(t, f.yaml)
	for i, version := range protocolVersions {
		t.Run(version, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			cs := connectHTTP(ctx, t, p.base+"/mcp/knowledge", version, newProgressCounter())
			exerciseKnowledge(ctx, t, cs, f)
			checkRefresh(ctx, t, cs, f, fmt.Sprintf("quux%d", i))
		})
	}
	eventually(t, "/readyz to report ready", func() bool {
		code, _ := httpGet(t, p.base+"/readyz")
		return code == http.StatusOK
	})

	t.Run("stdio", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		g := newKBFixture(t)
		stderr := &syncBuffer{}
		cmd := exec.CommandContext(ctx, testBinary(t), "serve", "--stdio", "--config", writeConfig(t, "127.0.0.1:0", g.yaml))
		cmd.Stderr = stderr
		cs, err := newClient(newProgressCounter()).Connect(ctx, &sdk.CommandTransport{Command: cmd},
			&sdk.ClientSessionOptions{ProtocolVersion: protocolVersions[0]})
		if err != nil {
			t.Fatalf("connect over stdio: %v", err)
		}
		exerciseKnowledge(ctx, t, cs, g)
		checkRefresh(ctx, t, cs, g, "stdiozz")
		if err := cs.Close(); err != nil {
			t.Errorf("closing the stdio session: %v", err)
		}
		checkNoRace(t, stderr.String())
		if t.Failed() {
			t.Logf("stderr:\n%s", stderr.String())
		}
	})
}
