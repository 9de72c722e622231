package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wabridge/wabridge/internal/catalog"
	"github.com/wabridge/wabridge/internal/delivery"
	"github.com/wabridge/wabridge/internal/event"
	"github.com/wabridge/wabridge/internal/notification"
	"github.com/wabridge/wabridge/internal/sources"
	"github.com/wabridge/wabridge/internal/store"
	"github.com/wabridge/wabridge/notifiers"
	"github.com/wabridge/wabridge/notifiers/builtin"
	"github.com/wabridge/wabridge/rules"
)

// BenchmarkAccept measures webhook acknowledgements per second with many
// concurrent requests, durable and without fsync. Group commit is what keeps
// the durable rate close to the other.
func BenchmarkAccept(b *testing.B) {
	body := []byte(`[{"id":"x","kind":"status","status":"failed","code":131026}]`)
	for _, mode := range []struct {
		name   string
		noSync bool
	}{{"durable", false}, {"nosync", true}} {
		b.Run(mode.name, func(b *testing.B) {
			st, err := store.Open(b.TempDir(), store.Options{NoSync: mode.noSync})
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			p, err := New(Config{}, Deps{Store: st})
			if err != nil {
				b.Fatal(err)
			}
			d := delivery.Delivery{Source: "test", Body: body, RemoteAddr: "127.0.0.1", ContentType: "application/json"}
			b.SetParallelism(64) // webhooks arrive concurrently; 64 per core
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := p.Accept(context.Background(), d, nil); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "deliveries/s")
		})
	}
}

// TestDiskUseIsBounded ingests deliveries spread over simulated weeks (a mix
// of failed statuses that match a rule and delivered statuses that do not),
// with the sweeper running, and reports the store's size. Set
// WABRIDGE_DISK_DELIVERIES=100000 for the full run; by default it uses a
// smaller count so the package's tests stay quick.
func TestDiskUseIsBounded(t *testing.T) {
	n := 2000
	if v := os.Getenv("WABRIDGE_DISK_DELIVERIES"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n <= 0 {
			t.Fatalf("WABRIDGE_DISK_DELIVERIES=%q is not a positive count", v)
		}
	}
	res := ingest(t, n, 30*24*time.Hour)
	t.Logf("%d deliveries over 30 simulated days: file %.1f MiB at half way, %.1f MiB at the end; %d dedup and %d processed records live; %d notifications sent",
		n, float64(res.halfSize)/(1<<20), float64(res.size)/(1<<20), res.counts.Dedup, res.counts.Processed, res.sent)
	// Records older than the windows are gone: what is left covers at most
	// the last DedupWindow / Retention of the 30 days, plus one sweep.
	perDay := float64(n) / 30
	if maxProcessed := int(perDay * 8); res.counts.Processed > maxProcessed {
		t.Errorf("%d processed records live, want at most %d (7 days' worth)", res.counts.Processed, maxProcessed)
	}
	if maxDedup := int(perDay*9) / 10; res.counts.Dedup > maxDedup {
		t.Errorf("%d dedup records live, want at most %d (9 days of failed statuses)", res.counts.Dedup, maxDedup)
	}
	if res.counts.Inbox+res.counts.Outbox != 0 {
		t.Errorf("work left behind: %+v", res.counts)
	}
}

type ingestResult struct {
	size, halfSize int64
	counts         store.Counts
	sent           int
}

// ingest accepts n deliveries through a running pipeline while a test clock
// moves from 0 to span, one in ten a failed status.
func ingest(t testing.TB, n int, span time.Duration) ingestResult {
	clk := &clock{}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk.ns.Store(start.UnixNano())
	dir := t.TempDir()
	// File size does not depend on fsync; skipping it keeps the run short.
	st, err := store.Open(dir, store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	set, _, err := rules.Parse("rules.yaml", []byte(testRules), rules.Options{Specs: builtin.Specs()})
	if err != nil {
		t.Fatal(err)
	}
	cat, _ := catalog.Load()
	var sent atomic.Int64
	nt := &countingNotifier{n: &sent}
	rt := &Runtime{Rules: set, Catalog: cat, Notifiers: map[string]notifiers.Notifier{"slack": nt}}
	p, err := New(Config{Workers: 16, SweepInterval: 20 * time.Millisecond}, Deps{
		Store:   st,
		Sources: func(string) (sources.Source, bool) { return testSource{}, true },
		Runtime: func() *Runtime { return rt },
		Logger:  slog.New(slog.DiscardHandler),
		Now:     clk.now,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()

	// Deliveries go in chunks, and the clock moves only once a chunk is
	// processed, so records get the times they would have in production.
	chunk := max(n/200, 20)
	step := span / time.Duration(n)
	var res ingestResult
	for from := 0; from < n; from += chunk {
		to := min(from+chunk, n)
		var wg sync.WaitGroup
		for i := from; i < to; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ev := event.Event{ID: fmt.Sprintf("wamid.%08d/delivered", i), Kind: event.KindStatus,
					Status: "delivered", PhoneNumberID: "PN1", RecipientID: "16505551234"}
				if i%10 == 0 {
					ev.ID, ev.Status, ev.Code = fmt.Sprintf("wamid.%08d/failed", i), "failed", 131026
				}
				body, _ := json.Marshal([]event.Event{ev})
				if err := p.Accept(context.Background(), delivery.Delivery{Source: "test", Body: body}, nil); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		deadline := time.Now().Add(time.Minute)
		for s := p.Stats(); s.Inbox+s.Outbox > 0; s = p.Stats() {
			if time.Now().After(deadline) {
				t.Fatalf("pipeline did not drain: %+v", s)
			}
			time.Sleep(time.Millisecond)
		}
		clk.advance(step * time.Duration(to-from))
		p.sweep()
		if from < n/2 && to >= n/2 {
			res.halfSize, _ = st.Size()
		}
	}
	p.sweep()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	res.size, _ = st.Size()
	res.counts, _ = st.Counts(bg)
	res.sent = int(sent.Load())
	return res
}

type countingNotifier struct{ n *atomic.Int64 }

func (c *countingNotifier) Render(*notification.Notification) (notification.Message, error) {
	return notification.Message{}, nil
}

func (c *countingNotifier) Notify(context.Context, *notification.Notification) (notification.Result, error) {
	c.n.Add(1)
	return notification.Result{}, nil
}
