//! Read-only tokens: the holder sees the document on every transport, and its edits are
//! refused without being stored or relayed.

use super::*;

#[tokio::test]
async fn read_only_websocket_sees_but_cannot_edit() {
    let server = token_server().await;
    let doc = "ro-ws";
    let mut writer = Client::connect(&ws_url(&server, doc, &token(doc, Access::Write))).await;
    writer.append("hello").await;
    writer.pump_until(|c| c.received_updates >= 1, WAIT).await;
    writer.set_awareness(r#"{"user":{"name":"writer"}}"#).await;
    let wid = writer.client_id();

    let mut reader = Client::connect(&ws_url(&server, doc, &token(doc, Access::Read))).await;
    assert_eq!(reader.text(), "hello", "the document is sent");
    reader
        .pump_until(
            |c| matches!(c.peers.get(&wid), Some(Some(s)) if s.contains("writer")),
            WAIT,
        )
        .await;
    writer.append(" world").await;
    writer.pump_until(|c| c.received_updates >= 2, WAIT).await;
    reader.pump_until(|c| c.text() == "hello world", WAIT).await;
    // Its own awareness echo comes after any answer to its (empty) sync step 2.
    let rid = reader.client_id();
    reader.set_awareness(r#"{"user":{"name":"reader"}}"#).await;
    reader
        .pump_until(
            |c| matches!(c.peers.get(&rid), Some(Some(s)) if s.contains("reader")),
            WAIT,
        )
        .await;
    assert_eq!(reader.denied, None, "denied before trying to edit");

    let writer_updates = writer.received_updates;
    reader.send_raw(hand_made_update("EVIL ")).await;
    reader.pump_until(|c| c.denied.is_some(), WAIT).await;
    let reason = reader.denied.take().unwrap();
    assert!(reason.contains("read"), "{reason}");
    // Told once: further attempts are dropped silently. Its awareness, sent after, is
    // relayed (to itself and the writer) behind whatever the attempt caused.
    reader.send_raw(hand_made_update("MORE ")).await;
    reader.set_awareness(r#"{"user":{"name":"viewer"}}"#).await;
    reader
        .pump_until(
            |c| matches!(c.peers.get(&rid), Some(Some(s)) if s.contains("viewer")),
            WAIT,
        )
        .await;
    assert_eq!(reader.denied, None, "permission denied sent twice");
    assert!(
        reader.closed.is_none(),
        "a read-only client stays connected"
    );
    writer
        .pump_until(
            |c| matches!(c.peers.get(&rid), Some(Some(s)) if s.contains("viewer")),
            WAIT,
        )
        .await;
    assert_eq!(
        writer.received_updates, writer_updates,
        "refused edit relayed"
    );
    assert_eq!(writer.text(), "hello world");
    assert_eq!(reader.text(), "hello world");
    assert_eq!(admin_text(&server, doc).await, "hello world");
    // A fresh writer loads the same.
    let late = Client::connect(&ws_url(&server, doc, &token(doc, Access::Write))).await;
    assert_eq!(late.text(), "hello world");

    // The read-only token can't write through the API either.
    let res = Api::new(&server)
        .bearer(&token(doc, Access::Read))
        .apply_update(doc, hand_made_update("x")[3..].to_vec())
        .await;
    expect_error(res, 403).await;
    assert_eq!(admin_text(&server, doc).await, "hello world");
}

#[tokio::test]
async fn read_only_sse_and_poll_cannot_edit() {
    let server = token_server().await;
    let doc = "ro-http";
    let mut writer = Client::connect(&ws_url(&server, doc, &token(doc, Access::Write))).await;
    writer.append("base").await;
    writer.pump_until(|c| c.received_updates >= 1, WAIT).await;
    writer.set_awareness(r#"{"user":{"name":"writer"}}"#).await;
    let wid = writer.client_id();
    let read = token(doc, Access::Read);

    let mut sse = SseClient::open(&server, doc, Some(&read)).await.unwrap();
    sse.pump_until(|c| c.y.synced, WAIT).await;
    let mut poll = PollClient::open(&server, doc, Some(&read)).await.unwrap();
    poll.start().await;
    assert_eq!(
        (sse.y.text(), poll.y.text()),
        ("base".into(), "base".into())
    );
    sse.pump_until(|c| c.y.peers.contains_key(&wid), WAIT).await;
    poll.pump_until(|c| c.y.peers.contains_key(&wid), WAIT)
        .await;
    let (sid, pid) = (sse.y.client_id(), poll.y.client_id());
    let has = |peers: &std::collections::HashMap<u64, Option<String>>, id: u64, name: &str| matches!(peers.get(&id), Some(Some(s)) if s.contains(name));
    // The echo of each one's awareness comes after any answer to its sync step 2.
    sse.set_awareness(r#"{"user":{"name":"sse-1"}}"#).await;
    poll.set_awareness(r#"{"user":{"name":"poll-1"}}"#).await;
    sse.pump_until(|c| has(&c.y.peers, sid, "sse-1"), WAIT)
        .await;
    poll.pump_until(|c| has(&c.y.peers, pid, "poll-1"), WAIT)
        .await;
    assert_eq!(sse.y.denied_count, 0, "sse denied before editing");
    assert_eq!(poll.y.denied_count, 0, "poll denied before editing");

    let writer_updates = writer.received_updates;
    for _ in 0..2 {
        sse.send(hand_made_update("SSE ")).await;
        poll.send(hand_made_update("POLL ")).await;
    }
    // Awareness from both is relayed, behind whatever their attempts caused.
    sse.set_awareness(r#"{"user":{"name":"sse-viewer"}}"#).await;
    poll.set_awareness(r#"{"user":{"name":"poll-viewer"}}"#)
        .await;
    sse.pump_until(|c| has(&c.y.peers, sid, "sse-viewer"), WAIT)
        .await;
    poll.pump_until(|c| has(&c.y.peers, pid, "poll-viewer"), WAIT)
        .await;
    assert_eq!(sse.y.denied_count, 1);
    assert_eq!(poll.y.denied_count, 1);
    assert!(sse.y.denied.as_deref().unwrap().contains("read"));
    writer
        .pump_until(
            |c| has(&c.peers, sid, "sse-viewer") && has(&c.peers, pid, "poll-viewer"),
            WAIT,
        )
        .await;
    assert_eq!(writer.received_updates, writer_updates);
    assert_eq!(writer.text(), "base");
    assert_eq!(admin_text(&server, doc).await, "base");
    // Their copies never got anything from the server beyond the base text.
    assert_eq!(sse.y.text(), "base");
    assert_eq!(poll.y.text(), "base");
}
