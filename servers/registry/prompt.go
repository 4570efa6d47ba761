package registry

import (
	"context"
	"fmt"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

// Prompt is one prompt of a server: its definition (name, description, arguments) and the
// handler that renders it. A Go error from the handler reaches the client as an internal error;
// missing or bad arguments are best returned as an error naming the argument.
type Prompt struct {
	Def     mcp.Prompt
	Handler func(ctx context.Context, req mcp.GetPromptRequest) (*mcp.GetPromptResult, error)
}

// PromptProvider is an optional interface of a Server. The hub asks for the list once, after
// Provision, and serves it on /mcp, /mcp/{server} and stdio.
type PromptProvider interface {
	Prompts() []Prompt
}

// wrapPrompt returns the handler mcp-go calls for a prompt of the server: the same middleware as
// resource reads.
func (rw *readWrapper) wrapPrompt(handler func(context.Context, mcp.GetPromptRequest) (*mcp.GetPromptResult, error)) server.PromptHandlerFunc {
	return func(ctx context.Context, req mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
		start := time.Now()
		res, ro := guardedRun(ctx, rw, func(ctx context.Context) (*mcp.GetPromptResult, error) {
			return handler(ctx, req)
		})
		err, outcome, detail := ro.err, ro.outcome, ro.detail
		name := req.Params.Name
		switch {
		case outcome == OutcomeOK && res == nil:
			outcome, detail = OutcomeInternal, "nil result"
			err = fmt.Errorf("internal error: prompt %s returned no result", name)
		case outcome == OutcomeOK:
			if n := promptSize(res); n > rw.maxBytes {
				outcome, res = OutcomeTooLarge, nil
				err = fmt.Errorf("prompt %s is %d bytes, more than the %d bytes one get may return", name, n, rw.maxBytes)
			}
		case outcome != "":
		default:
			outcome, detail = OutcomeInternal, err.Error()
			err = fmt.Errorf("prompt %s: %w", name, err)
		}
		rw.finish(ctx, outcome, detail, name, start)
		if err != nil {
			return nil, err
		}
		return res, nil
	}
}

func promptSize(res *mcp.GetPromptResult) int {
	n := len(res.Description)
	for _, m := range res.Messages {
		switch c := m.Content.(type) {
		case mcp.TextContent:
			n += len(c.Text)
		case mcp.ImageContent:
			n += len(c.Data)
		case mcp.AudioContent:
			n += len(c.Data)
		case mcp.EmbeddedResource:
			n += contentsSize([]mcp.ResourceContents{c.Resource})
		}
	}
	return n
}

// ServerPrompts returns the server's prompts, wrapped in the middleware.
func (in *Instance) ServerPrompts() []server.ServerPrompt {
	if in.extras == nil {
		return nil
	}
	return in.extras.prompts
}
