package transport

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mcphub/mcphub/configs"
	"github.com/mcphub/mcphub/servers/registry"
)

// guard holds the request checks of the HTTP transport, built once from the config.
type guard struct {
	origins map[string]bool // scheme://host[:port], lower case
	hosts   map[string]bool // host or host:port, lower case
	keys    map[[sha256.Size]byte]string
	maxBody int64
	// bodyTimeout bounds reading a request body.
	bodyTimeout time.Duration
	slots       chan struct{}
	// draining, when set and true, makes readBody refuse new requests (shutdown).
	draining *atomic.Bool
	metrics  *httpMetrics
}

func newGuard(cfg *configs.Config, m *httpMetrics) *guard {
	g := &guard{
		origins:     map[string]bool{},
		hosts:       map[string]bool{},
		keys:        map[[sha256.Size]byte]string{},
		maxBody:     cfg.HTTP.MaxBodyBytes,
		bodyTimeout: cfg.HTTP.ReadBodyTimeout.D(),
		slots:       make(chan struct{}, cfg.HTTP.MaxConcurrentRequests),
		metrics:     m,
	}
	for _, o := range cfg.HTTP.AllowedOrigins {
		g.origins[strings.ToLower(strings.TrimSuffix(o, "/"))] = true
	}
	for _, h := range cfg.HTTP.AllowedHosts {
		g.hosts[strings.ToLower(h)] = true
	}
	for _, k := range cfg.Auth.APIKeys {
		g.keys[sha256.Sum256([]byte(k.Key))] = k.Identity
	}
	return g
}

// jsonError writes a small JSON error body with the status; clients and curl users both read it.
func jsonError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

func (g *guard) reject(w http.ResponseWriter, status int, reason, msg string) {
	g.metrics.rejected.WithLabelValues(reason).Inc()
	jsonError(w, status, msg)
}

// checkHostOrigin refuses DNS-rebinding and cross-site requests on every route: a present Origin
// that is not allowed, and a Host that is neither a loopback name nor allowed, when the request
// came in on a loopback address or allowed hosts are configured.
func (g *guard) checkHostOrigin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if origin := r.Header.Get("Origin"); origin != "" && !g.origins[strings.ToLower(origin)] {
			g.reject(w, http.StatusForbidden, "origin",
				"origin "+strconv.Quote(origin)+" is not allowed; add it to http.allowed_origins to let browsers on that site call this hub")
			return
		}
		if !g.hostAllowed(r) {
			g.reject(w, http.StatusForbidden, "host",
				"host "+strconv.Quote(r.Host)+" is not allowed; add it to http.allowed_hosts if this hub is reached under that name")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (g *guard) hostAllowed(r *http.Request) bool {
	host := strings.ToLower(r.Host)
	if g.hosts[host] {
		return true
	}
	name := host
	if h, _, err := net.SplitHostPort(host); err == nil {
		name = h
	}
	name = strings.Trim(name, "[]")
	if isLoopbackName(name) || g.hosts[name] {
		return true
	}
	if len(g.hosts) > 0 {
		return false
	}
	// Without configured hosts only loopback connections are checked: that is where DNS
	// rebinding reaches a hub that a browser on the same machine can see.
	if la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if ap, err := netip.ParseAddrPort(la.String()); err == nil && ap.Addr().Unmap().IsLoopback() {
			return false
		}
	}
	return true
}

func isLoopbackName(name string) bool {
	if name == "localhost" || strings.HasSuffix(name, ".localhost") {
		return true
	}
	a, err := netip.ParseAddr(name)
	return err == nil && a.Unmap().IsLoopback()
}

