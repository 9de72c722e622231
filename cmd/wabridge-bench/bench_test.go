package main

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/wabridge/wabridge/internal/config"
	"github.com/wabridge/wabridge/internal/event"
	"github.com/wabridge/wabridge/internal/whatsapp"
)

func TestMain(m *testing.M) {
	gin.SetMode(gin.ReleaseMode)
	os.Exit(m.Run())
}

func TestPercentile(t *testing.T) {
	ms := func(n ...int) []time.Duration {
		d := make([]time.Duration, len(n))
		for i, v := range n {
			d[i] = time.Duration(v) * time.Millisecond
		}
		return d
	}
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(i+1) * time.Millisecond
	}
	for _, tc := range []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 99, 0},
		{"one", ms(7), 50, 7 * time.Millisecond},
		{"one p99", ms(7), 99, 7 * time.Millisecond},
		{"p50 of 1..100", hundred, 50, 50 * time.Millisecond},
		{"p99 of 1..100", hundred, 99, 99 * time.Millisecond},
		{"p100 of 1..100", hundred, 100, 100 * time.Millisecond},
		{"p99 of two is the larger", ms(1, 2), 99, 2 * time.Millisecond},
		{"p50 of two is the smaller", ms(1, 2), 50, 1 * time.Millisecond},
		{"p0 clamps to the smallest", ms(3, 4, 5), 0, 3 * time.Millisecond},
		{"over 100 clamps to the largest", ms(3, 4, 5), 150, 5 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := percentile(tc.sorted, tc.p); got != tc.want {
				t.Errorf("percentile(%v, %v) = %v, want %v", tc.sorted, tc.p, got, tc.want)
			}
		})
	}
}

func TestSummarizeSortsAndKeepsInput(t *testing.T) {
	in := []time.Duration{5, 1, 4, 2, 3}
	l := summarize(in)
	if l.n != 5 || l.p50 != 3 || l.p99 != 5 || l.max != 5 {
		t.Errorf("summarize = %+v, want n=5 p50=3 p99=5 max=5", l)
	}
	if in[0] != 5 {
		t.Errorf("summarize sorted its input: %v", in)
	}
}

func TestGeneratorSignsAndParses(t *testing.T) {
	secret := []byte("bench-secret")
	kinds := map[string]event.Kind{
		shapeOK: event.KindStatus, shapeFailed: event.KindStatus, shapeBatch: event.KindStatus, shapeBlocked: event.KindStatus,
		shapeIncoming: event.KindMessage, shapeAccount: event.KindAccountUpdate, shapeTemplate: event.KindTemplate,
	}
	for _, m := range mixes {
		t.Run(m.name, func(t *testing.T) {
			total := 0
			for _, w := range m.shapes {
				total += w.weight
			}
			if total != 1000 {
				t.Fatalf("weights add up to %d per thousand, want 1000", total)
			}
			g := &generator{tag: "test", timestamp: 1751142888, mix: m}
			const n = 4000
			shapes := map[string]int{}
			ids := map[string]uint64{}
			codes := map[int]bool{}
			for seq := uint64(1); seq <= n; seq++ {
				body := g.Body(seq)
				if !bytes.Equal(body, g.Body(seq)) {
					t.Fatalf("delivery %d differs between two calls; the e2e correlation relies on it", seq)
				}
				if err := whatsapp.VerifySignature(secret, body, whatsapp.Sign(secret, body)); err != nil {
					t.Fatalf("delivery %d: signature does not verify: %v", seq, err)
				}
				evs, err := whatsapp.Parse("meta", body, time.Now())
				if err != nil {
					t.Fatalf("delivery %d does not parse: %v\n%s", seq, err, body)
				}
				shape := g.shape(seq)
				shapes[shape]++
				if len(evs) != events(shape) {
					t.Fatalf("delivery %d (%s) has %d events, want %d", seq, shape, len(evs), events(shape))
				}
				for _, e := range evs {
					if want, ok := kinds[shape]; ok && e.Kind != want {
						t.Fatalf("delivery %d (%s): event of kind %s (%s), want %s: the generator wrote a shape the parser does not know\n%s",
							seq, shape, e.Kind, e.Attributes[whatsapp.AttrParseError], want, body)
					}
					if e.Kind == event.KindStatus {
						if e.Status == "failed" && e.Code == 0 {
							t.Fatalf("delivery %d: failed status without a code", seq)
						}
						if e.PhoneNumberID == "" || e.RecipientID == "" || e.MessageID == "" {
							t.Fatalf("delivery %d: event misses ids: %+v", seq, e)
						}
					}
					if e.WABAID == "" {
						t.Fatalf("delivery %d: event without its account: %+v", seq, e)
					}
					if (e.Code == 131031) != (e.WABAID == blockedWABA) {
						t.Fatalf("delivery %d: code %d from account %s; 131031 must come only from the locked account", seq, e.Code, e.WABAID)
					}
					if prev, dup := ids[e.ID]; dup {
						t.Fatalf("event id %s of delivery %d repeats delivery %d: the server would drop it as a redelivery", e.ID, seq, prev)
					}
					ids[e.ID] = seq
					codes[e.Code] = true
				}
			}
			// Each shape's share is its weight, within a few points.
			for _, w := range m.shapes {
				got := float64(shapes[w.shape]) / n * 1000
				if d := got - float64(w.weight); d > 15 || d < -15 || shapes[w.shape] == 0 {
					t.Errorf("shape %s: %.0f per thousand, want about %d", w.shape, got, w.weight)
				}
			}
			for _, c := range []int{0, 131026, 131048, 130429} {
				if !codes[c] {
					t.Errorf("%d deliveries never carry code %d", n, c)
				}
			}
		})
	}
}

