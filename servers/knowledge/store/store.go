// Package store is the knowledge server's index behind one interface, Store, with the types
// every implementation shares. The SQLite implementation (the default: one file under the
// server's data dir) is in store/sqlite; the PostgreSQL one (pgvector + full-text) in pgstore.
// A new backend implements Store and passes storetest.Run, the conformance suite both run.
//
// # The contract of a Store
//
// Documents are keyed by (collection, path). Path is the document's key inside its collection:
// a slash-separated path relative to the collection's root for files, the URL for URL
// documents, the name given to knowledge_ingest for ingested text. A document's chunks are
// written together with it and only with it: Replace swaps the document, all its chunks and
// all their vectors in ONE transaction, so a search never sees half a document, and a chunk
// never outlives its document. Chunk IDs are assigned by the store, unique across the store,
// and not reused while the store is open (a replaced document's chunks get new IDs).
//
// Vectors belong to an embedder: every vector is stored with the embedder ID that computed it
// (embed.Embedder.ID(), which includes the model and version). A store keeps at most one vector
// per chunk. Vector searches use only vectors of the embedder ID they name; Pending lists the
// chunks that have no vector of a given embedder, so that a change of embedder re-embeds
// everything in the background while the keyword index keeps serving. Vectors handed to the
// store are L2-normalised; a store may quantise them (SQLite stores int8 with a per-row scale)
// as long as cosine ranking is preserved to within quantisation error.
//
// Keyword search is BM25 (or the engine's equivalent) over the chunk's title, heading trail,
// text and index-only extra text, with the title and headings weighted above the body. The
// query arrives as plain lowercase terms (KeywordQuery.Terms, never engine syntax: the caller
// has removed operators and quotes); a chunk matches when it contains ANY of the terms (OR),
// and the engine's ranking puts chunks with more and rarer terms first. Stemming is the
// engine's business (SQLite: porter; PostgreSQL: the english configuration).
//
// Scores: every Hit carries Score, higher is better, comparable only within one result list
// (BM25 and cosine are on different scales; the knowledge server fuses ranks, not scores).
// Results are ordered by Score descending, ties broken by chunk ID ascending, at most Limit.
//
// Filters: Filter.Collections restricts to those collections (empty: all). Filter.PathGlob
// restricts to paths matching the glob (empty: all) with the semantics of MatchPath: `*`
// matches any run of characters INCLUDING `/`, `?` one character, everything else literally;
// GlobRegexp gives the same pattern as an anchored regular expression valid in Go and in
// PostgreSQL's `~` operator.
//
// Errors: Document returns an error wrapping ErrNotFound for an unknown (collection, path).
// Every method honours ctx. A Store is safe for concurrent use; writes may be serialised.
package store

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"time"
)

// ErrNotFound reports a document that is not in the store.
var ErrNotFound = errors.New("not found")

// Store is the knowledge index. See the package documentation for the contract.
type Store interface {
	// Replace writes doc and its chunks, replacing any earlier version of (doc.Collection,
	// doc.Path) together with its chunks and their vectors, in one transaction. vecs is nil
	// (no vectors yet: the chunks become Pending) or holds one vector per chunk, computed by
	// embedderID. It returns the new chunks' IDs in the order of chunks.
	Replace(ctx context.Context, doc Document, chunks []Chunk, embedderID string, vecs [][]float32) ([]int64, error)
	// Delete removes the document (collection, path) with its chunks and vectors; removing a
	// document that is not there is not an error.
	Delete(ctx context.Context, collection, path string) error
	// DeleteCollection removes every document of the collection.
	DeleteCollection(ctx context.Context, collection string) error
	// Collections returns the names of the collections that have at least one document.
	Collections(ctx context.Context) ([]string, error)
	// Documents lists the documents of a collection without their bodies, ordered by path:
	// what an incremental refresh compares with the files on disk.
	Documents(ctx context.Context, collection string) ([]DocumentInfo, error)
	// Document returns one document with its body, or an error wrapping ErrNotFound.
	Document(ctx context.Context, collection, path string) (*Document, error)
	// Keyword returns the best chunks for the terms by BM25, best first.
	Keyword(ctx context.Context, q KeywordQuery) ([]Hit, error)
	// Vector returns the chunks whose vectors of q.EmbedderID are nearest to q.Vector by cosine
	// similarity (Score), best first. Chunks without a vector of that embedder are not found.
	Vector(ctx context.Context, q VectorQuery) ([]Hit, error)
	// Pending returns up to limit chunks that have no vector of embedderID, in chunk ID order.
	Pending(ctx context.Context, embedderID string, limit int) ([]PendingChunk, error)
	// SetVectors stores one vector per chunk ID, computed by embedderID, replacing any vector
	// those chunks had. IDs of chunks that no longer exist are ignored (a document may have been
	// replaced while its chunks were being embedded).
	SetVectors(ctx context.Context, embedderID string, ids []int64, vecs [][]float32) error
	// Stats returns the counts of every collection that has documents; Embedded counts the
	// chunks with a vector of embedderID.
	Stats(ctx context.Context, embedderID string) (map[string]CollectionStats, error)
	// Close releases the store.
	Close() error
}

