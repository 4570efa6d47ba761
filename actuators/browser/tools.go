package browser

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/mcphub/mcphub/egress"
	"github.com/mcphub/mcphub/servers/registry"
)

// SessionMetaKey is the result _meta key that carries the browser_session handle, next to the
// first line of the text, for clients that read metadata.
const SessionMetaKey = "io.mcphub/browserSession"

// Tools returns the browser tools, in playwright-mcp's order where they share a name.
func (s *Server) Tools() []registry.Tool {
	return []registry.Tool{
		s.navigateTool(),
		s.navigateBackTool(),
		s.snapshotTool(),
		s.clickTool(),
		s.typeTool(),
		s.fillFormTool(),
		s.pressKeyTool(),
		s.selectOptionTool(),
		s.hoverTool(),
		s.waitForTool(),
		s.screenshotTool(),
		s.extractTool(),
		s.evaluateTool(),
		s.tabsTool(),
		s.consoleMessagesTool(),
		s.networkRequestsTool(),
		s.pdfSaveTool(),
		s.closeTool(),
	}
}

// Limits of the tools.
const (
	actionTimeout     = 30 * time.Second
	navigateTimeout   = 60 * time.Second
	waitTimeout       = 60 * time.Second
	maxWaitSeconds    = 30
	maxTextArg        = 1 << 20
	maxFormFields     = 100
	pdfBudget         = maxPDFLimit*4/3 + 4096
	screenshotBudget  = maxScreenshotLimit*4/3 + 4096
	maxSessionHandle  = 64
	maxElementDescArg = 500
)

const sessionDesc = "The handle a previous browser tool returned (first line of its result). Give it back to keep using the same pages, " +
	"cookies and tabs; it is required under the stateless MCP protocol (2026-07-28), where there is no MCP session. " +
	"Leave it out on a session-based connection to use the connection's own browser context, or to start a new one."

// common adds the arguments every tool takes.
func common() mcp.ToolOption {
	return mcp.WithString("browser_session", mcp.Description(sessionDesc), mcp.MaxLength(maxSessionHandle))
}

func elementArgs() []mcp.ToolOption {
	return []mcp.ToolOption{
		mcp.WithString("element", mcp.Description("A human-readable description of the element, for the log and your own reasoning (optional)."), mcp.MaxLength(maxElementDescArg)),
		mcp.WithString("ref", mcp.Required(), mcp.Description("The element's ref from browser_snapshot, such as e12."), mcp.MaxLength(32)),
	}
}

func snapshotArg() mcp.ToolOption {
	return mcp.WithBoolean("snapshot", mcp.Description("Also return the page snapshot after the action (first page of it). Default false: only a summary of what changed."))
}

func tool(name, title, desc string, opts ...mcp.ToolOption) mcp.Tool {
	all := append([]mcp.ToolOption{mcp.WithTitleAnnotation(title), mcp.WithDescription(desc), common()}, opts...)
	return mcp.NewTool(name, all...)
}

// call is one tool call in a session.
type call struct {
	s     *Server
	sess  *session
	notes []string
	// page is the URL and title settle read after the action, when no navigation followed.
	page pageState
}

// run finds the caller's session, makes sure its browser context and a tab exist, runs fn and
// turns what it returned into a result that starts with the browser_session handle.
func (s *Server) run(ctx context.Context, req mcp.CallToolRequest, fn func(ctx context.Context, c *call) (*mcp.CallToolResult, error)) (*mcp.CallToolResult, error) {
	return s.runChecked(ctx, req, nil, fn)
}

// runChecked is run with a check that comes before the session's browser context is made, so
// that a refused URL costs no tab.
func (s *Server) runChecked(ctx context.Context, req mcp.CallToolRequest, pre func(ctx context.Context, c *call) error,
	fn func(ctx context.Context, c *call) (*mcp.CallToolResult, error)) (*mcp.CallToolResult, error) {
	if s.sessions == nil {
		return mcp.NewToolResultError("the browser server is not provisioned"), nil
	}
	sess, err := s.sessions.acquire(ctx, req.GetString("browser_session", ""))
	if err != nil {
		return mcp.NewToolResultError(err.Error()), nil
	}
	defer s.sessions.release(sess)
	defer sess.call.Unlock()
	c := &call{s: s, sess: sess}
	if pre != nil {
		if err := pre(ctx, c); err != nil {
			return c.fail(err), nil
		}
	}
	note, err := sess.ensure(ctx, s.sessions)
	if note != "" {
		c.notes = append(c.notes, "note: "+note)
	}
	if err != nil {
		return c.fail(err), nil
	}
	s.sessions.warm()
	res, err := fn(ctx, c)
	if err != nil {
		return c.fail(err), nil
	}
	return c.finish(res), nil
}

