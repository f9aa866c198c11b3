//! Request bodies: read only after the credential is checked, within a deadline, and no
//! larger than the route takes; and the small refusals around them (tokens, sessions).

use std::time::{Duration, Instant};

use crate::kit::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SECRET: &str = "test-secret-0123456789";
const ADMIN: &str = "admin-key-abc";

/// Sends a request's head and the first bytes of a body that claims `length` bytes, then
/// waits (without sending more) for the answer: its status and body, and how long it took.
async fn partial_request(
    server: &TestServer,
    head: &str,
    length: usize,
    sent: &[u8],
) -> (u16, String, Duration) {
    let mut tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    // `head` is the request line's method and path, then any headers.
    let (line, headers) = head.split_once("\r\n").unwrap_or((head, ""));
    let request = format!(
        "{line} HTTP/1.1\r\nHost: {}\r\nContent-Length: {length}\r\n{headers}{}\r\n",
        server.addr,
        if headers.is_empty() { "" } else { "\r\n" }
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    tcp.write_all(sent).await.unwrap();
    let started = Instant::now();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    // The whole answer, or as much as came before the server closed or went quiet.
    loop {
        match tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => {
                answer.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&answer);
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let len = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length: ")
                                .map(str::to_string)
                        })
                        .and_then(|v| v.trim().parse::<usize>().ok());
                    if len.is_some_and(|l| body.len() >= l) {
                        break;
                    }
                }
            }
            _ => break,
        }
    }
    let text = String::from_utf8_lossy(&answer).to_string();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no answer within 5 s: {text:?}"));
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body, started.elapsed())
}

#[tokio::test]
async fn bodies_without_a_credential_are_refused_unread() {
    let server = start(&["--secret", SECRET, "--admin-key", ADMIN]).await;
    // 16 MiB announced, a few bytes sent: the refusal must not wait for the rest.
    let big = 16 * 1024 * 1024;
    let (status, body, took) = partial_request(
        &server,
        "POST /api/documents\r\nContent-Type: application/json",
        big,
        b"{\"name\":",
    )
    .await;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("access token is required"), "{body}");
    assert!(took < Duration::from_secs(2), "took {took:?}");
    // A session's upstream: the session (with its credential) is looked up first.
    let (status, body, took) = partial_request(
        &server,
        "POST /poll/doc-a/0123456789abcdef0123456789abcdef\r\nContent-Type: application/octet-stream",
        big,
        &[0, 0],
    )
    .await;
    assert_eq!(status, 410, "{body}");
    assert!(took < Duration::from_secs(2), "took {took:?}");
    let (status, body, _) = partial_request(
        &server,
        "POST /sse/doc-a/0123456789abcdef0123456789abcdef\r\nContent-Type: application/octet-stream",
        big,
        &[0, 0],
    )
    .await;
    assert_eq!(status, 410, "{body}");
    // A small route refuses a large declared body at once, even with a credential.
    let (status, body, _) = partial_request(
        &server,
        &format!(
            "POST /api/tokens\r\nContent-Type: application/json\r\nAuthorization: Bearer {ADMIN}"
        ),
        1024 * 1024,
        b"{",
    )
    .await;
    assert_eq!(status, 413, "{body}");
}

#[tokio::test]
async fn a_slow_body_gets_408() {
    let server = start(&["--body-read-timeout-secs", "1"]).await;
    let (status, body, took) = partial_request(
        &server,
        "POST /api/documents/slow/updates\r\nContent-Type: application/octet-stream",
        1000,
        &[1, 2, 3],
    )
    .await;
    assert_eq!(status, 408, "{body}");
    assert!(body.contains("--body-read-timeout-secs"), "{body}");
    assert!(took < Duration::from_secs(4), "took {took:?}");
}

