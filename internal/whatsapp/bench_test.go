package whatsapp

import (
	"os"
	"path/filepath"
	"testing"
)

func BenchmarkParse(b *testing.B) {
	failed, err := os.ReadFile(filepath.Join("testdata", "status_failed_131026.json"))
	if err != nil {
		b.Fatal(err)
	}
	for _, bm := range []struct {
		name string
		body []byte
	}{
		{"failed_status", failed},
		{"batch_1000_statuses", batchBody(1000)},
	} {
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bm.body)))
			for b.Loop() {
				if _, err := Parse("meta", bm.body, received); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkVerifySignature(b *testing.B) {
	body := batchBody(1000)
	secret := []byte("6f1c0d2a9be34e7f")
	sig := Sign(secret, body)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if err := VerifySignature(secret, body, sig); err != nil {
			b.Fatal(err)
		}
	}
}
