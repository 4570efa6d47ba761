package memory

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// sqliteSchema is created on open by whichever process comes first; IF NOT EXISTS and the write
// transaction around it make concurrent opens safe.
//
// Relations name their entities instead of referencing them because the reference server allows
// a relation to an entity that does not exist (yet); observations do reference theirs and go
// with it. memory_fts holds one document per entity (name, type, observations), rewritten in the
// same transaction as every change to the entity, so search never sees a half-applied call.
var sqliteSchema = []string{
	`CREATE TABLE IF NOT EXISTS memory_entities (
		id INTEGER PRIMARY KEY,
		namespace TEXT NOT NULL,
		name TEXT NOT NULL,
		entity_type TEXT NOT NULL,
		UNIQUE (namespace, name)
	)`,
	`CREATE TABLE IF NOT EXISTS memory_observations (
		id INTEGER PRIMARY KEY,
		entity_id INTEGER NOT NULL REFERENCES memory_entities (id) ON DELETE CASCADE,
		content TEXT NOT NULL,
		UNIQUE (entity_id, content)
	)`,
	`CREATE TABLE IF NOT EXISTS memory_relations (
		id INTEGER PRIMARY KEY,
		namespace TEXT NOT NULL,
		from_name TEXT NOT NULL,
		to_name TEXT NOT NULL,
		relation_type TEXT NOT NULL,
		UNIQUE (namespace, from_name, to_name, relation_type)
	)`,
	`CREATE INDEX IF NOT EXISTS memory_relations_to ON memory_relations (namespace, to_name)`,
	`CREATE VIRTUAL TABLE IF NOT EXISTS memory_fts USING fts5 (
		name, entity_type, observations,
		tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3'
	)`,
}

// sqliteBusyTimeoutMS is how long a writer waits for another (in this process or another) to
// commit before SQLite reports busy; write then retries the whole transaction.
const sqliteBusyTimeoutMS = 10000

// openSQLite opens (creating) the graph database at path: WAL so that readers never block the
// writer, foreign keys for the observations' cascade, and BEGIN IMMEDIATE for write
// transactions so that two writers never both read under a shared lock and then deadlock on
// upgrading it (SQLITE_BUSY that no timeout resolves).
func openSQLite(ctx context.Context, path string) (Store, error) {
	pragmas := url.Values{}
	pragmas.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", sqliteBusyTimeoutMS))
	pragmas.Add("_pragma", "journal_mode(WAL)")
	pragmas.Add("_pragma", "foreign_keys(1)")
	pragmas.Add("_pragma", "synchronous(NORMAL)")
	base := "file:" + (&url.URL{Path: path}).EscapedPath()

	wq := url.Values{"_txlock": {"immediate"}}
	for _, p := range pragmas["_pragma"] {
		wq.Add("_pragma", p)
	}
	w, err := sql.Open("sqlite", base+"?"+wq.Encode())
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	// One writer connection per process: SQLite serialises writers anyway, and queueing in the
	// pool is cheaper than spinning on the busy handler.
	w.SetMaxOpenConns(1)

	rq := url.Values{}
	for _, p := range pragmas["_pragma"] {
		rq.Add("_pragma", p)
	}
	rq.Add("_pragma", "query_only(1)")
	r, err := sql.Open("sqlite", base+"?"+rq.Encode())
	if err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	r.SetMaxOpenConns(8)

	s := &sqlStore{w: w, r: r, d: dialect{
		refresh:   refreshSQLiteFTS,
		search:    searchSQLite,
		retryable: sqliteRetryable,
		readOpts:  &sql.TxOptions{ReadOnly: true},
	}}
	err = s.write(ctx, func(tx *sql.Tx) error {
		for _, stmt := range sqliteSchema {
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("creating the schema: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	return s, nil
}

func sqliteRetryable(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
		return true
	}
	return false
}

// refreshSQLiteFTS rewrites the search documents of the entities; a deleted entity's document
// is removed and not re-inserted.
func refreshSQLiteFTS(ctx context.Context, tx *sql.Tx, ids []int64) error {
	for _, id := range ids {
		if _, err := tx.ExecContext(ctx, `DELETE FROM memory_fts WHERE rowid = ?`, id); err != nil {
			return fmt.Errorf("updating the search index: %w", err)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO memory_fts (rowid, name, entity_type, observations)
			SELECT e.id, e.name, e.entity_type,
				COALESCE((SELECT group_concat(content, char(10)) FROM (SELECT content FROM memory_observations WHERE entity_id = e.id ORDER BY id)), '')
			FROM memory_entities e WHERE e.id = ?`, id)
		if err != nil {
			return fmt.Errorf("updating the search index: %w", err)
		}
	}
	return nil
}

// searchSQLite ranks with bm25, names weighing most, then types, then observations; ties go by
// name and then age so that the same query always gives the same order.
func searchSQLite(ctx context.Context, q querier, ns string, terms []string, limit int) ([]int64, error) {
	match := ftsMatch(terms)
	if match == "" {
		return nil, nil
	}
	return queryIDs(ctx, q, `SELECT e.id FROM (
			SELECT rowid AS id, bm25(memory_fts, 10.0, 5.0, 1.0) AS score FROM memory_fts WHERE memory_fts MATCH ?
		) f JOIN memory_entities e ON e.id = f.id
		WHERE e.namespace = ?
		ORDER BY f.score, e.name, e.id
		LIMIT ?`, match, ns, limit)
}

// ftsMatch builds an FTS5 query from sanitized terms: each term a quoted prefix query ("ali"*
// matches Alice, as the reference server's substring match would), any of them matching, more
// matches ranking higher. Terms never reach FTS5 as syntax: quotes are doubled inside quotes.
func ftsMatch(terms []string) string {
	parts := make([]string, 0, len(terms))
	for _, t := range terms {
		if t == "" {
			continue
		}
		parts = append(parts, `"`+strings.ReplaceAll(t, `"`, `""`)+`"*`)
	}
	return strings.Join(parts, " OR ")
}
