//! The one loop every WebSocket peer runs, y-websocket (`ws.rs`) and Hocuspocus
//! (`hocuspocus/`) alike: read frames, write what the rooms send, and close. What differs
//! is an [`Endpoint`]: how a binary frame reaches the rooms, and how what the rooms (or
//! the endpoint's own clocks: token expiry, the authentication deadline) produce is
//! written. The socket library differs too (axum's for y-websocket, ours under the
//! Hocuspocus pre-authentication gate), so the socket is a [`Wire`].
//!
//! The loop owns the rules common to both: text frames close with 1003, a message over
//! the size limit with 1009, ping and pong are the library's, and how the socket is
//! closed follows from its [`Ending`].

use std::future::Future;

use bytes::Bytes;
use futures::{Sink, SinkExt, Stream, StreamExt};

use super::close::{self, Ending, SocketError};
use crate::{metric_names as m, peer::CloseReason};

/// One frame read from the socket, as the loop tells them apart.
#[derive(Debug)]
pub(crate) enum Read {
    Binary(Bytes),
    Text,
    /// A close frame.
    Close,
    /// Ping and pong: the library answers pings itself.
    Control,
}

/// A WebSocket, in the terms the loop needs from either library.
pub(crate) trait Wire:
    Stream<Item = Result<Self::Message, Self::Failure>>
    + Sink<Self::Message, Error = Self::Failure>
    + Unpin
    + Send
{
    type Message: Send;
    type Failure: Send;
    fn read(message: Self::Message) -> Read;
    /// The library's error, typed by what the loop does about it.
    fn error(err: Self::Failure) -> SocketError;
    fn close_frame(code: u16, reason: String) -> Self::Message;
}

/// What one kind of WebSocket peer does with the socket.
pub(crate) trait Endpoint: Send {
    type Wire: Wire;
    /// Something to write: from the rooms, or the endpoint's own clocks.
    type Ready: Send;
    /// The transport, in metrics and logs.
    const LABEL: &'static str;
    /// What a client sending text is told to send instead (see [`close::text_frame`]).
    const PROTOCOL: &'static str;

    /// The next thing to write, or why the socket closes. Must be cancel safe: the loop
    /// drops it when a frame arrives first.
    fn ready(&mut self) -> impl Future<Output = Result<Self::Ready, Ending>> + Send;
    fn write(
        &mut self,
        socket: &mut Self::Wire,
        ready: Self::Ready,
    ) -> impl Future<Output = Result<(), Ending>> + Send;
    /// A binary frame from the client.
    fn on_frame(
        &mut self,
        socket: &mut Self::Wire,
        data: Bytes,
    ) -> impl Future<Output = Result<(), Ending>> + Send;
    /// The socket is closing: leave the rooms, before the close frame is written.
    fn leave(&mut self) -> impl Future<Output = ()> + Send;
}

/// What the loop does with one read: go on with a binary frame, or end.
pub(crate) fn on_read(
    read: Option<Result<Read, SocketError>>,
    protocol: &str,
    max_message_size: usize,
) -> Result<Option<Bytes>, Ending> {
    match read {
        Some(Ok(Read::Binary(data))) => Ok(Some(data)),
        Some(Ok(Read::Control)) => Ok(None),
        Some(Ok(Read::Text)) => {
            metrics::counter!(m::BAD_MESSAGES, "reason" => "text_frame").increment(1);
            Err(close::text_frame(protocol).into())
        }
        Some(Ok(Read::Close)) | None => Err(Ending::ByClient),
        Some(Err(err)) => {
            if matches!(err, SocketError::TooBig) {
                metrics::counter!(m::BAD_MESSAGES, "reason" => "too_big").increment(1);
            }
            Err(Ending::of_read(err, max_message_size))
        }
    }
}

/// Runs `endpoint` on `socket` until either side ends it, closes the socket, and says
/// why. Not an `async fn`: its arguments would be stored twice in the connection's task
/// (see `ws::serve`).
#[allow(clippy::manual_async_fn)]
pub(crate) fn run<E: Endpoint>(
    mut socket: E::Wire,
    mut endpoint: E,
    max_message_size: usize,
) -> impl Future<Output = CloseReason> + Send {
    async move {
        let ending = loop {
            // Unbiased, so neither direction starves the other.
            tokio::select! {
                ready = endpoint.ready() => match ready {
                    Ok(ready) => {
                        if let Err(ending) = endpoint.write(&mut socket, ready).await {
                            break ending;
                        }
                    }
                    Err(ending) => break ending,
                },
                incoming = socket.next() => {
                    let read = incoming.map(|r| r.map(E::Wire::read).map_err(E::Wire::error));
                    match on_read(read, E::PROTOCOL, max_message_size) {
                        Ok(Some(data)) => {
                            metrics::counter!(m::BYTES_IN, "transport" => E::LABEL)
                                .increment(data.len() as u64);
                            if let Err(ending) = endpoint.on_frame(&mut socket, data).await {
                                break ending;
                            }
                        }
                        Ok(None) => {}
                        Err(ending) => break ending,
                    }
                }
            }
        };
        endpoint.leave().await;
        if let Ending::ByClient = ending {
            let _ = socket.flush().await;
        } else if let Some((code, reason)) = ending.frame() {
            // A Hocuspocus socket then lingers until the client has read this
            // (`listener/socket.rs`): reading on here would buffer the rest of an
            // oversized frame.
            let _ = socket.send(E::Wire::close_frame(code, reason)).await;
        }
        ending.reason()
    }
}

#[cfg(test)]
#[path = "socket_loop_tests.rs"]
mod tests;
