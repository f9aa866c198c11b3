//! An HTTP session (long polling) whose instance dies: the client opens a new session on
//! another instance with the document it holds and loses nothing, not even an edit it made
//! while it had no session.

use std::time::Duration;

use crate::kit::{cluster::Cluster, http_client, typing::tokens, Client, Peer, PollClient, YPeer};

const MOVE_WAIT: Duration = Duration::from_secs(20);

/// A polling session on instance `k` for a client that already holds `y`, synced: the
/// server's sync step 1 asks it for whatever of its own the server lacks.
async fn poll_on(cluster: &Cluster, k: usize, doc: &str, mut y: YPeer) -> PollClient {
    let http = http_client(None);
    let res = http
        .post(cluster.http(k, &format!("/poll/{doc}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "poll open on instance {k}");
    let v: serde_json::Value = res.json().await.unwrap();
    y.synced = false;
    let mut c = PollClient {
        http,
        base: cluster.http(k, ""),
        doc_name: doc.to_string(),
        session: v["session"].as_str().expect("session id").to_string(),
        cursor: 0,
        y,
    };
    c.start().await;
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poll_session_whose_instance_dies_moves_on_and_loses_nothing() {
    let mut cluster = Cluster::start("sessions", 2, &[]).await;
    let doc = "moving";
    let mut a = Client::connect(&cluster.ws(0, doc)).await;
    let mut p = poll_on(&cluster, 1, doc, YPeer::new()).await;
    a.append("<a:0>").await;
    p.append("<p:0>").await;
    p.append("<p:1>").await;
    let has = |text: &str, want: &[&str]| want.iter().all(|t| text.contains(t));
    a.pump_until(|c| has(&c.text(), &["<p:0>", "<p:1>"]), MOVE_WAIT)
        .await;
    p.pump_until(|c| c.y.text().contains("<a:0>"), MOVE_WAIT)
        .await;

    cluster.kill(1);
    // Typed with no session: only the client holds it.
    let _unsent = p.y.append_message("<p:2>");
    a.append("<a:1>").await;

    let y = std::mem::take(&mut p.y);
    let mut p = poll_on(&cluster, 0, doc, y).await;
    let all = ["<a:0>", "<a:1>", "<p:0>", "<p:1>", "<p:2>"];
    p.pump_until(|c| has(&c.y.text(), &all), MOVE_WAIT).await;
    a.pump_until(|c| has(&c.text(), &all), MOVE_WAIT).await;
    assert_eq!(p.y.text(), a.text());
    let stored = cluster.stored_text(doc).await.expect("stored");
    let mut got = tokens(&stored);
    got.sort();
    assert_eq!(got, all, "a fresh load from PostgreSQL: {stored}");
}
