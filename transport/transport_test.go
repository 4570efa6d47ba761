package transport

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/server"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mcphub/mcphub/configs"
	"github.com/mcphub/mcphub/servers/registry"
)

func testGuard(t *testing.T, mutate func(*configs.Config)) *guard {
	t.Helper()
	cfg := configs.Default()
	if mutate != nil {
		mutate(cfg)
	}
	return newGuard(cfg, newHTTPMetrics(prometheus.NewRegistry()))
}

var okHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) })

// withLocalAddr makes r look as if it arrived on the given local address, as net/http sets it.
func withLocalAddr(r *http.Request, addr string) *http.Request {
	a, _ := net.ResolveTCPAddr("tcp", addr)
	return r.WithContext(context.WithValue(r.Context(), http.LocalAddrContextKey, a))
}

func TestCheckHostOrigin(t *testing.T) {
	tests := []struct {
		name         string
		mutate       func(*configs.Config)
		host, origin string
		local        string
		want         int
	}{
		{"loopback name", nil, "localhost:8080", "", "127.0.0.1:8080", http.StatusTeapot},
		{"loopback ip", nil, "127.0.0.1:8080", "", "127.0.0.1:8080", http.StatusTeapot},
		{"loopback v6", nil, "[::1]:8080", "", "[::1]:8080", http.StatusTeapot},
		{"sub.localhost", nil, "app.localhost:8080", "", "127.0.0.1:8080", http.StatusTeapot},
		{"rebinding on loopback", nil, "evil.example:8080", "", "127.0.0.1:8080", http.StatusForbidden},
		{"rebinding to 127.1 name", nil, "127.0.0.1.evil.example", "", "127.0.0.1:8080", http.StatusForbidden},
		{"allowed host on loopback (reverse proxy)", func(c *configs.Config) { c.HTTP.AllowedHosts = []string{"mcp.example.com"} },
			"mcp.example.com", "", "127.0.0.1:8080", http.StatusTeapot},
		{"allowed host:port", func(c *configs.Config) { c.HTTP.AllowedHosts = []string{"mcp.example.com:443"} },
			"mcp.example.com:443", "", "10.0.0.5:8080", http.StatusTeapot},
		{"other host with allowed hosts set", func(c *configs.Config) { c.HTTP.AllowedHosts = []string{"mcp.example.com"} },
			"other.example.com", "", "10.0.0.5:8080", http.StatusForbidden},
		{"wide listener, no allowed hosts", nil, "10.0.0.5:8080", "", "10.0.0.5:8080", http.StatusTeapot},
		{"no origin", nil, "localhost", "", "127.0.0.1:1", http.StatusTeapot},
		{"origin not allowed", nil, "localhost", "http://localhost:3000", "127.0.0.1:1", http.StatusForbidden},
		{"origin allowed", func(c *configs.Config) { c.HTTP.AllowedOrigins = []string{"http://localhost:3000"} },
			"localhost", "http://localhost:3000", "127.0.0.1:1", http.StatusTeapot},
		{"origin case-insensitive", func(c *configs.Config) { c.HTTP.AllowedOrigins = []string{"https://app.example"} },
			"localhost", "HTTPS://APP.EXAMPLE", "127.0.0.1:1", http.StatusTeapot},
		{"origin null", nil, "localhost", "null", "127.0.0.1:1", http.StatusForbidden},
		{"origin with path is not an origin", func(c *configs.Config) { c.HTTP.AllowedOrigins = []string{"https://app.example"} },
			"localhost", "https://app.example/x", "127.0.0.1:1", http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := testGuard(t, tt.mutate)
			r := httptest.NewRequestWithContext(context.Background(), http.MethodPost, "/mcp", nil)
			r.Host = tt.host
			if tt.origin != "" {
				r.Header.Set("Origin", tt.origin)
			}
			r = withLocalAddr(r, tt.local)
			w := httptest.NewRecorder()
			g.checkHostOrigin(okHandler).ServeHTTP(w, r)
			if w.Code != tt.want {
				t.Errorf("got %d %s, want %d", w.Code, w.Body, tt.want)
			}
		})
	}
}

