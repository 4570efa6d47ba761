package knowledge

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/mcphub/mcphub/egress"
	"github.com/mcphub/mcphub/servers/knowledge/chunk"
	"github.com/mcphub/mcphub/servers/knowledge/store"
)

// Timing of the background work.
const (
	// debounce is how long the indexer waits after a file event for more before it scans:
	// an editor's save is several events.
	debounce = 200 * time.Millisecond
	// tick is how often the indexer checks whether a scan or a URL refresh is due.
	tick = time.Second
	// embedBatch is how many chunks are embedded in one call while catching up.
	embedBatch = 256
	// retryEmbedAfter is the pause after a failed embedding catch-up.
	retryEmbedAfter = 30 * time.Second
	// opTimeout bounds one source's indexing (read, embed, write).
	opTimeout = 5 * time.Minute
)

// run is the indexer: the first pass over every collection, then the refresh loop, until ctx
// ends. It is the only writer besides knowledge_ingest.
func (s *Server) run(ctx context.Context) {
	defer close(s.done)
	s.dropStaleCollections(ctx)
	for _, c := range s.colls {
		s.scanCollection(ctx, c)
		s.refreshURLs(ctx, c)
	}
	if ctx.Err() != nil {
		return
	}
	s.mu.Lock()
	s.firstDone = true
	s.mu.Unlock()
	close(s.ready)
	s.logger.InfoContext(ctx, "knowledge: first indexing pass done", slog.Duration("took", time.Since(s.startedAt)))

	var events <-chan string
	if s.watcher != nil {
		events = s.watcher.events
	}
	nextScan := time.Now().Add(s.cfg.ScanInterval.D())
	var nextEmbed time.Time
	dirty := map[*collection]bool{}
	var quiet <-chan time.Time
	ticker := time.NewTicker(tick)
	defer ticker.Stop()
	for {
		if s.emb != nil && !time.Now().Before(nextEmbed) {
			if err := s.embedPending(ctx); err != nil && ctx.Err() == nil {
				s.logger.WarnContext(ctx, "knowledge: embedding the pending chunks failed; retrying later", slog.String("error", err.Error()))
				nextEmbed = time.Now().Add(retryEmbedAfter)
			}
		}
		select {
		case <-ctx.Done():
			return
		case p := <-events:
			if strings.HasPrefix(p, s.dataDir+string(filepath.Separator)) {
				continue // the index's own writes, when the data dir lies inside a collection
			}
			for _, c := range s.colls {
				if c.under(p) {
					dirty[c] = true
				}
			}
			quiet = time.After(debounce)
		case <-quiet:
			quiet = nil
			for c := range dirty {
				s.scanCollection(ctx, c)
			}
			clear(dirty)
		case <-s.wake:
		case now := <-ticker.C:
			if !now.Before(nextScan) {
				for _, c := range s.colls {
					s.scanCollection(ctx, c)
				}
				nextScan = now.Add(s.cfg.ScanInterval.D())
			}
			for _, c := range s.colls {
				if len(c.cfg.URLs) > 0 && !now.Before(c.urlNext) {
					s.refreshURLs(ctx, c)
				}
			}
		}
	}
}

// dropStaleCollections deletes from the index the collections the config no longer has.
func (s *Server) dropStaleCollections(ctx context.Context) {
	names, err := s.st.Collections(ctx)
	if err != nil {
		s.logger.WarnContext(ctx, "knowledge: listing the indexed collections", slog.String("error", err.Error()))
		return
	}
	for _, n := range names {
		if s.byName[n] == nil {
			if err := s.st.DeleteCollection(ctx, n); err != nil {
				s.logger.WarnContext(ctx, "knowledge: dropping a collection no longer configured", slog.String("collection", n), slog.String("error", err.Error()))
			} else {
				s.logger.InfoContext(ctx, "knowledge: dropped a collection no longer configured", slog.String("collection", n))
			}
		}
	}
}

