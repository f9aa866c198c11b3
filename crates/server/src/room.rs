//! One loaded document: its Yjs state, its awareness, its peers, and the path of every
//! update from one client to the log and on to the others.
//!
//! A room is an actor: a task that owns the document and handles one event at a time, so
//! nothing in here takes a lock. Its life:
//!
//! 1. The registry spawns it on the first join; it loads snapshot + log from the store
//!    before handling anything (joins wait in its queue).
//! 2. An update from a peer is checked, applied in memory, queued for the group-commit
//!    writer, and relayed to every peer (the sender too, as its acknowledgement) only once
//!    the writer says it is committed. Sync replies that would reveal uncommitted updates
//!    wait for the same point. So nobody sees an edit the database does not have.
//!    If the database fails, the room relays from memory (marked *degraded*), keeps the
//!    unwritten updates within a global byte budget, and retries with backoff.
//! 3. After the last peer leaves and a grace period passes, it writes what is left,
//!    compacts, takes a version if needed, and removes itself from the registry.

use std::{
    collections::{HashMap, HashSet, VecDeque},
    future::Future,
    sync::{atomic::Ordering, Arc},
    time::Duration,
};

use bytes::Bytes;
use tandem_persistence::{NewVersion, Snapshot, StoreError, VersionKind};
use tokio::{
    sync::{mpsc, oneshot},
    task::JoinSet,
    time::Instant,
};
use yrs::{
    sync::{Awareness, Message, SyncMessage},
    updates::{decoder::Decode, encoder::Encode},
    ReadTxn, StateVector, Transact, Update,
};

use crate::{
    metrics as m,
    peer::{Access, CloseReason, Frame, PeerHandle, PeerId},
    protocol,
    registry::{Registry, RoomContext},
    text,
};

/// Events for a room that don't come from a peer's byte stream. Every payload is boxed:
/// a tokio queue allocates its first block of 32 slots up front, every loaded document
/// has one, and a slot is as large as the largest variant.
pub enum Control {
    Join(Box<PeerHandle>),
    Request(Box<Request>),
    Shutdown(Box<ShutdownRequest>),
    WriteDone(Box<WriteDone>),
    RetryWrite,
}

/// The writer's answer for write number `id` (see `Room::write_id`).
pub struct WriteDone {
    pub id: u64,
    pub result: Result<i64, Arc<StoreError>>,
}

