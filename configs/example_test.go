package configs

import (
	"os"
	"reflect"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

const examplePath = "mcphub.example.yaml"

func TestExampleParses(t *testing.T) {
	setTestEnv(t)
	cfg, err := Load(examplePath)
	if err != nil {
		t.Fatalf("the example config has problems:\n%v", err)
	}
	if s := cfg.Servers["hub"]; s == nil || s.Enabled == nil || !*s.Enabled {
		t.Errorf("servers.hub = %+v, want enabled", s)
	}
}

// TestExampleShowsDefaults checks that the example writes each key's real default, except
// the keys whose comment says the example sets something else.
func TestExampleShowsDefaults(t *testing.T) {
	setTestEnv(t)
	cfg, err := Load(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	def := Default()
	for _, c := range []*Config{cfg, def} {
		c.DataDir = ""
		c.Egress.Allow = nil
		c.Auth.APIKeys = nil
		c.Servers = nil
	}
	got, _ := yaml.Marshal(cfg)
	want, _ := yaml.Marshal(def)
	if string(got) != string(want) {
		t.Errorf("the example's values differ from Default():\n--- example\n%s--- Default()\n%s", got, want)
	}
}

// TestExampleDocumentsEveryKey walks Config's yaml tags and checks that the example file
// writes every key, so that a new key cannot go undocumented.
func TestExampleDocumentsEveryKey(t *testing.T) {
	data, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		t.Fatal(err)
	}
	written := map[string]bool{}
	nodePaths(&root, "", written)

	var want []string
	typePaths(reflect.TypeFor[Config](), "", &want)
	if len(want) < 25 {
		t.Fatalf("found only %d key paths in Config: %v", len(want), want)
	}
	for _, pattern := range want {
		found := false
		for p := range written {
			if pathMatches(pattern, p) {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("%s: key not written in %s; document it there with a comment", pattern, examplePath)
		}
	}
}

// typePaths appends the key path of every field reachable from t: "http.max_body_bytes",
// "auth.api_keys[].identity", and "servers.*.enabled" for map entries.
func typePaths(t reflect.Type, prefix string, out *[]string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case decodesItself(t):
		return
	case t.Kind() == reflect.Slice:
		typePaths(t.Elem(), prefix+"[]", out)
	case t.Kind() == reflect.Map:
		typePaths(t.Elem(), prefix+".*", out)
	case t.Kind() == reflect.Struct:
		info := structInfoOf(t)
		for _, key := range info.known {
			p := key
			if prefix != "" {
				p = prefix + "." + key
			}
			*out = append(*out, p)
			typePaths(t.FieldByIndex(info.fields[key]).Type, p, out)
		}
	}
	sort.Strings(*out)
}

// nodePaths records the key path of every key written under n, in typePaths' form.
func nodePaths(n *yaml.Node, prefix string, out map[string]bool) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			nodePaths(c, prefix, out)
		}
	case yaml.SequenceNode:
		for _, c := range n.Content {
			nodePaths(c, prefix+"[]", out)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			p := n.Content[i].Value
			if prefix != "" {
				p = prefix + "." + p
			}
			out[p] = true
			nodePaths(n.Content[i+1], p, out)
		}
	}
}

// pathMatches reports whether path matches pattern, where a "*" segment matches any key.
func pathMatches(pattern, path string) bool {
	ps, xs := strings.Split(pattern, "."), strings.Split(path, ".")
	if len(ps) != len(xs) {
		return false
	}
	for i := range ps {
		if ps[i] != xs[i] && ps[i] != "*" {
			return false
		}
	}
	return true
}
