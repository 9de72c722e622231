package main

// Hot reload against hostile edits: emptied and half-written files, bare
// config paths, ConfigMap symlink swaps, and templates that would spin or
// grow without end. Each runs the real binary.

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// reloadsFailed reads wabridge_config_reloads_total{result="failure"}.
func reloadsFailed(t *testing.T, addr string) float64 {
	t.Helper()
	return scrape(t, addr, "wabridge_config_reloads_total", map[string]string{"result": "failure"})
}

// TestEmptiedRulesFileKeepsOldRules: `: > rules.yaml`, a file cut before
// its rules: key and one cut right after it are each a rejected reload that
// names the file; alerts keep flowing under the old rules. Only an explicit
// `rules: []` empties the set.
func TestEmptiedRulesFileKeepsOldRules(t *testing.T) {
	slack := newFakeSlack(t)
	dir := t.TempDir()
	addr := freeAddr(t)
	cfg := writeE2EConfig(t, e2eConfig{Dir: dir, Addr: addr, SlackURL: slack.srv.URL, SlackToken: "xoxb-good"})
	rulesPath := filepath.Join(dir, "rules.yaml")
	inst := start(t, cfg, addr)

	n := 0
	alert := func(what string) {
		t.Helper()
		n++
		if code := post(t, addr, failedStatus(n, 131031)); code != 200 {
			t.Fatal(code)
		}
		waitFor(t, what, 15*time.Second, func() bool { return len(slack.posted()) == n }, inst.logs.String)
	}
	alert("the first alert")

	for i, body := range []string{
		"", // `: > rules.yaml`
		"# failed sends page the on-call channel\n",
		"defaults:\n  slack_channel: \"#whatsapp-ops\"\n",
		"defaults:\n  slack_channel: \"#whatsapp-ops\"\nrules:\n",
	} {
		before := reloadsFailed(t, addr)
		if err := os.WriteFile(rulesPath, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		_ = inst.cmd.Process.Signal(syscall.SIGHUP)
		waitFor(t, fmt.Sprintf("edit %d to be rejected", i), 10*time.Second, func() bool {
			return reloadsFailed(t, addr) > before
		}, inst.logs.String)
		if g := gauge(metricsText(t, addr), "wabridge_config_last_reload_successful"); g != "0" {
			t.Errorf("edit %d: last_reload_successful = %q, want 0", i, g)
		}
		if !strings.Contains(inst.logs.String(), rulesPath+": no rules: key") &&
			!strings.Contains(inst.logs.String(), rulesPath+":3: rules: holds nothing") {
			t.Errorf("edit %d: the rejection does not name %s:\n%s", i, rulesPath, inst.logs.String())
		}
		alert(fmt.Sprintf("an alert under the old rules after edit %d", i))
	}

	// An explicit empty list is a choice, not an accident.
	if err := os.WriteFile(rulesPath, []byte("rules: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_ = inst.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, "rules: [] to load", 10*time.Second, func() bool {
		return gauge(metricsText(t, addr), "wabridge_config_last_reload_successful") == "1"
	}, inst.logs.String)
	if !strings.Contains(inst.logs.String(), `"rules":0`) {
		t.Errorf("rules: [] did not load as no rules:\n%s", inst.logs.String())
	}
	inst.stop()
}

// startIn starts `wabridge serve --config config` with dir as its working
// directory, so config can be a bare file name as `make run` passes it.
func startIn(t *testing.T, dir, config, addr string) *instance {
	t.Helper()
	inst := &instance{t: t, addr: addr, logs: &syncBuffer{}, done: make(chan struct{}), config: config}
	inst.cmd = exec.Command(binPath, "serve", "--config", config)
	inst.cmd.Dir = dir
	inst.cmd.Stdout = inst.logs
	inst.cmd.Stderr = inst.logs
	if err := inst.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = inst.cmd.Wait(); close(inst.done) }()
	t.Cleanup(func() { inst.kill() })
	waitFor(t, "wabridge to be ready", 20*time.Second, func() bool {
		select {
		case <-inst.done:
			t.Fatalf("wabridge exited at start:\n%s", inst.logs.String())
		default:
		}
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}, inst.logs.String)
	return inst
}

func rulesTo(channel string) string { return ruleFor("failed-sends", 131031, channel) }

func ruleFor(name string, code int, channel string) string {
	return fmt.Sprintf("rules:\n  - name: %s\n    match: {codes: [%d]}\n    group_by: [id]\n    actions:\n      - slack: {channel: %q}\n", name, code, channel)
}

