package wshub

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/berthhq/berth"
	"github.com/coder/websocket"
)

// maxTopics bounds the subscriptions of one client.
const maxTopics = 64

type client struct {
	hub    *Hub
	conn   *websocket.Conn // reads, pings and the close handshake
	wire   *wireConn       // under conn: the hub's own frames
	actor  berth.Actor
	ctx    context.Context
	cancel context.CancelFunc

	mu     sync.Mutex
	topics map[string]bool
	pinger *time.Timer // under mu

	qmu   sync.Mutex
	queue [][]byte // frames to write, at most QueueSize
	spare [][]byte // the writer's previous batch, reused
	// writer: a write is in progress (the dispatcher's or a writer
	// goroutine's), so frames queue behind it (under qmu).
	writer bool

	closing   atomic.Bool
	closeOnce sync.Once
	// writing is when the write in progress started (Hub.since), 0 when
	// none is: the hub's watchdog reads it.
	writing atomic.Int64
}

// command is what a client sends.
type command struct {
	Action string   `json:"action"` // subscribe | unsubscribe
	Topics []string `json:"topics"`
}

// reply answers a command (events have a "topic"; replies do not).
type reply struct {
	Type    string   `json:"type"` // subscribed | unsubscribed | error
	Topics  []string `json:"topics,omitempty"`
	Message string   `json:"message,omitempty"`
}

// send writes a frame (wire bytes, see wireFrame) to the client. When
// nothing is queued it writes from the calling goroutine, as much as the
// socket takes without waiting; a writer goroutine starts only for what is
// left (the socket was full) or queued behind a write in progress. A client
// whose queue is full is dropped, since waiting for it would delay
// everyone else.
func (c *client) send(frame []byte) {
	if c.closing.Load() {
		return
	}
	c.qmu.Lock()
	if c.writer { // a write is in progress: queue behind it
		if len(c.queue) >= c.hub.cfg.QueueSize {
			c.qmu.Unlock()
			if c.closing.CompareAndSwap(false, true) {
				c.hub.dropped.Add(1)
				go c.close(websocket.StatusPolicyViolation, "too slow: event queue full, reconnect and resubscribe")
			}
			return
		}
		c.queue = append(c.queue, frame)
		c.qmu.Unlock()
		return
	}
	c.writer = true
	c.qmu.Unlock()
	w := c.wire
	if w.raw == nil || !w.mu.TryLock() {
		// The library writes a control frame (or the connection is no
		// socket, which cannot be written without waiting): a writer
		// waits for it rather than the dispatcher.
		c.queueFront(frame)
		go c.write(false)
		return
	}
	if c.closing.Load() {
		w.mu.Unlock() // the close frame may be out: nothing more
		return
	}
	n, err := w.tryWrite(frame)
	if err != nil {
		w.mu.Unlock()
		go c.fail()
		return
	}
	if n < len(frame) {
		// The socket is full mid-frame: the writer finishes this frame
		// first, keeping mu (no other frame may start inside it).
		c.queueFront(frame[n:])
		c.hub.deferred.Add(1)
		go c.write(true)
		return
	}
	w.mu.Unlock()
	c.qmu.Lock()
	if len(c.queue) == 0 {
		c.writer = false
		c.qmu.Unlock()
		return
	}
	c.qmu.Unlock()
	go c.write(false)
}

// queueFront puts what the writer must write first before the frames
// queued meanwhile.
func (c *client) queueFront(frame []byte) {
	c.qmu.Lock()
	c.queue = slices.Insert(c.queue, 0, frame)
	c.qmu.Unlock()
}

// fail ends a connection whose socket failed: no close frame can get
// through.
func (c *client) fail() {
	c.closing.Store(true)
	_ = c.conn.CloseNow()
	c.cancel()
}

// close ends the connection with a status and reason the client can read.
func (c *client) close(code websocket.StatusCode, reason string) {
	c.closeOnce.Do(func() {
		c.closing.Store(true)
		c.hub.log.Debug("close client", "user", c.actor.Username, "code", int(code), "reason", reason)
		_ = c.conn.Close(code, reason)
		c.cancel()
	})
}

// write drains the queue and ends when it is empty: an idle client has no
// writer goroutine (with 10,000 clients, a parked goroutine per client is
// about 80 MB of stacks, and twice that in the GC's heap goal). It writes
// what is queued with one writev. A write gets no deadline of its own (a
// timer and an AfterFunc per frame cost about a sixth of the fan-out's
// CPU): the hub's watchdog closes a connection whose write has taken longer
// than WriteTimeout. locked: the caller holds the wire's mu, for the rest
// of a frame the dispatcher began.
func (c *client) write(locked bool) {
	w := c.wire
	for {
		c.qmu.Lock()
		batch := c.queue
		if len(batch) == 0 {
			c.writer = false
			c.qmu.Unlock()
			if locked {
				w.mu.Unlock()
			}
			return
		}
		c.queue = c.spare[:0] // the previous batch's array: no allocation per frame
		c.qmu.Unlock()
		midFrame := locked
		if !locked {
			w.mu.Lock()
		} else if c.hub.resumeHook != nil {
			c.hub.resumeHook(c)
		}
		locked = false
		// Closing: no writer is wanted any more, but the rest of a cut
		// frame is written first (the close frame follows it).
		if c.closing.Load() && !midFrame {
			w.mu.Unlock()
			return
		}
		c.writing.Store(c.hub.since())
		err := w.writeAll(batch)
		c.writing.Store(0)
		w.mu.Unlock()
		clear(batch)
		c.spare = batch[:0]
		if err != nil {
			c.fail()
			return
		}
	}
}

