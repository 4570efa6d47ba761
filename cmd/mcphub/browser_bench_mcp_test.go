package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcphub/mcphub/actuators/browser"
	"github.com/mcphub/mcphub/internal/testenv"
)

// mcpBrowser drives a browser MCP server (mcphub's or playwright-mcp) with the official Go SDK
// client: the same client code, the same tool names and the same arguments for both, so the
// only difference between two mcpBrowsers is the server behind the session.
type mcpBrowser struct {
	name string
	cs   *sdk.ClientSession
	// handle is the browser_session handle the last result carried, sent back on every call
	// (mcphub under the stateless protocol); empty for servers that do not return one.
	handle string
	// buttonRef and boxRef are the refs of the Increment button and the Search text box in
	// the last snapshot.
	buttonRef, boxRef string
	// refArg is the argument that carries a ref to browser_click and browser_type: "ref"
	// (mcphub, older playwright-mcp) or "target" (playwright-mcp 0.0.7x and later), read from
	// the tools' input schemas so that the calls are otherwise identical.
	refArg   string
	lastSnap int // bytes of the last snapshot's text, for the report
	lastText string
	rootPID  int    // the server process; its descendants are the Chromium processes
	endpoint string // the streamable HTTP endpoint, for servers reached over HTTP
}

func (m *mcpBrowser) Name() string { return m.name }

// call runs one tool and turns an error result into an error.
func (m *mcpBrowser) call(ctx context.Context, tool string, args map[string]any) (*sdk.CallToolResult, error) {
	if m.handle != "" {
		args["browser_session"] = m.handle
	}
	ctx, cancel := context.WithTimeout(ctx, benchStepTimeout)
	defer cancel()
	res, err := m.cs.CallTool(ctx, &sdk.CallToolParams{Name: tool, Arguments: args})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", tool, err)
	}
	if res.IsError {
		return nil, fmt.Errorf("%s: error result: %s", tool, benchClip(resultText(res), 400))
	}
	if h := benchHandle(res); h != "" {
		m.handle = h
	}
	return res, nil
}

func (m *mcpBrowser) Navigate(ctx context.Context, url string) error {
	_, err := m.call(ctx, "browser_navigate", map[string]any{"url": url})
	return err
}

func (m *mcpBrowser) Snapshot(ctx context.Context) error {
	res, err := m.call(ctx, "browser_snapshot", map[string]any{})
	if err != nil {
		return err
	}
	text := resultText(res)
	m.lastSnap, m.lastText = len(text), text
	if m.buttonRef = findRef(text, "button", benchButtonName); m.buttonRef == "" {
		return fmt.Errorf("browser_snapshot: no ref for button %q in:\n%s", benchButtonName, benchClip(text, 2000))
	}
	if m.boxRef = findRef(text, "textbox", benchBoxName); m.boxRef == "" {
		return fmt.Errorf("browser_snapshot: no ref for textbox %q in:\n%s", benchBoxName, benchClip(text, 2000))
	}
	return nil
}

func (m *mcpBrowser) Click(ctx context.Context) error {
	_, err := m.call(ctx, "browser_click", map[string]any{
		"element": benchButtonName + " button", m.refArg: m.buttonRef})
	return err
}

func (m *mcpBrowser) Type(ctx context.Context, text string) error {
	_, err := m.call(ctx, "browser_type", map[string]any{
		"element": benchBoxName + " text box", m.refArg: m.boxRef, "text": text})
	return err
}

func (m *mcpBrowser) Screenshot(ctx context.Context) error {
	res, err := m.call(ctx, "browser_take_screenshot", map[string]any{"type": "png"})
	if err != nil {
		return err
	}
	for _, c := range res.Content {
		if img, ok := c.(*sdk.ImageContent); ok && len(img.Data) > 8 {
			return nil
		}
	}
	return fmt.Errorf("browser_take_screenshot: no image in the result: %s", benchClip(resultText(res), 400))
}

// prepare lists the server's tools, checks that the five the benchmark calls are there and
// picks the ref argument from browser_click's input schema.
func (m *mcpBrowser) prepare(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, benchStepTimeout)
	defer cancel()
	tools := map[string]*sdk.Tool{}
	for tool, err := range m.cs.Tools(ctx, nil) {
		if err != nil {
			return fmt.Errorf("tools/list: %w", err)
		}
		tools[tool.Name] = tool
	}
	for _, name := range []string{"browser_navigate", "browser_snapshot", "browser_click", "browser_type", "browser_take_screenshot"} {
		if tools[name] == nil {
			return fmt.Errorf("%w: %s is not listed", errNoBrowserTools, name)
		}
	}
	raw, err := json.Marshal(tools["browser_click"].InputSchema)
	if err != nil {
		return err
	}
	var schema struct {
		Properties map[string]json.RawMessage `json:"properties"`
	}
	if err := json.Unmarshal(raw, &schema); err != nil {
		return fmt.Errorf("browser_click input schema: %w", err)
	}
	for _, arg := range []string{"ref", "target"} {
		if _, ok := schema.Properties[arg]; ok {
			m.refArg = arg
			return nil
		}
	}
	return fmt.Errorf("browser_click takes neither ref nor target: %s", raw)
}

