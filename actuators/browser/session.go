package browser

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"

	"github.com/mcphub/mcphub/servers/registry"
)

// sessions holds every browser session: one per MCP session, or per browser_session handle
// under the stateless protocol. A session is bound to the identity that created it.
type sessions struct {
	s *Server

	mu        sync.Mutex
	byHandle  map[string]*session
	byMCP     map[string]*session
	byBC      map[cdp.BrowserContextID]*session
	spare     *session // a ready context and tab for the next new session; nil when none
	warming   bool
	closedAll bool
}

// session is one caller's browser context, its tabs and what happened in them.
type session struct {
	handle     string
	identity   string
	mcpSession string

	call sync.Mutex // one call at a time: the actions of one tab race otherwise

	// Guarded by call.
	gen     uint64 // the browser generation the context lives in; 0 before the first use
	chrome  *chrome
	bc      cdp.BrowserContextID
	tabs    []*tab
	cur     int
	checker *checker
	pdfSeq  int

	// Guarded by sessions.mu.
	lastUsed time.Time
	inCall   int
	closed   bool

	// pending holds what the browser reported between calls (pop-ups, downloads); guarded by pmu.
	pmu            sync.Mutex
	popups         []target.ID
	dlNotes        []string
	tabIDsSnapshot []target.ID
}

func newSessions(s *Server) *sessions {
	return &sessions{s: s, byHandle: map[string]*session{}, byMCP: map[string]*session{}, byBC: map[cdp.BrowserContextID]*session{}}
}

// errSession is a problem with the caller's session that the caller can fix.
type errSession struct{ msg string }

func (e *errSession) Error() string { return e.msg }

// newHandle returns an unguessable handle: 128 random bits.
func newHandle() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never returns an error (Go 1.24+)
	return "bs_" + hex.EncodeToString(b[:])
}

// acquire finds or creates the caller's session and takes its call lock; release gives it
// back. handle is the browser_session argument ("" when absent).
func (ss *sessions) acquire(ctx context.Context, handle string) (*session, error) {
	identity := registry.Identity(ctx)
	mcpID := registry.SessionID(ctx)
	ss.mu.Lock()
	var sess *session
	switch {
	case handle != "":
		sess = ss.byHandle[handle]
		if sess == nil || sess.identity != identity {
			ss.mu.Unlock()
			// The same answer for a handle of another identity as for an unknown one: a caller
			// learns nothing about others' handles.
			return nil, &errSession{"browser_session " + truncate(handle, 48) + " is unknown or expired (sessions close after " +
				ss.s.cfg.IdleTTL.String() + " unused); call again without browser_session to start a new one"}
		}
	case mcpID != "":
		sess = ss.byMCP[mcpID]
		if sess != nil && sess.identity != identity {
			ss.mu.Unlock()
			return nil, &errSession{"this MCP session belongs to another identity"}
		}
	}
	if sess == nil {
		if err := ss.makeRoomLocked(); err != nil {
			ss.mu.Unlock()
			return nil, err
		}
		if sp := ss.spare; sp != nil && !sp.chrome.alive() {
			// Made in a browser that has gone since.
			ss.spare = nil
			if ss.byBC[sp.bc] == sp {
				delete(ss.byBC, sp.bc)
			}
			go sp.dispose()
		}
		if sp := ss.spare; sp != nil {
			// A context and a tab made in advance: the new session's first call skips their
			// creation (the slowest part of a first call).
			ss.spare = nil
			sess = sp
			sess.identity, sess.mcpSession = identity, mcpID
		} else {
			sess = &session{handle: newHandle(), identity: identity, mcpSession: mcpID, checker: newChecker(ss.s.policy)}
		}
		ss.byHandle[sess.handle] = sess
		defer ss.warm()
		if mcpID != "" && handle == "" {
			ss.byMCP[mcpID] = sess
		}
	}
	sess.inCall++
	sess.lastUsed = time.Now()
	ss.mu.Unlock()

	locked := make(chan struct{})
	go func() { sess.call.Lock(); close(locked) }()
	select {
	case <-locked:
	case <-ctx.Done():
		// Take the lock later and give it back at once, so that it is not leaked.
		go func() { <-locked; sess.call.Unlock() }()
		ss.release(sess)
		return nil, &errSession{"timed out waiting for this browser session's previous call to finish"}
	}
	ss.mu.Lock()
	closed := sess.closed
	ss.mu.Unlock()
	if closed {
		sess.call.Unlock()
		ss.release(sess)
		return nil, &errSession{"this browser session was closed; call again without browser_session to start a new one"}
	}
	return sess, nil
}

