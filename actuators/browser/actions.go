package browser

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/dom"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// errUser is a problem the caller can fix (a stale ref, a hidden element, a bad key name).
type errUser struct{ msg string }

func (e *errUser) Error() string { return e.msg }

func userErr(format string, args ...any) error { return &errUser{fmt.Sprintf(format, args...)} }

// resolve returns a JavaScript handle on the element of ref.
func (t *tab) resolve(ctx context.Context, ref string) (cdp.BackendNodeID, runtime.RemoteObjectID, error) {
	id, err := parseRef(ref)
	if err != nil {
		return 0, "", &errUser{err.Error()}
	}
	res, err := chromedp.Call(t.callCtx(ctx), dom.ResolveNode, dom.ResolveNodeParams{BackendNodeID: id, ObjectGroup: "mcphub"})
	if err != nil || res.Object == nil || res.Object.ObjectID == "" {
		return 0, "", userErr("element %s is not on the page any more (or never was): take a new browser_snapshot and use a ref from it", ref)
	}
	return id, res.Object.ObjectID, nil
}

// callOn calls a JavaScript function with the element as this, and returns its JSON result.
func (t *tab) callOn(ctx context.Context, obj runtime.RemoteObjectID, fn string, args ...any) (json.RawMessage, error) {
	var cargs []*runtime.CallArgument
	for _, a := range args {
		b, err := json.Marshal(a)
		if err != nil {
			return nil, err
		}
		cargs = append(cargs, &runtime.CallArgument{Value: b})
	}
	res, err := chromedp.Call(t.callCtx(ctx), runtime.CallFunctionOn, runtime.CallFunctionOnParams{
		FunctionDeclaration: fn, ObjectID: obj, Arguments: cargs, ReturnByValue: ptr(true), AwaitPromise: ptr(true),
	})
	if err != nil {
		return nil, err
	}
	if res.ExceptionDetails != nil {
		return nil, &errUser{"the page threw: " + exceptionText(res.ExceptionDetails)}
	}
	if res.Result == nil {
		return nil, nil
	}
	return json.RawMessage(res.Result.Value), nil
}

func exceptionText(d *runtime.ExceptionDetails) string {
	if d.Exception != nil && d.Exception.Description != "" {
		return truncate(d.Exception.Description, 500)
	}
	return truncate(d.Text, 500)
}

// center scrolls the element into view and returns the middle of its first box, in viewport
// coordinates.
func (t *tab) center(ctx context.Context, id cdp.BackendNodeID, ref string) (x, y float64, err error) {
	cctx := t.callCtx(ctx)
	_, _ = chromedp.Call(cctx, dom.ScrollIntoViewIfNeeded, dom.ScrollIntoViewIfNeededParams{BackendNodeID: id})
	q, err := chromedp.Call(cctx, dom.GetContentQuads, dom.GetContentQuadsParams{BackendNodeID: id})
	if err != nil || len(q.Quads) == 0 {
		return 0, 0, userErr("element %s is not visible (it has no box on the page); take a new browser_snapshot", ref)
	}
	quad := q.Quads[0]
	if len(quad) < 8 {
		return 0, 0, userErr("element %s has no usable box", ref)
	}
	for i := 0; i < 8; i += 2 {
		x += quad[i]
		y += quad[i+1]
	}
	return x / 4, y / 4, nil
}

