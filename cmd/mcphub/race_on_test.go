//go:build race

package main

// raceEnabled makes the integration tests build the binary with the race detector too, so that
// `go test -race` checks the real process, not only the test.
const raceEnabled = true
