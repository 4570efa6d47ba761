package sqlite

import (
	"container/heap"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"regexp"
	"runtime"
	"slices"
	"sync"

	"github.com/mcphub/mcphub/servers/knowledge/store"
)

// A stored vector is a little-endian float32 scale followed by one int8 per dimension:
// v[i] ~ scale * q[i]. Int8 keeps the file and the in-memory copy at a quarter of float32, and
// the ranking error is far below the differences that matter between chunks.
func quantize(v []float32) []byte {
	var maxAbs float32
	for _, x := range v {
		if a := float32(math.Abs(float64(x))); a > maxAbs {
			maxAbs = a
		}
	}
	out := make([]byte, 4+len(v))
	scale := maxAbs / 127
	binary.LittleEndian.PutUint32(out, math.Float32bits(scale))
	if scale == 0 {
		return out
	}
	inv := 1 / scale
	for i, x := range v {
		out[4+i] = byte(int8(math.Round(float64(x * inv)))) //nolint:gosec // G115: |x*inv| <= 127; the byte holds the int8's bits
	}
	return out
}

// vectorIndex is the in-memory copy of one embedder's vectors, rows in no particular order.
type vectorIndex struct {
	embedder string
	dim      int
	ids      []int64
	coll     []string
	path     []string
	scale    []float32
	data     []int8 // len(ids)*dim
	pos      map[int64]int
}

func newVectorIndex(embedder string) *vectorIndex {
	return &vectorIndex{embedder: embedder, pos: map[int64]int{}}
}

// put adds or replaces the row of id; a vector of another dimension than the index's is
// ignored (it cannot come from the same embedder).
func (x *vectorIndex) put(id int64, collection, path string, q []byte) {
	if len(q) < 5 {
		return
	}
	dim := len(q) - 4
	if x.dim == 0 {
		x.dim = dim
	}
	if dim != x.dim {
		return
	}
	scale := math.Float32frombits(binary.LittleEndian.Uint32(q))
	i, ok := x.pos[id]
	if !ok {
		i = len(x.ids)
		x.pos[id] = i
		x.ids = append(x.ids, id)
		x.coll = append(x.coll, collection)
		x.path = append(x.path, path)
		x.scale = append(x.scale, scale)
		x.data = append(x.data, make([]int8, dim)...)
	} else {
		x.coll[i], x.path[i], x.scale[i] = collection, path, scale
	}
	row := x.data[i*dim : (i+1)*dim]
	for j := range row {
		row[j] = int8(q[4+j]) //nolint:gosec // G115: the byte holds an int8's bits (quantize)
	}
}

// remove drops the rows of ids, moving the last row into each hole.
func (x *vectorIndex) remove(ids []int64) {
	for _, id := range ids {
		i, ok := x.pos[id]
		if !ok {
			continue
		}
		last := len(x.ids) - 1
		if i != last {
			x.ids[i], x.coll[i], x.path[i], x.scale[i] = x.ids[last], x.coll[last], x.path[last], x.scale[last]
			copy(x.data[i*x.dim:(i+1)*x.dim], x.data[last*x.dim:(last+1)*x.dim])
			x.pos[x.ids[i]] = i
		}
		delete(x.pos, id)
		x.ids, x.coll, x.path, x.scale = x.ids[:last], x.coll[:last], x.path[:last], x.scale[:last]
		x.data = x.data[:last*x.dim]
	}
}

// dot is the int8 dot product, unrolled: the scan's inner loop.
func dot(a, b []int8) int32 {
	n := min(len(a), len(b))
	a, b = a[:n], b[:n]
	var s0, s1, s2, s3 int32
	i := 0
	for ; i+8 <= n; i += 8 {
		s0 += int32(a[i])*int32(b[i]) + int32(a[i+4])*int32(b[i+4])
		s1 += int32(a[i+1])*int32(b[i+1]) + int32(a[i+5])*int32(b[i+5])
		s2 += int32(a[i+2])*int32(b[i+2]) + int32(a[i+6])*int32(b[i+6])
		s3 += int32(a[i+3])*int32(b[i+3]) + int32(a[i+7])*int32(b[i+7])
	}
	for ; i < n; i++ {
		s0 += int32(a[i]) * int32(b[i])
	}
	return s0 + s1 + s2 + s3
}

type scored struct {
	row   int
	score float32
}

// topK is a min-heap of the best k rows seen so far.
type topK []scored

func (h topK) Len() int { return len(h) }
func (h topK) Less(i, j int) bool {
	return h[i].score < h[j].score || (h[i].score == h[j].score && h[i].row > h[j].row)
}
func (h topK) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *topK) Push(v any)   { *h = append(*h, v.(scored)) }
func (h *topK) Pop() any {
	old := *h
	v := old[len(old)-1]
	*h = old[:len(old)-1]
	return v
}

// parallelRows is the row count above which the scan is split across the CPUs.
const parallelRows = 16384

