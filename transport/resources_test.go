package transport

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mcphub/mcphub/configs"
	"github.com/mcphub/mcphub/servers/registry"
)

// docsServer is a test-only hub server with a tool, a resource, a template and a prompt.
type docsServer struct{}

func (docsServer) Tools() []registry.Tool {
	return []registry.Tool{{
		Def:   mcp.NewTool("docs_ping", mcp.WithDescription("Answers pong.")),
		Hints: &registry.Hints{ReadOnly: true, Idempotent: true},
		Handler: func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return mcp.NewToolResultText("pong"), nil
		},
	}}
}

func (docsServer) Resources() []registry.Resource {
	return []registry.Resource{{
		Def: mcp.NewResource("docs://readme", "readme", mcp.WithMIMEType("text/plain")),
		Handler: func(ctx context.Context, req mcp.ReadResourceRequest) ([]mcp.ResourceContents, error) {
			return []mcp.ResourceContents{mcp.TextResourceContents{URI: req.Params.URI, MIMEType: "text/plain",
				Text: "read by " + registry.Identity(ctx)}}, nil
		},
	}}
}

func (docsServer) ResourceTemplates() []registry.ResourceTemplate {
	return []registry.ResourceTemplate{{
		Def: mcp.NewResourceTemplate("docs://page/{name}", "page"),
		Handler: func(_ context.Context, req mcp.ReadResourceRequest) ([]mcp.ResourceContents, error) {
			if !strings.HasSuffix(req.Params.URI, "/intro") {
				return nil, fmt.Errorf("page lookup: %w", registry.ErrResourceNotFound)
			}
			return []mcp.ResourceContents{mcp.TextResourceContents{URI: req.Params.URI, Text: "intro page"}}, nil
		},
	}}
}

func (docsServer) Prompts() []registry.Prompt {
	return []registry.Prompt{{
		Def: mcp.NewPrompt("docs_summarize", mcp.WithPromptDescription("Summarize a page."),
			mcp.WithArgument("page", mcp.RequiredArgument())),
		Handler: func(_ context.Context, req mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
			return mcp.NewGetPromptResult("summary", []mcp.PromptMessage{
				mcp.NewPromptMessage(mcp.RoleUser, mcp.NewTextContent("Summarize "+req.Params.Arguments["page"])),
			}), nil
		},
	}}
}

// plainServer has tools only: its endpoint must not announce resources or prompts.
type plainServer struct{}

func (plainServer) Tools() []registry.Tool {
	return []registry.Tool{{
		Def:   mcp.NewTool("plain_ping", mcp.WithDescription("Answers pong.")),
		Hints: &registry.Hints{ReadOnly: true, Idempotent: true},
		Handler: func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return mcp.NewToolResultText("pong"), nil
		},
	}}
}

