// Package wshub serves berth's live events over WebSocket: clients subscribe
// to topics and receive the events they may read, each through a bounded
// queue so that a slow client is dropped instead of slowing the others.
package wshub

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/events"
	"github.com/coder/websocket"
)

// Topics a client may subscribe to, besides the log topics
// (logs:[<target>:][<namespace>/]<name>, see ParseLogTopic).
var Topics = []string{"services", "environments", "metrics", "audit", "recommendations"}

// LogFollower streams the new log lines of a service to fn until ctx ends
// (core.ServiceLogs with Follow). The ref is what the topic names: Target
// and Namespace are empty when the topic leaves them out, and the follower
// resolves it as the API resolves a service (an error when it is unknown
// or ambiguous).
type LogFollower func(ctx context.Context, service berth.ServiceRef, fn func(berth.LogLine) error) error

// Source is where the hub's events come from (an events.Bus).
type Source interface {
	Subscribe(buffer int) *events.Subscription
}

// Config configures a Hub; zero values take the defaults.
type Config struct {
	Source     Source
	Logs       LogFollower // nil: log topics are refused
	MaxClients int         // default 1000
	// MaxPerUser caps the connections of one user, so that one user
	// cannot take every slot (default 20).
	MaxPerUser   int
	QueueSize    int // events queued per client before it is dropped; default 256
	SourceBuffer int // events the hub's own subscription holds; default 8192
	PingInterval time.Duration
	PongTimeout  time.Duration // default 10s
	// WriteTimeout bounds one frame's write (default 10s): the hub's
	// watchdog, checking every WriteTimeout/4, closes a connection whose
	// write has taken longer.
	WriteTimeout time.Duration
	TicketTTL    time.Duration // default 30s
	// Tickets keeps the WebSocket tickets (required): the store, so that a
	// ticket from one replica is good on every other.
	Tickets berth.TicketStore
	// OriginPatterns are the hosts (path.Match patterns) of cross-origin
	// pages allowed to connect; the request's own host always is.
	OriginPatterns []string
	// Check tells whether a connection's credential still holds
	// (core.Accounts.Check); it runs every CheckInterval (default 30s) for
	// each connection, which is closed on an UNAUTHORIZED answer. Nil: no
	// periodic check (revocation events still close connections).
	Check         func(ctx context.Context, a berth.Actor) error
	CheckInterval time.Duration
	Logger        *slog.Logger
	Now           func() time.Time
}

// ErrFull answers a connection over the cap.
var ErrFull = berth.Errorf(berth.EUNAVAILABLE, "too many WebSocket clients: try again later")

// errUserFull answers a connection over the per-user cap.
func errUserFull(n int) error {
	return berth.Errorf(berth.ERATELIMITED, "too many WebSocket connections for this user (at most %d): close one first", n)
}

// CloseRevoked is the close status of a connection whose credential ended
// (4001: an application code; the reason says why).
const CloseRevoked websocket.StatusCode = 4001

// Hub fans events out to WebSocket clients.
type Hub struct {
	cfg Config
	log *slog.Logger
	sub *events.Subscription

	slots   atomic.Int64   // connections admitted (upgrading or open)
	perUser map[string]int // by user id, under mu

	mu      sync.RWMutex
	clients map[*client]struct{}
	// subs indexes the clients by topic (what each subscribed to, as its
	// topics say), so that an event costs its subscribers, not every client.
	subs   map[string]*subscribers
	logs   map[string]*follower // by topic ("logs:prod:team-a/web")
	closed bool

	dropped atomic.Int64
	encoded atomic.Int64 // events encoded by Dispatch (once each, whatever the clients)
	// deferred counts the frames a full socket cut, which a writer
	// goroutine finished.
	deferred atomic.Int64
	// resumeHook, for tests, runs before a writer finishes a frame a full
	// socket cut, where another frame would corrupt the stream.
	resumeHook func(*client)
	epoch      time.Time // since() counts from here (monotonic)
	done       chan struct{}
	stop       chan struct{} // closed by Close: ends the check loop
}

