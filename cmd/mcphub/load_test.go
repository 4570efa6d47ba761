package main

// TestBenchLoad (make bench; MCPHUB_BENCH=1) loads the real binary over streamable HTTP on
// loopback with the plain-HTTP client of internal/mcpload: first 1,000 MCP sessions open at once,
// each making calls; then a mixed workload (session and stateless calls, session churn, lists,
// resource reads, prompts, bad arguments, calls with progress) for MCPHUB_SOAK (default 10m; the
// Makefile's SOAK). It requires zero errors, and goroutines and heap back near the baseline once
// the load is over; it reports the figures.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/mcphub/mcphub/internal/mcpload"
)

const (
	loadSessions        = 1000
	loadCallsPerSession = 20
	loadSoakWorkers     = 32
	loadDefaultSoak     = 10 * time.Minute
	// After the load the hub must come back to within these of its baseline.
	loadGoroutineSlack = 25
	loadHeapFactor     = 2.0
	loadHeapSlackMiB   = 8
)

// hubFigures are the process figures /metrics reports.
type hubFigures struct {
	goroutines, heapMiB, rssMiB, sessions, gcs float64
}

func readFigures(t *testing.T, base string) hubFigures {
	t.Helper()
	return hubFigures{
		goroutines: metricValue(t, base, "go_goroutines"),
		heapMiB:    metricValue(t, base, "go_memstats_heap_alloc_bytes") / (1 << 20),
		rssMiB:     metricValue(t, base, "process_resident_memory_bytes") / (1 << 20),
		sessions:   metricValue(t, base, "mcphub_sessions_active", `endpoint="/mcp/testkit"`),
		gcs:        metricValue(t, base, "go_gc_duration_seconds_count"),
	}
}

// settle waits for the hub to come back near base, and returns the last figures. The heap is
// judged only after a garbage collection that ran since the load ended (the runtime forces one
// at least every two minutes), since before that it still counts the load's garbage.
func settle(t *testing.T, p *hubProcess, base hubFigures) (hubFigures, bool) {
	t.Helper()
	end := readFigures(t, p.base).gcs
	deadline := time.Now().Add(150 * time.Second)
	for {
		f := readFigures(t, p.base)
		ok := f.gcs > end && f.goroutines <= base.goroutines+loadGoroutineSlack &&
			f.heapMiB <= base.heapMiB*loadHeapFactor+loadHeapSlackMiB && f.sessions == 0
		if ok || time.Now().After(deadline) {
			return f, ok
		}
		time.Sleep(time.Second)
	}
}

// errorLog keeps the count and the first few errors of a phase.
type errorLog struct {
	n     atomic.Int64
	mu    sync.Mutex
	first []string
}

func (e *errorLog) add(err error) {
	if e.n.Add(1) <= 10 {
		e.mu.Lock()
		e.first = append(e.first, err.Error())
		e.mu.Unlock()
	}
}

func (e *errorLog) check(t *testing.T, phase string) {
	t.Helper()
	if n := e.n.Load(); n > 0 {
		t.Errorf("%s: %d errors, the first: %s", phase, n, strings.Join(e.first, "\n  "))
	}
}

