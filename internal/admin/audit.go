package admin

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/wabridge/wabridge/internal/audit"
	"github.com/wabridge/wabridge/internal/duration"
)

// Audit page sizes: without payloads a record is a few hundred bytes;
// with them it can be a whole delivery, so pages are smaller.
const (
	auditPage        = 500
	auditPagePayload = 20
)

// pageLimit bounds a page: at most q.Limit records (auditPage by default,
// and never more).
func pageLimit(q audit.Query) int {
	page := auditPage
	if q.Body {
		page = auditPagePayload
	}
	if q.Limit <= 0 || q.Limit > page {
		return page
	}
	return q.Limit
}

// ParseAuditQuery reads the audit filters as the CLI flags and the admin
// API's query spell them: since is a duration back from now ("1h", "7d")
// or an RFC 3339 time; code a number; limit a count. Empty means no filter.
func ParseAuditQuery(since, code, source, limit string, now time.Time) (audit.Query, error) {
	var q audit.Query
	var problems []string
	if since != "" {
		if t, err := time.Parse(time.RFC3339, since); err == nil {
			q.Since = t
		} else if d, err := duration.Parse(since); err == nil && d > 0 {
			q.Since = now.Add(-d)
		} else {
			problems = append(problems, fmt.Sprintf("since %q: want a duration back from now (%s) or an RFC 3339 time", since, duration.Form))
		}
	}
	if code != "" {
		n, err := strconv.Atoi(code)
		if err != nil || n <= 0 {
			problems = append(problems, fmt.Sprintf("code %q: want a positive number such as 131031", code))
		}
		q.Code = n
	}
	if limit != "" {
		n, err := strconv.Atoi(limit)
		if err != nil || n < 0 {
			problems = append(problems, fmt.Sprintf("limit %q: want a count (0 = no limit)", limit))
		}
		q.Limit = n
	}
	q.Source = source
	if len(problems) > 0 {
		return audit.Query{}, fmt.Errorf("audit query: %s", strings.Join(problems, "; "))
	}
	return q, nil
}