func TestMixNamed(t *testing.T) {
	if m, err := mixNamed("outage"); err != nil || m.name != "outage" {
		t.Errorf("mixNamed(outage) = %v, %v", m.name, err)
	}
	if _, err := mixNamed("busy"); err == nil || !strings.Contains(err.Error(), "realistic, outage") {
		t.Errorf("mixNamed(busy): err = %v, want one listing the mixes", err)
	}
	if (&generator{}).shape(1) == "" {
		t.Error("the zero generator picks no shape")
	}
}

func TestGeneratorTagSeparatesPhases(t *testing.T) {
	a := &generator{tag: "durable", timestamp: 1}
	b := &generator{tag: "nosync", timestamp: 1}
	ea, _ := whatsapp.Parse("meta", a.Body(1), time.Now())
	eb, _ := whatsapp.Parse("meta", b.Body(1), time.Now())
	if len(ea) == 0 || len(eb) == 0 || ea[0].ID == eb[0].ID {
		t.Errorf("delivery 1 of two phases has the same first event id")
	}
}

func TestFinalLineFormat(t *testing.T) {
	s := summary{
		mix: "realistic", bareRPS: 7294.4, wabridgeRPS: 3650.6, sustainedRPS: 2500.2,
		p99Ack: 4567 * time.Microsecond, e2eP99: 81234 * time.Microsecond,
		rssMB: 47.55, rssAnonMB: 30.25, rssFileMB: 17.25, durableRPS: 3650.6, nosyncRPS: 5000,
	}
	got := finalLine(s)
	want := "bench: bare_rps=7294 wabridge_rps=3651 ratio=0.50 sustained_rps=2500 sustained_ratio=0.34 p99_ack_ms=4.57 e2e_p99_ms=81.23 rss_mb=47.5 mix=realistic"
	if got != want && got != strings.Replace(want, "47.5", "47.6", 1) {
		t.Errorf("finalLine =\n%s\nwant\n%s", got, want)
	}
	re := regexp.MustCompile(`^bench: bare_rps=\d+ wabridge_rps=\d+ ratio=\d+\.\d\d sustained_rps=\d+ sustained_ratio=\d+\.\d\d p99_ack_ms=\d+\.\d\d e2e_p99_ms=\d+\.\d\d rss_mb=\d+\.\d mix=[a-z]+$`)
	if !re.MatchString(got) {
		t.Errorf("finalLine %q does not match %s", got, re)
	}
	if got, want := syncLine(s), "bench: durable_rps=3651 nosync_rps=5000 durable_vs_nosync=0.73"; got != want {
		t.Errorf("syncLine = %q, want %q", got, want)
	}
	if got, want := memoryLine(s), "bench: mix=realistic rss_peak_mb=47.5 rss_anon_peak_mb=30.2 rss_file_peak_mb=17.2"; got != strings.Replace(want, "47.5", "47.6", 1) && got != want {
		t.Errorf("memoryLine = %q, want %q", got, want)
	}
	if got := finalLine(summary{}); !strings.Contains(got, "ratio=0.00") || !strings.Contains(got, "sustained_ratio=0.00") {
		t.Errorf("finalLine with no bare figure = %q, want ratio=0.00 rather than NaN", got)
	}
}

