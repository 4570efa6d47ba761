package browser

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/mcphub/mcphub/configs"
	"github.com/mcphub/mcphub/internal/testenv"
	"github.com/mcphub/mcphub/servers/registry"
	"github.com/mcphub/mcphub/servers/registry/registrytest"
)

var factory = registry.Factory{Name: "browser", Title: "Browser", New: New}

func TestConformance(t *testing.T)   { registrytest.Conformance(t, factory) }
func TestToolSnapshots(t *testing.T) { registrytest.ToolSnapshots(t, factory) }

// testServer is a provisioned browser server whose egress policy allows loopback (the test
// pages) and nothing else private.
type testServer struct {
	*Server
	tools map[string]registry.Tool
}

func newTestServer(t *testing.T, mutate func(*Config), allow ...string) *testServer {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: runs Chromium")
	}
	testenv.RequireChromium(t)
	s := New().(*Server)
	if err := s.DecodeConfig(nil); err != nil {
		t.Fatal(err)
	}
	if mutate != nil {
		mutate(&s.cfg)
	}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	if len(allow) == 0 {
		allow = []string{"127.0.0.1/32"}
	}
	cfg := configs.Default()
	cfg.Egress.Allow = allow
	level := slog.LevelWarn
	if os.Getenv("BROWSER_TEST_DEBUG") != "" {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	// Safety nets, so that a test sends nothing off loopback even if Chromium tries: its own
	// resolver maps every name to nothing, and the policy (which the proxy dials through)
	// resolves only the names the tests use, without asking any DNS server.
	s.extraFlags = map[string]any{"host-resolver-rules": "MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"}
	if err := s.Provision(context.Background(), registry.Env{Config: cfg, Logger: logger, DataDir: t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	s.policy = s.policy.WithResolver(testResolver{})
	t.Cleanup(func() { _ = s.Close() })
	ts := &testServer{Server: s, tools: map[string]registry.Tool{}}
	for _, tl := range s.Tools() {
		ts.tools[tl.Def.Name] = tl
	}
	return ts
}

// call runs a tool as identity "tester" and returns its text and whether it is an error.
func (ts *testServer) call(t *testing.T, name string, args map[string]any) (string, bool) {
	t.Helper()
	return ts.callAs(t, "tester", name, args)
}

func (ts *testServer) callAs(t *testing.T, identity, name string, args map[string]any) (string, bool) {
	t.Helper()
	tl, ok := ts.tools[name]
	if !ok {
		t.Fatalf("no tool %s", name)
	}
	// Twice the tool's own timeout: the tests run on busy machines, and what they check is
	// what the tool answers, not how fast.
	timeout := 2 * tl.Timeout
	if timeout == 0 {
		timeout = time.Minute
	}
	ctx, cancel := context.WithTimeout(registry.WithIdentity(context.Background(), identity), timeout)
	defer cancel()
	var req mcp.CallToolRequest
	req.Params.Name = name
	req.Params.Arguments = args
	start := time.Now()
	res, err := tl.Handler(ctx, req)
	if os.Getenv("BROWSER_TEST_TIMING") != "" {
		t.Logf("%s took %s", name, time.Since(start))
	}
	if err != nil {
		t.Fatalf("%s: Go error %v", name, err)
	}
	var b strings.Builder
	for _, c := range res.Content {
		switch v := c.(type) {
		case mcp.TextContent:
			b.WriteString(v.Text)
		case mcp.ImageContent:
			fmt.Fprintf(&b, "\n[image %s %d]", v.MIMEType, len(v.Data))
		case mcp.EmbeddedResource:
			if blob, ok := v.Resource.(mcp.BlobResourceContents); ok {
				fmt.Fprintf(&b, "\n[resource %s %s %d]", blob.URI, blob.MIMEType, len(blob.Blob))
			}
		}
	}
	return b.String(), res.IsError
}

var handleRE = regexp.MustCompile(`browser_session: (bs_[0-9a-f]{32})`)

func handleOf(t *testing.T, text string) string {
	t.Helper()
	m := handleRE.FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("no browser_session in %q", text)
	}
	return m[1]
}

// mustCall calls and fails the test on an error result.
func (ts *testServer) mustCall(t *testing.T, name string, args map[string]any) string {
	t.Helper()
	text, isErr := ts.call(t, name, args)
	if isErr {
		t.Fatalf("%s(%v): error result:\n%s", name, args, text)
	}
	return text
}

// refOf finds the ref of the first snapshot line that matches pattern.
func refOf(t *testing.T, snapshot, pattern string) string {
	t.Helper()
	re := regexp.MustCompile(pattern + `.*\[ref=(e\d+)\]`)
	m := re.FindStringSubmatch(snapshot)
	if m == nil {
		t.Fatalf("no element matching %q in snapshot:\n%s", pattern, snapshot)
	}
	return m[1]
}

// site serves the test pages on 127.0.0.1.
func site(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	page := func(path, body string) {
		mux.HandleFunc(path, func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			_, _ = w.Write([]byte(body))
		})
	}
	page("/", `<!doctype html><title>Home</title><h1>Welcome</h1><p>Hello <a href="/form">the form</a></p>`)
	page("/form", `<!doctype html><title>Form</title>
<form action="/submitted" method="get">
<label>Name <input name="name" id="name"></label>
<label>Colour <select name="colour"><option value="r">Red</option><option value="g">Green</option></select></label>
<label><input type="checkbox" name="agree"> Agree</label>
<label>Age <input type="number" name="age" value="5"></label>
<button type="submit">Send</button>
</form>`)
	mux.HandleFunc("/submitted", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = fmt.Fprintf(w, `<!doctype html><title>Done</title><p id="out">name=%s colour=%s agree=%s</p>`,
			htmlEscape(r.URL.Query().Get("name")), htmlEscape(r.URL.Query().Get("colour")), htmlEscape(r.URL.Query().Get("agree")))
	})
	page("/dynamic", `<!doctype html><title>Dynamic</title><button onclick="setTimeout(()=>{const p=document.createElement('p');p.textContent='Loaded later';document.body.appendChild(p)},200)">Load</button>`)
	page("/frames", `<!doctype html><title>Frames</title><h1>Outer</h1><iframe src="/inner" width="400" height="200"></iframe>`)
	page("/inner", `<!doctype html><title>Inner</title><button onclick="this.textContent='Inner clicked'">Inner button</button>`)
	page("/shadow", `<!doctype html><title>Shadow</title><div id="host"></div><script>
const r=document.getElementById('host').attachShadow({mode:'open'});
r.innerHTML='<button onclick="this.textContent=\'Shadow clicked\'">Shadow button</button>';</script>`)
	page("/popup", `<!doctype html><title>Opener</title><button onclick="window.open('/', '_blank')">Open</button>`)
	page("/dialogs", `<!doctype html><title>Dialogs</title><button onclick="alert('hello there')">Alert</button>
<button onclick="document.title = confirm('sure?') ? 'yes' : 'no'">Confirm</button>`)
	page("/errors", `<!doctype html><title>Errors</title><script>console.error('boom in console'); console.log('just a log');</script>`)
	mux.HandleFunc("/slow", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(`<!doctype html><title>Slow</title><p>start</p><img src="/hang">`))
	})
	mux.HandleFunc("/hang", func(_ http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(30 * time.Second):
		}
	})
	mux.HandleFunc("/huge", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		var b strings.Builder
		b.WriteString(`<!doctype html><title>Huge</title>`)
		for i := range 5000 {
			fmt.Fprintf(&b, `<p>Paragraph number %d with <a href="/x%d">link %d</a></p>`, i, i, i)
		}
		_, _ = w.Write([]byte(b.String()))
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
		_, _ = fmt.Fprintf(w, `<!doctype html><title>cookie=%s</title><p>cookie is %s</p>`, htmlEscape(who), htmlEscape(who))
	})
	page("/article", `<!doctype html><title>Article</title><nav>Menu stuff</nav><main><h1>Big news</h1><p>First <strong>bold</strong> paragraph with <a href="/more">a link</a>.</p><ul><li>one</li><li>two</li></ul></main>`)
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		// The browser may hold a connection open (the slow page's request).
		srv.CloseClientConnections()
		srv.Close()
	})
	return srv
}

