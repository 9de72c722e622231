package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/wabridge/wabridge/internal/admin"
	"github.com/wabridge/wabridge/internal/authlimit"
	"github.com/wabridge/wabridge/internal/config"
	"github.com/wabridge/wabridge/internal/console"
	"github.com/wabridge/wabridge/internal/pipeline"
	"github.com/wabridge/wabridge/internal/server"
	"github.com/wabridge/wabridge/internal/sources"
	"github.com/wabridge/wabridge/internal/store"
)

// NewLogger builds the process logger from the log block.
func NewLogger(c config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	switch strings.ToLower(c.Level) {
	case "debug":
		level = slog.LevelDebug
	case "warn", "warning":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	default:
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// PipelineConfig maps the config file onto the pipeline's settings.
func PipelineConfig(cfg *config.Config) pipeline.Config {
	pc := pipelineConfig(cfg)
	if cfg.Storage.Backend == config.BackendPostgres {
		// Several replicas: leases renewed well within their time, and
		// silences read again as often as the store's safety net fires.
		// Deliveries other replicas accepted are announced (InboxChanged);
		// the committers and senders also look every PollInterval (1s).
		pg := PostgresConfig(cfg)
		pc.Shared = true
		pc.LeaseRenew = pg.LeaseTTL / 3
		pc.SilenceRefresh = pg.SilenceReload
		// A claim outlives the replica that took it: one killed
		// mid-send holds its notifications until the claim lapses, so
		// it is as short as the longest send allows (a few calls at the
		// notifier's timeout, and Jira's look-up of an interrupted
		// create), not the single process's ten minutes.
		longest := max(cfg.Notifiers.Slack.Timeout, cfg.Notifiers.Jira.Timeout)
		pc.ClaimLease = 3*longest + cfg.Notifiers.Jira.SearchDelay + 10*time.Second
	}
	return pc.WithDefaults()
}

func pipelineConfig(cfg *config.Config) pipeline.Config {
	return pipeline.Config{
		Workers:         cfg.Pipeline.Workers,
		Senders:         cfg.Pipeline.Senders,
		MaxAttempts:     cfg.Pipeline.MaxAttempts,
		MaxAge:          cfg.Pipeline.MaxAge,
		BackoffBase:     cfg.Pipeline.BackoffBase,
		BackoffMax:      cfg.Pipeline.BackoffMax,
		RateLimitPace:   cfg.Pipeline.RateLimitPace,
		DedupWindow:     cfg.Storage.DedupWindow,
		Retention:       cfg.Storage.Retention,
		RejectAuditRate: cfg.Storage.RejectAuditRate,
		ProbeBytes:      int(cfg.Server.MaxBodyBytes),
		ShutdownTimeout: cfg.Server.ShutdownTimeout,
	}
}

// Service is a running wabridge: store, pipeline, HTTP server and the
// current runtime, which Reload swaps atomically.
type Service struct {
	cfg      *config.Config
	logger   *slog.Logger
	sources  map[string]sources.Source
	store    store.Store
	pipeline *pipeline.Pipeline
	registry *prometheus.Registry
	runtime  atomic.Pointer[Runtime]
	reloadMu sync.Mutex
	// httpReload is set while POST /-/reload runs.
	httpReload atomic.Bool
	metrics    *serviceMetrics

	listener net.Listener
	http     *http.Server
	// adminListener and adminHTTP serve the admin API when
	// server.admin_listen is set.
	adminListener net.Listener
	adminHTTP     *http.Server

	// authLimit throttles failed admin token checks on every router and
	// the console together.
	authLimit   *authlimit.Limiter
	console     *console.Console
	consoleOnce sync.Once
}

// Open builds a service from a config file without starting it. The store
// is opened here, so a bad storage.dir or a database that does not
// connect fails before anything listens.
func Open(configPath string, logw io.Writer) (*Service, error) {
	return open(configPath, logw, false)
}

// OpenOperator is Open for an operator command (incidents, silence, dlq,
// audit): on a database shared by replicas it takes no lease, so the
// replicas keep their partitions and an incident is changed through the
// replica that holds it.
func OpenOperator(configPath string, logw io.Writer) (*Service, error) {
	return open(configPath, logw, true)
}

func open(configPath string, logw io.Writer, operator bool) (*Service, error) {
	cfg, err := config.Load(configPath)
	if err != nil {
		return nil, err
	}
	logger := NewLogger(cfg.Log, logw)
	_, srcs, rt, err := Load(configPath, logger)
	if err != nil {
		return nil, err
	}
	for _, w := range rt.Warnings {
		logger.Warn("config warning", "warning", w)
	}
	st, err := OpenStore(context.Background(), cfg, logger)
	if err != nil {
		_ = rt.Close()
		return nil, err
	}
	s := &Service{cfg: cfg, logger: logger, sources: srcs, store: st, registry: prometheus.NewRegistry(), authLimit: authlimit.New()}
	s.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s.metrics = newServiceMetrics(s.registry)
	s.runtime.Store(rt)
	pc := PipelineConfig(cfg)
	// The embedded store's one partition is the operator's while it holds
	// the file; on a shared database a lease would make it a replica.
	pc.NoLeases = operator && cfg.Storage.Backend == config.BackendPostgres
	s.pipeline, err = pipeline.New(pc, pipeline.Deps{
		Store:      st,
		Sources:    func(name string) (sources.Source, bool) { src, ok := s.sources[name]; return src, ok },
		Runtime:    func() *pipeline.Runtime { return s.runtime.Load().Runtime },
		Logger:     logger,
		Registerer: s.registry,
	})
	if err != nil {
		_ = st.Close()
		_ = rt.Close()
		return nil, err
	}
	return s, nil
}

// Pipeline exposes the pipeline for operator commands run offline.
func (s *Service) Pipeline() *pipeline.Pipeline { return s.pipeline }

// Operator is the operator service on this service's store and pipeline,
// for the operator commands run while no server holds the store: there is
// nothing to reload.
func (s *Service) Operator() admin.Service { return s.operator(false) }

// operator is the operator service; serving, it also reloads.
func (s *Service) operator(serving bool) *admin.Local {
	l := &admin.Local{
		P:       s.pipeline,
		Planner: func() admin.Planner { return Planner(s.cfg, s.sources, s.runtime.Load()) },
	}
	// Only the embedded store can be copied for a dry run's starting
	// state; on a shared database a dry run starts empty.
	if sn, ok := s.store.(admin.Snapshotter); ok {
		l.State = sn
	}
	if serving {
		l.ReloadFunc = s.reloadRequest
	}
	return l
}

// Runtime is the current runtime.
func (s *Service) Runtime() *Runtime { return s.runtime.Load() }

// Close releases the store and the runtime; Run calls it on its way out.
func (s *Service) Close() error {
	err := s.pipeline.Close()
	if rt := s.runtime.Load(); rt != nil {
		err = errors.Join(err, rt.Close())
	}
	return err
}

// Handler builds the router over this service.
func (s *Service) Handler() http.Handler {
	return server.NewRouter(s.deps())
}

// AdminHandler builds the router for server.admin_listen.
func (s *Service) AdminHandler() http.Handler {
	return server.NewAdminRouter(s.deps())
}

func (s *Service) deps() server.Deps {
	return server.Deps{
		Sources:      s.sources,
		Inbox:        s.pipeline,
		MaxBodyBytes: s.cfg.Server.MaxBodyBytes,
		Logger:       s.logger,
		Ready:        s.ready,
		Metrics:      promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{Registry: s.registry}),
		Admin:        s.operator(true),
		AdminToken:   s.cfg.Server.AdminToken,
		Observe:      s.metrics.observeDelivery,

		MaxUnauthenticatedBytes: s.cfg.Server.MaxUnauthenticatedBytes,
		MaxEvents:               s.cfg.Server.MaxEvents,

		AdminListenerOwn: s.cfg.Server.AdminListen != "",

		Slack: s.slackInteractions(),

		AuthLimit: s.authLimit,
		Console:   s.consoleHandler(),
	}
}

func (s *Service) ready() error {
	if s.runtime.Load() == nil {
		return errors.New("config not loaded")
	}
	return s.pipeline.Ready()
}

// gcPercent is the collector's target in force (GOGC); GOGC=off reads
// as the largest uint64, which is -1 as an int, as debug.SetGCPercent has it.
func gcPercent() int {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return int(s[0].Value.Uint64())
}

// Run listens, processes and serves until ctx is done or SIGINT/SIGTERM
// arrives; SIGHUP reloads rules, templates and the catalogue. It returns
// after the HTTP server stopped accepting, in-flight work finished within
// server.shutdown_timeout, and the store was closed.
func (s *Service) Run(ctx context.Context) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	ln, err := net.Listen("tcp", s.cfg.Server.Listen)
	if err != nil {
		_ = s.Close()
		return fmt.Errorf("server.listen %s: %w", s.cfg.Server.Listen, err)
	}
	ln = server.LimitListener(ln, s.cfg.Server.MaxConnections)
	s.listener = ln
	s.http = s.httpServer(s.Handler())
	var adminLn net.Listener
	if s.cfg.Server.AdminListen != "" {
		adminLn, err = net.Listen("tcp", s.cfg.Server.AdminListen)
		if err != nil {
			_ = ln.Close()
			_ = s.Close()
			return fmt.Errorf("server.admin_listen %s: %w", s.cfg.Server.AdminListen, err)
		}
		s.adminListener = adminLn
		s.adminHTTP = s.httpServer(s.AdminHandler())
	}

	pctx, cancelPipeline := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelPipeline()
	pipeDone := make(chan error, 1)
	go func() { pipeDone <- s.pipeline.Run(pctx) }()

	httpDone := make(chan error, 2)
	go func() { httpDone <- s.http.Serve(ln) }()
	if adminLn != nil {
		go func() { httpDone <- s.adminHTTP.Serve(adminLn) }()
		s.logger.Info("admin API listening", "addr", adminLn.Addr().String())
	}
	s.logger.Info("wabridge listening", "addr", ln.Addr().String(), "sources", len(s.sources),
		"rules", s.Runtime().Rules.Len(), "notifiers", strings.Join(s.Runtime().NotifierNames(), ","),
		"procs", runtime.GOMAXPROCS(0), "gogc", gcPercent())

	stopReload := s.watchReload(ctx)
	defer stopReload()

	var runErr error
	select {
	case <-ctx.Done():
		s.logger.Info("shutting down", "deadline", s.cfg.Server.ShutdownTimeout.String())
	case err := <-httpDone:
		runErr = fmt.Errorf("http server: %w", err)
	case err := <-pipeDone:
		runErr = fmt.Errorf("pipeline stopped: %w", err)
		pipeDone <- nil
	}
	// Stop accepting first: nothing new is acknowledged after this.
	httpCtx, cancel := context.WithTimeout(context.Background(), s.cfg.Server.ShutdownTimeout)
	if err := s.http.Shutdown(httpCtx); err != nil {
		s.logger.Warn("http shutdown", "error", err)
	}
	if s.adminHTTP != nil {
		if err := s.adminHTTP.Shutdown(httpCtx); err != nil {
			s.logger.Warn("admin http shutdown", "error", err)
		}
	}
	cancel()
	// The pipeline bounds its own drain by the same timeout; it gets a fresh
	// one (and a margin) so the store is never closed under a send that is
	// still finishing, which would send that notification again at start.
	cancelPipeline()
	select {
	case err := <-pipeDone:
		if err != nil && !errors.Is(err, context.Canceled) {
			runErr = errors.Join(runErr, err)
		}
	case <-time.After(s.cfg.Server.ShutdownTimeout + 2*time.Second):
		s.logger.Warn("pipeline did not stop within the shutdown deadline; what it was sending stays in the outbox")
	}
	runErr = errors.Join(runErr, s.Close())
	s.logger.Info("stopped")
	return runErr
}

func (s *Service) httpServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       s.cfg.Server.ReadTimeout,
		WriteTimeout:      s.cfg.Server.WriteTimeout,
		IdleTimeout:       s.cfg.Server.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(s.logger.Handler(), slog.LevelWarn),
	}
}

// Addr is the address the server listens on, once Run has started.
func (s *Service) Addr() string {
	if s.listener == nil {
		return ""
	}
	return s.listener.Addr().String()
}
