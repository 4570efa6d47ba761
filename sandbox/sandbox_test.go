package sandbox

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/volume"

	"github.com/mcphub/mcphub/configs"
	"github.com/mcphub/mcphub/internal/testenv"
)

// newTestRuntime starts a runtime with a unique instance name on the real engine and checks,
// when the test ends, that Close left nothing labelled with it.
func newTestRuntime(t testing.TB, mod func(*Config)) *Runtime {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: needs a Docker Engine")
	}
	testenv.RequireDocker(t)
	var raw [6]byte
	_, _ = rand.Read(raw[:])
	instance := "test-" + hex.EncodeToString(raw[:])
	cfg := Config{PoolSize: 2}
	if mod != nil {
		mod(&cfg)
	}
	r, err := New(cfg, instance, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx := context.Background()
	if ok, reason, fix := r.Ready(ctx); !ok {
		if testenv.InCI() {
			t.Fatalf("sandbox not ready: %s; %s", reason, fix)
		}
		t.Skipf("sandbox not ready: %s; %s", reason, fix)
	}
	if err := r.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := r.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
		assertNothingLeft(t, cfg.DockerHost, instance)
	})
	return r
}

// assertNothingLeft checks the engine for containers and volumes labelled with instance.
func assertNothingLeft(t testing.TB, host, instance string) {
	t.Helper()
	cli, err := newEngine(host)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	f := filters.NewArgs(filters.Arg("label", labelOwner+"="+instance))
	list, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		t.Fatalf("listing containers: %v", err)
	}
	for _, c := range list {
		t.Errorf("container left behind: %v (%s)", c.Names, c.State)
	}
	vols, err := cli.VolumeList(ctx, volume.ListOptions{Filters: f})
	if err != nil {
		t.Fatalf("listing volumes: %v", err)
	}
	for _, v := range vols.Volumes {
		t.Errorf("volume left behind: %s", v.Name)
	}
}

