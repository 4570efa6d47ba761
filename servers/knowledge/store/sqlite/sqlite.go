// Package sqlite is the knowledge index in one SQLite file (the pure-Go modernc driver, no
// cgo): documents and chunks in tables, keywords in a contentless FTS5 table (porter stemming,
// BM25 with the title and headings weighted above the body), and vectors as int8 blobs with a
// per-row scale. Vector search is a brute-force scan over an in-memory copy of the current
// embedder's vectors (100k chunks x 100 dimensions is 10 MB and a few milliseconds), loaded on
// first use and kept in step with every write.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" driver

	"github.com/mcphub/mcphub/servers/knowledge/store"
)

// schema is created on open. kb_fts is contentless (an empty content option): the text lives once, in
// kb_chunks, and the FTS rowid is the chunk id; contentless_delete lets a replaced document's
// rows go. AUTOINCREMENT keeps chunk ids from being reused, which the in-memory vector index
// and SetVectors (for chunks replaced while being embedded) rely on.
var schema = []string{
	`CREATE TABLE IF NOT EXISTS kb_documents (
		id INTEGER PRIMARY KEY,
		collection TEXT NOT NULL,
		path TEXT NOT NULL,
		source TEXT NOT NULL,
		title TEXT NOT NULL,
		kind TEXT NOT NULL,
		hash TEXT NOT NULL,
		mod_time INTEGER NOT NULL,
		size INTEGER NOT NULL,
		lines INTEGER NOT NULL,
		indexed_at INTEGER NOT NULL,
		body TEXT NOT NULL,
		UNIQUE (collection, path)
	)`,
	`CREATE TABLE IF NOT EXISTS kb_chunks (
		id INTEGER PRIMARY KEY AUTOINCREMENT,
		doc_id INTEGER NOT NULL REFERENCES kb_documents (id) ON DELETE CASCADE,
		ordinal INTEGER NOT NULL,
		heading TEXT NOT NULL,
		start_line INTEGER NOT NULL,
		end_line INTEGER NOT NULL,
		text TEXT NOT NULL
	)`,
	`CREATE INDEX IF NOT EXISTS kb_chunks_doc ON kb_chunks (doc_id)`,
	`CREATE TABLE IF NOT EXISTS kb_vectors (
		chunk_id INTEGER PRIMARY KEY REFERENCES kb_chunks (id) ON DELETE CASCADE,
		embedder TEXT NOT NULL,
		vec BLOB NOT NULL
	)`,
	`CREATE INDEX IF NOT EXISTS kb_vectors_embedder ON kb_vectors (embedder)`,
	`CREATE VIRTUAL TABLE IF NOT EXISTS kb_fts USING fts5 (
		title, heading, text, extra,
		content = '', contentless_delete = 1,
		tokenize = 'porter unicode61 remove_diacritics 2'
	)`,
}

// bm25Weights rank a term in the title above one in a heading, above the body and the
// index-only extra text. Stored as the table's persistent rank, so that `ORDER BY rank` (ours
// and the benchmark's bare FTS5 baseline alike) uses them.
const bm25Weights = "bm25(4.0, 2.0, 1.0, 1.0)"

// headingSep joins a heading trail in one column; it cannot occur in a heading (the chunker
// drops control characters from headings).
const headingSep = "\x1f"

// busyTimeoutMS is how long a writer waits for another process holding the file.
const busyTimeoutMS = 10000

// Store is the SQLite knowledge index.
type Store struct {
	w, r *sql.DB
	path string

	vmu sync.RWMutex
	vix *vectorIndex // nil until a vector search or a write with vectors needs it
}

var _ store.Store = (*Store)(nil)

