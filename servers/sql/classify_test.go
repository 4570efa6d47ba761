package sql

import (
	"context"
	dbsql "database/sql"
	"strings"
	"testing"
	"time"
)

func TestClassify(t *testing.T) {
	both := []dialect{dialectSQLite, dialectPostgres}
	pg := []dialect{dialectPostgres}
	lite := []dialect{dialectSQLite}
	tests := []struct {
		sql      string
		dialects []dialect
		want     string // "" accepts; otherwise a part of the refusal
	}{
		{"SELECT 1", both, ""},
		{"select * from t where a = 'x;y' -- ; delete\n", both, ""},
		{"SELECT 1;", both, ""},
		{"  ;; SELECT 1 ;; ", both, ""},
		{"WITH x AS (SELECT 1) SELECT * FROM x", both, ""},
		{"WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM r WHERE i < 3) SELECT * FROM r", both, ""},
		{"VALUES (1), (2)", both, ""},
		{"EXPLAIN SELECT 1", both, ""},
		{"EXPLAIN QUERY PLAN SELECT 1", lite, ""},
		{"EXPLAIN (ANALYZE, BUFFERS) SELECT 1", pg, ""},
		{"SHOW search_path", pg, ""},
		{"TABLE customers", pg, ""},
		{"(SELECT 1) UNION (SELECT 2)", both, ""},
		{"SELECT 'delete from t'", both, ""},
		{`SELECT "update" FROM t`, both, ""},
		{"SELECT $$ drop table t $$", pg, ""},
		{"SELECT $tag$ insert $x$ $tag$", pg, ""},
		{"SELECT E'it\\'s; delete'", pg, ""},
		{"SELECT '\\'; SELECT 1", pg, "2 statements"},
		{"SELECT pg_sleep(1)", pg, ""},
		{"SELECT x::int, data->>'k', data ? 'k' FROM t", pg, ""},
		{"SELECT * FROM t WHERE a = $1 AND b = $2", pg, ""},
		{"SELECT * FROM t WHERE a = ? AND b = :b AND c = @c AND d = $d AND e = ?2", lite, ""},
		{"SELECT [delete] FROM t", lite, ""},
		{"SELECT `drop` FROM t", lite, ""},
		{"SELECT /* delete */ 1", both, ""},
		{"SELECT /* a /* nested */ delete */ 1", pg, ""},
		{"SELECT * FROM pragma_table_info('t')", lite, ""},
		{"SELECT replace(name, 'a', 'b') FROM t", both, ""},
		{"SELECT lo_price FROM t", both, ""},
		{"SELECT 1e5, 0x1F, .5", both, ""},

		{"", both, "empty"},
		{" -- only a comment", both, "empty"},
		{"SELECT 1; SELECT 2", both, "2 statements"},
		{"SELECT 1; DELETE FROM t", both, "2 statements"},
		{"INSERT INTO t VALUES (1)", both, "starts with INSERT"},
		{"UPDATE t SET a = 1", both, "starts with UPDATE"},
		{"DELETE FROM t", both, "starts with DELETE"},
		{"MERGE INTO t USING s ON true WHEN MATCHED THEN DELETE", pg, "starts with MERGE"},
		{"REPLACE INTO t VALUES (1)", lite, "starts with REPLACE"},
		{"CREATE TABLE t (a int)", both, "starts with CREATE"},
		{"DROP TABLE t", both, "starts with DROP"},
		{"ALTER TABLE t ADD b int", both, "starts with ALTER"},
		{"TRUNCATE t", pg, "starts with TRUNCATE"},
		{"GRANT SELECT ON t TO x", pg, "starts with GRANT"},
		{"ATTACH DATABASE 'x.db' AS x", lite, "starts with ATTACH"},
		{"DETACH DATABASE x", lite, "starts with DETACH"},
		{"PRAGMA query_only = 0", lite, "starts with PRAGMA"},
		{"VACUUM INTO '/tmp/x.db'", lite, "starts with VACUUM"},
		{"COPY t TO PROGRAM 'id'", pg, "COPY"},
		{"COPY (SELECT 1) TO '/tmp/x'", pg, "COPY"},
		{"SET statement_timeout = 0", pg, "starts with SET"},
		{"BEGIN", both, "starts with BEGIN"},
		{"DO $$ BEGIN DELETE FROM t; END $$", pg, "starts with DO"},
		{"CALL p()", pg, "starts with CALL"},
		{"LOCK TABLE t", pg, "starts with LOCK"},
		{"WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d", pg, "DELETE"},
		{"WITH d AS (INSERT INTO t VALUES (1) RETURNING *) SELECT * FROM d", pg, "INSERT"},
		{"WITH d AS (UPDATE t SET a = 1 RETURNING *) SELECT * FROM d", pg, "UPDATE"},
		{"SELECT * INTO t2 FROM t", both, "INTO"},
		{"SELECT * FROM t FOR UPDATE", pg, "FOR UPDATE"},
		{"SELECT * FROM t FOR NO KEY UPDATE", pg, "FOR UPDATE"},
		{"SELECT * FROM t FOR SHARE", pg, "FOR SHARE"},
		{"SELECT * FROM t FOR KEY SHARE", pg, "FOR SHARE"},
		{"EXPLAIN ANALYZE DELETE FROM t", pg, "DELETE"},
		{"SELECT pg_read_file('/etc/passwd')", pg, "pg_read_file() reads files"},
		{"SELECT pg_catalog.pg_read_binary_file('/etc/passwd')", pg, "pg_read_binary_file()"},
		{`SELECT "pg_read_file"('/etc/passwd')`, pg, "pg_read_file()"},
		{"SELECT PG_LS_DIR('.')", pg, "pg_ls_dir()"},
		{"SELECT lo_import('/etc/passwd')", pg, "lo_import()"},
		{"SELECT lo_export(1, '/tmp/x')", pg, "lo_export()"},
		{"SELECT * FROM dblink('host=x', 'DELETE FROM t') AS t(a int)", pg, "dblink()"},
		{"SELECT dblink_exec('DELETE FROM t')", pg, "dblink_exec()"},
		{"SELECT set_config('default_transaction_read_only', 'off', false)", pg, "set_config()"},
		{"SELECT query_to_xml('delete from t', true, true, '')", pg, "query_to_xml()"},
		{"SELECT pg_advisory_lock(1)", pg, "pg_advisory_lock()"},
		{"SELECT pg_terminate_backend(1)", pg, "pg_terminate_backend()"},
		{"SELECT nextval('s')", pg, "nextval()"},
		{"SELECT load_extension('x')", lite, "load_extension()"},
		{"SELECT writefile('/tmp/x', 'y')", lite, "writefile()"},
		{"SELECT 1delete", both, "DELETE"},
		{"SELECT 'unterminated", both, "unterminated string"},
		{`SELECT "unterminated`, both, "unterminated quoted identifier"},
		{"SELECT 1 /* unterminated", both, "unterminated /* comment"},
		{"SELECT $x$ unterminated", pg, "unterminated dollar-quoted"},
		{"SELECT /* /* */ delete */ 1", lite, "DELETE"},
	}
	for _, tt := range tests {
		for _, d := range tt.dialects {
			err := classify(tt.sql, d)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("classify(%q, %v) refused: %v", tt.sql, d, err)
			case tt.want != "" && err == nil:
				t.Errorf("classify(%q, %v) accepted, want a refusal with %q", tt.sql, d, tt.want)
			case tt.want != "" && !strings.Contains(err.Error(), tt.want):
				t.Errorf("classify(%q, %v) = %q, want it to contain %q", tt.sql, d, err, tt.want)
			case err != nil && !strings.Contains(err.Error(), "read-only"):
				t.Errorf("classify(%q, %v) = %q: the refusal does not say the source is read-only", tt.sql, d, err)
			}
		}
	}
}

