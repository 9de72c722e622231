package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wabridge/wabridge/internal/incident"
	"github.com/wabridge/wabridge/internal/pgtest"
)

// The three-replica test: real `wabridge serve` processes on loopback
// sharing one real PostgreSQL, the strict fake Slack and Jira, deliveries
// posted round-robin with Meta's redeliveries sent to other replicas, and
// one replica SIGKILLed mid-burst and restarted.

const replicaPartitions = 16

const replicaRules = `
rules:
  - name: failed-sends
    match: {kinds: [status], statuses: [failed]}
    group_by: [code, phone_number_id]
    actions:
      - slack: {channel: "#whatsapp-ops"}
      - jira: {project: WAOPS}
`

type replicaProc struct {
	*instance
	id, dir, cfg string
}

func writeReplicaConfig(t *testing.T, dir, addr, id, dsn, slackURL, jiraURL string) string {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), []byte(replicaRules), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`
server: {listen: %q, shutdown_timeout: 5s}
storage:
  backend: postgres
  postgres: {dsn: %q, partitions: %d, lease_ttl: 3s, replica_id: %q, silence_reload: 1s}
log: {level: debug, format: json}
sources:
  - {name: meta, type: meta, app_secret: %q, verify_token: e2e-verify}
notifiers:
  slack: {token: xoxb-good, api_url: %q, channel: "#whatsapp-ops", timeout: 2s}
  jira: {url: %q, user: ops@example.com, token: jira-e2e-token, project: WAOPS, api_type: datacenter, resolve_transition: Done, timeout: 2s, search_delay: 1s}
pipeline: {backoff_base: 100ms, backoff_max: 1s, max_attempts: 50, max_age: 1h}
rules: {files: [rules.yaml]}
`, addr, dsn, replicaPartitions, id, e2eSecret, slackURL+"/api/", jiraURL)
	p := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// wabaFailed is a Meta delivery of one failed status from phone number
// phone of account waba; id names the status (the event id Meta keeps
// across redeliveries).
func wabaFailed(waba, phone, id string) []byte {
	return []byte(fmt.Sprintf(`{"object":"whatsapp_business_account","entry":[{"id":%q,"changes":[{"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":%q},"statuses":[{"id":"wamid.%s","status":"failed","timestamp":"1751142888","recipient_id":"16505557000","errors":[{"code":131048,"title":"Spam rate limit hit","message":"Spam rate limit hit"}]}]},"field":"messages"}]}]}`, waba, phone, id))
}

// postTo posts a delivery and reports its status; 0 when the replica did
// not answer (it is down).
func postTo(addr string, body []byte) int {
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/webhooks/meta", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Hub-Signature-256", sign(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// metricOf sums a metric's samples on one replica; -1 when it does not answer.
func metricOf(addr, name string) float64 {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	total := 0.0
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, name+" ") && !strings.HasPrefix(line, name+"{") {
			continue
		}
		f := strings.Fields(line)
		v, _ := strconv.ParseFloat(f[len(f)-1], 64)
		total += v
	}
	return total
}

func operatorCmd(t *testing.T, cfg string, args ...string) ([]byte, error) {
	t.Helper()
	return exec.Command(binPath, append(args, "--config", cfg)...).CombinedOutput()
}

var occurrences = regexp.MustCompile(`\*Occurrences\*\\n(\d+)`)

