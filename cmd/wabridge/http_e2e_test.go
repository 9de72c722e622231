package main

// End-to-end tests of the HTTP surface under hostile or broken conditions:
// the real binary, loopback only.

import (
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
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
