package codesandbox

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/mcphub/mcphub/sandbox"
	"github.com/mcphub/mcphub/servers/registry"
)

// Tools returns the sandbox tools: the one-shot run, then the session tools in the order an
// agent uses them.
func (s *Server) Tools() []registry.Tool {
	return []registry.Tool{
		s.runTool(),
		s.sessionCreateTool(),
		s.execTool(),
		s.writeFileTool(),
		s.readFileTool(),
		s.listFilesTool(),
		s.sessionCloseTool(),
	}
}

// The hints, declared deliberately per tool. Nothing reaches outside the hub: containers have
// no network, so no tool is open-world.
var (
	// sandbox_run: code execution is not read-only (it writes files, burns CPU), but it runs in
	// a throwaway container, so nothing that existed before is changed or deleted. A repeat runs
	// the code again: not idempotent.
	runHints = &registry.Hints{ReadOnly: false, Destructive: false, Idempotent: false, OpenWorld: false}
	// sandbox_exec: the code can overwrite and delete the session's files.
	execHints = &registry.Hints{ReadOnly: false, Destructive: true, Idempotent: false, OpenWorld: false}
	// sandbox_session_create: a new container per call.
	createHints = &registry.Hints{ReadOnly: false, Destructive: false, Idempotent: false, OpenWorld: false}
	// sandbox_write_file: overwrites the file; writing the same bytes again changes nothing more.
	writeHints = &registry.Hints{ReadOnly: false, Destructive: true, Idempotent: true, OpenWorld: false}
	// sandbox_read_file, sandbox_list_files: look only.
	readHints = &registry.Hints{ReadOnly: true, Destructive: false, Idempotent: true, OpenWorld: false}
	// sandbox_session_close: removes the container and its files; closing again changes nothing.
	closeHints = &registry.Hints{ReadOnly: false, Destructive: true, Idempotent: true, OpenWorld: false}
)

// Schemas shared by several tools. Nested objects are raw so that they reject unknown fields.
var (
	filesSchema = map[string]any{
		"type":        "array",
		"maxItems":    maxInputFiles,
		"description": "Files to write before the code runs, such as input data or modules it imports.",
		"items": map[string]any{
			"type":                 "object",
			"additionalProperties": false,
			"required":             []string{"path", "content"},
			"properties": map[string]any{
				"path": map[string]any{"type": "string", "minLength": 1, "maxLength": maxPathBytes,
					"description": "Where to write the file: relative to /work (the working directory), or absolute under /work or /tmp."},
				"content": map[string]any{"type": "string",
					"description": "The file's content: text, or base64 when encoding is base64."},
				"encoding": map[string]any{"type": "string", "enum": []string{"text", "base64"},
					"description": "How content is written: text (the default) or base64 for binary files."},
				"executable": map[string]any{"type": "boolean", "description": "Make the file executable. Default false."},
			},
		},
	}
	languageDoc = "The language of code: python (Python 3 with its standard library), javascript (Node.js) or bash (with coreutils)."
	timeoutDoc  = "Time limit for the code in seconds. Default: the hub's default_timeout (30 s unless configured); at most its max_timeout."
	sessionDoc  = "The session handle that sandbox_session_create returned."
)

func sessionIDOption() mcp.ToolOption {
	return mcp.WithString("session_id", mcp.Required(), mcp.MinLength(8), mcp.MaxLength(maxSessionIDLen),
		mcp.Pattern(sessionIDPattern.String()), mcp.Description(sessionDoc))
}

