package sql

import (
	"context"
	dbsql "database/sql"
	"database/sql/driver"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/stdlib"
	"modernc.org/sqlite"
)

// engine is the kind of database behind a source.
type engine int

const (
	engineSQLite engine = iota
	enginePostgres
)

func (e engine) String() string {
	if e == enginePostgres {
		return "postgres"
	}
	return "sqlite"
}

func (e engine) dialect() dialect {
	if e == enginePostgres {
		return dialectPostgres
	}
	return dialectSQLite
}

// target is a parsed DSN. Its parts are kept to redact them from connection errors.
type target struct {
	engine engine
	path   string          // SQLite: the database file
	pg     *pgx.ConnConfig // PostgreSQL
}

// parseDSN reads a source's DSN. Its errors never quote the DSN: it may hold a password.
func parseDSN(dsn string) (target, error) {
	scheme, rest, ok := strings.Cut(dsn, "://")
	if !ok {
		return target{}, errors.New("is not a URL: write sqlite:///absolute/path.db, sqlite://relative/path.db or postgres://user:${PASSWORD}@host:5432/db")
	}
	switch strings.ToLower(scheme) {
	case "sqlite", "sqlite3":
		if rest == "" {
			return target{}, errors.New("names no SQLite file: write sqlite:///absolute/path.db or sqlite://relative/path.db")
		}
		if strings.Contains(rest, "?") {
			return target{}, errors.New("has query parameters: mcphub sets the SQLite connection options itself; write only the file's path")
		}
		return target{engine: engineSQLite, path: rest}, nil
	case "postgres", "postgresql":
		cfg, err := pgx.ParseConfig(dsn)
		if err != nil {
			var perr *pgconn.ParseConfigError
			if errors.As(err, &perr) && perr.Unwrap() != nil {
				err = perr.Unwrap() // ParseConfigError's own text quotes the DSN.
			}
			return target{}, fmt.Errorf("is not a valid PostgreSQL URL: %s", scrubURLError(err))
		}
		return target{engine: enginePostgres, pg: cfg}, nil
	default:
		return target{}, fmt.Errorf("has the unsupported scheme %q: use sqlite:// or postgres://", scheme)
	}
}

// scrubURLError drops the quoted URL that net/url errors carry.
func scrubURLError(err error) string {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		return uerr.Op + ": " + uerr.Err.Error()
	}
	return err.Error()
}

// source is one configured database with its pool.
type source struct {
	name    string
	index   int
	cfg     SourceConfig
	target  target
	db      *dbsql.DB   // read-only: sql_query and the catalog tools
	wdb     *dbsql.DB   // SQLite with allow_writes: read-write connections for sql_execute
	secrets []string    // parts of the DSN to redact from connection errors, longest first
	work    chan func() // SQLite: jobs for the workers
	workers sync.WaitGroup
}

// sqliteDSN is the modernc DSN of a read-only connection: the file opened read-only (mode=ro,
// which also applies to any database it could attach), busy waits bounded, URIs interpreted.
func sqliteDSN(path string) string {
	u := url.URL{Scheme: "file", Opaque: (&url.URL{Path: path}).EscapedPath()}
	q := url.Values{}
	q.Set("mode", "ro")
	q.Add("_pragma", "busy_timeout(5000)")
	q.Add("_pragma", "query_only(1)")
	u.RawQuery = q.Encode()
	return u.String()
}

// sqliteWriteDSN is the modernc DSN of a read-write connection for sql_execute: the file must
// exist (mode=rw does not create it), busy waits bounded; no query_only.
func sqliteWriteDSN(path string) string {
	u := url.URL{Scheme: "file", Opaque: (&url.URL{Path: path}).EscapedPath()}
	q := url.Values{}
	q.Set("mode", "rw")
	q.Add("_pragma", "busy_timeout(5000)")
	u.RawQuery = q.Encode()
	return u.String()
}

// sqliteWriteDriver opens sql_execute's connections; sqliteWriteConnector installs the
// authorizer on each.
var sqliteWriteDriver = &sqlite.Driver{}

