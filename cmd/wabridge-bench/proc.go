package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// server is a system under test running as a child process, so its peak
// RSS is its own and not the load generator's.
type server struct {
	name    string
	addr    string
	logPath string // its stdout and stderr
	cmd     *exec.Cmd
	done    chan struct{}
	waitErr error

	peakMu             sync.Mutex
	peakAnon, peakFile float64 // the highest RssAnon and RssFile sampled
}

// freeAddr returns a loopback address with a port nobody listens on now.
// The port is released before the child binds it; on this machine nothing
// else races for it in that instant.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		return "", fmt.Errorf("release port %s: %w", addr, err)
	}
	return addr, nil
}

// startServer starts path with args, its output in logPath, and waits
// until GET readyPath on addr answers 200.
func startServer(ctx context.Context, name, addr, path string, args, env []string, logPath, readyPath string) (*server, error) {
	out, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("%s: create process log: %w", name, err)
	}
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Env = append(os.Environ(), env...)
	setDeathSignal(cmd)
	if err := cmd.Start(); err != nil {
		_ = out.Close()
		return nil, fmt.Errorf("%s: start %s: %w", name, path, err)
	}
	s := &server{name: name, addr: addr, logPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		s.waitErr = cmd.Wait()
		_ = out.Close()
		close(s.done)
	}()
	if err := s.waitReady(ctx, readyPath, 30*time.Second); err != nil {
		s.stop()
		return nil, err
	}
	go s.samplePeaks()
	return s, nil
}

func (s *server) waitReady(ctx context.Context, path string, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	url := "http://" + s.addr + path
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return fmt.Errorf("%s: readiness request: %w", s.name, err)
		}
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-s.done:
			return fmt.Errorf("%s exited before it was ready (%v); its output:\n%s", s.name, s.waitErr, s.tail())
		case <-ctx.Done():
			return fmt.Errorf("%s not ready on %s within %s: %w; its output:\n%s", s.name, path, limit, ctx.Err(), s.tail())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// alive reports an error when the process has exited.
func (s *server) alive() error {
	select {
	case <-s.done:
		return fmt.Errorf("%s exited during the run (%v); its output:\n%s", s.name, s.waitErr, s.tail())
	default:
		return nil
	}
}

// memory is what /proc/PID/status says of the process, in MiB.
type memory struct {
	peak float64 // VmHWM: the high-water resident set
	anon float64 // RssAnon now: heap and stacks
	file float64 // RssFile now: mapped files, the bbolt store among them
	// The highest RssAnon and RssFile sampled every 100 ms: the kernel
	// keeps a high-water mark of the sum only.
	peakAnon, peakFile float64
}

// samplePeaks keeps the highest anonymous and file-backed resident sizes
// until the process exits.
func (s *server) samplePeaks() {
	path := "/proc/" + strconv.Itoa(s.cmd.Process.Pid) + "/status"
	for {
		if b, err := os.ReadFile(path); err == nil {
			anon, _ := statusMiB(b, "RssAnon")
			file, _ := statusMiB(b, "RssFile")
			s.peakMu.Lock()
			s.peakAnon, s.peakFile = max(s.peakAnon, anon), max(s.peakFile, file)
			s.peakMu.Unlock()
		}
		select {
		case <-s.done:
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (s *server) memory() (memory, error) {
	path := "/proc/" + strconv.Itoa(s.cmd.Process.Pid) + "/status"
	b, err := os.ReadFile(path)
	if err != nil {
		return memory{}, fmt.Errorf("%s: read %s: %w", s.name, path, err)
	}
	var m memory
	if m.peak, err = statusMiB(b, "VmHWM"); err != nil {
		return memory{}, err
	}
	// The split says whether a high peak is the heap or the store's
	// mapped pages; kernels without it still give the peak.
	m.anon, _ = statusMiB(b, "RssAnon")
	m.file, _ = statusMiB(b, "RssFile")
	s.peakMu.Lock()
	m.peakAnon, m.peakFile = max(s.peakAnon, m.anon), max(s.peakFile, m.file)
	s.peakMu.Unlock()
	return m, nil
}

// parseVmHWM reads "VmHWM:   12345 kB" from /proc/PID/status, in MiB.
func parseVmHWM(status []byte) (float64, error) { return statusMiB(status, "VmHWM") }

// statusMiB reads the "NAME:   12345 kB" line of /proc/PID/status, in MiB.
func statusMiB(status []byte, name string) (float64, error) {
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, name+":")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("unexpected %s line %q", name, line)
		}
		kb, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			return 0, fmt.Errorf("%s value %q: %w", name, f[0], err)
		}
		return kb / 1024, nil
	}
	return 0, fmt.Errorf("no %s line in /proc status", name)
}

// stop asks the process to shut down and kills it when it takes longer
// than its own shutdown deadline would.
func (s *server) stop() {
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(20 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// tail is the end of the process's output, for error messages.
func (s *server) tail() string {
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		return "(no output: " + err.Error() + ")"
	}
	const keep = 2000
	if len(b) > keep {
		b = b[len(b)-keep:]
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return "(no output)"
	}
	return string(b)
}

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat:
// 100 on every Linux architecture Go supports.
const clockTicks = 100

// cpuTime is the CPU time the process has used, user and system, from
// /proc/PID/stat; zero where there is no /proc. On a machine shared with
// other work, CPU per delivery moves far less from run to run than the
// rates do: it is what a change to the code changes.
func (s *server) cpuTime() time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(s.cmd.Process.Pid) + "/stat")
	if err != nil {
		return 0
	}
	return parseCPUTime(b)
}

// parseCPUTime reads utime and stime, the 14th and 15th fields of
// /proc/PID/stat, counting after the command name in parentheses (which
// may hold spaces).
func parseCPUTime(stat []byte) time.Duration {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(stat[i+1:]))
	// f[0] is the state, the 3rd field; utime is the 14th.
	if len(f) < 13 {
		return 0
	}
	u, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0
	}
	return time.Duration(u+st) * time.Second / clockTicks
}
