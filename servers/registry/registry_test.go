package registry

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"

	"github.com/mcphub/mcphub/configs"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestCheckToolName(t *testing.T) {
	tests := []struct {
		server, name string
		ok           bool
	}{
		{"sql", "sql_query", true},
		{"sql", "sql_list_tables", true},
		{"browser", "browser_navigate_back", true},
		{"kb2", "kb2_search", true},
		{"sql", "query", false},
		{"sql", "sqlx_query", false},
		{"sql", "sql_", false},
		{"sql", "sql__query", false},
		{"sql", "sql_Query", false},
		{"sql", "sql-query", false},
		{"sql", "sql_query ", false},
		{"sql", "sql_" + strings.Repeat("a", 44), true},
		{"sql", "sql_" + strings.Repeat("a", 45), false},
		{"sql", "", false},
	}
	for _, tt := range tests {
		err := CheckToolName(tt.server, tt.name)
		if (err == nil) != tt.ok {
			t.Errorf("CheckToolName(%q, %q) = %v, want ok=%v", tt.server, tt.name, err, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrToolName) {
			t.Errorf("error %v does not wrap ErrToolName", err)
		}
	}
}

// fakeServer is a configurable server for the registry's own tests.
type fakeServer struct {
	tools     []Tool
	provision error
	ready     Readiness
	closed    *bool
}

func (f *fakeServer) Tools() []Tool                        { return f.tools }
func (f *fakeServer) Provision(context.Context, Env) error { return f.provision }
func (f *fakeServer) Readiness(context.Context) Readiness  { return f.ready }
func (f *fakeServer) Close() error {
	if f.closed != nil {
		*f.closed = true
	}
	return nil
}

func textHandler(text string) Handler {
	return func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return mcp.NewToolResultText(text), nil
	}
}

func tool(name string, h Handler) Tool {
	return Tool{
		Def:     mcp.NewTool(name, mcp.WithDescription("test tool"), mcp.WithString("text")),
		Hints:   &Hints{ReadOnly: true, Idempotent: true},
		Handler: h,
	}
}

func factory(name string, srv *fakeServer) Factory {
	return Factory{Name: name, DefaultEnabled: true, New: func() Server { return srv }}
}

