package configs

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// The test environment of every golden file. Variables named *_UNSET_* are never set.
var testEnv = map[string]string{
	"MCPHUB_DATA":             "/var/lib/mcphub-test",
	"AGENT_A_KEY":             "agent-a-secret-key-0001",
	"AGENT_B_KEY":             "agent-b-secret-key-0002",
	"MCPHUB_TEST_PORT":        "9090",
	"MCPHUB_TEST_MAX_BODY":    "65536",
	"MCPHUB_TEST_TRUE":        "true",
	"MCPHUB_TEST_EMPTY":       "",
	"MCPHUB_TEST_DB_PASSWORD": "db-password-0003",
}

// setTestEnv sets testEnv for the test and unsets every variable whose name has _UNSET_.
func setTestEnv(t testing.TB) {
	t.Helper()
	for k, v := range testEnv {
		t.Setenv(k, v)
	}
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); strings.Contains(name, "_UNSET") {
			t.Setenv(name, "")
			os.Unsetenv(name)
		}
	}
}

// testSQLSection stands for a server's own section type: nested lists, structs and maps.
type testSQLSection struct {
	Sources []testSQLSource   `yaml:"sources"`
	Options map[string]string `yaml:"options"`
	Timeout Duration          `yaml:"timeout"`
}

type testSQLSource struct {
	Name string `yaml:"name"`
	DSN  string `yaml:"dsn"`
	Pool *struct {
		Max int `yaml:"max"`
	} `yaml:"pool,omitempty"`
	Tags []string `yaml:"tags,omitempty"`
}

// testKnowledgeSection has an inlined struct, as a server sharing common keys would.
type testKnowledgeSection struct {
	testCommon  `yaml:",inline"`
	Collections []struct {
		Name  string   `yaml:"name"`
		Paths []string `yaml:"paths"`
	} `yaml:"collections"`
}

type testCommon struct {
	Budget int `yaml:"budget"`
}

// testSections decodes the sections that the golden files exercise, as their servers would.
var testSections = map[string]func() any{
	"sql":       func() any { return &testSQLSection{Timeout: Duration(30e9)} },
	"knowledge": func() any { return &testKnowledgeSection{} },
}

// loadForGolden parses data and decodes the test sections, returning the config, the decoded
// sections and every problem as a string.
func loadForGolden(data []byte) (*Config, map[string]any, []string) {
	cfg, err := Parse(data)
	problems := problemStrings(err)
	decoded := map[string]any{}
	if cfg != nil {
		for name, newSection := range testSections {
			s, ok := cfg.Servers[name]
			if !ok {
				continue
			}
			v := newSection()
			if err := s.Decode(v); err != nil {
				problems = append(problems, problemStrings(err)...)
			}
			decoded[name] = v
		}
	}
	sort.Strings(problems)
	return cfg, decoded, problems
}

// problemStrings returns each problem joined in err, checking that each one is a *Problem.
func problemStrings(err error) []string {
	var out []string
	for _, e := range unjoin(err) {
		var p *Problem
		if !errors.As(e, &p) {
			out = append(out, "NOT A PROBLEM: "+e.Error())
			continue
		}
		out = append(out, p.Error())
	}
	return out
}

func TestGoldenBad(t *testing.T) {
	files, _ := filepath.Glob("testdata/bad/*.yaml")
	if len(files) == 0 {
		t.Fatal("no files in testdata/bad")
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".yaml"), func(t *testing.T) {
			setTestEnv(t)
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			_, _, problems := loadForGolden(data)
			if len(problems) == 0 {
				t.Fatal("no problems reported")
			}
			got := strings.Join(problems, "\n") + "\n"
			for _, secret := range testEnv {
				if len(secret) >= 16 && strings.Contains(got, secret) {
					t.Errorf("a problem shows the secret %q", secret)
				}
			}
			checkGolden(t, strings.TrimSuffix(file, ".yaml")+".golden", got)
		})
	}
}

func TestGoldenGood(t *testing.T) {
	files, _ := filepath.Glob("testdata/good/*.yaml")
	if len(files) == 0 {
		t.Fatal("no files in testdata/good")
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".yaml"), func(t *testing.T) {
			setTestEnv(t)
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			cfg, decoded, problems := loadForGolden(data)
			if len(problems) > 0 {
				t.Fatalf("problems:\n%s", strings.Join(problems, "\n"))
			}
			if err := cfg.Validate(); err != nil {
				t.Fatalf("Validate after Parse: %v", err)
			}
			out, err := yaml.Marshal(struct {
				Config  *Config        `yaml:"config"`
				Decoded map[string]any `yaml:"decoded_sections,omitempty"`
			}{cfg, decoded})
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, strings.TrimSuffix(file, ".yaml")+".golden", string(out))
		})
	}
}

// checkGolden compares got with the golden file, or rewrites it under -update.
func checkGolden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading golden file: %v (run go test ./configs -update to write it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (run go test ./configs -update to accept):\n--- got\n%s--- want\n%s", path, got, want)
	}
}

// unjoin returns the errors joined in err, or err alone.
func unjoin(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