// warm makes a spare session (context and tab) in the background, when the browser runs,
// none is spare or being made, and the pool has room for one more.
func (ss *sessions) warm() {
	ss.mu.Lock()
	if ss.warming || ss.spare != nil || len(ss.byHandle)+1 >= ss.s.cfg.MaxContexts || !ss.s.engine.alive() {
		ss.mu.Unlock()
		return
	}
	ss.warming = true
	ss.mu.Unlock()
	go func() {
		sp := &session{handle: newHandle(), checker: newChecker(ss.s.policy), lastUsed: time.Now()}
		ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
		defer cancel()
		sp.call.Lock()
		_, err := sp.ensure(ctx, ss)
		sp.call.Unlock()
		ss.mu.Lock()
		ss.warming = false
		keep := err == nil && ss.spare == nil && !ss.closedAll
		if keep {
			ss.spare = sp
		}
		ss.mu.Unlock()
		if !keep {
			if sp.bc != "" {
				ss.mu.Lock()
				if ss.byBC[sp.bc] == sp {
					delete(ss.byBC, sp.bc)
				}
				ss.mu.Unlock()
			}
			sp.dispose()
		}
	}()
}

// release ends a call.
func (ss *sessions) release(sess *session) {
	ss.mu.Lock()
	sess.inCall--
	sess.lastUsed = time.Now()
	ss.mu.Unlock()
}

// makeRoomLocked closes the least recently used idle session when the pool is full.
func (ss *sessions) makeRoomLocked() error {
	if len(ss.byHandle) < ss.s.cfg.MaxContexts {
		return nil
	}
	var victim *session
	for _, c := range ss.byHandle {
		if c.inCall == 0 && (victim == nil || c.lastUsed.Before(victim.lastUsed)) {
			victim = c
		}
	}
	if victim == nil {
		return &errSession{fmt.Sprintf("all %d browser sessions (servers.browser.max_contexts) are busy; try again shortly, or close one with browser_close", ss.s.cfg.MaxContexts)}
	}
	ss.s.logger.Info("closing the least recently used browser session to make room", slog.String("session", victim.handle[:8]))
	ss.removeLocked(victim)
	go victim.dispose()
	return nil
}

// removeLocked forgets sess; the caller disposes of its context.
func (ss *sessions) removeLocked(sess *session) {
	sess.closed = true
	delete(ss.byHandle, sess.handle)
	if sess.mcpSession != "" && ss.byMCP[sess.mcpSession] == sess {
		delete(ss.byMCP, sess.mcpSession)
	}
	if sess.bc != "" && ss.byBC[sess.bc] == sess {
		delete(ss.byBC, sess.bc)
	}
}

// close closes sess now (browser_close); the caller holds its call lock.
func (ss *sessions) close(sess *session) {
	ss.mu.Lock()
	ss.removeLocked(sess)
	ss.mu.Unlock()
	sess.disposeLocked()
}

// dispose closes the session's tabs and context once any running call ended.
func (sess *session) dispose() {
	sess.call.Lock()
	defer sess.call.Unlock()
	sess.disposeLocked()
}

func (sess *session) disposeLocked() {
	for _, t := range sess.tabs {
		t.close()
	}
	sess.tabs = nil
	if sess.chrome != nil && sess.bc != "" {
		ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
		sess.chrome.disposeBrowserContext(ctx, sess.bc)
		cancel()
	}
	sess.bc = ""
	sess.chrome = nil
}

