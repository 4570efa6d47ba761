package knowledge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"
	"unicode"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/mcphub/mcphub/servers/knowledge/chunk"
	"github.com/mcphub/mcphub/servers/knowledge/embed"
	"github.com/mcphub/mcphub/servers/knowledge/store"
	"github.com/mcphub/mcphub/servers/registry"
)

const (
	searchToolName          = "knowledge_search"
	getDocumentToolName     = "knowledge_get_document"
	listCollectionsToolName = "knowledge_list_collections"
	ingestToolName          = "knowledge_ingest"

	maxQueryLen   = 1000
	maxPathLen    = 1024
	defaultLimit  = 10
	maxLimit      = 50
	budgetReserve = 2048
	maxIngestName = 512
)

var readOnlyHints = &registry.Hints{ReadOnly: true, Idempotent: true, OpenWorld: false}

// SearchResult is the structured result of knowledge_search.
type SearchResult struct {
	Query   string      `json:"query" jsonschema_description:"The query as received."`
	Mode    string      `json:"mode" jsonschema_description:"The ranking used: keyword (BM25), semantic (embeddings) or hybrid (both, fused by reciprocal rank)."`
	Hits    []SearchHit `json:"hits" jsonschema_description:"Documents best first, each with its best matching passage."`
	Partial bool        `json:"partial" jsonschema_description:"True while the index is still being built or embedded: a later search may find more."`
	Note    string      `json:"note,omitempty" jsonschema_description:"Why the results may be incomplete, and what to do."`
}

// SearchHit is one document found.
type SearchHit struct {
	Rank        int         `json:"rank" jsonschema_description:"Position in the results, from 1."`
	Collection  string      `json:"collection" jsonschema_description:"The collection the document belongs to."`
	Path        string      `json:"path" jsonschema_description:"The document's path in its collection (for knowledge_get_document)."`
	URI         string      `json:"uri" jsonschema_description:"The document as an MCP resource: kb://{collection}/{path}."`
	Title       string      `json:"title" jsonschema_description:"The document's title."`
	Source      string      `json:"source" jsonschema_description:"Where the document comes from: a file path, a URL, or ingest:<name>."`
	Heading     []string    `json:"heading,omitempty" jsonschema_description:"The headings above the passage, outermost first."`
	StartLine   int         `json:"start_line" jsonschema_description:"First line of the passage in the document, from 1."`
	EndLine     int         `json:"end_line" jsonschema_description:"Last line of the passage, inclusive."`
	Snippet     string      `json:"snippet" jsonschema_description:"An excerpt of the passage around the query's terms, matched words in **bold**."`
	Score       float64     `json:"score" jsonschema_description:"Relevance, higher is better; comparable within one result only."`
	MoreMatches []LineRange `json:"more_matches,omitempty" jsonschema_description:"Other passages of the same document that matched."`
}

// LineRange is a passage's lines.
type LineRange struct {
	StartLine int `json:"start_line"`
	EndLine   int `json:"end_line"`
}

