package sql

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcphub/mcphub/configs"
	"github.com/mcphub/mcphub/servers/registry"
)

func TestClassifyWrite(t *testing.T) {
	both := []dialect{dialectSQLite, dialectPostgres}
	pg := []dialect{dialectPostgres}
	lite := []dialect{dialectSQLite}
	tests := []struct {
		sql      string
		dialects []dialect
		ddl      bool   // allow_ddl
		want     string // "" accepts; otherwise a part of the refusal
	}{
		{"INSERT INTO t (a) VALUES (1)", both, false, ""},
		{"insert into t values ($1, $2) returning id", pg, false, ""},
		{"INSERT INTO t VALUES (?, ?)", lite, false, ""},
		{"UPDATE t SET a = a + 1 WHERE id = 3", both, false, ""},
		{"DELETE FROM t WHERE id = 1;", both, false, ""},
		{"MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN UPDATE SET a = s.a", pg, false, ""},
		{"INSERT INTO t VALUES (1) ON CONFLICT (id) DO UPDATE SET a = excluded.a", both, false, ""},
		{"INSERT OR REPLACE INTO t VALUES (1)", lite, false, ""},
		{"REPLACE INTO t VALUES (1)", lite, false, ""},
		{"WITH x AS (SELECT 1 AS a) INSERT INTO t SELECT a FROM x", both, false, ""},
		{"WITH d AS (DELETE FROM t RETURNING *) INSERT INTO archive SELECT * FROM d", pg, false, ""},
		{"INSERT INTO t VALUES (nextval('s'))", pg, false, ""},
		{"SELECT setval('s', 1)", pg, false, "starts with SELECT"},
		{"UPDATE t SET note = 'attach; drop table x'", both, false, ""},
		{"INSERT INTO t VALUES (replace('a', 'b', 'c'))", both, false, ""},
		{"CREATE TABLE x (a int)", both, true, ""},
		{"CREATE TEMP TABLE x AS SELECT 1", both, true, ""},
		{"CREATE UNIQUE INDEX IF NOT EXISTS ix ON t (a)", both, true, ""},
		{"CREATE OR REPLACE VIEW v AS SELECT 1", pg, true, ""},
		{"CREATE MATERIALIZED VIEW mv AS SELECT 1", pg, true, ""},
		{"ALTER TABLE t ALTER COLUMN a DROP NOT NULL", pg, true, ""},
		{"ALTER TABLE t ADD COLUMN b text", both, true, ""},
		{"DROP TABLE IF EXISTS x", both, true, ""},
		{"DROP INDEX CONCURRENTLY ix", pg, true, ""},
		{"TRUNCATE t", pg, true, ""},
		{"CREATE SCHEMA s CREATE TABLE x (a int)", pg, true, ""},

		{"", both, false, "empty"},
		{"-- nothing", both, true, "empty"},
		{"SELECT 1", both, true, "starts with SELECT"},
		{"WITH x AS (SELECT 1) SELECT * FROM x", both, false, "does not write"},
		{"WITH x AS (SELECT replace(a, 'b', 'c') FROM t) SELECT * FROM x", lite, false, "does not write"},
		{"EXPLAIN ANALYZE DELETE FROM t", pg, false, "starts with EXPLAIN"},
		{"INSERT INTO t VALUES (1); INSERT INTO t VALUES (2)", both, false, "2 statements"},
		{"DELETE FROM t; DROP TABLE t", both, true, "2 statements"},
		{"UPDATE t SET a = 1; --", both, false, ""},
		{"ATTACH DATABASE '/tmp/x.db' AS x", lite, false, "starts with ATTACH"},
		{"DETACH DATABASE x", lite, true, "starts with DETACH"},
		{"INSERT INTO t SELECT * FROM pragma_table_info('t')", lite, false, ""},
		{"PRAGMA query_only = 0", lite, true, "starts with PRAGMA"},
		{"VACUUM INTO '/tmp/x.db'", lite, true, "starts with VACUUM"},
		{"COPY t FROM PROGRAM 'id'", pg, true, "COPY"},
		{"COPY t TO '/tmp/x'", pg, false, "COPY"},
		{"INSERT INTO t SELECT load_extension('/tmp/x.so')", lite, false, "load_extension()"},
		{"INSERT INTO t VALUES (pg_read_file('/etc/passwd'))", pg, false, "pg_read_file()"},
		{"UPDATE t SET a = pg_catalog.pg_read_binary_file('/etc/passwd')", pg, false, "pg_read_binary_file()"},
		{`UPDATE t SET a = "pg_ls_dir"('.')`, pg, false, "pg_ls_dir()"},
		{"INSERT INTO t VALUES (lo_import('/etc/passwd'))", pg, false, "lo_import()"},
		{"UPDATE t SET a = set_config('default_transaction_read_only', 'off', false)", pg, false, "set_config()"},
		{"INSERT INTO t SELECT * FROM dblink('host=x', 'select 1') AS r(a int)", pg, false, "dblink()"},
		{"INSERT INTO t SELECT query_to_xml('drop table t', true, true, '')", pg, false, "query_to_xml()"},
		{"INSERT INTO t VALUES (writefile('/tmp/x', 'y'))", lite, false, "writefile()"},
		{"DELETE FROM t WHERE pg_advisory_lock(1) IS NOT NULL", pg, false, "pg_advisory_lock()"},
		{"SET statement_timeout = 0", pg, true, "starts with SET"},
		{"RESET ALL", pg, true, "starts with RESET"},
		{"BEGIN", both, true, "starts with BEGIN"},
		{"COMMIT", both, true, "starts with COMMIT"},
		{"INSERT INTO t VALUES (1) ON CONFLICT DO NOTHING", both, false, ""},
		{"INSERT OR ROLLBACK INTO t VALUES (1)", lite, false, "ROLLBACK"},
		{"DO $$ BEGIN DELETE FROM t; END $$", pg, true, "starts with DO"},
		{"CALL p()", pg, true, "starts with CALL"},
		{"LOAD 'plpython3u'", pg, true, "starts with LOAD"},
		{"GRANT ALL ON t TO public", pg, true, "starts with GRANT"},
		{"CREATE SCHEMA s GRANT ALL ON t TO public", pg, true, "GRANT"},
		{"LOCK TABLE t", pg, true, "starts with LOCK"},
		{"PREPARE p AS DELETE FROM t", pg, true, "starts with PREPARE"},
		{"CREATE TABLE x (a int)", both, false, "allow_ddl is off"},
		{"DROP TABLE t", both, false, "allow_ddl is off"},
		{"ALTER TABLE t ADD b int", both, false, "allow_ddl is off"},
		{"TRUNCATE t", pg, false, "allow_ddl is off"},
		{"CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'select 1'", pg, true, "CREATE FUNCTION is not allowed"},
		{"CREATE OR REPLACE FUNCTION f() RETURNS int AS $$ select 1 $$ LANGUAGE sql", pg, true, "CREATE FUNCTION"},
		{"CREATE EXTENSION dblink", pg, true, "CREATE EXTENSION"},
		{"CREATE TRIGGER tr AFTER INSERT ON t BEGIN DELETE FROM t; END", lite, true, "2 statements"},
		{"CREATE TRIGGER tr AFTER INSERT ON t FOR EACH ROW EXECUTE FUNCTION f()", both, true, "CREATE TRIGGER"},
		{"CREATE VIRTUAL TABLE v USING fts5(a)", lite, true, "CREATE VIRTUAL"},
		{"CREATE ROLE r SUPERUSER", pg, true, "CREATE ROLE"},
		{"CREATE SERVER s FOREIGN DATA WRAPPER postgres_fdw", pg, true, "CREATE SERVER"},
		{"CREATE FOREIGN TABLE f (a int) SERVER s", pg, true, "CREATE FOREIGN"},
		{"CREATE TABLESPACE ts LOCATION '/tmp'", pg, true, "CREATE TABLESPACE"},
		{"ALTER SYSTEM SET ssl = off", pg, true, "ALTER SYSTEM"},
		{"ALTER ROLE r SUPERUSER", pg, true, "ALTER ROLE"},
		{"DROP DATABASE d", pg, true, "DROP DATABASE"},
		{"CREATE SCHEMA s CREATE FUNCTION f() RETURNS int AS 'select 1' LANGUAGE sql", pg, true, "CREATE FUNCTION"},
		{"UPDATE t SET a = 'x", both, false, "unterminated string"},
		{"INSERT INTO t VALUES ($x$ unterminated)", pg, false, "unterminated dollar-quoted"},
	}
	for _, tt := range tests {
		for _, d := range tt.dialects {
			err := classifyWrite(tt.sql, d, tt.ddl)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("classifyWrite(%q, %v, ddl %v) refused: %v", tt.sql, d, tt.ddl, err)
			case tt.want != "" && err == nil:
				t.Errorf("classifyWrite(%q, %v, ddl %v) accepted, want a refusal with %q", tt.sql, d, tt.ddl, tt.want)
			case tt.want != "" && !strings.Contains(err.Error(), tt.want):
				t.Errorf("classifyWrite(%q, %v, ddl %v) = %q, want it to contain %q", tt.sql, d, tt.ddl, err, tt.want)
			case err != nil && !strings.Contains(err.Error(), "sql_execute runs one"):
				t.Errorf("classifyWrite(%q, %v) = %q: the refusal does not say what is allowed", tt.sql, d, err)
			}
			// Whatever the write mode accepts, sql_query refuses: the two modes never overlap.
			if err == nil && classify(tt.sql, d) == nil {
				t.Errorf("%q (dialect %v) is accepted by both sql_query and sql_execute", tt.sql, d)
			}
		}
	}
}

