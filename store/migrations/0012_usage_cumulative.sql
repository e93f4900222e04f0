-- Cumulative usage at UTC midnights (docs/usage.md): for each user and
-- target, what its CLOSED intervals held before that midnight (shape ×
-- microseconds), so any run of whole days [D1, D2) is the row at D2 minus
-- the row at D1, two index seeks per user whatever the range. A row is
-- kept at every midnight where the value changed (the day before it held
-- something); the value at a midnight without a row is that of the latest
-- row before it. The store adds to it in the transaction that closes an
-- interval; derived data like the roll-up (migration 0011): this
-- migration's step fills it, a restore rebuilds it.
CREATE TABLE usage_cumulative (
    user_id     TEXT   NOT NULL,
    target      TEXT   NOT NULL,
    day         BIGINT NOT NULL,
    cpu_us      DOUBLE PRECISION NOT NULL,
    memory_us   DOUBLE PRECISION NOT NULL,
    storage_us  DOUBLE PRECISION NOT NULL,
    replica_us  DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (user_id, target, day)
) {{WITHOUT_ROWID}};

-- The same over all users, per target: by-day, by-month, by-target and
-- total reports over everyone read a few rows per target.
CREATE TABLE usage_cumulative_targets (
    target      TEXT   NOT NULL,
    day         BIGINT NOT NULL,
    cpu_us      DOUBLE PRECISION NOT NULL,
    memory_us   DOUBLE PRECISION NOT NULL,
    storage_us  DOUBLE PRECISION NOT NULL,
    replica_us  DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (target, day)
) {{WITHOUT_ROWID}};

-- Every (user, target) usage_cumulative has rows for: what a report over
-- all users walks, one seek per key and boundary.
CREATE TABLE usage_cumulative_keys (
    user_id     TEXT   NOT NULL,
    target      TEXT   NOT NULL,
    PRIMARY KEY (user_id, target)
) {{WITHOUT_ROWID}};

-- A resource's intervals in time order: the one holding a given instant
-- is the latest started before it (a part-day edge of a report reads that
-- one per resource instead of a month of intervals).
CREATE INDEX usage_intervals_resource ON usage_intervals (kind, resource_id, started_at, id);

-- The open intervals, with every column a report reads: each report reads
-- them all (one per live resource), and through this small index they are
-- a few pages instead of one table page each, scattered over the history.
CREATE INDEX usage_intervals_opened ON usage_intervals (started_at, ends_at, kind, resource_id, name, user_id, target,
    replicas, cpu_cores, memory_gb, storage_gb, ended_at) WHERE ended_at IS NULL;