// authenticate checks the bearer API key when keys are configured and puts the caller's identity
// in the context; without keys every caller is the anonymous local identity. Session IDs are never
// identity: every request authenticates.
func (g *guard) authenticate(next http.Handler) http.Handler {
	if len(g.keys) == 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := bearerToken(r.Header.Get("Authorization"))
		identity := ""
		if ok {
			sum := sha256.Sum256([]byte(token))
			// The map is keyed by a digest, so the lookup reveals nothing useful about a key;
			// the compare keeps the final check constant-time anyway.
			for k, id := range g.keys {
				if subtle.ConstantTimeCompare(k[:], sum[:]) == 1 {
					identity = id
				}
			}
		}
		if identity == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="mcphub"`)
			g.reject(w, http.StatusUnauthorized, "auth", "missing or invalid API key: send Authorization: Bearer <key>")
			return
		}
		next.ServeHTTP(w, r.WithContext(registry.WithIdentity(r.Context(), identity)))
	})
}

func bearerToken(h string) (string, bool) {
	const prefix = "bearer "
	if len(h) <= len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return "", false
	}
	return strings.TrimSpace(h[len(prefix):]), true
}

// limitConcurrency refuses requests past http.max_concurrent_requests with 503 rather than
// queueing them without bound.
func (g *guard) limitConcurrency(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case g.slots <- struct{}{}:
		default:
			w.Header().Set("Retry-After", "1")
			g.reject(w, http.StatusServiceUnavailable, "busy", "too many concurrent requests; retry shortly")
			return
		}
		defer func() { <-g.slots }()
		next.ServeHTTP(w, r)
	})
}

// readBody enforces http.max_body_bytes and http.read_body_timeout (413, which mcp-go cannot answer: it reads bodies with
// io.ReadAll) and drops notifications/cancelled sent without a session. mcp-go keys in-flight
// requests by session and request id, and sessionless requests all share the empty session, so
// such a notification would cancel another client's request with the same id (notes/mcp-go.md
// §6.2). Sessionless clients cancel by closing the request instead.
func (g *guard) readBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.Body == nil {
			next.ServeHTTP(w, r)
			return
		}
		if r.ContentLength > g.maxBody {
			g.reject(w, http.StatusRequestEntityTooLarge, "body_size", tooLarge(g.maxBody))
			return
		}
		buf := bodyBuffers.Get().(*bytes.Buffer)
		defer putBodyBuffer(buf)
		if r.ContentLength > 0 {
			buf.Grow(int(r.ContentLength) + 1)
		}
		// A deadline on the body, lifted once it is read: a slow upload cannot hold a request
		// slot, and the long response that may follow is not cut by it.
		rc := http.NewResponseController(w)
		_ = rc.SetReadDeadline(time.Now().Add(g.bodyTimeout))
		_, err := buf.ReadFrom(io.LimitReader(r.Body, g.maxBody+1))
		if errors.Is(err, os.ErrDeadlineExceeded) {
			// The connection is closed after the answer: net/http would otherwise wait for the
			// rest of the body to reuse it.
			w.Header().Set("Connection", "close")
			g.reject(w, http.StatusRequestTimeout, "body_timeout",
				"the request body did not arrive within "+g.bodyTimeout.String()+" (http.read_body_timeout)")
			return
		}
		_ = rc.SetReadDeadline(time.Time{})
		if err != nil {
			g.reject(w, http.StatusBadRequest, "body_read", "reading the request body: "+err.Error())
			return
		}
		body := buf.Bytes()
		if int64(len(body)) > g.maxBody {
			g.reject(w, http.StatusRequestEntityTooLarge, "body_size", tooLarge(g.maxBody))
			return
		}
		if g.draining != nil && g.draining.Load() && isNewRequest(body) {
			w.Header().Set("Retry-After", "1")
			w.Header().Set("Connection", "close")
			g.reject(w, http.StatusServiceUnavailable, "draining", "the hub is shutting down; retry shortly or on another instance")
			return
		}
		if r.Header.Get("Mcp-Session-Id") == "" && isCancelledNotification(body) {
			g.dropCancel(w)
			return
		}
		// mcp-go reads the whole body into its own slice before handling it, so the pooled
		// buffer is free again once the handler returns.
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		next.ServeHTTP(fixNotFound(body, w), r)
	})
}

// bodyBuffers recycles request-body buffers; bodies over maxPooledBody are not kept, so one
// large request does not pin its memory.
var bodyBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

const maxPooledBody = 64 << 10

func putBodyBuffer(b *bytes.Buffer) {
	if b.Cap() > maxPooledBody {
		return
	}
	b.Reset()
	bodyBuffers.Put(b)
}

// dropCancel accepts a sessionless notifications/cancelled without passing it on.
func (g *guard) dropCancel(w http.ResponseWriter) {
	g.metrics.rejected.WithLabelValues("sessionless_cancel").Inc()
	w.WriteHeader(http.StatusAccepted)
}

func tooLarge(limit int64) string {
	return "request body larger than " + strconv.FormatInt(limit, 10) + " bytes (http.max_body_bytes)"
}

// isNewRequest reports whether body is a JSON-RPC request (a method and an id): new work, as
// opposed to a notification or a response that completes work in flight.
func isNewRequest(body []byte) bool {
	var msg struct {
		Method string          `json:"method"`
		ID     json.RawMessage `json:"id"`
	}
	if json.Unmarshal(body, &msg) != nil {
		return true
	}
	return msg.Method != "" && len(msg.ID) > 0 && string(msg.ID) != "null"
}

// isCancelledNotification reports whether body is a notifications/cancelled message. The
// substring test keeps the common path free of a second JSON decoding. (JSON-RPC batches left
// the protocol in 2025-06-18; mcp-go refuses them, so they need no look here.)
func isCancelledNotification(body []byte) bool {
	if !bytes.Contains(body, []byte("notifications/cancelled")) {
		return false
	}
	var msg struct {
		Method string `json:"method"`
	}
	return json.Unmarshal(body, &msg) == nil && msg.Method == "notifications/cancelled"
}