// TestExecuteServed: sql_execute is declared always and served only when a source allows
// writes.
func TestExecuteServed(t *testing.T) {
	if !slices.ContainsFunc(New().Tools(), func(tl registry.Tool) bool { return tl.Def.Name == "sql_execute" }) {
		t.Fatal("Tools does not declare sql_execute")
	}
	path := sqliteFixture(t)
	for _, tc := range []struct {
		sources []string
		want    bool
	}{
		{[]string{src("a", "sqlite://"+path)}, false},
		{[]string{src("a", "sqlite://"+path, "allow_writes: false")}, false},
		{[]string{src("a", "sqlite://"+path), src("b", "sqlite://"+path, "allow_writes: true")}, true},
	} {
		e := newHub(t, sourcesYAML(tc.sources...), "")
		names := e.hub.Instance("sql").ToolNames()
		if got := slices.Contains(names, "sql_execute"); got != tc.want {
			t.Errorf("sources %v: served tools %v, sql_execute served %v, want %v", tc.sources, names, got, tc.want)
		}
		if !slices.Contains(names, "sql_query") {
			t.Errorf("sql_query not served: %v", names)
		}
		_ = e.hub.Close(context.Background())
	}
}

// countRows runs a count through sql_query.
func countRows(t *testing.T, e *hubEnv, source, where string) int {
	t.Helper()
	var q QueryResult
	e.ok("sql_query", map[string]any{"source": source, "sql": "SELECT count(*) AS n FROM " + where}, &q)
	n, ok := q.Rows[0][0].(float64)
	if !ok {
		t.Fatalf("count: %#v", q.Rows[0][0])
	}
	return int(n)
}

