package browser

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestPageLines(t *testing.T) {
	lines := []string{"aaaa", "bbbb", "cccc", "dddd"}
	for _, c := range []struct {
		offset, budget int
		want           string
		next           int
	}{
		{0, 100, "aaaa\nbbbb\ncccc\ndddd\n", -1},
		{0, 10, "aaaa\nbbbb\n", 2},
		{2, 10, "cccc\ndddd\n", -1},
		{3, 10, "dddd\n", -1},
		{0, 3, "aaa...\n", 1}, // one line longer than the budget is cut, and paging moves on
		{-5, 100, "aaaa\nbbbb\ncccc\ndddd\n", -1},
	} {
		got, next := pageLines(lines, c.offset, c.budget)
		if got != c.want || next != c.next {
			t.Errorf("pageLines(%d, %d) = %q, %d; want %q, %d", c.offset, c.budget, got, next, c.want, c.next)
		}
	}
}

func TestParseRef(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"e12", 12, true}, {" e7 ", 7, true}, {"e0", 0, false}, {"e-3", 0, false}, {"12", 0, false},
		{"e", 0, false}, {"ex", 0, false}, {"e99999999999999999999", 0, false}, {"", 0, false},
	} {
		got, err := parseRef(c.in)
		if (err == nil) != c.ok || int64(got) != c.want {
			t.Errorf("parseRef(%q) = %d, %v; want %d ok=%v", c.in, got, err, c.want, c.ok)
		}
	}
}

func FuzzParseRef(f *testing.F) {
	for _, s := range []string{"e1", "e123456", "x", "e-1", "e1e2", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := parseRef(s)
		if err == nil && id <= 0 {
			t.Fatalf("parseRef(%q) = %d without error", s, id)
		}
		if err != nil && !utf8.ValidString(err.Error()) && utf8.ValidString(s) {
			t.Fatalf("invalid UTF-8 in the error for %q", s)
		}
	})
}

func TestRing(t *testing.T) {
	r := ring[int]{max: 3}
	for i := range 5 {
		r.add(i)
	}
	if len(r.items) != 3 || r.items[0] != 2 || r.items[2] != 4 || r.dropped != 2 {
		t.Errorf("ring = %v dropped %d", r.items, r.dropped)
	}
}

func TestTruncate(t *testing.T) {
	if got := truncate("héllo", 2); got != "h..." {
		t.Errorf("truncate cut a rune: %q", got)
	}
	if got := truncate("abc", 3); got != "abc" {
		t.Errorf("truncate = %q", got)
	}
	if got := truncate(strings.Repeat("é", 10), 5); !utf8.ValidString(got) {
		t.Errorf("truncate made invalid UTF-8: %q", got)
	}
}

func TestValidate(t *testing.T) {
	s := New().(*Server)
	s.cfg.MaxContexts = 0
	s.cfg.IdleTTL = 0
	s.cfg.RemoteURL = "ftp://x"
	s.cfg.Executable = "/bin/chromium"
	err := s.Validate()
	for _, key := range []string{"max_contexts", "idle_ttl", "remote_url", "executable"} {
		if err == nil || !strings.Contains(err.Error(), "servers.browser."+key) {
			t.Errorf("Validate does not report %s: %v", key, err)
		}
	}
	if err := New().(*Server).Validate(); err != nil {
		t.Errorf("defaults invalid: %v", err)
	}
}

func TestNewestThatFit(t *testing.T) {
	var lines []string
	for i := range 1000 {
		lines = append(lines, strings.Repeat("x", 90)+fmt.Sprint(i))
	}
	out := newestThatFit(lines, 5, 8192, "messages")
	if len(out) > 8192 || !strings.HasSuffix(out, "999\n") || !strings.Contains(out, "older messages not shown") {
		t.Errorf("newestThatFit: %d bytes, tail %q", len(out), out[len(out)-20:])
	}
	if out := newestThatFit([]string{"a", "b"}, 0, 8192, "requests"); out != "a\nb\n" {
		t.Errorf("small log: %q", out)
	}
	if out := newestThatFit([]string{strings.Repeat("y", 10000)}, 0, 4096, "requests"); len(out) > 4096 {
		t.Errorf("one huge line: %d bytes", len(out))
	}
}