// sqliteWriteConnector opens read-write connections whose authorizer allows reads and DML,
// and DDL on tables, indexes and views only when ddl is true.
type sqliteWriteConnector struct {
	dsn string
	ddl bool
}

func (c sqliteWriteConnector) Connect(context.Context) (driver.Conn, error) {
	conn, err := sqliteWriteDriver.Open(c.dsn)
	if err != nil {
		return nil, err
	}
	reg, ok := conn.(sqlite.AuthorizerRegisterer)
	if !ok {
		_ = conn.Close()
		return nil, errors.New("the SQLite driver offers no authorizer")
	}
	ddl := c.ddl
	if err := reg.RegisterAuthorizer(func(action sqlite.AuthorizerActionCode, arg1, arg2, _, _ string) sqlite.AuthorizerReturnCode {
		return sqliteWriteAuthorizer(ddl, action, arg1, arg2)
	}); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("installing the authorizer: %w", err)
	}
	return conn, nil
}
func (c sqliteWriteConnector) Driver() driver.Driver { return sqliteWriteDriver }

// sqliteWriteAuthorizer allows what sqliteAuthorizer allows plus INSERT, UPDATE and DELETE on
// user tables and, with ddl, creating, altering and dropping tables, indexes and views (which
// SQLite records by writing its schema table). It still denies ATTACH, DETACH, pragmas that set
// a value, virtual tables, triggers, forbidden functions and, without ddl, any write to the
// schema.
func sqliteWriteAuthorizer(ddl bool, action sqlite.AuthorizerActionCode, arg1, arg2 string) sqlite.AuthorizerReturnCode {
	switch action {
	case sqlite.AuthInsert, sqlite.AuthUpdate, sqlite.AuthDelete:
		if isSQLiteSchemaTable(arg1) && !ddl {
			return sqlite.AuthorizerDeny
		}
		return sqlite.AuthorizerOK
	case sqlite.AuthCreateTable, sqlite.AuthCreateTempTable, sqlite.AuthCreateIndex, sqlite.AuthCreateTempIndex,
		sqlite.AuthCreateView, sqlite.AuthCreateTempView, sqlite.AuthDropTable, sqlite.AuthDropTempTable,
		sqlite.AuthDropIndex, sqlite.AuthDropTempIndex, sqlite.AuthDropView, sqlite.AuthDropTempView,
		sqlite.AuthAlterTable, sqlite.AuthReindex, sqlite.AuthAnalyze:
		if ddl {
			return sqlite.AuthorizerOK
		}
		return sqlite.AuthorizerDeny
	default:
		return sqliteAuthorizer(action, arg1, arg2, "", "")
	}
}

// isSQLiteSchemaTable says whether a table is one in which SQLite keeps the schema.
func isSQLiteSchemaTable(name string) bool {
	switch strings.ToLower(name) {
	case "sqlite_master", "sqlite_schema", "sqlite_temp_master", "sqlite_temp_schema":
		return true
	}
	return false
}

// sqliteDriver opens every connection read-only and installs the authorizer, so that the
// database refuses writes, ATTACH and settings changes whatever the classifier let through.
var sqliteDriver = func() *sqlite.Driver {
	d := &sqlite.Driver{}
	d.RegisterConnectionHook(func(conn sqlite.ExecQuerierContext, _ string) error {
		if _, err := conn.ExecContext(context.Background(), "PRAGMA query_only = 1", nil); err != nil {
			return fmt.Errorf("setting query_only: %w", err)
		}
		reg, ok := conn.(sqlite.AuthorizerRegisterer)
		if !ok {
			return errors.New("the SQLite driver offers no authorizer")
		}
		return reg.RegisterAuthorizer(sqliteAuthorizer)
	})
	return d
}()

// sqliteReadPragmas are the pragmas that take an argument and only read.
var sqliteReadPragmas = map[string]bool{
	"table_info": true, "table_xinfo": true, "index_list": true, "index_info": true,
	"index_xinfo": true, "foreign_key_list": true, "foreign_key_check": true, "table_list": true,
	"integrity_check": true, "quick_check": true, "collation_list": true,
}

