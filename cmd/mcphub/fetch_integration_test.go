package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcphub/mcphub/internal/testenv"
)

// The fetch server driven through the real binary with the official SDK client: pages served on
// 127.0.0.1 (allowed by the test config only) fetched over HTTP at both protocol versions and
// over stdio; and the refusals of the DEFAULT egress policy, run inside a network namespace
// that has only loopback, so that a wrong policy could send nothing off the machine.

// itFetch is fetch_url's structured output.
type itFetch struct {
	URL            string `json:"url"`
	FinalURL       string `json:"final_url"`
	Status         int    `json:"status"`
	ContentType    string `json:"content_type"`
	Title          string `json:"title"`
	Format         string `json:"format"`
	Content        string `json:"content"`
	TotalChars     int    `json:"total_chars"`
	StartIndex     int    `json:"start_index"`
	NextStartIndex *int   `json:"next_start_index"`
}

// callFetch calls fetch_url and returns whether the result is an error, its text and its
// structured content.
func callFetch(ctx context.Context, t *testing.T, cs *sdk.ClientSession, args map[string]any) (bool, string, itFetch) {
	t.Helper()
	res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "fetch_url", Arguments: args})
	if err != nil {
		t.Fatalf("fetch_url %v: %v", args, err)
	}
	var out itFetch
	if !res.IsError {
		b, err := json.Marshal(res.StructuredContent)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatalf("structured content %s: %v", b, err)
		}
	}
	return res.IsError, resultText(res), out
}

const fetchArticle = `<!doctype html><html><head><title>Loopback Article</title></head><body>
<nav><a href="/">Home</a> <a href="/about">About</a></nav>
<article><h1>Loopback Article</h1>
<p>The first paragraph links to <a href="/docs/next">the next page</a> and is long enough for the extraction to count it
as the article: it talks about egress policies, loopback addresses and network namespaces at some length.</p>
<p>The second paragraph has <strong>strong</strong> and <em>emphasised</em> words and <code>inline code</code>, and more text
so that the scorer is convinced that this, and not the navigation, is the content of the page.</p>
<pre><code class="language-sh">curl -s http://127.0.0.1/</code></pre>
<ul><li>one</li><li>two<ul><li>nested</li></ul></li></ul>
</article><footer>footer text</footer><script>tracker()</script></body></html>`

// fetchSite serves the integration pages on 127.0.0.1 and counts the requests it gets.
func fetchSite(t *testing.T) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var hits atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("/article", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, fetchArticle)
	})
	mux.HandleFunc("/long", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, "<html><head><title>Long</title></head><body><article>")
		for i := range 300 {
			fmt.Fprintf(w, "<p>Paragraph %d of a long page: enough words to need several calls, with “quotes” and ünïcödé.</p>\n", i)
		}
		fmt.Fprint(w, "</article></body></html>")
	})
	mux.HandleFunc("/image", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write([]byte("\x89PNG\r\n\x1a\n"))
	})
	mux.HandleFunc("/to-metadata", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://169.254.169.254/latest/meta-data/", http.StatusFound)
	})
	mux.HandleFunc("/to-private", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://10.0.0.1/admin", http.StatusMovedPermanently)
	})
	mux.HandleFunc("/to-file", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "file:///etc/passwd", http.StatusFound)
	})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

// fetchConfig enables only the fetch server, with extra YAML at the top level.
func fetchConfig(extra string) string {
	return extra + "servers:\n  fetch: {enabled: true}\n"
}

