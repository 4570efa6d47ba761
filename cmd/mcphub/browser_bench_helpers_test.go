package main

import (
	"testing"
	"time"
)

// Unit tests of the browser benchmark's pure helpers (they run under -short; the benchmark
// itself needs MCPHUB_BENCH=1).

func TestBenchFindRef(t *testing.T) {
	snap := `- generic [ref=e1]:
  - banner [ref=e2]:
    - heading "Browser benchmark" [level=1] [ref=e3]
  - main [ref=e40]:
    - textbox "Search" [ref=e43]: chromium benchmark
    - button "Increment" [active] [ref=e44] [cursor=pointer]
    - button "Increment later" [ref=e45]
- link "Search" [ref=e9]
- button Increment ref=b7`
	for _, tc := range []struct {
		role, name, want string
	}{
		{"button", "Increment", "e44"},
		{"textbox", "Search", "e43"},
		{"heading", "Browser benchmark", "e3"},
		{"button", "Missing", ""},
		{"checkbox", "Search", ""},
	} {
		if got := findRef(snap, tc.role, tc.name); got != tc.want {
			t.Errorf("findRef(%q, %q) = %q, want %q", tc.role, tc.name, got, tc.want)
		}
	}
	// Other spellings of a ref: bare ref=, as mcphub may write it.
	if got := findRef(`button "Increment" ref=n12`, "button", "Increment"); got != "n12" {
		t.Errorf("bare ref=: got %q", got)
	}
}

func TestBenchPercentile(t *testing.T) {
	var xs []time.Duration
	for i := 100; i >= 1; i-- {
		xs = append(xs, time.Duration(i)*time.Millisecond)
	}
	for _, tc := range []struct {
		p    float64
		want time.Duration
	}{{50, 50 * time.Millisecond}, {99, 99 * time.Millisecond}, {100, 100 * time.Millisecond}, {1, time.Millisecond}} {
		if got := percentile(xs, tc.p); got != tc.want {
			t.Errorf("p%v = %v, want %v", tc.p, got, tc.want)
		}
	}
	if got := percentile([]time.Duration{7}, 99); got != 7 {
		t.Errorf("one sample: %v", got)
	}
	if got := percentile(nil, 50); got != 0 {
		t.Errorf("no samples: %v", got)
	}
	if xs[0] != 100*time.Millisecond {
		t.Error("percentile sorted its input in place")
	}
}

func TestBenchParseStat(t *testing.T) {
	for _, tc := range []struct {
		in   string
		comm string
		ppid int
		ok   bool
	}{
		{"123 (chromium) S 45 123 123 0 -1", "chromium", 45, true},
		{"9 (a (b) c) R 1 9 9", "a (b) c", 1, true},
		{"9 (x) S", "", 0, false},
		{"garbage", "", 0, false},
	} {
		comm, ppid, ok := parseStat([]byte(tc.in))
		if comm != tc.comm || ppid != tc.ppid || ok != tc.ok {
			t.Errorf("parseStat(%q) = %q, %d, %v; want %q, %d, %v", tc.in, comm, ppid, ok, tc.comm, tc.ppid, tc.ok)
		}
	}
	if v, err := parseKB("   1234 kB"); err != nil || v != 1234 {
		t.Errorf("parseKB: %d, %v", v, err)
	}
	if _, err := parseKB("1234 MB"); err == nil {
		t.Error("parseKB accepted MB")
	}
}
