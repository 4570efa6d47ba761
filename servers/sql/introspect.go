package sql

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/mcphub/mcphub/servers/registry"
)

// maxTables bounds the entries of one sql_list_tables result.
const maxTables = 2000

// sqliteCountBudget bounds the time sql_list_tables spends counting SQLite rows (SQLite keeps no
// row estimates); tables not counted in time have no count.
const sqliteCountBudget = 2 * time.Second

// TableInfo is one table or view in sql_list_tables.
type TableInfo struct {
	Schema string `json:"schema"`
	Name   string `json:"name"`
	Type   string `json:"type" jsonschema_description:"table, view, materialized view, foreign table or partitioned table."`
	Rows   *int64 `json:"rows,omitempty" jsonschema_description:"Approximate row count (PostgreSQL's planner estimate; an exact count on SQLite); absent when unknown."`
}

// TablesResult is the structured result of sql_list_tables.
type TablesResult struct {
	Source string      `json:"source"`
	Engine string      `json:"engine" jsonschema_description:"sqlite or postgres."`
	Tables []TableInfo `json:"tables"`
	More   bool        `json:"more" jsonschema_description:"True when tables were left out; filter by schema."`
}

func (s *Server) listTablesTool() registry.Tool {
	return registry.Tool{
		Def: mcp.NewTool("sql_list_tables",
			mcp.WithDescription("Lists the tables and views of a configured SQL source with their schema, kind and "+
				"approximate row count (system schemas left out). Start here, then use sql_describe_table."),
			mcp.WithString("source", mcp.Description(sourceDoc), mcp.MaxLength(64)),
			mcp.WithString("schema", mcp.MaxLength(128),
				mcp.Description("Only this schema (PostgreSQL, e.g. public; SQLite has main). Default: every user schema.")),
			mcp.WithOutputSchema[TablesResult](),
		),
		Hints:    readOnly,
		MoreHint: "pass schema to list one schema at a time",
		Handler:  s.handleListTables,
	}
}

