package fetch

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/mcphub/mcphub/configs"
	"github.com/mcphub/mcphub/servers/registry"
	"github.com/mcphub/mcphub/servers/registry/registrytest"
)

var factory = registry.Factory{Name: "fetch", New: New}

func TestConformance(t *testing.T)   { registrytest.Conformance(t, factory) }
func TestToolSnapshots(t *testing.T) { registrytest.ToolSnapshots(t, factory) }

// newServer provisions a fetch server on a hub config with the given egress allow list and
// output budget, and the server config cfg (nil: defaults).
func newServer(t *testing.T, allow []string, budget int, cfg *Config) *Server {
	t.Helper()
	s := New().(*Server)
	if cfg != nil {
		s.cfg = *cfg
	}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	hub := configs.Default()
	hub.Egress.Allow = allow
	if budget > 0 {
		hub.Limits.OutputBudgetBytes = budget
	}
	if err := s.Provision(context.Background(), registry.Env{Config: hub}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// call runs fetch_url with args and returns the result, its text and its structured content.
func call(t *testing.T, s *Server, args map[string]any) (*mcp.CallToolResult, string, fetchResult) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req := mcp.CallToolRequest{}
	req.Params.Name = "fetch_url"
	req.Params.Arguments = args
	res, err := s.handleFetch(ctx, req)
	if err != nil {
		t.Fatalf("handler error (a bug): %v", err)
	}
	var text strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(mcp.TextContent); ok {
			text.WriteString(tc.Text)
		}
	}
	var out fetchResult
	if raw, ok := res.StructuredContent.(json.RawMessage); ok {
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("structured content %s: %v", raw, err)
		}
	}
	return res, text.String(), out
}

const articleHTML = `<!doctype html><html><head><title>The Article</title></head><body>
<nav><a href="/">Home</a> | <a href="/blog">Blog</a></nav>
<main><article><h1>The Article</h1>
<p>First paragraph with a <a href="/docs/intro">relative link</a> and some <em>emphasis</em>. It goes on for a while so that the
readability scorer sees an article here, not a stub: words, words and more words about nothing in particular.</p>
<p>Second paragraph, also long enough to count: the egress policy decides every outbound request, and the converter turns
what comes back into Markdown that a model can read without the navigation around it.</p>
<pre><code class="language-go">fmt.Println("hello")</code></pre>
</article></main>
<footer>Copyright nobody</footer><script>alert(1)</script></body></html>`

// testSite serves the pages the tests fetch, on 127.0.0.1.
func testSite(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/article", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, articleHTML)
	})
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/article", http.StatusFound)
	})
	mux.HandleFunc("/plain", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprint(w, "just *text*, <not> html\n")
	})
	mux.HandleFunc("/json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"a":"<b>","π":3.14}`)
	})
	mux.HandleFunc("/latin1", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=iso-8859-1")
		_, _ = w.Write([]byte("<html><body><p>caf\xe9 cr\xe8me</p></body></html>"))
	})
	mux.HandleFunc("/image", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write([]byte("\x89PNG\r\n\x1a\n0000"))
	})
	mux.HandleFunc("/sniffed", func(w http.ResponseWriter, _ *http.Request) {
		w.Header()["Content-Type"] = nil // no header: the client sniffs
		fmt.Fprint(w, "<!DOCTYPE html><html><body><p>sniffed html</p></body></html>")
	})
	mux.HandleFunc("/missing", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, "<html><body><h1>Not here</h1><p>No such page.</p></body></html>")
	})
	mux.HandleFunc("/long", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprint(w, longText())
	})
	mux.HandleFunc("/huge", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprint(w, strings.Repeat("0123456789\n", 100_000))
	})
	mux.HandleFunc("/gzip-bomb", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Content-Encoding", "gzip")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush() // headers now, not once the compressed body fills a buffer
		zw := gzip.NewWriter(w)
		zeros := make([]byte, 1<<20)
		for range 16 { // 16 MiB once inflated, ~16 KiB on the wire
			if _, err := zw.Write(zeros); err != nil {
				return // the client has read enough and gone
			}
			_ = zw.Flush()
		}
		_ = zw.Close()
	})
	mux.HandleFunc("/not-modified", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNotModified)
	})
	mux.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/loop", http.StatusFound)
	})
	mux.HandleFunc("/slow", func(_ http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	})
	mux.HandleFunc("/empty", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, "<html><body><div id=app></div><script>render()</script></body></html>")
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// longText is several pages of text with multi-byte characters, quotes and backslashes, which
// JSON escaping makes longer.
func longText() string {
	var b strings.Builder
	for i := range 3000 {
		fmt.Fprintf(&b, "line %d: “quoted” \"ascii\" back\\slash ünïcödé 日本語\n", i)
	}
	return b.String()
}

