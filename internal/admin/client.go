package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wabridge/wabridge/internal/incident"
	"github.com/wabridge/wabridge/internal/outbox"
	"github.com/wabridge/wabridge/internal/silence"
)

// Client is the operator service of a running server, through its admin
// API: what the CLI uses while a server holds the store.
type Client struct {
	// Base is the server's address, "http://127.0.0.1:8080".
	Base  string
	Token string
	// HTTP sends the requests; nil uses one whose timeout leaves room for
	// a replay, which sends.
	HTTP *http.Client
}

var _ Service = (*Client)(nil)

// NewClient is a client of the admin API at addr (host:port).
func NewClient(addr, token string) *Client {
	return &Client{Base: "http://" + addr, Token: token}
}

func (c *Client) api() string { return c.Base + "/api/v1" }

// maxAnswer bounds an answer read whole; audit pages are bounded by their
// own size limits.
const maxAnswer = 64 << 20

// call sends a request with an optional JSON body and decodes a 200
// answer (or one of ok) into out. Any other answer is the error the
// server wrote, of the kind its status says.
func (c *Client) call(ctx context.Context, method, path string, in, out any, ok ...int) (http.Header, error) {
	var body io.Reader = http.NoBody
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, fmt.Errorf("encode request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 5 * time.Minute}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("admin API of the running server at %s: %w", c.api(), err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if resp.StatusCode != http.StatusOK && !slices.Contains(ok, resp.StatusCode) {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			return resp.Header, fromStatus(resp.StatusCode, e.Error)
		}
		return resp.Header, fromStatus(resp.StatusCode, "admin API answered "+resp.Status)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return resp.Header, fmt.Errorf("admin API answer: %w", err)
		}
	}
	return resp.Header, nil
}

// Values writes the query as GET /api/v1/incidents reads it.
func (q IncidentQuery) Values() url.Values {
	v := url.Values{}
	if q.All {
		v.Set("all", "true")
	}
	for k, s := range map[string]string{"status": q.Status, "rule": q.Rule, "account": q.Account, "number": q.Number} {
		if s != "" {
			v.Set(k, s)
		}
	}
	return v
}

func withQuery(path string, v url.Values) string {
	if q := v.Encode(); q != "" {
		return path + "?" + q
	}
	return path
}

func (c *Client) Incidents(ctx context.Context, q IncidentQuery) ([]incident.Incident, error) {
	var list []incident.Incident
	_, err := c.call(ctx, http.MethodGet, withQuery(c.api()+"/incidents", q.Values()), nil, &list)
	return list, err
}

func (c *Client) Incident(ctx context.Context, fp string) (incident.Incident, error) {
	var inc incident.Incident
	_, err := c.call(ctx, http.MethodGet, c.api()+"/incidents/"+url.PathEscape(fp), nil, &inc)
	return inc, err
}

func (c *Client) ResolveIncident(ctx context.Context, fp string, by Actor) (Resolved, error) {
	var in any
	if by != (Actor{}) {
		in = by
	}
	var res Resolved
	_, err := c.call(ctx, http.MethodPost, c.api()+"/incidents/"+url.PathEscape(fp)+"/resolve", in, &res)
	return res, err
}

func (c *Client) Silences(ctx context.Context, f SilenceFilter) ([]silence.Silence, error) {
	var l []silence.Silence
	_, err := c.call(ctx, http.MethodGet, withQuery(c.api()+"/silences", f.Values()), nil, &l)
	return l, err
}

func (c *Client) SaveSilences(ctx context.Context, in []SilenceInput, asNew bool) ([]silence.Silence, error) {
	if asNew {
		for i := range in {
			in[i].ID = ""
		}
	}
	var out []silence.Silence
	_, err := c.call(ctx, http.MethodPost, c.api()+"/silences", in, &out)
	return out, err
}

