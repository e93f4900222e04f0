package store

import (
	"context"
	"database/sql"
	"sync/atomic"
)

// writer is where writes outside a transaction and every transaction run
// (x and inTx). On SQLite the database behind it has one connection, and
// writers take turns for it first come, first served: database/sql hands a
// freed connection to a random waiter, so under a long queue some waited
// many times the mean (an audit entry past its 5 s deadline). Only the
// writer whose turn it is waits in database/sql, so its pick has one
// candidate. On PostgreSQL turns is nil: the pool and the server queue.
type writer struct {
	db     *sql.DB
	turns  chan struct{} // capacity 1; blocked senders queue in order
	queued *atomic.Int64 // writers waiting for their turn, for tests
}

func newWriter(db *sql.DB, queue bool) writer {
	w := writer{db: db, queued: new(atomic.Int64)}
	if queue {
		w.turns = make(chan struct{}, 1)
	}
	return w
}

// turn waits until it is the caller's turn; done ends it. The turn only
// covers getting the connection: whoever holds it (a transaction, rows)
// makes the next in line wait in database/sql, alone.
func (w writer) turn(ctx context.Context) (done func(), err error) {
	if w.turns == nil {
		return func() {}, nil
	}
	w.queued.Add(1)
	defer w.queued.Add(-1)
	select {
	case w.turns <- struct{}{}:
		return func() { <-w.turns }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (w writer) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	done, err := w.turn(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	return w.db.ExecContext(ctx, query, args...)
}

func (w writer) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	done, err := w.turn(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	return w.db.QueryContext(ctx, query, args...)
}

// QueryRowContext answers a Row that holds the connection until scanned.
// Without a turn (ctx ended) database/sql's own answer carries ctx's error.
func (w writer) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if done, err := w.turn(ctx); err == nil {
		defer done()
	}
	return w.db.QueryRowContext(ctx, query, args...)
}

func (w writer) BeginTx(ctx context.Context, opts *sql.TxOptions) (*sql.Tx, error) {
	done, err := w.turn(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	return w.db.BeginTx(ctx, opts)
}
