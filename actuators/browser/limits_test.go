package browser

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestIntegrationBrowserLimits covers the pools (contexts, tabs), the idle TTL, the end of an
// MCP session, downloads refused, and browser_evaluate when the config turns it on.
func TestIntegrationBrowserLimits(t *testing.T) {
	ts := newTestServer(t, func(c *Config) {
		c.MaxContexts = 2
		c.MaxTabsPerContext = 2
		c.AllowEvaluate = true
	})
	srv := site(t)
	mux := http.NewServeMux()
	mux.HandleFunc("/dl", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte(`<!doctype html><title>Downloads</title><a href="/file.bin" download="file.bin">get it</a>`))
	})
	mux.HandleFunc("/file.bin", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Disposition", `attachment; filename="file.bin"`)
		_, _ = w.Write([]byte("binary"))
	})
	dl := newLoopbackServer(t, mux)

	h1 := handleOf(t, ts.mustCall(t, "browser_navigate", map[string]any{"url": srv.URL + "/"}))

	// browser_evaluate, on the page and on an element.
	out := ts.mustCall(t, "browser_evaluate", map[string]any{"browser_session": h1, "function": "() => document.title"})
	if !strings.Contains(out, `"Home"`) {
		t.Errorf("evaluate: %s", out)
	}
	snap := ts.mustCall(t, "browser_snapshot", map[string]any{"browser_session": h1})
	out = ts.mustCall(t, "browser_evaluate", map[string]any{"browser_session": h1, "function": "(el) => el.textContent", "ref": refOf(t, snap, `heading "Welcome"`)})
	if !strings.Contains(out, `"Welcome"`) {
		t.Errorf("evaluate on an element: %s", out)
	}
	if out, isErr := ts.call(t, "browser_evaluate", map[string]any{"browser_session": h1, "function": "() => { throw new Error('nope') }"}); !isErr || !strings.Contains(out, "nope") {
		t.Errorf("evaluate that throws: %v %s", isErr, out)
	}

	// Tabs: the second is allowed, a third is refused.
	ts.mustCall(t, "browser_tabs", map[string]any{"browser_session": h1, "action": "new"})
	if out, isErr := ts.call(t, "browser_tabs", map[string]any{"browser_session": h1, "action": "new"}); !isErr || !strings.Contains(out, "max_tabs_per_context") {
		t.Errorf("third tab: %v %s", isErr, out)
	}
	ts.mustCall(t, "browser_tabs", map[string]any{"browser_session": h1, "action": "close", "index": 1})

	// An error status of the page is in the summary.
	out = ts.mustCall(t, "browser_navigate", map[string]any{"browser_session": h1, "url": dl + "/missing"})
	if !strings.Contains(out, "the page answered HTTP 404") {
		t.Errorf("404 not reported:\n%s", out)
	}

	// Downloads are refused and reported.
	ts.mustCall(t, "browser_navigate", map[string]any{"browser_session": h1, "url": dl + "/dl"})
	snap = ts.mustCall(t, "browser_snapshot", map[string]any{"browser_session": h1})
	out = ts.mustCall(t, "browser_click", map[string]any{"browser_session": h1, "ref": refOf(t, snap, `link "get it"`)})
	if !strings.Contains(out, "download") {
		// The browser event can trail the click's answer.
		time.Sleep(300 * time.Millisecond)
		out = ts.mustCall(t, "browser_wait_for", map[string]any{"browser_session": h1, "time": 0})
	}
	if !strings.Contains(out, "refused (downloads are off") {
		t.Errorf("download not reported as refused:\n%s", out)
	}

	// Two contexts at most: a third session closes the least recently used idle one.
	h2 := handleOf(t, ts.mustCall(t, "browser_navigate", map[string]any{"url": srv.URL + "/form"}))
	time.Sleep(10 * time.Millisecond)
	ts.mustCall(t, "browser_snapshot", map[string]any{"browser_session": h2})
	h3 := handleOf(t, ts.mustCall(t, "browser_navigate", map[string]any{"url": srv.URL + "/"}))
	if out, isErr := ts.call(t, "browser_snapshot", map[string]any{"browser_session": h1}); !isErr || !strings.Contains(out, "unknown or expired") {
		t.Errorf("the least recently used session survived: %s", out)
	}
	ts.mustCall(t, "browser_snapshot", map[string]any{"browser_session": h2})

	// The idle TTL closes unused sessions.
	ts.sessions.closeIdle(time.Now().Add(ts.cfg.IdleTTL.D() + time.Second))
	if out, isErr := ts.call(t, "browser_snapshot", map[string]any{"browser_session": h3}); !isErr || !strings.Contains(out, "unknown or expired") {
		t.Errorf("an idle session survived the TTL: %s", out)
	}

	// The end of an MCP session closes its context.
	h4 := handleOf(t, ts.mustCall(t, "browser_navigate", map[string]any{"url": srv.URL + "/"}))
	ts.sessions.mu.Lock()
	sess := ts.sessions.byHandle[h4]
	sess.mcpSession = "mcp-session-test"
	ts.sessions.byMCP["mcp-session-test"] = sess
	ts.sessions.mu.Unlock()
	ts.SessionEnded("mcp-session-test")
	if out, isErr := ts.call(t, "browser_snapshot", map[string]any{"browser_session": h4}); !isErr || !strings.Contains(out, "unknown or expired") {
		t.Errorf("the ended MCP session's context survived: %s", out)
	}
}

func newLoopbackServer(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(func() { srv.CloseClientConnections(); srv.Close() })
	return srv.URL
}
