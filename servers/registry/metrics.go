package registry

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Outcomes of a tool call, the values of the outcome label.
const (
	OutcomeOK          = "ok"
	OutcomeError       = "error"             // the tool returned a result with isError
	OutcomeInvalidArgs = "invalid_arguments" // arguments did not match the input schema
	OutcomeTimeout     = "timeout"           // the tool's own deadline passed
	OutcomeCancelled   = "cancelled"         // the client went away or cancelled
	OutcomePanic       = "panic"             // the handler panicked (recovered)
	OutcomeInternal    = "internal_error"    // the handler returned a Go error
	OutcomeBusy        = "busy"              // no concurrency slot before the deadline
	OutcomeRejected    = "rejected"          // the handler refused the request itself (ErrRequestRejected)
)

var outcomes = []string{OutcomeOK, OutcomeError, OutcomeInvalidArgs, OutcomeTimeout, OutcomeCancelled, OutcomePanic, OutcomeInternal, OutcomeBusy, OutcomeRejected}

// Metrics are the tool-call metrics. They live on a registry the hub owns, never the global one,
// so that tests and several hubs in one process do not collide.
type Metrics struct {
	calls       *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	inFlight    *prometheus.GaugeVec
	outputBytes *prometheus.HistogramVec
	truncated   *prometheus.CounterVec
	ready       *prometheus.GaugeVec
	// resourceReads and promptGets count resources/read and prompts/get by outcome.
	resourceReads *prometheus.CounterVec
	promptGets    *prometheus.CounterVec
}

// NewMetrics creates the tool-call metrics and registers them on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mcphub_tool_calls_total",
			Help: "Tool calls by server, tool and outcome.",
		}, []string{"server", "tool", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "mcphub_tool_call_duration_seconds",
			Help:    "Duration of tool calls, from the middleware's start to the result.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300},
		}, []string{"server", "tool"}),
		inFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "mcphub_tool_calls_in_flight",
			Help: "Tool calls whose handler is running now, including handlers still running past their deadline.",
		}, []string{"server"}),
		outputBytes: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "mcphub_tool_output_bytes",
			Help:    "Size of tool results before the output budget was applied.",
			Buckets: prometheus.ExponentialBuckets(256, 4, 9),
		}, []string{"server", "tool"}),
		truncated: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mcphub_tool_output_truncated_total",
			Help: "Tool results cut to the tool's output budget.",
		}, []string{"server", "tool"}),
		ready: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "mcphub_server_ready",
			Help: "1 when the server was ready at its last readiness check, else 0.",
		}, []string{"server"}),
	}
	m.resourceReads = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mcphub_resource_reads_total",
		Help: "Resource reads by server and outcome.",
	}, []string{"server", "outcome"})
	m.promptGets = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mcphub_prompt_gets_total",
		Help: "Prompt gets by server and outcome.",
	}, []string{"server", "outcome"})
	reg.MustRegister(m.calls, m.duration, m.inFlight, m.outputBytes, m.truncated, m.ready, m.resourceReads, m.promptGets)
	return m
}

// toolMetrics are one tool's series, resolved once at wrap time so that a call does no label
// lookups.
type toolMetrics struct {
	calls       map[string]prometheus.Counter
	duration    prometheus.Observer
	inFlight    prometheus.Gauge
	outputBytes prometheus.Observer
	truncated   prometheus.Counter
}

func (m *Metrics) forTool(server, tool string) *toolMetrics {
	tm := &toolMetrics{
		calls:       make(map[string]prometheus.Counter, len(outcomes)),
		duration:    m.duration.WithLabelValues(server, tool),
		inFlight:    m.inFlight.WithLabelValues(server),
		outputBytes: m.outputBytes.WithLabelValues(server, tool),
		truncated:   m.truncated.WithLabelValues(server, tool),
	}
	for _, o := range outcomes {
		tm.calls[o] = m.calls.WithLabelValues(server, tool, o)
	}
	return tm
}
