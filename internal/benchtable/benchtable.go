// Package benchtable is the side-by-side benchmark harness of make bench: it runs two sides'
// clients interleaved in one process (warm-up, then rounds in alternating order, so that neither
// side gets the warmer machine), computes throughput and latency percentiles, and collects every
// comparison's rows into one table. Each benchmark test appends its rows to the file named by
// MCPHUB_BENCH_TABLE (JSON lines); TestBenchTable in this package prints them as one table at the
// end of make bench. Speed targets are reported as verdicts, never asserted.
package benchtable

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"
)

// Caller makes one call and checks its answer; one Caller is one client, not used concurrently.
type Caller func(ctx context.Context) error

// Stats are one side's measurements.
type Stats struct {
	Calls    int
	Elapsed  time.Duration
	Lat      []time.Duration
	RPS      float64
	P50, P99 time.Duration
}

func (s *Stats) add(elapsed time.Duration, lat []time.Duration) {
	s.Calls += len(lat)
	s.Elapsed += elapsed
	s.Lat = append(s.Lat, lat...)
}

func (s *Stats) finish() {
	if len(s.Lat) == 0 {
		return
	}
	slices.Sort(s.Lat)
	s.RPS = float64(s.Calls) / s.Elapsed.Seconds()
	s.P50 = s.Lat[len(s.Lat)*50/100]
	s.P99 = s.Lat[min(len(s.Lat)-1, len(s.Lat)*99/100)]
}

// Round makes n calls spread over the callers, all running at once, and returns the wall time
// and each call's latency.
func Round(ctx context.Context, callers []Caller, n int) (time.Duration, []time.Duration, error) {
	var next atomic.Int64
	lat := make([][]time.Duration, len(callers))
	errs := make([]error, len(callers))
	var wg sync.WaitGroup
	start := time.Now()
	for i, c := range callers {
		lat[i] = make([]time.Duration, 0, n/len(callers)+1)
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				t0 := time.Now()
				if err := c(ctx); err != nil {
					errs[i] = err
					return
				}
				lat[i] = append(lat[i], time.Since(t0))
			}
		})
	}
	wg.Wait()
	return time.Since(start), slices.Concat(lat...), errors.Join(errs...)
}

// Plan is how much to measure: warm-up calls per side, then rounds of perRun calls per side.
type Plan struct{ Warmup, Rounds, PerRun int }

// Compare measures a and b interleaved and returns their stats.
func Compare(ctx context.Context, a, b []Caller, p Plan) (Stats, Stats, error) {
	var sa, sb Stats
	sides := []struct {
		callers []Caller
		stats   *Stats
	}{{a, &sa}, {b, &sb}}
	for _, s := range sides {
		if _, _, err := Round(ctx, s.callers, p.Warmup); err != nil {
			return sa, sb, fmt.Errorf("warm-up: %w", err)
		}
	}
	for i := range p.Rounds {
		order := []int{0, 1}
		if i%2 == 1 {
			order = []int{1, 0}
		}
		for _, k := range order {
			runtime.GC() // each side pays for its own garbage
			elapsed, lat, err := Round(ctx, sides[k].callers, p.PerRun)
			if err != nil {
				return sa, sb, fmt.Errorf("round %d: %w", i+1, err)
			}
			sides[k].stats.add(elapsed, lat)
		}
	}
	sa.finish()
	sb.finish()
	return sa, sb, nil
}

// Row is one line of the table: side A against side B.
type Row struct {
	Comparison string  `json:"comparison"`
	Protocol   string  `json:"protocol"`
	Clients    int     `json:"clients"`
	A          string  `json:"a"`
	B          string  `json:"b"`
	ARPS       float64 `json:"a_rps"`
	BRPS       float64 `json:"b_rps"`
	AP50       float64 `json:"a_p50_ms"`
	BP50       float64 `json:"b_p50_ms"`
	AP99       float64 `json:"a_p99_ms"`
	BP99       float64 `json:"b_p99_ms"`
	// MinRPSRatio and MaxP50Ratio are the targets (A/B); zero means none.
	MinRPSRatio float64 `json:"min_rps_ratio,omitempty"`
	MaxP50Ratio float64 `json:"max_p50_ratio,omitempty"`
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// NewRow fills a row from the two sides' stats.
func NewRow(comparison, protocol string, clients int, a, b string, sa, sb Stats, minRPS, maxP50 float64) Row {
	return Row{Comparison: comparison, Protocol: protocol, Clients: clients, A: a, B: b,
		ARPS: sa.RPS, BRPS: sb.RPS, AP50: ms(sa.P50), BP50: ms(sb.P50), AP99: ms(sa.P99), BP99: ms(sb.P99),
		MinRPSRatio: minRPS, MaxP50Ratio: maxP50}
}

// Verdict says whether the row meets its targets.
func (r Row) Verdict() string {
	if r.MinRPSRatio == 0 && r.MaxP50Ratio == 0 {
		return ""
	}
	if (r.MinRPSRatio > 0 && r.ARPS/r.BRPS < r.MinRPSRatio) || (r.MaxP50Ratio > 0 && r.AP50/r.BP50 > r.MaxP50Ratio) {
		return "MISSES target"
	}
	return "meets target"
}

// Append adds rows to the table file named by MCPHUB_BENCH_TABLE, if set.
func Append(rows ...Row) error {
	path := os.Getenv("MCPHUB_BENCH_TABLE")
	if path == "" {
		return nil
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600) //nolint:gosec // the path is the developer's own MCPHUB_BENCH_TABLE
	if err != nil {
		return err
	}
	enc := json.NewEncoder(f)
	for _, r := range rows {
		if err := enc.Encode(r); err != nil {
			_ = f.Close()
			return err
		}
	}
	return f.Close()
}

// Read returns the rows of a table file.
func Read(r io.Reader) ([]Row, error) {
	var rows []Row
	dec := json.NewDecoder(r)
	for {
		var row Row
		if err := dec.Decode(&row); errors.Is(err, io.EOF) {
			return rows, nil
		} else if err != nil {
			return rows, err
		}
		rows = append(rows, row)
	}
}

func target(r Row) string {
	var s string
	if r.MinRPSRatio > 0 {
		s = "rps ≥ " + strconv.FormatFloat(r.MinRPSRatio, 'g', 3, 64) + "×"
	}
	if r.MaxP50Ratio > 0 {
		if s != "" {
			s += ", "
		}
		s += "p50 ≤ " + strconv.FormatFloat(r.MaxP50Ratio, 'g', 3, 64) + "×"
	}
	return s
}

// Write prints the rows as one side-by-side table.
func Write(w io.Writer, rows []Row) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "comparison\tprotocol\tclients\tA\tB\tA rps\tB rps\trps A/B\tA p50 ms\tB p50 ms\tp50 A/B\tA p99 ms\tB p99 ms\ttarget\tverdict\t")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%.0f\t%.0f\t%.2f\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t%s\t%s\t\n",
			r.Comparison, r.Protocol, r.Clients, r.A, r.B, r.ARPS, r.BRPS, r.ARPS/r.BRPS,
			r.AP50, r.BP50, r.AP50/r.BP50, r.AP99, r.BP99, target(r), r.Verdict())
	}
	return tw.Flush()
}
