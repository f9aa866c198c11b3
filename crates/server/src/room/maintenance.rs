//! The shell of a room's upkeep: it carries out what the rules (`upkeep.rs`) decide
//! (compaction, automatic versions, writing everything out before unloading) and tells
//! them how it went.
//!
//! Compactions and versions started while the room is busy run off its task; writing out
//! (on unload and shutdown) lets them finish, then does its own in place. Both use the
//! same store calls (`upkeep_store.rs`).

use std::{future::Future, time::Duration};

use tandem_persistence::{NewVersion, Snapshot, StoredDoc, VersionInfo, VersionKind};
use tokio::{
    sync::{mpsc, oneshot},
    task::JoinSet,
    time::Instant,
};
use yrs::{updates::encoder::Encode, ReadTxn, StateVector, Transact};

use super::{
    commit::Committed,
    mailbox::{Control, PeerEvent, RoomError},
    settings::RoomSettings,
    upkeep::{Action, Limits, Source, Upkeep},
    upkeep_store::{compact_what_is_stored, store_version, stored_material},
    weight, Flow, Room,
};
use crate::render::Content;

/// The room's upkeep: the rules ([`Upkeep`]) and the store work they ask for, running
/// off the room's task, plus what the room tracks of its document's size.
pub(super) struct Maintenance {
    pub(super) rules: Upkeep,
    /// The document's encoded size, exact after loading and compacting, plus every update
    /// since: an upper bound that is cheap to keep (see `--max-document-bytes`).
    pub(super) doc_bytes: usize,
    /// Yjs structs in those bytes, counted the same way (see `weight`).
    pub(super) structs: u64,
    /// When the last named version was asked for (they are rate-limited).
    pub(super) last_named: Option<Instant>,
    /// Store work running off the room's task: compactions (`Some(worked)`) and versions
    /// (`None`). A delete waits for it, or a late compaction would write the document
    /// back. Made on first use: an empty set still allocates, and many loaded documents
    /// are only ever read.
    background: Option<JoinSet<Option<bool>>>,
}

impl Maintenance {
    pub(super) fn new(settings: &RoomSettings, clustered: bool, now: Instant) -> Maintenance {
        Maintenance {
            rules: Upkeep::new(Limits::from(settings), clustered, now),
            doc_bytes: 0,
            structs: 0,
            last_named: None,
            background: None,
        }
    }

    pub(super) fn loaded(&mut self, stored: &StoredDoc) {
        self.doc_bytes = stored.snapshot.as_ref().map_or(0, Vec::len)
            + stored.updates.iter().map(Vec::len).sum::<usize>();
        self.structs = stored
            .snapshot
            .iter()
            .chain(&stored.updates)
            .map(|u| weight::structs(u))
            .sum();
        let bytes = stored.updates.iter().map(|u| u.len() as u64).sum();
        self.rules.loaded(stored.updates.len() as u64, bytes);
    }

    /// An update of `bytes` (`structs` structs) that changed the document was accepted.
    pub(super) fn edited(&mut self, bytes: usize, structs: u64) {
        self.doc_bytes += bytes;
        self.structs += structs;
        self.rules.edited(Instant::now());
    }

    /// The document grew by a change made elsewhere (another instance's commit).
    pub(super) fn grew(&mut self, update: &[u8]) {
        self.doc_bytes += update.len();
        self.structs += weight::structs(update);
    }

    /// The estimated memory of the document (see `weight`).
    pub(super) fn weight(&self) -> u64 {
        weight::estimate(self.doc_bytes, self.structs)
    }

    /// Someone (by the name they show in presence) edited since the previous version.
    pub(super) fn edited_by(&mut self, name: String) {
        self.rules.edited_by(name);
    }

    /// Waits for every compaction and version running in the background.
    pub(super) async fn settle_background(&mut self) {
        if let Some(set) = self.background.as_mut() {
            while let Some(done) = set.join_next().await {
                Self::finished(&mut self.rules, done);
            }
        }
    }

    /// Tells the rules about the background work that has finished.
    fn reap(&mut self) {
        if let Some(set) = self.background.as_mut() {
            while let Some(done) = set.try_join_next() {
                Self::finished(&mut self.rules, done);
            }
        }
    }

