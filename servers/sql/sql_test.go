package sql

import (
	"bytes"
	"context"
	dbsql "database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/mcphub/mcphub/configs"
	"github.com/mcphub/mcphub/internal/testenv"
	"github.com/mcphub/mcphub/servers/registry"
	"github.com/mcphub/mcphub/servers/registry/registrytest"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver for fixtures
	_ "modernc.org/sqlite"             // the "sqlite" driver for fixtures
)

var factory = registry.Factory{Name: "sql", Title: "SQL", New: New}

// TestMain fails the package when a test leaves a goroutine behind: pools, SQLite workers and
// PostgreSQL connections must all end with Close.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestConformance(t *testing.T)   { registrytest.Conformance(t, factory) }
func TestToolSnapshots(t *testing.T) { registrytest.ToolSnapshots(t, factory) }

// fixture is the schema and data both engines get.
var fixture = []string{
	`CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT UNIQUE, tier TEXT DEFAULT 'basic')`,
	`CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
		total NUMERIC(10,2) NOT NULL DEFAULT 0, note TEXT)`,
	`CREATE INDEX orders_customer ON orders(customer_id)`,
	`CREATE VIEW big_orders AS SELECT * FROM orders WHERE total > 100`,
	`CREATE TABLE numbers (n INTEGER PRIMARY KEY, label TEXT NOT NULL)`,
	`INSERT INTO customers VALUES (1, 'alice', 'alice@example.com', 'gold'), (2, 'bob', 'bob@example.com', 'basic'),
		(3, 'carol', NULL, 'basic')`,
	`INSERT INTO orders VALUES (1, 1, 250.50, 'first'), (2, 1, 20, NULL), (3, 2, 99.99, 'pipe | and
newline'), (4, 3, 120, NULL), (5, 3, 5, NULL)`,
	`WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 5000)
		INSERT INTO numbers SELECT n, 'label ' || n FROM s`,
}

func loadFixture(t testing.TB, driver, dsn string) {
	t.Helper()
	db, err := dbsql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, stmt := range fixture {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			t.Fatalf("fixture %q: %v", stmt, err)
		}
	}
	if driver == "pgx" {
		for _, stmt := range []string{
			"ANALYZE",
			"CREATE SEQUENCE seq",
			"CREATE ROLE reader LOGIN PASSWORD 'reader-secret-pw'",
			"GRANT SELECT ON ALL TABLES IN SCHEMA public TO reader",
		} {
			if _, err := db.ExecContext(ctx, stmt); err != nil {
				t.Fatalf("%s: %v", stmt, err)
			}
		}
	}
}

// sqliteFixture writes the fixture into a new database file and returns its path.
func sqliteFixture(t testing.TB) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "shop.db")
	loadFixture(t, "sqlite", path)
	return path
}

// postgresFixture starts a server, loads the fixture and returns the superuser DSN (with a
// password that trust authentication ignores, so that redaction can be checked) and the DSN
// of the reader role, which may only SELECT. Under -short it starts nothing and returns "".
func postgresFixture(t testing.TB) (admin, reader string) {
	t.Helper()
	if testing.Short() {
		t.Log("-short: the PostgreSQL half of this test is skipped")
		return "", ""
	}
	dsn := testenv.StartPostgres(t)
	if dsn == "" {
		return "", ""
	}
	loadFixture(t, "pgx", dsn)
	admin = strings.Replace(dsn, "postgres://postgres@", "postgres://postgres:pg-secret-pw@", 1)
	reader = strings.Replace(dsn, "postgres://postgres@", "postgres://reader:reader-secret-pw@", 1)
	return admin, reader
}

// hubEnv is the sql server built by the registry from a config, as the hub runs it.
type hubEnv struct {
	t     testing.TB
	hub   *registry.Hub
	tools map[string]func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error)
	logs  *lockedBuffer
	seen  []string // every result's text, to check for leaks
	mu    sync.Mutex
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// newHub builds a hub serving sql with the given YAML under servers.sql (indented by four
// spaces) and limits.
func newHub(t testing.TB, sqlYAML string, limits string) *hubEnv {
	t.Helper()
	doc := "data_dir: " + t.TempDir() + "\n"
	if limits != "" {
		doc += "limits:\n  " + limits + "\n"
	}
	doc += "servers:\n  sql:\n    enabled: true\n" + sqlYAML
	cfg, err := configs.Parse([]byte(doc))
	if err != nil {
		t.Fatalf("config:\n%s\n%v", doc, err)
	}
	logs := &lockedBuffer{}
	ctx := context.Background()
	h, err := registry.Build(ctx, registry.Options{
		Config: cfg, Catalog: []registry.Factory{factory},
		Metrics: registry.NewMetrics(prometheus.NewRegistry()),
		Logger:  slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatalf("building the hub: %v", err)
	}
	t.Cleanup(func() { _ = h.Close(context.Background()) })
	env := &hubEnv{t: t, hub: h, logs: logs, tools: map[string]func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error){}}
	for _, st := range h.Instance("sql").ServerTools() {
		env.tools[st.Tool.Name] = st.Handler
	}
	return env
}

