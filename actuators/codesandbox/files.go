package codesandbox

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io/fs"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/mcphub/mcphub/sandbox"
	"github.com/mcphub/mcphub/servers/registry"
)

// listBudget bounds a sandbox_list_files result.
const listBudget = 64 << 10

// writeFileResult is the structured result of sandbox_write_file.
type writeFileResult struct {
	Path string `json:"path" jsonschema_description:"Absolute path of the file written."`
	Size int    `json:"size" jsonschema_description:"Bytes written."`
}

func (s *Server) writeFileTool() registry.Tool {
	return registry.Tool{
		Def: mcp.NewTool("sandbox_write_file",
			mcp.WithDescription("Writes a file into a sandbox session, replacing it if it exists and creating parent "+
				"directories. The path is relative to /work, or absolute under /work or /tmp (/tmp is small and not "+
				"executable). Binary content goes as base64 with encoding base64."),
			sessionIDOption(),
			mcp.WithString("path", mcp.Required(), mcp.MinLength(1), mcp.MaxLength(maxPathBytes),
				mcp.Description("Where to write: relative to /work, or absolute under /work or /tmp.")),
			mcp.WithString("content", mcp.Required(), mcp.Description("The file's content: text, or base64 when encoding is base64.")),
			mcp.WithString("encoding", mcp.Enum("text", "base64"), mcp.Description("text (the default) or base64 for binary content.")),
			mcp.WithBoolean("executable", mcp.Description("Make the file executable. Default false.")),
			mcp.WithOutputSchema[writeFileResult](),
		),
		Hints:         writeHints,
		Timeout:       fileCallTimeout,
		OutputBudget:  4096,
		MaxConcurrent: s.cfg.MaxConcurrentRuns,
		Handler:       s.handleWriteFile,
	}
}

func (s *Server) handleWriteFile(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	eng, sess, args, res := s.sessionCall(ctx, req)
	if sess == nil {
		return res, nil
	}
	p, _ := args["path"].(string)
	abs, err := containerPath(p, false)
	if err != nil {
		return argResult(err), nil
	}
	content, ok := args["content"].(string)
	if !ok {
		return argResult(badArg("content is required and must be a string")), nil
	}
	encoding, _ := args["encoding"].(string)
	data, err := decodeContent(content, encoding, s.cfg.MaxFileBytes, "content")
	if err != nil {
		return argResult(err), nil
	}
	exe, _ := args["executable"].(bool)
	if err := eng.WriteFile(ctx, sess, sandbox.File{Path: abs, Data: data, Mode: fileMode(exe)}); err != nil {
		return s.engineError(err), nil
	}
	return mcp.NewToolResultStructured(writeFileResult{Path: abs, Size: len(data)},
		fmt.Sprintf("Wrote %d bytes to %s.", len(data), abs)), nil
}

// readFileResult is the structured result of sandbox_read_file.
type readFileResult struct {
	Path       string `json:"path" jsonschema_description:"Absolute path of the file."`
	Size       int64  `json:"size" jsonschema_description:"The file's whole size in bytes."`
	Offset     int64  `json:"offset" jsonschema_description:"Byte offset of the part returned."`
	Bytes      int    `json:"bytes" jsonschema_description:"Bytes of the file returned in this result."`
	MIMEType   string `json:"mime_type" jsonschema_description:"Detected media type."`
	Encoding   string `json:"encoding" jsonschema_description:"How the bytes came back: text (in text and the text content), image (image content) or base64 (an embedded resource in the content)."`
	Text       string `json:"text,omitempty" jsonschema_description:"The part read, when encoding is text."`
	NextOffset *int64 `json:"next_offset,omitempty" jsonschema_description:"Present when the file goes on: call again with offset set to it."`
	Note       string `json:"note,omitempty" jsonschema_description:"What was left out and how to get it."`
}

