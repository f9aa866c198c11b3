//! How an instance that is behind finds out, with the periodic check against the database
//! out of the way (`--cluster-resync-ms` of ten minutes): the next bus message's `prev`, a
//! join, a reconnect to NATS, a bus commit that does not apply. Each starts from a commit
//! written straight to PostgreSQL that no bus message announces (kit/bus.rs), so only a
//! read from the database can bring it; every wait is bounded well below the resync period.

use std::time::Duration;

use crate::kit::{
    bus::{attacker, commit, commit_unannounced, crossing, doc_subject, head, sign},
    cluster::{Cluster, CLUSTER_KEY},
    Client, Peer,
};

/// How long a repair may take here: far below the resync period, so that only the path
/// under test can have made it.
const REPAIR_WAIT: Duration = Duration::from_secs(15);

/// Ten minutes: no periodic check runs during a test.
const NO_RESYNC: [&str; 2] = ["--cluster-resync-ms", "600000"];

/// Two instances with no periodic check, a client on each, holding the same text, with
/// commits crossing the bus both ways.
async fn two_in_sync(tag: &str, doc: &str) -> (Cluster, Client, Client) {
    let cluster = Cluster::start(tag, 2, &NO_RESYNC).await;
    let mut a = Client::connect(&cluster.ws(0, doc)).await;
    let mut b = Client::connect(&cluster.ws(1, doc)).await;
    crossing(&mut a, &mut b).await;
    (cluster, a, b)
}

async fn wait_text(c: &mut Client, part: &str) {
    let part = part.to_string();
    c.pump_until(move |c| c.text().contains(&part), REPAIR_WAIT)
        .await;
}

/// A client joining an instance that is behind the database gets its sync reply only once
/// the instance has caught up: the reply already holds every committed update.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_joiner_on_an_instance_that_is_behind_gets_every_committed_update() {
    let doc = "late";
    let (cluster, _a, _b) = two_in_sync("late", doc).await;
    commit_unannounced(&cluster, doc, "UNANNOUNCED").await;
    let late = Client::connect(&cluster.ws(1, doc)).await;
    assert!(
        late.text().contains("<x0>") && late.text().contains("UNANNOUNCED"),
        "the sync reply missed a committed update: {:?}",
        late.text()
    );
}

/// A lost bus message is noticed at the next message, whose `prev` is past what the
/// instance applied: it reads the gap from the database (`tandem_bus_gaps_total`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gap_in_the_bus_is_read_from_the_database_at_the_next_message() {
    let doc = "gap";
    let (cluster, mut a, mut b) = two_in_sync("gap", doc).await;
    let gaps = "tandem_bus_gaps_total";
    let before = cluster.metric(1, gaps).await;
    commit_unannounced(&cluster, doc, "LOST ").await;
    a.append("next").await;
    wait_text(&mut b, "next").await;
    wait_text(&mut b, "LOST").await;
    assert!(cluster.metric(1, gaps).await > before, "no gap counted");
}

/// NATS down, commits made meanwhile (none of them on the bus), NATS back: the instances
/// read the database at once, not at the next periodic check.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_reconnect_to_nats_an_instance_reads_the_database_at_once() {
    let doc = "reconnect";
    let (mut cluster, mut a, mut b) = two_in_sync("reconnect", doc).await;
    cluster.nats.kill();
    for k in 0..2 {
        cluster.wait_bus(k, "disconnected").await;
    }
    commit_unannounced(&cluster, doc, "WHILE-DOWN").await;
    cluster.nats.restart();
    wait_text(&mut a, "WHILE-DOWN").await;
    wait_text(&mut b, "WHILE-DOWN").await;
}

/// A signed bus commit whose frame does not apply: the instance does not count its rows
/// as applied but reads them from the database, where the real commit is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bus_commit_that_does_not_apply_is_read_from_the_database() {
    let doc = "badframe";
    let (cluster, _a, mut b) = two_in_sync("badframe", doc).await;
    let catch_ups = cluster.metric(1, "tandem_catchups_total").await;
    let prev = head(&cluster, doc).await;
    let last = commit_unannounced(&cluster, doc, "REAL").await;
    // A y-sync update message whose update is not a Yjs update.
    let frame = vec![0, 2, 4, 0xff, 0xff, 0xff, 0xff];
    let subject = doc_subject(&cluster, doc);
    let message = commit("other-instance", prev, last, &[frame]);
    let nats = attacker(&cluster).await;
    nats.publish(
        subject.clone(),
        sign(CLUSTER_KEY.as_bytes(), &subject, &message, 7, 1),
    )
    .await
    .unwrap();
    nats.flush().await.unwrap();
    wait_text(&mut b, "REAL").await;
    assert!(cluster.metric(1, "tandem_catchups_total").await > catch_ups);
}
