//go:build !mcphubtest

package main

import "github.com/mcphub/mcphub/servers/registry"

// testServers is empty in release builds: no test server ships.
var testServers []registry.Factory