// TestIntegrationExecute runs sql_execute on real SQLite and PostgreSQL databases.
func TestIntegrationExecute(t *testing.T) {
	type engineWrite struct {
		name, param string
		dsn         string
		sleepWrite  string // a write that runs far past the timeout
		sleepWhere  string // what it would have written
		secrets     []string
	}
	path := sqliteFixture(t)
	cases := []engineWrite{{name: "sqlite", param: "?", dsn: "sqlite://" + path,
		sleepWrite: "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r) " +
			"INSERT INTO numbers (n, label) SELECT i + 100000, 'late' FROM r WHERE i % 100000 = 0",
		sleepWhere: "numbers WHERE label = 'late'", secrets: []string{path}}}
	admin, _ := postgresFixture(t)
	if admin != "" {
		cases = append(cases, engineWrite{name: "postgres", param: "$1", dsn: admin,
			sleepWrite: "INSERT INTO customers (id, name) SELECT 99, 'late' FROM pg_sleep(10)",
			sleepWhere: "customers WHERE name = 'late'", secrets: []string{admin, "pg-secret-pw"}})
	}
	for _, ec := range cases {
		t.Run(ec.name, func(t *testing.T) {
			p := func(n int) string {
				if ec.param == "?" {
					return "?"
				}
				return "$" + string(rune('0'+n))
			}
			e := newHub(t, sourcesYAML(
				src("ro", ec.dsn),
				src("rw", ec.dsn, "allow_writes: true", "timeout: 1s", "max_open_conns: 1"),
				src("ddl", ec.dsn, "allow_writes: true", "allow_ddl: true"),
			), "")
			if !slices.Contains(e.hub.Instance("sql").ToolNames(), "sql_execute") {
				t.Fatal("sql_execute is not served although rw allows writes")
			}
			t.Run("refused_on_read_only_source", func(t *testing.T) {
				e.t = t
				e.fails("sql_execute", map[string]any{"source": "ro", "sql": "DELETE FROM orders"},
					`source "ro" is read-only`, "allow_writes", `"rw"`)
				if n := countRows(t, e, "ro", "orders"); n != 5 {
					t.Errorf("orders: %d rows after the refused delete", n)
				}
			})
			t.Run("dml_committed", func(t *testing.T) {
				e.t = t
				var r ExecResult
				text := e.ok("sql_execute", map[string]any{"source": "rw",
					"sql":    "INSERT INTO customers (id, name, email) VALUES (" + p(1) + ", " + p(2) + ", NULL)",
					"params": []any{float64(10), "dave"}}, &r)
				if r.RowsAffected != 1 || !r.Committed || r.Command != "INSERT" || r.Source != "rw" {
					t.Errorf("insert: %+v", r)
				}
				if !strings.Contains(text, "1 row affected, committed") {
					t.Errorf("text: %s", text)
				}
				e.ok("sql_execute", map[string]any{"source": "rw", "sql": "UPDATE orders SET note = 'checked' WHERE customer_id = " + p(1),
					"params": []any{float64(1)}}, &r)
				if r.RowsAffected != 2 {
					t.Errorf("update: %+v", r)
				}
				e.ok("sql_execute", map[string]any{"source": "rw", "sql": "INSERT INTO orders (id, customer_id, total) VALUES (10, 10, 1) RETURNING id"}, &r)
				if r.RowsAffected != 1 {
					t.Errorf("insert returning: %+v", r)
				}
				e.ok("sql_execute", map[string]any{"source": "rw", "sql": "DELETE FROM orders WHERE id = 10"}, &r)
				if r.RowsAffected != 1 || r.Command != "DELETE" {
					t.Errorf("delete: %+v", r)
				}
				// Committed: a read-only source on the same database, another pool, sees it.
				if n := countRows(t, e, "ro", "customers WHERE name = 'dave'"); n != 1 {
					t.Errorf("dave: %d rows seen from ro", n)
				}
				if n := countRows(t, e, "ro", "orders WHERE note = 'checked'"); n != 2 {
					t.Errorf("checked orders: %d", n)
				}
			})
			t.Run("escapes_refused", func(t *testing.T) {
				e.t = t
				for _, stmt := range []string{
					"INSERT INTO customers (id, name) VALUES (20, 'x'); DELETE FROM orders",
					"ATTACH DATABASE '/tmp/x.db' AS x",
					"DETACH DATABASE x",
					"COPY customers FROM PROGRAM 'echo 20,x'",
					"COPY customers TO PROGRAM 'id'",
					"VACUUM INTO '/tmp/x.db'",
					"PRAGMA query_only = 0",
					"INSERT INTO customers (id, name) SELECT 20, load_extension('/tmp/x.so')",
					"INSERT INTO customers (id, name) SELECT 20, pg_read_file('/etc/passwd')",
					"UPDATE customers SET name = set_config('statement_timeout', '0', false)",
					"SET statement_timeout = 0",
					"COMMIT",
					"SELECT * FROM customers",
					"CREATE TABLE x (a int)",
					"DROP TABLE orders",
				} {
					e.fails("sql_execute", map[string]any{"source": "rw", "sql": stmt}, "refused", "sql_execute runs one")
				}
				if n := countRows(t, e, "ro", "customers WHERE id = 20"); n != 0 {
					t.Errorf("a refused statement wrote")
				}
			})
			t.Run("rollback_on_error", func(t *testing.T) {
				e.t = t
				// The second row breaks the primary key: the first must not stay.
				e.fails("sql_execute", map[string]any{"source": "rw",
					"sql": "INSERT INTO customers (id, name) VALUES (30, 'first'), (1, 'duplicate')"}, `"rw"`, "nothing was committed")
				if n := countRows(t, e, "ro", "customers WHERE id = 30"); n != 0 {
					t.Errorf("the failed statement's first row was committed")
				}
				// The only connection is usable again.
				var r ExecResult
				e.ok("sql_execute", map[string]any{"source": "rw", "sql": "UPDATE customers SET tier = 'gold' WHERE id = 2"}, &r)
				if r.RowsAffected != 1 {
					t.Errorf("update after the error: %+v", r)
				}
			})
			t.Run("timeout_cancels", func(t *testing.T) {
				e.t = t
				start := time.Now()
				e.fails("sql_execute", map[string]any{"source": "rw", "sql": ec.sleepWrite}, "timeout of 1s", "cancelled", "nothing was committed")
				if d := time.Since(start); d > 5*time.Second {
					t.Errorf("the timed-out write returned after %s", d)
				}
				start = time.Now()
				var r ExecResult
				e.ok("sql_execute", map[string]any{"source": "rw", "sql": "UPDATE customers SET tier = 'basic' WHERE id = 2"}, &r)
				if d := time.Since(start); d > 2*time.Second {
					t.Errorf("the write after the timed-out one took %s", d)
				}
				if n := countRows(t, e, "ro", ec.sleepWhere); n != 0 {
					t.Errorf("the timed-out write left %d rows", n)
				}
				if ec.name == "postgres" {
					if n := countRows(t, e, "ro", "pg_stat_activity WHERE query LIKE '%FROM pg_sleep(10)%' AND state = 'active' "+
						"AND pid <> pg_backend_pid()"); n != 0 {
						t.Errorf("the timed-out write is still running on the server")
					}
				}
			})
			t.Run("query_stays_read_only", func(t *testing.T) {
				e.t = t
				e.fails("sql_query", map[string]any{"source": "rw", "sql": "DELETE FROM orders"}, "refused", "read-only")
				// With the classifier bypassed, the read path of a writes-enabled source still
				// cannot write.
				s := New().(*Server)
				s.cfg.Sources = []SourceConfig{{Name: "rw", DSN: ec.dsn, MaxRows: 10, Timeout: configs.Duration(5 * time.Second),
					MaxOpenConns: 1, AllowWrites: true, AllowDDL: true}}
				if err := s.Provision(context.Background(), registry.Env{}); err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				for _, stmt := range []string{"DELETE FROM orders", "UPDATE customers SET name = 'x'", "DROP TABLE numbers",
					"INSERT INTO customers (id, name) VALUES (40, 'x')"} {
					if _, err := s.sources[0].query(context.Background(), stmt, nil, func([]any) bool { return true }); err == nil {
						t.Errorf("%s: sql_query's path wrote on a writes-enabled source", stmt)
					}
				}
				if n := countRows(t, e, "ro", "orders"); n != 5 {
					t.Errorf("orders: %d rows", n)
				}
			})
			t.Run("ddl", func(t *testing.T) {
				e.t = t
				e.fails("sql_execute", map[string]any{"source": "rw", "sql": "CREATE TABLE notes (a int)"}, "allow_ddl is off")
				var r ExecResult
				e.ok("sql_execute", map[string]any{"source": "ddl", "sql": "CREATE TABLE notes (id int PRIMARY KEY, body text)"}, &r)
				if r.Command != "CREATE" || !r.Committed {
					t.Errorf("create: %+v", r)
				}
				e.ok("sql_execute", map[string]any{"source": "rw", "sql": "INSERT INTO notes VALUES (1, 'hi')"}, &r)
				e.ok("sql_execute", map[string]any{"source": "ddl", "sql": "CREATE INDEX notes_body ON notes (body)"}, &r)
				e.ok("sql_execute", map[string]any{"source": "ddl", "sql": "ALTER TABLE notes ADD COLUMN extra text"}, &r)
				e.fails("sql_execute", map[string]any{"source": "ddl", "sql": "CREATE TRIGGER tr AFTER INSERT ON notes FOR EACH ROW EXECUTE FUNCTION f()"},
					"CREATE TRIGGER is not allowed")
				e.ok("sql_execute", map[string]any{"source": "ddl", "sql": "DROP TABLE notes"}, &r)
				e.fails("sql_query", map[string]any{"source": "ro", "sql": "SELECT * FROM notes"}, "notes")
			})
			e.t = t
			e.noLeak(ec.secrets...)
		})
	}
}

