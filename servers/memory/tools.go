package memory

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/mcphub/mcphub/servers/registry"
)

// Tools returns the memory tools, in the reference server's order.
func (s *Server) Tools() []registry.Tool {
	return []registry.Tool{
		s.createEntitiesTool(),
		s.createRelationsTool(),
		s.addObservationsTool(),
		s.deleteEntitiesTool(),
		s.deleteObservationsTool(),
		s.deleteRelationsTool(),
		s.readGraphTool(),
		s.searchNodesTool(),
		s.openNodesTool(),
	}
}

// Results of the tools. The field names are the reference server's.
type (
	createEntitiesResult struct {
		Entities []Entity `json:"entities" jsonschema_description:"The entities created; names that already existed are left out."`
	}
	createRelationsResult struct {
		Relations []Relation `json:"relations" jsonschema_description:"The relations created; ones that already existed are left out."`
	}
	addObservationsResult struct {
		Results []ObservationsAdded `json:"results" jsonschema_description:"Per entity, the observations that were new."`
	}
	deleteResult struct {
		Success bool   `json:"success" jsonschema_description:"Always true: deleting what does not exist is not an error."`
		Message string `json:"message" jsonschema_description:"What was done."`
		Deleted int    `json:"deleted" jsonschema_description:"How many items were deleted."`
	}
	nodesResult struct {
		Entities  []Entity   `json:"entities" jsonschema_description:"The entities."`
		Relations []Relation `json:"relations" jsonschema_description:"The relations from or to any of the entities."`
		Note      string     `json:"note,omitempty" jsonschema_description:"Present when some of the result was left out to fit the output budget, saying what and how to get it."`
	}
	readGraphResult struct {
		Entities   []Entity   `json:"entities" jsonschema_description:"Entities of this page, oldest first."`
		Relations  []Relation `json:"relations" jsonschema_description:"Relations of this page, oldest first (they follow all entities)."`
		Total      int        `json:"total" jsonschema_description:"Items (entities plus relations) in the whole graph."`
		NextOffset *int       `json:"nextOffset,omitempty" jsonschema_description:"Present when the graph has more: call again with offset set to it."`
		Note       string     `json:"note,omitempty" jsonschema_description:"Present when the page is not the whole graph."`
	}
)

// JSON schema fragments of the inputs. They are raw so that every nested object rejects
// unknown fields too.
func stringSchema(desc string, maxLen int) map[string]any {
	return map[string]any{"type": "string", "description": desc, "minLength": 1, "maxLength": maxLen}
}

func arraySchema(desc string, items map[string]any) map[string]any {
	return map[string]any{"type": "array", "description": desc, "items": items}
}

func objectSchema(props map[string]any, required ...string) map[string]any {
	o := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		o["required"] = required
	}
	return o
}

func inputSchema(props map[string]any, required ...string) mcp.ToolOption {
	raw, err := json.Marshal(objectSchema(props, required...))
	if err != nil {
		panic(fmt.Sprintf("encoding a static schema: %v", err)) // a bug in the literals below
	}
	return func(t *mcp.Tool) {
		t.InputSchema.Type = "" // mcp-go refuses a tool with both schemas set
		t.RawInputSchema = raw
	}
}

// maxObservationSchema is the schema's bound; the configured max_observation_bytes is checked
// by the handler, since tool definitions may not depend on the config.
const maxObservationSchema = 1 << 20

func observationsSchema(desc string) map[string]any {
	return arraySchema(desc, map[string]any{"type": "string", "maxLength": maxObservationSchema})
}

func entitySchema() map[string]any {
	return objectSchema(map[string]any{
		"name":         stringSchema("The entity's name, unique in the graph.", maxNameBytes),
		"entityType":   stringSchema("The entity's type, such as person, project or preference.", maxNameBytes),
		"observations": observationsSchema("Facts about the entity, one per string."),
	}, "name", "entityType")
}

func relationSchema() map[string]any {
	return objectSchema(map[string]any{
		"from":         stringSchema("The name of the entity where the relation starts.", maxNameBytes),
		"to":           stringSchema("The name of the entity where the relation ends.", maxNameBytes),
		"relationType": stringSchema("The relation's type, in active voice (works_at, depends_on).", maxNameBytes),
	}, "from", "to", "relationType")
}

