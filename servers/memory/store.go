package memory

import (
	"context"
	"errors"
)

// Entity is a node of the graph: a unique name within its namespace, a type and observations
// (facts about it, in the order they were added). The JSON names are the reference memory
// server's, so results and JSONL files read the same.
type Entity struct {
	Name         string   `json:"name" jsonschema_description:"The entity's name, unique in the graph."`
	EntityType   string   `json:"entityType" jsonschema_description:"The entity's type, such as person or project."`
	Observations []string `json:"observations" jsonschema_description:"Facts about the entity, oldest first."`
}

// Relation is a directed, typed edge between two entities, named in active voice
// ("Alice works_at Acme").
type Relation struct {
	From         string `json:"from" jsonschema_description:"The name of the entity where the relation starts."`
	To           string `json:"to" jsonschema_description:"The name of the entity where the relation ends."`
	RelationType string `json:"relationType" jsonschema_description:"The relation's type, in active voice."`
}

// Graph is a set of entities and the relations touching them.
type Graph struct {
	Entities  []Entity   `json:"entities" jsonschema_description:"The entities."`
	Relations []Relation `json:"relations" jsonschema_description:"The relations."`
}

// ObservationAdd asks to add contents to an existing entity.
type ObservationAdd struct {
	EntityName string   `json:"entityName"`
	Contents   []string `json:"contents"`
}

// ObservationsAdded reports which of the asked contents were new.
type ObservationsAdded struct {
	EntityName        string   `json:"entityName" jsonschema_description:"The entity the observations were added to."`
	AddedObservations []string `json:"addedObservations" jsonschema_description:"The observations that were new; ones the entity already had are left out."`
}

// ObservationDelete asks to remove observations from an entity.
type ObservationDelete struct {
	EntityName   string   `json:"entityName"`
	Observations []string `json:"observations"`
}

// Page is a slice of a namespace's graph for memory_read_graph and export: the entities in
// creation order, then the relations in creation order, as one sequence of items that Offset
// indexes.
type Page struct {
	Graph
	// Total is the number of items (entities plus relations) in the namespace.
	Total int
}

// ErrEntityNotFound is wrapped by AddObservations when an entity does not exist; nothing of the
// call is kept.
var ErrEntityNotFound = errors.New("entity not found")

// Store keeps the graphs of all namespaces. Every method is one transaction, and every insert
// is idempotent at the database (unique constraints and ON CONFLICT DO NOTHING), so concurrent
// writers in one process or several never lose or duplicate a write.
type Store interface {
	// CreateEntities creates the entities whose names are new and returns them; existing names
	// (and repeats within the call) are skipped, as in the reference server.
	CreateEntities(ctx context.Context, ns string, entities []Entity) ([]Entity, error)
	// CreateRelations creates the relations that are new and returns them.
	CreateRelations(ctx context.Context, ns string, relations []Relation) ([]Relation, error)
	// AddObservations adds the new contents to each entity; an unknown entity is an
	// ErrEntityNotFound and nothing is added.
	AddObservations(ctx context.Context, ns string, adds []ObservationAdd) ([]ObservationsAdded, error)
	// DeleteEntities deletes the entities, their observations and every relation from or to
	// the names (even names that are not entities, as in the reference server). It returns the
	// number of entities deleted.
	DeleteEntities(ctx context.Context, ns string, names []string) (int, error)
	// DeleteObservations removes the observations; unknown entities and observations are
	// ignored. It returns the number removed.
	DeleteObservations(ctx context.Context, ns string, dels []ObservationDelete) (int, error)
	// DeleteRelations removes the relations; unknown ones are ignored. It returns the number
	// removed.
	DeleteRelations(ctx context.Context, ns string, relations []Relation) (int, error)
	// SearchNodes returns up to limit entities ranked by full-text relevance to the terms (best
	// first, ties by name), and the relations from or to any of them.
	SearchNodes(ctx context.Context, ns string, terms []string, limit int) (Graph, error)
	// OpenNodes returns the named entities that exist and the relations from or to any of them.
	OpenNodes(ctx context.Context, ns string, names []string) (Graph, error)
	// ReadPage returns up to limit items of the namespace's graph from offset on.
	ReadPage(ctx context.Context, ns string, offset, limit int) (Page, error)
	// Ping checks that the store answers.
	Ping(ctx context.Context) error
	// Close releases the store.
	Close() error
}