var loopback = []string{"127.0.0.1/32"}

func TestFetchFormats(t *testing.T) {
	site := testSite(t)
	s := newServer(t, loopback, 0, nil)

	res, text, out := call(t, s, map[string]any{"url": site.URL + "/redirect"})
	if res.IsError {
		t.Fatalf("error result: %s", text)
	}
	if out.FinalURL != site.URL+"/article" || out.Status != 200 || out.ContentType != "text/html" || out.Title != "The Article" {
		t.Errorf("metadata: %+v", out)
	}
	for _, want := range []string{"[relative link](" + site.URL + "/docs/intro)", "*emphasis*", "```go\nfmt.Println(\"hello\")\n```"} {
		if !strings.Contains(out.Content, want) || !strings.Contains(text, want) {
			t.Errorf("markdown lacks %q:\n%s", want, out.Content)
		}
	}
	for _, unwanted := range []string{"Home", "alert(1)", "Copyright"} {
		if strings.Contains(out.Content, unwanted) {
			t.Errorf("markdown has %q (navigation, script or footer):\n%s", unwanted, out.Content)
		}
	}
	if out.NextStartIndex != nil || out.TotalChars != utf8.RuneCountInString(out.Content) {
		t.Errorf("a short page is one page: %+v", out)
	}

	_, _, out = call(t, s, map[string]any{"url": site.URL + "/article", "format": "text"})
	if strings.Contains(out.Content, "](") || strings.Contains(out.Content, "```") || !strings.Contains(out.Content, "relative link") {
		t.Errorf("text format:\n%s", out.Content)
	}
	_, _, out = call(t, s, map[string]any{"url": site.URL + "/article", "format": "raw"})
	if out.Content != articleHTML || out.Format != "raw" {
		t.Errorf("raw format: %q", out.Content)
	}

	cases := []struct{ path, want, format string }{
		{"/plain", "just *text*, <not> html\n", "raw"},
		{"/json", `{"a":"<b>","π":3.14}`, "raw"},
		{"/latin1", "café crème", "markdown"},
		{"/sniffed", "sniffed html", "markdown"},
	}
	for _, c := range cases {
		res, text, out := call(t, s, map[string]any{"url": site.URL + c.path})
		if res.IsError || out.Content != c.want || out.Format != c.format {
			t.Errorf("%s: content %q format %q (text %q), want %q as %s", c.path, out.Content, out.Format, text, c.want, c.format)
		}
	}
	res, text, _ = call(t, s, map[string]any{"url": site.URL + "/empty"})
	if res.IsError || !strings.Contains(text, "JavaScript") {
		t.Errorf("a page without text says so: %q", text)
	}
}

func TestFetchErrors(t *testing.T) {
	site := testSite(t)
	s := newServer(t, loopback, 0, &Config{MaxResponseBytes: 1 << 20, Timeout: configs.Duration(3 * time.Second), MaxRedirects: 0})
	cases := []struct {
		args map[string]any
		want string
	}{
		{map[string]any{"url": site.URL + "/image"}, "image/png"},
		{map[string]any{"url": site.URL + "/missing"}, "HTTP 404 Not Found; the page says: Not here"},
		{map[string]any{"url": site.URL + "/slow"}, "timed out (the limit is 3s)"},
		{map[string]any{"url": site.URL + "/redirect"}, "follows no redirects"},
		{map[string]any{"url": site.URL + "/not-modified"}, "HTTP 304 Not Modified without a redirect to follow"},
		{map[string]any{"url": "example.com/page"}, "not absolute"},
		{map[string]any{"url": "file:///etc/passwd"}, "egress policy refused"},
		{map[string]any{"url": "ftp://127.0.0.1/x"}, "egress policy refused"},
		{map[string]any{"url": "http://user:pw@127.0.0.1/"}, "egress policy refused"},
		{map[string]any{"url": "http://%zz"}, "not a valid URL"},
		{map[string]any{"url": site.URL + "/plain", "start_index": 1000}, "past the end"},
	}
	for _, c := range cases {
		res, text, _ := call(t, s, c.args)
		if !res.IsError || !strings.Contains(text, c.want) {
			t.Errorf("%v: isError %v, %q; want it to contain %q", c.args, res.IsError, text, c.want)
		}
	}
}

