package httpapi

import (
	"crypto/subtle"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/auth"
)

// clientIP is the address failed authentications and unauthenticated
// requests are counted against: the connection's peer, unless the peer is
// one of TrustedProxies; then the X-Forwarded-For hop nearest to berth that
// is not itself a trusted proxy (the hops before it are whatever the client
// claimed, so they are never believed).
func (s *Server) clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil || !s.trusted(peer) {
		return host
	}
	var hops []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		for h := range strings.SplitSeq(v, ",") {
			hops = append(hops, strings.TrimSpace(h))
		}
	}
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(hops[i])
		if err != nil {
			break // garbage from here on: the last good hop stands
		}
		a = a.Unmap()
		if !s.trusted(a) {
			return a.String()
		}
		host = a.String()
	}
	return host
}

func (s *Server) trusted(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range s.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ParseTrustedProxies reads addresses and CIDR prefixes ("10.0.0.0/8",
// "127.0.0.1") for Deps.TrustedProxies.
func ParseTrustedProxies(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, v := range list {
		v = strings.TrimSpace(v)
		if v == "" {
			continue
		}
		if p, err := netip.ParsePrefix(v); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(v)
		if err != nil {
			return nil, berth.Invalid("trustedProxies", "%q is neither an address nor a CIDR prefix", v)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// authBlocked answers 429 when the client has spent its failed
// authentications; good credentials never count, but while a client is
// blocked no credential of it is checked, so it cannot go on guessing.
func (s *Server) authBlocked(w http.ResponseWriter, r *http.Request) bool {
	if s.AuthFailures == nil {
		return false
	}
	if wait := s.AuthFailures.Wait("ip:" + s.clientIP(r)); wait > 0 {
		writeError(w, r, auth.Limited(wait, "too many failed authentications from this address"))
		return true
	}
	return false
}

// authFailed counts a bad credential (key, token, ticket, password,
// metrics token) against the client.
func (s *Server) authFailed(r *http.Request) {
	if s.AuthFailures != nil {
		s.AuthFailures.Spend("ip:" + s.clientIP(r))
	}
}

// setRetryAfter sets Retry-After from a RATE_LIMITED error that says how long.
func setRetryAfter(w http.ResponseWriter, err error) {
	var ra auth.RetryAfter
	if errors.As(err, &ra) {
		w.Header().Set("Retry-After", strconv.Itoa(ra.Seconds()))
	}
}

// bearer returns the credential of an Authorization: Bearer header.
func bearer(r *http.Request) (string, bool) {
	cred, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	cred = strings.TrimSpace(cred)
	return cred, ok && cred != ""
}

// metricsAuthorized checks /metrics' bearer token when one is configured.
func (s *Server) metricsAuthorized(w http.ResponseWriter, r *http.Request) bool {
	if s.MetricsToken == "" {
		return true
	}
	cred, ok := bearer(r)
	if !ok {
		writeError(w, r, berth.Errorf(berth.EUNAUTHORIZED, "missing credential: /metrics needs Authorization: Bearer <metricsToken>"))
		return false
	}
	if s.authBlocked(w, r) {
		return false
	}
	if subtle.ConstantTimeCompare([]byte(cred), []byte(s.MetricsToken)) != 1 {
		s.authFailed(r)
		writeError(w, r, berth.Errorf(berth.EUNAUTHORIZED, "invalid metrics token"))
		return false
	}
	return true
}

// deadlineBody ends a request body's read deadline once the whole body is
// in, so that a slow handler after it is not cut off (net/http's background
// read would hit the deadline and cancel the request), and turns the
// deadline's error into one a client can read. On a timeout the deadline
// stays: net/http's discard of the unread rest then fails at once and the
// connection is closed after the answer.
//
// An idle deadline moves on with every read that brings bytes: a proxied
// upload may take as long as it keeps flowing, but not pause for longer.
type deadlineBody struct {
	io.ReadCloser
	rc      *http.ResponseController
	timeout time.Duration
	idle    bool
	until   atomic.Int64 // the deadline set, in Unix ns; 0 once the body is in
}

// setDeadline sets the connection's read deadline (t zero: none) and
// keeps it for bodyStalled.
func (b *deadlineBody) setDeadline(t time.Time) error {
	if err := b.rc.SetReadDeadline(t); err != nil {
		return err
	}
	var ns int64 // zero time: 0 (UnixNano of it is undefined)
	if !t.IsZero() {
		ns = t.UnixNano()
	}
	b.until.Store(ns)
	return nil
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	switch {
	case err == io.EOF:
		_ = b.setDeadline(time.Time{})
	case errors.Is(err, os.ErrDeadlineExceeded):
		return n, b.stallError()
	case err == nil && n > 0 && b.idle:
		_ = b.setDeadline(time.Now().Add(b.timeout))
	}
	return n, err
}

func (b *deadlineBody) stallError() error {
	if b.idle {
		return berth.Invalid("body", "paused for over %s: send the request body without pauses", b.timeout)
	}
	return berth.Invalid("body", "not received within %s: send the request body without pauses", b.timeout)
}

// bodyStalled answers the body's error when a proxied request failed with
// err because its body missed its deadline. That error may come back
// through the transport, or, as a stalled read also cancels the request's
// context, only as the cancellation: then the deadline tells.
func bodyStalled(r *http.Request, err error, now time.Time) error {
	if berth.ErrorCode(err) == berth.EINVALID {
		return err
	}
	if b := state(r).body; b != nil {
		if u := b.until.Load(); u > 0 && now.UnixNano() >= u {
			return b.stallError()
		}
	}
	return nil
}

// bodyDeadline gives a request body BodyTimeout to arrive; with idle (the
// environment proxy, whose uploads the workspace bounds in size), BodyTimeout
// between two reads that bring bytes. Requests without a body (WebSocket
// upgrades, log follows: the long streams) get none.
func (s *Server) bodyDeadline(w http.ResponseWriter, r *http.Request, idle bool) {
	if s.BodyTimeout <= 0 || r.Body == nil || r.Body == http.NoBody {
		return
	}
	b := &deadlineBody{ReadCloser: r.Body, rc: http.NewResponseController(w), timeout: s.BodyTimeout, idle: idle}
	if b.setDeadline(time.Now().Add(s.BodyTimeout)) != nil {
		return // not a connection with deadlines (a test recorder)
	}
	r.Body = b
	state(r).body = b
}
