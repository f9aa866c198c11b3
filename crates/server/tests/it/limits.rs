//! Limits on what one client may make a room do: message rates, document size, pending
//! structs, versions. Each refusal is checked for its close code or status, its reason and
//! its metric, and for leaving everyone else working.

use crate::kit::*;
use yrs::{
    sync::{Message, SyncMessage},
    updates::encoder::Encode,
    Doc, Text, Transact,
};

/// `count` edits from `client`, as the messages of one frame (as the HTTP transports batch
/// them): the server reads them all before it can close the socket, so the close frame is
/// not lost to a reset.
fn edits_in_one_frame(client: &mut Client, count: usize) -> Vec<u8> {
    (0..count)
        .flat_map(|i| client.append_message(&format!("{}", i % 10)))
        .collect()
}

#[tokio::test]
async fn a_flood_of_updates_closes_only_the_flooder() {
    // 5 a second, bursts of 50.
    let server = start(&["--max-updates-per-sec", "5"]).await;
    let mut other = Client::connect(&server.ws("rate")).await;
    let mut flood = Client::connect(&server.ws("rate")).await;
    let frame = edits_in_one_frame(&mut flood, 80);
    flood.send_raw(frame).await;
    let (code, reason) = flood.closed_with(WAIT).await;
    assert_eq!(code, 1008, "{reason}");
    assert!(reason.contains("rate limit"), "{reason}");
    assert_eq!(
        server
            .metric("tandem_limit_refusals_total{limit=\"update_rate\"}")
            .await,
        1.0
    );
    // The burst before the limit went through (the connection's sync took two messages of
    // its allowance, which refills meanwhile), the rest did not, and everyone sees that.
    let text = get_text(&server, "rate").await;
    assert!(
        (48..=50).contains(&text.len()),
        "{} edits accepted",
        text.len()
    );
    other.pump_until(|c| c.text() == text, WAIT).await;
    // The other client carries on.
    let echoes = other.received_updates;
    other.append("!").await;
    other
        .pump_until(|c| c.received_updates > echoes, WAIT)
        .await;
    assert_eq!(get_text(&server, "rate").await, format!("{text}!"));
}

