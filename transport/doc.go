// Package transport serves the hub's servers to MCP clients: over stdio (one merged MCP server
// for desktop clients) and over streamable HTTP on chi (/mcp for every server, /mcp/{server} for
// one), with the checks every request gets: Host and Origin (DNS rebinding), authentication,
// body and concurrency limits, plus /healthz, /readyz and /metrics, and graceful shutdown.
//
// It imports the registry, never a server package: what it serves comes from registry.Hub.
// Both MCP protocol generations (2026-07-28 stateless, and the session-based revisions up to
// 2025-11-25) are served on the same endpoints; the era is decided per request by mcp-go.
package transport
