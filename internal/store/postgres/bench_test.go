package postgres_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/wabridge/wabridge/internal/audit"
	"github.com/wabridge/wabridge/internal/incident"
	"github.com/wabridge/wabridge/internal/pgtest"
	"github.com/wabridge/wabridge/internal/secret"
	"github.com/wabridge/wabridge/internal/store"
	"github.com/wabridge/wabridge/internal/store/postgres"
)

// BenchmarkAddInbox: concurrent webhooks sharing group commits.
func BenchmarkAddInbox(b *testing.B) {
	dsn := pgtest.DSN(b)
	s, err := postgres.Open(context.Background(), postgres.Config{DSN: secretOf(dsn), ReplicaID: "bench", Partitions: 64}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	body := make([]byte, 1500)
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			i++
			d := deliveryFor(fmt.Sprintf("waba-%d", i%50), "")
			d.Body = body
			if _, err := s.AddInbox(context.Background(), d); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	inserts, rows := s.IngestStats()
	b.ReportMetric(float64(rows)/float64(max(inserts, 1)), "rows/insert")
}

// BenchmarkCommit: a batch of 100 deliveries as the committer writes it:
// take, dedup, an incident, a notification and an audit record each.
func BenchmarkCommit(b *testing.B) {
	dsn := pgtest.DSN(b)
	s, err := postgres.Open(context.Background(), postgres.Config{DSN: secretOf(dsn), ReplicaID: "bench", Partitions: 1}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	fs, err := s.Fences(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	const batch = 100
	b.ResetTimer()
	for n := range b.N {
		b.StopTimer()
		var in []store.InboxEntry
		for i := range batch {
			e, err := s.AddInbox(context.Background(), deliveryFor("waba", fmt.Sprintf("d%d-%d", n, i)))
			if err != nil {
				b.Fatal(err)
			}
			in = append(in, e)
		}
		b.StartTimer()
		err := s.Commit(context.Background(), fs[0], func(tx store.CommitTx) error {
			for i, e := range in {
				if _, err := tx.TakeInbox(e.Seq); err != nil {
					return err
				}
				if _, err := tx.SeeEvent(e.Delivery.ID, t0, t0.Add(time.Hour)); err != nil {
					return err
				}
				fp := fmt.Sprintf("fp-%d", i%10)
				inc, ok, err := tx.Incident(fp)
				if err != nil {
					return err
				}
				if !ok {
					inc = incident.Incident{Fingerprint: fp, Rule: "r", Status: incident.Open}
				}
				inc.Count++
				if err := tx.PutIncident(&inc, time.Time{}); err != nil {
					return err
				}
				o, err := tx.AddOutbox(entry(fp+"/slack/#ops", "r"))
				if err != nil {
					return err
				}
				rec := &audit.Record{ID: audit.ID(t0, e.Delivery.ID), DeliveryID: e.Delivery.ID, Source: "meta", ReceivedAt: t0, Events: []audit.Event{}}
				if err := tx.PutAudit(rec, store.RawPayload(e.Delivery.Body), t0.Add(time.Hour), o1(o)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*batch), "µs/delivery")
}

func o1[T any](v T) []T { return []T{v} }

func secretOf(dsn string) secret.Secret { return secret.Secret(dsn) }

// BenchmarkClaimBacklog: claims against an outbox backlog of 20,000
// entries over 500 keys, as during a notifier outage.
func BenchmarkClaimBacklog(b *testing.B) {
	dsn := pgtest.DSN(b)
	s, err := postgres.Open(context.Background(), postgres.Config{DSN: secretOf(dsn), ReplicaID: "bench", Partitions: 1}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	fs, err := s.Fences(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	for range 20 {
		err := s.Commit(context.Background(), fs[0], func(tx store.CommitTx) error {
			for i := range 1000 {
				if _, err := tx.AddOutbox(entry(fmt.Sprintf("fp%03d/slack/#ops", i%500), "r")); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for n := range b.N {
		now := t0.Add(time.Duration(n) * time.Hour)
		cs, _, err := s.ClaimOutbox(context.Background(), store.ClaimQuery{Now: now, Lease: time.Minute, Limit: 10})
		if err != nil || len(cs) != 10 {
			b.Fatal(len(cs), err)
		}
	}
}