// click clicks the element like a user: move, press, release.
func (t *tab) click(ctx context.Context, ref, button string, count int) error {
	id, _, err := t.resolve(ctx, ref)
	if err != nil {
		return err
	}
	x, y, err := t.center(ctx, id, ref)
	if err != nil {
		return err
	}
	btn := input.MouseButtonLeft
	switch button {
	case "right":
		btn = input.MouseButtonRight
	case "middle":
		btn = input.MouseButtonMiddle
	}
	cctx := t.callCtx(ctx)
	if _, err := chromedp.Call(cctx, input.DispatchMouseEvent, input.DispatchMouseEventParams{Type: input.DispatchMouseEventTypeMouseMoved, X: x, Y: y}); err != nil {
		return err
	}
	for i := 1; i <= count; i++ {
		for _, typ := range []input.DispatchMouseEventType{input.DispatchMouseEventTypeMousePressed, input.DispatchMouseEventTypeMouseReleased} {
			if _, err := chromedp.Call(cctx, input.DispatchMouseEvent, input.DispatchMouseEventParams{
				Type: typ, X: x, Y: y, Button: btn, ClickCount: int64(i),
			}); err != nil {
				return err
			}
		}
	}
	return nil
}

// hover moves the mouse over the element.
func (t *tab) hover(ctx context.Context, ref string) error {
	id, _, err := t.resolve(ctx, ref)
	if err != nil {
		return err
	}
	x, y, err := t.center(ctx, id, ref)
	if err != nil {
		return err
	}
	_, err = chromedp.Call(t.callCtx(ctx), input.DispatchMouseEvent, input.DispatchMouseEventParams{Type: input.DispatchMouseEventTypeMouseMoved, X: x, Y: y})
	return err
}

// typeText replaces the element's content with text: focus, clear, insert (one input event,
// fast) or key by key when slowly.
func (t *tab) typeText(ctx context.Context, ref, text string, slowly bool) error {
	id, obj, err := t.resolve(ctx, ref)
	if err != nil {
		return err
	}
	cctx := t.callCtx(ctx)
	// One call focuses the element and selects what the field holds, so that the inserted
	// text replaces it (a round trip less than DOM.focus first); inputs whose type has no
	// selection (number, email in some engines) are emptied instead. It answers false when
	// the element did not take the focus; DOM.focus then has its say.
	const focusAndSelect = `function(focus) {
		if (focus) { this.focus(); const root = this.getRootNode(); if (root.activeElement !== this) return false; }
		if (this.isContentEditable) { const r = document.createRange(); r.selectNodeContents(this); const s = getSelection(); s.removeAllRanges(); s.addRange(r); return true; }
		if (!('value' in this)) return true;
		try { if (typeof this.select === 'function') { this.select(); if (this.value === '' || this.selectionStart !== null) return true; } } catch (e) {}
		this.value = '';
		return true;
	}`
	raw, err := t.callOn(ctx, obj, focusAndSelect, true)
	if err != nil {
		return err
	}
	if string(raw) == "false" {
		if _, err := chromedp.Call(cctx, dom.Focus, dom.FocusParams{BackendNodeID: id}); err != nil {
			return userErr("element %s cannot take text (it cannot be focused)", ref)
		}
		if _, err := t.callOn(ctx, obj, focusAndSelect, false); err != nil {
			return err
		}
	}
	if text == "" {
		_, err := chromedp.Call(cctx, input.DispatchKeyEvent, input.DispatchKeyEventParams{Type: input.DispatchKeyEventTypeRawKeyDown, Key: "Delete", Code: "Delete", WindowsVirtualKeyCode: 46})
		if err == nil {
			_, err = chromedp.Call(cctx, input.DispatchKeyEvent, input.DispatchKeyEventParams{Type: input.DispatchKeyEventTypeKeyUp, Key: "Delete", Code: "Delete", WindowsVirtualKeyCode: 46})
		}
		return err
	}
	if slowly {
		return chromedp.Do(cctx, chromedp.KeyEvent(text))
	}
	_, err = chromedp.Call(cctx, input.InsertText, input.InsertTextParams{Text: text})
	return err
}

