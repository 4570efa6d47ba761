package eval

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// CorpusDir is where the corpus is built and kept between runs: $MCPHUB_EVAL_CORPUS, else
// <user cache>/mcphub/go-corpus-<go version>, else a temporary directory of the test.
func CorpusDir(tb testing.TB) string {
	if d := os.Getenv("MCPHUB_EVAL_CORPUS"); d != "" {
		return d
	}
	if c, err := os.UserCacheDir(); err == nil {
		return filepath.Join(c, "mcphub", "go-corpus-"+goVersion())
	}
	return tb.TempDir()
}

// goVersion names the toolchain whose docs the corpus holds.
func goVersion() string { return runtime.Version() }
