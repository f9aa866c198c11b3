//! Persistence as the server uses it: compaction (by count and by bytes), automatic
//! versions, and restoring an old version live. Deleting is in `deletion.rs`, the
//! documents API in `documents_api.rs`.

use crate::kit::{
    stored::{open_store, state_text},
    *,
};

#[tokio::test]
async fn compaction_keeps_history_and_restore_brings_old_text_back_live() {
    let server = start(&["--compact-updates", "10", "--version-idle-secs", "3600"]).await;
    let api = Api::new(&server);
    let mut a = Client::connect(&server.ws("hist")).await;
    let mut b = Client::connect(&server.ws("hist")).await;
    for word in ["alpha", " beta"] {
        for ch in word.chars() {
            a.append(&ch.to_string()).await;
        }
    }
    b.pump_until(|c| c.text() == "alpha beta", WAIT).await;
    a.pump_until(|c| c.received_updates >= 10, WAIT).await;

    let v1 = ok_json(api.create_version("hist", "first draft").await, 201).await;
    assert_eq!(v1["kind"], "named");
    assert_eq!(v1["label"], "first draft");
    let n1 = v1["version"].as_i64().unwrap();

    for ch in " gamma delta epsilon".chars() {
        a.append(&ch.to_string()).await;
    }
    b.pump_until(|c| c.text() == "alpha beta gamma delta epsilon", WAIT)
        .await;

    // Compaction folds the log (threshold 10) in the background; the version is intact.
    let store = open_store(&server).await;
    let stored = wait_for("the log to be compacted", || async {
        let stored = store.load("hist").await.unwrap().unwrap();
        (stored.snapshot.is_some() && stored.updates.len() < 10).then_some(stored)
    })
    .await;
    assert_eq!(stored_text(&stored), "alpha beta gamma delta epsilon");

    let v = ok_json(api.version("hist", n1).await, 200).await;
    assert_eq!(v["text"], "alpha beta");
    let state = api.version_state("hist", n1).await.bytes().await.unwrap();
    assert_eq!(state_text(&state), "alpha beta");

    let restored = ok_json(api.restore("hist", n1).await, 200).await;
    assert_eq!(restored["kind"], "restore");
    // Both connected editors see the restore live.
    a.pump_until(|c| c.text() == "alpha beta", WAIT).await;
    b.pump_until(|c| c.text() == "alpha beta", WAIT).await;
    assert_eq!(get_text(&server, "hist").await, "alpha beta");

    let list = ok_json(api.versions("hist").await, 200).await;
    let versions = list["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 2, "{list}");
    assert_eq!(versions[0]["kind"], "restore", "newest first");
    assert_eq!(versions[1]["label"], "first draft");
}

#[tokio::test]
async fn automatic_version_after_editing_pauses() {
    let server = start(&["--version-idle-secs", "1"]).await;
    let mut a = Client::connect(&server.ws("auto")).await;
    a.append("quiet now").await;
    a.pump_until(|c| c.received_updates >= 1, WAIT).await;
    let v = wait_for("an automatic version", || async {
        let list = ok_json(Api::new(&server).versions("auto").await, 200).await;
        list["versions"].as_array().and_then(|v| v.first()).cloned()
    })
    .await;
    assert_eq!(v["kind"], "auto");
    assert_eq!(v["text_length"], 9);
}

/// `--compact-bytes`: the log is folded once its bytes pass the limit, long before the
/// update-count threshold.
#[tokio::test]
async fn compaction_after_a_byte_budget() {
    let server = start(&["--compact-bytes", "2000", "--compact-updates", "100000"]).await;
    let mut a = Client::connect(&server.ws("bytes")).await;
    let store = open_store(&server).await;
    a.append(&"y".repeat(500)).await;
    a.pump_until(|c| c.received_updates >= 1, WAIT).await;
    // Compaction runs off the room's task, so the first echo does not say whether one
    // started. The next commit does: SQLite has one write connection, taken in turn, and a
    // compaction started by the first commit asked for it before this append could.
    a.append("-").await;
    a.pump_until(|c| c.received_updates >= 2, WAIT).await;
    let stored = store.load("bytes").await.unwrap().unwrap();
    assert!(stored.snapshot.is_none(), "compacted under the byte budget");
    for _ in 0..4 {
        a.append(&"z".repeat(500)).await;
    }
    a.pump_until(|c| c.received_updates >= 6, WAIT).await;
    let stored = wait_for("the log to be compacted", || async {
        let stored = store.load("bytes").await.unwrap().unwrap();
        stored.snapshot.is_some().then_some(stored)
    })
    .await;
    assert_eq!(
        stored_text(&stored),
        format!("{}-{}", "y".repeat(500), "z".repeat(2000))
    );
}

/// `--version-interval-secs`: someone who never pauses still gets automatic versions.
#[tokio::test]
async fn automatic_version_during_continuous_editing() {
    let server = start(&[
        "--version-interval-secs",
        "1",
        "--version-idle-secs",
        "3600",
    ])
    .await;
    let mut a = Client::connect(&server.ws("busy")).await;
    // Keep typing (each edit acknowledged) until a version appears.
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut n = 0;
    let version = loop {
        a.append(".").await;
        n += 1;
        a.pump_until(|c| c.received_updates >= n, WAIT).await;
        let list = ok_json(Api::new(&server).versions("busy").await, 200).await;
        if let Some(v) = list["versions"].as_array().and_then(|v| v.first()) {
            break v.clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no version while editing"
        );
    };
    assert_eq!(version["kind"], "auto");
    assert!(version["text_length"].as_i64().unwrap() >= 1);
}
