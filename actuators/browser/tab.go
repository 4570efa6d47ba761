package browser

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/fetch"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"
)

// tab is one page of a session, with what it logged.
type tab struct {
	s    *Server
	sess *session
	id   target.ID
	// mainFrame is id for the event goroutines, which may run before init learns it.
	mainFrame atomic.Pointer[string]
	// ctx is the tab's chromedp context. The tab lives as long as it (the first Run binds the
	// target to it), so it is kept here, cancelled by close; calls run on withParent(callCtx, ctx).
	ctx    context.Context //nolint:containedctx // see above
	cancel context.CancelFunc

	detached <-chan struct{}
	closed   atomic.Bool

	// Navigation tracking: navSeq counts main-frame navigations started, loadSeq load events.
	navSeq  atomic.Int64
	loadSeq atomic.Int64
	reqSeq  atomic.Int64  // main-frame navigations requested, which may never start (a download, a 204)
	loadCh  chan struct{} // gets a token on every load event

	fetchSem chan struct{}

	docStatus atomic.Int64 // HTTP status of the main document; 0 until it answers

	mu       sync.Mutex // guards everything below
	console  ring[consoleEntry]
	network  ring[*networkEntry]
	netByID  map[network.RequestID]*networkEntry
	refused  map[string]string // URL -> refusal, to explain net::ERR_BLOCKED_BY_CLIENT
	events   []string          // dialogs, console errors, refusals since the last summary
	errCount int
}

type consoleEntry struct {
	Level string
	Text  string
	URL   string
}

type networkEntry struct {
	Method  string
	URL     string
	Type    string
	Status  int64
	Failed  string
	Refusal string
}

// ring is a bounded log: the oldest entries go first.
type ring[T any] struct {
	items   []T
	max     int
	dropped int
}

func (r *ring[T]) add(v T) {
	if len(r.items) >= r.max {
		copy(r.items, r.items[1:])
		r.items = r.items[:len(r.items)-1]
		r.dropped++
	}
	r.items = append(r.items, v)
}

// maxEventsPerSummary bounds what one summary lists.
const maxEventsPerSummary = 20

func newTabStruct(s *Server, sess *session) *tab {
	return &tab{
		s: s, sess: sess,
		loadCh:   make(chan struct{}, 1),
		fetchSem: make(chan struct{}, 8),
		console:  ring[consoleEntry]{max: consoleRingSize},
		network:  ring[*networkEntry]{max: networkRingSize},
		netByID:  map[network.RequestID]*networkEntry{},
		refused:  map[string]string{},
	}
}

// newTab opens a tab in the session's browser context, with egress interception on before it
// loads anything.
func newTab(ctx context.Context, s *Server, sess *session) (*tab, error) {
	t := newTabStruct(s, sess)
	t.ctx, t.cancel = chromedp.NewContext(sess.chrome.ctx, chromedp.WithExistingBrowserContext(sess.bc), chromedp.WithListener(t.onEvent))
	if err := t.init(ctx); err != nil {
		return nil, err
	}
	return t, nil
}

// attachTab attaches to a tab that a page opened.
func attachTab(ctx context.Context, s *Server, sess *session, id target.ID) (*tab, error) {
	t := newTabStruct(s, sess)
	t.ctx, t.cancel = chromedp.NewContext(sess.chrome.ctx, chromedp.WithTargetID(id), chromedp.WithListener(t.onEvent))
	if err := t.init(ctx); err != nil {
		return nil, err
	}
	return t, nil
}

// init runs the tab's first command on its own long-lived context (chromedp binds the tab's
// life to it), bounded by the call's context.
func (t *tab) init(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() {
		_, err := chromedp.Call(t.ctx, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{{URLPattern: "*", RequestStage: fetch.RequestStageRequest}}})
		errc <- err
	}()
	select {
	case err := <-errc:
		if err != nil {
			t.close()
			return fmt.Errorf("opening a tab: %w", err)
		}
	case <-ctx.Done():
		t.close()
		return fmt.Errorf("opening a tab: %w", ctx.Err())
	}
	c := chromedp.FromContext(t.ctx)
	t.id = c.Target.TargetID
	id := string(t.id)
	t.mainFrame.Store(&id)
	if d, err := chromedp.Detached(t.ctx); err == nil {
		t.detached = d
	}
	cctx := t.callCtx(ctx)
	cfg := t.s.cfg
	if _, err := chromedp.Call(cctx, emulation.SetDeviceMetricsOverride, emulation.SetDeviceMetricsOverrideParams{
		Width: int64(cfg.ViewportWidth), Height: int64(cfg.ViewportHeight), DeviceScaleFactor: 1,
	}); err != nil {
		t.close()
		return fmt.Errorf("setting the viewport: %w", err)
	}
	return nil
}

