package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"image/png"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcphub/mcphub/internal/testenv"
)

// The sandbox integration tests drive the real binary with a real Docker Engine and the real
// sandbox image, over streamable HTTP and stdio, with the official Go SDK client. They need
// `make sandbox-image` (make test builds it); without an engine or the image they skip locally
// and fail under CI=true.

// sandboxSection is the servers.sandbox section the tests run with: short timeouts so that the
// abuse cases finish quickly, the default limits otherwise.
const sandboxSection = `servers:
  sandbox:
    enabled: true
    default_timeout: 20s
    max_timeout: 60s
    pool_size: 2
    session_idle_ttl: 2m
`

// sandboxTools are the tools the server serves.
var sandboxTools = []string{"sandbox_run", "sandbox_session_create", "sandbox_exec", "sandbox_write_file",
	"sandbox_read_file", "sandbox_list_files", "sandbox_session_close"}

// requireSandbox skips the test (fails it under CI) unless a Docker Engine answers; the image is
// checked through the hub's own readiness by startSandboxHub.
func requireSandbox(t *testing.T) {
	t.Helper()
	testBinary(t) // -short skips here
	testenv.RequireDocker(t)
}

// sandboxMissing skips, or fails under CI, with what the hub's readiness said.
func sandboxMissing(t *testing.T, format string, args ...any) {
	t.Helper()
	if testenv.InCI() {
		t.Fatalf("CI=true needs the sandbox: "+format, args...)
	}
	t.Skipf(format, args...)
}

// readyzServer is one entry of /readyz.
type readyzServer struct {
	Name, Reason, Fix string
	Ready             bool
}

func readyz(t *testing.T, base string) (int, []readyzServer) {
	t.Helper()
	code, body := httpGet(t, base+"/readyz")
	var ready struct {
		Servers []readyzServer `json:"servers"`
	}
	if err := json.Unmarshal(body, &ready); err != nil {
		t.Fatalf("readyz body: %v: %s", err, body)
	}
	return code, ready.Servers
}

func sandboxReadiness(t *testing.T, base string) readyzServer {
	t.Helper()
	_, servers := readyz(t, base)
	for _, s := range servers {
		if s.Name == "sandbox" {
			return s
		}
	}
	t.Fatalf("/readyz does not list the sandbox server: %+v", servers)
	return readyzServer{}
}

// startSandboxHub starts the binary over HTTP with the sandbox enabled (plus extra YAML before
// the servers section) and waits until the sandbox is ready.
func startSandboxHub(t *testing.T, extra string, env ...string) *hubProcess {
	t.Helper()
	requireSandbox(t)
	p := startHub(t, extra+sandboxSection, env...)
	deadline := time.Now().Add(60 * time.Second)
	var last readyzServer
	for time.Now().Before(deadline) {
		if last = sandboxReadiness(t, p.base); last.Ready {
			return p
		}
		time.Sleep(200 * time.Millisecond)
	}
	sandboxMissing(t, "the sandbox server is not ready: %s; fix: %s", last.Reason, last.Fix)
	return nil
}

// connectAs connects to endpoint with the bearer key (none when empty) at the protocol version
// ("" for the client's default).
func connectAs(ctx context.Context, t *testing.T, endpoint, key, version string, pc *progressCounter) *sdk.ClientSession {
	t.Helper()
	tr := &sdk.StreamableClientTransport{Endpoint: endpoint, MaxRetries: -1}
	if key != "" {
		tr.HTTPClient = &http.Client{Transport: headerTransport{"Authorization": "Bearer " + key}}
	}
	var opts *sdk.ClientSessionOptions
	if version != "" {
		opts = &sdk.ClientSessionOptions{ProtocolVersion: version}
	}
	cs, err := newClient(pc).Connect(ctx, tr, opts)
	if err != nil {
		t.Fatalf("connecting to %s: %v", endpoint, err)
	}
	t.Cleanup(func() { _ = cs.Close() })
	return cs
}