// selectOptions selects the options of a <select> whose value or label is listed.
func (t *tab) selectOptions(ctx context.Context, ref string, values []string) (int, error) {
	_, obj, err := t.resolve(ctx, ref)
	if err != nil {
		return 0, err
	}
	raw, err := t.callOn(ctx, obj, `function(values) {
		if (!(this instanceof HTMLSelectElement)) throw new Error('the element is a ' + this.tagName.toLowerCase() + ', not a select');
		const want = new Set(values); let n = 0;
		for (const o of this.options) {
			const hit = want.has(o.value) || want.has(o.label) || want.has(o.textContent.trim());
			if (hit && (this.multiple || n === 0)) { o.selected = true; n++; } else if (this.multiple || hit) { o.selected = false; }
		}
		this.dispatchEvent(new Event('input', {bubbles: true}));
		this.dispatchEvent(new Event('change', {bubbles: true}));
		return n;
	}`, values)
	if err != nil {
		return 0, err
	}
	var n int
	_ = json.Unmarshal(raw, &n)
	if n == 0 {
		return 0, userErr("no option of %s has the value or label %q", ref, values)
	}
	return n, nil
}

// checked returns an element's checked state.
func (t *tab) checked(ctx context.Context, ref string) (bool, error) {
	_, obj, err := t.resolve(ctx, ref)
	if err != nil {
		return false, err
	}
	raw, err := t.callOn(ctx, obj, `function() { return !!(this.checked || this.getAttribute('aria-checked') === 'true'); }`)
	if err != nil {
		return false, err
	}
	return string(raw) == "true", nil
}

// setValue sets a range or other input's value directly, with input and change events.
func (t *tab) setValue(ctx context.Context, ref, value string) error {
	_, obj, err := t.resolve(ctx, ref)
	if err != nil {
		return err
	}
	_, err = t.callOn(ctx, obj, `function(v) {
		this.value = v;
		this.dispatchEvent(new Event('input', {bubbles: true}));
		this.dispatchEvent(new Event('change', {bubbles: true}));
	}`, value)
	return err
}

// keyNames maps key names (as playwright and the DOM name them) to chromedp's key runes.
var keyNames = func() map[string]string {
	m := map[string]string{}
	for r, k := range kb.Keys {
		if k != nil && k.Key != "" && len([]rune(k.Key)) > 1 {
			m[strings.ToLower(k.Key)] = string(r)
		}
	}
	m["space"] = " "
	m["esc"] = kb.Escape
	m["return"] = kb.Enter
	return m
}()

var modifierNames = map[string]chromedp.Modifier{
	"alt": chromedp.ModifierAlt, "control": chromedp.ModifierCtrl, "ctrl": chromedp.ModifierCtrl,
	"meta": chromedp.ModifierMeta, "shift": chromedp.ModifierShift,
}

// pressKey presses a key, such as "Enter", "ArrowDown", "a" or "Control+a".
func (t *tab) pressKey(ctx context.Context, key string) error {
	parts := strings.Split(key, "+")
	if key == "+" || strings.HasSuffix(key, "++") {
		parts = append(parts[:len(parts)-2], "+")
	}
	var mods chromedp.Modifier
	for _, p := range parts[:len(parts)-1] {
		m, ok := modifierNames[strings.ToLower(p)]
		if !ok {
			return userErr("unknown modifier %q in %q: use Alt, Control, Meta or Shift", p, key)
		}
		mods |= m
	}
	name := parts[len(parts)-1]
	var r string
	if len([]rune(name)) == 1 {
		r = name
	} else if v, ok := keyNames[strings.ToLower(name)]; ok {
		r = v
	} else {
		return userErr("unknown key %q: use a character or a key name such as Enter, Tab, Escape, Backspace, ArrowDown, PageUp", name)
	}
	var opts []chromedp.KeyOption
	if mods != 0 {
		opts = append(opts, func(p *input.DispatchKeyEventParams) { p.Modifiers |= int64(mods) })
	}
	return chromedp.Do(t.callCtx(ctx), chromedp.KeyEvent(r, opts...))
}

