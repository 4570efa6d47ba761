package main

// TestBenchBrowser is issue 5's side-by-side browser benchmark (MCPHUB_BENCH=1, `make bench`):
// the latency of navigate, snapshot, click, type and screenshot on the same page served on
// 127.0.0.1, through mcphub's browser tools (over streamable HTTP and over stdio), through raw
// chromedp (the floor), and through playwright-mcp driven by the same Go SDK client code; then
// the Chromium memory (PSS) each idle browser context costs. It reports only: speed targets
// live in this side-by-side report, never in timed assertions. It fails only when an action
// fails.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcphub/mcphub/internal/testenv"
)

const (
	// benchHubTarget is issue 5's target: an action through mcphub costs at most 1.2x the
	// same action through raw chromedp.
	benchHubTarget = 1.2
	// benchStepTimeout bounds one action of any contender.
	benchStepTimeout = 60 * time.Second
	// benchWarmup rounds per contender are run and dropped (first paint, JIT, caches).
	benchWarmup = 5
	// benchDefaultRounds measured rounds per contender unless MCPHUB_BENCH_BROWSER_ROUNDS says:
	// about 20 minutes on the 2-core VM under other engineers' builds (10 when it is quiet),
	// inside the 30 minutes `make bench` gives the test.
	benchDefaultRounds = 60
	// benchIdleContexts is how many idle contexts the memory figure opens per contender.
	benchIdleContexts = 4
	// benchSettle is how long the browser idles before a memory sample.
	benchSettle = 3 * time.Second
)

// benchActions are the five actions of one round, in order.
var benchActions = []string{"navigate", "snapshot", "click", "type", "screenshot"}

// browserContender runs the five actions on one browser tab (or MCP session).
type browserContender interface {
	Name() string
	Navigate(ctx context.Context, url string) error
	Snapshot(ctx context.Context) error
	Click(ctx context.Context) error
	Type(ctx context.Context, text string) error
	Screenshot(ctx context.Context) error
	// Check verifies, after a round, that the click and the typing reached the page.
	Check(ctx context.Context) error
	// BrowserRoot is the PID whose descendants are the contender's Chromium processes.
	BrowserRoot() int
}

// benchRound runs one round on c and returns the time of each action.
func benchRound(ctx context.Context, c browserContender, url string) ([]time.Duration, error) {
	steps := []func() error{
		func() error { return c.Navigate(ctx, url) },
		func() error { return c.Snapshot(ctx) },
		func() error { return c.Click(ctx) },
		func() error { return c.Type(ctx, benchTyped) },
		func() error { return c.Screenshot(ctx) },
	}
	took := make([]time.Duration, len(steps))
	for i, step := range steps {
		start := time.Now()
		if err := step(); err != nil {
			return nil, fmt.Errorf("%s: %s: %w", c.Name(), benchActions[i], err)
		}
		took[i] = time.Since(start)
	}
	return took, nil
}

// benchSamples holds the measured durations of one contender, per action, and per round.
type benchSamples struct {
	perAction [][]time.Duration // [action][round]
	perRound  []time.Duration
}

func (s *benchSamples) add(took []time.Duration) {
	if s.perAction == nil {
		s.perAction = make([][]time.Duration, len(benchActions))
	}
	var total time.Duration
	for i, d := range took {
		s.perAction[i] = append(s.perAction[i], d)
		total += d
	}
	s.perRound = append(s.perRound, total)
}

