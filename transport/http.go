package transport

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/mark3labs/mcp-go/server"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/mcphub/mcphub/configs"
	"github.com/mcphub/mcphub/servers/registry"
)

// Event-store bounds: enough to resume a stream or deliver a tool's last notifications, small
// enough that thousands of idle sessions cost little.
const (
	eventsPerSession = 64
	eventSessions    = 4096
)

// Options configure the transports.
type Options struct {
	Config  *configs.Config
	Hub     *registry.Hub
	Logger  *slog.Logger
	Version string
	// Registry receives the transport's metrics and is what /metrics serves.
	Registry *prometheus.Registry
}

// HTTP is the streamable HTTP transport.
type HTTP struct {
	opts      Options
	router    chi.Router
	all       *server.StreamableHTTPServer
	byServer  map[string]*server.StreamableHTTPServer
	names     []string
	draining  atomic.Bool
	posts     atomic.Int64 // MCP POST requests being served, for the shutdown drain
	readiness func(ctx context.Context) []registry.ServerStatus
}

// NewHTTP builds the HTTP transport: one MCP server over every enabled server at /mcp and one
// per server at /mcp/{server}.
func NewHTTP(opts Options) *HTTP {
	m := newHTTPMetrics(opts.Registry)
	h := &HTTP{opts: opts, byServer: map[string]*server.StreamableHTTPServer{}, readiness: opts.Hub.Status}
	cfg := opts.Config
	streamable := func(endpoint, name, title string, ins []*registry.Instance) *server.StreamableHTTPServer {
		sessions := m.sessions.WithLabelValues(endpoint)
		s := newMCPServer(name, title, opts.Version, ins, func(d float64) { sessions.Add(d) })
		return server.NewStreamableHTTPServer(s,
			server.WithSessionIdleTTL(cfg.HTTP.SessionIdleTTL.D()),
			server.WithHeartbeatInterval(cfg.HTTP.HeartbeatInterval.D()),
			server.WithEventStore(newBoundedEventStore(eventsPerSession, eventSessions)),
			server.WithSessionIdManager(newSessionIDs()),
			// The guard checks Host with the configured allowed hosts; mcp-go's own check knows
			// only loopback names and would refuse a reverse proxy's Host on the same machine.
			server.WithDisableLocalhostProtection(true),
			server.WithStreamableHTTPLogger(opts.Logger.With(slog.String("endpoint", endpoint))),
		)
	}
	instances := opts.Hub.Instances()
	h.all = streamable("/mcp", "mcphub", "mcphub", instances)
	for _, in := range instances {
		h.byServer[in.Name] = streamable("/mcp/"+in.Name, in.Name, in.Title, []*registry.Instance{in})
		h.names = append(h.names, in.Name)
	}
	sort.Strings(h.names)

	g := newGuard(cfg, m)
	g.draining = &h.draining
	r := chi.NewRouter()
	r.Use(m.instrument, g.checkHostOrigin)
	r.Get("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	r.Get("/readyz", h.serveReadyz)
	r.Handle("/metrics", promhttp.HandlerFor(opts.Registry, promhttp.HandlerOpts{Registry: opts.Registry}))
	r.Group(func(r chi.Router) {
		r.Use(g.authenticate, g.limitConcurrency, h.countPosts, g.readBody)
		r.Handle("/mcp", h.all)
		// One static route per server: chi matches them without URL parameters, and the
		// pattern names the server in the request metrics. The parameter route only answers
		// for names this hub does not serve.
		for _, name := range h.names {
			r.Handle("/mcp/"+name, h.byServer[name])
		}
		r.Handle("/mcp/{server}", http.HandlerFunc(h.serveUnknown))
	})
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		jsonError(w, http.StatusNotFound, "no such endpoint "+strconv.Quote(r.URL.Path)+"; MCP is served at /mcp and /mcp/{server}")
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		jsonError(w, http.StatusMethodNotAllowed, "method "+r.Method+" is not allowed on "+r.URL.Path)
	})
	h.router = r
	return h
}

// Handler returns the HTTP handler, for tests and for embedding.
func (h *HTTP) Handler() http.Handler { return h.router }

