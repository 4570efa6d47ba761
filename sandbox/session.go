package sandbox

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/docker/docker/api/types/volume"
)

// session is a Session's state. mu serialises the work in its container: the counters and the
// list of new files are only meaningful one exec at a time.
type session struct {
	Session
	label  string // labels the container and volume; derived from the ID, not the ID
	volume string

	mu       sync.Mutex
	counters counters
	broken   bool // the last exec did not end when stopped: replace the container
	// box and closed are atomic: CloseSession must not wait for a running exec (removing the
	// container is what ends it).
	box      atomic.Pointer[box]
	closed   atomic.Bool
	lastUsed time.Time // guarded by Runtime.mu
}

// CreateSession starts a persistent container with a writable /work, owned by owner (identity).
func (r *Runtime) CreateSession(ctx context.Context, owner string) (*Session, error) {
	var raw [16]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return nil, fmt.Errorf("making a session handle: %w", err)
	}
	id := base64.RawURLEncoding.EncodeToString(raw[:])
	sum := sha256.Sum256([]byte(id))
	s := &session{Session: Session{ID: id, Owner: owner, Created: time.Now()}, label: hex.EncodeToString(sum[:8])}

	// Reserve the slot first so that concurrent creations cannot pass max_sessions.
	r.mu.Lock()
	switch {
	case r.closed:
		r.mu.Unlock()
		return nil, fmt.Errorf("%w: the sandbox is shutting down", ErrNotReady)
	case len(r.sessions) >= r.cfg.MaxSessions:
		r.mu.Unlock()
		return nil, ErrTooManySessions
	}
	s.lastUsed = time.Now()
	r.sessions[id] = s
	r.mu.Unlock()
	fail := func(err error) (*Session, error) {
		r.mu.Lock()
		delete(r.sessions, id)
		r.mu.Unlock()
		r.destroySession(context.WithoutCancel(ctx), s)
		return nil, err
	}

	s.volume = r.newName() + "-work"
	r.mu.Lock()
	r.known[s.volume] = struct{}{}
	r.mu.Unlock()
	actx, cancel := context.WithTimeout(ctx, apiTimeout)
	defer cancel()
	if _, err := r.cli.VolumeCreate(actx, volume.CreateOptions{
		Name: s.volume, Driver: "local", DriverOpts: r.volumeOpts(), Labels: r.labels(roleSession, s.label),
	}); err != nil {
		return fail(r.engineError("creating the session's /work volume", err))
	}
	b, err := r.startBox(ctx, roleSession, s.label, s.volume)
	if err != nil {
		return fail(err)
	}
	s.box.Store(b)
	if r.isClosed() {
		return fail(fmt.Errorf("%w: the sandbox is shutting down", ErrNotReady))
	}
	pub := s.Session
	return &pub, nil
}

// Get returns the session when it exists AND owner matches; otherwise ErrNoSession (the same
// error for "unknown" and "someone else's", so handles cannot be probed).
func (r *Runtime) Get(id, owner string) (*Session, error) {
	s, err := r.find(id, owner, false)
	if err != nil {
		return nil, err
	}
	pub := s.Session
	return &pub, nil
}

// lookup finds a live session of owner and marks it used.
func (r *Runtime) lookup(id, owner string) (*session, error) { return r.find(id, owner, true) }

// find finds a live session of owner; touch marks it used (Get does not: looking a handle up
// is not using the session, and must not keep it from expiring).
func (r *Runtime) find(id, owner string, touch bool) (*session, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.sessions[id]
	if !ok || subtle.ConstantTimeCompare([]byte(s.Owner), []byte(owner)) != 1 {
		return nil, ErrNoSession
	}
	if touch {
		s.lastUsed = time.Now()
	}
	return s, nil
}

// use finds the session, locks it and makes sure its container runs (after a runaway exec or
// an engine restart it is replaced; /work survives the first, not the second). The caller
// unlocks s.mu.
func (r *Runtime) use(ctx context.Context, sess *Session) (*session, error) {
	if sess == nil {
		return nil, ErrNoSession
	}
	s, err := r.lookup(sess.ID, sess.Owner)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if s.closed.Load() {
		s.mu.Unlock()
		return nil, ErrNoSession
	}
	if s.broken || s.box.Load() == nil {
		if err := r.replaceBox(ctx, s); err != nil {
			s.mu.Unlock()
			return nil, err
		}
	}
	return s, nil
}

// replaceBox starts a new container for the session and then removes the old one: in that
// order the /work volume stays mounted, so its files survive. s.mu is held.
func (r *Runtime) replaceBox(ctx context.Context, s *session) error {
	b, err := r.startBox(ctx, roleSession, s.label, s.volume)
	if err != nil {
		return err
	}
	old := s.box.Swap(b)
	s.broken, s.counters = false, counters{}
	if old != nil {
		r.logger.Info("sandbox: replaced a session's container", "old", old.name, "new", b.name)
		r.removeBox(old)
	}
	if s.closed.Load() {
		// Closed meanwhile: destroySession may have seen the old container only.
		r.removeBox(b)
		return ErrNoSession
	}
	return nil
}

