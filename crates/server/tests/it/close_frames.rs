//! Close frames reach the client: the server's reason is read as sent (not as 1006, an
//! abnormal end) even by a client that is still writing when the server closes, and a
//! client's own close is echoed.

use crate::kit::*;
use futures::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::{
    protocol::{frame::coding::CloseCode, CloseFrame},
    Error as WsError, Message as WsMessage,
};

/// What a raw client sees when the server closes while it is still writing: it sends
/// `first` (which the server refuses at its header) and then more, and only then reads,
/// as a browser busy uploading a large edit does. Returns the close code and reason read;
/// fails if a write failed, as it does when the server resets the connection (a browser
/// whose write fails reports 1006, whatever close frame the server sent).
async fn close_seen_while_writing(url: &str, first: Vec<u8>) -> (u16, String) {
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    if url.ends_with("/hocuspocus") {
        // Authenticated first: before a token, a big frame waits unread (`pre_auth.rs`).
        let auth = [&[3u8][..], b"big", &[2, 0, 0]].concat();
        ws.send(WsMessage::Binary(auth.into())).await.unwrap();
    }
    let sent = ws.send(WsMessage::Binary(first.into())).await;
    assert!(sent.is_ok(), "the client's write failed: {sent:?}");
    // And a few more, while the close is on its way.
    for _ in 0..16 {
        let sent = ws.send(WsMessage::Binary(vec![0u8; 1024].into())).await;
        assert!(
            !matches!(sent, Err(WsError::Io(_))),
            "the client's write failed: {sent:?}"
        );
    }
    loop {
        match tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("no close within WAIT")
        {
            Some(Ok(WsMessage::Close(Some(frame)))) => {
                return (u16::from(frame.code), frame.reason.to_string())
            }
            Some(Ok(WsMessage::Close(None))) => return (1005, String::new()),
            Some(Ok(_)) => {} // the sync messages sent on connect
            other => panic!("no close frame: {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_message_too_big_is_closed_with_1009_while_the_client_writes() {
    let server = start(&["--max-message-size", "4096"]).await;
    let hocuspocus = format!("ws://{}/hocuspocus", server.addr);
    for (n, url) in [server.ws("big"), hocuspocus].into_iter().enumerate() {
        // 16 MiB: the server refuses at the frame header, long before the client is done.
        let (code, reason) = close_seen_while_writing(&url, vec![0u8; 16 << 20]).await;
        assert_eq!(code, 1009, "{url}: {reason}");
        assert!(reason.contains("larger than 4096 bytes"), "{url}: {reason}");
        server
            .wait_metric("tandem_invalid_messages_total{reason=\"too_big\"}", |v| {
                v == n as f64 + 1.0
            })
            .await;
    }
}

#[tokio::test]
async fn a_client_close_is_echoed() {
    let server = start(&[]).await;
    let hocuspocus = format!("ws://{}/hocuspocus", server.addr);
    for url in [server.ws("echo"), hocuspocus] {
        let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
        ws.send(WsMessage::Close(Some(CloseFrame {
            code: CloseCode::Away,
            reason: "bye".into(),
        })))
        .await
        .unwrap();
        let echoed = loop {
            match tokio::time::timeout(WAIT, ws.next())
                .await
                .expect("no answer to the close")
            {
                Some(Ok(WsMessage::Close(frame))) => break frame,
                Some(Ok(_)) => continue, // sync messages sent before the close
                other => panic!("{url}: close not echoed: {other:?}"),
            }
        };
        assert_eq!(echoed.map(|f| f.code), Some(CloseCode::Away), "{url}");
    }
}
