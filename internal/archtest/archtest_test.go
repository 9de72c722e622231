package archtest

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

const module = "github.com/wabridge/wabridge/"

// apiClients are the libraries only the notifiers (and the composition
// root) may link: Slack's and Jira's clients, and the config loader.
var apiClients = []string{
	"github.com/slack-go/slack",
	"github.com/andygrunwald/go-jira",
	"github.com/spf13/viper",
}

// deps lists every package pkg links, itself included, as go list -deps
// sees them (tests excluded).
func deps(t *testing.T, pkg string) []string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	out, err := exec.Command(goBin, "list", "-deps", "-f", "{{.ImportPath}}", module+pkg).Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, ee.Stderr)
		}
		t.Fatalf("go list -deps %s: %v", pkg, err)
	}
	return strings.Fields(string(out))
}

// within reports whether path is the package prefix or one below it.
func within(path, prefix string) bool {
	return path == prefix || strings.HasPrefix(path, prefix+"/")
}

func TestNoAPIClientOnTheRequestPathOrInTheStore(t *testing.T) {
	for _, pkg := range []string{"internal/store", "internal/store/postgres", "internal/sources", "internal/server", "rules", "templates"} {
		t.Run(pkg, func(t *testing.T) {
			for _, d := range deps(t, pkg) {
				for _, c := range apiClients {
					if within(d, c) {
						t.Errorf("%s links %s", pkg, d)
					}
				}
			}
		})
	}
}

func TestStoreKnowsNoSourceNorNotifier(t *testing.T) {
	for _, pkg := range []string{"internal/store", "internal/store/postgres"} {
		for _, d := range deps(t, pkg) {
			for _, banned := range []string{module + "internal/sources", module + "notifiers"} {
				if within(d, banned) {
					t.Errorf("%s links %s", pkg, d)
				}
			}
		}
	}
}

// TestDepsSeesTheClients proves the check can fail: the notifiers do link
// their clients, and go list reports them.
func TestDepsSeesTheClients(t *testing.T) {
	for pkg, client := range map[string]string{
		"notifiers/slack": "github.com/slack-go/slack",
		"notifiers/jira":  "github.com/andygrunwald/go-jira",
		"internal/config": "github.com/spf13/viper",
	} {
		found := false
		for _, d := range deps(t, pkg) {
			found = found || within(d, client)
		}
		if !found {
			t.Errorf("go list -deps %s does not list %s: the checks above would pass whatever the imports", pkg, client)
		}
	}
}
