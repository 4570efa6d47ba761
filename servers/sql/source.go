package sql

import (
	"context"
	dbsql "database/sql"
	"database/sql/driver"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"sort"
	"strconv"
	"strings"
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
		if strings.ContainsAny(rest, "?#") {
			return target{}, errors.New("has query parameters or a fragment: mcphub sets the SQLite connection options itself; write only the file's path")
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
	db      *dbsql.DB
	secrets []string // parts of the DSN to redact from connection errors, longest first
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
		s.secrets = []string{s.cfg.DSN, s.target.path}
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
		cols, err = s.querySQLite(qctx, stmt, args, each)
	}
	if err == nil {
		return cols, nil
	}
	return nil, s.explain(ctx, qctx, err)
}

// queryError is a failure that a tool reports as it is.
type queryError struct {
	msg     string
	timeout bool
	conn    bool // the database could not be reached
}

func (e *queryError) Error() string { return e.msg }

// explain turns a driver error into a message that names the source and never the DSN.
func (s *source) explain(ctx, qctx context.Context, err error) error {
	var pgErr *pgconn.PgError
	isPG := errors.As(err, &pgErr)
	switch {
	case ctx.Err() != nil:
		return &queryError{msg: fmt.Sprintf("the query on source %q was stopped: %v", s.name, ctx.Err()), timeout: true}
	case (isPG && pgErr.Code == "57014") || errors.Is(qctx.Err(), context.DeadlineExceeded):
		return &queryError{timeout: true, msg: fmt.Sprintf(
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
			return &queryError{conn: true, msg: fmt.Sprintf("source %q: cannot open the SQLite database: %s", s.name, msg)}
		}
		return &queryError{msg: fmt.Sprintf("source %q (SQLite) refused the query: %s", s.name, msg)}
	}
	var qe *queryError
	if errors.As(err, &qe) {
		return qe
	}
	return &queryError{conn: true, msg: fmt.Sprintf("source %q (%s) cannot be reached: %s", s.name, s.target.engine, s.redact(err.Error()))}
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
// as one batch: one round trip instead of four, and the server enforces both read-only and the
// timeout whatever the statement is.
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
		err := runBatch(br, pc, &cols, each)
		if cerr := br.Close(); err == nil {
			err = cerr
		}
		if err == nil && pc.PgConn().TxStatus() != 'I' {
			// The statement failed inside the transaction, which skipped the ROLLBACK.
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			defer cancel()
			if _, rerr := pc.Exec(rctx, "ROLLBACK"); rerr != nil {
				return driver.ErrBadConn
			}
		}
		if err != nil && !pc.IsClosed() && pc.PgConn().TxStatus() != 'I' {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			defer cancel()
			_, _ = pc.Exec(rctx, "ROLLBACK")
		}
		return err
	})
	return cols, err
}

func runBatch(br pgx.BatchResults, pc *pgx.Conn, cols *[]column, each rowFunc) error {
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
	tm := pc.TypeMap()
	for i, f := range fields {
		out[i] = column{Name: f.Name}
		if t, ok := tm.TypeForOID(f.DataTypeOID); ok {
			out[i].Type = t.Name
		} else {
			out[i].Type = "oid " + strconv.FormatUint(uint64(f.DataTypeOID), 10)
		}
	}
	*cols = out
	for rows.Next() {
		raw, err := rows.Values()
		if err != nil {
			return err
		}
		vals := make([]any, len(raw))
		for i, v := range raw {
			vals[i] = jsonValue(v, 0)
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

// ping checks that the source answers, within ctx.
func (s *source) ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return s.explain(context.Background(), ctx, err)
	}
	return nil
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
			return strconv.FormatFloat(x, 'g', -1, 64)
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