// TestFetchDefaultPolicyRefusesLoopback: without egress.allow, a page on 127.0.0.1 is refused
// by the policy before any connection (the server never sees a request).
func TestFetchDefaultPolicyRefusesLoopback(t *testing.T) {
	hits := 0
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits++ }))
	defer srv.Close()
	s := newServer(t, nil, 0, nil)
	for _, u := range []string{srv.URL, strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)} {
		res, text, _ := call(t, s, map[string]any{"url": u})
		if !res.IsError || !strings.HasPrefix(text, "egress policy refused") || !strings.Contains(text, "egress.allow") {
			t.Errorf("%s: %q, want a refusal naming the egress policy", u, text)
		}
	}
	if hits != 0 {
		t.Errorf("the refused server got %d requests", hits)
	}
}

// TestFetchPagination reads a long page in pages, by next_start_index, and checks that the
// pages put together are the whole content, each within the budget.
func TestFetchPagination(t *testing.T) {
	site := testSite(t)
	const budget = 4096
	s := newServer(t, loopback, budget, nil)
	want := longText()
	for _, maxBytes := range []int{0, 1000} {
		var got strings.Builder
		start, calls := 0, 0
		for {
			args := map[string]any{"url": site.URL + "/long", "start_index": start}
			if maxBytes > 0 {
				args["max_bytes"] = maxBytes
			}
			res, text, out := call(t, s, args)
			if res.IsError {
				t.Fatalf("start %d: %s", start, text)
			}
			calls++
			raw, _ := res.StructuredContent.(json.RawMessage)
			if len(raw) > budget || len(text) > budget {
				t.Fatalf("start %d: %d bytes structured, %d text: over the budget %d", start, len(raw), len(text), budget)
			}
			if maxBytes > 0 && len(out.Content) > maxBytes {
				t.Fatalf("start %d: %d bytes of content, max_bytes %d", start, len(out.Content), maxBytes)
			}
			if out.StartIndex != start || out.TotalChars != utf8.RuneCountInString(want) {
				t.Fatalf("start %d: %+v", start, out)
			}
			got.WriteString(out.Content)
			if out.NextStartIndex == nil {
				break
			}
			if !strings.Contains(text, fmt.Sprintf("call again with start_index=%d", *out.NextStartIndex)) {
				t.Fatalf("the text does not say how to read on: %q", text[max(0, len(text)-300):])
			}
			start = *out.NextStartIndex
			if calls > 1000 {
				t.Fatal("no progress")
			}
		}
		if got.String() != want {
			t.Fatalf("max_bytes %d: the pages put together differ from the content (%d vs %d bytes)", maxBytes, got.Len(), len(want))
		}
		t.Logf("max_bytes %d: %d bytes in %d calls", maxBytes, len(want), calls)
	}
}

func TestFetchResponseLimit(t *testing.T) {
	site := testSite(t)
	s := newServer(t, loopback, 0, &Config{MaxResponseBytes: 4096, Timeout: configs.Duration(30 * time.Second), MaxRedirects: 5})
	for _, path := range []string{"/huge", "/gzip-bomb"} {
		res, text, out := call(t, s, map[string]any{"url": site.URL + path})
		if res.IsError || !out.Truncated || out.TotalChars != 4096 || !strings.Contains(text, "max_response_bytes") {
			t.Errorf("%s: a body over max_response_bytes (inflated) is cut there and says so: error %v %q, %+v", path, res.IsError, text, out)
		}
	}
	res, text, _ := call(t, s, map[string]any{"url": site.URL + "/loop"})
	if !res.IsError || !strings.Contains(text, "stopped after 5 redirects") {
		t.Errorf("a redirect loop: %q", text)
	}
}

// TestFetchPageCache: reading on with start_index continues the copy of the first call, even
// when the page changes meanwhile; start_index 0 fetches again, and so does reading on after the
// cache's time.
func TestFetchPageCache(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		n := hits.Add(1)
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprint(w, strings.Repeat(fmt.Sprintf("version %d\n", n), 2000))
	}))
	defer srv.Close()
	s := newServer(t, loopback, 4096, nil)
	now := time.Now()
	s.cache.now = func() time.Time { return now }

	_, _, first := call(t, s, map[string]any{"url": srv.URL})
	_, _, second := call(t, s, map[string]any{"url": srv.URL, "start_index": *first.NextStartIndex})
	if hits.Load() != 1 || !strings.HasPrefix(second.Content, "version 1") || second.StartIndex != *first.NextStartIndex {
		t.Errorf("reading on fetched again (%d fetches) or changed content: %q", hits.Load(), second.Content[:20])
	}
	_, _, again := call(t, s, map[string]any{"url": srv.URL})
	if hits.Load() != 2 || !strings.HasPrefix(again.Content, "version 2") {
		t.Errorf("start_index 0 did not fetch again: %d fetches, %q", hits.Load(), again.Content[:20])
	}
	now = now.Add(cacheTTL + time.Second)
	_, _, late := call(t, s, map[string]any{"url": srv.URL, "start_index": 100})
	if hits.Load() != 3 || !strings.HasPrefix(late.Content, "version 3") {
		t.Errorf("reading on after the cache time used the old copy: %d fetches, %q", hits.Load(), late.Content[:20])
	}
	_, _, other := call(t, s, map[string]any{"url": srv.URL, "format": "text", "start_index": 100})
	if hits.Load() != 4 || other.StartIndex != 100 {
		t.Errorf("another format is another entry: %d fetches", hits.Load())
	}
}

