// Package eval measures the knowledge server's retrieval quality on the development set in
// shared/evals/knowledge: the Go standard library's documentation (one markdown document per
// package, written by make-go-corpus.sh) and 50 questions, each answered by one package.
//
// It holds what every measurement needs: the corpus and the queries, the metrics (recall@1,
// recall@5, MRR of the wanted document), and the baseline every mode is compared with, plain
// SQLite FTS5 BM25 over whole documents, computed in the same run. The end-to-end run against
// the real binary is TestEval in cmd/mcphub (make eval).
package eval

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"unicode"

	_ "modernc.org/sqlite" // The baseline runs on the same SQLite driver as the knowledge store.
)

// Query is one question and the package that answers it.
type Query struct {
	Q    string `json:"q"`
	Want string `json:"want"` // a package path such as "encoding/json"
}

// Doc is one corpus document.
type Doc struct {
	Path    string // file path
	Package string // from the first line, "# package <path>"
	Text    string
}

// DevSetDir finds shared/evals/knowledge: $MCPHUB_EVAL_DIR, else the first ancestor of dir
// that has shared/evals/knowledge (the repository lives beside shared/).
func DevSetDir(dir string) (string, error) {
	if d := os.Getenv("MCPHUB_EVAL_DIR"); d != "" {
		return d, nil
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for d := abs; ; d = filepath.Dir(d) {
		for _, cand := range []string{filepath.Join(d, "shared", "evals", "knowledge"), filepath.Join(d, "evals", "knowledge")} {
			if _, err := os.Stat(filepath.Join(cand, "queries.jsonl")); err == nil {
				return cand, nil
			}
		}
		if filepath.Dir(d) == d {
			return "", errors.New("shared/evals/knowledge not found above " + abs + ": set MCPHUB_EVAL_DIR")
		}
	}
}

// LoadQueries reads queries.jsonl.
func LoadQueries(path string) ([]Query, error) {
	f, err := os.Open(path) //nolint:gosec // G304: the dev set's own file.
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var qs []Query
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var q Query
		if err := json.Unmarshal(sc.Bytes(), &q); err != nil || q.Q == "" || q.Want == "" {
			return nil, fmt.Errorf("%s:%d: want {\"q\": ..., \"want\": ...}", path, line)
		}
		qs = append(qs, q)
	}
	return qs, sc.Err()
}

// BuildCorpus writes the corpus into dir with make-go-corpus.sh unless dir already holds it,
// and returns its documents.
func BuildCorpus(ctx context.Context, devSet, dir string) ([]Doc, error) {
	if m, _ := filepath.Glob(filepath.Join(dir, "*.md")); len(m) < 100 {
		cmd := exec.CommandContext(ctx, "bash", filepath.Join(devSet, "make-go-corpus.sh"), dir) //nolint:gosec // The dev set's script.
		cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("make-go-corpus.sh: %w", err)
		}
	}
	return LoadCorpus(dir)
}

// LoadCorpus reads the *.md documents of dir, sorted by path.
func LoadCorpus(dir string) ([]Doc, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.md"))
	if err != nil {
		return nil, err
	}
	sort.Strings(paths)
	docs := make([]Doc, 0, len(paths))
	for _, p := range paths {
		b, err := os.ReadFile(p) //nolint:gosec // G304: the corpus' own files.
		if err != nil {
			return nil, err
		}
		text := string(b)
		first, _, _ := strings.Cut(text, "\n")
		pkg, ok := strings.CutPrefix(first, "# package ")
		if !ok {
			return nil, fmt.Errorf("%s: the first line is not \"# package <path>\"", p)
		}
		docs = append(docs, Doc{Path: p, Package: strings.TrimSpace(pkg), Text: text})
	}
	if len(docs) == 0 {
		return nil, errors.New("no documents in " + dir)
	}
	return docs, nil
}

// Scores are the metrics of one ranking method over the queries.
type Scores struct {
	Name                      string
	N                         int
	RecallAt1, RecallAt5, MRR float64
	// Misses are the queries whose wanted document was not ranked first, with its rank
	// (0: not in the results).
	Misses []Miss
}

// Miss is a query the method did not answer first.
type Miss struct {
	Query Query
	Rank  int
	Top   string // the document ranked first
}