// sqliteAuthorizer allows reading only: it denies every change, ATTACH and DETACH, pragmas that
// set a value (query_only = 0 above all), and functions that reach outside the database.
func sqliteAuthorizer(action sqlite.AuthorizerActionCode, arg1, arg2, _, _ string) sqlite.AuthorizerReturnCode {
	switch action {
	case sqlite.AuthSelect, sqlite.AuthRead, sqlite.AuthRecursive, sqlite.AuthTransaction:
		return sqlite.AuthorizerOK
	case sqlite.AuthFunction:
		if _, bad := forbiddenFuncs[strings.ToLower(arg2)]; bad {
			return sqlite.AuthorizerDeny
		}
		return sqlite.AuthorizerOK
	case sqlite.AuthPragma:
		if arg2 == "" || sqliteReadPragmas[strings.ToLower(arg1)] {
			return sqlite.AuthorizerOK
		}
		return sqlite.AuthorizerDeny
	default:
		return sqlite.AuthorizerDeny
	}
}

// sqliteConnector opens connections through sqliteDriver.
type sqliteConnector struct{ dsn string }

func (c sqliteConnector) Connect(context.Context) (driver.Conn, error) {
	return sqliteDriver.Open(c.dsn)
}
func (c sqliteConnector) Driver() driver.Driver { return sqliteDriver }

// open creates the source's pool without connecting.
func (s *source) open() {
	switch s.target.engine {
	case engineSQLite:
		s.db = dbsql.OpenDB(sqliteConnector{dsn: sqliteDSN(s.target.path)})
		if s.cfg.AllowWrites {
			// One writer: SQLite runs one write at a time anyway, and a queued write then
			// waits in the pool, bounded by its context, rather than in a busy loop.
			s.wdb = dbsql.OpenDB(sqliteWriteConnector{dsn: sqliteWriteDSN(s.target.path), ddl: s.cfg.AllowDDL})
			s.wdb.SetMaxOpenConns(1)
			s.wdb.SetMaxIdleConns(1)
			s.wdb.SetConnMaxIdleTime(5 * time.Minute)
		}
		s.secrets = []string{s.cfg.DSN, s.target.path}
		s.startWorkers(s.cfg.MaxOpenConns)
	case enginePostgres:
		cfg := s.target.pg.Copy()
		if cfg.ConnectTimeout == 0 {
			cfg.ConnectTimeout = 5 * time.Second
		}
		if _, ok := cfg.RuntimeParams["application_name"]; !ok {
			cfg.RuntimeParams["application_name"] = "mcphub"
		}
		// On a deadline, ask the server to cancel the running statement (a CancelRequest on a
		// second connection) instead of only closing the socket, which the server would notice
		// only when it next writes: pg_sleep(3600) would keep running.
		cfg.BuildContextWatcherHandler = func(pc *pgconn.PgConn) ctxwatch.Handler {
			return &pgconn.CancelRequestContextWatcherHandler{Conn: pc, CancelRequestDelay: 0, DeadlineDelay: time.Second}
		}
		s.db = stdlib.OpenDB(*cfg)
		s.secrets = []string{s.cfg.DSN, cfg.Password, cfg.User, cfg.Database}
		if cfg.Host != "" {
			s.secrets = append(s.secrets, cfg.Host+":"+strconv.Itoa(int(cfg.Port)), cfg.Host)
		}
	}
	s.db.SetMaxOpenConns(s.cfg.MaxOpenConns)
	s.db.SetMaxIdleConns(min(s.cfg.MaxOpenConns, 4))
	s.db.SetConnMaxIdleTime(5 * time.Minute)
	sort.Slice(s.secrets, func(i, j int) bool { return len(s.secrets[i]) > len(s.secrets[j]) })
}

// startWorkers starts the goroutines that run this source's SQLite queries. The SQLite engine
// (C translated to Go) needs a deep stack: run on the fresh goroutine the registry gives each
// call, every query would first grow and copy that stack, which costs as much as a point lookup.
// Workers keep theirs between queries.
func (s *source) startWorkers(n int) {
	s.work = make(chan func(), n)
	for range n {
		s.workers.Go(func() {
			for job := range s.work {
				job()
			}
		})
	}
}

