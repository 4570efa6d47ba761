package sandbox

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"
)

// maxArgCode is the longest code passed on the command line; longer code goes into a file in
// /tmp first (Linux caps one argument at 128 KiB).
const maxArgCode = 96 << 10

// plan is a validated Spec.
type plan struct {
	argv     []string // the code's command, without the timeout wrapper
	files    []File   // absolute, cleaned paths
	stdin    []byte
	timeout  time.Duration
	limit    int64
	progress func(time.Duration)
	collect  int64
}

// plan checks a Spec and works out the command, in plain sentences for the agent.
func (r *Runtime) plan(s Spec) (*plan, error) {
	p := &plan{stdin: s.Stdin, progress: s.Progress, collect: max(s.CollectFiles, 0)}
	switch {
	case s.Timeout <= 0:
		p.timeout = r.cfg.DefaultTimeout.D()
	case s.Timeout > r.cfg.MaxTimeout.D():
		p.timeout = r.cfg.MaxTimeout.D()
	default:
		p.timeout = s.Timeout
	}
	p.limit = r.cfg.MaxOutputBytes
	if s.MaxOutputBytes > 0 && s.MaxOutputBytes < p.limit {
		p.limit = s.MaxOutputBytes
	}
	for _, f := range s.Files {
		abs, err := cleanPath(f.Path)
		if err != nil {
			return nil, err
		}
		if int64(len(f.Data)) > r.cfg.MaxFileBytes {
			return nil, fmt.Errorf("the file %s has %d bytes, more than the limit of %d", abs, len(f.Data), r.cfg.MaxFileBytes)
		}
		p.files = append(p.files, File{Path: abs, Data: f.Data, Mode: f.Mode})
	}
	switch {
	case len(s.Command) > 0 && (s.Language != "" || s.Code != ""):
		return nil, errors.New("give either a language and code, or a command, not both")
	case len(s.Command) > 0:
		for _, a := range s.Command {
			if strings.IndexByte(a, 0) >= 0 {
				return nil, errors.New("the command contains a NUL byte")
			}
		}
		p.argv = s.Command
		return p, nil
	case strings.TrimSpace(s.Code) == "":
		return nil, errors.New("the code is empty")
	case strings.IndexByte(s.Code, 0) >= 0:
		return nil, errors.New("the code contains a NUL byte")
	}
	var interp, ext string
	switch s.Language {
	case Python:
		interp, ext = "python3", "py"
	case JavaScript:
		interp, ext = "node", "js"
	case Bash:
		interp, ext = "bash", "sh"
	default:
		return nil, fmt.Errorf("unknown language %q: use python, javascript or bash", s.Language)
	}
	if len(s.Code) > maxArgCode {
		file := "/tmp/.mcphub-main." + ext
		p.files = append(p.files, File{Path: file, Data: []byte(s.Code), Mode: 0o644})
		p.argv = []string{interp, file}
		return p, nil
	}
	flag := map[string]string{"python3": "-c", "node": "-e", "bash": "-c"}[interp]
	p.argv = []string{interp, flag, s.Code}
	return p, nil
}

// wrapped puts the in-container deadline around the command: GNU and busybox timeout both kill
// the code's process group with SIGKILL when it expires.
func (p *plan) wrapped() []string {
	secs := strconv.FormatFloat(p.timeout.Seconds(), 'f', 3, 64)
	return append([]string{"timeout", "-s", "KILL", secs}, p.argv...)
}

// cleanPath resolves a file path for the container: relative to /work, or absolute under /work
// or /tmp.
func cleanPath(p string) (string, error) {
	switch {
	case p == "":
		return "", errors.New("a file path is empty")
	case len(p) > 1024:
		return "", errors.New("a file path is longer than 1024 bytes")
	case strings.IndexByte(p, 0) >= 0:
		return "", errors.New("a file path contains a NUL byte")
	}
	for _, part := range strings.Split(p, "/") {
		if part == ".." {
			return "", fmt.Errorf("the file path %q contains \"..\": give a path under /work or /tmp", p)
		}
	}
	if !strings.HasPrefix(p, "/") {
		p = "/work/" + p
	}
	c := path.Clean(p)
	if !strings.HasPrefix(c, "/work/") && !strings.HasPrefix(c, "/tmp/") {
		return "", fmt.Errorf("the file path %q is outside /work and /tmp", p)
	}
	return c, nil
}

