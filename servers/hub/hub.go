// Package hub is the server that tells an agent about the hub itself: which servers run, whether
// each is ready, why not, and which tools each offers. It lets an agent explain a missing
// capability ("the browser is not ready: Chromium is not installed") instead of guessing.
package hub

import (
	"context"
	"fmt"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/mcphub/mcphub/servers/registry"
)

// Server is the hub server.
type Server struct {
	hub *registry.Hub
}

var (
	_ registry.Server      = (*Server)(nil)
	_ registry.Provisioner = (*Server)(nil)
)

// New returns the hub server.
func New() registry.Server { return &Server{} }

// Provision keeps the hub to report on.
func (s *Server) Provision(_ context.Context, env registry.Env) error {
	s.hub = env.Hub
	return nil
}

// Tools returns the hub server's tools.
func (s *Server) Tools() []registry.Tool {
	return []registry.Tool{s.listServersTool()}
}

// listServersResult is the structured output of hub_list_servers.
type listServersResult struct {
	Servers []registry.ServerStatus `json:"servers" jsonschema_description:"Every server this hub runs, with its tools and readiness."`
}

func (s *Server) listServersTool() registry.Tool {
	return registry.Tool{
		Def: mcp.NewTool("hub_list_servers",
			mcp.WithTitleAnnotation("List the hub's servers"),
			mcp.WithDescription("Lists the servers this mcphub runs, the tools each offers, and whether each is ready; "+
				"for a server that is not ready, the reason and how an operator can fix it."),
			mcp.WithOutputSchema[listServersResult](),
		),
		Hints: &registry.Hints{ReadOnly: true, Idempotent: true},
		Handler: func(ctx context.Context, _ mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			res := listServersResult{Servers: s.hub.Status(ctx)}
			var b strings.Builder
			for _, st := range res.Servers {
				state := "ready"
				if !st.Ready {
					state = fmt.Sprintf("NOT READY: %s (fix: %s)", st.Reason, st.Fix)
				}
				fmt.Fprintf(&b, "%s: %s\n  tools: %s\n", st.Name, state, strings.Join(st.Tools, ", "))
			}
			return mcp.NewToolResultStructured(res, b.String()), nil
		},
	}
}