func (s *Server) readFileTool() registry.Tool {
	return registry.Tool{
		Def: mcp.NewTool("sandbox_read_file",
			mcp.WithDescription("Reads a file from a sandbox session. Text comes back as text; png, jpeg, gif and webp "+
				"images as image content; other binary files as base64 in an embedded resource. Long files come in "+
				"parts: the result's next_offset says where to continue."),
			sessionIDOption(),
			mcp.WithString("path", mcp.Required(), mcp.MinLength(1), mcp.MaxLength(maxPathBytes),
				mcp.Description("The file: relative to /work, or absolute under /work or /tmp.")),
			mcp.WithNumber("offset", mcp.Min(0), mcp.Description("Byte offset to start reading at. Default 0.")),
			mcp.WithNumber("max_bytes", mcp.Min(1), mcp.Description("Read at most this many bytes. Default and maximum: what fits in the output budget.")),
			mcp.WithString("encoding", mcp.Enum("auto", "text", "base64"),
				mcp.Description("auto (the default) picks text, image or base64 from the content; base64 forces binary.")),
			mcp.WithOutputSchema[readFileResult](),
		),
		Hints:         readHints,
		Timeout:       fileCallTimeout,
		OutputBudget:  s.cfg.ResultBudgetBytes,
		MaxConcurrent: s.cfg.MaxConcurrentRuns,
		MoreHint:      "call again with offset set to next_offset, or a smaller max_bytes",
		Handler:       s.handleReadFile,
	}
}

func (s *Server) handleReadFile(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	eng, sess, args, res := s.sessionCall(ctx, req)
	if sess == nil {
		return res, nil
	}
	p, _ := args["path"].(string)
	abs, err := containerPath(p, false)
	if err != nil {
		return argResult(err), nil
	}
	offset, err := nonNegativeInt(args["offset"], "offset")
	if err != nil {
		return argResult(err), nil
	}
	maxBytes, err := nonNegativeInt(args["max_bytes"], "max_bytes")
	if err != nil {
		return argResult(err), nil
	}
	encoding, _ := args["encoding"].(string)
	if encoding == "" {
		encoding = "auto"
	}
	if offset >= s.cfg.MaxFileBytes {
		return argResult(badArg("offset %d is past what the sandbox reads of a file (max_file_bytes %d)", offset, s.cfg.MaxFileBytes)), nil
	}
	// Enough for the largest part a result can carry (an image whole, or a text part).
	room := int64(s.cfg.ResultBudgetBytes - resultReserve)
	limit := room
	if maxBytes > 0 && maxBytes < limit {
		limit = maxBytes
	}
	want := min(offset+room, s.cfg.MaxFileBytes)
	data, size, err := eng.ReadFile(ctx, sess, abs, want)
	if err != nil {
		return s.engineError(err), nil
	}
	res = formatRead(abs, data, size, offset, limit, encoding, s.cfg.ResultBudgetBytes, s.cfg.MaxFileBytes)
	if out, ok := res.StructuredContent.(readFileResult); ok && out.NextOffset != nil && offset == 0 && size <= maxResourceRead {
		// A client that reads resources can take the whole file in one read.
		res.Content = append(res.Content, mcp.NewResourceLink(sessionFileURI(sess.ID, abs), abs,
			fmt.Sprintf("the whole file, %d bytes", size), ""))
	}
	return res, nil
}

// nonNegativeInt reads an optional whole-number argument.
func nonNegativeInt(raw any, name string) (int64, error) {
	if raw == nil {
		return 0, nil
	}
	f, ok := raw.(float64)
	if !ok || f < 0 || f != math.Trunc(f) || f > 1<<53 {
		return 0, badArg("%s must be a whole number of bytes, 0 or more", name)
	}
	return int64(f), nil
}

