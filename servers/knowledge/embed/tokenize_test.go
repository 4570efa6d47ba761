package embed

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestWords(t *testing.T) {
	vocab := map[string]bool{
		"read": true, "file": true, "http": true, "server": true, "parse": true, "duration": true,
		"int64": true, "int": true, "sha": true, "256": true, "utf": true, "8": true, "the": true,
		"json": true, "decoder": true, "x509": true, "café": true, "über": true, "max": true, "bytes": true,
		"new": true, "request": true, "with": true, "context": true,
	}
	known := func(w string) bool { return vocab[w] }
	for _, c := range []struct{ in, want string }{
		{"", ""},
		{"the ReadFile", "the read file"},
		{"HTTPServer", "http server"},
		{"ParseDuration(s string)", "parse duration"},
		{"Int64 and int64Value", "int64 int64"},
		{"Sha256Sum", "sha 256"},
		{"UTF8", "utf 8"},
		{"json.NewDecoder", "json new decoder"},
		{"max_bytes MAX-BYTES", "max bytes max bytes"},
		{"crypto/x509", "x509"},
		{"CAFÉ Über", "café über"},
		{"NewRequestWithContext", "new request with context"},
		{strings.Repeat("a", maxRunBytes+1) + " read", "read"},
		{"\xff\xfe read \xc0", "read"},
	} {
		got := strings.Join(Words(c.in, known), " ")
		if got != c.want {
			t.Errorf("Words(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// FuzzWords checks that the tokenizer never panics and yields only bounded, valid UTF-8,
// lowercase words of letters and digits.
func FuzzWords(f *testing.F) {
	for _, s := range []string{"ReadFile", "HTTPServer2Go", "x_y-z", "ÀÉÎõü", "\xff\x00a", "aB1cD2", "ǅungla", "ΣΑΣ"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var tok tokenizer
		tok.words(s, func(w []byte) bool {
			if len(w) == 0 || len(w) > maxRunBytes {
				t.Fatalf("word of %d bytes from %q", len(w), s)
			}
			if !utf8.Valid(w) {
				t.Fatalf("invalid UTF-8 word %q from %q", w, s)
			}
			for _, r := range string(w) {
				if !unicode.IsLetter(r) && !unicode.IsDigit(r) || unicode.ToLower(r) != r {
					t.Fatalf("word %q from %q has %q", w, s, r)
				}
			}
			return len(w)%2 == 0 // both the whole-run and the split paths
		})
	})
}
