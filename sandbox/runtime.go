// Package sandbox runs untrusted code in hardened Docker containers: a warm pool of started
// containers for one-shot runs, and persistent sessions with a /work directory. It knows
// nothing of MCP; actuators/codesandbox turns it into tools. It is the only package that
// imports the Docker client.
//
// Every container is locked down by containerConfig (no network, read-only root, no
// capabilities, no new privileges, pids/memory/CPU limits, code as uid 65534 under docker-init)
// and labelled with the hub instance, so that a reaper removes whatever a crashed hub left.
// Code runs through exec in a container whose keep-alive process is root's: a snippet's
// `kill -9 -1` cannot stop the container, and docker-init reaps what a fork bomb leaves so the
// pids limit frees itself (shared/notes/sandbox.md has the measurements behind these choices).
package sandbox

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/volume"
)

// Labels on every container and volume the runtime creates.
const (
	labelOwner   = "mcphub.owner"
	labelRole    = "mcphub.role"
	labelSession = "mcphub.session"
	rolePool     = "pool"
	roleRun      = "run"
	roleSession  = "session"
	namePrefix   = "mcphub-sbx-"
)

// Timing of the runtime's own work.
const (
	// apiTimeout bounds one engine request (create, start, remove ...). Generous: a loaded
	// two-core machine takes seconds to start a container now and then.
	apiTimeout = 60 * time.Second
	// killGrace is how long past the deadline the host waits for the in-container timeout
	// before it stops the code itself.
	killGrace = time.Second
	// recoverWait is how long the output stream may stay open after the code was stopped
	// before the container counts as not recovered (and a session's is replaced).
	recoverWait = 3 * time.Second
	// reapInterval spaces the sweeps for leftovers and dead pool containers.
	reapInterval = time.Minute
	// maxBackoff caps the wait between attempts to refill the pool while the engine fails.
	maxBackoff = 30 * time.Second
)

// Runtime owns every container it creates. It is safe for concurrent use.
type Runtime struct {
	cfg      Config
	instance string
	logger   *slog.Logger
	cli      engine
	hostName string
	// local: the engine runs on this machine, so the containers' cgroup counters can be read
	// from /sys/fs/cgroup without an exec.
	local bool

	// bg lives from Start to Close and bounds the background work (pool, reaper, idle
	// sessions); it is the one context kept in a struct.
	bg     context.Context //nolint:containedctx // The lifetime of the background goroutines, cancelled by Close.
	stopBg context.CancelFunc
	wg     sync.WaitGroup

	pool   chan *box
	refill chan struct{}
	// removing counts background removals in flight (tests and benchmarks wait for quiet).
	removing atomic.Int64

	mu       sync.Mutex
	started  bool
	closed   bool
	known    map[string]struct{} // container and volume names created and not yet removed
	sessions map[string]*session
	poolErr  error // the last failure to fill the pool, nil once it works
}

// box is a container the runtime created.
type box struct {
	name, id string
}

// New connects to the engine lazily; it never fails for a missing engine or image: Ready says so.
// instance names this hub on the engine: the labels carry it and Start removes whatever an
// earlier process with the same instance left behind, so it must be stable across restarts and
// unique among the hubs that share an engine.
func New(cfg Config, instance string, logger *slog.Logger) (*Runtime, error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if strings.TrimSpace(instance) == "" {
		return nil, errors.New("the sandbox needs an instance name for its container labels")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cli, err := newEngine(cfg.DockerHost)
	if err != nil {
		return nil, err
	}
	bg, stop := context.WithCancel(context.Background())
	r := &Runtime{
		cfg:      cfg,
		instance: instance,
		logger:   logger,
		cli:      cli,
		hostName: cli.DaemonHost(),
		bg:       bg,
		stopBg:   stop,
		pool:     make(chan *box, cfg.PoolSize),
		refill:   make(chan struct{}, 1),
		known:    map[string]struct{}{},
		sessions: map[string]*session{},
	}
	r.local = strings.HasPrefix(r.hostName, "unix://")
	return r, nil
}

// Start removes what an earlier process of this instance left (an unreachable engine is only
// logged: Ready reports it) and starts the background work: filling the pool, the periodic
// reaper and the idle-session sweep. Calling it again does nothing.
func (r *Runtime) Start(ctx context.Context) error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return errors.New("the sandbox runtime is closed")
	}
	if r.started {
		r.mu.Unlock()
		return nil
	}
	r.started = true
	r.mu.Unlock()
	if n, err := r.reap(ctx, true); err != nil {
		r.logger.WarnContext(ctx, "sandbox: cannot reap leftovers at start-up", "err", err)
	} else if n > 0 {
		r.logger.InfoContext(ctx, "sandbox: removed leftovers of an earlier run", "count", n)
	}
	r.wg.Add(2)
	go r.maintainPool()
	go r.housekeep()
	return nil
}

