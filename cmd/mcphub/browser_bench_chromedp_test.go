package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/accessibility"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/dom"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
)

// rawChromedp is the benchmark's floor: the same five actions on the same page with chromedp
// called directly, no MCP, no hub. One long-lived Chromium and one incognito browser context
// with one tab, as mcphub keeps per MCP session. Each action is the least DevTools work that
// does it, sent with chromedp: Navigate (page.navigate, then the load event); the snapshot is
// the full accessibility tree rendered as indented "role "name" [ref=N]" lines, with the
// elements' backend node ids as refs; click and type act on those ids (no DOM query, no
// wait); CaptureScreenshot is a viewport PNG.
type rawChromedp struct {
	browserCtx context.Context //nolint:containedctx // the browser's life, owned by the contender
	tabCtx     context.Context //nolint:containedctx // the benchmark tab
	cancel     []context.CancelFunc
	pid        int
	lastSnap   int // bytes of the last snapshot text, for the report
	// button and box are the backend node ids of the Increment button and the Search text
	// box in the last snapshot: the raw side's refs.
	button, box cdp.BackendNodeID
}

// benchChromiumFlags are the flags the notes found to work as root in this VM, with the
// loopback-only resolver as a safety net: the benchmark never reaches off this machine.
func benchChromiumFlags(userDataDir string) []chromedp.ExecAllocatorOption {
	return []chromedp.ExecAllocatorOption{
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.UserDataDir(userDataDir),
		chromedp.WindowSize(benchViewportWidth, benchViewportHeight),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"),
	}
}

// benchViewportWidth and benchViewportHeight are the viewport of every contender (mcphub's
// and playwright-mcp's default).
const (
	benchViewportWidth  = 1280
	benchViewportHeight = 720
)

func startRawChromedp(t *testing.T, chromium string) *rawChromedp {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium))
	opts = append(opts, benchChromiumFlags(t.TempDir())...)
	r := &rawChromedp{}
	// The browser's life is tied to a context with no deadline (see the notes); each action
	// gets its own timeout on a child.
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	r.cancel = append(r.cancel, cancelAlloc)
	browserCtx, cancelBrowser := chromedp.NewContext(allocCtx)
	r.cancel = append(r.cancel, cancelBrowser)
	t.Cleanup(r.close)
	if err := chromedp.Do(browserCtx); err != nil {
		t.Fatalf("raw chromedp: starting %s: %v", chromium, err)
	}
	r.browserCtx = browserCtx
	r.pid = chromedp.FromContext(browserCtx).Browser.Process().Pid
	tabCtx, cancelTab := r.newContext(t)
	r.cancel = append(r.cancel, cancelTab)
	r.tabCtx = tabCtx
	return r
}

// newContext opens a new incognito browser context with one tab.
func (r *rawChromedp) newContext(t *testing.T) (context.Context, context.CancelFunc) {
	t.Helper()
	ctx, cancel := chromedp.NewContext(r.browserCtx, chromedp.WithNewBrowserContext())
	// The viewport of mcphub's tabs and playwright-mcp's pages: 1280x720 CSS pixels, so that
	// every contender paints and encodes the same screenshot.
	err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, emulation.SetDeviceMetricsOverride, emulation.SetDeviceMetricsOverrideParams{
			Width: benchViewportWidth, Height: benchViewportHeight, DeviceScaleFactor: 1,
		})
		return err
	}))
	if err != nil {
		cancel()
		t.Fatalf("raw chromedp: new browser context: %v", err)
	}
	return ctx, cancel
}

func (r *rawChromedp) close() {
	for i := len(r.cancel) - 1; i >= 0; i-- {
		r.cancel[i]()
	}
	r.cancel = nil
}

func (r *rawChromedp) Name() string { return "raw chromedp" }