func (s *Server) handleListTables(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	src, msg := s.pick(req.GetString("source", ""))
	if src == nil {
		return mcp.NewToolResultError(msg), nil
	}
	schema := req.GetString("schema", "")
	out := TablesResult{Source: src.name, Engine: src.target.engine.String(), Tables: []TableInfo{}}
	budget := max(s.budget-budgetReserve, 256)
	size := 0
	add := func(t TableInfo) bool {
		b, _ := json.Marshal(t)
		if len(out.Tables) >= maxTables || size+2*len(b) > budget { // JSON and text each
			out.More = true
			return false
		}
		size += 2 * len(b)
		out.Tables = append(out.Tables, t)
		return true
	}
	var err error
	if src.target.engine == enginePostgres {
		_, err = src.query(ctx, pgListTables, []any{schema}, func(v []any) bool {
			t := TableInfo{Schema: str(v[0]), Name: str(v[1]), Type: str(v[2])}
			if n, ok := asInt(v[3]); ok && n >= 0 {
				t.Rows = &n
			}
			return add(t)
		})
	} else {
		err = s.listSQLite(ctx, src, schema, add)
	}
	if err != nil {
		return toolError(err), nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d tables and views in source %s (%s):\n", len(out.Tables), src.name, out.Engine)
	for _, t := range out.Tables {
		fmt.Fprintf(&b, "%s.%s (%s", t.Schema, t.Name, t.Type)
		if t.Rows != nil {
			fmt.Fprintf(&b, ", ~%d rows", *t.Rows)
		}
		b.WriteString(")\n")
	}
	if out.More {
		b.WriteString("(more not shown: pass schema to list one schema at a time)\n")
	}
	return mcp.NewToolResultStructured(out, b.String()), nil
}

const pgListTables = `SELECT n.nspname, c.relname,
  CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'partitioned table' WHEN 'v' THEN 'view'
    WHEN 'm' THEN 'materialized view' WHEN 'f' THEN 'foreign table' END,
  CASE WHEN c.relkind IN ('r','p','m') AND c.reltuples >= 0 THEN c.reltuples::bigint END
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r','p','v','m','f') AND NOT c.relispartition
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_toast%'
  AND n.nspname NOT LIKE 'pg\_temp\_%' AND ($1::text = '' OR n.nspname = $1::text)
ORDER BY 1, 2`

func (s *Server) listSQLite(ctx context.Context, src *source, schema string, add func(TableInfo) bool) error {
	if schema != "" && schema != "main" {
		return &queryError{msg: fmt.Sprintf("source %q is SQLite, whose only schema is main", src.name)}
	}
	var tables []TableInfo
	_, err := src.query(ctx, `SELECT name, type FROM sqlite_schema WHERE type IN ('table','view')
		AND name NOT LIKE 'sqlite\_%' ESCAPE '\' ORDER BY name`, nil, func(v []any) bool {
		tables = append(tables, TableInfo{Schema: "main", Name: str(v[0]), Type: str(v[1])})
		return len(tables) <= maxTables
	})
	if err != nil {
		return err
	}
	deadline := time.Now().Add(sqliteCountBudget)
	for _, t := range tables {
		if t.Type == "table" && time.Now().Before(deadline) {
			cctx, cancel := context.WithDeadline(ctx, deadline)
			_, err := src.query(cctx, "SELECT count(*) FROM "+quoteIdent(t.Name), nil, func(v []any) bool {
				if n, ok := asInt(v[0]); ok {
					t.Rows = &n
				}
				return false
			})
			cancel()
			if err != nil && ctx.Err() != nil {
				return err
			}
		}
		if !add(t) {
			break
		}
	}
	return nil
}

// ColumnInfo is one column in sql_describe_table.
type ColumnInfo struct {
	Name       string  `json:"name"`
	Type       string  `json:"type"`
	Nullable   bool    `json:"nullable"`
	Default    *string `json:"default,omitempty" jsonschema_description:"The default expression, absent when none."`
	PrimaryKey bool    `json:"primary_key,omitempty"`
}

// ForeignKey is one foreign key in sql_describe_table.
type ForeignKey struct {
	Name       string   `json:"name,omitempty"`
	Columns    []string `json:"columns"`
	RefTable   string   `json:"ref_table"`
	RefColumns []string `json:"ref_columns"`
	OnUpdate   string   `json:"on_update,omitempty"`
	OnDelete   string   `json:"on_delete,omitempty"`
}

// IndexInfo is one index in sql_describe_table.
type IndexInfo struct {
	Name       string   `json:"name"`
	Columns    []string `json:"columns"`
	Unique     bool     `json:"unique"`
	Primary    bool     `json:"primary,omitempty"`
	Definition string   `json:"definition,omitempty"`
}

// TableDescription is the structured result of sql_describe_table.
type TableDescription struct {
	Source      string       `json:"source"`
	Schema      string       `json:"schema"`
	Name        string       `json:"name"`
	Type        string       `json:"type"`
	Columns     []ColumnInfo `json:"columns"`
	PrimaryKey  []string     `json:"primary_key"`
	ForeignKeys []ForeignKey `json:"foreign_keys"`
	Indexes     []IndexInfo  `json:"indexes"`
}

func (s *Server) describeTableTool() registry.Tool {
	return registry.Tool{
		Def: mcp.NewTool("sql_describe_table",
			mcp.WithDescription("Describes one table or view of a configured SQL source: columns with types, "+
				"nullability and defaults, the primary key, foreign keys (with the tables they reference) and indexes."),
			mcp.WithString("source", mcp.Description(sourceDoc), mcp.MaxLength(64)),
			mcp.WithString("table", mcp.Required(), mcp.MinLength(1), mcp.MaxLength(256),
				mcp.Description("Table or view name as sql_list_tables shows it, optionally schema-qualified (public.orders).")),
			mcp.WithString("schema", mcp.MaxLength(128),
				mcp.Description("Schema of the table. Default: the one in table, else the first match on the search path.")),
			mcp.WithOutputSchema[TableDescription](),
		),
		Hints:   readOnly,
		Handler: s.handleDescribeTable,
	}
}

func (s *Server) handleDescribeTable(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	src, msg := s.pick(req.GetString("source", ""))
	if src == nil {
		return mcp.NewToolResultError(msg), nil
	}
	table, schema := req.GetString("table", ""), req.GetString("schema", "")
	if schema == "" {
		if sch, name, ok := strings.Cut(table, "."); ok && sch != "" && name != "" {
			schema, table = sch, name
		}
	}
	table, schema = unquote(table), unquote(schema)
	var d *TableDescription
	var err error
	if src.target.engine == enginePostgres {
		d, err = describePostgres(ctx, src, schema, table)
	} else {
		d, err = describeSQLite(ctx, src, schema, table)
	}
	if err != nil {
		return toolError(err), nil
	}
	d.Source = src.name
	if d.PrimaryKey == nil {
		d.PrimaryKey = []string{}
	}
	if d.ForeignKeys == nil {
		d.ForeignKeys = []ForeignKey{}
	}
	if d.Indexes == nil {
		d.Indexes = []IndexInfo{}
	}
	return mcp.NewToolResultStructured(d, describeText(d)), nil
}

func describeText(d *TableDescription) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s.%s (source %s)\ncolumns:\n", d.Type, d.Schema, d.Name, d.Source)
	for _, c := range d.Columns {
		fmt.Fprintf(&b, "  %s %s", c.Name, c.Type)
		if !c.Nullable {
			b.WriteString(" NOT NULL")
		}
		if c.Default != nil {
			b.WriteString(" DEFAULT " + *c.Default)
		}
		if c.PrimaryKey {
			b.WriteString(" PRIMARY KEY")
		}
		b.WriteByte('\n')
	}
	if len(d.PrimaryKey) > 0 {
		fmt.Fprintf(&b, "primary key: (%s)\n", strings.Join(d.PrimaryKey, ", "))
	}
	for _, fk := range d.ForeignKeys {
		fmt.Fprintf(&b, "foreign key %s(%s) -> %s(%s)", fk.Name, strings.Join(fk.Columns, ", "), fk.RefTable, strings.Join(fk.RefColumns, ", "))
		if fk.OnDelete != "" {
			b.WriteString(" ON DELETE " + fk.OnDelete)
		}
		b.WriteByte('\n')
	}
	for _, ix := range d.Indexes {
		kind := "index"
		if ix.Unique {
			kind = "unique index"
		}
		fmt.Fprintf(&b, "%s %s (%s)\n", kind, ix.Name, strings.Join(ix.Columns, ", "))
	}
	return b.String()
}