// Check takes a snapshot after one round and looks for the click's effect and the typed text.
func (m *mcpBrowser) Check(ctx context.Context) error {
	if err := m.Snapshot(ctx); err != nil {
		return err
	}
	for _, want := range []string{"Clicks: 1", benchTyped} {
		if !strings.Contains(m.lastText, want) {
			return fmt.Errorf("after the round the snapshot lacks %q:\n%s", want, benchClip(m.lastText, 3000))
		}
	}
	return nil
}

func (m *mcpBrowser) BrowserRoot() int { return m.rootPID }

// refPattern finds a ref on a snapshot line: playwright-mcp writes [ref=e12]; other
// spellings (ref=e12, [e12]) are accepted so that the same parser reads mcphub's snapshot.
var refPattern = regexp.MustCompile(`\[?ref=([A-Za-z0-9_:-]+)\]?`)

// findRef returns the ref of the first snapshot line that names role and the quoted name.
func findRef(snapshot, role, name string) string {
	quoted := `"` + name + `"`
	for line := range strings.SplitSeq(snapshot, "\n") {
		if !strings.Contains(line, role) || !strings.Contains(line, quoted) {
			continue
		}
		if m := refPattern.FindStringSubmatch(line); m != nil {
			return m[1]
		}
	}
	return ""
}

// benchHandle returns the browser_session handle a result carries (mcphub: in _meta and on the
// first text line), or "" (playwright-mcp, which keeps state per MCP session only).
func benchHandle(res *sdk.CallToolResult) string {
	if h, ok := res.Meta[browser.SessionMetaKey].(string); ok && h != "" {
		return h
	}
	if len(res.Content) > 0 {
		if tc, ok := res.Content[0].(*sdk.TextContent); ok {
			first, _, _ := strings.Cut(tc.Text, "\n")
			if h, ok := strings.CutPrefix(first, "browser_session: "); ok {
				return strings.TrimSpace(h)
			}
		}
	}
	return ""
}

func benchClip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// playwrightMCPCLI installs the pinned playwright-mcp with scripts/playwright-mcp.sh (a no-op
// when present) and returns the path of its cli.js.
func playwrightMCPCLI(ctx context.Context, t *testing.T) (string, error) {
	t.Helper()
	gomod, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	cmd := exec.CommandContext(ctx, filepath.Join(root, "scripts", "playwright-mcp.sh"))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("scripts/playwright-mcp.sh: %w\n%s", err, stderr.String())
	}
	return strings.TrimSpace(string(out)), nil
}

// playwrightConfig writes playwright-mcp's config: the same loopback-only resolver safety net
// the other contenders' Chromium gets (its CLI has no flag for extra browser arguments).
func playwrightConfig(t *testing.T) string {
	t.Helper()
	cfg := map[string]any{
		"browser": map[string]any{
			"launchOptions": map[string]any{
				"args": []string{"--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"},
			},
		},
	}
	raw, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "playwright-mcp.json")
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// playwrightArgs are playwright-mcp's flags in the benchmark: Debian's Chromium, headless, no
// sandbox (root), an in-memory profile, everything else at its defaults (what its users run).
func playwrightArgs(t *testing.T, cli, chromium string, extra ...string) []string {
	t.Helper()
	args := []string{cli,
		"--executable-path", chromium,
		"--headless", "--no-sandbox", "--isolated",
		"--config", playwrightConfig(t),
		"--output-dir", t.TempDir(),
	}
	return append(args, extra...)
}

// startPlaywrightStdio starts playwright-mcp over stdio and connects the SDK client.
func startPlaywrightStdio(ctx context.Context, t *testing.T, cli, chromium string) (*mcpBrowser, error) {
	t.Helper()
	cmd := exec.CommandContext(context.WithoutCancel(ctx), "node", playwrightArgs(t, cli, chromium)...)
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	cs, err := benchClient().Connect(ctx, &sdk.CommandTransport{Command: cmd, TerminateDuration: 5 * time.Second}, nil)
	if err != nil {
		return nil, fmt.Errorf("playwright-mcp over stdio: %w\n%s", err, stderr.String())
	}
	t.Cleanup(func() {
		_ = cs.Close()
		if t.Failed() {
			t.Logf("playwright-mcp stderr:\n%s", benchClip(stderr.String(), 4000))
		}
	})
	m := &mcpBrowser{name: "playwright-mcp (stdio)", cs: cs, rootPID: cmd.Process.Pid}
	return m, m.prepare(ctx)
}

func benchClient() *sdk.Client {
	return sdk.NewClient(&sdk.Implementation{Name: "mcphub-browser-bench", Version: "1"}, nil)
}