// withBox runs f with the session's container, replacing the container once if it is found
// dead (the engine restarted).
func (r *Runtime) withBox(ctx context.Context, sess *Session, f func(s *session) error) error {
	s, err := r.use(ctx, sess)
	if err != nil {
		return err
	}
	defer s.mu.Unlock()
	err = f(s)
	if errors.Is(err, errExecFailed) && !s.closed.Load() {
		// The code's leftovers hold every pid: kill them and try once more.
		r.sweep(context.WithoutCancel(ctx), s.box.Load())
		time.Sleep(200 * time.Millisecond)
		if err = f(s); errors.Is(err, errExecFailed) {
			err = errBoxDead // replace the container
		}
	}
	if errors.Is(err, errBoxDead) {
		if s.closed.Load() {
			return ErrNoSession
		}
		if rerr := r.replaceBox(ctx, s); rerr != nil {
			return rerr
		}
		err = f(s)
		if errors.Is(err, errBoxDead) {
			return errors.New("the session's container keeps stopping; the engine may be restarting: try again shortly")
		}
	}
	r.mu.Lock()
	s.lastUsed = time.Now()
	r.mu.Unlock()
	return err
}

// Exec runs code or a command in the session's container. Result.NewFiles lists what it created
// or changed under /work.
func (r *Runtime) Exec(ctx context.Context, sess *Session, spec Spec) (*Result, error) {
	p, err := r.plan(spec)
	if err != nil {
		return nil, err
	}
	var res *Result
	p.collect = 0 // sessions read their files with ReadFile
	err = r.withBox(ctx, sess, func(s *session) error {
		var err error
		res, err = r.runInBox(ctx, s.box.Load(), p, s)
		return err
	})
	return res, err
}

// WriteFile writes one file into the session (under /work or /tmp), creating its directories.
func (r *Runtime) WriteFile(ctx context.Context, sess *Session, f File) error {
	abs, err := cleanPath(f.Path)
	if err != nil {
		return err
	}
	if int64(len(f.Data)) > r.cfg.MaxFileBytes {
		return fmt.Errorf("the file has %d bytes, more than the limit of %d", len(f.Data), r.cfg.MaxFileBytes)
	}
	return r.withBox(ctx, sess, func(s *session) error {
		return r.writeFiles(ctx, s.box.Load(), []File{{Path: abs, Data: f.Data, Mode: f.Mode}})
	})
}

