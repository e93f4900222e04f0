-- The observed ready replicas, so the sync loop can tell a change from
-- no change (without it every pass rewrote every running service's row
-- and published a service.status event).

ALTER TABLE services ADD COLUMN ready_replicas INTEGER NOT NULL DEFAULT 0;
