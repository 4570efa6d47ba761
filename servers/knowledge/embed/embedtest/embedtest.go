// Package embedtest serves an OpenAI-compatible /v1/embeddings endpoint on loopback for tests
// of the openai embedder's users (the knowledge server, the binary end to end).
package embedtest

import (
	"encoding/json"
	"hash/fnv"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode"
)

// Dim is the length of the vectors HashServer returns.
const Dim = 64

// synonyms map words to one form before hashing, so that texts sharing only synonyms are
// similar: what tells semantic search from keyword search in a test.
var synonyms = map[string]string{"automobile": "car", "auto": "car", "vehicle": "car", "motorcar": "car",
	"feline": "cat", "kitten": "cat", "setup": "install", "installation": "install"}

// Embed is the deterministic embedding HashServer serves: each word (after the synonym table)
// hashed to a signed dimension, summed, L2-normalised.
func Embed(text string) []float64 {
	v := make([]float64, Dim)
	for w := range strings.FieldsFuncSeq(strings.ToLower(text), func(r rune) bool { return !unicode.IsLetter(r) }) {
		if s, ok := synonyms[w]; ok {
			w = s
		}
		h := fnv.New32a()
		_, _ = h.Write([]byte(w))
		x := h.Sum32()
		if x&0x100 != 0 {
			v[x%Dim]--
		} else {
			v[x%Dim]++
		}
	}
	n := 0.0
	for _, x := range v {
		n += x * x
	}
	if n > 0 {
		for i := range v {
			v[i] /= math.Sqrt(n)
		}
	}
	return v
}

// HashServer starts the endpoint on 127.0.0.1 for the test's life and returns its base URL
// (".../v1", as servers.knowledge.embedder.url takes it).
func HashServer(tb testing.TB) string {
	tb.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Model string   `json:"model"`
			Input []string `json:"input"`
		}
		if r.URL.Path != "/v1/embeddings" || json.NewDecoder(r.Body).Decode(&req) != nil {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		type item struct {
			Object    string    `json:"object"`
			Index     int       `json:"index"`
			Embedding []float64 `json:"embedding"`
		}
		out := struct {
			Object string `json:"object"`
			Data   []item `json:"data"`
			Model  string `json:"model"`
		}{Object: "list", Model: req.Model}
		for i, in := range req.Input {
			out.Data = append(out.Data, item{Object: "embedding", Index: i, Embedding: Embed(in)})
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
	}))
	tb.Cleanup(srv.Close)
	return srv.URL + "/v1"
}
