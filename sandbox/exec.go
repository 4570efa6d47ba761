package sandbox

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"
)

// floodFactor: code whose output goes this many times past the per-stream budget (both streams
// together) is stopped; below it the excess is only counted, so a program that prints a little
// too much still finishes with its own exit code.
const floodFactor = 4

// capture keeps the first limit bytes written to it and counts the rest.
type capture struct {
	buf     []byte
	limit   int64
	dropped int64
}

func (c *capture) write(p []byte) {
	room := c.limit - int64(len(c.buf))
	if room > 0 {
		n := min(room, int64(len(p)))
		c.buf = append(c.buf, p[:n]...)
		p = p[n:]
	}
	c.dropped += int64(len(p))
}

// streamOut is what a pumped stream produced.
type streamOut struct {
	stdout, stderr capture
	dur            time.Duration
	timedOut       bool // the host deadline passed and the code was stopped
	cancelled      bool // the caller went away and the code was stopped
	flooded        bool // the output went far past the budget and the code was stopped
	// unrecovered: after the stop, the stream stayed open; the container is not to be trusted.
	unrecovered bool
	err         error // the stream broke (the engine went away)
}

// pumpReq says how to pump one attach or exec stream.
type pumpReq struct {
	stdin    []byte
	limit    int64
	deadline time.Duration // from the start of the stream; 0: none beyond ctx
	progress func(time.Duration)
	// stop ends the code when the deadline passes, the caller cancels or the output floods.
	// It runs once, on a context of its own.
	stop func(ctx context.Context)
}

// pump feeds stdin, demultiplexes stdout and stderr into bounded captures, and stops the code
// on the deadline, on cancellation and on a flood.
func pump(ctx context.Context, hj types.HijackedResponse, q pumpReq) *streamOut {
	out := &streamOut{stdout: capture{limit: q.limit}, stderr: capture{limit: q.limit}}
	start := time.Now()
	go func() {
		if len(q.stdin) > 0 {
			_, _ = hj.Conn.Write(q.stdin)
		}
		_ = hj.CloseWrite()
	}()
	flood := make(chan struct{}, 1)
	done := make(chan error, 1)
	var mu sync.Mutex // guards the captures between the reader and the flood check
	go func() {
		done <- demux(hj.Reader, func(stream byte, p []byte) {
			mu.Lock()
			if stream == 2 || stream == 3 {
				out.stderr.write(p)
			} else {
				out.stdout.write(p)
			}
			over := out.stdout.dropped+out.stderr.dropped > floodFactor*q.limit
			mu.Unlock()
			if over {
				select {
				case flood <- struct{}{}:
				default:
				}
			}
		})
	}()

	var deadline <-chan time.Time
	if q.deadline > 0 {
		t := time.NewTimer(q.deadline)
		defer t.Stop()
		deadline = t.C
	}
	var tick <-chan time.Time
	if q.progress != nil {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		tick = t.C
	}
	var giveUp <-chan time.Time
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		deadline = nil
		go func() {
			sctx, cancel := context.WithTimeout(context.Background(), apiTimeout)
			defer cancel()
			q.stop(sctx)
		}()
		giveUp = time.After(recoverWait)
	}
	cancelled := ctx.Done()
	for {
		select {
		case err := <-done:
			out.dur = time.Since(start)
			if err != nil && !stopped {
				out.err = err
			}
			_ = hj.Conn.Close()
			return out
		case <-deadline:
			out.timedOut = true
			stop()
		case <-cancelled:
			cancelled = nil
			if !stopped {
				out.cancelled = true
			}
			stop()
		case <-flood:
			if !stopped {
				out.flooded = true
			}
			stop()
		case <-tick:
			q.progress(time.Since(start))
		case <-giveUp:
			// The code was stopped but its output stream is still open: close our side; the
			// container is replaced (sessions) or removed (runs).
			giveUp = nil
			out.unrecovered = true
			_ = hj.Conn.Close()
		}
	}
}

// demux reads Docker's multiplexed stream (8-byte headers: stream, 0, 0, 0, big-endian size)
// until EOF and hands each frame to emit.
func demux(r io.Reader, emit func(stream byte, p []byte)) error {
	br := bufio.NewReaderSize(r, 32<<10)
	var hdr [8]byte
	buf := make([]byte, 32<<10)
	for {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		size := int64(binary.BigEndian.Uint32(hdr[4:]))
		for size > 0 {
			n, err := br.Read(buf[:min(size, int64(len(buf)))])
			if n > 0 {
				emit(hdr[0], buf[:n])
				size -= int64(n)
			}
			if err != nil {
				if errors.Is(err, io.EOF) {
					return io.ErrUnexpectedEOF
				}
				return err
			}
		}
	}
}

// execReq is one exec in a running container.
type execReq struct {
	argv     []string
	user     string
	stdin    []byte
	limit    int64
	deadline time.Duration
	progress func(time.Duration)
	stop     func(ctx context.Context)
}