// exerciseFetch reads pages from site through the session.
func exerciseFetch(ctx context.Context, t *testing.T, cs *sdk.ClientSession, site string) {
	t.Helper()
	tools, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, tool := range tools.Tools {
		if tool.Name == "fetch_url" {
			found = tool.OutputSchema != nil && tool.Annotations != nil && tool.Annotations.ReadOnlyHint
		}
	}
	if !found {
		t.Fatalf("fetch_url missing, or without output schema or read-only hint: %+v", tools.Tools)
	}

	isErr, text, out := callFetch(ctx, t, cs, map[string]any{"url": site + "/article"})
	if isErr {
		t.Fatalf("article: %s", text)
	}
	if out.Title != "Loopback Article" || out.Status != 200 || out.ContentType != "text/html" || out.FinalURL != site+"/article" {
		t.Errorf("article metadata: %+v", out)
	}
	for _, want := range []string{"[the next page](" + site + "/docs/next)", "**strong**", "*emphasised*", "`inline code`",
		"```sh\ncurl -s http://127.0.0.1/\n```", "- two\n  - nested"} {
		if !strings.Contains(out.Content, want) || !strings.Contains(text, want) {
			t.Errorf("article markdown lacks %q:\n%s", want, out.Content)
		}
	}
	for _, unwanted := range []string{"Home", "footer text", "tracker"} {
		if strings.Contains(out.Content, unwanted) {
			t.Errorf("article markdown has %q:\n%s", unwanted, out.Content)
		}
	}

	// A long page read in pages of at most 2000 bytes is the whole page, in order.
	_, _, whole := callFetch(ctx, t, cs, map[string]any{"url": site + "/long", "format": "text"})
	var got strings.Builder
	start, calls := 0, 0
	for {
		isErr, text, page := callFetch(ctx, t, cs, map[string]any{"url": site + "/long", "format": "text", "max_bytes": 2000, "start_index": start})
		if isErr || len(page.Content) > 2000 {
			t.Fatalf("page at %d: error %v, %d bytes: %s", start, isErr, len(page.Content), text)
		}
		got.WriteString(page.Content)
		calls++
		if page.NextStartIndex == nil {
			break
		}
		if !strings.Contains(text, "call again with start_index="+strconv.Itoa(*page.NextStartIndex)) {
			t.Fatalf("a truncated page does not say how to read on: %q", text[max(0, len(text)-200):])
		}
		start = *page.NextStartIndex
	}
	if calls < 3 || got.String() != whole.Content || whole.TotalChars != len([]rune(whole.Content)) {
		t.Errorf("%d calls; the pages put together (%d bytes) differ from the page read at once (%d bytes)", calls, got.Len(), len(whole.Content))
	}

	for _, c := range []struct{ url, want string }{
		{site + "/image", "image/png"},
		{"file:///etc/passwd", `egress policy refused file:///etc/passwd: scheme "file" is not allowed`},
	} {
		isErr, text, _ := callFetch(ctx, t, cs, map[string]any{"url": c.url})
		if !isErr || !strings.Contains(text, c.want) {
			t.Errorf("%s: error %v %q, want %q", c.url, isErr, text, c.want)
		}
	}
}

func TestIntegrationFetch(t *testing.T) {
	site, _ := fetchSite(t)
	cfg := fetchConfig("egress: {allow: [127.0.0.1/32]}\n")
	hub := startHub(t, cfg)
	for _, version := range protocolVersions {
		t.Run("http-"+version, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			for _, endpoint := range []string{"/mcp", "/mcp/fetch"} {
				cs := connectHTTP(ctx, t, hub.base+endpoint, version, newProgressCounter())
				exerciseFetch(ctx, t, cs, site.URL)
			}
		})
	}
	t.Run("stdio", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		stderr := &syncBuffer{}
		cmd := exec.CommandContext(ctx, testBinary(t), "serve", "--stdio", "--config", writeConfig(t, "127.0.0.1:0", cfg))
		cmd.Stderr = stderr
		cs, err := newClient(newProgressCounter()).Connect(ctx, &sdk.CommandTransport{Command: cmd}, nil)
		if err != nil {
			t.Fatalf("connect over stdio: %v", err)
		}
		exerciseFetch(ctx, t, cs, site.URL)
		if err := cs.Close(); err != nil {
			t.Errorf("closing the stdio session: %v", err)
		}
		if t.Failed() {
			t.Logf("stderr:\n%s", stderr.String())
		}
	})
}

