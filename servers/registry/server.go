package registry

import (
	"context"
	"log/slog"

	"github.com/mcphub/mcphub/configs"
)

// Server is one MCP server hosted by the hub. Tools must return the same definitions whenever it
// is called, from right after New on (so that `mcphub list` and the build-time checks can see
// them without provisioning); handlers use the provisioned state when they run.
type Server interface {
	Tools() []Tool
}

// ConfigDecoder is implemented by servers that have their own config section. DecodeConfig
// decodes servers.<name> strictly (section.Decode) and applies the server's defaults; it runs
// before Provision and under `mcphub validate`. A nil section means the config file has none.
type ConfigDecoder interface {
	DecodeConfig(section *configs.ServerSection) error
}

// Provisioner is implemented by servers that set up state (files under their data directory,
// pools, background goroutines). A missing external dependency (no Chromium, no Docker engine)
// is not a provisioning error: it is reported by Readiness, so that the rest of the hub works.
type Provisioner interface {
	Provision(ctx context.Context, env Env) error
}

// Validator is implemented by servers whose decoded configuration has cross-field rules. It runs
// after Provision when serving and without Provision under `mcphub validate`, so it must look
// only at configured values. Problems carry their config path (configs.Problem).
type Validator interface {
	Validate() error
}

// ReadinessReporter is implemented by servers that can be not ready. Readiness must be quick (the
// hub bounds it to a few seconds) and must not start anything heavy.
type ReadinessReporter interface {
	Readiness(ctx context.Context) Readiness
}

// ToolSelector is implemented by servers with tools that their config turns on or off (a write
// tool, JavaScript evaluation, ingestion). Tools still declares every tool, so that the
// build-time checks and the golden snapshots see them all; after DecodeConfig, the hub serves
// only the tools ToolEnabled accepts.
type ToolSelector interface {
	ToolEnabled(name string) bool
}

// Factory is one line of the catalog: a server's name and constructor.
type Factory struct {
	// Name is the server's name: [a-z][a-z0-9]*, the prefix of its tools and its URL path.
	Name string
	// Title is a short human title, shown by `mcphub list` and in the MCP server info.
	Title string
	// DefaultEnabled says whether the server runs when the config does not mention it.
	DefaultEnabled bool
	// FreeToolNames exempts the server's tool names from the <server>_<verb> pattern (they must
	// still be unique across the hub). Only for servers whose names an outside party dictates:
	// the conformance fixture, whose test_* names the official MCP test suite calls.
	FreeToolNames bool
	// New constructs the server without side effects.
	New func() Server
}

// Env is what the hub hands a server at provisioning.
type Env struct {
	// Config is the whole hub configuration (data_dir, egress, limits) for reading only.
	Config *configs.Config
	// DataDir is the server's own directory under data_dir; the server creates it when it needs it.
	DataDir string
	// Logger logs to stderr with the server's name attached.
	Logger *slog.Logger
	// Hub answers questions about the hub itself (the servers it runs and their readiness).
	Hub *Hub
}

// Readiness says whether a server can serve its tools and, when not, why and how to fix it.
type Readiness struct {
	Ready  bool   `json:"ready"`
	Reason string `json:"reason,omitempty"`
	Fix    string `json:"fix,omitempty"`
}

// Ready is the readiness of a server that can serve.
func Ready() Readiness { return Readiness{Ready: true} }

// NotReady is the readiness of a server that cannot serve, with the reason and the fix an
// operator can act on.
func NotReady(reason, fix string) Readiness {
	return Readiness{Reason: reason, Fix: fix}
}