/// Close every peer with `reason` and write everything out; or, with `delete`, delete the
/// document from the store and then close every peer (with `reason` if the delete worked).
///
/// Deleting is the room's job, not the caller's: the room is still registered while the
/// rows go, so a client arriving meanwhile reaches this room (and is turned away) instead
/// of loading the half-deleted document into a new one.
pub struct ShutdownRequest {
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
pub enum PeerEvent {
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
pub enum Request {
    Info(oneshot::Sender<RoomInfo>),
    Text(oneshot::Sender<String>),
    State(oneshot::Sender<Vec<u8>>),
    /// Applies a Yjs update as if a client had sent it; answers once it is committed.
    Apply {
        update: Vec<u8>,
        done: oneshot::Sender<Result<(), RoomError>>,
    },
    /// Stores the current state as a version.
    CreateVersion {
        kind: VersionKind,
        label: Option<String>,
        done: oneshot::Sender<Result<tandem_persistence::VersionInfo, RoomError>>,
    },
    /// Replaces the text with `text` as a new edit, then stores a `restore` version.
    Restore {
        text: String,
        label: Option<String>,
        done: oneshot::Sender<Result<tandem_persistence::VersionInfo, RoomError>>,
    },
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct RoomInfo {
    pub connections: usize,
    pub users: Vec<String>,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum RoomError {
    #[error("invalid update: {0}")]
    InvalidUpdate(String),
    #[error("storage unavailable: {0}")]
    Storage(String),
    #[error("the document is closing; retry")]
    Closed,
}

/// Timing and size policy for rooms, from the server configuration.
#[derive(Debug, Clone)]
pub struct RoomSettings {
    pub outbound_queue: usize,
    pub unload_grace: Duration,
    pub compact_updates: u64,
    pub compact_bytes: u64,
    pub version_idle: Duration,
    pub version_interval: Duration,
    pub max_unwritten_bytes: usize,
    pub awareness_timeout: Duration,
}

struct Peer {
    handle: PeerHandle,
    /// Awareness client ids this connection announced; removed when it leaves.
    clients: HashSet<u64>,
    told_read_only: bool,
}

/// An accepted update on its way to the log.
struct Pending {
    update: Bytes,
    frame: Bytes,
    relayed: bool,
}

/// A message held back until the updates it may reveal are committed.
struct Deferred {
    barrier: u64,
    peer: PeerId,
    frame: Bytes,
}

pub struct Room {
    name: String,
    ctx: Arc<RoomContext>,
    registry: Arc<Registry>,
    generation: u64,
    ctrl_tx: mpsc::UnboundedSender<Control>,
    awareness: Awareness,
    peers: HashMap<PeerId, Peer>,

    pending: VecDeque<Pending>,
    in_flight: usize,
    /// Numbers each write handed to the writer, so an answer is matched to its batch.
    write_id: u64,
    accepted: u64,
    relayed_upto: u64,
    persisted_upto: u64,
    deferred: Vec<Deferred>,
    apply_waiters: Vec<(u64, oneshot::Sender<Result<(), RoomError>>)>,
    degraded: bool,
    backoff: Duration,

    last_seq: i64,
    updates_since_snapshot: u64,
    bytes_since_snapshot: u64,
    dirty_since_version: bool,
    last_edit: Instant,
    last_version: Instant,
    empty_since: Option<Instant>,
    /// Store work running off the room's task (compactions, versions). A delete waits for
    /// it, or a late compaction would write the document back. Made on first use: an
    /// empty set still allocates, and many loaded documents are only ever read.
    background: Option<JoinSet<()>>,
}

enum Flow {
    Continue,
    Exit,
    Shutdown {
        reason: CloseReason,
        delete: bool,
        done: oneshot::Sender<Result<bool, StoreError>>,
    },
}

impl Room {
    pub fn new(
        name: String,
        ctx: Arc<RoomContext>,
        registry: Arc<Registry>,
        generation: u64,
        ctrl_tx: mpsc::UnboundedSender<Control>,
    ) -> Room {
        let now = Instant::now();
        Room {
            name,
            ctx,
            registry,
            generation,
            ctrl_tx,
            awareness: Awareness::new(text::new_doc()),
            peers: HashMap::new(),
            pending: VecDeque::new(),
            in_flight: 0,
            write_id: 0,
            accepted: 0,
            relayed_upto: 0,
            persisted_upto: 0,
            deferred: Vec::new(),
            apply_waiters: Vec::new(),
            degraded: false,
            backoff: Duration::from_millis(100),
            last_seq: 0,
            updates_since_snapshot: 0,
            bytes_since_snapshot: 0,
            dirty_since_version: false,
            last_edit: now,
            last_version: now,
            empty_since: Some(now),
            background: None,
        }
    }

    /// Runs the room until it unloads.
    pub async fn run(
        mut self,
        mut ctrl: mpsc::UnboundedReceiver<Control>,
        mut data: mpsc::Receiver<Box<PeerEvent>>,
    ) {
        metrics::gauge!(m::DOCUMENTS_LOADED).increment(1.0);
        if let Err(err) = self.load().await {
            tracing::error!(doc = %self.name, error = %err, "loading document failed");
            // Never serve a document we could not read: compaction would later drop the
            // updates we never saw. Refuse everyone waiting; clients reconnect and retry.
            self.registry.remove(&self.name, self.generation);
            ctrl.close();
            while let Some(msg) = ctrl.recv().await {
                self.refuse_while_unavailable(msg);
            }
            metrics::gauge!(m::DOCUMENTS_LOADED).decrement(1.0);
            return;
        }
        loop {
            let wake = self.next_wakeup();
            let flow = tokio::select! {
                biased;
                Some(msg) = ctrl.recv() => self.on_control(msg),
                Some(ev) = data.recv() => { self.on_peer_event(*ev); Flow::Continue }
                _ = tokio::time::sleep_until(wake) => self.on_timer(&ctrl, &mut data).await,
            };
            match flow {
                Flow::Continue => {}
                Flow::Exit => break,
                Flow::Shutdown {
                    reason,
                    delete,
                    done,
                } => {
                    if !delete {
                        // Updates already read from sockets are taken in before closing.
                        while let Ok(ev) = data.try_recv() {
                            self.on_peer_event(*ev);
                        }
                    }
                    let (result, reason) = if delete {
                        // Peers stay attached (unread) until the outcome is known: a delete
                        // the database refused must not tell them the document is gone.
                        let result = self.delete(&mut ctrl, &reason).await;
                        let reason = match &result {
                            Ok(_) => reason,
                            Err(_) => CloseReason::storage_unavailable(),
                        };
                        self.kick_all(&reason);
                        (result, reason)
                    } else {
                        self.kick_all(&reason);
                        self.write_out(Duration::from_secs(10)).await;
                        (Ok(true), reason)
                    };
                    self.registry.remove(&self.name, self.generation);
                    // Joins queued while the room finished get its peers' answer; dropped,
                    // they would read as "server shutting down".
                    while let Ok(msg) = ctrl.try_recv() {
                        match msg {
                            Control::Join(peer) => {
                                let _ = peer.kick.send(reason.clone());
                            }
                            Control::Request(req) => reply_closed(*req),
                            Control::Shutdown(_) | Control::WriteDone(..) | Control::RetryWrite => {
                            }
                        }
                    }
                    let _ = done.send(result);
                    break;
                }
            }
        }
        metrics::gauge!(m::DOCUMENTS_LOADED).decrement(1.0);
    }

    async fn load(&mut self) -> Result<(), StoreError> {
        let Some(stored) = self.ctx.store.load(&self.name).await? else {
            return Ok(());
        };
        let doc = self.awareness.doc().clone();
        let mut txn = doc.transact_mut();
        for (i, bytes) in stored
            .snapshot
            .iter()
            .chain(stored.updates.iter())
            .enumerate()
        {
            match Update::decode_v1(bytes) {
                Ok(update) => {
                    if let Err(err) = txn.apply_update(update) {
                        tracing::error!(doc = %self.name, index = i, error = %err, "stored update does not apply");
                    }
                }
                Err(err) => {
                    tracing::error!(doc = %self.name, index = i, error = %err, "stored update is corrupt")
                }
            }
        }
        drop(txn);
        self.last_seq = stored.last_seq;
        self.updates_since_snapshot = stored.updates.len() as u64;
        self.bytes_since_snapshot = stored.updates.iter().map(|u| u.len() as u64).sum();
        Ok(())
    }

    fn refuse_while_unavailable(&mut self, msg: Control) {
        match msg {
            Control::Join(peer) => {
                let _ = peer.kick.send(CloseReason::storage_unavailable());
            }
            Control::Request(req) => reply_closed(*req),
            Control::Shutdown(req) => {
                let _ = req.done.send(Err(StoreError::Unavailable(
                    "document could not be loaded".into(),
                )));
            }
            Control::WriteDone(..) | Control::RetryWrite => {}
        }
    }

    fn next_wakeup(&self) -> Instant {
        let far = Instant::now() + Duration::from_secs(3600);
        let mut wake = far;
        if let Some(since) = self.empty_since {
            wake = wake.min(since + self.ctx.settings.unload_grace);
        }
        if self.dirty_since_version {
            let idle = self.last_edit + self.ctx.settings.version_idle;
            let periodic = self.last_version + self.ctx.settings.version_interval;
            wake = wake.min(idle.min(periodic));
        }
        if !self.peers.is_empty() {
            // Awareness states that stop being renewed expire, as in the JS implementation.
            wake = wake.min(Instant::now() + self.ctx.settings.awareness_timeout / 6);
        }
        wake
    }

    // ----- control -------------------------------------------------------------------

    fn on_control(&mut self, msg: Control) -> Flow {
        match msg {
            Control::Join(peer) => self.join(*peer),
            Control::Request(req) => self.on_request(*req),
            Control::WriteDone(done) if done.id == self.write_id => self.on_write_done(done.result),
            // A batch `write_out` wrote again itself: its late answer means nothing now.
            Control::WriteDone(..) => {}
            Control::RetryWrite => self.submit_write(),
            Control::Shutdown(req) => {
                let ShutdownRequest {
                    reason,
                    delete,
                    done,
                } = *req;
                return Flow::Shutdown {
                    reason,
                    delete,
                    done,
                };
            }
        }
        Flow::Continue
    }

    fn join(&mut self, handle: PeerHandle) {
        let id = handle.id;
        metrics::gauge!(m::CONNECTIONS, "transport" => handle.transport.as_str()).increment(1.0);
        let doc = self.awareness.doc().clone();
        let step1 = protocol::sync_step1(doc.transact().state_vector());
        let awareness = protocol::all_awareness(&self.awareness);
        self.peers.insert(
            id,
            Peer {
                handle,
                clients: HashSet::new(),
                told_read_only: false,
            },
        );
        self.empty_since = None;
        // The server's step 1 makes the client send back edits it made offline.
        self.send_to(id, step1);
        if let Some(frame) = awareness {
            self.send_to(id, frame);
        }
    }

    fn on_request(&mut self, req: Request) {
        match req {
            Request::Info(reply) => {
                let _ = reply.send(self.info());
            }
            Request::Text(reply) => {
                let _ = reply.send(text::render_doc(self.awareness.doc()));
            }
            Request::State(reply) => {
                let state = self
                    .awareness
                    .doc()
                    .transact()
                    .encode_state_as_update_v1(&StateVector::default());
                let _ = reply.send(state);
            }
            Request::Apply { update, done } => match self.accept_update(Bytes::from(update)) {
                Ok(()) if self.accepted <= self.persisted_upto => {
                    let _ = done.send(Ok(()));
                }
                Ok(()) => self.apply_waiters.push((self.accepted, done)),
                Err(err) => {
                    let _ = done.send(Err(err));
                }
            },
            Request::CreateVersion { kind, label, done } => self.spawn_version(kind, label, done),
            Request::Restore { text, label, done } => {
                let doc = self.awareness.doc().clone();
                let text_ref = text::text_ref(&doc);
                let update = {
                    let mut txn = doc.transact_mut();
                    text::replace_text(&mut txn, &text_ref, &text);
                    txn.encode_update_v1()
                };
                // Already applied above; this only queues it for the log and the peers.
                self.enqueue(Bytes::from(update));
                self.spawn_version(VersionKind::Restore, label, done);
            }
        }
    }

    fn info(&self) -> RoomInfo {
        let mut users: Vec<String> = self
            .awareness
            .iter()
            .filter_map(|(_, state)| {
                let json = state.data.as_ref()?;
                let value: serde_json::Value = serde_json::from_str(json).ok()?;
                Some(value.get("user")?.get("name")?.as_str()?.to_string())
            })
            .collect();
        users.sort();
        users.dedup();
        RoomInfo {
            connections: self.peers.len(),
            users,
        }
    }

    /// Stores the current state as a version once what it contains is committed; the
    /// version row itself is written off the room's task.
    fn spawn_version(
        &mut self,
        kind: VersionKind,
        label: Option<String>,
        done: oneshot::Sender<Result<tandem_persistence::VersionInfo, RoomError>>,
    ) {
        let material = self.version_material(kind, label);
        self.dirty_since_version = false;
        self.last_version = Instant::now();
        let store = self.ctx.store.clone();
        let name = self.name.clone();
        self.spawn_background(async move {
            let result = store.create_version(&name, &material).await;
            if result.is_ok() {
                metrics::counter!(m::VERSIONS, "kind" => kind.as_str()).increment(1);
            }
            let _ = done.send(result.map_err(|e| RoomError::Storage(e.to_string())));
        });
    }

    fn version_material(&self, kind: VersionKind, label: Option<String>) -> NewVersion {
        let txn = self.awareness.doc().transact();
        NewVersion {
            kind,
            label,
            state: txn.encode_state_as_update_v1(&StateVector::default()),
            state_vector: txn.state_vector().encode_v1(),
            text: text::render(&txn),
        }
    }

    // ----- peer messages -------------------------------------------------------------

    fn on_peer_event(&mut self, ev: PeerEvent) {
        match ev {
            PeerEvent::Leave { peer } => self.leave(peer),
            PeerEvent::Message { peer, access, data } => {
                let msgs = match protocol::decode_frame(&data) {
                    Ok(msgs) => msgs,
                    Err(err) => {
                        metrics::counter!(m::BAD_MESSAGES, "reason" => "undecodable").increment(1);
                        tracing::info!(doc = %self.name, peer, error = %err, "closing peer: undecodable message");
                        self.kick(peer, CloseReason::invalid(err));
                        return;
                    }
                };
                for msg in msgs {
                    if let Err(reason) = self.on_message(peer, access, msg) {
                        self.kick(peer, reason);
                        return;
                    }
                }
            }
        }
    }

    fn on_message(
        &mut self,
        peer: PeerId,
        access: Access,
        msg: Message,
    ) -> Result<(), CloseReason> {
        match msg {
            Message::Sync(SyncMessage::SyncStep1(sv)) => {
                let update = self.awareness.doc().transact().encode_diff_v1(&sv);
                let frame = protocol::sync_step2(update);
                if self.accepted > self.relayed_upto {
                    // The diff may hold updates not yet committed: hold it until they are.
                    self.deferred.push(Deferred {
                        barrier: self.accepted,
                        peer,
                        frame,
                    });
                } else {
                    self.send_to(peer, frame);
                }
            }
            Message::Sync(SyncMessage::SyncStep2(update))
            | Message::Sync(SyncMessage::Update(update)) => {
                if access == Access::Read {
                    // Every client answers the server's step 1 with a step 2, empty when
                    // it has nothing new: that is no edit, so no refusal (the one-time
                    // notice is kept for a real attempt).
                    if update.as_slice() == [0, 0] {
                        return Ok(());
                    }
                    if let Some(p) = self.peers.get_mut(&peer) {
                        if !p.told_read_only {
                            p.told_read_only = true;
                            let frame = protocol::permission_denied("read-only access");
                            self.send_to(peer, frame);
                        }
                    }
                    return Ok(());
                }
                // An empty step 2 (a client with nothing new) is no update.
                if update.as_slice() != [0, 0] {
                    metrics::counter!(m::UPDATES_RECEIVED).increment(1);
                }
                match self.accept_update(Bytes::from(update)) {
                    Ok(()) => {}
                    Err(RoomError::InvalidUpdate(e)) => {
                        metrics::counter!(m::BAD_MESSAGES, "reason" => "bad_update").increment(1);
                        return Err(CloseReason::invalid(format!("update does not decode: {e}")));
                    }
                    Err(_) => return Err(CloseReason::storage_unavailable()),
                }
            }
            Message::Awareness(update) => {
                // A peer that already left may still have an awareness frame in flight;
                // applying it would resurrect a cursor nobody will remove.
                let Some(p) = self.peers.get_mut(&peer) else {
                    return Ok(());
                };
                for (client, entry) in &update.clients {
                    if entry.json.as_ref() == "null" {
                        p.clients.remove(&client.get());
                    } else {
                        p.clients.insert(client.get());
                    }
                }
                let frame = protocol::awareness(update.clone());
                self.awareness
                    .apply_update(update)
                    .map_err(CloseReason::invalid)?;
                // Echoed to the sender too: the JS client's 30 s liveness check relies on it.
                self.broadcast(&frame);
            }
            Message::AwarenessQuery => {
                if let Some(frame) = protocol::all_awareness(&self.awareness) {
                    self.send_to(peer, frame);
                }
            }
            Message::Auth(_) => {}
            Message::Custom(tag, _) => {
                metrics::counter!(m::UNKNOWN_MESSAGES).increment(1);
                tracing::debug!(doc = %self.name, peer, tag, "skipping unknown message type");
            }
        }
        Ok(())
    }

    /// Checks, applies and queues one update from a client or the API.
    fn accept_update(&mut self, update: Bytes) -> Result<(), RoomError> {
        // A sync step 2 from a client with nothing new is an empty update: nothing to
        // store or relay.
        if update.as_ref() == [0, 0] {
            return Ok(());
        }
        let decoded =
            Update::decode_v1(&update).map_err(|e| RoomError::InvalidUpdate(e.to_string()))?;
        if self.ctx.unwritten.load(Ordering::Relaxed) + update.len()
            > self.ctx.settings.max_unwritten_bytes
        {
            tracing::warn!(doc = %self.name, "refusing update: unwritten-bytes budget exhausted");
            return Err(RoomError::Storage(
                "too many updates waiting for the database".into(),
            ));
        }
        self.awareness
            .doc()
            .transact_mut()
            .apply_update(decoded)
            .map_err(|e| RoomError::InvalidUpdate(e.to_string()))?;
        self.enqueue(update);
        Ok(())
    }

    /// Queues an update already applied to the document for the log and the peers.
    fn enqueue(&mut self, update: Bytes) {
        let bytes = update.len();
        let frame = protocol::sync_update(update.to_vec());
        self.ctx.unwritten.fetch_add(bytes, Ordering::Relaxed);
        metrics::gauge!(m::UNWRITTEN_BYTES).increment(bytes as f64);
        self.accepted += 1;
        self.dirty_since_version = true;
        self.last_edit = Instant::now();
        self.pending.push_back(Pending {
            update,
            frame,
            relayed: false,
        });
        if self.degraded {
            // Database down: keep collaboration going from memory (see README guarantees).
            self.relay_pending();
        }
        if self.in_flight == 0 && !self.degraded {
            self.submit_write();
        }
    }

    fn submit_write(&mut self) {
        if self.in_flight > 0 || self.pending.is_empty() {
            return;
        }
        self.in_flight = self.pending.len();
        self.write_id += 1;
        let id = self.write_id;
        let updates: Vec<Bytes> = self.pending.iter().map(|p| p.update.clone()).collect();
        let writer = self.ctx.writer.clone();
        let name = self.name.clone();
        let ctrl = self.ctrl_tx.clone();
        tokio::spawn(async move {
            let done = writer.write(name, updates).await;
            let result = done.await.unwrap_or_else(|_| {
                Err(Arc::new(StoreError::Unavailable("writer stopped".into())))
            });
            let _ = ctrl.send(Control::WriteDone(Box::new(WriteDone { id, result })));
        });
    }

    fn on_write_done(&mut self, result: Result<i64, Arc<StoreError>>) {
        match result {
            Ok(seq) => {
                let n = self.in_flight;
                self.in_flight = 0;
                let mut bytes = 0usize;
                let mut unrelayed = Vec::new();
                for _ in 0..n {
                    let Some(p) = self.pending.pop_front() else {
                        break;
                    };
                    bytes += p.update.len();
                    if !p.relayed {
                        unrelayed.push(p);
                    }
                }
                self.relay(&unrelayed);
                self.ctx.unwritten.fetch_sub(bytes, Ordering::Relaxed);
                metrics::gauge!(m::UNWRITTEN_BYTES).decrement(bytes as f64);
                self.persisted_upto += n as u64;
                self.last_seq = self.last_seq.max(seq);
                self.updates_since_snapshot += n as u64;
                self.bytes_since_snapshot += bytes as u64;
                if self.degraded {
                    tracing::info!(doc = %self.name, "database writes recovered");
                }
                self.degraded = false;
                self.backoff = Duration::from_millis(100);
                self.release_deferred();
                self.submit_write();
                if self.updates_since_snapshot >= self.ctx.settings.compact_updates
                    || self.bytes_since_snapshot >= self.ctx.settings.compact_bytes
                {
                    self.spawn_compaction();
                }
            }
            Err(err) => {
                self.in_flight = 0;
                if !self.degraded {
                    tracing::warn!(doc = %self.name, error = %err, "database write failed; serving from memory and retrying");
                }
                self.degraded = true;
                self.relay_pending();
                let ctrl = self.ctrl_tx.clone();
                let wait = self.backoff;
                self.backoff = (self.backoff * 2).min(Duration::from_secs(5));
                tokio::spawn(async move {
                    tokio::time::sleep(wait).await;
                    let _ = ctrl.send(Control::RetryWrite);
                });
            }
        }
    }

    fn relay_pending(&mut self) {
        let mut unrelayed = Vec::new();
        for p in self.pending.iter_mut().filter(|p| !p.relayed) {
            p.relayed = true;
            unrelayed.push(Pending {
                update: p.update.clone(),
                frame: p.frame.clone(),
                relayed: true,
            });
        }
        self.relay(&unrelayed);
        self.release_deferred();
    }

    /// Sends committed (or, degraded, accepted) updates to every peer, in order.
    ///
    /// Everything that arrived during one commit goes out together. Sent one frame per
    /// update, a slow commit under heavy typing could hand every peer more frames at once
    /// than its queue holds and disconnect even the fastest clients. Past half a queue the
    /// burst is therefore merged into one update: same document, one frame.
    fn relay(&mut self, updates: &[Pending]) {
        let burst_limit = (self.ctx.settings.outbound_queue / 2).max(1);
        if updates.len() > burst_limit {
            let parts: Vec<&[u8]> = updates.iter().map(|p| p.update.as_ref()).collect();
            match yrs::merge_updates_v1(&parts) {
                Ok(merged) => {
                    metrics::counter!(m::BURSTS_MERGED).increment(1);
                    self.broadcast(&protocol::sync_update(merged));
                    self.relayed_upto += updates.len() as u64;
                    return;
                }
                // Cannot happen for updates the document accepted; sending them one by
                // one is still correct, at the risk of disconnecting slow peers.
                Err(err) => {
                    tracing::warn!(doc = %self.name, error = %err, "could not merge a burst of updates")
                }
            }
        }
        for p in updates {
            self.broadcast(&p.frame);
        }
        self.relayed_upto += updates.len() as u64;
    }

    fn release_deferred(&mut self) {
        let upto = self.relayed_upto;
        let ready: Vec<Deferred> = {
            let (ready, wait) = std::mem::take(&mut self.deferred)
                .into_iter()
                .partition(|d| d.barrier <= upto);
            self.deferred = wait;
            ready
        };
        for d in ready {
            self.send_to(d.peer, d.frame);
        }
        let persisted = self.persisted_upto;
        let (done, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.apply_waiters)
            .into_iter()
            .partition(|(barrier, _)| *barrier <= persisted);
        self.apply_waiters = waiting;
        for (_, tx) in done {
            let _ = tx.send(Ok(()));
        }
    }

    fn spawn_compaction(&mut self) {
        let snapshot = self.snapshot();
        self.updates_since_snapshot = 0;
        self.bytes_since_snapshot = 0;
        let store = self.ctx.store.clone();
        let name = self.name.clone();
        self.spawn_background(async move {
            match store.compact(&name, &snapshot).await {
                Ok(stats) => {
                    metrics::counter!(m::COMPACTIONS).increment(1);
                    tracing::debug!(doc = %name, removed = stats.updates_removed, "compacted");
                }
                // Harmless: the log still holds everything; the next compaction folds it.
                Err(err) => tracing::warn!(doc = %name, error = %err, "compaction failed"),
            }
        });
    }

    fn spawn_background(&mut self, task: impl Future<Output = ()> + Send + 'static) {
        // Reap what has finished so the set holds only running tasks.
        let set = self.background.get_or_insert_with(JoinSet::new);
        while set.try_join_next().is_some() {}
        set.spawn(task);
    }

    /// Deletes the document once nothing of the room's can write it back: the write in
    /// flight has answered and background store work has finished. The room's peers hear
    /// the outcome afterwards; anyone arriving meanwhile is turned away with `reason`.
    async fn delete(
        &mut self,
        ctrl: &mut mpsc::UnboundedReceiver<Control>,
        reason: &CloseReason,
    ) -> Result<bool, StoreError> {
        let mut also_deleting = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.in_flight > 0 {
            let msg = match tokio::time::timeout_at(deadline, ctrl.recv()).await {
                Ok(Some(msg)) => msg,
                Ok(None) => break,
                Err(_) => {
                    return Err(StoreError::Unavailable(
                        "a write to the document is still pending".into(),
                    ))
                }
            };
            match msg {
                Control::WriteDone(done) if done.id == self.write_id => self.in_flight = 0,
                Control::WriteDone(..) | Control::RetryWrite => {}
                Control::Join(peer) => {
                    let _ = peer.kick.send(reason.clone());
                }
                Control::Request(req) => reply_closed(*req),
                Control::Shutdown(req) => also_deleting.push(req.done),
            }
        }
        if let Some(set) = self.background.as_mut() {
            while set.join_next().await.is_some() {}
        }
        // Whatever is still queued is dropped with the document (or, if the delete fails,
        // resent by its clients when they reconnect); it no longer counts as unwritten.
        let dropped: usize = self.pending.drain(..).map(|p| p.update.len()).sum();
        self.ctx.unwritten.fetch_sub(dropped, Ordering::Relaxed);
        metrics::gauge!(m::UNWRITTEN_BYTES).decrement(dropped as f64);
        let result = self.ctx.store.delete_document(&self.name).await;
        for done in also_deleting {
            // A second delete racing the first finds nothing left to delete.
            let _ = done.send(
                result
                    .as_ref()
                    .map(|_| false)
                    .map_err(|e| StoreError::Unavailable(e.to_string())),
            );
        }
        result
    }

    fn snapshot(&self) -> Snapshot {
        let txn = self.awareness.doc().transact();
        Snapshot {
            state: txn.encode_state_as_update_v1(&StateVector::default()),
            state_vector: txn.state_vector().encode_v1(),
            upto_seq: self.last_seq,
        }
    }

    // ----- peers ---------------------------------------------------------------------

    fn send_to(&mut self, peer: PeerId, frame: Bytes) {
        let Some(p) = self.peers.get(&peer) else {
            return;
        };
        let len = frame.len();
        match p.handle.outbound.try_send(Arc::new(frame)) {
            Ok(()) => {
                metrics::counter!(m::BYTES_OUT).increment(len as u64);
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                metrics::counter!(m::QUEUE_DROPS).increment(1);
                self.kick(peer, CloseReason::too_slow());
            }
            Err(mpsc::error::TrySendError::Closed(_)) => self.leave(peer),
        }
    }

    /// Sends the same bytes to every peer. Peers whose queue is full are disconnected.
    fn broadcast(&mut self, frame: &Bytes) {
        let mut slow = Vec::new();
        let mut gone = Vec::new();
        let shared: Frame = Arc::new(frame.clone());
        for (id, p) in &self.peers {
            match p.handle.outbound.try_send(shared.clone()) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(_)) => slow.push(*id),
                Err(mpsc::error::TrySendError::Closed(_)) => gone.push(*id),
            }
        }
        let delivered = (self.peers.len() - slow.len() - gone.len()) as u64;
        metrics::counter!(m::BYTES_OUT).increment(delivered * frame.len() as u64);
        if frame.first() == Some(&0) {
            metrics::counter!(m::UPDATES_RELAYED).increment(delivered);
        }
        for id in slow {
            metrics::counter!(m::QUEUE_DROPS).increment(1);
            tracing::info!(doc = %self.name, peer = id, "disconnecting slow peer");
            self.kick(id, CloseReason::too_slow());
        }
        for id in gone {
            self.leave(id);
        }
    }