// cleanDir is cleanPath for directories, where /work and /tmp themselves are allowed.
func cleanDir(p string) (string, error) {
	if p == "" || p == "/work" || p == "/work/" || p == "." {
		return "/work", nil
	}
	if p == "/tmp" || p == "/tmp/" {
		return "/tmp", nil
	}
	return cleanPath(p)
}

// Run executes once in a fresh container from the warm pool (destroyed afterwards). When the
// pool is empty it starts a container of its own. Bad input is an error with a plain sentence;
// code that fails, times out or is stopped is a Result.
func (r *Runtime) Run(ctx context.Context, s Spec) (*Result, error) {
	p, err := r.plan(s)
	if err != nil {
		return nil, err
	}
	if r.isClosed() {
		return nil, fmt.Errorf("%w: the sandbox is shutting down", ErrNotReady)
	}
	// The pool refills after the run, not when a container is taken: starting one competes
	// with the run for the CPU (two cores here), which costs more latency than a refill that
	// begins a few milliseconds later costs throughput.
	defer r.wakeRefill()
	for b := r.takeWarm(); b != nil; b = r.takeWarm() {
		res, err := r.runInBox(ctx, b, p, nil)
		r.destroy(b)
		if !errors.Is(err, errBoxDead) {
			return res, err
		}
		// The pool's containers died (the engine restarted?): drop them all and go on
		// without them; the pool refills in the background.
		r.flushPool()
	}
	if len(p.files) == 0 && p.collect == 0 {
		return r.runCold(ctx, p)
	}
	b, err := r.startBox(ctx, roleRun, "", "")
	if err != nil {
		return nil, err
	}
	defer r.destroy(b)
	res, err := r.runInBox(ctx, b, p, nil)
	if errors.Is(err, errBoxDead) {
		return nil, fmt.Errorf("the sandbox container stopped before the code could run; the engine may be restarting: try again")
	}
	return res, err
}

// runInBox writes the files and runs the code in a started container: a pool container (sess
// nil, destroyed by the caller) or a session's.
func (r *Runtime) runInBox(ctx context.Context, b *box, p *plan, sess *session) (*Result, error) {
	if len(p.files) > 0 {
		if err := r.writeFiles(ctx, b, p.files); err != nil {
			return nil, err
		}
	}
	var before counters
	if sess != nil {
		before = sess.counters
	}
	// The files the code writes are those changed after this instant; the input files were
	// written just before it, with this as their time.
	started := time.Now()
	stop := func(ctx context.Context) { _ = r.cli.ContainerKill(ctx, b.id, "KILL") }
	if sess != nil {
		stop = func(ctx context.Context) { r.sweep(ctx, b) }
	}
	stoppedByUs := func(o *execOut) bool { return o.timedOut || o.cancelled || o.flooded }
	out, err := r.exec(ctx, b, execReq{
		argv:     p.wrapped(),
		user:     codeUser,
		stdin:    p.stdin,
		limit:    p.limit,
		deadline: p.timeout + killGrace,
		progress: p.progress,
		stop:     stop,
	})
	if err != nil {
		return nil, err
	}
	res := &Result{
		Stdout: out.stdout.buf, Stderr: out.stderr.buf,
		StdoutDropped: out.stdout.dropped, StderrDropped: out.stderr.dropped,
		ExitCode: out.exitCode, Duration: out.dur,
	}
	// Sessions: every exec is bounded by its timeout, processes it left in the background
	// (setsid, nohup, daemons) included: they end with it.
	var after counters
	swept := 0
	if sess != nil && !out.unrecovered && !stoppedByUs(out) {
		swept, after = r.sweep(context.WithoutCancel(ctx), b)
	}
	// The counters: cheap from the host; through an exec only when something went wrong and
	// the container still runs (a run's container is killed when stopped).
	if !after.ok {
		abnormal := out.exitCode != 0 || out.timedOut
		after = r.readCounters(context.WithoutCancel(ctx), b, abnormal && (sess != nil || !stoppedByUs(out)))
	}
	oom := after.ok && after.oomKills > before.oomKills
	pids := after.ok && after.pidsMax > before.pidsMax
	if sess != nil && after.ok {
		sess.counters = after
	}
	if !after.ok && !stoppedByUs(out) {
		if (out.exitCode == 137 || out.exitCode == -1) && out.dur < p.timeout {
			// Killed, not by us nor by the deadline, and the counters are out of reach: the
			// container itself went away (the engine stopping or restarting, say).
			// The engine kills execs first and the container a moment later: look for 2 s.
			for i := 0; i < 10; i++ {
				ictx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
				ins, err := r.cli.ContainerInspect(ictx, b.id)
				cancel()
				if err != nil {
					return nil, r.engineError("checking the sandbox container", err)
				}
				if ins.State == nil || !ins.State.Running {
					if sess != nil {
						sess.broken = true
					}
					return nil, errors.New("the sandbox container was stopped from outside while the code ran (is the Docker Engine restarting?); run the code again")
				}
				time.Sleep(200 * time.Millisecond)
			}
		}
		// Shells say when a fork failed.
		pids = bytes.Contains(res.Stderr, []byte("Resource temporarily unavailable"))
	}
	r.describe(res, out.streamOut, p.timeout, oom, pids)
	if sess != nil && out.unrecovered {
		sess.broken = true
	}
	if swept > 0 {
		res.Detail = strings.TrimSpace(res.Detail + fmt.Sprintf(" %d process(es) the code left running in the background were stopped: an exec's processes end with it.", swept))
	}
	// A run's container is dead once the code was stopped; a session's lives on.
	containerAlive := !out.unrecovered && (sess != nil || !stoppedByUs(out))
	if (sess != nil || p.collect > 0) && containerAlive {
		r.collect(context.WithoutCancel(ctx), b, res, started, p.collect)
	}
	return res, nil
}