// Document is one indexed document.
type Document struct {
	// Collection is the collection's configured name.
	Collection string `json:"collection"`
	// Path is the document's key in its collection (see the package documentation).
	Path string `json:"path"`
	// Source is where the document came from, for citing: the file's absolute path, the URL,
	// or "ingest:<name>" for ingested text.
	Source string `json:"source"`
	// Title is the first heading, the HTML title, or the file name.
	Title string `json:"title"`
	// Kind is how the body was extracted: markdown, text, html, code or pdf.
	Kind string `json:"kind"`
	// Hash is the hex SHA-256 of the source bytes, what an incremental refresh compares.
	Hash string `json:"hash"`
	// ModTime is the file's modification time (the Last-Modified time of a URL, when given).
	ModTime time.Time `json:"mod_time"`
	// Size is the length of the source in bytes.
	Size int64 `json:"size"`
	// Lines is the number of lines of Body.
	Lines int `json:"lines"`
	// IndexedAt is when this version was written.
	IndexedAt time.Time `json:"indexed_at"`
	// Body is the extracted text (markdown for HTML), the text that line ranges refer to.
	// Documents leaves it empty.
	Body string `json:"body,omitempty"`
}

// DocumentInfo is a document without its body.
type DocumentInfo = Document

// Chunk is one piece of a document, the unit of search.
type Chunk struct {
	// Ordinal is the chunk's position in its document, from 0.
	Ordinal int `json:"ordinal"`
	// Heading is the trail of headings above the chunk, outermost first.
	Heading []string `json:"heading,omitempty"`
	// StartLine and EndLine are the chunk's first and last lines in the document's Body,
	// from 1, inclusive.
	StartLine int `json:"start_line"`
	EndLine   int `json:"end_line"`
	// Text is the chunk's text as shown to the user.
	Text string `json:"text"`
	// Extra is index-only text the keyword index also sees (identifier parts such as
	// "parse duration" for ParseDuration); results never show it.
	Extra string `json:"extra,omitempty"`
}

// Filter restricts a search.
type Filter struct {
	// Collections restricts the search to these collections; empty means all.
	Collections []string
	// PathGlob restricts the search to documents whose path matches it (MatchPath); empty
	// means all.
	PathGlob string
}

// KeywordQuery is a BM25 search.
type KeywordQuery struct {
	// Terms are lowercase words without syntax; a chunk matches any of them.
	Terms []string
	Filter
	// Limit is the most hits returned, at least 1.
	Limit int
}

// VectorQuery is a nearest-neighbour search.
type VectorQuery struct {
	// Vector is the L2-normalised query embedding.
	Vector []float32
	// EmbedderID names the embedder whose vectors are searched.
	EmbedderID string
	Filter
	// Limit is the most hits returned, at least 1.
	Limit int
}

// Hit is one chunk found by a search, with what it takes to cite it.
type Hit struct {
	ChunkID    int64    `json:"chunk_id"`
	Collection string   `json:"collection"`
	Path       string   `json:"path"`
	Source     string   `json:"source"`
	Title      string   `json:"title"`
	Heading    []string `json:"heading,omitempty"`
	StartLine  int      `json:"start_line"`
	EndLine    int      `json:"end_line"`
	Text       string   `json:"text"`
	// Score orders the hits of one search, higher first (see the package documentation).
	Score float64 `json:"score"`
}

// PendingChunk is a chunk waiting for a vector, with the text to embed.
type PendingChunk struct {
	ID      int64
	Title   string
	Heading []string
	Text    string
}

// CollectionStats are the counts of one collection.
type CollectionStats struct {
	Documents int
	Chunks    int
	// Embedded is the number of chunks that have a vector of the embedder asked about.
	Embedded int
	// LastIndexed is the latest IndexedAt of its documents.
	LastIndexed time.Time
}

// MatchPath reports whether path matches the glob: `*` matches any run of characters,
// including `/`; `?` matches one character; every other character matches itself. An empty
// glob matches every path. It is the reference for Filter.PathGlob.
func MatchPath(glob, path string) bool {
	if glob == "" {
		return true
	}
	return regexp.MustCompile(GlobRegexp(glob)).MatchString(path)
}

// GlobRegexp returns glob as an anchored regular expression with MatchPath's semantics, valid
// in Go's regexp and in PostgreSQL's `~` operator.
func GlobRegexp(glob string) string {
	var b strings.Builder
	b.WriteString("(?s)^") // (?s): . matches a newline too; PostgreSQL reads it the same way
	for _, r := range glob {
		switch r {
		case '*':
			b.WriteString(".*")
		case '?':
			b.WriteString(".")
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString("$")
	return b.String()
}