type follower struct {
	cancel context.CancelFunc
	subs   int
}

// New starts a hub reading cfg.Source.
func New(cfg Config) *Hub {
	if cfg.MaxClients <= 0 {
		cfg.MaxClients = 1000
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = 256
	}
	if cfg.SourceBuffer <= 0 {
		cfg.SourceBuffer = 8192
	}
	if cfg.PingInterval <= 0 {
		cfg.PingInterval = 30 * time.Second
	}
	if cfg.PongTimeout <= 0 {
		cfg.PongTimeout = 10 * time.Second
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 10 * time.Second
	}
	if cfg.MaxPerUser <= 0 {
		cfg.MaxPerUser = 20
	}
	if cfg.CheckInterval <= 0 {
		cfg.CheckInterval = 30 * time.Second
	}
	if cfg.TicketTTL <= 0 {
		cfg.TicketTTL = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Tickets == nil {
		panic("wshub: Config.Tickets is required")
	}
	h := &Hub{cfg: cfg, log: cfg.Logger.With("component", "wshub"), clients: map[*client]struct{}{}, subs: map[string]*subscribers{},
		logs: map[string]*follower{}, perUser: map[string]int{}, epoch: time.Now(), done: make(chan struct{}), stop: make(chan struct{})}
	if cfg.Source != nil {
		h.sub = cfg.Source.Subscribe(cfg.SourceBuffer)
		go h.run()
	} else {
		close(h.done)
	}
	if cfg.Check != nil {
		go h.checkLoop()
	}
	go h.watchdog()
	return h
}

// since is the monotonic time since the hub started, in ns, never 0.
func (h *Hub) since() int64 { return int64(time.Since(h.epoch)) + 1 }

// watchdog closes the connections whose write has taken longer than
// WriteTimeout (a peer that stopped reading with a full socket buffer): one
// ticker for the hub instead of a timer per frame.
func (h *Hub) watchdog() {
	t := time.NewTicker(max(h.cfg.WriteTimeout/4, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-t.C:
		}
		now := h.since()
		var stalled []*client
		h.mu.RLock()
		for c := range h.clients {
			if c.stalled(now, h.cfg.WriteTimeout) {
				stalled = append(stalled, c)
			}
		}
		h.mu.RUnlock()
		for _, c := range stalled {
			// No close frame could get through: end the connection, which
			// fails the write.
			h.log.Debug("drop client: write timed out", "user", c.actor.Username, "timeout", h.cfg.WriteTimeout.String())
			c.closing.Store(true)
			_ = c.conn.CloseNow()
			c.cancel()
		}
	}
}

func (h *Hub) run() {
	defer close(h.done)
	var dropped uint64
	for e := range h.sub.C {
		// The bus drops events when the hub falls behind; clients then
		// hear, before the next event, that they should re-read.
		if d := h.sub.Dropped(); d != dropped {
			h.log.Warn("events dropped: the hub fell behind", "dropped", d-dropped)
			dropped = d
			h.Dispatch(berth.Event{Topic: berth.TopicResync, Type: berth.EventsDropped, Time: h.cfg.Now(),
				Data: map[string]any{"reason": "the server fell behind and dropped events", "dropped": d}})
			// A lost revocation is caught by the periodic check.
		}
		if e.Topic == berth.TopicSessions {
			h.revoke(e)
			continue // never sent to clients
		}
		h.Dispatch(e)
	}
}

// revoke closes the connections whose credential a revocation event ended:
// one session, one API key, or every credential of a user.
func (h *Hub) revoke(e berth.Event) {
	var r berth.Revocation
	raw, err := json.Marshal(e.Data)
	if err == nil {
		err = json.Unmarshal(raw, &r)
	}
	if err != nil || r.UserID == "" {
		h.log.Error("revocation event without a user", "type", e.Type)
		return
	}
	var ended []*client
	h.mu.RLock()
	for c := range h.clients {
		a := c.actor
		if a.UserID != r.UserID || (r.KeyID != "" && a.KeyID != r.KeyID) || (r.SessionID != "" && a.SessionID != r.SessionID) ||
			(r.SessionsOnly && a.KeyID != "") {
			continue
		}
		ended = append(ended, c)
	}
	h.mu.RUnlock()
	for _, c := range ended {
		go c.close(CloseRevoked, "credential revoked ("+r.Reason+"): log in again")
	}
}

// checkLoop checks every connection's credential each CheckInterval and
// closes those that ended (expired, or revoked while this replica missed
// the event).
func (h *Hub) checkLoop() {
	t := time.NewTicker(h.cfg.CheckInterval)
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-t.C:
		}
		h.mu.RLock()
		cs := make([]*client, 0, len(h.clients))
		for c := range h.clients {
			cs = append(cs, c)
		}
		h.mu.RUnlock()
		// Connections of one credential (a user's tabs) share one check per round.
		checked := map[berth.Actor]error{}
		for _, c := range cs {
			err, ok := checked[c.actor]
			if !ok {
				ctx, cancel := context.WithTimeout(c.ctx, 5*time.Second)
				err = h.cfg.Check(ctx, c.actor)
				cancel()
				checked[c.actor] = err
			}
			if berth.IsCode(err, berth.EUNAUTHORIZED) {
				go c.close(CloseRevoked, berth.ErrorMessage(err))
			} else if err != nil && c.ctx.Err() == nil {
				h.log.Warn("check websocket credential", "user", c.actor.Username, "err", err)
			}
		}
	}
}

