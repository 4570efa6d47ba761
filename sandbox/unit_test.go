package sandbox

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/mcphub/mcphub/configs"
)

func TestConfigDefaultsAndValidate(t *testing.T) {
	var c Config
	c.Defaults()
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
	if c.Image != DefaultImage || c.MemoryBytes != 256<<20 || c.PidsLimit != 64 || c.PoolSize != 2 ||
		c.MaxSessions != 16 || c.SessionIdleTTL.D() != 15*time.Minute || c.DefaultTimeout.D() != 30*time.Second ||
		c.MaxTimeout.D() != 5*time.Minute || c.MaxOutputBytes != 1<<20 || c.MaxFileBytes != 10<<20 || c.CPUs != 1 {
		t.Errorf("defaults: %+v", c)
	}
	tests := []struct {
		name string
		mod  func(*Config)
		want []string
	}{
		{"small memory", func(c *Config) { c.MemoryBytes = 1 << 20 }, []string{"servers.sandbox.memory_bytes"}},
		{"pids", func(c *Config) { c.PidsLimit = 2 }, []string{"servers.sandbox.pids_limit"}},
		{"pool", func(c *Config) { c.PoolSize = 100 }, []string{"servers.sandbox.pool_size"}},
		{"timeouts", func(c *Config) {
			c.DefaultTimeout = configs.Duration(time.Hour)
			c.MaxTimeout = configs.Duration(time.Minute)
		}, []string{"servers.sandbox.default_timeout"}},
		{"several", func(c *Config) { c.CPUs = -1; c.MaxOutputBytes = 10; c.SessionIdleTTL = configs.Duration(time.Second) },
			[]string{"servers.sandbox.cpus", "servers.sandbox.max_output_bytes", "servers.sandbox.session_idle_ttl"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c Config
			c.Defaults()
			tt.mod(&c)
			err := c.Validate()
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%v does not name %s", err, w)
				}
			}
			var p *configs.Problem
			if !errors.As(err, &p) {
				t.Errorf("%v is not a configs.Problem", err)
			}
		})
	}
}

func TestCleanPath(t *testing.T) {
	tests := []struct {
		in, want string
		bad      bool
	}{
		{"a.txt", "/work/a.txt", false},
		{"dir/./b.py", "/work/dir/b.py", false},
		{"/work/x", "/work/x", false},
		{"/tmp/y", "/tmp/y", false},
		{"/work//z/", "/work/z", false},
		{"", "", true},
		{"../etc/passwd", "", true},
		{"/work/../etc/passwd", "", true},
		{"a/../../b", "", true},
		{"/etc/passwd", "", true},
		{"/work", "", true},
		{"/workx/a", "", true},
		{"/tmpfoo", "", true},
		{"a\x00b", "", true},
		{strings.Repeat("a", 2000), "", true},
	}
	for _, tt := range tests {
		got, err := cleanPath(tt.in)
		if (err != nil) != tt.bad || got != tt.want {
			t.Errorf("cleanPath(%q) = %q, %v; want %q, bad=%v", tt.in, got, err, tt.want, tt.bad)
		}
	}
	for _, d := range []string{"", ".", "/work", "/work/", "/tmp"} {
		if _, err := cleanDir(d); err != nil {
			t.Errorf("cleanDir(%q): %v", d, err)
		}
	}
}

func FuzzCleanPath(f *testing.F) {
	for _, s := range []string{"a", "../x", "/work/a/../../b", "/tmp/x", "a//b", "/work/\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		got, err := cleanPath(p)
		if err != nil {
			return
		}
		if !strings.HasPrefix(got, "/work/") && !strings.HasPrefix(got, "/tmp/") {
			t.Fatalf("cleanPath(%q) = %q: outside /work and /tmp", p, got)
		}
		if strings.Contains(got, "..") && strings.Contains("/"+got+"/", "/../") {
			t.Fatalf("cleanPath(%q) = %q: contains ..", p, got)
		}
		if strings.IndexByte(got, 0) >= 0 {
			t.Fatalf("cleanPath(%q) = %q: contains NUL", p, got)
		}
	})
}