#[tokio::test]
async fn excess_awareness_is_dropped_not_closed() {
    // 1 a second, bursts of 10.
    let server = start(&["--max-awareness-per-sec", "1"]).await;
    let mut chatty = Client::connect(&server.ws("aw-rate")).await;
    let mut frame = Vec::new();
    for i in 0..30 {
        chatty
            .awareness
            .set_local_state_raw(format!(r#"{{"user":{{"name":"n{i}"}}}}"#));
        frame.extend(Message::Awareness(chatty.awareness.update().unwrap()).encode_v1());
    }
    chatty.send_raw(frame).await;
    server
        .wait_metric(
            "tandem_limit_refusals_total{limit=\"awareness_rate\"}",
            |v| v == 20.0,
        )
        .await;
    // Still connected: its edits are echoed.
    chatty.append("still here").await;
    chatty.pump_until(|c| c.received_updates >= 1, WAIT).await;
    assert!(chatty.closed.is_none());
}

/// Appends `s` to `doc`'s text; returns the update.
fn append_update(doc: &Doc, s: &str) -> Vec<u8> {
    let text = doc.get_or_insert_text("content");
    let mut txn = doc.transact_mut();
    let len = text.len(&txn);
    text.insert(&mut txn, len, s);
    txn.encode_update_v1()
}

/// The JSON error of a refused request, checked for its status.
async fn refusal(res: reqwest::Response, status: u16) -> String {
    assert_eq!(res.status().as_u16(), status);
    let body: serde_json::Value = res.json().await.expect("a JSON error");
    body["error"]
        .as_str()
        .expect("an error message")
        .to_string()
}

#[tokio::test]
async fn an_update_past_the_document_size_limit_is_refused() {
    let server = start(&["--max-document-bytes", "1000"]).await;
    let api = Api::new(&server);
    let mut a = Client::connect(&server.ws("big")).await;
    a.append(&"x".repeat(600)).await;
    a.pump_until(|c| c.received_updates >= 1, WAIT).await;
    a.append(&"y".repeat(600)).await;
    let (code, reason) = a.closed_with(WAIT).await;
    assert_eq!(code, 4413, "{reason}");
    assert!(reason.contains("size limit"), "{reason}");
    assert_eq!(
        server
            .metric("tandem_limit_refusals_total{limit=\"document_size\"}")
            .await,
        1.0
    );
    assert_eq!(get_text(&server, "big").await, "x".repeat(600));
    // The HTTP API refuses the same way, with 413.
    let author = new_doc();
    let update = append_update(&author, &"z".repeat(600));
    let error = refusal(api.apply_update("big", update).await, 413).await;
    assert!(error.contains("size limit"), "{error}");
    assert_eq!(get_text(&server, "big").await, "x".repeat(600));
}

#[tokio::test]
async fn changes_with_missing_dependencies_are_not_kept() {
    let server = start(&["--max-pending-bytes", "100", "--unload-grace-secs", "0"]).await;
    let mut other = Client::connect(&server.ws("dep")).await;
    let mut bad = Client::connect(&server.ws("dep")).await;
    // An author's two edits; the server gets only the second, which depends on the first.
    let author = new_doc();
    let first = append_update(&author, &"a".repeat(10));
    let second = append_update(&author, &"b".repeat(300));
    bad.send(Message::Sync(SyncMessage::Update(second))).await;
    let (code, reason) = bad.closed_with(WAIT).await;
    assert_eq!(code, 1008, "{reason}");
    assert!(reason.contains("depends on changes"), "{reason}");
    assert_eq!(
        server
            .metric("tandem_limit_refusals_total{limit=\"pending\"}")
            .await,
        1.0
    );
    // The first edit arrives: had the room kept the second, both would show now.
    other.send(Message::Sync(SyncMessage::Update(first))).await;
    other.pump_until(|c| c.received_updates >= 1, WAIT).await;
    assert_eq!(other.text(), "a".repeat(10));
    assert_eq!(get_text(&server, "dep").await, "a".repeat(10));
    // Nor does the database hold it: the document reloads the same.
    other.close().await;
    server.wait_unloaded("dep").await;
    assert_eq!(get_text(&server, "dep").await, "a".repeat(10));
}

#[tokio::test]
async fn named_versions_are_capped() {
    let server = start(&[
        "--max-named-versions",
        "2",
        "--named-version-interval-secs",
        "0",
    ])
    .await;
    let api = Api::new(&server);
    let mut a = Client::connect(&server.ws("named")).await;
    a.append("text").await;
    a.pump_until(|c| c.received_updates >= 1, WAIT).await;
    for (i, label) in ["one", "two"].into_iter().enumerate() {
        ok_json(api.create_version("named", label).await, 201).await;
        // A change between them: naming an unchanged state stores no new version. The
        // echo, not the local text, says the server holds it.
        a.append(label).await;
        a.pump_until(|c| c.received_updates >= i + 2, WAIT).await;
    }
    let error = refusal(api.create_version("named", "three").await, 409).await;
    assert!(error.contains("named versions"), "{error}");
    assert_eq!(
        server
            .metric("tandem_limit_refusals_total{limit=\"named_versions\"}")
            .await,
        1.0
    );
}

#[tokio::test]
async fn naming_an_unchanged_document_stores_no_second_copy() {
    let server = start(&["--named-version-interval-secs", "0"]).await;
    let api = Api::new(&server);
    let mut a = Client::connect(&server.ws("same")).await;
    a.append("text").await;
    a.pump_until(|c| c.received_updates >= 1, WAIT).await;
    let first = ok_json(api.create_version("same", "one").await, 201).await;
    // Nothing changed: the same version comes back, with its own name.
    let again = ok_json(api.create_version("same", "two").await, 201).await;
    assert_eq!(again["version"], first["version"]);
    assert_eq!(again["label"], "one");
    a.append(" more").await;
    // The echo, not the local text: the server must hold the edit before it is named.
    a.pump_until(|c| c.received_updates >= 2, WAIT).await;
    let next = ok_json(api.create_version("same", "three").await, 201).await;
    assert_ne!(next["version"], first["version"], "{first} {again} {next}");
    let list = ok_json(api.versions("same").await, 200).await;
    assert_eq!(list["versions"].as_array().unwrap().len(), 2, "{list}");
}

#[tokio::test]
async fn named_versions_are_rate_limited() {
    let server = start(&["--named-version-interval-secs", "3600"]).await;
    let api = Api::new(&server);
    let mut a = Client::connect(&server.ws("often")).await;
    a.append("text").await;
    a.pump_until(|c| c.received_updates >= 1, WAIT).await;
    ok_json(api.create_version("often", "one").await, 201).await;
    let error = refusal(api.create_version("often", "two").await, 429).await;
    assert!(error.contains("one named version per 3600 s"), "{error}");
    assert_eq!(
        server
            .metric("tandem_limit_refusals_total{limit=\"version_rate\"}")
            .await,
        1.0
    );
}

/// Unloading takes a version if anything changed since the last one; a client resending
/// what the document already has changed nothing.
#[tokio::test]
async fn a_duplicate_update_makes_no_new_version() {
    let server = start(&["--unload-grace-secs", "0"]).await;
    let api = Api::new(&server);
    let author = new_doc();
    let update = append_update(&author, "hello");
    for round in 0..2 {
        let mut a = Client::connect(&server.ws("dup")).await;
        a.send(Message::Sync(SyncMessage::Update(update.clone())))
            .await;
        a.pump_until(|c| c.received_updates >= 1, WAIT).await;
        a.close().await;
        server.wait_unloaded("dup").await;
        let versions = ok_json(api.versions("dup").await, 200).await;
        assert_eq!(
            versions["versions"].as_array().unwrap().len(),
            1,
            "round {round}: {versions}"
        );
    }
}