func TestBenchLoad(t *testing.T) {
	if os.Getenv("MCPHUB_BENCH") != "1" {
		t.Skip("set MCPHUB_BENCH=1 (make bench) to run the load and soak test")
	}
	soak := loadDefaultSoak
	if v := os.Getenv("MCPHUB_SOAK"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("MCPHUB_SOAK=%q: %v", v, err)
		}
		soak = d
	}
	// Sized for the load: a thousand sessions each with a request in flight exceed the default
	// http.max_concurrent_requests (512), which would answer 503 by design.
	p := startHub(t, "http:\n  max_concurrent_requests: 4096\nlimits:\n  max_concurrent_calls: 256\n"+interopServers)
	hc := mcpload.NewHTTPClient(loadSessions + 100)
	t.Cleanup(hc.CloseIdleConnections)
	ctx := t.Context()

	// Warm up, then take the baseline.
	warm, err := mcpload.Dial(ctx, hc, p.base+"/mcp/testkit", "testkit_echo", mcpload.Modern, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		if err := warm.Call(ctx, map[string]any{"text": "warm " + strconv.Itoa(i)}, ""); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(2 * time.Second)
	base := readFigures(t, p.base)

	var report strings.Builder
	tw := tabwriter.NewWriter(&report, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "phase\tcalls\terrors\tcalls/s\tpeak sessions\tgoroutines\theap MiB\tRSS MiB\t\n")
	fmt.Fprintf(tw, "baseline\t\t\t\t\t%.0f\t%.1f\t%.1f\t\n", base.goroutines, base.heapMiB, base.rssMiB)

	// Phase 1: 1,000 sessions open at once.
	var errs1 errorLog
	var calls1 atomic.Int64
	var peak hubFigures
	start := time.Now()
	{
		var opened, done sync.WaitGroup
		release := make(chan struct{})
		clients := make([]*mcpload.Client, loadSessions)
		opened.Add(loadSessions)
		done.Add(loadSessions)
		for i := range loadSessions {
			go func() {
				defer done.Done()
				c, err := mcpload.Dial(ctx, hc, p.base+"/mcp/testkit", "testkit_echo", mcpload.Legacy, nil)
				opened.Done()
				if err != nil {
					errs1.add(fmt.Errorf("session %d: %w", i, err))
					return
				}
				clients[i] = c
				<-release // every session is open before any call
				for j := range loadCallsPerSession {
					text := "s" + strconv.Itoa(i) + "-" + strconv.Itoa(j)
					if err := c.Call(ctx, map[string]any{"text": text}, text); err != nil {
						errs1.add(fmt.Errorf("session %d call %d: %w", i, j, err))
					} else {
						calls1.Add(1)
					}
				}
			}()
		}
		opened.Wait()
		peak = readFigures(t, p.base)
		close(release)
		done.Wait()
		for i, c := range clients {
			if c != nil {
				if err := c.Close(ctx); err != nil {
					errs1.add(fmt.Errorf("closing session %d: %w", i, err))
				}
			}
		}
	}
	elapsed := time.Since(start)
	after1, ok1 := settle(t, p, base)
	fmt.Fprintf(tw, "%d sessions at once\t%d\t%d\t%.0f\t%.0f\t%.0f → %.0f\t%.1f → %.1f\t%.1f → %.1f\t\n", loadSessions,
		calls1.Load(), errs1.n.Load(), float64(calls1.Load())/elapsed.Seconds(), peak.sessions,
		peak.goroutines, after1.goroutines, peak.heapMiB, after1.heapMiB, peak.rssMiB, after1.rssMiB)
	errs1.check(t, "1,000 sessions")
	if peak.sessions != loadSessions {
		t.Errorf("sessions open at the peak: %.0f, want %d", peak.sessions, loadSessions)
	}
	if !ok1 {
		t.Errorf("after the 1,000 sessions the hub did not come back near its baseline: %+v (baseline %+v)", after1, base)
	}

	// Phase 2: the mixed workload.
	counts, errs2, peak2 := soakMixed(ctx, t, p, hc, soak)
	after2, ok2 := settle(t, p, base)
	var total int64
	for _, n := range counts {
		total += n
	}
	fmt.Fprintf(tw, "mixed, %s, %d workers\t%d\t%d\t%.0f\t%.0f\t%.0f → %.0f\t%.1f → %.1f\t%.1f → %.1f\t\n", soak, loadSoakWorkers,
		total, errs2.n.Load(), float64(total)/soak.Seconds(), peak2.sessions,
		peak2.goroutines, after2.goroutines, peak2.heapMiB, after2.heapMiB, peak2.rssMiB, after2.rssMiB)
	_ = tw.Flush()
	var mix []string
	for _, op := range soakOps {
		mix = append(mix, fmt.Sprintf("%s %d", op.name, counts[op.name]))
	}
	t.Logf("load and soak through the real binary over streamable HTTP (figures: peak → after a GC once the load ended; heap = live heap allocated):\n%s\nmixed workload: %s",
		report.String(), strings.Join(mix, ", "))
	errs2.check(t, "mixed workload")
	if !ok2 {
		t.Errorf("after the mixed workload the hub did not come back near its baseline: %+v (baseline %+v)", after2, base)
	}
}

// soakOp is one kind of request of the mixed workload.
type soakOp struct {
	name string
	run  func(ctx context.Context, w *soakWorker) error
}

// soakWorker is one goroutine of the mixed workload, with its own long-lived session.
type soakWorker struct {
	base    string
	hc      *http.Client
	session *mcpload.Client
	n       int
}

