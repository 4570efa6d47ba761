// Package pgstore is the knowledge index in PostgreSQL, the scale-out path: several hubs share
// one index, and the database does the searching. It implements store.Store and passes the
// storetest conformance suite against a real server.
//
// Keywords are PostgreSQL full-text search: a weighted tsvector per chunk (title A, heading
// trail B, text C, index-only extra D, english configuration, so stemmed) with a GIN index,
// the query the OR of the terms (each through plainto_tsquery, so a term is data, never
// syntax), ranked by ts_rank_cd with weights 4:2:1:1 as the SQLite store's BM25 weights.
//
// Vectors are pgvector's `vector` when the extension is installed on the server (exact inner
// product `<#>`, computed in C next to the data), and otherwise a real[] column whose dot
// product is computed in SQL: the same results, slower on large indexes. Debian 12 has no
// pgvector package (Debian 13 has postgresql-17-pgvector; PGDG has postgresql-15-pgvector), so
// the fallback keeps the backend usable on a plain server; Store.Vectors says which is in use.
//
// All tables live in one schema (Options.Schema, default public), named kb_*. A transaction-
// level advisory lock serialises schema creation by hubs starting at once.
package pgstore

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mcphub/mcphub/servers/knowledge/store"
)

// Options tune Open.
type Options struct {
	// Schema holds the kb_* tables; it is created when missing. The default is "public".
	Schema string
	// MaxConns bounds the connection pool. The default is 8.
	MaxConns int32
	// NoPGVector stores vectors as real[] even when the vector extension is available (tests
	// of the fallback; a server whose operators do not want the extension).
	NoPGVector bool
}

// Vector storage kinds, as Store.Vectors reports them.
const (
	VectorsPGVector = "pgvector"
	VectorsArray    = "real[]"
)

// Store is the PostgreSQL knowledge index.
type Store struct {
	pool    *pgxpool.Pool
	t       tables
	vectors string // VectorsPGVector or VectorsArray
}

var _ store.Store = (*Store)(nil)

// tables are the quoted, schema-qualified table names.
type tables struct {
	schema, docs, chunks, vecs string
}

func newTables(schema string) tables {
	q := func(name string) string { return pgx.Identifier{schema, name}.Sanitize() }
	return tables{schema: pgx.Identifier{schema}.Sanitize(), docs: q("kb_documents"), chunks: q("kb_chunks"), vecs: q("kb_vectors")}
}

// tsWeights are ts_rank_cd's weights for D, C, B, A: extra and text 1, heading 2, title 4,
// scaled into (0, 1] as PostgreSQL requires.
const tsWeights = "'{0.25, 0.25, 0.5, 1.0}'"

// Open connects to dsn and creates the schema. Errors never quote the DSN, which may hold a
// password.
func Open(ctx context.Context, dsn string, o Options) (*Store, error) {
	if o.Schema == "" {
		o.Schema = "public"
	}
	if o.MaxConns <= 0 {
		o.MaxConns = 8
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, errors.New("parsing the knowledge PostgreSQL DSN: not a valid PostgreSQL connection string (a postgres:// URL or key=value pairs)")
	}
	cfg.MaxConns = o.MaxConns
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connecting to the knowledge PostgreSQL database: %w", redact(err, dsn))
	}
	s := &Store{pool: pool, t: newTables(o.Schema), vectors: VectorsArray}
	if err := s.init(ctx, o); err != nil {
		pool.Close()
		return nil, fmt.Errorf("opening the knowledge PostgreSQL store: %w", redact(err, dsn))
	}
	return s, nil
}

// redact removes the DSN (and so its password) from an error message, should a driver quote it.
func redact(err error, dsn string) error {
	if err == nil || dsn == "" || !strings.Contains(err.Error(), dsn) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), dsn, "[dsn]"))
}

// schemaLockKey is the advisory lock taken while creating the schema.
func schemaLockKey(schema string) int64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte("mcphub knowledge schema " + schema))
	return int64(h.Sum64() >> 1) //nolint:gosec // G115: shifted into int64's range.
}