func namesSchema(desc string) map[string]any {
	return arraySchema(desc, stringSchema("An entity name.", maxNameBytes))
}

func (s *Server) createEntitiesTool() registry.Tool {
	return registry.Tool{
		Def: mcp.NewTool("memory_create_entities",
			mcp.WithTitleAnnotation("Create entities"),
			mcp.WithDescription("Creates entities in your memory graph, each with a name, a type and observations (facts). "+
				"Names that already exist are skipped (use memory_add_observations to add facts to them); the result lists what was created."),
			inputSchema(map[string]any{"entities": arraySchema("The entities to create.", entitySchema())}, "entities"),
			mcp.WithOutputSchema[createEntitiesResult](),
		),
		Hints: &registry.Hints{},
		Handler: s.handle(func(ctx context.Context, st Store, ns string, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			var args struct {
				Entities []Entity `json:"entities"`
			}
			if msg := bind(req, &args); msg != "" {
				return mcp.NewToolResultError(msg), nil
			}
			obs := 0
			for i, e := range args.Entities {
				if msg := checkName(fmt.Sprintf("entities[%d].name", i), e.Name); msg != "" {
					return mcp.NewToolResultError(msg), nil
				}
				if msg := checkName(fmt.Sprintf("entities[%d].entityType", i), e.EntityType); msg != "" {
					return mcp.NewToolResultError(msg), nil
				}
				if msg := s.checkObservations(fmt.Sprintf("entities[%d].observations", i), e.Observations); msg != "" {
					return mcp.NewToolResultError(msg), nil
				}
				obs += len(e.Observations)
			}
			if msg := s.checkCounts("entities", len(args.Entities), obs); msg != "" {
				return mcp.NewToolResultError(msg), nil
			}
			created, err := st.CreateEntities(ctx, ns, args.Entities)
			if err != nil {
				return s.storeError(ctx, err), nil
			}
			return structured(createEntitiesResult{Entities: created}), nil
		}),
	}
}

func (s *Server) createRelationsTool() registry.Tool {
	return registry.Tool{
		Def: mcp.NewTool("memory_create_relations",
			mcp.WithTitleAnnotation("Create relations"),
			mcp.WithDescription("Creates directed relations between entities of your memory graph, named in active voice "+
				"(from Alice, to Acme, relationType works_at). Relations that already exist are skipped; the result lists what was created."),
			inputSchema(map[string]any{"relations": arraySchema("The relations to create.", relationSchema())}, "relations"),
			mcp.WithOutputSchema[createRelationsResult](),
		),
		Hints: &registry.Hints{},
		Handler: s.handle(func(ctx context.Context, st Store, ns string, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			var args struct {
				Relations []Relation `json:"relations"`
			}
			if msg := bind(req, &args); msg != "" {
				return mcp.NewToolResultError(msg), nil
			}
			if msg := checkRelations(args.Relations); msg != "" {
				return mcp.NewToolResultError(msg), nil
			}
			if msg := s.checkCounts("relations", len(args.Relations), 0); msg != "" {
				return mcp.NewToolResultError(msg), nil
			}
			created, err := st.CreateRelations(ctx, ns, args.Relations)
			if err != nil {
				return s.storeError(ctx, err), nil
			}
			return structured(createRelationsResult{Relations: created}), nil
		}),
	}
}

func (s *Server) addObservationsTool() registry.Tool {
	return registry.Tool{
		Def: mcp.NewTool("memory_add_observations",
			mcp.WithTitleAnnotation("Add observations"),
			mcp.WithDescription("Adds observations (facts) to existing entities of your memory graph. Observations an entity already has are skipped; "+
				"the result lists, per entity, what was added. An entity that does not exist is an error and nothing is added: create it first with memory_create_entities."),
			inputSchema(map[string]any{"observations": arraySchema("Per entity, the observations to add.", objectSchema(map[string]any{
				"entityName": stringSchema("The entity to add to.", maxNameBytes),
				"contents":   observationsSchema("The observations to add."),
			}, "entityName", "contents"))}, "observations"),
			mcp.WithOutputSchema[addObservationsResult](),
		),
		Hints: &registry.Hints{},
		Handler: s.handle(func(ctx context.Context, st Store, ns string, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			var args struct {
				Observations []ObservationAdd `json:"observations"`
			}
			if msg := bind(req, &args); msg != "" {
				return mcp.NewToolResultError(msg), nil
			}
			obs := 0
			for i, a := range args.Observations {
				if msg := checkName(fmt.Sprintf("observations[%d].entityName", i), a.EntityName); msg != "" {
					return mcp.NewToolResultError(msg), nil
				}
				if msg := s.checkObservations(fmt.Sprintf("observations[%d].contents", i), a.Contents); msg != "" {
					return mcp.NewToolResultError(msg), nil
				}
				obs += len(a.Contents)
			}
			if msg := s.checkCounts("observations", len(args.Observations), obs); msg != "" {
				return mcp.NewToolResultError(msg), nil
			}
			results, err := st.AddObservations(ctx, ns, args.Observations)
			if err != nil {
				return s.storeError(ctx, err), nil
			}
			return structured(addObservationsResult{Results: results}), nil
		}),
	}
}

