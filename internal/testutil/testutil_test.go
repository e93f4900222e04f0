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
