package sql

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/mcphub/mcphub/servers/registry"
)

// readOnly are the hints of every sql tool: the database refuses writes.
var readOnly = &registry.Hints{ReadOnly: true, Idempotent: true, OpenWorld: false}

const sourceDoc = "Name of the configured source (database) to use. Optional when the hub has exactly one source; " +
	"an unknown name gets the list of configured sources."

// maxSQLLen bounds the statement text a call may send.
const maxSQLLen = 100_000

// budgetReserve leaves room in the output budget for the fields around the rows and the notes.
const budgetReserve = 1024

// maxCellText bounds one value in the text table; the structured rows carry it whole.
const maxCellText = 200

// QueryResult is the structured result of sql_query.
type QueryResult struct {
	Source   string   `json:"source" jsonschema_description:"The source the query ran on."`
	Columns  []column `json:"columns" jsonschema_description:"Result columns in order, with the database's type names."`
	Rows     [][]any  `json:"rows" jsonschema_description:"Rows as arrays of values in column order; NULL is null, times are RFC 3339 strings, binary is \\x hex."`
	RowCount int      `json:"row_count" jsonschema_description:"Number of rows returned in rows."`
	MoreRows bool     `json:"more_rows" jsonschema_description:"True when the query has more rows than were returned (row limit or output budget)."`
	Note     string   `json:"note,omitempty" jsonschema_description:"Why rows were left out and how to get them."`
}

func (s *Server) queryTool() registry.Tool {
	return registry.Tool{
		Def: mcp.NewTool("sql_query",
			mcp.WithDescription("Runs one read-only SQL statement (SELECT, WITH, VALUES, EXPLAIN, SHOW or TABLE) on a "+
				"configured source and returns the columns and rows, as structured content and as a text table. "+
				"The database enforces read-only access: writes, DDL, several statements, ATTACH, COPY and "+
				"functions that touch the server's files are refused with the reason. Pass values as params "+
				"rather than in the SQL text: placeholders are $1, $2, ... on PostgreSQL and ? (or ?1) on SQLite. "+
				"Results stop at max_rows and at the output budget; more_rows says when rows were left out. "+
				"Use sql_list_tables and sql_describe_table first to learn the schema."),
			mcp.WithString("source", mcp.Description(sourceDoc), mcp.MaxLength(64)),
			mcp.WithString("sql", mcp.Required(), mcp.MinLength(1), mcp.MaxLength(maxSQLLen),
				mcp.Description("One read-only SQL statement in the source's dialect.")),
			mcp.WithArray("params", mcp.MaxItems(1000),
				mcp.Description("Positional parameter values for the placeholders ($1... on PostgreSQL, ? on SQLite), in order: strings, numbers, booleans or null."),
				mcp.Items(map[string]any{"type": []string{"string", "number", "boolean", "null"}})),
			mcp.WithNumber("max_rows", mcp.Min(1), mcp.Max(maxMaxRows),
				mcp.Description("Return at most this many rows; the source's max_rows (default 1000) caps it.")),
			mcp.WithOutputSchema[QueryResult](),
		),
		Hints:    readOnly,
		MoreHint: "add a LIMIT/OFFSET or a narrower WHERE, select fewer columns, or lower max_rows",
		Handler:  s.handleQuery,
	}
}

func (s *Server) handleQuery(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	src, msg := s.pick(req.GetString("source", ""))
	if src == nil {
		return mcp.NewToolResultError(msg), nil
	}
	stmt := req.GetString("sql", "")
	if err := classify(stmt, src.target.engine.dialect()); err != nil {
		return mcp.NewToolResultError("refused: " + err.Error()), nil
	}
	args, errMsg := queryParams(req.GetArguments()["params"])
	if errMsg != "" {
		return mcp.NewToolResultError(errMsg), nil
	}
	limit := src.cfg.MaxRows
	if n := req.GetInt("max_rows", 0); n > 0 && n < limit {
		limit = n
	}
	res, err := s.runQuery(ctx, src, stmt, args, limit)
	if err != nil {
		return toolError(err), nil
	}
	return res, nil
}

// toolError turns a query failure into an error result; a non-queryError is reported without
// its text, which could hold anything.
func toolError(err error) *mcp.CallToolResult {
	var qe *queryError
	if errors.As(err, &qe) {
		return mcp.NewToolResultError(qe.msg)
	}
	return mcp.NewToolResultError("the query failed for an unexpected reason; see the hub's log")
}

