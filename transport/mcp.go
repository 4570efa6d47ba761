package transport

import (
	"context"

	"github.com/mark3labs/mcp-go/server"

	"github.com/mcphub/mcphub/servers/registry"
)

// newMCPServer builds one mcp-go server holding the given hub servers' tools, already wrapped in
// the registry's middleware. onSession, when set, is told of sessions coming and going.
func newMCPServer(name, title, version string, instances []*registry.Instance, onSession func(delta float64)) *server.MCPServer {
	hooks := &server.Hooks{}
	if onSession != nil {
		hooks.AddOnRegisterSession(func(context.Context, server.ClientSession) { onSession(1) })
		hooks.AddOnUnregisterSession(func(context.Context, server.ClientSession) { onSession(-1) })
	}
	// Servers holding per-session state (browser contexts, sandbox sessions) free it when the
	// session ends rather than at their idle TTL.
	hooks.AddOnUnregisterSession(func(_ context.Context, cs server.ClientSession) {
		for _, in := range instances {
			in.SessionEnded(cs.SessionID())
		}
	})
	opts := []server.ServerOption{
		// The tool set is fixed once the hub is built, so there is no list to announce changes of.
		server.WithToolCapabilities(false),
		server.WithLogging(),
		server.WithHooks(hooks),
		// The registry's middleware recovers panics in handlers; this catches anything in between.
		server.WithRecovery(),
	}
	if title != "" {
		opts = append(opts, server.WithTitle(title))
	}
	s := server.NewMCPServer(name, version, opts...)
	for _, in := range instances {
		if tools := in.ServerTools(); len(tools) > 0 {
			s.AddTools(tools...)
		}
	}
	return s
}
