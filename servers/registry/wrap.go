package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// RequestIDMetaKey is the result _meta key carrying the request id of a call that failed, so
// that a user can find the call's log and audit lines. Successful results go without it: it
// would cost every call an allocation and an encoding for a field nobody reads.
const RequestIDMetaKey = "io.mcphub/requestId"

// callLimits are the hub-wide limits the middleware applies where a tool declares none.
type callLimits struct {
	timeout time.Duration
	budget  int
	slots   chan struct{} // hub-wide concurrency: one token per running call
}

// wrapped is one tool with everything the middleware needs resolved at build time.
type wrapped struct {
	server  string
	tool    *Tool
	def     mcp.Tool
	timeout time.Duration
	budget  int
	schema  *jsonschema.Schema
	hub     chan struct{}
	own     chan struct{} // nil: only the hub-wide limit
	metrics *toolMetrics
	logger  *slog.Logger
	calls   *callLog
	running *atomic.Int64
}

// outcome of the handler goroutine.
type handlerResult struct {
	res   *mcp.CallToolResult
	err   error
	panic any
	stack []byte
}

// compileInputSchema compiles a tool's input schema once, so that every call is validated
// without recompiling.
func compileInputSchema(def mcp.Tool) (*jsonschema.Schema, error) {
	raw := def.RawInputSchema
	if len(raw) == 0 {
		var err error
		if raw, err = json.Marshal(def.InputSchema); err != nil {
			return nil, fmt.Errorf("encoding input schema of %s: %w", def.Name, err)
		}
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("decoding input schema of %s: %w", def.Name, err)
	}
	url := "mem:///tools/" + def.Name + "/input.json"
	c := jsonschema.NewCompiler()
	if err := c.AddResource(url, doc); err != nil {
		return nil, fmt.Errorf("adding input schema of %s: %w", def.Name, err)
	}
	s, err := c.Compile(url)
	if err != nil {
		return nil, fmt.Errorf("compiling input schema of %s: %w", def.Name, err)
	}
	return s, nil
}

// validateArguments checks the call's arguments against the compiled input schema and returns
// a message a model can act on, or "" when they are valid. Arguments that mcp-go decoded from
// JSON (maps, slices, float64, string, bool, nil) are validated as they are; anything else is
// re-encoded first, so that the validator only ever sees JSON values.
func (w *wrapped) validateArguments(args any) string {
	var val any
	switch v := args.(type) {
	case nil:
		val = map[string]any{}
	case map[string]any:
		if !isJSONValue(v, 0) {
			return w.validateEncoded(v)
		}
		val = v
	case json.RawMessage:
		return w.validateRaw(v)
	default:
		return w.validateEncoded(v)
	}
	return w.validateValue(val)
}

func (w *wrapped) validateEncoded(v any) string {
	raw, err := json.Marshal(v)
	if err != nil {
		return "arguments are not valid JSON: " + err.Error()
	}
	return w.validateRaw(raw)
}

func (w *wrapped) validateRaw(raw []byte) string {
	if t := bytes.TrimSpace(raw); len(t) == 0 || bytes.Equal(t, []byte("null")) {
		raw = []byte("{}")
	}
	val, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return "arguments are not valid JSON: " + err.Error()
	}
	return w.validateValue(val)
}

func (w *wrapped) validateValue(val any) string {
	err := w.schema.Validate(val)
	if err == nil {
		return ""
	}
	var verr *jsonschema.ValidationError
	if !errors.As(err, &verr) {
		return err.Error()
	}
	var parts []string
	collectValidation(verr, &parts)
	return strings.Join(parts, "; ")
}

// maxJSONDepth bounds isJSONValue's recursion; deeper arguments take the re-encoding path, whose
// decoder has its own limits.
const maxJSONDepth = 64

// isJSONValue reports whether v holds only the types encoding/json decodes into.
func isJSONValue(v any, depth int) bool {
	if depth > maxJSONDepth {
		return false
	}
	switch x := v.(type) {
	case nil, string, bool, float64, json.Number:
		return true
	case map[string]any:
		for _, e := range x {
			if !isJSONValue(e, depth+1) {
				return false
			}
		}
		return true
	case []any:
		for _, e := range x {
			if !isJSONValue(e, depth+1) {
				return false
			}
		}
		return true
	}
	return false
}

// englishPrinter renders schema validation messages; models read English best.
var englishPrinter = message.NewPrinter(language.English)

func collectValidation(v *jsonschema.ValidationError, out *[]string) {
	if len(v.Causes) == 0 {
		loc := "/" + strings.Join(v.InstanceLocation, "/")
		if loc == "/" {
			loc = "arguments"
		}
		*out = append(*out, loc+": "+v.ErrorKind.LocalizedString(englishPrinter))
		return
	}
	for _, c := range v.Causes {
		collectValidation(c, out)
	}
}

