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

mod accept;
mod admission;
mod apply_budget;
mod apply_cost;
mod awaiting_deps;
mod budget;
mod claims;
mod clocks;
mod cluster_copy;
mod commit;
mod db_state;
mod delete;
mod ending;
mod heavy;
mod mailbox;
mod maintenance;
mod peer_set;
mod peers;
mod presence;
mod rate;
mod remote_presence;
mod replica;
mod requests;
mod settings;
mod slice;
mod sync;
mod upkeep;
mod upkeep_store;
mod weight;
mod writes;

use std::{panic::AssertUnwindSafe, sync::Arc, time::Duration};

use futures::FutureExt;
use tandem_persistence::StoreError;
use tokio::{sync::mpsc, time::Instant};
use yrs::sync::Awareness;

pub(crate) use mailbox::{Control, PeerEvent, Request, RoomError, RoomInfo, ShutdownRequest};
pub(crate) use settings::{RoomContext, RoomSettings};

use crate::{metric_names as m, peer::CloseReason, text};
use commit::Commit;
use maintenance::Maintenance;

/// What a room needs from whoever keeps the map of loaded rooms (the registry): only a
/// way to leave it. The room owns this interface so it never depends on the registry.
pub(crate) trait Directory: Send + Sync {
    /// Removes the room `generation` of `doc`, if it is still the one registered.
    fn remove(&self, doc: &str, generation: u64);
    /// Removes an idle room unless a message reached it meanwhile (`ctrl` is checked
    /// under the directory's lock); returns false if one did.
    fn remove_if_idle(
        &self,
        doc: &str,
        generation: u64,
        ctrl: &mpsc::UnboundedReceiver<Control>,
    ) -> bool;
}

/// What waits for every accepted update to be committed: a caller of the HTTP API
/// waiting for its edit, or a Hocuspocus peer owed a sync status ("saved") for one of its
/// updates.
enum Waiter {
    Api(tokio::sync::oneshot::Sender<Result<(), RoomError>>),
    Ack(crate::peer::PeerId),
}

pub(crate) struct Room {
    name: String,
    ctx: Arc<RoomContext>,
    directory: Arc<dyn Directory>,
    generation: u64,
    ctrl_tx: mpsc::UnboundedSender<Control>,
    awareness: Awareness,
    peers: peer_set::PeerSet,
    presence: presence::Ownership,
    /// Updates waiting for the changes they build on (see `awaiting_deps`).
    awaiting: awaiting_deps::AwaitingDeps,
    /// Each client's clock in the document, without building a state vector.
    clocks: clocks::Clocks,
    /// The document's apply-time account (see `apply_budget`).
    cost: apply_budget::DocCost,
    copy: cluster_copy::ClusterCopy<replica::WaitingJoin>,
    remote: remote_presence::RemoteClients,
    commit: Commit<Waiter>,
    upkeep: Maintenance,
    /// The document's entry in `client_limits`' weights, set without its lock.
    weight: crate::client_limits::DocWeight,
}

enum Flow {
    Continue,
    Exit,
    /// The document was deleted elsewhere (another instance): close everyone with 4404
    /// and leave without writing anything.
    Vanish,
    Shutdown(Box<ShutdownRequest>),
}

impl Room {
    pub(crate) fn new(
        name: String,
        ctx: Arc<RoomContext>,
        directory: Arc<dyn Directory>,
        generation: u64,
        ctrl_tx: mpsc::UnboundedSender<Control>,
    ) -> Room {
        let now = Instant::now();
        let awareness = Awareness::new(text::new_doc());
        Room {
            clocks: clocks::Clocks::follow(awareness.doc()),
            cost: apply_budget::DocCost::new(std::time::Instant::now()),
            presence: presence::Ownership::new(ctx.settings.max_awareness_clients),
            awaiting: awaiting_deps::AwaitingDeps::default(),
            copy: cluster_copy::ClusterCopy::new(ctx.cluster.is_some()),
            remote: remote_presence::RemoteClients::default(),
            name,
            commit: Commit::new(ctx.budget.clone(), ctx.settings.outbound_queue),
            upkeep: Maintenance::new(&ctx.settings, ctx.cluster.is_some(), now),
            ctx,
            directory,
            generation,
            ctrl_tx,
            awareness,
            peers: peer_set::PeerSet::default(),
            weight: Default::default(),
        }
    }