// sbResult is the structured result of sandbox_run and sandbox_exec.
type sbResult struct {
	SessionID          string   `json:"session_id"`
	ExitCode           int      `json:"exit_code"`
	DurationMS         int64    `json:"duration_ms"`
	Stopped            string   `json:"stopped"`
	Reason             string   `json:"reason"`
	Stdout             string   `json:"stdout"`
	Stderr             string   `json:"stderr"`
	StdoutBytes        int64    `json:"stdout_bytes"`
	StdoutOmittedBytes int64    `json:"stdout_omitted_bytes"`
	Notes              []string `json:"notes"`
	Files              []struct {
		Path     string `json:"path"`
		Size     int64  `json:"size"`
		Returned string `json:"returned"`
	} `json:"files"`
}

// callSandbox calls a tool, fails the test on a protocol error, and decodes the structured
// content into out (when not nil and the result is not an error).
func callSandbox(ctx context.Context, t *testing.T, cs *sdk.ClientSession, name string, args map[string]any, out any) *sdk.CallToolResult {
	t.Helper()
	res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if out != nil && !res.IsError {
		js, _ := json.Marshal(res.StructuredContent)
		if err := json.Unmarshal(js, out); err != nil {
			t.Fatalf("%s: structured content %s: %v", name, js, err)
		}
	}
	return res
}

// mustRun calls sandbox_run or sandbox_exec and fails unless the result is a success.
func mustRun(ctx context.Context, t *testing.T, cs *sdk.ClientSession, name string, args map[string]any) (sbResult, *sdk.CallToolResult) {
	t.Helper()
	var r sbResult
	res := callSandbox(ctx, t, cs, name, args, &r)
	if res.IsError {
		t.Fatalf("%s(%v): error result: %s", name, args, resultText(res))
	}
	return r, res
}

// images returns the decoded images of a result's content.
func images(t *testing.T, res *sdk.CallToolResult) [][]byte {
	t.Helper()
	var out [][]byte
	for _, c := range res.Content {
		if im, ok := c.(*sdk.ImageContent); ok {
			if im.MIMEType != "image/png" {
				t.Errorf("image content of type %q", im.MIMEType)
			}
			out = append(out, im.Data)
		}
	}
	return out
}

// checkPNG decodes data as a PNG of the size the test's python code draws.
func checkPNG(t *testing.T, data []byte) {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("the image does not decode as PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() != 16 || b.Dy() != 12 {
		t.Errorf("image is %dx%d, want 16x12", b.Dx(), b.Dy())
	}
}

// pngPython writes a 16x12 PNG with the standard library only (no PIL in the image).
const pngPython = `import struct, zlib
w, h = 16, 12
rows = b"".join(b"\x00" + b"".join(bytes((x * 16 % 256, y * 20 % 256, 200)) for x in range(w)) for y in range(h))
def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff)
png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
open("plot.png", "wb").write(png)
print("wrote", len(png))
`

