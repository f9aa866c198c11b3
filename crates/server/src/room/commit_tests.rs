use std::time::Duration;

use bytes::Bytes;
use yrs::{
    sync::{Message, SyncMessage},
    updates::decoder::Decode,
    Text, Transact, Update,
};

use super::{Budget, Commit};
use crate::{protocol, text};

/// A commit state with peers' queues of `queue` frames and a generous budget.
fn commit(queue: usize) -> Commit<&'static str> {
    Commit::new(Budget::new(1 << 20), queue)
}

/// A client typing: each call appends `s` to its document and returns the update.
struct Typist(yrs::Doc);

impl Typist {
    fn new() -> Typist {
        Typist(text::new_doc())
    }

    fn types(&self, s: &str) -> Bytes {
        let text = text::text_ref(&self.0);
        let mut txn = self.0.transact_mut();
        let len = text.len(&txn);
        text.insert(&mut txn, len, s);
        Bytes::from(txn.encode_update_v1())
    }
}

/// The text a fresh document shows after applying relayed frames.
fn text_of(frames: &[Bytes]) -> String {
    let doc = text::new_doc();
    for frame in frames {
        for msg in protocol::decode_frame(frame).unwrap() {
            let Message::Sync(SyncMessage::Update(update)) = msg else {
                panic!("relayed something other than an update: {msg:?}");
            };
            doc.transact_mut()
                .apply_update(Update::decode_v1(&update).unwrap())
                .unwrap();
        }
    }
    text::render_doc(&doc)
}

fn frame(update: &Bytes) -> Bytes {
    protocol::sync_update(update.to_vec())
}

#[test]
fn an_update_is_relayed_only_once_committed() {
    let mut c = commit(16);
    let t = Typist::new();
    let u = t.types("hi");
    let a = c.accept(u.clone());
    assert!(a.relay.is_empty(), "nothing goes out before the commit");
    let batch = a
        .submit
        .expect("the first update goes to the writer at once");
    assert_eq!(batch.updates, vec![u.clone()]);

    let a = c.written(batch.id, 7);
    assert_eq!(a.relay, vec![frame(&u)]);
    let committed = a.committed.expect("a commit is reported");
    assert_eq!((committed.updates, committed.last_seq), (1, 7));
    assert_eq!(committed.bytes, u.len() as u64);
    assert!(a.submit.is_none(), "nothing left to write");
    assert!(!c.has_pending());
}

#[test]
fn updates_arriving_during_a_commit_go_in_the_next_batch() {
    let mut c = commit(16);
    let t = Typist::new();
    let first = c.accept(t.types("a")).submit.unwrap();
    let u2 = t.types("b");
    let u3 = t.types("c");
    assert!(c.accept(u2.clone()).submit.is_none(), "one batch in flight");
    assert!(c.accept(u3.clone()).submit.is_none());
    let a = c.written(first.id, 1);
    assert_eq!(a.relay.len(), 1);
    let next = a.submit.expect("the waiting updates follow");
    assert_eq!(next.updates, vec![u2.clone(), u3.clone()]);
    let a = c.written(next.id, 3);
    assert_eq!(
        a.relay,
        vec![frame(&u2), frame(&u3)],
        "in order, one frame each"
    );
}

#[test]
fn a_burst_past_half_a_queue_is_relayed_merged() {
    // Queues of 4 frames: up to 2 updates go one by one, 3 are merged into one frame.
    let mut c = commit(4);
    let t = Typist::new();
    let first = c.accept(t.types("x")).submit.unwrap();
    for s in ["a", "b", "c"] {
        let _ = c.accept(t.types(s));
    }
    let a = c.written(first.id, 1);
    let mut seen = a.relay;
    let burst = a.submit.unwrap();
    assert_eq!(burst.updates.len(), 3);
    let a = c.written(burst.id, 4);
    assert_eq!(a.merged, 1);
    assert_eq!(a.relay.len(), 1, "three updates, one frame");
    seen.extend(a.relay);
    assert_eq!(
        text_of(&seen),
        "xabc",
        "the merged frame holds every update"
    );

    let pair_first = c.accept(t.types("d")).submit.unwrap();
    let _ = c.accept(t.types("e"));
    let _ = c.accept(t.types("f"));
    let pair = c.written(pair_first.id, 5).submit.unwrap();
    let a = c.written(pair.id, 7);
    assert_eq!(
        (a.merged, a.relay.len()),
        (0, 2),
        "half a queue goes one by one"
    );
}

