//! The documents API over HTTP (text, state, updates, versions), its size limit, and the
//! metrics and health endpoints.

use crate::kit::{stored::state_text, *};

#[tokio::test]
async fn documents_api_round_trip() {
    let server = start(&[]).await;
    let api = Api::new(&server);
    let created = ok_json(api.create("notes").await, 201).await;
    assert_eq!(created["name"], "notes");
    expect_error(api.create("notes").await, 409).await;
    let error = expect_error(api.create("../etc").await, 400).await;
    assert!(error.contains("document name"), "{error}");

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
    assert_eq!(api.apply_update("notes", update).await.status(), 204);
    editor.pump_until(|c| c.text() == "from http", WAIT).await;
    expect_error(api.apply_update("notes", vec![9u8, 9, 9]).await, 400).await;

    let state = api.state("notes").await;
    assert_eq!(state.status(), 200);
    assert_eq!(state.headers()["content-type"], "application/octet-stream");
    assert_eq!(state_text(&state.bytes().await.unwrap()), "from http");

    // Presence shows once the editor's awareness is in (its own echo says so).
    editor.set_awareness(r#"{"user":{"name":"zoe"}}"#).await;
    let me = editor.client_id();
    editor.pump_until(|c| c.peers.contains_key(&me), WAIT).await;
    let list = ok_json(api.list().await, 200).await;
    let doc = &list["documents"][0];
    assert_eq!(doc["name"], "notes");
    assert_eq!(doc["connections"], 1);
    assert_eq!(doc["users"][0], "zoe");
    // One document on its own: stored facts and live presence.
    let one = ok_json(api.document("notes").await, 200).await;
    assert_eq!(one["name"], "notes");
    assert_eq!(one["connections"], 1);
    assert_eq!(one["users"], serde_json::json!(["zoe"]));
    assert!(one["size_bytes"].as_i64().unwrap() > 0, "{one}");
    assert!(
        one["created_at"].is_string() && one["updated_at"].is_string(),
        "{one}"
    );
    expect_error(api.document("missing").await, 404).await;
    expect_error(api.text("missing").await, 404).await;

    assert_eq!(api.delete("notes").await.status(), 204);
    let (code, _) = editor.closed_with(WAIT).await;
    assert_eq!(code, 4404);
    expect_error(api.delete("notes").await, 404).await;
}

/// An update POST past `--max-message-size` is refused with 413 and a JSON error, and
/// leaves the document as it was.
#[tokio::test]
async fn oversized_update_post_is_refused_with_413() {
    let server = start(&["--max-message-size", "4096"]).await;
    let api = Api::new(&server);
    let mut editor = Client::connect(&server.ws("big")).await;
    editor.append("small").await;
    editor.pump_until(|c| c.received_updates >= 1, WAIT).await;
    let update = {
        use yrs::{Text, Transact};
        let d = new_doc();
        let t = d.get_or_insert_text("content");
        let mut txn = d.transact_mut();
        t.insert(&mut txn, 0, &"x".repeat(8192));
        txn.encode_update_v1()
    };
    let res = api.apply_update("big", update).await;
    let error = expect_error(res, 413).await;
    assert!(!error.is_empty());
    assert_eq!(get_text(&server, "big").await, "small");
}

/// Metric values, not only names. The recorder is per process; the test command runs each
/// test in its own (nextest), so the values below are this test's alone.
#[tokio::test]
async fn metrics_and_health() {
    let server = start(&[]).await;
    let mut a = Client::connect(&server.ws("m")).await;
    let mut b = Client::connect(&server.ws("m")).await;
    a.append("x").await;
    b.pump_until(|c| c.text() == "x", WAIT).await;
    a.pump_until(|c| c.received_updates >= 1, WAIT).await;
    let api = Api::new(&server);
    assert_eq!(api.healthz().await.status(), 200);
    assert_eq!(api.readyz().await.status(), 200);
    let text = reqwest::get(server.http("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for (series, want) in [
        ("tandem_connections{transport=\"websocket\"}", 2.0),
        (
            "tandem_connections_opened_total{transport=\"websocket\"}",
            2.0,
        ),
        ("tandem_documents_loaded", 1.0),
        ("tandem_updates_received_total", 1.0),
        // the echo to the sender and the relay to the other client
        ("tandem_updates_relayed_total", 2.0),
        ("tandem_updates_persisted_total", 1.0),
        ("tandem_persist_seconds_count", 1.0),
        ("tandem_unwritten_bytes", 0.0),
        ("tandem_slow_client_disconnects_total", 0.0),
        ("tandem_database_errors_total", 0.0),
    ] {
        assert_eq!(metric_in(&text, series), want, "{series} in\n{text}");
    }
    for series in [
        "tandem_bytes_in_total{transport=\"websocket\"}",
        "tandem_bytes_out_total",
    ] {
        assert!(metric_in(&text, series) > 0.0, "{series} in\n{text}");
    }

    // Closing one client and unloading the document move the gauges back.
    b.close().await;
    server
        .wait_metric("tandem_connections{transport=\"websocket\"}", |v| v == 1.0)
        .await;
}
