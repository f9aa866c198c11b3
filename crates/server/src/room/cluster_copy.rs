//! The rules of a room as one of several copies of a document (cluster mode), without IO:
//! events in (a bus commit, the answer of a database read, this room's own commit, a
//! join, the database's head), [`Actions`] out. The room's shell (`replica.rs`) carries
//! them out. The tests (`cluster_copy_tests.rs`) read as the specification.
//!
//! `applied` is the highest log sequence number such that every row up to it is in the
//! room's document, as far as the room knows. Appends to one document commit in sequence
//! order (the store locks the document row), so a room can take the next commit straight
//! from the bus when the commit's `prev` equals `applied`, and otherwise reads what it
//! misses from the database: nothing in between can be missed.
//!
//! PostgreSQL is the only truth and the bus a hint, even signed (docs/cluster-bus.md).
//! Positions only the bus vouched for are `claims` (`claims.rs`); a second claim on one,
//! or this room's own commit landing on one, makes the room read from the oldest claim on,
//! so a false claim cannot hide a real commit. Compaction folds only up to `confirmed()`,
//! and in cluster mode it and versions use the database's state (`db_state.rs`). A bus
//! commit with missing dependencies is read from the database instead (see `held.rs`).
//!
//! A single instance is the degenerate case: its own commits always follow `applied`,
//! `confirmed()` equals `applied`, and joins never wait.

use super::claims::Claims;

/// What the room's shell does after an event. `J` is a join waiting for the copy to be
/// current (in the room: a peer and the state vector of its sync step 1).
#[must_use]
#[derive(Debug, PartialEq)]
pub(super) struct Actions<J> {
    /// Apply the bus commit `(prev, last]`'s updates now, then report
    /// [`ClusterCopy::took_from_bus`] or [`ClusterCopy::bus_commit_refused`].
    pub apply_bus_commit: Option<(i64, i64)>,
    /// Read the rows past a position from the database, off the room's task, and hand the
    /// answer to [`ClusterCopy::read_done`].
    pub read: Option<Read>,
    /// Ask the database for the document's head, for a join; answer with
    /// [`ClusterCopy::head`] (`for_join`).
    pub check_head: bool,
    /// Tell the other instances about this room's commit `(prev, last]`.
    pub publish: Option<(i64, i64)>,
    /// Joins to answer now: the copy is current.
    pub answer_joins: Vec<J>,
    /// The document is gone (deleted through another instance): close every peer as
    /// deleted and write nothing.
    pub vanish: bool,
    /// Metrics to count, in order.
    pub count: Vec<Count>,
}

impl<J> Default for Actions<J> {
    fn default() -> Self {
        Actions {
            apply_bus_commit: None,
            read: None,
            check_head: false,
            publish: None,
            answer_joins: Vec::new(),
            vanish: false,
            count: Vec::new(),
        }
    }
}

/// A read from the database to start.
#[derive(Debug, PartialEq, Clone, Copy)]
pub(super) struct Read {
    /// The read returns the rows after this position.
    pub after: i64,
    /// Whether the room knew the document as stored: only then does "not found" mean
    /// someone deleted it. Handed back with the answer.
    pub knew_stored: bool,
}

/// What a read from the database found.
#[derive(Debug, PartialEq, Clone, Copy)]
pub(super) enum Found {
    /// Rows up to `last_seq` (already applied to the document by the shell).
    Rows { last_seq: i64, doc_id: i64 },
    /// No such document.
    Nothing,
    /// The database did not answer: the next bus message or periodic check tries again.
    Failed,
}

/// A metric the shell counts (and, for `Conflict`, logs).
#[derive(Debug, PartialEq, Clone, Copy)]
pub(super) enum Count {
    /// Positions are missing here: a read follows.
    Gap,
    /// A bus commit for positions this room already has.
    Duplicate,
    /// A bus commit whose updates did not decode or apply: read from the database instead.
    Dropped,
    /// The database gave this room's commit positions the bus had claimed.
    Conflict,
    /// A read from the database started.
    CatchUp,
}

