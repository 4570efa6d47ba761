package registry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
	"github.com/prometheus/client_golang/prometheus"
)

// ResourceHandler reads one resource. Return ErrResourceNotFound (wrapped is fine) for an unknown
// URI: the transport answers JSON-RPC -32002 "Resource not found" (-32602 to 2026-07-28 clients,
// as that revision specifies). Any other error reaches the client as an internal error.
type ResourceHandler func(ctx context.Context, req mcp.ReadResourceRequest) ([]mcp.ResourceContents, error)

// ErrResourceNotFound is what a ResourceHandler returns for a URI it does not know.
var ErrResourceNotFound = errors.New("resource not found")

// Resource is one fixed resource of a server: its definition (uri, name, description, mimeType)
// and the handler that reads it.
type Resource struct {
	Def     mcp.Resource
	Handler ResourceHandler
}

// ResourceTemplate is a family of resources under one URI template, e.g.
// "kb://{collection}/{path*}"; the template's variables arrive in req.Params.Arguments.
type ResourceTemplate struct {
	Def     mcp.ResourceTemplate
	Handler ResourceHandler
}

// ResourceProvider is an optional interface of a Server. The hub asks for the lists once, after
// Provision (so they may depend on the config), and serves them on /mcp, /mcp/{server} and stdio.
type ResourceProvider interface {
	Resources() []Resource
	ResourceTemplates() []ResourceTemplate
}

// ResourceNotFoundMessage starts the JSON-RPC error message of a read whose handler returned
// ErrResourceNotFound. mcp-go v1.2.1 answers every handler error with -32603; the transport
// recognises this prefix in a -32603 error and puts the code the revision specifies in its place
// (see transport's notFoundRewriter).
const ResourceNotFoundMessage = "Resource not found: "

// ResourceNotFoundModernMessage is the same for a 2026-07-28 request, which gets -32602.
const ResourceNotFoundModernMessage = "Resource not found (invalid params): "

// maxResourceBytes bounds one read: resources are read whole (there is no paging in MCP), and a
// bigger answer is refused with an error naming the size rather than sent to a client that would
// have to hold it in memory.
const maxResourceBytes = 8 << 20

// Outcomes of a resource read or prompt get that tool calls do not have.
const (
	OutcomeNotFound = "not_found"
	OutcomeTooLarge = "too_large"
)

var readOutcomes = []string{OutcomeOK, OutcomeNotFound, OutcomeInternal, OutcomeTimeout, OutcomeCancelled, OutcomePanic, OutcomeTooLarge}

// readWrapper is the light middleware of resource reads and prompt gets: identity stays in ctx
// (the transport put it there), a deadline, panic recovery, a size bound, the outcome counted and
// failures logged.
type readWrapper struct {
	server   string
	kind     string // "resource read" or "prompt get", for messages and logs
	timeout  time.Duration
	maxBytes int
	outcomes map[string]prometheus.Counter
	logger   *slog.Logger
	hub      *Hub
}

func newReadWrapper(h *Hub, serverName, kind string, vec *prometheus.CounterVec, timeout time.Duration, logger *slog.Logger) *readWrapper {
	rw := &readWrapper{server: serverName, kind: kind, timeout: timeout, maxBytes: maxResourceBytes,
		outcomes: make(map[string]prometheus.Counter, len(readOutcomes)), logger: logger, hub: h}
	for _, o := range readOutcomes {
		rw.outcomes[o] = vec.WithLabelValues(serverName, o)
	}
	return rw
}

// runResult is what the handler goroutine reports.
type runResult[T any] struct {
	val   T
	err   error
	panic any
	stack []byte
}

// runOutcome is how a guarded run ended: outcome is "" when the handler returned an error of its
// own (err), which the caller classifies.
type runOutcome struct {
	err             error
	outcome, detail string
}

