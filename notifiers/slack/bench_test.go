package slack

import (
	"context"
	"testing"

	"github.com/wabridge/wabridge/internal/notification"
	"github.com/wabridge/wabridge/internal/secret"
)

// BenchmarkNotifyOpen measures render, Block Kit layout and one round trip
// to a loopback fake Slack.
func BenchmarkNotifyOpen(b *testing.B) {
	f := newFakeSlack(b)
	n, err := New(Config{Token: secret.Secret(token), APIURL: f.URL, Channel: "#c"}, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	nt := testNotification(notification.OpOpen)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := n.Notify(context.Background(), nt); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRender(b *testing.B) {
	n, err := New(Config{Token: secret.Secret(token), Channel: "#c"}, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	nt := testNotification(notification.OpOpen)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := n.Render(nt); err != nil {
			b.Fatal(err)
		}
	}
}
