package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mark3labs/mcp-go/server"

	"github.com/mcphub/mcphub/configs"
)

// readinessTimeout bounds one server's readiness check.
const readinessTimeout = 3 * time.Second

// Options are what Build needs.
type Options struct {
	// Config is the loaded, validated configuration.
	Config *configs.Config
	// Catalog lists the servers the binary knows.
	Catalog []Factory
	// Only narrows the enabled servers to these names (the --servers flag); empty means no narrowing.
	Only []string
	// Logger receives the hub's and the servers' logs (stderr).
	Logger *slog.Logger
	// Metrics receives the tool-call metrics.
	Metrics *Metrics
}

// Instance is one running server.
type Instance struct {
	// Name and Title come from the catalog.
	Name, Title string

	srv          Server
	tools        []*wrapped
	extras       *resourceSet // resources, templates and prompts (ResourceProvider, PromptProvider)
	provisionErr error
}

// Hub holds the enabled servers, built and provisioned, with their wrapped tools.
type Hub struct {
	instances []*Instance
	metrics   *Metrics
	running   atomic.Int64
	calls     *callLog
	closeOnce sync.Once
}

// Enabled returns the names of the servers the config and the Only list enable, in catalog order,
// and every problem with the servers section (unknown names) at once.
func Enabled(cfg *configs.Config, catalog []Factory, only []string) ([]Factory, error) {
	known := make(map[string]Factory, len(catalog))
	for _, f := range catalog {
		known[f.Name] = f
	}
	var errs []error
	for name := range cfg.Servers {
		if _, ok := known[name]; !ok {
			errs = append(errs, &configs.Problem{Path: "servers." + name,
				Msg: "unknown server (this binary has: " + strings.Join(names(catalog), ", ") + ")"})
		}
	}
	for _, name := range only {
		if _, ok := known[name]; !ok {
			errs = append(errs, fmt.Errorf("--servers: unknown server %q (this binary has: %s)", name, strings.Join(names(catalog), ", ")))
		}
	}
	sortErrors(errs)
	var out []Factory
	for _, f := range catalog {
		on := f.DefaultEnabled
		if s := cfg.Servers[f.Name]; s != nil && s.Enabled != nil {
			on = *s.Enabled
		}
		if len(only) > 0 {
			on = slices.Contains(only, f.Name)
		}
		if on {
			out = append(out, f)
		}
	}
	return out, errors.Join(errs...)
}

func names(catalog []Factory) []string {
	out := make([]string, len(catalog))
	for i, f := range catalog {
		out[i] = f.Name
	}
	return out
}

