//! A peer that lives across HTTP requests, shared by SSE and long polling.
//!
//! The room sees an ordinary peer; a pump task moves its outbound messages into a numbered
//! buffer. Readers (an SSE stream, a poll request) take messages after their cursor, and
//! what they have acknowledged may be dropped. The buffer is bounded: if unacknowledged
//! messages would overflow it, the session ends as "too slow", just as a WebSocket peer
//! with a full queue would, and the client starts over with a fresh sync.

use std::{
    collections::VecDeque,
    net::IpAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use bytes::Bytes;
use rand::RngCore;
use tokio::{
    sync::{mpsc, Notify},
    time::Instant,
};

mod table;

pub(crate) use table::Sessions;

use crate::{
    metric_names as m,
    peer::{new_peer, Access, CloseReason, PeerId, Transport},
    registry::Registry,
    room::PeerEvent,
};

/// Who opened a session: what its limits are counted against, and what every later
/// request on it must present again (the session id alone is not a credential).
#[derive(Debug, Clone)]
pub(crate) struct Owner {
    pub(crate) ip: IpAddr,
    /// Digest of the token (or admin key) the session was opened with; `None` without one.
    pub(crate) credential: Option<[u8; 32]>,
    /// When that token expires (seconds since the epoch); `None` if it does not.
    pub(crate) expires: Option<u64>,
}

/// Per-client bounds on the shared session table and on each session's buffer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SessionLimits {
    pub(crate) per_ip: usize,
    pub(crate) per_token: usize,
    /// Bytes of unacknowledged messages one session may hold (at least one message is
    /// always kept, so a document larger than this still syncs).
    pub(crate) buffer_bytes: usize,
}

/// Why a session could not be opened or used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SessionError {
    #[error("too many sessions on this server; retry later")]
    Full,
    #[error(
        "too many sessions from this address (limit {0}; raise --max-sessions-per-ip / \
         TANDEM_MAX_SESSIONS_PER_IP); close some or retry later"
    )]
    PerIp(usize),
    #[error(
        "too many sessions for this access token (limit {0}; raise --max-sessions-per-token / \
         TANDEM_MAX_SESSIONS_PER_TOKEN); close some or retry later"
    )]
    PerToken(usize),
    #[error("unknown or expired session: open a new one")]
    Unknown,
    #[error("this session was opened with another access token")]
    NotYours,
}

/// A session id as it may appear in logs: a digest, since the id itself is a credential.
pub(crate) fn log_id(id: &str) -> String {
    use sha2::Digest;
    let d = sha2::Sha256::digest(id.as_bytes());
    d[..6].iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) struct Session {
    pub id: String,
    pub doc: String,
    pub transport: Transport,
    pub access: Access,
    pub(crate) owner: Owner,
    peer: PeerId,
    room: mpsc::Sender<Box<PeerEvent>>,
    inner: Mutex<Buffer>,
    notify: Notify,
}

struct Buffer {
    messages: VecDeque<(u64, Bytes)>,
    next_seq: u64,
    acked: u64,
    capacity: usize,
    /// Bytes held in `messages`, and the most they may grow to.
    bytes: usize,
    max_bytes: usize,
    closed: Option<CloseReason>,
    /// Readers attached now (an open SSE stream or a pending poll); idle expiry only
    /// counts time with none attached.
    attached: usize,
    last_seen: Instant,
}

/// What a reader gets: messages after its cursor, or why the session ended.
pub(crate) enum Batch {
    Messages(Vec<(u64, Bytes)>),
    Closed(CloseReason),
}

impl Session {
    /// Sends a client's message(s) to the room.
    pub(crate) async fn send(&self, data: Bytes) -> Result<(), CloseReason> {
        if let Some(reason) = self.closed() {
            return Err(reason);
        }
        self.touch();
        metrics::counter!(m::BYTES_IN, "transport" => self.transport.as_str())
            .increment(data.len() as u64);
        let event = Box::new(PeerEvent::Message {
            peer: self.peer,
            access: self.access,
            data,
        });
        // A room that has ended kicked the session first: its reason, when the pump
        // has recorded it, is the one to give.
        self.room
            .send(event)
            .await
            .map_err(|_| self.closed().unwrap_or_else(CloseReason::going_away))
    }

