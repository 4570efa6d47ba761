// Package knowledge is the knowledge server: hybrid document search over collections of local
// files and URLs, kept fresh in the background, with bounded, citable results.
//
// A collection (servers.knowledge.collections) names files by glob (markdown, plain text, HTML,
// source code), URLs (fetched through the egress policy and refreshed on an interval) and, when
// it is writable, takes text from knowledge_ingest. At start-up an indexer goroutine reads every
// collection (the server reports progress and turns ready when this first pass is done), then
// keeps it fresh: fsnotify events, and a periodic scan of sizes and modification times as a
// fallback, re-index changed, added and deleted files; URLs are fetched again on their interval.
//
// Each document is split by the chunk package along its structure; chunks go to a store.Store
// (SQLite by default: FTS5 BM25 and stored vectors) with their embeddings (package embed). A
// search ranks chunks by keywords, by vectors, or by both fused with reciprocal rank fusion,
// then aggregates them per document, so that one document does not fill the page, and every
// hit names its source, heading trail and line range, with a kb://{collection}/{path} link to
// the document (a resource template, and knowledge_get_document for line ranges).
//
// To add a document format: a case in extract.go that turns the bytes into markdown or text.
// To add a store backend: implement store.Store and pass store/storetest.
package knowledge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mcphub/mcphub/configs"
	"github.com/mcphub/mcphub/egress"
	"github.com/mcphub/mcphub/servers/knowledge/chunk"
	"github.com/mcphub/mcphub/servers/knowledge/embed"
	"github.com/mcphub/mcphub/servers/knowledge/pgstore"
	"github.com/mcphub/mcphub/servers/knowledge/store"
	"github.com/mcphub/mcphub/servers/knowledge/store/sqlite"
	"github.com/mcphub/mcphub/servers/registry"
)

// Config is servers.knowledge.
type Config struct {
	// Collections are the document collections to index and search. There is no default; a
	// server without collections serves empty searches.
	Collections []CollectionConfig `yaml:"collections"`
	// Embedder computes the vectors of semantic search: kind local (the default: static word
	// vectors, no network), openai (an OpenAI-compatible endpoint) or none (keyword only).
	Embedder embed.Config `yaml:"embedder"`
	// ChunkSize is the most bytes of text in one chunk, from 200 to 20000. The default is 1500.
	ChunkSize int `yaml:"chunk_size"`
	// ChunkOverlap is the most bytes of whole lines a chunk repeats from the one before it,
	// from 0 to half of chunk_size. The default is 200.
	ChunkOverlap int `yaml:"chunk_overlap"`
	// MaxFileBytes is the largest file or URL body indexed; larger ones are skipped with an
	// error in knowledge_list_collections. From 1024 to 67108864. The default is 8388608 (8 MiB).
	MaxFileBytes int64 `yaml:"max_file_bytes"`
	// MaxFiles is the most files one collection indexes; the rest are reported as an error.
	// From 1 to 1000000. The default is 100000.
	MaxFiles int `yaml:"max_files"`
	// Watch re-indexes files as they change, through file-system notifications. The periodic
	// scan (scan_interval) runs either way. The default is true.
	Watch *bool `yaml:"watch"`
	// PostgresDSN keeps the index in PostgreSQL (full-text search, and pgvector when the
	// extension is installed) instead of SQLite at <data_dir>/knowledge/index.db, so that
	// several hubs share one index. Take it from the environment ("${KNOWLEDGE_PG_DSN}"); it is
	// never logged. The default is empty (SQLite).
	PostgresDSN string `yaml:"postgres_dsn"`
	// ScanInterval is how often every collection's files are compared with the index by size
	// and modification time, the fallback for changes notifications miss (network file
	// systems, too many directories to watch). At least 1s. The default is 5m.
	ScanInterval configs.Duration `yaml:"scan_interval"`
}

