//! The server's edge under hostile or sloppy clients: request checks, JSON errors without
//! internals, and the limits of SECURITY.md, each with its refusal.

use crate::kit::*;
use tandem::auth::now_secs;
use yrs::{Text, Transact};

const SECRET: &str = "edge-secret-0123456789";
const ADMIN: &str = "edge-admin-key";

fn write_var(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8 & 0x7f) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn text_update(text: &str) -> Vec<u8> {
    let d = new_doc();
    let t = d.get_or_insert_text("content");
    let mut txn = d.transact_mut();
    t.insert(&mut txn, 0, text);
    txn.encode_update_v1()
}

#[tokio::test]
async fn binary_posts_need_octet_stream() {
    let server = start(&[]).await;
    let http = reqwest::Client::new();
    let url = server.http("/api/documents/typed/updates");
    // What a cross-site form or a simple `fetch` can send, and no type at all.
    for content_type in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        None,
    ] {
        let mut req = http.post(&url).body(text_update("forged"));
        if let Some(t) = content_type {
            req = req.header("content-type", t);
        }
        let e = expect_error(req.send().await.unwrap(), 415).await;
        assert!(e.contains("application/octet-stream"), "{e}");
    }
    let mut poll = PollClient::connect(&server, "typed").await;
    let res = http
        .post(poll.url())
        .header("content-type", "text/plain")
        .body(poll.y.append_message("forged"))
        .send()
        .await
        .unwrap();
    expect_error(res, 415).await;
    let mut sse = SseClient::connect(&server, "typed").await;
    let res = http
        .post(server.http(&format!("/sse/typed/{}", sse.session.clone().unwrap())))
        .header("content-type", "text/plain")
        .body(sse.y.append_message("forged"))
        .send()
        .await
        .unwrap();
    expect_error(res, 415).await;
    // The same bytes with the right type go through.
    let res = http
        .post(&url)
        .header("content-type", "application/octet-stream")
        .body(text_update("typed"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(get_text(&server, "typed").await, "typed");
    assert!(
        server
            .metric("tandem_request_refusals_total{reason=\"unsupported_media_type\"}")
            .await
            >= 5.0
    );
}

#[tokio::test]
async fn update_api_checks_claimed_sizes_before_decoding() {
    let server = start(&[]).await;
    let http = reqwest::Client::new();
    let post = |body: Vec<u8>| {
        http.post(server.http("/api/documents/bounded/updates"))
            .header("content-type", "application/octet-stream")
            .body(body)
            .send()
    };
    // Eight bytes claiming fifty million clients.
    let mut claim = Vec::new();
    write_var(&mut claim, 50_000_000);
    claim.extend_from_slice(&[0, 0, 0]);
    let e = expect_error(post(claim).await.unwrap(), 400).await;
    assert!(e.contains("client count 50000000 exceeds"), "{e}");
    // A deletion whose clock yrs would truncate to 32 bits.
    let mut ds = vec![0, 1, 5, 1];
    write_var(&mut ds, u64::from(u32::MAX));
    write_var(&mut ds, 5);
    let e = expect_error(post(ds).await.unwrap(), 400).await;
    assert!(e.contains("out of range"), "{e}");
    assert!(
        !server.is_loaded("bounded"),
        "a refused update loaded the document"
    );
}

#[tokio::test]
async fn unknown_api_paths_are_json_404s() {
    let server = start(&[]).await;
    let http = reqwest::Client::new();
    for path in [
        "/api",
        "/api/",
        "/api/nothing",
        "/api/documents/x/nothing",
        "/api/documents/x/versions/1/nothing",
    ] {
        let e = expect_error(http.get(server.http(path)).send().await.unwrap(), 404).await;
        assert!(e.contains("not found"), "{path}: {e}");
        expect_error(http.post(server.http(path)).send().await.unwrap(), 404).await;
    }
    // A known path with a method it does not take.
    let res = http
        .put(server.http("/api/documents"))
        .send()
        .await
        .unwrap();
    assert!(res.headers().contains_key("allow"));
    expect_error(res, 405).await;
}

#[tokio::test]
async fn errors_name_the_problem_without_internals() {
    let server = start(&[
        "--max-message-size",
        "4096",
        "--secret",
        SECRET,
        "--admin-key",
        ADMIN,
    ])
    .await;
    let http = reqwest::Client::new();
    let tokens = server.http("/api/tokens");
    let leaks = [
        "line",
        "column",
        "expected",
        "invalid type",
        "Failed",
        "buffer",
        "serde",
        "digit",
    ];
    let no_leak = |e: &str| {
        for word in leaks {
            assert!(!e.contains(word), "error leaks {word:?}: {e}");
        }
    };
    let send = |body: &'static str, ty: &'static str| {
        http.post(&tokens)
            .bearer_auth(ADMIN)
            .header("content-type", ty)
            .body(body)
            .send()
    };
    no_leak(&expect_error(send("{\"doc\": ", "application/json").await.unwrap(), 400).await);
    no_leak(&expect_error(send("{\"doc\": 5}", "application/json").await.unwrap(), 422).await);
    no_leak(&expect_error(send("{\"doc\": \"d\"}", "text/plain").await.unwrap(), 415).await);
    let big = http
        .post(server.http("/api/documents"))
        .bearer_auth(ADMIN)
        .header("content-type", "application/json")
        .body(format!("{{\"name\": \"{}\"}}", "x".repeat(8192)))
        .send()
        .await
        .unwrap();
    no_leak(&expect_error(big, 413).await);
    let poll = server.http("/poll/d/0123456789abcdef0123456789abcdef?cursor=abc");
    no_leak(&expect_error(http.get(poll).send().await.unwrap(), 400).await);
    // A plain GET where a WebSocket upgrade is expected.
    let ws = http.get(server.http("/ws/d")).send().await.unwrap();
    let status = ws.status().as_u16();
    assert!((400..500).contains(&status), "{status}");
    no_leak(&expect_error(ws, status).await);
}

#[tokio::test]
async fn token_lifetimes_that_would_wrap_are_refused() {
    let server = start(&["--secret", SECRET, "--admin-key", ADMIN]).await;
    let http = reqwest::Client::new();
    for expires_in in [u64::MAX, u64::MAX - 10, 1u64 << 63] {
        let res = http
            .post(server.http("/api/tokens"))
            .bearer_auth(ADMIN)
            .json(&serde_json::json!({ "doc": "d", "expires_in": expires_in }))
            .send()
            .await
            .unwrap();
        let e = expect_error(res, 400).await;
        assert!(e.contains("expires_in"), "{e}");
    }
    let res = http
        .post(server.http("/api/tokens"))
        .bearer_auth(ADMIN)
        .json(&serde_json::json!({ "doc": "d", "expires_in": 600 }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
}

fn mint(doc: &str, exp: u64) -> String {
    use tandem::{
        auth::{Auth, Claims},
        Access,
    };
    Auth::new(Some(SECRET), None)
        .mint(&Claims {
            doc: doc.into(),
            access: Access::Write,
            exp,
            name: None,
            share: false,
            by: None,
            lid: None,
        })
        .unwrap()
}

fn poll_open(server: &TestServer, doc: &str, token: Option<&str>) -> reqwest::RequestBuilder {
    http_client(token).post(with_token(server.http(&format!("/poll/{doc}")), token))
}

#[tokio::test]
async fn sessions_per_address_are_capped() {
    let server = start(&["--max-sessions-per-ip", "3"]).await;
    let mut open = Vec::new();
    for _ in 0..3 {
        open.push(PollClient::open(&server, "capped", None).await.unwrap());
    }
    let e = expect_error(
        poll_open(&server, "capped", None).send().await.unwrap(),
        429,
    )
    .await;
    assert!(e.contains("address"), "{e}");
    let sse = reqwest::get(server.http("/sse/other")).await.unwrap();
    expect_error(sse, 429).await;
    assert_eq!(
        server
            .metric("tandem_limit_refusals_total{limit=\"sessions_per_ip\"}")
            .await,
        2.0
    );
    // Closing one frees its place.
    assert_eq!(open.pop().unwrap().leave().await, 204);
    PollClient::open(&server, "capped", None).await.unwrap();
}

#[tokio::test]
async fn sessions_per_token_are_capped() {
    let server = start(&[
        "--secret",
        SECRET,
        "--admin-key",
        ADMIN,
        "--max-sessions-per-token",
        "2",
    ])
    .await;
    let greedy = mint("shared", now_secs() + 600);
    let other = mint("shared", now_secs() + 601);
    let _a = PollClient::open(&server, "shared", Some(&greedy))
        .await
        .unwrap();
    let _b = SseClient::open(&server, "shared", Some(&greedy))
        .await
        .unwrap();
    let e = expect_error(
        poll_open(&server, "shared", Some(&greedy))
            .send()
            .await
            .unwrap(),
        429,
    )
    .await;
    assert!(e.contains("token"), "{e}");
    // Another user of the same document is not affected.
    PollClient::open(&server, "shared", Some(&other))
        .await
        .unwrap();
}

#[tokio::test]
async fn session_buffers_are_bounded_in_bytes() {
    let server = start(&["--session-buffer-bytes", "4096"]).await;
    let idle = PollClient::open(&server, "heavy", None).await.unwrap();
    let mut writer = Client::connect(&server.ws("heavy")).await;
    for _ in 0..4 {
        writer.append(&"x".repeat(3000)).await;
    }
    // The reader never collects: its session ends as too slow, long before the message cap.
    let error = wait_for("the idle session to end", || async {
        let res = idle
            .http
            .get(format!("{}?cursor=0&timeout=0", idle.url()))
            .send()
            .await
            .unwrap();
        (res.status() == 410).then_some(res)
    })
    .await;
    let e = expect_error(error, 410).await;
    assert!(e.contains("too slow"), "{e}");
    assert!(
        server
            .metric("tandem_limit_refusals_total{limit=\"session_buffer_bytes\"}")
            .await
            >= 1.0
    );
    // The writer is unaffected.
    writer.append("!").await;
    writer.pump_until(|c| c.text().ends_with('!'), WAIT).await;
}

#[tokio::test]
async fn sessions_answer_only_the_token_that_opened_them() {
    let server = start(&["--secret", SECRET, "--admin-key", ADMIN]).await;
    let owner = mint("private", now_secs() + 600);
    let stranger = mint("private", now_secs() + 601);
    let mut poll = PollClient::open(&server, "private", Some(&owner))
        .await
        .unwrap();
    poll.start().await;
    let mut sse = SseClient::open(&server, "private", Some(&owner))
        .await
        .unwrap();
    sse.pump_until(|c| c.y.synced, WAIT).await;
    let hello = poll.y.step1();
    for who in [None, Some(stranger.as_str())] {
        let http = http_client(who);
        let get = http.get(format!("{}?cursor=0&timeout=0", poll.url()));
        expect_error(get.send().await.unwrap(), 403).await;
        for url in [
            poll.url(),
            server.http(&format!("/sse/private/{}", sse.session.clone().unwrap())),
        ] {
            let post = http
                .post(url)
                .header("content-type", "application/octet-stream")
                .body(hello.clone());
            expect_error(post.send().await.unwrap(), 403).await;
        }
        expect_error(http.delete(poll.url()).send().await.unwrap(), 403).await;
    }
    // The owner still can.
    poll.append("mine").await;
    poll.pump_until(|c| c.y.text() == "mine", WAIT).await;
}

#[tokio::test]
async fn sessions_end_when_their_token_expires() {
    let server = start(&["--secret", SECRET, "--admin-key", ADMIN]).await;
    let brief = mint("brief", now_secs() + 2);
    let mut poll = PollClient::open(&server, "brief", Some(&brief))
        .await
        .unwrap();
    poll.start().await;
    let mut sse = SseClient::open(&server, "brief", Some(&brief))
        .await
        .unwrap();
    sse.pump_until(|c| c.y.synced, WAIT).await;
    // The stream is told why it ends.
    while sse.closed.is_none() {
        assert!(sse.step(WAIT).await, "stream ended without a close event");
    }
    let closed: serde_json::Value = serde_json::from_str(sse.closed.as_ref().unwrap()).unwrap();
    assert_eq!(closed["code"], 4401, "{closed}");
    let (status, _) = poll.get(poll.cursor, Some(0.0)).await;
    assert_eq!(status, 410);
    let res = poll.post(poll.y.step1()).await;
    let e = expect_error(res, 410).await;
    assert!(e.contains("expired"), "{e}");
}

#[tokio::test]
async fn websockets_end_when_their_token_expires() {
    let server = start(&["--secret", SECRET, "--admin-key", ADMIN]).await;
    let brief = mint("brief-ws", now_secs() + 2);
    let mut ws = Client::connect(&format!("{}?token={brief}", server.ws("brief-ws"))).await;
    let (code, reason) = ws.closed_with(WAIT).await;
    assert_eq!((code, reason.as_str()), (4401, "access token expired"));
}
