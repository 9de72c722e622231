package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestConfigFromEnvironment: WABRIDGE_CONFIG names the file, a source's
// secret comes from WABRIDGE_SOURCES_<NAME>_APP_SECRET, `config show`
// prints the effective config with secrets as <secret>, and a bad value
// from the environment is named as such.
func TestConfigFromEnvironment(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "wabridge.yaml")
	if err := os.WriteFile(cfg, []byte("storage: {dir: "+filepath.Join(dir, "data")+"}\nsources: [{name: meta, type: meta}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "WABRIDGE_CONFIG="+cfg, "WABRIDGE_SOURCES_META_APP_SECRET=env-app-secret-value")
	cmd := exec.Command(binPath, "check")
	cmd.Dir, cmd.Env = dir, env
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), cfg+": ok") {
		t.Errorf("check with WABRIDGE_CONFIG and the secret from the environment: %v\n%s", err, out)
	}
	cmd = exec.Command(binPath, "config", "show")
	cmd.Dir, cmd.Env = dir, env
	out, err := cmd.CombinedOutput()
	if err != nil || strings.Contains(string(out), "env-app-secret-value") || !strings.Contains(string(out), "app_secret: <secret>") {
		t.Errorf("config show: %v\n%s", err, out)
	}
	cmd = exec.Command(binPath, "check")
	cmd.Dir, cmd.Env = dir, append(env, "WABRIDGE_SERVER_LISTEN=nowhere")
	out, _ = cmd.CombinedOutput()
	if !strings.Contains(string(out), "environment WABRIDGE_SERVER_LISTEN: server.listen:") {
		t.Errorf("a bad value from the environment is not named:\n%s", out)
	}
}
