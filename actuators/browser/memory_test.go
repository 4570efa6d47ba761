package browser

import (
	"strings"
	"testing"
	"time"
)

// TestIntegrationBrowserMemoryRecycle: past max_memory_mb with no call running, the browser
// restarts, and the session's next call says why its state is gone.
func TestIntegrationBrowserMemoryRecycle(t *testing.T) {
	ts := newTestServer(t, nil)
	srv := site(t)
	h := handleOf(t, ts.mustCall(t, "browser_navigate", map[string]any{"url": srv.URL + "/"}))
	if ts.engine.memory() <= 0 {
		t.Fatal("the browser's memory reads as zero")
	}
	pid := ts.engine.pid()
	// Stop the reaper, which reads the limit, then set one below any browser (Validate would
	// refuse it; the check does not care) and run the check as the reaper would.
	ts.stopReaper()
	<-ts.reaperDone
	// The spare context warming in the background reads the config too: let it finish before
	// the test writes the limit (the hub never writes its config; only this test does).
	for deadline := time.Now().Add(startTimeout); ; time.Sleep(10 * time.Millisecond) {
		ts.sessions.mu.Lock()
		warming := ts.sessions.warming
		ts.sessions.mu.Unlock()
		if !warming {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the spare context is still warming")
		}
	}
	ts.cfg.MaxMemoryMB = 1
	ts.checkMemory()
	out := ts.mustCall(t, "browser_snapshot", map[string]any{"browser_session": h})
	if !strings.Contains(out, "max_memory_mb") || !strings.Contains(out, "were lost") {
		t.Errorf("after the recycle:\n%s", out)
	}
	if ts.engine.pid() == pid {
		t.Error("the browser was not restarted")
	}
}
