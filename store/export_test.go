package store

import (
	"database/sql"
	"time"
)

// SetBusyTimeout sets SQLite's busy timeout for the stores opened until
// the returned function restores it.
func SetBusyTimeout(d time.Duration) (restore func()) {
	old := busyTimeout
	busyTimeout = d
	return func() { busyTimeout = old }
}

// Readers is the pool store methods read with outside a transaction.
func (s *Store) Readers() *sql.DB { return s.rdb }

// WritersQueued is how many writers wait for their turn.
func (s *Store) WritersQueued() int64 { return s.w.queued.Load() }
