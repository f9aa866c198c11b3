//! Unit tests of the bus frame signature: what verifies, and each reason a frame is dropped.

use super::*;

const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";
const SUBJECT: &str = "tandem.doc.6e6f746573";

#[test]
fn a_sealed_frame_opens_to_its_message_once() {
    let (a, b) = (Seal::new(KEY), Seal::new(KEY));
    let frame = a.seal(SUBJECT, b"hello");
    assert_eq!(b.open(SUBJECT, &frame).as_deref(), Ok(&b"hello"[..]));
    assert_eq!(b.open(SUBJECT, &frame), Err(Rejected::Replay));
}

#[test]
fn another_key_fails_the_signature() {
    let frame = Seal::new(b"another key, also thirty-two bytes!").seal(SUBJECT, b"hello");
    assert_eq!(
        Seal::new(KEY).open(SUBJECT, &frame),
        Err(Rejected::Signature)
    );
}

#[test]
fn a_frame_moved_to_another_subject_fails_the_signature() {
    let frame = Seal::new(KEY).seal(SUBJECT, b"hello");
    assert_eq!(
        Seal::new(KEY).open("tandem.doc.6f74686572", &frame),
        Err(Rejected::Signature)
    );
}

#[test]
fn every_changed_byte_fails_the_signature() {
    let frame = Seal::new(KEY).seal(SUBJECT, b"hello").to_vec();
    let b = Seal::new(KEY);
    for i in 0..frame.len() {
        let mut bad = frame.clone();
        bad[i] ^= 1;
        assert_eq!(
            b.open(SUBJECT, &Bytes::from(bad)),
            Err(Rejected::Signature),
            "byte {i}"
        );
    }
}

#[test]
fn unsigned_and_short_frames_are_refused() {
    let b = Seal::new(KEY);
    for len in [0, 1, 31, 32, 55] {
        let frame = Bytes::from(vec![1u8; len]);
        assert_eq!(b.open(SUBJECT, &frame), Err(Rejected::Malformed), "{len}");
    }
    // Long enough, but no valid signature: an old, unsigned message.
    let unsigned = Bytes::from(vec![1u8; 200]);
    assert_eq!(b.open(SUBJECT, &unsigned), Err(Rejected::Signature));
}

#[test]
fn frames_from_too_far_in_the_past_or_future_are_stale() {
    let (a, b) = (Seal::new(KEY), Seal::new(KEY));
    let now = now_ms();
    let skew = MAX_SKEW.as_millis() as u64;
    let old = a.seal_at(SUBJECT, b"x", now - skew - 1_000);
    let future = a.seal_at(SUBJECT, b"x", now + skew + 1_000);
    let recent = a.seal_at(SUBJECT, b"x", now - skew + 1_000);
    assert_eq!(b.open_at(SUBJECT, &old, now), Err(Rejected::Stale));
    assert_eq!(b.open_at(SUBJECT, &future, now), Err(Rejected::Stale));
    assert!(b.open_at(SUBJECT, &recent, now).is_ok());
}

#[test]
fn frames_taken_out_of_order_pass_once_within_the_window() {
    let (a, b) = (Seal::new(KEY), Seal::new(KEY));
    let frames: Vec<Bytes> = (0..100).map(|_| a.seal(SUBJECT, b"x")).collect();
    for i in (0..100).rev() {
        assert!(b.open(SUBJECT, &frames[i]).is_ok(), "frame {i}");
    }
    for (i, frame) in frames.iter().enumerate() {
        assert_eq!(b.open(SUBJECT, frame), Err(Rejected::Replay), "frame {i}");
    }
}

#[test]
fn a_frame_further_behind_than_the_window_is_refused() {
    let (a, b) = (Seal::new(KEY), Seal::new(KEY));
    let first = a.seal(SUBJECT, b"x");
    a.next_seq.store(WINDOW + 5, Ordering::Relaxed);
    let later = a.seal(SUBJECT, b"x");
    assert!(b.open(SUBJECT, &later).is_ok());
    assert_eq!(b.open(SUBJECT, &first), Err(Rejected::Replay));
}

#[test]
fn two_senders_are_tracked_apart() {
    let (a, c, b) = (Seal::new(KEY), Seal::new(KEY), Seal::new(KEY));
    // Both start at sequence 0: one's frame 0 is no replay of the other's.
    assert!(b.open(SUBJECT, &a.seal(SUBJECT, b"x")).is_ok());
    assert!(b.open(SUBJECT, &c.seal(SUBJECT, b"x")).is_ok());
}