// stalled reports whether the write in progress started more than d ago
// (now as Hub.since gives it).
func (c *client) stalled(now int64, d time.Duration) bool {
	w := c.writing.Load()
	return w != 0 && now-w > int64(d)
}

// startPings pings every PingInterval (a timer, not a goroutine, between
// pings).
func (c *client) startPings() {
	c.mu.Lock()
	c.pinger = time.AfterFunc(c.hub.cfg.PingInterval, c.ping)
	c.mu.Unlock()
}

func (c *client) stopPings() {
	c.mu.Lock()
	if c.pinger != nil {
		c.pinger.Stop()
	}
	c.mu.Unlock()
}

// ping checks that the peer answers; one that does not within PongTimeout
// is gone.
func (c *client) ping() {
	if c.ctx.Err() != nil {
		return
	}
	ctx, cancel := context.WithTimeout(c.ctx, c.hub.cfg.PongTimeout)
	err := c.conn.Ping(ctx)
	cancel()
	if err == nil {
		c.mu.Lock()
		if c.ctx.Err() == nil { // not removed meanwhile
			c.pinger.Reset(c.hub.cfg.PingInterval)
		}
		c.mu.Unlock()
		return
	}
	if c.ctx.Err() == nil {
		// The peer does not answer: no close handshake to wait for.
		c.hub.dropped.Add(1)
		c.hub.log.Debug("drop client: no pong", "user", c.actor.Username, "timeout", c.hub.cfg.PongTimeout.String())
		c.closing.Store(true)
		_ = c.conn.CloseNow()
		c.cancel()
	}
}

func (c *client) readLoop() {
	for {
		typ, data, err := c.conn.Read(c.ctx)
		if err != nil {
			return
		}
		if typ != websocket.MessageText {
			c.reply(reply{Type: "error", Message: "send JSON text messages"})
			continue
		}
		var cmd command
		if err := json.Unmarshal(data, &cmd); err != nil {
			c.reply(reply{Type: "error", Message: "invalid JSON: " + err.Error()})
			continue
		}
		c.handle(cmd)
	}
}

func (c *client) reply(r reply) {
	b, _ := json.Marshal(r)
	c.send(wireFrame(b))
}

func (c *client) handle(cmd command) {
	if len(cmd.Topics) == 0 {
		c.reply(reply{Type: "error", Message: "topics: give at least one topic"})
		return
	}
	for _, t := range cmd.Topics {
		if err := c.hub.validTopic(t); err != nil {
			c.reply(reply{Type: "error", Message: berth.ErrorMessage(err)})
			return
		}
	}
	var follow, unfollow, added, removed []string
	c.mu.Lock()
	switch cmd.Action {
	case "subscribe":
		n := len(c.topics)
		for _, t := range cmd.Topics {
			if !c.topics[t] {
				n++
			}
		}
		if n > maxTopics {
			c.mu.Unlock()
			c.reply(reply{Type: "error", Message: fmt.Sprintf("topics: at most %d subscriptions per connection", maxTopics)})
			return
		}
		for _, t := range cmd.Topics {
			if !c.topics[t] {
				c.topics[t] = true
				added = append(added, t)
				if strings.HasPrefix(t, logsPrefix) {
					follow = append(follow, t)
				}
			}
		}
	case "unsubscribe":
		for _, t := range cmd.Topics {
			if c.topics[t] {
				delete(c.topics, t)
				removed = append(removed, t)
				if strings.HasPrefix(t, logsPrefix) {
					unfollow = append(unfollow, t)
				}
			}
		}
	default:
		c.mu.Unlock()
		c.reply(reply{Type: "error", Message: fmt.Sprintf("action: must be subscribe or unsubscribe, got %q", cmd.Action)})
		return
	}
	c.mu.Unlock()
	// The hub's index holds before the reply: a client told it subscribed
	// gets every later event of the topic.
	c.hub.index(c, added, removed)
	// The reply goes first: a log stream that ends at once (an unknown
	// service) must not say so before the client hears it subscribed.
	c.reply(reply{Type: cmd.Action + "d", Topics: cmd.Topics})
	for _, t := range follow {
		c.hub.follow(t)
	}
	for _, t := range unfollow {
		c.hub.unfollow(t)
	}
}

func (h *Hub) validTopic(t string) error {
	if slices.Contains(Topics, t) {
		return nil
	}
	if strings.HasPrefix(t, logsPrefix) {
		if h.cfg.Logs == nil {
			return berth.Invalid("topics", "log streaming is not available on this server")
		}
		_, err := ParseLogTopic(t)
		return err
	}
	return berth.Invalid("topics", "unknown topic %q: use %s or %s", t, strings.Join(Topics, ", "), LogTopicSyntax)
}
