package codesandbox

import (
	"context"
	"fmt"
	"io/fs"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/mcphub/mcphub/sandbox"
)

// fakeEngine stands in for the runtime in unit tests of the handlers: sessions with owners and
// an in-memory /work, and runs whose result the test sets.
type fakeEngine struct {
	mu       sync.Mutex
	ready    bool
	reason   string
	fix      string
	result   *sandbox.Result // returned by Run and Exec
	runErr   error
	specs    []sandbox.Spec // every spec Run or Exec received
	sessions map[string]*fakeSession
	next     int
	closed   []string // ids of sessions closed
}

type fakeSession struct {
	sess  *sandbox.Session
	files map[string][]byte
}

func newFakeEngine() *fakeEngine {
	return &fakeEngine{ready: true, sessions: map[string]*fakeSession{},
		result: &sandbox.Result{Stdout: []byte("ok\n"), Duration: 42 * time.Millisecond}}
}

func (f *fakeEngine) Ready(context.Context) (bool, string, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ready, f.reason, f.fix
}

func (f *fakeEngine) Run(_ context.Context, s sandbox.Spec) (*sandbox.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.specs = append(f.specs, s)
	if !f.ready {
		return nil, fmt.Errorf("%w: %s; %s", sandbox.ErrNotReady, f.reason, f.fix)
	}
	if f.runErr != nil {
		return nil, f.runErr
	}
	r := *f.result
	return &r, nil
}

func (f *fakeEngine) CreateSession(_ context.Context, owner string) (*sandbox.Session, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.next++
	id := fmt.Sprintf("sess%012d", f.next)
	s := &sandbox.Session{ID: id, Owner: owner, Created: time.Now()}
	f.sessions[id] = &fakeSession{sess: s, files: map[string][]byte{}}
	return s, nil
}

func (f *fakeEngine) Get(id, owner string) (*sandbox.Session, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.sessions[id]
	if !ok || s.sess.Owner != owner {
		return nil, sandbox.ErrNoSession
	}
	return s.sess, nil
}

func (f *fakeEngine) Exec(ctx context.Context, sess *sandbox.Session, s sandbox.Spec) (*sandbox.Result, error) {
	r, err := f.Run(ctx, s)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, nf := range r.NewFiles {
		if _, ok := f.sessions[sess.ID].files[nf.Path]; !ok {
			return nil, fmt.Errorf("test bug: %s not in the fake session", nf.Path)
		}
	}
	return r, nil
}

func (f *fakeEngine) WriteFile(_ context.Context, sess *sandbox.Session, file sandbox.File) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sessions[sess.ID].files[file.Path] = file.Data
	return nil
}

func (f *fakeEngine) ReadFile(_ context.Context, sess *sandbox.Session, path string, maxBytes int64) ([]byte, int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	data, ok := f.sessions[sess.ID].files[path]
	if !ok {
		return nil, 0, fmt.Errorf("%s does not exist", path)
	}
	n := min(int64(len(data)), maxBytes)
	return data[:n], int64(len(data)), nil
}

func (f *fakeEngine) ListFiles(_ context.Context, sess *sandbox.Session, dir string) ([]sandbox.FileInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []sandbox.FileInfo
	for p, d := range f.sessions[sess.ID].files {
		if strings.HasPrefix(p, dir+"/") {
			out = append(out, sandbox.FileInfo{Path: p, Size: int64(len(d)), Mode: uint32(fs.FileMode(0o644))})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

func (f *fakeEngine) CloseSession(_ context.Context, sess *sandbox.Session) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.sessions[sess.ID]; !ok {
		return sandbox.ErrNoSession
	}
	delete(f.sessions, sess.ID)
	f.closed = append(f.closed, sess.ID)
	return nil
}

func (f *fakeEngine) Close(context.Context) error { return nil }

// newTestServer returns a server with default config over the fake engine.
func newTestServer(eng engine) *Server {
	s := New().(*Server)
	s.eng = eng
	return s
}

// call runs a tool's handler with the arguments.
func call(ctx context.Context, s *Server, tool string, args map[string]any) *mcp.CallToolResult {
	for _, t := range s.Tools() {
		if t.Def.Name == tool {
			req := mcp.CallToolRequest{}
			req.Params.Name = tool
			req.Params.Arguments = args
			res, err := t.Handler(ctx, req)
			if err != nil {
				panic(fmt.Sprintf("%s returned a Go error: %v", tool, err))
			}
			return res
		}
	}
	panic("no tool " + tool)
}

func textOf(res *mcp.CallToolResult) string {
	var b strings.Builder
	for _, c := range res.Content {
		if t, ok := c.(mcp.TextContent); ok {
			b.WriteString(t.Text)
		}
	}
	return b.String()
}