// fail turns an error into a result a model can act on.
func (c *call) fail(err error) *mcp.CallToolResult {
	var ue *errUser
	var se *errSession
	var re *errRefused
	var msg string
	switch {
	case errors.As(err, &ue):
		msg = ue.msg
	case errors.As(err, &se):
		msg = se.msg
	case errors.As(err, &re):
		msg = re.msg
	case egress.IsRefused(err):
		msg = err.Error()
	case errors.Is(err, errNavTimeout):
		msg = fmt.Sprintf("the page did not finish loading within %s (servers.browser.navigation_timeout); it may be partly loaded: "+
			"call browser_snapshot to see it, or browser_wait_for for what you need", c.s.cfg.NavigationTimeout)
	case errors.Is(err, context.DeadlineExceeded):
		msg = "the call timed out; the page may be busy: try browser_snapshot, or a smaller step"
	case errors.Is(err, errNoBrowser):
		msg = err.Error() + "; install Chromium (apt-get install -y chromium), or set servers.browser.executable or servers.browser.remote_url"
	case strings.HasPrefix(err.Error(), "starting browser"):
		msg = err.Error()
	case !c.s.engine.alive():
		msg = "the browser stopped during the call (it crashed or was killed); call again: a new browser starts and this session starts empty"
	case errors.Is(err, errGone):
		msg = "the tab closed during the call; call browser_tabs to see the remaining tabs"
	default:
		msg = err.Error()
	}
	res := mcp.NewToolResultError(c.header() + msg)
	c.addMeta(res)
	return res
}

func (c *call) header() string {
	var b strings.Builder
	b.WriteString("browser_session: " + c.sess.handle + "\n")
	for _, n := range c.notes {
		b.WriteString(n + "\n")
	}
	return b.String()
}

func (c *call) addMeta(res *mcp.CallToolResult) {
	if res.Meta == nil {
		res.Meta = &mcp.Meta{}
	}
	if res.Meta.AdditionalFields == nil {
		res.Meta.AdditionalFields = map[string]any{}
	}
	res.Meta.AdditionalFields[SessionMetaKey] = c.sess.handle
}

// finish prefixes the handle and notes to the first text item.
func (c *call) finish(res *mcp.CallToolResult) *mcp.CallToolResult {
	h := c.header()
	if len(res.Content) > 0 {
		if tc, ok := res.Content[0].(mcp.TextContent); ok {
			tc.Text = h + tc.Text
			res.Content[0] = tc
			c.addMeta(res)
			return res
		}
	}
	res.Content = append([]mcp.Content{mcp.NewTextContent(strings.TrimSuffix(h, "\n"))}, res.Content...)
	c.addMeta(res)
	return res
}

// tab returns the selected tab.
func (c *call) tab() *tab { return c.sess.current() }

// summary describes the tab after an action: URL, title, and what happened (dialogs, console
// errors, blocked requests, new tabs, downloads).
func (c *call) summary(ctx context.Context, t *tab, what string, withSnapshot bool) (*mcp.CallToolResult, error) {
	var b strings.Builder
	if what != "" {
		b.WriteString(what + "\n")
	}
	u, title := c.page.url, c.page.title
	if !c.page.known {
		u, title = t.pageInfo(ctx)
	}
	b.WriteString("URL: " + truncate(u, 2000) + "\n")
	b.WriteString("Title: " + truncate(title, 300) + "\n")
	if st := t.docStatus.Load(); st >= 400 {
		fmt.Fprintf(&b, "- the page answered HTTP %d\n", st)
	}
	events := t.takeEvents()
	for i, e := range events {
		if i == maxEventsPerSummary {
			fmt.Fprintf(&b, "... and %d more events (see browser_console_messages and browser_network_requests)\n", len(events)-i)
			break
		}
		b.WriteString("- " + e + "\n")
	}
	for _, nt := range c.sess.adoptPopups(ctx, c.s) {
		idx := len(c.sess.tabs) - 1
		for i, x := range c.sess.tabs {
			if x == nt {
				idx = i
			}
		}
		nu, _ := nt.pageInfo(ctx)
		fmt.Fprintf(&b, "- the page opened a new tab [%d] %s; select it with browser_tabs action=select index=%d\n", idx, truncate(nu, 500), idx)
	}
	c.sess.syncTabIDs()
	c.sess.pmu.Lock()
	dl := c.sess.dlNotes
	c.sess.dlNotes = nil
	c.sess.pmu.Unlock()
	for _, d := range dl {
		b.WriteString("- " + d + "\n")
	}
	if withSnapshot {
		lines, err := t.snapshotLines(ctx)
		if err != nil {
			return nil, err
		}
		text, next := pageLines(lines, 0, max(1024, c.s.budget-b.Len()-snapshotHeaderReserve))
		b.WriteString("\nSnapshot:\n" + text)
		if next >= 0 {
			fmt.Fprintf(&b, "[snapshot continues: %d of %d lines shown; call browser_snapshot with offset=%d for more]\n", next, len(lines), next)
		}
	}
	return mcp.NewToolResultText(b.String()), nil
}

