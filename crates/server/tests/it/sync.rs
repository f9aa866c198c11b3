//! The WebSocket sync path, end to end, with a yrs-based client: convergence, echoes and
//! late joiners, isolation between documents, replies that wait for their commit, large
//! client ids, unloads and shutdown. Awareness is in `awareness.rs`, bad input in
//! `malformed_messages.rs`, slow peers in `slow_peers.rs`.

use std::time::Duration;

use crate::kit::*;
use yrs::sync::{Message, SyncMessage};

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
