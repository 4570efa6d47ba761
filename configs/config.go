package configs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Config is the whole configuration of one mcphub process.
type Config struct {
	// Listen is the host:port the HTTP transport listens on. The default is 127.0.0.1:8080.
	// A host beyond loopback needs auth.api_keys or auth.allow_unauthenticated.
	Listen string `yaml:"listen"`
	// DataDir is the directory for the hub's and the servers' data; a relative path is taken
	// from the working directory, and "~" is not expanded. The default is $MCPHUB_DATA when
	// set, else ~/.local/share/mcphub.
	DataDir string `yaml:"data_dir"`
	// Log configures the process log.
	Log LogConfig `yaml:"log"`
	// HTTP configures the HTTP transport.
	HTTP HTTPConfig `yaml:"http"`
	// Limits bounds tool calls across the hub.
	Limits LimitsConfig `yaml:"limits"`
	// Egress is the policy for every outbound request that a server makes.
	Egress EgressConfig `yaml:"egress"`
	// Auth configures who may call the HTTP transport.
	Auth AuthConfig `yaml:"auth"`
	// Servers holds one section per server, keyed by the server's name. The default is an
	// empty map: every server has its own default for enabled.
	Servers map[string]*ServerSection `yaml:"servers"`
}

// LogConfig configures the process log.
type LogConfig struct {
	// Level is the lowest level logged: debug, info, warn or error. The default is info.
	Level string `yaml:"level"`
}

// HTTPConfig configures the HTTP transport.
type HTTPConfig struct {
	// AllowedOrigins lists the browser origins allowed to call the hub, each written exactly
	// as scheme://host[:port] with scheme http or https. A request whose Origin header is not
	// listed gets 403. The default is none.
	AllowedOrigins []string `yaml:"allowed_origins"`
	// AllowedHosts lists the Host header values accepted besides loopback names, each a host
	// or host:port. The default is none.
	AllowedHosts []string `yaml:"allowed_hosts"`
	// MaxBodyBytes is the largest request body accepted, from 1 to 1073741824. The default
	// is 4194304 (4 MiB).
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// SessionIdleTTL is how long an MCP session may stay idle before it is closed, at least
	// 1m. The default is 15m.
	SessionIdleTTL Duration `yaml:"session_idle_ttl"`
	// ShutdownTimeout is how long a graceful shutdown waits for requests in flight. The
	// default is 30s.
	ShutdownTimeout Duration `yaml:"shutdown_timeout"`
	// ReadHeaderTimeout is how long a client may take to send request headers. The default
	// is 10s.
	ReadHeaderTimeout Duration `yaml:"read_header_timeout"`
	// ReadBodyTimeout is how long a client may take to send a request body, so that a slow
	// upload cannot hold a request slot. The default is 30s.
	ReadBodyTimeout Duration `yaml:"read_body_timeout"`
	// HeartbeatInterval is how often an idle event stream gets a keep-alive. The default is
	// 25s.
	HeartbeatInterval Duration `yaml:"heartbeat_interval"`
	// MaxConcurrentRequests is how many MCP requests (open streams included) are served at
	// once; more are refused with 503 and Retry-After rather than queued. The default is 512.
	MaxConcurrentRequests int `yaml:"max_concurrent_requests"`
}

// LimitsConfig bounds tool calls across the hub.
type LimitsConfig struct {
	// ToolTimeout is the deadline of one call to a tool that declares none. The default is
	// 60s.
	ToolTimeout Duration `yaml:"tool_timeout"`
	// OutputBudgetBytes is the largest result of a tool that declares no budget of its own,
	// at least 1024. The default is 65536.
	OutputBudgetBytes int `yaml:"output_budget_bytes"`
	// MaxConcurrentCalls is how many tool calls run at once across the hub; more wait, up to
	// their own deadline, then get a "busy" error result. The default is 64.
	MaxConcurrentCalls int `yaml:"max_concurrent_calls"`
}

// EgressConfig is the policy for every outbound request: fetch, URL collections, browser
// requests and embedding endpoints. Each entry is a CIDR (10.0.0.0/8), an IP address, or a
// host name pattern (example.com, or *.example.com for its subdomains).
type EgressConfig struct {
	// Allow lists hosts and networks allowed despite the rule that refuses private, loopback,
	// link-local and metadata addresses. The default is none.
	Allow []string `yaml:"allow"`
	// Deny lists hosts and networks always refused, even when Allow lists them. The default
	// is none.
	Deny []string `yaml:"deny"`
}

// AuthConfig configures who may call the HTTP transport.
type AuthConfig struct {
	// APIKeys lists the callers and their bearer keys. The default is none.
	APIKeys []APIKey `yaml:"api_keys"`
	// AllowUnauthenticated permits listening beyond loopback without API keys, for a hub
	// behind a proxy that authenticates. The default is false.
	AllowUnauthenticated bool `yaml:"allow_unauthenticated"`
}

// APIKey is one caller's bearer key. Its String, GoString and LogValue leave the key out,
// and its MarshalJSON and MarshalYAML write it as "[redacted]", so that neither a log line
// nor a printed config shows it.
type APIKey struct {
	// Identity names the caller in logs, audit records and per-identity state: 1 to 64 of
	// A-Z a-z 0-9 . _ @ -, unique. It has no default.
	Identity string `yaml:"identity"`
	// Key is the bearer token, at least 16 characters, unique; take it from the environment
	// with ${VAR}. It has no default.
	Key string `yaml:"key"`
}

