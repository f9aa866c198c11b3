//! The cluster copy's rules, case by case. Positions are log sequence numbers; a bus
//! commit `(prev, last]` says the log grew from `prev` to `last`. Joins are names.

use super::{Actions, ClusterCopy, Count, Found, Read};

/// A copy in cluster mode that loaded the document up to `applied` (row id 1).
fn copy_at(applied: i64) -> ClusterCopy<&'static str> {
    let mut c = ClusterCopy::new(true);
    c.loaded(applied, 1);
    c
}

/// The read the actions start, which must be one.
fn read_of(a: &Actions<&'static str>) -> Read {
    a.read.expect("a read from the database")
}

fn rows(last_seq: i64) -> Found {
    Found::Rows {
        last_seq,
        doc_id: 1,
    }
}

#[test]
fn the_next_commit_is_taken_from_the_bus() {
    let mut c = copy_at(5);
    let a = c.bus_commit(5, 7, true);
    assert_eq!(a.apply_bus_commit, Some((5, 7)));
    assert_eq!((a.read, a.count), (None, vec![]));
    c.took_from_bus(5, 7);
    let a = c.bus_commit(7, 8, true);
    assert_eq!(a.apply_bus_commit, Some((7, 8)), "applied moved to 7");
    assert_eq!(c.confirmed(), 5, "only the database vouches for positions");
}

#[test]
fn a_gap_reads_what_is_missing_from_the_database() {
    let mut c = copy_at(5);
    let a = c.bus_commit(6, 7, true);
    assert_eq!(a.apply_bus_commit, None, "commit 6 is not here");
    assert_eq!(a.count, vec![Count::Gap, Count::CatchUp]);
    assert_eq!(
        read_of(&a),
        Read {
            after: 5,
            knew_stored: true
        }
    );
    let a = c.read_done(read_of(&a), rows(7));
    assert_eq!((a.read, a.vanish), (None, false));
    assert_eq!(c.bus_commit(7, 8, true).apply_bus_commit, Some((7, 8)));
}

#[test]
fn a_commit_announced_without_its_updates_is_read() {
    let mut c = copy_at(5);
    let a = c.bus_commit(5, 6, false);
    assert_eq!(a.apply_bus_commit, None);
    assert_eq!(read_of(&a).after, 5);
    assert_eq!(
        a.count,
        vec![Count::CatchUp],
        "no gap: the updates were too large"
    );
}

#[test]
fn a_duplicate_the_database_vouched_for_is_dropped() {
    let mut c = copy_at(5);
    for inline in [true, false] {
        let a = c.bus_commit(3, 5, inline);
        assert_eq!(a.apply_bus_commit, None);
        assert_eq!((a.read, a.count), (None, vec![Count::Duplicate]));
    }
}

#[test]
fn a_second_claim_on_a_bus_position_reads_from_the_oldest_claim() {
    let mut c = copy_at(5);
    let _ = c.bus_commit(5, 6, true);
    c.took_from_bus(5, 6);
    let _ = c.bus_commit(6, 7, true);
    c.took_from_bus(6, 7);
    // Another commit for position 7: one of the two claims is false.
    let a = c.bus_commit(6, 7, true);
    assert_eq!(a.count, vec![Count::Duplicate, Count::CatchUp]);
    assert_eq!(read_of(&a).after, 5, "from the oldest claim, not from 7");
    let _ = c.read_done(read_of(&a), rows(7));
    assert_eq!(c.confirmed(), 7, "the read settled both claims");
}

#[test]
fn own_commit_on_a_bus_claimed_position_reads_from_the_oldest_claim() {
    let mut c = copy_at(5);
    let _ = c.bus_commit(5, 6, true);
    c.took_from_bus(5, 6);
    // The database put this room's commit at 6: the bus claim for 6 was false.
    let a = c.committed(5, 6, 1, false);
    assert_eq!(a.count, vec![Count::Conflict, Count::CatchUp]);
    assert_eq!(read_of(&a).after, 5);
    assert_eq!(a.publish, Some((5, 6)));
}