    /// Runs the room until it unloads.
    pub(crate) async fn run(
        mut self,
        mut ctrl: mpsc::UnboundedReceiver<Control>,
        mut data: mpsc::Receiver<Box<PeerEvent>>,
    ) {
        metrics::gauge!(m::DOCUMENTS_LOADED).increment(1.0);
        // Subscribed before loading: a commit announced meanwhile is then either in the
        // load or in the queue (where, already applied, it counts as a duplicate).
        let mut bus = match &self.ctx.cluster {
            Some(cluster) => match cluster.subscribe(&self.name).await {
                Ok(rx) => Some(rx),
                Err(err) => {
                    // The periodic check against the database keeps this copy current.
                    tracing::warn!(doc = %self.name, error = %err, "subscribing to the cluster bus failed");
                    None
                }
            },
            None => None,
        };
        if let Err(err) = self.load().await {
            tracing::error!(doc = %self.name, error = %err, "loading document failed");
            // Never serve a document we could not read: compaction would later drop the
            // updates we never saw. Refuse everyone waiting; clients reconnect and retry.
            self.directory.remove(&self.name, self.generation);
            ctrl.close();
            while let Some(msg) = ctrl.recv().await {
                let closed = CloseReason::storage_unavailable();
                if let Some(req) = mailbox::turn_away(msg, &closed) {
                    let why = "document could not be loaded".into();
                    let _ = req.done.send(Err(StoreError::Unavailable(why)));
                }
            }
            self.ctx
                .client_limits
                .unloaded_room(&self.name, &self.weight);
            metrics::gauge!(m::DOCUMENTS_LOADED).decrement(1.0);
            return;
        }
        self.report_weight();
        self.query_remote_awareness();
        let mut slice = slice::Slice::new(self.ctx.settings.room_slice);
        loop {
            let wake = self.next_wakeup();
            let step = async {
                tokio::select! {
                    biased;
                    Some(msg) = ctrl.recv() => slice.time(|| self.on_control(msg)),
                    Some(ev) = data.recv() => slice.time(|| { self.on_peer_event(*ev); Flow::Continue }),
                    Some(msg) = mailbox::next_bus(&mut bus) => slice.time(|| self.on_bus(msg)),
                    _ = tokio::time::sleep_until(wake) => self.on_timer(&ctrl, &mut data).await,
                }
            };
            let flow = match AssertUnwindSafe(step).catch_unwind().await {
                Ok(flow) => flow,
                Err(_) => {
                    self.crashed(&mut ctrl);
                    break;
                }
            };
            match flow {
                Flow::Continue => {
                    if slice.used_up() {
                        tokio::task::yield_now().await;
                    }
                }
                Flow::Exit => break,
                Flow::Vanish => {
                    self.vanish(&mut ctrl);
                    break;
                }
                Flow::Shutdown(req) => {
                    self.shut_down(*req, &mut ctrl, &mut data).await;
                    break;
                }
            }
        }
        // The document's memory is freed with the room: only then may its clients use
        // the room's weight again, and only then is there memory to hand back.
        let (ctx, name, weight) = (self.ctx.clone(), self.name.clone(), self.upkeep.weight());
        let entry = self.weight.clone();
        drop(self);
        ctx.client_limits.unloaded_room(&name, &entry);
        weight::unloaded(weight);
        metrics::gauge!(m::DOCUMENTS_LOADED).decrement(1.0);
    }

    async fn load(&mut self) -> Result<(), StoreError> {
        let Some(stored) = self.ctx.store.load(&self.name).await? else {
            return Ok(());
        };
        // A bad row is logged and skipped: refusing the document would lose the rest.
        self.upkeep.loaded(&stored);
        let doc = self.awareness.doc();
        for err in heavy::run(self.upkeep.doc_bytes, || text::replay(doc, &stored)) {
            tracing::error!(doc = %self.name, error = %err, "stored update skipped");
        }
        self.copy.loaded(stored.last_seq, stored.id);
        // A log written before updates were checked for gaps may leave `yrs` holding
        // structs whose dependencies are missing; its code that retries them is unsafe (see
        // `awaiting_deps`), so they are dropped. Nobody could see them.
        let doc = self.awareness.doc().clone();
        let mut txn = yrs::Transact::transact_mut(&doc);
        if awaiting_deps::yrs_pending_bytes(&txn) > 0 {
            yrs::WriteTxn::prune_pending(&mut txn);
            tracing::warn!(doc = %self.name, "dropped stored changes whose dependencies are missing");
        }
        Ok(())
    }

    fn next_wakeup(&self) -> Instant {
        let far = Instant::now() + Duration::from_secs(3600);
        let mut wake = self
            .upkeep
            .rules
            .next_wakeup()
            .map_or(far, |due| due.min(far));
        if !self.peers.is_empty() {
            // Awareness states that stop being renewed expire, as in the JS implementation.
            wake = wake.min(Instant::now() + self.ctx.settings.awareness_timeout / 6);
        }
        wake
    }

    fn on_control(&mut self, msg: Control) -> Flow {
        match msg {
            Control::Join(peer) => self.join(*peer),
            Control::Request(req) => self.on_request(*req),
            Control::WriteDone(done) => return self.on_write_done(*done),
            Control::Head { seq, for_join } => return self.on_head(seq, for_join),
            Control::CaughtUp(answer) => return self.on_caught_up(*answer),
            Control::InstanceGone(instance) => self.drop_instance(&instance),
            Control::RetryWrite => {
                let actions = self.commit.retry();
                self.perform(actions);
            }
            Control::Shutdown(req) => return Flow::Shutdown(req),
        }
        Flow::Continue
    }

    async fn on_timer(
        &mut self,
        ctrl: &mpsc::UnboundedReceiver<Control>,
        data: &mut mpsc::Receiver<Box<PeerEvent>>,
    ) -> Flow {
        self.expire_awareness();
        self.upkeep_due(ctrl, data).await
    }
}