// exerciseSandbox runs every tool once or more: the three languages, stdin, stderr and exit
// codes, files in and out (text, binary, a PNG as image content), a session's whole life, and
// progress on a long run.
func exerciseSandbox(ctx context.Context, t *testing.T, cs *sdk.ClientSession, pc *progressCounter) {
	t.Helper()
	tools, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tool := range tools.Tools {
		if strings.HasPrefix(tool.Name, "sandbox_") {
			names = append(names, tool.Name)
			if a := tool.Annotations; a == nil || a.OpenWorldHint == nil || *a.OpenWorldHint {
				t.Errorf("%s: openWorldHint must be declared false: %+v", tool.Name, a)
			}
		}
	}
	slices.Sort(names)
	if want := slices.Sorted(slices.Values(sandboxTools)); !slices.Equal(names, want) {
		t.Errorf("tools %v, want %v", names, sandboxTools)
	}

	// The three languages, stdin, stderr apart from stdout, exit codes.
	r, _ := mustRun(ctx, t, cs, "sandbox_run", map[string]any{"language": "python", "code": "print(1+1)"})
	if r.Stdout != "2\n" || r.ExitCode != 0 || r.Stopped != "" {
		t.Errorf("python: %+v", r)
	}
	r, _ = mustRun(ctx, t, cs, "sandbox_run", map[string]any{"language": "javascript",
		"code": "console.log([1,2,3].map(x => x * 2).join(',')); console.error('warn'); process.exit(3)"})
	if r.Stdout != "2,4,6\n" || r.Stderr != "warn\n" || r.ExitCode != 3 {
		t.Errorf("javascript: %+v", r)
	}
	r, _ = mustRun(ctx, t, cs, "sandbox_run", map[string]any{"language": "bash",
		"code": "read -r name; echo \"hello $name from $(pwd) as $(id -u)\"; ls /work", "stdin": "agent\n"})
	if !strings.HasPrefix(r.Stdout, "hello agent from /work as ") || strings.Contains(r.Stdout, "as 0\n") {
		t.Errorf("bash: %+v", r)
	}

	// Files in: text and binary; the code sees exactly the bytes.
	blob := []byte{0, 1, 2, 0xfe, 0xff, '\n', 0}
	sum := sha256.Sum256(blob)
	r, _ = mustRun(ctx, t, cs, "sandbox_run", map[string]any{"language": "python",
		"code": "import hashlib\nprint(open('data/in.txt').read().upper())\nprint(hashlib.sha256(open('/work/blob.bin','rb').read()).hexdigest())",
		"files": []any{
			map[string]any{"path": "data/in.txt", "content": "text in"},
			map[string]any{"path": "blob.bin", "content": base64.StdEncoding.EncodeToString(blob), "encoding": "base64"},
		}})
	if want := "TEXT IN\n" + hex.EncodeToString(sum[:]) + "\n"; r.Stdout != want {
		t.Errorf("files in: stdout %q, want %q (stderr %q)", r.Stdout, want, r.Stderr)
	}

	// A PNG the code draws comes back as image content from a one-shot run.
	r, res := mustRun(ctx, t, cs, "sandbox_run", map[string]any{"language": "python", "code": pngPython})
	if imgs := images(t, res); len(imgs) != 1 {
		t.Errorf("sandbox_run: %d images in the result, want 1 (files %+v, notes %q)", len(imgs), r.Files, r.Notes)
	} else {
		checkPNG(t, imgs[0])
	}

	exerciseSandboxSession(ctx, t, cs)

	// Progress while long code runs; mcp-go may drop the last notification, so only "some".
	params := &sdk.CallToolParams{Name: "sandbox_run", Arguments: map[string]any{"language": "python",
		"code": "import time\nfor i in range(3):\n    time.sleep(1)\nprint('slept')"}}
	token := fmt.Sprintf("sb-progress-%d", time.Now().UnixNano())
	params.SetProgressToken(token)
	res, err = cs.CallTool(ctx, params)
	if err != nil || res.IsError {
		t.Fatalf("long run: %v %s", err, resultText(res))
	}
	if pc.forToken(token) == 0 {
		t.Errorf("no progress notification during a 3 s run")
	}
}

