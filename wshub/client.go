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
	conn   *websocket.Conn
	actor  berth.Actor
	queue  chan []byte
	ctx    context.Context
	cancel context.CancelFunc

	mu     sync.Mutex
	topics map[string]bool

	closing   atomic.Bool
	closeOnce sync.Once
	pinging   atomic.Bool
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

func (c *client) wants(e berth.Event) bool {
	if e.Topic == berth.TopicResync {
		return true // whatever it subscribed to may have missed something
	}
	c.mu.Lock()
	ok := c.topics[e.Topic]
	c.mu.Unlock()
	return ok && may(c.actor, e)
}

// send queues a frame; a client whose queue is full is dropped, since
// waiting for it would delay everyone else.
func (c *client) send(frame []byte) {
	if c.closing.Load() {
		return
	}
	select {
	case c.queue <- frame:
	default:
		c.hub.dropped.Add(1)
		go c.close(websocket.StatusPolicyViolation, "too slow: event queue full, reconnect and resubscribe")
	}
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

// writeLoop writes the client's queue and, every PingInterval, starts a
// ping. It is the client's only goroutine besides the reader: with 10,000
// clients every goroutine and timer per client counts (stacks, wake-ups).
// A write gets no context deadline of its own (a timer and an AfterFunc per
// frame cost about a sixth of the fan-out's CPU): the hub's watchdog closes
// a connection whose write has taken longer than WriteTimeout.
func (c *client) writeLoop() {
	ping := time.NewTicker(c.hub.cfg.PingInterval)
	defer ping.Stop()
	wctx := context.WithoutCancel(c.ctx) // no Done: see above
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-ping.C:
			if c.pinging.CompareAndSwap(false, true) {
				go c.ping()
			}
		case f := <-c.queue:
			if c.closing.Load() {
				return
			}
			c.writing.Store(c.hub.since())
			err := c.conn.Write(wctx, websocket.MessageText, f)
			c.writing.Store(0)
			if err != nil {
				c.close(websocket.StatusPolicyViolation, "write timed out")
				return
			}
		}
	}
}

// stalled reports whether the write in progress started more than d ago
// (now as Hub.since gives it).
func (c *client) stalled(now int64, d time.Duration) bool {
	w := c.writing.Load()
	return w != 0 && now-w > int64(d)
}

// ping checks that the peer answers; one that does not within PongTimeout
// is gone.
func (c *client) ping() {
	defer c.pinging.Store(false)
	ctx, cancel := context.WithTimeout(c.ctx, c.hub.cfg.PongTimeout)
	err := c.conn.Ping(ctx)
	cancel()
	if err != nil && c.ctx.Err() == nil {
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
	c.send(b)
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
	var follow, unfollow []string
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
				if strings.HasPrefix(t, logsPrefix) {
					follow = append(follow, t)
				}
			}
		}
	case "unsubscribe":
		for _, t := range cmd.Topics {
			if c.topics[t] {
				delete(c.topics, t)
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
