-- Recommendations (issue 11): the columns lists filter and order by, the
-- rest of the object as JSON in body. One OPEN recommendation per subject
-- and kind; REJECTED ones stay to suppress the same proposal for a week.

CREATE TABLE recommendations (
    id           TEXT   PRIMARY KEY,
    kind         TEXT   NOT NULL,
    source       TEXT   NOT NULL,
    target       TEXT   NOT NULL,
    namespace    TEXT   NOT NULL DEFAULT '',
    subject_type TEXT   NOT NULL,
    subject_name TEXT   NOT NULL,
    subject_key  TEXT   NOT NULL,
    status       TEXT   NOT NULL,
    owner        TEXT   NOT NULL DEFAULT '',
    saving       DOUBLE PRECISION NOT NULL DEFAULT 0,
    currency     TEXT   NOT NULL DEFAULT '',
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    body         TEXT   NOT NULL
);
CREATE UNIQUE INDEX recommendations_one_open ON recommendations (subject_key, kind) WHERE status = 'OPEN';
CREATE INDEX recommendations_subject ON recommendations (subject_key, kind, status, updated_at);
CREATE INDEX recommendations_list ON recommendations (status, updated_at);
CREATE INDEX recommendations_updated ON recommendations (updated_at);
