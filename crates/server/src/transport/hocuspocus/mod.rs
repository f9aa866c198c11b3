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

use axum::{
    extract::{Request, State},
    http::StatusCode,
    response::Response,
};
use bytes::Bytes;
use futures::{FutureExt, SinkExt, StreamExt};
use std::net::IpAddr;
use tokio_tungstenite::{tungstenite::Message, WebSocketStream};

use super::{
    close::{self, Ending, SocketError},
    handshake::{Handshake, Upgraded},
    metered::Metered,
    socket_loop::{self, Endpoint},
};
use crate::{
    edge::{self, ClientIp, Credentials, Enabled},
    error::ApiError,
    hocuspocus as hp, metric_names as m,
    state::SharedState,
    unauthenticated::Slot,
};
use documents::{Conn, DocEvent};
use gate::{Gate, Opener};

/// A Hocuspocus socket: its frames pass the pre-authentication gate, then the budget of
/// messages being received, then the WebSocket library.
pub(crate) type Socket = WebSocketStream<Metered<Gate<Upgraded>>>;

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
    /// When the socket is closed if no token has been accepted by then (4408).
    deadline: tokio::time::Instant,
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
    let account = state.receiving.account(ip);
    let wrap = move |stream: Upgraded| {
        let (gate, opener) = Gate::new(stream);
        (Metered::new(gate, account, max), opener)
    };
    Ok(handshake.accept(max, wrap, move |socket, opener| {
        let timeout = state.config.pre_auth.auth_timeout();
        let pre_auth = PreAuth {
            slot: Some(slot),
            opener,
            deadline: tokio::time::Instant::now() + timeout,
        };
        serve(socket, state, fallback, ip, pre_auth)
    }))
}

/// Not async, like `ws::serve`: the connection's task holds the loop's future alone.
fn serve(
    socket: Socket,
    state: SharedState,
    fallback: Fallback,
    ip: IpAddr,
    pre_auth: PreAuth,
) -> impl std::future::Future<Output = ()> + Send {
    metrics::counter!(m::CONNECTIONS_TOTAL, "transport" => LABEL).increment(1);
    let max = state.config.max_message_size;
    let conn = Conn::new(state, fallback, ip, pre_auth);
    tracing::info!(transport = LABEL, client = %ip, "connection opened");
    socket_loop::run(socket, conn, max).map(|close| {
        tracing::info!(transport = LABEL, code = close.code, reason = %close.reason, "connection closed");
    })
}

async fn send(socket: &mut Socket, key: &str, body: &[u8]) -> Result<(), Ending> {
    socket
        .send(Message::Binary(hp::encode(key, body)))
        .await
        .map_err(|_| Ending::Broken(SocketError::Send))
}

/// What a Hocuspocus socket writes next.
enum Ready {
    /// Some document's token has expired.
    Expired,
    /// A joined document's room sent something.
    Doc((u64, DocEvent)),
}

impl Endpoint for Conn {
    type Wire = Socket;
    type Ready = Ready;
    const LABEL: &'static str = LABEL;
    const PROTOCOL: &'static str = "Hocuspocus";

    async fn ready(&mut self) -> Result<Ready, Ending> {
        let expiry = expiry::sleep(self.next_expiry());
        let waiting = !self.pre_auth.is_open();
        tokio::select! {
            _ = tokio::time::sleep_until(self.pre_auth.deadline), if waiting => {
                metrics::counter!(m::LIMIT_REFUSALS, "limit" => "auth_timeout").increment(1);
                let secs = self.state.config.pre_auth.auth_timeout().as_secs();
                Err(close::auth_timeout(secs).into())
            }
            _ = expiry => Ok(Ready::Expired),
            Some(first) = self.streams.next(), if !self.streams.is_empty() => Ok(Ready::Doc(first)),
        }
    }

    async fn write(&mut self, socket: &mut Socket, ready: Ready) -> Result<(), Ending> {
        match ready {
            Ready::Expired => self.expire(socket).await,
            Ready::Doc(first) => self.write_ready(socket, first).await,
        }
    }

    async fn on_frame(&mut self, socket: &mut Socket, data: Bytes) -> Result<(), Ending> {
        Conn::on_frame(self, socket, data).await
    }

    async fn leave(&mut self) {
        self.leave_all().await;
    }
}
