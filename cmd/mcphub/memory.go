package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/mcphub/mcphub/servers/memory"
)

// memoryUsage is the help of `mcphub memory`.
const memoryUsage = `Usage:
  mcphub memory import FILE [--namespace N] [--config FILE]
  mcphub memory export [--namespace N] [--config FILE] > FILE

FILE is the JSONL file of the reference MCP memory server (@modelcontextprotocol/server-memory).
Import merges it into the graph (nothing is deleted or duplicated); export writes the graph to
stdout in the same format. The namespace is an identity's own graph (its identity; "local" on
stdio and on a loopback listener without API keys, the default) or a shared one ("shared:NAME"
for servers.memory.namespaces entries mapping to NAME).
`

// runMemory runs `mcphub memory import|export`, on the store the config selects (the same file
// or database a running hub uses; both can run at once).
func runMemory(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "import" && args[0] != "export") {
		fmt.Fprint(stderr, memoryUsage)
		return exitError{2}
	}
	verb := args[0]
	args = args[1:]
	var file string
	if verb == "import" {
		// FILE comes first; flags may follow it.
		if len(args) == 0 || len(args[0]) == 0 || args[0][0] == '-' {
			fmt.Fprint(stderr, "mcphub memory import: FILE is required\n\n"+memoryUsage)
			return exitError{2}
		}
		file, args = args[0], args[1:]
	}
	fs := newFlagSet("memory "+verb, stderr)
	configPath := fs.String("config", "", "config `FILE` (YAML); without it the embedded defaults apply")
	namespace := fs.String("namespace", "local", "the `namespace` to import into or export")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(*configPath, nil, stderr)
	if err != nil {
		return err
	}
	mcfg, err := memory.LoadConfig(cfg)
	if err != nil {
		printProblems(stderr, *configPath, err)
		return exitError{1}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var g memory.Graph
	if verb == "import" {
		// Parse the whole file before touching the store, so that a bad file changes nothing.
		if g, err = parseMemoryFile(file); err != nil {
			var lines interface{ Unwrap() []error }
			if errors.As(err, &lines) {
				fmt.Fprintf(stderr, "%s: not a memory JSONL file:\n", file)
				for _, e := range lines.Unwrap() {
					fmt.Fprintf(stderr, "  %v\n", e)
				}
				return exitError{1}
			}
			return err
		}
	}

	st, err := memory.OpenStore(ctx, mcfg, filepath.Join(cfg.DataDir, "memory"))
	if err != nil {
		return err
	}
	defer st.Close()
	if verb == "export" {
		return memory.Export(ctx, st, *namespace, stdout)
	}
	stats, err := memory.Import(ctx, st, *namespace, g)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "imported into namespace %s: %d entities, %d observations, %d relations created; %d entities or relations were already there\n",
		*namespace, stats.Entities, stats.Observations, stats.Relations, stats.Skipped)
	return nil
}

func parseMemoryFile(path string) (memory.Graph, error) {
	f, err := os.Open(path) //nolint:gosec // G304: the user names the file to import
	if err != nil {
		return memory.Graph{}, fmt.Errorf("opening the import file: %w", err)
	}
	defer f.Close()
	return memory.ParseJSONL(f)
}