func (s *Store) init(ctx context.Context, o Options) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, schemaLockKey(o.Schema)); err != nil {
		return err
	}
	if !o.NoPGVector {
		// Use pgvector when it is there already, or can be created (it needs the privilege).
		var available bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector')`).Scan(&available); err != nil {
			return err
		}
		if available {
			if _, err := tx.Exec(ctx, `CREATE EXTENSION IF NOT EXISTS vector`); err != nil {
				return fmt.Errorf("creating the vector extension: %w", err)
			}
			s.vectors = VectorsPGVector
		}
	}
	vecType := "REAL[]"
	if s.vectors == VectorsPGVector {
		vecType = "vector"
	}
	t := s.t
	stmts := []string{
		`CREATE SCHEMA IF NOT EXISTS ` + t.schema,
		`CREATE TABLE IF NOT EXISTS ` + t.docs + ` (
			id BIGSERIAL PRIMARY KEY,
			collection TEXT NOT NULL,
			path TEXT NOT NULL,
			source TEXT NOT NULL,
			title TEXT NOT NULL,
			kind TEXT NOT NULL,
			hash TEXT NOT NULL,
			mod_time BIGINT NOT NULL,
			size BIGINT NOT NULL,
			lines INTEGER NOT NULL,
			indexed_at BIGINT NOT NULL,
			body TEXT NOT NULL,
			UNIQUE (collection, path)
		)`,
		// Chunk ids come from a sequence: never reused, as the contract requires.
		`CREATE TABLE IF NOT EXISTS ` + t.chunks + ` (
			id BIGSERIAL PRIMARY KEY,
			doc_id BIGINT NOT NULL REFERENCES ` + t.docs + ` (id) ON DELETE CASCADE,
			ordinal INTEGER NOT NULL,
			heading TEXT[] NOT NULL,
			start_line INTEGER NOT NULL,
			end_line INTEGER NOT NULL,
			text TEXT NOT NULL,
			tsv TSVECTOR NOT NULL
		)`,
		`CREATE INDEX IF NOT EXISTS kb_chunks_doc ON ` + t.chunks + ` (doc_id)`,
		`CREATE INDEX IF NOT EXISTS kb_chunks_tsv ON ` + t.chunks + ` USING GIN (tsv)`,
		`CREATE TABLE IF NOT EXISTS ` + t.vecs + ` (
			chunk_id BIGINT PRIMARY KEY REFERENCES ` + t.chunks + ` (id) ON DELETE CASCADE,
			embedder TEXT NOT NULL,
			vec ` + vecType + ` NOT NULL
		)`,
		`CREATE INDEX IF NOT EXISTS kb_vectors_embedder ON ` + t.vecs + ` (embedder)`,
	}
	for _, stmt := range stmts {
		if _, err := tx.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("creating the schema: %w", err)
		}
	}
	// A table created earlier by the other kind of store keeps its kind.
	var udt string
	err = tx.QueryRow(ctx, `SELECT udt_name FROM information_schema.columns
		WHERE table_schema = $1 AND table_name = 'kb_vectors' AND column_name = 'vec'`, o.Schema).Scan(&udt)
	if err != nil {
		return fmt.Errorf("reading the vector column's type: %w", err)
	}
	if udt == "vector" {
		s.vectors = VectorsPGVector
	} else {
		s.vectors = VectorsArray
	}
	return tx.Commit(ctx)
}

// Vectors says how vectors are stored and searched: VectorsPGVector or VectorsArray.
func (s *Store) Vectors() string { return s.vectors }

// Close closes the pool.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// vecParam is the query argument for a vector: pgvector's text form, or a real[].
func (s *Store) vecParam(v []float32) any {
	if s.vectors != VectorsPGVector {
		return v
	}
	var b strings.Builder
	b.Grow(len(v) * 10)
	b.WriteByte('[')
	for i, x := range v {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%g", x)
	}
	b.WriteByte(']')
	return b.String()
}

// vecCast is the cast of a vector parameter.
func (s *Store) vecCast() string {
	if s.vectors == VectorsPGVector {
		return "::vector"
	}
	return "::real[]"
}

func checkVectors(vecs [][]float32) error {
	for _, v := range vecs {
		if len(v) == 0 {
			return errors.New("an empty vector")
		}
		for _, x := range v {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				return errors.New("a vector with a non-finite value")
			}
		}
	}
	return nil
}

