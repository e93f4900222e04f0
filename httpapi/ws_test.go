package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/api"
	"github.com/berthhq/berth/auth"
	"github.com/berthhq/berth/core"
	"github.com/berthhq/berth/events"
	"github.com/berthhq/berth/internal/testutil"
	"github.com/berthhq/berth/local"
	"github.com/berthhq/berth/store"
	"github.com/berthhq/berth/store/storetest"
	"github.com/berthhq/berth/wshub"
	"github.com/coder/websocket"
)

// live is a real server (SQLite, local runtime, in-process bus, hub) and
// sessions of an admin, an operator and a viewer.
type live struct {
	srv                  *httptest.Server
	core                 *core.Core
	store                *store.Store
	rt                   *local.Runtime
	bus                  *events.Local
	hub                  *wshub.Hub
	admin, ops, viewer   string
	adminA, opsA, viewrA berth.Actor
	clock                atomic.Int64 // the hub's clock offset, for ticket expiry
}

func newLive(t *testing.T, hc wshub.Config, extra ...func(*live, *Deps)) *live {
	t.Helper()
	return newLiveTargets(t, hc, nil, extra...)
}

// newLiveTargets is newLive with more local targets beside "local" (the
// default), named by moreTargets.
func newLiveTargets(t *testing.T, hc wshub.Config, moreTargets []string, extra ...func(*live, *Deps)) *live {
	t.Helper()
	ctx := context.Background()
	st := storetest.Open(t, store.SQLite, nil)
	var rts []berth.Runtime
	// Operators run commands here: these tests are about the API's live
	// side, not about who may run what (core/policy_test.go).
	policies := map[string]berth.TargetPolicy{}
	for _, name := range append([]string{"local"}, moreTargets...) {
		policies[name] = berth.TargetPolicy{CommandRoles: []berth.Role{berth.RoleAdmin, berth.RoleOperator}}
		rt, err := local.New(local.Config{Name: name, DataDir: t.TempDir(), StopGrace: time.Second, BackoffBase: 20 * time.Millisecond, BackoffMax: 100 * time.Millisecond,
			Templates: map[string]local.Template{"default": {Command: []string{"sleep", "60"}}}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { rt.Close(context.Background()) })
		rts = append(rts, rt)
	}
	rt := rts[0].(*local.Runtime)
	l := &live{bus: events.NewLocal()}
	c, err := core.New(core.Config{Store: st, Runtimes: rts, Events: l.bus, Policies: policies})
	if err != nil {
		t.Fatal(err)
	}
	l.core, l.store, l.rt = c, st, rt
	acc := &core.Accounts{Store: st, Tokens: &auth.Tokens{Key: make([]byte, 32), TTL: time.Hour}}
	// Users are stored directly and given session tokens: bcrypt under -race
	// would cost seconds per test and is tested elsewhere.
	login := func(name string, role berth.Role) (string, berth.Actor) {
		tok, _ := session(t, st, acc, name, role)
		a, err := acc.Authenticate(ctx, tok)
		if err != nil {
			t.Fatal(err)
		}
		return tok, a
	}
	l.admin, l.adminA = login("admin", berth.RoleAdmin)
	l.ops, l.opsA = login("ops", berth.RoleOperator)
	l.viewer, l.viewrA = login("vic", berth.RoleViewer)

	hc.Source = l.bus
	hc.Tickets = st
	hc.Logs = FollowLogs(c)
	hc.Now = func() time.Time { return time.Now().Add(time.Duration(l.clock.Load())) }
	l.hub = wshub.New(hc)
	d := Deps{Core: c, Accounts: acc, Audit: st, Events: l.bus, Hub: l.hub, Version: "test", Started: time.Now()}
	for _, f := range extra {
		f(l, &d)
	}
	api := NewServer(d)
	l.srv = httptest.NewServer(api)
	t.Cleanup(func() {
		api.CloseStreams()
		l.srv.Close()
		l.bus.Close()
	})
	return l
}

// session stores a user and issues it a session token directly: bcrypt
// under -race would cost seconds per test, and logging in is tested
// elsewhere.
func session(t *testing.T, st *store.Store, acc *core.Accounts, name string, role berth.Role) (string, *berth.User) {
	t.Helper()
	u := &berth.User{ID: auth.NewID("usr"), Username: name, Role: role, PasswordHash: "unused", CreatedAt: time.Now(), UpdatedAt: time.Now()}
	if err := st.CreateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	tok, _, err := acc.Tokens.Issue(u)
	if err != nil {
		t.Fatal(err)
	}
	return tok, u
}

func (l *live) wsURL(query string) string {
	return "ws" + strings.TrimPrefix(l.srv.URL, "http") + "/ws" + query
}

func (l *live) ticket(t *testing.T, token string) string {
	t.Helper()
	var out struct {
		Ticket    string    `json:"ticket"`
		ExpiresAt time.Time `json:"expiresAt"`
	}
	l.call(t, token, "POST", "/api/v1/ws-ticket", "", http.StatusOK, &out)
	if out.Ticket == "" || !out.ExpiresAt.After(time.Now()) {
		t.Fatalf("ticket answer %+v", out)
	}
	return out.Ticket
}

func (l *live) call(t *testing.T, token, method, path, body string, want int, out any) {
	t.Helper()
	req, _ := http.NewRequest(method, l.srv.URL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		var e api.Error
		json.NewDecoder(resp.Body).Decode(&e)
		t.Fatalf("%s %s = %d (%s: %s), want %d", method, path, resp.StatusCode, e.Error, e.Message, want)
	}
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatal(err)
		}
	}
}

