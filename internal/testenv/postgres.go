package testenv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// PostgresBinEnv names the environment variable that points at a directory holding initdb and
// postgres, for machines where they are not under /usr/lib/postgresql/<version>/bin.
const PostgresBinEnv = "MCPHUB_POSTGRES_BIN"

// PostgresDatabase is the database StartPostgres creates and its DSN names.
const PostgresDatabase = "mcphub"

const (
	// postgresStartTimeout bounds initdb plus the wait for the server to accept connections.
	postgresStartTimeout = 60 * time.Second
	// postgresStopTimeout is how long a fast shutdown may take before the server is killed.
	postgresStopTimeout = 10 * time.Second
	// postgresSystemUser runs the server when the tests run as root: initdb and postgres refuse
	// to run as root. The Debian package postgresql creates it.
	postgresSystemUser = "postgres"
)

// StartPostgres starts a PostgreSQL server of its own for the test: initdb into a temporary
// directory, postgres on a free 127.0.0.1 port with its socket in that directory, and a database
// named [PostgresDatabase]. It returns the DSN (postgres://postgres@127.0.0.1:PORT/mcphub, trust
// authentication, no TLS) and stops the server by its PID and removes the directory in
// t.Cleanup. The binaries come from $MCPHUB_POSTGRES_BIN or the newest
// /usr/lib/postgresql/*/bin. When they are missing it skips the test, or fails it under CI.
// Under root the server runs as the postgres system user.
func StartPostgres(tb testing.TB) string {
	tb.Helper()
	bin, err := lookPostgres(os.Getenv(PostgresBinEnv), filepath.Glob)
	if err != nil {
		missing(tb, "%v: %s (it installs the Debian package postgresql), or apt-get install -y "+
			"--no-install-recommends postgresql, or set %s to a directory with initdb and postgres",
			err, setupHint, PostgresBinEnv)
		return ""
	}
	cred, err := postgresCredential()
	if err != nil {
		missing(tb, "%v: %s (the Debian package postgresql creates the postgres user)", err, setupHint)
		return ""
	}

	// Not t.TempDir: its parent directory is private to the test's user, and the server may
	// run as another user who must reach the data directory.
	dir, err := os.MkdirTemp("", "mcphub-pg-")
	if err != nil {
		tb.Fatalf("creating the PostgreSQL directory: %v", err)
	}
	tb.Cleanup(func() { _ = os.RemoveAll(dir) })
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			tb.Fatalf("handing the PostgreSQL directory to %s: %v", postgresSystemUser, err)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), postgresStartTimeout)
	defer cancel()
	data := filepath.Join(dir, "data")
	initdb := exec.CommandContext(ctx, //nolint:gosec // The binary directory is the operator's own setting or a fixed path.
		filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres",
		"-A", "trust", "-E", "UTF8", "--no-sync", "--no-instructions")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	initdb.Dir = dir
	if out, err := initdb.CombinedOutput(); err != nil {
		tb.Fatalf("initdb: %v\n%s", err, out)
	}

	port, err := freePort()
	if err != nil {
		tb.Fatalf("finding a free port for PostgreSQL: %v", err)
	}
	logPath := filepath.Join(dir, "postgres.log")
	logFile, err := os.Create(logPath) //nolint:gosec // A file in the directory created above.
	if err != nil {
		tb.Fatalf("creating the PostgreSQL log: %v", err)
	}
	defer logFile.Close()
	// fsync off: a test cluster is thrown away, and durability costs seconds per test.
	//nolint:gosec,noctx // The binary directory is the operator's own; the server is stopped by PID in Cleanup.
	srv := exec.Command(filepath.Join(bin, "postgres"), "-D", data,
		"-h", "127.0.0.1", "-p", strconv.Itoa(port), "-k", dir,
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "max_connections=200")
	// Setpgid: a kill on the way out reaches the server's children too.
	srv.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true}
	srv.Dir = dir
	srv.Stdout, srv.Stderr = logFile, logFile
	if err := srv.Start(); err != nil {
		tb.Fatalf("starting postgres: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- srv.Wait() }()
	tb.Cleanup(func() { stopPostgres(tb, srv.Process.Pid, exited) })

	base := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/", port)
	if err := waitPostgres(ctx, base+"postgres?sslmode=disable", exited); err != nil {
		log, _ := os.ReadFile(logPath) //nolint:gosec // The log file created above.
		tb.Fatalf("PostgreSQL did not start: %v\n%s", err, log)
	}
	conn, err := pgx.Connect(ctx, base+"postgres?sslmode=disable")
	if err != nil {
		tb.Fatalf("connecting to PostgreSQL: %v", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+PostgresDatabase); err != nil {
		tb.Fatalf("creating database %s: %v", PostgresDatabase, err)
	}
	return base + PostgresDatabase + "?sslmode=disable"
}

// lookPostgres returns the directory holding initdb and postgres: dir when set, otherwise the
// newest /usr/lib/postgresql/<version>/bin.
func lookPostgres(dir string, glob func(string) ([]string, error)) (string, error) {
	has := func(d string) bool {
		for _, name := range []string{"initdb", "postgres"} {
			fi, err := os.Stat(filepath.Join(d, name)) //nolint:gosec // The operator's own directory or a fixed path.
			if err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
				return false
			}
		}
		return true
	}
	if dir != "" {
		if !has(dir) {
			return "", fmt.Errorf("%s=%s holds no executable initdb and postgres", PostgresBinEnv, dir)
		}
		return dir, nil
	}
	found, _ := glob("/usr/lib/postgresql/*/bin")
	// Newest major version first: "16" sorts after "9" only numerically.
	sort.Slice(found, func(i, j int) bool { return pgMajor(found[i]) > pgMajor(found[j]) })
	for _, d := range found {
		if has(d) {
			return d, nil
		}
	}
	return "", errors.New("no PostgreSQL server found (looked for $" + PostgresBinEnv + " and /usr/lib/postgresql/*/bin)")
}

func pgMajor(binDir string) float64 {
	v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(binDir)), 64)
	return v
}

