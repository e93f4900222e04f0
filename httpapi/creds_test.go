package httpapi

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/auth"
	"github.com/berthhq/berth/core"
	"github.com/berthhq/berth/wshub"
	"github.com/coder/websocket"
)

// closedWith waits for the server to close c and returns the close status.
func (c *wsClient) closedWith(d time.Duration) websocket.StatusCode {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	for {
		_, _, err := c.conn.Read(ctx)
		if err == nil {
			continue
		}
		if ctx.Err() != nil {
			return -1 // still open
		}
		return websocket.CloseStatus(err)
	}
}

// stillOpen reports whether the server keeps c open for d (the read's
// timeout then ends c).
func (c *wsClient) stillOpen(d time.Duration) bool {
	return c.closedWith(d) == -1
}

// TestWSRevocationEvents: a revocation on the bus closes exactly the
// connections of the credential it names (4001), never reaches clients as
// an event, and leaves every other connection open.
func TestWSRevocationEvents(t *testing.T) {
	t.Parallel()
	l := newLive(t, wshub.Config{})
	ctx := context.Background()
	// An API key of the viewer, to tell key connections from sessions.
	id, secret, full, _ := auth.NewAPIKey()
	must(t, l.store.CreateAPIKey(ctx, &berth.APIKey{ID: id, Name: "k", UserID: l.viewrA.UserID, Role: berth.RoleViewer,
		SecretHash: auth.HashSecret(secret), CreatedAt: time.Now()}))

	tests := []struct {
		name                     string
		rev                      berth.Revocation
		session, key, other, ops bool // closed?
	}{
		{"one session", berth.Revocation{UserID: l.viewrA.UserID, SessionID: l.viewrA.SessionID}, true, false, false, false},
		{"sessions only (password)", berth.Revocation{UserID: l.viewrA.UserID, SessionsOnly: true}, true, false, false, false},
		{"one key", berth.Revocation{UserID: l.viewrA.UserID, KeyID: id}, false, true, false, false},
		{"whole user", berth.Revocation{UserID: l.viewrA.UserID}, true, true, false, false},
		{"another user", berth.Revocation{UserID: l.opsA.UserID}, false, false, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			session, key, admin, ops := l.dial(t, l.viewer), l.dial(t, full), l.dial(t, l.admin), l.dial(t, l.ops)
			for _, c := range []*wsClient{session, key, admin, ops} {
				c.send("subscribe", "services", "audit")
			}
			l.bus.Publish(ctx, berth.Event{Topic: berth.TopicSessions, Type: "credentials.revoked", Owner: tt.rev.UserID, Data: tt.rev})
			for _, c := range []struct {
				name   string
				c      *wsClient
				closed bool
			}{{"session", session, tt.session}, {"key", key, tt.key}, {"ops", ops, tt.ops}, {"admin", admin, tt.other}} {
				if c.closed {
					if st := c.c.closedWith(time.Second); st != wshub.CloseRevoked {
						t.Errorf("%s connection: close status %d within 1s, want %d", c.name, st, wshub.CloseRevoked)
					}
					continue
				}
				// A marker after the revocation: an open client gets it,
				// and nothing of the revocation before it.
				l.bus.Publish(ctx, berth.Event{Topic: "services", Type: "marker"})
				if fs := c.c.until("marker"); len(fs) != 0 {
					t.Errorf("%s connection received %v", c.name, types(fs))
				}
			}
		})
	}
}

