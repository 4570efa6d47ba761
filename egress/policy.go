// Package egress is the one policy that decides every outbound request mcphub makes: fetch_url,
// URL collections, embedding endpoints and every request a browser page makes.
//
// The rule: http and https only; the host's resolved addresses are refused when they are
// loopback, private, link-local (cloud metadata 169.254.169.254 among them), CGNAT, multicast,
// unspecified, reserved, or an IPv6 form that embeds an IPv4 address (mapped, compatible, NAT64,
// 6to4, Teredo), unless the config allows them; the config's deny list is refused always. The
// address that was checked is the address dialled (no second resolution for a DNS rebinding to
// exploit), and every redirect is checked again.
//
// Refusals are *Refused errors whose text names the policy and what to change, so that an agent
// (and its operator) can tell a refusal from a failed connection.
package egress

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"

	"github.com/mcphub/mcphub/configs"
)

// Refused is the error of every refusal.
type Refused struct {
	// URL is the refused URL, without userinfo; empty when only an address was checked.
	URL string
	// Host is the host name or address literal the request named.
	Host string
	// IP is the refused address; zero when the refusal came before resolution.
	IP netip.Addr
	// Reason says why, in words an agent can act on.
	Reason string
}

func (e *Refused) Error() string {
	target := e.URL
	if target == "" {
		target = e.Host
	}
	return fmt.Sprintf("egress policy refused %s: %s", target, e.Reason)
}

// IsRefused reports whether err is, or wraps, a refusal of the egress policy (through url.Error,
// net.OpError and fmt wrapping).
func IsRefused(err error) bool {
	var r *Refused
	return errors.As(err, &r)
}

// Resolver looks up a host's addresses; *net.Resolver is one. Tests of pure logic swap it.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Policy decides outbound URLs and addresses. It is immutable after New and safe for concurrent
// use.
type Policy struct {
	allowNets  []netip.Prefix
	denyNets   []netip.Prefix
	allowHosts []hostPattern
	denyHosts  []hostPattern
	resolver   Resolver
}

// hostPattern is "example.com" (that name only) or "*.example.com" (its subdomains, not itself).
type hostPattern struct {
	name     string
	wildcard bool
}

func (h hostPattern) match(host string) bool {
	if h.wildcard {
		return strings.HasSuffix(host, "."+h.name)
	}
	return host == h.name
}

// New builds the policy from the hub's egress config. Entries are CIDRs, IP addresses or host
// patterns (configs validates their form; New refuses what it cannot parse all the same).
func New(cfg configs.EgressConfig) (*Policy, error) {
	p := &Policy{resolver: net.DefaultResolver}
	var errs []error
	parse := func(list []string, nets *[]netip.Prefix, hosts *[]hostPattern, key string) {
		for i, e := range list {
			e = strings.ToLower(strings.TrimSpace(e))
			if pfx, err := netip.ParsePrefix(e); err == nil {
				*nets = append(*nets, pfx.Masked())
				continue
			}
			if ip, err := netip.ParseAddr(e); err == nil && ip.Zone() == "" {
				*nets = append(*nets, netip.PrefixFrom(ip, ip.BitLen()))
				continue
			}
			name, wild := strings.CutPrefix(e, "*.")
			name = strings.TrimSuffix(name, ".")
			if name == "" || strings.ContainsAny(name, "/:*@ ") {
				errs = append(errs, fmt.Errorf("egress.%s[%d]: %q is not a CIDR, an IP address or a host pattern", key, i, e))
				continue
			}
			*hosts = append(*hosts, hostPattern{name: name, wildcard: wild})
		}
	}
	parse(cfg.Allow, &p.allowNets, &p.allowHosts, "allow")
	parse(cfg.Deny, &p.denyNets, &p.denyHosts, "deny")
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return p, nil
}

// ForHub builds the policy of the hub's config, the one every server that goes out uses; a nil
// config (a server built alone, in a test) gets the default policy.
func ForHub(cfg *configs.Config) (*Policy, error) {
	if cfg == nil {
		return New(configs.EgressConfig{})
	}
	return New(cfg.Egress)
}

// WithResolver returns a copy of p that resolves host names with r.
func (p *Policy) WithResolver(r Resolver) *Policy {
	q := *p
	q.resolver = r
	return &q
}

