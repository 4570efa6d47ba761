package configs

import (
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

var (
	serverNameRE = regexp.MustCompile(`^[a-z][a-z0-9]{0,23}$`)
	identityRE   = regexp.MustCompile(`^[A-Za-z0-9._@-]{1,64}$`)
)

// minKeyLen is the shortest API key accepted.
const minKeyLen = 16

// Validate runs every semantic check and returns all problems joined, each a *Problem with
// its path. It does not change c, so it can run again after command-line overrides such as
// --http. Parse lower-cases origins, hosts and egress entries; Validate expects them so.
func (c *Config) Validate() error {
	var l problemList
	c.validate(&l)
	return l.err()
}

func (c *Config) validate(l *problemList) {
	listenOK := c.validateListen(l)
	switch {
	case c.DataDir == "":
		l.add("data_dir", "must not be empty: set data_dir or the MCPHUB_DATA environment variable")
	case strings.HasPrefix(c.DataDir, "~"):
		l.add("data_dir", "must not start with \"~\", which is not expanded: write ${HOME}/... or an absolute path")
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		l.add("log.level", "must be debug, info, warn or error, got %s", quoteValue(c.Log.Level))
	}
	c.HTTP.validate(l)
	c.Limits.validate(l)
	validateEgressList(l, "egress.allow", c.Egress.Allow)
	validateEgressList(l, "egress.deny", c.Egress.Deny)
	c.Auth.validate(l)
	if listenOK && !IsLoopbackListen(c.Listen) && len(c.Auth.APIKeys) == 0 && !c.Auth.AllowUnauthenticated {
		l.add("auth.api_keys", "listening on %s (beyond loopback) needs api keys; add auth.api_keys or set auth.allow_unauthenticated: true", c.Listen)
	}
	names := make([]string, 0, len(c.Servers))
	for name := range c.Servers {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if !serverNameRE.MatchString(name) {
			l.add(joinKey("servers", name), "invalid server name: use 1 to 24 lower-case letters and digits, starting with a letter")
		}
	}
}

// validateListen checks listen and reports whether it is a valid host:port.
func (c *Config) validateListen(l *problemList) bool {
	host, port, err := net.SplitHostPort(c.Listen)
	if err != nil {
		l.add("listen", "must be host:port with a numeric port, such as 127.0.0.1:8080, got %s", quoteValue(c.Listen))
		return false
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		l.add("listen", "port must be a number from 0 to 65535, got %s", quoteValue(port))
		return false
	}
	if host != "" && !isIPHost(host) && !isHostName(strings.ToLower(host)) {
		l.add("listen", "host must be an IP address or a host name, got %s", quoteValue(host))
		return false
	}
	return true
}

// IsLoopbackListen reports whether addr (host:port, or a host alone) names a loopback host:
// 127.0.0.0/8, ::1 or localhost. An empty host means every interface, which is not loopback.
func IsLoopbackListen(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = strings.TrimSuffix(strings.TrimPrefix(addr, "["), "]")
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

func (h *HTTPConfig) validate(l *problemList) {
	for i, o := range h.AllowedOrigins {
		if msg := checkOrigin(o); msg != "" {
			l.add(joinIndex("http.allowed_origins", i), "%s %s", quoteValue(o), msg)
		}
	}
	for i, host := range h.AllowedHosts {
		if msg := checkHostHeader(host); msg != "" {
			l.add(joinIndex("http.allowed_hosts", i), "%s %s", quoteValue(host), msg)
		}
	}
	if h.MaxBodyBytes <= 0 || h.MaxBodyBytes > 1<<30 {
		l.add("http.max_body_bytes", "must be from 1 to 1073741824 (1 GiB), got %d", h.MaxBodyBytes)
	}
	atLeast(l, "http.session_idle_ttl", h.SessionIdleTTL, time.Minute)
	atLeast(l, "http.shutdown_timeout", h.ShutdownTimeout, 0)
	atLeast(l, "http.read_header_timeout", h.ReadHeaderTimeout, 0)
	atLeast(l, "http.read_body_timeout", h.ReadBodyTimeout, 0)
	atLeast(l, "http.heartbeat_interval", h.HeartbeatInterval, 0)
	if h.MaxConcurrentRequests <= 0 {
		l.add("http.max_concurrent_requests", "must be greater than 0, got %d", h.MaxConcurrentRequests)
	}
}

func (m *LimitsConfig) validate(l *problemList) {
	atLeast(l, "limits.tool_timeout", m.ToolTimeout, 0)
	if m.OutputBudgetBytes < 1024 {
		l.add("limits.output_budget_bytes", "must be at least 1024, got %d", m.OutputBudgetBytes)
	}
	if m.MaxConcurrentCalls <= 0 {
		l.add("limits.max_concurrent_calls", "must be greater than 0, got %d", m.MaxConcurrentCalls)
	}
}

// atLeast reports d unless it is at least minimum, or positive when minimum is 0.
func atLeast(l *problemList, path string, d Duration, minimum time.Duration) {
	switch {
	case minimum == 0 && d <= 0:
		l.add(path, "must be greater than 0, got %s", d)
	case minimum > 0 && d.D() < minimum:
		l.add(path, "must be at least %s, got %s", Duration(minimum), d)
	}
}

func (a *AuthConfig) validate(l *problemList) {
	identities := map[string]int{}
	keys := map[string]int{}
	for i, k := range a.APIKeys {
		path := joinIndex("auth.api_keys", i)
		switch j, dup := identities[k.Identity]; {
		case !identityRE.MatchString(k.Identity):
			l.add(path+".identity", "must be 1 to 64 characters of A-Z a-z 0-9 . _ @ -, got %s", quoteValue(k.Identity))
		case dup:
			l.add(path+".identity", "duplicate identity %q (also at auth.api_keys[%d])", k.Identity, j)
		default:
			identities[k.Identity] = i
		}
		// The key itself is never part of a message.
		switch j, dup := keys[k.Key]; {
		case k.Key == "":
			l.add(path+".key", "must not be empty: set it from the environment, such as key: ${AGENT_KEY}")
		case len(k.Key) < minKeyLen:
			l.add(path+".key", "must be at least %d characters, got %d", minKeyLen, len(k.Key))
		case dup:
			l.add(path+".key", "same key as auth.api_keys[%d]: give each identity its own key", j)
		default:
			keys[k.Key] = i
		}
	}
}

// checkOrigin returns why o is not an origin written as scheme://host[:port], or "".
func checkOrigin(o string) string {
	const want = "must be scheme://host[:port] such as https://app.example.com"
	if o != strings.ToLower(o) {
		return "must be lower-case"
	}
	u, err := url.Parse(o)
	switch {
	case err != nil || u.Opaque != "":
		return want
	case u.Scheme != "http" && u.Scheme != "https":
		return want + ", with scheme http or https"
	case u.User != nil:
		return want + ", without user information"
	case u.Host == "" || u.Hostname() == "":
		return want + ", with a host"
	case u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery || strings.HasSuffix(o, "#"):
		return want + ", without a path, query or fragment (browsers send no trailing /)"
	}
	if port := u.Port(); port != "" {
		if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			return want + ", with a numeric port"
		}
	} else if strings.HasSuffix(u.Host, ":") {
		return want + ", with a numeric port"
	}
	if !isIPHost(u.Hostname()) && !isHostName(u.Hostname()) {
		return want + ", with a valid host name"
	}
	return ""
}

// checkHostHeader returns why h is not a Host header value (host or host:port), or "".
func checkHostHeader(h string) string {
	const want = "must be a host or host:port such as mcp.example.com or mcp.example.com:8443"
	if h != strings.ToLower(h) {
		return "must be lower-case"
	}
	if strings.Contains(h, "/") {
		return want + ", without a scheme or path"
	}
	host := h
	if hp, port, err := net.SplitHostPort(h); err == nil {
		if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			return want + ", with a numeric port"
		}
		host = hp
	} else if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
		host = h[1 : len(h)-1]
		if !isIPHost(host) {
			return want
		}
	}
	if !isIPHost(host) && !isHostName(host) {
		return want
	}
	return ""
}