func (s *Server) searchTool() registry.Tool {
	return registry.Tool{
		Def: mcp.NewTool(searchToolName,
			mcp.WithDescription("Searches the indexed document collections (local files, web pages and ingested text) and "+
				"returns the best matching documents, each with its best passage: title, source, heading trail, line range, "+
				"a snippet with the matched terms in bold, and a kb://{collection}/{path} resource link. "+
				"mode hybrid (the default when an embedder is configured) combines keyword ranking (BM25) with semantic "+
				"similarity; keyword finds exact words and identifiers; semantic finds passages that say the same thing in "+
				"other words. Read more of a hit with knowledge_get_document (path and start_line) or the kb:// resource. "+
				"Use knowledge_list_collections to see the collections."),
			mcp.WithString("query", mcp.Required(), mcp.MinLength(1), mcp.MaxLength(maxQueryLen),
				mcp.Description("What to look for, in natural language or keywords.")),
			mcp.WithString("collection", mcp.MaxLength(64),
				mcp.Description("Search only this collection; all when left out.")),
			mcp.WithString("path", mcp.MaxLength(maxPathLen),
				mcp.Description("Search only documents whose path matches this glob: * matches any characters (including /), ? one; "+
					"without a wildcard, it is a prefix (a directory or file). Example: docs/*.md")),
			mcp.WithNumber("limit", mcp.Min(1), mcp.Max(maxLimit),
				mcp.Description("Most documents to return, 1 to 50. Default 10.")),
			mcp.WithString("mode", mcp.Enum(modeHybrid, modeKeyword, modeSemantic),
				mcp.Description("Ranking: hybrid (default with an embedder), keyword (default without) or semantic.")),
			mcp.WithOutputSchema[SearchResult](),
		),
		Hints:    readOnlyHints,
		Timeout:  30 * time.Second,
		MoreHint: "lower limit, or narrow with collection or path",
		Handler:  s.handleSearch,
	}
}

// pathFilter turns the path argument into a store glob: without a wildcard it is a prefix.
func pathFilter(p string) string {
	if p == "" || strings.ContainsAny(p, "*?") {
		return p
	}
	return p + "*"
}

func (s *Server) handleSearch(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	query := strings.TrimSpace(req.GetString("query", ""))
	if query == "" {
		return mcp.NewToolResultError("query is empty: say what to look for"), nil
	}
	r := searchRequest{query: query, limit: req.GetInt("limit", defaultLimit), mode: req.GetString("mode", "")}
	r.limit = min(max(r.limit, 1), maxLimit)
	if name := req.GetString("collection", ""); name != "" {
		if s.byName[name] == nil {
			return mcp.NewToolResultError(fmt.Sprintf("unknown collection %q: this hub has %s", name, s.collectionNames())), nil
		}
		r.filter.Collections = []string{name}
	}
	r.filter.PathGlob = pathFilter(req.GetString("path", ""))
	var notes []string
	switch r.mode {
	case "":
		r.mode = modeKeyword
		if s.emb != nil {
			r.mode = modeHybrid
		}
	case modeKeyword, modeHybrid, modeSemantic:
	default:
		return mcp.NewToolResultError(fmt.Sprintf("mode %q is not one of hybrid, keyword, semantic", r.mode)), nil
	}
	if r.mode != modeKeyword {
		if s.emb == nil {
			if r.mode == modeSemantic {
				return mcp.NewToolResultError("semantic search needs an embedder, and " + s.embedderState() +
					"; use mode keyword, or configure servers.knowledge.embedder"), nil
			}
			r.mode = modeKeyword
			notes = append(notes, "hybrid search fell back to keywords: "+s.embedderState())
		} else {
			vecs, err := s.emb.Embed(ctx, []string{query})
			if err != nil || len(vecs) != 1 {
				if ctx.Err() != nil {
					return mcp.NewToolResultError("the search was cancelled or timed out while embedding the query"), nil
				}
				if r.mode == modeSemantic {
					return mcp.NewToolResultError(fmt.Sprintf("embedding the query failed: %v; try mode keyword", err)), nil
				}
				r.mode = modeKeyword
				notes = append(notes, fmt.Sprintf("hybrid search fell back to keywords: embedding the query failed: %v", err))
			} else {
				r.semantic, r.embID = vecs[0], s.emb.ID()
			}
		}
	}
	docs, err := s.rank(ctx, r)
	if err != nil {
		if ctx.Err() != nil {
			return mcp.NewToolResultError("the search was cancelled or timed out"), nil
		}
		s.logger.ErrorContext(ctx, "knowledge search failed", "error", err.Error())
		return mcp.NewToolResultError("the search failed for an unexpected reason; see the hub's log"), nil
	}
	out := SearchResult{Query: query, Mode: r.mode, Hits: []SearchHit{}}
	if !s.isReady() {
		out.Partial = true
		notes = append(notes, "the index is partial: the first indexing pass is still running, so documents may be missing; search again shortly")
	}
	if r.mode != modeKeyword {
		if missing := s.unembedded(ctx, r.filter.Collections); missing > 0 {
			out.Partial = true
			notes = append(notes, fmt.Sprintf("%d chunks are not embedded yet: semantic ranking does not see them (keyword ranking does)", missing))
		}
	}
	terms := queryTerms(query)
	for i, d := range docs {
		h := SearchHit{Rank: i + 1, Collection: d.best.Collection, Path: d.best.Path, URI: kbURI(d.best.Collection, d.best.Path),
			Title: d.best.Title, Source: d.best.Source, Heading: d.best.Heading, StartLine: d.best.StartLine,
			EndLine: d.best.EndLine, Snippet: snippet(d.best.Text, terms, snippetChars), Score: roundScore(d.score)}
		for _, m := range d.more {
			h.MoreMatches = append(h.MoreMatches, LineRange{m.StartLine, m.EndLine})
		}
		out.Hits = append(out.Hits, h)
	}
	if len(out.Hits) == 0 {
		notes = append(notes, "no document matched; try other words, another mode, or no filters")
	}
	out.Note = strings.Join(notes, "; ")
	return s.searchResult(out), nil
}

