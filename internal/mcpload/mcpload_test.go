package mcpload

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// fakeServer plays an MCP endpoint with one tool, "echo", whose answer depends on the "mode"
// argument; it checks the headers and body of every request against the protocol generation
// and records what it saw.
type fakeServer struct {
	t     *testing.T
	proto string

	mu      sync.Mutex
	methods []string // JSON-RPC methods received, in order
}

const fakeSession = "session-1"

func (f *fakeServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	t := f.t
	body, err := io.ReadAll(r.Body)
	if err != nil {
		t.Errorf("reading the request: %v", err)
		return
	}
	var req struct {
		ID     json.RawMessage `json:"id"`
		Method string          `json:"method"`
		Params struct {
			ProtocolVersion string `json:"protocolVersion"`
			Name            string `json:"name"`
			Arguments       struct {
				Text string `json:"text"`
				Mode string `json:"mode"`
			} `json:"arguments"`
			Meta map[string]json.RawMessage `json:"_meta"`
		} `json:"params"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		t.Errorf("request is not JSON: %v: %s", err, body)
		http.Error(w, "bad JSON", http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	f.methods = append(f.methods, req.Method)
	f.mu.Unlock()

	h := r.Header
	if got := h.Get("Content-Type"); got != "application/json" {
		t.Errorf("%s: Content-Type %q", req.Method, got)
	}
	if got := h.Get("Accept"); got != "application/json, text/event-stream" {
		t.Errorf("%s: Accept %q", req.Method, got)
	}
	if got := h.Get("X-Test"); got != "yes" {
		t.Errorf("%s: the extra header X-Test is %q, want yes", req.Method, got)
	}

	switch req.Method {
	case "initialize":
		if f.proto != Legacy {
			t.Errorf("initialize at protocol %s", f.proto)
		}
		if req.Params.ProtocolVersion != Legacy || h.Get("Mcp-Session-Id") != "" {
			t.Errorf("initialize: protocolVersion %q, session %q", req.Params.ProtocolVersion, h.Get("Mcp-Session-Id"))
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Mcp-Session-Id", fakeSession)
		fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,"result":{"protocolVersion":%q,"capabilities":{}}}`, req.ID, Legacy)
		return
	case "notifications/initialized":
		if h.Get("Mcp-Session-Id") != fakeSession {
			t.Errorf("notifications/initialized: session %q", h.Get("Mcp-Session-Id"))
		}
		w.WriteHeader(http.StatusAccepted)
		return
	case "tools/call":
	default:
		t.Errorf("unexpected method %q", req.Method)
		http.Error(w, "unexpected method", http.StatusBadRequest)
		return
	}

	if req.Params.Name != "echo" {
		t.Errorf("tools/call: name %q", req.Params.Name)
	}
	if got := h.Get("Mcp-Protocol-Version"); got != f.proto {
		t.Errorf("tools/call: MCP-Protocol-Version %q, want %q", got, f.proto)
	}
	if f.proto == Modern {
		if h.Get("Mcp-Method") != "tools/call" || h.Get("Mcp-Name") != "echo" || h.Get("Mcp-Session-Id") != "" {
			t.Errorf("tools/call: Mcp-Method %q, Mcp-Name %q, Mcp-Session-Id %q",
				h.Get("Mcp-Method"), h.Get("Mcp-Name"), h.Get("Mcp-Session-Id"))
		}
		if string(req.Params.Meta["io.modelcontextprotocol/protocolVersion"]) != `"`+Modern+`"` ||
			string(req.Params.Meta["io.modelcontextprotocol/clientCapabilities"]) != `{}` {
			t.Errorf("tools/call: _meta %s", body)
		}
	} else {
		if h.Get("Mcp-Session-Id") != fakeSession || h.Get("Mcp-Method") != "" || req.Params.Meta != nil {
			t.Errorf("tools/call: Mcp-Session-Id %q, Mcp-Method %q, _meta %v",
				h.Get("Mcp-Session-Id"), h.Get("Mcp-Method"), req.Params.Meta)
		}
	}

	id, text := string(req.ID), req.Params.Arguments.Text
	textResult := func(text string, isError bool) string {
		return fmt.Sprintf(`{"jsonrpc":"2.0","id":%s,"result":{"content":[{"type":"text","text":%q}],"isError":%t}}`, id, text, isError)
	}
	sse := func(events ...string) {
		w.Header().Set("Content-Type", "text/event-stream")
		for _, e := range events {
			fmt.Fprintf(w, "event: message\ndata: %s\n\n", e)
		}
	}
	w.Header().Set("Content-Type", "application/json")
	switch req.Params.Arguments.Mode {
	case "json":
		_, _ = io.WriteString(w, textResult(text, false))
	case "sse":
		sse(`{"jsonrpc":"2.0","method":"notifications/progress","params":{"progress":1}}`, textResult(text, false))
	case "sse-multiline": // one event whose data spans two lines, no final blank line
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprintf(w, "data: {\"jsonrpc\":\"2.0\",\"id\":%s,\ndata: \"result\":{\"content\":[{\"type\":\"text\",\"text\":%q}]}}\n", id, text)
	case "sse-empty":
		sse(`{"jsonrpc":"2.0","method":"notifications/progress","params":{"progress":1}}`)
	case "http-error":
		http.Error(w, "overloaded", http.StatusServiceUnavailable)
	case "rpc-error":
		fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,"error":{"code":-32602,"message":"bad arguments"}}`, id)
	case "sse-rpc-error":
		sse(fmt.Sprintf(`{"jsonrpc":"2.0","id":%s,"error":{"code":-32603,"message":"internal"}}`, id))
	case "tool-error":
		_, _ = io.WriteString(w, textResult(text, true))
	case "other-text":
		_, _ = io.WriteString(w, textResult(text+"!", false))
	case "other-id":
		_, _ = io.WriteString(w, `{"jsonrpc":"2.0","id":999,"result":{"content":[]}}`)
	case "no-result":
		fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s}`, id)
	case "not-json":
		_, _ = io.WriteString(w, "<html>")
	default:
		t.Errorf("unknown mode %q", req.Params.Arguments.Mode)
	}
}

