//! Cluster mode: several instances on one PostgreSQL database, with NATS between them.
//!
//! PostgreSQL stays the only durable log and the only truth; every instance commits before
//! it relays, as a single instance does. NATS carries hints: each commit (so other
//! instances can relay it at once), awareness, "deleted", and heartbeats. A room tracks the
//! log sequence it has applied (`room/cluster_copy.rs`); a commit that does not follow it, a
//! lost message or a reconnect makes the room read what it missed from the database, and a
//! periodic check against the database catches whatever no message announced. So a lost,
//! repeated or reordered message costs latency, never data, and with NATS down instances
//! keep working and converge through the database.
//!
//! This module is the bus only: connecting, subjects, publishing, receiving, and the
//! heartbeats that tell which instances are alive. What a room does with a message is the
//! room's business; `app.rs` wires the periodic check and instance deaths to the rooms.

mod members;
mod message;
mod seal;
mod settings;

use std::{
    fmt::Write as _,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
};

use anyhow::Context;
use bytes::Bytes;
use futures::StreamExt;
use tokio::sync::{mpsc, Notify};

pub(crate) use members::Members;
pub(crate) use message::{Body, BusMessage, MAX_INLINE_BYTES};
pub(crate) use settings::ClusterSettings;

use seal::{Rejected, Seal};

use crate::metric_names as m;

/// Messages waiting to be handed to the NATS client. Past this they are dropped (and
/// counted): the database repairs what a dropped hint would have said.
const OUTBOX: usize = 8192;

pub(crate) struct Cluster {
    settings: ClusterSettings,
    client: async_nats::Client,
    outbox: mpsc::Sender<(String, Bytes)>,
    connected: Arc<AtomicBool>,
    /// Woken on every reconnect: what was published meanwhile may be lost, so rooms check
    /// the database at once instead of at the next periodic check.
    reconnected: Arc<Notify>,
    /// Counts received messages, to drop every n-th one under `drop_percent`.
    received: AtomicU64,
    /// Signs what this instance sends and checks what it receives.
    seal: Seal,
}

/// Longest a room's load waits for the server to confirm its subscription (`settle`).
const PROBE_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// Frames held per subscription before the instance reads them.
const SUBSCRIPTION_CAPACITY: usize = 1024;

impl Cluster {
    /// Connects in the background: an instance starts (and serves, converging through the
    /// database) while NATS is unreachable.
    pub(crate) async fn connect(settings: ClusterSettings) -> anyhow::Result<Arc<Cluster>> {
        let connected = Arc::new(AtomicBool::new(false));
        let reconnected = Arc::new(Notify::new());
        let (flag, wake) = (connected.clone(), reconnected.clone());
        let ever = Arc::new(AtomicBool::new(false));
        let client = settings
            .auth
            .apply(async_nats::ConnectOptions::new())
            .name(format!("tandem {}", settings.instance_id))
            .no_echo()
            // Frames wait here until the instance has checked them; async-nats's default
            // (65,536 per subscription, one subscription per loaded document) let a flood of
            // forged frames hold 833 MiB. Past this a frame is dropped, which the bus allows:
            // the next frame's `prev`, or the periodic check, reads what was missed from
            // PostgreSQL.
            .subscription_capacity(SUBSCRIPTION_CAPACITY)
            .retry_on_initial_connect()
            .max_reconnects(None)
            .event_callback(move |event| {
                let (flag, wake, ever) = (flag.clone(), wake.clone(), ever.clone());
                async move {
                    match event {
                        async_nats::Event::Connected => {
                            flag.store(true, Ordering::SeqCst);
                            metrics::gauge!(m::BUS_CONNECTED).set(1.0);
                            if ever.swap(true, Ordering::SeqCst) {
                                metrics::counter!(m::BUS_RECONNECTS).increment(1);
                                tracing::info!("cluster bus reconnected");
                            } else {
                                tracing::info!("cluster bus connected");
                            }
                            wake.notify_waiters();
                        }
                        async_nats::Event::Disconnected => {
                            flag.store(false, Ordering::SeqCst);
                            metrics::gauge!(m::BUS_CONNECTED).set(0.0);
                            tracing::warn!("cluster bus disconnected; converging through the database until it is back");
                        }
                        other => tracing::debug!(event = %other, "cluster bus event"),
                    }
                }
            })
            .connect(settings.nats_url.as_str())
            .await
            .with_context(|| {
                format!(
                    "connecting to NATS at {}",
                    without_credentials(&settings.nats_url)
                )
            })?;
        let (outbox, rx) = mpsc::channel(OUTBOX);
        tokio::spawn(send_loop(client.clone(), rx));
        let seal = Seal::new(&settings.key.0);
        Ok(Arc::new(Cluster {
            settings,
            seal,
            client,
            outbox,
            connected,
            reconnected,
            received: AtomicU64::new(0),
        }))
    }

    pub(crate) fn settings(&self) -> &ClusterSettings {
        &self.settings
    }

