package whatsapp

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func BenchmarkParse(b *testing.B) {
	failed, err := os.ReadFile(filepath.Join("testdata", "status_failed_131026.json"))
	if err != nil {
		b.Fatal(err)
	}
	text, err := os.ReadFile(filepath.Join("testdata", "message_text.json"))
	if err != nil {
		b.Fatal(err)
	}
	for _, bm := range []struct {
		name string
		body []byte
	}{
		{"failed_status", failed},
		{"delivered_status", deliveredBody(1)},
		{"batch_50_statuses", deliveredBody(50)},
		{"batch_1000_statuses", batchBody(1000)},
		{"incoming_text", text},
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

// deliveredBody is n delivered statuses with conversation and pricing, the
// bulk of what a business's webhook receives.
func deliveredBody(n int) []byte {
	b := []byte(`{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},"statuses":[`)
	for i := range n {
		if i > 0 {
			b = append(b, ',')
		}
		b = fmt.Appendf(b, `{"id":"wamid.HBgLMTY1MDU1NTEyMzQVAgARGBI%08d","status":"delivered","timestamp":"1751142888","recipient_id":"1650555%04d","conversation":{"id":"c0ffee%d","origin":{"type":"utility"}},"pricing":{"billable":true,"pricing_model":"PMP","type":"regular","category":"utility"}}`, i, i, i)
	}
	return append(b, `]},"field":"messages"}]}]}`...)
}
