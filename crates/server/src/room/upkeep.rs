//! The upkeep rules of a room, without IO: when to compact the log and from what, when
//! an automatic version is due, and when an idle room unloads. The room tells [`Upkeep`]
//! what happened (commits, edits, timer ticks with the time, compactions finished or
//! failed, peers leaving and joining) and carries out the [`Action`]s it returns; the
//! shell that does the store work is `maintenance.rs`. The tests (`upkeep_tests.rs`) read
//! as the specification.

use std::{collections::BTreeSet, time::Duration};

use tokio::time::Instant;

use super::settings::RoomSettings;

/// How long a failed compaction waits before it is tried again. Not a setting: a
/// compaction that fails loses nothing (the log still holds every update), it only lets
/// the log grow, and retrying at every commit would hammer a database that is down.
pub(super) const COMPACTION_RETRY: Duration = Duration::from_secs(30);

/// The thresholds, taken from the room settings.
#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    /// Compact once this many updates were committed since the last snapshot...
    pub(super) compact_updates: u64,
    /// ...or this many bytes.
    pub(super) compact_bytes: u64,
    /// An automatic version is due this long after the last edit...
    pub(super) version_idle: Duration,
    /// ...or this long after the previous version, while editing goes on.
    pub(super) version_interval: Duration,
    /// A room without peers unloads after this long.
    pub(super) unload_grace: Duration,
}

impl From<&RoomSettings> for Limits {
    fn from(s: &RoomSettings) -> Limits {
        Limits {
            compact_updates: s.compact_updates,
            compact_bytes: s.compact_bytes,
            version_idle: s.version_idle,
            version_interval: s.version_interval,
            unload_grace: s.unload_grace,
        }
    }
}

/// Where a snapshot or version is made from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Source {
    /// This room's document (a single instance holds every update).
    Memory,
    /// What the database holds (cluster mode: other instances' rows may not be in this
    /// copy yet, and compaction deletes every row its snapshot covers; see `db_state`).
    Database,
}

/// What the room must do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Action {
    /// Compact in the background; report the outcome with [`Upkeep::compacted`].
    Compact(Source),
    /// Take an automatic version (see [`Upkeep::version_started`]).
    Version(Source),
    /// Write everything out, then ask [`Upkeep::may_unload`].
    Unload,
}

/// The room's upkeep state.
#[derive(Debug)]
pub(super) struct Upkeep {
    limits: Limits,
    source: Source,
    updates_since_snapshot: u64,
    bytes_since_snapshot: u64,
    /// What the running compaction covers (`None`: none runs).
    compacting: Option<(u64, u64)>,
    /// A failed compaction is not retried before this.
    retry_at: Option<Instant>,
    dirty_since_version: bool,
    /// Names of the people who edited since the previous version, recorded with it.
    authors: BTreeSet<String>,
    last_edit: Instant,
    last_version: Instant,
    /// Since when the room has had no peers (`None`: it has some).
    empty_since: Option<Instant>,
}

impl Upkeep {
    /// A room loaded at `now` without peers yet; `clustered`: other instances write too.
    pub(super) fn new(limits: Limits, clustered: bool, now: Instant) -> Upkeep {
        Upkeep {
            limits,
            source: if clustered {
                Source::Database
            } else {
                Source::Memory
            },
            updates_since_snapshot: 0,
            bytes_since_snapshot: 0,
            compacting: None,
            retry_at: None,
            dirty_since_version: false,
            authors: BTreeSet::new(),
            last_edit: now,
            last_version: now,
            empty_since: Some(now),
        }
    }

    /// The store held `updates` log rows of `bytes` past its snapshot.
    pub(super) fn loaded(&mut self, updates: u64, bytes: u64) {
        self.updates_since_snapshot = updates;
        self.bytes_since_snapshot = bytes;
    }

    /// An update that changed the document was accepted at `now`.
    pub(super) fn edited(&mut self, now: Instant) {
        self.dirty_since_version = true;
        self.last_edit = now;
    }

    /// Someone (by the name they show in presence) edited since the previous version.
    pub(super) fn edited_by(&mut self, name: String) {
        self.authors.insert(name);
    }

    /// A write of `updates` rows of `bytes` landed in the log: compact once it grew
    /// enough, unless a compaction runs or a failed one waits for its retry.
    pub(super) fn committed(&mut self, updates: u64, bytes: u64, now: Instant) -> Option<Action> {
        self.updates_since_snapshot += updates;
        self.bytes_since_snapshot += bytes;
        self.compaction_due(now)
    }