func (c *Client) ExpireSilence(ctx context.Context, id string) (silence.Silence, error) {
	var s silence.Silence
	_, err := c.call(ctx, http.MethodDelete, c.api()+"/silences/"+url.PathEscape(id), nil, &s)
	return s, err
}

// PreviewRequest is the body of POST /api/v1/silences/preview.
type PreviewRequest struct {
	Matchers MatcherList `json:"matchers"`
}

func (c *Client) PreviewSilence(ctx context.Context, ms []silence.Matcher) ([]incident.Incident, error) {
	var out []incident.Incident
	_, err := c.call(ctx, http.MethodPost, c.api()+"/silences/preview", PreviewRequest{Matchers: ms}, &out)
	return out, err
}

func (c *Client) DeadLetters(ctx context.Context) ([]outbox.DeadLetter, error) {
	var dead []outbox.DeadLetter
	_, err := c.call(ctx, http.MethodGet, c.api()+"/dlq", nil, &dead)
	return dead, err
}

func (c *Client) DeadLetter(ctx context.Context, id string) (outbox.DeadLetter, error) {
	var d outbox.DeadLetter
	_, err := c.call(ctx, http.MethodGet, c.api()+"/dlq/"+url.PathEscape(id), nil, &d)
	return d, err
}

func (c *Client) ReplayDead(ctx context.Context, id string) error {
	_, err := c.call(ctx, http.MethodPost, c.api()+"/dlq/"+url.PathEscape(id)+"/replay", nil, nil)
	return err
}

func (c *Client) DropDead(ctx context.Context, id string) error {
	_, err := c.call(ctx, http.MethodDelete, c.api()+"/dlq/"+url.PathEscape(id), nil, nil)
	return err
}

// Values writes the query as GET /api/v1/audit reads it.
func (q AuditQuery) Values() url.Values {
	v := url.Values{}
	if !q.Since.IsZero() {
		v.Set("since", q.Since.UTC().Format(time.RFC3339Nano))
	}
	if q.Code != 0 {
		v.Set("code", strconv.Itoa(q.Code))
	}
	if q.Source != "" {
		v.Set("source", q.Source)
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.Body {
		v.Set("payload", "true")
	}
	if q.Before != "" {
		v.Set("before", q.Before)
	}
	return v
}

func (c *Client) Audit(ctx context.Context, q AuditQuery) (AuditPage, error) {
	var recs AuditPage
	h, err := c.call(ctx, http.MethodGet, withQuery(c.api()+"/audit", q.Values()), nil, &recs.Records)
	if err != nil {
		return AuditPage{}, err
	}
	recs.Next = nextCursor(h.Get("Link"))
	return recs, nil
}

// nextCursor reads the before= of a Link header's rel="next" target.
func nextCursor(link string) string {
	for _, part := range strings.Split(link, ",") {
		target, params, ok := strings.Cut(strings.TrimSpace(part), ";")
		if !ok || !strings.Contains(params, `rel="next"`) {
			continue
		}
		u, err := url.Parse(strings.Trim(strings.TrimSpace(target), "<>"))
		if err != nil {
			return ""
		}
		return u.Query().Get("before")
	}
	return ""
}

func (c *Client) Stats(ctx context.Context) (Stats, error) {
	var s Stats
	_, err := c.call(ctx, http.MethodGet, c.api()+"/stats", nil, &s)
	return s, err
}

func (c *Client) DryRun(ctx context.Context, req DryRunRequest) (*Report, error) {
	var rep *Report
	_, err := c.call(ctx, http.MethodPost, c.api()+"/test", req, &rep)
	return rep, err
}

// Reload asks the server to reload. A reload the server refused (422) is a
// result with Status "failure", as Local answers it.
func (c *Client) Reload(ctx context.Context) (ReloadResult, error) {
	var res ReloadResult
	_, err := c.call(ctx, http.MethodPost, c.Base+"/-/reload", nil, &res, http.StatusUnprocessableEntity)
	return res, err
}
