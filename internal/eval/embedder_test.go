package eval

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/mcphub/mcphub/servers/knowledge/embed"
)

// devChunks splits a document at blank lines and packs paragraphs into chunks of about size
// bytes: a stand-in for the knowledge server's chunker, to measure the embedder alone.
func devChunks(text string, size int) []string {
	var out []string
	var cur strings.Builder
	for para := range strings.SplitSeq(text, "\n\n") {
		if cur.Len() > 0 && cur.Len()+len(para) > size {
			out = append(out, cur.String())
			cur.Reset()
		}
		cur.WriteString(para)
		cur.WriteString("\n\n")
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}

// TestEmbedderDevSet measures the local embedder alone on the dev set, with the dev chunker
// and max-similarity per document, and a plain reciprocal rank fusion with the baseline. It
// needs MCPHUB_EVAL=1 and the imported table (MCPHUB_VECTORS, default the data dir's).
func TestEmbedderDevSet(t *testing.T) {
	if os.Getenv("MCPHUB_EVAL") == "" {
		t.Skip("set MCPHUB_EVAL=1 (make eval)")
	}
	ctx := context.Background()
	vectors := os.Getenv("MCPHUB_VECTORS")
	if vectors == "" {
		t.Skip("set MCPHUB_VECTORS to an imported table")
	}
	tab, err := embed.ReadTableFile(vectors)
	if err != nil {
		t.Fatal(err)
	}
	e := embed.NewLocal(tab)
	dev, err := DevSetDir(".")
	if err != nil {
		t.Fatal(err)
	}
	qs, err := LoadQueries(filepath.Join(dev, "queries.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	docs, err := BuildCorpus(ctx, dev, CorpusDir(t))
	if err != nil {
		t.Fatal(err)
	}
	var chunkDoc []int
	var chunks []string
	for i, d := range docs {
		for _, c := range devChunks(d.Text, 1000) {
			chunks = append(chunks, c)
			chunkDoc = append(chunkDoc, i)
		}
	}
	cv, err := e.Embed(ctx, chunks)
	if err != nil {
		t.Fatal(err)
	}
	texts := make([]string, len(qs))
	for i, q := range qs {
		texts[i] = q.Q
	}
	qv, err := e.Embed(ctx, texts)
	if err != nil {
		t.Fatal(err)
	}
	base, err := NewBaseline(ctx, docs)
	if err != nil {
		t.Fatal(err)
	}
	defer base.Close()
	sem := make([][]string, len(qs))
	hyb := make([][]string, len(qs))
	for i := range qs {
		best := make([]float32, len(docs))
		for k := range best {
			best[k] = -2
		}
		for c, v := range cv {
			var dot float32
			for j := range v {
				dot += v[j] * qv[i][j]
			}
			if dot > best[chunkDoc[c]] {
				best[chunkDoc[c]] = dot
			}
		}
		order := make([]int, len(docs))
		for k := range order {
			order[k] = k
		}
		sort.SliceStable(order, func(a, b int) bool { return best[order[a]] > best[order[b]] })
		fused := map[string]float64{}
		for r, k := range order {
			sem[i] = append(sem[i], docs[k].Package)
			fused[docs[k].Package] += 1 / float64(60+r+1)
		}
		kw, err := base.Search(ctx, qs[i].Q, 50)
		if err != nil {
			t.Fatal(err)
		}
		for r, p := range kw {
			fused[p] += 1 / float64(60+r+1)
		}
		for p := range fused {
			hyb[i] = append(hyb[i], p)
		}
		sort.SliceStable(hyb[i], func(a, b int) bool {
			if fused[hyb[i][a]] != fused[hyb[i][b]] {
				return fused[hyb[i][a]] > fused[hyb[i][b]]
			}
			return hyb[i][a] < hyb[i][b]
		})
	}
	bs, err := RunBaseline(ctx, docs, qs)
	if err != nil {
		t.Fatal(err)
	}
	rows := []Scores{bs, Score("local embedder, dev chunks, max-sim", qs, sem), Score("RRF(baseline, embedder)", qs, hyb)}
	WriteTable(os.Stdout, rows)
	if os.Getenv("MCPHUB_EVAL_MISSES") != "" {
		WriteMisses(os.Stdout, rows[1:2])
	}
}
