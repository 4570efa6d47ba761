package transport

// Benchmarks of one tool call through the whole hub against the same tool on a bare mcp-go
// server, both over a real loopback TCP listener and a plain net/http client, at both protocol
// generations. BenchmarkToolCall reports ns/op and allocs (client included, the same client for
// both sides); TestBenchReport (MCPHUB_BENCH=1) runs the two sides interleaved in one process and
// prints throughput and latency side by side against the target.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
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
	"github.com/mcphub/mcphub/servers/registry"
)

const (
	benchModern = "2026-07-28" // stateless core: _meta + Mcp-Method/Mcp-Name headers, no session
	benchLegacy = "2025-11-25" // initialize once, then Mcp-Session-Id on every call
	benchTool   = "bench_echo"

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
	tr := &http.Transport{
		MaxIdleConns:        512,
		MaxIdleConnsPerHost: 256,
		MaxConnsPerHost:     0,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
	}
	tb.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// benchClient is one MCP client (one session, for legacy) over plain HTTP; not for concurrent use.
type benchClient struct {
	hc      *http.Client
	url     string
	tool    string
	proto   string
	prefix  string
	session string
	id      int64
	body    []byte
}

var benchClientSeq atomic.Int64

func newBenchClient(ctx context.Context, hc *http.Client, url, tool, proto string) (*benchClient, error) {
	c := &benchClient{hc: hc, url: url, tool: tool, proto: proto,
		prefix: "echo-" + strconv.FormatInt(benchClientSeq.Add(1), 10) + "-"}
	if proto == benchModern {
		return c, nil
	}
	// Legacy: initialize, keep the session id, confirm with notifications/initialized.
	init := `{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"` + proto +
		`","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}`
	a, err := c.post(ctx, []byte(init), nil)
	if err != nil {
		return nil, fmt.Errorf("initialize: %w", err)
	}
	if a.status != http.StatusOK {
		return nil, fmt.Errorf("initialize: HTTP %d: %s", a.status, benchTrim(a.body))
	}
	if _, err := benchParse(a.header.Get("Content-Type"), a.body, 0); err != nil {
		return nil, fmt.Errorf("initialize: %w", err)
	}
	c.session = a.header.Get("Mcp-Session-Id")
	if c.session == "" {
		return nil, errors.New("initialize: no Mcp-Session-Id in the answer")
	}
	a, err = c.post(ctx, []byte(`{"jsonrpc":"2.0","method":"notifications/initialized"}`), nil)
	if err != nil {
		return nil, fmt.Errorf("notifications/initialized: %w", err)
	}
	if a.status != http.StatusAccepted {
		return nil, fmt.Errorf("notifications/initialized: HTTP %d: %s", a.status, benchTrim(a.body))
	}
	return c, nil
}

// benchAnswer is an HTTP answer, read in full.
type benchAnswer struct {
	status int
	header http.Header
	body   []byte
}

// post sends one JSON-RPC message with the headers of the client's protocol generation.
func (c *benchClient) post(ctx context.Context, payload []byte, mcpName *string) (benchAnswer, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(payload))
	if err != nil {
		return benchAnswer{}, err
	}
	h := req.Header
	h["Content-Type"] = []string{"application/json"}
	h["Accept"] = []string{"application/json, text/event-stream"}
	if c.proto == benchModern {
		h["Mcp-Protocol-Version"] = []string{c.proto}
		h["Mcp-Method"] = []string{"tools/call"}
		if mcpName != nil {
			h["Mcp-Name"] = []string{*mcpName}
		}
	} else if c.session != "" {
		h["Mcp-Session-Id"] = []string{c.session}
		h["Mcp-Protocol-Version"] = []string{c.proto}
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return benchAnswer{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return benchAnswer{}, err
	}
	return benchAnswer{status: resp.StatusCode, header: resp.Header, body: body}, nil
}

// call makes one tools/call and checks the answer: HTTP 200, a JSON-RPC result (as JSON or in
// an SSE stream) with no error whose text is the text sent.
func (c *benchClient) call(ctx context.Context) error {
	c.id++
	text := c.prefix + strconv.FormatInt(c.id, 10)
	b := c.body[:0]
	b = append(b, `{"jsonrpc":"2.0","id":`...)
	b = strconv.AppendInt(b, c.id, 10)
	b = append(b, `,"method":"tools/call","params":{"name":"`...)
	b = append(b, c.tool...)
	b = append(b, `","arguments":{"text":"`...)
	b = append(b, text...)
	b = append(b, `"}`...)
	if c.proto == benchModern {
		b = append(b, `,"_meta":{"io.modelcontextprotocol/protocolVersion":"`...)
		b = append(b, c.proto...)
		b = append(b, `","io.modelcontextprotocol/clientCapabilities":{}}`...)
	}
	b = append(b, `}}`...)
	c.body = b

	a, err := c.post(ctx, b, &c.tool)
	if err != nil {
		return err
	}
	body := a.body
	if a.status != http.StatusOK {
		return fmt.Errorf("tools/call: HTTP %d: %s", a.status, benchTrim(body))
	}
	msg, err := benchParse(a.header.Get("Content-Type"), body, c.id)
	if err != nil {
		return err
	}
	if msg.Result == nil {
		return fmt.Errorf("tools/call: no result: %s", benchTrim(body))
	}
	if msg.Result.IsError {
		return fmt.Errorf("tools/call: tool error: %s", benchTrim(body))
	}
	for _, ct := range msg.Result.Content {
		if ct.Type == "text" && ct.Text == text {
			return nil
		}
	}
	return fmt.Errorf("tools/call: the answer does not echo %q: %s", text, benchTrim(body))
}

type benchRPC struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Result *struct {
		IsError bool `json:"isError"`
		Content []struct {
			Type string `json:"type"`
			Text string `json:"text"`
		} `json:"content"`
	} `json:"result"`
	Error *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// benchParse finds the response to request id in a JSON body or an SSE stream of messages.
func benchParse(contentType string, body []byte, id int64) (*benchRPC, error) {
	check := func(data []byte) (*benchRPC, bool, error) {
		var m benchRPC
		if err := json.Unmarshal(data, &m); err != nil {
			return nil, false, fmt.Errorf("answer is not JSON-RPC: %w: %s", err, benchTrim(data))
		}
		if m.Method != "" { // a notification or server request on the stream
			return nil, false, nil
		}
		if string(m.ID) != strconv.FormatInt(id, 10) {
			return nil, false, fmt.Errorf("answer has id %s, want %d", m.ID, id)
		}
		if m.Error != nil {
			return nil, false, fmt.Errorf("JSON-RPC error %d: %s", m.Error.Code, m.Error.Message)
		}
		return &m, true, nil
	}
	if strings.HasPrefix(contentType, "text/event-stream") {
		sc := bufio.NewScanner(bytes.NewReader(body))
		sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
		var data []byte
		flush := func() (*benchRPC, bool, error) {
			if len(data) == 0 {
				return nil, false, nil
			}
			m, ok, err := check(data)
			data = data[:0]
			return m, ok, err
		}
		for sc.Scan() {
			line := sc.Bytes()
			switch {
			case len(line) == 0:
				if m, ok, err := flush(); err != nil || ok {
					return m, err
				}
			case bytes.HasPrefix(line, []byte("data:")):
				if len(data) > 0 {
					data = append(data, '\n')
				}
				data = append(data, bytes.TrimPrefix(bytes.TrimPrefix(line, []byte("data:")), []byte(" "))...)
			}
		}
		if m, ok, err := flush(); err != nil || ok {
			return m, err
		}
		return nil, fmt.Errorf("no response with id %d in the event stream: %s", id, benchTrim(body))
	}
	m, ok, err := check(body)
	if err == nil && !ok {
		err = fmt.Errorf("answer is not a response: %s", benchTrim(body))
	}
	return m, err
}

func benchTrim(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "…"
	}
	return string(b)
}

var benchSides = []struct {
	name  string
	start func(testing.TB) string
}{
	{"hub", startBenchHub},
	{"bare", startBenchBare},
}

var benchProtos = []struct{ name, version string }{
	{"modern", benchModern},
	{"legacy", benchLegacy},
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
}