#[test]
fn a_flood_is_merged_in_bounded_runs() {
    // Queues of 4 frames (bursts past 2 are merged). A flood of many tiny updates in one
    // commit goes out in runs of at most MAX_MERGE updates, never one merge over it all.
    let mut c = commit(4);
    let t = Typist::new();
    let first = c.accept(t.types("<")).submit.unwrap();
    let count = 2 * super::MAX_MERGE + 10;
    let mut expected = String::from("<");
    for i in 0..count {
        let s = char::from(b'a' + (i % 26) as u8).to_string();
        expected.push_str(&s);
        let _ = c.accept(t.types(&s));
    }
    let a = c.written(first.id, 1);
    let mut seen = a.relay;
    let flood = a.submit.unwrap();
    assert_eq!(flood.updates.len(), count);
    let a = c.written(flood.id, 2);
    assert_eq!(
        (a.merged, a.relay.len()),
        (3, 3),
        "{count} updates: three merges of at most {} each",
        super::MAX_MERGE
    );
    seen.extend(a.relay);
    assert_eq!(text_of(&seen), expected, "every update is in some frame");
}

#[test]
fn a_stale_write_answer_changes_nothing() {
    let mut c = commit(16);
    let t = Typist::new();
    let u1 = t.types("a");
    let in_flight = c.accept(u1.clone()).submit.unwrap();
    let u2 = t.types("b");
    let _ = c.accept(u2.clone());
    // The room wrote everything itself (unloading) while batch 1 was in flight.
    assert_eq!(c.outstanding(), vec![u1.clone(), u2.clone()]);
    let a = c.written_out(2, 2);
    assert_eq!(a.relay, vec![frame(&u1), frame(&u2)]);

    let u3 = t.types("c");
    let next = c.accept(u3.clone()).submit.unwrap();
    // Batch 1's late answer must not be taken for the batch now in flight.
    let late = c.written(in_flight.id, 1);
    assert!(late.relay.is_empty() && late.committed.is_none() && late.submit.is_none());
    assert!(c.failed(in_flight.id).retry_after.is_none());
    assert!(c.is_writing());
    assert_eq!(c.written(next.id, 3).relay, vec![frame(&u3)]);
}

#[test]
fn a_failed_write_degrades_retries_with_backoff_and_recovers() {
    let mut c = commit(16);
    let t = Typist::new();
    let u1 = t.types("a");
    let batch = c.accept(u1.clone()).submit.unwrap();

    let a = c.failed(batch.id);
    assert_eq!(a.degraded, Some(true));
    assert_eq!(a.relay, vec![frame(&u1)], "degraded: relayed from memory");
    assert_eq!(a.retry_after, Some(Duration::from_millis(100)));

    let u2 = t.types("b");
    let a = c.accept(u2.clone());
    assert_eq!(a.relay, vec![frame(&u2)], "new edits still reach everyone");
    assert!(a.submit.is_none(), "no write outside the retry schedule");

    let mut waits = Vec::new();
    let mut batch = c.retry().submit.expect("the retry writes again");
    assert_eq!(
        batch.updates,
        vec![u1.clone(), u2.clone()],
        "nothing was dropped"
    );
    for _ in 0..7 {
        let a = c.failed(batch.id);
        assert_eq!(a.degraded, None, "still degraded");
        assert!(a.relay.is_empty(), "already relayed");
        waits.push(a.retry_after.unwrap().as_millis());
        batch = c.retry().submit.unwrap();
    }
    assert_eq!(waits, [200, 400, 800, 1600, 3200, 5000, 5000]);

    let a = c.written(batch.id, 2);
    assert_eq!(a.degraded, Some(false), "recovered");
    assert!(a.relay.is_empty(), "relayed once, not again");
    assert_eq!(a.committed.unwrap().updates, 2);
    assert!(!c.has_pending());

    let batch = c
        .accept(t.types("c"))
        .submit
        .expect("writes go straight out again");
    let a = c.failed(batch.id);
    assert_eq!(
        a.retry_after,
        Some(Duration::from_millis(100)),
        "backoff starts over"
    );
}

