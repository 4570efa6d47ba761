//go:build mcphubtest

package main

import (
	"github.com/mcphub/mcphub/servers/registry"
	"github.com/mcphub/mcphub/servers/testkit"
)

// testServers are compiled into test builds only (go build -tags mcphubtest), for the
// integration tests that drive the real binary.
var testServers = []registry.Factory{
	{Name: "testkit", Title: "Test tools (test builds only)", New: testkit.New},
}