func (s *Server) runTool() registry.Tool {
	return registry.Tool{
		Def: mcp.NewTool("sandbox_run",
			mcp.WithDescription("Runs a snippet of Python, JavaScript or bash once, in a fresh isolated container that is "+
				"destroyed afterwards, and returns its stdout and stderr (separately), exit code and duration. The "+
				"container has no network, a read-only system, a writable working directory /work and a small /tmp, "+
				"and limits on time, memory and processes: when one stops the code, stopped and reason say which. "+
				"Pass input data as files and stdin; files the code writes under /work come back in the result, "+
				"images (png, jpeg, gif, webp) as image content. Nothing persists between calls: for state across "+
				"calls use sandbox_session_create and sandbox_exec."),
			mcp.WithString("language", mcp.Required(), mcp.Enum(languages...), mcp.Description(languageDoc)),
			mcp.WithString("code", mcp.Required(), mcp.MinLength(1), mcp.MaxLength(maxCodeBytes),
				mcp.Description("The program to run, as the whole source text.")),
			mcp.WithString("stdin", mcp.MaxLength(maxStdinBytes), mcp.Description("Text given to the program on standard input. Default: none.")),
			mcp.WithArray("files", withSchema(filesSchema)),
			mcp.WithNumber("timeout_seconds", mcp.Min(1), mcp.Max(maxTimeoutSeconds), mcp.Description(timeoutDoc)),
			mcp.WithOutputSchema[execResult](),
		),
		Hints:         runHints,
		Timeout:       s.cfg.MaxTimeout.D() + callGrace,
		OutputBudget:  s.cfg.ResultBudgetBytes,
		MaxConcurrent: s.cfg.MaxConcurrentRuns,
		MoreHint:      "print less, or write the output to files and read them in parts from a session (sandbox_exec, sandbox_read_file with offset)",
		Handler:       s.handleRun,
	}
}

// withSchema replaces a property's schema with a complete one, for nested objects.
func withSchema(schema map[string]any) mcp.PropertyOption {
	return func(m map[string]any) {
		for k, v := range schema {
			m[k] = v
		}
	}
}

func (s *Server) handleRun(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	eng, res := s.ready(ctx)
	if eng == nil {
		return res, nil
	}
	args := req.GetArguments()
	spec, notes, err := s.codeSpec(args, true)
	if err != nil {
		return argResult(err), nil
	}
	spec.Progress = s.progress(ctx, req, spec.Timeout)
	// Files beyond the result budget could not come back anyway.
	spec.CollectFiles = int64(s.cfg.ResultBudgetBytes)
	r, err := eng.Run(ctx, spec)
	if err != nil {
		return s.engineError(err), nil
	}
	return formatExec(r, runFiles(r), s.formatParams(spec.Timeout, "", notes,
		"to get them, run the code in a session (sandbox_session_create, sandbox_exec) and read them with sandbox_read_file")), nil
}

// runFiles returns the files a run produced, with the data the runtime collected before it
// destroyed the container (Spec.CollectFiles); the others come back as names.
func runFiles(r *sandbox.Result) []outFile {
	data := make(map[string][]byte, len(r.Files))
	for _, f := range r.Files {
		data[f.Path] = f.Data
	}
	files := make([]outFile, 0, len(r.NewFiles))
	for _, f := range r.NewFiles {
		if !f.IsDir {
			files = append(files, outFile{path: f.Path, size: f.Size, data: data[f.Path]})
		}
	}
	return files
}

func (s *Server) formatParams(timeout time.Duration, sessionID string, notes []string, moreFiles string) formatParams {
	return formatParams{
		budget: s.cfg.ResultBudgetBytes, timeout: timeout, memory: s.cfg.MemoryBytes, pids: s.cfg.PidsLimit,
		sessionID: sessionID, notes: notes, moreFiles: moreFiles,
	}
}

// codeSpec builds the spec of sandbox_run or sandbox_exec from the arguments: language and code,
// or (exec only) a command; stdin; files; timeout.
func (s *Server) codeSpec(args map[string]any, needCode bool) (sandbox.Spec, []string, error) {
	var spec sandbox.Spec
	_, hasCode := args["code"]
	_, hasCommand := args["command"]
	switch {
	case hasCode && hasCommand:
		return spec, nil, badArg("give either language and code, or command, not both")
	case hasCommand && !needCode:
		argv, err := parseCommand(args["command"])
		if err != nil {
			return spec, nil, err
		}
		if _, ok := args["language"]; ok {
			return spec, nil, badArg("language goes with code, not with command")
		}
		spec.Command = argv
	case hasCode:
		lang, err := parseLanguage(args["language"])
		if err != nil {
			return spec, nil, err
		}
		code, _ := args["code"].(string)
		if code == "" {
			return spec, nil, badArg("code is empty: pass the program's source text")
		}
		if len(code) > maxCodeBytes {
			return spec, nil, badArg("code is %d bytes, more than %d", len(code), maxCodeBytes)
		}
		spec.Language, spec.Code = lang, code
	case needCode:
		return spec, nil, badArg("code is required, with language")
	default:
		return spec, nil, badArg("give language and code, or command (an argument vector such as [\"ls\", \"-l\"])")
	}
	if stdin, ok := args["stdin"].(string); ok {
		if len(stdin) > maxStdinBytes {
			return spec, nil, badArg("stdin is %d bytes, more than %d", len(stdin), maxStdinBytes)
		}
		spec.Stdin = []byte(stdin)
	}
	files, err := parseFiles(args["files"], s.cfg.MaxFileBytes)
	if err != nil {
		return spec, nil, err
	}
	for _, f := range files {
		spec.Files = append(spec.Files, f.spec())
	}
	timeout, note, err := parseTimeout(args["timeout_seconds"], s.cfg.DefaultTimeout.D(), s.cfg.MaxTimeout.D())
	if err != nil {
		return spec, nil, err
	}
	spec.Timeout = timeout
	var notes []string
	if note != "" {
		notes = append(notes, note)
	}
	return spec, notes, nil
}

