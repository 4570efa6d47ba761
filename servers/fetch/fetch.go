// Package fetch is the fetch server: one tool, fetch_url, that reads a web page for a model. An
// HTML page comes back as its main content in Markdown (or plain text), through
// internal/readable; text and JSON come back as they are; anything else is refused. Long content
// is paginated by character offset within the hub's output budget.
//
// Every request goes through the hub's egress policy (package egress): http and https only, the
// resolved address checked (loopback, private, link-local and metadata addresses refused unless
// egress.allow lists them), the checked address dialled, every redirect checked again. A refusal
// is a tool result with isError whose message names the policy, never a failed connection.
package fetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"
	"unicode"

	"github.com/mcphub/mcphub/configs"
	"github.com/mcphub/mcphub/egress"
	"github.com/mcphub/mcphub/servers/registry"
)

// Config is servers.fetch.
type Config struct {
	// MaxResponseBytes bounds the body read from one response, after decompression. A longer
	// body is cut there and the result says so. The default is 5242880 (5 MiB); at most
	// 268435456.
	MaxResponseBytes int64 `yaml:"max_response_bytes"`
	// Timeout bounds one fetch: connecting, redirects and reading the body. The default is 30s;
	// at most 90s.
	Timeout configs.Duration `yaml:"timeout"`
	// MaxRedirects is how many redirects one fetch follows, each checked again by the egress
	// policy; 0 follows none. The default is 5; at most 20.
	MaxRedirects int `yaml:"max_redirects"`
	// UserAgent is the User-Agent header sent. The default is empty: the egress client's
	// "mcphub (+egress-guarded)".
	UserAgent string `yaml:"user_agent"`
}

// Defaults and bounds of Config and of the tool.
const (
	defaultMaxResponseBytes = 5 << 20
	maxMaxResponseBytes     = 256 << 20
	defaultTimeout          = 30 * time.Second
	maxTimeout              = 90 * time.Second
	defaultMaxRedirects     = 5
	maxRedirectsLimit       = 20
	// toolTimeout is the tool's deadline: the longest fetch plus time to convert.
	toolTimeout = maxTimeout + 30*time.Second
	// maxConcurrent bounds fetches in flight; each holds up to max_response_bytes.
	maxConcurrent = 16
	// errorSnippetBytes is how much of an error page's text an HTTP error result shows.
	errorSnippetBytes = 1024
)

// Server is the fetch server.
type Server struct {
	cfg    Config
	logger *slog.Logger
	budget int // the hub's output budget: each page of content fits in it
	policy *egress.Policy
	client *http.Client
	cache  *pageCache
}

var (
	_ registry.Server        = (*Server)(nil)
	_ registry.ConfigDecoder = (*Server)(nil)
	_ registry.Provisioner   = (*Server)(nil)
	_ registry.Validator     = (*Server)(nil)
	_ io.Closer              = (*Server)(nil)
)

// New returns the fetch server, unconfigured and without side effects.
func New() registry.Server {
	return &Server{cfg: defaultConfig(), budget: 64 << 10, logger: slog.New(slog.DiscardHandler), cache: newPageCache()}
}

func defaultConfig() Config {
	return Config{
		MaxResponseBytes: defaultMaxResponseBytes,
		Timeout:          configs.Duration(defaultTimeout),
		MaxRedirects:     defaultMaxRedirects,
	}
}

// DecodeConfig decodes servers.fetch over the defaults.
func (s *Server) DecodeConfig(section *configs.ServerSection) error {
	s.cfg = defaultConfig()
	return section.Decode(&s.cfg)
}

// Validate checks the bounds of the configured values.
func (s *Server) Validate() error {
	var errs []error
	problem := func(key, format string, args ...any) {
		errs = append(errs, &configs.Problem{Path: "servers.fetch." + key, Msg: fmt.Sprintf(format, args...)})
	}
	if s.cfg.MaxResponseBytes < 1024 || s.cfg.MaxResponseBytes > maxMaxResponseBytes {
		problem("max_response_bytes", "must be between 1024 and %d, got %d", maxMaxResponseBytes, s.cfg.MaxResponseBytes)
	}
	if d := s.cfg.Timeout.D(); d < time.Second || d > maxTimeout {
		problem("timeout", "must be between 1s and %s, got %s", maxTimeout, s.cfg.Timeout)
	}
	if s.cfg.MaxRedirects < 0 || s.cfg.MaxRedirects > maxRedirectsLimit {
		problem("max_redirects", "must be between 0 and %d, got %d", maxRedirectsLimit, s.cfg.MaxRedirects)
	}
	if len(s.cfg.UserAgent) > 256 || strings.IndexFunc(s.cfg.UserAgent, unicode.IsControl) >= 0 {
		problem("user_agent", "must be at most 256 characters without control characters")
	}
	return errors.Join(errs...)
}

// Provision builds the egress policy from the hub's config and the client that uses it.
func (s *Server) Provision(_ context.Context, env registry.Env) error {
	if env.Logger != nil {
		s.logger = env.Logger
	}
	if env.Config != nil && env.Config.Limits.OutputBudgetBytes > 0 {
		s.budget = env.Config.Limits.OutputBudgetBytes
	}
	pol, err := egress.ForHub(env.Config)
	if err != nil {
		return fmt.Errorf("building the egress policy: %w", err)
	}
	redirects := s.cfg.MaxRedirects
	if redirects == 0 {
		redirects = -1 // egress: a negative value follows none, zero means its default
	}
	s.policy = pol
	s.client = pol.Client(egress.ClientOptions{
		Timeout:      s.cfg.Timeout.D(),
		MaxRedirects: redirects,
		UserAgent:    s.cfg.UserAgent,
	})
	return nil
}

// Close drops idle connections.
func (s *Server) Close() error {
	if s.client != nil {
		s.client.CloseIdleConnections()
	}
	return nil
}
