//! The server's edge under hostile or sloppy clients: request checks, JSON errors without
//! internals, and the limits of SECURITY.md, each with its refusal.

use crate::kit::*;
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
