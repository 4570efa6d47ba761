package transport

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/prometheus/client_golang/prometheus"
)

// httpMetrics are the HTTP and session metrics; tool-call metrics live in the registry.
type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inFlight prometheus.Gauge
	sessions *prometheus.GaugeVec
	rejected *prometheus.CounterVec

	durations sync.Map // route -> prometheus.Observer
}

func newHTTPMetrics(reg prometheus.Registerer) *httpMetrics {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mcphub_http_requests_total",
			Help: "HTTP requests by route pattern, method and status code.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "mcphub_http_request_duration_seconds",
			Help:    "Duration of HTTP requests by route pattern (streams count until they end).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300},
		}, []string{"route"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mcphub_http_requests_in_flight",
			Help: "HTTP requests being served now, open streams included.",
		}),
		sessions: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "mcphub_sessions_active",
			Help: "Registered MCP sessions (stdio, and session-based HTTP revisions) by endpoint.",
		}, []string{"endpoint"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mcphub_http_rejected_total",
			Help: "HTTP requests refused before reaching an MCP server, by reason.",
		}, []string{"reason"}),
	}
	reg.MustRegister(m.requests, m.duration, m.inFlight, m.sessions, m.rejected)
	return m
}

// routeDuration returns the duration observer of a route, resolved once per route: routes are
// the router's fixed patterns, so the cache stays small.
func (m *httpMetrics) routeDuration(route string) prometheus.Observer {
	if o, ok := m.durations.Load(route); ok {
		return o.(prometheus.Observer)
	}
	o := m.duration.WithLabelValues(route)
	m.durations.Store(route, o)
	return o
}

// instrument counts and times every request by its chi route pattern (bounded cardinality).
// chi's WrapResponseWriter keeps http.Flusher, which mcp-go needs to stream.
func (m *httpMetrics) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		m.inFlight.Inc()
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		defer func() {
			m.inFlight.Dec()
			route := "other"
			if rc := chi.RouteContext(r.Context()); rc != nil && rc.RoutePattern() != "" {
				route = rc.RoutePattern()
			}
			code := ww.Status()
			if code == 0 {
				code = http.StatusOK
			}
			m.requests.WithLabelValues(route, methodLabel(r.Method), strconv.Itoa(code)).Inc()
			m.routeDuration(route).Observe(time.Since(start).Seconds())
		}()
		next.ServeHTTP(ww, r)
	})
}

// methodLabel keeps the method label bounded whatever clients send.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodPost, http.MethodDelete, http.MethodHead, http.MethodOptions, http.MethodPut:
		return m
	}
	return "other"
}