// TestWSPeriodicCheck: the hub re-checks each connection's credential; an
// UNAUTHORIZED answer closes it (4001), any other error leaves it open. With
// the real Accounts.Check, a session whose epoch moved on in the store (no
// event published) is closed by the check alone.
func TestWSPeriodicCheck(t *testing.T) {
	t.Parallel()
	var check atomic.Pointer[func(context.Context, berth.Actor) error]
	fail := func(ctx context.Context, a berth.Actor) error { return berth.Errorf(berth.EUNAVAILABLE, "store down") }
	check.Store(&fail)
	l := newLive(t, wshub.Config{CheckInterval: 20 * time.Millisecond,
		Check: func(ctx context.Context, a berth.Actor) error { return (*check.Load())(ctx, a) }})
	c := l.dial(t, l.viewer)
	if !c.stillOpen(300 * time.Millisecond) {
		t.Fatal("a transient error of the check closed the connection")
	}

	acc := &core.Accounts{Store: l.store}
	real := acc.Check
	check.Store(&real)
	c = l.dial(t, l.viewer)
	other := l.dial(t, l.ops)
	if !c.stillOpen(200 * time.Millisecond) {
		t.Fatal("a valid session was closed by the check")
	}
	c = l.dial(t, l.viewer)
	u, err := l.store.GetUser(context.Background(), l.viewrA.UserID)
	must(t, err)
	u.SessionEpoch++
	must(t, l.store.UpdateUser(context.Background(), u))
	if st := c.closedWith(time.Second); st != wshub.CloseRevoked {
		t.Fatalf("session of an old epoch: close status %d, want %d", st, wshub.CloseRevoked)
	}
	if !other.stillOpen(200 * time.Millisecond) {
		t.Fatal("another user's connection was closed")
	}
}

// TestWSPerUserCapUnit: one user's connections stop at MaxPerUser with 429
// and Retry-After, while the global cap is far; others still connect.
func TestWSPerUserCapUnit(t *testing.T) {
	t.Parallel()
	l := newLive(t, wshub.Config{MaxClients: 100, MaxPerUser: 2})
	l.dial(t, l.viewer)
	l.dial(t, l.viewer)
	if got := dialStatus(t, l.wsURL("?ticket="+l.ticket(t, l.viewer)), nil); got != http.StatusTooManyRequests {
		t.Fatalf("third connection of one user: %d, want 429", got)
	}
	l.dial(t, l.ops)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestClientIP: X-Forwarded-For names the client only when the peer is a
// trusted proxy; then the nearest hop that is not itself trusted counts.
func TestClientIP(t *testing.T) {
	t.Parallel()
	proxies, err := ParseTrustedProxies([]string{"10.0.0.0/8", " 192.0.2.1 ", ""})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseTrustedProxies([]string{"not-an-ip"}); !berth.IsCode(err, berth.EINVALID) {
		t.Fatalf("bad proxy entry: %v", err)
	}
	s := &Server{Deps: Deps{TrustedProxies: proxies}}
	tests := []struct {
		remote string
		xff    []string
		want   string
	}{
		{"198.51.100.1:5000", nil, "198.51.100.1"},
		{"198.51.100.1:5000", []string{"203.0.113.9"}, "198.51.100.1"}, // untrusted peer: header ignored
		{"10.1.2.3:5000", nil, "10.1.2.3"},
		{"10.1.2.3:5000", []string{"203.0.113.9"}, "203.0.113.9"},
		{"10.1.2.3:5000", []string{"1.1.1.1, 203.0.113.9"}, "203.0.113.9"},     // the client's own claim is not believed
		{"10.1.2.3:5000", []string{"203.0.113.9, 10.9.9.9"}, "203.0.113.9"},    // through two proxies
		{"10.1.2.3:5000", []string{"203.0.113.9", "192.0.2.1"}, "203.0.113.9"}, // several headers
		{"10.1.2.3:5000", []string{"garbage, 203.0.113.9"}, "203.0.113.9"},     // garbage before the client
		{"10.1.2.3:5000", []string{"203.0.113.9, garbage"}, "10.1.2.3"},        // garbage from the proxy side: the peer
		{"[::ffff:10.1.2.3]:5000", []string{"203.0.113.9"}, "203.0.113.9"},     // v4-mapped peer
		{"10.1.2.3:5000", []string{"10.2.2.2"}, "10.2.2.2"},                    // only proxies: the farthest
		{"[2001:db8::1]:5000", []string{"203.0.113.9"}, "2001:db8::1"},
	}
	for _, tt := range tests {
		r, _ := http.NewRequest("GET", "/", nil)
		r.RemoteAddr = tt.remote
		for _, v := range tt.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		if got := s.clientIP(r); got != tt.want {
			t.Errorf("clientIP(%s, %q) = %s, want %s", tt.remote, tt.xff, got, tt.want)
		}
	}
}