func (s *Server) deleteEntitiesTool() registry.Tool {
	return registry.Tool{
		Def: mcp.NewTool("memory_delete_entities",
			mcp.WithTitleAnnotation("Delete entities"),
			mcp.WithDescription("Deletes entities from your memory graph, with their observations and every relation from or to them. "+
				"Names that do not exist are ignored."),
			inputSchema(map[string]any{"entityNames": namesSchema("The names of the entities to delete.")}, "entityNames"),
			mcp.WithOutputSchema[deleteResult](),
		),
		Hints: &registry.Hints{Destructive: true, Idempotent: true},
		Handler: s.handle(func(ctx context.Context, st Store, ns string, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			var args struct {
				EntityNames []string `json:"entityNames"`
			}
			if msg := bind(req, &args); msg != "" {
				return mcp.NewToolResultError(msg), nil
			}
			if msg := s.checkCounts("entityNames", len(args.EntityNames), 0); msg != "" {
				return mcp.NewToolResultError(msg), nil
			}
			n, err := st.DeleteEntities(ctx, ns, args.EntityNames)
			if err != nil {
				return s.storeError(ctx, err), nil
			}
			return structured(deleteResult{Success: true, Message: "Entities deleted successfully", Deleted: n}), nil
		}),
	}
}

func (s *Server) deleteObservationsTool() registry.Tool {
	return registry.Tool{
		Def: mcp.NewTool("memory_delete_observations",
			mcp.WithTitleAnnotation("Delete observations"),
			mcp.WithDescription("Deletes observations from entities of your memory graph; give each observation's exact text. "+
				"Entities and observations that do not exist are ignored."),
			inputSchema(map[string]any{"deletions": arraySchema("Per entity, the observations to delete.", objectSchema(map[string]any{
				"entityName":   stringSchema("The entity to delete from.", maxNameBytes),
				"observations": observationsSchema("The observations to delete, exactly as stored."),
			}, "entityName", "observations"))}, "deletions"),
			mcp.WithOutputSchema[deleteResult](),
		),
		Hints: &registry.Hints{Destructive: true, Idempotent: true},
		Handler: s.handle(func(ctx context.Context, st Store, ns string, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			var args struct {
				Deletions []ObservationDelete `json:"deletions"`
			}
			if msg := bind(req, &args); msg != "" {
				return mcp.NewToolResultError(msg), nil
			}
			obs := 0
			for _, d := range args.Deletions {
				obs += len(d.Observations)
			}
			if msg := s.checkCounts("deletions", len(args.Deletions), obs); msg != "" {
				return mcp.NewToolResultError(msg), nil
			}
			n, err := st.DeleteObservations(ctx, ns, args.Deletions)
			if err != nil {
				return s.storeError(ctx, err), nil
			}
			return structured(deleteResult{Success: true, Message: "Observations deleted successfully", Deleted: n}), nil
		}),
	}
}

func (s *Server) deleteRelationsTool() registry.Tool {
	return registry.Tool{
		Def: mcp.NewTool("memory_delete_relations",
			mcp.WithTitleAnnotation("Delete relations"),
			mcp.WithDescription("Deletes relations from your memory graph; each is matched on from, to and relationType exactly. "+
				"Relations that do not exist are ignored."),
			inputSchema(map[string]any{"relations": arraySchema("The relations to delete.", relationSchema())}, "relations"),
			mcp.WithOutputSchema[deleteResult](),
		),
		Hints: &registry.Hints{Destructive: true, Idempotent: true},
		Handler: s.handle(func(ctx context.Context, st Store, ns string, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			var args struct {
				Relations []Relation `json:"relations"`
			}
			if msg := bind(req, &args); msg != "" {
				return mcp.NewToolResultError(msg), nil
			}
			if msg := s.checkCounts("relations", len(args.Relations), 0); msg != "" {
				return mcp.NewToolResultError(msg), nil
			}
			n, err := st.DeleteRelations(ctx, ns, args.Relations)
			if err != nil {
				return s.storeError(ctx, err), nil
			}
			return structured(deleteResult{Success: true, Message: "Relations deleted successfully", Deleted: n}), nil
		}),
	}
}

