package transport

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/server"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mcphub/mcphub/configs"
	"github.com/mcphub/mcphub/internal/mcpload"
	"github.com/mcphub/mcphub/servers/registry"
)

// BenchmarkServerSide measures the server's own CPU per tools/call, with no network and no
// client in the way: the full hub handler against a bare mcp-go handler, in the same run.
func BenchmarkServerSide(b *testing.B) {
	ctx := context.Background()
	cfg := configs.Default()
	logger := slog.New(slog.NewJSONHandler(io.Discard, nil)) //nolint:sloglint // formatting is part of the cost
	reg := prometheus.NewRegistry()
	hub, err := registry.Build(ctx, registry.Options{Config: cfg, Catalog: benchCatalog, Logger: logger, Metrics: registry.NewMetrics(reg)})
	if err != nil {
		b.Fatal(err)
	}
	hubHTTP := NewHTTP(Options{Config: cfg, Hub: hub, Logger: logger, Version: "bench", Registry: reg})
	bare := server.NewMCPServer("bare", "bench")
	bare.AddTool(benchEchoDef(), benchEchoHandler)
	bareHTTP := server.NewStreamableHTTPServer(bare)
	b.Cleanup(func() {
		hubHTTP.Close(ctx)
		_ = bareHTTP.Shutdown(ctx)
		_ = hub.Close(ctx)
	})
	sides := []struct {
		name string
		h    http.Handler
		path string
	}{{"hub", hubHTTP.Handler(), "/mcp/bench"}, {"bare", bareHTTP, "/mcp"}}

	for _, proto := range []string{mcpload.Modern, mcpload.Legacy} {
		for _, side := range sides {
			b.Run(side.name+"/"+proto, func(b *testing.B) {
				header := http.Header{"Content-Type": {"application/json"}, "Accept": {"application/json, text/event-stream"}}
				body := `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"bench_echo","arguments":{"text":"hello"}}}`
				if proto == mcpload.Modern {
					header.Set("MCP-Protocol-Version", proto)
					header.Set("Mcp-Method", "tools/call")
					header.Set("Mcp-Name", "bench_echo")
					body = `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"bench_echo","arguments":{"text":"hello"},` +
						`"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}`
				} else {
					w := serve(side.h, side.path, header, `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"b","version":"1"}}}`)
					header.Set("Mcp-Session-Id", w.Header().Get("Mcp-Session-Id"))
					header.Set("MCP-Protocol-Version", proto)
					serve(side.h, side.path, header, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
				}
				b.ReportAllocs()
				for b.Loop() {
					w := serve(side.h, side.path, header, body)
					if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"text":"hello"`) {
						b.Fatalf("%d %s", w.Code, w.Body)
					}
				}
			})
		}
	}
}

func serve(h http.Handler, path string, header http.Header, body string) *httptest.ResponseRecorder {
	r := httptest.NewRequestWithContext(context.Background(), http.MethodPost, path, strings.NewReader(body))
	r.Host = "127.0.0.1:8080"
	r.Header = header.Clone()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}
