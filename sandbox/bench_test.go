package sandbox

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"
)

// Benchmarks side by side with a raw Docker API baseline in the same run (issue 6):
//   - warm: Run of print(1+1) from the pool vs one raw exec in an already running container
//     (target <= 1.3x);
//   - cold: the cold path (no pool) vs a raw create + start + wait + logs + remove
//     (target <= 1.1x);
//   - throughput with 8 concurrent callers.
// TestBenchSandboxReport prints the ratios (MCPHUB_BENCH=1, `make bench`).

var benchCode = []string{"python3", "-c", "print(1+1)"}

const (
	warmTarget = 1.3
	coldTarget = 1.1
)

// benchEnv is a runtime and a running container for the raw baseline.
type benchEnv struct {
	r   *Runtime
	raw *box
}

func newBenchEnv(tb testing.TB, poolSize int) *benchEnv {
	tb.Helper()
	r := newTestRuntime(tb, func(c *Config) { c.PoolSize = poolSize })
	raw, err := r.startBox(context.Background(), rolePool, "", "")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { r.removeBox(raw) })
	waitPoolFull(tb, r)
	return &benchEnv{r: r, raw: raw}
}

// rawExec is what a client of the Docker API does to run code in a running container.
func rawExec(ctx context.Context, e *benchEnv) error {
	cli := e.r.cli
	ex, err := cli.ContainerExecCreate(ctx, e.raw.id, container.ExecOptions{User: codeUser, AttachStdout: true, AttachStderr: true, Cmd: benchCode})
	if err != nil {
		return err
	}
	hj, err := cli.ContainerExecAttach(ctx, ex.ID, container.ExecAttachOptions{})
	if err != nil {
		return err
	}
	var stdout, stderr bytes.Buffer
	_, err = stdcopy.StdCopy(&stdout, &stderr, hj.Reader)
	hj.Close()
	if err != nil {
		return err
	}
	ins, err := cli.ContainerExecInspect(ctx, ex.ID)
	if err != nil {
		return err
	}
	if stdout.String() != "2\n" || ins.ExitCode != 0 {
		return fmt.Errorf("raw exec: %q %q exit %d", stdout.String(), stderr.String(), ins.ExitCode)
	}
	return nil
}

// rawCold is what a client does to run code in a fresh container: create, start, wait, logs,
// remove, with the same hardened settings (the engine's default log driver, for the logs).
func rawCold(ctx context.Context, e *benchEnv) error {
	cli := e.r.cli
	name := e.r.newName()
	defer e.r.forget(name)
	cc, hc := e.r.containerConfig(containerOpts{role: roleRun, cmd: benchCode})
	hc.LogConfig = container.LogConfig{}
	created, err := cli.ContainerCreate(ctx, cc, hc, nil, nil, name)
	if err != nil {
		return err
	}
	defer func() {
		_ = cli.ContainerRemove(context.WithoutCancel(ctx), created.ID, container.RemoveOptions{Force: true})
	}()
	waitC, errC := cli.ContainerWait(ctx, created.ID, container.WaitConditionNextExit)
	if err := cli.ContainerStart(ctx, created.ID, container.StartOptions{}); err != nil {
		return err
	}
	select {
	case w := <-waitC:
		if w.StatusCode != 0 {
			return fmt.Errorf("raw cold: exit %d", w.StatusCode)
		}
	case err := <-errC:
		return err
	}
	logs, err := cli.(*client.Client).ContainerLogs(ctx, created.ID, container.LogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		return err
	}
	var stdout, stderr bytes.Buffer
	_, err = stdcopy.StdCopy(&stdout, &stderr, logs)
	logs.Close()
	if err != nil {
		return err
	}
	if stdout.String() != "2\n" {
		return fmt.Errorf("raw cold: %q %q", stdout.String(), stderr.String())
	}
	return cli.ContainerRemove(ctx, created.ID, container.RemoveOptions{Force: true})
}

func sandboxRun(ctx context.Context, r *Runtime) error {
	res, err := r.Run(ctx, Spec{Language: Python, Code: "print(1+1)"})
	if err != nil {
		return err
	}
	if string(res.Stdout) != "2\n" || res.ExitCode != 0 {
		return fmt.Errorf("run: %q %q exit %d", res.Stdout, res.Stderr, res.ExitCode)
	}
	return nil
}

// sandboxCold runs the cold path and, with remove, waits for its background removal too.
func sandboxCold(ctx context.Context, r *Runtime, remove bool) error {
	p, err := r.plan(Spec{Language: Python, Code: "print(1+1)"})
	if err != nil {
		return err
	}
	res, err := r.runCold(ctx, p)
	if err != nil {
		return err
	}
	if string(res.Stdout) != "2\n" || res.ExitCode != 0 {
		return fmt.Errorf("cold run: %q %q exit %d", res.Stdout, res.Stderr, res.ExitCode)
	}
	for remove && r.removing.Load() > 0 {
		time.Sleep(time.Millisecond)
	}
	return nil
}

// quiet waits, off the clock, until the pool is full and no removal runs: each timed
// operation then starts from the same state, on a machine with no background work of ours.
func quiet(b *testing.B, r *Runtime) {
	b.StopTimer()
	waitPoolFull(b, r)
	b.StartTimer()
}

type benchCase struct {
	name string
	fn   func(b *testing.B)
}

