package configs

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func TestValidate(t *testing.T) {
	key := func(id, k string) APIKey { return APIKey{Identity: id, Key: k} }
	const k1, k2 = "0123456789abcdef", "fedcba9876543210"
	tests := []struct {
		name   string
		mutate func(c *Config)
		want   []string
	}{
		{"defaults", func(*Config) {}, nil},
		{"loopback ipv6", func(c *Config) { c.Listen = "[::1]:0" }, nil},
		{"localhost", func(c *Config) { c.Listen = "localhost:8080" }, nil},
		{"loopback range", func(c *Config) { c.Listen = "127.1.2.3:65535" }, nil},
		{"wide with keys", func(c *Config) {
			c.Listen = "0.0.0.0:8080"
			c.Auth.APIKeys = []APIKey{key("agent-a", k1)}
		}, nil},
		{"wide unauthenticated", func(c *Config) {
			c.Listen = "mcp.example.com:443"
			c.Auth.AllowUnauthenticated = true
		}, nil},
		{"wide without keys", func(c *Config) { c.Listen = "10.1.2.3:8080" }, []string{
			"auth.api_keys: listening on 10.1.2.3:8080 (beyond loopback) needs api keys; add auth.api_keys or set auth.allow_unauthenticated: true",
		}},
		{"all interfaces without keys", func(c *Config) { c.Listen = "[::]:8080" }, []string{
			"auth.api_keys: listening on [::]:8080 (beyond loopback) needs api keys; add auth.api_keys or set auth.allow_unauthenticated: true",
		}},
		{"listen without port", func(c *Config) { c.Listen = "127.0.0.1" }, []string{
			`listen: must be host:port with a numeric port, such as 127.0.0.1:8080, got "127.0.0.1"`,
		}},
		{"listen port too big", func(c *Config) { c.Listen = "127.0.0.1:65536" }, []string{
			`listen: port must be a number from 0 to 65535, got "65536"`,
		}},
		{"listen bad host", func(c *Config) { c.Listen = "bad host:80" }, []string{
			`listen: host must be an IP address or a host name, got "bad host"`,
		}},
		{"empty data dir", func(c *Config) { c.DataDir = "" }, []string{
			"data_dir: must not be empty: set data_dir or the MCPHUB_DATA environment variable",
		}},
		{"data dir with tilde", func(c *Config) { c.DataDir = "~/mcphub" }, []string{
			`data_dir: must not start with "~", which is not expanded: write ${HOME}/... or an absolute path`,
		}},
		{"log level", func(c *Config) { c.Log.Level = "INFO" }, []string{
			`log.level: must be debug, info, warn or error, got "INFO"`,
		}},
		{"origins", func(c *Config) {
			c.HTTP.AllowedOrigins = []string{"https://a.example.com:8443", "http://[::1]:3000", "https://A.example.com", "https://a.example.com#"}
		}, []string{
			`http.allowed_origins[2]: "https://A.example.com" must be lower-case`,
			`http.allowed_origins[3]: "https://a.example.com#" must be scheme://host[:port] such as https://app.example.com, without a path, query or fragment (browsers send no trailing /)`,
		}},
		{"hosts", func(c *Config) {
			c.HTTP.AllowedHosts = []string{"mcp.example.com", "[::1]", "[fe80::1%eth0]:80", "a:b:c"}
		}, []string{
			`http.allowed_hosts[2]: "[fe80::1%eth0]:80" must be a host or host:port such as mcp.example.com or mcp.example.com:8443`,
			`http.allowed_hosts[3]: "a:b:c" must be a host or host:port such as mcp.example.com or mcp.example.com:8443`,
		}},
		{"body limits", func(c *Config) { c.HTTP.MaxBodyBytes = 1<<30 + 1 }, []string{
			"http.max_body_bytes: must be from 1 to 1073741824 (1 GiB), got 1073741825",
		}},
		{"body limit max", func(c *Config) { c.HTTP.MaxBodyBytes = 1 << 30 }, nil},
		{"durations", func(c *Config) {
			c.HTTP.SessionIdleTTL = Duration(59 * time.Second)
			c.HTTP.ShutdownTimeout = 0
			c.HTTP.ReadHeaderTimeout = Duration(-time.Second)
			c.HTTP.HeartbeatInterval = 0
			c.Limits.ToolTimeout = 0
		}, []string{
			"http.session_idle_ttl: must be at least 1m, got 59s",
			"http.shutdown_timeout: must be greater than 0, got 0s",
			"http.read_header_timeout: must be greater than 0, got -1s",
			"http.heartbeat_interval: must be greater than 0, got 0s",
			"limits.tool_timeout: must be greater than 0, got 0s",
		}},
		{"counts", func(c *Config) {
			c.HTTP.MaxConcurrentRequests = 0
			c.Limits.OutputBudgetBytes = 1023
			c.Limits.MaxConcurrentCalls = 0
		}, []string{
			"http.max_concurrent_requests: must be greater than 0, got 0",
			"limits.output_budget_bytes: must be at least 1024, got 1023",
			"limits.max_concurrent_calls: must be greater than 0, got 0",
		}},
		{"egress", func(c *Config) {
			c.Egress.Allow = []string{"10.0.0.0/8", "::1", "*.example.com", "localhost", "Example.com"}
			c.Egress.Deny = []string{"*.", "a.-b.com"}
		}, []string{
			`egress.allow[4]: "Example.com" must be lower-case`,
			`egress.deny[0]: "*." is not a CIDR (10.0.0.0/8), an IP address or a host name pattern (example.com, *.example.com)`,
			`egress.deny[1]: "a.-b.com" is not a CIDR (10.0.0.0/8), an IP address or a host name pattern (example.com, *.example.com)`,
		}},
		{"api keys", func(c *Config) {
			c.Auth.APIKeys = []APIKey{key("agent-a", k1), key("Agent.B@example_org", k2), key("agent-a", "x"), key("agent-c", k2), key("", "")}
		}, []string{
			`auth.api_keys[2].identity: duplicate identity "agent-a" (also at auth.api_keys[0])`,
			"auth.api_keys[2].key: must be at least 16 characters, got 1",
			`auth.api_keys[3].key: same key as auth.api_keys[1]: give each identity its own key`,
			`auth.api_keys[4].identity: must be 1 to 64 characters of A-Z a-z 0-9 . _ @ -, got ""`,
			"auth.api_keys[4].key: must not be empty: set it from the environment, such as key: ${AGENT_KEY}",
		}},
		{"server names", func(c *Config) {
			c.Servers = map[string]*ServerSection{"sql": nil, "b2": nil, "Sql": nil, "": nil, "a_b": nil}
		}, []string{
			`servers[""]: invalid server name: use 1 to 24 lower-case letters and digits, starting with a letter`,
			"servers.Sql: invalid server name: use 1 to 24 lower-case letters and digits, starting with a letter",
			"servers.a_b: invalid server name: use 1 to 24 lower-case letters and digits, starting with a letter",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			c.DataDir = "/data"
			tt.mutate(c)
			before := fmt.Sprintf("%#v", *c)
			got := problemStrings(c.Validate())
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			if after := fmt.Sprintf("%#v", *c); after != before {
				t.Errorf("Validate changed the config")
			}
		})
	}
}

