package store

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/wabridge/wabridge/internal/delivery"
)

// BenchmarkAddInbox is the durable write of a 200: 32 requests in flight
// (16 goroutines per CPU on two cores), each adding a 1 KiB delivery.
func BenchmarkAddInbox(b *testing.B) {
	s, err := Open(b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	d := delivery.Delivery{ID: "d", Source: "meta", ReceivedAt: time.Now(), Body: bytes.Repeat([]byte("x"), 1024)}
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.AddInbox(context.Background(), d); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "deliveries/s")
}
