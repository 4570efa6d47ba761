package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mcphub/mcphub/servers/registry"
)

// TestCatalog runs the build-time checks over every server this binary can contain.
func TestCatalog(t *testing.T) {
	if err := registry.CheckCatalog(catalog); err != nil {
		t.Fatal(err)
	}
}

func runCmd(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	err := run(args, &out, &errb)
	var ee exitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.code
	default:
		code = 1
		errb.WriteString(err.Error())
	}
	return code, out.String(), errb.String()
}

func TestCommands(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.yaml", "listen: 127.0.0.1:0\ndata_dir: "+dir+"\nservers:\n  hub: {enabled: true}\n")
	bad := write("bad.yaml", "listen: nope\nhttp: {max_body_bytes: -1, bogus: 1}\nservers:\n  nosuch: {enabled: true}\n  hub: {enabled: true, extra: 1}\n")

	tests := []struct {
		name   string
		args   []string
		code   int
		stdout []string
		stderr []string
	}{
		{"no args", nil, 2, nil, []string{"Usage:"}},
		{"unknown command", []string{"frobnicate"}, 2, nil, []string{`unknown command "frobnicate"`}},
		{"version", []string{"version"}, 0, []string{"mcphub dev (go1."}, nil},
		{"help", []string{"help"}, 0, []string{"mcphub serve"}, nil},
		{"validate needs a file", []string{"validate"}, 2, nil, []string{"--config FILE is required"}},
		{"validate good", []string{"validate", "--config", good}, 0, []string{"good.yaml: ok"}, nil},
		{"validate bad reports every problem", []string{"validate", "--config", bad}, 1, nil, []string{
			"listen:", "http.max_body_bytes:", "http.bogus: unknown key", "servers.nosuch: unknown server", "servers.hub.extra: unknown key",
		}},
		{"validate missing file", []string{"validate", "--config", filepath.Join(dir, "none.yaml")}, 1, nil, []string{"none.yaml"}},
		{"list", []string{"list", "--config", good}, 0, []string{"SERVER", "hub", "ready", "hub_list_servers"}, nil},
		{"list with bad config", []string{"list", "--config", bad}, 1, nil, []string{"invalid configuration"}},
		{"serve with bad config", []string{"serve", "--config", bad}, 1, nil, []string{"http.bogus"}},
		{"serve unknown server", []string{"serve", "--config", good, "--servers", "nosuch"}, 1, nil, []string{`--servers: unknown server "nosuch"`}},
		{"serve stdio and http", []string{"serve", "--stdio", "--http", "127.0.0.1:0"}, 2, nil, []string{"exclusive"}},
		{"serve stray argument", []string{"serve", "extra"}, 2, nil, []string{`unexpected argument "extra"`}},
		{"serve wide without auth", []string{"serve", "--config", good, "--http", "0.0.0.0:0"}, 1, nil, []string{"auth.api_keys"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCmd(tt.args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, stdout, stderr)
			}
			for _, w := range tt.stdout {
				if !strings.Contains(stdout, w) {
					t.Errorf("stdout lacks %q:\n%s", w, stdout)
				}
			}
			for _, w := range tt.stderr {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
		})
	}
}
