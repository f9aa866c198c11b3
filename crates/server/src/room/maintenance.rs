//! Keeping the stored document small and its history readable: compaction (snapshot +
//! delete covered log rows), versions, and writing everything out before unloading.
//!
//! Compactions and versions started while the room is busy run off its task; writing out
//! (on unload and shutdown) awaits them in place. Both use the same two store calls below.

use std::{collections::BTreeSet, future::Future, sync::Arc, time::Duration};

use tandem_persistence::{
    NewVersion, Snapshot, Store, StoreError, StoredDoc, VersionInfo, VersionKind,
};
use tokio::{sync::oneshot, task::JoinSet, time::Instant};
use yrs::{
    updates::{decoder::Decode, encoder::Encode},
    ReadTxn, StateVector, Transact,
};

use super::{
    commit::Committed, db_state, mailbox::RoomError, settings::RoomSettings, weight, Room,
};
use crate::{
    metric_names as m,
    render::{Content, Fields},
};

/// What the room tracks to decide when to compact and when to take a version.
pub(super) struct Upkeep {
    updates_since_snapshot: u64,
    bytes_since_snapshot: u64,
    dirty_since_version: bool,
    /// Names of the people who edited since the previous version, recorded with it.
    authors: BTreeSet<String>,
    /// The document's encoded size, exact after loading and compacting, plus every update
    /// since: an upper bound that is cheap to keep (see `--max-document-bytes`).
    pub(super) doc_bytes: usize,
    /// Yjs structs in those bytes, counted the same way (see `weight`).
    pub(super) structs: u64,
    /// When the last named version was asked for (they are rate-limited).
    pub(super) last_named: Option<Instant>,
    last_edit: Instant,
    last_version: Instant,
    /// Store work running off the room's task (compactions, versions). A delete waits for
    /// it, or a late compaction would write the document back. Made on first use: an
    /// empty set still allocates, and many loaded documents are only ever read.
    background: Option<JoinSet<()>>,
}

impl Upkeep {
    pub(super) fn new(now: Instant) -> Upkeep {
        Upkeep {
            updates_since_snapshot: 0,
            bytes_since_snapshot: 0,
            dirty_since_version: false,
            authors: BTreeSet::new(),
            doc_bytes: 0,
            structs: 0,
            last_named: None,
            last_edit: now,
            last_version: now,
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
        self.updates_since_snapshot = stored.updates.len() as u64;
        self.bytes_since_snapshot = stored.updates.iter().map(|u| u.len() as u64).sum();
    }

    /// An update of `bytes` (`structs` structs) that changed the document was accepted.
    pub(super) fn edited(&mut self, bytes: usize, structs: u64) {
        self.doc_bytes += bytes;
        self.structs += structs;
        self.dirty_since_version = true;
        self.last_edit = Instant::now();
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
        self.authors.insert(name);
    }

    /// When an automatic version is due: editing paused, or a long session went on.
    pub(super) fn version_due(&self, settings: &RoomSettings) -> Option<Instant> {
        self.dirty_since_version.then(|| {
            let idle = self.last_edit + settings.version_idle;
            let periodic = self.last_version + settings.version_interval;
            idle.min(periodic)
        })
    }

    /// Waits for every compaction and version running in the background.
    pub(super) async fn settle_background(&mut self) {
        if let Some(set) = self.background.as_mut() {
            while set.join_next().await.is_some() {}
        }
    }

    fn spawn(&mut self, task: impl Future<Output = ()> + Send + 'static) {
        // Reap what has finished so the set holds only running tasks.
        let set = self.background.get_or_insert_with(JoinSet::new);
        while set.try_join_next().is_some() {}
        set.spawn(task);
    }
}

impl Room {
    /// Accounts for a commit and compacts in the background once the log grew enough.
    pub(super) fn on_committed(&mut self, committed: Committed) {
        let u = &mut self.upkeep;
        u.updates_since_snapshot += committed.updates;
        u.bytes_since_snapshot += committed.bytes;
        if u.updates_since_snapshot >= self.ctx.settings.compact_updates
            || u.bytes_since_snapshot >= self.ctx.settings.compact_bytes
        {
            let snapshot = self.snapshot();
            self.upkeep.doc_bytes = snapshot.state.len();
            self.upkeep.structs = weight::structs(&snapshot.state);
            self.report_weight();
            self.upkeep.updates_since_snapshot = 0;
            self.upkeep.bytes_since_snapshot = 0;
            let store = self.ctx.store.clone();
            let name = self.name.clone();
            let clustered = self.ctx.cluster.is_some();
            // If it fails, the log still holds everything; the next compaction folds it.
            self.upkeep.spawn(async move {
                compact_what_is_stored(&store, &name, clustered, snapshot).await;
            });
        }
    }

