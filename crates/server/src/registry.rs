//! The map from document name to its loaded room.
//!
//! Get-or-load is atomic per name: the map entry is created under the lock before the room
//! starts loading, and every way into a room (a join, an API request) sends its message
//! while holding the lock. A room that wants to unload takes the same lock and leaves only
//! if its control queue is empty, so nobody can slip into a room that is going away, and
//! thirty clients opening a cold document at once all land in one copy.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use tandem_persistence::StoreError;
use tokio::sync::{mpsc, oneshot};

use crate::{
    peer::{CloseReason, PeerHandle},
    room::{Control, Directory, PeerEvent, Request, Room, RoomContext, ShutdownRequest},
};

#[derive(Clone)]
struct Entry {
    generation: u64,
    ctrl: mpsc::UnboundedSender<Control>,
    data: mpsc::Sender<Box<PeerEvent>>,
}

/// How many peer messages may wait for a room before their transports stop reading.
const ROOM_QUEUE: usize = 1024;

pub(crate) struct Registry {
    ctx: Arc<RoomContext>,
    rooms: Mutex<HashMap<String, Entry>>,
    next_generation: std::sync::atomic::AtomicU64,
}

impl Registry {
    pub(crate) fn new(ctx: Arc<RoomContext>) -> Arc<Registry> {
        Arc::new(Registry {
            ctx,
            rooms: Mutex::new(HashMap::new()),
            next_generation: Default::default(),
        })
    }

    /// Sends `msg` to the document's room, loading it first if needed. Returns the
    /// room's peer-event queue.
    fn send(self: &Arc<Self>, doc: &str, msg: Control) -> mpsc::Sender<Box<PeerEvent>> {
        let mut rooms = self.rooms.lock().unwrap_or_else(|e| e.into_inner());
        let mut msg = Some(msg);
        if let Some(entry) = rooms.get(doc) {
            match entry.ctrl.send(msg.take().unwrap()) {
                Ok(()) => return entry.data.clone(),
                // The room's task died without deregistering (a panic): start afresh.
                Err(mpsc::error::SendError(back)) => msg = Some(back),
            }
        }
        let generation = self
            .next_generation
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (ctrl_tx, ctrl_rx) = mpsc::unbounded_channel();
        let (data_tx, data_rx) = mpsc::channel(ROOM_QUEUE);
        let directory: Arc<dyn Directory> = self.clone();
        let room = Room::new(
            doc.to_string(),
            self.ctx.clone(),
            directory,
            generation,
            ctrl_tx.clone(),
        );
        let _ = ctrl_tx.send(msg.take().unwrap());
        tokio::spawn(room.run(ctrl_rx, data_rx));
        rooms.insert(
            doc.to_string(),
            Entry {
                generation,
                ctrl: ctrl_tx,
                data: data_tx.clone(),
            },
        );
        data_tx
    }

    /// Adds a peer to a document's room; the returned queue takes its messages.
    pub(crate) fn join(
        self: &Arc<Self>,
        doc: &str,
        peer: PeerHandle,
    ) -> mpsc::Sender<Box<PeerEvent>> {
        self.send(doc, Control::Join(Box::new(peer)))
    }

    /// Sends an API request to a document's room, loading it if needed.
    pub(crate) async fn request<T>(
        self: &Arc<Self>,
        doc: &str,
        make: impl FnOnce(oneshot::Sender<T>) -> Request,
    ) -> Option<T> {
        let (tx, rx) = oneshot::channel();
        self.send(doc, Control::Request(Box::new(make(tx))));
        rx.await.ok()
    }

    pub(crate) fn is_loaded(&self, doc: &str) -> bool {
        self.rooms
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(doc)
    }

    pub(crate) fn loaded(&self) -> Vec<String> {
        self.rooms
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .cloned()
            .collect()
    }

    /// Sends a message (made per room) to every loaded room.
    pub(crate) fn notify_all(&self, make: impl Fn() -> Control) {
        let rooms = self.rooms.lock().unwrap_or_else(|e| e.into_inner());
        for entry in rooms.values() {
            let _ = entry.ctrl.send(make());
        }
    }