// errNoBrowserTools marks a server without the browser tools (mcphub before they land).
var errNoBrowserTools = errors.New("no browser tools")

// benchHubConfig is the hub's config for the benchmark: the browser server on, and the egress
// policy allowing loopback, where the test serves its page (the default refuses it).
const benchHubConfig = `log:
  level: warn
egress:
  allow: [127.0.0.1/32]
servers:
  browser:
    enabled: true
`

// startHubBrowser starts the mcphub binary with the browser server and connects the SDK client
// over transport ("http": streamable HTTP at /mcp/browser; "stdio": serve --stdio). It returns
// an error, not a failure, when the binary does not serve the browser tools (yet).
func startHubBrowser(ctx context.Context, t *testing.T, transport, chromium string) (*mcpBrowser, error) {
	t.Helper()
	bin := testBinary(t)
	env := []string{testenv.ChromiumEnv + "=" + chromium}
	addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	cfg := writeConfig(t, addr, benchHubConfig)
	vctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(vctx, bin, "validate", "--config", cfg).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("%w: mcphub validate refuses the browser config: %w: %s", errNoBrowserTools, err, benchClip(strings.TrimSpace(string(out)), 300))
	}
	m := &mcpBrowser{name: "mcphub (" + transport + ")"}
	switch transport {
	case "http":
		hub := runHub(t, addr, cfg, env...)
		m.endpoint = hub.base + "/mcp/browser"
		m.rootPID = hub.cmd.Process.Pid
		cs, err := benchClient().Connect(ctx, &sdk.StreamableClientTransport{Endpoint: m.endpoint, MaxRetries: -1}, nil)
		if err != nil {
			return nil, fmt.Errorf("connect to %s: %w", m.endpoint, err)
		}
		t.Cleanup(func() { _ = cs.Close() })
		m.cs = cs
	case "stdio":
		cmd := exec.CommandContext(context.WithoutCancel(ctx), bin, "serve", "--stdio", "--config", cfg)
		cmd.Env = append(os.Environ(), env...)
		stderr := &syncBuffer{}
		cmd.Stderr = stderr
		cs, err := benchClient().Connect(ctx, &sdk.CommandTransport{Command: cmd, TerminateDuration: 15 * time.Second}, nil)
		if err != nil {
			return nil, fmt.Errorf("mcphub over stdio: %w\n%s", err, benchClip(stderr.String(), 2000))
		}
		t.Cleanup(func() {
			_ = cs.Close()
			if t.Failed() {
				t.Logf("mcphub (stdio) stderr:\n%s", benchClip(stderr.String(), 4000))
			}
		})
		m.cs, m.rootPID = cs, cmd.Process.Pid
	default:
		return nil, fmt.Errorf("unknown transport %q", transport)
	}
	return m, m.prepare(ctx)
}

// startPlaywrightHTTP starts playwright-mcp in its HTTP mode on a loopback port, connects one
// session and navigates it to url, so that its shared browser runs; it is stopped (SIGTERM by
// PID, then SIGKILL) when the test ends.
func startPlaywrightHTTP(ctx context.Context, t *testing.T, cli, chromium, url string) (*mcpBrowser, error) {
	t.Helper()
	port := strconv.Itoa(freePort(t))
	cmd := exec.CommandContext(context.WithoutCancel(ctx), "node",
		playwrightArgs(t, cli, chromium, "--port", port, "--host", "127.0.0.1",
			// It accepts only Host: localhost:PORT unless told; the client dials 127.0.0.1.
			"--allowed-hosts", "127.0.0.1:"+port)...)
	stderr := &syncBuffer{}
	cmd.Stderr, cmd.Stdout = stderr, stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	m := &mcpBrowser{name: "playwright-mcp (http)", endpoint: "http://127.0.0.1:" + port + "/mcp", rootPID: cmd.Process.Pid}
	// It prints "Listening on ..." once it accepts connections; node starts slowly on a busy
	// machine.
	deadline := time.Now().Add(90 * time.Second)
	for !strings.Contains(stderr.String(), "Listening on") {
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("playwright-mcp HTTP mode did not listen within 90s:\n%s", benchClip(stderr.String(), 2000))
		}
		select {
		case <-done:
			return nil, fmt.Errorf("playwright-mcp HTTP mode exited:\n%s", benchClip(stderr.String(), 2000))
		case <-time.After(100 * time.Millisecond):
		}
	}
	cs, err := benchClient().Connect(ctx, &sdk.StreamableClientTransport{Endpoint: m.endpoint, MaxRetries: -1}, nil)
	if err != nil {
		return nil, fmt.Errorf("playwright-mcp HTTP mode at %s: %w\n%s", m.endpoint, err, benchClip(stderr.String(), 2000))
	}
	t.Cleanup(func() { _ = cs.Close() })
	m.cs = cs
	return m, m.Navigate(ctx, url)
}
