package registry

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
)

// Handler handles one tool call. Bad arguments, refused requests, timeouts and failing
// dependencies are results with IsError set and a nil error; a Go error means a bug and reaches
// the client as an internal error.
type Handler func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error)

// ErrRequestRejected makes a call a JSON-RPC error rather than a result when a handler wraps it in
// its error: for requests broken at the protocol level, such as a multi-round-trip requestState
// that fails its integrity check, which the spec says to reject. Bad arguments remain isError
// results.
var ErrRequestRejected = errors.New("request rejected")

// Hints are the four behaviour annotations every tool must declare. They are a struct of plain
// bools set in one literal, rather than mcp-go's options, because mcp.NewTool fills in defaults
// (destructive, open world) that would otherwise pass unnoticed.
type Hints struct {
	// ReadOnly says the tool does not modify its environment.
	ReadOnly bool
	// Destructive says the tool may delete or overwrite; meaningless (and refused) with ReadOnly.
	Destructive bool
	// Idempotent says repeating a call with the same arguments has no further effect.
	Idempotent bool
	// OpenWorld says the tool reaches entities outside the hub (the web, other hosts).
	OpenWorld bool
}

// Tool is one tool: its definition, its declared hints and limits, and its handler.
type Tool struct {
	// Def is the MCP definition (name, description, input and output schemas), usually built with
	// mcp.NewTool. Its annotations are overwritten from Hints.
	Def mcp.Tool
	// Hints must be set: a nil Hints fails the build-time checks.
	Hints *Hints
	// Handler runs the call.
	Handler Handler
	// Timeout bounds one call; zero means limits.tool_timeout from the config.
	Timeout time.Duration
	// OutputBudget bounds the bytes of one result; zero means limits.output_budget_bytes.
	OutputBudget int
	// MaxConcurrent bounds this tool's calls running at once; zero means only the hub-wide limit.
	MaxConcurrent int
	// MoreHint tells the model how to get what a truncated result left out, e.g. "call again with
	// offset set to the next line". It is appended to the truncation note.
	MoreHint string
}

// maxToolNameLen is PRODUCT.md's limit on tool names.
const maxToolNameLen = 48

var toolNamePattern = regexp.MustCompile(`^[a-z0-9]+(_[a-z0-9]+)+$`)

// serverNamePattern keeps server names usable in URLs (/mcp/{server}) and as tool-name prefixes.
var serverNamePattern = regexp.MustCompile(`^[a-z][a-z0-9]{0,23}$`)

// ErrToolName reports a tool name that breaks PRODUCT.md's pattern <server>_<verb>[_<noun>].
var ErrToolName = errors.New("invalid tool name")

// ErrDuplicate reports a server or tool name declared twice.
var ErrDuplicate = errors.New("duplicate name")

// CheckToolName reports whether name is a valid tool name for the server: the server's name, an
// underscore, then snake_case words; [a-z0-9_] only; at most 48 characters.
func CheckToolName(server, name string) error {
	switch {
	case len(name) > maxToolNameLen:
		return fmt.Errorf("%w %q: longer than %d characters", ErrToolName, name, maxToolNameLen)
	case !toolNamePattern.MatchString(name):
		return fmt.Errorf("%w %q: must be snake_case of [a-z0-9_]", ErrToolName, name)
	case !strings.HasPrefix(name, server+"_"):
		return fmt.Errorf("%w %q: must start with the server's name %q and an underscore", ErrToolName, name, server+"_")
	}
	return nil
}

// checkTool reports every build-time problem of one tool of the named server.
// freeName skips the naming pattern (Factory.FreeToolNames); a name is still required.
func checkTool(server string, t *Tool, freeName bool) error {
	var errs []error
	if freeName {
		if t.Def.Name == "" {
			errs = append(errs, fmt.Errorf("%w: empty", ErrToolName))
		}
	} else if err := CheckToolName(server, t.Def.Name); err != nil {
		errs = append(errs, err)
	}
	if t.Hints == nil {
		errs = append(errs, fmt.Errorf("tool %q: hints (readOnly, destructive, idempotent, openWorld) are not declared", t.Def.Name))
	} else if t.Hints.ReadOnly && t.Hints.Destructive {
		errs = append(errs, fmt.Errorf("tool %q: a read-only tool cannot be destructive", t.Def.Name))
	}
	if t.Handler == nil {
		errs = append(errs, fmt.Errorf("tool %q: no handler", t.Def.Name))
	}
	if strings.TrimSpace(t.Def.Description) == "" {
		errs = append(errs, fmt.Errorf("tool %q: no description", t.Def.Name))
	}
	if t.Timeout < 0 || t.OutputBudget < 0 || t.MaxConcurrent < 0 {
		errs = append(errs, fmt.Errorf("tool %q: negative limit", t.Def.Name))
	}
	if len(t.Def.RawInputSchema) > 0 && !strings.Contains(string(t.Def.RawInputSchema), `"additionalProperties"`) {
		errs = append(errs, fmt.Errorf("tool %q: a raw input schema must set additionalProperties", t.Def.Name))
	}
	return errors.Join(errs...)
}

// finalizeDef returns the definition as served: annotations from the hints and an input schema
// that rejects unknown fields unless the tool opted out explicitly.
func finalizeDef(t *Tool) mcp.Tool {
	def := t.Def
	h := t.Hints
	def.Annotations.ReadOnlyHint = mcp.ToBoolPtr(h.ReadOnly)
	def.Annotations.DestructiveHint = mcp.ToBoolPtr(h.Destructive)
	def.Annotations.IdempotentHint = mcp.ToBoolPtr(h.Idempotent)
	def.Annotations.OpenWorldHint = mcp.ToBoolPtr(h.OpenWorld)
	if len(def.RawInputSchema) == 0 {
		if def.InputSchema.Type == "" {
			def.InputSchema.Type = "object"
		}
		if def.InputSchema.Properties == nil {
			def.InputSchema.Properties = map[string]any{}
		}
		if def.InputSchema.AdditionalProperties == nil {
			def.InputSchema.AdditionalProperties = false
		}
	}
	return def
}

// ServedDefinition returns the definition of t exactly as the hub serves it (annotations from
// the hints, strict input schema), for snapshots and documentation.
func ServedDefinition(t Tool) mcp.Tool {
	if t.Hints == nil {
		return t.Def
	}
	return finalizeDef(&t)
}