// progress returns the runtime's progress callback: a notification about every second while the
// code runs, saying how long it has run of its limit.
func (s *Server) progress(ctx context.Context, req mcp.CallToolRequest, limit time.Duration) func(time.Duration) {
	if req.Params.Meta == nil || req.Params.Meta.ProgressToken == nil {
		return nil
	}
	return func(elapsed time.Duration) {
		registry.Progress(ctx, req, elapsed.Seconds(), limit.Seconds(),
			fmt.Sprintf("running for %s of its %s limit", elapsed.Round(time.Second), limit))
	}
}

func (s *Server) execTool() registry.Tool {
	return registry.Tool{
		Def: mcp.NewTool("sandbox_exec",
			mcp.WithDescription("Runs code or a command in a sandbox session (see sandbox_session_create) and returns its "+
				"stdout and stderr (separately), exit code and duration. The working directory is /work, which keeps its "+
				"files between calls; each call is a new process (variables do not survive; files do). Give language "+
				"and code, or command as an argument vector run without a shell. Images (png, jpeg, gif, webp) the "+
				"code writes under /work come back as image content; other new files as resource links (read them "+
				"with resources/read, or in parts with sandbox_read_file). Limits on time, memory and processes apply per call: when one stops the code, "+
				"stopped and reason say which."),
			sessionIDOption(),
			mcp.WithString("language", mcp.Enum(languages...), mcp.Description(languageDoc+" Required with code.")),
			mcp.WithString("code", mcp.MinLength(1), mcp.MaxLength(maxCodeBytes), mcp.Description("The program to run, as the whole source text.")),
			mcp.WithArray("command", mcp.MinItems(1), mcp.MaxItems(maxCommandArgs),
				mcp.Description("Instead of code: the program and its arguments, such as [\"python3\", \"main.py\", \"--fast\"], run without a shell."),
				mcp.Items(map[string]any{"type": "string", "maxLength": maxCommandArgLen})),
			mcp.WithString("stdin", mcp.MaxLength(maxStdinBytes), mcp.Description("Text given to the program on standard input. Default: none.")),
			mcp.WithArray("files", withSchema(filesSchema)),
			mcp.WithNumber("timeout_seconds", mcp.Min(1), mcp.Max(maxTimeoutSeconds), mcp.Description(timeoutDoc)),
			mcp.WithOutputSchema[execResult](),
		),
		Hints:         execHints,
		Timeout:       s.cfg.MaxTimeout.D() + callGrace,
		OutputBudget:  s.cfg.ResultBudgetBytes,
		MaxConcurrent: s.cfg.MaxConcurrentRuns,
		MoreHint:      "print less, or write the output to a file and read it in parts with sandbox_read_file and offset",
		Handler:       s.handleExec,
	}
}

func (s *Server) handleExec(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	eng, sess, args, res := s.sessionCall(ctx, req)
	if sess == nil {
		return res, nil
	}
	spec, notes, err := s.codeSpec(args, false)
	if err != nil {
		return argResult(err), nil
	}
	spec.Progress = s.progress(ctx, req, spec.Timeout)
	r, err := eng.Exec(ctx, sess, spec)
	if err != nil {
		return s.engineError(err), nil
	}
	files, fileNotes := s.sessionImages(ctx, eng, sess, r)
	p := s.formatParams(spec.Timeout, sess.ID, append(notes, fileNotes...), "they are in the session: read them with sandbox_read_file")
	p.linkPrefix = sessionURIPrefix + sess.ID
	return formatExec(r, files, p), nil
}

