package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wabridge/wabridge/internal/whatsapp"
)

// sample is one request of the measured window.
type sample struct {
	seq   uint64
	at    time.Time     // what places it in the window: the send in the closed loop, the schedule in the open loop
	start time.Time     // when the request was sent (wall clock: the log notifier's lines are compared with it)
	ack   time.Duration // until the answer was read; in the open loop, counted from the scheduled time
	ok    bool          // answered 200
}

// loadResult is what one load phase measured, warm-up excluded.
type loadResult struct {
	window   time.Duration
	samples  []sample
	ok       int
	failed   int
	firstErr string // the first failure, to say why requests failed
}

func (r *loadResult) rps() float64 {
	if r.window <= 0 {
		return 0
	}
	return float64(r.ok) / r.window.Seconds()
}

// acks returns the acknowledgement latencies of the successful requests.
func (r *loadResult) acks() latencies {
	d := make([]time.Duration, 0, len(r.samples))
	for _, s := range r.samples {
		if s.ok {
			d = append(d, s.ack)
		}
	}
	return summarize(d)
}

// target is where a load phase sends.
type target struct {
	url    string
	secret []byte
	client *http.Client
	acked  *atomic.Int64 // every 200, warm-up included: what the drain waits for
}

func newTarget(addr string, secret []byte, conns int) target {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     30 * time.Second,
		DisableCompression:  true,
	}
	return target{
		url:    "http://" + addr + "/webhooks/meta",
		secret: secret,
		client: &http.Client{Transport: tr, Timeout: 10 * time.Second},
		acked:  new(atomic.Int64),
	}
}

func (t target) close() { t.client.CloseIdleConnections() }

// send posts one signed delivery and reads the answer, so the connection
// is reused as a provider's would be.
func (t target) send(ctx context.Context, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(whatsapp.SignatureHeader, whatsapp.Sign(t.secret, body))
	resp, err := t.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return fmt.Errorf("read answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("answer %d", resp.StatusCode)
	}
	t.acked.Add(1)
	return nil
}

// collector gathers samples from many goroutines.
type collector struct {
	mu       sync.Mutex
	from, to time.Time
	res      loadResult
}

func (c *collector) add(local []sample, firstErr string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range local {
		if s.at.Before(c.from) || !s.at.Before(c.to) {
			continue
		}
		c.res.samples = append(c.res.samples, s)
		if s.ok {
			c.res.ok++
		} else {
			c.res.failed++
		}
	}
	if c.res.firstErr == "" {
		c.res.firstErr = firstErr
	}
}

// closedLoop keeps `workers` requests in flight for warmup+dur, each worker
// sending its next delivery as soon as the previous one is answered: the
// highest rate the server sustains at that concurrency.
func closedLoop(ctx context.Context, t target, g *generator, workers int, warmup, dur time.Duration) (*loadResult, error) {
	start := time.Now()
	c := &collector{from: start.Add(warmup), to: start.Add(warmup + dur)}
	var seq atomic.Uint64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			var local []sample
			var firstErr string
			for ctx.Err() == nil {
				now := time.Now()
				if !now.Before(c.to) {
					break
				}
				n := seq.Add(1)
				body := g.Body(n)
				err := t.send(ctx, body)
				s := sample{seq: n, at: now, start: now, ack: time.Since(now), ok: err == nil}
				if err != nil {
					if firstErr == "" {
						firstErr = err.Error()
					}
				}
				local = append(local, s)
			}
			c.add(local, firstErr)
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c.res.window = dur
	return &c.res, nil
}

// openLoopWorkers bounds the requests in flight in the open loop. A server
// that falls behind makes requests wait for a worker; their latency counts
// from the scheduled time, so the wait is not hidden.
const openLoopWorkers = 256

// openLoop sends `rate` deliveries per second on a fixed schedule for
// warmup+dur, whatever the answers take: the latency a provider sees at
// that rate. Latency is measured from each request's scheduled time.
func openLoop(ctx context.Context, t target, g *generator, rate int, warmup, dur time.Duration) (*loadResult, error) {
	if rate <= 0 {
		return nil, fmt.Errorf("open loop: rate %d must be positive", rate)
	}
	type job struct {
		seq uint64
		due time.Time
	}
	interval := time.Second / time.Duration(rate)
	start := time.Now()
	c := &collector{from: start.Add(warmup), to: start.Add(warmup + dur)}
	jobs := make(chan job, rate) // a second of slack before the schedule itself stalls
	var wg sync.WaitGroup
	for range openLoopWorkers {
		wg.Go(func() {
			var local []sample
			var firstErr string
			for j := range jobs {
				body := g.Body(j.seq)
				now := time.Now()
				err := t.send(ctx, body)
				// Counted by its scheduled time: requests a slow server
				// pushed past the window still belong to it.
				s := sample{seq: j.seq, at: j.due, start: now, ack: time.Since(j.due), ok: err == nil}
				if err != nil {
					if firstErr == "" {
						firstErr = err.Error()
					}
				}
				local = append(local, s)
			}
			c.add(local, firstErr)
		})
	}
	total := uint64((warmup + dur) / interval)
schedule:
	for i := range total {
		due := start.Add(time.Duration(i) * interval)
		// Sleeps are shorter than a millisecond: checking ctx after each
		// one is prompt enough, and a late wake-up is caught up by
		// sending every job already due.
		if d := time.Until(due); d > 0 {
			time.Sleep(d)
		}
		select {
		case jobs <- job{seq: i + 1, due: due}:
		case <-ctx.Done():
			break schedule
		}
	}
	close(jobs)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c.res.window = dur
	return &c.res, nil
}
