package main

// TestBenchRSS measures the resident memory of the real binary: idle, right after 100,000 tool
// calls, and after 15 s of idle again. It reports only; it asserts nothing but that every call
// succeeded.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mcphub/mcphub/internal/mcpload"
)

const (
	rssCalls   = 100_000
	rssClients = 8
	rssTool    = "testkit_echo"
	rssProto   = mcpload.Modern
	rssIdle    = 2 * time.Second
	rssSettle  = 15 * time.Second
	// The target: under 40 MB idle, and back near idle once the load is over.
	rssTargetIdleMiB = 40
)

func TestBenchRSS(t *testing.T) {
	if os.Getenv("MCPHUB_BENCH") != "1" {
		t.Skip("set MCPHUB_BENCH=1 to measure the binary's memory")
	}
	ctx := t.Context()
	tmp := t.TempDir()

	// Build the test binary (with the testkit server) from the module root.
	gomod, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	bin := filepath.Join(tmp, "mcphub")
	build := exec.CommandContext(ctx, "go", "build", "-tags", "mcphubtest", "-o", bin, "./cmd/mcphub")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	addr := rssFreeAddr(t)
	dataDir := filepath.Join(tmp, "data")
	cfgPath := filepath.Join(tmp, "mcphub.yaml")
	cfg := fmt.Sprintf("listen: %s\ndata_dir: %s\nservers:\n  testkit:\n    enabled: true\n", addr, strconv.Quote(dataDir))
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	stderrPath := filepath.Join(tmp, "stderr.log")
	stderr, err := os.Create(stderrPath)
	if err != nil {
		t.Fatal(err)
	}
	defer stderr.Close()

	// Stopped with SIGTERM below, by its PID; should the test end early, the context does the same.
	cmd := exec.CommandContext(ctx, bin, "serve", "--config", cfgPath)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 30 * time.Second
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	// exited closes when the process is gone; waitErr is then its exit status.
	var waitErr error
	exited := make(chan struct{})
	go func() { waitErr = cmd.Wait(); close(exited) }()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = cmd.Process.Kill() // only our own child, by its PID
			<-exited
			t.Logf("mcphub (pid %d) stopped: %v", pid, waitErr)
		}
	})

	base := "http://" + addr
	hc := mcpload.NewHTTPClient(64)
	if err := rssWaitHealthy(ctx, hc, base+"/healthz", exited); err != nil {
		t.Fatalf("%v\nstderr:\n%s", err, rssTail(stderrPath))
	}

	time.Sleep(rssIdle)
	idle := rssSample(ctx, t, hc, base, pid)

	// 100,000 calls, 8 clients at once, modern protocol.
	start := time.Now()
	var next atomic.Int64
	errs := make([]error, rssClients)
	var wg sync.WaitGroup
	for i := range rssClients {
		c, err := mcpload.Dial(ctx, hc, base+"/mcp/testkit", rssTool, rssProto, nil)
		if err != nil {
			t.Fatal(err)
		}
		prefix := "rss-" + strconv.Itoa(i) + "-"
		wg.Go(func() {
			for n := next.Add(1); n <= rssCalls; n = next.Add(1) {
				text := prefix + strconv.FormatInt(n, 10)
				if err := c.Call(ctx, map[string]any{"text": text}, text); err != nil {
					errs[i] = err
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("tool calls failed: %v\nstderr:\n%s", err, rssTail(stderrPath))
	}
	loaded := rssSample(ctx, t, hc, base, pid)

	hc.CloseIdleConnections()
	time.Sleep(rssSettle)
	settled := rssSample(ctx, t, hc, base, pid)
	hc.CloseIdleConnections()

	// SIGTERM by PID, then wait for a graceful exit.
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM %d: %v", pid, err)
	}
	var exitErr error
	select {
	case <-exited:
		exitErr, stopped = waitErr, true
	case <-time.After(40 * time.Second):
		t.Errorf("mcphub (pid %d) did not exit within 40s of SIGTERM; killing it", pid)
		_ = cmd.Process.Kill()
		<-exited
		exitErr, stopped = waitErr, true
	}

	var out strings.Builder
	fmt.Fprintf(&out, "\nmcphub serve (go build -tags mcphubtest), servers: hub + testkit, log level info to a file\n")
	fmt.Fprintf(&out, "load: %d %s calls, protocol %s, %d concurrent clients, %.1fs (%.0f calls/s)\n",
		rssCalls, rssTool, rssProto, rssClients, elapsed.Seconds(), rssCalls/elapsed.Seconds())
	fmt.Fprintf(&out, "target: VmRSS under %d MB idle, back near idle after the load (report only, not asserted)\n\n", rssTargetIdleMiB)
	fmt.Fprintf(&out, "  %-26s %9s %9s %12s %12s %10s\n", "moment", "VmRSS", "VmHWM", "heap inuse", "go sys", "goroutines")
	for _, s := range []struct {
		name string
		v    rssFigures
	}{
		{fmt.Sprintf("idle (after %s)", rssIdle), idle},
		{"after load", loaded},
		{fmt.Sprintf("after settle (%s idle)", rssSettle), settled},
	} {
		fmt.Fprintf(&out, "  %-26s %6.1f MB %6.1f MB %9.1f MB %9.1f MB %10.0f\n", s.name,
			rssMiB(s.v.rssKiB*1024), rssMiB(s.v.hwmKiB*1024), rssMiB(s.v.heapInuse), rssMiB(s.v.goSys), s.v.goroutines)
	}
	verdict := "within target"
	if rssMiB(idle.rssKiB*1024) >= rssTargetIdleMiB {
		verdict = "OVER target"
	}
	fmt.Fprintf(&out, "\n  idle %s; settle − idle = %+.1f MB; exit after SIGTERM: %v\n",
		verdict, rssMiB((settled.rssKiB-idle.rssKiB)*1024), rssExit(exitErr))
	fmt.Fprintf(&out, "  (MB = MiB; heap inuse, go sys and goroutines from /metrics)\n")
	fmt.Print(out.String())
}

func rssMiB(bytes float64) float64 { return bytes / (1 << 20) }

func rssExit(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

func rssFreeAddr(t *testing.T) string {
	t.Helper()
	var lc net.ListenConfig
	ln, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

func rssWaitHealthy(ctx context.Context, hc *http.Client, url string, exited <-chan struct{}) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return errors.New("mcphub exited before serving (see its stderr)")
		default:
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if resp, err := hc.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return errors.New("mcphub did not answer /healthz within 30s")
}

type rssFigures struct {
	rssKiB, hwmKiB               float64
	heapInuse, goSys, goroutines float64
}

// rssSample reads VmRSS and VmHWM from /proc and a few Go runtime figures from /metrics (read
// after /proc, so the scrape does not count in the RSS).
func rssSample(ctx context.Context, t *testing.T, hc *http.Client, base string, pid int) rssFigures {
	t.Helper()
	var f rssFigures
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("reading /proc/%d/status: %v", pid, err)
	}
	for line := range strings.SplitSeq(string(status), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		n, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
		switch k {
		case "VmRSS":
			f.rssKiB = n
		case "VmHWM":
			f.hwmKiB = n
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Logf("reading /metrics: %v", err)
		return f
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		n, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if err != nil {
			continue
		}
		switch name {
		case "go_memstats_heap_inuse_bytes":
			f.heapInuse = n
		case "go_memstats_sys_bytes":
			f.goSys = n
		case "go_goroutines":
			f.goroutines = n
		}
	}
	return f
}

func rssTail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}
