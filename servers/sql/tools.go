package sql

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
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
// would pass the output budget, and builds the result. Rows are encoded as they arrive, straight
// into the JSON of the structured content and into the text table: the structured content goes
// out as json.RawMessage, so that neither this handler nor the middleware's size check runs
// reflection over thousands of values.
func (s *Server) runQuery(ctx context.Context, src *source, stmt string, args []any, limit int) (*mcp.CallToolResult, error) {
	budget := max(s.budget-budgetReserve, 256)
	sc := scratchPool.Get().(*scratch)
	defer sc.release()
	var more, cutOff bool
	rows, text, rowEnds, textEnds := sc.rows[:0], sc.text[:0], sc.rowEnds[:0], sc.textEnds[:0]
	defer func() { sc.rows, sc.text, sc.rowEnds, sc.textEnds = rows, text, rowEnds, textEnds }()
	cols, err := src.query(ctx, stmt, args, func(vals []any) bool {
		if len(rowEnds) >= limit {
			more = true
			return false
		}
		if len(rowEnds) > 0 {
			rows = append(rows, ',')
		}
		rows = append(rows, '[')
		for i, v := range vals {
			if i > 0 {
				rows = append(rows, ',')
				text = append(text, " | "...)
			}
			mark := len(rows)
			rows = appendJSON(rows, v)
			switch x := v.(type) {
			case int64, int32, int16, int, bool, json.Number:
				text = append(text, rows[mark:]...) // the same digits: format once
			case *pgRaw:
				if isRawText(x) {
					text = appendCellText(text, x.b)
				} else if js := rows[mark:]; js[0] != '"' {
					text = appendCellText(text, js)
				} else {
					text = appendCell(text, x)
				}
			case float64:
				if s := rows[mark:]; s[0] != '"' { // NaN and infinities are quoted in JSON only
					text = append(text, s...)
				} else {
					text = appendCell(text, v)
				}
			default:
				text = appendCell(text, v)
			}
		}
		rows = append(rows, ']')
		text = append(text, '\n')
		rowEnds = append(rowEnds, len(rows))
		textEnds = append(textEnds, len(text))
		if len(rows) > budget || len(text) > budget {
			more, cutOff = true, true
			return false
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	if cols == nil {
		cols = []column{}
	}
	colsJSON, err := json.Marshal(cols)
	if err != nil {
		return nil, fmt.Errorf("encoding columns: %w", err)
	}
	header := make([]string, len(cols))
	for i, c := range cols {
		header[i] = c.Name
	}
	headerText := strings.Join(header, " | ")
	// Drop rows from the end until the whole result fits: the last row read may have passed the
	// budget, and the columns and the note take their share.
	fixed := len(colsJSON) + len(src.name) + len(headerText) + 512
	n := len(rowEnds)
	for n > 0 && (rowEnds[n-1]+fixed > s.budget || textEnds[n-1]+fixed > s.budget) {
		n--
		more, cutOff = true, true
	}
	rowsLen, textLen := 0, 0
	if n > 0 {
		rowsLen, textLen = rowEnds[n-1], textEnds[n-1]
	}
	var note string
	switch {
	case cutOff:
		note = fmt.Sprintf("stopped after %d rows: more would pass the output budget of %d bytes; "+
			"select fewer or narrower columns, or page with LIMIT/OFFSET", n, s.budget)
	case more:
		note = fmt.Sprintf("stopped after %d rows (the row limit); the query has more: page with LIMIT/OFFSET "+
			"or narrow the WHERE clause", n)
	}

	js := make([]byte, 0, rowsLen+len(colsJSON)+len(note)+128)
	js = append(js, `{"source":`...)
	js = appendJSONString(js, src.name)
	js = append(js, `,"columns":`...)
	js = append(js, colsJSON...)
	js = append(js, `,"rows":[`...)
	js = append(js, rows[:rowsLen]...)
	js = append(js, `],"row_count":`...)
	js = strconv.AppendInt(js, int64(n), 10)
	js = append(js, `,"more_rows":`...)
	js = strconv.AppendBool(js, more)
	if note != "" {
		js = append(js, `,"note":`...)
		js = appendJSONString(js, note)
	}
	js = append(js, '}')

	var b strings.Builder
	b.Grow(len(headerText) + textLen + len(note) + 64)
	b.WriteString(headerText)
	b.WriteByte('\n')
	b.Write(text[:textLen])
	fmt.Fprintf(&b, "(%d row", n)
	if n != 1 {
		b.WriteByte('s')
	}
	if more {
		b.WriteString("; more rows not shown: " + note)
	}
	b.WriteString(")")
	return mcp.NewToolResultStructured(json.RawMessage(js), b.String()), nil
}

// scratch holds the buffers one sql_query call encodes into, reused across calls: a result is
// built by appending row after row, and growing fresh buffers each time costs more than the
// encoding.
type scratch struct {
	rows, text        []byte
	rowEnds, textEnds []int // end of each row in rows and in text
}

var scratchPool = sync.Pool{New: func() any {
	return &scratch{rows: make([]byte, 0, 16<<10), text: make([]byte, 0, 16<<10)}
}}

// maxPooledScratch keeps a call with a huge budget from pinning its buffers.
const maxPooledScratch = 1 << 20

func (sc *scratch) release() {
	if cap(sc.rows) <= maxPooledScratch && cap(sc.text) <= maxPooledScratch {
		scratchPool.Put(sc)
	}
}

// appendJSON appends v, a value from jsonValue, as JSON.
func appendJSON(b []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...)
	case string:
		return appendJSONString(b, x)
	case bool:
		return strconv.AppendBool(b, x)
	case int64:
		return strconv.AppendInt(b, x, 10)
	case int32:
		return strconv.AppendInt(b, int64(x), 10)
	case int16:
		return strconv.AppendInt(b, int64(x), 10)
	case int:
		return strconv.AppendInt(b, int64(x), 10)
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return appendJSONString(b, nonFinite(x))
		}
		return strconv.AppendFloat(b, x, 'g', -1, 64)
	case json.Number:
		return append(b, x...)
	case *pgRaw:
		return appendRawJSON(b, x)
	default:
		raw, err := json.Marshal(x)
		if err != nil {
			return appendJSONString(b, fmt.Sprint(x))
		}
		return append(b, raw...)
	}
}

