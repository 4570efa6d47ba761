// Package memory is the memory server: a long-term knowledge graph for agents (entities with a
// type and observations, directed typed relations) with the tools and semantics of the
// reference MCP memory server, so that users can switch, plus ranked full-text search,
// per-identity namespaces and a store that many clients and several hub processes can write at
// once without losing or duplicating anything.
//
// The graph lives in SQLite under the server's data directory (WAL, one transaction per call,
// unique constraints with idempotent inserts), or in PostgreSQL when servers.memory.postgres_dsn
// is set. Both backends implement [Store]; a new backend implements it and passes the same
// tests. Import and export of the reference server's JSONL file are [Import] and [Export]
// (`mcphub memory import|export`).
package memory

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"sync"
	"time"

	"github.com/mcphub/mcphub/configs"
	"github.com/mcphub/mcphub/servers/registry"
)

// Config is servers.memory.
type Config struct {
	// PostgresDSN, when set, keeps the graph in this PostgreSQL database (tables memory_*,
	// created on start) instead of SQLite under the data directory. Give it from the
	// environment, such as "${MEMORY_PG_DSN}"; it is never logged or echoed. The default is
	// empty: SQLite at <data_dir>/memory/memory.db.
	PostgresDSN string `yaml:"postgres_dsn"`
	// Namespaces maps caller identities to the namespace (graph) they use; identities that are
	// not listed each have their own namespace named after the identity ("local" on stdio and
	// on a loopback listener without API keys). Map several identities to one name to let them
	// share a graph. The default is empty: every identity is isolated.
	Namespaces map[string]string `yaml:"namespaces"`
	// MaxItemsPerCall bounds the entities, relations, names or observation groups one call may
	// carry. The default is 100.
	MaxItemsPerCall int `yaml:"max_items_per_call"`
	// MaxObservationsPerCall bounds the observations one call may carry in all. The default is
	// 1000.
	MaxObservationsPerCall int `yaml:"max_observations_per_call"`
	// MaxObservationBytes bounds one observation's length in bytes. The default is 4096.
	MaxObservationBytes int `yaml:"max_observation_bytes"`
}

// Defaults of Config.
const (
	defaultMaxItems        = 100
	defaultMaxObservations = 1000
	defaultMaxObsBytes     = 4096
	// maxNameBytes bounds entity names and entity and relation types.
	maxNameBytes = 512
	// defaultSearchLimit and maxSearchLimit bound memory_search_nodes' limit argument.
	defaultSearchLimit = 20
	maxSearchLimit     = 100
	// defaultPageItems and maxPageItems bound memory_read_graph's limit argument.
	defaultPageItems = 500
	maxPageItems     = 5000
	// openTimeout bounds opening the store and creating its schema.
	openTimeout = 30 * time.Second
)

