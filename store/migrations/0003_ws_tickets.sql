-- Single-use WebSocket tickets, kept where every replica sees them: a
-- browser may get its ticket from one replica and connect to another.
-- Only the SHA-256 of a ticket is stored.

CREATE TABLE ws_tickets (
    hash       {{BLOB}} PRIMARY KEY,
    user_id    TEXT   NOT NULL,
    username   TEXT   NOT NULL,
    role       TEXT   NOT NULL,
    key_id     TEXT   NOT NULL DEFAULT '',
    expires_at BIGINT NOT NULL
);
CREATE INDEX ws_tickets_expires ON ws_tickets (expires_at);
