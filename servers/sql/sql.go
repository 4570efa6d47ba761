// Package sql is the sql server: read-only SQL over named relational sources (SQLite through the
// pure-Go modernc driver, PostgreSQL through pgx). It lists tables, describes them and runs
// queries, with the database itself enforcing read-only access (a read-only SQLite connection with
// query_only and an authorizer; a READ ONLY PostgreSQL transaction with statement_timeout) behind
// a statement classifier that explains refusals. DSNs never appear in results, logs or errors.
//
// A source with allow_writes also takes sql_execute: one DML statement (DDL with allow_ddl),
// classified in write mode, run on a read-write SQLite connection whose authorizer still denies
// ATTACH, pragmas and file functions, or in a READ WRITE PostgreSQL transaction committed on
// success. sql_query stays read-only on every source.
//
// To support another engine, add it to parseDSN, give it a query path in source.go that the
// database keeps read-only, and introspection queries in introspect.go.
package sql

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/mcphub/mcphub/configs"
	"github.com/mcphub/mcphub/servers/registry"
)

// Config is servers.sql.
type Config struct {
	// Sources are the databases the tools can read, at least one. A tool's source argument
	// names one of them; it may be left out when there is exactly one. There is no default.
	Sources []SourceConfig `yaml:"sources"`
}

// SourceConfig is one entry of servers.sql.sources.
type SourceConfig struct {
	// Name identifies the source in tool calls: letters, digits, _ and -, at most 64
	// characters, unique. It is required.
	Name string `yaml:"name"`
	// DSN locates the database: sqlite:///absolute/path.db or sqlite://relative/path.db (relative
	// to the working directory; the file must exist), or postgres://user:${PGPASSWORD}@host:5432/db
	// (postgresql:// too, with the usual libpq URL parameters). Put credentials in environment
	// variables with ${VAR}: the DSN is never shown in results, logs or errors. It is required.
	DSN string `yaml:"dsn"`
	// MaxRows is the most rows one sql_query call returns; a query with more says so. Between 1
	// and 100000. The default is 1000.
	MaxRows int `yaml:"max_rows"`
	// Timeout bounds one query; the database server cancels it at this deadline. Between 1ms
	// and 10m. The default is 30s. limits.tool_timeout still bounds the whole call.
	Timeout configs.Duration `yaml:"timeout"`
	// MaxOpenConns bounds the connections mcphub opens to this database at once, between 1 and
	// 100. The default is 4.
	MaxOpenConns int `yaml:"max_open_conns"`
	// AllowWrites lets sql_execute run INSERT, UPDATE, DELETE and MERGE (REPLACE on SQLite) on
	// this source, committed when they succeed; sql_query stays read-only. The hub serves
	// sql_execute only when at least one source sets it. The default is false.
	AllowWrites bool `yaml:"allow_writes"`
	// AllowDDL also lets sql_execute create, alter and drop tables, indexes, views, sequences,
	// schemas, types and domains and run TRUNCATE on this source; it needs allow_writes. The
	// default is false.
	AllowDDL bool `yaml:"allow_ddl"`
}

// Defaults of a source.
const (
	defaultMaxRows      = 1000
	defaultTimeout      = 30 * time.Second
	defaultMaxOpenConns = 4
	maxMaxRows          = 100000
	maxTimeout          = 10 * time.Minute
	maxMaxOpenConns     = 100
	// pingTimeout bounds the connection check at provisioning and readiness.
	pingTimeout = 2 * time.Second
)

var sourceNamePattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// Server is the sql server.
type Server struct {
	cfg     Config
	sources []*source
	byName  map[string]*source
	budget  int
	logger  *slog.Logger
}

var (
	_ registry.ConfigDecoder     = (*Server)(nil)
	_ registry.Provisioner       = (*Server)(nil)
	_ registry.Validator         = (*Server)(nil)
	_ registry.ReadinessReporter = (*Server)(nil)
	_ registry.ToolSelector      = (*Server)(nil)
	_ io.Closer                  = (*Server)(nil)
)

// New returns the sql server, unconfigured.
func New() registry.Server { return &Server{budget: 64 << 10, logger: slog.New(slog.DiscardHandler)} }

// DecodeConfig decodes servers.sql strictly and fills in each source's defaults.
func (s *Server) DecodeConfig(section *configs.ServerSection) error {
	if err := section.Decode(&s.cfg); err != nil {
		return err
	}
	for i := range s.cfg.Sources {
		src := &s.cfg.Sources[i]
		if src.MaxRows == 0 {
			src.MaxRows = defaultMaxRows
		}
		if src.Timeout == 0 {
			src.Timeout = configs.Duration(defaultTimeout)
		}
		if src.MaxOpenConns == 0 {
			src.MaxOpenConns = defaultMaxOpenConns
		}
	}
	return nil
}

