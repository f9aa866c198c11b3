//! The Hocuspocus socket before and after its tokens: it opens before any credential, so
//! until a token is accepted it may send little (a frame past the budget stays unread),
//! must authenticate within a deadline (4408), and each address may hold only a few such
//! sockets (429). A joined document closes when its token expires.

use crate::kit::*;
use futures::{SinkExt, StreamExt};
use tandem::auth::{Auth, Claims};
use tandem::Access;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::{Error as WsError, Message as WsMessage};
use yrs::encoding::{
    read::{Cursor, Read},
    write::Write,
};

const SECRET: &str = "pre-auth-secret-0123456789";

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

fn mint(doc: &str, exp: u64) -> String {
    Auth::new(Some(SECRET), None)
        .mint(&Claims {
            doc: doc.into(),
            access: Access::Write,
            exp,
            name: Some("writer".into()),
            share: false,
            by: None,
            lid: None,
        })
        .unwrap()
}

fn hp_url(server: &TestServer) -> String {
    format!("ws://{}/hocuspocus", server.addr)
}

/// `key` then a message, as the provider frames it.
fn frame(key: &str, body: &[u8]) -> WsMessage {
    let mut f = Vec::new();
    f.write_string(key);
    f.extend_from_slice(body);
    WsMessage::Binary(f.into())
}

fn auth(key: &str, token: &str) -> WsMessage {
    let mut body = Vec::new();
    body.write_var(2u64); // auth
    body.write_var(0u64); // token
    body.write_string(token);
    frame(key, &body)
}

/// The next auth answer for `key`: `Ok` when authenticated, `Err(reason)` when denied.
/// Other messages (sync, awareness) are skipped.
async fn auth_answer(ws: &mut Ws, key: &str) -> Result<(), String> {
    loop {
        let next = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("no auth answer");
        let Some(Ok(WsMessage::Binary(data))) = next else {
            panic!("socket ended: {next:?}");
        };
        let mut c = Cursor::new(&data);
        if c.read_string().unwrap() != key || c.read_var::<u64>().unwrap() != 2 {
            continue;
        }
        return match c.read_var::<u64>().unwrap() {
            2 => Ok(()),
            1 => Err(c.read_string().unwrap().to_string()),
            other => panic!("auth sub-type {other}"),
        };
    }
}