// validateEgressList checks each entry of an egress list.
func validateEgressList(l *problemList, path string, list []string) {
	for i, e := range list {
		if e != strings.ToLower(e) {
			l.add(joinIndex(path, i), "%s must be lower-case", quoteValue(e))
			continue
		}
		if !isEgressEntry(e) {
			l.add(joinIndex(path, i), "%s is not a CIDR (10.0.0.0/8), an IP address or a host name pattern (example.com, *.example.com)", quoteValue(e))
		}
	}
}

// isEgressEntry reports whether e is a CIDR, an IP address, or a host name with an optional
// leading "*." wildcard.
func isEgressEntry(e string) bool {
	if _, err := netip.ParsePrefix(e); err == nil {
		return true
	}
	if _, err := netip.ParseAddr(e); err == nil {
		return true
	}
	return isHostName(strings.TrimPrefix(e, "*."))
}

// isIPHost reports whether s is an IP address without a zone.
func isIPHost(s string) bool {
	ip, err := netip.ParseAddr(s)
	return err == nil && ip.Zone() == ""
}

// isHostName reports whether s is a lower-case DNS name: dot-separated labels of a-z, 0-9
// and "-", none starting or ending with "-", the last not all digits (that would be a
// malformed IP address).
func isHostName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	labels := strings.Split(s, ".")
	for _, label := range labels {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
				return false
			}
		}
	}
	last := labels[len(labels)-1]
	return strings.Trim(last, "0123456789") != ""
}