// exerciseSandboxSession runs a session's whole life: create, write, exec (code and command), an image
// produced by exec, read (text, parts, image), list, close, and a refused call after the close.
func exerciseSandboxSession(ctx context.Context, t *testing.T, cs *sdk.ClientSession) {
	t.Helper()
	var created struct {
		SessionID string `json:"session_id"`
	}
	if res := callSandbox(ctx, t, cs, "sandbox_session_create", map[string]any{}, &created); res.IsError || created.SessionID == "" {
		t.Fatalf("sandbox_session_create: %s", resultText(res))
	}
	id := created.SessionID
	if res := callSandbox(ctx, t, cs, "sandbox_write_file", map[string]any{"session_id": id, "path": "notes/a.txt",
		"content": "first line\n"}, nil); res.IsError {
		t.Fatalf("write_file: %s", resultText(res))
	}
	// State persists across calls: append with one exec, read with another.
	mustRun(ctx, t, cs, "sandbox_exec", map[string]any{"session_id": id, "language": "bash", "code": "echo second line >> notes/a.txt"})
	r, _ := mustRun(ctx, t, cs, "sandbox_exec", map[string]any{"session_id": id, "command": []any{"cat", "notes/a.txt"}})
	if r.Stdout != "first line\nsecond line\n" || r.SessionID != id {
		t.Errorf("exec cat: %+v", r)
	}

	// An image the exec draws comes back as image content, and again from read_file.
	r, res := mustRun(ctx, t, cs, "sandbox_exec", map[string]any{"session_id": id, "language": "python", "code": pngPython})
	if imgs := images(t, res); len(imgs) != 1 {
		t.Errorf("sandbox_exec: %d images in the result, want 1 (files %+v)", len(imgs), r.Files)
	} else {
		checkPNG(t, imgs[0])
	}
	res = callSandbox(ctx, t, cs, "sandbox_read_file", map[string]any{"session_id": id, "path": "/work/plot.png"}, nil)
	if imgs := images(t, res); res.IsError || len(imgs) != 1 {
		t.Errorf("read_file of the PNG: %s", resultText(res))
	} else {
		checkPNG(t, imgs[0])
	}

	// A text file read in parts reassembles to the whole; binary comes back as base64.
	_, res = mustRun(ctx, t, cs, "sandbox_exec", map[string]any{"session_id": id, "language": "python",
		"code": "open('big.txt','w').write(''.join(f'line {i}\\n' for i in range(5000)))\nopen('bin.dat','wb').write(bytes(range(256)))"})
	// Files the exec wrote come back as resource links, and a link reads the whole file.
	var bigURI string
	for _, c := range res.Content {
		if l, ok := c.(*sdk.ResourceLink); ok && l.Name == "/work/big.txt" {
			bigURI = l.URI
		}
	}
	if bigURI == "" {
		t.Errorf("the exec result links no /work/big.txt: %s", resultText(res))
	} else if rr, err := cs.ReadResource(ctx, &sdk.ReadResourceParams{URI: bigURI}); err != nil || len(rr.Contents) != 1 ||
		!strings.HasPrefix(rr.Contents[0].Text, "line 0\nline 1\n") || !strings.HasSuffix(rr.Contents[0].Text, "line 4999\n") {
		t.Errorf("resources/read %s: %v", bigURI, err)
	}
	var whole strings.Builder
	offset := 0.0
	for range 100 {
		var part struct {
			Text       string   `json:"text"`
			NextOffset *float64 `json:"next_offset"`
		}
		res := callSandbox(ctx, t, cs, "sandbox_read_file", map[string]any{"session_id": id, "path": "big.txt",
			"offset": offset, "max_bytes": 10000}, &part)
		if res.IsError {
			t.Fatalf("read_file big.txt at %v: %s", offset, resultText(res))
		}
		whole.WriteString(part.Text)
		if part.NextOffset == nil {
			break
		}
		offset = *part.NextOffset
	}
	var want strings.Builder
	for i := range 5000 {
		fmt.Fprintf(&want, "line %d\n", i)
	}
	if whole.String() != want.String() {
		t.Errorf("big.txt read in parts: %d bytes, want %d", whole.Len(), want.Len())
	}
	res = callSandbox(ctx, t, cs, "sandbox_read_file", map[string]any{"session_id": id, "path": "bin.dat"}, nil)
	var blob []byte
	for _, c := range res.Content {
		if er, ok := c.(*sdk.EmbeddedResource); ok && er.Resource != nil {
			blob = er.Resource.Blob
		}
	}
	want256 := make([]byte, 256)
	for i := range want256 {
		want256[i] = byte(i)
	}
	if !bytes.Equal(blob, want256) {
		t.Errorf("read_file bin.dat: %d bytes back: %s", len(blob), resultText(res))
	}

	var list struct {
		Entries []struct {
			Path  string `json:"path"`
			IsDir bool   `json:"is_dir"`
		} `json:"entries"`
	}
	if res := callSandbox(ctx, t, cs, "sandbox_list_files", map[string]any{"session_id": id}, &list); res.IsError {
		t.Fatalf("list_files: %s", resultText(res))
	}
	var paths []string
	for _, e := range list.Entries {
		paths = append(paths, e.Path)
	}
	for _, p := range []string{"/work/notes/a.txt", "/work/plot.png", "/work/big.txt", "/work/bin.dat"} {
		if !slices.Contains(paths, p) {
			t.Errorf("list_files lacks %s: %v", p, paths)
		}
	}

	// Paths outside the sandbox's directories are refused before reaching the container.
	res = callSandbox(ctx, t, cs, "sandbox_read_file", map[string]any{"session_id": id, "path": "../etc/passwd"}, nil)
	if !res.IsError || !strings.Contains(resultText(res), "leaves /work") {
		t.Errorf("read_file ../etc/passwd: %s", resultText(res))
	}

	if res := callSandbox(ctx, t, cs, "sandbox_session_close", map[string]any{"session_id": id}, nil); res.IsError {
		t.Fatalf("session_close: %s", resultText(res))
	}
	res = callSandbox(ctx, t, cs, "sandbox_exec", map[string]any{"session_id": id, "command": []any{"true"}}, nil)
	if !res.IsError || !strings.Contains(resultText(res), "no such sandbox session") {
		t.Errorf("exec after close: %s", resultText(res))
	}
}

