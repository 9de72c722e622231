package main

// End-to-end tests of the HTTP surface under hostile or broken conditions:
// the real binary, loopback only.

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const e2eAdminToken = "e2e-admin-token-0123456789abcdef0123"

// adminStatus calls GET path on addr with the admin token and returns the status.
func adminStatus(t *testing.T, addr, path string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
	req.Header.Set("Authorization", "Bearer "+e2eAdminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s%s: %v", addr, path, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestAdminOnItsOwnListener: with server.admin_listen, the admin API is
// served there and not on the webhook port, and the operator commands find
// it while the server holds the store.
func TestAdminOnItsOwnListener(t *testing.T) {
	slack := newFakeSlack(t)
	dir := t.TempDir()
	addr, adminAddr := freeAddr(t), freeAddr(t)
	cfg := writeE2EConfig(t, e2eConfig{Dir: dir, Addr: addr, SlackURL: slack.srv.URL, SlackToken: "xoxb-good"})
	raw, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	withAdmin := strings.Replace(string(raw), "shutdown_timeout: 5s,", "shutdown_timeout: 5s, admin_listen: \""+adminAddr+"\",", 1)
	if withAdmin == string(raw) {
		t.Fatal("could not add admin_listen to the test config")
	}
	if err := os.WriteFile(cfg, []byte(withAdmin), 0o600); err != nil {
		t.Fatal(err)
	}
	inst := start(t, cfg, addr)
	if code := adminStatus(t, addr, "/api/v1/dlq"); code != http.StatusNotFound {
		t.Errorf("admin API on the webhook port: %d, want 404", code)
	}
	if code := adminStatus(t, adminAddr, "/api/v1/dlq"); code != http.StatusOK {
		t.Errorf("admin API on admin_listen: %d, want 200", code)
	}
	if code := adminStatus(t, adminAddr, "/webhooks/meta"); code != http.StatusNotFound {
		t.Errorf("webhooks on admin_listen: %d, want 404", code)
	}
	if code := post(t, addr, failedStatus(1, 131031)); code != http.StatusOK {
		t.Errorf("webhook: %d", code)
	}
	out, err := exec.Command(binPath, "silence", "list", "--config", cfg).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "no silences") {
		t.Errorf("silence list through admin_listen: %v\n%s", err, out)
	}
	inst.stop()
}

// procStatusKB reads a field (VmHWM, VmRSS) of /proc/PID/status in kB.
func procStatusKB(t *testing.T, pid int, field string) int {
	t.Helper()
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatalf("read /proc status: %v", err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			if err != nil {
				t.Fatalf("%s: %q", field, line)
			}
			return n
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// TestUnauthenticatedFloodStaysBounded: 150 connections at once, each
// sending a 3 MB body with a bad signature, held 846 MB when every body
// was buffered before its signature could be checked. Bodies not yet
// authenticated now share server.max_unauthenticated_bytes (32 MiB): the
// rest are answered 503 with Retry-After, and the peak RSS stays bounded.
func TestUnauthenticatedFloodStaysBounded(t *testing.T) {
	slack := newFakeSlack(t)
	dir := t.TempDir()
	addr := freeAddr(t)
	cfg := writeE2EConfig(t, e2eConfig{Dir: dir, Addr: addr, SlackURL: slack.srv.URL, SlackToken: "xoxb-good"})
	inst := start(t, cfg, addr)
	pid := inst.cmd.Process.Pid
	before := procStatusKB(t, pid, "VmHWM")

	const size = 3_000_000
	body := bytes.Repeat([]byte("x"), size)
	copy(body, `{"object":"whatsapp_business_account","entry":[],"pad":"`)
	client := &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{DisableKeepAlives: true}}
	flood := func(conns int) {
		var mu sync.Mutex
		got := map[string]int{}
		var wg sync.WaitGroup
		for i := 0; i < conns; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/webhooks/meta", bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("X-Hub-Signature-256", "sha256="+strings.Repeat("ab", 32))
				resp, err := client.Do(req)
				// A refused request whose body was still being written
				// can see the connection closed before the 503.
				key := "connection closed early"
				if err == nil {
					key = strconv.Itoa(resp.StatusCode)
					if resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") == "" {
						key = "503 without Retry-After"
					}
					resp.Body.Close()
				}
				mu.Lock()
				got[key]++
				mu.Unlock()
			}()
		}
		wg.Wait()
		hwm, rss := procStatusKB(t, pid, "VmHWM"), procStatusKB(t, pid, "VmRSS")
		t.Logf("%d connections × %d-byte bad-signature bodies: answers %v; VmHWM %d → %d kB (%.0f MB), VmRSS after %d kB", conns, size, got, before, hwm, float64(hwm)/1024, rss)
		for k := range got {
			if k != "401" && k != "503" && k != "connection closed early" {
				t.Errorf("unexpected answer %q ×%d", k, got[k])
			}
		}
		if got["401"] == 0 {
			t.Errorf("no body was checked at all: %v", got)
		}
		// 32 MiB of bodies held at once, plus the runtime, the store and
		// garbage not yet collected; far below the 450 MB and more the
		// bodies add up to.
		if hwm > 160*1024 {
			t.Errorf("peak RSS %d kB under the flood, want < 160 MB", hwm)
		}
	}
	flood(150)
	// Twice the connections: the peak does not follow their number.
	flood(300)
	select {
	case <-inst.done:
		t.Fatalf("wabridge exited under the flood:\n%s", inst.logs.String())
	default:
	}
	if code := post(t, addr, failedStatus(1, 131031)); code != http.StatusOK {
		t.Fatalf("a signed delivery after the flood: %d", code)
	}
	inst.stop()
}