// execOut is an exec's result.
type execOut struct {
	*streamOut
	exitCode int
}

// errBoxDead: the container an exec was meant for is stopped or gone.
var errBoxDead = errors.New("the sandbox container is no longer running")

// exec runs argv in b and waits for it, within the request's deadline.
func (r *Runtime) exec(ctx context.Context, b *box, q execReq) (*execOut, error) {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), apiTimeout)
	defer cancel()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	created, err := r.cli.ContainerExecCreate(actx, b.id, container.ExecOptions{
		User:         q.user,
		AttachStdin:  q.stdin != nil,
		AttachStdout: true,
		AttachStderr: true,
		WorkingDir:   "/work",
		Cmd:          q.argv,
	})
	if err != nil {
		if isGoneOrStopped(err) {
			return nil, errBoxDead
		}
		return nil, r.engineError("starting the code", err)
	}
	hj, err := r.cli.ContainerExecAttach(actx, created.ID, container.ExecAttachOptions{})
	if err != nil {
		if isGoneOrStopped(err) {
			return nil, errBoxDead
		}
		return nil, r.engineError("attaching to the code", err)
	}
	so := pump(ctx, hj, pumpReq{stdin: q.stdin, limit: q.limit, deadline: q.deadline, progress: q.progress, stop: q.stop})
	out := &execOut{streamOut: so, exitCode: -1}
	if so.err != nil {
		return out, r.engineError("reading the code's output", so.err)
	}
	// The stream ends when the process has exited and its output drained (the engine waits up
	// to 2 s for background holders of the pipes); ask for the exit code until it is there.
	// A fresh deadline: the code may have run for minutes.
	ictx, icancel := context.WithTimeout(context.WithoutCancel(ctx), apiTimeout)
	defer icancel()
	for i := 0; i < 200; i++ {
		ins, err := r.cli.ContainerExecInspect(ictx, created.ID)
		if err != nil {
			if isGoneOrStopped(err) || so.timedOut || so.cancelled || so.flooded {
				break // the container was killed with it
			}
			return out, r.engineError("reading the exit code", err)
		}
		if !ins.Running {
			out.exitCode = ins.ExitCode
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	// runc reports a process it could not start (at the pids limit, say) in the stream.
	if out.exitCode == 126 || out.exitCode == -1 {
		for _, c := range []*capture{&so.stdout, &so.stderr} {
			if msg := string(c.buf); strings.HasPrefix(msg, "OCI runtime exec failed") {
				return out, fmt.Errorf("%w: %s", errExecFailed, strings.TrimSpace(msg))
			}
		}
	}
	return out, nil
}

// errExecFailed: the engine could not start a process in the container, typically because
// the code's leftovers hold every pid.
var errExecFailed = errors.New("the sandbox could not start a process in its container")

// hostKill kills the code's processes (uid 65534) from the host, through the container's
// cgroup: it works when the container is at its pids limit, where an exec cannot start. ok is
// false when the engine is not local or the cgroup is out of reach (not root, another layout);
// the caller falls back to an exec. Several passes: a fork bomb forks while it is killed.
func (r *Runtime) hostKill(b *box) (killed int, ok bool) {
	if !r.local {
		return 0, false
	}
	var procs string
	for _, p := range []string{
		"/sys/fs/cgroup/pids/docker/" + b.id + "/cgroup.procs",
		"/sys/fs/cgroup/system.slice/docker-" + b.id + ".scope/cgroup.procs",
		"/sys/fs/cgroup/docker/" + b.id + "/cgroup.procs",
	} {
		if _, err := os.Stat(p); err == nil {
			procs = p
			break
		}
	}
	if procs == "" {
		return 0, false
	}
	for pass := 0; pass < 50; pass++ {
		data, err := os.ReadFile(procs) //nolint:gosec // A cgroup file named by the engine's container ID.
		if err != nil {
			return killed, killed > 0
		}
		n := 0
		for _, f := range strings.Fields(string(data)) {
			pid, err := strconv.Atoi(f)
			if err != nil || pid <= 1 {
				continue
			}
			// A pidfd first (os.FindProcess opens one on Linux), then the checks: should the
			// pid be reused meanwhile, the signal goes to the process checked or to none.
			p, err := os.FindProcess(pid)
			if err != nil {
				continue
			}
			uid := processUID(pid)
			if uid != 0 && uid != 65534 && uid != -1 {
				// Not the uids this runtime uses (a user-namespace remap?): the host cannot
				// tell the code's processes apart; let the exec sweep do it.
				_ = p.Release()
				return killed, false
			}
			if uid == 65534 && inCgroup(pid, b.id) {
				if err := p.Signal(syscall.SIGKILL); err == nil {
					n++
				} else if errors.Is(err, syscall.EPERM) {
					_ = p.Release()
					return killed, false
				}
			}
			_ = p.Release()
		}
		killed += n
		if n == 0 {
			return killed, true
		}
		time.Sleep(5 * time.Millisecond)
	}
	return killed, true
}

// inCgroup: the host process belongs to the container's cgroup.
func inCgroup(pid int, id string) bool {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	return err == nil && strings.Contains(string(data), id)
}

// processUID returns the real uid of a host process, or -1.
func processUID(pid int) int {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "Uid:"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				if uid, err := strconv.Atoi(f[0]); err == nil {
					return uid
				}
			}
		}
	}
	return -1
}