func TestIntegrationSandboxHTTP(t *testing.T) {
	p := startSandboxHub(t, "")
	for _, version := range protocolVersions {
		t.Run(version, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			pc := newProgressCounter()
			cs := connectAs(ctx, t, p.base+"/mcp/sandbox", "", version, pc)
			exerciseSandbox(ctx, t, cs, pc)
		})
	}
	if n := metricValue(t, p.base, "mcphub_tool_calls_total", `outcome="ok"`, `tool="sandbox_run"`); n < 6 {
		t.Errorf("ok sandbox_run calls counted: %v", n)
	}
}

func TestIntegrationSandboxStdio(t *testing.T) {
	startSandboxHub(t, "") // the engine and image are there: readiness said so
	bin := testBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	stderr := &syncBuffer{}
	cmd := exec.CommandContext(ctx, bin, "serve", "--stdio", "--config", writeConfig(t, "127.0.0.1:0", sandboxSection))
	cmd.Stderr = stderr
	pc := newProgressCounter()
	cs, err := newClient(pc).Connect(ctx, &sdk.CommandTransport{Command: cmd}, nil)
	if err != nil {
		t.Fatalf("connect over stdio: %v", err)
	}
	defer func() {
		_ = cs.Close()
		checkNoRace(t, stderr.String())
		if t.Failed() {
			t.Logf("stderr:\n%s", stderr.String())
		}
	}()
	exerciseSandbox(ctx, t, cs, pc)
}

// TestIntegrationSandboxIdentities: a session belongs to the identity that created it. Another
// identity's calls with its handle are refused with the same answer as an unknown handle, and
// the owner's handle works from a new connection (the stateless protocol carries no session).
func TestIntegrationSandboxIdentities(t *testing.T) {
	keyA, keyB := "key-a-0123456789abcdef", "key-b-0123456789abcdef"
	p := startSandboxHub(t, fmt.Sprintf("auth:\n  api_keys:\n    - {identity: agent-a, key: %q}\n    - {identity: agent-b, key: %q}\n", keyA, keyB))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	a := connectAs(ctx, t, p.base+"/mcp", keyA, "", newProgressCounter())
	b := connectAs(ctx, t, p.base+"/mcp", keyB, "", newProgressCounter())

	var created struct {
		SessionID string `json:"session_id"`
	}
	if res := callSandbox(ctx, t, a, "sandbox_session_create", map[string]any{}, &created); res.IsError {
		t.Fatal(resultText(res))
	}
	id := created.SessionID
	callSandbox(ctx, t, a, "sandbox_write_file", map[string]any{"session_id": id, "path": "secret.txt", "content": "a's secret"}, nil)

	calls := map[string]map[string]any{
		"sandbox_exec":          {"command": []any{"cat", "secret.txt"}},
		"sandbox_write_file":    {"path": "secret.txt", "content": "overwritten by b"},
		"sandbox_read_file":     {"path": "secret.txt"},
		"sandbox_list_files":    {},
		"sandbox_session_close": {},
	}
	for name, args := range calls {
		args["session_id"] = id
		resB := callSandbox(ctx, t, b, name, args, nil)
		args["session_id"] = "AAAAAAAAAAAAAAAAAAAAAA"
		resUnknown := callSandbox(ctx, t, b, name, args, nil)
		if !resB.IsError || strings.Contains(resultText(resB), "a's secret") {
			t.Errorf("%s with agent-a's session by agent-b: %s", name, resultText(resB))
		}
		if resultText(resB) != resultText(resUnknown) {
			t.Errorf("%s: agent-a's handle answers %q, an unknown one %q: handles can be probed", name, resultText(resB), resultText(resUnknown))
		}
	}

	// Nor can agent-b read the session's files as resources.
	uri := "sandbox://session/" + id + "/work/secret.txt"
	if rr, err := b.ReadResource(ctx, &sdk.ReadResourceParams{URI: uri}); err == nil {
		t.Errorf("agent-b read %s: %+v", uri, rr.Contents)
	}
	if rr, err := a.ReadResource(ctx, &sdk.ReadResourceParams{URI: uri}); err != nil || rr.Contents[0].Text != "a's secret" {
		t.Errorf("agent-a reads %s: %v", uri, err)
	}

	// The owner's handle works from a fresh connection, and nothing of b's attempts landed.
	a2 := connectAs(ctx, t, p.base+"/mcp/sandbox", keyA, "", newProgressCounter())
	r, _ := mustRun(ctx, t, a2, "sandbox_exec", map[string]any{"session_id": id, "command": []any{"cat", "secret.txt"}})
	if r.Stdout != "a's secret" {
		t.Errorf("agent-a reads %q", r.Stdout)
	}
	callSandbox(ctx, t, a2, "sandbox_session_close", map[string]any{"session_id": id}, nil)
}