// endMCPSession closes the session of an MCP session that ended.
func (ss *sessions) endMCPSession(id string) {
	ss.mu.Lock()
	sess := ss.byMCP[id]
	if sess != nil {
		ss.removeLocked(sess)
	}
	ss.mu.Unlock()
	if sess != nil {
		go sess.dispose()
	}
}

// closeIdle closes the sessions unused for longer than the idle TTL.
func (ss *sessions) closeIdle(now time.Time) {
	ttl := ss.s.cfg.IdleTTL.D()
	ss.mu.Lock()
	var idle []*session
	for _, c := range ss.byHandle {
		if c.inCall == 0 && now.Sub(c.lastUsed) > ttl {
			ss.removeLocked(c)
			idle = append(idle, c)
		}
	}
	ss.mu.Unlock()
	for _, c := range idle {
		c.dispose()
	}
}

// closeLeastRecent closes the least recently used session idle for at least minIdle, and
// reports whether it closed one.
func (ss *sessions) closeLeastRecent(minIdle time.Duration) bool {
	ss.mu.Lock()
	var all []*session
	for _, c := range ss.byHandle {
		if c.inCall == 0 && time.Since(c.lastUsed) >= minIdle {
			all = append(all, c)
		}
	}
	if len(all) == 0 {
		ss.mu.Unlock()
		return false
	}
	sort.Slice(all, func(i, j int) bool { return all[i].lastUsed.Before(all[j].lastUsed) })
	victim := all[0]
	ss.removeLocked(victim)
	ss.mu.Unlock()
	victim.dispose()
	return true
}

// busy returns the number of sessions in a call.
func (ss *sessions) busy() int {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	n := 0
	for _, c := range ss.byHandle {
		if c.inCall > 0 {
			n++
		}
	}
	return n
}

// closeAll closes every session.
func (ss *sessions) closeAll() {
	ss.mu.Lock()
	ss.closedAll = true
	all := make([]*session, 0, len(ss.byHandle)+1)
	if ss.spare != nil {
		all = append(all, ss.spare)
		ss.spare = nil
	}
	for _, c := range ss.byHandle {
		ss.removeLocked(c)
		all = append(all, c)
	}
	ss.mu.Unlock()
	var wg sync.WaitGroup
	for _, c := range all {
		wg.Go(c.dispose)
	}
	wg.Wait()
}

// browserEvent routes the browser's events (pop-ups, downloads) to their session. It runs on
// chromedp's reader goroutine: no commands, no blocking.
func (ss *sessions) browserEvent(gen uint64, ev any) {
	switch e := ev.(type) {
	case *target.EventTargetCreated:
		info := e.TargetInfo
		if info == nil || info.Type != "page" || info.OpenerID == "" {
			return
		}
		ss.mu.Lock()
		sess := ss.byBC[info.BrowserContextID]
		ss.mu.Unlock()
		if sess == nil {
			return
		}
		sess.pmu.Lock()
		sess.popups = append(sess.popups, info.TargetID)
		sess.pmu.Unlock()
	case *browser.EventDownloadWillBegin:
		ss.mu.Lock()
		var owner *session
		for _, c := range ss.byBC {
			c.pmu.Lock()
			for _, id := range c.tabIDsSnapshot {
				if string(id) == string(e.FrameID) {
					owner = c
				}
			}
			c.pmu.Unlock()
		}
		ss.mu.Unlock()
		if owner == nil {
			return
		}
		what := "refused (downloads are off; servers.browser.allow_downloads turns them on)"
		if ss.s.cfg.AllowDownloads {
			what = "saved in the session's download directory"
		}
		owner.pmu.Lock()
		owner.dlNotes = append(owner.dlNotes, fmt.Sprintf("download of %s (%s) %s", truncate(e.URL, maxLoggedURLBytes), truncate(e.SuggestedFilename, 200), what))
		owner.pmu.Unlock()
	}
	_ = gen
}

