//! The WebSocket sync path, end to end, with a yrs-based client.

use std::time::Duration;

use crate::kit::*;
use futures::SinkExt;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use yrs::sync::{Message, SyncMessage};
use yrs::updates::encoder::Encode;

#[tokio::test]
async fn two_clients_converge() {
    let server = start(&[]).await;
    let mut a = Client::connect(&server.ws("pair")).await;
    let mut b = Client::connect(&server.ws("pair")).await;
    for i in 0..20 {
        a.append(&format!("a{i} ")).await;
        b.insert(0, &format!("b{i} ")).await;
    }
    let text = converge(&mut [a, b], WAIT).await;
    for i in 0..20 {
        assert!(
            text.contains(&format!("a{i} ")) && text.contains(&format!("b{i} ")),
            "{text}"
        );
    }
    assert_eq!(get_text(&server, "pair").await, text);
}

#[tokio::test]
async fn sender_gets_its_update_echoed_and_late_joiner_gets_full_state() {
    let server = start(&[]).await;
    let mut a = Client::connect(&server.ws("late")).await;
    a.append("hello world").await;
    // The echo is the acknowledgement that the update is committed.
    a.pump_until(|c| c.received_updates >= 1, WAIT).await;
    a.close().await;
    let c = Client::connect(&server.ws("late")).await;
    assert_eq!(c.text(), "hello world");
}

