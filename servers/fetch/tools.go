package fetch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/mark3labs/mcp-go/mcp"
	"golang.org/x/net/idna"

	"github.com/mcphub/mcphub/egress"
	"github.com/mcphub/mcphub/internal/readable"
	"github.com/mcphub/mcphub/servers/registry"
)

// Bounds of the arguments.
const (
	maxURLLen   = 4096
	minMaxBytes = 256
	maxMaxBytes = 1 << 20
	// resultReserve leaves room in the output budget for the header and the note around the
	// page in the text content.
	resultReserve = 1024
	// headerFieldBytes bounds the title and the URL in the header of the text content.
	headerFieldBytes = 200
)

// Formats of fetch_url.
const (
	formatMarkdown = "markdown"
	formatText     = "text"
	formatRaw      = "raw"
)

// Tools returns fetch_url.
func (s *Server) Tools() []registry.Tool {
	return []registry.Tool{s.fetchURLTool()}
}

// fetchResult is fetch_url's structured output.
type fetchResult struct {
	URL            string `json:"url" jsonschema_description:"The URL as requested."`
	FinalURL       string `json:"final_url" jsonschema_description:"The URL after redirects: the page the content is from."`
	Status         int    `json:"status" jsonschema_description:"The HTTP status code of the final response."`
	ContentType    string `json:"content_type" jsonschema_description:"The media type of the response, such as text/html."`
	Title          string `json:"title,omitempty" jsonschema_description:"The page's title, for HTML pages that have one."`
	Format         string `json:"format" jsonschema_description:"The format of content: markdown, text or raw."`
	Content        string `json:"content" jsonschema_description:"This page of the content, starting at start_index."`
	TotalChars     int    `json:"total_chars" jsonschema_description:"Characters (Unicode code points) in the whole converted content."`
	StartIndex     int    `json:"start_index" jsonschema_description:"The character offset where this page starts."`
	NextStartIndex *int   `json:"next_start_index,omitempty" jsonschema_description:"Present when content continues: call again with start_index set to it."`
	Truncated      bool   `json:"truncated,omitempty" jsonschema_description:"True when the response was larger than the server's max_response_bytes and only its beginning was read."`
	Note           string `json:"note,omitempty" jsonschema_description:"What was left out and how to get it."`
}

// fetchArgs are fetch_url's arguments after defaults.
type fetchArgs struct {
	URL        string `json:"url"`
	Format     string `json:"format"`
	MaxBytes   int    `json:"max_bytes"`
	StartIndex int    `json:"start_index"`
}

func (s *Server) fetchURLTool() registry.Tool {
	schema := map[string]any{
		"type": "object",
		"properties": map[string]any{
			"url": map[string]any{"type": "string", "minLength": 1, "maxLength": maxURLLen,
				"description": "The http or https URL to fetch."},
			"format": map[string]any{"type": "string", "enum": []string{formatMarkdown, formatText, formatRaw},
				"description": "markdown (the default): an HTML page's main content as Markdown; text: the same as plain text; " +
					"raw: the body as served (HTML source). Text and JSON responses are returned as they are in every format."},
			"max_bytes": map[string]any{"type": "integer", "minimum": minMaxBytes, "maximum": maxMaxBytes,
				"description": "The most bytes of content to return in this call; the default and the ceiling are the hub's output budget."},
			"start_index": map[string]any{"type": "integer", "minimum": 0,
				"description": "The character offset to start at, to read on where an earlier call stopped (its next_start_index). The default is 0."},
		},
		"required":             []string{"url"},
		"additionalProperties": false,
	}
	raw, err := json.Marshal(schema)
	if err != nil {
		panic(fmt.Sprintf("encoding a static schema: %v", err)) // a bug in the literal above
	}
	return registry.Tool{
		Def: mcp.NewTool("fetch_url",
			mcp.WithTitleAnnotation("Fetch a web page"),
			mcp.WithDescription("Fetches a web page or text file over http or https and returns it for reading: an HTML page's main content "+
				"as Markdown (format markdown, the default) or plain text (format text), or the body as served (format raw); "+
				"text and JSON come back as they are, other types (images, PDF, archives) are refused. "+
				"Long content comes in pages: when the result has next_start_index, call again with start_index set to it "+
				"(reading on uses the copy of the page taken by the first call, for 5 minutes). "+
				"Requests pass the hub's egress policy: loopback, private, link-local and cloud-metadata addresses are refused "+
				"unless the operator allows them (egress.allow)."),
			func(t *mcp.Tool) {
				t.InputSchema.Type = "" // mcp-go refuses a tool with both schemas set
				t.RawInputSchema = raw
			},
			mcp.WithOutputSchema[fetchResult](),
		),
		Hints:         &registry.Hints{ReadOnly: true, Idempotent: true, OpenWorld: true},
		Timeout:       toolTimeout,
		MaxConcurrent: maxConcurrent,
		MoreHint:      "call again with start_index set to next_start_index, or a smaller max_bytes",
		Handler:       s.handleFetch,
	}
}

