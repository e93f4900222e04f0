package httpapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"html"
	"net"
	"net/http"
	"net/http/httputil"
	"strings"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/core"
	"github.com/berthhq/berth/workspace"
)

// envCookie is the proxy's session cookie; its Path (or host, in host mode)
// scopes it to one environment.
const envCookie = "berth_env"

// berthCookie reports whether a cookie is berth's own (never forwarded to a
// workspace, never set by one).
func berthCookie(name string) bool { return strings.HasPrefix(name, "berth") }

// sandboxCSP makes a proxied page an opaque origin in path mode, where it
// would otherwise run on berth's own origin and could read the dashboard's
// stored token of whoever opens it. No allow-same-origin, on purpose.
const sandboxCSP = "sandbox allow-scripts allow-forms allow-popups allow-modals allow-downloads"

// handleOpenEnvironment answers a URL that opens the environment in a
// browser: the proxy's URL with a single-use ticket.
func (s *Server) handleOpenEnvironment(w http.ResponseWriter, r *http.Request) {
	if s.EnvProxy == nil {
		writeError(w, r, berth.Errorf(berth.EUNAVAILABLE, "the environment proxy is not enabled on this server"))
		return
	}
	st := state(r)
	st.audit.resourceType = "environment"
	o, err := s.EnvProxy.Open(r.Context(), r.PathValue("id"), st.bearer)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, o)
}

// handleEnvRedirect sends /env/{id} to /env/{id}/, where relative links work.
func (s *Server) handleEnvRedirect(w http.ResponseWriter, r *http.Request) {
	u := "/env/" + r.PathValue("id") + "/"
	if r.URL.RawQuery != "" {
		u += "?" + r.URL.RawQuery
	}
	http.Redirect(w, r, u, http.StatusFound) // #nosec G710 -- a fixed /env/ prefix: never another host
}

// handleEnvProxy serves /env/{id}/… (path mode).
func (s *Server) handleEnvProxy(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.serveEnvProxy(w, r, id, "/env/"+id)
}

// envHost returns the environment id of a request to {id}.<envDomain>.
func (s *Server) envHost(r *http.Request) (string, bool) {
	if s.EnvProxy == nil || s.EnvProxy.Core().EnvDomain() == "" {
		return "", false
	}
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	id, ok := strings.CutSuffix(strings.ToLower(host), "."+s.EnvProxy.Core().EnvDomain())
	if !ok || !strings.HasPrefix(id, "env-") || strings.Contains(id, ".") {
		return "", false
	}
	return id, true
}

// serveEnvHost serves a whole request to {id}.<envDomain> (host mode)
// through the route chain, as /env/{id}/… is.
func (s *Server) serveEnvHost(w http.ResponseWriter, r *http.Request, id string) {
	s.wrap(route{method: r.Method, path: "{id}.<envDomain>/{path...}", proxy: true, handler: func(w http.ResponseWriter, r *http.Request) {
		s.serveEnvProxy(w, r, id, "")
	}}).ServeHTTP(w, r)
}

// serveEnvProxy authenticates a request to environment id (a ticket to
// redeem, a bearer credential or the cookie session) and forwards it to the
// workspace with the environment's secret, without berth's credentials.
// prefix is "/env/{id}" in path mode, "" in host mode.
func (s *Server) serveEnvProxy(w http.ResponseWriter, r *http.Request, id, prefix string) {
	if s.EnvProxy == nil {
		writeError(w, r, berth.Errorf(berth.EUNAVAILABLE, "the environment proxy is not enabled on this server"))
		return
	}
	st := state(r)
	if t := r.URL.Query().Get(core.EnvTicketParam); t != "" {
		sess, err := s.EnvProxy.Redeem(r.Context(), id, t)
		if err != nil {
			s.envProxyError(w, r, err)
			return
		}
		http.SetCookie(w, &http.Cookie{Name: envCookie, Value: sess.Value, Path: prefix + "/", Expires: sess.ExpiresAt, // #nosec G124 -- HttpOnly and SameSite always; Secure whenever the public URL is https (a plain-http install on loopback needs the cookie too)
			HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.EnvProxy.Secure()})
		// The same address without the ticket, so it stays out of history
		// and of what the workspace sees.
		q := r.URL.Query()
		q.Del(core.EnvTicketParam)
		loc := r.URL.EscapedPath()
		if enc := q.Encode(); enc != "" {
			loc += "?" + enc
		}
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, loc, http.StatusSeeOther) // #nosec G710 -- the same path below /env/{id}/ that was asked for: never another host
		return
	}
	bearer := ""
	if v, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		bearer = strings.TrimSpace(v)
	}
	session := ""
	if c, err := r.Cookie(envCookie); err == nil {
		session = c.Value
	}
	tgt, err := s.EnvProxy.Authorize(r.Context(), id, session, bearer)
	if err != nil {
		s.envProxyError(w, r, err)
		return
	}
	st.actor, st.authed = tgt.Actor, true
	s.envReverseProxy(id, prefix, tgt).ServeHTTP(w, r)
}

