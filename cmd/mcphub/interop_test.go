package main

import (
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
)

// Interop with clients nobody here wrote, against the real binary: the official TypeScript SDK
// over streamable HTTP and stdio, the MCP Inspector CLI for tools/list and tools/call, and the
// official Go SDK at both protocol generations for what the other integration tests do not cover
// (resources, templates, prompts, completion). The Node tools are pinned in
// scripts/node/package.json (scripts/node.sh installs them).

// interopServers enables the test tools and the conformance fixture (resources, prompts,
// sampling and elicitation tools) side by side.
const interopServers = "servers:\n  testkit: {enabled: true}\n  conformance: {enabled: true}\n"

// tsReport is what testdata/interop_ts_client.cjs prints.
type tsReport struct {
	Server struct {
		Name string `json:"name"`
	} `json:"server"`
	Capabilities   map[string]any `json:"capabilities"`
	Tools          []string       `json:"tools"`
	EchoAnnotation map[string]any `json:"echoAnnotations"`
	Echo           struct {
		Text       string         `json:"text"`
		Structured map[string]any `json:"structured"`
		IsError    bool           `json:"isError"`
	} `json:"echo"`
	BadArgs struct {
		IsError bool   `json:"isError"`
		Text    string `json:"text"`
	} `json:"badArgs"`
	Progress struct {
		Values  []float64 `json:"values"`
		IsError bool      `json:"isError"`
	} `json:"progress"`
	Sampling     string   `json:"sampling"`
	Elicitation  string   `json:"elicitation"`
	Resources    []string `json:"resources"`
	TemplateRead string   `json:"templateRead"`
	NotFound     *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"notFound"`
	Prompts    []string `json:"prompts"`
	Prompt     string   `json:"prompt"`
	Completion []string `json:"completion"`
}

func runTSClient(ctx context.Context, t *testing.T, nt nodeTools, args ...string) tsReport {
	t.Helper()
	script, err := filepath.Abs(filepath.Join("testdata", "interop_ts_client.cjs"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, nt.node, append([]string{script}, args...)...)
	cmd.Env = append(cmd.Environ(), "NODE_PATH="+nt.modules)
	cmd.WaitDelay = 5 * time.Second
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("TypeScript SDK client: %v\nstderr:\n%s", err, stderr.String())
	}
	var r tsReport
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("TypeScript SDK client report: %v: %s", err, out)
	}
	return r
}

func checkTSReport(t *testing.T, r tsReport) {
	t.Helper()
	if r.Server.Name != "mcphub" {
		t.Errorf("server name %q", r.Server.Name)
	}
	for _, c := range []string{"tools", "resources", "prompts", "completions"} {
		if _, ok := r.Capabilities[c]; !ok {
			t.Errorf("capability %s not announced: %v", c, r.Capabilities)
		}
	}
	for _, want := range []string{"hub_list_servers", "testkit_echo", "test_simple_text", "test_sampling"} {
		if !slices.Contains(r.Tools, want) {
			t.Errorf("tools/list lacks %s: %v", want, r.Tools)
		}
	}
	if r.EchoAnnotation["readOnlyHint"] == nil || r.EchoAnnotation["openWorldHint"] == nil {
		t.Errorf("testkit_echo annotations: %v", r.EchoAnnotation)
	}
	if r.Echo.IsError || r.Echo.Text != "héllo from TypeScript" || r.Echo.Structured["text"] != "héllo from TypeScript" {
		t.Errorf("echo: %+v", r.Echo)
	}
	if !r.BadArgs.IsError || !strings.Contains(r.BadArgs.Text, "invalid arguments") {
		t.Errorf("bad arguments: %+v", r.BadArgs)
	}
	// mcp-go may drop a notification (notes/mcp-go.md §6.1): some progress, in order, is the claim.
	if r.Progress.IsError || len(r.Progress.Values) == 0 || !slices.IsSorted(r.Progress.Values) {
		t.Errorf("progress: %+v", r.Progress)
	}
	if r.Sampling != "LLM response: Paris" {
		t.Errorf("sampling through the client: %q", r.Sampling)
	}
	if !strings.Contains(r.Elicitation, "action=accept") || !strings.Contains(r.Elicitation, "ada@example.org") {
		t.Errorf("elicitation through the client: %q", r.Elicitation)
	}
	if !slices.Contains(r.Resources, "test://static-text") {
		t.Errorf("resources/list: %v", r.Resources)
	}
	if !strings.Contains(r.TemplateRead, `"Data for ID: 42"`) {
		t.Errorf("template read: %q", r.TemplateRead)
	}
	if r.NotFound == nil || r.NotFound.Code != -32002 || !strings.Contains(r.NotFound.Message, "test://no-such-resource") {
		t.Errorf("reading an unknown resource: %+v, want -32002 naming the URI", r.NotFound)
	}
	if !slices.Contains(r.Prompts, "test_prompt_with_arguments") || r.Prompt != "Prompt with arguments: arg1='a', arg2='b'" {
		t.Errorf("prompts: %v %q", r.Prompts, r.Prompt)
	}
	if !slices.Equal(r.Completion, []string{"paris", "park", "party"}) {
		t.Errorf("completion: %v", r.Completion)
	}
}

func TestInteropTypeScriptSDK(t *testing.T) {
	nt := requireNodeTools(t)
	t.Run("http", func(t *testing.T) {
		p := startHub(t, interopServers)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		checkTSReport(t, runTSClient(ctx, t, nt, "http", p.base+"/mcp"))
	})
	t.Run("stdio", func(t *testing.T) {
		bin := testBinary(t)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cfg := writeConfig(t, "127.0.0.1:0", interopServers)
		checkTSReport(t, runTSClient(ctx, t, nt, "stdio", bin, "serve", "--stdio", "--config", cfg))
	})
}

// inspectorCLI runs the MCP Inspector's CLI mode and decodes its JSON output.
func inspectorCLI(ctx context.Context, t *testing.T, nt nodeTools, args ...string) map[string]any {
	t.Helper()
	cmd := nt.command(ctx, t, "@modelcontextprotocol/inspector/clients/launcher/build/index.js", append([]string{"--cli"}, args...)...)
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("inspector --cli %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, out, stderr.String())
	}
	var v map[string]any
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("inspector --cli %s: output is not JSON: %v: %s", strings.Join(args, " "), err, out)
	}
	return v
}

// checkInspector lists and calls tools through the Inspector CLI. The target (a URL, or the
// binary and its arguments) goes last, after "--", so that the hub's own flags (--config) are not
// taken for the Inspector's.
func checkInspector(ctx context.Context, t *testing.T, nt nodeTools, transport string, target ...string) {
	t.Helper()
	args := func(method ...string) []string {
		return slices.Concat([]string{"--transport", transport}, method, []string{"--"}, target)
	}
	list := inspectorCLI(ctx, t, nt, args("--method", "tools/list")...)
	tools, _ := list["tools"].([]any)
	var names []string
	for _, tool := range tools {
		if m, ok := tool.(map[string]any); ok {
			names = append(names, m["name"].(string))
		}
	}
	if !slices.Contains(names, "testkit_echo") || !slices.Contains(names, "hub_list_servers") {
		t.Errorf("tools/list through the Inspector: %v", names)
	}
	res := inspectorCLI(ctx, t, nt, args("--method", "tools/call", "--tool-name", "testkit_echo", "--tool-arg", "text=from the inspector")...)
	content, _ := res["content"].([]any)
	if len(content) == 0 || content[0].(map[string]any)["text"] != "from the inspector" || res["isError"] == true {
		t.Errorf("tools/call through the Inspector: %v", res)
	}
}

func TestInteropInspectorCLI(t *testing.T) {
	nt := requireNodeTools(t)
	t.Run("http", func(t *testing.T) {
		p := startHub(t, "")
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		checkInspector(ctx, t, nt, "http", p.base+"/mcp")
	})
	t.Run("stdio", func(t *testing.T) {
		bin := testBinary(t)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cfg := writeConfig(t, "127.0.0.1:0", "")
		checkInspector(ctx, t, nt, "stdio", bin, "serve", "--stdio", "--config", cfg)
	})
}

// TestInteropGoSDKResources drives resources, templates, prompts and completion with the official
// Go SDK at both protocol generations (tools are covered by TestIntegrationHTTP and -Stdio).
func TestInteropGoSDKResources(t *testing.T) {
	p := startHub(t, interopServers)
	for _, version := range protocolVersions {
		t.Run(version, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cs := connectHTTP(ctx, t, p.base+"/mcp/conformance", version, newProgressCounter())
			res, err := cs.ListResources(ctx, nil)
			if err != nil {
				t.Fatalf("resources/list: %v", err)
			}
			var uris []string
			for _, r := range res.Resources {
				uris = append(uris, r.URI)
			}
			if !slices.Contains(uris, "test://static-text") || !slices.Contains(uris, "test://static-binary") {
				t.Errorf("resources/list: %v", uris)
			}
			tpl, err := cs.ListResourceTemplates(ctx, nil)
			if err != nil || len(tpl.ResourceTemplates) != 1 || tpl.ResourceTemplates[0].URITemplate != "test://template/{id}/data" {
				t.Errorf("resources/templates/list: %v %+v", err, tpl)
			}
			read, err := cs.ReadResource(ctx, &sdk.ReadResourceParams{URI: "test://static-binary"})
			if err != nil || len(read.Contents) != 1 || read.Contents[0].MIMEType != "image/png" || len(read.Contents[0].Blob) == 0 {
				t.Errorf("read binary: %v %+v", err, read)
			}
			read, err = cs.ReadResource(ctx, &sdk.ReadResourceParams{URI: "test://template/7/data"})
			if err != nil || len(read.Contents) != 1 || !strings.Contains(read.Contents[0].Text, "Data for ID: 7") {
				t.Errorf("read template: %v %+v", err, read)
			}
			if _, err := cs.ReadResource(ctx, &sdk.ReadResourceParams{URI: "test://nope"}); err == nil || !strings.Contains(err.Error(), "test://nope") {
				t.Errorf("read unknown: %v, want an error naming the URI", err)
			}
			prompt, err := cs.GetPrompt(ctx, &sdk.GetPromptParams{Name: "test_prompt_with_arguments", Arguments: map[string]string{"arg1": "x", "arg2": "y"}})
			if err != nil || len(prompt.Messages) != 1 {
				t.Fatalf("prompts/get: %v %+v", err, prompt)
			}
			if tc, ok := prompt.Messages[0].Content.(*sdk.TextContent); !ok || tc.Text != "Prompt with arguments: arg1='x', arg2='y'" {
				t.Errorf("prompt text: %#v", prompt.Messages[0].Content)
			}
			comp, err := cs.Complete(ctx, &sdk.CompleteParams{
				Ref:      &sdk.CompleteReference{Type: "ref/resource", URI: "test://template/{id}/data"},
				Argument: sdk.CompleteParamsArgument{Name: "id", Value: "12"},
			})
			if err != nil || !slices.Equal(comp.Completion.Values, []string{"123", "124"}) {
				t.Errorf("completion: %v %+v", err, comp)
			}
		})
	}
}