// CollectionConfig is one entry of servers.knowledge.collections.
type CollectionConfig struct {
	// Name identifies the collection in tool calls and kb:// URIs: letters, digits, _ and -,
	// at most 64 characters, unique. It is required.
	Name string `yaml:"name"`
	// Description says what the collection holds, shown by knowledge_list_collections. The
	// default is empty.
	Description string `yaml:"description"`
	// Paths are globs of the files to index, relative to the working directory or absolute.
	// `*` matches within one path segment, `**` any number of segments, `?` one character,
	// `[a-z]` a class; names starting with a dot are matched only by a pattern segment that
	// starts with one. Documents are keyed by their path relative to the deepest directory
	// all the globs share. The default is none.
	Paths []string `yaml:"paths"`
	// Exclude are globs, in the same form as paths, of files not to index. The default is none.
	Exclude []string `yaml:"exclude"`
	// URLs are http(s) pages or files to index, fetched through the egress policy. The default
	// is none.
	URLs []string `yaml:"urls"`
	// RefreshInterval is how often the URLs are fetched again, at least 1s. The default is 1h.
	RefreshInterval configs.Duration `yaml:"refresh_interval"`
	// Writable lets knowledge_ingest add text to this collection; knowledge_ingest is served
	// only when a collection sets it. The default is false.
	Writable bool `yaml:"writable"`
}

// Defaults and bounds of the config.
const (
	defaultMaxFileBytes    = 8 << 20
	minMaxFileBytes        = 1024
	maxMaxFileBytes        = 64 << 20
	defaultMaxFiles        = 100000
	maxMaxFiles            = 1000000
	defaultScanInterval    = 5 * time.Minute
	defaultRefreshInterval = time.Hour
	minInterval            = time.Second
	minChunkSize           = 200
	maxChunkSize           = 20000
)

var collectionNamePattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// Server is the knowledge server.
type Server struct {
	cfg    Config
	logger *slog.Logger
	budget int

	dataDir string
	st      store.Store
	emb     embed.Embedder // nil: keyword only
	embErr  error          // why the configured embedder is not running, if it is not
	policy  *egress.Policy
	client  *http.Client

	colls  []*collection
	byName map[string]*collection

	// index work: one writer goroutine, woken by these.
	wake    chan struct{}
	ready   chan struct{} // closed when the first pass is done
	stop    context.CancelFunc
	done    chan struct{}
	watcher *watcher

	mu        sync.Mutex
	firstDone bool
	startedAt time.Time

	// embedFailures counts chunks written without vectors; embedClean says the catch-up found
	// nothing pending since the last failure, so that searches need not count (a count costs a
	// scan of the vector table). unembeddedCache holds the last count for a moment otherwise.
	embedFailures atomic.Int64
	embedClean    atomic.Bool
	unembeddedAt  time.Time
	unembeddedN   int
}

var (
	_ registry.ConfigDecoder     = (*Server)(nil)
	_ registry.Provisioner       = (*Server)(nil)
	_ registry.Validator         = (*Server)(nil)
	_ registry.ReadinessReporter = (*Server)(nil)
	_ registry.ToolSelector      = (*Server)(nil)
	_ registry.ResourceProvider  = (*Server)(nil)
	_ io.Closer                  = (*Server)(nil)
)

// New returns the knowledge server, unconfigured.
func New() registry.Server {
	return &Server{budget: 64 << 10, logger: slog.New(slog.DiscardHandler)}
}

// DecodeConfig decodes servers.knowledge strictly and fills in the defaults.
func (s *Server) DecodeConfig(section *configs.ServerSection) error {
	if err := section.Decode(&s.cfg); err != nil {
		return err
	}
	s.cfg.defaults()
	return nil
}

func (c *Config) defaults() {
	c.Embedder.Defaults()
	if c.ChunkSize == 0 {
		c.ChunkSize = chunk.DefaultMaxChars
	}
	if c.ChunkOverlap == 0 {
		c.ChunkOverlap = min(chunk.DefaultOverlap, c.ChunkSize/2)
	}
	if c.MaxFileBytes == 0 {
		c.MaxFileBytes = defaultMaxFileBytes
	}
	if c.MaxFiles == 0 {
		c.MaxFiles = defaultMaxFiles
	}
	if c.Watch == nil {
		t := true
		c.Watch = &t
	}
	if c.ScanInterval == 0 {
		c.ScanInterval = configs.Duration(defaultScanInterval)
	}
	for i := range c.Collections {
		if c.Collections[i].RefreshInterval == 0 {
			c.Collections[i].RefreshInterval = configs.Duration(defaultRefreshInterval)
		}
	}
}