// TestIntegrationFetchRefusals runs in a network namespace with only loopback. A hub with the
// DEFAULT egress policy refuses loopback (by address, by IPv4-mapped IPv6 and by a name that
// resolves to it), link-local metadata, private and unspecified addresses and file:; a hub
// that allows 127.0.0.1/32 still refuses a redirect from an allowed page to the metadata
// address, a private address or file:. Every refusal names the egress policy, and the page
// server on loopback sees no request from the default hub.
func TestIntegrationFetchRefusals(t *testing.T) {
	testBinary(t) // built before entering the namespace: the child's build is a cache hit
	if !testenv.InLoopbackNetns(t) {
		return
	}
	site, hits := fetchSite(t)
	port := site.Listener.Addr().(*net.TCPAddr).Port
	p := strconv.Itoa(port)
	defaultHub := startHub(t, fetchConfig(""))
	loopHub := startHub(t, fetchConfig("egress: {allow: [127.0.0.1/32]}\n"))

	cases := []struct {
		name, url, reason string
	}{
		{"loopback", "http://127.0.0.1:" + p + "/article", "127.0.0.1 is a loopback address (allow it with egress.allow)"},
		{"loopback other", "http://127.8.9.10:" + p + "/", "is a loopback address"},
		{"ipv6 loopback", "http://[::1]:" + p + "/", "::1 is a loopback address"},
		{"ipv4-mapped loopback", "http://[::ffff:127.0.0.1]:" + p + "/", "IPv4-mapped"},
		{"localhost", "http://localhost:" + p + "/article", "127.0.0.1 is a loopback address"},
		{"metadata", "http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local (cloud metadata) address"},
		{"private", "http://10.0.0.1/", "10.0.0.1 is a private address"},
		{"private 192.168", "http://192.168.1.1:8080/", "is a private address"},
		{"cgnat", "http://100.64.0.1/", "CGNAT"},
		{"unspecified", "http://0.0.0.0:" + p + "/", "0.0.0.0"},
		{"file", "file:///etc/passwd", `scheme "file" is not allowed`},
		{"credentials", "http://user:secret@example.com/", "credentials"},
	}
	for _, version := range protocolVersions {
		t.Run(version, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			cs := connectHTTP(ctx, t, defaultHub.base+"/mcp/fetch", version, newProgressCounter())
			hits.Store(0)
			for _, c := range cases {
				isErr, text, _ := callFetch(ctx, t, cs, map[string]any{"url": c.url})
				if !isErr || !strings.HasPrefix(text, "egress policy refused ") || !strings.Contains(text, c.reason) {
					t.Errorf("%s (%s): error %v, %q; want a refusal by the egress policy saying %q", c.name, c.url, isErr, text, c.reason)
				}
				if strings.Contains(text, "secret") {
					t.Errorf("%s: the refusal repeats the password: %q", c.name, text)
				}
			}
			if n := hits.Load(); n != 0 {
				t.Errorf("the page server on loopback got %d requests through the default policy", n)
			}

			// Loopback allowed: the page itself is read, its redirects elsewhere are refused.
			cs = connectHTTP(ctx, t, loopHub.base+"/mcp/fetch", version, newProgressCounter())
			for _, u := range []string{site.URL + "/article", "http://localhost:" + p + "/article"} {
				if isErr, text, _ := callFetch(ctx, t, cs, map[string]any{"url": u}); isErr {
					t.Fatalf("the allowed loopback page %s: %s", u, text)
				}
			}
			for _, c := range []struct{ path, reason string }{
				{"/to-metadata", "egress policy refused http://169.254.169.254/latest/meta-data/: 169.254.169.254 is a link-local (cloud metadata) address"},
				{"/to-private", "egress policy refused http://10.0.0.1/admin: 10.0.0.1 is a private address"},
				{"/to-file", `egress policy refused file:///etc/passwd: scheme "file" is not allowed`},
			} {
				isErr, text, _ := callFetch(ctx, t, cs, map[string]any{"url": site.URL + c.path})
				if !isErr || !strings.HasPrefix(text, c.reason) {
					t.Errorf("redirect %s: error %v, %q; want %q", c.path, isErr, text, c.reason)
				}
			}
			u := "http://[::1]:" + p + "/article"
			if isErr, text, _ := callFetch(ctx, t, cs, map[string]any{"url": u}); !isErr || !strings.Contains(text, "::1 is a loopback address") {
				t.Errorf("%s with only 127.0.0.1/32 allowed: error %v, %q; want ::1 refused", u, isErr, text)
			}
		})
	}

	t.Run("stdio", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, testBinary(t), "serve", "--stdio", "--config", writeConfig(t, "127.0.0.1:0", fetchConfig("")))
		cs, err := newClient(newProgressCounter()).Connect(ctx, &sdk.CommandTransport{Command: cmd}, nil)
		if err != nil {
			t.Fatalf("connect over stdio: %v", err)
		}
		defer cs.Close()
		for _, c := range cases {
			isErr, text, _ := callFetch(ctx, t, cs, map[string]any{"url": c.url})
			if !isErr || !strings.HasPrefix(text, "egress policy refused ") || !strings.Contains(text, c.reason) {
				t.Errorf("stdio %s: error %v, %q; want %q", c.name, isErr, text, c.reason)
			}
		}
	})
}