func TestCall(t *testing.T) {
	for _, proto := range []string{Modern, Legacy} {
		t.Run(proto, func(t *testing.T) {
			f := &fakeServer{t: t, proto: proto}
			ts := httptest.NewServer(f)
			defer ts.Close()
			hc := NewHTTPClient(4)
			defer hc.CloseIdleConnections()
			ctx := t.Context()

			c, err := Dial(ctx, hc, ts.URL, "echo", proto, http.Header{"X-Test": {"yes"}})
			if err != nil {
				t.Fatalf("Dial: %v", err)
			}
			for _, tc := range []struct {
				mode, want, wantErr string
			}{
				{"json", "hello", ""},
				{"json", "", ""}, // no text wanted: any result
				{"sse", "hello", ""},
				{"sse-multiline", "hello", ""},
				{"json", `quote " < & é`, ""}, // escaped on the way out
				{"sse-empty", "hello", "no response with id"},
				{"http-error", "hello", "HTTP 503: overloaded"},
				{"rpc-error", "hello", "JSON-RPC error -32602: bad arguments"},
				{"sse-rpc-error", "hello", "JSON-RPC error -32603: internal"},
				{"tool-error", "hello", "tool error"},
				{"other-text", "hello", `does not carry the text "hello"`},
				{"other-id", "hello", "answer has id 999"},
				{"no-result", "hello", "no result"},
				{"not-json", "hello", "answer is not JSON-RPC"},
			} {
				text := tc.want
				if text == "" {
					text = "anything"
				}
				err := c.Call(ctx, map[string]any{"text": text, "mode": tc.mode}, tc.want)
				switch {
				case tc.wantErr == "" && err != nil:
					t.Errorf("%s %q: %v", tc.mode, tc.want, err)
				case tc.wantErr != "" && err == nil:
					t.Errorf("%s %q: no error, want one with %q", tc.mode, tc.want, tc.wantErr)
				case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
					t.Errorf("%s %q: error %q, want one with %q", tc.mode, tc.want, err, tc.wantErr)
				case err != nil && !strings.HasPrefix(err.Error(), "tools/call echo: "):
					t.Errorf("%s: error %q lacks its context", tc.mode, err)
				}
			}

			f.mu.Lock()
			defer f.mu.Unlock()
			if proto == Legacy {
				if len(f.methods) < 2 || f.methods[0] != "initialize" || f.methods[1] != "notifications/initialized" {
					t.Errorf("legacy methods %v, want initialize, notifications/initialized first", f.methods)
				}
			} else if len(f.methods) == 0 || f.methods[0] != "tools/call" {
				t.Errorf("modern methods %v, want tools/call only", f.methods)
			}
		})
	}
}

