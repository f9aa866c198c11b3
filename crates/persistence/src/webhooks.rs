//! What the webhook deliverer keeps in the database (migration 0005): endpoints, each
//! endpoint's cursor per document, the messages waiting for an acknowledgement, and every
//! delivery attempt. The deliverer itself (what to send, when, how) is the server's.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::Result;

/// A receiver of webhooks, as stored.
#[derive(Debug, Clone, Serialize)]
pub struct Endpoint {
    pub id: i64,
    pub url: String,
    /// Documents whose name starts with this ('' for every document).
    pub prefix: String,
    /// One exact document name, when the endpoint follows only that one.
    pub document: Option<String>,
    pub events: Vec<String>,
    /// `whsec_...`: the signing secret.
    pub secret: String,
    /// The secret before the last rotation, which still signs until
    /// `previous_secret_until_ms` (Unix ms).
    pub previous_secret: Option<String>,
    pub previous_secret_until_ms: i64,
    pub created_at: DateTime<Utc>,
    pub disabled_at: Option<DateTime<Utc>>,
    pub disabled_reason: Option<String>,
}

impl Endpoint {
    pub fn enabled(&self) -> bool {
        self.disabled_at.is_none()
    }

    pub fn wants(&self, event: &str) -> bool {
        self.events.iter().any(|e| e == event)
    }

    /// The secrets that sign at `now_ms`: the current one, and during a rotation the
    /// previous one.
    pub fn signing_secrets(&self, now_ms: i64) -> Vec<String> {
        let mut out = vec![self.secret.clone()];
        if let Some(old) = &self.previous_secret {
            if now_ms < self.previous_secret_until_ms {
                out.push(old.clone());
            }
        }
        out
    }
}

/// An endpoint to create.
#[derive(Debug, Clone)]
pub struct NewEndpoint {
    pub url: String,
    pub prefix: String,
    pub document: Option<String>,
    pub events: Vec<String>,
    pub secret: String,
}

/// A document that has something the endpoint has not acknowledged: it is new to the
/// endpoint (`cursor` is `None`), or its log or its versions went past the cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocWork {
    pub document_id: i64,
    pub document: String,
    pub last_seq: i64,
    pub last_version: i64,
    /// Acknowledged `(seq, version)`, `None` for a document the endpoint has not seen yet.
    pub cursor: Option<(i64, i64)>,
}

/// A message built for an endpoint and kept until a 2xx acknowledges it.
#[derive(Debug, Clone)]
pub struct Message {
    /// The `webhook-id`, the same on every attempt.
    pub id: String,
    pub endpoint_id: i64,
    pub document_id: i64,
    pub document: String,
    pub event: String,
    /// Where the endpoint's cursor for the document goes once acknowledged.
    pub upto_seq: i64,
    pub upto_version: i64,
    pub body: String,
    pub created_at: DateTime<Utc>,
    pub attempts: i64,
    /// Unix milliseconds before which it is not sent again.
    pub next_attempt_ms: i64,
}

/// One delivery attempt, as recorded.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Attempt {
    pub message_id: String,
    pub event: String,
    pub document: String,
    /// The attempt's number. The store numbers it from the stored message (the attempts
    /// recorded before it, plus one) in the transaction that records it, so a sender
    /// working from a stale copy of the message cannot repeat a number (an answer to a
    /// message gone already follows its last recorded attempt); the value given is not
    /// used.
    pub attempt: i64,
    /// `delivered`, `failed`, `gone` or `expired`.
    pub outcome: String,
    pub status: Option<i64>,
    pub duration_ms: i64,
    pub error: Option<String>,
    pub at: DateTime<Utc>,
}

/// Storage for webhooks. Every method is one transaction.
#[async_trait]
pub trait WebhookStore: Send + Sync {
    /// Stores an endpoint, with a cursor at the current position of every document it
    /// follows: it is sent what happens from now on, not the past.
    async fn create_endpoint(&self, new: &NewEndpoint) -> Result<Endpoint>;

    async fn endpoints(&self) -> Result<Vec<Endpoint>>;

    async fn endpoint(&self, id: i64) -> Result<Option<Endpoint>>;

    /// `false` if there was none (its cursor, messages and attempts go with it).
    async fn delete_endpoint(&self, id: i64) -> Result<bool>;

    async fn disable_endpoint(&self, id: i64, reason: &str) -> Result<()>;

    /// Replaces the secret; the old one keeps signing too until `keep_until_ms`. `None` if
    /// there is no such endpoint.
    async fn rotate_secret(
        &self,
        id: i64,
        secret: &str,
        keep_until_ms: i64,
    ) -> Result<Option<Endpoint>>;

    /// Takes or renews the endpoint's delivery lease until `until_ms` (Unix ms), if it is
    /// free, expired (before `now_ms`) or already `owner`'s. `false`: another instance
    /// delivers for it, or it is disabled or gone.
    async fn take_lease(&self, id: i64, owner: &str, now_ms: i64, until_ms: i64) -> Result<bool>;

    /// Lets the lease go (at shutdown), so another instance takes over at once.
    async fn release_lease(&self, id: i64, owner: &str) -> Result<()>;

    /// Documents the endpoint follows that have something it has not acknowledged, and no
    /// message waiting (one message per document at a time keeps each document in order).
    async fn work(&self, endpoint: &Endpoint, limit: i64) -> Result<Vec<DocWork>>;

    /// Documents the endpoint has a cursor for that no longer exist, with no message
    /// waiting: `(document_id, name)`.
    async fn deleted_documents(&self, endpoint_id: i64) -> Result<Vec<(i64, String)>>;

    /// Moves the cursor without a message (events the endpoint did not ask for).
    async fn set_cursor(
        &self,
        endpoint_id: i64,
        document_id: i64,
        document: &str,
        seq: i64,
        version: i64,
    ) -> Result<()>;

    /// Forgets a deleted document's cursor without a message (the endpoint did not ask
    /// for `document.deleted`).
    async fn drop_cursor(&self, endpoint_id: i64, document_id: i64) -> Result<()>;

    /// Stores a message before its first attempt.
    async fn enqueue(&self, message: &Message) -> Result<()>;

    /// The endpoint's messages not yet acknowledged, oldest first.
    async fn pending(&self, endpoint_id: i64) -> Result<Vec<Message>>;

    /// A 2xx: records the attempt, drops the message and moves the cursor to it (a
    /// `document.deleted` removes the cursor row), in one transaction.
    async fn delivered(&self, message: &Message, attempt: &Attempt) -> Result<()>;

    /// Records a failed attempt and when to try again.
    async fn failed(
        &self,
        message: &Message,
        attempt: &Attempt,
        next_attempt_ms: i64,
    ) -> Result<()>;

    /// Records the last attempt of a message given up on (410, or the retry window is
    /// over): drops the message and moves the cursor past it.
    async fn given_up(&self, message: &Message, attempt: &Attempt) -> Result<()>;

    /// The endpoint's latest attempts, newest first.
    async fn attempts(&self, endpoint_id: i64, limit: i64) -> Result<Vec<Attempt>>;
}