// action runs an action on the selected tab, waits for a navigation it started, and
// summarises.
func (s *Server) action(what func(req mcp.CallToolRequest) string, do func(ctx context.Context, t *tab, req mcp.CallToolRequest) error) registry.Handler {
	return func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return s.run(ctx, req, func(ctx context.Context, c *call) (*mcp.CallToolResult, error) {
			t := c.tab()
			before := t.mark()
			if err := do(ctx, t, req); err != nil {
				return nil, err
			}
			page, err := t.settle(ctx, before)
			c.page = page
			if err != nil {
				if !errors.Is(err, errNavTimeout) {
					return nil, err
				}
				c.notes = append(c.notes, fmt.Sprintf("note: the page was still loading after %s", s.cfg.NavigationTimeout))
			}
			return c.summary(ctx, t, what(req), req.GetBool("snapshot", false))
		})
	}
}

func (s *Server) navigateTool() registry.Tool {
	return registry.Tool{
		Def: tool("browser_navigate", "Navigate to a URL",
			"Opens a URL in the selected tab and waits for it to load. Returns the URL, title and what happened (dialogs, console errors, "+
				"requests the egress policy blocked). Only http and https URLs are allowed, and hosts the hub's egress policy refuses "+
				"(private, loopback, link-local and metadata addresses unless allowed) are refused.",
			mcp.WithString("url", mcp.Required(), mcp.Description("The http or https URL to open."), mcp.MaxLength(8192)),
			snapshotArg(),
		),
		Hints:   &registry.Hints{OpenWorld: true},
		Timeout: navigateTimeout,
		Handler: func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			raw := strings.TrimSpace(req.GetString("url", ""))
			pre := func(ctx context.Context, c *call) error {
				if why := c.sess.checker.check(ctx, raw, true); why != "" {
					return &errRefused{why + " (the page was not opened)"}
				}
				return nil
			}
			return s.runChecked(ctx, req, pre, func(ctx context.Context, c *call) (*mcp.CallToolResult, error) {
				t := c.tab()
				if err := t.navigate(ctx, raw); err != nil {
					if errors.Is(err, errNavTimeout) {
						return nil, err
					}
					var re *errRefused
					if errors.As(err, &re) {
						return nil, err
					}
					return nil, &errUser{err.Error()}
				}
				return c.summary(ctx, t, "", req.GetBool("snapshot", false))
			})
		},
	}
}

func (s *Server) navigateBackTool() registry.Tool {
	return registry.Tool{
		Def: tool("browser_navigate_back", "Go back",
			"Goes back to the previous page in the selected tab's history and returns the URL, title and what happened.",
			snapshotArg(),
		),
		Hints:   &registry.Hints{OpenWorld: true},
		Timeout: navigateTimeout,
		Handler: s.action(func(mcp.CallToolRequest) string { return "" }, func(ctx context.Context, t *tab, _ mcp.CallToolRequest) error {
			return t.back(ctx)
		}),
	}
}

func (s *Server) snapshotTool() registry.Tool {
	return registry.Tool{
		Def: tool("browser_snapshot", "Page snapshot",
			"Returns the selected tab's accessibility tree as compact text: one element a line, with its role, name, state and a ref "+
				"(such as e12) that browser_click, browser_type, browser_hover, browser_select_option and browser_take_screenshot accept. "+
				"Refs stay valid while the element exists. Long pages come in pages: call again with offset to read on.",
			mcp.WithNumber("offset", mcp.Description("The line to start at, from a previous result's 'offset=N' hint. Default 0."), mcp.Min(0), mcp.Max(10_000_000)),
		),
		Hints:   &registry.Hints{ReadOnly: true, Idempotent: true, OpenWorld: true},
		Timeout: actionTimeout,
		Handler: func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return s.run(ctx, req, func(ctx context.Context, c *call) (*mcp.CallToolResult, error) {
				t := c.tab()
				lines, err := t.snapshotLines(ctx)
				if err != nil {
					return nil, err
				}
				u, title := t.pageInfo(ctx)
				head := fmt.Sprintf("URL: %s\nTitle: %s\n", truncate(u, 2000), truncate(title, 300))
				offset := req.GetInt("offset", 0)
				if offset > len(lines) {
					return nil, userErr("offset %d is past the end of the snapshot (%d lines)", offset, len(lines))
				}
				text, next := pageLines(lines, offset, max(1024, s.budget-len(head)-snapshotHeaderReserve))
				var b strings.Builder
				b.WriteString(head)
				for _, e := range t.takeEvents() {
					b.WriteString("- " + e + "\n")
				}
				b.WriteString("\n" + text)
				if next >= 0 {
					fmt.Fprintf(&b, "[snapshot continues: lines %d-%d of %d shown; call browser_snapshot with offset=%d for more]\n", offset, next-1, len(lines), next)
				} else if offset > 0 {
					fmt.Fprintf(&b, "[end of snapshot: lines %d-%d of %d]\n", offset, len(lines)-1, len(lines))
				}
				return mcp.NewToolResultText(b.String()), nil
			})
		},
		MoreHint: "call browser_snapshot with a larger offset",
	}
}

