// Package testkit is a server of test tools: echo, a slow tool with progress that stops when
// cancelled, a tool that panics, and one that returns as many bytes as asked. It is compiled only
// into test builds of the binary (build tag mcphubtest, cmd/mcphub/catalog_testkit.go), for the
// integration tests that drive the real binary from outside; no release binary contains it.
package testkit

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/mcphub/mcphub/configs"
	"github.com/mcphub/mcphub/servers/registry"
)

// Config is servers.testkit.
type Config struct {
	// NotReadyReason, when set, makes the server report itself not ready with this reason, so
	// tests can see /readyz name it. The default is empty: ready.
	NotReadyReason string `yaml:"not_ready_reason"`
}

// Server is the test server.
type Server struct {
	cfg Config
}

var (
	_ registry.ConfigDecoder     = (*Server)(nil)
	_ registry.ReadinessReporter = (*Server)(nil)
)

// New returns the test server.
func New() registry.Server { return &Server{} }

// DecodeConfig decodes servers.testkit.
func (s *Server) DecodeConfig(section *configs.ServerSection) error {
	return section.Decode(&s.cfg)
}

// Readiness is not ready when the config says so.
func (s *Server) Readiness(context.Context) registry.Readiness {
	if s.cfg.NotReadyReason != "" {
		return registry.NotReady(s.cfg.NotReadyReason, "unset servers.testkit.not_ready_reason")
	}
	return registry.Ready()
}

// Tools returns the test tools.
func (s *Server) Tools() []registry.Tool {
	return []registry.Tool{echoTool(), slowTool(), panicTool(), bigTool()}
}

type echoResult struct {
	Text string `json:"text"`
}

func echoTool() registry.Tool {
	return registry.Tool{
		Def: mcp.NewTool("testkit_echo",
			mcp.WithDescription("Returns its text."),
			mcp.WithString("text", mcp.Required(), mcp.Description("Text to return."), mcp.MaxLength(1<<20)),
			mcp.WithOutputSchema[echoResult](),
		),
		Hints: &registry.Hints{ReadOnly: true, Idempotent: true},
		Handler: func(_ context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			text := req.GetString("text", "")
			return mcp.NewToolResultStructured(echoResult{Text: text}, text), nil
		},
	}
}

func slowTool() registry.Tool {
	return registry.Tool{
		Def: mcp.NewTool("testkit_slow",
			mcp.WithDescription("Sleeps steps times step_ms milliseconds, sending a progress notification per step; stops when cancelled."),
			mcp.WithNumber("steps", mcp.Required(), mcp.Min(1), mcp.Max(10000)),
			mcp.WithNumber("step_ms", mcp.Min(0), mcp.Max(60000), mcp.DefaultNumber(100)),
		),
		Hints:   &registry.Hints{ReadOnly: true, Idempotent: true},
		Timeout: 10 * time.Minute,
		Handler: func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			steps := req.GetInt("steps", 1)
			step := time.Duration(req.GetInt("step_ms", 100)) * time.Millisecond
			t := time.NewTicker(max(step, time.Millisecond))
			defer t.Stop()
			for i := 1; i <= steps; i++ {
				select {
				case <-ctx.Done():
					return mcp.NewToolResultError(fmt.Sprintf("stopped at step %d of %d: %v", i, steps, ctx.Err())), nil
				case <-t.C:
				}
				registry.Progress(ctx, req, float64(i), float64(steps), fmt.Sprintf("step %d of %d", i, steps))
			}
			return mcp.NewToolResultText(fmt.Sprintf("done: %d steps", steps)), nil
		},
	}
}

func panicTool() registry.Tool {
	return registry.Tool{
		Def:   mcp.NewTool("testkit_panic", mcp.WithDescription("Panics, to test recovery.")),
		Hints: &registry.Hints{ReadOnly: true, Idempotent: true},
		Handler: func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			panic("testkit_panic was called")
		},
	}
}

func bigTool() registry.Tool {
	return registry.Tool{
		Def: mcp.NewTool("testkit_big",
			mcp.WithDescription("Returns a text of the given number of bytes, to test the output budget."),
			mcp.WithNumber("bytes", mcp.Required(), mcp.Min(0), mcp.Max(64<<20)),
		),
		Hints:        &registry.Hints{ReadOnly: true, Idempotent: true},
		OutputBudget: 4096,
		MoreHint:     "call again with fewer bytes",
		Handler: func(_ context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return mcp.NewToolResultText(strings.Repeat("x", req.GetInt("bytes", 0))), nil
		},
	}
}
