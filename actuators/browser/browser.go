// Package browser is the browser actuator: a headless Chromium driven over the DevTools protocol
// (chromedp), with playwright-mcp's tool names, built for a shared endpoint.
//
// One long-lived Chromium serves the whole hub process; it starts on the first call and starts
// again after a crash or when it grows past the memory limit. Each MCP session (or, under the
// stateless 2026-07-28 protocol, each browser_session handle) gets its own incognito browser
// context, so that no caller sees another's pages, cookies or storage. Contexts and tabs are
// bounded and closed when idle.
//
// Every request a page makes goes through two checks of the hub's egress policy: DevTools Fetch
// interception of each tab (a refusal there names the policy in the tab's network log and in the
// action's summary), and an in-process HTTP/CONNECT proxy on 127.0.0.1 that Chromium must use for
// everything, loopback included, and that dials only through egress.Policy.DialContext. The
// proxy is the boundary: it sees the requests interception cannot (WebSockets, workers, pop-ups
// opened before we attach), and it connects to the very address it checked, so a DNS answer that
// changes between the check and the connection (DNS rebinding) gains nothing.
//
// To add a tool: write its constructor in tools.go, add it to Tools, and refresh the golden
// snapshots (UPDATE_TOOLSNAPS=1 go test ./actuators/browser/).
package browser

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/mcphub/mcphub/configs"
	"github.com/mcphub/mcphub/egress"
	"github.com/mcphub/mcphub/servers/registry"
)

// Config is servers.browser.
type Config struct {
	// Executable is the Chromium or Chrome binary to run. The default is empty: the first of
	// /usr/lib/chromium/chromium (Debian's real binary, which starts faster than its wrapper),
	// chromium on PATH and google-chrome on PATH.
	Executable string `yaml:"executable"`
	// RemoteURL, when set, attaches to a running Chrome over its DevTools WebSocket URL
	// (ws://host:9222/devtools/browser/<id>, or http://host:9222 to look it up) instead of
	// starting one. The hub's egress proxy is not reachable from a remote browser, so only
	// Fetch interception enforces the egress policy there; run the remote browser with its own
	// network restrictions. The default is empty: start a local browser.
	RemoteURL string `yaml:"remote_url"`
	// MaxContexts bounds the browser contexts (sessions) open at once, 1 to 256; a new session
	// beyond it closes the least recently used idle one, or is refused when none is idle. The
	// default is 16.
	MaxContexts int `yaml:"max_contexts"`
	// MaxTabsPerContext bounds the tabs of one session, 1 to 64. The default is 8.
	MaxTabsPerContext int `yaml:"max_tabs_per_context"`
	// IdleTTL is how long a session may stay unused before its context and its browser_session
	// handle are closed, at least 10s. The default is 10m.
	IdleTTL configs.Duration `yaml:"idle_ttl"`
	// MaxMemoryMB is the resident memory of the browser's processes, in MiB, past which idle
	// sessions are closed and, when that is not enough, the browser is restarted between calls.
	// 0 turns the check off. The default is 2048.
	MaxMemoryMB int `yaml:"max_memory_mb"`
	// NavigationTimeout bounds waiting for a page's load event after a navigation or a click
	// that navigates; the page stays usable when it is reached. The default is 15s.
	NavigationTimeout configs.Duration `yaml:"navigation_timeout"`
	// ViewportWidth and ViewportHeight are the size of every tab's viewport in CSS pixels. The
	// defaults are 1280 and 720.
	ViewportWidth  int `yaml:"viewport_width"`
	ViewportHeight int `yaml:"viewport_height"`
	// MaxScreenshotBytes bounds one screenshot, 16384 to 1048576 bytes; a larger image is
	// scaled down (and turned into JPEG when that is not enough). The default is 786432.
	MaxScreenshotBytes int `yaml:"max_screenshot_bytes"`
	// MaxPDFBytes bounds the PDF of browser_pdf_save, 16384 to 4194304 bytes. The default is
	// 2097152.
	MaxPDFBytes int `yaml:"max_pdf_bytes"`
	// AllowEvaluate serves browser_evaluate, which runs the caller's JavaScript in the page.
	// The default is false.
	AllowEvaluate bool `yaml:"allow_evaluate"`
	// AllowDownloads lets pages download files into <data_dir>/browser/downloads/<session>;
	// otherwise every download is refused and reported. The default is false.
	AllowDownloads bool `yaml:"allow_downloads"`
}

