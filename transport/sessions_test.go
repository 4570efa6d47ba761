package transport

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestSessionIDs(t *testing.T) {
	s := newSessionIDs()
	id := s.Generate()
	if term, err := s.Validate(id); term || err != nil {
		t.Fatalf("a live session: terminated=%v err=%v", term, err)
	}
	if term, _ := s.Validate(sessionIDPrefix + "NOTISSUED"); !term {
		t.Error("an id the hub never issued is accepted")
	}
	if _, err := s.Validate("garbage"); err == nil {
		t.Error("a malformed id is accepted")
	}
	_, _ = s.Terminate(id)
	if term, _ := s.Validate(id); !term {
		t.Error("a terminated session is accepted")
	}
	if s.count() != 0 {
		t.Errorf("%d ids kept after termination", s.count())
	}
}

// TestSessionTerminated: after DELETE, the session's id gets 404 (the spec's signal to start a
// new session) rather than being served as if it were live.
func TestSessionTerminated(t *testing.T) {
	hub, cfg, reg := buildDocsHub(t)
	h := NewHTTP(Options{Config: cfg, Hub: hub, Logger: slog.New(slog.DiscardHandler), Version: "test", Registry: reg})
	ts := httptest.NewServer(h.Handler())
	t.Cleanup(func() {
		ts.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		h.Close(ctx)
	})
	c := &rpcClient{t: t, url: ts.URL + "/mcp/docs"}
	c.initialize()
	if a := c.post("tools/list", nil); a.Error != nil {
		t.Fatalf("tools/list: %+v", a.Error)
	}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodDelete, c.url, nil)
	req.Header.Set("Mcp-Session-Id", c.session)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("DELETE: HTTP %d", resp.StatusCode)
	}
	req, _ = http.NewRequestWithContext(t.Context(), http.MethodPost, c.url, strings.NewReader(`{"jsonrpc":"2.0","id":9,"method":"tools/list"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Session-Id", c.session)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("request on a terminated session: HTTP %d, want 404", resp.StatusCode)
	}
}
