package configs

import (
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

func fakeEnv(vars map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	}
}

func TestExpandEnv(t *testing.T) {
	env := fakeEnv(map[string]string{
		"KEY":   "s3cr3t",
		"EMPTY": "",
		"PORT":  "8080",
		"YAML":  "a: [b]\n- c",
		"REF":   "${KEY}",
	})
	tests := []struct {
		in       string
		want     string
		replaced bool
		fromEnv  bool
		problems []string
	}{
		{in: "", want: ""},
		{in: "plain", want: "plain"},
		{in: "${KEY}", want: "s3cr3t", replaced: true, fromEnv: true},
		{in: "a-${KEY}-b", want: "a-s3cr3t-b", replaced: true, fromEnv: true},
		{in: "${PORT}${PORT}", want: "80808080", replaced: true, fromEnv: true},
		{in: "${YAML}", want: "a: [b]\n- c", replaced: true, fromEnv: true},
		{in: "${REF}", want: "${KEY}", replaced: true, fromEnv: true},
		{in: "${EMPTY}", want: "", replaced: true, fromEnv: true},
		{in: "${EMPTY:-dflt}", want: "dflt", replaced: true},
		{in: "${UNSET:-dflt}", want: "dflt", replaced: true},
		{in: "${UNSET:-}", want: "", replaced: true},
		{in: "${UNSET:-a:-b}", want: "a:-b", replaced: true},
		{in: "${KEY:-dflt}", want: "s3cr3t", replaced: true, fromEnv: true},
		{in: "$$", want: "$"},
		{in: "$${KEY}", want: "${KEY}"},
		{in: "$$$${KEY}", want: "$${KEY}"},
		{in: "$$${KEY}", want: "$s3cr3t", replaced: true, fromEnv: true},
		{in: "$", want: "$"},
		{in: "5$", want: "5$"},
		{in: "$HOME", want: "$HOME"},
		{in: "a$b$", want: "a$b$"},
		{in: "é${PORT}é", want: "é8080é", replaced: true, fromEnv: true},
		{in: "${UNSET}", want: "", problems: []string{"environment variable UNSET is not set"}},
		{in: "x${UNSET}y${KEY}", want: "xys3cr3t", replaced: true, fromEnv: true, problems: []string{"environment variable UNSET is not set"}},
		{in: "${A}${B}", want: "", problems: []string{"environment variable A is not set", "environment variable B is not set"}},
		{in: "${KEY", want: "", problems: []string{`unterminated "${": close it with "}", or write "$${" for a literal "${"`}},
		{in: "${}", want: "", problems: []string{`invalid reference "${}": write ${NAME} or ${NAME:-default}, where NAME is letters, digits and _ and default holds no reference`}},
		{in: "${1A}", want: "", problems: []string{`invalid reference "${1A}": write ${NAME} or ${NAME:-default}, where NAME is letters, digits and _ and default holds no reference`}},
		{in: "${A-B}", want: "", problems: []string{`invalid reference "${A-B}": write ${NAME} or ${NAME:-default}, where NAME is letters, digits and _ and default holds no reference`}},
		{in: "${A:-${B}}", want: "}", problems: []string{`invalid reference "${A:-${B}": write ${NAME} or ${NAME:-default}, where NAME is letters, digits and _ and default holds no reference`}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got := expandEnv(tt.in, env)
			want := expansion{value: tt.want, replaced: tt.replaced, fromEnv: tt.fromEnv, problems: tt.problems}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("expandEnv(%q)\n got %+v\nwant %+v", tt.in, got, want)
			}
		})
	}
}

func FuzzExpandEnv(f *testing.F) {
	for _, s := range []string{"", "$", "$$", "${A}", "${A:-b}", "${", "${A", "x${B}y", "$${A}", "${A:-${B}}", "é$", "${UNSET}"} {
		f.Add(s)
	}
	env := fakeEnv(map[string]string{"A": "alpha", "B": "", "C": "${A}$$"})
	f.Fuzz(func(t *testing.T, s string) {
		e := expandEnv(s, env)
		if !strings.Contains(s, "$") && (e.value != s || e.replaced || len(e.problems) > 0) {
			t.Fatalf("expandEnv(%q) = %+v, want it unchanged", s, e)
		}
		// Escaping every "$" must give back the input, whatever it holds.
		esc := expandEnv(strings.ReplaceAll(s, "$", "$$"), env)
		if esc.value != s || esc.replaced || len(esc.problems) > 0 {
			t.Fatalf("expandEnv(escaped %q) = %+v, want the input back", s, esc)
		}
		if utf8.ValidString(s) && !utf8.ValidString(e.value) {
			t.Fatalf("expandEnv(%q) = %q: not valid UTF-8", s, e.value)
		}
		if e.fromEnv && !e.replaced {
			t.Fatalf("expandEnv(%q) = %+v: fromEnv without replaced", s, e)
		}
	})
}
