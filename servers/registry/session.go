package registry

import (
	"context"

	"github.com/mark3labs/mcp-go/server"
)

// SessionEnder is implemented by servers that keep per-session state (browser contexts, sandbox
// sessions): the transport tells them when an MCP session ends (DELETE, idle expiry, stdio EOF),
// so that the state goes with it instead of waiting for an idle TTL.
type SessionEnder interface {
	SessionEnded(sessionID string)
}

// SessionID returns the MCP session of the running request, or "" when there is none: stateless
// 2026-07-28 requests and sessionless HTTP carry no session, and servers then rely on explicit
// handles (browser_session, sandbox session ids) instead.
func SessionID(ctx context.Context) string {
	if s := server.ClientSessionFromContext(ctx); s != nil && s.Initialized() {
		return s.SessionID()
	}
	return ""
}

// SessionEnded tells every server that implements SessionEnder that the MCP session id ended.
func (in *Instance) SessionEnded(id string) {
	if id == "" {
		return
	}
	if e, ok := in.srv.(SessionEnder); ok {
		e.SessionEnded(id)
	}
}
