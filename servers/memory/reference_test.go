package memory

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
)

// refGraph is the reference memory server's KnowledgeGraphManager (dist/index.js of
// @modelcontextprotocol/server-memory), ported line by line, with the one deliberate change:
// repeats inside one call are stored once (the reference stores a name or an observation twice
// when a call repeats it). TestMatchesReference drives it and the real server with the same 800
// random calls and compares every result and the whole graph after each call.
type refGraph struct {
	entities  []Entity
	relations []Relation
}

func (g *refGraph) entity(name string) *Entity {
	for i := range g.entities {
		if g.entities[i].Name == name {
			return &g.entities[i]
		}
	}
	return nil
}

func (g *refGraph) createEntities(es []Entity) []Entity {
	created := []Entity{}
	for _, e := range es {
		if g.entity(e.Name) != nil {
			continue
		}
		e.Observations = dedupe(e.Observations)
		g.entities = append(g.entities, e)
		created = append(created, e)
	}
	return created
}

func (g *refGraph) createRelations(rs []Relation) []Relation {
	created := []Relation{}
	for _, r := range rs {
		if !slices.Contains(g.relations, r) {
			g.relations = append(g.relations, r)
			created = append(created, r)
		}
	}
	return created
}

func (g *refGraph) addObservations(adds []ObservationAdd) ([]ObservationsAdded, bool) {
	for _, a := range adds { // the reference throws before saving anything
		if g.entity(a.EntityName) == nil {
			return nil, false
		}
	}
	var out []ObservationsAdded
	for _, a := range adds {
		e := g.entity(a.EntityName)
		added := []string{}
		for _, c := range a.Contents {
			if !slices.Contains(e.Observations, c) {
				e.Observations = append(e.Observations, c)
				added = append(added, c)
			}
		}
		out = append(out, ObservationsAdded{EntityName: a.EntityName, AddedObservations: added})
	}
	return out, true
}

func (g *refGraph) deleteEntities(names []string) {
	g.entities = slices.DeleteFunc(g.entities, func(e Entity) bool { return slices.Contains(names, e.Name) })
	g.relations = slices.DeleteFunc(g.relations, func(r Relation) bool {
		return slices.Contains(names, r.From) || slices.Contains(names, r.To)
	})
}

func (g *refGraph) deleteObservations(dels []ObservationDelete) {
	for _, d := range dels {
		if e := g.entity(d.EntityName); e != nil {
			e.Observations = slices.DeleteFunc(e.Observations, func(o string) bool { return slices.Contains(d.Observations, o) })
		}
	}
}

func (g *refGraph) deleteRelations(rs []Relation) {
	g.relations = slices.DeleteFunc(g.relations, func(r Relation) bool { return slices.Contains(rs, r) })
}

func (g *refGraph) openNodes(names []string) Graph {
	out := Graph{Entities: []Entity{}, Relations: []Relation{}}
	for _, e := range g.entities {
		if slices.Contains(names, e.Name) {
			out.Entities = append(out.Entities, e)
		}
	}
	in := func(n string) bool {
		return slices.ContainsFunc(out.Entities, func(e Entity) bool { return e.Name == n })
	}
	for _, r := range g.relations {
		if in(r.From) || in(r.To) {
			out.Relations = append(out.Relations, r)
		}
	}
	return out
}

func (g *refGraph) graph() Graph {
	out := Graph{Entities: []Entity{}, Relations: slices.Clone(g.relations)}
	for _, e := range g.entities {
		out.Entities = append(out.Entities, Entity{Name: e.Name, EntityType: e.EntityType, Observations: slices.Clone(e.Observations)})
	}
	if out.Relations == nil {
		out.Relations = []Relation{}
	}
	return out
}