// Score computes the metrics of ranked package lists, one per query (best first). Only the
// first occurrence of a package counts.
func Score(name string, qs []Query, ranked [][]string) Scores {
	s := Scores{Name: name, N: len(qs)}
	for i, q := range qs {
		rank := 0
		seen := map[string]bool{}
		pos := 0
		for _, pkg := range ranked[i] {
			if seen[pkg] {
				continue
			}
			seen[pkg] = true
			pos++
			if pkg == q.Want {
				rank = pos
				break
			}
		}
		if rank == 1 {
			s.RecallAt1++
		}
		if rank >= 1 && rank <= 5 {
			s.RecallAt5++
		}
		if rank > 0 {
			s.MRR += 1 / float64(rank)
		}
		if rank != 1 {
			top := ""
			if len(ranked[i]) > 0 {
				top = ranked[i][0]
			}
			s.Misses = append(s.Misses, Miss{Query: q, Rank: rank, Top: top})
		}
	}
	if n := float64(len(qs)); n > 0 {
		s.RecallAt1 /= n
		s.RecallAt5 /= n
		s.MRR /= n
	}
	return s
}

// WriteTable prints the scores as a markdown table.
func WriteTable(w io.Writer, rows []Scores) {
	fmt.Fprintln(w, "| mode | queries | recall@1 | recall@5 | MRR |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: |")
	for _, s := range rows {
		fmt.Fprintf(w, "| %s | %d | %.2f | %.2f | %.3f |\n", s.Name, s.N, s.RecallAt1, s.RecallAt5, s.MRR)
	}
}

// WriteMisses prints each method's misses, for looking into a ranking.
func WriteMisses(w io.Writer, rows []Scores) {
	for _, s := range rows {
		for _, m := range s.Misses {
			fmt.Fprintf(w, "%s: %q want %s rank %d (first: %s)\n", s.Name, m.Query.Q, m.Query.Want, m.Rank, m.Top)
		}
	}
}

// Baseline is plain SQLite FTS5 BM25 over whole documents: every document one row, the query's
// words OR-ed, ranked by bm25(). It is the bar the knowledge server's modes are measured
// against.
type Baseline struct {
	db *sql.DB
}

// NewBaseline indexes docs in an in-memory FTS5 table.
func NewBaseline(ctx context.Context, docs []Doc) (*Baseline, error) {
	db, err := sql.Open("sqlite", "file::memory:")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1) // one connection: the in-memory database is per connection
	if _, err := db.ExecContext(ctx, `CREATE VIRTUAL TABLE docs USING fts5(pkg UNINDEXED, body)`); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("creating the FTS5 table: %w", err)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	for _, d := range docs {
		if _, err := tx.ExecContext(ctx, `INSERT INTO docs(pkg, body) VALUES (?, ?)`, d.Package, d.Text); err != nil {
			_ = tx.Rollback()
			_ = db.Close()
			return nil, err
		}
	}
	if err := tx.Commit(); err != nil {
		_ = db.Close()
		return nil, err
	}
	return &Baseline{db: db}, nil
}

// Close releases the database.
func (b *Baseline) Close() error { return b.db.Close() }

// Search returns the packages of the best documents for q, best first.
func (b *Baseline) Search(ctx context.Context, q string, limit int) ([]string, error) {
	match := FTSQuery(q)
	if match == "" {
		return nil, nil
	}
	rows, err := b.db.QueryContext(ctx, `SELECT pkg FROM docs WHERE docs MATCH ? ORDER BY bm25(docs) LIMIT ?`, match, limit)
	if err != nil {
		return nil, fmt.Errorf("baseline query %q: %w", match, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// FTSQuery turns a question into an FTS5 expression: its words (runs of letters and digits),
// each quoted, OR-ed.
func FTSQuery(q string) string {
	words := strings.FieldsFunc(q, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
	for i, w := range words {
		words[i] = `"` + w + `"`
	}
	return strings.Join(words, " OR ")
}

// RunBaseline scores the baseline over qs.
func RunBaseline(ctx context.Context, docs []Doc, qs []Query) (Scores, error) {
	b, err := NewBaseline(ctx, docs)
	if err != nil {
		return Scores{}, err
	}
	defer b.Close()
	ranked := make([][]string, len(qs))
	for i, q := range qs {
		if ranked[i], err = b.Search(ctx, q.Q, 20); err != nil {
			return Scores{}, err
		}
	}
	return Score("baseline: FTS5 BM25, whole documents", qs, ranked), nil
}
