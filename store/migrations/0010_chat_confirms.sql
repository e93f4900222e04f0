-- Pending chat confirmations (POST /api/v1/chat {"confirm": token}): single
-- use, bound to one user and one action, kept where every replica sees
-- them. Only the SHA-256 of a token is stored; the action is sealed.

CREATE TABLE chat_confirms (
    hash       {{BLOB}} PRIMARY KEY,
    user_id    TEXT   NOT NULL,
    action     {{BLOB}} NOT NULL,
    summary    TEXT   NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX chat_confirms_expires ON chat_confirms (expires_at);
