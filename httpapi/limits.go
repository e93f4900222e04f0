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
type deadlineBody struct {
	io.ReadCloser
	rc      *http.ResponseController
	timeout time.Duration
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	switch {
	case err == io.EOF:
		_ = b.rc.SetReadDeadline(time.Time{})
	case errors.Is(err, os.ErrDeadlineExceeded):
		return n, berth.Invalid("body", "not received within %s: send the request body without pauses", b.timeout)
	}
	return n, err
}

// bodyDeadline gives a request body BodyTimeout to arrive. Requests without
// a body (WebSocket upgrades, log follows: the long streams) get none.
func (s *Server) bodyDeadline(w http.ResponseWriter, r *http.Request) {
	if s.BodyTimeout <= 0 || r.Body == nil || r.Body == http.NoBody {
		return
	}
	rc := http.NewResponseController(w)
	if rc.SetReadDeadline(time.Now().Add(s.BodyTimeout)) != nil {
		return // not a connection with deadlines (a test recorder)
	}
	r.Body = &deadlineBody{ReadCloser: r.Body, rc: rc, timeout: s.BodyTimeout}
}
