package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// postReload calls POST /-/reload, retrying while a reload started by the
// file watcher runs (409).
func postReload(t *testing.T, addr, token string) (int, map[string]any) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/-/reload", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusConflict && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		var out map[string]any
		_ = json.Unmarshal(body, &out)
		return resp.StatusCode, out
	}
}

// TestReloadEndpoint: POST /-/reload with a broken rules file answers the
// problem with FILE:LINE and keeps the old rules, which go on alerting; a
// fixed file answers success; without the token it is refused. The build
// is published in wabridge_build_info.
func TestReloadEndpoint(t *testing.T) {
	slack := newFakeSlack(t)
	dir, addr := t.TempDir(), freeAddr(t)
	cfg := writeIncidentConfig(t, dir, addr, slack.srv.URL, "", `
rules:
  - name: blocked
    match: {codes: [131031]}
    group_by: [id]
    actions:
      - slack: {channel: "#whatsapp-ops"}
`)
	inst := start(t, cfg, addr)
	defer inst.stop()
	if v := scrape(t, addr, "wabridge_build_info", map[string]string{"version": "dev"}); v != 1 {
		t.Errorf("wabridge_build_info{version=dev} = %v", v)
	}
	if code, _ := postReload(t, addr, ""); code != http.StatusUnauthorized {
		t.Errorf("reload without the token: %d", code)
	}
	if code, out := postReload(t, addr, e2eAdminToken); code != 200 || out["status"] != "success" || out["rules"] != 1.0 {
		t.Errorf("reload of good files: %d %v", code, out)
	}

	rulesFile := filepath.Join(dir, "rules.yaml")
	broken := "rules:\n  - name: blocked\n    match: {codes: [131031]}\n    actions:\n      - slack: {chanel: \"#ops\"}\n"
	if err := os.WriteFile(rulesFile, []byte(broken), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out := postReload(t, addr, e2eAdminToken)
	problems, _ := json.Marshal(out["problems"])
	if code != http.StatusUnprocessableEntity || out["status"] != "failure" || !strings.Contains(string(problems), rulesFile+":5:") || out["rules"] != 1.0 {
		t.Fatalf("reload of a broken file: %d %v", code, out)
	}
	if code := post(t, addr, failedStatus(1, 131031)); code != 200 {
		t.Fatal(code)
	}
	waitFor(t, "the old rules to alert after a refused reload", 10*time.Second, func() bool { return len(slack.posted()) == 1 }, inst.logs.String)

	fixed := "rules:\n  - name: blocked\n    match: {codes: [131031]}\n    actions:\n      - slack: {channel: \"#ops\"}\n  - name: spam\n    match: {codes: [131048]}\n    actions:\n      - slack: {channel: \"#ops\"}\n"
	if err := os.WriteFile(rulesFile, []byte(fixed), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out := postReload(t, addr, e2eAdminToken); code != 200 || out["rules"] != 2.0 {
		t.Errorf("reload of a fixed file: %d %v", code, out)
	}
}
