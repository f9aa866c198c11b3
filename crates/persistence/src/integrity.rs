//! What `tandem check` reads and may rewrite, and how old automatic versions are pruned.
//!
//! The check needs what [`crate::Store::load`] hides: each log row's sequence number (so a
//! bad row can be named), the snapshot's stored state vector and the document's counters.
//! A repair only ever rewrites values derived from other stored bytes (see [`Repair`]):
//! nothing here deletes or changes a log row, a snapshot's state or a version's state.

use chrono::{DateTime, Utc};

/// A document's log as stored, row by row, read at one instant.
#[derive(Debug, Clone, Default)]
pub struct LogRows {
    pub id: i64,
    /// `documents.last_seq`: where readers of the log believe it ends.
    pub last_seq: i64,
    /// `documents.size_bytes`: what the size limits count.
    pub size_bytes: i64,
    pub snapshot: Option<SnapshotRow>,
    /// `(seq, data)` of every row after the snapshot, in sequence order.
    pub updates: Vec<(i64, Vec<u8>)>,
    /// Rows the snapshot already covers (`seq <= upto_seq`) that compaction left behind.
    pub covered_rows: i64,
}

impl LogRows {
    /// What `size_bytes` should be: the snapshot's state plus every logged row.
    pub fn counted_bytes(&self) -> i64 {
        self.snapshot.as_ref().map_or(0, |s| s.state.len() as i64)
            + self.updates.iter().map(|u| u.1.len() as i64).sum::<i64>()
    }

    /// The highest sequence number stored for the document (rows or snapshot).
    pub fn highest_seq(&self) -> i64 {
        let rows = self.updates.last().map_or(0, |u| u.0);
        let snap = self.snapshot.as_ref().map_or(0, |s| s.upto_seq);
        rows.max(snap)
    }
}

#[derive(Debug, Clone)]
pub struct SnapshotRow {
    pub state: Vec<u8>,
    pub state_vector: Vec<u8>,
    pub upto_seq: i64,
}

/// A rewrite of a value that is derived from other stored bytes, so that nothing the
/// document or its history holds can be lost by it.
#[derive(Debug, Clone)]
pub enum Repair {
    /// Raises `documents.last_seq` to this (never lowers it): a reader of the log that
    /// trusts a lower value would skip the rows above it.
    RaiseLastSeq(i64),
    /// Sets `documents.size_bytes` to the bytes of the snapshot plus the log rows.
    RecountSize,
    /// The snapshot's state vector, recomputed from its state. Applied only while the
    /// snapshot still covers `upto_seq` (a compaction meanwhile wrote a new one).
    SnapshotStateVector {
        upto_seq: i64,
        state_vector: Vec<u8>,
    },
    /// A version's state vector and plain text, recomputed from its state.
    VersionDerived {
        version: i64,
        state_vector: Vec<u8>,
        text: String,
    },
}

/// How many automatic versions to keep (named and restore versions are always kept, and
/// so is each document's latest version, whose number the next one counts from).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VersionRetention {
    /// Keep at most this many automatic versions per document, the newest; 0: no limit.
    pub keep_count: u64,
    /// Remove automatic versions made before this instant; `None`: no age limit.
    pub older_than: Option<DateTime<Utc>>,
}

impl VersionRetention {
    /// Whether anything would ever be removed.
    pub fn prunes(&self) -> bool {
        self.keep_count > 0 || self.older_than.is_some()
    }
}