#[tokio::test]
async fn a_token_in_the_query_may_create_a_document_and_lifetimes_must_be_positive() {
    let server = start(&["--secret", SECRET, "--admin-key", ADMIN]).await;
    let admin = Api::new(&server).bearer(ADMIN);
    let token = ok_json(
        admin
            .mint_token(serde_json::json!({ "doc": "team-*", "expires_in": 600 }))
            .await,
        201,
    )
    .await["token"]
        .as_str()
        .unwrap()
        .to_string();
    let res = reqwest::Client::new()
        .post(server.http(&format!("/api/documents?token={token}")))
        .json(&serde_json::json!({ "name": "team-notes" }))
        .send()
        .await
        .unwrap();
    ok_json(res, 201).await;
    let message = expect_error(
        admin
            .mint_token(serde_json::json!({ "doc": "team-*", "expires_in": 0 }))
            .await,
        400,
    )
    .await;
    assert!(message.contains("expires_in"), "{message}");
}

#[tokio::test]
async fn an_ended_poll_session_answers_gone_even_at_cursor_zero() {
    let server = start(&[]).await;
    let poll = PollClient::connect(&server, "ended").await;
    let mut ws = Client::connect(&server.ws("ended")).await;
    ws.append("news").await;
    ws.pump_until(|c| c.received_updates >= 1, WAIT).await;
    // The session has buffered the edit; the document goes away.
    assert_eq!(Api::new(&server).delete("ended").await.status(), 204);
    let res = poll
        .http
        .get(format!("{}?cursor=0&timeout=0", poll.url()))
        .send()
        .await
        .unwrap();
    let message = expect_error(res, 410).await;
    assert!(message.contains("document deleted"), "{message}");
}

#[tokio::test]
async fn malformed_queries_get_the_projects_own_message() {
    let server = start(&[]).await;
    let res = reqwest::get(server.http("/api/documents/x?token=a&token=b"))
        .await
        .unwrap();
    let message = expect_error(res, 400).await;
    assert!(!message.contains("deserialize"), "{message}");
    let res = reqwest::Client::new()
        .put(server.http("/api/documents/x/updates"))
        .send()
        .await
        .unwrap();
    expect_error(res, 405).await;
}

#[tokio::test]
async fn a_held_poll_ends_when_its_token_expires() {
    use tandem::auth::{now_secs, Auth, Claims};
    use tandem::Access;
    let server = start(&["--secret", SECRET, "--admin-key", ADMIN]).await;
    let exp = now_secs() + 2;
    let token = Auth::new(Some(SECRET), None)
        .mint(&Claims {
            doc: "lapse".into(),
            access: Access::Read,
            exp,
            name: None,
            share: false,
            by: None,
            lid: None,
        })
        .unwrap();
    let mut poll = PollClient::open(&server, "lapse", Some(&token))
        .await
        .expect("poll open");
    poll.start().await;
    let cursor = poll.cursor;
    let held = tokio::spawn(async move { poll.get(cursor, Some(20.0)).await.0 });
    // An edit written after the token expired is not the reader's to see.
    wait_for("the token to expire", || async {
        (now_secs() > exp).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let api = Api::new(&server).bearer(ADMIN);
    let d = new_doc();
    let update = {
        use yrs::{Text, Transact};
        let t = d.get_or_insert_text("content");
        let mut txn = d.transact_mut();
        t.insert(&mut txn, 0, "after expiry");
        txn.encode_update_v1()
    };
    assert_eq!(api.apply_update("lapse", update).await.status(), 204);
    assert_eq!(held.await.unwrap(), 410);
}

#[tokio::test]
async fn refusals_for_want_of_a_credential_are_logged() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let server = BinServer::spawn(&["--data-dir", data, "--secret", SECRET]);
    let res = reqwest::get(server.http("/api/documents/secret-doc?token=leaked"))
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let line = server
        .wait_log("the refusal's log line", |l| l.contains("request refused"))
        .await;
    assert!(line.contains("/api/documents/secret-doc"), "{line}");
    assert!(line.contains("401"), "{line}");
    assert!(!line.contains("leaked"), "the query is logged: {line}");
}
