// Package storetest is the conformance suite of store.Store: every backend (SQLite, PostgreSQL)
// runs Run against a fresh, empty store, so that the knowledge server behaves the same on each.
package storetest

import (
	"context"
	"errors"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/mcphub/mcphub/servers/knowledge/store"
)

// Run runs the conformance suite. open returns a new, empty store for each subtest; Run closes
// it.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("replace and read", func(t *testing.T) { testReplace(t, open(t)) })
	t.Run("keyword", func(t *testing.T) { testKeyword(t, open(t)) })
	t.Run("vector", func(t *testing.T) { testVector(t, open(t)) })
	t.Run("embedder change", func(t *testing.T) { testEmbedderChange(t, open(t)) })
	t.Run("delete", func(t *testing.T) { testDelete(t, open(t)) })
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func doc(collection, path, title, body string) store.Document {
	return store.Document{Collection: collection, Path: path, Source: "/src/" + path, Title: title, Kind: "markdown",
		Hash: "h-" + path, ModTime: time.Unix(1700000000, 0).UTC(), Size: int64(len(body)), Lines: 3,
		IndexedAt: time.Unix(1700000100, 0).UTC(), Body: body}
}

func chunks(texts ...string) []store.Chunk {
	out := make([]store.Chunk, len(texts))
	for i, s := range texts {
		out[i] = store.Chunk{Ordinal: i, Heading: []string{"Top", "Section"}, StartLine: i + 1, EndLine: i + 1, Text: s}
	}
	return out
}

// unit returns a normalised vector pointing mostly along axis a (of 8), a little along b.
func unit(a, b int) []float32 {
	v := make([]float32, 8)
	v[a] = 1
	if b >= 0 {
		v[b] = 0.3
	}
	var n float64
	for _, x := range v {
		n += float64(x * x)
	}
	for i := range v {
		v[i] /= float32(math.Sqrt(n))
	}
	return v
}

func mustReplace(t *testing.T, s store.Store, d store.Document, cs []store.Chunk, emb string, vecs [][]float32) []int64 {
	t.Helper()
	ids, err := s.Replace(ctx(t), d, cs, emb, vecs)
	if err != nil {
		t.Fatalf("Replace %s/%s: %v", d.Collection, d.Path, err)
	}
	if len(ids) != len(cs) {
		t.Fatalf("Replace returned %d ids for %d chunks", len(ids), len(cs))
	}
	return ids
}

func paths(hits []store.Hit) []string {
	out := make([]string, len(hits))
	for i, h := range hits {
		out[i] = h.Collection + "/" + h.Path
	}
	return out
}

func testReplace(t *testing.T, s store.Store) {
	t.Cleanup(func() { _ = s.Close() })
	d := doc("docs", "a/readme.md", "Readme", "line one\nline two\nline three")
	ids1 := mustReplace(t, s, d, chunks("alpha bravo", "charlie delta"), "", nil)
	got, err := s.Document(ctx(t), "docs", "a/readme.md")
	if err != nil {
		t.Fatal(err)
	}
	if got.Body != d.Body || got.Title != "Readme" || got.Hash != d.Hash || !got.ModTime.Equal(d.ModTime) ||
		got.Size != d.Size || got.Lines != 3 || got.Source != d.Source || got.Kind != "markdown" || !got.IndexedAt.Equal(d.IndexedAt) {
		t.Errorf("Document = %+v, want %+v", got, d)
	}
	if _, err := s.Document(ctx(t), "docs", "missing.md"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("missing document: err = %v, want ErrNotFound", err)
	}
	// A new version replaces every chunk: the old words are gone, the ids are new.
	d.Hash = "h2"
	ids2 := mustReplace(t, s, d, chunks("echo foxtrot"), "", nil)
	if slices.Contains(ids1, ids2[0]) {
		t.Errorf("chunk id %d reused after a replace", ids2[0])
	}
	hits, err := s.Keyword(ctx(t), store.KeywordQuery{Terms: []string{"alpha"}, Limit: 10})
	if err != nil || len(hits) != 0 {
		t.Errorf("old chunk still found: %v %v", hits, err)
	}
	hits, err = s.Keyword(ctx(t), store.KeywordQuery{Terms: []string{"foxtrot"}, Limit: 10})
	if err != nil || len(hits) != 1 {
		t.Fatalf("new chunk: %v %v", hits, err)
	}
	h := hits[0]
	if h.ChunkID != ids2[0] || h.Collection != "docs" || h.Path != "a/readme.md" || h.Title != "Readme" ||
		!slices.Equal(h.Heading, []string{"Top", "Section"}) || h.StartLine != 1 || h.EndLine != 1 || h.Text != "echo foxtrot" ||
		h.Source != d.Source {
		t.Errorf("hit = %+v", h)
	}
	mustReplace(t, s, doc("docs", "b.md", "B", "x"), chunks("golf"), "", nil)
	mustReplace(t, s, doc("other", "c.md", "C", "x"), nil, "", nil)
	infos, err := s.Documents(ctx(t), "docs")
	if err != nil || len(infos) != 2 || infos[0].Path != "a/readme.md" || infos[1].Path != "b.md" || infos[0].Hash != "h2" {
		t.Errorf("Documents = %+v, %v", infos, err)
	}
	cols, err := s.Collections(ctx(t))
	if err != nil || !slices.Equal(cols, []string{"docs", "other"}) {
		t.Errorf("Collections = %v, %v", cols, err)
	}
	st, err := s.Stats(ctx(t), "e1")
	if err != nil || st["docs"].Documents != 2 || st["docs"].Chunks != 2 || st["other"].Documents != 1 ||
		st["other"].Chunks != 0 || st["docs"].Embedded != 0 || !st["docs"].LastIndexed.Equal(d.IndexedAt) {
		t.Errorf("Stats = %+v, %v", st, err)
	}
}