// TestValidateAfterOverride is what serve does with --http: change Listen, validate again.
func TestValidateAfterOverride(t *testing.T) {
	setTestEnv(t)
	cfg, err := Parse([]byte("log: {level: debug}\n"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Listen = "0.0.0.0:9000"
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "auth.api_keys: listening on 0.0.0.0:9000") {
		t.Errorf("Validate after override = %v", err)
	}
	cfg.Listen = "127.0.0.1:9000"
	if err := cfg.Validate(); err != nil {
		t.Errorf("Validate after override = %v", err)
	}
}

func TestIsLoopbackListen(t *testing.T) {
	tests := map[string]bool{
		"127.0.0.1:8080":        true,
		"127.255.0.1:1":         true,
		"[::1]:8080":            true,
		"localhost:8080":        true,
		"LOCALHOST:80":          true,
		"localhost":             true,
		"::1":                   true,
		"[::ffff:127.0.0.1]:80": true,
		"0.0.0.0:8080":          false,
		":8080":                 false,
		"[::]:8080":             false,
		"10.0.0.1:80":           false,
		"example.com:80":        false,
		"localhost.example:80":  false,
		"":                      false,
	}
	for addr, want := range tests {
		if got := IsLoopbackListen(addr); got != want {
			t.Errorf("IsLoopbackListen(%q) = %v, want %v", addr, got, want)
		}
	}
}

func TestDefault(t *testing.T) {
	t.Setenv("MCPHUB_DATA", "")
	t.Setenv("HOME", "/home/someone")
	c := Default()
	if c.DataDir != "/home/someone/.local/share/mcphub" {
		t.Errorf("DataDir = %q", c.DataDir)
	}
	if c.Servers == nil || len(c.Servers) != 0 {
		t.Errorf("Servers = %#v, want an empty map", c.Servers)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Default().Validate() = %v", err)
	}
	t.Setenv("MCPHUB_DATA", "/data")
	if c := Default(); c.DataDir != "/data" {
		t.Errorf("with MCPHUB_DATA, DataDir = %q", c.DataDir)
	}
}

func TestLoad(t *testing.T) {
	setTestEnv(t)
	cfg, err := Load("")
	if err != nil || !reflect.DeepEqual(cfg, Default()) {
		t.Errorf("Load(\"\") = %+v, %v; want Default()", cfg, err)
	}
	if _, err := Load("testdata/does-not-exist.yaml"); err == nil || !strings.HasPrefix(err.Error(), "reading config: ") {
		t.Errorf("Load(missing) = %v", err)
	}
	if _, err := Load("testdata/good/full.yaml"); err != nil {
		t.Errorf("Load(full) = %v", err)
	}
}

// TestKeysNeverShown checks the ways a key could reach a log or a terminal.
func TestKeysNeverShown(t *testing.T) {
	const secret = "very-secret-key-value-42"
	t.Setenv("MCPHUB_TEST_SECRET", secret)
	cfg, err := Parse([]byte(`
listen: 0.0.0.0:8080
http: {max_body_bytes: "${MCPHUB_TEST_SECRET}"}
auth:
  api_keys:
    - {identity: a, key: "${MCPHUB_TEST_SECRET}"}
    - {identity: b, key: "${MCPHUB_TEST_SECRET}"}
    - {identity: c, key: "` + secret[:10] + `"}
`))
	if err == nil {
		t.Fatal("want problems")
	}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("config", "auth", cfg.Auth, "key", cfg.Auth.APIKeys[0])
	shown := map[string]string{
		"error":     err.Error(),
		"%v":        fmt.Sprintf("%v", cfg),
		"%+v":       fmt.Sprintf("%+v", cfg),
		"%#v":       fmt.Sprintf("%#v", cfg.Auth),
		"%s key":    cfg.Auth.APIKeys[0].String(),
		"slog":      logged.String(),
		"validate":  fmt.Sprint(cfg.Validate()),
		"%v config": fmt.Sprintf("%v", *cfg),
		"json":      mustJSON(t, cfg),
		"yaml":      mustYAML(t, cfg),
	}
	for how, text := range shown {
		if strings.Contains(text, secret[:10]) {
			t.Errorf("%s shows the key: %s", how, text)
		}
	}
	if !strings.Contains(err.Error(), "http.max_body_bytes: cannot use the value from the environment as an integer") {
		t.Errorf("error = %v", err)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	out, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func mustYAML(t *testing.T, v any) string {
	t.Helper()
	out, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func TestDuration(t *testing.T) {
	for in, want := range map[string]string{
		"30s": "30s", "15m": "15m", "1h30m": "1h30m", "1h": "1h", "90s": "1m30s",
		"1.5s": "1.5s", "100ms": "100ms", "0s": "0s", "24h": "24h", "1h0m1s": "1h0m1s",
	} {
		cfg, err := Parse([]byte("limits: {tool_timeout: " + in + "}"))
		if in == "0s" {
			err = nil // 0s is read fine and refused by Validate
		}
		if err != nil {
			t.Errorf("%s: %v", in, err)
			continue
		}
		if got := cfg.Limits.ToolTimeout.String(); got != want {
			t.Errorf("%s: String() = %q, want %q", in, got, want)
		}
		d, _ := time.ParseDuration(in)
		if cfg.Limits.ToolTimeout.D() != d {
			t.Errorf("%s: D() = %v", in, cfg.Limits.ToolTimeout.D())
		}
		out, _ := Duration(d).MarshalYAML()
		if out != want {
			t.Errorf("%s: MarshalYAML = %v", in, out)
		}
	}
	for _, in := range []string{"30", "1.5", "true", "5 min", "[1s]", "''"} {
		if _, err := Parse([]byte("limits: {tool_timeout: " + in + "}")); err == nil || !strings.Contains(err.Error(), "limits.tool_timeout: ") {
			t.Errorf("%s: got %v, want a problem at limits.tool_timeout", in, err)
		}
	}
}
