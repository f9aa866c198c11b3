//! A cluster that loses parts (see `cluster.rs` for the setting): an instance killed by
//! `kill -9` mid-burst, NATS killed and restarted, half the bus messages dropped. Nothing
//! acknowledged is lost, and the instances converge through the database.

use std::{collections::HashSet, time::Duration};

use crate::kit::{
    cluster::{assert_everywhere, spread, Cluster, CLUSTER_WAIT},
    typing::{drain_all, tokens, tokens_of, Tokens},
    ws::converge_complete,
    Client,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_an_instance_mid_burst_loses_nothing_and_its_clients_move_on() {
    let mut cluster = Cluster::start("kill", 3, &[]).await;
    let doc = "burst";
    // A writer on every instance; observers on the two that survive.
    let mut writers = Vec::new();
    for k in 0..3 {
        writers.push(Client::connect(&cluster.ws(k, doc)).await);
    }
    let mut observers = vec![
        Client::connect(&cluster.ws(0, doc)).await,
        Client::connect(&cluster.ws(1, doc)).await,
    ];
    let mut typing = Tokens::new(3);
    // Type until the survivors have seen a good part of the doomed instance's writer.
    let deadline = tokio::time::Instant::now() + CLUSTER_WAIT;
    while tokens_of(&observers[0].text(), 2) < 100 || tokens_of(&observers[1].text(), 2) < 100 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "observers saw too little of instance 2's writer"
        );
        typing.round(&mut writers).await;
        drain_all(&mut observers).await;
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    cluster.kill(2);
    // The survivors' writers keep typing while instance 2's client finds out.
    while writers[2].closed.is_none() {
        assert!(tokio::time::Instant::now() < deadline, "no close seen");
        typing.round(&mut writers).await;
        drain_all(&mut observers).await;
        writers[2].step(Duration::from_millis(5)).await;
    }
    // What any client saw of someone else's typing was committed: it is in PostgreSQL
    // now, before the dead instance's client resends anything.
    let mut seen: HashSet<String> = HashSet::new();
    for o in &observers {
        seen.extend(tokens(&o.text()));
    }
    for (w, c) in writers.iter().enumerate() {
        let own = format!("<{w}:");
        seen.extend(
            tokens(&c.text())
                .into_iter()
                .filter(|t| !t.starts_with(&own)),
        );
    }
    let stored: HashSet<String> = tokens(&cluster.stored_text(doc).await.unwrap_or_default())
        .into_iter()
        .collect();
    let lost: Vec<&String> = seen.iter().filter(|t| !stored.contains(*t)).collect();
    assert!(
        lost.is_empty(),
        "{} tokens seen by clients are not in PostgreSQL after kill -9: {:?}",
        lost.len(),
        &lost[..lost.len().min(10)]
    );
    // Instance 2's client reconnects to a survivor with the document it holds, and types on.
    let Client { y, .. } = writers.remove(2);
    let moved = Client::try_connect_with(&cluster.ws(0, doc), y)
        .await
        .expect("reconnect to a survivor");
    writers.push(moved);
    for _ in 0..30 {
        typing.round(&mut writers).await;
        drain_all(&mut observers).await;
    }
    writers.append(&mut observers);
    let text = converge_complete(&mut writers, CLUSTER_WAIT).await;
    let missing = typing.missing_from(&text);
    assert!(missing.is_empty(), "tokens typed but lost: {missing:?}");
    assert_everywhere(&cluster, doc, &text).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_killed_and_restarted_instances_converge_through_the_database() {
    let mut cluster = Cluster::start("natsdown", 3, &[]).await;
    let doc = "bus-outage";
    let mut writers = spread(&cluster, doc, 3).await;
    let mut typing = Tokens::new(3);
    for k in 0..3 {
        cluster.wait_bus(k, "connected").await;
    }
    for _ in 0..20 {
        typing.round(&mut writers).await;
    }
    converge_complete(&mut writers, CLUSTER_WAIT).await;

    cluster.nats.kill();
    for k in 0..3 {
        // Still ready: the instances converge through the database meanwhile.
        cluster.wait_bus(k, "disconnected").await;
        cluster
            .wait_metric(k, "tandem_bus_connected", |v| v == 0.0)
            .await;
    }
    // Typing on every instance reaches the others with no bus at all.
    for _ in 0..20 {
        typing.round(&mut writers).await;
    }
    converge_complete(&mut writers, CLUSTER_WAIT).await;
    assert!(
        cluster.metric_sum("tandem_catchups_total").await > 0.0,
        "edits crossed instances without the bus, yet no catch-up was counted"
    );

    cluster.nats.restart();
    for k in 0..3 {
        cluster.wait_bus(k, "connected").await;
        cluster
            .wait_metric(k, "tandem_bus_connected", |v| v == 1.0)
            .await;
        cluster
            .wait_metric(k, "tandem_bus_reconnects_total", |v| v >= 1.0)
            .await;
    }
    for _ in 0..20 {
        typing.round(&mut writers).await;
    }
    let text = converge_complete(&mut writers, CLUSTER_WAIT).await;
    let missing = typing.missing_from(&text);
    assert!(missing.is_empty(), "tokens typed but lost: {missing:?}");
    assert_everywhere(&cluster, doc, &text).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_the_bus_messages_dropped_nothing_is_lost() {
    let cluster = Cluster::start("drop", 3, &["--test-bus-drop-percent", "50"]).await;
    let doc = "lossy-bus";
    let mut writers = spread(&cluster, doc, 6).await;
    let mut typing = Tokens::new(6);
    for _ in 0..40 {
        typing.round(&mut writers).await;
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let text = converge_complete(&mut writers, CLUSTER_WAIT).await;
    let missing = typing.missing_from(&text);
    assert!(missing.is_empty(), "tokens typed but lost: {missing:?}");
    assert_everywhere(&cluster, doc, &text).await;
    assert!(cluster.metric_sum("tandem_bus_dropped_total").await > 0.0);
    assert!(
        cluster.metric_sum("tandem_catchups_total").await > 0.0,
        "bus messages were dropped, yet no catch-up was counted"
    );
}
