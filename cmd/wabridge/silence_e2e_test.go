package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type silenceJSON struct {
	ID       string `json:"id"`
	Matchers []struct {
		Name, Op, Value string
	} `json:"matchers"`
	StartsAt time.Time `json:"starts_at"`
	EndsAt   time.Time `json:"ends_at"`
	Comment  string    `json:"comment"`
	Author   string    `json:"author"`
	State    string    `json:"state"`
}

func silencesOf(t *testing.T, out string) []silenceJSON {
	t.Helper()
	var l []silenceJSON
	if err := json.Unmarshal([]byte(out), &l); err != nil {
		t.Fatalf("not a silence list: %v\n%s", err, out)
	}
	return l
}

// TestSilenceRoundTripThroughAdminAPI: add, query, update, import and
// expire through a running server's admin API; every refusal says why and
// changes nothing.
func TestSilenceRoundTripThroughAdminAPI(t *testing.T) {
	slack := newFakeSlack(t)
	dir, addr := t.TempDir(), freeAddr(t)
	cfg := writeIncidentConfig(t, dir, addr, slack.srv.URL, "", `
rules:
  - name: spam
    match: {codes: [131048]}
    actions:
      - slack: {channel: "#whatsapp-ops"}
`)
	inst := start(t, cfg, addr)
	defer inst.stop()

	runCLI(t, "silence", "add", "--config", cfg, "--match", "code=131048", "--match", "phone_number_id!~1065.*",
		"--for", "2h", "--comment", "campaign paused", "--author", "maria")
	runCLI(t, "silence", "add", "--config", cfg, "--match", "waba_id=102290129340398", "--for", "1d", "--comment", "migration")

	l := silencesOf(t, runCLI(t, "silence", "query", "--config", cfg, "--match", "code=~1310.*", "--json"))
	if len(l) != 1 || l[0].Author != "maria" || l[0].State != "active" || len(l[0].Matchers) != 2 ||
		l[0].Matchers[1].Op != "!~" || l[0].Matchers[1].Value != "1065.*" {
		t.Fatalf("query by matcher = %+v", l)
	}
	id := l[0].ID
	if d := l[0].EndsAt.Sub(l[0].StartsAt); d != 2*time.Hour {
		t.Errorf("--for 2h lasts %v", d)
	}
	if l := silencesOf(t, runCLI(t, "silence", "query", "--config", cfg, "--text", "MIGRATION", "--json")); len(l) != 1 || l[0].Comment != "migration" {
		t.Errorf("query by text = %+v", l)
	}
	if out := runCLI(t, "silence", "query", "--config", cfg, "--state", "expired"); !strings.Contains(out, "no silences") {
		t.Errorf("query of expired ones: %s", out)
	}

	// update: extend and edit in place.
	before := l[0].EndsAt
	runCLI(t, "silence", "update", id, "--config", cfg, "--extend", "1h", "--comment", "campaign still paused")
	l = silencesOf(t, runCLI(t, "silence", "query", "--config", cfg, "--match", "code=131048", "--json"))
	if len(l) != 1 || l[0].ID != id || l[0].Comment != "campaign still paused" || !l[0].EndsAt.Equal(before.Add(time.Hour)) {
		t.Fatalf("after update: %+v (end was %v)", l, before)
	}

	// The JSON query prints is what import reads: a round trip.
	all := runCLI(t, "silence", "query", "--config", cfg, "--json")
	file := filepath.Join(dir, "silences.json")
	if err := os.WriteFile(file, []byte(all), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := runCLI(t, "silence", "import", "--config", cfg, file); !strings.Contains(out, "2 silences imported") {
		t.Errorf("import: %s", out)
	}
	l = silencesOf(t, runCLI(t, "silence", "query", "--config", cfg, "--json"))
	if len(l) != 4 || l[2].Comment != "campaign still paused" || l[2].Matchers[1].Op != "!~" || l[2].ID == id {
		t.Fatalf("after import: %+v", l)
	}

	// expire: the state says so.
	runCLI(t, "silence", "expire", id, "--config", cfg)
	l = silencesOf(t, runCLI(t, "silence", "query", "--config", cfg, "--state", "expired", "--json"))
	if len(l) != 1 || l[0].ID != id {
		t.Errorf("expired: %+v", l)
	}

	// Refusals, each with its reason; nothing is added.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--match", "code=~.*", "--for", "1h", "--comment", "x"}, "would silence every event"},
		{[]string{"--match", "code=~131048)|(.*", "--for", "1h", "--comment", "x"}, "bad regular expression"},
		{[]string{"--match", "code=abc", "--for", "1h", "--comment", "x"}, "can never match"},
		{[]string{"--match", "phone!~1", "--for", "1h", "--comment", "x"}, `"phone" is not an event field`},
		{[]string{"--match", "code=131048", "--for", "1h"}, "needs a comment"},
		{[]string{"--match", "code=131048", "--for", "1 hour", "--comment", "x"}, `invalid argument "1 hour" for "--for" flag`},
	} {
		out, err := exec.Command(binPath, append([]string{"silence", "add", "--config", cfg}, tc.args...)...).CombinedOutput()
		if err == nil || !strings.Contains(string(out), tc.want) {
			t.Errorf("silence add %v: %v\n%s\nwant %q", tc.args, err, out, tc.want)
		}
	}
	bad := `[{"matchers":["code=131026"],"for":"1h","comment":"ok","author":"a"},{"matchers":["code=~.*"],"for":"1h","comment":"bad","author":"a"}]`
	if err := os.WriteFile(file, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(binPath, "silence", "import", "--config", cfg, file).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "silence 2:") || !strings.Contains(string(out), "nothing was changed") {
		t.Errorf("import with one bad silence: %v\n%s", err, out)
	}
	if l := silencesOf(t, runCLI(t, "silence", "query", "--config", cfg, "--json")); len(l) != 4 {
		t.Errorf("a refused import changed the silences: %d now", len(l))
	}
}