/// The log position of a room's copy and who waits for it to be current.
pub(super) struct ClusterCopy<J> {
    /// Whether other instances exist: only then can joins be answered from an old copy.
    clustered: bool,
    applied: i64,
    /// Log positions this room took from the bus and no read from the database has
    /// covered since.
    claims: Claims,
    /// The bus contradicted itself or the database: the next read starts at the oldest
    /// claim rather than `applied`, so it brings what a false claim hid. (Otherwise reads
    /// start at `applied`: re-reading what the bus brought would cost every catch-up.)
    distrust: bool,
    /// The highest sequence number this room has heard of (its own commits, the bus):
    /// past `applied` means rows are missing here.
    seen: i64,
    /// The document's row id once it is stored: writes then never recreate it.
    doc_id: Option<i64>,
    /// A read from the database runs.
    reading: bool,
    /// Another gap was seen while a read ran: run one more after it.
    read_again: bool,
    /// Checks against the database's head started by joins, not yet answered.
    join_checks: u32,
    /// Joins (sync step 1s) that arrived while this copy may be behind the database:
    /// answered once it is current, so a late joiner never gets an old document.
    joins_waiting: Vec<J>,
}

impl<J> ClusterCopy<J> {
    pub(super) fn new(clustered: bool) -> Self {
        ClusterCopy {
            clustered,
            applied: 0,
            claims: Claims::default(),
            distrust: false,
            seen: 0,
            doc_id: None,
            reading: false,
            read_again: false,
            join_checks: 0,
            joins_waiting: Vec::new(),
        }
    }

    /// The highest sequence number such that every row up to it is in the room by the
    /// word of the database or of this room's own writer: the bus never moves it.
    pub(super) fn confirmed(&self) -> i64 {
        self.claims.confirmed(self.applied)
    }

    /// The document's row id, once stored.
    pub(super) fn doc_id(&self) -> Option<i64> {
        self.doc_id
    }

    /// Whether a sync reply now could miss commits other instances made.
    fn gated(&self) -> bool {
        self.reading || self.join_checks > 0
    }

    /// The room loaded the document: rows up to `last_seq` are in it.
    pub(super) fn loaded(&mut self, last_seq: i64, doc_id: i64) {
        self.applied = last_seq;
        self.claims.clear();
        self.doc_id = Some(doc_id);
    }

    /// A peer joined: in cluster mode its sync step 1 waits until the database confirms
    /// this copy is current.
    pub(super) fn joined(&mut self) -> Actions<J> {
        let mut a = Actions::default();
        if self.clustered {
            self.join_checks += 1;
            a.check_head = true;
        }
        a
    }

    /// A peer's sync step 1: answered now, or once the copy is current.
    pub(super) fn sync_step1(&mut self, join: J) -> Actions<J> {
        let mut a = Actions::default();
        if self.gated() {
            self.joins_waiting.push(join);
        } else {
            a.answer_joins.push(join);
        }
        a
    }

    /// The writer committed this room's updates at `(prev, last]` for row `doc_id`; `gone`:
    /// the document was deleted meanwhile (nothing was written).
    pub(super) fn committed(
        &mut self,
        prev: i64,
        last: i64,
        doc_id: i64,
        gone: bool,
    ) -> Actions<J> {
        let mut a = Actions::default();
        if gone {
            a.vanish = true;
            return a;
        }
        self.doc_id = Some(doc_id);
        self.seen = self.seen.max(last);
        if self.claims.overlap(prev, last) {
            // The database gave this commit positions the bus had claimed for another
            // instance's commit: the bus was wrong. Read what is really there.
            self.applied = self.applied.max(last);
            self.distrust = true;
            a.count.push(Count::Conflict);
            self.read(&mut a);
        } else if prev <= self.applied {
            // Rows up to `prev` are here, and the rest of this commit is ours.
            self.applied = self.applied.max(last);
        } else {
            a.count.push(Count::Gap);
            self.read(&mut a);
        }
        if self.clustered {
            a.publish = Some((prev, last));
        }
        a
    }

    /// Another instance says it committed `(prev, last]`; `inline`: the message carries
    /// the updates (otherwise only the positions).
    pub(super) fn bus_commit(&mut self, prev: i64, last: i64, inline: bool) -> Actions<J> {
        let mut a = Actions::default();
        self.seen = self.seen.max(last);
        if last <= self.applied {
            a.count.push(Count::Duplicate);
            self.second_claim(prev, last, &mut a);
        } else if inline && prev == self.applied && !self.reading {
            a.apply_bus_commit = Some((prev, last));
        } else {
            if inline {
                a.count.push(Count::Gap);
            }
            self.read(&mut a);
        }
        a
    }

    /// The bus commit [`Actions::apply_bus_commit`] asked for is applied.
    pub(super) fn took_from_bus(&mut self, prev: i64, last: i64) {
        self.applied = last;
        self.claims.add(prev, last);
    }