func dedupe(s []string) []string {
	out := []string{}
	for _, v := range s {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

func TestMatchesReference(t *testing.T) {
	s := newServer(t, nil)
	ref := &refGraph{}
	rng := rand.New(rand.NewPCG(7, 11)) //nolint:gosec // G404: reproducible test input
	pick := func(prefix string, n int) string { return fmt.Sprintf("%s%d", prefix, rng.IntN(n)) }
	some := func(prefix string, n, most int) []string {
		out := make([]string, 1+rng.IntN(most))
		for i := range out {
			out[i] = pick(prefix, n)
		}
		return out
	}
	relations := func() []Relation {
		out := make([]Relation, 1+rng.IntN(3))
		for i := range out {
			out[i] = Relation{pick("E", 6), pick("E", 6), pick("r", 2)}
		}
		return out
	}
	asAny := func(ss []string) []any {
		out := make([]any, len(ss))
		for i, v := range ss {
			out[i] = v
		}
		return out
	}
	for step := range 800 {
		var what string
		switch op := rng.IntN(7); op {
		case 0:
			var es []Entity
			for range 1 + rng.IntN(3) {
				es = append(es, Entity{Name: pick("E", 6), EntityType: pick("t", 2), Observations: some("o", 5, 3)})
			}
			what = fmt.Sprintf("create_entities %v", es)
			var got createEntitiesResult
			callOK(t, s, "local", "memory_create_entities", entitiesArg(es...), &got)
			if want := ref.createEntities(es); !reflect.DeepEqual(got.Entities, want) {
				t.Fatalf("step %d %s: created %v, reference %v", step, what, got.Entities, want)
			}
		case 1:
			rs := relations()
			what = fmt.Sprintf("create_relations %v", rs)
			var got createRelationsResult
			callOK(t, s, "local", "memory_create_relations", relationsArg(rs...), &got)
			if want := ref.createRelations(rs); !reflect.DeepEqual(got.Relations, want) {
				t.Fatalf("step %d %s: created %v, reference %v", step, what, got.Relations, want)
			}
		case 2:
			var adds []ObservationAdd
			var arg []any
			for range 1 + rng.IntN(2) {
				a := ObservationAdd{EntityName: pick("E", 7), Contents: some("o", 6, 3)}
				adds = append(adds, a)
				arg = append(arg, map[string]any{"entityName": a.EntityName, "contents": asAny(a.Contents)})
			}
			what = fmt.Sprintf("add_observations %v", adds)
			res := call(t, s, "local", "memory_add_observations", map[string]any{"observations": arg})
			want, ok := ref.addObservations(adds)
			if res.IsError == ok {
				t.Fatalf("step %d %s: error %v (%s), reference ok %v", step, what, res.IsError, text(res), ok)
			}
			if ok {
				var got addObservationsResult
				if err := json.Unmarshal([]byte(text(res)), &got); err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got.Results, want) {
					t.Fatalf("step %d %s: added %v, reference %v", step, what, got.Results, want)
				}
			}
		case 3:
			names := some("E", 7, 2)
			what = fmt.Sprintf("delete_entities %v", names)
			callOK(t, s, "local", "memory_delete_entities", map[string]any{"entityNames": asAny(names)}, nil)
			ref.deleteEntities(names)
		case 4:
			d := ObservationDelete{EntityName: pick("E", 7), Observations: some("o", 6, 2)}
			what = fmt.Sprintf("delete_observations %v", d)
			callOK(t, s, "local", "memory_delete_observations", map[string]any{"deletions": []any{
				map[string]any{"entityName": d.EntityName, "observations": asAny(d.Observations)}}}, nil)
			ref.deleteObservations([]ObservationDelete{d})
		case 5:
			rs := relations()
			what = fmt.Sprintf("delete_relations %v", rs)
			callOK(t, s, "local", "memory_delete_relations", relationsArg(rs...), nil)
			ref.deleteRelations(rs)
		case 6:
			names := some("E", 7, 3)
			what = fmt.Sprintf("open_nodes %v", names)
			var got nodesResult
			callOK(t, s, "local", "memory_open_nodes", map[string]any{"names": asAny(names)}, &got)
			if want := ref.openNodes(names); !reflect.DeepEqual(Graph{Entities: got.Entities, Relations: got.Relations}, want) {
				t.Fatalf("step %d %s: %+v, reference %+v", step, what, got, want)
			}
		}
		if got, want := readAll(t, s, "local"), ref.graph(); !reflect.DeepEqual(got, want) {
			t.Fatalf("step %d, after %s: graph\n%+v\nreference\n%+v", step, what, got, want)
		}
	}
}
