package sql

import (
	"context"
	"fmt"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/mcphub/mcphub/servers/registry"
)

// executeToolName is the write tool, served only when a source has allow_writes.
const executeToolName = "sql_execute"

// writes are the hints of sql_execute: it changes data, possibly for good, and running it twice
// may change it twice.
var writes = &registry.Hints{ReadOnly: false, Destructive: true, Idempotent: false, OpenWorld: false}

// ExecResult is the structured result of sql_execute.
type ExecResult struct {
	Source       string `json:"source" jsonschema_description:"The source the statement ran on."`
	Command      string `json:"command" jsonschema_description:"The statement's first keyword: INSERT, UPDATE, DELETE, MERGE, REPLACE, WITH, or CREATE, ALTER, DROP, TRUNCATE."`
	RowsAffected int64  `json:"rows_affected" jsonschema_description:"Rows the statement inserted, updated or deleted (0 for DDL)."`
	Committed    bool   `json:"committed" jsonschema_description:"True: the change is committed."`
}

func (s *Server) executeTool() registry.Tool {
	return registry.Tool{
		Def: mcp.NewTool(executeToolName,
			mcp.WithDescription("Runs one data-changing SQL statement (INSERT, UPDATE, DELETE or MERGE; REPLACE on SQLite; "+
				"CREATE, ALTER, DROP or TRUNCATE only where the source allows DDL) on a source configured with "+
				"allow_writes, and commits it when it succeeds; on an error or the timeout nothing is committed. "+
				"Sources without allow_writes refuse it. Several statements, ATTACH/DETACH, COPY, VACUUM, PRAGMA, SET, "+
				"transaction control and functions that reach the server's files, settings or other databases are refused "+
				"with the reason. Pass values as params: $1, $2, ... on PostgreSQL, ? on SQLite. Returns rows_affected. "+
				"Read with sql_query, which stays read-only."),
			mcp.WithString("source", mcp.Description(sourceDoc), mcp.MaxLength(64)),
			mcp.WithString("sql", mcp.Required(), mcp.MinLength(1), mcp.MaxLength(maxSQLLen),
				mcp.Description("One INSERT, UPDATE, DELETE or MERGE statement (or DDL where allowed) in the source's dialect.")),
			mcp.WithArray("params", mcp.MaxItems(1000),
				mcp.Description("Positional parameter values for the placeholders ($1... on PostgreSQL, ? on SQLite), in order: strings, numbers, booleans or null."),
				mcp.Items(map[string]any{"type": []string{"string", "number", "boolean", "null"}})),
			mcp.WithOutputSchema[ExecResult](),
		),
		Hints:   writes,
		Handler: s.handleExecute,
	}
}

func (s *Server) handleExecute(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	src, msg := s.pick(req.GetString("source", ""))
	if src == nil {
		return mcp.NewToolResultError(msg), nil
	}
	if !src.cfg.AllowWrites {
		return mcp.NewToolResultError(fmt.Sprintf("refused: source %q is read-only (allow_writes is not set in "+
			"servers.sql.sources[%d]); sql_execute runs only on sources configured with allow_writes: true%s",
			src.name, src.index, s.writableNames())), nil
	}
	stmt := req.GetString("sql", "")
	d := src.target.engine.dialect()
	if err := classifyWrite(stmt, d, src.cfg.AllowDDL); err != nil {
		return mcp.NewToolResultError("refused: " + err.Error()), nil
	}
	args, errMsg := queryParams(req.GetArguments()["params"])
	if errMsg != "" {
		return mcp.NewToolResultError(errMsg), nil
	}
	n, unsure, err := src.exec(ctx, stmt, args)
	if err != nil {
		res := toolError(err)
		note := "; nothing was committed"
		if unsure {
			note = "; the connection broke during COMMIT, so whether the change was committed is unknown: check with sql_query"
		}
		if tc, ok := res.Content[0].(mcp.TextContent); ok {
			tc.Text += note
			res.Content[0] = tc
		}
		return res, nil
	}
	out := ExecResult{Source: src.name, Command: firstKeyword(stmt, d), RowsAffected: n, Committed: true}
	row := "rows"
	if n == 1 {
		row = "row"
	}
	return mcp.NewToolResultStructured(out, fmt.Sprintf("%s on source %q: %d %s affected, committed",
		out.Command, src.name, n, row)), nil
}

// writableNames lists the sources with allow_writes, for a refusal.
func (s *Server) writableNames() string {
	var names []string
	for _, src := range s.sources {
		if src.cfg.AllowWrites {
			names = append(names, fmt.Sprintf("%q", src.name))
		}
	}
	if len(names) == 0 {
		return ""
	}
	return " (here: " + strings.Join(names, ", ") + ")"
}

// firstKeyword is a classified statement's first word, upper-cased.
func firstKeyword(stmt string, d dialect) string {
	toks, err := tokenize(stmt, d)
	if err != nil || len(toks) == 0 {
		return ""
	}
	for _, t := range toks {
		if t.kind == tokWord {
			return strings.ToUpper(t.text)
		}
	}
	return ""
}
