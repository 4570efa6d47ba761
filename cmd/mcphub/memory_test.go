package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const memoryFile = `{"type":"entity","name":"Alice","entityType":"person","observations":["likes tea"]}
{"type":"entity","name":"Acme","entityType":"company","observations":[]}
{"type":"relation","from":"Alice","to":"Acme","relationType":"works_at"}
`

func TestMemoryImportExport(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cfg := write("mcphub.yaml", "data_dir: "+filepath.Join(dir, "data")+"\nservers:\n  memory:\n    namespaces: {agent-a: team}\n")
	in := write("memory.jsonl", memoryFile)

	code, stdout, stderr := runCmd("memory", "import", in, "--config", cfg)
	if code != 0 || !strings.Contains(stdout, "2 entities, 1 observations, 1 relations created") {
		t.Fatalf("import: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	code, stdout, stderr = runCmd("memory", "export", "--config", cfg)
	if code != 0 || stdout != memoryFile {
		t.Errorf("export: exit %d\nstdout: %q\nwant %q\nstderr: %s", code, stdout, memoryFile, stderr)
	}
	// A second import changes nothing.
	code, stdout, _ = runCmd("memory", "import", in, "--config", cfg)
	if code != 0 || !strings.Contains(stdout, "0 entities, 0 observations, 0 relations created; 3 ") {
		t.Errorf("second import: exit %d %s", code, stdout)
	}
	// Namespaces are separate: the shared one of agent-a is empty, then holds its own import.
	code, stdout, _ = runCmd("memory", "export", "--namespace", "shared:team", "--config", cfg)
	if code != 0 || stdout != "" {
		t.Errorf("export of another namespace: exit %d %q", code, stdout)
	}
	if code, _, stderr = runCmd("memory", "import", in, "--namespace", "shared:team", "--config", cfg); code != 0 {
		t.Fatalf("import into shared:team: %s", stderr)
	}
	if code, stdout, _ = runCmd("memory", "export", "--namespace", "shared:team", "--config", cfg); stdout != memoryFile {
		t.Errorf("export of shared:team: exit %d %q", code, stdout)
	}

	// Every bad line is reported with its number, and nothing is imported.
	bad := write("bad.jsonl", `{"type":"entity","name":"Bob","entityType":"person","observations":[]}`+"\n{oops\n"+
		`{"type":"relation","from":"a"}`+"\n")
	code, _, stderr = runCmd("memory", "import", bad, "--config", cfg)
	if code != 1 || !strings.Contains(stderr, "line 2:") || !strings.Contains(stderr, "line 3:") || strings.Contains(stderr, "line 1:") {
		t.Errorf("bad file: exit %d\n%s", code, stderr)
	}
	if _, stdout, _ = runCmd("memory", "export", "--config", cfg); strings.Contains(stdout, "Bob") {
		t.Error("a file with bad lines was partly imported")
	}

	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no verb", []string{"memory"}, 2, "mcphub memory import FILE"},
		{"unknown verb", []string{"memory", "erase"}, 2, "Usage:"},
		{"import without file", []string{"memory", "import", "--config", cfg}, 2, "FILE is required"},
		{"missing file", []string{"memory", "import", filepath.Join(dir, "none.jsonl"), "--config", cfg}, 1, "none.jsonl"},
		{"stray argument", []string{"memory", "export", "extra"}, 2, `unexpected argument "extra"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runCmd(tt.args...)
			if code != tt.code || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d (want %d), stderr %q (want %q)", code, tt.code, stderr, tt.want)
			}
		})
	}
}
