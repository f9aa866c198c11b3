//! Which instances are alive: each publishes a heartbeat, and one that misses three is
//! presumed dead, so the others remove the awareness (cursors, names) of its clients
//! instead of waiting for the 30-second expiry.

use std::{collections::HashMap, sync::Arc, time::Duration};

use futures::StreamExt;
use tokio::time::Instant;

use super::{Body, BusMessage, Cluster};

/// Heartbeats an instance may miss before it is presumed dead.
const MISSED: u32 = 3;

/// The heartbeat tasks; `on_gone` is called with the id of each instance presumed dead.
pub(crate) struct Members;

impl Members {
    pub(crate) fn spawn(cluster: Arc<Cluster>, on_gone: impl Fn(String) + Send + 'static) {
        let every = cluster.settings().heartbeat_every;
        let beat = cluster.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                beat.send(beat.heartbeat_subject(), Body::Heartbeat);
            }
        });
        tokio::spawn(watch(cluster, every, on_gone));
    }
}

async fn watch(cluster: Arc<Cluster>, every: Duration, on_gone: impl Fn(String)) {
    let mut seen: HashMap<String, Instant> = HashMap::new();
    let mut tick = tokio::time::interval(every);
    loop {
        // (Re)subscribe; the client resubscribes by itself across reconnects, so this
        // only loops if the subscription itself ends.
        let subject = cluster.heartbeat_subject();
        let mut sub = match cluster.client.subscribe(subject.clone()).await {
            Ok(sub) => sub,
            Err(err) => {
                tracing::warn!(error = %err, "subscribing to cluster heartbeats failed");
                tokio::time::sleep(every).await;
                continue;
            }
        };
        loop {
            tokio::select! {
                msg = sub.next() => {
                    let Some(msg) = msg else { break };
                    // Only signed heartbeats of this cluster count: a forged one would keep
                    // a dead instance's presence alive, or announce instances that are not.
                    if let Some(BusMessage { origin, body: Body::Heartbeat, .. }) =
                        cluster.verify(&subject, &msg.payload)
                    {
                        if seen.insert(origin.clone(), Instant::now()).is_none() {
                            tracing::info!(instance = %origin, "cluster instance joined");
                        }
                    }
                }
                _ = tick.tick() => {
                    let limit = every * MISSED;
                    let now = Instant::now();
                    let gone: Vec<String> = seen
                        .iter()
                        .filter(|(_, at)| now.duration_since(**at) > limit)
                        .map(|(id, _)| id.clone())
                        .collect();
                    for id in gone {
                        seen.remove(&id);
                        tracing::warn!(instance = %id, "cluster instance stopped sending heartbeats");
                        on_gone(id);
                    }
                }
            }
        }
    }
}
