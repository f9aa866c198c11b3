//! Limits on what one client may make a room do: message rates, document size, pending
//! structs, versions. Each refusal is checked for its close code or status, its reason and
//! its metric, and for leaving everyone else working.

use crate::kit::*;
use yrs::{sync::Message, updates::encoder::Encode};

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
