//! Token mode (`--secret`, `--admin-key`): who may open what, on every transport and the
//! HTTP API, and open mode for contrast. Read-only refusals are in `read_only`, the admin
//! API in `admin_api`; the helpers here (minting tokens, checking a token everywhere) serve
//! all three.

mod admin_api;
mod read_only;

use crate::kit::*;
use tandem::auth::{now_secs, Auth, Claims};
use tandem::Access;
use tokio_tungstenite::tungstenite::Error as WsError;
use yrs::{
    sync::{Message, SyncMessage},
    updates::encoder::Encode,
    Text, Transact,
};

const SECRET: &str = "test-secret-0123456789";
const ADMIN: &str = "admin-key-abc";

async fn token_server() -> TestServer {
    start(&["--secret", SECRET, "--admin-key", ADMIN]).await
}

fn mint_with(secret: &str, doc: &str, access: Access, exp: u64) -> String {
    Auth::new(Some(secret), None)
        .mint(&Claims {
            doc: doc.into(),
            access,
            exp,
            name: None,
            share: false,
            by: None,
            lid: None,
        })
        .unwrap()
}

fn token(doc: &str, access: Access) -> String {
    mint_with(SECRET, doc, access, now_secs() + 600)
}

fn ws_url(server: &TestServer, doc: &str, token: &str) -> String {
    format!("{}?token={token}", server.ws(doc))
}

/// The HTTP status a WebSocket upgrade was refused with (the body must be a JSON error).
async fn ws_refusal(url: &str) -> u16 {
    match tokio_tungstenite::connect_async(url).await {
        Err(WsError::Http(res)) => {
            let body = res.body().clone().unwrap_or_default();
            let v: serde_json::Value = serde_json::from_slice(&body)
                .unwrap_or_else(|_| panic!("refusal body is not JSON: {body:?}"));
            assert!(v["error"].is_string(), "{v}");
            res.status().as_u16()
        }
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("upgrade to {url} was not refused"),
    }
}

/// Checks `token` (None: no token) is refused with `status` by the WebSocket upgrade, the
/// SSE stream, opening a poll session and the HTTP API (both `?token=` and a bearer).
async fn refused_everywhere(server: &TestServer, doc: &str, token: Option<&str>, status: u16) {
    let http = reqwest::Client::new();
    let ws = with_token(server.ws(doc), token);
    assert_eq!(ws_refusal(&ws).await, status, "websocket {doc} {token:?}");
    let sse = with_token(server.http(&format!("/sse/{doc}")), token);
    expect_error(http.get(sse).send().await.unwrap(), status).await;
    let poll = with_token(server.http(&format!("/poll/{doc}")), token);
    expect_error(http.post(poll).send().await.unwrap(), status).await;
    for path in [
        format!("/api/documents/{doc}/text"),
        format!("/api/documents/{doc}/state"),
        format!("/api/documents/{doc}/versions"),
    ] {
        let url = with_token(server.http(&path), token);
        expect_error(http.get(url).send().await.unwrap(), status).await;
    }
    if let Some(t) = token {
        // The same token as a bearer header.
        let url = server.http(&format!("/api/documents/{doc}/text"));
        expect_error(http.get(&url).bearer_auth(t).send().await.unwrap(), status).await;
        let sse = server.http(&format!("/sse/{doc}"));
        expect_error(http.get(sse).bearer_auth(t).send().await.unwrap(), status).await;
        let poll = server.http(&format!("/poll/{doc}"));
        expect_error(http.post(poll).bearer_auth(t).send().await.unwrap(), status).await;
    }
}

/// Checks a token opens `doc` on every transport and the API.
async fn allowed_everywhere(server: &TestServer, doc: &str, token: &str) {
    let ws = Client::connect(&ws_url(server, doc, token)).await;
    assert!(ws.synced);
    let mut sse = SseClient::open(server, doc, Some(token)).await.unwrap();
    sse.pump_until(|c| c.y.synced, WAIT).await;
    let mut poll = PollClient::open(server, doc, Some(token)).await.unwrap();
    poll.start().await;
    let http = reqwest::Client::new();
    let url = server.http(&format!("/api/documents/{doc}/text"));
    let res = http.get(&url).bearer_auth(token).send().await.unwrap();
    assert_eq!(res.status(), 200, "{doc}");
    let res = http.get(with_token(url, Some(token))).send().await.unwrap();
    assert_eq!(res.status(), 200, "{doc}");
}

