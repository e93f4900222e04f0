-- A monthly roll-up of CLOSED usage intervals (docs/usage.md): per UTC
-- month and per resource (with the user, target and name its intervals
-- carried), the shape × time each closed interval held inside that month,
-- in shape-microseconds. The store adds to it in the transaction that
-- closes an interval, split at month boundaries; a report reads whole
-- months here and only the edge months and the open intervals from
-- usage_intervals. It is derived data: this migration's step fills it from
-- the intervals already closed (store.rebuildUsageRollup), and a restore
-- rebuilds it rather than copying it. On SQLite the table is kept in its
-- key's order (WITHOUT ROWID), so a range of months is read in one pass.
CREATE TABLE usage_rollup (
    month       BIGINT NOT NULL,
    kind        TEXT   NOT NULL,
    resource_id TEXT   NOT NULL,
    user_id     TEXT   NOT NULL,
    target      TEXT   NOT NULL,
    name        TEXT   NOT NULL,
    cpu_us      DOUBLE PRECISION NOT NULL,
    memory_us   DOUBLE PRECISION NOT NULL,
    storage_us  DOUBLE PRECISION NOT NULL,
    replica_us  DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (month, kind, resource_id, user_id, target, name)
) {{WITHOUT_ROWID}};
CREATE INDEX usage_rollup_user ON usage_rollup (user_id, month);

-- The same per user and target (without the resources): what by-user,
-- by-target, by-month and total reports read, a fraction of the rows. Kept
-- in (user, target, month) order so a by-user report sums it in one pass,
-- group after group, without sorting.
CREATE TABLE usage_rollup_users (
    user_id     TEXT   NOT NULL,
    target      TEXT   NOT NULL,
    month       BIGINT NOT NULL,
    cpu_us      DOUBLE PRECISION NOT NULL,
    memory_us   DOUBLE PRECISION NOT NULL,
    storage_us  DOUBLE PRECISION NOT NULL,
    replica_us  DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (user_id, target, month)
) {{WITHOUT_ROWID}};
CREATE INDEX usage_rollup_users_month ON usage_rollup_users (month, target, cpu_us, memory_us, storage_us, replica_us);

-- Closed intervals that began before a month and end after it began, one
-- row per month so crossed (columns as in usage_intervals): with the
-- intervals started inside a month, they are every closed interval that
-- overlaps a part of that month, each found through a bounded index range.
-- A report's edges (a range that starts or ends inside a month) and
-- reports by day read them; derived like the roll-ups.
CREATE TABLE usage_crossings (
    month       BIGINT  NOT NULL,
    kind        TEXT    NOT NULL,
    resource_id TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    user_id     TEXT    NOT NULL,
    target      TEXT    NOT NULL,
    replicas    INTEGER NOT NULL,
    cpu_cores   DOUBLE PRECISION NOT NULL,
    memory_gb   DOUBLE PRECISION NOT NULL,
    storage_gb  DOUBLE PRECISION NOT NULL,
    started_at  BIGINT  NOT NULL,
    ends_at     BIGINT  NOT NULL
);
CREATE INDEX usage_crossings_month ON usage_crossings (month, ends_at);
