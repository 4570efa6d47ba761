// Package conformance is the fixture server the official MCP conformance suite
// (npm @modelcontextprotocol/conformance) tests mcphub against: the test_* tools, the test://
// resources and the test_* prompts its server scenarios call, served through the hub's real
// transport and middleware at /mcp/conformance. Its names are dictated by the suite, so it is the
// one server exempt from the tool-naming rule (registry.Factory.FreeToolNames); it is never
// enabled by default and holds no state beyond a per-process key.
package conformance

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"slices"
	"strings"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/mcphub/mcphub/servers/registry"
)

// Server is the conformance fixture.
type Server struct {
	// stateKey signs multi-round-trip requestState, so that a tampered state is refused.
	stateKey []byte
}

// New returns the fixture.
func New() registry.Server {
	key := make([]byte, 32)
	_, _ = rand.Read(key) // crypto/rand.Read never returns an error (Go 1.24+)
	return &Server{stateKey: key}
}

// The suite's fixed texts.
const (
	simpleText       = "This is a simple text response for testing."
	errorText        = "This tool intentionally returns an error for testing"
	staticText       = "This is the content of the static text resource."
	embeddedText     = "This is an embedded resource content."
	promptEmbedText  = "Embedded resource content for testing."
	simplePromptText = "This is a simple prompt for testing."
)

// Media made here rather than pasted in: a 1×1 red PNG and a 10 ms silent 8 kHz mono WAV.
var (
	pngBase64 = base64.StdEncoding.EncodeToString(redPixelPNG())
	wavBase64 = base64.StdEncoding.EncodeToString(silentWAV())
)

func redPixelPNG() []byte {
	img := image.NewRGBA(image.Rect(0, 0, 1, 1))
	img.Set(0, 0, color.RGBA{R: 255, A: 255})
	var b bytes.Buffer
	_ = png.Encode(&b, img) // writing to a bytes.Buffer cannot fail
	return b.Bytes()
}

func silentWAV() []byte {
	const rate, samples = 8000, 80
	var b bytes.Buffer
	w := func(v any) { _ = binary.Write(&b, binary.LittleEndian, v) }
	b.WriteString("RIFF")
	w(uint32(36 + samples*2))
	b.WriteString("WAVEfmt ")
	w(uint32(16))
	w(uint16(1)) // PCM
	w(uint16(1)) // mono
	w(uint32(rate))
	w(uint32(rate * 2))
	w(uint16(2))
	w(uint16(16))
	b.WriteString("data")
	w(uint32(samples * 2))
	b.Write(make([]byte, samples*2))
	return b.Bytes()
}

var readOnly = &registry.Hints{ReadOnly: true, Idempotent: true}

func tool(name, desc string, h registry.Handler, opts ...mcp.ToolOption) registry.Tool {
	return registry.Tool{
		Def:     mcp.NewTool(name, append([]mcp.ToolOption{mcp.WithDescription(desc)}, opts...)...),
		Hints:   readOnly,
		Handler: h,
		Timeout: 30 * time.Second,
	}
}

func text(s string) registry.Handler {
	return func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return mcp.NewToolResultText(s), nil
	}
}

