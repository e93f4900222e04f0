// Package testutil holds what berth's tests share: one Eventually that says
// what it last saw, a synchronized buffer for a child's output, and the
// waits tests use, so that no package keeps its own copy.
package testutil

import (
	"bytes"
	"sync"
	"testing"
	"time"
)

// Waits used across the tests. They bound how long a test waits for a
// condition; they never pace a test (nothing sleeps for them).
const (
	// Short is for what happens in-process (an event, a store write).
	Short = 5 * time.Second
	// Process is for what a child process or the real binary does (start,
	// exit, restart after a crash).
	Process = 30 * time.Second
	// Cluster is for what a real control plane or cloud double converges to.
	Cluster = 90 * time.Second
	// Poll is how often Eventually asks.
	Poll = 50 * time.Millisecond
)

// Eventually polls cond until it reports true or timeout passes, then fails
// the test with what and the last state cond described, so a failure says
// what was seen, not only that something was not.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() (ok bool, state string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached after %s; last seen: %s", what, timeout, state)
		}
		time.Sleep(Poll)
	}
}

// SyncBuffer is a bytes.Buffer safe for a writer goroutine (a child's
// stdout, a logger) and a reading test.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String is what was written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