func sourcesYAML(sources ...string) string {
	return "    sources:\n" + strings.Join(sources, "\n") + "\n"
}

func src(name, dsn string, extra ...string) string {
	s := fmt.Sprintf("      - name: %s\n        dsn: %q", name, dsn)
	for _, e := range extra {
		s += "\n        " + e
	}
	return s
}

// call runs a tool through the registry's middleware and returns the result and its text.
func (e *hubEnv) call(tool string, args map[string]any) (*mcp.CallToolResult, string) {
	e.t.Helper()
	var req mcp.CallToolRequest
	req.Params.Name = tool
	req.Params.Arguments = args
	res, err := e.tools[tool](context.Background(), req)
	if err != nil {
		e.t.Fatalf("%s: Go error %v", tool, err)
	}
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	if res.StructuredContent != nil {
		raw, _ := json.Marshal(res.StructuredContent)
		b.Write(raw)
	}
	e.mu.Lock()
	e.seen = append(e.seen, b.String())
	e.mu.Unlock()
	return res, b.String()
}

// ok calls a tool that must succeed and decodes its structured content into out.
func (e *hubEnv) ok(tool string, args map[string]any, out any) string {
	e.t.Helper()
	res, text := e.call(tool, args)
	if res.IsError {
		e.t.Fatalf("%s(%v): error result: %s", tool, args, text)
	}
	raw, err := json.Marshal(res.StructuredContent)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		e.t.Fatalf("decoding %s: %v", raw, err)
	}
	return text
}

// fails calls a tool that must return an error result containing every want.
func (e *hubEnv) fails(tool string, args map[string]any, want ...string) string {
	e.t.Helper()
	res, text := e.call(tool, args)
	if !res.IsError {
		e.t.Fatalf("%s(%v) succeeded, want an error: %s", tool, args, text)
	}
	for _, w := range want {
		if !strings.Contains(strings.ToLower(text), strings.ToLower(w)) {
			e.t.Errorf("%s(%v) = %q, want it to contain %q", tool, args, text, w)
		}
	}
	return text
}

// noLeak fails when a secret appears in any result or log line seen so far.
func (e *hubEnv) noLeak(secrets ...string) {
	e.t.Helper()
	e.mu.Lock()
	all := strings.Join(e.seen, "\n") + "\n" + e.logs.String()
	e.mu.Unlock()
	for _, s := range secrets {
		if s != "" && strings.Contains(all, s) {
			e.t.Errorf("%q appears in a result or log line", s)
		}
	}
}

// engineCase is one engine's flavour of the shared tests.
type engineCase struct {
	name    string
	env     *hubEnv
	source  string
	param   string // placeholder of the first parameter
	sleep   string // a query that runs far longer than the timeout
	secrets []string
	admin   string // PostgreSQL: a DSN to look at the server's activity
	multi   bool   // the hub has several sources
}

func engines(t *testing.T) []engineCase {
	t.Helper()
	path := sqliteFixture(t)
	cases := []engineCase{}
	liteDSN := "sqlite://" + path
	pgAdmin, pgReader := postgresFixture(t)
	// One connection per source: the query after a timed-out one must get the connection the
	// cancelled query held, which proves that the database stopped it.
	sources := []string{src("lite", liteDSN, "timeout: 1s", "max_open_conns: 1")}
	if pgAdmin != "" {
		sources = append(sources, src("pg", pgAdmin, "timeout: 1s", "max_open_conns: 1"), src("pgreader", pgReader, "timeout: 1s"))
	}
	env := newHub(t, sourcesYAML(sources...), "")
	cases = append(cases, engineCase{name: "sqlite", env: env, source: "lite", param: "?",
		sleep:   "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r) SELECT count(*) FROM r",
		secrets: []string{liteDSN, path}})
	if pgAdmin != "" {
		cases = append(cases, engineCase{name: "postgres", env: env, source: "pg", param: "$1",
			sleep:   "SELECT pg_sleep(10)",
			secrets: []string{pgAdmin, pgReader, "pg-secret-pw", "reader-secret-pw"}, admin: pgAdmin})
	}
	for i := range cases {
		cases[i].multi = pgAdmin != ""
	}
	return cases
}

