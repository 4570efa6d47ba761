package embed

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/mcphub/mcphub/egress"
)

const (
	// maxInputBytes bounds one text sent: knowledge chunks are far smaller, and an endpoint
	// refuses a whole batch for one text beyond its model's context.
	maxInputBytes = 32 << 10
	// probeTimeout bounds the probe that learns the vector size when the embedder starts.
	probeTimeout = 30 * time.Second
	// Backoff between retries: doubling from backoffBase, with jitter, capped; a Retry-After
	// header is honoured up to maxRetryAfter.
	backoffBase   = 500 * time.Millisecond
	backoffMax    = 20 * time.Second
	maxRetryAfter = 60 * time.Second
	// maxErrorSnippet bounds the part of an error answer quoted in an error.
	maxErrorSnippet = 300
)

// OpenAI is the openai embedder: an OpenAI-compatible POST {url}/embeddings.
type OpenAI struct {
	cfg      Config
	endpoint string
	key      string
	client   *http.Client
	logger   *slog.Logger
	dim      atomic.Int64 // learnt from the first answer when dimensions is 0
	id       string
	// sleep waits between retries; tests replace it.
	sleep func(ctx context.Context, d time.Duration) error
}

var _ Embedder = (*OpenAI)(nil)

func newOpenAI(ctx context.Context, c Config, env Env) (Embedder, error) {
	o, err := NewOpenAI(c, env)
	if err != nil {
		return nil, err
	}
	if o.dim.Load() == 0 {
		pctx, cancel := context.WithTimeout(ctx, probeTimeout)
		defer cancel()
		if _, err := o.Embed(pctx, []string{"dimension probe"}); err != nil {
			u := &UnavailableError{Kind: KindOpenAI, Err: err,
				Reason: fmt.Sprintf("the embeddings endpoint %s did not answer a probe: %v", o.endpoint, err),
				Fix:    "check servers.knowledge.embedder.url, model and the key, and that the server runs"}
			if egress.IsRefused(err) {
				u.Fix = "allow the endpoint's host in egress.allow (loopback and private addresses are refused by default)"
			}
			return nil, u
		}
	}
	env.Logger.Info("openai embedder ready", slog.String("url", o.endpoint), slog.String("model", c.Model), slog.Int("dim", o.Dim()))
	return o, nil
}

// NewOpenAI returns the openai embedder without contacting the endpoint; Dim is 0 until the
// first answer when c.Dimensions is 0. New probes instead.
func NewOpenAI(c Config, env Env) (*OpenAI, error) {
	c.Defaults()
	if env.HTTP == nil {
		return nil, errors.New("the openai embedder needs an HTTP client (the egress policy's)")
	}
	if env.Logger == nil {
		env.Logger = slog.New(slog.DiscardHandler)
	}
	o := &OpenAI{cfg: c, client: env.HTTP, logger: env.Logger, sleep: sleepCtx}
	o.dim.Store(int64(c.Dimensions))
	o.endpoint = strings.TrimRight(c.URL, "/")
	if !strings.HasSuffix(o.endpoint, "/embeddings") {
		o.endpoint += "/embeddings"
	}
	if c.APIKeyEnv != "" {
		o.key = os.Getenv(c.APIKeyEnv)
		if o.key == "" {
			return nil, &UnavailableError{Kind: KindOpenAI,
				Reason: "the environment variable " + c.APIKeyEnv + " (servers.knowledge.embedder.api_key_env) is empty",
				Fix:    "export " + c.APIKeyEnv + " with the endpoint's API key before starting mcphub, or remove api_key_env for an endpoint without keys"}
		}
	}
	o.id = "openai:" + c.Model
	if c.Dimensions > 0 {
		o.id += ":" + strconv.Itoa(c.Dimensions)
	}
	return o, nil
}

// ID implements Embedder: the model and, when requested, the dimension count. The URL is not
// part of it: the same model behind another address gives the same vectors.
func (o *OpenAI) ID() string { return o.id }

// Dim implements Embedder.
func (o *OpenAI) Dim() int { return int(o.dim.Load()) }

type embeddingsRequest struct {
	Model      string   `json:"model"`
	Input      []string `json:"input"`
	Dimensions int      `json:"dimensions,omitempty"`
}

type embeddingsResponse struct {
	Data []struct {
		Index     int       `json:"index"`
		Embedding []float64 `json:"embedding"`
	} `json:"data"`
}

