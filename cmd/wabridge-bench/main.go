// Command wabridge-bench measures wabridge against the bare limit: a gin
// receiver that only checks the signature, and wabridge with its durable
// store, the example rules and the log notifier, under the same signed
// Meta load. `make bench` runs it; each mix (gen.go says what is in each
// and why) ends with the line
//
//	bench: bare_rps=N wabridge_rps=N ratio=R sustained_rps=N sustained_ratio=R p99_ack_ms=X e2e_p99_ms=Y rss_mb=Z mix=M
//
// and the realistic mix's line is the last one printed. wabridge_rps is
// what the closed loop got acknowledged; sustained_rps is what wabridge
// fully processed (rules, incidents, outbox, audit, and every notification
// sent) per second, from the first request of the closed-loop phase until
// its backlog drained.
//
// After the fixed-rate phase of each mix, a "bench: disk" line says how
// much the store grew per delivery and what that makes per day at the
// rate and over the audit retention. -profile DIR writes a CPU profile of
// each wabridge phase's measured window (go tool pprof DIR/durable.cpu.pprof).
//
// Each system runs as a child process on a free loopback port, so its peak
// RSS is its own; everything it creates lives in one temporary directory
// that is removed on every exit path.
package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/wabridge/wabridge/internal/pgtest"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, os.LookupEnv))
}

func run(args []string, stdout, stderr io.Writer, env func(string) (string, bool)) int {
	if len(args) > 0 && args[0] == "bare" {
		return runBare(args[1:], stderr)
	}
	opts, err := parseOptions(args, env, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "wabridge-bench: %v\n", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, opts.limit())
	defer cancel()
	b := &bench{opts: opts, out: stdout, progress: stderr}
	if err := b.run(ctx); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("%w (the whole bench is bounded by %s)", err, opts.limit())
		}
		fmt.Fprintf(stderr, "wabridge-bench: %v\n", err)
		return 1
	}
	return 0
}

// options are the knobs of one run; each has a flag and an environment
// variable (the flag wins).
type options struct {
	seconds     time.Duration // each phase, warm-up excluded
	warmup      time.Duration
	concurrency int
	rate        int
	pgRate      int    // the open loop of the postgres-rate phase
	wabridge    string // a built binary; "" = go build into the temp dir
	root        string // the module root; "" = from go env GOMOD
	keep        bool   // keep the temp dir, to read logs after a surprise
	profileDir  string // write a CPU profile of each wabridge phase here; "" = none
	mixes       []mixSpec
}