    /// Stores the current state as a version once what it contains is committed; the
    /// version row itself is written off the room's task.
    pub(super) fn spawn_version(
        &mut self,
        kind: VersionKind,
        label: Option<String>,
        done: oneshot::Sender<Result<VersionInfo, RoomError>>,
    ) {
        let material = self.version_material(kind, label);
        self.upkeep.dirty_since_version = false;
        self.upkeep.last_version = Instant::now();
        let store = self.ctx.store.clone();
        let name = self.name.clone();
        let clustered = self.ctx.cluster.is_some();
        let fields = self.ctx.settings.rich_fields.clone();
        let keep = self.ctx.settings.retention;
        self.upkeep.spawn(async move {
            let material = match stored_material(&store, &name, clustered, &fields, material).await
            {
                Ok(material) => material,
                Err(e) => {
                    let _ = done.send(Err(RoomError::Storage(e.to_string())));
                    return;
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
            let done = self
                .ctx
                .writer
                .write(self.name.clone(), self.copy.doc_id(), updates, authors)
                .await;
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
        if self.upkeep.updates_since_snapshot > 0 {
            let snapshot = self.snapshot();
            let clustered = self.ctx.cluster.is_some();
            if compact_what_is_stored(&self.ctx.store, &self.name, clustered, snapshot).await {
                self.upkeep.updates_since_snapshot = 0;
                self.upkeep.bytes_since_snapshot = 0;
            }
        }
        if self.upkeep.dirty_since_version {
            let material = self.version_material(VersionKind::Auto, None);
            let clustered = self.ctx.cluster.is_some();
            let fields = &self.ctx.settings.rich_fields;
            let material =
                stored_material(&self.ctx.store, &self.name, clustered, fields, material);
            let stored = match material.await {
                Ok(material) => {
                    let keep = &self.ctx.settings.retention;
                    store_version(&self.ctx.store, &self.name, &material, keep).await
                }
                Err(err) => Err(err),
            };
            match stored {
                Ok(_) => self.upkeep.dirty_since_version = false,
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

    fn version_material(&mut self, kind: VersionKind, label: Option<String>) -> NewVersion {
        let authors = std::mem::take(&mut self.upkeep.authors)
            .into_iter()
            .collect();
        if self.ctx.cluster.is_some() {
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

/// Compacts with `memory` (a single instance), or, in cluster mode, with a snapshot of
/// what the database holds (see `db_state`); returns whether it worked.
async fn compact_what_is_stored(
    store: &Arc<dyn Store>,
    name: &str,
    clustered: bool,
    memory: Snapshot,
) -> bool {
    if !clustered {
        return compact(store, name, &memory).await;
    }
    match db_state::snapshot(store, name).await {
        Ok(Some(snapshot)) => compact(store, name, &snapshot).await,
        Ok(None) => false,
        Err(err) => {
            tracing::warn!(doc = %name, error = %err, "reading the document to compact it failed");
            false
        }
    }
}

/// `memory` (a single instance), or, in cluster mode, the same version made from what the
/// database holds (see `db_state`).
async fn stored_material(
    store: &Arc<dyn Store>,
    name: &str,
    clustered: bool,
    fields: &Fields,
    memory: NewVersion,
) -> Result<NewVersion, StoreError> {
    if !clustered {
        return Ok(memory);
    }
    let NewVersion {
        kind,
        label,
        authors,
        ..
    } = memory;
    db_state::version(store, name, fields, kind, label, authors)
        .await?
        .ok_or_else(|| StoreError::NotFound(name.to_string()))
}

/// Replaces the log up to the snapshot; returns whether it worked.
async fn compact(store: &Arc<dyn Store>, name: &str, snapshot: &Snapshot) -> bool {
    match store.compact(name, snapshot).await {
        Ok(stats) => {
            metrics::counter!(m::COMPACTIONS).increment(1);
            tracing::debug!(doc = %name, removed = stats.updates_removed, "compacted");
            true
        }
        Err(err) => {
            tracing::warn!(doc = %name, error = %err, "compaction failed");
            false
        }
    }
}

/// Stores a version. An automatic one is skipped (`None`) when the latest version already
/// holds this state: with several instances holding the document, each one's timer fires.
/// A new automatic version may let an old one go (`keep`, `retention.rs`).
async fn store_version(
    store: &Arc<dyn Store>,
    name: &str,
    material: &NewVersion,
    keep: &crate::config::RetentionArgs,
) -> Result<Option<VersionInfo>, StoreError> {
    // The state vector alone misses deletions, which add no clock; with the text they tell
    // the states apart (a state vector's bytes depend on hash order).
    let ours = StateVector::decode_v1(&material.state_vector).ok();
    let text = material.text.clone();
    let unchanged = move |sv: &[u8], latest_text: &str| {
        ours.is_some() && StateVector::decode_v1(sv).ok() == ours && latest_text == text
    };
    let result = match material.kind {
        VersionKind::Auto => store.create_auto_version(name, material, &unchanged).await,
        // Naming an unchanged document names its latest version instead of a second copy.
        VersionKind::Named => store
            .create_named_version(name, material, &unchanged)
            .await
            .map(Some),
        _ => store.create_version(name, material).await.map(Some),
    };
    if let Ok(Some(_)) = result {
        metrics::counter!(m::VERSIONS, "kind" => material.kind.as_str()).increment(1);
        if material.kind == VersionKind::Auto {
            crate::retention::prune_document(store, name, keep).await;
        }
    }
    result
}
