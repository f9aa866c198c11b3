//! Awareness over WebSocket: relayed, answered on query, removed when its client leaves
//! and when it goes stale.

use std::time::Duration;

use crate::kit::*;
use yrs::sync::Message;

#[tokio::test]
async fn awareness_is_relayed_and_removed_on_disconnect() {
    let server = start(&[]).await;
    let mut a = Client::connect(&server.ws("aw")).await;
    let mut b = Client::connect(&server.ws("aw")).await;
    a.set_awareness(r#"{"user":{"name":"ann","color":"red"}}"#)
        .await;
    let id = a.client_id();
    b.pump_until(
        |c| matches!(c.peers.get(&id), Some(Some(s)) if s.contains("ann")),
        WAIT,
    )
    .await;
    // The sender sees its own state echoed (keeps the JS client's liveness check happy).
    a.pump_until(|c| c.peers.contains_key(&id), WAIT).await;
    // A newcomer is told about current states on join.
    let c = Client::connect(&server.ws("aw")).await;
    let mut c = c;
    c.pump_until(|c| matches!(c.peers.get(&id), Some(Some(_))), WAIT)
        .await;
    a.close().await;
    b.pump_until(|c| matches!(c.peers.get(&id), Some(None)), WAIT)
        .await;
    c.pump_until(|c| matches!(c.peers.get(&id), Some(None)), WAIT)
        .await;
}

#[tokio::test]
async fn query_awareness_returns_all_states() {
    let server = start(&[]).await;
    let mut a = Client::connect(&server.ws("qa")).await;
    a.set_awareness(r#"{"user":{"name":"ann"}}"#).await;
    let mut c = Client::connect(&server.ws("qa")).await;
    c.set_awareness(r#"{"user":{"name":"cid"}}"#).await;
    let (ida, idc) = (a.client_id(), c.client_id());
    let both = |c: &Client| {
        matches!(c.peers.get(&ida), Some(Some(s)) if s.contains("ann"))
            && matches!(c.peers.get(&idc), Some(Some(s)) if s.contains("cid"))
    };
    // The newcomer hears of both (on join or relayed); then it forgets and asks.
    let mut b = Client::connect(&server.ws("qa")).await;
    b.pump_until(both, WAIT).await;
    b.peers.clear();
    b.send(Message::AwarenessQuery).await;
    b.pump_until(both, WAIT).await;
}

/// A client that stops renewing its awareness (a frozen tab) loses its cursor for
/// everyone after the timeout, even though its socket stays open.
#[tokio::test]
async fn stale_awareness_expires() {
    let server = start(&["--awareness-timeout-secs", "1"]).await;
    let mut frozen = Client::connect(&server.ws("stale")).await;
    let mut b = Client::connect(&server.ws("stale")).await;
    frozen.set_awareness(r#"{"user":{"name":"zed"}}"#).await;
    let id = frozen.client_id();
    b.pump_until(|c| matches!(c.peers.get(&id), Some(Some(_))), WAIT)
        .await;
    let started = std::time::Instant::now();
    b.pump_until(|c| matches!(c.peers.get(&id), Some(None)), WAIT)
        .await;
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "removed too early"
    );
    assert!(frozen.closed.is_none());
}
