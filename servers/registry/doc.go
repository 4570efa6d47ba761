// Package registry is how mcphub hosts servers: how a server declares its tools, the lifecycle
// every server goes through, its readiness, and the one middleware that wraps every tool call.
//
// A server is a type with a constructor that has no side effects. The hub drives it through
//
//	New -> DecodeConfig -> Provision -> Validate -> (serve) -> Close
//
// by way of the optional interfaces ConfigDecoder, Provisioner, Validator, ReadinessReporter and
// io.Closer; a server implements only the steps it needs. Its tools come from Tools, each a
// definition and its handler built in one constructor, with annotations set deliberately.
//
// The middleware (Wrap) gives every tool, without the server doing anything: Prometheus metrics,
// panic recovery, argument validation against the input schema, the tool's timeout, a hub-wide
// and per-tool concurrency limit, the output budget, and one structured log line per call with a
// request id. Servers never re-implement these.
//
// To add a server: write a package under servers/ or actuators/ whose New returns a Server, add
// one line to cmd/mcphub/catalog.go, and commit its golden tool snapshots (registrytest).
package registry
