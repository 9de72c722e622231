// Command wabridge receives WhatsApp Business webhooks and turns failures
// into Slack alerts and Jira tickets.
package main

import (
	"os"
)

// version and revision are set at build time with
// -ldflags "-X main.version=... -X main.revision=..." (make build, make release).
var (
	version  = "dev"
	revision = "unknown"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
