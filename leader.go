package berth

import "context"

// LeaderLock elects one berth replica to run the background loops (sync,
// auto-stop, metrics writes) when several share a database (DESIGN §2).
type LeaderLock interface {
	// TryLead takes the lock named name unless another process holds it.
	// held says whether it did; then lost is closed if the lock is lost
	// (its database connection broke) and release gives it up.
	TryLead(ctx context.Context, name string) (lost <-chan struct{}, release func(), held bool, err error)
}