func htmlEscape(s string) string {
	r := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;")
	return r.Replace(s)
}

func TestIntegrationBrowserBasics(t *testing.T) {
	ts := newTestServer(t, nil)
	srv := site(t)

	out := ts.mustCall(t, "browser_navigate", map[string]any{"url": srv.URL + "/form"})
	h := handleOf(t, out)
	if !strings.Contains(out, "Title: Form") {
		t.Fatalf("navigate: %s", out)
	}
	snap := ts.mustCall(t, "browser_snapshot", map[string]any{"browser_session": h})
	nameRef := refOf(t, snap, `textbox "Name"`)
	colourRef := refOf(t, snap, `combobox "Colour"`)
	agreeRef := refOf(t, snap, `checkbox "Agree"`)
	sendRef := refOf(t, snap, `button "Send"`)

	ts.mustCall(t, "browser_type", map[string]any{"browser_session": h, "ref": nameRef, "text": "Ada <Lovelace>"})
	ts.mustCall(t, "browser_select_option", map[string]any{"browser_session": h, "ref": colourRef, "values": []any{"Green"}})
	ageRef := refOf(t, snap, `spinbutton "Age"`)
	out = ts.mustCall(t, "browser_type", map[string]any{"browser_session": h, "ref": ageRef, "text": "42", "snapshot": true})
	if !regexp.MustCompile(`spinbutton "Age".*: "42"`).MatchString(out) {
		t.Errorf("typing into a number input did not replace its value:\n%s", out)
	}
	ts.mustCall(t, "browser_fill_form", map[string]any{"browser_session": h, "fields": []any{
		map[string]any{"name": "Agree", "type": "checkbox", "ref": agreeRef, "value": "true"},
	}})
	out = ts.mustCall(t, "browser_click", map[string]any{"browser_session": h, "ref": sendRef})
	if !strings.Contains(out, "Title: Done") {
		t.Fatalf("click did not wait for the navigation it started:\n%s", out)
	}
	snap = ts.mustCall(t, "browser_snapshot", map[string]any{"browser_session": h})
	if !strings.Contains(snap, "name=Ada <Lovelace> colour=g agree=on") {
		t.Errorf("form result wrong:\n%s", snap)
	}
	out = ts.mustCall(t, "browser_navigate_back", map[string]any{"browser_session": h})
	if !strings.Contains(out, "Title: Form") {
		t.Errorf("back: %s", out)
	}

	// Dynamic content and wait_for.
	ts.mustCall(t, "browser_navigate", map[string]any{"browser_session": h, "url": srv.URL + "/dynamic"})
	snap = ts.mustCall(t, "browser_snapshot", map[string]any{"browser_session": h})
	ts.mustCall(t, "browser_click", map[string]any{"browser_session": h, "ref": refOf(t, snap, `button "Load"`)})
	ts.mustCall(t, "browser_wait_for", map[string]any{"browser_session": h, "text": "Loaded later", "time": 5})
	if text, isErr := ts.call(t, "browser_wait_for", map[string]any{"browser_session": h, "text": "never there", "time": 0.3}); !isErr {
		t.Errorf("wait_for of absent text succeeded: %s", text)
	}

	// Iframes and shadow DOM: their elements have refs that work.
	ts.mustCall(t, "browser_navigate", map[string]any{"browser_session": h, "url": srv.URL + "/frames"})
	snap = ts.mustCall(t, "browser_snapshot", map[string]any{"browser_session": h})
	ts.mustCall(t, "browser_click", map[string]any{"browser_session": h, "ref": refOf(t, snap, `button "Inner button"`)})
	snap = ts.mustCall(t, "browser_snapshot", map[string]any{"browser_session": h})
	if !strings.Contains(snap, "Inner clicked") {
		t.Errorf("iframe click did not land:\n%s", snap)
	}
	ts.mustCall(t, "browser_navigate", map[string]any{"browser_session": h, "url": srv.URL + "/shadow"})
	snap = ts.mustCall(t, "browser_snapshot", map[string]any{"browser_session": h})
	ts.mustCall(t, "browser_click", map[string]any{"browser_session": h, "ref": refOf(t, snap, `button "Shadow button"`)})
	snap = ts.mustCall(t, "browser_snapshot", map[string]any{"browser_session": h})
	if !strings.Contains(snap, "Shadow clicked") {
		t.Errorf("shadow DOM click did not land:\n%s", snap)
	}

	// A stale or bogus ref is a clear error.
	if text, isErr := ts.call(t, "browser_click", map[string]any{"browser_session": h, "ref": "e99999999"}); !isErr || !strings.Contains(text, "browser_snapshot") {
		t.Errorf("bogus ref: %v %s", isErr, text)
	}

	// Dialogs are dismissed and reported.
	ts.mustCall(t, "browser_navigate", map[string]any{"browser_session": h, "url": srv.URL + "/dialogs"})
	snap = ts.mustCall(t, "browser_snapshot", map[string]any{"browser_session": h})
	out = ts.mustCall(t, "browser_click", map[string]any{"browser_session": h, "ref": refOf(t, snap, `button "Alert"`)})
	if !strings.Contains(out, `dialog alert "hello there" was dismissed`) {
		t.Errorf("alert not reported:\n%s", out)
	}
	out = ts.mustCall(t, "browser_click", map[string]any{"browser_session": h, "ref": refOf(t, snap, `button "Confirm"`)})
	if !strings.Contains(out, "dialog confirm") || !strings.Contains(out, "Title: no") {
		t.Errorf("confirm not dismissed:\n%s", out)
	}

	// Console errors show in the summary and in the ring buffer.
	out = ts.mustCall(t, "browser_navigate", map[string]any{"browser_session": h, "url": srv.URL + "/errors"})
	if !strings.Contains(out, "console error: boom in console") {
		t.Errorf("console error not in summary:\n%s", out)
	}
	out = ts.mustCall(t, "browser_console_messages", map[string]any{"browser_session": h})
	if !strings.Contains(out, "[log] just a log") || !strings.Contains(out, "[error] boom in console") {
		t.Errorf("console messages:\n%s", out)
	}
	out = ts.mustCall(t, "browser_network_requests", map[string]any{"browser_session": h})
	if !strings.Contains(out, "GET "+srv.URL+"/errors") || !strings.Contains(out, "=> 200") {
		t.Errorf("network requests:\n%s", out)
	}

	// Extract, screenshot and PDF.
	ts.mustCall(t, "browser_navigate", map[string]any{"browser_session": h, "url": srv.URL + "/article"})
	out = ts.mustCall(t, "browser_extract", map[string]any{"browser_session": h})
	if !strings.Contains(out, "# Big news") || !strings.Contains(out, "**bold**") || !strings.Contains(out, "("+srv.URL+"/more)") || strings.Contains(out, "Menu stuff") {
		t.Errorf("extract:\n%s", out)
	}
	for _, args := range []map[string]any{{}, {"type": "jpeg"}, {"fullPage": true}} {
		args["browser_session"] = h
		out = ts.mustCall(t, "browser_take_screenshot", args)
		if !strings.Contains(out, "[image image/") {
			t.Errorf("screenshot %v: %s", args, out)
		}
	}
	snap = ts.mustCall(t, "browser_snapshot", map[string]any{"browser_session": h})
	out = ts.mustCall(t, "browser_take_screenshot", map[string]any{"browser_session": h, "ref": refOf(t, snap, `heading "Big news"`)})
	if !strings.Contains(out, "[image image/png") {
		t.Errorf("element screenshot: %s", out)
	}
	out = ts.mustCall(t, "browser_pdf_save", map[string]any{"browser_session": h})
	if !strings.Contains(out, "application/pdf") {
		t.Errorf("pdf: %s", out)
	}
	ts.mustCall(t, "browser_hover", map[string]any{"browser_session": h, "ref": refOf(t, snap, `link "a link"`)})
	ts.mustCall(t, "browser_press_key", map[string]any{"browser_session": h, "key": "Tab"})
	if text, isErr := ts.call(t, "browser_press_key", map[string]any{"browser_session": h, "key": "NoSuchKey"}); !isErr {
		t.Errorf("bad key accepted: %s", text)
	}

	// Evaluate is off by default.
	if text, isErr := ts.call(t, "browser_evaluate", map[string]any{"browser_session": h, "function": "() => 1"}); !isErr || !strings.Contains(text, "allow_evaluate") {
		t.Errorf("evaluate while off: %v %s", isErr, text)
	}

	// Close: the handle stops working.
	ts.mustCall(t, "browser_close", map[string]any{"browser_session": h})
	if text, isErr := ts.call(t, "browser_snapshot", map[string]any{"browser_session": h}); !isErr || !strings.Contains(text, "unknown or expired") {
		t.Errorf("closed handle still works: %s", text)
	}
}