// search returns the limit rows nearest to v that pass the filter, best first.
func (x *vectorIndex) search(v []float32, f store.Filter, limit int) ([]int64, []float64, error) {
	if len(v) != x.dim || len(x.ids) == 0 {
		if len(x.ids) > 0 {
			return nil, nil, fmt.Errorf("the query vector has %d dimensions, the index %d", len(v), x.dim)
		}
		return nil, nil, nil
	}
	qb := quantize(v)
	qs := math.Float32frombits(binary.LittleEndian.Uint32(qb))
	q := make([]int8, x.dim)
	for i := range q {
		q[i] = int8(qb[4+i]) //nolint:gosec // G115: the byte holds an int8's bits (quantize)
	}
	keep, err := x.filter(f)
	if err != nil {
		return nil, nil, err
	}
	n := len(x.ids)
	parts := 1
	if n >= parallelRows {
		parts = min(runtime.GOMAXPROCS(0), 8)
	}
	heaps := make([]topK, parts)
	var wg sync.WaitGroup
	for p := range parts {
		lo, hi := n*p/parts, n*(p+1)/parts
		wg.Go(func() {
			h := make(topK, 0, limit+1)
			dim := x.dim
			for i := lo; i < hi; i++ {
				if keep != nil && !keep(i) {
					continue
				}
				s := float32(dot(q, x.data[i*dim:(i+1)*dim])) * x.scale[i]
				if len(h) < limit {
					heap.Push(&h, scored{i, s})
				} else if s > h[0].score {
					h[0] = scored{i, s}
					heap.Fix(&h, 0)
				}
			}
			heaps[p] = h
		})
	}
	wg.Wait()
	var all []scored
	for _, h := range heaps {
		all = append(all, h...)
	}
	slices.SortFunc(all, func(a, b scored) int {
		switch {
		case a.score > b.score:
			return -1
		case a.score < b.score:
			return 1
		}
		return int(x.ids[a.row] - x.ids[b.row])
	})
	if len(all) > limit {
		all = all[:limit]
	}
	ids := make([]int64, len(all))
	scores := make([]float64, len(all))
	for i, s := range all {
		ids[i] = x.ids[s.row]
		scores[i] = float64(s.score * qs)
	}
	return ids, scores, nil
}

// filter returns the row predicate of f, or nil when f keeps every row. Paths are matched once
// each: a document's chunks share one.
func (x *vectorIndex) filter(f store.Filter) (func(int) bool, error) {
	if len(f.Collections) == 0 && f.PathGlob == "" {
		return nil, nil
	}
	colls := map[string]bool{}
	for _, c := range f.Collections {
		colls[c] = true
	}
	var re *regexp.Regexp
	if f.PathGlob != "" {
		var err error
		if re, err = regexp.Compile(store.GlobRegexp(f.PathGlob)); err != nil {
			return nil, fmt.Errorf("path filter: %w", err)
		}
	}
	var mu sync.Mutex
	seen := map[string]bool{}
	return func(i int) bool {
		if len(colls) > 0 && !colls[x.coll[i]] {
			return false
		}
		if re == nil {
			return true
		}
		key := x.coll[i] + "\x00" + x.path[i]
		mu.Lock()
		ok, done := seen[key]
		mu.Unlock()
		if !done {
			ok = re.MatchString(x.path[i])
			mu.Lock()
			seen[key] = ok
			mu.Unlock()
		}
		return ok
	}, nil
}

// loadVectors reads every vector of embedder into a new index.
func (s *Store) loadVectors(ctx context.Context, embedder string) (*vectorIndex, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT v.chunk_id, v.vec, d.collection, d.path FROM kb_vectors v
		JOIN kb_chunks c ON c.id = v.chunk_id JOIN kb_documents d ON d.id = c.doc_id
		WHERE v.embedder = ?`, embedder)
	if err != nil {
		return nil, fmt.Errorf("loading vectors: %w", err)
	}
	defer rows.Close()
	x := newVectorIndex(embedder)
	for rows.Next() {
		var id int64
		var q []byte
		var c, p string
		if err := rows.Scan(&id, &q, &c, &p); err != nil {
			return nil, fmt.Errorf("loading vectors: %w", err)
		}
		x.put(id, c, p, q)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("loading vectors: %w", err)
	}
	return x, nil
}

// Vector scans the in-memory copy of q.EmbedderID's vectors, loading it first when needed.
func (s *Store) Vector(ctx context.Context, q store.VectorQuery) ([]store.Hit, error) {
	if q.Limit < 1 || len(q.Vector) == 0 || q.EmbedderID == "" {
		return nil, nil
	}
	s.vmu.RLock()
	if s.vix == nil || s.vix.embedder != q.EmbedderID {
		s.vmu.RUnlock()
		s.vmu.Lock()
		if s.vix == nil || s.vix.embedder != q.EmbedderID {
			x, err := s.loadVectors(ctx, q.EmbedderID)
			if err != nil {
				s.vmu.Unlock()
				return nil, err
			}
			s.vix = x
		}
		s.vmu.Unlock()
		s.vmu.RLock()
	}
	x := s.vix
	if x == nil || x.embedder != q.EmbedderID { // replaced between the locks: answer from disk next time
		s.vmu.RUnlock()
		return nil, nil
	}
	ids, scores, err := x.search(q.Vector, q.Filter, q.Limit)
	s.vmu.RUnlock()
	if err != nil {
		return nil, fmt.Errorf("vector search: %w", err)
	}
	return s.hitsByID(ctx, ids, scores)
}