func TestCheckCatalog(t *testing.T) {
	good := factory("aa", &fakeServer{tools: []Tool{tool("aa_do", textHandler("x"))}})
	noHints := tool("bb_do", textHandler("x"))
	noHints.Hints = nil
	contradictory := tool("cc_do", textHandler("x"))
	contradictory.Hints = &Hints{ReadOnly: true, Destructive: true}
	tests := []struct {
		name    string
		catalog []Factory
		want    []string
	}{
		{"good", []Factory{good}, nil},
		{"duplicate server", []Factory{good, good}, []string{`server "aa" is in the catalog twice`}},
		{"bad server name", []Factory{factory("A-b", &fakeServer{})}, []string{"name must match"}},
		{"bad tool name", []Factory{factory("bb", &fakeServer{tools: []Tool{tool("cc_do", textHandler("x"))}})}, []string{"must start with the server's name"}},
		{"hints missing", []Factory{factory("bb", &fakeServer{tools: []Tool{noHints}})}, []string{"hints"}},
		{"read-only destructive", []Factory{factory("cc", &fakeServer{tools: []Tool{contradictory}})}, []string{"cannot be destructive"}},
		{"duplicate tool", []Factory{factory("dd", &fakeServer{tools: []Tool{tool("dd_x", textHandler("")), tool("dd_x", textHandler(""))}})}, []string{`tool "dd_x" is declared by`}},
		{"no handler", []Factory{factory("ee", &fakeServer{tools: []Tool{tool("ee_x", nil)}})}, []string{"no handler"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckCatalog(tt.catalog)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

type testHub struct {
	hub     *Hub
	reg     *prometheus.Registry
	logs    *syncBuffer
	metrics *Metrics
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func buildHub(t *testing.T, cfg *configs.Config, catalog ...Factory) *testHub {
	t.Helper()
	if cfg == nil {
		cfg = configs.Default()
	}
	th := &testHub{reg: prometheus.NewRegistry(), logs: &syncBuffer{}}
	th.metrics = NewMetrics(th.reg)
	h, err := Build(context.Background(), Options{
		Config: cfg, Catalog: catalog, Metrics: th.metrics,
		Logger: slog.New(slog.NewJSONHandler(th.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close(context.Background()) })
	th.hub = h
	return th
}

func (th *testHub) call(t *testing.T, server, name string, args map[string]any) *mcp.CallToolResult {
	t.Helper()
	return th.callCtx(context.Background(), t, server, name, args)
}

func (th *testHub) callCtx(ctx context.Context, t *testing.T, server, name string, args map[string]any) *mcp.CallToolResult {
	t.Helper()
	for _, st := range th.hub.Instance(server).ServerTools() {
		if st.Tool.Name == name {
			var req mcp.CallToolRequest
			req.Params.Name = name
			req.Params.Arguments = args
			res, err := st.Handler(ctx, req)
			if err != nil {
				t.Fatalf("middleware returned a Go error: %v", err)
			}
			return res
		}
	}
	t.Fatalf("no tool %s", name)
	return nil
}

func (th *testHub) count(server, tool, outcome string) float64 {
	return testutil.ToFloat64(th.metrics.calls.WithLabelValues(server, tool, outcome))
}

func text(res *mcp.CallToolResult) string {
	var b strings.Builder
	for _, c := range res.Content {
		if t, ok := textOf(c); ok {
			b.WriteString(t)
		}
	}
	return b.String()
}

func TestMiddlewareOutcomes(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	tools := []Tool{
		tool("fx_ok", textHandler("fine")),
		tool("fx_iserr", func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return mcp.NewToolResultError("no such row"), nil
		}),
		tool("fx_goerr", func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return nil, errors.New("bug")
		}),
		tool("fx_nil", func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) { return nil, nil }),
		tool("fx_panic", func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) { panic("boom") }),
		{
			Def:     mcp.NewTool("fx_slow", mcp.WithDescription("respects its context")),
			Hints:   &Hints{ReadOnly: true},
			Timeout: 50 * time.Millisecond,
			Handler: func(ctx context.Context, _ mcp.CallToolRequest) (*mcp.CallToolResult, error) {
				<-ctx.Done()
				return nil, ctx.Err()
			},
		},
		{
			Def:     mcp.NewTool("fx_stubborn", mcp.WithDescription("ignores its context")),
			Hints:   &Hints{ReadOnly: true},
			Timeout: 50 * time.Millisecond,
			Handler: func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
				<-release
				return mcp.NewToolResultText("late"), nil
			},
		},
	}
	th := buildHub(t, nil, factory("fx", &fakeServer{tools: tools}))

	tests := []struct {
		tool, outcome, text string
		isError             bool
	}{
		{"fx_ok", OutcomeOK, "fine", false},
		{"fx_iserr", OutcomeError, "no such row", true},
		{"fx_goerr", OutcomeInternal, "internal error in fx_goerr: bug", true},
		{"fx_nil", OutcomeInternal, "returned no result", true},
		{"fx_panic", OutcomePanic, "crashed", true},
		{"fx_slow", OutcomeTimeout, "did not finish within its time limit of 50ms", true},
		{"fx_stubborn", OutcomeTimeout, "did not finish within its time limit of 50ms", true},
	}
	for _, tt := range tests {
		t.Run(tt.tool, func(t *testing.T) {
			start := time.Now()
			res := th.call(t, "fx", tt.tool, nil)
			if time.Since(start) > 5*time.Second {
				t.Errorf("call took %v", time.Since(start))
			}
			if res.IsError != tt.isError || !strings.Contains(text(res), tt.text) {
				t.Errorf("result isError=%v %q, want isError=%v containing %q", res.IsError, text(res), tt.isError, tt.text)
			}
			if got := th.count("fx", tt.tool, tt.outcome); got != 1 {
				t.Errorf("counter %s = %v, want 1", tt.outcome, got)
			}
			if res.IsError {
				if id, _ := res.Meta.AdditionalFields[RequestIDMetaKey].(string); id == "" {
					t.Error("error result has no request id")
				}
			} else if res.Meta != nil {
				t.Errorf("successful result carries _meta %v", res.Meta)
			}
		})
	}
	// The stubborn handler is still running: it holds its slot and shows in flight.
	if got := th.hub.Running(); got != 1 {
		t.Errorf("running = %d, want 1 (the abandoned handler)", got)
	}
	th.hub.SyncLogs(context.Background())
	logs := th.logs.String()
	for _, want := range []string{`"outcome":"panic"`, `"detail":"panic: boom`, `"outcome":"timeout"`, `"error":"no such row"`, `"request_id":"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %s:\n%s", want, logs)
		}
	}
}

func TestMiddlewareCancelled(t *testing.T) {
	started := make(chan struct{})
	th := buildHub(t, nil, factory("fx", &fakeServer{tools: []Tool{
		tool("fx_wait", func(ctx context.Context, _ mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			close(started)
			<-ctx.Done()
			return mcp.NewToolResultError("stopped"), nil
		}),
	}}))
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-started; cancel() }()
	res := th.callCtx(ctx, t, "fx", "fx_wait", nil)
	if !res.IsError || !strings.Contains(text(res), "cancelled") {
		t.Errorf("got %q", text(res))
	}
	if got := th.count("fx", "fx_wait", OutcomeCancelled); got != 1 {
		t.Errorf("cancelled counter = %v", got)
	}
	if !th.hub.WaitIdle(ctxTimeout(t, 5*time.Second)) {
		t.Error("handler still running after cancellation")
	}
}

func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestMiddlewareValidatesArguments(t *testing.T) {
	def := mcp.NewTool("fx_typed", mcp.WithDescription("typed"),
		mcp.WithString("name", mcp.Required()), mcp.WithNumber("n", mcp.Min(1), mcp.Max(10)))
	th := buildHub(t, nil, factory("fx", &fakeServer{tools: []Tool{{Def: def, Hints: &Hints{ReadOnly: true}, Handler: textHandler("ran")}}}))
	tests := []struct {
		name string
		args map[string]any
		want string
	}{
		{"valid", map[string]any{"name": "a", "n": 3}, "ran"},
		{"missing required", map[string]any{"n": 3}, "missing property 'name'"},
		{"unknown field", map[string]any{"name": "a", "zzz": 1}, "zzz"},
		{"wrong type", map[string]any{"name": 5}, "/name"},
		{"out of range", map[string]any{"name": "a", "n": 11}, "/n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := th.call(t, "fx", "fx_typed", tt.args)
			if !strings.Contains(text(res), tt.want) {
				t.Errorf("got %q, want it to contain %q", text(res), tt.want)
			}
			if tt.name != "valid" && !res.IsError {
				t.Error("want isError")
			}
		})
	}
	if got := th.count("fx", "fx_typed", OutcomeInvalidArgs); got != 4 {
		t.Errorf("invalid_arguments = %v, want 4", got)
	}
}

func TestMiddlewareConcurrencyLimit(t *testing.T) {
	cfg := configs.Default()
	cfg.Limits.MaxConcurrentCalls = 1
	cfg.Limits.ToolTimeout = configs.Duration(100 * time.Millisecond)
	hold := make(chan struct{})
	started := make(chan struct{})
	holdTool := tool("fx_hold", func(ctx context.Context, _ mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		close(started)
		select {
		case <-hold:
		case <-ctx.Done():
		}
		return mcp.NewToolResultText("held"), nil
	})
	holdTool.Timeout = time.Minute
	th := buildHub(t, cfg, factory("fx", &fakeServer{tools: []Tool{holdTool, tool("fx_quick", textHandler("quick"))}}))
	done := make(chan struct{})
	go func() {
		defer close(done)
		th.call(t, "fx", "fx_hold", nil)
	}()
	<-started
	res := th.call(t, "fx", "fx_quick", nil)
	if !res.IsError || !strings.Contains(text(res), "busy") {
		t.Errorf("want a busy refusal, got %q", text(res))
	}
	if got := th.count("fx", "fx_quick", OutcomeBusy); got != 1 {
		t.Errorf("busy counter = %v", got)
	}
	close(hold)
	<-done
	if res := th.call(t, "fx", "fx_quick", nil); res.IsError {
		t.Errorf("after release: %q", text(res))
	}
}

func TestBuildLifecycle(t *testing.T) {
	closed := false
	broken := &fakeServer{provision: errors.New("disk full"), closed: &closed}
	th := buildHub(t, nil,
		factory("ok", &fakeServer{tools: []Tool{tool("ok_x", textHandler(""))}, ready: Ready()}),
		factory("slow", &fakeServer{ready: NotReady("no engine", "start dockerd")}),
		factory("broken", broken),
	)
	if !closed {
		t.Error("a server whose provisioning failed was not closed")
	}
	st := th.hub.Status(context.Background())
	if len(st) != 3 || !st[0].Ready || st[1].Ready || st[1].Reason != "no engine" || st[2].Ready ||
		!strings.Contains(st[2].Reason, "disk full") {
		t.Errorf("status = %+v", st)
	}
	if got := testutil.ToFloat64(th.metrics.ready.WithLabelValues("slow")); got != 0 {
		t.Errorf("ready gauge for slow = %v", got)
	}
	if len(th.hub.Instance("broken").ServerTools()) != 0 {
		t.Error("a server that failed provisioning serves tools")
	}
}

// selectiveServer serves only the tools its config enables.
type selectiveServer struct {
	fakeServer
	off string
}

func (s *selectiveServer) ToolEnabled(name string) bool { return name != s.off }

func TestToolSelector(t *testing.T) {
	srv := &selectiveServer{fakeServer: fakeServer{tools: []Tool{tool("sx_read", textHandler("")), tool("sx_write", textHandler(""))}}, off: "sx_write"}
	th := buildHub(t, nil, Factory{Name: "sx", DefaultEnabled: true, New: func() Server { return srv }})
	if got := th.hub.Instance("sx").ToolNames(); len(got) != 1 || got[0] != "sx_read" {
		t.Errorf("served tools = %v, want only sx_read", got)
	}
}

func TestEnabled(t *testing.T) {
	off, on := false, true
	cfg := configs.Default()
	cfg.Servers["b"] = configs.NewServerSection("b", &off)
	cfg.Servers["c"] = configs.NewServerSection("c", &on)
	catalog := []Factory{
		{Name: "a", DefaultEnabled: true}, {Name: "b", DefaultEnabled: true}, {Name: "c"}, {Name: "d"},
	}
	got, err := Enabled(cfg, catalog, nil)
	if err != nil || len(got) != 2 || got[0].Name != "a" || got[1].Name != "c" {
		t.Errorf("Enabled = %v %v", names(got), err)
	}
	got, err = Enabled(cfg, catalog, []string{"d"})
	if err != nil || len(got) != 1 || got[0].Name != "d" {
		t.Errorf("Enabled with --servers d = %v %v", names(got), err)
	}
	cfg.Servers["zz"] = configs.NewServerSection("zz", &on)
	if _, err := Enabled(cfg, catalog, []string{"yy"}); err == nil ||
		!strings.Contains(err.Error(), "servers.zz: unknown server") || !strings.Contains(err.Error(), `--servers: unknown server "yy"`) {
		t.Errorf("unknown names: %v", err)
	}
}