#[tokio::test]
async fn awareness_is_relayed_and_removed_on_disconnect() {
    let server = start(&[]).await;
    let mut a = Client::connect(&server.ws("aw")).await;
    let mut b = Client::connect(&server.ws("aw")).await;
    a.set_awareness(r#"{"user":{"name":"ann","color":"red"}}"#)
        .await;
    let id = a.client_id();
    b.pump_until(
        |c| matches!(c.peers.get(&id), Some(Some(s)) if s.contains("ann")),
        WAIT,
    )
    .await;
    // The sender sees its own state echoed (keeps the JS client's liveness check happy).
    a.pump_until(|c| c.peers.contains_key(&id), WAIT).await;
    // A newcomer is told about current states on join.
    let c = Client::connect(&server.ws("aw")).await;
    let mut c = c;
    c.pump_until(|c| matches!(c.peers.get(&id), Some(Some(_))), WAIT)
        .await;
    a.close().await;
    b.pump_until(|c| matches!(c.peers.get(&id), Some(None)), WAIT)
        .await;
    c.pump_until(|c| matches!(c.peers.get(&id), Some(None)), WAIT)
        .await;
}

#[tokio::test]
async fn query_awareness_returns_all_states() {
    let server = start(&[]).await;
    let mut a = Client::connect(&server.ws("qa")).await;
    a.set_awareness(r#"{"user":{"name":"ann"}}"#).await;
    let mut c = Client::connect(&server.ws("qa")).await;
    c.set_awareness(r#"{"user":{"name":"cid"}}"#).await;
    let (ida, idc) = (a.client_id(), c.client_id());
    let both = |c: &Client| {
        matches!(c.peers.get(&ida), Some(Some(s)) if s.contains("ann"))
            && matches!(c.peers.get(&idc), Some(Some(s)) if s.contains("cid"))
    };
    // The newcomer hears of both (on join or relayed); then it forgets and asks.
    let mut b = Client::connect(&server.ws("qa")).await;
    b.pump_until(both, WAIT).await;
    b.peers.clear();
    b.send(Message::AwarenessQuery).await;
    b.pump_until(both, WAIT).await;
}

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

#[tokio::test]
async fn many_documents_stay_isolated() {
    let server = start(&[]).await;
    let mut clients = Vec::new();
    for i in 0..200 {
        let mut c = Client::connect(&server.ws(&format!("iso-{i}"))).await;
        c.append(&format!("doc {i}")).await;
        clients.push(c);
    }
    for (i, c) in clients.iter_mut().enumerate() {
        c.pump_until(|c| c.received_updates >= 1, WAIT).await;
        assert_eq!(c.text(), format!("doc {i}"));
    }
    for i in (0..200).step_by(17) {
        assert_eq!(
            get_text(&server, &format!("iso-{i}")).await,
            format!("doc {i}")
        );
    }
}

/// Clients racing to open a cold document must all land in one in-memory copy; two
/// copies would never converge.
#[tokio::test]
async fn racing_clients_share_one_room() {
    let server = start(&["--unload-grace-secs", "0"]).await;
    {
        let mut seed = Client::connect(&server.ws("cold")).await;
        seed.append("seed").await;
        seed.pump_until(|c| c.received_updates >= 1, WAIT).await;
        seed.close().await;
    }
    server.wait_unloaded("cold").await;
    let url = server.ws("cold");
    let mut clients: Vec<Client> =
        futures::future::join_all((0..30).map(|_| Client::connect(&url))).await;
    for (i, c) in clients.iter_mut().enumerate() {
        assert!(c.text().starts_with("seed"), "{}", c.text());
        c.append(&format!("<{i}>")).await;
    }
    let text = converge(&mut clients, Duration::from_secs(20)).await;
    for i in 0..30 {
        assert!(text.contains(&format!("<{i}>")), "{text}");
    }
    assert!(server.is_loaded("cold"));
}

/// A peer that does not read is disconnected once its queue fills; the writer and the
/// room are not slowed down or blocked by it.
#[tokio::test]
async fn slow_peer_is_disconnected() {
    let server = start(&["--outbound-queue", "16"]).await;
    let mut slow = Client::connect(&server.ws("slow")).await;
    let mut fast = Client::connect(&server.ws("slow")).await;
    let chunk = "x".repeat(64 * 1024);
    for i in 0..200 {
        fast.append(&chunk).await;
        // Wait for the echo, so only the slow peer's queue can fill.
        fast.pump_until(|c| c.received_updates > i, WAIT).await;
    }
    // Now read: the server must have closed the slow peer with 1013, and counted it.
    let (code, reason) = slow.closed_with(Duration::from_secs(30)).await;
    assert_eq!(code, 1013, "{reason}");
    assert!(reason.contains("too slow"), "{reason}");
    assert_eq!(
        server.metric("tandem_slow_client_disconnects_total").await,
        1.0
    );
}

/// A client joining while an update is being committed gets its sync reply only once
/// the update is in the database: the reply carries that update, and a client must not
/// see what a crash could still lose.
#[tokio::test]
async fn sync_reply_waits_for_the_commit_it_carries() {
    let server = start(&[]).await;
    let mut a = Client::connect(&server.ws("held")).await;
    a.append("committed ").await;
    a.pump_until(|c| c.received_updates >= 1, WAIT).await;
    let lock = SqliteWriteLock::take(&server.sqlite_path()).await;
    a.append("in flight").await;
    // The room has the edit once a's awareness, sent after it, is echoed.
    let ida = a.client_id();
    a.set_awareness(r#"{"user":{"name":"a"}}"#).await;
    a.pump_until(|c| c.peers.contains_key(&ida), WAIT).await;

    // The newcomer's step 1 and then its awareness: the echo of the awareness is
    // immediate, so if the step 2 were not held it would have arrived first.
    let (ws, _) = tokio_tungstenite::connect_async_with_config(server.ws("held"), None, true)
        .await
        .unwrap();
    let mut b = Client::from_socket(ws);
    let sv = yrs::ReadTxn::state_vector(&yrs::Transact::transact(&b.doc));
    b.send(Message::Sync(SyncMessage::SyncStep1(sv))).await;
    let idb = b.client_id();
    b.set_awareness(r#"{"user":{"name":"b"}}"#).await;
    b.pump_until(|c| c.peers.contains_key(&idb), WAIT).await;
    assert!(!b.synced, "sync reply sent before its update committed");
    assert_eq!(b.text(), "");

    lock.release().await;
    b.pump_until(|c| c.synced, WAIT).await;
    assert_eq!(b.text(), "committed in flight");
}

/// Everything typed during one slow commit is relayed when it commits. One frame per
/// update would overflow a 16-message queue and disconnect even peers that keep up.
#[tokio::test]
async fn burst_from_a_slow_commit_keeps_fast_peers_connected() {
    let server = start(&["--outbound-queue", "16"]).await;
    let mut typist = Client::connect(&server.ws("burst")).await;
    let mut reader = Client::connect(&server.ws("burst")).await;
    let merged = server.metric("tandem_update_bursts_merged_total").await;
    // The database is busy: the first commit waits until every update below has arrived.
    let lock = SqliteWriteLock::take(&server.sqlite_path()).await;
    const N: usize = 100;
    for i in 0..N {
        typist.append(&format!("<{i}>")).await;
    }
    // Awareness is relayed at once: when the reader has it, the room has taken in every
    // update sent before it, and relayed none of them uncommitted.
    typist.set_awareness(r#"{"user":{"name":"typist"}}"#).await;
    let tid = typist.client_id();
    reader
        .pump_until(|c| c.peers.contains_key(&tid), WAIT)
        .await;
    assert_eq!(reader.received_updates, 0, "relayed before the commit");
    lock.release().await;

    let expected: String = (0..N).map(|i| format!("<{i}>")).collect();
    reader.pump_until(|c| c.text() == expected, WAIT).await;
    typist
        .pump_until(|c| c.text() == expected && c.received_updates > 0, WAIT)
        .await;
    assert!(reader.closed.is_none() && typist.closed.is_none());
    // The first update's commit, then the other 99 merged into one frame.
    assert!(
        reader.received_updates <= 2,
        "expected the burst merged, got {} frames",
        reader.received_updates
    );
    assert_eq!(
        server.metric("tandem_update_bursts_merged_total").await,
        merged + 1.0
    );

    // Both are still in the room: an edit after the burst travels as usual.
    reader.append("!").await;
    typist
        .pump_until(|c| c.text() == format!("{expected}!"), WAIT)
        .await;
}

#[tokio::test]
async fn shutdown_closes_with_1001_and_keeps_data() {
    let mut server = start(&[]).await;
    let mut a = Client::connect(&server.ws("bye")).await;
    a.append("committed ").await;
    a.pump_until(|c| c.received_updates >= 1, WAIT).await;
    // Edits still on their way to the database when the shutdown starts: the first in a
    // commit the busy database holds up, the second queued behind it, which only the
    // shutdown's write-out can still commit.
    let lock = SqliteWriteLock::take(&server.sqlite_path()).await;
    a.append("pending").await;
    a.append(" queued").await;
    // The echo of its awareness, sent after the edits, shows the room has them.
    a.set_awareness(r#"{"user":{"name":"a"}}"#).await;
    let me = a.client_id();
    a.pump_until(|c| c.peers.contains_key(&me), WAIT).await;
    let stopping = tokio::spawn(async move {
        server.stop().await;
        server
    });
    let (code, _) = a.closed_with(WAIT).await;
    assert_eq!(code, 1001);
    assert_eq!(
        a.received_updates, 1,
        "the pending edit was relayed uncommitted"
    );
    lock.release().await;
    let server = stopping.await.unwrap();
    let stored = tandem_persistence::open(&format!("sqlite://{}", server.sqlite_path().display()))
        .await
        .unwrap()
        .load("bye")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored_text(&stored), "committed pending queued");
    assert!(stored.snapshot.is_some(), "not compacted on shutdown");
    assert!(stored.updates.is_empty(), "log left after compaction");
    let server = start_in(server.dir, &[]).await;
    let c = Client::connect(&server.ws("bye")).await;
    assert_eq!(c.text(), "committed pending queued");
}

#[tokio::test]
async fn client_ids_above_32_bits_are_not_truncated() {
    let server = start(&[]).await;
    let mut a = Client::connect(&server.ws("bigid")).await;
    // A 53-bit client id, as pycrdt uses.
    let doc = yrs::Doc::with_options(yrs::Options {
        client_id: yrs::block::ClientID::new((1u64 << 52) + 12345),
        offset_kind: yrs::OffsetKind::Utf16,
        ..Default::default()
    });
    let update = {
        use yrs::{Text, Transact};
        let t = doc.get_or_insert_text("content");
        let mut txn = doc.transact_mut();
        t.insert(&mut txn, 0, "py");
        txn.encode_update_v1()
    };
    let big = yrs::block::ClientID::new((1u64 << 52) + 12345);
    a.send(Message::Sync(SyncMessage::Update(update.clone())))
        .await;
    a.pump_until(|c| c.text() == "py", WAIT).await;
    // Sending the same update again must not duplicate the text (a truncated id would
    // make it a different client's insert); a marker after it shows it was handled.
    a.send(Message::Sync(SyncMessage::Update(update))).await;
    a.append("!").await;
    a.pump_until(|c| c.text() == "py!", WAIT).await;
    // The relayed and the stored update both carry the full 53-bit id.
    use yrs::{ReadTxn, Transact};
    assert_eq!(a.doc.transact().state_vector().get(&big), 2);
    let c = Client::connect(&server.ws("bigid")).await;
    assert_eq!(c.text(), "py!");
    assert_eq!(c.doc.transact().state_vector().get(&big), 2);
    let stored = tandem_persistence::open(&format!("sqlite://{}", server.sqlite_path().display()))
        .await
        .unwrap()
        .load("bigid")
        .await
        .unwrap()
        .unwrap();
    let replica = new_doc();
    for bytes in stored.snapshot.iter().chain(stored.updates.iter()) {
        use yrs::updates::decoder::Decode;
        replica
            .transact_mut()
            .apply_update(yrs::Update::decode_v1(bytes).unwrap())
            .unwrap();
    }
    assert_eq!(replica.transact().state_vector().get(&big), 2);
}

/// A client that stops renewing its awareness (a frozen tab) loses its cursor for
/// everyone after the timeout, even though its socket stays open.
#[tokio::test]
async fn stale_awareness_expires() {
    let server = start(&["--awareness-timeout-secs", "1"]).await;
    let mut frozen = Client::connect(&server.ws("stale")).await;
    let mut b = Client::connect(&server.ws("stale")).await;
    frozen.set_awareness(r#"{"user":{"name":"zed"}}"#).await;
    let id = frozen.client_id();
    b.pump_until(|c| matches!(c.peers.get(&id), Some(Some(_))), WAIT)
        .await;
    let started = std::time::Instant::now();
    b.pump_until(|c| matches!(c.peers.get(&id), Some(None)), WAIT)
        .await;
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "removed too early"
    );
    assert!(frozen.closed.is_none());
}

/// Clients joining and leaving while a document unloads and reloads never lose an
/// acknowledged update.
#[tokio::test]
async fn churn_across_unloads_loses_nothing() {
    let server = start(&["--unload-grace-secs", "0"]).await;
    let url = server.ws("churn");
    let mut reloads = 0;
    for round in 0..15 {
        let was_loaded = server.is_loaded("churn");
        let mut c = Client::connect(&url).await;
        if !was_loaded && server.is_loaded("churn") {
            // Loaded again from storage: it holds every round acknowledged before.
            reloads += 1;
            for earlier in 0..round {
                assert!(
                    c.text().contains(&format!("[{earlier}]")),
                    "reload {reloads} lost [{earlier}]: {}",
                    c.text()
                );
            }
        }
        c.append(&format!("[{round}]")).await;
        c.pump_until(|c| c.received_updates >= 1, WAIT).await;
        c.close().await;
        if round % 3 == 0 {
            server.wait_unloaded("churn").await;
        }
    }
    // The first load and one after each of the five forced unloads, seen in the server's
    // own state (with no grace it may also unload between other rounds).
    assert!(
        reloads >= 6,
        "only {reloads} fresh loads: not one after each unload"
    );
    let c = Client::connect(&url).await;
    for round in 0..15 {
        assert!(
            c.text().contains(&format!("[{round}]")),
            "lost [{round}]: {}",
            c.text()
        );
    }
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
