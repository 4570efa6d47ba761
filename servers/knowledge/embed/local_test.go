package embed

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mcphub/mcphub/configs"
)

// plantedTable is a small table where the "animal" words share one direction and the "code"
// words another, with frequent filler words.
func plantedTable(t testing.TB) *Table {
	t.Helper()
	const d = 16
	words := []string{"the", "a", "of", "is"}
	vecs := randomVecs(len(words), d, 9)
	add := func(axis int, ws ...string) {
		noise := randomVecs(len(ws), d, uint64(axis)+10)
		for i, w := range ws {
			v := noise[i]
			for k := range v {
				v[k] *= 0.3
			}
			v[axis] += 3
			words = append(words, w)
			vecs = append(vecs, v)
		}
	}
	add(1, "cat", "dog", "kitten", "puppy", "pet")
	add(2, "parse", "decode", "json", "file", "read")
	for i := range 200 { // the long tail
		words = append(words, fmt.Sprintf("filler%d", i))
		vecs = append(vecs, randomVecs(1, d, uint64(100+i))[0])
	}
	var out bytes.Buffer
	if _, err := Import(context.Background(), strings.NewReader(gloveText(words, vecs)), &out, ImportOptions{Source: "planted"}); err != nil {
		t.Fatal(err)
	}
	tab, err := ReadTable(out.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return tab
}

func cosine(a, b []float32) float64 {
	var s float64
	for i := range a {
		s += float64(a[i]) * float64(b[i])
	}
	return s
}

func TestLocalEmbed(t *testing.T) {
	e := NewLocal(plantedTable(t))
	if e.Dim() != 16 || !strings.HasPrefix(e.ID(), "local:"+localMethod+":"+importMethod+":") {
		t.Fatalf("dim %d id %s", e.Dim(), e.ID())
	}
	texts := []string{
		"the cat is a pet",
		"The Kitten of the DOG",
		"ReadFile and DecodeJSON",
		"parse_json read-file",
		"",
		"zzz qqq", // no known word
	}
	vs, err := e.Embed(context.Background(), texts)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range vs {
		var n float64
		for _, x := range v {
			n += float64(x) * float64(x)
		}
		if i >= 4 {
			if n != 0 {
				t.Errorf("%q: want the zero vector, norm² %v", texts[i], n)
			}
			continue
		}
		if math.Abs(n-1) > 1e-5 {
			t.Errorf("%q: norm² %v", texts[i], n)
		}
	}
	if same, cross := cosine(vs[0], vs[1]), cosine(vs[0], vs[2]); same < 0.8 || same < cross+0.5 {
		t.Errorf("animals %.3f vs code %.3f: the planted structure is lost", same, cross)
	}
	if same := cosine(vs[2], vs[3]); same < 0.8 {
		t.Errorf("identifier splitting: camelCase vs snake_case %.3f", same)
	}
	// Deterministic, and the same alone as in a batch.
	again, _ := e.Embed(context.Background(), texts[2:3])
	if cosine(again[0], vs[2]) < 0.99999 {
		t.Error("embedding differs between calls")
	}
}

func TestLocalIDFollowsTable(t *testing.T) {
	a := NewLocal(plantedTable(t))
	var out bytes.Buffer
	if _, err := Import(context.Background(), strings.NewReader(gloveText([]string{"x", "y"}, randomVecs(2, 4, 1))), &out, ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	tab, _ := ReadTable(out.Bytes())
	if b := NewLocal(tab); a.ID() == b.ID() {
		t.Errorf("two tables, one ID %s", a.ID())
	}
	if a.ID() != NewLocal(plantedTable(t)).ID() {
		t.Error("the same table gave two IDs")
	}
}

func TestLocalCancelled(t *testing.T) {
	e := NewLocal(plantedTable(t))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := e.Embed(ctx, make([]string, 1000)); err == nil {
		t.Error("a cancelled context embedded 1000 texts")
	}
}

func TestNewLocal(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	_, err := New(ctx, Config{}, Env{DataDir: dir})
	u, ok := AsUnavailable(err)
	if !ok {
		t.Fatalf("missing table: %v, want an UnavailableError", err)
	}
	if !strings.Contains(u.Reason, filepath.Join(dir, DefaultVectorsFile)+" does not exist") ||
		!strings.Contains(u.Fix, "make embeddings") || !strings.Contains(u.Fix, "mcphub embeddings import") {
		t.Errorf("reason %q fix %q", u.Reason, u.Fix)
	}

	if err := os.WriteFile(filepath.Join(dir, "bad.bin"), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = New(ctx, Config{Vectors: "bad.bin"}, Env{DataDir: dir})
	if u, ok := AsUnavailable(err); !ok || !strings.Contains(u.Reason, "cannot be read") {
		t.Errorf("corrupt table: %v", err)
	}

	src := gloveText([]string{"alpha", "beta"}, randomVecs(2, 4, 1))
	if _, err := ImportFile(ctx, writeTemp(t, src), filepath.Join(dir, DefaultVectorsFile), ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	e, err := New(ctx, Config{}, Env{DataDir: dir})
	if err != nil || e.Dim() != 4 {
		t.Fatalf("New: %v", err)
	}
	if e, err := New(ctx, Config{Kind: KindNone}, Env{}); e != nil || err != nil {
		t.Errorf("kind none: %v, %v", e, err)
	}
}

func writeTemp(t *testing.T, s string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "src.txt")
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []struct {
		name string
		cfg  Config
		want []string
	}{
		{"default", Config{}, nil},
		{"local with vectors", Config{Kind: "local", Vectors: "/x/vectors.bin"}, nil},
		{"none", Config{Kind: "none"}, nil},
		{"openai", Config{Kind: "openai", URL: "http://127.0.0.1:11434/v1", Model: "nomic-embed-text"}, nil},
		{"unknown kind", Config{Kind: "bert"}, []string{`servers.knowledge.embedder.kind: must be local, openai or none, got "bert"`}},
		{"local with openai keys", Config{URL: "http://x", Model: "m"}, []string{
			`servers.knowledge.embedder.model: applies to kind openai only (kind is "local")`,
			`servers.knowledge.embedder.url: applies to kind openai only (kind is "local")`,
		}},
		{"tilde", Config{Vectors: "~/v.bin"}, []string{`servers.knowledge.embedder.vectors: must not start with "~"`}},
		{"openai without url and model", Config{Kind: "openai"}, []string{
			"servers.knowledge.embedder.model: is required for kind openai",
			"servers.knowledge.embedder.url: is required for kind openai",
		}},
		{"openai bad values", Config{Kind: "openai", URL: "ftp://k:s@x/v1?q", Model: "m", APIKeyEnv: "sk-123",
			Dimensions: -1, BatchSize: 5000, Timeout: configs.Duration(time.Hour), MaxRetries: ptr(99), Vectors: "v"}, []string{
			"servers.knowledge.embedder.api_key_env: must be the NAME of an environment variable",
			"servers.knowledge.embedder.batch_size: must be between 1 and 2048",
			"servers.knowledge.embedder.dimensions: must be between 0",
			"servers.knowledge.embedder.max_retries: must be between 0 and 20",
			"servers.knowledge.embedder.timeout: must be between 1ms and 10m0s",
			"servers.knowledge.embedder.url: must be an http or https URL",
			`servers.knowledge.embedder.vectors: applies to kind local only`,
		}},
		{"openai credentials in url", Config{Kind: "openai", URL: "https://k:s@api.example/v1", Model: "m"}, []string{
			"servers.knowledge.embedder.url: must not carry credentials",
		}},
		{"none with keys", Config{Kind: "none", Model: "m", Vectors: "v"}, []string{
			"servers.knowledge.embedder.model: has no effect with kind none",
			"servers.knowledge.embedder.vectors: has no effect with kind none",
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := c.cfg
			cfg.Defaults()
			err := cfg.Validate()
			if len(c.want) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(c.want) {
				t.Fatalf("%d problems, want %d:\n%v", len(lines), len(c.want), err)
			}
			for i, w := range c.want {
				if !strings.HasPrefix(lines[i], w) {
					t.Errorf("problem %d = %q, want prefix %q", i, lines[i], w)
				}
			}
		})
	}
}

// benchTexts are 128-word chunks of documentation-like text.
func benchTexts(n int) []string {
	words := strings.Fields(`the function returns an error when the file cannot be read ReadFile
		parses the duration string such as 1h30m and HTTPServer handles each request in its own goroutine
		json decoder reads values from an input stream buffered reader with line by line scanning`)
	out := make([]string, n)
	for i := range out {
		var b strings.Builder
		for k := range 128 {
			b.WriteString(words[(i*7+k)%len(words)])
			b.WriteByte(' ')
		}
		out[i] = b.String()
	}
	return out
}

// benchTable is the imported table when MCPHUB_VECTORS names one (make bench sets it), else a
// synthetic table of 100k words of 100 dimensions with the benchmark's words in it.
func benchTable(b *testing.B) *Table {
	if p := os.Getenv("MCPHUB_VECTORS"); p != "" {
		tab, err := ReadTableFile(p)
		if err != nil {
			b.Fatal(err)
		}
		return tab
	}
	words := strings.Fields(strings.ToLower(benchTexts(1)[0]))
	seen := map[string]bool{}
	var vocab []string
	for _, w := range append(words, "read", "file", "http", "server", "parse", "duration") {
		if !seen[w] && eligible(w) {
			seen[w] = true
			vocab = append(vocab, w)
		}
	}
	for i := len(vocab); i < 100_000; i++ {
		vocab = append(vocab, fmt.Sprintf("w%d", i))
	}
	var out bytes.Buffer
	src := gloveText(vocab, randomVecs(len(vocab), 100, 42))
	if _, err := Import(context.Background(), strings.NewReader(src), &out, ImportOptions{}); err != nil {
		b.Fatal(err)
	}
	tab, err := ReadTable(out.Bytes())
	if err != nil {
		b.Fatal(err)
	}
	return tab
}

// BenchmarkLocalEmbed embeds 128-word chunks (target: about 40,000 a second per core); the
// tokenizer alone, in the same run, is the floor.
func BenchmarkLocalEmbed(b *testing.B) {
	e := NewLocal(benchTable(b))
	texts := benchTexts(256)
	ctx := context.Background()
	b.Run("embed", func(b *testing.B) {
		b.ReportAllocs()
		cpu := cpuTime()
		for b.Loop() {
			if _, err := e.Embed(ctx, texts); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N*len(texts))/b.Elapsed().Seconds(), "embeddings/s")
		// Per CPU second as well: on a busy machine wall time says little.
		b.ReportMetric(float64(b.N*len(texts))/(cpuTime()-cpu).Seconds(), "embeddings/cpu-s")
	})
	b.Run("tokenize-only", func(b *testing.B) {
		var tok tokenizer
		n := 0
		cpu := cpuTime()
		for b.Loop() {
			for _, t := range texts {
				tok.words(t, func(w []byte) bool { n += len(w); return true })
			}
		}
		b.ReportMetric(float64(b.N*len(texts))/b.Elapsed().Seconds(), "texts/s")
		b.ReportMetric(float64(b.N*len(texts))/(cpuTime()-cpu).Seconds(), "texts/cpu-s")
	})
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
