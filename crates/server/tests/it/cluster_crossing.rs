//! Everything that changes a document on one instance reaches the clients of the others
//! over the bus: an edit through the HTTP API, a named version and a rename, a restore, a
//! delete, and a commit too big to send inline (sent as a pointer, read from the
//! database). The periodic check is out of the way (ten minutes), so only the bus can have
//! carried them.

use std::time::Duration;

use crate::kit::{
    bus::{append_update, crossing},
    cluster::Cluster,
    ok_json, Client, Peer,
};

const NO_RESYNC: [&str; 2] = ["--cluster-resync-ms", "600000"];

/// Far below the resync period.
const CROSS_WAIT: Duration = Duration::from_secs(15);

async fn wait_text(c: &mut Client, want: &str) {
    let want = want.to_string();
    c.pump_until(move |c| c.text() == want, CROSS_WAIT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_edits_versions_renames_restores_and_deletes_cross_instances() {
    let cluster = Cluster::start("crossing", 2, &NO_RESYNC).await;
    let doc = "crossing";
    let mut a = Client::connect(&cluster.ws(0, doc)).await;
    let mut b = Client::connect(&cluster.ws(1, doc)).await;
    let typed = crossing(&mut a, &mut b).await;
    let api = cluster.api(0);

    // An edit through the HTTP API of instance 0.
    let update = append_update(&cluster, doc, " via the API").await;
    let posted = api.apply_update(doc, update).await;
    assert!(posted.status().is_success(), "{}", posted.status());
    let via_api = format!("{typed} via the API");
    wait_text(&mut b, &via_api).await;
    wait_text(&mut a, &via_api).await;

    // A named version and a new title, made on 0, seen through instance 1.
    let v = ok_json(api.create_version(doc, "kept").await, 201).await;
    let n = v["version"].as_i64().expect("version number");
    let listed = ok_json(cluster.api(1).versions(doc).await, 200).await;
    assert!(listed.to_string().contains("kept"), "{listed}");
    let renamed = reqwest::Client::new()
        .patch(cluster.http(0, &format!("/api/documents/{doc}")))
        .json(&serde_json::json!({ "title": "Renamed" }))
        .send()
        .await
        .unwrap();
    assert_eq!(renamed.status(), 200);
    let shown = ok_json(cluster.api(1).document(doc).await, 200).await;
    assert_eq!(shown["title"], "Renamed", "{shown}");

    // Typing on 1 after the version, then a restore on 0: 1's client is back at the version.
    b.append(" and more").await;
    wait_text(&mut a, &format!("{via_api} and more")).await;
    let restored = ok_json(api.restore(doc, n).await, 200).await;
    assert_eq!(restored["kind"], "restore");
    wait_text(&mut b, &via_api).await;

    // A delete on 0 closes the client on 1.
    assert_eq!(api.delete(doc).await.status(), 204);
    b.pump_until(|c| c.closed.is_some(), CROSS_WAIT).await;
    assert_eq!(b.closed.clone().unwrap().0, 4404);
}

/// A commit over 256 KiB goes on the bus as a pointer; the other instance reads it from
/// the database and its client gets it whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_too_big_to_send_inline_arrives_whole() {
    let extra = [NO_RESYNC[0], NO_RESYNC[1], "--max-message-size", "2097152"];
    let cluster = Cluster::start("bigcommit", 2, &extra).await;
    let doc = "big";
    let mut a = Client::connect(&cluster.ws(0, doc)).await;
    let mut b = Client::connect(&cluster.ws(1, doc)).await;
    let start = crossing(&mut a, &mut b).await;
    let big: String = (0..300 * 1024)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    a.append(&big).await;
    let want = format!("{start}{big}");
    wait_text(&mut b, &want).await;
    assert_eq!(cluster.text(1, doc).await, want);
}