// Defaults of Config and fixed limits.
const (
	defaultMaxContexts     = 16
	defaultMaxTabs         = 8
	defaultIdleTTL         = 10 * time.Minute
	defaultMaxMemoryMB     = 2048
	defaultNavTimeout      = 15 * time.Second
	defaultViewportWidth   = 1280
	defaultViewportHeight  = 720
	defaultMaxScreenshot   = 768 << 10
	defaultMaxPDF          = 2 << 20
	maxScreenshotLimit     = 1 << 20
	maxPDFLimit            = 4 << 20
	startTimeout           = 45 * time.Second
	cleanupTimeout         = 5 * time.Second
	reapEvery              = 15 * time.Second
	defaultOutputBudget    = 64 << 10
	snapshotHeaderReserve  = 2 << 10
	consoleRingSize        = 200
	networkRingSize        = 300
	maxLoggedTextBytes     = 1000
	maxLoggedURLBytes      = 400
	minScreenshotDimension = 64
)

// Server is the browser server.
type Server struct {
	cfg    Config
	logger *slog.Logger
	policy *egress.Policy
	budget int    // output budget of the text tools, from limits.output_budget_bytes
	dlDir  string // where allowed downloads go

	// extraFlags are added to Chromium's command line; tests set them (a host-resolver-rules
	// safety net), the config cannot.
	extraFlags map[string]any

	engine   *engine
	sessions *sessions

	stopReaper context.CancelFunc
	reaperDone chan struct{}
	closeOnce  sync.Once
}

var (
	_ registry.Server            = (*Server)(nil)
	_ registry.ConfigDecoder     = (*Server)(nil)
	_ registry.Provisioner       = (*Server)(nil)
	_ registry.Validator         = (*Server)(nil)
	_ registry.ReadinessReporter = (*Server)(nil)
	_ registry.ToolSelector      = (*Server)(nil)
	_ registry.SessionEnder      = (*Server)(nil)
	_ io.Closer                  = (*Server)(nil)
)

// New returns the browser server, unconfigured and without side effects.
func New() registry.Server { return &Server{cfg: defaultConfig(), budget: defaultOutputBudget} }

func defaultConfig() Config {
	return Config{
		MaxContexts:        defaultMaxContexts,
		MaxTabsPerContext:  defaultMaxTabs,
		IdleTTL:            configs.Duration(defaultIdleTTL),
		MaxMemoryMB:        defaultMaxMemoryMB,
		NavigationTimeout:  configs.Duration(defaultNavTimeout),
		ViewportWidth:      defaultViewportWidth,
		ViewportHeight:     defaultViewportHeight,
		MaxScreenshotBytes: defaultMaxScreenshot,
		MaxPDFBytes:        defaultMaxPDF,
	}
}

// DecodeConfig decodes servers.browser over the defaults.
func (s *Server) DecodeConfig(section *configs.ServerSection) error {
	s.cfg = defaultConfig()
	return section.Decode(&s.cfg)
}

// Validate checks the limits.
func (s *Server) Validate() error {
	var errs []error
	problem := func(key, format string, args ...any) {
		errs = append(errs, &configs.Problem{Path: "servers.browser." + key, Msg: fmt.Sprintf(format, args...)})
	}
	c := s.cfg
	if c.MaxContexts < 1 || c.MaxContexts > 256 {
		problem("max_contexts", "must be between 1 and 256, got %d", c.MaxContexts)
	}
	if c.MaxTabsPerContext < 1 || c.MaxTabsPerContext > 64 {
		problem("max_tabs_per_context", "must be between 1 and 64, got %d", c.MaxTabsPerContext)
	}
	if c.IdleTTL.D() < 10*time.Second {
		problem("idle_ttl", "must be at least 10s, got %s", c.IdleTTL)
	}
	if c.MaxMemoryMB < 0 || (c.MaxMemoryMB > 0 && c.MaxMemoryMB < 256) {
		problem("max_memory_mb", "must be 0 (off) or at least 256, got %d", c.MaxMemoryMB)
	}
	if c.NavigationTimeout.D() < 100*time.Millisecond || c.NavigationTimeout.D() > 10*time.Minute {
		problem("navigation_timeout", "must be between 100ms and 10m, got %s", c.NavigationTimeout)
	}
	if c.ViewportWidth < 200 || c.ViewportWidth > 4096 {
		problem("viewport_width", "must be between 200 and 4096, got %d", c.ViewportWidth)
	}
	if c.ViewportHeight < 200 || c.ViewportHeight > 4096 {
		problem("viewport_height", "must be between 200 and 4096, got %d", c.ViewportHeight)
	}
	if c.MaxScreenshotBytes < 16<<10 || c.MaxScreenshotBytes > maxScreenshotLimit {
		problem("max_screenshot_bytes", "must be between 16384 and %d, got %d", maxScreenshotLimit, c.MaxScreenshotBytes)
	}
	if c.MaxPDFBytes < 16<<10 || c.MaxPDFBytes > maxPDFLimit {
		problem("max_pdf_bytes", "must be between 16384 and %d, got %d", maxPDFLimit, c.MaxPDFBytes)
	}
	if c.RemoteURL != "" && !hasAnyPrefix(c.RemoteURL, "ws://", "wss://", "http://", "https://") {
		problem("remote_url", "must be a ws://, wss://, http:// or https:// DevTools URL, got %q", c.RemoteURL)
	}
	if c.RemoteURL != "" && c.Executable != "" {
		problem("executable", "cannot be set together with remote_url: the hub either starts a browser or attaches to one")
	}
	return errors.Join(errs...)
}