    /// The bus commit's updates did not decode or apply: its rows are in the database,
    /// read them from there.
    pub(super) fn bus_commit_refused(&mut self) -> Actions<J> {
        let mut a = Actions::default();
        a.count.push(Count::Dropped);
        self.read(&mut a);
        a
    }

    /// Another instance says the document was deleted. Only the database says a document
    /// is gone: the room ends when the read finds nothing.
    pub(super) fn deleted_elsewhere(&mut self) -> Actions<J> {
        let mut a = Actions::default();
        self.read(&mut a);
        a
    }

    /// A bus commit for positions this room has. If only the bus vouched for them, two
    /// claims disagree (a repeat cannot pass the replay check): one of them is false, and
    /// only the database can tell which, so the room reads from the oldest claim on.
    fn second_claim(&mut self, prev: i64, last: i64, a: &mut Actions<J>) {
        if self.claims.overlap(prev, last) {
            self.distrust = true;
            self.read(a);
        }
    }

    /// Reads what this copy misses from the database, unless a read runs (then one more
    /// follows it).
    fn read(&mut self, a: &mut Actions<J>) {
        if self.reading {
            self.read_again = true;
            return;
        }
        self.reading = true;
        a.count.push(Count::CatchUp);
        a.read = Some(Read {
            after: self.read_from(),
            // A sequence number means a commit, so a stored document.
            knew_stored: self.doc_id.is_some() || self.seen > 0,
        });
    }

    /// Where the next read from the database starts (see `distrust`).
    fn read_from(&mut self) -> i64 {
        if std::mem::take(&mut self.distrust) {
            self.confirmed()
        } else {
            self.applied
        }
    }

    /// Where to read from in place, before the room writes out and unloads (compaction
    /// must cover everything this room wrote); `None`: nothing is known to be missing.
    /// Report the rows with [`ClusterCopy::rows_applied`].
    pub(super) fn read_in_place(&mut self) -> Option<i64> {
        if self.seen <= self.applied && !self.distrust {
            return None;
        }
        Some(self.read_from())
    }

    /// Rows after `after` up to `last_seq` read from the database are in the document:
    /// the bus claims the read covered are settled.
    pub(super) fn rows_applied(&mut self, after: i64, last_seq: i64, doc_id: i64) {
        self.applied = self.applied.max(last_seq);
        self.claims.settle(after, last_seq);
        self.doc_id = Some(doc_id);
    }

    /// The answer to the read [`Actions::read`] asked for (rows already applied).
    pub(super) fn read_done(&mut self, read: Read, found: Found) -> Actions<J> {
        let mut a = Actions::default();
        self.reading = false;
        match found {
            Found::Rows { last_seq, doc_id } => self.rows_applied(read.after, last_seq, doc_id),
            Found::Nothing if read.knew_stored => {
                a.vanish = true;
                return a;
            }
            Found::Nothing | Found::Failed => {}
        }
        if std::mem::take(&mut self.read_again) {
            self.read(&mut a);
        }
        self.answer_joins(&mut a);
        a
    }

    /// The database's latest sequence number for the document (`None`: not stored), from
    /// the periodic check (also run at once when the bus reconnects) or a join's check.
    pub(super) fn head(&mut self, head: Option<i64>, for_join: bool) -> Actions<J> {
        let mut a = Actions::default();
        if for_join {
            self.join_checks = self.join_checks.saturating_sub(1);
        }
        match head {
            // The check may predate this room's first write: a read made now confirms.
            None if self.doc_id.is_some() => self.read(&mut a),
            None => {}
            Some(head) if head > self.applied => {
                self.seen = self.seen.max(head);
                self.read(&mut a);
            }
            // Positions past the database's head that only the bus vouched for: forget
            // them, so the next real commit is read rather than taken for one of them.
            // (Lowering `applied` costs at most a read; it never skips a row.)
            Some(head) if head < self.applied && self.claims.overlap(head, i64::MAX) => {
                self.applied = head;
                self.claims.drop_past(head);
            }
            Some(_) => {}
        }
        self.answer_joins(&mut a);
        a
    }

    fn answer_joins(&mut self, a: &mut Actions<J>) {
        if !self.gated() {
            a.answer_joins.append(&mut self.joins_waiting);
        }
    }
}

#[cfg(test)]
#[path = "cluster_copy_tests.rs"]
mod tests;