    fn finished(rules: &mut Upkeep, done: Result<Option<bool>, tokio::task::JoinError>) {
        match done {
            Ok(Some(worked)) => rules.compacted(worked, Instant::now()),
            Ok(None) => {}
            // A compaction that panicked worked no more than one that failed.
            Err(_) => rules.compacted(false, Instant::now()),
        }
    }

    fn spawn(&mut self, task: impl Future<Output = Option<bool>> + Send + 'static) {
        // Reap what has finished so the set holds only running tasks.
        self.reap();
        self.background.get_or_insert_with(JoinSet::new).spawn(task);
    }
}

impl Room {
    /// Accounts for a commit and compacts in the background once the log grew enough.
    pub(super) fn on_committed(&mut self, committed: Committed) {
        self.upkeep.reap();
        let now = Instant::now();
        if let Some(Action::Compact(from)) =
            (self.upkeep.rules).committed(committed.updates, committed.bytes, now)
        {
            self.spawn_compaction(from);
        }
    }

    /// Carries out what the upkeep rules say is due when the room's timer fires.
    pub(super) async fn upkeep_due(
        &mut self,
        ctrl: &mpsc::UnboundedReceiver<Control>,
        data: &mut mpsc::Receiver<Box<PeerEvent>>,
    ) -> Flow {
        self.upkeep.reap();
        for action in self.upkeep.rules.tick(Instant::now()) {
            match action {
                Action::Compact(from) => self.spawn_compaction(from),
                Action::Version(_) => {
                    let (done, _) = oneshot::channel();
                    self.spawn_version(VersionKind::Auto, None, done);
                }
                Action::Unload => return self.unload(ctrl, data).await,
            }
        }
        Flow::Continue
    }

    /// Writes everything out and leaves the registry, unless updates could not be
    /// written (they live only here) or someone came back meanwhile.
    async fn unload(
        &mut self,
        ctrl: &mpsc::UnboundedReceiver<Control>,
        data: &mut mpsc::Receiver<Box<PeerEvent>>,
    ) -> Flow {
        let written = self.write_out(Duration::from_secs(5)).await;
        if written {
            // Departures may still sit in the queue; settle them before deciding.
            while let Ok(ev) = data.try_recv() {
                self.on_peer_event(*ev);
            }
        }
        let peers = !self.peers.is_empty();
        if (self.upkeep.rules).may_unload(Instant::now(), !written, peers)
            && self
                .directory
                .remove_if_idle(&self.name, self.generation, ctrl)
        {
            tracing::debug!(doc = %self.name, "unloaded");
            return Flow::Exit;
        }
        Flow::Continue
    }

    /// Compacts in the background; the rules hear how it went when it is reaped.
    fn spawn_compaction(&mut self, from: Source) {
        let snapshot = self.snapshot();
        self.upkeep.doc_bytes = snapshot.state.len();
        self.upkeep.structs = weight::structs(&snapshot.state);
        self.report_weight();
        let store = self.ctx.store.clone();
        let name = self.name.clone();
        // If it fails, the log still holds everything; the rules retry later.
        self.upkeep.spawn(async move {
            Some(compact_what_is_stored(&store, &name, from == Source::Database, snapshot).await)
        });
    }

    /// Stores the current state as a version once what it contains is committed; the
    /// version row itself is written off the room's task.
    pub(super) fn spawn_version(
        &mut self,
        kind: VersionKind,
        label: Option<String>,
        done: oneshot::Sender<Result<VersionInfo, RoomError>>,
    ) {
        let authors = self.upkeep.rules.version_started(Instant::now());
        let clustered = self.ctx.cluster.is_some();
        let material = self.version_material(kind, label, authors, clustered);
        let store = self.ctx.store.clone();
        let name = self.name.clone();
        let fields = self.ctx.settings.rich_fields.clone();
        let keep = self.ctx.settings.retention;
        self.upkeep.spawn(async move {
            let material = match stored_material(&store, &name, clustered, &fields, material).await
            {
                Ok(material) => material,
                Err(e) => {
                    let _ = done.send(Err(RoomError::Storage(e.to_string())));
                    return None;
                }
            };
            match store_version(&store, &name, &material, &keep).await {
                Ok(Some(info)) => {
                    let _ = done.send(Ok(info));
                }
                // An automatic version nobody waits for was not needed.
                Ok(None) => {}
                Err(e) => {
                    let _ = done.send(Err(RoomError::Storage(e.to_string())));
                }
            }
            None
        });
    }

