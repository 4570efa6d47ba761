package benchtable

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

func TestCompareAndTable(t *testing.T) {
	fast := func(context.Context) error { return nil }
	slow := func(context.Context) error { time.Sleep(100 * time.Microsecond); return nil }
	sa, sb, err := Compare(t.Context(), []Caller{fast, fast}, []Caller{slow}, Plan{Warmup: 10, Rounds: 2, PerRun: 50})
	if err != nil || sa.Calls != 100 || sb.Calls != 100 || sa.RPS <= 0 || sb.P99 < sb.P50 {
		t.Fatalf("compare: %v %+v %+v", err, sa.Calls, sb.Calls)
	}
	row := NewRow("x vs y", "p", 2, "x", "y", sa, sb, 1, 1)
	if row.Verdict() != "meets target" {
		t.Errorf("verdict %q for a faster A", row.Verdict())
	}
	t.Setenv("MCPHUB_BENCH_TABLE", t.TempDir()+"/table.jsonl")
	if err := Append(row, row); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(os.Getenv("MCPHUB_BENCH_TABLE"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := Read(f)
	if err != nil || len(rows) != 2 {
		t.Fatalf("read back %d rows: %v", len(rows), err)
	}
	var b bytes.Buffer
	if err := Write(&b, rows); err != nil || !strings.Contains(b.String(), "x vs y") {
		t.Errorf("table: %v\n%s", err, b.String())
	}
	failing := func(context.Context) error { return errors.New("boom") }
	if _, _, err := Compare(t.Context(), []Caller{failing}, []Caller{fast}, Plan{Warmup: 1, Rounds: 1, PerRun: 1}); err == nil {
		t.Error("a failing call passed")
	}
}

// TestBenchTable prints the rows every benchmark of make bench appended to MCPHUB_BENCH_TABLE as
// one table (make bench runs it last).
func TestBenchTable(t *testing.T) {
	path := os.Getenv("MCPHUB_BENCH_TABLE")
	if os.Getenv("MCPHUB_BENCH") != "1" || path == "" {
		t.Skip("make bench prints the table (MCPHUB_BENCH=1 and MCPHUB_BENCH_TABLE)")
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := Read(f)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "\nmake bench: every side-by-side comparison, one tools/call echo per request over loopback HTTP, same plain-HTTP client (internal/mcpload) for both sides; A/B ratios; targets reported, not asserted\n\n")
	if err := Write(&b, rows); err != nil {
		t.Fatal(err)
	}
	fmt.Print(b.String())
}