// TestIntegrationSQLiteWriteAuthorizer bypasses the classifier: the read-write SQLite connection
// still refuses ATTACH, pragmas that set a value, VACUUM INTO, load_extension, triggers,
// virtual tables and, without allow_ddl, DDL.
func TestIntegrationSQLiteWriteAuthorizer(t *testing.T) {
	path := sqliteFixture(t)
	dir := t.TempDir()
	for _, ddl := range []bool{false, true} {
		s := New().(*Server)
		s.cfg.Sources = []SourceConfig{{Name: "rw", DSN: "sqlite://" + path, MaxRows: 10, Timeout: configs.Duration(5 * time.Second),
			MaxOpenConns: 1, AllowWrites: true, AllowDDL: ddl}}
		if err := s.Provision(context.Background(), registry.Env{}); err != nil {
			t.Fatal(err)
		}
		src := s.sources[0]
		refused := []string{
			"ATTACH DATABASE '" + filepath.Join(dir, "x.db") + "' AS x",
			"PRAGMA query_only = 1",
			"PRAGMA journal_mode = OFF",
			"PRAGMA writable_schema = ON",
			"VACUUM INTO '" + filepath.Join(dir, "y.db") + "'",
			"SELECT load_extension('/tmp/x.so')",
			"CREATE TRIGGER tr AFTER INSERT ON customers BEGIN DELETE FROM orders; END",
			"CREATE VIRTUAL TABLE v USING fts5(a)",
			"UPDATE sqlite_master SET sql = 'x'",
		}
		if !ddl {
			refused = append(refused, "CREATE TABLE x (a int)", "DROP TABLE orders", "ALTER TABLE customers ADD COLUMN y int",
				"CREATE INDEX ix ON customers(name)")
		}
		for _, stmt := range refused {
			_, _, err := src.exec(context.Background(), stmt, nil)
			switch {
			case err == nil:
				t.Errorf("ddl %v: %s: the write connection accepted it", ddl, stmt)
			case strings.Contains(err.Error(), path):
				t.Errorf("%s: the error quotes the path: %v", stmt, err)
			default:
				t.Logf("ddl %v: %s: %v", ddl, stmt, err)
			}
		}
		if n, _, err := src.exec(context.Background(), "UPDATE customers SET tier = tier", nil); err != nil || n != 3 {
			t.Errorf("ddl %v: plain update: %d, %v", ddl, n, err)
		}
		if ddl {
			if _, _, err := src.exec(context.Background(), "CREATE TABLE made (a int)", nil); err != nil {
				t.Errorf("create with allow_ddl: %v", err)
			}
			if _, _, err := src.exec(context.Background(), "DROP TABLE made", nil); err != nil {
				t.Errorf("drop with allow_ddl: %v", err)
			}
		}
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	}
}