// TestWatcherSeesEditsWithoutSIGHUP: with --config a bare file name (as
// `make run` starts it), an edit to rules.yaml is picked up by the file
// watcher alone; so is a Kubernetes ConfigMap update, where the rules file
// is a symlink through ..data and the update swaps ..data to a new
// directory without touching the file's own name.
func TestWatcherSeesEditsWithoutSIGHUP(t *testing.T) {
	slack := newFakeSlack(t)
	dir := t.TempDir()
	addr := freeAddr(t)
	// The ConfigMap volume: cm/rules.yaml -> ..data/rules.yaml, ..data -> ..2026_a.
	cm := filepath.Join(dir, "cm")
	if err := os.MkdirAll(filepath.Join(cm, "..2026_a"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cm, "..2026_a", "rules.yaml"), []byte(ruleFor("cm", 131026, "#cm-one")), 0o600); err != nil {
		t.Fatal(err)
	}
	for link, target := range map[string]string{"..data": "..2026_a", "rules.yaml": "..data/rules.yaml"} {
		if err := os.Symlink(target, filepath.Join(cm, link)); err != nil {
			t.Fatal(err)
		}
	}
	writeE2EConfig(t, e2eConfig{Dir: dir, Addr: addr, SlackURL: slack.srv.URL, SlackToken: "xoxb-good",
		Rules: rulesTo("#one")})
	// This config also reads the ConfigMap's file, and its paths are
	// relative to the working directory.
	cfgText, err := os.ReadFile(filepath.Join(dir, "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfgText = []byte(strings.Replace(string(cfgText), "rules: {files: [rules.yaml]}", "rules: {files: [rules.yaml, cm/rules.yaml]}", 1))
	cfgText = []byte(strings.Replace(string(cfgText), fmt.Sprintf("%q", filepath.Join(dir, "data")), "./data", 1))
	if err := os.WriteFile(filepath.Join(dir, "config.yaml"), cfgText, 0o600); err != nil {
		t.Fatal(err)
	}
	inst := startIn(t, dir, "config.yaml", addr)

	n := 0
	alertTo := func(code int, want string) {
		t.Helper()
		n++
		if code := post(t, addr, failedStatus(n, code)); code != 200 {
			t.Fatal(code)
		}
		waitFor(t, fmt.Sprintf("alert %d", n), 15*time.Second, func() bool { return len(slack.posted()) >= n }, inst.logs.String)
		if got := slack.posted()[n-1].Form["channel"]; got != want {
			t.Fatalf("alert %d went to %q, want %q\n%s", n, got, want, inst.logs.String())
		}
	}
	reloadsOK := func() float64 {
		return scrape(t, addr, "wabridge_config_reloads_total", map[string]string{"result": "success"})
	}
	waitReload := func(what string, before float64) {
		t.Helper()
		waitFor(t, what, 15*time.Second, func() bool { return reloadsOK() > before }, inst.logs.String)
	}
	alertTo(131031, "#one")
	alertTo(131026, "#cm-one")

	before := reloadsOK()
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), []byte(rulesTo("#two")), 0o600); err != nil {
		t.Fatal(err)
	}
	waitReload("the edit of rules.yaml to be reloaded by the watcher", before)
	alertTo(131031, "#two")

	before = reloadsOK()
	if err := os.MkdirAll(filepath.Join(cm, "..2026_b"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cm, "..2026_b", "rules.yaml"), []byte(ruleFor("cm", 131026, "#cm-two")), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("..2026_b", filepath.Join(cm, "..data_tmp")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(cm, "..data_tmp"), filepath.Join(cm, "..data")); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(cm, "..2026_a")); err != nil {
		t.Fatal(err)
	}
	waitReload("the ConfigMap ..data swap to be reloaded by the watcher", before)
	alertTo(131026, "#cm-two")
	inst.stop()
}