func (s *Server) readGraphTool() registry.Tool {
	return registry.Tool{
		Def: mcp.NewTool("memory_read_graph",
			mcp.WithTitleAnnotation("Read the memory graph"),
			mcp.WithDescription("Reads your whole memory graph: entities (oldest first), then relations. A large graph comes in pages: "+
				"when the result has nextOffset, call again with offset set to it. To find something specific, memory_search_nodes is cheaper."),
			inputSchema(map[string]any{
				"offset": map[string]any{"type": "integer", "minimum": 0, "default": 0,
					"description": "Items to skip (entities first, then relations); use the nextOffset of the previous page."},
				"limit": map[string]any{"type": "integer", "minimum": 1, "maximum": maxPageItems, "default": defaultPageItems,
					"description": "Most items in this page; a page also stops early to fit the output budget."},
			}),
			mcp.WithOutputSchema[readGraphResult](),
		),
		Hints:    &registry.Hints{ReadOnly: true, Idempotent: true},
		MoreHint: "call memory_read_graph again with offset set to the nextOffset of this result",
		Handler: s.handle(func(ctx context.Context, st Store, ns string, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			offset := max(req.GetInt("offset", 0), 0)
			limit := min(max(req.GetInt("limit", defaultPageItems), 1), maxPageItems)
			page, err := st.ReadPage(ctx, ns, offset, limit)
			if err != nil {
				return s.storeError(ctx, err), nil
			}
			return structured(s.fitPage(page, offset)), nil
		}),
	}
}

// room is how many bytes of entities and relations a result may hold: the structured content
// and its text copy must each fit the hub's output budget (the registry turns a structured
// result over it into an error), less room for the envelope and the note. Zero: no limit.
func (s *Server) room() int {
	if s.budget <= 0 {
		return 0
	}
	return max(s.budget*3/4-512, 256)
}

// fitGraph keeps the entities, then the relations, in order, while they fit in room bytes. An
// entity that does not fit even alone, first in the result, keeps its oldest observations that
// fit. It returns the kept graph and a description of what was left out ("" when nothing).
func fitGraph(g Graph, room int) (Graph, string) {
	if room <= 0 {
		return g, ""
	}
	out := Graph{Entities: []Entity{}, Relations: []Relation{}}
	used := 64
	var left []string
	for i, e := range g.Entities {
		size := jsonSize(e) + 1
		if used+size <= room {
			out.Entities = append(out.Entities, e)
			used += size
			continue
		}
		if i == 0 {
			trimmed := e
			trimmed.Observations = []string{}
			used += jsonSize(trimmed) + 1
			for _, o := range e.Observations {
				if used+len(o)+8 > room {
					break
				}
				trimmed.Observations = append(trimmed.Observations, o)
				used += len(o) + 8
			}
			out.Entities = append(out.Entities, trimmed)
			left = append(left, fmt.Sprintf("%d of the %d observations of %q (the oldest are shown; the entity is larger "+
				"than one result can hold: remove observations it no longer needs with memory_delete_observations)",
				len(e.Observations)-len(trimmed.Observations), len(e.Observations), e.Name))
			if rest := len(g.Entities) - 1; rest > 0 {
				left = append(left, fmt.Sprintf("%d entities", rest))
			}
		} else {
			left = append(left, fmt.Sprintf("%d entities", len(g.Entities)-i))
		}
		break
	}
	for i, r := range g.Relations {
		size := jsonSize(r) + 1
		if used+size > room {
			left = append(left, fmt.Sprintf("%d relations", len(g.Relations)-i))
			break
		}
		out.Relations = append(out.Relations, r)
		used += size
	}
	return out, strings.Join(left, ", ")
}