func (s *Server) handleFetch(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	args := fetchArgs{Format: formatMarkdown}
	if err := req.BindArguments(&args); err != nil {
		return mcp.NewToolResultError("invalid arguments: " + err.Error()), nil
	}
	if s.client == nil {
		return mcp.NewToolResultError("the fetch server is not provisioned"), nil
	}
	chunkBytes := s.chunkBytes(args.MaxBytes)
	u, msg := s.checkURL(args.URL)
	if msg != "" {
		return mcp.NewToolResultError(msg), nil
	}

	// Reading on (start_index > 0) continues the copy the first call cached; start_index 0
	// always fetches.
	key := cacheKey{url: u.String(), format: args.Format}
	var res fetchResult
	var content string
	if e, ok := s.cache.get(key); ok && args.StartIndex > 0 {
		res, content = e.meta, e.content
	} else {
		page, msg := s.fetch(ctx, u)
		if msg != "" {
			return mcp.NewToolResultError(msg), nil
		}
		var title string
		content, title, msg = convertBody(page, args.Format)
		if msg != "" {
			return mcp.NewToolResultError(msg), nil
		}
		res = fetchResult{
			URL:         args.URL,
			FinalURL:    page.finalURL.String(),
			Status:      page.status,
			ContentType: page.mediaType,
			Title:       title,
			Format:      args.Format,
			TotalChars:  utf8.RuneCountInString(content),
			Truncated:   page.truncated,
		}
		if page.mediaType != "text/html" && page.mediaType != "application/xhtml+xml" {
			res.Format = formatRaw // text and JSON are returned as they are
		}
		if len(content) > chunkBytes {
			s.cache.put(key, res, content)
		}
	}
	res.URL, res.StartIndex = args.URL, args.StartIndex
	if args.StartIndex > 0 && args.StartIndex >= res.TotalChars {
		return mcp.NewToolResultError(fmt.Sprintf("start_index %d is at or past the end of the content (%d characters); "+
			"start below %d", args.StartIndex, res.TotalChars, max(res.TotalChars, 1))), nil
	}
	return s.pageResult(res, content, chunkBytes), nil
}

// chunkBytes is the most content bytes one result may carry: max_bytes when given, never more
// than the output budget leaves.
func (s *Server) chunkBytes(maxBytes int) int {
	ceiling := max(s.budget-resultReserve, minMaxBytes)
	if maxBytes <= 0 || maxBytes > ceiling {
		return ceiling
	}
	return maxBytes
}

// checkURL parses and checks the requested URL before any connection; msg is the tool error.
func (s *Server) checkURL(raw string) (*url.URL, string) {
	raw = strings.TrimSpace(raw)
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Sprintf("url %q is not a valid URL: %v", clip(raw, 200), errors.Unwrap(err))
	}
	if u.Scheme == "" || (u.Host == "" && u.Opaque == "" && u.Scheme != "file") {
		return nil, fmt.Sprintf("url %q is not absolute: give a full http:// or https:// URL", clip(raw, 200))
	}
	if h := u.Hostname(); strings.IndexFunc(h, func(r rune) bool { return r >= utf8.RuneSelf }) >= 0 {
		// An international name (bücher.example) is looked up, and judged, as its ASCII form.
		ascii, err := idna.Lookup.ToASCII(h)
		if err != nil {
			return nil, fmt.Sprintf("url %q has an invalid host name: %v", clip(raw, 200), err)
		}
		port := u.Port()
		u.Host = ascii
		if port != "" {
			u.Host = net.JoinHostPort(ascii, port)
		}
	}
	if err := s.policy.CheckURL(u); err != nil {
		return nil, refusalMessage(err)
	}
	return u, ""
}

