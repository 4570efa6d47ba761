// Package codesandbox is the sandbox server: the MCP tools over the container runtime in
// sandbox/. sandbox_run runs a snippet of Python, JavaScript or bash once in a fresh hardened
// container from the warm pool; sandbox_session_create, sandbox_exec, sandbox_write_file,
// sandbox_read_file, sandbox_list_files and sandbox_session_close work with a persistent
// container whose handle is bound to the caller's identity.
//
// The package turns arguments into sandbox.Spec values and runtime results into results an agent
// can act on (stdout and stderr within the output budget, the exit code, the duration, a plain
// reason when the platform stopped the code, images as image content); the runtime owns
// containers, limits and the pool. To add a tool, write one constructor in tools.go returning a
// registry.Tool, list it in Tools, and run UPDATE_TOOLSNAPS=1 go test ./actuators/codesandbox/.
package codesandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/mcphub/mcphub/configs"
	"github.com/mcphub/mcphub/sandbox"
	"github.com/mcphub/mcphub/servers/registry"
)

// Config is servers.sandbox: the runtime's settings (image, limits, pool, sessions; see
// sandbox.Config) and the tools' own.
type Config struct {
	sandbox.Config `yaml:",inline"`

	// ResultBudgetBytes bounds one result of sandbox_run, sandbox_exec and sandbox_read_file:
	// stdout, stderr, images and files together; stdout and stderr get at most half of it. What
	// does not fit is cut and the result says what and how much. Between 4096 and 16777216. The
	// default is 131072 (128 KiB).
	ResultBudgetBytes int `yaml:"result_budget_bytes"`
	// MaxConcurrentRuns bounds the sandbox_run calls, and separately the sandbox_exec calls,
	// running at once; more wait for a slot within their deadline. Between 1 and 256. The
	// default is 8.
	MaxConcurrentRuns int `yaml:"max_concurrent_runs"`
}

// Defaults of the tools' own settings and their bounds.
const (
	defaultResultBudget   = 128 << 10
	minResultBudget       = 4 << 10
	maxResultBudget       = 16 << 20
	defaultConcurrentRuns = 8
	maxConcurrentRuns     = 256
	// callGrace is what a run or exec call may take beyond the code's own time limit: taking a
	// container, copying files in and out, the kill sweep. The runtime stops the code at its
	// limit; the middleware's deadline is only the backstop.
	callGrace = 45 * time.Second
	// fileCallTimeout bounds the file tools and session create/close.
	fileCallTimeout = 90 * time.Second
	// closeTimeout bounds removing every container when the hub stops.
	closeTimeout = 30 * time.Second
	// sessionEndTimeout bounds closing the sandbox sessions of an MCP session that ended.
	sessionEndTimeout = 30 * time.Second
)

// engine is what the tools need of the runtime; *sandbox.Runtime implements it, and the unit
// tests use a fake.
type engine interface {
	Ready(ctx context.Context) (ready bool, reason, fix string)
	Run(ctx context.Context, s sandbox.Spec) (*sandbox.Result, error)
	CreateSession(ctx context.Context, owner string) (*sandbox.Session, error)
	Get(id, owner string) (*sandbox.Session, error)
	Exec(ctx context.Context, sess *sandbox.Session, s sandbox.Spec) (*sandbox.Result, error)
	WriteFile(ctx context.Context, sess *sandbox.Session, f sandbox.File) error
	ReadFile(ctx context.Context, sess *sandbox.Session, path string, maxBytes int64) ([]byte, int64, error)
	ListFiles(ctx context.Context, sess *sandbox.Session, dir string) ([]sandbox.FileInfo, error)
	CloseSession(ctx context.Context, sess *sandbox.Session) error
	Close(ctx context.Context) error
}

var _ engine = (*sandbox.Runtime)(nil)

// Server is the sandbox server.
type Server struct {
	cfg    Config
	logger *slog.Logger

	mu   sync.Mutex
	eng  engine   // nil until Provision, and again after Close
	lock *os.File // the instance lock (instance.go), held until Close

	// owned maps an MCP session to the sandbox sessions created in it, so that they are closed
	// when it ends (registry.SessionEnder). Stateless requests have no MCP session: their
	// sandbox sessions live until closed or idle for session_idle_ttl.
	ownedMu sync.Mutex
	owned   map[string]map[string]string // MCP session id -> sandbox session id -> owner

	// bg tracks the closing of ended MCP sessions' sandbox sessions, which Close waits for.
	bg sync.WaitGroup
}

var (
	_ registry.ConfigDecoder     = (*Server)(nil)
	_ registry.Provisioner       = (*Server)(nil)
	_ registry.Validator         = (*Server)(nil)
	_ registry.ReadinessReporter = (*Server)(nil)
	_ registry.SessionEnder      = (*Server)(nil)
	_ io.Closer                  = (*Server)(nil)
)

// New returns the sandbox server, unconfigured and without side effects.
func New() registry.Server {
	return &Server{cfg: defaultConfig(), logger: slog.New(slog.DiscardHandler), owned: map[string]map[string]string{}}
}

func defaultConfig() Config {
	c := Config{ResultBudgetBytes: defaultResultBudget, MaxConcurrentRuns: defaultConcurrentRuns}
	c.Defaults()
	return c
}

