package memory

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
)

// dialect is what differs between the SQLite and PostgreSQL backends; the statements of the
// graph operations are shared and written with ? placeholders.
type dialect struct {
	// dollar rewrites ? placeholders as $1, $2, ... (PostgreSQL).
	dollar bool
	// refresh rewrites the full-text document of the given entities inside tx; deleted entities
	// lose theirs.
	refresh func(ctx context.Context, tx *sql.Tx, ids []int64) error
	// search returns the ids of up to limit entities of ns matching terms, best first.
	search func(ctx context.Context, q querier, ns string, terms []string, limit int) ([]int64, error)
	// retryable reports a transient conflict (busy database, deadlock) worth running the
	// transaction again for.
	retryable func(error) bool
	// readOpts are the options of read transactions: a consistent snapshot, read only.
	readOpts *sql.TxOptions
	// lockRow is appended to the entity look-up of a write, so that a concurrent delete waits
	// for the observations being added instead of failing their foreign key, and so that two
	// writers to one entity queue instead of deadlocking on the search-document update that
	// follows (PostgreSQL; SQLite runs one writer at a time).
	lockRow string
}

// querier is what a read needs from a transaction or a pool.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// sqlStore is the Store over database/sql. Writes go through w, reads through r (for SQLite a
// separate read-only pool, so that reads never take the write lock).
type sqlStore struct {
	w, r *sql.DB
	d    dialect
}

// writeAttempts bounds how often a transaction that hit a transient conflict is run again.
const writeAttempts = 8

