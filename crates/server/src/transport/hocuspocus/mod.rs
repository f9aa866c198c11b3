//! Hocuspocus transport: `@hocuspocus/provider` clients on `GET /hocuspocus`.
//!
//! One socket carries many documents, each named in every frame (see [`crate::hocuspocus`]).
//! Each document the client authenticates for becomes an ordinary peer of that document's
//! room, so Hocuspocus and y-websocket clients share rooms. This module only multiplexes:
//! it checks each document's token, holds a document's frames until its token has passed,
//! strips the name on the way in and adds it on the way out.
//!
//! Rules per socket, not per document: a malformed frame closes the socket with 1007 (the
//! frame cannot be attributed safely), and a document whose outbound queue fills closes
//! the socket with 1013 like any slow client, because the documents share one TCP stream.
//! A refused token, a deleted document or the client's own close message end one document
//! only.

mod documents;

use axum::{
    extract::{
        ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade},
        State,
    },
    response::Response,
};
use futures::StreamExt;
use std::net::IpAddr;

use crate::{
    edge::{self, ClientIp, Credentials, Enabled},
    error::ApiError,
    hocuspocus as hp, metric_names as m,
    peer::CloseReason,
    state::SharedState,
};
use documents::Conn;

/// Documents one socket may have open or waiting for their token. Hocuspocus caps
/// pending documents at 100 after a memory-exhaustion advisory; here the cap covers open
/// ones too, since each costs a room peer.
pub(crate) const MAX_DOCUMENTS: usize = 100;
/// Frames held for documents whose token has not arrived, summed over the socket.
pub(crate) const MAX_HELD_MESSAGES: usize = 1000;
/// Bytes of those frames.
pub(crate) const MAX_HELD_BYTES: usize = 4 * 1024 * 1024;

/// A routing key is a document name (at most 128 characters) and, with the provider's
/// `sessionAwareness`, `\0` and a session id.
const MAX_KEY_LEN: usize = 256;

const LABEL: &str = "hocuspocus";

/// Connection-level credentials (`?token=` or `Authorization: Bearer`), used for a
/// document whose auth message carries an empty token.
#[derive(Default)]
struct Fallback {
    token: Option<String>,
    bearer: Option<String>,
}

pub(crate) async fn upgrade(
    State(state): State<SharedState>,
    _: Enabled<edge::WebSocket>,
    Credentials { token, bearer }: Credentials,
    ClientIp(ip): ClientIp,
    ws: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let fallback = Fallback { token, bearer };
    let max = state.config.max_message_size;
    Ok(ws
        .read_buffer_size(256)
        .write_buffer_size(16 * 1024)
        .max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| serve(socket, state, fallback, ip)))
}

async fn serve(mut socket: WebSocket, state: SharedState, fallback: Fallback, ip: IpAddr) {
    metrics::counter!(m::CONNECTIONS_TOTAL, "transport" => LABEL).increment(1);
    let mut conn = Conn::new(state, fallback, ip);
    tracing::info!(transport = LABEL, client = %ip, "connection opened");
    let close = loop {
        tokio::select! {
            Some(first) = conn.streams.next(), if !conn.streams.is_empty() => {
                match conn.write_ready(&mut socket, first).await {
                    Ok(()) => {}
                    Err(reason) => break reason,
                }
            }
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Binary(data))) => {
                    metrics::counter!(m::BYTES_IN, "transport" => LABEL).increment(data.len() as u64);
                    if let Err(reason) = conn.on_frame(&mut socket, data).await {
                        break reason;
                    }
                }
                Some(Ok(Message::Text(_))) => {
                    metrics::counter!(m::BAD_MESSAGES, "reason" => "text_frame").increment(1);
                    break CloseReason::new(1003, "text frames are not supported: send binary Hocuspocus messages");
                }
                Some(Ok(Message::Close(_))) | None => break CloseReason::new(1000, "client closed"),
                Some(Ok(_)) => {} // ping/pong frames: answered by the library
                Some(Err(err)) => {
                    let text = err.to_string();
                    if text.contains("too long") || text.contains("too big") || text.contains("Space limit") {
                        metrics::counter!(m::BAD_MESSAGES, "reason" => "too_big").increment(1);
                        break CloseReason::new(1009, format!("message larger than {} bytes", conn.state.config.max_message_size));
                    }
                    break CloseReason::new(1006, format!("read failed: {text}"));
                }
            }
        }
    };
    conn.leave_all().await;
    if close.reason == "client closed" {
        // Send the echo of the client's close frame the library queued.
        let _ = futures::SinkExt::flush(&mut socket).await;
    } else if close.code != 1006 {
        let frame = CloseFrame {
            code: close.code,
            reason: crate::transport::ws::close_reason_text(&close.reason).into(),
        };
        // The socket then lingers until the client has read this (`listener/socket.rs`):
        // reading on here would buffer the rest of an oversized frame.
        let _ = socket.send(Message::Close(Some(frame))).await;
    }
    tracing::info!(transport = LABEL, code = close.code, reason = %close.reason, "connection closed");
}

async fn send(socket: &mut WebSocket, key: &str, body: &[u8]) -> Result<(), CloseReason> {
    socket
        .send(Message::Binary(hp::encode(key, body)))
        .await
        .map_err(|_| CloseReason::new(1006, "send failed"))
}
