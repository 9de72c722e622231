package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/wabridge/wabridge/internal/catalog"
	"github.com/wabridge/wabridge/internal/notification"
	"github.com/wabridge/wabridge/internal/sources"
	"github.com/wabridge/wabridge/internal/store"
	"github.com/wabridge/wabridge/notifiers"
	"github.com/wabridge/wabridge/notifiers/builtin"
	lognotifier "github.com/wabridge/wabridge/notifiers/log"
	"github.com/wabridge/wabridge/rules"
	"github.com/wabridge/wabridge/templates"
)

// BenchmarkSend measures the senders alone: b.N notifications, each of
// its own incident (so of its own ordering key), waiting in a durable
// store on disk, sent through the log standing in for Slack as in the
// load bench, until the outbox is empty. What it counts is the claims,
// the sends and the commits of their results. In "retried" each
// notification fails once (a 503) before it goes, so each also writes
// back a failed attempt.
func BenchmarkSend(b *testing.B) {
	b.Run("sent", func(b *testing.B) { benchSend(b, false) })
	b.Run("retried", func(b *testing.B) { benchSend(b, true) })
}

// failOnce fails the first attempt of each notification, as a Slack
// answering 503 would.
type failOnce struct {
	notifiers.Notifier
	mu   sync.Mutex
	seen map[string]bool
}

func (f *failOnce) Notify(ctx context.Context, n *notification.Notification) (notification.Result, error) {
	f.mu.Lock()
	first := !f.seen[n.ID]
	f.seen[n.ID] = true
	f.mu.Unlock()
	if first {
		return notification.Result{}, &notifiers.Error{Notifier: "slack", Reason: notifiers.ReasonTransient, Err: errors.New("503")}
	}
	return f.Notifier.Notify(ctx, n)
}

func benchSend(b *testing.B, retried bool) {
	const rule = `
rules:
  - name: spam
    match: {codes: [131048]}
    group_by: [code, phone_number_id]
    max_open_incidents: 1000000
    actions:
      - slack: {channel: "#ops"}
`
	st, err := store.Open(b.TempDir(), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	set, _, err := rules.Parse("rules.yaml", []byte(rule), rules.Options{Specs: builtin.Specs()})
	if err != nil {
		b.Fatal(err)
	}
	cat, _ := catalog.Load()
	tmpl, err := templates.Load("", templates.WithSpecs(builtin.Specs()...))
	if err != nil {
		b.Fatal(err)
	}
	lg, err := lognotifier.New(lognotifier.Config{}, tmpl, nil, lognotifier.WithWriter(io.Discard))
	if err != nil {
		b.Fatal(err)
	}
	var nt notifiers.Notifier = lg
	if retried {
		nt = &failOnce{Notifier: lg, seen: map[string]bool{}}
	}
	rt := &Runtime{Rules: set, Catalog: cat, Notifiers: map[string]notifiers.Notifier{"slack": nt}}
	p, err := New(Config{BackoffBase: time.Millisecond, BackoffMax: time.Millisecond}, Deps{
		Store:   st,
		Sources: func(string) (sources.Source, bool) { return testSource{}, true },
		Runtime: func() *Runtime { return rt },
		Logger:  slog.New(slog.DiscardHandler),
	})
	if err != nil {
		b.Fatal(err)
	}
	feed(b, p, st, b.N, func(i int) string { return fmt.Sprintf("PN%07d", i) }, "send")
	b.StopTimer()
	if d, err := st.Depths(bg); err != nil || d.Outbox != b.N {
		b.Fatalf("outbox %d (%v), want %d", d.Outbox, err, b.N)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	b.ResetTimer()
	b.StartTimer()
	go func() { done <- p.Run(ctx) }()
	for {
		d, err := st.Depths(bg)
		if err != nil {
			b.Fatal(err)
		}
		if d.Outbox == 0 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "notifications/s")
}
