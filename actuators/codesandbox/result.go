package codesandbox

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"path"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/mcphub/mcphub/sandbox"
)

// execResult is the structured result of sandbox_run and sandbox_exec.
type execResult struct {
	SessionID          string      `json:"session_id,omitempty" jsonschema_description:"The session the code ran in (sandbox_exec only)."`
	ExitCode           int         `json:"exit_code" jsonschema_description:"The process's exit code: 0 is success. 137 with stopped set means the platform killed it."`
	DurationMS         int64       `json:"duration_ms" jsonschema_description:"Wall-clock time the code ran, in milliseconds."`
	Stopped            string      `json:"stopped,omitempty" jsonschema_description:"Set when the platform stopped the code: timeout, out_of_memory, pids_limit, output_limit or cancelled."`
	Reason             string      `json:"reason,omitempty" jsonschema_description:"When stopped is set: what happened and what to change, in a sentence."`
	Stdout             string      `json:"stdout" jsonschema_description:"Standard output (UTF-8; invalid bytes replaced). Cut in the middle when too long: see stdout_omitted_bytes."`
	Stderr             string      `json:"stderr" jsonschema_description:"Standard error, like stdout."`
	StdoutBytes        int64       `json:"stdout_bytes" jsonschema_description:"Bytes the code wrote to stdout in all."`
	StderrBytes        int64       `json:"stderr_bytes" jsonschema_description:"Bytes the code wrote to stderr in all."`
	StdoutOmittedBytes int64       `json:"stdout_omitted_bytes,omitempty" jsonschema_description:"Bytes of stdout left out of this result (beyond the capture limit or the output budget)."`
	StderrOmittedBytes int64       `json:"stderr_omitted_bytes,omitempty" jsonschema_description:"Bytes of stderr left out of this result."`
	Files              []fileEntry `json:"files,omitempty" jsonschema_description:"Files the code created or changed under /work, and how each came back in this result's content."`
	Notes              []string    `json:"notes,omitempty" jsonschema_description:"What was cut or adjusted, and how to get the rest."`
}

// fileEntry describes one file of a result.
type fileEntry struct {
	Path     string `json:"path" jsonschema_description:"Absolute path in the sandbox."`
	Size     int64  `json:"size" jsonschema_description:"Size in bytes."`
	MIMEType string `json:"mime_type,omitempty" jsonschema_description:"Detected media type, when the content was seen."`
	Returned string `json:"returned" jsonschema_description:"How the content came back: image (image content), text or base64 (embedded resource), partial_text (the start only), resource_link (a link to read it with resources/read), or none."`
}

// Ways a file comes back.
const (
	returnedImage   = "image"
	returnedText    = "text"
	returnedBase64  = "base64"
	returnedPartial = "partial_text"
	returnedNone    = "none"
	returnedLink    = "resource_link"
)

// outFile is a file of a run's result, with its content when the runtime handed it over.
type outFile struct {
	path string
	size int64
	data []byte // nil: not available
}

// budget bookkeeping for one result.
const (
	// resultReserve is kept free of stdout/stderr for the fields, headings and notes around them.
	resultReserve = 2048
	// maxListedFiles bounds the file entries of one result.
	maxListedFiles = 50
	// minPartialText is the least of a text file worth returning as its start.
	minPartialText = 1024
)

// formatParams are what formatExec needs besides the runtime's result.
type formatParams struct {
	budget    int           // bytes of content, and separately of structured content
	timeout   time.Duration // the code's time limit, for the reason of a timeout
	memory    int64         // the memory limit, for the reason of out_of_memory
	pids      int64         // the pids limit, for the reason of pids_limit
	sessionID string
	notes     []string
	// moreFiles says how to get a file the result could not carry.
	moreFiles string
	// linkPrefix, when set, turns each file the result could not carry into a resource link:
	// the prefix plus the file's absolute path (sessions, whose files outlive the call).
	linkPrefix string
}

