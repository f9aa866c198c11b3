//! The upkeep rules, case by case. Thresholds are small round numbers; times are offsets
//! from the moment the room loaded.

use std::time::Duration;

use tokio::time::Instant;

use super::{Action, Limits, Source, Upkeep, WriteOut, COMPACTION_RETRY};

const IDLE: Duration = Duration::from_secs(60);
const INTERVAL: Duration = Duration::from_secs(600);
const GRACE: Duration = Duration::from_secs(30);

fn limits() -> Limits {
    Limits {
        compact_updates: 10,
        compact_bytes: 1000,
        version_idle: IDLE,
        version_interval: INTERVAL,
        unload_grace: GRACE,
    }
}

/// A single-instance room loaded at `t0`, with one peer attached.
fn room() -> (Upkeep, Instant) {
    let t0 = Instant::now();
    let mut u = Upkeep::new(limits(), false, t0);
    u.peer_joined();
    (u, t0)
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

const COMPACT: Option<Action> = Some(Action::Compact(Source::Memory));

#[test]
fn compaction_starts_when_the_update_count_reaches_its_threshold() {
    let (mut u, t0) = room();
    assert_eq!(u.committed(8, 80, t0), None);
    assert_eq!(u.committed(1, 10, t0), None, "9 updates: below");
    assert_eq!(u.committed(1, 10, t0), COMPACT, "10 updates: at");
    let (mut u, t0) = room();
    assert_eq!(u.committed(11, 10, t0), COMPACT, "11 updates: above");
}

#[test]
fn compaction_starts_when_the_byte_count_reaches_its_threshold() {
    let (mut u, t0) = room();
    assert_eq!(u.committed(1, 999, t0), None, "999 bytes: below");
    assert_eq!(u.committed(1, 1, t0), COMPACT, "1000 bytes: at");
    let (mut u, t0) = room();
    assert_eq!(u.committed(1, 1001, t0), COMPACT, "1001 bytes: above");
}

#[test]
fn the_log_rows_a_load_finds_count_towards_compaction() {
    let (mut u, t0) = room();
    u.loaded(9, 90);
    assert_eq!(u.committed(1, 10, t0), COMPACT);
}

#[test]
fn a_compaction_counts_from_zero_again() {
    let (mut u, t0) = room();
    assert_eq!(u.committed(10, 100, t0), COMPACT);
    u.compacted(true, t0);
    assert_eq!(u.committed(9, 90, t0), None);
    assert_eq!(u.committed(1, 10, t0), COMPACT);
}

#[test]
fn no_second_compaction_starts_while_one_runs() {
    let (mut u, t0) = room();
    assert_eq!(u.committed(10, 100, t0), COMPACT);
    assert_eq!(u.committed(10, 100, t0), None, "the first still runs");
    assert!(u.tick(t0 + secs(1)).is_empty());
    u.compacted(true, t0 + secs(1));
    // What was committed while it ran is due now.
    assert_eq!(u.tick(t0 + secs(1)), vec![Action::Compact(Source::Memory)]);
}

#[test]
fn a_failed_compaction_is_retried_after_the_backoff() {
    let (mut u, t0) = room();
    assert_eq!(u.committed(10, 100, t0), COMPACT);
    u.compacted(false, t0);
    assert_eq!(u.next_wakeup(), Some(t0 + COMPACTION_RETRY));
    let before = t0 + COMPACTION_RETRY - secs(1);
    assert_eq!(u.committed(1, 10, before), None, "not before the backoff");
    assert!(u.tick(before).is_empty());
    assert_eq!(
        u.tick(t0 + COMPACTION_RETRY),
        vec![Action::Compact(Source::Memory)],
        "what the failed one was to cover is still due"
    );
}

#[test]
fn a_failed_compaction_leaves_its_rows_to_the_write_out() {
    let (mut u, t0) = room();
    assert_eq!(u.committed(10, 100, t0), COMPACT);
    assert_eq!(u.write_out().compact, None, "the running one covers them");
    u.compacted(false, t0);
    assert_eq!(u.write_out().compact, Some(Source::Memory));
}

#[test]
fn an_automatic_version_is_due_once_editing_paused() {
    let (mut u, t0) = room();
    assert_eq!(u.next_wakeup(), None, "nothing edited, nothing due");
    u.edited(t0 + secs(5));
    assert_eq!(u.next_wakeup(), Some(t0 + secs(5) + IDLE));
    assert!(u.tick(t0 + secs(4) + IDLE).is_empty(), "below");
    let version = vec![Action::Version(Source::Memory)];
    assert_eq!(u.tick(t0 + secs(5) + IDLE), version, "at");
    assert_eq!(u.tick(t0 + secs(6) + IDLE), version, "above");
}

#[test]
fn an_automatic_version_is_due_during_a_long_session() {
    let (mut u, t0) = room();
    // Someone types every 30 seconds: editing never pauses for `IDLE`.
    let mut t = t0;
    while t < t0 + INTERVAL - secs(30) {
        t += secs(30);
        u.edited(t);
        assert!(u.tick(t).is_empty(), "at {:?}", t - t0);
    }
    assert_eq!(u.next_wakeup(), Some(t0 + INTERVAL));
    assert_eq!(u.tick(t0 + INTERVAL), vec![Action::Version(Source::Memory)]);
}

#[test]
fn a_version_resets_the_clock_and_records_who_edited() {
    let (mut u, t0) = room();
    u.edited(t0);
    u.edited_by("ada".into());
    u.edited_by("bob".into());
    u.edited_by("ada".into());
    assert_eq!(u.version_started(t0 + IDLE), vec!["ada", "bob"]);
    assert!(u.tick(t0 + IDLE * 2).is_empty(), "nothing edited since");
    u.edited(t0 + IDLE * 2);
    assert_eq!(u.version_started(t0 + IDLE * 3), Vec::<String>::new());
}

#[test]
fn a_room_without_peers_unloads_after_the_grace_period() {
    let (mut u, t0) = room();
    u.peers_left(t0);
    assert_eq!(u.next_wakeup(), Some(t0 + GRACE));
    assert!(u.tick(t0 + GRACE - secs(1)).is_empty(), "below");
    assert_eq!(u.tick(t0 + GRACE), vec![Action::Unload], "at");
    assert_eq!(u.tick(t0 + GRACE + secs(1)), vec![Action::Unload], "above");
    assert!(u.may_unload(t0 + GRACE, false, false));
}

#[test]
fn a_room_that_never_had_peers_unloads_too() {
    let t0 = Instant::now();
    let mut u = Upkeep::new(limits(), false, t0);
    assert_eq!(u.tick(t0 + GRACE), vec![Action::Unload]);
}

#[test]
fn a_room_with_peers_does_not_unload() {
    let (mut u, t0) = room();
    assert!(u.tick(t0 + GRACE * 10).is_empty());
    u.peers_left(t0);
    u.peer_joined();
    assert!(u.tick(t0 + GRACE * 10).is_empty(), "someone came back");
    // The room writes out, and finds a peer attached when it is done.
    u.peers_left(t0);
    assert_eq!(u.tick(t0 + GRACE), vec![Action::Unload]);
    assert!(!u.may_unload(t0 + GRACE, false, true));
}

#[test]
fn unload_waits_while_writes_are_pending() {
    let (mut u, t0) = room();
    u.peers_left(t0);
    assert_eq!(u.tick(t0 + GRACE), vec![Action::Unload]);
    // The database could not be reached: the updates live only here.
    assert!(!u.may_unload(t0 + GRACE, true, false));
    assert!(u.tick(t0 + GRACE + secs(1)).is_empty(), "retried later");
    assert_eq!(u.tick(t0 + GRACE * 2), vec![Action::Unload]);
    assert!(u.may_unload(t0 + GRACE * 2, false, false));
}

#[test]
fn writing_out_stores_what_changed_and_nothing_else() {
    let (mut u, t0) = room();
    let nothing = WriteOut {
        compact: None,
        version: None,
    };
    assert_eq!(u.write_out(), nothing);
    u.loaded(1, 10);
    u.edited(t0);
    let both = WriteOut {
        compact: Some(Source::Memory),
        version: Some(Source::Memory),
    };
    assert_eq!(u.write_out(), both);
    u.written_compacted();
    u.written_version();
    assert_eq!(u.write_out(), nothing);
}

#[test]
fn a_version_that_failed_on_write_out_is_still_due() {
    let (mut u, t0) = room();
    u.edited(t0);
    u.edited_by("ada".into());
    assert_eq!(u.take_authors(), vec!["ada"]);
    assert_eq!(u.write_out().version, Some(Source::Memory));
}

#[test]
fn a_tick_returns_every_action_due_in_order() {
    let (mut u, t0) = room();
    u.edited(t0);
    u.peers_left(t0);
    u.loaded(10, 100);
    assert_eq!(
        u.tick(t0 + IDLE),
        vec![
            Action::Compact(Source::Memory),
            Action::Version(Source::Memory),
            Action::Unload
        ]
    );
}

#[test]
fn in_cluster_mode_snapshots_and_versions_come_from_the_database() {
    let t0 = Instant::now();
    let mut u = Upkeep::new(limits(), true, t0);
    u.peer_joined();
    u.edited(t0);
    assert_eq!(
        u.committed(10, 100, t0),
        Some(Action::Compact(Source::Database))
    );
    assert_eq!(u.tick(t0 + IDLE), vec![Action::Version(Source::Database)]);
    u.compacted(false, t0);
    let out = u.write_out();
    assert_eq!(out.compact, Some(Source::Database));
    assert_eq!(out.version, Some(Source::Database));
}