// waitFor waits for text to appear or disappear, or a selector to match, polling the page
// every 50 ms until the deadline.
func (t *tab) waitFor(ctx context.Context, text, textGone, selector string, limit time.Duration) (bool, error) {
	var expr string
	switch {
	case text != "":
		b, _ := json.Marshal(text)
		expr = "!!document.body && document.body.innerText.includes(" + string(b) + ")"
	case textGone != "":
		b, _ := json.Marshal(textGone)
		expr = "!document.body || !document.body.innerText.includes(" + string(b) + ")"
	case selector != "":
		b, _ := json.Marshal(selector)
		expr = "!!document.querySelector(" + string(b) + ")"
	}
	deadline := time.Now().Add(limit)
	for {
		res, err := chromedp.Call(t.callCtx(ctx), runtime.Evaluate, runtime.EvaluateParams{Expression: expr, ReturnByValue: ptr(true)})
		if err == nil && res.ExceptionDetails != nil && selector != "" {
			return false, userErr("the selector %q is not valid CSS: %s", selector, exceptionText(res.ExceptionDetails))
		}
		if err == nil && res.Result != nil && string(res.Result.Value) == "true" {
			return true, nil
		}
		if time.Now().After(deadline) {
			return false, nil
		}
		select {
		case <-ctx.Done():
			return false, nil
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// screenshot captures the viewport, the full page or an element, scaled down (and turned into
// JPEG when that is not enough) to fit max bytes.
func (t *tab) screenshot(ctx context.Context, format string, fullPage bool, ref string, maxBytes int) ([]byte, string, string, error) {
	cctx := t.callCtx(ctx)
	var clip *page.Viewport
	beyond := false
	switch {
	case ref != "":
		id, _, err := t.resolve(ctx, ref)
		if err != nil {
			return nil, "", "", err
		}
		_, _ = chromedp.Call(cctx, dom.ScrollIntoViewIfNeeded, dom.ScrollIntoViewIfNeededParams{BackendNodeID: id})
		bm, err := chromedp.Call(cctx, dom.GetBoxModel, dom.GetBoxModelParams{BackendNodeID: id})
		if err != nil || bm.Model == nil || len(bm.Model.Border) < 8 {
			return nil, "", "", userErr("element %s is not visible", ref)
		}
		b := bm.Model.Border
		minX, minY, maxX, maxY := b[0], b[1], b[0], b[1]
		for i := 0; i < 8; i += 2 {
			minX, maxX = math.Min(minX, b[i]), math.Max(maxX, b[i])
			minY, maxY = math.Min(minY, b[i+1]), math.Max(maxY, b[i+1])
		}
		lm, err := chromedp.Call(cctx, page.GetLayoutMetrics, cdp.Empty{})
		if err == nil && lm.CSSVisualViewport != nil {
			minX += lm.CSSVisualViewport.PageX
			maxX += lm.CSSVisualViewport.PageX
			minY += lm.CSSVisualViewport.PageY
			maxY += lm.CSSVisualViewport.PageY
		}
		if maxX-minX < 1 || maxY-minY < 1 {
			return nil, "", "", userErr("element %s has no area to capture", ref)
		}
		clip = &page.Viewport{X: minX, Y: minY, Width: maxX - minX, Height: maxY - minY, Scale: 1}
		beyond = true
	case fullPage:
		lm, err := chromedp.Call(cctx, page.GetLayoutMetrics, cdp.Empty{})
		if err != nil || lm.CSSContentSize == nil {
			return nil, "", "", fmt.Errorf("measuring the page: %w", err)
		}
		clip = &page.Viewport{X: 0, Y: 0, Width: lm.CSSContentSize.Width, Height: math.Min(lm.CSSContentSize.Height, 16384), Scale: 1}
		beyond = true
	}
	// viewportClip is the visible area as a clip, for scaling a viewport capture down; the
	// first viewport capture goes without one (one round trip less, as raw chromedp does).
	viewportClip := func() *page.Viewport {
		v := &page.Viewport{Width: float64(t.s.cfg.ViewportWidth), Height: float64(t.s.cfg.ViewportHeight), Scale: 1}
		if lm, err := chromedp.Call(cctx, page.GetLayoutMetrics, cdp.Empty{}); err == nil && lm.CSSVisualViewport != nil {
			v.X, v.Y = lm.CSSVisualViewport.PageX, lm.CSSVisualViewport.PageY
		}
		return v
	}
	// Keep the longer side within what models take in, before caring about bytes.
	const maxSide = 2000.0
	if clip == nil && max(t.s.cfg.ViewportWidth, t.s.cfg.ViewportHeight) > int(maxSide) {
		clip = viewportClip()
	}
	if clip != nil {
		if s := maxSide / math.Max(clip.Width, clip.Height); s < 1 {
			clip.Scale = s
		}
	}
	fmtName := strings.ToLower(format)
	if fmtName == "" {
		fmtName = "png"
	}
	note := ""
	quality := int64(80)
	for attempt := 0; attempt < 6; attempt++ {
		p := page.CaptureScreenshotParams{Format: page.CaptureScreenshotFormat(fmtName), Clip: clip, CaptureBeyondViewport: ptr(beyond), FromSurface: ptr(true)}
		if fmtName == "jpeg" {
			p.Quality = ptr(quality)
		}
		res, err := chromedp.Call(cctx, page.CaptureScreenshot, p)
		if err != nil {
			return nil, "", "", fmt.Errorf("capturing: %w", err)
		}
		data := []byte(res.Data)
		if len(data) <= maxBytes {
			if clip != nil && clip.Scale < 1 {
				note = fmt.Sprintf("scaled to %.0f%% to fit %d bytes", clip.Scale*100, maxBytes)
			}
			return data, "image/" + fmtName, note, nil
		}
		// Too big: PNG turns into JPEG first, then the scale shrinks with the square root of
		// the excess (bytes grow with the area).
		if fmtName == "png" {
			fmtName = "jpeg"
			note = "sent as JPEG: the PNG was too large; "
			continue
		}
		if clip == nil {
			clip = viewportClip()
		}
		shrink := math.Sqrt(float64(maxBytes)/float64(len(data))) * 0.9
		clip.Scale *= shrink
		quality = max(quality-10, 40)
		if clip.Width*clip.Scale < minScreenshotDimension {
			break
		}
	}
	return nil, "", "", userErr("the screenshot does not fit in %d bytes even scaled down; capture an element (ref) or the viewport instead of the full page", maxBytes)
}

// pdf prints the page.
func (t *tab) pdf(ctx context.Context) ([]byte, error) {
	res, err := chromedp.Call(t.callCtx(ctx), page.PrintToPDF, page.PrintToPDFParams{PrintBackground: ptr(true)})
	if err != nil {
		return nil, fmt.Errorf("printing to PDF: %w", err)
	}
	return []byte(res.Data), nil
}

// evaluate runs a JavaScript function (on the element when ref is set) and returns its result
// as JSON.
func (t *tab) evaluate(ctx context.Context, fn, ref string) (string, error) {
	cctx := t.callCtx(ctx)
	var obj runtime.RemoteObjectID
	if ref != "" {
		_, o, err := t.resolve(ctx, ref)
		if err != nil {
			return "", err
		}
		obj = o
	} else {
		g, err := chromedp.Call(cctx, runtime.Evaluate, runtime.EvaluateParams{Expression: "globalThis"})
		if err != nil || g.Result == nil {
			return "", fmt.Errorf("reaching the page: %w", err)
		}
		obj = g.Result.ObjectID
	}
	// The caller's function gets the element (or nothing) as its argument.
	wrapper := "async function(fn) { const f = (0, eval)('(' + fn + ')'); if (typeof f !== 'function') throw new Error('function must be a JavaScript function such as () => document.title'); " +
		"const r = await f(this === globalThis ? undefined : this); return r === undefined ? null : r; }"
	raw, err := t.callOn(ctx, obj, wrapper, fn)
	if err != nil {
		return "", err
	}
	if len(raw) == 0 {
		return "undefined", nil
	}
	return string(raw), nil
}