// CheckURL checks what can be known without DNS: the scheme (http and https only), credentials
// in the URL, the deny and allow host patterns, and a literal IP host. It returns a *Refused.
func (p *Policy) CheckURL(u *url.URL) error {
	if u == nil {
		return &Refused{Reason: "no URL"}
	}
	shown := redact(u)
	switch strings.ToLower(u.Scheme) {
	case "http", "https":
	case "":
		return &Refused{URL: shown, Reason: "the URL has no scheme: only http and https URLs are allowed"}
	default:
		return &Refused{URL: shown, Reason: fmt.Sprintf("scheme %q is not allowed: only http and https", strings.ToLower(u.Scheme))}
	}
	if u.User != nil {
		return &Refused{URL: shown, Reason: "URLs with credentials (user:password@) are not allowed"}
	}
	host := normalizeHost(u.Hostname())
	if host == "" {
		return &Refused{URL: shown, Reason: "the URL has no host"}
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return p.checkIP(shown, host, ip)
	}
	if !plausibleHostName(host) {
		return &Refused{URL: shown, Host: host, Reason: fmt.Sprintf("%q is not a valid host name", host)}
	}
	if hostIn(p.denyHosts, host) {
		return &Refused{URL: shown, Host: host, Reason: host + " is in egress.deny"}
	}
	return nil
}

// Check parses raw, runs CheckURL, resolves the host and checks every address: one forbidden
// address refuses the URL, since the caller cannot choose which one a later connection uses. It
// is for callers that cannot dial through the policy (the browser's request interception);
// callers that can should use Client or DialContext, which dial the address they checked.
func (p *Policy) Check(ctx context.Context, raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return &Refused{URL: truncate(raw, 200), Reason: "the URL does not parse: " + err.Error()}
	}
	if err := p.CheckURL(u); err != nil {
		return err
	}
	host := normalizeHost(u.Hostname())
	if _, err := netip.ParseAddr(host); err == nil {
		return nil // a literal address was checked by CheckURL
	}
	_, err = p.resolve(ctx, redact(u), host)
	return err
}

// CheckIP checks one resolved address of host against the deny list, the allow list and the
// forbidden ranges.
func (p *Policy) CheckIP(host string, ip netip.Addr) error {
	return p.checkIP("", normalizeHost(host), ip)
}

func (p *Policy) checkIP(shownURL, host string, ip netip.Addr) error {
	ip = ip.WithZone("")
	refuse := func(reason string) error {
		return &Refused{URL: shownURL, Host: host, IP: ip, Reason: reason}
	}
	if !ip.IsValid() {
		return refuse("no valid address")
	}
	if host != "" && hostIn(p.denyHosts, host) {
		return refuse(host + " is in egress.deny")
	}
	// The deny list also catches an IPv4 address hidden in an IPv6 form.
	for _, a := range []netip.Addr{ip, embeddedIPv4(ip)} {
		if a.IsValid() && inNets(p.denyNets, a) {
			return refuse(fmt.Sprintf("%s is in egress.deny", a))
		}
	}
	if (host != "" && hostIn(p.allowHosts, host)) || inNets(p.allowNets, ip) {
		return nil
	}
	if kind := forbiddenKind(ip); kind != "" {
		return refuse(fmt.Sprintf("%s is %s address (allow it with egress.allow)", ip, kind))
	}
	return nil
}

// resolve looks host up and checks every address.
func (p *Policy) resolve(ctx context.Context, shownURL, host string) ([]netip.Addr, error) {
	if hostIn(p.denyHosts, host) {
		return nil, &Refused{URL: shownURL, Host: host, Reason: host + " is in egress.deny"}
	}
	addrs, err := p.resolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, fmt.Errorf("resolving %s: %w", host, err)
	}
	if len(addrs) == 0 {
		return nil, fmt.Errorf("resolving %s: no addresses", host)
	}
	for i, a := range addrs {
		// Go's resolver answers A records in the IPv4-mapped form (golang/go#53554): judge and
		// dial them as the IPv4 addresses they are. A literal mapped address in a URL is still
		// refused by CheckURL.
		a = a.Unmap()
		if err := p.checkIP(shownURL, host, a); err != nil {
			return nil, err
		}
		addrs[i] = a
	}
	return addrs, nil
}

