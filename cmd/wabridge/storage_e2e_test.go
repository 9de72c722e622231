package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckNamesTheDatabaseThatDoesNotConnect: with storage.backend
// postgres, `wabridge check` connects, and a DSN that does not connect
// fails the check naming host and port, never the password.
func TestCheckNamesTheDatabaseThatDoesNotConnect(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "wabridge.yaml")
	addr := freeAddr(t) // nothing listens there
	body := "storage: {backend: postgres, postgres: {dial_timeout: 2s}}\nsources: [{name: meta, type: meta, insecure_skip_signature: true}]\n"
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	host, port, _ := strings.Cut(addr, ":")
	cmd := exec.Command(binPath, "check", "--config", cfg)
	cmd.Env = append(os.Environ(), "WABRIDGE_STORAGE_POSTGRES_DSN=postgres://wabridge:hunter2-pg-password@"+host+":"+port+"/wabridge?sslmode=disable")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("check passed with a database that does not connect:\n%s", out)
	}
	if code := cmd.ProcessState.ExitCode(); code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	if !strings.Contains(string(out), "storage.postgres.dsn: cannot connect to "+addr) {
		t.Errorf("the message does not name %s:\n%s", addr, out)
	}
	if strings.Contains(string(out), "hunter2") {
		t.Errorf("the message prints the password:\n%s", out)
	}
}
