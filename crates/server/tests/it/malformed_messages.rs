//! Bad input on a WebSocket (text frames, undecodable or oversized messages, unknown types,
//! bad names, corrupted real messages): only the offender is closed, with the right code,
//! and the room and its document are unharmed.

use crate::kit::*;
use futures::SinkExt;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use yrs::sync::{Message, SyncMessage};
use yrs::updates::encoder::Encode;

/// Each bad input closes only the offending socket with a clear code; the room and its
/// other clients carry on.
#[tokio::test]
async fn bad_input_closes_only_the_offender() {
    let server = start(&["--max-message-size", "4096"]).await;
    let mut good = Client::connect(&server.ws("bad")).await;
    good.append("intact").await;
    good.pump_until(|c| c.received_updates >= 1, WAIT).await;

    // text frame
    let mut bad = Client::connect(&server.ws("bad")).await;
    bad.ws.send(WsMessage::Text("hello".into())).await.unwrap();
    let (code, reason) = bad.closed_with(WAIT).await;
    assert_eq!(code, 1003, "{reason}");
    assert!(reason.contains("text frames"), "{reason}");

    // undecodable message
    let mut bad = Client::connect(&server.ws("bad")).await;
    bad.send_raw(vec![0, 9, 200, 1]).await;
    assert_eq!(bad.closed_with(WAIT).await.0, 1007);

    // a sync update whose payload is not a Yjs update
    let mut bad = Client::connect(&server.ws("bad")).await;
    bad.send(Message::Sync(SyncMessage::Update(vec![
        255, 255, 255, 1, 2, 3,
    ])))
    .await;
    let (code, reason) = bad.closed_with(WAIT).await;
    assert_eq!(code, 1007, "{reason}");

    // frame over the configured maximum
    let mut bad = Client::connect(&server.ws("bad")).await;
    bad.send_raw(vec![0u8; 8192]).await;
    let (code, reason) = bad.closed_with(WAIT).await;
    assert_eq!(code, 1009, "{reason}");

    // unknown message type: skipped (and counted), connection stays usable
    let unknown = server.metric("tandem_unknown_messages_total").await;
    let mut newer = Client::connect(&server.ws("bad")).await;
    newer.send_raw(vec![42, 3, 1, 2, 3]).await;
    newer.append("!").await;
    newer.pump_until(|c| c.received_updates >= 1, WAIT).await;
    assert!(newer.closed.is_none());
    assert_eq!(
        server.metric("tandem_unknown_messages_total").await,
        unknown + 1.0
    );

    good.pump_until(|c| c.text() == "intact!", WAIT).await;
    assert!(good.closed.is_none());
    assert_eq!(get_text(&server, "bad").await, "intact!");

    // invalid document names are refused before the upgrade
    let err = tokio_tungstenite::connect_async(server.ws("bad%20name"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("400"), "{err}");
}

/// Seeded random corruption of real protocol messages, from clients that come and go,
/// while two honest clients keep editing: the server closes an offender with a protocol
/// close code or carries on, and the room and its honest clients never notice.
#[tokio::test]
async fn corrupted_messages_never_harm_the_room() {
    use rand::{rngs::StdRng, Rng, SeedableRng};
    use yrs::{ReadTxn, Text, Transact};
    let server = start(&["--max-message-size", "65536"]).await;
    let mut good = Client::connect(&server.ws("fuzz")).await;
    let mut watcher = Client::connect(&server.ws("fuzz")).await;

    // Real messages to corrupt: what a client sends while typing and moving its cursor.
    let author = new_doc();
    let text = author.get_or_insert_text("content");
    let mut seeds: Vec<Vec<u8>> = Vec::new();
    for word in ["alpha ", "beta ", "gamma "] {
        let update = {
            let mut txn = author.transact_mut();
            let len = text.len(&txn);
            text.insert(&mut txn, len, word);
            if len > 2 {
                text.remove_range(&mut txn, 1, 1);
            }
            txn.encode_update_v1()
        };
        seeds.push(Message::Sync(SyncMessage::Update(update)).encode_v1());
    }
    let sv = author.transact().state_vector();
    seeds.push(Message::Sync(SyncMessage::SyncStep1(sv)).encode_v1());
    seeds.push(vec![3]); // query awareness
    seeds.push(vec![2, 0, 2, b'n', b'o']); // auth
    let mut awareness = yrs::sync::Awareness::new(new_doc());
    awareness.set_local_state_raw(r#"{"user":{"name":"eve"},"cursor":null}"#.to_string());
    seeds.push(Message::Awareness(awareness.update().unwrap()).encode_v1());

    let mut rng = StdRng::seed_from_u64(0x7a6d);
    let mut closed = std::collections::BTreeMap::<u16, usize>::new();
    let mut survived = 0;
    const ROUNDS: usize = 20;
    for round in 0..ROUNDS {
        // One corrupted frame per connection: after a refused frame nothing else is read.
        for _ in 0..10 {
            let mut evil = Client::connect(&server.ws("fuzz")).await;
            let mut frame = seeds[rng.gen_range(0..seeds.len())].clone();
            match rng.gen_range(0..4) {
                0 => {
                    for _ in 0..rng.gen_range(1..4) {
                        let i = rng.gen_range(0..frame.len());
                        frame[i] = rng.gen();
                    }
                }
                1 => frame.truncate(rng.gen_range(1..frame.len().max(2))),
                2 => frame.extend((0..rng.gen_range(1..8)).map(|_| rng.gen::<u8>())),
                _ => {
                    let i = rng.gen_range(0..frame.len());
                    frame.insert(i, rng.gen());
                }
            }
            evil.send_raw(frame).await;
            // A marker after it: the server echoes the sender's awareness, so once the
            // echo is in, the corrupted frame was handled (and the socket left open), or
            // the socket was closed for it.
            evil.set_awareness(r#"{"marker":true}"#).await;
            let me = evil.client_id();
            evil.pump_until(|c| c.closed.is_some() || c.peers.contains_key(&me), WAIT)
                .await;
            match &evil.closed {
                Some((code, reason)) => {
                    assert!(
                        [1003, 1007, 1009].contains(code),
                        "unexpected close {code}: {reason}"
                    );
                    *closed.entry(*code).or_default() += 1;
                }
                None => survived += 1,
            }
        }
        let token = format!("<{round}>");
        good.append(&token).await;
        watcher
            .pump_until(|c| c.text().contains(&token), WAIT)
            .await;
        assert!(good.closed.is_none() && watcher.closed.is_none());
    }
    assert!(
        survived > 0,
        "every corrupted message was refused: {closed:?}"
    );
    assert!(!closed.is_empty(), "no corrupted message was refused");
    good.append("<end>").await;
    watcher
        .pump_until(|c| c.text().contains("<end>"), WAIT)
        .await;
    good.pump_until(|c| c.received_updates > ROUNDS, WAIT).await;
    assert_eq!(good.text(), watcher.text());
    assert_eq!(get_text(&server, "fuzz").await, good.text());
    for round in 0..ROUNDS {
        assert!(good.text().contains(&format!("<{round}>")));
    }
}