// Open opens (creating) the index at path.
func Open(ctx context.Context, path string) (*Store, error) {
	pragmas := []string{
		fmt.Sprintf("busy_timeout(%d)", busyTimeoutMS),
		"journal_mode(WAL)",
		"foreign_keys(1)",
		"synchronous(NORMAL)",
	}
	base := "file:" + (&url.URL{Path: path}).EscapedPath()
	wq := url.Values{"_txlock": {"immediate"}}
	rq := url.Values{}
	for _, p := range pragmas {
		wq.Add("_pragma", p)
		rq.Add("_pragma", p)
	}
	rq.Add("_pragma", "query_only(1)")
	// Readers keep a larger page cache than the default 2 MB: searches touch the FTS and chunk
	// b-trees all over, and a small cache turns them into reads. (Memory-mapping the file was
	// no faster here, and counts the whole index in the process's resident memory.)
	rq.Add("_pragma", "cache_size(-16000)")
	w, err := sql.Open("sqlite", base+"?"+wq.Encode())
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	// One writer: SQLite serialises writers anyway, and queueing in the pool is cheaper than
	// the busy handler.
	w.SetMaxOpenConns(1)
	s := &Store{w: w, path: path}
	if err := s.init(ctx); err != nil {
		_ = w.Close()
		return nil, err
	}
	r, err := sql.Open("sqlite", base+"?"+rq.Encode())
	if err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	r.SetMaxOpenConns(4)
	r.SetMaxIdleConns(4)
	s.r = r
	return s, nil
}

func (s *Store) init(ctx context.Context) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("creating the index schema: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	for _, stmt := range schema {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("creating the index schema: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO kb_fts (kb_fts, rank) VALUES ('rank', ?)`, bm25Weights); err != nil {
		return fmt.Errorf("setting the BM25 weights: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("creating the index schema: %w", err)
	}
	return nil
}

// Path returns the file the index lives in.
func (s *Store) Path() string { return s.path }

// Close closes both pools.
func (s *Store) Close() error {
	return errors.Join(s.r.Close(), s.w.Close())
}

// DB returns the read-only pool, for benchmarks that compare against a bare FTS5 query on the
// same data.
func (s *Store) DB() *sql.DB { return s.r }

// FTSMatch returns the FTS5 MATCH expression Keyword runs for terms: each term quoted, ORed.
func FTSMatch(terms []string) string {
	var b strings.Builder
	for i, t := range terms {
		if i > 0 {
			b.WriteString(" OR ")
		}
		b.WriteByte('"')
		b.WriteString(strings.ReplaceAll(t, `"`, `""`))
		b.WriteByte('"')
	}
	return b.String()
}

