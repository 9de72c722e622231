package pipeline

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// writeHealth remembers the store's last write failure, so readiness says
// what webhooks see: on a full disk a heartbeat still commits (it rewrites
// a page in place) while every delivery fails to be stored.
type writeHealth struct {
	mu      sync.Mutex
	failed  error // the last write failure; nil after a write succeeded
	at      time.Time
	probed  time.Time // when the store was last probed
	probeOK error     // the probe's result
}

// readyProbeEvery bounds how often readiness probes a store whose last
// write failed: a probe writes a delivery's worth of bytes.
const readyProbeEvery = time.Second

func (w *writeHealth) fail(err error, now time.Time) {
	w.mu.Lock()
	w.failed, w.at = err, now
	w.mu.Unlock()
}

func (w *writeHealth) ok() {
	w.mu.Lock()
	w.failed = nil
	w.mu.Unlock()
}

// checkWrites reports the last write failure while it stands. Without webhooks
// (a load balancer stops sending them to an instance that is not ready),
// nothing would clear it, so the store is probed with a write of a
// delivery's size, at most once a second; a probe that succeeds clears it.
func (p *Pipeline) checkWrites() error {
	w := &p.writes
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.failed == nil {
		return nil
	}
	now := p.now()
	if now.Sub(w.probed) >= readyProbeEvery {
		w.probed = now
		w.probeOK = p.st.Probe(context.Background(), p.cfg.ProbeBytes)
		if w.probeOK == nil {
			w.failed = nil
			return nil
		}
	}
	return fmt.Errorf("%w: the last write failed %s ago, deliveries are refused with 503: %v",
		ErrUnavailable, now.Sub(w.at).Round(time.Second), w.failed)
}