func TestIntegrationEngines(t *testing.T) {
	for _, ec := range engines(t) {
		t.Run(ec.name, func(t *testing.T) {
			e := ec.env
			e.t = t
			t.Run("list_tables", func(t *testing.T) {
				e.t = t
				var got TablesResult
				text := e.ok("sql_list_tables", map[string]any{"source": ec.source}, &got)
				want := map[string]string{"customers": "table", "orders": "table", "numbers": "table", "big_orders": "view"}
				found := map[string]TableInfo{}
				for _, tb := range got.Tables {
					found[tb.Name] = tb
				}
				for name, kind := range want {
					if found[name].Type != kind {
						t.Errorf("table %s: type %q, want %q (got %+v)", name, found[name].Type, kind, got.Tables)
					}
				}
				if r := found["numbers"].Rows; r == nil || *r < 4000 || *r > 6000 {
					t.Errorf("numbers: rows %v, want about 5000", r)
				}
				if !strings.Contains(text, "numbers (table, ~5000 rows)") {
					t.Errorf("text table:\n%s", text)
				}
			})
			t.Run("describe_table", func(t *testing.T) {
				e.t = t
				var d TableDescription
				e.ok("sql_describe_table", map[string]any{"source": ec.source, "table": "orders"}, &d)
				if len(d.Columns) != 4 || d.Columns[0].Name != "id" || !d.Columns[0].PrimaryKey {
					t.Fatalf("columns: %+v", d.Columns)
				}
				total := d.Columns[2]
				if total.Name != "total" || total.Nullable || total.Default == nil || !strings.Contains(strings.ToLower(total.Type), "numeric") {
					t.Errorf("total: %+v", total)
				}
				if note := d.Columns[3]; !note.Nullable || note.Default != nil {
					t.Errorf("note: %+v", note)
				}
				if len(d.PrimaryKey) != 1 || d.PrimaryKey[0] != "id" {
					t.Errorf("primary key %v", d.PrimaryKey)
				}
				if len(d.ForeignKeys) != 1 || d.ForeignKeys[0].Columns[0] != "customer_id" ||
					d.ForeignKeys[0].RefTable != "customers" || d.ForeignKeys[0].RefColumns[0] != "id" ||
					d.ForeignKeys[0].OnDelete != "CASCADE" {
					t.Errorf("foreign keys %+v", d.ForeignKeys)
				}
				var ix *IndexInfo
				for i := range d.Indexes {
					if d.Indexes[i].Name == "orders_customer" {
						ix = &d.Indexes[i]
					}
				}
				if ix == nil || ix.Unique || len(ix.Columns) != 1 || ix.Columns[0] != "customer_id" {
					t.Errorf("indexes %+v", d.Indexes)
				}
				var c TableDescription
				e.ok("sql_describe_table", map[string]any{"source": ec.source, "table": "customers"}, &c)
				if tier := c.Columns[3]; tier.Default == nil || !strings.Contains(*tier.Default, "basic") {
					t.Errorf("tier default: %+v", tier)
				}
				if c.Columns[1].Nullable || !c.Columns[2].Nullable {
					t.Errorf("nullability: %+v", c.Columns)
				}
				var v TableDescription
				e.ok("sql_describe_table", map[string]any{"source": ec.source, "table": "big_orders"}, &v)
				if v.Type != "view" || len(v.Columns) != 4 {
					t.Errorf("view: %+v", v)
				}
				e.fails("sql_describe_table", map[string]any{"source": ec.source, "table": "nope"}, "no table or view", "sql_list_tables")
			})
			t.Run("query_params", func(t *testing.T) {
				e.t = t
				var q QueryResult
				text := e.ok("sql_query", map[string]any{"source": ec.source,
					"sql":    "SELECT id, name, email FROM customers WHERE id >= " + ec.param + " ORDER BY id",
					"params": []any{float64(2)}}, &q)
				if q.RowCount != 2 || q.MoreRows || len(q.Columns) != 3 || q.Columns[1].Name != "name" {
					t.Fatalf("result %+v", q)
				}
				if q.Rows[0][1] != "bob" || q.Rows[1][2] != nil {
					t.Errorf("rows %v", q.Rows)
				}
				if !strings.Contains(text, "id | name | email\n2 | bob | bob@example.com\n3 | carol | NULL\n(2 rows)") {
					t.Errorf("text table:\n%s", text)
				}
				e.ok("sql_query", map[string]any{"source": ec.source, "sql": "SELECT note, total FROM orders WHERE id = " + ec.param,
					"params": []any{"3"}}, &q)
				if q.RowCount != 1 || q.Rows[0][0] != "pipe | and\nnewline" {
					t.Errorf("string param: %+v", q)
				}
			})
			t.Run("bad_params", func(t *testing.T) {
				e.t = t
				if ec.name == "postgres" {
					e.fails("sql_query", map[string]any{"source": ec.source, "sql": "SELECT name FROM customers WHERE email = $1",
						"params": []any{true}}, "could not use the params", "cast the placeholder")
					e.fails("sql_query", map[string]any{"source": ec.source, "sql": "SELECT $1::int + $2::int",
						"params": []any{float64(1)}}, "could not use the params")
				} else {
					e.fails("sql_query", map[string]any{"source": ec.source, "sql": "SELECT ? + ?", "params": []any{float64(1)}}, "could not use the params", "? placeholder")
				}
			})
			t.Run("row_limit", func(t *testing.T) {
				e.t = t
				var q QueryResult
				text := e.ok("sql_query", map[string]any{"source": ec.source, "sql": "SELECT n, label FROM numbers ORDER BY n", "max_rows": 10}, &q)
				if q.RowCount != 10 || !q.MoreRows || !strings.Contains(q.Note, "row limit") {
					t.Errorf("max_rows 10: %+v", q)
				}
				if !strings.Contains(text, "more rows not shown") {
					t.Errorf("text does not say more rows:\n%s", text)
				}
				e.ok("sql_query", map[string]any{"source": ec.source, "sql": "SELECT n FROM numbers"}, &q)
				if q.RowCount != 1000 || !q.MoreRows {
					t.Errorf("default max_rows: %d rows, more %v", q.RowCount, q.MoreRows)
				}
			})
			t.Run("timeout_cancels", func(t *testing.T) {
				e.t = t
				start := time.Now()
				e.fails("sql_query", map[string]any{"source": ec.source, "sql": ec.sleep}, "timeout of 1s", "cancelled")
				if d := time.Since(start); d > 5*time.Second {
					t.Errorf("the timed-out query returned after %s", d)
				}
				// The source's only connection is usable again at once.
				start = time.Now()
				var q QueryResult
				e.ok("sql_query", map[string]any{"source": ec.source, "sql": "SELECT 1 AS one"}, &q)
				if d := time.Since(start); d > 2*time.Second {
					t.Errorf("the query after the timed-out one took %s", d)
				}
				if ec.admin != "" {
					db, err := dbsql.Open("pgx", ec.admin)
					if err != nil {
						t.Fatal(err)
					}
					defer db.Close()
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					defer cancel()
					var n int
					if err := db.QueryRowContext(ctx, `SELECT count(*) FROM pg_stat_activity
						WHERE query LIKE '%pg_sleep(10)%' AND state = 'active' AND pid <> pg_backend_pid()`).Scan(&n); err != nil || n != 0 {
						t.Errorf("pg_sleep still running on the server: %d, %v", n, err)
					}
				}
			})
			t.Run("bad_sql", func(t *testing.T) {
				e.t = t
				e.fails("sql_query", map[string]any{"source": ec.source, "sql": "SELECT * FROM no_such_table"}, ec.source, "no_such_table")
				e.fails("sql_query", map[string]any{"source": ec.source, "sql": "SELECT 1 +"}, ec.source, "refused the query")
			})
			t.Run("refused_by_classifier", func(t *testing.T) {
				e.t = t
				for _, stmt := range refusedEverywhere {
					e.fails("sql_query", map[string]any{"source": ec.source, "sql": stmt}, "refused", "read-only")
				}
			})
			t.Run("unknown_source", func(t *testing.T) {
				e.t = t
				e.fails("sql_query", map[string]any{"source": "nope", "sql": "SELECT 1"}, `unknown source "nope"`, "lite")
				if ec.multi {
					e.fails("sql_query", map[string]any{"sql": "SELECT 1"}, "source argument is required", "lite")
				} else {
					var q QueryResult
					e.ok("sql_query", map[string]any{"sql": "SELECT 1 AS one"}, &q) // the only source
				}
			})
			e.t = t
			e.noLeak(ec.secrets...)
		})
	}
}