func (s *Server) clickTool() registry.Tool {
	opts := append(elementArgs(),
		mcp.WithBoolean("doubleClick", mcp.Description("Double-click instead of a single click. Default false.")),
		mcp.WithString("button", mcp.Description("The mouse button. Default left."), mcp.Enum("left", "right", "middle")),
		snapshotArg())
	return registry.Tool{
		Def: tool("browser_click", "Click",
			"Clicks an element of the selected tab by its ref from browser_snapshot, like a user (mouse move, press, release), and waits for a "+
				"navigation it starts. Returns a short summary of what changed (URL, title, dialogs, console errors, new tabs), not a snapshot "+
				"unless snapshot=true.", opts...),
		Hints:   &registry.Hints{Destructive: true, OpenWorld: true},
		Timeout: navigateTimeout,
		Handler: s.action(func(req mcp.CallToolRequest) string { return "clicked " + req.GetString("ref", "") },
			func(ctx context.Context, t *tab, req mcp.CallToolRequest) error {
				n := 1
				if req.GetBool("doubleClick", false) {
					n = 2
				}
				return t.click(ctx, req.GetString("ref", ""), req.GetString("button", "left"), n)
			}),
	}
}

func (s *Server) typeTool() registry.Tool {
	opts := append(elementArgs(),
		mcp.WithString("text", mcp.Required(), mcp.Description("The text; it replaces what the field holds."), mcp.MaxLength(maxTextArg)),
		mcp.WithBoolean("submit", mcp.Description("Press Enter afterwards. Default false.")),
		mcp.WithBoolean("slowly", mcp.Description("Type one key at a time, for pages that react to each key. Default false: the text is inserted at once.")),
		snapshotArg())
	return registry.Tool{
		Def: tool("browser_type", "Type text",
			"Types text into an editable element (input, textarea, contenteditable) by its ref, replacing its content; optionally presses Enter.", opts...),
		Hints:   &registry.Hints{Destructive: true, OpenWorld: true},
		Timeout: navigateTimeout,
		Handler: s.action(func(req mcp.CallToolRequest) string { return "typed into " + req.GetString("ref", "") },
			func(ctx context.Context, t *tab, req mcp.CallToolRequest) error {
				ref := req.GetString("ref", "")
				if err := t.typeText(ctx, ref, req.GetString("text", ""), req.GetBool("slowly", false)); err != nil {
					return err
				}
				if req.GetBool("submit", false) {
					return t.pressKey(ctx, "Enter")
				}
				return nil
			}),
	}
}

// formField is one field of browser_fill_form.
type formField struct {
	Name  string `json:"name"`
	Type  string `json:"type"`
	Ref   string `json:"ref"`
	Value string `json:"value"`
}

func (s *Server) fillFormTool() registry.Tool {
	field := map[string]any{
		"type": "object", "additionalProperties": false, "required": []string{"name", "type", "ref", "value"},
		"properties": map[string]any{
			"name":  map[string]any{"type": "string", "description": "A human-readable name of the field.", "maxLength": maxElementDescArg},
			"type":  map[string]any{"type": "string", "enum": []string{"textbox", "checkbox", "radio", "combobox", "slider"}, "description": "The kind of field."},
			"ref":   map[string]any{"type": "string", "description": "The field's ref from browser_snapshot.", "maxLength": 32},
			"value": map[string]any{"type": "string", "description": "Text for a textbox, \"true\" or \"false\" for a checkbox or radio, the option's value or label for a combobox, a number for a slider.", "maxLength": maxTextArg},
		},
	}
	return registry.Tool{
		Def: tool("browser_fill_form", "Fill a form",
			"Fills several form fields at once by their refs: text boxes, checkboxes, radio buttons, selects (combobox) and sliders. "+
				"Stops at the first field that fails and says which.",
			mcp.WithArray("fields", mcp.Required(), mcp.Description("The fields to fill, in order."), mcp.Items(field), mcp.MinItems(1), mcp.MaxItems(maxFormFields)),
			snapshotArg()),
		Hints:   &registry.Hints{Destructive: true, OpenWorld: true},
		Timeout: navigateTimeout,
		Handler: s.action(func(mcp.CallToolRequest) string { return "filled the form" },
			func(ctx context.Context, t *tab, req mcp.CallToolRequest) error {
				var args struct {
					Fields []formField `json:"fields"`
				}
				if err := req.BindArguments(&args); err != nil {
					return userErr("fields: %v", err)
				}
				for i, f := range args.Fields {
					if err := fillField(ctx, t, f); err != nil {
						return userErr("field %d (%s, %s): %v", i, f.Name, f.Ref, err)
					}
				}
				return nil
			}),
	}
}

func fillField(ctx context.Context, t *tab, f formField) error {
	switch f.Type {
	case "textbox":
		return t.typeText(ctx, f.Ref, f.Value, false)
	case "checkbox", "radio":
		want := strings.EqualFold(f.Value, "true")
		if !want && !strings.EqualFold(f.Value, "false") {
			return userErr("value must be \"true\" or \"false\", got %q", truncate(f.Value, 40))
		}
		got, err := t.checked(ctx, f.Ref)
		if err != nil {
			return err
		}
		if got != want {
			return t.click(ctx, f.Ref, "left", 1)
		}
		return nil
	case "combobox":
		_, err := t.selectOptions(ctx, f.Ref, []string{f.Value})
		return err
	case "slider":
		return t.setValue(ctx, f.Ref, f.Value)
	}
	return userErr("unknown field type %q", f.Type)
}

