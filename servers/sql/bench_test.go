package sql

import (
	"context"
	dbsql "database/sql"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mcphub/mcphub/configs"
	"github.com/mcphub/mcphub/internal/testenv"
	"github.com/mcphub/mcphub/servers/registry"
)

// benchTargetRatio is issue 4's target: sql_query through mcphub costs at most 1.3x the same
// query through database/sql.
const benchTargetRatio = 1.3

// benchSide runs one query once: through database/sql, or through the registry-wrapped tool.
type benchSide func(ctx context.Context) error

// benchQuery is one query of the comparison on one engine.
type benchQuery struct {
	name        string
	direct, hub benchSide
}

var benchFixture = []string{
	`CREATE TABLE items (id INTEGER PRIMARY KEY, label TEXT NOT NULL, price DOUBLE PRECISION NOT NULL)`,
	`WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 5000)
		INSERT INTO items SELECT n, 'item ' || n, n * 1.25 FROM s`,
}

// benchSetup loads the fixture into the database at dsn (opened with driver for the direct side),
// builds a hub serving sql on hubDSN, and returns the point lookup and the 1,000-row scan, each
// direct and through the hub.
func benchSetup(tb testing.TB, driver, dsn, hubDSN, param string) []benchQuery {
	tb.Helper()
	ctx := context.Background()
	db, err := dbsql.Open(driver, dsn)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = db.Close() })
	db.SetMaxIdleConns(4)
	for _, stmt := range benchFixture {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			tb.Fatalf("fixture: %v", err)
		}
	}
	doc := fmt.Sprintf("data_dir: %s\nservers:\n  sql:\n    enabled: true\n    sources: [{name: bench, dsn: %q}]\n", tb.TempDir(), hubDSN)
	cfg, err := configs.Parse([]byte(doc))
	if err != nil {
		tb.Fatal(err)
	}
	h, err := registry.Build(ctx, registry.Options{
		Config: cfg, Catalog: []registry.Factory{factory},
		Metrics: registry.NewMetrics(prometheus.NewRegistry()),
		Logger:  slog.New(slog.NewJSONHandler(io.Discard, nil)), //nolint:sloglint // formatted, as in production
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = h.Close(context.Background()) })
	var handle func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error)
	for _, st := range h.Instance("sql").ServerTools() {
		if st.Tool.Name == "sql_query" {
			handle = st.Handler
		}
	}

	// The direct side bounds each query with a deadline, as any server answering requests
	// does (and as sql_query does): a query without one could run forever.
	direct := func(q string, args ...any) benchSide {
		return func(ctx context.Context) error {
			ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			rows, err := db.QueryContext(ctx, q, args...)
			if err != nil {
				return err
			}
			defer rows.Close()
			cols, err := rows.Columns()
			if err != nil {
				return err
			}
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			for rows.Next() {
				if err := rows.Scan(ptrs...); err != nil {
					return err
				}
			}
			return rows.Err()
		}
	}
	viaHub := func(q string, params ...any) benchSide {
		var req mcp.CallToolRequest
		req.Params.Name = "sql_query"
		req.Params.Arguments = map[string]any{"sql": q, "params": params}
		return func(ctx context.Context) error {
			res, err := handle(ctx, req)
			if err != nil {
				return err
			}
			if res.IsError {
				return fmt.Errorf("error result: %v", res.Content)
			}
			return nil
		}
	}
	point := "SELECT id, label, price FROM items WHERE id = " + param
	scan := "SELECT id, label, price FROM items ORDER BY id LIMIT 1000"
	qs := []benchQuery{
		{"point", direct(point, int64(4242)), viaHub(point, float64(4242))},
		{"scan1000", direct(scan), viaHub(scan)},
	}
	for _, q := range qs { // both sides work, and warm up their caches
		for _, side := range []benchSide{q.direct, q.hub} {
			if err := side(ctx); err != nil {
				tb.Fatalf("%s: %v", q.name, err)
			}
		}
	}
	return qs
}