// Embed implements Embedder: batches of batch_size texts, each retried on 429, 5xx and
// transport errors. Empty texts are not sent (endpoints refuse them) and get zero vectors.
func (o *OpenAI) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	out := make([][]float32, len(texts))
	var idx []int
	var batch []string
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		vecs, err := o.embedBatch(ctx, batch)
		if err != nil {
			return err
		}
		for k, i := range idx {
			out[i] = vecs[k]
		}
		idx, batch = idx[:0], batch[:0]
		return nil
	}
	for i, t := range texts {
		if strings.TrimSpace(t) == "" {
			continue
		}
		idx = append(idx, i)
		batch = append(batch, truncateUTF8(t, maxInputBytes))
		if len(batch) == o.cfg.BatchSize {
			if err := flush(); err != nil {
				return nil, err
			}
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	for i := range out {
		if out[i] == nil {
			d := o.Dim()
			if d == 0 {
				return nil, errors.New("embedding only empty texts before the vector size is known")
			}
			out[i] = make([]float32, d)
		}
	}
	return out, nil
}

func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// statusError is an answer other than 200.
type statusError struct {
	code       int
	snippet    string
	retryAfter time.Duration
}

func (e *statusError) Error() string {
	msg := fmt.Sprintf("the embeddings endpoint answered %d %s", e.code, http.StatusText(e.code))
	if e.snippet != "" {
		msg += ": " + e.snippet
	}
	return msg
}

func retryable(err error) bool {
	var se *statusError
	if errors.As(err, &se) {
		return se.code == http.StatusTooManyRequests || se.code >= 500
	}
	// Transport errors and this attempt's own timeout are retried; a refusal by the egress
	// policy would be refused again.
	return !egress.IsRefused(err) && !errors.Is(err, errBadAnswer)
}

var errBadAnswer = errors.New("bad answer")

func (o *OpenAI) embedBatch(ctx context.Context, batch []string) ([][]float32, error) {
	body, err := json.Marshal(embeddingsRequest{Model: o.cfg.Model, Input: batch, Dimensions: o.cfg.Dimensions})
	if err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		vecs, err := o.post(ctx, body, len(batch))
		if err == nil {
			return vecs, nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("embedding %d texts: %w", len(batch), context.Cause(ctx))
		}
		if attempt >= *o.cfg.MaxRetries || !retryable(err) {
			if attempt > 0 {
				return nil, fmt.Errorf("embedding %d texts (%d attempts): %w", len(batch), attempt+1, err)
			}
			return nil, fmt.Errorf("embedding %d texts: %w", len(batch), err)
		}
		wait := min(backoffBase<<attempt, backoffMax)
		wait = wait/2 + rand.N(wait/2+1) //nolint:gosec // Jitter, not a secret.
		var se *statusError
		if errors.As(err, &se) && se.retryAfter > 0 {
			wait = se.retryAfter
		}
		o.logger.Warn("embeddings request failed; retrying", slog.Int("attempt", attempt+1),
			slog.Duration("wait", wait), slog.String("error", err.Error()))
		if err := o.sleep(ctx, wait); err != nil {
			return nil, fmt.Errorf("embedding %d texts: %w", len(batch), err)
		}
	}
}

// post sends one request under its own timeout.
func (o *OpenAI) post(ctx context.Context, body []byte, n int) ([][]float32, error) {
	ctx, cancel := context.WithTimeout(ctx, o.cfg.Timeout.D())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, o.endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if o.key != "" {
		req.Header.Set("Authorization", "Bearer "+o.key)
	}
	resp, err := o.client.Do(req)
	if err != nil {
		return nil, o.redactErr(err)
	}
	defer resp.Body.Close()
	// Bound the answer: n vectors of at most maxDimensions numbers of ~24 bytes each.
	rc := egress.LimitBody(resp.Body, int64(n)*maxDimensions*24+1<<20)
	if resp.StatusCode != http.StatusOK {
		snippet, _ := io.ReadAll(io.LimitReader(rc, maxErrorSnippet))
		return nil, &statusError{code: resp.StatusCode, snippet: o.redact(strings.TrimSpace(string(snippet))),
			retryAfter: parseRetryAfter(resp.Header.Get("Retry-After"))}
	}
	var er embeddingsResponse
	if err := json.NewDecoder(rc).Decode(&er); err != nil {
		return nil, fmt.Errorf("%w: reading the answer: %w", errBadAnswer, o.redactErr(err))
	}
	if len(er.Data) != n {
		return nil, fmt.Errorf("%w: %d embeddings for %d texts", errBadAnswer, len(er.Data), n)
	}
	out := make([][]float32, n)
	for _, d := range er.Data {
		if d.Index < 0 || d.Index >= n || out[d.Index] != nil {
			return nil, fmt.Errorf("%w: embedding index %d out of range or repeated", errBadAnswer, d.Index)
		}
		if len(d.Embedding) == 0 || len(d.Embedding) > maxDimensions {
			return nil, fmt.Errorf("%w: an embedding of %d values", errBadAnswer, len(d.Embedding))
		}
		// The first answer fixes the size; every later one must match it.
		o.dim.CompareAndSwap(0, int64(len(d.Embedding)))
		if want := o.Dim(); len(d.Embedding) != want {
			return nil, fmt.Errorf("%w: an embedding of %d values, want %d (set dimensions, or re-embed after a model change)", errBadAnswer, len(d.Embedding), want)
		}
		v, ok := normalise64(d.Embedding)
		if !ok {
			return nil, fmt.Errorf("%w: an embedding with a non-finite value", errBadAnswer)
		}
		out[d.Index] = v
	}
	return out, nil
}

// normalise64 returns v as float32 scaled to unit length (a zero vector stays zero); false
// when a value is not finite.
func normalise64(v []float64) ([]float32, bool) {
	var s float64
	for _, x := range v {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, false
		}
		s += x * x
	}
	out := make([]float32, len(v))
	if s == 0 {
		return out, true
	}
	inv := 1 / math.Sqrt(s)
	for i, x := range v {
		out[i] = float32(x * inv)
	}
	return out, true
}

// redact keeps the key out of errors and logs, should an endpoint echo it.
func (o *OpenAI) redact(s string) string {
	if o.key == "" {
		return s
	}
	return strings.ReplaceAll(s, o.key, "[redacted]")
}

func (o *OpenAI) redactErr(err error) error {
	if o.key == "" || !strings.Contains(err.Error(), o.key) {
		return err
	}
	return errors.New(o.redact(err.Error()))
}

// parseRetryAfter reads seconds or an HTTP date; 0 when absent or unreadable.
func parseRetryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	var d time.Duration
	if s, err := strconv.Atoi(v); err == nil {
		d = time.Duration(s) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = time.Until(t)
	}
	if d < 0 {
		return 0
	}
	return min(d, maxRetryAfter)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}