// sessionImages returns the files an exec created or changed, with the content of the images
// among them (up to the result budget), since an agent cannot look at an image any other way;
// other files are listed for sandbox_read_file.
func (s *Server) sessionImages(ctx context.Context, eng engine, sess *sandbox.Session, r *sandbox.Result) ([]outFile, []string) {
	files := make([]outFile, 0, len(r.NewFiles))
	budget := int64(s.cfg.ResultBudgetBytes)
	var notes []string
	for _, f := range r.NewFiles {
		if f.IsDir {
			continue
		}
		of := outFile{path: f.Path, size: f.Size}
		if isImageName(f.Path) && f.Size > 0 && f.Size*4/3 < budget {
			data, size, err := eng.ReadFile(ctx, sess, f.Path, f.Size)
			switch {
			case err != nil:
				notes = append(notes, fmt.Sprintf("%s could not be read back: %v", f.Path, err))
			case int64(len(data)) == size:
				of.data, of.size = data, size
				budget -= size * 4 / 3
			}
		}
		files = append(files, of)
	}
	return files, notes
}

// isImageName reports whether the file's name says it is an image MCP clients display.
func isImageName(p string) bool {
	i := strings.LastIndexByte(p, '.')
	if i < 0 {
		return false
	}
	switch strings.ToLower(p[i:]) {
	case ".png", ".jpg", ".jpeg", ".gif", ".webp":
		return true
	}
	return false
}

// sessionCreateResult is the structured result of sandbox_session_create.
type sessionCreateResult struct {
	SessionID   string `json:"session_id" jsonschema_description:"The handle to pass to the other sandbox tools. Only you can use it."`
	WorkDir     string `json:"work_dir" jsonschema_description:"The session's writable working directory, kept between calls."`
	IdleTimeout string `json:"idle_timeout" jsonschema_description:"The session is closed after this long without a call."`
}

func (s *Server) sessionCreateTool() registry.Tool {
	return registry.Tool{
		Def: mcp.NewTool("sandbox_session_create",
			mcp.WithDescription("Starts a sandbox session: an isolated container with no network whose working directory "+
				"/work keeps files between calls. Returns session_id, the handle for sandbox_exec, sandbox_write_file, "+
				"sandbox_read_file, sandbox_list_files and sandbox_session_close; only the caller who created it can use "+
				"it. Close it when done; it also closes after a while without calls, and when the MCP session ends."),
			mcp.WithOutputSchema[sessionCreateResult](),
		),
		Hints:         createHints,
		Timeout:       fileCallTimeout,
		OutputBudget:  4096,
		MaxConcurrent: s.cfg.MaxConcurrentRuns,
		Handler:       s.handleSessionCreate,
	}
}

func (s *Server) handleSessionCreate(ctx context.Context, _ mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	eng, res := s.ready(ctx)
	if eng == nil {
		return res, nil
	}
	sess, err := eng.CreateSession(ctx, registry.Identity(ctx))
	if err != nil {
		return s.engineError(err), nil
	}
	s.remember(registry.SessionID(ctx), sess.ID, sess.Owner)
	out := sessionCreateResult{SessionID: sess.ID, WorkDir: workDir, IdleTimeout: s.cfg.SessionIdleTTL.String()}
	return mcp.NewToolResultStructured(out, fmt.Sprintf("Created sandbox session %s (working directory %s; closed after %s "+
		"without calls). Pass session_id %q to sandbox_exec and the file tools; close it with sandbox_session_close.",
		sess.ID, workDir, out.IdleTimeout, sess.ID)), nil
}

// sessionCloseResult is the structured result of sandbox_session_close.
type sessionCloseResult struct {
	SessionID string `json:"session_id" jsonschema_description:"The session that was closed."`
	Closed    bool   `json:"closed" jsonschema_description:"Always true: the container and its files are gone."`
}

