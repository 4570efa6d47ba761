package pgstore

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcphub/mcphub/internal/testenv"
	"github.com/mcphub/mcphub/servers/knowledge/store"
	"github.com/mcphub/mcphub/servers/knowledge/store/storetest"
)

// TestIntegrationConformance runs the store conformance suite against a real PostgreSQL
// server (testenv.StartPostgres: skipped locally when PostgreSQL is not installed, a failure
// under CI), each subtest in a fresh schema, with the vector storage the server allows and with
// the real[] fallback forced.
func TestIntegrationConformance(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	dsn := testenv.StartPostgres(t)
	var n atomic.Int64
	open := func(o Options) func(t *testing.T) store.Store {
		return func(t *testing.T) store.Store {
			o := o
			o.Schema = fmt.Sprintf("kb_test_%d", n.Add(1))
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			s, err := Open(ctx, dsn, o)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
	}
	t.Run("default", func(t *testing.T) {
		s := open(Options{})(t)
		t.Logf("vectors stored as %s", s.(*Store).Vectors())
		_ = s.Close()
		storetest.Run(t, open(Options{}))
	})
	t.Run("real[] fallback", func(t *testing.T) {
		storetest.Run(t, open(Options{NoPGVector: true}))
	})
}

func TestIntegrationOpen(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	dsn := testenv.StartPostgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// Several hubs opening the same schema at once all succeed (the advisory lock).
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			s, err := Open(ctx, dsn, Options{Schema: "shared"})
			if err == nil {
				_ = s.Close()
			}
			errs <- err
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Errorf("concurrent Open: %v", err)
		}
	}

	// A bad DSN is reported without quoting it.
	secret := "postgres://u:hunter2@[bad"
	if _, err := Open(ctx, secret, Options{}); err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("bad DSN: %v", err)
	}
	// An unreachable server: an error, no password in it.
	dead := "postgres://u:hunter2@127.0.0.1:1/db?connect_timeout=2"
	if s, err := Open(ctx, dead, Options{}); err == nil || strings.Contains(err.Error(), "hunter2") {
		if s != nil {
			_ = s.Close()
		}
		t.Errorf("unreachable server: %v", err)
	}

	// Bad vectors are refused before reaching the database.
	s, err := Open(ctx, dsn, Options{Schema: "checks"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	d := store.Document{Collection: "c", Path: "p", Title: "T", Body: "b"}
	if _, err := s.Replace(ctx, d, []store.Chunk{{Text: "x"}}, "e", [][]float32{{float32(nanValue())}}); err == nil {
		t.Error("a NaN vector was stored")
	}
	if _, err := s.Replace(ctx, d, []store.Chunk{{Text: "x"}}, "e", [][]float32{{1}, {1}}); err == nil {
		t.Error("two vectors for one chunk were stored")
	}
	// A vector query of another dimension finds nothing rather than failing.
	if _, err := s.Replace(ctx, d, []store.Chunk{{Text: "x"}}, "e", [][]float32{{1, 0}}); err != nil {
		t.Fatal(err)
	}
	if hits, err := s.Vector(ctx, store.VectorQuery{Vector: []float32{1, 0, 0}, EmbedderID: "e", Limit: 5}); err != nil || len(hits) != 0 {
		t.Errorf("other dimension: %v %v", hits, err)
	}
	// Terms that are only stopwords or syntax match nothing, without an error.
	for _, terms := range [][]string{{"the"}, {"&", "|", "!"}, {"'", "\\"}, {""}} {
		if hits, err := s.Keyword(ctx, store.KeywordQuery{Terms: terms, Limit: 5}); err != nil || len(hits) != 0 {
			t.Errorf("terms %q: %v %v", terms, hits, err)
		}
	}
}

func nanValue() float64 {
	var zero float64
	return zero / zero
}