#[test]
fn own_commits_follow_applied_and_are_published() {
    let mut c = copy_at(5);
    let a = c.committed(5, 6, 1, false);
    assert_eq!((a.read, a.count.clone()), (None, vec![]));
    assert_eq!(a.publish, Some((5, 6)));
    assert_eq!(c.confirmed(), 6, "the writer vouches for its own commit");
    let a = c.committed(8, 9, 1, false);
    assert_eq!(
        a.count,
        vec![Count::Gap, Count::CatchUp],
        "7 and 8 are missing"
    );
    assert_eq!(read_of(&a).after, 6);
}

#[test]
fn alone_nothing_is_published_and_joins_never_wait() {
    let mut c: ClusterCopy<&str> = ClusterCopy::new(false);
    let a = c.committed(0, 1, 1, false);
    assert_eq!(a.publish, None);
    let a = c.joined();
    assert!(!a.check_head);
    assert_eq!(c.sync_step1("ann").answer_joins, vec!["ann"]);
}

#[test]
fn reordered_commits_are_read_once_and_the_late_one_is_a_duplicate() {
    let mut c = copy_at(0);
    // 2 arrives before 1.
    let first = c.bus_commit(1, 2, true);
    assert_eq!(read_of(&first).after, 0);
    // 1 arrives while the read runs: not taken (the read may overtake it), one more read.
    let a = c.bus_commit(0, 1, true);
    assert_eq!(a.apply_bus_commit, None);
    assert_eq!((a.read, a.count), (None, vec![Count::Gap]));
    let a = c.read_done(read_of(&first), rows(2));
    assert_eq!(
        read_of(&a).after,
        2,
        "the read asked for meanwhile, from the new position"
    );
    let _ = c.read_done(read_of(&a), rows(2));
    let a = c.bus_commit(0, 1, true);
    assert_eq!((a.read, a.count), (None, vec![Count::Duplicate]));
}

#[test]
fn gaps_during_a_read_start_one_more_read_after_it() {
    let mut c = copy_at(5);
    let first = c.bus_commit(7, 8, true);
    let r = read_of(&first);
    for (prev, last) in [(8, 9), (9, 10)] {
        let a = c.bus_commit(prev, last, false);
        assert_eq!(a.read, None, "one read at a time");
    }
    let _ = c.head(Some(12), false);
    let a = c.read_done(r, rows(8));
    assert_eq!(a.count, vec![Count::CatchUp]);
    let again = read_of(&a);
    assert_eq!(again.after, 8);
    let a = c.read_done(again, rows(12));
    assert_eq!(a.read, None, "nothing more is missing");
    assert_eq!(c.bus_commit(12, 13, true).apply_bus_commit, Some((12, 13)));
}

#[test]
fn a_late_joiner_is_answered_only_once_the_copy_is_current() {
    let mut c = copy_at(5);
    assert!(c.joined().check_head);
    let a = c.sync_step1("ann");
    assert!(
        a.answer_joins.is_empty(),
        "the database may be ahead of this copy"
    );
    // The database is at 9: read first.
    let a = c.head(Some(9), true);
    assert!(a.answer_joins.is_empty());
    let r = read_of(&a);
    assert_eq!(r.after, 5);
    let a = c.read_done(r, rows(9));
    assert_eq!(a.answer_joins, vec!["ann"]);
    // Now current: the next step 1 is answered at once.
    assert_eq!(c.sync_step1("bob").answer_joins, vec!["bob"]);
}

#[test]
fn a_join_waits_for_every_check_and_for_a_running_read() {
    let mut c = copy_at(5);
    let _ = c.joined();
    let _ = c.joined();
    let _ = c.sync_step1("ann");
    let read = c.bus_commit(6, 7, true);
    assert!(
        c.head(Some(5), true).answer_joins.is_empty(),
        "a check and the read run"
    );
    let a = c.read_done(read_of(&read), rows(7));
    assert!(a.answer_joins.is_empty(), "one check left");
    assert_eq!(c.head(Some(7), true).answer_joins, vec!["ann"]);
}