// Tools returns the test_* tools of the suite's server scenarios.
func (s *Server) Tools() []registry.Tool {
	jsonSchemaTool := tool("json_schema_2020_12_tool", "Tool with JSON Schema 2020-12 features", text("ok"))
	jsonSchemaTool.Def.InputSchema = mcp.ToolInputSchema{}
	jsonSchemaTool.Def.RawInputSchema = json.RawMessage(jsonSchema202012)
	headerTool := tool("test_headers", "Returns the region it was called for; the region also travels in the Mcp-Param-Region header.",
		func(_ context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return mcp.NewToolResultText("region: " + req.GetString("region", "")), nil
		})
	headerTool.Def.InputSchema = mcp.ToolInputSchema{}
	headerTool.Def.RawInputSchema = json.RawMessage(`{"type":"object","properties":{"region":{"type":"string","description":"A region name.","x-mcp-header":"Region"}},"required":["region"],"additionalProperties":false}`)

	return []registry.Tool{
		tool("test_simple_text", "Returns a simple text.", text(simpleText)),
		tool("test_image_content", "Returns an image.", func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{mcp.NewImageContent(pngBase64, "image/png")}}, nil
		}),
		tool("test_audio_content", "Returns an audio clip.", func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{mcp.NewAudioContent(wavBase64, "audio/wav")}}, nil
		}),
		tool("test_embedded_resource", "Returns an embedded resource.", func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{mcp.NewEmbeddedResource(mcp.TextResourceContents{
				URI: "test://embedded-resource", MIMEType: "text/plain", Text: embeddedText})}}, nil
		}),
		tool("test_multiple_content_types", "Returns text, an image and a resource.", func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{
				mcp.NewTextContent("Multiple content types test:"),
				mcp.NewImageContent(pngBase64, "image/png"),
				mcp.NewEmbeddedResource(mcp.TextResourceContents{URI: "test://mixed-content-resource",
					MIMEType: "application/json", Text: `{"test":"data","value":123}`}),
			}}, nil
		}),
		tool("test_tool_with_logging", "Sends three log messages while it runs.", toolWithLogging),
		tool("test_error_handling", "Always fails.", func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return mcp.NewToolResultError(errorText), nil
		}),
		tool("test_tool_with_progress", "Reports progress 0, 50 and 100 of 100.", toolWithProgress),
		tool("test_sampling", "Asks the client's LLM to answer a prompt.", s.sampling,
			mcp.WithString("prompt", mcp.Required(), mcp.Description("The prompt to send to the LLM."))),
		tool("test_elicitation", "Asks the user for a username and an email address.", s.elicitation,
			mcp.WithString("message", mcp.Required(), mcp.Description("The message to show the user."))),
		tool("test_elicitation_sep1034_defaults", "Asks the user for values that all have defaults.", s.elicitForm(sep1034Schema)),
		tool("test_elicitation_sep1330_enums", "Asks the user to choose among enums of every kind.", s.elicitForm(sep1330Schema)),
		jsonSchemaTool,
		headerTool,
		tool("test_input_required_result_elicitation", "Asks for the user's name, then greets them.", s.mrtrElicitation),
		tool("test_input_required_result_sampling", "Asks the client's LLM for the capital of France.", s.mrtrSampling),
		tool("test_input_required_result_list_roots", "Asks the client for its roots.", s.mrtrRoots),
		tool("test_input_required_result_request_state", "Asks for a confirmation, with request state.", s.mrtrRequestState),
		tool("test_input_required_result_multiple_inputs", "Asks for a name, a greeting and the roots at once.", s.mrtrMultiple),
		tool("test_input_required_result_multi_round", "Asks for a name, then a colour.", s.mrtrMultiRound),
		tool("test_input_required_result_tampered_state", "Asks for a confirmation; refuses a request state that was altered.", s.mrtrTampered),
		tool("test_input_required_result_capabilities", "Asks only for the input the client declared it can give.", s.mrtrCapabilities),
		tool("test_streaming_elicitation", "Asks the user for their name within the call (an input_required result, never a request of its own).", s.mrtrElicitation),
		tool("test_logging_tool", "Sends three log messages while it runs, if the request asked for logs.", toolWithLogging),
		tool("test_missing_capability", "Needs the client's sampling capability and refuses a request that did not declare it.", s.missingCapability),
	}
}