// ReadFile reads at most limit bytes of a file (limit <= 0 or above max_file_bytes means
// max_file_bytes); size is the file's full size.
func (r *Runtime) ReadFile(ctx context.Context, sess *Session, path string, limit int64) (data []byte, size int64, err error) {
	abs, err := cleanPath(path)
	if err != nil {
		return nil, 0, err
	}
	if limit <= 0 || limit > r.cfg.MaxFileBytes {
		limit = r.cfg.MaxFileBytes
	}
	err = r.withBox(ctx, sess, func(s *session) error {
		// The size on the first line, then the bytes; one exec.
		const script = `if [ ! -e "$1" ]; then echo "no such file" >&2; exit 3; fi
if [ ! -f "$1" ]; then echo "not a regular file" >&2; exit 4; fi
stat -c %s -- "$1" && exec head -c "$2" -- "$1"`
		b := s.box.Load()
		out, err := r.exec(ctx, b, execReq{
			argv:     []string{"sh", "-c", script, "sh", abs, strconv.FormatInt(limit, 10)},
			user:     codeUser,
			limit:    limit + 32,
			deadline: time.Minute,
			stop:     func(ctx context.Context) { r.sweep(ctx, b) },
		})
		if err != nil {
			return err
		}
		switch out.exitCode {
		case 0:
		case 3:
			return fmt.Errorf("there is no file %s in the session", abs)
		case 4:
			return fmt.Errorf("%s is not a regular file (a directory?): list it with the list tool", abs)
		default:
			return fmt.Errorf("reading %s failed: %s", abs, strings.TrimSpace(string(out.stderr.buf)))
		}
		first, rest, ok := strings.Cut(string(out.stdout.buf), "\n")
		n, perr := strconv.ParseInt(strings.TrimSpace(first), 10, 64)
		if !ok || perr != nil {
			return fmt.Errorf("reading %s failed: unexpected answer from the container", abs)
		}
		data, size = []byte(rest), n
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	return data, size, nil
}

// ListFiles lists dir ("" means /work) recursively, four levels deep, at most maxList entries.
func (r *Runtime) ListFiles(ctx context.Context, sess *Session, dir string) ([]FileInfo, error) {
	abs, err := cleanDir(dir)
	if err != nil {
		return nil, err
	}
	var files []FileInfo
	err = r.withBox(ctx, sess, func(s *session) error {
		var err error
		files, err = r.list(ctx, s.box.Load(), abs)
		return err
	})
	return files, err
}

// maxList caps a listing.
const maxList = 5000

// list runs find and stat in the container: size, raw mode in hex, mtime, name.
func (r *Runtime) list(ctx context.Context, b *box, dir string) ([]FileInfo, error) {
	// busybox find (the default image's) runs busybox's own stat applet for a bare "stat",
	// which prints whole seconds: a file written in the second the code started would look
	// older than the run. A path makes it run coreutils' stat, with nanoseconds.
	const script = `[ -d "$1" ] || { echo "no such directory" >&2; exit 3; }
st=stat; for p in /usr/bin/stat /bin/stat; do [ -x "$p" ] && { st=$p; break; }; done
find "$1" -mindepth 1 -maxdepth 4 -exec "$st" -c '%s %f %.9Y %n' -- {} + 2>/dev/null | head -n ` + "5000"
	out, err := r.exec(ctx, b, execReq{
		argv:     []string{"sh", "-c", script, "sh", dir},
		user:     codeUser,
		limit:    4 << 20,
		deadline: time.Minute,
		stop:     func(ctx context.Context) { r.sweep(ctx, b) },
	})
	if err != nil {
		return nil, err
	}
	if out.exitCode == 3 {
		return nil, fmt.Errorf("there is no directory %s in the session", dir)
	}
	return parseListing(string(out.stdout.buf)), nil
}

// parseListing reads the lines of `stat -c '%s %f %.9Y %n'` (GNU stat; whole seconds from
// others). Lines that do not parse (a name with a newline) are skipped.
func parseListing(s string) []FileInfo {
	var files []FileInfo
	for _, line := range strings.Split(s, "\n") {
		parts := strings.SplitN(line, " ", 4)
		if len(parts) != 4 || !strings.HasPrefix(parts[3], "/") {
			continue
		}
		size, err1 := strconv.ParseInt(parts[0], 10, 64)
		raw, err2 := strconv.ParseUint(parts[1], 16, 32)
		mtime, err3 := parseEpoch(parts[2])
		if err1 != nil || err2 != nil || err3 != nil {
			continue
		}
		isDir := raw&0o170000 == 0o040000
		files = append(files, FileInfo{
			Path: parts[3], Size: size, Mode: uint32(raw & 0o7777), ModTime: mtime, IsDir: isDir,
		})
		if len(files) >= maxList {
			break
		}
	}
	return files
}

// parseEpoch reads "1700000000" or "1700000000.123456789".
func parseEpoch(s string) (time.Time, error) {
	secs, frac, _ := strings.Cut(s, ".")
	sec, err := strconv.ParseInt(secs, 10, 64)
	if err != nil {
		return time.Time{}, err
	}
	var nsec int64
	if frac != "" {
		if len(frac) > 9 {
			frac = frac[:9]
		}
		frac += strings.Repeat("0", 9-len(frac))
		if nsec, err = strconv.ParseInt(frac, 10, 64); err != nil {
			return time.Time{}, err
		}
	}
	return time.Unix(sec, nsec), nil
}

// CloseSession removes the session's container and files. A running exec ends with it.
func (r *Runtime) CloseSession(ctx context.Context, sess *Session) error {
	if sess == nil {
		return ErrNoSession
	}
	s, err := r.lookup(sess.ID, sess.Owner)
	if err != nil {
		return err
	}
	r.mu.Lock()
	delete(r.sessions, s.ID)
	r.mu.Unlock()
	r.destroySession(context.WithoutCancel(ctx), s)
	return nil
}

// destroySession removes the container first (killing any exec: it does not wait for s.mu),
// then the volume, which the engine refuses to remove while a container uses it.
func (r *Runtime) destroySession(ctx context.Context, s *session) {
	s.closed.Store(true)
	if b := s.box.Load(); b != nil {
		r.removeBox(b)
	}
	if s.volume == "" {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, apiTimeout)
	defer cancel()
	var err error
	for i := 0; i < 5; i++ {
		if err = r.cli.VolumeRemove(ctx, s.volume, true); err == nil || isNotFound(err) {
			r.forget(s.volume)
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	r.logger.Warn("sandbox: removing a session volume (the reaper retries)", "volume", s.volume, "err", err)
}

// closeIdleSessions ends sessions unused for longer than session_idle_ttl.
func (r *Runtime) closeIdleSessions() {
	cut := time.Now().Add(-r.cfg.SessionIdleTTL.D())
	var idle []*session
	r.mu.Lock()
	for id, s := range r.sessions {
		if s.lastUsed.Before(cut) && s.mu.TryLock() {
			s.mu.Unlock()
			delete(r.sessions, id)
			idle = append(idle, s)
		}
	}
	r.mu.Unlock()
	for _, s := range idle {
		r.logger.Info("sandbox: closing an idle session", "session", s.label, "owner", ownerForLog(s.Owner))
		r.destroySession(r.bg, s)
	}
}

// ownerForLog shortens an identity for the log.
func ownerForLog(owner string) string {
	if len(owner) > 64 {
		return owner[:64] + "..."
	}
	return owner
}
