package memory

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// postgresSchema mirrors the SQLite one. The search document is a weighted tsvector column on
// the entity (name A, type B, observations C) kept up to date by the same transaction that
// changes the entity, with a GIN index. A transaction-level advisory lock serialises concurrent
// schema creation by several hubs (CREATE ... IF NOT EXISTS alone races on the catalog).
var postgresSchema = []string{
	`SELECT pg_advisory_xact_lock(7283641)`,
	`CREATE TABLE IF NOT EXISTS memory_entities (
		id BIGSERIAL PRIMARY KEY,
		namespace TEXT NOT NULL,
		name TEXT NOT NULL,
		entity_type TEXT NOT NULL,
		search TSVECTOR NOT NULL DEFAULT ''::tsvector,
		UNIQUE (namespace, name)
	)`,
	`CREATE TABLE IF NOT EXISTS memory_observations (
		id BIGSERIAL PRIMARY KEY,
		entity_id BIGINT NOT NULL REFERENCES memory_entities (id) ON DELETE CASCADE,
		content TEXT NOT NULL,
		UNIQUE (entity_id, content)
	)`,
	`CREATE TABLE IF NOT EXISTS memory_relations (
		id BIGSERIAL PRIMARY KEY,
		namespace TEXT NOT NULL,
		from_name TEXT NOT NULL,
		to_name TEXT NOT NULL,
		relation_type TEXT NOT NULL,
		UNIQUE (namespace, from_name, to_name, relation_type)
	)`,
	`CREATE INDEX IF NOT EXISTS memory_relations_to ON memory_relations (namespace, to_name)`,
	`CREATE INDEX IF NOT EXISTS memory_entities_search ON memory_entities USING GIN (search)`,
}

// openPostgres connects to the DSN and creates the schema. Errors never include the DSN, which
// may carry a password.
func openPostgres(ctx context.Context, dsn string) (Store, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		// The parser's message may quote the connection string, password included.
		return nil, errors.New("parsing servers.memory.postgres_dsn: not a valid PostgreSQL connection string (a postgres:// URL or key=value pairs)")
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(16)
	s := &sqlStore{w: db, r: db, d: dialect{
		dollar:    true,
		refresh:   refreshPostgresSearch,
		search:    searchPostgres,
		retryable: postgresRetryable,
		readOpts:  &sql.TxOptions{ReadOnly: true, Isolation: sql.LevelRepeatableRead},
		lockRow:   " FOR UPDATE",
	}}
	err = s.write(ctx, func(tx *sql.Tx) error {
		for _, stmt := range postgresSchema {
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("creating the schema: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("opening the PostgreSQL store: %w", redact(err, dsn))
	}
	return s, nil
}

func postgresRetryable(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false
	}
	switch pe.Code {
	case "40001", "40P01", "23505": // serialization failure, deadlock, a racing schema creation
		return true
	}
	return false
}

// refreshPostgresSearch rewrites the tsvector of the entities; deleted ones have no row left.
func refreshPostgresSearch(ctx context.Context, tx *sql.Tx, ids []int64) error {
	for _, id := range ids {
		_, err := tx.ExecContext(ctx, `UPDATE memory_entities e SET search =
			setweight(to_tsvector('simple', e.name), 'A') ||
			setweight(to_tsvector('simple', e.entity_type), 'B') ||
			setweight(to_tsvector('simple', COALESCE((SELECT string_agg(content, E'\n' ORDER BY id) FROM memory_observations WHERE entity_id = e.id), '')), 'C')
			WHERE e.id = $1`, id)
		if err != nil {
			return fmt.Errorf("updating the search index: %w", err)
		}
	}
	return nil
}

// searchPostgres ranks with ts_rank over the weighted document; ties by name, then age.
func searchPostgres(ctx context.Context, q querier, ns string, terms []string, limit int) ([]int64, error) {
	tsq := tsQuery(terms)
	if tsq == "" {
		return nil, nil
	}
	return queryIDs(ctx, q, `SELECT e.id FROM memory_entities e, to_tsquery('simple', $2) q
		WHERE e.namespace = $1 AND e.search @@ q
		ORDER BY ts_rank(e.search, q) DESC, e.name, e.id
		LIMIT $3`, ns, tsq, limit)
}

// tsQuery builds a tsquery from sanitized terms: each a quoted lexeme with prefix matching, any
// of them matching. Quoting ('...' with ' and \ escaped) keeps the terms from being syntax.
func tsQuery(terms []string) string {
	parts := make([]string, 0, len(terms))
	for _, t := range terms {
		if t == "" {
			continue
		}
		t = strings.ReplaceAll(strings.ReplaceAll(t, `\`, `\\`), `'`, `''`)
		parts = append(parts, "'"+t+"':*")
	}
	return strings.Join(parts, " | ")
}

// redact removes the DSN and its password from an error message, in case a driver quotes them.
func redact(err error, dsn string) error {
	if dsn == "" {
		return err
	}
	msg := err.Error()
	if strings.Contains(msg, dsn) {
		msg = strings.ReplaceAll(msg, dsn, "[dsn]")
	}
	if cfg, perr := pgx.ParseConfig(dsn); perr == nil && cfg.Password != "" {
		msg = strings.ReplaceAll(msg, cfg.Password, "[password]")
	}
	return errors.New(msg)
}