func sortErrors(errs []error) {
	sort.SliceStable(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
}

// CheckCatalog runs the build-time checks over every server the binary knows: unique, valid
// server names; tool names that follow the pattern, unique across the hub; hints declared. A
// test runs it over the real catalog so a broken server fails the build's tests, and Build runs
// it again so a broken binary refuses to start.
func CheckCatalog(catalog []Factory) error {
	var errs []error
	seenServer := map[string]bool{}
	seenTool := map[string]string{}
	for _, f := range catalog {
		if !serverNamePattern.MatchString(f.Name) {
			errs = append(errs, fmt.Errorf("server %q: name must match %s", f.Name, serverNamePattern))
		}
		if seenServer[f.Name] {
			errs = append(errs, fmt.Errorf("%w: server %q is in the catalog twice", ErrDuplicate, f.Name))
		}
		seenServer[f.Name] = true
		if f.New == nil {
			errs = append(errs, fmt.Errorf("server %q: no constructor", f.Name))
			continue
		}
		for _, t := range f.New().Tools() {
			if err := checkTool(f.Name, &t, f.FreeToolNames); err != nil {
				errs = append(errs, fmt.Errorf("server %q: %w", f.Name, err))
			}
			if other, ok := seenTool[t.Def.Name]; ok {
				errs = append(errs, fmt.Errorf("%w: tool %q is declared by %q and %q", ErrDuplicate, t.Def.Name, other, f.Name))
			}
			seenTool[t.Def.Name] = f.Name
		}
	}
	return errors.Join(errs...)
}

// Validate runs what `mcphub validate` checks for the servers: unknown server names, and for each
// enabled server its config decoding and validation, without provisioning anything.
func Validate(cfg *configs.Config, catalog []Factory, only []string) error {
	enabled, err := Enabled(cfg, catalog, only)
	errs := []error{err}
	for _, f := range enabled {
		srv := f.New()
		if err := decode(srv, cfg.Servers[f.Name]); err != nil {
			errs = append(errs, err)
			continue
		}
		if v, ok := srv.(Validator); ok {
			errs = append(errs, v.Validate())
		}
	}
	return errors.Join(errs...)
}

// Build constructs, configures and provisions the enabled servers and wraps their tools. Config
// problems and catalog problems are errors (the hub must not start); a server whose provisioning
// fails is kept, not ready, with the error as the reason, so the rest of the hub serves.
func Build(ctx context.Context, opts Options) (*Hub, error) {
	if err := CheckCatalog(opts.Catalog); err != nil {
		return nil, fmt.Errorf("checking the server catalog: %w", err)
	}
	enabled, err := Enabled(opts.Config, opts.Catalog, opts.Only)
	if err != nil {
		return nil, err
	}
	cfg := opts.Config
	h := &Hub{metrics: opts.Metrics, calls: newCallLog()}
	limits := callLimits{
		timeout: cfg.Limits.ToolTimeout.D(),
		budget:  cfg.Limits.OutputBudgetBytes,
		slots:   make(chan struct{}, cfg.Limits.MaxConcurrentCalls),
	}
	var errs []error
	for _, f := range enabled {
		srv := f.New()
		if err := decode(srv, cfg.Servers[f.Name]); err != nil {
			errs = append(errs, err)
			continue
		}
		inst := &Instance{Name: f.Name, Title: f.Title, srv: srv}
		logger := opts.Logger.With(slog.String("server", f.Name))
		if p, ok := srv.(Provisioner); ok {
			env := Env{Config: cfg, DataDir: filepath.Join(cfg.DataDir, f.Name), Logger: logger, Hub: h}
			if err := p.Provision(ctx, env); err != nil {
				inst.provisionErr = err
				logger.Error("provisioning failed; the server is not ready", slog.String("error", err.Error()))
				closeQuietly(srv, logger)
			}
		}
		if inst.provisionErr == nil {
			if v, ok := srv.(Validator); ok {
				if err := v.Validate(); err != nil {
					errs = append(errs, err)
					closeQuietly(srv, logger)
					continue
				}
			}
			selector, _ := srv.(ToolSelector)
			for _, t := range srv.Tools() {
				if selector != nil && !selector.ToolEnabled(t.Def.Name) {
					continue
				}
				w, err := h.wrap(f.Name, t, limits, logger)
				if err != nil {
					errs = append(errs, err)
					continue
				}
				inst.tools = append(inst.tools, w)
			}
			extras, err := h.wrapExtras(f.Name, srv, limits.timeout, logger)
			errs = append(errs, err)
			inst.extras = extras
		}
		h.instances = append(h.instances, inst)
	}
	errs = append(errs, checkExtrasUnique(h.instances))
	if err := errors.Join(errs...); err != nil {
		_ = h.Close(context.WithoutCancel(ctx))
		return nil, err
	}
	return h, nil
}

// decode is the decode step of the lifecycle. A server without a config of its own still gets
// its section checked, so that a stray key is reported with its path rather than ignored.
func decode(srv Server, section *configs.ServerSection) error {
	if d, ok := srv.(ConfigDecoder); ok {
		return d.DecodeConfig(section)
	}
	return section.Decode(&struct{}{})
}

func closeQuietly(srv Server, logger *slog.Logger) {
	if c, ok := srv.(io.Closer); ok {
		if err := c.Close(); err != nil {
			logger.Warn("closing server", slog.String("error", err.Error()))
		}
	}
}

func (h *Hub) wrap(serverName string, t Tool, limits callLimits, logger *slog.Logger) (*wrapped, error) {
	def := finalizeDef(&t)
	schema, err := compileInputSchema(def)
	if err != nil {
		return nil, err
	}
	w := &wrapped{
		server:  serverName,
		tool:    &t,
		def:     def,
		timeout: limits.timeout,
		budget:  limits.budget,
		schema:  schema,
		hub:     limits.slots,
		metrics: h.metrics.forTool(serverName, def.Name),
		// The tool's name is formatted once here rather than on every call's log line.
		logger:  logger.With(slog.String("tool", def.Name)),
		calls:   h.calls,
		running: &h.running,
	}
	if t.Timeout > 0 {
		w.timeout = t.Timeout
	}
	if t.OutputBudget > 0 {
		w.budget = t.OutputBudget
	}
	if t.MaxConcurrent > 0 {
		w.own = make(chan struct{}, t.MaxConcurrent)
	}
	return w, nil
}

// Instances returns the running servers in catalog order.
func (h *Hub) Instances() []*Instance { return h.instances }

// Instance returns the named server, or nil.
func (h *Hub) Instance(name string) *Instance {
	for _, in := range h.instances {
		if in.Name == name {
			return in
		}
	}
	return nil
}

// ServerTools returns the server's tools, wrapped in the middleware, ready for mcp-go.
func (in *Instance) ServerTools() []server.ServerTool {
	out := make([]server.ServerTool, len(in.tools))
	for i, w := range in.tools {
		out[i] = server.ServerTool{Tool: w.def, Handler: w.handle}
	}
	return out
}

// ToolNames returns the names of the server's tools as served.
func (in *Instance) ToolNames() []string {
	out := make([]string, len(in.tools))
	for i, w := range in.tools {
		out[i] = w.def.Name
	}
	return out
}

// Readiness checks the server's readiness, bounded in time.
func (in *Instance) Readiness(ctx context.Context) Readiness {
	if in.provisionErr != nil {
		return NotReady("provisioning failed: "+in.provisionErr.Error(),
			"fix the cause in servers."+in.Name+" of the config or the environment, then restart mcphub")
	}
	r, ok := in.srv.(ReadinessReporter)
	if !ok {
		return Ready()
	}
	ctx, cancel := context.WithTimeout(ctx, readinessTimeout)
	defer cancel()
	done := make(chan Readiness, 1)
	go func() { done <- r.Readiness(ctx) }()
	select {
	case rd := <-done:
		return rd
	case <-ctx.Done():
		return NotReady("the readiness check did not answer within "+readinessTimeout.String(),
			"see the log of server "+in.Name)
	}
}

// ServerStatus is one server's state, as /readyz and hub_list_servers report it.
type ServerStatus struct {
	Name  string   `json:"name"`
	Title string   `json:"title,omitempty"`
	Tools []string `json:"tools"`
	Readiness
}

// Status checks every server's readiness concurrently and records it in the metrics.
func (h *Hub) Status(ctx context.Context) []ServerStatus {
	out := make([]ServerStatus, len(h.instances))
	var wg sync.WaitGroup
	for i, in := range h.instances {
		wg.Go(func() {
			out[i] = ServerStatus{Name: in.Name, Title: in.Title, Tools: in.ToolNames(), Readiness: in.Readiness(ctx)}
			v := 0.0
			if out[i].Ready {
				v = 1
			}
			h.metrics.ready.WithLabelValues(in.Name).Set(v)
		})
	}
	wg.Wait()
	return out
}

// Running returns the number of tool handlers running now.
func (h *Hub) Running() int64 { return h.running.Load() }

// WaitIdle waits until no tool handler runs, or ctx ends; it reports whether the hub went idle.
// Graceful shutdown uses it to let in-flight calls finish.
func (h *Hub) WaitIdle(ctx context.Context) bool {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for h.running.Load() > 0 {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
	}
	return true
}

// SyncLogs waits until the log lines of calls that have returned are written, or ctx ends.
func (h *Hub) SyncLogs(ctx context.Context) { h.calls.sync(ctx) }

// Close closes the servers in reverse order, each once, and returns their errors joined. The
// call log is written out last, so that calls the servers end while closing are logged too.
func (h *Hub) Close(ctx context.Context) error {
	var errs []error
	h.closeOnce.Do(func() {
		defer h.calls.close()
		for _, in := range slices.Backward(h.instances) {
			c, ok := in.srv.(io.Closer)
			if !ok || in.provisionErr != nil {
				continue
			}
			done := make(chan error, 1)
			go func() { done <- c.Close() }()
			select {
			case err := <-done:
				if err != nil {
					errs = append(errs, fmt.Errorf("closing server %s: %w", in.Name, err))
				}
			case <-ctx.Done():
				errs = append(errs, fmt.Errorf("closing server %s: %w", in.Name, ctx.Err()))
			}
		}
	})
	return errors.Join(errs...)
}