// scanCollection brings the collection's file documents in line with its files: new and
// changed files (by size and modification time, then content hash) are indexed, documents of
// files that are gone are deleted.
func (s *Server) scanCollection(ctx context.Context, c *collection) {
	if len(c.include) == 0 {
		c.mu.Lock()
		c.state = "ready"
		c.mu.Unlock()
		return
	}
	c.mu.Lock()
	c.state = "indexing"
	c.mu.Unlock()
	var addDir func(string)
	if s.watcher != nil {
		addDir = s.watcher.add
	}
	files, err := c.listFiles(ctx, s.cfg.MaxFiles, addDir)
	if err != nil {
		c.setError("scan", err.Error())
	} else {
		c.setError("scan", "")
	}
	existing, lerr := s.st.Documents(ctx, c.cfg.Name)
	if lerr != nil {
		c.setError("index", lerr.Error())
		return
	}
	have := make(map[string]store.DocumentInfo, len(existing))
	for _, d := range existing {
		if isFileSource(d.Source) {
			have[d.Path] = d
		}
	}
	c.mu.Lock()
	c.seen, c.indexed, c.skipped = len(files)+len(c.cfg.URLs), 0, 0
	c.mu.Unlock()
	for _, f := range files {
		if ctx.Err() != nil {
			return
		}
		old, ok := have[f.key]
		delete(have, f.key)
		c.mu.Lock()
		t, wasTouched := c.touched[f.key]
		c.mu.Unlock()
		changed := !ok || old.Size != f.size || !old.ModTime.Equal(f.mod.UTC()) || old.Source != f.abs
		if changed && (!wasTouched || t.size != f.size || !t.mod.Equal(f.mod)) {
			s.indexFile(ctx, c, f, old.Hash)
		}
		c.mu.Lock()
		c.indexed++
		c.mu.Unlock()
	}
	// Whatever is left was a file that no longer matches. If the walk failed part-way, keep
	// the documents rather than delete what may still be there.
	if err == nil {
		for key, d := range have {
			if derr := s.st.Delete(ctx, c.cfg.Name, key); derr != nil {
				c.setError(d.Source, "deleting from the index: "+derr.Error())
				continue
			}
			c.setError(d.Source, "")
		}
	}
	c.mu.Lock()
	c.lastScan = time.Now()
	if len(c.cfg.URLs) == 0 || !c.lastURLs.IsZero() {
		c.state = "ready"
	}
	c.mu.Unlock()
}

// indexFile reads one file and indexes it unless its content hash is oldHash (a touch).
func (s *Server) indexFile(ctx context.Context, c *collection, f fileEntry, oldHash string) {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	if f.size > s.cfg.MaxFileBytes {
		c.setError(f.abs, fmt.Sprintf("skipped: %d bytes, more than max_file_bytes (%d)", f.size, s.cfg.MaxFileBytes))
		return
	}
	data, err := readFile(f.abs, s.cfg.MaxFileBytes)
	if err != nil {
		c.setError(f.abs, "reading: "+err.Error())
		return
	}
	hash := hashOf(data)
	if hash == oldHash {
		// Same content, new time (a touch, a checkout): remember the new stamp so that the next
		// scan does not read the file again.
		c.mu.Lock()
		c.touched[f.key] = stamp{f.size, f.mod}
		c.mu.Unlock()
		return
	}
	ex, err := extract(f.abs, "", data, nil, int(s.cfg.MaxFileBytes))
	if errors.Is(err, errUnsupported) {
		c.mu.Lock()
		c.skipped++
		c.mu.Unlock()
		return
	}
	if err != nil {
		c.setError(f.abs, "extracting text: "+err.Error())
		return
	}
	doc := store.Document{Collection: c.cfg.Name, Path: f.key, Source: f.abs, Kind: ex.kind, Hash: hash,
		ModTime: f.mod.UTC(), Size: f.size}
	s.indexExtracted(ctx, c, doc, ex, filepath.Base(f.abs))
	c.setError(f.abs, "")
}