func notFound(src *source, schema, table string) error {
	where := ""
	if schema != "" {
		where = " in schema " + strconv.Quote(schema)
	}
	return &queryError{msg: fmt.Sprintf("source %q has no table or view %q%s; call sql_list_tables to see the names", src.name, table, where)}
}

const pgFindTable = `SELECT c.oid::bigint, n.nspname, c.relname,
  CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'partitioned table' WHEN 'v' THEN 'view'
    WHEN 'm' THEN 'materialized view' WHEN 'f' THEN 'foreign table' END
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r','p','v','m','f') AND ($2::text = '' OR n.nspname = $2::text)
  AND (c.relname = $1::text OR lower(c.relname) = lower($1::text))
ORDER BY c.relname = $1::text DESC, pg_catalog.pg_table_is_visible(c.oid) DESC, n.nspname LIMIT 1`

const pgColumns = `SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod), NOT a.attnotnull,
  pg_catalog.pg_get_expr(d.adbin, d.adrelid),
  EXISTS (SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid = a.attrelid AND i.indisprimary AND a.attnum = ANY(i.indkey))
FROM pg_catalog.pg_attribute a LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attrelid = $1::bigint::oid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`

const pgPrimaryKey = `SELECT a.attname FROM pg_catalog.pg_index i
  CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
  JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
WHERE i.indrelid = $1::bigint::oid AND i.indisprimary ORDER BY k.ord`

