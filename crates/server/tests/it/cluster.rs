//! Cluster mode (issue #13): several `tandem serve` processes on one PostgreSQL database,
//! with a private `nats-server` between them (kit/cluster.rs, kit/nats.rs), and clients
//! spread over the instances. Every test waits for events (a client's state, a metric, a
//! row), bounded by `CLUSTER_WAIT`. What a dead instance or a lossy bus costs is in
//! `cluster_failures.rs`.
//!
//! Like every PostgreSQL test here they need the server named by `TANDEM_TEST_PG_URL`
//! (default: the local one) and fail, saying so, when it is unreachable; they also need
//! `nats-server` (the test command installs it). A Rust test cannot report itself skipped,
//! and one that passed without running would hide a broken cluster.

use std::time::Duration;

use crate::kit::{
    cluster::{assert_everywhere, spread, Cluster, CLUSTER_WAIT},
    typing::{drain_all, seed, tokens, Tokens, Typing},
    ws::converge_complete,
    Client, Peer, WAIT,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_on_three_instances_converge_and_so_do_instances_and_the_database() {
    let cluster = Cluster::start("conv", 3, &[]).await;
    let mut clients = spread(&cluster, "conv", 6).await;
    Typing::new(seed(13)).edits(&mut clients, 400).await;
    let text = converge_complete(&mut clients, CLUSTER_WAIT).await;
    assert!(!text.is_empty());
    assert_everywhere(&cluster, "conv", &text).await;
    // Edits crossed instances on the bus (not only through the database).
    for k in 0..3 {
        let sent = r#"tandem_bus_published_total{outcome="sent"}"#;
        assert!(cluster.metric(k, sent).await > 0.0);
        assert!(cluster.metric(k, "tandem_bus_received_total").await > 0.0);
    }
    // A late joiner on any instance gets the same text.
    for k in 0..3 {
        let late = Client::connect(&cluster.ws(k, "conv")).await;
        assert_eq!(late.text(), text, "late joiner on instance {k}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_racing_on_two_instances_keeps_every_update() {
    let cluster = Cluster::start("compact", 2, &["--compact-updates", "5"]).await;
    let doc = "compacted";
    let mut clients = spread(&cluster, doc, 4).await;
    let mut typing = Typing::new(seed(5));
    // Type until compaction has run many times under the typing.
    let deadline = tokio::time::Instant::now() + CLUSTER_WAIT;
    while cluster.metric_sum("tandem_compactions_total").await < 20.0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "too few compactions"
        );
        typing.edits(&mut clients, 20).await;
    }
    let text = converge_complete(&mut clients, CLUSTER_WAIT).await;
    assert_everywhere(&cluster, doc, &text).await;
    for k in 0..2 {
        let late = Client::connect(&cluster.ws(k, doc)).await;
        assert_eq!(late.text(), text, "late joiner on instance {k}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_documents_on_three_instances_under_load_no_deadlock_no_database_error() {
    const DOCS: usize = 24;
    let cluster = Cluster::start("many", 3, &[]).await;
    // One client per document on every instance. Each instance's clients send in another
    // document order, so group commits on different instances hold the same documents in
    // different orders.
    let mut groups: Vec<Vec<Client>> = Vec::new();
    for d in 0..DOCS {
        groups.push(spread(&cluster, &format!("many-{d}"), 3).await);
    }
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(seed(24));
    let mut typed = vec![[0usize; 3]; DOCS];
    for _ in 0..30 {
        for k in 0..3 {
            let mut order: Vec<usize> = (0..DOCS).collect();
            match k {
                0 => {}
                1 => order.reverse(),
                _ => rand::seq::SliceRandom::shuffle(&mut order[..], &mut rng),
            }
            for d in order {
                let n = typed[d][k];
                groups[d][k].append(&format!("<{k}:{n}>")).await;
                typed[d][k] += 1;
            }
        }
        for g in groups.iter_mut() {
            drain_all(g).await;
        }
    }
    for (d, group) in groups.iter_mut().enumerate() {
        let doc = format!("many-{d}");
        let text = converge_complete(group, CLUSTER_WAIT).await;
        assert_eq!(tokens(&text).len(), 90, "{doc}: {text}");
        assert_everywhere(&cluster, &doc, &text).await;
    }
    for k in 0..3 {
        assert_eq!(
            cluster.metric(k, "tandem_db_deadlocks_total").await,
            0.0,
            "instance {k}"
        );
        assert_eq!(
            cluster.metric(k, "tandem_database_errors_total").await,
            0.0,
            "instance {k}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_on_one_instance_closes_clients_everywhere_and_nothing_writes_it_back() {
    let cluster = Cluster::start("delete", 3, &["--unload-grace-secs", "1"]).await;
    let doc = "doomed";
    let mut writers = spread(&cluster, doc, 6).await;
    let mut typing = Tokens::new(6);
    for _ in 0..10 {
        typing.round(&mut writers).await;
    }
    converge_complete(&mut writers, CLUSTER_WAIT).await;

    // Delete on instance 0 while the writers on every instance keep typing.
    let api = cluster.api(0);
    let delete = tokio::spawn(async move { api.delete("doomed").await.status() });
    let deadline = tokio::time::Instant::now() + CLUSTER_WAIT;
    while writers.iter().any(|w| w.closed.is_none()) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not every client was closed"
        );
        typing.round(&mut writers).await;
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert_eq!(delete.await.unwrap(), 204);
    for (i, w) in writers.iter().enumerate() {
        let (code, reason) = w.closed.clone().unwrap();
        assert_eq!(code, 4404, "client {i} (instance {}): {reason}", i % 3);
    }

    // Clients keep trying on every instance: none gets the old text back (an instance
    // still finishing the delete may turn them away with 4404).
    for round in 0..4 {
        for k in 0..3 {
            match Client::try_connect(&cluster.ws(k, doc)).await {
                Ok(c) => {
                    assert_eq!(c.text(), "", "round {round}: old text on instance {k}");
                    c.close().await;
                }
                Err((code, reason)) => assert_eq!(code, 4404, "{reason}"),
            }
        }
    }
    // Once no instance holds the document any more, nothing of it is stored.
    for k in 0..3 {
        cluster
            .wait_metric(k, "tandem_documents_loaded", |v| v == 0.0)
            .await;
    }
    assert_eq!(
        cluster.stored_text(doc).await,
        None,
        "the deleted document was written back"
    );
    for k in 0..3 {
        assert_eq!(cluster.api(k).document(doc).await.status(), 404);
    }
}

/// The name in a peer's awareness state, if it has one.
fn name_of(c: &Client, id: u64) -> Option<String> {
    let json = c.peers.get(&id)?.as_ref()?;
    let v: serde_json::Value = serde_json::from_str(json).ok()?;
    Some(v["user"]["name"].as_str()?.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn awareness_crosses_instances_and_leaves_with_a_killed_instance() {
    // The expiry backstop is far beyond the wait: removal must come from the heartbeats.
    let mut cluster = Cluster::start("aware", 3, &["--awareness-timeout-secs", "600"]).await;
    let doc = "presence";
    let mut ann = Client::connect(&cluster.ws(0, doc)).await;
    let mut bob = Client::connect(&cluster.ws(1, doc)).await;
    let mut cid = Client::connect(&cluster.ws(2, doc)).await;
    ann.set_awareness(r#"{"user":{"name":"ann"}}"#).await;
    cid.set_awareness(r#"{"user":{"name":"cid"}}"#).await;
    let (ann_id, cid_id) = (ann.client_id(), cid.client_id());
    let both = |c: &Client| {
        name_of(c, ann_id).as_deref() == Some("ann") && name_of(c, cid_id).as_deref() == Some("cid")
    };
    bob.pump_until(both, CLUSTER_WAIT).await;
    ann.pump_until(both, CLUSTER_WAIT).await;
    cid.pump_until(both, CLUSTER_WAIT).await;
    // Bob sends Ann's state back, as y-websocket clients do with every change they see.
    // That claims nothing: Ann's next state still reaches him.
    let echo = bob.echo_awareness_message(ann_id);
    bob.send_raw(echo).await;
    ann.set_awareness(r#"{"user":{"name":"ann2"}}"#).await;
    let renamed = |c: &Client| name_of(c, ann_id).as_deref() == Some("ann2");
    bob.pump_until(renamed, CLUSTER_WAIT).await;
    cid.pump_until(renamed, CLUSTER_WAIT).await;

    cluster.kill(2);
    let cid_gone = |c: &Client| c.peers.get(&cid_id) == Some(&None);
    ann.pump_until(cid_gone, CLUSTER_WAIT).await;
    bob.pump_until(cid_gone, CLUSTER_WAIT).await;
    // Only the dead instance's users left.
    assert_eq!(name_of(&bob, ann_id).as_deref(), Some("ann2"));
}

/// Cluster mode needs PostgreSQL: with SQLite the server refuses to start, whether the
/// NATS URL comes as a flag or from the environment.
#[tokio::test]
async fn cluster_mode_on_sqlite_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().display().to_string();
    let base = [
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--web-dir",
        "/nonexistent",
        "--data-dir",
        &data,
    ];
    for from_env in [false, true] {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_tandem"));
        cmd.args(base)
            .env_remove("DATABASE_URL")
            .env_remove("TANDEM_NATS_URL")
            .env("TANDEM_CLUSTER_KEY", crate::kit::cluster::CLUSTER_KEY)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        if from_env {
            cmd.env("TANDEM_NATS_URL", "nats://127.0.0.1:4222");
        } else {
            cmd.args(["--nats-url", "nats://127.0.0.1:4222"]);
        }
        let mut child = cmd.spawn().expect("run tandem");
        let deadline = tokio::time::Instant::now() + WAIT;
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if tokio::time::Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("from_env={from_env}: the server runs in cluster mode on SQLite");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
        assert!(!status.success(), "started in cluster mode on SQLite");
        assert!(
            stderr.contains("cluster mode needs PostgreSQL"),
            "from_env={from_env}: {stderr}"
        );
    }
}
