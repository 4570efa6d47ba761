package sandbox

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/client"

	"github.com/mcphub/mcphub/internal/testenv"
)

// privateEngine is a dockerd of the test's own (its own data root, socket and cgroup parent),
// so that the test can stop and restart it without disturbing the shared engine.
type privateEngine struct {
	dir, host string
	cmd       *exec.Cmd
	exited    chan struct{}
	args      []string
}

func startPrivateEngine(t *testing.T) *privateEngine {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: starts a dockerd")
	}
	testenv.RequireDocker(t)
	if os.Geteuid() != 0 {
		if testenv.InCI() {
			t.Fatal("the engine restart test starts a dockerd of its own and needs root")
		}
		t.Skip("the engine restart test starts a dockerd of its own and needs root")
	}
	if _, err := exec.LookPath("dockerd"); err != nil {
		t.Fatalf("dockerd: %v (scripts/setup.sh installs docker.io)", err)
	}
	// Short: the socket path must fit in 108 bytes.
	dir, err := os.MkdirTemp("", "mcphub-dkr-")
	if err != nil {
		t.Fatal(err)
	}
	e := &privateEngine{dir: dir, host: "unix://" + filepath.Join(dir, "d.sock")}
	e.args = []string{
		"--data-root", filepath.Join(dir, "data"), "--exec-root", filepath.Join(dir, "x"),
		"-H", e.host, "--pidfile", filepath.Join(dir, "d.pid"),
		"--bridge=none", "--iptables=false", "--ip6tables=false",
		"--cgroup-parent", "mcphub-test-" + filepath.Base(dir),
	}
	t.Cleanup(func() {
		e.stop(t)
		// The data root holds overlay mounts until dockerd has unmounted them on exit.
		if err := os.RemoveAll(dir); err != nil {
			t.Logf("removing %s: %v", dir, err)
		}
	})
	e.start(t)
	return e
}

func (e *privateEngine) start(t *testing.T) {
	t.Helper()
	log, err := os.OpenFile(filepath.Join(e.dir, "dockerd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	cmd := exec.Command("dockerd", e.args...) //nolint:noctx // Stopped by PID in stop.
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	e.cmd, e.exited = cmd, make(chan struct{})
	go func() { _ = cmd.Wait(); close(e.exited) }()
	cli, err := client.NewClientWithOpts(client.WithHost(e.host), client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	deadline := time.Now().Add(time.Minute)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := cli.Ping(ctx)
		cancel()
		if err == nil {
			return
		}
		select {
		case <-e.exited:
			out, _ := os.ReadFile(filepath.Join(e.dir, "dockerd.log"))
			t.Fatalf("dockerd exited: %s", tail(string(out)))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the private dockerd did not answer: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// stop ends the dockerd this test started, by its PID: SIGTERM (it stops its containers), then
// SIGKILL for the whole process group if it hangs.
func (e *privateEngine) stop(t *testing.T) {
	t.Helper()
	if e.cmd == nil {
		return
	}
	_ = e.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-e.exited:
	case <-time.After(60 * time.Second):
		t.Logf("dockerd %d did not stop in 60 s; killing its process group", e.cmd.Process.Pid)
		_ = syscall.Kill(-e.cmd.Process.Pid, syscall.SIGKILL)
		<-e.exited
	}
	e.cmd = nil
}

func tail(s string) string {
	if len(s) > 2000 {
		return s[len(s)-2000:]
	}
	return s
}

// loadImage copies the sandbox image from the shared engine into the private one.
func (e *privateEngine) loadImage(t *testing.T, ref string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	from, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	defer from.Close()
	to, err := client.NewClientWithOpts(client.WithHost(e.host), client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	defer to.Close()
	rc, err := from.ImageSave(ctx, []string{ref})
	if err != nil {
		t.Skipf("the image %s is not on the shared engine (make sandbox-image): %v", ref, err)
	}
	defer rc.Close()
	resp, err := to.ImageLoad(ctx, rc, client.ImageLoadWithQuiet(true))
	if err != nil {
		t.Fatalf("loading %s into the private engine: %v", ref, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if _, err := to.ImageInspect(ctx, ref); err != nil {
		t.Fatalf("the image did not arrive: %v", err)
	}
}

// TestIntegrationEngineRestart: dockerd going away mid-run gives a clean error, Ready says why,
// and once it is back runs and sessions work again and Close leaves nothing.
func TestIntegrationEngineRestart(t *testing.T) {
	eng := startPrivateEngine(t)
	eng.loadImage(t, DefaultImage)
	r, err := New(Config{DockerHost: eng.host, PoolSize: 2}, "restart-test", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := r.Close(cctx); err != nil {
			t.Errorf("Close: %v", err)
		}
		assertNothingLeft(t, eng.host, "restart-test")
	}()
	waitPoolFull(t, r)
	sess, err := r.CreateSession(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}

	// A run in flight when the engine stops.
	type outcome struct {
		res *Result
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := r.Run(ctx, Spec{Language: Python, Code: "import time; print('start', flush=True); time.sleep(60)", Timeout: 2 * time.Minute})
		done <- outcome{res, err}
	}()
	time.Sleep(3 * time.Second)
	stopped := time.Now()
	eng.stop(t)
	select {
	case o := <-done:
		t.Logf("the run in flight: %v (result %+v), %s after the engine stopped", o.err, o.res, time.Since(stopped).Round(time.Millisecond))
		if o.err == nil || !strings.Contains(o.err.Error(), "stopped from outside") && !errors.Is(o.err, ErrNotReady) {
			t.Errorf("the run in flight: %v %+v, want an error saying the container or engine went away", o.err, o.res)
		}
	case <-time.After(90 * time.Second):
		t.Fatal("the run in flight did not return after the engine stopped")
	}

	// While it is down: plain errors, not ready with the reason and the fix.
	_, err = r.Run(ctx, Spec{Language: Python, Code: "print(1)"})
	if !errors.Is(err, ErrNotReady) || !strings.Contains(err.Error(), "not reachable") {
		t.Errorf("Run with the engine down: %v, want ErrNotReady saying the engine is not reachable", err)
	}
	if ok, reason, fix := r.Ready(ctx); ok || !strings.Contains(reason, "not reachable") || fix == "" {
		t.Errorf("Ready with the engine down = %v %q %q", ok, reason, fix)
	}

	// Back again: runs work (through the cold path at first), the pool refills, the session's
	// container is replaced.
	eng.start(t)
	if ok, reason, _ := r.Ready(ctx); !ok {
		t.Fatalf("not ready after the restart: %s", reason)
	}
	res := run(t, r, Spec{Language: Python, Code: "print(1+1)"})
	if string(res.Stdout) != "2\n" {
		t.Errorf("first run after the restart: %+v", res)
	}
	waitPoolFull(t, r)
	res = run(t, r, Spec{Language: Python, Code: "print(2+2)"})
	if string(res.Stdout) != "4\n" {
		t.Errorf("pooled run after the restart: %+v", res)
	}
	res, err = r.Exec(ctx, sess, Spec{Language: Bash, Code: "echo back"})
	if err != nil || string(res.Stdout) != "back\n" {
		t.Errorf("session exec after the restart: %+v %v", res, err)
	}
}
