// Command wabridge receives WhatsApp Business webhooks and turns failures
// into Slack alerts and Jira tickets.
package main

import (
	"os"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
