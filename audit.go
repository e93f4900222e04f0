package berth

import (
	"context"
	"sync"
	"time"
)

// Audit entry statuses (the Orchestrator's `status` filter values).
const (
	AuditCompleted = "completed"
	AuditFailed    = "failed"
)

// AuditEntry records one mutating call: who did what to which resource on
// which target, how it ended and how long it took. Details never hold secrets.
type AuditEntry struct {
	ID           int64          `json:"id"`
	Timestamp    time.Time      `json:"timestamp"`
	UserID       string         `json:"userId"`
	Username     string         `json:"user"`
	Action       string         `json:"action"`       // "service.scale"
	Type         string         `json:"type"`         // "scale": the verb, filterable as ?type=
	ResourceType string         `json:"resourceType"` // "service"
	Resource     string         `json:"resource"`     // "web", "env-abc"
	Target       string         `json:"target,omitempty"`
	Status       string         `json:"status"` // completed | failed
	Error        string         `json:"error,omitempty"`
	DurationMs   int64          `json:"durationMs"`
	RequestID    string         `json:"requestId,omitempty"`
	Details      map[string]any `json:"details,omitempty"`
}

// AuditFilter selects audit entries.
type AuditFilter struct {
	Type   string
	Status string
	User   string // username or user id
	Since  time.Time
	Offset int
	Limit  int
}

// AuditStore appends and reads the audit log.
type AuditStore interface {
	AppendAudit(ctx context.Context, e *AuditEntry) error // sets e.ID
	// UpdateAudit completes the entry e.ID that a transaction wrote for an
	// AuditIntent with e's final fields.
	UpdateAudit(ctx context.Context, e *AuditEntry) error
	// ListAudit returns matching entries newest first and the total before paging.
	ListAudit(ctx context.Context, f AuditFilter) ([]*AuditEntry, int, error)
}

// Store is everything berth persists.
type Store interface {
	ServiceStore
	EnvironmentStore
	UserStore
	AuditStore
	QuotaStore
	UsageStore
	Ping(ctx context.Context) error
	Close() error
}

// Sealer encrypts secrets at rest (AES-GCM in package secret).
type Sealer interface {
	Seal(plaintext []byte) ([]byte, error)
	Open(ciphertext []byte) ([]byte, error)
}

// AuditIntent is the audit entry of a mutating call in progress. A store
// that finds one in the context (WithAuditIntent) writes the entry in the
// transaction of the call's first change, so that no change commits
// without its entry, even when berth dies or the store goes away right
// after the commit; the caller completes the entry when the call ends
// (AuditStore.UpdateAudit: status, duration, details). bench-chaos saw a
// change acknowledged whose entry, written after it, failed while
// PostgreSQL restarted.
type AuditIntent struct {
	mu    sync.Mutex
	cond  *sync.Cond
	draft AuditEntry
	state int // intentOpen, intentClaimed, intentWritten, intentClosed
	id    int64
}

const (
	intentOpen = iota
	intentClaimed
	intentWritten
	intentClosed
)

// NewAuditIntent starts the intent of a call whose entry so far is draft.
func NewAuditIntent(draft AuditEntry) *AuditIntent {
	a := &AuditIntent{draft: draft}
	a.cond = sync.NewCond(&a.mu)
	return a
}

// Claim hands a store transaction the entry to write with its change, once:
// false when another transaction wrote (or is writing) it or the call ended.
// The transaction must Settle what it claimed.
func (a *AuditIntent) Claim() (AuditEntry, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.state != intentOpen {
		return AuditEntry{}, false
	}
	a.state = intentClaimed
	return a.draft, true
}

// Settle ends a claim: committed with the entry id, or not (rolled back or
// failed: a later transaction of the call claims it again).
func (a *AuditIntent) Settle(id int64, committed bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if committed {
		a.state, a.id = intentWritten, id
	} else {
		a.state = intentOpen
	}
	a.cond.Broadcast()
}

// Close ends the call: no transaction claims the entry any more. It answers
// the id of the entry a transaction wrote, or false when none did (the
// caller appends it then), waiting for a claim in flight to settle.
func (a *AuditIntent) Close() (int64, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for a.state == intentClaimed {
		a.cond.Wait()
	}
	written := a.state == intentWritten
	a.state = intentClosed
	return a.id, written
}

type auditIntentKey struct{}

// WithAuditIntent carries a call's audit intent to the store.
func WithAuditIntent(ctx context.Context, a *AuditIntent) context.Context {
	return context.WithValue(ctx, auditIntentKey{}, a)
}

// AuditIntentFrom is the audit intent ctx carries, nil when none.
func AuditIntentFrom(ctx context.Context) *AuditIntent {
	a, _ := ctx.Value(auditIntentKey{}).(*AuditIntent)
	return a
}