// postgresCredential returns the credential to run initdb and postgres with: nil (the current
// user) unless the tests run as root, then the postgres system user's.
func postgresCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup(postgresSystemUser)
	if err != nil {
		return nil, fmt.Errorf("running as root and no %s user to run PostgreSQL as: %w", postgresSystemUser, err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("reading the %s user's ids: %w", postgresSystemUser, err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, nil
}

// freePort returns a loopback port that was free a moment ago.
func freePort() (int, error) {
	var lc net.ListenConfig
	l, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// waitPostgres polls until the server accepts a connection, it exits, or ctx ends.
func waitPostgres(ctx context.Context, dsn string, exited <-chan error) error {
	for {
		attempt, cancel := context.WithTimeout(ctx, 2*time.Second)
		conn, err := pgx.Connect(attempt, dsn)
		cancel()
		if err == nil {
			return conn.Close(ctx)
		}
		select {
		case werr := <-exited:
			return fmt.Errorf("postgres exited: %w", werr)
		case <-ctx.Done():
			return fmt.Errorf("waiting for connections: %w (last: %s)", ctx.Err(), strings.TrimSpace(err.Error()))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// stopPostgres asks the server for a fast shutdown (SIGINT) and kills its process group when it
// does not stop in time.
func stopPostgres(tb testing.TB, pid int, exited <-chan error) {
	tb.Helper()
	if err := syscall.Kill(pid, syscall.SIGINT); err != nil {
		return // Already gone.
	}
	// The exit status of a stopped server says nothing useful: only that it stopped matters.
	select {
	case err := <-exited:
		_ = err
	case <-time.After(postgresStopTimeout):
		tb.Logf("postgres (pid %d) ignored a fast shutdown for %s; killing it", pid, postgresStopTimeout)
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		err := <-exited
		_ = err
	}
}
