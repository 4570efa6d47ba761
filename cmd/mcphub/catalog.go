package main

import (
	"github.com/mcphub/mcphub/actuators/browser"
	"github.com/mcphub/mcphub/actuators/codesandbox"
	"github.com/mcphub/mcphub/servers/conformance"
	"github.com/mcphub/mcphub/servers/fetch"
	"github.com/mcphub/mcphub/servers/hub"
	"github.com/mcphub/mcphub/servers/knowledge"
	"github.com/mcphub/mcphub/servers/memory"
	"github.com/mcphub/mcphub/servers/registry"
	sqlserver "github.com/mcphub/mcphub/servers/sql"
)

// builtins is THE list of servers this binary ships: adding a server is one line here (see
// CONTRIBUTING.md). Order is the order of `mcphub list`, /readyz and tools/list.
var builtins = []registry.Factory{
	{Name: "hub", Title: "The hub itself: servers, tools, readiness", DefaultEnabled: true, New: hub.New},
	{Name: "sql", Title: "Read-only SQL over SQLite and PostgreSQL sources", DefaultEnabled: false, New: sqlserver.New},
	{Name: "memory", Title: "Long-term memory: a knowledge graph per identity", DefaultEnabled: true, New: memory.New},
	// Off unless enabled: it needs collections to index.
	{Name: "knowledge", Title: "Hybrid search over document collections (files, URLs, ingested text)", DefaultEnabled: false, New: knowledge.New},
	{Name: "browser", Title: "A headless Chromium per session: navigate, read, act", DefaultEnabled: false, New: browser.New},
	// On by default: read-only, and the egress policy refuses private, loopback and metadata addresses.
	{Name: "fetch", Title: "Web pages as Markdown or text, egress-guarded", DefaultEnabled: true, New: fetch.New},
	// Off unless enabled: it runs code and needs a Docker Engine and the sandbox image.
	{Name: "sandbox", Title: "Code sandbox: Python, JavaScript and bash in hardened containers", DefaultEnabled: false, New: codesandbox.New},
	// Never on by default: the fixture of the official MCP conformance suite (make conformance),
	// whose test_* names the suite dictates.
	{Name: "conformance", Title: "MCP conformance-suite fixture (make conformance)", DefaultEnabled: false, FreeToolNames: true, New: conformance.New},
}

// catalog is what the binary serves: the built-ins, plus the test servers in a test build
// (catalog_testkit.go, build tag mcphubtest). Release builds have none of them.
var catalog = append(builtins[:len(builtins):len(builtins)], testServers...)
