// Package pgtest gives tests a real PostgreSQL server of their own: a
// throwaway cluster made with initdb in a temporary directory, served by
// postgres on a free loopback port, and removed at the end. Each test gets a
// database of its own on the package's shared server.
//
// WABRIDGE_TEST_POSTGRES_DSN points the tests at an existing server instead
// (its user must be allowed to create databases). Where PostgreSQL is not
// installed the tests skip, saying how to install it, unless
// WABRIDGE_TEST_POSTGRES=required, which CI sets: there a skip is a failure.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Environment variables that steer the helper.
const (
	EnvDSN      = "WABRIDGE_TEST_POSTGRES_DSN"
	EnvRequired = "WABRIDGE_TEST_POSTGRES"
)

// Server is a PostgreSQL server the tests may create databases on.
type Server struct {
	// DSN connects to the server's maintenance database as a superuser.
	DSN string

	dir  string // the cluster's directory; "" for a server we did not start
	port int    // the port it listens on, on 127.0.0.1
	cred *syscall.Credential
	bin  string    // the directory holding initdb and postgres
	cmd  *exec.Cmd // the running postmaster
	log  *os.File  // its output
	mu   sync.Mutex
}

var (
	shared     *Server
	sharedErr  error
	sharedOnce sync.Once
)

// Main runs a package's tests and stops the shared server afterwards. Call
// it from TestMain: os.Exit(pgtest.Main(m)).
func Main(m *testing.M) int {
	code := m.Run()
	if shared != nil {
		shared.Stop()
	}
	return code
}

// DSN returns the connection string of a new, empty database on the shared
// server, dropped when the test ends. It skips the test when no PostgreSQL
// can be had, or fails it when WABRIDGE_TEST_POSTGRES=required.
func DSN(t testing.TB) string {
	t.Helper()
	s := Shared(t)
	dsn, name, err := s.createDatabase(context.Background())
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		if err := s.dropDatabase(name); err != nil {
			t.Logf("pgtest: %v", err)
		}
	})
	return dsn
}

// Shared returns the package's server, starting it on first use, with the
// same skip rules as DSN.
func Shared(t testing.TB) *Server {
	t.Helper()
	sharedOnce.Do(func() {
		if dsn := os.Getenv(EnvDSN); dsn != "" {
			shared = &Server{DSN: dsn}
			return
		}
		shared, sharedErr = Start()
	})
	if sharedErr != nil {
		if errors.Is(sharedErr, errNotInstalled) && os.Getenv(EnvRequired) != "required" {
			t.Skipf("pgtest: %v; install PostgreSQL (Debian: apt-get install postgresql) or set %s", sharedErr, EnvDSN)
		}
		t.Fatalf("pgtest: %v", sharedErr)
	}
	return shared
}

var errNotInstalled = errors.New("PostgreSQL server binaries (initdb, postgres) not found on PATH or in /usr/lib/postgresql/*/bin")

// Start makes a new cluster in a temporary directory and starts a server
// on it. The caller stops it.
func Start() (*Server, error) {
	bin, err := findBinaries()
	if err != nil {
		return nil, err
	}
	s := &Server{bin: bin}
	// PostgreSQL refuses to run as root; tests often do (containers, CI).
	// Then the cluster belongs to the postgres (or nobody) account.
	if os.Geteuid() == 0 {
		if s.cred, err = unprivileged(); err != nil {
			return nil, err
		}
	}
	if s.dir, err = os.MkdirTemp("", "wabridge-pg-"); err != nil {
		return nil, err
	}
	if s.cred != nil {
		if err := os.Chown(s.dir, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
			s.remove()
			return nil, err
		}
	}
	initdb := s.command(filepath.Join(bin, "initdb"), "-D", s.data(), "-U", "postgres",
		"--auth=trust", "--encoding=UTF8", "--no-sync", "--no-instructions")
	if out, err := initdb.CombinedOutput(); err != nil {
		s.remove()
		return nil, fmt.Errorf("initdb: %v: %s", err, strings.TrimSpace(string(out)))
	}
	if err := s.start(); err != nil {
		s.remove()
		return nil, err
	}
	return s, nil
}

// Stop shuts the server down and removes its cluster.
func (s *Server) Stop() {
	if s.dir == "" {
		return
	}
	s.stop(syscall.SIGINT) // fast shutdown
	s.remove()
}

// Kill stops the server the way a crash would (SIGKILL): nothing is flushed
// beyond what committed transactions already wrote.
func (s *Server) Kill() { s.stop(syscall.SIGKILL) }