// callCtx returns the context a call's commands run on: the call's deadline, the tab's target.
func (t *tab) callCtx(ctx context.Context) context.Context { return withParent(ctx, t.ctx) }

// alive reports whether the tab still exists.
func (t *tab) alive() bool {
	if t.closed.Load() || t.ctx.Err() != nil {
		return false
	}
	if t.detached != nil {
		select {
		case <-t.detached:
			return false
		default:
		}
	}
	return true
}

// close closes the tab (chromedp closes the target when its context is cancelled).
func (t *tab) close() {
	if t.closed.Swap(true) {
		return
	}
	if t.cancel != nil {
		done := make(chan struct{})
		go func() { t.cancel(); close(done) }()
		select {
		case <-done:
		case <-time.After(cleanupTimeout):
		}
	}
}

// onEvent runs on chromedp's reader goroutine for every event of the tab: it must not block
// or send commands, so anything that needs a command runs on its own goroutine.
func (t *tab) onEvent(ev any) {
	switch e := ev.(type) {
	case *fetch.EventRequestPaused:
		go t.decideRequest(e)
	case *page.EventJavascriptDialogOpening:
		t.note(fmt.Sprintf("dialog %s %q was dismissed", e.Type, truncate(e.Message, 300)))
		go t.dismissDialog()
	case *page.EventFrameStartedLoading:
		if t.isMain(e.FrameID) {
			t.navSeq.Add(1)
		}
	case *page.EventFrameRequestedNavigation:
		if t.isMain(e.FrameID) {
			t.reqSeq.Add(1)
		}
	case *page.EventLoadEventFired:
		t.loadSeq.Store(t.navSeq.Load())
		select {
		case t.loadCh <- struct{}{}:
		default:
		}
	case *page.EventFrameStoppedLoading:
		if t.isMain(e.FrameID) {
			t.loadSeq.Store(t.navSeq.Load())
			select {
			case t.loadCh <- struct{}{}:
			default:
			}
		}
	case *runtime.EventConsoleAPICalled:
		var parts []string
		for _, a := range e.Args {
			parts = append(parts, remoteObjectText(a))
		}
		t.logConsole(string(e.Type), strings.Join(parts, " "), "")
	case *runtime.EventExceptionThrown:
		if d := e.ExceptionDetails; d != nil {
			msg := d.Text
			if d.Exception != nil && d.Exception.Description != "" {
				msg = d.Exception.Description
			}
			t.logConsole("error", "uncaught "+msg, d.URL)
		}
	case *cdplog.EventEntryAdded:
		if e.Entry != nil {
			t.logConsole(string(e.Entry.Level), e.Entry.Text, e.Entry.URL)
		}
	case *network.EventRequestWillBeSent:
		if e.Request == nil {
			return
		}
		if e.Type == network.ResourceTypeDocument && t.isMain(e.FrameID) {
			t.docStatus.Store(0)
		}
		t.mu.Lock()
		n := &networkEntry{Method: e.Request.Method, URL: truncate(e.Request.URL, maxLoggedURLBytes), Type: string(e.Type)}
		t.network.add(n)
		t.netByID[e.RequestID] = n
		if len(t.netByID) > 4*networkRingSize {
			clear(t.netByID)
		}
		t.mu.Unlock()
	case *network.EventResponseReceived:
		if e.Response == nil {
			return
		}
		if e.Type == network.ResourceTypeDocument && t.isMain(e.FrameID) {
			t.docStatus.Store(e.Response.Status)
		}
		t.mu.Lock()
		if n := t.netByID[e.RequestID]; n != nil {
			n.Status = e.Response.Status
		}
		t.mu.Unlock()
	case *network.EventLoadingFailed:
		t.mu.Lock()
		if n := t.netByID[e.RequestID]; n != nil {
			n.Failed = e.ErrorText
			if e.BlockedReason != "" {
				n.Failed += " (" + string(e.BlockedReason) + ")"
			}
			if r, ok := t.refused[n.URL]; ok {
				n.Refusal = r
			}
		}
		t.mu.Unlock()
	}
}