// fetched is one response, read.
type fetched struct {
	finalURL    *url.URL
	status      int
	contentType string // the header as sent
	mediaType   string // its media type, lowercase; sniffed when the header has none
	body        []byte
	truncated   bool // the body was cut at max_response_bytes
}

// fetch GETs u through the egress client; msg is the tool error.
func (s *Server) fetch(ctx context.Context, u *url.URL) (*fetched, string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Sprintf("cannot build a request for %s: %v", u.Redacted(), err)
	}
	req.Header.Set("Accept", "text/html,application/xhtml+xml,text/plain;q=0.9,application/json;q=0.9,text/*;q=0.8,*/*;q=0.5")
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, s.requestError(ctx, u, err)
	}
	defer func() { _ = resp.Body.Close() }()

	p := &fetched{finalURL: resp.Request.URL, status: resp.StatusCode, contentType: resp.Header.Get("Content-Type")}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		loc := resp.Header.Get("Location")
		if loc == "" || s.cfg.MaxRedirects > 0 {
			return nil, fmt.Sprintf("fetching %s failed: the server answered HTTP %s without a redirect to follow",
				p.finalURL.Redacted(), resp.Status)
		}
		return nil, fmt.Sprintf("%s redirects (HTTP %d) to %q, and this server follows no redirects (servers.fetch.max_redirects is 0): "+
			"fetch that URL instead", p.finalURL.Redacted(), resp.StatusCode, clip(loc, 500))
	}
	limit := s.cfg.MaxResponseBytes
	if resp.StatusCode >= 400 {
		limit = 64 << 10 // enough of an error page to quote from
	}
	body, err := io.ReadAll(egress.LimitBody(resp.Body, limit))
	switch {
	case errors.Is(err, egress.ErrTooLarge):
		p.truncated = true
		body = body[:min(int64(len(body)), limit)]
	case err != nil:
		return nil, s.requestError(ctx, u, fmt.Errorf("reading the body: %w", err))
	}
	p.body = body
	p.mediaType = mediaType(p.contentType, body)
	if resp.StatusCode >= 400 {
		return nil, httpErrorMessage(p, resp.Status)
	}
	return p, ""
}