// handle is the middleware: every tool call of the hub goes through here.
func (w *wrapped) handle(parent context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	start := time.Now()
	st := &callState{CallInfo: CallInfo{RequestID: newRequestID(), Server: w.server, Tool: w.def.Name}}
	info := &st.CallInfo
	ctx, cancel := context.WithTimeout(context.WithValue(parent, callKey, st), w.timeout)
	defer cancel()

	var (
		res     *mcp.CallToolResult
		outcome string
		detail  string
		size    int
		cut     bool
	)
	if msg := w.validateArguments(req.Params.Arguments); msg != "" {
		outcome = OutcomeInvalidArgs
		res = mcp.NewToolResultError("invalid arguments for " + w.def.Name + ": " + msg + ". Check the tool's input schema and call again.")
	} else {
		res, outcome, detail = w.run(ctx, parent, req)
	}
	if outcome == OutcomeOK || outcome == OutcomeError {
		content, structured := resultSize(res)
		size = max(content, structured)
		w.metrics.outputBytes.Observe(float64(size))
		if res, cut = applyBudget(res, content, structured, w.budget, w.tool.MoreHint); cut {
			w.metrics.truncated.Inc()
		}
	}
	if res.IsError {
		res = withRequestID(res, info.RequestID)
	}
	st.settleNotifications()

	elapsed := time.Since(start)
	w.metrics.calls[outcome].Inc()
	w.metrics.duration.Observe(elapsed.Seconds())
	w.log(ctx, info, outcome, detail, res, elapsed, size, cut)
	if outcome == OutcomeRejected {
		return nil, errors.New(detail)
	}
	return res, nil
}

// run acquires the concurrency slots and runs the handler under the deadline. A handler that
// ignores its context is abandoned at the deadline (the caller gets its answer on time) but keeps
// its slots and the in-flight gauge until it really returns, so the figures stay honest.
func (w *wrapped) run(ctx, parent context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, string, string) {
	if !acquire(ctx, w.hub) {
		return w.stopped(parent, true, "waiting for a free slot (the hub runs limits.max_concurrent_calls calls at once)")
	}
	if w.own != nil && !acquire(ctx, w.own) {
		<-w.hub
		return w.stopped(parent, true, "waiting for a free slot (this tool runs a limited number of calls at once)")
	}
	w.running.Add(1)
	w.metrics.inFlight.Inc()
	done := make(chan handlerResult, 1)
	go func() {
		defer func() {
			if w.own != nil {
				<-w.own
			}
			<-w.hub
			w.metrics.inFlight.Dec()
			w.running.Add(-1)
		}()
		defer func() {
			if p := recover(); p != nil {
				done <- handlerResult{panic: p, stack: debug.Stack()}
			}
		}()
		res, err := w.tool.Handler(ctx, req)
		done <- handlerResult{res: res, err: err}
	}()

	select {
	case r := <-done:
		switch {
		case r.panic != nil:
			return mcp.NewToolResultError(fmt.Sprintf("internal error: the tool %s crashed; this is a bug in mcphub (see its log)", w.def.Name)),
				OutcomePanic, fmt.Sprintf("panic: %v\n%s", r.panic, r.stack)
		case parent.Err() != nil:
			return cancelledResult(w.def.Name), OutcomeCancelled, ""
		case ctx.Err() != nil:
			return w.timeoutResult(), OutcomeTimeout, errText(r)
		case r.err != nil && errors.Is(r.err, ErrRequestRejected):
			return mcp.NewToolResultError(r.err.Error()), OutcomeRejected, r.err.Error()
		case r.err != nil:
			return mcp.NewToolResultError(fmt.Sprintf("internal error in %s: %v", w.def.Name, r.err)), OutcomeInternal, r.err.Error()
		case r.res == nil:
			return mcp.NewToolResultError(fmt.Sprintf("internal error: %s returned no result", w.def.Name)), OutcomeInternal, "nil result"
		case r.res.IsError:
			return r.res, OutcomeError, ""
		default:
			return r.res, OutcomeOK, ""
		}
	case <-ctx.Done():
		return w.stopped(parent, false, "running")
	}
}

func errText(r handlerResult) string {
	if r.err != nil {
		return r.err.Error()
	}
	return ""
}

// stopped is the result of a call stopped by its deadline or its client, either while waiting
// for a slot or while running; stage says which, for the log.
func (w *wrapped) stopped(parent context.Context, waiting bool, stage string) (*mcp.CallToolResult, string, string) {
	if parent.Err() != nil {
		return cancelledResult(w.def.Name), OutcomeCancelled, stage
	}
	if waiting {
		return mcp.NewToolResultError(fmt.Sprintf("%s did not start within its time limit of %s: the hub is busy; try again shortly",
			w.def.Name, w.timeout)), OutcomeBusy, stage
	}
	return w.timeoutResult(), OutcomeTimeout, stage
}