// refusedEverywhere are statements the classifier refuses on both engines.
var refusedEverywhere = []string{
	"INSERT INTO customers (id, name) VALUES (9, 'x')",
	"UPDATE customers SET name = 'x'",
	"DELETE FROM customers",
	"DROP TABLE customers",
	"CREATE TABLE x (a int)",
	"ALTER TABLE customers ADD COLUMN y int",
	"SELECT 1; DELETE FROM customers",
	"WITH d AS (DELETE FROM customers RETURNING *) SELECT * FROM d",
	"SELECT * INTO copy_of FROM customers",
	"SELECT * FROM customers FOR UPDATE",
	"ATTACH DATABASE '/tmp/x.db' AS x",
	"DETACH DATABASE x",
	"PRAGMA query_only = 0",
	"VACUUM INTO '/tmp/x.db'",
	"COPY customers TO PROGRAM 'id'",
	"SELECT pg_read_file('/etc/passwd')",
	"SELECT set_config('default_transaction_read_only', 'off', false)",
	"SELECT load_extension('x')",
}

// TestIntegrationDatabaseRefuses bypasses the classifier: the database itself must refuse every
// write, on both engines.
func TestIntegrationDatabaseRefuses(t *testing.T) {
	path := sqliteFixture(t)
	pgAdmin, pgReader := postgresFixture(t)
	type dbCase struct {
		name  string
		dsn   string
		stmts []string
	}
	writes := []string{
		"INSERT INTO customers (id, name) VALUES (9, 'x')",
		"UPDATE customers SET name = 'x'",
		"DELETE FROM customers",
		"DROP TABLE orders",
		"CREATE TABLE x (a int)",
		"ALTER TABLE customers ADD COLUMN y int",
		"CREATE INDEX ix ON customers(name)",
	}
	cases := []dbCase{{"sqlite", "sqlite://" + path, append(append([]string{}, writes...),
		"ATTACH DATABASE '"+filepath.Join(t.TempDir(), "x.db")+"' AS x",
		"PRAGMA query_only = 0",
		"PRAGMA journal_mode = DELETE",
		"VACUUM INTO '"+filepath.Join(t.TempDir(), "y.db")+"'",
		"REPLACE INTO customers (id, name) VALUES (1, 'x')",
		"SELECT load_extension('/tmp/x.so')",
	)}}
	if pgAdmin != "" {
		cases = append(cases,
			dbCase{"postgres", pgAdmin, append(append([]string{}, writes...),
				"WITH d AS (DELETE FROM customers RETURNING *) SELECT * FROM d",
				"SELECT * INTO copy_of FROM customers",
				"SELECT * FROM customers FOR UPDATE",
				"COPY customers FROM PROGRAM 'echo 9,x'",
				"SELECT nextval('seq')",
				"TRUNCATE customers",
			)},
			// What a read-only transaction allows a superuser, a role that may only SELECT
			// is refused: configure sources with such a role.
			dbCase{"postgres reader", pgReader, []string{
				"SELECT pg_read_file('/etc/passwd')",
				"COPY customers TO PROGRAM 'id'",
				"SELECT pg_ls_dir('.')",
				"SELECT lo_import('/etc/passwd')",
			}})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := New().(*Server)
			s.cfg.Sources = []SourceConfig{{Name: "db", DSN: c.dsn, MaxRows: 10, Timeout: configs.Duration(5 * time.Second), MaxOpenConns: 2}}
			if err := s.Provision(context.Background(), registry.Env{}); err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			src := s.sources[0]
			for _, stmt := range c.stmts {
				_, err := src.query(context.Background(), stmt, nil, func([]any) bool { return true })
				if err == nil {
					t.Errorf("%s: the database accepted it", stmt)
					continue
				}
				if strings.Contains(err.Error(), c.dsn) {
					t.Errorf("%s: error quotes the DSN: %v", stmt, err)
				}
				t.Logf("%s: %v", stmt, err)
			}
			// Nothing changed.
			var n int64
			if _, err := src.query(context.Background(), "SELECT count(*) FROM customers WHERE name <> 'x'", nil, func(v []any) bool {
				n, _ = asInt(v[0])
				return false
			}); err != nil || n != 3 {
				t.Errorf("customers after the refused writes: %d rows, %v", n, err)
			}
		})
	}
}