func hasAnyPrefix(s string, prefixes ...string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// ToolEnabled serves browser_evaluate only when the config allows it.
func (s *Server) ToolEnabled(name string) bool {
	if name == "browser_evaluate" {
		return s.cfg.AllowEvaluate
	}
	return true
}

// Provision builds the egress policy and the session pool; Chromium itself starts on the first
// call, so that a hub that never browses pays nothing.
func (s *Server) Provision(ctx context.Context, env registry.Env) error {
	s.logger = env.Logger
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	if env.Config != nil && env.Config.Limits.OutputBudgetBytes > 0 {
		s.budget = env.Config.Limits.OutputBudgetBytes
	}
	pol, err := egress.ForHub(env.Config)
	if err != nil {
		return fmt.Errorf("building the egress policy: %w", err)
	}
	s.policy = pol
	if env.DataDir != "" {
		s.dlDir = filepath.Join(env.DataDir, "downloads")
	}
	s.engine = newEngine(s)
	s.sessions = newSessions(s)
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.stopReaper = cancel
	s.reaperDone = make(chan struct{})
	go s.reap(rctx)
	return nil
}

// reap closes idle sessions and watches the browser's memory.
func (s *Server) reap(ctx context.Context) {
	defer close(s.reaperDone)
	t := time.NewTicker(reapEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.sessions.closeIdle(time.Now())
			s.checkMemory()
		}
	}
}

// checkMemory enforces max_memory_mb: first by closing idle sessions, least recently used
// first, then by restarting the browser when no call runs.
func (s *Server) checkMemory() {
	if s.cfg.MaxMemoryMB == 0 {
		return
	}
	limit := int64(s.cfg.MaxMemoryMB) << 20
	rss := s.engine.memory()
	if rss <= limit {
		return
	}
	s.logger.Info("browser memory past the limit; closing idle sessions", slog.Int64("rss_bytes", rss), slog.Int64("limit_bytes", limit))
	for s.sessions.closeLeastRecent(time.Minute) {
		if s.engine.memory() <= limit {
			return
		}
	}
	if s.sessions.busy() == 0 && s.engine.memory() > limit {
		s.logger.Warn("browser memory still past the limit; restarting the browser")
		s.engine.recycle("its memory grew past servers.browser.max_memory_mb")
	}
}

// Readiness reports whether a browser can be used: a remote URL is configured, or a binary is
// found. It does not start the browser.
func (s *Server) Readiness(context.Context) registry.Readiness {
	if s.cfg.RemoteURL != "" {
		return registry.Ready()
	}
	if _, err := findChromium(s.cfg.Executable); err != nil {
		return registry.NotReady(err.Error(),
			"install Chromium (apt-get install -y --no-install-recommends chromium), set servers.browser.executable "+
				"to a Chromium or Chrome binary, or set servers.browser.remote_url to a running Chrome's DevTools URL")
	}
	return registry.Ready()
}

// findChromium returns the binary to run: the configured one, else the first found of the
// documented list.
func findChromium(configured string) (string, error) {
	if configured != "" {
		p, err := exec.LookPath(configured)
		if err != nil {
			return "", fmt.Errorf("servers.browser.executable %q is not an executable file", configured)
		}
		return p, nil
	}
	candidates := []string{"/usr/lib/chromium/chromium", "chromium", "google-chrome", "chromium-browser"}
	for _, c := range candidates {
		if p, err := exec.LookPath(c); err == nil {
			if st, err := os.Stat(p); err == nil && !st.IsDir() {
				return p, nil
			}
		}
	}
	return "", fmt.Errorf("no Chromium found (looked for %s)", strings.Join(candidates, ", "))
}

// SessionEnded closes the browser context of an MCP session that ended.
func (s *Server) SessionEnded(sessionID string) {
	if s.sessions != nil {
		s.sessions.endMCPSession(sessionID)
	}
}

// Close closes every session and stops the browser.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		if s.stopReaper != nil {
			s.stopReaper()
			<-s.reaperDone
		}
		if s.sessions != nil {
			s.sessions.closeAll()
		}
		if s.engine != nil {
			s.engine.stop()
		}
	})
	return nil
}
