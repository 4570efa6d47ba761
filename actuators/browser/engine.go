package browser

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/remote"
)

// errNoBrowser says there is no browser to start.
var errNoBrowser = errors.New("no browser to start")

// engine owns the one Chromium of the hub process: it starts it on first use, notices when it
// died, and starts a new one on the next call.
type engine struct {
	s *Server

	mu      sync.Mutex
	cur     *chrome
	gen     uint64
	lostWhy string // why the previous browser went away, told to the next caller of each old session
	proxy   *egressProxy
	stopped bool
}

// chrome is one running browser.
type chrome struct {
	gen uint64
	// ctx is the browser's chromedp context. Storing a context breaks the house rule on
	// purpose: chromedp ties the browser's life to the context of its first Run, so the
	// long-lived browser needs one long-lived context (cancelled by stop).
	ctx         context.Context //nolint:containedctx // see above
	cancel      context.CancelFunc
	allocCancel context.CancelFunc
	cmd         *exec.Cmd // nil for a remote browser
	profile     string    // the user-data-dir this engine made; removed by shutdown
	started     time.Time
}

func newEngine(s *Server) *engine { return &engine{s: s} }

// alive reports whether c still runs.
func (c *chrome) alive() bool { return c != nil && c.ctx.Err() == nil }

// get returns the running browser, starting one when there is none or the last one died.
func (e *engine) get(ctx context.Context) (*chrome, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.stopped {
		return nil, errors.New("the browser server is shutting down")
	}
	if e.cur.alive() {
		return e.cur, nil
	}
	if e.cur != nil {
		e.s.logger.Warn("the browser stopped; starting a new one", slog.Uint64("generation", e.cur.gen))
		if e.lostWhy == "" {
			e.lostWhy = "the browser stopped unexpectedly (it crashed or was killed)"
		}
		e.shutdown(e.cur)
		e.cur = nil
	}
	c, err := e.start(ctx)
	if err != nil {
		return nil, err
	}
	e.cur = c
	return c, nil
}

// alive reports whether a browser runs now.
func (e *engine) alive() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.cur.alive()
}

// lostReason returns why browsers before the current one went away.
func (e *engine) lostReason() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.lostWhy == "" {
		return "the browser was restarted"
	}
	return e.lostWhy
}