func benchCases(e, e8 *benchEnv) map[string]benchCase {
	ctx := context.Background()
	serial := func(name string, env *benchEnv, op func() error) benchCase {
		return benchCase{name, func(b *testing.B) {
			for range b.N {
				quiet(b, env.r)
				if err := op(); err != nil {
					b.Fatal(err)
				}
			}
		}}
	}
	parallel := func(name string, op func() error) benchCase {
		return benchCase{name, func(b *testing.B) {
			quiet(b, e8.r)
			b.SetParallelism(max(1, 8/runtime.GOMAXPROCS(0)))
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := op(); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}}
	}
	cases := []benchCase{
		serial("warm/raw-exec", e, func() error { return rawExec(ctx, e) }),
		serial("warm/sandbox-run", e, func() error { return sandboxRun(ctx, e.r) }),
		serial("cold/raw-create-start-wait-remove", e, func() error { return rawCold(ctx, e) }),
		serial("cold/sandbox-cold-path", e, func() error { return sandboxCold(ctx, e.r, false) }),
		serial("cold/sandbox-cold-path+removal", e, func() error { return sandboxCold(ctx, e.r, true) }),
		parallel("x8/raw-create-start-wait-remove", func() error { return rawCold(ctx, e8) }),
		parallel("x8/raw-exec-one-container", func() error { return rawExec(ctx, e8) }),
		parallel("x8/sandbox-run", func() error { return sandboxRun(ctx, e8.r) }),
	}
	m := map[string]benchCase{}
	for _, c := range cases {
		m[c.name] = c
	}
	return m
}

func BenchmarkSandbox(b *testing.B) {
	e := newBenchEnv(b, 2)
	e8 := newBenchEnv(b, 8)
	cases := benchCases(e, e8)
	names := make([]string, 0, len(cases))
	for n := range cases {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		b.Run(n, cases[n].fn)
	}
}

// TestBenchSandboxReport prints the sandbox/raw ratios side by side (MCPHUB_BENCH=1, `make bench`).
func TestBenchSandboxReport(t *testing.T) {
	if os.Getenv("MCPHUB_BENCH") != "1" {
		t.Skip("set MCPHUB_BENCH=1 to run the sandbox vs raw Docker API report")
	}
	const rounds = 3
	e := newBenchEnv(t, 2)
	e8 := newBenchEnv(t, 8)
	cases := benchCases(e, e8)
	order := []string{
		"warm/raw-exec", "warm/sandbox-run",
		"cold/raw-create-start-wait-remove", "cold/sandbox-cold-path", "cold/sandbox-cold-path+removal",
		"x8/raw-create-start-wait-remove", "x8/raw-exec-one-container", "x8/sandbox-run",
	}
	results := map[string][]float64{}
	for i := range rounds {
		// Interleaved, alternating direction: drift in the machine's load hits both sides.
		seq := slices.Clone(order)
		if i%2 == 1 {
			slices.Reverse(seq)
		}
		for _, n := range seq {
			res := testing.Benchmark(cases[n].fn)
			if res.N == 0 {
				t.Fatalf("%s: the benchmark failed", n)
			}
			results[n] = append(results[n], float64(res.T.Nanoseconds())/float64(res.N))
		}
	}
	med := func(n string) float64 {
		v := slices.Clone(results[n])
		slices.Sort(v)
		return v[len(v)/2]
	}
	ms := func(ns float64) string { return fmt.Sprintf("%.1f ms", ns/1e6) }
	var out strings.Builder
	fmt.Fprintf(&out, "\nsandbox Run vs the raw Docker API, print(1+1) in %s\n", e.r.cfg.Image)
	fmt.Fprintf(&out, "%s %s/%s, GOMAXPROCS=%d, median of %d interleaved rounds (testing.Benchmark); report only, not asserted\n\n",
		runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.GOMAXPROCS(0), rounds)
	tw := tabwriter.NewWriter(&out, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "comparison\tbaseline\tsandbox\tratio\ttarget\tverdict\t")
	row := func(label, base, ours string, target float64) {
		ratio := med(ours) / med(base)
		verdict := "ok"
		if target > 0 && ratio > target {
			verdict = "OVER"
		}
		tgt := "-"
		if target > 0 {
			tgt = fmt.Sprintf("<= %.1f", target)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.2f\t%s\t%s\t\n", label, ms(med(base)), ms(med(ours)), ratio, tgt, verdict)
	}
	row("warm: Run from the pool vs raw exec in a running container", "warm/raw-exec", "warm/sandbox-run", warmTarget)
	row("cold: cold path (result) vs raw create+start+wait+logs+remove", "cold/raw-create-start-wait-remove", "cold/sandbox-cold-path", coldTarget)
	row("cold: cold path incl. its background removal vs the same", "cold/raw-create-start-wait-remove", "cold/sandbox-cold-path+removal", 0)
	_ = tw.Flush()
	fmt.Fprintf(&out, "\nthroughput, 8 concurrent callers (pool_size 8 for the sandbox)\n")
	tw = tabwriter.NewWriter(&out, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "what\truns/s\t")
	for _, n := range []string{"x8/raw-create-start-wait-remove", "x8/raw-exec-one-container", "x8/sandbox-run"} {
		fmt.Fprintf(tw, "%s\t%.1f\t\n", n, 1e9/med(n))
	}
	_ = tw.Flush()
	t.Log(out.String())
}