// runCold runs code in a container of its own, the code as its command: create, attach, start,
// wait, remove (in the background). The pool's way costs an exec; this way costs a start,
// about 4x more, so it is only the fallback when the pool is empty.
func (r *Runtime) runCold(ctx context.Context, p *plan) (*Result, error) {
	name := r.newName()
	cc, hc := r.containerConfig(containerOpts{role: roleRun, cmd: p.wrapped(), stdin: len(p.stdin) > 0})
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), apiTimeout+p.timeout)
	defer cancel()
	created, err := r.cli.ContainerCreate(actx, cc, hc, nil, nil, name)
	if err != nil {
		r.forget(name)
		return nil, r.engineError("creating a sandbox container", err)
	}
	b := &box{name: name, id: created.ID}
	defer r.destroy(b)
	hj, err := r.cli.ContainerAttach(actx, created.ID, container.AttachOptions{Stream: true, Stdin: len(p.stdin) > 0, Stdout: true, Stderr: true})
	if err != nil {
		return nil, r.engineError("attaching to a sandbox container", err)
	}
	// Wait BEFORE start, or a quick exit could be missed.
	waitC, waitErr := r.cli.ContainerWait(actx, created.ID, container.WaitConditionNextExit)
	if err := r.cli.ContainerStart(actx, created.ID, container.StartOptions{}); err != nil {
		hj.Close()
		return nil, r.engineError("starting a sandbox container", err)
	}
	so := pump(ctx, hj, pumpReq{
		stdin:    p.stdin,
		limit:    p.limit,
		deadline: p.timeout + killGrace,
		progress: p.progress,
		stop:     func(ctx context.Context) { _ = r.cli.ContainerKill(ctx, created.ID, "KILL") },
	})
	if so.err != nil {
		return nil, r.engineError("reading the code's output", so.err)
	}
	res := &Result{
		Stdout: so.stdout.buf, Stderr: so.stderr.buf,
		StdoutDropped: so.stdout.dropped, StderrDropped: so.stderr.dropped,
		ExitCode: -1, Duration: so.dur,
	}
	select {
	case w := <-waitC:
		res.ExitCode = int(w.StatusCode)
	case err := <-waitErr:
		if !so.timedOut && !so.cancelled && !so.flooded {
			return nil, r.engineError("waiting for the code", err)
		}
	case <-time.After(recoverWait):
	}
	oom := false
	if res.ExitCode != 0 && !so.timedOut && !so.cancelled && !so.flooded {
		if ins, err := r.cli.ContainerInspect(actx, created.ID); err == nil && ins.State != nil {
			oom = ins.State.OOMKilled
		}
	}
	// The container's cgroup is gone once it stopped: a refused fork shows only in what the
	// code printed.
	pids := res.ExitCode != 0 && bytes.Contains(res.Stderr, []byte("Resource temporarily unavailable"))
	r.describe(res, so, p.timeout, oom, pids)
	return res, nil
}