    fn kick_all(&mut self, reason: &CloseReason) {
        let ids: Vec<PeerId> = self.peers.keys().copied().collect();
        for id in ids {
            self.kick(id, reason.clone());
        }
    }

    fn kick(&mut self, peer: PeerId, reason: CloseReason) {
        if let Some(p) = self.remove_peer(peer) {
            let _ = p.handle.kick.send(reason);
        }
    }

    fn leave(&mut self, peer: PeerId) {
        self.remove_peer(peer);
    }

    /// Removes a peer and broadcasts the removal of its awareness states, so its cursor
    /// disappears for everyone at once.
    fn remove_peer(&mut self, peer: PeerId) -> Option<Peer> {
        let mut p = self.peers.remove(&peer)?;
        metrics::gauge!(m::CONNECTIONS, "transport" => p.handle.transport.as_str()).decrement(1.0);
        self.deferred.retain(|d| d.peer != peer);
        self.remove_awareness(p.clients.drain().collect());
        if self.peers.is_empty() {
            self.empty_since = Some(Instant::now());
        }
        Some(p)
    }

    fn remove_awareness(&mut self, clients: Vec<u64>) {
        let live: Vec<yrs::block::ClientID> = clients
            .into_iter()
            .map(yrs::block::ClientID::new)
            .filter(|c| self.awareness.meta(*c).is_some())
            .collect();
        if live.is_empty() {
            return;
        }
        for c in &live {
            self.awareness.remove_state(*c);
        }
        if let Ok(update) = self.awareness.update_with_clients(live) {
            self.broadcast(&protocol::awareness(update));
        }
    }

