package admin_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/wabridge/wabridge/internal/admin"
	"github.com/wabridge/wabridge/internal/audit"
	"github.com/wabridge/wabridge/internal/catalog"
	"github.com/wabridge/wabridge/internal/delivery"
	"github.com/wabridge/wabridge/internal/incident"
	"github.com/wabridge/wabridge/internal/notification"
	"github.com/wabridge/wabridge/internal/pipeline"
	"github.com/wabridge/wabridge/internal/secret"
	"github.com/wabridge/wabridge/internal/server"
	"github.com/wabridge/wabridge/internal/silence"
	"github.com/wabridge/wabridge/internal/sources"
	"github.com/wabridge/wabridge/internal/store"
	"github.com/wabridge/wabridge/notifiers"
	"github.com/wabridge/wabridge/notifiers/builtin"
	"github.com/wabridge/wabridge/rules"
)

const testRules = `
rules:
  - name: failed
    match: {statuses: [failed]}
    group_by: [code, phone_number_id]
    actions:
      - slack: {channel: "#ops"}
`

// failedPayload is a Meta status webhook: message to recipient to failed
// with code.
func failedPayload(id, phoneID, recipient string, code int) string {
	return fmt.Sprintf(`{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"555182137088","phone_number_id":%q},"statuses":[{"id":%q,"status":"failed","timestamp":"1788275824","recipient_id":%q,"errors":[{"code":%d,"title":"Business Account locked"}]}]},"field":"messages"}]}]}`,
		phoneID, id, recipient, code)
}

// quiet renders and sends nothing: these tests look at state, not sends.
type quiet struct{}

func (quiet) Render(n *notification.Notification) (notification.Message, error) {
	return notification.Message{Notifier: "slack", Summary: n.Rule.Name, Body: "body of " + n.Event.ID}, nil
}
func (quiet) Notify(context.Context, *notification.Notification) (notification.Result, error) {
	return notification.Result{}, nil
}

type fixture struct {
	p      *pipeline.Pipeline
	src    sources.Source
	local  *admin.Local
	remote *admin.Client
}

