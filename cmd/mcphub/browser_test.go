package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcphub/mcphub/internal/testenv"
)

// The browser integration tests drive the real binary's browser tools over streamable HTTP
// (both protocol generations) and stdio against pages served on 127.0.0.1, which the config
// allows explicitly (the default egress policy refuses loopback).

func bitSite(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(`<!doctype html><title>Start</title><h1>Start page</h1>
<label>Query <input id="q"></label><button onclick="document.title='clicked '+document.getElementById('q').value">Go</button>`))
	})
	mux.HandleFunc("/cookie", func(w http.ResponseWriter, r *http.Request) {
		if v := r.URL.Query().Get("set"); v != "" {
			http.SetCookie(w, &http.Cookie{Name: "who", Value: v, Path: "/"})
		}
		who := "none"
		if c, err := r.Cookie("who"); err == nil {
			who = c.Value
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = fmt.Fprintf(w, `<!doctype html><title>cookie=%s</title>`, strings.NewReplacer("<", "", ">", "", "&", "").Replace(who))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(func() { srv.CloseClientConnections(); srv.Close() })
	return srv
}

func bitConfig(extra string) string {
	return "egress: {allow: [127.0.0.1/32]}\nservers:\n  browser:\n    enabled: true\n" + extra
}

var bitHandleRE = regexp.MustCompile(`browser_session: (bs_[0-9a-f]{32})`)

// bitCall calls a browser tool and returns the text; it fails the test on a protocol error or,
// unless wantErr, an error result.
func bitCall(ctx context.Context, t *testing.T, cs *sdk.ClientSession, name string, args map[string]any) (*sdk.CallToolResult, string) {
	t.Helper()
	res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	text := resultText(res)
	if res.IsError {
		t.Fatalf("%s(%v): error result: %s", name, args, text)
	}
	return res, text
}

func bitHandle(t *testing.T, res *sdk.CallToolResult, text string) string {
	t.Helper()
	m := bitHandleRE.FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("no browser_session in %q", text)
	}
	if meta, _ := res.Meta["io.mcphub/browserSession"].(string); meta != m[1] {
		t.Errorf("_meta handle %q, text handle %q", meta, m[1])
	}
	return m[1]
}

func bitRef(t *testing.T, snapshot, pattern string) string {
	t.Helper()
	m := regexp.MustCompile(pattern + `.*\[ref=(e\d+)\]`).FindStringSubmatch(snapshot)
	if m == nil {
		t.Fatalf("no %q in snapshot:\n%s", pattern, snapshot)
	}
	return m[1]
}

// exerciseBrowser runs navigate, snapshot, type, click and screenshot, passing the handle
// back when stateless says the protocol has no session.
func exerciseBrowser(ctx context.Context, t *testing.T, cs *sdk.ClientSession, base string, stateless bool) {
	t.Helper()
	tools, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, tool := range tools.Tools {
		if strings.HasPrefix(tool.Name, "browser_") {
			n++
			if tool.Name == "browser_evaluate" {
				t.Errorf("browser_evaluate is served though allow_evaluate is off")
			}
		}
	}
	if n != 17 {
		t.Errorf("%d browser tools, want 17", n)
	}
	res, text := bitCall(ctx, t, cs, "browser_navigate", map[string]any{"url": base + "/"})
	h := bitHandle(t, res, text)
	args := func(kv ...any) map[string]any {
		m := map[string]any{}
		if stateless {
			m["browser_session"] = h
		}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	_, snap := bitCall(ctx, t, cs, "browser_snapshot", args())
	if !strings.Contains(snap, `heading "Start page"`) {
		t.Fatalf("snapshot:\n%s", snap)
	}
	if got := bitHandleRE.FindStringSubmatch(snap); got == nil || got[1] != h {
		t.Errorf("the snapshot ran in another session: %s", snap)
	}
	bitCall(ctx, t, cs, "browser_type", args("ref", bitRef(t, snap, `textbox "Query"`), "text", "mcphub"))
	_, out := bitCall(ctx, t, cs, "browser_click", args("ref", bitRef(t, snap, `button "Go"`)))
	if !strings.Contains(out, "Title: clicked mcphub") {
		t.Errorf("click summary:\n%s", out)
	}
	res, _ = bitCall(ctx, t, cs, "browser_take_screenshot", args())
	img := false
	for _, c := range res.Content {
		if ic, ok := c.(*sdk.ImageContent); ok && ic.MIMEType == "image/png" && len(ic.Data) > 100 {
			img = true
		}
	}
	if !img {
		t.Errorf("screenshot has no PNG image content")
	}
	// Bad arguments are results.
	bad, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "browser_navigate", Arguments: args("url", "file:///etc/passwd")})
	if err != nil || !bad.IsError || !strings.Contains(resultText(bad), "egress policy refused") {
		t.Errorf("file URL: %v %v", err, bad)
	}
	bitCall(ctx, t, cs, "browser_close", args())
}