func TestIntegrationBrowserTabsAndPopups(t *testing.T) {
	ts := newTestServer(t, nil)
	srv := site(t)
	out := ts.mustCall(t, "browser_navigate", map[string]any{"url": srv.URL + "/popup"})
	h := handleOf(t, out)
	snap := ts.mustCall(t, "browser_snapshot", map[string]any{"browser_session": h})
	out = ts.mustCall(t, "browser_click", map[string]any{"browser_session": h, "ref": refOf(t, snap, `button "Open"`)})
	if !strings.Contains(out, "the page opened a new tab [1]") {
		// The target event can trail the click's answer; the next call adopts it.
		ts.mustCall(t, "browser_tabs", map[string]any{"browser_session": h, "action": "list"})
	}
	out = ts.mustCall(t, "browser_tabs", map[string]any{"browser_session": h, "action": "select", "index": 1})
	if !strings.Contains(out, "[1] * ") {
		t.Fatalf("popup tab not selectable:\n%s", out)
	}
	snap = ts.mustCall(t, "browser_snapshot", map[string]any{"browser_session": h})
	if !strings.Contains(snap, `heading "Welcome"`) {
		t.Errorf("popup snapshot:\n%s", snap)
	}
	out = ts.mustCall(t, "browser_tabs", map[string]any{"browser_session": h, "action": "new", "url": srv.URL + "/form"})
	if !strings.Contains(out, "[2] * Form") {
		t.Errorf("new tab:\n%s", out)
	}
	out = ts.mustCall(t, "browser_tabs", map[string]any{"browser_session": h, "action": "close"})
	if strings.Contains(out, "[2]") {
		t.Errorf("close tab:\n%s", out)
	}
}