func TestPageCacheBounds(t *testing.T) {
	c := newPageCache()
	now := time.Now()
	c.now = func() time.Time { return now }
	big := strings.Repeat("x", cacheMaxEntryBytes)
	for i := range 10 {
		c.put(cacheKey{url: fmt.Sprint(i)}, fetchResult{}, big)
	}
	if c.size > cacheMaxBytes || len(c.entries) != cacheMaxBytes/cacheMaxEntryBytes {
		t.Errorf("size %d with %d entries, limit %d", c.size, len(c.entries), cacheMaxBytes)
	}
	if _, ok := c.get(cacheKey{url: "0"}); ok {
		t.Error("the oldest entry was kept")
	}
	if _, ok := c.get(cacheKey{url: "9"}); !ok {
		t.Error("the newest entry was evicted")
	}
	c.put(cacheKey{url: "huge"}, fetchResult{}, big+"x")
	if _, ok := c.get(cacheKey{url: "huge"}); ok {
		t.Error("an entry over cacheMaxEntryBytes was kept")
	}
	c.put(cacheKey{url: "9"}, fetchResult{}, "small")
	if c.size != 3*cacheMaxEntryBytes+5 {
		t.Errorf("replacing an entry: size %d", c.size)
	}
	now = now.Add(cacheTTL + time.Second)
	c.put(cacheKey{url: "new"}, fetchResult{}, "n")
	if len(c.entries) != 1 || c.size != 1 {
		t.Errorf("expired entries kept: %d entries, %d bytes", len(c.entries), c.size)
	}
}

// TestInternationalHostName: a host name in Unicode is judged (and would be looked up) as its
// ASCII form, so egress.deny lists can name it either way.
func TestInternationalHostName(t *testing.T) {
	s := New().(*Server)
	hub := configs.Default()
	hub.Egress.Deny = []string{"xn--bcher-kva.example"}
	if err := s.Provision(context.Background(), registry.Env{Config: hub}); err != nil {
		t.Fatal(err)
	}
	_, msg := s.checkURL("http://bücher.example:8080/x")
	if !strings.Contains(msg, "egress policy refused") || !strings.Contains(msg, "xn--bcher-kva.example is in egress.deny") {
		t.Errorf("%q", msg)
	}
	if _, msg := s.checkURL("http://a\u00a0b.example/"); msg == "" {
		t.Error("an invalid international name passed")
	}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		cfg  Config
		want string
	}{
		{defaultConfig(), ""},
		{Config{MaxResponseBytes: 10, Timeout: configs.Duration(time.Second)}, "servers.fetch.max_response_bytes: must be between 1024"},
		{Config{MaxResponseBytes: 4096, Timeout: configs.Duration(time.Hour)}, "servers.fetch.timeout: must be between 1s and 1m30s, got 1h"},
		{Config{MaxResponseBytes: 4096, Timeout: configs.Duration(time.Second), MaxRedirects: 99}, "servers.fetch.max_redirects"},
		{Config{MaxResponseBytes: 4096, Timeout: configs.Duration(time.Second), UserAgent: "a\nb"}, "servers.fetch.user_agent"},
	}
	for _, c := range cases {
		s := &Server{cfg: c.cfg}
		err := s.Validate()
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%+v: %v, want %q", c.cfg, err, c.want)
		}
		var p *configs.Problem
		if err != nil && !errors.As(err, &p) {
			t.Errorf("%v is not a *configs.Problem", err)
		}
	}
}

func TestKindOf(t *testing.T) {
	cases := map[string]contentKind{
		"text/html": kindHTML, "application/xhtml+xml": kindHTML, "text/plain": kindText, "text/markdown": kindText,
		"application/json": kindText, "application/ld+json": kindText, "application/atom+xml": kindText,
		"image/png": kindOther, "application/pdf": kindOther, "application/octet-stream": kindOther, "": kindOther,
	}
	for mt, want := range cases {
		if got := kindOf(mt); got != want {
			t.Errorf("kindOf(%q) = %v, want %v", mt, got, want)
		}
	}
	if got := mediaType("", []byte("<!DOCTYPE html><p>x")); got != "text/html" {
		t.Errorf("sniffed %q", got)
	}
	if got := mediaType("Text/HTML; charset=UTF-8", nil); got != "text/html" {
		t.Errorf("header %q", got)
	}
}