// collect fills res.NewFiles with the regular files under /work changed since started and,
// when budget > 0, res.Files with the data of those that fit. Failures only leave them out:
// the run itself has succeeded.
func (r *Runtime) collect(ctx context.Context, b *box, res *Result, started time.Time, budget int64) {
	files, err := r.list(ctx, b, "/work")
	if err != nil {
		r.logger.Debug("sandbox: listing new files", "container", b.name, "err", err)
		return
	}
	var want []string
	var total int64
	for _, f := range files {
		if f.IsDir || f.ModTime.Before(started) {
			continue
		}
		res.NewFiles = append(res.NewFiles, f)
		if f.Size <= r.cfg.MaxFileBytes && total+f.Size <= budget {
			want = append(want, strings.TrimPrefix(f.Path, "/"))
			total += f.Size
		}
	}
	if len(want) == 0 || budget <= 0 {
		return
	}
	out, err := r.exec(ctx, b, execReq{
		argv:     append([]string{"tar", "-c", "-f", "-", "-C", "/"}, want...),
		user:     codeUser,
		limit:    total + int64(len(want)+4)*2048,
		deadline: time.Minute,
		stop:     func(ctx context.Context) { r.sweep(ctx, b) },
	})
	if err != nil || out.stdout.dropped > 0 {
		r.logger.Debug("sandbox: reading new files", "container", b.name, "err", err)
		return
	}
	tr := tar.NewReader(bytes.NewReader(out.stdout.buf))
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		if h.Typeflag != tar.TypeReg || h.Size > r.cfg.MaxFileBytes {
			continue
		}
		data, err := io.ReadAll(io.LimitReader(tr, h.Size))
		if err != nil {
			break
		}
		res.Files = append(res.Files, File{Path: "/" + strings.TrimPrefix(h.Name, "/"), Data: data, Mode: uint32(h.Mode & 0o777)})
	}
}