// wsClient is a real WebSocket client.
type wsClient struct {
	t    *testing.T
	conn *websocket.Conn
}

func (l *live) dial(t *testing.T, token string) *wsClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, l.wsURL("?ticket="+l.ticket(t, token)), nil)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetReadLimit(1 << 20)
	t.Cleanup(func() { conn.CloseNow() })
	return &wsClient{t: t, conn: conn}
}

type frame struct {
	Topic   string          `json:"topic"`
	Type    string          `json:"type"`
	Owner   string          `json:"owner"`
	Time    time.Time       `json:"time"`
	Data    json.RawMessage `json:"data"`
	Topics  []string        `json:"topics"`
	Message string          `json:"message"`
}

func (c *wsClient) send(action string, topics ...string) {
	c.t.Helper()
	b, _ := json.Marshal(map[string]any{"action": action, "topics": topics})
	if err := c.conn.Write(context.Background(), websocket.MessageText, b); err != nil {
		c.t.Fatal(err)
	}
	for {
		f := c.next(5 * time.Second)
		if f.Topic != "" {
			continue // an event that was on its way
		}
		if f.Type != action+"d" {
			c.t.Fatalf("%s answered %+v", action, f)
		}
		return
	}
}

func (c *wsClient) next(d time.Duration) frame {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	_, b, err := c.conn.Read(ctx)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	var f frame
	if err := json.Unmarshal(b, &f); err != nil {
		c.t.Fatal(err)
	}
	return f
}

// until reads frames up to the marker event (type "marker") and returns
// the events before it.
func (c *wsClient) until(marker string) []frame {
	c.t.Helper()
	var out []frame
	for {
		f := c.next(10 * time.Second)
		if f.Type == marker {
			return out
		}
		out = append(out, f)
	}
}

func types(fs []frame) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Topic+" "+f.Type)
	}
	return out
}

func dialStatus(t *testing.T, url string, h http.Header) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: h})
	if err == nil {
		conn.CloseNow()
		return http.StatusSwitchingProtocols
	}
	if resp == nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	return resp.StatusCode
}