func TestCutPage(t *testing.T) {
	cases := []struct {
		s                  string
		start, max, budget int
		page               string
		next               int
	}{
		{"hello world", 0, 100, 100, "hello world", 11},
		{"hello world", 6, 100, 100, "world", 11},
		{strings.Repeat("a", 18) + " bbbb", 0, 20, 100, strings.Repeat("a", 18) + " ", 19}, // back to the space
		{"hello world", 0, 8, 100, "hello wo", 8},                                          // no space near the end: a hard cut
		{"ab\ncdefghij", 0, 10, 100, "ab\ncdefghi", 10},
		{"abcdefgh\nij", 0, 10, 100, "abcdefgh\n", 9}, // back to the line break
		{"日本語", 0, 4, 100, "日", 1},
		{"日本語", 1, 6, 100, "本語", 3},
		{`""""`, 0, 100, 6, `""`, 2}, // each quote costs 2 bytes of JSON, plus the 2 around
		{"日本語", 0, 1, 100, "日", 1},   // always progress, even past max
		{"", 0, 10, 10, "", 0},
	}
	for _, c := range cases {
		page, next := cutPage(c.s, c.start, c.max, c.budget)
		if page != c.page || next != c.next {
			t.Errorf("cutPage(%q, %d, %d, %d) = %q, %d; want %q, %d", c.s, c.start, c.max, c.budget, page, next, c.page, c.next)
		}
	}
}

// FuzzCutPage: reading page by page gives back the whole string, every page within its
// limits (but one character), and the JSON estimate is never below the real encoding.
func FuzzCutPage(f *testing.F) {
	f.Add("hello world\nline two", 5, 64)
	f.Add(longText()[:2000], 100, 200)
	f.Add("\x00\x01\"\\\u2028<>&\xff", 1, 8)
	f.Fuzz(func(t *testing.T, s string, maxBytes, budget int) {
		s = strings.ToValidUTF8(s, "\uFFFD")
		maxBytes = 1 + int(uint(maxBytes)%512)
		budget = 3 + int(uint(budget)%1024)
		var b strings.Builder
		start, total := 0, utf8.RuneCountInString(s)
		for start < total {
			page, next := cutPage(s, start, maxBytes, budget)
			if next <= start {
				t.Fatalf("no progress at %d", start)
			}
			if utf8.RuneCountInString(page) != next-start {
				t.Fatalf("page of %d characters, next-start %d", utf8.RuneCountInString(page), next-start)
			}
			enc := encodeJSON(page)
			if utf8.RuneCountInString(page) > 1 && (len(page) > maxBytes || len(enc) > budget) {
				t.Fatalf("page %q: %d bytes, %d encoded; limits %d, %d", page, len(page), len(enc), maxBytes, budget)
			}
			b.WriteString(page)
			start = next
		}
		if b.String() != s {
			t.Fatalf("pages %q != %q", b.String(), s)
		}
	})
}

// FuzzCheckURL: whatever the url argument, checkURL (parsing, international names, the
// policy's checks that need no DNS) never panics, and what it accepts is an absolute http or
// https URL with a host and no credentials, refused otherwise with a message.
func FuzzCheckURL(f *testing.F) {
	for _, seed := range []string{"http://example.com/", "https://bücher.example:8443/a?b#c", "file:///etc/passwd",
		"http://[::ffff:127.0.0.1]/", "http://user:pw@host/", "javascript:alert(1)", "//host/path", "http://%zz", "http://a\u00a0b/",
		"HTTP://EXAMPLE.COM", "http://169.254.169.254/", "http://[fe80::1%25eth0]/", "http://0x7f.1/", ""} {
		f.Add(seed)
	}
	s := New().(*Server)
	if err := s.Provision(context.Background(), registry.Env{Config: configs.Default()}); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		u, msg := s.checkURL(raw)
		if msg != "" {
			if u != nil {
				t.Fatalf("%q: refused (%s) but returned a URL", raw, msg)
			}
			return
		}
		if sc := strings.ToLower(u.Scheme); sc != "http" && sc != "https" || u.Hostname() == "" || u.User != nil {
			t.Fatalf("%q: accepted as %q", raw, u)
		}
	})
}