var soakOps = []soakOp{
	{"session call", func(ctx context.Context, w *soakWorker) error {
		text := "session " + strconv.Itoa(w.n)
		return w.session.Call(ctx, map[string]any{"text": text}, text)
	}},
	{"stateless call", func(ctx context.Context, w *soakWorker) error {
		c, err := mcpload.Dial(ctx, w.hc, w.base+"/mcp/testkit", "testkit_echo", mcpload.Modern, nil)
		if err != nil {
			return err
		}
		return c.Call(ctx, map[string]any{"text": "stateless"}, "stateless")
	}},
	{"session churn", func(ctx context.Context, w *soakWorker) error {
		c, err := mcpload.Dial(ctx, w.hc, w.base+"/mcp", "testkit_echo", mcpload.Legacy, nil)
		if err != nil {
			return err
		}
		for range 3 {
			if err := c.Call(ctx, map[string]any{"text": "churn"}, "churn"); err != nil {
				return err
			}
		}
		return c.Close(ctx)
	}},
	{"call with progress", func(ctx context.Context, w *soakWorker) error {
		c, err := mcpload.Dial(ctx, w.hc, w.base+"/mcp/testkit", "testkit_slow", mcpload.Modern, nil)
		if err != nil {
			return err
		}
		return c.Call(ctx, map[string]any{"steps": 2, "step_ms": 5}, "")
	}},
	{"tools/list", func(ctx context.Context, w *soakWorker) error {
		return modernRequest(ctx, w.hc, w.base+"/mcp", "tools/list", "", nil, `"testkit_echo"`)
	}},
	{"resources/read", func(ctx context.Context, w *soakWorker) error {
		return modernRequest(ctx, w.hc, w.base+"/mcp/conformance", "resources/read", "test://static-text",
			map[string]any{"uri": "test://static-text"}, "static text resource")
	}},
	{"prompts/get", func(ctx context.Context, w *soakWorker) error {
		return modernRequest(ctx, w.hc, w.base+"/mcp/conformance", "prompts/get", "test_prompt_with_arguments",
			map[string]any{"name": "test_prompt_with_arguments", "arguments": map[string]string{"arg1": "a", "arg2": "b"}}, "arg1='a'")
	}},
	{"bad arguments", func(ctx context.Context, w *soakWorker) error {
		return modernRequest(ctx, w.hc, w.base+"/mcp/testkit", "tools/call", "testkit_echo",
			map[string]any{"name": "testkit_echo", "arguments": map[string]any{"nope": 1}}, `"isError":true`)
	}},
}

// modernRequest sends one stateless 2026-07-28 request and checks for a result containing want.
func modernRequest(ctx context.Context, hc *http.Client, url, method, name string, params map[string]any, want string) error {
	if params == nil {
		params = map[string]any{}
	}
	params["_meta"] = map[string]any{"io.modelcontextprotocol/protocolVersion": mcpload.Modern,
		"io.modelcontextprotocol/clientCapabilities": map[string]any{}}
	body, err := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Protocol-Version", mcpload.Modern)
	req.Header.Set("Mcp-Method", method)
	if name != "" {
		req.Header.Set("Mcp-Name", name)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}
	if resp.StatusCode != http.StatusOK || !bytes.Contains(raw, []byte(`"result"`)) || !bytes.Contains(raw, []byte(want)) {
		return fmt.Errorf("%s: HTTP %d: %.300s", method, resp.StatusCode, raw)
	}
	return nil
}

func soakMixed(ctx context.Context, t *testing.T, p *hubProcess, hc *http.Client, d time.Duration) (map[string]int64, *errorLog, hubFigures) {
	t.Helper()
	errs := &errorLog{}
	counters := make([]atomic.Int64, len(soakOps))
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var wg sync.WaitGroup
	for i := range loadSoakWorkers {
		wg.Go(func() {
			session, err := mcpload.Dial(context.WithoutCancel(ctx), hc, p.base+"/mcp/testkit", "testkit_echo", mcpload.Legacy, nil)
			if err != nil {
				errs.add(fmt.Errorf("worker %d: %w", i, err))
				return
			}
			defer func() {
				if err := session.Close(context.WithoutCancel(ctx)); err != nil {
					errs.add(err)
				}
			}()
			w := &soakWorker{base: p.base, hc: hc, session: session}
			for w.n = i; ctx.Err() == nil; w.n++ {
				k := w.n % len(soakOps)
				// A request cut by the end of the soak is not an error of the hub's.
				opCtx, opCancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
				err := soakOps[k].run(opCtx, w)
				opCancel()
				if err != nil {
					errs.add(fmt.Errorf("%s: %w", soakOps[k].name, err))
				} else {
					counters[k].Add(1)
				}
			}
		})
	}
	// The peak: figures sampled while the load runs.
	var peak hubFigures
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
sample:
	for {
		select {
		case <-ctx.Done():
			break sample
		case <-tick.C:
			f := readFigures(t, p.base)
			peak.goroutines = max(peak.goroutines, f.goroutines)
			peak.heapMiB = max(peak.heapMiB, f.heapMiB)
			peak.rssMiB = max(peak.rssMiB, f.rssMiB)
			peak.sessions = max(peak.sessions, f.sessions)
		}
	}
	wg.Wait()
	counts := map[string]int64{}
	for i, op := range soakOps {
		counts[op.name] = counters[i].Load()
	}
	return counts, errs, peak
}
