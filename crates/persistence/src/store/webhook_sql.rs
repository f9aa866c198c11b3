//! The SQL of [`WebhookStore`](crate::WebhookStore), which both backends accept (see
//! [`super::sql`] for the dialect rules: `$N` placeholders first used in numeric order;
//! here also `CASE` instead of `GREATEST`/`MAX(a, b)`). Run by `impl_webhooks!`.

/// The latest version number of document `d`.
macro_rules! max_version {
    () => {
        "(SELECT COALESCE(MAX(v.version), 0) FROM versions v WHERE v.document_id = d.id)"
    };
}

/// The documents an endpoint follows: `$2` characters of the name equal the prefix `$3`,
/// and the name equals `$4` unless it is NULL.
macro_rules! follows {
    () => {
        "substr(d.name, 1, $2) = $3 AND COALESCE($4, d.name) = d.name"
    };
}

pub(super) const CREATE_ENDPOINT: &str =
    "INSERT INTO webhook_endpoints (url, prefix, document, events, secret, created_at)
     VALUES ($1, $2, $3, $4, $5, $6) RETURNING id";

pub(super) const BASELINE: &str = concat!(
    "INSERT INTO webhook_cursors (endpoint_id, document_id, document, seq, version)
     SELECT $1, d.id, d.name, d.last_seq, ",
    max_version!(),
    " FROM documents d WHERE ",
    follows!()
);

pub(super) const ENDPOINT_COLUMNS: &str =
    "SELECT id, url, prefix, document, events, secret, previous_secret, previous_secret_until_ms,
            created_at, disabled_at, disabled_reason
     FROM webhook_endpoints";

pub(super) const ROTATE_SECRET: &str = "UPDATE webhook_endpoints
     SET previous_secret = secret, previous_secret_until_ms = $1, secret = $2
     WHERE id = $3 RETURNING id";

pub(super) const TAKE_LEASE: &str =
    "UPDATE webhook_endpoints SET lease_owner = $1, lease_until_ms = $2
     WHERE id = $3 AND disabled_at IS NULL
       AND (lease_owner IS NULL OR lease_owner = $1 OR lease_until_ms < $4)
     RETURNING id";

pub(super) const RELEASE_LEASE: &str =
    "UPDATE webhook_endpoints SET lease_owner = NULL, lease_until_ms = 0
     WHERE id = $1 AND lease_owner = $2";

pub(super) const WORK: &str = concat!(
    "SELECT * FROM (
       SELECT d.id AS document_id, d.name AS document, d.last_seq AS last_seq,
              c.seq AS cursor_seq, c.version AS cursor_version
       FROM documents d LEFT JOIN webhook_cursors c
         ON c.endpoint_id = $1 AND c.document_id = d.id
       WHERE ",
    follows!(),
    " AND NOT EXISTS (SELECT 1 FROM webhook_messages m
                        WHERE m.endpoint_id = $1 AND m.document_id = d.id)
     ) w
     WHERE w.cursor_seq IS NULL OR w.last_seq > w.cursor_seq
        OR (SELECT COALESCE(MAX(v.version), 0) FROM versions v
            WHERE v.document_id = w.document_id) > w.cursor_version
     ORDER BY w.document_id LIMIT $5"
);

pub(super) const MAX_VERSION: &str =
    "SELECT COALESCE(MAX(version), 0) FROM versions WHERE document_id = $1";

pub(super) const DELETED: &str = "SELECT c.document_id, c.document FROM webhook_cursors c
     WHERE c.endpoint_id = $1
       AND NOT EXISTS (SELECT 1 FROM documents d WHERE d.id = c.document_id)
       AND NOT EXISTS (SELECT 1 FROM webhook_messages m
                       WHERE m.endpoint_id = $1 AND m.document_id = c.document_id)
     ORDER BY c.document_id";

pub(super) const SET_CURSOR: &str =
    "INSERT INTO webhook_cursors (endpoint_id, document_id, document, seq, version)
     VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (endpoint_id, document_id) DO UPDATE SET
       seq = CASE WHEN excluded.seq > webhook_cursors.seq
                  THEN excluded.seq ELSE webhook_cursors.seq END,
       version = CASE WHEN excluded.version > webhook_cursors.version
                      THEN excluded.version ELSE webhook_cursors.version END";

pub(super) const DROP_CURSOR: &str =
    "DELETE FROM webhook_cursors WHERE endpoint_id = $1 AND document_id = $2";

pub(super) const ENQUEUE: &str =
    "INSERT INTO webhook_messages (id, endpoint_id, document_id, document, event,
         upto_seq, upto_version, body, created_at, attempts, next_attempt_ms)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";

pub(super) const PENDING: &str =
    "SELECT id, endpoint_id, document_id, document, event, upto_seq, upto_version,
            body, created_at, attempts, next_attempt_ms
     FROM webhook_messages WHERE endpoint_id = $1 ORDER BY created_at, id";

/// Returns the attempts made before this answer: the one being recorded is the next.
pub(super) const DROP_MESSAGE: &str =
    "DELETE FROM webhook_messages WHERE id = $1 RETURNING attempts";

/// Counts the attempt on the stored row (not from the sender's copy, which may be stale)
/// and returns its number.
pub(super) const RETRY_LATER: &str =
    "UPDATE webhook_messages SET attempts = attempts + 1, next_attempt_ms = $1
     WHERE id = $2 RETURNING attempts";

/// The highest attempt number recorded for a message (0 if none): what an answer to a
/// message already gone (acknowledged through another send) follows.
pub(super) const LAST_ATTEMPT: &str =
    "SELECT COALESCE(MAX(attempt), 0) FROM webhook_attempts WHERE message_id = $1";

/// Nothing when the endpoint was deleted while the attempt was under way.
pub(super) const RECORD_ATTEMPT: &str =
    "INSERT INTO webhook_attempts (endpoint_id, message_id, event, document, attempt,
         outcome, status, duration_ms, error, at)
     SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10
     WHERE EXISTS (SELECT 1 FROM webhook_endpoints WHERE id = $1)";

pub(super) const ATTEMPTS: &str =
    "SELECT message_id, event, document, attempt, outcome, status, duration_ms, error, at
     FROM webhook_attempts WHERE endpoint_id = $1 ORDER BY id DESC LIMIT $2";