// Ready says whether runs can work, and if not why and what to do about it.
func (r *Runtime) Ready(ctx context.Context) (ready bool, reason, fix string) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := r.cli.Ping(ctx); err != nil {
		return false, fmt.Sprintf("the Docker Engine is not reachable at %s: %v", r.hostName, err),
			"start dockerd (as root, scripts/setup.sh installs and starts one), or point servers.sandbox.docker_host or DOCKER_HOST at a running engine"
	}
	if _, err := r.cli.ImageInspect(ctx, r.cfg.Image); err != nil {
		return false, fmt.Sprintf("the sandbox image %s is not on the engine: %v", r.cfg.Image, err),
			fmt.Sprintf("build it with `make sandbox-image` (from Debian packages, no registry needed) or `docker build -t %s sandbox/`, or set servers.sandbox.image", r.cfg.Image)
	}
	if r.cfg.Runtime != "" {
		info, err := r.cli.Info(ctx)
		if err != nil {
			return false, fmt.Sprintf("the Docker Engine at %s did not describe itself: %v", r.hostName, err), "check the engine's log"
		}
		if _, ok := info.Runtimes[r.cfg.Runtime]; !ok {
			return false, fmt.Sprintf("the Docker Engine has no runtime %q", r.cfg.Runtime),
				"register it with dockerd (--add-runtime or daemon.json \"runtimes\"), or remove servers.sandbox.runtime"
		}
	}
	return true, "", ""
}

// Close stops the background work, ends every session and removes every container and volume
// labelled with this instance.
func (r *Runtime) Close(ctx context.Context) error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	sessions := make([]*session, 0, len(r.sessions))
	for _, s := range r.sessions {
		sessions = append(sessions, s)
	}
	r.sessions = map[string]*session{}
	r.mu.Unlock()
	r.stopBg()
	for _, s := range sessions {
		r.destroySession(context.WithoutCancel(ctx), s)
	}
	r.drainPool()
	done := make(chan struct{})
	go func() { r.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
	_, err := r.reap(context.WithoutCancel(ctx), true)
	return errors.Join(err, r.cli.Close())
}

// newName returns a fresh container or volume name and remembers it, BEFORE the engine hears
// of it, so the periodic reaper never takes a container being created for a leftover.
func (r *Runtime) newName() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	name := namePrefix + hex.EncodeToString(b[:])
	r.mu.Lock()
	r.known[name] = struct{}{}
	r.mu.Unlock()
	return name
}

func (r *Runtime) forget(name string) {
	r.mu.Lock()
	delete(r.known, name)
	r.mu.Unlock()
}

func (r *Runtime) isClosed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed
}

// labels of a container or volume.
func (r *Runtime) labels(role, session string) map[string]string {
	l := map[string]string{labelOwner: r.instance, labelRole: role}
	if session != "" {
		l[labelSession] = session
	}
	return l
}

