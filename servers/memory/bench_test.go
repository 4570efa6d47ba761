package memory

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/mcphub/mcphub/internal/testenv"
	"github.com/mcphub/mcphub/servers/registry"
)

// benchGraph builds a graph of observations observations (ten per entity) whose words come
// from a fixed vocabulary with a skewed (Zipf) frequency, like natural text, from a fixed seed.
func benchGraph(observations int) Graph {
	rng := rand.New(rand.NewPCG(1, 2)) //nolint:gosec // G404: deterministic test data
	vocab := make([]string, 5000)
	for i := range vocab {
		vocab[i] = fmt.Sprintf("w%dx%s", i, strings.Repeat(string(rune('a'+i%26)), 1+i%5))
	}
	zipf := rand.NewZipf(rng, 1.1, 1, uint64(len(vocab)-1))
	g := Graph{}
	for e := range observations / 10 {
		ent := Entity{Name: fmt.Sprintf("entity %d %s", e, vocab[zipf.Uint64()]), EntityType: vocab[e%20]}
		for range 10 {
			words := make([]string, 12)
			for i := range words {
				words[i] = vocab[zipf.Uint64()]
			}
			ent.Observations = append(ent.Observations, strings.Join(words, " "))
		}
		g.Entities = append(g.Entities, ent)
		if e > 0 {
			g.Relations = append(g.Relations, Relation{g.Entities[e-1].Name, ent.Name, "next"})
		}
	}
	return g
}

// BenchmarkSearch measures memory_search_nodes through its handler (search, load, encode) on a
// SQLite graph of 10k and 100k observations, for a common word, a rare word and a two-word
// query. Building the graph is not timed.
func BenchmarkSearch(b *testing.B) { benchSearch(b) }

// BenchmarkSearchPostgres is the same on PostgreSQL (testenv.StartPostgres).
func BenchmarkSearchPostgres(b *testing.B) {
	pgBaseDSN = testenv.StartPostgres(b)
	b.Cleanup(func() { pgBaseDSN = "" })
	benchSearch(b)
}

func benchSearch(b *testing.B) {
	for _, size := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("observations=%dk", size/1000), func(b *testing.B) {
			s := newServer(b, func(c *Config) { c.MaxItemsPerCall = 10000; c.MaxObservationsPerCall = 100000 })
			if _, err := Import(context.Background(), s.currentStore(), "local", benchGraph(size)); err != nil {
				b.Fatal(err)
			}
			var handler registry.Handler
			for _, tool := range s.Tools() {
				if tool.Def.Name == "memory_search_nodes" {
					handler = tool.Handler
				}
			}
			ctx := registry.WithIdentity(context.Background(), "local")
			for _, q := range []struct{ name, query string }{
				{"common", "w1xbb"},
				{"rare", "w4321xff"},
				{"two-words", "w7xhhh w250xq"},
			} {
				b.Run(q.name, func(b *testing.B) {
					var req mcp.CallToolRequest
					req.Params.Name = "memory_search_nodes"
					req.Params.Arguments = map[string]any{"query": q.query}
					b.ReportAllocs()
					for b.Loop() {
						res, err := handler(ctx, req)
						if err != nil || res.IsError || strings.HasPrefix(text(res), `{"entities":[]`) {
							b.Fatalf("want results, got %v %q", err, text(res))
						}
					}
				})
			}
		})
	}
}
