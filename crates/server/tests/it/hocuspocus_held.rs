//! The cap on what a Hocuspocus socket may send for a document before its token arrives:
//! the server holds those messages for the authentication, 1,000 at most (summed over the
//! socket); one more closes the socket with 1008, saying why.

use crate::kit::*;
use futures::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message as WsMessage;

/// The server's cap (`transport/hocuspocus/mod.rs`, `MAX_HELD_MESSAGES`).
const CAP: usize = 1000;

#[tokio::test]
async fn hocuspocus_messages_held_before_authentication_are_capped() {
    let server = start(&["--secret", "held-before-auth-secret-0123456789"]).await;
    let url = format!("ws://{}/hocuspocus", server.addr);
    let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    // For document "d": message type 0 (sync), a y-sync step 1 with an empty state vector.
    // Twelve bytes on the wire, so all of them fit in the pre-authentication byte budget.
    let sync = vec![1, b'd', 0, 0, 1, 0];
    for _ in 0..CAP {
        ws.send(WsMessage::Binary(sync.clone().into()))
            .await
            .unwrap();
    }
    // A ping behind them: its pong comes once the server has read all of them, and no close
    // may come first.
    ws.send(WsMessage::Ping(b"held".to_vec().into()))
        .await
        .unwrap();
    loop {
        match tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("no pong")
        {
            Some(Ok(WsMessage::Pong(p))) if p.as_ref() == b"held" => break,
            Some(Ok(WsMessage::Close(frame))) => panic!("closed at or below the cap: {frame:?}"),
            Some(Ok(_)) => {}
            other => panic!("socket ended: {other:?}"),
        }
    }
    ws.send(WsMessage::Binary(sync.into())).await.unwrap();
    let (code, reason) = loop {
        match tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("no close")
        {
            Some(Ok(WsMessage::Close(Some(frame)))) => {
                break (u16::from(frame.code), frame.reason.to_string())
            }
            Some(Ok(_)) => {}
            other => panic!("no close frame: {other:?}"),
        }
    };
    assert_eq!(code, 1008, "{reason}");
    assert!(
        reason.contains("before authentication") && reason.contains("1000 messages"),
        "{reason}"
    );
    assert_eq!(
        server
            .metric("tandem_invalid_messages_total{reason=\"held_before_auth\"}")
            .await,
        1.0
    );
}