    // ----- timers --------------------------------------------------------------------

    async fn on_timer(
        &mut self,
        ctrl: &mpsc::UnboundedReceiver<Control>,
        data: &mut mpsc::Receiver<Box<PeerEvent>>,
    ) -> Flow {
        let now = Instant::now();
        self.expire_awareness();
        if self.dirty_since_version
            && (now >= self.last_edit + self.ctx.settings.version_idle
                || now >= self.last_version + self.ctx.settings.version_interval)
        {
            let (done, _) = oneshot::channel();
            self.spawn_version(VersionKind::Auto, None, done);
        }
        let Some(since) = self.empty_since else {
            return Flow::Continue;
        };
        if now < since + self.ctx.settings.unload_grace {
            return Flow::Continue;
        }
        if !self.write_out(Duration::from_secs(5)).await {
            // Database still down: stay loaded (the updates live only here) and try later.
            self.empty_since = Some(Instant::now());
            return Flow::Continue;
        }
        // Departures may still sit in the queue; settle them before deciding.
        while let Ok(ev) = data.try_recv() {
            self.on_peer_event(*ev);
        }
        if self.peers.is_empty()
            && self
                .registry
                .remove_if_idle(&self.name, self.generation, ctrl)
        {
            tracing::debug!(doc = %self.name, "unloaded");
            return Flow::Exit;
        }
        Flow::Continue
    }

