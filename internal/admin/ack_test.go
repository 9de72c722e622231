package admin_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wabridge/wabridge/internal/admin"
)

// TestAcknowledgeAndSilenceIncident: acknowledging and silencing an
// incident give the same results and the same refusals through the store
// and through the server holding it; a refusal changes nothing.
func TestAcknowledgeAndSilenceIncident(t *testing.T) {
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

			if _, err := svc.AcknowledgeIncident(ctx, fp, admin.Actor{}); !errors.Is(err, admin.ErrInvalid) {
				t.Errorf("an acknowledgement without a name = %v, want a bad request", err)
			}
			ana := admin.Actor{Name: "ana", Via: "web console"}
			res, err := svc.AcknowledgeIncident(ctx, fp, ana)
			if err != nil || res.Status != "acknowledged" || res.By != "ana" || res.At.IsZero() || res.Notifications != 1 {
				t.Fatalf("acknowledge = %+v, %v; want acknowledged by ana with one Slack notification", res, err)
			}
			if again, err := svc.AcknowledgeIncident(ctx, fp, ana); err != nil || again.Notifications != 0 || !again.At.Equal(res.At) {
				t.Errorf("the same acknowledgement again = %+v, %v; want no change", again, err)
			}
			_, err = svc.AcknowledgeIncident(ctx, fp, admin.Actor{Name: "bob"})
			if !errors.Is(err, admin.ErrConflict) || admin.Status(err) != http.StatusConflict || !strings.Contains(err.Error(), "ana") {
				t.Errorf("bob's acknowledgement = %v, want a conflict naming ana", err)
			}
			if _, err := svc.AcknowledgeIncident(ctx, "0000000000000000", ana); !errors.Is(err, admin.ErrNotFound) {
				t.Errorf("acknowledging an unknown incident = %v, want not found", err)
			}
			got, err := svc.Incident(ctx, fp)
			if err != nil || got.Ack == nil || got.Ack.By != "ana" || got.Ack.Via != "web console" {
				t.Errorf("incident after the acknowledgement: ack %+v, %v", got.Ack, err)
			}

			sil, err := svc.SilenceIncident(ctx, fp, time.Hour, ana)
			if err != nil || sil.ID == "" || sil.Author != "ana" || sil.EndsAt.Sub(sil.StartsAt) != time.Hour ||
				!strings.Contains(sil.Comment, "from the web console by ana") {
				t.Fatalf("silence of the incident = %+v, %v", sil, err)
			}
			var ms []string
			for _, m := range sil.Matchers {
				ms = append(ms, m.Name+m.Op+m.Value)
			}
			if got := strings.Join(ms, " "); got != "code=131031 phone_number_id=1370198982834159" {
				t.Errorf("silence matchers %s, want the incident's group", got)
			}
			if _, err := svc.SilenceIncident(ctx, fp, 0, ana); !errors.Is(err, admin.ErrInvalid) {
				t.Errorf("a silence of no duration = %v, want a bad request", err)
			}

			if _, err := svc.ResolveIncident(ctx, fp, ana); err != nil {
				t.Fatal(err)
			}
			if _, err := svc.AcknowledgeIncident(ctx, fp, ana); !errors.Is(err, admin.ErrConflict) || !strings.Contains(err.Error(), "resolved") {
				t.Errorf("acknowledging a resolved incident = %v, want a conflict saying it is resolved", err)
			}
			if _, err := svc.SilenceIncident(ctx, fp, time.Hour, ana); !errors.Is(err, admin.ErrConflict) {
				t.Errorf("silencing a resolved incident = %v, want a conflict", err)
			}
			if l, _ := svc.Silences(ctx, admin.SilenceFilter{}); len(l) != 1 {
				t.Errorf("%d silences after refused ones, want 1", len(l))
			}
		})
	}
}

// TestAckEndpointRefusesBadBodies: the admin API answers a missing or
// unknown-field body with 400, and acknowledges nothing.
func TestAckEndpointRefusesBadBodies(t *testing.T) {
	f := newFixture(t)
	f.deliver(t, "d1", failedPayload("wamid.1", "1370198982834159", "5551991344790", 131031))
	list, _ := f.local.Incidents(context.Background(), admin.IncidentQuery{})
	fp := list[0].Fingerprint
	for _, body := range []string{"", `{"nmae":"ana"}`, `{"name":"ana"} {}`} {
		req, _ := http.NewRequest(http.MethodPost, f.remote.Base+"/api/v1/incidents/"+fp+"/ack", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+f.remote.Token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("ack with body %q: %d, want 400", body, resp.StatusCode)
		}
	}
	if inc, _ := f.local.Incident(context.Background(), fp); inc.Ack != nil {
		t.Errorf("a refused request acknowledged the incident: %+v", inc.Ack)
	}
}
