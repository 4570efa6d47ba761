package knowledge

import (
	"context"
	"errors"
	"fmt"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/mcphub/mcphub/servers/knowledge/store"
	"github.com/mcphub/mcphub/servers/registry"
)

// kbTemplate is the URI template of indexed documents. {+path} is RFC 6570 reserved expansion:
// it spans slashes and colons (a URL document's host:port), which {path} and {path*} do not
// match; kbURI percent-encodes everything else.
const kbTemplate = "kb://{collection}/{+path}"

// Resources returns no fixed resources: documents are reached through the kb:// template.
func (s *Server) Resources() []registry.Resource { return nil }

// ResourceTemplates returns the kb:// template: any indexed document, whole, as text.
func (s *Server) ResourceTemplates() []registry.ResourceTemplate {
	return []registry.ResourceTemplate{{
		Def: mcp.NewResourceTemplate(kbTemplate, "knowledge document",
			mcp.WithTemplateDescription("A document of a knowledge collection, whole, as it was indexed (web pages as markdown). "+
				"knowledge_search hits link to it; knowledge_get_document returns line ranges of it."),
			mcp.WithTemplateMIMEType("text/markdown")),
		Handler: s.readDocument,
	}}
}

func (s *Server) readDocument(ctx context.Context, req mcp.ReadResourceRequest) ([]mcp.ResourceContents, error) {
	coll, path, err := parseKBURI(req.Params.URI)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", registry.ErrResourceNotFound, err)
	}
	if s.byName[coll] == nil || s.st == nil {
		return nil, fmt.Errorf("%w: no collection %q", registry.ErrResourceNotFound, coll)
	}
	doc, err := s.st.Document(ctx, coll, path)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: no document %q in collection %q", registry.ErrResourceNotFound, path, coll)
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", req.Params.URI, err)
	}
	mime := "text/plain"
	if doc.Kind == kindMarkdown || doc.Kind == kindHTML {
		mime = "text/markdown"
	}
	return []mcp.ResourceContents{mcp.TextResourceContents{URI: req.Params.URI, MIMEType: mime, Text: doc.Body}}, nil
}
