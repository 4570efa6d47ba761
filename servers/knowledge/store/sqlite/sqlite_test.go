package sqlite

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/mcphub/mcphub/servers/knowledge/store"
	"github.com/mcphub/mcphub/servers/knowledge/store/storetest"
)

func openTemp(t *testing.T) *Store {
	t.Helper()
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "kb.db"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return openTemp(t) })
}

func TestReopenKeepsIndex(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(dir, "kb.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Replace(ctx, store.Document{Collection: "c", Path: "p", Title: "T"},
		[]store.Chunk{{Text: "persisted words"}}, "e", [][]float32{{1, 0}}); err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	s, err = Open(ctx, filepath.Join(dir, "kb.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if hits, err := s.Keyword(ctx, store.KeywordQuery{Terms: []string{"persisted"}, Limit: 3}); err != nil || len(hits) != 1 {
		t.Errorf("keyword after reopen: %v %v", hits, err)
	}
	if hits, err := s.Vector(ctx, store.VectorQuery{Vector: []float32{1, 0}, EmbedderID: "e", Limit: 3}); err != nil || len(hits) != 1 {
		t.Errorf("vector after reopen: %v %v", hits, err)
	}
}

func TestQuantizeKeepsCosine(t *testing.T) {
	v := []float32{0.6, -0.8, 0, 0.0001}
	q := quantize(v)
	x := newVectorIndex("e")
	x.put(1, "c", "p", q)
	ids, scores, err := x.search(v, store.Filter{}, 1)
	if err != nil || len(ids) != 1 || scores[0] < 0.99 || scores[0] > 1.01 {
		t.Errorf("self cosine = %v %v %v", ids, scores, err)
	}
	x.remove([]int64{1, 2})
	if len(x.ids) != 0 || len(x.data) != 0 {
		t.Errorf("remove left %d rows", len(x.ids))
	}
}