// requestError turns a failed request into a message a model can act on, naming the egress
// policy for refusals and the configured timeout for timeouts.
func (s *Server) requestError(ctx context.Context, u *url.URL, err error) string {
	if egress.IsRefused(err) {
		return refusalMessage(err)
	}
	if errors.Is(ctx.Err(), context.Canceled) {
		return fmt.Sprintf("fetching %s was cancelled", u.Redacted())
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil || (errors.As(err, &ne) && ne.Timeout()) {
		return fmt.Sprintf("fetching %s timed out (the limit is %s); try again later or another URL", u.Redacted(), s.cfg.Timeout)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return fmt.Sprintf("fetching %s failed: the host name %q could not be resolved (%s)", u.Redacted(), dnsErr.Name, dnsErr.Err)
	}
	return fmt.Sprintf("fetching %s failed: %v", u.Redacted(), err)
}

// refusalMessage is the text of a refusal by the egress policy.
func refusalMessage(err error) string {
	var r *egress.Refused
	if errors.As(err, &r) {
		return r.Error()
	}
	return err.Error()
}

// httpErrorMessage is the tool error for an HTTP error status, with the start of the error
// page's text so that the model can see why.
func httpErrorMessage(p *fetched, status string) string {
	msg := fmt.Sprintf("fetching %s failed: the server answered HTTP %s", p.finalURL.Redacted(), status)
	var snippet string
	switch kindOf(p.mediaType) {
	case kindHTML:
		if pg, err := readable.Convert(p.body, readable.Options{BaseURL: p.finalURL, ContentType: p.contentType,
			Format: readable.FormatText, FullPage: true, MaxOutputBytes: errorSnippetBytes * 2}); err == nil {
			snippet = pg.Content
		}
	case kindText:
		if b, _, err := readable.ToUTF8(p.body, p.contentType); err == nil {
			snippet = string(b)
		}
	}
	if snippet = strings.TrimSpace(snippet); snippet != "" {
		msg += "; the page says: " + clip(snippet, errorSnippetBytes)
	}
	return msg
}

// Kinds of content fetch_url reads.
type contentKind int

const (
	kindOther contentKind = iota
	kindHTML
	kindText
)

// mediaType returns the lowercase media type of the Content-Type header, or of the body's first
// bytes when the header has none.
func mediaType(header string, body []byte) string {
	if mt, _, err := mime.ParseMediaType(header); err == nil && mt != "" {
		return strings.ToLower(mt)
	}
	mt, _, _ := mime.ParseMediaType(http.DetectContentType(body[:min(len(body), 512)]))
	return mt
}

// kindOf classifies a media type: HTML is converted, text-like types are returned as they are,
// the rest refused.
func kindOf(mt string) contentKind {
	switch {
	case mt == "text/html" || mt == "application/xhtml+xml":
		return kindHTML
	case strings.HasPrefix(mt, "text/"),
		mt == "application/json", strings.HasSuffix(mt, "+json"),
		mt == "application/xml", strings.HasSuffix(mt, "+xml"),
		mt == "application/javascript", mt == "application/ecmascript", mt == "application/x-javascript",
		mt == "application/yaml", mt == "application/x-yaml", mt == "application/toml",
		mt == "application/x-ndjson", mt == "application/jsonl", mt == "application/sql",
		mt == "application/x-sh", mt == "application/csv", mt == "application/graphql":
		return kindText
	}
	return kindOther
}

// convertBody returns the content of a fetched page in the asked format and its title; msg is
// the tool error for content fetch_url does not read.
func convertBody(p *fetched, format string) (content, title, msg string) {
	switch kindOf(p.mediaType) {
	case kindHTML:
		if format == formatRaw {
			b, _, err := readable.ToUTF8(p.body, p.contentType)
			if err != nil {
				return "", "", fmt.Sprintf("%s: %v", p.finalURL.Redacted(), err)
			}
			return string(b), "", ""
		}
		f := readable.FormatMarkdown
		if format == formatText {
			f = readable.FormatText
		}
		pg, err := readable.Convert(p.body, readable.Options{BaseURL: p.finalURL, ContentType: p.contentType, Format: f,
			MaxInputBytes: len(p.body) + 1})
		if err != nil {
			return "", "", fmt.Sprintf("converting %s: %v", p.finalURL.Redacted(), err)
		}
		return pg.Content, pg.Title, ""
	case kindText:
		ct := p.contentType
		if readable.CharsetOf(ct) == "" && (p.mediaType == "application/json" || strings.HasSuffix(p.mediaType, "+json")) {
			ct = "application/json; charset=utf-8" // JSON is UTF-8 (RFC 8259)
		}
		b, _, err := readable.ToUTF8(p.body, ct)
		if err != nil {
			return "", "", fmt.Sprintf("%s: %v", p.finalURL.Redacted(), err)
		}
		return string(b), "", ""
	}
	return "", "", fmt.Sprintf("%s is %s (%d bytes read), which fetch_url does not read: it reads HTML pages, text and JSON",
		p.finalURL.Redacted(), p.mediaType, len(p.body))
}

// pageResult cuts the page of content at res.StartIndex to fit chunkBytes and the output budget,
// and builds the result: the page and a note as text, everything in structured content.
func (s *Server) pageResult(res fetchResult, content string, chunkBytes int) *mcp.CallToolResult {
	// The structured copy must fit the budget once JSON-encoded; measure what surrounds the
	// content with a placeholder next index as long as any real one.
	probe := res
	probe.NextStartIndex = new(int)
	*probe.NextStartIndex = res.TotalChars
	probe.Note = noteText(res.StartIndex, res.TotalChars, res.TotalChars, true, res.Truncated)
	overhead := len(encodeJSON(probe))
	jsonBudget := max(s.budget-overhead-64, minMaxBytes)

	chunk, next := cutPage(content, res.StartIndex, chunkBytes, jsonBudget)
	res.Content = chunk
	if next < res.TotalChars {
		res.NextStartIndex = &next
		res.Note = noteText(res.StartIndex, next, res.TotalChars, true, res.Truncated)
	} else if res.Truncated {
		res.Note = noteText(res.StartIndex, next, res.TotalChars, false, true)
	}
	text := chunk
	if strings.TrimSpace(text) == "" {
		text = "[the page has no readable text: it may build its content with JavaScript, which fetch_url does not run]"
	}
	if res.StartIndex == 0 && res.Format != formatRaw {
		// The first page of a converted page says what it is, for clients that show the model
		// only the text (the structured content has it all).
		header := "URL: " + clip(res.FinalURL, headerFieldBytes) + "\n\n"
		if res.Title != "" {
			header = "Title: " + clip(res.Title, headerFieldBytes) + "\n" + header
		}
		text = header + text
	}
	if res.Note != "" {
		text += "\n\n[" + res.Note + "]"
	}
	out := mcp.NewToolResultText(text)
	out.StructuredContent = json.RawMessage(encodeJSON(res))
	return out
}

// noteText says where this page of content stops and how to read on.
func noteText(start, next, total int, more, truncated bool) string {
	var parts []string
	if more {
		parts = append(parts, fmt.Sprintf("content truncated: showed characters %d to %d of %d; call again with start_index=%d to read on",
			start, next, total, next))
	}
	if truncated {
		parts = append(parts, "the response was larger than this server's max_response_bytes, so only its beginning was read")
	}
	return strings.Join(parts, "; ")
}

// cutPage returns the page of s that starts at character start and holds at most maxBytes bytes
// and at most jsonBudget bytes once encoded as a JSON string, ending at a line break or a space
// when one is near the end; next is the character index after it. It works in one pass over s.
func cutPage(s string, start, maxBytes, jsonBudget int) (page string, next int) {
	i, chars := 0, 0
	for chars < start && i < len(s) {
		_, n := utf8.DecodeRuneInString(s[i:])
		i += n
		chars++
	}
	begin, beginChars := i, chars
	size, cost := 0, 2 // the quotes
	lastBreak, lastBreakChars, lastSpace, lastSpaceChars := -1, 0, -1, 0
	for i < len(s) {
		r, n := utf8.DecodeRuneInString(s[i:])
		c := jsonCost(r, n)
		if size+n > maxBytes || cost+c > jsonBudget {
			break
		}
		size += n
		cost += c
		i += n
		chars++
		switch r {
		case '\n':
			lastBreak, lastBreakChars = i, chars
		case ' ':
			lastSpace, lastSpaceChars = i, chars
		}
	}
	if i < len(s) {
		// Stop at a line break in the last fifth of the page, else at a space in its last tenth.
		switch {
		case lastBreak > begin && (i-lastBreak)*5 < i-begin:
			i, chars = lastBreak, lastBreakChars
		case lastSpace > begin && (i-lastSpace)*10 < i-begin:
			i, chars = lastSpace, lastSpaceChars
		}
	}
	if chars == beginChars && i < len(s) { // always make progress
		_, n := utf8.DecodeRuneInString(s[i:])
		i += n
		chars++
	}
	return s[begin:i], chars
}

// jsonCost is the encoded size of rune r (n bytes of UTF-8) in a JSON string without HTML
// escaping.
func jsonCost(r rune, n int) int {
	switch {
	case r == '"' || r == '\\' || r == '\n' || r == '\r' || r == '\t':
		return 2
	case r < 0x20 || r == '\u2028' || r == '\u2029' || r == utf8.RuneError && n == 1:
		return 6
	}
	return n
}

// encodeJSON encodes v without HTML escaping (the budget counts these bytes).
func encodeJSON(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(fmt.Sprintf("encoding a fetch result: %v", err)) // plain strings and ints only
	}
	return bytes.TrimRight(b.Bytes(), "\n")
}

// clip shortens s to at most n bytes at a UTF-8 boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