// startBox creates and starts a keep-alive container: pool containers and sessions. vol, when
// set, is mounted at /work (sessions); otherwise /work is a tmpfs.
func (r *Runtime) startBox(ctx context.Context, role, sessionLabel, vol string) (*box, error) {
	name := r.newName()
	cc, hc := r.containerConfig(containerOpts{role: role, session: sessionLabel, volume: vol})
	actx, cancel := context.WithTimeout(ctx, apiTimeout)
	defer cancel()
	created, err := r.cli.ContainerCreate(actx, cc, hc, nil, nil, name)
	if err != nil {
		r.forget(name)
		return nil, r.engineError("creating a sandbox container", err)
	}
	b := &box{name: name, id: created.ID}
	if err := r.cli.ContainerStart(actx, created.ID, container.StartOptions{}); err != nil {
		r.removeBox(b)
		return nil, r.engineError("starting a sandbox container", err)
	}
	return b, nil
}

// removeBox removes a container now, with a fresh deadline: it runs on cancelled paths too.
func (r *Runtime) removeBox(b *box) {
	ctx, cancel := context.WithTimeout(context.Background(), apiTimeout)
	defer cancel()
	err := r.cli.ContainerRemove(ctx, b.id, container.RemoveOptions{Force: true, RemoveVolumes: true})
	if err != nil && !isNotFound(err) {
		// The reaper retries: the name stays known only until then.
		r.logger.Warn("sandbox: removing a container", "container", b.name, "err", err)
	}
	r.forget(b.name)
}

// destroy removes a container in the background: a run's result need not wait for it.
func (r *Runtime) destroy(b *box) {
	r.wg.Add(1)
	r.removing.Add(1)
	go func() {
		defer r.wg.Done()
		defer r.removing.Add(-1)
		r.removeBox(b)
	}()
}

// reap removes containers and volumes labelled with this instance: all of them (start-up and
// Close) or those this process does not know (periodically). It returns how many it removed.
func (r *Runtime) reap(ctx context.Context, all bool) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, apiTimeout)
	defer cancel()
	f := filters.NewArgs(filters.Arg("label", labelOwner+"="+r.instance))
	list, err := r.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		return 0, r.engineError("listing sandbox containers", err)
	}
	n := 0
	var errs []error
	for _, c := range list {
		name := ""
		if len(c.Names) > 0 {
			name = strings.TrimPrefix(c.Names[0], "/")
		}
		if !all && r.isKnown(name) {
			if c.Labels[labelRole] == rolePool && c.State != "running" {
				// The engine restarted (or someone stopped it): the pool holds dead
				// containers. Runs would find out one by one; flush them now.
				r.flushPool()
			}
			continue
		}
		if err := r.cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true}); err != nil && !isNotFound(err) {
			errs = append(errs, err)
			continue
		}
		r.forget(name)
		n++
	}
	vols, err := r.cli.VolumeList(ctx, volume.ListOptions{Filters: f})
	if err != nil {
		return n, errors.Join(append(errs, r.engineError("listing sandbox volumes", err))...)
	}
	for _, v := range vols.Volumes {
		if !all && r.isKnown(v.Name) {
			continue
		}
		if err := r.cli.VolumeRemove(ctx, v.Name, true); err != nil && !isNotFound(err) {
			errs = append(errs, err)
			continue
		}
		r.forget(v.Name)
		n++
	}
	return n, errors.Join(errs...)
}

func (r *Runtime) isKnown(name string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.known[name]
	return ok
}

// housekeep runs the periodic reaper and closes idle sessions.
func (r *Runtime) housekeep() {
	defer r.wg.Done()
	idleEvery := min(r.cfg.SessionIdleTTL.D()/4, 30*time.Second)
	idle := time.NewTicker(idleEvery)
	defer idle.Stop()
	reap := time.NewTicker(reapInterval)
	defer reap.Stop()
	for {
		select {
		case <-r.bg.Done():
			return
		case <-idle.C:
			r.closeIdleSessions()
		case <-reap.C:
			if n, err := r.reap(r.bg, false); err != nil {
				r.logger.Debug("sandbox: periodic reap", "err", err)
			} else if n > 0 {
				r.logger.Info("sandbox: reaped leftover containers", "count", n)
			}
		}
	}
}