const pgForeignKeys = `SELECT con.conname,
  (SELECT string_agg(a.attname, ',' ORDER BY k.ord) FROM unnest(con.conkey) WITH ORDINALITY AS k(attnum, ord)
     JOIN pg_catalog.pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum),
  con.confrelid::regclass::text,
  (SELECT string_agg(a.attname, ',' ORDER BY k.ord) FROM unnest(con.confkey) WITH ORDINALITY AS k(attnum, ord)
     JOIN pg_catalog.pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum),
  CASE con.confupdtype WHEN 'a' THEN 'NO ACTION' WHEN 'r' THEN 'RESTRICT' WHEN 'c' THEN 'CASCADE' WHEN 'n' THEN 'SET NULL' WHEN 'd' THEN 'SET DEFAULT' END,
  CASE con.confdeltype WHEN 'a' THEN 'NO ACTION' WHEN 'r' THEN 'RESTRICT' WHEN 'c' THEN 'CASCADE' WHEN 'n' THEN 'SET NULL' WHEN 'd' THEN 'SET DEFAULT' END
FROM pg_catalog.pg_constraint con WHERE con.conrelid = $1::bigint::oid AND con.contype = 'f' ORDER BY con.conname`

const pgIndexes = `SELECT ic.relname, i.indisunique, i.indisprimary,
  (SELECT string_agg(pg_catalog.pg_get_indexdef(i.indexrelid, k.ord::int, true), ',' ORDER BY k.ord)
     FROM generate_series(1, i.indnkeyatts) AS k(ord)),
  pg_catalog.pg_get_indexdef(i.indexrelid)
FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
WHERE i.indrelid = $1::bigint::oid ORDER BY ic.relname`

func describePostgres(ctx context.Context, src *source, schema, table string) (*TableDescription, error) {
	d := &TableDescription{}
	var oid int64
	if _, err := src.query(ctx, pgFindTable, []any{table, schema}, func(v []any) bool {
		oid, _ = asInt(v[0])
		d.Schema, d.Name, d.Type = str(v[1]), str(v[2]), str(v[3])
		return false
	}); err != nil {
		return nil, err
	}
	if d.Name == "" {
		return nil, notFound(src, schema, table)
	}
	steps := []struct {
		q    string
		each rowFunc
	}{
		{pgColumns, func(v []any) bool {
			c := ColumnInfo{Name: str(v[0]), Type: str(v[1]), Nullable: asBool(v[2]), PrimaryKey: asBool(v[4])}
			if v[3] != nil {
				def := str(v[3])
				c.Default = &def
			}
			d.Columns = append(d.Columns, c)
			return true
		}},
		{pgPrimaryKey, func(v []any) bool { d.PrimaryKey = append(d.PrimaryKey, str(v[0])); return true }},
		{pgForeignKeys, func(v []any) bool {
			d.ForeignKeys = append(d.ForeignKeys, ForeignKey{Name: str(v[0]), Columns: split(v[1]), RefTable: str(v[2]),
				RefColumns: split(v[3]), OnUpdate: str(v[4]), OnDelete: str(v[5])})
			return true
		}},
		{pgIndexes, func(v []any) bool {
			d.Indexes = append(d.Indexes, IndexInfo{Name: str(v[0]), Unique: asBool(v[1]), Primary: asBool(v[2]),
				Columns: split(v[3]), Definition: str(v[4])})
			return true
		}},
	}
	for _, st := range steps {
		if _, err := src.query(ctx, st.q, []any{oid}, st.each); err != nil {
			return nil, err
		}
	}
	return d, nil
}