#[test]
fn a_sync_reply_waits_until_its_updates_are_relayed() {
    let mut c = commit(16);
    let t = Typist::new();
    let reply = Bytes::from_static(b"step 2");
    assert_eq!(
        c.reply_after_commit(1, reply.clone()),
        Some(reply.clone()),
        "nothing uncommitted: the reply goes at once"
    );

    let batch = c.accept(t.types("a")).submit.unwrap();
    assert_eq!(c.reply_after_commit(1, reply.clone()), None);
    assert_eq!(c.reply_after_commit(2, reply.clone()), None);
    c.forget_peer(2);
    let u2 = t.types("b");
    let a = c.accept(u2);
    assert!(a.release.is_empty());
    // A reply that includes the second update waits for it, not just for the first.
    assert_eq!(c.reply_after_commit(3, reply.clone()), None);

    let a = c.written(batch.id, 1);
    assert_eq!(a.relay.len(), 1);
    assert_eq!(
        a.release,
        vec![(1, reply.clone())],
        "peer 2 left; peer 3 waits"
    );
    let a = c.written(a.submit.unwrap().id, 2);
    assert_eq!(a.release, vec![(3, reply)]);
}

#[test]
fn an_api_edit_is_answered_once_committed_not_when_relayed() {
    let mut c = commit(16);
    let t = Typist::new();
    assert_eq!(c.when_committed("now"), Some("now"));
    let batch = c.accept(t.types("a")).submit.unwrap();
    assert_eq!(c.when_committed("api"), None);
    let a = c.failed(batch.id);
    assert!(a.applied.is_empty(), "relayed from memory is not committed");
    let retry = c.retry().submit.unwrap();
    let a = c.written(retry.id, 1);
    assert_eq!(a.applied, vec!["api"]);
}

#[test]
fn the_unwritten_bytes_budget_is_shared_and_freed_on_commit() {
    let t = Typist::new();
    let u1 = t.types("first edit");
    let u2 = t.types("second");
    let budget = Budget::new(u1.len() + u2.len() - 1);
    let mut a: Commit<()> = Commit::new(budget.clone(), 16);
    let mut b: Commit<()> = Commit::new(budget.clone(), 16);
    let batch = a.accept(u1.clone()).submit.unwrap();
    let _ = b.accept(u2.clone());
    // Admission compares this sum with the limit (`admission_tests.rs`).
    assert_eq!(
        budget.unwritten(),
        u1.len() + u2.len(),
        "every room's unwritten bytes count"
    );
    let _ = a.written(batch.id, 1);
    assert_eq!(budget.unwritten(), u2.len(), "a commit frees its bytes");
}

#[test]
fn deleting_during_an_outage_drops_the_unwritten_updates() {
    let t = Typist::new();
    let u1 = t.types("a");
    let u2 = t.types("b");
    let max = u1.len() + u2.len();
    let budget = Budget::new(max);
    let mut c: Commit<()> = Commit::new(budget.clone(), 16);
    let batch = c.accept(u1).submit.unwrap();
    let _ = c.failed(batch.id);
    let _ = c.accept(u2);
    let retry = c.retry().submit.unwrap();
    assert_eq!(budget.unwritten(), max, "both updates are unwritten");
    // The delete waits for the write in flight; an older answer does not end the wait.
    assert!(c.is_writing());
    c.settle(batch.id);
    assert!(c.is_writing());
    c.settle(retry.id);
    assert!(!c.is_writing());
    c.drop_pending();
    assert!(!c.has_pending());
    assert_eq!(budget.unwritten(), 0, "the budget is free again");
    assert!(c.retry().submit.is_none(), "nothing left to write back");
}
