package app

import (
	"testing"

	"github.com/wabridge/wabridge/internal/config"
	"github.com/wabridge/wabridge/internal/pipeline"
	jiranotifier "github.com/wabridge/wabridge/notifiers/jira"
)

// TestOneDefaultPerSetting: the config file's defaults, mapped onto the
// pipeline, are the pipeline's own defaults, so a pipeline built without a
// config file (tests, the dry run) runs as the binary does.
func TestOneDefaultPerSetting(t *testing.T) {
	d := config.Defaults()
	if got, want := PipelineConfig(&d), (pipeline.Config{}).WithDefaults(); got != want {
		t.Fatalf("config defaults give the pipeline\n%+v\nthe pipeline's own defaults are\n%+v", got, want)
	}
	if got, want := d.Notifiers.Jira, (jiranotifier.Config{}).WithDefaults(); got.Timeout != want.Timeout || got.SearchDelay != want.SearchDelay ||
		got.IssueType != want.IssueType || got.APIType != want.APIType || got.WontFixResolution != want.WontFixResolution || got.ReopenWindow != want.ReopenWindow {
		t.Fatalf("config defaults for notifiers.jira %+v differ from the notifier's %+v", got, want)
	}
}