// Replace writes the document, its chunks, their FTS rows and vectors in one transaction.
func (s *Store) Replace(ctx context.Context, doc store.Document, chunks []store.Chunk, embedderID string, vecs [][]float32) ([]int64, error) {
	if vecs != nil && len(vecs) != len(chunks) {
		return nil, fmt.Errorf("replacing %s/%s: %d vectors for %d chunks", doc.Collection, doc.Path, len(vecs), len(chunks))
	}
	if doc.IndexedAt.IsZero() {
		doc.IndexedAt = time.Now()
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("replacing %s/%s: %w", doc.Collection, doc.Path, err)
	}
	defer func() { _ = tx.Rollback() }()
	old, err := deleteDoc(ctx, tx, doc.Collection, doc.Path)
	if err != nil {
		return nil, fmt.Errorf("replacing %s/%s: %w", doc.Collection, doc.Path, err)
	}
	var docID int64
	err = tx.QueryRowContext(ctx, `INSERT INTO kb_documents
		(collection, path, source, title, kind, hash, mod_time, size, lines, indexed_at, body)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		doc.Collection, doc.Path, doc.Source, doc.Title, doc.Kind, doc.Hash, doc.ModTime.UnixNano(),
		doc.Size, doc.Lines, doc.IndexedAt.UnixNano(), doc.Body).Scan(&docID)
	if err != nil {
		return nil, fmt.Errorf("replacing %s/%s: %w", doc.Collection, doc.Path, err)
	}
	ids := make([]int64, len(chunks))
	var blobs [][]byte // the quantised vectors, kept for the in-memory index
	if len(chunks) > 0 {
		insChunk, err := tx.PrepareContext(ctx, `INSERT INTO kb_chunks (doc_id, ordinal, heading, start_line, end_line, text)
			VALUES (?, ?, ?, ?, ?, ?) RETURNING id`)
		if err != nil {
			return nil, fmt.Errorf("replacing %s/%s: %w", doc.Collection, doc.Path, err)
		}
		defer insChunk.Close()
		insFTS, err := tx.PrepareContext(ctx, `INSERT INTO kb_fts (rowid, title, heading, text, extra) VALUES (?, ?, ?, ?, ?)`)
		if err != nil {
			return nil, fmt.Errorf("replacing %s/%s: %w", doc.Collection, doc.Path, err)
		}
		defer insFTS.Close()
		var insVec *sql.Stmt
		if vecs != nil {
			if insVec, err = tx.PrepareContext(ctx, `INSERT INTO kb_vectors (chunk_id, embedder, vec) VALUES (?, ?, ?)`); err != nil {
				return nil, fmt.Errorf("replacing %s/%s: %w", doc.Collection, doc.Path, err)
			}
			defer insVec.Close()
		}
		for i, c := range chunks {
			heading := strings.Join(c.Heading, headingSep)
			if err := insChunk.QueryRowContext(ctx, docID, c.Ordinal, heading, c.StartLine, c.EndLine, c.Text).Scan(&ids[i]); err != nil {
				return nil, fmt.Errorf("replacing %s/%s: chunk %d: %w", doc.Collection, doc.Path, i, err)
			}
			if _, err := insFTS.ExecContext(ctx, ids[i], doc.Title, strings.Join(c.Heading, " "), c.Text, c.Extra); err != nil {
				return nil, fmt.Errorf("replacing %s/%s: chunk %d: %w", doc.Collection, doc.Path, i, err)
			}
			if insVec != nil {
				q := quantize(vecs[i])
				blobs = append(blobs, q)
				if _, err := insVec.ExecContext(ctx, ids[i], embedderID, q); err != nil {
					return nil, fmt.Errorf("replacing %s/%s: vector %d: %w", doc.Collection, doc.Path, i, err)
				}
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("replacing %s/%s: %w", doc.Collection, doc.Path, err)
	}
	s.vmu.Lock()
	if s.vix != nil {
		s.vix.remove(old)
		if s.vix.embedder == embedderID {
			for i, q := range blobs {
				s.vix.put(ids[i], doc.Collection, doc.Path, q)
			}
		}
	}
	s.vmu.Unlock()
	return ids, nil
}

// deleteDoc removes a document and everything hanging off it inside tx and returns the ids of
// its chunks.
func deleteDoc(ctx context.Context, tx *sql.Tx, collection, path string) ([]int64, error) {
	var docID int64
	err := tx.QueryRowContext(ctx, `SELECT id FROM kb_documents WHERE collection = ? AND path = ?`, collection, path).Scan(&docID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	rows, err := tx.QueryContext(ctx, `SELECT id FROM kb_chunks WHERE doc_id = ?`, docID)
	if err != nil {
		return nil, err
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			_ = rows.Close()
			return nil, err
		}
		ids = append(ids, id)
	}
	_ = rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, stmt := range []string{
		`DELETE FROM kb_fts WHERE rowid IN (SELECT id FROM kb_chunks WHERE doc_id = ?)`,
		`DELETE FROM kb_vectors WHERE chunk_id IN (SELECT id FROM kb_chunks WHERE doc_id = ?)`,
		`DELETE FROM kb_chunks WHERE doc_id = ?`,
		`DELETE FROM kb_documents WHERE id = ?`,
	} {
		if _, err := tx.ExecContext(ctx, stmt, docID); err != nil {
			return nil, err
		}
	}
	return ids, nil
}

// Delete removes one document.
func (s *Store) Delete(ctx context.Context, collection, path string) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("deleting %s/%s: %w", collection, path, err)
	}
	defer func() { _ = tx.Rollback() }()
	old, err := deleteDoc(ctx, tx, collection, path)
	if err != nil {
		return fmt.Errorf("deleting %s/%s: %w", collection, path, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("deleting %s/%s: %w", collection, path, err)
	}
	s.vmu.Lock()
	if s.vix != nil {
		s.vix.remove(old)
	}
	s.vmu.Unlock()
	return nil
}

// DeleteCollection removes every document of the collection.
func (s *Store) DeleteCollection(ctx context.Context, collection string) error {
	docs, err := s.Documents(ctx, collection)
	if err != nil {
		return err
	}
	for _, d := range docs {
		if err := s.Delete(ctx, collection, d.Path); err != nil {
			return err
		}
	}
	return nil
}

// Collections returns the collections that have documents.
func (s *Store) Collections(ctx context.Context) ([]string, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT DISTINCT collection FROM kb_documents ORDER BY collection`)
	if err != nil {
		return nil, fmt.Errorf("listing collections: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, fmt.Errorf("listing collections: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

const docColumns = `collection, path, source, title, kind, hash, mod_time, size, lines, indexed_at`

func scanDoc(sc interface{ Scan(...any) error }, extra ...any) (store.Document, error) {
	var d store.Document
	var mod, indexed int64
	err := sc.Scan(append([]any{&d.Collection, &d.Path, &d.Source, &d.Title, &d.Kind, &d.Hash, &mod, &d.Size, &d.Lines, &indexed}, extra...)...)
	d.ModTime = time.Unix(0, mod).UTC()
	d.IndexedAt = time.Unix(0, indexed).UTC()
	return d, err
}

// Documents lists a collection's documents without bodies.
func (s *Store) Documents(ctx context.Context, collection string) ([]store.DocumentInfo, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+docColumns+` FROM kb_documents WHERE collection = ? ORDER BY path`, collection)
	if err != nil {
		return nil, fmt.Errorf("listing documents of %s: %w", collection, err)
	}
	defer rows.Close()
	var out []store.DocumentInfo
	for rows.Next() {
		d, err := scanDoc(rows)
		if err != nil {
			return nil, fmt.Errorf("listing documents of %s: %w", collection, err)
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// Document returns one document with its body.
func (s *Store) Document(ctx context.Context, collection, path string) (*store.Document, error) {
	var body string
	d, err := scanDoc(s.r.QueryRowContext(ctx, `SELECT `+docColumns+`, body FROM kb_documents WHERE collection = ? AND path = ?`,
		collection, path), &body)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("document %s/%s: %w", collection, path, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("reading document %s/%s: %w", collection, path, err)
	}
	d.Body = body
	return &d, nil
}

// filterSQL returns the WHERE conditions (each starting with AND) and arguments for f over the
// kb_documents alias d.
func filterSQL(f store.Filter) (string, []any) {
	var b strings.Builder
	var args []any
	if len(f.Collections) > 0 {
		b.WriteString(" AND d.collection IN (")
		for i, c := range f.Collections {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("?")
			args = append(args, c)
		}
		b.WriteString(")")
	}
	if f.PathGlob != "" {
		b.WriteString(" AND d.path GLOB ?")
		args = append(args, sqliteGlob(f.PathGlob))
	}
	return b.String(), args
}

// sqliteGlob turns a store glob into SQLite's GLOB syntax, whose * and ? already have
// MatchPath's meaning; only [ needs escaping (as [[]).
func sqliteGlob(glob string) string {
	return strings.ReplaceAll(glob, "[", "[[]")
}

const hitColumns = `c.id, d.collection, d.path, d.source, d.title, c.heading, c.start_line, c.end_line, c.text`

func scanHit(sc interface{ Scan(...any) error }, score *float64) (store.Hit, error) {
	var h store.Hit
	var heading string
	dest := []any{&h.ChunkID, &h.Collection, &h.Path, &h.Source, &h.Title, &heading, &h.StartLine, &h.EndLine, &h.Text}
	if score != nil {
		dest = append(dest, score)
	}
	err := sc.Scan(dest...)
	if heading != "" {
		h.Heading = strings.Split(heading, headingSep)
	}
	return h, err
}

// Keyword runs BM25 over the FTS table. Without filters the top chunks are picked inside FTS5
// before the join; with filters the join comes first, so that filtered-out chunks do not use
// up the limit.
func (s *Store) Keyword(ctx context.Context, q store.KeywordQuery) ([]store.Hit, error) {
	if len(q.Terms) == 0 || q.Limit < 1 {
		return nil, nil
	}
	match := FTSMatch(q.Terms)
	cond, fargs := filterSQL(q.Filter)
	var query string
	var args []any
	if cond == "" {
		query = `SELECT ` + hitColumns + `, -f.rank FROM
			(SELECT rowid, rank FROM kb_fts WHERE kb_fts MATCH ? ORDER BY rank LIMIT ?) f
			JOIN kb_chunks c ON c.id = f.rowid JOIN kb_documents d ON d.id = c.doc_id
			ORDER BY f.rank, c.id`
		args = []any{match, q.Limit}
	} else {
		query = `SELECT ` + hitColumns + `, -kb_fts.rank FROM kb_fts
			JOIN kb_chunks c ON c.id = kb_fts.rowid JOIN kb_documents d ON d.id = c.doc_id
			WHERE kb_fts MATCH ?` + cond + ` ORDER BY kb_fts.rank, c.id LIMIT ?`
		args = append(append([]any{match}, fargs...), q.Limit)
	}
	rows, err := s.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("keyword search: %w", err)
	}
	defer rows.Close()
	hits := make([]store.Hit, 0, q.Limit)
	for rows.Next() {
		var score float64
		h, err := scanHit(rows, &score)
		if err != nil {
			return nil, fmt.Errorf("keyword search: %w", err)
		}
		h.Score = score
		hits = append(hits, h)
	}
	return hits, rows.Err()
}

// hitsByID reads the chunks' metadata, in the order of ids, with the given scores.
func (s *Store) hitsByID(ctx context.Context, ids []int64, scores []float64) ([]store.Hit, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	var b strings.Builder
	args := make([]any, len(ids))
	for i, id := range ids {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString("?")
		args[i] = id
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+hitColumns+` FROM kb_chunks c JOIN kb_documents d ON d.id = c.doc_id
		WHERE c.id IN (`+b.String()+`)`, args...)
	if err != nil {
		return nil, fmt.Errorf("reading chunks: %w", err)
	}
	defer rows.Close()
	byID := make(map[int64]store.Hit, len(ids))
	for rows.Next() {
		h, err := scanHit(rows, nil)
		if err != nil {
			return nil, fmt.Errorf("reading chunks: %w", err)
		}
		byID[h.ChunkID] = h
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading chunks: %w", err)
	}
	out := make([]store.Hit, 0, len(ids))
	for i, id := range ids {
		if h, ok := byID[id]; ok { // gone since the scan: replaced in between
			h.Score = scores[i]
			out = append(out, h)
		}
	}
	return out, nil
}

// Pending lists chunks without a vector of embedderID.
func (s *Store) Pending(ctx context.Context, embedderID string, limit int) ([]store.PendingChunk, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT c.id, d.title, c.heading, c.text
		FROM kb_chunks c JOIN kb_documents d ON d.id = c.doc_id
		LEFT JOIN kb_vectors v ON v.chunk_id = c.id AND v.embedder = ?
		WHERE v.chunk_id IS NULL ORDER BY c.id LIMIT ?`, embedderID, limit)
	if err != nil {
		return nil, fmt.Errorf("listing chunks to embed: %w", err)
	}
	defer rows.Close()
	var out []store.PendingChunk
	for rows.Next() {
		var p store.PendingChunk
		var heading string
		if err := rows.Scan(&p.ID, &p.Title, &heading, &p.Text); err != nil {
			return nil, fmt.Errorf("listing chunks to embed: %w", err)
		}
		if heading != "" {
			p.Heading = strings.Split(heading, headingSep)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// SetVectors stores vectors for existing chunks.
func (s *Store) SetVectors(ctx context.Context, embedderID string, ids []int64, vecs [][]float32) error {
	if len(ids) != len(vecs) {
		return fmt.Errorf("storing vectors: %d ids, %d vectors", len(ids), len(vecs))
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("storing vectors: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	// INSERT ... SELECT skips ids whose chunk is gone (replaced while it was being embedded).
	st, err := tx.PrepareContext(ctx, `INSERT INTO kb_vectors (chunk_id, embedder, vec)
		SELECT id, ?, ? FROM kb_chunks WHERE id = ?
		ON CONFLICT (chunk_id) DO UPDATE SET embedder = excluded.embedder, vec = excluded.vec`)
	if err != nil {
		return fmt.Errorf("storing vectors: %w", err)
	}
	defer st.Close()
	type row struct {
		id int64
		q  []byte
	}
	var stored []row
	for i, id := range ids {
		q := quantize(vecs[i])
		res, err := st.ExecContext(ctx, embedderID, q, id)
		if err != nil {
			return fmt.Errorf("storing vectors: %w", err)
		}
		if n, _ := res.RowsAffected(); n > 0 {
			stored = append(stored, row{id: id, q: q})
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("storing vectors: %w", err)
	}
	s.vmu.Lock()
	defer s.vmu.Unlock()
	if s.vix == nil || s.vix.embedder != embedderID || len(stored) == 0 {
		if s.vix != nil && s.vix.embedder != embedderID {
			s.vix = nil // another embedder's vectors replace these: reload on next search
		}
		return nil
	}
	// The filter columns of the new rows, read after the commit.
	sids := make([]int64, len(stored))
	for i, r := range stored {
		sids[i] = r.id
	}
	hits, err := s.hitsByID(ctx, sids, make([]float64, len(sids)))
	if err != nil {
		s.vix = nil
		return nil //nolint:nilerr // the vectors are stored; the index reloads on the next search
	}
	where := make(map[int64]store.Hit, len(hits))
	for _, h := range hits {
		where[h.ChunkID] = h
	}
	for _, r := range stored {
		if h, ok := where[r.id]; ok {
			s.vix.put(r.id, h.Collection, h.Path, r.q)
		}
	}
	return nil
}

// Stats counts documents, chunks and embedded chunks per collection.
func (s *Store) Stats(ctx context.Context, embedderID string) (map[string]store.CollectionStats, error) {
	out := map[string]store.CollectionStats{}
	rows, err := s.r.QueryContext(ctx, `SELECT d.collection, count(DISTINCT d.id), max(d.indexed_at), count(c.id)
		FROM kb_documents d LEFT JOIN kb_chunks c ON c.doc_id = d.id GROUP BY d.collection`)
	if err != nil {
		return nil, fmt.Errorf("counting the index: %w", err)
	}
	for rows.Next() {
		var c string
		var st store.CollectionStats
		var last int64
		if err := rows.Scan(&c, &st.Documents, &last, &st.Chunks); err != nil {
			_ = rows.Close()
			return nil, fmt.Errorf("counting the index: %w", err)
		}
		st.LastIndexed = time.Unix(0, last).UTC()
		out[c] = st
	}
	_ = rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("counting the index: %w", err)
	}
	if embedderID == "" {
		return out, nil
	}
	rows, err = s.r.QueryContext(ctx, `SELECT d.collection, count(*) FROM kb_vectors v
		JOIN kb_chunks c ON c.id = v.chunk_id JOIN kb_documents d ON d.id = c.doc_id
		WHERE v.embedder = ? GROUP BY d.collection`, embedderID)
	if err != nil {
		return nil, fmt.Errorf("counting the index: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var c string
		var n int
		if err := rows.Scan(&c, &n); err != nil {
			return nil, fmt.Errorf("counting the index: %w", err)
		}
		st := out[c]
		st.Embedded = n
		out[c] = st
	}
	return out, rows.Err()
}
