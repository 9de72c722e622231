package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// slowFakeSlack is fakeSlack behind a switchable delay: each call waits
// that long before Slack answers it. arrived counts calls as they arrive.
func slowFakeSlack(t *testing.T, delay, arrived *atomic.Int64) *fakeSlack {
	f := newFakeSlack(t)
	strict := f.Server.Config.Handler
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived.Add(1)
		time.Sleep(time.Duration(delay.Load()))
		strict.ServeHTTP(w, r)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// TestConcurrentReplaySendsOnce: three `dlq replay` of one dead letter at
// once, through the running server's admin API, send it once; the others
// are refused with 409 and say why.
func TestConcurrentReplaySendsOnce(t *testing.T) {
	var delay, arrived atomic.Int64
	slack := slowFakeSlack(t, &delay, &arrived)
	dir := t.TempDir()
	addr := freeAddr(t)
	cfg := writeE2EConfig(t, e2eConfig{Dir: dir, Addr: addr, SlackURL: slack.srv.URL, SlackToken: "xoxb-revoked"})
	inst := start(t, cfg, addr)
	if code := post(t, addr, failedStatus(4, 131031)); code != 200 {
		t.Fatal(code)
	}
	waitFor(t, "a dead letter", 20*time.Second, func() bool {
		out, _ := exec.Command(binPath, "dlq", "list", "--config", cfg).Output()
		return strings.Contains(string(out), "auth")
	}, inst.logs.String)
	inst.stop()
	cfg = writeE2EConfig(t, e2eConfig{Dir: dir, Addr: addr, SlackURL: slack.srv.URL, SlackToken: "xoxb-good"})
	inst = start(t, cfg, addr)
	id := deadID(t, cfg)
	before, arrivedBefore := len(slack.posted()), arrived.Load()

	// Slack takes its time, so the replays overlap.
	delay.Store(int64(1500 * time.Millisecond)) // within the 2s Slack timeout
	type result struct {
		out string
		err error
	}
	results := make([]result, 3)
	var wg sync.WaitGroup
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := exec.Command(binPath, "dlq", "replay", id, "--config", cfg).CombinedOutput()
			results[i] = result{string(out), err}
		}()
	}
	// The admin API answers a replay in progress with 409.
	var apiStatus int
	var apiBody string
	waitFor(t, "a replay to reach Slack", 20*time.Second, func() bool { return arrived.Load() > arrivedBefore }, inst.logs.String)
	func() {
		req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/api/v1/dlq/"+id+"/replay", nil)
		req.Header.Set("Authorization", "Bearer "+e2eAdminToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b := new(strings.Builder)
		_, _ = io.Copy(b, resp.Body)
		apiStatus, apiBody = resp.StatusCode, b.String()
	}()
	wg.Wait()
	delay.Store(0)

	sent, refused := 0, 0
	for _, r := range results {
		switch {
		case r.err == nil && strings.Contains(r.out, id+": sent"):
			sent++
		case r.err != nil && strings.Contains(r.out, "dead letter "+id+" is already being replayed"):
			refused++
		default:
			t.Errorf("replay: err %v, output %q", r.err, r.out)
		}
	}
	if sent != 1 || refused != 2 {
		t.Fatalf("want 1 replay sent and 2 refused, got %d sent, %d refused", sent, refused)
	}
	if got := len(slack.posted()) - before; got != 1 {
		t.Fatalf("the dead letter reached Slack %d times, want once", got)
	}
	if apiStatus != http.StatusConflict || !strings.Contains(apiBody, "already being replayed") {
		t.Fatalf("admin API during a replay: %d %s, want 409 naming the replay in progress", apiStatus, apiBody)
	}
	inst.stop()
}

func deadID(t *testing.T, cfg string) string {
	t.Helper()
	out, err := exec.Command(binPath, "dlq", "list", "--json", "--config", cfg).Output()
	if err != nil {
		t.Fatal(err)
	}
	var dead []struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(out, &dead); err != nil || len(dead) != 1 {
		t.Fatalf("dlq list: %v %s", err, out)
	}
	return dead[0].ID
}
