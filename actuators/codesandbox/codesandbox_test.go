package codesandbox

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/mcphub/mcphub/configs"
	"github.com/mcphub/mcphub/sandbox"
	"github.com/mcphub/mcphub/servers/registry"
	"github.com/mcphub/mcphub/servers/registry/registrytest"
)

var factory = registry.Factory{Name: "sandbox", New: New}

func TestConformance(t *testing.T)   { registrytest.Conformance(t, factory) }
func TestToolSnapshots(t *testing.T) { registrytest.ToolSnapshots(t, factory) }

func TestToolNamesAndLimits(t *testing.T) {
	want := []string{"sandbox_run", "sandbox_session_create", "sandbox_exec", "sandbox_write_file",
		"sandbox_read_file", "sandbox_list_files", "sandbox_session_close"}
	tools := New().Tools()
	if len(tools) != len(want) {
		t.Fatalf("%d tools, want %d", len(tools), len(want))
	}
	for i, tool := range tools {
		if tool.Def.Name != want[i] {
			t.Errorf("tool %d is %s, want %s", i, tool.Def.Name, want[i])
		}
		if tool.Timeout <= 0 || tool.OutputBudget <= 0 {
			t.Errorf("%s: timeout %v, budget %d: every tool declares its limits", tool.Def.Name, tool.Timeout, tool.OutputBudget)
		}
		if tool.Hints.OpenWorld {
			t.Errorf("%s: open world, but sandboxes have no network", tool.Def.Name)
		}
		if tool.Hints.ReadOnly != (tool.Def.Name == "sandbox_read_file" || tool.Def.Name == "sandbox_list_files") {
			t.Errorf("%s: readOnly %v", tool.Def.Name, tool.Hints.ReadOnly)
		}
	}
}

func decodeSection(t *testing.T, yaml string) (*Server, error) {
	t.Helper()
	cfg, err := configs.Parse([]byte("servers:\n  sandbox:\n    enabled: true\n" + yaml))
	if err != nil {
		return nil, err
	}
	s := New().(*Server)
	if err := s.DecodeConfig(cfg.Servers["sandbox"]); err != nil {
		return nil, err
	}
	return s, s.Validate()
}

func TestConfig(t *testing.T) {
	tests := []struct {
		name, yaml, wantErr string
		check               func(*testing.T, Config)
	}{
		{name: "defaults", check: func(t *testing.T, c Config) {
			if c.Image != sandbox.DefaultImage || c.ResultBudgetBytes != defaultResultBudget ||
				c.MaxConcurrentRuns != defaultConcurrentRuns || c.MaxTimeout.D() != 5*time.Minute {
				t.Errorf("defaults: %+v", c)
			}
		}},
		{name: "runtime keys inline", yaml: "    image: other:1\n    pool_size: 4\n    max_timeout: 10m\n    result_budget_bytes: 65536\n",
			check: func(t *testing.T, c Config) {
				if c.Image != "other:1" || c.PoolSize != 4 || c.MaxTimeout.D() != 10*time.Minute || c.ResultBudgetBytes != 65536 {
					t.Errorf("decoded %+v", c)
				}
			}},
		{name: "unknown key", yaml: "    imagee: x\n", wantErr: "servers.sandbox.imagee"},
		{name: "budget too small", yaml: "    result_budget_bytes: 10\n", wantErr: "servers.sandbox.result_budget_bytes"},
		{name: "runtime bound", yaml: "    pids_limit: 1\n    max_concurrent_runs: 1000\n", wantErr: "servers.sandbox.pids_limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := decodeSection(t, tt.yaml)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, s.cfg)
			if tools := s.Tools(); tools[0].Timeout != s.cfg.MaxTimeout.D()+callGrace || tools[0].OutputBudget != s.cfg.ResultBudgetBytes {
				t.Errorf("sandbox_run limits %v/%d do not follow the config", tools[0].Timeout, tools[0].OutputBudget)
			}
		})
	}
}