func TestIntegrationBrowserTimeout(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.NavigationTimeout = configs.Duration(time.Second) })
	srv := site(t)
	out, isErr := ts.call(t, "browser_navigate", map[string]any{"url": srv.URL + "/slow"})
	if !isErr || !strings.Contains(out, "did not finish loading within 1s") {
		t.Errorf("slow page: %v %s", isErr, out)
	}
	h := handleOf(t, out)
	// The partly loaded page can be read (its image never arrives).
	ts.mustCall(t, "browser_wait_for", map[string]any{"browser_session": h, "text": "start", "time": 30})
	snap := ts.mustCall(t, "browser_snapshot", map[string]any{"browser_session": h})
	if !strings.Contains(snap, "start") {
		t.Errorf("partly loaded page:\n%s", snap)
	}
}

func TestIntegrationBrowserHugePage(t *testing.T) {
	// The page is big and the machine may be busy: this test is about the snapshot's size.
	ts := newTestServer(t, func(c *Config) { c.NavigationTimeout = configs.Duration(2 * time.Minute) })
	srv := site(t)
	h := handleOf(t, ts.mustCall(t, "browser_navigate", map[string]any{"url": srv.URL + "/huge"}))
	snap := ts.mustCall(t, "browser_snapshot", map[string]any{"browser_session": h})
	if len(snap) > ts.budget {
		t.Errorf("snapshot of %d bytes is over the budget %d", len(snap), ts.budget)
	}
	m := regexp.MustCompile(`offset=(\d+)`).FindStringSubmatch(snap)
	if m == nil {
		t.Fatalf("huge snapshot has no paging hint:\n%s", snap[len(snap)-300:])
	}
	next := ts.mustCall(t, "browser_snapshot", map[string]any{"browser_session": h, "offset": atoi(m[1])})
	if len(next) > ts.budget || !strings.Contains(next, "Paragraph number") {
		t.Errorf("second page: %d bytes", len(next))
	}
	ex := ts.mustCall(t, "browser_extract", map[string]any{"browser_session": h})
	if len(ex) > ts.budget || !strings.Contains(ex, "browser_extract with offset=") {
		t.Errorf("extract of a huge page: %d bytes", len(ex))
	}
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

// TestIntegrationBrowserIsolation runs two sessions at once: neither sees the other's pages or
// cookies, and a handle is useless to another identity.
func TestIntegrationBrowserIsolation(t *testing.T) {
	ts := newTestServer(t, nil)
	srv := site(t)
	var wg sync.WaitGroup
	handles := make([]string, 2)
	for i, who := range []string{"alice", "bob"} {
		wg.Go(func() {
			out, isErr := ts.callAs(t, who, "browser_navigate", map[string]any{"url": srv.URL + "/cookie?set=" + who})
			if isErr {
				t.Errorf("%s: %s", who, out)
				return
			}
			handles[i] = handleOf(t, out)
			for range 3 {
				out, _ = ts.callAs(t, who, "browser_navigate", map[string]any{"browser_session": handles[i], "url": srv.URL + "/cookie"})
				if !strings.Contains(out, "Title: cookie="+who) {
					t.Errorf("%s sees %s", who, out)
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	// A third session starts without cookies, in the spare context made in advance.
	var spare string
	for deadline := time.Now().Add(time.Minute); spare == "" && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		ts.sessions.mu.Lock()
		if ts.sessions.spare != nil {
			spare = ts.sessions.spare.handle
		}
		ts.sessions.mu.Unlock()
	}
	if spare == "" {
		t.Error("no spare context was made")
	}
	out := ts.mustCall(t, "browser_navigate", map[string]any{"url": srv.URL + "/cookie"})
	if !strings.Contains(out, "Title: cookie=none") {
		t.Errorf("new session sees a cookie: %s", out)
	}
	if spare != "" && handleOf(t, out) != spare {
		t.Errorf("the new session did not take the spare context")
	}
	// Bob cannot use Alice's handle.
	if out, isErr := ts.callAs(t, "bob", "browser_snapshot", map[string]any{"browser_session": handles[0]}); !isErr || !strings.Contains(out, "unknown or expired") {
		t.Errorf("bob used alice's handle: %s", out)
	}
	// Nor can a guessed one.
	if out, isErr := ts.callAs(t, "alice", "browser_snapshot", map[string]any{"browser_session": "bs_00000000000000000000000000000000"}); !isErr {
		t.Errorf("guessed handle: %s", out)
	}
}

// TestIntegrationBrowserCrashRecovery kills Chromium mid-session: the next call starts a new
// browser and says the state was lost.
func TestIntegrationBrowserCrashRecovery(t *testing.T) {
	ts := newTestServer(t, nil)
	srv := site(t)
	out := ts.mustCall(t, "browser_navigate", map[string]any{"url": srv.URL + "/"})
	h := handleOf(t, out)
	pid := ts.engine.pid()
	if pid == 0 {
		t.Fatal("no browser pid")
	}
	ts.engine.mu.Lock()
	profile := ts.engine.cur.profile
	ts.engine.mu.Unlock()
	p, err := os.FindProcess(pid)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for ts.engine.alive() && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	out, isErr := ts.call(t, "browser_snapshot", map[string]any{"browser_session": h})
	if isErr || !strings.Contains(out, "were lost") {
		t.Fatalf("after the crash: %v\n%s", isErr, out)
	}
	if ts.engine.pid() == pid {
		t.Error("the same browser pid after a crash")
	}
	if _, err := os.Stat(profile); !os.IsNotExist(err) {
		t.Errorf("the dead browser's profile %s is still there (%v)", profile, err)
	}
	out = ts.mustCall(t, "browser_navigate", map[string]any{"browser_session": h, "url": srv.URL + "/form"})
	if !strings.Contains(out, "Title: Form") || strings.Contains(out, "were lost") {
		t.Errorf("after recovery: %s", out)
	}
}

// testResolver resolves only the names the tests use, from /etc/hosts (which the egress test's
// namespace replaces), and never asks a DNS server.
type testResolver struct{}

func (testResolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	switch host {
	case "localhost", rebindName:
		return net.DefaultResolver.LookupNetIP(ctx, network, host)
	}
	return nil, &net.DNSError{Err: "the tests resolve no other name", Name: host, IsNotFound: true}
}
