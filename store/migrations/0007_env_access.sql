-- Grants to reach an environment through berth's proxy (/env/{id}/…):
-- single-use tickets and the cookie sessions they are exchanged for. Only
-- the SHA-256 of a ticket or cookie is stored; the credential a grant was
-- issued under is sealed like every other secret, and authenticated again
-- on each use.

CREATE TABLE env_access (
    hash       {{BLOB}} PRIMARY KEY,
    kind       TEXT   NOT NULL,
    env_id     TEXT   NOT NULL,
    credential {{BLOB}} NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX env_access_expires ON env_access (expires_at);
