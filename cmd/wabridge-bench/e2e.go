package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/wabridge/wabridge/internal/whatsapp"
)

// notification is what the bench reads of a log notifier line.
type notification struct {
	Time    time.Time `json:"time"`
	EventID string    `json:"event_id"`
	Op      string    `json:"op"`
}

// readNotifications returns the time of every opening notification line
// by event id (an event that matched a Slack and a Jira action has two).
// Lines of other operations are counted but not kept: an update, repeat
// or resolve carries the id of the event that opened its incident, and is
// sent because of other events that came later, so its age says nothing
// of the opening event's latency.
func readNotifications(r io.Reader) (map[string][]time.Time, int, error) {
	out := make(map[string][]time.Time)
	lines := 0
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		if len(sc.Bytes()) == 0 {
			continue
		}
		lines++
		var n notification
		if err := json.Unmarshal(sc.Bytes(), &n); err != nil {
			return nil, lines, fmt.Errorf("notification line %d: %w", lines, err)
		}
		if n.EventID == "" || n.Time.IsZero() {
			return nil, lines, fmt.Errorf("notification line %d has no event_id or time", lines)
		}
		if n.Op == "" || n.Op == "open" {
			out[n.EventID] = append(out[n.EventID], n.Time)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, lines, fmt.Errorf("read notification lines: %w", err)
	}
	return out, lines, nil
}

// e2eResult is the receipt-to-notification latency of one phase.
type e2eResult struct {
	lat     latencies
	lines   int // notification lines in the file, warm-up included
	matched int // lines correlated with a measured request
}

// correlate recomputes the events each measured request carried (the
// generator is deterministic, Parse is the server's own parser) and
// measures, for each notification of those events, the time from the
// request's send to the line's time stamp.
func correlate(samples []sample, g *generator, notes map[string][]time.Time) ([]time.Duration, error) {
	var d []time.Duration
	for _, s := range samples {
		if !s.ok {
			continue
		}
		events, err := whatsapp.Parse("meta", g.Body(s.seq), s.start)
		if err != nil {
			return nil, fmt.Errorf("reparse delivery %d: %w", s.seq, err)
		}
		for i := range events {
			for _, t := range notes[events[i].ID] {
				d = append(d, t.Sub(s.start))
			}
		}
	}
	return d, nil
}

// waitQuiet waits until the file has stopped growing for `quiet`, at most
// `limit`: the pipeline has worked off what the load left in the inbox.
// It reports whether the file went quiet.
func waitQuiet(ctx context.Context, path string, quiet, limit time.Duration) (bool, error) {
	deadline := time.Now().Add(limit)
	var last int64 = -1
	since := time.Now()
	for time.Now().Before(deadline) {
		st, err := os.Stat(path)
		var size int64
		switch {
		case err == nil:
			size = st.Size()
		case os.IsNotExist(err):
		default:
			return false, fmt.Errorf("stat notifications: %w", err)
		}
		if size != last {
			last, since = size, time.Now()
		} else if time.Since(since) >= quiet {
			return true, nil
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return false, nil
}

// measureE2E reads the notification file and correlates it with samples.
func measureE2E(path string, samples []sample, g *generator) (e2eResult, error) {
	f, err := os.Open(path)
	if err != nil {
		return e2eResult{}, fmt.Errorf("open notifications: %w", err)
	}
	defer f.Close()
	notes, lines, err := readNotifications(f)
	if err != nil {
		return e2eResult{}, err
	}
	d, err := correlate(samples, g, notes)
	if err != nil {
		return e2eResult{}, err
	}
	return e2eResult{lat: summarize(d), lines: lines, matched: len(d)}, nil
}

// progress is what wabridge's metrics say of its backlog.
type progress struct {
	processed float64 // deliveries taken out of the inbox, parsed or not
	inbox     float64
	outbox    float64
}

// parseProgress reads the deliveries-processed counters and the inbox and
// outbox depths from a Prometheus text exposition.
func parseProgress(text []byte) (progress, error) {
	var p progress
	seen := 0
	sc := bufio.NewScanner(bytes.NewReader(text))
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		name, value, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		var dst *float64
		switch {
		case strings.HasPrefix(name, "wabridge_deliveries_processed_total{"):
			dst = &p.processed
		case name == "wabridge_inbox_depth":
			dst = &p.inbox
		case name == "wabridge_outbox_depth":
			dst = &p.outbox
		default:
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil {
			return progress{}, fmt.Errorf("metric line %q: %w", line, err)
		}
		*dst += v
		seen++
	}
	if err := sc.Err(); err != nil {
		return progress{}, fmt.Errorf("read metrics: %w", err)
	}
	if seen < 2 {
		return progress{}, errors.New("metrics lack wabridge_inbox_depth or wabridge_outbox_depth")
	}
	return p, nil
}

// waitDrained polls wabridge's metrics until every one of the acked
// deliveries was processed and the inbox and the outbox are empty, at
// most limit. It returns when that was seen first, or the zero time when
// the limit passed.
func waitDrained(ctx context.Context, addr string, acked int64, limit time.Duration) (time.Time, error) {
	deadline := time.Now().Add(limit)
	client := &http.Client{Timeout: 5 * time.Second}
	url := "http://" + addr + "/metrics"
	for time.Now().Before(deadline) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return time.Time{}, fmt.Errorf("metrics request: %w", err)
		}
		resp, err := client.Do(req)
		if err != nil {
			return time.Time{}, fmt.Errorf("read metrics: %w", err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return time.Time{}, fmt.Errorf("read metrics: %w", err)
		}
		at := time.Now()
		p, err := parseProgress(body)
		if err != nil {
			return time.Time{}, err
		}
		if p.processed >= float64(acked) && p.inbox == 0 && p.outbox == 0 {
			return at, nil
		}
		select {
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return time.Time{}, nil
}