// rssKB reads VmRSS of a running process from /proc/PID/status.
func rssKB(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			var kb int
			fmt.Sscanf(strings.TrimSpace(v), "%d", &kb)
			return kb
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// TestHostileTemplatesAreRejectedOnReload: a template that would spin a
// core forever ({{ range 1000000000000 }}), one that doubles a string
// until memory runs out, a templates entry that is a symlink to /dev/zero
// and one that is a FIFO: each reload is rejected quickly, naming the file,
// the metric says failure, RSS stays flat, the old templates keep
// rendering, and the next SIGHUP with a good file takes over.
func TestHostileTemplatesAreRejectedOnReload(t *testing.T) {
	slack := newFakeSlack(t)
	dir := t.TempDir()
	addr := freeAddr(t)
	tdir := filepath.Join(dir, "templates")
	if err := os.Mkdir(tdir, 0o755); err != nil {
		t.Fatal(err)
	}
	title := filepath.Join(tdir, "title.tmpl")
	if err := os.WriteFile(title, []byte(`{{ define "slack.title" }}OLD {{ .Event.Code }}{{ end }}`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := writeE2EConfig(t, e2eConfig{Dir: dir, Addr: addr, SlackURL: slack.srv.URL, SlackToken: "xoxb-good",
		Extra: "templates: {dir: templates}\n"})
	inst := start(t, cfg, addr)
	pid := inst.cmd.Process.Pid

	n := 0
	alertTitled := func(want string) {
		t.Helper()
		n++
		if code := post(t, addr, failedStatus(n, 131031)); code != 200 {
			t.Fatal(code)
		}
		waitFor(t, fmt.Sprintf("alert %d", n), 15*time.Second, func() bool { return len(slack.posted()) >= n }, inst.logs.String)
		if got := slack.posted()[n-1].Form["text"]; !strings.Contains(got, want) {
			t.Fatalf("alert %d text %q, want %q", n, got, want)
		}
	}
	alertTitled("OLD 131031")
	baseRSS := rssKB(t, pid)

	hostile := []struct {
		name  string
		write func(path string) error
		want  string
	}{
		{"spin", func(p string) error {
			return os.WriteFile(p, []byte(`{{ define "slack.text" }}{{ range 1000000000000 }}{{ end }}{{ end }}`), 0o600)
		}, "more than 100000 loop iterations"},
		{"doubling", func(p string) error {
			return os.WriteFile(p, []byte(`{{ define "slack.text" }}{{ $s := "doubling" }}{{ range 100 }}{{ $s = printf "%s%s" $s $s }}{{ end }}{{ len $s }}{{ end }}`), 0o600)
		}, "printf would be"},
		{"dev-zero", func(p string) error { return os.Symlink("/dev/zero", p) }, "a character device"},
		{"fifo", func(p string) error { return syscall.Mkfifo(p, 0o600) }, "a FIFO"},
	}
	for _, h := range hostile {
		path := filepath.Join(tdir, h.name+".tmpl")
		before := reloadsFailed(t, addr)
		if err := h.write(path); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		_ = inst.cmd.Process.Signal(syscall.SIGHUP)
		waitFor(t, h.name+" to be rejected", 20*time.Second, func() bool { return reloadsFailed(t, addr) > before }, inst.logs.String)
		took := time.Since(start)
		// The failure metric moves before the rejection's log line is
		// written; give the line a moment to follow.
		named := func(logs string) bool { return strings.Contains(logs, path) && strings.Contains(logs, h.want) }
		logs := inst.logs.String()
		for deadline := time.Now().Add(5 * time.Second); !named(logs) && time.Now().Before(deadline); logs = inst.logs.String() {
			time.Sleep(20 * time.Millisecond)
		}
		if !named(logs) {
			t.Errorf("%s: the rejection does not name %s and %q:\n%s", h.name, path, h.want, logs)
		}
		if g := gauge(metricsText(t, addr), "wabridge_config_last_reload_successful"); g != "0" {
			t.Errorf("%s: last_reload_successful = %q", h.name, g)
		}
		rss := rssKB(t, pid)
		t.Logf("%s: rejected in %v; RSS %d kB (at start %d kB)", h.name, took.Round(time.Millisecond), rss, baseRSS)
		if rss > baseRSS+200*1024 {
			t.Errorf("%s: RSS grew from %d kB to %d kB", h.name, baseRSS, rss)
		}
		alertTitled("OLD 131031")
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
	}

	// The server is not wedged: a good edit and a SIGHUP take over.
	if err := os.WriteFile(title, []byte(`{{ define "slack.title" }}NEW {{ .Event.Code }}{{ end }}`), 0o600); err != nil {
		t.Fatal(err)
	}
	_ = inst.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, "the good templates to load", 15*time.Second, func() bool {
		return gauge(metricsText(t, addr), "wabridge_config_last_reload_successful") == "1"
	}, inst.logs.String)
	alertTitled("NEW 131031")
	inst.stop()
}
