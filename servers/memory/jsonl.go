package memory

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// The reference memory server keeps its graph in a JSONL file: one JSON object per line,
// {"type":"entity","name":...,"entityType":...,"observations":[...]} or
// {"type":"relation","from":...,"to":...,"relationType":...}. Import reads it and Export writes
// it, so that a user can move a graph in either direction.

// jsonlLine is one line of the file, either kind.
type jsonlLine struct {
	Type         string   `json:"type"`
	Name         string   `json:"name,omitempty"`
	EntityType   string   `json:"entityType,omitempty"`
	Observations []string `json:"observations,omitempty"`
	From         string   `json:"from,omitempty"`
	To           string   `json:"to,omitempty"`
	RelationType string   `json:"relationType,omitempty"`
}

// maxJSONLLine bounds one line of an import file.
const maxJSONLLine = 16 << 20

// importBatch is how many items go to the store per transaction.
const importBatch = 200

// ImportStats counts what Import did.
type ImportStats struct {
	// Entities and Relations were created; Observations were added to entities that existed
	// or were created.
	Entities, Relations, Observations int
	// Skipped counts entities and relations that were already there (an existing entity's new
	// observations are still added).
	Skipped int
}

// LineError is a bad line of an import file.
type LineError struct {
	Line int
	Msg  string
}

func (e *LineError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Msg) }

// ParseJSONL reads a reference-format file. Every bad line is reported (as *LineError values
// joined), not just the first, so that a user fixes the file in one go; nothing is returned
// for a file with bad lines.
func ParseJSONL(r io.Reader) (Graph, error) {
	g := Graph{Entities: []Entity{}, Relations: []Relation{}}
	var errs []error
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxJSONLLine)
	n := 0
	for sc.Scan() {
		n++
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var l jsonlLine
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&l); err != nil {
			errs = append(errs, &LineError{n, "not a JSON object of the memory format: " + err.Error()})
			continue
		}
		if dec.More() {
			errs = append(errs, &LineError{n, "more than one JSON value on the line"})
			continue
		}
		if msg := checkLineNames(l); msg != "" {
			errs = append(errs, &LineError{n, msg})
			continue
		}
		switch l.Type {
		case "entity":
			var missing []string
			if l.Name == "" {
				missing = append(missing, "name")
			}
			if l.EntityType == "" {
				missing = append(missing, "entityType")
			}
			if len(missing) > 0 || l.From != "" || l.To != "" || l.RelationType != "" {
				errs = append(errs, &LineError{n, "an entity needs name and entityType (and no from, to or relationType); missing: " + strings.Join(missing, ", ")})
				continue
			}
			g.Entities = append(g.Entities, Entity{Name: l.Name, EntityType: l.EntityType, Observations: nonNil(l.Observations)})
		case "relation":
			if l.From == "" || l.To == "" || l.RelationType == "" || l.Name != "" || l.EntityType != "" || l.Observations != nil {
				errs = append(errs, &LineError{n, "a relation needs from, to and relationType, and nothing else"})
				continue
			}
			g.Relations = append(g.Relations, Relation{From: l.From, To: l.To, RelationType: l.RelationType})
		default:
			errs = append(errs, &LineError{n, fmt.Sprintf("type is %q; want \"entity\" or \"relation\"", l.Type)})
		}
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, fmt.Errorf("reading line %d: %w", n+1, err))
	}
	if len(errs) > 0 {
		return Graph{}, errors.Join(errs...)
	}
	return g, nil
}

// checkLineNames applies the tools' rules on names and types: no blank ones, none longer than
// maxNameBytes.
func checkLineNames(l jsonlLine) string {
	for _, f := range []struct{ key, v string }{
		{"name", l.Name}, {"entityType", l.EntityType}, {"from", l.From}, {"to", l.To}, {"relationType", l.RelationType},
	} {
		switch {
		case f.v != "" && strings.TrimSpace(f.v) == "":
			return f.key + " is blank"
		case len(f.v) > maxNameBytes:
			return fmt.Sprintf("%s is %d bytes; the limit is %d", f.key, len(f.v), maxNameBytes)
		}
	}
	for i, o := range l.Observations {
		if o == "" {
			return fmt.Sprintf("observations[%d] is empty", i)
		}
	}
	return ""
}