    pub(crate) fn closed(&self) -> Option<CloseReason> {
        self.lock().closed.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Buffer> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn touch(&self) {
        self.lock().last_seen = Instant::now();
    }

    /// Messages with a sequence number above `cursor`; everything up to `cursor` counts
    /// as delivered. With `drop_acked`, delivered messages are freed at once (polling);
    /// SSE keeps them so a reconnecting stream can replay what a dead connection lost.
    pub(crate) fn take_after(&self, cursor: u64, drop_acked: bool) -> Batch {
        let mut buf = self.lock();
        buf.last_seen = Instant::now();
        buf.acked = buf.acked.max(cursor);
        if drop_acked {
            let acked = buf.acked;
            while buf.messages.front().is_some_and(|(seq, _)| *seq <= acked) {
                if let Some((_, m)) = buf.messages.pop_front() {
                    buf.bytes -= m.len();
                }
            }
        }
        // Sequence numbers ascend, so the reader's place is a binary search away.
        let start = buf.messages.partition_point(|(seq, _)| *seq <= cursor);
        let fresh: Vec<(u64, Bytes)> = buf.messages.range(start..).cloned().collect();
        if fresh.is_empty() {
            if let Some(reason) = &buf.closed {
                return Batch::Closed(reason.clone());
            }
        }
        Batch::Messages(fresh)
    }

    /// True if every message after `cursor` is still buffered, so a stream can resume.
    pub(crate) fn can_resume_from(&self, cursor: u64) -> bool {
        let buf = self.lock();
        if buf.closed.is_some() || cursor >= buf.next_seq {
            return false;
        }
        match buf.messages.front() {
            Some((first, _)) => *first <= cursor + 1,
            None => cursor + 1 == buf.next_seq,
        }
    }

    /// Waits until a message after `cursor` exists, the session closes, or `limit` passes.
    pub(crate) async fn wait_after(&self, cursor: u64, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            let notified = self.notify.notified();
            {
                let buf = self.lock();
                if buf.closed.is_some() || buf.next_seq > cursor + 1 {
                    return;
                }
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return;
            }
        }
    }

    /// Marks a reader as attached until the guard drops.
    pub(crate) fn attach(self: &Arc<Self>) -> AttachGuard {
        let mut buf = self.lock();
        buf.attached += 1;
        buf.last_seen = Instant::now();
        AttachGuard(self.clone())
    }

    fn push(&self, frame: Bytes) {
        let mut buf = self.lock();
        if buf.closed.is_some() {
            return;
        }
        let seq = buf.next_seq;
        buf.next_seq += 1;
        buf.bytes += frame.len();
        buf.messages.push_back((seq, frame));
        while buf.messages.len() > buf.capacity
            || (buf.bytes > buf.max_bytes && buf.messages.len() > 1)
        {
            if buf.messages.front().is_some_and(|(s, _)| *s <= buf.acked) {
                if let Some((_, m)) = buf.messages.pop_front() {
                    buf.bytes -= m.len();
                }
            } else {
                metrics::counter!(m::QUEUE_DROPS).increment(1);
                if buf.bytes > buf.max_bytes {
                    metrics::counter!(m::LIMIT_REFUSALS, "limit" => "session_buffer_bytes")
                        .increment(1);
                }
                buf.closed = Some(CloseReason::too_slow());
                buf.messages.clear();
                buf.bytes = 0;
                break;
            }
        }
        drop(buf);
        self.notify.notify_waiters();
    }

    /// Ends the session with `reason`; false if it had already ended.
    fn close(&self, reason: CloseReason) -> bool {
        let mut buf = self.lock();
        let fresh = buf.closed.is_none();
        if fresh {
            buf.closed = Some(reason);
        }
        drop(buf);
        self.notify.notify_waiters();
        fresh
    }

    pub(crate) fn token_expired(&self, now_secs: u64) -> bool {
        self.owner.expires.is_some_and(|exp| exp <= now_secs)
    }
}

pub(crate) struct AttachGuard(Arc<Session>);

impl Drop for AttachGuard {
    fn drop(&mut self) {
        let mut buf = self.0.lock();
        buf.attached -= 1;
        buf.last_seen = Instant::now();
    }
}

#[cfg(test)]
mod tests {
    use super::SessionError;

    #[test]
    fn refusals_name_the_setting_to_raise() {
        for (e, setting) in [
            (
                SessionError::PerIp(1),
                "raise --max-sessions-per-ip / TANDEM_MAX_SESSIONS_PER_IP",
            ),
            (
                SessionError::PerToken(1),
                "raise --max-sessions-per-token / TANDEM_MAX_SESSIONS_PER_TOKEN",
            ),
        ] {
            assert!(e.to_string().contains(setting), "{e}");
        }
    }
}
