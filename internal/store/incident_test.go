package store

import (
	"errors"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/wabridge/wabridge/internal/incident"
)

// putRefs stores refs the way Sent does, under ordering keys.
func putRefs(t *testing.T, s *Bolt, keys ...string) {
	t.Helper()
	if err := s.db.Update(func(tx *bolt.Tx) error {
		for _, k := range keys {
			if err := putRef(tx, &Ref{Key: k, Ref: "ref of " + k, Updated: t0}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func putIncident(t *testing.T, s *Bolt, inc incident.Incident, until time.Time) {
	t.Helper()
	if err := s.Commit(bg, fence(s), func(tx CommitTx) error { return tx.PutIncident(&inc, until) }); err != nil {
		t.Fatal(err)
	}
}

func TestSweepRemovesResolvedIncidentsRefs(t *testing.T) {
	s := open(t, t.TempDir())
	const (
		resolved = "00000000000000aa"
		reopened = "00000000000000bb"
		open     = "00000000000000cc"
	)
	resolvedKeys := []string{resolved + "/slack/#ops", resolved + "/jira/OPS"}
	keptKeys := []string{
		reopened + "/slack/#ops", open + "/slack/#ops", open + "/jira/OPS",
		// A key that only starts like the resolved fingerprint.
		resolved + "ff/slack/#ops",
	}
	putRefs(t, s, append(resolvedKeys, keptKeys...)...)

	putIncident(t, s, incident.Incident{Fingerprint: resolved, Rule: "r", Status: incident.Resolved, ResolvedAt: t0}, t0.Add(time.Hour))
	// Resolved with the same expiry, then opened again before the sweep.
	putIncident(t, s, incident.Incident{Fingerprint: reopened, Rule: "r", Status: incident.Resolved, ResolvedAt: t0}, t0.Add(time.Hour))
	putIncident(t, s, incident.Incident{Fingerprint: reopened, Rule: "r", Status: incident.Open, OpenedAt: t0.Add(time.Minute)}, time.Time{})
	putIncident(t, s, incident.Incident{Fingerprint: open, Rule: "r", Status: incident.Open, OpenedAt: t0}, time.Time{})

	if _, err := s.Sweep(bg, t0.Add(30*time.Minute), 0); err != nil {
		t.Fatal(err)
	}
	for _, k := range append(resolvedKeys, keptKeys...) {
		if _, err := s.GetRef(bg, k); err != nil {
			t.Errorf("ref %s gone before its incident expired: %v", k, err)
		}
	}

	n, err := s.Sweep(bg, t0.Add(2*time.Hour), 0)
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("swept %d incidents, want 1", n)
	}
	if _, err := s.GetIncident(bg, resolved); !errors.Is(err, ErrNotFound) {
		t.Errorf("resolved incident after its expiry: %v", err)
	}
	for _, k := range resolvedKeys {
		if _, err := s.GetRef(bg, k); !errors.Is(err, ErrNotFound) {
			t.Errorf("ref %s of the swept incident: %v, want ErrNotFound", k, err)
		}
	}
	for _, k := range keptKeys {
		if r, err := s.GetRef(bg, k); err != nil || r.Ref != "ref of "+k {
			t.Errorf("ref %s of an incident that is not swept = %+v, %v", k, r, err)
		}
	}
	for _, fp := range []string{reopened, open} {
		if inc, err := s.GetIncident(bg, fp); err != nil || inc.Status != incident.Open {
			t.Errorf("incident %s = %+v, %v; want it open", fp, inc, err)
		}
	}
}

// An incident resolved, opened again and resolved again expires at its
// last resolve's expiry, not at the first one's still in the index.
func TestSweepKeepsIncidentResolvedAgain(t *testing.T) {
	s := open(t, t.TempDir())
	const fp = "00000000000000dd"
	key := fp + "/slack/#ops"
	putRefs(t, s, key)
	putIncident(t, s, incident.Incident{Fingerprint: fp, Rule: "r", Status: incident.Resolved, ResolvedAt: t0}, t0.Add(time.Hour))
	putIncident(t, s, incident.Incident{Fingerprint: fp, Rule: "r", Status: incident.Open, OpenedAt: t0.Add(time.Minute)}, time.Time{})
	putIncident(t, s, incident.Incident{Fingerprint: fp, Rule: "r", Status: incident.Resolved, ResolvedAt: t0.Add(2 * time.Hour)}, t0.Add(3*time.Hour))

	if n, err := s.Sweep(bg, t0.Add(2*time.Hour), 0); err != nil || n != 0 {
		t.Fatalf("sweep at the first expiry removed %d, %v", n, err)
	}
	if _, err := s.GetIncident(bg, fp); err != nil {
		t.Errorf("incident resolved again swept at its first expiry: %v", err)
	}
	if _, err := s.GetRef(bg, key); err != nil {
		t.Errorf("ref of an incident resolved again swept at its first expiry: %v", err)
	}
	if n, err := s.Sweep(bg, t0.Add(4*time.Hour), 0); err != nil || n != 1 {
		t.Fatalf("sweep after the last expiry removed %d, %v", n, err)
	}
	if _, err := s.GetRef(bg, key); !errors.Is(err, ErrNotFound) {
		t.Errorf("ref after the last expiry: %v", err)
	}
}