// formatRead builds the result of sandbox_read_file from data, the first bytes of a file of size
// bytes: the part from offset, at most limit bytes, as an image, text or base64, within budget.
func formatRead(abs string, data []byte, size, offset, limit int64, encoding string, budget int, maxFile int64) *mcp.CallToolResult {
	if offset > size {
		return mcp.NewToolResultError(fmt.Sprintf("offset %d is past the end of %s (%d bytes)", offset, abs, size))
	}
	out := readFileResult{Path: abs, Size: size, Offset: offset}
	whole := offset == 0 && int64(len(data)) == size
	mime := detectType(abs, data)
	out.MIMEType = mime
	if encoding == "auto" && whole && imageTypes[mime] {
		b64 := base64.StdEncoding.EncodeToString(data)
		if len(b64) > budget-resultReserve {
			return mcp.NewToolResultError(fmt.Sprintf("%s is a %s image of %d bytes, too large for this tool's output "+
				"budget of %d bytes as image content; make it smaller (fewer pixels, or jpeg), or read it with "+
				"encoding base64 in parts", abs, mime, size, budget))
		}
		out.Encoding, out.Bytes = returnedImage, len(data)
		return &mcp.CallToolResult{
			Content: []mcp.Content{
				mcp.NewTextContent(fmt.Sprintf("%s: %s image, %d bytes.", abs, mime, size)),
				mcp.NewImageContent(b64, mime),
			},
			StructuredContent: out,
		}
	}

	part := data[min(offset, int64(len(data))):]
	asText := encoding == "text" || (encoding == "auto" && isTextPrefix(part))
	if asText {
		part = part[:min(int64(len(part)), limit)]
		if int64(len(part)) < size-offset {
			part = cutAtRune(part, len(part))
		}
		// JSON escaping can make the structured copy longer than the text: shrink until it fits.
		for {
			out.Text = strings.ToValidUTF8(string(part), "\uFFFD")
			js, _ := json.Marshal(out)
			over := len(js) - (budget - 512)
			if over <= 0 || len(part) == 0 {
				break
			}
			part = cutAtRune(part, max(len(part)-over-64, 0))
		}
		out.Encoding, out.Bytes = returnedText, len(part)
	} else {
		raw := part[:min(int64(len(part)), limit, int64((budget-resultReserve)/4*3))]
		out.Encoding, out.Bytes = returnedBase64, len(raw)
		part = raw
	}
	end := offset + int64(out.Bytes)
	if end < size {
		next := end
		out.NextOffset = &next
		out.Note = fmt.Sprintf("returned bytes %d to %d of %d; call again with offset %d for more", offset, end, size, end)
		if next >= maxFile {
			out.NextOffset = nil
			out.Note = fmt.Sprintf("returned bytes %d to %d of %d; the sandbox reads at most the first %d bytes of a file "+
				"(max_file_bytes): split the file with sandbox_exec to read the rest", offset, end, size, maxFile)
		}
	}
	summary := fmt.Sprintf("%s: %d bytes (%s)", abs, size, mime)
	if out.Note != "" {
		summary += "; " + out.Note
	}
	res := &mcp.CallToolResult{StructuredContent: out}
	if out.Encoding == returnedText {
		res.Content = []mcp.Content{mcp.NewTextContent(out.Text), mcp.NewTextContent("\n[" + summary + "]")}
	} else {
		res.Content = []mcp.Content{
			mcp.NewTextContent(summary + "; the bytes are in the embedded resource, base64-encoded"),
			mcp.NewEmbeddedResource(mcp.BlobResourceContents{URI: fileURI(abs), MIMEType: mime, Blob: base64.StdEncoding.EncodeToString(part)}),
		}
	}
	return res
}

// cutAtRune returns b cut to at most n bytes, not inside a UTF-8 sequence.
func cutAtRune(b []byte, n int) []byte {
	if n >= len(b) {
		return b
	}
	for i := n; i > 0 && i > n-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			return b[:i]
		}
	}
	return b[:n]
}

// isTextPrefix reports whether data reads as text, allowing a rune cut at its end.
func isTextPrefix(data []byte) bool {
	if isText(data) {
		return true
	}
	for cut := 1; cut < utf8.UTFMax && cut <= len(data); cut++ {
		if isText(data[:len(data)-cut]) && !utf8.FullRune(data[len(data)-cut:]) {
			return true
		}
	}
	return false
}

