package store

import (
	"context"
	"database/sql"
	"fmt"
	"hash/fnv"
	"sync"
	"time"

	"github.com/berthhq/berth"
)

var _ berth.LeaderLock = (*Store)(nil)

// leaderCheck is how often a held PostgreSQL lock checks its connection.
const leaderCheck = 2 * time.Second

// TryLead takes a PostgreSQL session advisory lock on a connection of its
// own: the lock lives as long as that session, so a replica that dies or
// loses the database loses it and another takes over. SQLite serves one
// process, which always leads.
func (s *Store) TryLead(ctx context.Context, name string) (<-chan struct{}, func(), bool, error) {
	if s.kind != Postgres {
		return make(chan struct{}), func() {}, true, nil
	}
	h := fnv.New64a()
	_, _ = h.Write([]byte("berth:" + name))
	key := int64(h.Sum64()) // #nosec G115 -- a hash folded into PostgreSQL's bigint lock key: wrapping is intended
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return nil, nil, false, fmt.Errorf("lead %s: %w", name, err)
	}
	var held bool
	if err := conn.QueryRowContext(ctx, "SELECT pg_try_advisory_lock($1)", key).Scan(&held); err != nil || !held {
		_ = conn.Close()
		if err != nil {
			return nil, nil, false, fmt.Errorf("lead %s: %w", name, err)
		}
		return nil, nil, false, nil
	}
	lost, done := make(chan struct{}), make(chan struct{})
	go watchSession(conn, lost, done) // #nosec G118 -- the watch lasts as long as the lock, not the call that took it
	var once sync.Once
	release := func() {
		once.Do(func() {
			close(done)
			<-lost
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			// Closing the session would release it too; unlocking first hands
			// over at once instead of when the pool drops the connection.
			_, _ = conn.ExecContext(ctx, "SELECT pg_advisory_unlock($1)", key)
			_ = conn.Close()
		})
	}
	return lost, release, true, nil
}

// watchSession closes lost when the session holding the lock stops
// answering, or when done is closed.
func watchSession(conn *sql.Conn, lost, done chan struct{}) {
	defer close(lost)
	t := time.NewTicker(leaderCheck)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), leaderCheck)
			err := conn.PingContext(ctx)
			cancel()
			if err != nil {
				return
			}
		}
	}
}
