// Package testenv lets tests ask for the external components they need (a Chromium binary, a
// Docker Engine) and decides what happens when one is missing: outside CI the test is skipped,
// under CI=true it fails, so that a CI run proves scripts/setup.sh installed everything. Either
// way the message says exactly how to fix it.
//
// To support a new component, add a Require function that looks for it without side effects,
// and report a miss through [missing] with the command or package that provides it.
package testenv

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// ChromiumEnv names the environment variable that points at the Chromium binary to use.
const ChromiumEnv = "MCPHUB_CHROMIUM"

// DefaultDockerHost is the engine address used when DOCKER_HOST is not set.
const DefaultDockerHost = "unix:///var/run/docker.sock"

// dockerPingTimeout bounds the whole /_ping round trip, dial included.
const dockerPingTimeout = 3 * time.Second

// setupHint is the fix that covers every component on a Debian machine.
const setupHint = "run scripts/setup.sh as root"

// InCI reports whether the tests run in CI, where a missing component fails a test instead of
// skipping it. CI is set to true by .ci/run and by most CI systems.
func InCI() bool {
	ci, err := strconv.ParseBool(os.Getenv("CI"))
	return err == nil && ci
}

// RequireChromium returns the path of a Chromium (or Chrome) binary, looking at $MCPHUB_CHROMIUM,
// then chromium on PATH, /usr/lib/chromium/chromium and google-chrome on PATH. When none is
// found it skips the test, or fails it under CI.
func RequireChromium(tb testing.TB) string {
	tb.Helper()
	path, err := lookChromium(os.Getenv, exec.LookPath)
	if err != nil {
		missing(tb, "%v: %s, or install the Debian package chromium "+
			"(apt-get install -y --no-install-recommends chromium), or set %s to a Chromium binary",
			err, setupHint, ChromiumEnv)
		return ""
	}
	return path
}

// RequireDocker checks that a Docker Engine answers GET /_ping at $DOCKER_HOST, or at
// unix:///var/run/docker.sock when it is not set, within 3 s. When none does it skips the test,
// or fails it under CI.
func RequireDocker(tb testing.TB) {
	tb.Helper()
	host := dockerHost(os.Getenv)
	ctx, cancel := context.WithTimeout(context.Background(), dockerPingTimeout)
	defer cancel()
	if err := pingDocker(ctx, host, os.Getenv); err != nil {
		missing(tb, "no Docker Engine answers at %s (%v): %s (it installs the Debian package "+
			"docker.io and starts dockerd --bridge=none --iptables=false), or start an engine and "+
			"point DOCKER_HOST at it", host, err, setupHint)
	}
}

// missing skips the test, or fails it under CI, with a message that says how to fix it.
func missing(tb testing.TB, format string, args ...any) {
	tb.Helper()
	if InCI() {
		tb.Fatalf("CI=true needs this component: "+format, args...)
		return
	}
	tb.Skipf(format, args...)
}

// lookChromium returns the first Chromium binary in the documented order. lookPath resolves
// names on PATH and checks that an absolute path is an executable file.
func lookChromium(getenv func(string) string, lookPath func(string) (string, error)) (string, error) {
	if p := getenv(ChromiumEnv); p != "" {
		found, err := lookPath(p)
		if err != nil {
			return "", fmt.Errorf("%s=%s is not an executable file: %w", ChromiumEnv, p, err)
		}
		return found, nil
	}
	candidates := []string{"chromium", "/usr/lib/chromium/chromium", "google-chrome"}
	for _, c := range candidates {
		if found, err := lookPath(c); err == nil {
			return found, nil
		}
	}
	return "", fmt.Errorf("no Chromium found (looked for $%s, %s)", ChromiumEnv, strings.Join(candidates, ", "))
}

// dockerHost returns the engine address the Docker CLI would use without a context.
func dockerHost(getenv func(string) string) string {
	if h := getenv("DOCKER_HOST"); h != "" {
		return h
	}
	return DefaultDockerHost
}

// pingDocker sends GET /_ping to the engine at host (unix://, tcp://, http:// or https://)
// and expects 200 OK. For tcp:// it honours DOCKER_TLS_VERIFY and DOCKER_CERT_PATH as the
// Docker CLI does.
func pingDocker(ctx context.Context, host string, getenv func(string) string) error {
	u, err := url.Parse(host)
	if err != nil {
		return fmt.Errorf("parsing DOCKER_HOST: %w", err)
	}
	transport := &http.Transport{DisableKeepAlives: true}
	base := url.URL{Scheme: "http", Host: u.Host}
	switch u.Scheme {
	case "unix":
		socket := u.Path
		var d net.Dialer
		transport.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			return d.DialContext(ctx, "unix", socket)
		}
		base.Host = "docker" // Any name: the dialer ignores it.
	case "tcp", "http":
		if getenv("DOCKER_TLS_VERIFY") != "" {
			cfg, err := dockerTLSConfig(getenv("DOCKER_CERT_PATH"))
			if err != nil {
				return err
			}
			transport.TLSClientConfig = cfg
			base.Scheme = "https"
		}
	case "https":
		base.Scheme = "https"
	default:
		return fmt.Errorf("unsupported DOCKER_HOST scheme %q (want unix, tcp, http or https)", u.Scheme)
	}
	defer transport.CloseIdleConnections()

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base.JoinPath("/_ping").String(), nil)
	if err != nil {
		return fmt.Errorf("building ping request: %w", err)
	}
	resp, err := (&http.Client{Transport: transport}).Do(req)
	if err != nil {
		return fmt.Errorf("pinging: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /_ping: %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}

// dockerTLSConfig loads ca.pem, cert.pem and key.pem from dir (default ~/.docker), as the
// Docker CLI does when DOCKER_TLS_VERIFY is set.
func dockerTLSConfig(dir string) (*tls.Config, error) {
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return nil, fmt.Errorf("finding the Docker certificates: %w", err)
		}
		dir = filepath.Join(home, ".docker")
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, "ca.pem")) //nolint:gosec // DOCKER_CERT_PATH is the user's own setting, as for the Docker CLI.
	if err != nil {
		return nil, fmt.Errorf("reading the Docker CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("reading the Docker CA: no certificate in ca.pem")
	}
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"))
	if err != nil {
		return nil, fmt.Errorf("reading the Docker client certificate: %w", err)
	}
	return &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}
