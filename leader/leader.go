// Package leader keeps one berth replica leading the background loops: it
// retries a berth.LeaderLock until it holds it, and says whether it does.
package leader

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/berthhq/berth"
)

// Elector campaigns for one named lock.
type Elector struct {
	lock    berth.LeaderLock
	name    string
	retry   time.Duration
	log     *slog.Logger
	leading atomic.Bool
}

// New returns an elector for lock name, trying again every retry (default 5 s).
func New(lock berth.LeaderLock, name string, retry time.Duration, log *slog.Logger) *Elector {
	if retry <= 0 {
		retry = 5 * time.Second
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Elector{lock: lock, name: name, retry: retry, log: log}
}

// Leading says whether this replica holds the lock now.
func (e *Elector) Leading() bool { return e.leading.Load() }

// Run campaigns until ctx ends, releasing the lock then.
func (e *Elector) Run(ctx context.Context) {
	for ctx.Err() == nil {
		lost, release, held, err := e.lock.TryLead(ctx, e.name)
		if err != nil && ctx.Err() == nil {
			e.log.Warn("take the leader lock", "lock", e.name, "err", err)
		}
		if held {
			e.leading.Store(true)
			e.log.Info("leading the background loops", "lock", e.name)
			select {
			case <-ctx.Done():
			case <-lost:
				e.log.Warn("lost the leader lock", "lock", e.name)
			}
			e.leading.Store(false)
			release()
			continue
		}
		select {
		case <-ctx.Done():
		case <-time.After(e.retry):
		}
	}
}
