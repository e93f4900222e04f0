package testutil

import (
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// Clock is a fake clock for tests: time moves only when the test calls
// Advance (or Set), and the timers and tickers it made fire then, each at
// most once per Advance for a ticker (as a real one drops ticks nobody
// read). It is a k8s.io/utils clock.WithTicker, so it also drives what takes
// one (core's reconcile queue), and its Now fits a `Now func() time.Time`.
type Clock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []*fakeTimer // armed timers and tickers
}

var _ clock.WithTicker = (*Clock)(nil)

// NewClock is a fake clock at t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now is the fake time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Since is the fake time passed since t.
func (c *Clock) Since(t time.Time) time.Duration { return c.Now().Sub(t) }

// Advance moves time on by d and fires what came due.
func (c *Clock) Advance(d time.Duration) { c.Set(c.Now().Add(d)) }

// Set moves time to t and fires what came due (moved back, nothing fires).
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if w.at.After(c.now) {
			kept = append(kept, w)
			continue
		}
		select { // a full channel drops the tick, as time.Ticker does
		case w.ch <- c.now:
		default:
		}
		if w.every > 0 {
			for !w.at.After(c.now) {
				w.at = w.at.Add(w.every)
			}
			kept = append(kept, w)
		}
	}
	c.waiters = kept
}

// Waiters is how many timers and tickers are armed: a test advances once
// the code under test has armed what it waits on.
func (c *Clock) Waiters() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.waiters)
}

// NewTimer fires once, d after now.
func (c *Clock) NewTimer(d time.Duration) clock.Timer { return c.arm(d, 0) }

// After is NewTimer's channel.
func (c *Clock) After(d time.Duration) <-chan time.Time { return c.NewTimer(d).C() }

// NewTicker fires every d from now.
func (c *Clock) NewTicker(d time.Duration) clock.Ticker {
	if d <= 0 {
		panic("testutil.Clock: non-positive ticker interval")
	}
	return fakeTicker{c.arm(d, d)}
}

// Tick is NewTicker's channel.
func (c *Clock) Tick(d time.Duration) <-chan time.Time { return c.NewTicker(d).C() }

// fakeTicker is a ticker of a Clock, with time.Ticker's Stop and Reset.
type fakeTicker struct{ w *fakeTimer }

func (t fakeTicker) C() <-chan time.Time { return t.w.ch }

// Stop disarms the ticker.
func (t fakeTicker) Stop() { t.w.Stop() }

// Reset makes the ticker fire every d from now.
func (t fakeTicker) Reset(d time.Duration) { t.w.Reset(d) }

// Sleep blocks until the test has advanced the clock by d.
func (c *Clock) Sleep(d time.Duration) { <-c.After(d) }

func (c *Clock) arm(d, every time.Duration) *fakeTimer {
	c.mu.Lock()
	defer c.mu.Unlock()
	w := &fakeTimer{c: c, ch: make(chan time.Time, 1), every: every, at: c.now.Add(d)}
	c.schedule(w)
	return w
}

// fakeTimer is a timer (every 0) or a ticker of a Clock.
type fakeTimer struct {
	c     *Clock
	ch    chan time.Time
	at    time.Time
	every time.Duration
}

func (w *fakeTimer) C() <-chan time.Time { return w.ch }

// Stop disarms it; it reports whether it was armed (a timer not yet fired).
func (w *fakeTimer) Stop() bool {
	w.c.mu.Lock()
	defer w.c.mu.Unlock()
	return w.c.disarm(w)
}

// Reset arms it again to fire d from now; it reports whether it was armed.
func (w *fakeTimer) Reset(d time.Duration) bool {
	w.c.mu.Lock()
	defer w.c.mu.Unlock()
	was := w.c.disarm(w)
	w.at = w.c.now.Add(d)
	if w.every > 0 {
		w.every = d
	}
	w.c.schedule(w)
	return was
}

// schedule arms w, or fires a timer that is already due.
func (c *Clock) schedule(w *fakeTimer) {
	if w.every == 0 && !w.at.After(c.now) {
		select {
		case w.ch <- c.now:
		default:
		}
		return
	}
	c.waiters = append(c.waiters, w)
}

func (c *Clock) disarm(w *fakeTimer) bool {
	for i, x := range c.waiters {
		if x == w {
			c.waiters = append(c.waiters[:i], c.waiters[i+1:]...)
			return true
		}
	}
	return false
}