// guardedRun runs fn under the wrapper's deadline with panic recovery. A handler that ignores its
// context is abandoned at the deadline (the client gets its answer on time) and counted as running
// until it returns, so the shutdown drain waits for it.
func guardedRun[T any](ctx context.Context, rw *readWrapper, fn func(context.Context) (T, error)) (T, runOutcome) {
	var zero T
	ctx, cancel := context.WithTimeout(ctx, rw.timeout)
	defer cancel()
	done := make(chan runResult[T], 1)
	rw.hub.running.Add(1)
	go func() {
		defer rw.hub.running.Add(-1)
		defer func() {
			if p := recover(); p != nil {
				done <- runResult[T]{panic: p, stack: debug.Stack()}
			}
		}()
		v, err := fn(ctx)
		done <- runResult[T]{val: v, err: err}
	}()
	select {
	case r := <-done:
		switch {
		case r.panic != nil:
			return zero, runOutcome{fmt.Errorf("internal error: the %s of server %s crashed; this is a bug in mcphub (see its log)", rw.kind, rw.server),
				OutcomePanic, fmt.Sprintf("panic: %v\n%s", r.panic, r.stack)}
		case r.err != nil:
			return zero, runOutcome{err: r.err}
		}
		return r.val, runOutcome{outcome: OutcomeOK}
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.Canceled) {
			return zero, runOutcome{fmt.Errorf("the %s was cancelled by the client", rw.kind), OutcomeCancelled, ""}
		}
		return zero, runOutcome{fmt.Errorf("the %s did not finish within its time limit of %s", rw.kind, rw.timeout), OutcomeTimeout, ""}
	}
}

// wrapResource returns the handler mcp-go calls for a resource or a template of the server.
func (rw *readWrapper) wrapResource(handler ResourceHandler) server.ResourceHandlerFunc {
	return func(ctx context.Context, req mcp.ReadResourceRequest) ([]mcp.ResourceContents, error) {
		start := time.Now()
		contents, ro := guardedRun(ctx, rw, func(ctx context.Context) ([]mcp.ResourceContents, error) {
			return handler(ctx, req)
		})
		err, outcome, detail := ro.err, ro.outcome, ro.detail
		uri := req.Params.URI
		switch {
		case outcome != "":
			if outcome == OutcomeOK {
				if n := contentsSize(contents); n > rw.maxBytes {
					outcome = OutcomeTooLarge
					contents = nil
					err = fmt.Errorf("resource %s is %d bytes, more than the %d bytes one read may return", uri, n, rw.maxBytes)
				}
			}
		case errors.Is(err, ErrResourceNotFound):
			outcome = OutcomeNotFound
			prefix := ResourceNotFoundMessage
			if mcp.IsModernProtocol(server.RequestProtocolVersion(ctx)) {
				prefix = ResourceNotFoundModernMessage
			}
			err = errors.New(prefix + uri)
		default:
			outcome, detail = OutcomeInternal, err.Error()
			err = fmt.Errorf("internal error reading %s: %w", uri, err)
		}
		rw.finish(ctx, outcome, detail, uri, start)
		return contents, err
	}
}

// finish counts the outcome and logs what is worth a line: failures always, successes at debug.
func (rw *readWrapper) finish(ctx context.Context, outcome, detail, target string, start time.Time) {
	rw.outcomes[outcome].Inc()
	level := slog.LevelDebug
	switch outcome {
	case OutcomePanic, OutcomeInternal:
		level = slog.LevelError
	case OutcomeTimeout, OutcomeTooLarge:
		level = slog.LevelWarn
	}
	if !rw.logger.Enabled(ctx, level) {
		return
	}
	attrs := []slog.Attr{
		slog.String("target", target),
		slog.String("identity", Identity(ctx)),
		slog.String("outcome", outcome),
		slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
	}
	if detail != "" {
		attrs = append(attrs, slog.String("detail", detail))
	}
	rw.logger.LogAttrs(ctx, level, rw.kind, attrs...)
}

func contentsSize(contents []mcp.ResourceContents) int {
	n := 0
	for _, c := range contents {
		switch v := c.(type) {
		case mcp.TextResourceContents:
			n += len(v.Text)
		case *mcp.TextResourceContents:
			n += len(v.Text)
		case mcp.BlobResourceContents:
			n += len(v.Blob)
		case *mcp.BlobResourceContents:
			n += len(v.Blob)
		}
	}
	return n
}

// resourceSet is what a server serves besides tools, wrapped and ready for mcp-go.
type resourceSet struct {
	resources []server.ServerResource
	templates []server.ServerResourceTemplate
	prompts   []server.ServerPrompt
}

