package sources

import (
	"errors"
	"strings"

	"github.com/wabridge/wabridge/internal/event"
)

// acceptFilter is a source's `accept` list, the same for every source type:
// the statuses to keep, lowercased; empty keeps everything.
type acceptFilter map[string]bool

// newAccept reads an accept list. An empty entry is refused: it would match
// no status, and a filter that keeps less than it says is a silent drop.
func newAccept(list []string) (acceptFilter, []error) {
	if len(list) == 0 {
		return nil, nil
	}
	var errs []error
	a := make(acceptFilter, len(list))
	for _, s := range list {
		s = strings.ToLower(strings.TrimSpace(s))
		if s == "" {
			errs = append(errs, errors.New("accept: an empty status would match nothing"))
			continue
		}
		a[s] = true
	}
	return a, errs
}

// keeps reports whether e passes. Kind unknown always passes: a shape
// nobody recognised must reach the rules and the audit trail rather than
// vanish behind a filter written for known statuses.
func (a acceptFilter) keeps(e *event.Event) bool {
	if len(a) == 0 || e.Kind == event.KindUnknown {
		return true
	}
	return a[strings.ToLower(e.Status)]
}
