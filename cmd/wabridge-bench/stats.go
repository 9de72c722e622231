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

// summary holds the figures of the last two lines.
type summary struct {
	bareRPS     float64
	wabridgeRPS float64
	p99Ack      time.Duration // wabridge, open loop at the fixed rate
	e2eP99      time.Duration // wabridge, open loop at the fixed rate
	rssMB       float64       // wabridge (durable), peak over its processes
	durableRPS  float64
	nosyncRPS   float64
}

// finalLine is the one line a script reads; it is the last line printed.
func finalLine(s summary) string {
	return fmt.Sprintf("bench: bare_rps=%.0f wabridge_rps=%.0f ratio=%.2f p99_ack_ms=%s e2e_p99_ms=%s rss_mb=%.1f",
		s.bareRPS, s.wabridgeRPS, ratio(s.wabridgeRPS, s.bareRPS), ms(s.p99Ack), ms(s.e2eP99), s.rssMB)
}

// syncLine compares the durable store with no_sync (issue 4).
func syncLine(s summary) string {
	return fmt.Sprintf("bench: durable_rps=%.0f nosync_rps=%.0f durable_vs_nosync=%.2f",
		s.durableRPS, s.nosyncRPS, ratio(s.durableRPS, s.nosyncRPS))
}

// goals are issue 7's targets; a missed one is named on stderr.
func goals(s summary) []string {
	var missed []string
	if r := ratio(s.wabridgeRPS, s.bareRPS); r < 0.5 {
		missed = append(missed, fmt.Sprintf("ratio %.2f < 0.5", r))
	}
	if s.p99Ack >= 10*time.Millisecond {
		missed = append(missed, fmt.Sprintf("p99 ack %s ms >= 10 ms at the fixed rate", ms(s.p99Ack)))
	}
	if s.e2eP99 >= 100*time.Millisecond {
		missed = append(missed, fmt.Sprintf("e2e p99 %s ms >= 100 ms", ms(s.e2eP99)))
	}
	if s.rssMB >= 100 {
		missed = append(missed, fmt.Sprintf("peak RSS %.1f MB >= 100 MB", s.rssMB))
	}
	return missed
}