// appendJSONString appends s as a JSON string: quotes, backslashes and control characters
// escaped, invalid UTF-8 replaced by U+FFFD.
func appendJSONString[T string | []byte](b []byte, s T) []byte {
	const hexDigits = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := decodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

func decodeRune[T string | []byte](s T) (rune, int) {
	switch x := any(s).(type) {
	case string:
		return utf8.DecodeRuneInString(x)
	case []byte:
		return utf8.DecodeRune(x)
	}
	return utf8.RuneError, 1
}

// appendCell appends one value for the text table: NULL, text as it is (newlines and pipes
// escaped, long values shortened), anything else as JSON.
func appendCell(b []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(b, "NULL"...)
	case string:
		return appendCellText(b, x)
	case int64, int32, int16, int, bool, json.Number:
		return appendJSON(b, x)
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return append(b, nonFinite(x)...)
		}
		return appendJSON(b, x)
	case *pgRaw:
		if isRawText(x) {
			return appendCellText(b, x.b)
		}
		return appendCell(b, x.value())
	default:
		return appendCellText(b, appendJSON(nil, x))
	}
}

// appendCellText appends text for the text table: newlines, carriage returns and pipes
// escaped, cut at maxCellText bytes with an ellipsis.
func appendCellText[T string | []byte](b []byte, s T) []byte {
	cut := len(s)
	if cut > maxCellText {
		cut = maxCellText
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
	}
	for i := 0; i < cut; i++ {
		switch c := s[i]; c {
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '|':
			b = append(b, '\\', '|')
		default:
			b = append(b, c)
		}
	}
	if cut < len(s) {
		b = append(b, "…"...)
	}
	return b
}

// isRawText says whether a pgRaw's bytes are its text, as the text table shows it.
func isRawText(r *pgRaw) bool {
	if r.format == pgx.TextFormatCode {
		return pgKind(r.oid) == 's'
	}
	switch r.oid {
	case pgtype.TextOID, pgtype.VarcharOID, pgtype.BPCharOID, pgtype.NameOID:
		return true
	}
	return false
}

// cellText is appendCell as a string.
func cellText(v any) string { return string(appendCell(nil, v)) }