// stopWorkers ends the workers once the queries they run have returned.
func (s *source) stopWorkers() {
	if s.work != nil {
		close(s.work)
		s.workers.Wait()
		s.work = nil
	}
}

// onWorker runs fn on a worker, or on the caller's goroutine when the source has none. ctx
// bounds the wait for a free worker; fn must honour it too.
func (s *source) onWorker(ctx context.Context, fn func() ([]column, error)) ([]column, error) {
	if s.work == nil {
		return fn()
	}
	var (
		cols []column
		err  error
	)
	done := make(chan struct{})
	job := func() {
		defer close(done)
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("the SQLite query panicked: %v", p)
			}
		}()
		cols, err = fn()
	}
	select {
	case s.work <- job:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	<-done
	return cols, err
}

// redact replaces the DSN and its parts in a connection error's text by a placeholder.
func (s *source) redact(msg string) string {
	for _, secret := range s.secrets {
		if len(secret) >= 3 {
			msg = strings.ReplaceAll(msg, secret, "[redacted]")
		}
	}
	return msg
}

// column is one result column.
type column struct {
	Name string `json:"name"`
	Type string `json:"type,omitempty"`
}

// rowFunc receives each row's values (JSON-ready), in a slice that is reused for the next row;
// returning false stops reading.
type rowFunc func(vals []any) bool

// query runs one statement read-only under the source's timeout, calling each for every row
// until it returns false. Errors are *queryError values whose text is safe to show.
func (s *source) query(ctx context.Context, stmt string, args []any, each rowFunc) ([]column, error) {
	timeout := s.cfg.Timeout.D()
	// The server's own statement_timeout fires first and leaves the connection usable; the
	// context, a little later, is the backstop that also covers connecting and SQLite.
	grace := time.Duration(0)
	if s.target.engine == enginePostgres {
		grace = 500 * time.Millisecond
	}
	qctx, cancel := context.WithTimeout(ctx, timeout+grace)
	defer cancel()
	var cols []column
	var err error
	if s.target.engine == enginePostgres {
		cols, err = s.queryPostgres(qctx, stmt, args, each)
	} else {
		cols, err = s.onWorker(qctx, func() ([]column, error) { return s.querySQLite(qctx, stmt, args, each) })
	}
	if err == nil {
		return cols, nil
	}
	return nil, s.explain(ctx, qctx, err)
}

// close closes the source's pools.
func (s *source) close() error {
	err := s.db.Close()
	if s.wdb != nil {
		err = errors.Join(err, s.wdb.Close())
	}
	return err
}

// exec runs one statement of sql_execute read-write under the source's timeout and commits it:
// on PostgreSQL in a READ WRITE transaction with statement_timeout, rolled back on any error;
// on SQLite as one statement on the writer connection, which SQLite rolls back when it fails
// or is interrupted at the deadline. It returns the rows affected. Errors are *queryError
// values; unsure says whether the statement may have been committed despite an error (the
// connection broke during COMMIT).
func (s *source) exec(ctx context.Context, stmt string, args []any) (n int64, unsure bool, err error) {
	timeout := s.cfg.Timeout.D()
	grace := time.Duration(0)
	if s.target.engine == enginePostgres {
		grace = 500 * time.Millisecond
	}
	qctx, cancel := context.WithTimeout(ctx, timeout+grace)
	defer cancel()
	if s.target.engine == enginePostgres {
		n, unsure, err = s.execPostgres(qctx, stmt, args)
	} else {
		_, err = s.onWorker(qctx, func() ([]column, error) {
			res, err := s.wdb.ExecContext(qctx, stmt, args...)
			if err != nil {
				return nil, err
			}
			n, err = res.RowsAffected()
			return nil, err
		})
	}
	if err == nil {
		return n, false, nil
	}
	var sqErr *sqlite.Error
	if errors.As(err, &sqErr) && sqErr.Code()&0xff == 23 { // SQLITE_AUTH
		what := "ATTACH, DETACH, settings, virtual tables, triggers and file functions are not allowed"
		if !s.cfg.AllowDDL {
			what = "DDL (allow_ddl is off), " + what
		}
		return 0, false, &queryError{msg: fmt.Sprintf("source %q (SQLite) refused the statement: %s: %s",
			s.name, s.redact(sqErr.Error()), what)}
	}
	return 0, unsure, s.explain(ctx, qctx, err)
}

