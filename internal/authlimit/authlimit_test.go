package authlimit

import (
	"fmt"
	"testing"
	"time"
)

// The bucket refills: a throttled client may try again after the wait it
// was told, and other clients are not affected meanwhile.
func TestLimiterRefills(t *testing.T) {
	l := New()
	t0 := time.Unix(1_700_000_000, 0)
	for i := 0; i < Burst; i++ {
		if l.Wait("a", t0) != 0 {
			t.Fatalf("failure %d throttled within the burst", i)
		}
		l.Fail("a", t0)
	}
	w := l.Wait("a", t0)
	if w <= 0 || w > Every {
		t.Fatalf("after the burst: wait %v, want (0, %v]", w, Every)
	}
	if l.Wait("b", t0) != 0 {
		t.Fatal("another client throttled by a's failures")
	}
	if l.Wait("a", t0.Add(w)) != 0 {
		t.Fatal("still throttled after the wait it announced")
	}
}

// Rotating addresses does not buy more than the cap allows: past it,
// new addresses share one bucket, which throttles them all together.
func TestLimiterIsBounded(t *testing.T) {
	l := New()
	t0 := time.Unix(1_700_000_000, 0)
	for i := 0; i < ClientsCap+100; i++ {
		l.Fail(fmt.Sprintf("c%d", i), t0)
	}
	if n := l.Tracked(); n > ClientsCap {
		t.Fatalf("%d clients tracked, cap %d", n, ClientsCap)
	}
	if l.Wait(fmt.Sprintf("c%d", ClientsCap+50), t0) == 0 {
		t.Fatal("100 failures from addresses past the cap share one bucket; it should be empty")
	}
}