func (s *Server) sessionCloseTool() registry.Tool {
	return registry.Tool{
		Def: mcp.NewTool("sandbox_session_close",
			mcp.WithDescription("Closes a sandbox session: its container and every file in it are removed. Read what you "+
				"need first with sandbox_read_file."),
			sessionIDOption(),
			mcp.WithOutputSchema[sessionCloseResult](),
		),
		Hints:        closeHints,
		Timeout:      fileCallTimeout,
		OutputBudget: 4096,
		Handler:      s.handleSessionClose,
	}
}

func (s *Server) handleSessionClose(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	eng, res := s.ready(ctx)
	if eng == nil {
		return res, nil
	}
	sess, res := s.session(ctx, eng, req.GetArguments()["session_id"])
	if sess == nil {
		return res, nil
	}
	if err := eng.CloseSession(context.WithoutCancel(ctx), sess); err != nil {
		return s.engineError(err), nil
	}
	s.forget(registry.SessionID(ctx), sess.ID)
	return mcp.NewToolResultStructured(sessionCloseResult{SessionID: sess.ID, Closed: true},
		fmt.Sprintf("Closed sandbox session %s; its files are gone.", sess.ID)), nil
}

// ready returns the engine, or nil and the error result when the server is not running. It
// does not ask the engine: that would cost every call two API round trips, and the runtime's
// errors say the same (ErrNotReady with the reason and the fix) when a call needs the engine.
func (s *Server) ready(context.Context) (engine, *mcp.CallToolResult) {
	eng := s.engine()
	if eng == nil {
		return nil, mcp.NewToolResultError("the sandbox is not running (the hub is shutting down, or the runtime failed to start; see /readyz)")
	}
	return eng, nil
}

// session resolves a session handle for the caller, or returns the error result. Unknown and
// someone else's handles get the same answer, so that handles cannot be probed.
// sessionCall is the start of every tool that works in a session: the engine must be running
// and the session_id argument must name one of the caller's sessions. When either fails, sess
// is nil and res is the result to return.
func (s *Server) sessionCall(ctx context.Context, req mcp.CallToolRequest) (eng engine, sess *sandbox.Session, args map[string]any, res *mcp.CallToolResult) {
	eng, res = s.ready(ctx)
	if eng == nil {
		return nil, nil, nil, res
	}
	args = req.GetArguments()
	sess, res = s.session(ctx, eng, args["session_id"])
	return eng, sess, args, res
}

func (s *Server) session(ctx context.Context, eng engine, raw any) (*sandbox.Session, *mcp.CallToolResult) {
	id, err := parseSessionID(raw)
	if err != nil {
		return nil, argResult(err)
	}
	sess, err := eng.Get(id, registry.Identity(ctx))
	if err != nil {
		return nil, s.engineError(err)
	}
	return sess, nil
}

// argResult is the result of bad arguments.
func argResult(err error) *mcp.CallToolResult {
	return mcp.NewToolResultError("invalid arguments: " + err.Error())
}

// engineError turns a runtime error into a result a model can act on. The runtime words its
// errors for the agent; the known ones get the way forward added.
func (s *Server) engineError(err error) *mcp.CallToolResult {
	var ae *argError
	switch {
	case errors.As(err, &ae):
		return argResult(err)
	case errors.Is(err, sandbox.ErrNoSession):
		return mcp.NewToolResultError(fmt.Sprintf("no such sandbox session for you: it was closed, it expired after %s "+
			"without calls, or it never existed. Start one with sandbox_session_create (files in a closed session are gone).",
			s.cfg.SessionIdleTTL))
	case errors.Is(err, sandbox.ErrTooManySessions):
		return mcp.NewToolResultError(fmt.Sprintf("the hub already runs its maximum of %d sandbox sessions; close one you "+
			"no longer need with sandbox_session_close, or use sandbox_run, which needs no session", s.cfg.MaxSessions))
	case errors.Is(err, sandbox.ErrNotReady):
		// The runtime's sentence names the cause and the fix.
		return mcp.NewToolResultError(err.Error() + " (/readyz shows the sandbox's state)")
	case errors.Is(err, context.Canceled):
		return mcp.NewToolResultError("cancelled by the client")
	case errors.Is(err, context.DeadlineExceeded):
		return mcp.NewToolResultError("the call ran out of time before the sandbox answered; try again, or with less work")
	default:
		return mcp.NewToolResultError(err.Error())
	}
}
