-- Quotas (one row per level: scope defaults/role/user, key "" / role / user
-- id, limits as JSON), usage intervals metered from state transitions, and
-- what dormancy needs on environments.

CREATE TABLE quotas (
    scope      TEXT   NOT NULL,
    qkey       TEXT   NOT NULL,
    limits     TEXT   NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (scope, qkey)
);

-- One row per interval during which a resource held one shape (cores,
-- memory, storage, running replicas). ended_at is NULL while open; the
-- leader's sync advances last_seen of open rows, and an open row whose
-- last_seen went stale (no leader for a while: berth was down) is closed
-- at last_seen and opened again at the time the leader came back.
CREATE TABLE usage_intervals (
    id          {{ID}},
    kind        TEXT    NOT NULL,
    resource_id TEXT    NOT NULL,
    name        TEXT    NOT NULL DEFAULT '',
    user_id     TEXT    NOT NULL DEFAULT '',
    target      TEXT    NOT NULL DEFAULT '',
    replicas    INTEGER NOT NULL DEFAULT 0,
    cpu_cores   DOUBLE PRECISION NOT NULL DEFAULT 0,
    memory_gb   DOUBLE PRECISION NOT NULL DEFAULT 0,
    storage_gb  DOUBLE PRECISION NOT NULL DEFAULT 0,
    started_at  BIGINT  NOT NULL,
    ended_at    BIGINT,
    -- ended_at, or the largest BIGINT while open: indexed, so a report
    -- over recent months reads only the intervals that reach into them.
    ends_at     BIGINT  NOT NULL,
    last_seen   BIGINT  NOT NULL
);
CREATE INDEX usage_intervals_open ON usage_intervals (kind, resource_id, ended_at);
CREATE INDEX usage_intervals_start ON usage_intervals (started_at);
CREATE INDEX usage_intervals_ends ON usage_intervals (ends_at, started_at);
CREATE INDEX usage_intervals_user ON usage_intervals (user_id, started_at);

ALTER TABLE environments ADD COLUMN stopped_at BIGINT;
ALTER TABLE environments ADD COLUMN dormant_at BIGINT;
ALTER TABLE environments ADD COLUMN delete_at BIGINT;
ALTER TABLE environments ADD COLUMN pinned BOOLEAN NOT NULL DEFAULT FALSE;
