package transport

// Benchmarks of one tool call through the whole hub against the same tool on a bare mcp-go
// server, both over a real loopback TCP listener and a plain net/http client (internal/mcpload),
// at both protocol generations. BenchmarkToolCall reports ns/op and allocs (client included, the
// same client for both sides); TestBenchReport (MCPHUB_BENCH=1) runs the two sides interleaved in one process and
// prints throughput and latency side by side against the target.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mcphub/mcphub/configs"
	"github.com/mcphub/mcphub/internal/benchtable"
	"github.com/mcphub/mcphub/internal/mcpload"
	"github.com/mcphub/mcphub/servers/registry"
)

const (
	benchTool = "bench_echo"

	// The target: the hub may cost at most 15% more than bare mcp-go.
	benchTargetRPS = 0.87
	benchTargetP50 = 1.15
)

// benchEchoDef is the echo tool's definition, the same on both sides.
func benchEchoDef() mcp.Tool {
	return mcp.NewTool(benchTool,
		mcp.WithDescription("Returns its text."),
		mcp.WithString("text", mcp.Required(), mcp.Description("Text to return.")),
	)
}

func benchEchoHandler(_ context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	return mcp.NewToolResultText(req.GetString("text", "")), nil
}

// benchServer is the test-only hub server holding the echo tool.
type benchServer struct{}

func (benchServer) Tools() []registry.Tool {
	return []registry.Tool{{
		Def:     benchEchoDef(),
		Hints:   &registry.Hints{ReadOnly: true, Idempotent: true},
		Handler: benchEchoHandler,
	}}
}

var benchCatalog = []registry.Factory{{
	Name: "bench", Title: "Benchmark echo", DefaultEnabled: true,
	New: func() registry.Server { return benchServer{} },
}}

// startBenchHub serves the full hub (middleware, chi, guard, metrics, registry wrapper) on a
// loopback listener and returns the per-server endpoint's URL.
func startBenchHub(tb testing.TB) string {
	tb.Helper()
	cfg := configs.Default()
	cfg.DataDir = tb.TempDir()
	// A JSON handler at Info level, not slog.DiscardHandler: the per-call log line is formatted
	// as in production, then discarded.
	logger := slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo})) //nolint:sloglint // formatting cost is part of what is measured
	reg := prometheus.NewRegistry()
	ctx := context.Background()
	hub, err := registry.Build(ctx, registry.Options{
		Config: cfg, Catalog: benchCatalog, Logger: logger, Metrics: registry.NewMetrics(reg),
	})
	if err != nil {
		tb.Fatalf("building the hub: %v", err)
	}
	h := NewHTTP(Options{Config: cfg, Hub: hub, Logger: logger, Version: "bench", Registry: reg})
	ts := httptest.NewServer(h.Handler())
	tb.Cleanup(func() {
		ts.Close()
		closeCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		h.Close(closeCtx)
		_ = hub.Close(closeCtx)
	})
	return ts.URL + "/mcp/bench"
}

// startBenchBare serves the same tool from a bare mcp-go server with default options.
func startBenchBare(tb testing.TB) string {
	tb.Helper()
	s := server.NewMCPServer("bare", "bench")
	s.AddTool(benchEchoDef(), benchEchoHandler)
	hs := server.NewStreamableHTTPServer(s)
	ts := httptest.NewServer(hs)
	tb.Cleanup(func() {
		ts.Close()
		closeCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(closeCtx)
	})
	return ts.URL + "/mcp"
}

// newBenchHTTPClient is the keep-alive client every benchmark client shares.
func newBenchHTTPClient(tb testing.TB) *http.Client {
	hc := mcpload.NewHTTPClient(256)
	tb.Cleanup(hc.CloseIdleConnections)
	return hc
}

// benchClient is one MCP client (one session, for legacy) calling the echo tool with a text
// unique across clients; not for concurrent use.
type benchClient struct {
	*mcpload.Client
	prefix string
	n      int64
}

var benchClientSeq atomic.Int64

func newBenchClient(ctx context.Context, hc *http.Client, url, tool, proto string) (*benchClient, error) {
	c, err := mcpload.Dial(ctx, hc, url, tool, proto, nil)
	if err != nil {
		return nil, err
	}
	return &benchClient{Client: c, prefix: "echo-" + strconv.FormatInt(benchClientSeq.Add(1), 10) + "-"}, nil
}