/// Sum of `tandem_auth_refusals_total` over all reasons.
async fn refusals(server: &TestServer) -> f64 {
    let text = reqwest::get(server.http("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|l| l.starts_with("tandem_auth_refusals_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// An update message built with yrs from a separate document, as a modified client would.
fn hand_made_update(text: &str) -> Vec<u8> {
    let doc = new_doc();
    let update = {
        let t = doc.get_or_insert_text("content");
        let mut txn = doc.transact_mut();
        t.insert(&mut txn, 0, text);
        txn.encode_update_v1()
    };
    let msg = Message::Sync(SyncMessage::Update(update)).encode_v1();
    assert_eq!(&msg[..2], &[0, 2]);
    msg
}

async fn admin_text(server: &TestServer, doc: &str) -> String {
    let res = Api::new(server).bearer(ADMIN).text(doc).await;
    assert_eq!(res.status(), 200);
    res.text().await.unwrap()
}

#[tokio::test]
async fn bad_tokens_are_refused_on_every_transport_and_the_api() {
    let server = token_server().await;
    let before = refusals(&server).await;
    let later = now_secs() + 600;
    refused_everywhere(&server, "doc-a", None, 401).await;
    let forged = mint_with("another-secret", "doc-a", Access::Write, later);
    refused_everywhere(&server, "doc-a", Some(&forged), 401).await;
    let expired = mint_with(SECRET, "doc-a", Access::Write, now_secs() - 10);
    refused_everywhere(&server, "doc-a", Some(&expired), 401).await;
    for junk in ["not-a-jwt", "a.b.c", "eyJhbGciOiJIUzI1NiJ9.e30.x"] {
        refused_everywhere(&server, "doc-a", Some(junk), 401).await;
    }
    // A valid token whose payload was altered keeps the old signature: refused.
    let good = token("doc-a", Access::Read);
    let mut parts: Vec<String> = good.split('.').map(str::to_string).collect();
    parts[1] = {
        use base64::Engine;
        let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let claims = String::from_utf8(engine.decode(&parts[1]).unwrap()).unwrap();
        engine.encode(claims.replace("\"read\"", "\"write\""))
    };
    refused_everywhere(&server, "doc-a", Some(&parts.join(".")), 401).await;

    let other = token("doc-b", Access::Write);
    refused_everywhere(&server, "doc-a", Some(&other), 403).await;
    // Six refusals without a token, nine with one (three more as a bearer), each counted.
    let after = refusals(&server).await;
    assert_eq!(
        after - before,
        6.0 + 7.0 * 9.0,
        "refusals {before} -> {after}"
    );
    // Refused before the document was loaded or created.
    assert!(
        !server.is_loaded("doc-a"),
        "a refused request loaded the document"
    );
    expect_error(Api::new(&server).bearer(ADMIN).document("doc-a").await, 404).await;
}

#[tokio::test]
async fn good_and_prefix_tokens_open_their_documents() {
    let server = token_server().await;
    allowed_everywhere(&server, "doc-a", &token("doc-a", Access::Write)).await;
    allowed_everywhere(&server, "doc-a", &token("doc-a", Access::Read)).await;
    let team = token("team-*", Access::Write);
    allowed_everywhere(&server, "team-x", &team).await;
    allowed_everywhere(&server, "team-", &team).await;
    refused_everywhere(&server, "other", Some(&team), 403).await;
    refused_everywhere(&server, "team", Some(&team), 403).await;
    refused_everywhere(&server, "xteam-x", Some(&team), 403).await;
    // An exact name is not a prefix.
    let exact = token("doc", Access::Write);
    refused_everywhere(&server, "doc-a", Some(&exact), 403).await;
    // The admin key is accepted in place of a token.
    let res = Api::new(&server).bearer(ADMIN).text("doc-a").await;
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn open_mode_needs_no_tokens() {
    let server = start(&[]).await;
    let mut ws = Client::connect(&server.ws("open")).await;
    // A token, even a bogus one, is ignored.
    let mut ws2 = Client::connect(&format!("{}?token=garbage", server.ws("open"))).await;
    let mut sse = SseClient::connect(&server, "open").await;
    let mut poll = PollClient::connect(&server, "open").await;
    ws.append("a").await;
    ws2.pump_until(|c| c.text() == "a", WAIT).await;
    sse.pump_until(|c| c.y.text() == "a", WAIT).await;
    sse.append("b").await;
    poll.pump_until(|c| c.y.text() == "ab", WAIT).await;
    poll.append("c").await;
    ws.pump_until(|c| c.text() == "abc", WAIT).await;
    assert_eq!(get_text(&server, "open").await, "abc");
    assert_eq!(ws.denied, None);

    let api = Api::new(&server);
    assert_eq!(api.list().await.status(), 200);
    assert_eq!(api.create("open-2").await.status(), 201);
    assert_eq!(api.delete("open-2").await.status(), 204);
    let v = ok_json(api.create_version("open", "x").await, 201).await;
    let n = v["version"].as_i64().unwrap();
    assert_eq!(api.restore("open", n).await.status(), 200);
    // No secret, so no tokens to mint: a clear 400.
    let res = api.mint_token(serde_json::json!({"doc": "open"})).await;
    expect_error(res, 400).await;
    let config = api.config().await;
    assert_eq!(config["auth"], "open");
}