func TestAuthenticate(t *testing.T) {
	g := testGuard(t, func(c *configs.Config) {
		c.Auth.APIKeys = []configs.APIKey{{Identity: "a", Key: "key-aaaaaaaaaaaaaaaa"}, {Identity: "b", Key: "key-bbbbbbbbbbbbbbbb"}}
	})
	var seen string
	h := g.authenticate(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = identityOf(r)
		w.WriteHeader(http.StatusTeapot)
	}))
	tests := []struct {
		header, wantID string
		want           int
	}{
		{"", "", http.StatusUnauthorized},
		{"Bearer", "", http.StatusUnauthorized},
		{"Basic key-aaaaaaaaaaaaaaaa", "", http.StatusUnauthorized},
		{"Bearer key-aaaaaaaaaaaaaaa", "", http.StatusUnauthorized},
		{"Bearer key-aaaaaaaaaaaaaaaa", "a", http.StatusTeapot},
		{"bearer key-bbbbbbbbbbbbbbbb", "b", http.StatusTeapot},
	}
	for _, tt := range tests {
		seen = ""
		r := httptest.NewRequestWithContext(context.Background(), http.MethodPost, "/mcp", nil)
		if tt.header != "" {
			r.Header.Set("Authorization", tt.header)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != tt.want || seen != tt.wantID {
			t.Errorf("%q: got %d identity %q, want %d %q", tt.header, w.Code, seen, tt.want, tt.wantID)
		}
		if w.Code == http.StatusUnauthorized && !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%q: 401 without WWW-Authenticate: Bearer", tt.header)
		}
	}
}

func TestReadBody(t *testing.T) {
	g := testGuard(t, func(c *configs.Config) { c.HTTP.MaxBodyBytes = 100 })
	var got []byte
	h := g.readBody(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ = io.ReadAll(r.Body)
		w.WriteHeader(http.StatusTeapot)
	}))
	cancel := `{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1}}`
	tests := []struct {
		name    string
		body    string
		session string
		want    int
	}{
		{"small", `{"a":1}`, "", http.StatusTeapot},
		{"exactly the limit", strings.Repeat(" ", 100), "", http.StatusTeapot},
		{"over the limit", strings.Repeat(" ", 101), "", http.StatusRequestEntityTooLarge},
		{"sessionless cancel dropped", cancel, "", http.StatusAccepted},
		{"session cancel passed", cancel, "mcp-session-1", http.StatusTeapot},
		{"cancel mentioned in a string passes", `{"method":"tools/call","params":{"x":"notifications/cancelled"}}`, "", http.StatusTeapot},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got = nil
			r := httptest.NewRequestWithContext(context.Background(), http.MethodPost, "/mcp", strings.NewReader(tt.body))
			if tt.session != "" {
				r.Header.Set("Mcp-Session-Id", tt.session)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tt.want {
				t.Fatalf("got %d, want %d", w.Code, tt.want)
			}
			if w.Code == http.StatusTeapot && string(got) != tt.body {
				t.Errorf("the handler saw a different body")
			}
		})
	}
	// A body whose declared length is over the limit is refused before reading.
	r := httptest.NewRequestWithContext(context.Background(), http.MethodPost, "/mcp", strings.NewReader("{}"))
	r.ContentLength = 1 << 20
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("declared length: got %d", w.Code)
	}
}

func TestIsNewRequest(t *testing.T) {
	tests := []struct {
		body string
		want bool
	}{
		{`{"jsonrpc":"2.0","id":1,"method":"tools/call"}`, true},
		{`{"jsonrpc":"2.0","id":"a","method":"initialize"}`, true},
		{`{"jsonrpc":"2.0","method":"notifications/progress"}`, false},
		{`{"jsonrpc":"2.0","id":null,"method":"x"}`, false},
		{`{"jsonrpc":"2.0","id":3,"result":{}}`, false},
		{`not json`, true},
	}
	for _, tt := range tests {
		if got := isNewRequest([]byte(tt.body)); got != tt.want {
			t.Errorf("isNewRequest(%s) = %v, want %v", tt.body, got, tt.want)
		}
	}
}

func TestLimitConcurrency(t *testing.T) {
	g := testGuard(t, func(c *configs.Config) { c.HTTP.MaxConcurrentRequests = 1 })
	entered, release := make(chan struct{}), make(chan struct{})
	h := g.limitConcurrency(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		close(entered)
		<-release
	}))
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequestWithContext(context.Background(), http.MethodPost, "/mcp", nil))
	}()
	<-entered
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequestWithContext(context.Background(), http.MethodPost, "/mcp", nil))
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" {
		t.Errorf("got %d, want 503 with Retry-After", w.Code)
	}
	close(release)
	<-done
}