// FuzzClassify: the classifier never panics, and whatever it accepts is one statement starting
// with a read keyword, with no write keyword and no forbidden function call outside strings,
// comments and quoted identifiers.
func FuzzClassify(f *testing.F) {
	for _, s := range []string{
		"SELECT 1", "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d", "SELECT $$x$$; DROP TABLE t",
		"SELECT E'\\''; DELETE FROM t; --'", "SELECT [a] FROM t", "select/**/1", "SELECT $1, ?, :a",
		"SELECT 'a''b'", "/* /* */ */ DELETE", "SELECT pg_read_file('x')", "VALUES (1);;",
		"INSERT INTO t VALUES ($1)", "UPDATE t SET a = 1; DROP TABLE t", "CREATE TABLE x (a int)",
		"WITH d AS (DELETE FROM t RETURNING *) INSERT INTO a SELECT * FROM d", "CREATE SCHEMA s CREATE FUNCTION f()",
		"INSERT INTO t SELECT load_extension('x')", "REPLACE INTO t VALUES (1)", "ALTER SYSTEM SET x = 1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		for _, d := range []dialect{dialectSQLite, dialectPostgres} {
			for _, ddl := range []bool{false, true} {
				checkWriteAccepted(t, src, d, ddl)
			}
			if classify(src, d) != nil {
				continue
			}
			toks, err := tokenize(src, d)
			if err != nil {
				t.Fatalf("accepted %q although it does not tokenize: %v", src, err)
			}
			statements := 0
			inStatement := false
			for i, tok := range toks {
				if tok.kind == tokPunct && tok.text == ";" {
					inStatement = false
					continue
				}
				if !inStatement {
					statements++
					inStatement = true
				}
				if tok.kind == tokWord && writeWords[tok.text] {
					t.Fatalf("accepted %q (dialect %v) with the write keyword %q", src, d, tok.text)
				}
				if (tok.kind == tokWord || tok.kind == tokQuoted) && i+1 < len(toks) && toks[i+1].text == "(" {
					if _, bad := forbiddenFuncs[tok.text]; bad {
						t.Fatalf("accepted %q (dialect %v) calling %s", src, d, tok.text)
					}
				}
			}
			if statements != 1 {
				t.Fatalf("accepted %q (dialect %v) with %d statements", src, d, statements)
			}
		}
	})
}

