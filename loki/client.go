// Package loki reads service logs from Grafana Loki: a LogQL client
// (query_range and tail) and a berth.ServiceLogger that maps a service to a
// stream selector.
package loki

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/berthhq/berth"
	"github.com/coder/websocket"
)

// Direction orders a query's entries: Backward returns the newest first, so a
// limit keeps the latest lines.
type Direction string

const (
	Forward  Direction = "forward"
	Backward Direction = "backward"
)

// Entry is one log line with the labels of its stream.
type Entry struct {
	Time   time.Time
	Labels map[string]string
	Line   string
}

// ErrTailClosed is in the chain of Tail's error when Loki closed the stream.
var ErrTailClosed = errors.New("loki closed the tail")

// Client speaks Loki's HTTP API.
type Client struct {
	base   *url.URL
	name   string // the base URL without credentials, for messages
	http   *http.Client
	tenant string
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sets the client for query_range and /ready (default: one with
// a 30 s timeout). Tail uses it for the WebSocket handshake.
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.http = hc } }

// WithTenant sends X-Scope-OrgID, for a Loki with multi-tenancy on.
func WithTenant(id string) Option { return func(c *Client) { c.tenant = id } }

// New returns a client of the Loki at baseURL (http or https; user:password
// in the URL becomes basic auth and never appears in errors).
func New(baseURL string, opts ...Option) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("loki: URL must be http(s)://host[:port][/path], got %q", redact(baseURL))
	}
	c := &Client{base: u, http: &http.Client{Timeout: 30 * time.Second}}
	safe := *u
	safe.User = nil
	c.name = safe.String()
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// URL is the Loki base URL without credentials.
func (c *Client) URL() string { return c.name }

// Ready checks Loki's /ready (for readiness probes).
func (c *Client) Ready(ctx context.Context) error {
	req, err := c.request(ctx, c.endpoint("http", "/ready", nil))
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return c.unreachable(ctx, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return c.status(resp)
	}
	return nil
}

