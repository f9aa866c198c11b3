//! Commit before relay, across instances: while one instance's commit is held in
//! PostgreSQL (the test holds the document's row lock, which every append takes), nothing
//! of that update is published on NATS or relayed by another instance; once the commit
//! returns it arrives everywhere.

use std::time::Duration;

use futures::StreamExt;
use sqlx::Connection;

use crate::kit::{
    bus::{attacker, now_ms},
    cluster::{Cluster, CLUSTER_WAIT},
    Client, Peer,
};

/// Kind byte of a bus message (cluster/message.rs): 1 commit, 2 commit by reference,
/// 6 heartbeat.
const COMMIT: u8 = 1;
const COMMIT_REF: u8 = 2;
const HEARTBEAT: u8 = 6;

/// A received bus frame's kind, origin and send time (its layout: version, kind,
/// origin length, origin, `sent_at_ms` little-endian).
fn header(payload: &[u8]) -> (u8, String, u64) {
    let origin_len = payload[2] as usize;
    let origin = String::from_utf8_lossy(&payload[3..3 + origin_len]).into_owned();
    let at = 3 + origin_len;
    let sent = u64::from_le_bytes(payload[at..at + 8].try_into().unwrap());
    (payload[1], origin, sent)
}

async fn wait_text(c: &mut Client, part: &str) {
    let part = part.to_string();
    c.pump_until(move |c| c.text().contains(&part), CLUSTER_WAIT)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_commit_is_published_and_relayed_nowhere_until_it_returns() {
    let cluster = Cluster::start("hold", 3, &["--cluster-heartbeat-ms", "100"]).await;
    let doc = "held";
    let mut writer = Client::connect(&cluster.ws(0, doc)).await;
    let mut watchers = vec![
        Client::connect(&cluster.ws(1, doc)).await,
        Client::connect(&cluster.ws(2, doc)).await,
    ];
    writer.append("seed ").await;
    for w in &mut watchers {
        wait_text(w, "seed").await;
    }
    // Everything the cluster publishes, in one subscription: NATS delivers what one
    // connection published in the order it was published.
    let nats = attacker(&cluster).await;
    let mut bus = nats
        .subscribe(format!("{}.>", cluster.prefix))
        .await
        .unwrap();
    nats.flush().await.unwrap();

    let mut holder = sqlx::PgConnection::connect(&cluster.db.url).await.unwrap();
    sqlx::query("BEGIN").execute(&mut holder).await.unwrap();
    sqlx::query("SELECT id FROM documents WHERE name = $1 FOR UPDATE")
        .bind(doc)
        .fetch_one(&mut holder)
        .await
        .unwrap();
    writer.append("HELD").await;
    let mut watch = sqlx::PgConnection::connect(&cluster.db.url).await.unwrap();
    // Instance 0's append now waits for the row lock: its commit is in flight.
    let deadline = tokio::time::Instant::now() + CLUSTER_WAIT;
    loop {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_one(&mut watch)
        .await
        .unwrap();
        if waiting > 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "instance 0's append never waited for the row lock"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let held_since = now_ms();

    // Read the bus up to a heartbeat instance 0 made after its commit began waiting:
    // anything it published about the update before that has been delivered by then.
    let origin = cluster.instance(0).id.clone();
    let deadline = tokio::time::Instant::now() + CLUSTER_WAIT;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let msg = tokio::time::timeout(left, bus.next())
            .await
            .expect("no heartbeat from instance 0")
            .expect("subscription open");
        let (kind, from, sent) = header(&msg.payload);
        assert!(
            kind != COMMIT && kind != COMMIT_REF,
            "{from} published a commit while instance 0's commit was held"
        );
        if kind == HEARTBEAT && from == origin && sent > held_since {
            break;
        }
    }
    for k in 1..3 {
        let text = cluster.text(k, doc).await;
        assert!(
            !text.contains("HELD"),
            "instance {k} has the held update: {text}"
        );
    }
    for w in &mut watchers {
        w.step(Duration::from_millis(50)).await;
        assert!(!w.text().contains("HELD"), "relayed before its commit");
    }

    sqlx::query("COMMIT").execute(&mut holder).await.unwrap();
    for w in &mut watchers {
        wait_text(w, "HELD").await;
    }
    // And it was published, as a commit from instance 0.
    let deadline = tokio::time::Instant::now() + CLUSTER_WAIT;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let msg = tokio::time::timeout(left, bus.next())
            .await
            .expect("the commit was never published")
            .expect("subscription open");
        let (kind, from, _) = header(&msg.payload);
        if (kind == COMMIT || kind == COMMIT_REF) && from == origin {
            break;
        }
    }
    let stored = cluster.stored_text(doc).await.unwrap();
    assert!(stored.contains("HELD"), "not in PostgreSQL: {stored}");
}