// fitNodes fits a search or open result to the budget; more says how to get the rest.
func (s *Server) fitNodes(g Graph, more string) nodesResult {
	fit, left := fitGraph(g, s.room())
	res := nodesResult{Entities: fit.Entities, Relations: fit.Relations}
	if left != "" {
		res.Note = "left out to fit the output budget: " + left + "; " + more
	}
	return res
}

// fitPage cuts a page of memory_read_graph to the budget and says how to get the rest.
func (s *Server) fitPage(page Page, offset int) readGraphResult {
	fit, left := fitGraph(page.Graph, s.room())
	res := readGraphResult{Entities: fit.Entities, Relations: fit.Relations, Total: page.Total}
	shown := len(res.Entities) + len(res.Relations)
	if len(page.Relations) > 0 && len(res.Relations) < len(page.Relations) && len(res.Entities) < len(page.Entities) {
		// Relations come after every entity: never show some of a page's relations while
		// skipping entities before them.
		res.Relations = []Relation{}
		shown = len(res.Entities)
	}
	if shown == 0 && len(page.Relations) > 0 {
		// A relation larger than the whole budget (names of 512 bytes and a tiny budget): show
		// it anyway, so that paging always moves on.
		res.Relations, shown = page.Relations[:1], 1
	}
	if next := offset + shown; next < page.Total {
		res.NextOffset = &next
		res.Note = fmt.Sprintf("graph has %d items (entities, then relations); this page holds items %d to %d. "+
			"Call memory_read_graph with offset=%d for the rest.", page.Total, offset, offset+shown-1, next)
	}
	if strings.Contains(left, "observations of") {
		res.Note = strings.TrimSpace("left out to fit the output budget: " + strings.SplitN(left, ", ", 2)[0] + ". " + res.Note)
	}
	return res
}

func jsonSize(v any) int {
	b, _ := json.Marshal(v)
	return len(b)
}

func (s *Server) searchNodesTool() registry.Tool {
	return registry.Tool{
		Def: mcp.NewTool("memory_search_nodes",
			mcp.WithTitleAnnotation("Search the memory graph"),
			mcp.WithDescription("Searches your memory graph by words, ranked by relevance over entity names (weighing most), types and observations; "+
				"a word matches words it begins (\"ali\" finds Alice). Returns the best entities and the relations from or to them."),
			inputSchema(map[string]any{
				"query": stringSchema("Words to look for; punctuation and operators are ignored.", 4096),
				"limit": map[string]any{"type": "integer", "minimum": 1, "maximum": maxSearchLimit, "default": defaultSearchLimit,
					"description": "Most entities to return, best first."},
			}, "query"),
			mcp.WithOutputSchema[nodesResult](),
		),
		Hints: &registry.Hints{ReadOnly: true, Idempotent: true},
		Handler: s.handle(func(ctx context.Context, st Store, ns string, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			terms := searchTerms(req.GetString("query", ""))
			if len(terms) == 0 {
				return mcp.NewToolResultError("the query has no words to search for (letters or digits); " +
					"give some words, or use memory_read_graph to list everything"), nil
			}
			limit := min(max(req.GetInt("limit", defaultSearchLimit), 1), maxSearchLimit)
			g, err := st.SearchNodes(ctx, ns, terms, limit)
			if err != nil {
				return s.storeError(ctx, err), nil
			}
			return structured(s.fitNodes(g, "search with a lower limit or more specific words")), nil
		}),
	}
}

func (s *Server) openNodesTool() registry.Tool {
	return registry.Tool{
		Def: mcp.NewTool("memory_open_nodes",
			mcp.WithTitleAnnotation("Open entities"),
			mcp.WithDescription("Returns the named entities of your memory graph with all their observations, and the relations from or to them. "+
				"Names that do not exist are left out."),
			inputSchema(map[string]any{"names": namesSchema("The names of the entities to open.")}, "names"),
			mcp.WithOutputSchema[nodesResult](),
		),
		Hints: &registry.Hints{ReadOnly: true, Idempotent: true},
		Handler: s.handle(func(ctx context.Context, st Store, ns string, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			var args struct {
				Names []string `json:"names"`
			}
			if msg := bind(req, &args); msg != "" {
				return mcp.NewToolResultError(msg), nil
			}
			if msg := s.checkCounts("names", len(args.Names), 0); msg != "" {
				return mcp.NewToolResultError(msg), nil
			}
			g, err := st.OpenNodes(ctx, ns, args.Names)
			if err != nil {
				return s.storeError(ctx, err), nil
			}
			return structured(s.fitNodes(g, "open fewer names at once")), nil
		}),
	}
}