// percentile returns the nearest-rank percentile p (0 < p <= 100) of xs.
func percentile(xs []time.Duration, p float64) time.Duration {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	rank := int(float64(len(s))*p/100+0.999999) - 1
	return s[min(max(rank, 0), len(s)-1)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// benchContender is a contender with its samples, or the reason it was not measured.
type benchContender struct {
	name    string
	c       browserContender
	samples benchSamples
	skipped string
	note    string // transport and protocol, for the report
	memKiB  float64
	memNote string
}

func TestBenchBrowser(t *testing.T) {
	if os.Getenv("MCPHUB_BENCH") != "1" {
		t.Skip("set MCPHUB_BENCH=1 to run the browser benchmark (mcphub vs raw chromedp vs playwright-mcp)")
	}
	rounds := benchDefaultRounds
	if v := os.Getenv("MCPHUB_BENCH_BROWSER_ROUNDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("MCPHUB_BENCH_BROWSER_ROUNDS=%q: want a positive integer", v)
		}
		rounds = n
	}
	chromium := benchChromium(testenv.RequireChromium(t))
	ctx := t.Context()
	pages := startBenchPages(t)
	pageURL := pages.URL + "/page"

	contenders := []*benchContender{{name: "raw chromedp", note: "chromedp v0.23 in the test process, pipe"}}
	contenders[0].c = startRawChromedp(t, chromium)

	for _, transport := range []string{"http", "stdio"} {
		bc := &benchContender{name: "mcphub (" + transport + ")"}
		m, err := startHubBrowser(ctx, t, transport, chromium)
		if err != nil {
			bc.skipped = err.Error()
		} else {
			bc.c = m
			bc.note = fmt.Sprintf("%s, protocol %s", transport, m.cs.InitializeResult().ProtocolVersion)
		}
		contenders = append(contenders, bc)
	}

	pw := &benchContender{name: "playwright-mcp (stdio)"}
	cli, err := playwrightMCPCLI(ctx, t)
	if err == nil {
		var m *mcpBrowser
		m, err = startPlaywrightStdio(ctx, t, cli, chromium)
		if err == nil {
			pw.c = m
			pw.note = fmt.Sprintf("@playwright/mcp@%s over stdio, protocol %s, defaults (snapshot after each action, 500 ms settle)",
				playwrightVersion(cli), m.cs.InitializeResult().ProtocolVersion)
		}
	}
	if err != nil {
		pw.skipped = err.Error()
	}
	contenders = append(contenders, pw)

	var live []*benchContender
	for _, bc := range contenders {
		if bc.c != nil {
			live = append(live, bc)
		} else {
			t.Logf("%s: not measured: %s", bc.name, bc.skipped)
		}
	}

	// Warm-up: each contender runs benchWarmup rounds (dropped), and its first round is
	// checked for effect: the click counted once and the text arrived.
	for _, bc := range live {
		for i := range benchWarmup {
			if _, err := benchRound(ctx, bc.c, fmt.Sprintf("%s?warmup=%d", pageURL, i)); err != nil {
				t.Fatal(err)
			}
			if i == 0 {
				if err := bc.c.Check(ctx); err != nil {
					t.Fatalf("%s: %v", bc.name, err)
				}
			}
		}
	}

	// Measured rounds, interleaved: every round runs each contender once, in an order that
	// rotates, so that the noise of a 2-core machine shared with compilers hits all alike.
	start := time.Now()
	for r := range rounds {
		for j := range live {
			bc := live[(r+j)%len(live)]
			took, err := benchRound(ctx, bc.c, fmt.Sprintf("%s?round=%d", pageURL, r))
			if err != nil {
				t.Fatal(err)
			}
			bc.samples.add(took)
		}
	}
	elapsed := time.Since(start)

	// Memory per idle context: open benchIdleContexts more contexts with a tab on the page,
	// let them idle, and divide the growth of the Chromium processes' PSS.
	for _, bc := range live {
		benchMemory(ctx, t, bc, chromium, cli, pageURL)
	}

	t.Log(benchReport(live, contenders, rounds, elapsed, chromium))
}

// benchMemory fills bc.memKiB with the PSS growth of its Chromium processes per idle context.
func benchMemory(ctx context.Context, t *testing.T, bc *benchContender, chromium, cli, pageURL string) {
	t.Helper()
	var (
		root     int
		openIdle func(n int) error
	)
	switch c := bc.c.(type) {
	case *rawChromedp:
		root = c.BrowserRoot()
		openIdle = func(n int) error { c.OpenIdleContexts(t, n, pageURL); return nil }
		bc.memNote = "incognito contexts in the same browser"
	case *mcpBrowser:
		switch {
		case strings.HasPrefix(bc.name, "mcphub (http)"):
			root = c.BrowserRoot()
			endpoint := c.endpoint
			openIdle = func(n int) error { return openIdleSessions(ctx, t, n, endpoint, pageURL) }
			bc.memNote = "one MCP session (over HTTP) per context"
		case strings.HasPrefix(bc.name, "playwright-mcp"):
			// Over stdio a client is a whole node process and a browser; the per-context
			// figure comes from its HTTP mode, where --isolated gives each client its own
			// context in one shared browser, as mcphub does.
			m, err := startPlaywrightHTTP(ctx, t, cli, chromium, pageURL)
			if err != nil {
				bc.memNote = "not measured: " + err.Error()
				return
			}
			root = m.rootPID
			openIdle = func(n int) error { return openIdleSessions(ctx, t, n, m.endpoint, pageURL) }
			bc.memNote = "its HTTP mode, --isolated: one MCP session per context in one browser"
		default:
			bc.memNote = "the same server as mcphub (http), which has the figure"
			return
		}
	}
	time.Sleep(benchSettle)
	before, _, err := chromiumPSS(root)
	if err != nil {
		bc.memNote = "not measured: " + err.Error()
		return
	}
	if err := openIdle(benchIdleContexts); err != nil {
		t.Fatalf("%s: idle contexts: %v", bc.name, err)
	}
	time.Sleep(benchSettle)
	after, procs, err := chromiumPSS(root)
	if err != nil {
		bc.memNote = "not measured: " + err.Error()
		return
	}
	bc.memKiB = float64(after-before) / benchIdleContexts
	bc.memNote += fmt.Sprintf("; Chromium PSS %.0f → %.0f MiB over %d processes", float64(before)/1024, float64(after)/1024, procs)
}

// openIdleSessions connects n more SDK clients to an MCP endpoint over streamable HTTP; each
// navigates to url and stays open (idle) until the test ends.
func openIdleSessions(ctx context.Context, t *testing.T, n int, endpoint, url string) error {
	t.Helper()
	for range n {
		cs, err := benchClient().Connect(ctx, &sdk.StreamableClientTransport{Endpoint: endpoint, MaxRetries: -1}, nil)
		if err != nil {
			return err
		}
		t.Cleanup(func() { _ = cs.Close() })
		m := &mcpBrowser{cs: cs}
		if err := m.Navigate(ctx, url); err != nil {
			return err
		}
	}
	return nil
}

// benchReport renders the one table: p50 and p99 per action per contender, each contender
// against raw chromedp and playwright-mcp against each mcphub transport, then the memory.
func benchReport(live, all []*benchContender, rounds int, elapsed time.Duration, chromium string) string {
	var out strings.Builder
	fmt.Fprintf(&out, "\nbrowser actions: mcphub vs raw chromedp vs playwright-mcp, same page on 127.0.0.1, same Chromium (%s, %s)\n",
		chromium, chromiumVersion(chromium))
	fmt.Fprintf(&out, "%s %s/%s, %d CPUs; %d measured rounds per contender after %d warm-up rounds, interleaved (rotating order), %.0fs\n",
		runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), rounds, benchWarmup, elapsed.Seconds())
	if raceEnabled {
		fmt.Fprintf(&out, "WARNING: built with -race; the mcphub binary is a race build, its figures are not representative\n")
	}
	fmt.Fprintf(&out, "round: navigate (load event), snapshot (accessibility tree as text), click (button by ref), type %q (text box by ref), screenshot (viewport PNG)\n", benchTyped)
	fmt.Fprintf(&out, "targets: mcphub <= %.1fx raw chromedp; playwright-mcp/mcphub > 1 on every action (report only, not asserted)\n\n", benchHubTarget)
	for _, bc := range all {
		if bc.c == nil {
			fmt.Fprintf(&out, "  %s: not measured: %s\n", bc.name, benchClip(bc.skipped, 300))
		} else {
			fmt.Fprintf(&out, "  %s: %s\n", bc.name, bc.note)
		}
	}
	out.WriteString("\n")

	var raw, pwc *benchContender
	for _, bc := range live {
		switch {
		case bc.name == "raw chromedp":
			raw = bc
		case strings.HasPrefix(bc.name, "playwright-mcp"):
			pwc = bc
		}
	}
	tw := tabwriter.NewWriter(&out, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "action\tcontender\tp50 ms\tp99 ms\tx raw p50\tx raw p99\tpw/this p50\tpw/this p99\tverdict\t")
	rows := append(slices.Clone(benchActions), "round (5 actions)")
	for a, action := range rows {
		pick := func(bc *benchContender) []time.Duration {
			if a < len(benchActions) {
				return bc.samples.perAction[a]
			}
			return bc.samples.perRound
		}
		for _, bc := range live {
			xs := pick(bc)
			p50, p99 := percentile(xs, 50), percentile(xs, 99)
			cols := []string{action, bc.name, fmt.Sprintf("%.1f", ms(p50)), fmt.Sprintf("%.1f", ms(p99)), "", "", "", "", ""}
			if raw != nil {
				rx := pick(raw)
				cols[4] = fmt.Sprintf("%.2f", float64(p50)/float64(percentile(rx, 50)))
				cols[5] = fmt.Sprintf("%.2f", float64(p99)/float64(percentile(rx, 99)))
			}
			if strings.HasPrefix(bc.name, "mcphub") {
				var verdict []string
				if raw != nil {
					if r := float64(p50) / float64(percentile(pick(raw), 50)); r <= benchHubTarget {
						verdict = append(verdict, "raw ok")
					} else {
						verdict = append(verdict, fmt.Sprintf("OVER %.1fx raw", benchHubTarget))
					}
				}
				if pwc != nil {
					px := pick(pwc)
					r50 := float64(percentile(px, 50)) / float64(p50)
					cols[6] = fmt.Sprintf("%.2f", r50)
					cols[7] = fmt.Sprintf("%.2f", float64(percentile(px, 99))/float64(p99))
					if r50 > 1 {
						verdict = append(verdict, "faster than pw")
					} else {
						verdict = append(verdict, "NOT faster than pw")
					}
				}
				cols[8] = strings.Join(verdict, ", ")
			}
			fmt.Fprintln(tw, strings.Join(cols, "\t")+"\t")
		}
	}
	_ = tw.Flush()

	out.WriteString("\nsnapshot text per call (bytes; playwright-mcp also returns a snapshot with navigate, click and type):\n")
	for _, bc := range live {
		fmt.Fprintf(&out, "  %-24s %d\n", bc.name, benchSnapBytes(bc.c))
	}
	fmt.Fprintf(&out, "\nChromium memory per idle browser context (PSS growth from /proc/*/smaps_rollup with %d more idle contexts, each one tab on the page, after %s idle):\n",
		benchIdleContexts, benchSettle)
	for _, bc := range live {
		if bc.memKiB != 0 {
			fmt.Fprintf(&out, "  %-24s %6.1f MiB  (%s)\n", bc.name, bc.memKiB/1024, bc.memNote)
		} else {
			fmt.Fprintf(&out, "  %-24s %6s      (%s)\n", bc.name, "-", bc.memNote)
		}
	}
	return out.String()
}

func benchSnapBytes(c browserContender) int {
	switch c := c.(type) {
	case *rawChromedp:
		return c.lastSnap
	case *mcpBrowser:
		return c.lastSnap
	}
	return 0
}

func chromiumVersion(chromium string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, chromium, "--version").Output()
	if err != nil {
		return "version unknown"
	}
	return strings.TrimSpace(string(out))
}

func playwrightVersion(cli string) string {
	raw, err := os.ReadFile(filepath.Join(filepath.Dir(cli), "package.json"))
	if err != nil {
		return "?"
	}
	const key = `"version": "`
	s := string(raw)
	i := strings.Index(s, key)
	if i < 0 {
		return "?"
	}
	s = s[i+len(key):]
	if j := strings.IndexByte(s, '"'); j >= 0 {
		return s[:j]
	}
	return "?"
}
