package memory

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// referenceFile is a file as the reference memory server writes it.
const referenceFile = `{"type":"entity","name":"Alice","entityType":"person","observations":["works on the compiler","likes tea"]}
{"type":"entity","name":"Acme","entityType":"company","observations":[]}
{"type":"relation","from":"Alice","to":"Acme","relationType":"works_at"}
{"type":"relation","from":"Acme","to":"Bob","relationType":"courts"}`

func TestJSONLRoundTrip(t *testing.T) {
	s := newServer(t, nil)
	st := s.currentStore()
	ctx := context.Background()
	g, err := ParseJSONL(strings.NewReader(referenceFile + "\n\n"))
	if err != nil {
		t.Fatal(err)
	}
	stats, err := Import(ctx, st, "local", g)
	if err != nil {
		t.Fatal(err)
	}
	if stats != (ImportStats{Entities: 2, Relations: 2, Observations: 2}) {
		t.Errorf("stats %+v", stats)
	}
	var out bytes.Buffer
	if err := Export(ctx, st, "local", &out); err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(out.String()); got != referenceFile {
		t.Errorf("export differs from the imported file:\n%s\nwant:\n%s", got, referenceFile)
	}
	// The tools see what was imported.
	if g := readAll(t, s, "local"); len(g.Entities) != 2 || len(g.Relations) != 2 {
		t.Errorf("graph after import: %+v", g)
	}
	// Importing again changes nothing; a file with a known entity adds its new observations.
	more := referenceFile + "\n" + `{"type":"entity","name":"Alice","entityType":"person","observations":["likes tea","plays chess"]}`
	g, err = ParseJSONL(strings.NewReader(more))
	if err != nil {
		t.Fatal(err)
	}
	stats, err = Import(ctx, st, "local", g)
	if err != nil {
		t.Fatal(err)
	}
	if stats != (ImportStats{Observations: 1, Skipped: 5}) {
		t.Errorf("second import stats %+v", stats)
	}
	// Other namespaces are untouched.
	out.Reset()
	if err := Export(ctx, st, "someone-else", &out); err != nil || out.Len() != 0 {
		t.Errorf("export of an empty namespace: %v %q", err, out.String())
	}
}

func TestParseJSONLReportsEveryBadLine(t *testing.T) {
	in := strings.Join([]string{
		`{"type":"entity","name":"A","entityType":"t","observations":[]}`,
		`not json`,
		`{"type":"entity","name":"B"}`,
		``,
		`{"type":"relation","from":"A","to":"B"}`,
		`{"type":"widget"}`,
		`{"type":"entity","name":"C","entityType":"t","extra":1}`,
		`{"type":"relation","from":"A","to":"B","relationType":"r"}`,
	}, "\n")
	_, err := ParseJSONL(strings.NewReader(in))
	if err == nil {
		t.Fatal("no error")
	}
	var lines []int
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var le *LineError
		if !errors.As(e, &le) {
			t.Fatalf("not a line error: %v", e)
		}
		lines = append(lines, le.Line)
	}
	if !reflect.DeepEqual(lines, []int{2, 3, 5, 6, 7}) {
		t.Errorf("bad lines %v, want [2 3 5 6 7]; error:\n%v", lines, err)
	}
	if !strings.Contains(err.Error(), "line 3: an entity needs name and entityType") {
		t.Errorf("message: %v", err)
	}
}

func TestExportPagesLargeGraphs(t *testing.T) {
	s := newServer(t, nil)
	st := s.currentStore()
	ctx := context.Background()
	var g Graph
	for i := range 2500 {
		name := fmt.Sprintf("e%05d", i)
		g.Entities = append(g.Entities, Entity{Name: name, EntityType: "t", Observations: []string{"o"}})
		if i > 0 {
			g.Relations = append(g.Relations, Relation{g.Entities[i-1].Name, name, "next"})
		}
	}
	if _, err := Import(ctx, st, "local", g); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := Export(ctx, st, "local", &out); err != nil {
		t.Fatal(err)
	}
	back, err := ParseJSONL(&out)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, g) {
		t.Errorf("round trip of %d+%d items lost something: got %d+%d", len(g.Entities), len(g.Relations), len(back.Entities), len(back.Relations))
	}
}

// FuzzParseJSONL: any input either parses into a graph whose export parses back to the same
// graph, or fails with line-numbered errors; it never panics.
func FuzzParseJSONL(f *testing.F) {
	f.Add(referenceFile)
	f.Add(`{"type":"entity","name":"a","entityType":"b"}` + "\n" + `{"type":"relation","from":"a","to":"a","relationType":"self"}`)
	f.Add("{oops\n\n{\"type\":\"x\"}")
	f.Add(`{"type":"entity","name":"\u2028","entityType":"<&>","observations":["\"q\""]}`)
	f.Fuzz(func(t *testing.T, in string) {
		g, err := ParseJSONL(strings.NewReader(in))
		if err != nil {
			for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
				if !strings.HasPrefix(e.Error(), "line ") && !strings.HasPrefix(e.Error(), "reading line ") {
					t.Fatalf("error without a line number: %v", e)
				}
			}
			return
		}
		var out bytes.Buffer
		enc := newJSONLWriter(&out)
		for _, e := range g.Entities {
			if err := enc.entity(e); err != nil {
				t.Fatal(err)
			}
		}
		for _, r := range g.Relations {
			if err := enc.relation(r); err != nil {
				t.Fatal(err)
			}
		}
		back, err := ParseJSONL(&out)
		if err != nil {
			t.Fatalf("export of a parsed file does not parse: %v\n%s", err, out.String())
		}
		if !reflect.DeepEqual(back, g) {
			t.Fatalf("round trip changed the graph: %+v -> %+v", g, back)
		}
	})
}
