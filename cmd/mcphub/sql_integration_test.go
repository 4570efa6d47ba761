package main

import (
	"context"
	dbsql "database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcphub/mcphub/internal/testenv"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver, for the fixture
	_ "modernc.org/sqlite"             // the "sqlite" driver, for the fixture
)

// sqlITPassword is the PostgreSQL password the config takes from the environment; trust
// authentication ignores it, and it must never appear in the hub's output.
const sqlITPassword = "sql-it-secret-pw"

var sqlFixture = []string{
	`CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT)`,
	`CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES customers(id), total NUMERIC(10,2))`,
	`INSERT INTO customers VALUES (1, 'alice', 'alice@example.com'), (2, 'bob', NULL)`,
	`INSERT INTO orders VALUES (1, 1, 10.50), (2, 2, 99.99)`,
}

func loadSQLFixture(t *testing.T, driver, dsn string) {
	t.Helper()
	db, err := dbsql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, stmt := range sqlFixture {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			t.Fatalf("fixture %q: %v", stmt, err)
		}
	}
}

// sqlITConfig starts PostgreSQL, writes both fixtures and returns the servers: YAML enabling sql
// with a SQLite source (lite) and a PostgreSQL source (pg) whose password comes from $SQL_IT_PW.
func sqlITConfig(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "shop.db")
	loadSQLFixture(t, "sqlite", path)
	dsn := testenv.StartPostgres(t)
	loadSQLFixture(t, "pgx", dsn)
	pgDSN := strings.Replace(dsn, "postgres://postgres@", "postgres://postgres:${SQL_IT_PW}@", 1)
	return fmt.Sprintf("servers:\n  sql:\n    enabled: true\n    sources:\n"+
		"      - {name: lite, dsn: %q}\n      - {name: pg, dsn: %q, timeout: 2s}\n", "sqlite://"+path, pgDSN)
}

func TestIntegrationSQL(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: builds the binary and starts PostgreSQL")
	}
	cfg := sqlITConfig(t)
	p := startHub(t, cfg, "SQL_IT_PW="+sqlITPassword)
	for _, version := range protocolVersions {
		t.Run(version, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cs := connectHTTP(ctx, t, p.base+"/mcp/sql", version, newProgressCounter())
			exerciseSQL(ctx, t, cs)
		})
	}
	if strings.Contains(p.stderr.String(), sqlITPassword) {
		t.Error("the PostgreSQL password appears in the hub's log")
	}

	t.Run("unreachable source", func(t *testing.T) {
		// A third source on a closed port: /readyz names it, without its DSN, and the other
		// sources keep answering.
		deadPort := freePort(t)
		down := cfg + fmt.Sprintf("      - {name: down, dsn: \"postgres://ghost:${SQL_IT_PW}@127.0.0.1:%d/nowhere\"}\n", deadPort)
		q := startHub(t, down, "SQL_IT_PW="+sqlITPassword)
		code, body := httpGet(t, q.base+"/readyz")
		if code != http.StatusServiceUnavailable || !strings.Contains(string(body), `\"down\"`) ||
			!strings.Contains(string(body), "servers.sql.sources[2].dsn") ||
			strings.Contains(string(body), sqlITPassword) || strings.Contains(string(body), "ghost") ||
			strings.Contains(string(body), strconv.Itoa(deadPort)) {
			t.Errorf("readyz = %d %s", code, body)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cs := connectHTTP(ctx, t, q.base+"/mcp/sql", protocolVersions[0], newProgressCounter())
		res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "sql_query", Arguments: map[string]any{"source": "lite", "sql": "SELECT count(*) AS n FROM customers"}})
		if err != nil || res.IsError {
			t.Errorf("lite while down is unreachable: %v %s", err, resultText(res))
		}
		res, err = cs.CallTool(ctx, &sdk.CallToolParams{Name: "sql_query", Arguments: map[string]any{"source": "down", "sql": "SELECT 1"}})
		if err != nil || !res.IsError || !strings.Contains(resultText(res), "cannot be reached") || strings.Contains(resultText(res), "ghost") {
			t.Errorf("down: %v %s", err, resultText(res))
		}
		if strings.Contains(q.stderr.String(), sqlITPassword) || strings.Contains(q.stderr.String(), "ghost") {
			t.Errorf("the unreachable source's DSN appears in the log:\n%s", q.stderr.String())
		}
	})

	t.Run("stdio", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		stderr := &syncBuffer{}
		cmd := exec.CommandContext(ctx, testBinary(t), "serve", "--stdio", "--config", writeConfig(t, "127.0.0.1:0", cfg))
		cmd.Env = append(cmd.Environ(), "SQL_IT_PW="+sqlITPassword)
		cmd.Stderr = stderr
		cs, err := newClient(newProgressCounter()).Connect(ctx, &sdk.CommandTransport{Command: cmd},
			&sdk.ClientSessionOptions{ProtocolVersion: protocolVersions[0]})
		if err != nil {
			t.Fatalf("connect over stdio: %v", err)
		}
		exerciseSQL(ctx, t, cs)
		if err := cs.Close(); err != nil {
			t.Errorf("closing the stdio session: %v", err)
		}
		checkNoRace(t, stderr.String())
		if strings.Contains(stderr.String(), sqlITPassword) {
			t.Error("the PostgreSQL password appears in the hub's log")
		}
		if t.Failed() {
			t.Logf("stderr:\n%s", stderr.String())
		}
	})
}

