//! Updates that build on changes the server does not have are held, not handed to yrs:
//! applied in order once the gap is filled, bounded per document, never stored early.

use crate::kit::*;
use yrs::{
    sync::{Message, SyncMessage},
    GetString, ReadTxn, StateVector, Text, Transact,
};

fn update_frame(update: Vec<u8>) -> Vec<u8> {
    use yrs::updates::encoder::Encode;
    Message::Sync(SyncMessage::Update(update)).encode_v1()
}

/// Two edits by one author, the second typed after the first.
fn two_edits() -> (Vec<u8>, Vec<u8>) {
    let doc = new_doc();
    let text = doc.get_or_insert_text("content");
    text.insert(&mut doc.transact_mut(), 0, "hello");
    let first = doc
        .transact()
        .encode_state_as_update_v1(&StateVector::default());
    let sv = doc.transact().state_vector();
    text.insert(&mut doc.transact_mut(), 5, " world");
    let second = doc.transact().encode_state_as_update_v1(&sv);
    assert_eq!(text.get_string(&doc.transact()), "hello world");
    (first, second)
}

#[tokio::test]
async fn an_update_that_overtakes_its_predecessor_waits_for_it() {
    let server = start(&["--unload-grace-secs", "0"]).await;
    let mut writer = Client::connect(&server.ws("held")).await;
    let mut reader = Client::connect(&server.ws("held")).await;
    let (first, second) = two_edits();

    writer.send_raw(update_frame(second)).await;
    server
        .wait_metric("tandem_updates_held_total", |v| v == 1.0)
        .await;
    // Held, so neither relayed nor stored: the document is still empty.
    assert_eq!(get_text(&server, "held").await, "");

    writer.send_raw(update_frame(first)).await;
    reader.pump_until(|c| c.text() == "hello world", WAIT).await;
    assert_eq!(get_text(&server, "held").await, "hello world");
    assert_eq!(server.metric("tandem_held_update_bytes").await, 0.0);
    // Stored in an order that replays: a fresh load has both edits.
    drop(writer);
    drop(reader);
    server.wait_unloaded("held").await;
    assert_eq!(get_text(&server, "held").await, "hello world");
}

/// The two updates fuzzing found to make yrs 0.28 read freed memory when applied in a row:
/// a GC range past the known clocks (held, since clocks 0-36 never came), then a deleted
/// item covering it. The room keeps working and the first is never stored.
#[tokio::test]
async fn the_pair_that_corrupted_yrs_memory_is_harmless() {
    let server = start(&[]).await;
    let mut attacker = Client::connect(&server.ws("uaf")).await;
    attacker
        .send_raw(update_frame(vec![1, 1, 3, 0x25, 0, 3, 1, 8, 0]))
        .await;
    attacker
        .send_raw(update_frame(vec![1, 1, 3, 0, 1, 1, 0, 0x39, 0]))
        .await;
    server
        .wait_metric("tandem_updates_held_total", |v| v == 1.0)
        .await;
    let mut a = Client::connect(&server.ws("uaf")).await;
    let b = Client::connect(&server.ws("uaf")).await;
    let msg = a.append_message("still fine");
    a.send_raw(msg).await;
    assert_eq!(converge(&mut [a, b], WAIT).await, "still fine");
}

#[tokio::test]
async fn held_updates_are_bounded_per_document() {
    let server = start(&["--max-pending-bytes", "200"]).await;
    let mut attacker = Client::connect(&server.ws("bound")).await;
    let mut other = Client::connect(&server.ws("bound")).await;
    // Each claims a client whose earlier clocks nobody sent (a 7-byte update each).
    for client in 10..60u8 {
        attacker
            .send_raw(update_frame(vec![1, 1, client, 5, 0, 1, 0]))
            .await;
    }
    let (code, reason) = attacker.closed_with(WAIT).await;
    assert_eq!(code, 1008, "{reason}");
    assert!(reason.contains("depends on changes"), "{reason}");
    assert_eq!(
        server
            .metric("tandem_limit_refusals_total{limit=\"pending\"}")
            .await,
        1.0
    );
    // Nothing of it reached anyone, and the room serves the others.
    let msg = other.append_message("ok");
    other.send_raw(msg).await;
    other.pump_until(|c| c.text() == "ok", WAIT).await;
    assert_eq!(get_text(&server, "bound").await, "ok");
}
