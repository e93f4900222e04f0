package berth

import (
	"context"
	"time"
)

// Event is one state change, audit entry, metric tick or log line, as
// delivered to WebSocket clients and to the other replicas of berth.
type Event struct {
	Topic string    `json:"topic"` // services, environments, metrics, audit, logs:<service>
	Type  string    `json:"type"`  // service.updated, environment.deleted, metric.tick, audit.entry, log.line…
	Time  time.Time `json:"time"`
	// Owner is the user id that owns the subject (an environment, an audit
	// entry's actor); "" means every reader of the topic may see it.
	Owner string `json:"owner,omitempty"`
	Data  any    `json:"data"`
}

// TopicResync is the topic of events that tell every WebSocket client,
// whatever it subscribed to, that events may have been lost (this replica's
// link to the others was down, or it fell behind): a client should re-read
// what it shows. Type says why: EventsReconnected, EventsDropped or
// EventsPeerLost.
const (
	TopicResync       = "resync"
	EventsReconnected = "events.reconnected"
	EventsDropped     = "events.dropped"
	// EventsPeerLost: another replica stopped without sending what it had
	// queued for the others.
	EventsPeerLost = "events.peerlost"
)

// Publisher sends events; it never blocks the caller for long and never fails
// the operation that caused the event.
type Publisher interface {
	Publish(ctx context.Context, e Event)
}

// TopicSessions carries revocations between replicas: a password or role
// change, a deleted user or key, a logout. The WebSocket hub acts on them
// (closes the connections of that credential) and never sends them to
// clients. Data is a Revocation.
const TopicSessions = "sessions"

// Revocation says which credentials ended: every one of UserID (KeyID and
// SessionID empty), only the user's sessions (SessionsOnly: a password
// change leaves API keys alone), one API key, or one session token.
type Revocation struct {
	UserID       string `json:"userId,omitempty"`
	KeyID        string `json:"keyId,omitempty"`
	SessionID    string `json:"sessionId,omitempty"`
	SessionsOnly bool   `json:"sessionsOnly,omitempty"`
	Reason       string `json:"reason"`
}
