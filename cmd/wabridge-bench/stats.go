package main

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// percentile returns the nearest-rank p-th percentile (0 < p <= 100) of
// sorted, or 0 for an empty slice. Nearest rank never interpolates, so
// the figure is always a latency that was observed.
func percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(n)))
	rank = min(max(rank, 1), n)
	return sorted[rank-1]
}

// latencies summarizes a set of durations.
type latencies struct {
	n             int
	p50, p99, max time.Duration
}

func summarize(d []time.Duration) latencies {
	s := slices.Clone(d)
	slices.Sort(s)
	l := latencies{n: len(s), p50: percentile(s, 50), p99: percentile(s, 99)}
	if len(s) > 0 {
		l.max = s[len(s)-1]
	}
	return l
}

func (l latencies) String() string {
	return fmt.Sprintf("n=%d p50_ms=%s p99_ms=%s max_ms=%s", l.n, ms(l.p50), ms(l.p99), ms(l.max))
}

// ms formats a duration as milliseconds with two decimals.
func ms(d time.Duration) string {
	return fmt.Sprintf("%.2f", float64(d)/float64(time.Millisecond))
}

// ratio is a/b, or 0 when b is 0 (a system that answered nothing).
func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// summary holds the figures of one mix's last lines.
type summary struct {
	mix          string
	bareRPS      float64
	wabridgeRPS  float64       // acknowledged, closed loop
	sustainedRPS float64       // fully processed until drained, closed loop
	p99Ack       time.Duration // wabridge, open loop at the fixed rate
	e2eP99       time.Duration // wabridge, open loop at the fixed rate
	rssMB        float64       // wabridge (durable), peak over its processes
	rssAnonMB    float64       // the highest anonymous part sampled
	rssFileMB    float64       // the highest file-backed part sampled
	durableRPS   float64
	nosyncRPS    float64
}

// finalLine is the line a script reads; the realistic mix's is the last
// line printed.
func finalLine(s summary) string {
	return fmt.Sprintf("bench: bare_rps=%.0f wabridge_rps=%.0f ratio=%.2f sustained_rps=%.0f sustained_ratio=%.2f p99_ack_ms=%s e2e_p99_ms=%s rss_mb=%.1f mix=%s",
		s.bareRPS, s.wabridgeRPS, ratio(s.wabridgeRPS, s.bareRPS), s.sustainedRPS, ratio(s.sustainedRPS, s.bareRPS),
		ms(s.p99Ack), ms(s.e2eP99), s.rssMB, s.mix)
}

// syncLine compares the durable store with no_sync (issue 4).
func syncLine(s summary) string {
	return fmt.Sprintf("bench: durable_rps=%.0f nosync_rps=%.0f durable_vs_nosync=%.2f",
		s.durableRPS, s.nosyncRPS, ratio(s.durableRPS, s.nosyncRPS))
}

// postgresLine sets the PostgreSQL backend's closed-loop figures beside
// the bbolt store's of the same run.
func postgresLine(s summary, pg *phaseResult) string {
	line := fmt.Sprintf("bench: postgres mix=%s bbolt_rps=%.0f postgres_rps=%.0f postgres_vs_bbolt=%.2f bbolt_sustained_rps=%.0f postgres_sustained_rps=%.0f postgres_ack_p99_ms=%s",
		s.mix, s.durableRPS, pg.load.rps(), ratio(pg.load.rps(), s.durableRPS), s.sustainedRPS, pg.sustained, ms(pg.ack.p99))
	if pg.e2e != nil {
		line += fmt.Sprintf(" postgres_e2e_p99_ms=%s", ms(pg.e2e.lat.p99))
	}
	return line + fmt.Sprintf(" postgres_rss_mb=%.1f", pg.mem.peak)
}

// postgresRateLine is the PostgreSQL backend at a fixed rate below one
// replica's saturation: the latencies a replica gives when it keeps up,
// which the closed loop, where the committers fall behind, cannot show.
func postgresRateLine(mix string, rate int, pg *phaseResult) string {
	line := fmt.Sprintf("bench: postgres-rate mix=%s rate=%d postgres_sustained_rps=%.0f postgres_ack_p50_ms=%s postgres_ack_p99_ms=%s",
		mix, rate, pg.sustained, ms(pg.ack.p50), ms(pg.ack.p99))
	if pg.e2e != nil {
		line += fmt.Sprintf(" postgres_e2e_p50_ms=%s postgres_e2e_p99_ms=%s", ms(pg.e2e.lat.p50), ms(pg.e2e.lat.p99))
	}
	return line + fmt.Sprintf(" postgres_rss_mb=%.1f", pg.mem.peak)
}

// memoryLine splits the peak resident set into its anonymous (heap,
// stacks) and file-backed (the mapped store) parts.
func memoryLine(s summary) string {
	return fmt.Sprintf("bench: mix=%s rss_peak_mb=%.1f rss_anon_peak_mb=%.1f rss_file_peak_mb=%.1f",
		s.mix, s.rssMB, s.rssAnonMB, s.rssFileMB)
}

// cpuLine compares the CPU each system spent per delivery in the closed
// loop: bare over wabridge is the rate ratio wabridge would get if both
// had the cores to themselves, which on a shared machine the rates do not
// show.
func cpuLine(mix string, bare, durable time.Duration) string {
	ratio := 0.0
	if durable > 0 {
		ratio = float64(bare) / float64(durable)
	}
	return fmt.Sprintf("bench: cpu mix=%s bare_us_per_delivery=%.0f durable_us_per_delivery=%.0f cpu_ratio=%.2f",
		mix, float64(bare)/float64(time.Microsecond), float64(durable)/float64(time.Microsecond), ratio)
}

// Goals, as ratios to the bare receiver of the same run.
const (
	goalAckRatio             = 0.5
	goalSustainedRatio       = 0.33
	goalOutageSustainedRatio = 0.25
	goalAckP99               = 10 * time.Millisecond
	goalE2EP99               = 100 * time.Millisecond
	goalRSSMB                = 100
)

// goals are the targets of the mix; each missed one is named. The outage
// mix has one: that an outage never turns into a backlog.
func goals(s summary) []string {
	var missed []string
	sr := ratio(s.sustainedRPS, s.bareRPS)
	if s.mix == mixOutage.name {
		if sr < goalOutageSustainedRatio {
			missed = append(missed, fmt.Sprintf("outage mix: sustained ratio %.2f < %.2f", sr, goalOutageSustainedRatio))
		}
		return missed
	}
	if r := ratio(s.wabridgeRPS, s.bareRPS); r < goalAckRatio {
		missed = append(missed, fmt.Sprintf("%s mix: ratio %.2f < %.2f", s.mix, r, goalAckRatio))
	}
	if sr < goalSustainedRatio {
		missed = append(missed, fmt.Sprintf("%s mix: sustained ratio %.2f < %.2f", s.mix, sr, goalSustainedRatio))
	}
	if s.p99Ack >= goalAckP99 {
		missed = append(missed, fmt.Sprintf("%s mix: p99 ack %s ms >= %s ms at the fixed rate", s.mix, ms(s.p99Ack), ms(goalAckP99)))
	}
	if s.e2eP99 >= goalE2EP99 {
		missed = append(missed, fmt.Sprintf("%s mix: e2e p99 %s ms >= %s ms", s.mix, ms(s.e2eP99), ms(goalE2EP99)))
	}
	if s.rssMB >= goalRSSMB {
		missed = append(missed, fmt.Sprintf("%s mix: peak RSS %.1f MB >= %d MB", s.mix, s.rssMB, goalRSSMB))
	}
	return missed
}