// queryParams converts the JSON params to driver arguments: whole numbers become int64 so that
// they bind to integer columns on PostgreSQL.
func queryParams(raw any) ([]any, string) {
	if raw == nil {
		return nil, ""
	}
	list, ok := raw.([]any)
	if !ok {
		return nil, "params must be an array of strings, numbers, booleans or null"
	}
	args := make([]any, len(list))
	for i, v := range list {
		switch x := v.(type) {
		case nil, string, bool, int64:
			args[i] = x
		case int:
			args[i] = int64(x)
		case float64:
			if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
				args[i] = int64(x)
			} else {
				args[i] = x
			}
		case json.Number:
			if n, err := x.Int64(); err == nil {
				args[i] = n
			} else if f, err := x.Float64(); err == nil {
				args[i] = f
			} else {
				return nil, fmt.Sprintf("params[%d] is not a number", i)
			}
		default:
			return nil, fmt.Sprintf("params[%d] must be a string, number, boolean or null, not %T", i, v)
		}
	}
	return args, ""
}

// runQuery reads up to limit rows, stopping early when the structured rows or the text table
// would pass the output budget, and builds the result.
func (s *Server) runQuery(ctx context.Context, src *source, stmt string, args []any, limit int) (*mcp.CallToolResult, error) {
	budget := max(s.budget-budgetReserve, 256)
	out := QueryResult{Source: src.name, Rows: [][]any{}}
	var text strings.Builder
	jsonSize := 0
	var cutByBudget bool
	var rowText []string
	cols, err := src.query(ctx, stmt, args, func(vals []any) bool {
		if len(out.Rows) >= limit {
			out.MoreRows = true
			return false
		}
		b, err := json.Marshal(vals)
		if err != nil {
			b = []byte(fmt.Sprint(vals))
		}
		rowText = rowText[:0]
		for _, v := range vals {
			rowText = append(rowText, cellText(v))
		}
		line := strings.Join(rowText, " | ")
		if jsonSize+len(b)+1 > budget || text.Len()+len(line)+1 > budget {
			out.MoreRows, cutByBudget = true, true
			return false
		}
		jsonSize += len(b) + 1
		text.WriteString(line)
		text.WriteByte('\n')
		out.Rows = append(out.Rows, vals)
		return true
	})
	if err != nil {
		return nil, err
	}
	out.Columns = cols
	if out.Columns == nil {
		out.Columns = []column{}
	}
	out.RowCount = len(out.Rows)
	switch {
	case cutByBudget:
		out.Note = fmt.Sprintf("stopped after %d rows: more would pass the output budget of %d bytes; "+
			"select fewer or narrower columns, or page with LIMIT/OFFSET", out.RowCount, s.budget)
	case out.MoreRows:
		out.Note = fmt.Sprintf("stopped after %d rows (the row limit); the query has more: page with LIMIT/OFFSET "+
			"or narrow the WHERE clause", out.RowCount)
	}
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.Name
	}
	var b strings.Builder
	b.Grow(text.Len() + 256)
	b.WriteString(strings.Join(names, " | "))
	b.WriteByte('\n')
	b.WriteString(text.String())
	fmt.Fprintf(&b, "(%d row", out.RowCount)
	if out.RowCount != 1 {
		b.WriteByte('s')
	}
	if out.MoreRows {
		b.WriteString("; more rows not shown: " + out.Note)
	}
	b.WriteString(")")
	return mcp.NewToolResultStructured(out, b.String()), nil
}

// cellText renders one value for the text table: NULL, text as it is (newlines escaped, long
// values shortened), anything else as JSON.
func cellText(v any) string {
	var s string
	switch x := v.(type) {
	case nil:
		return "NULL"
	case string:
		s = x
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	default:
		b, err := json.Marshal(x)
		if err != nil {
			s = fmt.Sprint(x)
		} else {
			s = string(b)
		}
	}
	if strings.ContainsAny(s, "\n\r|") {
		s = strings.NewReplacer("\n", `\n`, "\r", `\r`, "|", `\|`).Replace(s)
	}
	if len(s) > maxCellText {
		cut := maxCellText
		for cut > 0 && !isRuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }
