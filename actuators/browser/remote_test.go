package browser

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mcphub/mcphub/internal/testenv"
)

// TestIntegrationBrowserRemote attaches to a Chromium started apart (the path to a shared
// browser fleet) through its DevTools HTTP address, and browses with it.
func TestIntegrationBrowserRemote(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: runs Chromium")
	}
	bin := testenv.RequireChromium(t)
	var lc net.ListenConfig
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	// Its own profile directory, removed after the browser's whole process group is gone (a
	// t.TempDir would race the renderers' last writes).
	profile, err := os.MkdirTemp("", "mcphub-remote-chrome-")
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"--headless", "--disable-gpu", "--no-first-run", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--user-data-dir=" + profile,
		"--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
		fmt.Sprintf("--remote-debugging-port=%d", port), "--remote-debugging-address=127.0.0.1", "about:blank"}
	if os.Geteuid() == 0 {
		args = append(args, "--no-sandbox")
	}
	cmd := exec.CommandContext(context.Background(), bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// The group is the one this test made for the browser it started.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
		for i := 0; i < 50; i++ {
			if err := os.RemoveAll(profile); err == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Errorf("removing the remote browser's profile %s", profile)
	})
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	deadline := time.Now().Add(time.Minute)
	for {
		c, err := (&net.Dialer{Timeout: time.Second}).DialContext(context.Background(), "tcp", addr)
		if err == nil {
			_ = c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the remote Chromium does not listen on %s", addr)
		}
		time.Sleep(100 * time.Millisecond)
	}

	ts := newTestServer(t, func(c *Config) { c.RemoteURL = "http://" + addr })
	srv := site(t)
	out := ts.mustCall(t, "browser_navigate", map[string]any{"url": srv.URL + "/form"})
	if !strings.Contains(out, "Title: Form") {
		t.Fatalf("remote navigate:\n%s", out)
	}
	h := handleOf(t, out)
	snap := ts.mustCall(t, "browser_snapshot", map[string]any{"browser_session": h})
	refOf(t, snap, `textbox "Name"`)
	// Refusals of addresses off loopback are tested in a network namespace (egress_test.go);
	// here a local scheme, which reaches no network even if the code were wrong.
	if out, isErr := ts.call(t, "browser_navigate", map[string]any{"browser_session": h, "url": "file:///etc/passwd"}); !isErr || !strings.Contains(out, "egress policy refused") {
		t.Errorf("remote browser: a file: URL was not refused: %s", out)
	}
	ts.mustCall(t, "browser_close", map[string]any{"browser_session": h})
}