func (e *engine) start(ctx context.Context) (*chrome, error) {
	cfg := e.s.cfg
	e.gen++
	c := &chrome{gen: e.gen, started: time.Now()}
	// The browser outlives the call that starts it: its context derives from none of the
	// call's, only from the server's lifetime (stop cancels it).
	base := context.WithoutCancel(ctx)
	var allocCtx context.Context
	if cfg.RemoteURL != "" {
		allocCtx, c.allocCancel = remote.NewAllocator(base, cfg.RemoteURL)
	} else {
		path, err := findChromium(cfg.Executable)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", errNoBrowser, err)
		}
		if e.proxy == nil {
			p, err := startEgressProxy(e.s.policy, e.s.logger)
			if err != nil {
				return nil, fmt.Errorf("starting the egress proxy: %w", err)
			}
			e.proxy = p
		}
		// The profile directory is ours, not chromedp's, so that it goes even when the browser
		// had to be killed (chromedp removes only what it made, and only on a clean stop).
		profile, err := os.MkdirTemp("", "mcphub-chromium-")
		if err != nil {
			return nil, fmt.Errorf("starting browser: creating its profile directory: %w", err)
		}
		c.profile = profile
		opts := []chromedp.ExecAllocatorOption{
			chromedp.ExecPath(path),
			chromedp.UserDataDir(profile),
			chromedp.NoFirstRun,
			chromedp.NoDefaultBrowserCheck,
			chromedp.Headless,
			chromedp.DisableGPU,
			chromedp.Flag("disable-background-networking", true),
			chromedp.Flag("disable-component-update", true),
			chromedp.Flag("disable-sync", true),
			chromedp.Flag("disable-quic", true),
			chromedp.Flag("disable-default-apps", true),
			chromedp.Flag("disable-extensions", true),
			chromedp.Flag("disable-breakpad", true),
			chromedp.Flag("disable-client-side-phishing-detection", true),
			chromedp.Flag("disable-dev-shm-usage", true),
			chromedp.Flag("disable-features", "Translate,MediaRouter,OptimizationHints,InterestFeedContentSuggestions"),
			chromedp.Flag("disable-background-timer-throttling", true),
			chromedp.Flag("disable-renderer-backgrounding", true),
			chromedp.Flag("metrics-recording-only", true),
			chromedp.Flag("mute-audio", true),
			chromedp.Flag("password-store", "basic"),
			chromedp.Flag("use-mock-keychain", true),
			chromedp.Flag("safebrowsing-disable-auto-update", true),
			// Everything goes through the egress proxy, loopback too: Chromium bypasses a proxy
			// for loopback unless told "<-loopback>".
			chromedp.ProxyServer("http://" + e.proxy.addr()),
			chromedp.Flag("proxy-bypass-list", "<-loopback>"),
			chromedp.WindowSize(cfg.ViewportWidth, cfg.ViewportHeight),
			chromedp.ModifyCmdFunc(func(cmd *exec.Cmd) { c.cmd = cmd }),
			chromedp.CombinedOutput(&debugWriter{logger: e.s.logger}),
		}
		// As root Chrome's sandbox cannot start (chromedp adds --no-sandbox then); as a normal
		// user it stays on.
		for k, v := range e.s.extraFlags {
			opts = append(opts, chromedp.Flag(k, v))
		}
		allocCtx, c.allocCancel = chromedp.NewExecAllocator(base, opts...)
	}
	c.ctx, c.cancel = chromedp.NewContext(allocCtx, chromedp.WithLogf(e.debugf), chromedp.WithErrorf(e.debugf))
	sctx, scancel := context.WithTimeout(ctx, startTimeout)
	defer scancel()
	errc := make(chan error, 1)
	go func() {
		// The first Run binds the browser to c.ctx, not to sctx, so it runs on c.ctx and the
		// start timeout is enforced by the select below.
		errc <- chromedp.Do(c.ctx)
	}()
	select {
	case err := <-errc:
		if err != nil {
			e.shutdown(c)
			return nil, fmt.Errorf("starting browser: %w", err)
		}
	case <-sctx.Done():
		e.shutdown(c)
		return nil, fmt.Errorf("starting browser: no answer within %s (is the machine overloaded?); call again", startTimeout)
	}
	// Page-opened tabs and downloads are browser events.
	if _, err := chromedp.CallBrowser(c.ctx, target.SetDiscoverTargets, target.SetDiscoverTargetsParams{Discover: true}); err != nil {
		e.s.logger.Debug("target discovery", slog.String("error", err.Error()))
	}
	gen := c.gen
	if err := chromedp.ListenBrowser(c.ctx, func(ev any) { e.s.sessions.browserEvent(gen, ev) }); err != nil {
		e.shutdown(c)
		return nil, fmt.Errorf("listening to the browser: %w", err)
	}
	e.s.logger.Info("browser started", slog.Uint64("generation", c.gen), slog.Duration("took", time.Since(c.started)),
		slog.Bool("remote", cfg.RemoteURL != ""))
	return c, nil
}

func (e *engine) debugf(format string, args ...any) {
	e.s.logger.Debug("chromedp: " + fmt.Sprintf(format, args...))
}