// forbiddenKind names the range ip falls in when that range is refused by default, or "".
func forbiddenKind(ip netip.Addr) string {
	switch {
	case ip.Is4In6():
		return "an IPv4-mapped IPv6"
	case ip.IsUnspecified():
		return "an unspecified"
	case ip.IsLoopback():
		return "a loopback"
	}
	for _, r := range forbidden {
		if r.prefix.Contains(ip) {
			return r.kind
		}
	}
	switch {
	case ip.IsPrivate():
		return "a private"
	case ip.IsLinkLocalUnicast():
		return "a link-local"
	case ip.IsMulticast(), ip.IsLinkLocalMulticast(), ip.IsInterfaceLocalMulticast():
		return "a multicast"
	}
	if v4 := embeddedIPv4(ip); v4.IsValid() {
		if kind := forbiddenKind(v4); kind != "" {
			return "an IPv6 address embedding " + strings.TrimPrefix(strings.TrimPrefix(kind, "an "), "a ") + " IPv4"
		}
	}
	return ""
}

type namedPrefix struct {
	prefix netip.Prefix
	kind   string
}

// forbidden lists the ranges netip's predicates do not cover. Order matters only for the name
// given in the reason.
var forbidden = func() []namedPrefix {
	list := []struct{ cidr, kind string }{
		{"0.0.0.0/8", "a \"this network\""},
		{"100.64.0.0/10", "a carrier-grade NAT (CGNAT)"},
		{"169.254.0.0/16", "a link-local (cloud metadata)"},
		{"192.0.0.0/24", "an IETF protocol"},
		{"192.0.2.0/24", "a documentation"},
		{"198.18.0.0/15", "a benchmarking"},
		{"198.51.100.0/24", "a documentation"},
		{"203.0.113.0/24", "a documentation"},
		{"240.0.0.0/4", "a reserved"},
		{"::/96", "an IPv4-compatible IPv6"},
		{"100::/64", "a discard-only"},
		{"2001::/32", "a Teredo"},
		{"2001:db8::/32", "a documentation"},
		{"fec0::/10", "a site-local"},
	}
	out := make([]namedPrefix, 0, len(list))
	for _, e := range list {
		out = append(out, namedPrefix{netip.MustParsePrefix(e.cidr), e.kind})
	}
	return out
}()

var (
	nat64      = netip.MustParsePrefix("64:ff9b::/96")
	nat64Local = netip.MustParsePrefix("64:ff9b:1::/48")
	sixToFour  = netip.MustParsePrefix("2002::/16")
)

// embeddedIPv4 returns the IPv4 address an IPv6 address carries (mapped, compatible, NAT64,
// 6to4), or the zero Addr. A request to such an address can reach the IPv4 host, so the IPv4
// address is what the policy judges.
func embeddedIPv4(ip netip.Addr) netip.Addr {
	if !ip.Is6() {
		return netip.Addr{}
	}
	b := ip.As16()
	switch {
	case ip.Is4In6():
		return ip.Unmap()
	case nat64.Contains(ip), nat64Local.Contains(ip), netip.MustParsePrefix("::/96").Contains(ip):
		return netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]})
	case sixToFour.Contains(ip):
		return netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]})
	}
	return netip.Addr{}
}

func inNets(nets []netip.Prefix, ip netip.Addr) bool {
	for _, n := range nets {
		if n.Contains(ip) || (ip.Is4In6() && n.Contains(ip.Unmap())) {
			return true
		}
	}
	return false
}

func hostIn(list []hostPattern, host string) bool {
	for _, h := range list {
		if h.match(host) {
			return true
		}
	}
	return false
}

// normalizeHost lower-cases host and drops a trailing dot and IPv6 brackets and zone, so that
// "LOCALHOST." and "localhost" are the same name to the patterns.
func normalizeHost(host string) string {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	return host
}

// plausibleHostName refuses host names that no resolver should be asked about: control
// characters, spaces and the like, which some resolvers treat loosely.
func plausibleHostName(host string) bool {
	if len(host) > 253 {
		return false
	}
	for i := 0; i < len(host); i++ {
		c := host[i]
		if c <= ' ' || c == 0x7f || strings.IndexByte("/\\?#@%[]<>\"'`|{}^", c) >= 0 {
			return false
		}
	}
	return true
}

// redact drops userinfo from u for messages and logs.
func redact(u *url.URL) string {
	if u.User == nil {
		return truncate(u.String(), 500)
	}
	c := *u
	c.User = nil
	return truncate(c.String(), 500)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
