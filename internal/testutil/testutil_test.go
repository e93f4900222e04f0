package testutil

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// recorder is a testing.TB whose Fatalf records instead of stopping.
type recorder struct {
	testing.TB
	msg string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.msg = fmt.Sprintf(format, args...)
	panic(r)
}

func TestEventually(t *testing.T) {
	var n atomic.Int32
	Eventually(t, Short, "third poll", func() (bool, string) {
		return n.Add(1) >= 3, fmt.Sprintf("poll %d", n.Load())
	})
	if n.Load() != 3 {
		t.Fatalf("polls = %d, want 3", n.Load())
	}

	r := &recorder{TB: t}
	func() {
		defer func() { _ = recover() }()
		Eventually(r, 120*time.Millisecond, "never", func() (bool, string) { return false, "still 41" })
	}()
	if !strings.Contains(r.msg, "never: not reached") || !strings.Contains(r.msg, "last seen: still 41") {
		t.Fatalf("failure message = %q, want what and the last state", r.msg)
	}
}

func TestSyncBuffer(t *testing.T) {
	var b SyncBuffer
	done := make(chan struct{})
	go func() {
		for i := 0; i < 100; i++ {
			fmt.Fprintf(&b, "%d\n", i)
		}
		close(done)
	}()
	_ = b.String() // concurrent read: -race checks it
	<-done
	if got := strings.Count(b.String(), "\n"); got != 100 {
		t.Fatalf("lines = %d, want 100", got)
	}
}

// TestClock: timers fire once when the clock passes them, tickers at each
// advance past their period (one tick kept when nobody reads), Stop and
// Reset disarm and re-arm, and nothing fires while time stands still.
func TestClock(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := NewClock(t0)
	fired := func(ch <-chan time.Time) (time.Time, bool) {
		select {
		case at := <-ch:
			return at, true
		default:
			return time.Time{}, false
		}
	}
	timer := c.NewTimer(10 * time.Second)
	after := c.After(time.Minute)
	ticker := c.NewTicker(15 * time.Second)
	if c.Waiters() != 3 {
		t.Fatalf("waiters = %d, want 3", c.Waiters())
	}
	c.Advance(9 * time.Second)
	if _, ok := fired(timer.C()); ok {
		t.Fatal("timer fired early")
	}
	c.Advance(time.Second)
	if at, ok := fired(timer.C()); !ok || !at.Equal(t0.Add(10*time.Second)) {
		t.Fatalf("timer at 10s: %v %v", at, ok)
	}
	if timer.Stop() {
		t.Fatal("Stop of a fired timer reported it armed")
	}
	c.Advance(5 * time.Second)
	if _, ok := fired(ticker.C()); !ok {
		t.Fatal("ticker did not tick at 15s")
	}
	c.Advance(time.Minute) // four periods pass unread: one tick is kept
	if _, ok := fired(ticker.C()); !ok {
		t.Fatal("ticker did not tick at 75s")
	}
	if _, ok := fired(ticker.C()); ok {
		t.Fatal("ticker kept more than one unread tick")
	}
	if _, ok := fired(after); !ok {
		t.Fatal("After(1m) did not fire by 75s")
	}
	if timer.Reset(time.Second) {
		t.Fatal("Reset of a fired timer reported it armed")
	}
	c.Advance(time.Second)
	if _, ok := fired(timer.C()); !ok {
		t.Fatal("reset timer did not fire")
	}
	ticker.Stop()
	if c.Waiters() != 0 {
		t.Fatalf("waiters after Stop = %d, want 0", c.Waiters())
	}
	c.Advance(time.Hour)
	if _, ok := fired(ticker.C()); ok {
		t.Fatal("stopped ticker ticked")
	}
	if !c.Now().Equal(t0.Add(time.Hour + 76*time.Second)) {
		t.Fatalf("now = %v", c.Now())
	}
	slept := make(chan struct{})
	go func() { c.Sleep(time.Second); close(slept) }()
	Eventually(t, Short, "Sleep to arm its timer", func() (bool, string) { return c.Waiters() == 1, "" })
	c.Advance(time.Second)
	<-slept
}
