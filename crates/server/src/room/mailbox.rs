//! What reaches a room: control messages, peer events and API requests, and their answers.

use bytes::Bytes;
use tandem_persistence::{StoreError, StoredDoc, VersionInfo, VersionKind};
use tokio::sync::{mpsc, oneshot};

use crate::{
    client_limits::ClientKey,
    peer::{Access, CloseReason, PeerHandle, PeerId},
};

/// Events for a room that don't come from a peer's byte stream. Every payload is boxed:
/// a tokio queue allocates its first block of 32 slots up front, every loaded document
/// has one, and a slot is as large as the largest variant.
pub(crate) enum Control {
    Join(Box<PeerHandle>),
    Request(Box<Request>),
    Shutdown(Box<ShutdownRequest>),
    WriteDone(Box<WriteDone>),
    RetryWrite,
    /// The database's latest sequence number for the document (`None`: not stored), from
    /// the cluster's periodic check or the check a join started (`for_join`).
    Head {
        seq: Option<i64>,
        for_join: bool,
    },
    /// What a catch-up read from the database (cluster mode).
    CaughtUp(Box<CaughtUp>),
    /// An instance of the cluster stopped sending heartbeats.
    InstanceGone(String),
}

/// The writer's answer for write number `id` (see `Room::write_id`).
pub(crate) struct WriteDone {
    pub id: u64,
    pub result: crate::writer::WriteResult,
}

/// The answer to a catch-up read.
pub(crate) struct CaughtUp {
    /// Whether the room knew the document as stored when it asked: only then does "not
    /// found" mean someone deleted it.
    pub knew_stored: bool,
    /// The sequence number the read started after.
    pub after: i64,
    pub result: Result<Option<StoredDoc>, StoreError>,
}

/// Close every peer with `reason` and write everything out; or, with `delete`, delete the
/// document from the store and then close every peer (with `reason` if the delete worked).
///
/// Deleting is the room's job, not the caller's: the room is still registered while the
/// rows go, so a client arriving meanwhile reaches this room (and is turned away) instead
/// of loading the half-deleted document into a new one.
pub(crate) struct ShutdownRequest {
    pub reason: CloseReason,
    pub delete: bool,
    /// Answered once the room is gone: for a delete, whether the document existed.
    pub done: oneshot::Sender<Result<bool, StoreError>>,
}

/// What a peer's transport sends in. Leaving travels on the same queue as messages so a
/// peer's last update is never overtaken by its departure.
///
/// The queue carries it boxed: its slots are allocated up front, 32 at a time, for every
/// loaded document, and a box is a sixth of the size.
pub(crate) enum PeerEvent {
    Message {
        peer: PeerId,
        access: Access,
        data: Bytes,
    },
    Leave {
        peer: PeerId,
    },
}

/// Questions and commands from the HTTP API.
pub(crate) enum Request {
    Info(oneshot::Sender<RoomInfo>),
    Text(oneshot::Sender<String>),
    /// What the document holds, read for rendering (exports).
    Content(oneshot::Sender<crate::render::Content>),
    State(oneshot::Sender<Vec<u8>>),
    /// Applies a Yjs update as if a client had sent it; answers once it is committed.
    Apply {
        update: Vec<u8>,
        /// Who sent it, for the per-client memory limit.
        client: ClientKey,
        /// The token's name, if it has one: logged as the update's author.
        author: Option<String>,
        done: oneshot::Sender<Result<(), RoomError>>,
    },
    /// Stores the current state as a version.
    CreateVersion {
        kind: VersionKind,
        label: Option<String>,
        done: oneshot::Sender<Result<VersionInfo, RoomError>>,
    },
    /// Brings back what a version's `state` held (its plain text and rich text) as one new
    /// edit, then stores a `restore` version.
    Restore {
        state: Vec<u8>,
        label: Option<String>,
        /// Who restored (the token's name, else the name the editor shows): the restore
        /// edit's author in the log and in the new version's authors.
        author: Option<String>,
        done: oneshot::Sender<Result<VersionInfo, RoomError>>,
    },
}

#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct RoomInfo {
    pub connections: usize,
    pub users: Vec<String>,
    /// What the document holds now (`None`: nothing yet).
    #[serde(skip)]
    pub kind: Option<tandem_persistence::ContentKind>,
}

#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum RoomError {
    #[error("invalid update: {0}")]
    InvalidUpdate(String),
    #[error("storage unavailable: {0}")]
    Storage(String),
    #[error("the document is closing; retry")]
    Closed,
    #[error("document size limit reached: {0} bytes")]
    TooLarge(usize),
    #[error("update depends on changes the server does not have (more than {0} bytes held back)")]
    MissingDependencies(usize),
    #[error("{0}")]
    RateLimited(String),
    /// The content cannot be written as asked (a field of the wrong type).
    #[error("{0}")]
    Conflict(String),
    #[error(
        "the documents this client has open take too much memory (limit {} MiB; raise \
         --max-memory-per-client / TANDEM_MAX_MEMORY_PER_CLIENT)",
        .0 / (1024 * 1024)
    )]
    ClientMemory(u64),
    /// The sender's write quota is spent (`usage`).
    #[error("{0}")]
    WriteQuota(String),
    /// The sender's message rate over all its connections is spent (`usage`).
    #[error("{0}")]
    ClientRate(String),
}

impl RoomError {
    /// How a peer whose update was refused with this error is closed.
    pub(crate) fn close_reason(&self) -> CloseReason {
        match self {
            RoomError::InvalidUpdate(e) => {
                CloseReason::invalid(format!("update does not decode: {e}"))
            }
            RoomError::TooLarge(max) => CloseReason::document_too_large(*max),
            RoomError::ClientMemory(max) => CloseReason::client_memory(*max),
            RoomError::MissingDependencies(max) => CloseReason::missing_dependencies(*max),
            RoomError::WriteQuota(why) => CloseReason::client_quota(why),
            RoomError::ClientRate(why) => CloseReason::client_rate_limited(why),
            RoomError::RateLimited(why) => CloseReason::work_limited(why),
            RoomError::Storage(_) | RoomError::Closed | RoomError::Conflict(_) => {
                CloseReason::storage_unavailable()
            }
        }
    }
}

/// Answers a request the room can no longer serve.
pub(crate) fn reply_closed(req: Request) {
    match req {
        Request::Apply { done, .. } => {
            let _ = done.send(Err(RoomError::Closed));
        }
        Request::CreateVersion { done, .. } | Request::Restore { done, .. } => {
            let _ = done.send(Err(RoomError::Closed));
        }
        // Dropping the reply sender tells the caller the room is gone.
        Request::Info(_) | Request::Text(_) | Request::Content(_) | Request::State(_) => {}
    }
}

/// Answers a message the room will not serve: a join is closed with `reason`, a request
/// hears that the room is closed. A shutdown request is handed back for the caller to
/// answer as its situation says; anything else is dropped.
#[must_use = "a shutdown request handed back must be answered or dropped on purpose"]
pub(super) fn turn_away(msg: Control, reason: &CloseReason) -> Option<Box<ShutdownRequest>> {
    match msg {
        Control::Join(peer) => {
            let _ = peer.kick.send(reason.clone());
            None
        }
        Control::Request(req) => {
            reply_closed(*req);
            None
        }
        Control::Shutdown(req) => Some(req),
        _ => None,
    }
}

/// The next message from the cluster bus; never, outside cluster mode.
pub(super) async fn next_bus(
    bus: &mut Option<mpsc::UnboundedReceiver<crate::cluster::BusMessage>>,
) -> Option<crate::cluster::BusMessage> {
    match bus {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}
