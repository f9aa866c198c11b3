//! What one client's documents may take in memory (`--max-memory-per-client`): each loaded
//! document is weighed as its encoded bytes plus a cost per Yjs struct, and a client's
//! weight is the sum over the documents it has open (and those it left less than the
//! unload grace ago). Dense updates, many tiny structs, are what makes a document's memory
//! outgrow its wire size ten times over. The tests play a reverse proxy (trusted
//! `X-Forwarded-For`) to be two clients from one machine.

use std::sync::atomic::{AtomicU8, Ordering};

use crate::kit::*;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use yrs::{
    sync::{Message, SyncMessage},
    Map, ReadTxn, Transact, WriteTxn,
};

const ATTACKER: &str = "10.0.0.1";
const OTHER: &str = "10.0.0.2";
const REFUSED: &str = "tandem_limit_refusals_total{limit=\"memory_per_client\"}";
const MEMORY: &str = "tandem_document_memory_bytes";

/// One update that sets `keys` map entries: about 14 bytes on the wire each, and a struct
/// each (384 bytes in the server's estimate).
fn dense_update(keys: usize, tag: &str) -> Vec<u8> {
    let doc = yrs::Doc::new();
    let mut txn = doc.transact_mut();
    let map = txn.get_or_insert_map("m");
    for i in 0..keys {
        map.insert(&mut txn, format!("{tag}{i}"), i as i64);
    }
    txn.encode_update_v1()
}

/// A WebSocket on `doc` as the client at `ip` (behind the trusted proxy).
async fn connect_as(server: &TestServer, doc: &str, ip: &str) -> Client {
    let mut req = server.ws(doc).into_client_request().unwrap();
    req.headers_mut()
        .append("x-forwarded-for", ip.parse().unwrap());
    let (ws, _) = tokio_tungstenite::connect_async(req)
        .await
        .expect("connect");
    Client::from_socket(ws)
}

async fn send_update(client: &mut Client, update: Vec<u8>) {
    client
        .send(Message::Sync(SyncMessage::Update(update)))
        .await;
}

/// Map entries a fresh reader of `doc` gets. Each reader is a client of its own: a
/// reader, too, is charged for the documents it opens.
async fn keys_in(server: &TestServer, doc: &str) -> u32 {
    static READERS: AtomicU8 = AtomicU8::new(1);
    let ip = format!("10.0.1.{}", READERS.fetch_add(1, Ordering::Relaxed));
    let mut reader = connect_as(server, doc, &ip).await;
    let sv = reader.doc.transact().state_vector();
    reader.send(Message::Sync(SyncMessage::SyncStep1(sv))).await;
    reader.pump_until(|c| c.synced, WAIT).await;
    let map = reader.doc.get_or_insert_map("m");
    let txn = reader.doc.transact();
    map.len(&txn)
}

// Updates this large are applied off the runtime's workers, which needs a multi-threaded
// runtime (a current-thread one applies in place).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clients_documents_are_capped_by_memory() {
    let server = start(&[
        "--max-memory-per-client",
        "3000000",
        "--trusted-proxies",
        "127.0.0.1",
        "--unload-grace-secs",
        "1",
    ])
    .await;
    // 6,000 entries: about 86 kB on the wire, about 2.4 MB in the estimate.
    let mut first = connect_as(&server, "dense-1", ATTACKER).await;
    send_update(&mut first, dense_update(6_000, "a")).await;
    let weighed = server.wait_metric(MEMORY, |v| v > 2_000_000.0).await;
    assert!(weighed < 3_000_000.0, "{weighed}");
    assert_eq!(keys_in(&server, "dense-1").await, 6_000);

    // A second such document would take the client past 3 MB: refused, with a reason.
    let mut second = connect_as(&server, "dense-2", ATTACKER).await;
    send_update(&mut second, dense_update(6_000, "b")).await;
    let (code, reason) = second.closed_with(WAIT).await;
    assert_eq!(code, 4413, "{reason}");
    assert!(reason.contains("memory limit of this client"), "{reason}");
    assert_eq!(server.metric(REFUSED).await, 1.0);
    assert_eq!(
        keys_in(&server, "dense-2").await,
        0,
        "nothing of it was kept"
    );

    // The HTTP update API counts against the same limit (429 and the reason).
    let res = reqwest::Client::new()
        .post(server.http("/api/documents/dense-3/updates"))
        .header("x-forwarded-for", ATTACKER)
        .header("content-type", "application/octet-stream")
        .body(dense_update(6_000, "c"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 429);
    let body = res.text().await.unwrap();
    assert!(body.contains("take too much memory"), "{body}");
    assert_eq!(server.metric(REFUSED).await, 2.0);

    // Another client is not held back by the first one's documents.
    let mut other = connect_as(&server, "dense-4", OTHER).await;
    send_update(&mut other, dense_update(6_000, "d")).await;
    server.wait_metric(MEMORY, |v| v > 4_000_000.0).await;
    assert_eq!(keys_in(&server, "dense-4").await, 6_000);
    assert_eq!(server.metric(REFUSED).await, 2.0);

    // Once the first document is closed and unloaded, its weight is the client's again.
    first.close().await;
    server.wait_unloaded("dense-1").await;
    let mut again = connect_as(&server, "dense-2", ATTACKER).await;
    send_update(&mut again, dense_update(6_000, "b")).await;
    wait_for("dense-2 to take the update", || async {
        (keys_in(&server, "dense-2").await == 6_000).then_some(())
    })
    .await;
    assert_eq!(server.metric(REFUSED).await, 2.0);
}