// TestIntegrationBudget: a huge result set stays within the output budget, structured too.
func TestIntegrationBudget(t *testing.T) {
	path := sqliteFixture(t)
	sources := []string{src("lite", "sqlite://"+path, "max_rows: 100000")}
	pgAdmin, _ := postgresFixture(t)
	if pgAdmin != "" {
		sources = append(sources, src("pg", pgAdmin, "max_rows: 100000"))
	}
	const budget = 8192
	e := newHub(t, sourcesYAML(sources...), fmt.Sprintf("output_budget_bytes: %d", budget))
	for _, name := range []string{"lite", "pg"} {
		if name == "pg" && pgAdmin == "" {
			continue
		}
		res, _ := e.call("sql_query", map[string]any{"source": name,
			"sql": "SELECT a.n, a.label, b.label AS other FROM numbers a, numbers b WHERE b.n < 20"})
		if res.IsError {
			t.Fatalf("%s: %v", name, res.Content)
		}
		raw, _ := json.Marshal(res.StructuredContent)
		var q QueryResult
		_ = json.Unmarshal(raw, &q)
		if len(raw) > budget || !q.MoreRows || q.RowCount == 0 || !strings.Contains(q.Note, "output budget") {
			t.Errorf("%s: %d bytes structured, %d rows, more %v, note %q", name, len(raw), q.RowCount, q.MoreRows, q.Note)
		}
		size := 0
		for _, c := range res.Content {
			size += len(c.(mcp.TextContent).Text)
		}
		if size > budget {
			t.Errorf("%s: %d bytes of text", name, size)
		}
	}
}