// formatExec turns a run's result into the tool result: a text a model reads, structured content
// for programs, and the files the code produced as image content or embedded resources. The
// content items together, and the structured content on its own, stay within p.budget: stdout
// and stderr are cut in the middle when they do not fit, and files that do not fit come back as
// names, each cut said in a note.
func formatExec(r *sandbox.Result, files []outFile, p formatParams) *mcp.CallToolResult {
	// stdout and stderr get at most half the budget, so that an agent's context does not fill
	// with output it rarely reads whole (head and tail are kept), and images and files the
	// code produced keep room.
	streamBudget := max((p.budget-resultReserve)/2, 256)
	var (
		out     execResult
		content []mcp.Content
		js      []byte
	)
	// JSON escaping makes the structured stdout longer than the text one (newlines, quotes,
	// control characters): when the encoding passes the budget, the streams get less and the
	// result is built again.
	// Made valid once here, not on each attempt: the streams can be megabytes.
	stdout, stderr := validUTF8(r.Stdout), validUTF8(r.Stderr)
	for range 6 {
		out, content = buildExec(r, stdout, stderr, files, p, streamBudget)
		var err error
		if js, err = json.Marshal(out); err != nil {
			js = nil
			break
		}
		if len(js) <= p.budget || streamBudget == 0 {
			break
		}
		streamBudget = max(streamBudget-(len(js)-p.budget)-256, 0)
	}
	res := &mcp.CallToolResult{Content: append([]mcp.Content{mcp.NewTextContent(execText(&out))}, content...)}
	if js != nil {
		res.StructuredContent = json.RawMessage(js)
	} else {
		res.StructuredContent = out
	}
	return res
}

// buildExec builds the structured result and the file contents with streamBudget bytes for
// stdout and stderr together.
func buildExec(r *sandbox.Result, stdout, stderr string, files []outFile, p formatParams, streamBudget int) (execResult, []mcp.Content) {
	out := execResult{
		SessionID:  p.sessionID,
		ExitCode:   r.ExitCode,
		DurationMS: r.Duration.Milliseconds(),
		Stopped:    r.Stopped,
		Notes:      append([]string(nil), p.notes...),
	}
	if r.Stopped != "" {
		out.Reason = stoppedReason(r, p)
	}
	outLimit, errLimit := splitBudget(len(stdout), len(stderr), streamBudget)
	var cutOut, cutErr int
	out.Stdout, cutOut = cutMiddle(stdout, outLimit)
	out.Stderr, cutErr = cutMiddle(stderr, errLimit)
	out.StdoutBytes = int64(len(r.Stdout)) + r.StdoutDropped
	out.StderrBytes = int64(len(r.Stderr)) + r.StderrDropped
	out.StdoutOmittedBytes = int64(cutOut) + r.StdoutDropped
	out.StderrOmittedBytes = int64(cutErr) + r.StderrDropped
	if cutOut > 0 || cutErr > 0 {
		out.Notes = append(out.Notes, fmt.Sprintf("the middle of long output was cut to fit the output budget of %d bytes "+
			"(stdout: %d bytes left out, stderr: %d); to see all of it, write it to a file and read the file in parts, "+
			"or print less", p.budget, cutOut, cutErr))
	}
	if r.StdoutDropped > 0 || r.StderrDropped > 0 {
		out.Notes = append(out.Notes, fmt.Sprintf("output past the capture limit was discarded while the code ran "+
			"(stdout: %d bytes, stderr: %d bytes), so the end shown is where capture stopped; write large output to a "+
			"file instead", r.StdoutDropped, r.StderrDropped))
	}
	// The text content repeats stdout and stderr and lists the files; what is left of the
	// content budget carries the files themselves.
	listed := min(len(files), maxListedFiles)
	listing := 0
	for _, f := range files[:listed] {
		listing += len(f.path) + 80
	}
	left := p.budget - len(execText(&out)) - listing - 1024
	content, entries, fileNotes := fileContents(files, left, p.moreFiles, p.linkPrefix)
	out.Files = entries
	out.Notes = append(out.Notes, fileNotes...)
	return out, content
}

// stoppedReason says in plain words why the platform stopped the code and what to change. The
// runtime's own detail is kept when it gives one.
func stoppedReason(r *sandbox.Result, p formatParams) string {
	if r.Detail != "" {
		return r.Detail
	}
	switch r.Stopped {
	case "timeout":
		return fmt.Sprintf("time limit: the code ran longer than its limit of %s and was killed; make it faster, "+
			"or pass a larger timeout_seconds", p.timeout)
	case "out_of_memory":
		return fmt.Sprintf("out of memory: the code used more than the sandbox's %s of memory and was killed; "+
			"use less memory, for example by processing the data in chunks", humanBytes(p.memory))
	case "pids_limit":
		return fmt.Sprintf("process limit: the code started more than the sandbox's %d processes and threads at once "+
			"and could not start more; start fewer processes or threads", p.pids)
	case "output_limit":
		return "output limit: the code wrote more to stdout or stderr than the sandbox captures and was stopped; " +
			"write large output to a file instead"
	case "cancelled":
		return "cancelled: the client cancelled the call and the code was stopped"
	default:
		return "the platform stopped the code (" + r.Stopped + ")"
	}
}