// envProxyError answers a refused proxy request: a page saying where to
// open the environment for a browser navigation, the API's JSON otherwise.
func (s *Server) envProxyError(w http.ResponseWriter, r *http.Request, err error) {
	code := berth.ErrorCode(err)
	navigation := r.Header.Get("Sec-Fetch-Mode") == "navigate" || strings.Contains(r.Header.Get("Accept"), "text/html")
	if code != berth.EUNAUTHORIZED || !navigation {
		writeError(w, r, err)
		return
	}
	st := state(r)
	st.errMsg = berth.ErrorMessage(err)
	dash := s.EnvProxy.Core().PublicURL() + "/"
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusUnauthorized)
	fmt.Fprintf(w, `<!doctype html><meta charset="utf-8"><title>Sign in to open this environment</title>
<h1>Open this environment from the berth dashboard</h1>
<p>%s</p>
<p>Environments are served only to their owner and admins: sign in to the <a href="%s">berth dashboard</a> and use <em>Open</em> on the environment.</p>
`, html.EscapeString(berth.ErrorMessage(err)), html.EscapeString(dash))
}

type upstreamKey struct{}

// envTransport dials the upstream that the request's context names (a
// workspace's loopback port or Unix socket).
func newEnvTransport() *http.Transport {
	return &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			up, ok := ctx.Value(upstreamKey{}).(berth.Upstream)
			if !ok {
				return nil, fmt.Errorf("dial workspace: no upstream")
			}
			d := net.Dialer{Timeout: 10 * time.Second}
			return d.DialContext(ctx, up.Network, up.Address)
		},
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true, // pass the workspace's encoding through as is
	}
}

func (s *Server) envReverseProxy(id, prefix string, tgt *core.ProxyTarget) http.Handler {
	// The pool is keyed by URL host: one per upstream, never shared by two.
	sum := sha256.Sum256([]byte(tgt.Upstream.Network + " " + tgt.Upstream.Address))
	poolHost := id + "-" + hex.EncodeToString(sum[:6]) + ".upstream"
	rp := &httputil.ReverseProxy{
		Transport:     s.envTransport,
		FlushInterval: -1,
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out = pr.Out.WithContext(context.WithValue(pr.Out.Context(), upstreamKey{}, tgt.Upstream))
			pr.Out.URL.Scheme, pr.Out.URL.Host = "http", poolHost
			path, raw := strings.TrimPrefix(pr.In.URL.Path, prefix), strings.TrimPrefix(pr.In.URL.EscapedPath(), prefix)
			if path == "" {
				path, raw = "/", "/"
			}
			pr.Out.URL.Path, pr.Out.URL.RawPath = path, raw
			pr.Out.Host = pr.In.Host // code-server checks Origin against Host on WebSockets
			pr.SetXForwarded()
			if prefix != "" {
				pr.Out.Header.Set("X-Forwarded-Prefix", prefix)
			}
			// berth's credentials stay with berth: a bearer header and berth's
			// cookies. Basic auth (a codeServerPassword) is the workspace's.
			if strings.HasPrefix(pr.Out.Header.Get("Authorization"), "Bearer ") {
				pr.Out.Header.Del("Authorization")
			}
			stripBerthCookies(pr.Out.Header)
			pr.Out.Header.Set(workspace.ProxySecretHeader, tgt.Secret)
		},
		ModifyResponse: func(resp *http.Response) error {
			h := resp.Header
			h.Del(workspace.ProxySecretHeader)
			if prefix == "" {
				return nil // host mode: the environment has its own origin
			}
			h.Add("Content-Security-Policy", sandboxCSP)
			h.Del("Clear-Site-Data") // would reach the dashboard's storage
			if loc := h.Get("Location"); strings.HasPrefix(loc, "/") && !strings.HasPrefix(loc, "//") {
				h.Set("Location", prefix+loc)
			}
			scopeCookies(h, prefix)
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if stall := bodyStalled(r, err, time.Now()); stall != nil {
				writeError(w, r, stall)
				return
			}
			s.Logger.Warn("proxy to environment", "environment", id, "err", err, "request_id", state(r).id)
			writeError(w, r, berth.Errorf(berth.EUNAVAILABLE, "environment %s does not answer: is it running?", id))
		},
	}
	return rp
}

// stripBerthCookies removes berth's cookies from a forwarded request.
func stripBerthCookies(h http.Header) {
	lines := h.Values("Cookie")
	if len(lines) == 0 {
		return
	}
	var keep []string
	for _, line := range lines {
		for _, part := range strings.Split(line, ";") {
			name, _, _ := strings.Cut(strings.TrimSpace(part), "=")
			if name != "" && !berthCookie(name) {
				keep = append(keep, strings.TrimSpace(part))
			}
		}
	}
	h.Del("Cookie")
	if len(keep) > 0 {
		h.Set("Cookie", strings.Join(keep, "; "))
	}
}

// scopeCookies keeps a workspace's cookies inside its own path in path
// mode: berth's names and other domains are dropped, paths get the prefix.
func scopeCookies(h http.Header, prefix string) {
	lines := h.Values("Set-Cookie")
	if len(lines) == 0 {
		return
	}
	h.Del("Set-Cookie")
	for _, line := range lines {
		c, err := http.ParseSetCookie(line)
		if err != nil || berthCookie(c.Name) || c.Domain != "" {
			continue
		}
		p := c.Path
		if !strings.HasPrefix(p, "/") {
			p = "/"
		}
		c.Path = prefix + p
		h.Add("Set-Cookie", c.String())
	}
}