// waitPoolFull waits until the pool holds PoolSize containers and no removal is pending.
func waitPoolFull(t testing.TB, r *Runtime) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for len(r.pool) < cap(r.pool) || r.removing.Load() > 0 {
		if time.Now().After(deadline) {
			r.mu.Lock()
			err := r.poolErr
			r.mu.Unlock()
			t.Fatalf("the pool did not fill (%d of %d): %v", len(r.pool), cap(r.pool), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func run(t *testing.T, r *Runtime, s Spec) *Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	res, err := r.Run(ctx, s)
	if err != nil {
		t.Fatalf("Run(%s %.40q): %v", s.Language, s.Code, err)
	}
	return res
}

func TestIntegrationRunLanguages(t *testing.T) {
	r := newTestRuntime(t, nil)
	waitPoolFull(t, r)
	tests := []struct {
		name       string
		spec       Spec
		wantOut    string
		wantErrOut string
		wantExit   int
	}{
		{"python", Spec{Language: Python, Code: "print(1+1)"}, "2\n", "", 0},
		{"python stdlib", Spec{Language: Python, Code: "import json, sqlite3, zoneinfo; print(json.dumps({'a': sqlite3.sqlite_version_info[0]}))"}, "{\"a\": 3}\n", "", 0},
		{"python stderr and exit", Spec{Language: Python, Code: "import sys; print('out'); print('err', file=sys.stderr); sys.exit(3)"}, "out\n", "err\n", 3},
		{"python stdin", Spec{Language: Python, Code: "import sys; print(sys.stdin.read().upper())", Stdin: []byte("hello")}, "HELLO\n", "", 0},
		{"python no stdin", Spec{Language: Python, Code: "import sys; print(repr(sys.stdin.read()))", Timeout: 20 * time.Second}, "''\n", "", 0},
		{"javascript", Spec{Language: JavaScript, Code: "console.log([1,2,3].map(x => x*2).join(','))"}, "2,4,6\n", "", 0},
		{"javascript error", Spec{Language: JavaScript, Code: "process.stderr.write('bad\\n'); process.exit(2)"}, "", "bad\n", 2},
		{"bash", Spec{Language: Bash, Code: "echo $((6*7)); id -u; pwd"}, "42\n65534\n/work\n", "", 0},
		{"input files", Spec{Language: Bash, Code: "cat data/in.txt; cat /tmp/x", Files: []File{{Path: "data/in.txt", Data: []byte("file one\n")}, {Path: "/tmp/x", Data: []byte("two\n")}}}, "file one\ntwo\n", "", 0},
		{"large code", Spec{Language: Python, Code: "x = 1\n" + strings.Repeat("# padding\n", 12000) + "print(x)"}, "1\n", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := run(t, r, tt.spec)
			if string(res.Stdout) != tt.wantOut || string(res.Stderr) != tt.wantErrOut || res.ExitCode != tt.wantExit || res.Stopped != "" {
				t.Errorf("got stdout %q stderr %q exit %d stopped %q (%s), want %q %q %d", res.Stdout, res.Stderr, res.ExitCode, res.Stopped, res.Detail, tt.wantOut, tt.wantErrOut, tt.wantExit)
			}
		})
	}
}

func TestIntegrationRunCollectFiles(t *testing.T) {
	r := newTestRuntime(t, nil)
	code := `import os
os.makedirs('out', exist_ok=True)
open('out/a.bin', 'wb').write(bytes(range(256)))
open('big.txt', 'w').write('x' * 5000)
open('changed.txt', 'a').write('!')
open('small.txt', 'w').write('hi')
print('done')`
	res := run(t, r, Spec{Language: Python, Code: code, CollectFiles: 4096, Files: []File{
		{Path: "unchanged.txt", Data: []byte("in")}, {Path: "changed.txt", Data: []byte("in")},
	}})
	if string(res.Stdout) != "done\n" {
		t.Fatalf("run: %+v", res)
	}
	var listed []string
	for _, f := range res.NewFiles {
		listed = append(listed, f.Path)
	}
	slices.Sort(listed)
	if want := []string{"/work/big.txt", "/work/changed.txt", "/work/out/a.bin", "/work/small.txt"}; !slices.Equal(listed, want) {
		t.Errorf("NewFiles %v, want %v (the unchanged input file left out)", listed, want)
	}
	got := map[string]string{}
	for _, f := range res.Files {
		got[f.Path] = string(f.Data)
	}
	if len(got) != 3 || got["/work/out/a.bin"] != string(func() []byte {
		b := make([]byte, 256)
		for i := range b {
			b[i] = byte(i)
		}
		return b
	}()) || got["/work/changed.txt"] != "in!" || got["/work/small.txt"] != "hi" {
		t.Errorf("Files: %d files %v; want a.bin, changed.txt and small.txt (big.txt over the budget)", len(got), slices.Collect(maps.Keys(got)))
	}
	// Without CollectFiles, nothing is listed (and nothing costs an exec).
	res = run(t, r, Spec{Language: Bash, Code: "echo x > f.txt"})
	if len(res.NewFiles) != 0 || len(res.Files) != 0 {
		t.Errorf("without CollectFiles: %+v", res)
	}
}

func TestIntegrationRunCold(t *testing.T) {
	r := newTestRuntime(t, nil)
	p, err := r.plan(Spec{Language: Python, Code: "import sys; print(sys.stdin.read()*2); sys.exit(4)", Stdin: []byte("ab")})
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.runCold(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	if string(res.Stdout) != "abab\n" || res.ExitCode != 4 {
		t.Errorf("cold run: stdout %q exit %d", res.Stdout, res.ExitCode)
	}
	// No stdin: the code reads EOF at once, and the cold path reports limits too.
	for _, tt := range []struct {
		code, out, stopped string
		timeout            time.Duration
	}{
		{"import sys; print(repr(sys.stdin.read()))", "''\n", "", 30 * time.Second},
		{"b = bytearray(1 << 30)", "", StopOutOfMemory, 60 * time.Second},
		{"while True: pass", "", StopTimeout, 3 * time.Second},
	} {
		p, err := r.plan(Spec{Language: Python, Code: tt.code, Timeout: tt.timeout})
		if err != nil {
			t.Fatal(err)
		}
		res, err := r.runCold(context.Background(), p)
		if err != nil {
			t.Fatal(err)
		}
		if string(res.Stdout) != tt.out || res.Stopped != tt.stopped {
			t.Errorf("cold %q: stdout %q stopped %q (%s) exit %d", tt.code, res.Stdout, res.Stopped, res.Detail, res.ExitCode)
		}
	}
}

func TestIntegrationSession(t *testing.T) {
	r := newTestRuntime(t, nil)
	ctx := context.Background()
	s, err := r.CreateSession(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if len(s.ID) != 22 {
		t.Errorf("session ID %q: want 22 base64url characters (128 bits)", s.ID)
	}
	if _, err := r.Get(s.ID, "bob"); !errors.Is(err, ErrNoSession) {
		t.Errorf("Get by another identity: %v, want ErrNoSession", err)
	}
	if _, err := r.Get("nope", "alice"); !errors.Is(err, ErrNoSession) {
		t.Errorf("Get of an unknown ID: %v, want ErrNoSession", err)
	}
	bob := &Session{ID: s.ID, Owner: "bob"}
	if _, err := r.Exec(ctx, bob, Spec{Language: Bash, Code: "true"}); !errors.Is(err, ErrNoSession) {
		t.Errorf("Exec by another identity: %v, want ErrNoSession", err)
	}
	bin := []byte{0, 1, 2, 255, 254, '\n', 0}
	if err := r.WriteFile(ctx, s, File{Path: "in/data.bin", Data: bin}); err != nil {
		t.Fatal(err)
	}
	res, err := r.Exec(ctx, s, Spec{Language: Python, Code: "d = open('in/data.bin','rb').read(); open('out.txt','w').write(str(len(d))); print('ok')"})
	if err != nil {
		t.Fatal(err)
	}
	if string(res.Stdout) != "ok\n" {
		t.Errorf("exec: %+v", res)
	}
	if len(res.NewFiles) != 1 || res.NewFiles[0].Path != "/work/out.txt" || res.NewFiles[0].Size != 1 {
		t.Errorf("NewFiles = %+v, want /work/out.txt of 1 byte", res.NewFiles)
	}
	data, size, err := r.ReadFile(ctx, s, "in/data.bin", 0)
	if err != nil || !bytes.Equal(data, bin) || size != int64(len(bin)) {
		t.Errorf("ReadFile = %v %d %v, want %v", data, size, err, bin)
	}
	data, size, err = r.ReadFile(ctx, s, "/work/in/data.bin", 3)
	if err != nil || !bytes.Equal(data, bin[:3]) || size != int64(len(bin)) {
		t.Errorf("ReadFile max 3 = %v %d %v", data, size, err)
	}
	if _, _, err := r.ReadFile(ctx, s, "missing.txt", 0); err == nil || !strings.Contains(err.Error(), "no file") {
		t.Errorf("ReadFile of a missing file: %v", err)
	}
	if _, _, err := r.ReadFile(ctx, s, "../etc/passwd", 0); err == nil {
		t.Error("ReadFile ../etc/passwd: no error")
	}
	files, err := r.ListFiles(ctx, s, "")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		names = append(names, f.Path)
	}
	if strings.Join(names, ",") != "/work/in,/work/in/data.bin,/work/out.txt" && strings.Join(names, ",") != "/work/out.txt,/work/in,/work/in/data.bin" {
		t.Errorf("ListFiles = %v", names)
	}
	// Command form, and state kept between execs.
	res, err = r.Exec(ctx, s, Spec{Command: []string{"cat", "out.txt"}})
	if err != nil || string(res.Stdout) != "7" {
		t.Errorf("command exec = %+v %v", res, err)
	}
	if err := r.CloseSession(ctx, s); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Exec(ctx, s, Spec{Language: Bash, Code: "true"}); !errors.Is(err, ErrNoSession) {
		t.Errorf("Exec after close: %v", err)
	}
}

func TestIntegrationParallel(t *testing.T) {
	r := newTestRuntime(t, nil)
	var wg sync.WaitGroup
	errs := make(chan string, 20)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			res, err := r.Run(ctx, Spec{Language: Python, Code: "import sys; print(int(sys.argv[0] == '-c') + " + string(rune('0'+i%10)) + ")"})
			if err != nil {
				errs <- err.Error()
				return
			}
			if want := string(rune('0'+i%10+1)) + "\n"; i%10 != 9 && string(res.Stdout) != want {
				errs <- "got " + string(res.Stdout) + " want " + want
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	waitPoolFull(t, r)
	if res := run(t, r, Spec{Language: Bash, Code: "echo ok"}); string(res.Stdout) != "ok\n" {
		t.Errorf("after the parallel runs: %+v", res)
	}
}

// TestIntegrationReaper: leftovers of an earlier process of the same instance go at Start, and
// unknown ones later go with the periodic sweep, while the pool's and sessions' stay.
func TestIntegrationReaper(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: needs a Docker Engine")
	}
	testenv.RequireDocker(t)
	ctx := context.Background()
	var raw [6]byte
	_, _ = rand.Read(raw[:])
	instance := "test-reap-" + hex.EncodeToString(raw[:])
	// A "crashed hub": a runtime that made a session and pool containers and never closed.
	crashed, err := New(Config{PoolSize: 1}, instance, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ok, reason, _ := crashed.Ready(ctx); !ok {
		testenvMissing(t, reason)
	}
	if _, err := crashed.CreateSession(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := crashed.startBox(ctx, rolePool, "", ""); err != nil {
		t.Fatal(err)
	}
	crashed.stopBg()

	r, err := New(Config{PoolSize: 1}, instance, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := r.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
		assertNothingLeft(t, "", instance)
	}()
	waitPoolFull(t, r)
	sess, err := r.CreateSession(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	f := filters.NewArgs(filters.Arg("label", labelOwner+"="+instance))
	list, err := r.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 {
		t.Errorf("after Start: %d containers of the instance, want 2 (the new pool's and session's): the crashed ones were not reaped", len(list))
	}
	// A leftover appearing later (a removal that failed, say): the periodic sweep takes it and
	// nothing else.
	stray, err := crashed.startBox(ctx, roleRun, "", "")
	if err != nil {
		t.Fatal(err)
	}
	n, err := r.reap(ctx, false)
	if err != nil || n != 1 {
		t.Errorf("periodic reap removed %d (%v), want 1", n, err)
	}
	if _, err := r.cli.ContainerInspect(ctx, stray.id); !isNotFound(err) {
		t.Errorf("the stray container is still there: %v", err)
	}
	if res, err := r.Exec(ctx, sess, Spec{Language: Bash, Code: "echo ok"}); err != nil || string(res.Stdout) != "ok\n" {
		t.Errorf("the session after the sweep: %+v %v", res, err)
	}
	waitPoolFull(t, r)
	_ = crashed.cli.Close()
}

func testenvMissing(t *testing.T, reason string) {
	t.Helper()
	if testenv.InCI() {
		t.Fatal(reason)
	}
	t.Skip(reason)
}

// TestIntegrationNotReady: a missing image or an unknown runtime makes the runtime not ready
// with the reason and the fix, and runs fail with ErrNotReady in plain words.
func TestIntegrationNotReady(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: needs a Docker Engine")
	}
	testenv.RequireDocker(t)
	ctx := context.Background()
	r, err := New(Config{Image: "mcphub-sandbox-missing:none"}, "test-notready", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(ctx)
	ok, reason, fix := r.Ready(ctx)
	if ok || !strings.Contains(reason, "mcphub-sandbox-missing:none") || !strings.Contains(fix, "make sandbox-image") {
		t.Errorf("Ready = %v %q %q", ok, reason, fix)
	}
	_, err = r.Run(ctx, Spec{Language: Python, Code: "print(1)"})
	if !errors.Is(err, ErrNotReady) || !strings.Contains(err.Error(), "make sandbox-image") {
		t.Errorf("Run with no image: %v", err)
	}
	r2, err := New(Config{Runtime: "no-such-runtime"}, "test-notready2", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close(ctx)
	if ok, reason, fix := r2.Ready(ctx); ok || !strings.Contains(reason, "no-such-runtime") || !strings.Contains(fix, "runtime") {
		t.Errorf("Ready with an unknown runtime = %v %q %q", ok, reason, fix)
	}
	r3, err := New(Config{DockerHost: "unix:///nonexistent/docker.sock"}, "test-notready3", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r3.Close(ctx)
	if ok, reason, fix := r3.Ready(ctx); ok || !strings.Contains(reason, "not reachable") || !strings.Contains(fix, "dockerd") {
		t.Errorf("Ready with no engine = %v %q %q", ok, reason, fix)
	}
	if err := r3.Start(ctx); err != nil {
		t.Errorf("Start with no engine: %v (it should only log)", err)
	}
}

// TestIntegrationLongExec: code that runs for seconds reports progress about every second and
// still gets its exit code.
func TestIntegrationLongExec(t *testing.T) {
	r := newTestRuntime(t, nil)
	var progress []time.Duration
	var mu sync.Mutex
	res := run(t, r, Spec{Language: Bash, Code: "sleep 3; exit 7", Timeout: 10 * time.Second, Progress: func(d time.Duration) {
		mu.Lock()
		progress = append(progress, d)
		mu.Unlock()
	}})
	if res.ExitCode != 7 || res.Stopped != "" {
		t.Errorf("exit %d stopped %q", res.ExitCode, res.Stopped)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(progress) < 2 {
		t.Errorf("progress called %d times in 3 s, want about every second", len(progress))
	}
}

// TestIntegrationSessionLimits: max_sessions refuses one more, and an idle session closes by
// itself after session_idle_ttl, its container and volume with it.
func TestIntegrationSessionLimits(t *testing.T) {
	r := newTestRuntime(t, func(c *Config) {
		c.MaxSessions = 1
		c.SessionIdleTTL = configs.Duration(10 * time.Second)
	})
	ctx := context.Background()
	s, err := r.CreateSession(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.CreateSession(ctx, "bob"); !errors.Is(err, ErrTooManySessions) {
		t.Errorf("a second session with max_sessions 1: %v", err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		if _, err := r.Get(s.ID, "alice"); errors.Is(err, ErrNoSession) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the idle session was not closed within a minute")
		}
		time.Sleep(500 * time.Millisecond)
	}
	if _, err := r.CreateSession(ctx, "bob"); err != nil {
		t.Errorf("a session after the idle one closed: %v", err)
	}
}
