package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"testing"

	"github.com/wabridge/wabridge/internal/catalog"
	"github.com/wabridge/wabridge/internal/delivery"
	"github.com/wabridge/wabridge/internal/event"
	"github.com/wabridge/wabridge/internal/sources"
	"github.com/wabridge/wabridge/internal/store"
	"github.com/wabridge/wabridge/notifiers"
	"github.com/wabridge/wabridge/notifiers/builtin"
	"github.com/wabridge/wabridge/rules"
)

// BenchmarkIncidentBookkeeping measures the committer's cost per event with
// 10,000 open incidents, each event joining one of them, against the same
// rule without actions: it matches, and the event is deduplicated and
// recorded the same way, but no incident is kept (a muted rule now keeps
// its incidents, to tell them when the mute ends). The difference is what
// incidents cost.
func BenchmarkIncidentBookkeeping(b *testing.B) {
	const open = 10000
	rule := `
rules:
  - name: spam
    match: {codes: [131048]}
    group_by: [code, phone_number_id]
    max_open_incidents: 20000
    actions:
      - slack: {channel: "#ops"}
`
	ignored := `
rules:
  - name: spam
    match: {codes: [131048]}
    actions: []
`
	for _, mode := range []struct{ name, rules string }{{"incidents", rule}, {"no_incidents", ignored}} {
		b.Run(mode.name, func(b *testing.B) {
			p, st := benchPipeline(b, mode.rules)
			// Open the incidents, then join each once so each has an update
			// waiting, as during a flood whose sends lag behind (without
			// actions, the same events are matched, deduplicated and
			// recorded, and keep nothing).
			feed(b, p, st, 2*open, func(i int) string { return fmt.Sprintf("PN%05d", i%open) }, "warm")
			b.ResetTimer()
			feed(b, p, st, b.N, func(i int) string { return fmt.Sprintf("PN%05d", i%open) }, "run")
			b.StopTimer()
			if mode.name == "incidents" {
				incs, _ := st.Incidents(bg)
				if len(incs) != open {
					b.Fatalf("%d incidents, want %d", len(incs), open)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

func benchPipeline(b *testing.B, ruleYAML string) (*Pipeline, *store.Bolt) {
	b.Helper()
	st, err := store.Open(b.TempDir(), store.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = st.Close() })
	set, _, err := rules.Parse("rules.yaml", []byte(ruleYAML), rules.Options{Specs: builtin.Specs()})
	if err != nil {
		b.Fatal(err)
	}
	cat, _ := catalog.Load()
	rt := &Runtime{Rules: set, Catalog: cat, Notifiers: map[string]notifiers.Notifier{}}
	p, err := New(Config{}, Deps{
		Store:   st,
		Sources: func(string) (sources.Source, bool) { return testSource{}, true },
		Runtime: func() *Runtime { return rt },
		Logger:  slog.New(slog.DiscardHandler),
	})
	if err != nil {
		b.Fatal(err)
	}
	return p, st
}

// feed stores n one-event deliveries with the timer stopped, then commits
// them in batches as the committer does, with the timer running.
func feed(b *testing.B, p *Pipeline, st *store.Bolt, n int, phone func(int) string, tag string) {
	b.Helper()
	const batch = DefaultBatchSize
	for from := 0; from < n; from += batch {
		to := min(from+batch, n)
		b.StopTimer()
		// Concurrent adds share bbolt's group commit, as webhooks do.
		var wg sync.WaitGroup
		for i := from; i < to; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ev := event.Event{ID: fmt.Sprintf("%s-%d", tag, i), Kind: event.KindStatus, Status: "failed",
					Code: 131048, PhoneNumberID: phone(i), RecipientID: "16505551234"}
				body, _ := json.Marshal([]event.Event{ev})
				if _, err := st.AddInbox(context.Background(), delivery.Delivery{Source: "test", Body: body}); err != nil {
					b.Error(err)
				}
			}()
		}
		wg.Wait()
		entries, err := pendingInbox(st, batch)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if err := p.commitFirst(entries); err != nil {
			b.Fatal(err)
		}
	}
}