// newFixture builds a pipeline on a real store (not running: deliveries are
// committed with ProcessInbox and nothing is sent), its Local service, and
// a Client of the same service served by the real admin router.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	set, _, err := rules.Parse("rules.yaml", []byte(testRules), rules.Options{Specs: builtin.Specs()})
	if err != nil {
		t.Fatal(err)
	}
	cat, err := catalog.Load()
	if err != nil {
		t.Fatal(err)
	}
	rt := &pipeline.Runtime{Rules: set, Catalog: cat, Notifiers: map[string]notifiers.Notifier{"slack": quiet{}}}
	src, err := sources.NewMeta(sources.Config{Name: "meta", Type: "meta", InsecureSkipSignature: true})
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(t.TempDir(), store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	srcs := map[string]sources.Source{"meta": src}
	cfg := pipeline.Config{}.WithDefaults()
	p, err := pipeline.New(cfg, pipeline.Deps{
		Store:   st,
		Sources: func(name string) (sources.Source, bool) { s, ok := srcs[name]; return s, ok },
		Runtime: func() *pipeline.Runtime { return rt },
		Logger:  slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	local := &admin.Local{
		P: p,
		Planner: func() admin.Planner {
			return admin.Planner{Pipeline: cfg, Sources: srcs, DefaultSource: "meta", Runtime: rt}
		},
		State: st,
	}
	const token = "admin-test-token-0123456789abcdef"
	srv := httptest.NewServer(server.NewRouter(server.Deps{Admin: local, AdminToken: secret.Secret(token)}))
	t.Cleanup(srv.Close)
	return &fixture{p: p, src: src, local: local, remote: &admin.Client{Base: srv.URL, Token: token}}
}

// deliver stores and commits a payload as the webhook would.
func (f *fixture) deliver(t *testing.T, id, body string) {
	t.Helper()
	d := delivery.Delivery{ID: id, Source: "meta", ReceivedAt: time.Now().UTC(), ContentType: "application/json", Body: []byte(body)}
	events, err := f.src.Parse(d)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.p.Accept(context.Background(), d, events); err != nil {
		t.Fatal(err)
	}
	if err := f.p.ProcessInbox(); err != nil {
		t.Fatal(err)
	}
}

// TestLocalAndRemoteAgree: every read gives the same typed result whether
// asked of the store or of the server holding it, and every failure is of
// the same kind (not found, conflict, bad request) either way.
func TestLocalAndRemoteAgree(t *testing.T) {
	f := newFixture(t)
	f.deliver(t, "d1", failedPayload("wamid.1", "1370198982834159", "5551991344790", 131031))
	f.deliver(t, "d2", failedPayload("wamid.2", "106540352242922", "5551991344791", 131048))
	ctx := context.Background()
	both := map[string]admin.Service{"local": f.local, "remote": f.remote}

	var open []incident.Incident
	for name, svc := range both {
		list, err := svc.Incidents(ctx, admin.IncidentQuery{})
		if err != nil || len(list) != 2 {
			t.Fatalf("%s: incidents = %d, %v; want 2", name, len(list), err)
		}
		for _, inc := range list {
			if strings.Contains(inc.Event.RecipientID, "5551991344790") || strings.Contains(inc.Event.RecipientID, "5551991344791") {
				t.Errorf("%s: incident shows the full recipient number %s", name, inc.Event.RecipientID)
			}
		}
		one, err := svc.Incidents(ctx, admin.IncidentQuery{Number: "106540352242922"})
		if err != nil || len(one) != 1 || one[0].Event.Code != 131048 {
			t.Errorf("%s: incidents of number 106540352242922 = %+v, %v", name, one, err)
		}
		if none, _ := svc.Incidents(ctx, admin.IncidentQuery{Rule: "nope"}); len(none) != 0 {
			t.Errorf("%s: incidents of rule nope = %d, want none", name, len(none))
		}
		if open == nil {
			open = list
		} else if !reflect.DeepEqual(jsonish(open), jsonish(list)) {
			t.Errorf("local and remote incidents differ:\n%+v\n%+v", open, list)
		}
		got, err := svc.Incident(ctx, list[0].Fingerprint)
		if err != nil || got.Fingerprint != list[0].Fingerprint {
			t.Errorf("%s: incident %s = %+v, %v", name, list[0].Fingerprint, got, err)
		}
		if _, err := svc.Incident(ctx, "0000000000000000"); !errors.Is(err, admin.ErrNotFound) {
			t.Errorf("%s: unknown incident = %v, want ErrNotFound", name, err)
		}
		if _, err := svc.DeadLetter(ctx, "nope"); !errors.Is(err, admin.ErrNotFound) {
			t.Errorf("%s: unknown dead letter = %v, want ErrNotFound", name, err)
		}
		if err := svc.DropDead(ctx, "nope"); !errors.Is(err, admin.ErrNotFound) {
			t.Errorf("%s: drop of an unknown dead letter = %v, want ErrNotFound", name, err)
		}
		if dl, err := svc.DeadLetters(ctx); err != nil || len(dl) != 0 {
			t.Errorf("%s: dead letters = %+v, %v", name, dl, err)
		}
		page, err := svc.Audit(ctx, admin.AuditQuery{})
		if err != nil || len(page.Records) != 2 || page.Next != "" {
			t.Errorf("%s: audit = %d records next %q, %v; want 2, no next page", name, len(page.Records), page.Next, err)
		}
		page, err = svc.Audit(ctx, admin.AuditQuery{Query: audit.Query{Limit: 1}})
		if err != nil || len(page.Records) != 1 || page.Next == "" {
			t.Fatalf("%s: audit limit 1 = %d records next %q, %v", name, len(page.Records), page.Next, err)
		}
		q := audit.Query{Limit: 1}
		q.Before = page.Next
		next, err := svc.Audit(ctx, admin.AuditQuery{Query: q})
		if err != nil || len(next.Records) != 1 || next.Records[0].ID == page.Records[0].ID {
			t.Errorf("%s: second audit page = %+v, %v", name, next.Records, err)
		}
		st, err := svc.Stats(ctx)
		if err != nil || st.Inbox != 0 || st.Running {
			t.Errorf("%s: stats = %+v, %v", name, st, err)
		}
		if _, err := svc.Silences(ctx, admin.SilenceFilter{}); err != nil {
			t.Errorf("%s: silences: %v", name, err)
		}
	}
}

// jsonish compares incidents by what the API shows (times lose their
// monotonic reading on the wire).
func jsonish(list []incident.Incident) []string {
	var out []string
	for _, inc := range list {
		out = append(out, fmt.Sprintf("%s %s %s %d %s", inc.Fingerprint, inc.Rule, inc.Status, inc.Count, inc.Event.RecipientID))
	}
	return out
}

// TestResolveTwiceIsConflict: the first resolve resolves, the second is a
// conflict, through either side, and the incident shows resolved.
func TestResolveTwiceIsConflict(t *testing.T) {
	for _, side := range []string{"local", "remote"} {
		t.Run(side, func(t *testing.T) {
			f := newFixture(t)
			svc := map[string]admin.Service{"local": f.local, "remote": f.remote}[side]
			f.deliver(t, "d1", failedPayload("wamid.1", "1370198982834159", "5551991344790", 131031))
			ctx := context.Background()
			list, _ := svc.Incidents(ctx, admin.IncidentQuery{})
			if len(list) != 1 {
				t.Fatalf("incidents = %d, want 1", len(list))
			}
			fp := list[0].Fingerprint
			res, err := svc.ResolveIncident(ctx, fp, admin.Actor{Name: "ana", Via: "web console"})
			if err != nil || res.Fingerprint != fp || res.Status != "resolved" || res.Notifications != 1 {
				t.Fatalf("resolve = %+v, %v; want resolved with one notification", res, err)
			}
			if _, err := svc.ResolveIncident(ctx, fp, admin.Actor{}); !errors.Is(err, admin.ErrConflict) || admin.Status(err) != http.StatusConflict {
				t.Fatalf("second resolve = %v, want a conflict", err)
			}
			if _, err := svc.ResolveIncident(ctx, "0000000000000000", admin.Actor{}); !errors.Is(err, admin.ErrNotFound) {
				t.Fatalf("resolve of an unknown incident = %v, want not found", err)
			}
			if open, _ := svc.Incidents(ctx, admin.IncidentQuery{}); len(open) != 0 {
				t.Errorf("open incidents after resolve = %d", len(open))
			}
			if done, _ := svc.Incidents(ctx, admin.IncidentQuery{Status: incident.Resolved}); len(done) != 1 {
				t.Errorf("resolved incidents = %d, want 1", len(done))
			}
		})
	}
}

// TestSilencePreviewAndLifecycle: the preview names the open incidents a
// silence would match and no other; adding, listing and expiring work the
// same on either side; a bad silence is a bad request that changes
// nothing.
func TestSilencePreviewAndLifecycle(t *testing.T) {
	for _, side := range []string{"local", "remote"} {
		t.Run(side, func(t *testing.T) {
			f := newFixture(t)
			svc := map[string]admin.Service{"local": f.local, "remote": f.remote}[side]
			f.deliver(t, "d1", failedPayload("wamid.1", "1370198982834159", "5551991344790", 131031))
			f.deliver(t, "d2", failedPayload("wamid.2", "106540352242922", "5551991344791", 131048))
			ctx := context.Background()
			m, _ := silence.ParseMatcher("code=131048")
			got, err := svc.PreviewSilence(ctx, []silence.Matcher{m})
			if err != nil || len(got) != 1 || got[0].Event.Code != 131048 {
				t.Fatalf("preview of code=131048 = %+v, %v; want the 131048 incident alone", got, err)
			}
			re, _ := silence.ParseMatcher("code=~1310.*")
			if got, _ := svc.PreviewSilence(ctx, []silence.Matcher{re}); len(got) != 2 {
				t.Errorf("preview of code=~1310.* = %d incidents, want 2", len(got))
			}
			if _, err := svc.PreviewSilence(ctx, nil); !errors.Is(err, admin.ErrInvalid) {
				t.Errorf("preview without matchers = %v, want a bad request", err)
			}
			bad := admin.SilenceInput{Matchers: admin.MatcherList{m}, For: "2h"}
			if _, err := svc.SaveSilences(ctx, []admin.SilenceInput{bad}, true); !errors.Is(err, admin.ErrInvalid) || !strings.Contains(err.Error(), "comment") {
				t.Fatalf("silence without comment or author = %v, want a bad request naming the comment", err)
			}
			if l, _ := svc.Silences(ctx, admin.SilenceFilter{}); len(l) != 0 {
				t.Fatalf("a refused silence was stored: %+v", l)
			}
			in := admin.SilenceInput{Matchers: admin.MatcherList{m}, For: "2h"}
			in.Comment, in.Author = "campaign paused", "ana"
			out, err := svc.SaveSilences(ctx, []admin.SilenceInput{in}, true)
			if err != nil || len(out) != 1 || out[0].ID == "" {
				t.Fatalf("add = %+v, %v", out, err)
			}
			if l, _ := svc.Silences(ctx, admin.SilenceFilter{States: []string{"active"}}); len(l) != 1 {
				t.Errorf("active silences = %d, want 1", len(l))
			}
			if _, err := svc.ExpireSilence(ctx, out[0].ID); err != nil {
				t.Fatal(err)
			}
			if l, _ := svc.Silences(ctx, admin.SilenceFilter{States: []string{"active"}}); len(l) != 0 {
				t.Errorf("active silences after expire = %d, want 0", len(l))
			}
			if _, err := svc.ExpireSilence(ctx, "nope"); !errors.Is(err, admin.ErrNotFound) {
				t.Errorf("expire of an unknown silence = %v, want not found", err)
			}
		})
	}
}

// TestDryRunPlansWithoutChanging: the one planner reports the events, the
// rule decisions and the notifications a payload would produce, enriched
// from the catalogue, and leaves the store as it was; a payload the
// source cannot read is a bad request. (It replaces the pipeline's second
// planner, which skipped dedup, noise control and state.)
func TestDryRunPlansWithoutChanging(t *testing.T) {
	for _, side := range []string{"local", "remote"} {
		t.Run(side, func(t *testing.T) {
			f := newFixture(t)
			svc := map[string]admin.Service{"local": f.local, "remote": f.remote}[side]
			ctx := context.Background()
			delivered := strings.Replace(failedPayload("wamid.2", "1370198982834159", "5551991344790", 131031), `"failed"`, `"delivered"`, 1)
			for _, body := range []string{failedPayload("wamid.1", "1370198982834159", "5551991344790", 131031), delivered} {
				rep, err := svc.DryRun(ctx, admin.DryRunRequest{Payload: body})
				if err != nil {
					t.Fatal(err)
				}
				if len(rep.Events) != 1 {
					t.Fatalf("events = %d, want 1", len(rep.Events))
				}
				failed := strings.Contains(body, `"failed"`)
				if failed && (len(rep.Notifications) != 1 || rep.Notifications[0].Rule != "failed" || rep.Notifications[0].Notifier != "slack") {
					t.Fatalf("notifications of a failed status = %+v, want one by rule failed to slack", rep.Notifications)
				}
				if failed && rep.Events[0].Severity == "" {
					t.Error("planned event not enriched from the catalogue")
				}
				if !failed && len(rep.Notifications) != 0 {
					t.Fatalf("a delivered status planned %+v", rep.Notifications)
				}
			}
			if list, _ := svc.Incidents(ctx, admin.IncidentQuery{All: true}); len(list) != 0 {
				t.Errorf("the dry run changed the store: %d incidents", len(list))
			}
			if st, _ := svc.Stats(ctx); st.Inbox+st.Outbox != 0 {
				t.Errorf("the dry run changed the store: %+v", st)
			}
			if _, err := svc.DryRun(ctx, admin.DryRunRequest{Source: "nope", Payload: "{}"}); !errors.Is(err, admin.ErrInvalid) {
				t.Errorf("dry run with an unknown source = %v, want a bad request", err)
			}
		})
	}
}

// TestReloadOffline: without a running server there is nothing to reload,
// and saying so is not a failure of ours.
func TestReloadOffline(t *testing.T) {
	f := newFixture(t)
	_, err := f.local.Reload(context.Background())
	if !errors.Is(err, admin.ErrUnavailable) || admin.Status(err) != http.StatusServiceUnavailable {
		t.Fatalf("offline reload = %v, want unavailable", err)
	}
}