func TestThreeReplicasShareOneDatabase(t *testing.T) {
	dsn := pgtest.DSN(t)
	slack, jira := newFakeSlack(t), newFakeJira(t)
	reps := make([]*replicaProc, 3)
	for i := range reps {
		dir := t.TempDir()
		addr := freeAddr(t)
		id := fmt.Sprintf("r%d", i+1)
		reps[i] = &replicaProc{id: id, dir: dir, cfg: writeReplicaConfig(t, dir, addr, id, dsn, slack.srv.URL, jira.srv.URL)}
		reps[i].instance = start(t, reps[i].cfg, addr)
	}
	logs := func() string {
		var b strings.Builder
		for _, r := range reps {
			var keep []string
			for _, l := range strings.Split(r.logs.String(), "\n") {
				if !strings.Contains(l, `"path":"/metrics"`) && !strings.Contains(l, `"msg":"event"`) {
					keep = append(keep, l)
				}
			}
			fmt.Fprintf(&b, "--- %s\n%s\n", r.id, lastLines(strings.Join(keep, "\n"), 60))
		}
		return b.String()
	}
	owned := func(rs ...*replicaProc) (sum float64, each []float64) {
		for _, r := range rs {
			n := metricOf(r.addr, "wabridge_partitions_owned")
			each = append(each, n)
			sum += n
		}
		return sum, each
	}
	waitFor(t, "the partitions shared by the three", 30*time.Second, func() bool {
		sum, each := owned(reps...)
		return sum == replicaPartitions && each[0] > 0 && each[1] > 0 && each[2] > 0
	}, logs)

	// acked counts, per phone number, the distinct events a replica
	// acknowledged: what every incident must count in the end.
	var mu sync.Mutex
	acked := map[string]map[string]bool{}
	send := func(r *replicaProc, waba, phone, id string) {
		if code := postTo(r.addr, wabaFailed(waba, phone, id)); code == 200 {
			mu.Lock()
			if acked[phone] == nil {
				acked[phone] = map[string]bool{}
			}
			acked[phone][id] = true
			mu.Unlock()
		} else if code != 0 && code != 503 {
			t.Errorf("%s answered %d", r.id, code)
		}
	}
	const incidents = 12
	phone := func(i int) string { return fmt.Sprintf("1065403522%02d", i) }
	waba := func(i int) string { return fmt.Sprintf("1022901293%02d", i) }

	// Each incident's first event, redelivered by Meta to the next replica.
	for i := range incidents {
		id := fmt.Sprintf("first-%d", i)
		send(reps[i%3], waba(i), phone(i), id)
		send(reps[(i+1)%3], waba(i), phone(i), id)
	}
	waitFor(t, "one message and one ticket per incident", 30*time.Second, func() bool {
		return len(slack.posted()) == incidents && len(jira.Keys()) == incidents
	}, logs)

	// Bursts of every incident spread over the replicas, concurrently; r2
	// is SIGKILLed in the middle of them.
	var killedAt time.Time
	var wg sync.WaitGroup
	for round := range 8 {
		if round == 3 {
			killedAt = time.Now()
			reps[1].kill()
		}
		for i := range incidents {
			wg.Add(1)
			go func() {
				defer wg.Done()
				id := fmt.Sprintf("burst-%d-%d", i, round)
				r := reps[(i+round)%3]
				send(r, waba(i), phone(i), id)
				send(reps[(i+round+2)%3], waba(i), phone(i), id) // a redelivery elsewhere
			}()
		}
		wg.Wait()
	}
	waitFor(t, "r1 and r3 to take r2's partitions", 30*time.Second, func() bool {
		sum, _ := owned(reps[0], reps[2])
		return sum == replicaPartitions
	}, logs)
	takeover := time.Since(killedAt)
	t.Logf("takeover: r1 and r3 own every partition %v after r2 was killed (lease_ttl 3s)", takeover.Round(10*time.Millisecond))

	reps[1].instance = start(t, reps[1].cfg, reps[1].addr)
	for i := range incidents {
		send(reps[1], waba(i), phone(i), fmt.Sprintf("after-%d", i))
	}

	// Every acknowledged event counted, once, in its incident.
	var list []incident.Incident
	waitFor(t, "every acknowledged event counted", 60*time.Second, func() bool {
		out, err := operatorCmd(t, reps[2].cfg, "incidents", "--json")
		if err != nil {
			return false
		}
		list = nil
		if json.Unmarshal(out, &list) != nil || len(list) != incidents {
			return false
		}
		mu.Lock()
		defer mu.Unlock()
		for _, inc := range list {
			if inc.Count != len(acked[inc.Event.PhoneNumberID]) {
				return false
			}
		}
		return true
	}, logs)
	waitFor(t, "the outbox empty", 60*time.Second, func() bool {
		return metricOf(reps[0].addr, "wabridge_outbox_depth") == 0
	}, func() string { return logs() + outboxRows(dsn) })

	// The audit trail, read from the database by the CLI of any replica.
	if out, err := operatorCmd(t, reps[1].cfg, "audit", "--since", "1h", "--json"); err != nil || !strings.Contains(string(out), `"source":"meta"`) {
		t.Errorf("audit from the database: %v\n%s", err, lastLines(string(out), 5))
	}
	if got := len(slack.posted()); got != incidents {
		t.Errorf("%d Slack messages, want exactly one per incident (%d)", got, incidents)
	}
	if got := len(jira.Keys()); got != incidents {
		t.Errorf("%d Jira tickets, want exactly one per incident (%d)", got, incidents)
	}
	// Updates in order: each message's occurrences never go back, and the
	// last update shows the incident's count.
	final := map[string]int{}
	for _, inc := range list {
		final[inc.Event.PhoneNumberID] = inc.Count
	}
	counts := map[string][]int{}
	for _, c := range slack.CallsOf("chat.update") {
		if c.Error != "" {
			continue
		}
		m := occurrences.FindStringSubmatch(c.Form.Get("blocks"))
		if m == nil {
			continue
		}
		n, _ := strconv.Atoi(m[1])
		counts[c.Form.Get("ts")] = append(counts[c.Form.Get("ts")], n)
	}
	for ts, cs := range counts {
		for k := 1; k < len(cs); k++ {
			if cs[k] < cs[k-1] {
				t.Errorf("message %s: occurrences went back: %v", ts, cs)
				break
			}
		}
	}
	maxCount := 0
	for _, cs := range counts {
		maxCount = max(maxCount, cs[len(cs)-1])
	}
	if want := final[phone(0)]; maxCount < want {
		t.Errorf("no update shows the final count %d: %v", want, counts)
	}

	// Incident actions from the CLI with each replica's config: each
	// incident is acknowledged with one, refused to a second person with
	// another, and resolved with the third. The CLI on the database owns no
	// partition, so each is forwarded to the replica owning the incident.
	for i, inc := range list {
		fp := inc.Fingerprint
		if out, err := operatorCmd(t, reps[i%3].cfg, "incidents", "ack", fp, "--by", "ana"); err != nil || !strings.Contains(string(out), "acknowledged by ana") {
			t.Fatalf("ack of %s on %s: %v\n%s%s", fp, reps[i%3].id, err, out, logs())
		}
		if out, err := operatorCmd(t, reps[(i+1)%3].cfg, "incidents", "ack", fp, "--by", "bob"); err == nil || !strings.Contains(string(out), "already acknowledged") {
			t.Fatalf("second person's ack of %s on %s: %v, want refused\n%s", fp, reps[(i+1)%3].id, err, out)
		}
		if out, err := operatorCmd(t, reps[(i+2)%3].cfg, "incidents", "resolve", fp); err != nil || !strings.Contains(string(out), "resolved") ||
			strings.Contains(string(out), "no server is running") {
			t.Fatalf("resolve of %s on %s: %v\n%s%s", fp, reps[(i+2)%3].id, err, out, logs())
		}
	}
	if out, err := operatorCmd(t, reps[0].cfg, "incidents", "--json"); err != nil || strings.TrimSpace(string(out)) != "[]" {
		t.Errorf("incidents open after resolving them all: %v\n%s", err, lastLines(string(out), 5))
	}
	if conn, err := pgx.Connect(t.Context(), dsn); err != nil {
		t.Error(err)
	} else {
		var forwarded, open int
		if err := conn.QueryRow(t.Context(), "SELECT count(*), count(*) FILTER (WHERE NOT done) FROM wabridge.commands").Scan(&forwarded, &open); err != nil {
			t.Error(err)
		}
		_ = conn.Close(context.Background())
		if forwarded == 0 || open != 0 {
			t.Errorf("%d actions forwarded to the incident's owner, %d not done; want some, all done", forwarded, open)
		}
		t.Logf("%d of %d incident actions forwarded to the replica owning the incident", forwarded, 3*len(list))
	}
	waitFor(t, "the outbox empty after the actions", 60*time.Second, func() bool {
		return metricOf(reps[0].addr, "wabridge_outbox_depth") == 0
	}, func() string { return logs() + outboxRows(dsn) })

	slack.checkAccepted(t)
	jira.checkAccepted(t)
	dups := 0.0
	for _, r := range reps {
		dups += metricOf(r.addr, "wabridge_duplicates_suppressed_total")
	}
	t.Logf("%d incidents, %d events acknowledged, %v redeliveries suppressed; %d messages, %d tickets",
		incidents, func() int {
			n := 0
			for _, ids := range acked {
				n += len(ids)
			}
			return n
		}(), dups, len(slack.posted()), len(jira.Keys()))

	// A silence added through one replica holds on the others.
	out, err := operatorCmd(t, reps[0].cfg, "silence", "add", "--match", "phone_number_id=106540352299", "--for", "1h", "--comment", "maintenance")
	if err != nil {
		t.Fatalf("silence add: %v\n%s", err, out)
	}
	waitFor(t, "every replica to apply the silence", 30*time.Second, func() bool {
		for _, r := range reps {
			if metricOf(r.addr, "wabridge_silences_loaded") != 1 {
				return false
			}
		}
		return true
	}, logs)
	posts := len(slack.posted())
	for k, r := range []*replicaProc{reps[1], reps[2]} {
		send(r, "102290129399", "106540352299", fmt.Sprintf("silenced-%d", k))
	}
	waitFor(t, "the silenced events decided", 30*time.Second, func() bool {
		n := 0.0
		for _, r := range reps {
			n += metricOf(r.addr, `wabridge_rule_decisions_total{outcome="silenced",rule="failed-sends"}`)
		}
		return n == 2
	}, logs)
	if got := len(slack.posted()); got != posts {
		t.Errorf("a silenced event was sent: %d messages, was %d", got, posts)
	}

	// A dead letter replayed from two replicas at once sends once.
	slack.FailAPI("chat.postMessage", 1, "channel_not_found")
	send(reps[0], "102290129398", "106540352298", "to-dead")
	var dead []map[string]any
	waitFor(t, "a dead letter", 30*time.Second, func() bool {
		out, _ := exec.Command(binPath, "dlq", "list", "--json", "--config", reps[2].cfg).Output()
		dead = nil
		_ = json.Unmarshal(out, &dead)
		return len(dead) == 1
	}, logs)
	posts = len(slack.posted())
	id := fmt.Sprint(dead[0]["id"])
	results := make([]error, 2)
	outs := make([][]byte, 2)
	for k, r := range []*replicaProc{reps[1], reps[2]} {
		wg.Add(1)
		go func() { defer wg.Done(); outs[k], results[k] = operatorCmd(t, r.cfg, "dlq", "replay", id) }()
	}
	wg.Wait()
	if results[0] != nil && results[1] != nil {
		t.Errorf("no replay succeeded:\n%s\n%s", outs[0], outs[1])
	}
	if got := len(slack.posted()) - posts; got != 1 {
		t.Errorf("the replays sent %d messages, want 1:\n%s\n%s", got, outs[0], outs[1])
	}
	if out, _ := exec.Command(binPath, "dlq", "list", "--json", "--config", reps[0].cfg).Output(); strings.Contains(string(out), `"`+id+`"`) {
		t.Errorf("the replayed dead letter is still listed: %s", out)
	}
}

