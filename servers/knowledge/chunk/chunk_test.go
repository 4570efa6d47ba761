package chunk

import (
	"slices"
	"strings"
	"testing"
)

type wantChunk struct {
	heading    string // trail joined with " > "
	start, end int
	contains   string
}

func TestSplit(t *testing.T) {
	long := strings.Repeat("word ", 60) // 300 bytes
	tests := []struct {
		name  string
		kind  Kind
		text  string
		o     Options
		title string
		want  []wantChunk
	}{
		{
			name:  "headings give trails and start chunks",
			kind:  Markdown,
			text:  "# Guide\n\nIntro text.\n\n## Install\n\nRun the installer.\n\n### Linux\n\nUse apt.\n\n## Use\n\nCall it.\n",
			title: "Guide",
			want: []wantChunk{
				{"Guide", 1, 3, "Intro text."},
				{"Guide > Install", 5, 7, "Run the installer."},
				{"Guide > Install > Linux", 9, 11, "Use apt."},
				{"Guide > Use", 13, 15, "Call it."},
			},
		},
		{
			name:  "setext headings",
			kind:  Markdown,
			text:  "Title\n=====\n\nBody one.\n\nPart\n----\nBody two.\n",
			title: "Title",
			want:  []wantChunk{{"Title", 1, 4, "Body one."}, {"Title > Part", 6, 8, "Body two."}},
		},
		{
			name:  "a fenced code block stays whole and hides its # lines",
			kind:  Markdown,
			text:  "## Shell\n\n```sh\n# not a heading\necho hi\n```\nafter\n",
			title: "Shell",
			want:  []wantChunk{{"Shell", 1, 7, "# not a heading\necho hi\n```"}},
		},
		{
			name: "size bound splits between blocks with overlap",
			kind: Markdown,
			text: "# T\n\n" + long + "\n\n" + long + "\n\n" + long + "\n",
			o:    Options{MaxChars: 700, Overlap: 350},
			// Overlap 350 is not below MaxChars/2, so it falls back to MaxChars/4 = 175: the
			// 300-byte paragraph lines do not fit in it, the blank line before them does.
			title: "T",
			want:  []wantChunk{{"T", 1, 5, "# T"}, {"T", 7, 7, long}},
		},
		{
			name: "overlap repeats the last lines that fit",
			kind: Text,
			text: "para one is here\n\npara two is here\n\npara three is here\n\npara four is here\n",
			o:    Options{MaxChars: 64, Overlap: 20},
			want: []wantChunk{{"", 1, 5, "para two"}, {"", 5, 7, "para three is here\n\npara four"}},
		},
		{
			name: "list items are blocks",
			kind: Text,
			text: "Shopping:\n- eggs\n- milk\n  semi-skimmed\n1. first\n2) second\n",
			want: []wantChunk{{"", 1, 6, "- milk\n  semi-skimmed"}},
		},
		{
			name: "an over-long line is cut",
			kind: Text,
			text: strings.Repeat("x", 200) + "\n",
			o:    Options{MaxChars: 100, Overlap: 10},
			want: []wantChunk{{"", 1, 1, ""}, {"", 1, 1, ""}, {"", 1, 1, ""}},
		},
		{
			name: "code declarations head their chunks",
			kind: Code,
			text: "package main\n\nimport \"fmt\"\n\n// Hello greets.\nfunc Hello(name string) string {\n\treturn \"hi \" + name\n}\n\ntype T struct {\n\tA int\n}\n",
			want: []wantChunk{
				{"package main", 1, 1, "package main"},
				{"", 3, 3, "import"},
				{"func Hello(name string) string", 5, 8, "// Hello greets."},
				{"type T struct", 10, 12, "A int"},
			},
		},
		{
			name: "empty",
			kind: Markdown,
			text: "",
		},
		{
			name: "blank lines only",
			kind: Markdown,
			text: "\n\n  \n",
		},
		{
			name:  "heading only",
			kind:  Markdown,
			text:  "# Lonely\n",
			title: "Lonely",
			want:  []wantChunk{{"Lonely", 1, 1, "# Lonely"}},
		},
		{
			name:  "closing hashes and not-headings",
			kind:  Markdown,
			text:  "## Spaced ##\n#hashtag is text\n####### seven\n",
			title: "Spaced",
			want:  []wantChunk{{"Spaced", 1, 3, "#hashtag is text\n####### seven"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := Split(tc.kind, tc.text, tc.o)
			if res.Title != tc.title {
				t.Errorf("title = %q, want %q", res.Title, tc.title)
			}
			if len(res.Chunks) != len(tc.want) {
				for _, c := range res.Chunks {
					t.Logf("chunk %v %d-%d %q", c.Heading, c.StartLine, c.EndLine, c.Text)
				}
				t.Fatalf("%d chunks, want %d", len(res.Chunks), len(tc.want))
			}
			for i, w := range tc.want {
				c := res.Chunks[i]
				if got := strings.Join(c.Heading, " > "); got != w.heading || c.StartLine != w.start || c.EndLine != w.end ||
					!strings.Contains(c.Text, w.contains) || c.Ordinal != i {
					t.Errorf("chunk %d = %q %d-%d #%d %q, want %q %d-%d containing %q", i, got, c.StartLine, c.EndLine, c.Ordinal, c.Text,
						w.heading, w.start, w.end, w.contains)
				}
			}
			checkInvariants(t, tc.kind, tc.text, tc.o, res)
		})
	}
}

func TestIdentifierParts(t *testing.T) {
	tests := []struct{ in, want string }{
		{"call time.ParseDuration now", "parse duration"},
		{"ParseHTTPRequest and parse_http_request", "parse http request"},
		{"plain words only", ""},
		{"utf8RuneLen", "utf rune len"},
	}
	for _, tc := range tests {
		if got := IdentifierParts(tc.in); got != tc.want {
			t.Errorf("IdentifierParts(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// checkInvariants holds for every input: chunks are bounded, ordered, inside the text, made of
// its lines, and together cover every non-blank line.
func checkInvariants(t *testing.T, _ Kind, text string, o Options, res Result) {
	t.Helper()
	lines := SplitLines(strings.ToValidUTF8(text, "\uFFFD"))
	if res.Lines != len(lines) {
		t.Errorf("Lines = %d, want %d", res.Lines, len(lines))
	}
	maxChars := o.MaxChars
	if maxChars < minMaxChars {
		maxChars = DefaultMaxChars
	}
	covered := make([]bool, len(lines))
	for i, c := range res.Chunks {
		if c.Ordinal != i {
			t.Fatalf("chunk %d has ordinal %d", i, c.Ordinal)
		}
		if len(c.Text) > maxChars {
			t.Fatalf("chunk %d is %d bytes, over %d", i, len(c.Text), maxChars)
		}
		if c.StartLine < 1 || c.EndLine < c.StartLine || c.EndLine > len(lines) {
			t.Fatalf("chunk %d: lines %d-%d of %d", i, c.StartLine, c.EndLine, len(lines))
		}
		if strings.TrimSpace(c.Text) == "" {
			t.Fatalf("chunk %d is blank", i)
		}
		region := strings.Join(lines[c.StartLine-1:c.EndLine], "\n")
		if !strings.Contains(region, c.Text) {
			t.Fatalf("chunk %d text %q is not within its lines %d-%d %q", i, c.Text, c.StartLine, c.EndLine, region)
		}
		if i > 0 && c.StartLine < res.Chunks[i-1].StartLine {
			t.Fatalf("chunk %d starts before chunk %d", i, i-1)
		}
		for l := c.StartLine; l <= c.EndLine; l++ {
			covered[l-1] = true
		}
		if slices.ContainsFunc(c.Heading, func(h string) bool { return strings.ContainsAny(h, "\x1f\n") }) {
			t.Fatalf("chunk %d heading has control characters: %q", i, c.Heading)
		}
	}
	for l, line := range lines {
		if strings.TrimSpace(line) != "" && !covered[l] {
			t.Fatalf("line %d %q is in no chunk", l+1, line)
		}
	}
}

func FuzzSplit(f *testing.F) {
	f.Add("# A\n\ntext\n\n## B\n- item\n```\ncode\n```\n", 100, 20, 0)
	f.Add("Title\n===\npara\n\n  indented\n", 64, 10, 1)
	f.Add("func F() {\n}\n\n// c\ntype T int\n", 70, 30, 2)
	f.Add(strings.Repeat("é", 300), 64, 5, 1)
	f.Add("```\nunclosed", 64, 0, 0)
	f.Fuzz(func(t *testing.T, text string, maxChars, overlap, kind int) {
		if len(text) > 20000 {
			return
		}
		k := []Kind{Markdown, Text, Code}[((kind%3)+3)%3]
		o := Options{MaxChars: maxChars % 5000, Overlap: overlap % 5000}
		res := Split(k, text, o)
		checkInvariants(t, k, text, o, res)
	})
}

func BenchmarkSplitMarkdown(b *testing.B) {
	var sb strings.Builder
	for i := range 2000 {
		sb.WriteString("## Section " + strings.Repeat("x", i%7) + "\n\nSome paragraph text with ParseDuration and other_words in it, long enough to matter.\n\n- item one\n- item two\n\n```go\nfunc F() {}\n```\n\n")
	}
	text := sb.String()
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		Split(Markdown, text, Options{})
	}
}