// Query runs a log query over [start, end) and returns at most limit entries
// (Loki caps the limit with max_entries_limit_per_query, 5000 by default),
// merged across streams and sorted in direction.
func (c *Client) Query(ctx context.Context, query string, start, end time.Time, limit int, dir Direction) ([]Entry, error) {
	q := url.Values{
		"query":     {query},
		"start":     {strconv.FormatInt(start.UnixNano(), 10)},
		"end":       {strconv.FormatInt(end.UnixNano(), 10)},
		"limit":     {strconv.Itoa(limit)},
		"direction": {string(dir)},
	}
	req, err := c.request(ctx, c.endpoint("http", "/loki/api/v1/query_range", q))
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, c.unreachable(ctx, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, c.status(resp)
	}
	var body struct {
		Status string `json:"status"`
		Data   struct {
			ResultType string   `json:"resultType"`
			Result     []stream `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, berth.Errorf(berth.EUNAVAILABLE, "loki at %s: unreadable query answer: %v", c.name, err)
	}
	if body.Data.ResultType != "streams" {
		return nil, berth.Errorf(berth.EINVALID, "loki at %s: %q is not a log query (it answers %s)", c.name, query, body.Data.ResultType)
	}
	out, err := entries(body.Data.Result)
	if err != nil {
		return nil, berth.Errorf(berth.EUNAVAILABLE, "loki at %s: unreadable query answer: %v", c.name, err)
	}
	sortEntries(out, dir)
	return out, nil
}

// Tail streams entries of query as Loki ingests them, starting with those
// since start, until ctx is done or fn returns an error. It uses Loki's
// /loki/api/v1/tail WebSocket: lines are pushed as the ingesters receive
// them, including late (out-of-order) ones that a poll of query_range with a
// moving start would miss. Entries dropped by Loki (a slow reader) are lost;
// Loki reports them and Tail ignores the report.
func (c *Client) Tail(ctx context.Context, query string, start time.Time, fn func(Entry) error) error {
	q := url.Values{
		"query": {query},
		"start": {strconv.FormatInt(start.UnixNano(), 10)},
		"limit": {"5000"},
	}
	h := http.Header{}
	if c.tenant != "" {
		h.Set("X-Scope-OrgID", c.tenant)
	}
	if u := c.base.User; u != nil {
		pw, _ := u.Password()
		req := &http.Request{Header: http.Header{}}
		req.SetBasicAuth(u.Username(), pw)
		h.Set("Authorization", req.Header.Get("Authorization"))
	}
	conn, resp, err := websocket.Dial(ctx, c.endpoint("ws", "/loki/api/v1/tail", q), &websocket.DialOptions{HTTPClient: c.http, HTTPHeader: h})
	if err != nil {
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			return c.status(resp)
		}
		return c.unreachable(ctx, err)
	}
	defer conn.CloseNow()
	conn.SetReadLimit(16 << 20)
	for {
		_, data, err := conn.Read(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if websocket.CloseStatus(err) != -1 {
				// Loki closes with a reason: tail_max_duration reached, a
				// tail limit, ingesters gone.
				return &berth.Error{Code: berth.EUNAVAILABLE, Message: fmt.Sprintf("loki at %s ended the tail: %v", c.name, err), Err: ErrTailClosed}
			}
			return c.unreachable(ctx, err)
		}
		var msg struct {
			Streams []stream `json:"streams"`
		}
		if err := json.Unmarshal(data, &msg); err != nil {
			return berth.Errorf(berth.EUNAVAILABLE, "loki at %s: unreadable tail message: %v", c.name, err)
		}
		es, err := entries(msg.Streams)
		if err != nil {
			return berth.Errorf(berth.EUNAVAILABLE, "loki at %s: unreadable tail message: %v", c.name, err)
		}
		sortEntries(es, Forward)
		for _, e := range es {
			if err := fn(e); err != nil {
				return err
			}
		}
	}
}

func (c *Client) endpoint(scheme, path string, q url.Values) string {
	u := *c.base
	if scheme == "ws" {
		u.Scheme = map[string]string{"http": "ws", "https": "wss"}[u.Scheme]
	}
	u.User = nil
	u.Path += path
	u.RawQuery = q.Encode()
	return u.String()
}

func (c *Client) request(ctx context.Context, target string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return nil, fmt.Errorf("loki at %s: build request: %w", c.name, err)
	}
	if c.tenant != "" {
		req.Header.Set("X-Scope-OrgID", c.tenant)
	}
	if u := c.base.User; u != nil {
		pw, _ := u.Password()
		req.SetBasicAuth(u.Username(), pw)
	}
	return req, nil
}

// unreachable maps a transport failure to UNAVAILABLE naming Loki; the
// caller's own cancellation stays what it is.
func (c *Client) unreachable(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	// url.Error repeats the request URL; the cause is enough.
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return berth.Errorf(berth.EUNAVAILABLE, "loki at %s is unreachable: %v", c.name, err)
}

// status maps an error answer: Loki rejects a bad query with 400 and its
// reason; anything else means Loki cannot serve now.
func (c *Client) status(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 2048))
	reason := strings.TrimSpace(string(b))
	if reason == "" {
		reason = resp.Status
	}
	if resp.StatusCode == http.StatusBadRequest {
		return berth.Errorf(berth.EINVALID, "loki at %s rejected the query: %s", c.name, reason)
	}
	return berth.Errorf(berth.EUNAVAILABLE, "loki at %s answered %d: %s", c.name, resp.StatusCode, reason)
}

// stream is Loki's stream result: labels and [timestamp, line, metadata?] values.
type stream struct {
	Stream map[string]string   `json:"stream"`
	Values [][]json.RawMessage `json:"values"`
}

func entries(streams []stream) ([]Entry, error) {
	var out []Entry
	for _, s := range streams {
		for _, v := range s.Values {
			if len(v) < 2 {
				return nil, fmt.Errorf("stream value with %d elements", len(v))
			}
			var ts, line string
			if err := json.Unmarshal(v[0], &ts); err != nil {
				return nil, fmt.Errorf("timestamp: %w", err)
			}
			if err := json.Unmarshal(v[1], &line); err != nil {
				return nil, fmt.Errorf("line: %w", err)
			}
			ns, err := strconv.ParseInt(ts, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("timestamp %q: %w", ts, err)
			}
			out = append(out, Entry{Time: time.Unix(0, ns).UTC(), Labels: s.Stream, Line: line})
		}
	}
	return out, nil
}

// sortEntries merges streams by time; within one stream Loki's order is kept.
func sortEntries(es []Entry, dir Direction) {
	sort.SliceStable(es, func(i, j int) bool {
		if dir == Backward {
			return es[i].Time.After(es[j].Time)
		}
		return es[i].Time.Before(es[j].Time)
	})
}

func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	u.User = nil
	return u.String()
}