// Clients is the number of open connections.
func (h *Hub) Clients() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.clients)
}

// Dropped counts clients dropped for being slow or not answering pings.
func (h *Hub) Dropped() int64 { return h.dropped.Load() }

// MaxClients is the connection cap.
func (h *Hub) MaxClients() int { return h.cfg.MaxClients }

// IssueTicket returns a single-use ticket that authenticates one WebSocket
// connection as a within the TTL (browsers cannot set headers on /ws).
func (h *Hub) IssueTicket(ctx context.Context, a berth.Actor) (string, time.Time, error) {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	t := hex.EncodeToString(b)
	exp := h.cfg.Now().Add(h.cfg.TicketTTL)
	if err := h.cfg.Tickets.SaveTicket(ctx, ticketHash(t), a, exp); err != nil {
		return "", time.Time{}, fmt.Errorf("issue websocket ticket: %w", err)
	}
	return t, exp, nil
}

// Redeem consumes a ticket: it is valid once, before it expires.
func (h *Hub) Redeem(ctx context.Context, t string) (berth.Actor, bool, error) {
	a, ok, err := h.cfg.Tickets.RedeemTicket(ctx, ticketHash(t), h.cfg.Now())
	if err != nil {
		return berth.Actor{}, false, fmt.Errorf("redeem websocket ticket: %w", err)
	}
	return a, ok, nil
}

// ticketHash is what is stored of a ticket: a copy of the store is no key.
func ticketHash(t string) []byte {
	h := sha256.Sum256([]byte(t))
	return h[:]
}