func TestIntegrationBrowserHTTP(t *testing.T) {
	testenv.RequireChromium(t)
	p := startHub(t, bitConfig(""))
	site := bitSite(t)
	for _, version := range protocolVersions {
		t.Run(version, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			cs := connectHTTP(ctx, t, p.base+"/mcp/browser", version, newProgressCounter())
			exerciseBrowser(ctx, t, cs, site.URL, version == "2026-07-28")
		})
	}

	// Two clients at once, each in its own session: cookies and pages never cross.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	for _, who := range []string{"alice", "bob"} {
		wg.Go(func() {
			cs := connectHTTP(ctx, t, p.base+"/mcp", "2025-11-25", newProgressCounter())
			res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "browser_navigate", Arguments: map[string]any{"url": site.URL + "/cookie?set=" + who}})
			if err != nil || res.IsError {
				t.Errorf("%s: %v %s", who, err, resultText(res))
				return
			}
			for range 3 {
				res, err = cs.CallTool(ctx, &sdk.CallToolParams{Name: "browser_navigate", Arguments: map[string]any{"url": site.URL + "/cookie"}})
				if err != nil || !strings.Contains(resultText(res), "Title: cookie="+who) {
					t.Errorf("%s sees: %v %s", who, err, resultText(res))
				}
			}
		})
	}
	wg.Wait()

	// Under the stateless protocol a call without a handle gets a fresh session: no cookie.
	cs := connectHTTP(ctx, t, p.base+"/mcp", "2026-07-28", newProgressCounter())
	_, out := bitCall(ctx, t, cs, "browser_navigate", map[string]any{"url": site.URL + "/cookie"})
	if !strings.Contains(out, "Title: cookie=none") {
		t.Errorf("a new stateless session sees a cookie:\n%s", out)
	}

	code, body := httpGet(t, p.base+"/readyz")
	if code != http.StatusOK || !strings.Contains(string(body), `"browser"`) {
		t.Errorf("readyz = %d %s", code, body)
	}
}

func TestIntegrationBrowserStdio(t *testing.T) {
	testenv.RequireChromium(t)
	bin := testBinary(t)
	site := bitSite(t)
	for _, version := range protocolVersions {
		t.Run(version, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			stderr := &syncBuffer{}
			cmd := exec.CommandContext(ctx, bin, "serve", "--stdio", "--config", writeConfig(t, "127.0.0.1:0", bitConfig("")))
			cmd.Stderr = stderr
			cs, err := newClient(newProgressCounter()).Connect(ctx, &sdk.CommandTransport{Command: cmd}, &sdk.ClientSessionOptions{ProtocolVersion: version})
			if err != nil {
				t.Fatalf("connect over stdio: %v", err)
			}
			exerciseBrowser(ctx, t, cs, site.URL, version == "2026-07-28")
			if err := cs.Close(); err != nil {
				t.Errorf("closing: %v", err)
			}
			checkNoRace(t, stderr.String())
			if t.Failed() {
				t.Logf("stderr:\n%s", stderr.String())
			}
		})
	}
}

// TestIntegrationBrowserNotReady: without a browser the server is not ready with a reason and
// a fix, its tools say so, and the rest of the hub works.
func TestIntegrationBrowserNotReady(t *testing.T) {
	p := startHub(t, bitConfig("    executable: /nonexistent/chromium\n"))
	code, body := httpGet(t, p.base+"/readyz")
	var ready struct {
		Servers []struct {
			Name, Reason, Fix string
			Ready             bool
		} `json:"servers"`
	}
	if err := json.Unmarshal(body, &ready); err != nil {
		t.Fatalf("readyz: %v %s", err, body)
	}
	found := false
	for _, s := range ready.Servers {
		if s.Name == "browser" {
			found = true
			if s.Ready || !strings.Contains(s.Reason, "/nonexistent/chromium") || !strings.Contains(s.Fix, "apt-get install") {
				t.Errorf("browser readiness: %+v", s)
			}
		}
	}
	if code != http.StatusServiceUnavailable || !found {
		t.Errorf("readyz = %d %s", code, body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cs := connectHTTP(ctx, t, p.base+"/mcp", "2025-11-25", newProgressCounter())
	res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "browser_navigate", Arguments: map[string]any{"url": "http://127.0.0.1:1/"}})
	if err != nil || !res.IsError || !strings.Contains(resultText(res), "servers.browser.executable") {
		t.Errorf("navigate without a browser: %v %s", err, resultText(res))
	}
	if res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "hub_list_servers", Arguments: map[string]any{}}); err != nil || res.IsError {
		t.Errorf("the rest of the hub: %v %v", err, res)
	}
}