func (h *HTTP) serveUnknown(w http.ResponseWriter, r *http.Request) {
	jsonError(w, http.StatusNotFound, "unknown server "+strconv.Quote(chi.URLParam(r, "server"))+
		"; this hub serves: "+strings.Join(h.names, ", "))
}

// readyzBody is what /readyz answers.
type readyzBody struct {
	Status  string                  `json:"status"`
	Servers []registry.ServerStatus `json:"servers"`
}

func (h *HTTP) serveReadyz(w http.ResponseWriter, r *http.Request) {
	body := readyzBody{Status: "ready", Servers: h.readiness(r.Context())}
	code := http.StatusOK
	for _, s := range body.Servers {
		if !s.Ready {
			body.Status, code = "not ready", http.StatusServiceUnavailable
		}
	}
	if h.draining.Load() {
		body.Status, code = "shutting down", http.StatusServiceUnavailable
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(body)
}

// Serve serves on ln until ctx ends, then shuts down gracefully: /readyz turns 503, the listener
// closes, in-flight tool calls get up to http.shutdown_timeout to finish, then the MCP sessions
// and their streams close. The hub itself is closed by the caller.
func (h *HTTP) Serve(ctx context.Context, ln net.Listener) error {
	cfg := h.opts.Config.HTTP
	srv := &http.Server{
		Handler:           h.router,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout.D(),
		// No WriteTimeout: tool calls and SSE streams legitimately run long; each tool call has
		// its own deadline instead.
		IdleTimeout:    2 * time.Minute,
		MaxHeaderBytes: 64 << 10,
		ErrorLog:       slog.NewLogLogger(h.opts.Logger.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	h.opts.Logger.Info("serving MCP over streamable HTTP", slog.String("addr", ln.Addr().String()),
		slog.Any("servers", h.names))

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	return h.shutdown(srv, errc, cfg.ShutdownTimeout.D())
}

func (h *HTTP) shutdown(srv *http.Server, errc chan error, timeout time.Duration) error {
	logger := h.opts.Logger
	h.draining.Store(true)
	logger.Info("shutting down: draining in-flight calls", slog.Int64("in_flight", h.opts.Hub.Running()),
		slog.Duration("timeout", timeout))
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()

	// The listener stays open while calls drain: new requests get 503 (readBody), but the
	// responses, notifications and event streams of calls in flight still get through, so
	// a client is not cut off in the middle of a call it is owed an answer for. Calls finish,
	// then their responses are written, before the sessions close.
	if !h.opts.Hub.WaitIdle(ctx) || !h.waitPostsDone(ctx) {
		logger.Warn("shutdown timeout reached with requests still running",
			slog.Int64("tool_calls", h.opts.Hub.Running()), slog.Int64("posts", h.posts.Load()))
	}
	// Closing the sessions ends the long-lived GET streams, which would keep Shutdown waiting.
	closeCtx, closeCancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer closeCancel()
	for _, s := range h.streamables() {
		_ = s.Shutdown(closeCtx)
	}
	err := srv.Shutdown(closeCtx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = srv.Close()
	}
	if serveErr := <-errc; serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		err = errors.Join(err, serveErr)
	}
	logger.Info("HTTP transport stopped")
	return err
}

// countPosts keeps the number of MCP POST requests in progress (GET streams are not counted:
// they end when their sessions close).
func (h *HTTP) countPosts(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			next.ServeHTTP(w, r)
			return
		}
		h.posts.Add(1)
		defer h.posts.Add(-1)
		next.ServeHTTP(w, r)
	})
}

// waitPostsDone waits until no MCP POST request is in progress, or ctx ends.
func (h *HTTP) waitPostsDone(ctx context.Context) bool {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for h.posts.Load() > 0 {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
	}
	return true
}

// Close stops the MCP servers' background work (session sweepers); for tests that use Handler
// without Serve.
func (h *HTTP) Close(ctx context.Context) {
	for _, s := range h.streamables() {
		_ = s.Shutdown(ctx)
	}
}

func (h *HTTP) streamables() []*server.StreamableHTTPServer {
	out := []*server.StreamableHTTPServer{h.all}
	for _, name := range h.names {
		out = append(out, h.byServer[name])
	}
	return out
}
