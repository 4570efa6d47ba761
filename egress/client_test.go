package egress

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcphub/mcphub/configs"
	"github.com/mcphub/mcphub/internal/testenv"
)

// hitCounter serves on 127.0.0.1 and counts the requests that reached it.
func hitCounter(t *testing.T, h http.HandlerFunc) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if h != nil {
			h(w, r)
			return
		}
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

func get(ctx context.Context, c *http.Client, u string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", err
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// TestClientRefusesInIsolatedNetwork runs the real client with the real resolver inside a
// network namespace that has only loopback: even a wrong policy could send nothing off the
// machine. Each refusal must name the policy, not a failed connection.
func TestClientRefusesInIsolatedNetwork(t *testing.T) {
	if !testenv.InLoopbackNetns(t) {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	srv, hits := hitCounter(t, nil)
	port := srv.URL[strings.LastIndex(srv.URL, ":")+1:]

	def, err := New(configs.EgressConfig{})
	if err != nil {
		t.Fatal(err)
	}
	c := def.Client(ClientOptions{Timeout: 5 * time.Second})
	for _, u := range []string{
		srv.URL + "/",
		"http://localhost:" + port + "/",
		"http://[::1]:" + port + "/",
		"http://[::ffff:127.0.0.1]:" + port + "/",
		"http://169.254.169.254/latest/meta-data/",
		"http://10.0.0.1/",
		"http://192.168.0.1/",
		"http://100.64.0.1/",
		"http://0.0.0.0:" + port + "/",
		"file:///etc/passwd",
		"gopher://example.com/",
	} {
		_, err := get(ctx, c, u)
		if !IsRefused(err) || !strings.Contains(err.Error(), "egress policy refused") {
			t.Errorf("GET %s = %v, want a refusal naming the egress policy", u, err)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("%d requests reached the loopback server under the default policy", n)
	}

	// Loopback allowed (as in the test configs): the first hop is fine, a redirect to the
	// metadata address or to a file is refused.
	allowed, err := New(configs.EgressConfig{Allow: []string{"127.0.0.1/32", "::1"}})
	if err != nil {
		t.Fatal(err)
	}
	redir, rhits := hitCounter(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/meta":
			http.Redirect(w, r, "http://169.254.169.254/latest/meta-data/", http.StatusFound)
		case "/file":
			http.Redirect(w, r, "file:///etc/passwd", http.StatusFound)
		case "/private":
			http.Redirect(w, r, "http://10.0.0.1/", http.StatusMovedPermanently)
		default:
			_, _ = io.WriteString(w, "ok")
		}
	})
	ac := allowed.Client(ClientOptions{Timeout: 5 * time.Second})
	if body, err := get(ctx, ac, redir.URL+"/plain"); err != nil || body != "ok" {
		t.Fatalf("allowed loopback GET = %q, %v", body, err)
	}
	// The real resolver answers localhost from /etc/hosts (in the IPv4-mapped form for A records,
	// golang/go#53554): the name is allowed through its addresses.
	rport := redir.URL[strings.LastIndex(redir.URL, ":")+1:]
	if body, err := get(ctx, ac, "http://localhost:"+rport+"/plain"); err != nil || body != "ok" {
		t.Fatalf("allowed GET by the name localhost = %q, %v", body, err)
	}
	for _, path := range []string{"/meta", "/file", "/private"} {
		if _, err := get(ctx, ac, redir.URL+path); !IsRefused(err) {
			t.Errorf("redirect %s: err = %v, want a refusal", path, err)
		}
	}
	if n := rhits.Load(); n != 5 {
		t.Errorf("the redirecting server saw %d requests, want 5 (only the first hops)", n)
	}
	if hits.Load() != 0 {
		t.Error("a refused redirect reached its target")
	}
}

// TestClientDialsTheCheckedAddress resolves a made-up name with the policy's resolver only: the
// request reaches the loopback server, so the dial used the address the policy checked rather
// than resolving the name again.
func TestClientDialsTheCheckedAddress(t *testing.T) {
	srv, hits := hitCounter(t, nil)
	port := srv.URL[strings.LastIndex(srv.URL, ":")+1:]
	p, err := New(configs.EgressConfig{Allow: []string{"127.0.0.1/32"}})
	if err != nil {
		t.Fatal(err)
	}
	p = p.WithResolver(fakeResolver{"pinned.test": {"127.0.0.1"}, "moved.test": {"127.0.0.2"}})
	c := p.Client(ClientOptions{})
	body, err := get(context.Background(), c, "http://pinned.test:"+port+"/")
	if err != nil || body != "ok" || hits.Load() != 1 {
		t.Fatalf("GET pinned.test = %q, %v (hits %d)", body, err, hits.Load())
	}
	if _, err := get(context.Background(), c, "http://moved.test:"+port+"/"); !IsRefused(err) {
		t.Fatalf("127.0.0.2 is not allowed, got %v", err)
	}
}

func TestClientRedirectLimitAndUserAgent(t *testing.T) {
	var ua atomic.Value
	var srv *httptest.Server
	srv, _ = hitCounter(t, func(w http.ResponseWriter, r *http.Request) {
		ua.Store(r.UserAgent())
		var n int
		_, _ = fmt.Sscanf(r.URL.Path, "/r%d", &n)
		if n > 0 {
			http.Redirect(w, r, fmt.Sprintf("%s/r%d", srv.URL, n-1), http.StatusFound)
			return
		}
		_, _ = io.WriteString(w, "end")
	})
	p, err := New(configs.EgressConfig{Allow: []string{"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	c := p.Client(ClientOptions{MaxRedirects: 2})
	if body, err := get(context.Background(), c, srv.URL+"/r2"); err != nil || body != "end" {
		t.Fatalf("2 redirects = %q, %v", body, err)
	}
	if _, err := get(context.Background(), c, srv.URL+"/r3"); err == nil || !strings.Contains(err.Error(), "stopped after 2 redirects") {
		t.Fatalf("3 redirects = %v, want stopped", err)
	}
	if got := ua.Load(); got != DefaultUserAgent {
		t.Errorf("User-Agent = %v", got)
	}
	none := p.Client(ClientOptions{MaxRedirects: -1})
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, srv.URL+"/r1", nil)
	resp, err := none.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Errorf("MaxRedirects -1: status %d, want the 302 itself", resp.StatusCode)
	}
}

func TestLimitBody(t *testing.T) {
	for _, c := range []struct {
		size, max int64
		tooLarge  bool
	}{{10, 10, false}, {11, 10, true}, {0, 0, false}, {1, 0, true}, {100000, 65536, true}} {
		r := LimitBody(io.NopCloser(strings.NewReader(strings.Repeat("x", int(c.size)))), c.max)
		b, err := io.ReadAll(r)
		if c.tooLarge != errors.Is(err, ErrTooLarge) {
			t.Errorf("size %d max %d: err %v", c.size, c.max, err)
		}
		if int64(len(b)) > c.max {
			t.Errorf("size %d max %d: read %d bytes", c.size, c.max, len(b))
		}
	}
}