// Import merges g into namespace ns: new entities are created, the observations of existing
// ones are added to them, new relations are created; nothing is deleted or duplicated, so
// importing the same file twice changes nothing the second time.
func Import(ctx context.Context, st Store, ns string, g Graph) (ImportStats, error) {
	var stats ImportStats
	for start := 0; start < len(g.Entities); start += importBatch {
		batch := g.Entities[start:min(start+importBatch, len(g.Entities))]
		created, err := st.CreateEntities(ctx, ns, batch)
		if err != nil {
			return stats, fmt.Errorf("importing entities: %w", err)
		}
		stats.Entities += len(created)
		for _, e := range created {
			stats.Observations += len(e.Observations)
		}
		// An entity that existed, or a repeat of one in the file, contributes its observations.
		isNew := make(map[string]bool, len(created))
		for _, e := range created {
			isNew[e.Name] = true
		}
		var adds []ObservationAdd
		for _, e := range batch {
			if isNew[e.Name] {
				delete(isNew, e.Name) // the first line of the name created it
				continue
			}
			stats.Skipped++
			if len(e.Observations) > 0 {
				adds = append(adds, ObservationAdd{EntityName: e.Name, Contents: e.Observations})
			}
		}
		if len(adds) > 0 {
			added, err := st.AddObservations(ctx, ns, adds)
			if err != nil {
				return stats, fmt.Errorf("importing observations: %w", err)
			}
			for _, a := range added {
				stats.Observations += len(a.AddedObservations)
			}
		}
	}
	for start := 0; start < len(g.Relations); start += importBatch {
		batch := g.Relations[start:min(start+importBatch, len(g.Relations))]
		created, err := st.CreateRelations(ctx, ns, batch)
		if err != nil {
			return stats, fmt.Errorf("importing relations: %w", err)
		}
		stats.Relations += len(created)
		stats.Skipped += len(batch) - len(created)
	}
	return stats, nil
}

// Export writes namespace ns in the reference format: entities first, then relations, each in
// the order they were created, page by page so that a large graph is never all in memory.
func Export(ctx context.Context, st Store, ns string, w io.Writer) error {
	bw := bufio.NewWriter(w)
	out := newJSONLWriter(bw)
	const pageItems = 1000
	for offset := 0; ; {
		page, err := st.ReadPage(ctx, ns, offset, pageItems)
		if err != nil {
			return fmt.Errorf("reading the graph: %w", err)
		}
		for _, e := range page.Entities {
			if err := out.entity(e); err != nil {
				return err
			}
		}
		for _, r := range page.Relations {
			if err := out.relation(r); err != nil {
				return err
			}
		}
		n := len(page.Entities) + len(page.Relations)
		offset += n
		if n == 0 || offset >= page.Total {
			break
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("writing: %w", err)
	}
	return nil
}

// jsonlWriter writes lines of the reference format.
type jsonlWriter struct{ enc *json.Encoder }

func newJSONLWriter(w io.Writer) jsonlWriter {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // the reference server (JSON.stringify) does not escape <, > and &
	return jsonlWriter{enc}
}

func (w jsonlWriter) entity(e Entity) error {
	if err := w.enc.Encode(jsonlEntity{Type: "entity", Name: e.Name, EntityType: e.EntityType, Observations: nonNil(e.Observations)}); err != nil {
		return fmt.Errorf("writing: %w", err)
	}
	return nil
}

func (w jsonlWriter) relation(r Relation) error {
	if err := w.enc.Encode(jsonlRelation{Type: "relation", From: r.From, To: r.To, RelationType: r.RelationType}); err != nil {
		return fmt.Errorf("writing: %w", err)
	}
	return nil
}

// jsonlEntity and jsonlRelation fix the key order of the reference server's lines.
type jsonlEntity struct {
	Type         string   `json:"type"`
	Name         string   `json:"name"`
	EntityType   string   `json:"entityType"`
	Observations []string `json:"observations"`
}

type jsonlRelation struct {
	Type         string `json:"type"`
	From         string `json:"from"`
	To           string `json:"to"`
	RelationType string `json:"relationType"`
}
