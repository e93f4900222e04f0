// Package events is berth's event bus: every state change, audit entry and
// metric tick is published here and fanned out to subscribers (the
// WebSocket hub). Local delivers within one process; Postgres also carries
// events between berth processes sharing a database, over LISTEN/NOTIFY.
package events

import (
	"context"
	"encoding/json"
	"sync"
	"sync/atomic"
	"time"

	"github.com/berthhq/berth"
)

// Bus publishes events and hands them to subscribers.
type Bus interface {
	berth.Publisher
	// Subscribe returns a subscription buffered to buffer events; a
	// subscriber that falls behind loses events, it never blocks publishers.
	Subscribe(buffer int) *Subscription
	// Kind is "local" or "postgres".
	Kind() string
	Close() error
}

// Subscription receives events on C until Close.
type Subscription struct {
	C       <-chan berth.Event
	c       chan berth.Event
	bus     *Local
	dropped atomic.Uint64
}

// Dropped counts events lost because C was full.
func (s *Subscription) Dropped() uint64 { return s.dropped.Load() }

// Close stops delivery and closes C.
func (s *Subscription) Close() {
	b := s.bus
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.subs[s]; ok {
		delete(b.subs, s)
		close(s.c)
	}
}

// Local is the in-process bus (the whole bus on SQLite).
type Local struct {
	mu     sync.RWMutex
	subs   map[*Subscription]struct{}
	closed bool
	now    func() time.Time
}

var _ Bus = (*Local)(nil)

// NewLocal returns an in-process bus.
func NewLocal() *Local {
	return &Local{subs: map[*Subscription]struct{}{}, now: time.Now}
}

// Kind is "local".
func (b *Local) Kind() string { return "local" }

// Subscribe registers a subscriber.
func (b *Local) Subscribe(buffer int) *Subscription {
	if buffer <= 0 {
		buffer = 1024
	}
	c := make(chan berth.Event, buffer)
	s := &Subscription{C: c, c: c, bus: b}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		close(c)
		return s
	}
	b.subs[s] = struct{}{}
	return s
}

// Publish delivers e to every subscriber without waiting for any.
func (b *Local) Publish(_ context.Context, e berth.Event) {
	e, ok := normalize(e, b.now)
	if !ok {
		return
	}
	b.deliver(e)
}

func (b *Local) deliver(e berth.Event) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	for s := range b.subs {
		select {
		case s.c <- e:
		default:
			s.dropped.Add(1)
		}
	}
}

// Close ends every subscription.
func (b *Local) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	for s := range b.subs {
		delete(b.subs, s)
		close(s.c)
	}
	return nil
}

// normalize stamps the time and freezes Data as JSON: the publisher may
// change its value afterwards, and subscribers on other goroutines (or
// processes) then see what was published. It reports false for data that
// cannot be encoded, which is a programming error of the publisher.
func normalize(e berth.Event, now func() time.Time) (berth.Event, bool) {
	if e.Time.IsZero() {
		e.Time = now()
	}
	e.Time = e.Time.UTC()
	switch d := e.Data.(type) {
	case json.RawMessage:
	case nil:
		e.Data = json.RawMessage("null")
	default:
		raw, err := json.Marshal(d)
		if err != nil {
			return e, false
		}
		e.Data = json.RawMessage(raw)
	}
	return e, true
}
