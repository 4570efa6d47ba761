package eval

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

func TestScore(t *testing.T) {
	qs := []Query{{Q: "a", Want: "x"}, {Q: "b", Want: "y"}, {Q: "c", Want: "z"}, {Q: "d", Want: "w"}}
	s := Score("t", qs, [][]string{
		{"x", "y"},                     // rank 1
		{"x", "x", "y"},                // rank 2: a repeated package counts once
		{"a", "b", "c", "d", "e", "z"}, // rank 6
		{},                             // missing
	})
	if s.RecallAt1 != 0.25 || s.RecallAt5 != 0.5 {
		t.Errorf("recall@1 %v recall@5 %v", s.RecallAt1, s.RecallAt5)
	}
	if want := (1 + 0.5 + 1.0/6) / 4; s.MRR != want {
		t.Errorf("MRR %v, want %v", s.MRR, want)
	}
	if len(s.Misses) != 3 {
		t.Errorf("misses %v", s.Misses)
	}
}

func TestFTSQuery(t *testing.T) {
	for in, want := range map[string]string{
		"parse a duration string like 1h30m": `"parse" OR "a" OR "duration" OR "string" OR "like" OR "1h30m"`,
		"SHA-256 (checksum)":                 `"SHA" OR "256" OR "checksum"`,
		`"quoted" OR NEAR`:                   `"quoted" OR "OR" OR "NEAR"`,
		"":                                   "",
	} {
		if got := FTSQuery(in); got != want {
			t.Errorf("FTSQuery(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestBaselineSmall(t *testing.T) {
	ctx := context.Background()
	docs := []Doc{
		{Package: "time", Text: "# package time\nParseDuration parses a duration string such as 1h30m."},
		{Package: "strconv", Text: "# package strconv\nAtoi converts a string to an integer."},
	}
	b, err := NewBaseline(ctx, docs)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	got, err := b.Search(ctx, "convert a string to an integer", 5)
	if err != nil || len(got) == 0 || got[0] != "strconv" {
		t.Fatalf("Search = %v, %v", got, err)
	}
}

// TestBaselineDevSet scores the baseline on the real dev set (MCPHUB_EVAL=1; it builds the corpus
// with go doc, about a minute).
func TestBaselineDevSet(t *testing.T) {
	if os.Getenv("MCPHUB_EVAL") == "" {
		t.Skip("set MCPHUB_EVAL=1 (make eval)")
	}
	ctx := context.Background()
	dev, err := DevSetDir(".")
	if err != nil {
		t.Fatal(err)
	}
	qs, err := LoadQueries(filepath.Join(dev, "queries.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	docs, err := BuildCorpus(ctx, dev, CorpusDir(t))
	if err != nil {
		t.Fatal(err)
	}
	s, err := RunBaseline(ctx, docs, qs)
	if err != nil {
		t.Fatal(err)
	}
	WriteTable(os.Stdout, []Scores{s})
	if s.MRR < 0.7 {
		t.Errorf("baseline MRR %.3f, the dev set's README says about 0.81", s.MRR)
	}
}