// DecodeConfig decodes servers.sandbox strictly, then fills in the defaults of the keys left out.
func (s *Server) DecodeConfig(section *configs.ServerSection) error {
	var c Config
	if err := section.Decode(&c); err != nil {
		return err
	}
	c.Defaults()
	if c.ResultBudgetBytes == 0 {
		c.ResultBudgetBytes = defaultResultBudget
	}
	if c.MaxConcurrentRuns == 0 {
		c.MaxConcurrentRuns = defaultConcurrentRuns
	}
	s.cfg = c
	return nil
}

// Validate checks the runtime's settings and the tools' own.
func (s *Server) Validate() error {
	var errs []error
	if err := s.cfg.Validate(); err != nil { // the runtime's keys
		errs = append(errs, err)
	}
	problem := func(key, format string, args ...any) {
		errs = append(errs, &configs.Problem{Path: "servers.sandbox." + key, Msg: fmt.Sprintf(format, args...)})
	}
	if b := s.cfg.ResultBudgetBytes; b < minResultBudget || b > maxResultBudget {
		problem("result_budget_bytes", "must be between %d and %d, got %d", minResultBudget, maxResultBudget, b)
	}
	if n := s.cfg.MaxConcurrentRuns; n < 1 || n > maxConcurrentRuns {
		problem("max_concurrent_runs", "must be between 1 and %d, got %d", maxConcurrentRuns, n)
	}
	return errors.Join(errs...)
}

// Provision creates the runtime and starts it (reaping what an earlier hub left, filling the
// warm pool in the background). A missing engine or image is not an error here: Readiness
// reports it with the fix, and the rest of the hub serves.
func (s *Server) Provision(ctx context.Context, env registry.Env) error {
	if env.Logger != nil {
		s.logger = env.Logger
	}
	if s.Validate() != nil {
		return nil // Validate, which runs next, reports the problems with their config paths
	}
	instance, lock, err := claimInstance(env.DataDir)
	if err != nil {
		return err
	}
	rt, err := sandbox.New(s.cfg.Config, instance, s.logger)
	if err != nil {
		_ = lock.Close()
		return fmt.Errorf("creating the sandbox runtime: %w", err)
	}
	s.lock = lock
	if err := rt.Start(ctx); err != nil {
		s.logger.WarnContext(ctx, "the sandbox runtime did not start; its tools report errors until it does",
			slog.String("error", err.Error()))
	}
	s.mu.Lock()
	s.eng = rt
	s.mu.Unlock()
	return nil
}

// Readiness is the runtime's: an engine that answers and the image present.
func (s *Server) Readiness(ctx context.Context) registry.Readiness {
	eng := s.engine()
	if eng == nil {
		return registry.NotReady("the sandbox runtime is not running", "see the hub's log for why provisioning failed, fix it and restart mcphub")
	}
	ready, reason, fix := eng.Ready(ctx)
	if !ready {
		return registry.NotReady(reason, fix)
	}
	return registry.Ready()
}

// Close removes every container the runtime created.
func (s *Server) Close() error {
	s.mu.Lock()
	eng, lock := s.eng, s.lock
	s.eng, s.lock = nil, nil
	s.mu.Unlock()
	s.bg.Wait()
	if lock != nil {
		// Released after the runtime has removed its containers, so that a hub starting now
		// does not take the instance while they are still there.
		defer lock.Close()
	}
	if eng == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	if err := eng.Close(ctx); err != nil {
		return fmt.Errorf("closing the sandbox runtime: %w", err)
	}
	return nil
}

func (s *Server) engine() engine {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.eng
}

// remember records that the MCP session mcpSession created the sandbox session id.
func (s *Server) remember(mcpSession, id, owner string) {
	if mcpSession == "" {
		return
	}
	s.ownedMu.Lock()
	defer s.ownedMu.Unlock()
	m := s.owned[mcpSession]
	if m == nil {
		m = map[string]string{}
		s.owned[mcpSession] = m
	}
	m[id] = owner
}

// forget drops the sandbox session id from whichever MCP session created it.
func (s *Server) forget(mcpSession, id string) {
	s.ownedMu.Lock()
	defer s.ownedMu.Unlock()
	if m := s.owned[mcpSession]; m != nil {
		delete(m, id)
		if len(m) == 0 {
			delete(s.owned, mcpSession)
		}
		return
	}
	// Closed from another MCP session (or a stateless request): look everywhere.
	for k, m := range s.owned {
		if _, ok := m[id]; ok {
			delete(m, id)
			if len(m) == 0 {
				delete(s.owned, k)
			}
			return
		}
	}
}

// SessionEnded closes the sandbox sessions the ended MCP session created. It runs in the
// transport's hook, so the containers are removed in the background.
func (s *Server) SessionEnded(sessionID string) {
	s.ownedMu.Lock()
	m := s.owned[sessionID]
	delete(s.owned, sessionID)
	s.ownedMu.Unlock()
	if len(m) == 0 {
		return
	}
	// Under mu, so that Close (which clears eng under mu, then waits) never misses a start.
	s.mu.Lock()
	defer s.mu.Unlock()
	eng := s.eng
	if eng == nil {
		return
	}
	s.bg.Go(func() {
		ctx, cancel := context.WithTimeout(context.Background(), sessionEndTimeout)
		defer cancel()
		for id, owner := range m {
			sess, err := eng.Get(id, owner)
			if err != nil {
				continue // closed already, or expired
			}
			if err := eng.CloseSession(ctx, sess); err != nil {
				s.logger.WarnContext(ctx, "closing a sandbox session of an ended MCP session", slog.String("error", err.Error()))
			}
		}
	})
}