func TestWSAuth(t *testing.T) {
	t.Parallel()
	l := newLive(t, wshub.Config{TicketTTL: time.Minute})
	tk := l.ticket(t, l.viewer)
	bearer := http.Header{"Authorization": {"Bearer " + l.viewer}}
	cases := []struct {
		name   string
		query  string
		header http.Header
		setup  func()
		want   int
	}{
		{"no credential", "", nil, nil, http.StatusUnauthorized},
		{"unknown ticket", "?ticket=nope", nil, nil, http.StatusUnauthorized},
		{"ticket", "?ticket=" + tk, nil, nil, http.StatusSwitchingProtocols},
		{"ticket used twice", "?ticket=" + tk, nil, nil, http.StatusUnauthorized},
		{"bearer token", "", bearer, nil, http.StatusSwitchingProtocols},
		{"bad bearer", "", http.Header{"Authorization": {"Bearer brt_x_y"}}, nil, http.StatusUnauthorized},
		{"expired ticket", "?ticket=" + l.ticket(t, l.viewer), nil, func() { l.clock.Store(int64(2 * time.Minute)) }, http.StatusUnauthorized},
		{"foreign origin", "?ticket=" + l.ticket(t, l.viewer), http.Header{"Origin": {"https://evil.example"}}, func() { l.clock.Store(0) }, http.StatusForbidden},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.setup != nil {
				tc.setup()
			}
			if got := dialStatus(t, l.wsURL(tc.query), tc.header); got != tc.want {
				t.Fatalf("status %d, want %d", got, tc.want)
			}
		})
	}
}

// TestWSSubscribeAndFilter: core's events reach subscribers of their topic
// that may read them; environments and audit entries only their owner and
// admins; unsubscribe stops delivery; bad commands get an error reply.
func TestWSSubscribeAndFilter(t *testing.T) {
	t.Parallel()
	l := newLive(t, wshub.Config{})
	adm, ops, vic := l.dial(t, l.admin), l.dial(t, l.ops), l.dial(t, l.viewer)
	for _, c := range []*wsClient{adm, ops, vic} {
		c.send("subscribe", "services", "environments", "audit")
	}
	// An event without owner on "services" reaches everyone: it marks the end.
	marker := func() { l.bus.Publish(context.Background(), berth.Event{Topic: "services", Type: "marker"}) }

	l.call(t, l.ops, "PUT", "/api/v1/services/web", `{"command":["sleep","60"],"secrets":{"TOKEN":"s3cret"}}`, http.StatusCreated, nil)
	var created struct {
		Environment berth.Environment `json:"environment"`
	}
	l.call(t, l.ops, "POST", "/api/v1/environments", `{"name":"mine","cloudProvider":"LOCAL"}`, http.StatusCreated, &created)
	marker()

	want := map[*wsClient][]string{
		adm: {"services service.created", "audit audit.entry", "environments environment.created", "environments environment.updated", "audit audit.entry"},
		ops: {"services service.created", "audit audit.entry", "environments environment.created", "environments environment.updated", "audit audit.entry"},
		vic: {"services service.created"},
	}
	for c, w := range want {
		got := c.until("marker")
		var kept []frame
		for _, f := range got {
			if f.Type != "service.status" && f.Type != "environment.status" { // the sync loop is off, but be tolerant
				kept = append(kept, f)
			}
		}
		if strings.Join(types(kept), ",") != strings.Join(w, ",") {
			t.Errorf("client got %v, want %v", types(kept), w)
		}
		for _, f := range kept {
			if strings.Contains(string(f.Data), "s3cret") {
				t.Errorf("secret in event %s: %s", f.Type, f.Data)
			}
			if f.Topic == "environments" && f.Owner != l.opsA.UserID {
				t.Errorf("environment event owner %q, want %q", f.Owner, l.opsA.UserID)
			}
		}
	}

	vic.send("subscribe", "metrics")
	vic.send("unsubscribe", "services")
	l.call(t, l.ops, "POST", "/api/v1/services/web/scale", `{"replicas":2}`, http.StatusOK, nil)
	l.bus.Publish(context.Background(), berth.Event{Topic: "metrics", Type: "marker"})
	if got := vic.until("marker"); len(got) != 0 {
		t.Fatalf("viewer got %v after unsubscribing", types(got))
	}

	for _, bad := range []string{`{"action":"subscribe","topics":["nope"]}`, `{"action":"dance","topics":["services"]}`, `not json`,
		`{"action":"subscribe","topics":["logs:Bad_Name"]}`} {
		if err := vic.conn.Write(context.Background(), websocket.MessageText, []byte(bad)); err != nil {
			t.Fatal(err)
		}
		if f := vic.next(5 * time.Second); f.Type != "error" || f.Message == "" {
			t.Fatalf("%s answered %+v", bad, f)
		}
	}
}