func (w *wrapped) timeoutResult() *mcp.CallToolResult {
	return mcp.NewToolResultError(fmt.Sprintf("%s did not finish within its time limit of %s and was stopped; ask for less work per call",
		w.def.Name, w.timeout))
}

func cancelledResult(tool string) *mcp.CallToolResult {
	return mcp.NewToolResultError(tool + " was cancelled by the client")
}

func acquire(ctx context.Context, slots chan struct{}) bool {
	select {
	case slots <- struct{}{}:
		return true
	default:
	}
	select {
	case slots <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

// withRequestID returns res with the request id in its _meta, copying rather than mutating so a
// handler may return a shared result value.
func withRequestID(res *mcp.CallToolResult, id string) *mcp.CallToolResult {
	out := *res
	fields := map[string]any{RequestIDMetaKey: id}
	if res.Meta != nil {
		for k, v := range res.Meta.AdditionalFields {
			if _, ok := fields[k]; !ok {
				fields[k] = v
			}
		}
		out.Meta = &mcp.Meta{ProgressToken: res.Meta.ProgressToken, AdditionalFields: fields}
	} else {
		out.Meta = &mcp.Meta{AdditionalFields: fields}
	}
	return &out
}

// log writes the one structured line every call gets.
func (w *wrapped) log(ctx context.Context, info *CallInfo, outcome, detail string, res *mcp.CallToolResult,
	elapsed time.Duration, size int, cut bool) {
	level := slog.LevelInfo
	switch outcome {
	case OutcomePanic, OutcomeInternal:
		level = slog.LevelError
	case OutcomeTimeout, OutcomeBusy:
		level = slog.LevelWarn
	}
	if !w.logger.Enabled(ctx, level) {
		return
	}
	attrs := make([]slog.Attr, 0, 9)
	attrs = append(attrs,
		slog.String("request_id", info.RequestID),
		slog.String("identity", Identity(ctx)),
		slog.String("outcome", outcome),
		slog.Float64("duration_ms", float64(elapsed.Microseconds())/1000),
		slog.Int("output_bytes", size),
	)
	if s := server.ClientSessionFromContext(ctx); s != nil && s.SessionID() != "" {
		attrs = append(attrs, slog.String("session", s.SessionID()))
	}
	if cut {
		attrs = append(attrs, slog.Bool("truncated", true))
	}
	if detail != "" {
		attrs = append(attrs, slog.String("detail", detail))
	}
	if res != nil && res.IsError && outcome == OutcomeError {
		if text, ok := firstText(res); ok {
			attrs = append(attrs, slog.String("error", truncateUTF8(text, 300)))
		}
	}
	w.calls.write(w.logger, level, "tool call", attrs)
}

func firstText(res *mcp.CallToolResult) (string, bool) {
	for _, c := range res.Content {
		if t, ok := textOf(c); ok {
			return t, true
		}
	}
	return "", false
}

// Progress sends a progress notification for the running call when the client asked for
// progress (a progress token in the request); otherwise it does nothing. Delivery is best effort:
// a full notification queue drops it.
func Progress(ctx context.Context, req mcp.CallToolRequest, progress, total float64, message string) {
	if req.Params.Meta == nil || req.Params.Meta.ProgressToken == nil {
		return
	}
	srv := server.ServerFromContext(ctx)
	if srv == nil {
		return
	}
	params := map[string]any{"progressToken": req.Params.Meta.ProgressToken, "progress": progress}
	if total > 0 {
		params["total"] = total
	}
	if message != "" {
		params["message"] = message
	}
	_ = srv.SendNotificationToClient(ctx, string(mcp.MethodNotificationProgress), params)
	if st, ok := ctx.Value(callKey).(*callState); ok {
		st.notified.Store(time.Now().UnixNano())
	}
}

// callState is what the middleware keeps in a call's context.
type callState struct {
	CallInfo
	// notified is when the call last sent a notification (unix ns), 0 if never.
	notified atomic.Int64
}

// notifySettle is how long a call's answer waits after its last notification. mcp-go v1.2.1 loses
// a notification its forwarder has taken off the queue when the answer's drain closes the stream
// first (upstream PR #969, notes/mcp-go.md §6.1); for 2026-07-28 requests there is no event store
// to fall back on, so the last progress of a call that ends right after it was often dropped.
// Waiting this long after a notification lets the forwarder write it; calls that sent none do
// not wait. 10 ms sufficed on an idle machine but not under go test -race with other packages
// running; calls that report progress run long anyway.
const notifySettle = 50 * time.Millisecond

func (st *callState) settleNotifications() {
	if n := st.notified.Load(); n != 0 {
		if d := notifySettle - time.Since(time.Unix(0, n)); d > 0 {
			time.Sleep(d)
		}
	}
}