// Replace writes the document, its chunks and their vectors in one transaction.
func (s *Store) Replace(ctx context.Context, doc store.Document, chunks []store.Chunk, embedderID string, vecs [][]float32) ([]int64, error) {
	if vecs != nil && len(vecs) != len(chunks) {
		return nil, fmt.Errorf("replacing %s/%s: %d vectors for %d chunks", doc.Collection, doc.Path, len(vecs), len(chunks))
	}
	if err := checkVectors(vecs); err != nil {
		return nil, fmt.Errorf("replacing %s/%s: %w", doc.Collection, doc.Path, err)
	}
	if doc.IndexedAt.IsZero() {
		doc.IndexedAt = time.Now()
	}
	var ids []int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM `+s.t.docs+` WHERE collection = $1 AND path = $2`, doc.Collection, doc.Path); err != nil {
			return err
		}
		var docID int64
		err := tx.QueryRow(ctx, `INSERT INTO `+s.t.docs+`
			(collection, path, source, title, kind, hash, mod_time, size, lines, indexed_at, body)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id`,
			doc.Collection, doc.Path, doc.Source, doc.Title, doc.Kind, doc.Hash, doc.ModTime.UnixNano(),
			doc.Size, doc.Lines, doc.IndexedAt.UnixNano(), doc.Body).Scan(&docID)
		if err != nil {
			return err
		}
		ids = make([]int64, len(chunks))
		b := &pgx.Batch{}
		for _, c := range chunks {
			heading := c.Heading
			if heading == nil {
				heading = []string{}
			}
			b.Queue(`INSERT INTO `+s.t.chunks+` (doc_id, ordinal, heading, start_line, end_line, text, tsv)
				VALUES ($1, $2, $3, $4, $5, $6,
					setweight(to_tsvector('english', $7), 'A') ||
					setweight(to_tsvector('english', array_to_string($3::text[], ' ')), 'B') ||
					setweight(to_tsvector('english', $6), 'C') ||
					setweight(to_tsvector('english', $8), 'D'))
				RETURNING id`, docID, c.Ordinal, heading, c.StartLine, c.EndLine, c.Text, doc.Title, c.Extra)
		}
		br := tx.SendBatch(ctx, b)
		for i := range chunks {
			if err := br.QueryRow().Scan(&ids[i]); err != nil {
				_ = br.Close()
				return err
			}
		}
		if err := br.Close(); err != nil {
			return err
		}
		if vecs != nil {
			return s.setVectors(ctx, tx, embedderID, ids, vecs)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("replacing %s/%s: %w", doc.Collection, doc.Path, err)
	}
	return ids, nil
}

// setVectors upserts one vector per chunk id; ids of chunks that no longer exist are skipped
// (the INSERT ... SELECT finds no row for them).
func (s *Store) setVectors(ctx context.Context, tx pgx.Tx, embedderID string, ids []int64, vecs [][]float32) error {
	b := &pgx.Batch{}
	for i, id := range ids {
		b.Queue(`INSERT INTO `+s.t.vecs+` (chunk_id, embedder, vec)
			SELECT id, $2, $3`+s.vecCast()+` FROM `+s.t.chunks+` WHERE id = $1
			ON CONFLICT (chunk_id) DO UPDATE SET embedder = excluded.embedder, vec = excluded.vec`,
			id, embedderID, s.vecParam(vecs[i]))
	}
	return tx.SendBatch(ctx, b).Close()
}

// SetVectors stores vectors computed by embedderID for existing chunks.
func (s *Store) SetVectors(ctx context.Context, embedderID string, ids []int64, vecs [][]float32) error {
	if len(ids) != len(vecs) {
		return fmt.Errorf("setting vectors: %d vectors for %d chunks", len(vecs), len(ids))
	}
	if err := checkVectors(vecs); err != nil {
		return fmt.Errorf("setting vectors: %w", err)
	}
	if len(ids) == 0 {
		return nil
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return s.setVectors(ctx, tx, embedderID, ids, vecs) })
	if err != nil {
		return fmt.Errorf("setting vectors: %w", err)
	}
	return nil
}

// Delete removes one document with its chunks and vectors.
func (s *Store) Delete(ctx context.Context, collection, path string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM `+s.t.docs+` WHERE collection = $1 AND path = $2`, collection, path); err != nil {
		return fmt.Errorf("deleting %s/%s: %w", collection, path, err)
	}
	return nil
}