// checkWriteAccepted: whatever classifyWrite accepts is one statement that sql_query refuses,
// starting with a DML keyword (or, with ddl, CREATE, ALTER, DROP or TRUNCATE), with no escape
// keyword, no forbidden function call other than nextval and setval, no DDL keyword without
// ddl, and a CREATE of an allowed object only.
func checkWriteAccepted(t *testing.T, src string, d dialect, ddl bool) {
	t.Helper()
	if classifyWrite(src, d, ddl) != nil {
		return
	}
	if classify(src, d) == nil {
		t.Fatalf("%q (dialect %v) is accepted by both sql_query and sql_execute", src, d)
	}
	toks, err := tokenize(src, d)
	if err != nil {
		t.Fatalf("write mode accepted %q although it does not tokenize: %v", src, err)
	}
	stmts := splitStatements(toks)
	if len(stmts) != 1 {
		t.Fatalf("write mode accepted %q (dialect %v) with %d statements", src, d, len(stmts))
	}
	stmt := stmts[0]
	first := stmt[0]
	writeStart := dmlStarts[first.text] || first.text == "replace" || (ddl && ddlStarts[first.text])
	if first.kind != tokWord || !writeStart {
		t.Fatalf("write mode accepted %q (dialect %v, ddl %v) starting with %q", src, d, ddl, first.text)
	}
	for i, tok := range stmt {
		if tok.kind == tokWord && writeEscapes[tok.text] {
			t.Fatalf("write mode accepted %q (dialect %v) with %q", src, d, tok.text)
		}
		if tok.kind == tokWord && !ddl && ddlStarts[tok.text] {
			t.Fatalf("write mode without ddl accepted %q (dialect %v) with %q", src, d, tok.text)
		}
		if tok.kind == tokWord && tok.text == "create" && !ddlObjects[ddlObject(stmt[i+1:])] {
			t.Fatalf("write mode accepted %q (dialect %v) creating %q", src, d, ddlObject(stmt[i+1:]))
		}
		if (tok.kind == tokWord || tok.kind == tokQuoted) && i+1 < len(stmt) && stmt[i+1].text == "(" && !writeAllowedFuncs[tok.text] {
			if _, bad := forbiddenFuncs[tok.text]; bad {
				t.Fatalf("write mode accepted %q (dialect %v) calling %s", src, d, tok.text)
			}
		}
	}
}

// TestSQLiteReadOnlyWithoutAuthorizer proves the layer under the authorizer: the connection
// string alone (mode=ro, query_only) makes SQLite refuse writes.
func TestSQLiteReadOnlyWithoutAuthorizer(t *testing.T) {
	path := sqliteFixture(t)
	db, err := dbsql.Open("sqlite", sqliteDSN(path))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, stmt := range []string{"INSERT INTO customers (id, name) VALUES (9, 'x')", "DELETE FROM orders", "DROP TABLE numbers",
		"CREATE TABLE x (a int)"} {
		if _, err := db.ExecContext(ctx, stmt); err == nil || !strings.Contains(err.Error(), "readonly") {
			t.Errorf("%s: err = %v, want a read-only refusal", stmt, err)
		}
	}
	// query_only covers what mode=ro might not, such as a PRAGMA that writes.
	var qo int
	if err := db.QueryRowContext(ctx, "PRAGMA query_only").Scan(&qo); err != nil || qo != 1 {
		t.Errorf("query_only = %d, %v", qo, err)
	}
}