func describeSQLite(ctx context.Context, src *source, schema, table string) (*TableDescription, error) {
	if schema != "" && schema != "main" {
		return nil, &queryError{msg: fmt.Sprintf("source %q is SQLite, whose only schema is main", src.name)}
	}
	d := &TableDescription{Schema: "main"}
	if _, err := src.query(ctx, `SELECT name, type FROM sqlite_schema WHERE type IN ('table','view') AND name = ?1 COLLATE NOCASE
		ORDER BY name = ?1 DESC LIMIT 1`, []any{table}, func(v []any) bool {
		d.Name, d.Type = str(v[0]), str(v[1])
		return false
	}); err != nil {
		return nil, err
	}
	if d.Name == "" {
		return nil, notFound(src, schema, table)
	}
	type pkCol struct {
		name string
		pos  int64
	}
	var pk []pkCol
	if _, err := src.query(ctx, `SELECT name, type, "notnull", dflt_value, pk FROM pragma_table_info(?1) ORDER BY cid`,
		[]any{d.Name}, func(v []any) bool {
			c := ColumnInfo{Name: str(v[0]), Type: str(v[1]), Nullable: !asBool(v[2])}
			if v[3] != nil {
				def := str(v[3])
				c.Default = &def
			}
			if n, ok := asInt(v[4]); ok && n > 0 {
				c.PrimaryKey = true
				pk = append(pk, pkCol{c.Name, n})
			}
			d.Columns = append(d.Columns, c)
			return true
		}); err != nil {
		return nil, err
	}
	for pos := int64(1); pos <= int64(len(pk)); pos++ {
		for _, c := range pk {
			if c.pos == pos {
				d.PrimaryKey = append(d.PrimaryKey, c.name)
			}
		}
	}
	byID := map[int64]int{}
	if _, err := src.query(ctx, `SELECT id, "table", "from", "to", on_update, on_delete FROM pragma_foreign_key_list(?1) ORDER BY id, seq`,
		[]any{d.Name}, func(v []any) bool {
			id, _ := asInt(v[0])
			i, ok := byID[id]
			if !ok {
				i = len(d.ForeignKeys)
				byID[id] = i
				d.ForeignKeys = append(d.ForeignKeys, ForeignKey{RefTable: str(v[1]), OnUpdate: str(v[4]), OnDelete: str(v[5])})
			}
			fk := &d.ForeignKeys[i]
			fk.Columns = append(fk.Columns, str(v[2]))
			fk.RefColumns = append(fk.RefColumns, str(v[3]))
			return true
		}); err != nil {
		return nil, err
	}
	if _, err := src.query(ctx, `SELECT il.name, il."unique", il.origin = 'pk', group_concat(ii.name, ','), s.sql
		FROM pragma_index_list(?1) AS il JOIN pragma_index_info(il.name) AS ii
		LEFT JOIN sqlite_schema s ON s.type = 'index' AND s.name = il.name
		GROUP BY il.name ORDER BY il.name`, []any{d.Name}, func(v []any) bool {
		d.Indexes = append(d.Indexes, IndexInfo{Name: str(v[0]), Unique: asBool(v[1]), Primary: asBool(v[2]),
			Columns: split(v[3]), Definition: str(v[4])})
		return true
	}); err != nil {
		return nil, err
	}
	return d, nil
}

// str renders a catalog value as text; NULL is "".
func str(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case *pgRaw:
		return str(x.value())
	default:
		return fmt.Sprint(x)
	}
}

// asInt reads an integer catalog value; ok is false for NULL and non-integers.
func asInt(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case *pgRaw:
		switch y := x.value().(type) {
		case int64:
			return y, true
		case string:
			n, err := strconv.ParseInt(y, 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}

// asBool reads a boolean catalog value: PostgreSQL's t, SQLite's 1.
func asBool(v any) bool {
	switch x := v.(type) {
	case bool:
		return x
	case int64:
		return x != 0
	case *pgRaw:
		switch y := x.value().(type) {
		case bool:
			return y
		case string:
			return y == "t" || y == "true"
		}
	}
	return false
}

func split(v any) []string {
	s := str(v)
	if s == "" {
		return []string{}
	}
	return strings.Split(s, ",")
}

// quoteIdent quotes an identifier for SQLite and PostgreSQL alike.
func quoteIdent(name string) string { return `"` + strings.ReplaceAll(name, `"`, `""`) + `"` }

// unquote drops one level of double quotes a model may have copied from SQL.
func unquote(name string) string {
	if len(name) >= 2 && name[0] == '"' && name[len(name)-1] == '"' {
		return strings.ReplaceAll(name[1:len(name)-1], `""`, `"`)
	}
	return name
}
