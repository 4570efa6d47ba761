package registry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/mcphub/mcphub/configs"
)

// extrasServer serves resources, a template and prompts besides one tool.
type extrasServer struct {
	fakeServer
	resources []Resource
	templates []ResourceTemplate
	prompts   []Prompt
	unblock   func()
}

// Close lets the handler that ignores its context return, so that no goroutine outlives the test.
func (s *extrasServer) Close() error {
	s.unblock()
	return nil
}

func (s *extrasServer) Resources() []Resource                 { return s.resources }
func (s *extrasServer) ResourceTemplates() []ResourceTemplate { return s.templates }
func (s *extrasServer) Prompts() []Prompt                     { return s.prompts }

func textContents(uri, text string) []mcp.ResourceContents {
	return []mcp.ResourceContents{mcp.TextResourceContents{URI: uri, MIMEType: "text/plain", Text: text}}
}

func readHandler(text string) ResourceHandler {
	return func(_ context.Context, req mcp.ReadResourceRequest) ([]mcp.ResourceContents, error) {
		return textContents(req.Params.URI, text), nil
	}
}

func newExtrasServer() *extrasServer {
	block := make(chan struct{})
	return &extrasServer{
		unblock:    sync.OnceFunc(func() { close(block) }),
		fakeServer: fakeServer{tools: []Tool{tool("xx_do", textHandler("x"))}},
		resources: []Resource{
			{Def: mcp.NewResource("xx://ok", "ok"), Handler: readHandler("hello")},
			{Def: mcp.NewResource("xx://identity", "identity"), Handler: func(ctx context.Context, req mcp.ReadResourceRequest) ([]mcp.ResourceContents, error) {
				return textContents(req.Params.URI, Identity(ctx)), nil
			}},
			{Def: mcp.NewResource("xx://gone", "gone"), Handler: func(context.Context, mcp.ReadResourceRequest) ([]mcp.ResourceContents, error) {
				return nil, fmt.Errorf("looking it up: %w", ErrResourceNotFound)
			}},
			{Def: mcp.NewResource("xx://broken", "broken"), Handler: func(context.Context, mcp.ReadResourceRequest) ([]mcp.ResourceContents, error) {
				return nil, errors.New("disk on fire")
			}},
			{Def: mcp.NewResource("xx://panic", "panic"), Handler: func(context.Context, mcp.ReadResourceRequest) ([]mcp.ResourceContents, error) {
				panic("boom")
			}},
			{Def: mcp.NewResource("xx://slow", "slow"), Handler: func(context.Context, mcp.ReadResourceRequest) ([]mcp.ResourceContents, error) {
				<-block // ignores its context: the middleware must answer at the deadline anyway
				return nil, nil
			}},
			{Def: mcp.NewResource("xx://huge", "huge"), Handler: readHandler(strings.Repeat("x", maxResourceBytes+1))},
		},
		templates: []ResourceTemplate{{
			Def: mcp.NewResourceTemplate("xx://doc/{id}", "doc"),
			Handler: func(_ context.Context, req mcp.ReadResourceRequest) ([]mcp.ResourceContents, error) {
				id := fmt.Sprint(req.Params.Arguments["id"])
				if id != "[1]" && id != "1" {
					return nil, ErrResourceNotFound
				}
				return textContents(req.Params.URI, "doc 1"), nil
			},
		}},
		prompts: []Prompt{
			{Def: mcp.NewPrompt("xx_greet", mcp.WithArgument("name", mcp.RequiredArgument())),
				Handler: func(_ context.Context, req mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
					if req.Params.Arguments["name"] == "" {
						return nil, errors.New("argument name is required")
					}
					return mcp.NewGetPromptResult("greeting", []mcp.PromptMessage{
						mcp.NewPromptMessage(mcp.RoleUser, mcp.NewTextContent("Hello, "+req.Params.Arguments["name"])),
					}), nil
				}},
			{Def: mcp.NewPrompt("xx_nil"), Handler: func(context.Context, mcp.GetPromptRequest) (*mcp.GetPromptResult, error) { return nil, nil }},
			{Def: mcp.NewPrompt("xx_panic"), Handler: func(context.Context, mcp.GetPromptRequest) (*mcp.GetPromptResult, error) { panic("boom") }},
		},
	}
}

func (th *testHub) read(ctx context.Context, t *testing.T, server, uri string) ([]mcp.ResourceContents, error) {
	t.Helper()
	in := th.hub.Instance(server)
	var req mcp.ReadResourceRequest
	req.Params.URI = uri
	for _, r := range in.ServerResources() {
		if r.Resource.URI == uri {
			return r.Handler(ctx, req)
		}
	}
	for _, tpl := range in.ServerResourceTemplates() {
		if vars := tpl.Template.URITemplate.Match(uri); vars != nil {
			req.Params.Arguments = map[string]any{}
			for k, v := range vars {
				req.Params.Arguments[k] = v.String()
			}
			return tpl.Handler(ctx, req)
		}
	}
	t.Fatalf("no resource %s", uri)
	return nil, nil
}

func (th *testHub) reads(server, outcome string) float64 {
	return testutil.ToFloat64(th.metrics.resourceReads.WithLabelValues(server, outcome))
}

