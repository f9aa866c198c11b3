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