// Restart starts the server again after Kill, on the same port and cluster.
func (s *Server) Restart() error {
	if s.dir == "" {
		return errors.New("pgtest: cannot restart a server this package did not start")
	}
	return s.start()
}

// Port is the loopback port the server listens on (0 for an external one).
func (s *Server) Port() int { return s.port }

// CreateDatabase makes a new empty database and returns its DSN.
func (s *Server) CreateDatabase(ctx context.Context) (string, error) {
	dsn, _, err := s.createDatabase(ctx)
	return dsn, err
}

func (s *Server) createDatabase(ctx context.Context) (dsn, name string, err error) {
	u, err := url.Parse(s.DSN)
	if err != nil {
		return "", "", fmt.Errorf("%s is not a URL DSN: %w", EnvDSN, err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	name = "wabridge_test_" + hex.EncodeToString(b[:])
	if err := s.exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", "", err
	}
	u.Path = "/" + name
	return u.String(), name, nil
}

func (s *Server) dropDatabase(name string) error {
	if s.dir != "" && s.cmd == nil {
		return nil // killed and not restarted: the cluster goes with Stop
	}
	return s.exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
}

func (s *Server) exec(ctx context.Context, sql string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.DSN)
	if err != nil {
		return fmt.Errorf("connect to the test server: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		return fmt.Errorf("%s: %w", sql, err)
	}
	return nil
}

func (s *Server) data() string { return filepath.Join(s.dir, "data") }

func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.port == 0 {
		p, err := freePort()
		if err != nil {
			return err
		}
		s.port = p
	}
	logf, err := os.OpenFile(filepath.Join(s.dir, "postgres.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	// fsync off: the tests kill processes, not the machine, and a write
	// that reached the page cache survives a killed server.
	cmd := s.command(filepath.Join(s.bin, "postgres"), "-D", s.data(),
		"-p", strconv.Itoa(s.port), "-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories="+s.dir, "-c", "fsync=off",
		"-c", "full_page_writes=off", "-c", "max_connections=200")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start postgres: %w", err)
	}
	s.cmd, s.log = cmd, logf
	s.DSN = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", s.port)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		conn, err := pgx.Connect(ctx, s.DSN)
		if err == nil {
			conn.Close(ctx)
			cancel()
			go func() { <-exited }() // reap whenever it exits
			return nil
		}
		cancel()
		select {
		case werr := <-exited:
			out, _ := os.ReadFile(filepath.Join(s.dir, "postgres.log"))
			return fmt.Errorf("postgres exited (%v): %s", werr, lastLines(string(out), 10))
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			return fmt.Errorf("postgres did not accept connections on port %d within 60s: %v", s.port, err)
		}
	}
}

func (s *Server) stop(sig syscall.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(sig)
	// The postmaster's pid file goes once every backend has exited.
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if err := s.cmd.Process.Signal(syscall.Signal(0)); err != nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if sig == syscall.SIGKILL {
		// Backends outlive a killed postmaster until they notice; a new
		// postmaster refuses to start while they hold shared memory.
		waitBackendsGone(s.data())
	}
	s.cmd = nil
	if s.log != nil {
		s.log.Close()
		s.log = nil
	}
}

func (s *Server) remove() {
	if s.dir != "" {
		_ = os.RemoveAll(s.dir)
	}
}

// command runs name as the cluster's owner, and kills it if the test binary
// dies without stopping it.
func (s *Server) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL, Credential: s.cred}
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	return cmd
}

func waitBackendsGone(data string) {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if !anyProcessIn(data) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// anyProcessIn reports whether a postgres process still runs on the cluster
// (its command line names the data directory, or its cwd is inside it).
func anyProcessIn(data string) bool {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		cwd, err := os.Readlink(filepath.Join("/proc", e.Name(), "cwd"))
		if err == nil && strings.HasPrefix(cwd, data) {
			return true
		}
	}
	return false
}

func findBinaries() (string, error) {
	if p, err := exec.LookPath("postgres"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			dir := filepath.Dir(real)
			if _, err := os.Stat(filepath.Join(dir, "initdb")); err == nil {
				return dir, nil
			}
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	// Highest major version first.
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "postgres")); err != nil {
			continue
		}
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	return "", errNotInstalled
}

func version(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

func unprivileged() (*syscall.Credential, error) {
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
	}
	return nil, errors.New("running as root and neither a postgres nor a nobody account exists to run PostgreSQL as")
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
