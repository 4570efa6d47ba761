package memory

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestSearchTerms(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"Alice", []string{"alice"}},
		{`alice "bob" OR NOT carol*`, []string{"alice", "bob", "or", "not", "carol"}},
		{"name:x NEAR(a b) ^c -d", []string{"name", "x", "near", "a", "b", "c", "d"}},
		{"Élan ÉLAN café 42", []string{"élan", "café", "42"}},
		{`"" () * : ^`, nil},
		{strings.Repeat("w ", 100), []string{"w"}},
	}
	for _, tt := range tests {
		if got := searchTerms(tt.in); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("searchTerms(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	var many strings.Builder
	for i := range 100 {
		many.WriteString(strings.Repeat(string(rune('a'+i%26)), i/26+1) + " ")
	}
	if got := searchTerms(many.String()); len(got) != maxSearchTerms {
		t.Errorf("%d terms, want at most %d", len(got), maxSearchTerms)
	}
}

// FuzzSearchQuery checks that no user query is read as FTS5 syntax: every term the sanitiser
// keeps is letters and digits only, and the query it builds runs without error against a real
// index (an FTS5 syntax error would be an error here).
func FuzzSearchQuery(f *testing.F) {
	for _, seed := range []string{
		"alice", `"`, `a" OR "b`, "NEAR(a b, 2)", "name:alice", "a*", "-a", "^a", "(a OR b) AND c",
		"{name entity_type}: x", "\x00\xff", "ﬁ ǅ Ⅻ ٣", "a'b", `\`, "e\u0301", "🙂 a",
	} {
		f.Add(seed)
	}
	s := newServer(f, nil)
	seed(f, s, "local")
	st := s.currentStore()
	f.Fuzz(func(t *testing.T, query string) {
		terms := searchTerms(query)
		if len(terms) > maxSearchTerms {
			t.Fatalf("%d terms", len(terms))
		}
		for _, term := range terms {
			if term == "" || !utf8.ValidString(term) {
				t.Fatalf("bad term %q", term)
			}
			for _, r := range term {
				if !unicode.IsLetter(r) && !unicode.IsNumber(r) {
					t.Fatalf("term %q of %q keeps %q", term, query, r)
				}
			}
		}
		if _, err := st.SearchNodes(context.Background(), "local", terms, 5); err != nil {
			t.Fatalf("search %q (terms %q): %v", query, terms, err)
		}
	})
}
