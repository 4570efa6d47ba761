package main

import (
	"context"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/mcphub/mcphub"

// TestLayering keeps the import rules of PRODUCT.md true: imports run one way (cmd -> transport,
// actuators, servers -> registry, sandbox, egress, configs); sandbox/ and egress/ import no MCP
// package; transport/ imports no server package; only the registry and transport import mcp-go's
// server package (and servers/conformance, the official suite's fixture, whose test_* tools
// exercise mcp-go's multi-round-trip, sampling and elicitation builders directly: it tests the
// protocol surface itself and no product code depends on it); nothing imports cmd/.
func TestLayering(t *testing.T) {
	out, err := exec.CommandContext(context.Background(), "go", "list", "-tags", "mcphubtest", "-json=ImportPath,Imports,TestImports,XTestImports", module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	type pkg struct {
		ImportPath                         string
		Imports, TestImports, XTestImports []string
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	var pkgs []pkg
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 5 {
		t.Fatalf("go list found only %d packages", len(pkgs))
	}
	rel := func(path string) string { return strings.TrimPrefix(strings.TrimPrefix(path, module), "/") }
	under := func(path, dir string) bool { r := rel(path); return r == dir || strings.HasPrefix(r, dir+"/") }
	isServerPkg := func(path string) bool {
		return strings.HasPrefix(path, module+"/") && (under(path, "actuators") ||
			(under(path, "servers") && !under(path, "servers/registry")))
	}
	for _, p := range pkgs {
		for _, imp := range p.Imports { // production imports only; tests may reach further
			switch {
			case under(imp, "cmd"):
				t.Errorf("%s imports %s: nothing imports cmd/", p.ImportPath, imp)
			case (under(p.ImportPath, "sandbox") || under(p.ImportPath, "egress") || under(p.ImportPath, "configs")) &&
				(strings.HasPrefix(imp, "github.com/mark3labs/mcp-go") || strings.HasPrefix(imp, "github.com/modelcontextprotocol/")):
				t.Errorf("%s imports the MCP package %s", p.ImportPath, imp)
			case under(p.ImportPath, "transport") && isServerPkg(imp):
				t.Errorf("%s imports the server package %s: transport serves what the registry hands it", p.ImportPath, imp)
			case imp == "github.com/mark3labs/mcp-go/server" && !under(p.ImportPath, "servers/registry") && !under(p.ImportPath, "transport") &&
				!under(p.ImportPath, "servers/conformance"):
				t.Errorf("%s imports mcp-go's server package: only the registry and transport may", p.ImportPath)
			case (isServerPkg(p.ImportPath) || under(p.ImportPath, "servers/registry")) && under(imp, "transport"):
				t.Errorf("%s imports %s: servers sit below the transport", p.ImportPath, imp)
			case (under(p.ImportPath, "sandbox") || under(p.ImportPath, "egress") || under(p.ImportPath, "configs")) &&
				strings.HasPrefix(imp, module+"/") && !under(imp, "configs") && !under(imp, "internal"):
				t.Errorf("%s imports %s: the bottom layer imports only configs", p.ImportPath, imp)
			}
		}
	}
}