// Validate checks the collections and limits.
func (s *Server) Validate() error {
	var errs []error
	problem := func(path, format string, args ...any) {
		errs = append(errs, &configs.Problem{Path: path, Msg: fmt.Sprintf(format, args...)})
	}
	const p = "servers.knowledge"
	c := s.cfg
	if err := c.Embedder.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.ChunkSize < minChunkSize || c.ChunkSize > maxChunkSize {
		problem(p+".chunk_size", "must be between %d and %d", minChunkSize, maxChunkSize)
	}
	if c.ChunkOverlap < 0 || c.ChunkOverlap > c.ChunkSize/2 {
		problem(p+".chunk_overlap", "must be between 0 and half of chunk_size (%d)", c.ChunkSize/2)
	}
	if c.MaxFileBytes < minMaxFileBytes || c.MaxFileBytes > maxMaxFileBytes {
		problem(p+".max_file_bytes", "must be between %d and %d", minMaxFileBytes, maxMaxFileBytes)
	}
	if c.MaxFiles < 1 || c.MaxFiles > maxMaxFiles {
		problem(p+".max_files", "must be between 1 and %d", maxMaxFiles)
	}
	if c.ScanInterval.D() < minInterval {
		problem(p+".scan_interval", "must be at least %s", minInterval)
	}
	seen := map[string]bool{}
	for i, cc := range c.Collections {
		cp := fmt.Sprintf("%s.collections[%d]", p, i)
		switch {
		case cc.Name == "":
			problem(cp+".name", "is required")
		case !collectionNamePattern.MatchString(cc.Name):
			problem(cp+".name", "must be 1 to 64 letters, digits, _ or -")
		case seen[cc.Name]:
			problem(cp+".name", "%q is used by another collection", cc.Name)
		}
		seen[cc.Name] = true
		if len(cc.Paths) == 0 && len(cc.URLs) == 0 && !cc.Writable {
			problem(cp, "needs paths, urls, or writable: true")
		}
		for j, g := range cc.Paths {
			if err := checkGlob(g); err != nil {
				problem(fmt.Sprintf("%s.paths[%d]", cp, j), "%v", err)
			}
		}
		for j, g := range cc.Exclude {
			if err := checkGlob(g); err != nil {
				problem(fmt.Sprintf("%s.exclude[%d]", cp, j), "%v", err)
			}
		}
		for j, raw := range cc.URLs {
			if err := checkURL(raw); err != nil {
				problem(fmt.Sprintf("%s.urls[%d]", cp, j), "%v", err)
			}
		}
		if cc.RefreshInterval.D() < minInterval {
			problem(cp+".refresh_interval", "must be at least %s", minInterval)
		}
	}
	return errors.Join(errs...)
}

func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("is not a URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("must be an http or https URL, got %q", raw)
	}
	if u.Host == "" {
		return errors.New("has no host")
	}
	if u.User != nil {
		return errors.New("must not carry credentials")
	}
	return nil
}