// listFilesResult is the structured result of sandbox_list_files.
type listFilesResult struct {
	Dir       string      `json:"dir" jsonschema_description:"The directory listed."`
	Entries   []listEntry `json:"entries" jsonschema_description:"What it holds, as the runtime lists it."`
	Total     int         `json:"total" jsonschema_description:"How many entries there are in all."`
	Truncated bool        `json:"truncated" jsonschema_description:"True when entries were left out to fit the output budget."`
	Note      string      `json:"note,omitempty" jsonschema_description:"What was left out and how to see it."`
}

type listEntry struct {
	Path     string `json:"path" jsonschema_description:"Absolute path."`
	Size     int64  `json:"size" jsonschema_description:"Size in bytes (0 for directories)."`
	IsDir    bool   `json:"is_dir" jsonschema_description:"True for a directory."`
	Mode     string `json:"mode" jsonschema_description:"Permissions, as ls shows them."`
	Modified string `json:"modified" jsonschema_description:"Last modification time, RFC 3339."`
}

func (s *Server) listFilesTool() registry.Tool {
	return registry.Tool{
		Def: mcp.NewTool("sandbox_list_files",
			mcp.WithDescription("Lists the files of a directory in a sandbox session: path, size, type, permissions and "+
				"modification time."),
			sessionIDOption(),
			mcp.WithString("path", mcp.MaxLength(maxPathBytes),
				mcp.Description("The directory: relative to /work, or absolute under /work or /tmp. Default /work.")),
			mcp.WithOutputSchema[listFilesResult](),
		),
		Hints:         readHints,
		Timeout:       fileCallTimeout,
		OutputBudget:  listBudget,
		MaxConcurrent: s.cfg.MaxConcurrentRuns,
		MoreHint:      "list a subdirectory, or use sandbox_exec with find and a filter",
		Handler:       s.handleListFiles,
	}
}

func (s *Server) handleListFiles(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	eng, sess, args, res := s.sessionCall(ctx, req)
	if sess == nil {
		return res, nil
	}
	dir := workDir
	if p, _ := args["path"].(string); p != "" {
		var err error
		if dir, err = containerPath(p, true); err != nil {
			return argResult(err), nil
		}
	}
	infos, err := eng.ListFiles(ctx, sess, dir)
	if err != nil {
		return s.engineError(err), nil
	}
	return formatList(dir, infos, listBudget), nil
}

// formatList builds the result of sandbox_list_files, leaving out entries past the budget.
func formatList(dir string, infos []sandbox.FileInfo, budget int) *mcp.CallToolResult {
	out := listFilesResult{Dir: dir, Entries: make([]listEntry, 0, len(infos)), Total: len(infos)}
	var text strings.Builder
	used := 256
	for _, f := range infos {
		e := listEntry{Path: f.Path, Size: f.Size, IsDir: f.IsDir, Mode: modeString(f.Mode, f.IsDir)}
		if !f.ModTime.IsZero() {
			e.Modified = f.ModTime.UTC().Format(time.RFC3339)
		}
		line := fmt.Sprintf("%s %10d %s %s\n", e.Mode, e.Size, e.Modified, e.Path)
		// An entry costs about its line in the text and twice its fields in the JSON.
		cost := len(line) + 2*len(e.Path) + 96
		if used+cost > budget-512 {
			out.Truncated = true
			break
		}
		used += cost
		out.Entries = append(out.Entries, e)
		text.WriteString(line)
	}
	if out.Truncated {
		out.Note = fmt.Sprintf("listed %d of %d entries to fit the output budget; list a subdirectory, or use sandbox_exec "+
			"with find and a filter", len(out.Entries), len(infos))
		fmt.Fprintf(&text, "[%s]\n", out.Note)
	}
	header := fmt.Sprintf("%s: %d entries\n", dir, len(infos))
	return &mcp.CallToolResult{Content: []mcp.Content{mcp.NewTextContent(header + text.String())}, StructuredContent: out}
}

// modeString renders permission bits as ls does (drwxr-xr-x).
func modeString(mode uint32, isDir bool) string {
	m := fs.FileMode(mode & 0o777)
	if isDir {
		m |= fs.ModeDir
	}
	return m.String()
}
