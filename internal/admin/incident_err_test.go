package admin

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/wabridge/wabridge/internal/incident"
	"github.com/wabridge/wabridge/internal/pipeline"
	"github.com/wabridge/wabridge/internal/store"
)

// A refusal keeps its status whether the action ran here or was forwarded
// to the replica owning the incident; a forwarded action nobody took in
// time is a 503: nothing was done, and asking again may work.
func TestIncidentErrStatus(t *testing.T) {
	for _, c := range []struct {
		err  error
		want int
	}{
		{fmt.Errorf("incident x: %w", store.ErrNotFound), http.StatusNotFound},
		{fmt.Errorf("incident x: %w by ana", incident.ErrAcknowledged), http.StatusConflict},
		{fmt.Errorf("incident x: %w", pipeline.ErrAlreadyResolved), http.StatusConflict},
		{fmt.Errorf("incident x: ack: %w", pipeline.ErrCommandExpired), http.StatusServiceUnavailable},
	} {
		if got := Status(incidentErr(c.err)); got != c.want {
			t.Errorf("%v: status %d, want %d", c.err, got, c.want)
		}
	}
}