// Provision opens the index under the data dir, builds the embedder (an unavailable one is
// reported, and search falls back to keywords), and starts the indexer. It returns before the
// first pass is done: Readiness reports the progress.
func (s *Server) Provision(ctx context.Context, env registry.Env) error {
	if env.Logger != nil {
		s.logger = env.Logger
	}
	if env.Config != nil && env.Config.Limits.OutputBudgetBytes > 0 {
		s.budget = env.Config.Limits.OutputBudgetBytes
	}
	s.dataDir = env.DataDir
	if abs, err := filepath.Abs(s.dataDir); err == nil {
		s.dataDir = abs // compared with the absolute paths of file events
	}
	if err := os.MkdirAll(s.dataDir, 0o700); err != nil { // the index holds the documents' text
		return fmt.Errorf("creating the knowledge data directory: %w", err)
	}
	pol, err := egress.ForHub(env.Config)
	if err != nil {
		return fmt.Errorf("building the egress policy: %w", err)
	}
	s.policy = pol
	s.client = pol.Client(egress.ClientOptions{Timeout: 60 * time.Second})

	if s.cfg.PostgresDSN != "" {
		// pgstore's errors never quote the DSN.
		st, err := pgstore.Open(ctx, s.cfg.PostgresDSN, pgstore.Options{})
		if err != nil {
			return err
		}
		s.st = st
	} else {
		st, err := sqlite.Open(ctx, filepath.Join(s.dataDir, "index.db"))
		if err != nil {
			return fmt.Errorf("opening the knowledge index: %w", err)
		}
		s.st = st
	}

	s.byName = map[string]*collection{}
	for _, cc := range s.cfg.Collections {
		if cc.Name == "" || s.byName[cc.Name] != nil {
			continue // Validate reports it
		}
		c := newCollection(cc)
		s.colls = append(s.colls, c)
		s.byName[cc.Name] = c
	}

	if s.cfg.Embedder.Validate() == nil {
		emb, err := embed.New(ctx, s.cfg.Embedder, embed.Env{DataDir: s.dataDir,
			HTTP: pol.Client(egress.ClientOptions{Timeout: s.cfg.Embedder.Timeout.D()}), Logger: s.logger})
		switch {
		case err != nil:
			s.embErr = err
			s.logger.WarnContext(ctx, "knowledge embedder unavailable; searches use keywords only",
				slog.String("error", err.Error()))
		case emb != nil:
			s.emb = emb
			s.logger.InfoContext(ctx, "knowledge embedder ready", slog.String("embedder", emb.ID()), slog.Int("dim", emb.Dim()))
		}
	}

	s.wake = make(chan struct{}, 1)
	s.ready = make(chan struct{})
	s.done = make(chan struct{})
	s.startedAt = time.Now()
	// The indexer outlives Provision's context: it runs until Close.
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.stop = cancel
	if *s.cfg.Watch {
		w, err := newWatcher(s.logger)
		if err != nil {
			s.logger.WarnContext(ctx, "knowledge: file watching unavailable; changes are found by the periodic scan",
				slog.String("error", err.Error()))
		} else {
			s.watcher = w
		}
	}
	go s.run(runCtx)
	return nil
}

// Readiness is ready once the first indexing pass is done; before, it says how far it got.
func (s *Server) Readiness(context.Context) registry.Readiness {
	if s.st == nil {
		return registry.NotReady("the knowledge index is not open", "see the hub's log for the error at start-up")
	}
	s.mu.Lock()
	done := s.firstDone
	s.mu.Unlock()
	if !done {
		var files, indexed int
		for _, c := range s.colls {
			p := c.progress()
			files += p.Seen
			indexed += p.Indexed
		}
		return registry.NotReady(fmt.Sprintf("indexing the collections for the first time: %d of %d sources read so far", indexed, files),
			"wait: the server turns ready when the first pass is done; searches meanwhile answer from what is indexed")
	}
	return registry.Ready()
}

// Close stops the indexer and closes the index.
func (s *Server) Close() error {
	if s.stop != nil {
		s.stop()
		<-s.done
	}
	var errs []error
	if s.watcher != nil {
		errs = append(errs, s.watcher.close())
	}
	if s.st != nil {
		errs = append(errs, s.st.Close())
	}
	return errors.Join(errs...)
}

// Tools returns the four knowledge tools.
func (s *Server) Tools() []registry.Tool {
	return []registry.Tool{s.searchTool(), s.getDocumentTool(), s.listCollectionsTool(), s.ingestTool()}
}

// ToolEnabled serves knowledge_ingest only when a collection is writable.
func (s *Server) ToolEnabled(name string) bool {
	if name != ingestToolName {
		return true
	}
	for _, c := range s.cfg.Collections {
		if c.Writable {
			return true
		}
	}
	return false
}

// isReady reports whether the first pass is done.
func (s *Server) isReady() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.firstDone
}

// collectionNames lists the configured collections.
func (s *Server) collectionNames() string {
	names := make([]string, len(s.colls))
	for i, c := range s.colls {
		names[i] = c.cfg.Name
	}
	if len(names) == 0 {
		return "(none: add one under servers.knowledge.collections)"
	}
	return strings.Join(names, ", ")
}