// Serve upgrades the request of an authenticated actor and hands the
// connection to a goroutine of its own, which serves it until it ends. Over
// the cap it answers ErrFull without upgrading, so the caller can write the
// error.
//
// Serve returns once the connection is upgraded: the handler's goroutine,
// whose stack authentication and the middleware grew (16-32 KB), ends, and
// the connection's reader starts small — at 10,000 clients about 100 MB of
// stacks less, and as much less in the GC's heap goal.
func (h *Hub) Serve(w http.ResponseWriter, r *http.Request, a berth.Actor) error {
	if h.slots.Add(1) > int64(h.cfg.MaxClients) {
		h.slots.Add(-1)
		return ErrFull
	}
	h.mu.Lock()
	if h.perUser[a.UserID] >= h.cfg.MaxPerUser {
		h.mu.Unlock()
		h.slots.Add(-1)
		return errUserFull(h.cfg.MaxPerUser)
	}
	h.perUser[a.UserID]++
	h.mu.Unlock()
	release := func() {
		h.mu.Lock()
		if h.perUser[a.UserID]--; h.perUser[a.UserID] <= 0 {
			delete(h.perUser, a.UserID)
		}
		h.mu.Unlock()
		h.slots.Add(-1)
	}
	// No compression: the hub's frames are written as built, once per
	// event for every client.
	t := &tap{ResponseWriter: w}
	conn, err := websocket.Accept(t, r, &websocket.AcceptOptions{OriginPatterns: h.cfg.OriginPatterns, CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		release()
		return nil // Accept has answered the request
	}
	conn.SetReadLimit(16 << 10)
	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	c := &client{hub: h, conn: conn, wire: t.wire, actor: a, topics: map[string]bool{},
		ctx: ctx, cancel: cancel}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		cancel()
		_ = conn.Close(websocket.StatusGoingAway, "server shutting down")
		release()
		return nil
	}
	h.clients[c] = struct{}{}
	h.mu.Unlock()

	c.startPings()
	go func() {
		defer release()
		c.readLoop()
		h.remove(c)
	}()
	return nil
}

func (h *Hub) remove(c *client) {
	c.cancel()
	c.stopPings()
	c.mu.Lock()
	var logs, all []string
	for t := range c.topics {
		all = append(all, t)
		if strings.HasPrefix(t, logsPrefix) {
			logs = append(logs, t)
		}
	}
	c.topics = map[string]bool{}
	c.mu.Unlock()
	h.mu.Lock()
	delete(h.clients, c)
	h.mu.Unlock()
	h.index(c, nil, all)
	for _, t := range logs {
		h.unfollow(t)
	}
	_ = c.conn.CloseNow()
}

// Dispatch sends e to every client subscribed to its topic that may read
// it. It encodes and frames e once, whatever the number of clients (they
// are all written the same bytes), and never waits for a client. Many
// subscribers are written in parallel by up to GOMAXPROCS goroutines;
// Dispatch returns when all are done, so that each client gets events in
// the order they were dispatched.
func (h *Hub) Dispatch(e berth.Event) {
	payload, err := json.Marshal(e)
	if err != nil {
		h.log.Error("encode event", "topic", e.Topic, "type", e.Type, "err", err)
		return
	}
	frame := wireFrame(payload)
	h.encoded.Add(1)
	h.mu.RLock()
	defer h.mu.RUnlock()
	var to []*client
	if e.Topic == berth.TopicResync {
		// whatever they subscribed to may have missed something
		to = slices.Collect(maps.Keys(h.clients))
	} else if s := h.subs[e.Topic]; s != nil {
		to = s.list
	}
	workers := min(runtime.GOMAXPROCS(0), len(to)/minPart)
	if workers <= 1 {
		sendAll(to, e, frame)
		return
	}
	// The workers take parts of minPart clients in turn, so that one
	// whose thread the machine preempts does not hold back the others'.
	var next atomic.Int64
	work := func() {
		for {
			i := int(next.Add(minPart)) - minPart
			if i >= len(to) {
				return
			}
			sendAll(to[i:min(i+minPart, len(to))], e, frame)
		}
	}
	var wg sync.WaitGroup
	for range workers - 1 {
		wg.Go(work)
	}
	work()
	wg.Wait()
}

// minPart is the fewest clients worth a goroutine of their own in
// Dispatch, and the part a worker takes at a time (a write to a socket
// costs about 10 µs, a goroutine about 1).
const minPart = 128

func sendAll(to []*client, e berth.Event, frame []byte) {
	for _, c := range to {
		if may(c.actor, e) {
			c.send(frame)
		}
	}
}

// subscribers are a topic's clients, in a slice that Dispatch can split.
type subscribers struct {
	list []*client
	at   map[*client]int // index in list
}

func (s *subscribers) add(c *client) {
	if _, ok := s.at[c]; ok {
		return
	}
	s.at[c] = len(s.list)
	s.list = append(s.list, c)
}

