package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
)

// The integration tests build the real binary (with the test servers, build tag mcphubtest) and
// drive it from outside with the official Go SDK client over stdio and streamable HTTP, at both
// protocol generations.

var protocolVersions = []string{"2026-07-28", "2025-11-25"}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// testBinary builds the test binary once per test run.
func testBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: builds and runs the binary")
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "mcphub-it-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "mcphub")
		args := []string{"build", "-tags", "mcphubtest", "-o", binPath}
		if raceEnabled {
			args = append(args, "-race")
		}
		cmd := exec.CommandContext(context.Background(), "go", append(args, ".")...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		_ = os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// syncBuffer collects a process's stderr for assertions while it runs.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// hubProcess is a running `mcphub serve`.
type hubProcess struct {
	cmd     *exec.Cmd
	base    string
	stderr  *syncBuffer
	done    chan struct{} // closed when the process has exited, exitErr set
	exitErr error
}

func freePort(t *testing.T) int {
	t.Helper()
	var lc net.ListenConfig
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// writeConfig writes a config enabling the test server, with extra YAML appended under the
// top level, and returns its path.
func writeConfig(t *testing.T, listen string, extra string) string {
	t.Helper()
	dir := t.TempDir()
	cfg := fmt.Sprintf("listen: %s\ndata_dir: %s\n%s", listen, filepath.Join(dir, "data"), extra)
	if !strings.Contains(extra, "servers:") {
		cfg += "servers:\n  testkit: {enabled: true}\n"
	}
	path := filepath.Join(dir, "mcphub.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// startHub starts the binary serving HTTP on a config with the extra YAML and waits for
// /healthz.
func startHub(t *testing.T, extra string, env ...string) *hubProcess {
	t.Helper()
	addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	return runHub(t, addr, writeConfig(t, addr, extra), env...)
}

// runHub starts `mcphub serve --config cfgPath` (which listens on addr), stops it at the end of
// the test, and waits for /healthz.
func runHub(t *testing.T, addr, cfgPath string, env ...string) *hubProcess {
	t.Helper()
	bin := testBinary(t)
	p := &hubProcess{base: "http://" + addr, stderr: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.CommandContext(context.Background(), bin, "serve", "--config", cfgPath)
	p.cmd.Stderr = p.stderr
	p.cmd.Env = append(os.Environ(), env...)
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.exitErr = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(15 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		checkNoRace(t, p.stderr.String())
		if t.Failed() {
			t.Logf("hub %s stderr:\n%s", p.base, p.stderr.String())
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if code, _ := httpGet(t, p.base+"/healthz"); code == http.StatusOK {
			return p
		}
		select {
		case <-p.done:
			t.Fatalf("hub exited early: %v\n%s", p.exitErr, p.stderr.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("hub did not answer /healthz\n%s", p.stderr.String())
	return nil
}

// progressCounter counts progress notifications the client receives, in all and per token, so
// a late notification of one call is never taken for the start of the next.
type progressCounter struct {
	n       atomic.Int64
	first   chan struct{}
	once    sync.Once
	mu      sync.Mutex
	byToken map[string]int
}

func newProgressCounter() *progressCounter {
	return &progressCounter{first: make(chan struct{}), byToken: map[string]int{}}
}

func (p *progressCounter) handler(_ context.Context, req *sdk.ProgressNotificationClientRequest) {
	p.mu.Lock()
	p.byToken[fmt.Sprint(req.Params.ProgressToken)]++
	p.mu.Unlock()
	p.n.Add(1)
	p.once.Do(func() { close(p.first) })
}

func (p *progressCounter) forToken(token string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.byToken[token]
}

func newClient(pc *progressCounter) *sdk.Client {
	return sdk.NewClient(&sdk.Implementation{Name: "mcphub-it", Version: "1"},
		&sdk.ClientOptions{ProgressNotificationHandler: pc.handler})
}

func connectHTTP(ctx context.Context, t *testing.T, endpoint, version string, pc *progressCounter) *sdk.ClientSession {
	t.Helper()
	cs, err := newClient(pc).Connect(ctx, &sdk.StreamableClientTransport{Endpoint: endpoint, MaxRetries: -1},
		&sdk.ClientSessionOptions{ProtocolVersion: version})
	if err != nil {
		t.Fatalf("connecting to %s at %s: %v", endpoint, version, err)
	}
	t.Cleanup(func() { _ = cs.Close() })
	return cs
}

func resultText(res *sdk.CallToolResult) string {
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(*sdk.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String()
}

// exerciseSession runs the checks both transports share: list, call, structured output, bad
// arguments, progress, panic recovery, output budget, and cancellation. It returns after the
// cancelled call; the caller checks from outside that the handler stopped.
func exerciseSession(ctx context.Context, t *testing.T, cs *sdk.ClientSession, pc *progressCounter, version string) {
	t.Helper()
	if got := cs.InitializeResult().ProtocolVersion; got != version {
		t.Errorf("negotiated protocol %q, want %q", got, version)
	}

	tools, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatalf("tools/list: %v", err)
	}
	byName := map[string]*sdk.Tool{}
	for _, tool := range tools.Tools {
		byName[tool.Name] = tool
	}
	for _, want := range []string{"hub_list_servers", "testkit_echo", "testkit_slow", "testkit_panic", "testkit_big"} {
		tool, ok := byName[want]
		if !ok {
			t.Fatalf("tools/list lacks %s: %v", want, tools.Tools)
		}
		if tool.Annotations == nil || tool.Annotations.DestructiveHint == nil || tool.Annotations.OpenWorldHint == nil {
			t.Errorf("%s: annotations not all declared: %+v", want, tool.Annotations)
		}
	}

	res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "testkit_echo", Arguments: map[string]any{"text": "héllo"}})
	if err != nil || res.IsError {
		t.Fatalf("testkit_echo: %v %+v", err, res)
	}
	if got := resultText(res); got != "héllo" {
		t.Errorf("echo text = %q", got)
	}
	if sc, ok := res.StructuredContent.(map[string]any); !ok || sc["text"] != "héllo" {
		t.Errorf("echo structured content = %#v", res.StructuredContent)
	}

	res, err = cs.CallTool(ctx, &sdk.CallToolParams{Name: "testkit_echo", Arguments: map[string]any{"text": "x", "unknown": 1}})
	if err != nil {
		t.Fatalf("bad arguments should be a result, got error %v", err)
	}
	if !res.IsError || !strings.Contains(resultText(res), "invalid arguments") {
		t.Errorf("bad arguments: want isError with a clear message, got %+v %q", res.IsError, resultText(res))
	}

	res, err = cs.CallTool(ctx, &sdk.CallToolParams{Name: "testkit_panic", Arguments: map[string]any{}})
	if err != nil || !res.IsError || !strings.Contains(resultText(res), "crashed") {
		t.Errorf("panic: want an isError result, got %v %+v", err, res)
	}

	res, err = cs.CallTool(ctx, &sdk.CallToolParams{Name: "testkit_big", Arguments: map[string]any{"bytes": 100000}})
	if err != nil || res.IsError {
		t.Fatalf("testkit_big: %v %+v", err, res)
	}
	if text := resultText(res); len(text) > 4096+512 || !strings.Contains(text, "output truncated") {
		t.Errorf("testkit_big: want at most the 4096-byte budget and a truncation note, got %d bytes", len(text))
	}

	params := &sdk.CallToolParams{Name: "testkit_slow", Arguments: map[string]any{"steps": 3, "step_ms": 20}}
	params.SetProgressToken("p1")
	res, err = cs.CallTool(ctx, params)
	if err != nil || res.IsError {
		t.Fatalf("testkit_slow: %v %+v", err, res)
	}
	// mcp-go drops the last notification of a stream about half the time (notes/mcp-go.md §6.1),
	// so only "some arrived" is asserted.
	if pc.n.Load() == 0 {
		t.Errorf("no progress notification received")
	}

	// Cancel a long call once it is running.
	callCtx, cancel := context.WithCancel(ctx)
	params = &sdk.CallToolParams{Name: "testkit_slow", Arguments: map[string]any{"steps": 600, "step_ms": 50}}
	params.SetProgressToken("p2")
	errc := make(chan error, 1)
	go func() {
		_, err := cs.CallTool(callCtx, params)
		errc <- err
	}()
	deadline := time.Now().Add(10 * time.Second)
	for pc.forToken("p2") == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the long call sent no progress")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-errc:
		if err == nil {
			t.Errorf("cancelled call returned no error")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("cancelled call did not return")
	}
}

// metricValue returns the value of the first sample of /metrics matching the name and labels.
func metricValue(t *testing.T, base, name string, labels ...string) float64 {
	t.Helper()
	_, body := httpGet(t, base+"/metrics")
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		ok := true
		for _, l := range labels {
			ok = ok && strings.Contains(line, l)
		}
		if ok {
			v, _ := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
			return v
		}
	}
	return 0
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestIntegrationHTTP(t *testing.T) {
	p := startHub(t, "")
	for _, version := range protocolVersions {
		t.Run(version, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cancelledBefore := metricValue(t, p.base, "mcphub_tool_calls_total", `outcome="cancelled"`, `tool="testkit_slow"`)
			pc := newProgressCounter()
			cs := connectHTTP(ctx, t, p.base+"/mcp", version, pc)
			exerciseSession(ctx, t, cs, pc, version)

			// The handler stopped: the middleware counted the call as cancelled when the handler
			// returned, and nothing is left running.
			eventually(t, "the cancelled call to be counted", func() bool {
				return metricValue(t, p.base, "mcphub_tool_calls_total", `outcome="cancelled"`, `tool="testkit_slow"`) > cancelledBefore
			})
			eventually(t, "no tool call in flight", func() bool {
				return metricValue(t, p.base, "mcphub_tool_calls_in_flight", `server="testkit"`) == 0
			})
			if n := metricValue(t, p.base, "mcphub_tool_calls_total", `outcome="ok"`, `tool="testkit_echo"`); n < 1 {
				t.Errorf("ok calls of testkit_echo = %v, want >= 1", n)
			}
			if n := metricValue(t, p.base, "mcphub_tool_calls_total", `outcome="invalid_arguments"`, `tool="testkit_echo"`); n < 1 {
				t.Errorf("invalid_arguments calls of testkit_echo = %v, want >= 1", n)
			}
			if n := metricValue(t, p.base, "mcphub_tool_calls_total", `outcome="panic"`, `tool="testkit_panic"`); n < 1 {
				t.Errorf("panic calls = %v, want >= 1", n)
			}
			if n := metricValue(t, p.base, "mcphub_tool_call_duration_seconds_count", `tool="testkit_echo"`); n < 2 {
				t.Errorf("duration histogram count = %v, want >= 2", n)
			}
			if n := metricValue(t, p.base, "mcphub_http_requests_total", `route="/mcp"`, `code="200"`); n < 1 {
				t.Errorf("http requests on /mcp = %v", n)
			}

			// One server's endpoint serves only its own tools, under the same names.
			one := connectHTTP(ctx, t, p.base+"/mcp/testkit", version, newProgressCounter())
			tools, err := one.ListTools(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, tool := range tools.Tools {
				if !strings.HasPrefix(tool.Name, "testkit_") {
					t.Errorf("/mcp/testkit lists %s", tool.Name)
				}
			}
			if len(tools.Tools) != 4 {
				t.Errorf("/mcp/testkit lists %d tools, want 4", len(tools.Tools))
			}
		})
	}
	if n := metricValue(t, p.base, "mcphub_sessions_active", `endpoint="/mcp"`); n < 0 {
		t.Errorf("sessions gauge negative: %v", n)
	}
}

func TestIntegrationStdio(t *testing.T) {
	bin := testBinary(t)
	for _, version := range protocolVersions {
		t.Run(version, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			stderr := &syncBuffer{}
			cmd := exec.CommandContext(ctx, bin, "serve", "--stdio", "--config", writeConfig(t, "127.0.0.1:0", ""))
			cmd.Stderr = stderr
			pc := newProgressCounter()
			cs, err := newClient(pc).Connect(ctx, &sdk.CommandTransport{Command: cmd},
				&sdk.ClientSessionOptions{ProtocolVersion: version})
			if err != nil {
				t.Fatalf("connect over stdio: %v", err)
			}
			exerciseSession(ctx, t, cs, pc, version)
			eventually(t, "the cancelled call in the log", func() bool {
				return regexp.MustCompile(`"tool":"testkit_slow"[^\n]*"outcome":"cancelled"`).MatchString(stderr.String())
			})
			if err := cs.Close(); err != nil {
				t.Errorf("closing the stdio session: %v", err)
			}
			checkNoRace(t, stderr.String())
			// stdout carried only protocol: the SDK would have failed on anything else; every log
			// line went to stderr as JSON.
			for line := range strings.SplitSeq(strings.TrimSpace(stderr.String()), "\n") {
				if line != "" && !json.Valid([]byte(line)) && !raceEnabled {
					t.Errorf("stderr line is not JSON: %q", line)
				}
			}
			if t.Failed() {
				t.Logf("stderr:\n%s", stderr.String())
			}
		})
	}
}

// rawPost posts body to the hub with the given headers and returns the status and body.
func rawPost(t *testing.T, url string, body io.Reader, header map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, url, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	for k, v := range header {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

const initializeBody = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`

func TestIntegrationHTTPGuards(t *testing.T) {
	p := startHub(t, `http:
  max_body_bytes: 65536
  allowed_origins: ["https://app.example"]
servers:
  testkit: {enabled: true, not_ready_reason: "the test said so"}
`)
	tests := []struct {
		name     string
		path     string
		body     io.Reader
		header   map[string]string
		wantCode int
		wantBody string
	}{
		{"allowed request", "/mcp", strings.NewReader(initializeBody), nil, http.StatusOK, `"protocolVersion"`},
		{"allowed origin", "/mcp", strings.NewReader(initializeBody), map[string]string{"Origin": "https://app.example"}, http.StatusOK, `"protocolVersion"`},
		{"bad origin", "/mcp", strings.NewReader(initializeBody), map[string]string{"Origin": "https://evil.example"}, http.StatusForbidden, "not allowed"},
		{"null origin", "/mcp", strings.NewReader(initializeBody), map[string]string{"Origin": "null"}, http.StatusForbidden, "not allowed"},
		{"non-local host on loopback", "/mcp", strings.NewReader(initializeBody), map[string]string{"Host": "evil.example:8080"}, http.StatusForbidden, "host"},
		{"bad origin on metrics too", "/metrics", strings.NewReader(""), map[string]string{"Origin": "https://evil.example"}, http.StatusForbidden, "not allowed"},
		{"oversized body", "/mcp", bytes.NewReader(bytes.Repeat([]byte(" "), 70000)), nil, http.StatusRequestEntityTooLarge, "max_body_bytes"},
		{"oversized chunked body", "/mcp", io.MultiReader(strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"x":"`), strings.NewReader(strings.Repeat("a", 70000))), nil, http.StatusRequestEntityTooLarge, "max_body_bytes"},
		{"unknown server", "/mcp/nosuch", strings.NewReader(initializeBody), nil, http.StatusNotFound, "unknown server"},
		{"known server", "/mcp/testkit", strings.NewReader(initializeBody), nil, http.StatusOK, `"protocolVersion"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := rawPost(t, p.base+tt.path, tt.body, tt.header)
			if code != tt.wantCode || !strings.Contains(body, tt.wantBody) {
				t.Errorf("got %d %q, want %d containing %q", code, body, tt.wantCode, tt.wantBody)
			}
		})
	}

	code, body := httpGet(t, p.base+"/readyz")
	var ready struct {
		Status  string `json:"status"`
		Servers []struct {
			Name, Reason, Fix string
			Ready             bool
		} `json:"servers"`
	}
	if err := json.Unmarshal(body, &ready); err != nil {
		t.Fatalf("readyz body: %v: %s", err, body)
	}
	if code != http.StatusServiceUnavailable || ready.Status != "not ready" {
		t.Errorf("readyz = %d %q, want 503 not ready", code, ready.Status)
	}
	found := false
	for _, s := range ready.Servers {
		if s.Name == "testkit" {
			found = true
			if s.Ready || s.Reason != "the test said so" || s.Fix == "" {
				t.Errorf("readyz testkit = %+v", s)
			}
		} else if !s.Ready {
			t.Errorf("readyz: %s not ready: %s", s.Name, s.Reason)
		}
	}
	if !found {
		t.Errorf("readyz does not name testkit: %s", body)
	}
	if n := metricValue(t, p.base, "mcphub_http_rejected_total", `reason="origin"`); n < 2 {
		t.Errorf("rejected origin counter = %v, want >= 2", n)
	}
}

func TestIntegrationAuth(t *testing.T) {
	p := startHub(t, "auth:\n  api_keys:\n    - {identity: agent-a, key: \"${IT_AGENT_KEY}\"}\n", "IT_AGENT_KEY=0123456789abcdef-secret")
	code, body := rawPost(t, p.base+"/mcp", strings.NewReader(initializeBody), nil)
	if code != http.StatusUnauthorized || !strings.Contains(body, "API key") {
		t.Errorf("no key: got %d %q", code, body)
	}
	code, _ = rawPost(t, p.base+"/mcp", strings.NewReader(initializeBody), map[string]string{"Authorization": "Bearer wrong-key-0123456789"})
	if code != http.StatusUnauthorized {
		t.Errorf("wrong key: got %d", code)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	hc := &http.Client{Transport: headerTransport{"Authorization": "Bearer 0123456789abcdef-secret"}}
	cs, err := newClient(newProgressCounter()).Connect(ctx,
		&sdk.StreamableClientTransport{Endpoint: p.base + "/mcp", HTTPClient: hc, MaxRetries: -1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "testkit_echo", Arguments: map[string]any{"text": "hi"}})
	if err != nil || res.IsError {
		t.Fatalf("authenticated call: %v %+v", err, res)
	}
	eventually(t, "the call logged with its identity", func() bool {
		return strings.Contains(p.stderr.String(), `"identity":"agent-a"`)
	})
	if strings.Contains(p.stderr.String(), "0123456789abcdef-secret") {
		t.Error("the API key appears in the log")
	}
}

type headerTransport map[string]string

func (h headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, v := range h {
		r.Header.Set(k, v)
	}
	return http.DefaultTransport.RoundTrip(r)
}

func TestIntegrationGracefulShutdown(t *testing.T) {
	for _, version := range protocolVersions {
		t.Run(version, func(t *testing.T) {
			p := startHub(t, "")
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			pc := newProgressCounter()
			cs := connectHTTP(ctx, t, p.base+"/mcp", version, pc)
			callAcrossSIGTERM(ctx, t, cs, pc, p.cmd.Process, 20, func() {
				// While the call drains, new work is refused with 503 and readiness says so,
				// but the listener still answers.
				eventually(t, "readyz to report shutting down", func() bool {
					code, body := httpGet(t, p.base+"/readyz")
					return code == http.StatusServiceUnavailable && strings.Contains(string(body), "shutting down")
				})
				code, body := rawPost(t, p.base+"/mcp", strings.NewReader(initializeBody), nil)
				if code != http.StatusServiceUnavailable || !strings.Contains(body, "shutting down") {
					t.Errorf("a new request while draining: got %d %q, want 503", code, body)
				}
			})
			select {
			case <-p.done:
				if p.exitErr != nil {
					t.Errorf("hub exit after SIGTERM: %v", p.exitErr)
				}
			case <-time.After(15 * time.Second):
				t.Fatal("hub did not exit after SIGTERM")
			}
			if _, err := tryGet(p.base + "/healthz"); err == nil {
				t.Error("hub still accepts connections after shutdown")
			}
		})
	}
}

// tryGet fetches url with a short timeout and returns the status and body.
func tryGet(url string) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, err
}

// httpGet fetches url and returns the status and body; a failed request is status 0.
func httpGet(t *testing.T, url string) (int, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

// checkNoRace fails the test when the race detector reported a data race in the hub process.
func checkNoRace(t *testing.T, stderr string) {
	t.Helper()
	if strings.Contains(stderr, "WARNING: DATA RACE") {
		t.Errorf("the hub process reported a data race:\n%s", stderr)
	}
}

// TestIntegrationStdioLimits sends raw lines to the stdio transport: a message over the size
// limit gets an error answer for its id (not silence), and the session carries on.
func TestIntegrationStdioLimits(t *testing.T) {
	bin := testBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "serve", "--stdio", "--config",
		writeConfig(t, "127.0.0.1:0", "http: {max_body_bytes: 4096}\n"))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = stdin.Close()
		_ = cmd.Wait()
		checkNoRace(t, stderr.String())
	}()
	lines := bufio.NewScanner(stdout)
	lines.Buffer(make([]byte, 1<<20), 1<<20)
	send := func(s string) {
		t.Helper()
		if _, err := io.WriteString(stdin, s+"\n"); err != nil {
			t.Fatal(err)
		}
	}
	next := func() map[string]any {
		t.Helper()
		if !lines.Scan() {
			t.Fatalf("stdout ended: %v\nstderr: %s", lines.Err(), stderr.String())
		}
		var msg map[string]any
		if err := json.Unmarshal(lines.Bytes(), &msg); err != nil {
			t.Fatalf("stdout carried a non-JSON line %q", lines.Text())
		}
		return msg
	}

	send(initializeBody)
	if msg := next(); msg["result"] == nil {
		t.Fatalf("initialize: %v", msg)
	}
	send(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	send(`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"testkit_echo","arguments":{"text":"` + strings.Repeat("a", 10000) + `"}}}`)
	msg := next()
	if msg["id"] != float64(7) || msg["error"] == nil || !strings.Contains(fmt.Sprint(msg["error"]), "message_larger_than_4096_bytes") {
		t.Errorf("oversized message: want an error for id 7 naming the limit, got %v", msg)
	}
	send(`{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"testkit_echo","arguments":{"text":"still here"}}}`)
	if msg := next(); msg["id"] != float64(8) || !strings.Contains(fmt.Sprint(msg["result"]), "still here") {
		t.Errorf("after the oversized message: %v", msg)
	}
	if !strings.Contains(stderr.String(), "larger than the limit") {
		t.Errorf("the refusal is not logged:\n%s", stderr.String())
	}
}

// TestIntegrationStdioShutdown: SIGTERM lets the running call finish on stdio too.
func TestIntegrationStdioShutdown(t *testing.T) {
	bin := testBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	stderr := &syncBuffer{}
	cmd := exec.CommandContext(ctx, bin, "serve", "--stdio", "--config", writeConfig(t, "127.0.0.1:0", ""))
	cmd.Stderr = stderr
	pc := newProgressCounter()
	cs, err := newClient(pc).Connect(ctx, &sdk.CommandTransport{Command: cmd}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	callAcrossSIGTERM(ctx, t, cs, pc, cmd.Process, 15, nil)
	checkNoRace(t, stderr.String())
}

// callAcrossSIGTERM starts a slow call of the given steps, sends the hub SIGTERM once the call
// runs, runs during (when set) while the call drains, and checks that the call still completes.
func callAcrossSIGTERM(ctx context.Context, t *testing.T, cs *sdk.ClientSession, pc *progressCounter, proc *os.Process,
	steps int, during func()) {
	t.Helper()
	params := &sdk.CallToolParams{Name: "testkit_slow", Arguments: map[string]any{"steps": steps, "step_ms": 80}}
	params.SetProgressToken("sigterm")
	type result struct {
		res *sdk.CallToolResult
		err error
	}
	done := make(chan result, 1)
	go func() {
		res, err := cs.CallTool(ctx, params)
		done <- result{res, err}
	}()
	select {
	case <-pc.first:
	case <-time.After(10 * time.Second):
		t.Fatal("the call did not start")
	}
	if err := proc.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if during != nil {
		during()
	}
	r := <-done
	if want := fmt.Sprintf("done: %d steps", steps); r.err != nil || r.res.IsError || !strings.Contains(resultText(r.res), want) {
		t.Fatalf("in-flight call did not finish across SIGTERM: %v %+v", r.err, r.res)
	}
}