func roundScore(f float64) float64 {
	return float64(int64(f*1e6+0.5)) / 1e6
}

// searchResult renders the result as text plus resource links, dropping the last hits while
// the structured content or the text would pass the output budget.
func (s *Server) searchResult(out SearchResult) *mcp.CallToolResult {
	limit := s.budget - budgetReserve
	for {
		raw, _ := json.Marshal(out)
		text := searchText(out)
		if (len(raw) <= limit && len(text) <= limit) || len(out.Hits) == 0 {
			res := mcp.NewToolResultStructured(json.RawMessage(raw), text)
			for _, h := range out.Hits {
				res.Content = append(res.Content, mcp.NewResourceLink(h.URI, h.Title, fmt.Sprintf("%s lines %d-%d", h.Path, h.StartLine, h.EndLine), mimeOf(h.Path)))
			}
			return res
		}
		out.Hits = out.Hits[:len(out.Hits)-1]
		if !strings.Contains(out.Note, "output budget") {
			out.Note = strings.TrimPrefix(out.Note+"; fewer hits than asked for, to fit the output budget: lower limit", "; ")
		}
	}
}

func searchText(out SearchResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d results for %q (%s)", len(out.Hits), out.Query, out.Mode)
	if out.Note != "" {
		fmt.Fprintf(&b, "\nNote: %s", out.Note)
	}
	for _, h := range out.Hits {
		fmt.Fprintf(&b, "\n\n%d. %s\n   %s/%s lines %d-%d", h.Rank, h.Title, h.Collection, h.Path, h.StartLine, h.EndLine)
		if len(h.Heading) > 0 {
			fmt.Fprintf(&b, " (%s)", strings.Join(h.Heading, " > "))
		}
		fmt.Fprintf(&b, "\n   %s\n   %s", h.Snippet, h.URI)
	}
	return b.String()
}

func mimeOf(path string) string {
	switch kindOf(path, "") {
	case kindMarkdown, kindHTML:
		return "text/markdown"
	}
	return "text/plain"
}

// embedderState says why there is no embedder.
func (s *Server) embedderState() string {
	if s.embErr != nil {
		if u, ok := embed.AsUnavailable(s.embErr); ok {
			return fmt.Sprintf("the %s embedder is unavailable: %s (fix: %s)", u.Kind, u.Reason, u.Fix)
		}
		return "the embedder failed to start: " + s.embErr.Error()
	}
	return "the embedder is off (servers.knowledge.embedder.kind is none)"
}

