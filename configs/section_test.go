package configs

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// section parses doc and returns servers.<name>, failing on parse problems.
func section(t *testing.T, doc, name string) *ServerSection {
	t.Helper()
	cfg, err := Parse([]byte(doc))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	s, ok := cfg.Servers[name]
	if !ok {
		t.Fatalf("no section %q", name)
	}
	return s
}

func joinedStrings(err error) string {
	return strings.Join(problemStrings(err), "\n")
}

// upperString decodes itself and accepts a mapping, to show that such types are not walked.
type upperString string

func (u *upperString) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.MappingNode {
		*u = "MAPPING"
		return nil
	}
	if n.Value == "bad" {
		return errors.New("upper strings cannot be bad")
	}
	*u = upperString(strings.ToUpper(n.Value))
	return nil
}

// InlinePtr is exported: an inlined pointer must be settable.
type InlinePtr struct {
	Depth int `yaml:"depth"`
}

type embedded struct {
	Shared string `yaml:"shared"`
}

type decodeTarget struct {
	embedded   `yaml:",inline"`
	*InlinePtr `yaml:",inline"`
	Plain      embedded                     `yaml:"plain"`
	Name       string                       `yaml:"name"`
	Count      *int                         `yaml:"count"`
	Ratio      float64                      `yaml:"ratio"`
	Small      uint8                        `yaml:"small"`
	Any        any                          `yaml:"any"`
	Upper      upperString                  `yaml:"upper"`
	Wait       Duration                     `yaml:"wait"`
	When       time.Time                    `yaml:"when"`
	Opts       map[string]map[string]string `yaml:"opts"`
	List       [][]int                      `yaml:"list"`
	Ignored    string                       `yaml:"-"`
	NoTag      string
	hidden     string //nolint:unused // shows that unexported fields take no key
}

func TestServerSectionDecode(t *testing.T) {
	doc := `
servers:
  sql:
    enabled: false
    shared: s
    depth: 3
    plain: {shared: p}
    name: n
    count: 7
    ratio: 0.5
    small: 200
    any: {x: [1, 2]}
    upper: abc
    wait: 90s
    when: 2026-01-02T03:04:05Z
    opts: {a: {b: c}, "d.e": {f: g}}
    list: [[1, 2], [], [3]]
    notag: yes
`
	s := section(t, doc, "sql")
	if s.Enabled == nil || *s.Enabled {
		t.Errorf("Enabled = %v, want false", s.Enabled)
	}
	wantKeys := []string{"any", "count", "depth", "list", "name", "notag", "opts", "plain", "ratio", "shared", "small", "upper", "wait", "when"}
	if got := s.Keys(); !reflect.DeepEqual(got, wantKeys) {
		t.Errorf("Keys() = %v, want %v", got, wantKeys)
	}
	got := decodeTarget{Name: "default", Ignored: "kept"}
	if err := s.Decode(&got); err != nil {
		t.Fatalf("Decode: %v", err)
	}
	seven := 7
	want := decodeTarget{
		embedded:  embedded{Shared: "s"},
		InlinePtr: &InlinePtr{Depth: 3},
		Plain:     embedded{Shared: "p"},
		Name:      "n",
		Count:     &seven,
		Ratio:     0.5,
		Small:     200,
		Any:       map[string]any{"x": []any{1, 2}},
		Upper:     "ABC",
		Wait:      Duration(90 * time.Second),
		When:      time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Opts:      map[string]map[string]string{"a": {"b": "c"}, "d.e": {"f": "g"}},
		List:      [][]int{{1, 2}, {}, {3}},
		Ignored:   "kept",
		NoTag:     "yes",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Decode gave\n%+v\nwant\n%+v", got, want)
	}
}