func (s *Server) pressKeyTool() registry.Tool {
	return registry.Tool{
		Def: tool("browser_press_key", "Press a key",
			"Presses a key in the selected tab, on the focused element: a character (\"a\"), a key name (Enter, Tab, Escape, Backspace, "+
				"ArrowDown, PageUp, Home, F5 ...) or a combination (Control+a, Shift+Tab).",
			mcp.WithString("key", mcp.Required(), mcp.Description("The key, such as Enter, ArrowLeft, a or Control+a."), mcp.MaxLength(64)),
			snapshotArg()),
		Hints:   &registry.Hints{Destructive: true, OpenWorld: true},
		Timeout: navigateTimeout,
		Handler: s.action(func(req mcp.CallToolRequest) string { return "pressed " + req.GetString("key", "") },
			func(ctx context.Context, t *tab, req mcp.CallToolRequest) error {
				return t.pressKey(ctx, req.GetString("key", ""))
			}),
	}
}

func (s *Server) selectOptionTool() registry.Tool {
	opts := append(elementArgs(),
		mcp.WithArray("values", mcp.Required(), mcp.Description("The options to select, by value or label; several for a multiple select."),
			mcp.WithStringItems(mcp.MaxLength(4096)), mcp.MinItems(1), mcp.MaxItems(1000)),
		snapshotArg())
	return registry.Tool{
		Def:     tool("browser_select_option", "Select an option", "Selects options of a <select> element by its ref, by value or label.", opts...),
		Hints:   &registry.Hints{Destructive: true, OpenWorld: true},
		Timeout: navigateTimeout,
		Handler: s.action(func(req mcp.CallToolRequest) string { return "selected in " + req.GetString("ref", "") },
			func(ctx context.Context, t *tab, req mcp.CallToolRequest) error {
				_, err := t.selectOptions(ctx, req.GetString("ref", ""), req.GetStringSlice("values", nil))
				return err
			}),
	}
}

func (s *Server) hoverTool() registry.Tool {
	return registry.Tool{
		Def:     tool("browser_hover", "Hover", "Moves the mouse over an element by its ref (menus, tooltips).", append(elementArgs(), snapshotArg())...),
		Hints:   &registry.Hints{OpenWorld: true},
		Timeout: actionTimeout,
		Handler: s.action(func(req mcp.CallToolRequest) string { return "hovered over " + req.GetString("ref", "") },
			func(ctx context.Context, t *tab, req mcp.CallToolRequest) error {
				return t.hover(ctx, req.GetString("ref", ""))
			}),
	}
}

func (s *Server) waitForTool() registry.Tool {
	return registry.Tool{
		Def: tool("browser_wait_for", "Wait",
			"Waits until text appears, text disappears or a CSS selector matches in the selected tab, or for a number of seconds (at most 30). "+
				"With a condition, time is the longest wait (default 10 s).",
			mcp.WithNumber("time", mcp.Description("Seconds to wait (alone), or the longest wait for a condition."), mcp.Min(0), mcp.Max(maxWaitSeconds)),
			mcp.WithString("text", mcp.Description("Wait until this text is on the page."), mcp.MaxLength(4096)),
			mcp.WithString("textGone", mcp.Description("Wait until this text is no longer on the page."), mcp.MaxLength(4096)),
			mcp.WithString("selector", mcp.Description("Wait until this CSS selector matches an element."), mcp.MaxLength(4096)),
			snapshotArg()),
		Hints:   &registry.Hints{ReadOnly: true, OpenWorld: true},
		Timeout: waitTimeout,
		Handler: func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			text, gone, sel := req.GetString("text", ""), req.GetString("textGone", ""), req.GetString("selector", "")
			secs := req.GetFloat("time", -1)
			conds := 0
			for _, v := range []string{text, gone, sel} {
				if v != "" {
					conds++
				}
			}
			if conds > 1 {
				return mcp.NewToolResultError("give one of text, textGone and selector"), nil
			}
			if conds == 0 && secs < 0 {
				return mcp.NewToolResultError("give time, or one of text, textGone and selector"), nil
			}
			return s.run(ctx, req, func(ctx context.Context, c *call) (*mcp.CallToolResult, error) {
				t := c.tab()
				if conds == 0 {
					select {
					case <-time.After(time.Duration(secs * float64(time.Second))):
					case <-ctx.Done():
						return nil, ctx.Err()
					}
					return c.summary(ctx, t, fmt.Sprintf("waited %gs", secs), req.GetBool("snapshot", false))
				}
				limit := 10 * time.Second
				if secs >= 0 {
					limit = time.Duration(secs * float64(time.Second))
				}
				ok, err := t.waitFor(ctx, text, gone, sel, limit)
				if err != nil {
					return nil, err
				}
				if !ok {
					return nil, userErr("the condition did not hold within %s; take a browser_snapshot to see the page", limit)
				}
				return c.summary(ctx, t, "the condition holds", req.GetBool("snapshot", false))
			})
		},
	}
}