func testKeyword(t *testing.T, s store.Store) {
	t.Cleanup(func() { _ = s.Close() })
	mustReplace(t, s, doc("docs", "time.md", "Durations", "x"), chunks("how to parse a duration string such as 1h30m"), "", nil)
	mustReplace(t, s, doc("docs", "csv.md", "CSV", "x"), chunks("read records from a csv file", "parsing quoted fields"), "", nil)
	mustReplace(t, s, doc("code", "src/main.go", "main.go", "x"), []store.Chunk{{Text: "func main() {}", Extra: "parse duration"}}, "", nil)

	// OR semantics, stemming (parsing ~ parse), title weighted above body.
	hits, err := s.Keyword(ctx(t), store.KeywordQuery{Terms: []string{"parse", "duration"}, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	got := paths(hits)
	if len(got) != 3 || got[0] != "docs/time.md" || !slices.Contains(got, "docs/csv.md") || !slices.Contains(got, "code/src/main.go") {
		t.Errorf("parse duration: %v", got)
	}
	for i := 1; i < len(hits); i++ {
		if hits[i].Score > hits[i-1].Score {
			t.Errorf("hits not ordered by score: %v", hits)
		}
	}
	if hits, _ := s.Keyword(ctx(t), store.KeywordQuery{Terms: []string{"durations"}, Limit: 10}); len(hits) != 2 || hits[0].Path != "time.md" {
		t.Errorf("title match: %v", paths(hits))
	}
	// Extra is searchable but never shown.
	hits, _ = s.Keyword(ctx(t), store.KeywordQuery{Terms: []string{"duration"}, Filter: store.Filter{Collections: []string{"code"}}, Limit: 10})
	if len(hits) != 1 || hits[0].Text != "func main() {}" {
		t.Errorf("extra text: %+v", hits)
	}
	hits, _ = s.Keyword(ctx(t), store.KeywordQuery{Terms: []string{"parse"}, Filter: store.Filter{PathGlob: "*.md"}, Limit: 10})
	if got := paths(hits); len(got) != 2 || slices.Contains(got, "code/src/main.go") {
		t.Errorf("glob *.md: %v", got)
	}
	hits, _ = s.Keyword(ctx(t), store.KeywordQuery{Terms: []string{"parse"}, Filter: store.Filter{PathGlob: "src/*"}, Limit: 10})
	if got := paths(hits); len(got) != 1 || got[0] != "code/src/main.go" {
		t.Errorf("glob src/*: %v", got)
	}
	hits, _ = s.Keyword(ctx(t), store.KeywordQuery{Terms: []string{"parse"}, Limit: 1})
	if len(hits) != 1 {
		t.Errorf("limit 1: %d hits", len(hits))
	}
	if hits, err := s.Keyword(ctx(t), store.KeywordQuery{Terms: []string{"zzzunknown"}, Limit: 5}); err != nil || len(hits) != 0 {
		t.Errorf("no match: %v %v", hits, err)
	}
	// Terms are data, never syntax.
	for _, odd := range []string{"and", "or", "not", "near", "title", `"`, "*"} {
		if _, err := s.Keyword(ctx(t), store.KeywordQuery{Terms: []string{odd}, Limit: 5}); err != nil {
			t.Errorf("term %q: %v", odd, err)
		}
	}
}

func testVector(t *testing.T, s store.Store) {
	t.Cleanup(func() { _ = s.Close() })
	mustReplace(t, s, doc("docs", "a.md", "A", "x"), chunks("a0", "a1"), "e1", [][]float32{unit(0, -1), unit(1, -1)})
	mustReplace(t, s, doc("docs", "b.md", "B", "x"), chunks("b0"), "e1", [][]float32{unit(0, 2)})
	mustReplace(t, s, doc("web", "http://x/c", "C", "x"), chunks("c0"), "e1", [][]float32{unit(0, 3)})
	q := store.VectorQuery{Vector: unit(0, -1), EmbedderID: "e1", Limit: 10}
	hits, err := s.Vector(ctx(t), q)
	if err != nil {
		t.Fatal(err)
	}
	if len(hits) != 4 || hits[0].Text != "a0" || hits[3].Text != "a1" {
		t.Fatalf("vector order: %+v", hits)
	}
	if hits[0].Score < 0.98 || hits[0].Score > 1.02 || hits[3].Score > 0.1 {
		t.Errorf("cosine scores: %v %v", hits[0].Score, hits[3].Score)
	}
	q.Limit = 2
	if hits, _ := s.Vector(ctx(t), q); len(hits) != 2 || hits[0].Text != "a0" {
		t.Errorf("limit 2: %+v", hits)
	}
	q.Limit = 10
	q.Collections = []string{"web"}
	if hits, _ := s.Vector(ctx(t), q); len(hits) != 1 || hits[0].Text != "c0" {
		t.Errorf("collection filter: %+v", hits)
	}
	q.Collections, q.PathGlob = nil, "b*"
	if hits, _ := s.Vector(ctx(t), q); len(hits) != 1 || hits[0].Text != "b0" {
		t.Errorf("path filter: %+v", hits)
	}
	q.PathGlob = ""
	// A replaced document's old vectors are gone; its new ones are searchable at once.
	mustReplace(t, s, doc("docs", "a.md", "A", "x"), chunks("a2"), "e1", [][]float32{unit(5, -1)})
	hits, _ = s.Vector(ctx(t), q)
	for _, h := range hits {
		if h.Text == "a0" || h.Text == "a1" {
			t.Errorf("old chunk %s still found", h.Text)
		}
	}
	if hits, _ := s.Vector(ctx(t), store.VectorQuery{Vector: unit(5, -1), EmbedderID: "e1", Limit: 1}); len(hits) != 1 || hits[0].Text != "a2" {
		t.Errorf("new vector: %+v", hits)
	}
	if hits, _ := s.Vector(ctx(t), store.VectorQuery{Vector: unit(5, -1), EmbedderID: "other", Limit: 5}); len(hits) != 0 {
		t.Errorf("another embedder's search found %+v", hits)
	}
}

func testEmbedderChange(t *testing.T, s store.Store) {
	t.Cleanup(func() { _ = s.Close() })
	ids := mustReplace(t, s, doc("docs", "a.md", "A", "x"), chunks("a0", "a1"), "e1", [][]float32{unit(0, -1), unit(1, -1)})
	mustReplace(t, s, doc("docs", "b.md", "B", "x"), chunks("b0"), "", nil)
	// Warm any in-memory copy of e1 first, so that the change below must keep it right.
	if hits, _ := s.Vector(ctx(t), store.VectorQuery{Vector: unit(0, -1), EmbedderID: "e1", Limit: 5}); len(hits) != 2 {
		t.Errorf("e1 before: %+v", hits)
	}
	p, err := s.Pending(ctx(t), "e1", 10)
	if err != nil || len(p) != 1 || p[0].Text != "b0" || p[0].Title != "B" || !slices.Equal(p[0].Heading, []string{"Top", "Section"}) {
		t.Errorf("Pending e1 = %+v, %v", p, err)
	}
	p, err = s.Pending(ctx(t), "e2", 10)
	if err != nil || len(p) != 3 || p[0].ID != ids[0] {
		t.Fatalf("Pending e2 = %+v, %v", p, err)
	}
	if p, _ := s.Pending(ctx(t), "e2", 2); len(p) != 2 {
		t.Errorf("Pending limit: %d", len(p))
	}
	pids := []int64{p[0].ID, p[1].ID, p[2].ID, 1 << 40} // the last one does not exist: ignored
	if err := s.SetVectors(ctx(t), "e2", pids, [][]float32{unit(2, -1), unit(3, -1), unit(4, -1), unit(4, -1)}); err != nil {
		t.Fatal(err)
	}
	if p, _ := s.Pending(ctx(t), "e2", 10); len(p) != 0 {
		t.Errorf("still pending after SetVectors: %+v", p)
	}
	if hits, _ := s.Vector(ctx(t), store.VectorQuery{Vector: unit(3, -1), EmbedderID: "e2", Limit: 1}); len(hits) != 1 || hits[0].Text != "a1" {
		t.Errorf("e2 search: %+v", hits)
	}
	// The keyword index is untouched by the change.
	if hits, _ := s.Keyword(ctx(t), store.KeywordQuery{Terms: []string{"b0"}, Limit: 5}); len(hits) != 1 {
		t.Errorf("keyword after re-embedding: %+v", hits)
	}
	st, _ := s.Stats(ctx(t), "e2")
	if st["docs"].Embedded != 3 || st["docs"].Chunks != 3 {
		t.Errorf("Stats e2 = %+v", st)
	}
	// Vectors stored for an embedder's warm index are searchable at once.
	if hits, _ := s.Vector(ctx(t), store.VectorQuery{Vector: unit(6, -1), EmbedderID: "e2", Limit: 3}); len(hits) != 3 {
		t.Errorf("e2 all: %+v", hits)
	}
	mustReplace(t, s, doc("docs", "c.md", "C", "x"), chunks("c0"), "", nil)
	p, _ = s.Pending(ctx(t), "e2", 10)
	if len(p) != 1 {
		t.Fatalf("pending c0: %+v", p)
	}
	if err := s.SetVectors(ctx(t), "e2", []int64{p[0].ID}, [][]float32{unit(6, -1)}); err != nil {
		t.Fatal(err)
	}
	if hits, _ := s.Vector(ctx(t), store.VectorQuery{Vector: unit(6, -1), EmbedderID: "e2", Limit: 1}); len(hits) != 1 || hits[0].Text != "c0" {
		t.Errorf("vector set on a warm index: %+v", hits)
	}
}

func testDelete(t *testing.T, s store.Store) {
	t.Cleanup(func() { _ = s.Close() })
	mustReplace(t, s, doc("docs", "a.md", "A", "x"), chunks("kilo"), "e1", [][]float32{unit(0, -1)})
	mustReplace(t, s, doc("docs", "b.md", "B", "x"), chunks("lima"), "e1", [][]float32{unit(1, -1)})
	mustReplace(t, s, doc("web", "c", "C", "x"), chunks("mike"), "e1", [][]float32{unit(2, -1)})
	if _, err := s.Vector(ctx(t), store.VectorQuery{Vector: unit(0, -1), EmbedderID: "e1", Limit: 5}); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx(t), "docs", "a.md"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx(t), "docs", "never.md"); err != nil {
		t.Errorf("deleting a missing document: %v", err)
	}
	if hits, _ := s.Keyword(ctx(t), store.KeywordQuery{Terms: []string{"kilo"}, Limit: 5}); len(hits) != 0 {
		t.Errorf("deleted chunk found by keyword: %+v", hits)
	}
	if hits, _ := s.Vector(ctx(t), store.VectorQuery{Vector: unit(0, -1), EmbedderID: "e1", Limit: 5}); len(hits) != 2 {
		t.Errorf("after delete, vector hits: %+v", hits)
	}
	if err := s.DeleteCollection(ctx(t), "docs"); err != nil {
		t.Fatal(err)
	}
	cols, _ := s.Collections(ctx(t))
	if !slices.Equal(cols, []string{"web"}) {
		t.Errorf("collections after DeleteCollection: %v", cols)
	}
	if hits, _ := s.Vector(ctx(t), store.VectorQuery{Vector: unit(1, -1), EmbedderID: "e1", Limit: 5}); len(hits) != 1 || hits[0].Text != "mike" {
		t.Errorf("after DeleteCollection: %+v", hits)
	}
}
