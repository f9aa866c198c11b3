//! A peer that lives across HTTP requests, shared by SSE and long polling.
//!
//! The room sees an ordinary peer; a pump task moves its outbound messages into a numbered
//! buffer. Readers (an SSE stream, a poll request) take messages after their cursor, and
//! what they have acknowledged may be dropped. The buffer is bounded: if unacknowledged
//! messages would overflow it, the session ends as "too slow", just as a WebSocket peer
//! with a full queue would, and the client starts over with a fresh sync.

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex},
    time::Duration,
};

use bytes::Bytes;
use rand::RngCore;
use tokio::{
    sync::{mpsc, Notify},
    time::Instant,
};

use crate::{
    metric_names as m,
    peer::{new_peer, Access, CloseReason, PeerId, Transport},
    registry::Registry,
    room::PeerEvent,
};

/// Most sessions the server keeps at once; beyond it new sessions get 503.
const MAX_SESSIONS: usize = 20_000;

pub(crate) struct Session {
    pub id: String,
    pub doc: String,
    pub transport: Transport,
    pub access: Access,
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
        self.room
            .send(event)
            .await
            .map_err(|_| CloseReason::going_away())
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
                buf.messages.pop_front();
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
        buf.messages.push_back((seq, frame));
        while buf.messages.len() > buf.capacity {
            if buf.messages.front().is_some_and(|(s, _)| *s <= buf.acked) {
                buf.messages.pop_front();
            } else {
                metrics::counter!(m::QUEUE_DROPS).increment(1);
                buf.closed = Some(CloseReason::too_slow());
                buf.messages.clear();
                break;
            }
        }
        drop(buf);
        self.notify.notify_waiters();
    }

    fn close(&self, reason: CloseReason) {
        let mut buf = self.lock();
        if buf.closed.is_none() {
            buf.closed = Some(reason);
        }
        drop(buf);
        self.notify.notify_waiters();
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

pub(crate) struct Sessions {
    rooms: Arc<Registry>,
    idle: Duration,
    capacity: usize,
    map: Mutex<HashMap<String, Arc<Session>>>,
}

impl Sessions {
    pub(crate) fn new(rooms: Arc<Registry>, idle: Duration, capacity: usize) -> Arc<Sessions> {
        let sessions = Arc::new(Sessions {
            rooms,
            idle,
            capacity: capacity.max(16),
            map: Mutex::new(HashMap::new()),
        });
        let weak = Arc::downgrade(&sessions);
        tokio::spawn(async move {
            let period = (idle / 4).clamp(Duration::from_millis(200), Duration::from_secs(5));
            loop {
                tokio::time::sleep(period).await;
                let Some(sessions) = weak.upgrade() else {
                    break;
                };
                sessions.expire().await;
            }
        });
        sessions
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Session>>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Opens a session: joins the room and starts moving its messages into the buffer.
    pub(crate) fn open(
        &self,
        doc: &str,
        transport: Transport,
        access: Access,
        name: Option<String>,
    ) -> Result<Arc<Session>, &'static str> {
        if self.lock().len() >= MAX_SESSIONS {
            return Err("too many sessions");
        }
        // The room's queue for this peer only feeds the pump, which never blocks; the
        // session buffer below is the real bound. The queue is as long as the buffer so a
        // burst the buffer could hold never overflows the queue while the pump waits for
        // its turn on a busy runtime.
        let (handle, mut end) = new_peer(transport, access, name, self.capacity);
        let peer = handle.id;
        let room = self.rooms.join(doc, handle);
        let mut id = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut id);
        let id: String = id.iter().map(|b| format!("{b:02x}")).collect();
        let session = Arc::new(Session {
            id: id.clone(),
            doc: doc.to_string(),
            transport,
            access,
            peer,
            room,
            inner: Mutex::new(Buffer {
                messages: VecDeque::new(),
                next_seq: 1,
                acked: 0,
                capacity: self.capacity,
                closed: None,
                attached: 0,
                last_seen: Instant::now(),
            }),
            notify: Notify::new(),
        });
        self.lock().insert(id, session.clone());
        metrics::counter!(m::CONNECTIONS_TOTAL, "transport" => transport.as_str()).increment(1);
        tracing::info!(%doc, peer, transport = transport.as_str(), session = %session.id, "connection opened");
        let pump = session.clone();
        tokio::spawn(async move {
            let reason = loop {
                tokio::select! {
                    biased;
                    reason = &mut end.kicked => break reason.unwrap_or_else(|_| CloseReason::going_away()),
                    frame = end.outbound.recv() => match frame {
                        Some(frame) => pump.push(Arc::unwrap_or_clone(frame)),
                        None => break end.kicked.try_recv().unwrap_or_else(|_| CloseReason::going_away()),
                    },
                }
                if pump.closed().is_some() {
                    // Overflowed: leave the room so it stops sending.
                    let _ = pump
                        .room
                        .send(Box::new(PeerEvent::Leave { peer: pump.peer }))
                        .await;
                    break CloseReason::too_slow();
                }
            };
            pump.close(reason);
        });
        Ok(session)
    }

    pub(crate) fn get(&self, doc: &str, id: &str) -> Option<Arc<Session>> {
        self.lock().get(id).filter(|s| s.doc == doc).cloned()
    }

    /// Ends a session at the client's request or on expiry: the room removes its
    /// awareness just as for a closed socket.
    pub(crate) async fn remove(&self, id: &str, reason: CloseReason) {
        let Some(session) = self.lock().remove(id) else {
            return;
        };
        session.close(reason.clone());
        let _ = session
            .room
            .send(Box::new(PeerEvent::Leave { peer: session.peer }))
            .await;
        tracing::info!(doc = %session.doc, peer = session.peer, transport = session.transport.as_str(),
            session = %session.id, code = reason.code, reason = %reason.reason, "connection closed");
    }

    async fn expire(&self) {
        let now = Instant::now();
        let expired: Vec<(String, Option<CloseReason>)> = self
            .lock()
            .values()
            .filter_map(|s| {
                let buf = s.lock();
                let idle = buf.attached == 0 && now.duration_since(buf.last_seen) > self.idle;
                // Closed sessions linger for one idle period so clients can read why.
                (idle
                    || (buf.closed.is_some()
                        && buf.attached == 0
                        && now.duration_since(buf.last_seen) > self.idle / 2))
                    .then(|| (s.id.clone(), buf.closed.clone()))
            })
            .collect();
        for (id, closed) in expired {
            let reason = closed.unwrap_or_else(|| CloseReason::new(1001, "session expired"));
            self.remove(&id, reason).await;
        }
    }

    /// Ends every session (graceful shutdown); rooms are closed separately.
    pub(crate) fn close_all(&self) {
        for s in self.lock().values() {
            s.close(CloseReason::going_away());
        }
    }
}