// shutdown stops c and waits (bounded) for its process to go.
func (e *engine) shutdown(c *chrome) {
	if c == nil {
		return
	}
	done := make(chan struct{})
	go func() {
		c.cancel()
		c.allocCancel()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(cleanupTimeout):
		if c.cmd != nil && c.cmd.Process != nil {
			_ = c.cmd.Process.Kill()
		}
		select {
		case <-done:
		case <-time.After(cleanupTimeout):
		}
	}
	if c.profile != "" {
		// Renderers may still be writing their last files for a moment.
		for i := 0; i < 20; i++ {
			if err := os.RemoveAll(c.profile); err == nil {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// recycle restarts the browser between calls; sessions learn why on their next call.
func (e *engine) recycle(why string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cur == nil {
		return
	}
	e.lostWhy = "the browser was restarted because " + why
	e.shutdown(e.cur)
	e.cur = nil
}

// stop stops the browser and the proxy for good.
func (e *engine) stop() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.stopped = true
	e.shutdown(e.cur)
	e.cur = nil
	if e.proxy != nil {
		e.proxy.close()
		e.proxy = nil
	}
}

// pid returns the browser's process id, or 0 (remote, or not running).
func (e *engine) pid() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cur == nil || e.cur.cmd == nil || e.cur.cmd.Process == nil {
		return 0
	}
	return e.cur.cmd.Process.Pid
}

// memory returns the resident bytes of the browser's process tree (0 when unknown).
func (e *engine) memory() int64 {
	pid := e.pid()
	if pid == 0 {
		return 0
	}
	return treeRSS(pid)
}

// treeRSS sums the proportional set size (PSS) over pid and its descendants, from /proc: shared
// pages are split between the processes that share them, so the sum is what the browser costs.
func treeRSS(root int) int64 {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	parent := map[int]int{}
	for _, en := range entries {
		pid, err := strconv.Atoi(en.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", en.Name(), "stat")) //nolint:gosec // G304: a /proc path built from a number
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may hold spaces and parentheses.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 2 {
			continue
		}
		if pp, err := strconv.Atoi(f[1]); err == nil {
			parent[pid] = pp
		}
	}
	var total int64
	for pid := range parent {
		for p, hops := pid, 0; p != 0 && hops < 64; p, hops = parent[p], hops+1 {
			if p == root {
				total += rssOf(pid)
				break
			}
		}
	}
	return total
}

func rssOf(pid int) int64 {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "smaps_rollup")) //nolint:gosec // G304: a /proc path built from a number
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "Pss:"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				kb, _ := strconv.ParseInt(f[0], 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}

// newBrowserContext creates an incognito browser context in c with downloads refused (or
// allowed into dir).
func (c *chrome) newBrowserContext(ctx context.Context, downloadDir string) (cdp.BrowserContextID, error) {
	res, err := chromedp.CallBrowser(withParent(ctx, c.ctx), target.CreateBrowserContext, target.CreateBrowserContextParams{})
	if err != nil {
		return "", fmt.Errorf("creating a browser context: %w", err)
	}
	id := res.BrowserContextID
	dl := browser.SetDownloadBehaviorParams{Behavior: browser.SetDownloadBehaviorBehaviorDeny, BrowserContextID: id, EventsEnabled: ptr(true)}
	if downloadDir != "" {
		dl.Behavior = browser.SetDownloadBehaviorBehaviorAllowAndName
		dl.DownloadPath = downloadDir
	}
	if _, err := chromedp.CallBrowser(withParent(ctx, c.ctx), browser.SetDownloadBehavior, dl); err != nil {
		return "", fmt.Errorf("setting the download behaviour: %w", err)
	}
	return id, nil
}

// disposeBrowserContext closes a context and its tabs.
func (c *chrome) disposeBrowserContext(ctx context.Context, id cdp.BrowserContextID) {
	if !c.alive() {
		return
	}
	_, _ = chromedp.CallBrowser(withParent(ctx, c.ctx), target.DisposeBrowserContext, target.DisposeBrowserContextParams{BrowserContextID: id})
}

// withParent returns a context carrying chromedp's value from browserCtx and the deadline and
// cancellation of callCtx: a call must not outlive its deadline, and must not cancel the
// browser.
func withParent(callCtx, browserCtx context.Context) context.Context {
	return valueFrom{Context: callCtx, values: browserCtx}
}

// valueFrom takes values from another context.
type valueFrom struct {
	context.Context                 //nolint:containedctx // a call's context, wrapped for one call only
	values          context.Context //nolint:containedctx // a read-only view of chromedp's context values
}

func (v valueFrom) Value(key any) any {
	if x := v.values.Value(key); x != nil {
		return x
	}
	return v.Context.Value(key)
}

// debugWriter sends Chromium's output (mostly D-Bus noise) to the log at debug level.
type debugWriter struct{ logger *slog.Logger }

func (w *debugWriter) Write(p []byte) (int, error) {
	if w.logger.Enabled(context.Background(), slog.LevelDebug) {
		w.logger.Debug("chromium", slog.String("output", strings.TrimSpace(string(p))))
	}
	return len(p), nil
}
