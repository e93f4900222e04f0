package berth

import "context"

// UIDStore records the host uid that each berth user's workloads run as on
// local targets, so that the mapping survives restarts of berth and no two
// users ever share a uid.
type UIDStore interface {
	// WorkloadUID returns the uid recorded for key (a berth user id), first
	// recording the lowest uid in [lo, hi] that no other key holds. A uid,
	// once given, is never given to another key, even after its user is gone:
	// files the old user left would otherwise be the new user's.
	WorkloadUID(ctx context.Context, key string, lo, hi uint32) (uint32, error)
}
