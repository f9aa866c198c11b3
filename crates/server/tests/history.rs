//! Persistence as the server uses it: compaction, versions, restore, and the HTTP API.

mod common;

use std::time::Duration;

use common::*;
use serde_json::Value;

async fn json(res: reqwest::Response) -> Value {
    res.json().await.unwrap()
}

#[tokio::test]
async fn compaction_keeps_history_and_restore_brings_old_text_back_live() {
    let server = start(&["--compact-updates", "10", "--version-idle-secs", "3600"]).await;
    let http = reqwest::Client::new();
    let mut a = Client::connect(&server.ws("hist")).await;
    let mut b = Client::connect(&server.ws("hist")).await;
    for word in ["alpha", " beta"] {
        for ch in word.chars() {
            a.append(&ch.to_string()).await;
        }
    }
    b.pump_until(|c| c.text() == "alpha beta", WAIT).await;
    a.pump_until(|c| c.received_updates >= 10, WAIT).await;

    let res = http
        .post(server.http("/api/documents/hist/versions"))
        .json(&serde_json::json!({ "label": "first draft" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let v1 = json(res).await;
    assert_eq!(v1["kind"], "named");
    assert_eq!(v1["label"], "first draft");
    let n1 = v1["version"].as_i64().unwrap();

    for ch in " gamma delta epsilon".chars() {
        a.append(&ch.to_string()).await;
    }
    b.pump_until(|c| c.text() == "alpha beta gamma delta epsilon", WAIT)
        .await;

    // Compaction has folded the log (threshold 10) but the version is intact.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let store = tandem_persistence::open(&format!(
        "sqlite://{}",
        server.dir.path().join("tandem.db").display()
    ))
    .await
    .unwrap();
    let stored = store.load("hist").await.unwrap().unwrap();
    assert!(stored.snapshot.is_some(), "no snapshot after 30 updates");
    assert!(
        stored.updates.len() < 10,
        "log not compacted: {}",
        stored.updates.len()
    );

    let v = json(
        http.get(server.http(&format!("/api/documents/hist/versions/{n1}")))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(v["text"], "alpha beta");
    let state = http
        .get(server.http(&format!("/api/documents/hist/versions/{n1}/state")))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let replica = new_doc();
    {
        use yrs::{updates::decoder::Decode, Transact};
        replica
            .transact_mut()
            .apply_update(yrs::Update::decode_v1(&state).unwrap())
            .unwrap();
    }
    assert_eq!(tandem::text::render_doc(&replica), "alpha beta");

    let res = http
        .post(server.http(&format!("/api/documents/hist/versions/{n1}/restore")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let restored = json(res).await;
    assert_eq!(restored["kind"], "restore");
    // Both connected editors see the restore live.
    a.pump_until(|c| c.text() == "alpha beta", WAIT).await;
    b.pump_until(|c| c.text() == "alpha beta", WAIT).await;
    assert_eq!(get_text(&server, "hist").await, "alpha beta");

    let list = json(
        http.get(server.http("/api/documents/hist/versions"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let versions = list["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 2, "{list}");
    assert_eq!(versions[0]["kind"], "restore", "newest first");
    assert_eq!(versions[1]["label"], "first draft");
}

#[tokio::test]
async fn documents_api_round_trip() {
    let server = start(&[]).await;
    let http = reqwest::Client::new();
    let created = http
        .post(server.http("/api/documents"))
        .json(&serde_json::json!({ "name": "notes" }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let again = http
        .post(server.http("/api/documents"))
        .json(&serde_json::json!({ "name": "notes" }))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 409);
    let bad = http
        .post(server.http("/api/documents"))
        .json(&serde_json::json!({ "name": "../etc" }))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    assert!(json(bad).await["error"]
        .as_str()
        .unwrap()
        .contains("document name"));

    // An update made elsewhere, applied over HTTP, reaches a connected editor.
    let mut editor = Client::connect(&server.ws("notes")).await;
    let update = {
        use yrs::{Text, Transact};
        let d = new_doc();
        let t = d.get_or_insert_text("content");
        let mut txn = d.transact_mut();
        t.insert(&mut txn, 0, "from http");
        txn.encode_update_v1()
    };
    let res = http
        .post(server.http("/api/documents/notes/updates"))
        .body(update)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    editor.pump_until(|c| c.text() == "from http", WAIT).await;
    let res = http
        .post(server.http("/api/documents/notes/updates"))
        .body(vec![9u8, 9, 9])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);

    let state = http
        .get(server.http("/api/documents/notes/state"))
        .send()
        .await
        .unwrap();
    assert_eq!(state.headers()["content-type"], "application/octet-stream");
    assert!(!state.bytes().await.unwrap().is_empty());

    editor.set_awareness(r#"{"user":{"name":"zoe"}}"#).await;
    editor.drain(Duration::from_millis(200)).await;
    let list = json(
        http.get(server.http("/api/documents"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let doc = &list["documents"][0];
    assert_eq!(doc["name"], "notes");
    assert_eq!(doc["connections"], 1);
    assert_eq!(doc["users"][0], "zoe");

    assert_eq!(
        http.get(server.http("/api/documents/missing/text"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    let del = http
        .delete(server.http("/api/documents/notes"))
        .send()
        .await
        .unwrap();
    assert_eq!(del.status(), 204);
    let (code, _) = editor.closed_with(WAIT).await;
    assert_eq!(code, 4404);
    assert_eq!(
        http.delete(server.http("/api/documents/notes"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
}

#[tokio::test]
async fn automatic_version_after_editing_pauses() {
    let server = start(&["--version-idle-secs", "1"]).await;
    let mut a = Client::connect(&server.ws("auto")).await;
    a.append("quiet now").await;
    a.pump_until(|c| c.received_updates >= 1, WAIT).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let list: Value = reqwest::get(server.http("/api/documents/auto/versions"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if let Some(v) = list["versions"].as_array().and_then(|v| v.first()) {
            assert_eq!(v["kind"], "auto");
            assert_eq!(v["text_length"], 9);
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no automatic version"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn metrics_and_health() {
    let server = start(&[]).await;
    let mut a = Client::connect(&server.ws("m")).await;
    a.append("x").await;
    a.pump_until(|c| c.received_updates >= 1, WAIT).await;
    assert_eq!(
        reqwest::get(server.http("/healthz"))
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        reqwest::get(server.http("/readyz")).await.unwrap().status(),
        200
    );
    let text = reqwest::get(server.http("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for name in [
        "tandem_connections{transport=\"websocket\"}",
        "tandem_documents_loaded",
        "tandem_updates_received_total",
        "tandem_updates_relayed_total",
        "tandem_updates_persisted_total",
        "tandem_bytes_in_total",
        "tandem_bytes_out_total",
        "tandem_persist_seconds_bucket",
    ] {
        assert!(text.contains(name), "metrics lack {name}:\n{text}");
    }
}

/// Clients hammering a document while it is deleted must not bring the old text back:
/// neither into a room loaded mid-delete nor, through a late compaction, into the store.
#[tokio::test]
async fn delete_racing_with_connecting_clients_leaves_nothing_behind() {
    let mut server = start(&["--compact-updates", "5", "--version-idle-secs", "3600"]).await;
    let mut author = Client::connect(&server.ws("race")).await;
    for ch in "secret".chars() {
        author.append(&ch.to_string()).await;
    }
    author.pump_until(|c| c.received_updates >= 6, WAIT).await;

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let url = server.ws("race");
    let racers: Vec<_> = (0..16)
        .map(|_| {
            let (stop, url) = (stop.clone(), url.clone());
            tokio::spawn(async move {
                let mut joins = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    // A fresh, empty client: whatever text it sees came from the server.
                    if let Ok(Ok((ws, _))) = tokio::time::timeout(
                        Duration::from_secs(2),
                        tokio_tungstenite::connect_async(url.as_str()),
                    )
                    .await
                    {
                        drop(ws);
                        joins += 1;
                    }
                }
                joins
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let del = reqwest::Client::new()
        .delete(server.http("/api/documents/race"))
        .send()
        .await
        .unwrap();
    assert_eq!(del.status(), 204);
    let (code, _) = author.closed_with(WAIT).await;
    assert_eq!(code, 4404);
    // Joins after the delete reach a new, empty room.
    let late = Client::connect(&server.ws("race")).await;
    assert_eq!(
        late.text(),
        "",
        "a client after the delete saw the old text"
    );
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for racer in racers {
        assert!(racer.await.unwrap() > 0, "racers never connected");
    }
    late.close().await;
    assert_ne!(get_text(&server, "race").await, "secret");

    // Write everything out; the store must not hold the old text either.
    server.stop().await;
    let store = tandem_persistence::open(&format!(
        "sqlite://{}",
        server.dir.path().join("tandem.db").display()
    ))
    .await
    .unwrap();
    if let Some(stored) = store.load("race").await.unwrap() {
        assert_eq!(stored_text(&stored), "", "deleted text came back");
    }
}