// writeFiles unpacks the files into the container through an exec of tar as the code's user:
// docker cp cannot write to a read-only root nor see a tmpfs.
func (r *Runtime) writeFiles(ctx context.Context, b *box, files []File) error {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	// Whole seconds: every tar keeps them, so the files read as older than the run that
	// follows (see collect).
	now := time.Now().Truncate(time.Second)
	for _, f := range files {
		mode := int64(f.Mode & 0o777)
		if mode == 0 {
			mode = 0o644
		}
		if err := tw.WriteHeader(&tar.Header{
			Typeflag: tar.TypeReg, Name: strings.TrimPrefix(f.Path, "/"), Size: int64(len(f.Data)),
			Mode: mode, Uid: 65534, Gid: 65534, ModTime: now, Format: tar.FormatPAX,
		}); err != nil {
			return fmt.Errorf("packing %s: %w", f.Path, err)
		}
		if _, err := tw.Write(f.Data); err != nil {
			return fmt.Errorf("packing %s: %w", f.Path, err)
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("packing the files: %w", err)
	}
	out, err := r.exec(ctx, b, execReq{
		argv:     []string{"tar", "-x", "-f", "-", "-C", "/"},
		user:     codeUser,
		stdin:    buf.Bytes(),
		limit:    16 << 10,
		deadline: time.Minute,
		stop:     func(ctx context.Context) { r.sweep(ctx, b) },
	})
	if err != nil {
		return err
	}
	if out.exitCode != 0 {
		msg := strings.TrimSpace(string(out.stderr.buf))
		if strings.Contains(msg, "No space left") {
			return fmt.Errorf("the files do not fit: /work holds at most %d bytes and /tmp %d", r.cfg.WorkSizeBytes, r.cfg.TmpSizeBytes)
		}
		return fmt.Errorf("writing the files failed: %s", msg)
	}
	return nil
}

// sweep kills every process of the code's user in the container and returns how many it
// killed (-1: unknown). The API has no exec kill, and closing an exec's stream does not stop
// it. From the host when it can; else by an exec of kill -9 -1 as 65534, which cannot touch
// the root keep-alive and never signals itself, repeated because a fork bomb forks meanwhile
// and retried because at the pids limit the exec itself may fail to start.
//
// The exec also reads the cgroup counters (returned, ok set), saving a second exec.
func (r *Runtime) sweep(ctx context.Context, b *box) (int, counters) {
	if n, ok := r.hostKill(b); ok {
		return n, counters{}
	}
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		var out *execOut
		out, err = r.exec(ctx, b, execReq{
			argv:     []string{"sh", "-c", "for i in 1 2 3 4 5; do kill -9 -1 2>/dev/null; done; " + catCounters},
			user:     codeUser,
			limit:    4 << 10,
			deadline: 10 * time.Second,
			stop:     func(context.Context) {},
		})
		if err == nil && out.exitCode == 0 {
			return -1, parseCounters(string(out.stdout.buf))
		}
		if errors.Is(err, errBoxDead) || ctx.Err() != nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	r.logger.Debug("sandbox: kill sweep", "container", b.name, "err", err)
	return -1, counters{}
}

// takeWarm returns a started pool container, or nil when the pool is empty.
func (r *Runtime) takeWarm() *box {
	select {
	case b := <-r.pool:
		return b
	default:
		return nil
	}
}

func (r *Runtime) wakeRefill() {
	select {
	case r.refill <- struct{}{}:
	default:
	}
}

// flushPool removes every waiting container (they are presumed dead) and asks for new ones.
func (r *Runtime) flushPool() {
	r.drainPool()
	r.wakeRefill()
}

func (r *Runtime) drainPool() {
	for {
		select {
		case b := <-r.pool:
			r.destroy(b)
		default:
			return
		}
	}
}

// probe runs the wrapper the code will run under, once, before a container joins the pool: an
// image without timeout is reported (Ready is fine, the pool error says it), and the run that
// takes the container does not pay for its first exec (the shim's and the page cache's warm-up,
// about 6% of a run measured).
func (r *Runtime) probe(ctx context.Context, b *box) error {
	out, err := r.exec(ctx, b, execReq{
		argv:     []string{"timeout", "-s", "KILL", "10", "true"},
		user:     codeUser,
		limit:    4 << 10,
		deadline: 30 * time.Second,
		stop:     func(context.Context) {},
	})
	if err != nil {
		return err
	}
	if out.exitCode != 0 {
		return fmt.Errorf("the image %s cannot run `timeout -s KILL 10 true` as user 65534 (exit %d: %s): it needs sh, timeout and the language runtimes; see sandbox/Dockerfile",
			r.cfg.Image, out.exitCode, strings.TrimSpace(string(out.stdout.buf)+string(out.stderr.buf)))
	}
	return nil
}

// maxParallelStarts bounds the containers the pool starts at once: starting is mostly waiting
// on the engine, so a few at a time refill a drained pool faster without swamping it.
const maxParallelStarts = 4

// maintainPool keeps PoolSize started containers waiting, backing off while the engine fails.
func (r *Runtime) maintainPool() {
	defer r.wg.Done()
	backoff := time.Second
	for r.bg.Err() == nil {
		need := cap(r.pool) - len(r.pool)
		if need <= 0 {
			select {
			case <-r.bg.Done():
			case <-r.refill:
			}
			continue
		}
		var wg sync.WaitGroup
		errs := make(chan error, maxParallelStarts)
		for range min(need, maxParallelStarts) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				b, err := r.startBox(r.bg, rolePool, "", "")
				if err != nil {
					errs <- err
					return
				}
				if err := r.probe(r.bg, b); err != nil {
					r.destroy(b)
					errs <- err
					return
				}
				select {
				case r.pool <- b:
				default:
					r.destroy(b)
				}
			}()
		}
		wg.Wait()
		close(errs)
		err := <-errs
		if err == nil {
			backoff = time.Second
			r.mu.Lock()
			if r.poolErr != nil {
				r.logger.Info("sandbox: the warm pool fills again")
			}
			r.poolErr = nil
			r.mu.Unlock()
			continue
		}
		if r.bg.Err() != nil {
			break
		}
		r.mu.Lock()
		first := r.poolErr == nil
		r.poolErr = err
		r.mu.Unlock()
		if first {
			r.logger.Warn("sandbox: cannot fill the warm pool; retrying", "err", err)
		}
		select {
		case <-r.bg.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxBackoff)
	}
	r.drainPool()
}