func buildDocsHub(t *testing.T) (*registry.Hub, *configs.Config, *prometheus.Registry) {
	t.Helper()
	cfg := configs.Default()
	cfg.DataDir = t.TempDir()
	reg := prometheus.NewRegistry()
	hub, err := registry.Build(context.Background(), registry.Options{
		Config: cfg, Logger: slog.New(slog.DiscardHandler), Metrics: registry.NewMetrics(reg),
		Catalog: []registry.Factory{
			{Name: "docs", DefaultEnabled: true, New: func() registry.Server { return docsServer{} }},
			{Name: "plain", DefaultEnabled: true, New: func() registry.Server { return plainServer{} }},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = hub.Close(context.Background()) })
	return hub, cfg, reg
}

// rpcAnswer is a JSON-RPC response as the tests read it.
type rpcAnswer struct {
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// rpcClient speaks raw JSON-RPC to one endpoint, so that the tests see the exact codes.
type rpcClient struct {
	t       *testing.T
	url     string
	modern  bool
	session string
	id      int
}

func (c *rpcClient) post(method string, params map[string]any) rpcAnswer {
	c.t.Helper()
	c.id++
	if params == nil {
		params = map[string]any{}
	}
	if c.modern {
		params["_meta"] = map[string]any{"io.modelcontextprotocol/protocolVersion": "2026-07-28",
			"io.modelcontextprotocol/clientCapabilities": map[string]any{}}
	}
	body, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": c.id, "method": method, "params": params})
	req, _ := http.NewRequestWithContext(c.t.Context(), http.MethodPost, c.url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if c.modern {
		req.Header.Set("Mcp-Protocol-Version", "2026-07-28")
		req.Header.Set("Mcp-Method", method)
		if name, ok := params["name"].(string); ok {
			req.Header.Set("Mcp-Name", name)
		} else if uri, ok := params["uri"].(string); ok {
			req.Header.Set("Mcp-Name", uri)
		}
	} else if c.session != "" {
		req.Header.Set("Mcp-Session-Id", c.session)
		req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	// 2026-07-28 answers invalid-params errors (a resource not found) with HTTP 400.
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusAccepted && (!c.modern || resp.StatusCode != http.StatusBadRequest) {
		c.t.Fatalf("%s: HTTP %d: %s", method, resp.StatusCode, raw)
	}
	if s := resp.Header.Get("Mcp-Session-Id"); s != "" {
		c.session = s
	}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		for line := range strings.SplitSeq(string(raw), "\n") {
			if d, ok := strings.CutPrefix(line, "data: "); ok && strings.Contains(d, `"id"`) {
				raw = []byte(d)
			}
		}
	}
	var a rpcAnswer
	if err := json.Unmarshal(raw, &a); err != nil {
		c.t.Fatalf("%s: %v: %s", method, err, raw)
	}
	return a
}

func (c *rpcClient) initialize() json.RawMessage {
	c.t.Helper()
	a := c.post("initialize", map[string]any{"protocolVersion": "2025-11-25", "capabilities": map[string]any{},
		"clientInfo": map[string]any{"name": "test", "version": "1"}})
	c.id++
	body := `{"jsonrpc":"2.0","method":"notifications/initialized"}`
	req, _ := http.NewRequestWithContext(c.t.Context(), http.MethodPost, c.url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Session-Id", c.session)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	_ = resp.Body.Close()
	return a.Result
}

// checkExtras runs the resource and prompt requests every endpoint serving docs must answer.
func checkExtras(t *testing.T, call func(method string, params map[string]any) rpcAnswer, modern bool) {
	t.Helper()
	mustResult := func(method string, params map[string]any, want ...string) {
		t.Helper()
		a := call(method, params)
		if a.Error != nil {
			t.Fatalf("%s: error %d %s", method, a.Error.Code, a.Error.Message)
		}
		for _, w := range want {
			if !strings.Contains(string(a.Result), w) {
				t.Errorf("%s: result %s lacks %s", method, a.Result, w)
			}
		}
	}
	mustResult("resources/list", nil, `"uri":"docs://readme"`, `"mimeType":"text/plain"`)
	mustResult("resources/templates/list", nil, `"uriTemplate":"docs://page/{name}"`)
	mustResult("resources/read", map[string]any{"uri": "docs://readme"}, `"text":"read by local"`)
	mustResult("resources/read", map[string]any{"uri": "docs://page/intro"}, `"text":"intro page"`)
	mustResult("prompts/list", nil, `"name":"docs_summarize"`, `"required":true`)
	mustResult("prompts/get", map[string]any{"name": "docs_summarize", "arguments": map[string]any{"page": "intro"}}, `"text":"Summarize intro"`)

	wantCode := -32002
	if modern {
		wantCode = -32602
	}
	for _, uri := range []string{"docs://page/missing", "nowhere://at/all"} {
		a := call("resources/read", map[string]any{"uri": uri})
		if a.Error == nil || a.Error.Code != wantCode || !strings.Contains(a.Error.Message, uri) {
			t.Errorf("read %s: got %+v, want code %d naming the URI", uri, a.Error, wantCode)
		}
	}
}

func TestResourcesAndPromptsHTTP(t *testing.T) {
	hub, cfg, reg := buildDocsHub(t)
	h := NewHTTP(Options{Config: cfg, Hub: hub, Logger: slog.New(slog.DiscardHandler), Version: "test", Registry: reg})
	ts := httptest.NewServer(h.Handler())
	t.Cleanup(func() {
		ts.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		h.Close(ctx)
	})
	for _, path := range []string{"/mcp", "/mcp/docs"} {
		t.Run(path+"/session", func(t *testing.T) {
			c := &rpcClient{t: t, url: ts.URL + path}
			init := string(c.initialize())
			if !strings.Contains(init, `"resources":{}`) || !strings.Contains(init, `"prompts":{}`) {
				t.Errorf("initialize does not announce resources and prompts: %s", init)
			}
			checkExtras(t, c.post, false)
		})
		t.Run(path+"/stateless", func(t *testing.T) {
			c := &rpcClient{t: t, url: ts.URL + path, modern: true}
			checkExtras(t, c.post, true)
		})
	}
	t.Run("/mcp/plain", func(t *testing.T) {
		c := &rpcClient{t: t, url: ts.URL + "/mcp/plain"}
		init := string(c.initialize())
		if strings.Contains(init, `"resources"`) || strings.Contains(init, `"prompts"`) {
			t.Errorf("a server without resources or prompts announces them: %s", init)
		}
		if a := c.post("resources/list", nil); a.Error == nil || a.Error.Code != -32601 {
			t.Errorf("resources/list on a server without resources: %+v", a.Error)
		}
	})
}

func TestResourcesAndPromptsStdio(t *testing.T) {
	hub, cfg, reg := buildDocsHub(t)
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	done := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		done <- ServeStdio(ctx, Options{Config: cfg, Hub: hub, Logger: slog.New(slog.DiscardHandler), Version: "test", Registry: reg}, inR, outW)
		_ = outW.Close()
	}()
	lines := bufio.NewScanner(outR)
	lines.Buffer(nil, 1<<20)
	id := 0
	call := func(method string, params map[string]any) rpcAnswer {
		t.Helper()
		id++
		msg, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": id, "method": method, "params": params})
		if _, err := inW.Write(append(msg, '\n')); err != nil {
			t.Fatal(err)
		}
		for lines.Scan() {
			var a struct {
				ID json.RawMessage `json:"id"`
				rpcAnswer
			}
			if json.Unmarshal(lines.Bytes(), &a) == nil && string(a.ID) == fmt.Sprint(id) {
				return a.rpcAnswer
			}
		}
		t.Fatalf("%s: no answer: %v", method, lines.Err())
		return rpcAnswer{}
	}
	init := call("initialize", map[string]any{"protocolVersion": "2025-11-25", "capabilities": map[string]any{},
		"clientInfo": map[string]any{"name": "test", "version": "1"}})
	if !strings.Contains(string(init.Result), `"resources":{}`) {
		t.Errorf("stdio initialize does not announce resources: %s", init.Result)
	}
	_, _ = inW.Write([]byte(`{"jsonrpc":"2.0","method":"notifications/initialized"}` + "\n"))
	checkExtras(t, call, false)
	_ = inW.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("stdio did not stop")
	}
}

func TestRewriteNotFound(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{`{"error":{"code":-32603,"message":"Resource not found: a://b"}}`, `{"error":{"code":-32002,"message":"Resource not found: a://b"}}`},
		{`{"error":{"code":-32603,"message":"Resource not found (invalid params): a://b"}}`, `{"error":{"code":-32602,"message":"Resource not found (invalid params): a://b"}}`},
		{`{"error":{"code":-32603,"message":"internal error reading a://b"}}`, `{"error":{"code":-32603,"message":"internal error reading a://b"}}`},
		{`{"result":{"text":"\"code\":-32603,\"message\":\"Resource not found: x"}}`, `{"result":{"text":"\"code\":-32603,\"message\":\"Resource not found: x"}}`},
	} {
		p := []byte(tt.in)
		rewriteNotFound(p)
		if string(p) != tt.want {
			t.Errorf("rewriteNotFound(%s) = %s", tt.in, p)
		}
	}
}