// TestIntegrationUnreachable: a source that cannot be reached makes the server not ready,
// naming it without its DSN, while the other source works.
func TestIntegrationUnreachable(t *testing.T) {
	path := sqliteFixture(t)
	var lc net.ListenConfig
	l, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	deadDSN := fmt.Sprintf("postgres://dead-user:dead-secret-pw@127.0.0.1:%d/deaddb", port)
	missing := filepath.Join(t.TempDir(), "missing.db")
	e := newHub(t, sourcesYAML(src("lite", "sqlite://"+path), src("down", deadDSN), src("gone", "sqlite://"+missing)), "")
	rd := e.hub.Instance("sql").Readiness(context.Background())
	if rd.Ready || !strings.Contains(rd.Reason, `"down"`) || !strings.Contains(rd.Reason, `"gone"`) ||
		!strings.Contains(rd.Reason, "lite work") || rd.Fix == "" {
		t.Errorf("readiness %+v", rd)
	}
	var q QueryResult
	e.ok("sql_query", map[string]any{"source": "lite", "sql": "SELECT count(*) AS n FROM customers"}, &q)
	e.fails("sql_query", map[string]any{"source": "down", "sql": "SELECT 1"}, `"down"`, "cannot be reached")
	e.fails("sql_list_tables", map[string]any{"source": "gone"}, `"gone"`)
	e.seen = append(e.seen, rd.Reason, rd.Fix)
	e.noLeak(deadDSN, "dead-secret-pw", "dead-user", "deaddb", fmt.Sprint(port), missing)
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{"no sources", "    sources: []\n", []string{"servers.sql.sources: needs at least one source"}},
		{"bad fields", sourcesYAML(
			src("", "sqlite:///x.db"),
			src("a b", "mysql://u:topsecret@h/db"),
			src("ok", "sqlite:///x.db?mode=rw", "max_rows: 0", "timeout: 20m", "max_open_conns: 1000"),
			src("ok", "postgres://u:topsecret@h:99999999/db"),
			src("plain", "/tmp/x.db"),
		), []string{
			"servers.sql.sources[0].name: is required",
			"servers.sql.sources[1].name: must be 1 to 64",
			`servers.sql.sources[1].dsn: has the unsupported scheme "mysql"`,
			"servers.sql.sources[2].dsn: has query parameters",
			"servers.sql.sources[2].timeout: must be between",
			"servers.sql.sources[2].max_open_conns: must be between",
			`servers.sql.sources[3].name: "ok" is used by another source`,
			"servers.sql.sources[3].dsn: is not a valid PostgreSQL URL",
			"servers.sql.sources[4].dsn: is not a URL",
		}},
		{"unknown key", sourcesYAML(src("a", "sqlite:///x.db", "allow_everything: true")), []string{"servers.sql.sources[0].allow_everything"}},
		{"ddl without writes", sourcesYAML(src("a", "sqlite:///x.db", "allow_ddl: true")),
			[]string{"servers.sql.sources[0].allow_ddl: needs allow_writes: true"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := configs.Parse([]byte("servers:\n  sql:\n    enabled: true\n" + tt.yaml))
			if err == nil {
				err = registry.Validate(cfg, []registry.Factory{factory}, nil)
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q:\n%v", w, err)
				}
			}
			if strings.Contains(err.Error(), "topsecret") {
				t.Errorf("error quotes a DSN: %v", err)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	cfg, err := configs.Parse([]byte("servers:\n  sql:\n    enabled: true\n" + sourcesYAML(src("a", "sqlite:///x.db"))))
	if err != nil {
		t.Fatal(err)
	}
	s := New().(*Server)
	if err := s.DecodeConfig(cfg.Servers["sql"]); err != nil {
		t.Fatal(err)
	}
	got := s.cfg.Sources[0]
	if got.MaxRows != 1000 || got.Timeout.D() != 30*time.Second || got.MaxOpenConns != 4 {
		t.Errorf("defaults: %+v", got)
	}
	if err := s.Validate(); err != nil {
		t.Error(err)
	}
}

func TestQueryParams(t *testing.T) {
	args, msg := queryParams([]any{float64(3), 2.5, "x", true, nil, json.Number("7")})
	if msg != "" || args[0] != int64(3) || args[1] != 2.5 || args[2] != "x" || args[3] != true || args[4] != nil || args[5] != int64(7) {
		t.Errorf("queryParams = %v, %q", args, msg)
	}
	if _, msg := queryParams([]any{map[string]any{}}); msg == "" {
		t.Error("an object was accepted")
	}
}

func TestCellText(t *testing.T) {
	long := strings.Repeat("é", 300)
	tests := []struct {
		in   any
		want string
	}{
		{nil, "NULL"}, {"a|b\nc", `a\|b\nc`}, {int64(5), "5"}, {2.5, "2.5"}, {true, "true"},
		{map[string]any{"k": 1}, `{"k":1}`}, {json.Number("1.50"), "1.50"},
	}
	for _, tt := range tests {
		if got := cellText(tt.in); got != tt.want {
			t.Errorf("cellText(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if got := cellText(long); len(got) > maxCellText+3 || !strings.HasSuffix(got, "…") {
		t.Errorf("long cell: %d bytes", len(got))
	}
}

// TestIntegrationPostgresTypes: every common type comes out as valid JSON with the value a
// model expects, whether written from the wire or decoded by pgx.
func TestIntegrationPostgresTypes(t *testing.T) {
	admin, _ := postgresFixture(t)
	if admin == "" {
		return
	}
	e := newHub(t, sourcesYAML(src("pg", admin)), "")
	var q QueryResult
	text := e.ok("sql_query", map[string]any{"sql": `SELECT 1::int2 AS i2, -2::int4 AS i4, 9007199254740993::int8 AS i8,
		1.5::float4 AS f4, 'NaN'::float8 AS nan, '-Infinity'::float8 AS ninf, 12.340::numeric AS num, true AS b,
		'tab	"q"'::text AS t, 'x'::varchar AS v, '{"a":[1,2]}'::json AS j, '{"b":null}'::jsonb AS jb,
		'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid AS u, NULL::text AS n`}, &q)
	want := []any{float64(1), float64(-2), float64(9007199254740992), 1.5, "NaN", "-Infinity", 12.34, true,
		"tab\t\"q\"", "x", map[string]any{"a": []any{float64(1), float64(2)}}, map[string]any{"b": nil},
		"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", nil}
	if len(q.Rows) != 1 || len(q.Rows[0]) != len(want) {
		t.Fatalf("rows %v", q.Rows)
	}
	for i, w := range want {
		if fmt.Sprint(q.Rows[0][i]) != fmt.Sprint(w) {
			t.Errorf("column %s = %#v, want %#v", q.Columns[i].Name, q.Rows[0][i], w)
		}
	}
	if !strings.Contains(text, `| 9007199254740993 |`) || !strings.Contains(text, `| a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11 |`) {
		t.Errorf("text table:\n%s", text)
	}
	// Types pgx decodes itself: the whole row takes the slow path.
	e.ok("sql_query", map[string]any{"sql": `SELECT '2024-05-06 07:08:09+00'::timestamptz AS ts, '2024-05-06'::date AS d,
		'\xdeadbeef'::bytea AS bin, ARRAY[1,2] AS arr, '1 day'::interval AS iv, 7.5::numeric AS num`}, &q)
	if q.Rows[0][0] != "2024-05-06T07:08:09Z" || q.Rows[0][2] != `\xdeadbeef` || q.Rows[0][5] != 7.5 {
		t.Errorf("decoded row %#v", q.Rows[0])
	}
}

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "plain", "quote\" back\\ nl\n tab\t", "\x00\x1f", "é✓😀", "\xff\xfe", "a\u2028b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := appendJSONString(nil, s)
		var got string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("appendJSONString(%q) = %s: not JSON: %v", s, b, err)
		}
		if want := strings.ToValidUTF8(s, "\uFFFD"); got != want && utf8ValidRunes(s) {
			t.Fatalf("round trip of %q gave %q", s, got)
		}
		if string(appendJSONString(nil, []byte(s))) != string(b) {
			t.Fatal("string and []byte forms differ")
		}
	})
}

