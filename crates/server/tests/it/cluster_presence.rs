//! Presence across instances: a client on one instance cannot change, pin or remove the
//! awareness state of a client on another, however high the clock it claims.

use std::collections::HashMap;

use yrs::{
    block::ClientID,
    sync::{awareness::AwarenessUpdateEntry, AwarenessUpdate, Message},
};

use crate::kit::{
    cluster::{Cluster, CLUSTER_WAIT},
    Client, Peer,
};

/// One raw awareness entry, as an attacker would craft it.
fn entry(client: u64, clock: u32, json: &str) -> Message {
    Message::Awareness(AwarenessUpdate {
        clients: HashMap::from([(
            ClientID::new(client),
            AwarenessUpdateEntry {
                clock,
                json: json.into(),
            },
        )]),
    })
}

fn name_of(c: &Client, id: u64) -> Option<String> {
    let json = c.peers.get(&id)?.as_ref()?;
    let v: serde_json::Value = serde_json::from_str(json).ok()?;
    Some(v["user"]["name"].as_str()?.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_on_one_instance_cannot_touch_presence_owned_on_another() {
    let cluster = Cluster::start("presown", 3, &["--awareness-timeout-secs", "600"]).await;
    let doc = "owned";
    let mut ann = Client::connect(&cluster.ws(0, doc)).await;
    let mut eve = Client::connect(&cluster.ws(1, doc)).await;
    // Watchers on every instance: Ann's own, Eve's, and a third.
    let mut watchers = vec![
        Client::connect(&cluster.ws(0, doc)).await,
        Client::connect(&cluster.ws(1, doc)).await,
        Client::connect(&cluster.ws(2, doc)).await,
    ];
    let victim = ann.client_id();
    ann.set_awareness(r#"{"user":{"name":"ann"}}"#).await;
    for w in &mut watchers {
        w.pump_until(
            |c| name_of(c, victim).as_deref() == Some("ann"),
            CLUSTER_WAIT,
        )
        .await;
    }
    eve.pump_until(
        |c| name_of(c, victim).as_deref() == Some("ann"),
        CLUSTER_WAIT,
    )
    .await;

    // Eve overwrites Ann's state with a clock at the top, removes it, then shows her own
    // presence: once that marker is seen everywhere, what she sent before was handled.
    eve.send(entry(victim, u32::MAX, r#"{"user":{"name":"hacked"}}"#))
        .await;
    eve.send(entry(victim, u32::MAX, "null")).await;
    eve.set_awareness(r#"{"user":{"name":"eve"}}"#).await;
    let marker = eve.client_id();
    for (k, w) in watchers.iter_mut().enumerate() {
        w.pump_until(
            |c| name_of(c, marker).as_deref() == Some("eve"),
            CLUSTER_WAIT,
        )
        .await;
        assert_eq!(
            name_of(w, victim).as_deref(),
            Some("ann"),
            "watcher on instance {k}: Ann's state is {:?}",
            w.peers.get(&victim)
        );
    }

    // Not pinned: Ann's next change reaches every instance.
    ann.set_awareness(r#"{"user":{"name":"ann"},"cursor":5}"#)
        .await;
    for w in &mut watchers {
        w.pump_until(
            |c| matches!(c.peers.get(&victim), Some(Some(s)) if s.contains("\"cursor\":5")),
            CLUSTER_WAIT,
        )
        .await;
    }
}
