package auth

import (
	"sort"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

const (
	// limiterIdle is how long a bucket may go unused before it is dropped.
	// A bucket idle that long has refilled for any sane rate, so dropping it
	// changes nothing for its owner.
	limiterIdle = 10 * time.Minute
	// limiterMaxKeys bounds memory when many credentials (or garbage
	// credentials) are seen.
	limiterMaxKeys = 10000
)

// Limiter is a token-bucket rate limiter with one bucket per key (a user id,
// an API key id, a client address). Safe for concurrent use.
type Limiter struct {
	rps   rate.Limit
	burst int

	// Settable by tests in this package.
	now     func() time.Time
	idle    time.Duration
	maxKeys int

	mu        sync.Mutex
	buckets   map[string]*bucket
	lastSweep time.Time
}

type bucket struct {
	lim      *rate.Limiter
	lastUsed time.Time
}

// NewLimiter returns a Limiter allowing rps requests per second per key with
// bursts of burst.
func NewLimiter(rps float64, burst int) *Limiter {
	if burst < 1 {
		burst = 1
	}
	return &Limiter{
		rps:     rate.Limit(rps),
		burst:   burst,
		now:     time.Now,
		idle:    limiterIdle,
		maxKeys: limiterMaxKeys,
		buckets: make(map[string]*bucket),
	}
}

// Allow reports whether one more request for key may proceed now.
func (l *Limiter) Allow(key string) bool {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.lastSweep) >= l.idle/10 {
		l.sweep(now)
	}
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= l.maxKeys {
			l.sweep(now)
			l.shrink()
		}
		b = &bucket{lim: rate.NewLimiter(l.rps, l.burst)}
		l.buckets[key] = b
	}
	b.lastUsed = now
	return b.lim.AllowN(now, 1)
}

// Wait reports how long key must wait before its next event: 0 when one
// may happen now. It uses nothing: count events with Spend. (Failed
// authentications are checked with Wait before a credential is verified and
// counted with Spend only when it turns out bad, so good ones never count.)
func (l *Limiter) Wait(key string) time.Duration {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		return 0
	}
	tokens := b.lim.TokensAt(now)
	if tokens >= 1 {
		return 0
	}
	if l.rps <= 0 {
		return l.idle
	}
	return time.Duration((1 - tokens) / float64(l.rps) * float64(time.Second))
}

// Spend counts one event for key (one token taken when there is one).
func (l *Limiter) Spend(key string) {
	l.Allow(key)
}

// Len returns the number of buckets held (for metrics and tests).
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// sweep drops buckets unused for l.idle.
func (l *Limiter) sweep(now time.Time) {
	l.lastSweep = now
	for k, b := range l.buckets {
		if now.Sub(b.lastUsed) >= l.idle {
			delete(l.buckets, k)
		}
	}
}

// shrink drops the least recently used tenth of the buckets when the map is
// still full after a sweep, so the cost of sorting is paid once per many inserts.
func (l *Limiter) shrink() {
	if len(l.buckets) < l.maxKeys {
		return
	}
	type entry struct {
		key  string
		used time.Time
	}
	all := make([]entry, 0, len(l.buckets))
	for k, b := range l.buckets {
		all = append(all, entry{k, b.lastUsed})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].used.Before(all[j].used) })
	drop := len(all) - l.maxKeys*9/10
	for _, e := range all[:drop] {
		delete(l.buckets, e.key)
	}
}