func TestResourceMiddleware(t *testing.T) {
	cfg := configs.Default()
	cfg.Limits.ToolTimeout = configs.Duration(200 * time.Millisecond)
	th := buildHub(t, cfg, Factory{Name: "xx", DefaultEnabled: true, New: func() Server { return newExtrasServer() }})
	ctx := WithIdentity(context.Background(), "alice")

	tests := []struct {
		uri     string
		text    string // of the one content on success
		errWant string // substring of the error, "" for success
		outcome string
	}{
		{"xx://ok", "hello", "", OutcomeOK},
		{"xx://identity", "alice", "", OutcomeOK},
		{"xx://doc/1", "doc 1", "", OutcomeOK},
		{"xx://doc/2", "", ResourceNotFoundMessage + "xx://doc/2", OutcomeNotFound},
		{"xx://gone", "", ResourceNotFoundMessage + "xx://gone", OutcomeNotFound},
		{"xx://broken", "", "internal error reading xx://broken: disk on fire", OutcomeInternal},
		{"xx://panic", "", "crashed", OutcomePanic},
		{"xx://slow", "", "did not finish within its time limit of 200ms", OutcomeTimeout},
		{"xx://huge", "", "more than the 8388608 bytes", OutcomeTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.uri, func(t *testing.T) {
			before := th.reads("xx", tt.outcome)
			start := time.Now()
			contents, err := th.read(ctx, t, "xx", tt.uri)
			if time.Since(start) > 2*time.Second {
				t.Errorf("read took %s", time.Since(start))
			}
			if tt.errWant != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errWant) {
					t.Fatalf("error = %v, want it to contain %q", err, tt.errWant)
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				if len(contents) != 1 || contents[0].(mcp.TextResourceContents).Text != tt.text {
					t.Fatalf("contents = %#v, want %q", contents, tt.text)
				}
			}
			if got := th.reads("xx", tt.outcome) - before; got != 1 {
				t.Errorf("outcome %s counted %v times, want 1", tt.outcome, got)
			}
		})
	}
	if !strings.Contains(th.logs.String(), "boom") {
		t.Error("the panic is not in the log")
	}
}

func TestPromptMiddleware(t *testing.T) {
	th := buildHub(t, nil, Factory{Name: "xx", DefaultEnabled: true, New: func() Server { return newExtrasServer() }})
	get := func(name string, args map[string]string) (*mcp.GetPromptResult, error) {
		for _, p := range th.hub.Instance("xx").ServerPrompts() {
			if p.Prompt.Name == name {
				var req mcp.GetPromptRequest
				req.Params.Name, req.Params.Arguments = name, args
				return p.Handler(context.Background(), req)
			}
		}
		t.Fatalf("no prompt %s", name)
		return nil, nil
	}
	res, err := get("xx_greet", map[string]string{"name": "Ada"})
	if err != nil || res.Messages[0].Content.(mcp.TextContent).Text != "Hello, Ada" {
		t.Fatalf("greet = %#v, %v", res, err)
	}
	for name, want := range map[string]string{"xx_nil": "returned no result", "xx_panic": "crashed"} {
		if _, err := get(name, nil); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", name, err, want)
		}
	}
	if _, err := get("xx_greet", map[string]string{"name": ""}); err == nil || !strings.Contains(err.Error(), "argument name is required") {
		t.Errorf("missing argument: %v", err)
	}
	if got := testutil.ToFloat64(th.metrics.promptGets.WithLabelValues("xx", OutcomePanic)); got != 1 {
		t.Errorf("prompt panics counted %v", got)
	}
}

func TestBuildRefusesDuplicateExtras(t *testing.T) {
	a := Factory{Name: "xx", DefaultEnabled: true, New: func() Server { return newExtrasServer() }}
	b := Factory{Name: "yy", DefaultEnabled: true, New: func() Server {
		s := newExtrasServer()
		s.tools = []Tool{tool("yy_do", textHandler("y"))}
		return s
	}}
	_, err := Build(context.Background(), Options{Config: configs.Default(), Catalog: []Factory{a, b},
		Metrics: NewMetrics(prometheus.NewRegistry()), Logger: slog.New(slog.DiscardHandler)})
	for _, want := range []string{`resource "xx://ok" is declared by "xx" and "yy"`, `prompt "xx_greet" is declared by`, `resource template "xx://doc/{id}"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
}

func TestFreeToolNames(t *testing.T) {
	srv := &fakeServer{tools: []Tool{tool("test_simple_text", textHandler("x"))}}
	f := Factory{Name: "conformance", New: func() Server { return srv }}
	if err := CheckCatalog([]Factory{f}); err == nil {
		t.Fatal("a free name passed without FreeToolNames")
	}
	f.FreeToolNames = true
	if err := CheckCatalog([]Factory{f}); err != nil {
		t.Fatalf("FreeToolNames: %v", err)
	}
	// Uniqueness still holds across the hub.
	other := Factory{Name: "zz", FreeToolNames: true, New: func() Server { return srv }}
	if err := CheckCatalog([]Factory{f, other}); err == nil || !errors.Is(err, ErrDuplicate) {
		t.Fatalf("duplicate free names: %v", err)
	}
}

func TestRequestRejected(t *testing.T) {
	rejecting := tool("rr_do", func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return nil, fmt.Errorf("%w: requestState failed its integrity check", ErrRequestRejected)
	})
	th := buildHub(t, nil, factory("rr", &fakeServer{tools: []Tool{rejecting}}))
	st := th.hub.Instance("rr").ServerTools()[0]
	res, err := st.Handler(context.Background(), mcp.CallToolRequest{})
	if err == nil || res != nil || !strings.Contains(err.Error(), "integrity check") {
		t.Fatalf("want a Go error (a JSON-RPC error on the wire), got %v, %+v", err, res)
	}
	if got := th.count("rr", "rr_do", OutcomeRejected); got != 1 {
		t.Errorf("rejected calls counted %v", got)
	}
}
