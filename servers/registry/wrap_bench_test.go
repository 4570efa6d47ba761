package registry

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mcphub/mcphub/configs"
)

// BenchmarkMiddleware measures what the middleware adds to one call, against the bare handler
// in the same run.
func BenchmarkMiddleware(b *testing.B) {
	echo := Tool{
		Def:   mcp.NewTool("bx_echo", mcp.WithDescription("echo"), mcp.WithString("text", mcp.Required())),
		Hints: &Hints{ReadOnly: true, Idempotent: true},
		Handler: func(_ context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return mcp.NewToolResultText(req.GetString("text", "")), nil
		},
	}
	var req mcp.CallToolRequest
	req.Params.Name = "bx_echo"
	req.Params.Arguments = map[string]any{"text": "hello"}
	ctx := context.Background()

	b.Run("bare", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := echo.Handler(ctx, req); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("hub", func(b *testing.B) {
		h, err := Build(ctx, Options{
			Config: configs.Default(), Catalog: []Factory{{Name: "bx", New: func() Server { return &fakeServer{tools: []Tool{echo}} }, DefaultEnabled: true}},
			Metrics: NewMetrics(prometheus.NewRegistry()),
			Logger:  slog.New(slog.NewJSONHandler(io.Discard, nil)), //nolint:sloglint // the line must be formatted, as in production
		})
		if err != nil {
			b.Fatal(err)
		}
		defer func() { _ = h.Close(ctx) }()
		handle := h.Instance("bx").ServerTools()[0].Handler
		b.ReportAllocs()
		for b.Loop() {
			if res, err := handle(ctx, req); err != nil || res.IsError {
				b.Fatal(err, res)
			}
		}
		h.SyncLogs(ctx)
	})
}
