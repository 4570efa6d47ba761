package sandbox

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// The abuse list of issue 6, at the runtime level: each case must be contained, reported in
// plain words, and leave the pool (or the session) working.

// assertHealthy checks that a normal run works afterwards and the pool refills.
func assertHealthy(t *testing.T, r *Runtime) {
	t.Helper()
	res := run(t, r, Spec{Language: Python, Code: "print(1+1)", Timeout: 30 * time.Second})
	if string(res.Stdout) != "2\n" || res.ExitCode != 0 || res.Stopped != "" {
		t.Errorf("a normal run afterwards: stdout %q exit %d stopped %q %s stderr %q", res.Stdout, res.ExitCode, res.Stopped, res.Detail, res.Stderr)
	}
	waitPoolFull(t, r)
}

func TestIntegrationAbuseRun(t *testing.T) {
	r := newTestRuntime(t, nil)
	waitPoolFull(t, r)
	tests := []struct {
		name  string
		spec  Spec
		check func(t *testing.T, res *Result)
	}{
		{
			name: "fork bomb",
			spec: Spec{Language: Bash, Code: `b() { b | b & }; b; sleep 3; echo survived`, Timeout: 8 * time.Second},
			check: func(t *testing.T, res *Result) {
				if res.Stopped != StopPidsLimit && res.Stopped != StopTimeout {
					t.Errorf("stopped %q, want pids_limit or timeout", res.Stopped)
				}
				if !strings.Contains(res.Detail, "processes") {
					t.Errorf("detail %q does not mention the process limit", res.Detail)
				}
			},
		},
		{
			name: "python fork bomb",
			spec: Spec{Language: Python, Code: "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass", Timeout: 5 * time.Second},
			check: func(t *testing.T, res *Result) {
				if res.Stopped != StopTimeout || !strings.Contains(res.Detail, "processes") {
					t.Errorf("stopped %q (%s), want timeout noting the process limit", res.Stopped, res.Detail)
				}
			},
		},
		{
			name: "memory bomb",
			spec: Spec{Language: Python, Code: "b = bytearray(1 << 30)\nprint('allocated')"},
			check: func(t *testing.T, res *Result) {
				if res.Stopped != StopOutOfMemory || !strings.Contains(res.Detail, "out of memory") {
					t.Errorf("stopped %q (%s) exit %d stderr %q, want out_of_memory", res.Stopped, res.Detail, res.ExitCode, res.Stderr)
				}
			},
		},
		{
			name: "infinite loop",
			spec: Spec{Language: Python, Code: "while True: pass", Timeout: 2 * time.Second},
			check: func(t *testing.T, res *Result) {
				if res.Stopped != StopTimeout || !strings.Contains(res.Detail, "time limit of 2s") {
					t.Errorf("stopped %q (%s), want timeout", res.Stopped, res.Detail)
				}
				if res.Duration < 2*time.Second || res.Duration > 2*time.Second+killGrace+recoverWait {
					t.Errorf("took %s for a 2s limit", res.Duration)
				}
			},
		},
		{
			name: "filling /tmp",
			spec: Spec{Language: Bash, Code: "head -c 200000000 /dev/zero > /tmp/big; echo rc=$?; ls -l /tmp/big | cut -d' ' -f5"},
			check: func(t *testing.T, res *Result) {
				if !strings.Contains(string(res.Stderr), "No space left on device") || !strings.Contains(string(res.Stdout), "rc=1") {
					t.Errorf("stdout %q stderr %q: want ENOSPC", res.Stdout, res.Stderr)
				}
			},
		},
		{
			name: "writing the root file system",
			spec: Spec{Language: Bash, Code: "for f in /etc/evil /usr/bin/evil /evil /root/evil /var/evil; do echo x > $f || echo refused $f; done"},
			check: func(t *testing.T, res *Result) {
				if got := strings.Count(string(res.Stdout), "refused"); got != 5 {
					t.Errorf("%d of 5 writes refused: stdout %q stderr %q", got, res.Stdout, res.Stderr)
				}
				if !strings.Contains(string(res.Stderr), "Read-only file system") {
					t.Errorf("stderr %q does not say read-only", res.Stderr)
				}
			},
		},
		{
			name: "privileges",
			spec: Spec{Language: Bash, Code: "id -u; grep -E '^(CapEff|CapBnd|NoNewPrivs|Seccomp):' /proc/self/status | tr -s '\\t' ' '"},
			check: func(t *testing.T, res *Result) {
				want := "65534\nCapEff: 0000000000000000\nCapBnd: 0000000000000000\nNoNewPrivs: 1\nSeccomp: 2\n"
				if string(res.Stdout) != want {
					t.Errorf("stdout %q, want %q", res.Stdout, want)
				}
			},
		},
		{
			name: "looking for a Docker socket",
			spec: Spec{Language: Bash, Code: "ls -la /var/run/docker.sock /run/docker.sock 2>&1 | grep -c 'No such file'; find / -xdev -type s 2>/dev/null | wc -l; find /tmp /work /dev -type s 2>/dev/null | wc -l; grep -c docker.sock /proc/self/mountinfo"},
			check: func(t *testing.T, res *Result) {
				if string(res.Stdout) != "2\n0\n0\n0\n" {
					t.Errorf("stdout %q stderr %q: want no socket anywhere", res.Stdout, res.Stderr)
				}
			},
		},
		{
			name: "100 MB stdout flood",
			spec: Spec{Language: Bash, Code: "head -c 100000000 /dev/zero; echo done >&2"},
			check: func(t *testing.T, res *Result) {
				if res.Stopped != StopOutputLimit || int64(len(res.Stdout)) != r.cfg.MaxOutputBytes || res.StdoutDropped == 0 {
					t.Errorf("stopped %q, %d bytes kept, %d dropped: want output_limit at %d", res.Stopped, len(res.Stdout), res.StdoutDropped, r.cfg.MaxOutputBytes)
				}
				if !strings.Contains(res.Detail, "dropped") {
					t.Errorf("detail %q", res.Detail)
				}
			},
		},
		{
			name: "output slightly over the budget",
			spec: Spec{Language: Python, Code: "import sys; sys.stdout.write('x' * 1500000); sys.exit(5)"},
			check: func(t *testing.T, res *Result) {
				if res.Stopped != "" || res.ExitCode != 5 || res.StdoutDropped != 1500000-r.cfg.MaxOutputBytes {
					t.Errorf("stopped %q exit %d dropped %d: want the code's own exit and the excess counted", res.Stopped, res.ExitCode, res.StdoutDropped)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := run(t, r, tt.spec)
			t.Logf("exit %d, %s, stopped %q: %s (stdout %d bytes, stderr %.200q)", res.ExitCode, res.Duration.Round(time.Millisecond), res.Stopped, res.Detail, len(res.Stdout), res.Stderr)
			tt.check(t, res)
			assertHealthy(t, r)
		})
	}
}

// TestIntegrationAbuseNetwork proves there is no network: the container has only lo, and a
// listener this test runs on the host's 127.0.0.1 is out of reach (the container's 127.0.0.1
// is its own). No other address is ever tried.
func TestIntegrationAbuseNetwork(t *testing.T) {
	r := newTestRuntime(t, nil)
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var accepted atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.Close()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	code := fmt.Sprintf(`import socket, os
print(sorted(os.listdir('/sys/class/net')))
print(open('/proc/net/route').read().count('\n') - 1)
s = socket.socket()
s.settimeout(3)
try:
    s.connect(('127.0.0.1', %d))
    print('connected')
except OSError as e:
    print('refused', e.errno)
`, port)
	res := run(t, r, Spec{Language: Python, Code: code})
	t.Logf("stdout %q stderr %q", res.Stdout, res.Stderr)
	if want := "['lo']\n0\nrefused 111\n"; string(res.Stdout) != want {
		t.Errorf("stdout %q, want %q (only lo, no route, connection refused)", res.Stdout, want)
	}
	if n := accepted.Load(); n != 0 {
		t.Errorf("the host listener accepted %d connections", n)
	}
}

// TestIntegrationAbuseHostFiles: a file on the host is not visible, nor is anything the host
// mounts, and the container's mounts are only the engine's own.
func TestIntegrationAbuseHostFiles(t *testing.T) {
	r := newTestRuntime(t, nil)
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret.txt")
	if err := os.WriteFile(secret, []byte("host secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	code := fmt.Sprintf(`test -e %q && echo visible; test -e /root/.ssh && echo ssh
cat /etc/shadow 2>/dev/null && echo shadow
awk '$3 !~ /^(proc|tmpfs|sysfs|cgroup|cgroup2|mqueue|devpts|overlay)$/ {print $2}' /proc/self/mounts | sort | tr '\n' ' '`, secret)
	res := run(t, r, Spec{Language: Bash, Code: code})
	t.Logf("stdout %q stderr %q", res.Stdout, res.Stderr)
	out := string(res.Stdout)
	if strings.Contains(out, "visible") || strings.Contains(out, "ssh") || strings.Contains(out, "shadow") {
		t.Errorf("host files reachable: %q", out)
	}
	// What the engine bind-mounts: its own resolv.conf, hostname, hosts and docker-init.
	for _, m := range strings.Fields(out) {
		switch m {
		case "/etc/resolv.conf", "/etc/hostname", "/etc/hosts", "/usr/sbin/docker-init":
		default:
			t.Errorf("unexpected mount %s in the container", m)
		}
	}
}

// TestIntegrationAbuseCancel: the caller going away stops the code, in a run and in a session.
func TestIntegrationAbuseCancel(t *testing.T) {
	r := newTestRuntime(t, nil)
	waitPoolFull(t, r)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(2*time.Second, cancel)
	start := time.Now()
	res, err := r.Run(ctx, Spec{Language: Python, Code: "while True: pass", Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if res.Stopped != StopCancelled || time.Since(start) > 2*time.Second+recoverWait+5*time.Second {
		t.Errorf("run: stopped %q after %s", res.Stopped, time.Since(start))
	}
	assertHealthy(t, r)

	s, err := r.CreateSession(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(2*time.Second, cancel)
	res, err = r.Exec(ctx, s, Spec{Language: Python, Code: "import time\nwhile True: time.sleep(0.1)", Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if res.Stopped != StopCancelled {
		t.Errorf("session exec: stopped %q", res.Stopped)
	}
	assertSessionClean(t, r, s)
}

// assertSessionClean checks that only the check itself runs as the code's user in the session.
// It looks up to three times: killed processes are reaped by docker-init a moment later.
func assertSessionClean(t *testing.T, r *Runtime, s *Session) {
	t.Helper()
	var left string
	for range 3 {
		res, err := r.Exec(context.Background(), s, Spec{Command: []string{"ps", "-o", "pid,user,stat,comm"}})
		if err != nil {
			t.Fatal(err)
		}
		left = ""
		for _, line := range strings.Split(strings.TrimSpace(string(res.Stdout)), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) == 4 && f[1] != "root" && f[3] != "ps" && f[3] != "timeout" {
				left += line + "\n"
			}
		}
		if left == "" {
			return
		}
		time.Sleep(300 * time.Millisecond)
	}
	t.Errorf("processes of the code left in the session:\n%s", left)
}

// TestIntegrationAbuseSession: the abuse cases inside a session leave it usable, its files kept;
// with the host's cgroup tree (a local engine) and without it (exec fallbacks, as for a remote
// engine).
func TestIntegrationAbuseSession(t *testing.T) {
	for _, local := range []bool{true, false} {
		t.Run(map[bool]string{true: "host cgroup", false: "exec only"}[local], func(t *testing.T) {
			r := newTestRuntime(t, nil)
			r.local = r.local && local
			abuseSession(t, r)
		})
	}
}

func abuseSession(t *testing.T, r *Runtime) {
	ctx := context.Background()
	s, err := r.CreateSession(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if err := r.WriteFile(ctx, s, File{Path: "keep.txt", Data: []byte("kept")}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		spec    Spec
		stopped []string
	}{
		{"fork bomb", Spec{Language: Bash, Code: `b() { b | b & }; b; sleep 3`, Timeout: 6 * time.Second}, []string{StopPidsLimit, StopTimeout}},
		{"memory bomb", Spec{Language: Python, Code: "b = bytearray(1 << 30)"}, []string{StopOutOfMemory}},
		// A process escaped from the timeout's process group outlives the exec: the sweep
		// after every exec ends it.
		{"escaped background process", Spec{Language: Bash, Code: "setsid sleep 600 & echo started", Timeout: 2 * time.Second}, []string{""}},
		{"escaped runaway", Spec{Language: Bash, Code: "setsid bash -c 'while :; do :; done' & sleep 600", Timeout: 2 * time.Second}, []string{StopTimeout}},
		{"kill everything", Spec{Language: Bash, Code: "kill -9 -1; echo alive"}, []string{""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := r.Exec(ctx, s, tt.spec)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("exit %d, %s, stopped %q: %s (stdout %.100q, stderr %.200q)", res.ExitCode, res.Duration.Round(time.Millisecond), res.Stopped, res.Detail, res.Stdout, res.Stderr)
			ok := false
			for _, want := range tt.stopped {
				ok = ok || res.Stopped == want
			}
			if !ok {
				t.Errorf("stopped %q, want one of %q", res.Stopped, tt.stopped)
			}
			assertSessionClean(t, r, s)
			data, _, err := r.ReadFile(ctx, s, "keep.txt", 0)
			if err != nil || string(data) != "kept" {
				t.Errorf("the session's file after the abuse: %q %v", data, err)
			}
		})
	}
}
