//! Limits per client that every entry point shares: the documents and memory a client
//! holds (HTTP edits included), its write quota, and its message rate over all its
//! connections.

use crate::kit::*;
use yrs::{Text, Transact};

/// An update inserting `text`, from a fresh Yjs client each time.
fn text_update(text: &str) -> Vec<u8> {
    let d = new_doc();
    let t = d.get_or_insert_text("content");
    let mut txn = d.transact_mut();
    t.insert(&mut txn, 0, text);
    txn.encode_update_v1()
}

#[tokio::test]
async fn http_edits_count_against_the_documents_a_client_may_hold() {
    let server = start(&["--max-documents-per-ip", "3", "--unload-grace-secs", "30"]).await;
    let api = Api::new(&server);
    for i in 0..3 {
        let res = api
            .apply_update(&format!("many-{i}"), text_update("x"))
            .await;
        assert_eq!(res.status(), 204, "{}", res.text().await.unwrap());
    }
    // Each edited document stays loaded (the unload grace) and counts for its client.
    let refused = api.apply_update("many-3", text_update("x")).await;
    let message = expect_error(refused, 429).await;
    assert!(message.contains("too many documents"), "{message}");
    assert!(!server.is_loaded("many-3"));
    // A document the client has already is still open to it.
    let again = api.apply_update("many-0", text_update("y")).await;
    assert_eq!(again.status(), 204);
    // Reading loads documents too, and counts the same way.
    expect_error(api.text("many-4").await, 429).await;
}

#[tokio::test]
async fn the_write_quota_refuses_http_and_websocket_edits_past_it() {
    let server = start(&["--max-write-bytes-per-client", "3000"]).await;
    let api = Api::new(&server);
    let chunk = "a".repeat(900);
    let mut accepted = 0;
    let refused = loop {
        let res = api.apply_update("quota", text_update(&chunk)).await;
        if res.status() != 204 {
            break res;
        }
        accepted += 1;
        assert!(accepted < 10, "the quota never refused");
    };
    assert_eq!(accepted, 3);
    let message = expect_error(refused, 429).await;
    assert!(
        message.contains("--max-write-bytes-per-client"),
        "{message}"
    );
    assert_eq!(
        server
            .metric("tandem_limit_refusals_total{limit=\"write_bytes_per_client\"}")
            .await,
        1.0
    );
    // The same client over a WebSocket: its edit is refused with the quota's close code.
    let mut ws = Client::connect(&server.ws("quota-ws")).await;
    ws.append(&chunk).await;
    let (code, reason) = ws.closed_with(WAIT).await;
    assert_eq!(code, 4429, "{reason}");
    assert!(reason.contains("--max-write-bytes-per-client"), "{reason}");
    // Nothing past the quota was written.
    assert_eq!(get_text(&server, "quota").await.len(), 3 * 900);
}

#[tokio::test]
async fn a_flood_over_many_connections_is_held_to_the_clients_rate() {
    // Two messages a second per client (bursts of 20; the four syncs take 8); each
    // connection alone could send 2,000 at once.
    let server = start(&["--max-updates-per-client-per-sec", "2"]).await;
    let mut flooders = Vec::new();
    for _ in 0..4 {
        flooders.push(Client::connect(&server.ws("flood")).await);
    }
    for c in flooders.iter_mut() {
        let frame: Vec<u8> = (0..40)
            .flat_map(|i| c.append_message(&format!("{}", i % 10)))
            .collect();
        c.send_raw(frame).await;
    }
    server
        .wait_metric(
            "tandem_limit_refusals_total{limit=\"update_rate_per_client\"}",
            |v| v >= 1.0,
        )
        .await;
    // Reconnecting at once gains nothing: the upgrade itself is refused while the
    // allowance is spent.
    match tokio_tungstenite::connect_async(server.ws("flood")).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => {
            let body =
                String::from_utf8_lossy(res.body().as_deref().unwrap_or_default()).to_string();
            assert_eq!(res.status(), 429, "{body}");
            assert!(body.contains("--max-updates-per-client-per-sec"), "{body}");
        }
        other => panic!("a flooder reconnected at once: {:?}", other.map(|_| ())),
    }
    let mut closed = 0;
    for c in flooders.iter_mut() {
        c.drain(std::time::Duration::from_millis(300)).await;
        if let Some((code, reason)) = &c.closed {
            assert_eq!(*code, 1008, "{reason}");
            assert!(
                reason.contains("--max-updates-per-client-per-sec"),
                "{reason}"
            );
            closed += 1;
        }
    }
    assert_eq!(closed, 4, "flooding connections left open");
    let text = get_text(&server, "flood").await;
    assert!(text.len() <= 16, "{} of 160 edits accepted", text.len());
    // Once the allowance refills the client may edit again.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let mut later = Client::connect(&server.ws("flood")).await;
    later.append("!").await;
    later.pump_until(|c| c.received_updates >= 1, WAIT).await;
}

/// Connects a WebSocket from `from` (a second loopback address stands for another client).
async fn ws_from(
    server: &TestServer,
    from: std::net::Ipv4Addr,
    doc: &str,
) -> Result<Client, tokio_tungstenite::tungstenite::Error> {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind((from, 0).into()).unwrap();
    let stream = socket.connect(server.addr).await.unwrap();
    let (ws, _) = tokio_tungstenite::client_async(
        server.ws(doc),
        tokio_tungstenite::MaybeTlsStream::Plain(stream),
    )
    .await?;
    Ok(Client::from_socket(ws))
}

#[tokio::test]
async fn an_address_that_keeps_flooding_is_refused_at_accept_for_the_cool_down() {
    // Two messages a second per client, bursts of 20: every connection below is closed for
    // its first frame of 40 edits, or refused at the upgrade while the allowance is spent.
    let server = start(&[
        "--max-updates-per-client-per-sec",
        "2",
        "--rate-limit-cooldown-secs",
        "60",
    ])
    .await;
    let flooder = std::net::Ipv4Addr::new(127, 0, 0, 2);
    let mut attempts = 0;
    let refusal = loop {
        attempts += 1;
        assert!(
            attempts <= 40,
            "the flooding address was never refused at accept"
        );
        match ws_from(&server, flooder, "flood").await {
            Ok(mut c) => {
                let frame: Vec<u8> = (0..40).flat_map(|_| c.append_message("x")).collect();
                c.send_raw(frame).await;
                let (code, reason) = c.closed_with(WAIT).await;
                assert_eq!(code, 1008, "{reason}");
                assert!(
                    reason.contains("--max-updates-per-client-per-sec"),
                    "{reason}"
                );
            }
            Err(tokio_tungstenite::tungstenite::Error::Http(res)) => {
                assert_eq!(res.status(), 429);
            }
            // Closed before any answer: not even the request was read.
            Err(other) => break other,
        }
    };
    assert!(
        attempts > 10,
        "refused at accept after {attempts} attempts ({refusal}): before ten refusals"
    );
    assert!(
        server
            .metric("tandem_limit_refusals_total{limit=\"message_rate_cooldown\"}")
            .await
            >= 1.0
    );
    // Plain HTTP from that address is turned away the same way.
    let http = reqwest::Client::builder()
        .local_address(std::net::IpAddr::V4(flooder))
        .build()
        .unwrap();
    assert!(http.get(server.http("/healthz")).send().await.is_err());
    // Another address is served as before, on the flooded document too.
    let mut other = Client::connect(&server.ws("flood")).await;
    other.append("still here").await;
    other.pump_until(|c| c.received_updates >= 1, WAIT).await;
    assert!(other.closed.is_none());
}