// isMain reports whether frame is the tab's main frame (whose id is the target's).
func (t *tab) isMain(frame cdp.FrameID) bool {
	id := t.mainFrame.Load()
	return id != nil && *id == string(frame)
}

// remoteObjectText renders a console argument briefly.
func remoteObjectText(o *runtime.RemoteObject) string {
	if o == nil {
		return ""
	}
	if len(o.Value) > 0 {
		s := string(o.Value)
		if len(s) >= 2 && s[0] == '"' {
			var out string
			if err := json.Unmarshal(o.Value, &out); err == nil {
				return out
			}
		}
		return s
	}
	if o.Description != "" {
		return o.Description
	}
	return string(o.Type)
}

func (t *tab) logConsole(level, text, url string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.console.add(consoleEntry{Level: level, Text: truncate(text, maxLoggedTextBytes), URL: truncate(url, maxLoggedURLBytes)})
	if level == "error" || level == "assert" {
		t.errCount++
		t.noteLocked("console error: " + truncate(text, 300))
	}
}

func (t *tab) note(s string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.noteLocked(s)
}

func (t *tab) noteLocked(s string) {
	if len(t.events) < 4*maxEventsPerSummary {
		t.events = append(t.events, s)
	}
}

// takeEvents returns and clears what happened since the last call.
func (t *tab) takeEvents() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	ev := t.events
	t.events = nil
	return ev
}

// dismissDialog dismisses the open dialog: alert, confirm (false), prompt (null), beforeunload
// (stay) are all answered the cautious way.
func (t *tab) dismissDialog() {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	_, _ = chromedp.Call(t.callCtx(ctx), page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
}

// decideRequest lets one paused request go on or fails it, by the browser's URL rule and the
// egress policy.
func (t *tab) decideRequest(e *fetch.EventRequestPaused) {
	t.fetchSem <- struct{}{}
	defer func() { <-t.fetchSem }()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	raw := ""
	if e.Request != nil {
		raw = e.Request.URL
	}
	topLevel := e.ResourceType == network.ResourceTypeDocument && t.isMain(e.FrameID)
	why := t.sess.checker.check(ctx, raw, topLevel)
	cctx := t.callCtx(ctx)
	if why == "" {
		_, _ = chromedp.Call(cctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: e.RequestID})
		return
	}
	t.mu.Lock()
	short := truncate(raw, maxLoggedURLBytes)
	t.refused[short] = why
	if len(t.refused) > 4*networkRingSize {
		clear(t.refused)
		t.refused[short] = why
	}
	if n := t.netByID[e.NetworkID]; n != nil {
		n.Refusal = why
	} else {
		t.network.add(&networkEntry{Method: e.Request.Method, URL: short, Type: string(e.ResourceType), Refusal: why})
	}
	t.noteLocked("blocked " + strings.ToLower(string(e.ResourceType)) + " request: " + why)
	t.mu.Unlock()
	_, _ = chromedp.Call(cctx, fetch.FailRequest, fetch.FailRequestParams{RequestID: e.RequestID, ErrorReason: network.ErrorReasonBlockedByClient})
}

// navigate loads raw in the tab and waits for its load event (bounded).
func (t *tab) navigate(ctx context.Context, raw string) error {
	before := t.navSeq.Load()
	res, err := chromedp.Call(t.callCtx(ctx), page.Navigate, page.NavigateParams{URL: raw})
	if err != nil {
		return err
	}
	if res.ErrorText != "" {
		if r := t.lastRefusal(); r != "" && strings.Contains(res.ErrorText, "BLOCKED_BY_CLIENT") {
			return &errRefused{r}
		}
		return fmt.Errorf("the page did not load: %s", res.ErrorText)
	}
	if res.LoaderID == "" { // same-document navigation: no load event comes
		return nil
	}
	if t.navSeq.Load() == before {
		t.navSeq.Add(1)
	}
	return t.waitLoad(ctx)
}

// errRefused is a navigation the egress policy refused.
type errRefused struct{ msg string }

func (e *errRefused) Error() string { return e.msg }

