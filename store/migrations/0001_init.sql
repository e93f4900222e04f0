-- Times are UTC Unix microseconds (BIGINT). {{BLOB}} and {{ID}} are
-- substituted per dialect by migrate.go.

CREATE TABLE services (
    target      TEXT    NOT NULL,
    namespace   TEXT    NOT NULL DEFAULT '',
    name        TEXT    NOT NULL,
    status      TEXT    NOT NULL DEFAULT '',
    replicas    INTEGER NOT NULL DEFAULT 0,
    revision    INTEGER NOT NULL DEFAULT 0,
    managed     BOOLEAN NOT NULL DEFAULT TRUE,
    stopped     BOOLEAN NOT NULL DEFAULT FALSE,
    spec        TEXT    NOT NULL,
    secrets     {{BLOB}},
    message     TEXT    NOT NULL DEFAULT '',
    owner       TEXT    NOT NULL DEFAULT '',
    created_at  BIGINT  NOT NULL,
    updated_at  BIGINT  NOT NULL,
    PRIMARY KEY (target, namespace, name)
);

CREATE TABLE revisions (
    target      TEXT    NOT NULL,
    namespace   TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    number      INTEGER NOT NULL,
    spec        TEXT    NOT NULL,
    secrets     {{BLOB}},
    cause       TEXT    NOT NULL DEFAULT '',
    author      TEXT    NOT NULL DEFAULT '',
    created_at  BIGINT  NOT NULL,
    PRIMARY KEY (target, namespace, name, number),
    FOREIGN KEY (target, namespace, name) REFERENCES services (target, namespace, name) ON DELETE CASCADE
);

CREATE TABLE environments (
    id                     TEXT    PRIMARY KEY,
    user_id                TEXT    NOT NULL,
    name                   TEXT    NOT NULL,
    status                 TEXT    NOT NULL,
    cloud_provider         TEXT    NOT NULL DEFAULT '',
    cloud_region           TEXT    NOT NULL DEFAULT '',
    target                 TEXT    NOT NULL DEFAULT '',
    template               TEXT    NOT NULL DEFAULT '',
    aci_container_group_id TEXT    NOT NULL DEFAULT '',
    aci_public_ip          TEXT    NOT NULL DEFAULT '',
    azure_file_share_name  TEXT    NOT NULL DEFAULT '',
    vscode_url             TEXT    NOT NULL DEFAULT '',
    cpu_cores              INTEGER NOT NULL DEFAULT 0,
    memory_gb              INTEGER NOT NULL DEFAULT 0,
    storage_gb             INTEGER NOT NULL DEFAULT 0,
    base_image             TEXT    NOT NULL DEFAULT '',
    git_user_name          TEXT    NOT NULL DEFAULT '',
    git_user_email         TEXT    NOT NULL DEFAULT '',
    env                    TEXT    NOT NULL DEFAULT '{}',
    auto_stop_minutes      INTEGER NOT NULL DEFAULT 0,
    message                TEXT    NOT NULL DEFAULT '',
    stopped                BOOLEAN NOT NULL DEFAULT FALSE,
    secrets                {{BLOB}},
    created_at             BIGINT  NOT NULL,
    updated_at             BIGINT  NOT NULL,
    last_accessed_at       BIGINT  NOT NULL
);
CREATE INDEX environments_created ON environments (created_at DESC, id);
CREATE INDEX environments_user ON environments (user_id, created_at DESC);
CREATE INDEX environments_target ON environments (target, created_at DESC);

CREATE TABLE users (
    id            TEXT   PRIMARY KEY,
    username      TEXT   NOT NULL UNIQUE,
    role          TEXT   NOT NULL,
    password_hash TEXT   NOT NULL DEFAULT '',
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

CREATE TABLE api_keys (
    id           TEXT   PRIMARY KEY,
    name         TEXT   NOT NULL DEFAULT '',
    user_id      TEXT   NOT NULL,
    role         TEXT   NOT NULL,
    secret_hash  {{BLOB}} NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT,
    last_used_at BIGINT
);
CREATE INDEX api_keys_user ON api_keys (user_id);

CREATE TABLE revoked_tokens (
    jti        TEXT   PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
CREATE INDEX revoked_tokens_expires ON revoked_tokens (expires_at);

CREATE TABLE audit_log (
    id            {{ID}},
    ts            BIGINT NOT NULL,
    user_id       TEXT   NOT NULL DEFAULT '',
    username      TEXT   NOT NULL DEFAULT '',
    action        TEXT   NOT NULL DEFAULT '',
    type          TEXT   NOT NULL DEFAULT '',
    resource_type TEXT   NOT NULL DEFAULT '',
    resource      TEXT   NOT NULL DEFAULT '',
    target        TEXT   NOT NULL DEFAULT '',
    status        TEXT   NOT NULL DEFAULT '',
    error         TEXT   NOT NULL DEFAULT '',
    duration_ms   BIGINT NOT NULL DEFAULT 0,
    request_id    TEXT   NOT NULL DEFAULT '',
    details       TEXT
);
CREATE INDEX audit_log_ts ON audit_log (ts DESC, id DESC);
CREATE INDEX audit_log_type ON audit_log (type, ts DESC);
CREATE INDEX audit_log_status ON audit_log (status, ts DESC);
