package sandbox

import (
	"errors"
	"fmt"
	"time"

	"github.com/mcphub/mcphub/configs"
)

// Config is the runtime part of the servers.sandbox section. The tools package embeds it in its
// own section struct with `yaml:",inline"`, so the keys below sit directly under
// servers.sandbox. Zero values are replaced by Defaults.
type Config struct {
	// Image is the container image code runs in. It needs sh, timeout (coreutils or busybox),
	// cat, mkdir, chmod, find and stat, plus python3, node and bash for the three languages.
	// `make sandbox-image` builds the default from Debian packages. The default is
	// "mcphub-sandbox:latest".
	Image string `yaml:"image"`
	// Runtime is the OCI runtime the engine starts containers with, such as "runsc" for gVisor;
	// it must be registered with the engine. The default, empty, is the engine's own default.
	Runtime string `yaml:"runtime"`
	// DockerHost is the engine address (unix:///var/run/docker.sock, tcp://host:2376, ...). The
	// default, empty, uses DOCKER_HOST and the other DOCKER_* variables like the Docker CLI.
	DockerHost string `yaml:"docker_host"`
	// MemoryBytes is each container's memory limit; swap is set equal so that nothing spills
	// to swap. At least 16 MiB. The default is 256 MiB.
	MemoryBytes int64 `yaml:"memory_bytes"`
	// CPUs is how many CPUs' worth of time each container may use, such as 0.5 or 2. The
	// default is 1.
	CPUs float64 `yaml:"cpus"`
	// PidsLimit caps the processes and threads in each container (fork bombs stop there).
	// Between 8 and 32768. The default is 64.
	PidsLimit int64 `yaml:"pids_limit"`
	// TmpSizeBytes is the size of the tmpfs at /tmp (its pages count against MemoryBytes). The
	// default is 64 MiB.
	TmpSizeBytes int64 `yaml:"tmp_size_bytes"`
	// WorkSizeBytes caps /work: a tmpfs in sandbox_run containers and a tmpfs-backed volume in
	// sessions (it survives the replacement of a session's container). The default is 64 MiB.
	WorkSizeBytes int64 `yaml:"work_size_bytes"`
	// PoolSize is how many started containers wait for sandbox_run; each is used once, and the
	// pool refills in the background. When it is empty a run starts a container of its own
	// (about 4x slower). Between 1 and 64. The default is 2.
	PoolSize int `yaml:"pool_size"`
	// MaxSessions caps the sessions open at once across all identities. Between 1 and 1024. The
	// default is 16.
	MaxSessions int `yaml:"max_sessions"`
	// SessionIdleTTL closes a session (and removes its container and files) after this long
	// without a call. Between 10s and 24h. The default is 15m.
	SessionIdleTTL configs.Duration `yaml:"session_idle_ttl"`
	// DefaultTimeout bounds a run or exec that names no timeout. The default is 30s.
	DefaultTimeout configs.Duration `yaml:"default_timeout"`
	// MaxTimeout is the longest timeout a call may ask for; longer ones are cut to it. Between
	// 1s and 1h, and at least DefaultTimeout. The default is 5m.
	MaxTimeout configs.Duration `yaml:"max_timeout"`
	// MaxOutputBytes is how much of stdout and of stderr (each) a call keeps; the rest is
	// counted and dropped, and code that floods far past it is stopped. Between 1 KiB and
	// 64 MiB. The default is 1 MiB.
	MaxOutputBytes int64 `yaml:"max_output_bytes"`
	// MaxFileBytes caps one file written into or read out of a container. Between 1 KiB and
	// 1 GiB. The default is 10 MiB.
	MaxFileBytes int64 `yaml:"max_file_bytes"`
}

// Defaults of Config, and the bounds Validate checks.
const (
	DefaultImage          = "mcphub-sandbox:latest"
	defaultMemoryBytes    = 256 << 20
	defaultCPUs           = 1
	defaultPidsLimit      = 64
	defaultTmpSizeBytes   = 64 << 20
	defaultWorkSizeBytes  = 64 << 20
	defaultPoolSize       = 2
	defaultMaxSessions    = 16
	defaultSessionIdleTTL = 15 * time.Minute
	defaultDefaultTimeout = 30 * time.Second
	defaultMaxTimeout     = 5 * time.Minute
	defaultMaxOutputBytes = 1 << 20
	defaultMaxFileBytes   = 10 << 20
)