// ensure makes sure the session has a live browser context and a tab in the current browser.
// It returns a note when the session's earlier state was lost.
func (sess *session) ensure(ctx context.Context, ss *sessions) (note string, err error) {
	c, err := ss.s.engine.get(ctx)
	if err != nil {
		return "", err
	}
	if sess.gen != c.gen {
		if sess.gen != 0 {
			note = ss.s.engine.lostReason() + "; a new browser was started and this session's earlier tabs, cookies and storage were lost"
			for _, t := range sess.tabs {
				t.close()
			}
			sess.tabs, sess.cur = nil, 0
			ss.mu.Lock()
			if ss.byBC[sess.bc] == sess {
				delete(ss.byBC, sess.bc)
			}
			ss.mu.Unlock()
		}
		dl := ""
		if ss.s.cfg.AllowDownloads && ss.s.dlDir != "" {
			dl = filepath.Join(ss.s.dlDir, sess.handle)
			if err := os.MkdirAll(dl, 0o700); err != nil {
				return "", fmt.Errorf("creating the download directory: %w", err)
			}
		}
		bc, err := c.newBrowserContext(ctx, dl)
		if err != nil {
			return "", err
		}
		sess.gen, sess.chrome, sess.bc = c.gen, c, bc
		ss.mu.Lock()
		ss.byBC[bc] = sess
		ss.mu.Unlock()
	}
	// Tabs the user closed or that crashed go away.
	live := sess.tabs[:0]
	for i, t := range sess.tabs {
		if t.alive() {
			live = append(live, t)
		} else if i <= sess.cur && sess.cur > 0 {
			sess.cur--
		}
	}
	sess.tabs = live
	sess.adoptPopups(ctx, ss.s)
	if len(sess.tabs) == 0 {
		t, err := sess.openTab(ctx, ss.s, "")
		if err != nil {
			return note, err
		}
		sess.tabs, sess.cur = []*tab{t}, 0
	}
	if sess.cur >= len(sess.tabs) {
		sess.cur = len(sess.tabs) - 1
	}
	sess.syncTabIDs()
	return note, nil
}

// syncTabIDs publishes the tabs' target ids for the browser event router.
func (sess *session) syncTabIDs() {
	ids := make([]target.ID, 0, len(sess.tabs))
	for _, t := range sess.tabs {
		ids = append(ids, t.id)
	}
	sess.pmu.Lock()
	sess.tabIDsSnapshot = ids
	sess.pmu.Unlock()
}

// adoptPopups attaches to the tabs that pages opened since the last call.
func (sess *session) adoptPopups(ctx context.Context, s *Server) []*tab {
	sess.pmu.Lock()
	ids := sess.popups
	sess.popups = nil
	sess.pmu.Unlock()
	var adopted []*tab
	for _, id := range ids {
		if len(sess.tabs) >= s.cfg.MaxTabsPerContext {
			// Over the limit: close it rather than leave an unbounded tab running.
			_, _ = callBrowser(ctx, sess.chrome, target.CloseTarget, target.CloseTargetParams{TargetID: id})
			continue
		}
		t, err := attachTab(ctx, s, sess, id)
		if err != nil {
			s.logger.Debug("attaching to a page-opened tab", slog.String("error", err.Error()))
			continue
		}
		sess.tabs = append(sess.tabs, t)
		adopted = append(adopted, t)
	}
	return adopted
}

// current returns the selected tab.
func (sess *session) current() *tab { return sess.tabs[sess.cur] }

// openTab opens a new tab in the session's context.
func (sess *session) openTab(ctx context.Context, s *Server, _ string) (*tab, error) {
	if len(sess.tabs) >= s.cfg.MaxTabsPerContext {
		return nil, &errSession{fmt.Sprintf("this session has %d tabs, the most servers.browser.max_tabs_per_context allows; close one with browser_tabs action=close", len(sess.tabs))}
	}
	return newTab(ctx, s, sess)
}

var errGone = errors.New("the tab is gone")

// callBrowser runs a browser-level command of c under the call's deadline.
func callBrowser[P, R any](ctx context.Context, c *chrome, cmd cdp.Command[P, R], p P) (R, error) {
	var zero R
	if c == nil || !c.alive() {
		return zero, errGone
	}
	return chromedp.CallBrowser(withParent(ctx, c.ctx), cmd, p)
}
