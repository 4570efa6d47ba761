package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
)

// resultBudget is servers.sandbox.result_budget_bytes at its default: no result may be larger.
const resultBudget = 128 << 10

// resultSize is the bytes of a result's content and of its structured content.
func resultSize(t *testing.T, res *sdk.CallToolResult) (content, structured int) {
	t.Helper()
	for _, c := range res.Content {
		switch v := c.(type) {
		case *sdk.TextContent:
			content += len(v.Text)
		case *sdk.ImageContent:
			content += (len(v.Data) + 2) / 3 * 4
		case *sdk.EmbeddedResource:
			content += len(v.Resource.Text) + (len(v.Resource.Blob)+2)/3*4
		}
	}
	js, _ := json.Marshal(res.StructuredContent)
	return content, len(js)
}

// checkHealthy runs print(1+1) and checks /readyz: the pool recovered from whatever ran before.
func checkHealthy(ctx context.Context, t *testing.T, p *hubProcess, cs *sdk.ClientSession) {
	t.Helper()
	r, _ := mustRun(ctx, t, cs, "sandbox_run", map[string]any{"language": "python", "code": "print(1+1)"})
	if r.Stdout != "2\n" || r.Stopped != "" {
		t.Errorf("after the abuse, print(1+1) gives %+v", r)
	}
	if s := sandboxReadiness(t, p.base); !s.Ready {
		t.Errorf("after the abuse, the sandbox is not ready: %s", s.Reason)
	}
}

