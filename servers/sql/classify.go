package sql

import (
	"fmt"
	"strings"
)

// dialect selects the lexical rules of the tokenizer: PostgreSQL nests block comments and has
// dollar quotes and E” strings; SQLite has [bracket] and `backtick` identifiers.
type dialect int

const (
	dialectSQLite dialect = iota
	dialectPostgres
)

type tokenKind int

const (
	tokWord   tokenKind = iota // keyword or bare identifier, lowercased
	tokQuoted                  // quoted identifier, its content lowercased
	tokString                  // string literal of any kind (content dropped)
	tokNumber
	tokParam // $1, ?, ?1, :name, @name
	tokPunct // one character: ; ( ) , . and operators
)

type token struct {
	kind tokenKind
	text string
}

// tokenize splits a statement into tokens, dropping comments and the content of strings. It
// returns an error for an unterminated string, identifier or comment: whatever follows could be
// read differently by the database, so the statement is refused rather than guessed at.
func tokenize(src string, d dialect) ([]token, error) {
	var toks []token
	i, n := 0, len(src)
	for i < n {
		c := src[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			i++
		case c == '-' && i+1 < n && src[i+1] == '-':
			for i < n && src[i] != '\n' {
				i++
			}
		case c == '/' && i+1 < n && src[i+1] == '*':
			end, err := skipBlockComment(src, i, d)
			if err != nil {
				return nil, err
			}
			i = end
		case c == '\'':
			end, err := skipString(src, i, false)
			if err != nil {
				return nil, err
			}
			toks = append(toks, token{tokString, ""})
			i = end
		case c == '"' || c == '`' || (c == '[' && d == dialectSQLite):
			closer := c
			if c == '[' {
				closer = ']'
			}
			end, text, err := readQuotedIdent(src, i, closer)
			if err != nil {
				return nil, err
			}
			toks = append(toks, token{tokQuoted, strings.ToLower(text)})
			i = end
		case c == '$' && d == dialectPostgres:
			if i+1 < n && isDigit(src[i+1]) {
				j := i + 1
				for j < n && isDigit(src[j]) {
					j++
				}
				toks = append(toks, token{tokParam, src[i:j]})
				i = j
				continue
			}
			// A dollar quote: $tag$ ... $tag$, the tag an identifier or empty.
			j := i + 1
			for j < n && isIdentChar(src[j]) {
				j++
			}
			if j >= n || src[j] != '$' || (j > i+1 && isDigit(src[i+1])) {
				toks = append(toks, token{tokPunct, "$"})
				i++
				continue
			}
			tag := src[i : j+1]
			end := strings.Index(src[j+1:], tag)
			if end < 0 {
				return nil, fmt.Errorf("unterminated dollar-quoted string %s", tag)
			}
			toks = append(toks, token{tokString, ""})
			i = j + 1 + end + len(tag)
		case d == dialectSQLite && (c == '?' || c == ':' || c == '@' || c == '$'):
			// SQLite parameters: ?, ?NNN, :name, @name, $name. In PostgreSQL these characters
			// are operators (jsonb ?, casts ::) and read as punctuation.
			j := i + 1
			for j < n && isIdentChar(src[j]) {
				j++
			}
			if j == i+1 && c != '?' {
				toks = append(toks, token{tokPunct, string(c)})
			} else {
				toks = append(toks, token{tokParam, src[i:j]})
			}
			i = j
		case isDigit(c) || (c == '.' && i+1 < n && isDigit(src[i+1])):
			// Digits, a point, an exponent, or a hexadecimal literal; letters right after a
			// number start a new word, so that "1delete" cannot hide a keyword.
			j := i + 1
			if c == '0' && j < n && (src[j] == 'x' || src[j] == 'X') {
				j++
				for j < n && isHexDigit(src[j]) {
					j++
				}
			} else {
				for j < n && (isDigit(src[j]) || src[j] == '.' || src[j] == '_') {
					j++
				}
				if j < n && (src[j] == 'e' || src[j] == 'E') {
					k := j + 1
					if k < n && (src[k] == '+' || src[k] == '-') {
						k++
					}
					if k < n && isDigit(src[k]) {
						j = k
						for j < n && isDigit(src[j]) {
							j++
						}
					}
				}
			}
			toks = append(toks, token{tokNumber, src[i:j]})
			i = j
		case isIdentStart(c):
			j := i + 1
			for j < n && (isIdentChar(src[j]) || (src[j] == '$' && d == dialectPostgres)) {
				j++
			}
			word := strings.ToLower(src[i:j])
			// E'...' (PostgreSQL) takes backslash escapes; X'..', B'..', N'..' and U&'..' are
			// ordinary quoting. Reading E'' with the wrong rules would end the string early.
			if j < n && src[j] == '\'' && d == dialectPostgres && word == "e" {
				end, err := skipString(src, j, true)
				if err != nil {
					return nil, err
				}
				toks = append(toks, token{tokString, ""})
				i = end
				continue
			}
			toks = append(toks, token{tokWord, word})
			i = j
		default:
			toks = append(toks, token{tokPunct, string(c)})
			i++
		}
	}
	return toks, nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isHexDigit(c byte) bool {
	return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// isIdentStart accepts bytes of multi-byte UTF-8 characters too: both engines allow non-ASCII
// letters in bare identifiers.
func isIdentStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80
}

func isIdentChar(c byte) bool { return isIdentStart(c) || isDigit(c) }

func skipBlockComment(src string, i int, d dialect) (int, error) {
	depth := 0
	for i < len(src) {
		switch {
		case strings.HasPrefix(src[i:], "/*"):
			if depth == 0 || d == dialectPostgres {
				depth++
			}
			i += 2
		case strings.HasPrefix(src[i:], "*/"):
			depth--
			i += 2
			if depth == 0 {
				return i, nil
			}
		default:
			i++
		}
	}
	return 0, fmt.Errorf("unterminated /* comment")
}

// skipString returns the index after the string literal starting at the quote src[i]; a doubled
// quote is a quote, and with backslashes a backslash escapes the next byte.
func skipString(src string, i int, backslashes bool) (int, error) {
	for j := i + 1; j < len(src); j++ {
		switch src[j] {
		case '\\':
			if backslashes {
				j++
			}
		case '\'':
			if j+1 < len(src) && src[j+1] == '\'' {
				j++
				continue
			}
			return j + 1, nil
		}
	}
	return 0, fmt.Errorf("unterminated string literal")
}

func readQuotedIdent(src string, i int, closer byte) (int, string, error) {
	var b strings.Builder
	for j := i + 1; j < len(src); j++ {
		if src[j] == closer {
			if closer != ']' && j+1 < len(src) && src[j+1] == closer {
				b.WriteByte(closer)
				j++
				continue
			}
			return j + 1, b.String(), nil
		}
		b.WriteByte(src[j])
	}
	return 0, "", fmt.Errorf("unterminated quoted identifier")
}

// readStarts are the first keywords of the statements sql_query runs.
var readStarts = map[string]bool{
	"select": true, "with": true, "values": true, "explain": true, "show": true, "table": true,
}

// writeWords are keywords that never belong in a read-only query, wherever they appear: they
// catch data-modifying CTEs (WITH x AS (DELETE ...)), SELECT ... INTO, FOR UPDATE and DDL. A
// column of that name must be quoted, as most of them are reserved anyway.
var writeWords = map[string]bool{
	"insert": true, "update": true, "delete": true, "merge": true, "into": true, "upsert": true,
	"create": true, "drop": true, "alter": true, "truncate": true, "grant": true, "revoke": true,
	"attach": true, "detach": true, "pragma": true, "vacuum": true, "reindex": true, "copy": true,
	"call": true, "execute": true, "prepare": true, "deallocate": true, "listen": true,
	"notify": true, "unlisten": true, "refresh": true, "cluster": true, "checkpoint": true,
	"discard": true, "reassign": true, "savepoint": true, "commit": true, "rollback": true,
}

// forbiddenFuncs are functions that reach outside the query's snapshot: files and programs on the
// database host, other connections, server signals, settings, locks, sequences, or SQL run from a
// string where this classifier cannot see it.
var forbiddenFuncs = map[string]string{
	"pg_read_file":               "reads files on the database server",
	"pg_read_binary_file":        "reads files on the database server",
	"pg_stat_file":               "inspects files on the database server",
	"pg_file_write":              "writes files on the database server",
	"pg_file_rename":             "renames files on the database server",
	"pg_file_unlink":             "deletes files on the database server",
	"pg_file_sync":               "touches files on the database server",
	"lo_import":                  "reads files on the database server",
	"lo_export":                  "writes files on the database server",
	"lo_from_bytea":              "writes large objects",
	"lo_create":                  "writes large objects",
	"lo_creat":                   "writes large objects",
	"lo_put":                     "writes large objects",
	"lo_unlink":                  "deletes large objects",
	"lo_truncate":                "writes large objects",
	"lowrite":                    "writes large objects",
	"set_config":                 "changes server settings",
	"pg_reload_conf":             "signals the database server",
	"pg_rotate_logfile":          "signals the database server",
	"pg_terminate_backend":       "stops other sessions",
	"pg_cancel_backend":          "cancels other sessions' queries",
	"pg_switch_wal":              "changes the server's write-ahead log",
	"pg_create_restore_point":    "changes the server's write-ahead log",
	"pg_promote":                 "promotes a standby server",
	"pg_notify":                  "sends notifications to other sessions",
	"pg_logical_emit_message":    "writes to the write-ahead log",
	"nextval":                    "advances a sequence",
	"setval":                     "changes a sequence",
	"query_to_xml":               "runs SQL given as a string",
	"query_to_xmlschema":         "runs SQL given as a string",
	"query_to_xml_and_xmlschema": "runs SQL given as a string",
	"cursor_to_xml":              "reads from a cursor",
	"load_extension":             "loads native code into the database",
	"readfile":                   "reads files on the database host",
	"writefile":                  "writes files on the database host",
	"edit":                       "starts an editor on the database host",
	"fts3_tokenizer":             "registers native code",
}

// forbiddenFuncPrefixes cover families of such functions.
var forbiddenFuncPrefixes = []struct{ prefix, why string }{
	{"pg_ls_", "lists directories on the database server"},
	{"dblink", "opens connections to other databases, outside the read-only transaction"},
	{"pg_advisory", "takes locks other sessions wait for"},
	{"pg_try_advisory", "takes locks other sessions wait for"},
	{"pg_replication_", "changes replication state"},
	{"pg_create_", "creates server objects"},
	{"pg_drop_", "drops server objects"},
}

// refusal is a statement the classifier refuses, with a message a model can act on.
type refusal struct{ msg string }

func (r *refusal) Error() string { return r.msg }

func refuse(format string, args ...any) error {
	return &refusal{msg: fmt.Sprintf(format, args...) +
		". This source is read-only: send one SELECT, WITH, VALUES, EXPLAIN, SHOW or TABLE statement that only reads"}
}

// classify returns nil when src is a single statement that only reads, and otherwise a
// *refusal saying why not. It is the first of two guards and the one that explains: the
// database refuses writes on its own (read-only connection or transaction) whatever gets past.
func classify(src string, d dialect) error {
	toks, err := tokenize(src, d)
	if err != nil {
		return refuse("the query cannot be read: %v", err)
	}
	stmts := splitStatements(toks)
	switch len(stmts) {
	case 0:
		return refuse("the query is empty")
	case 1:
	default:
		return refuse("the query holds %d statements; send one statement per call", len(stmts))
	}
	return readStatement(stmts[0])
}

// splitStatements splits tokens on top-level semicolons; empty statements (";;", a trailing
// ";") do not count.
func splitStatements(toks []token) [][]token {
	var stmts [][]token
	var cur []token
	for _, t := range toks {
		if t.kind == tokPunct && t.text == ";" {
			if len(cur) > 0 {
				stmts = append(stmts, cur)
			}
			cur = nil
			continue
		}
		cur = append(cur, t)
	}
	if len(cur) > 0 {
		stmts = append(stmts, cur)
	}
	return stmts
}

// readStatement is the read-only half of classify, on one statement's tokens.
func readStatement(stmt []token) error {
	first := stmt[0]
	if first.kind == tokPunct && first.text == "(" {
		// "(SELECT ...) UNION (SELECT ...)": the first word inside the parentheses decides.
		for _, t := range stmt {
			if t.kind != tokPunct || t.text != "(" {
				first = t
				break
			}
		}
	}
	if first.kind != tokWord || !readStarts[first.text] {
		what := first.text
		if first.kind != tokWord {
			what = "something that is not a keyword"
		}
		if first.kind == tokWord && first.text == "copy" {
			return refuse("COPY statements read or write files and programs on the database server and are not allowed")
		}
		return refuse("the statement starts with %s, which is not a read-only statement", strings.ToUpper(what))
	}
	for i, t := range stmt {
		var next token
		if i+1 < len(stmt) {
			next = stmt[i+1]
		}
		var prev token
		if i > 0 {
			prev = stmt[i-1]
		}
		switch t.kind {
		case tokWord:
			if writeWords[t.text] {
				if t.text == "into" {
					return refuse("INTO writes (SELECT ... INTO creates a table, INSERT INTO adds rows)")
				}
				if t.text == "update" && prev.kind == tokWord && (prev.text == "for" || prev.text == "key") {
					return refuse("FOR UPDATE locks rows, which needs write access")
				}
				return refuse("the query contains %s, which writes or changes the database", strings.ToUpper(t.text))
			}
			if t.text == "share" && prev.kind == tokWord && (prev.text == "for" || prev.text == "key") {
				return refuse("FOR SHARE locks rows, which needs write access")
			}
			if err := checkFunc(t.text, next); err != nil {
				return err
			}
		case tokQuoted:
			if err := checkFunc(t.text, next); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkFunc refuses a call (a name followed by "(") of a forbidden function.
func checkFunc(name string, next token) error {
	if why := forbiddenCall(name, next); why != "" {
		return refuse("%s", why)
	}
	return nil
}

// forbiddenCall says why a call (a name followed by "(") of a forbidden function is refused,
// or returns "" when name is not such a call.
func forbiddenCall(name string, next token) string {
	if next.kind != tokPunct || next.text != "(" {
		return ""
	}
	if why, ok := forbiddenFuncs[name]; ok {
		return fmt.Sprintf("%s() %s and is not allowed", name, why)
	}
	for _, p := range forbiddenFuncPrefixes {
		if strings.HasPrefix(name, p.prefix) {
			return fmt.Sprintf("%s() %s and is not allowed", name, p.why)
		}
	}
	return ""
}

// dmlStarts are the first keywords of the statements sql_execute runs on a source with
// allow_writes; WITH must lead to one of them. REPLACE (INSERT OR REPLACE) is SQLite's.
var dmlStarts = map[string]bool{"insert": true, "update": true, "delete": true, "merge": true, "with": true}

// dmlWords are the keywords one of which a statement sql_execute runs must contain: a WITH
// that only reads belongs in sql_query.
var dmlWords = map[string]bool{"insert": true, "update": true, "delete": true, "merge": true, "replace": true}

// ddlStarts are the statements allow_ddl adds.
var ddlStarts = map[string]bool{"create": true, "alter": true, "drop": true, "truncate": true}

// ddlObjects are the objects CREATE, ALTER and DROP may name under allow_ddl. Left out on
// purpose: functions, procedures, languages, extensions, triggers, rules, roles, databases,
// tablespaces, servers, foreign data wrappers and tables, subscriptions, publications, event
// triggers, virtual tables and ALTER SYSTEM, which run code, reach files or other servers, or
// change more than this database's data.
var ddlObjects = map[string]bool{
	"table": true, "index": true, "view": true, "materialized": true, "sequence": true, "schema": true,
	"type": true, "domain": true,
}

// ddlModifiers are the words that may come between CREATE, ALTER or DROP and the object.
var ddlModifiers = map[string]bool{
	"or": true, "replace": true, "temp": true, "temporary": true, "unlogged": true, "unique": true,
	"global": true, "local": true, "if": true, "not": true, "exists": true, "concurrently": true,
}

// writeEscapes are keywords refused anywhere in a sql_execute statement, whatever its source
// allows: they reach files, programs or other databases, change grants, or end the transaction
// that bounds the statement. Statements such as SET, LOAD or DO are refused by their first word.
var writeEscapes = map[string]bool{
	"attach": true, "detach": true, "pragma": true, "vacuum": true, "copy": true, "prepare": true,
	"execute": true, "deallocate": true, "listen": true, "notify": true, "unlisten": true,
	"savepoint": true, "commit": true, "rollback": true, "grant": true, "revoke": true,
}

// writeAllowedFuncs are forbidden in sql_query but allowed in sql_execute: they write inside
// the statement's own transaction, as INSERT does.
var writeAllowedFuncs = map[string]bool{"nextval": true, "setval": true}

// classifyWrite returns nil when src is one statement that sql_execute may run on a source
// with allow_writes (and allow_ddl when ddl is true), and otherwise a *refusal saying why not.
// Like classify it explains; the database (the SQLite authorizer, a PostgreSQL role's grants)
// is the guard underneath.
func classifyWrite(src string, d dialect, ddl bool) error {
	allowed := "one INSERT, UPDATE, DELETE or MERGE statement (WITH ... in front of one works)"
	if d == dialectSQLite {
		allowed = "one INSERT, UPDATE, DELETE or REPLACE statement (WITH ... in front of one works)"
	}
	if ddl {
		allowed += ", or one CREATE, ALTER or DROP of a table, index, view, sequence, schema, type or domain, or TRUNCATE"
	}
	refuseW := func(format string, args ...any) error {
		return &refusal{msg: fmt.Sprintf(format, args...) + ". sql_execute runs " + allowed +
			"; read with sql_query"}
	}
	toks, err := tokenize(src, d)
	if err != nil {
		return refuseW("the statement cannot be read: %v", err)
	}
	stmts := splitStatements(toks)
	switch len(stmts) {
	case 0:
		return refuseW("the statement is empty")
	case 1:
	default:
		return refuseW("the text holds %d statements; send one statement per call", len(stmts))
	}
	stmt := stmts[0]
	first := stmt[0]
	isDDL := false
	switch {
	case first.kind != tokWord:
		return refuseW("the statement does not start with a keyword")
	case dmlStarts[first.text] || (first.text == "replace" && d == dialectSQLite):
	case ddlStarts[first.text]:
		if !ddl {
			return refuseW("%s is DDL, which this source does not allow (allow_ddl is off)", strings.ToUpper(first.text))
		}
		isDDL = true
	case first.text == "copy":
		return refuseW("COPY reads or writes files and programs on the database server and is not allowed")
	default:
		return refuseW("the statement starts with %s, which sql_execute does not run", strings.ToUpper(first.text))
	}
	hasDML := false
	for i, t := range stmt {
		var next token
		if i+1 < len(stmt) {
			next = stmt[i+1]
		}
		switch t.kind {
		case tokWord:
			if writeEscapes[t.text] {
				return refuseW("the statement contains %s, which is not allowed", strings.ToUpper(t.text))
			}
			if dmlWords[t.text] && (t.text != "replace" || (d == dialectSQLite && (i == 0 || stmt[i-1].text == "or") &&
				next.kind == tokWord && next.text == "into")) {
				hasDML = true
			}
			if ddlStarts[t.text] && t.text != "truncate" && (i == 0 || t.text == "create") {
				// The object of the leading verb, and of every CREATE (CREATE SCHEMA s CREATE ...).
				if !ddl {
					return refuseW("the statement contains %s, which is DDL, and this source does not allow DDL (allow_ddl is off)", strings.ToUpper(t.text))
				}
				if obj := ddlObject(stmt[i+1:]); !ddlObjects[obj] {
					if obj == "" {
						obj = "this"
					}
					return refuseW("%s %s is not allowed: it can run code, reach files or other servers, or change more than this database's data",
						strings.ToUpper(t.text), strings.ToUpper(obj))
				}
			} else if (t.text == "create" || t.text == "alter" || t.text == "drop") && !ddl {
				return refuseW("the statement contains %s, which is DDL, and this source does not allow DDL (allow_ddl is off)", strings.ToUpper(t.text))
			}
			if t.text == "truncate" && !ddl {
				return refuseW("TRUNCATE is DDL, which this source does not allow (allow_ddl is off)")
			}
			if !writeAllowedFuncs[t.text] {
				if why := forbiddenCall(t.text, next); why != "" {
					return refuseW("%s", why)
				}
			}
		case tokQuoted:
			if !writeAllowedFuncs[t.text] {
				if why := forbiddenCall(t.text, next); why != "" {
					return refuseW("%s", why)
				}
			}
		}
	}
	if !isDDL && !hasDML {
		return refuseW("the statement does not write: use sql_query to read")
	}
	return nil
}

// ddlObject returns the kind of object a CREATE, ALTER or DROP names: the first word after the
// modifiers (OR REPLACE, TEMP, UNIQUE, IF NOT EXISTS, ...), or "" when there is none.
func ddlObject(rest []token) string {
	for _, t := range rest {
		if t.kind != tokWord {
			return ""
		}
		if !ddlModifiers[t.text] {
			return t.text
		}
	}
	return ""
}