func TestBoundedEventStore(t *testing.T) {
	ctx := context.Background()
	s := newBoundedEventStore(3, 2)
	var ids []string
	for i := range 5 {
		id, err := s.StoreEvent(ctx, "s1", "stream-a", json.RawMessage(`{"n":`+string(rune('0'+i))+`}`))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	_, _ = s.StoreEvent(ctx, "s1", "stream-b", json.RawMessage(`{"other":1}`))

	// Only the last three events are kept: the first ones cannot be resumed from.
	if _, err := s.ReplayEventsAfter(ctx, "s1", ids[0], func(string, json.RawMessage) error { return nil }); !errors.Is(err, server.ErrUnknownEventID) {
		t.Errorf("evicted event: got %v", err)
	}
	var replayed []string
	stream, err := s.ReplayEventsAfter(ctx, "s1", ids[3], func(id string, _ json.RawMessage) error {
		replayed = append(replayed, id)
		return nil
	})
	if err != nil || stream != "stream-a" || len(replayed) != 1 || replayed[0] != ids[4] {
		t.Errorf("replay after %s: %q %v %v", ids[3], stream, replayed, err)
	}

	// Sessions are bounded too, least recently used first; sessionless events are not stored.
	_, _ = s.StoreEvent(ctx, "s2", "x", json.RawMessage(`1`))
	_, _ = s.StoreEvent(ctx, "s3", "x", json.RawMessage(`1`))
	if len(s.sessions) != 2 {
		t.Errorf("sessions kept = %d, want 2", len(s.sessions))
	}
	if _, ok := s.sessions["s1"]; ok {
		t.Error("the least recently used session was kept")
	}
	if id, _ := s.StoreEvent(ctx, "", "x", json.RawMessage(`1`)); id == "" {
		t.Error("sessionless events still need an id")
	}
	if _, ok := s.sessions[""]; ok {
		t.Error("a sessionless event was stored")
	}
	_ = s.PurgeSession(ctx, "s2")
	if _, ok := s.sessions["s2"]; ok {
		t.Error("purged session kept")
	}
}

func runPump(t *testing.T, input string, limit int64) string {
	t.Helper()
	pr, pw := io.Pipe()
	go pumpLines(strings.NewReader(input), pw, limit, slog.New(slog.DiscardHandler))
	out, err := io.ReadAll(pr)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func TestPumpLines(t *testing.T) {
	big := `{"jsonrpc":"2.0","id":42,"method":"tools/call","params":{"x":"` + strings.Repeat("a", 200000) + `"}}`
	tests := []struct {
		name, in, want string
		limit          int64
	}{
		{"passes lines", "{\"a\":1}\n{\"b\":2}\n", "{\"a\":1}\n{\"b\":2}\n", 100},
		{"last line without newline", "{\"a\":1}", "{\"a\":1}", 100},
		{"oversized with id", big + "\n{\"ok\":1}\n",
			`{"jsonrpc":"2.0","id":42,"method":"message_larger_than_1000_bytes_refused"}` + "\n{\"ok\":1}\n", 1000},
		{"oversized string id", `{"id":"abc","x":"` + strings.Repeat("b", 5000) + "\"}\n",
			`{"jsonrpc":"2.0","id":"abc","method":"message_larger_than_1000_bytes_refused"}` + "\n", 1000},
		{"oversized without id", strings.Repeat("c", 5000) + "\n", "{\"mcphub\": \"message too large\"\n", 1000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := runPump(t, tt.in, tt.limit); got != tt.want {
				t.Errorf("got %.200q, want %.200q", got, tt.want)
			}
		})
	}
}

func FuzzPumpLines(f *testing.F) {
	f.Add([]byte("{\"id\":1}\n{\"id\":2}\n"), int64(10))
	f.Add([]byte(strings.Repeat("x", 300)+"\n"), int64(64))
	f.Fuzz(func(t *testing.T, in []byte, limit int64) {
		if limit < 16 || limit > 1<<16 {
			return
		}
		out := runPump(t, string(in), limit)
		// Every line out is within the limit or is one of the short refusals.
		for line := range strings.SplitSeq(out, "\n") {
			if int64(len(line)) > limit && len(line) > 400 {
				t.Fatalf("line of %d bytes passed a %d-byte limit", len(line), limit)
			}
		}
		if !bytes.Contains(in, []byte("\n")) && int64(len(in)) <= limit && out != string(in) {
			t.Fatalf("single short line changed: %q -> %q", in, out)
		}
	})
}

func identityOf(r *http.Request) string { return registry.Identity(r.Context()) }

func TestReadBodyTimeout(t *testing.T) {
	g := testGuard(t, func(c *configs.Config) { c.HTTP.ReadBodyTimeout = configs.Duration(200 * time.Millisecond) })
	ts := httptest.NewServer(g.readBody(okHandler))
	defer ts.Close()
	var d net.Dialer
	conn, err := d.DialContext(context.Background(), "tcp", ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Headers promise 100 bytes; 10 arrive, then nothing.
	if _, err := io.WriteString(conn, "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"a\":12345"); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(string(body), "read_body_timeout") {
		t.Errorf("got %d %s, want 408 naming http.read_body_timeout", resp.StatusCode, body)
	}
}