    fn expire_awareness(&mut self) {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let timeout = self.ctx.settings.awareness_timeout.as_millis() as u64;
        let stale: Vec<u64> = self
            .awareness
            .iter()
            .filter(|(_, s)| s.data.is_some() && now_ms.saturating_sub(s.last_updated) > timeout)
            .map(|(id, _)| id.get())
            .collect();
        if !stale.is_empty() {
            for p in self.peers.values_mut() {
                for c in &stale {
                    p.clients.remove(c);
                }
            }
            self.remove_awareness(stale);
        }
    }

    /// Commits every pending update, compacts and takes a version if anything changed.
    /// Returns false if the database could not be reached within `limit`.
    async fn write_out(&mut self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while !self.pending.is_empty() {
            if Instant::now() >= deadline {
                return false;
            }
            let updates: Vec<Bytes> = self.pending.iter().map(|p| p.update.clone()).collect();
            // A write may already be in flight; its answer arrives on the control queue,
            // which we are not reading now, so write the whole queue again: appends of the
            // same update twice are harmless (Yjs updates are idempotent).
            let done = self.ctx.writer.write(self.name.clone(), updates).await;
            match tokio::time::timeout_at(deadline, done).await {
                Ok(Ok(Ok(seq))) => {
                    self.in_flight = self.pending.len();
                    self.write_id += 1; // the batch that was in flight is covered by this one
                    self.on_write_done(Ok(seq));
                }
                _ => return false,
            }
        }
        if self.updates_since_snapshot > 0 {
            let snapshot = self.snapshot();
            match self.ctx.store.compact(&self.name, &snapshot).await {
                Ok(_) => {
                    metrics::counter!(m::COMPACTIONS).increment(1);
                    self.updates_since_snapshot = 0;
                    self.bytes_since_snapshot = 0;
                }
                Err(err) => {
                    tracing::warn!(doc = %self.name, error = %err, "compaction on unload failed")
                }
            }
        }
        if self.dirty_since_version {
            let material = self.version_material(VersionKind::Auto, None);
            match self.ctx.store.create_version(&self.name, &material).await {
                Ok(_) => {
                    metrics::counter!(m::VERSIONS, "kind" => "auto").increment(1);
                    self.dirty_since_version = false;
                }
                Err(err) => {
                    tracing::warn!(doc = %self.name, error = %err, "version on unload failed")
                }
            }
        }
        true
    }
}

fn reply_closed(req: Request) {
    match req {
        Request::Apply { done, .. } => {
            let _ = done.send(Err(RoomError::Closed));
        }
        Request::CreateVersion { done, .. } | Request::Restore { done, .. } => {
            let _ = done.send(Err(RoomError::Closed));
        }
        // Dropping the reply sender tells the caller the room is gone.
        Request::Info(_) | Request::Text(_) | Request::State(_) => {}
    }
}
