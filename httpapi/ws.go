package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/api"
	"github.com/berthhq/berth/core"
	"github.com/berthhq/berth/wshub"
)

func (s *Server) hubMissing(w http.ResponseWriter, r *http.Request) bool {
	if s.Hub == nil {
		writeError(w, r, berth.Errorf(berth.EUNAVAILABLE, "live events are not enabled on this server"))
		return true
	}
	return false
}

// handleWSTicket issues a short-lived, single-use ticket for /ws?ticket=.
func (s *Server) handleWSTicket(w http.ResponseWriter, r *http.Request) {
	if s.hubMissing(w, r) {
		return
	}
	t, exp, err := s.Hub.IssueTicket(r.Context(), state(r).actor)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, api.WSTicket{Ticket: t, ExpiresAt: exp.UTC()})
}

// handleWS authenticates by ?ticket= (browsers) or a bearer credential
// (other clients), then hands the connection to the hub.
func (s *Server) handleWS(w http.ResponseWriter, r *http.Request) {
	if s.hubMissing(w, r) {
		return
	}
	st := state(r)
	if t := r.URL.Query().Get("ticket"); t != "" {
		if s.authBlocked(w, r) {
			return
		}
		a, ok, err := s.Hub.Redeem(r.Context(), t)
		if err != nil {
			writeError(w, r, err)
			return
		}
		if !ok {
			s.authFailed(r)
			writeError(w, r, berth.Errorf(berth.EUNAUTHORIZED, "invalid or expired WebSocket ticket: get a new one from POST /api/v1/ws-ticket"))
			return
		}
		// The session behind the ticket may have ended since it was issued.
		if err := s.Accounts.Check(r.Context(), a); err != nil {
			writeError(w, r, err)
			return
		}
		st.actor = a
	} else {
		cred, ok := bearer(r)
		if !ok {
			writeError(w, r, berth.Errorf(berth.EUNAUTHORIZED, "missing credential: connect with ?ticket= from POST /api/v1/ws-ticket, or send Authorization: Bearer"))
			return
		}
		if s.authBlocked(w, r) {
			return
		}
		a, err := s.Accounts.Authenticate(r.Context(), cred)
		if err != nil {
			if berth.IsCode(err, berth.EUNAUTHORIZED) {
				s.authFailed(r)
			}
			writeError(w, r, err)
			return
		}
		st.actor = a
	}
	if !st.actor.Role.AtLeast(berth.RoleViewer) {
		writeError(w, r, berth.Errorf(berth.EFORBIDDEN, "viewer role required"))
		return
	}
	st.authed = true
	if err := s.Hub.Serve(w, r, st.actor); err != nil {
		// Over the global cap (503) or the user's own (429): the header
		// says when to try again either way.
		w.Header().Set("Retry-After", "5")
		writeError(w, r, err)
	}
}

// logFollower is the caller of the hub's shared log streams.
var logFollower = berth.Actor{UserID: "system:log-follower", Username: "system", Role: berth.RoleViewer}

// FollowLogs is the hub's LogFollower over core: the new lines of the
// service a log topic names, from now on, for as long as anyone subscribes.
// The topic's target and namespace narrow the lookup as ?target= and
// ?namespace= do on /api/v1/services/{name}: a plain name that several
// targets or namespaces have is a CONFLICT, which ends the stream with that
// message. One follower serves every subscriber of a topic, so it reads as
// logFollower: a viewer, as every subscriber is at least (services and their
// logs are shared), and no more.
func FollowLogs(c *core.Core) wshub.LogFollower {
	return func(ctx context.Context, ref berth.ServiceRef, fn func(berth.LogLine) error) error {
		ctx = berth.WithActor(ctx, logFollower)
		q := core.ServiceQuery{Name: ref.Name, Target: ref.Target, Namespace: ref.Namespace}
		_, err := c.ServiceLogs(ctx, q, berth.LogOptions{Follow: true, Since: time.Now()}, fn)
		if berth.IsCode(err, berth.ECONFLICT) && ref.Target == "" {
			// core's message names the query parameters of the REST route.
			return berth.Errorf(berth.ECONFLICT, "%s (in a topic: %s)", berth.ErrorMessage(err), wshub.LogTopicSyntax)
		}
		return err
	}
}
