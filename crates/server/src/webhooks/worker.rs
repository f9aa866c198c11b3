//! The deliverer of one endpoint, run by the instance holding its lease: reads what the
//! endpoint has not acknowledged (the documents' log positions and versions against its
//! cursor), builds messages, stores each before its first attempt, and sends them, at most
//! `--webhook-concurrency` at once and one per document at a time, retrying failures with
//! back-off. It reads the database only; nothing here runs inside a commit.
//!
//! The change feed (`Store::changes_after`, whose positions are the log's, in commit order)
//! says when a followed document changed; only then, while changes wait to be coalesced,
//! after an answer, and every [`FULL_SCAN_EVERY`] (new documents, versions and deletions are
//! not in the feed) does the worker compare the followed documents with their cursors.

use std::{collections::HashMap, sync::Arc, time::Duration};

use serde_json::json;
use tandem_persistence::{Attempt, ContentKind, DocWork, Endpoint, FeedFilter, Message, Store};
use tokio::{
    task::{self, JoinSet},
    time::Instant,
};

use super::{backoff, coalesce::Coalescer, deliver::Answer, events, Shared};
use crate::{
    metric_names::{WEBHOOK_DELIVERIES, WEBHOOK_SECONDS},
    render::Content,
};

/// Documents read per pass.
const WORK_LIMIT: i64 = 500;
/// Feed changes read per pass (past it, the next pass reads on).
const FEED_PAGE: usize = 256;
/// The longest time between two comparisons of every followed document with its cursor.
const FULL_SCAN_EVERY: Duration = Duration::from_secs(5);

/// Runs until the endpoint is deleted or disabled (or the task is aborted, which aborts
/// its sends too).
pub(super) async fn run(shared: Arc<Shared>, endpoint_id: i64) {
    let mut worker = Worker {
        coalescer: Coalescer::default(),
        in_flight: HashMap::new(),
        sends: JoinSet::new(),
        feed_pos: None,
        last_scan: None,
        rescan: true,
        shared,
    };
    loop {
        match worker.pass(endpoint_id).await {
            Ok(true) => {}
            Ok(false) => break,
            Err(err) => tracing::warn!(endpoint = endpoint_id, error = %err, "webhook pass failed"),
        }
        let poll = worker.shared.settings.poll;
        let answered = tokio::select! {
            _ = tokio::time::sleep(poll) => None,
            Some(done) = worker.sends.join_next_with_id() => Some(done),
        };
        let Some(mut done) = answered else { continue };
        loop {
            match done {
                Ok((task, (message, answer))) => {
                    worker.in_flight.remove(&task);
                    if let Err(err) = worker.settle(message, answer).await {
                        tracing::warn!(endpoint = endpoint_id, error = %err, "recording a webhook attempt failed");
                    }
                }
                // A send that panicked: its message is still stored and goes out again.
                Err(err) => {
                    worker.in_flight.remove(&err.id());
                    tracing::warn!(endpoint = endpoint_id, error = %err, "a webhook send failed");
                }
            }
            // Several may have finished together.
            match worker.sends.try_join_next_with_id() {
                Some(next) => done = next,
                None => break,
            }
        }
    }
    tracing::info!(endpoint = endpoint_id, "webhook deliverer stopped");
}

struct Worker {
    coalescer: Coalescer,
    /// Messages being sent now, by the task sending each.
    in_flight: HashMap<task::Id, String>,
    /// The sends under way, owned by the worker: aborting the worker aborts them, so a
    /// worker started later for the endpoint (its lease lost and taken again) never sends
    /// a message while an earlier send of it is still in flight.
    sends: JoinSet<(Message, Answer)>,
    /// Where this worker has read the change feed up to (from the feed's head when it
    /// started: what committed before, the first comparison finds).
    feed_pos: Option<i64>,
    last_scan: Option<Instant>,
    /// An answer came in (the document it held back may have changed meanwhile), or the
    /// last comparison found work.
    rescan: bool,
    shared: Arc<Shared>,
}

impl Worker {
    fn store(&self) -> &dyn Store {
        self.shared.store.as_ref()
    }