// TestWSLogs: subscribing to logs:<service> follows the service's output
// while someone listens.
func TestWSLogs(t *testing.T) {
	t.Parallel()
	l := newLive(t, wshub.Config{})
	l.call(t, l.ops, "PUT", "/api/v1/services/talker", `{"command":["sh","-c","while true; do echo tick; sleep 0.1; done"]}`, http.StatusCreated, nil)
	c := l.dial(t, l.viewer)
	c.send("subscribe", "logs:talker")
	for {
		f := c.next(10 * time.Second)
		if f.Topic != "logs:talker" || f.Type != "log.line" {
			continue
		}
		var line berth.LogLine
		if err := json.Unmarshal(f.Data, &line); err != nil || line.Line != "tick" {
			t.Fatalf("log line %s: %v", f.Data, err)
		}
		break
	}
	c.send("unsubscribe", "logs:talker")
	testutil.Eventually(t, testutil.Process, "log follower to stop", func() (bool, string) { return l.hub.Followers() == 0, l.hubState() })
}

// TestWSLogTopics: a log topic names a service as the API does, by name,
// namespace/name or target:[namespace/]name; each subscription follows the
// service it names and no other, a name that several targets have ends the
// stream with a CONFLICT that says how to name one, and a malformed topic
// is refused with the syntax.
func TestWSLogTopics(t *testing.T) {
	t.Parallel()
	l := newLiveTargets(t, wshub.Config{}, []string{"edge"})
	talk := func(what string) string {
		return fmt.Sprintf(`{"command":["sh","-c","while true; do echo %s; sleep 0.1; done"]}`, what)
	}
	// web on two targets, api on the default one. Local targets have no
	// namespaces: a topic that names one ends with the error that says so.
	l.call(t, l.ops, "PUT", "/api/v1/services/web", talk("local-web"), http.StatusCreated, nil)
	l.call(t, l.ops, "PUT", "/api/v1/services/web", strings.Replace(talk("edge-web"), "{", `{"target":"edge",`, 1), http.StatusCreated, nil)
	l.call(t, l.ops, "PUT", "/api/v1/services/api", talk("local-api"), http.StatusCreated, nil)

	follows := []struct {
		topic string
		line  string // every line says this
		end   string // or: the stream ends at once with this in its message
	}{
		{topic: "logs:api", line: "local-api"},
		{topic: "logs:local:api", line: "local-api"},
		{topic: "logs:edge:web", line: "edge-web"},
		{topic: "logs:local:web", line: "local-web"},
		{topic: "logs:team-a/api", end: "namespace: no configured target has namespaces"},
		{topic: "logs:local:team-a/api", end: "namespace: target local has no namespaces"},
		{topic: "logs:web", end: "logs:[<target>:][<namespace>/]<name>"}, // on local and edge
		{topic: "logs:edge:api", end: `service "api" not found`},
		{topic: "logs:nowhere:web", end: `"nowhere" is not configured`},
	}
	for _, tc := range follows {
		t.Run(tc.topic, func(t *testing.T) {
			c := l.dial(t, l.viewer)
			c.send("subscribe", tc.topic)
			lines := 0
			for lines < 3 {
				f := c.next(10 * time.Second)
				if f.Topic != tc.topic {
					t.Fatalf("frame of topic %q on a client subscribed to %q only: %+v", f.Topic, tc.topic, f)
				}
				switch f.Type {
				case "log.line":
					var line berth.LogLine
					if err := json.Unmarshal(f.Data, &line); err != nil {
						t.Fatal(err)
					}
					if tc.end != "" || line.Line != tc.line {
						t.Fatalf("log line %q, want %q (end %q)", line.Line, tc.line, tc.end)
					}
					lines++
				case "log.end":
					var d struct{ Message string }
					json.Unmarshal(f.Data, &d)
					if tc.end == "" || !strings.Contains(d.Message, tc.end) {
						t.Fatalf("stream ended: %q, want lines %q (end %q)", d.Message, tc.line, tc.end)
					}
					if tc.topic == "logs:web" && !strings.Contains(d.Message, "local:web") || tc.topic == "logs:web" && !strings.Contains(d.Message, "edge:web") {
						t.Errorf("the conflict does not say where web is: %q", d.Message)
					}
					return
				default:
					t.Fatalf("unexpected frame %+v", f)
				}
			}
			c.send("unsubscribe", tc.topic)
		})
	}
	testutil.Eventually(t, testutil.Process, "every log follower to stop", func() (bool, string) { return l.hub.Followers() == 0, l.hubState() })

	malformed := []struct{ topic, want string }{
		{"logs:", `service name ""`},
		{"logs:Web", `service name "Web"`},
		{"logs:team-a/api/x", `service name "api/x"`},
		{"logs:/api", `namespace ""`},
		{"logs:team_a/api", `namespace "team_a"`},
		{"logs::web", `target ""`},
		{"logs:edge:", `service name ""`},
		{"logs:edge:team-a/", `service name ""`},
		{"logs:a:b:c", `service name "b:c"`},
		{"logs:ed ge:web", `target "ed ge"`},
		{"logs:-edge:web", `target "-edge"`},
		{"logs:" + strings.Repeat("a", 64), "service name"},
	}
	c := l.dial(t, l.viewer)
	for _, tc := range malformed {
		b, _ := json.Marshal(map[string]any{"action": "subscribe", "topics": []string{"services", tc.topic}})
		if err := c.conn.Write(context.Background(), websocket.MessageText, b); err != nil {
			t.Fatal(err)
		}
		f := c.next(5 * time.Second)
		if f.Type != "error" || !strings.HasPrefix(f.Message, "topics: ") || !strings.Contains(f.Message, tc.want) ||
			!strings.Contains(f.Message, wshub.LogTopicSyntax) {
			t.Errorf("subscribe %q answered %+v; want an error naming %s and the syntax", tc.topic, f, tc.want)
		}
	}
	// None of them was subscribed (not even "services", named beside them).
	l.bus.Publish(context.Background(), berth.Event{Topic: "services", Type: "probe"})
	c.send("subscribe", "metrics")
	l.bus.Publish(context.Background(), berth.Event{Topic: "metrics", Type: "marker"})
	if got := c.until("marker"); len(got) != 0 {
		t.Fatalf("after refused subscriptions the client got %v", types(got))
	}
	if n := l.hub.Followers(); n != 0 {
		t.Fatalf("%d log followers after refused subscriptions", n)
	}
}

