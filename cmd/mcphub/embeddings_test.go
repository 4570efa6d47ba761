package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mcphub/mcphub/servers/knowledge/embed"
)

func TestEmbeddingsImport(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "glove.txt")
	if err := os.WriteFile(src, []byte("the 0.1 0.2 0.3\n, 0.0 0.1 0.0\ngopher 0.5 -0.2 0.9\nread 0.3 0.3 -0.1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "mcphub.yaml")
	data := filepath.Join(dir, "data")
	if err := os.WriteFile(cfg, []byte("data_dir: "+data+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("MCPHUB_CACHE", filepath.Join(dir, "no-cache"))
	out := filepath.Join(dir, "elsewhere", "v.bin")

	for _, c := range []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
		table  string
	}{
		{"usage", []string{"embeddings"}, 2, "", "mcphub embeddings import", ""},
		{"unknown verb", []string{"embeddings", "export"}, 2, "", "Usage:", ""},
		{"stray argument", []string{"embeddings", "import", "x"}, 2, "", `unexpected argument "x"`, ""},
		{"bad words", []string{"embeddings", "import", "--words", "0"}, 2, "", "--words must be between", ""},
		{"no download yet", []string{"embeddings", "import", "--config", cfg}, 1, "", "run scripts/embeddings.sh", ""},
		{"into the data dir", []string{"embeddings", "import", "--from", src, "--config", cfg}, 0,
			"imported 3 of 4 words (3 dimensions, glove-text) into " + filepath.Join(data, "knowledge", embed.DefaultVectorsFile),
			"", filepath.Join(data, "knowledge", embed.DefaultVectorsFile)},
		{"to --out", []string{"embeddings", "import", "--from", src, "--out", out, "--words", "2"}, 0, "imported 2 of 4 words", "", out},
		{"not vectors", []string{"embeddings", "import", "--from", cfg, "--out", out}, 1, "", "not a number", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, stdout, stderr := runCmd(c.args...)
			if code != c.code || !strings.Contains(stdout, c.stdout) || !strings.Contains(stderr, c.stderr) {
				t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
			}
			if c.table != "" {
				tab, err := embed.ReadTableFile(c.table)
				if err != nil {
					t.Fatal(err)
				}
				if tab.Lookup("gopher") < 0 || tab.Lookup(",") >= 0 {
					t.Errorf("table words: gopher %d, comma %d", tab.Lookup("gopher"), tab.Lookup(","))
				}
			}
		})
	}
}
