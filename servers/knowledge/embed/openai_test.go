package embed

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcphub/mcphub/configs"
	"github.com/mcphub/mcphub/egress"
)

// fakeEmbeddings is a deterministic /v1/embeddings server on 127.0.0.1: a text's vector is
// derived from its SHA-256, unnormalised (so that the client's normalisation shows), in the
// order of the input or reversed (the index field decides).
type fakeEmbeddings struct {
	dim      int
	key      string
	reverse  bool
	mu       sync.Mutex
	batches  []int  // sizes of the batches served
	failures []int  // status codes to answer before serving, consumed in order
	retryHdr string // Retry-After sent with failures
	delay    time.Duration
	hits     atomic.Int64
	bodies   []map[string]any
}

func fakeVector(text string, dim int) []float64 {
	v := make([]float64, dim)
	seed := sha256.Sum256([]byte(text))
	for i := range v {
		h := sha256.Sum256(append(seed[:], byte(i)))
		v[i] = float64(int32(binary.LittleEndian.Uint32(h[:]))) / (1 << 28)
	}
	return v
}

func (f *fakeEmbeddings) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.hits.Add(1)
	if f.delay > 0 {
		select {
		case <-time.After(f.delay):
		case <-r.Context().Done():
			return
		}
	}
	if r.URL.Path != "/v1/embeddings" || r.Method != http.MethodPost {
		http.Error(w, `{"error":{"message":"no route"}}`, http.StatusNotFound)
		return
	}
	if f.key != "" && r.Header.Get("Authorization") != "Bearer "+f.key {
		http.Error(w, `{"error":{"message":"Incorrect API key provided: `+strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")+`"}}`, http.StatusUnauthorized)
		return
	}
	f.mu.Lock()
	if len(f.failures) > 0 {
		code := f.failures[0]
		f.failures = f.failures[1:]
		f.mu.Unlock()
		if f.retryHdr != "" {
			w.Header().Set("Retry-After", f.retryHdr)
		}
		http.Error(w, `{"error":{"message":"busy"}}`, code)
		return
	}
	f.mu.Unlock()
	var req struct {
		Model      string   `json:"model"`
		Input      []string `json:"input"`
		Dimensions int      `json:"dimensions"`
	}
	var raw map[string]any
	body := json.NewDecoder(r.Body)
	if err := body.Decode(&raw); err != nil {
		http.Error(w, "bad json", http.StatusBadRequest)
		return
	}
	b, _ := json.Marshal(raw)
	_ = json.Unmarshal(b, &req)
	for _, in := range req.Input {
		if in == "" {
			http.Error(w, `{"error":{"message":"'$.input' is invalid"}}`, http.StatusBadRequest)
			return
		}
	}
	dim := f.dim
	if req.Dimensions > 0 {
		dim = req.Dimensions
	}
	f.mu.Lock()
	f.batches = append(f.batches, len(req.Input))
	f.bodies = append(f.bodies, raw)
	f.mu.Unlock()
	type item struct {
		Object    string    `json:"object"`
		Index     int       `json:"index"`
		Embedding []float64 `json:"embedding"`
	}
	resp := struct {
		Object string `json:"object"`
		Data   []item `json:"data"`
		Model  string `json:"model"`
	}{Object: "list", Model: req.Model}
	for i, in := range req.Input {
		resp.Data = append(resp.Data, item{Object: "embedding", Index: i, Embedding: fakeVector(req.Model+"|"+in, dim)})
	}
	if f.reverse {
		for i, j := 0, len(resp.Data)-1; i < j; i, j = i+1, j-1 {
			resp.Data[i], resp.Data[j] = resp.Data[j], resp.Data[i]
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(resp)
}

// loopbackClient is the egress client with loopback allowed, as a test config would have it.
func loopbackClient(t *testing.T) *http.Client {
	t.Helper()
	pol, err := egress.New(configs.EgressConfig{Allow: []string{"127.0.0.1/32"}})
	if err != nil {
		t.Fatal(err)
	}
	return pol.Client(egress.ClientOptions{Timeout: 10 * time.Second})
}

func openaiConfig(url string) Config {
	c := Config{Kind: KindOpenAI, URL: url + "/v1", Model: "test-embed", BatchSize: 3, Timeout: configs.Duration(5 * time.Second), MaxRetries: ptr(3)}
	c.Defaults()
	return c
}

func noSleep(context.Context, time.Duration) error { return nil }

func TestOpenAIEmbed(t *testing.T) {
	f := &fakeEmbeddings{dim: 8, key: "sk-test-123", reverse: true}
	srv := httptest.NewServer(f)
	defer srv.Close()
	t.Setenv("TEST_EMBED_KEY", "sk-test-123")
	c := openaiConfig(srv.URL)
	c.APIKeyEnv = "TEST_EMBED_KEY"
	e, err := New(context.Background(), c, Env{HTTP: loopbackClient(t)})
	if err != nil {
		t.Fatal(err)
	}
	if e.Dim() != 8 || e.ID() != "openai:test-embed" {
		t.Fatalf("dim %d id %s", e.Dim(), e.ID())
	}
	texts := []string{"one", "two", "", "three", "four", "  ", "five", "six", "seven"}
	vs, err := e.Embed(context.Background(), texts)
	if err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	batches := append([]int(nil), f.batches[1:]...) // after the probe
	f.mu.Unlock()
	if len(batches) != 3 || batches[0] != 3 || batches[1] != 3 || batches[2] != 1 {
		t.Errorf("batches %v, want [3 3 1] (empty texts not sent)", batches)
	}
	for i, text := range texts {
		if strings.TrimSpace(text) == "" {
			for _, x := range vs[i] {
				if x != 0 {
					t.Fatalf("%q: want a zero vector", text)
				}
			}
			continue
		}
		want, _ := normalise64(fakeVector("test-embed|"+text, 8))
		if cosine(vs[i], want) < 0.99999 {
			t.Errorf("%q: vector out of order or not normalised", text)
		}
	}
}

func TestOpenAIDimensionsSent(t *testing.T) {
	f := &fakeEmbeddings{dim: 8}
	srv := httptest.NewServer(f)
	defer srv.Close()
	c := openaiConfig(srv.URL)
	c.Dimensions = 4
	e, err := New(context.Background(), c, Env{HTTP: loopbackClient(t)})
	if err != nil {
		t.Fatal(err)
	}
	if f.hits.Load() != 0 {
		t.Error("probed although dimensions is set")
	}
	if e.ID() != "openai:test-embed:4" {
		t.Errorf("id %s", e.ID())
	}
	vs, err := e.Embed(context.Background(), []string{"x"})
	if err != nil || len(vs[0]) != 4 {
		t.Fatalf("%v %v", vs, err)
	}
	if got := f.bodies[0]["dimensions"]; got != float64(4) {
		t.Errorf("dimensions sent %v", got)
	}
}

func TestOpenAIRetries(t *testing.T) {
	for _, c := range []struct {
		name     string
		failures []int
		retries  int
		wantErr  string
		wantHits int64
	}{
		{"429 then ok", []int{429, 429}, 3, "", 3},
		{"503 then ok", []int{503}, 3, "", 2},
		{"too many failures", []int{500, 502, 503, 504}, 3, "answered 504 Gateway Timeout: {\"error\":{\"message\":\"busy\"}}", 4},
		{"no retries", []int{503}, 0, "answered 503", 1},
		{"400 is not retried", []int{400, 400}, 3, "answered 400", 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := &fakeEmbeddings{dim: 4, failures: c.failures, retryHdr: "1"}
			srv := httptest.NewServer(f)
			defer srv.Close()
			cfg := openaiConfig(srv.URL)
			cfg.Dimensions = 4
			cfg.MaxRetries = ptr(c.retries)
			o, err := NewOpenAI(cfg, Env{HTTP: loopbackClient(t)})
			if err != nil {
				t.Fatal(err)
			}
			var waits []time.Duration
			o.sleep = func(_ context.Context, d time.Duration) error { waits = append(waits, d); return nil }
			_, err = o.Embed(context.Background(), []string{"a"})
			if c.wantErr == "" && err != nil || c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)) {
				t.Fatalf("error %v, want %q", err, c.wantErr)
			}
			if f.hits.Load() != c.wantHits {
				t.Errorf("%d requests, want %d", f.hits.Load(), c.wantHits)
			}
			for _, w := range waits {
				if w != time.Second {
					t.Errorf("waited %s, want the Retry-After of 1s", w)
				}
			}
		})
	}
}

func TestOpenAIBackoffWithoutRetryAfter(t *testing.T) {
	f := &fakeEmbeddings{dim: 4, failures: []int{503, 503, 503}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	cfg := openaiConfig(srv.URL)
	cfg.Dimensions = 4
	o, _ := NewOpenAI(cfg, Env{HTTP: loopbackClient(t)})
	var waits []time.Duration
	o.sleep = func(_ context.Context, d time.Duration) error { waits = append(waits, d); return nil }
	if _, err := o.Embed(context.Background(), []string{"a"}); err != nil {
		t.Fatal(err)
	}
	if len(waits) != 3 {
		t.Fatalf("waits %v", waits)
	}
	for i, w := range waits {
		base := backoffBase << i
		if w < base/2 || w > base {
			t.Errorf("wait %d = %s, want within [%s, %s]", i, w, base/2, base)
		}
	}
}

func TestOpenAITimeout(t *testing.T) {
	f := &fakeEmbeddings{dim: 4, delay: 2 * time.Second}
	srv := httptest.NewServer(f)
	defer srv.Close()
	cfg := openaiConfig(srv.URL)
	cfg.Dimensions = 4
	cfg.Timeout = configs.Duration(100 * time.Millisecond)
	cfg.MaxRetries = ptr(1)
	o, _ := NewOpenAI(cfg, Env{HTTP: loopbackClient(t)})
	o.sleep = noSleep
	start := time.Now()
	_, err := o.Embed(context.Background(), []string{"a"})
	if err == nil || !errors.Is(err, context.DeadlineExceeded) && !strings.Contains(err.Error(), "deadline") {
		t.Fatalf("error %v, want a timeout", err)
	}
	if f.hits.Load() != 2 {
		t.Errorf("%d requests, want 2 (a timeout is retried)", f.hits.Load())
	}
	if time.Since(start) > 1500*time.Millisecond {
		t.Errorf("took %s", time.Since(start))
	}
	// The caller's own cancellation stops at once, without retrying.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	cfg.Timeout = configs.Duration(5 * time.Second)
	cfg.MaxRetries = ptr(5)
	o, _ = NewOpenAI(cfg, Env{HTTP: loopbackClient(t)})
	before := f.hits.Load()
	if _, err := o.Embed(ctx, []string{"a"}); err == nil {
		t.Fatal("no error after the caller's deadline")
	}
	if f.hits.Load()-before != 1 {
		t.Errorf("%d requests after the caller's deadline", f.hits.Load()-before)
	}
}

func TestOpenAIUnavailable(t *testing.T) {
	f := &fakeEmbeddings{dim: 4, key: "right"}
	srv := httptest.NewServer(f)
	defer srv.Close()
	ctx := context.Background()

	// The key variable is empty.
	c := openaiConfig(srv.URL)
	c.APIKeyEnv = "TEST_EMBED_EMPTY"
	t.Setenv("TEST_EMBED_EMPTY", "")
	_, err := New(ctx, c, Env{HTTP: loopbackClient(t)})
	if u, ok := AsUnavailable(err); !ok || !strings.Contains(u.Reason, "TEST_EMBED_EMPTY") {
		t.Fatalf("empty key: %v", err)
	}

	// A wrong key: the probe fails with 401, not retried, and the key is not echoed.
	t.Setenv("TEST_EMBED_WRONG", "wrong-key-value")
	c.APIKeyEnv = "TEST_EMBED_WRONG"
	before := f.hits.Load()
	_, err = New(ctx, c, Env{HTTP: loopbackClient(t)})
	u, ok := AsUnavailable(err)
	if !ok || !strings.Contains(u.Reason, "401") || strings.Contains(err.Error(), "wrong-key-value") {
		t.Fatalf("wrong key: %v", err)
	}
	if f.hits.Load()-before != 1 {
		t.Errorf("a 401 was retried")
	}

	// The default egress policy refuses loopback: the fix names egress.allow.
	pol, _ := egress.New(configs.EgressConfig{})
	c.APIKeyEnv = ""
	_, err = New(ctx, c, Env{HTTP: pol.Client(egress.ClientOptions{})})
	if u, ok := AsUnavailable(err); !ok || !strings.Contains(u.Fix, "egress.allow") || !egress.IsRefused(err) {
		t.Fatalf("refused: %v", err)
	}

	// No client at all is a programming error, not an unavailable endpoint.
	if _, err := New(ctx, c, Env{}); err == nil {
		t.Error("no HTTP client: no error")
	}
}

func TestOpenAIBadAnswers(t *testing.T) {
	for _, c := range []struct {
		name, body, want string
	}{
		{"not json", "<html>", "reading the answer"},
		{"too few", `{"data":[]}`, "0 embeddings for 1 texts"},
		{"bad index", `{"data":[{"index":5,"embedding":[1,2]}]}`, "index 5"},
		{"wrong size", `{"data":[{"index":0,"embedding":[1,2,3]}]}`, "3 values, want 2"},
		{"empty vector", `{"data":[{"index":0,"embedding":[]}]}`, "0 values"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var hits atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				hits.Add(1)
				_, _ = w.Write([]byte(c.body))
			}))
			defer srv.Close()
			cfg := openaiConfig(srv.URL)
			cfg.Dimensions = 2
			o, _ := NewOpenAI(cfg, Env{HTTP: loopbackClient(t)})
			o.sleep = noSleep
			_, err := o.Embed(context.Background(), []string{"a"})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want %q", err, c.want)
			}
			if hits.Load() != 1 {
				t.Errorf("a bad answer was retried %d times", hits.Load()-1)
			}
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"": 0, "3": 3 * time.Second, "x": 0, "-1": 0, "9999": maxRetryAfter,
		time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat): 0,
	} {
		if got := parseRetryAfter(in); got != want {
			t.Errorf("parseRetryAfter(%q) = %s, want %s", in, got, want)
		}
	}
}

func ptr[T any](v T) *T { return &v }