// wrapExtras collects and wraps the resources, templates and prompts of a provisioned server, and
// reports definitions the server got wrong (no URI, no handler, a name twice).
func (h *Hub) wrapExtras(serverName string, srv Server, timeout time.Duration, logger *slog.Logger) (*resourceSet, error) {
	set := &resourceSet{}
	var errs []error
	if p, ok := srv.(ResourceProvider); ok {
		rw := newReadWrapper(h, serverName, "resource read", h.metrics.resourceReads, timeout, logger)
		seen := map[string]bool{}
		for _, r := range p.Resources() {
			if r.Def.URI == "" || r.Handler == nil || seen[r.Def.URI] {
				errs = append(errs, fmt.Errorf("server %q: resource %q: needs a unique URI and a handler", serverName, r.Def.URI))
				continue
			}
			seen[r.Def.URI] = true
			set.resources = append(set.resources, server.ServerResource{Resource: r.Def, Handler: rw.wrapResource(r.Handler)})
		}
		for _, t := range p.ResourceTemplates() {
			if t.Def.URITemplate == nil || t.Def.URITemplate.Template == nil || t.Handler == nil {
				errs = append(errs, fmt.Errorf("server %q: resource template %q: needs a URI template and a handler", serverName, t.Def.Name))
				continue
			}
			set.templates = append(set.templates, server.ServerResourceTemplate{Template: t.Def,
				Handler: server.ResourceTemplateHandlerFunc(rw.wrapResource(t.Handler))})
		}
	}
	if p, ok := srv.(PromptProvider); ok {
		rw := newReadWrapper(h, serverName, "prompt get", h.metrics.promptGets, timeout, logger)
		seen := map[string]bool{}
		for _, pr := range p.Prompts() {
			if pr.Def.Name == "" || pr.Handler == nil || seen[pr.Def.Name] {
				errs = append(errs, fmt.Errorf("server %q: prompt %q: needs a unique name and a handler", serverName, pr.Def.Name))
				continue
			}
			seen[pr.Def.Name] = true
			set.prompts = append(set.prompts, server.ServerPrompt{Prompt: pr.Def, Handler: rw.wrapPrompt(pr.Handler)})
		}
	}
	return set, errors.Join(errs...)
}

// checkExtrasUnique reports resource URIs and prompt names that two servers both declare: on /mcp
// one would hide the other.
func checkExtrasUnique(instances []*Instance) error {
	var errs []error
	uris, prompts := map[string]string{}, map[string]string{}
	for _, in := range instances {
		if in.extras == nil {
			continue
		}
		for _, r := range in.extras.resources {
			if other, ok := uris[r.Resource.URI]; ok {
				errs = append(errs, fmt.Errorf("%w: resource %q is declared by %q and %q", ErrDuplicate, r.Resource.URI, other, in.Name))
			}
			uris[r.Resource.URI] = in.Name
		}
		for _, t := range in.extras.templates {
			key := "template " + t.Template.URITemplate.Raw()
			if other, ok := uris[key]; ok {
				errs = append(errs, fmt.Errorf("%w: resource template %q is declared by %q and %q", ErrDuplicate, t.Template.URITemplate.Raw(), other, in.Name))
			}
			uris[key] = in.Name
		}
		for _, p := range in.extras.prompts {
			if other, ok := prompts[p.Prompt.Name]; ok {
				errs = append(errs, fmt.Errorf("%w: prompt %q is declared by %q and %q", ErrDuplicate, p.Prompt.Name, other, in.Name))
			}
			prompts[p.Prompt.Name] = in.Name
		}
	}
	return errors.Join(errs...)
}

// ServerResources returns the server's fixed resources, wrapped in the read middleware.
func (in *Instance) ServerResources() []server.ServerResource {
	if in.extras == nil {
		return nil
	}
	return in.extras.resources
}

// ServerResourceTemplates returns the server's resource templates, wrapped in the read middleware.
func (in *Instance) ServerResourceTemplates() []server.ServerResourceTemplate {
	if in.extras == nil {
		return nil
	}
	return in.extras.templates
}

// ResourceSubscriber is an optional interface of a ResourceProvider whose resources change while
// the hub runs: when SubscribableResources is true the hub announces resources/subscribe (mcp-go
// keeps each session's subscriptions), and the server sends notifications/resources/updated to
// the sessions subscribed to a resource that changed.
type ResourceSubscriber interface {
	SubscribableResources() bool
}

// Subscribable reports whether the server's resources can be subscribed to.
func (in *Instance) Subscribable() bool {
	s, ok := in.srv.(ResourceSubscriber)
	return ok && in.extras != nil && s.SubscribableResources()
}