func logMessage(ctx context.Context, msg string) {
	if srv := server.ServerFromContext(ctx); srv != nil {
		_ = srv.SendLogMessageToClient(ctx, mcp.NewLoggingMessageNotification(mcp.LoggingLevelInfo, "conformance", msg))
	}
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func toolWithLogging(ctx context.Context, _ mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	logMessage(ctx, "Tool execution started")
	if err := sleep(ctx, 50*time.Millisecond); err != nil {
		return nil, err
	}
	logMessage(ctx, "Tool processing data")
	if err := sleep(ctx, 50*time.Millisecond); err != nil {
		return nil, err
	}
	logMessage(ctx, "Tool execution completed")
	return mcp.NewToolResultText("Tool with logging executed successfully"), nil
}

func toolWithProgress(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	for i, p := range []float64{0, 50, 100} {
		if i > 0 {
			if err := sleep(ctx, 50*time.Millisecond); err != nil {
				return nil, err
			}
		}
		registry.Progress(ctx, req, p, 100, "")
	}
	return mcp.NewToolResultText("Tool with progress executed successfully"), nil
}

// sampling and elicitation are written as multi-round-trip handlers: a 2026-07-28 client gets an
// input_required result and retries with the answers; for older clients mcp-go sends the
// sampling/createMessage or elicitation/create request itself and calls the handler again.
func (s *Server) sampling(_ context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	if res := server.SamplingResponse(req.Params.InputResponses, "sampling"); res != nil {
		return mcp.NewToolResultText("LLM response: " + samplingText(res)), nil
	}
	return server.NewInputRequestBuilder("").Sample("sampling", mcp.CreateMessageParams{
		Messages:  []mcp.SamplingMessage{{Role: mcp.RoleUser, Content: mcp.NewTextContent(req.GetString("prompt", ""))}},
		MaxTokens: 100,
	}).ToolResult(), nil
}

func samplingText(res *mcp.CreateMessageResult) string {
	switch c := res.Content.(type) {
	case mcp.TextContent:
		return c.Text
	case *mcp.TextContent:
		return c.Text
	case map[string]any:
		if t, ok := c["text"].(string); ok {
			return t
		}
	}
	b, _ := json.Marshal(res.Content)
	return string(b)
}

func elicitationText(prefix string, res *mcp.ElicitationResult) string {
	content, _ := json.Marshal(res.Content)
	return fmt.Sprintf("%saction=%s, content=%s", prefix, res.Action, content)
}

func (s *Server) elicitation(_ context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	if res := server.ElicitationResponse(req.Params.InputResponses, "elicitation"); res != nil {
		return mcp.NewToolResultText(elicitationText("User response: ", res)), nil
	}
	return server.NewInputRequestBuilder("").Elicit("elicitation", mcp.ElicitationParams{
		Message: req.GetString("message", ""),
		RequestedSchema: map[string]any{
			"type": "object",
			"properties": map[string]any{
				"username": map[string]any{"type": "string", "description": "User's response"},
				"email":    map[string]any{"type": "string", "description": "User's email address"},
			},
			"required": []string{"username", "email"},
		},
	}).ToolResult(), nil
}

func (s *Server) elicitForm(schema string) registry.Handler {
	return func(_ context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		if res := server.ElicitationResponse(req.Params.InputResponses, "form"); res != nil {
			return mcp.NewToolResultText(elicitationText("Elicitation completed: ", res)), nil
		}
		return server.NewInputRequestBuilder("").Elicit("form", mcp.ElicitationParams{
			Message:         "Please review and fill in the form",
			RequestedSchema: json.RawMessage(schema),
		}).ToolResult(), nil
	}
}

const sep1034Schema = `{"type":"object","properties":{
"name":{"type":"string","default":"John Doe"},
"age":{"type":"integer","default":30},
"score":{"type":"number","default":95.5},
"status":{"type":"string","enum":["active","inactive","pending"],"default":"active"},
"verified":{"type":"boolean","default":true}}}`

const sep1330Schema = `{"type":"object","properties":{
"untitledSingle":{"type":"string","enum":["option1","option2","option3"]},
"titledSingle":{"type":"string","oneOf":[{"const":"value1","title":"First Option"},{"const":"value2","title":"Second Option"},{"const":"value3","title":"Third Option"}]},
"legacyEnum":{"type":"string","enum":["opt1","opt2","opt3"],"enumNames":["Option One","Option Two","Option Three"]},
"untitledMulti":{"type":"array","items":{"type":"string","enum":["option1","option2","option3"]}},
"titledMulti":{"type":"array","items":{"anyOf":[{"const":"value1","title":"First Choice"},{"const":"value2","title":"Second Choice"},{"const":"value3","title":"Third Choice"}]}}}}`

const jsonSchema202012 = `{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object",
"$defs":{"address":{"$anchor":"addressDef","type":"object","properties":{"street":{"type":"string"},"city":{"type":"string"}}}},
"properties":{"name":{"type":"string"},"address":{"$ref":"#/$defs/address"},"contactMethod":{"type":"string","enum":["phone","email"]},"phone":{"type":"string"},"email":{"type":"string"}},
"allOf":[{"anyOf":[{"required":["phone"]},{"required":["email"]}]}],
"if":{"properties":{"contactMethod":{"const":"phone"}},"required":["contactMethod"]},"then":{"required":["phone"]},"else":{"required":["email"]},
"additionalProperties":false}`

func nameSchema(field string) map[string]any {
	return map[string]any{"type": "object", "properties": map[string]any{field: map[string]any{"type": "string"}}, "required": []string{field}}
}

// answered returns the elicitation answer under id when it is a well-formed accepted answer.
func answered(responses mcp.InputResponses, id string) (map[string]any, bool) {
	res := server.ElicitationResponse(responses, id)
	if res == nil {
		return nil, false
	}
	content, _ := res.Content.(map[string]any)
	return content, true
}

func (s *Server) mrtrElicitation(_ context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	if content, ok := answered(req.Params.InputResponses, "user_name"); ok {
		return mcp.NewToolResultText(fmt.Sprintf("Hello, %v!", content["name"])), nil
	}
	// Missing or wrong answers are asked for again rather than refused (SEP-2322).
	return server.NewInputRequestBuilder("").Elicit("user_name", mcp.ElicitationParams{
		Message: "What is your name?", RequestedSchema: nameSchema("name")}).ToolResult(), nil
}

func capitalQuestion(b *server.InputRequestBuilder, id string, prompt string, maxTokens int) *server.InputRequestBuilder {
	return b.Sample(id, mcp.CreateMessageParams{
		Messages:  []mcp.SamplingMessage{{Role: mcp.RoleUser, Content: mcp.NewTextContent(prompt)}},
		MaxTokens: maxTokens,
	})
}

func (s *Server) mrtrSampling(_ context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	if res := server.SamplingResponse(req.Params.InputResponses, "capital_question"); res != nil {
		return mcp.NewToolResultText("The model answered: " + samplingText(res)), nil
	}
	return capitalQuestion(server.NewInputRequestBuilder(""), "capital_question", "What is the capital of France?", 100).ToolResult(), nil
}

func (s *Server) mrtrRoots(_ context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	if res := server.RootsResponse(req.Params.InputResponses, "client_roots"); res != nil {
		uris := make([]string, len(res.Roots))
		for i, r := range res.Roots {
			uris[i] = r.URI
		}
		return mcp.NewToolResultText("Client roots: " + strings.Join(uris, ", ")), nil
	}
	return server.NewInputRequestBuilder("").Roots("client_roots").ToolResult(), nil
}

// sign and verify protect requestState: state is "<payload>.<base64 HMAC>", so the client can
// echo it but not alter it.
func (s *Server) sign(payload string) string {
	m := hmac.New(sha256.New, s.stateKey)
	m.Write([]byte(payload))
	return payload + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (s *Server) verify(state string) (string, error) {
	i := strings.LastIndexByte(state, '.')
	if i < 0 || !hmac.Equal([]byte(s.sign(state[:i])), []byte(state)) {
		return "", fmt.Errorf("%w: requestState failed its integrity check; start the call again without it", registry.ErrRequestRejected)
	}
	return state[:i], nil
}

func confirm(b *server.InputRequestBuilder) *server.InputRequestBuilder {
	return b.Elicit("confirm", mcp.ElicitationParams{Message: "Please confirm", RequestedSchema: map[string]any{
		"type": "object", "properties": map[string]any{"ok": map[string]any{"type": "boolean"}}, "required": []string{"ok"}}})
}

func (s *Server) mrtrRequestState(_ context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	if _, ok := answered(req.Params.InputResponses, "confirm"); ok && req.Params.RequestState != "" {
		if payload, err := s.verify(req.Params.RequestState); err != nil {
			return nil, err
		} else if payload == "confirm" {
			return mcp.NewToolResultText("Confirmed: state-ok"), nil
		}
	}
	return confirm(server.NewInputRequestBuilder(s.sign("confirm"))).ToolResult(), nil
}

func (s *Server) mrtrTampered(_ context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	if req.Params.RequestState != "" {
		if _, err := s.verify(req.Params.RequestState); err != nil {
			return nil, err
		}
		if _, ok := answered(req.Params.InputResponses, "confirm"); ok {
			return mcp.NewToolResultText("Confirmed: state-ok"), nil
		}
	}
	return confirm(server.NewInputRequestBuilder(s.sign("tamper-check"))).ToolResult(), nil
}

func (s *Server) mrtrMultiple(_ context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	in := req.Params.InputResponses
	_, named := answered(in, "user_name")
	if named && server.SamplingResponse(in, "greeting") != nil && server.RootsResponse(in, "client_roots") != nil && req.Params.RequestState != "" {
		if _, err := s.verify(req.Params.RequestState); err != nil {
			return nil, err
		}
		return mcp.NewToolResultText("All inputs received"), nil
	}
	b := server.NewInputRequestBuilder(s.sign("multiple")).
		Elicit("user_name", mcp.ElicitationParams{Message: "What is your name?", RequestedSchema: nameSchema("name")})
	return capitalQuestion(b, "greeting", "Generate a greeting", 50).Roots("client_roots").ToolResult(), nil
}

func (s *Server) mrtrMultiRound(_ context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	round := ""
	if req.Params.RequestState != "" {
		payload, err := s.verify(req.Params.RequestState)
		if err != nil {
			return nil, err
		}
		round = payload
	}
	in := req.Params.InputResponses
	if round == "round-2" {
		if content, ok := answered(in, "step2"); ok {
			return mcp.NewToolResultText(fmt.Sprintf("All rounds done: colour %v", content["color"])), nil
		}
	}
	if round == "round-1" || round == "round-2" {
		if _, ok := answered(in, "step1"); ok || round == "round-2" {
			return server.NewInputRequestBuilder(s.sign("round-2")).Elicit("step2", mcp.ElicitationParams{
				Message: "Step 2: What is your favorite color?", RequestedSchema: nameSchema("color")}).ToolResult(), nil
		}
	}
	return server.NewInputRequestBuilder(s.sign("round-1")).Elicit("step1", mcp.ElicitationParams{
		Message: "Step 1: What is your name?", RequestedSchema: nameSchema("name")}).ToolResult(), nil
}

// mrtrCapabilities asks only for what the request's declared client capabilities allow.
func (s *Server) mrtrCapabilities(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	in := req.Params.InputResponses
	if len(in) > 0 {
		return mcp.NewToolResultText("Inputs received"), nil
	}
	caps := clientCapabilities(ctx)
	b := server.NewInputRequestBuilder("")
	asked := false
	if caps.Sampling != nil {
		b, asked = capitalQuestion(b, "capital_question", "What is the capital of France?", 100), true
	}
	if caps.Elicitation != nil {
		b, asked = b.Elicit("user_name", mcp.ElicitationParams{Message: "What is your name?", RequestedSchema: nameSchema("name")}), true
	}
	if caps.Roots != nil {
		b, asked = b.Roots("client_roots"), true
	}
	if !asked {
		return mcp.NewToolResultText("The client declared no capability to answer with"), nil
	}
	return b.ToolResult(), nil
}

// missingCapability refuses a request whose client did not declare sampling. The spec answer is
// MissingRequiredClientCapabilityError (-32021, HTTP 400); through mcp-go v1.2.1 a handler's error
// always becomes -32603 (conformance/expected-failures.yml says so).
func (s *Server) missingCapability(ctx context.Context, _ mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	if caps := clientCapabilities(ctx); caps.Sampling == nil {
		return nil, fmt.Errorf("%w: %w", registry.ErrRequestRejected, mcp.MissingRequiredClientCapabilityError{Capability: "sampling"})
	}
	return mcp.NewToolResultText("The client can sample"), nil
}

func clientCapabilities(ctx context.Context) mcp.ClientCapabilities {
	if info := server.RequestProtocolInfoFromContext(ctx); info != nil && info.ClientCapabilities != nil {
		return *info.ClientCapabilities
	}
	if cs := server.ClientSessionFromContext(ctx); cs != nil {
		if withCaps, ok := cs.(server.SessionWithClientInfo); ok {
			return withCaps.GetClientCapabilities()
		}
	}
	return mcp.ClientCapabilities{}
}

// Resources returns the test:// resources.
func (s *Server) Resources() []registry.Resource {
	fixed := func(uri, name, desc, mime string, contents mcp.ResourceContents) registry.Resource {
		return registry.Resource{
			Def: mcp.NewResource(uri, name, mcp.WithResourceDescription(desc), mcp.WithMIMEType(mime)),
			Handler: func(context.Context, mcp.ReadResourceRequest) ([]mcp.ResourceContents, error) {
				return []mcp.ResourceContents{contents}, nil
			},
		}
	}
	return []registry.Resource{
		fixed("test://static-text", "static-text", "A static text resource.", "text/plain",
			mcp.TextResourceContents{URI: "test://static-text", MIMEType: "text/plain", Text: staticText}),
		fixed("test://static-binary", "static-binary", "A static binary resource (a PNG image).", "image/png",
			mcp.BlobResourceContents{URI: "test://static-binary", MIMEType: "image/png", Blob: pngBase64}),
		fixed("test://watched-resource", "watched-resource", "A resource clients may subscribe to.", "text/plain",
			mcp.TextResourceContents{URI: "test://watched-resource", MIMEType: "text/plain", Text: "Watched resource content."}),
	}
}

// ResourceTemplates returns the test://template/{id}/data template.
func (s *Server) ResourceTemplates() []registry.ResourceTemplate {
	return []registry.ResourceTemplate{{
		Def: mcp.NewResourceTemplate("test://template/{id}/data", "template-data",
			mcp.WithTemplateDescription("Data for an id."), mcp.WithTemplateMIMEType("application/json")),
		Handler: func(_ context.Context, req mcp.ReadResourceRequest) ([]mcp.ResourceContents, error) {
			id := templateArg(req.Params.Arguments["id"])
			if id == "" {
				return nil, registry.ErrResourceNotFound
			}
			body, _ := json.Marshal(map[string]any{"id": id, "templateTest": true, "data": "Data for ID: " + id})
			return []mcp.ResourceContents{mcp.TextResourceContents{URI: req.Params.URI, MIMEType: "application/json", Text: string(body)}}, nil
		},
	}}
}

// templateArg flattens a URI template variable, which mcp-go passes as a list of values.
func templateArg(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []string:
		return strings.Join(x, ",")
	case []any:
		parts := make([]string, len(x))
		for i, p := range x {
			parts[i] = fmt.Sprint(p)
		}
		return strings.Join(parts, ",")
	}
	return ""
}

// SubscribableResources announces resources/subscribe: the suite subscribes to
// test://watched-resource (its content never changes, so no update is ever sent).
func (s *Server) SubscribableResources() bool { return true }

// Prompts returns the test_* prompts.
func (s *Server) Prompts() []registry.Prompt {
	user := func(c mcp.Content) mcp.PromptMessage { return mcp.NewPromptMessage(mcp.RoleUser, c) }
	return []registry.Prompt{
		{Def: mcp.NewPrompt("test_simple_prompt", mcp.WithPromptDescription("A simple prompt without arguments.")),
			Handler: func(context.Context, mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
				return mcp.NewGetPromptResult("A simple prompt", []mcp.PromptMessage{user(mcp.NewTextContent(simplePromptText))}), nil
			}},
		{Def: mcp.NewPrompt("test_prompt_with_arguments", mcp.WithPromptDescription("A prompt with two arguments."),
			mcp.WithArgument("arg1", mcp.ArgumentDescription("First test argument"), mcp.RequiredArgument()),
			mcp.WithArgument("arg2", mcp.ArgumentDescription("Second test argument"), mcp.RequiredArgument())),
			Handler: func(_ context.Context, req mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
				a := req.Params.Arguments
				return mcp.NewGetPromptResult("A prompt with arguments", []mcp.PromptMessage{
					user(mcp.NewTextContent(fmt.Sprintf("Prompt with arguments: arg1='%s', arg2='%s'", a["arg1"], a["arg2"])))}), nil
			}},
		{Def: mcp.NewPrompt("test_prompt_with_embedded_resource", mcp.WithPromptDescription("A prompt embedding a resource."),
			mcp.WithArgument("resourceUri", mcp.ArgumentDescription("URI of the resource to embed"), mcp.RequiredArgument())),
			Handler: func(_ context.Context, req mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
				return mcp.NewGetPromptResult("A prompt with an embedded resource", []mcp.PromptMessage{
					user(mcp.NewEmbeddedResource(mcp.TextResourceContents{URI: req.Params.Arguments["resourceUri"], MIMEType: "text/plain", Text: promptEmbedText})),
					user(mcp.NewTextContent("Please process the embedded resource above.")),
				}), nil
			}},
		{Def: mcp.NewPrompt("test_prompt_with_image", mcp.WithPromptDescription("A prompt with an image.")),
			Handler: func(context.Context, mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
				return mcp.NewGetPromptResult("A prompt with an image", []mcp.PromptMessage{
					user(mcp.NewImageContent(pngBase64, "image/png")),
					user(mcp.NewTextContent("Please analyze the image above.")),
				}), nil
			}},
		{Def: mcp.NewPrompt("test_input_required_result_prompt", mcp.WithPromptDescription("A prompt that first asks the user for context.")),
			Handler: func(_ context.Context, req mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
				if content, ok := answered(req.Params.InputResponses, "user_context"); ok {
					return mcp.NewGetPromptResult("A prompt with user context", []mcp.PromptMessage{
						user(mcp.NewTextContent(fmt.Sprintf("Use this context: %v", content["context"])))}), nil
				}
				return server.NewInputRequestBuilder("").Elicit("user_context", mcp.ElicitationParams{
					Message: "What context should the prompt use?", RequestedSchema: nameSchema("context")}).PromptResult(), nil
			}},
	}
}

// completions are the suggestions of completion/complete, filtered by the typed prefix.
var completions = []string{"paris", "park", "party", "hello", "world"}

func complete(arg mcp.CompleteArgument) *mcp.Completion {
	out := []string{}
	for _, v := range completions {
		if strings.HasPrefix(v, strings.ToLower(arg.Value)) {
			out = append(out, v)
		}
	}
	return &mcp.Completion{Values: out, Total: len(out)}
}

// CompletePromptArgument suggests values for the prompts' arguments.
func (s *Server) CompletePromptArgument(_ context.Context, _ string, arg mcp.CompleteArgument, _ mcp.CompleteContext) (*mcp.Completion, error) {
	return complete(arg), nil
}

// CompleteResourceArgument suggests ids for the template.
func (s *Server) CompleteResourceArgument(_ context.Context, _ string, arg mcp.CompleteArgument, _ mcp.CompleteContext) (*mcp.Completion, error) {
	ids := []string{"123", "124", "200"}
	out := slices.DeleteFunc(slices.Clone(ids), func(id string) bool { return !strings.HasPrefix(id, arg.Value) })
	return &mcp.Completion{Values: out, Total: len(out)}, nil
}
