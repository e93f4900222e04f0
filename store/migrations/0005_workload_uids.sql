-- The unprivileged uid each berth user's workloads run as on local targets
-- (when berth runs as root). A row is never deleted: a uid is not reused.

CREATE TABLE workload_uids (
    user_id    TEXT PRIMARY KEY,
    uid        BIGINT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);
