package registry

import (
	"encoding/json"
	"fmt"
	"unicode/utf8"

	"github.com/mark3labs/mcp-go/mcp"
)

// defaultMoreHint is what a truncation note says when the tool gives no better way to the rest.
const defaultMoreHint = "ask for less: narrow the request, or use the tool's paging arguments if it has them"

// contentSize is the number of bytes one content item puts on the wire for its payload.
func contentSize(c mcp.Content) int {
	switch v := c.(type) {
	case mcp.TextContent:
		return len(v.Text)
	case *mcp.TextContent:
		return len(v.Text)
	case mcp.ImageContent:
		return len(v.Data)
	case *mcp.ImageContent:
		return len(v.Data)
	case mcp.AudioContent:
		return len(v.Data)
	case *mcp.AudioContent:
		return len(v.Data)
	case mcp.EmbeddedResource:
		return resourceSize(v.Resource)
	case *mcp.EmbeddedResource:
		return resourceSize(v.Resource)
	default:
		b, _ := json.Marshal(c)
		return len(b)
	}
}

func resourceSize(r mcp.ResourceContents) int {
	switch v := r.(type) {
	case mcp.TextResourceContents:
		return len(v.Text)
	case *mcp.TextResourceContents:
		return len(v.Text)
	case mcp.BlobResourceContents:
		return len(v.Blob)
	case *mcp.BlobResourceContents:
		return len(v.Blob)
	default:
		b, _ := json.Marshal(r)
		return len(b)
	}
}

// resultSize is the payload size of a result: its content items, and its structured content
// counted separately because clients read one or the other.
func resultSize(res *mcp.CallToolResult) (content, structured int) {
	for _, c := range res.Content {
		content += contentSize(c)
	}
	switch sc := res.StructuredContent.(type) {
	case nil:
	case json.RawMessage: // already encoded: servers that build large results do this
		structured = len(sc)
	default:
		if b, err := json.Marshal(sc); err == nil {
			structured = len(b)
		}
	}
	return content, structured
}

// applyBudget bounds res, whose sizes resultSize gave, to budget bytes of content. Text is cut at a UTF-8 boundary and binary
// items that do not fit are dropped; a note at the end says what was cut and how to get the rest.
// Structured content cannot be cut without breaking its schema, so a structured result over the
// budget becomes an error that tells the model to ask for less. It reports whether it cut.
func applyBudget(res *mcp.CallToolResult, content, structured, budget int, moreHint string) (*mcp.CallToolResult, bool) {
	if content <= budget && structured <= budget {
		return res, false
	}
	if moreHint == "" {
		moreHint = defaultMoreHint
	}
	if structured > budget {
		return mcp.NewToolResultError(fmt.Sprintf(
			"the result (%d bytes of structured content) is larger than this tool's output budget of %d bytes; %s",
			structured, budget, moreHint)), true
	}
	out := *res
	out.Content = make([]mcp.Content, 0, len(res.Content)+1)
	left := budget
	omitted := 0
	for _, c := range res.Content {
		size := contentSize(c)
		if size <= left {
			out.Content = append(out.Content, c)
			left -= size
			continue
		}
		if text, ok := textOf(c); ok && left > 0 {
			cut := truncateUTF8(text, left)
			out.Content = append(out.Content, mcp.NewTextContent(cut))
			left -= len(cut)
			continue
		}
		omitted++
	}
	shown := budget - left
	note := fmt.Sprintf("\n\n[output truncated by mcphub: showed %d of %d bytes (output budget %d bytes)", shown, content, budget)
	if omitted > 0 {
		note += fmt.Sprintf("; %d of %d content items left out", omitted, len(res.Content))
	}
	note += "; to get the rest, " + moreHint + "]"
	out.Content = append(out.Content, mcp.NewTextContent(note))
	return &out, true
}

func textOf(c mcp.Content) (string, bool) {
	switch v := c.(type) {
	case mcp.TextContent:
		return v.Text, true
	case *mcp.TextContent:
		return v.Text, true
	}
	return "", false
}

// truncateUTF8 returns the longest prefix of s of at most n bytes that does not split a rune.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