// lastRefusal returns the most recent refusal noted in the events.
func (t *tab) lastRefusal() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i := len(t.events) - 1; i >= 0; i-- {
		if _, r, ok := strings.Cut(t.events[i], "request: "); ok && strings.HasPrefix(r, "egress policy refused") {
			return r
		}
	}
	return ""
}

// errNavTimeout says the load event did not come in time.
var errNavTimeout = errors.New("navigation timeout")

// waitLoad waits until every started main-frame navigation fired its load event, up to the
// navigation timeout.
func (t *tab) waitLoad(ctx context.Context) error {
	timer := time.NewTimer(t.s.cfg.NavigationTimeout.D())
	defer timer.Stop()
	for t.loadSeq.Load() < t.navSeq.Load() {
		select {
		case <-t.loadCh:
		case <-timer.C:
			return errNavTimeout
		case <-ctx.Done():
			return errNavTimeout
		case <-t.detachedOrNever():
			return errGone
		}
	}
	return nil
}

func (t *tab) detachedOrNever() <-chan struct{} {
	if t.detached != nil {
		return t.detached
	}
	return nil
}

// settle runs after an action: when the action started a navigation of the main frame, it
// waits for its load event; otherwise it returns at once. It does not sleep "for the page to
// settle" as playwright-mcp does (up to 500 ms an action): one round trip to the renderer
// makes sure the input was handled, and the navigation events, when there are any, have come
// before its answer.
func (t *tab) settle(ctx context.Context, m navMark) (info pageState, err error) {
	// The round trip reads the URL and title too: when no navigation follows, the summary
	// uses them and saves a round trip per action.
	res, evalErr := chromedp.Call(t.callCtx(ctx), runtime.Evaluate, runtime.EvaluateParams{
		Expression: "[location.href, document.title]", ReturnByValue: ptr(true)})
	if t.navSeq.Load() == m.nav && t.reqSeq.Load() != m.req {
		// The page asked to navigate and the browser has not started yet: give it a moment,
		// not the whole navigation timeout (a download or a 204 never starts).
		deadline := time.Now().Add(requestedNavGrace)
		for t.navSeq.Load() == m.nav && time.Now().Before(deadline) && ctx.Err() == nil {
			time.Sleep(5 * time.Millisecond)
		}
	}
	if t.navSeq.Load() == m.nav {
		if evalErr == nil && res.Result != nil && res.ExceptionDetails == nil {
			var v [2]string
			if json.Unmarshal(res.Result.Value, &v) == nil {
				info = pageState{url: v[0], title: v[1], known: true}
			}
		}
		return info, nil
	}
	return pageState{}, t.waitLoad(ctx)
}

// pageState is a tab's URL and title as read at one moment; known is false when not read.
type pageState struct {
	url, title string
	known      bool
}

// requestedNavGrace bounds the wait between a requested and a started navigation.
const requestedNavGrace = time.Second

// navMark is where the navigation counters stood before an action.
type navMark struct{ nav, req int64 }

func (t *tab) mark() navMark { return navMark{nav: t.navSeq.Load(), req: t.reqSeq.Load()} }

// pageInfo returns the tab's URL and title.
func (t *tab) pageInfo(ctx context.Context) (url, title string) {
	res, err := chromedp.Call(t.callCtx(ctx), runtime.Evaluate, runtime.EvaluateParams{
		Expression: "[location.href, document.title]", ReturnByValue: ptr(true)})
	if err != nil || res.Result == nil || res.ExceptionDetails != nil {
		return "", ""
	}
	var v [2]string
	if json.Unmarshal(res.Result.Value, &v) != nil {
		return "", ""
	}
	return v[0], v[1]
}

// back goes one entry back in the tab's history.
func (t *tab) back(ctx context.Context) error {
	cctx := t.callCtx(ctx)
	h, err := chromedp.Call(cctx, page.GetNavigationHistory, cdp.Empty{})
	if err != nil {
		return err
	}
	if h.CurrentIndex <= 0 || int(h.CurrentIndex) >= len(h.Entries) {
		return &errUser{"there is no previous page in this tab's history"}
	}
	_, err = chromedp.Call(cctx, page.NavigateToHistoryEntry, page.NavigateToHistoryEntryParams{EntryID: h.Entries[h.CurrentIndex-1].ID})
	return err
}