func parseOptions(args []string, env func(string) (string, bool), stderr io.Writer) (options, error) {
	o := options{seconds: 10 * time.Second, warmup: time.Second, concurrency: 32, rate: 2000, pgRate: 1000}
	var errs []error
	envInt := func(name string, dst *int) {
		if v, ok := env(name); ok && strings.TrimSpace(v) != "" {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil || n <= 0 {
				errs = append(errs, fmt.Errorf("%s=%q: want a positive whole number", name, v))
				return
			}
			*dst = n
		}
	}
	secs := 10
	mixNames := "realistic,outage"
	if v, ok := env("BENCH_MIX"); ok && strings.TrimSpace(v) != "" {
		mixNames = strings.TrimSpace(v)
	}
	envInt("BENCH_SECONDS", &secs)
	envInt("BENCH_CONCURRENCY", &o.concurrency)
	envInt("BENCH_RATE", &o.rate)
	envInt("BENCH_POSTGRES_RATE", &o.pgRate)
	o.seconds = time.Duration(secs) * time.Second
	if v, ok := env("BENCH_WARMUP"); ok && strings.TrimSpace(v) != "" {
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil || d < 0 {
			errs = append(errs, fmt.Errorf("BENCH_WARMUP=%q: want a duration such as 1s", v))
		} else {
			o.warmup = d
		}
	}
	if v, ok := env("BENCH_PROFILE_DIR"); ok {
		o.profileDir = strings.TrimSpace(v)
	}
	if len(errs) > 0 {
		return o, errors.Join(errs...)
	}

	fs := flag.NewFlagSet("wabridge-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.DurationVar(&o.seconds, "duration", o.seconds, "length of each measured phase (env BENCH_SECONDS, in seconds)")
	fs.DurationVar(&o.warmup, "warmup", o.warmup, "warm-up before each phase, excluded from figures (env BENCH_WARMUP)")
	fs.IntVar(&o.concurrency, "concurrency", o.concurrency, "requests in flight in the closed loop (env BENCH_CONCURRENCY)")
	fs.IntVar(&o.rate, "rate", o.rate, "deliveries per second of the open loop (env BENCH_RATE)")
	fs.IntVar(&o.pgRate, "postgres-rate", o.pgRate, "deliveries per second of the postgres-rate phase's open loop, below the saturation of one replica (env BENCH_POSTGRES_RATE)")
	fs.StringVar(&o.wabridge, "wabridge", "", "wabridge binary to run (default: go build ./cmd/wabridge into the temp dir)")
	fs.StringVar(&o.root, "root", "", "module root with rules.example.yaml and bench/ (default: from go env GOMOD)")
	fs.BoolVar(&o.keep, "keep", false, "keep the temp dir (configs, process logs, notification files)")
	fs.StringVar(&o.profileDir, "profile", o.profileDir, "write a CPU profile of each wabridge phase's measured window to DIR/PHASE.cpu.pprof (env BENCH_PROFILE_DIR)")
	fs.StringVar(&mixNames, "mix", mixNames, "traffic mixes to run, comma-separated: realistic, outage (env BENCH_MIX)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	for _, name := range strings.Split(mixNames, ",") {
		m, err := mixNamed(strings.TrimSpace(name))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		o.mixes = append(o.mixes, m)
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q; the only subcommand is the internal \"bare\"", fs.Arg(0))
	}
	if o.seconds <= 0 {
		errs = append(errs, fmt.Errorf("duration %s: want a positive duration", o.seconds))
	}
	if o.concurrency <= 0 {
		errs = append(errs, fmt.Errorf("concurrency %d: want at least 1", o.concurrency))
	}
	if o.rate <= 0 {
		errs = append(errs, fmt.Errorf("rate %d: want at least 1 delivery per second", o.rate))
	}
	if o.pgRate <= 0 {
		errs = append(errs, fmt.Errorf("postgres-rate %d: want at least 1 delivery per second", o.pgRate))
	}
	if o.warmup < 0 {
		errs = append(errs, fmt.Errorf("warmup %s: want zero or more", o.warmup))
	}
	return o, errors.Join(errs...)
}

// drainLimit is the least the bench waits for the pipeline to work off
// its backlog after a phase's load stops.
const drainLimit = 60 * time.Second

// drain bounds the wait for the backlog: a pipeline that processes at a
// tenth of the acknowledged rate still finishes, and a stuck one does not
// hold the bench for long.
func (o options) drain() time.Duration {
	return max(drainLimit, 8*(o.warmup+o.seconds))
}

// limit bounds the whole run: every phase of every mix, the drains of
// wabridge's, a build and process start-ups, with room for a loaded
// machine.
func (o options) limit() time.Duration {
	var phases, drains time.Duration
	for _, m := range o.mixes {
		for _, p := range phasesOf(m) {
			phases++
			if p.system == "wabridge" {
				drains++
			}
		}
	}
	return phases*(o.warmup+o.seconds) + drains*o.drain() + 5*time.Minute
}

type bench struct {
	pg       *pgtest.Server // the throwaway PostgreSQL server, once started
	opts     options
	out      io.Writer // figures
	progress io.Writer // what it is doing
	dir      string
	secret   string
	binary   string
	rules    []string
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.progress, "wabridge-bench: "+format+"\n", args...)
}

