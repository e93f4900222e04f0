// Package client is the Go client of the berth API. Every method takes a
// context (deadlines and cancellation come from it) and answers server errors
// as *berth.Error, so callers can switch on berth.ErrorCode.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/api"
)

// Client calls one berth server with one credential (a session token or an
// API key "brt_…"; empty for login).
type Client struct {
	base  string
	token string
	http  *http.Client
	agent string
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sets the HTTP client (default: a client without a timeout,
// so that log streams can last; bound calls with the context instead).
func WithHTTPClient(h *http.Client) Option { return func(c *Client) { c.http = h } }

// WithUserAgent sets the User-Agent header.
func WithUserAgent(ua string) Option { return func(c *Client) { c.agent = ua } }

// New returns a client of the server at baseURL ("http://127.0.0.1:8080").
func New(baseURL, token string, opts ...Option) *Client {
	c := &Client{base: strings.TrimRight(baseURL, "/"), token: token, http: &http.Client{}, agent: "berth-client"}
	for _, o := range opts {
		o(c)
	}
	return c
}

// BaseURL returns the server URL the client calls.
func (c *Client) BaseURL() string { return c.base }

// SetToken replaces the credential, e.g. after Login.
func (c *Client) SetToken(token string) { c.token = token }

type rawKey struct{}

// WithRawBody returns a context under which every successful call stores the
// server's JSON answer in dst (the last call wins). The CLI uses it to print
// the API's own answer for -o json.
func WithRawBody(ctx context.Context, dst *json.RawMessage) context.Context {
	return context.WithValue(ctx, rawKey{}, dst)
}

// maxErrorBody bounds what is read of an error answer.
const maxErrorBody = 64 << 10

// do sends one request: in (when not nil) as the JSON body, the JSON answer
// decoded into out (when not nil). Non-2xx answers become *berth.Error.
func (c *Client) do(ctx context.Context, method, path string, q url.Values, in, out any) error {
	resp, err := c.send(ctx, method, path, q, in, "application/json")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := decodeBody(ctx, resp, out); err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	return nil
}

// decodeBody reads a 2xx answer into out (when not nil), keeping a copy for
// WithRawBody.
func decodeBody(ctx context.Context, resp *http.Response, out any) error {
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("read answer: %w", err)
	}
	if dst, ok := ctx.Value(rawKey{}).(*json.RawMessage); ok && dst != nil {
		*dst = append((*dst)[:0], body...)
	}
	if out == nil || len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("decode answer: %w", err)
	}
	return nil
}

// send performs the request and returns the response of a 2xx answer; any
// other answer is read, closed and returned as an error.
func (c *Client) send(ctx context.Context, method, path string, q url.Values, in any, accept string) (*http.Response, error) {
	return c.sendWith(ctx, method, path, q, in, accept, nil)
}

// sendWith is send with extra request headers (preconditions).
func (c *Client) sendWith(ctx context.Context, method, path string, q url.Values, in any, accept string, hdr http.Header) (*http.Response, error) {
	u := c.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, fmt.Errorf("%s %s: encode request: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	req.Header.Set("Accept", accept)
	req.Header.Set("User-Agent", c.agent)
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, c.base+path, unwrapURLError(err))
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		return nil, decodeError(resp.StatusCode, b)
	}
	return resp, nil
}

// unwrapURLError drops url.Error's repetition of method and URL.
func unwrapURLError(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}

// decodeError turns an error answer into *berth.Error: the server's code and
// message when it sent the API's error JSON, else a code from the status.
func decodeError(status int, body []byte) *berth.Error {
	var e api.Error
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		if e.Message == "" {
			e.Message = string(e.Error)
		}
		return &berth.Error{Code: e.Error, Message: e.Message, Field: e.Field}
	}
	msg := fmt.Sprintf("server answered %d %s", status, http.StatusText(status))
	if s := strings.TrimSpace(string(body)); s != "" {
		if len(s) > 200 {
			s = s[:200] + "…"
		}
		msg += ": " + s
	}
	return &berth.Error{Code: codeOf(status), Message: msg}
}

// statusCodes reads the status of an answer that is not berth's JSON (a
// proxy or load balancer in between, or an old server) as the code it most
// likely means; berth's own answers name their code.
var statusCodes = map[int]berth.Code{
	http.StatusBadRequest: berth.EINVALID, http.StatusUnauthorized: berth.EUNAUTHORIZED,
	http.StatusForbidden: berth.EFORBIDDEN, http.StatusNotFound: berth.ENOTFOUND, http.StatusConflict: berth.ECONFLICT,
	http.StatusTooManyRequests: berth.ERATELIMITED, http.StatusNotImplemented: berth.ENOTSUPPORTED,
	http.StatusServiceUnavailable: berth.EUNAVAILABLE,
}

func codeOf(status int) berth.Code {
	if c, ok := statusCodes[status]; ok {
		return c
	}
	if status >= 400 && status < 500 {
		return berth.EINVALID
	}
	return berth.EINTERNAL
}

// Ack is the answer of calls that only confirm (api.Ack).
type Ack = api.Ack

// ListOptions pages a list; zero values take the server's defaults.
type ListOptions struct {
	Page     int
	PageSize int
}

func (o ListOptions) values() url.Values {
	q := url.Values{}
	if o.Page > 0 {
		q.Set("page", fmt.Sprint(o.Page))
	}
	if o.PageSize > 0 {
		q.Set("pageSize", fmt.Sprint(o.PageSize))
	}
	return q
}

// esc escapes one path segment (a name or an id).
func esc(s string) string { return url.PathEscape(s) }
