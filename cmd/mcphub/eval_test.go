package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcphub/mcphub/configs"
	"github.com/mcphub/mcphub/internal/eval"
	"github.com/mcphub/mcphub/servers/knowledge/embed"
)

// evalTable finds the local embedder's table: $MCPHUB_VECTORS, else where scripts/embeddings.sh
// puts it by default (<data_dir>/knowledge/vectors.bin of the default data dir).
func evalTable(t *testing.T) string {
	t.Helper()
	p := os.Getenv("MCPHUB_VECTORS")
	if p == "" {
		p = filepath.Join(configs.Default().DataDir, "knowledge", embed.DefaultVectorsFile)
	}
	if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the word-vector table %s does not exist: run make embeddings (or set MCPHUB_VECTORS)", p)
	}
	return p
}

// TestEval is `make eval`: it indexes the Go standard library's documentation with the real
// binary (one knowledge collection, the local embedder), asks the dev set's 50 questions through
// knowledge_search in each mode with the official go-sdk client, and prints recall@1, recall@5
// and MRR per mode beside the baseline (plain SQLite FTS5 BM25 over whole documents) computed
// in the same run. It fails when hybrid does not beat the baseline's MRR.
// MCPHUB_EVAL_MISSES=1 also prints the queries each mode did not answer first.
func TestEval(t *testing.T) {
	if os.Getenv("MCPHUB_EVAL") == "" {
		t.Skip("set MCPHUB_EVAL=1 (make eval)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	dev, err := eval.DevSetDir(".")
	if err != nil {
		t.Fatal(err)
	}
	qs, err := eval.LoadQueries(filepath.Join(dev, "queries.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	corpus := eval.CorpusDir(t)
	docs, err := eval.BuildCorpus(ctx, dev, corpus)
	if err != nil {
		t.Fatal(err)
	}
	pkgOf := make(map[string]string, len(docs))
	for _, d := range docs {
		pkgOf[filepath.Base(d.Path)] = d.Package
	}
	baseline, err := eval.RunBaseline(ctx, docs, qs)
	if err != nil {
		t.Fatal(err)
	}

	addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	extra := fmt.Sprintf(`servers:
  knowledge:
    enabled: true
    watch: false
    collections:
      - {name: go, paths: [%q]}
    embedder: {kind: local, vectors: %q}
`, filepath.Join(corpus, "*.md"), evalTable(t))
	start := time.Now()
	hub := runHub(t, addr, writeConfig(t, addr, extra))
	waitReady(t, hub, 10*time.Minute)
	t.Logf("indexed %d documents in %s", len(docs), time.Since(start).Round(100*time.Millisecond))

	cs := connectHTTP(ctx, t, hub.base+"/mcp", "2025-11-25", newProgressCounter())
	if q := os.Getenv("MCPHUB_EVAL_SHOW"); q != "" {
		// Look into one query: every mode's hits with scores and passages.
		for _, mode := range []string{"keyword", "semantic", "hybrid"} {
			res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "knowledge_search",
				Arguments: map[string]any{"query": q, "mode": mode, "limit": 10}})
			if err != nil {
				t.Fatal(err)
			}
			b, _ := json.MarshalIndent(res.StructuredContent, "", "  ")
			fmt.Fprintf(os.Stdout, "%s:\n%s\n", mode, b)
		}
	}
	rows := []eval.Scores{baseline}
	for _, mode := range []string{"keyword", "semantic", "hybrid"} {
		ranked := make([][]string, len(qs))
		for i, q := range qs {
			ranked[i] = searchPackages(ctx, t, cs, q.Q, mode, pkgOf)
		}
		rows = append(rows, eval.Score("mcphub "+mode, qs, ranked))
	}
	fmt.Fprintf(os.Stdout, "\nknowledge_search on the Go standard library docs (%d documents, %d queries):\n\n", len(docs), len(qs))
	eval.WriteTable(os.Stdout, rows)
	if os.Getenv("MCPHUB_EVAL_MISSES") != "" {
		eval.WriteMisses(os.Stdout, rows)
	}
	if hybrid := rows[len(rows)-1]; hybrid.MRR <= baseline.MRR {
		t.Errorf("hybrid MRR %.3f does not beat the baseline's %.3f", hybrid.MRR, baseline.MRR)
	}
}

// waitReady waits for /readyz to answer 200: the knowledge server turns ready when its first
// indexing pass is done.
func waitReady(t *testing.T, p *hubProcess, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		code, body := httpGet(t, p.base+"/readyz")
		if code == http.StatusOK {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready after %s: %d %s", limit, code, body)
		}
		select {
		case <-p.done:
			t.Fatalf("hub exited: %v", p.exitErr)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// searchPackages calls knowledge_search and returns the packages of the hits, best first.
func searchPackages(ctx context.Context, t *testing.T, cs *sdk.ClientSession, q, mode string, pkgOf map[string]string) []string {
	t.Helper()
	res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "knowledge_search",
		Arguments: map[string]any{"query": q, "mode": mode, "limit": 20}})
	if err != nil {
		t.Fatalf("knowledge_search %q (%s): %v", q, mode, err)
	}
	if res.IsError {
		t.Fatalf("knowledge_search %q (%s): %s", q, mode, resultText(res))
	}
	b, err := json.Marshal(res.StructuredContent)
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		Partial bool   `json:"partial"`
		Note    string `json:"note"`
		Hits    []struct {
			Path string `json:"path"`
		} `json:"hits"`
	}
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("knowledge_search structured content: %v", err)
	}
	if out.Partial {
		t.Fatalf("knowledge_search %q (%s) is partial after /readyz: %s", q, mode, out.Note)
	}
	pkgs := make([]string, 0, len(out.Hits))
	for _, h := range out.Hits {
		p, ok := pkgOf[filepath.Base(h.Path)]
		if !ok {
			t.Fatalf("knowledge_search returned %q, not a corpus document", h.Path)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}
