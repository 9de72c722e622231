package pipeline

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are registered on the Registerer given to New; without one they
// still count, unseen, so the code never checks for nil.
type metrics struct {
	notifications    *prometheus.CounterVec // notifier, result (sent, failed), reason
	deadTotal        *prometheus.CounterVec // reason
	dropped          *prometheus.CounterVec // source
	deliveries       *prometheus.CounterVec // result (processed, failed)
	processingErrors *prometheus.CounterVec // stage
	decisions        *prometheus.CounterVec // rule, outcome
	capped           *prometheus.CounterVec // rule
	reconciled       *prometheus.CounterVec // notifier, result (found, not_found, failed)
	open             *prometheus.GaugeVec   // rule
	duplicates       prometheus.Counter
	quarantined      prometheus.Counter
	crashQuarantined prometheus.Counter
	latency          prometheus.Histogram
	partitions       prometheus.Gauge
	fenced           prometheus.Counter
	rulesConflicts   prometheus.Gauge
	silences         prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer, p *Pipeline) (*metrics, error) {
	m := &metrics{
		notifications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wabridge_notifications_total",
			Help: "Notification attempts by notifier, result (sent, failed) and failure reason (rate_limited, auth, permanent, transient).",
		}, []string{"notifier", "result", "reason"}),
		deadTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wabridge_dead_letters_total",
			Help: "Notifications moved to the dead letters, by reason.",
		}, []string{"reason"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wabridge_events_dropped_total",
			Help: "Events dropped by a source's accept filter before the rules.",
		}, []string{"source"}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wabridge_deliveries_processed_total",
			Help: "Deliveries taken out of the inbox, by result (processed, failed to parse).",
		}, []string{"result"}),
		processingErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wabridge_processing_errors_total",
			Help: "Failures of the pipeline itself (mostly storage), by stage.",
		}, []string{"stage"}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wabridge_rule_decisions_total",
			Help: "Decisions per event and rule, by outcome: matched, opened, joined, escalated, silenced, inhibited, below_threshold, muted, resolved, late, ignored, duplicate.",
		}, []string{"rule", "outcome"}),
		capped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wabridge_incidents_capped_total",
			Help: "Events that would have opened an incident while their rule had max_open_incidents open; they join the rule's overflow incident instead.",
		}, []string{"rule"}),
		reconciled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wabridge_notifications_reconciled_total",
			Help: "Opens whose earlier send was interrupted (a crash, a timeout), looked for before sending again, by result: found (not sent again), not_found, failed (the look-up failed).",
		}, []string{"notifier", "result"}),
		open: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "wabridge_incidents_open",
			Help: "Open and pending incidents per rule, as of the last transaction that changed incidents; at most the rule's max_open_incidents plus its overflow incident.",
		}, []string{"rule"}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "wabridge_duplicates_suppressed_total",
			Help: "Events not notified again because their id was seen within the dedup window.",
		}),
		crashQuarantined: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "wabridge_inbox_crash_quarantined_total",
			Help: "Inbox entries whose processing crashed the process 3 times and were moved to the store's quarantine bucket, unprocessed.",
		}),
		quarantined: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "wabridge_inbox_quarantined_total",
			Help: "Inbox entries that could not be decoded (disk damage) and were moved to the store's quarantine bucket, unprocessed.",
		}),
		partitions: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "wabridge_partitions_owned",
			Help: "Partitions of the store whose lease this process holds, each with its own committer (the embedded store has one).",
		}),
		fenced: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "wabridge_partition_fenced_total",
			Help: "Commits the store refused because the partition's lease had passed to another owner; the partition's committer stopped and dropped its incidents in memory.",
		}),
		rulesConflicts: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "wabridge_rules_conflicts",
			Help: "Live replicas holding partitions whose rules hash differs from this one's; while above 0, this replica takes no partition (see the log for both hashes).",
		}),
		silences: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "wabridge_silences_loaded",
			Help: "Silences not yet ended that the pipeline applies, as last read from the store (a silence added elsewhere counts once this process read it).",
		}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "wabridge_notification_latency_seconds",
			Help:    "Time from receiving a delivery to a notification sent for it.",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600},
		}),
	}
	if reg == nil {
		return m, nil
	}
	gauge := func(name, help string, f func(Stats) int) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help},
			func() float64 { return float64(f(p.Stats())) })
	}
	for _, c := range []prometheus.Collector{
		m.notifications, m.deadTotal, m.dropped, m.deliveries, m.processingErrors, m.decisions, m.capped, m.reconciled, m.open, m.duplicates, m.quarantined, m.crashQuarantined, m.latency, m.partitions, m.fenced, m.rulesConflicts, m.silences,
		gauge("wabridge_inbox_depth", "Deliveries stored and not yet processed.", func(s Stats) int { return s.Inbox }),
		gauge("wabridge_outbox_depth", "Notifications waiting to be sent or retried.", func(s Stats) int { return s.Outbox }),
		gauge("wabridge_dead_letters", "Notifications that failed for good and wait for an operator.", func(s Stats) int { return s.Dead }),
	} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
