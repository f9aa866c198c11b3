//! Webhooks (docs/webhooks.md): endpoints stored in the database receive signed messages
//! about documents (`document.changed`, coalesced; `document.created`, `document.deleted`,
//! `version.created`), at least once across crashes.
//!
//! Each instance runs one supervisor that takes (or renews) a lease on every enabled
//! endpoint and runs a [`worker`] for each endpoint it holds: in cluster mode exactly one
//! instance delivers for an endpoint, and another takes over from the stored cursor when
//! its lease runs out. Deliveries read the log; they add nothing to a commit.

mod backoff;
pub(crate) mod cli;
mod coalesce;
mod deliver;
pub(crate) mod events;
mod signing;
mod ssrf;
mod worker;

use std::{collections::HashMap, sync::Arc, time::Duration};

use rand::RngCore;
use tandem_persistence::Store;
use tokio::{sync::Notify, task::JoinHandle};

pub(crate) use deliver::Answer;
pub(crate) use signing::{generate_secret, secret_key};
pub(crate) use ssrf::UrlError;

use crate::{render::Fields, webhook_config::WebhookArgs};

/// How long a lease lasts without renewal: how soon another instance takes over from one
/// that died.
const LEASE: Duration = Duration::from_secs(10);
/// How often the supervisor renews its leases and looks for new endpoints.
const RENEW: Duration = Duration::from_secs(3);

pub(crate) struct Settings {
    rules: coalesce::Rules,
    retry_for: Duration,
    concurrency: usize,
    max_body_bytes: usize,
    poll: Duration,
    /// Where rich text may be (`--rich-text-fields`).
    fields: Fields,
}

/// What the supervisor and its workers share.
pub(crate) struct Shared {
    store: Arc<dyn Store>,
    sender: deliver::Sender,
    settings: Settings,
}

/// The webhook service of this instance.
pub(crate) struct Webhooks {
    shared: Arc<Shared>,
    /// This instance's name on the leases.
    owner: String,
    /// Wakes the supervisor when an endpoint is added.
    wake: Arc<Notify>,
    supervisor: std::sync::Mutex<Option<JoinHandle<()>>>,
}

impl Webhooks {
    /// Starts delivering; `None` when the store keeps no webhooks.
    pub(crate) fn start(
        store: Arc<dyn Store>,
        args: &WebhookArgs,
        owner: String,
        fields: Fields,
    ) -> anyhow::Result<Option<Arc<Self>>> {
        if store.webhooks().is_none() {
            return Ok(None);
        }
        let policy = ssrf::AddressPolicy::new(args.webhook_allow_networks.clone());
        let sender = deliver::Sender::new(policy, Duration::from_secs(args.webhook_timeout_secs))?;
        let shared = Arc::new(Shared {
            store,
            sender,
            settings: Settings {
                rules: coalesce::Rules {
                    debounce: Duration::from_millis(args.webhook_debounce_ms),
                    max_wait: Duration::from_millis(args.webhook_max_wait_ms),
                },
                retry_for: Duration::from_secs(args.webhook_retry_secs),
                concurrency: args.webhook_concurrency as usize,
                max_body_bytes: args.webhook_max_body_bytes,
                poll: Duration::from_millis(args.webhook_poll_ms.max(10)),
                fields,
            },
        });
        let wake = Arc::new(Notify::new());
        let task = tokio::spawn(supervise(shared.clone(), owner.clone(), wake.clone()));
        Ok(Some(Arc::new(Webhooks {
            shared,
            owner,
            wake,
            supervisor: std::sync::Mutex::new(Some(task)),
        })))
    }

    pub(crate) fn store(&self) -> &dyn tandem_persistence::WebhookStore {
        self.shared.store.webhooks().expect("checked at start")
    }

    /// Checks a new endpoint's URL (form and the addresses it resolves to now).
    pub(crate) async fn check_url(&self, url: &str) -> Result<(), UrlError> {
        self.shared.sender.policy().check_url(url).await.map(|_| ())
    }

    /// An endpoint was added: take its lease now rather than at the next renewal.
    pub(crate) fn endpoint_added(&self) {
        self.wake.notify_one();
    }

    /// Sends one `webhook.test` message now, outside the queue, and says how it went.
    pub(crate) async fn send_test(
        &self,
        url: &str,
        secrets: &[String],
        data: serde_json::Value,
    ) -> (String, Answer) {
        let id = message_id();
        let body = events::body(events::TEST, data);
        let answer = self.shared.sender.send(url, secrets, &id, &body).await;
        (id, answer)
    }

    /// Stops delivering and lets this instance's leases go, so another instance takes
    /// over at once (what was not acknowledged is sent again from the database).
    pub(crate) async fn stop(&self) {
        let task = self.supervisor.lock().expect("not poisoned").take();
        if let Some(task) = task {
            task.abort();
            let _ = task.await;
        }
        if let Ok(endpoints) = self.store().endpoints().await {
            for e in endpoints {
                let _ = self.store().release_lease(e.id, &self.owner).await;
            }
        }
    }
}

/// A new `webhook-id`: `msg_` and 128 random bits.
pub(crate) fn message_id() -> String {
    let mut bytes = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("msg_{hex}")
}

/// Keeps one worker per endpoint whose lease this instance holds.
async fn supervise(shared: Arc<Shared>, owner: String, wake: Arc<Notify>) {
    let mut workers: HashMap<i64, JoinHandle<()>> = HashMap::new();
    // Workers are aborted with the supervisor.
    struct AbortAll<'a>(&'a mut HashMap<i64, JoinHandle<()>>);
    impl Drop for AbortAll<'_> {
        fn drop(&mut self) {
            for (_, task) in self.0.drain() {
                task.abort();
            }
        }
    }
    let guard = AbortAll(&mut workers);
    loop {
        if let Err(err) = renew(&shared, &owner, guard.0).await {
            tracing::warn!(error = %err, "webhook leases could not be renewed");
        }
        tokio::select! {
            _ = tokio::time::sleep(RENEW) => {}
            _ = wake.notified() => {}
        }
    }
}

async fn renew(
    shared: &Arc<Shared>,
    owner: &str,
    workers: &mut HashMap<i64, JoinHandle<()>>,
) -> anyhow::Result<()> {
    let hooks = shared.store.webhooks().expect("checked at start");
    let now = chrono::Utc::now().timestamp_millis();
    let mut held = Vec::new();
    for endpoint in hooks.endpoints().await? {
        if endpoint.enabled()
            && hooks
                .take_lease(endpoint.id, owner, now, now + LEASE.as_millis() as i64)
                .await?
        {
            held.push(endpoint.id);
        }
    }
    workers.retain(|id, task| {
        let keep = held.contains(id) && !task.is_finished();
        if !keep {
            task.abort();
        }
        keep
    });
    for id in held {
        workers.entry(id).or_insert_with(|| {
            tracing::info!(endpoint = id, %owner, "delivering webhooks for endpoint");
            tokio::spawn(worker::run(shared.clone(), id))
        });
    }
    Ok(())
}
