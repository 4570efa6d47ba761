// Package registrytest is the harness every server's tests run: the build-time checks on its
// tools, a strict input schema on each, and golden snapshots of the tool definitions as served
// (__toolsnaps__/<tool>.json next to the test), so that a change to a tool's contract shows up
// in review. Set UPDATE_TOOLSNAPS=1 to rewrite the snapshots; a missing snapshot is written
// locally but fails under CI=true.
package registrytest

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/mcphub/mcphub/servers/registry"
)

// Conformance runs the checks every server must pass. New must have no side effects, so it is
// called freely here.
func Conformance(t *testing.T, f registry.Factory) {
	t.Helper()
	if err := registry.CheckCatalog([]registry.Factory{f}); err != nil {
		t.Fatalf("build-time checks: %v", err)
	}
	tools := f.New().Tools()
	if len(tools) == 0 {
		t.Fatalf("server %s declares no tools", f.Name)
	}
	for _, tool := range tools {
		def := registry.ServedDefinition(tool)
		raw, err := json.Marshal(def)
		if err != nil {
			t.Fatalf("%s: encoding the definition: %v", def.Name, err)
		}
		var schema struct {
			InputSchema struct {
				Type                 string `json:"type"`
				AdditionalProperties *bool  `json:"additionalProperties"`
			} `json:"inputSchema"`
			Annotations map[string]any `json:"annotations"`
		}
		if err := json.Unmarshal(raw, &schema); err != nil {
			t.Fatalf("%s: %v", def.Name, err)
		}
		if schema.InputSchema.Type != "object" {
			t.Errorf("%s: input schema type %q, want object", def.Name, schema.InputSchema.Type)
		}
		if ap := schema.InputSchema.AdditionalProperties; ap == nil || *ap {
			t.Errorf("%s: input schema must reject unknown fields (additionalProperties: false)", def.Name)
		}
		for _, hint := range []string{"readOnlyHint", "destructiveHint", "idempotentHint", "openWorldHint"} {
			if _, ok := schema.Annotations[hint]; !ok {
				t.Errorf("%s: annotation %s not declared", def.Name, hint)
			}
		}
	}
}

// ToolSnapshots compares each tool's served definition with __toolsnaps__/<tool>.json.
func ToolSnapshots(t *testing.T, f registry.Factory) {
	t.Helper()
	update, _ := strconv.ParseBool(os.Getenv("UPDATE_TOOLSNAPS"))
	inCI, _ := strconv.ParseBool(os.Getenv("CI"))
	for _, tool := range f.New().Tools() {
		def := registry.ServedDefinition(tool)
		got, err := json.MarshalIndent(def, "", "  ")
		if err != nil {
			t.Fatalf("%s: %v", def.Name, err)
		}
		got = append(got, '\n')
		path := filepath.Join("__toolsnaps__", def.Name+".json")
		want, err := os.ReadFile(path) //nolint:gosec // G304: the path is built from the tool name under __toolsnaps__
		switch {
		case update || (os.IsNotExist(err) && !inCI):
			if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, got, 0o600); err != nil {
				t.Fatal(err)
			}
			if !update {
				t.Logf("wrote the missing snapshot %s: commit it", path)
			}
		case os.IsNotExist(err):
			t.Errorf("%s: no snapshot %s; run the test with UPDATE_TOOLSNAPS=1 and commit it", def.Name, path)
		case err != nil:
			t.Fatal(err)
		case !bytes.Equal(got, want):
			t.Errorf("%s: the served definition differs from %s (if intended, rerun with UPDATE_TOOLSNAPS=1):\n got: %s\nwant: %s",
				def.Name, path, got, want)
		}
	}
}
