package readable

import (
	"flag"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// TestGolden converts realistic pages (a blog post, a reference page in windows-1252, a forum
// thread laid out with tables, an encyclopedia article with an infobox and a <base href>) and
// compares the Markdown and the plain text with testdata/<page>.md and .txt. Run with -update
// to rewrite them, then read the diff.
func TestGolden(t *testing.T) {
	pages, err := filepath.Glob(filepath.Join("testdata", "*.html"))
	if err != nil || len(pages) == 0 {
		t.Fatalf("no pages: %v", err)
	}
	base, _ := url.Parse("https://example.com/blog/2024/03/timeouts/")
	for _, page := range pages {
		name := strings.TrimSuffix(filepath.Base(page), ".html")
		t.Run(name, func(t *testing.T) {
			in, err := os.ReadFile(page)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range []struct {
				format Format
				ext    string
			}{{FormatMarkdown, ".md"}, {FormatText, ".txt"}} {
				p, err := Convert(in, Options{BaseURL: base, Format: f.format})
				if err != nil {
					t.Fatal(err)
				}
				got := "title: " + p.Title + "\nextracted: " + boolString(p.Extracted) + "\ncharset: " + p.Charset + "\n---\n" + p.Content + "\n"
				path := filepath.Join("testdata", name+f.ext)
				if *update {
					if err := os.WriteFile(path, []byte(got), 0o600); err != nil {
						t.Fatal(err)
					}
					continue
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("%v (run with -update to write it)", err)
				}
				if got != string(want) {
					t.Errorf("%s differs (rerun with -update if intended):\n%s", path, lineDiff(string(want), got))
				}
			}
		})
	}
}

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// lineDiff shows the first lines where want and got differ.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	shown := 0
	for i := 0; i < max(len(w), len(g)) && shown < 10; i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			b.WriteString("line " + strconv.Itoa(i+1) + ":\n  want: " + wl + "\n   got: " + gl + "\n")
			shown++
		}
	}
	return b.String()
}
