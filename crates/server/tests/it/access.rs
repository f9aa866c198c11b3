//! Token mode (`--secret`, `--admin-key`): who may open what, on every transport and the
//! HTTP API; read-only refusals; the admin API; and open mode for contrast.

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
async fn read_only_websocket_sees_but_cannot_edit() {
    let server = token_server().await;
    let doc = "ro-ws";
    let mut writer = Client::connect(&ws_url(&server, doc, &token(doc, Access::Write))).await;
    writer.append("hello").await;
    writer.pump_until(|c| c.received_updates >= 1, WAIT).await;
    writer.set_awareness(r#"{"user":{"name":"writer"}}"#).await;
    let wid = writer.client_id();

    let mut reader = Client::connect(&ws_url(&server, doc, &token(doc, Access::Read))).await;
    assert_eq!(reader.text(), "hello", "the document is sent");
    reader
        .pump_until(
            |c| matches!(c.peers.get(&wid), Some(Some(s)) if s.contains("writer")),
            WAIT,
        )
        .await;
    writer.append(" world").await;
    writer.pump_until(|c| c.received_updates >= 2, WAIT).await;
    reader.pump_until(|c| c.text() == "hello world", WAIT).await;
    // Its own awareness echo comes after any answer to its (empty) sync step 2.
    let rid = reader.client_id();
    reader.set_awareness(r#"{"user":{"name":"reader"}}"#).await;
    reader
        .pump_until(
            |c| matches!(c.peers.get(&rid), Some(Some(s)) if s.contains("reader")),
            WAIT,
        )
        .await;
    assert_eq!(reader.denied, None, "denied before trying to edit");

    let writer_updates = writer.received_updates;
    reader.send_raw(hand_made_update("EVIL ")).await;
    reader.pump_until(|c| c.denied.is_some(), WAIT).await;
    let reason = reader.denied.take().unwrap();
    assert!(reason.contains("read"), "{reason}");
    // Told once: further attempts are dropped silently. Its awareness, sent after, is
    // relayed (to itself and the writer) behind whatever the attempt caused.
    reader.send_raw(hand_made_update("MORE ")).await;
    reader.set_awareness(r#"{"user":{"name":"viewer"}}"#).await;
    reader
        .pump_until(
            |c| matches!(c.peers.get(&rid), Some(Some(s)) if s.contains("viewer")),
            WAIT,
        )
        .await;
    assert_eq!(reader.denied, None, "permission denied sent twice");
    assert!(
        reader.closed.is_none(),
        "a read-only client stays connected"
    );
    writer
        .pump_until(
            |c| matches!(c.peers.get(&rid), Some(Some(s)) if s.contains("viewer")),
            WAIT,
        )
        .await;
    assert_eq!(
        writer.received_updates, writer_updates,
        "refused edit relayed"
    );
    assert_eq!(writer.text(), "hello world");
    assert_eq!(reader.text(), "hello world");
    assert_eq!(admin_text(&server, doc).await, "hello world");
    // A fresh writer loads the same.
    let late = Client::connect(&ws_url(&server, doc, &token(doc, Access::Write))).await;
    assert_eq!(late.text(), "hello world");

    // The read-only token can't write through the API either.
    let res = Api::new(&server)
        .bearer(&token(doc, Access::Read))
        .apply_update(doc, hand_made_update("x")[3..].to_vec())
        .await;
    expect_error(res, 403).await;
    assert_eq!(admin_text(&server, doc).await, "hello world");
}

#[tokio::test]
async fn read_only_sse_and_poll_cannot_edit() {
    let server = token_server().await;
    let doc = "ro-http";
    let mut writer = Client::connect(&ws_url(&server, doc, &token(doc, Access::Write))).await;
    writer.append("base").await;
    writer.pump_until(|c| c.received_updates >= 1, WAIT).await;
    writer.set_awareness(r#"{"user":{"name":"writer"}}"#).await;
    let wid = writer.client_id();
    let read = token(doc, Access::Read);

    let mut sse = SseClient::open(&server, doc, Some(&read)).await.unwrap();
    sse.pump_until(|c| c.y.synced, WAIT).await;
    let mut poll = PollClient::open(&server, doc, Some(&read)).await.unwrap();
    poll.start().await;
    assert_eq!(
        (sse.y.text(), poll.y.text()),
        ("base".into(), "base".into())
    );
    sse.pump_until(|c| c.y.peers.contains_key(&wid), WAIT).await;
    poll.pump_until(|c| c.y.peers.contains_key(&wid), WAIT)
        .await;
    let (sid, pid) = (sse.y.client_id(), poll.y.client_id());
    let has = |peers: &std::collections::HashMap<u64, Option<String>>, id: u64, name: &str| matches!(peers.get(&id), Some(Some(s)) if s.contains(name));
    // The echo of each one's awareness comes after any answer to its sync step 2.
    sse.set_awareness(r#"{"user":{"name":"sse-1"}}"#).await;
    poll.set_awareness(r#"{"user":{"name":"poll-1"}}"#).await;
    sse.pump_until(|c| has(&c.y.peers, sid, "sse-1"), WAIT)
        .await;
    poll.pump_until(|c| has(&c.y.peers, pid, "poll-1"), WAIT)
        .await;
    assert_eq!(sse.y.denied_count, 0, "sse denied before editing");
    assert_eq!(poll.y.denied_count, 0, "poll denied before editing");

    let writer_updates = writer.received_updates;
    for _ in 0..2 {
        sse.send(hand_made_update("SSE ")).await;
        poll.send(hand_made_update("POLL ")).await;
    }
    // Awareness from both is relayed, behind whatever their attempts caused.
    sse.set_awareness(r#"{"user":{"name":"sse-viewer"}}"#).await;
    poll.set_awareness(r#"{"user":{"name":"poll-viewer"}}"#)
        .await;
    sse.pump_until(|c| has(&c.y.peers, sid, "sse-viewer"), WAIT)
        .await;
    poll.pump_until(|c| has(&c.y.peers, pid, "poll-viewer"), WAIT)
        .await;
    assert_eq!(sse.y.denied_count, 1);
    assert_eq!(poll.y.denied_count, 1);
    assert!(sse.y.denied.as_deref().unwrap().contains("read"));
    writer
        .pump_until(
            |c| has(&c.peers, sid, "sse-viewer") && has(&c.peers, pid, "poll-viewer"),
            WAIT,
        )
        .await;
    assert_eq!(writer.received_updates, writer_updates);
    assert_eq!(writer.text(), "base");
    assert_eq!(admin_text(&server, doc).await, "base");
    // Their copies never got anything from the server beyond the base text.
    assert_eq!(sse.y.text(), "base");
    assert_eq!(poll.y.text(), "base");
}

#[tokio::test]
async fn admin_api_needs_the_admin_key() {
    let server = token_server().await;
    let http = reqwest::Client::new();
    let write = token("hist", Access::Write);
    let mut w = Client::connect(&ws_url(&server, "hist", &write)).await;
    w.append("version one").await;
    w.pump_until(|c| c.received_updates >= 1, WAIT).await;
    let res = http
        .post(server.http("/api/documents/hist/versions?token=") + &write)
        .json(&serde_json::json!({"label": "v1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let v: serde_json::Value = res.json().await.unwrap();
    let n = v["version"].as_i64().unwrap();
    w.append(" and more").await;
    w.pump_until(|c| c.received_updates >= 2, WAIT).await;

    let api = Api::new(&server);
    let admin = api.bearer(ADMIN);
    assert_eq!(admin.create("x").await.status(), 201);

    // No key, a wrong key, and a document token (even a write one) are all refused.
    for who in [api.clone(), api.bearer("wrong-key"), api.bearer(&write)] {
        expect_error(who.list().await, 403).await;
        let why = expect_error(who.delete("x").await, 403).await;
        assert!(
            why.contains("only the server's admin") && why.contains("document token"),
            "{why}"
        );
        expect_error(who.restore("hist", n).await, 403).await;
        let mint = who.mint_token(serde_json::json!({"doc": "minted"})).await;
        expect_error(mint, 403).await;
    }
    assert_eq!(admin_text(&server, "hist").await, "version one and more");

    let v = ok_json(admin.list().await, 200).await;
    let names: Vec<&str> = v["documents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"x") && names.contains(&"hist"), "{names:?}");

    assert_eq!(admin.delete("x").await.status(), 204);
    expect_error(admin.document("x").await, 404).await;

    let v = ok_json(admin.restore("hist", n).await, 200).await;
    assert_eq!(v["kind"], "restore");
    w.pump_until(|c| c.text() == "version one", WAIT).await;
    assert_eq!(admin_text(&server, "hist").await, "version one");

    let v = ok_json(
        admin.mint_token(serde_json::json!({"doc": "minted"})).await,
        201,
    )
    .await;
    let minted = v["token"].as_str().unwrap().to_string();
    let mut c = Client::connect(&ws_url(&server, "minted", &minted)).await;
    c.append("made with a minted token").await;
    c.pump_until(|c| c.received_updates >= 1, WAIT).await;
    assert_eq!(
        admin_text(&server, "minted").await,
        "made with a minted token"
    );
    allowed_everywhere(&server, "minted", &minted).await;
    refused_everywhere(&server, "hist", Some(&minted), 403).await;

    // A named, read-only token with a lifetime: its claims say so, and the server agrees.
    let t0 = now_secs();
    let res = admin
        .mint_token(serde_json::json!({
            "doc": "minted", "access": "read", "name": "Ann", "expires_in": 120
        }))
        .await;
    let t1 = now_secs();
    let v = ok_json(res, 201).await;
    assert_eq!(v["claims"]["name"], "Ann");
    assert_eq!(v["claims"]["access"], "read");
    let exp = v["claims"]["exp"].as_u64().unwrap();
    assert!(
        (t0 + 120..=t1 + 120).contains(&exp),
        "exp {exp} for {t0}..{t1}"
    );
    let named = v["token"].as_str().unwrap();
    let grant = Auth::new(Some(SECRET), None)
        .document("minted", Some(named), None)
        .unwrap();
    assert_eq!(grant.name.as_deref(), Some("Ann"));
    assert_eq!(grant.access, tandem::Access::Read);
    let mut reader = Client::connect(&ws_url(&server, "minted", named)).await;
    assert_eq!(reader.text(), "made with a minted token");
    reader.send_raw(hand_made_update("no")).await;
    reader.pump_until(|c| c.denied.is_some(), WAIT).await;
    // Expired (a lifetime of 1 s, past; tokens carry no leeway): refused. A lifetime of 0
    // is refused when minting (tests/it/bodies.rs).
    let res = admin
        .mint_token(serde_json::json!({"doc": "minted", "expires_in": 1}))
        .await;
    let v = ok_json(res, 201).await;
    let exp = v["claims"]["exp"].as_u64().unwrap();
    wait_for("the clock to pass the expiry", || async {
        (now_secs() > exp).then_some(())
    })
    .await;
    refused_everywhere(&server, "minted", v["token"].as_str(), 401).await;
    // The API reports token mode, and that admin actions take the key.
    let config = api.config().await;
    assert_eq!(
        (&config["auth"], &config["admin"]),
        (&"token".into(), &"key".into())
    );
}

#[tokio::test]
async fn without_an_admin_key_admin_actions_are_refused_and_say_why() {
    let server = start(&["--secret", SECRET]).await;
    let api = Api::new(&server);
    let write = token("*", Access::Write);
    let admin = api.bearer(&write);
    assert_eq!(admin.create("kept").await.status(), 201);
    for who in [api.clone(), admin] {
        let why = expect_error(who.delete("kept").await, 403).await;
        assert!(why.contains("no admin key"), "{why}");
        expect_error(who.list().await, 403).await;
    }
    assert_eq!(api.bearer(&write).document("kept").await.status(), 200);
    assert_eq!(api.config().await["admin"], "none");
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