// TestIntegrationSandboxAbuse runs hostile code through MCP, each case contained, reported in
// plain words, and followed by a healthy run.
func TestIntegrationSandboxAbuse(t *testing.T) {
	p := startSandboxHub(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	pc := newProgressCounter()
	cs := connectAs(ctx, t, p.base+"/mcp/sandbox", "", "", pc)
	// The hub's own listener on the host's 127.0.0.1: code in a sandbox must not reach it.
	hubPort := p.base[strings.LastIndexByte(p.base, ':')+1:]

	cases := []struct {
		name    string
		args    map[string]any
		stopped []string // acceptable values of stopped
		check   func(*testing.T, sbResult, *sdk.CallToolResult)
	}{
		{
			name:    "infinite loop",
			args:    map[string]any{"language": "python", "code": "while True:\n    pass", "timeout_seconds": 2},
			stopped: []string{"timeout"},
			check: func(t *testing.T, r sbResult, _ *sdk.CallToolResult) {
				if r.DurationMS < 1500 || r.DurationMS > 15000 || !strings.Contains(r.Reason, "time") {
					t.Errorf("ran %d ms, reason %q", r.DurationMS, r.Reason)
				}
			},
		},
		{
			name: "memory bomb",
			args: map[string]any{"language": "python",
				"code": "blocks = []\nwhile True:\n    blocks.append(b'x' * (32 << 20))\n    print(len(blocks) * 32, 'MiB', flush=True)"},
			stopped: []string{"out_of_memory"},
			check: func(t *testing.T, r sbResult, _ *sdk.CallToolResult) {
				if !strings.Contains(r.Reason, "memory") {
					t.Errorf("reason %q", r.Reason)
				}
			},
		},
		{
			name:    "fork bomb",
			args:    map[string]any{"language": "bash", "code": "bomb() { bomb | bomb & }; bomb; sleep 3; echo survived", "timeout_seconds": 10},
			stopped: []string{"pids_limit", "timeout"},
		},
		{
			name: "100 MB stdout flood",
			args: map[string]any{"language": "python",
				"code": "import sys\nchunk = 'x' * 65535 + '\\n'\nfor _ in range(1600):\n    sys.stdout.write(chunk)\nprint('end')"},
			stopped: []string{"output_limit", ""},
			check: func(t *testing.T, r sbResult, res *sdk.CallToolResult) {
				if r.StdoutOmittedBytes == 0 || len(r.Stdout) > resultBudget {
					t.Errorf("stdout %d bytes shown, %d omitted of %d", len(r.Stdout), r.StdoutOmittedBytes, r.StdoutBytes)
				}
				if c, s := resultSize(t, res); c > resultBudget || s > resultBudget {
					t.Errorf("result of %d/%d bytes, over the budget of %d", c, s, resultBudget)
				}
				if !strings.Contains(resultText(res), "left out") {
					t.Errorf("the text does not say what was cut")
				}
			},
		},
		{
			name:    "filling /tmp",
			args:    map[string]any{"language": "bash", "code": "dd if=/dev/zero of=/tmp/fill bs=1M count=200; echo rc=$?"},
			stopped: []string{"", "out_of_memory"},
			check: func(t *testing.T, r sbResult, _ *sdk.CallToolResult) {
				if r.Stopped == "" && !strings.Contains(r.Stderr, "No space left") {
					t.Errorf("/tmp took 200 MB: %+v", r)
				}
			},
		},
		{
			name:    "writing the root fs",
			args:    map[string]any{"language": "bash", "code": "touch /usr/evil /etc/evil 2>&1; echo done"},
			stopped: []string{""},
			check: func(t *testing.T, r sbResult, _ *sdk.CallToolResult) {
				if !strings.Contains(r.Stdout, "Read-only file system") {
					t.Errorf("root fs writable? %q", r.Stdout)
				}
			},
		},
		{
			name: "no network, no docker socket, no host files",
			args: map[string]any{"language": "python", "code": strings.ReplaceAll(`import os, socket
print(sorted(os.listdir('/sys/class/net')))
print(os.path.exists('/var/run/docker.sock'), os.path.exists('/run/docker.sock'))
s = socket.socket()
s.settimeout(2)
try:
    s.connect(('127.0.0.1', PORT))
    print('connected')
except OSError as e:
    print('refused', type(e).__name__)
print(os.getuid())`, "PORT", hubPort)},
			stopped: []string{""},
			check: func(t *testing.T, r sbResult, _ *sdk.CallToolResult) {
				lines := strings.Split(strings.TrimSpace(r.Stdout), "\n")
				if len(lines) != 4 || lines[0] != "['lo']" || lines[1] != "False False" ||
					!strings.HasPrefix(lines[2], "refused") || lines[3] == "0" {
					t.Errorf("isolation: %q (stderr %q)", r.Stdout, r.Stderr)
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			start := time.Now()
			r, res := mustRun(ctx, t, cs, "sandbox_run", tc.args)
			t.Logf("%s: stopped %q exit %d in %s (call %s): %s", tc.name, r.Stopped, r.ExitCode,
				time.Duration(r.DurationMS)*time.Millisecond, time.Since(start).Round(time.Millisecond), r.Reason)
			ok := false
			for _, s := range tc.stopped {
				ok = ok || r.Stopped == s
			}
			if !ok {
				t.Errorf("stopped %q, want one of %q (stdout %.200q, stderr %.200q)", r.Stopped, tc.stopped, r.Stdout, r.Stderr)
			}
			if r.Stopped != "" && r.Reason == "" {
				t.Errorf("stopped %q without a reason", r.Stopped)
			}
			if tc.check != nil {
				tc.check(t, r, res)
			}
			checkHealthy(ctx, t, p, cs)
		})
	}

	t.Run("20_in_parallel", func(t *testing.T) {
		var wg sync.WaitGroup
		errs := make(chan string, 20)
		for i := range 20 {
			wg.Go(func() {
				var r sbResult
				res := callSandbox(ctx, t, cs, "sandbox_run", map[string]any{"language": "python",
					"code": fmt.Sprintf("print(%d * %d)", i, i)}, &r)
				if res.IsError || r.Stdout != fmt.Sprintf("%d\n", i*i) {
					errs <- fmt.Sprintf("run %d: %s", i, resultText(res))
				}
			})
		}
		wg.Wait()
		close(errs)
		for e := range errs {
			t.Error(e)
		}
		checkHealthy(ctx, t, p, cs)
	})

	t.Run("cancellation_mid_run", func(t *testing.T) {
		// The code writes a heartbeat into a session's /work; after the cancel the file stops
		// growing, which proves the code itself stopped, not only the call.
		var created struct {
			SessionID string `json:"session_id"`
		}
		callSandbox(ctx, t, cs, "sandbox_session_create", map[string]any{}, &created)
		id := created.SessionID
		callCtx, cancelCall := context.WithCancel(ctx)
		params := &sdk.CallToolParams{Name: "sandbox_exec", Arguments: map[string]any{"session_id": id, "language": "bash",
			"code": "while true; do echo beat >> beats; sleep 0.1; done", "timeout_seconds": 60}}
		token := fmt.Sprintf("sb-cancel-%d", time.Now().UnixNano())
		params.SetProgressToken(token)
		errc := make(chan error, 1)
		go func() {
			_, err := cs.CallTool(callCtx, params)
			errc <- err
		}()
		eventually(t, "the long exec to report progress", func() bool { return pc.forToken(token) > 0 })
		cancelCall()
		select {
		case err := <-errc:
			if err == nil {
				t.Error("the cancelled call returned no error")
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the cancelled call did not return")
		}
		size := func() string {
			r, _ := mustRun(ctx, t, cs, "sandbox_exec", map[string]any{"session_id": id, "command": []any{"wc", "-l", "beats"}})
			return r.Stdout
		}
		time.Sleep(time.Second) // the kill sweep runs right after the cancel
		before := size()
		time.Sleep(1500 * time.Millisecond)
		if after := size(); after != before {
			t.Errorf("the code kept running after the cancel: %q then %q lines", before, after)
		}
		callSandbox(ctx, t, cs, "sandbox_session_close", map[string]any{"session_id": id}, nil)
		checkHealthy(ctx, t, p, cs)
	})

	t.Run("session_survives_fork_bomb", func(t *testing.T) {
		var created struct {
			SessionID string `json:"session_id"`
		}
		callSandbox(ctx, t, cs, "sandbox_session_create", map[string]any{}, &created)
		id := created.SessionID
		callSandbox(ctx, t, cs, "sandbox_write_file", map[string]any{"session_id": id, "path": "keep.txt", "content": "kept"}, nil)
		r, _ := mustRun(ctx, t, cs, "sandbox_exec", map[string]any{"session_id": id, "language": "bash",
			"code": "bomb() { bomb | bomb & }; bomb; sleep 2", "timeout_seconds": 5})
		t.Logf("fork bomb in a session: stopped %q: %s", r.Stopped, r.Reason)
		// Once the bomb is gone the session serves again, with its files.
		eventually(t, "the session to serve after the fork bomb", func() bool {
			var r sbResult
			res := callSandbox(ctx, t, cs, "sandbox_exec", map[string]any{"session_id": id, "command": []any{"cat", "keep.txt"}}, &r)
			return !res.IsError && r.Stdout == "kept"
		})
		callSandbox(ctx, t, cs, "sandbox_session_close", map[string]any{"session_id": id}, nil)
	})
	checkHealthy(ctx, t, p, cs)
}
