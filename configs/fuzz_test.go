package configs

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"go.yaml.in/yaml/v3"
)

// FuzzParse checks that no input makes Parse, Validate or a section's Decode panic, and that
// what Parse returns is consistent.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*/*.yaml")
	files = append(files, examplePath)
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{
		"", "~", "---\n", "[]", "a: &a [*a]", "http: &x {<<: *x}", "servers: {a: &s {b: *s}}",
		"listen: ${X", "servers: {sql: {<<: [{a: 1}, {b: 2}]}}", "? [a]\n: b\n", "!!binary aGk=",
		"servers: {sql: !!str x}", "http: {max_body_bytes: !!float 1e3}", "log: {level: &l info}\nlisten: *l",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(data)
		if cfg == nil {
			if err == nil {
				t.Fatal("nil config without an error")
			}
			return
		}
		for _, e := range unjoin(err) {
			var p *Problem
			if !errors.As(e, &p) {
				t.Fatalf("%v is not a *Problem", e)
			}
		}
		if verr := cfg.Validate(); err == nil && verr != nil {
			t.Fatalf("Parse gave no problem, Validate gave %v", verr)
		}
		for _, s := range cfg.Servers {
			if s == nil {
				t.Fatal("nil server section")
			}
			_ = s.Keys()
			_ = s.Decode(new(decodeTarget))
			_ = s.Decode(new(testSQLSection))
			_ = s.Decode(new(map[string]any))
			_ = s.Decode(new(tree))
		}
		if _, err := yaml.Marshal(cfg); err != nil {
			t.Fatalf("marshalling the config: %v", err)
		}
	})
}
