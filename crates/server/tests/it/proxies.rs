//! Behind a reverse proxy (`--trusted-proxies`): the client address that limits per
//! address count against comes from `X-Forwarded-For` / `X-Real-IP`, but only when the TCP
//! peer is a trusted proxy; anyone else's headers are ignored. The tests connect from
//! 127.0.0.1 and play the proxy by writing the headers themselves.

use crate::kit::*;
use tokio_tungstenite::tungstenite::{client::IntoClientRequest, Error as WsError};

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A WebSocket handshake for `doc` carrying `headers`: the open socket, or the refusal's
/// status and JSON error.
async fn ws_with(
    server: &TestServer,
    doc: &str,
    headers: &[(&'static str, &str)],
) -> Result<Socket, (u16, String)> {
    let mut req = server.ws(doc).into_client_request().unwrap();
    for (name, value) in headers {
        req.headers_mut().append(*name, value.parse().unwrap());
    }
    match tokio_tungstenite::connect_async(req).await {
        Ok((socket, _)) => Ok(socket),
        Err(WsError::Http(res)) => {
            let body = res.body().clone().unwrap_or_default();
            let v: serde_json::Value = serde_json::from_slice(&body).expect("a JSON error");
            Err((res.status().as_u16(), v["error"].as_str().unwrap().into()))
        }
        Err(e) => panic!("handshake failed: {e}"),
    }
}

/// Opens a polling session on `doc` with `headers`; the response's status.
async fn poll_with(server: &TestServer, doc: &str, headers: &[(&'static str, &str)]) -> u16 {
    let mut req = reqwest::Client::new().post(server.http(&format!("/poll/{doc}")));
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    req.send().await.unwrap().status().as_u16()
}

fn forwarded(addr: &str) -> [(&'static str, &str); 1] {
    [("x-forwarded-for", addr)]
}

#[tokio::test]
async fn forwarding_headers_from_an_untrusted_peer_are_ignored() {
    // A proxy is configured, but these requests do not come from it.
    let server = start(&[
        "--trusted-proxies",
        "127.0.0.2",
        "--max-documents-per-ip",
        "1",
        "--max-sessions-per-ip",
        "1",
    ])
    .await;
    let _a = ws_with(&server, "a", &forwarded("10.0.0.1")).await.unwrap();
    // Another claimed address is still 127.0.0.1, whose one document is taken.
    for headers in [
        &[("x-forwarded-for", "10.0.0.2")][..],
        &[("x-real-ip", "10.0.0.3")][..],
        &[("x-forwarded-for", "10.0.0.4"), ("x-real-ip", "10.0.0.5")][..],
    ] {
        let (status, e) = ws_with(&server, "b", headers).await.expect_err("refused");
        assert_eq!(status, 429, "{headers:?}: {e}");
        assert!(
            e.contains("too many documents open from this address"),
            "{e}"
        );
    }
    // Sessions: one per address, whatever the headers say.
    assert_eq!(poll_with(&server, "a", &forwarded("10.0.0.6")).await, 201);
    assert_eq!(poll_with(&server, "a", &forwarded("10.0.0.7")).await, 429);
    assert_eq!(
        server
            .metric("tandem_limit_refusals_total{limit=\"documents_per_ip\"}")
            .await,
        3.0
    );
}

#[tokio::test]
async fn a_trusted_proxy_gives_each_forwarded_address_its_own_budget() {
    let server = start(&[
        "--trusted-proxies",
        "127.0.0.1,192.168.0.0/16",
        "--max-documents-per-ip",
        "1",
        "--max-sessions-per-ip",
        "1",
        // The proxy's own connections are not capped per address: it carries many clients.
        "--max-connections-per-ip",
        "1",
    ])
    .await;
    let _a = ws_with(&server, "a", &forwarded("10.0.0.1")).await.unwrap();
    let _b = ws_with(&server, "b", &forwarded("10.0.0.2")).await.unwrap();
    // 10.0.0.1 has used its one document, also when it writes another address to the left
    // of what the proxy appended, or when a further trusted proxy forwarded it.
    for chain in ["10.0.0.1", "10.0.0.99, 10.0.0.1", "10.0.0.1, 192.168.1.1"] {
        let (status, e) = ws_with(&server, "c", &forwarded(chain))
            .await
            .expect_err("refused");
        assert_eq!(status, 429, "{chain}: {e}");
        assert!(
            e.contains("too many documents open from this address"),
            "{e}"
        );
    }
    // X-Real-IP names a client when there is no X-Forwarded-For.
    let _c = ws_with(&server, "c", &[("x-real-ip", "10.0.0.3")])
        .await
        .unwrap();
    assert_eq!(
        server
            .metric("tandem_limit_refusals_total{limit=\"documents_per_ip\"}")
            .await,
        3.0
    );
    // Sessions per address, likewise.
    assert_eq!(poll_with(&server, "a", &forwarded("10.0.0.1")).await, 201);
    assert_eq!(poll_with(&server, "a", &forwarded("10.0.0.1")).await, 429);
    assert_eq!(poll_with(&server, "b", &forwarded("10.0.0.2")).await, 201);
    assert_eq!(
        server
            .metric("tandem_limit_refusals_total{limit=\"sessions_per_ip\"}")
            .await,
        1.0
    );
    assert_eq!(
        server
            .metric("tandem_limit_refusals_total{limit=\"connections_per_ip\"}")
            .await,
        0.0
    );
}