// utf8ValidRunes: for valid UTF-8 the round trip must be exact; invalid bytes become U+FFFD
// one by one, which ToValidUTF8 (which merges runs) does not model.
func utf8ValidRunes(s string) bool { return utf8.ValidString(s) }

// TestIntegrationContextCancels: when the call's context ends before the source's timeout
// (here limits.tool_timeout), the query is cancelled on the database too, not abandoned.
func TestIntegrationContextCancels(t *testing.T) {
	path := sqliteFixture(t)
	admin, _ := postgresFixture(t)
	sources := []string{src("lite", "sqlite://"+path, "max_open_conns: 1")}
	if admin != "" {
		sources = append(sources, src("pg", admin, "max_open_conns: 1"))
	}
	e := newHub(t, sourcesYAML(sources...), "tool_timeout: 1s")
	cases := map[string]string{
		"lite": "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r) SELECT count(*) FROM r",
		"pg":   "SELECT pg_sleep(30)",
	}
	for name, stmt := range cases {
		if name == "pg" && admin == "" {
			continue
		}
		start := time.Now()
		e.fails("sql_query", map[string]any{"source": name, "sql": stmt}, "time limit")
		// The single connection comes free within moments: the database stopped the query.
		var q QueryResult
		e.ok("sql_query", map[string]any{"source": name, "sql": "SELECT 1 AS one"}, &q)
		d := time.Since(start)
		if d > 5*time.Second {
			t.Errorf("%s: the cancelled query held its connection for %s", name, d)
		}
		t.Logf("%s: cancelled and answered the next query after %s", name, d)
	}
}