// namespacePattern keeps namespace names printable and short; they are stored, not used as
// paths, so the rule is for readable configs only.
var namespacePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$`)

// Server is the memory server.
type Server struct {
	cfg    Config
	logger *slog.Logger
	budget int // bytes a page of memory_read_graph may fill, below the hub's output budget

	mu     sync.RWMutex // guards store and closed: Close may race a late call
	store  Store
	closed bool

	// PostgreSQL may be down when the hub starts or later restart; the server then stays up,
	// not ready, and opens the store again on a later call or readiness check.
	openMu   sync.Mutex // one reopen at a time; guards the fields below
	lastOpen time.Time
	openErr  error
}

// reopenEvery spaces attempts to open an unreachable PostgreSQL store.
var reopenEvery = 5 * time.Second

// errNotOpen is what a call gets when the store is not open.
var errNotOpen = errors.New("the memory store is not open")

var (
	_ registry.Server            = (*Server)(nil)
	_ registry.ConfigDecoder     = (*Server)(nil)
	_ registry.Provisioner       = (*Server)(nil)
	_ registry.Validator         = (*Server)(nil)
	_ registry.ReadinessReporter = (*Server)(nil)
	_ io.Closer                  = (*Server)(nil)
)

// New returns the memory server, unconfigured and without side effects.
func New() registry.Server { return &Server{cfg: defaultConfig()} }

func defaultConfig() Config {
	return Config{
		MaxItemsPerCall:        defaultMaxItems,
		MaxObservationsPerCall: defaultMaxObservations,
		MaxObservationBytes:    defaultMaxObsBytes,
	}
}

// DecodeConfig decodes servers.memory over the defaults.
func (s *Server) DecodeConfig(section *configs.ServerSection) error {
	s.cfg = defaultConfig()
	return section.Decode(&s.cfg)
}

// LoadConfig decodes and validates servers.memory of cfg, for the memory sub-commands, which
// reach the store without running the server.
func LoadConfig(cfg *configs.Config) (Config, error) {
	s := &Server{}
	if err := s.DecodeConfig(cfg.Servers["memory"]); err != nil {
		return Config{}, err
	}
	if err := s.Validate(); err != nil {
		return Config{}, err
	}
	return s.cfg, nil
}

// Validate checks the limits and the namespace map.
func (s *Server) Validate() error {
	var errs []error
	problem := func(key, format string, args ...any) {
		errs = append(errs, &configs.Problem{Path: "servers.memory." + key, Msg: fmt.Sprintf(format, args...)})
	}
	if s.cfg.MaxItemsPerCall < 1 || s.cfg.MaxItemsPerCall > 10000 {
		problem("max_items_per_call", "must be between 1 and 10000, got %d", s.cfg.MaxItemsPerCall)
	}
	if s.cfg.MaxObservationsPerCall < 1 || s.cfg.MaxObservationsPerCall > 100000 {
		problem("max_observations_per_call", "must be between 1 and 100000, got %d", s.cfg.MaxObservationsPerCall)
	}
	if s.cfg.MaxObservationBytes < 16 || s.cfg.MaxObservationBytes > 1<<20 {
		problem("max_observation_bytes", "must be between 16 and 1048576, got %d", s.cfg.MaxObservationBytes)
	}
	ids := make([]string, 0, len(s.cfg.Namespaces))
	for id := range s.cfg.Namespaces {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		if ns := s.cfg.Namespaces[id]; !namespacePattern.MatchString(ns) {
			problem("namespaces."+id, "must be 1 to 64 of letters, digits and . _ @ - starting with a letter or digit, got %q", ns)
		}
	}
	return errors.Join(errs...)
}

// Provision opens the store: PostgreSQL when configured, else SQLite in the data directory
// (created 0700: the graph holds whatever agents chose to remember).
func (s *Server) Provision(ctx context.Context, env registry.Env) error {
	s.logger = env.Logger
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	s.budget = 0
	if env.Config != nil && env.Config.Limits.OutputBudgetBytes > 0 {
		s.budget = env.Config.Limits.OutputBudgetBytes
	}
	ctx, cancel := context.WithTimeout(ctx, openTimeout)
	defer cancel()
	if s.cfg.PostgresDSN != "" {
		// A database that is down is a readiness problem, not a reason to fail the hub.
		if _, err := s.reopen(ctx); err != nil {
			s.logger.WarnContext(ctx, "the PostgreSQL memory store is not reachable; retrying on use", slog.String("error", err.Error()))
		}
		return nil
	}
	store, err := OpenStore(ctx, s.cfg, env.DataDir)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.store = store
	s.mu.Unlock()
	return nil
}

// reopen opens the PostgreSQL store unless it is open, the server closed, or the last attempt
// was too recent (then it returns that attempt's error).
func (s *Server) reopen(ctx context.Context) (Store, error) {
	s.openMu.Lock()
	defer s.openMu.Unlock()
	s.mu.RLock()
	st, closed := s.store, s.closed
	s.mu.RUnlock()
	switch {
	case st != nil:
		return st, nil
	case closed || s.cfg.PostgresDSN == "":
		return nil, errNotOpen
	case !s.lastOpen.IsZero() && time.Since(s.lastOpen) < reopenEvery:
		return nil, s.openErr
	}
	s.lastOpen = time.Now()
	st, err := openPostgres(ctx, s.cfg.PostgresDSN)
	if err != nil {
		s.openErr = err
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed { // closed while connecting
		_ = st.Close()
		return nil, errNotOpen
	}
	s.store, s.openErr = st, nil
	return st, nil
}

// OpenStore opens the store the config selects; dataDir holds the SQLite file. The memory
// sub-commands use it to reach the same graph the server serves.
func OpenStore(ctx context.Context, cfg Config, dataDir string) (Store, error) {
	if cfg.PostgresDSN != "" {
		return openPostgres(ctx, cfg.PostgresDSN)
	}
	if dataDir == "" {
		return nil, errors.New("opening the memory store: no data directory (set data_dir)")
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating the memory data directory: %w", err)
	}
	return openSQLite(ctx, filepath.Join(dataDir, "memory.db"))
}

// Readiness pings the store (opening it again when PostgreSQL was down).
func (s *Server) Readiness(ctx context.Context) registry.Readiness {
	st, err := s.storeFor(ctx)
	if err == nil {
		err = st.Ping(ctx)
	}
	if err == nil {
		return registry.Ready()
	}
	if s.cfg.PostgresDSN != "" {
		return registry.NotReady("the PostgreSQL memory store does not answer: "+redact(err, s.cfg.PostgresDSN).Error(),
			"check that the PostgreSQL server of servers.memory.postgres_dsn is up, reachable and accepts the credentials")
	}
	return registry.NotReady("the memory store does not answer: "+err.Error(),
		"check that the data directory is writable and its disk not full, and the hub's log for the error")
}

// Close closes the store.
func (s *Server) Close() error {
	s.mu.Lock()
	st := s.store
	s.store, s.closed = nil, true
	s.mu.Unlock()
	if st == nil {
		return nil
	}
	if err := st.Close(); err != nil {
		return fmt.Errorf("closing the memory store: %w", err)
	}
	return nil
}

func (s *Server) currentStore() Store {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.store
}

// storeFor returns the open store, opening a PostgreSQL one again if it was unreachable.
func (s *Server) storeFor(ctx context.Context) (Store, error) {
	if st := s.currentStore(); st != nil {
		return st, nil
	}
	return s.reopen(ctx)
}

// SharedPrefix starts the stored name of a configured (shared) namespace. Identities cannot
// contain a colon, so no identity's own graph can be a shared one, or the other way round.
const SharedPrefix = "shared:"

// namespace is the graph the caller works on: the configured shared one for its identity, else
// its own, stored under the identity.
func (s *Server) namespace(ctx context.Context) string {
	id := registry.Identity(ctx)
	if ns, ok := s.cfg.Namespaces[id]; ok {
		return SharedPrefix + ns
	}
	return id
}
