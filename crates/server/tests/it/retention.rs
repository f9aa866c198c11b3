//! Version retention (`--keep-versions-count`, `--keep-versions-days`) on real SQLite and
//! PostgreSQL: old automatic versions go, by count and by age; named and restore
//! versions stay, and so does each document's latest version.

use std::sync::Arc;

use tandem_persistence::{NewVersion, Store, VersionKind, VersionRetention};

use crate::kit::{
    ok_json,
    pg::TestDatabase,
    start,
    stored::{state_vector_of, typed, RawDb},
    wait_for, Api, Client, Peer, WAIT,
};

async fn add(store: &Arc<dyn Store>, doc: &str, kind: VersionKind, text: &str) {
    let (_, state, _) = typed(&[text]);
    store
        .create_version(
            doc,
            &NewVersion {
                kind,
                label: (kind == VersionKind::Named).then(|| format!("label {text}")),
                state_vector: state_vector_of(&state),
                state,
                text: text.into(),
                format: None,
                authors: vec![],
            },
        )
        .await
        .unwrap();
}

/// Versions 1..=6: auto, named, auto, auto, restore, auto.
async fn history(store: &Arc<dyn Store>, doc: &str) {
    use VersionKind::*;
    for (kind, text) in [
        (Auto, "a1"),
        (Named, "n2"),
        (Auto, "a3"),
        (Auto, "a4"),
        (Restore, "r5"),
        (Auto, "a6"),
    ] {
        add(store, doc, kind, text).await;
    }
}

async fn numbers(store: &Arc<dyn Store>, doc: &str) -> Vec<i64> {
    let mut v: Vec<i64> = store
        .list_versions(doc)
        .await
        .unwrap()
        .into_iter()
        .map(|v| v.version)
        .collect();
    v.sort();
    v
}

async fn prunes_by_count_and_age(url: &str) {
    let store = tandem_persistence::open(url).await.unwrap();
    history(&store, "counted").await;
    history(&store, "aged").await;
    history(&store, "untouched").await;

    // By count, one document: the two newest automatic versions stay (4 and 6).
    let keep = VersionRetention {
        keep_count: 2,
        older_than: None,
    };
    assert_eq!(
        store.prune_versions(Some("counted"), &keep).await.unwrap(),
        2
    );
    assert_eq!(numbers(&store, "counted").await, vec![2, 4, 5, 6]);
    assert_eq!(numbers(&store, "aged").await, vec![1, 2, 3, 4, 5, 6]);
    // Again: nothing more to do.
    assert_eq!(
        store.prune_versions(Some("counted"), &keep).await.unwrap(),
        0
    );

    // By age, every document: versions 1..=4 and 6 of `aged` are 40 days old. The latest
    // (6) stays although it is old: the next version is numbered from it.
    let mut db = RawDb::connect(url).await;
    let aged = db.doc_id("aged").await;
    let old = db.days_ago(40);
    db.exec(&format!(
        "UPDATE versions SET created_at = {old} WHERE document_id = {aged} AND version <> 5"
    ))
    .await;
    let keep = VersionRetention {
        keep_count: 0,
        older_than: Some(chrono::Utc::now() - chrono::Duration::days(30)),
    };
    assert_eq!(store.prune_versions(None, &keep).await.unwrap(), 3);
    assert_eq!(numbers(&store, "aged").await, vec![2, 5, 6]);
    assert_eq!(numbers(&store, "untouched").await, vec![1, 2, 3, 4, 5, 6]);

    // A new version after pruning is numbered past the latest.
    add(&store, "aged", VersionKind::Auto, "a7").await;
    assert_eq!(numbers(&store, "aged").await, vec![2, 5, 6, 7]);
}

#[tokio::test]
async fn retention_prunes_by_count_and_age_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    prunes_by_count_and_age(&format!("sqlite://{}", dir.path().join("t.db").display())).await;
}

#[tokio::test]
async fn retention_prunes_by_count_and_age_postgres() {
    let db = TestDatabase::create("retention").await;
    prunes_by_count_and_age(&db.url).await;
}

/// The server with `--keep-versions-count 1`: each new automatic version lets the one
/// before it go; the named version stays.
async fn server_keeps_count(extra: &[&str]) {
    let mut args = vec!["--version-idle-secs", "1", "--keep-versions-count", "1"];
    args.extend_from_slice(extra);
    let server = start(&args).await;
    let api = Api::new(&server);
    let mut a = Client::connect(&server.ws("kept")).await;
    let kinds = |list: serde_json::Value| -> Vec<(i64, String)> {
        list["versions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| {
                (
                    v["version"].as_i64().unwrap(),
                    v["kind"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    a.append("one").await;
    a.pump_until(|c| c.received_updates >= 1, WAIT).await;
    wait_for("the first automatic version", || async {
        let list = kinds(ok_json(api.versions("kept").await, 200).await);
        (list.len() == 1).then_some(())
    })
    .await;
    a.append(" two").await;
    a.pump_until(|c| c.received_updates >= 2, WAIT).await;
    assert_eq!(api.create_version("kept", "keep me").await.status(), 201);
    a.append(" three").await;
    a.pump_until(|c| c.received_updates >= 3, WAIT).await;
    // 1 (auto) goes once 3 is made (right after it is stored); 2 (named) stays.
    let want = vec![(3, "auto".to_string()), (2, "named".to_string())];
    wait_for("version 3, and version 1 pruned", || async {
        let list = kinds(ok_json(api.versions("kept").await, 200).await);
        (list == want).then_some(())
    })
    .await;
    server
        .wait_metric("tandem_versions_pruned_total", |v| v >= 1.0)
        .await;
}

#[tokio::test]
async fn server_keeps_a_count_of_automatic_versions_sqlite() {
    server_keeps_count(&[]).await;
}

#[tokio::test]
async fn server_keeps_a_count_of_automatic_versions_postgres() {
    let db = TestDatabase::create("retention_server").await;
    server_keeps_count(&["--database-url", &db.url]).await;
}

/// `--keep-versions-days`: the sweep at start removes automatic versions past the age,
/// also of documents nobody opens.
async fn sweep_at_start(url: &str, extra: &[&str]) {
    let store = tandem_persistence::open(url).await.unwrap();
    history(&store, "asleep").await;
    let mut db = RawDb::connect(url).await;
    let old = db.days_ago(10);
    db.exec(&format!("UPDATE versions SET created_at = {old}"))
        .await;
    drop(store);
    let mut args = vec!["--keep-versions-days", "7"];
    args.extend_from_slice(extra);
    let server = start(&args).await;
    let api = Api::new(&server);
    wait_for("the sweep", || async {
        let list = ok_json(api.versions("asleep").await, 200).await;
        let n: Vec<i64> = list["versions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["version"].as_i64().unwrap())
            .collect();
        (n == vec![6, 5, 2]).then_some(())
    })
    .await;
}

#[tokio::test]
async fn sweep_prunes_old_versions_of_idle_documents_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("tandem.db").display());
    sweep_at_start(&url, &["--database-url", &url]).await;
}

#[tokio::test]
async fn sweep_prunes_old_versions_of_idle_documents_postgres() {
    let db = TestDatabase::create("retention_sweep").await;
    sweep_at_start(&db.url, &["--database-url", &db.url]).await;
}
