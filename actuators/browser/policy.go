package browser

import (
	"context"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/mcphub/mcphub/egress"
)

// decision is what the browser's URL rule says about one URL before the egress policy: refuse
// it (reason), let it through without network access (data:, about:blank), or hand the
// network URL (check, always http or https) to the egress policy.
type decision struct {
	check  *url.URL
	reason string
}

func (d decision) refused() bool { return d.reason != "" }

// maxURLBytes bounds the URLs decide parses: a longer one is refused, not parsed.
const maxURLBytes = 64 << 10

// decide applies the browser's scheme rules to raw. topLevel is true for a navigation of a
// tab's main frame (the agent's browser_navigate, or the page moving itself), where data:,
// blob: and javascript: are refused as SECURITY.md asks; sub-resources may use data: and blob:,
// which reach no network. ws: and wss: are checked as http: and https:. Everything else
// (file:, chrome:, devtools:, view-source:, filesystem:, chrome-extension: ...) is refused.
func decide(raw string, topLevel bool) decision {
	if len(raw) > maxURLBytes {
		return decision{reason: "the URL is longer than 64 KiB"}
	}
	u, err := url.Parse(raw)
	if err != nil {
		return decision{reason: "the URL does not parse: " + trimParseError(err)}
	}
	scheme := strings.ToLower(u.Scheme)
	switch scheme {
	case "http", "https":
		if u.Host == "" {
			return decision{reason: "the URL has no host"}
		}
		return decision{check: u}
	case "ws", "wss":
		if u.Host == "" {
			return decision{reason: "the URL has no host"}
		}
		c := *u
		c.Scheme = "http" + strings.TrimPrefix(scheme, "ws")
		return decision{check: &c}
	case "about":
		if o := strings.ToLower(u.Opaque); o == "blank" || o == "srcdoc" {
			return decision{}
		}
		return decision{reason: "only about:blank and about:srcdoc are allowed"}
	case "data", "blob":
		if topLevel {
			return decision{reason: "a top-level " + scheme + ": navigation is not allowed (it could impersonate any site)"}
		}
		return decision{}
	case "":
		return decision{reason: "the URL has no scheme: write it with http:// or https://"}
	case "javascript":
		return decision{reason: "javascript: URLs are not allowed"}
	default:
		return decision{reason: "the scheme \"" + truncate(scheme, 32) + ":\" is not allowed: only http and https reach the network"}
	}
}

func trimParseError(err error) string {
	var ue *url.Error
	if e, ok := err.(*url.Error); ok { //nolint:errorlint // url.Parse returns *url.Error unwrapped
		ue = e
		return ue.Err.Error()
	}
	return err.Error()
}

// refusal is a refused URL as the browser reports it: it names the policy.
func refusal(raw, reason string) string {
	return "egress policy refused " + truncate(raw, maxLoggedURLBytes) + ": " + reason
}

// checker decides URLs for one session: the scheme rules, then the egress policy, with the
// policy's answers cached per host for a short time so that a page with many sub-resources
// pays for one DNS lookup per host. The cache only speeds up the interception; the proxy
// checks every connection again.
type checker struct {
	policy *egress.Policy

	mu    sync.Mutex
	cache map[string]cachedCheck
}

type cachedCheck struct {
	err error
	at  time.Time
}

const (
	checkCacheTTL  = 10 * time.Second
	checkCacheSize = 512
)

func newChecker(p *egress.Policy) *checker {
	return &checker{policy: p, cache: map[string]cachedCheck{}}
}

// check returns "" when raw may be requested, else a refusal message naming the policy.
func (c *checker) check(ctx context.Context, raw string, topLevel bool) string {
	d := decide(raw, topLevel)
	if d.refused() {
		return refusal(raw, d.reason)
	}
	if d.check == nil {
		return ""
	}
	// What CheckURL decides depends on the URL (scheme, userinfo, host); the DNS part only on
	// the host, which is what the cache keys.
	if err := c.policy.CheckURL(d.check); err != nil {
		return err.Error()
	}
	key := strings.ToLower(d.check.Scheme + "://" + d.check.Host)
	now := time.Now()
	c.mu.Lock()
	hit, ok := c.cache[key]
	c.mu.Unlock()
	if ok && now.Sub(hit.at) < checkCacheTTL {
		if hit.err != nil {
			return refusalFor(raw, hit.err)
		}
		return ""
	}
	err := c.policy.Check(ctx, d.check.String())
	if err != nil && !egress.IsRefused(err) {
		// A failed lookup is not a verdict; let the request go on and fail by itself (the
		// proxy refuses it anyway if it cannot check it).
		return ""
	}
	c.mu.Lock()
	if len(c.cache) >= checkCacheSize {
		clear(c.cache)
	}
	c.cache[key] = cachedCheck{err: err, at: now}
	c.mu.Unlock()
	if err != nil {
		return refusalFor(raw, err)
	}
	return ""
}

// refusalFor rewrites a cached refusal for another URL of the same host.
func refusalFor(raw string, err error) string {
	var r *egress.Refused
	if asRefused(err, &r) {
		return refusal(raw, r.Reason)
	}
	return err.Error()
}

func asRefused(err error, target **egress.Refused) bool {
	r, ok := err.(*egress.Refused) //nolint:errorlint // Check returns *Refused unwrapped
	if ok {
		*target = r
	}
	return ok
}

// truncate returns s cut to at most n bytes at a rune boundary, with "..." when cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n
	for i > 0 && i < len(s) && s[i]&0xC0 == 0x80 {
		i--
	}
	return s[:i] + "..."
}

func ptr[T any](v T) *T { return &v }