// splitBudget shares limit bytes between two streams: each gets what it needs when both fit,
// otherwise the smaller keeps all of its share and the larger takes the rest.
func splitBudget(a, b, limit int) (int, int) {
	if a+b <= limit {
		return a, b
	}
	half := limit / 2
	switch {
	case a <= half:
		return a, limit - a
	case b <= half:
		return limit - b, b
	default:
		return half, limit - half
	}
}

// validUTF8 returns b as a string, invalid bytes replaced (JSON could not carry them).
func validUTF8(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

// cutMiddle returns s as valid UTF-8 within limit bytes: whole when it fits, otherwise its head
// and tail (where errors and final results usually are) around a marker saying how much was left
// out; and the number of bytes of s left out.
func cutMiddle(s string, limit int) (string, int) {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if len(s) <= limit {
		return s, 0
	}
	const markerRoom = 64
	keep := max(limit-markerRoom, 0)
	head := truncateUTF8(s, keep*2/5)
	tailLen := keep - len(head)
	start := len(s) - tailLen
	for start < len(s) && !utf8.RuneStart(s[start]) {
		start++
	}
	tail := s[start:]
	omitted := len(s) - len(head) - len(tail)
	return head + fmt.Sprintf("\n[… %d bytes cut here …]\n", omitted) + tail, omitted
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

// execText is the text content of a run's result.
func execText(r *execResult) string {
	var b strings.Builder
	if r.Stopped != "" {
		fmt.Fprintf(&b, "STOPPED (%s): %s\n", r.Stopped, r.Reason)
	}
	fmt.Fprintf(&b, "exit code %d, ran %s", r.ExitCode, (time.Duration(r.DurationMS) * time.Millisecond).String())
	if r.SessionID != "" {
		fmt.Fprintf(&b, ", session %s", r.SessionID)
	}
	b.WriteString("\n")
	stream := func(name, s string, total, omitted int64) {
		switch {
		case total == 0:
			fmt.Fprintf(&b, "--- %s: (empty)\n", name)
			return
		case omitted > 0:
			fmt.Fprintf(&b, "--- %s (%d bytes, %d left out):\n", name, total, omitted)
		default:
			fmt.Fprintf(&b, "--- %s (%d bytes):\n", name, total)
		}
		b.WriteString(s)
		if !strings.HasSuffix(s, "\n") {
			b.WriteString("\n")
		}
	}
	stream("stdout", r.Stdout, r.StdoutBytes, r.StdoutOmittedBytes)
	stream("stderr", r.Stderr, r.StderrBytes, r.StderrOmittedBytes)
	if len(r.Files) > 0 {
		b.WriteString("--- files:\n")
		for _, f := range r.Files {
			fmt.Fprintf(&b, "%s (%d bytes", f.Path, f.Size)
			if f.MIMEType != "" {
				fmt.Fprintf(&b, ", %s", f.MIMEType)
			}
			fmt.Fprintf(&b, ", returned: %s)\n", f.Returned)
		}
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "note: %s\n", n)
	}
	return b.String()
}

// fileContents returns the content items for files within budget bytes (images first, then text,
// then binary; whole files only, except the start of a long text file), the entries describing
// every file, and notes for what did not fit.
func fileContents(files []outFile, budget int, moreFiles, linkPrefix string) ([]mcp.Content, []fileEntry, []string) {
	if len(files) == 0 {
		return nil, nil, nil
	}
	var notes []string
	if len(files) > maxListedFiles {
		notes = append(notes, fmt.Sprintf("%d files changed; only the first %d are listed", len(files), maxListedFiles))
		files = files[:maxListedFiles]
	}
	entries := make([]fileEntry, len(files))
	kinds := make([]string, len(files))
	for i, f := range files {
		entries[i] = fileEntry{Path: f.path, Size: f.size, Returned: returnedNone}
		if f.data != nil {
			entries[i].MIMEType = detectType(f.path, f.data)
			kinds[i] = kindOf(entries[i].MIMEType, f.data)
		}
	}
	var content []mcp.Content
	left := budget
	skipped := 0
	for _, kind := range []string{returnedImage, returnedText, returnedBase64} {
		for i, f := range files {
			if kinds[i] != kind || int64(len(f.data)) != f.size {
				continue
			}
			switch kind {
			case returnedImage:
				n := base64.StdEncoding.EncodedLen(len(f.data))
				if n > left {
					skipped++
					continue
				}
				content = append(content, mcp.NewImageContent(base64.StdEncoding.EncodeToString(f.data), entries[i].MIMEType))
				left -= n
				entries[i].Returned = returnedImage
			case returnedText:
				if len(f.data) <= left {
					content = append(content, textResource(f.path, entries[i].MIMEType, string(f.data)))
					left -= len(f.data)
					entries[i].Returned = returnedText
				} else if left >= minPartialText {
					part := truncateUTF8(string(f.data), left)
					content = append(content, textResource(f.path, entries[i].MIMEType, part))
					left -= len(part)
					entries[i].Returned = returnedPartial
					notes = append(notes, fmt.Sprintf("%s: only its first %d of %d bytes fit in this result", f.path, len(part), f.size))
				} else {
					skipped++
				}
			case returnedBase64:
				n := base64.StdEncoding.EncodedLen(len(f.data))
				if n > left {
					skipped++
					continue
				}
				content = append(content, mcp.NewEmbeddedResource(mcp.BlobResourceContents{
					URI: fileURI(f.path), MIMEType: entries[i].MIMEType, Blob: base64.StdEncoding.EncodeToString(f.data),
				}))
				left -= n
				entries[i].Returned = returnedBase64
			}
		}
	}
	names, links := 0, 0
	for i, e := range entries {
		if e.Returned != returnedNone {
			continue
		}
		if linkPrefix != "" {
			uri := linkPrefix + e.Path
			if cost := 2*len(uri) + 96; cost <= left {
				content = append(content, mcp.NewResourceLink(uri, e.Path, fmt.Sprintf("%d bytes", e.Size), e.MIMEType))
				entries[i].Returned = returnedLink
				left -= cost
				links++
				continue
			}
		}
		names++
	}
	if links > 0 {
		notes = append(notes, fmt.Sprintf("%d file(s) are linked as resources: read one whole with resources/read, "+
			"or in parts with sandbox_read_file", links))
	}
	if names > 0 {
		note := fmt.Sprintf("%d file(s) came back as names only", names)
		if skipped > 0 {
			note += fmt.Sprintf(" (%d too large for the output budget)", skipped)
		}
		if moreFiles != "" {
			note += "; " + moreFiles
		}
		notes = append(notes, note)
	}
	return content, entries, notes
}

func textResource(p, mime, text string) mcp.Content {
	return mcp.NewEmbeddedResource(mcp.TextResourceContents{URI: fileURI(p), MIMEType: mime, Text: text})
}

// fileURI names a sandbox file in embedded resources. The sandbox scheme keeps it from being
// taken for a file on the host.
func fileURI(p string) string { return "sandbox://" + p }

// imageTypes are the image formats MCP clients display; other images come back as binary.
var imageTypes = map[string]bool{"image/png": true, "image/jpeg": true, "image/gif": true, "image/webp": true}

// detectType returns the media type of a file from its content, falling back to its name for
// text formats the sniffer cannot tell apart.
func detectType(p string, data []byte) string {
	sniffed := http.DetectContentType(data)
	mime, _, _ := strings.Cut(sniffed, ";")
	if imageTypes[mime] {
		return mime
	}
	if isText(data) {
		if t, ok := textTypes[strings.ToLower(path.Ext(p))]; ok {
			return t
		}
		return "text/plain"
	}
	if mime == "text/plain" {
		return "application/octet-stream"
	}
	return mime
}

var textTypes = map[string]string{
	".csv": "text/csv", ".json": "application/json", ".md": "text/markdown", ".html": "text/html",
	".htm": "text/html", ".xml": "application/xml", ".svg": "image/svg+xml", ".py": "text/x-python",
	".js": "text/javascript", ".sh": "text/x-shellscript", ".yaml": "application/yaml", ".yml": "application/yaml",
}

// kindOf says how a file's content comes back: as an image, as text, or as base64.
func kindOf(mime string, data []byte) string {
	switch {
	case imageTypes[mime]:
		return returnedImage
	case isText(data):
		return returnedText
	default:
		return returnedBase64
	}
}

// isText reports whether data reads as text: valid UTF-8 without NUL bytes.
func isText(data []byte) bool {
	return utf8.Valid(data) && bytes.IndexByte(data, 0) < 0
}

// humanBytes writes n as KiB/MiB/GiB for messages.
func humanBytes(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10:
		return fmt.Sprintf("%d KiB", n>>10)
	default:
		return fmt.Sprintf("%d bytes", n)
	}
}