// unembedded counts the chunks (of the given collections, or all) without a current vector.
// Once the catch-up has embedded everything it is 0 without asking the store; before, the
// count is kept for a second, as it scans the vector table.
func (s *Server) unembedded(ctx context.Context, collections []string) int {
	if s.embedClean.Load() {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if time.Since(s.unembeddedAt) < time.Second && len(collections) == 0 {
		return s.unembeddedN
	}
	stats, err := s.st.Stats(ctx, s.emb.ID())
	if err != nil {
		return 0
	}
	n := 0
	for name, st := range stats {
		if len(collections) == 0 || collections[0] == name {
			n += st.Chunks - st.Embedded
		}
	}
	if len(collections) == 0 {
		s.unembeddedAt, s.unembeddedN = time.Now(), n
	}
	return n
}

// DocumentPage is the structured result of knowledge_get_document.
type DocumentPage struct {
	Collection    string `json:"collection" jsonschema_description:"The document's collection."`
	Path          string `json:"path" jsonschema_description:"The document's path in its collection."`
	URI           string `json:"uri" jsonschema_description:"The document as an MCP resource."`
	Title         string `json:"title" jsonschema_description:"The document's title."`
	Source        string `json:"source" jsonschema_description:"A file path, a URL, or ingest:<name>."`
	Kind          string `json:"kind" jsonschema_description:"How the text was read: markdown, text, html (converted to markdown) or code."`
	TotalLines    int    `json:"total_lines" jsonschema_description:"Lines in the whole document."`
	StartLine     int    `json:"start_line" jsonschema_description:"First line returned, from 1."`
	EndLine       int    `json:"end_line" jsonschema_description:"Last line returned, inclusive; 0 when no line was returned."`
	Text          string `json:"text" jsonschema_description:"The lines, joined by newlines."`
	NextStartLine int    `json:"next_start_line,omitempty" jsonschema_description:"When set, more lines were asked for than fit: call again with start_line set to this."`
	IndexedAt     string `json:"indexed_at" jsonschema_description:"When this version was indexed (RFC 3339)."`
}

func (s *Server) getDocumentTool() registry.Tool {
	return registry.Tool{
		Def: mcp.NewTool(getDocumentToolName,
			mcp.WithDescription("Returns an indexed document's text, whole or a line range, as it was indexed (web pages "+
				"as markdown), with its title and source. Long documents come in pages that fit the output budget: "+
				"next_start_line says where the next page starts. Take path (and the line range) from a knowledge_search "+
				"hit; a kb:// URI works as path too."),
			mcp.WithString("path", mcp.Required(), mcp.MinLength(1), mcp.MaxLength(maxPathLen),
				mcp.Description("The document's path in its collection, as knowledge_search returns it, or its kb:// URI.")),
			mcp.WithString("collection", mcp.MaxLength(64),
				mcp.Description("The document's collection; may be left out when there is one collection or path is a kb:// URI.")),
			mcp.WithNumber("start_line", mcp.Min(1), mcp.Description("First line to return, from 1. Default 1.")),
			mcp.WithNumber("end_line", mcp.Min(1),
				mcp.Description("Last line to return, inclusive. Default: the end of the document, or as far as fits.")),
			mcp.WithOutputSchema[DocumentPage](),
		),
		Hints:    readOnlyHints,
		Timeout:  30 * time.Second,
		MoreHint: "call again with start_line set to next_start_line, or a smaller end_line",
		Handler:  s.handleGetDocument,
	}
}

func (s *Server) handleGetDocument(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	path := req.GetString("path", "")
	coll := req.GetString("collection", "")
	if strings.HasPrefix(path, "kb://") {
		c, p, err := parseKBURI(path)
		if err != nil {
			return mcp.NewToolResultError(err.Error()), nil
		}
		if coll != "" && coll != c {
			return mcp.NewToolResultError(fmt.Sprintf("collection %q and the URI's collection %q differ", coll, c)), nil
		}
		coll, path = c, p
	}
	if coll == "" {
		if len(s.colls) != 1 {
			return mcp.NewToolResultError("collection is required: this hub has " + s.collectionNames()), nil
		}
		coll = s.colls[0].cfg.Name
	}
	if s.byName[coll] == nil {
		return mcp.NewToolResultError(fmt.Sprintf("unknown collection %q: this hub has %s", coll, s.collectionNames())), nil
	}
	doc, err := s.st.Document(ctx, coll, path)
	if errors.Is(err, store.ErrNotFound) {
		return mcp.NewToolResultError(fmt.Sprintf("no document %q in collection %q: use the path of a knowledge_search hit", path, coll)), nil
	}
	if err != nil {
		s.logger.ErrorContext(ctx, "knowledge: reading a document", "error", err.Error())
		return mcp.NewToolResultError("reading the document failed for an unexpected reason; see the hub's log"), nil
	}
	lines := chunk.SplitLines(doc.Body)
	start := req.GetInt("start_line", 1)
	end := req.GetInt("end_line", len(lines))
	if start < 1 {
		start = 1
	}
	if start > len(lines) && len(lines) > 0 {
		return mcp.NewToolResultError(fmt.Sprintf("start_line %d is past the end: the document has %d lines", start, len(lines))), nil
	}
	if end > len(lines) {
		end = len(lines)
	}
	if end < start-1 {
		return mcp.NewToolResultError(fmt.Sprintf("end_line %d is before start_line %d", end, start)), nil
	}
	page := DocumentPage{Collection: coll, Path: doc.Path, URI: kbURI(coll, doc.Path), Title: doc.Title, Source: doc.Source,
		Kind: doc.Kind, TotalLines: len(lines), StartLine: start, IndexedAt: doc.IndexedAt.Format(time.RFC3339)}
	// The text goes out twice (structured and plain), each within the budget; JSON escaping can
	// grow a line, so its encoded size is what counts.
	limit := s.budget - budgetReserve - jsonLen(page.Title) - jsonLen(page.Source) - 2*jsonLen(page.Path)
	var b strings.Builder
	used := 0
	last := start - 1
	for l := start; l <= end; l++ {
		line := lines[l-1]
		cost := jsonLen(line) + 2
		if used+cost > limit {
			if l == start {
				// One line larger than the budget: return its head, and the next line after it.
				line = truncateRunes(line, max(limit/6, 64))
				b.WriteString(line)
				last = l
				page.NextStartLine = l + 1
				if l+1 > len(lines) {
					page.NextStartLine = 0
				}
			} else {
				page.NextStartLine = l
			}
			break
		}
		if l > start {
			b.WriteByte('\n')
		}
		b.WriteString(line)
		used += cost
		last = l
	}
	page.Text = b.String()
	page.EndLine = last
	text := fmt.Sprintf("%s (%s, lines %d-%d of %d)\n\n%s", page.Title, page.Source, page.StartLine, page.EndLine, page.TotalLines, page.Text)
	if page.NextStartLine > 0 {
		text += fmt.Sprintf("\n\n[more: call again with start_line=%d]", page.NextStartLine)
	}
	return mcp.NewToolResultStructured(page, text), nil
}

// jsonLen is the length of s encoded as a JSON string.
func jsonLen(s string) int {
	b, _ := json.Marshal(s)
	return len(b)
}

// parseKBURI splits kb://{collection}/{path} and unescapes the path's segments.
func parseKBURI(uri string) (string, string, error) {
	rest, ok := strings.CutPrefix(uri, "kb://")
	if !ok {
		return "", "", fmt.Errorf("%q is not a kb:// URI", uri)
	}
	coll, path, ok := strings.Cut(rest, "/")
	if !ok || coll == "" || path == "" {
		return "", "", fmt.Errorf("%q is not kb://{collection}/{path}", uri)
	}
	segs := strings.Split(path, "/")
	for i, seg := range segs {
		u, err := url.PathUnescape(seg)
		if err != nil {
			return "", "", fmt.Errorf("%q: bad escape in the path: %w", uri, err)
		}
		segs[i] = u
	}
	return coll, strings.Join(segs, "/"), nil
}

// CollectionsResult is the structured result of knowledge_list_collections.
type CollectionsResult struct {
	Ready       bool             `json:"ready" jsonschema_description:"True once the first indexing pass over every collection is done."`
	Embedder    EmbedderInfo     `json:"embedder" jsonschema_description:"The embedder of semantic search."`
	Collections []CollectionInfo `json:"collections" jsonschema_description:"The configured collections."`
}

// EmbedderInfo describes the embedder.
type EmbedderInfo struct {
	Kind      string `json:"kind" jsonschema_description:"local, openai or none."`
	ID        string `json:"id,omitempty" jsonschema_description:"The embedder's id (model and version), stored with every vector."`
	Dim       int    `json:"dim,omitempty" jsonschema_description:"Vector dimensions."`
	Available bool   `json:"available" jsonschema_description:"True when semantic search works."`
	Error     string `json:"error,omitempty" jsonschema_description:"Why the embedder is not available, and the fix."`
}

// CollectionInfo describes one collection.
type CollectionInfo struct {
	Name           string        `json:"name"`
	Description    string        `json:"description,omitempty"`
	State          string        `json:"state" jsonschema_description:"waiting, indexing or ready."`
	Documents      int           `json:"documents" jsonschema_description:"Documents in the index."`
	Chunks         int           `json:"chunks" jsonschema_description:"Chunks (passages) in the index."`
	EmbeddedChunks int           `json:"embedded_chunks" jsonschema_description:"Chunks with a vector of the current embedder."`
	SourcesSeen    int           `json:"sources_seen" jsonschema_description:"Files and URLs found by the current or last pass."`
	SourcesRead    int           `json:"sources_read" jsonschema_description:"Of those, the ones the pass has got through."`
	Skipped        int           `json:"skipped,omitempty" jsonschema_description:"Files skipped as binary or not text."`
	LastIndexed    string        `json:"last_indexed,omitempty" jsonschema_description:"When a document of it was last written (RFC 3339)."`
	LastScan       string        `json:"last_scan,omitempty" jsonschema_description:"When its files were last compared with the index."`
	Writable       bool          `json:"writable" jsonschema_description:"True when knowledge_ingest can add to it."`
	Paths          []string      `json:"paths,omitempty"`
	URLs           []string      `json:"urls,omitempty"`
	Errors         []SourceError `json:"errors,omitempty" jsonschema_description:"The latest problem of each source that has one (at most 20 shown)."`
	ErrorCount     int           `json:"error_count" jsonschema_description:"Sources with a problem."`
}

// SourceError is the problem of one source.
type SourceError struct {
	Source string `json:"source"`
	Error  string `json:"error"`
}

const maxErrorsShown = 20

func (s *Server) listCollectionsTool() registry.Tool {
	return registry.Tool{
		Def: mcp.NewTool(listCollectionsToolName,
			mcp.WithDescription("Lists the document collections knowledge_search covers: for each, its documents, chunks, "+
				"embedded chunks, indexing state and progress, when it was last indexed, and the sources that failed and why; "+
				"and the embedder semantic search uses."),
			mcp.WithOutputSchema[CollectionsResult](),
		),
		Hints:   readOnlyHints,
		Timeout: 15 * time.Second,
		Handler: s.handleListCollections,
	}
}

func (s *Server) handleListCollections(ctx context.Context, _ mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	out := CollectionsResult{Ready: s.isReady(), Collections: []CollectionInfo{}}
	out.Embedder.Kind = s.cfg.Embedder.Kind
	embID := ""
	if s.emb != nil {
		embID = s.emb.ID()
		out.Embedder.ID, out.Embedder.Dim, out.Embedder.Available = embID, s.emb.Dim(), true
	} else if s.embErr != nil || s.cfg.Embedder.Kind != embed.KindNone {
		out.Embedder.Error = s.embedderState()
	}
	stats, err := s.st.Stats(ctx, embID)
	if err != nil {
		s.logger.ErrorContext(ctx, "knowledge: counting the index", "error", err.Error())
		return mcp.NewToolResultError("counting the index failed for an unexpected reason; see the hub's log"), nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d collections; ready: %v; embedder: %s", len(s.colls), out.Ready, out.Embedder.Kind)
	if out.Embedder.ID != "" {
		fmt.Fprintf(&b, " (%s)", out.Embedder.ID)
	}
	if out.Embedder.Error != "" {
		fmt.Fprintf(&b, " (%s)", out.Embedder.Error)
	}
	for _, c := range s.colls {
		p := c.progress()
		st := stats[c.cfg.Name]
		ci := CollectionInfo{Name: c.cfg.Name, Description: c.cfg.Description, State: p.State, Documents: st.Documents,
			Chunks: st.Chunks, EmbeddedChunks: st.Embedded, SourcesSeen: p.Seen, SourcesRead: p.Indexed, Skipped: p.Skipped,
			Writable: c.cfg.Writable, Paths: c.cfg.Paths, URLs: c.cfg.URLs, ErrorCount: len(p.Errors)}
		if !st.LastIndexed.IsZero() && st.Documents > 0 {
			ci.LastIndexed = st.LastIndexed.Format(time.RFC3339)
		}
		if !p.LastScan.IsZero() {
			ci.LastScan = p.LastScan.UTC().Format(time.RFC3339)
		}
		srcs := make([]string, 0, len(p.Errors))
		for src := range p.Errors {
			srcs = append(srcs, src)
		}
		sort.Strings(srcs)
		for _, src := range srcs {
			if len(ci.Errors) == maxErrorsShown {
				break
			}
			ci.Errors = append(ci.Errors, SourceError{Source: src, Error: p.Errors[src]})
		}
		out.Collections = append(out.Collections, ci)
		fmt.Fprintf(&b, "\n- %s: %s, %d documents, %d chunks (%d embedded), %d/%d sources read", ci.Name, ci.State,
			ci.Documents, ci.Chunks, ci.EmbeddedChunks, ci.SourcesRead, ci.SourcesSeen)
		if ci.ErrorCount > 0 {
			fmt.Fprintf(&b, ", %d with errors", ci.ErrorCount)
		}
	}
	return mcp.NewToolResultStructured(out, b.String()), nil
}

// IngestResult is the structured result of knowledge_ingest.
type IngestResult struct {
	Collection string `json:"collection"`
	Path       string `json:"path" jsonschema_description:"The document's path: the name given."`
	URI        string `json:"uri" jsonschema_description:"The document as an MCP resource."`
	Chunks     int    `json:"chunks" jsonschema_description:"Chunks the text was split into."`
	Replaced   bool   `json:"replaced" jsonschema_description:"True when an earlier document of the same name was replaced."`
	Embedded   bool   `json:"embedded" jsonschema_description:"True when the chunks got vectors now (else keyword search finds them at once, semantic search after the catch-up)."`
}

func (s *Server) ingestTool() registry.Tool {
	return registry.Tool{
		Def: mcp.NewTool(ingestToolName,
			mcp.WithDescription("Adds a text (markdown or plain) to a writable collection under a name, indexed at once for "+
				"knowledge_search; the same name again replaces the earlier text. Only collections the hub's config marks "+
				"writable accept it, and documents that come from files or URLs cannot be replaced."),
			mcp.WithString("collection", mcp.Required(), mcp.MaxLength(64), mcp.Description("A writable collection.")),
			mcp.WithString("name", mcp.Required(), mcp.MinLength(1), mcp.MaxLength(maxIngestName),
				mcp.Description("The document's name and path in the collection, such as notes/2026-05-01.md.")),
			mcp.WithString("text", mcp.Required(), mcp.MinLength(1), mcp.Description("The document's text.")),
			mcp.WithString("title", mcp.MaxLength(300), mcp.Description("A title; default: the first heading, else the name.")),
			mcp.WithString("format", mcp.Enum(kindMarkdown, kindText),
				mcp.Description("How to split the text: markdown (headings, lists, code blocks; the default) or text.")),
			mcp.WithOutputSchema[IngestResult](),
		),
		Hints:   &registry.Hints{ReadOnly: false, Destructive: true, Idempotent: true, OpenWorld: false},
		Timeout: 2 * time.Minute,
		Handler: s.handleIngest,
	}
}

// checkIngestName refuses names that would not make a clean path.
func checkIngestName(name string) string {
	if strings.HasPrefix(name, "/") || strings.HasSuffix(name, "/") || strings.Contains(name, "//") {
		return "name must be a relative path without empty segments, such as notes/today.md"
	}
	for _, seg := range strings.Split(name, "/") {
		if seg == "." || seg == ".." {
			return "name must not contain . or .. segments"
		}
	}
	for _, r := range name {
		if unicode.IsControl(r) {
			return "name must not contain control characters"
		}
	}
	return ""
}

func (s *Server) handleIngest(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	name := req.GetString("collection", "")
	c := s.byName[name]
	if c == nil {
		return mcp.NewToolResultError(fmt.Sprintf("unknown collection %q: this hub has %s", name, s.collectionNames())), nil
	}
	if !c.cfg.Writable {
		var writable []string
		for _, o := range s.colls {
			if o.cfg.Writable {
				writable = append(writable, o.cfg.Name)
			}
		}
		return mcp.NewToolResultError(fmt.Sprintf("collection %q is not writable; writable collections: %s", name, strings.Join(writable, ", "))), nil
	}
	docName := req.GetString("name", "")
	if msg := checkIngestName(docName); msg != "" {
		return mcp.NewToolResultError(msg), nil
	}
	text := req.GetString("text", "")
	if int64(len(text)) > s.cfg.MaxFileBytes {
		return mcp.NewToolResultError(fmt.Sprintf("text is %d bytes, more than max_file_bytes (%d)", len(text), s.cfg.MaxFileBytes)), nil
	}
	replaced := false
	if old, err := s.st.Document(ctx, name, docName); err == nil {
		if !isIngestSource(old.Source) {
			return mcp.NewToolResultError(fmt.Sprintf("%q in collection %q comes from %s and cannot be replaced; choose another name", docName, name, old.Source)), nil
		}
		replaced = true
	}
	format := req.GetString("format", kindMarkdown)
	ex := extracted{kind: kindMarkdown, body: strings.ReplaceAll(text, "\r\n", "\n"), chunk: chunk.Markdown}
	if format == kindText {
		ex.kind, ex.chunk = kindText, chunk.Text
	}
	ex.title = strings.TrimSpace(req.GetString("title", ""))
	doc := store.Document{Collection: name, Path: docName, Source: ingestSourcePrefix + docName, Kind: ex.kind,
		Hash: hashOf([]byte(text)), ModTime: time.Now().UTC(), Size: int64(len(text))}
	base := docName
	if i := strings.LastIndexByte(base, '/'); i >= 0 {
		base = base[i+1:]
	}
	c.setError(doc.Source, "")
	n := s.indexExtracted(ctx, c, doc, ex, base)
	p := c.progress()
	if msg, bad := p.Errors[doc.Source]; bad && n == 0 {
		return mcp.NewToolResultError("the text could not be indexed: " + msg), nil
	}
	_, embErr := p.Errors[doc.Source]
	out := IngestResult{Collection: name, Path: docName, URI: kbURI(name, docName), Chunks: n, Replaced: replaced,
		Embedded: s.emb != nil && !embErr}
	verb := "added"
	if replaced {
		verb = "replaced"
	}
	return mcp.NewToolResultStructured(out, fmt.Sprintf("%s %s (%d chunks): %s", verb, docName, n, out.URI)), nil
}
