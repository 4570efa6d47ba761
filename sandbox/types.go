package sandbox

import (
	"errors"
	"time"
)

// Language names how Spec.Code is run.
type Language string

// The languages the default image carries.
const (
	Python     Language = "python"
	JavaScript Language = "javascript"
	Bash       Language = "bash"
)

// File is a file moved into a container.
type File struct {
	// Path is relative to /work, or absolute under /work or /tmp. No "..", no NUL.
	Path string
	Data []byte
	// Mode is the permission bits; 0 means 0644.
	Mode uint32
}

// Spec is one piece of work: code in a language, or a command.
type Spec struct {
	// Language and Code: the code is run by python3, node or bash.
	Language Language
	Code     string
	// Command is the alternative to Language+Code (sessions): argv, no shell, run in /work.
	Command []string
	// Stdin is fed to the code, then closed.
	Stdin []byte
	// Files are written before running.
	Files []File
	// Timeout bounds the run: 0 means Config.DefaultTimeout; longer than Config.MaxTimeout is cut
	// to it.
	Timeout time.Duration
	// MaxOutputBytes caps each of stdout and stderr: 0 means Config.MaxOutputBytes, and it is
	// never raised above it.
	MaxOutputBytes int64
	// Progress, when set, is called about every second while the code runs.
	Progress func(elapsed time.Duration)
	// CollectFiles, when above 0, makes Run list the files under /work the run created or
	// changed (Result.NewFiles) and return the data of those that fit (Result.Files): each at
	// most max_file_bytes, all together at most CollectFiles, in NewFiles order. It costs two
	// execs after the code (about 100 ms), so it is off by default. Exec lists NewFiles anyway
	// and ignores it (read files with ReadFile).
	CollectFiles int64
}

// Why the platform stopped code (Result.Stopped).
const (
	StopTimeout     = "timeout"
	StopOutOfMemory = "out_of_memory"
	StopPidsLimit   = "pids_limit"
	StopOutputLimit = "output_limit"
	StopCancelled   = "cancelled"
)

// Result is what a run produced.
type Result struct {
	// Stdout and Stderr hold at most the output budget each; the *Dropped counts say how many
	// bytes beyond it were cut.
	Stdout, Stderr               []byte
	StdoutDropped, StderrDropped int64
	// ExitCode is the code's exit status; 128+N when a signal N ended it (137: SIGKILL), -1 when
	// it is unknown (the container went away).
	ExitCode int
	Duration time.Duration
	// Stopped is "" or one of the Stop* constants; Detail is a plain sentence for the agent then.
	// pids_limit is also reported when the code merely hit the limit (a failed fork) and
	// finished on its own.
	Stopped string
	Detail  string
	// NewFiles lists the regular files under /work created or changed by a session's exec, or
	// by a run that set Spec.CollectFiles (not the input files as written).
	NewFiles []FileInfo
	// Files holds the data of the NewFiles that fit Spec.CollectFiles (Run only).
	Files []File
}

// FileInfo describes a file in a container.
type FileInfo struct {
	// Path is absolute (/work/...).
	Path    string
	Size    int64
	Mode    uint32
	ModTime time.Time
	IsDir   bool
}

// Session is a persistent container owned by one identity.
type Session struct {
	// ID is 128 random bits, base64url without padding: the handle agents pass back.
	ID      string
	Owner   string
	Created time.Time
}

// Errors callers branch on. Their messages are plain sentences an agent can act on.
var (
	// ErrNoSession is returned for an unknown session and for someone else's alike, so that
	// handles cannot be probed.
	ErrNoSession = errors.New("no such sandbox session: it was closed, expired after being idle, or belongs to someone else; create a new one")
	// ErrTooManySessions is returned when max_sessions are open.
	ErrTooManySessions = errors.New("too many sandbox sessions are open: close one you no longer need, or wait for idle ones to expire")
	// ErrNotReady is returned while the engine or the image is missing; it wraps the reason.
	ErrNotReady = errors.New("the code sandbox is not ready")
)
