//! The table of live sessions: lookup by id, the caps per address and per credential, and
//! expiry of sessions whose client went away.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::time::Instant;

use super::*;
use crate::client_limits::OpenDocument;

/// Most sessions the server keeps at once; beyond it new sessions get 503.
const MAX_SESSIONS: usize = 20_000;

pub(crate) struct Sessions {
    rooms: Arc<Registry>,
    idle: Duration,
    capacity: usize,
    limits: SessionLimits,
    map: Mutex<Table>,
}

/// The sessions, and how many each address and each credential holds.
#[derive(Default)]
struct Table {
    sessions: HashMap<String, Arc<Session>>,
    per_ip: HashMap<IpAddr, usize>,
    per_credential: HashMap<[u8; 32], usize>,
    /// Each session's open document, closed when it leaves the table.
    open: HashMap<String, OpenDocument>,
}

impl Table {
    fn insert(&mut self, session: Arc<Session>, hold: OpenDocument) {
        self.open.insert(session.id.clone(), hold);
        *self.per_ip.entry(session.owner.ip).or_default() += 1;
        if let Some(c) = session.owner.credential {
            *self.per_credential.entry(c).or_default() += 1;
        }
        self.sessions.insert(session.id.clone(), session);
    }

    fn remove(&mut self, id: &str) -> Option<Arc<Session>> {
        let session = self.sessions.remove(id)?;
        self.open.remove(id);
        fn decrement<K: std::hash::Hash + Eq>(map: &mut HashMap<K, usize>, key: K) {
            if let Some(n) = map.get_mut(&key) {
                *n -= 1;
                if *n == 0 {
                    map.remove(&key);
                }
            }
        }
        decrement(&mut self.per_ip, session.owner.ip);
        if let Some(c) = session.owner.credential {
            decrement(&mut self.per_credential, c);
        }
        Some(session)
    }
}

impl Sessions {
    pub(crate) fn new(
        rooms: Arc<Registry>,
        idle: Duration,
        capacity: usize,
        limits: SessionLimits,
    ) -> Arc<Sessions> {
        let sessions = Arc::new(Sessions {
            rooms,
            idle,
            capacity: capacity.max(16),
            limits,
            map: Mutex::new(Table::default()),
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

    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Opens a session: joins the room and starts moving its messages into the buffer.
    pub(crate) fn open(
        &self,
        doc: &str,
        transport: Transport,
        access: Access,
        name: Option<String>,
        owner: Owner,
        hold: OpenDocument,
    ) -> Result<Arc<Session>, SessionError> {
        {
            let table = self.lock();
            let refused = if table.sessions.len() >= MAX_SESSIONS {
                Some((SessionError::Full, "sessions_total"))
            } else if table.per_ip.get(&owner.ip).copied().unwrap_or(0) >= self.limits.per_ip {
                Some((SessionError::PerIp(self.limits.per_ip), "sessions_per_ip"))
            } else if owner.credential.is_some_and(|c| {
                table.per_credential.get(&c).copied().unwrap_or(0) >= self.limits.per_token
            }) {
                Some((
                    SessionError::PerToken(self.limits.per_token),
                    "sessions_per_token",
                ))
            } else {
                None
            };
            if let Some((err, limit)) = refused {
                metrics::counter!(m::LIMIT_REFUSALS, "limit" => limit).increment(1);
                return Err(err);
            }
        }
        // The room's queue for this peer only feeds the pump, which never blocks; the
        // session buffer below is the real bound. The queue is as long as the buffer so a
        // burst the buffer could hold never overflows the queue while the pump waits for
        // its turn on a busy runtime.
        let (mut handle, mut end) = new_peer(transport, name, self.capacity);
        handle.client = Some(hold.client());
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
            owner,
            peer,
            room,
            inner: Mutex::new(Buffer {
                messages: VecDeque::new(),
                next_seq: 1,
                acked: 0,
                capacity: self.capacity,
                bytes: 0,
                max_bytes: self.limits.buffer_bytes,
                closed: None,
                attached: 0,
                last_seen: Instant::now(),
            }),
            notify: Notify::new(),
        });
        self.lock().insert(session.clone(), hold);
        metrics::counter!(m::CONNECTIONS_TOTAL, "transport" => transport.as_str()).increment(1);
        tracing::info!(%doc, peer, transport = transport.as_str(), session = %log_id(&id), client = %session.owner.ip, "connection opened");
        let pump = session.clone();
        tokio::spawn(async move {
            let reason = loop {
                tokio::select! {
                    biased;
                    reason = &mut end.kicked => break reason.unwrap_or_else(|_| CloseReason::going_away()),
                    frame = end.outbound.recv() => match frame {
                        // Sessions' clients know y-protocol messages only.
                        Some(frame) => {
                            if let Some(message) = Arc::unwrap_or_clone(frame).into_message() {
                                pump.push(message);
                            }
                        }
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

    /// The session `id` of `doc`, if `credential` is the one it was opened with. A session
    /// whose token has expired is ended here at once (readers then learn why).
    pub(crate) async fn get(
        &self,
        doc: &str,
        id: &str,
        credential: Option<[u8; 32]>,
    ) -> Result<Arc<Session>, SessionError> {
        let session = self
            .lock()
            .sessions
            .get(id)
            .filter(|s| s.doc == doc)
            .cloned()
            .ok_or(SessionError::Unknown)?;
        let same = match (session.owner.credential, credential) {
            (None, None) => true,
            (Some(a), Some(b)) => {
                use subtle::ConstantTimeEq;
                a.ct_eq(&b).into()
            }
            _ => false,
        };
        if !same {
            metrics::counter!(m::AUTH_REFUSED, "reason" => "session_owner").increment(1);
            return Err(SessionError::NotYours);
        }
        if session.token_expired(crate::auth::now_secs()) {
            self.end(&session, CloseReason::token_expired()).await;
        }
        Ok(session)
    }

    /// Ends a live session but keeps it listed, so its reader can learn why.
    async fn end(&self, session: &Session, reason: CloseReason) {
        if session.close(reason.clone()) {
            let _ = session
                .room
                .send(Box::new(PeerEvent::Leave { peer: session.peer }))
                .await;
            tracing::info!(doc = %session.doc, peer = session.peer, transport = session.transport.as_str(),
                session = %log_id(&session.id), code = reason.code, reason = %reason.reason, "connection closed");
        }
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
            session = %log_id(&session.id), code = reason.code, reason = %reason.reason, "connection closed");
    }

    async fn expire(&self) {
        let now_secs = crate::auth::now_secs();
        let lapsed: Vec<Arc<Session>> = self
            .lock()
            .sessions
            .values()
            .filter(|s| s.token_expired(now_secs))
            .cloned()
            .collect();
        for session in lapsed {
            self.end(&session, CloseReason::token_expired()).await;
        }
        let now = Instant::now();
        let expired: Vec<(String, Option<CloseReason>)> = self
            .lock()
            .sessions
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

    /// Ends every session opened with `credential` (a revoked link's token): readers learn
    /// why, as for an expired token.
    pub(crate) async fn end_credential(&self, credential: [u8; 32], reason: CloseReason) {
        let opened: Vec<Arc<Session>> = self
            .lock()
            .sessions
            .values()
            .filter(|s| s.owner.credential == Some(credential))
            .cloned()
            .collect();
        for session in opened {
            self.end(&session, reason.clone()).await;
        }
    }

    /// Ends every session (graceful shutdown); rooms are closed separately.
    pub(crate) fn close_all(&self) {
        for s in self.lock().sessions.values() {
            s.close(CloseReason::going_away());
        }
    }
}