// execPostgres sends BEGIN READ WRITE, SET LOCAL statement_timeout, the statement and COMMIT as
// one pipelined batch. When the statement fails the server skips the COMMIT and the
// transaction is rolled back here.
func (s *source) execPostgres(ctx context.Context, stmt string, args []any) (n int64, unsure bool, err error) {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return 0, false, err
	}
	defer conn.Close()
	err = conn.Raw(func(dc any) error {
		pc := dc.(*stdlib.Conn).Conn()
		b := &pgx.Batch{}
		b.Queue("BEGIN READ WRITE")
		b.Queue("SET LOCAL statement_timeout = " + strconv.FormatInt(max(s.cfg.Timeout.D().Milliseconds(), 1), 10))
		b.Queue(stmt, args...)
		b.Queue("COMMIT")
		br := pc.SendBatch(ctx, b)
		var err error
		for i := range 4 {
			tag, e := br.Exec()
			if e != nil {
				err = e
				// Only a broken connection while COMMIT was on its way leaves the outcome open.
				unsure = i == 3 && isConnError(e)
				break
			}
			if i == 2 {
				n = tag.RowsAffected()
			}
		}
		return closeBatch(ctx, pc, br, err)
	})
	if err != nil {
		n = 0
	}
	return n, unsure, err
}

// queryError is a failure whose text is safe to show (it names the source, never the DSN):
// a tool reports it as it is.
type queryError struct{ msg string }

func (e *queryError) Error() string { return e.msg }

// explain turns a driver error into a message that names the source and never the DSN.
func (s *source) explain(ctx, qctx context.Context, err error) error {
	var pgErr *pgconn.PgError
	isPG := errors.As(err, &pgErr)
	switch {
	case ctx.Err() != nil:
		return &queryError{msg: fmt.Sprintf("the query on source %q was stopped: %v", s.name, ctx.Err())}
	case (isPG && pgErr.Code == "57014") || errors.Is(qctx.Err(), context.DeadlineExceeded):
		return &queryError{msg: fmt.Sprintf(
			"the query on source %q did not finish within its timeout of %s and was cancelled on the database server; "+
				"narrow it (WHERE, LIMIT, an index) or raise servers.sql.sources[%d].timeout", s.name, s.cfg.Timeout.D(), s.index)}
	case isPG:
		msg := fmt.Sprintf("%s: %s (SQLSTATE %s)", pgErr.Severity, pgErr.Message, pgErr.Code)
		if pgErr.Detail != "" {
			msg += "; detail: " + pgErr.Detail
		}
		if pgErr.Hint != "" {
			msg += "; hint: " + pgErr.Hint
		}
		if pgErr.Position > 0 {
			msg += fmt.Sprintf("; at character %d", pgErr.Position)
		}
		if pgErr.Code == "25006" { // read_only_sql_transaction
			msg += ". This source is read-only"
		}
		return &queryError{msg: fmt.Sprintf("source %q (PostgreSQL) refused the query: %s", s.name, s.redact(msg))}
	}
	var sqErr *sqlite.Error
	if errors.As(err, &sqErr) {
		msg := s.redact(sqErr.Error())
		switch sqErr.Code() & 0xff {
		case 8: // SQLITE_READONLY
			msg += ". This source is read-only"
		case 23: // SQLITE_AUTH
			msg += ": this source is read-only, and ATTACH, DETACH, settings and file functions are not allowed"
		case 14: // SQLITE_CANTOPEN
			return &queryError{msg: fmt.Sprintf("source %q: cannot open the SQLite database: %s", s.name, msg)}
		}
		return &queryError{msg: fmt.Sprintf("source %q (SQLite) refused the query: %s", s.name, msg)}
	}
	var qe *queryError
	if errors.As(err, &qe) {
		return qe
	}
	msg := s.redact(err.Error())
	if isConnError(err) {
		return &queryError{msg: fmt.Sprintf("source %q (%s) cannot be reached: %s", s.name, s.target.engine, msg)}
	}
	if strings.Contains(msg, "param") || strings.Contains(msg, "argument") || strings.Contains(msg, "encode") {
		hint := "pass one value in params per ? placeholder"
		if s.target.engine == enginePostgres {
			hint = "pass one value in params per $N placeholder, as a string if its type differs, or cast the placeholder ($1::int, $1::text)"
		}
		return &queryError{msg: fmt.Sprintf("source %q could not use the params: %s; %s", s.name, msg, hint)}
	}
	return &queryError{msg: fmt.Sprintf("source %q could not run the query: %s", s.name, msg)}
}