func (r *rawChromedp) step(ctx context.Context, actions ...chromedp.Action[chromedp.Void]) error {
	ctx, cancel := benchStepContext(ctx, r.tabCtx)
	defer cancel()
	return chromedp.Do(ctx, actions...)
}

func (r *rawChromedp) Navigate(ctx context.Context, url string) error {
	return r.step(ctx, chromedp.Navigate(url))
}

func (r *rawChromedp) Snapshot(ctx context.Context) error {
	ctx, cancel := benchStepContext(ctx, r.tabCtx)
	defer cancel()
	snap, err := chromedp.Run(ctx, axSnapshot)
	if err != nil {
		return err
	}
	if r.button, r.box = snap.refs[`button "`+benchButtonName+`"`], snap.refs[`textbox "`+benchBoxName+`"`]; r.button == 0 || r.box == 0 {
		return fmt.Errorf("snapshot has no %q button or %q text box", benchButtonName, benchBoxName)
	}
	r.lastSnap = len(snap.text)
	return nil
}

// Click clicks the button by the backend node id the snapshot gave, the way a ref-based click
// must: scroll it into view, find its box, then move, press and release the mouse at its
// centre. (chromedp.Click with a selector does more: a DOM query and a wait for visibility.)
func (r *rawChromedp) Click(ctx context.Context) error {
	id := r.button
	return r.step(ctx, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		if _, err := cdp.Call(ctx, t, dom.ScrollIntoViewIfNeeded, dom.ScrollIntoViewIfNeededParams{BackendNodeID: id}); err != nil {
			return err
		}
		q, err := cdp.Call(ctx, t, dom.GetContentQuads, dom.GetContentQuadsParams{BackendNodeID: id})
		if err != nil {
			return err
		}
		if len(q.Quads) == 0 || len(q.Quads[0]) < 8 {
			return errors.New("the button has no box")
		}
		var x, y float64
		for i := 0; i < 8; i += 2 {
			x, y = x+q.Quads[0][i]/4, y+q.Quads[0][i+1]/4
		}
		for _, ev := range []input.DispatchMouseEventParams{
			{Type: input.DispatchMouseEventTypeMouseMoved, X: x, Y: y},
			{Type: input.DispatchMouseEventTypeMousePressed, X: x, Y: y, Button: input.MouseButtonLeft, ClickCount: 1},
			{Type: input.DispatchMouseEventTypeMouseReleased, X: x, Y: y, Button: input.MouseButtonLeft, ClickCount: 1},
		} {
			if _, err := cdp.Call(ctx, t, input.DispatchMouseEvent, ev); err != nil {
				return err
			}
		}
		return nil
	}))
}

// Type fills the text box by its backend node id the way a fill does (mcphub's browser_type
// and playwright-mcp's default alike): focus it, then one Input.insertText, rather than
// chromedp.SendKeys' three key events per character.
func (r *rawChromedp) Type(ctx context.Context, text string) error {
	id := r.box
	return r.step(ctx, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		if _, err := cdp.Call(ctx, t, dom.Focus, dom.FocusParams{BackendNodeID: id}); err != nil {
			return err
		}
		_, err := cdp.Call(ctx, t, input.InsertText, input.InsertTextParams{Text: text})
		return err
	}))
}

func (r *rawChromedp) Screenshot(ctx context.Context) error {
	ctx, cancel := benchStepContext(ctx, r.tabCtx)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		return err
	}
	if len(png) < 8 || string(png[1:4]) != "PNG" {
		return errors.New("screenshot is not a PNG")
	}
	return nil
}

// Check reads the page state after one round: the click counted and the text was typed.
func (r *rawChromedp) Check(ctx context.Context) error {
	ctx, cancel := benchStepContext(ctx, r.tabCtx)
	defer cancel()
	status, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("status")))
	if err != nil {
		return err
	}
	value, err := chromedp.Run(ctx, chromedp.Value(chromedp.ID("q")))
	if err != nil {
		return err
	}
	if status != "Clicks: 1" || value != benchTyped {
		return fmt.Errorf("after the round: status %q, text box %q; want %q, %q", status, value, "Clicks: 1", benchTyped)
	}
	return nil
}