func sqliteBench(tb testing.TB) []benchQuery {
	path := filepath.Join(tb.TempDir(), "bench.db")
	return benchSetup(tb, "sqlite", path, "sqlite://"+path, "?")
}

func postgresBench(tb testing.TB) []benchQuery {
	dsn := testenv.StartPostgres(tb)
	return benchSetup(tb, "pgx", dsn, dsn, "$1")
}

func runBench(b *testing.B, qs []benchQuery) {
	ctx := context.Background()
	for _, q := range qs {
		for _, side := range []struct {
			name string
			run  benchSide
		}{{"direct", q.direct}, {"hub", q.hub}} {
			b.Run(q.name+"/"+side.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if err := side.run(ctx); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkSQLQuerySQLite compares sql_query through the registry-wrapped tool with the same
// query through database/sql, on SQLite.
func BenchmarkSQLQuerySQLite(b *testing.B) { runBench(b, sqliteBench(b)) }

// BenchmarkSQLQueryPostgres is the same comparison on PostgreSQL over loopback.
func BenchmarkSQLQueryPostgres(b *testing.B) { runBench(b, postgresBench(b)) }

// TestBenchSQLReport prints hub/direct ratios side by side (MCPHUB_BENCH=1, `make bench`).
func TestBenchSQLReport(t *testing.T) {
	if os.Getenv("MCPHUB_BENCH") != "1" {
		t.Skip("set MCPHUB_BENCH=1 to run the sql_query vs database/sql report")
	}
	const rounds = 5
	engines := []struct {
		name  string
		setup func(testing.TB) []benchQuery
	}{{"sqlite", sqliteBench}, {"postgres", postgresBench}}
	var out strings.Builder
	fmt.Fprintf(&out, "\nsql_query through mcphub (registry-wrapped handler) vs the same query through database/sql\n")
	fmt.Fprintf(&out, "%s %s/%s, GOMAXPROCS=%d, median of %d interleaved rounds (testing.Benchmark)\n",
		runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.GOMAXPROCS(0), rounds)
	fmt.Fprintf(&out, "target: hub/direct <= %.1f (report only, not asserted)\n\n", benchTargetRatio)
	tw := tabwriter.NewWriter(&out, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "engine\tquery\tdirect ns/op\thub ns/op\tratio\tverdict\t")
	for _, e := range engines {
		// The set-up's cleanups run when the subtest ends, so the measurements run inside it;
		// a missing PostgreSQL skips only its own rows.
		ok := t.Run(e.name, func(t *testing.T) {
			qs := e.setup(t)
			ctx := context.Background()
			for _, q := range qs {
				var direct, hub []float64
				for i := range rounds {
					order := []*[]float64{&direct, &hub}
					sides := []benchSide{q.direct, q.hub}
					if i%2 == 1 {
						order[0], order[1], sides[0], sides[1] = order[1], order[0], sides[1], sides[0]
					}
					for j, side := range sides {
						runtime.GC()
						var failed error
						r := testing.Benchmark(func(b *testing.B) {
							for b.Loop() {
								if err := side(ctx); err != nil {
									failed = err
									b.SkipNow()
								}
							}
						})
						if failed != nil {
							t.Fatalf("%s: %v", q.name, failed)
						}
						*order[j] = append(*order[j], float64(r.NsPerOp()))
					}
				}
				d, h := median(direct), median(hub)
				verdict := "within target"
				if h/d > benchTargetRatio {
					verdict = "OVER target"
				}
				fmt.Fprintf(tw, "%s\t%s\t%.0f\t%.0f\t%.2f\t%s\t\n", e.name, q.name, d, h, h/d, verdict)
			}
		})
		if !ok {
			fmt.Fprintf(tw, "%s\t(not measured)\t\t\t\t\t\n", e.name)
		}
	}
	_ = tw.Flush()
	t.Log(out.String())
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}