func TestGoals(t *testing.T) {
	ok := summary{mix: "realistic", bareRPS: 100, wabridgeRPS: 60, sustainedRPS: 40, p99Ack: 5 * time.Millisecond, e2eP99: 50 * time.Millisecond, rssMB: 40}
	if m := goals(ok); len(m) != 0 {
		t.Errorf("goals(%+v) = %v, want none missed", ok, m)
	}
	bad := summary{mix: "realistic", bareRPS: 100, wabridgeRPS: 10, sustainedRPS: 30, p99Ack: 10 * time.Millisecond, e2eP99: 2 * time.Second, rssMB: 150}
	if m := goals(bad); len(m) != 5 {
		t.Errorf("goals(%+v) = %v, want all five missed", bad, m)
	}
	// The outage mix is held to its sustained rate only.
	outage := summary{mix: "outage", bareRPS: 100, wabridgeRPS: 10, sustainedRPS: 26, p99Ack: time.Second, rssMB: 500}
	if m := goals(outage); len(m) != 0 {
		t.Errorf("goals(%+v) = %v, want none missed", outage, m)
	}
	outage.sustainedRPS = 24
	if m := goals(outage); len(m) != 1 || !strings.Contains(m[0], "outage mix: sustained ratio 0.24 < 0.25") {
		t.Errorf("goals(%+v) = %v, want the outage sustained ratio missed", outage, m)
	}
}