func TestParseDSN(t *testing.T) {
	tests := []struct {
		dsn    string
		engine engine
		path   string
		bad    string
	}{
		{dsn: "sqlite:///abs/x.db", path: "/abs/x.db"},
		{dsn: "sqlite://rel/x.db", path: "rel/x.db"},
		{dsn: "SQLite://x.db", path: "x.db"},
		{dsn: "postgres://u:pw@h:5432/db?sslmode=disable", engine: enginePostgres},
		{dsn: "postgresql://u@h/db", engine: enginePostgres},
		{dsn: "sqlite://", bad: "names no SQLite file"},
		{dsn: "sqlite:///x.db?mode=rw", bad: "query parameters"},
		{dsn: "mysql://u:pw@h/db", bad: `unsupported scheme "mysql"`},
		{dsn: "host=h user=u password=pw", bad: "is not a URL"},
		{dsn: "postgres://u:pw@h:notaport/db", bad: "is not a valid PostgreSQL URL"},
	}
	for _, tt := range tests {
		got, err := parseDSN(tt.dsn)
		switch {
		case tt.bad != "":
			if err == nil || !strings.Contains(err.Error(), tt.bad) {
				t.Errorf("parseDSN(%q) = %v, want an error with %q", tt.dsn, err, tt.bad)
			} else if strings.Contains(err.Error(), "pw") {
				t.Errorf("parseDSN(%q): the error quotes the DSN: %v", tt.dsn, err)
			}
		case err != nil:
			t.Errorf("parseDSN(%q): %v", tt.dsn, err)
		case got.engine != tt.engine || got.path != tt.path:
			t.Errorf("parseDSN(%q) = %+v", tt.dsn, got)
		}
	}
}

// TestSQLiteOddPath: a file name that needs escaping in SQLite's URI form opens.
func TestSQLiteOddPath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "my shop %20 #1.db")
	loadFixture(t, "sqlite", path)
	e := newHub(t, sourcesYAML(src("odd", "sqlite://"+path)), "")
	var q QueryResult
	e.ok("sql_query", map[string]any{"sql": "SELECT count(*) AS n FROM customers"}, &q)
	if q.Rows[0][0] != float64(3) {
		t.Errorf("rows %v", q.Rows)
	}
}
