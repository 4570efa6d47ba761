package main

// TestBenchCompare (make bench; MCPHUB_BENCH=1) measures the real binary against the reference
// server @modelcontextprotocol/server-everything (npm, pinned in scripts/node/package.json) on
// its echo tool, and mcphub's stateless 2026-07-28 path against its session path, each at 1 and
// 16 concurrent clients with the same plain-HTTP client (internal/mcpload), interleaved in one
// run. The rows go to the make bench table (internal/benchtable); nothing is asserted but that
// every call succeeded.

import (
	"context"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mcphub/mcphub/internal/benchtable"
	"github.com/mcphub/mcphub/internal/mcpload"
)

var benchComparePlan = benchtable.Plan{Warmup: 1000, Rounds: 4, PerRun: 2000}

// echoCallers dials n clients of one echo tool; arg is the tool's text argument and prefix what
// its answer puts before the text.
func echoCallers(ctx context.Context, t *testing.T, hc *http.Client, url, tool, proto, arg, prefix string, n int) []benchtable.Caller {
	t.Helper()
	out := make([]benchtable.Caller, n)
	for i := range n {
		c, err := mcpload.Dial(ctx, hc, url, tool, proto, nil)
		if err != nil {
			t.Fatalf("dialling %s at %s: %v", tool, url, err)
		}
		t.Cleanup(func() { _ = c.Close(context.Background()) })
		var k int
		id := "c" + strconv.Itoa(i) + "-"
		out[i] = func(ctx context.Context) error {
			k++
			text := id + strconv.Itoa(k)
			return c.Call(ctx, map[string]any{arg: text}, prefix+text)
		}
	}
	return out
}

// startEverything runs server-everything's streamable HTTP transport on a free loopback port
// (it listens on every interface: it has no host option; only loopback traffic is sent to it).
func startEverything(t *testing.T, nt nodeTools) string {
	t.Helper()
	port := freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := nt.command(ctx, t, "@modelcontextprotocol/server-everything/dist/index.js", "streamableHttp")
	cmd.Env = append(cmd.Env, "PORT="+strconv.Itoa(port))
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
	})
	url := "http://127.0.0.1:" + strconv.Itoa(port) + "/mcp"
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := mcpload.Dial(ctx, http.DefaultClient, url, "echo", mcpload.Legacy, nil)
		if err == nil {
			_ = c.Close(ctx)
			return url
		}
		if time.Now().After(deadline) {
			t.Fatalf("server-everything did not answer: %v\n%s", err, stderr.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestBenchCompare(t *testing.T) {
	if os.Getenv("MCPHUB_BENCH") != "1" {
		t.Skip("set MCPHUB_BENCH=1 (make bench) to compare mcphub with server-everything")
	}
	nt := requireNodeTools(t)
	p := startHub(t, "")
	everything := startEverything(t, nt)
	hc := mcpload.NewHTTPClient(64)
	t.Cleanup(hc.CloseIdleConnections)
	ctx := t.Context()
	hubURL := p.base + "/mcp/testkit"

	var rows []benchtable.Row
	for _, n := range []int{1, 16} {
		// mcphub vs the reference server, session protocol (server-everything has no 2026-07-28).
		minRPS := 10.0
		if n > 1 {
			minRPS = 5
		}
		hub := echoCallers(ctx, t, hc, hubURL, "testkit_echo", mcpload.Legacy, "text", "", n)
		ref := echoCallers(ctx, t, hc, everything, "echo", mcpload.Legacy, "message", "Echo: ", n)
		sa, sb, err := benchtable.Compare(ctx, hub, ref, benchComparePlan)
		if err != nil {
			t.Fatalf("mcphub vs server-everything ×%d: %v", n, err)
		}
		rows = append(rows, benchtable.NewRow("mcphub vs server-everything", "2025-11-25 session", n,
			"mcphub", "server-everything", sa, sb, minRPS, 0.1))
	}
	for _, n := range []int{1, 16} {
		// Through mcphub: stateless 2026-07-28 against the session path, same tool.
		modern := echoCallers(ctx, t, hc, hubURL, "testkit_echo", mcpload.Modern, "text", "", n)
		legacy := echoCallers(ctx, t, hc, hubURL, "testkit_echo", mcpload.Legacy, "text", "", n)
		sa, sb, err := benchtable.Compare(ctx, modern, legacy, benchComparePlan)
		if err != nil {
			t.Fatalf("stateless vs session ×%d: %v", n, err)
		}
		rows = append(rows, benchtable.NewRow("stateless vs session (mcphub binary)", "2026-07-28 / 2025-11-25", n,
			"stateless", "session", sa, sb, 0.8, 0))
	}
	if err := benchtable.Append(rows...); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	_ = benchtable.Write(&b, rows)
	t.Logf("\n%s", b.String())
}
