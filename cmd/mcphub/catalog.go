package main

import (
	"github.com/mcphub/mcphub/servers/hub"
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
}

// catalog is what the binary serves: the built-ins, plus the test servers in a test build
// (catalog_testkit.go, build tag mcphubtest). Release builds have none of them.
var catalog = append(builtins[:len(builtins):len(builtins)], testServers...)