    /// Tells every loaded room the database's latest sequence number for its document, so
    /// a room behind (a lost bus message, a bus outage) catches up, and one whose document
    /// is gone (deleted through another instance) closes. Nothing is said if the database
    /// cannot answer: silence must not read as "deleted".
    pub(crate) async fn check_heads(&self) {
        // Each answer goes to the room that was asked about: a room loaded after the
        // query could have a document the query did not see yet.
        let asked: Vec<(String, u64)> = self
            .rooms
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(name, entry)| (name.clone(), entry.generation))
            .collect();
        if asked.is_empty() {
            return;
        }
        let names: Vec<String> = asked.iter().map(|(n, _)| n.clone()).collect();
        let Ok(heads) = self.ctx.store.last_seqs(&names).await else {
            return;
        };
        let heads: HashMap<String, i64> = heads.into_iter().collect();
        let rooms = self.rooms.lock().unwrap_or_else(|e| e.into_inner());
        for (name, generation) in asked {
            if let Some(entry) = rooms.get(&name).filter(|e| e.generation == generation) {
                let seq = heads.get(&name).copied();
                let _ = entry.ctrl.send(Control::Head {
                    seq,
                    for_join: false,
                });
            }
        }
    }

    /// Writes out and closes a document's room, if loaded, and waits until it is gone.
    pub(crate) async fn close(&self, doc: &str, reason: CloseReason) {
        let entry = self
            .rooms
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(doc)
            .cloned();
        if let Some(entry) = entry {
            let (done, rx) = oneshot::channel();
            let request = ShutdownRequest {
                reason,
                delete: false,
                done,
            };
            if entry
                .ctrl
                .send(Control::Shutdown(Box::new(request)))
                .is_ok()
            {
                let _ = rx.await;
            }
        }
    }

    /// Deletes a document: its room (loaded for the purpose if need be) closes every
    /// connection with 4404 and deletes the rows before it leaves the registry, so nobody
    /// can load the document while it is being deleted. Returns whether it existed.
    pub(crate) async fn delete(self: &Arc<Self>, doc: &str) -> Result<bool, StoreError> {
        // A room that was already on its way out drops the request unanswered; the next
        // attempt reaches a fresh room.
        for _ in 0..3 {
            let (done, rx) = oneshot::channel();
            let request = ShutdownRequest {
                reason: CloseReason::deleted(),
                delete: true,
                done,
            };
            self.send(doc, Control::Shutdown(Box::new(request)));
            if let Ok(result) = rx.await {
                return result;
            }
        }
        Err(StoreError::Unavailable(
            "the document kept closing; try again".into(),
        ))
    }

    /// Writes out and closes every room (graceful shutdown).
    pub(crate) async fn close_all(&self, reason: CloseReason) {
        let docs = self.loaded();
        let closes = docs.iter().map(|doc| self.close(doc, reason.clone()));
        futures::future::join_all(closes).await;
    }
}

/// How a room leaves the map: always under the map lock, so nobody slips in meanwhile.
impl Directory for Registry {
    /// Called by a room on its way out (after a failed load or a shutdown).
    fn remove(&self, doc: &str, generation: u64) {
        let mut rooms = self.rooms.lock().unwrap_or_else(|e| e.into_inner());
        if rooms.get(doc).is_some_and(|e| e.generation == generation) {
            rooms.remove(doc);
        }
    }

    /// Removes an idle room unless a message reached it meanwhile; see the module doc.
    fn remove_if_idle(
        &self,
        doc: &str,
        generation: u64,
        ctrl: &mpsc::UnboundedReceiver<Control>,
    ) -> bool {
        let mut rooms = self.rooms.lock().unwrap_or_else(|e| e.into_inner());
        if !ctrl.is_empty() {
            return false;
        }
        if rooms.get(doc).is_some_and(|e| e.generation == generation) {
            rooms.remove(doc);
        }
        true
    }
}