/// The close code and reason the server ends `ws` with, skipping other frames.
async fn close_of(ws: &mut Ws) -> (u16, String) {
    loop {
        match tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("not closed")
        {
            Some(Ok(WsMessage::Close(Some(f)))) => return (f.code.into(), f.reason.to_string()),
            Some(Ok(_)) => continue,
            other => panic!("no close frame: {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_socket_without_an_accepted_token_is_closed_at_the_deadline() {
    let server = start(&["--secret", SECRET, "--auth-timeout-secs", "1"]).await;
    // Silent, and with a refused token: both closed.
    let (mut silent, _) = tokio_tungstenite::connect_async(hp_url(&server))
        .await
        .unwrap();
    let (mut refused, _) = tokio_tungstenite::connect_async(hp_url(&server))
        .await
        .unwrap();
    refused.send(auth("d", "not-a-token")).await.unwrap();
    assert!(auth_answer(&mut refused, "d").await.is_err());
    for ws in [&mut silent, &mut refused] {
        let (code, reason) = close_of(ws).await;
        assert_eq!(code, 4408, "{reason}");
        assert_eq!(reason, "no token accepted within 1 s");
    }
    // A socket whose token was accepted stays past the deadline.
    let (mut ok, _) = tokio_tungstenite::connect_async(hp_url(&server))
        .await
        .unwrap();
    let token = mint("d", tandem::auth::now_secs() + 3600);
    ok.send(auth("d", &token)).await.unwrap();
    auth_answer(&mut ok, "d").await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    ok.send(auth("e", &token)).await.unwrap();
    let denied = auth_answer(&mut ok, "e").await.unwrap_err();
    assert!(denied.contains("does not grant access"), "{denied}");
    assert_eq!(
        server
            .metric("tandem_limit_refusals_total{limit=\"auth_timeout\"}")
            .await,
        2.0
    );
}

/// The status and JSON error of a refused handshake, `None` (and the socket) if accepted.
async fn try_open(server: &TestServer) -> Result<Ws, (u16, String)> {
    match tokio_tungstenite::connect_async(hp_url(server)).await {
        Ok((ws, _)) => Ok(ws),
        Err(WsError::Http(res)) => {
            let body = res.body().clone().unwrap_or_default();
            let v: serde_json::Value = serde_json::from_slice(&body).expect("a JSON error");
            Err((
                res.status().as_u16(),
                v["error"].as_str().unwrap().to_string(),
            ))
        }
        Err(e) => panic!("handshake failed: {e}"),
    }
}

#[tokio::test]
async fn unauthenticated_sockets_are_capped_per_address() {
    let server = start(&["--max-unauthenticated-per-ip", "2"]).await;
    let mut first = try_open(&server).await.unwrap();
    let _second = try_open(&server).await.unwrap();
    let (status, error) = try_open(&server).await.expect_err("a third is refused");
    assert_eq!(status, 429, "{error}");
    assert_eq!(
        error,
        "too many connections waiting for authentication from this address (limit 2; raise \
         --max-unauthenticated-per-ip / TANDEM_MAX_UNAUTHENTICATED_PER_IP)"
    );
    // Once its token is accepted (any token: no secret), a socket no longer counts.
    first.send(auth("d", "")).await.unwrap();
    auth_answer(&mut first, "d").await.unwrap();
    let _third = try_open(&server).await.unwrap();
    // A socket that closes frees its place too.
    drop(_third);
    wait_for("the closed socket's place", || async {
        try_open(&server).await.ok()
    })
    .await;
}

/// VmRSS of this process (the server runs in it), in bytes.
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb * 1024
}

/// A Hocuspocus socket opened by hand, so that it can send half a frame.
async fn raw_socket(server: &TestServer) -> tokio::net::TcpStream {
    let mut tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let req = format!(
        "GET /hocuspocus HTTP/1.1\r\nHost: {}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        server.addr
    );
    tcp.write_all(req.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut b = [0u8; 1];
        assert_eq!(tcp.read(&mut b).await.unwrap(), 1, "handshake cut short");
        head.push(b[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    tcp
}

#[tokio::test]
async fn stalled_frames_before_authentication_hold_no_memory() {
    let server = start(&["--auth-timeout-secs", "3"]).await;
    let before = rss();
    let mut sockets = Vec::new();
    for _ in 0..16 {
        let mut tcp = raw_socket(&server).await;
        // A masked binary frame announcing 16 MiB, then 64 KiB of it, then nothing.
        let mut half = vec![0x82, 0x80 | 127];
        half.extend((16u64 << 20).to_be_bytes());
        half.extend([1, 2, 3, 4]);
        half.extend(vec![0u8; 64 * 1024]);
        tcp.write_all(&half).await.unwrap();
        sockets.push(tcp);
    }
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let grown = rss().saturating_sub(before);
    assert!(
        grown < 64 << 20,
        "16 stalled frames took {} MiB",
        grown >> 20
    );
    // The deadline still closes them: a close frame (0x88) with 4408.
    for tcp in &mut sockets {
        let mut close = [0u8; 4];
        tokio::time::timeout(WAIT, tcp.read_exact(&mut close))
            .await
            .expect("not closed")
            .unwrap();
        assert_eq!(close[0], 0x88);
        assert_eq!(u16::from_be_bytes([close[2], close[3]]), 4408);
    }
}

#[tokio::test]
async fn a_big_frame_behind_the_auth_message_waits_for_it() {
    let server = start(&[]).await;
    let (mut ws, _) = tokio_tungstenite::connect_async(hp_url(&server))
        .await
        .unwrap();
    // 200 KiB of text right behind the token, as a provider with offline edits may send.
    let mut y = YPeer::new();
    let text = "x".repeat(200 * 1024);
    let update = y.insert_message(0, &text);
    ws.feed(auth("big", "")).await.unwrap();
    ws.feed(frame("big", &update)).await.unwrap();
    ws.flush().await.unwrap();
    auth_answer(&mut ws, "big").await.unwrap();
    wait_for("the big update", || async {
        (get_text(&server, "big").await.len() == text.len()).then_some(())
    })
    .await;
}

/// The text of `doc`, read with `token`.
async fn text_with(server: &TestServer, doc: &str, token: &str) -> String {
    let res = http_client(Some(token))
        .get(server.http(&format!("/api/documents/{doc}/text")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.text().await.unwrap()
}

#[tokio::test]
async fn a_document_closes_when_its_token_expires() {
    let server = start(&["--secret", SECRET]).await;
    let (mut ws, _) = tokio_tungstenite::connect_async(hp_url(&server))
        .await
        .unwrap();
    let short = mint("exp", tandem::auth::now_secs() + 2);
    ws.send(auth("exp", &short)).await.unwrap();
    auth_answer(&mut ws, "exp").await.unwrap();
    let reader = mint("exp", tandem::auth::now_secs() + 3600);
    let mut y = YPeer::new();
    ws.send(frame("exp", &y.append_message("before")))
        .await
        .unwrap();
    wait_for("the write before expiry", || async {
        (text_with(&server, "exp", &reader).await == "before").then_some(())
    })
    .await;
    let denied = auth_answer(&mut ws, "exp").await.unwrap_err();
    assert_eq!(denied, "access token expired");
    // Nothing more is written or received for it.
    ws.send(frame("exp", &y.append_message(" after")))
        .await
        .unwrap();
    let long = with_token(server.ws("exp"), Some(&reader));
    let mut other = Client::connect(&long).await;
    let edit = other.append_message(" other");
    other.send_raw(edit).await;
    wait_for("the other client's write", || async {
        text_with(&server, "exp", &reader)
            .await
            .contains("other")
            .then_some(())
    })
    .await;
    while let Ok(Some(Ok(msg))) =
        tokio::time::timeout(std::time::Duration::from_millis(500), ws.next()).await
    {
        if let WsMessage::Binary(data) = msg {
            let mut c = Cursor::new(&data);
            assert_ne!(c.read_string().unwrap(), "exp", "a frame after expiry");
        }
    }
    assert_eq!(text_with(&server, "exp", &reader).await, "before other");
}