// BrowserRoot returns the browser process: the root of the Chromium process tree.
func (r *rawChromedp) BrowserRoot() int { return r.pid }

// OpenIdleContexts opens n more incognito contexts, each with a tab on url, for the memory
// figure; they close with the contender.
func (r *rawChromedp) OpenIdleContexts(t *testing.T, n int, url string) {
	t.Helper()
	for range n {
		ctx, cancel := r.newContext(t)
		r.cancel = append(r.cancel, cancel)
		sctx, scancel := benchStepContext(context.Background(), ctx)
		err := chromedp.Do(sctx, chromedp.Navigate(url))
		scancel()
		if err != nil {
			t.Fatalf("raw chromedp: idle context navigate: %v", err)
		}
	}
}

// axSnap is the raw side's snapshot: the text, and the backend node id of each "role "name""
// (the first of each), which stands in for a ref.
type axSnap struct {
	text string
	refs map[string]cdp.BackendNodeID
}

// axSnapshot is the raw side's snapshot: Accessibility.getFullAXTree, rendered depth-first
// from the root as one line per node that is not ignored.
var axSnapshot chromedp.Action[axSnap] = func(ctx context.Context, t *chromedp.Target) (axSnap, error) {
	res, err := cdp.Call(ctx, t, accessibility.GetFullAXTree, accessibility.GetFullAXTreeParams{})
	if err != nil {
		return axSnap{}, err
	}
	return renderAXTree(res.Nodes), nil
}

func renderAXTree(nodes []*accessibility.Node) axSnap {
	byID := make(map[accessibility.NodeID]*accessibility.Node, len(nodes))
	for _, n := range nodes {
		byID[n.NodeID] = n
	}
	refs := map[string]cdp.BackendNodeID{}
	var b strings.Builder
	var walk func(n *accessibility.Node, depth int)
	walk = func(n *accessibility.Node, depth int) {
		if !n.Ignored {
			role, name := axString(n.Role), axString(n.Name)
			if role != "none" && role != "generic" && role != "InlineTextBox" {
				b.WriteString(strings.Repeat("  ", depth))
				key := role
				if name != "" {
					key += " " + strconv.Quote(name)
				}
				fmt.Fprintf(&b, "- %s [ref=%d]\n", key, n.BackendDOMNodeID)
				if _, ok := refs[key]; !ok {
					refs[key] = n.BackendDOMNodeID
				}
				depth++
			}
		}
		for _, id := range n.ChildIDs {
			if c := byID[id]; c != nil {
				walk(c, depth)
			}
		}
	}
	if len(nodes) > 0 {
		walk(nodes[0], 0)
	}
	return axSnap{text: b.String(), refs: refs}
}

func axString(v *accessibility.Value) string {
	if v == nil || len(v.Value) == 0 {
		return ""
	}
	var s string
	if err := json.Unmarshal(v.Value, &s); err != nil {
		return string(v.Value)
	}
	return s
}

// benchStepContext bounds one action: the deadline is taken from ctx, the chromedp target
// from tab.
func benchStepContext(ctx, tab context.Context) (context.Context, context.CancelFunc) {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(benchStepTimeout)
	}
	return context.WithDeadline(tab, deadline)
}

// benchChromium returns the Chromium binary the benchmark drives (all contenders the same):
// the real binary behind Debian's wrapper when it is there (it starts faster), else the
// one internal/testenv finds.
func benchChromium(found string) string {
	if os.Getenv("MCPHUB_CHROMIUM") == "" {
		if st, err := os.Stat("/usr/lib/chromium/chromium"); err == nil && st.Mode().IsRegular() {
			return "/usr/lib/chromium/chromium"
		}
	}
	return found
}