// call makes one echo call and checks that the text sent comes back.
func (c *benchClient) call(ctx context.Context) error {
	c.n++
	text := c.prefix + strconv.FormatInt(c.n, 10)
	return c.Call(ctx, map[string]any{"text": text}, text)
}

var benchSides = []struct {
	name  string
	start func(testing.TB) string
}{
	{"hub", startBenchHub},
	{"bare", startBenchBare},
}

var benchProtos = []struct{ name, version string }{
	{"modern", mcpload.Modern},
	{"legacy", mcpload.Legacy},
}

// BenchmarkToolCall is one call at a time over one keep-alive connection.
func BenchmarkToolCall(b *testing.B) {
	for _, side := range benchSides {
		b.Run(side.name, func(b *testing.B) {
			url := side.start(b)
			hc := newBenchHTTPClient(b)
			for _, p := range benchProtos {
				b.Run(p.name, func(b *testing.B) {
					ctx := context.Background()
					c, err := newBenchClient(ctx, hc, url, benchTool, p.version)
					if err != nil {
						b.Fatal(err)
					}
					if err := c.call(ctx); err != nil { // open the connection outside the timing
						b.Fatal(err)
					}
					b.ReportAllocs()
					b.ResetTimer()
					for b.Loop() {
						if err := c.call(ctx); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		})
	}
}

// BenchmarkToolCallParallel is the same with GOMAXPROCS×-cpu clients at once, each its own
// client (and session, for legacy).
func BenchmarkToolCallParallel(b *testing.B) {
	for _, side := range benchSides {
		b.Run(side.name, func(b *testing.B) {
			url := side.start(b)
			hc := newBenchHTTPClient(b)
			for _, p := range benchProtos {
				b.Run(p.name, func(b *testing.B) {
					ctx := context.Background()
					b.ReportAllocs()
					b.RunParallel(func(pb *testing.PB) {
						c, err := newBenchClient(ctx, hc, url, benchTool, p.version)
						if err != nil {
							b.Error(err)
							return
						}
						for pb.Next() {
							if err := c.call(ctx); err != nil {
								b.Error(err)
								return
							}
						}
					})
				})
			}
		})
	}
}

// benchRound runs n calls spread over the clients (one goroutine each) and returns the wall time
// and every call's latency.
func benchRound(ctx context.Context, clients []*benchClient, n int) (time.Duration, []time.Duration, error) {
	var next atomic.Int64
	lat := make([][]time.Duration, len(clients))
	errs := make([]error, len(clients))
	var wg sync.WaitGroup
	start := time.Now()
	for i, c := range clients {
		lat[i] = make([]time.Duration, 0, n/len(clients)+1)
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				t0 := time.Now()
				if err := c.call(ctx); err != nil {
					errs[i] = err
					return
				}
				lat[i] = append(lat[i], time.Since(t0))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	return elapsed, slices.Concat(lat...), errors.Join(errs...)
}

type benchStats struct {
	calls    int
	elapsed  time.Duration
	lat      []time.Duration
	rps      float64
	p50, p99 time.Duration
}

func (s *benchStats) add(elapsed time.Duration, lat []time.Duration) {
	s.calls += len(lat)
	s.elapsed += elapsed
	s.lat = append(s.lat, lat...)
}

func (s *benchStats) finish() {
	slices.Sort(s.lat)
	s.rps = float64(s.calls) / s.elapsed.Seconds()
	s.p50 = s.lat[len(s.lat)*50/100]
	s.p99 = s.lat[min(len(s.lat)-1, len(s.lat)*99/100)]
}

func benchMS(d time.Duration) string {
	return strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 3, 64) + "ms"
}

// TestBenchReport compares the hub with bare mcp-go, interleaved in one run, and prints a table.
// It reports only: no timing is asserted.
func TestBenchReport(t *testing.T) {
	if os.Getenv("MCPHUB_BENCH") != "1" {
		t.Skip("set MCPHUB_BENCH=1 to run the hub-vs-bare report")
	}
	const (
		warmup = 2000
		rounds = 5
		perRun = 2000
	)
	ctx := t.Context()
	hc := newBenchHTTPClient(t)
	urls := map[string]string{"hub": startBenchHub(t), "bare": startBenchBare(t)}

	type row struct {
		proto     string
		clients   int
		hub, bare benchStats
	}
	var rows []row
	for _, p := range benchProtos {
		for _, n := range []int{1, 16} {
			r := row{proto: p.name + " " + p.version, clients: n}
			clients := map[string][]*benchClient{}
			for side, url := range urls {
				for range n {
					c, err := newBenchClient(ctx, hc, url, benchTool, p.version)
					if err != nil {
						t.Fatalf("%s %s: %v", side, p.name, err)
					}
					clients[side] = append(clients[side], c)
				}
			}
			stats := map[string]*benchStats{"hub": &r.hub, "bare": &r.bare}
			for _, side := range []string{"hub", "bare"} {
				if _, _, err := benchRound(ctx, clients[side], warmup); err != nil {
					t.Fatalf("warm-up %s %s ×%d: %v", side, p.name, n, err)
				}
			}
			for i := range rounds {
				order := []string{"hub", "bare"}
				if i%2 == 1 {
					order = []string{"bare", "hub"}
				}
				for _, side := range order {
					runtime.GC() // each side pays for its own garbage
					elapsed, lat, err := benchRound(ctx, clients[side], perRun)
					if err != nil {
						t.Fatalf("%s %s ×%d round %d: %v", side, p.name, n, i+1, err)
					}
					stats[side].add(elapsed, lat)
				}
			}
			r.hub.finish()
			r.bare.finish()
			rows = append(rows, r)
		}
	}

	var out strings.Builder
	fmt.Fprintf(&out, "\nhub (transport.NewHTTP + registry) vs bare mcp-go, one tools/call %q echo over loopback HTTP\n", benchTool)
	fmt.Fprintf(&out, "%s %s/%s, GOMAXPROCS=%d, %d rounds × %d calls per side, interleaved, after %d warm-up calls\n",
		runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.GOMAXPROCS(0), rounds, perRun, warmup)
	fmt.Fprintf(&out, "target: hub costs at most 15%% more than bare: rps ratio >= %.2f, p50 ratio <= %.2f (report only, not asserted)\n\n",
		benchTargetRPS, benchTargetP50)
	tw := tabwriter.NewWriter(&out, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "protocol\tclients\thub rps\tbare rps\trps ratio (hub/bare)\thub p50\tbare p50\thub p99\tbare p99\tp50 ratio\tverdict\t")
	for _, r := range rows {
		rpsRatio := r.hub.rps / r.bare.rps
		p50Ratio := float64(r.hub.p50) / float64(r.bare.p50)
		verdict := "within target"
		if rpsRatio < benchTargetRPS || p50Ratio > benchTargetP50 {
			verdict = "OVER target"
		}
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%.0f\t%.3f\t%s\t%s\t%s\t%s\t%.3f\t%s\t\n",
			r.proto, r.clients, r.hub.rps, r.bare.rps, rpsRatio,
			benchMS(r.hub.p50), benchMS(r.bare.p50), benchMS(r.hub.p99), benchMS(r.bare.p99), p50Ratio, verdict)
	}
	_ = tw.Flush()
	fmt.Print(out.String())

	// The same rows, and the stateless-vs-session ratio of each side, in make bench's one table.
	var table []benchtable.Row
	byKey := map[string]row{}
	for _, r := range rows {
		table = append(table, benchtable.NewRow("hub vs bare mcp-go (in-process server)", r.proto, r.clients, "hub", "bare mcp-go",
			r.hub.export(), r.bare.export(), benchTargetRPS, benchTargetP50))
		byKey[r.proto[:strings.IndexByte(r.proto, ' ')]+strconv.Itoa(r.clients)] = r
	}
	for _, n := range []int{1, 16} {
		m, l := byKey["modern"+strconv.Itoa(n)], byKey["legacy"+strconv.Itoa(n)]
		table = append(table,
			benchtable.NewRow("stateless vs session, bare mcp-go", "2026-07-28 / 2025-11-25", n, "stateless", "session", m.bare.export(), l.bare.export(), 0, 0),
			benchtable.NewRow("stateless vs session, hub (in-process)", "2026-07-28 / 2025-11-25", n, "stateless", "session", m.hub.export(), l.hub.export(), 0.8, 0))
	}
	if err := benchtable.Append(table...); err != nil {
		t.Fatal(err)
	}
}

func (s *benchStats) export() benchtable.Stats {
	return benchtable.Stats{Calls: s.calls, Elapsed: s.elapsed, RPS: s.rps, P50: s.p50, P99: s.p99}
}