// TestMillionEntryDeliveryRefused: one signed 2 MB delivery whose entry
// array has a million elements made a million events (2.8 GB RSS, 162 MB
// of store). It is 413 now, refused before parsing, and memory stays flat.
func TestMillionEntryDeliveryRefused(t *testing.T) {
	slack := newFakeSlack(t)
	dir := t.TempDir()
	addr := freeAddr(t)
	cfg := writeE2EConfig(t, e2eConfig{Dir: dir, Addr: addr, SlackURL: slack.srv.URL, SlackToken: "xoxb-good"})
	inst := start(t, cfg, addr)
	pid := inst.cmd.Process.Pid
	body := []byte(`{"object":"whatsapp_business_account","entry":[` + strings.Repeat(`{},`, 999_999) + `{}]}`)
	if code := post(t, addr, body); code != http.StatusRequestEntityTooLarge {
		t.Fatalf("a million entries, signed: %d, want 413", code)
	}
	hwm := procStatusKB(t, pid, "VmHWM")
	t.Logf("a signed %d-byte delivery with a million entries: 413, VmHWM %d kB", len(body), hwm)
	if hwm > 100*1024 {
		t.Errorf("peak RSS %d kB, want < 100 MB", hwm)
	}
	waitFor(t, "the access log to say why", 10*time.Second, func() bool {
		return strings.Contains(inst.logs.String(), "server.max_events")
	}, inst.logs.String)
	inst.stop()
}

// auditPage GETs one page of the running server's audit trail.
func auditPage(t *testing.T, addr, query string) ([]map[string]any, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/api/v1/audit?"+query, nil)
	req.Header.Set("Authorization", "Bearer "+e2eAdminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var recs []map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&recs); err != nil {
		t.Fatalf("audit page %s: %d %v", query, resp.StatusCode, err)
	}
	return recs, resp.Header.Get("Link")
}

// TestAuditOfALargeTrailThroughTheServer: the admin API sent every record
// with its payload in one answer and the CLI cut it at 16 MiB, so `wabridge
// audit` failed against a running server once the trail was larger. The API
// now pages (Link rel="next"), leaves payloads out unless ?payload=true, and
// the CLI prints records as the pages arrive.
func TestAuditOfALargeTrailThroughTheServer(t *testing.T) {
	slack := newFakeSlack(t)
	dir := t.TempDir()
	addr := freeAddr(t)
	cfg := writeE2EConfig(t, e2eConfig{Dir: dir, Addr: addr, SlackURL: slack.srv.URL, SlackToken: "xoxb-good"})
	inst := start(t, cfg, addr)
	const n, pad = 200, 100 << 10 // 20 MB of payloads
	for i := 0; i < n; i++ {
		if code := post(t, addr, bigFailedStatus(i, pad)); code != http.StatusOK {
			t.Fatalf("delivery %d: %d", i, code)
		}
	}
	waitFor(t, "every delivery in the audit trail", 30*time.Second, func() bool {
		recs, _ := auditPage(t, addr, "limit=500")
		return len(recs) == n
	}, inst.logs.String)

	// Without ?payload=true, no payloads; a page ends with the next one's link.
	recs, link := auditPage(t, addr, "limit=50")
	if len(recs) != 50 || !strings.Contains(link, `rel="next"`) || !strings.Contains(link, "before=") {
		t.Fatalf("limit=50: %d records, Link %q", len(recs), link)
	}
	if _, ok := recs[0]["payload"]; ok {
		t.Fatal("a payload without ?payload=true")
	}
	next := strings.TrimPrefix(strings.Trim(strings.Split(link, ";")[0], "<>"), "/api/v1/audit?")
	more, _ := auditPage(t, addr, next)
	if len(more) != 50 || more[0]["id"] == recs[49]["id"] || more[0]["id"].(string) >= recs[49]["id"].(string) {
		t.Fatalf("the next page does not go on from the last record: %v after %v", more[0]["id"], recs[49]["id"])
	}

	out, err := exec.Command(binPath, "audit", "--config", cfg).Output()
	if err != nil {
		t.Fatalf("wabridge audit through the server: %v\n%s", err, out)
	}
	if rows := strings.Count(string(out), "\nmeta") + strings.Count(string(out), " meta "); rows < n {
		t.Errorf("wabridge audit printed %d rows, want %d", rows, n)
	}
	out, err = exec.Command(binPath, "audit", "--json", "--config", cfg).Output()
	if err != nil {
		t.Fatalf("wabridge audit --json through the server: %v", err)
	}
	var all []struct {
		ID      string `json:"id"`
		Payload string `json:"payload"`
	}
	if err := json.Unmarshal(out, &all); err != nil {
		t.Fatalf("audit --json (%d bytes) is not one JSON list: %v", len(out), err)
	}
	if len(all) != n {
		t.Fatalf("audit --json: %d records, want %d", len(all), n)
	}
	seen := map[string]bool{}
	for _, r := range all {
		if seen[r.ID] || len(r.Payload) < pad {
			t.Fatalf("record %s repeated or without its payload (%d bytes)", r.ID, len(r.Payload))
		}
		seen[r.ID] = true
	}
	t.Logf("audit --json through the server: %d records, %d bytes", len(all), len(out))
	out, err = exec.Command(binPath, "audit", "--json", "--limit", "30", "--config", cfg).Output()
	if err != nil || json.Unmarshal(out, &all) != nil || len(all) != 30 {
		t.Fatalf("audit --json --limit 30: %v, %d records", err, len(all))
	}
	inst.stop()
}