// Defaults fills in every zero field.
func (c *Config) Defaults() {
	if c.Image == "" {
		c.Image = DefaultImage
	}
	if c.MemoryBytes == 0 {
		c.MemoryBytes = defaultMemoryBytes
	}
	if c.CPUs == 0 {
		c.CPUs = defaultCPUs
	}
	if c.PidsLimit == 0 {
		c.PidsLimit = defaultPidsLimit
	}
	if c.TmpSizeBytes == 0 {
		c.TmpSizeBytes = defaultTmpSizeBytes
	}
	if c.WorkSizeBytes == 0 {
		c.WorkSizeBytes = defaultWorkSizeBytes
	}
	if c.PoolSize == 0 {
		c.PoolSize = defaultPoolSize
	}
	if c.MaxSessions == 0 {
		c.MaxSessions = defaultMaxSessions
	}
	if c.SessionIdleTTL == 0 {
		c.SessionIdleTTL = configs.Duration(defaultSessionIdleTTL)
	}
	if c.DefaultTimeout == 0 {
		c.DefaultTimeout = configs.Duration(defaultDefaultTimeout)
	}
	if c.MaxTimeout == 0 {
		c.MaxTimeout = configs.Duration(defaultMaxTimeout)
	}
	if c.MaxOutputBytes == 0 {
		c.MaxOutputBytes = defaultMaxOutputBytes
	}
	if c.MaxFileBytes == 0 {
		c.MaxFileBytes = defaultMaxFileBytes
	}
}

// Validate checks the limits after Defaults and reports every problem at once, each as a
// configs.Problem at servers.sandbox.<key>.
func (c Config) Validate() error {
	var errs []error
	problem := func(key, format string, args ...any) {
		errs = append(errs, &configs.Problem{Path: "servers.sandbox." + key, Msg: fmt.Sprintf(format, args...)})
	}
	if c.Image == "" {
		problem("image", "is required (the default is %s)", DefaultImage)
	}
	if c.MemoryBytes < 16<<20 || c.MemoryBytes > 64<<30 {
		problem("memory_bytes", "must be between 16 MiB (16777216) and 64 GiB")
	}
	if c.CPUs < 0.01 || c.CPUs > 256 {
		problem("cpus", "must be between 0.01 and 256")
	}
	if c.PidsLimit < 8 || c.PidsLimit > 32768 {
		problem("pids_limit", "must be between 8 and 32768")
	}
	if c.TmpSizeBytes < 1<<20 || c.TmpSizeBytes > 64<<30 {
		problem("tmp_size_bytes", "must be between 1 MiB (1048576) and 64 GiB")
	}
	if c.WorkSizeBytes < 1<<20 || c.WorkSizeBytes > 64<<30 {
		problem("work_size_bytes", "must be between 1 MiB (1048576) and 64 GiB")
	}
	if c.PoolSize < 1 || c.PoolSize > 64 {
		problem("pool_size", "must be between 1 and 64")
	}
	if c.MaxSessions < 1 || c.MaxSessions > 1024 {
		problem("max_sessions", "must be between 1 and 1024")
	}
	if d := c.SessionIdleTTL.D(); d < 10*time.Second || d > 24*time.Hour {
		problem("session_idle_ttl", "must be between 10s and 24h")
	}
	if d := c.MaxTimeout.D(); d < time.Second || d > time.Hour {
		problem("max_timeout", "must be between 1s and 1h")
	}
	if d := c.DefaultTimeout.D(); d < 100*time.Millisecond || d > c.MaxTimeout.D() {
		problem("default_timeout", "must be between 100ms and max_timeout (%s)", c.MaxTimeout)
	}
	if c.MaxOutputBytes < 1<<10 || c.MaxOutputBytes > 64<<20 {
		problem("max_output_bytes", "must be between 1 KiB (1024) and 64 MiB")
	}
	if c.MaxFileBytes < 1<<10 || c.MaxFileBytes > 1<<30 {
		problem("max_file_bytes", "must be between 1 KiB (1024) and 1 GiB")
	}
	return errors.Join(errs...)
}
