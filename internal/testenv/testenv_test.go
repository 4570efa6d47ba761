package testenv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestIntegrationEnvironment proves that scripts/setup.sh left a usable Chromium and a Docker
// Engine behind: under CI=true it fails when either is missing.
func TestIntegrationEnvironment(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: needs Chromium and a Docker Engine")
	}
	chromium := RequireChromium(t)
	RequireDocker(t)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The Debian wrapper /usr/bin/chromium prints a harmless shell warning on stderr; only
	// stdout carries the version.
	out, err := exec.CommandContext(ctx, chromium, "--version").Output()
	if err != nil {
		t.Fatalf("%s --version: %v", chromium, err)
	}
	version := strings.TrimSpace(string(out))
	if !strings.Contains(version, "Chromium") && !strings.Contains(version, "Chrome") {
		t.Fatalf("%s --version printed %q, want a Chromium or Chrome version", chromium, version)
	}
	t.Logf("%s: %s", chromium, version)
}

func TestInCI(t *testing.T) {
	tests := []struct {
		value string
		want  bool
	}{
		{"", false},
		{"true", true},
		{"TRUE", true},
		{"1", true},
		{"false", false},
		{"0", false},
		{"yes", false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("CI=%q", tt.value), func(t *testing.T) {
			t.Setenv("CI", tt.value)
			if got := InCI(); got != tt.want {
				t.Errorf("InCI() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestLookChromium(t *testing.T) {
	tests := []struct {
		name    string
		env     string
		present []string // what the fake lookPath finds, by the name asked for
		want    string
		wantErr string
	}{
		{name: "env wins", env: "/opt/chrome/chrome", present: []string{"/opt/chrome/chrome", "chromium"}, want: "/opt/chrome/chrome"},
		{name: "env not executable", env: "/opt/nothing", present: []string{"chromium"}, wantErr: "MCPHUB_CHROMIUM=/opt/nothing is not an executable file"},
		{name: "chromium on PATH first", present: []string{"chromium", "/usr/lib/chromium/chromium", "google-chrome"}, want: "/bin/chromium"},
		{name: "real binary next", present: []string{"/usr/lib/chromium/chromium", "google-chrome"}, want: "/usr/lib/chromium/chromium"},
		{name: "google-chrome last", present: []string{"google-chrome"}, want: "/bin/google-chrome"},
		{name: "none", wantErr: "no Chromium found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			getenv := func(k string) string {
				if k == ChromiumEnv {
					return tt.env
				}
				return ""
			}
			lookPath := func(name string) (string, error) {
				for _, p := range tt.present {
					if p != name {
						continue
					}
					if filepath.IsAbs(name) {
						return name, nil
					}
					return "/bin/" + name, nil
				}
				return "", exec.ErrNotFound
			}
			got, err := lookChromium(getenv, lookPath)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("lookChromium() error = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("lookChromium() = %q, %v, want %q", got, err, tt.want)
			}
		})
	}
}

func TestRequireChromiumFromEnv(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "chromium")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv(ChromiumEnv, bin)
	if got := RequireChromium(t); got != bin {
		t.Fatalf("RequireChromium() = %q, want %q", got, bin)
	}
}

func TestPingDocker(t *testing.T) {
	okHandler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/_ping" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte("OK"))
	})
	failing := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "engine is starting", http.StatusInternalServerError)
	})
	hanging := http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	})

	tcpOK := httptest.NewServer(okHandler)
	t.Cleanup(tcpOK.Close)
	tcpFailing := httptest.NewServer(failing)
	t.Cleanup(tcpFailing.Close)
	tcpHanging := httptest.NewServer(hanging)
	t.Cleanup(tcpHanging.Close)
	tlsOK := httptest.NewUnstartedServer(okHandler)
	tlsOK.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake is expected
	tlsOK.StartTLS()
	t.Cleanup(tlsOK.Close)

	tests := []struct {
		name    string
		host    string
		timeout time.Duration // dockerPingTimeout when zero
		wantErr string
	}{
		{name: "unix socket", host: "unix://" + serveUnix(t, okHandler)},
		{name: "tcp", host: "tcp://" + tcpOK.Listener.Addr().String()},
		{name: "http", host: tcpOK.URL},
		{name: "unix socket missing", host: "unix://" + filepath.Join(t.TempDir(), "none.sock"), wantErr: "no such file"},
		{name: "engine error", host: "tcp://" + tcpFailing.Listener.Addr().String(), wantErr: "500 Internal Server Error: engine is starting"},
		{name: "engine hangs", host: "tcp://" + tcpHanging.Listener.Addr().String(), timeout: 200 * time.Millisecond, wantErr: "deadline exceeded"},
		{name: "tls without the CA", host: tlsOK.URL, wantErr: "certificate"},
		{name: "unsupported scheme", host: "ssh://me@example.invalid", wantErr: `unsupported DOCKER_HOST scheme "ssh"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			timeout := tt.timeout
			if timeout == 0 {
				timeout = dockerPingTimeout
			}
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			err := pingDocker(ctx, tt.host, func(string) string { return "" })
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("pingDocker(%s) = %v, want nil", tt.host, err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("pingDocker(%s) = %v, want an error containing %q", tt.host, err, tt.wantErr)
			}
		})
	}
}

func TestDockerHost(t *testing.T) {
	if got := dockerHost(func(string) string { return "" }); got != DefaultDockerHost {
		t.Errorf("dockerHost() without DOCKER_HOST = %q, want %q", got, DefaultDockerHost)
	}
	set := func(k string) string {
		if k == "DOCKER_HOST" {
			return "tcp://127.0.0.1:2375"
		}
		return ""
	}
	if got := dockerHost(set); got != "tcp://127.0.0.1:2375" {
		t.Errorf("dockerHost() = %q, want the DOCKER_HOST value", got)
	}
}

func TestDockerTLSConfigMissingFiles(t *testing.T) {
	_, err := dockerTLSConfig(t.TempDir())
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("dockerTLSConfig(empty dir) = %v, want a not-exist error", err)
	}
}

// TestMissing checks that a missing component skips a test outside CI and fails it in CI, with
// the fix in the message.
func TestMissing(t *testing.T) {
	requires := []struct {
		name     string
		env      map[string]string
		require  func(testing.TB)
		wantText []string
	}{
		{
			name:     "chromium",
			env:      map[string]string{ChromiumEnv: filepath.Join(t.TempDir(), "no-chromium")},
			require:  func(tb testing.TB) { RequireChromium(tb) },
			wantText: []string{"scripts/setup.sh as root", "chromium", ChromiumEnv},
		},
		{
			name:     "docker",
			env:      map[string]string{"DOCKER_HOST": "unix://" + filepath.Join(t.TempDir(), "no-docker.sock")},
			require:  RequireDocker,
			wantText: []string{"no Docker Engine answers at unix://", "scripts/setup.sh as root", "docker.io", "DOCKER_HOST"},
		},
	}
	for _, r := range requires {
		for _, ci := range []string{"", "true"} {
			t.Run(fmt.Sprintf("%s/CI=%q", r.name, ci), func(t *testing.T) {
				for k, v := range r.env {
					t.Setenv(k, v)
				}
				t.Setenv("CI", ci)
				rec := &recordingTB{TB: t}
				r.require(rec)
				got, other := rec.skipped, rec.failed
				if ci == "true" {
					got, other = rec.failed, rec.skipped
				}
				if got == "" || other != "" {
					t.Fatalf("CI=%q: skipped %q, failed %q; want exactly one of them", ci, rec.skipped, rec.failed)
				}
				for _, want := range r.wantText {
					if !strings.Contains(got, want) {
						t.Errorf("message %q does not contain %q", got, want)
					}
				}
			})
		}
	}
}

// recordingTB records Skipf and Fatalf instead of ending the test.
type recordingTB struct {
	testing.TB
	skipped, failed string
}

func (r *recordingTB) Helper() {}

func (r *recordingTB) Skipf(format string, args ...any) { r.skipped = fmt.Sprintf(format, args...) }

func (r *recordingTB) Fatalf(format string, args ...any) { r.failed = fmt.Sprintf(format, args...) }

// serveUnix serves h on a Unix socket in a short temporary directory (socket paths are limited
// to about 100 bytes) and returns the socket path.
func serveUnix(t *testing.T, h http.Handler) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "testenv")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	socket := filepath.Join(dir, "d.sock")
	var lc net.ListenConfig
	ln, err := lc.Listen(context.Background(), "unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		_ = srv.Close()
		<-done
	})
	return socket
}

// TestIntegrationPostgres starts a server of its own, runs a query and checks that the stopped
// server's port no longer answers.
func TestIntegrationPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: starts PostgreSQL")
	}
	var dsn string
	t.Run("start", func(t *testing.T) {
		dsn = StartPostgres(t)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatalf("connecting: %v", err)
		}
		defer conn.Close(ctx)
		var db string
		if err := conn.QueryRow(ctx, "select current_database()").Scan(&db); err != nil {
			t.Fatalf("querying: %v", err)
		}
		if db != PostgresDatabase {
			t.Fatalf("current_database() = %q, want %q", db, PostgresDatabase)
		}
	})
	if dsn == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if conn, err := pgx.Connect(ctx, dsn); err == nil {
		_ = conn.Close(ctx)
		t.Fatal("the server still answers after the test that started it ended")
	}
}

func TestLookPostgres(t *testing.T) {
	dir := t.TempDir()
	if _, err := lookPostgres(dir, filepath.Glob); err == nil || !strings.Contains(err.Error(), PostgresBinEnv) {
		t.Fatalf("empty dir: err = %v, want one naming %s", err, PostgresBinEnv)
	}
	for _, name := range []string{"initdb", "postgres"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"), 0o755); err != nil { //nolint:gosec // An executable stand-in.
			t.Fatal(err)
		}
	}
	if got, err := lookPostgres(dir, filepath.Glob); err != nil || got != dir {
		t.Fatalf("lookPostgres(%s) = %q, %v", dir, got, err)
	}
	glob := func(string) ([]string, error) { return []string{"/nonexistent/9.6/bin", "/nonexistent/16/bin"}, nil }
	if _, err := lookPostgres("", glob); err == nil || !strings.Contains(err.Error(), "/usr/lib/postgresql") {
		t.Fatalf("no binaries: err = %v", err)
	}
}