// TestIntegrationSandboxSessionEnd: a sandbox session created in a (session-based) MCP session
// is closed when that MCP session ends.
func TestIntegrationSandboxSessionEnd(t *testing.T) {
	p := startSandboxHub(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	legacy := connectAs(ctx, t, p.base+"/mcp/sandbox", "", "2025-11-25", newProgressCounter())
	var created struct {
		SessionID string `json:"session_id"`
	}
	if res := callSandbox(ctx, t, legacy, "sandbox_session_create", map[string]any{}, &created); res.IsError {
		t.Fatal(resultText(res))
	}
	other := connectAs(ctx, t, p.base+"/mcp/sandbox", "", "", newProgressCounter())
	mustRun(ctx, t, other, "sandbox_exec", map[string]any{"session_id": created.SessionID, "command": []any{"true"}})
	if err := legacy.Close(); err != nil { // DELETE: the MCP session ends
		t.Fatal(err)
	}
	eventually(t, "the sandbox session to close with its MCP session", func() bool {
		res := callSandbox(ctx, t, other, "sandbox_exec", map[string]any{"session_id": created.SessionID, "command": []any{"true"}}, nil)
		return res.IsError && strings.Contains(resultText(res), "no such sandbox session")
	})
}

// TestIntegrationSandboxNotReady: with no engine at the configured address, the sandbox is not
// ready with the reason and a fix, its tools say so, and the rest of the hub works. It needs no
// Docker at all.
func TestIntegrationSandboxNotReady(t *testing.T) {
	p := startHub(t, "servers:\n  sandbox:\n    enabled: true\n    docker_host: unix:///nonexistent/mcphub-test/docker.sock\n  testkit: {enabled: true}\n")
	code, servers := readyz(t, p.base)
	if code != http.StatusServiceUnavailable {
		t.Errorf("/readyz = %d, want 503", code)
	}
	for _, s := range servers {
		switch {
		case s.Name == "sandbox":
			if s.Ready || s.Reason == "" || s.Fix == "" {
				t.Errorf("sandbox readiness %+v: want not ready with a reason and a fix", s)
			}
		case !s.Ready:
			t.Errorf("%s is not ready: %s", s.Name, s.Reason)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cs := connectAs(ctx, t, p.base+"/mcp", "", "", newProgressCounter())
	res := callSandbox(ctx, t, cs, "sandbox_run", map[string]any{"language": "python", "code": "print(1)"}, nil)
	if !res.IsError || !strings.Contains(resultText(res), "not ready") {
		t.Errorf("sandbox_run without an engine: %s", resultText(res))
	}
	if res := callSandbox(ctx, t, cs, "testkit_echo", map[string]any{"text": "still here"}, nil); res.IsError {
		t.Errorf("the rest of the hub: %s", resultText(res))
	}
}