func (s *Server) screenshotTool() registry.Tool {
	return registry.Tool{
		Def: tool("browser_take_screenshot", "Screenshot",
			"Captures the selected tab's viewport, the full page, or one element (ref) as a PNG or JPEG image, scaled down to fit the "+
				"size limit. For acting on the page, browser_snapshot is cheaper and gives refs.",
			mcp.WithString("type", mcp.Description("Image format. Default png."), mcp.Enum("png", "jpeg")),
			mcp.WithBoolean("fullPage", mcp.Description("Capture the whole scrollable page instead of the viewport. Default false.")),
			mcp.WithString("element", mcp.Description("A description of the element to capture (with ref)."), mcp.MaxLength(maxElementDescArg)),
			mcp.WithString("ref", mcp.Description("Capture only this element, by its ref from browser_snapshot."), mcp.MaxLength(32)),
		),
		Hints:        &registry.Hints{ReadOnly: true, OpenWorld: true},
		Timeout:      actionTimeout,
		OutputBudget: screenshotBudget,
		Handler: func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return s.run(ctx, req, func(ctx context.Context, c *call) (*mcp.CallToolResult, error) {
				t := c.tab()
				ref := req.GetString("ref", "")
				if ref != "" && req.GetBool("fullPage", false) {
					return nil, userErr("give ref or fullPage, not both")
				}
				data, mime, note, err := t.screenshot(ctx, req.GetString("type", "png"), req.GetBool("fullPage", false), ref, s.cfg.MaxScreenshotBytes)
				if err != nil {
					return nil, err
				}
				u, title := t.pageInfo(ctx)
				text := fmt.Sprintf("screenshot of %s (%s), %d bytes %s", truncate(u, 2000), truncate(title, 200), len(data), mime)
				if note != "" {
					text += "; " + note
				}
				return &mcp.CallToolResult{Content: []mcp.Content{
					mcp.NewTextContent(text),
					mcp.NewImageContent(base64.StdEncoding.EncodeToString(data), mime),
				}}, nil
			})
		},
	}
}

func (s *Server) extractTool() registry.Tool {
	return registry.Tool{
		Def: tool("browser_extract", "Page as Markdown",
			"Returns the selected tab's main content (the page as rendered, after its scripts ran) as Markdown: headings, paragraphs, "+
				"links, lists, tables and code, without navigation and page chrome. Long pages come in parts: call again with offset.",
			mcp.WithNumber("offset", mcp.Description("The byte offset to start at, from a previous result's 'offset=N' hint. Default 0."), mcp.Min(0), mcp.Max(extractLimit)),
		),
		Hints:   &registry.Hints{ReadOnly: true, Idempotent: true, OpenWorld: true},
		Timeout: actionTimeout,
		Handler: func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return s.run(ctx, req, func(ctx context.Context, c *call) (*mcp.CallToolResult, error) {
				t := c.tab()
				ex, err := t.extract(ctx)
				if err != nil {
					return nil, err
				}
				u, _ := t.pageInfo(ctx)
				md := ex.MD
				offset := req.GetInt("offset", 0)
				if offset > len(md) {
					return nil, userErr("offset %d is past the end of the content (%d bytes)", offset, len(md))
				}
				head := fmt.Sprintf("URL: %s\nTitle: %s\n\n", truncate(u, 2000), truncate(ex.Title, 300))
				limit := max(1024, s.budget-len(head)-snapshotHeaderReserve)
				part := md[offset:]
				tail := ""
				if len(part) > limit {
					part = truncate(part, limit)
					part = strings.TrimSuffix(part, "...")
					next := offset + len(part)
					tail = fmt.Sprintf("\n\n[content continues: bytes %d-%d of %d shown; call browser_extract with offset=%d for more]", offset, next, len(md), next)
				} else if ex.Cut {
					tail = fmt.Sprintf("\n\n[the page's content was cut at %d bytes]", extractLimit)
				}
				return mcp.NewToolResultText(head + part + tail), nil
			})
		},
		MoreHint: "call browser_extract with a larger offset",
	}
}

