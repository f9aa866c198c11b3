//! The transport-neutral peer: what a room sees of a connection.
//!
//! A room talks to "a peer with an inbound message stream and a bounded outbound queue".
//! WebSocket, SSE and long polling each wrap this in a thin adapter: they push inbound
//! frames to the room and drain `outbound` to the wire. Keeping the queue bounded is what
//! stops one slow client from growing the server's memory: when it is full the room kicks
//! the peer with a close reason instead of dropping frames (a dropped frame would silently
//! corrupt that client's copy; a reconnect resyncs it).

use std::sync::{
    atomic::{AtomicU64, Ordering},
    Arc,
};

use bytes::Bytes;
use clap::ValueEnum;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

static NEXT_PEER_ID: AtomicU64 = AtomicU64::new(1);

pub(crate) type PeerId = u64;

/// One outgoing message as it sits in a peer's queue. A tokio queue allocates its first
/// block of 32 slots when the peer is made, so the slot size is paid by every idle
/// connection: a thin pointer costs a quarter of a `Bytes`. The room wraps each broadcast
/// once and every peer shares it.
pub(crate) type Frame = Arc<Outgoing>;

/// What a room sends a peer, in terms no client protocol owns: each transport encodes it
/// for its client. Only peers whose [`Features`] ask for them get the events past
/// [`Outgoing::Message`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outgoing {
    /// A y-protocol message (sync, awareness, auth), written as it is.
    Message(Bytes),
    /// `n` more of this peer's updates are committed (or, from a read-only peer, were
    /// empty: nothing of them is lost). [`Features::update_status`].
    Committed(u64),
    /// An update of this read-only peer was not applied. [`Features::update_status`].
    Refused,
    /// Another peer's stateless message, y-protocol encoded. [`Features::stateless`].
    Stateless(Bytes),
}

impl Outgoing {
    /// The y-protocol bytes, for a transport whose client understands nothing else.
    pub(crate) fn into_message(self) -> Option<Bytes> {
        match self {
            Outgoing::Message(bytes) => Some(bytes),
            _ => None,
        }
    }

    /// Bytes it stands for, for the byte counters.
    pub(crate) fn len(&self) -> usize {
        match self {
            Outgoing::Message(bytes) | Outgoing::Stateless(bytes) => bytes.len(),
            Outgoing::Committed(_) | Outgoing::Refused => 2,
        }
    }
}

impl From<Bytes> for Outgoing {
    fn from(bytes: Bytes) -> Self {
        Outgoing::Message(bytes)
    }
}

/// What a peer's client understands beyond the y-protocol; the room sends a peer only
/// the [`Outgoing`] events its features ask for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Features {
    /// Told when each of its updates is committed, or refused for a read-only peer.
    pub(crate) update_status: bool,
    /// Sends and receives stateless messages, relayed between such peers only.
    pub(crate) stateless: bool,
}

/// How a peer is connected; also the values of `--disable-transports` (Hocuspocus rides
/// on the WebSocket setting, so it is not one of them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ValueEnum)]
pub enum Transport {
    #[value(name = "websocket")]
    WebSocket,
    /// One document of a `@hocuspocus/provider` socket, which may carry several. Such a
    /// peer is told when each of its updates is committed (sync status) and receives
    /// stateless messages.
    #[value(skip)]
    Hocuspocus,
    Sse,
    Poll,
}

impl Transport {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Transport::WebSocket => "websocket",
            Transport::Hocuspocus => "hocuspocus",
            Transport::Sse => "sse",
            Transport::Poll => "poll",
        }
    }

    /// What this transport's clients understand beyond the y-protocol.
    pub(crate) fn features(self) -> Features {
        match self {
            Transport::Hocuspocus => Features {
                update_status: true,
                stateless: true,
            },
            Transport::WebSocket | Transport::Sse | Transport::Poll => Features::default(),
        }
    }
}

/// What a client may do in a room, and the access level a token grants (`read`/`write`
/// in JSON and on the command line).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ValueEnum, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    Read,
    Write,
}

/// Why the server ended a connection. Codes follow RFC 6455 where one fits; the HTTP
/// transports report the same reason in their final message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CloseReason {
    pub(crate) code: u16,
    pub(crate) reason: String,
}

impl CloseReason {
    pub(crate) fn new(code: u16, reason: impl Into<String>) -> Self {
        CloseReason {
            code,
            reason: reason.into(),
        }
    }
    pub(crate) fn going_away() -> Self {
        Self::new(1001, "server shutting down")
    }
    pub(crate) fn too_slow() -> Self {
        Self::new(
            1013,
            "client too slow: outbound queue full; reconnect to resync",
        )
    }
    pub(crate) fn storage_unavailable() -> Self {
        Self::new(1013, "storage unavailable: edit not accepted; retry later")
    }
    pub(crate) fn invalid(detail: impl std::fmt::Display) -> Self {
        Self::new(1007, format!("invalid message: {detail}"))
    }
    pub(crate) fn rate_limited(per_sec: u32) -> Self {
        Self::new(
            1008,
            format!("rate limit: more than {per_sec} messages per second; reconnect to resync"),
        )
    }
    /// The message rate of the peer's client over all its connections (`usage.rs`).
    pub(crate) fn client_rate_limited(detail: impl std::fmt::Display) -> Self {
        Self::new(1008, detail.to_string())
    }
    /// The share link that opened the connection was revoked (`link_checks.rs`).
    pub(crate) fn link_revoked() -> Self {
        Self::new(4403, "link revoked")
    }
    pub(crate) fn document_too_large(max: usize) -> Self {
        Self::new(
            4413,
            format!("document size limit reached ({max} bytes): edit not accepted"),
        )
    }
    /// The per-client memory limit (`--max-memory-per-client`): the same code as the
    /// document size limit, since the edit is refused for the same kind of reason.
    pub(crate) fn client_memory(max: u64) -> Self {
        Self::new(
            4413,
            format!(
                "memory limit of this client reached: {} MiB \
                 (raise --max-memory-per-client / TANDEM_MAX_MEMORY_PER_CLIENT)",
                max / (1024 * 1024)
            ),
        )
    }
    /// A limit of the client over time (its write quota): the edit may be sent again later.
    pub(crate) fn client_quota(detail: impl std::fmt::Display) -> Self {
        Self::new(4429, detail.to_string())
    }
    pub(crate) fn missing_dependencies(max: usize) -> Self {
        Self::new(
            1008,
            format!("update depends on changes the server does not have (over {max} bytes)"),
        )
    }
    /// A client or document over its apply-time budget (`room::apply_budget`): the
    /// server will do the work again once enough time has passed.
    pub(crate) fn work_limited(detail: impl std::fmt::Display) -> Self {
        Self::new(1013, format!("{detail}; retry later"))
    }
    pub(crate) fn internal_error() -> Self {
        Self::new(1011, "internal error in this document; reconnect")
    }
    /// The access token a connection was opened with has expired; the client should get
    /// a fresh one and reconnect.
    pub(crate) fn token_expired() -> Self {
        Self::new(4401, "access token expired")
    }
    pub(crate) fn deleted() -> Self {
        Self::new(4404, "document deleted")
    }
}