func (s *subscribers) remove(c *client) {
	i, ok := s.at[c]
	if !ok {
		return
	}
	last := len(s.list) - 1
	s.list[i] = s.list[last]
	s.at[s.list[i]] = i
	s.list[last] = nil
	s.list = s.list[:last]
	delete(s.at, c)
}

// index adds c to the subscribers of added and removes it from those of
// removed.
func (h *Hub) index(c *client, added, removed []string) {
	if len(added) == 0 && len(removed) == 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, t := range added {
		s := h.subs[t]
		if s == nil {
			s = &subscribers{at: map[*client]int{}}
			h.subs[t] = s
		}
		s.add(c)
	}
	for _, t := range removed {
		if s := h.subs[t]; s != nil {
			s.remove(c)
			if len(s.list) == 0 {
				delete(h.subs, t)
			}
		}
	}
}

// Close disconnects every client with "going away" and stops reading events.
func (h *Hub) Close() {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return
	}
	h.closed = true
	close(h.stop)
	cs := make([]*client, 0, len(h.clients))
	for c := range h.clients {
		cs = append(cs, c)
	}
	for _, f := range h.logs {
		f.cancel()
	}
	h.mu.Unlock()
	if h.sub != nil {
		h.sub.Close()
	}
	<-h.done
	var wg sync.WaitGroup
	for _, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.close(websocket.StatusGoingAway, "server shutting down")
		}()
	}
	wg.Wait()
}

// may reports whether a may read e: an owned event (an environment, an
// audit entry, an owner's metrics) reaches its owner and admins; audit
// entries without an actor reach admins only, as GET /api/v1/logs does.
func may(a berth.Actor, e berth.Event) bool {
	if a.Role == berth.RoleAdmin {
		return true
	}
	if e.Topic == "audit" || e.Topic == "environments" {
		return e.Owner != "" && e.Owner == a.UserID
	}
	return e.Owner == "" || e.Owner == a.UserID
}

// follow starts following the logs a topic names, for its first
// subscriber. Each topic has its own follower, even when two topics name
// the same service (logs:web and logs:local:web): events carry the topic
// the client subscribed to.
func (h *Hub) follow(topic string) {
	ref, err := ParseLogTopic(topic)
	if err != nil {
		return // validTopic checked it
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if f, ok := h.logs[topic]; ok {
		f.subs++
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	f := &follower{cancel: cancel, subs: 1}
	h.logs[topic] = f
	go func() {
		err := h.cfg.Logs(ctx, ref, func(l berth.LogLine) error {
			h.Dispatch(berth.Event{Topic: topic, Type: "log.line", Time: h.cfg.Now().UTC(), Data: l})
			return nil
		})
		if ctx.Err() != nil {
			return
		}
		// The stream ended on its own (service deleted or unknown, the name
		// ambiguous, a runtime error): say so, and let a later subscribe
		// start a new one.
		msg := "log stream ended"
		if err != nil {
			msg = berth.ErrorMessage(err)
		}
		h.Dispatch(berth.Event{Topic: topic, Type: "log.end", Time: h.cfg.Now().UTC(), Data: map[string]string{"message": msg}})
		h.mu.Lock()
		if h.logs[topic] == f {
			delete(h.logs, topic)
		}
		h.mu.Unlock()
	}()
}

func (h *Hub) unfollow(topic string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	f, ok := h.logs[topic]
	if !ok {
		return
	}
	if f.subs--; f.subs <= 0 {
		f.cancel()
		delete(h.logs, topic)
	}
}

// Followers is the number of log topics being followed.
func (h *Hub) Followers() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.logs)
}

// OriginHosts turns CORS_ALLOWED_ORIGINS ("https://app.example.com", "*")
// into the host patterns Accept checks a browser's Origin against.
func OriginHosts(origins []string) []string {
	var out []string
	for _, o := range origins {
		o = strings.TrimSpace(o)
		if o == "" {
			continue
		}
		if u, err := url.Parse(o); err == nil && u.Host != "" {
			o = u.Host
		}
		out = append(out, o)
	}
	return out
}