    /// One look at the database. `false`: the endpoint is gone or disabled.
    async fn pass(&mut self, id: i64) -> anyhow::Result<bool> {
        let store = self.shared.store.clone();
        let hooks = store.webhooks().expect("checked at start");
        let Some(endpoint) = hooks.endpoint(id).await? else {
            return Ok(false);
        };
        if !endpoint.enabled() {
            return Ok(false);
        }
        let scan = self.scan_needed(&endpoint).await?;
        let docs = match scan {
            true => hooks.work(&endpoint, WORK_LIMIT).await?,
            false => Vec::new(),
        };
        // A document planned now may need a next step (its first change after its
        // creation, say) that the feed will not announce again: look once more.
        self.rescan |= !docs.is_empty();
        for doc in docs {
            self.plan(&endpoint, doc).await?;
        }
        let deleted = match scan {
            true => hooks.deleted_documents(id).await?,
            false => Vec::new(),
        };
        for (doc_id, name) in deleted {
            self.coalescer.forget(doc_id);
            if endpoint.wants(events::DELETED) {
                let body = events::body(events::DELETED, json!({ "document": name }));
                self.enqueue(&endpoint, doc_id, &name, events::DELETED, (0, 0), body)
                    .await?;
            } else {
                hooks.drop_cursor(id, doc_id).await?;
            }
        }
        let now_ms = chrono::Utc::now().timestamp_millis();
        for message in hooks.pending(id).await? {
            if self.in_flight.len() >= self.shared.settings.concurrency {
                break;
            }
            if message.next_attempt_ms > now_ms || self.in_flight.values().any(|m| *m == message.id)
            {
                continue;
            }
            let message_id = message.id.clone();
            let (shared, url, secrets) = (
                self.shared.clone(),
                endpoint.url.clone(),
                endpoint.signing_secrets(now_ms),
            );
            let send = self.sends.spawn(async move {
                let answer = shared
                    .sender
                    .send(&url, &secrets, &message.id, &message.body)
                    .await;
                (message, answer)
            });
            self.in_flight.insert(send.id(), message_id);
        }
        self.coalescer
            .prune(self.shared.settings.rules.debounce, Instant::now());
        Ok(true)
    }

    /// Whether to compare the followed documents with their cursors in this pass.
    async fn scan_needed(&mut self, endpoint: &Endpoint) -> anyhow::Result<bool> {
        let store = self.shared.store.clone();
        let Some(after) = self.feed_pos else {
            // The head before the first comparison: what commits later, the feed shows.
            self.feed_pos = Some(store.feed_head().await?);
            self.last_scan = Some(Instant::now());
            return Ok(true);
        };
        let filter = match (&endpoint.document, endpoint.prefix.as_str()) {
            (Some(doc), _) => FeedFilter::Doc(doc.clone()),
            (None, "") => FeedFilter::All,
            (None, prefix) => FeedFilter::Prefix(prefix.to_string()),
        };
        let page = store.changes_after(after, &filter, FEED_PAGE).await?;
        self.feed_pos = Some(page.next);
        let stale = self
            .last_scan
            .is_none_or(|at| at.elapsed() >= FULL_SCAN_EVERY);
        let scan = stale || self.rescan || !page.items.is_empty() || self.coalescer.waiting();
        if scan {
            self.last_scan = Some(Instant::now());
            self.rescan = false;
        }
        Ok(scan)
    }

    /// Decides what a document that has something unacknowledged needs next: one message,
    /// or only a cursor move for events the endpoint does not want.
    async fn plan(&mut self, endpoint: &Endpoint, doc: DocWork) -> anyhow::Result<()> {
        let store = self.shared.store.clone();
        let hooks = store.webhooks().expect("checked at start");
        let (id, name) = (doc.document_id, doc.document.as_str());
        let Some((seq, version)) = doc.cursor else {
            if endpoint.wants(events::CREATED) {
                let body = events::body(events::CREATED, json!({ "document": name }));
                self.enqueue(endpoint, id, name, events::CREATED, (0, 0), body)
                    .await?;
            } else {
                hooks.set_cursor(endpoint.id, id, name, 0, 0).await?;
            }
            return Ok(());
        };
        if doc.last_seq > seq {
            if !endpoint.wants(events::CHANGED) {
                hooks
                    .set_cursor(endpoint.id, id, name, doc.last_seq, version)
                    .await?;
                return Ok(());
            }
            let now = Instant::now();
            self.coalescer.observe(id, doc.last_seq, now);
            if !self.coalescer.due(id, self.shared.settings.rules, now) {
                return Ok(());
            }
            let Some(stored) = self.store().load(name).await? else {
                return Ok(()); // deleted meanwhile: the next pass says so
            };
            let ydoc = crate::text::new_doc();
            let _ = crate::text::replay(&ydoc, &stored);
            // A rich document's text is its rendered plain text, as in the feed.
            let content = Content::from_doc(&ydoc, &self.shared.settings.fields);
            let rich = content.kind() == Some(ContentKind::Rich);
            let authors = self
                .store()
                .change_authors(id, seq, stored.last_seq)
                .await?;
            let body = events::changed(
                name,
                (seq, stored.last_seq),
                &authors,
                (&content.plain_text(), rich),
                self.shared.settings.max_body_bytes,
            );
            self.enqueue(
                endpoint,
                id,
                name,
                events::CHANGED,
                (stored.last_seq, version),
                body,
            )
            .await?;
            self.coalescer.sent(id, now);
            return Ok(());
        }
        if doc.last_version > version {
            if !endpoint.wants(events::VERSION) {
                hooks
                    .set_cursor(endpoint.id, id, name, seq, doc.last_version)
                    .await?;
                return Ok(());
            }
            let versions = self.store().list_versions(name).await?;
            let Some(next) = versions.iter().rev().find(|v| v.version > version) else {
                return Ok(());
            };
            let body = events::body(
                events::VERSION,
                json!({
                    "document": name,
                    "version": next.version,
                    "kind": next.kind.as_str(),
                    "label": next.label,
                    "authors": next.authors,
                    "created_at": next.created_at,
                }),
            );
            self.enqueue(
                endpoint,
                id,
                name,
                events::VERSION,
                (seq, next.version),
                body,
            )
            .await?;
        }
        Ok(())
    }