func TestServerSectionDecodeProblems(t *testing.T) {
	tests := []struct {
		name string
		body string // the keys of servers.sql, in flow style
		want string // the problems, sorted by the order found
	}{
		{"unknown key", `{nome: x}`,
			"servers.sql.nome: unknown key (known: any, count, depth, list, name, notag, opts, plain, ratio, shared, small, upper, wait, when)"},
		{"unknown nested key", `{plain: {shared: a, extra: b}}`,
			"servers.sql.plain.extra: unknown key (known: shared)"},
		{"map key paths", `{opts: {a: {b: [1]}, "x y": {z: {}}}}`,
			"servers.sql.opts.a.b: must be a string, got a list\nservers.sql.opts[\"x y\"].z: must be a string, got a mapping"},
		{"nested list paths", `{list: [[1], [2, x]]}`,
			`servers.sql.list[1][1]: cannot use "x" as an integer`},
		{"out of range", `{small: 300}`,
			`servers.sql.small: cannot use "300" as a non-negative integer: out of range`},
		{"negative unsigned", `{small: -1}`,
			`servers.sql.small: cannot use "-1" as a non-negative integer: out of range`},
		{"float", `{ratio: half}`,
			`servers.sql.ratio: cannot use "half" as a number`},
		{"own unmarshaler error", `{upper: bad}`,
			`servers.sql.upper: upper strings cannot be bad`},
		{"time", `{when: noon}`,
			`servers.sql.when: parsing time "noon" as "2006-01-02T15:04:05Z07:00": cannot parse "noon" as "2006"`},
		{"pointer", `{count: many}`,
			`servers.sql.count: cannot use "many" as an integer`},
		{"many at once", `{name: [a], count: x, wait: 5, plain: 3}`,
			"servers.sql.name: must be a string, got a list\nservers.sql.count: cannot use \"x\" as an integer\nservers.sql.wait: invalid duration \"5\": write a number with a unit, such as 30s, 15m or 1h30m\nservers.sql.plain: must be a mapping of keys, got \"3\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := section(t, "servers: {sql: "+tt.body+"}", "sql")
			var v decodeTarget
			if got := joinedStrings(s.Decode(&v)); got != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestServerSectionInlineMap(t *testing.T) {
	s := section(t, "servers: {sql: {name: n, a: 1, b: 2, c: x}}", "sql")
	var v struct {
		Name  string         `yaml:"name"`
		Extra map[string]int `yaml:",inline"`
	}
	err := s.Decode(&v)
	if got, want := joinedStrings(err), `servers.sql.c: cannot use "x" as an integer`; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if v.Name != "n" || v.Extra["a"] != 1 || v.Extra["b"] != 2 {
		t.Errorf("got %+v", v)
	}
}

func TestServerSectionNullsKeepOrClear(t *testing.T) {
	s := section(t, "servers: {sql: {name: ~, count: ~, opts: ~, list: null}}", "sql")
	one := 1
	v := decodeTarget{Name: "default", Count: &one, Opts: map[string]map[string]string{}, List: [][]int{{1}}}
	if err := s.Decode(&v); err != nil {
		t.Fatal(err)
	}
	if v.Name != "default" || v.Count != nil || v.Opts != nil || v.List != nil {
		t.Errorf("got %+v: want name kept, pointer, map and list cleared as yaml.v3 does", v)
	}
}

func TestServerSectionEmpty(t *testing.T) {
	var v struct{ X int }
	var nilSection *ServerSection
	if err := nilSection.Decode(&v); err != nil {
		t.Errorf("nil section: %v", err)
	}
	if keys := nilSection.Keys(); keys != nil {
		t.Errorf("nil section Keys() = %v", keys)
	}
	yes := true
	s := NewServerSection("fetch", &yes)
	if err := s.Decode(&v); err != nil || s.Keys() != nil || !*s.Enabled {
		t.Errorf("NewServerSection: Decode %v, Keys %v, Enabled %v", err, s.Keys(), *s.Enabled)
	}
	for _, doc := range []string{"servers: {fetch: {enabled: true}}", "servers: {fetch: {}}", "servers: {fetch: }"} {
		s := section(t, doc, "fetch")
		if err := s.Decode(&v); err != nil || s.Keys() != nil {
			t.Errorf("%s: Decode %v, Keys %v", doc, err, s.Keys())
		}
	}
	if err := s.Decode(v); err == nil || !strings.Contains(err.Error(), "non-nil pointer") {
		t.Errorf("Decode(non-pointer) = %v, want an error", err)
	}
}

func TestServerSectionEnvValuesNotQuoted(t *testing.T) {
	t.Setenv("MCPHUB_TEST_SECRET", "hunter2-hunter2-hunter2")
	s := section(t, "servers: {sql: {count: \"${MCPHUB_TEST_SECRET}\", name: \"${MCPHUB_TEST_SECRET}\"}}", "sql")
	var v decodeTarget
	err := s.Decode(&v)
	if got, want := joinedStrings(err), "servers.sql.count: cannot use the value from the environment as an integer"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if v.Name != "hunter2-hunter2-hunter2" {
		t.Errorf("name = %q", v.Name)
	}
}

func TestDecodeAliases(t *testing.T) {
	type loop struct {
		Name string `yaml:"name"`
		Next *loop  `yaml:"next"`
	}
	t.Run("cycle", func(t *testing.T) {
		s := section(t, "servers: {sql: {loop: &x {name: a, next: *x}}}", "sql")
		var v struct {
			Loop loop `yaml:"loop"`
		}
		got := joinedStrings(s.Decode(&v))
		if want := "servers.sql.loop.next.next: alias *x refers to a node that contains it"; got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	})
	t.Run("merge cycle", func(t *testing.T) {
		cfg, err := Parse([]byte("http: &x {<<: *x}\n"))
		if got, want := joinedStrings(err), "http: alias *x refers to a node that contains it"; got != want {
			t.Errorf("got %q, want %q", got, want)
		}
		if cfg == nil {
			t.Error("no config returned")
		}
	})
	t.Run("merge of a scalar", func(t *testing.T) {
		_, err := Parse([]byte("http: {<<: 3}\nlimits: {<<: [{tool_timeout: 1s}, 4]}\n"))
		want := "http: a merge key (<<) takes a mapping or a list of mappings, got \"3\"\n" +
			"limits: a merge key (<<) takes a mapping or a list of mappings, got a list holding \"4\""
		if got := joinedStrings(err); got != want {
			t.Errorf("got\n%s\nwant\n%s", got, want)
		}
	})
	t.Run("billion laughs", func(t *testing.T) {
		var b strings.Builder
		b.WriteString("servers:\n  sql:\n    a0: &a0 {k0: ~, k1: ~, k2: ~, k3: ~, k4: ~, k5: ~, k6: ~, k7: ~, k8: ~, k9: ~}\n")
		for i := 1; i < 10; i++ {
			fmt.Fprintf(&b, "    a%d: &a%d {", i, i)
			for k := range 10 {
				fmt.Fprintf(&b, "k%d: *a%d, ", k, i-1)
			}
			b.WriteString("}\n")
		}
		s := section(t, b.String(), "sql")
		var v tree
		got := joinedStrings(s.Decode(&v))
		if !strings.Contains(got, "too many aliases") {
			t.Errorf("got %q, want a problem about aliases", got)
		}
	})
}

// tree is a recursive type, so that the decoder walks every alias expansion itself.
type tree map[string]tree

func TestDecodeDuplicateKeysInSection(t *testing.T) {
	_, err := Parse([]byte("servers:\n  sql:\n    name: a\n    name: b\n    enabled: true\n    enabled: false\n"))
	want := "servers.sql.name: duplicate key (first at line 3, again at line 4)\n" +
		"servers.sql.enabled: duplicate key (first at line 5, again at line 6)"
	if got := joinedStrings(err); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestServerSectionConcurrentDecode(t *testing.T) {
	s := section(t, "servers: {sql: {name: n, list: [[1]], opts: {a: {b: c}}}}", "sql")
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var v decodeTarget
			if err := s.Decode(&v); err != nil || v.Name != "n" {
				t.Errorf("Decode: %v, %+v", err, v)
			}
		}()
	}
	wg.Wait()
}

func TestProblemError(t *testing.T) {
	if got := (&Problem{Path: "a.b", Msg: "bad"}).Error(); got != "a.b: bad" {
		t.Errorf("got %q", got)
	}
	if got := (&Problem{Msg: "bad"}).Error(); got != "bad" {
		t.Errorf("got %q", got)
	}
}

func TestProblemsCapped(t *testing.T) {
	var b strings.Builder
	b.WriteString("http:\n  allowed_origins:\n")
	for range 150 {
		b.WriteString("    - ftp://x\n")
	}
	_, err := Parse([]byte(b.String()))
	probs := problemStrings(err)
	if len(probs) != maxProblems+1 || probs[maxProblems] != "50 more problems not shown" {
		t.Errorf("got %d problems, last %q", len(probs), probs[len(probs)-1])
	}
}
