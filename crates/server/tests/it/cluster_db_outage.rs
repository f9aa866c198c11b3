//! An instance cut off from PostgreSQL but not from NATS (a proxy in front of the
//! database, cut and healed by the test): its clients keep editing, the other instance
//! keeps working, and after the heal every client, every instance and a fresh load from
//! PostgreSQL hold the same text, with nothing lost.

use std::time::Duration;

use crate::kit::{cluster::Cluster, tcp_proxy::TcpProxy, typing::tokens, Client, Peer};

const HEAL_WAIT: Duration = Duration::from_secs(20);

async fn wait_for_all(c: &mut Client, want: &[String]) {
    let want = want.to_vec();
    c.pump_until(
        move |c| want.iter().all(|t| c.text().contains(t)),
        HEAL_WAIT,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_cut_off_from_postgres_keeps_editing_and_loses_nothing() {
    let mut cluster = Cluster::start("dbcut", 2, &[]).await;
    let proxy = TcpProxy::start(TcpProxy::target_of(&cluster.db.url)).await;
    cluster.kill(1);
    let through_proxy = proxy.url_for(&cluster.db.url);
    cluster.spawn_on_database(1, &through_proxy);
    let doc = "cut";
    let mut a = Client::connect(&cluster.ws(0, doc)).await;
    let mut b = Client::connect(&cluster.ws(1, doc)).await;
    let mut b2 = Client::connect(&cluster.ws(1, doc)).await;
    a.append("<a:0>").await;
    b.append("<b:0>").await;
    let mut written = vec!["<a:0>".to_string(), "<b:0>".to_string()];
    for c in [&mut a, &mut b, &mut b2] {
        wait_for_all(c, &written).await;
    }

    proxy.cut();
    for i in 1..=5 {
        let (ta, tb) = (format!("<a:{i}>"), format!("<b:{i}>"));
        a.append(&ta).await;
        b.append(&tb).await;
        written.extend([ta, tb]);
    }
    // Instance 0 keeps working, and its commits reach the cut-off instance over NATS.
    let from_a: Vec<String> = written
        .iter()
        .filter(|t| t.starts_with("<a"))
        .cloned()
        .collect();
    wait_for_all(&mut b2, &from_a).await;
    assert!(
        b.closed.is_none() && b2.closed.is_none(),
        "clients of the cut-off instance were closed"
    );
    // The cut is real: the instance's commits fail, and what its clients wrote meanwhile
    // is nowhere else yet.
    cluster
        .wait_metric(1, "tandem_database_errors_total", |v| v > 0.0)
        .await;
    let on_0 = cluster.text(0, doc).await;
    assert!(!on_0.contains("<b:5>"), "committed through a cut: {on_0}");

    proxy.heal();
    for c in [&mut a, &mut b, &mut b2] {
        wait_for_all(c, &written).await;
    }
    let text = a.text();
    assert_eq!(b.text(), text);
    assert_eq!(b2.text(), text);
    for k in 0..2 {
        let deadline = tokio::time::Instant::now() + HEAL_WAIT;
        while cluster.text(k, doc).await != text {
            assert!(
                tokio::time::Instant::now() < deadline,
                "instance {k} differs"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let stored = cluster.stored_text(doc).await.expect("stored");
    let mut stored_tokens = tokens(&stored);
    let mut want = written.clone();
    stored_tokens.sort();
    want.sort();
    assert_eq!(
        stored_tokens, want,
        "a fresh load from PostgreSQL: {stored}"
    );
}
