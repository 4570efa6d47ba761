package memory

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mcphub/mcphub/internal/testenv"
	"github.com/mcphub/mcphub/servers/registry"
)

// pgBaseDSN is set while TestIntegrationPostgres reruns the semantic tests against PostgreSQL:
// newServer then gives each test a database of its own on that server.
var (
	pgBaseDSN string
	pgDBSeq   atomic.Int64
)

// freshPostgresDatabase creates an empty database on the test's server and returns its DSN.
func freshPostgresDatabase(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, pgBaseDSN)
	if err != nil {
		t.Fatalf("connecting to the test PostgreSQL: %v", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	name := fmt.Sprintf("memory_test_%d", pgDBSeq.Add(1))
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("creating database %s: %v", name, err)
	}
	u, err := url.Parse(pgBaseDSN)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// TestIntegrationPostgres runs the tool semantics, namespace, limit, paging, import/export and
// concurrency tests against a real PostgreSQL (testenv.StartPostgres: skipped locally when
// PostgreSQL is not installed, a failure under CI).
func TestIntegrationPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	pgBaseDSN = testenv.StartPostgres(t)
	t.Cleanup(func() { pgBaseDSN = "" })
	for name, test := range map[string]func(*testing.T){
		"CreateEntitiesSkipsExisting":    TestCreateEntitiesSkipsExisting,
		"CreateRelationsSkipsDuplicates": TestCreateRelationsSkipsDuplicates,
		"AddObservations":                TestAddObservations,
		"DeleteEntitiesCascades":         TestDeleteEntitiesCascades,
		"DeleteObservationsAndRelations": TestDeleteObservationsAndRelations,
		"OpenNodes":                      TestOpenNodes,
		"SearchRanksAndSanitizes":        TestSearchRanksAndSanitizes,
		"NamespacesIsolateIdentities":    TestNamespacesIsolateIdentities,
		"Limits":                         TestLimits,
		"ReadGraphPages":                 TestReadGraphPages,
		"JSONLRoundTrip":                 TestJSONLRoundTrip,
		"Readiness":                      TestReadiness,
		"MatchesReference":               TestMatchesReference,
		"ResultsFitTheBudget":            TestResultsFitTheBudget,
	} {
		t.Run(name, test)
	}
	t.Run("TwoStoresConcurrentWriters", func(t *testing.T) {
		dsn := freshPostgresDatabase(t)
		var stores []Store
		for range 2 {
			st, err := openPostgres(context.Background(), dsn)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = st.Close() })
			stores = append(stores, st)
		}
		checkConcurrentWriters(t, stores, 300)
	})
	t.Run("SearchQueries", func(t *testing.T) {
		// The sanitiser's hardest inputs reach PostgreSQL's tsquery parser without an error.
		s := newServer(t, nil)
		seed(t, s, "local")
		for _, q := range []string{`a'b`, `\`, `a:*`, `!(a & b) | c`, "ﬁ ǅ Ⅻ ٣", "e\u0301", "<->", "'"} {
			if terms := searchTerms(q); len(terms) > 0 {
				if _, err := s.currentStore().SearchNodes(context.Background(), "local", terms, 5); err != nil {
					t.Errorf("search %q: %v", q, err)
				}
			}
		}
	})
	t.Run("DownAtStart", func(t *testing.T) {
		// A database that does not exist yet stands for a server that is down: the hub starts,
		// the server is not ready and says why, calls fail with an actionable result, and it
		// recovers once the database is there.
		u, err := url.Parse(pgBaseDSN)
		if err != nil {
			t.Fatal(err)
		}
		name := fmt.Sprintf("memory_late_%d", pgDBSeq.Add(1))
		u.Path = "/" + name
		s := New().(*Server)
		s.cfg.PostgresDSN = u.String()
		ctx := context.Background()
		if err := s.Provision(ctx, registry.Env{Logger: slog.New(slog.DiscardHandler)}); err != nil {
			t.Fatalf("Provision failed on a database that is down: %v", err)
		}
		t.Cleanup(func() { _ = s.Close() })
		if r := s.Readiness(ctx); r.Ready || !strings.Contains(r.Fix, "postgres_dsn") {
			t.Errorf("readiness while down: %+v", r)
		}
		if r := call(t, s, "local", "memory_read_graph", nil); !r.IsError || !strings.Contains(text(r), "not available") {
			t.Errorf("a call while down: %v %q", r.IsError, text(r))
		}
		conn, err := pgx.Connect(ctx, pgBaseDSN)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
			t.Fatal(err)
		}
		_ = conn.Close(ctx)
		defer func(d time.Duration) { reopenEvery = d }(reopenEvery)
		reopenEvery = 0
		callOK(t, s, "local", "memory_read_graph", nil, nil)
		if r := s.Readiness(ctx); !r.Ready {
			t.Errorf("readiness once up: %+v", r)
		}
	})
	t.Run("BadDSN", func(t *testing.T) {
		const secret = "s3cret-password"
		_, err := OpenStore(context.Background(), Config{PostgresDSN: "postgres://u:" + secret + "@127.0.0.1:1/db?connect_timeout=2"}, "")
		if err == nil || strings.Contains(err.Error(), secret) {
			t.Errorf("opening an unreachable server: %v (must fail without the password)", err)
		}
		_, err = OpenStore(context.Background(), Config{PostgresDSN: "postgres://u:" + secret + "@[bad"}, "")
		if err == nil || strings.Contains(err.Error(), secret) {
			t.Errorf("a malformed DSN: %v (must fail without the password)", err)
		}
	})
}