func TestDialErrors(t *testing.T) {
	ctx := t.Context()
	hc := NewHTTPClient(1)
	defer hc.CloseIdleConnections()
	if _, err := Dial(ctx, hc, "http://127.0.0.1:1", "echo", "2024-11-05", nil); err == nil {
		t.Error("Dial accepted an unknown protocol")
	}
	noSession := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"jsonrpc":"2.0","id":0,"result":{}}`)
	}))
	defer noSession.Close()
	if _, err := Dial(ctx, hc, noSession.URL, "echo", Legacy, nil); err == nil || !strings.Contains(err.Error(), "no Mcp-Session-Id") {
		t.Errorf("Dial without a session id: %v", err)
	}
	refused := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "go away", http.StatusForbidden)
	}))
	defer refused.Close()
	if _, err := Dial(ctx, hc, refused.URL, "echo", Legacy, nil); err == nil || !strings.Contains(err.Error(), "initialize: HTTP 403") {
		t.Errorf("Dial refused: %v", err)
	}
}

func TestAppendArgs(t *testing.T) {
	for _, args := range []map[string]any{
		nil,
		{},
		{"text": "plain"},
		{"text": `needs "escaping" <b> & é \u2028` + "\n\x00\xff"},
		{"b": 1, "a": []int{1, 2}, "c": map[string]any{"x": true}, "d": nil},
		{"<key>": "v"},
	} {
		got, err := appendArgs(nil, args)
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		want, _ := json.Marshal(args)
		if args == nil {
			want = []byte("{}")
		}
		if string(got) != string(want) {
			t.Errorf("appendArgs(%v) = %s, want %s (encoding/json)", args, got, want)
		}
	}
	if _, err := appendArgs(nil, map[string]any{"f": func() {}}); err == nil {
		t.Error("appendArgs encoded a func")
	}
}

// FuzzParse feeds the response parser arbitrary answers: it must never panic, and a nil error
// must come with a response.
func FuzzParse(f *testing.F) {
	for _, seed := range []struct {
		ct, body string
	}{
		{"application/json", `{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"x"}]}}`},
		{"application/json", `{"jsonrpc":"2.0","id":1,"error":{"code":-1,"message":"m"}}`},
		{"application/json", `{"jsonrpc":"2.0","method":"notifications/progress"}`},
		{"application/json", ``},
		{"text/event-stream", "event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n\n"},
		{"text/event-stream", "data: {\"jsonrpc\":\"2.0\",\n data: \"id\":1,\"result\":{}}"},
		{"text/event-stream", "data: {\"method\":\"x\"}\n\ndata:{\"id\":1,\"result\":{\"isError\":true}}\n"},
		{"text/event-stream; charset=utf-8", ":comment\n\n\n"},
	} {
		f.Add(seed.ct, []byte(seed.body), int64(1))
	}
	f.Fuzz(func(t *testing.T, contentType string, body []byte, id int64) {
		m, err := parse(contentType, body, id)
		if err == nil && m == nil {
			t.Fatalf("parse(%q, %q, %d) returned neither a response nor an error", contentType, body, id)
		}
	})
}