    async fn enqueue(
        &self,
        endpoint: &Endpoint,
        document_id: i64,
        document: &str,
        event: &str,
        (upto_seq, upto_version): (i64, i64),
        body: String,
    ) -> anyhow::Result<()> {
        let message = Message {
            id: super::message_id(),
            endpoint_id: endpoint.id,
            document_id,
            document: document.to_string(),
            event: event.to_string(),
            upto_seq,
            upto_version,
            body,
            created_at: chrono::Utc::now(),
            attempts: 0,
            next_attempt_ms: 0,
        };
        let store = self.shared.store.clone();
        let hooks = store.webhooks().expect("checked at start");
        hooks.enqueue(&message).await?;
        Ok(())
    }

    /// Records an answer: acknowledged, retried later, given up, or the endpoint disabled.
    async fn settle(&mut self, message: Message, answer: Answer) -> anyhow::Result<()> {
        self.rescan = true;
        let store = self.shared.store.clone();
        let hooks = store.webhooks().expect("checked at start");
        // For the back-off and the log; the store numbers the recorded attempt itself.
        let number = message.attempts + 1;
        let age = (chrono::Utc::now() - message.created_at)
            .to_std()
            .unwrap_or_default();
        let outcome = if answer.delivered() {
            "delivered"
        } else if answer.gone() {
            "gone"
        } else if !backoff::within_window(age, self.shared.settings.retry_for) {
            "expired"
        } else {
            "failed"
        };
        metrics::counter!(WEBHOOK_DELIVERIES, "outcome" => outcome).increment(1);
        metrics::histogram!(WEBHOOK_SECONDS).record(answer.took.as_secs_f64());
        let attempt = Attempt {
            message_id: message.id.clone(),
            event: message.event.clone(),
            document: message.document.clone(),
            attempt: number,
            outcome: outcome.to_string(),
            status: answer.status.map(i64::from),
            duration_ms: answer.took.as_millis() as i64,
            error: answer.error.clone(),
            at: chrono::Utc::now(),
        };
        match outcome {
            "delivered" => hooks.delivered(&message, &attempt).await?,
            "expired" => {
                tracing::warn!(endpoint = message.endpoint_id, message = %message.id, "webhook message given up after the retry window");
                hooks.given_up(&message, &attempt).await?
            }
            "gone" => {
                hooks.failed(&message, &attempt, i64::MAX).await?;
                tracing::warn!(
                    endpoint = message.endpoint_id,
                    "webhook receiver answered 410 Gone: endpoint disabled"
                );
                hooks
                    .disable_endpoint(message.endpoint_id, "the receiver answered 410 Gone")
                    .await?;
            }
            _ => {
                let wait = backoff::delay(number as u32, rand::random::<f64>());
                let next = chrono::Utc::now().timestamp_millis() + wait.as_millis() as i64;
                tracing::info!(endpoint = message.endpoint_id, message = %message.id, attempt = number, error = ?answer.error, retry_in = ?wait, "webhook delivery failed");
                hooks.failed(&message, &attempt, next).await?
            }
        }
        Ok(())
    }
}
