// Package sandbox runs untrusted code in hardened Docker containers: a warm pool of started
// containers for one-shot runs, and persistent sessions with a /work directory. It knows
// nothing of MCP; actuators/codesandbox turns it into tools. It is the only package that
// imports the Docker client.
package sandbox

import (
	"context"
	"log/slog"
)

// Runtime owns every container it creates.
type Runtime struct {
	cfg      Config
	instance string
	logger   *slog.Logger
}

// New connects to the engine lazily; it never fails for a missing engine or image: Ready says so.
func New(cfg Config, instance string, logger *slog.Logger) (*Runtime, error) {
	cfg.Defaults()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Runtime{cfg: cfg, instance: instance, logger: logger}, nil
}

// Start reaps leftovers and builds the pool in the background.
func (r *Runtime) Start(ctx context.Context) error { return nil }

// Ready says whether runs can work, and if not why and what to do.
func (r *Runtime) Ready(ctx context.Context) (ready bool, reason, fix string) {
	return false, "not implemented yet", ""
}

// Close removes every container it created.
func (r *Runtime) Close(ctx context.Context) error { return nil }

// Run executes once in a fresh container from the warm pool (destroyed afterwards).
func (r *Runtime) Run(ctx context.Context, s Spec) (*Result, error) { return nil, ErrNotReady }

// CreateSession starts a persistent container with a writable /work, owned by owner (identity).
func (r *Runtime) CreateSession(ctx context.Context, owner string) (*Session, error) {
	return nil, ErrNotReady
}

// Get returns the session when it exists AND owner matches; otherwise ErrNoSession.
func (r *Runtime) Get(id, owner string) (*Session, error) { return nil, ErrNoSession }

// Exec runs in a session's container.
func (r *Runtime) Exec(ctx context.Context, sess *Session, s Spec) (*Result, error) {
	return nil, ErrNotReady
}

// WriteFile writes one file into a session.
func (r *Runtime) WriteFile(ctx context.Context, sess *Session, f File) error { return ErrNotReady }

// ReadFile reads at most max bytes of a file; size is the file's full size.
func (r *Runtime) ReadFile(ctx context.Context, sess *Session, path string, max int64) (data []byte, size int64, err error) {
	return nil, 0, ErrNotReady
}

// ListFiles lists dir (default /work) recursively.
func (r *Runtime) ListFiles(ctx context.Context, sess *Session, dir string) ([]FileInfo, error) {
	return nil, ErrNotReady
}

// CloseSession removes the session's container and files.
func (r *Runtime) CloseSession(ctx context.Context, sess *Session) error { return ErrNoSession }