// indexExtracted chunks, embeds and writes one document.
func (s *Server) indexExtracted(ctx context.Context, c *collection, doc store.Document, ex extracted, fallbackTitle string) int {
	res := chunk.Split(ex.chunk, ex.body, chunk.Options{MaxChars: s.cfg.ChunkSize, Overlap: s.cfg.ChunkOverlap})
	doc.Title = firstNonEmpty(ex.title, res.Title, fallbackTitle)
	doc.Body = ex.body
	doc.Lines = res.Lines
	return s.write(ctx, c, doc, res.Chunks)
}

// write embeds the chunks (when an embedder runs) and replaces the document. An embedding
// failure does not lose the document: it is written without vectors, and the catch-up embeds
// it later. It returns the number of chunks.
func (s *Server) write(ctx context.Context, c *collection, doc store.Document, chunks []store.Chunk) int {
	doc.IndexedAt = time.Now()
	var vecs [][]float32
	embID := ""
	if s.emb != nil && len(chunks) > 0 {
		texts := make([]string, len(chunks))
		for i, ch := range chunks {
			texts[i] = embedText(doc.Title, ch.Heading, ch.Text)
		}
		v, err := s.emb.Embed(ctx, texts)
		if err != nil || len(v) != len(chunks) {
			if err == nil {
				err = fmt.Errorf("%d vectors for %d texts", len(v), len(chunks))
			}
			c.setError(doc.Source, "embedding (keyword search works; retried later): "+err.Error())
			s.embedFailures.Add(1)
			s.embedClean.Store(false)
		} else {
			vecs, embID = v, s.emb.ID()
		}
	}
	if _, err := s.st.Replace(ctx, doc, chunks, embID, vecs); err != nil {
		c.setError(doc.Source, "writing to the index: "+err.Error())
		return 0
	}
	return len(chunks)
}

// embedText is what an embedding sees of a chunk: where it is, then what it says.
func embedText(title string, heading []string, text string) string {
	var b strings.Builder
	b.WriteString(title)
	for _, h := range heading {
		if h != title {
			b.WriteString(" > ")
			b.WriteString(h)
		}
	}
	b.WriteString("\n")
	b.WriteString(text)
	return b.String()
}