func TestPlan(t *testing.T) {
	r := &Runtime{}
	r.cfg.Defaults()
	tests := []struct {
		name    string
		spec    Spec
		argv    string
		timeout time.Duration
		err     string
	}{
		{"python", Spec{Language: Python, Code: "print(1)"}, "python3 -c print(1)", 30 * time.Second, ""},
		{"node", Spec{Language: JavaScript, Code: "1", Timeout: time.Second}, "node -e 1", time.Second, ""},
		{"bash capped", Spec{Language: Bash, Code: "ls", Timeout: time.Hour}, "bash -c ls", 5 * time.Minute, ""},
		{"command", Spec{Command: []string{"ls", "-l"}}, "ls -l", 30 * time.Second, ""},
		{"both", Spec{Command: []string{"ls"}, Language: Bash, Code: "x"}, "", 0, "either"},
		{"empty", Spec{Language: Python, Code: "  "}, "", 0, "empty"},
		{"language", Spec{Language: "ruby", Code: "puts 1"}, "", 0, "unknown language"},
		{"nul", Spec{Language: Bash, Code: "a\x00"}, "", 0, "NUL"},
		{"bad file", Spec{Language: Bash, Code: "ls", Files: []File{{Path: "../x"}}}, "", 0, ".."},
		{"big file", Spec{Language: Bash, Code: "ls", Files: []File{{Path: "x", Data: make([]byte, 11<<20)}}}, "", 0, "limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := r.plan(tt.spec)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(p.argv, " "); got != tt.argv || p.timeout != tt.timeout {
				t.Errorf("argv %q timeout %s, want %q %s", got, p.timeout, tt.argv, tt.timeout)
			}
			if w := p.wrapped(); w[0] != "timeout" || w[1] != "-s" || w[2] != "KILL" {
				t.Errorf("wrapped %q", w)
			}
		})
	}
	big := strings.Repeat("#\n", maxArgCode)
	p, err := r.plan(Spec{Language: Python, Code: big})
	if err != nil || p.argv[1] != "/tmp/.mcphub-main.py" || len(p.files) != 1 {
		t.Errorf("large code: %v %v", p, err)
	}
}

func TestParseCounters(t *testing.T) {
	v1 := "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n\nmax 7\n"
	if c := parseCounters(v1); !c.ok || c.oomKills != 3 || c.pidsMax != 7 {
		t.Errorf("v1: %+v", c)
	}
	v2 := "low 0\nhigh 0\nmax 2\noom 1\noom_kill 1\n"
	// memory.events has its own "max" line; pids.events comes after it and wins.
	if c := parseCounters(v2 + "\nmax 5\n"); c.oomKills != 1 || c.pidsMax != 5 {
		t.Errorf("v2: %+v", c)
	}
	if c := parseCounters("garbage"); c.ok {
		t.Errorf("garbage: %+v", c)
	}
}

func TestParseListing(t *testing.T) {
	in := "12 81a4 1700000000 /work/a b.txt\n0 41ed 1700000001.250000000 /work/dir\nbroken line\n5 81ed x /work/bad\n"
	got := parseListing(in)
	if len(got) != 2 {
		t.Fatalf("got %+v", got)
	}
	if got[0].Path != "/work/a b.txt" || got[0].Size != 12 || got[0].Mode != 0o644 || got[0].IsDir || got[0].ModTime.Unix() != 1700000000 {
		t.Errorf("file: %+v", got[0])
	}
	if !got[1].IsDir || got[1].Mode != 0o755 || got[1].ModTime.UnixNano() != 1700000001250000000 {
		t.Errorf("dir: %+v", got[1])
	}
}

func frame(stream byte, p string) []byte {
	h := make([]byte, 8)
	h[0] = stream
	binary.BigEndian.PutUint32(h[4:], uint32(len(p)))
	return append(h, p...)
}

func TestDemuxAndCapture(t *testing.T) {
	var in bytes.Buffer
	in.Write(frame(1, "hello "))
	in.Write(frame(2, "err"))
	in.Write(frame(1, "world"))
	out, errc := capture{limit: 8}, capture{limit: 8}
	err := demux(&in, func(s byte, p []byte) {
		if s == 2 {
			errc.write(p)
		} else {
			out.write(p)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if string(out.buf) != "hello wo" || out.dropped != 3 || string(errc.buf) != "err" || errc.dropped != 0 {
		t.Errorf("out %q/%d err %q/%d", out.buf, out.dropped, errc.buf, errc.dropped)
	}
	// A frame cut short is an error, not a hang or a silent truncation.
	cut := frame(1, "abcdef")[:10]
	if err := demux(bytes.NewReader(cut), func(byte, []byte) {}); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("cut frame: %v", err)
	}
}

func FuzzDemux(f *testing.F) {
	f.Add(append(frame(1, "x"), frame(2, "yy")...))
	f.Add([]byte{1, 0, 0, 0, 255, 255, 255, 255})
	f.Fuzz(func(t *testing.T, data []byte) {
		total := 0
		_ = demux(bytes.NewReader(data), func(_ byte, p []byte) { total += len(p) })
		if total > len(data) {
			t.Fatalf("emitted %d bytes from %d", total, len(data))
		}
	})
}

func TestDescribe(t *testing.T) {
	r := &Runtime{}
	r.cfg.Defaults()
	res := &Result{ExitCode: 137}
	r.describe(res, &streamOut{timedOut: true}, 2*time.Second, false, true)
	if res.Stopped != StopTimeout || !strings.Contains(res.Detail, "2s") || !strings.Contains(res.Detail, "64 processes") {
		t.Errorf("timeout+pids: %+v", res)
	}
	res = &Result{ExitCode: 137, Duration: time.Second}
	r.describe(res, &streamOut{dur: time.Second}, 30*time.Second, true, false)
	if res.Stopped != StopOutOfMemory || !strings.Contains(res.Detail, "256 MiB") {
		t.Errorf("oom: %+v", res)
	}
	res = &Result{}
	r.describe(res, &streamOut{}, time.Second, false, false)
	if res.Stopped != "" || res.Detail != "" {
		t.Errorf("normal: %+v", res)
	}
}