// TestWSSlowClient: a client that stops reading is dropped with 1008 once
// its queue fills, while a reading client gets every event on time.
func TestWSSlowClient(t *testing.T) {
	t.Parallel()
	l := newLive(t, wshub.Config{QueueSize: 4})
	fast, slow := l.dial(t, l.viewer), l.dial(t, l.viewer)
	fast.send("subscribe", "metrics")
	slow.send("subscribe", "metrics")
	big := strings.Repeat("x", 64<<10) // fills the slow client's socket buffers fast
	// Each event is published once the fast client has the previous one: its
	// queue never holds more than one, while the slow client's fills up.
	for i, extra := 0, 0; extra < 20; i++ {
		if i == 1000 {
			t.Fatal("slow client never dropped")
		}
		start := time.Now()
		l.bus.Publish(context.Background(), berth.Event{Topic: "metrics", Type: "metric.tick", Data: map[string]any{"i": i, "pad": big}})
		f := fast.next(5 * time.Second)
		var d struct{ I int }
		json.Unmarshal(f.Data, &d)
		if d.I != i {
			t.Fatalf("fast client got event %d, want %d", d.I, i)
		}
		if took := time.Since(start); took > 2*time.Second {
			t.Fatalf("event %d took %s to reach the fast client", i, took)
		}
		if l.hub.Dropped() > 0 {
			extra++ // the fast client keeps getting events after the drop
		}
	}
	testutil.Eventually(t, testutil.Process, "slow client to be dropped", func() (bool, string) { return l.hub.Dropped() >= 1, l.hubState() })
	// Reading again, the slow client finds the close frame after what was buffered.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		if _, _, err := slow.conn.Read(ctx); err != nil {
			if st := websocket.CloseStatus(err); st != websocket.StatusPolicyViolation {
				t.Fatalf("slow client ended with %v (status %d), want 1008", err, st)
			}
			break
		}
	}
	testutil.Eventually(t, testutil.Process, "one client left", func() (bool, string) { return l.hub.Clients() == 1, l.hubState() })
}