var (
	_ fmt.Stringer   = APIKey{}
	_ fmt.GoStringer = APIKey{}
	_ slog.LogValuer = APIKey{}
	_ json.Marshaler = APIKey{}
	_ yaml.Marshaler = APIKey{}
)

// redactedKey stands for a key wherever an APIKey is printed.
const redactedKey = "[redacted]"

// String returns the identity and leaves the key out.
func (k APIKey) String() string { return k.Identity + " (key redacted)" }

// GoString is String, so that %#v leaves the key out too.
func (k APIKey) GoString() string { return k.String() }

// LogValue logs the identity only.
func (k APIKey) LogValue() slog.Value {
	return slog.GroupValue(slog.String("identity", k.Identity))
}

// redacted is k with its key replaced; a distinct type, so marshalling it does not recurse.
func (k APIKey) redacted() any {
	return struct {
		Identity string `json:"identity" yaml:"identity"`
		Key      string `json:"key" yaml:"key"`
	}{k.Identity, redactedKey}
}

// MarshalJSON writes the identity and "[redacted]" for the key.
func (k APIKey) MarshalJSON() ([]byte, error) { return json.Marshal(k.redacted()) }

// MarshalYAML writes the identity and "[redacted]" for the key.
func (k APIKey) MarshalYAML() (any, error) { return k.redacted(), nil }

// Default returns the configuration used without a config file: every default filled in.
// It is the one place where defaults are written.
func Default() *Config {
	return &Config{
		Listen:  "127.0.0.1:8080",
		DataDir: defaultDataDir(),
		Log:     LogConfig{Level: "info"},
		HTTP: HTTPConfig{
			MaxBodyBytes:          4 << 20,
			SessionIdleTTL:        Duration(15 * time.Minute),
			ShutdownTimeout:       Duration(30 * time.Second),
			ReadHeaderTimeout:     Duration(10 * time.Second),
			ReadBodyTimeout:       Duration(30 * time.Second),
			HeartbeatInterval:     Duration(25 * time.Second),
			MaxConcurrentRequests: 512,
		},
		Limits: LimitsConfig{
			ToolTimeout:        Duration(60 * time.Second),
			OutputBudgetBytes:  64 << 10,
			MaxConcurrentCalls: 64,
		},
		Servers: map[string]*ServerSection{},
	}
}

// defaultDataDir returns $MCPHUB_DATA, else ~/.local/share/mcphub, else "" (which Validate
// reports) when there is no home directory.
func defaultDataDir() string {
	if dir := os.Getenv("MCPHUB_DATA"); dir != "" {
		return dir
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	return filepath.Join(home, ".local", "share", "mcphub")
}

// Load reads the config file at path with Parse. An empty path means no file: Default,
// validated. A file that cannot be read is an error that is not a *Problem.
func Load(path string) (*Config, error) {
	if path == "" {
		cfg := Default()
		return cfg, cfg.Validate()
	}
	data, err := os.ReadFile(path) //nolint:gosec // G304: reading the file the operator named is the point
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	return Parse(data)
}

// Parse decodes a YAML config strictly over Default, expands environment references, and
// validates the result. Every problem is returned, joined, each a *Problem with its path.
// The config is returned even when there are problems, so that callers can go on reporting;
// it is nil only when data is not YAML at all. An empty document gives the defaults; of
// several documents, the first is decoded and the others are a problem.
func Parse(data []byte) (*Config, error) {
	return parse(data, os.LookupEnv)
}

func parse(data []byte, lookup func(string) (string, bool)) (*Config, error) {
	root, extra, err := parseDocument(data)
	if err != nil {
		return nil, err
	}
	cfg := Default()
	d := newDecoder(nil)
	if extra != nil {
		d.add(extra.Path, "%s", extra.Msg)
	}
	if root != nil {
		d.expandEnvNodes(root, "", lookup)
		d.decode(root, reflect.ValueOf(cfg).Elem(), "")
	}
	cfg.normalize()

	if !d.exhausted {
		cfg.validate(&d.problemList)
	}
	return cfg, d.err()
}

// parseDocument parses data as one YAML document and returns its root, or nil when data
// holds no document. When data holds more than one, it returns the first and the problem
// extra. When data is not YAML, err is a *Problem.
func parseDocument(data []byte) (root *yaml.Node, extra *Problem, err error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var first yaml.Node
	if err := dec.Decode(&first); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil, nil
		}
		return nil, nil, &Problem{Msg: "invalid YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, nil, &Problem{Msg: "invalid YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")}
	default:
		extra = &Problem{Msg: fmt.Sprintf("the config must be one YAML document, found another at line %d: remove the second \"---\"", max(next.Line, 1))}
	}
	if len(first.Content) == 0 || isNull(first.Content[0]) {
		return nil, extra, nil
	}
	return &first, extra, nil
}

// normalize puts values that are compared case-insensitively in lower case, and replaces
// nil sections (a server written as "name:" alone) by empty ones.
func (c *Config) normalize() {
	lower := func(list []string) {
		for i, s := range list {
			list[i] = strings.ToLower(s)
		}
	}
	lower(c.HTTP.AllowedOrigins)
	lower(c.HTTP.AllowedHosts)
	lower(c.Egress.Allow)
	lower(c.Egress.Deny)
	if c.Servers == nil {
		c.Servers = map[string]*ServerSection{}
	}
	for name, s := range c.Servers {
		if s == nil {
			c.Servers[name] = NewServerSection(name, nil)
		}
	}
}
