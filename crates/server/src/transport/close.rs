//! How a WebSocket ends: the reasons the socket loop itself closes with, the typed
//! failures of the socket, and the rule for what is sent when it closes. Reasons that
//! the rooms give (limits, deletes, shutdown) are [`CloseReason`]s made in `peer.rs`;
//! this module adds the ones only a socket has. Codes are documented in docs/PROTOCOL.md.

use tokio_tungstenite::tungstenite;

use crate::peer::CloseReason;

/// RFC 6455's code for a connection that ended without a close frame. It is only
/// logged, never sent: a socket that failed cannot carry one.
pub(crate) const ABNORMAL: u16 = 1006;

/// A close frame's reason must fit in 123 bytes (RFC 6455 control frame limit).
const MAX_REASON: usize = 123;

/// A failure of the socket itself, from the WebSocket library's typed error.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SocketError {
    /// A frame or message over `--max-message-size`: the client is told (1009).
    #[error("message too big")]
    TooBig,
    /// Reading failed otherwise (the connection broke, the client broke the protocol).
    #[error("read failed: {0}")]
    Read(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("send failed")]
    Send,
}

/// A fragmented message past the size limit, refused by our reader under the library
/// (`metered.rs`) at the frame that passes it, before the library reserves that frame.
#[derive(Debug, thiserror::Error)]
#[error("message larger than the size limit")]
pub(crate) struct MessageTooBig;

/// Whether a `tungstenite` error means the client sent more than the size limit.
pub(crate) fn is_too_big(err: &tungstenite::Error) -> bool {
    use tungstenite::{error::ProtocolError, Error};
    match err {
        Error::Capacity(_) | Error::Protocol(ProtocolError::ControlFrameTooBig) => true,
        Error::Io(e) => e.get_ref().is_some_and(|e| e.is::<MessageTooBig>()),
        _ => false,
    }
}

/// How a socket loop ended, which decides what is sent to close the socket.
#[derive(Debug)]
pub(crate) enum Ending {
    /// The client closed: a close frame, or the stream ended. The library has queued the
    /// echo of its close frame; flushing it lets the client see its own code rather than
    /// an abnormal 1006.
    ByClient,
    /// The socket failed; nothing more can be written to it.
    Broken(SocketError),
    /// The server closes the socket with this code and reason.
    Closed(CloseReason),
}

impl From<CloseReason> for Ending {
    fn from(reason: CloseReason) -> Self {
        Ending::Closed(reason)
    }
}

impl Ending {
    /// A failed read: too big a message is a server close (1009) the client is told
    /// about; anything else broke the socket.
    pub(crate) fn of_read(err: SocketError, max_message_size: usize) -> Ending {
        match err {
            SocketError::TooBig => Ending::Closed(too_big(max_message_size)),
            err => Ending::Broken(err),
        }
    }

    /// The code and reason logged for this ending.
    pub(crate) fn reason(&self) -> CloseReason {
        match self {
            Ending::ByClient => client_closed(),
            Ending::Broken(err) => CloseReason::new(ABNORMAL, err.to_string()),
            Ending::Closed(reason) => reason.clone(),
        }
    }

    /// The close frame to send, its reason cut to fit: only for a server close, and
    /// never with the code that means no frame was sent.
    pub(crate) fn frame(&self) -> Option<(u16, String)> {
        match self {
            Ending::Closed(reason) if reason.code != ABNORMAL => {
                Some((reason.code, fit_reason(&reason.reason)))
            }
            _ => None,
        }
    }
}

/// A reason cut to the close frame's 123 bytes, on a character boundary.
pub(crate) fn fit_reason(reason: &str) -> String {
    let mut end = reason.len().min(MAX_REASON);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    reason[..end].to_string()
}

/// The client ended the connection (a close frame, or `DELETE` on an HTTP session).
pub(crate) fn client_closed() -> CloseReason {
    CloseReason::new(1000, "client closed")
}

/// A text frame: the protocols are binary. `protocol` names what to send instead.
pub(crate) fn text_frame(protocol: &str) -> CloseReason {
    CloseReason::new(
        1003,
        format!("text frames are not supported: send binary {protocol} messages"),
    )
}

/// A frame or message over `--max-message-size`.
pub(crate) fn too_big(max_message_size: usize) -> CloseReason {
    CloseReason::new(
        1009,
        format!("message larger than {max_message_size} bytes"),
    )
}

/// A Hocuspocus socket that presented no accepted token within `--auth-timeout-secs`.
pub(crate) fn auth_timeout(secs: u64) -> CloseReason {
    CloseReason::new(4408, format!("no token accepted within {secs} s"))
}

/// A Hocuspocus socket that sent more than it may hold for documents awaiting a token.
pub(crate) fn held_before_auth(messages: usize, bytes: usize) -> CloseReason {
    CloseReason::new(
        1008,
        format!("too much sent before authentication (limit {messages} messages, {bytes} bytes)"),
    )
}

#[cfg(test)]
#[path = "close_tests.rs"]
mod tests;
