package knowledge

import (
	"bytes"
	"errors"
	"mime"
	"net/url"
	"path"
	"strings"
	"unicode/utf8"

	"github.com/mcphub/mcphub/internal/readable"
	"github.com/mcphub/mcphub/servers/knowledge/chunk"
)

// Document kinds, stored with each document.
const (
	kindMarkdown = "markdown"
	kindText     = "text"
	kindHTML     = "html"
	kindCode     = "code"
)

// errUnsupported marks a source that is not text (binary, PDF, images): skipped, not an error.
var errUnsupported = errors.New("not a text format the knowledge server reads")

var markdownExt = map[string]bool{".md": true, ".markdown": true, ".mdx": true, ".mkd": true}

var textExt = map[string]bool{".txt": true, ".text": true, ".rst": true, ".adoc": true, ".asciidoc": true, ".org": true, ".csv": true, ".tsv": true, ".log": true}

var htmlExt = map[string]bool{".html": true, ".htm": true, ".xhtml": true}

var codeExt = map[string]bool{
	".go": true, ".py": true, ".pyi": true, ".js": true, ".mjs": true, ".cjs": true, ".ts": true, ".tsx": true, ".jsx": true,
	".java": true, ".kt": true, ".kts": true, ".scala": true, ".c": true, ".h": true, ".cc": true, ".cpp": true, ".cxx": true,
	".hpp": true, ".hh": true, ".rs": true, ".rb": true, ".php": true, ".cs": true, ".swift": true, ".m": true, ".mm": true,
	".sh": true, ".bash": true, ".zsh": true, ".fish": true, ".ps1": true, ".sql": true, ".yaml": true, ".yml": true,
	".toml": true, ".json": true, ".proto": true, ".lua": true, ".pl": true, ".pm": true, ".r": true, ".jl": true,
	".ex": true, ".exs": true, ".erl": true, ".hs": true, ".ml": true, ".clj": true, ".dart": true, ".vue": true,
	".svelte": true, ".css": true, ".scss": true, ".less": true, ".graphql": true, ".tf": true, ".hcl": true,
	".ini": true, ".cfg": true, ".conf": true, ".xml": true, ".gradle": true, ".cmake": true, ".nix": true, ".zig": true,
}

var codeNames = map[string]bool{"makefile": true, "dockerfile": true, "containerfile": true, "justfile": true, "gemfile": true,
	"rakefile": true, "jenkinsfile": true, "vagrantfile": true, "go.mod": true, "cmakelists.txt": true}

// kindOf picks the document kind from the name and, for URLs, the Content-Type.
func kindOf(name, contentType string) string {
	if contentType != "" {
		mt, _, _ := mime.ParseMediaType(contentType)
		switch mt {
		case "text/html", "application/xhtml+xml":
			return kindHTML
		case "text/markdown", "text/x-markdown":
			return kindMarkdown
		}
	}
	base := strings.ToLower(path.Base(name))
	ext := path.Ext(base)
	switch {
	case markdownExt[ext]:
		return kindMarkdown
	case htmlExt[ext]:
		return kindHTML
	case codeNames[base] || codeExt[ext]:
		return kindCode
	case textExt[ext]:
		return kindText
	}
	if contentType != "" {
		mt, _, _ := mime.ParseMediaType(contentType)
		if mt == "text/plain" || strings.HasPrefix(mt, "text/") {
			return kindText
		}
	}
	return kindText // sniffed by extract: binary content is refused there
}

// extracted is a source turned into indexable text.
type extracted struct {
	kind  string
	title string
	body  string // markdown for markdown and HTML, the text itself otherwise
	chunk chunk.Kind
}

// extract turns a source's bytes into text. name is the file name or URL path; base, for
// HTML, resolves relative links; maxBytes bounds the input.
func extract(name, contentType string, data []byte, base *url.URL, maxBytes int) (extracted, error) {
	kind := kindOf(name, contentType)
	if kind == kindHTML {
		page, err := readable.Convert(data, readable.Options{BaseURL: base, ContentType: contentType, MaxInputBytes: maxBytes})
		if err != nil {
			return extracted{}, err
		}
		return extracted{kind: kindHTML, title: strings.TrimSpace(page.Title), body: page.Content, chunk: chunk.Markdown}, nil
	}
	if looksBinary(data) {
		return extracted{}, errUnsupported
	}
	text, _, err := readable.ToUTF8(data, contentType)
	if err != nil {
		return extracted{}, err
	}
	body := strings.ReplaceAll(string(bytes.TrimPrefix(text, []byte("\xef\xbb\xbf"))), "\r\n", "\n")
	if !utf8.ValidString(body) {
		body = strings.ToValidUTF8(body, "\uFFFD")
	}
	switch kind {
	case kindMarkdown:
		return extracted{kind: kind, body: body, chunk: chunk.Markdown}, nil
	case kindCode:
		return extracted{kind: kind, body: body, chunk: chunk.Code}, nil
	}
	return extracted{kind: kindText, body: body, chunk: chunk.Text}, nil
}

// looksBinary reports a NUL byte in the first 8 KiB, or a known binary signature (PDF, images,
// archives), which text extraction would only turn into noise.
func looksBinary(data []byte) bool {
	head := data[:min(len(data), 8192)]
	if bytes.IndexByte(head, 0) >= 0 {
		return true
	}
	for _, sig := range []string{"%PDF-", "\x89PNG", "GIF8", "\xff\xd8\xff", "PK\x03\x04", "\x1f\x8b"} {
		if bytes.HasPrefix(data, []byte(sig)) {
			return true
		}
	}
	return false
}