// phase is one system under one load.
type phase struct {
	name   string // bare, durable, durable-rate, nosync; prefixed with the mix but for the realistic one
	system string // bare or wabridge
	noSync bool
	// postgres runs wabridge on a PostgreSQL database of a throwaway
	// local server instead of the bbolt file.
	postgres bool
	open     bool // open loop at opts.rate (opts.pgRate on postgres); else closed loop at opts.concurrency
	mix      mixSpec
}

// phaseResult is what a phase printed.
type phaseResult struct {
	load      *loadResult
	ack       latencies
	e2e       *e2eResult
	mem       memory
	sustained float64 // deliveries fully processed per second, until drained
	disk      *diskResult
	// cpuPerDelivery is the process's CPU time (user and system) from the
	// first request, warm-up included, until the backlog drained, over
	// every delivery acknowledged in that time.
	cpuPerDelivery time.Duration
}

// phasesOf lists the phases of one mix. The no-sync comparison runs
// for the realistic mix only.
func phasesOf(m mixSpec) []phase {
	prefix := ""
	if m.name != mixRealistic.name {
		prefix = m.name + "-"
	}
	ps := []phase{
		{name: prefix + "bare", system: "bare", mix: m},
		{name: prefix + "durable", system: "wabridge", mix: m},
		{name: prefix + "durable-rate", system: "wabridge", open: true, mix: m},
	}
	if m.name == mixRealistic.name {
		ps = append(ps, phase{name: "nosync", system: "wabridge", noSync: true, mix: m},
			phase{name: "postgres", system: "wabridge", postgres: true, mix: m},
			phase{name: "postgres-rate", system: "wabridge", postgres: true, open: true, mix: m})
	}
	return ps
}