// embedPending embeds every chunk that lacks a vector of the current embedder: after a change
// of embedder, or after embedding failed while indexing.
func (s *Server) embedPending(ctx context.Context) error {
	if s.embedClean.Load() {
		return nil
	}
	id := s.emb.ID()
	failures := s.embedFailures.Load()
	for ctx.Err() == nil {
		pending, err := s.st.Pending(ctx, id, embedBatch)
		if err != nil {
			return err
		}
		if len(pending) == 0 {
			if s.embedFailures.Load() == failures {
				s.embedClean.Store(true)
			}
			return nil
		}
		texts := make([]string, len(pending))
		ids := make([]int64, len(pending))
		for i, p := range pending {
			texts[i] = embedText(p.Title, p.Heading, p.Text)
			ids[i] = p.ID
		}
		ectx, cancel := context.WithTimeout(ctx, opTimeout)
		vecs, err := s.emb.Embed(ectx, texts)
		cancel()
		if err != nil {
			return fmt.Errorf("embedding %d chunks: %w", len(texts), err)
		}
		if len(vecs) != len(ids) {
			return fmt.Errorf("embedding %d chunks: got %d vectors", len(ids), len(vecs))
		}
		if err := s.st.SetVectors(ctx, id, ids, vecs); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// refreshURLs fetches the collection's URLs and re-indexes the ones whose content changed;
// documents of URLs no longer configured are deleted.
func (s *Server) refreshURLs(ctx context.Context, c *collection) {
	if len(c.cfg.URLs) == 0 {
		return
	}
	c.mu.Lock()
	c.state = "indexing"
	c.mu.Unlock()
	existing, err := s.st.Documents(ctx, c.cfg.Name)
	if err != nil {
		c.setError("index", err.Error())
		return
	}
	have := map[string]store.DocumentInfo{}
	for _, d := range existing {
		if isURLSource(d.Source) {
			have[d.Path] = d
		}
	}
	for _, raw := range c.cfg.URLs {
		if ctx.Err() != nil {
			return
		}
		key := urlKey(raw)
		old, ok := have[key]
		delete(have, key)
		oldHash := ""
		if ok {
			oldHash = old.Hash
		}
		if err := s.indexURL(ctx, c, raw, key, oldHash); err != nil {
			c.setError(raw, err.Error())
		} else {
			c.setError(raw, "")
		}
		c.mu.Lock()
		c.indexed++
		c.mu.Unlock()
	}
	for key := range have {
		_ = s.st.Delete(ctx, c.cfg.Name, key)
	}
	c.mu.Lock()
	c.lastURLs = time.Now()
	c.urlNext = c.lastURLs.Add(c.cfg.RefreshInterval.D())
	c.state = "ready"
	c.mu.Unlock()
}

// indexURL fetches one URL through the egress policy and indexes it when its content changed.
func (s *Server) indexURL(ctx context.Context, c *collection, raw, key, oldHash string) error {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, raw, nil)
	if err != nil {
		return fmt.Errorf("building the request: %w", err)
	}
	req.Header.Set("Accept", "text/html, text/markdown, text/plain;q=0.9, */*;q=0.5")
	resp, err := s.client.Do(req)
	if err != nil {
		if egress.IsRefused(err) {
			var ue *url.Error
			if errors.As(err, &ue) {
				err = ue.Err
			}
			return fmt.Errorf("refused: %w", err)
		}
		return fmt.Errorf("fetching: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("fetching: HTTP %s", resp.Status)
	}
	body := egress.LimitBody(resp.Body, s.cfg.MaxFileBytes)
	data, err := io.ReadAll(body)
	if err != nil {
		if errors.Is(err, egress.ErrTooLarge) {
			return fmt.Errorf("skipped: larger than max_file_bytes (%d)", s.cfg.MaxFileBytes)
		}
		return fmt.Errorf("reading the response: %w", err)
	}
	hash := hashOf(data)
	if hash == oldHash {
		return nil
	}
	final := resp.Request.URL // after redirects
	ex, err := extract(final.Path, resp.Header.Get("Content-Type"), data, final, int(s.cfg.MaxFileBytes))
	if errors.Is(err, errUnsupported) {
		return fmt.Errorf("skipped: %s is %w", resp.Header.Get("Content-Type"), errUnsupported)
	}
	if err != nil {
		return fmt.Errorf("extracting text: %w", err)
	}
	mod := time.Now().UTC()
	if lm, err := http.ParseTime(resp.Header.Get("Last-Modified")); err == nil {
		mod = lm.UTC()
	}
	doc := store.Document{Collection: c.cfg.Name, Path: key, Source: raw, Kind: ex.kind, Hash: hash, ModTime: mod, Size: int64(len(data))}
	s.indexExtracted(ctx, c, doc, ex, raw)
	return nil
}

func hashOf(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// readFile reads at most limit bytes of the file; a longer file is an error.
func readFile(name string, limit int64) ([]byte, error) {
	f, err := os.Open(name) //nolint:gosec // G304: the files the operator's globs name
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("larger than max_file_bytes (%d)", limit)
	}
	return data, nil
}

func firstNonEmpty(ss ...string) string {
	if i := slices.IndexFunc(ss, func(s string) bool { return strings.TrimSpace(s) != "" }); i >= 0 {
		return strings.TrimSpace(ss[i])
	}
	return ""
}