// DeleteCollection removes every document of the collection.
func (s *Store) DeleteCollection(ctx context.Context, collection string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM `+s.t.docs+` WHERE collection = $1`, collection); err != nil {
		return fmt.Errorf("deleting collection %s: %w", collection, err)
	}
	return nil
}

// Collections returns the collections that have documents, sorted.
func (s *Store) Collections(ctx context.Context) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT collection FROM `+s.t.docs+` GROUP BY collection ORDER BY collection COLLATE "C"`)
	if err != nil {
		return nil, fmt.Errorf("listing collections: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("listing collections: %w", err)
	}
	return out, nil
}

const docColumns = `collection, path, source, title, kind, hash, mod_time, size, lines, indexed_at`

func scanDoc(row pgx.Row, withBody bool) (store.Document, error) {
	var d store.Document
	var mod, indexed int64
	dest := []any{&d.Collection, &d.Path, &d.Source, &d.Title, &d.Kind, &d.Hash, &mod, &d.Size, &d.Lines, &indexed}
	if withBody {
		dest = append(dest, &d.Body)
	}
	if err := row.Scan(dest...); err != nil {
		return d, err
	}
	d.ModTime, d.IndexedAt = time.Unix(0, mod).UTC(), time.Unix(0, indexed).UTC()
	return d, nil
}

// Documents lists a collection's documents without bodies, by path.
func (s *Store) Documents(ctx context.Context, collection string) ([]store.DocumentInfo, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+docColumns+` FROM `+s.t.docs+` WHERE collection = $1 ORDER BY path COLLATE "C"`, collection)
	if err != nil {
		return nil, fmt.Errorf("listing documents of %s: %w", collection, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Document, error) { return scanDoc(r, false) })
	if err != nil {
		return nil, fmt.Errorf("listing documents of %s: %w", collection, err)
	}
	return out, nil
}

// Document returns one document with its body.
func (s *Store) Document(ctx context.Context, collection, path string) (*store.Document, error) {
	d, err := scanDoc(s.pool.QueryRow(ctx, `SELECT `+docColumns+`, body FROM `+s.t.docs+` WHERE collection = $1 AND path = $2`,
		collection, path), true)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("document %s/%s: %w", collection, path, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s/%s: %w", collection, path, err)
	}
	return &d, nil
}

// filterSQL appends the filter's conditions on d (documents) with parameters from next.
func filterSQL(f store.Filter, args []any) (string, []any) {
	var b strings.Builder
	if len(f.Collections) > 0 {
		args = append(args, f.Collections)
		fmt.Fprintf(&b, " AND d.collection = ANY($%d)", len(args))
	}
	if f.PathGlob != "" {
		args = append(args, store.GlobRegexp(f.PathGlob))
		fmt.Fprintf(&b, " AND d.path ~ $%d", len(args))
	}
	return b.String(), args
}

const hitColumns = `c.id, d.collection, d.path, d.source, d.title, c.heading, c.start_line, c.end_line, c.text`

func scanHit(row pgx.CollectableRow) (store.Hit, error) {
	var h store.Hit
	err := row.Scan(&h.ChunkID, &h.Collection, &h.Path, &h.Source, &h.Title, &h.Heading, &h.StartLine, &h.EndLine, &h.Text, &h.Score)
	if len(h.Heading) == 0 {
		h.Heading = nil
	}
	return h, err
}

// Keyword ranks the chunks matching any term by ts_rank_cd.
func (s *Store) Keyword(ctx context.Context, q store.KeywordQuery) ([]store.Hit, error) {
	if len(q.Terms) == 0 || q.Limit < 1 {
		return nil, nil
	}
	args := make([]any, 0, len(q.Terms)+4)
	parts := make([]string, 0, len(q.Terms))
	for _, term := range q.Terms {
		args = append(args, term)
		parts = append(parts, fmt.Sprintf("plainto_tsquery('english', $%d)", len(args)))
	}
	filter, args := filterSQL(q.Filter, args)
	args = append(args, q.Limit)
	// The query is built once (a CTE) and only non-empty: terms that are all stopwords give
	// an empty tsquery, which matches nothing.
	sql := `WITH q AS (SELECT ` + strings.Join(parts, " || ") + ` AS query)
		SELECT ` + hitColumns + `, ts_rank_cd(` + tsWeights + `, c.tsv, q.query)::float8 AS score
		FROM q, ` + s.t.chunks + ` c JOIN ` + s.t.docs + ` d ON d.id = c.doc_id
		WHERE numnode(q.query) > 0 AND c.tsv @@ q.query` + filter + `
		ORDER BY score DESC, c.id
		LIMIT $` + fmt.Sprint(len(args))
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("keyword search: %w", err)
	}
	hits, err := pgx.CollectRows(rows, scanHit)
	if err != nil {
		return nil, fmt.Errorf("keyword search: %w", err)
	}
	return hits, nil
}

