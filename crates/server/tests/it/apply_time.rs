//! The apply-time budget: tiny updates that are expensive because of the document they land
//! in (a character inserted concurrently with thousands of others, whose place `yrs` finds
//! by walking them all) are refused once their sender, or the document, has used its
//! budget, while other clients and documents carry on.
//!
//! Clients come from different loopback addresses, since the budget is per address.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use crate::kit::*;
use tokio::net::TcpSocket;
use tokio_tungstenite::MaybeTlsStream;

const SEEDER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 3);
const ATTACKER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

/// Client ids in the seeded document: enough that each concurrent insert costs a debug
/// build milliseconds, few enough to seed quickly.
const SEED_CLIENTS: u64 = 20_000;

fn var(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// One character with no neighbours (no origins) in the root text `content`.
fn lone_char(out: &mut Vec<u8>, client: u64, clock: u64) {
    var(out, 1); // one struct
    var(out, client);
    var(out, clock);
    out.push(4); // a string item, no origins: its parent follows, named
    var(out, 1);
    var(out, 7);
    out.extend_from_slice(b"content");
    var(out, 1);
    out.push(b'a' + (client % 26) as u8);
}

/// One update in which each of `SEED_CLIENTS` client ids types one character into an empty
/// text at once.
fn seed_update() -> Vec<u8> {
    let mut u = Vec::new();
    var(&mut u, SEED_CLIENTS);
    for client in 1..=SEED_CLIENTS {
        lone_char(&mut u, client, 0);
    }
    var(&mut u, 0); // no deletions
    u
}

/// A one-character insert by `client` at `clock`, concurrent with every seeded character.
fn tiny_update(client: u64, clock: u64) -> Vec<u8> {
    let mut u = Vec::new();
    var(&mut u, 1);
    lone_char(&mut u, client, clock);
    var(&mut u, 0);
    u
}

fn update_frame(update: &[u8]) -> Vec<u8> {
    let mut f = vec![0, 2];
    var(&mut f, update.len() as u64);
    f.extend_from_slice(update);
    f
}

/// A WebSocket to `doc` from `from`, not yet synced.
async fn connect_from(server: &TestServer, from: Ipv4Addr, doc: &str) -> Client {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(IpAddr::V4(from), 0)).unwrap();
    let stream = socket.connect(server.addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let (ws, _) = tokio_tungstenite::client_async(server.ws(doc), MaybeTlsStream::Plain(stream))
        .await
        .expect("WebSocket handshake");
    Client::from_socket(ws)
}

/// Stores a document of `SEED_CLIENTS` concurrent characters, sent from `SEEDER`, and waits
/// until it is unloaded: loading it again is charged to nobody.
async fn seed(server: &TestServer, doc: &str) {
    let mut seeder = connect_from(server, SEEDER, doc).await;
    seeder.send_raw(update_frame(&seed_update())).await;
    wait_for("the seed to be stored", || async {
        let res = Api::new(server).text(doc).await;
        let text = res.text().await.unwrap();
        (text.len() == SEED_CLIENTS as usize).then_some(())
    })
    .await;
    seeder.close().await;
    server.wait_unloaded(doc).await;
}

/// Sends tiny concurrent inserts from `client` until the server closes the connection;
/// returns the close code and reason, and how many inserts were sent.
async fn insert_until_closed(c: &mut Client, client_id: u64) -> ((u16, String), u64) {
    for clock in 0..1_000 {
        c.send_raw(update_frame(&tiny_update(client_id, clock)))
            .await;
        // read what arrived (relays, the close) without waiting
        while c.step(std::time::Duration::from_millis(1)).await {}
        if let Some(closed) = c.closed.clone() {
            return (closed, clock + 1);
        }
    }
    panic!("1,000 expensive inserts were all accepted");
}

/// Two fresh clients on a document of their own, from the probe's address, see each
/// other's edits; and `/healthz` answers.
async fn others_carry_on(server: &TestServer, doc: &str) {
    let mut a = Client::connect(&server.ws(doc)).await;
    let b = Client::connect(&server.ws(doc)).await;
    let edit = a.append_message("still editing");
    a.send_raw(edit).await;
    assert_eq!(converge(&mut [a, b], WAIT).await, "still editing");
    assert_eq!(Api::new(server).healthz().await.status(), 200);
}

#[tokio::test]
async fn a_client_over_its_apply_time_is_refused_and_others_carry_on() {
    let server = start(&[
        "--max-apply-ms-per-sec",
        "5",
        "--max-document-apply-ms-per-sec",
        "0",
        "--unload-grace-secs",
        "0",
    ])
    .await;
    seed(&server, "costly").await;

    let mut attacker = connect_from(&server, ATTACKER, "costly").await;
    let ((code, reason), sent) = insert_until_closed(&mut attacker, 900_001).await;
    assert_eq!(code, 1013, "{reason}");
    assert!(
        reason.contains(
            "client over 5 ms/s (raise --max-apply-ms-per-sec / TANDEM_MAX_APPLY_MS_PER_SEC)"
        ),
        "{reason}"
    );
    assert!(sent > 1, "the first insert is always allowed");
    assert!(
        server
            .metric(r#"tandem_limit_refusals_total{limit="apply_time_client"}"#)
            .await
            >= 1.0
    );
    // Reconnecting does not reset the account: the next connection is turned away.
    let mut again = connect_from(&server, ATTACKER, "costly").await;
    let (code, _) = again.closed_with(WAIT).await;
    assert_eq!(code, 1013);
    // Nor does the HTTP API.
    let http = reqwest::Client::builder()
        .local_address(IpAddr::V4(ATTACKER))
        .build()
        .unwrap();
    let res = http
        .post(server.http("/api/documents/costly/updates"))
        .header("content-type", "application/octet-stream")
        .body(tiny_update(900_002, 0))
        .send()
        .await
        .unwrap();
    let message = expect_error(res, 429).await;
    assert!(message.contains("apply time limit"), "{message}");

    others_carry_on(&server, "elsewhere").await;
    // The refused inserts were never applied: only those before the limit are there.
    let text = get_text(&server, "costly").await;
    assert!(
        text.len() < SEED_CLIENTS as usize + sent as usize,
        "{}",
        text.len()
    );
}

#[tokio::test]
async fn a_document_over_its_apply_time_refuses_everyone() {
    let server = start(&[
        "--max-apply-ms-per-sec",
        "0",
        "--max-document-apply-ms-per-sec",
        "5",
        "--unload-grace-secs",
        "0",
    ])
    .await;
    seed(&server, "costly").await;

    // Two writers take turns; whoever sends once the document is over its budget is closed.
    let mut writers = Vec::new();
    for _ in 0..2 {
        writers.push(connect_from(&server, ATTACKER, "costly").await);
    }
    let mut closed = None;
    'outer: for clock in 0..1_000u64 {
        for (i, w) in writers.iter_mut().enumerate() {
            w.send_raw(update_frame(&tiny_update(800_000 + i as u64, clock)))
                .await;
            while w.step(std::time::Duration::from_millis(1)).await {}
            if let Some(c) = w.closed.clone() {
                closed = Some(c);
                break 'outer;
            }
        }
    }
    let (code, reason) = closed.expect("1,000 rounds of expensive inserts were all accepted");
    assert_eq!(code, 1013, "{reason}");
    assert!(
        reason.contains("document over 5 ms/s (raise --max-document-apply-ms-per-sec)"),
        "{reason}"
    );
    assert!(
        server
            .metric(r#"tandem_limit_refusals_total{limit="apply_time_document"}"#)
            .await
            >= 1.0
    );
    // Another document, from the very same address, is not affected.
    let mut other = connect_from(&server, ATTACKER, "cheap").await;
    other.send_raw(update_frame(&tiny_update(700_000, 0))).await;
    wait_for("the cheap edit", || async {
        let text = get_text(&server, "cheap").await;
        (text.len() == 1).then_some(())
    })
    .await;
    assert!(other.closed.is_none());
    others_carry_on(&server, "elsewhere").await;
}

/// Joining a document whose state vector is large still works, and the seeded text is
/// what a client sees: the budget does not get in the way of ordinary use.
#[tokio::test]
async fn a_large_document_syncs_within_the_default_budget() {
    let server = start(&["--unload-grace-secs", "0"]).await;
    seed(&server, "large").await;
    let mut a = Client::connect(&server.ws("large")).await;
    assert_eq!(a.text().len(), SEED_CLIENTS as usize);
    let edit = a.append_message("!");
    a.send_raw(edit).await;
    let b = Client::connect(&server.ws("large")).await;
    let text = converge(&mut [a, b], WAIT).await;
    assert_eq!(text.len(), SEED_CLIENTS as usize + 1);
    assert!(text.ends_with('!'));
}