func TestContainerPath(t *testing.T) {
	tests := []struct {
		in, want  string
		allowRoot bool
		wantErr   string
	}{
		{in: "data.csv", want: "/work/data.csv"},
		{in: "a/b/../c.txt", want: "/work/a/c.txt"},
		{in: "./x", want: "/work/x"},
		{in: "/work/x/y", want: "/work/x/y"},
		{in: "/tmp/scratch", want: "/tmp/scratch"},
		{in: "/work//x/", want: "/work/x"},
		{in: "/work", wantErr: "is a directory"},
		{in: "/work", allowRoot: true, want: "/work"},
		{in: "/tmp/", allowRoot: true, want: "/tmp"},
		{in: "", wantErr: "empty"},
		{in: "../etc/passwd", wantErr: "leaves /work"},
		{in: "a/../../x", wantErr: "leaves /work"},
		{in: "..", wantErr: "leaves /work"},
		{in: "/etc/passwd", wantErr: "outside"},
		{in: "/work/../etc/passwd", wantErr: "outside"},
		{in: "/workers/x", wantErr: "outside"},
		{in: "/var/run/docker.sock", wantErr: "outside"},
		{in: "a\x00b", wantErr: "NUL"},
		{in: "a\nb", wantErr: "control"},
		{in: "\xff", wantErr: "UTF-8"},
		{in: strings.Repeat("a", maxPathBytes+1), wantErr: "longer"},
	}
	for _, tt := range tests {
		got, err := containerPath(tt.in, tt.allowRoot)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("containerPath(%q) = %q, %v; want an error with %q", tt.in, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("containerPath(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func FuzzContainerPath(f *testing.F) {
	for _, s := range []string{"a", "../x", "/work/a/../../etc", "/tmp/x", "a/./b//c", "/work", "\x00", "é/ü"} {
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, p string, allowRoot bool) {
		got, err := containerPath(p, allowRoot)
		if err != nil {
			return
		}
		inWork := got == workDir || strings.HasPrefix(got, workDir+"/")
		inTmp := got == tmpDir || strings.HasPrefix(got, tmpDir+"/")
		if !inWork && !inTmp {
			t.Fatalf("containerPath(%q) = %q: outside /work and /tmp", p, got)
		}
		if strings.Contains(got, "/../") || strings.HasSuffix(got, "/..") || strings.Contains(got, "//") {
			t.Fatalf("containerPath(%q) = %q: not clean", p, got)
		}
		if !allowRoot && (got == workDir || got == tmpDir) {
			t.Fatalf("containerPath(%q) = %q: a root for a file", p, got)
		}
	})
}

func TestParseFiles(t *testing.T) {
	b64 := base64.StdEncoding.EncodeToString([]byte{0, 1, 2, 255})
	files, err := parseFiles([]any{
		map[string]any{"path": "in.txt", "content": "hello"},
		map[string]any{"path": "/tmp/bin", "content": b64, "encoding": "base64", "executable": true},
	}, 1024)
	if err != nil {
		t.Fatal(err)
	}
	if files[0].path != "/work/in.txt" || string(files[0].data) != "hello" || files[0].mode != 0o644 {
		t.Errorf("files[0] = %+v", files[0])
	}
	if files[1].path != "/tmp/bin" || !bytes.Equal(files[1].data, []byte{0, 1, 2, 255}) || files[1].mode != 0o755 {
		t.Errorf("files[1] = %+v", files[1])
	}

	bad := []struct {
		raw  any
		want string
	}{
		{"x", "must be an array"},
		{[]any{"x"}, "files[0] must be an object"},
		{[]any{map[string]any{"path": "../x", "content": ""}}, "files[0]: path"},
		{[]any{map[string]any{"path": "x"}}, "content is required"},
		{[]any{map[string]any{"path": "x", "content": "!!", "encoding": "base64"}}, "not valid standard base64"},
		{[]any{map[string]any{"path": "x", "content": "a", "encoding": "hex"}}, "encoding must be"},
		{[]any{map[string]any{"path": "x", "content": strings.Repeat("a", 1025)}}, "more than the limit"},
		{[]any{map[string]any{"path": "x", "content": base64.StdEncoding.EncodeToString(make([]byte, 2000)), "encoding": "base64"}}, "limit"},
		{[]any{map[string]any{"path": "x", "content": "a"}, map[string]any{"path": "/work/x", "content": "b"}}, "given twice"},
		{make([]any, maxInputFiles+1), "more than"},
	}
	for _, tt := range bad {
		_, err := parseFiles(tt.raw, 1024)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("parseFiles(%v): %v, want an error with %q", tt.raw, err, tt.want)
		}
	}
}

func TestParseArgs(t *testing.T) {
	s := New().(*Server)
	tests := []struct {
		name     string
		args     map[string]any
		needCode bool
		want     string // error substring, or "" for success
		check    func(*testing.T, sandbox.Spec, []string)
	}{
		{name: "code", needCode: true, args: map[string]any{"language": "python", "code": "print(1)", "stdin": "in"},
			check: func(t *testing.T, sp sandbox.Spec, _ []string) {
				if sp.Language != sandbox.Python || sp.Code != "print(1)" || string(sp.Stdin) != "in" || sp.Timeout != 30*time.Second {
					t.Errorf("spec %+v", sp)
				}
			}},
		{name: "timeout capped", needCode: true, args: map[string]any{"language": "bash", "code": "true", "timeout_seconds": 3000.0},
			check: func(t *testing.T, sp sandbox.Spec, notes []string) {
				if sp.Timeout != 5*time.Minute || len(notes) != 1 || !strings.Contains(notes[0], "maximum of 5m") {
					t.Errorf("timeout %v, notes %q", sp.Timeout, notes)
				}
			}},
		{name: "fractional timeout", needCode: true, args: map[string]any{"language": "bash", "code": "true", "timeout_seconds": 1.5},
			check: func(t *testing.T, sp sandbox.Spec, _ []string) {
				if sp.Timeout != 1500*time.Millisecond {
					t.Errorf("timeout %v", sp.Timeout)
				}
			}},
		{name: "command", args: map[string]any{"command": []any{"ls", "-l"}},
			check: func(t *testing.T, sp sandbox.Spec, _ []string) {
				if len(sp.Command) != 2 || sp.Command[1] != "-l" || sp.Language != "" {
					t.Errorf("spec %+v", sp)
				}
			}},
		{name: "command in run", needCode: true, args: map[string]any{"command": []any{"ls"}}, want: "code is required"},
		{name: "both", args: map[string]any{"command": []any{"ls"}, "code": "x", "language": "bash"}, want: "not both"},
		{name: "neither", args: map[string]any{}, want: "give language and code, or command"},
		{name: "bad language", needCode: true, args: map[string]any{"language": "ruby", "code": "x"}, want: "language must be one of"},
		{name: "no language", needCode: true, args: map[string]any{"code": "x"}, want: "language must be one of"},
		{name: "language with command", args: map[string]any{"command": []any{"ls"}, "language": "bash"}, want: "language goes with code"},
		{name: "empty argv0", args: map[string]any{"command": []any{""}}, want: "command[0] is empty"},
		{name: "non-string arg", args: map[string]any{"command": []any{"ls", 1.0}}, want: "command[1] must be a string"},
		{name: "timeout zero", needCode: true, args: map[string]any{"language": "bash", "code": "x", "timeout_seconds": 0.0}, want: "timeout_seconds"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec, notes, err := s.codeSpec(tt.args, tt.needCode)
			if tt.want != "" {
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("error %v, want %q", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, spec, notes)
		})
	}
}

func TestSplitBudget(t *testing.T) {
	tests := []struct{ a, b, limit, wantA, wantB int }{
		{10, 10, 100, 10, 10},
		{1000, 10, 100, 90, 10},
		{10, 1000, 100, 10, 90},
		{1000, 1000, 100, 50, 50},
		{0, 0, 0, 0, 0},
	}
	for _, tt := range tests {
		a, b := splitBudget(tt.a, tt.b, tt.limit)
		if a != tt.wantA || b != tt.wantB {
			t.Errorf("splitBudget(%d, %d, %d) = %d, %d; want %d, %d", tt.a, tt.b, tt.limit, a, b, tt.wantA, tt.wantB)
		}
	}
}

func TestCutMiddle(t *testing.T) {
	s := strings.Repeat("a", 500) + "MIDDLE" + strings.Repeat("z", 500)
	got, omitted := cutMiddle(s, 200)
	if len(got) > 200 || omitted == 0 || !strings.HasPrefix(got, "aaa") || !strings.HasSuffix(got, "zzz") ||
		!strings.Contains(got, "bytes cut here") || strings.Contains(got, "MIDDLE") {
		t.Errorf("cutMiddle: %d bytes, omitted %d: %q", len(got), omitted, got)
	}
	if got, omitted := cutMiddle("short", 200); got != "short" || omitted != 0 {
		t.Errorf("short text changed: %q %d", got, omitted)
	}
}

func FuzzCutMiddle(f *testing.F) {
	f.Add("hello world", 5)
	f.Add(strings.Repeat("é", 100), 70)
	f.Add("\xff\xfe binary", 3)
	f.Fuzz(func(t *testing.T, s string, limit int) {
		if limit < 0 || limit > 1<<20 {
			return
		}
		got, omitted := cutMiddle(s, limit)
		if !utf8.ValidString(got) {
			t.Fatalf("invalid UTF-8: %q", got)
		}
		valid := strings.ToValidUTF8(s, "\uFFFD")
		if omitted == 0 && got != valid {
			t.Fatalf("nothing omitted but the text changed: %q -> %q", s, got)
		}
		if omitted > 0 && (len(got) > max(limit, 64) || omitted > len(valid)) {
			t.Fatalf("limit %d: got %d bytes, omitted %d of %d", limit, len(got), omitted, len(valid))
		}
	})
}

func pngBytes(t testing.TB, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for x := range w {
		for y := range h {
			img.Set(x, y, color.RGBA{uint8(x * 7), uint8(y * 13), uint8(x ^ y), 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// sizes returns the content and structured sizes of a result as the middleware measures them.
func sizes(t *testing.T, res *mcp.CallToolResult) (int, int) {
	t.Helper()
	content := 0
	for _, c := range res.Content {
		switch v := c.(type) {
		case mcp.TextContent:
			content += len(v.Text)
		case mcp.ImageContent:
			content += len(v.Data)
		case mcp.EmbeddedResource:
			switch r := v.Resource.(type) {
			case mcp.TextResourceContents:
				content += len(r.Text)
			case mcp.BlobResourceContents:
				content += len(r.Blob)
			}
		default:
			t.Fatalf("unexpected content %T", c)
		}
	}
	js, err := json.Marshal(res.StructuredContent)
	if err != nil {
		t.Fatal(err)
	}
	return content, len(js)
}

func structured(t *testing.T, res *mcp.CallToolResult) execResult {
	t.Helper()
	var out execResult
	js, _ := json.Marshal(res.StructuredContent)
	if err := json.Unmarshal(js, &out); err != nil {
		t.Fatalf("structured content %s: %v", js, err)
	}
	return out
}

func TestFormatExec(t *testing.T) {
	const budget = 8192
	params := formatParams{budget: budget, timeout: 5 * time.Second, memory: 256 << 20, pids: 64}
	img := pngBytes(t, 8, 8)

	t.Run("small", func(t *testing.T) {
		res := formatExec(&sandbox.Result{Stdout: []byte("2\n"), Stderr: []byte("warn\n"), ExitCode: 3, Duration: 1500 * time.Millisecond},
			nil, params)
		out := structured(t, res)
		if out.Stdout != "2\n" || out.Stderr != "warn\n" || out.ExitCode != 3 || out.DurationMS != 1500 || out.Stopped != "" {
			t.Errorf("structured %+v", out)
		}
		text := textOf(res)
		for _, want := range []string{"exit code 3", "--- stdout (2 bytes):\n2\n", "--- stderr (5 bytes):\nwarn\n"} {
			if !strings.Contains(text, want) {
				t.Errorf("text lacks %q:\n%s", want, text)
			}
		}
		if res.IsError {
			t.Error("a non-zero exit is the code's failure, not the tool's")
		}
	})

	stops := []struct{ stopped, want string }{
		{sandbox.StopTimeout, "time limit"},
		{sandbox.StopOutOfMemory, "256 MiB"},
		{sandbox.StopPidsLimit, "64 processes"},
		{sandbox.StopOutputLimit, "output limit"},
		{sandbox.StopCancelled, "cancelled"},
	}
	for _, st := range stops {
		t.Run(st.stopped, func(t *testing.T) {
			res := formatExec(&sandbox.Result{ExitCode: 137, Stopped: st.stopped}, nil, params)
			out := structured(t, res)
			if out.Stopped != st.stopped || !strings.Contains(out.Reason, st.want) {
				t.Errorf("stopped %q reason %q, want %q", out.Stopped, out.Reason, st.want)
			}
			if !strings.HasPrefix(textOf(res), "STOPPED ("+st.stopped+")") {
				t.Errorf("text does not lead with the stop: %q", textOf(res))
			}
		})
	}
	t.Run("runtime detail wins", func(t *testing.T) {
		res := formatExec(&sandbox.Result{Stopped: sandbox.StopTimeout, Detail: "killed after 2s"}, nil, params)
		if out := structured(t, res); out.Reason != "killed after 2s" {
			t.Errorf("reason %q", out.Reason)
		}
	})

	t.Run("flood within budget", func(t *testing.T) {
		// Newlines and control bytes grow under JSON escaping; the structured copy must fit too.
		flood := bytes.Repeat([]byte("line\n\x01\"\\"), 50000)
		res := formatExec(&sandbox.Result{Stdout: flood, Stderr: flood[:30000], StdoutDropped: 99 << 20}, nil, params)
		content, sc := sizes(t, res)
		if content > budget || sc > budget {
			t.Fatalf("content %d, structured %d bytes: over the budget of %d", content, sc, budget)
		}
		out := structured(t, res)
		if out.StdoutBytes != int64(len(flood))+99<<20 || out.StdoutOmittedBytes < 99<<20 || out.StderrOmittedBytes == 0 {
			t.Errorf("counts: %+v", out)
		}
		if out.Stdout == "" || out.Stderr == "" {
			t.Errorf("both streams keep a share: stdout %d, stderr %d bytes", len(out.Stdout), len(out.Stderr))
		}
		if len(out.Notes) < 2 || !strings.Contains(strings.Join(out.Notes, " "), "discarded") {
			t.Errorf("notes %q", out.Notes)
		}
	})

	t.Run("files", func(t *testing.T) {
		files := []outFile{
			{path: "/work/plot.png", size: int64(len(img)), data: img},
			{path: "/work/out.csv", size: 7, data: []byte("a,b\n1,2")},
			{path: "/work/blob.bin", size: 4, data: []byte{0, 1, 2, 3}},
			{path: "/work/big.bin", size: 1 << 20, data: make([]byte, 1<<20)},
			{path: "/work/unseen.txt", size: 12},
		}
		res := formatExec(&sandbox.Result{Stdout: []byte("done\n")}, files, params)
		content, sc := sizes(t, res)
		if content > budget || sc > budget {
			t.Fatalf("content %d, structured %d bytes: over the budget of %d", content, sc, budget)
		}
		var gotImage bool
		for _, c := range res.Content {
			if im, ok := c.(mcp.ImageContent); ok {
				data, _ := base64.StdEncoding.DecodeString(im.Data)
				gotImage = im.MIMEType == "image/png" && bytes.Equal(data, img)
			}
		}
		if !gotImage {
			t.Error("the PNG did not come back as image content")
		}
		out := structured(t, res)
		want := map[string]string{"/work/plot.png": "image", "/work/out.csv": "text", "/work/blob.bin": "base64",
			"/work/big.bin": "none", "/work/unseen.txt": "none"}
		for _, f := range out.Files {
			if want[f.Path] != f.Returned {
				t.Errorf("%s returned %q, want %q", f.Path, f.Returned, want[f.Path])
			}
		}
		if !strings.Contains(strings.Join(out.Notes, " "), "names only (1 too large") {
			t.Errorf("no note about the big file: %q", out.Notes)
		}
	})
}

func TestFormatRead(t *testing.T) {
	const budget = 8192
	img := pngBytes(t, 4, 4)
	t.Run("image", func(t *testing.T) {
		res := formatRead("/work/p.png", img, int64(len(img)), 0, budget, "auto", budget, 10<<20)
		if len(res.Content) != 2 {
			t.Fatalf("content %+v", res.Content)
		}
		if im, ok := res.Content[1].(mcp.ImageContent); !ok || im.MIMEType != "image/png" {
			t.Errorf("content[1] = %#v", res.Content[1])
		}
	})
	t.Run("image as base64", func(t *testing.T) {
		res := formatRead("/work/p.png", img, int64(len(img)), 0, budget, "base64", budget, 10<<20)
		if _, ok := res.Content[1].(mcp.EmbeddedResource); !ok {
			t.Errorf("content[1] = %#v", res.Content[1])
		}
	})
	t.Run("text in parts", func(t *testing.T) {
		text := strings.Repeat("héllo wörld\n", 2000) // 26000 bytes, 2-byte runes
		var got strings.Builder
		offset := int64(0)
		for range 20 {
			data := []byte(text)[:min(int(offset)+budget, len(text))]
			res := formatRead("/work/t.txt", data, int64(len(text)), offset, budget, "auto", budget, 10<<20)
			if res.IsError {
				t.Fatal(textOf(res))
			}
			content, sc := sizes(t, res)
			if content > budget || sc > budget {
				t.Fatalf("content %d, structured %d: over budget", content, sc)
			}
			var out readFileResult
			js, _ := json.Marshal(res.StructuredContent)
			_ = json.Unmarshal(js, &out)
			if out.Encoding != "text" || !utf8.ValidString(out.Text) || strings.ContainsRune(out.Text, utf8.RuneError) {
				t.Fatalf("part at %d: encoding %s, text valid %v", offset, out.Encoding, utf8.ValidString(out.Text))
			}
			got.WriteString(out.Text)
			if out.NextOffset == nil {
				break
			}
			offset = *out.NextOffset
		}
		if got.String() != text {
			t.Errorf("reassembled %d bytes, want %d", got.Len(), len(text))
		}
	})
	t.Run("escaping", func(t *testing.T) {
		text := strings.Repeat("\x01\"", 5000)
		res := formatRead("/work/t.txt", []byte(text), int64(len(text)), 0, budget, "text", budget, 10<<20)
		if content, sc := sizes(t, res); content > budget || sc > budget {
			t.Fatalf("content %d, structured %d: over budget", content, sc)
		}
	})
	t.Run("binary", func(t *testing.T) {
		data := bytes.Repeat([]byte{0, 0xff}, 10000)
		res := formatRead("/work/b.bin", data, int64(len(data)), 0, budget, "auto", budget, 10<<20)
		if content, sc := sizes(t, res); content > budget || sc > budget {
			t.Fatalf("content %d, structured %d: over budget", content, sc)
		}
		er, ok := res.Content[1].(mcp.EmbeddedResource)
		if !ok {
			t.Fatalf("content[1] = %#v", res.Content[1])
		}
		blob, _ := base64.StdEncoding.DecodeString(er.Resource.(mcp.BlobResourceContents).Blob)
		if !bytes.Equal(blob, data[:len(blob)]) || len(blob) == 0 {
			t.Errorf("blob of %d bytes does not match the file", len(blob))
		}
	})
	t.Run("offset past end", func(t *testing.T) {
		res := formatRead("/work/t.txt", []byte("abc"), 3, 10, budget, "auto", budget, 10<<20)
		if !res.IsError || !strings.Contains(textOf(res), "past the end") {
			t.Errorf("%+v", res)
		}
	})
}

func TestFormatList(t *testing.T) {
	infos := make([]sandbox.FileInfo, 2000)
	for i := range infos {
		infos[i] = sandbox.FileInfo{Path: "/work/dir/file-" + strings.Repeat("x", 40), Size: int64(i), Mode: 0o644, ModTime: time.Unix(0, 0)}
	}
	infos[0].IsDir = true
	infos[0].Mode = 0o755
	res := formatList("/work", infos, listBudget)
	if content, sc := sizes(t, res); content > listBudget || sc > listBudget {
		t.Fatalf("content %d, structured %d: over budget", content, sc)
	}
	var out listFilesResult
	js, _ := json.Marshal(res.StructuredContent)
	_ = json.Unmarshal(js, &out)
	if !out.Truncated || out.Total != 2000 || len(out.Entries) == 0 || out.Entries[0].Mode != "drwxr-xr-x" {
		t.Errorf("truncated %v total %d entries %d first %+v", out.Truncated, out.Total, len(out.Entries), out.Entries[0])
	}
}

func withIdentity(id string) context.Context {
	return registry.WithIdentity(context.Background(), id)
}

func TestHandlers(t *testing.T) {
	eng := newFakeEngine()
	s := newTestServer(eng)
	a, b := withIdentity("agent-a"), withIdentity("agent-b")

	res := call(a, s, "sandbox_run", map[string]any{"language": "python", "code": "print(1)",
		"files": []any{map[string]any{"path": "in.txt", "content": "x"}}})
	if res.IsError || !strings.Contains(textOf(res), "ok") {
		t.Fatalf("run: %s", textOf(res))
	}
	if sp := eng.specs[0]; sp.Language != sandbox.Python || len(sp.Files) != 1 || sp.Files[0].Path != "/work/in.txt" {
		t.Errorf("run spec %+v", sp)
	}

	if eng.specs[0].CollectFiles != int64(defaultResultBudget) {
		t.Errorf("run collects %d bytes of files, want the result budget", eng.specs[0].CollectFiles)
	}
	// Files the run wrote come back from the runtime's collection: the image as image content,
	// one it did not collect as a name.
	img := pngBytes(t, 3, 3)
	eng.result = &sandbox.Result{
		NewFiles: []sandbox.FileInfo{{Path: "/work/p.png", Size: int64(len(img))}, {Path: "/work/huge.bin", Size: 50 << 20}},
		Files:    []sandbox.File{{Path: "/work/p.png", Data: img}},
	}
	res = call(a, s, "sandbox_run", map[string]any{"language": "python", "code": "draw()"})
	out := structured(t, res)
	if len(out.Files) != 2 || out.Files[0].Returned != returnedImage || out.Files[1].Returned != returnedNone {
		t.Errorf("run files %+v", out.Files)
	}
	if _, ok := res.Content[1].(mcp.ImageContent); !ok {
		t.Errorf("content[1] = %#v, want the image", res.Content[1])
	}

	res = call(a, s, "sandbox_session_create", map[string]any{})
	if res.IsError {
		t.Fatal(textOf(res))
	}
	id := res.StructuredContent.(sessionCreateResult).SessionID

	res = call(a, s, "sandbox_write_file", map[string]any{"session_id": id, "path": "p.png",
		"content": base64.StdEncoding.EncodeToString(pngBytes(t, 2, 2)), "encoding": "base64"})
	if res.IsError {
		t.Fatal(textOf(res))
	}
	// The exec "produced" the image: it comes back as image content.
	eng.result = &sandbox.Result{Stdout: []byte("plotted\n"), NewFiles: []sandbox.FileInfo{{Path: "/work/p.png", Size: int64(len(pngBytes(t, 2, 2)))}}}
	res = call(a, s, "sandbox_exec", map[string]any{"session_id": id, "command": []any{"python3", "plot.py"}})
	if res.IsError {
		t.Fatal(textOf(res))
	}
	var image bool
	for _, c := range res.Content {
		_, ok := c.(mcp.ImageContent)
		image = image || ok
	}
	if !image {
		t.Errorf("exec result has no image: %+v", res.Content)
	}

	res = call(a, s, "sandbox_list_files", map[string]any{"session_id": id})
	if res.IsError || !strings.Contains(textOf(res), "/work/p.png") {
		t.Errorf("list: %s", textOf(res))
	}

	// Identity B cannot use A's session, and gets the same answer as for an unknown handle.
	for _, tool := range []string{"sandbox_exec", "sandbox_write_file", "sandbox_read_file", "sandbox_list_files", "sandbox_session_close"} {
		args := map[string]any{"session_id": id, "path": "p.png", "content": "x", "command": []any{"ls"}}
		delete(args, map[bool]string{true: "command", false: "path"}[tool != "sandbox_exec"])
		resB := call(b, s, tool, args)
		args["session_id"] = "unknownunknown"
		resU := call(a, s, tool, args)
		if !resB.IsError || !strings.Contains(textOf(resB), "no such sandbox session") {
			t.Errorf("%s by another identity: %s", tool, textOf(resB))
		}
		if textOf(resB) != textOf(resU) {
			t.Errorf("%s: another's session answers %q, an unknown one %q", tool, textOf(resB), textOf(resU))
		}
	}

	res = call(a, s, "sandbox_session_close", map[string]any{"session_id": id})
	if res.IsError {
		t.Fatal(textOf(res))
	}
	res = call(a, s, "sandbox_exec", map[string]any{"session_id": id, "command": []any{"ls"}})
	if !res.IsError {
		t.Error("exec in a closed session worked")
	}

	res = call(a, s, "sandbox_run", map[string]any{"language": "cobol", "code": "x"})
	if !res.IsError || !strings.Contains(textOf(res), "invalid arguments") {
		t.Errorf("bad language: %s", textOf(res))
	}
	res = call(a, s, "sandbox_exec", map[string]any{"session_id": "../../etc", "command": []any{"ls"}})
	if !res.IsError || !strings.Contains(textOf(res), "not a sandbox session handle") {
		t.Errorf("bad handle: %s", textOf(res))
	}

	eng.runErr = errors.New("the sandbox engine is not reachable: connection refused")
	res = call(a, s, "sandbox_run", map[string]any{"language": "bash", "code": "true"})
	if !res.IsError || !strings.Contains(textOf(res), "not reachable") {
		t.Errorf("engine error: %s", textOf(res))
	}
}

func TestNotReady(t *testing.T) {
	eng := newFakeEngine()
	eng.ready, eng.reason, eng.fix = false, "no Docker Engine answers at unix:///var/run/docker.sock", "install docker.io and start dockerd"
	s := newTestServer(eng)
	if r := s.Readiness(context.Background()); r.Ready || r.Reason != eng.reason || r.Fix != eng.fix {
		t.Errorf("readiness %+v", r)
	}
	res := call(withIdentity("a"), s, "sandbox_run", map[string]any{"language": "bash", "code": "true"})
	if !res.IsError || !strings.Contains(textOf(res), "not ready") || !strings.Contains(textOf(res), "start dockerd") {
		t.Errorf("run when not ready: %s", textOf(res))
	}
	if r := New().(registry.ReadinessReporter).Readiness(context.Background()); r.Ready {
		t.Error("an unprovisioned server says it is ready")
	}
}

func TestSessionEnded(t *testing.T) {
	eng := newFakeEngine()
	s := newTestServer(eng)
	ctx := withIdentity("agent-a")
	var ids []string
	for range 3 {
		sess, _ := eng.CreateSession(ctx, "agent-a")
		ids = append(ids, sess.ID)
	}
	s.remember("mcp-1", ids[0], "agent-a")
	s.remember("mcp-1", ids[1], "agent-a")
	s.remember("mcp-2", ids[2], "agent-a")
	s.forget("", ids[1]) // closed by the agent, from a stateless request
	s.SessionEnded("mcp-1")
	s.SessionEnded("mcp-unknown")
	s.SessionEnded("")
	if err := s.Close(); err != nil { // waits for the background closing
		t.Fatal(err)
	}
	if len(eng.closed) != 1 || eng.closed[0] != ids[0] {
		t.Errorf("closed %v, want only %s", eng.closed, ids[0])
	}
	if _, err := eng.Get(ids[2], "agent-a"); err != nil {
		t.Errorf("the other MCP session's sandbox session was closed")
	}
	s.SessionEnded("mcp-2") // after Close: nothing to do, no panic
}

func TestClaimInstance(t *testing.T) {
	dir := t.TempDir()
	first, lock, err := claimInstance(dir)
	if err != nil || lock == nil {
		t.Fatalf("first claim: %q %v %v", first, lock, err)
	}
	if first != stableInstance(dir) || !strings.HasPrefix(first, "hub-") || stableInstance(t.TempDir()) == first {
		t.Errorf("instance %q", first)
	}
	// A second process (here: a second open file) while the first lives gets a name of its own.
	second, lock2, err := claimInstance(dir)
	if err != nil || lock2 != nil || second == first || !strings.HasPrefix(second, first+"-") {
		t.Errorf("second claim: %q %v %v", second, lock2, err)
	}
	// Once the first is gone, the stable name is free again: a restart reaps what it left.
	_ = lock.Close()
	third, lock3, err := claimInstance(dir)
	if err != nil || lock3 == nil || third != first {
		t.Errorf("claim after release: %q %v %v", third, lock3, err)
	}
	_ = lock3.Close()
}

// FuzzFormatRead: any bytes, offset and limit give a result within the budget whose parts, read
// on from next_offset, never skip or repeat a byte.
func FuzzFormatRead(f *testing.F) {
	f.Add([]byte("hello\nwörld"), int64(0), int64(3), "auto")
	f.Add([]byte{0xe2, 0x82, 0xac, 0xe2, 0x82}, int64(1), int64(2), "text")
	f.Add([]byte{0, 1, 2, 3}, int64(2), int64(100), "base64")
	f.Fuzz(func(t *testing.T, data []byte, offset, limit int64, encoding string) {
		const budget = 4096
		if offset < 0 || limit < 1 || (encoding != "auto" && encoding != "text" && encoding != "base64") {
			return
		}
		res := formatRead("/work/f", data, int64(len(data)), offset, limit, encoding, budget, 1<<20)
		if res.IsError {
			if offset <= int64(len(data)) {
				t.Fatalf("error for offset %d of %d: %s", offset, len(data), textOf(res))
			}
			return
		}
		if content, sc := sizes(t, res); content > budget || sc > budget {
			t.Fatalf("content %d, structured %d: over the budget", content, sc)
		}
		var out readFileResult
		js, _ := json.Marshal(res.StructuredContent)
		if err := json.Unmarshal(js, &out); err != nil {
			t.Fatal(err)
		}
		end := offset + int64(out.Bytes)
		if end > int64(len(data)) || (out.Bytes == 0 && end < int64(len(data)) && out.Encoding != returnedImage) {
			t.Fatalf("part [%d, %d) of %d bytes", offset, end, len(data))
		}
		if (out.NextOffset != nil) != (end < int64(len(data))) || (out.NextOffset != nil && *out.NextOffset != end) {
			t.Fatalf("next_offset %v after [%d, %d) of %d", out.NextOffset, offset, end, len(data))
		}
		if out.Encoding == returnedText && out.Text != strings.ToValidUTF8(string(data[offset:end]), "\uFFFD") {
			t.Fatalf("text %q is not bytes [%d, %d)", out.Text, offset, end)
		}
	})
}

// FuzzFormatExec: any output stays within the budget, as text and as structured content.
func FuzzFormatExec(f *testing.F) {
	f.Add([]byte("out"), []byte("err"), int64(0), 4096)
	f.Add(bytes.Repeat([]byte("\x01\"\n"), 3000), []byte("\xff\xfe"), int64(5), 5000)
	f.Fuzz(func(t *testing.T, stdout, stderr []byte, dropped int64, budget int) {
		if budget < minResultBudget || budget > 1<<20 || dropped < 0 {
			return
		}
		res := formatExec(&sandbox.Result{Stdout: stdout, Stderr: stderr, StdoutDropped: dropped},
			[]outFile{{path: "/work/a.txt", size: int64(len(stdout)), data: stdout}}, formatParams{budget: budget})
		if content, sc := sizes(t, res); content > budget || sc > budget {
			t.Fatalf("content %d, structured %d: over the budget of %d", content, sc, budget)
		}
	})
}

func TestParseSessionURI(t *testing.T) {
	tests := []struct{ uri, id, path, err string }{
		{uri: "sandbox://session/abcdefgh12345678/work/out.csv", id: "abcdefgh12345678", path: "/work/out.csv"},
		{uri: "sandbox://session/abcdefgh12345678/tmp/x", id: "abcdefgh12345678", path: "/tmp/x"},
		{uri: "sandbox://session/abcdefgh12345678/etc/passwd", err: "outside"},
		{uri: "sandbox://session/abcdefgh12345678/work/../etc/passwd", err: "outside"},
		{uri: "sandbox://session/abcdefgh12345678", err: "names no file"},
		{uri: "sandbox://session/x/work/a", err: "not a sandbox session handle"},
		{uri: "kb://docs/a", err: "not a sandbox session file URI"},
	}
	for _, tt := range tests {
		id, p, err := parseSessionURI(tt.uri)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("parseSessionURI(%q) = %q %q %v, want error %q", tt.uri, id, p, err, tt.err)
			}
			continue
		}
		if err != nil || id != tt.id || p != tt.path {
			t.Errorf("parseSessionURI(%q) = %q %q %v", tt.uri, id, p, err)
		}
	}
}

func TestSessionFileResource(t *testing.T) {
	eng := newFakeEngine()
	s := newTestServer(eng)
	a := withIdentity("agent-a")
	sess, _ := eng.CreateSession(a, "agent-a")
	_ = eng.WriteFile(a, sess, sandbox.File{Path: "/work/out.csv", Data: []byte("a,b\n")})
	_ = eng.WriteFile(a, sess, sandbox.File{Path: "/work/data.bin", Data: []byte{0, 1, 2}})
	read := func(ctx context.Context, uri string) ([]mcp.ResourceContents, error) {
		req := mcp.ReadResourceRequest{}
		req.Params.URI = uri
		return s.ResourceTemplates()[0].Handler(ctx, req)
	}
	got, err := read(a, sessionFileURI(sess.ID, "/work/out.csv"))
	if err != nil || len(got) != 1 || got[0].(mcp.TextResourceContents).Text != "a,b\n" {
		t.Fatalf("text file: %+v %v", got, err)
	}
	got, err = read(a, sessionFileURI(sess.ID, "/work/data.bin"))
	if err != nil || got[0].(mcp.BlobResourceContents).Blob != base64.StdEncoding.EncodeToString([]byte{0, 1, 2}) {
		t.Fatalf("binary file: %+v %v", got, err)
	}
	for _, tc := range []struct{ identity, uri string }{
		{"agent-b", sessionFileURI(sess.ID, "/work/out.csv")},
		{"agent-a", sessionFileURI(sess.ID, "/work/missing")},
		{"agent-a", "sandbox://session/" + sess.ID + "/etc/passwd"},
	} {
		if _, err := read(withIdentity(tc.identity), tc.uri); !errors.Is(err, registry.ErrResourceNotFound) {
			t.Errorf("%s as %s: %v, want not found", tc.uri, tc.identity, err)
		}
	}

	// An exec that wrote a CSV links it as a resource.
	eng.result = &sandbox.Result{NewFiles: []sandbox.FileInfo{{Path: "/work/out.csv", Size: 4}}}
	res := call(a, s, "sandbox_exec", map[string]any{"session_id": sess.ID, "command": []any{"true"}})
	var link *mcp.ResourceLink
	for _, c := range res.Content {
		if l, ok := c.(mcp.ResourceLink); ok {
			link = &l
		}
	}
	if link == nil || link.URI != sessionFileURI(sess.ID, "/work/out.csv") {
		t.Errorf("exec result links %+v; content %+v", link, res.Content)
	}
}

func TestEngineError(t *testing.T) {
	s := New().(*Server)
	tests := []struct {
		err  error
		want string
	}{
		{sandbox.ErrNoSession, "sandbox_session_create"},
		{fmt.Errorf("opening: %w", sandbox.ErrTooManySessions), "maximum of 16 sandbox sessions"},
		{fmt.Errorf("%w: the Docker Engine is not reachable at unix:///x; start it", sandbox.ErrNotReady), "start it (/readyz"},
		{context.Canceled, "cancelled"},
		{context.DeadlineExceeded, "ran out of time"},
		{errors.New("the file /work/x has 20 bytes, more than the limit of 10"), "more than the limit"},
		{badArg("path is empty"), "invalid arguments: path is empty"},
	}
	for _, tt := range tests {
		res := s.engineError(tt.err)
		if !res.IsError || !strings.Contains(textOf(res), tt.want) {
			t.Errorf("engineError(%v) = %q, want it to contain %q", tt.err, textOf(res), tt.want)
		}
	}
}
