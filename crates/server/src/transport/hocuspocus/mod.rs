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
//! A refused token, a deleted document, an expired token (`expiry.rs`) or the client's own
//! close message end one document only.
//!
//! The socket opens before any credential, so until its first token is accepted it is
//! held short: frames past a small budget wait unread (`gate.rs`), the socket must
//! authenticate within `--auth-timeout-secs` (else 4408), and each address may hold only
//! `--max-unauthenticated-per-ip` such sockets (else 429, `crate::unauthenticated`).

mod documents;
mod expiry;
mod gate;
mod handshake;

use axum::{
    extract::{Request, State},
    http::StatusCode,
    response::Response,
};
use futures::{SinkExt, StreamExt};
use std::net::IpAddr;
use tokio_tungstenite::tungstenite::{protocol::CloseFrame, Message};

use crate::{
    edge::{self, ClientIp, Credentials, Enabled},
    error::ApiError,
    hocuspocus as hp, metric_names as m,
    peer::CloseReason,
    state::SharedState,
    unauthenticated::Slot,
};
use documents::Conn;
use gate::Opener;
use handshake::{Handshake, Socket};

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

/// Until the socket's first token is accepted: its place in the per-address count of
/// such sockets, and the gate that keeps its frames small (`gate.rs`).
pub(super) struct PreAuth {
    slot: Option<Slot>,
    opener: Opener,
}

impl PreAuth {
    fn is_open(&self) -> bool {
        self.opener.is_open()
    }

    /// A token was accepted: frames of any size may come, and the socket no longer
    /// counts as waiting.
    fn open(&mut self) {
        self.opener.open();
        self.slot = None;
    }
}

#[utoipa::path(
    get, path = "/hocuspocus", tag = "transports",
    summary = "A Hocuspocus-protocol WebSocket (many documents on one socket)",
    description = "A WebSocket upgrade; each message names its document and authenticates \
        with a token in the protocol's Auth message (docs/PROTOCOL.md).",
    responses(
        (status = 101, description = "Switching protocols: the socket is open"),
        crate::openapi_parts::Refused,
    )
)]
pub(crate) async fn upgrade(
    State(state): State<SharedState>,
    _: Enabled<edge::WebSocket>,
    Credentials { token, bearer }: Credentials,
    ClientIp(ip): ClientIp,
    mut req: Request,
) -> Result<Response, ApiError> {
    let handshake = Handshake::of(&mut req)?;
    let slot = state
        .unauthenticated
        .admit(ip)
        .map_err(|e| ApiError::new(StatusCode::TOO_MANY_REQUESTS, e.to_string()))?;
    let fallback = Fallback { token, bearer };
    let max = state.config.max_message_size;
    Ok(handshake.accept(max, move |socket, opener| {
        let pre_auth = PreAuth {
            slot: Some(slot),
            opener,
        };
        serve(socket, state, fallback, ip, pre_auth)
    }))
}

async fn serve(
    mut socket: Socket,
    state: SharedState,
    fallback: Fallback,
    ip: IpAddr,
    pre_auth: PreAuth,
) {
    metrics::counter!(m::CONNECTIONS_TOTAL, "transport" => LABEL).increment(1);
    let timeout = state.config.pre_auth.auth_timeout();
    let deadline = tokio::time::Instant::now() + timeout;
    let mut conn = Conn::new(state, fallback, ip, pre_auth);
    tracing::info!(transport = LABEL, client = %ip, "connection opened");
    let close = loop {
        let expiry = expiry::sleep(conn.next_expiry());
        tokio::select! {
            _ = tokio::time::sleep_until(deadline), if !conn.pre_auth.is_open() => {
                metrics::counter!(m::LIMIT_REFUSALS, "limit" => "auth_timeout").increment(1);
                break CloseReason::new(4408, format!("no token accepted within {} s", timeout.as_secs()));
            }
            _ = expiry => {
                if let Err(reason) = conn.expire(&mut socket).await {
                    break reason;
                }
            }
            Some(first) = conn.streams.next(), if !conn.streams.is_empty() => {
                match conn.write_ready(&mut socket, first).await {
                    Ok(()) => {}
                    Err(reason) => break reason,
                }
            }
            incoming = socket.next() => match incoming {
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
        let _ = socket.flush().await;
    } else if close.code != 1006 {
        let frame = CloseFrame {
            code: close.code.into(),
            reason: crate::transport::ws::close_reason_text(&close.reason).into(),
        };
        // The socket then lingers until the client has read this (`listener/socket.rs`):
        // reading on here would buffer the rest of an oversized frame.
        let _ = socket.send(Message::Close(Some(frame))).await;
    }
    tracing::info!(transport = LABEL, code = close.code, reason = %close.reason, "connection closed");
}

async fn send(socket: &mut Socket, key: &str, body: &[u8]) -> Result<(), CloseReason> {
    socket
        .send(Message::Binary(hp::encode(key, body)))
        .await
        .map_err(|_| CloseReason::new(1006, "send failed"))
}