    /// `connected` or `disconnected`, for `/readyz`.
    pub(crate) fn state(&self) -> &'static str {
        if self.connected.load(Ordering::SeqCst) {
            "connected"
        } else {
            "disconnected"
        }
    }

    /// Resolves at the next reconnect to NATS.
    pub(crate) async fn reconnected(&self) {
        self.reconnected.notified().await
    }

    /// The subject of one document: its name hex-encoded, so any name (dots, spaces,
    /// wildcards, non-ASCII) makes one valid token.
    fn doc_subject(&self, doc: &str) -> String {
        let mut subject = format!("{}.doc.", self.settings.subject_prefix);
        for b in doc.as_bytes() {
            let _ = write!(subject, "{b:02x}");
        }
        subject
    }

    fn heartbeat_subject(&self) -> String {
        format!("{}.heartbeat", self.settings.subject_prefix)
    }

    /// Tells the other instances holding `doc`. Never waits: when the outbox is full the
    /// message is dropped, which costs the others a catch-up read, not data.
    pub(crate) fn publish(&self, doc: &str, body: Body) {
        self.send(self.doc_subject(doc), body);
    }

    fn send(&self, subject: String, body: Body) {
        let message = BusMessage::new(&self.settings.instance_id, body).encode();
        let payload = self.seal.seal(&subject, &message);
        let outcome = match self.outbox.try_send((subject, payload)) {
            Ok(()) => "sent",
            Err(_) => "dropped",
        };
        metrics::counter!(m::BUS_PUBLISHED, "outcome" => outcome).increment(1);
    }

    /// Messages about `doc` from other instances, until the returned receiver is dropped.
    pub(crate) async fn subscribe(
        self: &Arc<Self>,
        doc: &str,
    ) -> anyhow::Result<mpsc::UnboundedReceiver<BusMessage>> {
        let subject = self.doc_subject(doc);
        let mut sub = self.client.subscribe(subject.clone()).await?;
        self.settle().await;
        let (tx, rx) = mpsc::unbounded_channel();
        let this = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tx.closed() => break,
                    msg = sub.next() => {
                        let Some(msg) = msg else { break };
                        if let Some(msg) = this.receive(&subject, &msg.payload) {
                            if tx.send(msg).is_err() {
                                break;
                            }
                        }
                    }
                }
            }
            let _ = sub.unsubscribe().await;
        });
        Ok(rx)
    }

    /// Returns once the NATS server holds this connection's subscriptions so far.
    /// `subscribe` returns when the request is queued, not when the server has it, and a
    /// commit another instance announced in between would miss the room that just loaded
    /// (and wait for the next message's `prev` or the periodic check). The server handles
    /// one connection's commands in order, so the answer to a request sent after the
    /// subscription (the server's own "no responders": nobody listens on the probe subject,
    /// and this connection does not hear its own messages) comes only once the subscription
    /// is in place. Bounded, and skipped while NATS is away: the room loads anyway, and the
    /// periodic check covers it.
    async fn settle(&self) {
        if !self.connected.load(Ordering::Relaxed) {
            return;
        }
        let subject = format!("{}.probe", self.settings.subject_prefix);
        let _ = tokio::time::timeout(PROBE_WAIT, self.client.request(subject, Bytes::new())).await;
    }

    /// Checks and decodes a frame received on `subject`; `None` for one to ignore: one
    /// `verify` refuses, or one dropped on purpose by `--test-bus-drop-percent`.
    fn receive(&self, subject: &str, payload: &Bytes) -> Option<BusMessage> {
        metrics::counter!(m::BUS_RECEIVED).increment(1);
        let msg = self.verify(subject, payload)?;
        let n = self.received.fetch_add(1, Ordering::Relaxed);
        let pct = u64::from(self.settings.drop_percent.min(100));
        // Deterministic and evenly spread: `pct` of every 100 messages are dropped.
        if (n + 1) * pct / 100 > n * pct / 100 {
            metrics::counter!(m::BUS_DROPPED).increment(1);
            return None;
        }
        metrics::histogram!(m::BUS_LAG_SECONDS).record(msg.age_secs());
        Some(msg)
    }

    /// A frame that passed every check and is not our own, decoded. One that fails the
    /// signature, is stale or replayed, or does not parse is counted in
    /// `tandem_bus_frames_rejected_total` by reason.
    fn verify(&self, subject: &str, payload: &Bytes) -> Option<BusMessage> {
        let msg = self
            .seal
            .open(subject, payload)
            .and_then(|inner| BusMessage::decode(&inner).map_err(|_| Rejected::Malformed));
        let msg = match msg {
            Ok(msg) => msg,
            Err(reason) => {
                metrics::counter!(m::BUS_REJECTED, "reason" => reason.as_str()).increment(1);
                // One line per call site and second at most (log_limit.rs): a flood of
                // forged frames must not become a flood of log lines.
                tracing::warn!(
                    subject,
                    reason = reason.as_str(),
                    bytes = payload.len(),
                    "cluster bus frame rejected (tandem_bus_frames_rejected_total)"
                );
                return None;
            }
        };
        (msg.origin != self.settings.instance_id).then_some(msg)
    }
}

/// A NATS URL without the `user:password@` it may carry, for error messages.
fn without_credentials(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://***{}", &url[..scheme], &url[at..])
        }
        _ => url.to_string(),
    }
}

/// Hands messages to the NATS client in order. The client buffers while disconnected and
/// flushes on reconnect; what it cannot take is lost, as a hint may be.
async fn send_loop(client: async_nats::Client, mut rx: mpsc::Receiver<(String, Bytes)>) {
    while let Some((subject, payload)) = rx.recv().await {
        if let Err(err) = client.publish(subject, payload).await {
            tracing::debug!(error = %err, "cluster bus publish failed");
        }
    }
}
