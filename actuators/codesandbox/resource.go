package codesandbox

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/mcphub/mcphub/sandbox"
	"github.com/mcphub/mcphub/servers/registry"
)

// Files of a session are resources too, so that a result can link a file too large for it and
// a client can read it whole: sandbox://session/{session_id}/work/out.csv. The handle in the URI
// is checked against the reader's identity like any tool call's; a session that is gone, or
// someone else's, is "not found".
const (
	sessionURIPrefix = "sandbox://session/"
	sessionTemplate  = sessionURIPrefix + "{session_id}/{+path}"
	// maxResourceRead is what one resource read returns at most (the registry refuses more than
	// 8 MiB in all; base64 takes a third more).
	maxResourceRead = 6 << 20
)

var _ registry.ResourceProvider = (*Server)(nil)

// Resources returns no fixed resources: session files are reached through the template.
func (s *Server) Resources() []registry.Resource { return nil }

// ResourceTemplates returns the template of session files.
func (s *Server) ResourceTemplates() []registry.ResourceTemplate {
	return []registry.ResourceTemplate{{
		Def: mcp.NewResourceTemplate(sessionTemplate, "sandbox session file",
			mcp.WithTemplateDescription("A file in one of your sandbox sessions, whole (at most 6 MiB): text as text, "+
				"other bytes as base64. sandbox_exec and sandbox_read_file results link the files they could not carry.")),
		Handler: s.readSessionFile,
	}}
}

// sessionFileURI names a file of a session as a resource.
func sessionFileURI(sessionID, abs string) string {
	return sessionURIPrefix + sessionID + abs
}

// parseSessionURI splits a session file URI into the handle and the absolute path.
func parseSessionURI(uri string) (string, string, error) {
	rest, ok := strings.CutPrefix(uri, sessionURIPrefix)
	if !ok {
		return "", "", fmt.Errorf("%q is not a sandbox session file URI", uri)
	}
	id, p, ok := strings.Cut(rest, "/")
	if !ok {
		return "", "", fmt.Errorf("%q names no file", uri)
	}
	if _, err := parseSessionID(id); err != nil {
		return "", "", err
	}
	abs, err := containerPath("/"+p, false)
	if err != nil {
		return "", "", err
	}
	return id, abs, nil
}

func (s *Server) readSessionFile(ctx context.Context, req mcp.ReadResourceRequest) ([]mcp.ResourceContents, error) {
	uri := req.Params.URI
	id, abs, err := parseSessionURI(uri)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", registry.ErrResourceNotFound, err)
	}
	eng := s.engine()
	if eng == nil {
		return nil, errors.New("the sandbox is not running")
	}
	sess, err := eng.Get(id, registry.Identity(ctx))
	if err != nil {
		return nil, fmt.Errorf("%w: no such sandbox session for you", registry.ErrResourceNotFound)
	}
	data, size, err := eng.ReadFile(ctx, sess, abs, maxResourceRead)
	switch {
	case errors.Is(err, sandbox.ErrNotReady) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		return nil, err
	case err != nil:
		// The runtime's sentences say what is wrong with the path (missing, a directory).
		return nil, fmt.Errorf("%w: %w", registry.ErrResourceNotFound, err)
	case size > int64(len(data)):
		return nil, fmt.Errorf("%s is %d bytes, more than one resource read returns (%d); read it in parts with sandbox_read_file",
			abs, size, maxResourceRead)
	}
	mime := detectType(abs, data)
	if isText(data) {
		return []mcp.ResourceContents{mcp.TextResourceContents{URI: uri, MIMEType: mime, Text: string(data)}}, nil
	}
	return []mcp.ResourceContents{mcp.BlobResourceContents{URI: uri, MIMEType: mime, Blob: base64.StdEncoding.EncodeToString(data)}}, nil
}