/// The room's end of a peer.
pub(crate) struct PeerHandle {
    pub(crate) id: PeerId,
    pub(crate) transport: Transport,
    /// Which events past y-protocol messages it is sent.
    pub(crate) features: Features,
    /// The user name from the client's token, shown in its presence.
    pub(crate) name: Option<String>,
    pub(crate) outbound: mpsc::Sender<Frame>,
    pub(crate) kick: oneshot::Sender<CloseReason>,
    /// Who the client is for the per-client limits (from the transport's open
    /// document); `None` for peers that no client owns.
    pub(crate) client: Option<crate::client_limits::ClientKey>,
}

/// The transport's end of a peer.
pub(crate) struct PeerEnd {
    pub(crate) outbound: mpsc::Receiver<Frame>,
    /// Fires when the room ends the connection; closed without a value when the room
    /// itself goes away.
    pub(crate) kicked: oneshot::Receiver<CloseReason>,
}

/// Makes both ends of a new peer with an outbound queue of `capacity` messages.
pub(crate) fn new_peer(
    transport: Transport,
    name: Option<String>,
    capacity: usize,
) -> (PeerHandle, PeerEnd) {
    let id = NEXT_PEER_ID.fetch_add(1, Ordering::Relaxed);
    let (tx, rx) = mpsc::channel(capacity.max(1));
    let (kick_tx, kick_rx) = oneshot::channel();
    (
        PeerHandle {
            id,
            transport,
            features: transport.features(),
            name,
            outbound: tx,
            kick: kick_tx,
            client: None,
        },
        PeerEnd {
            outbound: rx,
            kicked: kick_rx,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only the Hocuspocus provider understands the events past y-protocol messages: a
    /// y-websocket, SSE or polling client sent one would break or fill its queue.
    #[test]
    fn only_hocuspocus_peers_get_update_status_and_stateless_messages() {
        let all = Features {
            update_status: true,
            stateless: true,
        };
        assert_eq!(Transport::Hocuspocus.features(), all);
        for t in [Transport::WebSocket, Transport::Sse, Transport::Poll] {
            assert_eq!(t.features(), Features::default(), "{t:?}");
        }
        let (handle, _end) = new_peer(Transport::Hocuspocus, None, 1);
        assert_eq!(handle.features, all);
    }

    #[test]
    fn the_memory_refusal_names_its_setting_within_a_close_reason() {
        let reason = CloseReason::client_memory(u64::MAX).reason;
        assert!(reason.len() <= 123, "{} bytes: {reason}", reason.len());
        assert!(
            reason.contains("raise --max-memory-per-client / TANDEM_MAX_MEMORY_PER_CLIENT"),
            "{reason}"
        );
    }

    /// A team behind one NAT address that meets these limits learns from the close reason
    /// which setting to raise, and the reason fits a close frame (123 bytes).
    #[test]
    fn refusals_name_the_setting_to_raise_within_a_close_reason() {
        use crate::usage::UsageError;
        let rate = CloseReason::client_rate_limited(UsageError::Rate(u32::MAX)).reason;
        let writes = [
            UsageError::WriteBytes(2 << 30, 3600),
            UsageError::WriteBytes(1 << 40, 86_400),
            UsageError::WriteBytes(1000, 100),
        ]
        .map(|e| CloseReason::client_quota(e).reason);
        assert!(writes[0].contains("2048 MiB per 3600 s"), "{}", writes[0]);
        assert!(writes[2].contains("1000 bytes per 100 s"), "{}", writes[2]);
        for (reason, flag, env) in [
            (
                &rate,
                "--max-updates-per-client-per-sec",
                "TANDEM_MAX_UPDATES_PER_CLIENT_PER_SEC",
            ),
            (
                &writes[0],
                "--max-write-bytes-per-client",
                "TANDEM_MAX_WRITE_BYTES_PER_CLIENT",
            ),
            (
                &writes[1],
                "--max-write-bytes-per-client",
                "TANDEM_MAX_WRITE_BYTES_PER_CLIENT",
            ),
        ] {
            assert!(reason.len() <= 123, "{} bytes: {reason}", reason.len());
            assert!(
                reason.contains(&format!("raise {flag} / {env}")),
                "{reason}"
            );
        }
    }
}