// outboxRows describes what waits in the outbox, for a failure message.
func outboxRows(dsn string) string {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return "outbox: " + err.Error()
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, "SELECT id, key, next_attempt, due, token, claim_until, in_flight, doc FROM wabridge.outbox ORDER BY id")
	if err != nil {
		return "outbox: " + err.Error()
	}
	defer rows.Close()
	var b strings.Builder
	fmt.Fprintf(&b, "outbox at %d:\n", time.Now().UnixNano())
	for rows.Next() {
		var id, next, due, token, until, inFlight int64
		var key string
		var doc []byte
		if err := rows.Scan(&id, &key, &next, &due, &token, &until, &inFlight, &doc); err != nil {
			return b.String() + err.Error()
		}
		fmt.Fprintf(&b, "  %d %s next=%d due=%d token=%d until=%d in_flight=%d %s\n", id, key, next, due, token, until, inFlight, lastLines(string(doc), 1)[:min(len(doc), 400)])
	}
	return b.String()
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// TestDatabaseAwayAnswers503: while the database is away, /readyz is 503
// and a webhook is answered 503 with Retry-After (the provider retries);
// once it is back, the replica is ready again and what it acknowledges is
// alerted.
func TestDatabaseAwayAnswers503(t *testing.T) {
	pgtest.Shared(t) // skips (or fails in CI) where PostgreSQL cannot run
	if os.Getenv(pgtest.EnvDSN) != "" {
		t.Skip("needs a PostgreSQL server of its own to stop and start; " + pgtest.EnvDSN + " names a shared one")
	}
	pg, err := pgtest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pg.Stop)
	dsn, err := pg.CreateDatabase(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	slack, jira := newFakeSlack(t), newFakeJira(t)
	dir, addr := t.TempDir(), freeAddr(t)
	inst := start(t, writeReplicaConfig(t, dir, addr, "solo", dsn, slack.srv.URL, jira.srv.URL), addr)
	if code := postTo(addr, wabaFailed("102290129301", "106540352201", "before")); code != 200 {
		t.Fatalf("webhook with the database up: %d", code)
	}

	pg.Kill()
	ready := func() int {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	waitFor(t, "/readyz 503 with the database away", 30*time.Second, func() bool { return ready() == 503 }, inst.logs.String)
	body := wabaFailed("102290129302", "106540352202", "while-away")
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/webhooks/meta", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Hub-Signature-256", sign(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Errorf("webhook with the database away: %d, Retry-After %q; want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}

	if err := pg.Restart(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "/readyz 200 with the database back", 60*time.Second, func() bool { return ready() == 200 }, inst.logs.String)
	// The provider's retry of the refused delivery.
	waitFor(t, "the retried delivery acknowledged", 30*time.Second, func() bool { return postTo(addr, body) == 200 }, inst.logs.String)
	waitFor(t, "both incidents alerted", 30*time.Second, func() bool { return len(slack.posted()) == 2 && len(jira.Keys()) == 2 }, inst.logs.String)
	slack.checkAccepted(t)
	jira.checkAccepted(t)
}