// counters are the container's memory and pids cgroup event counters.
type counters struct {
	oomKills int64 // processes the memory limit killed
	pidsMax  int64 // forks refused at the pids limit
	ok       bool
}

// readCounters reads the counters from the host's cgroup tree when the engine is local (cheap),
// or else by an exec of cat as root (about 50 ms). cgroup v1 (memory.oom_control, pids.events)
// and v2 (memory.events, pids.events) alike.
func (r *Runtime) readCounters(ctx context.Context, b *box, allowExec bool) counters {
	if r.local {
		for _, dir := range [][2]string{
			{"/sys/fs/cgroup/memory/docker/" + b.id + "/memory.oom_control", "/sys/fs/cgroup/pids/docker/" + b.id + "/pids.events"},
			{"/sys/fs/cgroup/system.slice/docker-" + b.id + ".scope/memory.events", "/sys/fs/cgroup/system.slice/docker-" + b.id + ".scope/pids.events"},
			{"/sys/fs/cgroup/docker/" + b.id + "/memory.events", "/sys/fs/cgroup/docker/" + b.id + "/pids.events"},
		} {
			mem, err1 := os.ReadFile(dir[0])
			pids, err2 := os.ReadFile(dir[1])
			if err1 == nil && err2 == nil {
				return parseCounters(string(mem) + "\n" + string(pids))
			}
		}
	}
	if !allowExec {
		return counters{}
	}
	out, err := r.exec(ctx, b, execReq{
		argv:     []string{"sh", "-c", catCounters},
		user:     "0:0",
		limit:    16 << 10,
		deadline: 10 * time.Second,
		stop:     func(context.Context) {},
	})
	if err != nil || out.exitCode != 0 {
		return counters{}
	}
	return parseCounters(string(out.stdout.buf))
}

// catCounters prints the counters inside a container, cgroup v1 and v2.
const catCounters = "cat /sys/fs/cgroup/memory/memory.oom_control /sys/fs/cgroup/pids/pids.events /sys/fs/cgroup/memory.events /sys/fs/cgroup/pids.events 2>/dev/null; true"

// parseCounters reads "oom_kill N" (memory.oom_control, memory.events) and "max N"
// (pids.events) lines.
func parseCounters(s string) counters {
	var c counters
	for _, line := range strings.Split(s, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), " ")
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			continue
		}
		switch k {
		case "oom_kill":
			c.oomKills, c.ok = n, true
		case "max":
			c.pidsMax, c.ok = n, true
		}
	}
	return c
}

// describe turns what happened into Result.Stopped and Result.Detail.
func (r *Runtime) describe(res *Result, so *streamOut, timeout time.Duration, oom, pids bool) {
	var also []string
	switch {
	case so.cancelled:
		res.Stopped = StopCancelled
		res.Detail = "The call was cancelled, so the code was stopped."
	case so.flooded:
		res.Stopped = StopOutputLimit
		res.Detail = fmt.Sprintf("The code wrote far more output than the limit of %d bytes per stream and was stopped (%d bytes of stdout and %d of stderr dropped).",
			so.stdout.limit, so.stdout.dropped, so.stderr.dropped)
	case so.timedOut || ((res.ExitCode == 137 || res.ExitCode == 124) && so.dur >= timeout-50*time.Millisecond):
		res.Stopped = StopTimeout
		res.Detail = fmt.Sprintf("The code ran past its time limit of %s and was killed.", timeout)
		if oom {
			also = append(also, "it had also run out of memory")
		}
		if pids {
			also = append(also, fmt.Sprintf("it had also hit the limit of %d processes and threads", r.cfg.PidsLimit))
		}
	case oom:
		res.Stopped = StopOutOfMemory
		res.Detail = fmt.Sprintf("The code ran out of memory (the limit is %d MiB) and the kernel killed it.", r.cfg.MemoryBytes>>20)
		if pids {
			also = append(also, fmt.Sprintf("it had also hit the limit of %d processes and threads", r.cfg.PidsLimit))
		}
	case pids:
		res.Stopped = StopPidsLimit
		res.Detail = fmt.Sprintf("The code tried to run more than %d processes and threads at once (the limit); the extra ones were refused.", r.cfg.PidsLimit)
	}
	for _, a := range also {
		res.Detail += " Note: " + a + "."
	}
}