// handlerFunc is a tool handler given the open store and the caller's namespace.
type handlerFunc func(ctx context.Context, st Store, ns string, req mcp.CallToolRequest) (*mcp.CallToolResult, error)

// handle resolves the store and the caller's namespace for h.
func (s *Server) handle(h handlerFunc) registry.Handler {
	return func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		st, err := s.storeFor(ctx)
		if err != nil {
			msg := "the memory store is not available (" + redact(err, s.cfg.PostgresDSN).Error() + "); nothing was read or saved. " +
				"Try again in a few seconds; if it persists, tell the operator (hub_list_servers shows why)"
			return mcp.NewToolResultError(msg), nil
		}
		return h(ctx, st, s.namespace(ctx), req)
	}
}

// structured returns v as structured content and as its JSON text for clients that read text.
func structured(v any) *mcp.CallToolResult {
	b, err := json.Marshal(v)
	if err != nil {
		return mcp.NewToolResultError("encoding the result: " + err.Error())
	}
	return mcp.NewToolResultStructured(v, string(b))
}

// bind decodes the (already schema-validated) arguments into v.
func bind(req mcp.CallToolRequest, v any) string {
	if err := req.BindArguments(v); err != nil {
		return "invalid arguments: " + err.Error()
	}
	return ""
}

func checkName(field, v string) string {
	switch {
	case strings.TrimSpace(v) == "":
		return field + " is empty; give a name"
	case len(v) > maxNameBytes:
		return fmt.Sprintf("%s is %d bytes; the limit is %d", field, len(v), maxNameBytes)
	case !utf8.ValidString(v):
		return field + " is not valid UTF-8"
	}
	return ""
}

func checkRelations(rs []Relation) string {
	for i, r := range rs {
		p := "relations[" + strconv.Itoa(i) + "]."
		for _, f := range []struct{ k, v string }{{"from", r.From}, {"to", r.To}, {"relationType", r.RelationType}} {
			if msg := checkName(p+f.k, f.v); msg != "" {
				return msg
			}
		}
	}
	return ""
}

func (s *Server) checkObservations(field string, obs []string) string {
	for i, o := range obs {
		switch {
		case o == "":
			return fmt.Sprintf("%s[%d] is empty; leave it out", field, i)
		case len(o) > s.cfg.MaxObservationBytes:
			return fmt.Sprintf("%s[%d] is %d bytes; the limit is %d: split it into shorter observations", field, i, len(o), s.cfg.MaxObservationBytes)
		case !utf8.ValidString(o):
			return fmt.Sprintf("%s[%d] is not valid UTF-8", field, i)
		}
	}
	return ""
}

func (s *Server) checkCounts(field string, items, observations int) string {
	if items > s.cfg.MaxItemsPerCall {
		return fmt.Sprintf("%s has %d items; the limit is %d per call: split the call", field, items, s.cfg.MaxItemsPerCall)
	}
	if observations > s.cfg.MaxObservationsPerCall {
		return fmt.Sprintf("the call carries %d observations; the limit is %d per call: split the call", observations, s.cfg.MaxObservationsPerCall)
	}
	return ""
}

// storeError turns a store failure into a result the model can act on; unexpected failures are
// logged for the operator.
func (s *Server) storeError(ctx context.Context, err error) *mcp.CallToolResult {
	switch {
	case errors.Is(err, ErrEntityNotFound):
		return mcp.NewToolResultError(strings.TrimPrefix(err.Error(), ErrEntityNotFound.Error()+": ") +
			" is not an entity of your memory graph, so nothing was added; create it with memory_create_entities first, or check the name with memory_search_nodes")
	case ctx.Err() != nil:
		return mcp.NewToolResultError("the memory store did not answer in time; nothing of this call was saved. Try again, with fewer items if it was large")
	}
	err = redact(err, s.cfg.PostgresDSN)
	s.logger.ErrorContext(ctx, "memory store failed", slog.String("error", err.Error()))
	return mcp.NewToolResultError("the memory store failed and nothing of this call was saved: " + err.Error() + ". Try again; if it keeps failing, tell the operator")
}