// exerciseSQL drives the three sql tools on both sources.
func exerciseSQL(ctx context.Context, t *testing.T, cs *sdk.ClientSession) {
	t.Helper()
	tools, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, tool := range tools.Tools {
		if !strings.HasPrefix(tool.Name, "sql_") {
			continue // stdio serves every enabled server
		}
		names[tool.Name] = true
		if tool.Annotations == nil || !tool.Annotations.ReadOnlyHint {
			t.Errorf("%s is not annotated read-only", tool.Name)
		}
		if tool.OutputSchema == nil {
			t.Errorf("%s has no output schema", tool.Name)
		}
	}
	for _, want := range []string{"sql_list_tables", "sql_describe_table", "sql_query"} {
		if !names[want] {
			t.Errorf("tools/list lacks %s (has %v)", want, names)
		}
	}
	call := func(name string, args map[string]any) (*sdk.CallToolResult, map[string]any) {
		t.Helper()
		res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: name, Arguments: args})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if strings.Contains(resultText(res), sqlITPassword) {
			t.Errorf("%s: the password appears in the result", name)
		}
		var structured map[string]any
		if res.StructuredContent != nil {
			raw, _ := json.Marshal(res.StructuredContent)
			_ = json.Unmarshal(raw, &structured)
		}
		return res, structured
	}
	for _, c := range []struct{ source, param string }{{"lite", "?"}, {"pg", "$1"}} {
		res, out := call("sql_list_tables", map[string]any{"source": c.source})
		if res.IsError || !strings.Contains(resultText(res), "customers (table") || !strings.Contains(resultText(res), "orders (table") {
			t.Errorf("%s: sql_list_tables: %s", c.source, resultText(res))
		}
		if tables, _ := out["tables"].([]any); len(tables) != 2 {
			t.Errorf("%s: sql_list_tables structured: %v", c.source, out)
		}

		res, out = call("sql_describe_table", map[string]any{"source": c.source, "table": "orders"})
		if res.IsError {
			t.Fatalf("%s: sql_describe_table: %s", c.source, resultText(res))
		}
		fks, _ := out["foreign_keys"].([]any)
		if cols, _ := out["columns"].([]any); len(cols) != 3 || len(fks) != 1 {
			t.Errorf("%s: sql_describe_table: %v", c.source, out)
		}

		res, out = call("sql_query", map[string]any{"source": c.source,
			"sql":    "SELECT c.name, o.total FROM customers c JOIN orders o ON o.customer_id = c.id WHERE c.id = " + c.param,
			"params": []any{1}})
		if res.IsError || out["row_count"] != float64(1) || !strings.Contains(resultText(res), "alice | 10.5") {
			t.Errorf("%s: sql_query: %s %v", c.source, resultText(res), out)
		}

		res, _ = call("sql_query", map[string]any{"source": c.source, "sql": "DELETE FROM customers"})
		if !res.IsError || !strings.Contains(resultText(res), "read-only") {
			t.Errorf("%s: a DELETE was not refused: %s", c.source, resultText(res))
		}
	}
	res, _ := call("sql_query", map[string]any{"source": "nope", "sql": "SELECT 1"})
	if !res.IsError || !strings.Contains(resultText(res), "lite, pg") {
		t.Errorf("unknown source: %s", resultText(res))
	}
}