    /// Commits every pending update, compacts and takes a version if anything changed.
    /// Returns false if the database could not be reached within `limit`.
    pub(super) async fn write_out(&mut self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while self.commit.has_pending() {
            if Instant::now() >= deadline {
                return false;
            }
            let updates = self.commit.outstanding();
            let authors = self.commit.outstanding_authors();
            let count = updates.len();
            // A write may already be in flight; its answer arrives on the control queue,
            // which we are not reading now, so write the whole queue again: appends of the
            // same update twice are harmless (Yjs updates are idempotent).
            let (answer, done) = tokio::sync::oneshot::channel();
            let reply = crate::writer::Reply::new(move |result| {
                let _ = answer.send(result);
            });
            let doc_id = self.copy.doc_id();
            let name = self.name.clone();
            self.ctx.writer.write(name, doc_id, updates, authors, reply);
            match tokio::time::timeout_at(deadline, done).await {
                Ok(Ok(Ok(appended))) if appended.gone => {
                    // Deleted meanwhile (another instance): nothing left to write.
                    self.commit.drop_pending();
                    return true;
                }
                Ok(Ok(Ok(appended))) => {
                    let actions = self.commit.written_out(count, appended.last_seq);
                    let _ = self.on_appended(&appended, &actions.relay);
                    self.perform(actions);
                }
                _ => return false,
            }
        }
        self.catch_up_now().await;
        // A compaction still running would race the one below; what it did not cover
        // (or, failed, did not do) the one below does.
        let _ = tokio::time::timeout_at(deadline, self.upkeep.settle_background()).await;
        let plan = self.upkeep.rules.write_out();
        if let Some(from) = plan.compact {
            let snapshot = self.snapshot();
            let db = from == Source::Database;
            if compact_what_is_stored(&self.ctx.store, &self.name, db, snapshot).await {
                self.upkeep.rules.written_compacted();
            }
        }
        if let Some(from) = plan.version {
            let authors = self.upkeep.rules.take_authors();
            let db = from == Source::Database;
            let material = self.version_material(VersionKind::Auto, None, authors, db);
            let fields = &self.ctx.settings.rich_fields;
            let material = stored_material(&self.ctx.store, &self.name, db, fields, material);
            let stored = match material.await {
                Ok(material) => {
                    let keep = &self.ctx.settings.retention;
                    store_version(&self.ctx.store, &self.name, &material, keep).await
                }
                Err(err) => Err(err),
            };
            match stored {
                Ok(_) => self.upkeep.rules.written_version(),
                Err(err) => {
                    tracing::warn!(doc = %self.name, error = %err, "version on unload failed")
                }
            }
        }
        true
    }

    fn snapshot(&self) -> Snapshot {
        let txn = self.awareness.doc().transact();
        Snapshot {
            state: txn.encode_state_as_update_v1(&StateVector::default()),
            state_vector: txn.state_vector().encode_v1(),
            // Only what this copy is sure to have: rows past it may hold others' updates
            // that are not in this state, and compaction deletes every row the snapshot
            // covers (`cluster_copy.rs`: the bus never moves `confirmed`).
            upto_seq: self.copy.confirmed(),
        }
    }

    fn version_material(
        &self,
        kind: VersionKind,
        label: Option<String>,
        authors: Vec<String>,
        from_database: bool,
    ) -> NewVersion {
        if from_database {
            // Made from what the database holds instead (`stored_material`).
            return NewVersion {
                kind,
                label,
                state: Vec::new(),
                state_vector: Vec::new(),
                text: String::new(),
                format: None,
                authors,
            };
        }
        let txn = self.awareness.doc().transact();
        let content = Content::from_txn(&txn, &self.ctx.settings.rich_fields);
        NewVersion {
            kind,
            label,
            state: txn.encode_state_as_update_v1(&StateVector::default()),
            state_vector: txn.state_vector().encode_v1(),
            text: content.plain_text(),
            format: content.kind(),
            authors,
        }
    }
}
