package app

import (
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wabridge/wabridge/internal/server"
)

// serviceMetrics are the metrics the HTTP edge and reloads own; the
// pipeline registers its own on the same registry.
type serviceMetrics struct {
	deliveries *prometheus.CounterVec
	// delivered caches the deliveries counters by source and status: the
	// vector's look-up hashes its labels on every request.
	delivered     sync.Map // deliveryLabels -> prometheus.Counter
	reloadSuccess prometheus.Gauge
	reloadTime    prometheus.Gauge
	reloads       *prometheus.CounterVec
	slackClicks   *prometheus.CounterVec
}

func newServiceMetrics(reg prometheus.Registerer) *serviceMetrics {
	m := &serviceMetrics{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wabridge_deliveries_total",
			Help: "Webhook deliveries received, by source and HTTP status returned.",
		}, []string{"source", "code"}),
		reloadSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "wabridge_config_last_reload_successful",
			Help: "1 if the last reload of rules, templates and catalogue succeeded.",
		}),
		reloadTime: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "wabridge_config_last_reload_success_timestamp_seconds",
			Help: "When the rules, templates and catalogue were last loaded successfully.",
		}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wabridge_config_reloads_total",
			Help: "Reload attempts by result.",
		}, []string{"result"}),
		slackClicks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wabridge_slack_interactions_total",
			Help: "Requests to POST /slack/interactions by result.",
		}, []string{"result"}),
	}
	reg.MustRegister(m.deliveries, m.reloadSuccess, m.reloadTime, m.reloads, m.slackClicks)
	m.reloadSuccess.Set(1)
	m.reloadTime.SetToCurrentTime()
	return m
}

type deliveryLabels struct {
	source string
	status int
}

func (m *serviceMetrics) observeDelivery(source string, status int) {
	key := deliveryLabels{source, status}
	if c, ok := m.delivered.Load(key); ok {
		c.(prometheus.Counter).Inc()
		return
	}
	code := strconv.Itoa(status)
	if status == server.StatusNotDelivered {
		code = "not_delivered" // the answer could not be written
	}
	c := m.deliveries.WithLabelValues(source, code)
	// Sources are configured and statuses few, so the cache stays small;
	// an unknown source is one name (server.UnknownSource).
	m.delivered.Store(key, c)
	c.Inc()
}

func (m *serviceMetrics) reloadOK(t time.Time) {
	m.reloadSuccess.Set(1)
	m.reloadTime.Set(float64(t.Unix()))
	m.reloads.WithLabelValues("success").Inc()
}

func (m *serviceMetrics) reloadFailed() {
	m.reloadSuccess.Set(0)
	m.reloads.WithLabelValues("failure").Inc()
}

func (m *serviceMetrics) observeSlackClick(result string) {
	m.slackClicks.WithLabelValues(result).Inc()
}