#[test]
fn a_join_is_answered_when_the_database_is_not_ahead() {
    let mut c = copy_at(5);
    let _ = c.joined();
    let _ = c.sync_step1("ann");
    let a = c.head(Some(5), true);
    assert_eq!((a.read, a.answer_joins), (None, vec!["ann"]));
}

#[test]
fn a_delete_elsewhere_ends_the_room_once_the_database_confirms_it() {
    let mut c = copy_at(5);
    let a = c.deleted_elsewhere();
    assert!(!a.vanish, "the bus is only a hint");
    let r = read_of(&a);
    assert!(r.knew_stored);
    assert!(c.read_done(r, Found::Nothing).vanish);
}

#[test]
fn a_false_delete_changes_nothing() {
    let mut c = copy_at(5);
    let r = read_of(&c.deleted_elsewhere());
    let a = c.read_done(r, rows(5));
    assert!(!a.vanish);
    assert_eq!(c.bus_commit(5, 6, true).apply_bus_commit, Some((5, 6)));
}

#[test]
fn a_document_never_stored_is_not_deleted_when_a_read_finds_nothing() {
    let mut c: ClusterCopy<&str> = ClusterCopy::new(true);
    let r = read_of(&c.deleted_elsewhere());
    assert!(!r.knew_stored);
    assert!(!c.read_done(r, Found::Nothing).vanish);
}

#[test]
fn own_commit_on_a_deleted_document_ends_the_room() {
    let mut c = copy_at(5);
    let a = c.committed(0, 0, 1, true);
    assert!(a.vanish);
    assert_eq!(a.publish, None, "nothing was written");
}

#[test]
fn a_periodic_check_that_finds_no_row_reads_to_confirm() {
    let mut c = copy_at(5);
    let r = read_of(&c.head(None, false));
    assert!(c.read_done(r, Found::Nothing).vanish);
}

#[test]
fn a_bus_commit_that_does_not_decode_is_read_from_the_database() {
    let mut c = copy_at(5);
    assert_eq!(c.bus_commit(5, 6, true).apply_bus_commit, Some((5, 6)));
    let a = c.bus_commit_refused();
    assert_eq!(a.count, vec![Count::Dropped, Count::CatchUp]);
    assert_eq!(read_of(&a).after, 5, "6 was not applied");
}

#[test]
fn a_failed_read_is_retried_by_the_next_check() {
    let mut c = copy_at(5);
    let r = read_of(&c.bus_commit(6, 7, true));
    let a = c.read_done(r, Found::Failed);
    assert_eq!((a.read, a.vanish), (None, false));
    assert_eq!(read_of(&c.head(Some(7), false)).after, 5);
}

#[test]
fn a_check_after_a_reconnect_reads_commits_the_bus_lost() {
    // While the bus was down nothing arrived; the check run at once on reconnect sees
    // the database ahead.
    let mut c = copy_at(5);
    let a = c.head(Some(8), false);
    assert_eq!(read_of(&a).after, 5);
    assert_eq!(a.count, vec![Count::CatchUp]);
}

#[test]
fn bus_positions_past_the_database_head_are_forgotten() {
    let mut c = copy_at(5);
    let _ = c.bus_commit(5, 6, true);
    c.took_from_bus(5, 6);
    // The database ends at 5: the claim for 6 was false (or not yet readable).
    let a = c.head(Some(5), false);
    assert_eq!(a.read, None);
    // The real commit 6 is then read rather than taken for the false claim.
    let a = c.bus_commit(5, 6, true);
    assert_eq!(a.apply_bus_commit, Some((5, 6)));
    assert_eq!(a.count, vec![]);
}

#[test]
fn an_unload_reads_in_place_only_what_is_known_missing() {
    let mut c = copy_at(5);
    assert_eq!(c.read_in_place(), None);
    let _ = c.head(Some(7), false);
    assert_eq!(c.read_in_place(), Some(5));
    c.rows_applied(5, 7, 1);
    assert_eq!(c.read_in_place(), None);
}