func TestParseProgress(t *testing.T) {
	text := `# HELP wabridge_deliveries_processed_total Deliveries taken out of the inbox.
# TYPE wabridge_deliveries_processed_total counter
wabridge_deliveries_processed_total{result="failed"} 2
wabridge_deliveries_processed_total{result="processed"} 1.234e+06
wabridge_deliveries_processed_totally 99
wabridge_inbox_depth 7
wabridge_outbox_depth 0
wabridge_outbox_depth_other 5
`
	p, err := parseProgress([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	if p.processed != 1234002 || p.inbox != 7 || p.outbox != 0 {
		t.Errorf("parseProgress = %+v, want processed 1234002, inbox 7, outbox 0", p)
	}
	if _, err := parseProgress([]byte("go_goroutines 12\n")); err == nil {
		t.Error("metrics without the depths accepted")
	}
	if _, err := parseProgress([]byte("wabridge_inbox_depth x\nwabridge_outbox_depth 0\n")); err == nil {
		t.Error("a depth that is not a number accepted")
	}
}

func TestReadNotifications(t *testing.T) {
	good := `{"time":"2026-01-02T03:04:05.123456789Z","event_id":"meta-st-a","rule":"x"}
{"time":"2026-01-02T03:04:06Z","event_id":"meta-st-a"}

{"time":"2026-01-02T03:04:07Z","event_id":"meta-st-b","op":"open"}
{"time":"2026-01-02T03:04:09Z","event_id":"meta-st-b","op":"update"}
`
	notes, lines, err := readNotifications(strings.NewReader(good))
	if err != nil {
		t.Fatal(err)
	}
	if lines != 4 || len(notes["meta-st-a"]) != 2 || len(notes["meta-st-b"]) != 1 {
		t.Errorf("lines=%d notes=%v, want 4 lines, two for a and one for b (its update is not its latency)", lines, notes)
	}
	for _, bad := range []struct{ name, in, want string }{
		{"not json", "{\"time\":\n", "line 1"},
		{"no event id", `{"time":"2026-01-02T03:04:05Z"}`, "no event_id"},
		{"no time", `{"event_id":"x"}`, "no event_id or time"},
	} {
		t.Run(bad.name, func(t *testing.T) {
			_, _, err := readNotifications(strings.NewReader(bad.in))
			if err == nil || !strings.Contains(err.Error(), bad.want) {
				t.Errorf("err = %v, want one containing %q", err, bad.want)
			}
		})
	}
}

func TestCorrelate(t *testing.T) {
	g := &generator{tag: "c", timestamp: 1751142888}
	var seq uint64
	for seq = 1; g.shape(seq) != shapeFailed; seq++ {
	}
	events, err := whatsapp.Parse("meta", g.Body(seq), time.Now())
	if err != nil || len(events) != 1 {
		t.Fatalf("parse: %v, %d events", err, len(events))
	}
	sent := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	notes := map[string][]time.Time{
		events[0].ID: {sent.Add(12 * time.Millisecond), sent.Add(30 * time.Millisecond)},
		"other":      {sent.Add(time.Hour)},
	}
	samples := []sample{
		{seq: seq, start: sent, ok: true},
		{seq: seq + 1000, start: sent, ok: false}, // failed requests carry nothing
	}
	d, err := correlate(samples, g, notes)
	if err != nil {
		t.Fatal(err)
	}
	if len(d) != 2 || d[0] != 12*time.Millisecond || d[1] != 30*time.Millisecond {
		t.Errorf("correlate = %v, want [12ms 30ms]", d)
	}
}

func TestParseVmHWM(t *testing.T) {
	status := "Name:\twabridge\nVmPeak:\t  900000 kB\nVmHWM:\t   51200 kB\nVmRSS:\t   40000 kB\nRssAnon:\t   10240 kB\n"
	got, err := parseVmHWM([]byte(status))
	if err != nil || got != 50 {
		t.Errorf("parseVmHWM = %v, %v; want 50 MiB", got, err)
	}
	if got, err := statusMiB([]byte(status), "RssAnon"); err != nil || got != 10 {
		t.Errorf("RssAnon = %v, %v; want 10 MiB", got, err)
	}
	if _, err := statusMiB([]byte(status), "RssFile"); err == nil || !strings.Contains(err.Error(), "RssFile") {
		t.Errorf("missing RssFile: err = %v, want one naming it", err)
	}
	for _, bad := range []string{"Name:\tx\n", "VmHWM:\t12 MB\n", "VmHWM:\tlots kB\n"} {
		if _, err := parseVmHWM([]byte(bad)); err == nil {
			t.Errorf("parseVmHWM(%q) accepted a status without a usable VmHWM", bad)
		}
	}
}

func TestBareHandler(t *testing.T) {
	secret := []byte("bench-secret")
	srv := httptest.NewServer(bareHandler(secret))
	defer srv.Close()
	body := (&generator{tag: "bare", timestamp: 1}).Body(1)
	for _, tc := range []struct {
		name string
		sig  string
		body []byte
		want int
	}{
		{"signed", whatsapp.Sign(secret, body), body, http.StatusOK},
		{"wrong secret", whatsapp.Sign([]byte("x"), body), body, http.StatusUnauthorized},
		{"no signature", "", body, http.StatusUnauthorized},
		{"over 3 MiB", "sha256=00", bytes.Repeat([]byte("a"), maxBody+1), http.StatusRequestEntityTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPost, srv.URL+"/webhooks/meta", bytes.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if tc.sig != "" {
				req.Header.Set(whatsapp.SignatureHeader, tc.sig)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tc.want {
				b, _ := io.ReadAll(resp.Body)
				t.Errorf("status %d (%s), want %d", resp.StatusCode, b, tc.want)
			}
		})
	}
}

func TestParseOptions(t *testing.T) {
	env := func(m map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
	}
	o, err := parseOptions(nil, env(map[string]string{"BENCH_SECONDS": "3", "BENCH_CONCURRENCY": "8", "BENCH_RATE": "500"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.seconds != 3*time.Second || o.concurrency != 8 || o.rate != 500 || o.warmup != time.Second {
		t.Errorf("options = %+v", o)
	}
	if len(o.mixes) != 2 || o.mixes[0].name != "realistic" || o.mixes[1].name != "outage" {
		t.Errorf("default mixes = %v, want realistic and outage", o.mixes)
	}
	o, err = parseOptions([]string{"-mix", "outage"}, env(map[string]string{"BENCH_MIX": "realistic"}), io.Discard)
	if err != nil || len(o.mixes) != 1 || o.mixes[0].name != "outage" {
		t.Errorf("-mix outage: %v, %v", o.mixes, err)
	}
	o, err = parseOptions([]string{"-duration", "2s", "-rate", "100"}, env(map[string]string{"BENCH_RATE": "500"}), io.Discard)
	if err != nil || o.seconds != 2*time.Second || o.rate != 100 {
		t.Errorf("flags should win over the environment: %+v, %v", o, err)
	}
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want []string
	}{
		{"words", nil, map[string]string{"BENCH_SECONDS": "ten", "BENCH_RATE": "-1"}, []string{"BENCH_SECONDS", "BENCH_RATE"}},
		{"zero flags", []string{"-concurrency", "0", "-rate", "0"}, nil, []string{"concurrency 0", "rate 0"}},
		{"stray argument", []string{"serve"}, nil, []string{`unexpected argument "serve"`}},
		{"bad warmup", nil, map[string]string{"BENCH_WARMUP": "soon"}, []string{"BENCH_WARMUP"}},
		{"unknown mix", []string{"-mix", "realistic,busy"}, nil, []string{`mix "busy"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseOptions(tc.args, env(tc.env), io.Discard)
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("err = %v, want it to name %q", err, w)
				}
			}
		})
	}
	if _, err := parseOptions([]string{"-h"}, env(nil), io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: err = %v, want flag.ErrHelp", err)
	}
}

func TestWabridgeConfig(t *testing.T) {
	b, err := wabridgeConfig("127.0.0.1:1234", "/tmp/x y/data", "/tmp/x y/n.jsonl", []string{"/r/a.yaml", "/r/b.yaml"}, "s3cret", true, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"listen: 127.0.0.1:1234", "no_sync: true", "unconfigured: log", "level: warn", "path: /tmp/x y/n.jsonl", "- /r/b.yaml"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("config lacks %q:\n%s", want, b)
		}
	}
	// The file must be one wabridge itself accepts: strict keys, valid values.
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatalf("wabridge rejects the bench config: %v\n%s", err, b)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("bench config does not validate: %v\n%s", err, b)
	}
	if !cfg.Storage.NoSync || cfg.Sources[0].AppSecret.Value() != "s3cret" {
		t.Errorf("config read back as %+v", cfg)
	}
}

func TestCollectorWindow(t *testing.T) {
	from := time.Date(2026, 1, 1, 0, 0, 1, 0, time.UTC)
	c := &collector{from: from, to: from.Add(10 * time.Second)}
	late := from.Add(30 * time.Second) // sent late, scheduled in the window
	c.add([]sample{
		{seq: 1, at: from.Add(-time.Millisecond), start: from, ok: true}, // warm-up
		{seq: 2, at: from, start: from, ok: true},
		{seq: 3, at: from.Add(5 * time.Second), start: late, ok: false},
		{seq: 4, at: from.Add(10 * time.Second), start: late, ok: true}, // after the window
	}, "answer 503")
	c.add(nil, "")
	if c.res.ok != 1 || c.res.failed != 1 || len(c.res.samples) != 2 {
		t.Errorf("ok=%d failed=%d samples=%d, want 1, 1, 2", c.res.ok, c.res.failed, len(c.res.samples))
	}
	if c.res.firstErr != "answer 503" {
		t.Errorf("firstErr = %q, want the first reported", c.res.firstErr)
	}
	c.res.window = 10 * time.Second
	if got := c.res.rps(); got != 0.1 {
		t.Errorf("rps = %v, want 0.1", got)
	}
}

func TestParseCPUTime(t *testing.T) {
	// A command name with a space and a parenthesis, as a process may set.
	stat := []byte("4242 (wab ridge)) S 1 4242 4242 0 -1 4194560 3000 0 0 0 250 125 0 0 20 0 9 0 100 700000000 5000 18446744073709551615")
	if got, want := parseCPUTime(stat), 3750*time.Millisecond; got != want {
		t.Errorf("parseCPUTime = %v, want %v (utime 250 + stime 125 ticks)", got, want)
	}
	if got := parseCPUTime([]byte("garbage")); got != 0 {
		t.Errorf("parseCPUTime(garbage) = %v, want 0", got)
	}
}

// The postgres phase's config puts the store in the database and is one
// wabridge accepts; its line sets its figures beside bbolt's.
func TestPostgresPhase(t *testing.T) {
	const dsn = "postgres://bench:pw@127.0.0.1:5432/bench?sslmode=disable"
	b, err := wabridgeConfig("127.0.0.1:1234", "/tmp/data", "/tmp/n.jsonl", []string{"/r/a.yaml"}, "s3cret", false, dsn)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatalf("wabridge rejects the postgres phase's config: %v\n%s", err, b)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("postgres phase config does not validate: %v\n%s", err, b)
	}
	if cfg.Storage.Backend != config.BackendPostgres || cfg.Storage.Postgres.DSN.Value() != dsn {
		t.Errorf("storage read back as %+v", cfg.Storage)
	}
	var names []string
	for _, p := range phasesOf(mixRealistic) {
		names = append(names, p.name)
	}
	if !slices.Contains(names, "postgres") || !slices.Contains(names, "durable") {
		t.Errorf("realistic phases %v: want postgres beside durable in the same run", names)
	}
	s := summary{mix: "realistic", durableRPS: 3000, sustainedRPS: 2500}
	pg := &phaseResult{load: &loadResult{}, sustained: 1500, ack: latencies{p99: 12 * time.Millisecond}}
	got := postgresLine(s, pg)
	re := regexp.MustCompile(`^bench: postgres mix=realistic bbolt_rps=3000 postgres_rps=\d+ postgres_vs_bbolt=\d+\.\d\d bbolt_sustained_rps=2500 postgres_sustained_rps=1500 postgres_ack_p99_ms=12\.00 postgres_rss_mb=\d+\.\d$`)
	if !re.MatchString(got) {
		t.Errorf("postgresLine = %q, does not match %s", got, re)
	}
}

// The postgres-rate phase runs the database backend at its own fixed
// rate, below one replica's saturation, and its line gives the latencies.
func TestPostgresRatePhase(t *testing.T) {
	var rated *phase
	for _, p := range phasesOf(mixRealistic) {
		if p.name == "postgres-rate" {
			rated = &p
		}
	}
	if rated == nil || !rated.postgres || !rated.open {
		t.Fatalf("realistic phases: want an open-loop postgres-rate phase, got %+v", rated)
	}
	o, err := parseOptions([]string{"-postgres-rate", "750"}, func(string) (string, bool) { return "", false }, io.Discard)
	if err != nil || o.pgRate != 750 {
		t.Fatalf("parseOptions -postgres-rate 750 = %d, %v", o.pgRate, err)
	}
	if _, err := parseOptions(nil, func(k string) (string, bool) { return "0", k == "BENCH_POSTGRES_RATE" }, io.Discard); err == nil {
		t.Error("BENCH_POSTGRES_RATE=0 accepted")
	}
	pg := &phaseResult{load: &loadResult{}, sustained: 999, ack: latencies{p50: 2 * time.Millisecond, p99: 9 * time.Millisecond},
		e2e: &e2eResult{lat: latencies{p50: 40 * time.Millisecond, p99: 80 * time.Millisecond}}}
	got := postgresRateLine("realistic", 1000, pg)
	want := "bench: postgres-rate mix=realistic rate=1000 postgres_sustained_rps=999 postgres_ack_p50_ms=2.00 postgres_ack_p99_ms=9.00 postgres_e2e_p50_ms=40.00 postgres_e2e_p99_ms=80.00 postgres_rss_mb=0.0"
	if got != want {
		t.Errorf("postgresRateLine =\n %q\nwant\n %q", got, want)
	}
}

// The bound of the whole run grows with the phases it has to run.
func TestLimitCountsPhases(t *testing.T) {
	o := options{seconds: time.Second, warmup: time.Second, mixes: []mixSpec{mixOutage}}
	one := o.limit()
	o.mixes = []mixSpec{mixOutage, mixRealistic}
	if both := o.limit(); both <= one {
		t.Errorf("limit with both mixes %s, not above one mix's %s", both, one)
	}
}
