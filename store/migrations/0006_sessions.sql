-- Session epochs: every session token carries its user's epoch, and a
-- password or role change raises it, ending the user's earlier sessions on
-- every replica at once. WebSocket tickets keep the session they were
-- issued for, so the hub can check it again while the connection lasts.

ALTER TABLE users ADD COLUMN session_epoch BIGINT NOT NULL DEFAULT 0;
ALTER TABLE ws_tickets ADD COLUMN session_id TEXT NOT NULL DEFAULT '';
ALTER TABLE ws_tickets ADD COLUMN session_epoch BIGINT NOT NULL DEFAULT 0;
ALTER TABLE ws_tickets ADD COLUMN session_expires BIGINT NOT NULL DEFAULT 0;