// Validate checks the sources: names, DSNs (without quoting them) and limits.
func (s *Server) Validate() error {
	var errs []error
	problem := func(path, format string, args ...any) {
		errs = append(errs, &configs.Problem{Path: path, Msg: fmt.Sprintf(format, args...)})
	}
	if len(s.cfg.Sources) == 0 {
		problem("servers.sql.sources", `needs at least one source, such as {name: main, dsn: "sqlite:///path/to/file.db"}`)
	}
	seen := map[string]bool{}
	for i, src := range s.cfg.Sources {
		p := fmt.Sprintf("servers.sql.sources[%d]", i)
		switch {
		case src.Name == "":
			problem(p+".name", "is required")
		case !sourceNamePattern.MatchString(src.Name):
			problem(p+".name", "must be 1 to 64 letters, digits, _ or -")
		case seen[src.Name]:
			problem(p+".name", "%q is used by another source", src.Name)
		}
		seen[src.Name] = true
		if src.DSN == "" {
			problem(p+".dsn", "is required")
		} else if _, err := parseDSN(src.DSN); err != nil {
			problem(p+".dsn", "%v", err)
		}
		if src.MaxRows < 1 || src.MaxRows > maxMaxRows {
			problem(p+".max_rows", "must be between 1 and %d", maxMaxRows)
		}
		if d := src.Timeout.D(); d < time.Millisecond || d > maxTimeout {
			problem(p+".timeout", "must be between 1ms and %s", maxTimeout)
		}
		if src.MaxOpenConns < 1 || src.MaxOpenConns > maxMaxOpenConns {
			problem(p+".max_open_conns", "must be between 1 and %d", maxMaxOpenConns)
		}
		if src.AllowDDL && !src.AllowWrites {
			problem(p+".allow_ddl", "needs allow_writes: true on the same source")
		}
	}
	return errors.Join(errs...)
}

// Provision opens a pool per source without failing for an unreachable database: that is
// reported by Readiness and by the tools, while the other sources work. Sources whose config is
// invalid are skipped here; Validate, which runs next, reports them.
func (s *Server) Provision(ctx context.Context, env registry.Env) error {
	if env.Logger != nil {
		s.logger = env.Logger
	}
	if env.Config != nil && env.Config.Limits.OutputBudgetBytes > 0 {
		s.budget = env.Config.Limits.OutputBudgetBytes
	}
	s.byName = make(map[string]*source, len(s.cfg.Sources))
	for i, cfg := range s.cfg.Sources {
		t, err := parseDSN(cfg.DSN)
		if err != nil || cfg.Name == "" || s.byName[cfg.Name] != nil {
			continue
		}
		src := &source{name: cfg.Name, index: i, cfg: cfg, target: t}
		src.open()
		s.sources = append(s.sources, src)
		s.byName[cfg.Name] = src
	}
	// A first connection per source, in parallel and bounded, so that the log says early which
	// sources cannot be reached.
	pctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	var wg sync.WaitGroup
	for _, src := range s.sources {
		wg.Go(func() {
			if err := src.ping(pctx); err != nil {
				s.logger.WarnContext(ctx, "sql source not reachable; its tools report errors until it is",
					slog.String("source", src.name), slog.String("error", err.Error()))
			}
		})
	}
	wg.Wait()
	return nil
}

// Readiness checks every source in parallel and names the ones that do not answer.
func (s *Server) Readiness(ctx context.Context) registry.Readiness {
	ctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	errs := make([]error, len(s.sources))
	var wg sync.WaitGroup
	for i, src := range s.sources {
		wg.Go(func() { errs[i] = src.ping(ctx) })
	}
	wg.Wait()
	var bad, good, keys []string
	for i, err := range errs {
		if err != nil {
			bad = append(bad, err.Error())
			keys = append(keys, fmt.Sprintf("servers.sql.sources[%d].dsn", s.sources[i].index))
		} else {
			good = append(good, s.sources[i].name)
		}
	}
	if len(bad) == 0 {
		return registry.Ready()
	}
	reason := strings.Join(bad, "; ")
	if len(good) > 0 {
		reason += fmt.Sprintf(" (sources %s work)", strings.Join(good, ", "))
	}
	return registry.NotReady(reason, "start the database, or correct "+strings.Join(keys, " and ")+
		" and the environment variables it uses (host, port, credentials, file path), then restart mcphub")
}

// Close closes every pool.
func (s *Server) Close() error {
	var errs []error
	for _, src := range s.sources {
		src.stopWorkers()
		if err := src.close(); err != nil {
			errs = append(errs, fmt.Errorf("closing source %q: %w", src.name, err))
		}
	}
	s.sources, s.byName = nil, nil
	return errors.Join(errs...)
}

// Tools returns sql_list_tables, sql_describe_table, sql_query and sql_execute.
func (s *Server) Tools() []registry.Tool {
	return []registry.Tool{s.listTablesTool(), s.describeTableTool(), s.queryTool(), s.executeTool()}
}

// ToolEnabled serves sql_execute only when a source allows writes.
func (s *Server) ToolEnabled(name string) bool {
	if name != executeToolName {
		return true
	}
	for _, src := range s.cfg.Sources {
		if src.AllowWrites {
			return true
		}
	}
	return false
}

// pick returns the source a call names, or a message listing the configured ones.
func (s *Server) pick(name string) (*source, string) {
	if name == "" {
		if len(s.sources) == 1 {
			return s.sources[0], ""
		}
		return nil, "the source argument is required: this hub has the sources " + s.sourceNames()
	}
	if src, ok := s.byName[name]; ok {
		return src, ""
	}
	if len(s.sources) == 0 {
		return nil, "no sql source is configured: add one under servers.sql.sources in the hub's config"
	}
	return nil, fmt.Sprintf("unknown source %q: this hub has the sources %s", name, s.sourceNames())
}

func (s *Server) sourceNames() string {
	names := make([]string, len(s.sources))
	for i, src := range s.sources {
		names[i] = src.name
	}
	return strings.Join(names, ", ")
}
