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

// Completer is an optional interface of a Server with prompts or resource templates whose
// argument values it can suggest (completion/complete). prompt is a prompt's name; uri is a
// resource template's URI template as declared. Return an empty completion for an argument
// without suggestions. The hub calls only the server that declared the prompt or template.
type Completer interface {
	CompletePromptArgument(ctx context.Context, prompt string, arg mcp.CompleteArgument, cc mcp.CompleteContext) (*mcp.Completion, error)
	CompleteResourceArgument(ctx context.Context, uri string, arg mcp.CompleteArgument, cc mcp.CompleteContext) (*mcp.Completion, error)
}

// completionTimeout bounds one completion: it answers a user typing, so it must be quick.
const completionTimeout = 5 * time.Second

// HasCompleter reports whether the server suggests argument values.
func (in *Instance) HasCompleter() bool {
	_, ok := in.srv.(Completer)
	return ok && in.extras != nil
}

// CompletePrompt completes an argument of the named prompt when this server declares it; ok is
// false when it does not, so that the caller asks the next server.
func (in *Instance) CompletePrompt(ctx context.Context, prompt string, arg mcp.CompleteArgument, cc mcp.CompleteContext) (c *mcp.Completion, ok bool, err error) {
	if in.extras == nil {
		return nil, false, nil
	}
	for _, p := range in.extras.prompts {
		if p.Prompt.Name == prompt {
			c, err := in.complete(ctx, func(ctx context.Context, cp Completer) (*mcp.Completion, error) {
				return cp.CompletePromptArgument(ctx, prompt, arg, cc)
			})
			return c, true, err
		}
	}
	return nil, false, nil
}

// CompleteResource completes an argument of the resource template uri (as declared) when this
// server declares it.
func (in *Instance) CompleteResource(ctx context.Context, uri string, arg mcp.CompleteArgument, cc mcp.CompleteContext) (c *mcp.Completion, ok bool, err error) {
	if in.extras == nil {
		return nil, false, nil
	}
	for _, t := range in.extras.templates {
		if t.Template.URITemplate.Raw() == uri {
			c, err := in.complete(ctx, func(ctx context.Context, cp Completer) (*mcp.Completion, error) {
				return cp.CompleteResourceArgument(ctx, uri, arg, cc)
			})
			return c, true, err
		}
	}
	return nil, false, nil
}

// complete runs a completion under a deadline with panic recovery; a server without a Completer
// suggests nothing.
func (in *Instance) complete(ctx context.Context, fn func(context.Context, Completer) (*mcp.Completion, error)) (*mcp.Completion, error) {
	cp, ok := in.srv.(Completer)
	if !ok {
		return &mcp.Completion{Values: []string{}}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, completionTimeout)
	defer cancel()
	type answer struct {
		c   *mcp.Completion
		err error
	}
	done := make(chan answer, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- answer{err: fmt.Errorf("internal error: the completion of server %s crashed: %v", in.Name, p)}
			}
		}()
		c, err := fn(ctx, cp)
		done <- answer{c, err}
	}()
	select {
	case a := <-done:
		if a.err == nil && a.c == nil {
			a.c = &mcp.Completion{Values: []string{}}
		}
		return a.c, a.err
	case <-ctx.Done():
		return nil, fmt.Errorf("the completion did not finish within %s", completionTimeout)
	}
}
