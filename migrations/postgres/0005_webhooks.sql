-- Webhooks (docs/webhooks.md): endpoints, what each has been sent, what waits to be sent,
-- and every delivery attempt. All of it is meant to be read with plain SQL.

-- Where to send which events. `prefix` ('' for every document) and `document` (one exact
-- name, or NULL) choose the documents; `events` is a JSON array of event types.
-- `disabled_at` is set when the receiver answered 410 Gone (or an operator disabled it).
-- After a key rotation `previous_secret` still signs too (a second signature) until
-- `previous_secret_until_ms` (Unix ms), so receivers can switch keys without a gap.
-- `lease_owner` / `lease_until_ms` name the one instance that delivers for the endpoint
-- (cluster mode); a lease not renewed in time may be taken over.
CREATE TABLE webhook_endpoints (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    url              TEXT        NOT NULL,
    prefix           TEXT        NOT NULL DEFAULT '',
    document         TEXT,
    events           TEXT        NOT NULL,
    secret           TEXT        NOT NULL,
    previous_secret  TEXT,
    previous_secret_until_ms BIGINT NOT NULL DEFAULT 0,
    created_at       TIMESTAMPTZ NOT NULL,
    disabled_at      TIMESTAMPTZ,
    disabled_reason  TEXT,
    lease_owner      TEXT,
    lease_until_ms   BIGINT      NOT NULL DEFAULT 0
);

-- The endpoint's cursor, one row per document it follows: the receiver has acknowledged
-- (2xx) every change up to log position `seq` and every version up to `version`. It moves
-- only after a 2xx. No foreign key to documents: a deleted document's row stays until its
-- document.deleted is acknowledged.
CREATE TABLE webhook_cursors (
    endpoint_id  BIGINT NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
    document_id  BIGINT NOT NULL,
    document     TEXT   NOT NULL,
    seq          BIGINT NOT NULL,
    version      BIGINT NOT NULL,
    PRIMARY KEY (endpoint_id, document_id)
);

-- Messages built and not yet acknowledged, kept so that every retry (after a restart too)
-- sends the same `webhook-id` and body. `upto_seq` / `upto_version` are where the cursor
-- goes once it is acknowledged.
CREATE TABLE webhook_messages (
    id               TEXT        PRIMARY KEY,
    endpoint_id      BIGINT      NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
    document_id      BIGINT      NOT NULL,
    document         TEXT        NOT NULL,
    event            TEXT        NOT NULL,
    upto_seq         BIGINT      NOT NULL,
    upto_version     BIGINT      NOT NULL,
    body             TEXT        NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL,
    attempts         BIGINT      NOT NULL DEFAULT 0,
    next_attempt_ms  BIGINT      NOT NULL
);
CREATE INDEX webhook_messages_by_endpoint ON webhook_messages(endpoint_id, document_id);

-- Every delivery attempt: HTTP status (NULL without an answer), how long it took, why it
-- failed. `outcome`: delivered, failed, gone (410: endpoint disabled), expired (retried
-- for the whole retry window, then dropped).
CREATE TABLE webhook_attempts (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    endpoint_id  BIGINT      NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
    message_id   TEXT        NOT NULL,
    event        TEXT        NOT NULL,
    document     TEXT        NOT NULL,
    attempt      BIGINT      NOT NULL,
    outcome      TEXT        NOT NULL,
    status       BIGINT,
    duration_ms  BIGINT      NOT NULL,
    error        TEXT,
    at           TIMESTAMPTZ NOT NULL
);
CREATE INDEX webhook_attempts_by_endpoint ON webhook_attempts(endpoint_id, id);
