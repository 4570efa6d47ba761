package codesandbox

import (
	"encoding/base64"
	"fmt"
	"math"
	"path"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mcphub/mcphub/sandbox"
)

// Bounds of the arguments. The request body limit (http.max_body_bytes) bounds them all
// together; these keep one field from taking it all and give a clear message.
const (
	maxCodeBytes      = 512 << 10
	maxStdinBytes     = 1 << 20
	maxInputFiles     = 64
	maxPathBytes      = 1024
	maxCommandArgs    = 256
	maxCommandArgLen  = 32 << 10
	maxTimeoutSeconds = 3600
	maxSessionIDLen   = 128
)

// workDir is where code runs and where relative paths point; tmpDir is the other writable
// place in a container.
const (
	workDir = "/work"
	tmpDir  = "/tmp"
)

var languages = []string{"python", "javascript", "bash"}

// sessionIDPattern matches the runtime's handles (URL-safe random) and nothing that could be
// mistaken for a path or an option.
var sessionIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{8,128}$`)

// argError is a bad argument, worded for the model.
type argError struct{ msg string }

func (e *argError) Error() string { return e.msg }

func badArg(format string, args ...any) error { return &argError{msg: fmt.Sprintf(format, args...)} }

// containerPath resolves p, relative to /work or absolute under /work or /tmp, to a clean
// absolute path in the container, or says why it is refused. allowRoot accepts /work and /tmp
// themselves (for listing); files need a name below them.
func containerPath(p string, allowRoot bool) (string, error) {
	switch {
	case p == "":
		return "", badArg("path is empty: give a file name relative to /work, such as data.csv")
	case len(p) > maxPathBytes:
		return "", badArg("path is longer than %d bytes", maxPathBytes)
	case !utf8.ValidString(p):
		return "", badArg("path is not valid UTF-8")
	case strings.ContainsRune(p, 0):
		return "", badArg("path contains a NUL byte")
	}
	for _, r := range p {
		if r < 0x20 || r == 0x7f {
			return "", badArg("path %q contains a control character", p)
		}
	}
	abs := p
	if !strings.HasPrefix(p, "/") {
		// A relative path that climbs out of /work is refused rather than resolved, so that
		// "../etc/passwd" never quietly becomes /etc/passwd or /work/etc/passwd.
		if c := path.Clean(p); c == ".." || strings.HasPrefix(c, "../") {
			return "", badArg("path %q leaves /work: use a path below /work, or an absolute path under /work or /tmp", p)
		}
		abs = workDir + "/" + p
	}
	abs = path.Clean(abs)
	for _, root := range []string{workDir, tmpDir} {
		if abs == root {
			if allowRoot {
				return abs, nil
			}
			return "", badArg("path %q is a directory: name a file below it, such as %s/data.csv", p, root)
		}
		if strings.HasPrefix(abs, root+"/") {
			return abs, nil
		}
	}
	return "", badArg("path %q is outside the sandbox's writable directories: use a path relative to /work, or an absolute path under /work or /tmp", p)
}

// inputFile is one entry of the files argument, decoded.
type inputFile struct {
	path string
	data []byte
	mode uint32
}

// decodeContent turns content in the given encoding ("text", the default, or "base64") into
// bytes, refusing more than maxBytes.
func decodeContent(content, encoding string, maxBytes int64, where string) ([]byte, error) {
	switch encoding {
	case "", "text":
		if int64(len(content)) > maxBytes {
			return nil, badArg("%s: content is %d bytes, more than the limit of %d bytes per file (servers.sandbox.max_file_bytes)",
				where, len(content), maxBytes)
		}
		return []byte(content), nil
	case "base64":
		if int64(base64.StdEncoding.DecodedLen(len(content))) > maxBytes+3 {
			return nil, badArg("%s: content decodes to more than the limit of %d bytes per file (servers.sandbox.max_file_bytes)",
				where, maxBytes)
		}
		data, err := base64.StdEncoding.DecodeString(strings.TrimSpace(content))
		if err != nil {
			return nil, badArg("%s: content is not valid standard base64 (%v): encode the bytes with padding, or use encoding \"text\"", where, err)
		}
		if int64(len(data)) > maxBytes {
			return nil, badArg("%s: content is %d bytes, more than the limit of %d bytes per file", where, len(data), maxBytes)
		}
		return data, nil
	default:
		return nil, badArg("%s: encoding must be \"text\" or \"base64\", got %q", where, encoding)
	}
}

// fileMode is the mode a written file gets: executable or not. Everything is owned by the
// sandbox user, so only the owner bits matter.
func fileMode(executable bool) uint32 {
	if executable {
		return 0o755
	}
	return 0o644
}

// parseFiles reads the files argument: a list of {path, content, encoding, executable}.
func parseFiles(raw any, maxBytes int64) ([]inputFile, error) {
	if raw == nil {
		return nil, nil
	}
	list, ok := raw.([]any)
	if !ok {
		return nil, badArg("files must be an array of {path, content, encoding} objects")
	}
	if len(list) > maxInputFiles {
		return nil, badArg("files has %d entries, more than %d", len(list), maxInputFiles)
	}
	out := make([]inputFile, 0, len(list))
	seen := map[string]bool{}
	for i, item := range list {
		where := fmt.Sprintf("files[%d]", i)
		obj, ok := item.(map[string]any)
		if !ok {
			return nil, badArg("%s must be an object {path, content, encoding}", where)
		}
		p, _ := obj["path"].(string)
		abs, err := containerPath(p, false)
		if err != nil {
			return nil, badArg("%s: %v", where, err)
		}
		if seen[abs] {
			return nil, badArg("%s: %s is given twice", where, abs)
		}
		seen[abs] = true
		content, ok := obj["content"].(string)
		if !ok {
			return nil, badArg("%s: content is required and must be a string", where)
		}
		encoding, _ := obj["encoding"].(string)
		data, err := decodeContent(content, encoding, maxBytes, where)
		if err != nil {
			return nil, err
		}
		exe, _ := obj["executable"].(bool)
		out = append(out, inputFile{path: abs, data: data, mode: fileMode(exe)})
	}
	return out, nil
}

func (f inputFile) spec() sandbox.File { return sandbox.File{Path: f.path, Data: f.data, Mode: f.mode} }

// parseLanguage checks the language argument.
func parseLanguage(raw any) (sandbox.Language, error) {
	s, _ := raw.(string)
	for _, l := range languages {
		if s == l {
			return sandbox.Language(s), nil
		}
	}
	return "", badArg("language must be one of %s, got %q", strings.Join(languages, ", "), s)
}

// parseCommand reads the command argument: an argument vector run without a shell.
func parseCommand(raw any) ([]string, error) {
	list, ok := raw.([]any)
	if !ok || len(list) == 0 {
		return nil, badArg("command must be a non-empty array of strings, such as [\"ls\", \"-l\"]")
	}
	if len(list) > maxCommandArgs {
		return nil, badArg("command has %d arguments, more than %d", len(list), maxCommandArgs)
	}
	argv := make([]string, len(list))
	for i, a := range list {
		s, ok := a.(string)
		switch {
		case !ok:
			return nil, badArg("command[%d] must be a string", i)
		case strings.ContainsRune(s, 0):
			return nil, badArg("command[%d] contains a NUL byte", i)
		case len(s) > maxCommandArgLen:
			return nil, badArg("command[%d] is longer than %d bytes", i, maxCommandArgLen)
		}
		argv[i] = s
	}
	if argv[0] == "" {
		return nil, badArg("command[0] is empty: name the program to run, such as \"ls\"")
	}
	return argv, nil
}

// parseTimeout reads timeout_seconds: absent means the configured default; more than the
// configured maximum is capped, with a note saying so.
func parseTimeout(raw any, def, maxT time.Duration) (time.Duration, string, error) {
	if raw == nil {
		return def, "", nil
	}
	f, ok := raw.(float64)
	if !ok || math.IsNaN(f) || f < 1 || f > maxTimeoutSeconds {
		return 0, "", badArg("timeout_seconds must be a number of seconds between 1 and %d", maxTimeoutSeconds)
	}
	d := time.Duration(f * float64(time.Second))
	if d > maxT {
		return maxT, fmt.Sprintf("timeout_seconds %g is more than this hub allows; the code ran with the maximum of %s", f, maxT), nil
	}
	return d, "", nil
}

// parseSessionID checks the session_id argument's shape; ownership is the runtime's check.
func parseSessionID(raw any) (string, error) {
	s, _ := raw.(string)
	if !sessionIDPattern.MatchString(s) {
		return "", badArg("session_id %q is not a sandbox session handle: pass the session_id that sandbox_session_create returned", truncate(s, 64))
	}
	return s, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