// isConnError says whether err means the database could not be reached or the connection broke,
// as opposed to a problem with the query.
func isConnError(err error) bool {
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	return errors.As(err, &connectErr) || errors.As(err, &netErr) || errors.Is(err, driver.ErrBadConn) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, dbsql.ErrConnDone)
}

func (s *source) querySQLite(ctx context.Context, stmt string, args []any, each rowFunc) ([]column, error) {
	rows, err := s.db.QueryContext(ctx, stmt, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	types, err := rows.ColumnTypes()
	if err != nil {
		return nil, err
	}
	cols := make([]column, len(types))
	for i, t := range types {
		cols[i] = column{Name: t.Name(), Type: strings.ToLower(t.DatabaseTypeName())}
	}
	raw := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range raw {
		ptrs[i] = &raw[i]
	}
	vals := make([]any, len(raw))
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		for i, v := range raw {
			vals[i] = jsonValue(v, 0)
		}
		if !each(vals) {
			break
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return cols, rows.Close()
}

// queryPostgres sends BEGIN READ ONLY, SET LOCAL statement_timeout, the statement and ROLLBACK
// as one pipelined batch: one round trip instead of four, and the server enforces both read-only
// access and the timeout whatever the statement is. The statement goes through pgx's statement
// cache (bounded, LRU), so a repeated query is not parsed and planned again.
func (s *source) queryPostgres(ctx context.Context, stmt string, args []any, each rowFunc) ([]column, error) {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	var cols []column
	err = conn.Raw(func(dc any) error {
		pc := dc.(*stdlib.Conn).Conn()
		b := &pgx.Batch{}
		b.Queue("BEGIN READ ONLY")
		b.Queue("SET LOCAL statement_timeout = " + strconv.FormatInt(max(s.cfg.Timeout.D().Milliseconds(), 1), 10))
		b.Queue(stmt, args...)
		b.Queue("ROLLBACK")
		br := pc.SendBatch(ctx, b)
		err := readBatch(br, pc.TypeMap(), &cols, each)
		return closeBatch(ctx, pc, br, err)
	})
	return cols, err
}

// closeBatch closes a batch whose first error was err and leaves the connection outside any
// transaction: when a statement failed, the server skipped the batch's own COMMIT or ROLLBACK.
// A connection that cannot be rolled back is reported bad, so the pool drops it.
func closeBatch(ctx context.Context, pc *pgx.Conn, br pgx.BatchResults, err error) error {
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if pc.IsClosed() || pc.PgConn().TxStatus() == 'I' {
		return err
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	if _, rerr := pc.Exec(rctx, "ROLLBACK"); rerr != nil && err == nil {
		err = driver.ErrBadConn
	}
	return err
}

// readBatch reads the four results of queryPostgres's batch. Columns of the common types are
// passed on undecoded (pgRaw), which the tools write out directly; a row with another type is
// decoded by pgx.
func readBatch(br pgx.BatchResults, tm *pgtype.Map, cols *[]column, each rowFunc) error {
	for range 2 {
		if _, err := br.Exec(); err != nil {
			return err
		}
	}
	rows, err := br.Query()
	if err != nil {
		return err
	}
	defer rows.Close()
	fields := rows.FieldDescriptions()
	out := make([]column, len(fields))
	fast := true
	for j, f := range fields {
		out[j] = column{Name: f.Name}
		if t, ok := tm.TypeForOID(f.DataTypeOID); ok {
			out[j].Type = t.Name
		} else {
			out[j].Type = "oid " + strconv.FormatUint(uint64(f.DataTypeOID), 10)
		}
		fast = fast && rawReadable(f.DataTypeOID, f.Format)
	}
	*cols = out
	vals := make([]any, len(fields))
	raws := make([]pgRaw, len(fields)) // pointed to from vals: no allocation per value
	for rows.Next() {
		if fast {
			for j, b := range rows.RawValues() {
				if b == nil {
					vals[j] = nil
				} else {
					raws[j] = pgRaw{oid: fields[j].DataTypeOID, format: fields[j].Format, b: b}
					vals[j] = &raws[j]
				}
			}
		} else {
			decoded, err := rows.Values()
			if err != nil {
				return err
			}
			for j, v := range decoded {
				vals[j] = jsonValue(v, 0)
			}
		}
		if !each(vals) {
			break
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	_, err = br.Exec()
	return err
}

// pgRaw is one non-NULL PostgreSQL value as it came over the wire, valid only during the
// rowFunc call.
type pgRaw struct {
	oid    uint32
	format int16
	b      []byte
}

// rawReadable says whether pgRaw.value can read a column without pgx.
func rawReadable(oid uint32, format int16) bool {
	if format == pgx.TextFormatCode {
		return true
	}
	switch oid {
	case pgtype.BoolOID, pgtype.Int2OID, pgtype.Int4OID, pgtype.Int8OID, pgtype.OIDOID, pgtype.Float4OID,
		pgtype.Float8OID, pgtype.TextOID, pgtype.VarcharOID, pgtype.BPCharOID, pgtype.NameOID, pgtype.JSONOID,
		pgtype.JSONBOID, pgtype.UUIDOID:
		return true
	}
	return false
}

// value decodes a pgRaw into a JSON-ready Go value, for the catalog queries.
func (r *pgRaw) value() any {
	if r.format == pgx.TextFormatCode {
		return string(r.b)
	}
	switch r.oid {
	case pgtype.BoolOID:
		return len(r.b) == 1 && r.b[0] == 1
	case pgtype.Int2OID:
		if len(r.b) == 2 {
			return int64(int16(binary.BigEndian.Uint16(r.b))) //nolint:gosec // Two's complement on the wire: the wrap is the decoding.
		}
	case pgtype.Int4OID:
		if len(r.b) == 4 {
			return int64(int32(binary.BigEndian.Uint32(r.b))) //nolint:gosec // Two's complement on the wire: the wrap is the decoding.
		}
	case pgtype.OIDOID:
		if len(r.b) == 4 {
			return int64(binary.BigEndian.Uint32(r.b))
		}
	case pgtype.Int8OID:
		if len(r.b) == 8 {
			return int64(binary.BigEndian.Uint64(r.b)) //nolint:gosec // Two's complement on the wire: the wrap is the decoding.
		}
	case pgtype.Float4OID:
		if len(r.b) == 4 {
			return jsonValue(float64(math.Float32frombits(binary.BigEndian.Uint32(r.b))), 0)
		}
	case pgtype.Float8OID:
		if len(r.b) == 8 {
			return jsonValue(math.Float64frombits(binary.BigEndian.Uint64(r.b)), 0)
		}
	case pgtype.UUIDOID:
		if len(r.b) == 16 {
			return jsonValue([16]byte(r.b), 0)
		}
	case pgtype.JSONBOID:
		if len(r.b) > 0 && r.b[0] == 1 { // binary jsonb: a version byte, then the text
			return string(r.b[1:])
		}
	}
	return string(r.b)
}

// appendRawJSON appends a pgRaw as JSON without an intermediate Go value where it can.
func appendRawJSON(b []byte, r *pgRaw) []byte {
	if r.format == pgx.TextFormatCode {
		switch pgKind(r.oid) {
		case 'n':
			if isJSONNumber(r.b) {
				return append(b, r.b...)
			}
		case 'b':
			return strconv.AppendBool(b, len(r.b) > 0 && r.b[0] == 't')
		case 'j':
			if json.Valid(r.b) {
				return append(b, r.b...)
			}
		}
		return appendJSONString(b, r.b)
	}
	switch r.oid {
	case pgtype.TextOID, pgtype.VarcharOID, pgtype.BPCharOID, pgtype.NameOID:
		return appendJSONString(b, r.b)
	case pgtype.JSONOID, pgtype.JSONBOID:
		doc := r.b
		if r.oid == pgtype.JSONBOID && len(doc) > 0 && doc[0] == 1 {
			doc = doc[1:]
		}
		if json.Valid(doc) {
			return append(b, doc...)
		}
		return appendJSONString(b, doc)
	case pgtype.Int2OID, pgtype.Int4OID, pgtype.Int8OID, pgtype.OIDOID:
		if n, ok := r.value().(int64); ok {
			return strconv.AppendInt(b, n, 10)
		}
	case pgtype.Float4OID, pgtype.Float8OID:
		switch f := r.value().(type) {
		case float64:
			return strconv.AppendFloat(b, f, 'g', -1, 64)
		case string:
			return appendJSONString(b, f)
		}
	case pgtype.BoolOID:
		return strconv.AppendBool(b, len(r.b) == 1 && r.b[0] == 1)
	}
	return appendJSONString(b, fmt.Sprint(r.value()))
}

// pgKind says how a text value of the type goes into JSON.
func pgKind(oid uint32) byte {
	switch oid {
	case pgtype.Int2OID, pgtype.Int4OID, pgtype.Int8OID, pgtype.OIDOID, pgtype.Float4OID, pgtype.Float8OID, pgtype.NumericOID:
		return 'n' // a number, unless NaN or an infinity
	case pgtype.BoolOID:
		return 'b'
	case pgtype.JSONOID, pgtype.JSONBOID:
		return 'j'
	}
	return 's'
}

// isJSONNumber reports whether b is a JSON number: PostgreSQL writes NaN, Infinity and -Infinity,
// which are not.
func isJSONNumber(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	c := b[0]
	if c == '-' && len(b) > 1 {
		c = b[1]
	}
	return c >= '0' && c <= '9'
}

// ping checks that the source answers, within ctx.
func (s *source) ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return s.explain(context.Background(), ctx, err)
	}
	return nil
}

// nonFinite spells NaN and the infinities as PostgreSQL does; JSON has no numbers for them.
func nonFinite(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case f > 0:
		return "Infinity"
	default:
		return "-Infinity"
	}
}

// maxJSONDepth bounds jsonValue's recursion into JSON documents and arrays.
const maxJSONDepth = 32

// jsonValue converts a driver value into one that encodes to JSON as a model expects: numbers as
// numbers, times in RFC 3339, text as text, binary as \x hex, NaN and infinities as strings.
func jsonValue(v any, depth int) any {
	switch x := v.(type) {
	case nil, bool, string, int, int8, int16, int32, int64, uint8, uint16, uint32, uint64, json.Number:
		return x
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nonFinite(x)
		}
		return x
	case float32:
		return jsonValue(float64(x), depth)
	case time.Time:
		return x.Format(time.RFC3339Nano)
	case []byte:
		if utf8.Valid(x) {
			return string(x)
		}
		return `\x` + hex.EncodeToString(x)
	case [16]byte: // uuid
		h := hex.EncodeToString(x[:])
		return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
	case pgtype.Numeric:
		dv, err := x.Value()
		if err != nil || dv == nil {
			return nil
		}
		s, _ := dv.(string)
		if f, err := strconv.ParseFloat(s, 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
			return json.Number(s)
		}
		return s
	case map[string]any:
		if depth >= maxJSONDepth {
			return fmt.Sprint(x)
		}
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = jsonValue(e, depth+1)
		}
		return out
	case []any:
		if depth >= maxJSONDepth {
			return fmt.Sprint(x)
		}
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = jsonValue(e, depth+1)
		}
		return out
	case driver.Valuer:
		if depth >= maxJSONDepth {
			return fmt.Sprint(x)
		}
		dv, err := x.Value()
		if err != nil {
			return fmt.Sprint(x)
		}
		return jsonValue(dv, depth+1)
	case fmt.Stringer:
		return x.String()
	default:
		return fmt.Sprint(x)
	}
}