// Vector returns the chunks nearest to the query vector by inner product (cosine, for the
// normalised vectors the contract requires).
func (s *Store) Vector(ctx context.Context, q store.VectorQuery) ([]store.Hit, error) {
	if len(q.Vector) == 0 || q.Limit < 1 {
		return nil, nil
	}
	if err := checkVectors([][]float32{q.Vector}); err != nil {
		return nil, fmt.Errorf("vector search: %w", err)
	}
	args := []any{s.vecParam(q.Vector), q.EmbedderID, len(q.Vector)}
	filter, args := filterSQL(q.Filter, args)
	args = append(args, q.Limit)
	var score, dims string
	if s.vectors == VectorsPGVector {
		// <#> is the negative inner product; vector_dims keeps vectors of another size out.
		score = `-(v.vec <#> $1::vector)`
		dims = `vector_dims(v.vec) = $3`
	} else {
		score = `(SELECT sum(a::float8 * b::float8) FROM unnest(v.vec, $1::real[]) AS t (a, b))`
		dims = `cardinality(v.vec) = $3`
	}
	sql := `SELECT ` + hitColumns + `, ` + score + ` AS score
		FROM ` + s.t.vecs + ` v JOIN ` + s.t.chunks + ` c ON c.id = v.chunk_id JOIN ` + s.t.docs + ` d ON d.id = c.doc_id
		WHERE v.embedder = $2 AND ` + dims + filter + `
		ORDER BY score DESC, c.id
		LIMIT $` + fmt.Sprint(len(args))
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("vector search: %w", err)
	}
	hits, err := pgx.CollectRows(rows, scanHit)
	if err != nil {
		return nil, fmt.Errorf("vector search: %w", err)
	}
	return hits, nil
}

// Pending returns chunks that have no vector of embedderID, by id.
func (s *Store) Pending(ctx context.Context, embedderID string, limit int) ([]store.PendingChunk, error) {
	if limit < 1 {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT c.id, d.title, c.heading, c.text
		FROM `+s.t.chunks+` c JOIN `+s.t.docs+` d ON d.id = c.doc_id
		WHERE NOT EXISTS (SELECT 1 FROM `+s.t.vecs+` v WHERE v.chunk_id = c.id AND v.embedder = $1)
		ORDER BY c.id LIMIT $2`, embedderID, limit)
	if err != nil {
		return nil, fmt.Errorf("listing chunks to embed: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.PendingChunk, error) {
		var p store.PendingChunk
		err := r.Scan(&p.ID, &p.Title, &p.Heading, &p.Text)
		if len(p.Heading) == 0 {
			p.Heading = nil
		}
		return p, err
	})
	if err != nil {
		return nil, fmt.Errorf("listing chunks to embed: %w", err)
	}
	return out, nil
}

// Stats counts documents, chunks and chunks embedded by embedderID per collection.
func (s *Store) Stats(ctx context.Context, embedderID string) (map[string]store.CollectionStats, error) {
	rows, err := s.pool.Query(ctx, `SELECT d.collection, count(DISTINCT d.id), count(c.id), count(v.chunk_id), max(d.indexed_at)
		FROM `+s.t.docs+` d
		LEFT JOIN `+s.t.chunks+` c ON c.doc_id = d.id
		LEFT JOIN `+s.t.vecs+` v ON v.chunk_id = c.id AND v.embedder = $1
		GROUP BY d.collection`, embedderID)
	if err != nil {
		return nil, fmt.Errorf("counting the index: %w", err)
	}
	defer rows.Close()
	out := map[string]store.CollectionStats{}
	for rows.Next() {
		var name string
		var st store.CollectionStats
		var last int64
		if err := rows.Scan(&name, &st.Documents, &st.Chunks, &st.Embedded, &last); err != nil {
			return nil, fmt.Errorf("counting the index: %w", err)
		}
		st.LastIndexed = time.Unix(0, last).UTC()
		out[name] = st
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("counting the index: %w", err)
	}
	return out, nil
}
