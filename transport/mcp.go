package transport

import (
	"bytes"
	"context"
	"io"
	"net/http"

	"github.com/mark3labs/mcp-go/mcp"
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
	// Resources and prompts are announced only when a server has some: a client then sees
	// exactly what it can use. Their lists are fixed too, so no listChanged or subscriptions.
	var resources, prompts, subscribe, complete bool
	for _, in := range instances {
		resources = resources || len(in.ServerResources()) > 0 || len(in.ServerResourceTemplates()) > 0
		prompts = prompts || len(in.ServerPrompts()) > 0
		subscribe = subscribe || in.Subscribable()
		complete = complete || in.HasCompleter()
	}
	if resources {
		opts = append(opts, server.WithResourceCapabilities(subscribe, false))
	}
	if prompts {
		opts = append(opts, server.WithPromptCapabilities(false))
	}
	if complete {
		c := completer(instances)
		opts = append(opts, server.WithCompletions(), server.WithPromptCompletionProvider(c), server.WithResourceCompletionProvider(c))
	}
	s := server.NewMCPServer(name, version, opts...)
	for _, in := range instances {
		if tools := in.ServerTools(); len(tools) > 0 {
			s.AddTools(tools...)
		}
		if rs := in.ServerResources(); len(rs) > 0 {
			s.AddResources(rs...)
		}
		if ts := in.ServerResourceTemplates(); len(ts) > 0 {
			s.AddResourceTemplates(ts...)
		}
		if ps := in.ServerPrompts(); len(ps) > 0 {
			s.AddPrompts(ps...)
		}
	}
	return s
}

// mcp-go v1.2.1 answers every error a resource handler returns with -32603 (handlerError), so a
// template whose handler finds no such resource could not answer "Resource not found" with the
// code the spec gives it. The registry's read middleware marks those errors with a fixed message
// prefix; the transports rewrite the code of exactly those errors in the bytes they send. The
// codes have the same length, so a Content-Length stays right and a write is rewritten in place.
var (
	notFoundLegacyFrom = []byte(`"code":-32603,"message":"` + registry.ResourceNotFoundMessage)
	notFoundLegacyTo   = []byte(`"code":-32002,"message":"` + registry.ResourceNotFoundMessage)
	notFoundModernFrom = []byte(`"code":-32603,"message":"` + registry.ResourceNotFoundModernMessage)
	notFoundModernTo   = []byte(`"code":-32602,"message":"` + registry.ResourceNotFoundModernMessage)
)

// rewriteNotFound fixes the code of not-found errors in p, in place; it reports whether it did.
func rewriteNotFound(p []byte) bool {
	changed := false
	for _, r := range [...]struct{ from, to []byte }{{notFoundLegacyFrom, notFoundLegacyTo}, {notFoundModernFrom, notFoundModernTo}} {
		for i := 0; ; {
			j := bytes.Index(p[i:], r.from)
			if j < 0 {
				break
			}
			copy(p[i+j:], r.to)
			i += j + len(r.from)
			changed = true
		}
	}
	return changed
}

// notFoundWriter rewrites the responses to a POST that carries resources/read. It holds the
// status back until the first write: a 2026-07-28 not-found answer is HTTP 400, as mcp-go sends
// for the errors it raises itself (httpStatusForJSONRPCError).
type notFoundWriter struct {
	http.ResponseWriter
	status int // held back by WriteHeader; 0 when none is pending
	sent   bool
}

func (w *notFoundWriter) WriteHeader(status int) {
	if w.sent || w.status != 0 {
		return
	}
	w.status = status
}

func (w *notFoundWriter) sendHeader(p []byte) {
	if w.sent {
		return
	}
	w.sent = true
	status := w.status
	if status == 0 {
		status = http.StatusOK
	}
	if status == http.StatusOK && bytes.Contains(p, notFoundModernFrom) && !bytes.HasPrefix(p, []byte("event:")) && !bytes.HasPrefix(p, []byte("data:")) {
		status = http.StatusBadRequest
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *notFoundWriter) Write(p []byte) (int, error) {
	w.sendHeader(p)
	if bytes.Contains(p, notFoundMarker) {
		// The caller's buffer is not ours to change.
		q := bytes.Clone(p)
		rewriteNotFound(q)
		return w.ResponseWriter.Write(q)
	}
	return w.ResponseWriter.Write(p)
}

// Flush keeps SSE responses streaming through the wrapper.
func (w *notFoundWriter) Flush() {
	w.sendHeader(nil)
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection (read deadlines).
func (w *notFoundWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// notFoundMarker is common to both prefixes; a write without it is passed through untouched.
var notFoundMarker = []byte(`"code":-32603,"message":"Resource not found`)

var resourcesReadMethod = []byte(`"resources/read"`)

// fixNotFound wraps the response writer of MCP POSTs carrying resources/read (readBody has made the
// body re-readable); every other request goes through untouched, at the cost of one bytes search.
func fixNotFound(body []byte, w http.ResponseWriter) http.ResponseWriter {
	if !bytes.Contains(body, resourcesReadMethod) {
		return w
	}
	return &notFoundWriter{ResponseWriter: w}
}

// notFoundStdioWriter rewrites stdio output, where every response is one Write of a line.
type notFoundStdioWriter struct{ w io.Writer }

func (s notFoundStdioWriter) Write(p []byte) (int, error) {
	if bytes.Contains(p, notFoundMarker) {
		q := bytes.Clone(p)
		rewriteNotFound(q)
		return s.w.Write(q)
	}
	return s.w.Write(p)
}

// completer sends a completion/complete to the server that declared the prompt or template.
type completer []*registry.Instance

func (c completer) CompletePromptArgument(ctx context.Context, prompt string, arg mcp.CompleteArgument, cc mcp.CompleteContext) (*mcp.Completion, error) {
	for _, in := range c {
		if res, ok, err := in.CompletePrompt(ctx, prompt, arg, cc); ok {
			return res, err
		}
	}
	return &mcp.Completion{Values: []string{}}, nil
}

func (c completer) CompleteResourceArgument(ctx context.Context, uri string, arg mcp.CompleteArgument, cc mcp.CompleteContext) (*mcp.Completion, error) {
	for _, in := range c {
		if res, ok, err := in.CompleteResource(ctx, uri, arg, cc); ok {
			return res, err
		}
	}
	return &mcp.Completion{Values: []string{}}, nil
}