// rebind rewrites ? placeholders for PostgreSQL. The statements here hold no ? in literals.
func (s *sqlStore) rebind(q string) string {
	if !s.d.dollar {
		return q
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

// placeholders returns "?, ?, ..." for n values.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// write runs fn in one write transaction, again (with a short random backoff) when the database
// reports a transient conflict, so that a burst of writers from several processes all succeed.
func (s *sqlStore) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	var err error
	for attempt := range writeAttempts {
		if attempt > 0 {
			backoff := time.Duration(rand.IntN(10*(1<<min(attempt, 5)))+1) * time.Millisecond //nolint:gosec // G404: jitter, not security
			select {
			case <-ctx.Done():
				return errors.Join(err, ctx.Err())
			case <-time.After(backoff):
			}
		}
		err = s.writeOnce(ctx, fn)
		if err == nil || !s.d.retryable(err) {
			return err
		}
	}
	return err
}

func (s *sqlStore) writeOnce(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("beginning a transaction: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("committing: %w", err)
	}
	return nil
}

// read runs fn in one read-only transaction, so that a result is one consistent snapshot.
func (s *sqlStore) read(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.r.BeginTx(ctx, s.d.readOpts)
	if err != nil {
		return fmt.Errorf("beginning a read transaction: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	return fn(tx)
}

// entityID returns the id of the named entity, or 0 when there is none.
func (s *sqlStore) entityID(ctx context.Context, tx *sql.Tx, ns, name string) (int64, error) {
	var id int64
	err := tx.QueryRowContext(ctx, s.rebind(`SELECT id FROM memory_entities WHERE namespace = ? AND name = ?`+s.d.lockRow), ns, name).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("looking up entity: %w", err)
	}
	return id, nil
}

// insertObservation adds content to the entity unless it has it and reports whether it was new.
func (s *sqlStore) insertObservation(ctx context.Context, tx *sql.Tx, entityID int64, content string) (bool, error) {
	rows, err := tx.QueryContext(ctx, s.rebind(
		`INSERT INTO memory_observations (entity_id, content) VALUES (?, ?) ON CONFLICT DO NOTHING RETURNING id`), entityID, content)
	if err != nil {
		return false, fmt.Errorf("inserting observation: %w", err)
	}
	defer rows.Close()
	added := rows.Next()
	return added, rows.Err()
}

// CreateEntities implements Store.
func (s *sqlStore) CreateEntities(ctx context.Context, ns string, entities []Entity) ([]Entity, error) {
	var created []Entity
	err := s.write(ctx, func(tx *sql.Tx) error {
		created = created[:0]
		var ids []int64
		for _, e := range entities {
			var id int64
			err := tx.QueryRowContext(ctx, s.rebind(
				`INSERT INTO memory_entities (namespace, name, entity_type) VALUES (?, ?, ?) ON CONFLICT DO NOTHING RETURNING id`),
				ns, e.Name, e.EntityType).Scan(&id)
			if errors.Is(err, sql.ErrNoRows) {
				continue // the name exists: skipped, as in the reference server
			}
			if err != nil {
				return fmt.Errorf("inserting entity: %w", err)
			}
			obs := make([]string, 0, len(e.Observations))
			for _, o := range e.Observations {
				added, err := s.insertObservation(ctx, tx, id, o)
				if err != nil {
					return err
				}
				if added {
					obs = append(obs, o)
				}
			}
			ids = append(ids, id)
			created = append(created, Entity{Name: e.Name, EntityType: e.EntityType, Observations: obs})
		}
		return s.d.refresh(ctx, tx, ids)
	})
	if err != nil {
		return nil, err
	}
	return nonNil(created), nil
}

// CreateRelations implements Store.
func (s *sqlStore) CreateRelations(ctx context.Context, ns string, relations []Relation) ([]Relation, error) {
	var created []Relation
	err := s.write(ctx, func(tx *sql.Tx) error {
		created = created[:0]
		for _, r := range relations {
			rows, err := tx.QueryContext(ctx, s.rebind(
				`INSERT INTO memory_relations (namespace, from_name, to_name, relation_type) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id`),
				ns, r.From, r.To, r.RelationType)
			if err != nil {
				return fmt.Errorf("inserting relation: %w", err)
			}
			added := rows.Next()
			err = rows.Err()
			_ = rows.Close()
			if err != nil {
				return fmt.Errorf("inserting relation: %w", err)
			}
			if added {
				created = append(created, r)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return nonNil(created), nil
}

// AddObservations implements Store.
func (s *sqlStore) AddObservations(ctx context.Context, ns string, adds []ObservationAdd) ([]ObservationsAdded, error) {
	var results []ObservationsAdded
	err := s.write(ctx, func(tx *sql.Tx) error {
		results = results[:0]
		var ids []int64
		for _, a := range adds {
			id, err := s.entityID(ctx, tx, ns, a.EntityName)
			if err != nil {
				return err
			}
			if id == 0 {
				return fmt.Errorf("%w: %q", ErrEntityNotFound, a.EntityName)
			}
			added := []string{}
			for _, c := range a.Contents {
				ok, err := s.insertObservation(ctx, tx, id, c)
				if err != nil {
					return err
				}
				if ok {
					added = append(added, c)
				}
			}
			ids = append(ids, id)
			results = append(results, ObservationsAdded{EntityName: a.EntityName, AddedObservations: added})
		}
		return s.d.refresh(ctx, tx, ids)
	})
	if err != nil {
		return nil, err
	}
	return results, nil
}

// DeleteEntities implements Store. Observations go with their entity (ON DELETE CASCADE);
// relations name entities rather than reference them (the reference server allows relations to
// entities that do not exist yet), so they are deleted here.
func (s *sqlStore) DeleteEntities(ctx context.Context, ns string, names []string) (int, error) {
	var n int
	err := s.write(ctx, func(tx *sql.Tx) error {
		n = 0
		var ids []int64
		for _, name := range names {
			// Relations go even when the entity does not exist, as in the reference server: a
			// relation may name an entity that was never created.
			if _, err := tx.ExecContext(ctx, s.rebind(`DELETE FROM memory_relations WHERE namespace = ? AND (from_name = ? OR to_name = ?)`), ns, name, name); err != nil {
				return fmt.Errorf("deleting relations: %w", err)
			}
			var id int64
			err := tx.QueryRowContext(ctx, s.rebind(`DELETE FROM memory_entities WHERE namespace = ? AND name = ? RETURNING id`), ns, name).Scan(&id)
			if errors.Is(err, sql.ErrNoRows) {
				continue
			}
			if err != nil {
				return fmt.Errorf("deleting entity: %w", err)
			}
			ids = append(ids, id)
			n++
		}
		return s.d.refresh(ctx, tx, ids)
	})
	return n, err
}

// DeleteObservations implements Store.
func (s *sqlStore) DeleteObservations(ctx context.Context, ns string, dels []ObservationDelete) (int, error) {
	var n int
	err := s.write(ctx, func(tx *sql.Tx) error {
		n = 0
		var ids []int64
		for _, d := range dels {
			id, err := s.entityID(ctx, tx, ns, d.EntityName)
			if err != nil {
				return err
			}
			if id == 0 {
				continue // ignored, as in the reference server
			}
			for _, o := range d.Observations {
				res, err := tx.ExecContext(ctx, s.rebind(`DELETE FROM memory_observations WHERE entity_id = ? AND content = ?`), id, o)
				if err != nil {
					return fmt.Errorf("deleting observation: %w", err)
				}
				k, _ := res.RowsAffected()
				n += int(k)
			}
			ids = append(ids, id)
		}
		return s.d.refresh(ctx, tx, ids)
	})
	return n, err
}

// DeleteRelations implements Store.
func (s *sqlStore) DeleteRelations(ctx context.Context, ns string, relations []Relation) (int, error) {
	var n int
	err := s.write(ctx, func(tx *sql.Tx) error {
		n = 0
		for _, r := range relations {
			res, err := tx.ExecContext(ctx, s.rebind(
				`DELETE FROM memory_relations WHERE namespace = ? AND from_name = ? AND to_name = ? AND relation_type = ?`),
				ns, r.From, r.To, r.RelationType)
			if err != nil {
				return fmt.Errorf("deleting relation: %w", err)
			}
			k, _ := res.RowsAffected()
			n += int(k)
		}
		return nil
	})
	return n, err
}

// SearchNodes implements Store.
func (s *sqlStore) SearchNodes(ctx context.Context, ns string, terms []string, limit int) (Graph, error) {
	var g Graph
	err := s.read(ctx, func(tx *sql.Tx) error {
		ids, err := s.d.search(ctx, tx, ns, terms, limit)
		if err != nil {
			return fmt.Errorf("searching: %w", err)
		}
		g, err = s.loadGraph(ctx, tx, ns, ids)
		return err
	})
	return g, err
}

// OpenNodes implements Store.
func (s *sqlStore) OpenNodes(ctx context.Context, ns string, names []string) (Graph, error) {
	var g Graph
	err := s.read(ctx, func(tx *sql.Tx) error {
		if len(names) == 0 {
			g = Graph{Entities: []Entity{}, Relations: []Relation{}}
			return nil
		}
		args := []any{ns}
		for _, n := range names {
			args = append(args, n)
		}
		ids, err := queryIDs(ctx, tx, s.rebind(`SELECT id FROM memory_entities WHERE namespace = ? AND name IN (`+placeholders(len(names))+`) ORDER BY id`), args...)
		if err != nil {
			return fmt.Errorf("opening nodes: %w", err)
		}
		g, err = s.loadGraph(ctx, tx, ns, ids)
		return err
	})
	return g, err
}

// ReadPage implements Store.
func (s *sqlStore) ReadPage(ctx context.Context, ns string, offset, limit int) (Page, error) {
	p := Page{Graph: Graph{Entities: []Entity{}, Relations: []Relation{}}}
	err := s.read(ctx, func(tx *sql.Tx) error {
		var ne, nr int
		if err := tx.QueryRowContext(ctx, s.rebind(`SELECT COUNT(*) FROM memory_entities WHERE namespace = ?`), ns).Scan(&ne); err != nil {
			return fmt.Errorf("counting entities: %w", err)
		}
		if err := tx.QueryRowContext(ctx, s.rebind(`SELECT COUNT(*) FROM memory_relations WHERE namespace = ?`), ns).Scan(&nr); err != nil {
			return fmt.Errorf("counting relations: %w", err)
		}
		p.Total = ne + nr
		if offset < ne && limit > 0 {
			ids, err := queryIDs(ctx, tx, s.rebind(`SELECT id FROM memory_entities WHERE namespace = ? ORDER BY id LIMIT ? OFFSET ?`), ns, limit, offset)
			if err != nil {
				return fmt.Errorf("reading entities: %w", err)
			}
			if p.Entities, err = s.loadEntities(ctx, tx, ids); err != nil {
				return err
			}
			limit -= len(ids)
		}
		if relOffset := max(offset-ne, 0); limit > 0 && relOffset < nr {
			rels, err := s.queryRelations(ctx, tx, `SELECT from_name, to_name, relation_type FROM memory_relations WHERE namespace = ? ORDER BY id LIMIT ? OFFSET ?`, ns, limit, relOffset)
			if err != nil {
				return err
			}
			p.Relations = rels
		}
		return nil
	})
	return p, err
}

// Ping implements Store.
func (s *sqlStore) Ping(ctx context.Context) error {
	return s.r.PingContext(ctx)
}

// Close implements Store.
func (s *sqlStore) Close() error {
	err := s.w.Close()
	if s.r != s.w {
		err = errors.Join(err, s.r.Close())
	}
	return err
}

// loadGraph returns the entities with the ids, in that order, and the relations from or to any
// of them (the reference server's rule for search and open).
func (s *sqlStore) loadGraph(ctx context.Context, tx *sql.Tx, ns string, ids []int64) (Graph, error) {
	g := Graph{Entities: []Entity{}, Relations: []Relation{}}
	if len(ids) == 0 {
		return g, nil
	}
	var err error
	if g.Entities, err = s.loadEntities(ctx, tx, ids); err != nil {
		return g, err
	}
	args := []any{ns}
	for _, e := range g.Entities {
		args = append(args, e.Name)
	}
	for _, e := range g.Entities {
		args = append(args, e.Name)
	}
	in := placeholders(len(g.Entities))
	g.Relations, err = s.queryRelations(ctx, tx,
		`SELECT from_name, to_name, relation_type FROM memory_relations WHERE namespace = ? AND (from_name IN (`+in+`) OR to_name IN (`+in+`)) ORDER BY id`, args...)
	return g, err
}

// loadEntities returns the entities with the ids, in the order of ids, with their observations.
func (s *sqlStore) loadEntities(ctx context.Context, tx *sql.Tx, ids []int64) ([]Entity, error) {
	out := make([]Entity, 0, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	in := placeholders(len(ids))
	byID := make(map[int64]*Entity, len(ids))
	rows, err := tx.QueryContext(ctx, s.rebind(`SELECT id, name, entity_type FROM memory_entities WHERE id IN (`+in+`)`), args...)
	if err != nil {
		return nil, fmt.Errorf("reading entities: %w", err)
	}
	for rows.Next() {
		var id int64
		e := &Entity{Observations: []string{}}
		if err := rows.Scan(&id, &e.Name, &e.EntityType); err != nil {
			_ = rows.Close()
			return nil, fmt.Errorf("reading entities: %w", err)
		}
		byID[id] = e
	}
	if err := rows.Err(); err != nil {
		_ = rows.Close()
		return nil, fmt.Errorf("reading entities: %w", err)
	}
	_ = rows.Close()
	rows, err = tx.QueryContext(ctx, s.rebind(`SELECT entity_id, content FROM memory_observations WHERE entity_id IN (`+in+`) ORDER BY id`), args...)
	if err != nil {
		return nil, fmt.Errorf("reading observations: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var c string
		if err := rows.Scan(&id, &c); err != nil {
			return nil, fmt.Errorf("reading observations: %w", err)
		}
		if e := byID[id]; e != nil {
			e.Observations = append(e.Observations, c)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading observations: %w", err)
	}
	for _, id := range ids {
		if e := byID[id]; e != nil {
			out = append(out, *e)
		}
	}
	return out, nil
}

func (s *sqlStore) queryRelations(ctx context.Context, q querier, query string, args ...any) ([]Relation, error) {
	rows, err := q.QueryContext(ctx, s.rebind(query), args...)
	if err != nil {
		return nil, fmt.Errorf("reading relations: %w", err)
	}
	defer rows.Close()
	out := []Relation{}
	for rows.Next() {
		var r Relation
		if err := rows.Scan(&r.From, &r.To, &r.RelationType); err != nil {
			return nil, fmt.Errorf("reading relations: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading relations: %w", err)
	}
	return out, nil
}

func queryIDs(ctx context.Context, q querier, query string, args ...any) ([]int64, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
