package berth

import (
	"context"
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