    fn compaction_due(&mut self, now: Instant) -> Option<Action> {
        let grown = self.updates_since_snapshot >= self.limits.compact_updates
            || self.bytes_since_snapshot >= self.limits.compact_bytes;
        let waiting = self.retry_at.is_some_and(|at| now < at);
        if !grown || waiting || self.compacting.is_some() {
            return None;
        }
        self.compacting = Some((self.updates_since_snapshot, self.bytes_since_snapshot));
        self.updates_since_snapshot = 0;
        self.bytes_since_snapshot = 0;
        self.retry_at = None;
        Some(Action::Compact(self.source))
    }

    /// The background compaction ended at `now`: if it failed, what it was to cover counts
    /// again and it is retried after [`COMPACTION_RETRY`].
    pub(super) fn compacted(&mut self, ok: bool, now: Instant) {
        let Some((updates, bytes)) = self.compacting.take() else {
            return;
        };
        if !ok {
            self.updates_since_snapshot += updates;
            self.bytes_since_snapshot += bytes;
            self.retry_at = Some(now + COMPACTION_RETRY);
        }
    }

    /// The room's timer fired at `now`: what is due, in this order.
    pub(super) fn tick(&mut self, now: Instant) -> Vec<Action> {
        let mut due = Vec::new();
        due.extend(self.compaction_due(now));
        if self.version_due().is_some_and(|at| now >= at) {
            due.push(Action::Version(self.source));
        }
        if self.unload_due().is_some_and(|at| now >= at) {
            due.push(Action::Unload);
        }
        due
    }

    /// When the timer must fire next (`None`: nothing is scheduled).
    pub(super) fn next_wakeup(&self) -> Option<Instant> {
        let retry = self.retry_at.filter(|_| self.compacting.is_none());
        [retry, self.version_due(), self.unload_due()]
            .into_iter()
            .flatten()
            .min()
    }

    /// An automatic version is due when editing paused, or a long session went on.
    fn version_due(&self) -> Option<Instant> {
        self.dirty_since_version.then(|| {
            let idle = self.last_edit + self.limits.version_idle;
            let periodic = self.last_version + self.limits.version_interval;
            idle.min(periodic)
        })
    }

    fn unload_due(&self) -> Option<Instant> {
        self.empty_since
            .map(|since| since + self.limits.unload_grace)
    }

    /// A version (of any kind) holding every edit so far starts at `now`; returns the
    /// authors to record with it.
    pub(super) fn version_started(&mut self, now: Instant) -> Vec<String> {
        self.dirty_since_version = false;
        self.last_version = now;
        self.take_authors()
    }

    /// Writing out before unloading: what it must store after committing every update.
    pub(super) fn write_out(&self) -> WriteOut {
        WriteOut {
            compact: (self.updates_since_snapshot > 0).then_some(self.source),
            version: self.dirty_since_version.then_some(self.source),
        }
    }

    /// The write-out's compaction worked: the log holds nothing past the snapshot.
    pub(super) fn written_compacted(&mut self) {
        self.updates_since_snapshot = 0;
        self.bytes_since_snapshot = 0;
        self.retry_at = None;
    }

    /// The authors to record with the write-out's version, taken whether it works or not.
    pub(super) fn take_authors(&mut self) -> Vec<String> {
        std::mem::take(&mut self.authors).into_iter().collect()
    }

    /// The write-out's version was stored.
    pub(super) fn written_version(&mut self) {
        self.dirty_since_version = false;
    }

    /// The last peer left at `now`.
    pub(super) fn peers_left(&mut self, now: Instant) {
        self.empty_since = Some(now);
    }

    /// A peer joined: the room stays.
    pub(super) fn peer_joined(&mut self) {
        self.empty_since = None;
    }

    /// After writing out at `now`: the room unloads only if every update is in the
    /// database and nobody is attached. Writes still pending (database down) live only
    /// here: it stays and tries again after another grace period.
    pub(super) fn may_unload(&mut self, now: Instant, writes_pending: bool, peers: bool) -> bool {
        if writes_pending {
            self.empty_since = Some(now);
            return false;
        }
        !peers && self.empty_since.is_some()
    }
}

/// What writing out stores after the pending updates, each from its [`Source`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct WriteOut {
    pub(super) compact: Option<Source>,
    pub(super) version: Option<Source>,
}

#[cfg(test)]
#[path = "upkeep_tests.rs"]
mod tests;