func (s *Server) evaluateTool() registry.Tool {
	return registry.Tool{
		Def: tool("browser_evaluate", "Run JavaScript",
			"Runs a JavaScript function in the selected tab and returns its result as JSON: () => document.title, or, with ref, "+
				"(element) => element.textContent. Served only when servers.browser.allow_evaluate is true.",
			mcp.WithString("function", mcp.Required(), mcp.Description("The function's source, such as () => document.title."), mcp.MaxLength(maxTextArg)),
			mcp.WithString("element", mcp.Description("A description of the element (with ref)."), mcp.MaxLength(maxElementDescArg)),
			mcp.WithString("ref", mcp.Description("Pass this element to the function, by its ref from browser_snapshot."), mcp.MaxLength(32)),
		),
		Hints:    &registry.Hints{Destructive: true, OpenWorld: true},
		Timeout:  actionTimeout,
		MoreHint: "return less from the function",
		Handler: func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			if !s.cfg.AllowEvaluate {
				return mcp.NewToolResultError("browser_evaluate is off: set servers.browser.allow_evaluate to true to serve it"), nil
			}
			return s.run(ctx, req, func(ctx context.Context, c *call) (*mcp.CallToolResult, error) {
				out, err := c.tab().evaluate(ctx, req.GetString("function", ""), req.GetString("ref", ""))
				if err != nil {
					return nil, err
				}
				return mcp.NewToolResultText(out), nil
			})
		},
	}
}

func (s *Server) tabsTool() registry.Tool {
	return registry.Tool{
		Def: tool("browser_tabs", "Tabs",
			"Lists, opens, selects or closes the tabs of this browser session. Tabs that pages open appear here too.",
			mcp.WithString("action", mcp.Required(), mcp.Description("What to do."), mcp.Enum("list", "new", "select", "close")),
			mcp.WithNumber("index", mcp.Description("The tab's index, for select and close (close defaults to the selected tab)."), mcp.Min(0), mcp.Max(1000)),
			mcp.WithString("url", mcp.Description("For new: a URL to open in the new tab."), mcp.MaxLength(8192)),
		),
		Hints:   &registry.Hints{Destructive: true, OpenWorld: true},
		Timeout: navigateTimeout,
		Handler: func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return s.run(ctx, req, func(ctx context.Context, c *call) (*mcp.CallToolResult, error) {
				sess := c.sess
				sess.adoptPopups(ctx, s)
				idx := req.GetInt("index", -1)
				switch req.GetString("action", "") {
				case "new":
					t, err := sess.openTab(ctx, s, "")
					if err != nil {
						return nil, err
					}
					sess.tabs = append(sess.tabs, t)
					sess.cur = len(sess.tabs) - 1
					if raw := strings.TrimSpace(req.GetString("url", "")); raw != "" {
						if why := sess.checker.check(ctx, raw, true); why != "" {
							return nil, &errRefused{why + " (the tab was opened empty)"}
						}
						if err := t.navigate(ctx, raw); err != nil && !errors.Is(err, errNavTimeout) {
							return nil, &errUser{err.Error()}
						}
					}
				case "select":
					if idx < 0 || idx >= len(sess.tabs) {
						return nil, userErr("index %d is not a tab (there are %d)", idx, len(sess.tabs))
					}
					sess.cur = idx
					_, _ = chromedp.Call(sess.tabs[idx].callCtx(ctx), page.BringToFront, cdp.Empty{})
				case "close":
					if idx < 0 {
						idx = sess.cur
					}
					if idx >= len(sess.tabs) {
						return nil, userErr("index %d is not a tab (there are %d)", idx, len(sess.tabs))
					}
					sess.tabs[idx].close()
					sess.tabs = append(sess.tabs[:idx], sess.tabs[idx+1:]...)
					if sess.cur >= idx && sess.cur > 0 {
						sess.cur--
					}
					if len(sess.tabs) == 0 {
						t, err := sess.openTab(ctx, s, "")
						if err != nil {
							return nil, err
						}
						sess.tabs, sess.cur = []*tab{t}, 0
					}
				}
				sess.syncTabIDs()
				var b strings.Builder
				for i, t := range sess.tabs {
					u, title := t.pageInfo(ctx)
					mark := "   "
					if i == sess.cur {
						mark = " * "
					}
					fmt.Fprintf(&b, "[%d]%s%s — %s\n", i, mark, truncate(title, 200), truncate(u, 1000))
				}
				b.WriteString("(* is the selected tab; every other tool acts on it)\n")
				return mcp.NewToolResultText(b.String()), nil
			})
		},
	}
}

func (s *Server) consoleMessagesTool() registry.Tool {
	return registry.Tool{
		Def: tool("browser_console_messages", "Console messages",
			fmt.Sprintf("Returns the selected tab's console messages and uncaught errors, oldest first (the last %d are kept).", consoleRingSize),
			mcp.WithBoolean("onlyErrors", mcp.Description("Only errors. Default false."))),
		Hints:    &registry.Hints{ReadOnly: true, Idempotent: true},
		Timeout:  actionTimeout,
		MoreHint: "call with onlyErrors=true",
		Handler: func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return s.run(ctx, req, func(_ context.Context, c *call) (*mcp.CallToolResult, error) {
				t := c.tab()
				only := req.GetBool("onlyErrors", false)
				t.mu.Lock()
				items := append([]consoleEntry(nil), t.console.items...)
				dropped := t.console.dropped
				t.mu.Unlock()
				var lines []string
				for _, e := range items {
					if only && e.Level != "error" {
						continue
					}
					line := "[" + e.Level + "] " + e.Text
					if e.URL != "" {
						line += " (" + e.URL + ")"
					}
					lines = append(lines, line)
				}
				if len(lines) == 0 {
					return mcp.NewToolResultText("no console messages\n"), nil
				}
				return mcp.NewToolResultText(newestThatFit(lines, dropped, s.budget, "messages")), nil
			})
		},
	}
}