// TestWSResyncAfterDrops: when the hub falls behind and the bus drops
// events, every client, whatever it subscribed to, is told to re-read.
func TestWSResyncAfterDrops(t *testing.T) {
	t.Parallel()
	l := newLive(t, wshub.Config{SourceBuffer: 1})
	c := l.dial(t, l.viewer)
	c.send("subscribe", "environments") // none of the events below
	done := make(chan struct{})
	published := make(chan struct{})
	go func() {
		defer close(published)
		for {
			for i := 0; i < 2000; i++ {
				l.bus.Publish(context.Background(), berth.Event{Topic: "services", Type: "service.updated", Data: i})
			}
			// One more after a pause: the hub announces drops when it
			// reads the next event.
			select {
			case <-done:
				return
			case <-time.After(50 * time.Millisecond):
			}
			l.bus.Publish(context.Background(), berth.Event{Topic: "services", Type: "service.updated", Data: -1})
		}
	}()
	defer func() { close(done); <-published }()
	f := c.next(30 * time.Second)
	if f.Topic != berth.TopicResync || f.Type != berth.EventsDropped {
		t.Fatalf("got %s %s, want a resync frame (and no services events)", f.Topic, f.Type)
	}
}

func TestWSConnectionCap(t *testing.T) {
	t.Parallel()
	l := newLive(t, wshub.Config{MaxClients: 2})
	l.dial(t, l.viewer)
	l.dial(t, l.viewer)
	if got := dialStatus(t, l.wsURL("?ticket="+l.ticket(t, l.viewer)), nil); got != http.StatusServiceUnavailable {
		t.Fatalf("third client: status %d, want 503", got)
	}
}

// TestWSHeartbeat: a client that answers pings stays; one that does not
// (it never reads, so never pongs) is dropped.
func TestWSHeartbeat(t *testing.T) {
	t.Parallel()
	l := newLive(t, wshub.Config{PingInterval: 50 * time.Millisecond, PongTimeout: 300 * time.Millisecond})
	alive := l.dial(t, l.viewer)
	alive.send("subscribe", "metrics")
	got := make(chan frame, 16)
	go func() {
		for {
			_, b, err := alive.conn.Read(context.Background())
			if err != nil {
				close(got)
				return
			}
			var f frame
			json.Unmarshal(b, &f)
			got <- f
		}
	}()
	l.dial(t, l.viewer) // never reads
	testutil.Eventually(t, testutil.Process, "the silent client to be dropped", func() (bool, string) {
		return l.hub.Clients() == 1 && l.hub.Dropped() == 1, l.hubState()
	})
	l.bus.Publish(context.Background(), berth.Event{Topic: "metrics", Type: "marker"})
	select {
	case f, ok := <-got:
		if !ok || f.Type != "marker" {
			t.Fatalf("live client got %+v, open %v", f, ok)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("live client got nothing")
	}
}

// hubState is what waits on the hub report when they time out.
func (l *live) hubState() string {
	return fmt.Sprintf("%d clients, %d followers, %d dropped", l.hub.Clients(), l.hub.Followers(), l.hub.Dropped())
}