func (b *bench) run(ctx context.Context) error {
	dir, err := os.MkdirTemp("", "wabridge-bench-")
	if err != nil {
		return fmt.Errorf("create temp dir: %w", err)
	}
	b.dir = dir
	if b.opts.keep {
		b.logf("keeping %s", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	if err := b.prepare(ctx); err != nil {
		return err
	}
	defer func() {
		if b.pg != nil {
			b.pg.Stop()
		}
	}()

	// The realistic mix runs last, so its line is the last one printed.
	ordered := slices.Clone(b.opts.mixes)
	slices.SortStableFunc(ordered, func(a, c mixSpec) int {
		return cmp.Compare(boolInt(a.name == mixRealistic.name), boolInt(c.name == mixRealistic.name))
	})
	var lines []string
	for _, m := range ordered {
		res := make(map[string]*phaseResult)
		for _, p := range phasesOf(m) {
			r, err := b.runPhase(ctx, p)
			if err != nil {
				return fmt.Errorf("phase %s: %w", p.name, err)
			}
			res[strings.TrimPrefix(p.name, m.name+"-")] = r
		}
		s := summary{
			mix:          m.name,
			bareRPS:      res["bare"].load.rps(),
			wabridgeRPS:  res["durable"].load.rps(),
			sustainedRPS: res["durable"].sustained,
			p99Ack:       res["durable-rate"].ack.p99,
			e2eP99:       res["durable-rate"].e2e.lat.p99,
			rssMB:        max(res["durable"].mem.peak, res["durable-rate"].mem.peak),
			rssAnonMB:    max(res["durable"].mem.peakAnon, res["durable-rate"].mem.peakAnon),
			rssFileMB:    max(res["durable"].mem.peakFile, res["durable-rate"].mem.peakFile),
			durableRPS:   res["durable"].load.rps(),
		}
		if res["durable-rate"].e2e.lat.n == 0 {
			return fmt.Errorf("no notification of the fixed-rate phase of the %s mix could be matched to a request: "+
				"check that the rules still match the generated failures (codes 131026, 131031, 131048 ...)", m.name)
		}
		if ns, ok := res["nosync"]; ok {
			s.nosyncRPS = ns.load.rps()
			fmt.Fprintf(b.out, "bench: nosync %s\n", ns.ack)
			fmt.Fprintln(b.out, syncLine(s))
		}
		if pg, ok := res["postgres"]; ok {
			fmt.Fprintln(b.out, postgresLine(s, pg))
		}
		if pg, ok := res["postgres-rate"]; ok {
			fmt.Fprintln(b.out, postgresRateLine(s.mix, b.opts.pgRate, pg))
		}
		fmt.Fprintln(b.out, memoryLine(s))
		fmt.Fprintln(b.out, cpuLine(m.name, res["bare"].cpuPerDelivery, res["durable"].cpuPerDelivery))
		if d := res["durable-rate"].disk; d != nil {
			fmt.Fprintf(b.out, "bench: disk mix=%s phase=durable-rate %s\n", m.name, d)
		}
		for _, g := range goals(s) {
			fmt.Fprintf(b.out, "bench: goal missed: %s\n", g)
		}
		lines = append(lines, finalLine(s))
	}
	// Every mix's line at the end, together, the realistic one last.
	for _, l := range lines {
		fmt.Fprintln(b.out, l)
	}
	return nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// prepare makes the secret, finds the rules and builds wabridge.
func (b *bench) prepare(ctx context.Context) error {
	var err error
	if b.secret, err = randomHex(16); err != nil {
		return fmt.Errorf("make app secret: %w", err)
	}
	if b.opts.profileDir != "" {
		if err := os.MkdirAll(b.opts.profileDir, 0o755); err != nil {
			return fmt.Errorf("profile dir: %w", err)
		}
	}

	root := b.opts.root
	if root == "" {
		out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
		if err != nil {
			return fmt.Errorf("find the module root with go env GOMOD: %w (or pass -root)", err)
		}
		gomod := strings.TrimSpace(string(out))
		if gomod == "" || gomod == os.DevNull {
			return errors.New("not inside the wabridge module: run from the repository or pass -root")
		}
		root = filepath.Dir(gomod)
	}
	for _, f := range []string{"rules.example.yaml", filepath.Join("bench", "rules.yaml")} {
		p := filepath.Join(root, f)
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("rules file %s: %w", p, err)
		}
		b.rules = append(b.rules, p)
	}

	b.binary = b.opts.wabridge
	if b.binary == "" {
		b.binary = filepath.Join(b.dir, "wabridge")
		b.logf("building wabridge")
		cmd := exec.CommandContext(ctx, "go", "build", "-o", b.binary, "./cmd/wabridge")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build ./cmd/wabridge: %w\n%s", err, out)
		}
	}
	return nil
}

func (b *bench) runPhase(ctx context.Context, p phase) (*phaseResult, error) {
	pdir := filepath.Join(b.dir, p.name)
	if err := os.Mkdir(pdir, 0o700); err != nil {
		return nil, fmt.Errorf("create phase dir: %w", err)
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	notes := filepath.Join(pdir, "notifications.jsonl")
	var srv *server
	storeDir := filepath.Join(pdir, "data")
	var adminToken string
	if p.system == "bare" {
		self, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("find own binary for the bare receiver: %w", err)
		}
		srv, err = startServer(ctx, "bare receiver", addr, self, []string{"bare", "-listen", addr},
			[]string{bareSecretEnv + "=" + b.secret}, filepath.Join(pdir, "process.log"), "/healthz")
		if err != nil {
			return nil, err
		}
	} else {
		dsn := ""
		if p.postgres {
			if dsn, err = b.database(ctx); err != nil {
				return nil, err
			}
		}
		cfg, err := wabridgeConfig(addr, storeDir, notes, b.rules, b.secret, p.noSync, dsn)
		if err != nil {
			return nil, err
		}
		cfgPath := filepath.Join(pdir, "config.yaml")
		if err := os.WriteFile(cfgPath, cfg, 0o600); err != nil {
			return nil, fmt.Errorf("write config: %w", err)
		}
		var env []string
		if b.opts.profileDir != "" {
			// The profiler is served behind the admin token only.
			if adminToken, err = randomHex(16); err != nil {
				return nil, err
			}
			env = append(env, "WABRIDGE_SERVER_ADMIN_TOKEN="+adminToken)
		}
		srv, err = startServer(ctx, "wabridge", addr, b.binary, []string{"serve", "--config", cfgPath},
			env, filepath.Join(pdir, "process.log"), "/readyz")
		if err != nil {
			return nil, err
		}
	}
	defer srv.stop()
	diskBefore, err := measureDisk(storeDir)
	if err != nil {
		return nil, err
	}
	profiled := make(chan error, 1)
	if adminToken != "" {
		go func() {
			select {
			case <-ctx.Done():
				profiled <- ctx.Err()
				return
			case <-time.After(b.opts.warmup):
			}
			path := filepath.Join(b.opts.profileDir, p.name+".cpu.pprof")
			profiled <- fetchCPUProfile(ctx, addr, adminToken, b.opts.seconds, path)
		}()
	} else {
		profiled <- nil
	}

	t := newTarget(addr, []byte(b.secret), max(b.opts.concurrency, openLoopWorkers))
	defer t.close()
	g := &generator{tag: strings.ReplaceAll(p.name, "-", ""), timestamp: time.Now().Unix(), mix: p.mix}
	var load *loadResult
	mode := fmt.Sprintf("closed workers=%d", b.opts.concurrency)
	cpuStart := srv.cpuTime()
	loadStart := time.Now()
	rate := b.opts.rate
	if p.postgres {
		rate = b.opts.pgRate
	}
	if p.open {
		mode = fmt.Sprintf("open rate=%d", rate)
		b.logf("%s: %s mix, %s for %s after a %s warm-up", p.name, p.mix.name, mode, b.opts.seconds, b.opts.warmup)
		load, err = openLoop(ctx, t, g, rate, b.opts.warmup, b.opts.seconds)
	} else {
		b.logf("%s: %s mix, %s for %s after a %s warm-up", p.name, p.mix.name, mode, b.opts.seconds, b.opts.warmup)
		load, err = closedLoop(ctx, t, g, b.opts.concurrency, b.opts.warmup, b.opts.seconds)
	}
	if err != nil {
		return nil, err
	}
	if err := srv.alive(); err != nil {
		return nil, err
	}
	r := &phaseResult{load: load, ack: load.acks()}
	var drained time.Duration
	if load.ok == 0 {
		return nil, fmt.Errorf("no request was acknowledged (%d failed, first: %s); server output:\n%s",
			load.failed, load.firstErr, srv.tail())
	}

	if p.system == "wabridge" {
		drainStart := time.Now()
		acked := t.acked.Load()
		done, err := waitDrained(ctx, addr, acked, b.opts.drain())
		if err != nil {
			return nil, err
		}
		drained = time.Since(drainStart)
		if done.IsZero() {
			b.logf("%s: the backlog was not worked off %s after the load; sustained and e2e count what was done, so they are upper and lower bounds",
				p.name, b.opts.drain())
			done = time.Now()
		}
		r.sustained = float64(acked) / done.Sub(loadStart).Seconds()
		// The outbox is empty; the notifier's file may still be flushing.
		if _, err := waitQuiet(ctx, notes, 500*time.Millisecond, 10*time.Second); err != nil {
			return nil, err
		}
		e, err := measureE2E(notes, load.samples, g)
		if err != nil {
			return nil, err
		}
		r.e2e = &e
		after, err := measureDisk(storeDir)
		if err != nil {
			return nil, err
		}
		r.disk = &diskResult{
			deliveries: acked,
			grown:      diskUsage{allocated: after.allocated - diskBefore.allocated, apparent: after.apparent - diskBefore.apparent},
			rate:       rate,
			retention:  benchRetention,
		}
	}
	if n := t.acked.Load(); n > 0 {
		r.cpuPerDelivery = (srv.cpuTime() - cpuStart) / time.Duration(n)
	}
	if err := <-profiled; err != nil {
		return nil, fmt.Errorf("profile: %w", err)
	}
	// After the drain, so the peak includes working off the backlog.
	if r.mem, err = srv.memory(); err != nil {
		return nil, err
	}

	line := fmt.Sprintf("bench: phase=%s system=%s mix=%s mode=%s rps=%.0f ack_p50_ms=%s ack_p99_ms=%s ack_max_ms=%s ok=%d failed=%d",
		p.name, p.system, p.mix.name, strings.ReplaceAll(mode, " ", ","), load.rps(), ms(r.ack.p50), ms(r.ack.p99), ms(r.ack.max), load.ok, load.failed)
	if r.e2e != nil {
		line += fmt.Sprintf(" sustained_rps=%.0f e2e_p50_ms=%s e2e_p99_ms=%s e2e_max_ms=%s e2e_n=%d drain_s=%.1f",
			r.sustained, ms(r.e2e.lat.p50), ms(r.e2e.lat.p99), ms(r.e2e.lat.max), r.e2e.matched, drained.Seconds())
	}
	line += fmt.Sprintf(" cpu_us_per_delivery=%.0f rss_mb=%.1f rss_anon_peak_mb=%.1f rss_file_peak_mb=%.1f",
		float64(r.cpuPerDelivery)/float64(time.Microsecond), r.mem.peak, r.mem.peakAnon, r.mem.peakFile)
	fmt.Fprintln(b.out, line)
	if load.failed > 0 {
		b.logf("%s: %d requests failed; the first: %s", p.name, load.failed, load.firstErr)
	}
	return r, nil
}

// benchRetention is storage.retention of every wabridge phase, the
// default: what the disk figures are extrapolated over.
const benchRetention = 72 * time.Hour

// wabridgeConfig is the config of a wabridge phase: its own store, the
// log notifier writing to a file and standing in for Slack and Jira, and
// a process log quiet enough not to be what is measured.
// A dsn puts the store in that PostgreSQL database instead.
func wabridgeConfig(addr, storeDir, notes string, rules []string, secret string, noSync bool, dsn string) ([]byte, error) {
	cfg := map[string]any{
		"server":  map[string]any{"listen": addr},
		"storage": map[string]any{"dir": storeDir, "no_sync": noSync, "retention": benchRetention.String()},
		"log":     map[string]any{"level": "warn"},
		"sources": []any{map[string]any{"name": "meta", "type": "meta", "app_secret": secret, "verify_token": "bench"}},
		"notifiers": map[string]any{
			"log":          map[string]any{"path": notes},
			"unconfigured": "log",
		},
		"rules": map[string]any{"files": rules},
	}
	if dsn != "" {
		cfg["storage"] = map[string]any{"backend": "postgres", "retention": benchRetention.String(),
			"postgres": map[string]any{"dsn": dsn}}
	}
	b, err := yaml.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("encode wabridge config: %w", err)
	}
	return b, nil
}

// database returns the DSN of a new database on the bench's own
// PostgreSQL server, started on first use: a cluster in a temporary
// directory on a free loopback port, stopped when the bench ends.
func (b *bench) database(ctx context.Context) (string, error) {
	if b.pg == nil {
		b.logf("starting a throwaway PostgreSQL server")
		pg, err := pgtest.Start()
		if err != nil {
			return "", fmt.Errorf("the postgres phase needs PostgreSQL (Debian: apt-get install postgresql): %w", err)
		}
		b.pg = pg
	}
	return b.pg.CreateDatabase(ctx)
}

// randomHex is n random bytes in hex.
func randomHex(n int) (string, error) {
	raw := make([]byte, n)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("read random bytes: %w", err)
	}
	return hex.EncodeToString(raw), nil
}
