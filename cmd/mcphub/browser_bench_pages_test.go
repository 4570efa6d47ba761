package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The browser benchmark's page: a form of the kind an agent works on (a navigation bar of
// links, a few paragraphs, a table, a labelled text box and a button whose click changes the
// page), served by the test on 127.0.0.1. Every contender loads the same bytes.

const (
	// benchButtonName and benchBoxName are the accessible names the MCP contenders look up
	// in their snapshots to find the refs for click and type.
	benchButtonName = "Increment"
	benchBoxName    = "Search"
	// benchTyped is what every contender types into the text box.
	benchTyped = "chromium benchmark"
)

// benchPageHTML is built once: the page is static but for the query string, which only makes
// each navigation a new URL.
var benchPageHTML = buildBenchPage()

func buildBenchPage() string {
	var b strings.Builder
	b.WriteString(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>mcphub browser bench</title>
<style>body{font:14px sans-serif;margin:16px} nav a{margin-right:6px} td,th{padding:2px 6px}</style>
</head><body>
<header><h1>Browser benchmark</h1></header>
<nav aria-label="Sections">`)
	for i := 1; i <= 30; i++ {
		fmt.Fprintf(&b, `<a href="#s%d">Section %d</a>`, i, i)
	}
	b.WriteString(`</nav>
<main>
<form onsubmit="return false">
  <label for="q">` + benchBoxName + `</label> <input id="q" name="q" type="text">
  <button id="inc" type="button">` + benchButtonName + `</button>
  <p id="status" role="status">Clicks: 0</p>
</form>
`)
	for i := 1; i <= 8; i++ {
		fmt.Fprintf(&b, `<h2 id="s%d">Section %d</h2><p>Paragraph %d of the benchmark page: plain text with a <a href="#s%d">link</a> and <em>emphasis</em>, enough to give the accessibility tree some body.</p>
`, i, i, i, i+1)
	}
	b.WriteString(`<table><caption>Items</caption><thead><tr><th>id</th><th>label</th><th>price</th></tr></thead><tbody>`)
	for i := 1; i <= 20; i++ {
		fmt.Fprintf(&b, `<tr><td>%d</td><td>item %d</td><td>%d.25</td></tr>`, i, i, i)
	}
	b.WriteString(`</tbody></table>
</main>
<script>
let clicks = 0;
document.getElementById('inc').addEventListener('click', () => {
  clicks++;
  document.getElementById('status').textContent = 'Clicks: ' + clicks;
});
</script>
</body></html>
`)
	return b.String()
}

// startBenchPages serves the benchmark page at /page on 127.0.0.1 and returns the server.
func startBenchPages(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/page", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		// Every navigation fetches the page, as an agent's first visit would.
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write([]byte(benchPageHTML))
	})
	mux.HandleFunc("/favicon.ico", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})
	// httptest listens on 127.0.0.1.
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}