func (s *Server) networkRequestsTool() registry.Tool {
	return registry.Tool{
		Def: tool("browser_network_requests", "Network requests",
			fmt.Sprintf("Returns the selected tab's requests, oldest first (the last %d are kept): method, URL, type, status, and the "+
				"egress policy's reason for each request it blocked.", networkRingSize)),
		Hints:    &registry.Hints{ReadOnly: true, Idempotent: true},
		Timeout:  actionTimeout,
		MoreHint: "navigate to a smaller page",
		Handler: func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return s.run(ctx, req, func(_ context.Context, c *call) (*mcp.CallToolResult, error) {
				t := c.tab()
				t.mu.Lock()
				dropped := t.network.dropped
				lines := make([]string, 0, len(t.network.items))
				for _, e := range t.network.items {
					line := fmt.Sprintf("%s %s [%s]", e.Method, e.URL, e.Type)
					switch {
					case e.Refusal != "":
						line += " BLOCKED: " + e.Refusal
					case e.Failed != "":
						line += " failed: " + e.Failed
					case e.Status != 0:
						line += fmt.Sprintf(" => %d", e.Status)
					}
					lines = append(lines, line)
				}
				t.mu.Unlock()
				if len(lines) == 0 {
					return mcp.NewToolResultText("no requests\n"), nil
				}
				return mcp.NewToolResultText(newestThatFit(lines, dropped, s.budget, "requests")), nil
			})
		},
	}
}

func (s *Server) pdfSaveTool() registry.Tool {
	return registry.Tool{
		Def: tool("browser_pdf_save", "Save as PDF",
			"Prints the selected tab to PDF and returns it as an embedded resource (application/pdf), up to servers.browser.max_pdf_bytes."),
		Hints:        &registry.Hints{ReadOnly: true, OpenWorld: true},
		Timeout:      navigateTimeout,
		OutputBudget: pdfBudget,
		Handler: func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return s.run(ctx, req, func(ctx context.Context, c *call) (*mcp.CallToolResult, error) {
				t := c.tab()
				data, err := t.pdf(ctx)
				if err != nil {
					return nil, err
				}
				if len(data) > s.cfg.MaxPDFBytes {
					return nil, userErr("the PDF is %d bytes, more than servers.browser.max_pdf_bytes (%d); use browser_extract for the text instead", len(data), s.cfg.MaxPDFBytes)
				}
				c.sess.pdfSeq++
				u, _ := t.pageInfo(ctx)
				uri := fmt.Sprintf("browser://%s/page-%d.pdf", c.sess.handle[:11], c.sess.pdfSeq)
				return &mcp.CallToolResult{Content: []mcp.Content{
					mcp.NewTextContent(fmt.Sprintf("PDF of %s, %d bytes", truncate(u, 2000), len(data))),
					mcp.NewEmbeddedResource(mcp.BlobResourceContents{URI: uri, MIMEType: "application/pdf", Blob: base64.StdEncoding.EncodeToString(data)}),
				}}, nil
			})
		},
	}
}

func (s *Server) closeTool() registry.Tool {
	return registry.Tool{
		Def: tool("browser_close", "Close the browser session",
			"Closes this browser session: its tabs, cookies and storage go, and its browser_session handle stops working. The next "+
				"browser call starts a fresh session."),
		Hints:   &registry.Hints{Destructive: true, Idempotent: true},
		Timeout: actionTimeout,
		Handler: func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			if s.sessions == nil {
				return mcp.NewToolResultError("the browser server is not provisioned"), nil
			}
			sess, err := s.sessions.acquire(ctx, req.GetString("browser_session", ""))
			if err != nil {
				return mcp.NewToolResultError(err.Error()), nil
			}
			defer s.sessions.release(sess)
			defer sess.call.Unlock()
			s.sessions.close(sess)
			s.logger.Debug("browser session closed", slog.String("session", sess.handle[:8]))
			return mcp.NewToolResultText("closed browser session " + sess.handle), nil
		},
	}
}

// newestThatFit renders the newest lines that fit the output budget, oldest first, saying how
// many older ones were left out.
func newestThatFit(lines []string, dropped, budget int, what string) string {
	room := max(1024, budget-snapshotHeaderReserve)
	first := len(lines)
	for size := 0; first > 0 && size+len(lines[first-1])+1 <= room; first-- {
		size += len(lines[first-1]) + 1
	}
	if first == len(lines) { // one line larger than the budget: show it cut
		first = len(lines) - 1
		lines[first] = truncate(lines[first], room)
	}
	var b strings.Builder
	if left := dropped + first; left > 0 {
		fmt.Fprintf(&b, "(%d older %s not shown: the log keeps the newest, and this result shows what fits)\n", left, what)
	}
	for _, l := range lines[first:] {
		b.WriteString(l + "\n")
	}
	return b.String()
}
